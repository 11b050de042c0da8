//! pinhole-netsim: a deterministic simulated Internet with real NAT behaviours.
//!
//! Sans-IO machines are attached to simulated hosts through the [`Endpoint`]
//! trait and driven on a virtual clock: no sockets, threads or sleeping. Hosts
//! sit on networks through links (latency, jitter, loss, reordering,
//! duplication, MTU); NAT gateways (RFC 4787 mapping/filtering/port behaviour,
//! timeouts, hairpinning, pools) join networks and chain; all randomness comes
//! from one seeded RNG, so a seed replays a run packet for packet.
//! [`pinhole_endpoints`] adapts Pinhole's own STUN server, NAT discovery and
//! binding-lifetime probe to the [`Endpoint`] trait; [`session_endpoint`]
//! pumps a whole `pinhole::session::Session` (the SDK path), which the ICE
//! scenarios in [`scenario`] put behind every NAT preset. [`dual_stack`] builds
//! dual-stack hosts: IPv4 behind a preset, a routed global IPv6 address open or behind
//! a stateful firewall ([`Firewall6`]).
//! See README.md for the model, presets and how to write a scenario.

mod clock;
mod control;
pub mod dual_stack;
mod endpoint;
pub mod endpoints;
mod firewall;
mod firewall6;
mod forward;
mod link;
mod nat;
mod nat64;
mod net;
mod packet;
pub mod pcap;
pub mod pinhole_endpoints;
pub mod portmap_endpoint;
pub mod portmap_server;
pub mod presets;
pub mod scenario;
pub mod session_endpoint;
mod sim;
mod tcp;
mod topology;
mod trace;
pub mod turn_server;

pub use clock::{fmt_offset, Clock};
pub use dual_stack::{DualStackPeer, Ipv6Access};
pub use endpoint::{
    ConnId, Datagram, Endpoint, EndpointId, HostId, NatControl, NatControlResult, TcpCommand,
    TcpEvent,
};
pub use firewall::Firewall;
pub use firewall6::{Firewall6, Firewall6Config, Firewall6Drop, Firewall6Stats};
pub use link::{LinkConfig, LinkDrop, LinkSpec, LinkStats};
pub use nat::{
    Behaviour, Expiry, Mapping, Nat, NatConfig, NatDrop, NatStats, PortAssignment, StaticConflict,
    StaticMapping,
};
pub use nat64::Nat64Config;
pub use net::{GatewayId, HostStats, LinkId, NetworkId};
pub use packet::{Body, Packet, Proto, TcpKind};
pub use pinhole::nat::Nat64Prefix;
pub use presets::{Layer, Preset};
pub use sim::Sim;
pub use topology::{Internet, Peer};
pub use trace::{Captured, Trace};
