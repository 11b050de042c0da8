//! Consent freshness (RFC 7675), liveness and the connection state.
//!
//! When checks go out on the selected pair (keepalives on an idle pair, paced consent
//! checks while data flows) is [`super::keepalive`]'s business; this file holds the
//! rules about what their answers, or their silence, mean.
//!
//! - **Consent** (RFC 7675 §5.1): consent lasts `consent_timeout` (30 s) from sending a
//!   request that was answered. Application data leaves only while consent is fresh.
//!   On a busy pair paced checks keep it fresh all the time. An idle pair whose
//!   keepalives are further apart than 30 s lets it lapse: nothing is sent then, so
//!   nothing is sent without consent. Data the application sends on a lapsed pair is
//!   held (at most [`HELD_MAX`] datagrams; more are dropped and counted) and a check
//!   goes out at once; the data leaves when the answer arrives, one round trip after
//!   the send call. Only the answer to a request sent since then re-establishes consent.
//! - **Lost consent**: once consent has expired *and* checks have been unanswered for
//!   `consent_timeout`, the pair is failed for good, held data is dropped, and the agent
//!   falls back to another valid pair (see [`super::nominate`]) or reports `Failed`.
//!   Checks sent while consent was still fresh count from when the first of them went
//!   out; so a busy pair that goes dark fails 30 s after its last answered request plus
//!   at most one consent interval, and an idle one 30 s after its first unanswered
//!   keepalive.
//! - **Disconnected** is soft: a check unanswered for `disconnected_timeout` (2.5 s)
//!   with nothing at all heard on the pair since it went out. Any packet on the pair, or
//!   an answer, brings it back. After it the pair is re-checked at the consent pace
//!   (every `consent_interval` ×(0.8–1.2)) until it answers or consent is lost. There is
//!   no extra probing of an idle pair (Pinhole used to check whenever nothing had
//!   arrived for 1.25 s: a battery cost on a healthy idle path); the detection interval
//!   of an idle path is a policy choice, `IceConfig::liveness_probe`.
//! - **Background**: no checks at all and no verdicts; TURN refreshes still run. Back in
//!   the foreground a check goes out at once.

use std::time::{Duration, Instant};

use super::agent::{CheckKind, ConnectionState, GatheringState, Generation, IceAgent, PairKey};
use super::pair::PairState;
use crate::deadline::{after, FOREVER};

/// Most datagrams held while consent is being refreshed; more are dropped and counted.
pub(super) const HELD_MAX: usize = 64;

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
    /// keeps the relay). Coming back sends a check at once, so a path that died
    /// meanwhile is found within `disconnected_timeout`, and data waits for its answer if
    /// consent lapsed meanwhile; the session treats resuming as a major network change on
    /// top of that.
    pub fn set_background(&mut self, now: Instant, background: bool) {
        if self.background == background || self.closed {
            return;
        }
        self.background = background;
        if !background {
            for gid in self.generation_ids() {
                if let Some(g) = self.generation_mut(gid) {
                    if g.selected.is_some() {
                        g.liveness.unanswered_since = None;
                        g.liveness.check_now = true;
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

    /// Whether data may go out on generation `g`'s selected pair at `now` (RFC 7675).
    pub(super) fn consent_fresh(g: &Generation, now: Instant) -> bool {
        g.liveness.consent_expires.is_some_and(|e| now < e)
    }

    /// When the selected pair counts as silent (`None` once it does, or while nothing
    /// is outstanding, so that `poll_timeout` never names a past instant).
    pub(super) fn silence_deadline(&self, g: &Generation, key: PairKey) -> Option<Instant> {
        if self.state == ConnectionState::Disconnected || self.background {
            return None;
        }
        let since = g.liveness.unanswered_since?;
        let heard = self.last_inbound(g.tuple(key)).is_some_and(|t| t > since);
        (!heard).then_some(after(since, self.config.disconnected_timeout))
    }

    /// Whether generation `g`'s selected pair is silent at `now`.
    fn is_silent(&self, g: &Generation, key: PairKey, now: Instant) -> bool {
        let Some(since) = g.liveness.unanswered_since else {
            return false;
        };
        let heard = self.last_inbound(g.tuple(key)).is_some_and(|t| t > since);
        !heard && now >= after(since, self.config.disconnected_timeout)
    }

    /// When consent counts as lost: expired, and checks unanswered for `consent_timeout`.
    pub(super) fn consent_lost_at(&self, g: &Generation) -> Option<Instant> {
        let since = g.liveness.unanswered_since?;
        let expires = g.liveness.consent_expires.unwrap_or(since);
        Some(expires.max(after(since, self.config.consent_timeout)))
    }

    /// Expires consent, and sends the checks that are due.
    pub(super) fn run_consent(&mut self, now: Instant) {
        if self.background {
            return;
        }
        let mut lost = false;
        for gid in self.generation_ids() {
            let Some(g) = self.generation(gid) else {
                continue;
            };
            let Some(sel) = g.selected else {
                continue;
            };
            if self.consent_lost_at(g).is_some_and(|t| now >= t) {
                log::debug!("ice: consent lost on {sel:?} (generation {gid})");
                self.counters.consent_lost += 1;
                let Some(g) = self.generation_mut(gid) else {
                    continue;
                };
                let d = g.pair_data(sel);
                d.consent_lost = true;
                d.valid = false;
                g.checklist.set_state(sel.0, sel.1, PairState::Failed);
                g.clear_selection();
                lost = true;
                continue;
            }
            if let Some((due, kind)) = self.liveness_due(g) {
                if now >= due {
                    self.send_liveness_check(now, gid, kind);
                }
            }
        }
        if lost {
            if self.sending_generation().is_none() && self.best_valid().is_none() {
                // RFC 7675 §5.1: consent lost and nothing else works.
                self.failed = true;
                let dropped = self.held.len() as u64;
                self.counters.held_dropped += dropped;
                self.held.clear();
            }
            self.after_selection_lost(now);
        }
    }

    /// Sends a consent or keepalive check on generation `gid`'s selected pair.
    pub(super) fn send_liveness_check(&mut self, now: Instant, gid: u32, kind: CheckKind) {
        let delay = self.consent_delay();
        let Some(g) = self.generation_mut(gid) else {
            return;
        };
        let Some(sel) = g.selected else {
            return;
        };
        let l = &mut g.liveness;
        l.last_check = Some(now);
        l.next_paced = Some(after(now, delay));
        l.data_since_check = false;
        l.data_in_since_check = false;
        l.check_now = false;
        l.unanswered_since.get_or_insert(now);
        match kind {
            CheckKind::Keepalive => self.counters.keepalives_sent += 1,
            _ => self.counters.consent_checks_sent += 1,
        }
        self.start_check(now, gid, sel, kind);
    }

    /// A consent or keepalive check (or any check on the selected pair) was answered:
    /// consent lasts `consent_timeout` from when the request went out (`sent`), and held
    /// data leaves.
    pub(super) fn consent_answered(&mut self, now: Instant, gid: u32, sent: Instant) {
        let timeout = self.config.consent_timeout;
        let Some(g) = self.generation_mut(gid) else {
            return;
        };
        let l = &mut g.liveness;
        let expires = after(sent, timeout);
        l.consent_expires = Some(l.consent_expires.map_or(expires, |e| e.max(expires)));
        l.unanswered_since = None;
        self.flush_held(now);
    }

    /// Data waiting for consent: sent if the sending generation's consent is fresh.
    pub(super) fn flush_held(&mut self, now: Instant) {
        if self.held.is_empty() {
            return;
        }
        let Some(g) = self.sending_generation() else {
            return;
        };
        if !Self::consent_fresh(g, now) {
            return;
        }
        let held = std::mem::take(&mut self.held);
        for data in held {
            let _ = self.send_data(now, &data);
        }
    }

    /// Keeps `data` until consent is refreshed, and asks for that at once.
    pub(super) fn hold(&mut self, now: Instant, data: &[u8]) {
        if self.held.len() >= HELD_MAX {
            self.counters.held_dropped += 1;
            return;
        }
        self.counters.held += 1;
        self.held.push_back(data.to_vec());
        let gid = self.sending_generation().map(|g| g.id);
        if let Some(gid) = gid {
            if let Some(g) = self.generation_mut(gid) {
                // One check in flight is enough: its answer releases everything.
                let asking = g
                    .liveness
                    .last_check
                    .is_some_and(|t| g.liveness.unanswered_since.is_some_and(|u| u <= t));
                if !asking {
                    g.liveness.check_now = true;
                }
            }
        }
        self.run_consent(now);
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
            let silent = !self.background && self.is_silent(g, sel, now);
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
