//! [`KeepalivePolicy`]: the interval a session's ICE agent keeps its path alive with,
//! and what the binding-lifetime probe should test next. Pure decisions: the session
//! runs the probe (`crate::session`'s keepalive glue) and feeds the answers back.

use std::time::{Duration, Instant};

use super::config::{KeepaliveConfig, KeepaliveMode};
use crate::ice::KeepaliveTiming;
use crate::session::NetworkKind;

/// Evidence that the path lost something (see [`KeepalivePolicy::on_loss`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Loss {
    /// A keepalive went unanswered through all its retransmissions.
    Unanswered,
    /// An answer showed a new mapped address: this side's NAT forgot the mapping and
    /// made a new one.
    Remapped,
    /// The selected pair lost consent.
    ConsentLost,
}

/// Where the policy is.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// Searching for the binding lifetime.
    Probing,
    /// The search is over; the interval holds until the network changes, a loss, or a
    /// re-probe.
    Settled,
    /// The probe cannot run (no STUN server, one without RESPONSE-PORT, no spare
    /// socket): the interval stays where it is.
    Unavailable(String),
    /// Not adaptive (fixed or WebRTC mode), or the probe is turned off.
    Off,
}

/// What the policy knows, for statistics.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PolicyStats {
    /// The kind of network the policy applies to.
    pub kind: NetworkKind,
    /// The interval in use.
    pub interval: Duration,
    /// Where the policy is.
    pub phase: Phase,
    /// Longest idle time a mapping was seen to survive on this network.
    pub survived: Option<Duration>,
    /// Shortest idle time a mapping was seen to die after.
    pub expired: Option<Duration>,
    /// Probe trials finished on this network.
    pub trials: u64,
    /// Snap-backs on evidence of loss, on this network.
    pub losses: u64,
    /// When the search last settled.
    pub settled_at: Option<Instant>,
}

/// The keepalive policy (see the module docs of [`crate::keepalive`]).
#[derive(Clone, Debug)]
pub struct KeepalivePolicy {
    config: KeepaliveConfig,
    kind: NetworkKind,
    interval: Duration,
    alive: Option<Duration>,
    dead: Option<Duration>,
    /// The T = 0 trial passed: the probe works against this server and NAT.
    method_ok: bool,
    phase: Phase,
    /// A trial is running.
    running: bool,
    last_trial_end: Option<Instant>,
    trials: u64,
    losses: u64,
    settled_at: Option<Instant>,
    /// A loss snapped the interval back and no trial finished since: more evidence from
    /// the same breakage says nothing new about the NAT.
    snapped: bool,
}

impl KeepalivePolicy {
    /// A policy for a network of `kind`, at its start interval.
    pub fn new(config: KeepaliveConfig, kind: NetworkKind) -> Self {
        let mut p = KeepalivePolicy {
            config,
            kind,
            interval: Duration::ZERO,
            alive: None,
            dead: None,
            method_ok: false,
            phase: Phase::Off,
            running: false,
            last_trial_end: None,
            trials: 0,
            losses: 0,
            settled_at: None,
            snapped: false,
        };
        p.reset();
        p
    }

    /// The configuration.
    pub fn config(&self) -> &KeepaliveConfig {
        &self.config
    }

    /// What the ICE agent should use now.
    pub fn timing(&self) -> KeepaliveTiming {
        match self.config.mode {
            KeepaliveMode::WebRtc => KeepaliveTiming::Consent,
            _ => KeepaliveTiming::every(self.interval),
        }
    }

    /// The keepalive interval in use.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Where the policy is.
    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// The network's kind changed: what was learnt is about another NAT; start over at
    /// that kind's start interval. Nothing happens if the kind is the same.
    pub fn set_network(&mut self, kind: NetworkKind) {
        if kind != self.kind {
            self.kind = kind;
            self.reset();
        }
    }

    /// The path now leaves through another NAT (a new local address): start over.
    pub fn reset(&mut self) {
        let kp = self.config.for_kind(self.kind);
        self.interval = match self.config.mode {
            KeepaliveMode::Fixed(d) => d,
            KeepaliveMode::WebRtc => Duration::from_secs(5),
            KeepaliveMode::Adaptive => kp.start,
        };
        self.alive = None;
        self.dead = None;
        self.method_ok = false;
        self.running = false;
        self.last_trial_end = None;
        self.trials = 0;
        self.losses = 0;
        self.settled_at = None;
        self.snapped = false;
        self.phase = if self.adaptive() {
            Phase::Probing
        } else {
            Phase::Off
        };
    }

    fn adaptive(&self) -> bool {
        self.config.mode == KeepaliveMode::Adaptive && self.config.probe
    }

    /// The longest idle time worth testing: enough to justify the ceiling.
    fn probe_max(&self) -> Duration {
        let ceiling = self.config.for_kind(self.kind).ceiling;
        ceiling + self.config.margin(ceiling)
    }

    /// The idle time the next probe trial should test, if one should run at `now`
    /// (zero first: the method check).
    pub fn next_trial(&self, now: Instant) -> Option<Duration> {
        if self.running || !self.adaptive() {
            return None;
        }
        match self.phase {
            Phase::Probing => self.search_step(),
            Phase::Settled => {
                let after = self.config.reprobe_after?;
                let due = self.last_trial_end.is_some_and(|t| now >= t + after);
                self.dead.filter(|_| due)
            }
            Phase::Unavailable(_) | Phase::Off => None,
        }
    }

    /// When a trial is next wanted (for the session's timer): `None` when not waiting
    /// for time to pass.
    pub fn next_trial_at(&self) -> Option<Instant> {
        if self.running || !self.adaptive() || self.phase != Phase::Settled {
            return None;
        }
        self.dead?;
        Some(self.last_trial_end? + self.config.reprobe_after?)
    }

    /// Doubling from the interval until a mapping dies, then bisection (between the
    /// floor and the shortest death while nothing survived yet).
    fn search_step(&self) -> Option<Duration> {
        if !self.method_ok {
            return Some(Duration::ZERO);
        }
        let max = self.probe_max();
        match (self.alive, self.dead) {
            (alive, None) => {
                let base = alive.unwrap_or(self.interval).max(self.interval);
                (base < max).then(|| (base * 2).min(max))
            }
            (alive, Some(dead)) => {
                let lo = alive.unwrap_or(self.config.floor);
                if dead <= lo || dead - lo <= self.config.resolution(lo) {
                    return None;
                }
                Some(lo + (dead - lo) / 2)
            }
        }
    }

    /// A trial started.
    pub fn trial_started(&mut self) {
        self.running = true;
    }

    /// The running trial was abandoned (the app went to the background, the path
    /// moved): its result will not come.
    pub fn trial_abandoned(&mut self) {
        self.running = false;
    }

    /// A trial of `idle` ended: the mapping `survived` it or not. Returns whether the
    /// interval changed.
    pub fn on_trial(&mut self, now: Instant, idle: Duration, survived: bool) -> bool {
        self.running = false;
        self.last_trial_end = Some(now);
        if !self.adaptive() {
            return false;
        }
        self.trials += 1;
        self.snapped = false;
        if idle.is_zero() {
            if survived {
                self.method_ok = true;
            }
            return false;
        }
        if survived {
            self.alive = Some(self.alive.map_or(idle, |a| a.max(idle)));
            if self.dead.is_some_and(|d| d <= idle) {
                // The NAT became more generous (a re-probe): search upwards again.
                self.dead = None;
                self.phase = Phase::Probing;
            }
        } else {
            self.dead = Some(self.dead.map_or(idle, |d| d.min(idle)));
            if self.alive.is_some_and(|a| a >= idle) {
                // A mapping died sooner than one survived before: the NAT changed.
                self.alive = None;
            }
        }
        let before = self.interval;
        self.interval = self.computed_interval();
        if self.phase == Phase::Probing && self.search_step().is_none() {
            self.phase = Phase::Settled;
            self.settled_at = Some(now);
        }
        before != self.interval
    }

    /// The interval from what is known: the longest survived idle time minus the margin,
    /// unless that is below the start interval and nothing says the start is unsafe.
    fn computed_interval(&self) -> Duration {
        let kp = self.config.for_kind(self.kind);
        let from_alive = self.alive.map(|a| {
            a.saturating_sub(self.config.margin(a))
                .max(self.config.floor)
        });
        let start_unsafe = self
            .dead
            .is_some_and(|d| d <= kp.start + self.config.min_margin);
        let current = self.interval.min(kp.start);
        let v = match from_alive {
            Some(x) if x > current || start_unsafe => x,
            None if start_unsafe => {
                let d = self.dead.expect("start_unsafe");
                current.min(d / 2).max(self.config.floor)
            }
            _ => current,
        };
        v.clamp(self.config.floor, kp.ceiling)
    }

    /// The probe cannot run (`why` says what is missing): the interval stays.
    pub fn probe_unavailable(&mut self, why: impl Into<String>) {
        self.running = false;
        if self.adaptive() {
            self.phase = Phase::Unavailable(why.into());
        }
    }

    /// Evidence of loss: snap back at once to the start interval (or half the current
    /// one, if that is shorter; never below the floor), forget what survived, and
    /// search again below the interval that failed. Further evidence before the next
    /// probe trial finishes (the same breakage, seen again) changes nothing. Returns
    /// whether the interval changed.
    pub fn on_loss(&mut self, now: Instant, loss: Loss) -> bool {
        log::debug!(
            "keepalive: {loss:?} at a {:?} interval: snapping back",
            self.interval
        );
        let _ = now;
        self.losses += 1;
        // The session abandons a running trial: its mapping may be as gone as the path's.
        self.running = false;
        if self.config.mode != KeepaliveMode::Adaptive || self.snapped {
            return false;
        }
        self.snapped = true;
        let kp = self.config.for_kind(self.kind);
        let before = self.interval;
        self.interval = (before / 2).min(kp.start).max(self.config.floor);
        self.alive = None;
        self.dead = Some(self.dead.map_or(before, |d| d.min(before)));
        if self.adaptive() && !matches!(self.phase, Phase::Unavailable(_)) {
            self.phase = Phase::Probing;
            self.settled_at = None;
        }
        before != self.interval
    }

    /// A snapshot for statistics.
    pub fn stats(&self) -> PolicyStats {
        PolicyStats {
            kind: self.kind,
            interval: self.interval,
            phase: self.phase.clone(),
            survived: self.alive,
            expired: self.dead,
            trials: self.trials,
            losses: self.losses,
            settled_at: self.settled_at,
        }
    }
}
