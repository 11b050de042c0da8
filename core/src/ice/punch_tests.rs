//! The birthday punch between two agents of the test harness: an endpoint-independent,
//! port-restricted NAT against a symmetric one, with both behaviours signaled.

use super::*;
use crate::ice::harness::{addr, Nat, NatKind, Net};
use crate::ice::{IceConfig, IceEvent};
use crate::nat::{Filtering, Mapping};
use std::time::Duration;

const EASY: NatBehaviour = NatBehaviour {
    mapping: Mapping::EndpointIndependent,
    filtering: Filtering::AddressAndPortDependent,
    allocation: PortAllocation::Unknown,
};

fn hard(allocation: PortAllocation) -> NatBehaviour {
    NatBehaviour {
        mapping: Mapping::AddressAndPortDependent,
        filtering: Filtering::AddressAndPortDependent,
        allocation,
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Node 0 (controlling) behind a port-restricted cone, node 1 behind a symmetric NAT
/// (the harness allocates its ports sequentially from 40001), one STUN server.
fn net(seed: u64, punch: PunchConfig) -> Net {
    let stun = addr("198.51.100.1:3478");
    let c = |controlling| IceConfig {
        controlling,
        stun_servers: vec![stun],
        punch,
        ..IceConfig::default()
    };
    let mut net = Net::new(seed, c(true), c(false));
    net.stun_server = Some(stun);
    net.nodes[0].nat = Some(Nat::new("203.0.113.1", NatKind::EimApdf));
    net.nodes[1].nat = Some(Nat::new("203.0.113.2", NatKind::Symmetric));
    net.exchange_credentials();
    net.add_socket(0, "192.168.0.10:5000");
    net.add_socket(1, "192.168.1.20:6000");
    net
}

fn tell(net: &mut Net, easy: NatBehaviour, hard: NatBehaviour) {
    let now = net.now;
    net.agent(0).set_local_nat(now, Some(easy));
    net.agent(0).set_remote_nat(now, Some(hard));
    net.agent(1).set_local_nat(now, Some(hard));
    net.agent(1).set_remote_nat(now, Some(easy));
}

fn direct(net: &Net, i: usize) -> bool {
    net.nodes[i]
        .agent
        .selected_pair()
        .is_some_and(|p| p.path == crate::ice::PathKind::Direct)
}

#[test]
fn ordinary_checks_alone_cannot_meet() {
    let mut net = net(1, PunchConfig::default());
    // Behaviours unknown: no punch.
    assert!(!net.run_until(ms(10_000), |n| direct(n, 0)));
    for i in 0..2 {
        let s = net.nodes[i].agent.punch_stats();
        assert_eq!((s.outcome, s.probes_sent), (PunchOutcome::NotStarted, 0));
    }
}

#[test]
fn the_birthday_punch_finds_a_direct_pair_against_random_ports() {
    let mut net = net(2, PunchConfig::default());
    tell(&mut net, EASY, hard(PortAllocation::Random));
    assert!(net.run_until(ms(6_000), |n| direct(n, 0) && direct(n, 1)));
    let (easy, hard) = (
        net.nodes[0].agent.punch_stats(),
        net.nodes[1].agent.punch_stats(),
    );
    assert_eq!(easy.role, Some(PunchRole::Easy));
    assert_eq!(hard.role, Some(PunchRole::Hard));
    assert_eq!(hard.sockets_opened, 256);
    assert!(hard.probes_sent <= 256, "one probe per hard socket at most");
    // Either the easy side's probe reached a hard socket, or (the easy side having
    // probed that port before the hard socket opened it) the hard socket's probe came in.
    let hit = match (easy.hit, hard.hit) {
        (Some(h), _) => h,
        (None, Some(h)) => {
            assert_eq!(h.remote, "203.0.113.1:40001".parse().unwrap());
            h
        }
        _ => panic!("no probe got through: {easy:?} {hard:?}"),
    };
    println!("easy {easy:?}\nhard {hard:?}");
    assert!(hit.probes <= 2048 && easy.probes_sent <= 2048, "{easy:?}");
    assert_eq!(easy.predicted_probes, 0);
    // It started once the ordinary checks had their second, and stopped at the hit.
    let started = easy.started.unwrap() - net.start;
    assert!(started >= ms(1000), "{started:?}");
    net.run_for(ms(100));
    for i in 0..2 {
        assert_eq!(
            net.nodes[i].agent.punch_stats().outcome,
            PunchOutcome::Succeeded
        );
    }
    // The hard side handed back every socket but the one carrying the pair.
    let sel = net.nodes[1].agent.selected_pair().unwrap();
    assert_eq!(net.nodes[1].sockets.len(), 2, "{:?}", net.nodes[1].sockets);
    assert!(net.nodes[1].sockets.contains(&sel.local_socket));
    // Data flows both ways on it.
    assert!(net.send_data(0, "easy") && net.send_data(1, "hard"));
    net.run_for(ms(50));
    assert_eq!(net.received(1), vec!["easy"]);
    assert_eq!(net.received(0), vec!["hard"]);
}

#[test]
fn a_sequential_allocator_is_hit_by_prediction_within_a_few_probes() {
    let mut net = net(3, PunchConfig::default());
    // Learn the hard side's last port from its server-reflexive candidate, as discovery
    // would have.
    net.run_for(ms(100));
    let last = net.nodes[1]
        .events
        .iter()
        .find_map(|(_, e)| match e {
            IceEvent::LocalCandidate(c) if c.kind == CandidateType::ServerReflexive => Some(c.port),
            _ => None,
        })
        .expect("a srflx candidate");
    tell(&mut net, EASY, hard(PortAllocation::Sequential { last }));
    assert!(net.run_until(ms(4_000), |n| direct(n, 0) && direct(n, 1)));
    let easy = net.nodes[0].agent.punch_stats();
    let hit = easy.hit.expect("a predicted probe got through");
    assert!(hit.probes <= 16, "{easy:?}");
    assert!(easy.predicted_probes >= hit.probes);
}

#[test]
fn no_punch_between_two_symmetric_nats_nor_when_disabled() {
    let mut net = net(4, PunchConfig::default());
    let sym = hard(PortAllocation::Random);
    tell(&mut net, sym, sym);
    net.run_for(ms(3000));
    assert_eq!(
        net.nodes[0].agent.punch_stats().outcome,
        PunchOutcome::NotStarted
    );
    let mut net = net_disabled();
    tell(&mut net, EASY, sym);
    net.run_for(ms(3000));
    for i in 0..2 {
        assert_eq!(net.nodes[i].agent.punch_stats().probes_sent, 0);
    }
}

fn net_disabled() -> Net {
    net(
        5,
        PunchConfig {
            enabled: false,
            ..PunchConfig::default()
        },
    )
}

#[test]
fn a_spent_budget_ends_the_punch_and_hands_the_sockets_back() {
    let small = PunchConfig {
        max_probes: 8,
        sockets: 4,
        ..PunchConfig::default()
    };
    let mut net = net(6, small);
    tell(&mut net, EASY, hard(PortAllocation::Random));
    net.run_for(ms(6000));
    let (easy, hard) = (
        net.nodes[0].agent.punch_stats(),
        net.nodes[1].agent.punch_stats(),
    );
    assert_eq!(easy.probes_sent, 8);
    assert_eq!(easy.outcome, PunchOutcome::Exhausted, "{easy:?}");
    assert_eq!(hard.outcome, PunchOutcome::Exhausted, "{hard:?}");
    assert_eq!(net.nodes[1].sockets.len(), 1, "all 4 punch sockets closed");
}

#[test]
fn port_samples_classify_the_allocator() {
    use PortAllocation::*;
    assert_eq!(PortAllocation::from_samples(&[40000]), Unknown);
    assert_eq!(
        PortAllocation::from_samples(&[40000, 40001, 40004]),
        Sequential { last: 40004 }
    );
    assert_eq!(PortAllocation::from_samples(&[40000, 39999]), Random);
    assert_eq!(PortAllocation::from_samples(&[1200, 51234, 7000]), Random);
    assert_eq!(next_port(65535, 1), 1024);
    assert_eq!(next_port(40000, 3), 40003);
}
