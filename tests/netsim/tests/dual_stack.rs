//! Dual-stack hosts in netsim: IPv4 translated by the preset's NAT boxes, the global IPv6
//! address routed through the same boxes untranslated, open or behind a stateful
//! (RFC 6092) firewall that admits only established flows, with the configured
//! filtering and an exact idle timeout.

use pinhole_netsim::endpoints::Recorder;

use pinhole_netsim::{
    Behaviour, DualStackPeer, EndpointId, Firewall6Config, Internet, Ipv6Access, LinkSpec, Preset,
};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

const SERVER4: &str = "192.0.2.1";
const SERVER6: &str = "2001:db8::1";
const OTHER6: &str = "2001:db8::9";

fn sa(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse::<IpAddr>().unwrap(), port)
}

struct Lab {
    net: Internet,
    peer: DualStackPeer,
    host: EndpointId<Recorder>,
    server: EndpointId<Recorder>,
    other: EndpointId<Recorder>,
}

/// A dual-stack peer behind `preset` over perfect links (zero latency), a dual-stack
/// server and a third IPv6 host in the core, each with a recorder on every port.
fn lab(preset: Preset, v6: Ipv6Access) -> Lab {
    let mut net = Internet::new(7);
    let s = net.server(
        "server",
        &[SERVER4.parse().unwrap(), SERVER6.parse().unwrap()],
    );
    let o = net.server("other", &[OTHER6.parse().unwrap()]);
    let peer = net.peer_dual_stack("alice", preset, v6, LinkSpec::default());
    let host = net.attach(peer.host(), Recorder::new());
    let server = net.attach(s, Recorder::new());
    let other = net.attach(o, Recorder::new());
    Lab {
        net,
        peer,
        host,
        server,
        other,
    }
}

impl Lab {
    fn send(&mut self, from: EndpointId<Recorder>, src: SocketAddr, dst: SocketAddr) {
        self.net.endpoint_mut(from).send(src, dst, b"x".to_vec());
        self.net.run_for(Duration::ZERO);
    }

    /// Datagrams `ep` received from `src`.
    fn received_from(&self, ep: EndpointId<Recorder>, src: SocketAddr) -> usize {
        self.net
            .endpoint(ep)
            .received
            .iter()
            .filter(|(_, d)| d.src == src)
            .count()
    }
}

#[test]
fn ipv6_is_routed_untranslated_while_ipv4_is_translated() {
    let mut l = lab(Preset::Symmetric, Ipv6Access::Open);
    let (v4, v6) = (l.peer.peer.local(5000), l.peer.local6(5000));
    l.send(l.host, v4, sa(SERVER4, 3478));
    l.send(l.host, v6, sa(SERVER6, 3478));
    let seen: Vec<SocketAddr> = l
        .net
        .endpoint(l.server)
        .received
        .iter()
        .map(|(_, d)| d.src)
        .collect();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_ne!(seen[0], v4, "IPv4 leaves translated");
    assert!(seen[0].is_ipv4());
    assert_eq!(
        seen[1], v6,
        "IPv6 leaves with the host's own address and port"
    );
    // Replies come back over both families.
    let (r4, r6) = (seen[0], seen[1]);
    l.send(l.server, sa(SERVER4, 3478), r4);
    l.send(l.server, sa(SERVER6, 3478), r6);
    assert_eq!(l.received_from(l.host, sa(SERVER4, 3478)), 1);
    assert_eq!(l.received_from(l.host, sa(SERVER6, 3478)), 1);
    assert!(l.peer.firewall.is_none());
    let nat = l.peer.peer.nat().unwrap();
    assert_eq!(
        l.net.nat_stats(nat).translated_out,
        1,
        "only IPv4 is translated"
    );
}

#[test]
fn an_open_ipv6_host_takes_unsolicited_datagrams() {
    let mut l = lab(
        Preset::CarrierCgnat(Duration::from_secs(30)),
        Ipv6Access::Open,
    );
    let v6 = l.peer.local6(5000);
    l.send(l.other, sa(OTHER6, 9), v6);
    assert_eq!(l.received_from(l.host, sa(OTHER6, 9)), 1);
}

#[test]
fn a_stateful_apdf_firewall_admits_only_the_flows_the_host_started() {
    let mut l = lab(
        Preset::CarrierCgnat(Duration::from_secs(30)),
        Ipv6Access::firewall_apdf(),
    );
    let fw = l.peer.firewall.expect("the CGNAT box holds the firewall");
    assert_eq!(Some(fw), l.peer.peer.nat());
    let v6 = l.peer.local6(5000);
    // Nobody inside asked: dropped.
    l.send(l.server, sa(SERVER6, 3478), v6);
    assert_eq!(l.received_from(l.host, sa(SERVER6, 3478)), 0);
    assert_eq!(l.net.firewall6(fw).unwrap().stats.dropped_unsolicited, 1);
    // The host sends to the server's port 3478: that flow is established.
    l.send(l.host, v6, sa(SERVER6, 3478));
    l.send(l.server, sa(SERVER6, 3478), v6);
    assert_eq!(l.received_from(l.host, sa(SERVER6, 3478)), 1);
    // Same server, another port; another host: filtered.
    l.send(l.server, sa(SERVER6, 3479), v6);
    l.send(l.other, sa(OTHER6, 3478), v6);
    assert_eq!(l.received_from(l.host, sa(SERVER6, 3479)), 0);
    assert_eq!(l.received_from(l.host, sa(OTHER6, 3478)), 0);
    // Another port of the host has no flow at all.
    l.send(l.server, sa(SERVER6, 3478), l.peer.local6(5001));
    let st = &l.net.firewall6(fw).unwrap().stats;
    assert_eq!(
        (st.passed_in, st.dropped_filtered, st.dropped_unsolicited),
        (1, 2, 2),
        "{st:?}"
    );
    assert_eq!(st.flows_created, 1);
}

#[test]
fn filtering_behaviours_are_configurable() {
    // (filtering, does the server's other port get in, does another host get in)
    for (filtering, other_port, other_host) in [
        (Behaviour::EndpointIndependent, true, true),
        (Behaviour::AddressDependent, true, false),
        (Behaviour::AddressAndPortDependent, false, false),
    ] {
        let cfg = Firewall6Config {
            filtering,
            ..Firewall6Config::address_and_port_dependent()
        };
        let mut l = lab(Preset::Symmetric, Ipv6Access::Firewall(cfg));
        let v6 = l.peer.local6(5000);
        l.send(l.host, v6, sa(SERVER6, 3478));
        l.send(l.server, sa(SERVER6, 3479), v6);
        l.send(l.other, sa(OTHER6, 3478), v6);
        assert_eq!(
            l.received_from(l.host, sa(SERVER6, 3479)) == 1,
            other_port,
            "{filtering}"
        );
        assert_eq!(
            l.received_from(l.host, sa(OTHER6, 3478)) == 1,
            other_host,
            "{filtering}"
        );
    }
}

#[test]
fn firewall_state_expires_exactly_at_the_idle_timeout() {
    let timeout = Duration::from_secs(30);
    let cfg = Firewall6Config {
        inbound_refresh: false,
        ..Firewall6Config::address_and_port_dependent().with_udp_timeout(timeout)
    };
    let mut l = lab(Preset::PortRestrictedCone, Ipv6Access::Firewall(cfg));
    let v6 = l.peer.local6(5000);
    let from = sa(SERVER6, 3478);
    let t0 = l.net.now();
    l.send(l.host, v6, from);
    // Just before the timeout: in (and, without inbound refresh, no refresh).
    l.net.run_until(t0 + timeout - Duration::from_millis(1));
    l.send(l.server, from, v6);
    assert_eq!(l.received_from(l.host, from), 1);
    // At the timeout: gone.
    l.net.run_until(t0 + timeout);
    l.send(l.server, from, v6);
    assert_eq!(l.received_from(l.host, from), 1);
    let fw = l.net.firewall6(l.peer.firewall.unwrap()).unwrap();
    assert_eq!(fw.stats.dropped_unsolicited, 1);
    assert_eq!(fw.flows(l.net.elapsed()).count(), 0);
    // A keepalive from inside re-establishes it.
    l.send(l.host, v6, from);
    l.send(l.server, from, v6);
    assert_eq!(l.received_from(l.host, from), 2);
}

#[test]
fn a_double_nat_routes_ipv6_through_both_boxes_with_the_firewall_at_home() {
    let mut l = lab(Preset::DoubleNat, Ipv6Access::firewall_apdf());
    let (home, cgnat) = (l.peer.peer.nat().unwrap(), l.peer.peer.outer_nat().unwrap());
    assert_eq!(l.peer.firewall, Some(home));
    assert!(l.net.firewall6(cgnat).is_none());
    let v6 = l.peer.local6(5000);
    l.send(l.host, v6, sa(SERVER6, 3478));
    l.send(l.server, sa(SERVER6, 3478), v6);
    assert_eq!(l.received_from(l.host, sa(SERVER6, 3478)), 1);
    assert_eq!(
        l.net.endpoint(l.server).received[0].1.src,
        v6,
        "untranslated through both boxes"
    );
}

#[test]
fn a_box_that_blocks_udp_blocks_routed_ipv6_udp_too() {
    let mut l = lab(Preset::UdpBlocked, Ipv6Access::Open);
    l.send(l.host, l.peer.local6(5000), sa(SERVER6, 3478));
    assert!(l.net.endpoint(l.server).received.is_empty());
    assert_eq!(
        l.net.nat_stats(l.peer.peer.nat().unwrap()).dropped_firewall,
        1
    );
}

#[test]
fn ipv6_to_a_host_that_roamed_away_is_dropped_as_unrouted() {
    let mut l = lab(
        Preset::CarrierCgnat(Duration::from_secs(30)),
        Ipv6Access::Open,
    );
    let v6 = l.peer.local6(5000);
    let host = l.peer.host();
    l.net
        .roam(host, 0, "cell", Preset::Symmetric, LinkSpec::default());
    l.send(l.other, sa(OTHER6, 9), v6);
    assert_eq!(l.received_from(l.host, sa(OTHER6, 9)), 0);
    // The old LAN has no route for it any more; the CGNAT box does not send it back out.
    assert_eq!(l.net.network_dropped_no_route(l.peer.peer.lan), 1);
}
