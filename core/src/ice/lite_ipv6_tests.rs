//! ICE-lite peers and IPv6 host candidates, in virtual time.
//!
//! - An ICE-lite peer (RFC 8445 §2.5) announced with `Input::RemoteOptions { lite: true }`
//!   never sends checks and only answers them; it is played here by a scripted responder.
//!   Our agent must take the controlling role, check and nominate on its own.
//! - IPv6-only hosts connect; dual-stack hosts connect on a same-family pair.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::agent::{ConnectionState, IceAgent, IceConfig, IceEvent, Input, PathKind};
use super::candidate::{Candidate, CandidateType};
use super::harness::{addr, Net};
use super::priority::NetworkCost;
use super::sdp::IceCredentials;
use crate::stun::{encode_to_vec, Attribute, Class, Message, MessageType, Method};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const LITE_UFRAG: &str = "lite";
const LITE_PWD: &str = "litepasswordlitepasswd";

/// What the scripted lite peer saw.
#[derive(Default)]
struct LiteLog {
    requests: usize,
    /// When the first request carrying USE-CANDIDATE arrived (the lite peer selects then).
    nominated_at: Option<Duration>,
    /// Every request carried ICE-CONTROLLING and none ICE-CONTROLLED.
    all_controlling: bool,
    data: Vec<String>,
}

/// A datagram in flight: (arrival, src, dst, bytes).
type Flight = (Instant, SocketAddr, SocketAddr, Vec<u8>);

/// The scripted ICE-lite peer: answers authenticated Binding requests with a success
/// response (XOR-MAPPED-ADDRESS = the source), sends nothing else unprompted.
fn lite_answer(
    local_ufrag: &str,
    from: SocketAddr,
    bytes: &[u8],
    log: &mut LiteLog,
    at: Duration,
) -> Option<Vec<u8>> {
    let Ok(m) = Message::parse(bytes) else {
        log.data.push(String::from_utf8_lossy(bytes).into_owned());
        return None;
    };
    if m.class() != Class::Request || m.method() != Method::BINDING {
        return None;
    }
    m.verify_integrity(LITE_PWD.as_bytes())
        .expect("check signed with the lite peer's password");
    let mut user = None;
    let (mut controlling, mut controlled, mut use_candidate) = (false, false, false);
    for a in m.typed_attributes() {
        match a.unwrap() {
            Attribute::Username(u) => user = Some(u.to_string()),
            Attribute::IceControlling(_) => controlling = true,
            Attribute::IceControlled(_) => controlled = true,
            Attribute::UseCandidate => use_candidate = true,
            _ => {}
        }
    }
    assert_eq!(
        user.as_deref(),
        Some(&*format!("{LITE_UFRAG}:{local_ufrag}"))
    );
    log.requests += 1;
    log.all_controlling &= controlling && !controlled;
    if use_candidate && log.nominated_at.is_none() {
        log.nominated_at = Some(at);
    }
    Some(
        encode_to_vec(
            MessageType::new(Class::Success, Method::BINDING),
            m.transaction_id(),
            &[Attribute::XorMappedAddress(from)],
            Some(LITE_PWD.as_bytes()),
            true,
        )
        .unwrap(),
    )
}

#[test]
fn full_agent_controls_and_nominates_against_an_ice_lite_peer() {
    let start = Instant::now();
    let delay = ms(10);
    let (ours, lite) = (addr("10.0.0.1:5000"), addr("10.0.1.1:6000"));
    // Configured controlled on purpose: a lite peer must make us controlling.
    let mut agent = IceAgent::new(
        IceConfig {
            controlling: false,
            ..IceConfig::default()
        },
        StdRng::seed_from_u64(41),
    );
    let local_ufrag = agent.local_credentials().ufrag.as_str().to_string();
    agent
        .handle_input(
            start,
            Input::RemoteCredentials(IceCredentials::new(LITE_UFRAG, LITE_PWD).unwrap()),
        )
        .unwrap();
    agent
        .handle_input(
            start,
            Input::RemoteOptions {
                options: Vec::new(),
                lite: true,
            },
        )
        .unwrap();
    assert!(agent.is_controlling(), "a lite peer makes us controlling");
    agent
        .add_local_socket(start, ours, NetworkCost::WIFI)
        .unwrap();
    let c = Candidate::parse("candidate:1 1 udp 2130706431 10.0.1.1 6000 typ host").unwrap();
    agent
        .handle_input(start, Input::RemoteCandidate(c))
        .unwrap();
    agent
        .handle_input(start, Input::RemoteEndOfCandidates)
        .unwrap();

    let mut log = LiteLog {
        all_controlling: true,
        ..LiteLog::default()
    };
    let mut now = start;
    let mut wire: VecDeque<Flight> = VecDeque::new();
    let mut events: Vec<(Duration, IceEvent)> = Vec::new();
    let mut sent_data = false;
    let mut lite_sent_data = false;
    while now - start < ms(1000) {
        while let Some(t) = agent.poll_transmit() {
            wire.push_back((now + delay, t.from, t.to, t.bytes));
        }
        while let Some(e) = agent.poll_event() {
            events.push((now - start, e));
        }
        if agent.selected_pair().is_some() && !sent_data {
            sent_data = true;
            agent.send_data(now, b"hello lite").unwrap();
            continue;
        }
        // The lite peer may send data once it has been nominated.
        if log.nominated_at.is_some() && !lite_sent_data {
            lite_sent_data = true;
            wire.push_back((now + delay, lite, ours, b"hello full".to_vec()));
        }
        if sent_data && lite_sent_data && wire.is_empty() {
            break;
        }
        let next = wire
            .iter()
            .map(|f| f.0)
            .chain(agent.poll_timeout())
            .min()
            .expect("something to wait for");
        now = now.max(next);
        let (due, later): (Vec<Flight>, Vec<Flight>) = wire.drain(..).partition(|f| f.0 <= now);
        wire = later.into();
        for (_, src, dst, bytes) in due {
            if dst == lite {
                assert_eq!(src, ours);
                if let Some(resp) = lite_answer(&local_ufrag, src, &bytes, &mut log, now - start) {
                    wire.push_back((now + delay, lite, src, resp));
                }
            } else {
                assert_eq!((src, dst), (lite, ours));
                agent
                    .handle_input(
                        now,
                        Input::Receive {
                            local: dst,
                            from: src,
                            data: &bytes,
                        },
                    )
                    .unwrap();
            }
        }
        if agent.poll_timeout().is_some_and(|t| t <= now) {
            agent.handle_timeout(now);
        }
    }
    while let Some(e) = agent.poll_event() {
        events.push((now - start, e));
    }

    let selected_at = events
        .iter()
        .find(|(_, e)| matches!(e, IceEvent::SelectedPair(_)))
        .map(|(t, _)| *t)
        .expect("selected a pair");
    // One RTT (20 ms) plus pacing (Ta = 50 ms at most).
    assert!(
        selected_at <= ms(20 + 50),
        "selected at {selected_at:?}, want ≤ 1 RTT + pacing"
    );
    let nominated_at = log.nominated_at.expect("we nominated a pair");
    assert!(
        nominated_at <= ms(20 + 50 + 10),
        "nomination reached the lite peer at {nominated_at:?}"
    );
    assert!(log.all_controlling, "every check claimed ICE-CONTROLLING");
    assert!(log.requests >= 2, "a check and a nominating check");
    let sel = agent.selected_pair().unwrap();
    assert_eq!(sel.path, PathKind::Direct);
    assert_eq!((sel.local_socket, sel.remote_addr), (ours, lite));
    assert_eq!(sel.rtt, Some(ms(20)));
    assert_eq!(agent.connection_state(), ConnectionState::Completed);
    // Data both ways on the nominated pair.
    assert_eq!(log.data, vec!["hello lite"]);
    let got: Vec<&[u8]> = events
        .iter()
        .filter_map(|(_, e)| match e {
            IceEvent::Data { data, .. } => Some(data.as_slice()),
            _ => None,
        })
        .collect();
    assert_eq!(got, vec![&b"hello full"[..]]);
}

fn selected_at(net: &Net, i: usize) -> Duration {
    net.first_event(i, |e| matches!(e, IceEvent::SelectedPair(_)))
        .unwrap()
}

#[test]
fn ipv6_host_to_host_connects() {
    let c0 = IceConfig {
        controlling: true,
        ..IceConfig::default()
    };
    let mut net = Net::new(61, c0, IceConfig::default());
    net.exchange_credentials();
    net.add_socket(0, "[2001:db8::1]:5000");
    net.add_socket(1, "[2001:db8::2]:6000");
    assert!(net.run_until(ms(1000), Net::both_connected));
    assert!(selected_at(&net, 0) <= ms(20 + 50));
    assert!(selected_at(&net, 1) <= ms(30 + 50));
    for (i, local, remote) in [
        (0, "[2001:db8::1]:5000", "[2001:db8::2]:6000"),
        (1, "[2001:db8::2]:6000", "[2001:db8::1]:5000"),
    ] {
        let sel = net.nodes[i].agent.selected_pair().unwrap();
        assert_eq!(sel.path, PathKind::Direct);
        assert_eq!(sel.local.kind, CandidateType::Host);
        assert_eq!(
            (sel.local_socket, sel.remote_addr),
            (addr(local), addr(remote))
        );
    }
    assert!(net.send_data(0, "v6 hello"));
    assert!(net.send_data(1, "v6 world"));
    net.run_for(ms(50));
    assert_eq!(net.received(1), vec!["v6 hello"]);
    assert_eq!(net.received(0), vec!["v6 world"]);
}

#[test]
fn dual_stack_hosts_connect_on_a_same_family_pair() {
    let c0 = IceConfig {
        controlling: true,
        ..IceConfig::default()
    };
    let mut net = Net::new(62, c0, IceConfig::default());
    net.exchange_credentials();
    net.add_socket(0, "10.0.0.1:5000");
    net.add_socket(0, "[2001:db8::1]:5000");
    net.add_socket(1, "10.0.1.1:6000");
    net.add_socket(1, "[2001:db8::2]:6000");
    assert!(net.run_until(ms(1000), Net::both_connected));
    // Both families were offered by both sides.
    for i in 0..2 {
        let v6: Vec<bool> = net.nodes[i]
            .events
            .iter()
            .filter_map(|(_, e)| match e {
                IceEvent::LocalCandidate(c) if c.kind == CandidateType::Host => {
                    c.address.ip().map(|ip| ip.is_ipv6())
                }
                _ => None,
            })
            .collect();
        assert!(
            v6.contains(&true) && v6.contains(&false),
            "node {i} did not offer IPv4 and IPv6 host candidates: {v6:?}"
        );
    }
    for i in 0..2 {
        let sel = net.nodes[i].agent.selected_pair().unwrap();
        assert_eq!(sel.path, PathKind::Direct);
        assert_eq!(
            sel.local_socket.is_ipv6(),
            sel.remote_addr.is_ipv6(),
            "node {i} selected a cross-family pair {sel:?}"
        );
    }
    let (s0, s1) = (
        net.nodes[0].agent.selected_pair().unwrap(),
        net.nodes[1].agent.selected_pair().unwrap(),
    );
    assert_eq!(
        (s0.local_socket, s0.remote_addr),
        (s1.remote_addr, s1.local_socket)
    );
    assert!(net.send_data(0, "ds hello"));
    assert!(net.send_data(1, "ds world"));
    net.run_for(ms(50));
    assert_eq!(net.received(1), vec!["ds hello"]);
    assert_eq!(net.received(0), vec!["ds world"]);
}
