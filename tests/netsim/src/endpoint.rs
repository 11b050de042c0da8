//! The node trait: what a sans-IO machine implements (or is adapted to) to live on a host.

use std::any::Any;
use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

/// A UDP datagram as one host sees it: `src` and `dst` are the addresses on the
/// wire at that host (for a sender, `src` is one of its own addresses; an
/// unspecified IP such as `0.0.0.0:5000` means "the first up interface of that family").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub payload: Vec<u8>,
}

impl Datagram {
    pub fn new(src: SocketAddr, dst: SocketAddr, payload: impl Into<Vec<u8>>) -> Self {
        Datagram {
            src,
            dst,
            payload: payload.into(),
        }
    }
}

/// A simulated TCP connection, numbered by the simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

/// What an endpoint asks of the host's simulated TCP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpCommand {
    /// Accept connections to this port on every interface.
    Listen { port: u16 },
    /// Open a connection. `local` may have an unspecified IP and/or port 0.
    /// `token` is the endpoint's own number, echoed in `Connected`/`ConnectFailed`.
    Connect {
        token: u64,
        local: SocketAddr,
        remote: SocketAddr,
    },
    /// Send bytes (delivered in order, as one `Data` event).
    Send { conn: ConnId, data: Vec<u8> },
    /// Close (the peer sees `Closed`).
    Close { conn: ConnId },
}

/// What the host's simulated TCP tells an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpEvent {
    Connected {
        token: u64,
        conn: ConnId,
        local: SocketAddr,
        remote: SocketAddr,
    },
    /// Refused (RST) or timed out (SYN dropped by a firewall or NAT).
    ConnectFailed {
        token: u64,
        reason: String,
    },
    Accepted {
        conn: ConnId,
        local: SocketAddr,
        remote: SocketAddr,
    },
    Data {
        conn: ConnId,
        data: Vec<u8>,
    },
    Closed {
        conn: ConnId,
    },
}

/// What a port-mapping server on a NAT box's LAN address asks of its NAT (see
/// [`crate::Sim::add_nat_service_host`]). Answered at once with
/// [`Endpoint::nat_control_result`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NatControl {
    /// Install or renew a static UDP mapping for `internal`: exactly `port` when `exact`
    /// (UPnP AddPortMapping), else `port` if free or any (NAT-PMP, PCP).
    Map {
        token: u64,
        internal: SocketAddr,
        port: u16,
        exact: bool,
        lifetime: std::time::Duration,
    },
    /// Remove the static mapping of `internal`.
    UnmapInternal { internal: SocketAddr },
    /// Remove the static mapping on external UDP `port`.
    UnmapPort { port: u16 },
}

/// The NAT's answer to [`NatControl::Map`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NatControlResult {
    /// Installed: reachable from outside at `external`.
    Mapped { token: u64, external: SocketAddr },
    /// The exact port is taken, or no port is free.
    Conflict { token: u64 },
}

/// Anything that lives on a simulated host. Sans-IO machines are adapted to it
/// with a thin wrapper: `receive` → `handle_input`, `poll_transmit` → `Transmit{from,to,bytes}`.
///
/// The simulator calls `poll_transmit`/`poll_tcp` until `None` after every call
/// into the endpoint and before every step, so API calls a test makes between
/// steps are sent at the current virtual time.
pub trait Endpoint: 'static {
    /// A datagram arrived for one of this endpoint's ports.
    fn receive(&mut self, now: Instant, dgram: Datagram);
    /// The deadline returned by `poll_timeout` was reached.
    fn handle_timeout(&mut self, _now: Instant) {}
    /// Next datagram to send.
    fn poll_transmit(&mut self) -> Option<Datagram>;
    /// When `handle_timeout` should be called next.
    fn poll_timeout(&mut self) -> Option<Instant> {
        None
    }
    /// The host's usable addresses changed (interface down/up, new address, roaming).
    fn interfaces_changed(&mut self, _now: Instant, _addrs: &[IpAddr]) {}
    /// Something happened on simulated TCP.
    fn tcp_event(&mut self, _now: Instant, _event: TcpEvent) {}
    /// Next TCP command.
    fn poll_tcp(&mut self) -> Option<TcpCommand> {
        None
    }
    /// Next request to the NAT this host serves (only a NAT service host's requests are
    /// applied; others are dropped).
    fn poll_nat_control(&mut self) -> Option<NatControl> {
        None
    }
    /// The NAT's answer to a [`NatControl::Map`].
    fn nat_control_result(&mut self, _now: Instant, _result: NatControlResult) {}
    /// The NAT this host serves rebooted (its mappings are gone).
    fn nat_rebooted(&mut self, _now: Instant) {}
}

/// Object-safe wrapper giving `Any` access to endpoints (for typed handles).
pub(crate) trait ErasedEndpoint: Endpoint {
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Endpoint> ErasedEndpoint for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Identifies a host in a simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostId(pub usize);

/// A typed handle to an endpoint attached to a host: `sim.endpoint_mut(h)` gives `&mut T`.
#[derive(Debug)]
pub struct EndpointId<T> {
    pub host: HostId,
    pub(crate) slot: usize,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for EndpointId<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for EndpointId<T> {}

impl<T> EndpointId<T> {
    pub(crate) fn new(host: HostId, slot: usize) -> Self {
        EndpointId {
            host,
            slot,
            _t: PhantomData,
        }
    }
}
