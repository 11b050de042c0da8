//! `pinhole connect`: one ICE agent on real sockets, signaled through a line protocol on
//! stdin/stdout (DESIGN.md, "The `pinhole` CLI contracts"), so that any two agents can be
//! wired together with pipes.
//!
//! Behaviour the contract leaves open, decided here:
//! - Exactly one of `--controlling` / `--controlled` is required.
//! - `--host-only` and `--stun` together are an error (they contradict each other).
//! - A `--send` text must not start with a byte RFC 7983 demultiplexes as STUN (0–3): it
//!   is refused before anything starts. 64–79 (`@`, `A`–`O`, TURN ChannelData in RFC 7983)
//!   is fine: the agent tells its TURN servers' traffic apart by source, so "Hello" from
//!   the peer is data.
//! - Peer input is forgiving: blank and exactly repeated lines are ignored; candidates and
//!   end-of-candidates that arrive before the credentials are held until they come; lines
//!   of other types (the peer's own `connected` and `data` lines, future types) are ignored
//!   with a debug log; a malformed line (not JSON, missing field, unparsable candidate)
//!   gets one warning on stderr and is skipped. Such a line never changes the exit code:
//!   whether the run connects and exchanges what was asked decides it.
//! - Data that arrives before this side's `connected` line is written right after it.
//! - `--timeout` bounds the time until connected and every `--expect` text arrived; the
//!   linger comes on top. Without `--expect` the run succeeds once connected and the
//!   `--send` texts are sent, after the linger. EOF on stdin is not an error.
//! - Failure (`Failed` state, timeout) exits 1 with one line on stderr saying why.
//! - TURN: `--turn URL` (repeatable, RFC 7065 `turn:`/`turns:`) needs `--turn-user` and
//!   `--turn-pass` (the same for every server; REST-API credentials work as they are);
//!   `--turn-ca PEM` trusts a CA or pins a server certificate for `turns:`;
//!   `--relay-only` needs `--turn`. Each relay that fails gets one stderr line; with
//!   `--relay-only`, once every relay failed the run exits 1 at once with the last
//!   reason. `path` is `relay` when either candidate of the selected pair is a relay
//!   candidate.

use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use pinhole::ice::{
    Candidate, CandidateType, ConnectionState, Credentials, GatheringState, IceConfig, IceError,
    IceEvent, PathKind, SelectedPair, TransportPolicy,
};
use pinhole::runtime::{resolve_udp, IceSession, IceSessionOptions, IceTurnServer, TurnUrl};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::args::Args;

struct Options {
    controlling: bool,
    stun: Vec<String>,
    bind: Option<IpAddr>,
    send: Vec<String>,
    expect: Vec<String>,
    timeout: Duration,
    linger: Duration,
    turn: Vec<String>,
    /// `--turn-user` and `--turn-pass`, present whenever `turn` is not empty.
    turn_credentials: Option<(String, String)>,
    turn_ca: Option<PathBuf>,
    relay_only: bool,
}

fn parse_options(mut args: Args) -> Result<Options, String> {
    let controlling = args.flag("controlling")?;
    let controlled = args.flag("controlled")?;
    let stun: Vec<String> = args.values("stun")?;
    let host_only = args.flag("host-only")?;
    let bind: Option<IpAddr> = args.value("bind")?;
    let send: Vec<String> = args.values("send")?;
    let expect: Vec<String> = args.values("expect")?;
    let timeout = seconds(&mut args, "timeout", 30.0)?;
    let linger = seconds(&mut args, "linger", 1.0)?;
    let turn: Vec<String> = args.values("turn")?;
    let turn_user: Option<String> = args.value("turn-user")?;
    let turn_pass: Option<String> = args.value("turn-pass")?;
    let turn_ca: Option<PathBuf> = args.value("turn-ca")?;
    let relay_only = args.flag("relay-only")?;
    args.finish()?;
    if controlling == controlled {
        return Err(
            "connect needs exactly one of --controlling or --controlled \
                    (one side of each pair)"
                .into(),
        );
    }
    if host_only && !stun.is_empty() {
        return Err("--host-only and --stun contradict each other: drop one".into());
    }
    for text in &send {
        check_sendable(text)?;
    }
    let turn_credentials = check_turn(&turn, turn_user, turn_pass, &turn_ca, relay_only)?;
    if host_only && !turn.is_empty() {
        return Err("--host-only and --turn contradict each other: drop one".into());
    }
    Ok(Options {
        controlling,
        stun,
        bind,
        send,
        expect,
        timeout,
        linger,
        turn,
        turn_credentials,
        turn_ca,
        relay_only,
    })
}

fn check_turn(
    turn: &[String],
    user: Option<String>,
    pass: Option<String>,
    ca: &Option<PathBuf>,
    relay_only: bool,
) -> Result<Option<(String, String)>, String> {
    for url in turn {
        url.parse::<TurnUrl>()
            .map_err(|e| format!("--turn {url}: {e}"))?;
    }
    if turn.is_empty() {
        if relay_only || user.is_some() || pass.is_some() || ca.is_some() {
            return Err(
                "--relay-only, --turn-user, --turn-pass and --turn-ca need at least one \
                 --turn URL"
                    .into(),
            );
        }
        return Ok(None);
    }
    match (user, pass) {
        (Some(u), Some(p)) => Ok(Some((u, p))),
        _ => Err(
            "--turn needs --turn-user and --turn-pass (TURN servers require \
                  long-term credentials)"
                .into(),
        ),
    }
}

fn seconds(args: &mut Args, name: &str, default: f64) -> Result<Duration, String> {
    let s = args.value::<f64>(name)?.unwrap_or(default);
    Duration::try_from_secs_f64(s).map_err(|_| format!("--{name} {s} is not a duration in seconds"))
}

fn check_sendable(text: &str) -> Result<(), String> {
    match text.as_bytes().first() {
        None => Err("--send needs a non-empty text".into()),
        Some(&b) if b <= 3 => Err(format!(
            "--send {text:?} starts with byte {b}, which RFC 7983 demultiplexes as STUN (0-3): \
             start it with another character"
        )),
        Some(_) => Ok(()),
    }
}

pub fn run(args: Args) -> Result<(), String> {
    let options = parse_options(args)?;
    let stdin = spawn_stdin_reader();
    let runtime = crate::runtime()?;
    runtime.block_on(connect(options, stdin))
}

/// Reads stdin on a plain thread: tokio's stdin cannot be cancelled and would hold up
/// the exit until the peer writes again. `None` marks EOF.
fn spawn_stdin_reader() -> mpsc::UnboundedReceiver<Option<String>> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let mut input = std::io::stdin().lock();
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match input.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf).into_owned();
                    if tx.send(Some(line)).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = tx.send(None);
    });
    rx
}

/// One line on stdout. A closed stdout (the peer went away) is not our failure.
fn emit(v: Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}").and_then(|_| out.flush());
}

/// A line from the peer, understood.
#[derive(Debug)]
enum PeerLine {
    Credentials(Credentials),
    Candidate(Candidate),
    EndOfCandidates,
}

/// `Ok(None)`: a valid line of a type this side does not act on.
fn parse_peer_line(line: &str) -> Result<Option<PeerLine>, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON ({e})"))?;
    let kind = v
        .get("type")
        .and_then(Value::as_str)
        .ok_or("not a JSON object with a string \"type\"")?;
    let field = |name: &str| {
        v.get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{kind} line without a string {name:?}"))
    };
    match kind {
        "credentials" => {
            let (ufrag, pwd) = (field("ufrag")?, field("pwd")?);
            Credentials::new(ufrag, pwd)
                .map(|c| Some(PeerLine::Credentials(c)))
                .map_err(|e| format!("bad credentials: {e}"))
        }
        "candidate" => {
            let c = field("candidate")?;
            Candidate::parse(c)
                .map(|c| Some(PeerLine::Candidate(c)))
                .map_err(|e| format!("bad candidate {c:?}: {e}"))
        }
        "end-of-candidates" => Ok(Some(PeerLine::EndOfCandidates)),
        other => {
            log::debug!("connect: ignoring a {other:?} line from the peer");
            Ok(None)
        }
    }
}

fn endpoint(c: &Candidate) -> String {
    match c.address.ip() {
        Some(ip) => format!("{} {}", c.kind, SocketAddr::new(ip, c.port)),
        None => format!("{} {}:{}", c.kind, c.address, c.port),
    }
}

fn connected_line(p: &SelectedPair) -> Value {
    json!({
        "type": "connected",
        "path": if p.path == PathKind::Relay
            || p.local.kind == CandidateType::Relayed
            || p.remote.kind == CandidateType::Relayed { "relay" } else { "direct" },
        "local": endpoint(&p.local),
        "remote": endpoint(&p.remote),
        "rtt_ms": p.rtt.map(|d| (d.as_secs_f64() * 10_000.0).round() / 10.0),
    })
}

/// The peer's lines seen so far, to ignore exact repeats (duplicating signaling). New
/// credentials (the peer restarted ICE) start over for the other lines: the peer signals
/// its candidates again for the new generation, and an unchanged host candidate comes
/// back as the very same line. Credentials lines themselves are never forgotten, so a
/// late duplicate of old credentials cannot restart ICE back to them.
#[derive(Default)]
struct SeenLines {
    credentials: HashSet<String>,
    others: HashSet<String>,
}

impl SeenLines {
    /// Whether `line` (a `credentials` line or not) was not seen before.
    fn is_new(&mut self, line: &str, credentials: bool) -> bool {
        if !credentials {
            return self.others.insert(line.to_string());
        }
        let new = self.credentials.insert(line.to_string());
        if new {
            self.others.clear();
        }
        new
    }
}

/// The state of one run.
struct Connect {
    options: Options,
    session: IceSession,
    seen: SeenLines,
    line_no: usize,
    have_credentials: bool,
    /// Candidates and end-of-candidates received before the credentials.
    held: Vec<PeerLine>,
    remote_candidates: usize,
    remote_eoc: bool,
    eoc_sent: bool,
    connected: bool,
    /// Data received before our own `connected` line.
    early_data: Vec<String>,
    /// `--expect` texts not yet received.
    remaining: Vec<String>,
    received: Vec<String>,
    linger_until: Option<Instant>,
    stdin_open: bool,
}

async fn connect(
    options: Options,
    mut stdin: mpsc::UnboundedReceiver<Option<String>>,
) -> Result<(), String> {
    let start = Instant::now();
    let deadline = start + options.timeout;
    let mut stun_servers = Vec::new();
    for s in &options.stun {
        let addr = resolve_udp(s, options.timeout)
            .await
            .map_err(|e| format!("--stun {s}: {e}"))?;
        stun_servers.push(addr);
    }
    let ice = IceConfig {
        controlling: options.controlling,
        stun_servers,
        transport_policy: if options.relay_only {
            TransportPolicy::Relay
        } else {
            TransportPolicy::All
        },
        ..IceConfig::default()
    };
    let turn_ca_pem = match &options.turn_ca {
        Some(path) => Some(
            std::fs::read(path)
                .map_err(|e| format!("--turn-ca {}: cannot read: {e}", path.display()))?,
        ),
        None => None,
    };
    let turn = match &options.turn_credentials {
        Some((user, pass)) => options
            .turn
            .iter()
            .map(|url| IceTurnServer {
                url: url.clone(),
                credentials: pinhole::stun::Credentials::new(user, pass),
            })
            .collect(),
        None => Vec::new(),
    };
    let session = IceSession::start(IceSessionOptions {
        ice,
        bind: options.bind,
        turn,
        turn_ca_pem,
    })
    .await
    .map_err(|e| format!("cannot start ICE: {e}"))?;
    log::debug!("connect: sockets {:?}", session.local_addresses());
    let creds = session.local_credentials().clone();
    emit(json!({"type": "credentials", "ufrag": creds.ufrag.as_str(), "pwd": creds.pwd.as_str()}));
    let remaining = options.expect.clone();
    let mut run = Connect {
        options,
        session,
        seen: SeenLines::default(),
        line_no: 0,
        have_credentials: false,
        held: Vec::new(),
        remote_candidates: 0,
        remote_eoc: false,
        eoc_sent: false,
        connected: false,
        early_data: Vec::new(),
        remaining,
        received: Vec::new(),
        linger_until: None,
        stdin_open: true,
    };
    loop {
        let wake = run.linger_until.unwrap_or(deadline);
        tokio::select! {
            line = stdin.recv(), if run.stdin_open => match line.flatten() {
                Some(line) => run.on_line(&line).await,
                None => {
                    log::debug!("connect: stdin closed");
                    run.stdin_open = false;
                }
            },
            event = run.session.next_event() => match event {
                Some(e) => run.on_event(e).await?,
                None => return Err("the ICE agent stopped unexpectedly".into()),
            },
            _ = tokio::time::sleep_until(wake.into()) => {
                if run.linger_until.is_some() {
                    run.session.close();
                    return Ok(());
                }
                return Err(run.timeout_reason().await);
            }
        }
        if run.linger_until.is_none() && run.connected && run.remaining.is_empty() {
            run.linger_until = Some(Instant::now() + run.options.linger);
        }
    }
}

impl Connect {
    async fn on_line(&mut self, raw: &str) {
        self.line_no += 1;
        let line = raw.trim();
        if line.is_empty() {
            return;
        }
        let parsed = parse_peer_line(line);
        let credentials = matches!(parsed, Ok(Some(PeerLine::Credentials(_))));
        if !self.seen.is_new(line, credentials) {
            log::debug!("connect: ignoring repeated line {}: {line}", self.line_no);
            return;
        }
        match parsed {
            Err(e) => eprintln!(
                "pinhole: warning: ignoring line {} from the peer: {e}: {line}",
                self.line_no
            ),
            Ok(None) => {}
            Ok(Some(PeerLine::Credentials(c))) => {
                if let Err(e) = self.session.set_remote_credentials(c).await {
                    eprintln!("pinhole: warning: the agent refused the peer's credentials: {e}");
                    return;
                }
                self.have_credentials = true;
                for held in std::mem::take(&mut self.held) {
                    self.apply(held).await;
                }
            }
            Ok(Some(other)) if !self.have_credentials => {
                log::debug!("connect: holding {other:?} until the peer's credentials arrive");
                self.held.push(other);
            }
            Ok(Some(other)) => self.apply(other).await,
        }
    }

    async fn apply(&mut self, line: PeerLine) {
        match line {
            PeerLine::Candidate(c) => {
                let text = c.to_string();
                match self.session.add_remote_candidate(c).await {
                    Ok(()) => self.remote_candidates += 1,
                    Err(
                        e
                        @ (IceError::UnsupportedTransport(_) | IceError::UnsupportedComponent(..)),
                    ) => {
                        log::debug!("connect: skipping remote candidate: {e}")
                    }
                    Err(e) => eprintln!("pinhole: warning: remote candidate {text:?} refused: {e}"),
                }
            }
            PeerLine::EndOfCandidates => {
                self.remote_eoc = true;
                if let Err(e) = self.session.end_of_candidates().await {
                    log::debug!("connect: end-of-candidates: {e}");
                }
            }
            PeerLine::Credentials(_) => unreachable!("handled by on_line"),
        }
    }

    async fn on_event(&mut self, event: IceEvent) -> Result<(), String> {
        match event {
            IceEvent::LocalCandidate(c) => {
                if self.eoc_sent {
                    log::debug!("connect: not signaling {c} after end-of-candidates");
                } else {
                    emit(json!({"type": "candidate", "candidate": c.to_string()}));
                }
            }
            IceEvent::LocalCredentials(c) => {
                emit(
                    json!({"type": "credentials", "ufrag": c.ufrag.as_str(), "pwd": c.pwd.as_str()}),
                );
            }
            IceEvent::GatheringStateChanged(GatheringState::Complete) if !self.eoc_sent => {
                self.eoc_sent = true;
                emit(json!({"type": "end-of-candidates"}));
            }
            IceEvent::SelectedPair(p) => {
                if self.connected {
                    log::debug!(
                        "connect: data moves to {} -> {}",
                        p.local_socket,
                        p.remote_addr
                    );
                    return Ok(());
                }
                self.connected = true;
                emit(connected_line(&p));
                for text in std::mem::take(&mut self.early_data) {
                    self.on_data(text);
                }
                for text in self.options.send.clone() {
                    self.session
                        .send(text.as_bytes())
                        .await
                        .map_err(|e| format!("cannot send {text:?}: {e}"))?;
                }
            }
            IceEvent::ConnectionStateChanged(ConnectionState::Failed) => {
                if self.linger_until.is_none() {
                    return Err(self.failure_reason("ICE failed").await);
                }
            }
            IceEvent::ConnectionStateChanged(s) => log::debug!("connect: state {s:?}"),
            IceEvent::RelayFailed {
                server,
                transport,
                error,
            } => {
                eprintln!("pinhole: TURN relay {server} over {transport} failed: {error}");
                if self.options.relay_only && !self.connected && self.every_relay_failed().await {
                    return Err(format!("--relay-only and no TURN relay is left: {error}"));
                }
            }
            IceEvent::Data { data, .. } => {
                let text = String::from_utf8_lossy(&data).into_owned();
                if self.connected {
                    self.on_data(text);
                } else {
                    self.early_data.push(text);
                }
            }
            other => log::debug!("connect: {other:?}"),
        }
        Ok(())
    }

    async fn every_relay_failed(&self) -> bool {
        self.session
            .relay_stats()
            .await
            .is_some_and(|r| r.iter().all(|r| r.error.is_some()))
    }

    fn on_data(&mut self, text: String) {
        emit(json!({"type": "data", "text": text}));
        if let Some(i) = self.remaining.iter().position(|t| *t == text) {
            self.remaining.remove(i);
        }
        self.received.push(text);
    }

    async fn timeout_reason(&self) -> String {
        let limit = self.options.timeout.as_secs_f64();
        if self.connected {
            return format!(
                "timed out after {limit}s: connected, but still waiting for {:?} (received {:?})",
                self.remaining, self.received
            );
        }
        self.failure_reason(&format!(
            "timed out after {limit}s without a connected pair"
        ))
        .await
    }

    /// `what`, then what the agent knows, so the reader can tell which side is missing.
    async fn failure_reason(&self, what: &str) -> String {
        let signaling = if !self.have_credentials {
            "no credentials from the peer on stdin".to_string()
        } else {
            format!(
                "{} remote candidates{}",
                self.remote_candidates,
                if self.remote_eoc {
                    ", end-of-candidates received"
                } else {
                    ", no end-of-candidates from the peer"
                }
            )
        };
        match self.session.stats().await {
            Some(s) => {
                let succeeded = s.pairs.iter().filter(|p| p.valid).count();
                format!(
                    "{what}: state {:?}, {} local candidates, {signaling}, {} pairs checked, {succeeded} succeeded{}",
                    s.state,
                    s.local_candidates,
                    s.pairs.len(),
                    if what.starts_with("ICE failed") && self.options.turn.is_empty() {
                        " (these NATs may need a TURN relay: pass --turn)"
                    } else {
                        ""
                    }
                )
            }
            None => format!("{what}: {signaling}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_lines_parse_or_explain() {
        let l = r#"{"type":"candidate","candidate":"candidate:1 1 UDP 2015364095 127.0.0.1 57705 typ host"}"#;
        assert!(matches!(
            parse_peer_line(l),
            Ok(Some(PeerLine::Candidate(_)))
        ));
        assert!(matches!(
            parse_peer_line(r#"{"type":"end-of-candidates"}"#),
            Ok(Some(PeerLine::EndOfCandidates))
        ));
        assert!(matches!(
            parse_peer_line(r#"{"type":"data","text":"x"}"#),
            Ok(None)
        ));
        let e =
            parse_peer_line(r#"{"type":"candidate","candidate":"candidate:1 1 udp"}"#).unwrap_err();
        assert!(e.contains("bad candidate"), "{e}");
        assert!(parse_peer_line("hello").unwrap_err().contains("not JSON"));
        assert!(parse_peer_line(r#"{"type":"credentials","ufrag":"abcd"}"#)
            .unwrap_err()
            .contains("pwd"));
    }

    #[test]
    fn repeated_lines_are_ignored_until_the_peer_restarts() {
        let creds = |u: &str| format!(r#"{{"type":"credentials","ufrag":"{u}","pwd":"x"}}"#);
        let host = r#"{"type":"candidate","candidate":"candidate:1 1 UDP 2015364095 127.0.0.1 57705 typ host"}"#;
        let mut seen = SeenLines::default();
        assert!(seen.is_new(&creds("aaaa"), true));
        assert!(seen.is_new(host, false));
        assert!(!seen.is_new(host, false), "a duplicate");
        assert!(!seen.is_new(&creds("aaaa"), true), "a duplicate");
        // ICE restart: new credentials, then the same host candidate again.
        assert!(seen.is_new(&creds("bbbb"), true));
        assert!(seen.is_new(host, false), "re-sent after the restart");
        assert!(!seen.is_new(host, false));
        // A late duplicate of the old credentials changes nothing.
        assert!(!seen.is_new(&creds("aaaa"), true));
        assert!(!seen.is_new(host, false));
    }

    #[test]
    fn send_texts_must_not_look_like_stun_or_turn() {
        assert!(check_sendable("ping").is_ok());
        assert!(
            check_sendable("Hello").is_ok(),
            "TURN ChannelData range: data"
        );
        assert!(check_sendable("@home").is_ok());
        assert!(check_sendable("\u{1}x").unwrap_err().contains("RFC 7983"));
        assert!(check_sendable("").is_err());
    }
}
