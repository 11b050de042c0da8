//! A real NAT64 in network namespaces: TAYGA (Debian package `tayga`, a stateless
//! NAT64 in user space on a tun device) plus Linux masquerade of TAYGA's dynamic pool,
//! which together make the stateful NAT64 of RFC 6146 that carriers run.
//!
//! ```text
//!  client  2001:db8:6::2/64, no IPv4 at all
//!    │
//!  router  2001:db8:6::1 ── tun "nat64" (TAYGA: PREFIX ⇄ pool 192.168.255.0/24)
//!          wan 203.0.113.2, masquerade ── server 203.0.113.1, IPv6 disabled,
//!                                          the servers' IPv4 addresses on lo
//! ```
//!
//! There is no DNS64: tests synthesize server addresses by hand, or give the client
//! namespace an `/etc/netns/<client>/hosts` entry for `ipv4only.arpa` (which `ip netns
//! exec` mounts over /etc/hosts), so the system resolver answers RFC 7050 discovery the way
//! a DNS64 would. Everything is deleted when the lab is dropped, even on panic.

use std::path::PathBuf;
use std::process::{Child, Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::{exec_ok_in, ip, require_root_and_tools, run_bounded_in, spawn_in};

/// The client's only global address.
pub const CLIENT_IP6: &str = "2001:db8:6::2";
/// The router's IPv4 address towards the servers: every mapped address shows it.
pub const ROUTER_WAN_IP: &str = "203.0.113.2";

static NEXT: AtomicU32 = AtomicU32::new(0);

/// One IPv6-only client, one NAT64 router, one IPv4-only server namespace.
pub struct Nat64Lab {
    pub client: String,
    pub router: String,
    pub server: String,
    /// The translation prefix TAYGA uses.
    pub prefix: String,
    dir: PathBuf,
    hosts_dir: PathBuf,
    children: Vec<Child>,
}

impl Nat64Lab {
    /// Builds the lab with TAYGA translating under `prefix` (e.g. `64:ff9b::/96`), and
    /// puts `server_ips` (IPv4) on the server namespace's loopback. Panics with what to
    /// install when TAYGA or root is missing: these tests never skip quietly.
    pub fn new(prefix: &str, server_ips: &[&str]) -> Nat64Lab {
        require_root_and_tools();
        let found = Command::new("sh")
            .args(["-c", "command -v tayga"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        assert!(
            found,
            "`tayga` not found: apt-get install tayga (scripts/install-deps.sh)"
        );
        let id = format!(
            "{}{}",
            std::process::id() % 100_000,
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut lab = Nat64Lab {
            client: format!("p6c{id}"),
            router: format!("p6r{id}"),
            server: format!("p6s{id}"),
            prefix: prefix.to_string(),
            dir: std::env::temp_dir().join(format!("pinhole-nat64-{id}")),
            hosts_dir: PathBuf::from(format!("/etc/netns/p6c{id}")),
            children: Vec::new(),
        };
        lab.build(&id, server_ips);
        lab
    }

    fn build(&mut self, id: &str, server_ips: &[&str]) {
        let (c, r, s) = (
            self.client.clone(),
            self.router.clone(),
            self.server.clone(),
        );
        for ns in [&c, &r, &s] {
            ip(&["netns", "add", ns]);
            exec_ok_in(ns, &["ip", "link", "set", "lo", "up"]);
        }
        let (c_if, rl_if, rw_if, s_if) = (
            format!("c6{id}"),
            format!("r6l{id}"),
            format!("r6w{id}"),
            format!("s6{id}"),
        );
        ip(&[
            "link", "add", &c_if, "netns", &c, "type", "veth", "peer", "name", &rl_if, "netns", &r,
        ]);
        ip(&[
            "link", "add", &rw_if, "netns", &r, "type", "veth", "peer", "name", &s_if, "netns", &s,
        ]);
        let lines = |ns: &str, script: &str| {
            for line in script.lines().map(str::trim).filter(|l| !l.is_empty()) {
                let argv: Vec<&str> = line.split_whitespace().collect();
                exec_ok_in(ns, &argv);
            }
        };
        lines(
            &c,
            &format!(
                "ip addr add {CLIENT_IP6}/64 dev {c_if} nodad
                 ip link set {c_if} up
                 ip -6 route add default via 2001:db8:6::1"
            ),
        );
        lines(
            &s,
            &format!(
                "sysctl -qw net.ipv6.conf.all.disable_ipv6=1
                 sysctl -qw net.ipv6.conf.default.disable_ipv6=1
                 ip addr add 203.0.113.1/24 dev {s_if}
                 ip link set {s_if} up"
            ),
        );
        for a in server_ips {
            exec_ok_in(&s, &["ip", "addr", "add", &format!("{a}/32"), "dev", "lo"]);
        }
        std::fs::create_dir_all(self.dir.join("data")).unwrap();
        let conf = self.dir.join("tayga.conf");
        std::fs::write(
            &conf,
            format!(
                "tun-device nat64\nipv4-addr 192.168.255.1\nipv6-addr 2001:db8:6::64\n\
                 prefix {}\ndynamic-pool 192.168.255.0/24\ndata-dir {}\n",
                self.prefix,
                self.dir.join("data").display()
            ),
        )
        .unwrap();
        let conf = conf.to_str().unwrap().to_string();
        lines(
            &r,
            &format!(
                "ip addr add 2001:db8:6::1/64 dev {rl_if} nodad
                 ip link set {rl_if} up
                 ip addr add {ROUTER_WAN_IP}/24 dev {rw_if}
                 ip link set {rw_if} up
                 ip route add default via 203.0.113.1
                 sysctl -qw net.ipv4.ip_forward=1
                 sysctl -qw net.ipv6.conf.all.forwarding=1
                 tayga -c {conf} --mktun
                 ip link set nat64 up
                 ip route add 192.168.255.0/24 dev nat64
                 ip route add {} dev nat64",
                self.prefix
            ),
        );
        // TAYGA's pool is private: the router masquerades it onto its WAN address, which
        // makes TAYGA's 1:1 translation the stateful, port-translating NAT64 of RFC 6146.
        let rules = format!(
            "table ip lab_nat64 {{ chain post {{ type nat hook postrouting priority srcnat; \
             oifname \"{rw_if}\" masquerade; }}; }}\n"
        );
        let path = self.dir.join("nat.nft");
        std::fs::write(&path, rules).unwrap();
        exec_ok_in(&r, &["nft", "-f", path.to_str().unwrap()]);
        let tayga = spawn_in(&r, &["tayga", "-c", &conf, "--nodetach"]);
        self.children.push(tayga);
    }

    /// Makes the client's resolver answer `ipv4only.arpa` as a DNS64 using `prefix`
    /// would: the two AAAA records embedding 192.0.0.170 and 192.0.0.171.
    pub fn serve_ipv4only_arpa(&self, answers: &[String]) {
        std::fs::create_dir_all(&self.hosts_dir).unwrap();
        let hosts: String = answers
            .iter()
            .map(|a| format!("{a} ipv4only.arpa\n"))
            .collect();
        std::fs::write(self.hosts_dir.join("hosts"), hosts).unwrap();
    }

    /// Starts a long-running process in `ns`; it is killed when the lab is dropped.
    pub fn spawn(&mut self, ns: &str, argv: &[&str]) {
        self.children.push(spawn_in(ns, argv));
    }

    /// Runs `argv` in `ns` with a hard time limit.
    pub fn run_bounded(&self, ns: &str, argv: &[&str], limit: Duration) -> Output {
        run_bounded_in(ns, argv, limit)
    }
}

impl Drop for Nat64Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in [&self.client, &self.router, &self.server] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        let _ = std::fs::remove_dir_all(&self.hosts_dir);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
