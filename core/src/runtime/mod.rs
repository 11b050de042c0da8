//! The tokio driver: sockets, timers and DNS around the sans-IO engine. It holds no
//! protocol logic: every function here feeds datagrams and deadlines into an engine
//! machine and sends what the machine asks it to send.

mod error;
mod interfaces;
mod nat64;
mod netcheck;
mod netmon;
mod portmap;
mod resolve;
mod session;
mod socket_buffers;
mod stun_server;
mod turn;

pub use error::RuntimeError;
pub use interfaces::{interface_addresses, InterfaceAddr};
pub use nat64::{
    discover_nat64_prefix, discover_nat64_prefixes, has_route_to, host_is_ipv6_only,
    reachable_server, synthesize_server,
};
pub use netcheck::{netcheck, NetcheckError, NetcheckOptions, NetcheckReport};
pub use netmon::{snapshot_now, MonitorConfig, MonitorStats, NetworkMonitor};
pub use portmap::{
    default_gateway_v4, parse_proc_net_route, portmap_check, PortMapCheck, PortMapOptions,
    PortMapPump, PortMapStartError, PumpOutput,
};
pub use resolve::resolve_udp;
pub use session::{Delivery, Listener, Session, StartError};
pub use stun_server::{StunServer, StunServerError, StunServerHandle};
pub use turn::{TurnOptions, TurnSession, TurnUrl};
