//! What a pump feeds a [`Session`](super::Session): datagrams, sockets, streams, names,
//! the host's network.

use std::net::{IpAddr, SocketAddr};

use super::events::StreamId;

/// Something the pump observed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Input<'a> {
    /// A datagram arrived on local socket `local` from `from`.
    Datagram {
        /// The socket (as bound).
        local: SocketAddr,
        /// The sender.
        from: SocketAddr,
        /// The bytes.
        data: &'a [u8],
    },
    /// The host's addresses now (at start, and whenever they change). The session
    /// binds sockets on the usable ones and closes the sockets of vanished ones.
    LocalAddresses(&'a [IpAddr]),
    /// What a network monitor sees (addresses, interfaces, default routes): as
    /// `LocalAddresses`, plus route and interface changes count as major. Its IPv4
    /// default gateway is taken as with `Gateway`.
    Network(&'a crate::netchange::NetworkSnapshot),
    /// The IPv4 default gateway (`None`: none, or not known), for port mapping: at start
    /// and whenever it changes ([`NetworkSnapshot::default_gateway_v4`], the runtime's
    /// `snapshot_now`, or what netsim's topology says). A new gateway gets new mappings.
    ///
    /// [`NetworkSnapshot::default_gateway_v4`]: crate::netchange::NetworkSnapshot::default_gateway_v4
    Gateway(Option<IpAddr>),
    /// A socket is bound: answering a [`SocketRequest::Bind`](super::SocketRequest::Bind),
    /// or a socket the pump owns.
    SocketBound {
        /// Its local address (with the port the OS chose).
        addr: SocketAddr,
    },
    /// The NAT64 prefixes of an IPv6-only network (RFC 7050 discovery by the pump;
    /// empty when there is none): IPv4 servers and peer candidates become reachable
    /// through the translator (see `nat64.rs`).
    Nat64(&'a [crate::nat::Nat64Prefix]),
    /// A [`SocketRequest::Bind`](super::SocketRequest::Bind) failed.
    SocketFailed {
        /// The address asked for.
        ip: IpAddr,
        /// Why (for the log).
        reason: &'a str,
    },
    /// A socket is gone (the pump closed it, or the OS did).
    SocketClosed {
        /// Its address.
        addr: SocketAddr,
    },
    /// The answer to a [`ResolveRequest`](super::ResolveRequest).
    Resolved {
        /// The request's id.
        id: u64,
        /// The addresses (with the requested port), or why there are none.
        result: Result<Vec<SocketAddr>, String>,
    },
    /// A [`StreamRequest::Connect`](super::StreamRequest::Connect) succeeded.
    StreamConnected {
        /// The stream.
        id: StreamId,
        /// Our end.
        local: SocketAddr,
    },
    /// Bytes read from a stream.
    StreamData {
        /// The stream.
        id: StreamId,
        /// The bytes.
        data: &'a [u8],
    },
    /// A stream could not connect, or closed.
    StreamClosed {
        /// The stream.
        id: StreamId,
        /// Why (for the log and the relay error).
        reason: &'a str,
    },
}
