//! Retransmission of a UDP request until answered, given up at a deadline.

use std::time::{Duration, Instant};

/// When to (re)send one request, and when to give up on it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Retry {
    next_at: Instant,
    interval: Duration,
    max_interval: Duration,
    sends: u32,
    max_sends: u32,
    deadline: Instant,
}

impl Retry {
    /// First send at `now`; then after `first`, doubling up to `max_interval`, at most
    /// `max_sends` sends; failure at `deadline`.
    pub(crate) fn new(
        now: Instant,
        first: Duration,
        max_interval: Duration,
        max_sends: u32,
        deadline: Instant,
    ) -> Self {
        Retry {
            next_at: now,
            interval: first,
            max_interval,
            sends: 0,
            max_sends,
            deadline,
        }
    }

    /// Whether a (re)transmission is due at `now`.
    pub(crate) fn due(&self, now: Instant) -> bool {
        self.sends < self.max_sends && now >= self.next_at && now < self.deadline
    }

    /// Records a send at `now`; the next interval is stretched by `factor` (PCP's ±10%
    /// jitter; 1.0 for none).
    pub(crate) fn sent(&mut self, now: Instant, factor: f64) {
        self.sends += 1;
        self.next_at = now + self.interval.mul_f64(factor);
        self.interval = (self.interval * 2).min(self.max_interval);
    }

    /// Whether the request has failed.
    pub(crate) fn expired(&self, now: Instant) -> bool {
        now >= self.deadline
    }

    /// The next instant something happens: a retransmission or the deadline.
    #[must_use = "the deadline says when to call handle_timeout next"]
    pub(crate) fn poll_timeout(&self) -> Instant {
        if self.sends < self.max_sends {
            self.next_at.min(self.deadline)
        } else {
            self.deadline
        }
    }
}
