//! ICE interop with libnice, an ICE agent nobody here wrote.
//!
//! `tests/interop/libnice_adapter.c` speaks the `pinhole connect` line protocol
//! (DESIGN.md, "The `pinhole` CLI contracts") on top of libnice (RFC 5245 compatibility,
//! one stream, one component, UDP only, trickle, regular nomination). These tests build it
//! with `tests/interop/build-libnice-adapter.sh` into the cargo target dir and wire two
//! processes together: each one's stdout lines go into the other's stdin (pumped here, on
//! threads, so a failure shows both transcripts with timestamps). Loopback only
//! (`--host-only --bind 127.0.0.1`); every process runs under coreutils `timeout` and the
//! pair under a hard limit, and is killed on drop.
//!
//! 1. adapter ↔ adapter: a self-check of the adapter and of this harness.
//! 2. `pinhole connect --controlling` ↔ adapter `--controlled`.
//! 3. adapter `--controlling` ↔ `pinhole connect --controlled`.
//! 4. `pinhole connect --controlling` ↔ adapter `--controlled --lite`: a real ICE-lite
//!    peer (RFC 8445 §2.5; libnice `NICE_AGENT_OPTION_LITE_MODE`), which never sends
//!    checks of its own and only answers ours. The line protocol carries no `ice-lite`
//!    attribute, so Pinhole runs as a full agent that does not know the peer is lite.
//!
//! Run with `scripts/test.sh`, or
//! `cargo test -p pinhole-cli --test interop_libnice -- --include-ignored`.
//! They are #[ignore]d only so that a plain `cargo test` stays fast; a missing libnice-dev
//! is a panic naming the package, never a quiet skip.
//!
//! # What libnice 0.1.21 (Debian 12) does, as seen on the wire protocol
//! - Credentials: ufrag of 4 characters, pwd of 22 (the RFC minimums); both may contain
//!   `+` and `/`.
//! - Its candidate lines look like `candidate:1 1 UDP 2015364095 127.0.0.1 57705 typ host`:
//!   transport in upper case, a small numeric foundation ("1", "2", ...), host priority
//!   2015364095 (type preference 120, not 126), no `generation`/`ufrag`/`network-id`
//!   extensions; `raddr A rport P` is added only when the candidate's base differs from
//!   its address (srflx, relay). With `--bind` there is exactly one host candidate, and
//!   end-of-candidates follows it at once; credentials come before any candidate.
//! - Its parser accepts `udp` in either case, foundations of up to 32 ice-chars,
//!   unknown extension pairs (`generation 0 ufrag x network-id 1`), IPv6 addresses and
//!   `raddr`/`rport`; it rejects hostnames (mDNS `*.local`). The adapter runs with
//!   `--strict`, so a candidate line libnice cannot parse fails the test; lines for
//!   component 2 and TCP candidates are ignored.
//! - Connected 60–80 ms after start on loopback (regular nomination; libnice paces
//!   checks at 20 ms). libnice exposes no RTT, so the adapter reports `"rtt_ms":null`.
//! - With trickle on, libnice only declares failure after the peer's end-of-candidates, and
//!   then takes about 7 s of retransmissions to give up on an unreachable pair.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use common::{PipeRun, TimedLine};

use serde_json::Value;

const IGNORE_REASON: &str = "needs libnice-dev (Debian): run via scripts/test.sh";

/// Each process's own `--timeout`.
const PROCESS_TIMEOUT_S: u32 = 20;
/// The whole pair, whatever the processes do.
const PAIR_LIMIT: Duration = Duration::from_secs(40);

// ---------------------------------------------------------------------------------------
// Building the adapter

/// Builds the adapter once per test binary; panics (naming the package) without libnice-dev.
fn adapter() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let pkg_config = common::require_tool("pkg-config", "pkg-config");
        let probe = Command::new(&pkg_config)
            .args(["--exists", "nice", "glib-2.0", "gio-2.0"])
            .status()
            .expect("run pkg-config");
        assert!(
            probe.success(),
            "pkg-config cannot find libnice (`nice`, `glib-2.0`, `gio-2.0`): \
             `sudo apt-get install libnice-dev` (Debian package libnice-dev), or run \
             scripts/install-deps.sh. These tests {IGNORE_REASON}."
        );
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/interop/build-libnice-adapter.sh");
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("libnice-adapter");
        let (s, o) = (script.display().to_string(), out.display().to_string());
        let run = common::run_bounded(&["bash", &s, &o], Duration::from_secs(120));
        assert!(
            run.code() == Some(0) && out.is_file(),
            "building the libnice adapter failed\n{}",
            run.describe()
        );
        out
    })
}

// ---------------------------------------------------------------------------------------
// Running two line-protocol processes against each other

/// One side of a pair: a label and its argv.
#[derive(Clone, Debug)]
struct Side {
    name: String,
    argv: Vec<String>,
}

impl Side {
    fn adapter(name: &str, controlling: bool, send: &str, expect: &str) -> Side {
        Side::new(
            name,
            adapter().display().to_string(),
            &[],
            controlling,
            send,
            expect,
        )
        .with_extra(&["--strict"])
    }

    fn pinhole(name: &str, controlling: bool, send: &str, expect: &str) -> Side {
        Side::new(
            name,
            common::PINHOLE.to_string(),
            &["connect"],
            controlling,
            send,
            expect,
        )
    }

    fn new(
        name: &str,
        program: String,
        sub: &[&str],
        controlling: bool,
        send: &str,
        expect: &str,
    ) -> Side {
        let mut argv = vec![program];
        argv.extend(sub.iter().map(|s| s.to_string()));
        let timeout = PROCESS_TIMEOUT_S.to_string();
        let role = if controlling {
            "--controlling"
        } else {
            "--controlled"
        };
        argv.extend(
            [
                role,
                "--host-only",
                "--bind",
                "127.0.0.1",
                "--send",
                send,
                "--expect",
                expect,
                "--timeout",
                &timeout,
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        Side {
            name: name.to_string(),
            argv,
        }
    }

    fn with_extra(mut self, extra: &[&str]) -> Side {
        self.argv.extend(extra.iter().map(|s| s.to_string()));
        self
    }
}

/// Runs `a` and `b` wired stdout→stdin both ways (the shared `pipe_pair`).
fn run_pair(a: &Side, b: &Side) -> PipeRun {
    fn argv(s: &Side) -> Vec<&str> {
        s.argv.iter().map(String::as_str).collect()
    }
    let (av, bv) = (argv(a), argv(b));
    common::pipe_pair((&a.name, &av), (&b.name, &bv), PAIR_LIMIT)
}

// ---------------------------------------------------------------------------------------
// Checking a transcript against the line protocol

/// What one side's stdout said, after validation.
#[derive(Debug)]
struct Transcript {
    candidates: Vec<Candidate>,
    connected: Connected,
    connected_at: Duration,
    data: Vec<String>,
}

#[derive(Debug)]
struct Connected {
    path: String,
    local: (String, SocketAddr),
    remote: (String, SocketAddr),
    rtt_ms: Option<f64>,
}

#[derive(Debug)]
struct Candidate {
    transport: String,
    addr: SocketAddr,
    typ: String,
}

fn is_ice_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '+' || c == '/'
}

fn check_ice_string(what: &str, s: &str, min: usize) -> Result<(), String> {
    if s.len() < min || s.len() > 256 || !s.chars().all(is_ice_char) {
        return Err(format!(
            "{what} {s:?} is not {min}..=256 ice-chars (RFC 8839: ALPHA / DIGIT / + / /)"
        ));
    }
    Ok(())
}

/// RFC 8839 candidate-attribute value (without `a=`), as far as these tests need it.
fn parse_candidate(s: &str) -> Result<Candidate, String> {
    let rest = s
        .strip_prefix("candidate:")
        .ok_or_else(|| format!("candidate {s:?} does not start with \"candidate:\""))?;
    let f: Vec<&str> = rest.split(' ').collect();
    // Eight fixed tokens, then name/value pairs.
    if f.len() < 8 || f.len() % 2 == 1 {
        return Err(format!(
            "candidate {s:?}: want foundation component transport priority address port \
             typ TYPE [name value]..."
        ));
    }
    check_ice_string("foundation", f[0], 1).map_err(|e| format!("{e} in {s:?}"))?;
    if f[0].len() > 32 {
        return Err(format!("foundation longer than 32 in {s:?}"));
    }
    let component: u32 = f[1]
        .parse()
        .map_err(|_| format!("component id {:?} in {s:?}", f[1]))?;
    if !(1..=256).contains(&component) {
        return Err(format!("component id {component} out of range in {s:?}"));
    }
    let transport = f[2].to_ascii_lowercase();
    f[3].parse::<u32>()
        .map_err(|_| format!("priority {:?} is not a u32 in {s:?}", f[3]))?;
    let ip: std::net::IpAddr = f[4]
        .parse()
        .map_err(|_| format!("address {:?} is not an IP literal in {s:?}", f[4]))?;
    let port: u16 = f[5]
        .parse()
        .map_err(|_| format!("port {:?} in {s:?}", f[5]))?;
    if f[6] != "typ" {
        return Err(format!("no \"typ TYPE\" after the port in {s:?}"));
    }
    let typ = f[7].to_string();
    if !["host", "srflx", "prflx", "relay"].contains(&typ.as_str()) {
        return Err(format!("candidate type {typ:?} in {s:?}"));
    }
    if f[8..].iter().any(|t| t.is_empty()) {
        return Err(format!("empty token (double space?) in {s:?}"));
    }
    Ok(Candidate {
        transport,
        addr: SocketAddr::new(ip, port),
        typ,
    })
}

/// "host 127.0.0.1:5000" → ("host", addr).
fn parse_endpoint(what: &str, s: &str) -> Result<(String, SocketAddr), String> {
    let (t, a) = s
        .split_once(' ')
        .ok_or_else(|| format!("{what} {s:?} is not \"<candidate type> <ip:port>\""))?;
    if !["host", "srflx", "prflx", "relay"].contains(&t) {
        return Err(format!("{what} {s:?}: candidate type {t:?}"));
    }
    let addr = a
        .parse()
        .map_err(|_| format!("{what} {s:?}: {a:?} is not ip:port"))?;
    Ok((t.to_string(), addr))
}

fn str_field<'a>(v: &'a Value, key: &str, line: &str) -> Result<&'a str, String> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("no string {key:?} in {line}"))
}

/// Validates one side's stdout against the line protocol.
fn validate(lines: &[TimedLine]) -> Result<Transcript, String> {
    let mut credentials = 0;
    let mut eoc = false;
    let mut candidates = Vec::new();
    let mut connected: Option<(Connected, Duration)> = None;
    let mut data = Vec::new();
    for (t, line) in lines {
        let v: Value = serde_json::from_str(line)
            .map_err(|e| format!("stdout line is not JSON ({e}): {line}"))?;
        if !v.is_object() {
            return Err(format!("stdout line is not a JSON object: {line}"));
        }
        match str_field(&v, "type", line)? {
            "credentials" => {
                credentials += 1;
                check_ice_string("ufrag", str_field(&v, "ufrag", line)?, 4)?;
                check_ice_string("pwd", str_field(&v, "pwd", line)?, 22)?;
            }
            "candidate" => {
                if eoc {
                    return Err(format!("candidate after end-of-candidates: {line}"));
                }
                candidates.push(parse_candidate(str_field(&v, "candidate", line)?)?);
            }
            "end-of-candidates" => {
                if eoc {
                    return Err("end-of-candidates twice".into());
                }
                eoc = true;
            }
            "connected" => {
                let path = str_field(&v, "path", line)?.to_string();
                if path != "direct" && path != "relay" {
                    return Err(format!("path must be direct or relay: {line}"));
                }
                let local = parse_endpoint("local", str_field(&v, "local", line)?)?;
                let remote = parse_endpoint("remote", str_field(&v, "remote", line)?)?;
                let rtt_ms = match v.get("rtt_ms") {
                    Some(Value::Null) => None,
                    Some(Value::Number(n)) => match n.as_f64() {
                        Some(x) if x >= 0.0 => Some(x),
                        _ => return Err(format!("negative rtt_ms: {line}")),
                    },
                    _ => return Err(format!("rtt_ms missing or not a number/null: {line}")),
                };
                let relay = local.0 == "relay" || remote.0 == "relay";
                if relay != (path == "relay") {
                    return Err(format!("path disagrees with the candidate types: {line}"));
                }
                // A later line reports a path change (or a peer-reflexive remote named
                // by its candidate line): the last one stands, the first one's time counts.
                let first_at = connected.as_ref().map_or(*t, |(_, at)| *at);
                connected = Some((
                    Connected {
                        path,
                        local,
                        remote,
                        rtt_ms,
                    },
                    first_at,
                ));
            }
            "data" => {
                if connected.is_none() {
                    return Err(format!("data before connected: {line}"));
                }
                data.push(str_field(&v, "text", line)?.to_string());
            }
            "state" => {
                let st = str_field(&v, "state", line)?;
                if !["checking", "connected", "disconnected", "failed", "closed"].contains(&st) {
                    return Err(format!("unknown state: {line}"));
                }
            }
            other => return Err(format!("unknown line type {other:?}: {line}")),
        }
    }
    if credentials != 1 {
        return Err(format!("{credentials} credentials lines (want exactly 1)"));
    }
    let (connected, connected_at) = connected.ok_or("no connected line")?;
    Ok(Transcript {
        candidates,
        connected,
        connected_at,
        data,
    })
}

/// Runs the pair and checks everything the contract promises for a loopback run in which A
/// sends `a_text` and expects `b_text`, and B the reverse.
fn connect_and_exchange(a: Side, a_text: &str, b: Side, b_text: &str) {
    let run = run_pair(&a, &b);
    let fail = |why: String| -> ! { panic!("{why}\n{}", run.describe()) };
    if !(run.a.succeeded() && run.b.succeeded()) {
        fail(format!(
            "{} and {} did not both exit 0",
            run.a.name, run.b.name
        ));
    }
    let ta = validate(&run.a.stdout).unwrap_or_else(|e| fail(format!("{}: {e}", a.name)));
    let tb = validate(&run.b.stdout).unwrap_or_else(|e| fail(format!("{}: {e}", b.name)));
    for (name, t, other_text) in [(&a.name, &ta, b_text), (&b.name, &tb, a_text)] {
        if t.candidates.is_empty() {
            fail(format!("{name} wrote no candidates"));
        }
        for c in &t.candidates {
            if c.addr.ip() != std::net::Ipv4Addr::LOCALHOST || c.transport != "udp" {
                fail(format!(
                    "{name} offered {c:?} despite --bind 127.0.0.1 --host-only (UDP only here)"
                ));
            }
            if c.typ != "host" {
                fail(format!(
                    "{name} offered a non-host candidate with --host-only: {c:?}"
                ));
            }
        }
        if t.connected.path != "direct" {
            fail(format!(
                "{name} reports path {:?} on loopback",
                t.connected.path
            ));
        }
        if !t.data.iter().any(|d| d == other_text) {
            fail(format!("{name} never reported data {other_text:?}"));
        }
    }
    // No NAT on loopback: each side's local address is the other's remote address.
    if ta.connected.local.1 != tb.connected.remote.1
        || ta.connected.remote.1 != tb.connected.local.1
    {
        fail(format!(
            "the two sides disagree on the selected pair: {} {:?} vs {} {:?}",
            a.name, ta.connected, b.name, tb.connected
        ));
    }
    eprintln!(
        "{} connected at {:?} (rtt_ms {:?}), {} at {:?} (rtt_ms {:?}); pair ran {:?}",
        a.name,
        ta.connected_at,
        ta.connected.rtt_ms,
        b.name,
        tb.connected_at,
        tb.connected.rtt_ms,
        run.elapsed
    );
}

// Texts that need JSON escaping (quote, backslash, non-ASCII) in both directions.
const TEXT_A: &str = r#"ping from A: "quoted" \ back-slash, é"#;
const TEXT_B: &str = "pong from B ✓";

#[test]
#[ignore = "needs libnice-dev (Debian): run via scripts/test.sh"]
fn libnice_adapter_pair_on_loopback() {
    connect_and_exchange(
        Side::adapter("libnice-controlling", true, TEXT_A, TEXT_B),
        TEXT_A,
        Side::adapter("libnice-controlled", false, TEXT_B, TEXT_A),
        TEXT_B,
    );
}

#[test]
#[ignore = "needs libnice-dev (Debian): run via scripts/test.sh"]
fn pinhole_controlling_with_libnice_controlled() {
    connect_and_exchange(
        Side::pinhole("pinhole-controlling", true, TEXT_A, TEXT_B),
        TEXT_A,
        Side::adapter("libnice-controlled", false, TEXT_B, TEXT_A),
        TEXT_B,
    );
}

#[test]
#[ignore = "needs libnice-dev (Debian): run via scripts/test.sh"]
fn libnice_controlling_with_pinhole_controlled() {
    connect_and_exchange(
        Side::adapter("libnice-controlling", true, TEXT_A, TEXT_B),
        TEXT_A,
        Side::pinhole("pinhole-controlled", false, TEXT_B, TEXT_A),
        TEXT_B,
    );
}

#[test]
#[ignore = "needs libnice-dev (Debian): run via scripts/test.sh"]
fn pinhole_controlling_with_libnice_lite() {
    connect_and_exchange(
        Side::pinhole("pinhole-controlling", true, TEXT_A, TEXT_B),
        TEXT_A,
        Side::adapter("libnice-lite", false, TEXT_B, TEXT_A).with_extra(&["--lite"]),
        TEXT_B,
    );
}

/// The parser used above agrees with what libnice writes (see the module docs).
#[test]
fn candidate_parser_accepts_libnice_and_rfc_forms() {
    for s in [
        "candidate:1 1 UDP 2015364095 127.0.0.1 57705 typ host",
        "candidate:1 1 udp 2130706431 192.0.2.1 50000 typ host",
        "candidate:abc+/9 1 udp 1694498815 192.0.2.1 50001 typ srflx raddr 10.0.0.1 rport 5 generation 0",
        "candidate:2 1 udp 16777215 ::1 50003 typ relay raddr :: rport 0",
    ] {
        parse_candidate(s).unwrap_or_else(|e| panic!("{e}"));
    }
    for s in [
        "a=candidate:1 1 udp 1 127.0.0.1 5 typ host",
        "candidate:1 1 udp 1 127.0.0.1 5 typ host\r",
        "candidate:1 1 udp 1 foo.local 5 typ host",
        "candidate:1 1 udp 1 127.0.0.1 5 typ bogus",
        "candidate:1 1 udp 1 127.0.0.1 5 typ host raddr",
    ] {
        assert!(parse_candidate(s).is_err(), "accepted {s:?}");
    }
}
