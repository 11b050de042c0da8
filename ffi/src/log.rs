//! Pinhole's `log` records to a host callback, with a level settable at run time.

use std::ffi::{c_char, c_void, CString};
use std::sync::RwLock;

use crate::callbacks::Userdata;
use crate::guard::{guard, Failure};
use crate::status::PinholeStatus;

/// How much Pinhole logs.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinholeLogLevel {
    /// Nothing.
    Off = 0,
    /// Failures the application should know about.
    Error = 1,
    /// Things that went wrong and were handled (a TURN server failed, a bind failed).
    Warn = 2,
    /// Rare milestones.
    Info = 3,
    /// Protocol decisions (pairs, nominations, restarts).
    Debug = 4,
    /// Every packet.
    Trace = 5,
}

/// Receives one log record: `target` is the module ("pinhole::ice::checks"), `message`
/// the text; both NUL-terminated and valid during the call. Called on whatever thread
/// logged (often one of Pinhole's).
pub type PinholeLogCallback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        level: PinholeLogLevel,
        target: *const c_char,
        message: *const c_char,
    ),
>;

type LogFn = unsafe extern "C" fn(*mut c_void, PinholeLogLevel, *const c_char, *const c_char);

struct CLogger {
    sink: RwLock<Option<(LogFn, std::sync::Arc<Userdata>)>>,
}

static LOGGER: CLogger = CLogger {
    sink: RwLock::new(None),
};

impl log::Log for CLogger {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &log::Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let sink = self.sink.read().unwrap_or_else(|p| p.into_inner());
        let Some((f, ud)) = sink.as_ref() else { return };
        let level = match r.level() {
            log::Level::Error => PinholeLogLevel::Error,
            log::Level::Warn => PinholeLogLevel::Warn,
            log::Level::Info => PinholeLogLevel::Info,
            log::Level::Debug => PinholeLogLevel::Debug,
            log::Level::Trace => PinholeLogLevel::Trace,
        };
        let target = CString::new(r.target().replace('\0', "")).unwrap_or_default();
        let message = CString::new(r.args().to_string().replace('\0', "")).unwrap_or_default();
        // SAFETY: the host's callback with its own userdata and two live C strings.
        unsafe { f(ud.ptr(), level, target.as_ptr(), message.as_ptr()) };
    }

    fn flush(&self) {}
}

fn filter(level: i32) -> Result<log::LevelFilter, Failure> {
    Ok(match level {
        0 => log::LevelFilter::Off,
        1 => log::LevelFilter::Error,
        2 => log::LevelFilter::Warn,
        3 => log::LevelFilter::Info,
        4 => log::LevelFilter::Debug,
        5 => log::LevelFilter::Trace,
        l => {
            return Err(Failure::new(
                PinholeStatus::InvalidArgument,
                format!("log level {l} is not a PinholeLogLevel"),
            ))
        }
    })
}

/// Sends Pinhole's log records at `level` (a `PinholeLogLevel`) and above to `callback`
/// (NULL stops logging). Replaces an earlier callback (whose userdata is dropped).
/// `PINHOLE_STATUS_WRONG_MODE` if the process already installed another Rust logger.
///
/// # Safety
/// `userdata` valid for as long as the callback may be called.
#[no_mangle]
pub unsafe extern "C" fn pinhole_set_log_callback(
    callback: PinholeLogCallback,
    userdata: *mut c_void,
    drop_userdata: crate::callbacks::PinholeDropCallback,
    level: i32,
) -> PinholeStatus {
    guard(|| {
        let f = filter(level)?;
        if log::set_logger(&LOGGER).is_err() && !installed() {
            return Err(Failure::new(
                PinholeStatus::WrongMode,
                "another logger is already installed in this process (a Rust host's own): Pinhole logs through it",
            ));
        }
        INSTALLED.store(true, std::sync::atomic::Ordering::Release);
        let new = callback.map(|cb| (cb, Userdata::new(userdata, drop_userdata)));
        *LOGGER.sink.write().unwrap_or_else(|p| p.into_inner()) = new;
        log::set_max_level(f);
        Ok(PinholeStatus::Ok)
    })
}

static INSTALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn installed() -> bool {
    INSTALLED.load(std::sync::atomic::Ordering::Acquire)
}

/// Changes the log level (a `PinholeLogLevel`) at run time.
#[no_mangle]
pub extern "C" fn pinhole_set_log_level(level: i32) -> PinholeStatus {
    guard(|| {
        log::set_max_level(filter(level)?);
        Ok(PinholeStatus::Ok)
    })
}
