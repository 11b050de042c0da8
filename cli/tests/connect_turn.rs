//! `pinhole connect --relay-only` through a real coturn on loopback (Debian's `coturn`),
//! over each way of reaching it: `turn:…?transport=udp`, `turn:…?transport=tcp` and
//! `turns:` (a certificate the test generates, trusted with `--turn-ca`); REST-API
//! credentials against a use-auth-secret instance; and the wrong-password failure.
//! Run with `scripts/test.sh` or
//! `cargo test -p pinhole-cli --test connect_turn -- --include-ignored`.

mod common;
#[path = "../../core/tests/support/coturn.rs"]
mod coturn;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{pipe_pair, PipeRun, PipeSide, PINHOLE};
use coturn::{certs, Auth, Coturn, SECRET};
use pinhole::turn::{rest_api_credentials, TransportKind};
use serde_json::Value;

const PAIR_LIMIT: Duration = Duration::from_secs(30);
const TEXT_A: &str = "ping from A over TURN";
const TEXT_B: &str = "pong from B over TURN";

/// Both sides' argv: relay-only on loopback through `url` with `user`/`pass`.
fn relay_run(url: &str, user: &str, pass: &str) -> PipeRun {
    let ca = certs().join("ca.pem").display().to_string();
    let argv = |role: &'static str, send: &'static str, expect: &'static str| {
        let v: Vec<String> = [
            PINHOLE,
            "connect",
            role,
            "--bind",
            "127.0.0.1",
            "--relay-only",
            "--turn",
            url,
            "--turn-user",
            user,
            "--turn-pass",
            pass,
            "--turn-ca",
            &ca,
            "--send",
            send,
            "--expect",
            expect,
            "--timeout",
            "15",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v
    };
    let a = argv("--controlling", TEXT_A, TEXT_B);
    let b = argv("--controlled", TEXT_B, TEXT_A);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let b: Vec<&str> = b.iter().map(String::as_str).collect();
    pipe_pair(("A", &a), ("B", &b), PAIR_LIMIT)
}

fn kind_of(v: &Value, key: &str) -> String {
    let s = v[key].as_str().unwrap_or_else(|| panic!("no {key} in {v}"));
    s.split_once(' ').map(|(k, _)| k.to_string()).unwrap()
}

/// Both exit 0, each printed the other's text, both connected over relay candidates.
fn assert_relayed(run: &PipeRun, turn: &Coturn, what: &str) {
    assert!(
        run.a.succeeded() && run.b.succeeded(),
        "{what}: both must exit 0\n{}\ncoturn log:\n{}",
        run.describe(),
        turn.log()
    );
    for (side, text) in [(&run.a, TEXT_B), (&run.b, TEXT_A)] {
        assert!(
            side.lines_of("data").iter().any(|(_, v)| v["text"] == text),
            "{what}: {} never printed {text:?}\n{}",
            side.name,
            run.describe()
        );
        let connected = side.lines_of("connected");
        assert_eq!(connected.len(), 1, "{what}\n{}", run.describe());
        let (at, c) = &connected[0];
        assert_eq!(c["path"], "relay", "{what}\n{}", run.describe());
        assert_eq!(kind_of(c, "local"), "relay", "{what}: {c}");
        assert_eq!(kind_of(c, "remote"), "relay", "{what}: {c}");
        // Relay-only: no host or server-reflexive candidate is ever signalled.
        for (_, cand) in side.lines_of("candidate") {
            let cand = cand["candidate"].as_str().unwrap();
            assert!(cand.contains("typ relay"), "{what}: {cand}");
        }
        eprintln!(
            "{what}: {} connected at {:.3}s: local {} remote {} rtt_ms {}",
            side.name,
            at.as_secs_f64(),
            c["local"],
            c["remote"],
            c["rtt_ms"]
        );
    }
}

fn relay_over(kind: TransportKind) {
    let turn = Coturn::start(Auth::Static, &[]);
    let run = relay_run(&turn.url(kind), "pinhole", "secret");
    assert_relayed(&run, &turn, &turn.url(kind));
}

#[test]
#[ignore = "needs coturn (Debian): run via scripts/test.sh"]
fn relay_only_pair_over_turn_udp() {
    relay_over(TransportKind::Udp);
}

#[test]
#[ignore = "needs coturn (Debian): run via scripts/test.sh"]
fn relay_only_pair_over_turn_tcp() {
    relay_over(TransportKind::Tcp);
}

#[test]
#[ignore = "needs coturn (Debian): run via scripts/test.sh"]
fn relay_only_pair_over_turns_tls() {
    relay_over(TransportKind::Tls);
}

#[test]
#[ignore = "needs coturn (Debian): run via scripts/test.sh"]
fn rest_api_credentials_relay() {
    let turn = Coturn::start(Auth::RestSecret, &[]);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let creds = rest_api_credentials(SECRET, "alice", now, Duration::from_secs(600));
    let url = turn.url(TransportKind::Udp);
    let run = relay_run(&url, &creds.username, &creds.password);
    assert_relayed(&run, &turn, "REST-API credentials");
}

fn assert_refused(side: &PipeSide, run: &PipeRun, server: &str) {
    assert!(
        side.status.is_some_and(|s| !s.success()),
        "{}: must exit non-zero\n{}",
        side.name,
        run.describe()
    );
    let at = side.exited_at.unwrap();
    assert!(
        at < Duration::from_secs(5),
        "{}: must give up promptly, not at the timeout ({at:?})\n{}",
        side.name,
        run.describe()
    );
    assert!(side.lines_of("connected").is_empty(), "{}", run.describe());
    let last = side.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("pinhole: ")
            && last.contains("401")
            && last.contains("credentials")
            && last.contains(server),
        "{}: reason {last:?}\n{}",
        side.name,
        run.describe()
    );
    eprintln!("{} exited at {at:?}: {last}", side.name);
}

#[test]
#[ignore = "needs coturn (Debian): run via scripts/test.sh"]
fn wrong_password_fails_fast_naming_the_server() {
    let turn = Coturn::start(Auth::Static, &[]);
    for kind in [TransportKind::Udp, TransportKind::Tcp] {
        let run = relay_run(&turn.url(kind), "pinhole", "wrong");
        assert_refused(&run.a, &run, &turn.addr());
        assert_refused(&run.b, &run, &turn.addr());
    }
}
