//! Pinhole's binding-lifetime probe ([`LifetimeProbe`], RFC 5780 §4.6) against
//! Pinhole's [`BindingServer`]: it must find the idle timeout a NAT is configured
//! with, to within the probe's resolution, in an exact amount of virtual time.

mod common;
use common::*;
use pinhole::nat::lifetime::{LifetimeConfig, LifetimeReport};
use pinhole::stun::server::ServerConfig;
use pinhole::stun::transaction::TransactionConfig;
use pinhole_netsim::pinhole_endpoints::{LifetimeEndpoint, StunServerEndpoint};
use pinhole_netsim::{presets, Firewall, Layer, LinkSpec, NatConfig, Preset};
use std::time::Duration;

const ACCESS: Duration = Duration::from_millis(50);
/// Round trip between the NAT and the server (the host is one perfect hop from its NAT).
const RTT: Duration = Duration::from_millis(100);
const X: u16 = 5000;
const Y: u16 = 5001;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Runs the probe with default bounds (5 s .. 300 s, resolution 5 s) from a peer
/// behind `layers`; returns the report and the virtual time it took.
fn probe(seed: u64, layers: Vec<Layer>) -> (LifetimeReport, Duration) {
    let server = StunServerEndpoint::new(ServerConfig::new(sa(S1, P1)).with_alternate(sa(S2, P2)))
        .expect("valid server config");
    let mut w = world_with_layers(seed, layers, LinkSpec::latency(ACCESS), server);
    let config = LifetimeConfig::new(sa(S1, P1));
    let (now, mut rng) = (w.net.now(), w.net.fork_rng());
    let (x, y) = (w.peer.local(X), w.peer.local(Y));
    let p = LifetimeEndpoint::new(now, config, x, y, &mut rng).expect("valid probe config");
    let p = w.net.attach_on_ports(w.peer.host, &[X, Y], p);
    let done = w
        .net
        .run_until_predicate(now + secs(3600), |sim| sim.endpoint(p).is_done());
    assert!(done, "the probe did not finish within an hour");
    let e = w.net.endpoint(p);
    let report = e.result().unwrap().clone().expect("a measurement");
    (report, e.elapsed().unwrap())
}

/// What one trial costs: X's learn round trip, the idle time, then the probe's
/// round trip if the binding survived, or a whole transaction timeout if not.
fn trial_time(idle: Duration, survived: bool) -> Duration {
    let probe = if survived {
        RTT
    } else {
        TransactionConfig::gathering().total_timeout()
    };
    RTT + idle + probe
}

/// Probes a NAT with a `timeout` idle timeout and checks the report against it.
/// `lag` is how much longer than the probe's idle time the NAT sees the binding
/// idle when the answer arrives: one RTT with inbound refresh (the learn answer
/// refreshed it), two without (only the learn request did).
fn check(name: &str, layers: Vec<Layer>, timeout: Duration, lag: Duration, expect: Expect) {
    let resolution = LifetimeConfig::new(sa(S1, P1)).resolution;
    for seed in [1, 2, 3] {
        let (r, elapsed) = probe(seed, layers.clone());
        let trials: Vec<String> = r
            .trials
            .iter()
            .map(|t| format!("{}{}", t.idle.as_secs(), if t.survived { "✓" } else { "✗" }))
            .collect();
        println!(
            "{name} (timeout {timeout:?}) seed {seed}: [{:?}, {:?}) after {elapsed:?} of virtual time; trials {}",
            r.survived,
            r.expired,
            trials.join(" ")
        );
        let (survived, expired) = (r.survived.unwrap(), r.expired.unwrap());
        // The interval brackets the configured timeout, within the resolution ...
        assert!(expired - survived <= resolution, "{name}: {r:?}");
        assert!(survived < timeout && timeout <= expired, "{name}: {r:?}");
        // ... and exactly, once the lag between the probe's clock and the NAT's is counted.
        assert!(
            survived + lag < timeout && timeout <= expired + lag,
            "{name}: {r:?}"
        );
        assert_eq!(
            (survived, expired),
            (expect.survived, expect.expired),
            "{name}"
        );
        let idles: Vec<(u64, bool)> = r
            .trials
            .iter()
            .map(|t| (t.idle.as_secs(), t.survived))
            .collect();
        assert_eq!(idles, expect.trials, "{name}");
        let total: Duration = r
            .trials
            .iter()
            .map(|t| trial_time(t.idle, t.survived))
            .sum();
        assert_eq!(elapsed, total, "{name}: virtual time");
        assert_eq!(elapsed, expect.time, "{name}: virtual time");
    }
}

struct Expect {
    survived: Duration,
    expired: Duration,
    /// (idle seconds, survived) in order, the T = 0 check first.
    trials: Vec<(u64, bool)>,
    time: Duration,
}

#[test]
fn carrier_cgnat_30s() {
    let t = secs(30);
    check(
        "carrier_cgnat",
        Preset::carrier_cgnat(t).layers(),
        t,
        RTT,
        Expect {
            survived: secs(25),
            expired: secs(30),
            // Doubling from 5 s until 40 s expires, then bisecting [20, 40).
            trials: vec![
                (0, true),
                (5, true),
                (10, true),
                (20, true),
                (40, false),
                (30, false),
                (25, true),
            ],
            time: Duration::from_millis(141_200),
        },
    );
}

#[test]
fn carrier_cgnat_65s() {
    let t = secs(65);
    check(
        "carrier_cgnat",
        Preset::carrier_cgnat(t).layers(),
        t,
        RTT,
        Expect {
            survived: secs(60),
            expired: secs(65),
            trials: vec![
                (0, true),
                (5, true),
                (10, true),
                (20, true),
                (40, true),
                (80, false),
                (60, true),
                (70, false),
                (65, false),
            ],
            time: Duration::from_millis(366_500),
        },
    );
}

#[test]
fn home_nat_without_inbound_refresh() {
    let layer = Layer {
        name: "nat",
        nat: NatConfig {
            inbound_refresh: false,
            ..presets::port_restricted_cone()
        },
        firewall: Firewall::open(),
        carrier: false,
    };
    let timeout = layer.nat.mapping_timeout;
    assert_eq!(timeout, secs(120));
    check(
        "home nat, no inbound refresh",
        vec![layer],
        timeout,
        2 * RTT,
        Expect {
            survived: secs(115),
            expired: secs(120),
            trials: vec![
                (0, true),
                (5, true),
                (10, true),
                (20, true),
                (40, true),
                (80, true),
                (160, false),
                (120, false),
                (100, true),
                (110, true),
                (115, true),
            ],
            time: Duration::from_millis(772_000),
        },
    );
}
