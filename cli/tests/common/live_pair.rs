//! [`LivePair`]: [`pipe_pair`](super::pipe_pair)'s wiring (each process's stdout lines
//! pumped into the other's stdin, transcripts timestamped, a hard time limit, both killed
//! on drop) for a test that acts while the two run: it writes control lines into either
//! stdin, reads the transcripts so far, waits for a line, and changes the network in
//! between. A [`Ticker`] sends numbered datagrams through both at a fixed rate so that
//! "data flows again" is measured, not guessed.

use std::io::Write;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::pipe_pair::{pump_lines, read_all, SharedStdin};
use super::{bounded_command, terminate, PipeRun, PipeSide, TimedLine};

struct Live {
    name: String,
    argv: Vec<String>,
    child: Child,
    stdin: SharedStdin,
    stdout: Arc<Mutex<Vec<TimedLine>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    exited: Option<(std::process::ExitStatus, Duration)>,
}

/// Two line-protocol processes running, wired to each other, that the test can talk to.
pub struct LivePair {
    start: Instant,
    limit: Duration,
    sides: [Live; 2],
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl LivePair {
    /// Starts `a` and `b` (each a name and argv) wired stdout → stdin both ways. Every
    /// process runs under coreutils `timeout` (limit + 5 s), so nothing outlives a
    /// SIGKILLed test binary; `argv` may start with `ip netns exec NS`.
    pub fn start(a: (&str, &[&str]), b: (&str, &[&str]), limit: Duration) -> LivePair {
        let start = Instant::now();
        let spawn = |(name, argv): (&str, &[&str])| -> Live {
            let mut cmd = bounded_command(argv, limit + Duration::from_secs(5));
            cmd.stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .env_remove("RUST_LOG");
            let mut child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {argv:?}: {e}"));
            Live {
                name: name.to_string(),
                argv: argv.iter().map(|s| s.to_string()).collect(),
                stdin: Arc::new(Mutex::new(child.stdin.take())),
                child,
                stdout: Arc::default(),
                stderr: Arc::default(),
                exited: None,
            }
        };
        let (mut sa, mut sb) = (spawn(a), spawn(b));
        let mut threads = Vec::new();
        let (to_b, to_a) = (sb.stdin.clone(), sa.stdin.clone());
        for (from, to) in [(&mut sa, to_b), (&mut sb, to_a)] {
            threads.push(pump_lines(
                from.child.stdout.take().unwrap(),
                Some(to),
                start,
                from.stdout.clone(),
            ));
            threads.push(read_all(
                from.child.stderr.take().unwrap(),
                from.stderr.clone(),
            ));
        }
        LivePair {
            start,
            limit,
            sides: [sa, sb],
            threads,
        }
    }

    /// Time since the pair started (the transcripts' clock).
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Writes one line into side `i`'s stdin (a control line; the peer never sees it).
    pub fn send_line(&self, i: usize, line: &str) {
        write_line(&self.sides[i].stdin, line);
    }

    /// Side `i`'s stdout lines so far.
    pub fn lines(&self, i: usize) -> Vec<TimedLine> {
        self.sides[i].stdout.lock().unwrap().clone()
    }

    /// Side `i`'s parsed JSON lines of the given `type` so far, with their times.
    pub fn lines_of(&self, i: usize, kind: &str) -> Vec<(Duration, serde_json::Value)> {
        parse_lines(&self.sides[i].stdout.lock().unwrap(), kind)
    }

    /// Polls `done` every 10 ms until it holds (returns the time since start) or `limit`
    /// passes (panics with `what` and both transcripts). Also panics if either process
    /// exits meanwhile.
    pub fn wait_for(
        &mut self,
        what: &str,
        limit: Duration,
        mut done: impl FnMut(&LivePair) -> bool,
    ) -> Duration {
        let deadline = Instant::now() + limit;
        loop {
            if done(self) {
                return self.elapsed();
            }
            for i in 0..2 {
                if let Ok(Some(status)) = self.sides[i].child.try_wait() {
                    panic!(
                        "{} exited ({status}) while waiting for {what}\n{}",
                        self.sides[i].name,
                        self.describe()
                    );
                }
            }
            if Instant::now() >= deadline || self.elapsed() >= self.limit {
                panic!(
                    "no {what} within {limit:?} (at {:.3}s)\n{}",
                    self.elapsed().as_secs_f64(),
                    self.describe()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until both processes exit by themselves, up to `limit` (then kills them),
    /// and returns what they did.
    pub fn finish(mut self, limit: Duration) -> PipeRun {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline && self.sides.iter().any(|s| s.exited.is_none()) {
            self.poll_exits();
            std::thread::sleep(Duration::from_millis(10));
        }
        self.poll_exits();
        let elapsed = self.elapsed();
        for s in &mut self.sides {
            terminate(&mut s.child);
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while self.threads.iter().any(|t| !t.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let side = |s: &Live| PipeSide {
            name: s.name.clone(),
            argv: s.argv.clone(),
            status: s.exited.map(|e| e.0),
            stdout: s.stdout.lock().unwrap().clone(),
            stderr: String::from_utf8_lossy(&s.stderr.lock().unwrap()).into_owned(),
            exited_at: s.exited.map(|e| e.1),
        };
        PipeRun {
            a: side(&self.sides[0]),
            b: side(&self.sides[1]),
            elapsed,
        }
    }

    fn poll_exits(&mut self) {
        let at = self.elapsed();
        for s in &mut self.sides {
            if s.exited.is_none() {
                if let Ok(Some(status)) = s.child.try_wait() {
                    s.exited = Some((status, at));
                }
            }
        }
    }

    /// Both argvs, a merged timeline of stdout lines and both stderrs (as
    /// [`PipeRun::describe`]); `data` lines are left out of the timeline (a ticker writes
    /// hundreds) except the first after each gap of more than 200 ms.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let mut timeline: Vec<(Duration, &str, String)> = Vec::new();
        for side in &self.sides {
            s += &format!("===== {}: {:?}\n", side.name, side.argv);
            let mut last_data: Option<Duration> = None;
            let mut skipped = 0;
            for (t, l) in side.stdout.lock().unwrap().iter() {
                if l.contains("\"type\":\"data\"") {
                    let quiet = last_data.is_none_or(|d| *t > d + Duration::from_millis(200));
                    last_data = Some(*t);
                    if !quiet {
                        skipped += 1;
                        continue;
                    }
                    if skipped > 0 {
                        timeline.push((*t, &side.name, format!("({skipped} data lines)")));
                        skipped = 0;
                    }
                }
                timeline.push((*t, &side.name, l.clone()));
            }
            if skipped > 0 {
                let t = last_data.unwrap();
                timeline.push((t, &side.name, format!("({skipped} data lines)")));
            }
        }
        timeline.sort_by_key(|(t, _, _)| *t);
        s += "===== stdout timeline\n";
        for (t, name, l) in timeline {
            s += &format!("{:>8.3}s {name}: {l}\n", t.as_secs_f64());
        }
        for side in &self.sides {
            let err = String::from_utf8_lossy(&side.stderr.lock().unwrap()).into_owned();
            s += &format!("===== {} stderr\n{}\n", side.name, super::tail(&err, 6000));
        }
        s
    }

    /// Starts sending a numbered datagram (`{prefix[i]}{n}`) through side 0 and side 1
    /// every `every`, through `send` control lines; see [`Ticker`].
    pub fn ticker(&self, prefixes: [&str; 2], every: Duration) -> Ticker {
        let shared = Arc::new(TickerShared {
            stop: AtomicBool::new(false),
            paused: [AtomicBool::new(false), AtomicBool::new(false)],
            sent: [Mutex::new(Vec::new()), Mutex::new(Vec::new())],
            next: AtomicU64::new(1),
        });
        let stdins = [self.sides[0].stdin.clone(), self.sides[1].stdin.clone()];
        let prefixes = prefixes.map(String::from);
        let kept = prefixes.clone();
        let (t, start) = (shared.clone(), self.start);
        let thread = std::thread::spawn(move || {
            let mut next_at = Instant::now();
            while !t.stop.load(Ordering::Relaxed) {
                let n = t.next.fetch_add(1, Ordering::Relaxed);
                for i in 0..2 {
                    if t.paused[i].load(Ordering::Relaxed) {
                        continue;
                    }
                    let text = format!("{}{n}", prefixes[i]);
                    let line = serde_json::json!({"type": "send", "text": text}).to_string();
                    t.sent[i].lock().unwrap().push((start.elapsed(), n));
                    write_line(&stdins[i], &line);
                }
                next_at += every;
                std::thread::sleep(next_at.saturating_duration_since(Instant::now()));
            }
        });
        Ticker {
            shared,
            prefixes: kept,
            thread: Some(thread),
        }
    }
}

impl Drop for LivePair {
    fn drop(&mut self) {
        for s in &mut self.sides {
            terminate(&mut s.child);
        }
    }
}

fn write_line(stdin: &SharedStdin, line: &str) {
    let mut guard = stdin.lock().unwrap();
    if let Some(w) = guard.as_mut() {
        let ok = w
            .write_all(line.as_bytes())
            .and_then(|_| w.write_all(b"\n"))
            .and_then(|_| w.flush());
        if ok.is_err() {
            *guard = None;
        }
    }
}

fn parse_lines(lines: &[TimedLine], kind: &str) -> Vec<(Duration, serde_json::Value)> {
    lines
        .iter()
        .filter_map(|(t, l)| Some((*t, serde_json::from_str::<serde_json::Value>(l).ok()?)))
        .filter(|(_, v)| v["type"] == kind)
        .collect()
}

struct TickerShared {
    stop: AtomicBool,
    paused: [AtomicBool; 2],
    /// (when, sequence number) of every datagram handed to each side.
    sent: [Mutex<Vec<(Duration, u64)>>; 2],
    next: AtomicU64,
}

/// Numbered datagrams sent through both sides of a [`LivePair`] at a fixed rate, from a
/// thread, so that sending goes on while the test changes the network. Stops on drop.
pub struct Ticker {
    shared: Arc<TickerShared>,
    prefixes: [String; 2],
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Ticker {
    /// Stops or resumes sending through side `i`.
    pub fn pause(&self, i: usize, paused: bool) {
        self.shared.paused[i].store(paused, Ordering::Relaxed);
    }

    /// When the first datagram that side `from` was asked to send at or after `since`
    /// arrived at the other side (a `data` line there), if one has.
    pub fn first_arrival(&self, pair: &LivePair, from: usize, since: Duration) -> Option<Duration> {
        let first_n = self.shared.sent[from]
            .lock()
            .unwrap()
            .iter()
            .find(|(t, _)| *t >= since)
            .map(|(_, n)| *n)?;
        let prefix = &self.prefixes[from];
        pair.lines_of(1 - from, "data")
            .into_iter()
            .find_map(|(t, v)| {
                let n: u64 = v["text"]
                    .as_str()?
                    .strip_prefix(prefix.as_str())?
                    .parse()
                    .ok()?;
                (n >= first_n).then_some(t)
            })
    }

    /// Datagrams side `from` was asked to send in `[since, until)` and how many of them
    /// arrived at the other side.
    pub fn delivered(
        &self,
        pair: &LivePair,
        from: usize,
        since: Duration,
        until: Duration,
    ) -> (usize, usize) {
        let sent: Vec<u64> = self.shared.sent[from]
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| *t >= since && *t < until)
            .map(|(_, n)| *n)
            .collect();
        let prefix = &self.prefixes[from];
        let got: std::collections::HashSet<u64> = pair
            .lines_of(1 - from, "data")
            .into_iter()
            .filter_map(|(_, v)| {
                v["text"]
                    .as_str()?
                    .strip_prefix(prefix.as_str())?
                    .parse()
                    .ok()
            })
            .collect();
        let arrived = sent.iter().filter(|n| got.contains(n)).count();
        (sent.len(), arrived)
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
