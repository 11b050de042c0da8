//! Hard-NAT hole punching: the birthday-paradox punch between an endpoint-independent
//! mapping NAT ("easy" side) and an address(-and-port)-dependent one ("hard" side,
//! a symmetric NAT), where ordinary ICE checks cannot meet: the hard side's check leaves
//! from a fresh external port the easy side's filter never saw, and the easy side's
//! check goes to a port the hard NAT opened only towards the STUN server.
//!
//! # The technique
//!
//! - The **hard** side opens [`PunchConfig::sockets`] extra UDP sockets (its owner binds
//!   them: [`IceAgent::poll_punch_sockets`], [`IceAgent::add_punch_socket`]) and sends one
//!   probe from each to the easy side's server-reflexive address. Each gets a fresh
//!   external port, and the hard NAT now lets that address in on it. The easy NAT drops
//!   the probes (it filters), which costs nothing.
//! - The **easy** side sprays probes from the socket behind its server-reflexive address
//!   to random ports of the hard side's public IP ([`PunchConfig::max_probes`] at most,
//!   after [`PunchConfig::spray_delay`]). Each one opens its own NAT towards that port.
//!   One that hits a port the hard side opened reaches that socket: with N ports open and
//!   M probes the chance of a hit is about 1 − exp(−N·M / 64512).
//! - Against a **sequential** allocator (discovery saw consecutive mappings on close,
//!   increasing ports), the easy side first probes the [`PunchConfig::prediction`] ports
//!   after the last one the hard side reported: the hard side's new sockets take the
//!   next ones, so a handful of probes hit.
//! - Every probe is an ICE connectivity check (USERNAME, MESSAGE-INTEGRITY with the
//!   peer's password, PRIORITY, the role attribute): the peer answers only with the right
//!   credentials, and an answer is an authenticated, symmetric Binding success. A probe
//!   answered makes its pair valid at once (RFC 8445 §7.2.5.3); a probe that reached a
//!   hard-side socket makes that socket an ordinary local socket with one pair, whose
//!   triggered check validates it on that side too. Nomination then runs as always: a
//!   relayed path selected meanwhile keeps carrying data until the controlling side
//!   renominates the direct pair (make-before-break).
//!
//! # When
//!
//! Only when both sides' NAT behaviour is known ([`IceAgent::set_local_nat`],
//! [`IceAgent::set_remote_nat`], from the signaling) and one is endpoint-independent
//! while the other is not; when the ordinary checks of the generation had
//! [`PunchConfig::start_after`] to find a direct pair and none is valid; and with both
//! server-reflexive addresses known. Stopped as soon as a direct pair of the generation
//! is valid, or when the budget is spent (the hard side keeps its sockets for
//! [`PunchConfig::hard_window`]); an ICE restart cancels it. The sockets no pair uses are
//! handed back ([`IceAgent::poll_punch_release`]). Symmetric ↔ symmetric is not tried
//! (~170k probes per side for 99.9%: that is what the relay is for).
//!
//! Rates are bounded both ways ([`PunchConfig::rate`] probes per second, sent in batches
//! every [`TICK`]); everything is counted in [`PunchStats`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::RngCore;

use super::agent::IceAgent;
use super::candidate::{CandidateType, Transport};
pub use super::punch_config::{
    NatBehaviour, PortAllocation, PunchConfig, PunchHit, PunchOutcome, PunchRole, PunchStats,
};
use crate::deadline::after;
use crate::stun::{encode_to_vec, Attribute, Class, MessageType, Method, TransactionId};

/// Probes go out in batches this often (rate × tick per batch).
pub(crate) const TICK: Duration = Duration::from_millis(10);
/// The lowest port probed at random (below are the well-known and registered ports a NAT
/// does not allocate).
const LOWEST_PORT: u16 = 1024;

#[derive(Clone, Copy, Debug)]
struct Probe {
    from: SocketAddr,
    to: SocketAddr,
    sent: Instant,
    /// Its number in this attempt (1 = the first probe).
    n: u64,
}

#[derive(Debug)]
struct Run {
    role: PunchRole,
    gen: u32,
    started: Instant,
    /// Hard: the easy side's mapped address. Easy: the hard side's public IP (port 0).
    target: SocketAddr,
    /// Easy: the socket behind our server-reflexive address.
    spray_from: SocketAddr,
    next_tick: Instant,
    /// Hard: punching sockets given and not (yet) carrying a pair.
    sockets: Vec<SocketAddr>,
    /// Hard: sockets whose probe has not gone out yet.
    unprobed: VecDeque<SocketAddr>,
    /// Hard: binds asked for and not answered.
    binds_pending: usize,
    /// Easy: predicted ports still to probe.
    predicted: VecDeque<u16>,
    /// Easy: ports probed so far.
    sprayed: HashSet<u16>,
    last_probe: Option<Instant>,
}

/// The punch state of an agent (see the module docs).
#[derive(Debug, Default)]
pub(super) struct Punch {
    local: Option<NatBehaviour>,
    remote: Option<NatBehaviour>,
    /// The generation seen with remote credentials, and since when.
    gen_since: Option<(u32, Instant)>,
    /// When a punch starts if nothing changes (everything else is ready).
    start_at: Option<Instant>,
    run: Option<Run>,
    /// The punch of this generation ended (no second attempt without a restart).
    done: bool,
    /// Sockets to ask the owner for: (IP, how many).
    want: Option<(IpAddr, usize)>,
    release: VecDeque<SocketAddr>,
    probes: HashMap<TransactionId, Probe>,
    expiry: VecDeque<(Instant, TransactionId)>,
    /// `stats.probes_sent` when the current attempt started.
    attempt_base: u64,
    stats: PunchStats,
}

impl IceAgent {
    /// What discovery found about our own NAT (`None`: unknown). Both sides' behaviours
    /// decide whether a punch is tried (see [`PunchConfig`](super::PunchConfig)).
    pub fn set_local_nat(&mut self, now: Instant, nat: Option<NatBehaviour>) {
        self.punch.local = nat;
        self.drive(now);
    }

    /// What the peer signaled about its NAT (`None`: unknown).
    pub fn set_remote_nat(&mut self, now: Instant, nat: Option<NatBehaviour>) {
        self.punch.remote = nat;
        if !self.closed {
            self.drive(now);
        }
    }

    /// Our NAT behaviour as last set.
    pub fn local_nat(&self) -> Option<NatBehaviour> {
        self.punch.local
    }

    /// The hard side of a punch needs sockets: bind this many UDP sockets on this IP (any
    /// port) and report each with [`IceAgent::add_punch_socket`] (or
    /// [`IceAgent::punch_socket_failed`]).
    #[must_use = "the hard side of a punch needs these sockets bound"]
    pub fn poll_punch_sockets(&mut self) -> Option<(IpAddr, usize)> {
        self.punch.want.take()
    }

    /// A socket bound for the punch. It is not offered as a candidate; a probe goes out
    /// from it, and it becomes an ordinary (unsignaled) local socket if the peer's probe
    /// reaches it.
    pub fn add_punch_socket(&mut self, now: Instant, addr: SocketAddr) {
        let Some(run) = self
            .punch
            .run
            .as_mut()
            .filter(|r| r.role == PunchRole::Hard)
        else {
            // Too late (the punch ended): hand it back.
            self.punch.release.push_back(addr);
            return;
        };
        run.binds_pending = run.binds_pending.saturating_sub(1);
        run.sockets.push(addr);
        run.unprobed.push_back(addr);
        self.punch.stats.sockets_opened += 1;
        self.drive(now);
    }

    /// A punch socket could not be bound.
    pub fn punch_socket_failed(&mut self) {
        if let Some(run) = self.punch.run.as_mut() {
            run.binds_pending = run.binds_pending.saturating_sub(1);
        }
        self.punch.stats.sockets_failed += 1;
    }

    /// A punch socket that carries no pair and is not needed any more: close it.
    #[must_use = "a released punch socket must be closed"]
    pub fn poll_punch_release(&mut self) -> Option<SocketAddr> {
        self.punch.release.pop_front()
    }

    /// The owner closed a punch socket (or the OS did).
    pub fn remove_punch_socket(&mut self, addr: SocketAddr) {
        if let Some(run) = self.punch.run.as_mut() {
            run.sockets.retain(|s| *s != addr);
            run.unprobed.retain(|s| *s != addr);
        }
    }

    /// The punch's counters and last outcome.
    pub fn punch_stats(&self) -> PunchStats {
        self.punch.stats
    }

    /// Whether `addr` is a punch socket that does not carry a pair (yet).
    pub(super) fn is_punch_socket(&self, addr: SocketAddr) -> bool {
        self.punch
            .run
            .as_ref()
            .is_some_and(|r| r.sockets.contains(&addr))
    }

    /// When the punch needs `handle_timeout`.
    pub(super) fn punch_timeout(&self) -> Option<Instant> {
        let expiry = self
            .punch
            .expiry
            .front()
            .map(|(t, _)| after(*t, self.config.punch.linger));
        if let Some(run) = &self.punch.run {
            let end = self.punch_end(run);
            let tick = self.more_to_send(run).then_some(run.next_tick);
            return [tick, end, expiry].into_iter().flatten().min();
        }
        [self.punch.start_at, expiry].into_iter().flatten().min()
    }

    /// Whether the attempt still has probes to send.
    fn more_to_send(&self, run: &Run) -> bool {
        match run.role {
            PunchRole::Hard => !run.unprobed.is_empty(),
            PunchRole::Easy => self.punch.stats.probes_sent < self.config.punch.max_probes as u64,
        }
    }

    /// When the current attempt gives up.
    fn punch_end(&self, run: &Run) -> Option<Instant> {
        let c = &self.config.punch;
        match run.role {
            PunchRole::Hard => Some(after(run.started, c.hard_window())),
            PunchRole::Easy => (self.punch.stats.probes_sent >= c.max_probes as u64)
                .then_some(after(run.last_probe.unwrap_or(run.started), c.linger)),
        }
    }

    /// Our role, from both sides' NAT behaviour.
    fn punch_role(&self) -> Option<PunchRole> {
        let (l, r) = (self.punch.local?, self.punch.remote?);
        if l.is_easy() && r.is_hard() {
            Some(PunchRole::Easy)
        } else if l.is_hard() && r.is_easy() {
            Some(PunchRole::Hard)
        } else {
            None
        }
    }

    /// A direct pair of the current generation is valid.
    fn has_direct_valid(&self) -> bool {
        let g = &self.current;
        g.checklist.pairs().iter().any(|p| {
            g.is_valid((p.local, p.remote))
                && g.checklist.local(p.local).candidate.kind != CandidateType::Relayed
                && g.checklist.remote(p.remote).kind != CandidateType::Relayed
        })
    }

    /// Starts, runs and stops the punch (from `drive`).
    pub(super) fn run_punch(&mut self, now: Instant) {
        if self.closed || !self.config.punch.enabled {
            return;
        }
        if self
            .punch
            .gen_since
            .is_some_and(|(g, _)| g != self.current.id)
        {
            self.punch_finish(now, PunchOutcome::Cancelled);
            self.punch.gen_since = None;
            self.punch.done = false;
        }
        self.punch_expire(now);
        if self.current.remote.is_none() {
            return;
        }
        let since = self.punch.gen_since.get_or_insert((self.current.id, now)).1;
        self.punch.start_at = None;
        if self.punch.run.is_some() {
            return self.punch_step(now);
        }
        if self.punch.done
            || self.failed
            || self.config.transport_policy == super::config::TransportPolicy::Relay
            || self.has_direct_valid()
        {
            return;
        }
        let Some(role) = self.punch_role() else {
            return;
        };
        let at = after(since, self.config.punch.start_after);
        if now < at {
            self.punch.start_at = Some(at);
            return;
        }
        self.punch_start(now, role);
    }

    /// The peer's best server-reflexive IPv4 address (the mapped address of its socket).
    fn remote_srflx(&self) -> Option<SocketAddr> {
        let g = &self.current;
        g.checklist
            .remotes()
            .iter()
            .filter(|r| r.kind == CandidateType::ServerReflexive && r.transport == Transport::Udp)
            .filter_map(|r| Some((r.priority, SocketAddr::new(r.address.ip()?, r.port))))
            .filter(|(_, a)| a.is_ipv4())
            .max_by_key(|(p, _)| *p)
            .map(|(_, a)| a)
    }

    /// The base of our best server-reflexive IPv4 candidate.
    fn local_srflx_base(&self) -> Option<SocketAddr> {
        self.current
            .checklist
            .locals()
            .iter()
            .filter(|l| l.candidate.kind == CandidateType::ServerReflexive && l.base.is_ipv4())
            .filter(|l| self.sockets.iter().any(|s| s.addr == l.base))
            .max_by_key(|l| l.candidate.priority)
            .map(|l| l.base)
    }

    fn punch_start(&mut self, now: Instant, role: PunchRole) {
        let (Some(remote), Some(base)) = (self.remote_srflx(), self.local_srflx_base()) else {
            return; // waits for the server-reflexive candidates
        };
        let c = self.config.punch;
        let mut run = Run {
            role,
            gen: self.current.id,
            started: now,
            target: remote,
            spray_from: base,
            next_tick: now,
            sockets: Vec::new(),
            unprobed: VecDeque::new(),
            binds_pending: 0,
            predicted: VecDeque::new(),
            sprayed: HashSet::new(),
            last_probe: None,
        };
        match role {
            PunchRole::Hard => {
                run.binds_pending = c.sockets;
                self.punch.want = Some((base.ip(), c.sockets));
            }
            PunchRole::Easy => {
                run.target = SocketAddr::new(remote.ip(), 0);
                run.next_tick = after(now, c.spray_delay);
                if let Some(PortAllocation::Sequential { last }) =
                    self.punch.remote.map(|r| r.allocation)
                {
                    run.predicted = (1..=c.prediction as u32)
                        .map(|k| next_port(last, k))
                        .collect();
                }
            }
        }
        log::debug!(
            "ice: hard-NAT punch as the {} side: target {}, from {}",
            role.as_str(),
            run.target,
            base
        );
        let s = &mut self.punch.stats;
        s.role = Some(role);
        s.outcome = PunchOutcome::Running;
        s.started = Some(now);
        s.ended = None;
        s.hit = None;
        s.attempts += 1;
        self.punch.attempt_base = s.probes_sent;
        self.punch.run = Some(run);
    }

    fn punch_step(&mut self, now: Instant) {
        let Some((gen, end, next_tick)) = self
            .punch
            .run
            .as_ref()
            .map(|r| (r.gen, self.punch_end(r), r.next_tick))
        else {
            return;
        };
        if gen != self.current.id {
            return self.punch_finish(now, PunchOutcome::Cancelled);
        }
        if self.has_direct_valid() {
            return self.punch_finish(now, PunchOutcome::Succeeded);
        }
        if end.is_some_and(|end| now >= end) {
            return self.punch_finish(now, PunchOutcome::Exhausted);
        }
        if now < next_tick {
            return;
        }
        let c = self.config.punch;
        let batch = ((f64::from(c.rate) * TICK.as_secs_f64()).round() as usize).max(1);
        for _ in 0..batch {
            let Some((from, to, predicted)) = self.next_probe() else {
                break;
            };
            self.punch_probe(now, from, to);
            if predicted {
                self.punch.stats.predicted_probes += 1;
            }
        }
        if let Some(run) = self.punch.run.as_mut() {
            run.next_tick = after(now, TICK);
        }
    }

    /// The next probe to send: (from, to, predicted).
    fn next_probe(&mut self) -> Option<(SocketAddr, SocketAddr, bool)> {
        let max = self.config.punch.max_probes as u64;
        let sent = self.punch.stats.probes_sent;
        let run = self.punch.run.as_mut()?;
        match run.role {
            PunchRole::Hard => {
                let from = run.unprobed.pop_front()?;
                Some((from, run.target, false))
            }
            PunchRole::Easy => {
                if sent >= max || run.sprayed.len() >= usize::from(u16::MAX - LOWEST_PORT) {
                    return None;
                }
                let ip = run.target.ip();
                while let Some(p) = run.predicted.pop_front() {
                    if run.sprayed.insert(p) {
                        return Some((run.spray_from, SocketAddr::new(ip, p), true));
                    }
                }
                loop {
                    let span = u32::from(u16::MAX - LOWEST_PORT) + 1;
                    let p = LOWEST_PORT + (self.rng.next_u32() % span) as u16;
                    if run.sprayed.insert(p) {
                        return Some((run.spray_from, SocketAddr::new(ip, p), false));
                    }
                }
            }
        }
    }

    /// One probe: a connectivity check (not retransmitted) from `from` to `to`.
    fn punch_probe(&mut self, now: Instant, from: SocketAddr, to: SocketAddr) {
        let g = &self.current;
        let Some((rc, rkey)) = &g.remote else { return };
        let username = format!("{}:{}", rc.ufrag, g.local.ufrag);
        let pref = self.socket_pref(from);
        let priority = self.prflx_priority(pref);
        let role = if self.controlling {
            Attribute::IceControlling(self.tie_breaker)
        } else {
            Attribute::IceControlled(self.tie_breaker)
        };
        let tid = TransactionId::random(&mut *self.rng);
        let Ok(bytes) = encode_to_vec(
            MessageType::new(Class::Request, Method::BINDING),
            tid,
            &[
                Attribute::Username(&username),
                Attribute::Priority(priority),
                role,
            ],
            Some(rkey.as_bytes()),
            true,
        ) else {
            return;
        };
        self.outbox
            .push_back(super::agent::Transmit { from, to, bytes });
        self.punch.stats.probes_sent += 1;
        self.punch.probes.insert(
            tid,
            Probe {
                from,
                to,
                sent: now,
                n: self.punch.stats.probes_sent - self.punch.attempt_base,
            },
        );
        self.punch.expiry.push_back((now, tid));
        if let Some(run) = self.punch.run.as_mut() {
            run.last_probe = Some(now);
        }
    }

    /// Forgets probes whose answer can no longer count.
    fn punch_expire(&mut self, now: Instant) {
        let linger = self.config.punch.linger;
        while let Some(&(sent, tid)) = self.punch.expiry.front() {
            if now < after(sent, linger) {
                break;
            }
            self.punch.expiry.pop_front();
            self.punch.probes.remove(&tid);
        }
    }

    fn punch_finish(&mut self, now: Instant, outcome: PunchOutcome) {
        let Some(run) = self.punch.run.take() else {
            return;
        };
        log::debug!(
            "ice: hard-NAT punch ({} side) {} after {:?}, {} probes",
            run.role.as_str(),
            outcome.as_str(),
            now - run.started,
            self.punch.stats.probes_sent
        );
        self.punch.done = true;
        self.punch.want = None;
        self.punch.release.extend(run.sockets);
        if outcome != PunchOutcome::Succeeded {
            self.punch.probes.clear();
            self.punch.expiry.clear();
        }
        self.punch.stats.outcome = outcome;
        self.punch.stats.ended = Some(now);
    }
}

/// The `k`-th port after `last`, wrapping within the unprivileged range.
fn next_port(last: u16, k: u32) -> u16 {
    let span = u32::from(u16::MAX - LOWEST_PORT) + 1;
    let base = u32::from(last.max(LOWEST_PORT) - LOWEST_PORT);
    LOWEST_PORT + ((base + k) % span) as u16
}

#[path = "punch_hit.rs"]
mod hit;

#[cfg(test)]
#[path = "punch_tests.rs"]
mod tests;
