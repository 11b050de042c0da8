//! Pinhole's RFC 5780 discovery ([`NatDiscovery`]) against Pinhole's own
//! [`BindingServer`] (with an alternate address) in the core, from a peer behind
//! every preset: the report must equal the truth table in `common` (which
//! `presets.rs` checks with raw probes), and take an exact amount of virtual time.

mod common;
use common::*;
use pinhole::nat::discovery::{DiscoveryConfig, DiscoveryError, Filtering, Mapping, NatReport};
use pinhole::stun::server::ServerConfig;
use pinhole::stun::transaction::TransactionConfig;
use pinhole_netsim::pinhole_endpoints::{DiscoveryEndpoint, StunServerEndpoint};
use pinhole_netsim::{Behaviour, Layer, LinkSpec, Preset};
use std::time::Duration;

/// One-way latency of every peer's access link.
const ACCESS: Duration = Duration::from_millis(50);
/// Round trip to the server (everything else takes zero time).
const RTT: Duration = Duration::from_millis(100);
const SEEDS: [u64; 3] = [1, 2, 3];
const PORT: u16 = 5000;

/// What an unanswered test costs: the gathering transaction schedule (5 s).
fn silent() -> Duration {
    TransactionConfig::gathering().total_timeout()
}

fn server() -> StunServerEndpoint {
    StunServerEndpoint::new(ServerConfig::new(sa(S1, P1)).with_alternate(sa(S2, P2)))
        .expect("valid server config")
}

struct Run {
    w: World<StunServerEndpoint>,
    result: Result<NatReport, DiscoveryError>,
    elapsed: Duration,
    dropped: u64,
}

/// Runs discovery from port 5000 of a peer behind `layers` until it reports.
fn discover(seed: u64, layers: Vec<Layer>) -> Run {
    let mut w = world_with_layers(seed, layers, LinkSpec::latency(ACCESS), server());
    let local = w.peer.local(PORT);
    let config = DiscoveryConfig::new(sa(S1, P1), local);
    let (now, mut rng) = (w.net.now(), w.net.fork_rng());
    let d = DiscoveryEndpoint::new(now, config, &mut rng).expect("valid discovery config");
    let d = w.net.attach_on_ports(w.peer.host, &[PORT], d);
    let deadline = now + Duration::from_secs(60);
    let done = w
        .net
        .run_until_predicate(deadline, |sim| sim.endpoint(d).is_done());
    assert!(done, "discovery did not finish within 60 s");
    // Let answers still in flight land: none may be a stray, and no timer may be left.
    w.net.run_for(Duration::from_secs(10));
    let e = w.net.endpoint(d);
    let (result, elapsed, dropped) = (
        e.result().cloned().unwrap(),
        e.elapsed().unwrap(),
        e.discovery().dropped(),
    );
    assert_eq!(
        e.discovery().poll_timeout(),
        None,
        "timers left after the report"
    );
    Run {
        w,
        result,
        elapsed,
        dropped,
    }
}

fn mapping_of(b: Behaviour) -> Mapping {
    match b {
        Behaviour::EndpointIndependent => Mapping::EndpointIndependent,
        Behaviour::AddressDependent => Mapping::AddressDependent,
        Behaviour::AddressAndPortDependent => Mapping::AddressAndPortDependent,
    }
}

fn filtering_of(b: Behaviour) -> Filtering {
    match b {
        Behaviour::EndpointIndependent => Filtering::EndpointIndependent,
        Behaviour::AddressDependent => Filtering::AddressDependent,
        Behaviour::AddressAndPortDependent => Filtering::AddressAndPortDependent,
    }
}

/// Discovery behind `layers` (over every seed) reports `truth` after exactly `time`.
fn check(name: &str, layers: Vec<Layer>, truth: Truth, time: Duration) {
    for seed in SEEDS {
        let Run {
            w,
            result,
            elapsed,
            dropped,
        } = discover(seed, layers.clone());
        let r = result.unwrap_or_else(|e| panic!("{name} seed {seed}: {e}"));
        println!(
            "{name:<22} seed {seed}: {:<26} {:<26} hairpin {:<12} mapped {:<20} in {elapsed:?}",
            r.mapping.as_str(),
            r.filtering.as_str(),
            format!("{:?}", r.hairpinning),
            r.mapped
        );
        let (mapping, hairpinning) = if truth.nat {
            (mapping_of(truth.mapping), Some(truth.hairpin))
        } else {
            // No NAT: nothing to map or hairpin; filtering is whatever lets replies in.
            (Mapping::NoNat, None)
        };
        let ctx = format!("{name} seed {seed}");
        assert_eq!(r.mapping, mapping, "{ctx}");
        assert_eq!(r.filtering, filtering_of(truth.filtering), "{ctx}");
        assert_eq!(r.hairpinning, hairpinning, "{ctx}");
        assert_eq!(r.other_address, Some(sa(S2, P2)), "{ctx}");
        assert_eq!(r.rtt, Some(RTT), "{ctx}");
        let public = match w.peer.outer_nat() {
            Some(g) => w.net.nat(g).external_addrs()[0],
            None => w.peer.addr,
        };
        assert_eq!(r.mapped.ip(), public, "{ctx}");
        assert_eq!(elapsed, time, "{ctx}: virtual time");
        assert_eq!(dropped, 0, "{ctx}: no stray datagrams");
        let stats = w.net.endpoint(w.server).stats();
        assert_eq!(stats.error_responses, 0, "{ctx}");
        assert_eq!(stats.received, stats.success_responses, "{ctx}");
    }
}

fn check_preset(preset: Preset, time: Duration) {
    let truth = truth(preset).expect("a preset that passes UDP");
    check(preset.name(), preset.layers(), truth, time);
}

// Virtual time = answered round trips × RTT + one 5 s wait if filtering test II
// goes unanswered. The rounds: Test I; filtering II and III together (the
// verdict waits for II); mapping II, and III if II saw a new mapping.
// Hairpinning runs alongside the filtering tests and, with the host one
// perfect hop from its NAT, settles no later than they do.

#[test]
fn open_reports_no_nat() {
    // Test I, filtering II; no mapping tests without a NAT.
    check_preset(Preset::Open, 2 * RTT);
    assert_eq!(2 * RTT, Duration::from_millis(200));
}

#[test]
fn full_cone() {
    // I, filtering II answered, mapping II same mapping.
    check_preset(Preset::FullCone, 3 * RTT);
    assert_eq!(3 * RTT, Duration::from_millis(300));
}

#[test]
fn restricted_cone() {
    // I, filtering II silent (III answered meanwhile), mapping II.
    check_preset(Preset::RestrictedCone, 2 * RTT + silent());
    assert_eq!(2 * RTT + silent(), Duration::from_millis(5_200));
}

#[test]
fn port_restricted_cone() {
    // I, filtering II and III silent, mapping II.
    check_preset(Preset::PortRestrictedCone, 2 * RTT + silent());
    assert_eq!(2 * RTT + silent(), Duration::from_millis(5_200));
}

#[test]
fn symmetric() {
    // I, filtering II and III silent, mapping II (new mapping) and III.
    check_preset(Preset::Symmetric, 3 * RTT + silent());
    assert_eq!(3 * RTT + silent(), Duration::from_millis(5_300));
}

#[test]
fn symmetric_sequential() {
    check_preset(Preset::SymmetricSequential, 3 * RTT + silent());
}

#[test]
fn carrier_cgnat() {
    for t in [30, 60] {
        let preset = Preset::carrier_cgnat(Duration::from_secs(t));
        check_preset(preset, 2 * RTT + silent());
    }
}

#[test]
fn double_nat() {
    check_preset(Preset::DoubleNat, 2 * RTT + silent());
}

#[test]
fn address_dependent_mapping() {
    // I, filtering II silent (III answered meanwhile), mapping II (new mapping), III (same as II).
    check(
        "address_dependent",
        vec![adm_layer()],
        ADM_TRUTH,
        3 * RTT + silent(),
    );
    assert_eq!(3 * RTT + silent(), Duration::from_millis(5_300));
}

#[test]
fn udp_blocked_fails_with_no_response() {
    assert_eq!(truth(Preset::UdpBlocked), None);
    for seed in SEEDS {
        let run = discover(seed, Preset::UdpBlocked.layers());
        println!(
            "udp_blocked seed {seed}: {:?} in {:?}",
            run.result, run.elapsed
        );
        assert_eq!(
            run.result,
            Err(DiscoveryError::NoResponse {
                server: sa(S1, P1),
                waited: silent(),
            })
        );
        // Test I's five transmissions, then the 5 s schedule ran out: exactly 5 s.
        assert_eq!(run.elapsed, silent());
        assert_eq!(run.elapsed, Duration::from_secs(5));
        let nat = run.w.peer.nat().unwrap();
        assert_eq!(run.w.net.nat_stats(nat).dropped_firewall, 5);
        assert_eq!(run.w.net.endpoint(run.w.server).stats().received, 0);
    }
}

#[test]
fn every_preset_is_covered() {
    // The tests above name each preset `Preset::all()` lists.
    let names: Vec<_> = Preset::all().iter().map(|p| p.name()).collect();
    assert_eq!(
        names,
        [
            "open",
            "full_cone",
            "restricted_cone",
            "port_restricted_cone",
            "symmetric",
            "symmetric_sequential",
            "carrier_cgnat",
            "double_nat",
            "udp_blocked"
        ]
    );
}
