//! The agent's limits in the in-memory harness (virtual time): the inbound
//! request budgets, the in-flight cap, and the demultiplexing of first bytes
//! 64–79 (TURN ChannelData from strangers, application data from peers).

use std::net::SocketAddr;
use std::time::Duration;

use super::agent::{IceConfig, Input};
use super::harness::{addr, Net};
use super::pair::PairState;
use crate::stun::{encode_to_vec, Attribute, Class, MessageType, Method, TransactionId};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A Binding request with a made-up username and key: it fails
/// authentication (401) at the agent it is sent to.
fn spoofed_request(i: u32) -> Vec<u8> {
    let mut id = [0u8; 12];
    id[..4].copy_from_slice(&i.to_be_bytes());
    encode_to_vec(
        MessageType::new(Class::Request, Method::BINDING),
        TransactionId(id),
        &[Attribute::Username("nobody:else"), Attribute::Priority(1)],
        Some(b"not the password at all"),
        true,
    )
    .unwrap()
}

fn inject(net: &mut Net, node: usize, local: SocketAddr, from: SocketAddr, data: &[u8]) {
    let now = net.now;
    net.nodes[node]
        .agent
        .handle_input(now, Input::Receive { local, from, data })
        .unwrap();
}

/// Datagrams sent to `to` so far (from the harness's send log).
fn sent_to(net: &Net, to: SocketAddr) -> usize {
    let to = format!("->{to} ");
    net.log.iter().filter(|l| l.contains(&to)).count()
}

/// A stranger sends 1000 unauthenticated requests per second to the
/// controlled agent, from before the first check until well after an ICE
/// restart: they must not use up the budget of the real peer's
/// (authenticated) checks, and their own 401 answers are capped.
#[test]
fn unauthenticated_flood_does_not_starve_the_peers_checks() {
    // A small authenticated budget, so that (without separate budgets) the
    // flood would exhaust it 20 ms into every one-second window.
    let c1 = IceConfig {
        max_requests_per_second: 20,
        ..IceConfig::default()
    };
    let mut net = Net::hosts(7, IceConfig::default(), c1.clone());
    let target = addr("10.0.1.1:6000");
    let stranger = addr("192.0.2.66:4444");
    let mut sent = 0u32;
    let mut flood_ms = |net: &mut Net, n: u64| {
        for _ in 0..n {
            inject(net, 1, target, stranger, &spoofed_request(sent));
            sent += 1;
            net.run_for(ms(1));
        }
    };
    // The flood starts first: by the time the checks arrive, 300 spoofed
    // requests have hit this window.
    net.blocked = true;
    flood_ms(&mut net, 300);
    net.blocked = false;
    flood_ms(&mut net, 700);
    assert!(net.both_connected(), "checks answered despite the flood");

    // An ICE restart in the middle of a window: a whole new round of checks
    // (and the nomination) must be answered too.
    flood_ms(&mut net, 400);
    let now = net.now;
    net.agent(0).restart(now);
    let restarted_at = net.elapsed();
    let gen_selected = |net: &Net| {
        net.nodes[0]
            .agent
            .stats()
            .pairs
            .iter()
            .any(|p| p.selected && p.state == PairState::Succeeded)
            && net.nodes[1].agent.stats().pairs.iter().any(|p| p.selected)
    };
    let mut waited = 0;
    while !gen_selected(&net) && waited < 1000 {
        flood_ms(&mut net, 1);
        waited += 1;
    }
    assert!(
        waited < 200,
        "the restarted generation is selected within 200 ms ({waited} ms) under the flood, \
         at {restarted_at:?}"
    );

    let c = net.nodes[1].agent.stats().counters;
    assert_eq!(
        c.unauthenticated,
        u64::from(sent),
        "every spoofed request is counted"
    );
    assert_eq!(c.rate_limited, 0, "no check of the peer was dropped");
    // 50 answers per second at most; the rest dropped and counted.
    let answered = sent_to(&net, stranger) as u64;
    let seconds = net.elapsed().as_secs() + 1;
    assert!(
        answered <= 50 * seconds,
        "{answered} answers in {seconds} s"
    );
    assert!(answered > 0, "the first ones are answered (401)");
    assert_eq!(c.unauthenticated_rate_limited, c.unauthenticated - answered);
}

/// `max_requests_per_second` caps the authenticated requests answered in a
/// one-second window; the rest are dropped and counted in `rate_limited`.
#[test]
fn authenticated_requests_are_capped_per_second() {
    let c1 = IceConfig {
        max_requests_per_second: 3,
        ..IceConfig::default()
    };
    let mut net = Net::new(
        3,
        IceConfig::default(),
        IceConfig {
            controlling: false,
            ..c1
        },
    );
    net.exchange_credentials();
    // 3 x 3 host pairs: node 0 checks one every Ta (20 per second).
    for a in ["10.0.0.1:5000", "10.0.0.2:5000", "10.0.0.3:5000"] {
        net.add_socket(0, a);
    }
    for a in ["10.0.1.1:6000", "10.0.1.2:6000", "10.0.1.3:6000"] {
        net.add_socket(1, a);
    }
    // Node 1's own checks would trigger checks from node 0: keep it quiet.
    let quiet: Vec<SocketAddr> = ["10.0.1.1:6000", "10.0.1.2:6000", "10.0.1.3:6000"]
        .map(addr)
        .to_vec();
    net.drop_if = Some(Box::new(move |_, src, _| quiet.contains(&src)));
    net.run_for(ms(600));
    let s = net.nodes[1].agent.stats();
    let received: u64 = s.pairs.iter().map(|p| p.responses_sent).sum();
    assert_eq!(received, 3, "three answered in the first window");
    assert!(s.counters.rate_limited >= 5, "{:?}", s.counters);
    assert_eq!(s.counters.unauthenticated, 0);
}

/// `max_checks_in_flight` holds for ordinary and triggered checks alike:
/// with none of node 0's checks answered and every one of the peer's checks
/// triggering one, no more than the cap are ever outstanding.
#[test]
fn checks_in_flight_are_capped_including_triggered_ones() {
    let c0 = IceConfig {
        max_checks_in_flight: 2,
        ..IceConfig::default()
    };
    let mut net = Net::new(
        5,
        c0,
        IceConfig {
            controlling: false,
            ..IceConfig::default()
        },
    );
    net.exchange_credentials();
    let zero = ["10.0.0.1:5000", "10.0.0.2:5000", "10.0.0.3:5000"];
    for a in zero {
        net.add_socket(0, a);
    }
    for a in ["10.0.1.1:6000", "10.0.1.2:6000", "10.0.1.3:6000"] {
        net.add_socket(1, a);
    }
    // Node 0's checks (and answers) are lost; node 1's checks arrive.
    let lost: Vec<SocketAddr> = zero.map(addr).to_vec();
    net.drop_if = Some(Box::new(move |_, src, _| lost.contains(&src)));
    let mut most = 0;
    let mut triggered_seen = false;
    for _ in 0..300 {
        net.run_for(ms(5));
        let s = net.nodes[0].agent.stats();
        let in_progress = s
            .pairs
            .iter()
            .filter(|p| p.state == PairState::InProgress)
            .count();
        most = most.max(in_progress);
        triggered_seen |= !net.nodes[0].agent.current.triggered.is_empty();
    }
    assert!(triggered_seen, "the peer's checks queued triggered checks");
    assert_eq!(most, 2, "at most max_checks_in_flight outstanding");
    let requests: u64 = net.nodes[0]
        .agent
        .stats()
        .pairs
        .iter()
        .map(|p| p.requests_received)
        .sum();
    assert!(requests >= 9, "the peer checked every pair ({requests})");
}

/// First bytes 64–79 (`@`, `A`–`O`) from an authenticated peer tuple are
/// application data (TURN server traffic is separated out by source before);
/// from a stranger they are still counted as unsupported.
#[test]
fn channel_data_range_is_data_from_a_peer_and_unsupported_from_strangers() {
    let mut net = Net::hosts(11, IceConfig::default(), IceConfig::default());
    assert!(net.run_until(ms(1000), Net::both_connected));
    let sel = net.nodes[1].agent.selected_pair().unwrap();
    let before = net.nodes[1].agent.stats().counters;
    inject(&mut net, 1, sel.local_socket, sel.remote_addr, b"Hello");
    inject(&mut net, 1, sel.local_socket, sel.remote_addr, b"@home");
    inject(
        &mut net,
        1,
        sel.local_socket,
        addr("192.0.2.9:999"),
        b"Hello",
    );
    inject(
        &mut net,
        1,
        sel.local_socket,
        addr("192.0.2.9:999"),
        &[0x40, 0, 0, 0],
    );
    net.run_for(ms(10));
    assert_eq!(net.received(1), ["Hello", "@home"]);
    let after = net.nodes[1].agent.stats().counters;
    assert_eq!(after.unsupported, before.unsupported + 2);
    assert_eq!(after.data_unknown_source, before.data_unknown_source);
    // And the agent sends it.
    assert!(net.send_data(0, "Hello again"));
    net.run_for(ms(20));
    assert_eq!(net.received(1), ["Hello", "@home", "Hello again"]);
}

/// `Duration::MAX` is a natural way for an application to say "never" for a
/// timer: every deadline saturates instead of overflowing `Instant` (which
/// would panic), and the agents still connect and carry data.
#[test]
fn timers_of_duration_max_mean_never_not_a_panic() {
    let mut c = IceConfig {
        ta: Duration::MAX,
        nomination_patience: Duration::MAX,
        consent_interval: Duration::MAX,
        consent_timeout: Duration::MAX,
        disconnected_timeout: Duration::MAX,
        ..IceConfig::default()
    };
    c.check_transaction.rto = Duration::MAX;
    c.gather_transaction.rto = Duration::MAX;
    let mut net = Net::hosts(12, c.clone(), c);
    assert!(net.run_until(ms(1000), Net::both_connected));
    assert!(net.send_data(0, "still here"));
    net.run_for(Duration::from_secs(3600));
    assert_eq!(net.received(1), ["still here"]);
    assert!(
        net.both_connected(),
        "nothing expires within an hour of 'never'"
    );
}
