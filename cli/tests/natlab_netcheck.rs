//! `pinhole netcheck` behind real Linux NATs: the RFC 5780 verdicts must match what the
//! kernel's nftables rules actually do. Needs root; run via scripts/test.sh.

mod natlab;

use natlab::{Lab, Nat, CLIENT_IP, ROUTER_WAN_IP, SERVER_IP_1, SERVER_IP_2};
use std::time::Duration;

const PINHOLE: &str = env!("CARGO_BIN_EXE_pinhole");

fn netcheck_behind(nat: Nat) -> serde_json::Value {
    netcheck_in(Lab::new(nat), &[], Duration::from_secs(20))
}

fn netcheck_in(mut lab: Lab, extra: &[&str], limit: Duration) -> serde_json::Value {
    let nat = lab.nat;
    let public = lab.public.clone();
    let client = lab.client.clone();
    let bind = format!("{SERVER_IP_1}:3478");
    let alt = format!("{SERVER_IP_2}:3479");
    lab.spawn(
        &public,
        &[PINHOLE, "stun-server", "--bind", &bind, "--alt", &alt],
    );
    // netcheck retries its first request, so a server still starting up is not a failure.
    let mut argv = vec![
        PINHOLE,
        "netcheck",
        "--stun",
        &bind,
        "--json",
        "--timeout",
        "10",
    ];
    argv.extend_from_slice(extra);
    let out = lab.run_bounded(&client, &argv, limit);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "netcheck behind {nat:?} failed: {}\nstdout: {stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("netcheck --json printed {stdout:?}: {e}"))
}

fn mapped_ip(report: &serde_json::Value) -> String {
    let mapped = report["mapped_address"].as_str().expect("mapped_address");
    mapped.rsplit_once(':').unwrap().0.to_string()
}

#[test]
#[ignore = "needs root and nftables: run via scripts/test.sh"]
fn no_nat_reports_no_translation() {
    let r = netcheck_behind(Nat::None);
    assert_eq!(mapped_ip(&r), CLIENT_IP, "{r}");
    assert_eq!(r["mapping"], "endpoint-independent", "{r}");
    assert_eq!(r["filtering"], "endpoint-independent", "{r}");
}

#[test]
#[ignore = "needs root and nftables: run via scripts/test.sh"]
fn full_cone_is_endpoint_independent_both_ways() {
    let r = netcheck_behind(Nat::FullCone);
    assert_eq!(mapped_ip(&r), ROUTER_WAN_IP, "{r}");
    assert_eq!(r["mapping"], "endpoint-independent", "{r}");
    assert_eq!(r["filtering"], "endpoint-independent", "{r}");
}

#[test]
#[ignore = "needs root and nftables: run via scripts/test.sh"]
fn address_restricted_cone_filters_by_address() {
    let r = netcheck_behind(Nat::AddressRestricted);
    assert_eq!(mapped_ip(&r), ROUTER_WAN_IP, "{r}");
    assert_eq!(r["mapping"], "endpoint-independent", "{r}");
    assert_eq!(r["filtering"], "address-dependent", "{r}");
}

#[test]
#[ignore = "needs root and nftables: run via scripts/test.sh"]
fn linux_masquerade_is_port_restricted_cone() {
    let r = netcheck_behind(Nat::PortRestricted);
    assert_eq!(mapped_ip(&r), ROUTER_WAN_IP, "{r}");
    assert_eq!(r["mapping"], "endpoint-independent", "{r}");
    assert_eq!(r["filtering"], "address-and-port-dependent", "{r}");
}

#[test]
#[ignore = "needs root and nftables: run via scripts/test.sh"]
fn fully_random_masquerade_is_symmetric() {
    let r = netcheck_behind(Nat::Symmetric);
    assert_eq!(mapped_ip(&r), ROUTER_WAN_IP, "{r}");
    assert_eq!(r["mapping"], "address-and-port-dependent", "{r}");
    assert_eq!(r["filtering"], "address-and-port-dependent", "{r}");
}

#[test]
#[ignore = "needs root and nftables: run via scripts/test.sh"]
fn binding_lifetime_probe_finds_the_conntrack_timeout() {
    let lab = Lab::new(Nat::PortRestricted);
    lab.set_udp_timeout(7);
    let r = netcheck_in(lab, &["--lifetime"], Duration::from_secs(90));
    // Trials at 0, 5 and 10 s idle: 5 s survives, 10 s does not; at the default 5 s
    // resolution the probe reports the longest idle time survived.
    assert_eq!(r["binding_lifetime_s"], 5.0, "{r}");
}
