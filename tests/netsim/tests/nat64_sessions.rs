//! An IPv6-only phone (a mobile carrier's NAT64) and an IPv4-only peer connect through the
//! session: the session learns the translator's prefix, gathers through it (IPv4 STUN and
//! TURN at their synthesized IPv6 addresses), gives the peer's IPv4 candidates IPv6 twins,
//! and connects directly where the two NATs allow, through the IPv4 relay where not. Data
//! crosses both ways.

use pinhole::ice::CandidateType;
use pinhole_netsim::scenario::{Path, Scenario, Topology};
use pinhole_netsim::Preset;

fn run(bob: Preset) -> pinhole_netsim::scenario::Outcome {
    let o = Scenario::new(Topology::Nat64Pair(bob)).run();
    println!(
        "IPv6-only NAT64 x {}: {:?} local {:?} remote {:?} at {:?} (bound {:?}), exchange {:?}",
        bob.name(),
        o.path,
        o.local,
        o.remote,
        o.connected_at,
        o.lower_bound,
        o.exchange
            .as_ref()
            .map(|e| (e.alice_to_bob.is_some(), e.bob_to_alice.is_some()))
    );
    o
}

#[test]
fn an_ipv6_only_phone_reaches_ipv4_peers_directly_where_the_nats_allow() {
    // The carrier's NAT64 maps endpoint-independently and filters by address (RFC 6146),
    // so even a symmetric peer is reached directly.
    for bob in [
        Preset::Open,
        Preset::FullCone,
        Preset::RestrictedCone,
        Preset::PortRestrictedCone,
        Preset::Symmetric,
    ] {
        let o = run(bob);
        assert_eq!(o.path, Path::Direct, "{}: {o:?}", bob.name());
        assert_eq!(
            o.connected_at,
            o.lower_bound,
            "{}: at the lower bound",
            bob.name()
        );
        let e = o.exchange.as_ref().expect("a datagram each way");
        assert!(
            e.alice_to_bob.is_some() && e.bob_to_alice.is_some(),
            "{}: {e:?}",
            bob.name()
        );
        // Alice's side of the path: her address as Bob sees it is the translator's IPv4
        // pool address (server- or peer-reflexive).
        assert!(
            matches!(
                o.local,
                Some(CandidateType::ServerReflexive | CandidateType::PeerReflexive)
            ),
            "{}: {:?}",
            bob.name(),
            o.local
        );
        assert_eq!(o.signal_errors, 0);
    }
}

#[test]
fn a_peer_without_udp_is_reached_through_the_ipv4_relay_over_the_translator() {
    let o = run(Preset::UdpBlocked);
    assert_eq!(o.path, Path::Relay, "{o:?}");
    let e = o.exchange.as_ref().expect("a datagram each way");
    assert!(
        e.alice_to_bob.is_some() && e.bob_to_alice.is_some(),
        "{e:?}"
    );
}
