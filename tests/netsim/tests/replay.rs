//! Determinism (same seed, same run packet for packet), speed, and trace/pcap output.

use pinhole_netsim::endpoints::{EchoServer, Pinger};
use pinhole_netsim::{Internet, LinkConfig, LinkSpec, Preset};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Two peers behind NATs keep each other alive every second for `secs`, over
/// impaired 50 ms access links, with a STUN-like server in the core.
fn keepalive_scenario(seed: u64, secs: u64, impaired: bool, trace: bool) -> Internet {
    let mut net = Internet::new(seed);
    if trace {
        net.enable_trace();
    }
    let mut cfg = LinkConfig::latency(Duration::from_millis(50));
    if impaired {
        cfg = cfg
            .with_jitter(Duration::from_millis(10))
            .with_loss(0.05)
            .with_duplicate(0.02)
            .with_reorder(0.05, Duration::from_millis(30));
    }
    let s = net.server("stun", &["192.0.2.1".parse().unwrap()]);
    net.attach(s, EchoServer::new());
    let a = net.peer_with_link(
        "alice",
        Preset::PortRestrictedCone,
        LinkSpec::symmetric(cfg.clone()),
    );
    let b = net.peer_with_link("bob", Preset::FullCone, LinkSpec::symmetric(cfg));
    // Both NATs preserve ports, so each side can predict the other's mapping.
    let a_pub = SocketAddr::new(net.nat(a.nat().unwrap()).external_addrs()[0], 5000);
    let b_pub = SocketAddr::new(net.nat(b.nat().unwrap()).external_addrs()[0], 6000);
    let start = net.now();
    net.attach(
        a.host,
        Pinger::new(a.local(5000), b_pub, Duration::from_secs(1)).start_at(start),
    );
    net.attach(
        b.host,
        Pinger::new(b.local(6000), a_pub, Duration::from_secs(1)).start_at(start),
    );
    net.run_for(Duration::from_secs(secs));
    net
}

#[test]
fn same_seed_replays_packet_for_packet() {
    let one = keepalive_scenario(42, 20, true, true);
    let two = keepalive_scenario(42, 20, true, true);
    assert!(one.trace().lines().len() > 100);
    assert_eq!(one.trace().text(), two.trace().text());
    assert_eq!(one.pcap_bytes(), two.pcap_bytes());
    assert_eq!(one.counters_text(), two.counters_text());
}

#[test]
fn different_seed_with_loss_differs() {
    let one = keepalive_scenario(42, 20, true, true);
    let two = keepalive_scenario(43, 20, true, true);
    assert_ne!(one.trace().text(), two.trace().text());
}

#[test]
fn sixty_virtual_seconds_two_peers_two_nats_wall_time() {
    let t = Instant::now();
    let net = keepalive_scenario(1, 60, false, false);
    let wall = t.elapsed();
    let (a, b) = (pinhole_netsim::HostId(1), pinhole_netsim::HostId(2));
    // 60 keepalives each way (sends at 0..=59 s arrive by 60 s); the first may race the peer's hole.
    assert!(net.host_stats(a).received >= 59, "{}", net.counters_text());
    assert!(net.host_stats(b).received >= 59, "{}", net.counters_text());
    println!("netsim: 60 virtual seconds, 2 peers, 2 NATs, keepalive 1 s both ways: {wall:?} wall, {} steps", net.steps());
    let t = Instant::now();
    let net = keepalive_scenario(1, 60, true, true);
    println!(
        "netsim: same, impaired links and full trace ({} lines): {:?} wall",
        net.trace().lines().len(),
        t.elapsed()
    );
}

#[test]
fn trace_text_and_pcap_are_readable() {
    let net = keepalive_scenario(7, 3, false, true);
    let text = net.trace().text();
    assert!(
        text.contains("nat alice-nat: new mapping udp 10.1.0.2:5000 => 203.0.113.1:5000"),
        "{text}"
    );
    assert!(text.contains("link alice-nat/wan up:"), "{text}");
    assert!(text.contains("host bob: recv"), "{text}");
    let dir = std::env::temp_dir().join(format!("pinhole-netsim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("keepalive.pcap");
    net.write_pcap(&path).unwrap();
    std::fs::write(dir.join("keepalive.txt"), &text).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    // Global header: nanosecond magic, v2.4, LINKTYPE_RAW.
    assert_eq!(&bytes[0..4], &0xa1b2_3c4du32.to_le_bytes());
    assert_eq!(u32::from_le_bytes(bytes[20..24].try_into().unwrap()), 101);
    // Walk the records; check each IPv4 header checksum and UDP length.
    let mut off = 24;
    let mut n = 0;
    while off < bytes.len() {
        let len = u32::from_le_bytes(bytes[off + 8..off + 12].try_into().unwrap()) as usize;
        let pkt = &bytes[off + 16..off + 16 + len];
        assert_eq!(pkt[0], 0x45);
        assert_eq!(u16::from_be_bytes([pkt[2], pkt[3]]) as usize, len);
        let mut sum: u32 = pkt[..20]
            .chunks(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]) as u32)
            .sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        assert_eq!(sum, 0xffff, "IPv4 header checksum");
        assert_eq!(pkt[9], 17);
        assert_eq!(u16::from_be_bytes([pkt[24], pkt[25]]) as usize, len - 20);
        off += 16 + len;
        n += 1;
    }
    assert_eq!(n, net.trace().captured().len());
    std::fs::remove_dir_all(&dir).unwrap();
}
