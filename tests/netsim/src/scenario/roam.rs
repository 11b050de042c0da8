//! A network change mid-session: Alice's interface is replaced by one with a
//! new address behind new NATs (Wi-Fi → cellular, `Internet::roam`), while
//! both sides send a datagram every 10 ms. The agent adds the new socket
//! before removing the old one, gathers, trickles the new candidates and
//! checks them; the measure is when data flows again both ways, against the
//! target: one peer round trip plus the signaling delay after the new
//! server-reflexive candidate reached Bob.

use super::bound::{ACCESS, PEER_RTT};
use super::signaling::{SignalingLoss, SIGNALING_DELAY};
use super::{Session, Topology};
use crate::ice_endpoint::Signal;
use crate::link::LinkSpec;
use crate::presets::Preset;
use pinhole::ice::CandidateType;
use std::net::IpAddr;
use std::time::Duration;

/// What the network change cost.
#[derive(Debug, Clone)]
pub struct RoamOutcome {
    /// When the interface changed (since start).
    pub changed_at: Duration,
    /// When Alice's new server-reflexive candidate reached Bob.
    pub candidates_at: Option<Duration>,
    /// First datagram Bob received from Alice's new address.
    pub bob_receives_at: Option<Duration>,
    /// First datagram Alice received on her new socket.
    pub alice_receives_at: Option<Duration>,
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

fn send_both(s: &mut Session) {
    let now = s.net.now();
    for i in 0..2 {
        let _ = s.ep_mut(i).send_data(now, b"ping");
    }
}

/// Alice behind `alice`, Bob behind `bob`, connected; at 2 s Alice moves
/// behind a fresh `to`.
pub fn run_roam(seed: u64, alice: Preset, bob: Preset, to: Preset) -> RoamOutcome {
    let mut s = Session::start(
        Topology::Pair(alice, bob),
        seed,
        0.0,
        SignalingLoss::default(),
        true,
    );
    let change = s.start + Duration::from_secs(2);
    while s.net.now() < change {
        let t = (s.net.now() + TICK).min(change);
        s.run(t, |_| false);
        send_both(&mut s);
    }
    let host = s.alice.host;
    let (_, _) = s
        .net
        .roam(host, 0, "alice-cell", to, LinkSpec::latency(ACCESS));
    let new_ips: Vec<IpAddr> = s.net.host_addrs(host);
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
            s.ep(1)
                .data
                .iter()
                .find(|(at, _, from, _)| *at > changed_at && !is_old_peer(&s, from.ip()))
                .map(|d| d.0)
        });
        alice_rx = alice_rx.or_else(|| {
            s.ep(0)
                .data
                .iter()
                .find(|(at, local, _, _)| *at > changed_at && old(local.ip()))
                .map(|d| d.0)
        });
    }
    let candidates_at = s.channel.log[log_from..]
        .iter()
        .find(|(_, to, lines)| {
            *to == 1
                && lines.iter().any(
                    |l| matches!(l, Signal::Candidate(c) if c.kind == CandidateType::ServerReflexive),
                )
        })
        .map(|(at, _, _)| *at - s.start);
    RoamOutcome {
        changed_at,
        candidates_at,
        bob_receives_at: bob_rx,
        alice_receives_at: alice_rx,
    }
}

/// Whether `ip` is one of Alice's addresses from before the change (her old
/// NAT's public address, or her old host address).
fn is_old_peer(s: &Session, ip: IpAddr) -> bool {
    if ip == s.alice.addr {
        return true;
    }
    s.alice
        .outer_nat()
        .is_some_and(|g| s.net.nat(g).external_addrs().contains(&ip))
}
