//! Signaling that arrives late or early across an ICE restart (see `signaling.rs`).

use std::time::Duration;

use super::agent::{IceConfig, IceEvent, Input};
use super::candidate::Candidate;
use super::harness::Net;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn connected() -> Net {
    let mut net = Net::hosts(61, IceConfig::default(), IceConfig::default());
    assert!(net.run_until(ms(1000), Net::both_connected));
    net
}

fn credentials_events(net: &Net, i: usize) -> usize {
    net.nodes[i]
        .events
        .iter()
        .filter(|(_, e)| matches!(e, IceEvent::LocalCredentials(_)))
        .count()
}

#[test]
fn a_late_copy_of_the_peers_old_credentials_does_not_restart_again() {
    let mut net = connected();
    let old_bob = net.nodes[1].agent.local_credentials().clone();
    let now = net.now;
    net.agent(0).restart(now);
    assert!(net.run_until(ms(3000), |n| {
        n.nodes[0].agent.local_credentials() != n.nodes[1].agent.local_credentials()
            && n.nodes[1].agent.local_credentials() != &old_bob
            && Net::both_connected(n)
    }));
    net.run_for(ms(200));
    let before = (credentials_events(&net, 0), credentials_events(&net, 1));
    // The signaling channel delivers Bob's old credentials once more, late.
    let now = net.now;
    net.agent(0)
        .handle_input(now, Input::RemoteCredentials(old_bob))
        .unwrap();
    net.run_for(ms(1000));
    assert_eq!(
        (credentials_events(&net, 0), credentials_events(&net, 1)),
        before,
        "no further restart on either side"
    );
    assert_eq!(net.nodes[0].agent.stats().counters.stale_signaling, 1);
    assert!(Net::both_connected(&net));
}

#[test]
fn a_candidate_overtaking_the_new_credentials_is_held_for_them() {
    let mut net = connected();
    net.auto_signal = false;
    let old_ufrag = net.nodes[1]
        .agent
        .local_credentials()
        .ufrag
        .as_str()
        .to_owned();
    let now = net.now;
    net.agent(1).restart(now);
    net.pump();
    let events: Vec<IceEvent> = net.nodes[1].events.iter().map(|(_, e)| e.clone()).collect();
    let new_creds = events
        .iter()
        .rev()
        .find_map(|e| match e {
            IceEvent::LocalCredentials(c) => Some(c.clone()),
            _ => None,
        })
        .unwrap();
    // Bob's host candidate of the new generation, tagged with its ufrag as libwebrtc
    // does, reaches Alice before the credentials.
    let line = format!(
        "candidate:1 1 udp 2130706431 10.0.1.1 6001 typ host ufrag {}",
        new_creds.ufrag.as_str()
    );
    let now = net.now;
    net.agent(0)
        .handle_input(
            now,
            Input::RemoteCandidate(Candidate::parse(&line).unwrap()),
        )
        .unwrap();
    assert_eq!(
        net.nodes[0].agent.stats().remote_candidates,
        1,
        "still the old generation's one candidate"
    );
    net.agent(0)
        .handle_input(now, Input::RemoteCredentials(new_creds))
        .unwrap();
    assert_eq!(
        net.nodes[0].agent.stats().remote_candidates,
        1,
        "the held candidate joined the new generation"
    );
    // A candidate naming the old generation's ufrag, arriving now, is stale.
    let stale = format!("candidate:2 1 udp 2130706431 10.0.1.9 6000 typ host ufrag {old_ufrag}");
    net.agent(0)
        .handle_input(
            now,
            Input::RemoteCandidate(Candidate::parse(&stale).unwrap()),
        )
        .unwrap();
    assert_eq!(net.nodes[0].agent.stats().remote_candidates, 1);
    assert_eq!(net.nodes[0].agent.stats().counters.stale_signaling, 1);
}

#[test]
fn local_candidates_name_their_generation() {
    let mut net = connected();
    let (now, restart_at) = (net.now, net.elapsed());
    net.agent(0).restart(now);
    net.pump();
    let ufrag = net.nodes[0]
        .agent
        .local_credentials()
        .ufrag
        .as_str()
        .to_owned();
    let ours: Vec<&Candidate> = net.nodes[0]
        .events
        .iter()
        .filter(|(t, _)| *t >= restart_at)
        .filter_map(|(_, e)| match e {
            IceEvent::LocalCandidate(c) => Some(c),
            _ => None,
        })
        .collect();
    assert!(!ours.is_empty(), "the restart regathered");
    for c in ours {
        assert_eq!(c.ufrag(), Some(ufrag.as_str()), "{c}");
    }
}
