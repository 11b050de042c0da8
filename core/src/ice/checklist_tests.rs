//! Pair formation, pruning, ordering, caps and freezing with concrete candidate sets.

use super::*;
use crate::ice::candidate::CandidateType;
use crate::ice::priority::pair_priority;

fn cand(line: &str) -> Candidate {
    Candidate::parse(line).unwrap_or_else(|e| panic!("{line}: {e}"))
}

fn host(line: &str) -> LocalCandidate {
    LocalCandidate::own_base(cand(line)).unwrap()
}

fn with_base(line: &str, base: &str) -> LocalCandidate {
    LocalCandidate::new(cand(line), base.parse().unwrap())
}

/// A dual-stack host behind a NAT with a TURN allocation.
fn locals() -> Vec<LocalCandidate> {
    vec![
        host("L1 1 udp 2130706431 192.168.1.20 5000 typ host"),
        with_base(
            "L2 1 udp 1694498815 203.0.113.5 6000 typ srflx raddr 192.168.1.20 rport 5000",
            "192.168.1.20:5000",
        ),
        host("L3 1 udp 2130706175 2001:db8::20 5002 typ host"),
        host("L4 1 udp 16777215 198.51.100.7 7000 typ relay raddr 203.0.113.5 rport 6000"),
    ]
}

fn remotes() -> Vec<Candidate> {
    vec![
        cand("R1 1 udp 2122260223 10.0.0.2 4000 typ host"),
        cand("R2 1 udp 1686052607 198.51.100.9 4001 typ srflx raddr 10.0.0.2 rport 4000"),
        cand("R3 1 udp 2122262783 2001:db8::2 4002 typ host"),
    ]
}

fn filled(controlling: bool) -> CheckList {
    let mut cl = CheckList::new(CheckListConfig::default(), controlling);
    for l in locals() {
        cl.add_local(l);
    }
    for r in remotes() {
        cl.add_remote(r).unwrap();
    }
    cl
}

fn names(cl: &CheckList) -> Vec<String> {
    cl.pairs()
        .iter()
        .map(|p| {
            format!(
                "{}-{}",
                cl.local(p.local).candidate.foundation,
                cl.remote(p.remote).foundation
            )
        })
        .collect()
}

#[test]
fn forms_pairs_by_family_and_replaces_srflx_with_its_base() {
    let cl = filled(true);
    let mut got = names(&cl);
    got.sort();
    // L2 (srflx) never appears: its pairs become L1's, which already exist.
    // IPv4 locals (L1, L4) pair with IPv4 remotes (R1, R2); L3 with R3 only.
    assert_eq!(got, ["L1-R1", "L1-R2", "L3-R3", "L4-R1", "L4-R2"]);
    assert!(cl.pairs().iter().all(|p| p.state == PairState::Frozen));
}

#[test]
fn order_does_not_matter_remote_first_or_local_first() {
    let mut cl = CheckList::new(CheckListConfig::default(), true);
    for r in remotes() {
        cl.add_remote(r).unwrap();
    }
    for l in locals() {
        cl.add_local(l);
    }
    assert_eq!(names(&cl), names(&filled(true)));
}

#[test]
fn srflx_without_a_host_is_kept_until_the_host_arrives() {
    let mut cl = CheckList::new(CheckListConfig::default(), true);
    cl.add_remote(remotes()[0].clone()).unwrap();
    cl.add_local(locals()[1].clone());
    assert_eq!(names(&cl), ["L2-R1"]);
    // The host with the same base has higher priority and replaces it (§6.1.2.4).
    cl.add_local(locals()[0].clone());
    assert_eq!(names(&cl), ["L1-R1"]);
}

#[test]
fn redundant_pair_does_not_replace_one_already_being_checked() {
    let mut cl = CheckList::new(CheckListConfig::default(), true);
    let r = cl.add_remote(remotes()[0].clone()).unwrap();
    let srflx = cl.add_local(locals()[1].clone());
    assert!(cl.set_state(srflx, r, PairState::InProgress));
    cl.add_local(locals()[0].clone());
    assert_eq!(names(&cl), ["L2-R1"]);
}

#[test]
fn sorted_by_pair_priority_for_the_current_role() {
    for controlling in [true, false] {
        let cl = filled(controlling);
        let prios: Vec<u64> = cl.pairs().iter().map(|p| p.priority).collect();
        assert!(prios.windows(2).all(|w| w[0] >= w[1]), "{prios:?}");
        for p in cl.pairs() {
            let (l, r) = (
                cl.local(p.local).candidate.priority,
                cl.remote(p.remote).priority,
            );
            let expected = if controlling {
                pair_priority(l, r)
            } else {
                pair_priority(r, l)
            };
            assert_eq!(p.priority, expected);
        }
    }
    // Host pairs first, relay pairs last.
    let cl = filled(true);
    assert_eq!(names(&cl).last().map(String::as_str), Some("L4-R2"));
}

#[test]
fn role_change_recomputes_and_resorts() {
    let mut cl = filled(true);
    cl.set_controlling(false);
    let fresh = filled(false);
    assert!(!cl.is_controlling());
    assert_eq!(names(&cl), names(&fresh));
    let a: Vec<u64> = cl.pairs().iter().map(|p| p.priority).collect();
    let b: Vec<u64> = fresh.pairs().iter().map(|p| p.priority).collect();
    assert_eq!(a, b);
}

#[test]
fn components_pair_separately() {
    let mut cl = CheckList::new(CheckListConfig::default(), true);
    cl.add_local(host("L1 1 udp 2130706431 192.168.1.20 5000 typ host"));
    cl.add_local(host("L1 2 udp 2130706430 192.168.1.20 5001 typ host"));
    cl.add_remote(cand("R1 1 udp 2122260223 10.0.0.2 4000 typ host"))
        .unwrap();
    cl.add_remote(cand("R1 2 udp 2122260222 10.0.0.2 4001 typ host"))
        .unwrap();
    assert_eq!(cl.pairs().len(), 2);
    assert!(cl
        .pairs()
        .iter()
        .all(|p| cl.local(p.local).candidate.component == p.component));
}

#[test]
fn duplicate_and_mdns_remotes() {
    let mut cl = filled(true);
    let before = cl.pairs().len();
    // Same transport address, different foundation/priority: same candidate.
    let id = cl
        .add_remote(cand("X 1 udp 5 10.0.0.2 4000 typ host generation 0"))
        .unwrap();
    assert_eq!(id, RemoteId(0));
    assert_eq!(cl.pairs().len(), before);
    let err = cl
        .add_remote(cand(
            "1 1 udp 2113937151 2cf0b2c0-0842-4fe3-aaa0-4556a2dfbadc.local 33192 typ host",
        ))
        .unwrap_err();
    assert_eq!(
        err,
        CheckListError::UnresolvedMdns("2cf0b2c0-0842-4fe3-aaa0-4556a2dfbadc.local".into())
    );
    assert!(err.to_string().contains("resolve it"));
}

#[test]
fn remote_candidate_cap() {
    let config = CheckListConfig {
        max_remote_candidates: 2,
        ..Default::default()
    };
    let mut cl = CheckList::new(config, true);
    cl.add_remote(remotes()[0].clone()).unwrap();
    cl.add_remote(remotes()[1].clone()).unwrap();
    // A duplicate is still fine at the cap.
    assert_eq!(cl.add_remote(remotes()[0].clone()), Ok(RemoteId(0)));
    let err = cl.add_remote(remotes()[2].clone()).unwrap_err();
    assert_eq!(err, CheckListError::TooManyRemoteCandidates { limit: 2 });
    assert_eq!(
        err.to_string(),
        "remote candidate rejected: the peer already sent 2 candidates, the most this checklist accepts"
    );
}

#[test]
fn pair_cap_drops_lowest_priority() {
    let config = CheckListConfig {
        max_pairs: 3,
        ..Default::default()
    };
    let mut cl = CheckList::new(config, true);
    for l in locals() {
        cl.add_local(l);
    }
    for r in remotes() {
        cl.add_remote(r).unwrap();
    }
    let full = filled(true);
    assert_eq!(names(&cl), names(&full)[..3]);
}

#[test]
fn pair_cap_spares_pairs_in_progress() {
    let config = CheckListConfig {
        max_pairs: 1,
        ..Default::default()
    };
    let mut cl = CheckList::new(config, true);
    let relay = cl.add_local(locals()[3].clone());
    let r1 = cl.add_remote(remotes()[0].clone()).unwrap();
    assert!(cl.set_state(relay, r1, PairState::InProgress));
    // A better pair arrives, but the relay pair is being checked: the newcomer goes.
    cl.add_local(locals()[0].clone());
    assert_eq!(names(&cl), ["L4-R1"]);
    // Once the relay pair failed, a better pair displaces it.
    cl.set_state(relay, r1, PairState::Failed);
    cl.add_local(host("L5 1 udp 2130706000 192.168.1.21 5003 typ host"));
    assert_eq!(names(&cl), ["L5-R1"]);
}

#[test]
fn initial_unfreezing_one_pair_per_foundation() {
    let mut cl = CheckList::new(CheckListConfig::default(), true);
    // Foundation A-R: two components, and two IPv4 hosts sharing foundation A.
    cl.add_local(host("A 1 udp 2130706431 192.168.1.20 5000 typ host"));
    cl.add_local(host("A 2 udp 2130706430 192.168.1.20 5001 typ host"));
    cl.add_local(host("A 1 udp 2130705000 192.168.1.20 5004 typ host"));
    // Foundation B: a relay.
    cl.add_local(host(
        "B 1 udp 16777215 198.51.100.7 7000 typ relay raddr 203.0.113.5 rport 6000",
    ));
    cl.add_local(host(
        "B 2 udp 16777214 198.51.100.7 7001 typ relay raddr 203.0.113.5 rport 6001",
    ));
    cl.add_remote(cand("R 1 udp 2122260223 10.0.0.2 4000 typ host"))
        .unwrap();
    cl.add_remote(cand("R 2 udp 2122260222 10.0.0.2 4001 typ host"))
        .unwrap();
    assert_eq!(cl.pairs().len(), 5);

    assert_eq!(cl.unfreeze_initial(), 2);
    let waiting: Vec<(u16, u16)> = cl
        .pairs()
        .iter()
        .filter(|p| p.state == PairState::Waiting)
        .map(|p| (cl.local(p.local).candidate.port, p.component))
        .collect();
    // A: component 1 wins over 2; of the two component-1 pairs the higher
    // priority (port 5000) wins. B: component 1 (port 7000).
    assert_eq!(waiting, [(5000, 1), (7000, 1)]);
    assert_eq!(
        cl.pairs()
            .iter()
            .filter(|p| p.state == PairState::Frozen)
            .count(),
        3
    );
}

#[test]
fn unfreezing_a_foundation_after_success() {
    let mut cl = CheckList::new(CheckListConfig::default(), true);
    cl.add_local(host("A 1 udp 2130706431 192.168.1.20 5000 typ host"));
    cl.add_local(host("A 2 udp 2130706430 192.168.1.20 5001 typ host"));
    cl.add_remote(cand("R 1 udp 2122260223 10.0.0.2 4000 typ host"))
        .unwrap();
    cl.add_remote(cand("R 2 udp 2122260222 10.0.0.2 4001 typ host"))
        .unwrap();
    cl.unfreeze_initial();
    let f = cl.pairs()[0].foundation.clone();
    assert_eq!(f.to_string(), "A:R");
    assert_eq!(cl.unfreeze_foundation(&f), 1);
    assert!(cl.pairs().iter().all(|p| p.state == PairState::Waiting));
    assert_eq!(cl.unfreeze_foundation(&f), 0);
}

#[test]
fn set_state_on_unknown_pair() {
    let mut cl = filled(true);
    // L2 (srflx) was replaced by its base, so it has no pair of its own.
    assert!(!cl.set_state(LocalId(1), RemoteId(0), PairState::Waiting));
    assert!(cl.pair(LocalId(1), RemoteId(0)).is_none());
    assert!(cl.pair(LocalId(0), RemoteId(0)).is_some());
    assert_eq!(
        cl.local(LocalId(1)).candidate.kind,
        CandidateType::ServerReflexive
    );
    assert_eq!(cl.locals().len(), 4);
    assert_eq!(cl.remotes().len(), 3);
}

#[test]
fn signaled_candidate_replaces_the_prflx_one_learned_first() {
    let mut cl = filled(true);
    let prflx = cl
        .add_remote(cand("P9 1 udp 1845501695 10.0.0.2 4444 typ prflx"))
        .unwrap();
    let before = cl
        .pairs()
        .iter()
        .find(|p| p.remote == prflx)
        .unwrap()
        .priority;
    // A different address, or a second prflx, replaces nothing.
    assert!(!cl.replace_peer_reflexive(prflx, cand("X 1 udp 2122260223 10.0.0.2 4445 typ host")));
    assert!(!cl.replace_peer_reflexive(prflx, cand("X 1 udp 2122260223 10.0.0.2 4444 typ prflx")));
    let host = cand("R9 1 udp 2122260223 10.0.0.2 4444 typ host");
    assert!(cl.replace_peer_reflexive(prflx, host.clone()));
    assert_eq!(cl.remote(prflx), &host);
    let pair = cl.pairs().iter().find(|p| p.remote == prflx).unwrap();
    assert!(pair.priority > before);
    assert_eq!(pair.foundation.remote, host.foundation);
    assert!(cl
        .pairs()
        .windows(2)
        .all(|w| w[0].priority >= w[1].priority));
    // Once replaced, the candidate is no longer prflx: a repeat changes nothing.
    assert!(!cl.replace_peer_reflexive(prflx, host));
}
