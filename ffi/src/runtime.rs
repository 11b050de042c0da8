//! The one tokio runtime every session of the process shares: a fixed number of threads
//! (not one per session), started on the first session.

use std::sync::{Mutex, OnceLock};

use tokio::runtime::Runtime;

use crate::guard::{guard, Failure};
use crate::status::PinholeStatus;

static RUNTIME: OnceLock<Runtime> = OnceLock::new();
static THREADS: Mutex<usize> = Mutex::new(1);

/// Worker threads by default: one carries thousands of idle sessions and a few busy
/// ones; raise it for many busy sessions.
pub(crate) fn get() -> Result<&'static Runtime, Failure> {
    if let Some(r) = RUNTIME.get() {
        return Ok(r);
    }
    let threads = *THREADS.lock().unwrap_or_else(|p| p.into_inner());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        // Name lookups (getaddrinfo) run on blocking threads: a small bound.
        .max_blocking_threads(2)
        .thread_name("pinhole")
        .enable_all()
        .build()
        .map_err(|e| {
            Failure::new(
                PinholeStatus::Io,
                format!("cannot start Pinhole's runtime threads: {e}"),
            )
        })?;
    Ok(RUNTIME.get_or_init(|| rt))
}

/// Sets how many runtime threads Pinhole uses (default 1). Only before the first
/// session is created; `PINHOLE_STATUS_WRONG_MODE` after.
#[no_mangle]
pub extern "C" fn pinhole_set_runtime_threads(threads: u32) -> PinholeStatus {
    guard(|| {
        if RUNTIME.get().is_some() {
            return Err(Failure::new(
                PinholeStatus::WrongMode,
                "the runtime already started (a session exists): set the thread count before creating the first session",
            ));
        }
        if threads == 0 || threads > 64 {
            return Err(Failure::new(
                PinholeStatus::InvalidArgument,
                format!("{threads} runtime threads: use 1 to 64"),
            ));
        }
        *THREADS.lock().unwrap_or_else(|p| p.into_inner()) = threads as usize;
        Ok(PinholeStatus::Ok)
    })
}
