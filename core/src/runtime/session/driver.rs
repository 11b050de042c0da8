//! The one task per session that moves bytes, time and requests between the sockets and
//! the sans-IO [`Session`](crate::session::Session). It holds no protocol logic.
//!
//! The session lives behind a mutex shared with the application's handle: an API call
//! (`send`, `handle_signal`…) locks it, feeds the session, and sends the resulting
//! datagrams itself, from the caller's thread, without waking this task. Anything else
//! the session asks for (binds, lookups, stream connections, a datagram the socket
//! could not take at once, an earlier deadline, events for a listener) is queued for
//! this task and it is woken. Received datagrams are read here into one buffer per
//! runtime thread and fed to the session in place: nothing is allocated per datagram
//! but the copy handed to the application.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::io::ReadBuf;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, Notify};

use super::delivery::{Item, Sink};
use super::io::{self, IoEvent, StreamHandle};
use crate::session::{Input, Output, Session, SocketRequest, StreamRequest};
use crate::Transmit;

/// Largest datagram read.
const MAX_DATAGRAM: usize = 65_535;
/// Datagrams handled per wake-up before timers and requests get a turn.
const RECV_BUDGET: usize = 64;
/// Longest a closing session waits for its TURN streams to write their last bytes.
const STREAM_CLOSE_LIMIT: Duration = Duration::from_millis(500);

thread_local! {
    static RECV_BUF: RefCell<Box<[u8]>> = RefCell::new(vec![0u8; MAX_DATAGRAM].into_boxed_slice());
}

/// Work only the driver task can do.
pub(super) enum Work {
    Socket(SocketRequest),
    Resolve(crate::session::ResolveRequest),
    Stream(StreamRequest),
    /// A datagram the socket would not take without waiting.
    Transmit(Transmit),
}

/// The session and its sockets, behind the mutex.
pub(super) struct Inner {
    pub(super) session: Session,
    pub(super) sockets: Vec<(SocketAddr, Arc<UdpSocket>)>,
    pub(super) work: VecDeque<Work>,
    /// Items for a listener, delivered by the driver.
    pub(super) outbox: Vec<Item>,
    pub(super) deadline: Option<Instant>,
    /// Datagrams the OS refused to send (not would-block).
    pub(super) send_errors: u64,
}

/// What the handle and the driver share.
pub(super) struct Shared {
    pub(super) inner: Mutex<Inner>,
    pub(super) wake: Notify,
    pub(super) sink: Sink,
    pub(super) ca_pem: Option<Arc<Vec<u8>>>,
    pub(super) dns_timeout: Duration,
    /// The driver has finished (closed session, everything flushed).
    pub(super) done: AtomicBool,
    pub(super) done_notify: Notify,
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drains the session after an API call on the caller's thread: datagrams go out
    /// now; everything else goes to the driver, which is woken if it has work.
    pub(super) fn after_call(&self, mut inner: MutexGuard<'_, Inner>) {
        let before = inner.deadline;
        let mut items = Vec::new();
        drain(&mut inner, &mut items);
        let wake = !inner.work.is_empty()
            || inner.deadline.is_some_and(|d| before.is_none_or(|b| d < b))
            || (!items.is_empty() && !self.sink.any_thread());
        if self.sink.any_thread() {
            drop(inner);
            self.sink.deliver(&mut items);
        } else {
            inner.outbox.append(&mut items);
            drop(inner);
        }
        if wake {
            self.wake.notify_one();
        }
    }
}

/// Takes every output the session has: sends datagrams, queues the rest.
pub(super) fn drain(inner: &mut Inner, items: &mut Vec<Item>) {
    loop {
        match inner.session.poll_output() {
            Output::Transmit(t) => send_now(inner, t),
            Output::Socket(r) => inner.work.push_back(Work::Socket(r)),
            Output::Resolve(r) => inner.work.push_back(Work::Resolve(r)),
            Output::Stream(r) => inner.work.push_back(Work::Stream(r)),
            Output::Event(e) => items.push(Item::Event(e)),
            Output::Datagram(d) => items.push(Item::Datagram(d)),
            Output::Timeout(t) => {
                inner.deadline = t;
                return;
            }
        }
    }
}

fn send_now(inner: &mut Inner, t: Transmit) {
    let Some((_, socket)) = inner.sockets.iter().find(|(a, _)| *a == t.from) else {
        log::debug!("session: no socket bound on {}", t.from);
        return;
    };
    match socket.try_send_to(&t.bytes, t.to) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
            inner.work.push_back(Work::Transmit(t))
        }
        // A failed send is a lost datagram: the session's timers cover it.
        Err(e) => {
            inner.send_errors += 1;
            log::debug!("session: send {} -> {}: {e}", t.from, t.to);
        }
    }
}

/// The driver task.
pub(super) async fn run(
    shared: Arc<Shared>,
    mut io_rx: mpsc::UnboundedReceiver<IoEvent>,
    io_tx: mpsc::UnboundedSender<IoEvent>,
    mut monitor: Option<super::super::NetworkMonitor>,
) {
    let mut streams = Streams::default();
    let mut closing_since: Option<Instant> = None;
    if monitor.is_some() {
        io::discover_nat64(shared.dns_timeout, io_tx.clone());
    }
    loop {
        // Work and deliveries queued by API calls or the last wake-up.
        let (work, mut items, deadline, closed) = {
            let mut inner = shared.lock();
            let work: Vec<Work> = inner.work.drain(..).collect();
            let items = std::mem::take(&mut inner.outbox);
            // Closed, and the port mappings deleted: only the streams' last bytes left.
            (work, items, inner.deadline, inner.session.is_finished())
        };
        for w in work {
            do_work(&shared, w, &mut streams, &io_tx).await;
        }
        shared.sink.deliver(&mut items);
        if !shared.lock().work.is_empty() {
            continue;
        }
        if closed {
            let since = *closing_since.get_or_insert_with(Instant::now);
            if streams.finished() || since.elapsed() >= STREAM_CLOSE_LIMIT {
                streams.abort();
                break;
            }
        }
        let sleep_to = if closed {
            Some(Instant::now() + Duration::from_millis(20))
        } else {
            deadline
        };
        tokio::select! {
            _ = shared.wake.notified() => {}
            Some(ev) = io_rx.recv() => on_io(&shared, ev),
            _ = sleep_until(sleep_to) => {
                let mut inner = shared.lock();
                if inner.deadline.is_some_and(|d| d <= Instant::now()) {
                    inner.session.handle_timeout(Instant::now());
                }
                let mut items = Vec::new();
                drain(&mut inner, &mut items);
                inner.outbox.append(&mut items);
            }
            _ = receive(&shared) => {}
            snapshot = next_network_change(&mut monitor) => {
                let mut inner = shared.lock();
                inner.session.handle_input(Instant::now(), Input::Network(&snapshot));
                let mut items = Vec::new();
                drain(&mut inner, &mut items);
                inner.outbox.append(&mut items);
            }
        }
    }
    if let super::delivery::Sink::Queues(q) = &shared.sink {
        q.finish();
    }
    shared.done.store(true, Ordering::Release);
    shared.done_notify.notify_waiters();
}

fn on_io(shared: &Shared, ev: IoEvent) {
    let mut inner = shared.lock();
    let now = Instant::now();
    match ev {
        IoEvent::Resolved { id, result } => inner
            .session
            .handle_input(now, Input::Resolved { id, result }),
        IoEvent::StreamConnected { id, local } => inner
            .session
            .handle_input(now, Input::StreamConnected { id, local }),
        IoEvent::StreamData { id, data } => inner
            .session
            .handle_input(now, Input::StreamData { id, data: &data }),
        IoEvent::StreamClosed { id, reason } => inner.session.handle_input(
            now,
            Input::StreamClosed {
                id,
                reason: &reason,
            },
        ),
        IoEvent::Nat64(prefixes) => inner.session.handle_input(now, Input::Nat64(&prefixes)),
    }
    let mut items = Vec::new();
    drain(&mut inner, &mut items);
    inner.outbox.append(&mut items);
}

/// Open streams, and closed ones still writing their last bytes.
#[derive(Default)]
struct Streams {
    open: Vec<StreamHandle>,
    closing: Vec<tokio::task::JoinHandle<()>>,
}

impl Streams {
    fn finished(&mut self) -> bool {
        self.closing.retain(|t| !t.is_finished());
        self.open.retain(|s| !s.task.is_finished());
        self.open.is_empty() && self.closing.is_empty()
    }

    fn abort(&self) {
        for t in self.open.iter().map(|s| &s.task).chain(&self.closing) {
            t.abort();
        }
    }
}

async fn do_work(
    shared: &Shared,
    w: Work,
    streams: &mut Streams,
    io_tx: &mpsc::UnboundedSender<IoEvent>,
) {
    match w {
        Work::Socket(SocketRequest::Bind { ip, port }) => {
            let result = io::bind(ip, port);
            let mut inner = shared.lock();
            let now = Instant::now();
            match result {
                Ok((addr, socket)) => {
                    inner.sockets.push((addr, socket));
                    inner.session.handle_input(now, Input::SocketBound { addr });
                }
                Err(e) => {
                    let reason = e.to_string();
                    inner.session.handle_input(
                        now,
                        Input::SocketFailed {
                            ip,
                            reason: &reason,
                        },
                    );
                }
            }
            let mut items = Vec::new();
            drain(&mut inner, &mut items);
            inner.outbox.append(&mut items);
        }
        Work::Socket(SocketRequest::Close { addr }) => {
            shared.lock().sockets.retain(|(a, _)| *a != addr);
        }
        Work::Resolve(r) => io::resolve(r.id, r.host, r.port, shared.dns_timeout, io_tx.clone()),
        Work::Stream(StreamRequest::Connect {
            id,
            server,
            transport,
            tls_server_name,
        }) => {
            streams.open.push(io::open_stream(
                id,
                server,
                transport,
                tls_server_name,
                shared.ca_pem.clone(),
                io_tx.clone(),
            ));
        }
        Work::Stream(StreamRequest::Send { id, bytes }) => {
            if let Some(s) = streams.open.iter().find(|s| s.id == id) {
                let _ = s.out.send(bytes);
            }
        }
        Work::Stream(StreamRequest::Close { id }) => {
            // Dropping the sender lets the task write what is queued, then shut down.
            if let Some(i) = streams.open.iter().position(|s| s.id == id) {
                let StreamHandle { out, task, .. } = streams.open.remove(i);
                drop(out);
                streams.closing.push(task);
            }
        }
        Work::Transmit(t) => {
            let socket = shared
                .lock()
                .sockets
                .iter()
                .find(|(a, _)| *a == t.from)
                .map(|(_, s)| s.clone());
            if let Some(socket) = socket {
                if let Err(e) = socket.send_to(&t.bytes, t.to).await {
                    log::debug!("session: send {} -> {}: {e}", t.from, t.to);
                }
            }
        }
    }
}

/// Reads every socket that has a datagram (up to a budget), feeding each to the session
/// straight from the per-thread buffer. Resolves once at least one was handled.
async fn receive(shared: &Shared) {
    std::future::poll_fn(|cx| {
        let mut handled = 0;
        let mut items = Vec::new();
        let mut inner = shared.lock();
        RECV_BUF.with(|buf| {
            let mut buf = buf.borrow_mut();
            for i in 0..inner.sockets.len() {
                let (local, socket) = inner.sockets[i].clone();
                let local = &local;
                while handled < RECV_BUDGET {
                    let mut rb = ReadBuf::new(&mut buf[..]);
                    match socket.poll_recv_from(cx, &mut rb) {
                        Poll::Ready(Ok(from)) => {
                            handled += 1;
                            let data = rb.filled();
                            inner.session.handle_input(
                                Instant::now(),
                                Input::Datagram {
                                    local: *local,
                                    from,
                                    data,
                                },
                            );
                            drain(&mut inner, &mut items);
                        }
                        // ICMP errors from earlier sends surface here on some platforms:
                        // the session's own timers decide what a silent peer means.
                        Poll::Ready(Err(e)) => {
                            log::debug!("session: recv on {local}: {e}");
                            handled += 1;
                        }
                        Poll::Pending => break,
                    }
                }
            }
        });
        if handled == 0 {
            return Poll::Pending;
        }
        if shared.sink.any_thread() {
            drop(inner);
            shared.sink.deliver(&mut items);
        } else {
            inner.outbox.append(&mut items);
        }
        Poll::Ready(())
    })
    .await
}

/// The monitor's next snapshot; never, without a monitor.
async fn next_network_change(
    monitor: &mut Option<super::super::NetworkMonitor>,
) -> crate::netchange::NetworkSnapshot {
    match monitor {
        Some(m) => m.next_change().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}
