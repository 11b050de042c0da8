use std::net::SocketAddr;
use std::time::Duration;

/// What went wrong at the I/O edge (sockets, name resolution, the OS), phrased so the
/// user knows what to change. Protocol outcomes are not here: each runtime entry point
/// that can also fail in an engine machine returns its own error with an I/O variant
/// holding this one (for example [`NetcheckError`](super::NetcheckError)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    #[error("cannot bind UDP socket on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot resolve {host:?}: {reason}")]
    Resolve { host: String, reason: String },
    #[error("network error on {local}: {source}")]
    Io {
        local: SocketAddr,
        source: std::io::Error,
    },
    #[error("no route to {server}: {source}")]
    NoRoute {
        server: SocketAddr,
        source: std::io::Error,
    },
    #[error("gave up after {0:?} (raise --timeout to wait longer)")]
    Timeout(Duration),
    #[error("cannot watch network changes (netlink): {source}")]
    NetworkMonitor { source: std::io::Error },
    #[error(
        "no default IPv4 gateway (no default route in /proc/net/route): port mapping needs \
         a router to ask"
    )]
    NoGateway,
}
