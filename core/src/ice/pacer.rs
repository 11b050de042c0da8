//! Check scheduling and construction (RFC 8445 §6.1.4.2, §7.2.2): one new
//! check per Ta from the triggered-check queue, then Waiting pairs, then
//! Frozen pairs whose foundation is idle; a cap on checks in flight.
//!
//! Triggered checks are paced like the others (§6.1.4.2: when the Ta timer
//! fires, the triggered-check queue is served first) and count against
//! `max_checks_in_flight` (except one that replaces its pair's transaction
//! still in flight: the count does not grow). While the cap is reached they
//! keep their place at the head of the queue for the next free slot.
//! Consent checks (RFC 7675 §5.1, their own randomised schedule) and
//! retransmissions are not paced here.
//!
//! Pairs through a relay (a relayed candidate on either side) are paced on
//! their own Ta clock ([`super::relay`]), so a relayed check never takes the
//! slot of a direct one: direct checks open NATs and answer the peer's
//! (triggered checks), relayed ones only validate the fallback. Relayed
//! pairs are also not checked before their TURN permission is confirmed.
//!
//! This departs from RFC 8445 §14's single pace (one new transaction per Ta
//! for the whole agent): with one clock for both kinds (tried, 2026-11),
//! every relay cell of `tests/netsim` ice_matrix connects 25 ms later (over
//! its lower bound + 50 ms, which the matrix asserts), one direct cell with
//! a symmetric NAT 25 ms later, and the network-change test misses its
//! target. At worst the agent sends two new checks per Ta, one direct and
//! one to its TURN server (whose traffic the server itself rate limits).

use std::time::{Duration, Instant};

use super::agent::{CheckKind, IceAgent, NominationMode, PairKey, TxContext};
use super::candidate::CandidateType;
use super::checks::NOMINATION_ATTR;
use super::pair::PairState;
use super::pair::{LocalId, RemoteId};
use crate::deadline::after;
use crate::stun::{encode_to_vec, Attribute, Class, MessageType, Method, TransactionId};

/// Recovery re-probes per lost path (about half a second at the default Ta).
const RECOVER_PROBES: u32 = 8;

impl IceAgent {
    fn ordinary_in_flight(&self) -> usize {
        self.current
            .data
            .values()
            .filter(|d| d.in_flight.is_some())
            .count()
    }

    /// Whether a pair goes through a relay (ours or the peer's).
    fn is_relay_pair(&self, local: LocalId, remote: RemoteId) -> bool {
        let c = &self.current.checklist;
        c.locals()[local.0].candidate.kind == CandidateType::Relayed
            || c.remotes()[remote.0].kind == CandidateType::Relayed
    }

    /// The next check to send on direct (`relay` false) or relayed pairs and
    /// whether it comes from the triggered queue.
    fn find_next_check(&self, relay: bool) -> Option<(PairKey, bool)> {
        let g = &self.current;
        g.remote.as_ref()?;
        if self.remote_lite && !self.controlling {
            return None;
        }
        // The in-flight cap covers triggered checks too, except one that
        // replaces its pair's transaction still in flight (the count stays).
        let full = self.ordinary_in_flight() >= self.config.max_checks_in_flight;
        for &k in &g.triggered {
            if self.is_relay_pair(k.0, k.1) != relay {
                continue;
            }
            if full && g.data.get(&k).is_none_or(|d| d.in_flight.is_none()) {
                continue;
            }
            if let Some(p) = g.checklist.pair(k.0, k.1) {
                if matches!(p.state, PairState::Waiting | PairState::Frozen) {
                    return Some((k, true));
                }
            }
        }
        if full {
            return None;
        }
        // After selection only upgrades are checked, plus every pair with a
        // remote candidate the peer trickled since (its network changed:
        // our check is what opens our NAT to its new address), and every pair
        // of a local socket added since (ours changed: the same, and it is the
        // fallback if the selected pair's socket goes away next).
        let floor = g.selected.and_then(|s| g.priority(s)).unwrap_or(0);
        let fresh = g.selected.map_or(0, |_| g.remotes_at_selection);
        let fresh_local = g.selected.map_or(0, |_| g.locals_at_selection);
        // The remote that carries (or carried, before its socket went) the data is the
        // likeliest to answer another socket: its pairs go first. After selection two
        // kinds of pairs are still checked once even below the selection: those to that
        // remote (every local socket opens its NAT towards the peer and holds a fallback
        // if the selected socket goes) and those from the selected socket (so the peer's
        // other sockets, a second interface, find this side's NAT open for theirs).
        let proven = self.recovering_remote().or(g.selected.map(|k| k.1));
        let selected_local = g.selected.map(|k| k.0);
        // A relayed pair waits (without taking a Ta slot) for its permission.
        let eligible = |p: &&super::pair::CandidatePair| {
            let (base, remote) = g.tuple((p.local, p.remote));
            (p.priority > floor
                || p.remote.0 >= fresh
                || p.local.0 >= fresh_local
                || Some(p.remote) == proven
                || Some(p.local) == selected_local)
                && self.is_relay_pair(p.local, p.remote) == relay
                && self.relay_check_ready(base, remote)
        };
        let pairs = g.checklist.pairs();
        if let Some(p) = pairs
            .iter()
            .filter(eligible)
            .filter(|p| matches!(p.state, PairState::Waiting | PairState::Frozen))
            .find(|p| Some(p.remote) == proven && g.selected.is_none_or(|s| s.0 != p.local))
        {
            return Some(((p.local, p.remote), false));
        }
        if let Some(p) = pairs
            .iter()
            .filter(eligible)
            .find(|p| p.state == PairState::Waiting)
        {
            return Some(((p.local, p.remote), false));
        }
        pairs
            .iter()
            .filter(eligible)
            .filter(|p| p.state == PairState::Frozen)
            .find(|p| {
                !pairs.iter().any(|q| {
                    q.foundation == p.foundation
                        && matches!(q.state, PairState::Waiting | PairState::InProgress)
                })
            })
            .map(|p| ((p.local, p.remote), false))
    }

    /// Whether the pacer has something to send (so that `poll_timeout` may
    /// name the next Ta tick).
    /// A failed agent sends no checks (`run_pacer`), so it has no Ta tick either.
    pub(super) fn has_check_work(&self) -> bool {
        !self.failed && self.find_next_check(false).is_some()
    }

    /// The relayed pairs' next Ta tick, when they have something to send.
    pub(super) fn relay_check_timeout(&self) -> Option<Instant> {
        if self.failed {
            return None;
        }
        self.find_next_check(true).and(self.relays.next_check_at)
    }

    /// Sends at most one new check per Ta on direct pairs, and one on relayed pairs.
    pub(super) fn run_pacer(&mut self, now: Instant) {
        if self.failed {
            return;
        }
        for relay in [false, true] {
            let next = if relay {
                self.relays.next_check_at
            } else {
                self.next_check_at
            };
            if next.is_some_and(|t| now < t) {
                continue;
            }
            if self.send_next_check(now, relay) {
                let at = Some(after(now, self.config.ta.max(Duration::from_millis(5))));
                if relay {
                    self.relays.next_check_at = at;
                } else {
                    self.next_check_at = at;
                }
            }
        }
    }

    /// Recovering a path whose socket went away: the peer's candidate that carried the data
    /// is checked again from every new socket once per Ta (at most [`RECOVER_PROBES`]
    /// times) while no answer came. A filtering peer opens its NAT to our new address only
    /// when its own check (after the signaled candidate) goes out; a probe arriving just
    /// after that passes, instead of waiting a whole retransmission timeout.
    pub(super) fn run_recovery_probes(&mut self, now: Instant) {
        let Some(r) = self.recovering_remote() else {
            return;
        };
        let g = &self.current;
        if g.recover_probes >= RECOVER_PROBES || g.recover_probe_at.is_some_and(|t| now < t) {
            return;
        }
        let keys: Vec<PairKey> = g
            .checklist
            .pairs()
            .iter()
            .filter(|p| {
                p.remote == r
                    && p.state == PairState::InProgress
                    && !self.is_relay_pair(p.local, p.remote)
            })
            .map(|p| (p.local, p.remote))
            .collect();
        if keys.is_empty() {
            return;
        }
        let ta = self.config.ta.max(Duration::from_millis(5));
        let gid = self.current.id;
        self.current.recover_probes += 1;
        self.current.recover_probe_at = Some(after(now, ta));
        for k in keys {
            self.start_check(now, gid, k, CheckKind::Ordinary);
        }
    }

    /// When the next recovery probe may go (for `poll_timeout`).
    pub(super) fn recovery_probe_timeout(&self) -> Option<Instant> {
        let g = &self.current;
        (self.recovering_remote().is_some() && g.recover_probes < RECOVER_PROBES)
            .then_some(g.recover_probe_at)
            .flatten()
    }

    /// The remote of a data path lost with its socket, while no pair to it works again
    /// (a relayed pair may carry the data meanwhile).
    pub(super) fn recovering_remote(&self) -> Option<RemoteId> {
        let g = &self.current;
        let r = g.recover_remote?;
        g.remote.as_ref()?;
        let back = g
            .checklist
            .pairs()
            .iter()
            .any(|p| p.remote == r && g.is_valid((p.local, p.remote)));
        (!back).then_some(r)
    }

    /// Starts the next check of one pacer; whether there was one.
    fn send_next_check(&mut self, now: Instant, relay: bool) -> bool {
        let Some((key, triggered)) = self.find_next_check(relay) else {
            return false;
        };
        if triggered {
            self.current.triggered.retain(|k| *k != key);
        }
        let kind = if self.controlling && self.config.nomination == NominationMode::Aggressive {
            CheckKind::Nominate(None)
        } else {
            CheckKind::Ordinary
        };
        let gid = self.current.id;
        self.start_check(now, gid, key, kind);
        true
    }

    /// Builds and starts one connectivity check (RFC 8445 §7.2.2).
    pub(super) fn start_check(&mut self, now: Instant, gid: u32, key: PairKey, kind: CheckKind) {
        let controlling = self.controlling;
        let tie_breaker = self.tie_breaker;
        let aggressive = self.config.nomination == NominationMode::Aggressive;
        let Some(g) = self.generation(gid) else {
            return;
        };
        let Some((rc, rkey)) = &g.remote else {
            return;
        };
        let (from, to) = g.tuple(key);
        let username = format!("{}:{}", rc.ufrag, g.local.ufrag);
        let rkey = rkey.clone();
        let priority = self.prflx_priority(self.socket_pref(from));
        let mut attrs = vec![
            Attribute::Username(&username),
            Attribute::Priority(priority),
            if controlling {
                Attribute::IceControlling(tie_breaker)
            } else {
                Attribute::IceControlled(tie_breaker)
            },
        ];
        let nomination;
        if let CheckKind::Nominate(n) = kind {
            attrs.push(Attribute::UseCandidate);
            if let Some(n) = n {
                nomination = n.to_be_bytes();
                attrs.push(Attribute::Unknown {
                    typ: NOMINATION_ATTR,
                    value: &nomination,
                });
            }
        }
        let tid = TransactionId::random(&mut *self.rng);
        let Ok(bytes) = encode_to_vec(
            MessageType::new(Class::Request, Method::BINDING),
            tid,
            &attrs,
            Some(rkey.as_bytes()),
            true,
        ) else {
            return;
        };
        let config = match kind {
            // RFC 7675 §5.1: each consent request is transmitted once; it counts as
            // unanswered after `disconnected_timeout`.
            CheckKind::Consent => crate::stun::transaction::TransactionConfig {
                rto: self
                    .config
                    .disconnected_timeout
                    .max(Duration::from_millis(1)),
                max_rto: None,
                max_transmissions: 1,
                final_wait_factor: 1,
            },
            CheckKind::Keepalive => super::keepalive::KEEPALIVE_TRANSACTION,
            _ => self.config.check_transaction,
        };
        let ctx = TxContext::Check {
            gen: gid,
            pair: key,
            from,
            kind,
            controlling,
        };
        if self
            .transactions
            .start(now, tid, to, bytes, config, ctx)
            .is_err()
        {
            return;
        }
        self.counters.checks_sent += 1;
        let ordinary =
            kind == CheckKind::Ordinary || (aggressive && kind == CheckKind::Nominate(None));
        let Some(g) = self.generation_mut(gid) else {
            return;
        };
        if ordinary {
            g.pair_data(key).in_flight = Some(tid);
            if !g.pair_data(key).valid {
                g.checklist.set_state(key.0, key.1, PairState::InProgress);
            }
        }
    }
}
