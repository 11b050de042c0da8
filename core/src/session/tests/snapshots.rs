//! Network change as the runtime's monitor reports it ([`Input::Network`] snapshots, with
//! default routes and interfaces), not as bare address lists: a path whose address went
//! away recovers in the current generation like any lost path, and only a path that
//! survived a major change (a VPN came up) is restarted at once.

use super::*;
use crate::netchange::{
    DefaultRoute, Interface, InterfaceAddress, InterfaceFlags, NetworkSnapshot,
};

/// `eth0` (index 2) with `ip`/24 and the IPv4 default route through `gateway`; no
/// address at all when `ip` is `None` (interface down).
fn snapshot(ip: Option<&str>, gateway: &str) -> NetworkSnapshot {
    let up = ip.is_some();
    NetworkSnapshot {
        interfaces: vec![Interface {
            index: 2,
            name: "eth0".into(),
            flags: InterfaceFlags {
                up,
                running: up,
                ..Default::default()
            },
        }],
        addresses: ip
            .map(|ip| InterfaceAddress {
                ifindex: 2,
                interface: "eth0".into(),
                ip: ip.parse().unwrap(),
                prefix_len: 24,
                flags: Default::default(),
            })
            .into_iter()
            .collect(),
        default_v4: up.then(|| DefaultRoute {
            ifindex: 2,
            interface: "eth0".into(),
            gateway: Some(gateway.parse().unwrap()),
            metric: 0,
        }),
        default_v6: None,
    }
    .normalized()
}

/// Peer 0 follows snapshots (no bind addresses), peer 1 is fixed on 10.0.0.2; both
/// connected on `eth0` at 10.0.0.1, data both ways.
fn connected_on_snapshots() -> Net {
    let cfg = SessionConfig::default().with_ip_families(true, false);
    let mut n = Net::new(cfg, config("10.0.0.2"));
    let now = n.now;
    let s = snapshot(Some("10.0.0.1"), "10.0.0.254");
    n.peers[0].s.handle_input(now, Input::Network(&s));
    n.run(Duration::from_secs(1));
    assert!(n.connected(0).is_some() && n.connected(1).is_some());
    n
}

fn restarts(n: &Net) -> [u64; 2] {
    [0, 1].map(|i| n.peers[i].s.stats().restarts)
}

/// Sends one datagram each way and checks it arrived.
fn assert_data_both_ways(n: &mut Net, text: &str) {
    n.send(0, text.as_bytes()).unwrap();
    n.send(1, text.as_bytes()).unwrap();
    n.run(Duration::from_millis(100));
    for i in 0..2 {
        assert_eq!(
            n.texts(i).last().map(String::as_str),
            Some(text),
            "peer {i}"
        );
    }
}

#[test]
fn an_address_moved_to_another_subnet_recovers_without_a_restart() {
    let mut n = connected_on_snapshots();
    assert_data_both_ways(&mut n, "before");
    let before = restarts(&n);
    // DHCP on another network: the address in use and the default gateway both change
    // (`classify` says Major: the default route moved).
    let now = n.now;
    let moved = snapshot(Some("10.0.1.1"), "10.0.1.254");
    n.peers[0].s.handle_input(now, Input::Network(&moved));
    n.run(Duration::from_secs(3));
    assert_eq!(
        restarts(&n),
        before,
        "the new socket finds a path in the current generation: no restart"
    );
    assert_eq!(
        n.path(0).unwrap().local.addr.ip(),
        "10.0.1.1".parse::<IpAddr>().unwrap()
    );
    assert_data_both_ways(&mut n, "after");
}

#[test]
fn back_from_an_interface_down_recovers_without_a_restart() {
    let mut n = connected_on_snapshots();
    let before = restarts(&n);
    let now = n.now;
    n.peers[0]
        .s
        .handle_input(now, Input::Network(&snapshot(None, "10.0.0.254")));
    n.run(Duration::from_millis(300));
    let now = n.now;
    let back = snapshot(Some("10.0.0.1"), "10.0.0.254");
    n.peers[0].s.handle_input(now, Input::Network(&back));
    n.run(Duration::from_secs(3));
    assert_eq!(restarts(&n), before, "a new socket, the same generation");
    assert_data_both_ways(&mut n, "back");
}

#[test]
fn a_path_that_survives_a_major_change_is_restarted_once() {
    let mut n = connected_on_snapshots();
    let before = restarts(&n);
    // A VPN interface comes up and takes the default route; eth0 and its address stay.
    let mut vpn = snapshot(Some("10.0.0.1"), "10.0.0.254");
    vpn.interfaces.push(Interface {
        index: 9,
        name: "wg0".into(),
        flags: InterfaceFlags {
            up: true,
            running: true,
            point_to_point: true,
            ..Default::default()
        },
    });
    vpn.addresses.push(InterfaceAddress {
        ifindex: 9,
        interface: "wg0".into(),
        ip: "10.8.0.2".parse().unwrap(),
        prefix_len: 32,
        flags: Default::default(),
    });
    vpn.default_v4 = Some(DefaultRoute {
        ifindex: 9,
        interface: "wg0".into(),
        gateway: None,
        metric: 0,
    });
    let vpn = vpn.normalized();
    let now = n.now;
    n.peers[0].s.handle_input(now, Input::Network(&vpn));
    n.run(Duration::from_secs(3));
    assert_eq!(
        restarts(&n),
        [before[0] + 1, before[1] + 1],
        "one restart, counted by both sides"
    );
    assert_data_both_ways(&mut n, "through the change");
}

#[test]
fn sending_while_the_path_is_lost_says_why_it_failed() {
    let mut n = connected_on_snapshots();
    let now = n.now;
    n.peers[0]
        .s
        .handle_input(now, Input::Network(&snapshot(None, "10.0.0.254")));
    n.flush();
    let e = n.send(0, b"into the void").unwrap_err();
    assert_eq!(e, SessionError::NotConnected);
    assert!(e.to_string().contains("network change"), "{e}");
}
