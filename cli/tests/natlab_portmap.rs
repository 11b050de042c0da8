//! Port mapping against a real miniupnpd (Debian `miniupnpd-nftables`) on the lab router,
//! in front of an nftables symmetric NAT: `pinhole portmap` in the client namespace gets a
//! mapping by PCP, NAT-PMP and UPnP-IGD in turn; a host in the public namespace reaches
//! the client through it (the symmetric NAT alone would drop it); the mapping is renewed
//! (miniupnpd's lease moves on) and deleted on close (gone from the lease file and the
//! nft ruleset). And `pinhole netcheck --json` in that lab reports all three protocols.
//! Needs root; run via scripts/test.sh.

mod natlab;

use natlab::{Lab, Miniupnpd, Nat, CLIENT_IP, ROUTER_WAN_IP, SERVER_IP_1};
use serde_json::Value;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

const PINHOLE: &str = env!("CARGO_BIN_EXE_pinhole");

/// The next JSON line of `type`, within `wait`.
fn next_of(lines: &Receiver<String>, ty: &str, wait: Duration, seen: &mut Vec<String>) -> Value {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines.recv_timeout(left).unwrap_or_else(|_| {
            panic!("no {ty:?} line within {wait:?}; got:\n{}", seen.join("\n"))
        });
        seen.push(line.clone());
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        if v["type"] == ty {
            return v;
        }
    }
}

/// The lease miniupnpd holds for `external_port`: its expiry (unix seconds).
fn lease_expiry(m: &Miniupnpd, external_port: u16, internal: &str) -> Option<u64> {
    m.leases().iter().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 5
            && f[0] == "UDP"
            && f[1] == external_port.to_string()
            && format!("{}:{}", f[2], f[3]) == internal)
            .then(|| f[4].parse().ok())
            .flatten()
    })
}

fn dnat_rule(lab: &Lab, external_port: u16, internal: &str) -> bool {
    let rules = lab.nft_ruleset(&lab.router);
    rules
        .lines()
        .any(|l| l.contains(&format!("dport {external_port} dnat ip to {internal}")))
}

fn map_reach_renew_delete(lab: &mut Lab, m: &Miniupnpd, protocol: &str) {
    let client = lab.client.clone();
    let (mut stdin, lines) = lab.spawn_piped(
        &client,
        &[
            PINHOLE,
            "portmap",
            "--protocol",
            protocol,
            "--lifetime",
            "20",
            "--budget",
            "5",
            "--timeout",
            "90",
        ],
    );
    let mut seen = Vec::new();
    let local = next_of(&lines, "local", Duration::from_secs(5), &mut seen);
    let internal = local["address"].as_str().unwrap().to_string();
    assert!(internal.starts_with(&format!("{CLIENT_IP}:")), "{local}");
    let mapped = next_of(&lines, "mapped", Duration::from_secs(10), &mut seen);
    assert_eq!(mapped["protocol"], protocol, "{mapped}");
    assert_eq!(mapped["lifetime_s"], 20, "{mapped}");
    let external: SocketAddr = mapped["external"].as_str().unwrap().parse().unwrap();
    assert_eq!(external.ip().to_string(), ROUTER_WAN_IP);
    // miniupnpd's state and the kernel's rules.
    let first_expiry = lease_expiry(m, external.port(), &internal).unwrap_or_else(|| {
        panic!(
            "{protocol}: no lease for {external} -> {internal}: {:?}\n{}",
            m.leases(),
            m.log()
        )
    });
    assert!(
        dnat_rule(lab, external.port(), &internal),
        "{protocol}: no dnat rule:\n{}",
        lab.nft_ruleset(&lab.router)
    );
    // The outside reaches the client through the mapping, and the answer comes back from it.
    let public = lab.public.clone();
    let text = format!("hello over {protocol}");
    let answer = lab.udp_exchange(&public, external, text.as_bytes(), Duration::from_secs(3));
    assert_eq!(
        answer,
        Some((external, text.as_bytes().to_vec())),
        "{protocol}: outside could not reach {external}"
    );
    // Without the mapping that port is closed: one beside it is not reachable.
    let beside = SocketAddr::new(external.ip(), external.port() ^ 1);
    assert_eq!(
        lab.udp_exchange(&public, beside, b"x", Duration::from_millis(500)),
        None
    );
    // Renewal at half the 20 s lifetime moves miniupnpd's expiry on.
    let deadline = Instant::now() + Duration::from_secs(16);
    loop {
        if lease_expiry(m, external.port(), &internal).is_some_and(|e| e >= first_expiry + 5) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{protocol}: lease not renewed: {:?} (was {first_expiry})",
            m.leases()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    writeln!(stdin, "stats").unwrap();
    let stats = next_of(&lines, "stats", Duration::from_secs(3), &mut seen);
    assert!(stats["renewals"].as_u64().unwrap() >= 1, "{stats}");
    assert_eq!(
        stats["mapping"]["external"],
        external.to_string(),
        "same mapping after renewal: {stats}"
    );
    // Still reachable after the renewal.
    let again = lab.udp_exchange(&public, external, b"again", Duration::from_secs(3));
    assert_eq!(again.map(|a| a.1), Some(b"again".to_vec()), "{protocol}");
    // Close deletes it: gone from miniupnpd and from the ruleset.
    writeln!(stdin, "close").unwrap();
    next_of(&lines, "closed", Duration::from_secs(10), &mut seen);
    assert_eq!(
        lease_expiry(m, external.port(), &internal),
        None,
        "{protocol}: {:?}",
        m.leases()
    );
    assert!(
        !dnat_rule(lab, external.port(), &internal),
        "{protocol}:\n{}",
        lab.nft_ruleset(&lab.router)
    );
    assert_eq!(
        lab.udp_exchange(&public, external, b"gone", Duration::from_millis(500)),
        None,
        "{protocol}"
    );
}

#[test]
#[ignore = "needs root, nftables and miniupnpd-nftables: run by scripts/test.sh"]
fn each_protocol_maps_through_miniupnpd_is_reached_renewed_and_deleted() {
    let mut lab = Lab::new(Nat::Symmetric);
    let m = lab.start_miniupnpd(PINHOLE);
    for protocol in ["pcp", "nat-pmp", "upnp"] {
        map_reach_renew_delete(&mut lab, &m, protocol);
    }
}

#[test]
#[ignore = "needs root, nftables and miniupnpd-nftables: run by scripts/test.sh"]
fn netcheck_reports_all_three_protocols_and_leaves_nothing_behind() {
    let mut lab = Lab::new(Nat::Symmetric);
    let m = lab.start_miniupnpd(PINHOLE);
    let stun = format!("{SERVER_IP_1}:3478");
    let client = lab.client.clone();
    let out = lab.run_bounded(
        &client,
        &[
            PINHOLE,
            "netcheck",
            "--stun",
            &stun,
            "--json",
            "--timeout",
            "10",
        ],
        Duration::from_secs(30),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{stdout}: {e}"));
    // The outside contract is unchanged.
    assert_eq!(r["mapping"], "address-and-port-dependent", "{r}");
    let pm = &r["port_mapping"];
    assert_eq!(pm["gateway"], lab.sides[0].router_lan_ip, "{r}");
    for key in ["pcp", "nat_pmp", "upnp"] {
        assert_eq!(pm[key]["available"], true, "{key}: {r}");
        assert_eq!(pm[key]["error"], Value::Null, "{key}: {r}");
        let ext = pm[key]["external"]
            .as_str()
            .unwrap_or_else(|| panic!("{key}: {r}"));
        assert!(ext.starts_with(ROUTER_WAN_IP), "{key}: {r}");
    }
    assert_eq!(
        pm["pcp"]["test_mapping"], true,
        "PCP is probed by mapping: {r}"
    );
    assert_eq!(pm["nat_pmp"]["test_mapping"], false, "{r}");
    assert_eq!(pm["upnp"]["test_mapping"], false, "{r}");
    // The test mapping was deleted.
    assert!(
        m.leases().iter().all(|l| l.trim().is_empty()),
        "{:?}",
        m.leases()
    );
    assert!(
        !lab.nft_ruleset(&lab.router).contains("dnat ip to"),
        "{}",
        lab.nft_ruleset(&lab.router)
    );
}
