//! A network namespace made by the test, and a network monitor running inside it.
//!
//! The test process cannot move itself into the namespace (every other test thread would
//! follow it). Instead a dedicated thread calls `setns(CLONE_NEWNET)` on itself, which
//! changes only that thread's namespace, and creates a current-thread tokio runtime and
//! the monitor there: netlink sockets belong to the namespace of the thread that creates
//! them, so the monitor watches the namespace and nothing else. Changes are made from the
//! test thread with `ip -n NAME ...`. This keeps everything in one test binary, with
//! in-process timestamps on both sides of each measurement, and no helper executable.
//!
//! The namespace is deleted on drop, also when the test panics; the monitor thread is
//! stopped first.

#![allow(dead_code)] // each test uses a different subset

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pinhole::netchange::NetworkSnapshot;
use pinhole::runtime::{snapshot_now, MonitorConfig, MonitorStats, NetworkMonitor};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A network namespace this test created; deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// A fresh namespace with `lo` up. Panics with a clear message when the machine
    /// cannot (not root, no iproute2): these tests must not skip quietly.
    pub fn new() -> Netns {
        require_root_and_ip();
        let name = format!(
            "phnm{}-{}",
            std::process::id() % 100_000,
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        run_ip(&["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip("link set lo up");
        ns
    }

    /// Runs `ip -n NAME <words>`, asserting success.
    pub fn ip(&self, words: &str) {
        let mut argv = vec!["-n", self.name.as_str()];
        argv.extend(words.split_whitespace());
        run_ip(&argv);
    }

    /// Runs every line of `script` with `ip -n NAME -batch -` (one process, so the
    /// changes follow each other as fast as the kernel takes them).
    pub fn ip_batch(&self, script: &str) {
        use std::io::Write;
        let mut child = Command::new("ip")
            .args(["-n", &self.name, "-batch", "-"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("iproute2 `ip` not found");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "ip -batch failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A veth pair `name` / `name`p inside the namespace, both ends up, so that `name`
    /// has carrier: the stand-in for a Wi-Fi or cellular interface.
    pub fn add_link(&self, name: &str) {
        self.ip(&format!("link add {name} type veth peer name {name}p"));
        self.ip(&format!("link set {name}p up"));
        self.ip(&format!("link set {name} up"));
    }

    /// `snapshot_now()` taken inside the namespace (on a short-lived thread that enters
    /// it).
    pub fn snapshot(&self) -> NetworkSnapshot {
        let path = self.path();
        std::thread::spawn(move || {
            enter(&path);
            snapshot_now().expect("snapshot_now inside the namespace")
        })
        .join()
        .unwrap()
    }

    fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Moves the calling thread (only) into the namespace at `path`.
fn enter(path: &str) {
    let f = File::open(path).unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
    // SAFETY: setns on a valid namespace descriptor; it affects only this thread.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
}

/// One snapshot the monitor reported, when, and its counters at that moment.
#[derive(Clone, Debug)]
pub struct Report {
    pub at: Instant,
    pub snapshot: NetworkSnapshot,
    pub stats: MonitorStats,
}

/// A [`NetworkMonitor`] running on its own thread inside a namespace.
pub struct Watcher {
    /// The monitor's first snapshot.
    pub initial: NetworkSnapshot,
    reports: mpsc::Receiver<Report>,
    resume: Option<mpsc::Sender<()>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Watcher {
    /// Starts a monitor with `config` inside `ns`. With `paused`, the monitor is created
    /// (subscribed, first snapshot taken) but not polled until [`Watcher::resume`]:
    /// notifications pile up in its socket meanwhile.
    pub fn start(ns: &Netns, config: MonitorConfig, paused: bool) -> Watcher {
        let path = ns.path();
        let (ready_tx, ready_rx) = mpsc::channel();
        let (report_tx, reports) = mpsc::channel();
        let (resume_tx, resume_rx) = mpsc::channel::<()>();
        let (stop, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            enter(&path);
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let mut monitor = NetworkMonitor::start(config).expect("monitor starts");
                ready_tx.send(monitor.current().clone()).unwrap();
                if paused && resume_rx.recv().is_err() {
                    return;
                }
                loop {
                    tokio::select! {
                        snapshot = monitor.next_change() => {
                            let report = Report {
                                at: Instant::now(),
                                snapshot,
                                stats: monitor.stats().clone(),
                            };
                            if report_tx.send(report).is_err() {
                                return;
                            }
                        }
                        _ = &mut stop_rx => return,
                    }
                }
            });
        });
        let initial = ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the monitor did not start");
        Watcher {
            initial,
            reports,
            resume: paused.then_some(resume_tx),
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Lets a paused monitor run.
    pub fn resume(&mut self) {
        if let Some(tx) = self.resume.take() {
            tx.send(()).unwrap();
        }
    }

    /// The next report, or `None` after `limit`.
    pub fn next(&self, limit: Duration) -> Option<Report> {
        self.reports.recv_timeout(limit).ok()
    }

    /// The next report, which must come within 5 s.
    pub fn expect_report(&self, what: &str) -> Report {
        self.next(Duration::from_secs(5))
            .unwrap_or_else(|| panic!("no report within 5 s after: {what}"))
    }

    /// Collects reports until none arrives for `quiet`. Used before a measurement, so
    /// that late kernel work from the setup (IPv6 link-local addresses appear after
    /// duplicate address detection, a second or two after a link comes up) is not
    /// counted; also after one, to see everything the change caused.
    pub fn until_quiet(&self, quiet: Duration) -> Vec<Report> {
        let mut all = Vec::new();
        while let Some(r) = self.next(quiet) {
            all.push(r);
        }
        all
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.resume.take();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run_ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("iproute2 `ip` not found");
    assert!(
        out.status.success(),
        "ip {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn require_root_and_ip() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "these tests create network namespaces and need root: run scripts/test.sh as root"
    );
    let found = Command::new("ip").arg("-V").output().is_ok();
    assert!(found, "`ip` not found: apt-get install iproute2");
}
