//! The session's keepalive glue on the in-memory network (no STUN server here, so no
//! probe: the policy's start interval by network kind is what the agent gets).

use super::*;
use crate::ice::KeepaliveTiming;
use crate::keepalive::{KeepaliveConfig, KeepaliveMode, Phase};

fn timing(n: &Net, i: usize) -> KeepaliveTiming {
    n.peers[i].s.agent().keepalive()
}

#[test]
fn the_network_kind_sets_the_start_interval_and_a_new_kind_starts_over() {
    let mut n = Net::pair();
    n.run(Duration::from_secs(1));
    assert!(n.connected(0).is_some() && n.connected(1).is_some());
    let s = Duration::from_secs;
    assert_eq!(
        timing(&n, 0),
        KeepaliveTiming::every(s(15)),
        "unknown: RFC 8445's Tr"
    );
    let now = n.now;
    n.peers[0]
        .s
        .network_changed(now, NetworkHint::new(NetworkKind::Cellular));
    n.flush();
    assert_eq!(timing(&n, 0), KeepaliveTiming::every(s(8)));
    n.peers[0]
        .s
        .network_changed(now, NetworkHint::new(NetworkKind::Wifi));
    n.flush();
    assert_eq!(timing(&n, 0), KeepaliveTiming::every(s(20)));
    // No STUN server is configured: the probe cannot run and says why.
    let k = n.peers[0].s.keepalive_stats();
    assert!(
        matches!(&k.policy.phase, Phase::Unavailable(why) if why.contains("STUN")),
        "{k:?}"
    );
    // The probe asked for no spare socket.
    let spare = n.peers[0]
        .socket_requests
        .iter()
        .filter(|r| matches!(r, SocketRequest::Bind { port: 0, .. }))
        .count();
    assert_eq!(
        spare, 1,
        "only the ICE socket (port 0 here too): no spare ones"
    );
}

#[test]
fn an_idle_pair_sends_one_keepalive_per_interval_and_the_baselines_apply() {
    let mut n = Net::pair();
    n.run(Duration::from_secs(1));
    let before = [0, 1].map(|i| n.peers[i].s.keepalive_stats().keepalives_sent);
    n.run(Duration::from_secs(150));
    let after = [0, 1].map(|i| n.peers[i].s.keepalive_stats().keepalives_sent);
    // The controlling side keeps the path every 15 s; the other only answers.
    let controlling = (0..2).find(|&i| n.peers[i].s.is_controlling()).unwrap();
    assert_eq!(after[controlling] - before[controlling], 10);
    assert_eq!(after[1 - controlling] - before[1 - controlling], 0);
    // WebRTC-style consent as a configured baseline.
    let webrtc = config("10.0.0.1")
        .with_keepalive(KeepaliveConfig::default().with_mode(KeepaliveMode::WebRtc));
    let n = Net::new(webrtc, config("10.0.0.2"));
    assert_eq!(timing(&n, 0), KeepaliveTiming::Consent);
}
