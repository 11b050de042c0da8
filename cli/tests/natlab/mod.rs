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

mod coturn;
mod miniupnpd;
pub mod nat64;
mod roam;
#[allow(unused_imports)] // each test binary uses a different subset
pub use coturn::TURN_PORT;
#[allow(unused_imports)] // each test binary uses a different subset
pub use miniupnpd::Miniupnpd;

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
    /// Address-dependent mapping (RFC 4787 §4.1), address-and-port-dependent filtering:
    /// UDP towards [`SERVER_IP_2`] leaves from local port XOR 0x4000, all other UDP from the
    /// local port itself, whatever the destination port. So the mapping changes with the
    /// destination address and never with the destination port, deterministically. For
    /// single-side labs talking to the two server addresses only (a taken port is not
    /// worked around).
    AddressDependentMapping,
}

impl Nat {
    /// The nftables ruleset for router interface names `lan`/`wan`.
    fn ruleset(self, wan: &str, wan_ip: &str) -> String {
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
            // A single-port range is not widened by the kernel's "reuse the source's
            // existing mapping" step (nf_nat find_appropriate_src needs the old mapping
            // in range), unlike plain masquerade, which would hand traffic to SERVER_IP_1
            // the mapping made for SERVER_IP_2 and so be endpoint-independent after all.
            Nat::AddressDependentMapping => format!(
                "{input}table ip lab_nat {{\n  chain post {{ type nat hook postrouting priority srcnat;\n    \
                 oifname \"{wan}\" meta l4proto udp ip daddr {SERVER_IP_2} snat ip to {wan_ip} : udp sport ^ 0x4000;\n    \
                 oifname \"{wan}\" meta l4proto udp snat ip to {wan_ip} : udp sport;\n    \
                 oifname \"{wan}\" masquerade; }}\n}}\n"
            ),
        }
    }
}

static NEXT_LAB: AtomicU32 = AtomicU32::new(0);

/// One NATed side: a client host behind a router.
pub struct Side {
    pub nat: Nat,
    pub client: String,
    pub router: String,
    /// The client's address on its LAN.
    pub client_ip: &'static str,
    /// The router's public (WAN) address.
    pub wan_ip: &'static str,
    /// The router's LAN address (the client's gateway).
    pub router_lan_ip: &'static str,
    /// The router's LAN and WAN interface names.
    pub lan_if: String,
    pub wan_if: String,
    /// The client's interface (towards the router).
    pub client_if: String,
}

/// Addressing of side 0 and side 1: (LAN prefix, client, router LAN, router WAN, pub end).
const SIDES: [(&str, &str, &str, &str, &str); 2] = [
    (
        "10.1.0.0/24",
        "10.1.0.2",
        "10.1.0.1",
        "203.0.113.2",
        "203.0.113.1",
    ),
    (
        "10.2.0.0/24",
        "10.2.0.2",
        "10.2.0.1",
        "198.51.100.2",
        "198.51.100.1",
    ),
];

pub struct Lab {
    pub nat: Nat,
    /// Side 0's client and router (the single-side labs use only these).
    pub client: String,
    pub router: String,
    pub public: String,
    pub sides: Vec<Side>,
    children: Vec<Child>,
    /// Files the lab wrote (configs, logs), removed on drop.
    files: Vec<std::path::PathBuf>,
}

impl Lab {
    /// One client behind a router doing `nat`. Panics with a clear message if the
    /// machine cannot (not root, no `ip`/`nft`): these tests must not skip quietly.
    pub fn new(nat: Nat) -> Lab {
        Lab::with_sides(&[nat])
    }

    /// One or two NATed sides, joined through the public namespace, which also holds
    /// the servers' addresses (192.0.2.1 and 192.0.2.2 on its loopback).
    pub fn with_sides(nats: &[Nat]) -> Lab {
        require_root_and_tools();
        assert!(
            (1..=2).contains(&nats.len()),
            "the lab has one or two sides"
        );
        let id = format!(
            "{}{}",
            std::process::id() % 100_000,
            NEXT_LAB.fetch_add(1, Ordering::Relaxed)
        );
        let public = format!("php{id}");
        let mut sides = Vec::new();
        for (i, nat) in nats.iter().enumerate() {
            sides.push(Side {
                nat: *nat,
                client: format!("phc{id}-{i}"),
                router: format!("phr{id}-{i}"),
                client_ip: SIDES[i].1,
                wan_ip: SIDES[i].3,
                router_lan_ip: SIDES[i].2,
                lan_if: format!("rl{id}{i}"),
                wan_if: format!("rw{id}{i}"),
                client_if: format!("c{id}{i}"),
            });
        }
        let mut lab = Lab {
            nat: nats[0],
            client: sides[0].client.clone(),
            router: sides[0].router.clone(),
            public,
            sides: Vec::new(),
            children: Vec::new(),
            files: Vec::new(),
        };
        ip(&["netns", "add", &lab.public]);
        lab.run_lines(
            &lab.public,
            "ip link set lo up
             ip addr add 192.0.2.1/32 dev lo
             ip addr add 192.0.2.2/32 dev lo
             sysctl -qw net.ipv4.ip_forward=1",
        );
        for (i, side) in sides.into_iter().enumerate() {
            // Pushed before it is built, so that a failure half-way still cleans it up.
            lab.sides.push(side);
            lab.build_side(i, &id);
        }
        lab
    }

    fn build_side(&self, i: usize, id: &str) {
        let side = &self.sides[i];
        let (lan, client_ip, router_lan, wan, pub_end) = SIDES[i];
        // Interface names are at most 15 bytes; keep them short and unique per lab.
        let (c_if, rl_if, rw_if, p_if) = (
            format!("c{id}{i}"),
            format!("rl{id}{i}"),
            format!("rw{id}{i}"),
            format!("p{id}{i}"),
        );
        for ns in [&side.client, &side.router] {
            ip(&["netns", "add", ns]);
            self.exec_ok(ns, &["ip", "link", "set", "lo", "up"]);
        }
        let veth = |a: &str, a_ns: &str, b: &str, b_ns: &str| {
            ip(&[
                "link", "add", a, "netns", a_ns, "type", "veth", "peer", "name", b, "netns", b_ns,
            ])
        };
        veth(&c_if, &side.client, &rl_if, &side.router);
        veth(&rw_if, &side.router, &p_if, &self.public);
        self.run_lines(
            &side.client,
            &format!(
                "ip addr add {client_ip}/24 dev {c_if}
                 ip link set {c_if} up
                 ip route add default via {router_lan}"
            ),
        );
        self.run_lines(
            &side.router,
            &format!(
                "ip addr add {router_lan}/24 dev {rl_if}
                 ip addr add {wan}/24 dev {rw_if}
                 ip link set {rl_if} up
                 ip link set {rw_if} up
                 ip route add default via {pub_end}
                 sysctl -qw net.ipv4.ip_forward=1"
            ),
        );
        self.run_lines(
            &self.public,
            &format!(
                "ip addr add {pub_end}/24 dev {p_if}
                 ip link set {p_if} up"
            ),
        );
        if side.nat == Nat::None {
            // Without NAT the public side must route back to the client's LAN.
            self.exec_ok(&self.public, &["ip", "route", "add", lan, "via", wan]);
        }
        self.load_nft(&side.router, &side.nat.ruleset(&rw_if, wan));
    }

    /// Runs each line of `script` (words split on whitespace) in `ns`, asserting success.
    fn run_lines(&self, ns: &str, script: &str) {
        for line in script.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let argv: Vec<&str> = line.split_whitespace().collect();
            self.exec_ok(ns, &argv);
        }
    }

    /// Makes every router forget idle UDP mappings after `seconds`, as a carrier NAT
    /// does. The conntrack timeouts are per network namespace: the host is not touched.
    pub fn set_udp_timeout(&self, seconds: u32) {
        for side in &self.sides {
            for key in [
                "nf_conntrack_udp_timeout",
                "nf_conntrack_udp_timeout_stream",
            ] {
                let setting = format!("net.netfilter.{key}={seconds}");
                self.exec_ok(&side.router, &["sysctl", "-qw", &setting]);
            }
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
        exec_in(ns, argv)
    }

    fn exec_ok(&self, ns: &str, argv: &[&str]) {
        exec_ok_in(ns, argv)
    }

    /// Runs `argv` in `ns` with a hard time limit; the process is killed at the limit.
    pub fn run_bounded(&self, ns: &str, argv: &[&str], limit: Duration) -> Output {
        run_bounded_in(ns, argv, limit)
    }

    /// Starts a long-running process in `ns`; it is killed when the lab is dropped.
    pub fn spawn(&mut self, ns: &str, argv: &[&str]) {
        self.children.push(spawn_in(ns, argv));
    }
}

/// Runs a command inside namespace `ns` to completion.
pub fn exec_in(ns: &str, argv: &[&str]) -> Output {
    Command::new("ip")
        .args(["netns", "exec", ns])
        .args(argv)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ip netns exec {ns} {argv:?}: {e}"))
}

/// Runs a command inside namespace `ns`, asserting success.
pub fn exec_ok_in(ns: &str, argv: &[&str]) {
    let out = exec_in(ns, argv);
    assert!(
        out.status.success(),
        "in {ns}: {argv:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts a long-running process in `ns`; the caller kills it.
pub fn spawn_in(ns: &str, argv: &[&str]) -> Child {
    Command::new("ip")
        .args(["netns", "exec", ns])
        .args(argv)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {argv:?} in {ns}: {e}"))
}

/// Runs `argv` in `ns` with a hard time limit; the process is killed at the limit.
pub fn run_bounded_in(ns: &str, argv: &[&str], limit: Duration) -> Output {
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

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
        // Deleting a namespace deletes the veth ends inside it, and their peers.
        let mut namespaces = vec![&self.public];
        for side in &self.sides {
            namespaces.extend([&side.client, &side.router]);
        }
        for ns in namespaces {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// Runs `ip ARGS` on the host, asserting success.
pub fn ip(args: &[&str]) {
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

/// Panics with what to do when not root or without `nft`/`ip`: lab tests never skip.
pub fn require_root_and_tools() {
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
