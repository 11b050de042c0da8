//! The errors the bindings raise (Kotlin `PinholeException.*`, Swift `PinholeError.*`) and
//! the one a foreign listener may return. Every message says what happened and what to do.

use engine::runtime::StartError;
use engine::session::SessionError;

/// Why a call failed. Each variant carries the whole message (what happened and what to
/// do); the variant is the kind to branch on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
#[uniffi(flat_error)]
pub enum PinholeError {
    /// The configuration cannot work (a bad server URL, an address that is not an IP, no
    /// address family enabled…): fix the named field.
    #[error("{0}")]
    InvalidConfig(String),
    /// A signaling message from the peer was not understood: pass the peer's messages
    /// exactly as its session emitted them. Nothing changed; the session goes on.
    #[error("{0}")]
    BadSignal(String),
    /// `send` before a path exists: wait for `Connected` (or set `earlySendQueue`).
    #[error("{0}")]
    NotConnected(String),
    /// The session was closed: create a new one.
    #[error("{0}")]
    Closed(String),
    /// A datagram that cannot be sent as given (empty, too large, or starting with a byte
    /// the peer would take for STUN).
    #[error("{0}")]
    InvalidData(String),
    /// The operating system refused something (no socket could be bound, no thread could
    /// be started).
    #[error("{0}")]
    Io(String),
    /// No path was found in time, or ICE failed: check that both sides forward every
    /// signaling message, and add a TURN server for networks that block direct UDP.
    #[error("{0}")]
    ConnectFailed(String),
    /// The call is not available in this build or on this platform (the message says
    /// which and why).
    #[error("{0}")]
    Unsupported(String),
}

impl PinholeError {
    /// The same kind of error, its message prefixed with `what: `.
    pub(crate) fn prefixed(self, what: &str) -> Self {
        use PinholeError::*;
        let p = |m: String| format!("{what}: {m}");
        match self {
            InvalidConfig(m) => InvalidConfig(p(m)),
            BadSignal(m) => BadSignal(p(m)),
            NotConnected(m) => NotConnected(p(m)),
            Closed(m) => Closed(p(m)),
            InvalidData(m) => InvalidData(p(m)),
            Io(m) => Io(p(m)),
            ConnectFailed(m) => ConnectFailed(p(m)),
            Unsupported(m) => Unsupported(p(m)),
        }
    }
}

impl From<SessionError> for PinholeError {
    fn from(e: SessionError) -> Self {
        let m = e.to_string();
        match e {
            SessionError::Config(_) => PinholeError::InvalidConfig(m),
            SessionError::Signal(_) | SessionError::Candidate(_) => PinholeError::BadSignal(m),
            SessionError::NotConnected => PinholeError::NotConnected(m),
            SessionError::Closed => PinholeError::Closed(m),
            SessionError::EmptyData
            | SessionError::AmbiguousData(_)
            | SessionError::TooLarge { .. } => PinholeError::InvalidData(m),
            // A future variant: say what the engine said.
            _ => PinholeError::BadSignal(m),
        }
    }
}

impl From<StartError> for PinholeError {
    fn from(e: StartError) -> Self {
        match e {
            StartError::Config(c) => PinholeError::InvalidConfig(c.to_string()),
            other => PinholeError::Io(other.to_string()),
        }
    }
}

/// What a foreign listener or log sink returns when it fails. Pinhole logs it (at warn),
/// counts it (`SessionStats.listenerErrors`) and goes on: a listener that throws never
/// stops the session, and never crashes the process.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum ListenerError {
    /// The listener reported a failure.
    #[error("the listener failed: {reason}")]
    Failed {
        /// What went wrong (not `message`: Kotlin exceptions have one already).
        reason: String,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for ListenerError {
    /// Any other exception thrown by the foreign implementation.
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        ListenerError::Failed { reason: e.reason }
    }
}
