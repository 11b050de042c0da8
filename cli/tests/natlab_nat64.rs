//! `pinhole netcheck` from an IPv6-only host through a real NAT64 (TAYGA plus kernel
//! masquerade, cli/tests/natlab/nat64.rs) against `pinhole stun-server` on an IPv4-only
//! host. Needs root and the `tayga` package; run via scripts/test.sh.
//!
//! Server addresses: TAYGA follows RFC 6052 §3.1 and refuses to translate non-global IPv4
//! addresses, documentation ranges included, under the Well-Known Prefix 64:ff9b::/96
//! (`tayga_refuses_documentation_addresses_under_the_well_known_prefix` proves it). So
//! the Well-Known Prefix tests put the server on 192.88.99.1 and .2, the former 6to4 relay
//! anycast block that RFC 7526 retired; the traffic never leaves the lab's namespaces.
//! With a network-specific prefix (2001:db8:64::/96) the usual 192.0.2.x work. The
//! local-use prefix 64:ff9b:1::/96 (RFC 8215) cannot be tested here: TAYGA 0.9.2 predates
//! RFC 8215 and refuses it ("Cannot use reserved address 64:ff9b:1::/96 in prefix
//! directive, aborting...").

mod natlab;

use natlab::nat64::{Nat64Lab, CLIENT_IP6, ROUTER_WAN_IP};
use pinhole::nat::nat64::{WKA_PRIMARY, WKA_SECONDARY};
use pinhole::nat::Nat64Prefix;
use std::net::Ipv4Addr;
use std::time::Duration;

const PINHOLE: &str = env!("CARGO_BIN_EXE_pinhole");
const LIMIT: Duration = Duration::from_secs(30);

/// Starts `pinhole stun-server` on `a1:3478` with the alternate `a2:3479`.
fn serve(lab: &mut Nat64Lab, a1: &str, a2: &str) {
    let server = lab.server.clone();
    let (bind, alt) = (format!("{a1}:3478"), format!("{a2}:3479"));
    lab.spawn(
        &server,
        &[PINHOLE, "stun-server", "--bind", &bind, "--alt", &alt],
    );
}

/// `pinhole netcheck --stun STUN --json` in the client namespace: (success, JSON or stderr).
fn netcheck(lab: &Nat64Lab, stun: &str) -> Result<serde_json::Value, String> {
    let argv = [
        PINHOLE,
        "netcheck",
        "--stun",
        stun,
        "--json",
        "--timeout",
        "10",
    ];
    let out = lab.run_bounded(&lab.client, &argv, LIMIT);
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("netcheck --json printed {stdout:?}: {e}")))
}

/// What masquerade behind TAYGA is: Linux's port-restricted cone, seen through the
/// NAT64 from an IPv6 socket.
fn assert_masquerade_through_nat64(r: &serde_json::Value) {
    let local = r["local_address"].as_str().unwrap();
    assert!(local.starts_with(&format!("[{CLIENT_IP6}]:")), "{r}");
    let mapped = r["mapped_address"].as_str().unwrap();
    assert_eq!(mapped.rsplit_once(':').unwrap().0, ROUTER_WAN_IP, "{r}");
    assert_eq!(r["mapping"], "endpoint-independent", "{r}");
    assert_eq!(r["filtering"], "address-and-port-dependent", "{r}");
}

fn dns64_answers(prefix: Nat64Prefix) -> Vec<String> {
    [WKA_PRIMARY, WKA_SECONDARY]
        .iter()
        .map(|a| prefix.synthesize(*a).to_string())
        .collect()
}

#[test]
#[ignore = "needs root and tayga: run by scripts/test.sh"]
fn netcheck_to_a_hand_synthesized_well_known_prefix_address() {
    let mut lab = Nat64Lab::new("64:ff9b::/96", &["192.88.99.1", "192.88.99.2"]);
    serve(&mut lab, "192.88.99.1", "192.88.99.2");
    // 192.88.99.1 = c058:6301. The runtime reaches OTHER-ADDRESS (192.88.99.2:3479, IPv4)
    // under 64:ff9b::/96 because the server's address lies under it.
    let r = netcheck(&lab, "[64:ff9b::c058:6301]:3478").unwrap();
    assert_masquerade_through_nat64(&r);
}

#[test]
#[ignore = "needs root and tayga: run by scripts/test.sh"]
fn netcheck_discovers_the_prefix_and_synthesizes_an_ipv4_server() {
    let mut lab = Nat64Lab::new("64:ff9b::/96", &["192.88.99.1", "192.88.99.2"]);
    serve(&mut lab, "192.88.99.1", "192.88.99.2");
    lab.serve_ipv4only_arpa(&dns64_answers(Nat64Prefix::WELL_KNOWN));
    // An IPv4 server address on a host with no IPv4 route: RFC 7050 discovery through the
    // system resolver, then synthesis.
    let r = netcheck(&lab, "192.88.99.1:3478").unwrap();
    assert_masquerade_through_nat64(&r);
}

#[test]
#[ignore = "needs root and tayga: run by scripts/test.sh"]
fn network_specific_prefix_carries_documentation_addresses() {
    let prefix: Nat64Prefix = "2001:db8:64::/96".parse().unwrap();
    let mut lab = Nat64Lab::new(&prefix.to_string(), &["192.0.2.1", "192.0.2.2"]);
    serve(&mut lab, "192.0.2.1", "192.0.2.2");
    // Not the Well-Known Prefix: the mapping test needs the prefix from discovery.
    lab.serve_ipv4only_arpa(&dns64_answers(prefix));
    let server = prefix.synthesize(Ipv4Addr::new(192, 0, 2, 1));
    assert_eq!(server.to_string(), "2001:db8:64::c000:201");
    let r = netcheck(&lab, &format!("[{server}]:3478")).unwrap();
    assert_masquerade_through_nat64(&r);
    // And with an IPv4 server address, synthesized under the discovered prefix.
    let r = netcheck(&lab, "192.0.2.1:3478").unwrap();
    assert_masquerade_through_nat64(&r);
}

#[test]
#[ignore = "needs root and tayga: run by scripts/test.sh"]
fn tayga_refuses_documentation_addresses_under_the_well_known_prefix() {
    let doc = Ipv4Addr::new(192, 0, 2, 1);
    assert!(!Nat64Prefix::WELL_KNOWN.permits(doc));
    let mut lab = Nat64Lab::new("64:ff9b::/96", &["192.0.2.1", "192.0.2.2"]);
    serve(&mut lab, "192.0.2.1", "192.0.2.2");
    let err = netcheck(&lab, "[64:ff9b::c000:201]:3478").unwrap_err();
    assert!(err.contains("did not answer"), "{err}");
}
