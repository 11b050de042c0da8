use std::net::SocketAddr;
use std::time::Duration;

/// What went wrong at the I/O edge (sockets, name resolution, the OS), phrased so the
/// user knows what to change. Protocol outcomes are not here: each runtime entry point
/// that can also fail in an engine machine returns its own error with an I/O variant
/// holding this one (for example [`NetcheckError`](super::NetcheckError)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// A socket could not be bound (address in use, not a local address, permission).
    #[error("cannot bind UDP socket on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A host name did not resolve (within the time allowed).
    #[error("cannot resolve {host:?}: {reason}")]
    Resolve {
        /// The name as given.
        host: String,
        /// What the resolver said (or that it timed out).
        reason: String,
    },
    /// A socket operation failed.
    #[error("network error on {local}: {source}")]
    Io {
        /// The local socket it happened on.
        local: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The OS has no route to the destination.
    #[error("no route to {server}: {source}")]
    NoRoute {
        /// The destination.
        server: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The whole operation did not finish within the limit given.
    #[error("gave up after {0:?} (raise --timeout to wait longer)")]
    Timeout(Duration),
    /// The network change monitor could not open or read its netlink socket.
    #[error("cannot watch network changes (netlink): {source}")]
    NetworkMonitor {
        /// What the OS said.
        source: std::io::Error,
    },
    /// The OS has no default IPv4 route, so there is no gateway to ask for a port mapping.
    #[error(
        "no default IPv4 gateway (no default route in /proc/net/route): port mapping needs \
         a router to ask"
    )]
    NoGateway,
}
