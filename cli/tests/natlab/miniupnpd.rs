//! miniupnpd: a real UPnP-IGD / NAT-PMP / PCP server on side 0's router (NAT-LAB.md,
//! "miniupnpd"): its nftables chains, an RFC 5780 STUN server in the public namespace for
//! its WAN test, and the config keys verified on miniupnpd-nftables 2.3.1.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Lab, SERVER_IP_1, SERVER_IP_2};

/// miniupnpd on side 0's router, with its lease file and log.
pub struct Miniupnpd {
    pub lease_file: std::path::PathBuf,
    pub log_file: std::path::PathBuf,
}

impl Miniupnpd {
    /// The lease file's lines: `UDP:ext_port:client_ip:int_port:expiry_unix:description`.
    pub fn leases(&self) -> Vec<String> {
        std::fs::read_to_string(&self.lease_file)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_file).unwrap_or_default()
    }
}

impl Lab {
    /// Starts miniupnpd (NAT-PMP, PCP and UPnP-IGD on the router's LAN address) in front
    /// of side 0's NAT; returns once it serves. Needs `miniupnpd-nftables`.
    pub fn start_miniupnpd(&mut self, pinhole: &str) -> Miniupnpd {
        let found = Command::new("sh")
            .args(["-c", "command -v miniupnpd || test -x /usr/sbin/miniupnpd"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        assert!(
            found,
            "`miniupnpd` not found: apt-get install miniupnpd-nftables (or run scripts/install-deps.sh)"
        );
        let (router, lan_if, wan_if, wan_ip, lan_ip) = {
            let s = &self.sides[0];
            (
                s.router.clone(),
                s.lan_if.clone(),
                s.wan_if.clone(),
                s.wan_ip,
                s.router_lan_ip,
            )
        };
        // A home router translates its LAN, not itself (else miniupnpd's own STUN test
        // sees a symmetric NAT and disables forwarding); the STUN answers from the
        // alternate address are new flows to conntrack: let them in.
        self.exec_ok(
            &router,
            &[
                "nft", "insert", "rule", "ip", "lab_nat", "post", "ip", "saddr", wan_ip, "accept",
            ],
        );
        let accept_stun = format!(
            "insert rule inet lab_in input iifname \"{wan_if}\" ip saddr {{ {SERVER_IP_1}, {SERVER_IP_2} }} udp sport {{ 3478, 3479 }} accept"
        );
        self.exec_ok(&router, &["nft", &accept_stun]);
        // The chains miniupnpd fills (its packaged init script is incomplete).
        self.load_nft(
            &router,
            "table inet filter {
  chain forward { type filter hook forward priority filter; policy accept; jump miniupnpd; }
  chain miniupnpd { }
}
table inet nat {
  chain prerouting { type nat hook prerouting priority dstnat; policy accept; jump prerouting_miniupnpd; }
  chain postrouting { type nat hook postrouting priority srcnat - 5; policy accept; jump postrouting_miniupnpd; }
  chain prerouting_miniupnpd { }
  chain postrouting_miniupnpd { }
}
",
        );
        let public = self.public.clone();
        let bind = format!("{SERVER_IP_1}:3478");
        let alt = format!("{SERVER_IP_2}:3479");
        self.spawn(
            &public,
            &[pinhole, "stun-server", "--bind", &bind, "--alt", &alt],
        );
        let base = std::env::temp_dir().join(format!("{router}-miniupnpd"));
        let conf = base.with_extension("conf");
        let lease_file = base.with_extension("leases");
        let log_file = base.with_extension("log");
        let pid_file = base.with_extension("pid");
        std::fs::write(
            &conf,
            format!(
                "ext_ifname={wan_if}
listening_ip={lan_if}
http_port=5000
enable_natpmp=yes
enable_upnp=yes
secure_mode=yes
system_uptime=no
ext_perform_stun=yes
ext_stun_host={SERVER_IP_1}
ext_stun_port=3478
upnp_table_name=filter
upnp_nat_table_name=nat
upnp_forward_chain=miniupnpd
upnp_nat_chain=prerouting_miniupnpd
upnp_nat_postrouting_chain=postrouting_miniupnpd
min_lifetime=10
max_lifetime=86400
lease_file={}
uuid=3d3cec3a-8cf0-11e0-98ee-001a6bd2d07b
allow 1024-65535 10.1.0.0/24 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
",
                lease_file.display()
            ),
        )
        .unwrap();
        let _ = std::fs::write(&lease_file, "");
        self.files.extend([
            conf.clone(),
            lease_file.clone(),
            log_file.clone(),
            pid_file.clone(),
        ]);
        let log = std::fs::File::create(&log_file).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &router, "miniupnpd", "-d", "-f"])
            .arg(&conf)
            .arg("-P")
            .arg(&pid_file)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn miniupnpd in {router}: {e}"));
        self.children.push(child);
        let m = Miniupnpd {
            lease_file,
            log_file,
        };
        // Its WAN test (STUN, a few seconds) must pass before it forwards anything.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let log = m.log();
            if log.contains("Port forwarding is now enabled")
                && log.contains("Listening for NAT-PMP/PCP traffic")
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "miniupnpd in {router} did not come up within 30 s (LAN {lan_ip}):\n{log}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        m
    }

    /// The router's nftables ruleset, as `nft list ruleset` prints it.
    pub fn nft_ruleset(&self, ns: &str) -> String {
        String::from_utf8_lossy(&self.exec(ns, &["nft", "list", "ruleset"]).stdout).into_owned()
    }

    /// Sends `payload` from a fresh UDP socket inside namespace `ns` to `to` and waits up
    /// to `wait` for one answer: (source, bytes). The socket lives on a thread that joined
    /// the namespace (setns affects only the calling thread).
    pub fn udp_exchange(
        &self,
        ns: &str,
        to: std::net::SocketAddr,
        payload: &[u8],
        wait: Duration,
    ) -> Option<(std::net::SocketAddr, Vec<u8>)> {
        let path = format!("/var/run/netns/{ns}");
        let payload = payload.to_vec();
        std::thread::spawn(move || {
            use std::os::fd::AsRawFd;
            let f = std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
            // SAFETY: setns on a valid namespace fd; affects only this thread.
            let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns({path}): {}", std::io::Error::last_os_error());
            let s = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
            s.set_read_timeout(Some(wait)).unwrap();
            s.send_to(&payload, to).unwrap();
            let mut buf = [0u8; 2048];
            s.recv_from(&mut buf)
                .ok()
                .map(|(n, from)| (from, buf[..n].to_vec()))
        })
        .join()
        .expect("udp_exchange thread")
    }

    /// Starts `argv` in `ns` with piped stdin and stdout (stderr inherited); killed when
    /// the lab is dropped. Returns its stdin and a channel of its stdout lines.
    pub fn spawn_piped(
        &mut self,
        ns: &str,
        argv: &[&str],
    ) -> (std::process::ChildStdin, std::sync::mpsc::Receiver<String>) {
        use std::io::BufRead;
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(argv)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {argv:?} in {ns}: {e}"));
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        self.children.push(child);
        (stdin, rx)
    }
}
