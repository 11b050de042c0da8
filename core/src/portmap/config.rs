//! What a [`PortMapper`](super::PortMapper) is told at creation: the socket, the
//! gateway, which protocols, and its time budgets.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::Protocol;

/// Which protocols to try.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Protocols {
    /// PCP (RFC 6887).
    pub pcp: bool,
    /// NAT-PMP (RFC 6886).
    pub nat_pmp: bool,
    /// UPnP-IGD.
    pub upnp: bool,
}

impl Default for Protocols {
    /// All three.
    fn default() -> Self {
        Protocols {
            pcp: true,
            nat_pmp: true,
            upnp: true,
        }
    }
}

impl Protocols {
    /// Only `p`.
    pub fn only(p: Protocol) -> Self {
        Protocols {
            pcp: p == Protocol::Pcp,
            nat_pmp: p == Protocol::NatPmp,
            upnp: p == Protocol::Upnp,
        }
    }

    /// Whether `p` is enabled.
    pub fn contains(&self, p: Protocol) -> bool {
        match p {
            Protocol::Pcp => self.pcp,
            Protocol::NatPmp => self.nat_pmp,
            Protocol::Upnp => self.upnp,
        }
    }
}

/// Configuration of a [`PortMapper`](super::PortMapper).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PortMapConfig {
    /// The socket to map: a concrete local IP (the one facing the gateway) and its port.
    pub local: SocketAddr,
    /// The default gateway's IP (the runtime finds it).
    pub gateway: IpAddr,
    /// Protocols to try (default: all).
    pub protocols: Protocols,
    /// How long the probes may take (default 5 s, ICE's server-reflexive gathering time).
    pub budget: Duration,
    /// How long an answered, less preferred protocol waits for a more preferred one
    /// still probing (default 500 ms).
    pub preference_wait: Duration,
    /// Lifetime (lease) asked for (default 2 h, RFC 6886's recommendation).
    pub lifetime: Duration,
    /// UPnP mapping description.
    pub description: String,
    /// Limit of one UPnP HTTP exchange (default 2 s).
    pub http_timeout: Duration,
    /// How long [`PortMapper::close`](super::PortMapper::close) waits for the deletes to be answered (default 2 s).
    pub close_timeout: Duration,
    /// Re-mapping after an unsolicited PCP ANNOUNCE waits a random delay up to this
    /// (default 5 s, RFC 6887 §14.1.3), so a rebooted gateway's clients do not all
    /// answer at once.
    pub announce_delay_max: Duration,
}

impl PortMapConfig {
    /// Defaults for the socket `local` behind `gateway`.
    pub fn new(local: SocketAddr, gateway: IpAddr) -> Self {
        PortMapConfig {
            local,
            gateway,
            protocols: Protocols::default(),
            budget: Duration::from_secs(5),
            preference_wait: Duration::from_millis(500),
            lifetime: Duration::from_secs(7200),
            description: "pinhole".into(),
            http_timeout: Duration::from_secs(2),
            close_timeout: Duration::from_secs(2),
            announce_delay_max: Duration::from_secs(5),
        }
    }
}

/// A configuration the mapper cannot work with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PortMapConfigError {
    /// The local address must be the concrete one facing the gateway.
    #[error("port mapping needs the socket's concrete local address, not {0} (PCP and UPnP name it to the gateway)")]
    UnspecifiedLocal(SocketAddr),
    /// Only IPv4 gateways are mapped.
    #[error("port mapping supports IPv4 gateways and sockets only (got local {local}, gateway {gateway})")]
    NotIpv4 {
        /// The local address.
        local: SocketAddr,
        /// The gateway.
        gateway: IpAddr,
    },
}
