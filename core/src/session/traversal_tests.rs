//! The session's port-mapping glue against a scripted NAT-PMP gateway, and its NAT
//! message: what a pump sees.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::*;
use crate::ice::{CandidateType, NatBehaviour, PortAllocation};
use crate::nat::{Filtering, Mapping};
use crate::portmap::Protocol;
use crate::Transmit;

const GATEWAY: &str = "10.0.0.1";
const SOCKET: &str = "10.0.0.2:5000";
const EXTERNAL: [u8; 4] = [203, 0, 113, 9];

fn a(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn gw() -> IpAddr {
    GATEWAY.parse().unwrap()
}

/// A session bound on 10.0.0.2:5000 behind 10.0.0.1, mapping with NAT-PMP only.
fn session(now: Instant, policy: PortMapPolicy) -> Session {
    let config = SessionConfig::default()
        .with_bind("10.0.0.2".parse().unwrap())
        .with_port(5000)
        .with_port_mapping(policy);
    let mut s = Session::new(config, now, StdRng::seed_from_u64(9)).unwrap();
    s.handle_input(now, Input::Gateway(Some(gw())));
    s
}

/// Everything the session wants done now (binds answered at once).
fn drain(s: &mut Session, now: Instant) -> (Vec<Transmit>, Vec<Event>, Vec<StreamRequest>) {
    let (mut tx, mut ev, mut st) = (Vec::new(), Vec::new(), Vec::new());
    loop {
        match s.poll_output() {
            Output::Socket(SocketRequest::Bind { ip, port }) => {
                let addr = SocketAddr::new(ip, if port == 0 { 40000 } else { port });
                s.handle_input(now, Input::SocketBound { addr });
            }
            Output::Socket(_) | Output::Resolve(_) | Output::Datagram(_) => {}
            Output::Stream(r) => st.push(r),
            Output::Transmit(t) => tx.push(t),
            Output::Event(e) => ev.push(e),
            Output::Timeout(_) => return (tx, ev, st),
        }
    }
}

fn to_gateway(tx: &[Transmit]) -> Vec<&Transmit> {
    tx.iter()
        .filter(|t| t.to == SocketAddr::new(gw(), 5351))
        .collect()
}

fn natpmp_external(epoch: u32) -> Vec<u8> {
    let mut b = vec![0, 128, 0, 0];
    b.extend(epoch.to_be_bytes());
    b.extend(EXTERNAL);
    b
}

fn natpmp_map(epoch: u32, internal: u16, external: u16, lifetime: u32) -> Vec<u8> {
    let mut b = vec![0, 129, 0, 0];
    b.extend(epoch.to_be_bytes());
    b.extend(internal.to_be_bytes());
    b.extend(external.to_be_bytes());
    b.extend(lifetime.to_be_bytes());
    b
}

fn from_gateway(s: &mut Session, now: Instant, bytes: &[u8]) {
    s.handle_input(
        now,
        Input::Datagram {
            local: a(SOCKET),
            from: SocketAddr::new(gw(), 5351),
            data: bytes,
        },
    );
}

fn mapped_candidates(ev: &[Event]) -> Vec<SocketAddr> {
    ev.iter()
        .filter_map(|e| match e {
            Event::Signal(Signal::Candidate(c)) if c.kind == CandidateType::ServerReflexive => {
                Some(SocketAddr::new(c.address.ip()?, c.port))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_nat_pmp_mapping_becomes_a_candidate_and_is_deleted_on_close() {
    let t0 = Instant::now();
    let mut s = session(t0, PortMapPolicy::only(Protocol::NatPmp));
    let (tx, ev, _) = drain(&mut s, t0);
    let probe = to_gateway(&tx);
    assert_eq!(probe.len(), 1, "{tx:?}");
    assert_eq!(
        (probe[0].from, &probe[0].bytes[..]),
        (a(SOCKET), &[0u8, 0][..])
    );
    assert!(mapped_candidates(&ev).is_empty());
    // The gateway answers the probe; the mapper maps; the gateway grants 40000.
    from_gateway(&mut s, t0, &natpmp_external(100));
    let (tx, _, _) = drain(&mut s, t0);
    let map = to_gateway(&tx);
    assert_eq!(map.len(), 1);
    assert_eq!(map[0].bytes[1], 1, "a UDP map request");
    let t1 = t0 + Duration::from_millis(5);
    from_gateway(&mut s, t1, &natpmp_map(100, 5000, 40000, 7200));
    let (_, ev, _) = drain(&mut s, t1);
    let ext = SocketAddr::from((EXTERNAL, 40000));
    assert_eq!(mapped_candidates(&ev), vec![ext]);
    let st = s.stats();
    assert_eq!(st.port_mappings.len(), 1);
    assert_eq!(st.port_mappings[0].mapping.unwrap().external, ext);
    assert!(st.to_json().contains("\"external\":\"203.0.113.9:40000\""));
    // Renewal at half the lease: a map request again, nothing signaled.
    let t2 = t1 + Duration::from_secs(3600);
    assert!(s.poll_timeout().unwrap() <= t2);
    s.handle_timeout(t2);
    let (tx, ev, _) = drain(&mut s, t2);
    assert_eq!(to_gateway(&tx).len(), 1, "renewal");
    assert!(mapped_candidates(&ev).is_empty());
    from_gateway(&mut s, t2, &natpmp_map(3700, 5000, 40000, 7200));
    // Close: the delete goes out, and the session is finished once it is answered.
    s.close(t2);
    let (tx, _, _) = drain(&mut s, t2);
    let del = to_gateway(&tx);
    assert_eq!(del.len(), 1);
    assert_eq!(&del[0].bytes[8..12], &[0, 0, 0, 0], "lifetime 0 deletes");
    assert!(s.is_closed() && !s.is_finished());
    assert!(s.poll_timeout().is_some(), "the delete is retransmitted");
    from_gateway(&mut s, t2, &natpmp_map(3700, 5000, 0, 0));
    let _ = drain(&mut s, t2);
    assert!(s.is_finished());
}

#[test]
fn an_unanswered_delete_is_given_up_at_the_close_timeout() {
    let t0 = Instant::now();
    let mut s = session(t0, PortMapPolicy::only(Protocol::NatPmp));
    let _ = drain(&mut s, t0);
    from_gateway(&mut s, t0, &natpmp_external(1));
    let _ = drain(&mut s, t0);
    from_gateway(&mut s, t0, &natpmp_map(1, 5000, 40000, 7200));
    let _ = drain(&mut s, t0);
    s.close(t0);
    while !s.is_finished() {
        let now = s.poll_timeout().expect("driven until finished");
        assert!(
            now <= t0 + Duration::from_secs(3),
            "bounded by close_timeout"
        );
        s.handle_timeout(now);
        let _ = drain(&mut s, now);
    }
}

#[test]
fn disabled_port_mapping_never_talks_to_the_gateway() {
    let t0 = Instant::now();
    let mut s = session(t0, PortMapPolicy::disabled());
    let (tx, _, st) = drain(&mut s, t0);
    assert!(to_gateway(&tx).is_empty() && st.is_empty(), "{tx:?}");
    // A peer's datagram from the gateway's address still reaches ICE (counted there).
    let before = s.stats().ice.counters.data_unknown_source;
    s.handle_input(
        t0,
        Input::Datagram {
            local: a(SOCKET),
            from: SocketAddr::new(gw(), 5351),
            data: b"hello",
        },
    );
    assert_eq!(s.stats().ice.counters.data_unknown_source, before + 1);
    assert!(!s.is_finished(), "not closed");
}

#[test]
fn upnp_http_streams_have_their_own_ids() {
    let t0 = Instant::now();
    let mut s = session(t0, PortMapPolicy::only(Protocol::Upnp));
    let (tx, _, _) = drain(&mut s, t0);
    assert!(
        tx.iter().any(|t| t.to == crate::portmap::SSDP_MULTICAST),
        "SSDP search from the socket: {tx:?}"
    );
    // The gateway's SSDP answer names its description: an HTTP stream follows.
    let ssdp = format!(
        "HTTP/1.1 200 OK\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\
         LOCATION: http://{GATEWAY}:5000/rootDesc.xml\r\nUSN: uuid:x\r\n\r\n"
    );
    s.handle_input(
        t0,
        Input::Datagram {
            local: a(SOCKET),
            from: SocketAddr::new(gw(), 1900),
            data: ssdp.as_bytes(),
        },
    );
    let (_, _, st) = drain(&mut s, t0);
    let Some(StreamRequest::Connect {
        id,
        server,
        transport,
        ..
    }) = st.first()
    else {
        panic!("{st:?}")
    };
    assert!(id.0 & PORTMAP_STREAM_BIT != 0);
    assert_eq!(*server, SocketAddr::new(gw(), 5000));
    assert_eq!(*transport, crate::turn::TransportKind::Tcp);
}

#[test]
fn the_peer_nat_message_is_taken_without_credentials() {
    let t0 = Instant::now();
    let mut s = session(t0, PortMapPolicy::disabled());
    let n = NatBehaviour {
        mapping: Mapping::AddressAndPortDependent,
        filtering: Filtering::AddressAndPortDependent,
        allocation: PortAllocation::Sequential { last: 40007 },
    };
    s.handle_signal(t0, &Signal::Nat(n).to_json()).unwrap();
    assert_eq!(s.stats().signals_ignored, 0);
}

/// The signals a session emits up to and including end-of-candidates.
fn signals_until_eoc(s: &mut Session, now: Instant) -> Vec<String> {
    let (_, ev, _) = drain(s, now);
    ev.into_iter()
        .filter_map(|e| match e {
            Event::Signal(m) => Some(m),
            _ => None,
        })
        .take_while(|m| *m != Signal::EndOfCandidates)
        .map(|m| match m {
            // Credentials differ per session (random); their kind is what matters.
            Signal::Credentials(_) => "credentials".to_owned(),
            other => other.to_json(),
        })
        .collect()
}

#[test]
fn a_silent_gateway_never_delays_gathering() {
    let t0 = Instant::now();
    let mut with = session(t0, PortMapPolicy::default());
    let mut without = session(t0, PortMapPolicy::disabled());
    let a = signals_until_eoc(&mut with, t0);
    let b = signals_until_eoc(&mut without, t0);
    assert_eq!(a, b, "same signals, end-of-candidates at once");
    assert!(!a.is_empty());
    // The probes are out meanwhile, and the mapper's deadline is the session's next one.
    assert!(with.poll_timeout().is_some());
}

#[test]
fn a_network_change_maps_again_and_a_new_gateway_gets_new_mappings() {
    let t0 = Instant::now();
    let mut s = session(t0, PortMapPolicy::only(Protocol::NatPmp));
    let _ = drain(&mut s, t0);
    from_gateway(&mut s, t0, &natpmp_external(100));
    let _ = drain(&mut s, t0);
    from_gateway(&mut s, t0, &natpmp_map(100, 5000, 40000, 7200));
    let (_, ev, _) = drain(&mut s, t0);
    assert_eq!(mapped_candidates(&ev).len(), 1);
    // Back from the background: a major change, the mapper probes again.
    let t1 = t0 + Duration::from_secs(1);
    s.set_foreground(t1, false);
    s.set_foreground(t1, true);
    let (tx, _, _) = drain(&mut s, t1);
    let probe = to_gateway(&tx);
    assert!(
        probe.iter().any(|t| t.bytes[..] == [0u8, 0][..]),
        "probed again: {tx:?}"
    );
    from_gateway(&mut s, t1, &natpmp_external(101));
    let _ = drain(&mut s, t1);
    from_gateway(&mut s, t1, &natpmp_map(101, 5000, 40000, 7200));
    let (_, ev, _) = drain(&mut s, t1);
    assert!(
        mapped_candidates(&ev).is_empty(),
        "the same mapping: nothing new"
    );
    // A new gateway: the old mapping is deleted through the old one, the new one probed.
    let t2 = t1 + Duration::from_secs(1);
    let other: IpAddr = "10.0.0.254".parse().unwrap();
    s.handle_input(t2, Input::Gateway(Some(other)));
    let (tx, _, _) = drain(&mut s, t2);
    assert!(
        tx.iter().any(|t| t.to == SocketAddr::new(other, 5351)),
        "the new gateway is asked: {tx:?}"
    );
    let delete = to_gateway(&tx);
    assert!(
        delete
            .iter()
            .any(|t| t.bytes.len() == 12 && t.bytes[8..12] == [0, 0, 0, 0]),
        "the old mapping is deleted: {tx:?}"
    );
    assert!(s
        .port_mappings()
        .iter()
        .any(|m| m.closing && m.gateway == gw()));
    assert_eq!(s.gateway(), Some(other));
}
