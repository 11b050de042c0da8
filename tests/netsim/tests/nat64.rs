//! IPv6-only hosts behind a stateful NAT64 (RFC 6146) reaching IPv4 servers and peers:
//! Pinhole's RFC 5780 discovery through the translator, translated datagrams both ways,
//! filtering, exact mapping expiry, the RFC 6052 §3.1 rule, TCP, two IPv6-only peers
//! punching through their NAT64s with the ICE helpers, and roaming onto such a network.

mod common;
use common::*;
use pinhole::nat::discovery::{DiscoveryConfig, Filtering, Mapping, UnknownReason};
use pinhole::nat::nat64::remote_via_nat64;
use pinhole::stun::server::ServerConfig;
use pinhole::stun::transaction::TransactionConfig;
use pinhole_netsim::endpoints::{EchoServer, Recorder};
use pinhole_netsim::pinhole_endpoints::{DiscoveryEndpoint, StunServerEndpoint};
use pinhole_netsim::{
    presets, EndpointId, HostId, Internet, LinkSpec, Nat64Config, Nat64Prefix, Peer, Preset,
    TcpCommand, TcpEvent,
};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

const ACCESS: Duration = Duration::from_millis(50);
const RTT: Duration = Duration::from_millis(100);
const PORT: u16 = 5000;

fn mobile() -> Nat64Config {
    presets::ipv6_only_mobile(Duration::from_secs(60))
}

/// `prefix::ip` port `port`: where an IPv6-only host sends to reach an IPv4 address.
fn synth(prefix: Nat64Prefix, ip: IpAddr, port: u16) -> SocketAddr {
    let IpAddr::V4(v4) = ip else {
        panic!("{ip} is not IPv4")
    };
    SocketAddr::V6(prefix.synthesize_socket(SocketAddrV4::new(v4, port)))
}

/// The pool address of the peer's NAT64.
fn pool(net: &Internet, peer: &Peer) -> IpAddr {
    net.nat(peer.nat().unwrap()).external_addrs()[0]
}

struct Raw {
    net: Internet,
    peer: Peer,
    client: EndpointId<Recorder>,
    server: EndpointId<Recorder>,
}

/// An IPv6-only client (Recorder) behind `cfg` and a Recorder server on S1/S2, over
/// perfect links so packets reach the NAT64 the instant they are sent.
fn raw(cfg: Nat64Config) -> Raw {
    let mut net = Internet::new(7);
    net.enable_trace();
    let sh = net.server("server", &[S1, S2]);
    let server = net.attach(sh, Recorder::new());
    let peer = net.peer_ipv6_only("phone", cfg, LinkSpec::default());
    let client = net.attach(peer.host, Recorder::new());
    Raw {
        net,
        peer,
        client,
        server,
    }
}

impl Raw {
    fn client_sends(&mut self, to: SocketAddr, payload: &[u8]) {
        let src = self.peer.local(PORT);
        self.net
            .endpoint_mut(self.client)
            .send(src, to, payload.to_vec());
        self.net.run_for(Duration::ZERO);
    }

    fn server_sends(&mut self, from: SocketAddr, to: SocketAddr, payload: &[u8]) {
        self.net
            .endpoint_mut(self.server)
            .send(from, to, payload.to_vec());
        self.net.run_for(Duration::ZERO);
    }

    fn client_got(&mut self) -> Vec<(SocketAddr, Vec<u8>)> {
        let got = self.net.endpoint_mut(self.client).take();
        got.into_iter().map(|(_, d)| (d.src, d.payload)).collect()
    }

    fn server_got(&mut self) -> Vec<(SocketAddr, SocketAddr, Vec<u8>)> {
        let got = self.net.endpoint_mut(self.server).take();
        got.into_iter()
            .map(|(_, d)| (d.src, d.dst, d.payload))
            .collect()
    }
}

fn stun_world(seed: u64) -> (Internet, Peer) {
    let mut net = Internet::new(seed);
    let stun = net.server("stun", &[S1, S2]);
    let cfg = ServerConfig::new(sa(S1, P1)).with_alternate(sa(S2, P2));
    net.attach(stun, StunServerEndpoint::new(cfg).unwrap());
    let peer = net.peer_ipv6_only("phone", mobile(), LinkSpec::latency(ACCESS));
    (net, peer)
}

#[test]
fn stun_through_nat64_learns_the_pool_mapping_and_classifies_it() {
    for seed in [1, 2, 3] {
        let (mut net, peer) = stun_world(seed);
        let prefix = Nat64Prefix::WELL_KNOWN;
        let local = peer.local(PORT);
        assert!(local.is_ipv6(), "{local}");
        // The IPv4 server at its synthesized address, as DNS64 or the runtime gives it.
        let config = DiscoveryConfig::new(synth(prefix, S1, P1), local);
        let (now, mut rng) = (net.now(), net.fork_rng());
        let d = DiscoveryEndpoint::new(now, config, &mut rng)
            .unwrap()
            .with_nat64(prefix);
        let d = net.attach_on_ports(peer.host, &[PORT], d);
        assert!(net.run_until_predicate(now + Duration::from_secs(60), |s| s.endpoint(d).is_done()));
        let e = net.endpoint(d);
        let report = e.result().unwrap().as_ref().unwrap().clone();
        // The mapped address is an IPv4 address of the NAT64's pool, and it is the
        // mapping of the IPv6 socket in the translator's table.
        let pool = pool(&net, &peer);
        assert_eq!(report.mapped.ip(), pool, "seed {seed}");
        let g = peer.nat().unwrap();
        let m: Vec<_> = net.nat(g).mappings().collect();
        assert_eq!(m.len(), 1, "{m:?}");
        assert_eq!(
            (m[0].internal, m[0].external_port),
            (local, report.mapped.port())
        );
        // RFC 5780 through the translator: the preset's EIM + ADF, found exactly.
        assert_eq!(report.mapping, Mapping::EndpointIndependent, "seed {seed}");
        assert_eq!(report.filtering, Filtering::AddressDependent, "seed {seed}");
        assert_eq!(report.rtt, Some(RTT));
        // Test I, then filtering III answered while II waits out its 5 s, then mapping
        // II and III: the same schedule as an IPv4 restricted cone plus one round trip.
        let silent = TransactionConfig::gathering().total_timeout();
        assert_eq!(e.elapsed(), Some(2 * RTT + silent));
        let stats = net.nat_stats(g);
        assert_eq!(stats.dropped_nat64_family_mismatch, 0);
        assert_eq!(stats.dropped_nat64_untranslatable, 0);
    }
}

#[test]
fn without_the_prefix_the_mapping_test_cannot_reach_other_address() {
    // OTHER-ADDRESS is IPv4: an IPv6 socket that sends to it as it is gets nowhere (the
    // simulator counts what a real socket would refuse), so mapping stays unknown.
    let (mut net, peer) = stun_world(1);
    let config = DiscoveryConfig::new(synth(Nat64Prefix::WELL_KNOWN, S1, P1), peer.local(PORT));
    let (now, mut rng) = (net.now(), net.fork_rng());
    let d = DiscoveryEndpoint::new(now, config, &mut rng).unwrap();
    let d = net.attach_on_ports(peer.host, &[PORT], d);
    assert!(net.run_until_predicate(now + Duration::from_secs(60), |s| s.endpoint(d).is_done()));
    let report = net.endpoint(d).result().unwrap().as_ref().unwrap().clone();
    assert_eq!(report.mapped.ip(), pool(&net, &peer));
    assert_eq!(report.mapping, Mapping::Unknown(UnknownReason::TimedOut));
    assert!(
        net.nat_stats(peer.nat().unwrap())
            .dropped_nat64_family_mismatch
            > 0
    );
}

#[test]
fn ipv4_datagrams_come_back_translated_and_filtered_by_address() {
    let mut w = raw(mobile());
    let prefix = Nat64Prefix::WELL_KNOWN;
    w.client_sends(synth(prefix, S1, P1), b"hello");
    let got = w.server_got();
    assert_eq!(got.len(), 1);
    let (mapped, dst, payload) = got[0].clone();
    assert_eq!((dst, payload.as_slice()), (sa(S1, P1), &b"hello"[..]));
    assert_eq!(mapped.ip(), pool(&w.net, &w.peer));
    // The answer arrives from the server's synthesized address.
    w.server_sends(sa(S1, P1), mapped, b"answer");
    assert_eq!(
        w.client_got(),
        vec![(synth(prefix, S1, P1), b"answer".to_vec())]
    );
    // Address-dependent filtering: another port of S1 passes, S2 does not...
    w.server_sends(sa(S1, P2), mapped, b"other port");
    assert_eq!(
        w.client_got(),
        vec![(synth(prefix, S1, P2), b"other port".to_vec())]
    );
    w.server_sends(sa(S2, P1), mapped, b"stranger");
    assert!(w.client_got().is_empty());
    let g = w.peer.nat().unwrap();
    assert_eq!(w.net.nat_stats(g).dropped_filtered, 1);
    // ...until the client has sent to S2 (from the same mapping: EIM).
    w.client_sends(synth(prefix, S2, P2), b"to S2");
    assert_eq!(w.server_got()[0].0, mapped);
    w.server_sends(sa(S2, P1), mapped, b"now welcome");
    assert_eq!(w.client_got().len(), 1);
    let text = w.net.trace().text();
    assert!(
        text.contains("nat phone-nat64: nat64 [64:ff9b::c000:201]:3478 => 192.0.2.1:3478"),
        "{text}"
    );
}

#[test]
fn mappings_expire_exactly_at_the_timeout() {
    const T: Duration = Duration::from_secs(30);
    const TICK: Duration = Duration::from_nanos(1);
    let cfg = presets::ipv6_only_mobile(T);
    let prefix = cfg.prefix;
    let mut w = raw(cfg);
    w.client_sends(synth(prefix, S1, P1), b"open");
    let mapped = w.server_got()[0].0;
    let g = w.peer.nat().unwrap();
    // Alive one tick before the timeout (inbound refresh is on: this refreshes it)...
    let t0 = w.net.base();
    w.net.run_until(t0 + T - TICK);
    w.server_sends(sa(S1, P1), mapped, b"in");
    assert_eq!(w.client_got().len(), 1);
    // ...and gone exactly one timeout after the last activity.
    w.net.run_until(t0 + 2 * T - TICK);
    assert_eq!(w.net.nat_stats(g).mappings_expired, 1);
    w.server_sends(sa(S1, P1), mapped, b"too late");
    assert!(w.client_got().is_empty());
    assert_eq!(w.net.nat_stats(g).dropped_no_mapping, 1);
    let text = w.net.trace().text();
    assert!(
        text.contains("[59.999999999] nat phone-nat64: mapping expired udp [2001:db8:1::2]:5000"),
        "{text}"
    );
    // A fresh flow gets a fresh (random) mapping.
    w.client_sends(synth(prefix, S1, P1), b"again");
    assert_eq!(w.net.nat_stats(g).mappings_created, 2);
}

#[test]
fn strict_translators_keep_non_global_ipv4_out_of_the_well_known_prefix() {
    // RFC 6052 §3.1, as TAYGA enforces it: documentation addresses are not global.
    let strict = Nat64Config {
        strict_well_known: true,
        ..mobile()
    };
    let mut w = raw(strict.clone());
    w.client_sends(synth(Nat64Prefix::WELL_KNOWN, S1, P1), b"dropped");
    assert!(w.server_got().is_empty());
    let g = w.peer.nat().unwrap();
    assert_eq!(w.net.nat_stats(g).dropped_nat64_untranslatable, 1);
    // A network-specific prefix may carry them.
    let nsp: Nat64Prefix = "2001:db8:64::/96".parse().unwrap();
    let mut w = raw(Nat64Config {
        prefix: nsp,
        ..strict
    });
    w.client_sends(synth(nsp, S1, P1), b"passes");
    assert_eq!(w.server_got().len(), 1);
    // Under a /64 prefix, an address with a non-zero u-octet (bits 64-71) embeds nothing.
    let nsp64: Nat64Prefix = "2001:db8:64::/64".parse().unwrap();
    let mut w = raw(Nat64Config {
        prefix: nsp64,
        ..mobile()
    });
    assert_eq!(
        synth(nsp64, S1, P1),
        "[2001:db8:64:0:c0:2:100:0]:3478".parse().unwrap()
    );
    w.client_sends("[2001:db8:64:0:1c0:2:100:0]:3478".parse().unwrap(), b"x");
    assert!(w.server_got().is_empty());
    let g = w.peer.nat().unwrap();
    assert_eq!(w.net.nat_stats(g).dropped_nat64_untranslatable, 1);
    w.client_sends(synth(nsp64, S1, P1), b"y");
    assert_eq!(w.server_got().len(), 1);
}

#[test]
fn native_ipv6_beyond_the_carrier_is_not_modelled() {
    let mut w = raw(mobile());
    w.client_sends("[2001:db8:ffff::1]:3478".parse().unwrap(), b"v6");
    let g = w.peer.nat().unwrap();
    assert_eq!(w.net.nat_stats(g).dropped_no_external_address, 1);
}

#[test]
fn tcp_crosses_the_nat64_for_turn_over_tcp() {
    let mut w = raw(mobile());
    let prefix = Nat64Prefix::WELL_KNOWN;
    w.net
        .endpoint_mut(w.server)
        .tcp(TcpCommand::Listen { port: 443 });
    let remote = synth(prefix, S1, 443);
    let local = SocketAddr::new(w.peer.addr, 0);
    w.net.endpoint_mut(w.client).tcp(TcpCommand::Connect {
        token: 1,
        local,
        remote,
    });
    w.net.run_for(Duration::from_secs(1));
    let ev = w.net.endpoint(w.client).tcp_events.clone();
    let Some((
        _,
        TcpEvent::Connected {
            conn, remote: r, ..
        },
    )) = ev.first()
    else {
        panic!("{ev:?}")
    };
    assert_eq!(*r, remote);
    let sev = w.net.endpoint(w.server).tcp_events.clone();
    let Some((_, TcpEvent::Accepted { remote: seen, .. })) = sev.first() else {
        panic!("{sev:?}")
    };
    assert_eq!(seen.ip(), pool(&w.net, &w.peer));
    w.net.endpoint_mut(w.client).tcp(TcpCommand::Send {
        conn: *conn,
        data: b"ALLOCATE".to_vec(),
    });
    w.net.run_for(Duration::from_secs(1));
    let sev = &w.net.endpoint(w.server).tcp_events;
    assert!(
        matches!(&sev.last().unwrap().1, TcpEvent::Data { data, .. } if data == b"ALLOCATE"),
        "{sev:?}"
    );
}

/// Two IPv6-only phones on different carriers' NAT64s, and an echo server that tells each
/// its mapped (IPv4 pool) address: each pairs its IPv6 socket with the other's IPv4
/// "candidate" through `remote_via_nat64`, and both directions get through once both
/// have sent (address-dependent filtering).
#[test]
fn two_ipv6_only_peers_reach_each_other_through_their_nat64s() {
    let mut net = Internet::new(3);
    let echo = net.server("echo", &[S1]);
    net.attach(echo, EchoServer::new());
    let prefix = Nat64Prefix::WELL_KNOWN;
    let phones: Vec<(Peer, EndpointId<Recorder>)> = ["alice", "bob"]
        .iter()
        .map(|name| {
            let p = net.peer_ipv6_only(name, mobile(), LinkSpec::latency(ACCESS));
            let r = net.attach(p.host, Recorder::new());
            (p, r)
        })
        .collect();
    let mut srflx = Vec::new();
    for (p, r) in &phones {
        net.endpoint_mut(*r)
            .send(p.local(PORT), synth(prefix, S1, P1), b"who am i".to_vec());
        net.run_for(Duration::from_secs(1));
        let got = net.endpoint_mut(*r).take();
        let seen = EchoServer::parse_seen(&got[0].1.payload).unwrap();
        assert!(seen.is_ipv4(), "{seen}");
        srflx.push(seen);
    }
    // Each side's check goes to the other's candidate through its own NAT64.
    for (i, (p, r)) in phones.iter().enumerate() {
        let other = srflx[1 - i];
        let via = remote_via_nat64(&[prefix], p.local(PORT), other).expect("translated");
        assert_eq!(SocketAddr::V4(via.original), other);
        net.endpoint_mut(*r).send(
            p.local(PORT),
            SocketAddr::V6(via.translated),
            b"check".to_vec(),
        );
        net.run_for(Duration::from_secs(1));
    }
    // Alice's first check was filtered by Bob's NAT64 (Bob had not sent yet); Bob's
    // reached Alice, from Bob's candidate as Alice's NAT64 presents it.
    let (alice, bob) = (phones[0].1, phones[1].1);
    let a_got = net.endpoint_mut(alice).take();
    assert_eq!(a_got.len(), 1);
    let from = a_got[0].1.src;
    assert_eq!(
        pinhole::nat::nat64::original_remote(&[prefix], from),
        Some(match srflx[1] {
            SocketAddr::V4(v4) => v4,
            _ => unreachable!(),
        })
    );
    assert!(net.endpoint_mut(bob).take().is_empty());
    assert_eq!(
        net.nat_stats(phones[1].0.nat().unwrap()).dropped_filtered,
        1
    );
    // Alice answers: now it gets through.
    net.endpoint_mut(alice)
        .send(phones[0].0.local(PORT), from, b"answer".to_vec());
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.endpoint_mut(bob).take().len(), 1);
}

#[test]
fn roaming_from_wifi_onto_an_ipv6_only_carrier() {
    let mut net = Internet::new(5);
    let echo = net.server("echo", &[S1]);
    net.attach(echo, EchoServer::new());
    let wifi = net.peer("phone", Preset::PortRestrictedCone, ACCESS);
    let r = net.attach(wifi.host, Recorder::new());
    let host: HostId = wifi.host;
    let (cell, _) = net.roam_to_ipv6_only(host, 0, "cell", mobile(), LinkSpec::latency(ACCESS));
    let changes = net.endpoint(r).interface_changes.clone();
    assert_eq!(changes.last().unwrap().1, vec![cell.addr]);
    assert!(cell.addr.is_ipv6());
    // The IPv4 server is now reached only through the prefix.
    net.endpoint_mut(r)
        .send(cell.local(PORT), sa(S1, P1), b"v4 from v6".to_vec());
    net.endpoint_mut(r).send(
        cell.local(PORT),
        synth(Nat64Prefix::WELL_KNOWN, S1, P1),
        b"via nat64".to_vec(),
    );
    net.run_for(Duration::from_secs(1));
    let got = net.endpoint_mut(r).take();
    assert_eq!(got.len(), 1, "{got:?}");
    let seen = EchoServer::parse_seen(&got[0].1.payload).unwrap();
    assert_eq!(seen.ip(), pool(&net, &cell));
    assert_ne!(seen.ip(), IpAddr::V4(Ipv4Addr::UNSPECIFIED));
}
