//! A real coturn on loopback for tests (Debian's `coturn` package): a config file written
//! into a temp dir (UDP, TCP and TLS listeners, a static user or a use-auth-secret realm,
//! a certificate made by the openssl CLI), killed on drop. Shared by core/tests/turn_coturn.rs
//! and cli/tests/connect_turn.rs (through `#[path]`).

#![allow(dead_code)] // each test binary uses a different subset

use std::net::{TcpListener, UdpSocket as StdUdp};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pinhole::turn::TransportKind;

pub const SECRET: &str = "rest-secret-42";

pub fn need(cmd: &str, package: &str) {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {cmd}"))
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "{cmd} not found: apt-get install {package}");
}

pub fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let d = std::env::temp_dir().join(format!(
        "pinhole-turn-{tag}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn run(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A test CA and a leaf for 127.0.0.1 / localhost signed by it (made once per process).
pub fn certs() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        need("openssl", "openssl");
        let d = temp_dir("certs");
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509"];
        ca.extend(ec);
        ca.extend([
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=pinhole test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        run(&d, &ca);
        let mut csr = vec!["req"];
        csr.extend(ec);
        csr.extend([
            "-keyout",
            "key.pem",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=localhost",
        ]);
        run(&d, &csr);
        std::fs::write(
            d.join("leaf.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        run(
            &d,
            &[
                "x509",
                "-req",
                "-in",
                "leaf.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "cert.pem",
                "-days",
                "2",
                "-extfile",
                "leaf.ext",
            ],
        );
        d
    })
}

/// A port free for both TCP and UDP on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    loop {
        let t = TcpListener::bind("127.0.0.1:0").unwrap();
        let p = t.local_addr().unwrap().port();
        if StdUdp::bind(("127.0.0.1", p)).is_ok() && p < 60000 {
            return p;
        }
    }
}

pub enum Auth {
    /// Long-term credentials: static user pinhole:secret, realm pinhole.test.
    Static,
    /// TURN REST API (use-auth-secret), realm rest.test.
    RestSecret,
}

pub struct Coturn {
    child: Child,
    /// Its temp dir (config, log); removed on drop.
    pub dir: PathBuf,
    pub port: u16,
    pub tls_port: u16,
}

impl Coturn {
    pub fn start(auth: Auth, extra: &[&str]) -> Coturn {
        Coturn::start_at(free_port(), free_port(), auth, extra)
    }

    /// Like `start`, on given (free) listening ports: for servers that must know each
    /// other's address before they start.
    pub fn start_at(port: u16, tls_port: u16, auth: Auth, extra: &[&str]) -> Coturn {
        need("turnserver", "coturn");
        let certs = certs();
        let dir = temp_dir("coturn");
        let relay = 20000 + (port % 20) as u32 * 1000;
        let mut conf = format!(
            "listening-ip=127.0.0.1\nrelay-ip=127.0.0.1\nlistening-port={port}\n\
             tls-listening-port={tls_port}\nmin-port={relay}\nmax-port={}\n\
             cert={}\npkey={}\nno-dtls\nno-cli\nallow-loopback-peers\nfingerprint\nverbose\n\
             log-file={}\nsimple-log\nno-stdout-log\npidfile={}\nuserdb={}\n",
            relay + 999,
            certs.join("cert.pem").display(),
            certs.join("key.pem").display(),
            dir.join("turn.log").display(),
            dir.join("turn.pid").display(),
            dir.join("turndb").display(),
        );
        match auth {
            Auth::Static => {
                conf.push_str("lt-cred-mech\nuser=pinhole:secret\nrealm=pinhole.test\n")
            }
            Auth::RestSecret => conf.push_str(&format!(
                "use-auth-secret\nstatic-auth-secret={SECRET}\nrealm=rest.test\n"
            )),
        }
        for e in extra {
            conf.push_str(e);
            conf.push('\n');
        }
        let path = dir.join("turnserver.conf");
        std::fs::write(&path, conf).unwrap();
        let child = Command::new("turnserver")
            .arg("-c")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("turnserver starts");
        let c = Coturn {
            child,
            dir,
            port,
            tls_port,
        };
        c.wait_ready();
        c
    }

    pub fn wait_ready(&self) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            let tcp = std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok();
            let tls = std::net::TcpStream::connect(("127.0.0.1", self.tls_port)).is_ok();
            if tcp && tls {
                std::thread::sleep(Duration::from_millis(300));
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "turnserver did not listen within 10 s; log:\n{}",
            self.log()
        );
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("turn.log")).unwrap_or_default()
    }

    /// Waits (up to 10 s) until `needle` occurs at least `times` times in the log: for
    /// what coturn does on its own clock, such as deleting a closed allocation.
    pub fn wait_for_log(&self, needle: &str, times: usize) {
        let start = Instant::now();
        while self.log().matches(needle).count() < times {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{needle:?} not {times} times in the log within 10 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self, t: TransportKind) -> String {
        match t {
            TransportKind::Udp => format!("turn:127.0.0.1:{}?transport=udp", self.port),
            TransportKind::Tcp => format!("turn:127.0.0.1:{}?transport=tcp", self.port),
            TransportKind::Tls => format!("turns:127.0.0.1:{}", self.tls_port),
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
