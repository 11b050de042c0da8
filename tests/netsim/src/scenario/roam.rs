//! A network change mid-session: Alice's interface is replaced by one with a
//! new address behind new NATs (Wi-Fi → cellular, `Internet::roam`), while
//! both sides send a datagram every 10 ms. The session binds the new socket
//! before closing the old one (make-before-break: its rule, the pump only
//! answers), gathers, trickles the new candidates and checks them; the
//! measure is when data flows again both ways, against the target: one peer
//! round trip plus the signaling delay after the new server-reflexive
//! candidate reached Bob.

use super::bound::{ACCESS, PEER_RTT};
use super::signaling::{SignalingLoss, SIGNALING_DELAY};
use super::{Call, Topology};
use crate::link::LinkSpec;
use crate::presets::Preset;
use pinhole::ice::CandidateType;
use pinhole::session::{Signal, SocketRequest};
use std::net::IpAddr;
use std::time::Duration;

/// What the network change cost.
#[derive(Debug, Clone)]
pub struct RoamOutcome {
    /// When the interface changed (since start).
    pub changed_at: Duration,
    /// When the roaming side's new server-reflexive candidate reached the peer.
    pub candidates_at: Option<Duration>,
    /// First datagram the peer received from the roaming side's new address.
    pub bob_receives_at: Option<Duration>,
    /// First datagram the roaming side received on its new socket.
    pub alice_receives_at: Option<Duration>,
    /// The roaming side's socket requests after the change, in order.
    pub socket_requests: Vec<SocketRequest>,
    /// ICE restarts after the change (either side's session), and signaling messages
    /// sent after it (both directions).
    pub restarts: u64,
    /// Signaling messages either side sent after the change.
    pub signals_after: usize,
    /// The new socket was bound before the old one was closed, and the old
    /// one was closed.
    pub make_before_break: bool,
}

impl RoamOutcome {
    /// Data flows both ways again (the later of the two).
    pub fn flowing_at(&self) -> Option<Duration> {
        Some(self.bob_receives_at?.max(self.alice_receives_at?))
    }

    /// The target: new candidates + one peer round trip + signaling delay.
    pub fn target(&self) -> Option<Duration> {
        Some(self.candidates_at? + PEER_RTT + SIGNALING_DELAY)
    }
}

const TICK: Duration = Duration::from_millis(10);

fn send_both(s: &mut Call) {
    let now = s.net.now();
    for i in 0..2 {
        let _ = s.ep_mut(i).send(now, b"ping");
    }
}

/// Alice behind `alice`, Bob behind `bob`, connected; at 2 s Alice moves
/// behind a fresh `to`.
pub fn run_roam(seed: u64, alice: Preset, bob: Preset, to: Preset) -> RoamOutcome {
    run_roam_side(seed, alice, bob, to, 0)
}

/// As [`run_roam`], with `roamer` (0: Alice, the controlling side; 1: Bob, the
/// controlled side) moving behind `to`.
pub fn run_roam_side(
    seed: u64,
    alice: Preset,
    bob: Preset,
    to: Preset,
    roamer: usize,
) -> RoamOutcome {
    run_roam_policy(seed, alice, bob, to, roamer, RoamPolicy::Session)
}

/// How the roaming side reacts, for comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoamPolicy {
    /// The session's own rules (`core/src/session/network_change.rs`).
    Session,
    /// An ICE restart as soon as the change is known (what a stack without a recovery
    /// policy does), with trickle.
    RestartAtOnce,
    /// The same restart at RFC defaults: no trickle (candidates signaled once gathering
    /// ended) and RFC 8489's 500 ms initial retransmission timeout for checks.
    RestartRfcDefaults,
}

/// As [`run_roam_side`], with the roaming side reacting by `policy`.
pub fn run_roam_policy(
    seed: u64,
    alice: Preset,
    bob: Preset,
    to: Preset,
    roamer: usize,
    policy: RoamPolicy,
) -> RoamOutcome {
    let peer = 1 - roamer;
    let rfc = policy == RoamPolicy::RestartRfcDefaults;
    let tweak = move |mut c: pinhole::session::SessionConfig| {
        if rfc {
            c.ice.check_transaction = pinhole::stun::transaction::TransactionConfig::rfc8489();
        }
        c
    };
    let mut s = Call::start_configured(
        Topology::Pair(alice, bob),
        seed,
        0.0,
        SignalingLoss::default(),
        !rfc,
        &tweak,
    );
    let change = s.start + Duration::from_secs(2);
    while s.net.now() < change {
        let t = (s.net.now() + TICK).min(change);
        s.run(t, |_| false);
        send_both(&mut s);
    }
    let host = if roamer == 0 {
        s.alice.host
    } else {
        s.bob.host
    };
    let old_socket = s.ep(roamer).session().sockets().to_vec();
    let log_at = s.ep(roamer).socket_log.len();
    let restarts_before: u64 = (0..2).map(|i| s.ep(i).session().stats().restarts).sum();
    let (_, _) = s
        .net
        .roam(host, 0, "roamer-cell", to, LinkSpec::latency(ACCESS));
    let new_ips: Vec<IpAddr> = s.net.host_addrs(host);
    if policy != RoamPolicy::Session {
        let now = s.net.now();
        let _ = s
            .ep_mut(roamer)
            .call(now, |session, now| session.restart(now));
    }
    let changed_at = s.elapsed();
    let log_from = s.channel.log.len();
    let end = s.net.now() + Duration::from_secs(5);
    let (mut bob_rx, mut alice_rx) = (None, None);
    while s.net.now() < end && (bob_rx.is_none() || alice_rx.is_none()) {
        let t = s.net.now() + TICK;
        s.run(t, |_| false);
        send_both(&mut s);
        let old = |ip: IpAddr| new_ips.contains(&ip);
        bob_rx = bob_rx.or_else(|| {
            s.ep(peer)
                .data
                .iter()
                .find(|d| {
                    d.at > changed_at
                        && d.via
                            .is_some_and(|(_, from)| !is_old_peer(&s, roamer, from.ip()))
                })
                .map(|d| d.at)
        });
        alice_rx = alice_rx.or_else(|| {
            s.ep(roamer)
                .data
                .iter()
                .find(|d| d.at > changed_at && d.via.is_some_and(|(local, _)| old(local.ip())))
                .map(|d| d.at)
        });
    }
    let candidates_at = s.channel.log[log_from..]
        .iter()
        .find(|(_, to, lines)| {
            *to == peer
                && lines.iter().any(|l| {
                    matches!(Signal::from_json(l), Ok(Some(Signal::Candidate(c)))
                        if c.kind == CandidateType::ServerReflexive)
                })
        })
        .map(|(at, _, _)| *at - s.start);
    let signals_after = s.channel.log[log_from..]
        .iter()
        .map(|(_, _, l)| l.len())
        .sum();
    let restarts = (0..2)
        .map(|i| s.ep(i).session().stats().restarts)
        .sum::<u64>()
        - restarts_before;
    let socket_requests: Vec<SocketRequest> = s.ep(roamer).socket_log[log_at..]
        .iter()
        .map(|(_, r)| r.clone())
        .collect();
    let position = |f: &dyn Fn(&SocketRequest) -> bool| socket_requests.iter().position(f);
    let bind_new =
        position(&|r| matches!(r, SocketRequest::Bind { ip, .. } if new_ips.contains(ip)));
    let close_old =
        position(&|r| matches!(r, SocketRequest::Close { addr } if old_socket.contains(addr)));
    RoamOutcome {
        changed_at,
        candidates_at,
        bob_receives_at: bob_rx,
        alice_receives_at: alice_rx,
        make_before_break: matches!((bind_new, close_old), (Some(b), Some(c)) if b < c),
        socket_requests,
        restarts,
        signals_after,
    }
}

/// Whether `ip` is one of the roaming side's addresses from before the change (its
/// old NAT's public address, or its old host address).
fn is_old_peer(s: &Call, roamer: usize, ip: IpAddr) -> bool {
    let p = if roamer == 0 { &s.alice } else { &s.bob };
    if ip == p.addr {
        return true;
    }
    p.outer_nat()
        .is_some_and(|g| s.net.nat(g).external_addrs().contains(&ip))
}
