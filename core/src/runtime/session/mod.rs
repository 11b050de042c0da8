//! A running [`Session`](crate::session::Session) on real sockets: the tokio pump and
//! the handle the application holds (also what the C ABI and the Kotlin/Swift bindings
//! wrap).
//!
//! ```text
//! let s = runtime::Session::start(SessionConfig::default())?;   // inside a tokio runtime
//! loop { select! {
//!     e = s.next_event() => match e { Some(Event::Signal(m)) => peer.send(m.to_json()), … },
//!     d = s.recv() => …,
//!     line = peer.recv() => s.handle_signal(&line)?,
//! } }
//! s.send(b"hello")?;   // sync, from any thread; the datagram leaves from this thread
//! ```
//!
//! Threads: a session is one task on the tokio runtime it was started on; any number of
//! sessions share that runtime's threads (nothing is spawned per session but the task,
//! plus one short task per DNS lookup and TURN stream). Every method is safe to call
//! from any thread; the sync ones never block on the network.

mod delivery;
mod driver;
mod io;

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::sync::{mpsc, Notify};

pub use delivery::{Delivery, Listener};

use super::interfaces::interface_addresses;
use crate::session::{
    ConfigError, Event, Input, NetworkHint, PathInfo, SessionConfig, SessionError, SessionState,
    SessionStats, SocketRequest,
};
use delivery::Sink;
use driver::{Inner, Shared, Work};

/// Why a session could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration cannot work.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No UDP socket could be bound.
    #[error("no UDP socket could be bound: {0}")]
    NoSocket(String),
    /// Not called inside a tokio runtime.
    #[error("runtime::Session::start must be called inside a tokio runtime (or use start_on with a runtime handle)")]
    NoRuntime,
}

/// A session running on a tokio runtime. Dropping the handle closes the session.
pub struct Session {
    shared: Arc<Shared>,
}

impl Session {
    /// Starts a session on the current tokio runtime, delivering into queues
    /// ([`Session::next_event`], [`Session::recv`]).
    pub fn start(config: SessionConfig) -> Result<Session, StartError> {
        let handle = tokio::runtime::Handle::try_current().map_err(|_| StartError::NoRuntime)?;
        Session::start_on(&handle, config, Delivery::default())
    }

    /// Starts a session on `runtime` with the given delivery.
    pub fn start_on(
        runtime: &tokio::runtime::Handle,
        config: SessionConfig,
        delivery: Delivery,
    ) -> Result<Session, StartError> {
        let _enter = runtime.enter();
        let ca_pem = config.turn_ca_pem.clone().map(Arc::new);
        let dns_timeout = config.dns_timeout;
        let capacity = config.receive_queue;
        let enumerate = config.bind.is_empty();
        let watch = enumerate && config.network_monitor;
        let now = Instant::now();
        let session = crate::session::Session::new(config, now, StdRng::from_entropy())?;
        let mut inner = Inner {
            session,
            sockets: Vec::new(),
            work: VecDeque::new(),
            outbox: Vec::new(),
            deadline: None,
            send_errors: 0,
        };
        // Without configured addresses the session follows the host's: a network monitor
        // where the OS has one the app may use (Linux netlink) unless the configuration
        // turns it off, else the interface list now and on every `network_changed`.
        let monitor = if watch { start_monitor() } else { None };
        if monitor.is_none() && inner.session.config().port_mapping.enabled {
            // The monitor's snapshots carry the default gateway; without one, ask once.
            let gateway = default_gateway();
            inner.session.handle_input(now, Input::Gateway(gateway));
        }
        match &monitor {
            Some(m) => inner.session.handle_input(now, Input::Network(m.current())),
            None if enumerate => {
                let ips: Vec<std::net::IpAddr> =
                    interface_addresses().into_iter().map(|a| a.ip).collect();
                inner.session.handle_input(now, Input::LocalAddresses(&ips));
            }
            None => {}
        }
        // The first binds happen here, so that a session that cannot bind anything says
        // so at once.
        let mut items = Vec::new();
        let mut errors = Vec::new();
        loop {
            driver::drain(&mut inner, &mut items);
            let binds: Vec<Work> = inner
                .work
                .iter()
                .position(|w| matches!(w, Work::Socket(SocketRequest::Bind { .. })))
                .map(|_| inner.work.drain(..).collect())
                .unwrap_or_default();
            if binds.is_empty() {
                break;
            }
            for w in binds {
                match w {
                    Work::Socket(SocketRequest::Bind { ip, port }) => match io::bind(ip, port) {
                        Ok((addr, socket)) => {
                            inner.sockets.push((addr, socket));
                            inner.session.handle_input(now, Input::SocketBound { addr });
                        }
                        Err(e) => {
                            let reason = format!("{ip}: {e}");
                            inner.session.handle_input(
                                now,
                                Input::SocketFailed {
                                    ip,
                                    reason: &reason,
                                },
                            );
                            errors.push(reason);
                        }
                    },
                    other => inner.work.push_back(other),
                }
            }
        }
        if inner.sockets.is_empty() {
            return Err(StartError::NoSocket(if errors.is_empty() {
                "no usable interface address (is any interface up?)".into()
            } else {
                errors.join("; ")
            }));
        }
        let sink = Sink::new(delivery, capacity);
        inner.outbox = items;
        let shared = Arc::new(Shared {
            inner: Mutex::new(inner),
            wake: Notify::new(),
            sink,
            ca_pem,
            dns_timeout,
            done: Default::default(),
            done_notify: Notify::new(),
        });
        let (io_tx, io_rx) = mpsc::unbounded_channel();
        runtime.spawn(driver::run(shared.clone(), io_rx, io_tx, monitor));
        Ok(Session { shared })
    }

    /// A signaling string from the peer (see
    /// [`crate::session::Session::handle_signal`]).
    pub fn handle_signal(&self, message: &str) -> Result<(), SessionError> {
        let mut inner = self.shared.lock();
        let r = inner.session.handle_signal(Instant::now(), message);
        self.shared.after_call(inner);
        r
    }

    /// Sends one datagram on the current path, from the caller's thread.
    pub fn send(&self, data: &[u8]) -> Result<(), SessionError> {
        let mut inner = self.shared.lock();
        let r = inner.session.send(Instant::now(), data);
        self.shared.after_call(inner);
        r
    }

    /// ICE restart (see [`crate::session::Session::restart`]).
    pub fn restart(&self) -> Result<(), SessionError> {
        let mut inner = self.shared.lock();
        let r = inner.session.restart(Instant::now());
        self.shared.after_call(inner);
        r
    }

    /// The host's network changed: the session learns the kind, and the interfaces are
    /// listed again (new ones get sockets before vanished ones lose theirs).
    pub fn network_changed(&self, hint: NetworkHint) {
        let mut inner = self.shared.lock();
        let now = Instant::now();
        inner.session.network_changed(now, hint);
        if inner.session.config().port_mapping.enabled {
            inner
                .session
                .handle_input(now, Input::Gateway(default_gateway()));
        }
        if inner.session.config().bind.is_empty() {
            let ips: Vec<std::net::IpAddr> =
                interface_addresses().into_iter().map(|a| a.ip).collect();
            inner.session.handle_input(now, Input::LocalAddresses(&ips));
        }
        self.shared.after_call(inner);
    }

    /// The app went to the background (`false`) or came back (`true`): see
    /// [`crate::session::Session::set_foreground`]. Coming back replaces every socket (a
    /// suspended iOS app's sockets are dead) and restarts ICE.
    pub fn set_foreground(&self, foreground: bool) {
        let mut inner = self.shared.lock();
        inner.session.set_foreground(Instant::now(), foreground);
        self.shared.after_call(inner);
    }

    /// Closes the session: TURN allocations are deleted, `Closed` is delivered last, the
    /// event and datagram streams end. Idempotent; returns at once (see
    /// [`Session::closed`] to wait).
    pub fn close(&self) {
        let mut inner = self.shared.lock();
        inner.session.close(Instant::now());
        self.shared.after_call(inner);
        // The driver finishes only once it sees the session closed: wake it now, not at
        // its last deadline (a keepalive may be minutes away).
        self.shared.wake.notify_one();
    }

    /// Waits until a closed session has sent its last datagrams (TURN deallocations,
    /// port-mapping deletes: at most the mappers' close timeout, 2 s) and delivered its
    /// last event.
    pub async fn closed(&self) {
        loop {
            let n = self.shared.done_notify.notified();
            if self.shared.done.load(Ordering::Acquire) {
                return;
            }
            n.await;
        }
    }

    /// The connection state.
    pub fn state(&self) -> SessionState {
        self.shared.lock().session.state()
    }

    /// The current path.
    pub fn path(&self) -> Option<PathInfo> {
        self.shared.lock().session.path().cloned()
    }

    /// A statistics snapshot (receive-queue drops include those of the delivery queue).
    pub fn stats(&self) -> SessionStats {
        let mut s = self.shared.lock().session.stats();
        if let Sink::Queues(q) = &self.shared.sink {
            s.receive_queue_drops += q.drops();
        }
        s
    }

    /// The bound sockets.
    pub fn local_addresses(&self) -> Vec<std::net::SocketAddr> {
        self.shared.lock().session.sockets().to_vec()
    }

    /// The next event; `None` once the session closed and everything was read.
    /// (Always `None` with a listener.)
    pub async fn next_event(&self) -> Option<Event> {
        match &self.shared.sink {
            Sink::Queues(q) => q.next_event().await,
            Sink::Listener(_) => None,
        }
    }

    /// The next event if one is queued.
    pub fn try_next_event(&self) -> Option<Event> {
        match &self.shared.sink {
            Sink::Queues(q) => q.try_event(),
            Sink::Listener(_) => None,
        }
    }

    /// The next datagram from the peer; `None` once closed and drained.
    pub async fn recv(&self) -> Option<Vec<u8>> {
        match &self.shared.sink {
            Sink::Queues(q) => q.next_datagram().await,
            Sink::Listener(_) => None,
        }
    }

    /// The next datagram if one is queued.
    pub fn try_recv(&self) -> Option<Vec<u8>> {
        match &self.shared.sink {
            Sink::Queues(q) => q.try_datagram(),
            Sink::Listener(_) => None,
        }
    }

    /// Copies the next queued datagram into `buf`; returns its full length (longer
    /// datagrams are truncated to `buf`).
    pub fn try_recv_into(&self, buf: &mut [u8]) -> Option<usize> {
        match &self.shared.sink {
            Sink::Queues(q) => q.try_datagram_into(buf),
            Sink::Listener(_) => None,
        }
    }

    /// Whether the delivery queues are empty.
    pub fn queues_empty(&self) -> bool {
        match &self.shared.sink {
            Sink::Queues(q) => q.is_empty(),
            Sink::Listener(_) => true,
        }
    }

    /// Whether the session finished closing.
    pub fn is_finished(&self) -> bool {
        self.shared.done.load(Ordering::Acquire)
    }
}

/// The OS network monitor, where there is one the process may use (Linux netlink; not
/// Android, whose apps may not use netlink: the host feeds `network_changed` there).
fn start_monitor() -> Option<super::NetworkMonitor> {
    if cfg!(not(target_os = "linux")) {
        return None;
    }
    match super::NetworkMonitor::start(super::MonitorConfig::default()) {
        Ok(m) if !m.current().addresses.is_empty() => Some(m),
        Ok(_) => None,
        Err(e) => {
            log::debug!("session: no network monitor ({e}); following network_changed calls only");
            None
        }
    }
}

/// The IPv4 default gateway (for the session's port mapping, when no monitor reports
/// it): from a netlink snapshot of the routes, else `/proc/net/route`.
fn default_gateway() -> Option<std::net::IpAddr> {
    super::snapshot_now()
        .ok()
        .and_then(|s| s.default_gateway_v4())
        .or_else(|| super::default_gateway_v4().map(std::net::IpAddr::V4))
}

impl Drop for Session {
    fn drop(&mut self) {
        self.close();
    }
}
