//! Consent freshness (RFC 7675), liveness and the connection state.
//!
//! - A consent check (an authenticated Binding request, not retransmitted)
//!   goes out on the selected pair every `consent_interval` × a random factor
//!   in 0.8–1.2 (default 5 s), whether or not data flows: media does not
//!   refresh NAT bindings in the other direction, and consent is about the
//!   peer still wanting our packets (pion #767 stopped keepalives while media
//!   flowed and lost paths).
//! - Consent expires `consent_timeout` (30 s) after the last successful
//!   response. Then the pair is failed for good, data stops, and the agent
//!   falls back to another valid pair (see [`super::nominate`]) or reports
//!   `Failed`.
//! - `Disconnected` is soft: no inbound packet at all (STUN or data) on the
//!   selected pair for `disconnected_timeout` (2.5 s). The first packet that
//!   arrives brings the state back. So that an idle healthy pair does not
//!   flap, a consent check is also sent early whenever nothing arrived for
//!   half that time (the cost: about one small request/response per 1.25 s
//!   per side on an idle connection; raise `disconnected_timeout` to trade
//!   detection speed for battery).

use std::time::{Duration, Instant};

use super::agent::{CheckKind, ConnectionState, GatheringState, Generation, IceAgent, PairKey};
use super::pair::PairState;
use crate::deadline::{after, FOREVER};

impl IceAgent {
    /// A consent interval drawn from 0.8–1.2 × `consent_interval`.
    pub(super) fn consent_delay(&mut self) -> Duration {
        // Capped at a century, the interval in µs (3.2e15) leaves room for ×8 in a u64.
        let base = self.config.consent_interval.min(FOREVER).as_micros() as u64;
        let lo = base * 8 / 10;
        let span = (base * 4 / 10).max(1);
        Duration::from_micros(lo + self.rng.next_u64() % span)
    }

    /// The application went to the background (`true`) or came back (`false`): in the
    /// background no consent check or keepalive is sent and the path is never judged
    /// silent or expired (a suspended app must not wake the radio, and its peer stops
    /// hearing from it anyway); TURN refreshes still run (one packet every few minutes
    /// keeps the relay). Coming back re-arms consent from `now` with a check at once, so a
    /// path that died meanwhile is found within one consent timeout; the session treats
    /// resuming as a major network change on top of that.
    pub fn set_background(&mut self, now: Instant, background: bool) {
        if self.background == background || self.closed {
            return;
        }
        self.background = background;
        if !background {
            let timeout = self.config.consent_timeout;
            for gid in self.generation_ids() {
                if let Some(g) = self.generation_mut(gid) {
                    if g.selected.is_some() {
                        g.consent_expires = Some(after(now, timeout));
                        g.consent_next = Some(now);
                    }
                }
            }
            // Quiet time in the background is not silence.
            for t in self.peers.values_mut() {
                *t = (*t).max(now);
            }
        }
        self.drive(now);
    }

    /// Whether the agent is in the background.
    pub fn is_background(&self) -> bool {
        self.background
    }

    /// When the next consent check (scheduled or idle probe) is due.
    pub(super) fn consent_due(&self, g: &Generation) -> Option<Instant> {
        if self.background {
            return None;
        }
        let sel = g.selected?;
        let next = g.consent_next?;
        let half = self.config.disconnected_timeout / 2;
        let probe = match (self.last_inbound(g.tuple(sel)), g.consent_sent) {
            (Some(i), Some(s)) => Some(after(i.max(s), half)),
            (Some(i), None) => Some(after(i, half)),
            (None, _) => None,
        };
        Some(probe.map_or(next, |p| p.min(next)))
    }

    /// When the selected pair counts as silent (`None` once it does, so
    /// that `poll_timeout` never names a past instant).
    pub(super) fn silence_deadline(&self, g: &Generation, key: PairKey) -> Option<Instant> {
        if self.state == ConnectionState::Disconnected || self.background {
            return None;
        }
        self.last_inbound(g.tuple(key))
            .map(|t| after(t, self.config.disconnected_timeout))
    }

    /// Sends due consent checks and expires consent.
    pub(super) fn run_consent(&mut self, now: Instant) {
        let mut lost = false;
        for gid in self.generation_ids() {
            let Some(g) = self.generation(gid) else {
                continue;
            };
            let Some(sel) = g.selected else {
                continue;
            };
            if !self.background && g.consent_expires.is_some_and(|e| now >= e) {
                log::debug!("ice: consent expired on {sel:?} (generation {gid})");
                self.counters.consent_lost += 1;
                let Some(g) = self.generation_mut(gid) else {
                    continue;
                };
                let d = g.pair_data(sel);
                d.consent_lost = true;
                d.valid = false;
                g.checklist.set_state(sel.0, sel.1, PairState::Failed);
                g.selected = None;
                g.consent_next = None;
                g.consent_expires = None;
                lost = true;
                continue;
            }
            if self.consent_due(g).is_some_and(|t| now >= t) {
                let delay = self.consent_delay();
                let Some(g) = self.generation_mut(gid) else {
                    continue;
                };
                g.consent_next = Some(after(now, delay));
                g.consent_sent = Some(now);
                self.start_check(now, gid, sel, CheckKind::Consent);
            }
        }
        if lost {
            if self.sending_generation().is_none() && self.best_valid().is_none() {
                // RFC 7675 §5.1: consent lost and nothing else works.
                self.failed = true;
            }
            self.after_selection_lost(now);
        }
    }

    /// Derives the connection state from selection, liveness and checks.
    pub(super) fn update_connection_state(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        if self.failed {
            self.set_state(ConnectionState::Failed);
            return;
        }
        let sending = self
            .sending_generation()
            .and_then(|g| g.selected.map(|sel| (g, sel)));
        if let Some((g, sel)) = sending {
            let silent = !self.background
                && self
                    .last_inbound(g.tuple(sel))
                    .is_some_and(|t| now >= after(t, self.config.disconnected_timeout));
            let s = if silent {
                ConnectionState::Disconnected
            } else if self.is_completed() {
                ConnectionState::Completed
            } else {
                ConnectionState::Connected
            };
            self.set_state(s);
            return;
        }
        let g = &self.current;
        // An empty checklist is not "every pair failed": with reordering
        // signaling (trickle lines resent by the application), the peer's
        // end-of-candidates can overtake its candidates; failing then would
        // be sticky and also stop this side's checks, which the peer's NAT
        // may need to see to let its own checks in.
        let all_failed = g.remote.is_some()
            && g.remote_eoc
            && self.gathering_state == GatheringState::Complete
            && g.nominating.is_none()
            && !g.checklist.pairs().is_empty()
            && g.checklist
                .pairs()
                .iter()
                .all(|p| p.state == PairState::Failed);
        if all_failed {
            self.failed = true;
            self.set_state(ConnectionState::Failed);
        } else if self.counters.checks_sent > 0
            && matches!(self.state, ConnectionState::New | ConnectionState::Checking)
        {
            self.set_state(ConnectionState::Checking);
        }
    }

    /// Selected in the current generation, both sides done with candidates,
    /// and nothing better can still succeed.
    fn is_completed(&self) -> bool {
        let g = &self.current;
        let Some(sel) = g.selected else {
            return false;
        };
        let floor = g.priority(sel).unwrap_or(0);
        g.remote_eoc
            && self.gathering_state == GatheringState::Complete
            && g.nominating.is_none()
            && !g.checklist.pairs().iter().any(|p| {
                p.priority > floor
                    && matches!(
                        p.state,
                        PairState::Frozen | PairState::Waiting | PairState::InProgress
                    )
            })
    }
}
