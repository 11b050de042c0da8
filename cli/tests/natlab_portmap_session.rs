//! Port mapping inside a session, against a real miniupnpd (Debian `miniupnpd-nftables`)
//! on side 0's router in front of an nftables symmetric NAT, the peer behind another
//! symmetric NAT (side 1, no port mapping): ordinary ICE cannot connect that pair, and
//! the hard-NAT punch does not apply (both sides symmetric). For each protocol in turn
//! (`pinhole connect --portmap pcp|nat-pmp|upnp --portmap-lifetime 20`), side 0's
//! session gets a mapping (miniupnpd's lease and the nft dnat rule appear), offers it as
//! a candidate, connects direct to side 1 through it with data both ways, renews it at
//! half the lease while connected (the lease's expiry moves on), and deletes it when it
//! closes (gone from the lease file and the ruleset).
//!
//! Needs root, nftables and miniupnpd-nftables; run via scripts/test.sh.

mod common;
mod natlab;

use std::time::{Duration, Instant};

use common::{pipe_pair, PipeRun, PipeSide, PINHOLE};
use natlab::{Lab, Miniupnpd, Nat, CLIENT_IP, ROUTER_WAN_IP};
use serde_json::Value;

const STUN: &str = "192.0.2.1:3478";

/// The session statistics `--stats` wrote on stderr.
fn stats(side: &PipeSide) -> Value {
    let line = side
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("pinhole: stats "))
        .unwrap_or_else(|| panic!("{}: no stats line:\n{}", side.name, side.stderr));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"))
}

/// miniupnpd's leases of the client: (external port, internal address, expiry).
fn leases(m: &Miniupnpd) -> Vec<(u16, String, u64)> {
    m.leases()
        .iter()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 5 && f[0] == "UDP" && f[2] == CLIENT_IP).then(|| {
                Some((
                    f[1].parse().ok()?,
                    format!("{}:{}", f[2], f[3]),
                    f[4].parse().ok()?,
                ))
            })?
        })
        .collect()
}

fn dnat_rules(lab: &Lab) -> Vec<String> {
    lab.nft_ruleset(&lab.router)
        .lines()
        .filter(|l| l.contains("dnat ip to 10.1.0.2:"))
        .map(|l| l.trim().to_string())
        .collect()
}

/// What the lab looked like while the pair ran: (since start, leases, dnat rules).
type Observation = (Duration, Vec<(u16, String, u64)>, Vec<String>);

fn run_pair(lab: &Lab, m: &Miniupnpd, protocol: &str) -> (PipeRun, Vec<Observation>) {
    let side = |i: usize, role: &str, send: &str, expect: &str, extra: &[&str]| {
        let mut v: Vec<String> = [
            "ip",
            "netns",
            "exec",
            &lab.sides[i].client,
            PINHOLE,
            "connect",
            role,
            "--stun",
            STUN,
            "--send",
            send,
            "--expect",
            expect,
            "--timeout",
            "30",
            "--stats",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    // Side 0 lingers 14 s once the data crossed: its 20 s lease is renewed at 10 s.
    let a = side(
        0,
        "--controlling",
        "ping from A",
        "pong from B",
        &[
            "--portmap",
            protocol,
            "--portmap-lifetime",
            "20",
            "--linger",
            "14",
        ],
    );
    let b = side(
        1,
        "--controlled",
        "pong from B",
        "ping from A",
        &["--no-portmap", "--linger", "14"],
    );
    let (a, b): (Vec<&str>, Vec<&str>) = (
        a.iter().map(String::as_str).collect(),
        b.iter().map(String::as_str).collect(),
    );
    std::thread::scope(|scope| {
        let pair = scope.spawn(|| {
            pipe_pair(
                (&format!("A {protocol}"), &a),
                ("B symmetric", &b),
                Duration::from_secs(60),
            )
        });
        let start = Instant::now();
        let mut seen = Vec::new();
        while !pair.is_finished() {
            seen.push((start.elapsed(), leases(m), dnat_rules(lab)));
            std::thread::sleep(Duration::from_millis(500));
        }
        (pair.join().expect("pipe_pair"), seen)
    })
}

fn maps_connects_renews_and_deletes(lab: &Lab, m: &Miniupnpd, protocol: &str) {
    let (run, seen) = run_pair(lab, m, protocol);
    assert!(
        run.a.succeeded() && run.b.succeeded(),
        "{protocol}: both must exit 0\n{}\nminiupnpd:\n{}",
        run.describe(),
        m.log()
    );
    for (side, text) in [(&run.a, "pong from B"), (&run.b, "ping from A")] {
        assert!(
            side.lines_of("data").iter().any(|(_, v)| v["text"] == text),
            "{protocol}: {} never printed {text:?}\n{}",
            side.name,
            run.describe()
        );
    }
    // The mapping, by this protocol, on the router's public address.
    let st = stats(&run.a);
    let pm = &st["port_mappings"][0];
    assert_eq!(pm["protocol"], protocol, "{st}");
    let external = pm["external"].as_str().unwrap().to_string();
    assert!(external.starts_with(&format!("{ROUTER_WAN_IP}:")), "{st}");
    let port: u16 = external.rsplit_once(':').unwrap().1.parse().unwrap();
    assert!(pm["renewals"].as_u64().unwrap() >= 1, "renewed: {st}");
    // The path is direct, through the mapping: B sends to A's mapped address.
    let b_path = run.b.lines_of("connected").last().unwrap().1.clone();
    assert_eq!(b_path["path"], "direct", "{}", run.describe());
    assert_eq!(
        b_path["remote"],
        format!("srflx {external}"),
        "{}",
        run.describe()
    );
    let a_path = run.a.lines_of("connected").last().unwrap().1.clone();
    assert_eq!(
        a_path["local"],
        format!("srflx {external}"),
        "{}",
        run.describe()
    );
    // miniupnpd held it, with a dnat rule, and renewed it while the session ran.
    let expiries: Vec<u64> = seen
        .iter()
        .flat_map(|(_, l, _)| l.iter().filter(|x| x.0 == port).map(|x| x.2))
        .collect();
    let (first, last) = (
        *expiries.first().unwrap_or_else(|| {
            panic!("{protocol}: no lease on {port} seen: {seen:?}\n{}", m.log())
        }),
        *expiries.last().unwrap(),
    );
    assert!(
        last >= first + 5,
        "{protocol}: lease expiry {first} never moved on: {seen:?}"
    );
    assert!(
        seen.iter()
            .any(|(_, _, rules)| rules.iter().any(|r| r.contains(&format!("dport {port} ")))),
        "{protocol}: no dnat rule for {port} seen: {seen:?}"
    );
    // Closed on exit: nothing left.
    assert!(leases(m).is_empty(), "{protocol}: {:?}", m.leases());
    assert!(
        dnat_rules(lab).is_empty(),
        "{protocol}:\n{}",
        lab.nft_ruleset(&lab.router)
    );
    eprintln!(
        "{protocol}: mapped {external}, connected at {:.3}s, {} renewals",
        run.a.lines_of("connected")[0].0.as_secs_f64(),
        pm["renewals"]
    );
}

#[test]
#[ignore = "needs root, nftables and miniupnpd-nftables: run by scripts/test.sh"]
fn the_session_maps_by_each_protocol_connects_direct_renews_and_deletes() {
    let mut lab = Lab::with_sides(&[Nat::Symmetric, Nat::Symmetric]);
    let m = lab.start_miniupnpd(PINHOLE);
    for protocol in ["pcp", "nat-pmp", "upnp"] {
        maps_connects_renews_and_deletes(&lab, &m, protocol);
    }
}
