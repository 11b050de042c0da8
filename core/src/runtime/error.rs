use std::net::SocketAddr;
use std::time::Duration;

/// What went wrong at the I/O edge, phrased so the user knows what to change.
#[derive(Debug, thiserror::Error)]
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
    #[error("port mapping: {0}")]
    PortMap(String),
    #[error(transparent)]
    Discovery(#[from] crate::nat::DiscoveryError),
    #[error(transparent)]
    Lifetime(#[from] crate::nat::LifetimeError),
    #[error(transparent)]
    Server(#[from] crate::stun::server::ServerError),
    #[error(transparent)]
    Turn(#[from] crate::turn::TurnError),
    #[error(transparent)]
    Transaction(#[from] crate::stun::transaction::TransactionError),
}
