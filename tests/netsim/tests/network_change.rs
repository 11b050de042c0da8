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
