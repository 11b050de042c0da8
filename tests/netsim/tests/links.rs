//! Link impairments: loss, duplication, reordering, MTU, exact latency, IPv6.

use pinhole_netsim::endpoints::Recorder;
use pinhole_netsim::{Internet, LinkConfig, LinkSpec, Preset};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

const SERVER: &str = "192.0.2.1";

/// An open client with `link` to the core and a Recorder server on a perfect link.
fn setup(
    seed: u64,
    link: LinkSpec,
) -> (
    Internet,
    pinhole_netsim::Peer,
    pinhole_netsim::EndpointId<Recorder>,
    pinhole_netsim::EndpointId<Recorder>,
) {
    let mut net = Internet::new(seed);
    let s = net.server("server", &[SERVER.parse().unwrap()]);
    let server = net.attach(s, Recorder::new());
    let peer = net.peer_with_link("client", Preset::Open, link);
    let client = net.attach(peer.host, Recorder::new());
    (net, peer, server, client)
}

fn dst() -> SocketAddr {
    SocketAddr::new(SERVER.parse().unwrap(), 3478)
}

/// Sends `n` numbered packets, one per millisecond, and returns the sequence numbers received.
fn blast(
    net: &mut Internet,
    peer: &pinhole_netsim::Peer,
    client: pinhole_netsim::EndpointId<Recorder>,
    server: pinhole_netsim::EndpointId<Recorder>,
    n: u32,
    size: usize,
) -> Vec<u32> {
    for i in 0..n {
        let mut payload = i.to_be_bytes().to_vec();
        payload.resize(size.max(4), 0);
        net.endpoint_mut(client)
            .send(peer.local(5000), dst(), payload);
        net.run_for(Duration::from_millis(1));
    }
    net.run_for(Duration::from_secs(1));
    net.endpoint_mut(server)
        .take()
        .iter()
        .map(|(_, d)| u32::from_be_bytes(d.payload[..4].try_into().unwrap()))
        .collect()
}

#[test]
fn loss_rate_within_tolerance() {
    for seed in [1, 2, 3] {
        let (mut net, peer, server, client) = setup(
            seed,
            LinkSpec::asymmetric(LinkConfig::default().with_loss(0.2), LinkConfig::default()),
        );
        let got = blast(&mut net, &peer, client, server, 10_000, 20);
        let rate = 1.0 - got.len() as f64 / 10_000.0;
        assert!((rate - 0.2).abs() < 0.025, "seed {seed}: loss {rate}");
        let (up, _) = net.link_stats(net.host_link(peer.host, 0));
        assert_eq!(up.dropped_loss as usize, 10_000 - got.len());
    }
}

#[test]
fn duplication() {
    let (mut net, peer, server, client) = setup(
        7,
        LinkSpec::symmetric(LinkConfig::default().with_duplicate(0.1)),
    );
    let got = blast(&mut net, &peer, client, server, 5_000, 20);
    let dups = got.len() - 5_000;
    assert!((400..600).contains(&dups), "{dups} duplicates");
    let (up, _) = net.link_stats(net.host_link(peer.host, 0));
    assert_eq!(up.duplicated as usize, dups);
}

#[test]
fn reordering_lets_later_packets_overtake() {
    let cfg =
        LinkConfig::latency(Duration::from_millis(20)).with_reorder(0.1, Duration::from_millis(5));
    let (mut net, peer, server, client) = setup(3, LinkSpec::symmetric(cfg));
    let got = blast(&mut net, &peer, client, server, 1_000, 20);
    assert_eq!(got.len(), 1_000);
    let inversions = got.windows(2).filter(|w| w[1] < w[0]).count();
    assert!(inversions > 50, "{inversions} inversions");
}

#[test]
fn jitter_without_reordering_keeps_order() {
    let cfg = LinkConfig::latency(Duration::from_millis(20)).with_jitter(Duration::from_millis(15));
    let (mut net, peer, server, client) = setup(3, LinkSpec::symmetric(cfg));
    let got = blast(&mut net, &peer, client, server, 500, 20);
    assert_eq!(got, (0..500).collect::<Vec<_>>());
}

#[test]
fn oversize_packets_are_dropped_and_counted() {
    let (mut net, peer, server, client) =
        setup(1, LinkSpec::symmetric(LinkConfig::default().with_mtu(1280)));
    // IPv4 + UDP headers are 28 bytes: 1252 fits, 1253 does not.
    let fits = blast(&mut net, &peer, client, server, 1, 1252);
    let too_big = blast(&mut net, &peer, client, server, 1, 1253);
    assert_eq!((fits.len(), too_big.len()), (1, 0));
    let (up, _) = net.link_stats(net.host_link(peer.host, 0));
    assert_eq!(up.dropped_mtu, 1);
}

#[test]
fn latency_is_exact_in_virtual_time() {
    let link = LinkSpec::asymmetric(
        LinkConfig::latency(Duration::from_millis(10)),
        LinkConfig::latency(Duration::from_millis(40)),
    );
    let (mut net, peer, server, client) = setup(1, link);
    let t0 = net.now();
    net.endpoint_mut(client)
        .send(peer.local(5000), dst(), b"x".to_vec());
    net.run_until(t0 + Duration::from_millis(10) - Duration::from_nanos(1));
    assert!(
        net.endpoint(server).received.is_empty(),
        "not one tick early"
    );
    net.run_until(t0 + Duration::from_millis(10));
    let (t_srv, d) = net.endpoint_mut(server).take().remove(0);
    assert_eq!(t_srv - t0, Duration::from_millis(10));
    net.endpoint_mut(server).send(d.dst, d.src, b"y".to_vec());
    net.run_for(Duration::from_secs(1));
    let (t_cli, _) = net.endpoint_mut(client).take().remove(0);
    assert_eq!(t_cli - t_srv, Duration::from_millis(40));
}

#[test]
fn round_trip_through_two_50ms_access_links_is_200ms() {
    let mut net = Internet::new(1);
    let a = net.peer("a", Preset::Open, Duration::from_millis(50));
    let b = net.peer("b", Preset::Open, Duration::from_millis(50));
    let ea = net.attach(a.host, Recorder::new());
    let eb = net.attach(b.host, pinhole_netsim::endpoints::EchoServer::new());
    let t0 = net.now();
    net.endpoint_mut(ea)
        .send(a.local(1), b.local(2), b"ping".to_vec());
    net.run_for(Duration::from_secs(1));
    let (t, _) = net.endpoint_mut(ea).take().remove(0);
    assert_eq!(t - t0, Duration::from_millis(200));
    assert_eq!(net.endpoint(eb).answered, 1);
}

#[test]
fn ipv6_hosts_talk_and_show_up_in_pcap() {
    let mut net = Internet::new(1);
    let v6: IpAddr = "2001:db8::1".parse().unwrap();
    let s = net.server("server6", &["192.0.2.9".parse().unwrap(), v6]);
    let es = net.attach(s, pinhole_netsim::endpoints::EchoServer::new());
    let c = net.add_host("client6");
    let core = net.core;
    let cv6: IpAddr = "2001:db8::2".parse().unwrap();
    net.add_interface(c, core, &[cv6], LinkSpec::latency(Duration::from_millis(5)));
    let ec = net.attach(c, Recorder::new());
    net.enable_trace();
    net.endpoint_mut(ec).send(
        SocketAddr::new("::".parse().unwrap(), 4000),
        SocketAddr::new(v6, 3478),
        b"hi".to_vec(),
    );
    net.run_for(Duration::from_secs(1));
    let got = net.endpoint_mut(ec).take();
    assert_eq!(
        pinhole_netsim::endpoints::EchoServer::parse_seen(&got[0].1.payload),
        Some(SocketAddr::new(cv6, 4000))
    );
    assert_eq!(net.endpoint(es).answered, 1);
    let pcap = net.pcap_bytes();
    assert!(pcap.windows(16).any(|w| w
        == cv6
            .to_string()
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets()));
}
