//! Every `extern "C"` entry point runs inside [`guard`]: a panic becomes
//! `PINHOLE_STATUS_PANIC` (and poisons the session it came from), never an unwind into C
//! and never an abort of the host process. Errors leave a message for
//! `pinhole_last_error_message`, per thread.

use std::cell::RefCell;
use std::ffi::CString;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::status::PinholeStatus;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Records `message` as this thread's last error.
pub(crate) fn set_error(message: impl Into<String>) {
    let mut m: String = message.into();
    m.retain(|c| c != '\0');
    let c = CString::new(m).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

/// The last error message of this thread (empty if none); valid until the next call that
/// records an error on this thread.
pub(crate) fn last_error_ptr() -> *const std::ffi::c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// An error: a status and what to do about it.
pub(crate) struct Failure(pub(crate) PinholeStatus, pub(crate) String);

impl Failure {
    pub(crate) fn new(status: PinholeStatus, message: impl Into<String>) -> Self {
        Failure(status, message.into())
    }

    pub(crate) fn null(what: &str) -> Self {
        Failure(
            PinholeStatus::InvalidArgument,
            format!("{what} is NULL: pass a valid pointer"),
        )
    }
}

/// Runs `f`, turning its error into a status plus last-error message and a panic into
/// `PINHOLE_STATUS_PANIC`. `on_panic` runs after a panic (to poison a session).
pub(crate) fn guard_with(
    f: impl FnOnce() -> Result<PinholeStatus, Failure>,
    on_panic: impl FnOnce(),
) -> PinholeStatus {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(status)) => status,
        Ok(Err(Failure(status, message))) => {
            set_error(message);
            status
        }
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            set_error(format!(
                "internal error in pinhole (a bug, please report it): {what}; the session is unusable now: free it and create a new one"
            ));
            on_panic();
            PinholeStatus::Panic
        }
    }
}

/// [`guard_with`] without a session to poison.
pub(crate) fn guard(f: impl FnOnce() -> Result<PinholeStatus, Failure>) -> PinholeStatus {
    guard_with(f, || {})
}
