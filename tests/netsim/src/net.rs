//! The pieces of a simulated network: networks (routing segments), links
//! attaching nodes to them, hosts with interfaces, and NAT gateways.

use crate::endpoint::{ConnId, ErasedEndpoint};
use crate::firewall::Firewall;
use crate::link::{LinkDir, LinkSpec, LinkStats};
use crate::nat::Nat;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

/// Identifies a network (a routing segment: the public core, a LAN, a carrier network).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NetworkId(pub usize);

/// Identifies a NAT gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GatewayId(pub usize);

/// Identifies a link (the attachment of a host interface or gateway WAN side to a network).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkId(pub usize);

/// A routing segment: delivers to attached addresses; anything else goes to the
/// gateway whose inside it is (its default route), or is dropped if it has none.
#[derive(Debug)]
pub(crate) struct Network {
    pub name: String,
    pub routes: BTreeMap<IpAddr, LinkId>,
    pub upstream: Option<GatewayId>,
    pub dropped_no_route: u64,
}

/// What sits at the node end of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeRef {
    Host(crate::endpoint::HostId, usize),
    Gateway(GatewayId),
}

/// A link between a node and a network.
#[derive(Debug)]
pub(crate) struct Link {
    pub name: String,
    pub network: NetworkId,
    pub node: NodeRef,
    pub addrs: Vec<IpAddr>,
    pub up: LinkDir,
    pub down: LinkDir,
    /// False once the interface is down or removed: packets both ways are dropped.
    pub active: bool,
}

impl Link {
    pub fn new(
        name: String,
        network: NetworkId,
        node: NodeRef,
        addrs: Vec<IpAddr>,
        spec: LinkSpec,
    ) -> Self {
        Link {
            name,
            network,
            node,
            addrs,
            up: LinkDir::new(spec.up),
            down: LinkDir::new(spec.down),
            active: true,
        }
    }

    pub fn stats(&self) -> (LinkStats, LinkStats) {
        (self.up.stats.clone(), self.down.stats.clone())
    }
}

/// A host interface.
#[derive(Debug)]
pub(crate) struct Interface {
    pub link: LinkId,
    pub up: bool,
}

/// An endpoint attached to a host, receiving `ports` (all ports when `None`).
pub(crate) struct Slot {
    pub ports: Option<Vec<u16>>,
    pub ep: Box<dyn ErasedEndpoint>,
}

/// Counters of a host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostStats {
    pub sent: u64,
    pub received: u64,
    /// Datagrams for a port no endpoint listens on.
    pub dropped_no_listener: u64,
    /// Datagrams an endpoint sent from an address the host does not have (up).
    pub dropped_bad_source: u64,
}

/// State of one end of a simulated TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TcpState {
    Connecting { token: u64 },
    Established,
}

#[derive(Debug, Clone)]
pub(crate) struct TcpConn {
    pub host: crate::endpoint::HostId,
    pub slot: usize,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub state: TcpState,
}

/// A simulated host.
pub(crate) struct Host {
    pub name: String,
    pub ifaces: Vec<Interface>,
    pub slots: Vec<Slot>,
    pub stats: HostStats,
    pub listeners: BTreeMap<u16, usize>,
    pub conns: BTreeMap<(SocketAddr, SocketAddr), ConnId>,
    pub next_ephemeral: u16,
    /// The NAT whose port-mapping service runs on this host (its LAN address).
    pub serves: Option<GatewayId>,
}

/// A NAT box: an inside network, a WAN link to its upstream network, a
/// translation table and an outbound firewall.
#[derive(Debug)]
pub(crate) struct Gateway {
    pub name: String,
    pub inside: NetworkId,
    pub wan: LinkId,
    pub nat: Nat,
    pub firewall: Firewall,
    /// Set on a NAT64 gateway (its inside is IPv6, its pool IPv4).
    pub nat64: Option<crate::nat64::Nat64Settings>,
}
