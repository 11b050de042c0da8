//! Measurements behind BENCHMARKS.md, exported so that the Kotlin benchmark runner measures
//! the Rust API and the bindings in one process, on the same runtime: the cost of one
//! callback from a Pinhole thread into foreign code, and two sessions on loopback driven
//! from Rust (connect time, datagrams per second). Not for production use.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use engine::runtime::{self, Delivery, Listener};
use engine::session::{self as core, Event};
use tokio::sync::{mpsc, watch};

use super::error::{ListenerError, PinholeError};
use super::task::on_pinhole_runtime;

/// Called by `measure_callback_cost`; do nothing in it.
#[uniffi::export(foreign)]
pub trait CallbackProbe: Send + Sync {
    /// One empty call.
    fn ping(&self) -> Result<(), ListenerError>;
}

/// What `measure_callback_cost` measured.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CallbackCost {
    /// Calls made.
    pub calls: u32,
    /// Mean wall-clock cost of one call, in nanoseconds.
    pub nanos_per_call: f64,
    /// Whether the calling thread was attached to the JVM permanently.
    pub permanently_attached: bool,
}

/// Calls `probe.ping()` `calls` times from one of Pinhole's runtime threads (as session
/// events are delivered) and reports the mean cost of one call.
#[uniffi::export]
pub async fn measure_callback_cost(
    probe: Arc<dyn CallbackProbe>,
    calls: u32,
) -> Result<CallbackCost, PinholeError> {
    let task = on_pinhole_runtime(async move {
        super::jvm::attach_current_thread();
        let start = Instant::now();
        for _ in 0..calls {
            let _ = probe.ping();
        }
        let elapsed = start.elapsed();
        CallbackCost {
            calls,
            nanos_per_call: elapsed.as_nanos() as f64 / f64::from(calls.max(1)),
            permanently_attached: super::jvm::attached_here(),
        }
    })?;
    task.await
        .map_err(|e| PinholeError::Io(format!("the measurement task did not finish: {e}")))
}

/// What `rust_loopback_benchmark` measured.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct LoopbackFigures {
    /// From creating the two sessions to both being connected, in milliseconds.
    pub connect_ms: f64,
    /// Datagrams sent.
    pub datagrams: u32,
    /// Datagrams that arrived.
    pub delivered: u32,
    /// Bytes per datagram.
    pub datagram_size: u32,
    /// From the first send to the last arrival, in seconds.
    pub seconds: f64,
    /// Arrived datagrams per second.
    pub datagrams_per_second: f64,
}

/// A counting semaphore: at most `window` datagrams in flight.
pub(crate) struct Window {
    free: Mutex<u32>,
    cv: Condvar,
}

impl Window {
    fn new(n: u32) -> Self {
        Window {
            free: Mutex::new(n),
            cv: Condvar::new(),
        }
    }

    /// Takes a slot; false if none came free within `limit` (a datagram was lost).
    fn acquire(&self, limit: Duration) -> bool {
        let g = self.free.lock().unwrap_or_else(|p| p.into_inner());
        let (mut g, t) = self
            .cv
            .wait_timeout_while(g, limit, |f| *f == 0)
            .unwrap_or_else(|p| p.into_inner());
        if t.timed_out() && *g == 0 {
            return false;
        }
        *g -= 1;
        true
    }

    fn release(&self) {
        *self.free.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.cv.notify_one();
    }
}

struct Side {
    signals: mpsc::UnboundedSender<String>,
    state: watch::Sender<core::SessionState>,
    received: AtomicU64,
    last: Mutex<Option<Instant>>,
    window: Arc<Window>,
}

impl Listener for Side {
    fn on_event(&self, event: Event) {
        match event {
            Event::Signal(s) => {
                let _ = self.signals.send(s.to_json());
            }
            Event::StateChanged(s) => {
                self.state.send_replace(s);
            }
            _ => {}
        }
    }

    fn on_datagram(&self, _: &[u8]) {
        self.received.fetch_add(1, Ordering::Relaxed);
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        self.window.release();
    }
}

/// Two sessions on 127.0.0.1 driven through the Rust API (`runtime::Session` with a
/// listener, on Pinhole's runtime), exactly as the Kotlin runner drives them through the
/// bindings: connect, then `datagrams` datagrams of `size` bytes from a non-runtime thread
/// with at most `window` in flight.
#[uniffi::export]
pub async fn rust_loopback_benchmark(
    datagrams: u32,
    size: u32,
    window: u32,
) -> Result<LoopbackFigures, PinholeError> {
    let task = on_pinhole_runtime(async move {
        let config =
            || core::SessionConfig::default().with_bind(std::net::IpAddr::from([127, 0, 0, 1]));
        let w = Arc::new(Window::new(window.max(1)));
        let start = Instant::now();
        let mut sides = Vec::new();
        let mut sessions = Vec::new();
        let mut inboxes = Vec::new();
        for _ in 0..2 {
            let (tx, rx) = mpsc::unbounded_channel();
            let side = Arc::new(Side {
                signals: tx,
                state: watch::Sender::new(core::SessionState::New),
                received: AtomicU64::new(0),
                last: Mutex::new(None),
                window: w.clone(),
            });
            let s = runtime::Session::start_on(
                &tokio::runtime::Handle::current(),
                config(),
                Delivery::Listener(side.clone()),
            )?;
            sides.push(side);
            sessions.push(Arc::new(s));
            inboxes.push(rx);
        }
        // Each side's signals go to the other.
        for (i, mut rx) in inboxes.into_iter().enumerate() {
            let peer = sessions[1 - i].clone();
            tokio::spawn(async move {
                while let Some(m) = rx.recv().await {
                    let _ = peer.handle_signal(&m);
                }
            });
        }
        for side in &sides {
            let mut rx = side.state.subscribe();
            let ok = tokio::time::timeout(Duration::from_secs(10), async {
                loop {
                    if *rx.borrow_and_update() == core::SessionState::Connected {
                        return true;
                    }
                    if rx.changed().await.is_err() {
                        return false;
                    }
                }
            })
            .await;
            if ok != Ok(true) {
                return Err(PinholeError::ConnectFailed(
                    "the two loopback sessions did not connect within 10 s".into(),
                ));
            }
        }
        let connect_ms = start.elapsed().as_secs_f64() * 1000.0;
        let sender = sessions[0].clone();
        let ww = w.clone();
        let sent_at = Instant::now();
        let lost = tokio::task::spawn_blocking(move || {
            let payload = vec![b'x'; size.max(1) as usize];
            let mut lost = 0u32;
            for _ in 0..datagrams {
                if !ww.acquire(Duration::from_millis(200)) {
                    lost += 1;
                }
                if sender.send(&payload).is_err() {
                    lost += 1;
                }
            }
            lost
        })
        .await
        .unwrap_or(datagrams);
        // Wait for the stragglers.
        let until = Instant::now() + Duration::from_secs(2);
        while sides[1].received.load(Ordering::Relaxed) < u64::from(datagrams - lost.min(datagrams))
            && Instant::now() < until
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let delivered = sides[1].received.load(Ordering::Relaxed) as u32;
        let last = sides[1]
            .last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .unwrap_or(sent_at);
        let seconds = last.duration_since(sent_at).as_secs_f64().max(1e-9);
        for s in &sessions {
            s.close();
        }
        for s in &sessions {
            s.closed().await;
        }
        Ok(LoopbackFigures {
            connect_ms,
            datagrams,
            delivered,
            datagram_size: size,
            seconds,
            datagrams_per_second: f64::from(delivered) / seconds,
        })
    })?;
    task.await
        .map_err(|e| PinholeError::Io(format!("the benchmark task did not finish: {e}")))?
}
