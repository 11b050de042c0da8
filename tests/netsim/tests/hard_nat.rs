//! The hard-NAT punch over many runs of the symmetric × port-restricted cell (random
//! ports over 64512, 256 hard-side sockets, the default budget): how often it ends
//! direct, how many probes the hit cost against the birthday formula
//! 1 − exp(−256·M / 64512), and the time to direct. The figures BENCHMARKS.md records
//! come from here (`cargo test --release -p pinhole-netsim --test hard_nat -- --nocapture`).

use pinhole_netsim::scenario::{Path, Scenario, Topology};
use pinhole_netsim::Preset;

const RUNS: u64 = 200;

fn percentile(v: &[u64], p: usize) -> u64 {
    v[(v.len() * p / 100).min(v.len() - 1)]
}

#[test]
fn the_punch_succeeds_where_the_birthday_formula_says() {
    let mut direct = 0;
    let mut hits = Vec::new();
    let mut sent = Vec::new();
    let mut times = Vec::new();
    for seed in 1..=RUNS {
        let o = Scenario::new(Topology::Pair(
            Preset::Symmetric,
            Preset::PortRestrictedCone,
        ))
        .seed(seed)
        .run();
        let p = o.punch.as_ref().expect("a punch ran");
        assert!(p.easy_probes <= 2048, "{p:?}");
        if o.path == Path::Direct {
            direct += 1;
            times.push(o.direct_at.unwrap().as_millis() as u64);
            sent.push(p.easy_probes);
            // The easy side's own probe hit, or (it probed that port before the hard
            // socket opened it) the hard socket's probe came in: count its budget then.
            hits.push(p.hit_probe.unwrap_or(p.easy_probes));
        }
    }
    hits.sort();
    sent.sort();
    times.sort();
    let expected = |m: f64| 1.0 - (-256.0 * m / 64512.0).exp();
    let within = |m: u64| hits.iter().filter(|&&h| h <= m).count() as f64 / RUNS as f64;
    println!(
        "symmetric x port-restricted, {RUNS} runs: direct {direct}; probes to the hit p50 {} \
         p90 {} p99 {} max {}; probes sent p50 {}; time to direct ms p50 {} p90 {} max {}",
        percentile(&hits, 50),
        percentile(&hits, 90),
        percentile(&hits, 99),
        hits.last().unwrap(),
        percentile(&sent, 50),
        percentile(&times, 50),
        percentile(&times, 90),
        times.last().unwrap()
    );
    for m in [175, 500, 1000, 2048] {
        println!(
            "  hit within {m:4} probes: measured {:.3}, formula {:.3}",
            within(m),
            expected(m as f64)
        );
    }
    assert!(direct * 100 >= RUNS * 99, "direct in {direct}/{RUNS}");
    // The measured curve follows the formula (within sampling noise of 200 runs).
    for m in [175, 500, 1000] {
        assert!(
            (within(m) - expected(m as f64)).abs() < 0.12,
            "within {m}: {} vs {}",
            within(m),
            expected(m as f64)
        );
    }
    assert!(*times.last().unwrap() <= 4000);
}

/// A home router behind a carrier NAT grants mappings on its own external address, a
/// private one (100.64/10): the session refuses them as a double NAT, says why, and
/// connects through the peer's mapping anyway, as fast as if it had not asked.
#[test]
fn a_mapping_to_a_private_address_is_refused_and_costs_nothing() {
    use pinhole_netsim::scenario::signaling::SignalingLoss;
    use pinhole_netsim::scenario::{Call, CallOptions};
    let options = CallOptions {
        port_mapping: true,
        hard_nat_off: false,
    };
    let mut c = Call::start_with_options(
        Topology::Pair(Preset::DoubleNat, Preset::Symmetric),
        7,
        0.0,
        SignalingLoss::default(),
        true,
        options,
        &|c| c,
    );
    let end = c.start + std::time::Duration::from_secs(6);
    c.run(end, |_| false);
    let alice = c.ep(0).session().stats();
    let bob = c.ep(1).session().stats();
    let m = &alice.port_mappings[0];
    assert!(m.mapping.is_none(), "{m:?}");
    assert!(
        m.protocols
            .iter()
            .all(|(_, s)| s.contains("not a public address") || s.contains("did not answer")),
        "{m:?}"
    );
    assert!(
        bob.port_mappings[0].mapping.is_some(),
        "{:?}",
        bob.port_mappings
    );
    let sc = Scenario::new(Topology::Pair(Preset::DoubleNat, Preset::Symmetric))
        .port_mapping()
        .seed(7);
    let o = sc.run();
    assert_eq!(o.path, Path::Direct, "{o:?}");
    // At its bound plus the one Ta every mapped cell has (ice_matrix's port-mapping
    // variant): Bob's unreachable private host pair is checked before his mapping.
    let (t, bound) = (o.time().unwrap(), sc.lower_bound().unwrap());
    assert!(
        t >= bound && t <= bound + std::time::Duration::from_millis(50),
        "{o:?}"
    );
    assert!(
        o.punch.is_none(),
        "the mapping made the punch unnecessary: {o:?}"
    );
}
