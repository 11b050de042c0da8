//! Dual-stack sessions: each peer's IPv4 behind carrier CGNAT or a symmetric NAT, its
//! global IPv6 address open or behind a stateful firewall (RFC 6092), STUN and TURN
//! servers on both families. Where both sides have IPv6 the session connects directly
//! over IPv6 (host to host) at the lower bound of `scenario::bound::dual_stack_bound`,
//! whatever IPv4 allows; where one side has no IPv6 the IPv4 rules decide (the IPv4
//! relay when both IPv4 sides are symmetric); where both families work, IPv6 is the
//! path selected (RFC 8421). A datagram crosses each way on every cell.

use pinhole::ice::CandidateType;
use pinhole::session::{Event, PathKind, Signal};
use pinhole_netsim::scenario::bound::{Family, PACING};
use pinhole_netsim::scenario::dual_stack::{Side, TURN_SERVER6};
use pinhole_netsim::scenario::{Call, Outcome, Path, Scenario, SignalingLoss, Topology};
use pinhole_netsim::{Ipv6Access, Preset};
use std::time::Duration;

const CGNAT: Preset = Preset::CarrierCgnat(Duration::from_secs(60));

fn family(a: std::net::SocketAddr) -> Family {
    if a.is_ipv6() {
        Family::V6
    } else {
        Family::V4
    }
}

/// Runs a cell and checks what every cell must show: no refused signaling, a datagram
/// each way on the reported path (through the relay exactly when it is relayed), and a
/// time to connected within `slack` above the bound.
fn run(a: Side, b: Side, slack: Duration) -> (Scenario, Outcome) {
    let sc = Scenario::new(Topology::DualStack(a, b));
    let o = sc.run();
    let name = &o.name;
    let last = o.paths.last().map(|(_, p)| p);
    println!(
        "{name}: {} (bound {:?}) {}",
        o.cell(),
        sc.bound(),
        last.map_or("-".into(), |p| format!("{} -> {}", p.local, p.remote))
    );
    assert_eq!(o.signal_errors, 0, "{name}");
    let x = o
        .exchange
        .as_ref()
        .unwrap_or_else(|| panic!("{name}: {o:?}"));
    assert!(x.errors.is_empty() && x.both_ways(), "{name}: {x:?}");
    assert_eq!(x.path_changes, 0, "{name}: {x:?}");
    assert_eq!(
        x.through_relay(),
        Some(o.path == Path::Relay),
        "{name}: {x:?}"
    );
    let t = o
        .time()
        .unwrap_or_else(|| panic!("{name}: not connected: {o:?}"));
    let bound = sc.bound().expect("every dual-stack cell has a bound");
    assert!(
        t >= bound && t <= bound + slack,
        "{name}: connected at {t:?}, bound {bound:?} + {slack:?}"
    );
    (sc, o)
}

/// A direct cell whose first and only path is IPv6 host to host, at the bound exactly.
fn assert_direct_ipv6(sc: &Scenario, o: &Outcome) {
    let name = &o.name;
    assert_eq!(sc.expected_family(), Some(Family::V6), "{name}");
    assert_eq!(o.path, Path::Direct, "{name}: {o:?}");
    assert_eq!(
        o.paths.len(),
        1,
        "{name}: the first path is the IPv6 one: {o:?}"
    );
    let (at, p) = &o.paths[0];
    assert_eq!(p.kind, PathKind::Direct);
    assert!(
        p.local.addr.is_ipv6() && p.remote.addr.is_ipv6(),
        "{name}: {p:?}"
    );
    assert!(
        p.local_socket.is_ipv6() && p.remote_addr.is_ipv6(),
        "{name}: {p:?}"
    );
    assert_eq!(
        (p.local.kind, p.remote.kind),
        (CandidateType::Host, CandidateType::Host)
    );
    assert_eq!(Some(*at), sc.lower_bound(), "{name}: at the bound");
}

#[test]
fn ipv6_connects_directly_where_ipv4_is_cgnat_or_symmetric() {
    let mut sides = Vec::new();
    for v4 in [CGNAT, Preset::Symmetric] {
        for v6 in [
            Ipv6Access::Open,
            Ipv6Access::firewall_apdf(),
            Ipv6Access::firewall_eif(),
        ] {
            sides.push(Side::dual(v4, v6));
        }
    }
    let started = std::time::Instant::now();
    for &a in &sides {
        for &b in &sides {
            let (sc, o) = run(a, b, Duration::ZERO);
            assert_direct_ipv6(&sc, &o);
            // 50 ms signaling + one 200 ms round trip, no STUN round trip first.
            assert_eq!(o.time(), Some(Duration::from_millis(225)), "{}", o.name);
        }
    }
    println!(
        "{} cells in {:.2} s wall time",
        sides.len() * sides.len(),
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn one_side_without_ipv6_leaves_it_to_ipv4() {
    let sym = Preset::Symmetric;
    let d = Side::dual;
    let v4 = Side::v4_only;
    // Both IPv4 sides symmetric: the IPv4 relay, one pacing interval of slack as in the
    // ICE matrix.
    for (a, b) in [
        (d(CGNAT, Ipv6Access::Open), v4(sym)),
        (d(sym, Ipv6Access::firewall_apdf()), v4(sym)),
        (v4(sym), d(sym, Ipv6Access::Open)),
    ] {
        let (sc, o) = run(a, b, PACING);
        let name = &o.name;
        if a.v4 == sym {
            assert_eq!(sc.lower_bound(), None, "{name}");
        }
        if sc.lower_bound().is_none() {
            assert_eq!(o.path, Path::Relay, "{name}: {o:?}");
            assert_eq!(sc.expected_family(), None);
        }
        let (_, p) = o.paths.last().unwrap();
        assert!(
            p.local.kind == CandidateType::Relayed || p.remote.kind == CandidateType::Relayed,
            "{name}: {p:?}"
        );
        assert_eq!(family(p.local.addr), Family::V4, "{name}: {p:?}");
        assert_eq!(family(p.remote.addr), Family::V4, "{name}: {p:?}");
    }
    // An EIM side facing an IPv4-only peer: direct over IPv4, at the IPv4 bound.
    for (a, b) in [
        (
            d(CGNAT, Ipv6Access::firewall_apdf()),
            v4(Preset::PortRestrictedCone),
        ),
        (v4(CGNAT), d(CGNAT, Ipv6Access::Open)),
        (d(Preset::FullCone, Ipv6Access::Open), v4(sym)),
    ] {
        let (sc, o) = run(a, b, Duration::ZERO);
        let name = &o.name;
        assert_eq!(sc.expected_family(), Some(Family::V4), "{name}");
        assert_eq!(
            sc.lower_bound(),
            pinhole_netsim::scenario::bound::lower_bound(a.v4, b.v4),
            "{name}"
        );
        assert_eq!(o.path, Path::Direct, "{name}: {o:?}");
        for (_, p) in &o.paths {
            assert_eq!(family(p.remote.addr), Family::V4, "{name}: {p:?}");
        }
    }
}

#[test]
fn with_both_families_working_ipv6_is_preferred() {
    let prc = Preset::PortRestrictedCone;
    for (a, b) in [
        (
            Side::dual(prc, Ipv6Access::firewall_apdf()),
            Side::dual(prc, Ipv6Access::firewall_apdf()),
        ),
        (
            Side::dual(Preset::FullCone, Ipv6Access::Open),
            Side::dual(Preset::FullCone, Ipv6Access::Open),
        ),
        (
            Side::dual(Preset::Open, Ipv6Access::Open),
            Side::dual(CGNAT, Ipv6Access::firewall_apdf()),
        ),
    ] {
        // IPv4 alone connects directly here...
        let v4 = Scenario::pair(a.v4, b.v4).run();
        assert_eq!(v4.path, Path::Direct, "{}: {v4:?}", v4.name);
        let p4 = &v4.paths.last().unwrap().1;
        assert!(p4.remote.addr.is_ipv4());
        // ...and with both families the session selects IPv6 and stays there.
        let (sc, o) = run(a, b, Duration::ZERO);
        assert_direct_ipv6(&sc, &o);
        assert!(
            o.time() < v4.time(),
            "{}: IPv6 at {:?}, IPv4 alone at {:?}",
            o.name,
            o.time(),
            v4.time()
        );
    }
}

#[test]
fn dual_stack_servers_give_candidates_in_both_families() {
    let s = Side::dual(CGNAT, Ipv6Access::firewall_apdf());
    let mut call = Call::start(
        Topology::DualStack(s, s),
        1,
        0.0,
        SignalingLoss::default(),
        true,
    );
    let until = call.start + Duration::from_secs(2);
    call.run(until, |_| false);
    for i in 0..2 {
        let cands: Vec<_> = call
            .ep(i)
            .events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Signal(Signal::Candidate(c)) => Some(c.clone()),
                _ => None,
            })
            .collect();
        let has = |kind: CandidateType, v6: bool| {
            cands
                .iter()
                .any(|c| c.kind == kind && c.address.ip().is_some_and(|ip| ip.is_ipv6() == v6))
        };
        assert!(has(CandidateType::Host, true) && has(CandidateType::Host, false));
        // IPv4 is translated (a server-reflexive candidate); routed IPv6 is not (its
        // server-reflexive address is the host address, not signaled twice).
        assert!(has(CandidateType::ServerReflexive, false), "{cands:?}");
        assert!(!has(CandidateType::ServerReflexive, true), "{cands:?}");
        assert!(has(CandidateType::Relayed, true) && has(CandidateType::Relayed, false));
    }
    // The TURN server relays from its IPv6 address for allocations made over IPv6.
    let v6_relays = call
        .turn()
        .allocations()
        .iter()
        .filter(|a| a.relayed.ip() == TURN_SERVER6.ip())
        .count();
    assert!(v6_relays >= 2, "{:?}", call.turn().allocations());
    // The firewalls saw the IPv6 flows: both established, nothing unsolicited passed.
    for peer in [&call.alice, &call.bob] {
        let fw = call.net.firewall6(peer.nat().unwrap()).expect("a firewall");
        assert!(
            fw.stats.flows_created > 0 && fw.stats.passed_in > 0,
            "{:?}",
            fw.stats
        );
    }
}

#[test]
fn an_idle_ipv6_path_behind_firewalls_keeps_its_flow_open() {
    // RFC 6092's two-minute UDP timer on both sides; three timeouts of idle time.
    let s = Side::dual(CGNAT, Ipv6Access::firewall_apdf());
    let mut call = Call::start(
        Topology::DualStack(s, s),
        3,
        0.0,
        SignalingLoss::default(),
        true,
    );
    let until = call.start + Duration::from_secs(2);
    call.run(until, |_| false);
    let path = call.ep(0).path().cloned().expect("connected");
    assert!(path.remote_addr.is_ipv6(), "{path:?}");
    let idle = call.net.now() + Duration::from_secs(360);
    call.run(idle, |_| false);
    let x = pinhole_netsim::scenario::exchange::exchange(&mut call);
    assert!(x.both_ways() && x.through_relay() == Some(false), "{x:?}");
    assert_eq!(
        call.ep(0).path().map(|p| p.remote_addr),
        Some(path.remote_addr),
        "still on the IPv6 path"
    );
    assert_eq!(call.ep(0).paths().count(), 1, "the path never moved");
    // Alice's firewall still holds the path's flow: consent and keepalives refreshed it.
    let now = call.net.elapsed();
    let fw = call.net.firewall6(call.alice.nat().unwrap()).unwrap();
    assert!(
        fw.flows(now)
            .any(|(_, inside, remote)| inside == path.local_socket && remote == path.remote_addr),
        "{:?}",
        fw.flows(now).collect::<Vec<_>>()
    );
    for peer in [&call.alice, &call.bob] {
        let fw = call.net.firewall6(peer.nat().unwrap()).unwrap();
        assert_eq!(fw.stats.dropped_unsolicited, 0, "{:?}", fw.stats);
    }
}

#[test]
fn dual_stack_cells_hold_under_loss_and_without_trickle() {
    use pinhole_netsim::scenario::dual_stack::{cells, path_family};
    use pinhole_netsim::scenario::table::{scenario, Variant};
    // The ICE matrix's slack for the lossy variants (tests/ice_matrix.rs); without
    // trickle nothing is sent before gathering completes, when the TCP 443 allocation
    // does, at 300 ms (the bound assumes trickle).
    for (variant, slack) in [
        (
            Variant::SignalingLoss,
            PACING + Duration::from_millis(400 + 250),
        ),
        (Variant::AccessLoss, PACING + Duration::from_millis(1250)),
        (Variant::NonTrickle, Duration::from_millis(300)),
    ] {
        for (k, t) in cells().into_iter().enumerate() {
            let sc = scenario(t, variant, 3000 + k as u64);
            let o = sc.run();
            let name = format!("{} ({variant:?})", o.name);
            let x = o
                .exchange
                .as_ref()
                .unwrap_or_else(|| panic!("{name}: {o:?}"));
            assert!(x.both_ways(), "{name}: {x:?}");
            let want = match sc.expected_family() {
                Some(f) => {
                    assert_eq!(o.path, Path::Direct, "{name}: {o:?}");
                    f
                }
                None => {
                    assert_eq!(o.path, Path::Relay, "{name}: {o:?}");
                    Family::V4
                }
            };
            assert_eq!(path_family(&o), Some(want), "{name}: {o:?}");
            let (t, bound) = (o.time().unwrap(), sc.bound().unwrap());
            assert!(
                t >= bound && t <= bound + slack,
                "{name}: {t:?} against {bound:?} + {slack:?}"
            );
        }
    }
}
