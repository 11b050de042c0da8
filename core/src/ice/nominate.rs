//! Nomination and selection (RFC 8445 §8, plus renomination).
//!
//! # Policy (controlling side, regular nomination — the default)
//!
//! Nominate as soon as the rules allow, with no fixed per-candidate-type
//! waits. pion's fixed waits (srflx 0.5 s, prflx 1 s, relay 2 s) cost every
//! connection that ends on such a pair that much time; LiveKit measured ~1 s.
//! Instead, when a pair succeeds the controlling agent nominates the best
//! valid pair **at once**, unless a *higher-priority* pair is still Waiting or
//! In Progress; then it waits at most `min(nomination_patience, 2·RTT + Ta)`
//! (RTT of the pair that succeeded; patience defaults to 250 ms) for that pair
//! to succeed, and nominates the best valid pair when the bound expires. A
//! higher-priority pair whose check left long ago is only waited for until
//! that check has had the succeeded pair's RTT + Ta to come back (an
//! unreachable host pair — a private address of another network, checked
//! first — would otherwise delay every NATed connection by the whole
//! patience: 250 ms on each cell of the netsim NAT matrix). On
//! a LAN or when the best pair is checked first (the common case: host pairs
//! have the highest priority and go first) this is zero delay; when a relay
//! pair wins the race against a direct pair still in flight, the direct
//! pair gets ~two round trips to catch up.
//!
//! The nomination itself is one check with USE-CANDIDATE sent immediately
//! (not queued behind Ta). The first nomination of a generation also starts
//! using the pair for data at once (RFC 8445 §12.1 allows data on any valid
//! pair), so the controlling side is connected one RTT after its first
//! check; if the nomination check fails the pair is dropped and the next
//! best one is used. The controlled side selects when the nomination arrives.
//!
//! # Upgrades and renomination
//!
//! After selection, ordinary checks continue on higher-priority pairs (see
//! [`super::checks`]). If one succeeds — a direct pair after a relayed one,
//! or a cheaper network after a network change — and the peer advertised the
//! `renomination` ice-option, the controlling agent nominates it again with a
//! NOMINATION attribute (0xC001, libwebrtc's) carrying an increasing counter;
//! the controlled agent switches to the pair with the highest counter. Data
//! keeps flowing on the old pair until the new nomination succeeds, and both
//! sides accept data on any authenticated tuple, so nothing is dropped.
//! Without peer support the selected pair is kept (an RFC 8445 controlled
//! agent only honours one nomination) unless it stops working.
//!
//! # Aggressive nomination (configurable)
//!
//! Every check carries USE-CANDIDATE; each success selects the pair if it
//! beats the current selection. Controlled side: without NOMINATION values
//! it selects the highest-priority nominated valid pair, which is what
//! RFC 5245 aggressive peers expect.
//!
//! # Losing the selected pair
//!
//! When consent expires or its socket goes away, the agent falls back to the
//! best remaining valid pair: the controlling side nominates it, the
//! controlled side starts using it at once (it stays authenticated; the
//! controlling side's next nomination overrides the choice).

use std::time::Instant;

use super::agent::{CheckKind, ConnectionState, IceAgent, IceEvent, NominationMode, PairKey};
use super::pair::PairState;
use crate::deadline::after;

impl IceAgent {
    /// The highest-priority valid pair of the current generation.
    pub(super) fn best_valid(&self) -> Option<PairKey> {
        let g = &self.current;
        g.checklist
            .pairs()
            .iter()
            .map(|p| (p.local, p.remote))
            .find(|&k| g.is_valid(k))
    }

    /// The selected pair of the current generation went silent (`Disconnected`) while
    /// another valid pair heard from the peer since (the peer moved to a new network
    /// and checked from there): the best such pair, to renominate at once rather than
    /// wait 30 s for consent to expire. Needs the peer's renomination support.
    fn silent_selection(&self) -> Option<PairKey> {
        let g = &self.current;
        let sel = g.selected?;
        if self.state != ConnectionState::Disconnected || !self.peer_renomination {
            return None;
        }
        let quiet_since = self.last_inbound(g.tuple(sel));
        g.checklist
            .pairs()
            .iter()
            .map(|p| (p.local, p.remote))
            .filter(|&k| k != sel && g.is_valid(k))
            .find(|&k| self.last_inbound(g.tuple(k)) > quiet_since)
    }

    /// Controlling side: the peer sends application data on a valid pair that is not the
    /// selected one while the selected pair has gone quiet. A controlled agent only sends
    /// data on the pair it selected, so it lost its path (it moved to another network and
    /// uses the first pair that works from there): renominate that pair at once instead of
    /// waiting for the old one to be judged silent. Needs the peer's renomination support.
    pub(super) fn follow_peer(
        &mut self,
        now: Instant,
        local: std::net::SocketAddr,
        from: std::net::SocketAddr,
    ) {
        if !self.controlling || !self.peer_renomination || self.failed {
            return;
        }
        let g = &self.current;
        let (Some(sel), None) = (g.selected, g.nominating) else {
            return;
        };
        let Some(k) = g.pair_at(local, from) else {
            return;
        };
        if k == sel || !g.is_valid(k) {
            return;
        }
        let rtt = g
            .data
            .get(&sel)
            .and_then(|d| d.rtt)
            .unwrap_or(self.config.ta);
        let quiet = rtt.max(self.config.ta);
        if self
            .last_inbound(g.tuple(sel))
            .is_some_and(|t| t + quiet > now)
        {
            return; // both paths work: the selected one stays (upgrades go by priority)
        }
        log::debug!("ice: the peer moved to {k:?}: renominating it");
        let n = {
            let g = &mut self.current;
            g.nomination_sent += 1;
            g.nomination_sent
        };
        self.current.nominating = Some(k);
        let gid = self.current.id;
        self.start_check(now, gid, k, CheckKind::Nominate(Some(n)));
        // The pair is valid both ways (RFC 8445 §12.1: data may use it): answer the peer on
        // it now rather than one more round trip later.
        self.select(now, gid, k);
    }

    /// Controlling side: nominate (or renominate) when the policy allows.
    pub(super) fn run_nomination(&mut self, now: Instant) {
        self.current.nomination_deadline = None;
        if !self.controlling
            || self.failed
            || self.config.nomination == NominationMode::Aggressive
            || self.current.remote.is_none()
            || self.current.nominating.is_some()
        {
            return;
        }
        let silent = self.silent_selection();
        let Some(best) = silent.or_else(|| self.best_valid()) else {
            return;
        };
        let g = &self.current;
        let best_prio = g.priority(best).unwrap_or(0);
        if let Some(sel) = g.selected {
            if sel == best {
                return;
            }
            let sel_ok = g.is_valid(sel) && silent.is_none();
            let sel_prio = g.priority(sel).unwrap_or(0);
            if sel_ok && (!self.peer_renomination || best_prio <= sel_prio) {
                return;
            }
        }
        let d = &g.data[&best];
        let rtt = d.rtt.unwrap_or(self.config.ta);
        let bound = self
            .config
            .nomination_patience
            .min(rtt.saturating_mul(2).saturating_add(self.config.ta));
        let mut until = after(d.succeeded_at.unwrap_or(now), bound);
        // A better pair still in progress is waited for only until its check
        // has had this pair's round trip (plus Ta) to come back: an
        // unreachable host pair checked long before (a private address of
        // another network) must not delay every NATed connection by the
        // whole patience. Waiting pairs have not been sent yet: they get
        // the full bound.
        let mut wait_for: Option<Instant> = None;
        for p in g
            .checklist
            .pairs()
            .iter()
            .filter(|p| p.priority > best_prio)
        {
            let answer_by = match p.state {
                PairState::Waiting => until,
                PairState::InProgress => g
                    .data
                    .get(&(p.local, p.remote))
                    .and_then(|d| d.in_flight)
                    .and_then(|t| self.transactions.get(&t))
                    .map_or(until, |t| {
                        after(t.started(), rtt.saturating_add(self.config.ta))
                    }),
                _ => continue,
            };
            wait_for = Some(wait_for.map_or(answer_by, |w| w.max(answer_by)));
        }
        // Recovering a lost path (its socket went away): data waits for no better pair.
        let recovering = self.recovering_remote().is_some()
            || (g.selected.is_none() && g.recover_remote.is_some());
        let better_pending = !recovering && wait_for.is_some_and(|w| now < w);
        until = wait_for.map_or(until, |w| w.min(until));
        if better_pending && now < until {
            self.current.nomination_deadline = Some(until);
            return;
        }
        let n = if self.peer_renomination {
            self.current.nomination_sent += 1;
            Some(self.current.nomination_sent)
        } else {
            None
        };
        log::debug!("ice: nominating {best:?} (nomination {n:?})");
        self.current.nominating = Some(best);
        let gid = self.current.id;
        let first = self.current.selected.is_none();
        self.start_check(now, gid, best, CheckKind::Nominate(n));
        if first {
            // RFC 8445 §12.1: data may flow on any valid pair before
            // selection; the pair being nominated is the one to use.
            self.select(now, gid, best);
        }
    }

    /// Makes `key` the selected pair of generation `gid`.
    pub(super) fn select(&mut self, now: Instant, gid: u32, key: PairKey) {
        let Some(g) = self.generation_mut(gid) else {
            return;
        };
        if !g.is_valid(key) {
            return;
        }
        let changed = g.selected != Some(key);
        g.selected = Some(key);
        if g.recover_remote == Some(key.1) {
            g.recover_remote = None; // recovered
        }
        if changed {
            g.remotes_at_selection = g.checklist.remotes().len();
            g.locals_at_selection = g.checklist.locals().len();
        }
        g.pair_data(key).nominated = true;
        if changed {
            self.liveness_on_select(now, gid, key);
        }
        if gid == self.current.id && self.previous.is_some() {
            // Make-before-break: the new generation carries data now.
            log::debug!("ice: restart complete, dropping the previous generation");
            self.previous = None;
        }
        if let Some(g) = self.generation(gid).filter(|_| changed) {
            let desc = self.describe(g, key);
            log::debug!(
                "ice: selected {} {} -> {} {}",
                desc.local.kind.as_str(),
                desc.local_socket,
                desc.remote.kind.as_str(),
                desc.remote_addr
            );
            self.events.push_back(IceEvent::SelectedPair(desc));
        }
    }

    /// Aggressive nomination: take the pair if it beats the selection.
    pub(super) fn select_if_better(&mut self, now: Instant, gid: u32, key: PairKey) {
        let Some(g) = self.generation(gid) else {
            return;
        };
        let better = match g.selected {
            None => true,
            Some(s) => !g.is_valid(s) || g.priority(key) > g.priority(s),
        };
        if better {
            self.select(now, gid, key);
        }
    }

    /// Controlled side: the peer nominated `key` (already valid here).
    pub(super) fn accept_nomination(
        &mut self,
        now: Instant,
        gid: u32,
        key: PairKey,
        nomination: Option<u32>,
    ) {
        let Some(g) = self.generation_mut(gid) else {
            return;
        };
        match nomination {
            Some(n) => {
                if g.nomination_seen.is_some_and(|seen| n <= seen) {
                    if g.selected.is_none() {
                        self.select(now, gid, key);
                    }
                    return;
                }
                g.nomination_seen = Some(n);
                self.select(now, gid, key);
            }
            None => self.select_if_better(now, gid, key),
        }
    }

    /// The selected pair of the sending generation went away: fall back to
    /// the best remaining valid pair, or report.
    pub(super) fn after_selection_lost(&mut self, now: Instant) {
        if self.sending_generation().is_some() {
            return;
        }
        match self.best_valid() {
            Some(best) if !self.controlling => {
                let gid = self.current.id;
                self.select(now, gid, best);
            }
            Some(_) => self.run_nomination(now),
            None => {
                if matches!(
                    self.state,
                    ConnectionState::Connected
                        | ConnectionState::Completed
                        | ConnectionState::Disconnected
                ) {
                    self.set_state(ConnectionState::Disconnected);
                }
            }
        }
    }
}
