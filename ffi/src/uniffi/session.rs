//! `Session` for Kotlin and Swift: the engine's `runtime::Session` on Pinhole's shared
//! runtime, with events and datagrams delivered to a foreign `SessionListener`.
//!
//! No reference cycle between listener and session: the session holds the listener only
//! until it delivers `StateChanged(Closed)` (its last event), then lets it go; nothing in
//! Pinhole holds the session for the listener. A listener may therefore capture the
//! session (to reply from a callback) without leaking either once the session is closed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use engine::runtime::{self, Delivery};
use engine::session::{self as core, NetworkHint};
use tokio::sync::watch;

use super::error::{ListenerError, PinholeError};
use super::task::on_pinhole_runtime;
use super::types::{
    NetworkKind, PathInfo, SessionConfig, SessionEvent, SessionState, SessionStats,
};

/// Receives a session's events and datagrams, in order, on one of Pinhole's runtime
/// threads. Keep each call short (hand the items to your own queue or coroutine): the
/// session's work waits while it runs. Calling the session from here is fine. An
/// exception thrown here is logged and counted, never fatal.
#[uniffi::export(foreign)]
pub trait SessionListener: Send + Sync {
    /// An event: a signaling message to forward, a state or path change, a relay failure,
    /// a restart.
    fn on_event(&self, event: SessionEvent) -> Result<(), ListenerError>;
    /// Datagrams from the peer, in order: every datagram that arrived since the last call
    /// (one when traffic is light, many under load: one call into Kotlin or Swift costs
    /// microseconds, so they are batched rather than delivered one call each).
    fn on_datagrams(&self, datagrams: Vec<Vec<u8>>) -> Result<(), ListenerError>;
}

/// Forwards the engine's deliveries to the foreign listener, keeps the state for the
/// async waits, and drops the listener after the last event.
///
/// Datagrams are batched: the first one of a burst schedules a flush task on Pinhole's
/// runtime, which runs once the driver has delivered the whole burst and yields; an event
/// flushes what is pending before it, so the listener sees everything in order.
struct Forward {
    listener: Mutex<Option<Arc<dyn SessionListener>>>,
    state: watch::Sender<SessionState>,
    errors: AtomicU64,
    /// Datagrams not yet handed to the listener.
    pending: Mutex<Vec<Vec<u8>>>,
    /// Held while calling the listener: deliveries never overlap or overtake each other.
    delivering: Mutex<()>,
    /// This forwarder, for the flush task.
    me: std::sync::Weak<Forward>,
}

impl Forward {
    fn target(&self) -> Option<Arc<dyn SessionListener>> {
        self.listener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Hands every pending datagram to the listener (called with `delivering` held).
    fn flush_locked(&self) {
        let batch = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        if batch.is_empty() {
            return;
        }
        super::jvm::attach_current_thread();
        if let Some(l) = self.target() {
            if let Err(e) = l.on_datagrams(batch) {
                self.failed("onDatagrams", e);
            }
        }
    }

    fn failed(&self, what: &str, e: ListenerError) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        log::warn!("pinhole: the session listener's {what} threw: {e}");
    }
}

impl runtime::Listener for Forward {
    fn on_event(&self, event: core::Event) {
        let Some(event) = SessionEvent::from_core(&event) else {
            return;
        };
        let last = if let SessionEvent::StateChanged { state } = &event {
            self.state.send_replace(*state);
            *state == SessionState::Closed
        } else {
            false
        };
        let _order = self.delivering.lock().unwrap_or_else(|p| p.into_inner());
        self.flush_locked();
        super::jvm::attach_current_thread();
        if let Some(l) = self.target() {
            if let Err(e) = l.on_event(event) {
                self.failed("onEvent", e);
            }
        }
        if last {
            // The last event: let go of the listener (and whatever it captured).
            self.listener
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
        }
    }

    fn on_datagram(&self, data: &[u8]) {
        let first = {
            let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            p.push(data.to_vec());
            p.len() == 1
        };
        if !first {
            return;
        }
        let me = self.me.clone();
        let flush = async move {
            if let Some(f) = me.upgrade() {
                let _order = f.delivering.lock().unwrap_or_else(|p| p.into_inner());
                f.flush_locked();
            }
        };
        // The driver delivers on Pinhole's runtime; outside one (never, today), at once.
        match tokio::runtime::Handle::try_current() {
            Ok(h) => {
                h.spawn(flush);
            }
            Err(_) => {
                let _order = self.delivering.lock().unwrap_or_else(|p| p.into_inner());
                self.flush_locked();
            }
        }
    }
}

/// A peer-to-peer session: gathers candidates, exchanges signaling through the
/// application, finds the best path (direct or relayed), and keeps it across network
/// changes. All methods may be called from any thread; none blocks on the network.
#[derive(uniffi::Object)]
pub struct Session {
    pub(super) inner: Arc<runtime::Session>,
    forward: Arc<Forward>,
}

#[uniffi::export]
impl Session {
    /// Starts a session on Pinhole's runtime threads and starts gathering at once: the
    /// first event is the signaling message to send to the peer.
    #[uniffi::constructor]
    pub fn new(
        config: SessionConfig,
        listener: Arc<dyn SessionListener>,
    ) -> Result<Arc<Self>, PinholeError> {
        let core = config.to_core()?;
        let rt = super::runtime()?;
        let forward = Arc::new_cyclic(|me| Forward {
            listener: Mutex::new(Some(listener)),
            state: watch::Sender::new(SessionState::New),
            errors: AtomicU64::new(0),
            pending: Mutex::new(Vec::new()),
            delivering: Mutex::new(()),
            me: me.clone(),
        });
        let inner =
            runtime::Session::start_on(rt.handle(), core, Delivery::Listener(forward.clone()))
                .inspect_err(|_| {
                    forward
                        .listener
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .take();
                })?;
        Ok(Arc::new(Session {
            inner: Arc::new(inner),
            forward,
        }))
    }

    /// A signaling message from the peer, exactly as its session emitted it. Repeats are
    /// ignored; a message that is not understood raises `BadSignal` and changes nothing.
    pub fn handle_signal(&self, message: String) -> Result<(), PinholeError> {
        Ok(self.inner.handle_signal(&message)?)
    }

    /// Sends one datagram to the peer on the current path (from the calling thread).
    pub fn send(&self, data: Vec<u8>) -> Result<(), PinholeError> {
        Ok(self.inner.send(&data)?)
    }

    /// Sends several datagrams, in order, in one call: from Kotlin or Swift one call costs
    /// microseconds of marshalling, so a stream of datagrams goes faster in batches. Stops
    /// at the first that fails and raises its error, saying how many were sent before it.
    pub fn send_batch(&self, datagrams: Vec<Vec<u8>>) -> Result<(), PinholeError> {
        let n = datagrams.len();
        for (i, d) in datagrams.iter().enumerate() {
            if let Err(e) = self.inner.send(d) {
                let e = PinholeError::from(e);
                if i == 0 {
                    return Err(e);
                }
                return Err(e.prefixed(&format!(
                    "datagram {} of {n} (the {i} before it were sent)",
                    i + 1
                )));
            }
        }
        Ok(())
    }

    /// ICE restart: new credentials go to the peer as a `Signal` event; the current path
    /// keeps carrying data until a new one is selected. Also the way out of `Failed`.
    pub fn restart(&self) -> Result<(), PinholeError> {
        Ok(self.inner.restart()?)
    }

    /// The device's network changed (what `ConnectivityManager` or `NWPathMonitor`
    /// reported). The session lists its interfaces again and moves to the new ones
    /// make-before-break; a new kind of network is a major change (renomination or ICE
    /// restart). `metered` unset: cellular is metered, the others are not.
    #[uniffi::method(default(metered = None))]
    pub fn network_changed(
        &self,
        kind: NetworkKind,
        metered: Option<bool>,
    ) -> Result<(), PinholeError> {
        if self.inner.state() == core::SessionState::Closed {
            return Err(closed());
        }
        let mut hint = NetworkHint::new(kind.into());
        if let Some(m) = metered {
            hint = hint.with_metered(m);
        }
        self.inner.network_changed(hint);
        Ok(())
    }

    /// The app went to the background (`false`) or came back (`true`). In the background
    /// nothing is sent but TURN refreshes (a suspended app must not wake the radio);
    /// coming back is a major change: every socket is replaced (iOS closes a suspended
    /// app's sockets) and ICE restarts. The platform glue calls this (Android
    /// `AppLifecycle`, iOS `AppLifecycle`).
    pub fn set_foreground(&self, foreground: bool) -> Result<(), PinholeError> {
        if self.inner.state() == core::SessionState::Closed {
            return Err(closed());
        }
        self.inner.set_foreground(foreground);
        Ok(())
    }

    /// Closes the session: TURN allocations are deleted, `StateChanged(Closed)` is the
    /// last event, then the listener is released. Idempotent; returns at once (`closed()`
    /// waits). Named `shutdown` because the Kotlin object's own `close()` frees the
    /// native handle (the idiomatic `dev.pinhole.Session.close()` does both).
    pub fn shutdown(&self) {
        self.inner.close();
    }

    /// Waits (on Pinhole's runtime) until a closed session has sent its last datagrams
    /// and delivered its last event.
    pub async fn closed(&self) {
        let inner = self.inner.clone();
        // A JoinError here can only be a cancelled runtime (process exit): nothing to wait for.
        if let Ok(t) = on_pinhole_runtime(async move { inner.closed().await }) {
            let _ = t.await;
        }
    }

    /// Waits (on Pinhole's runtime) until the session is connected and returns the path;
    /// `ConnectFailed` if ICE failed or `timeout_ms` passed first, `Closed` if the session
    /// closed.
    pub async fn wait_connected(&self, timeout_ms: u64) -> Result<PathInfo, PinholeError> {
        let mut rx = self.forward.state.subscribe();
        let inner = self.inner.clone();
        let wait = async move {
            let limit = Duration::from_millis(timeout_ms);
            let r = tokio::time::timeout(limit, async {
                loop {
                    let s = *rx.borrow_and_update();
                    match s {
                        SessionState::Connected => {
                            if let Some(p) = inner.path() {
                                return Ok(PathInfo::from(&p));
                            }
                        }
                        SessionState::Failed => return Err(PinholeError::ConnectFailed(
                            "ICE failed: no candidate pair worked. Check that both sides forward every signaling message; behind symmetric NATs or UDP-blocking networks add a TURN server; restart() tries again".into(),
                        )),
                        SessionState::Closed => return Err(closed()),
                        _ => {}
                    }
                    if rx.changed().await.is_err() {
                        return Err(closed());
                    }
                }
            })
            .await;
            r.unwrap_or_else(|_| {
                Err(PinholeError::ConnectFailed(format!(
                    "not connected within {timeout_ms} ms: check that both sides forward every signaling message to each other; add a TURN server for networks that block direct UDP"
                )))
            })
        };
        on_pinhole_runtime(wait)?
            .await
            .unwrap_or_else(|_| Err(closed()))
    }

    /// The connection state.
    pub fn state(&self) -> SessionState {
        self.inner.state().into()
    }

    /// The current path, if connected.
    pub fn path(&self) -> Option<PathInfo> {
        self.inner.path().as_ref().map(PathInfo::from)
    }

    /// A statistics snapshot.
    pub fn stats(&self) -> SessionStats {
        SessionStats::from_core(
            &self.inner.stats(),
            self.forward.errors.load(Ordering::Relaxed),
        )
    }

    /// The bound local sockets (`ip:port`).
    pub fn local_addresses(&self) -> Vec<String> {
        self.inner
            .local_addresses()
            .iter()
            .map(ToString::to_string)
            .collect()
    }
}

fn closed() -> PinholeError {
    PinholeError::Closed(core::SessionError::Closed.to_string())
}
