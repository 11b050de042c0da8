//! Shared harness for the tests that drive real processes on loopback: child processes that
//! are always killed (even when the test panics), temporary directories that are always
//! removed, free-port picking, time-bounded one-shot runs, and a tiny hand-built STUN
//! client used to wait for a server to answer and to check RFC 5780 behaviour at the
//! packet level.
//!
//! Every process is started under coreutils `timeout`, so even if the test binary itself is
//! SIGKILLed nothing outlives it by more than [`HARD_LIFETIME`].

#![allow(dead_code)] // each test binary uses a different subset

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const PINHOLE: &str = env!("CARGO_BIN_EXE_pinhole");

/// Longest any spawned process may live, whatever happens to the test binary.
pub const HARD_LIFETIME: Duration = Duration::from_secs(180);

pub const LO1: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
pub const LO2: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

// ---------------------------------------------------------------------------------------
// Tools

/// The absolute path of `tool`, or a panic naming the Debian package that provides it.
/// These tests never skip quietly: a missing tool is a failure the reader can fix.
pub fn require_tool(tool: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain(
        ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
            .iter()
            .map(PathBuf::from),
    );
    for dir in dirs {
        let candidate = dir.join(tool);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "`{tool}` is not installed: `sudo apt-get install {package}` (Debian package `{package}`), \
         or run scripts/install-deps.sh"
    );
}

// ---------------------------------------------------------------------------------------
// Temporary directories

static UNIQUE: AtomicU32 = AtomicU32::new(0);

fn unique_suffix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{}-{}-{nanos}",
        std::process::id(),
        UNIQUE.fetch_add(1, Ordering::Relaxed)
    )
}

/// A directory under the system temp dir, removed (with its contents) on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("pinhole-{prefix}-{}", unique_suffix()));
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

// ---------------------------------------------------------------------------------------
// Long-running processes

/// A spawned server process, killed and reaped on drop. Its stdout and stderr go to files in
/// a private temp dir so a chatty process can never block on a full pipe.
pub struct Proc {
    name: String,
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
    _dir: TempDir,
}

impl Proc {
    /// Starts `argv` (under `timeout`, see [`HARD_LIFETIME`]).
    pub fn spawn(name: &str, argv: &[&str]) -> Proc {
        Proc::spawn_in(name, argv, None)
    }

    /// Starts `argv` with `cwd` as its working directory.
    pub fn spawn_in(name: &str, argv: &[&str], cwd: Option<&Path>) -> Proc {
        let dir = TempDir::new(&format!("{name}-log"));
        let stdout = dir.path().join("stdout");
        let stderr = dir.path().join("stderr");
        let mut cmd = bounded_command(argv, HARD_LIFETIME);
        cmd.stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .env_remove("RUST_LOG");
        if let Some(cwd) = cwd {
            cmd.current_dir(cwd);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name} ({argv:?}): {e}"));
        Proc {
            name: name.to_string(),
            child,
            stdout,
            stderr,
            _dir: dir,
        }
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Both streams, for failure messages.
    pub fn logs(&self) -> String {
        format!(
            "--- {} stdout ---\n{}\n--- {} stderr ---\n{}",
            self.name,
            tail(&self.stdout(), 4000),
            self.name,
            tail(&self.stderr(), 4000)
        )
    }

    /// Panics (with the process's output) if it has already exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited early with {status}\n{}", self.name, self.logs());
        }
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}

/// SIGTERM first (coreutils `timeout` forwards it to its command), SIGKILL if that does not
/// end it within a second, then reap.
fn terminate(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn bounded_command(argv: &[&str], limit: Duration) -> Command {
    let mut cmd = Command::new("timeout");
    cmd.arg("--kill-after=3")
        .arg(format!("{}", limit.as_secs().max(1)))
        .args(argv);
    cmd
}

fn tail(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

// ---------------------------------------------------------------------------------------
// One-shot processes

/// What a bounded one-shot run produced.
#[derive(Debug)]
pub struct Run {
    pub argv: Vec<String>,
    /// `None` if it had to be killed at the deadline.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    pub fn timed_out(&self) -> bool {
        self.status.is_none()
    }

    /// A readable dump for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "{:?}\nexit: {:?} after {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.argv,
            self.status,
            self.elapsed,
            tail(&self.stdout, 6000),
            tail(&self.stderr, 3000)
        )
    }
}

/// Runs `argv` to completion, killing it at `limit`. Output is collected through files (no
/// pipe deadlocks) and returned even on timeout.
pub fn run_bounded(argv: &[&str], limit: Duration) -> Run {
    let dir = TempDir::new("run");
    let out_path = dir.path().join("stdout");
    let err_path = dir.path().join("stderr");
    // The `timeout` wrapper is a second line of defence: it fires a little after our own
    // deadline in case this thread is somehow stuck.
    let mut cmd = bounded_command(argv, limit + Duration::from_secs(5));
    cmd.stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .env_remove("RUST_LOG");
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {argv:?}: {e}"));
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if start.elapsed() >= limit => {
                terminate(&mut child);
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("wait for {argv:?}: {e}"),
        }
    };
    let elapsed = start.elapsed();
    let read = |p: &Path| {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(p) {
            let mut bytes = Vec::new();
            let _ = f.read_to_end(&mut bytes);
            s = String::from_utf8_lossy(&bytes).into_owned();
        }
        s
    };
    Run {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        status,
        stdout: read(&out_path),
        stderr: read(&err_path),
        elapsed,
    }
}

// ---------------------------------------------------------------------------------------
// Ports

static NEXT_PORT: AtomicU32 = AtomicU32::new(0);

/// Two UDP ports `p` and `p + gap`, both free (UDP and TCP) on both 127.0.0.1 and 127.0.0.2,
/// so that a server may listen on all four RFC 5780 transport addresses. Ports come from
/// 61000–64999: above Linux's default ephemeral range (32768–60999) and outside the
/// 16384–32767 range from which Debian's `stun` client picks its own ports.
pub fn free_port_pair(gap: u16) -> (u16, u16) {
    let seed = std::process::id().wrapping_mul(7919) % 3000;
    for _ in 0..2000 {
        let n = NEXT_PORT.fetch_add(1, Ordering::Relaxed);
        let p = 61000 + ((seed + n * 23) % 3980) as u16;
        let q = p + gap;
        if [p, q]
            .iter()
            .all(|&port| port_free(LO1, port) && port_free(LO2, port))
        {
            return (p, q);
        }
    }
    panic!("no free loopback port pair found");
}

/// One port free on 127.0.0.1 (UDP and TCP), with nothing listening on it.
pub fn free_port() -> u16 {
    free_port_pair(0).0
}

fn port_free(ip: Ipv4Addr, port: u16) -> bool {
    let addr = SocketAddr::new(IpAddr::V4(ip), port);
    UdpSocket::bind(addr).is_ok() && TcpListener::bind(addr).is_ok()
}

pub fn sa(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(ip), port)
}

// ---------------------------------------------------------------------------------------
// A tiny STUN client (RFC 5389 / 5780), enough to wait for servers and check behaviour.

pub const MAGIC_COOKIE: u32 = 0x2112_A442;
pub const BINDING_REQUEST: u16 = 0x0001;
pub const BINDING_SUCCESS: u16 = 0x0101;
pub const ATTR_MAPPED_ADDRESS: u16 = 0x0001;
pub const ATTR_CHANGE_REQUEST: u16 = 0x0003;
pub const ATTR_XOR_MAPPED_ADDRESS: u16 = 0x0020;
pub const ATTR_RESPONSE_ORIGIN: u16 = 0x802B;
pub const ATTR_OTHER_ADDRESS: u16 = 0x802C;
pub const CHANGE_IP: u32 = 0x04;
pub const CHANGE_PORT: u32 = 0x02;

pub fn random_txid() -> [u8; 12] {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut h = RandomState::new().build_hasher();
    h.write_u32(UNIQUE.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    let a = h.finish();
    h.write_u64(a);
    let b = h.finish();
    let mut t = [0u8; 12];
    t[..8].copy_from_slice(&a.to_be_bytes());
    t[8..].copy_from_slice(&b.to_be_bytes()[..4]);
    t
}

/// A Binding request; with `change` a CHANGE-REQUEST attribute carrying those flags.
pub fn binding_request(txid: [u8; 12], change: Option<u32>) -> Vec<u8> {
    let mut m = Vec::with_capacity(28);
    m.extend_from_slice(&BINDING_REQUEST.to_be_bytes());
    m.extend_from_slice(&(if change.is_some() { 8u16 } else { 0u16 }).to_be_bytes());
    m.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
    m.extend_from_slice(&txid);
    if let Some(flags) = change {
        m.extend_from_slice(&ATTR_CHANGE_REQUEST.to_be_bytes());
        m.extend_from_slice(&4u16.to_be_bytes());
        m.extend_from_slice(&flags.to_be_bytes());
    }
    m
}

/// A parsed STUN message and the transport address it came from.
#[derive(Debug, Clone)]
pub struct StunMsg {
    pub msg_type: u16,
    pub cookie: u32,
    pub txid: [u8; 12],
    pub attrs: Vec<(u16, Vec<u8>)>,
    pub from: SocketAddr,
}

impl StunMsg {
    pub fn parse(b: &[u8], from: SocketAddr) -> Result<StunMsg, String> {
        if b.len() < 20 {
            return Err(format!("{} bytes: shorter than a STUN header", b.len()));
        }
        let msg_type = u16::from_be_bytes([b[0], b[1]]);
        let len = u16::from_be_bytes([b[2], b[3]]) as usize;
        if b[0] & 0xC0 != 0 {
            return Err(format!(
                "first two bits set (type {msg_type:#06x}): not STUN"
            ));
        }
        if !len.is_multiple_of(4) || 20 + len != b.len() {
            return Err(format!(
                "length field {len} but datagram has {} bytes",
                b.len()
            ));
        }
        let cookie = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
        let mut txid = [0u8; 12];
        txid.copy_from_slice(&b[8..20]);
        let mut attrs = Vec::new();
        let mut i = 20;
        while i < b.len() {
            if i + 4 > b.len() {
                return Err(format!("truncated attribute header at offset {i}"));
            }
            let t = u16::from_be_bytes([b[i], b[i + 1]]);
            let l = u16::from_be_bytes([b[i + 2], b[i + 3]]) as usize;
            if i + 4 + l > b.len() {
                return Err(format!(
                    "attribute {t:#06x} of length {l} runs past the end"
                ));
            }
            attrs.push((t, b[i + 4..i + 4 + l].to_vec()));
            i += 4 + l + (4 - l % 4) % 4;
        }
        Ok(StunMsg {
            msg_type,
            cookie,
            txid,
            attrs,
            from,
        })
    }

    pub fn attr(&self, t: u16) -> Option<&[u8]> {
        self.attrs
            .iter()
            .find(|(k, _)| *k == t)
            .map(|(_, v)| v.as_slice())
    }

    /// A plain address attribute (MAPPED-ADDRESS, RESPONSE-ORIGIN, OTHER-ADDRESS), IPv4 only.
    pub fn addr(&self, t: u16) -> Option<SocketAddr> {
        let v = self.attr(t)?;
        if v.len() != 8 || v[1] != 0x01 {
            return None;
        }
        let port = u16::from_be_bytes([v[2], v[3]]);
        Some(sa(Ipv4Addr::new(v[4], v[5], v[6], v[7]), port))
    }

    /// XOR-MAPPED-ADDRESS, IPv4 only.
    pub fn xor_mapped(&self) -> Option<SocketAddr> {
        let v = self.attr(ATTR_XOR_MAPPED_ADDRESS)?;
        if v.len() != 8 || v[1] != 0x01 {
            return None;
        }
        let port = u16::from_be_bytes([v[2], v[3]]) ^ (MAGIC_COOKIE >> 16) as u16;
        let ip = u32::from_be_bytes([v[4], v[5], v[6], v[7]]) ^ MAGIC_COOKIE;
        Some(sa(Ipv4Addr::from(ip), port))
    }

    pub fn attr_types(&self) -> Vec<String> {
        self.attrs
            .iter()
            .map(|(t, _)| format!("{t:#06x}"))
            .collect()
    }
}

/// A UDP socket on 127.0.0.1 with an ephemeral port.
pub fn client_socket() -> UdpSocket {
    let s = UdpSocket::bind(sa(LO1, 0)).expect("bind client socket on 127.0.0.1");
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    s
}

/// Receives until a datagram that parses as STUN with `txid` arrives, or `wait` passes.
/// Other datagrams are ignored.
pub fn recv_matching(sock: &UdpSocket, txid: [u8; 12], wait: Duration) -> Option<StunMsg> {
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        sock.set_read_timeout(Some(left.min(Duration::from_millis(200))))
            .unwrap();
        match sock.recv_from(&mut buf) {
            Ok((n, from)) => {
                if let Ok(m) = StunMsg::parse(&buf[..n], from) {
                    if m.txid == txid {
                        return Some(m);
                    }
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            // ICMP port unreachable from an earlier send shows up here; keep waiting.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("recv: {e}"),
        }
    }
    None
}

/// One Binding transaction from `sock` to `server`, retransmitted a few times.
pub fn binding(sock: &UdpSocket, server: SocketAddr, change: Option<u32>) -> Option<StunMsg> {
    let txid = random_txid();
    let req = binding_request(txid, change);
    for _ in 0..4 {
        let _ = sock.send_to(&req, server);
        if let Some(m) = recv_matching(sock, txid, Duration::from_millis(400)) {
            return Some(m);
        }
    }
    None
}

/// Waits until `server` answers a Binding request with a success response, or panics with
/// the server's output after `limit`. Panics at once if the server process exits.
pub fn wait_for_stun(server: SocketAddr, proc: &mut Proc, limit: Duration) {
    let sock = client_socket();
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        proc.assert_running();
        let txid = random_txid();
        let _ = sock.send_to(&binding_request(txid, None), server);
        if let Some(m) = recv_matching(&sock, txid, Duration::from_millis(150)) {
            if m.msg_type == BINDING_SUCCESS {
                return;
            }
        }
    }
    panic!(
        "no STUN Binding success from {server} within {limit:?}\n{}",
        proc.logs()
    );
}

// ---------------------------------------------------------------------------------------
// coturn

/// coturn started as an RFC 5780 STUN server on 127.0.0.1:P and 127.0.0.2:P (alternate port
/// P+1 on both, coturn's default), no TLS/DTLS, no CLI, its database, pid file and log in a
/// private temp dir. `-v --log-binding` makes it log each client's source address ("New UDP
/// endpoint: local addr A1:P1, remote addr ..."); without `--log-binding` it logs nothing.
pub struct Coturn {
    pub port: u16,
    pub proc: Proc,
    _dir: TempDir,
}

impl Coturn {
    pub fn start() -> Coturn {
        let turnserver = require_tool("turnserver", "coturn");
        let dir = TempDir::new("coturn");
        let (port, alt) = free_port_pair(1);
        let relay_min = port + 2;
        let d = dir.path().display().to_string();
        let args: Vec<String> = vec![
            turnserver.display().to_string(),
            "-n".into(),
            "-v".into(),
            "--log-binding".into(),
            "--no-cli".into(),
            "--no-tls".into(),
            "--no-dtls".into(),
            "--listening-ip=127.0.0.1".into(),
            "--listening-ip=127.0.0.2".into(),
            format!("--listening-port={port}"),
            format!("--alt-listening-port={alt}"),
            "--relay-ip=127.0.0.1".into(),
            format!("--min-port={relay_min}"),
            format!("--max-port={}", relay_min + 8),
            "--allow-loopback-peers".into(),
            "--log-file=stdout".into(),
            "--simple-log".into(),
            format!("--pidfile={d}/turnserver.pid"),
            format!("--db={d}/turndb"),
        ];
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut proc = Proc::spawn_in("coturn", &argv, Some(dir.path()));
        wait_for_stun(sa(LO1, port), &mut proc, Duration::from_secs(15));
        wait_for_stun(sa(LO2, alt), &mut proc, Duration::from_secs(5));
        Coturn {
            port,
            proc,
            _dir: dir,
        }
    }

    pub fn primary(&self) -> SocketAddr {
        sa(LO1, self.port)
    }

    pub fn alternate(&self) -> SocketAddr {
        sa(LO2, self.port + 1)
    }

    /// Whether coturn has logged `client` as a source address, waiting up to `wait` for its
    /// log to catch up.
    pub fn saw_client(&self, client: SocketAddr, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        loop {
            if self.seen_clients().contains(&client) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Client source addresses coturn has logged (`-v`: "New UDP endpoint ... remote addr X").
    pub fn seen_clients(&self) -> Vec<SocketAddr> {
        self.proc
            .stdout()
            .lines()
            .filter(|l| l.contains("New UDP endpoint"))
            .filter_map(|l| l.rsplit("remote addr ").next())
            .filter_map(|a| a.trim().parse().ok())
            .collect()
    }
}

/// `pinhole stun-server --bind 127.0.0.1:P --alt 127.0.0.2:Q`, waited for on both addresses.
pub struct PinholeStunServer {
    pub primary: SocketAddr,
    pub alternate: SocketAddr,
    pub proc: Proc,
}

impl PinholeStunServer {
    /// `gap` = Q - P. Deliberately not coturn's "+1" in some tests, so that a server which
    /// assumes it would be caught.
    pub fn start(gap: u16) -> PinholeStunServer {
        let (p, q) = free_port_pair(gap);
        let primary = sa(LO1, p);
        let alternate = sa(LO2, q);
        let (b, a) = (primary.to_string(), alternate.to_string());
        let mut proc = Proc::spawn(
            "pinhole-stun-server",
            &[PINHOLE, "stun-server", "--bind", &b, "--alt", &a],
        );
        wait_for_stun(primary, &mut proc, Duration::from_secs(15));
        wait_for_stun(alternate, &mut proc, Duration::from_secs(5));
        PinholeStunServer {
            primary,
            alternate,
            proc,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Two line-protocol processes wired stdout → stdin both ways (run to completion, or live)

mod live_pair;
mod pipe_pair;
#[allow(unused_imports)] // each test binary uses a different subset
pub use live_pair::{LivePair, Ticker};
#[allow(unused_imports)] // each test binary uses a different subset
pub use pipe_pair::{pipe_pair, PipeRun, PipeSide, TimedLine};

// ---------------------------------------------------------------------------------------
// Parsers for turnutils_natdiscovery and Debian's `stun` classifier

pub mod stun_tools;
