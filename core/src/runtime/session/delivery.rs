//! How a running session hands events and received datagrams to the application:
//! queues the application reads (async, or polled with a wake-up hook), or a listener
//! called on Pinhole's thread.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::session::Event;

/// Called on one of Pinhole's runtime threads for every event and datagram, in order.
/// Keep it short: the session's own work waits while it runs. Calling back into the
/// session (send, close…) from it is fine.
pub trait Listener: Send + Sync + 'static {
    /// An event (signaling to forward, state, path, relay failure, restart).
    fn on_event(&self, event: Event);
    /// A datagram from the peer; the slice is valid for the duration of the call.
    fn on_datagram(&self, data: &[u8]);
}

/// Where a session delivers.
#[derive(Clone)]
pub enum Delivery {
    /// Into queues read with `next_event`/`recv` (async) or `try_next_event`/`try_recv`.
    /// `on_ready`, if set, is called (on whatever thread queued it) whenever a queue
    /// goes from empty to non-empty: the hook for an epoll/select loop's wake-up fd.
    Queue {
        /// The wake-up hook.
        on_ready: Option<Arc<dyn Fn() + Send + Sync>>,
    },
    /// To a listener, on Pinhole's thread.
    Listener(Arc<dyn Listener>),
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery::Queue { on_ready: None }
    }
}

/// One thing to deliver.
pub(super) enum Item {
    Event(Event),
    Datagram(Vec<u8>),
}

#[derive(Default)]
struct QueueState {
    events: VecDeque<Event>,
    data: VecDeque<Vec<u8>>,
    /// No more items will come.
    finished: bool,
}

/// The queues behind [`Delivery::Queue`].
pub(super) struct Queues {
    state: Mutex<QueueState>,
    events_ready: Notify,
    data_ready: Notify,
    /// Most datagrams held.
    capacity: usize,
    on_ready: Option<Arc<dyn Fn() + Send + Sync>>,
    drops: std::sync::atomic::AtomicU64,
}

impl Queues {
    pub(super) fn new(capacity: usize, on_ready: Option<Arc<dyn Fn() + Send + Sync>>) -> Self {
        Queues {
            state: Mutex::default(),
            events_ready: Notify::new(),
            data_ready: Notify::new(),
            capacity,
            on_ready,
            drops: Default::default(),
        }
    }

    fn push(&self, items: &mut Vec<Item>) {
        if items.is_empty() {
            return;
        }
        let (mut events, mut data, events_were_empty, data_was_empty);
        {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            // Each queue on its own: an app that drains datagrams in its hot loop and
            // leaves an event queued for later must still be woken for the next datagram.
            events_were_empty = s.events.is_empty();
            data_was_empty = s.data.is_empty();
            events = false;
            data = false;
            for item in items.drain(..) {
                match item {
                    Item::Event(e) => {
                        s.events.push_back(e);
                        events = true;
                    }
                    Item::Datagram(d) => {
                        if s.data.len() >= self.capacity {
                            self.drops
                                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        } else {
                            s.data.push_back(d);
                            data = true;
                        }
                    }
                }
            }
        }
        if events {
            self.events_ready.notify_one();
        }
        if data {
            self.data_ready.notify_one();
        }
        if (events_were_empty && events) || (data_was_empty && data) {
            if let Some(f) = &self.on_ready {
                f();
            }
        }
    }

    pub(super) fn finish(&self) {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .finished = true;
        self.events_ready.notify_one();
        self.data_ready.notify_one();
        if let Some(f) = &self.on_ready {
            f();
        }
    }

    pub(super) fn try_event(&self) -> Option<Event> {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .events
            .pop_front()
    }

    pub(super) fn try_datagram(&self) -> Option<Vec<u8>> {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .data
            .pop_front()
    }

    /// Copies the next datagram into `buf` without allocating; `Some(len)` (truncated to
    /// `buf.len()` if longer, the rest dropped).
    pub(super) fn try_datagram_into(&self, buf: &mut [u8]) -> Option<usize> {
        let d = self.try_datagram()?;
        let n = d.len().min(buf.len());
        buf[..n].copy_from_slice(&d[..n]);
        Some(d.len())
    }

    pub(super) async fn next_event(&self) -> Option<Event> {
        loop {
            let notified = self.events_ready.notified();
            {
                let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(e) = s.events.pop_front() {
                    if !s.events.is_empty() {
                        self.events_ready.notify_one();
                    }
                    return Some(e);
                }
                if s.finished {
                    return None;
                }
            }
            notified.await;
        }
    }

    pub(super) async fn next_datagram(&self) -> Option<Vec<u8>> {
        loop {
            let notified = self.data_ready.notified();
            {
                let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(d) = s.data.pop_front() {
                    if !s.data.is_empty() {
                        self.data_ready.notify_one();
                    }
                    return Some(d);
                }
                if s.finished {
                    return None;
                }
            }
            notified.await;
        }
    }

    pub(super) fn drops(&self) -> u64 {
        self.drops.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether nothing is queued.
    pub(super) fn is_empty(&self) -> bool {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.events.is_empty() && s.data.is_empty()
    }
}

/// The session's delivery target.
pub(super) enum Sink {
    Queues(Queues),
    Listener(Arc<dyn Listener>),
}

impl Sink {
    pub(super) fn new(d: Delivery, capacity: usize) -> Sink {
        match d {
            Delivery::Queue { on_ready } => Sink::Queues(Queues::new(capacity, on_ready)),
            Delivery::Listener(l) => Sink::Listener(l),
        }
    }

    /// Whether items may be delivered from any thread (queues) or only from the driver
    /// (a listener is documented to run on Pinhole's thread).
    pub(super) fn any_thread(&self) -> bool {
        matches!(self, Sink::Queues(_))
    }

    pub(super) fn deliver(&self, items: &mut Vec<Item>) {
        match self {
            Sink::Queues(q) => q.push(items),
            Sink::Listener(l) => {
                for item in items.drain(..) {
                    match item {
                        Item::Event(e) => l.on_event(e),
                        Item::Datagram(d) => l.on_datagram(&d),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::session::SessionState;

    /// The wake-up hook fires when either queue goes from empty to non-empty, so an app
    /// that drains only datagrams in its hot loop is still woken for the next one while
    /// an event waits in the other queue.
    #[test]
    fn each_queue_wakes_on_its_own() {
        let woken = Arc::new(AtomicUsize::new(0));
        let w = woken.clone();
        let q = Queues::new(
            16,
            Some(Arc::new(move || {
                w.fetch_add(1, Ordering::SeqCst);
            })),
        );
        let count = || woken.load(Ordering::SeqCst);
        q.push(&mut vec![Item::Event(Event::StateChanged(
            SessionState::Connected,
        ))]);
        assert_eq!(count(), 1);
        q.push(&mut vec![Item::Datagram(b"a".to_vec())]);
        assert_eq!(
            count(),
            2,
            "the event still queued must not hide the datagram"
        );
        q.push(&mut vec![Item::Datagram(b"b".to_vec())]);
        assert_eq!(
            count(),
            2,
            "nothing new to wake for: the datagram queue was not empty"
        );
        assert!(q.try_datagram().is_some() && q.try_datagram().is_some());
        q.push(&mut vec![Item::Datagram(b"c".to_vec())]);
        assert_eq!(count(), 3);
        assert!(q.try_event().is_some());
        q.push(&mut vec![Item::Event(Event::StateChanged(
            SessionState::Closed,
        ))]);
        assert_eq!(count(), 4);
    }
}
