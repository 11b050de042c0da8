//! The application's signaling channel between the two sessions: it carries
//! the strings a session emits ([`Signal::to_json`]), exactly what an app
//! sends. Every message takes [`SIGNALING_DELAY`] one way; a message may be
//! lost or duplicated (the duplicate arrives up to 50 ms later, so messages
//! reorder); the sender resends every message the receiver has not
//! acknowledged every [`RESEND_INTERVAL`] (acks cross the same lossy
//! channel). Duplicates are handed to the session as they arrive: it must
//! tolerate them.
//!
//! [`Signal::to_json`]: pinhole::session::Signal::to_json

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::{Duration, Instant};

/// One-way delay of the signaling channel.
pub const SIGNALING_DELAY: Duration = Duration::from_millis(25);
/// The application resends unacknowledged lines this often.
pub const RESEND_INTERVAL: Duration = Duration::from_millis(100);

/// Loss and duplication of signaling lines (and of their acks).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SignalingLoss {
    pub loss: f64,
    pub duplicate: f64,
}

struct InFlight {
    at: Instant,
    to: usize,
    kind: Kind,
}

enum Kind {
    Line { seq: u64, lines: Vec<String> },
    Ack { seq: u64 },
}

struct Unacked {
    seq: u64,
    from: usize,
    lines: Vec<String>,
    resend_at: Instant,
}

/// A message handed to side `to`.
pub struct Delivery {
    pub to: usize,
    pub lines: Vec<String>,
}

/// The channel between side 0 and side 1.
pub struct Channel {
    cfg: SignalingLoss,
    rng: StdRng,
    flight: Vec<InFlight>,
    unacked: Vec<Unacked>,
    next_seq: u64,
    /// Transmissions, including resends and acks.
    pub sent: u64,
    pub lost: u64,
    pub resent: u64,
    /// Every delivery: time, receiving side, the lines.
    pub log: Vec<(Instant, usize, Vec<String>)>,
}

impl Channel {
    pub fn new(cfg: SignalingLoss, seed: u64) -> Self {
        Channel {
            cfg,
            rng: StdRng::seed_from_u64(seed ^ 0x5167_4e41_4c00),
            flight: Vec::new(),
            unacked: Vec::new(),
            next_seq: 0,
            sent: 0,
            lost: 0,
            resent: 0,
            log: Vec::new(),
        }
    }

    /// Side `from` sends one message (one line, or a whole batch) at `now`.
    pub fn send(&mut self, now: Instant, from: usize, lines: Vec<String>) {
        self.next_seq += 1;
        let seq = self.next_seq;
        self.transmit(
            now,
            1 - from,
            Kind::Line {
                seq,
                lines: lines.clone(),
            },
        );
        self.unacked.push(Unacked {
            seq,
            from,
            lines,
            resend_at: now + RESEND_INTERVAL,
        });
    }

    fn transmit(&mut self, now: Instant, to: usize, kind: Kind) {
        self.sent += 1;
        if self.cfg.loss > 0.0 && self.rng.gen::<f64>() < self.cfg.loss {
            self.lost += 1;
            return;
        }
        let at = now + SIGNALING_DELAY;
        if self.cfg.duplicate > 0.0 && self.rng.gen::<f64>() < self.cfg.duplicate {
            let extra = Duration::from_millis(self.rng.gen_range(0..=50));
            let dup = match &kind {
                Kind::Line { seq, lines } => Kind::Line {
                    seq: *seq,
                    lines: lines.clone(),
                },
                Kind::Ack { seq } => Kind::Ack { seq: *seq },
            };
            self.flight.push(InFlight {
                at: at + extra,
                to,
                kind: dup,
            });
        }
        self.flight.push(InFlight { at, to, kind });
    }

    /// When something next happens (a delivery or a resend).
    pub fn next_time(&self) -> Option<Instant> {
        let a = self.flight.iter().map(|f| f.at).min();
        let b = self.unacked.iter().map(|u| u.resend_at).min();
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Resends what is due and returns the lines due for delivery at `now`,
    /// in arrival order (ties in sending order).
    pub fn poll(&mut self, now: Instant) -> Vec<Delivery> {
        let mut due = Vec::new();
        for i in 0..self.unacked.len() {
            if self.unacked[i].resend_at <= now {
                self.unacked[i].resend_at = now + RESEND_INTERVAL;
                let (to, seq, lines) = (
                    1 - self.unacked[i].from,
                    self.unacked[i].seq,
                    self.unacked[i].lines.clone(),
                );
                self.resent += 1;
                self.transmit(now, to, Kind::Line { seq, lines });
            }
        }
        let mut i = 0;
        let mut arrived = Vec::new();
        while i < self.flight.len() {
            if self.flight[i].at <= now {
                arrived.push(self.flight.remove(i));
            } else {
                i += 1;
            }
        }
        arrived.sort_by_key(|f| f.at);
        for f in arrived {
            match f.kind {
                Kind::Ack { seq } => self.unacked.retain(|u| u.seq != seq),
                Kind::Line { seq, lines } => {
                    self.transmit(now, 1 - f.to, Kind::Ack { seq });
                    self.log.push((now, f.to, lines.clone()));
                    due.push(Delivery { to: f.to, lines });
                }
            }
        }
        due
    }
}
