//! Keepalives behind real Linux NATs (network namespaces, nftables masquerade, see
//! cli/tests/natlab/mod.rs): both routers' conntrack forgets idle UDP after 10 s (then
//! 20 s), as a short carrier NAT does. Two `pinhole connect` processes (told by their
//! control lines that they are on cellular) connect, stay idle for three times the
//! timeout, then each sends one datagram: it must arrive, and neither side may have
//! judged the path disconnected meanwhile. nftables counters in each router count what
//! crossed the NAT during the idle time: the keepalive rate is reported beside the
//! physical minimum (one packet per timeout) and the probe's packets to the STUN server.
//! Needs root; run via scripts/test.sh.

mod common;
mod natlab;

use std::time::Duration;

use common::{LivePair, PINHOLE};
use natlab::{Lab, Nat, SERVER_IP_1, SERVER_IP_2};

const STUN: &str = "192.0.2.1:3478";

/// nftables counters in a router: UDP from its LAN to the peer's WAN address (the path)
/// and to the STUN server (the binding-lifetime probe).
fn add_counters(lab: &Lab, side: usize, peer_wan: &str) {
    let s = &lab.sides[side];
    let rules = format!(
        "table inet ka_count {{
  counter path {{ }}
  counter probe {{ }}
  chain count_forward {{ type filter hook forward priority filter; policy accept;
    iifname \"{lan}\" ip daddr {peer_wan} meta l4proto udp counter name \"path\"
    iifname \"{lan}\" ip daddr {SERVER_IP_1} meta l4proto udp counter name \"probe\"
  }}
}}\n",
        lan = s.lan_if
    );
    let path = std::env::temp_dir().join(format!("{}-ka.nft", s.router));
    std::fs::write(&path, rules).unwrap();
    let out = lab.exec(&s.router, &["nft", "-f", path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "nft: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Reads and zeroes a counter: its packets since the last reset.
fn reset_counter(router: &str, name: &str) -> u64 {
    let out = natlab::exec_in(
        router,
        &["nft", "reset", "counter", "inet", "ka_count", name],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .skip_while(|w| *w != "packets")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no packet count in {text:?}"))
}

/// The `statistics` lines a side printed (their `stats` objects), in order.
fn stats(side: &common::PipeSide) -> Vec<serde_json::Value> {
    side.lines_of("statistics")
        .into_iter()
        .map(|(_, v)| v["stats"].clone())
        .collect()
}

fn idle_behind(timeout_s: u64) {
    let mut lab = Lab::with_sides(&[Nat::PortRestricted, Nat::PortRestricted]);
    lab.set_udp_timeout(timeout_s as u32);
    let public = lab.public.clone();
    let (bind, alt) = (format!("{SERVER_IP_1}:3478"), format!("{SERVER_IP_2}:3479"));
    lab.spawn(
        &public,
        &[PINHOLE, "stun-server", "--bind", &bind, "--alt", &alt],
    );
    std::thread::sleep(Duration::from_millis(200));
    for side in 0..2 {
        let peer_wan = lab.sides[1 - side].wan_ip;
        add_counters(&lab, side, peer_wan);
    }
    let idle = Duration::from_secs(3 * timeout_s);
    let limit = (idle.as_secs() + 25).to_string();
    let argv = |ns: &str, role: &str, expect: &str| -> Vec<String> {
        [
            "ip",
            "netns",
            "exec",
            ns,
            PINHOLE,
            "connect",
            role,
            "--stun",
            STUN,
            "--expect",
            expect,
            "--timeout",
            &limit,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let a = argv(&lab.sides[0].client, "--controlling", "after idle from B");
    let b = argv(&lab.sides[1].client, "--controlled", "after idle from A");
    let (a, b): (Vec<&str>, Vec<&str>) = (
        a.iter().map(String::as_str).collect(),
        b.iter().map(String::as_str).collect(),
    );
    let mut pair = LivePair::start(("A", &a), ("B", &b), idle + Duration::from_secs(40));
    // What the mobile glue reports: a cellular network (the policy starts at 8 s).
    for i in 0..2 {
        pair.send_line(i, r#"{"type":"network-changed","kind":"cellular"}"#);
    }
    pair.wait_for("both connected", Duration::from_secs(20), |p| {
        (0..2).all(|i| !p.lines_of(i, "connected").is_empty())
    });
    std::thread::sleep(Duration::from_secs(2));
    // Idle from here: counters zeroed, the policy's state noted.
    let routers: Vec<String> = lab.sides.iter().map(|s| s.router.clone()).collect();
    for r in &routers {
        reset_counter(r, "path");
        reset_counter(r, "probe");
    }
    let idle_from = pair.elapsed();
    for i in 0..2 {
        pair.send_line(i, r#"{"type":"stats"}"#);
    }
    std::thread::sleep(idle);
    let counts: Vec<[u64; 2]> = routers
        .iter()
        .map(|r| [reset_counter(r, "path"), reset_counter(r, "probe")])
        .collect();
    let idle_to = pair.elapsed();
    for i in 0..2 {
        pair.send_line(i, r#"{"type":"stats"}"#);
    }
    pair.send_line(0, r#"{"type":"send","text":"after idle from A"}"#);
    pair.send_line(1, r#"{"type":"send","text":"after idle from B"}"#);
    let run = pair.finish(Duration::from_secs(15));
    assert!(
        run.a.succeeded() && run.b.succeeded(),
        "{timeout_s} s NAT: both must exit 0 with the data after the idle time\n{}",
        run.describe()
    );
    for (side, text) in [(&run.a, "after idle from B"), (&run.b, "after idle from A")] {
        let data = side.lines_of("data");
        let got = data.iter().find(|(_, v)| v["text"] == text);
        assert!(
            got.is_some(),
            "{}: no {text:?}\n{}",
            side.name,
            run.describe()
        );
        let bad: Vec<_> = side
            .lines_of("state")
            .into_iter()
            .filter(|(t, v)| {
                *t >= idle_from
                    && *t <= idle_to
                    && (v["state"] == "disconnected" || v["state"] == "failed")
            })
            .collect();
        assert!(
            bad.is_empty(),
            "{}: the path was lost while idle: {bad:?}\n{}",
            side.name,
            run.describe()
        );
        // Exactly one connected line: the path never changed.
        assert_eq!(side.lines_of("connected").len(), 1, "{}", run.describe());
    }
    let window = (idle_to - idle_from).as_secs_f64();
    for (i, side) in [&run.a, &run.b].into_iter().enumerate() {
        let st = stats(side);
        assert_eq!(st.len(), 2, "{}: {} statistics lines", side.name, st.len());
        let k = &st[1]["keepalive"];
        let interval = k["interval_s"].as_f64().unwrap();
        assert!(
            interval < timeout_s as f64,
            "{}: interval {interval} s on a {timeout_s} s NAT: {k}",
            side.name
        );
        let [path, probe] = counts[i];
        eprintln!(
            "{timeout_s} s NAT, side {}: {path} packets to the peer and {probe} to the STUN \
             server in {window:.1} s idle = {:.0}/h on the path (physical minimum {:.0}/h); \
             interval at the end {interval:.2} s, policy {}",
            side.name,
            path as f64 * 3600.0 / window,
            3600.0 / timeout_s as f64,
            k
        );
        // At least one packet per timeout crossed this NAT (or the mapping would be gone),
        // and not more than one per 4 s (the policy's floor).
        assert!(
            path as f64 >= window / timeout_s as f64 - 1.0,
            "{path} in {window}"
        );
        assert!(path as f64 <= window / 4.0 + 1.0, "{path} in {window}");
    }
}

#[test]
#[ignore = "needs root and nftables: run by scripts/test.sh"]
fn idle_three_times_a_ten_second_conntrack_timeout_and_data_still_flows() {
    idle_behind(10);
}

#[test]
#[ignore = "needs root and nftables: run by scripts/test.sh"]
fn idle_three_times_a_twenty_second_conntrack_timeout_and_data_still_flows() {
    idle_behind(20);
}
