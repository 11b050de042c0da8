//! The session's keepalive glue: it owns the [`KeepalivePolicy`], feeds it the network
//! kind, the path, the agent's evidence of loss and the binding-lifetime probe's
//! answers, and sets the agent's keepalive timing from it.
//!
//! The probe ([`LifetimeProbe::single_trial`], RFC 5780 §4.6) needs two spare UDP
//! sockets behind the same NAT as the path: the session asks the pump for them with
//! ordinary [`SocketRequest::Bind`]s (port 0) on the path's local address and keeps them
//! out of ICE (never gathered, never offered, not in [`Session::sockets`]); they are
//! closed when the path moves to another address, when the probe cannot run, and when
//! the session closes. The STUN server is the first configured one of the path's
//! family; it must honour RESPONSE-PORT (`pinhole stun-server`, coturn with two IPs),
//! otherwise the first trial says so and the policy keeps its start interval.
//!
//! Trials line up with radio wake-ups: a trial that is due starts when the agent next
//! sends something (a keepalive, at the latest one interval later), and whenever the
//! probe sends, the agent is told the radio is up
//! ([`IceAgent::radio_wakeup`](crate::ice::IceAgent::radio_wakeup)) so a keepalive or
//! TURN refresh due soon goes in the same burst. Nothing runs in the background.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::SeedableRng;

use super::events::SocketRequest;
use super::Session;
use crate::ice::{Counters, KeepaliveTiming};
use crate::keepalive::{KeepaliveConfig, KeepalivePolicy, Loss, PolicyStats};
use crate::nat::LifetimeProbe;
use crate::stun::transaction::TransactionConfig;
use crate::Transmit;

/// The probe's requests: at 0 and 0.5 s, given up at 1.5 s. An unanswered request is
/// how a trial learns that a mapping died, so every retransmission is a packet spent on
/// each such trial; one is enough to tell a lost packet from a dead mapping on a
/// healthy network.
const PROBE_TRANSACTION: TransactionConfig = TransactionConfig {
    rto: Duration::from_millis(500),
    max_rto: None,
    max_transmissions: 2,
    final_wait_factor: 2,
};

/// The keepalive part of [`SessionStats`](super::SessionStats).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeepaliveStats {
    /// The policy's state: interval, phase, what the probe found, losses.
    pub policy: PolicyStats,
    /// Keepalive checks the agent sent (any packet counts, so an active path sends few).
    pub keepalives_sent: u64,
    /// Datagrams the binding-lifetime probe sent from its spare sockets.
    pub probe_datagrams: u64,
    /// Datagrams that waited for consent to be refreshed before leaving (RFC 7675).
    pub held: u64,
}

/// A trial in progress, and its idle time.
struct Trial {
    idle: Duration,
    probe: LifetimeProbe,
}

/// The session's keepalive state.
pub(super) struct KeepaliveState {
    policy: KeepalivePolicy,
    rng: SmallRng,
    /// The host address the path leaves from (the spare sockets live there).
    ip: Option<IpAddr>,
    x: Option<SocketAddr>,
    y: Option<SocketAddr>,
    /// Spare binds asked for and not answered yet.
    pending: Vec<IpAddr>,
    /// Spare binds asked for and no longer wanted: closed when they are answered (never
    /// mistaken for ICE sockets).
    unwanted: Vec<IpAddr>,
    requests: VecDeque<SocketRequest>,
    transmits: VecDeque<Transmit>,
    trial: Option<Trial>,
    /// A due trial starts at the next radio wake-up, or at this time.
    start_by: Option<Instant>,
    /// A trial just ended (a wake-up): the next one may start at once.
    start_now: bool,
    /// What the agent's counters said last time (evidence comes as their increase).
    seen: Counters,
    applied: Option<KeepaliveTiming>,
    probe_datagrams: u64,
}

impl KeepaliveState {
    pub(super) fn new(config: KeepaliveConfig, rng_seed: u64) -> Self {
        KeepaliveState {
            policy: KeepalivePolicy::new(config, crate::session::NetworkKind::Unknown),
            rng: SmallRng::seed_from_u64(rng_seed),
            ip: None,
            x: None,
            y: None,
            pending: Vec::new(),
            unwanted: Vec::new(),
            requests: VecDeque::new(),
            transmits: VecDeque::new(),
            trial: None,
            start_by: None,
            start_now: false,
            seen: Counters::default(),
            applied: None,
            probe_datagrams: 0,
        }
    }

    /// Whether `addr` is one of the probe's sockets.
    pub(super) fn owns(&self, addr: SocketAddr) -> bool {
        self.x == Some(addr) || self.y == Some(addr)
    }

    /// Whether a bind answer for `ip` is the probe's.
    pub(super) fn expects(&self, ip: IpAddr) -> bool {
        self.pending.contains(&ip) || self.unwanted.contains(&ip)
    }

    pub(super) fn poll_request(&mut self) -> Option<SocketRequest> {
        self.requests.pop_front()
    }

    pub(super) fn poll_transmit(&mut self) -> Option<Transmit> {
        let t = self.transmits.pop_front()?;
        self.probe_datagrams += 1;
        Some(t)
    }

    /// The earliest time something of the probe's is due.
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        let trial = self.trial.as_ref().and_then(|t| t.probe.poll_timeout());
        [trial, self.start_by, self.policy.next_trial_at()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Closes the spare sockets (and forgets the trial).
    fn close_sockets(&mut self) {
        if self.trial.take().is_some() {
            self.policy.trial_abandoned();
        }
        self.start_by = None;
        for a in [self.x.take(), self.y.take()].into_iter().flatten() {
            self.requests.push_back(SocketRequest::Close { addr: a });
        }
        self.unwanted.append(&mut self.pending);
    }

    /// The spare sockets are bound and idle.
    fn ready(&self) -> bool {
        self.x.is_some() && self.y.is_some()
    }

    fn pump(&mut self, now: Instant) {
        let Some(t) = &mut self.trial else {
            return;
        };
        while let Some(tx) = t.probe.poll_transmit() {
            self.transmits.push_back(tx);
        }
        if t.probe.is_done() {
            let Trial { idle, probe } = self.trial.take().expect("present");
            match probe.result() {
                Some(Ok(report)) => {
                    let survived = report.trials.last().is_some_and(|t| t.survived);
                    log::debug!("keepalive: trial of {idle:?}: survived {survived}");
                    self.policy.on_trial(now, idle, survived);
                    // The trial's end was a wake-up of its own: the next one (if the
                    // search goes on) starts in the same burst.
                    self.start_now = true;
                }
                Some(Err(e)) => {
                    log::info!("keepalive: binding-lifetime probe unavailable: {e}");
                    self.policy.probe_unavailable(e.to_string());
                    self.close_sockets();
                }
                None => {}
            }
        }
    }
}

impl Session {
    /// The keepalive policy's state (also in [`Session::stats`]).
    pub fn keepalive_stats(&self) -> KeepaliveStats {
        let k = &self.keepalive;
        let c = self.agent.counters();
        KeepaliveStats {
            policy: k.policy.stats(),
            keepalives_sent: c.keepalives_sent,
            probe_datagrams: k.probe_datagrams,
            held: c.held,
        }
    }

    /// The app went to the background: a running trial is abandoned (its idle time would
    /// be wrong) and the spare sockets are closed (iOS closes a suspended app's sockets
    /// anyway); they are bound again when a trial is wanted after the app comes back.
    pub(super) fn keepalive_background(&mut self) {
        let k = &mut self.keepalive;
        k.close_sockets();
        k.transmits.clear();
    }

    /// The session closes: the spare sockets go too.
    pub(super) fn keepalive_close(&mut self) {
        self.keepalive.close_sockets();
        self.keepalive.transmits.clear();
    }

    /// The network kind changed (from `network_changed`).
    pub(super) fn keepalive_network(&mut self, now: Instant) {
        self.keepalive.policy.set_network(self.network.hint.kind);
        self.run_keepalive(now);
    }

    /// The host address the path leaves from: its own socket's, or for a path through
    /// our TURN relay over UDP, the relay's socket's (`None` over TCP/TLS: no UDP NAT
    /// mapping to keep).
    fn path_host_ip(&self) -> Option<IpAddr> {
        let p = self.path.as_ref()?;
        if self.sockets.all().contains(&p.local_socket) {
            return Some(p.local_socket.ip());
        }
        self.agent
            .relay_stats()
            .iter()
            .find(|r| r.relayed == Some(p.local_socket))
            .and_then(|r| r.socket)
            .map(|s| s.ip())
    }

    /// A datagram on one of the probe's sockets.
    pub(super) fn keepalive_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        from: SocketAddr,
        data: &[u8],
    ) {
        let k = &mut self.keepalive;
        if let Some(t) = &mut k.trial {
            t.probe.handle_input(now, local, from, data);
        }
        k.pump(now);
    }

    /// A bind answer for the probe.
    pub(super) fn keepalive_bound(&mut self, now: Instant, addr: SocketAddr) {
        let k = &mut self.keepalive;
        if let Some(i) = k.pending.iter().position(|ip| *ip == addr.ip()) {
            k.pending.remove(i);
        } else if let Some(i) = k.unwanted.iter().position(|ip| *ip == addr.ip()) {
            k.unwanted.remove(i);
            k.requests.push_back(SocketRequest::Close { addr });
            return;
        }
        if k.ip != Some(addr.ip()) || k.ready() {
            k.requests.push_back(SocketRequest::Close { addr });
            return;
        }
        if k.x.is_none() {
            k.x = Some(addr);
        } else {
            k.y = Some(addr);
        }
        let _ = now;
    }

    /// A spare bind failed or a spare socket closed: the probe cannot run.
    pub(super) fn keepalive_socket_lost(&mut self, ip: IpAddr, why: &str) {
        let k = &mut self.keepalive;
        if let Some(i) = k.unwanted.iter().position(|p| *p == ip) {
            k.unwanted.remove(i);
            return;
        }
        k.pending.retain(|p| *p != ip);
        k.policy
            .probe_unavailable(format!("no spare socket for the lifetime probe: {why}"));
        k.close_sockets();
    }

    /// Something the agent sent is leaving now: the radio is up, a waiting trial starts.
    pub(super) fn keepalive_wakeup(&mut self, now: Instant) {
        if self.keepalive.start_by.is_some() {
            self.start_trial(now);
        }
    }

    /// The probe sends now: the agent sends with it what would need a wake-up soon.
    pub(super) fn keepalive_sending(&mut self, now: Instant) {
        self.agent.radio_wakeup(now);
    }

    /// Time passed.
    pub(super) fn keepalive_timeout(&mut self, now: Instant) {
        let k = &mut self.keepalive;
        if let Some(t) = &mut k.trial {
            if t.probe.poll_timeout().is_some_and(|d| d <= now) {
                t.probe.handle_timeout(now);
            }
        }
        k.pump(now);
        if k.start_by.is_some_and(|t| now >= t) {
            self.start_trial(now);
        }
    }

    fn start_trial(&mut self, now: Instant) {
        let server = self.probe_server();
        let k = &mut self.keepalive;
        k.start_by = None;
        if k.trial.is_some() || self.network.background {
            return;
        }
        let (Some(x), Some(y)) = (k.x, k.y) else {
            return;
        };
        let Some(idle) = k.policy.next_trial(now) else {
            return;
        };
        let Some(server) = server else {
            return;
        };
        match LifetimeProbe::single_trial(now, server, [x, y], idle, PROBE_TRANSACTION, &mut k.rng)
        {
            Ok(probe) => {
                log::debug!("keepalive: probe trial of {idle:?} against {server}");
                k.policy.trial_started();
                k.trial = Some(Trial { idle, probe });
                k.pump(now);
            }
            Err(e) => k.policy.probe_unavailable(e.to_string()),
        }
    }

    /// The STUN server the probe uses: the first of the path's family.
    fn probe_server(&self) -> Option<SocketAddr> {
        let ip = self.keepalive.ip?;
        self.agent
            .config()
            .stun_servers
            .iter()
            .copied()
            .find(|s| s.is_ipv4() == ip.is_ipv4())
    }

    /// Feeds the policy what changed (path, evidence of loss), runs the probe's
    /// bookkeeping and applies the policy's timing to the agent. Called whenever the
    /// session is polled (so after every input).
    pub(super) fn run_keepalive(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        // Evidence of loss, from the agent's counters.
        let c = self.agent.counters();
        let k = &mut self.keepalive;
        let evidence = [
            (
                c.keepalive_timeouts > k.seen.keepalive_timeouts,
                Loss::Unanswered,
            ),
            (c.mapped_changes > k.seen.mapped_changes, Loss::Remapped),
            (c.consent_lost > k.seen.consent_lost, Loss::ConsentLost),
        ];
        k.seen = c;
        if let Some((_, loss)) = evidence.iter().find(|(hit, _)| *hit) {
            k.policy.on_loss(now, *loss);
            k.trial = None;
        }
        // The path's NAT.
        let ip = self.path_host_ip();
        let k = &mut self.keepalive;
        if ip != k.ip && (ip.is_some() || self.path.is_none()) {
            if k.ip.is_some() && ip.is_some() {
                // Another address, so another NAT: what was learnt does not apply.
                k.policy.reset();
            }
            k.close_sockets();
            k.ip = ip;
        }
        self.keepalive_sockets(now);
        let k = &mut self.keepalive;
        let timing = k.policy.timing();
        if k.applied != Some(timing) {
            k.applied = Some(timing);
            self.agent.set_keepalive(now, timing);
        }
    }

    /// Asks for the spare sockets when a trial is wanted, and schedules it.
    fn keepalive_sockets(&mut self, now: Instant) {
        let wants = self.keepalive.policy.next_trial(now).is_some();
        let server = self.probe_server();
        let background = self.network.background;
        let interval = self.keepalive.policy.interval();
        let k = &mut self.keepalive;
        let start_now = std::mem::take(&mut k.start_now);
        if !wants || background || self.path.is_none() {
            return;
        }
        let Some(ip) = k.ip else {
            return;
        };
        if server.is_none() {
            k.policy
                .probe_unavailable("no STUN server of the path's address family is configured");
            return;
        }
        if !k.ready() {
            let have = k.x.iter().chain(k.y.iter()).count() + k.pending.len();
            for _ in have..2 {
                k.pending.push(ip);
                k.requests.push_back(SocketRequest::Bind { ip, port: 0 });
            }
            return;
        }
        if start_now && k.trial.is_none() {
            self.start_trial(now);
            return;
        }
        if k.trial.is_none() && k.start_by.is_none() {
            // Start with the next radio wake-up, at the latest one interval from now.
            k.start_by = Some(now + interval);
        }
    }
}
