//! The policy's decisions against NATs of known timeouts: each trial "survives" when its
//! idle time is below the timeout, as the probe would find.

use std::time::{Duration, Instant};

use super::*;
use crate::ice::KeepaliveTiming;
use crate::session::NetworkKind;

fn s(x: f64) -> Duration {
    Duration::from_secs_f64(x)
}

/// Runs the search to the end against a NAT with `timeout`; returns the trials.
fn search(p: &mut KeepalivePolicy, timeout: Duration) -> Vec<(Duration, bool)> {
    let mut now = Instant::now();
    let mut trials = Vec::new();
    while let Some(idle) = p.next_trial(now) {
        p.trial_started();
        assert!(p.next_trial(now).is_none(), "one trial at a time");
        now += idle + Duration::from_millis(200);
        let survived = idle < timeout;
        p.on_trial(now, idle, survived);
        trials.push((idle, survived));
        assert!(trials.len() < 30, "the search ends: {trials:?}");
    }
    trials
}

fn adaptive(kind: NetworkKind) -> KeepalivePolicy {
    KeepalivePolicy::new(KeepaliveConfig::default(), kind)
}

#[test]
fn starts_by_network_kind() {
    let cases = [
        (NetworkKind::Cellular, 8),
        (NetworkKind::Wifi, 20),
        (NetworkKind::Ethernet, 25),
        (NetworkKind::Unknown, 15),
        (NetworkKind::Other, 15),
    ];
    for (kind, start) in cases {
        let p = adaptive(kind);
        assert_eq!(p.interval(), s(start as f64), "{kind:?}");
        assert_eq!(p.phase(), &Phase::Probing);
        assert_eq!(p.timing(), KeepaliveTiming::every(s(start as f64)));
    }
}

#[test]
fn settles_within_1_3x_of_the_physical_minimum_and_inside_the_lifetime() {
    for t in [10u64, 15, 20, 30, 60, 120, 300] {
        let timeout = Duration::from_secs(t);
        let mut p = adaptive(NetworkKind::Cellular);
        let trials = search(&mut p, timeout);
        assert_eq!(p.phase(), &Phase::Settled, "{t} s: {trials:?}");
        assert_eq!(trials[0], (Duration::ZERO, true), "the method check first");
        let i = p.interval();
        let st = p.stats();
        let alive = st.survived.unwrap();
        // Never closer to the timeout than the margin.
        assert!(
            i + p.config().margin(alive) <= timeout,
            "{t} s: interval {i:?}"
        );
        // Packets an hour within 1.3 × 3600 / T.
        let per_hour = 3600.0 / i.as_secs_f64();
        assert!(
            per_hour <= 1.3 * 3600.0 / t as f64,
            "{t} s: {per_hour:.1}/h at {i:?} ({trials:?})"
        );
        // The search is bracketed to the resolution.
        let dead = st.expired.unwrap();
        assert!(dead - alive <= p.config().resolution(alive), "{st:?}");
    }
}

#[test]
fn the_ten_second_carrier_search_step_by_step() {
    let mut p = adaptive(NetworkKind::Cellular);
    let trials = search(&mut p, Duration::from_secs(10));
    let idles: Vec<(f64, bool)> = trials
        .iter()
        .map(|(d, ok)| (d.as_secs_f64(), *ok))
        .collect();
    // Check, double from 8 s (dies), then bisect between the 4 s floor and 16 s.
    assert_eq!(
        idles,
        vec![
            (0.0, true),
            (16.0, false),
            (10.0, false),
            (7.0, true),
            (8.5, true),
            (9.25, true),
            (9.625, true)
        ]
    );
    // The start (8 s) was never lowered: nothing said it was unsafe.
    assert_eq!(p.interval(), s(9.625 - 1.5));
}

#[test]
fn a_nat_shorter_than_the_start_interval_lowers_it() {
    let mut p = adaptive(NetworkKind::Cellular);
    search(&mut p, Duration::from_secs(6));
    let i = p.interval();
    assert!(i >= s(4.0) && i + s(1.5) <= s(6.0), "{i:?}");
}

#[test]
fn a_loss_snaps_back_at_once_and_the_search_runs_again_below() {
    let mut p = adaptive(NetworkKind::Cellular);
    search(&mut p, Duration::from_secs(120));
    let stretched = p.interval();
    assert!(stretched > s(100.0), "{stretched:?}");
    // The NAT's timeout drops to 30 s: the next keepalive finds the mapping gone.
    assert!(p.on_loss(Instant::now(), Loss::Remapped));
    assert_eq!(p.interval(), s(8.0), "back to the start interval at once");
    assert_eq!(p.phase(), &Phase::Probing);
    assert_eq!(p.stats().survived, None);
    assert_eq!(p.stats().expired, Some(stretched));
    let trials = search(&mut p, Duration::from_secs(30));
    assert!(trials.iter().all(|(d, _)| *d < stretched), "{trials:?}");
    let i = p.interval();
    assert!(
        i > s(20.0) && i + s(2.0) <= s(30.0),
        "{i:?} after {trials:?}"
    );
    assert_eq!(p.stats().losses, 1);
    // A loss at a short interval halves it, down to the floor.
    let mut p = adaptive(NetworkKind::Cellular);
    p.on_loss(Instant::now(), Loss::Unanswered);
    assert_eq!(p.interval(), s(4.0));
    p.on_loss(Instant::now(), Loss::Unanswered);
    assert_eq!(p.interval(), s(4.0), "never below the floor");
}

#[test]
fn a_reprobe_finds_a_more_generous_nat() {
    let mut p = adaptive(NetworkKind::Cellular);
    let t0 = Instant::now();
    search(&mut p, Duration::from_secs(30));
    assert_eq!(p.phase(), &Phase::Settled);
    let dead = p.stats().expired.unwrap();
    let end = p.next_trial_at().unwrap();
    assert!(p.next_trial(t0).is_none(), "not before the re-probe time");
    assert_eq!(p.next_trial(end), Some(dead));
    p.trial_started();
    // The NAT now keeps mappings 120 s: the re-probe survives and the search goes on up.
    p.on_trial(end + dead, dead, true);
    assert_eq!(p.phase(), &Phase::Probing);
    search(&mut p, Duration::from_secs(120));
    assert!(p.interval() > s(100.0), "{:?}", p.interval());
}

#[test]
fn a_new_network_starts_over() {
    let mut p = adaptive(NetworkKind::Wifi);
    search(&mut p, Duration::from_secs(120));
    assert!(p.interval() > s(100.0));
    p.set_network(NetworkKind::Wifi);
    assert!(p.interval() > s(100.0), "same kind: nothing changes");
    p.set_network(NetworkKind::Cellular);
    assert_eq!(p.interval(), s(8.0));
    assert_eq!(p.phase(), &Phase::Probing);
    assert_eq!(p.next_trial(Instant::now()), Some(Duration::ZERO));
}

#[test]
fn without_the_probe_the_start_interval_holds() {
    let mut p = adaptive(NetworkKind::Cellular);
    assert_eq!(p.next_trial(Instant::now()), Some(Duration::ZERO));
    p.trial_started();
    p.probe_unavailable("the STUN server ignores RESPONSE-PORT");
    assert!(matches!(p.phase(), Phase::Unavailable(_)));
    assert_eq!(p.next_trial(Instant::now()), None);
    assert_eq!(p.interval(), s(8.0));
    // Losses still snap back.
    p.on_loss(Instant::now(), Loss::ConsentLost);
    assert_eq!(p.interval(), s(4.0));
}

#[test]
fn fixed_and_webrtc_baselines_never_move() {
    let fixed = KeepaliveConfig::default().with_mode(KeepaliveMode::Fixed(s(25.0)));
    let mut p = KeepalivePolicy::new(fixed, NetworkKind::Cellular);
    assert_eq!(p.timing(), KeepaliveTiming::every(s(25.0)));
    assert_eq!(p.phase(), &Phase::Off);
    assert_eq!(p.next_trial(Instant::now()), None);
    assert!(!p.on_loss(Instant::now(), Loss::Unanswered));
    assert_eq!(p.interval(), s(25.0));
    let webrtc = KeepaliveConfig::default().with_mode(KeepaliveMode::WebRtc);
    let p = KeepalivePolicy::new(webrtc, NetworkKind::Cellular);
    assert_eq!(p.timing(), KeepaliveTiming::Consent);
    assert_eq!(p.next_trial(Instant::now()), None);
}
