//! The hard-NAT birthday punch behind real Linux NATs (network namespaces and nftables,
//! cli/tests/natlab/mod.rs): `pinhole connect` behind `masquerade random,fully-random`
//! (symmetric, random ports) against one behind plain `masquerade` (port-restricted
//! cone), signaled through this test's pipes, with `pinhole stun-server --alt` (RFC 5780)
//! in the public namespace for the sessions' NAT discovery. Ordinary ICE cannot connect
//! that cell without a relay (natlab_connect.rs proves it with `--no-hard-nat`).
//!
//! - 20 runs, each in a fresh lab: direct in at least 19 (95 %), data both ways; the
//!   probes each side spent and the time to the connected line are printed
//!   (`--nocapture`) and recorded in BENCHMARKS.md.
//! - With coturn and `--turn` on both sides: the relay connects first and carries data,
//!   then the punch moves both sides to the direct pair (make-before-break).
//!
//! Needs root, nftables (and coturn for the second test); run via scripts/test.sh.

mod common;
mod natlab;

use std::time::Duration;

use common::{pipe_pair, require_tool, PipeRun, PipeSide, TempDir, PINHOLE};
use natlab::{Lab, Nat, SERVER_IP_1, SERVER_IP_2};
use serde_json::Value;

const STUN: &str = "192.0.2.1:3478";
const TIMEOUT_S: u64 = 20;
const RUNS: usize = 20;

/// The session statistics `--stats` wrote on stderr.
fn stats(side: &PipeSide) -> Value {
    let line = side
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("pinhole: stats "))
        .unwrap_or_else(|| panic!("{}: no stats line:\n{}", side.name, side.stderr));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"))
}

/// A fresh lab: A (controlling) behind a symmetric NAT, B behind a port-restricted cone;
/// both run `pinhole connect --stats` plus `extra`.
fn run(extra: &[&str], turn: bool) -> (Lab, PipeRun, Option<TempDir>) {
    let mut lab = Lab::with_sides(&[Nat::Symmetric, Nat::PortRestricted]);
    let dir = turn.then(|| TempDir::new("natlab-hardnat-coturn"));
    if let Some(d) = &dir {
        lab.start_coturn(&require_tool("turnserver", "coturn"), d.path());
    }
    let public = lab.public.clone();
    let (bind, alt) = (format!("{SERVER_IP_1}:3478"), format!("{SERVER_IP_2}:3479"));
    lab.spawn(
        &public,
        &[PINHOLE, "stun-server", "--bind", &bind, "--alt", &alt],
    );
    std::thread::sleep(Duration::from_millis(200));
    let timeout = TIMEOUT_S.to_string();
    let argv = |ns: &str, role: &str, send: &str, expect: &str| -> Vec<String> {
        let mut v: Vec<String> = [
            "ip",
            "netns",
            "exec",
            ns,
            PINHOLE,
            "connect",
            role,
            "--stun",
            STUN,
            "--send",
            send,
            "--expect",
            expect,
            "--timeout",
            &timeout,
            "--stats",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if turn {
            v.extend(
                [
                    "--turn",
                    "turn:192.0.2.1:3488",
                    "--turn-user",
                    "pinhole",
                    "--turn-pass",
                    "secret",
                ]
                .map(String::from),
            );
        }
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let a = argv(
        &lab.sides[0].client,
        "--controlling",
        "ping from A",
        "pong from B",
    );
    let b = argv(
        &lab.sides[1].client,
        "--controlled",
        "pong from B",
        "ping from A",
    );
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let b: Vec<&str> = b.iter().map(String::as_str).collect();
    let run = pipe_pair(
        ("A symmetric", &a),
        ("B port-restricted", &b),
        Duration::from_secs(TIMEOUT_S + 15),
    );
    (lab, run, dir)
}

/// What one run measured.
#[derive(Debug)]
struct Measured {
    direct: bool,
    /// A's first connected line (since both started).
    connected_at: Option<Duration>,
    /// The easy side (B): probes sent, which one hit.
    easy_probes: u64,
    hit_probe: Option<u64>,
    /// The hard side (A): sockets opened, and when its punch started and ended (ms).
    hard_sockets: u64,
    punch_ms: (Option<f64>, Option<f64>),
}

fn measure(run: &PipeRun) -> Measured {
    let connected = run.a.lines_of("connected");
    let last = |s: &PipeSide| s.lines_of("connected").last().map(|(_, v)| v.clone());
    let data = |s: &PipeSide, text: &str| s.lines_of("data").iter().any(|(_, v)| v["text"] == text);
    let direct = run.a.succeeded()
        && run.b.succeeded()
        && last(&run.a).is_some_and(|v| v["path"] == "direct")
        && last(&run.b).is_some_and(|v| v["path"] == "direct")
        && data(&run.a, "pong from B")
        && data(&run.b, "ping from A");
    let (a, b) = (stats(&run.a), stats(&run.b));
    Measured {
        direct,
        connected_at: connected.first().map(|(t, _)| *t),
        easy_probes: b["punch"]["probes_sent"].as_u64().unwrap_or(0),
        hit_probe: b["punch"]["hit"]["probes"].as_u64(),
        hard_sockets: a["punch"]["sockets_opened"].as_u64().unwrap_or(0),
        punch_ms: (
            a["punch"]["started_ms"].as_f64(),
            a["punch"]["ended_ms"].as_f64(),
        ),
    }
}

#[test]
#[ignore = "needs root and nftables: run by scripts/test.sh"]
fn birthday_punch_through_a_real_symmetric_nat_is_direct_in_19_of_20_runs() {
    let started = std::time::Instant::now();
    let mut results = Vec::new();
    for i in 0..RUNS {
        let (_lab, run, _) = run(&[], false);
        let m = measure(&run);
        eprintln!("run {i:2}: {m:?}");
        if !m.direct {
            eprintln!("run {i} was not direct:\n{}", run.describe());
        } else {
            // The hard side is A: its punch sockets, its reflexive address on the wire.
            assert_eq!(m.hard_sockets, 256, "{}", run.describe());
            let c = run.a.lines_of("connected").last().unwrap().1.clone();
            assert!(
                c["local"]
                    .as_str()
                    .unwrap()
                    .starts_with("prflx 203.0.113.2:"),
                "{c}"
            );
        }
        results.push(m);
    }
    let ok: Vec<&Measured> = results.iter().filter(|m| m.direct).collect();
    let mut times: Vec<f64> = ok
        .iter()
        .filter_map(|m| m.connected_at.map(|d| d.as_secs_f64()))
        .collect();
    times.sort_by(f64::total_cmp);
    let mut probes: Vec<u64> = ok.iter().map(|m| m.easy_probes).collect();
    probes.sort();
    let hits: Vec<u64> = ok.iter().filter_map(|m| m.hit_probe).collect();
    let mut spans: Vec<f64> = ok
        .iter()
        .filter_map(|m| Some(m.punch_ms.1? - m.punch_ms.0?))
        .collect();
    spans.sort_by(f64::total_cmp);
    let median = |v: &[f64]| v.get(v.len() / 2).copied().unwrap_or(f64::NAN);
    eprintln!(
        "birthday punch, real kernel NAT: direct {}/{RUNS}; connected median {:.2} s \
         (min {:.2}, max {:.2}); easy-side probes sent median {} (max {}); hitting probe \
         (easy side's own, {} runs) median {}; punch start to end (hard side) median {:.0} ms \
         (max {:.0}); wall {:?}",
        ok.len(),
        median(&times),
        times.first().copied().unwrap_or(f64::NAN),
        times.last().copied().unwrap_or(f64::NAN),
        probes.get(probes.len() / 2).copied().unwrap_or(0),
        probes.last().copied().unwrap_or(0),
        hits.len(),
        {
            let mut h = hits.clone();
            h.sort();
            h.get(h.len() / 2).copied().unwrap_or(0)
        },
        median(&spans),
        spans.last().copied().unwrap_or(f64::NAN),
        started.elapsed()
    );
    assert!(
        ok.len() * 100 >= RUNS * 95,
        "direct in {}/{RUNS} runs: {results:?}",
        ok.len()
    );
}

#[test]
#[ignore = "needs root, nftables and coturn: run by scripts/test.sh"]
fn the_relay_carries_data_until_the_punch_moves_the_path_direct() {
    // Linger: the texts arrive over the relay at once; the upgrade comes after.
    let (_lab, run, dir) = run(&["--linger", "5"], true);
    let log = || {
        dir.as_ref()
            .map(|d| std::fs::read_to_string(d.path().join("turn.log")).unwrap_or_default())
            .unwrap_or_default()
    };
    assert!(
        run.a.succeeded() && run.b.succeeded(),
        "{}\ncoturn:\n{}",
        run.describe(),
        log()
    );
    for (side, text) in [(&run.a, "pong from B"), (&run.b, "ping from A")] {
        let lines = side.lines_of("connected");
        assert!(
            lines.len() >= 2,
            "{}: relay, then direct\n{}",
            side.name,
            run.describe()
        );
        assert_eq!(lines[0].1["path"], "relay", "{}", run.describe());
        assert_eq!(
            lines.last().unwrap().1["path"],
            "direct",
            "{}",
            run.describe()
        );
        // The data went out on the relay, before the punch, and arrived.
        assert!(
            side.lines_of("data").iter().any(|(_, v)| v["text"] == text),
            "{}",
            run.describe()
        );
        let st = stats(side);
        assert_eq!(st["punch"]["outcome"], "succeeded", "{st}");
        eprintln!(
            "{}: relay at {:.3}s, direct at {:.3}s",
            side.name,
            lines[0].0.as_secs_f64(),
            lines.last().unwrap().0.as_secs_f64()
        );
    }
}
