//! Network change in netsim (issue: mobile-grade runtime). One side moves to a new network
//! mid-call (Wi-Fi → a carrier CGNAT) while both send a datagram every 10 ms; data must
//! flow again both ways, fast, without a restart when none is needed, whichever side moves.
//! Plus: an interface flapping settles to at most one restart; a session back from the
//! background restarts once and carries data again; an ICE restart at once (what a stack
//! without this policy does) as the comparison.
//!
//! The bounds, in virtual time after the change (constants from `scenario::bound`):
//! - the peer's NAT lets the new address in (no signaling needed): the roaming side sends
//!   on a checked pair after one peer round trip, so its data reaches the peer by
//!   1.5 × PEER_RTT and the peer's data (it follows the roaming side) reaches it by
//!   2 × PEER_RTT;
//! - the peer's NAT filters (it must send to the new public address first): the STUN
//!   round trip that learns that address + the signaling delay that carries it + one
//!   peer round trip + one Ta: the roaming side re-probes the peer's candidate once per
//!   Ta while recovering, and the first probe to arrive after the peer's own check opened
//!   its NAT passes and is answered;
//! - plus one 10 ms send tick (the measure is the first datagram received).

use std::time::Duration;

use pinhole_netsim::scenario::bound::{PACING, PEER_RTT, STUN_RTT};
use pinhole_netsim::scenario::roam::{run_roam_side, RoamOutcome};
use pinhole_netsim::scenario::signaling::SIGNALING_DELAY;
use pinhole_netsim::Preset;

const TICK: Duration = Duration::from_millis(10);

fn cgnat() -> Preset {
    Preset::CarrierCgnat(Duration::from_secs(60))
}

fn roam(peer_nat: Preset, roamer: usize, seed: u64) -> RoamOutcome {
    let (alice, bob) = if roamer == 0 {
        (Preset::PortRestrictedCone, peer_nat)
    } else {
        (peer_nat, Preset::PortRestrictedCone)
    };
    run_roam_side(seed, alice, bob, cgnat(), roamer)
}

fn after(o: &RoamOutcome, t: Option<Duration>) -> Duration {
    t.expect("data flows again").saturating_sub(o.changed_at)
}

#[test]
fn no_signaling_needed_data_flows_within_one_round_trip_both_roles() {
    for roamer in [0, 1] {
        let o = roam(Preset::FullCone, roamer, 3 + roamer as u64);
        let (to_peer, to_roamer) = (after(&o, o.bob_receives_at), after(&o, o.alice_receives_at));
        println!("full-cone peer, roamer {}: to peer +{to_peer:?}, to roamer +{to_roamer:?}, restarts {}", ["controlling", "controlled"][roamer], o.restarts);
        assert!(
            to_peer <= PEER_RTT * 3 / 2 + TICK,
            "roamer {roamer}: {to_peer:?}"
        );
        assert!(
            to_roamer <= PEER_RTT * 2 + TICK,
            "roamer {roamer}: {to_roamer:?}"
        );
        assert_eq!(
            o.restarts, 0,
            "roamer {roamer}: no restart when the current generation recovers"
        );
        assert!(
            o.make_before_break,
            "roamer {roamer}: {:?}",
            o.socket_requests
        );
    }
}

#[test]
fn a_filtering_peer_needs_the_new_address_signaled_then_one_more_round_trip() {
    let bound = STUN_RTT + SIGNALING_DELAY + PEER_RTT + PACING;
    for roamer in [0, 1] {
        let o = roam(Preset::PortRestrictedCone, roamer, 5 + roamer as u64);
        let (to_peer, to_roamer) = (after(&o, o.bob_receives_at), after(&o, o.alice_receives_at));
        println!("port-restricted peer, roamer {}: to peer +{to_peer:?}, to roamer +{to_roamer:?}, restarts {}", ["controlling", "controlled"][roamer], o.restarts);
        assert!(
            to_peer <= bound + TICK,
            "roamer {roamer}: {to_peer:?} > {bound:?}"
        );
        assert!(
            to_roamer <= bound + PEER_RTT / 2 + TICK,
            "roamer {roamer}: {to_roamer:?}"
        );
        assert_eq!(o.restarts, 0);
        assert!(o.make_before_break);
    }
}

use pinhole::session::SessionState;
use pinhole_netsim::scenario::signaling::SignalingLoss;
use pinhole_netsim::scenario::{Call, Topology};

/// Connected Alice (port-restricted) and Bob (full cone), both sending every 10 ms until
/// `until` (since start).
fn call_sending(seed: u64, until: Duration) -> Call {
    let mut c = Call::start(
        Topology::Pair(Preset::PortRestrictedCone, Preset::FullCone),
        seed,
        0.0,
        SignalingLoss::default(),
        true,
    );
    run_sending(&mut c, until, true);
    c
}

fn run_sending(c: &mut Call, until: Duration, both: bool) {
    let end = c.start + until;
    while c.net.now() < end {
        let t = (c.net.now() + TICK).min(end);
        c.run(t, |_| false);
        let now = c.net.now();
        for i in 0..if both { 2 } else { 1 } {
            let _ = c.ep_mut(i).send(now, b"tick");
        }
    }
}

fn restarts(c: &Call) -> u64 {
    (0..2).map(|i| c.ep(i).session().stats().restarts).sum()
}

fn received_after(c: &Call, i: usize, t: Duration) -> usize {
    c.ep(i).data.iter().filter(|d| d.at > t).count()
}

#[test]
fn a_flapping_interface_settles_to_at_most_one_restart() {
    let mut c = call_sending(11, Duration::from_secs(2));
    assert_eq!(c.ep(0).session().state(), SessionState::Connected);
    let before = restarts(&c);
    let host = c.alice.host;
    // Down and up five times within two seconds.
    for k in 0..10 {
        c.net.set_interface_up(host, 0, k % 2 == 1);
        let until = c.elapsed() + Duration::from_millis(200);
        run_sending(&mut c, until, true);
    }
    let settled = c.elapsed();
    run_sending(&mut c, settled + Duration::from_secs(3), true);
    let r = restarts(&c) - before;
    println!(
        "flapping: {r} restarts (both sides), data after: {} / {}",
        received_after(&c, 0, settled + Duration::from_secs(1)),
        received_after(&c, 1, settled + Duration::from_secs(1))
    );
    assert!(r <= 2, "at most one restart (it counts on both sides): {r}");
    assert!(received_after(&c, 0, settled + Duration::from_secs(1)) > 100);
    assert!(received_after(&c, 1, settled + Duration::from_secs(1)) > 100);
}

#[test]
fn the_background_sends_nothing_and_coming_back_restarts_once() {
    let mut c = call_sending(12, Duration::from_secs(2));
    let host = c.alice.host;
    let now = c.net.now();
    c.ep_mut(0).call(now, |s, now| s.set_foreground(now, false));
    let sent_before = c.net.host_stats(host).sent;
    let checks_before = c.ep(0).session().stats().ice.counters.checks_sent;
    let t0 = c.elapsed();
    // Sixty seconds in the background: Bob keeps sending, Alice sends nothing.
    let end = t0 + Duration::from_secs(60);
    while c.elapsed() < end {
        let t = c.net.now() + TICK;
        c.run(t, |_| false);
    }
    let sent_in_background = c.net.host_stats(host).sent - sent_before;
    let checks = c.ep(0).session().stats().ice.counters.checks_sent - checks_before;
    let answered = c
        .ep(0)
        .session()
        .agent()
        .stats()
        .pairs
        .iter()
        .map(|p| p.responses_sent)
        .sum::<u64>();
    println!("background: alice sent {sent_in_background} datagrams in 60 s, {checks} checks (answers to bob's: {answered} in total)");
    assert_eq!(
        checks, 0,
        "no consent check, no keepalive in the background"
    );
    assert!(
        sent_in_background <= 60,
        "only answers to the peer's own consent checks: {sent_in_background}"
    );
    let before = restarts(&c);
    let now = c.net.now();
    c.ep_mut(0).call(now, |s, now| s.set_foreground(now, true));
    let back = c.elapsed();
    run_sending(&mut c, back + Duration::from_secs(3), true);
    let r = restarts(&c) - before;
    assert_eq!(r, 2, "one restart, counted by both sides");
    let first = c
        .ep(1)
        .data
        .iter()
        .find(|d| d.at > back)
        .map(|d| d.at - back);
    println!("foreground: data to bob +{first:?}, restarts {r}");
    assert!(received_after(&c, 1, back + Duration::from_secs(1)) > 100);
    assert!(received_after(&c, 0, back + Duration::from_secs(1)) > 100);
}

/// The session's policy against an ICE restart as soon as the change is known (trickle),
/// and that restart at RFC defaults (no trickle, 500 ms check RTO): the table in
/// BENCHMARKS.md ("Network change in netsim").
#[test]
fn the_policy_beats_an_immediate_restart() {
    use pinhole_netsim::scenario::roam::{run_roam_policy, RoamPolicy};
    println!("| peer NAT | roaming side | policy | data to peer | data to roaming side | restarts | signaling messages |");
    println!("|---|---|---|---|---|---|---|");
    for (peer_nat, seed) in [(Preset::FullCone, 21), (Preset::PortRestrictedCone, 22)] {
        for roamer in [0, 1] {
            let (alice, bob) = if roamer == 0 {
                (Preset::PortRestrictedCone, peer_nat)
            } else {
                (peer_nat, Preset::PortRestrictedCone)
            };
            let mut ours = None;
            for policy in [
                RoamPolicy::Session,
                RoamPolicy::RestartAtOnce,
                RoamPolicy::RestartRfcDefaults,
            ] {
                let o = run_roam_policy(seed, alice, bob, cgnat(), roamer, policy);
                let (to_peer, to_roamer) =
                    (after(&o, o.bob_receives_at), after(&o, o.alice_receives_at));
                println!(
                    "| {} | {} | {policy:?} | +{} ms | +{} ms | {} | {} |",
                    peer_nat.name(),
                    ["controlling", "controlled"][roamer],
                    to_peer.as_millis(),
                    to_roamer.as_millis(),
                    o.restarts,
                    o.signals_after
                );
                let both = to_peer.max(to_roamer);
                match ours {
                    None => ours = Some(both),
                    Some(best) => assert!(
                        best <= both,
                        "{policy:?} beat the policy: {both:?} < {best:?}"
                    ),
                }
            }
        }
    }
}
