//! What the data path costs, measured side by side in one run (a scenario runner that prints
//! figures, not criterion; see BENCHMARKS.md, "Data path"):
//!
//! - **raw UDP**: two plain sockets on loopback, one echoing: the physical floor.
//! - **Session, Rust API**: two `pinhole::runtime::Session`s on loopback (direct path), one
//!   echoing, driven from two OS threads with the sync calls (`send`, `try_recv_into`) and a
//!   wake-up eventfd, on a one-thread runtime.
//! - **Session, callbacks**: the same sessions delivering to a `Listener` on Pinhole's
//!   runtime thread, which echoes (or sends the next datagram) from the callback: no
//!   application thread, no wake-up descriptor in the path.
//! - **Session, C API**: the same through `libpinhole_ffi`'s C functions
//!   (`pinhole_session_send`, `pinhole_session_recv`, `pinhole_session_wakeup_fd`) on the C
//!   library's own one-thread runtime: the C ABI's overhead is the difference.
//! - **Session through TURN** (with `--turn`, needs coturn): both sessions relay-only through a
//!   coturn on loopback, so every datagram is ChannelData both ways.
//! - **Memory**: 1,000 idle connected sessions (500 pairs) in this process: heap (a counting
//!   allocator) and RSS per session, and the process's thread count.
//!
//! Every figure is per round trip (a datagram sent and echoed back): throughput in round
//! trips per second with a window of W datagrams in flight, and the CPU time of the whole
//! process (both ends, every thread: `getrusage(RUSAGE_SELF)`) divided by round trips.
//!
//! ```sh
//! cargo bench -p pinhole-bench --bench datapath                 # direct paths + memory
//! cargo bench -p pinhole-bench --bench datapath -- --turn       # + the TURN row (coturn)
//! cargo bench -p pinhole-bench --bench datapath -- --runs 5 --n 100000
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pinhole::runtime::{Delivery, Session};
use pinhole::session::{Event, RelayPolicy, SessionConfig, SessionState, TurnServer};

#[path = "../../core/tests/support/coturn.rs"]
mod coturn;

// ---------------------------------------------------------------------------------------
// Measurement helpers

/// Live heap bytes (allocations minus frees) of this process.
struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract is forwarded unchanged.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn cpu() -> Duration {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the zeroed struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn proc_status(key: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// An eventfd a thread can wait on.
struct Wake(RawFd);

impl Wake {
    fn new() -> Arc<Wake> {
        // SAFETY: plain syscall.
        Arc::new(Wake(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK) }))
    }
    fn signal(&self) {
        let one = 1u64;
        // SAFETY: 8 bytes from a live u64 to our eventfd.
        unsafe { libc::write(self.0, (&one as *const u64).cast(), 8) };
    }
    fn wait(&self, ms: i32) {
        wait_fd(self.0, ms);
        let mut v = 0u64;
        // SAFETY: 8 bytes into a live u64 from our non-blocking eventfd.
        unsafe { libc::read(self.0, (&mut v as *mut u64).cast(), 8) };
    }
}

fn wait_fd(fd: RawFd, ms: i32) {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd we own.
    unsafe { libc::poll(&mut p, 1, ms) };
}

#[derive(Clone, Copy, Debug)]
struct Figures {
    rt_per_s: f64,
    cpu_us_per_rt: f64,
}

/// Runs `client` (which must complete `n` round trips) and reports the figures.
fn measure(n: usize, client: impl FnOnce()) -> Figures {
    let (c0, t0) = (cpu(), Instant::now());
    client();
    let (c1, t1) = (cpu(), Instant::now());
    Figures {
        rt_per_s: n as f64 / (t1 - t0).as_secs_f64(),
        cpu_us_per_rt: (c1 - c0).as_secs_f64() * 1e6 / n as f64,
    }
}

// ---------------------------------------------------------------------------------------
// The client loop shared by every variant: keep `window` datagrams in flight.

trait Endpoint: Send {
    fn send(&self, data: &[u8]);
    /// Waits up to `ms` for something, then reads every queued datagram.
    fn recv_all(&self, ms: i32, f: &mut dyn FnMut(&[u8]));
    /// What a stall report shows (the session's statistics, where there is one).
    fn describe(&self) -> String {
        String::new()
    }
}

fn client_loop(ep: &dyn Endpoint, n: usize, window: usize, size: usize) {
    let payload = vec![b'x'; size];
    let (mut sent, mut got) = (0usize, 0usize);
    let deadline = Instant::now() + Duration::from_secs(120);
    while got < n {
        while sent < n && sent - got < window {
            ep.send(&payload);
            sent += 1;
        }
        ep.recv_all(100, &mut |_| got += 1);
        assert!(
            Instant::now() < deadline,
            "stalled at {got}/{n} ({sent} sent): {}",
            ep.describe()
        );
        if got + window <= sent {
            continue;
        }
        // A datagram lost on loopback (a full buffer) would stall the window: resend.
        if sent >= n && got < n {
            ep.recv_all(200, &mut |_| got += 1);
            if got < n {
                sent = got;
            }
        }
    }
}

fn echo_thread(ep: Arc<dyn Endpoint + Sync>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            ep.recv_all(50, &mut |d| ep.send(d));
        }
    })
}

// ---------------------------------------------------------------------------------------
// Raw UDP

struct Raw(UdpSocket);

impl Endpoint for Raw {
    fn send(&self, data: &[u8]) {
        let _ = self.0.send(data);
    }
    fn recv_all(&self, ms: i32, f: &mut dyn FnMut(&[u8])) {
        use std::os::fd::AsRawFd;
        wait_fd(self.0.as_raw_fd(), ms);
        let mut buf = [0u8; 2048];
        while let Ok(n) = self.0.recv(&mut buf) {
            f(&buf[..n]);
        }
    }
}

fn raw(n: usize, window: usize, size: usize) -> Figures {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    a.connect(b.local_addr().unwrap()).unwrap();
    b.connect(a.local_addr().unwrap()).unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let echo = echo_thread(Arc::new(Raw(b)), stop.clone());
    let f = measure(n, || client_loop(&Raw(a), n, window, size));
    stop.store(true, Ordering::Relaxed);
    echo.join().unwrap();
    f
}

// ---------------------------------------------------------------------------------------
// Session, Rust API

struct RustEp {
    s: Session,
    wake: Arc<Wake>,
}

impl Endpoint for RustEp {
    fn send(&self, data: &[u8]) {
        let _ = self.s.send(data);
    }
    fn recv_all(&self, ms: i32, f: &mut dyn FnMut(&[u8])) {
        self.wake.wait(ms);
        let mut buf = [0u8; 2048];
        while let Some(n) = self.s.try_recv_into(&mut buf) {
            f(&buf[..n.min(buf.len())]);
        }
    }
}

fn loopback() -> SessionConfig {
    SessionConfig::default()
        .with_bind(IpAddr::V4(Ipv4Addr::LOCALHOST))
        .with_receive_queue(4096)
}

fn start_rust(rt: &tokio::runtime::Runtime, config: SessionConfig) -> RustEp {
    let wake = Wake::new();
    let w = wake.clone();
    let on_ready: Arc<dyn Fn() + Send + Sync> = Arc::new(move || w.signal());
    let s = Session::start_on(
        rt.handle(),
        config,
        Delivery::Queue {
            on_ready: Some(on_ready),
        },
    )
    .unwrap();
    RustEp { s, wake }
}

/// Relays the two sessions' signaling until both are connected.
fn connect_pair(a: &Session, b: &Session, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        for (from, to) in [(a, b), (b, a)] {
            while let Some(e) = from.try_next_event() {
                if let Event::Signal(m) = e {
                    let _ = to.handle_signal(&m.to_json());
                }
            }
        }
        if a.state() == SessionState::Connected && b.state() == SessionState::Connected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not connected: {}",
            a.stats().to_json()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn session_rust(
    rt: &tokio::runtime::Runtime,
    cfg: impl Fn() -> SessionConfig,
    n: usize,
    window: usize,
    size: usize,
) -> Figures {
    let a = start_rust(rt, cfg());
    let b = Arc::new(start_rust(rt, cfg()));
    connect_pair(&a.s, &b.s, Duration::from_secs(20));
    let stop = Arc::new(AtomicBool::new(false));
    let echo = echo_thread(b.clone(), stop.clone());
    let f = measure(n, || client_loop(&a, n, window, size));
    stop.store(true, Ordering::Relaxed);
    echo.join().unwrap();
    f
}

// ---------------------------------------------------------------------------------------
// Session, Rust API, callbacks on Pinhole's thread: no application thread in the path.

/// Echoes (the echo side) or counts and keeps the window full (the client side), from the
/// session's own runtime thread.
struct Echo {
    session: std::sync::OnceLock<Arc<Session>>,
    client: Option<(
        usize,
        std::sync::atomic::AtomicUsize,
        std::sync::atomic::AtomicUsize,
    )>,
    done: Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>,
    events: std::sync::Mutex<Vec<Event>>,
}

impl pinhole::runtime::Listener for Echo {
    fn on_event(&self, event: Event) {
        self.events.lock().unwrap().push(event);
    }
    fn on_datagram(&self, data: &[u8]) {
        let Some(s) = self.session.get() else { return };
        match &self.client {
            None => {
                let _ = s.send(data);
            }
            Some((n, sent, got)) => {
                let g = got.fetch_add(1, Ordering::Relaxed) + 1;
                if sent.load(Ordering::Relaxed) < *n {
                    sent.fetch_add(1, Ordering::Relaxed);
                    let _ = s.send(data);
                }
                if g == *n {
                    let (m, c) = &*self.done;
                    *m.lock().unwrap() = true;
                    c.notify_all();
                }
            }
        }
    }
}

fn session_listener(rt: &tokio::runtime::Runtime, n: usize, window: usize, size: usize) -> Figures {
    let done = Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
    let mk = |client: bool| {
        Arc::new(Echo {
            session: std::sync::OnceLock::new(),
            client: client.then(|| {
                (
                    n,
                    std::sync::atomic::AtomicUsize::new(0),
                    std::sync::atomic::AtomicUsize::new(0),
                )
            }),
            done: done.clone(),
            events: std::sync::Mutex::new(Vec::new()),
        })
    };
    let (la, lb) = (mk(true), mk(false));
    let a = Arc::new(
        Session::start_on(rt.handle(), loopback(), Delivery::Listener(la.clone())).unwrap(),
    );
    let b = Arc::new(
        Session::start_on(rt.handle(), loopback(), Delivery::Listener(lb.clone())).unwrap(),
    );
    let _ = la.session.set(a.clone());
    let _ = lb.session.set(b.clone());
    // Signaling from the events the listeners collected.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = (0, 0);
    while a.state() != SessionState::Connected || b.state() != SessionState::Connected {
        for (l, to, k) in [(&la, &b, &mut seen.0), (&lb, &a, &mut seen.1)] {
            let ev = l.events.lock().unwrap();
            for e in &ev[*k..] {
                if let Event::Signal(m) = e {
                    let _ = to.handle_signal(&m.to_json());
                }
            }
            *k = ev.len();
        }
        assert!(Instant::now() < deadline, "listener sessions not connected");
        std::thread::sleep(Duration::from_millis(1));
    }
    let payload = vec![b'x'; size];
    measure(n, || {
        let (_, sent, _) = la.client.as_ref().unwrap();
        for _ in 0..window.min(n) {
            sent.fetch_add(1, Ordering::Relaxed);
            let _ = a.send(&payload);
        }
        let (m, c) = &*done;
        let mut finished = m.lock().unwrap();
        let limit = Instant::now() + Duration::from_secs(120);
        while !*finished {
            assert!(Instant::now() < limit, "listener run stalled");
            finished = c
                .wait_timeout(finished, Duration::from_millis(100))
                .unwrap()
                .0;
        }
    })
}

// ---------------------------------------------------------------------------------------
// Session, C API

mod c {
    use super::*;
    use pinhole_ffi::*;

    pub(super) struct CEp {
        pub(super) s: *mut PinholeSession,
        fd: i32,
    }

    // SAFETY: runtime sessions' C functions may be called from any thread (header contract).
    unsafe impl Send for CEp {}
    // SAFETY: as above.
    unsafe impl Sync for CEp {}

    impl Endpoint for CEp {
        fn send(&self, data: &[u8]) {
            // SAFETY: a live session; data valid for the call.
            let status = unsafe { pinhole_session_send(self.s, data.as_ptr(), data.len()) };
            assert_eq!(
                status,
                PinholeStatus::Ok,
                "{}",
                // SAFETY: a static or thread-local NUL-terminated string.
                unsafe { std::ffi::CStr::from_ptr(pinhole_last_error_message()) }.to_string_lossy()
            );
        }
        fn recv_all(&self, ms: i32, f: &mut dyn FnMut(&[u8])) {
            wait_fd(self.fd, ms);
            let mut buf = [0u8; 2048];
            let mut n = 0usize;
            // SAFETY: a live session, a buffer we own.
            unsafe {
                pinhole_session_clear_wakeup(self.s);
                while pinhole_session_recv(self.s, buf.as_mut_ptr(), buf.len(), &mut n)
                    == PinholeStatus::Ok
                {
                    f(&buf[..n.min(buf.len())]);
                }
            }
        }
        fn describe(&self) -> String {
            self.stats()
        }
    }

    impl CEp {
        fn stats(&self) -> String {
            let mut out = std::ptr::null_mut();
            // SAFETY: a live session; the string is freed once.
            unsafe {
                if pinhole_session_stats_json(self.s, &mut out) != PinholeStatus::Ok {
                    return String::new();
                }
                let text = std::ffi::CStr::from_ptr(out).to_string_lossy().into_owned();
                pinhole_string_free(out);
                text
            }
        }
    }

    impl Drop for CEp {
        fn drop(&mut self) {
            // SAFETY: freed once.
            unsafe { pinhole_session_free(self.s) };
        }
    }

    pub(super) fn start() -> CEp {
        // SAFETY: the documented C sequence, out-parameters we own.
        unsafe {
            let mut cfg = std::ptr::null_mut();
            assert_eq!(pinhole_config_new(&mut cfg), PinholeStatus::Ok);
            let ip = std::ffi::CString::new("127.0.0.1").unwrap();
            assert_eq!(
                pinhole_config_add_bind_address(cfg, ip.as_ptr()),
                PinholeStatus::Ok
            );
            assert_eq!(
                pinhole_config_set_receive_queue(cfg, 4096),
                PinholeStatus::Ok
            );
            let mut s = std::ptr::null_mut();
            assert_eq!(pinhole_session_new(cfg, &mut s), PinholeStatus::Ok);
            pinhole_config_free(cfg);
            let mut fd = -1;
            assert_eq!(pinhole_session_wakeup_fd(s, &mut fd), PinholeStatus::Ok);
            CEp { s, fd }
        }
    }

    fn state(s: *mut PinholeSession) -> PinholeState {
        let mut st = PinholeState::New;
        // SAFETY: a live session.
        unsafe { pinhole_session_state(s, &mut st) };
        st
    }

    pub(super) fn connect(a: &CEp, b: &CEp) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            for (from, to) in [(a, b), (b, a)] {
                // SAFETY: live sessions; events freed once.
                unsafe {
                    let mut ev = std::ptr::null_mut();
                    while pinhole_session_poll_event(from.s, &mut ev) == PinholeStatus::Ok {
                        if pinhole_event_kind(ev) == PinholeEventKind::Signal {
                            let (mut p, mut n) = (std::ptr::null(), 0usize);
                            pinhole_event_text(ev, &mut p, &mut n);
                            pinhole_session_handle_signal(to.s, p, n);
                        }
                        pinhole_event_free(ev);
                    }
                }
            }
            if state(a.s) == PinholeState::Connected && state(b.s) == PinholeState::Connected {
                return;
            }
            assert!(Instant::now() < deadline, "C sessions not connected");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

fn session_c(n: usize, window: usize, size: usize) -> Figures {
    let a = c::start();
    let b = Arc::new(c::start());
    c::connect(&a, &b);
    let stop = Arc::new(AtomicBool::new(false));
    let echo = echo_thread(b.clone(), stop.clone());
    let f = measure(n, || client_loop(&a, n, window, size));
    stop.store(true, Ordering::Relaxed);
    echo.join().unwrap();
    f
}

// ---------------------------------------------------------------------------------------
// Memory

fn memory(rt: &tokio::runtime::Runtime, sessions: usize) -> (f64, f64, u64) {
    let (heap0, rss0) = (LIVE.load(Ordering::Relaxed), proc_status("VmRSS:"));
    let mut pairs = Vec::new();
    for _ in 0..sessions / 2 {
        let a = Session::start_on(
            rt.handle(),
            loopback().with_receive_queue(256),
            Delivery::default(),
        )
        .unwrap();
        let b = Session::start_on(
            rt.handle(),
            loopback().with_receive_queue(256),
            Delivery::default(),
        )
        .unwrap();
        connect_pair(&a, &b, Duration::from_secs(20));
        pairs.push((a, b));
    }
    // Idle: let the first consent round pass.
    std::thread::sleep(Duration::from_secs(2));
    let heap = (LIVE.load(Ordering::Relaxed) - heap0) as f64 / sessions as f64;
    let rss = (proc_status("VmRSS:") - rss0) as f64 * 1024.0 / sessions as f64;
    let threads = proc_status("Threads:");
    for (a, b) in &pairs {
        assert_eq!(a.state(), SessionState::Connected);
        assert_eq!(b.state(), SessionState::Connected);
    }
    drop(pairs);
    (heap, rss, threads)
}

// ---------------------------------------------------------------------------------------

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: usize| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (runs, n, window, size) = (
        arg("--runs", 3),
        arg("--n", 50_000),
        arg("--window", 16),
        arg("--size", 200),
    );
    let turn = args.iter().any(|a| a == "--turn");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "data path: {n} round trips of {size} B, window {window}, {runs} runs; median (min-max)"
    );
    let mut rows: Vec<(&str, Vec<Figures>)> = vec![
        ("raw UDP", vec![]),
        ("Session, Rust API", vec![]),
        ("Session, C API", vec![]),
        ("Session, Rust API, callbacks on Pinhole's thread", vec![]),
    ];
    if turn {
        rows.push(("Session through TURN (coturn)", vec![]));
    }
    let server = turn.then(|| {
        coturn::Coturn::start(
            coturn::Auth::Static,
            &["--allow-loopback-peers", "--no-tls", "--no-dtls"],
        )
    });
    for run in 1..=runs {
        eprintln!("run {run}: {}", rows[0].0);
        rows[0].1.push(raw(n, window, size));
        eprintln!("run {run}: {}", rows[1].0);
        rows[1].1.push(session_rust(&rt, loopback, n, window, size));
        eprintln!("run {run}: {}", rows[2].0);
        rows[2].1.push(session_c(n, window, size));
        eprintln!("run {run}: {}", rows[3].0);
        rows[3].1.push(session_listener(&rt, n, window, size));
        if let Some(c) = &server {
            eprintln!("run {run}: {}", rows[4].0);
            let url = c.url(pinhole::turn::TransportKind::Udp);
            let cfg = || {
                loopback()
                    .with_turn_server(TurnServer::new(url.clone(), "pinhole", "secret"))
                    .with_relay_policy(RelayPolicy::RelayOnly)
            };
            rows[4].1.push(session_rust(&rt, cfg, n / 2, window, size));
        }
    }
    println!("| path | round trips/s | CPU µs per round trip (both ends) |");
    println!("|---|---|---|");
    for (name, fs) in &rows {
        let r: Vec<f64> = fs.iter().map(|f| f.rt_per_s).collect();
        let c: Vec<f64> = fs.iter().map(|f| f.cpu_us_per_rt).collect();
        let (rmin, rmax) = (
            r.iter().cloned().fold(f64::MAX, f64::min),
            r.iter().cloned().fold(0.0, f64::max),
        );
        let (cmin, cmax) = (
            c.iter().cloned().fold(f64::MAX, f64::min),
            c.iter().cloned().fold(0.0, f64::max),
        );
        println!(
            "| {name} | {:.0} ({rmin:.0}-{rmax:.0}) | {:.2} ({cmin:.2}-{cmax:.2}) |",
            median(r.clone()),
            median(c.clone())
        );
    }
    let med = |i: usize, f: fn(&Figures) -> f64| median(rows[i].1.iter().map(f).collect());
    println!(
        "C API vs Rust API: throughput {:+.1} %, CPU {:+.1} %; vs raw UDP, CPU: Session (queues) x{:.2}, Session (callbacks) x{:.2}",
        (med(2, |f| f.rt_per_s) / med(1, |f| f.rt_per_s) - 1.0) * 100.0,
        (med(2, |f| f.cpu_us_per_rt) / med(1, |f| f.cpu_us_per_rt) - 1.0) * 100.0,
        med(1, |f| f.cpu_us_per_rt) / med(0, |f| f.cpu_us_per_rt),
        med(3, |f| f.cpu_us_per_rt) / med(0, |f| f.cpu_us_per_rt),
    );
    let (heap, rss, threads) = memory(&rt, 1000);
    println!(
        "memory: 1000 idle connected sessions: heap {:.1} KiB/session, RSS {:.1} KiB/session, {threads} threads in the process",
        heap / 1024.0,
        rss / 1024.0
    );
}
