//! `pinhole connect`: one [`Session`] on real sockets, signaled through a line protocol on
//! stdin/stdout (DESIGN.md, "The `pinhole` CLI contracts"), so that any two ICE agents
//! can be wired together with pipes. Every session rule (holding candidates until the
//! credentials, ignoring repeated lines, data before the path, relay failure, server
//! name resolution, roles) is the session's; this file only moves lines.
//!
//! Behaviour the contract leaves open, decided here:
//! - `--controlling` or `--controlled` fixes the role; with neither the two sides agree
//!   through their signaling (`role`/`tiebreaker` in the credentials line), and a peer
//!   that sends neither is met by RFC 8445 role-conflict resolution.
//! - `--host-only` and `--stun` together are an error (they contradict each other).
//! - A `--send` text (or a `send` control line) must not start with a byte RFC 7983
//!   demultiplexes as STUN (0–3). 64–79 (`@`, `A`–`O`) is fine: "Hello" is data.
//! - Peer input is forgiving: blank lines, repeats and lines of other types (the peer's
//!   own `connected`, `state` and `data` lines) are ignored; a line that is not a
//!   signaling message gets one warning on stderr and is skipped. Such a line never
//!   changes the exit code.
//! - Data that arrives before this side's `connected` line is written right after it.
//! - `--timeout` bounds the time until connected and every `--expect` text arrived; the
//!   linger comes on top. Without `--expect` the run succeeds once connected and the
//!   `--send` texts are sent, after the linger. EOF on stdin is not an error.
//! - Failure (`failed` state, timeout) exits 1 with one line on stderr saying why.
//! - TURN: each relay that fails gets one stderr line; with `--relay-only`, once every
//!   relay failed the run exits 1 at once with the last reason.
//! - A `{"type":"stats"}` control line writes `{"type":"statistics","stats":{…}}`: the
//!   session's statistics (`SessionStats::to_json`), the keepalive policy included.
//! - Port mapping (NAT-PMP, PCP, UPnP-IGD through the default gateway) and hard-NAT
//!   punching are the session's defaults; `--no-portmap`, `--portmap PROTO` (repeatable)
//!   and `--portmap-lifetime SECONDS` shape the first, `--no-hard-nat` turns the second
//!   off, `--host-only` both. `--stats` writes one `pinhole: stats {JSON}` line (the
//!   session's statistics: path, pairs, port mappings, NAT behaviour, punch) to stderr
//!   when the run ends, before the session closes (so the mappings show in use).

mod lines;
mod options;

use std::io::BufRead;
use std::time::{Duration, Instant};

use pinhole::runtime::Session;
use pinhole::session::{Event, SessionState};
use tokio::sync::mpsc;

use crate::args::Args;
use lines::{
    connected_line, data_line, emit, emit_raw, parse_control, state_line, stats_line, Control,
};
use options::Options;

/// Longest a closing session may take to delete its TURN allocations and port mappings
/// before exit (the port mapper gives up on an unanswered delete after 2 s).
const CLOSE_LIMIT: Duration = Duration::from_millis(2500);

pub fn run(args: Args) -> Result<(), String> {
    let options = options::parse(args)?;
    let config = options.session_config()?;
    let stdin = spawn_stdin_reader();
    let runtime = crate::runtime()?;
    runtime.block_on(async move {
        let session = Session::start(config).map_err(|e| format!("cannot start: {e}"))?;
        log::debug!("connect: sockets {:?}", session.local_addresses());
        let remaining = options.expect.clone();
        let mut run = Connect {
            options,
            session,
            line_no: 0,
            connected: false,
            remaining,
            received: Vec::new(),
            linger_until: None,
            closing: false,
            last_relay_error: None,
        };
        let r = run.run(stdin).await;
        if run.options.stats {
            // Before closing: the port mappings as they were in use.
            eprintln!("pinhole: stats {}", run.session.stats().to_json());
        }
        run.session.close();
        let _ = tokio::time::timeout(CLOSE_LIMIT, run.session.closed()).await;
        r
    })
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
                    if tx
                        .send(Some(String::from_utf8_lossy(&buf).into_owned()))
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
        let _ = tx.send(None);
    });
    rx
}

/// The state of one run.
struct Connect {
    options: Options,
    session: Session,
    line_no: usize,
    /// A `connected` line was written.
    connected: bool,
    /// `--expect` texts not yet received.
    remaining: Vec<String>,
    received: Vec<String>,
    linger_until: Option<Instant>,
    /// A `close` line arrived: exit 0 once closed.
    closing: bool,
    last_relay_error: Option<String>,
}

impl Connect {
    async fn run(
        &mut self,
        mut stdin: mpsc::UnboundedReceiver<Option<String>>,
    ) -> Result<(), String> {
        let deadline = Instant::now() + self.options.timeout;
        let (mut stdin_open, mut data_open) = (true, true);
        loop {
            let wake = self.linger_until.unwrap_or(deadline);
            tokio::select! {
                // Events first: a path's `connected` line precedes the data on it.
                biased;
                event = self.session.next_event() => match event {
                    Some(e) => self.on_event(e)?,
                    None if self.closing => return Ok(()),
                    None => return Err("the session stopped unexpectedly".into()),
                },
                data = self.session.recv(), if data_open => match data {
                    Some(d) => self.on_data(String::from_utf8_lossy(&d).into_owned()),
                    None => data_open = false,
                },
                line = stdin.recv(), if stdin_open => match line.flatten() {
                    Some(line) => self.on_line(&line),
                    None => {
                        log::debug!("connect: stdin closed");
                        stdin_open = false;
                    }
                },
                _ = tokio::time::sleep_until(wake.into()), if !self.closing => {
                    if self.linger_until.is_some() {
                        return Ok(());
                    }
                    return Err(self.timeout_reason());
                }
            }
            if self.linger_until.is_none()
                && self.connected
                && self.remaining.is_empty()
                && !self.closing
            {
                self.linger_until = Some(Instant::now() + self.options.linger);
            }
        }
    }

    fn on_line(&mut self, raw: &str) {
        self.line_no += 1;
        let line = raw.trim();
        if line.is_empty() {
            return;
        }
        match parse_control(line) {
            Ok(Some(c)) => self.on_control(c),
            Ok(None) => {
                if let Err(e) = self.session.handle_signal(line) {
                    eprintln!(
                        "pinhole: warning: ignoring line {} from the peer: {e}: {line}",
                        self.line_no
                    );
                }
            }
            Err(e) => eprintln!(
                "pinhole: warning: ignoring control line {}: {e}: {line}",
                self.line_no
            ),
        }
    }

    fn on_control(&mut self, c: Control) {
        let r = match c {
            Control::Send(text) => self.session.send(text.as_bytes()),
            Control::NetworkChanged(hint) => {
                self.session.network_changed(hint);
                Ok(())
            }
            Control::Restart => self.session.restart(),
            Control::Close => {
                self.closing = true;
                self.session.close();
                Ok(())
            }
            Control::Stats => {
                emit(stats_line(&self.session.stats().to_json()));
                Ok(())
            }
        };
        if let Err(e) = r {
            eprintln!("pinhole: warning: control line {}: {e}", self.line_no);
        }
    }

    fn on_event(&mut self, event: Event) -> Result<(), String> {
        match event {
            Event::Signal(m) => emit_raw(&m.to_json()),
            Event::StateChanged(s) => {
                emit(state_line(s));
                if s == SessionState::Failed && self.linger_until.is_none() && !self.closing {
                    return Err(match (&self.last_relay_error, self.options.relay_only) {
                        (Some(e), true) => format!("--relay-only and no TURN relay is left: {e}"),
                        _ => self.failure_reason("ICE failed"),
                    });
                }
            }
            Event::PathChanged(p) => {
                emit(connected_line(&p));
                if !self.connected {
                    self.connected = true;
                    for text in self.options.send.clone() {
                        self.session
                            .send(text.as_bytes())
                            .map_err(|e| format!("cannot send {text:?}: {e}"))?;
                    }
                }
            }
            Event::RelayFailed {
                server,
                transport,
                error,
            } => {
                eprintln!("pinhole: TURN relay {server} over {transport} failed: {error}");
                self.last_relay_error = Some(error.to_string());
            }
            other => log::debug!("connect: {other:?}"),
        }
        Ok(())
    }

    fn on_data(&mut self, text: String) {
        emit(data_line(&text));
        if let Some(i) = self.remaining.iter().position(|t| *t == text) {
            self.remaining.remove(i);
        }
        self.received.push(text);
    }

    fn timeout_reason(&self) -> String {
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
    }

    /// `what`, then what the session knows, so the reader can tell which side is missing.
    fn failure_reason(&self, what: &str) -> String {
        let s = self.session.stats();
        let signaling = if s.peer_credentials {
            format!("{} remote candidates", s.ice.remote_candidates)
        } else {
            "no credentials from the peer on stdin".to_string()
        };
        let succeeded = s.ice.pairs.iter().filter(|p| p.valid).count();
        format!(
            "{what}: state {}, {} local candidates, {signaling}, {} pairs checked, {succeeded} succeeded{}",
            s.state.as_str(),
            s.ice.local_candidates,
            s.ice.pairs.len(),
            if what.starts_with("ICE failed") && self.options.turn.is_empty() {
                " (these NATs may need a TURN relay: pass --turn)"
            } else {
                ""
            }
        )
    }
}
