//! Agent tests in the in-memory harness: connecting, trickle, roles, NAT,
//! hostile input, determinism. Times are virtual.

use std::time::Duration;

use super::agent::{
    ConnectionState, IceConfig, IceError, IceEvent, Input, NominationMode, PathKind,
};
use super::candidate::{Candidate, CandidateType};
use super::harness::{addr, Nat, NatKind, Net};
use crate::stun::{encode_to_vec, Attribute, Class, Message, MessageType, Method, TransactionId};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn cfg() -> IceConfig {
    IceConfig::default()
}

#[test]
fn host_to_host_connects_within_one_rtt_plus_pacing() {
    let mut net = Net::hosts(1, cfg(), cfg());
    assert!(net.run_until(ms(1000), Net::both_connected));
    // 10 ms one way: the controlling side's first check returns at 20 ms and
    // it uses the pair at once; the controlled side selects when the
    // nomination arrives (30 ms).
    let c0 = net
        .first_event(0, |e| matches!(e, IceEvent::SelectedPair(_)))
        .unwrap();
    let c1 = net
        .first_event(1, |e| matches!(e, IceEvent::SelectedPair(_)))
        .unwrap();
    assert_eq!(c0, ms(20), "controlling connects after one RTT");
    assert_eq!(
        c1,
        ms(30),
        "controlled connects when the nomination arrives"
    );
    assert!(c0 <= ms(20 + 50) && c1 <= ms(20 + 50));
    let sel = net.nodes[0].agent.selected_pair().unwrap();
    assert_eq!(sel.path, PathKind::Direct);
    assert_eq!(sel.local.kind, CandidateType::Host);
    assert_eq!(sel.remote_addr, addr("10.0.1.1:6000"));
    assert_eq!(sel.rtt, Some(ms(20)));
    net.run_for(ms(20));
    // Both ended candidates, nothing better pending, nomination confirmed.
    assert_eq!(
        net.nodes[0].agent.connection_state(),
        ConnectionState::Completed
    );
    assert_eq!(
        net.nodes[1].agent.connection_state(),
        ConnectionState::Completed
    );

    // Data both ways.
    assert!(net.send_data(0, "hello"));
    assert!(net.send_data(1, "world"));
    net.run_for(ms(50));
    assert_eq!(net.received(1), vec!["hello"]);
    assert_eq!(net.received(0), vec!["world"]);
    let st = net.nodes[1].agent.stats();
    assert_eq!(st.selected.unwrap().path, PathKind::Direct);
    let p = st.pairs.iter().find(|p| p.selected).unwrap();
    assert!(p.requests_received >= 1 && p.responses_received >= 1 && p.bytes_received > 0);
}

#[test]
fn aggressive_nomination_connects_both_sides_in_one_rtt() {
    let c0 = IceConfig {
        nomination: NominationMode::Aggressive,
        ..cfg()
    };
    let mut net = Net::hosts(2, c0, cfg());
    assert!(net.run_until(ms(1000), Net::both_connected));
    assert_eq!(
        net.first_event(0, |e| matches!(e, IceEvent::SelectedPair(_))),
        Some(ms(20))
    );
    assert_eq!(
        net.first_event(1, |e| matches!(e, IceEvent::SelectedPair(_))),
        Some(ms(20))
    );
}

#[test]
fn send_before_connected_is_an_actionable_error() {
    let mut net = Net::hosts(3, cfg(), cfg());
    let now = net.now;
    let err = net.agent(0).send_data(now, b"x").unwrap_err();
    assert_eq!(err, IceError::NotConnected);
    assert!(err.to_string().contains("wait for"));
    net.run_until(ms(500), Net::both_connected);
    let now = net.now;
    assert_eq!(
        net.agent(0).send_data(now, &[1, 2]),
        Err(IceError::AmbiguousData(1))
    );
}

/// Candidates signalled by hand: `first` gets the peer's candidates at
/// 100 ms, the other side at 300 ms.
fn trickle_in_order(first: usize) -> Net {
    let mut net = Net::new(
        4,
        IceConfig {
            controlling: true,
            ..cfg()
        },
        IceConfig {
            controlling: false,
            ..cfg()
        },
    );
    net.auto_signal = false;
    net.exchange_credentials();
    net.add_socket(0, "10.0.0.1:5000");
    net.add_socket(1, "10.0.1.1:6000");
    net.pump();
    let cands: Vec<Vec<IceEvent>> = (0..2)
        .map(|i| net.nodes[i].events.iter().map(|(_, e)| e.clone()).collect())
        .collect();
    net.run_for(ms(100));
    for e in cands[1 - first].clone() {
        net.signal(first, e);
    }
    net.run_until(ms(300), |_| false);
    for e in cands[first].clone() {
        net.signal(1 - first, e);
    }
    assert!(net.run_until(ms(2000), Net::both_connected));
    net
}

#[test]
fn trickle_in_both_orders() {
    for first in [0, 1] {
        let net = trickle_in_order(first);
        // The side that got candidates at 100 ms checks at once; the other
        // learns it as peer-reflexive from the check and answers with a
        // triggered check, so both connect long before the late candidates.
        let t0 = net
            .first_event(0, |e| matches!(e, IceEvent::SelectedPair(_)))
            .unwrap();
        let t1 = net
            .first_event(1, |e| matches!(e, IceEvent::SelectedPair(_)))
            .unwrap();
        assert!(
            t0 <= ms(160) && t1 <= ms(160),
            "first={first}: {t0:?} {t1:?}"
        );
        // The late candidate duplicates the peer-reflexive one: counted, and it
        // gives the prflx remote its signaled type (RFC 8838 §11).
        let late = 1 - first;
        let pairs = net.nodes[late].agent.stats().pairs;
        assert!(
            pairs.iter().all(|p| p.remote_type == CandidateType::Host),
            "first={first}: {pairs:?}"
        );
        assert_eq!(net.nodes[late].agent.stats().remote_candidates, 1);
        assert_eq!(
            net.nodes[late].agent.stats().counters.duplicate_candidates,
            1
        );
        assert_eq!(
            net.nodes[late].agent.stats().counters.prflx_remote_learned,
            1
        );
    }
}

#[test]
fn candidates_before_credentials_are_held() {
    let mut net = Net::new(
        5,
        IceConfig {
            controlling: true,
            ..cfg()
        },
        IceConfig {
            controlling: false,
            ..cfg()
        },
    );
    net.add_socket(0, "10.0.0.1:5000");
    net.add_socket(1, "10.0.1.1:6000");
    net.run_for(ms(200));
    assert!(!net.both_connected());
    assert_eq!(
        net.nodes[0].agent.stats().remote_candidates,
        1,
        "held, not dropped"
    );
    assert_eq!(net.nodes[0].agent.stats().counters.checks_sent, 0);
    net.exchange_credentials();
    assert!(net.run_until(ms(1000), Net::both_connected));
    assert_eq!(
        net.first_event(0, |e| matches!(e, IceEvent::SelectedPair(_))),
        Some(ms(220))
    );
}

#[test]
fn duplicate_candidates_are_ignored() {
    let mut net = Net::hosts(6, cfg(), cfg());
    net.pump();
    let c = Candidate::parse("candidate:1 1 udp 2130706431 10.0.1.1 6000 typ host").unwrap();
    let now = net.now;
    for _ in 0..3 {
        net.agent(0)
            .handle_input(now, Input::RemoteCandidate(c.clone()))
            .unwrap();
    }
    let st = net.nodes[0].agent.stats();
    assert_eq!(st.remote_candidates, 1);
    assert_eq!(
        st.counters.duplicate_candidates, 3,
        "one already came by signaling"
    );
    assert_eq!(st.pairs.len(), 1);
    assert!(net.run_until(ms(500), Net::both_connected));
}

#[test]
fn remote_candidate_limits_and_bad_candidates() {
    let mut net = Net::hosts(7, cfg(), cfg());
    net.pump();
    let now = net.now;
    let tcp = Candidate::parse("candidate:1 1 tcp 2130706431 10.0.1.9 9 typ host tcptype active")
        .unwrap();
    assert!(matches!(
        net.agent(0).handle_input(now, Input::RemoteCandidate(tcp)),
        Err(IceError::UnsupportedTransport(_))
    ));
    let mut refused = 0;
    for i in 0..150u32 {
        let c = Candidate::parse(&format!(
            "candidate:1 1 udp 2130706431 10.9.{}.{} 7000 typ host",
            i / 200,
            i % 200 + 1
        ))
        .unwrap();
        if net
            .agent(0)
            .handle_input(now, Input::RemoteCandidate(c))
            .is_err()
        {
            refused += 1;
        }
    }
    let st = net.nodes[0].agent.stats();
    assert_eq!(st.remote_candidates, 100);
    assert!(st.pairs.len() <= 100);
    assert_eq!(refused, 51);
}

#[test]
fn role_conflict_resolves() {
    for (seed, both_controlling) in [(8, true), (9, false), (10, true), (11, false)] {
        let c = IceConfig {
            controlling: both_controlling,
            ..cfg()
        };
        let mut net = Net::new(seed, c.clone(), c);
        net.exchange_credentials();
        net.add_socket(0, "10.0.0.1:5000");
        net.add_socket(1, "10.0.1.1:6000");
        assert!(net.run_until(ms(2000), Net::both_connected), "seed {seed}");
        let roles = (
            net.nodes[0].agent.is_controlling(),
            net.nodes[1].agent.is_controlling(),
        );
        assert!(roles.0 != roles.1, "exactly one controlling: {roles:?}");
        assert!(
            net.nodes[0].agent.stats().counters.role_conflicts
                + net.nodes[1].agent.stats().counters.role_conflicts
                >= 1
        );
        let t = net
            .first_event(1, |e| matches!(e, IceEvent::SelectedPair(_)))
            .unwrap();
        assert!(t <= ms(200), "seed {seed}: {t:?}");
        assert!(net.send_data(0, "x") && net.send_data(1, "y"));
        net.run_for(ms(50));
        assert_eq!(net.received(1), vec!["x"]);
    }
}

/// Node 0 behind a symmetric NAT, node 1 behind an endpoint-independent
/// mapping / address-dependent filtering NAT, one STUN server.
fn nat_net(seed: u64) -> Net {
    let stun = addr("198.51.100.1:3478");
    let c = |controlling| IceConfig {
        controlling,
        stun_servers: vec![stun],
        ..cfg()
    };
    let mut net = Net::new(seed, c(true), c(false));
    net.stun_server = Some(stun);
    net.nodes[0].nat = Some(Nat::new("203.0.113.1", NatKind::Symmetric));
    net.nodes[1].nat = Some(Nat::new("203.0.113.2", NatKind::EimAdf));
    net.exchange_credentials();
    net.add_socket(0, "192.168.0.10:5000");
    net.add_socket(1, "192.168.1.20:6000");
    net
}

#[test]
fn peer_reflexive_through_symmetric_nat() {
    let mut net = nat_net(12);
    assert!(net.run_until(ms(3000), Net::both_connected));
    // The controlled side only knows node 0's mapping towards it from the check.
    let s1 = net.nodes[1].agent.selected_pair().unwrap();
    assert_eq!(s1.remote.kind, CandidateType::PeerReflexive);
    assert_eq!(
        s1.remote_addr.ip(),
        "203.0.113.1".parse::<std::net::IpAddr>().unwrap()
    );
    // And node 0 sees itself as peer-reflexive in the response.
    let s0 = net.nodes[0].agent.selected_pair().unwrap();
    assert_eq!(s0.local.kind, CandidateType::PeerReflexive);
    assert_eq!(s0.remote.kind, CandidateType::ServerReflexive);
    assert!(net.nodes[0].agent.stats().counters.prflx_local_learned >= 1);
    assert!(net.nodes[1].agent.stats().counters.prflx_remote_learned >= 1);
    // srflx gathering takes one RTT to the server (20 ms), then checks:
    let t = net
        .first_event(1, |e| matches!(e, IceEvent::SelectedPair(_)))
        .unwrap();
    assert!(t <= ms(200), "{t:?}");
    assert!(net.send_data(0, "through") && net.send_data(1, "nat"));
    net.run_for(ms(50));
    assert_eq!(net.received(1), vec!["through"]);
    assert_eq!(net.received(0), vec!["nat"]);
}

#[test]
fn dead_stun_server_does_not_stall() {
    let dead = addr("198.51.100.99:3478");
    let c = |controlling| IceConfig {
        controlling,
        stun_servers: vec![dead],
        ..cfg()
    };
    let mut net = Net::new(13, c(true), c(false));
    net.exchange_credentials();
    net.add_socket(0, "10.0.0.1:5000");
    net.add_socket(1, "10.0.1.1:6000");
    assert!(net.run_until(ms(1000), Net::both_connected));
    assert_eq!(
        net.first_event(0, |e| matches!(e, IceEvent::SelectedPair(_))),
        Some(ms(20))
    );
    net.run_for(ms(6000));
    let done = net
        .first_event(0, |e| {
            *e == IceEvent::GatheringStateChanged(super::agent::GatheringState::Complete)
        })
        .unwrap();
    assert_eq!(done, ms(5000), "gathering gives up at 5 s");
    assert_eq!(
        net.nodes[0].agent.connection_state(),
        ConnectionState::Completed
    );
}

fn stun_request(username: Option<&str>, key: Option<&[u8]>) -> Vec<u8> {
    let tid = TransactionId([7; 12]);
    let mut attrs = vec![Attribute::Priority(1)];
    if let Some(u) = username {
        attrs.push(Attribute::Username(u));
    }
    encode_to_vec(
        MessageType::new(Class::Request, Method::BINDING),
        tid,
        &attrs,
        key,
        true,
    )
    .unwrap()
}

#[test]
fn malformed_and_unauthenticated_input_is_counted_never_panics() {
    let mut net = Net::hosts(14, cfg(), cfg());
    net.pump();
    let now = net.now;
    let local = addr("10.0.0.1:5000");
    let evil = addr("10.6.6.6:666");
    let ufrag = net.nodes[0]
        .agent
        .local_credentials()
        .ufrag
        .as_str()
        .to_owned();
    let garbage: Vec<Vec<u8>> = vec![
        vec![],
        vec![0, 1],
        vec![0x00, 0x01, 0x00, 0x04, 0x21, 0x12, 0xa4, 0x42],
        {
            let mut v = stun_request(None, None);
            v[2] = 0xff; // length mismatch
            v
        },
        {
            let mut v = stun_request(None, None);
            let n = v.len();
            v[n - 1] ^= 0xff; // bad FINGERPRINT
            v
        },
    ];
    let a = net.agent(0);
    for g in &garbage {
        a.handle_input(
            now,
            Input::Receive {
                local,
                from: evil,
                data: g,
            },
        )
        .unwrap();
    }
    assert_eq!(a.stats().counters.malformed, 5);
    while a.poll_transmit().is_some() {}

    // No USERNAME/MESSAGE-INTEGRITY → 400; wrong ufrag or password → 401.
    let cases: [(Vec<u8>, u16); 3] = [
        (stun_request(None, None), 400),
        (
            stun_request(Some("nope:x"), Some(b"whatever-password-123")),
            401,
        ),
        (
            stun_request(
                Some(&format!("{ufrag}:x")),
                Some(b"wrong-password-wrong-pw"),
            ),
            401,
        ),
    ];
    for (req, code) in &cases {
        a.handle_input(
            now,
            Input::Receive {
                local,
                from: evil,
                data: req,
            },
        )
        .unwrap();
        let t = a.poll_transmit().expect("an error response");
        assert_eq!(t.to, evil);
        let m = Message::parse(&t.bytes).unwrap();
        assert_eq!(m.class(), Class::Error);
        assert_eq!(m.error_code().unwrap().unwrap().code, *code);
    }
    assert_eq!(a.stats().counters.unauthenticated, 3);
    assert_eq!(
        a.stats().counters.prflx_remote_learned,
        0,
        "nothing learned from them"
    );
    // Application data from a stranger is dropped; TURN ChannelData is unsupported.
    a.handle_input(
        now,
        Input::Receive {
            local,
            from: evil,
            data: b"hi",
        },
    )
    .unwrap();
    a.handle_input(
        now,
        Input::Receive {
            local,
            from: evil,
            data: &[0x40, 0, 0, 0],
        },
    )
    .unwrap();
    a.handle_input(
        now,
        Input::Receive {
            local: addr("10.0.0.9:1"),
            from: evil,
            data: b"hi",
        },
    )
    .unwrap();
    let c = a.stats().counters;
    assert_eq!(
        (c.data_unknown_source, c.unsupported, c.unknown_socket),
        (1, 1, 1)
    );
    assert!(!a.stats().pairs.is_empty());
    // Still connects.
    assert!(net.run_until(ms(1000), Net::both_connected));
}

#[test]
fn random_input_never_panics() {
    use rand::{Rng, SeedableRng};
    let mut net = Net::hosts(15, cfg(), cfg());
    net.run_until(ms(500), Net::both_connected);
    let mut rng = rand::rngs::StdRng::seed_from_u64(99);
    let now = net.now;
    let from = addr("10.0.1.1:6000");
    for _ in 0..2000 {
        let n = rng.gen_range(0..120);
        let mut v: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
        if rng.gen_bool(0.5) && v.len() >= 20 {
            v[0] &= 0x01;
            v[4..8].copy_from_slice(&0x2112_A442u32.to_be_bytes());
            let len = (v.len() - 20) as u16;
            v[2..4].copy_from_slice(&len.to_be_bytes());
        }
        let _ = net.agent(0).handle_input(
            now,
            Input::Receive {
                local: addr("10.0.0.1:5000"),
                from,
                data: &v,
            },
        );
    }
    assert!(net.nodes[0].agent.stats().counters.malformed > 0);
    assert!(net.connected(0));
}

#[test]
fn same_seed_replays_exactly() {
    let run = |seed| {
        let mut net = nat_net(seed);
        net.loss = 0.2;
        net.run_until(ms(5000), Net::both_connected);
        net.run_for(ms(2000));
        let events: Vec<String> = net
            .nodes
            .iter()
            .flat_map(|n| n.events.iter().map(|e| format!("{e:?}")))
            .collect();
        (net.log, events)
    };
    let (a, b) = (run(21), run(21));
    assert_eq!(a, b);
    assert!(!a.0.is_empty());
    assert_ne!(run(22).0, a.0);
}

#[test]
fn sockets_added_together_report_complete_once_after_all_their_candidates() {
    use super::agent::{GatheringState, IceAgent};
    use super::priority::NetworkCost;
    use rand::SeedableRng;

    let mut agent = IceAgent::new(cfg(), rand::rngs::StdRng::seed_from_u64(1));
    let now = std::time::Instant::now();
    for a in ["192.0.2.10:5000", "198.51.100.10:5000"] {
        agent
            .add_local_socket(now, addr(a), NetworkCost::WIFI)
            .unwrap();
    }
    let events: Vec<IceEvent> = std::iter::from_fn(|| agent.poll_event()).collect();
    let gathering: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e, IceEvent::GatheringStateChanged(_)))
        .map(|(i, _)| i)
        .collect();
    let candidates: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e, IceEvent::LocalCandidate(_)))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(candidates.len(), 2, "{events:?}");
    assert_eq!(
        gathering.len(),
        1,
        "one gathering event, not a stale one: {events:?}"
    );
    assert!(matches!(
        events[gathering[0]],
        IceEvent::GatheringStateChanged(GatheringState::Complete)
    ));
    assert!(
        gathering[0] > candidates[1],
        "Complete after every candidate: {events:?}"
    );
}

#[test]
fn authenticated_request_with_unknown_comprehension_required_attribute_gets_420() {
    // RFC 8489 §6.3.1: after authentication, an unknown attribute in 0x0000-0x7FFF is
    // answered 420 listing it in UNKNOWN-ATTRIBUTES, and the check is not processed.
    let mut net = Net::hosts(15, cfg(), cfg());
    net.pump();
    let now = net.now;
    let local = addr("10.0.0.1:5000");
    let stranger = addr("10.0.0.9:7000");
    let creds = net.nodes[0].agent.local_credentials().clone();
    let username = format!("{}:peer", creds.ufrag.as_str());
    let unknown = 0x7f01;
    let req = encode_to_vec(
        MessageType::new(Class::Request, Method::BINDING),
        TransactionId([9; 12]),
        &[
            Attribute::Username(&username),
            Attribute::Priority(1),
            Attribute::Unknown {
                typ: unknown,
                value: &[0; 4],
            },
        ],
        Some(creds.pwd.as_str().as_bytes()),
        true,
    )
    .unwrap();
    let a = net.agent(0);
    while a.poll_transmit().is_some() {}
    a.handle_input(
        now,
        Input::Receive {
            local,
            from: stranger,
            data: &req,
        },
    )
    .unwrap();
    let t = a.poll_transmit().expect("a 420 response");
    let m = Message::parse(&t.bytes).unwrap();
    assert_eq!(m.class(), Class::Error);
    assert_eq!(m.error_code().unwrap().unwrap().code, 420);
    let listed: Vec<u16> = m.unknown_attributes().unwrap().unwrap().iter().collect();
    assert_eq!(listed, vec![unknown]);
    assert!(
        m.has_integrity(),
        "answers to authenticated requests are protected"
    );
    assert!(a.poll_transmit().is_none(), "no triggered check for it");
    assert_eq!(a.stats().counters.unknown_attributes, 1);
    assert_eq!(a.stats().counters.prflx_remote_learned, 0);
}

#[test]
fn check_response_with_unknown_comprehension_required_attribute_fails_the_pair() {
    // RFC 8489 §6.3.3: such a success response is discarded and the transaction failed.
    let mut net = Net::hosts(16, cfg(), cfg());
    let now = net.now;
    let (local, remote) = (addr("10.0.0.1:5000"), addr("10.0.1.1:6000"));
    let remote_pwd = net.nodes[1].agent.local_credentials().pwd.clone();
    let line = format!(
        "candidate:1 1 udp 2130706431 {} {} typ host",
        remote.ip(),
        remote.port()
    );
    let a = net.agent(0);
    a.handle_input(
        now,
        Input::RemoteCandidate(Candidate::parse(&line).unwrap()),
    )
    .unwrap();
    let mut t = now;
    let check = loop {
        a.handle_timeout(t);
        if let Some(x) = std::iter::from_fn(|| a.poll_transmit()).find(|x| x.to == remote) {
            break x;
        }
        t += ms(5);
        assert!(t < now + ms(500), "no check sent");
    };
    let req = Message::parse(&check.bytes).unwrap();
    let resp = encode_to_vec(
        MessageType::new(Class::Success, Method::BINDING),
        req.transaction_id(),
        &[
            Attribute::XorMappedAddress(local),
            Attribute::Unknown {
                typ: 0x7f02,
                value: &[1, 2, 3, 4],
            },
        ],
        Some(remote_pwd.as_str().as_bytes()),
        true,
    )
    .unwrap();
    a.handle_input(
        t,
        Input::Receive {
            local,
            from: remote,
            data: &resp,
        },
    )
    .unwrap();
    let stats = a.stats();
    assert_eq!(stats.counters.unknown_attributes, 1);
    assert!(a.selected_pair().is_none());
    let pair = stats
        .pairs
        .iter()
        .find(|p| p.local == local && p.remote == remote)
        .unwrap();
    assert_eq!(pair.state, super::pair::PairState::Failed);
}
