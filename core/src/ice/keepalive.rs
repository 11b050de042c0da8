//! When checks go out on the selected pair, and one radio wake-up for everything.
//!
//! A NAT keeps a mapping as long as packets cross it: the physical minimum is one packet
//! per mapping timeout. The agent only needs to *send* when nothing else does, so with
//! [`KeepaliveTiming::Interval`] (the default; a session sets the interval from its
//! keepalive policy, `crate::keepalive`):
//!
//! - **Any packet counts.** Application data, checks and the answers to the peer's
//!   checks all refresh this side's NAT: a keepalive check goes out only when this side
//!   sent nothing on the pair for `interval`. The controlled side waits `follower_slack`
//!   longer, so when both sides use the same interval the controlling side's check comes
//!   first and the controlled side's answer is its own keepalive: one packet each way per
//!   interval, not two requests and two answers.
//! - **Keepalive checks are consent checks** (authenticated Binding requests): their
//!   answers keep consent and prove the path works. Unlike paced consent checks they are
//!   retransmitted (RTO 500 ms, at most three transmissions within 1.5 s): on a
//!   stretched interval one lost packet would otherwise cost the mapping. RFC 7675 §5.1
//!   sends consent checks once and at least 4 s apart; these retransmissions only happen
//!   when a packet is lost, and even then the average stays far below one check per 4 s.
//! - **Data flowing**: a consent check every `consent_interval` ×(0.8–1.2) for as long
//!   as data goes out (RFC 7675 §5.1), so consent never lapses under a stream; the data
//!   itself is the NAT keepalive.
//! - **Recovering**: after an unanswered check, re-checks at the consent pace.
//! - **At once**: data waiting for consent, back from the background, or the peer was
//!   heard on another pair (it may have moved: the selected pair is checked so that it is
//!   found silent within `disconnected_timeout`, at most once per consent interval).
//! - **The peer's data stopped**: when application data from the peer arrived since the
//!   last check and then nothing arrived for half `disconnected_timeout`, one check (per
//!   stall): a NAT on this side that forgot its mapping (a reboot) drops the peer's data
//!   silently, and only this side's next packet maps it again. An idle pair (no data
//!   arriving) costs nothing; a stream that pauses costs one check per pause.
//! - [`IceConfig::liveness_probe`](super::IceConfig::liveness_probe), if set: a check
//!   when nothing arrived for that long.
//!
//! **One wake-up per period.** Whenever the agent sends anything (the radio is up
//! anyway), it also sends what would otherwise need a wake-up of its own soon: a
//! keepalive due within a quarter of the interval, and every TURN refresh (allocation,
//! permission, channel) due before the next keepalive
//! ([`TurnClient::refresh_due_before`](crate::turn::TurnClient::refresh_due_before)).
//! A session calls [`IceAgent::radio_wakeup`] when it sends something of its own (the
//! binding-lifetime probe's requests), for the same effect.
//!
//! [`KeepaliveTiming::Consent`] is WebRTC-style consent for comparison: each side checks
//! every `consent_interval` ×(0.8–1.2) whatever else flows, and nothing is coalesced.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::agent::{CheckKind, Generation, IceAgent, PairKey};
use super::config::KeepaliveTiming;
use crate::deadline::after;
use crate::stun::transaction::TransactionConfig;

/// Retransmissions of a keepalive check: at 0, 0.5 and 1.5 s, given up at 2.5 s.
pub(super) const KEEPALIVE_TRANSACTION: TransactionConfig = TransactionConfig {
    rto: Duration::from_millis(500),
    max_rto: Some(Duration::from_secs(1)),
    max_transmissions: 3,
    final_wait_factor: 2,
};

impl IceAgent {
    /// Changes when keepalives go out (a session's keepalive policy calls this as it
    /// learns the NAT's binding lifetime, or the network changes). Takes effect at once.
    pub fn set_keepalive(&mut self, now: Instant, timing: KeepaliveTiming) {
        if self.config.keepalive == timing {
            return;
        }
        log::debug!("ice: keepalive timing {timing:?}");
        self.config.keepalive = timing;
        if !self.closed {
            self.drive(now);
        }
    }

    /// The keepalive timing in use.
    pub fn keepalive(&self) -> KeepaliveTiming {
        self.config.keepalive
    }

    /// The pump is sending something of its own now (the radio is up anyway): the agent
    /// sends now whatever would otherwise need its own wake-up soon (see the module docs).
    /// Poll transmits afterwards.
    pub fn radio_wakeup(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        self.now = Some(self.now.map_or(now, |n| n.max(now)));
        self.coalesce(now);
    }

    /// The transmit `from` → `to` is leaving now.
    pub(super) fn note_sent(&mut self, from: SocketAddr, to: SocketAddr) {
        if let Some(now) = self.now {
            self.last_out.insert((from, to), now);
            if self.woke_at != Some(now) {
                self.coalesce(now);
            }
        }
    }

    /// Most recent outbound packet on a tuple.
    pub(super) fn last_outbound(&self, tuple: (SocketAddr, SocketAddr)) -> Option<Instant> {
        self.last_out.get(&tuple).copied()
    }

    /// The next check due on generation `g`'s selected pair, and its kind.
    pub(super) fn liveness_due(&self, g: &Generation) -> Option<(Instant, CheckKind)> {
        if self.background || self.closed {
            return None;
        }
        let sel = g.selected?;
        let l = &g.liveness;
        let base = l.selected_at?;
        let mut best: Option<(Instant, CheckKind)> = None;
        let mut consider = |t: Instant, k: CheckKind| {
            if best.is_none_or(|(b, _)| t < b) {
                best = Some((t, k));
            }
        };
        if l.check_now {
            consider(self.now.unwrap_or(base), CheckKind::Consent);
        }
        let tuple = g.tuple(sel);
        match self.config.keepalive {
            KeepaliveTiming::Consent => {
                consider(l.next_paced.unwrap_or(base), CheckKind::Consent);
            }
            KeepaliveTiming::Interval {
                interval,
                follower_slack,
            } => {
                if l.data_since_check || l.unanswered_since.is_some() {
                    consider(l.next_paced.unwrap_or(base), CheckKind::Consent);
                }
                let last = self.last_outbound(tuple).map_or(base, |t| t.max(base));
                let slack = if self.controlling {
                    Duration::ZERO
                } else {
                    follower_slack
                };
                consider(
                    after(last, interval.saturating_add(slack)),
                    CheckKind::Keepalive,
                );
            }
        }
        let heard = self.last_inbound(tuple).map_or(base, |t| t.max(base));
        if let Some(d) = self.config.liveness_probe {
            if l.unanswered_since.is_none() {
                consider(after(heard, d), CheckKind::Consent);
            }
        }
        if l.data_in_since_check && l.unanswered_since.is_none() {
            // The peer's data stopped: once per stall, check after half the
            // disconnected timeout (a silent NAT reboot on this side drops it all).
            let half = self.config.disconnected_timeout / 2;
            consider(after(heard, half), CheckKind::Consent);
        }
        best
    }

    /// Sends now what is due within a quarter keepalive interval, and TURN refreshes due
    /// before the next keepalive (see the module docs). Once per instant.
    pub(super) fn coalesce(&mut self, now: Instant) {
        if self.woke_at == Some(now) || self.background || self.closed {
            return;
        }
        self.woke_at = Some(now);
        let KeepaliveTiming::Interval { interval, .. } = self.config.keepalive else {
            return;
        };
        for gid in self.generation_ids() {
            let due = self.generation(gid).and_then(|g| self.liveness_due(g));
            if let Some((t, CheckKind::Keepalive)) = due {
                if t > now && t <= after(now, interval / 4) {
                    self.counters.keepalives_coalesced += 1;
                    self.send_liveness_check(now, gid, CheckKind::Keepalive);
                }
            }
        }
        self.relays_refresh_before(now, after(now, interval));
    }

    /// Liveness bookkeeping when `key` becomes generation `gid`'s selected pair: consent
    /// counts from the last answered request on the pair (it may be older than the
    /// consent timeout: a fallback pair validated long ago is re-checked before data
    /// goes).
    pub(super) fn liveness_on_select(&mut self, now: Instant, gid: u32, key: PairKey) {
        let timeout = self.config.consent_timeout;
        let first = self.consent_delay();
        let Some(g) = self.generation_mut(gid) else {
            return;
        };
        let answered = g.data.get(&key).and_then(|d| d.last_answered_sent);
        g.liveness = super::generation::Liveness {
            selected_at: Some(now),
            consent_expires: answered.map(|s| after(s, timeout)),
            next_paced: Some(after(now, first)),
            ..Default::default()
        };
        if answered.is_none_or(|s| now >= after(s, timeout)) {
            g.liveness.check_now = true;
        } else {
            self.flush_held(now);
        }
    }

    /// The peer was heard on `key` of generation `gid`: when that is not the selected
    /// pair, the peer may have moved; check the selected pair soon (at most once per
    /// consent interval), so that a dead one is found silent quickly.
    pub(super) fn heard_elsewhere(&mut self, gid: u32, key: PairKey) {
        let pace = self.config.consent_interval;
        let now = self.now;
        let Some(g) = self.generation_mut(gid) else {
            return;
        };
        let (Some(sel), Some(now)) = (g.selected, now) else {
            return;
        };
        let l = &mut g.liveness;
        let recent = l.last_check.is_some_and(|t| now < after(t, pace));
        if sel != key && !recent && l.unanswered_since.is_none() {
            l.check_now = true;
        }
    }
}
