//! Pinhole's `log` records for the bindings: to logcat on Android (`android_logger`), to
//! the unified log on Apple platforms (`oslog`, subsystem `dev.pinhole`), or to a foreign
//! `LogSink` (any platform; the way on a desktop JVM). The C API has its own log callback
//! (`pinhole_set_log_callback`); a process uses one or the other.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use super::error::{ListenerError, PinholeError};

/// How much Pinhole logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, uniffi::Enum)]
pub enum LogLevel {
    /// Nothing.
    Off,
    /// Failures the application should know about.
    Error,
    /// Things that went wrong and were handled.
    Warn,
    /// Rare milestones.
    Info,
    /// Protocol decisions (pairs, nominations, restarts).
    Debug,
    /// Every packet.
    Trace,
}

impl LogLevel {
    fn filter(self) -> log::LevelFilter {
        match self {
            LogLevel::Off => log::LevelFilter::Off,
            LogLevel::Error => log::LevelFilter::Error,
            LogLevel::Warn => log::LevelFilter::Warn,
            LogLevel::Info => log::LevelFilter::Info,
            LogLevel::Debug => log::LevelFilter::Debug,
            LogLevel::Trace => log::LevelFilter::Trace,
        }
    }

    fn of(l: log::Level) -> LogLevel {
        match l {
            log::Level::Error => LogLevel::Error,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Info => LogLevel::Info,
            log::Level::Debug => LogLevel::Debug,
            log::Level::Trace => LogLevel::Trace,
        }
    }
}

/// Receives Pinhole's log records (on whatever thread logged, often one of Pinhole's).
/// Keep it short; an exception thrown here is dropped.
#[uniffi::export(foreign)]
pub trait LogSink: Send + Sync {
    /// One record: `target` is the module (`pinhole::ice::checks`).
    fn log(&self, level: LogLevel, target: String, message: String) -> Result<(), ListenerError>;
}

struct BindingsLogger {
    sink: RwLock<Option<Arc<dyn LogSink>>>,
    #[cfg(target_os = "android")]
    platform: OnceLock<android_logger::AndroidLogger>,
    #[cfg(target_vendor = "apple")]
    platform: OnceLock<oslog::OsLogger>,
}

static LOGGER: OnceLock<BindingsLogger> = OnceLock::new();
static INSTALLED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Set while a record is being handed to the sink: a record logged from inside the
    /// sink (through a call back into Pinhole) is dropped instead of recursing.
    static IN_SINK: Cell<bool> = const { Cell::new(false) };
}

impl log::Log for BindingsLogger {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &log::Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let sink = self.sink.read().unwrap_or_else(|p| p.into_inner()).clone();
        match sink {
            Some(sink) => {
                if IN_SINK.with(|f| f.replace(true)) {
                    return;
                }
                super::jvm::attach_current_thread();
                let _ = sink.log(
                    LogLevel::of(r.level()),
                    r.target().to_owned(),
                    r.args().to_string(),
                );
                IN_SINK.with(|f| f.set(false));
            }
            None => self.platform_log(r),
        }
    }

    fn flush(&self) {}
}

impl BindingsLogger {
    /// logcat or os_log, once `set_log_level` installed it; nothing elsewhere.
    fn platform_log(&self, _r: &log::Record) {
        #[cfg(any(target_os = "android", target_vendor = "apple"))]
        if let Some(p) = self.platform.get() {
            log::Log::log(p, _r);
        }
    }
}

fn logger() -> &'static BindingsLogger {
    LOGGER.get_or_init(|| BindingsLogger {
        sink: RwLock::new(None),
        #[cfg(any(target_os = "android", target_vendor = "apple"))]
        platform: OnceLock::new(),
    })
}

/// Installs the bindings' logger as the process's `log` logger (once).
fn install() -> Result<&'static BindingsLogger, PinholeError> {
    let l = logger();
    if INSTALLED.load(Ordering::Acquire) {
        return Ok(l);
    }
    match log::set_logger(l) {
        Ok(()) => {
            INSTALLED.store(true, Ordering::Release);
            Ok(l)
        }
        Err(_) if INSTALLED.load(Ordering::Acquire) => Ok(l),
        Err(_) => Err(PinholeError::Unsupported(
            "another logger is already installed in this process (the C API's pinhole_set_log_callback, or the host's own Rust logger): Pinhole logs through that one".into(),
        )),
    }
}

/// Logs at `level` and above to the platform's log: logcat (tag `pinhole`) on Android,
/// the unified log (subsystem `dev.pinhole`) on Apple platforms. Elsewhere there is no
/// platform log: records go to the sink of `set_log_sink`, or nowhere. Callable again to
/// change the level.
#[uniffi::export]
pub fn set_log_level(level: LogLevel) -> Result<(), PinholeError> {
    let _l = install()?;
    #[cfg(target_os = "android")]
    _l.platform.get_or_init(|| {
        android_logger::AndroidLogger::new(
            android_logger::Config::default()
                .with_tag("pinhole")
                .with_max_level(log::LevelFilter::Trace),
        )
    });
    #[cfg(target_vendor = "apple")]
    _l.platform
        .get_or_init(|| oslog::OsLogger::new("dev.pinhole").level_filter(log::LevelFilter::Trace));
    log::set_max_level(level.filter());
    Ok(())
}

/// Sends Pinhole's log records at `level` and above to `sink` instead of the platform's
/// log (`None`: back to the platform's log, or nowhere where there is none).
#[uniffi::export]
pub fn set_log_sink(sink: Option<Arc<dyn LogSink>>, level: LogLevel) -> Result<(), PinholeError> {
    let l = install()?;
    *l.sink.write().unwrap_or_else(|p| p.into_inner()) = sink;
    set_log_level(level)
}
