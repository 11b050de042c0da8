//! [`pipe_pair`]: two line-protocol processes (`pinhole connect`, the libnice adapter, or
//! either inside `ip netns exec`) with each one's stdout lines pumped into the other's
//! stdin on threads, transcripts timestamped, a hard time limit, and both killed on drop.

use std::io::Read;
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::{bounded_command, tail, terminate};

/// A stdout line and when (since the pair started) it was read.
pub type TimedLine = (Duration, String);

/// What one side of a [`pipe_pair`] did.
#[derive(Debug)]
pub struct PipeSide {
    pub name: String,
    pub argv: Vec<String>,
    /// `None` if it was still running at the limit and had to be killed.
    pub status: Option<ExitStatus>,
    pub stdout: Vec<TimedLine>,
    pub stderr: String,
    /// When it exited, since the pair started.
    pub exited_at: Option<Duration>,
}

impl PipeSide {
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// The parsed JSON lines of the given `type`, with their times.
    pub fn lines_of(&self, kind: &str) -> Vec<(Duration, serde_json::Value)> {
        self.stdout
            .iter()
            .filter_map(|(t, l)| Some((*t, serde_json::from_str::<serde_json::Value>(l).ok()?)))
            .filter(|(_, v)| v["type"] == kind)
            .collect()
    }
}

/// What a [`pipe_pair`] run produced.
#[derive(Debug)]
pub struct PipeRun {
    pub a: PipeSide,
    pub b: PipeSide,
    pub elapsed: Duration,
}

impl PipeRun {
    /// Both argvs, exit codes, a merged timeline of stdout lines and both stderrs.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        for r in [&self.a, &self.b] {
            s += &format!(
                "===== {}: {:?}\n===== {} exit: {:?} at {:?}\n",
                r.name, r.argv, r.name, r.status, r.exited_at
            );
        }
        let mut timeline: Vec<(Duration, &str, &str)> = Vec::new();
        for r in [&self.a, &self.b] {
            timeline.extend(
                r.stdout
                    .iter()
                    .map(|(t, l)| (*t, r.name.as_str(), l.as_str())),
            );
        }
        timeline.sort_by_key(|(t, _, _)| *t);
        s += "===== stdout timeline\n";
        for (t, name, l) in timeline {
            s += &format!("{:>8.3}s {name}: {l}\n", t.as_secs_f64());
        }
        for r in [&self.a, &self.b] {
            s += &format!("===== {} stderr\n{}\n", r.name, tail(&r.stderr, 6000));
        }
        s
    }
}

/// The other process's stdin, shared with whoever else writes to it (a [`LivePair`]
/// test writes control lines); `None` once closed.
///
/// [`LivePair`]: super::LivePair
pub(super) type SharedStdin = std::sync::Arc<std::sync::Mutex<Option<std::process::ChildStdin>>>;

/// Copies `from`'s lines into `log` (timestamped since `start`) and into `to`; at EOF
/// closes `to`, so the other process learns this one is gone.
pub(super) fn pump_lines(
    from: impl Read + Send + 'static,
    to: Option<SharedStdin>,
    start: Instant,
    log: std::sync::Arc<std::sync::Mutex<Vec<TimedLine>>>,
) -> std::thread::JoinHandle<()> {
    use std::io::{BufRead, BufReader, Write};
    std::thread::spawn(move || {
        let mut r = BufReader::new(from);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let line = String::from_utf8_lossy(&buf)
                .trim_end_matches(['\n', '\r'])
                .to_string();
            log.lock().unwrap().push((start.elapsed(), line));
            if let Some(to) = &to {
                let mut w = to.lock().unwrap();
                if let Some(stdin) = w.as_mut() {
                    if stdin.write_all(&buf).and_then(|_| stdin.flush()).is_err() {
                        *w = None;
                    }
                }
            }
        }
        // Dropping the peer's stdin closes it: EOF tells it this side is gone.
        if let Some(to) = &to {
            *to.lock().unwrap() = None;
        }
    })
}

/// Appends everything `from` yields to `into` until EOF.
pub(super) fn read_all(
    mut from: impl Read + Send + 'static,
    into: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = from.read(&mut chunk) {
            if n == 0 {
                break;
            }
            into.lock().unwrap().extend_from_slice(&chunk[..n]);
        }
    })
}

fn shared(stdin: Option<std::process::ChildStdin>) -> SharedStdin {
    std::sync::Arc::new(std::sync::Mutex::new(stdin))
}

/// Runs `a` and `b` (each a name and argv) with each one's stdout lines pumped into the
/// other's stdin, until both exit or `limit` passes; then kills whatever still runs.
/// Every process also runs under coreutils `timeout` (limit + 5 s), so nothing outlives
/// a SIGKILLed test binary. `argv` may start with `ip netns exec NS`: pipes survive it.
pub fn pipe_pair(a: (&str, &[&str]), b: (&str, &[&str]), limit: Duration) -> PipeRun {
    use std::sync::{Arc, Mutex};
    let start = Instant::now();
    let spawn = |argv: &[&str]| -> Child {
        let mut cmd = bounded_command(argv, limit + Duration::from_secs(5));
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env_remove("RUST_LOG");
        cmd.spawn()
            .unwrap_or_else(|e| panic!("spawn {argv:?}: {e}"))
    };
    // Guards so that a panic below still kills both.
    struct Guard(Child);
    impl Drop for Guard {
        fn drop(&mut self) {
            terminate(&mut self.0);
        }
    }
    let mut ga = Guard(spawn(a.1));
    let mut gb = Guard(spawn(b.1));
    let (out_a, out_b) = (
        Arc::new(Mutex::new(Vec::new())),
        Arc::new(Mutex::new(Vec::new())),
    );
    let (err_a, err_b) = (
        Arc::new(Mutex::new(Vec::new())),
        Arc::new(Mutex::new(Vec::new())),
    );
    let threads = [
        pump_lines(
            ga.0.stdout.take().unwrap(),
            Some(shared(gb.0.stdin.take())),
            start,
            out_a.clone(),
        ),
        pump_lines(
            gb.0.stdout.take().unwrap(),
            Some(shared(ga.0.stdin.take())),
            start,
            out_b.clone(),
        ),
        read_all(ga.0.stderr.take().unwrap(), err_a.clone()),
        read_all(gb.0.stderr.take().unwrap(), err_b.clone()),
    ];
    let mut status = [None, None];
    let mut exited_at = [None, None];
    while status.iter().any(Option::is_none) && start.elapsed() < limit {
        for (i, g) in [&mut ga, &mut gb].into_iter().enumerate() {
            if status[i].is_none() {
                status[i] = g.0.try_wait().expect("wait");
                if status[i].is_some() {
                    exited_at[i] = Some(start.elapsed());
                }
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let elapsed = start.elapsed();
    drop(ga);
    drop(gb);
    let deadline = Instant::now() + Duration::from_secs(3);
    while threads.iter().any(|t| !t.is_finished()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let text = |v: &Arc<Mutex<Vec<u8>>>| String::from_utf8_lossy(&v.lock().unwrap()).into_owned();
    let side =
        |(name, argv): (&str, &[&str]), i: usize, out: &Arc<Mutex<Vec<TimedLine>>>, err| PipeSide {
            name: name.to_string(),
            argv: argv.iter().map(|s| s.to_string()).collect(),
            status: status[i],
            stdout: out.lock().unwrap().clone(),
            stderr: text(err),
            exited_at: exited_at[i],
        };
    PipeRun {
        a: side(a, 0, &out_a, &err_a),
        b: side(b, 1, &out_b, &err_b),
        elapsed,
    }
}
