//! `pinhole connect` against itself on loopback: two processes wired stdout → stdin, host
//! candidates only, then through an embedded `pinhole stun-server`; plus the failure
//! contract (bad input, no peer). No root, no packages: these always run.

mod common;

use std::time::Duration;

use common::{pipe_pair, run_bounded, PinholeStunServer, PipeRun, PipeSide, PINHOLE};
use serde_json::Value;

const PAIR_LIMIT: Duration = Duration::from_secs(30);

// Texts that need JSON escaping in both directions.
const TEXT_A: &str = r#"ping from A: "quoted" \ back-slash, é"#;
// TEXT_B starts with a byte RFC 7983 gives TURN ChannelData (64–79): data between peers.
const TEXT_B: &str = "Hello from B ✓";

fn connect_argv<'a>(
    role: &'a str,
    send: &'a str,
    expect: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut v = vec![
        PINHOLE,
        "connect",
        role,
        "--bind",
        "127.0.0.1",
        "--send",
        send,
        "--expect",
        expect,
        "--timeout",
        "15",
    ];
    v.extend_from_slice(extra);
    v
}

/// The last `connected` line: the path as it stands. A path first learned through a
/// peer-reflexive candidate (the peer's check overtook its candidate line) is reported
/// again once the candidate line names it, so there may be two.
fn connected(side: &PipeSide, run: &PipeRun) -> Value {
    let lines = side.lines_of("connected");
    assert!(
        (1..=2).contains(&lines.len()),
        "{}: want one connected line (two after a relabel)\n{}",
        side.name,
        run.describe()
    );
    lines.last().unwrap().1.clone()
}

fn endpoint(v: &Value, key: &str) -> (String, String) {
    let s = v[key].as_str().unwrap_or_else(|| panic!("no {key} in {v}"));
    let (t, a) = s.split_once(' ').unwrap_or_else(|| panic!("{key} {s:?}"));
    (t.to_string(), a.to_string())
}

/// Runs a controlling A (sends TEXT_A, expects TEXT_B) against a controlled B, asserts
/// both exit 0 having printed the other's text, and returns the run.
fn exchange(extra: &[&str]) -> PipeRun {
    let a = connect_argv("--controlling", TEXT_A, TEXT_B, extra);
    let b = connect_argv("--controlled", TEXT_B, TEXT_A, extra);
    let run = pipe_pair(("A", &a), ("B", &b), PAIR_LIMIT);
    assert!(
        run.a.succeeded() && run.b.succeeded(),
        "both must exit 0\n{}",
        run.describe()
    );
    for (side, text) in [(&run.a, TEXT_B), (&run.b, TEXT_A)] {
        let data = side.lines_of("data");
        assert!(
            data.iter().any(|(_, v)| v["text"] == text),
            "{} never printed data {text:?}\n{}",
            side.name,
            run.describe()
        );
        let c = connected(side, &run);
        assert_eq!(c["path"], "direct", "{}", run.describe());
        assert!(c["rtt_ms"].is_number(), "{c}");
        // Protocol order: credentials first, exactly once; end-of-candidates once.
        let first: Value = serde_json::from_str(&side.stdout[0].1).unwrap();
        assert_eq!(first["type"], "credentials", "{}", run.describe());
        assert_eq!(
            side.lines_of("end-of-candidates").len(),
            1,
            "{}",
            run.describe()
        );
        assert!(!side.stderr.contains("warning"), "{}", run.describe());
    }
    let (ca, cb) = (connected(&run.a, &run), connected(&run.b, &run));
    assert_eq!(
        endpoint(&ca, "local").1,
        endpoint(&cb, "remote").1,
        "{}",
        run.describe()
    );
    assert_eq!(
        endpoint(&ca, "remote").1,
        endpoint(&cb, "local").1,
        "{}",
        run.describe()
    );
    eprintln!(
        "A connected at {:?}, B at {:?}; pair ran {:?}",
        run.a.lines_of("connected")[0].0,
        run.b.lines_of("connected")[0].0,
        run.elapsed
    );
    run
}

#[test]
fn host_only_pair_exchanges_data_both_ways() {
    let run = exchange(&["--host-only"]);
    for side in [&run.a, &run.b] {
        for (_, c) in side.lines_of("candidate") {
            let c = c["candidate"].as_str().unwrap();
            assert!(c.contains(" 127.0.0.1 ") && c.contains("typ host"), "{c}");
        }
        // No NAT: the local side is a host candidate. The remote one is host too,
        // unless the peer's first check beat its candidate line through the pipes and
        // the pair was selected before the line arrived: then it is peer-reflexive.
        let c = connected(side, &run);
        assert_eq!(endpoint(&c, "local").0, "host", "{}", run.describe());
        let remote = endpoint(&c, "remote").0;
        assert!(remote == "host" || remote == "prflx", "{}", run.describe());
    }
}

#[test]
fn pair_with_embedded_stun_server() {
    let server = PinholeStunServer::start(1);
    let stun = server.primary.to_string();
    let run = exchange(&["--stun", &stun]);
    // On loopback the mapped address is the socket itself: no srflx candidate, and the
    // end-of-candidates line waits for the server's answer.
    for side in [&run.a, &run.b] {
        assert!(!side.lines_of("candidate").is_empty(), "{}", run.describe());
        for (_, c) in side.lines_of("candidate") {
            assert!(c["candidate"].as_str().unwrap().contains("typ host"), "{c}");
        }
    }
}

#[test]
fn bad_candidate_line_is_a_clear_warning_and_the_run_goes_on() {
    let a = connect_argv("--controlling", TEXT_A, TEXT_B, &["--host-only"]);
    let b = connect_argv("--controlled", TEXT_B, TEXT_A, &["--host-only"]);
    // B's input gets garbage first: a candidate with no port, a non-JSON line and an
    // unknown type, sent by a wrapper shell that then hands over to the real A.
    let script = format!(
        "printf '%s\\n' '{{\"type\":\"candidate\",\"candidate\":\"candidate:1 1 udp 1 127.0.0.1\"}}' \
         'not json at all' '{{\"type\":\"hello\"}}'; exec {}",
        a.iter().map(|w| shell_quote(w)).collect::<Vec<_>>().join(" ")
    );
    let a_sh = ["sh", "-c", script.as_str()];
    let run = pipe_pair(("A", &a_sh), ("B", &b), PAIR_LIMIT);
    assert!(run.a.succeeded() && run.b.succeeded(), "{}", run.describe());
    let warnings: Vec<&str> = run
        .b
        .stderr
        .lines()
        .filter(|l| l.contains("warning"))
        .collect();
    assert_eq!(
        warnings.len(),
        2,
        "one warning per malformed line\n{}",
        run.describe()
    );
    assert!(
        warnings[0].contains("bad candidate") && warnings[0].contains("port"),
        "{}",
        run.describe()
    );
    assert!(warnings[1].contains("not JSON"), "{}", run.describe());
}

#[test]
fn no_peer_times_out_with_one_line_reason() {
    let r = run_bounded(
        &[
            PINHOLE,
            "connect",
            "--controlling",
            "--bind",
            "127.0.0.1",
            "--host-only",
            "--timeout",
            "2",
        ],
        Duration::from_secs(15),
    );
    assert_eq!(r.code(), Some(1), "{}", r.describe());
    assert!(r.elapsed < Duration::from_secs(6), "{}", r.describe());
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", r.describe());
    assert!(lines[0].contains("timed out after 2s"), "{}", r.describe());
    assert!(
        lines[0].contains("no credentials from the peer"),
        "{}",
        r.describe()
    );
    // Stdout still carries only protocol lines.
    for l in r.stdout.lines() {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert!(["credentials", "candidate", "end-of-candidates", "state"]
            .contains(&v["type"].as_str().unwrap()));
    }
}

#[test]
fn usage_mistakes_are_refused_before_starting() {
    for (argv, needle) in [
        (
            vec!["connect", "--controlling", "--controlled"],
            "contradict",
        ),
        (
            vec!["connect", "--controlled", "--send", "\u{1}hello"],
            "RFC 7983",
        ),
        (
            vec![
                "connect",
                "--controlled",
                "--host-only",
                "--stun",
                "127.0.0.1:9",
            ],
            "contradict",
        ),
    ] {
        let mut full = vec![PINHOLE];
        full.extend(argv);
        let r = run_bounded(&full, Duration::from_secs(10));
        assert_eq!(r.code(), Some(1), "{}", r.describe());
        assert!(r.stderr.contains(needle), "{}", r.describe());
        assert!(r.stdout.is_empty(), "{}", r.describe());
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
