//! Events at virtual times: interfaces going down, roaming, NAT reboots and
//! address changes, pool exhaustion, hairpinning between neighbours, and the
//! early-probe trap.

mod common;
use common::*;
use pinhole_netsim::endpoints::{EchoServer, Recorder};
use pinhole_netsim::{presets, Firewall, Layer, LinkSpec, NatConfig, Preset};
use std::time::Duration;

#[test]
fn interface_down_drops_traffic_and_tells_the_endpoint() {
    let mut w = echo_world(1, Preset::PortRestrictedCone);
    assert!(w.observe(5000, sa(S1, P1)).is_some());
    let host = w.peer.host;
    w.net.schedule_in(Duration::from_millis(500), move |sim| {
        sim.set_interface_up(host, 0, false)
    });
    w.net.run_for(Duration::from_secs(1));
    assert!(w.observe(5000, sa(S1, P1)).is_none());
    let changes = &w.net.endpoint(w.client).interface_changes;
    assert!(
        changes.last().unwrap().1.is_empty(),
        "told that no address is left"
    );
    assert_eq!(w.net.host_stats(host).dropped_bad_source, 1);
    w.net.set_interface_up(host, 0, true);
    assert!(w.observe(5000, sa(S1, P1)).is_some());
}

#[test]
fn wifi_to_cellular_roam() {
    let mut w = echo_world(1, Preset::PortRestrictedCone);
    let home_ip = w.net.nat(w.peer.nat().unwrap()).external_addrs()[0];
    assert_eq!(w.observe(5000, sa(S1, P1)).unwrap().ip(), home_ip);
    let old = w.peer.clone();
    let (cell, idx) = w.net.roam(
        old.host,
        0,
        "cell",
        Preset::carrier_cgnat(Duration::from_secs(30)),
        LinkSpec::latency(Duration::from_millis(40)),
    );
    assert_eq!(idx, 1);
    let changes = &w.net.endpoint(w.client).interface_changes;
    assert_eq!(changes.last().unwrap().1, vec![cell.addr]);
    // The old address is gone: sending from it fails at the host.
    assert!(w.observe(5000, sa(S1, P1)).is_none());
    w.peer = cell.clone();
    let m = w.observe(5000, sa(S1, P1)).unwrap();
    assert_eq!(m.ip(), w.net.nat(cell.nat().unwrap()).external_addrs()[0]);
    assert_ne!(m.ip(), home_ip);
}

#[test]
fn nat_reboot_forgets_mappings() {
    let mut w = world(1, Preset::Symmetric, Recorder::new());
    let src = w.peer.local(5000);
    w.net
        .endpoint_mut(w.client)
        .send(src, sa(S1, P1), b"a".to_vec());
    w.net.run_for(Duration::from_secs(1));
    let m1 = w.net.endpoint_mut(w.server).take()[0].1.src;
    let nat = w.peer.nat().unwrap();
    w.net
        .schedule_in(Duration::from_secs(1), move |sim| sim.nat_reboot(nat));
    w.net.run_for(Duration::from_secs(2));
    assert_eq!(w.net.nat(nat).mappings().count(), 0);
    w.net
        .endpoint_mut(w.server)
        .send(sa(S1, P1), m1, b"late".to_vec());
    w.net.run_for(Duration::from_secs(1));
    assert!(w.net.endpoint(w.client).received.is_empty());
    assert_eq!(w.net.nat_stats(nat).dropped_no_mapping, 1);
    w.net
        .endpoint_mut(w.client)
        .send(src, sa(S1, P1), b"b".to_vec());
    w.net.run_for(Duration::from_secs(1));
    let m2 = w.net.endpoint_mut(w.server).take()[0].1.src;
    assert_ne!(m1, m2, "a random-port NAT picks a new port after reboot");
}

#[test]
fn nat_public_ip_change() {
    let mut w = echo_world(1, Preset::FullCone);
    let m1 = w.observe(5000, sa(S1, P1)).unwrap();
    let nat = w.peer.nat().unwrap();
    let new_ip = w.net.alloc_public();
    w.net.nat_set_public_addrs(nat, &[new_ip]);
    let m2 = w.observe(5000, sa(S1, P1)).unwrap();
    assert_eq!(m2.ip(), new_ip);
    // The old address is no longer routed in the core.
    let core = w.net.core;
    let before = w.net.network_dropped_no_route(core);
    // EchoServer only answers, so inject from a fresh Recorder in the core.
    let probe_host = w.net.server("prober", &["192.0.2.50".parse().unwrap()]);
    let p = w.net.attach(probe_host, Recorder::new());
    w.net
        .endpoint_mut(p)
        .send(sa("192.0.2.50".parse().unwrap(), 1), m1, b"x".to_vec());
    w.net.run_for(Duration::from_secs(1));
    assert_eq!(w.net.network_dropped_no_route(core), before + 1);
}

#[test]
fn port_pool_exhaustion_drops_and_counts() {
    let nat = NatConfig {
        port_range: 40000..=40001,
        ..presets::symmetric()
    };
    let layer = Layer {
        name: "tiny",
        nat,
        firewall: Firewall::open(),
        carrier: false,
    };
    let mut w = world_with_layers(1, vec![layer], LinkSpec::default(), EchoServer::new());
    assert!(w.observe(5000, sa(S1, P1)).is_some());
    assert!(w.observe(5000, sa(S1, P2)).is_some());
    assert!(w.observe(5000, sa(S2, P1)).is_none());
    assert_eq!(
        w.net
            .nat_stats(w.peer.nat().unwrap())
            .dropped_pool_exhausted,
        1
    );
}

#[test]
fn port_collision_gets_a_new_port_kept_for_all_destinations() {
    let mut w = echo_world(1, Preset::PortRestrictedCone);
    let other = w.net.neighbour("other", &w.peer);
    let o = w.net.attach(other.host, Recorder::new());
    w.net
        .endpoint_mut(o)
        .send(other.local(5000), sa(S1, P1), b"first".to_vec());
    w.net.run_for(Duration::from_secs(1));
    let a = w.observe(5000, sa(S1, P1)).unwrap();
    let b = w.observe(5000, sa(S2, P2)).unwrap();
    assert_ne!(a.port(), 5000, "5000 is taken by the neighbour");
    assert_eq!(a, b, "still endpoint-independent");
}

#[test]
fn hairpinning_between_neighbours() {
    for (preset, works) in [
        (Preset::FullCone, true),
        (Preset::PortRestrictedCone, false),
    ] {
        let mut net = pinhole_netsim::Internet::new(1);
        let s = net.server("stun", &[S1]);
        net.attach(s, EchoServer::new());
        let a = net.peer("a", preset, Duration::from_millis(20));
        let b = net.neighbour("b", &a);
        let ea = net.attach(a.host, Recorder::new());
        let eb = net.attach(b.host, Recorder::new());
        net.endpoint_mut(eb)
            .send(b.local(6000), sa(S1, P1), b"stun".to_vec());
        net.run_for(Duration::from_secs(1));
        let mapped_b = EchoServer::parse_seen(&net.endpoint_mut(eb).take()[0].1.payload).unwrap();
        net.endpoint_mut(ea)
            .send(a.local(5000), mapped_b, b"hi neighbour".to_vec());
        net.run_for(Duration::from_secs(1));
        let got = net.endpoint_mut(eb).take();
        assert_eq!(!got.is_empty(), works, "{}", preset.name());
        if works {
            // b sees a's public mapping as the source, not a's private address.
            assert_eq!(
                got[0].1.src.ip(),
                net.nat(a.nat().unwrap()).external_addrs()[0]
            );
            assert_eq!(net.nat_stats(a.nat().unwrap()).hairpinned, 1);
        } else {
            assert_eq!(net.nat_stats(a.nat().unwrap()).dropped_hairpin_disabled, 1);
        }
    }
}

#[test]
fn early_probe_trap() {
    for trap in [false, true] {
        let nat = NatConfig {
            early_probe_trap: trap,
            ..presets::port_restricted_cone()
        };
        let layer = Layer {
            name: "nat",
            nat,
            firewall: Firewall::open(),
            carrier: false,
        };
        let mut w = world_with_layers(1, vec![layer], LinkSpec::default(), EchoServer::new());
        let stun_seen = w.observe(5000, sa(S1, P1)).unwrap();
        // The peer (S2 stands in for it) probes before the inside host sent to it.
        let peer_host = w.net.server("peer", &["192.0.2.77".parse().unwrap()]);
        let peer = w.net.attach(peer_host, Recorder::new());
        let peer_addr = sa("192.0.2.77".parse().unwrap(), 7777);
        w.net
            .endpoint_mut(peer)
            .send(peer_addr, stun_seen, b"early".to_vec());
        w.net.run_for(Duration::from_secs(1));
        let src = w.peer.local(5000);
        w.net
            .endpoint_mut(w.client)
            .send(src, peer_addr, b"now me".to_vec());
        w.net.run_for(Duration::from_secs(1));
        let seen_by_peer = w.net.endpoint_mut(peer).take()[0].1.src;
        assert_eq!(seen_by_peer == stun_seen, !trap, "trap={trap}");
        if trap {
            // Endpoint-dependent only towards that peer: STUN still sees the old port.
            assert_eq!(w.observe(5000, sa(S1, P1)), Some(stun_seen));
        }
    }
}
