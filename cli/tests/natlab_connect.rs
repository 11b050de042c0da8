//! `pinhole connect` between two clients behind two real Linux NATs (network namespaces
//! and nftables, see cli/tests/natlab/mod.rs and shared/NAT-LAB.md), signaled through
//! this test's pipes, with `pinhole stun-server` in the public namespace. Needs root; run
//! via scripts/test.sh.
//!
//! Cells that must connect directly (data both ways): PR↔PR, FullCone↔Symmetric,
//! AddressRestricted↔AddressRestricted, None↔PortRestricted. Cells that cannot without a
//! relay, and must say so with a non-zero exit within the timeout: Symmetric↔Symmetric,
//! and Symmetric↔PortRestricted with the hard-NAT punch off (`--no-hard-nat`; with it,
//! that cell is direct: cli/tests/natlab_hardnat.rs). With a real coturn in the public
//! namespace and `--turn` on both sides (not relay-only), those two cells connect with
//! path "relay", and PR↔PR still picks "direct" (relay pairs rank lowest). No test here
//! touches port mapping: the lab routers offer none.

mod common;
mod natlab;

use std::time::Duration;

use common::{pipe_pair, require_tool, PipeRun, PipeSide, TempDir, PINHOLE};
use natlab::{Lab, Nat, SERVER_IP_1, SERVER_IP_2};
use serde_json::Value;

const STUN: &str = "192.0.2.1:3478";
const CONNECT_TIMEOUT_S: u64 = 20;
const FAIL_TIMEOUT_S: u64 = 10;
/// coturn in the public namespace (the STUN server has 3478; `natlab::TURN_PORT`).
const TURN_URL: &str = "turn:192.0.2.1:3488";

/// Runs one cell: A (controlling, side 0) and B (controlled, side 1); with `turn`, both
/// also gather relay candidates from coturn in the public namespace.
fn run_cell(nats: [Nat; 2], timeout_s: u64, turn: Option<&TempDir>) -> (Lab, PipeRun) {
    run_cell_with(nats, timeout_s, turn, &[])
}

/// [`run_cell`] with more `pinhole connect` flags on both sides.
fn run_cell_with(
    nats: [Nat; 2],
    timeout_s: u64,
    turn: Option<&TempDir>,
    extra: &[&str],
) -> (Lab, PipeRun) {
    let mut lab = Lab::with_sides(&nats);
    if let Some(dir) = turn {
        lab.start_coturn(&require_tool("turnserver", "coturn"), dir.path());
    }
    let public = lab.public.clone();
    let (bind, alt) = (format!("{SERVER_IP_1}:3478"), format!("{SERVER_IP_2}:3479"));
    lab.spawn(
        &public,
        &[PINHOLE, "stun-server", "--bind", &bind, "--alt", &alt],
    );
    // Server-reflexive gathering retransmits (RTO 250 ms for 5 s), so a server still
    // binding its sockets only delays the candidates; give it a moment anyway.
    std::thread::sleep(Duration::from_millis(200));
    let timeout = timeout_s.to_string();
    let argv = |ns: &str, role: &'static str, send: &'static str, expect: &'static str| {
        [
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
        ]
        .iter()
        .map(|s| s.to_string())
        .chain(
            turn.iter()
                .flat_map(|_| {
                    [
                        "--turn",
                        TURN_URL,
                        "--turn-user",
                        "pinhole",
                        "--turn-pass",
                        "secret",
                    ]
                })
                .map(String::from),
        )
        .chain(extra.iter().map(|s| s.to_string()))
        .collect::<Vec<String>>()
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
    let (a, b): (Vec<&str>, Vec<&str>) = (
        a.iter().map(String::as_str).collect(),
        b.iter().map(String::as_str).collect(),
    );
    let run = pipe_pair(
        (&format!("A {:?}", nats[0]), &a),
        (&format!("B {:?}", nats[1]), &b),
        Duration::from_secs(timeout_s + 15),
    );
    (lab, run)
}

fn endpoint(v: &Value, key: &str) -> (String, String) {
    let s = v[key].as_str().unwrap_or_else(|| panic!("no {key} in {v}"));
    let (t, a) = s.split_once(' ').unwrap_or_else(|| panic!("{key} {s:?}"));
    (t.to_string(), a.to_string())
}

/// The side's connected line, checked against what its NAT allows.
fn check_side(side: &PipeSide, nat: Nat, lan_ip: &str, wan_ip: &str, run: &PipeRun) -> Value {
    // With a TURN server the relayed pair can succeed first while the direct one is
    // still punching through both NATs; the session then upgrades to the direct pair
    // and writes another connected line. The last one is the path that stays.
    let lines = side.lines_of("connected");
    assert!(
        (1..=3).contains(&lines.len()),
        "{}: one connected line, or a few on upgrades\n{}",
        side.name,
        run.describe()
    );
    let at = lines[0].0;
    let c = lines.last().unwrap().1.clone();
    assert_eq!(c["path"], "direct", "{}", run.describe());
    let (kind, addr) = endpoint(&c, "local");
    let ip = addr.rsplit_once(':').unwrap().0;
    if nat == Nat::None {
        assert_eq!((kind.as_str(), ip), ("host", lan_ip), "{}", run.describe());
    } else {
        assert!(
            (kind == "srflx" || kind == "prflx") && ip == wan_ip,
            "{}: local {kind} {addr} should be reflexive on {wan_ip}\n{}",
            side.name,
            run.describe()
        );
    }
    eprintln!(
        "{} connected at {:.3}s: local {} remote {} rtt_ms {}",
        side.name,
        at.as_secs_f64(),
        c["local"],
        c["remote"],
        c["rtt_ms"]
    );
    c
}

fn assert_direct(nats: [Nat; 2], turn: bool) {
    let dir = turn.then(|| TempDir::new("natlab-coturn"));
    let (lab, run) = run_cell(nats, CONNECT_TIMEOUT_S, dir.as_ref());
    assert!(
        run.a.succeeded() && run.b.succeeded(),
        "{nats:?}: both must exit 0\n{}",
        run.describe()
    );
    let sides = [&run.a, &run.b];
    let mut connected = Vec::new();
    for i in 0..2 {
        let s = &lab.sides[i];
        connected.push(check_side(sides[i], nats[i], s.client_ip, s.wan_ip, &run));
    }
    for (side, text) in [(&run.a, "pong from B"), (&run.b, "ping from A")] {
        assert!(
            side.lines_of("data").iter().any(|(_, v)| v["text"] == text),
            "{} never printed {text:?}\n{}",
            side.name,
            run.describe()
        );
    }
    // Each side's local address is what the other sees as remote.
    assert_eq!(
        endpoint(&connected[0], "local").1,
        endpoint(&connected[1], "remote").1,
        "{}",
        run.describe()
    );
    assert_eq!(
        endpoint(&connected[1], "local").1,
        endpoint(&connected[0], "remote").1,
        "{}",
        run.describe()
    );
}

fn assert_fails(nats: [Nat; 2], extra: &[&str]) {
    let (_lab, run) = run_cell_with(nats, FAIL_TIMEOUT_S, None, extra);
    let limit = Duration::from_secs(FAIL_TIMEOUT_S + 5);
    for side in [&run.a, &run.b] {
        assert!(
            side.status.is_some_and(|s| s.code() == Some(1)),
            "{}: must exit 1 by itself\n{}",
            side.name,
            run.describe()
        );
        assert!(side.exited_at.unwrap() < limit, "{}", run.describe());
        assert!(side.lines_of("connected").is_empty(), "{}", run.describe());
        let last = side.stderr.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("pinhole: ")
                && (last.contains("ICE failed") || last.contains("timed out")),
            "{}: reason {last:?}\n{}",
            side.name,
            run.describe()
        );
        eprintln!(
            "{} exited at {:?}: {last}",
            side.name,
            side.exited_at.unwrap()
        );
    }
}

#[test]
#[ignore = "needs root and nftables: run via scripts/test.sh"]
fn port_restricted_to_port_restricted_is_direct() {
    assert_direct([Nat::PortRestricted, Nat::PortRestricted], false);
}

#[test]
#[ignore = "needs root and nftables: run via scripts/test.sh"]
fn full_cone_to_symmetric_is_direct() {
    assert_direct([Nat::FullCone, Nat::Symmetric], false);
}

#[test]
#[ignore = "needs root and nftables: run via scripts/test.sh"]
fn address_restricted_to_address_restricted_is_direct() {
    assert_direct([Nat::AddressRestricted, Nat::AddressRestricted], false);
}

#[test]
#[ignore = "needs root and nftables: run via scripts/test.sh"]
fn no_nat_to_port_restricted_is_direct() {
    assert_direct([Nat::None, Nat::PortRestricted], false);
}

#[test]
#[ignore = "needs root and nftables: run via scripts/test.sh"]
fn symmetric_to_symmetric_fails_without_relay() {
    assert_fails([Nat::Symmetric, Nat::Symmetric], &[]);
}

#[test]
#[ignore = "needs root and nftables: run via scripts/test.sh"]
fn symmetric_to_port_restricted_fails_without_relay_nor_punch() {
    assert_fails([Nat::Symmetric, Nat::PortRestricted], &["--no-hard-nat"]);
}

/// Both exit 0 with data both ways over a pair through coturn: path "relay", and a relay
/// candidate on at least one end (the other may be reflexive: relay↔srflx is a valid pair).
fn assert_relayed(nats: [Nat; 2], extra: &[&str]) {
    let dir = TempDir::new("natlab-coturn");
    let (_lab, run) = run_cell_with(nats, CONNECT_TIMEOUT_S, Some(&dir), extra);
    let log = || std::fs::read_to_string(dir.path().join("turn.log")).unwrap_or_default();
    assert!(
        run.a.succeeded() && run.b.succeeded(),
        "{nats:?}: both must exit 0 through the relay\n{}\ncoturn log:\n{}",
        run.describe(),
        log()
    );
    let mut relay_ends = Vec::new();
    for (side, text) in [(&run.a, "pong from B"), (&run.b, "ping from A")] {
        assert!(
            side.lines_of("data").iter().any(|(_, v)| v["text"] == text),
            "{} never printed {text:?}\n{}",
            side.name,
            run.describe()
        );
        let lines = side.lines_of("connected");
        assert!(!lines.is_empty(), "{}", run.describe());
        let (at, c) = (&lines[0].0, &lines.last().unwrap().1);
        assert_eq!(c["path"], "relay", "{}", run.describe());
        let (local, remote) = (endpoint(c, "local"), endpoint(c, "remote"));
        assert!(
            local.0 == "relay" || remote.0 == "relay",
            "{}: {c}\n{}",
            side.name,
            run.describe()
        );
        if local.0 == "relay" {
            assert!(local.1.starts_with("192.0.2.1:"), "{c}");
            relay_ends.push(local.1.clone());
        }
        eprintln!(
            "{} connected at {:.3}s: local {} remote {} rtt_ms {}",
            side.name,
            at.as_secs_f64(),
            c["local"],
            c["remote"],
            c["rtt_ms"]
        );
    }
    assert!(!relay_ends.is_empty(), "{}", run.describe());
}

#[test]
#[ignore = "needs root, nftables and coturn: run via scripts/test.sh"]
fn symmetric_to_symmetric_connects_through_turn() {
    assert_relayed([Nat::Symmetric, Nat::Symmetric], &[]);
}

#[test]
#[ignore = "needs root, nftables and coturn: run via scripts/test.sh"]
fn symmetric_to_port_restricted_connects_through_turn_without_the_punch() {
    assert_relayed([Nat::Symmetric, Nat::PortRestricted], &["--no-hard-nat"]);
}

#[test]
#[ignore = "needs root, nftables and coturn: run via scripts/test.sh"]
fn port_restricted_to_port_restricted_with_turn_stays_direct() {
    assert_direct([Nat::PortRestricted, Nat::PortRestricted], true);
}
