//! `PinholeSession` driven by Pinhole's runtime threads: the poll API (events and
//! datagrams queued, a wake-up descriptor), callbacks run by `pinhole_run_callbacks`, or
//! callbacks on Pinhole's thread. The "bring your own sockets" mode shares the type and
//! lives in `sansio.rs`.

use std::ffi::{c_char, CString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use engine::runtime::{Delivery, Session, StartError};
use engine::session::{NetworkHint, NetworkKind};

use crate::callbacks::{CListener, Callbacks, Gate};
use crate::config::PinholeConfig;
use crate::event::{PinholeEvent, PinholePathKind, PinholeState};
use crate::guard::{guard_with, Failure};
use crate::sansio::SansIo;
use crate::status::{from_session_error, PinholeStatus};
use crate::strings::{bytes, out, utf8};
use crate::wakeup::Wakeup;

/// A session (opaque). Thread safety: a runtime session's functions may be called from
/// any thread, concurrently; a "bring your own sockets" session is not thread-safe (call
/// it from one thread at a time, like the socket loop that drives it).
pub struct PinholeSession {
    pub(crate) mode: Mode,
    /// Shared with the per-call views `with_session` makes, so a panic in a call whose
    /// handle was freed meanwhile still poisons nothing that is gone.
    pub(crate) poisoned: Arc<AtomicBool>,
}

pub(crate) enum Mode {
    Runtime(Arc<RtSession>),
    SansIo(Box<Mutex<SansIo>>),
}

/// A session on the runtime, with how it delivers.
pub(crate) struct RtSession {
    pub(crate) session: Session,
    pub(crate) callbacks: Callbacks,
    pub(crate) gate: Arc<Gate>,
    pub(crate) wakeup: Option<Arc<Wakeup>>,
}

/// Sessions whose callbacks `pinhole_run_callbacks` delivers.
static RUN_REGISTRY: Mutex<Vec<Weak<RtSession>>> = Mutex::new(Vec::new());

/// Most items one `run_callbacks` delivers per session (so a flood cannot stall a frame).
const RUN_BUDGET: usize = 4096;

/// Runs an entry point on a session: NULL check, poison check, panic guard.
pub(crate) fn with_session(
    s: *const PinholeSession,
    f: impl FnOnce(&PinholeSession) -> Result<PinholeStatus, Failure>,
) -> PinholeStatus {
    // SAFETY: every caller passes NULL or a session from pinhole_session_new* that has not
    // been freed (the header's contract).
    let Some(handle) = (unsafe { s.as_ref() }) else {
        return crate::guard::guard(|| Err(Failure::null("session")));
    };
    // A call can make a callback on another thread free the handle before the call
    // returns (pinhole_session_close delivers CLOSED, whose callback frees the session):
    // a runtime session's call works on its own reference, never on the handle.
    let view;
    let session = match &handle.mode {
        Mode::Runtime(r) => {
            view = PinholeSession {
                mode: Mode::Runtime(r.clone()),
                poisoned: handle.poisoned.clone(),
            };
            &view
        }
        Mode::SansIo(_) => handle,
    };
    if session.poisoned.load(Ordering::Acquire) {
        return crate::guard::guard(|| {
            Err(Failure::new(
                PinholeStatus::Panic,
                "this session hit an internal error earlier and is unusable: free it and create a new one",
            ))
        });
    }
    guard_with(
        || f(session),
        || session.poisoned.store(true, Ordering::Release),
    )
}

fn runtime_mode(s: &PinholeSession) -> Result<&Arc<RtSession>, Failure> {
    match &s.mode {
        Mode::Runtime(r) => Ok(r),
        Mode::SansIo(_) => Err(Failure::new(
            PinholeStatus::WrongMode,
            "this is a \"bring your own sockets\" session: use pinhole_session_poll_output and the pinhole_session_handle_* calls",
        )),
    }
}

/// Creates a session on Pinhole's runtime threads and starts gathering at once. Events
/// and datagrams are queued (`pinhole_session_poll_event`, `pinhole_session_recv`,
/// `pinhole_session_wakeup_fd`) unless the config set callbacks. The first event is the
/// signaling message to send to the peer.
///
/// # Safety
/// `config` is NULL or valid; `out_session` is writable.
#[no_mangle]
pub unsafe extern "C" fn pinhole_session_new(
    config: *const PinholeConfig,
    out_session: *mut *mut PinholeSession,
) -> PinholeStatus {
    crate::guard::guard(|| {
        // SAFETY: NULL or a live config (header contract).
        let c = unsafe { config.as_ref() }.ok_or_else(|| Failure::null("config"))?;
        let o = out(out_session, "out_session")?;
        let callbacks = c.callbacks.clone();
        if callbacks.on_pinhole_thread
            && !(callbacks.event.is_some() && callbacks.datagram.is_some())
        {
            return Err(Failure::new(
                PinholeStatus::InvalidConfig,
                "callbacks on Pinhole's thread need both an event and a datagram callback (or use PINHOLE_CALLBACK_THREAD_RUN_CALLBACKS)",
            ));
        }
        let rt = crate::runtime::get()?;
        let gate = Gate::new();
        // Callbacks wait at the gate until the session handle they are given exists: the
        // first event (the signal) is delivered on Pinhole's thread as soon as the session
        // starts, which can be before this function reaches `set_session`.
        let starting = gate.hold();
        let (delivery, wakeup) = if callbacks.on_pinhole_thread {
            let l = CListener {
                callbacks: callbacks.clone(),
                gate: gate.clone(),
            };
            (Delivery::Listener(Arc::new(l)), None)
        } else {
            let w = Arc::new(Wakeup::new().map_err(|e| {
                Failure::new(
                    PinholeStatus::Io,
                    format!("cannot create the wake-up descriptor: {e}"),
                )
            })?);
            let w2 = w.clone();
            let on_ready: Arc<dyn Fn() + Send + Sync> = Arc::new(move || w2.signal());
            (
                Delivery::Queue {
                    on_ready: Some(on_ready),
                },
                Some(w),
            )
        };
        let session =
            Session::start_on(rt.handle(), c.session.clone(), delivery).map_err(|e| match e {
                StartError::Config(e) => Failure::new(PinholeStatus::InvalidConfig, e.to_string()),
                other => Failure::new(PinholeStatus::Io, other.to_string()),
            })?;
        let rts = Arc::new(RtSession {
            session,
            callbacks,
            gate: gate.clone(),
            wakeup,
        });
        let registered =
            (rts.callbacks.any() && !rts.callbacks.on_pinhole_thread).then(|| Arc::downgrade(&rts));
        let boxed = Box::into_raw(Box::new(PinholeSession {
            mode: Mode::Runtime(rts),
            poisoned: Arc::new(AtomicBool::new(false)),
        }));
        gate.set_session(boxed);
        drop(starting);
        if let Some(weak) = registered {
            RUN_REGISTRY
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(weak);
        }
        // SAFETY: checked non-NULL, writable per contract.
        unsafe { *o = boxed };
        Ok(PinholeStatus::Ok)
    })
}

/// Closes (if not closed) and frees a session. NULL is a no-op. No callback runs after
/// this returns (it waits for one in flight on another thread; called from a callback,
/// it frees after that callback returns). TURN allocations are deleted in the background.
///
/// # Safety
/// `session` is NULL or from `pinhole_session_new*`, freed once, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn pinhole_session_free(session: *mut PinholeSession) {
    if session.is_null() {
        return;
    }
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: from Box::into_raw in pinhole_session_new*, freed once.
        let s = unsafe { Box::from_raw(session) };
        if let Mode::Runtime(r) = &s.mode {
            r.gate.disable();
            r.session.close();
            let mut reg = RUN_REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
            reg.retain(|w| w.strong_count() > 0 && !std::ptr::eq(w.as_ptr(), Arc::as_ptr(r)));
        }
        drop(s);
    }));
}

/// Hands a signaling message from the peer to the session (the text its
/// `PINHOLE_EVENT_KIND_SIGNAL` event carried; need not be NUL-terminated). Repeats are
/// ignored; a message that is not understood is `PINHOLE_STATUS_BAD_SIGNAL` and changes
/// nothing.
///
/// # Safety
/// `session` is NULL or valid; `message` points to `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn pinhole_session_handle_signal(
    session: *mut PinholeSession,
    message: *const c_char,
    len: usize,
) -> PinholeStatus {
    with_session(session, |s| {
        // SAFETY: forwarded contract.
        let m = unsafe { utf8(message, len, "message") }?;
        match &s.mode {
            Mode::Runtime(r) => r.session.handle_signal(m).map_err(from_session_error)?,
            Mode::SansIo(x) => x
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .handle_signal(m)?,
        }
        Ok(PinholeStatus::Ok)
    })
}

/// Sends one datagram to the peer on the current path. The bytes are copied; the caller
/// keeps its buffer. From a runtime session the datagram leaves from the calling thread.
///
/// # Safety
/// `session` is NULL or valid; `data` points to `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn pinhole_session_send(
    session: *mut PinholeSession,
    data: *const u8,
    len: usize,
) -> PinholeStatus {
    with_session(session, |s| {
        // SAFETY: forwarded contract.
        let d = unsafe { bytes(data, len, "data") }?;
        match &s.mode {
            Mode::Runtime(r) => r.session.send(d).map_err(from_session_error)?,
            Mode::SansIo(x) => x.lock().unwrap_or_else(|p| p.into_inner()).send(d)?,
        }
        Ok(PinholeStatus::Ok)
    })
}

/// ICE restart: new credentials go to the peer as a signal event; the current path keeps
/// carrying data until a new one is selected. Also the way out of `FAILED`.
///
/// # Safety
/// `session` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn pinhole_session_restart(session: *mut PinholeSession) -> PinholeStatus {
    with_session(session, |s| {
        match &s.mode {
            Mode::Runtime(r) => r.session.restart().map_err(from_session_error)?,
            Mode::SansIo(x) => x.lock().unwrap_or_else(|p| p.into_inner()).restart()?,
        }
        Ok(PinholeStatus::Ok)
    })
}

/// The host's network changed (`kind` is a `PinholeNetworkKind`): a runtime session lists
/// the interfaces again and moves to the new ones make-before-break.
///
/// # Safety
/// `session` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn pinhole_session_network_changed(
    session: *mut PinholeSession,
    kind: i32,
    metered: bool,
) -> PinholeStatus {
    with_session(session, |s| {
        let k = match kind {
            0 => NetworkKind::Unknown,
            1 => NetworkKind::Wifi,
            2 => NetworkKind::Cellular,
            3 => NetworkKind::Ethernet,
            4 => NetworkKind::Other,
            5 => NetworkKind::None,
            k => {
                return Err(Failure::new(
                    PinholeStatus::InvalidArgument,
                    format!("network kind {k} is not a PinholeNetworkKind"),
                ))
            }
        };
        let hint = NetworkHint::new(k).with_metered(metered);
        match &s.mode {
            Mode::Runtime(r) => r.session.network_changed(hint),
            Mode::SansIo(x) => x
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .network_changed(hint),
        }
        Ok(PinholeStatus::Ok)
    })
}

/// The app went to the background (`foreground` false: no consent checks or keepalives,
/// nothing wakes the radio but TURN refreshes) or came back (true: every socket is
/// replaced, since iOS closes a suspended app's sockets, and ICE restarts).
///
/// # Safety
/// `session` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn pinhole_session_set_foreground(
    session: *mut PinholeSession,
    foreground: bool,
) -> PinholeStatus {
    with_session(session, |s| {
        match &s.mode {
            Mode::Runtime(r) => r.session.set_foreground(foreground),
            Mode::SansIo(x) => x
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .set_foreground(foreground),
        }
        Ok(PinholeStatus::Ok)
    })
}

/// Closes the session: TURN allocations are deleted, `CLOSED` is the last state event.
/// Idempotent. The session must still be freed.
///
/// # Safety
/// `session` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn pinhole_session_close(session: *mut PinholeSession) -> PinholeStatus {
    with_session(session, |s| {
        match &s.mode {
            Mode::Runtime(r) => r.session.close(),
            Mode::SansIo(x) => x.lock().unwrap_or_else(|p| p.into_inner()).close(),
        }
        Ok(PinholeStatus::Ok)
    })
}

/// The connection state now.
///
/// # Safety
/// `session` is NULL or valid; `out_state` writable.
#[no_mangle]
pub unsafe extern "C" fn pinhole_session_state(
    session: *const PinholeSession,
    out_state: *mut PinholeState,
) -> PinholeStatus {
    with_session(session, |s| {
        let o = out(out_state, "out_state")?;
        let st = match &s.mode {
            Mode::Runtime(r) => r.session.state(),
            Mode::SansIo(x) => x.lock().unwrap_or_else(|p| p.into_inner()).session.state(),
        };
        // SAFETY: checked non-NULL, writable per contract.
        unsafe { *o = st.into() };
        Ok(PinholeStatus::Ok)
    })
}

/// The current path's kind (`PINHOLE_PATH_KIND_NONE` when not connected).
///
/// # Safety
/// `session` is NULL or valid; `out_kind` writable.
#[no_mangle]
pub unsafe extern "C" fn pinhole_session_path_kind(
    session: *const PinholeSession,
    out_kind: *mut PinholePathKind,
) -> PinholeStatus {
    with_session(session, |s| {
        let o = out(out_kind, "out_kind")?;
        let p = match &s.mode {
            Mode::Runtime(r) => r.session.path(),
            Mode::SansIo(x) => x
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .session
                .path()
                .cloned(),
        };
        let k = match p.map(|p| p.kind) {
            None => PinholePathKind::None,
            Some(engine::session::PathKind::Direct) => PinholePathKind::Direct,
            Some(_) => PinholePathKind::Relay,
        };
        // SAFETY: checked non-NULL, writable per contract.
        unsafe { *o = k };
        Ok(PinholeStatus::Ok)
    })
}

/// A statistics snapshot as one JSON object (NUL-terminated); free it with
/// `pinhole_string_free`.
///
/// # Safety
/// `session` is NULL or valid; `out_json` writable.
#[no_mangle]
pub unsafe extern "C" fn pinhole_session_stats_json(
    session: *const PinholeSession,
    out_json: *mut *mut c_char,
) -> PinholeStatus {
    with_session(session, |s| {
        let o = out(out_json, "out_json")?;
        let json = match &s.mode {
            Mode::Runtime(r) => r.session.stats().to_json(),
            Mode::SansIo(x) => x
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .session
                .stats()
                .to_json(),
        };
        let c = CString::new(json).unwrap_or_default();
        // SAFETY: checked non-NULL, writable per contract.
        unsafe { *o = c.into_raw() };
        Ok(PinholeStatus::Ok)
    })
}

/// Frees a string Pinhole returned. NULL is a no-op.
///
/// # Safety
/// `s` is NULL or a string from Pinhole, freed once.
#[no_mangle]
pub unsafe extern "C" fn pinhole_string_free(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: from CString::into_raw, freed once.
        let _ = std::panic::catch_unwind(|| drop(unsafe { CString::from_raw(s) }));
    }
}

/// The next queued event (`PINHOLE_STATUS_EMPTY` if none). Free it with
/// `pinhole_event_free`. Never blocks. `PINHOLE_STATUS_WRONG_MODE` when the session
/// has an event callback (which gets every event).
///
/// # Safety
/// `session` is NULL or valid; `out_event` writable.
#[no_mangle]
pub unsafe extern "C" fn pinhole_session_poll_event(
    session: *mut PinholeSession,
    out_event: *mut *mut PinholeEvent,
) -> PinholeStatus {
    with_session(session, |s| {
        let o = out(out_event, "out_event")?;
        let r = runtime_mode(s)?;
        if r.callbacks.event.is_some() {
            return Err(Failure::new(
                PinholeStatus::WrongMode,
                "this session delivers its events to its event callback (pinhole_config_set_event_callback): there is nothing to poll",
            ));
        }
        match r.session.try_next_event() {
            Some(e) => {
                // SAFETY: checked non-NULL, writable per contract.
                unsafe { *o = Box::into_raw(Box::new(PinholeEvent::new(e))) };
                Ok(PinholeStatus::Ok)
            }
            None => Ok(PinholeStatus::Empty),
        }
    })
}

/// Copies the next queued datagram into `buf` (`PINHOLE_STATUS_EMPTY` if none).
/// `*out_len` is the datagram's length; if it exceeds `capacity` the datagram was
/// truncated to `capacity` bytes (the rest is lost). Never blocks, never allocates.
/// `PINHOLE_STATUS_WRONG_MODE` when the session has a datagram callback.
///
/// # Safety
/// `session` is NULL or valid; `buf` has `capacity` writable bytes; `out_len` writable.
#[no_mangle]
pub unsafe extern "C" fn pinhole_session_recv(
    session: *mut PinholeSession,
    buf: *mut u8,
    capacity: usize,
    out_len: *mut usize,
) -> PinholeStatus {
    with_session(session, |s| {
        let o = out(out_len, "out_len")?;
        if buf.is_null() && capacity > 0 {
            return Err(Failure::null("buf"));
        }
        let r = runtime_mode(s)?;
        if r.callbacks.datagram.is_some() {
            return Err(Failure::new(
                PinholeStatus::WrongMode,
                "this session delivers its datagrams to its datagram callback (pinhole_config_set_datagram_callback): there is nothing to receive",
            ));
        }
        let dst: &mut [u8] = if capacity == 0 {
            &mut []
        } else {
            // SAFETY: non-NULL with `capacity` writable bytes per contract.
            unsafe { std::slice::from_raw_parts_mut(buf, capacity) }
        };
        match r.session.try_recv_into(dst) {
            Some(n) => {
                // SAFETY: checked non-NULL, writable per contract.
                unsafe { *o = n };
                Ok(PinholeStatus::Ok)
            }
            None => Ok(PinholeStatus::Empty),
        }
    })
}

/// A descriptor made readable whenever the event queue or the datagram queue goes from
/// empty to non-empty (an eventfd on Linux/Android, a pipe elsewhere). Wait on it in your
/// epoll/select/poll loop; when it is readable call `pinhole_session_clear_wakeup`, then
/// poll events and datagrams until `PINHOLE_STATUS_EMPTY` (new items in a queue you left
/// non-empty do not wake you again). Owned by the session: do not close it.
///
/// # Safety
/// `session` is NULL or valid; `out_fd` writable.
#[no_mangle]
pub unsafe extern "C" fn pinhole_session_wakeup_fd(
    session: *const PinholeSession,
    out_fd: *mut i32,
) -> PinholeStatus {
    with_session(session, |s| {
        let o = out(out_fd, "out_fd")?;
        let w = runtime_mode(s)?.wakeup.as_ref().ok_or_else(|| {
            Failure::new(
                PinholeStatus::WrongMode,
                "callbacks on Pinhole's thread deliver everything: there is no wake-up descriptor",
            )
        })?;
        // SAFETY: checked non-NULL, writable per contract.
        unsafe { *o = w.fd() };
        Ok(PinholeStatus::Ok)
    })
}

/// Makes the wake-up descriptor unreadable again. Call it before draining the queues.
///
/// # Safety
/// `session` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn pinhole_session_clear_wakeup(
    session: *const PinholeSession,
) -> PinholeStatus {
    with_session(session, |s| {
        if let Some(w) = &runtime_mode(s)?.wakeup {
            w.clear();
        }
        Ok(PinholeStatus::Ok)
    })
}

fn run_callbacks(r: &RtSession) {
    if let Some(w) = &r.wakeup {
        w.clear();
    }
    for _ in 0..RUN_BUDGET {
        let mut progressed = false;
        if r.callbacks.event.is_some() {
            if let Some(e) = r.session.try_next_event() {
                r.gate.event(&r.callbacks, e);
                progressed = true;
            }
        }
        if r.callbacks.datagram.is_some() {
            if let Some(d) = r.session.try_recv() {
                r.gate.datagram(&r.callbacks, &d);
                progressed = true;
            }
        }
        if !progressed {
            return;
        }
    }
}

/// Delivers this session's queued events and datagrams to its callbacks, on the calling
/// thread (at most a few thousand per call).
///
/// # Safety
/// `session` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn pinhole_session_run_callbacks(
    session: *mut PinholeSession,
) -> PinholeStatus {
    with_session(session, |s| {
        let r = runtime_mode(s)?.clone();
        run_callbacks(&r);
        Ok(PinholeStatus::Ok)
    })
}

/// Delivers the queued events and datagrams of every session whose callbacks run on
/// `PINHOLE_CALLBACK_THREAD_RUN_CALLBACKS`, on the calling thread: call it once per frame
/// of your game loop. A callback may free its own session.
#[no_mangle]
pub extern "C" fn pinhole_run_callbacks() -> PinholeStatus {
    crate::guard::guard(|| {
        let sessions: Vec<Arc<RtSession>> = {
            let mut reg = RUN_REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
            reg.retain(|w| w.strong_count() > 0);
            reg.iter().filter_map(Weak::upgrade).collect()
        };
        for r in sessions {
            run_callbacks(&r);
        }
        Ok(PinholeStatus::Ok)
    })
}
