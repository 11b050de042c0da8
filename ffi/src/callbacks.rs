//! C callbacks: the types in the header, the userdata they carry, and the gate that
//! guarantees no callback runs once `pinhole_session_free` has returned.

use std::cell::Cell;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::{Arc, Mutex};

use engine::runtime::Listener;
use engine::session::Event;

use crate::event::PinholeEvent;
use crate::session::PinholeSession;

/// Called for each event. `event` is valid during the call only.
pub type PinholeEventCallback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        session: *mut PinholeSession,
        event: *const PinholeEvent,
    ),
>;

/// Called for each datagram from the peer. `data` is valid during the call only.
pub type PinholeDatagramCallback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        session: *mut PinholeSession,
        data: *const u8,
        len: usize,
    ),
>;

/// Releases a callback's userdata: called exactly once, after the last callback that
/// uses it, on an unspecified thread.
pub type PinholeDropCallback = Option<unsafe extern "C" fn(userdata: *mut c_void)>;

/// The application's pointer, dropped with its callback when the last owner goes.
pub(crate) struct Userdata {
    ptr: *mut c_void,
    drop: PinholeDropCallback,
}

// SAFETY: the header documents that userdata may be used from the callback thread and
// dropped on any thread; the application promises that much by passing it.
unsafe impl Send for Userdata {}
// SAFETY: as above; Pinhole never dereferences it.
unsafe impl Sync for Userdata {}

impl Userdata {
    pub(crate) fn new(ptr: *mut c_void, drop: PinholeDropCallback) -> Arc<Userdata> {
        Arc::new(Userdata { ptr, drop })
    }

    pub(crate) fn ptr(&self) -> *mut c_void {
        self.ptr
    }
}

impl Drop for Userdata {
    fn drop(&mut self) {
        if let Some(d) = self.drop {
            // SAFETY: the application's own release function for its own pointer.
            unsafe { d(self.ptr) };
        }
    }
}

type EventFn = unsafe extern "C" fn(*mut c_void, *mut PinholeSession, *const PinholeEvent);
type DatagramFn = unsafe extern "C" fn(*mut c_void, *mut PinholeSession, *const u8, usize);

/// The callbacks a configuration carries.
#[derive(Clone, Default)]
pub(crate) struct Callbacks {
    pub(crate) event: Option<(EventFn, Arc<Userdata>)>,
    pub(crate) datagram: Option<(DatagramFn, Arc<Userdata>)>,
    pub(crate) on_pinhole_thread: bool,
}

impl Callbacks {
    pub(crate) fn any(&self) -> bool {
        self.event.is_some() || self.datagram.is_some()
    }
}

thread_local! {
    /// The gate whose callback this thread is running (to let a callback free its own
    /// session without waiting for itself).
    static IN_GATE: Cell<*const Gate> = const { Cell::new(std::ptr::null()) };
}

/// Serialises a session's callbacks and lets `free` wait for one in flight.
pub(crate) struct Gate {
    lock: Mutex<()>,
    enabled: AtomicBool,
    session: AtomicPtr<PinholeSession>,
}

impl Gate {
    pub(crate) fn new() -> Arc<Gate> {
        Arc::new(Gate {
            lock: Mutex::new(()),
            enabled: AtomicBool::new(true),
            session: AtomicPtr::new(std::ptr::null_mut()),
        })
    }

    /// Holds callbacks back (they wait) until the guard is dropped: for the start of a
    /// session, until its handle is set.
    pub(crate) fn hold(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The handle passed to callbacks (set once the session is boxed).
    pub(crate) fn set_session(&self, s: *mut PinholeSession) {
        self.session.store(s, Ordering::Release);
    }

    /// Runs `f` with the session pointer unless the session is being freed.
    pub(crate) fn call(&self, f: impl FnOnce(*mut PinholeSession)) {
        if !self.enabled.load(Ordering::Acquire) {
            return;
        }
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if !self.enabled.load(Ordering::Acquire) {
            return;
        }
        let prev = IN_GATE.with(|g| g.replace(self as *const Gate));
        // A panic cannot come out of a C function; this only keeps our own marker right.
        f(self.session.load(Ordering::Acquire));
        IN_GATE.with(|g| g.set(prev));
    }

    /// No callback runs after this returns (waits for one in flight, unless called from
    /// that very callback).
    pub(crate) fn disable(&self) {
        self.enabled.store(false, Ordering::Release);
        let inside = IN_GATE.with(|g| std::ptr::eq(g.get(), self));
        if !inside {
            drop(self.lock.lock().unwrap_or_else(|p| p.into_inner()));
        }
    }

    /// Delivers one event through the callbacks; false if there is no event callback.
    pub(crate) fn event(&self, cb: &Callbacks, e: Event) -> bool {
        let Some((f, ud)) = &cb.event else {
            return false;
        };
        let ev = PinholeEvent::new(e);
        // SAFETY: the application's callback with its own userdata and a live event.
        self.call(|s| unsafe { f(ud.ptr, s, &ev) });
        true
    }

    /// Delivers one datagram through the callbacks; false if there is no datagram callback.
    pub(crate) fn datagram(&self, cb: &Callbacks, d: &[u8]) -> bool {
        let Some((f, ud)) = &cb.datagram else {
            return false;
        };
        // SAFETY: as above; `d` lives for the call.
        self.call(|s| unsafe { f(ud.ptr, s, d.as_ptr(), d.len()) });
        true
    }
}

/// Callbacks on Pinhole's thread: the runtime session's listener.
pub(crate) struct CListener {
    pub(crate) callbacks: Callbacks,
    pub(crate) gate: Arc<Gate>,
}

impl Listener for CListener {
    fn on_event(&self, event: Event) {
        self.gate.event(&self.callbacks, event);
    }

    fn on_datagram(&self, data: &[u8]) {
        self.gate.datagram(&self.callbacks, data);
    }
}
