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

#[test]
fn idle_connection_never_flaps_and_keeps_consent() {
    let mut net = connected_hosts(31);
    let before = net.nodes[0].agent.stats().counters.checks_sent;
    net.run_for(Duration::from_secs(120));
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
    // Idle: consent/keepalive checks about every 1.25–5 s, not a flood.
    let sent = net.nodes[0].agent.stats().counters.checks_sent - before;
    assert!((20..=120).contains(&sent), "{sent} checks in 120 s");
}

#[test]
fn consent_loss_fails_thirty_seconds_after_last_response() {
    let mut net = connected_hosts(32);
    // Data flows; keepalives continue alongside.
    for _ in 0..50 {
        assert!(net.send_data(0, "media"));
        net.run_for(ms(100));
    }
    let checks = net.nodes[0].agent.stats().counters.checks_sent;
    assert!(checks >= 3, "consent continues while data flows: {checks}");
    let cut = net.elapsed();
    net.blocked = true;
    net.run_for(Duration::from_secs(40));
    for i in 0..2 {
        let disc = state_at(&net, i, ConnectionState::Disconnected).unwrap();
        let failed = state_at(&net, i, ConnectionState::Failed).unwrap();
        // The last packet arrived < 1.25 s + RTT before the cut.
        assert!(
            disc > cut + ms(1000) && disc <= cut + ms(2500),
            "node {i}: {disc:?} vs cut {cut:?}"
        );
        // Consent expires 30 s after the last successful response. Node 0
        // receives no data, so it probes every 1.25 s: its last response is
        // at most ~1.3 s old at the cut. Node 1 receives data, so only the
        // scheduled 5 s ×(0.8–1.2) checks run: at most 6 s old.
        let slack = if i == 0 { ms(1_300) } else { ms(6_000) };
        assert!(
            failed + slack > cut + ms(30_000) && failed <= cut + ms(30_000),
            "node {i}: {failed:?} vs cut {cut:?}"
        );
        assert_eq!(net.nodes[i].agent.stats().counters.consent_lost, 1);
        assert!(!net.send_data(i, "x"), "no data without consent");
    }
}

#[test]
fn disconnected_is_soft_and_recovers() {
    let mut net = connected_hosts(33);
    let cut = net.elapsed();
    net.blocked = true;
    net.run_for(ms(4000));
    let disc = state_at(&net, 0, ConnectionState::Disconnected).unwrap();
    assert!(disc <= cut + ms(2500));
    assert_eq!(
        net.nodes[0].agent.connection_state(),
        ConnectionState::Disconnected
    );
    net.blocked = false;
    let back = net.elapsed();
    net.run_for(ms(3000));
    for i in 0..2 {
        let st = states(&net, i);
        let (t, s) = *st.last().unwrap();
        assert_eq!(s, ConnectionState::Completed, "node {i}: {st:?}");
        assert!(
            t <= back + ms(1300),
            "recovers with the next probe: {t:?} vs {back:?}"
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
