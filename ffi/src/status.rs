//! Status codes every C function returns.

use engine::session::SessionError;

use crate::guard::Failure;

/// What a call did. Only `PINHOLE_STATUS_OK` writes out-parameters.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinholeStatus {
    /// Done.
    Ok = 0,
    /// Nothing to poll now (not an error).
    Empty = 1,
    /// A NULL pointer, a string that is not UTF-8, an address family that is not 4 or 6,
    /// an unknown enum value. `pinhole_last_error_message()` names the argument.
    InvalidArgument = -1,
    /// The configuration cannot work (the message says what to change).
    InvalidConfig = -2,
    /// A signaling string from the peer was not understood (nothing changed).
    BadSignal = -3,
    /// `send` before the session is connected.
    NotConnected = -4,
    /// The session is closed.
    Closed = -5,
    /// The datagram cannot be sent as is (empty, starts with a byte 0-3, too large).
    DataRejected = -6,
    /// A function for the other kind of session (a runtime function on a "bring your own
    /// sockets" session, or the reverse).
    WrongMode = -7,
    /// The operating system refused (no socket could be bound, no runtime thread).
    Io = -8,
    /// The caller's buffer is too small (the message says how large it must be).
    BufferTooSmall = -9,
    /// A bug in pinhole was caught (a Rust panic); the session is unusable.
    Panic = -99,
}

/// The status and message for a session API error.
pub(crate) fn from_session_error(e: SessionError) -> Failure {
    let status = match &e {
        SessionError::Config(_) => PinholeStatus::InvalidConfig,
        SessionError::Signal(_) | SessionError::Candidate(_) => PinholeStatus::BadSignal,
        SessionError::NotConnected => PinholeStatus::NotConnected,
        SessionError::Closed => PinholeStatus::Closed,
        SessionError::EmptyData
        | SessionError::AmbiguousData(_)
        | SessionError::TooLarge { .. } => PinholeStatus::DataRejected,
        _ => PinholeStatus::InvalidArgument,
    };
    Failure::new(status, e.to_string())
}
