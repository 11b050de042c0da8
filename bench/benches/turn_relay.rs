//! TURN relay throughput on loopback: Pinhole's `TurnSession` against coturn's own
//! `turnutils_uclient`, through the same coturn, to the same echo peer, at the same packet
//! size, count and pacing, in one run. A scenario runner that prints figures (not
//! criterion); see BENCHMARKS.md, "TURN relay throughput (coturn, loopback)".
//!
//! ```sh
//! cargo bench -p pinhole-bench --bench turn_relay            # 3 runs
//! cargo bench -p pinhole-bench --bench turn_relay -- --runs 5 --quick
//! ```
//!
//! Both clients allocate on UDP, bind a channel to the peer and send ChannelData; the peer
//! echoes every datagram back to where it came from (what `turnutils_peer` does). The peer
//! is this process's own echo thread rather than `turnutils_peer` because it also times
//! what arrives: uclient's summary has whole-second resolution and includes a random
//! 1-6 s start delay, so its sending rate can only be measured at the peer. Both clients'
//! rates are measured there, the same way: (packets - 1) / (last arrival - first arrival).

use std::fs::File;
use std::net::{SocketAddr, UdpSocket as StdUdp};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pinhole::runtime::{TurnOptions, TurnSession};
use pinhole::stun::Credentials;
use tokio::time::{Interval, MissedTickBehavior};

// The same coturn the TURN integration tests start (static user pinhole:secret).
#[path = "../../core/tests/support/coturn.rs"]
mod coturn;
use coturn::{Auth, Coturn};

const USER: &str = "pinhole";
const PASS: &str = "secret";
/// Bound on every external process and on each client run.
const PROCESS_LIMIT: Duration = Duration::from_secs(90);
/// How long a client waits for echoes after its last send (uclient's STOPPING_TIME is 10 s
/// but it stops as soon as everything came back; so does this).
const DRAIN: Duration = Duration::from_secs(3);

/// Kills and reaps `child` if it is still running after `limit`; its exit status otherwise.
fn wait_bounded(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    loop {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The kernel's count of UDP datagrams dropped because a socket's receive buffer was
/// full (`Udp: RcvbufErrors` in /proc/net/snmp), host-wide: coturn's, the peer's and the
/// client's sockets all count, so a loss can be told apart from one inside a client.
fn udp_rcvbuf_errors() -> Option<u64> {
    let snmp = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut rows = snmp.lines().filter(|l| l.starts_with("Udp: "));
    let names = rows.next()?;
    let values = rows.next()?;
    let column = names.split_whitespace().position(|n| n == "RcvbufErrors")?;
    values.split_whitespace().nth(column)?.parse().ok()
}

/// " kernel rcvbuf drops N" when the count grew since `before`.
fn kernel_drops_since(before: Option<u64>) -> String {
    match (before, udp_rcvbuf_errors()) {
        (Some(a), Some(b)) if b > a => format!(" kernel rcvbuf drops {}", b - a),
        _ => String::new(),
    }
}

/// What the peer saw from one client run.
#[derive(Clone, Copy, Default)]
struct PeerCount {
    packets: u64,
    first: Option<Instant>,
    last: Option<Instant>,
}

impl PeerCount {
    /// Packets per second between the first and the last arrival.
    fn rate(&self) -> f64 {
        match (self.first, self.last) {
            (Some(a), Some(b)) if b > a && self.packets > 1 => {
                (self.packets - 1) as f64 / (b - a).as_secs_f64()
            }
            _ => 0.0,
        }
    }
}

/// A UDP echo peer on 127.0.0.1 (like `turnutils_peer`) that counts and times arrivals.
struct EchoPeer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    count: Arc<Mutex<PeerCount>>,
    /// The echo thread's own CPU time so far (ns), to take it out of Pinhole's figure.
    cpu_ns: Arc<std::sync::atomic::AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

/// This thread's CPU time (CLOCK_THREAD_CPUTIME_ID), in ns.
fn thread_cpu_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes into a timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// CPU time of this process (`who` = RUSAGE_SELF) or of its reaped children
/// (RUSAGE_CHILDREN), in ns.
fn rusage_ns(who: i32) -> u64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the zeroed struct we own.
    unsafe { libc::getrusage(who, &mut u) };
    let ns = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1000;
    ns(u.ru_utime) + ns(u.ru_stime)
}

impl EchoPeer {
    fn start() -> EchoPeer {
        let sock = StdUdp::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let addr = sock.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(Mutex::new(PeerCount::default()));
        let cpu_ns = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (s, c, cpu) = (stop.clone(), count.clone(), cpu_ns.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 65_536];
            while !s.load(Ordering::Relaxed) {
                cpu.store(thread_cpu_ns(), Ordering::Relaxed);
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let now = Instant::now();
                {
                    let mut c = c.lock().unwrap();
                    c.packets += 1;
                    c.first.get_or_insert(now);
                    c.last = Some(now);
                }
                let _ = sock.send_to(&buf[..n], from);
            }
        });
        EchoPeer {
            addr,
            stop,
            count,
            cpu_ns,
            thread: Some(thread),
        }
    }

    fn reset(&self) {
        *self.count.lock().unwrap() = PeerCount::default();
    }

    fn take(&self) -> PeerCount {
        std::mem::take(&mut *self.count.lock().unwrap())
    }
}

impl Drop for EchoPeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// How packets are paced. uclient sends from a 1 ms libevent timer: with `-z Z` (Z >= 1)
/// packet i is due at start + i*Z ms and late packets are caught up (at most 50 per tick);
/// with `-z 0` every tick sends 50 (how many ticks libevent delivers decides the rate, so
/// Pinhole is then paced at the rate uclient reached, measured at the peer, in the same run).
#[derive(Clone, Copy, PartialEq)]
enum Pacing {
    /// `-z ms`: one packet every `ms`, late ones caught up.
    Interval(u64),
    /// `-z 0`: 50 packets per 1 ms tick (uclient's fastest).
    Tick50,
    /// Pinhole only: packet i due at start + i / rate, checked every 1 ms, late ones
    /// caught up; the rate is what uclient reached with `-z 0` just before.
    Rate(f64),
    /// Pinhole only: like `Rate`, at a fixed rate above uclient's, to find where loss starts.
    Fixed(u32),
    /// Pinhole only: as fast as `send_to` returns.
    Unpaced,
}

impl Pacing {
    fn label(self) -> String {
        match self {
            Pacing::Interval(ms) => format!("-z {ms} ({} pkt/s)", 1000 / ms),
            Pacing::Tick50 | Pacing::Rate(_) => "-z 0 (uclient max; Pinhole rate-matched)".into(),
            Pacing::Fixed(r) => format!("{r} pkt/s (Pinhole only)"),
            Pacing::Unpaced => "unpaced (Pinhole only)".into(),
        }
    }
}

#[derive(Clone, Copy)]
struct Scenario {
    size: usize,
    count: u64,
    pacing: Pacing,
}

/// One client's figures for one scenario.
#[derive(Clone, Default)]
struct Outcome {
    /// Messages the client was asked to send.
    count: u64,
    /// Messages that left the client (uclient: not counting its `send dropped`).
    sent: u64,
    received: u64,
    /// Peer-side arrival rate, pkt/s.
    rate: f64,
    /// Round trip client -> relay -> peer -> relay -> client, ms.
    rtt_avg: Option<f64>,
    rtt_p50: Option<f64>,
    rtt_p99: Option<f64>,
    /// The client's CPU time per packet echoed back, µs (uclient: the child process;
    /// Pinhole: this process minus the echo peer's thread).
    cpu_us: Option<f64>,
    note: String,
}

impl Outcome {
    fn loss_pct(&self) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        100.0 * self.count.saturating_sub(self.received) as f64 / self.count as f64
    }
}

fn uclient(turn: &Coturn, peer: &EchoPeer, sc: Scenario) -> Outcome {
    let dir = &turn.dir;
    let out_path = dir.join("uclient.out");
    let out = File::create(&out_path).unwrap();
    let z = match sc.pacing {
        Pacing::Interval(ms) => ms,
        Pacing::Tick50 => 0,
        Pacing::Rate(_) | Pacing::Fixed(_) | Pacing::Unpaced => {
            unreachable!("uclient has no such mode")
        }
    };
    peer.reset();
    let kernel_before = udp_rcvbuf_errors();
    let children_before = rusage_ns(libc::RUSAGE_CHILDREN);
    let mut child = Command::new("turnutils_uclient")
        .args(["-c", "-m", "1", "-u", USER, "-w", PASS, "-e", "127.0.0.1"])
        .args(["-r", &peer.addr.port().to_string()])
        .args(["-p", &turn.port.to_string()])
        .args(["-n", &sc.count.to_string(), "-l", &sc.size.to_string()])
        .args(["-z", &z.to_string(), "127.0.0.1"])
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("turnutils_uclient runs (apt-get install coturn)");
    let status = wait_bounded(&mut child, PROCESS_LIMIT);
    let child_cpu_ns = rusage_ns(libc::RUSAGE_CHILDREN) - children_before;
    let seen = peer.take();
    let text = std::fs::read_to_string(&out_path).unwrap_or_default();
    let num_after = |line: &str, key: &str| -> Option<f64> {
        let rest = &line[line.find(key)? + key.len()..];
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        rest[..end].parse().ok()
    };
    let mut o = Outcome {
        count: sc.count,
        rate: seen.rate(),
        ..Outcome::default()
    };
    for line in text.lines() {
        if line.contains("tot_send_msgs=") && !line.contains("msz=") {
            o.sent = num_after(line, "tot_send_msgs=").unwrap_or(0.0) as u64;
            o.received = num_after(line, "tot_recv_msgs=").unwrap_or(0.0) as u64;
        }
        if let Some(d) = num_after(line, "total send dropped ") {
            if d > 0.0 {
                o.note = format!("{d} send dropped");
            }
        }
        if let Some(r) = num_after(line, "Average round trip delay ") {
            o.rtt_avg = Some(r);
        }
    }
    if o.received > 0 {
        o.cpu_us = Some(child_cpu_ns as f64 / 1000.0 / o.received as f64);
    }
    if status.is_none() {
        o.note = format!("killed after {PROCESS_LIMIT:?}");
    } else if o.sent == 0 {
        o.note = format!("no summary; output:\n{text}");
    }
    if seen.packets != o.sent {
        o.note = format!("{} peer saw {}", o.note, seen.packets);
    }
    o.note = format!("{}{}", o.note, kernel_drops_since(kernel_before))
        .trim()
        .to_string();
    o
}

async fn tick(t: &mut Option<Interval>) {
    match t {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::ready(()).await,
    }
}

fn percentile(sorted: &[u32], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    Some(sorted[i] as f64 / 1000.0)
}

async fn pinhole(turn: &Coturn, peer: &EchoPeer, sc: Scenario) -> Outcome {
    let url = format!("turn:127.0.0.1:{}?transport=udp", turn.port);
    let mut options = TurnOptions::default();
    options.timeout = Duration::from_secs(10);
    let mut s = TurnSession::connect(&url, Credentials::new(USER, PASS), options)
        .await
        .expect("Pinhole allocates on coturn");
    s.bind_channel(peer.addr)
        .await
        .expect("Pinhole binds a channel");
    peer.reset();
    let kernel_before = udp_rcvbuf_errors();
    let (cpu_before, peer_cpu_before) = (
        rusage_ns(libc::RUSAGE_SELF),
        peer.cpu_ns.load(Ordering::Relaxed),
    );
    // uclient's -z Z >= 1 catches up late packets (Burst); so does the matched rate.
    let (mut ticker, rate) = match sc.pacing {
        Pacing::Interval(ms) => {
            let mut i = tokio::time::interval(Duration::from_millis(ms));
            i.set_missed_tick_behavior(MissedTickBehavior::Burst);
            (Some(i), None)
        }
        Pacing::Rate(_) | Pacing::Fixed(_) => {
            let r = match sc.pacing {
                Pacing::Fixed(r) => r as f64,
                Pacing::Rate(r) => r,
                _ => unreachable!(),
            };
            let mut i = tokio::time::interval(Duration::from_millis(1));
            i.set_missed_tick_behavior(MissedTickBehavior::Delay);
            (Some(i), Some(r))
        }
        Pacing::Tick50 => unreachable!("Pinhole is rate-matched to uclient's -z 0"),
        Pacing::Unpaced => (None, None),
    };
    let mut payload = vec![7u8; sc.size.max(16)];
    let start = Instant::now();
    let (mut sent, mut received) = (0u64, 0u64);
    let mut rtts: Vec<u32> = Vec::with_capacity(sc.count as usize);
    let mut done_at = start + PROCESS_LIMIT;
    let deadline = start + PROCESS_LIMIT;
    loop {
        let sending = sent < sc.count;
        tokio::select! {
            r = s.recv() => {
                let (_, data) = r.expect("session alive");
                received += 1;
                if data.len() >= 16 {
                    let at = u64::from_be_bytes(data[8..16].try_into().unwrap());
                    let now = start.elapsed().as_micros() as u64;
                    rtts.push(now.saturating_sub(at).min(u32::MAX as u64) as u32);
                }
            }
            _ = tick(&mut ticker), if sending => {
                let burst = match (sc.pacing, rate) {
                    (Pacing::Interval(_), _) => 1,
                    (_, Some(r)) => {
                        let due = (start.elapsed().as_secs_f64() * r) as u64 + 1;
                        due.saturating_sub(sent).min(64)
                    }
                    _ => 32,
                };
                for _ in 0..burst.min(sc.count - sent) {
                    payload[..8].copy_from_slice(&sent.to_be_bytes());
                    let now = start.elapsed().as_micros() as u64;
                    payload[8..16].copy_from_slice(&now.to_be_bytes());
                    s.send_to(peer.addr, &payload).await.expect("send_to");
                    sent += 1;
                }
                if sent == sc.count {
                    done_at = Instant::now();
                }
            }
            _ = tokio::time::sleep_until((done_at + DRAIN).into()), if !sending => break,
            _ = tokio::time::sleep_until(deadline.into()) => break,
        }
        if sent == sc.count && received >= sent {
            break;
        }
    }
    let send_secs = (done_at - start).as_secs_f64();
    let client_cpu_ns = (rusage_ns(libc::RUSAGE_SELF) - cpu_before)
        .saturating_sub(peer.cpu_ns.load(Ordering::Relaxed) - peer_cpu_before);
    let stats = s.stats().await.expect("stats");
    let seen = peer.take();
    let _ = s.close().await;
    rtts.sort_unstable();
    let avg = (!rtts.is_empty())
        .then(|| rtts.iter().map(|&r| r as f64).sum::<f64>() / rtts.len() as f64 / 1000.0);
    let mut note = String::new();
    if seen.packets != sent {
        note = format!("peer saw {}", seen.packets);
    }
    if stats.receive_queue_full > 0 {
        note = format!("{note} session queue full {}", stats.receive_queue_full);
    }
    note.push_str(&kernel_drops_since(kernel_before));
    if sc.pacing == Pacing::Unpaced {
        note = format!("{note} client send {:.0} pkt/s", sent as f64 / send_secs);
    }
    Outcome {
        count: sc.count,
        sent,
        received,
        rate: seen.rate(),
        rtt_avg: avg,
        rtt_p50: percentile(&rtts, 0.5),
        rtt_p99: percentile(&rtts, 0.99),
        cpu_us: (received > 0).then(|| client_cpu_ns as f64 / 1000.0 / received as f64),
        note: note.trim().to_string(),
    }
}

fn mbit(rate: f64, size: usize) -> f64 {
    rate * size as f64 * 8.0 / 1e6
}

fn ms(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "-".into())
}

fn print_row(run: usize, sc: &Scenario, client: &str, o: &Outcome) {
    println!(
        "run {run} | {:>4} B | {:<24} | {client:<8} | sent {:>6}/{:<6} recv {:>6} | loss {:>6.2}% | \
         {:>8.0} pkt/s {:>7.2} Mbit/s | rtt avg {} p50 {} p99 {} ms | cpu {} us/pkt | {}",
        sc.size,
        sc.pacing.label(),
        o.sent,
        o.count,
        o.received,
        o.loss_pct(),
        o.rate,
        mbit(o.rate, sc.size),
        ms(o.rtt_avg),
        ms(o.rtt_p50),
        ms(o.rtt_p99),
        o.cpu_us.map(|c| format!("{c:.2}")).unwrap_or_else(|| "-".into()),
        o.note
    );
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn min_max(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(3usize);
    let scale = if args.iter().any(|a| a == "--quick") {
        5
    } else {
        1
    };
    for tool in ["turnserver", "turnutils_uclient"] {
        let ok = Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {tool}"))
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("turn_relay: {tool} not found (apt-get install coturn); skipping");
            return;
        }
    }
    let version = Command::new("turnserver")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    println!("coturn {version}; {runs} run(s); loopback; UDP; ChannelData");

    let mut scenarios = Vec::new();
    for size in [200, 1000] {
        scenarios.push(Scenario {
            size,
            count: 3000 / scale,
            pacing: Pacing::Interval(1),
        });
        scenarios.push(Scenario {
            size,
            count: 20_000 / scale,
            pacing: Pacing::Tick50,
        });
        for r in [25_000, 40_000] {
            scenarios.push(Scenario {
                size,
                count: r as u64 * 2 / scale,
                pacing: Pacing::Fixed(r),
            });
        }
        scenarios.push(Scenario {
            size,
            count: 50_000 / scale,
            pacing: Pacing::Unpaced,
        });
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let turn = Coturn::start(Auth::Static, &[]);
    let peer = EchoPeer::start();
    // results[scenario][client] = outcomes across runs.
    let mut results: Vec<[Vec<Outcome>; 2]> = vec![Default::default(); scenarios.len()];
    for run in 1..=runs {
        for (i, sc) in scenarios.iter().enumerate() {
            // Alternate who goes first, so neither always runs on a warmer (or busier) box.
            let pinhole_first = run % 2 == 0;
            let run_uclient = matches!(sc.pacing, Pacing::Interval(_));
            if sc.pacing == Pacing::Tick50 {
                // uclient first: Pinhole is paced at the rate it reached.
                let o = uclient(&turn, &peer, *sc);
                print_row(run, sc, "uclient", &o);
                let matched = Scenario {
                    pacing: Pacing::Rate(o.rate.max(1.0)),
                    ..*sc
                };
                results[i][0].push(o);
                let o = rt.block_on(pinhole(&turn, &peer, matched));
                print_row(run, &matched, "pinhole", &o);
                results[i][1].push(o);
                continue;
            }
            if pinhole_first {
                let o = rt.block_on(pinhole(&turn, &peer, *sc));
                print_row(run, sc, "pinhole", &o);
                results[i][1].push(o);
            }
            if run_uclient {
                let o = uclient(&turn, &peer, *sc);
                print_row(run, sc, "uclient", &o);
                results[i][0].push(o);
            }
            if !pinhole_first {
                let o = rt.block_on(pinhole(&turn, &peer, *sc));
                print_row(run, sc, "pinhole", &o);
                results[i][1].push(o);
            }
        }
    }

    println!(
        "\n| Size | Pacing | Client | Sent / recv (all runs) | Loss % (median, max) | \
         pkt/s median (min-max) | Mbit/s median | RTT avg ms |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (sc, per_client) in scenarios.iter().zip(&results) {
        for (name, os) in ["turnutils_uclient", "Pinhole"].iter().zip(per_client) {
            if os.is_empty() {
                continue;
            }
            let sent: u64 = os.iter().map(|o| o.sent).sum();
            let recv: u64 = os.iter().map(|o| o.received).sum();
            let loss: Vec<f64> = os.iter().map(Outcome::loss_pct).collect();
            let rate: Vec<f64> = os.iter().map(|o| o.rate).collect();
            let rtt: Vec<f64> = os.iter().filter_map(|o| o.rtt_avg).collect();
            let (lo, hi) = min_max(&rate);
            let (_, loss_max) = min_max(&loss);
            let r = median(rate.clone());
            println!(
                "| {} B | {} | {name} | {sent} / {recv} | {:.2}, {:.2} | {r:.0} ({lo:.0}-{hi:.0}) | \
                 {:.2} | {} |",
                sc.size,
                sc.pacing.label(),
                median(loss),
                loss_max,
                mbit(r, sc.size),
                if rtt.is_empty() {
                    "-".into()
                } else {
                    format!("{:.2}", median(rtt))
                },
            );
        }
    }
}
