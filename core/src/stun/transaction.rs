//! The sans-IO STUN client transaction (RFC 8489 §6.2.1 and §6.2.2).
//!
//! Over UDP a request is sent at 0, then retransmitted after RTO, 2·RTO, 4·RTO, …
//! (each interval doubling, optionally capped) — i.e. at 0, RTO, 3·RTO, 7·RTO, … —
//! until `Rc` transmissions have gone out; the transaction then fails if no response
//! arrives within `Rm`·RTO after the last one. Over a reliable transport (TCP, TLS) the
//! request is sent once and fails after `Ti` (39.5 s).
//!
//! [`Transaction`] is one such exchange; [`Transactions`] is a table of many, keyed by
//! [`TransactionId`], which a client machine (NAT discovery, ICE, TURN) owns to match
//! responses and drive retransmissions. Neither reads a clock or parses STUN: the request
//! bytes are opaque and the owner extracts the transaction ID of a response.
//!
//! Driver loop: `start` → drain [`Transactions::poll_transmit`] → sleep until
//! [`Transactions::poll_timeout`] → [`Transactions::handle_timeout`] → drain
//! [`Transactions::poll_timed_out`]; on each received response call
//! [`Transactions::handle_response`].

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::TransactionId;
use crate::deadline::after;

/// Errors from starting a transaction: both are caller bugs, never network input.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransactionError {
    /// The retransmission parameters cannot produce a schedule.
    #[error("invalid STUN transaction config: {0}")]
    InvalidConfig(&'static str),
    /// The table already holds an unfinished transaction with this ID.
    #[error("STUN transaction {0:?} is already in flight; draw a fresh TransactionId")]
    DuplicateId(TransactionId),
}

/// Retransmission parameters (RFC 8489 §6.2.1).
///
/// Transmission `k` (1-based, `k < Rc`) is followed by a wait of
/// `min(RTO·2^(k-1), max_rto)`; the last one by `Rm·RTO`. The total time to failure with
/// no cap is `RTO·(2^(Rc-1) - 1 + Rm)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransactionConfig {
    /// Initial retransmission timeout (RTO).
    pub rto: Duration,
    /// Upper bound on any single retransmission interval; `None` for pure doubling.
    /// It does not shorten the final `Rm·RTO` wait.
    pub max_rto: Option<Duration>,
    /// Rc: total number of transmissions, the first included. At least 1.
    pub max_transmissions: u32,
    /// Rm: the wait after the last transmission, in units of the initial RTO. At least 1.
    pub final_wait_factor: u32,
}

impl Default for TransactionConfig {
    /// [`TransactionConfig::rfc8489`].
    fn default() -> Self {
        Self::rfc8489()
    }
}

impl TransactionConfig {
    /// The RFC 8489 defaults: RTO 500 ms, Rc 7, Rm 16. Transmissions at 0, 0.5, 1.5, 3.5,
    /// 7.5, 15.5 and 31.5 s; failure at 39.5 s. Right for an unknown path (the RFC
    /// picks 500 ms so that a slow dial-up or satellite path is not flooded), far too
    /// patient for anything a user waits on.
    pub const fn rfc8489() -> Self {
        TransactionConfig {
            rto: Duration::from_millis(500),
            max_rto: None,
            max_transmissions: 7,
            final_wait_factor: 16,
        }
    }

    /// ICE connectivity checks: RTO 250 ms (libwebrtc and str0m use 250 ms; a check runs
    /// on a path whose host side is known-good), intervals capped at 1 s so a lost
    /// check is retried promptly, Rc 6, Rm 5. Transmissions at 0, 0.25, 0.75, 1.75,
    /// 2.75 and 3.75 s; failure at 5.0 s. ICE pacing (Ta) is the agent's job, not this.
    pub const fn ice_check() -> Self {
        TransactionConfig {
            rto: Duration::from_millis(250),
            max_rto: Some(Duration::from_secs(1)),
            max_transmissions: 6,
            final_wait_factor: 5,
        }
    }

    /// Server-reflexive gathering and NAT discovery: RTO 250 ms with plain doubling,
    /// Rc 5, Rm 5. Transmissions at 0, 0.25, 0.75, 1.75 and 3.75 s; failure at 5.0 s, so
    /// an unreachable STUN server costs a user at most ~5 s, not 39.5 s.
    pub const fn gathering() -> Self {
        TransactionConfig {
            rto: Duration::from_millis(250),
            max_rto: None,
            max_transmissions: 5,
            final_wait_factor: 5,
        }
    }

    /// A reliable transport (TCP/TLS, RFC 8489 §6.2.2): one transmission, failure after
    /// `ti`. The RFC default Ti is 39.5 s; see [`TransactionConfig::RELIABLE_TI`].
    pub const fn reliable(ti: Duration) -> Self {
        TransactionConfig {
            rto: ti,
            max_rto: None,
            max_transmissions: 1,
            final_wait_factor: 1,
        }
    }

    /// RFC 8489 §6.2.2 default Ti for reliable transports.
    pub const RELIABLE_TI: Duration = Duration::from_millis(39_500);

    /// Checks that the parameters describe a schedule.
    pub fn validate(&self) -> Result<(), TransactionError> {
        if self.rto.is_zero() {
            return Err(TransactionError::InvalidConfig("rto must be > 0"));
        }
        if self.max_rto.is_some_and(|m| m.is_zero()) {
            return Err(TransactionError::InvalidConfig(
                "max_rto must be > 0 when set",
            ));
        }
        if self.max_transmissions == 0 {
            return Err(TransactionError::InvalidConfig(
                "max_transmissions (Rc) must be >= 1",
            ));
        }
        if self.final_wait_factor == 0 {
            return Err(TransactionError::InvalidConfig(
                "final_wait_factor (Rm) must be >= 1",
            ));
        }
        Ok(())
    }

    /// Time from the first transmission to failure, assuming on-time timeouts.
    pub fn total_timeout(&self) -> Duration {
        let mut total = Duration::ZERO;
        let mut interval = self.rto;
        for _ in 1..self.max_transmissions {
            total = total.saturating_add(self.cap(interval));
            interval = interval.saturating_mul(2);
        }
        total.saturating_add(self.final_wait())
    }

    fn cap(&self, d: Duration) -> Duration {
        match self.max_rto {
            Some(m) => d.min(m),
            None => d,
        }
    }

    fn final_wait(&self) -> Duration {
        self.rto.saturating_mul(self.final_wait_factor)
    }
}

/// One transmission of a request (the first or a retransmission): `bytes` to `to`.
/// The table knows no local socket; its owner sends it from whichever socket the
/// transaction belongs to (and, for a socket-level machine, turns it into a
/// [`crate::Transmit`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestTransmit {
    /// The transaction it belongs to (for the owner's bookkeeping and logs).
    pub id: TransactionId,
    /// The transaction's destination.
    pub to: SocketAddr,
    /// The request bytes, as given to `start`.
    pub bytes: Vec<u8>,
}

/// How a finished transaction ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A response arrived.
    Response(ResponseTiming),
    /// No response within the schedule.
    TimedOut {
        /// Transmissions handed out, the first included.
        transmissions: u32,
    },
}

/// Timing of a matched response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseTiming {
    /// Round-trip time, only when unambiguous (Karn's rule): exactly one transmission
    /// had been handed to the driver when the response arrived.
    pub rtt: Option<Duration>,
    /// From the first transmission to the response; an upper bound on the RTT.
    pub elapsed: Duration,
    /// Transmissions handed out, the first included.
    pub transmissions: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    InFlight,
    Done(Outcome),
}

/// One client transaction: opaque request bytes, destination, ID and retransmission timer.
#[derive(Debug)]
pub struct Transaction {
    id: TransactionId,
    destination: SocketAddr,
    request: Vec<u8>,
    config: TransactionConfig,
    started: Instant,
    /// Transmissions scheduled so far (including one not yet polled).
    scheduled: u32,
    /// Transmissions handed out by `poll_transmit`.
    sent: u32,
    /// A transmission is queued and not yet polled.
    pending: bool,
    /// The interval after the next retransmission (uncapped; doubled each time).
    interval: Duration,
    deadline: Instant,
    state: State,
}

impl Transaction {
    /// Starts a transaction at `now`; the first transmission is queued at once.
    pub fn new(
        now: Instant,
        id: TransactionId,
        destination: SocketAddr,
        request: Vec<u8>,
        config: TransactionConfig,
    ) -> Result<Self, TransactionError> {
        config.validate()?;
        let mut t = Transaction {
            id,
            destination,
            request,
            config,
            started: now,
            scheduled: 0,
            sent: 0,
            pending: false,
            interval: config.rto,
            deadline: now,
            state: State::InFlight,
        };
        t.schedule_transmission(now);
        Ok(t)
    }

    /// The transaction ID.
    pub fn id(&self) -> TransactionId {
        self.id
    }

    /// Where the request goes.
    pub fn destination(&self) -> SocketAddr {
        self.destination
    }

    /// The opaque request bytes.
    pub fn request(&self) -> &[u8] {
        &self.request
    }

    /// When the first transmission was queued.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Transmissions handed out so far.
    pub fn transmissions(&self) -> u32 {
        self.sent
    }

    /// True once a response arrived, the schedule ran out or it was cancelled.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done(_))
    }

    /// How it ended, once done.
    pub fn outcome(&self) -> Option<Outcome> {
        match self.state {
            State::Done(o) => Some(o),
            State::InFlight => None,
        }
    }

    /// The next datagram to send, if one is due.
    #[must_use = "a polled datagram is gone from the queue: send it"]
    pub fn poll_transmit(&mut self) -> Option<RequestTransmit> {
        if !self.pending || self.is_done() {
            return None;
        }
        self.pending = false;
        self.sent += 1;
        Some(RequestTransmit {
            id: self.id,
            to: self.destination,
            bytes: self.request.clone(),
        })
    }

    /// When [`Transaction::handle_timeout`] must next be called; `None` when done.
    #[must_use = "the deadline says when to call handle_timeout next"]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::InFlight => Some(self.deadline),
            State::Done(_) => None,
        }
    }

    /// Advances the timer: queues a retransmission or fails the transaction. At most one
    /// step per call, so a late driver never gets a burst; the next interval counts from
    /// `now`, the time the retransmission is queued.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.is_done() || now < self.deadline {
            return;
        }
        if self.scheduled < self.config.max_transmissions {
            self.schedule_transmission(now);
        } else {
            self.pending = false;
            self.state = State::Done(Outcome::TimedOut {
                transmissions: self.sent,
            });
        }
    }

    /// A response with this transaction's ID arrived at `now`. Returns its timing, or
    /// `None` if the transaction was already done (a late duplicate: ignore it).
    #[must_use = "the finished transaction (timing, context) is only returned here"]
    pub fn handle_response(&mut self, now: Instant) -> Option<ResponseTiming> {
        if self.is_done() {
            return None;
        }
        let elapsed = now.saturating_duration_since(self.started);
        let timing = ResponseTiming {
            // Karn: with several copies out, the response may answer any of them. A
            // retransmission still queued (not yet polled) never left, so it is
            // no ambiguity.
            rtt: (self.sent <= 1).then_some(elapsed),
            elapsed,
            transmissions: self.sent.max(1),
        };
        self.pending = false;
        self.state = State::Done(Outcome::Response(timing));
        Some(timing)
    }

    fn schedule_transmission(&mut self, now: Instant) {
        self.scheduled += 1;
        self.pending = true;
        if self.scheduled < self.config.max_transmissions {
            let wait = self.config.cap(self.interval);
            self.interval = self.interval.saturating_mul(2);
            self.deadline = after(now, wait);
        } else {
            self.deadline = after(now, self.config.final_wait());
        }
    }
}

/// A transaction removed from the table because it ran out of time.
#[derive(Debug, PartialEq, Eq)]
pub struct TimedOut<T> {
    /// The transaction ID.
    pub id: TransactionId,
    /// Where the request went.
    pub destination: SocketAddr,
    /// The caller data given to `start`.
    pub context: T,
    /// Transmissions handed out, the first included.
    pub transmissions: u32,
}

/// A transaction removed from the table because its response arrived.
#[derive(Debug, PartialEq, Eq)]
pub struct Completed<T> {
    /// The transaction ID.
    pub id: TransactionId,
    /// Where the request went.
    pub destination: SocketAddr,
    /// The caller data given to `start`.
    pub context: T,
    /// RTT and elapsed time.
    pub timing: ResponseTiming,
}

#[derive(Debug)]
struct Entry<T> {
    transaction: Transaction,
    context: T,
}

/// Many in-flight client transactions keyed by [`TransactionId`], each with caller data
/// `T` (e.g. "which test this request belongs to"). Finished transactions leave the
/// table: matched ones through [`Transactions::handle_response`], expired ones through
/// [`Transactions::poll_timed_out`]. Transmits come out in the order they were queued,
/// so a seeded run replays exactly.
#[derive(Debug)]
pub struct Transactions<T> {
    entries: BTreeMap<TransactionId, Entry<T>>,
    outbox: VecDeque<TransactionId>,
    timed_out: VecDeque<TimedOut<T>>,
}

impl<T> Default for Transactions<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Transactions<T> {
    /// An empty table.
    pub fn new() -> Self {
        Transactions {
            entries: BTreeMap::new(),
            outbox: VecDeque::new(),
            timed_out: VecDeque::new(),
        }
    }

    /// Starts a transaction at `now` and queues its first transmission.
    pub fn start(
        &mut self,
        now: Instant,
        id: TransactionId,
        destination: SocketAddr,
        request: Vec<u8>,
        config: TransactionConfig,
        context: T,
    ) -> Result<(), TransactionError> {
        if self.entries.contains_key(&id) {
            return Err(TransactionError::DuplicateId(id));
        }
        let transaction = Transaction::new(now, id, destination, request, config)?;
        self.entries.insert(
            id,
            Entry {
                transaction,
                context,
            },
        );
        self.outbox.push_back(id);
        Ok(())
    }

    /// A response carrying `id` arrived at `now`. Returns the finished transaction, or
    /// `None` if the ID is unknown (stray, spoofed or late: drop it).
    #[must_use = "the finished transaction (timing, context) is only returned here"]
    pub fn handle_response(&mut self, now: Instant, id: &TransactionId) -> Option<Completed<T>> {
        let mut entry = self.entries.remove(id)?;
        let timing = entry.transaction.handle_response(now)?;
        Some(Completed {
            id: *id,
            destination: entry.transaction.destination,
            context: entry.context,
            timing,
        })
    }

    /// Advances every due transaction: queues retransmissions, moves expired ones to
    /// [`Transactions::poll_timed_out`].
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut expired = Vec::new();
        for (id, entry) in self.entries.iter_mut() {
            let t = &mut entry.transaction;
            if t.poll_timeout().is_some_and(|d| d <= now) {
                let was_pending = t.pending;
                t.handle_timeout(now);
                if t.is_done() {
                    expired.push(*id);
                } else if t.pending && !was_pending {
                    self.outbox.push_back(*id);
                }
            }
        }
        for id in expired {
            if let Some(entry) = self.entries.remove(&id) {
                self.timed_out.push_back(TimedOut {
                    id,
                    destination: entry.transaction.destination,
                    context: entry.context,
                    transmissions: entry.transaction.sent,
                });
            }
        }
    }

    /// The next datagram to send.
    #[must_use = "a polled datagram is gone from the queue: send it"]
    pub fn poll_transmit(&mut self) -> Option<RequestTransmit> {
        while let Some(id) = self.outbox.pop_front() {
            if let Some(t) = self
                .entries
                .get_mut(&id)
                .and_then(|e| e.transaction.poll_transmit())
            {
                return Some(t);
            }
        }
        None
    }

    /// The next transaction that ran out of time.
    #[must_use = "a polled timeout is gone from the table: handle it"]
    pub fn poll_timed_out(&mut self) -> Option<TimedOut<T>> {
        self.timed_out.pop_front()
    }

    /// The earliest deadline of any in-flight transaction.
    #[must_use = "the deadline says when to call handle_timeout next"]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.entries
            .values()
            .filter_map(|e| e.transaction.poll_timeout())
            .min()
    }

    /// Abandons a transaction without an outcome; returns its context.
    pub fn cancel(&mut self, id: &TransactionId) -> Option<T> {
        self.entries.remove(id).map(|e| e.context)
    }

    /// True if `id` is in flight here.
    pub fn contains(&self, id: &TransactionId) -> bool {
        self.entries.contains_key(id)
    }

    /// The caller data of an in-flight transaction.
    pub fn context(&self, id: &TransactionId) -> Option<&T> {
        self.entries.get(id).map(|e| &e.context)
    }

    /// The in-flight transaction itself (for its request bytes, destination, counts).
    pub fn get(&self, id: &TransactionId) -> Option<&Transaction> {
        self.entries.get(id).map(|e| &e.transaction)
    }

    /// In-flight transactions.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
