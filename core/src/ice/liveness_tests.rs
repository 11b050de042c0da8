//! Liveness tests: consent, disconnected hysteresis, ICE restart and
//! network change (make-before-break), upgrades by renomination.

use std::time::Duration;

use super::agent::{ConnectionState, IceConfig, IceEvent};
use super::harness::{addr, Net};
use super::priority::NetworkCost;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn connected_hosts(seed: u64) -> Net {
    let mut net = Net::hosts(seed, IceConfig::default(), IceConfig::default());
    assert!(net.run_until(ms(1000), Net::both_connected));
    net.run_for(ms(100));
    net
}

fn states(net: &Net, i: usize) -> Vec<(Duration, ConnectionState)> {
    net.nodes[i]
        .events
        .iter()
        .filter_map(|(t, e)| match e {
            IceEvent::ConnectionStateChanged(s) => Some((*t, *s)),
            _ => None,
        })
        .collect()
}

fn state_at(net: &Net, i: usize, s: ConnectionState) -> Option<Duration> {
    states(net, i)
        .iter()
        .find(|(_, x)| *x == s)
        .map(|(t, _)| *t)
}

fn counters(net: &Net, i: usize) -> super::stats::Counters {
    net.nodes[i].agent.stats().counters
}

/// Datagrams node `i` sent in `[from, to)`.
fn sent_between(net: &Net, i: usize, from: Duration, to: Duration) -> usize {
    net.nodes[i]
        .sent
        .iter()
        .filter(|t| **t >= from && **t < to)
        .count()
}

#[test]
fn an_idle_pair_carries_one_packet_each_way_per_keepalive_interval() {
    let mut net = connected_hosts(31);
    let (k0, k1) = (counters(&net, 0), counters(&net, 1));
    let t0 = net.elapsed();
    net.run_for(Duration::from_secs(150));
    for i in 0..2 {
        assert!(
            state_at(&net, i, ConnectionState::Disconnected).is_none(),
            "node {i}: {:?}",
            states(&net, i)
        );
        assert_eq!(
            net.nodes[i].agent.connection_state(),
            ConnectionState::Completed
        );
    }
    // The default interval is 15 s: the controlling side sends a keepalive every 15 s and
    // the controlled side only answers (its answer is its own keepalive). No idle probes.
    let (k0, k1) = (
        counters(&net, 0).keepalives_sent - k0.keepalives_sent,
        counters(&net, 1).keepalives_sent - k1.keepalives_sent,
    );
    assert_eq!((k0, k1), (10, 0), "keepalives in 150 s");
    let end = t0 + Duration::from_secs(150);
    assert_eq!(sent_between(&net, 0, t0, end), 10);
    assert_eq!(sent_between(&net, 1, t0, end), 10);
    // Consent lasts 30 s from a request: with a keepalive every 15 s the controlling
    // side's never lapses. The controlled side only answers; its own consent is asked
    // for when it has data to send (one round trip, then the data).
    assert!(net.send_data(0, "hello") && net.send_data(1, "back"));
    net.run_for(ms(11));
    assert_eq!(net.received(1), vec!["hello"], "sent at once, not held");
    assert!(net.received(0).is_empty());
    assert_eq!(net.nodes[1].agent.held_datagrams(), 1);
    net.run_for(ms(20));
    assert_eq!(net.received(0), vec!["back"]);
}

#[test]
fn any_packet_counts_as_a_keepalive() {
    let mut net = connected_hosts(39);
    let k = counters(&net, 0);
    // Data from node 0 every 3 s for a minute: the data keeps its NAT, and consent is
    // paced by RFC 7675 (about every 5 s while data flows), not by the keepalive timer.
    for _ in 0..20 {
        assert!(net.send_data(0, "tick"));
        net.run_for(Duration::from_secs(3));
    }
    let c = counters(&net, 0);
    assert_eq!(
        c.keepalives_sent, k.keepalives_sent,
        "no keepalive under data"
    );
    let consent = c.consent_checks_sent - k.consent_checks_sent;
    assert!(
        (10..=15).contains(&consent),
        "{consent} consent checks in 60 s"
    );
    // Node 1 only answered: every packet it sent was an answer to node 0's checks.
    assert_eq!(counters(&net, 1).keepalives_sent, 0);
}

#[test]
fn data_after_a_long_idle_waits_one_round_trip_for_consent() {
    // A 60 s keepalive interval lets consent (30 s) lapse between keepalives.
    let slow = IceConfig {
        keepalive: super::KeepaliveTiming::every(Duration::from_secs(60)),
        ..IceConfig::default()
    };
    let mut net = Net::hosts(38, slow.clone(), slow);
    assert!(net.run_until(ms(1000), Net::both_connected));
    net.run_for(Duration::from_secs(100));
    for i in 0..2 {
        let before = counters(&net, i).held;
        let sent_at = net.elapsed();
        assert!(net.send_data(i, "after idle"));
        assert_eq!(counters(&net, i).held, before + 1, "node {i}: held");
        assert_eq!(net.nodes[i].agent.held_datagrams(), 1);
        net.run_for(ms(100));
        let (at, d) = net.nodes[1 - i].data.last().unwrap().clone();
        assert_eq!(d, b"after idle");
        // One round trip (10 ms each way) for the consent check, then 10 ms for the data.
        assert_eq!(at - sent_at, ms(30), "node {i}");
        assert_eq!(net.nodes[i].agent.held_datagrams(), 0);
    }
}

#[test]
fn a_lost_keepalive_is_retransmitted_within_the_margin() {
    let mut net = connected_hosts(40);
    // Drop node 0's first transmission at its next keepalive: the retransmission 500 ms
    // later is answered; nothing is judged unanswered and the state never flaps.
    let next = net.nodes[0].agent.poll_timeout().unwrap() - net.start;
    net.drop_if = Some(Box::new(move |t, _, _| t == next));
    net.run_for(Duration::from_secs(20));
    let c = counters(&net, 0);
    assert_eq!(c.keepalive_timeouts, 0);
    let sent: Vec<Duration> = net.nodes[0]
        .sent
        .iter()
        .copied()
        .filter(|t| *t >= next)
        .take(2)
        .collect();
    assert_eq!(sent, vec![next, next + ms(500)]);
    assert!(state_at(&net, 0, ConnectionState::Disconnected).is_none());
}

#[test]
fn webrtc_style_consent_checks_every_five_seconds_from_both_sides() {
    let webrtc = IceConfig {
        keepalive: super::KeepaliveTiming::Consent,
        ..IceConfig::default()
    };
    let mut net = Net::hosts(41, webrtc.clone(), webrtc);
    assert!(net.run_until(ms(1000), Net::both_connected));
    let k = [counters(&net, 0), counters(&net, 1)];
    net.run_for(Duration::from_secs(100));
    for (i, k) in k.iter().enumerate() {
        let n = counters(&net, i).consent_checks_sent - k.consent_checks_sent;
        assert!((17..=25).contains(&n), "node {i}: {n} checks in 100 s");
        assert_eq!(counters(&net, i).keepalives_sent, 0);
    }
}

#[test]
fn consent_loss_fails_thirty_seconds_after_the_checks_went_unanswered() {
    let mut net = connected_hosts(32);
    // Data flows; consent is paced alongside.
    for _ in 0..150 {
        assert!(net.send_data(0, "media"));
        net.run_for(ms(100));
    }
    let checks = counters(&net, 0).consent_checks_sent;
    assert!(checks >= 2, "consent continues while data flows: {checks}");
    let cut = net.elapsed();
    net.blocked = true;
    // Node 0 keeps sending: its consent checks stay paced, and RFC 7675 stops its data
    // 30 s after the last answered request (sent at most ~6 s before the cut).
    let mut last_sent = None;
    for _ in 0..400 {
        let before = sent_between(&net, 0, Duration::ZERO, Duration::MAX);
        net.send_data(0, "media");
        net.pump();
        if sent_between(&net, 0, Duration::ZERO, Duration::MAX) > before {
            last_sent = Some(net.elapsed());
        }
        net.run_for(ms(100));
    }
    net.run_for(Duration::from_secs(10));
    let last_sent = last_sent.unwrap();
    assert_eq!(counters(&net, 0).held_dropped, counters(&net, 0).held);
    assert!(
        last_sent >= cut + ms(24_000) && last_sent < cut + ms(30_000),
        "data stopped at {last_sent:?} (cut {cut:?})"
    );
    for i in 0..2 {
        let disc = state_at(&net, i, ConnectionState::Disconnected).unwrap();
        let failed = state_at(&net, i, ConnectionState::Failed).unwrap();
        // Node 0 checks every ~5 s (data flows): silent 2.5 s after its first
        // unanswered check. Node 1 is idle: its next keepalive (≤ 15 s) goes unanswered.
        let disc_by = if i == 0 {
            6_000 + 2_500
        } else {
            16_000 + 2_500
        };
        assert!(
            disc > cut && disc <= cut + ms(disc_by),
            "node {i}: {disc:?} vs cut {cut:?}"
        );
        // Consent lost when it expired and the checks were unanswered for 30 s.
        let fail_by = if i == 0 { 36_000 } else { 16_000 + 30_000 };
        assert!(
            failed >= cut + ms(24_000) && failed <= cut + ms(fail_by),
            "node {i}: {failed:?} vs cut {cut:?}"
        );
        assert_eq!(counters(&net, i).consent_lost, 1);
        assert!(!net.send_data(i, "x"), "no data without consent");
    }
}

#[test]
fn a_dead_idle_path_is_found_at_the_next_keepalive_or_sooner_by_policy() {
    // Default: no probing of an idle path; the next keepalive (every 15 s) finds it.
    let mut net = connected_hosts(33);
    let cut = net.elapsed();
    net.blocked = true;
    net.run_for(Duration::from_secs(20));
    let disc = state_at(&net, 0, ConnectionState::Disconnected).unwrap();
    assert!(
        disc > cut + ms(2_500) && disc <= cut + ms(15_000 + 2_500),
        "{disc:?} vs cut {cut:?}"
    );
    // With liveness_probe (a policy choice): within the probe interval + 2.5 s, at the
    // cost of a check whenever nothing arrived for that long.
    let eager = IceConfig {
        liveness_probe: Some(ms(1_250)),
        ..IceConfig::default()
    };
    let mut net = Net::hosts(33, eager.clone(), eager);
    assert!(net.run_until(ms(1000), Net::both_connected));
    net.run_for(ms(100));
    let cut = net.elapsed();
    net.blocked = true;
    net.run_for(ms(4000));
    let disc = state_at(&net, 0, ConnectionState::Disconnected).unwrap();
    assert!(disc <= cut + ms(1_250 + 2_500), "{disc:?} vs cut {cut:?}");
}

#[test]
fn disconnected_is_soft_and_recovers() {
    let mut net = connected_hosts(33);
    let cut = net.elapsed();
    net.blocked = true;
    net.run_for(Duration::from_secs(20));
    assert_eq!(
        net.nodes[0].agent.connection_state(),
        ConnectionState::Disconnected
    );
    net.blocked = false;
    let back = net.elapsed();
    net.run_for(Duration::from_secs(8));
    for i in 0..2 {
        let st = states(&net, i);
        let (t, s) = *st.last().unwrap();
        assert_eq!(s, ConnectionState::Completed, "node {i}: {st:?}");
        // Re-checked at the consent pace (≤ 6 s) once silent.
        assert!(
            t <= back + ms(6_100),
            "recovers with the next check: {t:?} vs {back:?} (cut {cut:?})"
        );
        assert!(state_at(&net, i, ConnectionState::Failed).is_none());
    }
    assert!(net.send_data(0, "again"));
    net.run_for(ms(50));
    assert_eq!(net.received(1), vec!["again"]);
}

/// Sends "n" every 20 ms from node 0 for `d`, returns how many were sent.
fn stream(net: &mut Net, from: usize, d: Duration, counter: &mut u32) {
    let end = net.elapsed() + d;
    while net.elapsed() < end {
        *counter += 1;
        assert!(
            net.send_data(from, &format!("m{counter}")),
            "send failed at {:?}",
            net.elapsed()
        );
        net.run_for(ms(20));
    }
}

#[test]
fn ice_restart_is_make_before_break() {
    let mut net = connected_hosts(34);
    let mut n = 0;
    stream(&mut net, 0, ms(200), &mut n);
    let old = net.nodes[0].agent.local_credentials().clone();
    let now = net.now;
    let restart_at = net.elapsed();
    net.agent(0).restart(now);
    assert_ne!(net.nodes[0].agent.local_credentials(), &old);
    stream(&mut net, 0, ms(1000), &mut n);
    net.run_for(ms(50));
    // Every datagram sent during the restart arrived.
    let got = net.received(1);
    assert_eq!(got.len() as u32, n, "lost data during restart");
    // Both sides switched to the new generation with a new selection.
    for i in 0..2 {
        let creds_events = net.nodes[i]
            .events
            .iter()
            .filter(|(t, e)| *t >= restart_at && matches!(e, IceEvent::LocalCredentials(_)))
            .count();
        assert_eq!(creds_events, 1, "node {i}");
        let reselect = net.nodes[i]
            .events
            .iter()
            .find(|(t, e)| *t >= restart_at && matches!(e, IceEvent::SelectedPair(_)))
            .map(|(t, _)| *t)
            .unwrap();
        assert!(reselect <= restart_at + ms(100), "node {i}: {reselect:?}");
        assert!(state_at(&net, i, ConnectionState::Disconnected).is_none());
        assert!(
            net.nodes[i].agent.previous.is_none(),
            "old generation dropped"
        );
    }
}

#[test]
fn network_change_renominates_without_restart() {
    let mut net = connected_hosts(35);
    let mut n = 0;
    stream(&mut net, 0, ms(100), &mut n);
    // Wi-Fi → another interface: the new socket appears, then the old dies.
    let change = net.elapsed();
    net.add_socket(0, "10.0.0.2:5001");
    net.remove_socket(0, "10.0.0.1:5000");
    // The old pair is gone; data waits for the new one (the runtime would queue).
    assert!(net.run_until(change + ms(1000), |n| {
        n.nodes[1]
            .agent
            .selected_pair()
            .is_some_and(|s| s.remote_addr == addr("10.0.0.2:5001"))
            && n.connected(0)
    }));
    let t = net.elapsed() - change;
    assert!(t <= ms(100), "switched in {t:?}");
    let s0 = net.nodes[0].agent.selected_pair().unwrap();
    assert_eq!(s0.local_socket, addr("10.0.0.2:5001"));
    net.run_for(ms(50));
    assert!(net.send_data(0, "after") && net.send_data(1, "back"));
    net.run_for(ms(50));
    assert_eq!(net.received(1).last().unwrap(), "after");
    assert_eq!(net.received(0).last().unwrap(), "back");
    assert!(state_at(&net, 0, ConnectionState::Failed).is_none());
}

#[test]
fn upgrade_to_cheaper_network_without_dropping_data() {
    let mut net = Net::new(
        36,
        IceConfig::default(),
        IceConfig {
            controlling: false,
            ..IceConfig::default()
        },
    );
    net.exchange_credentials();
    let now = net.now;
    net.nodes[0].sockets.push(addr("10.0.0.1:5000"));
    net.agent(0)
        .add_local_socket(now, addr("10.0.0.1:5000"), NetworkCost::CELLULAR)
        .unwrap();
    net.add_socket(1, "10.0.1.1:6000");
    assert!(net.run_until(ms(1000), Net::both_connected));
    let mut n = 0;
    stream(&mut net, 0, ms(200), &mut n);
    // Wi-Fi comes up: a higher-priority pair; make-before-break renomination.
    let up = net.elapsed();
    net.add_socket(0, "10.0.0.2:5001");
    stream(&mut net, 0, ms(500), &mut n);
    net.run_for(ms(50));
    assert_eq!(
        net.received(1).len() as u32,
        n,
        "no datagram lost during the upgrade"
    );
    let s0 = net.nodes[0].agent.selected_pair().unwrap();
    let s1 = net.nodes[1].agent.selected_pair().unwrap();
    assert_eq!(s0.local_socket, addr("10.0.0.2:5001"));
    assert_eq!(s1.remote_addr, addr("10.0.0.2:5001"));
    let switched = net.nodes[1]
        .events
        .iter()
        .filter(|(t, e)| *t > up && matches!(e, IceEvent::SelectedPair(_)))
        .map(|(t, _)| *t)
        .next()
        .unwrap();
    assert!(switched <= up + ms(150), "{switched:?}");
}

#[test]
fn without_renomination_support_the_selection_is_kept() {
    let c1 = IceConfig {
        controlling: false,
        renomination: false,
        ..IceConfig::default()
    };
    let mut net = Net::new(37, IceConfig::default(), c1);
    net.exchange_credentials();
    let now = net.now;
    net.nodes[0].sockets.push(addr("10.0.0.1:5000"));
    net.agent(0)
        .add_local_socket(now, addr("10.0.0.1:5000"), NetworkCost::CELLULAR)
        .unwrap();
    net.add_socket(1, "10.0.1.1:6000");
    assert!(net.run_until(ms(1000), Net::both_connected));
    net.add_socket(0, "10.0.0.2:5001");
    net.run_for(ms(1000));
    assert_eq!(
        net.nodes[0].agent.selected_pair().unwrap().local_socket,
        addr("10.0.0.1:5000")
    );
    assert_eq!(
        net.nodes[1].agent.selected_pair().unwrap().remote_addr,
        addr("10.0.0.1:5000")
    );
}

#[test]
fn when_the_peers_data_stops_one_check_finds_out_why() {
    let mut net = connected_hosts(42);
    // Node 1 streams to node 0 for 2 s, then stops (or a NAT in between forgot it).
    for _ in 0..100 {
        assert!(net.send_data(1, "media"));
        net.run_for(ms(20));
    }
    let stopped = net.elapsed();
    let before = counters(&net, 0).consent_checks_sent;
    net.run_for(ms(2_000));
    // One check from node 0, half the disconnected timeout after the last datagram.
    assert_eq!(counters(&net, 0).consent_checks_sent, before + 1);
    let checks: Vec<Duration> = net.nodes[0]
        .sent
        .iter()
        .copied()
        .filter(|t| *t > stopped)
        .collect();
    assert_eq!(checks.len(), 1, "{checks:?}");
    let last_data = net.nodes[0].data.last().unwrap().0;
    assert_eq!(checks[0], last_data + ms(1_250));
    // An idle pair stays quiet (the next keepalive is 15 s after node 0's last send).
    net.run_for(ms(10_000));
    assert_eq!(counters(&net, 0).consent_checks_sent, before + 1);
}
