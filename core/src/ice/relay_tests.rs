//! Relayed candidates in the in-memory harness with its scripted TURN
//! server. Times are virtual; one-way delay 10 ms everywhere.

use std::net::IpAddr;
use std::time::Duration;

use super::agent::{ConnectionState, GatheringState, IceConfig, IceEvent, PathKind};
use super::candidate::{CandidateType, Transport};
use super::config::TransportPolicy;
use super::harness::{addr, Nat, NatKind, Net};
use super::harness_turn::MiniTurn;
use super::relay::RelayServer;
use crate::turn::{TransportKind, TurnError, TurnState};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const TURN: &str = "198.51.100.9:3478";

fn turn_cfg(controlling: bool, password: &str) -> IceConfig {
    IceConfig {
        controlling,
        turn_servers: vec![RelayServer::udp(addr(TURN), "user", password)],
        ..IceConfig::default()
    }
}

/// Both agents behind NATs of `kind`, one TURN server, sockets added.
fn natted(seed: u64, kind: NatKind, c0: IceConfig, c1: IceConfig) -> Net {
    let mut net = Net::new(seed, c0, c1);
    net.turn = Some(MiniTurn::new(addr(TURN), "user", "pass"));
    net.nodes[0].nat = Some(Nat::new("203.0.113.1", kind));
    net.nodes[1].nat = Some(Nat::new("203.0.113.2", kind));
    net.exchange_credentials();
    net.add_socket(0, "192.168.0.10:5000");
    net.add_socket(1, "192.168.1.20:6000");
    net
}

/// Two public hosts and a TURN server.
fn hosts_with_turn(seed: u64, c0: IceConfig, c1: IceConfig) -> Net {
    let mut net = Net::hosts(seed, c0, c1);
    net.turn = Some(MiniTurn::new(addr(TURN), "user", "pass"));
    net
}

fn relay_failed(net: &Net, i: usize) -> Option<TurnError> {
    net.nodes[i].events.iter().find_map(|(_, e)| match e {
        IceEvent::RelayFailed { error, .. } => Some(error.clone()),
        _ => None,
    })
}

fn selected_at(net: &Net, i: usize) -> Vec<(Duration, PathKind)> {
    net.nodes[i]
        .events
        .iter()
        .filter_map(|(t, e)| match e {
            IceEvent::SelectedPair(p) => Some((*t, p.path)),
            _ => None,
        })
        .collect()
}

#[test]
fn both_symmetric_connect_through_the_relay() {
    let mut net = natted(
        41,
        NatKind::Symmetric,
        turn_cfg(true, "pass"),
        turn_cfg(false, "pass"),
    );
    assert!(net.run_until(ms(3000), Net::both_connected));
    let t0 = net.first_event(0, |e| matches!(e, IceEvent::SelectedPair(_)));
    let t1 = net.first_event(1, |e| matches!(e, IceEvent::SelectedPair(_)));
    eprintln!("symmetric/symmetric via relay: selected at {t0:?} / {t1:?}");
    // Allocate takes two round trips (401 dance, 40 ms), permissions one
    // more, then checks through the relay.
    assert!(t0.unwrap() <= ms(400) && t1.unwrap() <= ms(400));
    for i in 0..2 {
        let s = net.nodes[i].agent.selected_pair().unwrap();
        assert_eq!(s.path, PathKind::Relay, "node {i}: {s:?}");
    }
    // The relay candidate: type preference 0, related address = mapped.
    let relay = net.nodes[0]
        .events
        .iter()
        .find_map(|(_, e)| match e {
            IceEvent::LocalCandidate(c) if c.kind == CandidateType::Relayed => Some(c.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(relay.priority >> 24, 0);
    assert_eq!(relay.transport, Transport::Udp);
    assert_eq!(relay.address.ip(), Some(addr(TURN).ip()));
    let related: IpAddr = "203.0.113.1".parse().unwrap();
    assert_eq!(relay.related.as_ref().unwrap().0.ip(), Some(related));
    // The mapped address doubles as a srflx candidate (no STUN server here).
    assert!(net.nodes[0].events.iter().any(|(_, e)| matches!(
        e,
        IceEvent::LocalCandidate(c) if c.kind == CandidateType::ServerReflexive
    )));
    assert_eq!(net.agent(0).gathering_state(), GatheringState::Complete);

    assert!(net.send_data(0, "over") && net.send_data(1, "relay"));
    net.run_for(ms(100));
    assert_eq!(net.received(1), vec!["over"]);
    assert_eq!(net.received(0), vec!["relay"]);
    // A channel was bound for the selected pair on the side(s) sending
    // from a relayed candidate; data goes as ChannelData afterwards.
    let bound: usize = (0..2)
        .flat_map(|i| net.nodes[i].agent.relay_stats())
        .map(|r| r.channels)
        .sum();
    assert!(bound >= 1);

    // TURN refreshes keep the relay alive well past its 600 s lifetime,
    // while consent keeps running over it.
    net.run_for(Duration::from_secs(900));
    for i in 0..2 {
        assert!(matches!(
            net.nodes[i].agent.connection_state(),
            ConnectionState::Connected | ConnectionState::Completed
        ));
        assert_eq!(
            net.nodes[i].agent.relay_stats()[0].state,
            TurnState::Allocated
        );
    }
    assert!(net.send_data(1, "later"));
    net.run_for(ms(100));
    assert_eq!(net.received(0), vec!["relay", "later"]);
}

#[test]
fn relay_only_policy_uses_the_relay_even_when_direct_works() {
    let c0 = IceConfig {
        transport_policy: TransportPolicy::Relay,
        ..turn_cfg(true, "pass")
    };
    let mut net = hosts_with_turn(42, c0, IceConfig::default());
    assert!(net.run_until(ms(3000), Net::both_connected));
    // Node 0 never revealed a host or srflx candidate.
    let kinds: Vec<CandidateType> = net.nodes[0]
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            IceEvent::LocalCandidate(c) => Some(c.kind),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, vec![CandidateType::Relayed]);
    for i in 0..2 {
        assert_eq!(
            net.nodes[i].agent.selected_pair().unwrap().path,
            PathKind::Relay
        );
    }
    eprintln!("relay-only: selected at {:?}", selected_at(&net, 0));
    assert!(net.send_data(0, "hidden") && net.send_data(1, "ack"));
    net.run_for(ms(100));
    assert_eq!(net.received(1), vec!["hidden"]);
    assert_eq!(net.received(0), vec!["ack"]);
}

#[test]
fn relay_first_then_direct_upgrade_without_data_loss() {
    let mut net = hosts_with_turn(43, turn_cfg(true, "pass"), turn_cfg(false, "pass"));
    // The direct path is dead for the first 600 ms (check retransmissions
    // keep going), the relay works from the start.
    let turn_ip = addr(TURN).ip();
    net.drop_if = Some(Box::new(move |t, src, dst| {
        t < ms(600) && src.ip() != turn_ip && dst.ip() != turn_ip
    }));
    assert!(net.run_until(ms(3000), Net::both_connected));
    assert_eq!(
        net.nodes[0].agent.selected_pair().unwrap().path,
        PathKind::Relay
    );
    // Send a datagram each way every 10 ms across the switch.
    let mut sent = 0;
    for _ in 0..150 {
        sent += 1;
        assert!(net.send_data(0, &format!("a{sent}")));
        assert!(net.send_data(1, &format!("b{sent}")));
        net.run_for(ms(10));
    }
    net.run_for(ms(200));
    for i in 0..2 {
        let sel = selected_at(&net, i);
        eprintln!("upgrade: node {i} selections {sel:?}");
        assert_eq!(sel.first().unwrap().1, PathKind::Relay);
        assert_eq!(sel.last().unwrap().1, PathKind::Direct, "node {i}");
    }
    let want0: Vec<String> = (1..=sent).map(|n| format!("b{n}")).collect();
    let want1: Vec<String> = (1..=sent).map(|n| format!("a{n}")).collect();
    let mut got0 = net.received(0);
    let mut got1 = net.received(1);
    got0.sort_by_key(|s| s[1..].parse::<u32>().unwrap());
    got1.sort_by_key(|s| s[1..].parse::<u32>().unwrap());
    assert_eq!(got0, want0, "nothing lost towards node 0");
    assert_eq!(got1, want1, "nothing lost towards node 1");
}

#[test]
fn dead_turn_server_neither_stalls_gathering_nor_direct() {
    let dead = |controlling| IceConfig {
        controlling,
        turn_servers: vec![RelayServer::udp(addr("198.51.100.99:3478"), "u", "p")],
        ..IceConfig::default()
    };
    let mut net = hosts_with_turn(44, dead(true), dead(false));
    assert!(net.run_until(ms(1000), Net::both_connected));
    assert_eq!(
        net.first_event(0, |e| matches!(e, IceEvent::SelectedPair(_))),
        Some(ms(20)),
        "direct connects as if there were no TURN server"
    );
    assert!(net.run_until(ms(30_000), |n| {
        n.nodes[0].agent.gathering_state() == GatheringState::Complete
    }));
    let done = net
        .first_event(0, |e| {
            matches!(e, IceEvent::GatheringStateChanged(GatheringState::Complete))
        })
        .unwrap();
    eprintln!("dead TURN server: gathering complete at {done:?}");
    let err = relay_failed(&net, 0).expect("a RelayFailed event");
    assert!(matches!(err, TurnError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains("did not answer"));
    assert!(net.send_data(0, "still") && net.send_data(1, "direct"));
    net.run_for(ms(50));
    assert_eq!(net.received(1), vec!["still"]);
}

#[test]
fn wrong_turn_credentials_report_clearly_and_direct_still_works() {
    let mut net = hosts_with_turn(45, turn_cfg(true, "wrong"), turn_cfg(false, "wrong"));
    assert!(net.run_until(ms(1000), |n| {
        n.both_connected() && relay_failed(n, 0).is_some()
    }));
    let err = relay_failed(&net, 0).unwrap();
    assert!(matches!(err, TurnError::Unauthorized { .. }), "{err}");
    assert!(err.to_string().contains("check the username and password"));
    let at = net
        .first_event(0, |e| matches!(e, IceEvent::RelayFailed { .. }))
        .unwrap();
    eprintln!("wrong credentials: RelayFailed at {at:?}");
    assert_eq!(net.agent(0).gathering_state(), GatheringState::Complete);
    assert_eq!(
        net.nodes[0].agent.selected_pair().unwrap().path,
        PathKind::Direct
    );
    let st = &net.nodes[0].agent.relay_stats()[0];
    assert_eq!(st.state, TurnState::Failed);
    assert_eq!(st.transport, TransportKind::Udp);
}

#[test]
fn close_deallocates_and_restart_reuses_the_allocation() {
    let mut net = natted(
        46,
        NatKind::Symmetric,
        turn_cfg(true, "pass"),
        turn_cfg(false, "pass"),
    );
    assert!(net.run_until(ms(3000), Net::both_connected));
    let relayed0 = net.nodes[0].agent.relay_stats()[0].relayed.unwrap();
    let requests = net.turn.as_ref().unwrap().requests;

    // Restart: the same relay candidate is offered again, no new Allocate.
    let now = net.now;
    net.agent(0).restart(now);
    let mark = net.nodes[0].events.len();
    assert!(net.run_until(net.elapsed() + ms(3000), |n| {
        n.nodes[0].events[mark..]
            .iter()
            .any(|(_, e)| matches!(e, IceEvent::SelectedPair(p) if p.path == PathKind::Relay))
            && n.both_connected()
    }));
    let reoffered = net.nodes[0].events[mark..].iter().any(|(_, e)| {
        matches!(e, IceEvent::LocalCandidate(c)
            if c.kind == CandidateType::Relayed && c.address.ip() == Some(relayed0.ip())
                && c.port == relayed0.port())
    });
    assert!(reoffered);
    let allocs = net.turn.as_ref().unwrap().requests - requests;
    eprintln!("restart over relay: {allocs} TURN requests (permissions/channels only)");
    assert!(net.send_data(0, "after-restart"));
    net.run_for(ms(100));
    assert_eq!(net.received(1), vec!["after-restart"]);

    for i in 0..2 {
        net.agent(i).close();
    }
    net.run_for(ms(100));
    assert_eq!(net.turn.as_ref().unwrap().deallocated, 2);
}

#[test]
fn turn_server_doubling_as_stun_server_is_demultiplexed() {
    let c = |controlling| IceConfig {
        stun_servers: vec![addr(TURN)],
        ..turn_cfg(controlling, "pass")
    };
    let mut net = natted(47, NatKind::EimAdf, c(true), c(false));
    assert!(net.run_until(ms(3000), |n| {
        n.both_connected() && n.nodes[0].agent.gathering_state() == GatheringState::Complete
    }));
    let srflx = net.nodes[0]
        .events
        .iter()
        .filter(|(_, e)| {
            matches!(e, IceEvent::LocalCandidate(c) if c.kind == CandidateType::ServerReflexive)
        })
        .count();
    assert_eq!(
        srflx, 1,
        "STUN and TURN mapped addresses are the same: one srflx"
    );
    assert_eq!(net.nodes[0].agent.stats().counters.stray_responses, 0);
    assert_eq!(net.nodes[0].agent.relay_stats()[0].turn.dropped, 0);
    // EIM NATs: a direct (srflx) pair wins over the relay.
    assert_eq!(
        net.nodes[0].agent.selected_pair().unwrap().path,
        PathKind::Direct
    );
}

#[test]
fn udp_blocked_peer_connects_through_turn_over_tcp() {
    // Node 0's network drops all UDP; it reaches the TURN server over TCP
    // (port 443 in real deployments), the relay itself is UDP.
    let c0 = IceConfig {
        controlling: true,
        turn_servers: vec![RelayServer {
            transport: TransportKind::Tcp,
            ..RelayServer::udp(addr(TURN), "user", "pass")
        }],
        ..IceConfig::default()
    };
    let mut net = hosts_with_turn(48, c0, IceConfig::default());
    let blocked = addr("10.0.0.1:5000");
    net.drop_if = Some(Box::new(move |_, src, dst| {
        src == blocked || dst == blocked
    }));
    assert!(net.run_until(ms(3000), Net::both_connected));
    let t = net.first_event(0, |e| matches!(e, IceEvent::SelectedPair(_)));
    eprintln!("UDP-blocked over TURN/TCP: selected at {t:?}");
    for i in 0..2 {
        assert_eq!(
            net.nodes[i].agent.selected_pair().unwrap().path,
            PathKind::Relay
        );
    }
    let st = &net.nodes[0].agent.relay_stats()[0];
    assert_eq!((st.transport, st.socket), (TransportKind::Tcp, None));
    assert!(net.send_data(0, "tcp") && net.send_data(1, "udp"));
    net.run_for(ms(100));
    assert_eq!(net.received(1), vec!["tcp"]);
    assert_eq!(net.received(0), vec!["udp"]);
    // No TCP relay candidate pretends to be a srflx one.
    assert!(!net.nodes[0].events.iter().any(|(_, e)| matches!(
        e,
        IceEvent::LocalCandidate(c) if c.kind == CandidateType::ServerReflexive
    )));
}

/// natlab's `through_turn`: a symmetric NAT and a port-restricted one, a
/// separate STUN server, and a TURN server that takes 100 ms to install a
/// permission, drops peer traffic until then, and (like coturn on a host
/// with no route to private networks) closes an allocation that relays to a
/// private address. Relayed checks to the peer's private host candidate
/// must not be sent (they killed both allocations), the dropped ones must
/// be retransmitted, and a relayed pair must succeed.
#[test]
fn symmetric_and_port_restricted_connect_through_a_slow_permission_relay() {
    for controlling_symmetric in [true, false] {
        let stun = addr("198.51.100.7:3478");
        let c = |controlling: bool| IceConfig {
            stun_servers: vec![stun],
            ..turn_cfg(controlling, "pass")
        };
        let mut net = Net::new(61, c(true), c(false));
        net.stun_server = Some(stun);
        let mut turn = MiniTurn::new(addr(TURN), "user", "pass");
        turn.perm_delay = ms(100);
        turn.kill_on_private_peer = true;
        net.turn = Some(turn);
        let (sym, prc) = if controlling_symmetric {
            (0, 1)
        } else {
            (1, 0)
        };
        net.nodes[sym].nat = Some(Nat::new("203.0.113.1", NatKind::Symmetric));
        net.nodes[prc].nat = Some(Nat::new("203.0.113.2", NatKind::EimApdf));
        net.exchange_credentials();
        net.add_socket(0, "192.168.0.10:5000");
        net.add_socket(1, "192.168.1.20:6000");
        let ok = net.run_until(ms(5000), Net::both_connected);
        let turn = net.turn.as_ref().unwrap();
        let mut sent: Vec<_> = turn.sent_to_peer.iter().collect();
        sent.sort();
        eprintln!(
            "symmetric controlling={controlling_symmetric}: connected={ok} at {:?}; \
             relayed to peers {sent:?}; dropped without permission {:?}",
            net.elapsed(),
            turn.dropped_no_perm
        );
        for i in 0..2 {
            eprintln!("  node {i}: {:?}", net.nodes[i].agent.relay_stats());
        }
        assert_eq!(turn.killed, 0, "an allocation relayed to a private address");
        assert!(
            ok,
            "no pair succeeded (symmetric controlling={controlling_symmetric})"
        );
        for i in 0..2 {
            let p = net.nodes[i].agent.selected_pair().unwrap();
            assert_eq!(p.path, PathKind::Relay, "node {i}");
        }
    }
}

/// A `turns:` server that redirects: the stream to the new server verifies the
/// ALTERNATE-DOMAIN when given, else the name the redirecting server was verified
/// with (RFC 8489 §14.16), never the bare IP of the new server.
#[test]
fn tls_redirect_verifies_the_alternate_domain_or_the_original_name() {
    use super::agent::IceAgent;
    use super::priority::NetworkCost;
    use super::relay::TlsName;
    use crate::stun::{encode_to_vec, Attribute, Class, ErrorCode, Message, MessageType};
    use crate::turn::framing::{Frame, StreamFramer};
    use rand::SeedableRng;

    for domain in [None, Some("turn2.example.org")] {
        let tls = RelayServer {
            transport: TransportKind::Tls,
            ..RelayServer::udp(addr(TURN), "user", "pass")
        };
        let config = IceConfig {
            turn_servers: vec![tls],
            ..IceConfig::default()
        };
        let mut agent = IceAgent::new(config, rand::rngs::StdRng::seed_from_u64(7));
        let now = std::time::Instant::now();
        agent
            .add_local_socket(now, addr("10.0.0.1:5000"), NetworkCost::WIFI)
            .unwrap();
        let first = agent
            .poll_relay_stream_transmit()
            .expect("Allocate to the server");
        assert_eq!(
            (first.server, &first.tls_name),
            (addr(TURN), &TlsName::Configured)
        );
        let mut framer = StreamFramer::new();
        framer.push(&first.bytes);
        let Some(Frame::Stun(frame)) = framer.next_frame() else {
            panic!("a whole STUN message");
        };
        let request = Message::parse(&frame).unwrap();
        let alt = addr("198.51.100.10:5349");
        let mut attrs = vec![
            Attribute::ErrorCode(ErrorCode::TRY_ALTERNATE),
            Attribute::AlternateServer(alt),
        ];
        if let Some(d) = domain {
            attrs.push(Attribute::AlternateDomain(d));
        }
        let typ = MessageType::new(Class::Error, request.method());
        let answer = encode_to_vec(typ, request.transaction_id(), &attrs, None, false).unwrap();
        agent.handle_relay_stream_bytes(now, addr(TURN), &answer);
        let next = agent
            .poll_relay_stream_transmit()
            .expect("Allocate to the new server");
        let want = match domain {
            Some(d) => TlsName::Domain(d.to_string()),
            None => TlsName::SameAs(addr(TURN)),
        };
        assert_eq!((next.server, next.tls_name), (alt, want));
    }
}
