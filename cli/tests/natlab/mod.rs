//! A real-kernel NAT lab: network namespaces joined by veth pairs, with nftables NAT in a
//! router namespace (recipes verified in shared/NAT-LAB.md). Needs root.
//!
//! ```text
//!  client 10.1.0.2 ── router [lan 10.1.0.1 | wan 203.0.113.2] ── pub 203.0.113.1
//!                                                                servers on lo: 192.0.2.1, 192.0.2.2
//! ```
//! Every lab gets its own namespace names, sends traffic only between its namespaces, and
//! deletes everything it made when dropped, even when the test panics.

#![allow(dead_code)] // each test binary uses a different subset

use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const CLIENT_IP: &str = "10.1.0.2";
pub const ROUTER_WAN_IP: &str = "203.0.113.2";
pub const SERVER_IP_1: &str = "192.0.2.1";
pub const SERVER_IP_2: &str = "192.0.2.2";

/// How the router translates, in RFC 4787 terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nat {
    /// Plain routing: the client's address is public as far as the servers can tell.
    None,
    /// Endpoint-independent mapping and filtering.
    FullCone,
    /// Endpoint-independent mapping, address-dependent filtering.
    AddressRestricted,
    /// Endpoint-independent mapping, address-and-port-dependent filtering (Linux masquerade).
    PortRestricted,
    /// Address-and-port-dependent mapping with random ports.
    Symmetric,
}

impl Nat {
    /// The nftables ruleset for router interface names `lan`/`wan`.
    fn ruleset(self, wan: &str) -> String {
        // Without this, an unsolicited inbound packet gets an ICMP answer and leaves an
        // unreplied conntrack entry that changes later mappings (NAT-LAB.md "early probe").
        let input = format!(
            "table inet lab_in {{\n  chain input {{ type filter hook input priority filter; \
             iifname \"{wan}\" ct state new drop; }}\n}}\n"
        );
        let full_cone = |address_filter: bool| {
            let (peers_set, record_peer, filter) = if address_filter {
                (
                    "set peers { typeof udp dport . ip daddr; flags dynamic,timeout; timeout 30s; }",
                    format!("oifname \"{wan}\" meta l4proto udp update @peers {{ ct reply proto-dst . ip daddr }};"),
                    "udp dport . ip saddr @peers",
                )
            } else {
                ("", String::new(), "")
            };
            format!(
                "table ip fc {{
  map fc_map {{ typeof udp dport : ip saddr . udp sport; size 65535; flags dynamic,timeout; timeout 30s; }}
  {peers_set}
  chain post_nat {{ type nat hook postrouting priority srcnat; oifname \"{wan}\" masquerade; }}
  chain post_record {{ type filter hook postrouting priority srcnat + 1;
    oifname \"{wan}\" meta l4proto udp update @fc_map {{ ct reply proto-dst : ct original ip saddr . ct original proto-src }};
    {record_peer} }}
  chain pre_nat {{ type nat hook prerouting priority dstnat;
    iifname \"{wan}\" meta l4proto udp {filter} dnat ip to udp dport map @fc_map; }}
}}\n"
            )
        };
        let masquerade = |extra: &str| {
            format!(
                "table ip lab_nat {{\n  chain post {{ type nat hook postrouting priority srcnat; \
                 oifname \"{wan}\" masquerade {extra}; }}\n}}\n"
            )
        };
        match self {
            Nat::None => input,
            Nat::FullCone => input + &full_cone(false),
            Nat::AddressRestricted => input + &full_cone(true),
            Nat::PortRestricted => input + &masquerade(""),
            Nat::Symmetric => input + &masquerade("random,fully-random"),
        }
    }
}

static NEXT_LAB: AtomicU32 = AtomicU32::new(0);

pub struct Lab {
    pub nat: Nat,
    pub client: String,
    pub router: String,
    pub public: String,
    children: Vec<Child>,
}

impl Lab {
    /// Builds the topology with `nat` in the router. Panics with a clear message if the
    /// machine cannot (not root, no `ip`/`nft`): these tests must not skip quietly.
    pub fn new(nat: Nat) -> Lab {
        require_root_and_tools();
        let id = format!(
            "{}{}",
            std::process::id() % 100_000,
            NEXT_LAB.fetch_add(1, Ordering::Relaxed)
        );
        let lab = Lab {
            nat,
            client: format!("phc{id}"),
            router: format!("phr{id}"),
            public: format!("php{id}"),
            children: Vec::new(),
        };
        // Interface names are at most 15 bytes; keep them short and unique per lab.
        let (c_if, rl_if, rw_if, p_if) = (
            format!("c{id}"),
            format!("rl{id}"),
            format!("rw{id}"),
            format!("p{id}"),
        );
        for ns in [&lab.client, &lab.router, &lab.public] {
            ip(&["netns", "add", ns]);
            lab.exec_ok(ns, &["ip", "link", "set", "lo", "up"]);
        }
        ip(&[
            "link",
            "add",
            &c_if,
            "netns",
            &lab.client,
            "type",
            "veth",
            "peer",
            "name",
            &rl_if,
            "netns",
            &lab.router,
        ]);
        ip(&[
            "link",
            "add",
            &rw_if,
            "netns",
            &lab.router,
            "type",
            "veth",
            "peer",
            "name",
            &p_if,
            "netns",
            &lab.public,
        ]);

        lab.exec_ok(
            &lab.client,
            &["ip", "addr", "add", "10.1.0.2/24", "dev", &c_if],
        );
        lab.exec_ok(&lab.client, &["ip", "link", "set", &c_if, "up"]);
        lab.exec_ok(
            &lab.client,
            &["ip", "route", "add", "default", "via", "10.1.0.1"],
        );

        lab.exec_ok(
            &lab.router,
            &["ip", "addr", "add", "10.1.0.1/24", "dev", &rl_if],
        );
        lab.exec_ok(
            &lab.router,
            &["ip", "addr", "add", "203.0.113.2/24", "dev", &rw_if],
        );
        lab.exec_ok(&lab.router, &["ip", "link", "set", &rl_if, "up"]);
        lab.exec_ok(&lab.router, &["ip", "link", "set", &rw_if, "up"]);
        lab.exec_ok(
            &lab.router,
            &["ip", "route", "add", "default", "via", "203.0.113.1"],
        );
        lab.exec_ok(&lab.router, &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);

        lab.exec_ok(
            &lab.public,
            &["ip", "addr", "add", "203.0.113.1/24", "dev", &p_if],
        );
        lab.exec_ok(&lab.public, &["ip", "link", "set", &p_if, "up"]);
        lab.exec_ok(
            &lab.public,
            &["ip", "addr", "add", "192.0.2.1/32", "dev", "lo"],
        );
        lab.exec_ok(
            &lab.public,
            &["ip", "addr", "add", "192.0.2.2/32", "dev", "lo"],
        );
        if nat == Nat::None {
            // Without NAT the public side must route back to the client's LAN.
            lab.exec_ok(
                &lab.public,
                &["ip", "route", "add", "10.1.0.0/24", "via", "203.0.113.2"],
            );
        }
        lab.load_nft(&lab.router, &nat.ruleset(&rw_if));
        lab
    }

    /// Makes the router forget idle UDP mappings after `seconds`, as a carrier NAT does.
    /// The conntrack timeouts are per network namespace: the host is not touched.
    pub fn set_udp_timeout(&self, seconds: u32) {
        for key in [
            "nf_conntrack_udp_timeout",
            "nf_conntrack_udp_timeout_stream",
        ] {
            let setting = format!("net.netfilter.{key}={seconds}");
            self.exec_ok(&self.router, &["sysctl", "-qw", &setting]);
        }
    }

    fn load_nft(&self, ns: &str, rules: &str) {
        let path = std::env::temp_dir().join(format!("{ns}.nft"));
        std::fs::write(&path, rules).unwrap();
        let out = self.exec(ns, &["nft", "-f", path.to_str().unwrap()]);
        let _ = std::fs::remove_file(&path);
        assert!(
            out.status.success(),
            "nft -f failed in {ns}: {}\n{rules}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs a command inside namespace `ns` to completion.
    pub fn exec(&self, ns: &str, argv: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", ns])
            .args(argv)
            .output()
            .unwrap_or_else(|e| panic!("cannot run ip netns exec {ns} {argv:?}: {e}"))
    }

    fn exec_ok(&self, ns: &str, argv: &[&str]) {
        let out = self.exec(ns, argv);
        assert!(
            out.status.success(),
            "in {ns}: {argv:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs `argv` in `ns` with a hard time limit; the process is killed at the limit.
    pub fn run_bounded(&self, ns: &str, argv: &[&str], limit: Duration) -> Output {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(argv)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {argv:?} in {ns}: {e}"));
        let deadline = Instant::now() + limit;
        loop {
            if child.try_wait().unwrap().is_some() {
                return child.wait_with_output().unwrap();
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                panic!(
                    "{argv:?} in {ns} did not finish within {limit:?}; stderr: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts a long-running process in `ns`; it is killed when the lab is dropped.
    pub fn spawn(&mut self, ns: &str, argv: &[&str]) {
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(argv)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {argv:?} in {ns}: {e}"));
        self.children.push(child);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Deleting a namespace deletes the veth ends inside it, and their peers.
        for ns in [&self.client, &self.router, &self.public] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

fn ip(args: &[&str]) {
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

fn require_root_and_tools() {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .expect("`id` not found");
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        "0",
        "the NAT lab needs root (network namespaces, nftables): run scripts/test.sh as root"
    );
    for (tool, package) in [("nft", "nftables"), ("ip", "iproute2")] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        assert!(found, "`{tool}` not found: apt-get install {package}");
    }
}
