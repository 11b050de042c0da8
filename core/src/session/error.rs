//! API misuse, as error values that say what to do.

use super::config::ConfigError;
use super::signal::SignalError;
use crate::ice::IceError;

/// API misuse, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The configuration cannot work.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A signaling string from the peer was not understood.
    #[error("signaling message from the peer not understood: {0} (pass the peer's messages exactly as its session emitted them)")]
    Signal(#[from] SignalError),
    /// A remote candidate the session cannot use.
    #[error("remote candidate refused: {0}")]
    Candidate(String),
    /// `send` while no path works: before the first one (and past the early send queue),
    /// or while the session looks for a new one after the network changed.
    #[error("no working path to send on (not connected yet, or finding a new path after a network change): wait for the Connected state (SessionConfig::early_send_queue holds datagrams sent before the first connection)")]
    NotConnected,
    /// The session was closed.
    #[error("the session is closed: create a new one")]
    Closed,
    /// An empty datagram.
    #[error("the datagram is empty: nothing to send")]
    EmptyData,
    /// A first byte the peer would take for STUN.
    #[error("a datagram starting with byte {0} would be taken for STUN by the peer (RFC 7983 reserves 0-3): frame it so the first byte is 4 or more")]
    AmbiguousData(u8),
    /// Larger than one UDP datagram.
    #[error("the datagram has {len} bytes; at most {max} fit in one UDP datagram: split it")]
    TooLarge {
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl From<IceError> for SessionError {
    fn from(e: IceError) -> Self {
        match e {
            IceError::NotConnected => SessionError::NotConnected,
            IceError::Closed => SessionError::Closed,
            IceError::EmptyData => SessionError::EmptyData,
            IceError::AmbiguousData(b) => SessionError::AmbiguousData(b),
            other => SessionError::Candidate(other.to_string()),
        }
    }
}
