//! Port mapping: asking the home gateway to forward an external port to one local UDP
//! socket, with NAT-PMP (RFC 6886), PCP (RFC 6887) or UPnP-IGD v1/v2. A mapped port makes
//! a symmetric NAT behave like a full cone for that socket, so ICE can go direct where it
//! would otherwise relay.
//!
//! - [`PortMapper`] ([`mapper`]): the orchestrator for one socket. Feed it datagrams from
//!   the gateway, stream events and timeouts; drain transmits, stream requests and
//!   [`PortMapEvent`]s. It probes all three protocols at once within a short budget,
//!   keeps exactly one mapping (PCP > NAT-PMP > UPnP), renews it at half its lifetime,
//!   re-maps when the gateway lost its state, and deletes it on [`PortMapper::close`].
//! - [`natpmp`], [`pcp`], [`upnp`]: the per-protocol sans-IO clients and wire formats.
//!
//! Everything is sans-IO: no clock reads, no sockets; randomness (PCP nonces,
//! retransmission jitter) comes from the RNG given to [`PortMapper::new`].

mod config;
mod epoch;
mod error;
mod event;
pub mod mapper;
pub mod natpmp;
pub mod pcp;
mod retry;
mod stats;
pub mod upnp;

pub use config::{PortMapConfig, PortMapConfigError, Protocols};
pub use error::PortMapError;
pub use event::{Mapping, PortMapEvent, ProtocolStatus};
pub use mapper::PortMapper;
pub use stats::PortMapStats;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The UDP port NAT-PMP and PCP servers listen on (RFC 6886 §3, RFC 6887 §19.1).
pub const PCP_SERVER_PORT: u16 = 5351;
/// The SSDP multicast group and port (UPnP Device Architecture 1.1 §1.3.2).
pub const SSDP_MULTICAST: SocketAddr = SocketAddr::new(
    IpAddr::V4(std::net::Ipv4Addr::new(239, 255, 255, 250)),
    1900,
);

/// A port-mapping protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// Port Control Protocol (RFC 6887), the most preferred.
    Pcp,
    /// NAT Port Mapping Protocol (RFC 6886).
    NatPmp,
    /// UPnP Internet Gateway Device (WANIPConnection:1/2, WANPPPConnection:1).
    Upnp,
}

impl Protocol {
    /// All three, most preferred first.
    pub const ALL: [Protocol; 3] = [Protocol::Pcp, Protocol::NatPmp, Protocol::Upnp];

    /// `pcp`, `nat-pmp` or `upnp`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Protocol::Pcp => "pcp",
            Protocol::NatPmp => "nat-pmp",
            Protocol::Upnp => "upnp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Pcp => "PCP",
            Protocol::NatPmp => "NAT-PMP",
            Protocol::Upnp => "UPnP-IGD",
        })
    }
}

/// Identifies one TCP stream the mapper asked its pump to open (UPnP's HTTP exchanges).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(pub u64);

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stream#{}", self.0)
    }
}

/// What the mapper asks of its pump's TCP: open a connection, write bytes, close it.
///
/// The pump answers with [`PortMapper::handle_stream_connected`],
/// [`PortMapper::handle_stream_data`] and [`PortMapper::handle_stream_closed`] (also for a
/// connection that could not be opened). Bytes for a stream arrive only after its
/// `Connect`, and after `Close` the mapper expects nothing more from that stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamRequest {
    /// Open a TCP connection from the mapped socket's IP (any port) to `to`.
    Connect {
        /// The stream's id.
        id: StreamId,
        /// The gateway's HTTP address.
        to: SocketAddr,
    },
    /// Write these bytes on the (connected) stream.
    Send {
        /// The stream's id.
        id: StreamId,
        /// Bytes to write, in order.
        bytes: Vec<u8>,
    },
    /// Close the stream; nothing more will be sent or expected.
    Close {
        /// The stream's id.
        id: StreamId,
    },
}

/// Whether `ip` cannot be reached from the Internet at large: RFC 1918, shared address
/// space (100.64/10, carrier NAT), link-local, loopback, unspecified, or IPv6 ULA /
/// link-local. A mapping on such an external address sits behind another NAT.
pub fn is_non_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (s & 0xfe00) == 0xfc00
                || (s & 0xffc0) == 0xfe80
        }
    }
}

/// What a per-protocol client tells the mapper.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ClientEvent {
    /// The probe succeeded; the gateway's external IP if the probe learned it.
    Available(Option<IpAddr>),
    /// The probe or the first mapping failed.
    Failed(PortMapError),
    /// A mapping was made, renewed or re-made after the gateway lost its state.
    Mapped {
        /// The external address.
        external: SocketAddr,
        /// The lifetime granted (`Duration::MAX` for a UPnP lease of 0, "infinite").
        lifetime: Duration,
    },
    /// Renewals failed until the mapping expired.
    Lost(PortMapError),
    /// The gateway lost its state (epoch, ANNOUNCE); the client is mapping again.
    Reset,
}

/// A granted lifetime: whole seconds, `Duration::MAX` for UPnP's "0 = infinite".
pub(crate) fn secs(s: u32) -> Duration {
    Duration::from_secs(u64::from(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_global_addresses_are_the_double_nat_ranges() {
        for ip in [
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.254",
            "169.254.1.1",
            "0.0.0.0",
        ] {
            assert!(is_non_global(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "203.0.113.2",
            "100.128.0.1",
            "100.63.255.255",
            "8.8.8.8",
            "2001:db8::1",
        ] {
            assert!(!is_non_global(ip.parse().unwrap()), "{ip}");
        }
        assert!(is_non_global("fd00::1".parse().unwrap()));
        assert!(is_non_global("fe80::1".parse().unwrap()));
    }
}
