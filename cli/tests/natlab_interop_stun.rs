//! Third-party NAT classifiers against `pinhole stun-server` behind REAL kernel NATs.
//!
//! interop_stun.rs checks coturn's `turnutils_natdiscovery` (RFC 5780) and Debian's `stun`
//! (RFC 3489, package stun-client) against pinhole's server on loopback only, where the
//! one right answer is "no NAT". Here the tools run in the client namespace of the NAT lab
//! (cli/tests/natlab/mod.rs, shared/NAT-LAB.md), the server in the public namespace on
//! A1:P1 = 192.0.2.1:3478 and A2:P2 = 192.0.2.2:3485 (not P1 + 1: the tools must learn it
//! from OTHER-ADDRESS / CHANGED-ADDRESS), and every verdict they print is checked against
//! what the router's nftables rules really do (RFC 4787 terms):
//!
//! | `Nat`                     | mapping                  | filtering                | hairpin |
//! |---------------------------|--------------------------|--------------------------|---------|
//! | `None`                    | none (client is public)  | none                     | n/a     |
//! | `FullCone`                | endpoint-independent     | endpoint-independent     | no      |
//! | `AddressRestricted`       | endpoint-independent     | address-dependent        | no      |
//! | `PortRestricted`          | endpoint-independent     | address+port-dependent   | no      |
//! | `Symmetric`               | address+port-dependent   | address+port-dependent   | no      |
//! | `AddressDependentMapping` | address-dependent        | address+port-dependent   | no      |
//!
//! The cone NATs and `AddressDependentMapping` keep the local port towards SERVER_IP_1
//! (masquerade / single-port snat in an otherwise empty namespace); `Symmetric` picks
//! random ports (`fully-random`). No rule translates LAN traffic addressed to the router's
//! WAN address back into the LAN, so no NAT here hairpins.
//!
//! `Symmetric` is random by design: the expectations assume that no two of its random
//! ports coincide with each other or with the local port (about 18 such comparisons per
//! test, each 1 in ~64,500: one run in a few thousand could fail for that reason alone,
//! as natlab_netcheck's symmetric test could). Every other NAT here is deterministic.
//!
//! As the reference, each test runs the same tools against coturn (`turnserver` listening
//! on A1 and A2, ports 3478 and 3479) behind an identical, separate lab, in parallel.
//!
//! # Observed (coturn 4.6.1, stun-client 0.97, Debian 12; see the expectations below)
//!
//! natdiscovery (`-H -m -f -L 10.1.0.2 -p 3478 192.0.2.1`), mapping / filtering / hairpin:
//! - None: "No NAT!" + EIM / "No NAT!" + EIF / "Received a request" — as on loopback.
//! - FullCone: EIM / EIF / two "STUN receive timeout.." (no hairpin).
//! - AddressRestricted: EIM / Address Dependent Filtering / no hairpin.
//! - PortRestricted: EIM / Address and Port Dependent Filtering / no hairpin.
//! - Symmetric: Address and Port Dependent Mapping / APD Filtering / no hairpin.
//! - AddressDependentMapping: coturn → "Address Dependent Mapping" (right); pinhole →
//!   "Address and Port Dependent Mapping" (wrong, natdiscovery's own bug, see
//!   [`natdiscovery_expected`]); filtering APD, no hairpin, both.
//!
//! stun (`stun 192.0.2.1:3478 -v`), both servers alike:
//! - None: "Open" (0x01); FullCone: "Independent Mapping, Independent Filter, preserves
//!   ports, no hairpin" (0x13); AddressRestricted: "... Address Dependent Filter ..."
//!   (0x15); PortRestricted: "... Port Dependent Filter ..." (0x17); Symmetric: "Dependent
//!   Mapping, random port, no hairpin" (0x18); AddressDependentMapping: "Dependent Mapping,
//!   preserves ports, no hairpin" (0x19). RFC 3489 has no test at the alternate *port*, so
//!   `stun` cannot tell address-dependent from address-and-port-dependent mapping: both
//!   are "Dependent Mapping" (stun.cxx: mapping is judged only by test I vs test I(2),
//!   which changes the server IP alone). That is the tool's limit, not a wrong answer.
//!
//! Needs root, nftables, coturn and stun-client: run via scripts/test.sh, or
//! `cargo test -p pinhole-cli --test natlab_interop_stun -- --include-ignored`.

mod common;
mod natlab;

use common::stun_tools::{natdiscovery_transcript, parse_stun_classifier, Classification};
use common::{require_tool, run_bounded, Run, TempDir, PINHOLE};
use natlab::{Lab, Nat, CLIENT_IP, ROUTER_WAN_IP, SERVER_IP_1, SERVER_IP_2};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const P1: u16 = 3478;
/// pinhole's alternate port: deliberately not P1 + 1.
const PINHOLE_P2: u16 = 3485;
/// coturn's alternate port (its default, P1 + 1).
const COTURN_P2: u16 = 3479;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Server {
    Pinhole,
    Coturn,
}

/// What both tools said behind one NAT, against one server.
struct Observed {
    server: Server,
    primary: SocketAddr,
    alternate: SocketAddr,
    natdiscovery: Run,
    stun: Run,
    stun_parsed: Classification,
    server_log: String,
}

impl Observed {
    fn transcript(&self) -> Vec<String> {
        natdiscovery_transcript(&self.natdiscovery.stdout, self.primary, self.alternate)
    }

    fn describe(&self) -> String {
        format!(
            "=== against {:?} ({} / {})\n--- natdiscovery ---\n{}\n--- stun ---\n{}\n{:#?}\n\
             --- server log ---\n{}",
            self.server,
            self.primary,
            self.alternate,
            self.natdiscovery.describe(),
            self.stun.describe(),
            self.stun_parsed,
            self.server_log
        )
    }
}

fn addr(ip: &str, port: u16) -> SocketAddr {
    format!("{ip}:{port}").parse().unwrap()
}

/// `argv` run inside namespace `ns`, bounded by `limit` (output collected even on timeout).
fn run_in(ns: &str, argv: &[&str], limit: Duration) -> Run {
    let mut full = vec!["ip", "netns", "exec", ns];
    full.extend_from_slice(argv);
    run_bounded(&full, limit)
}

/// Waits until `target` answers as an RFC 3489/5780 server should, by running `stun` from
/// the public namespace (no NAT there) until it says "Open": that needs answers from the
/// target and, through CHANGE-REQUEST, from the other IP and port, so a server still
/// binding its sockets is retried, not mistaken for a NAT verdict. Each attempt is a real
/// exchange that gives up after stun's own ~1 s of retransmissions.
fn wait_ready(lab: &Lab, target: SocketAddr, log: &dyn Fn() -> String) {
    let stun = require_tool("stun", "stun-client");
    let target = target.to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let run = run_in(
            &lab.public,
            &[stun.to_str().unwrap(), &target],
            Duration::from_secs(10),
        );
        if run.stdout.contains("Primary: Open") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "server at {target} never answered `stun` with Open from the public namespace\n{}\n{}",
            run.describe(),
            log()
        );
    }
}

/// Builds a lab doing `nat`, starts `server` in its public namespace, and runs both tools
/// from the client namespace.
fn observe(nat: Nat, server: Server) -> Observed {
    let mut lab = Lab::new(nat);
    let dir = TempDir::new("natlab-interop-stun");
    let public = lab.public.clone();
    let client = lab.client.clone();
    let primary = addr(SERVER_IP_1, P1);
    let log_path = dir.path().join("turn.log");
    let alternate = match server {
        Server::Pinhole => {
            let alternate = addr(SERVER_IP_2, PINHOLE_P2);
            let (b, a) = (primary.to_string(), alternate.to_string());
            // stderr is inherited: it shows up with the test's output on failure.
            lab.spawn(
                &public,
                &[PINHOLE, "stun-server", "--bind", &b, "--alt", &a],
            );
            alternate
        }
        Server::Coturn => {
            let turnserver = require_tool("turnserver", "coturn");
            let d = dir.path().display().to_string();
            // Through `sh` only to send coturn's stderr (one "socket: Protocol not
            // supported" per SCTP listener it tries) to its log; `exec` keeps the PID, so
            // the lab still kills coturn itself.
            let args: Vec<String> = vec![
                "sh".into(),
                "-c".into(),
                format!("exec \"$0\" \"$@\" 2>>'{}'", log_path.display()),
                turnserver.display().to_string(),
                "-n".into(),
                "-v".into(),
                "--no-cli".into(),
                "--no-tls".into(),
                "--no-dtls".into(),
                format!("--listening-ip={SERVER_IP_1}"),
                format!("--listening-ip={SERVER_IP_2}"),
                format!("--listening-port={P1}"),
                format!("--alt-listening-port={COTURN_P2}"),
                format!("--relay-ip={SERVER_IP_1}"),
                "--min-port=49152".into(),
                "--max-port=49200".into(),
                format!("--log-file={}", log_path.display()),
                "--simple-log".into(),
                format!("--pidfile={d}/turn.pid"),
                format!("--db={d}/turndb"),
            ];
            let argv: Vec<&str> = args.iter().map(String::as_str).collect();
            lab.spawn(&public, &argv);
            addr(SERVER_IP_2, COTURN_P2)
        }
    };
    let log = || match server {
        Server::Pinhole => "(pinhole stun-server's stderr is in the test output)".to_string(),
        Server::Coturn => std::fs::read_to_string(&log_path).unwrap_or_default(),
    };
    wait_ready(&lab, primary, &log);
    wait_ready(&lab, alternate, &log);

    let natdiscovery = require_tool("turnutils_natdiscovery", "coturn");
    let port = P1.to_string();
    // -L: bind the client's address, without which natdiscovery's local address is 0.0.0.0
    // and it can never print "No NAT!"; it also makes the hairpin socket bind.
    let nd = run_in(
        &client,
        &[
            natdiscovery.to_str().unwrap(),
            "-H",
            "-m",
            "-f",
            "-L",
            CLIENT_IP,
            "-p",
            &port,
            SERVER_IP_1,
        ],
        // 6 transactions with a 3 s receive timeout each at worst, plus the hairpin wait.
        Duration::from_secs(40),
    );
    assert!(
        !nd.timed_out(),
        "turnutils_natdiscovery did not finish behind {nat:?}\n{}",
        nd.describe()
    );
    let stun_tool = require_tool("stun", "stun-client");
    let target = primary.to_string();
    // 7 rounds of 150 ms; anything near 20 s means it is stuck.
    let stun = run_in(
        &client,
        &[stun_tool.to_str().unwrap(), &target, "-v"],
        Duration::from_secs(20),
    );
    assert!(
        !stun.timed_out(),
        "stun did not finish behind {nat:?}\n{}",
        stun.describe()
    );
    let stun_parsed = parse_stun_classifier(&stun);
    let server_log = log();
    Observed {
        server,
        primary,
        alternate,
        natdiscovery: nd,
        stun,
        stun_parsed,
        server_log,
    }
}

/// The natdiscovery transcript (see `natdiscovery_transcript`) that each NAT must produce.
///
/// How natdiscovery.c decides (coturn 4.6.1):
/// - Hairpinning: a second socket sends a Binding request to the first socket's reflexive
///   address; the first socket, then the second, wait 3 s each. Two "STUN receive
///   timeout.." = no hairpinning.
/// - Mapping: test I to A1:P1 ("No NAT!" if reflexive == local). Test II to (IP of test I's
///   OTHER-ADDRESS, P1) = A2:P1; same reflexive address → "Endpoint Independent Mapping".
///   Otherwise test III goes to `other_addr` and the reflexive address is compared with
///   test II's: same → "Address Dependent", else "Address and Port Dependent".
/// - Filtering: test I to A1:P1; test II with CHANGE-REQUEST change IP + port: any answer →
///   "Endpoint Independent Filtering"; else test III with change port only: an answer →
///   "Address Dependent Filtering", else "Address and Port Dependent Filtering".
///
/// The quirk that matters here: in mapping test III, `other_addr` is not test I's
/// OTHER-ADDRESS (RFC 5780 §4.3: test III goes to "the alternate address and port", A2:P2)
/// but whatever OTHER-ADDRESS the *test II* answer carried, since every receive overwrites
/// it. RFC 5780 §7.4 defines OTHER-ADDRESS as where a change-IP + change-port answer would
/// come from; pinhole's answer at A2:P1 says A1:P2 (the address a change-both request there
/// gets its answer from), so natdiscovery's test III goes to A1:P2, back to A1. coturn's
/// answer at A2:P1 says A2:P2 (coturn names A2:P2 from every P1 socket), so its test III
/// lands where RFC 5780 wants it. Through an address-and-port-dependent NAT both give the
/// right verdict (every destination is a new mapping). Through an address-dependent one,
/// test III against pinhole reuses test I's mapping to A1, which differs from test II's
/// mapping to A2, and natdiscovery says "Address and Port Dependent Mapping": wrong, and
/// asserted as what the tool prints.
fn natdiscovery_expected(nat: Nat, server: Server) -> Vec<String> {
    // How a reflexive address reads in the transcript: `local` without NAT, otherwise the
    // router's WAN address, whether the port was kept, and which distinct mapping it is.
    let kept = |n: u32| format!("{ROUTER_WAN_IP}:local-port #{n}");
    let new = |n: u32| format!("{ROUTER_WAN_IP}:new-port #{n}");
    let first_mapping = match nat {
        Nat::None => "local".to_string(),
        Nat::Symmetric => new(1),
        _ => kept(1),
    };
    let first = |m: &str| format!("response origin=A1:P1 other=A2:P2 mapped={m}");
    let mut t: Vec<String> = vec!["section Hairpinning".into(), first(&first_mapping)];
    if nat == Nat::None {
        t.push("Received a request (maybe a successful hairpinning)".into());
    } else {
        t.push("STUN receive timeout..".into());
        t.push("STUN receive timeout..".into());
    }

    t.push("section Mapping".into());
    t.push(first(&first_mapping));
    if nat == Nat::None {
        t.push("No NAT! (Endpoint Independent Mapping)".into());
    }
    match nat {
        Nat::None => {
            t.push("response origin=A2:P1 mapped=local".into());
            t.push("NAT with Endpoint Independent Mapping!".into());
        }
        Nat::FullCone | Nat::AddressRestricted | Nat::PortRestricted => {
            t.push(format!("response origin=A2:P1 mapped={}", kept(1)));
            t.push("NAT with Endpoint Independent Mapping!".into());
        }
        Nat::Symmetric => {
            t.push(format!("response origin=A2:P1 mapped={}", new(2)));
            // Test III: see above for why it goes to A1:P2 with pinhole. A fresh random
            // port either way.
            let origin = match server {
                Server::Pinhole => "A1:P2",
                Server::Coturn => "A2:P2",
            };
            t.push(format!("response origin={origin} mapped={}", new(3)));
            t.push("NAT with Address and Port Dependent Mapping!".into());
        }
        Nat::AddressDependentMapping => {
            t.push(format!("response origin=A2:P1 mapped={}", new(2)));
            match server {
                Server::Coturn => {
                    // Test III at A2:P2: same destination IP as test II, same mapping.
                    t.push(format!("response origin=A2:P2 mapped={}", new(2)));
                    t.push("NAT with Address Dependent Mapping!".into());
                }
                Server::Pinhole => {
                    // Test III at A1:P2 (natdiscovery follows test II's OTHER-ADDRESS):
                    // the NAT rightly reuses test I's mapping to A1, natdiscovery compares
                    // it with test II's mapping to A2 and concludes wrongly.
                    t.push(format!("response origin=A1:P2 mapped={}", kept(1)));
                    t.push("NAT with Address and Port Dependent Mapping!".into());
                }
            }
        }
    }

    t.push("section Filtering".into());
    t.push(first(&first_mapping));
    if nat == Nat::None {
        t.push("No NAT! (Endpoint Independent Mapping)".into());
    }
    match nat {
        Nat::None | Nat::FullCone => {
            t.push(format!("response origin=A2:P2 mapped={first_mapping}"));
            t.push("NAT with Endpoint Independent Filtering!".into());
        }
        Nat::AddressRestricted => {
            t.push("STUN receive timeout..".into());
            t.push(format!("response origin=A1:P2 mapped={first_mapping}"));
            t.push("NAT with Address Dependent Filtering!".into());
        }
        Nat::PortRestricted | Nat::Symmetric | Nat::AddressDependentMapping => {
            t.push("STUN receive timeout..".into());
            t.push("STUN receive timeout..".into());
            t.push("NAT with Address and Port Dependent Filtering!".into());
        }
    }
    t
}

/// What `stun SERVER -v` must say behind `nat`: verdict, exit status (its return value:
/// 0x02 independent filter, 0x04 address-dependent filter, 0x06 port-dependent filter,
/// 0x08 dependent mapping, + 0x01 port preserved, + 0x10 no hairpin; 0x01 alone = Open),
/// and its -v summary.
fn stun_expected(nat: Nat) -> (&'static str, i32, [(&'static str, &'static str); 8]) {
    let summary = |ii, iii, nat_, same, hairpin, preserved| {
        [
            ("test I", "1"),
            ("test II", ii),
            ("test III", iii),
            ("test I(2)", "1"),
            ("is nat", nat_),
            ("mapped IP same", same),
            ("hairpin", hairpin),
            ("preserver port", preserved),
        ]
    };
    match nat {
        Nat::None => ("Open", 0x01, summary("1", "1", "0", "1", "1", "1")),
        Nat::FullCone => (
            "Independent Mapping, Independent Filter, preserves ports, no hairpin",
            0x13,
            summary("1", "1", "1", "1", "0", "1"),
        ),
        Nat::AddressRestricted => (
            "Independent Mapping, Address Dependent Filter, preserves ports, no hairpin",
            0x15,
            summary("0", "1", "1", "1", "0", "1"),
        ),
        Nat::PortRestricted => (
            "Independent Mapping, Port Dependent Filter, preserves ports, no hairpin",
            0x17,
            summary("0", "0", "1", "1", "0", "1"),
        ),
        // "mapped IP same" is stun's name for "test I and test I(2) saw the same mapped
        // address" (IP and port).
        Nat::Symmetric => (
            "Dependent Mapping, random port, no hairpin",
            0x18,
            summary("0", "0", "1", "0", "0", "0"),
        ),
        Nat::AddressDependentMapping => (
            "Dependent Mapping, preserves ports, no hairpin",
            0x19,
            summary("0", "0", "1", "0", "0", "1"),
        ),
    }
}

fn assert_stun_verdict(nat: Nat, o: &Observed, who: &str) {
    let c = &o.stun_parsed;
    let ctx = || format!("{who}, behind {nat:?}\n{}", o.describe());
    let (verdict, exit, summary) = stun_expected(nat);
    assert_eq!(c.verdict, verdict, "`stun` verdict: {}", ctx());
    assert_eq!(c.exit, Some(exit), "`stun` return value: {}", ctx());
    for (key, want) in summary {
        assert_eq!(
            c.summary(key),
            Some(want),
            "`stun -v` summary line {key:?}: {}",
            ctx()
        );
    }
    // Test I's answer names the address the server saw: the client itself without NAT,
    // else the router's WAN address, with the local port where the NAT keeps it.
    let local = c.local_port.expect("stun -v names its first port");
    let mapped = c
        .response_attr(1, "MappedAddress")
        .unwrap_or_else(|| panic!("no MappedAddress in test I's answer: {}", ctx()));
    let want = match nat {
        Nat::None => format!("{CLIENT_IP}:{local}"),
        Nat::Symmetric => format!("{ROUTER_WAN_IP}:"), // random port
        _ => format!("{ROUTER_WAN_IP}:{local}"),
    };
    assert!(
        mapped.starts_with(&want),
        "test I MappedAddress {mapped}, want {want}…: {}",
        ctx()
    );
    // CHANGED-ADDRESS is what stun's test I(2) (the only mapping test it has) aims at.
    assert_eq!(
        c.response_attr(1, "ChangedAddress"),
        Some(o.alternate.to_string()),
        "test I CHANGED-ADDRESS: {}",
        ctx()
    );
}

/// Runs both tools behind `nat` against pinhole and, in parallel in a second lab, coturn,
/// and checks every verdict.
fn check(nat: Nat) {
    let (pinhole, coturn) = std::thread::scope(|s| {
        let reference = s.spawn(|| observe(nat, Server::Coturn));
        let pinhole = observe(nat, Server::Pinhole);
        let coturn = reference
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        (pinhole, coturn)
    });

    // The reference first: if coturn + the tools no longer behave as recorded, a pinhole
    // failure below would be misleading.
    assert_eq!(
        coturn.transcript(),
        natdiscovery_expected(nat, Server::Coturn),
        "REFERENCE side: coturn + turnutils_natdiscovery behind {nat:?} no longer behave as \
         recorded in this file (not a pinhole bug)\n{}",
        coturn.describe()
    );
    assert_stun_verdict(nat, &coturn, "REFERENCE side (coturn), not a pinhole bug");

    assert_eq!(
        pinhole.transcript(),
        natdiscovery_expected(nat, Server::Pinhole),
        "turnutils_natdiscovery behind {nat:?} against pinhole stun-server\n{}",
        pinhole.describe()
    );
    assert_stun_verdict(nat, &pinhole, "against pinhole stun-server");

    // Same verdict lines from both servers, except where natdiscovery's test III bug
    // (see natdiscovery_expected) makes the difference.
    let verdicts = |o: &Observed| -> Vec<String> {
        o.transcript()
            .into_iter()
            .filter(|l| !l.starts_with("section ") && !l.starts_with("response "))
            .collect()
    };
    if nat != Nat::AddressDependentMapping {
        assert_eq!(
            verdicts(&pinhole),
            verdicts(&coturn),
            "natdiscovery's verdicts differ between pinhole and coturn behind {nat:?}"
        );
    }
    assert_eq!(pinhole.stun_parsed.verdict, coturn.stun_parsed.verdict);
}

#[test]
#[ignore = "needs root, nftables and coturn/stun-client: run via scripts/test.sh"]
fn classifiers_see_no_nat_as_open() {
    check(Nat::None);
}

#[test]
#[ignore = "needs root, nftables and coturn/stun-client: run via scripts/test.sh"]
fn classifiers_see_full_cone() {
    check(Nat::FullCone);
}

#[test]
#[ignore = "needs root, nftables and coturn/stun-client: run via scripts/test.sh"]
fn classifiers_see_address_restricted_cone() {
    check(Nat::AddressRestricted);
}

#[test]
#[ignore = "needs root, nftables and coturn/stun-client: run via scripts/test.sh"]
fn classifiers_see_port_restricted_cone() {
    check(Nat::PortRestricted);
}

#[test]
#[ignore = "needs root, nftables and coturn/stun-client: run via scripts/test.sh"]
fn classifiers_see_symmetric() {
    check(Nat::Symmetric);
}

#[test]
#[ignore = "needs root, nftables and coturn/stun-client: run via scripts/test.sh"]
fn classifiers_see_address_dependent_mapping() {
    check(Nat::AddressDependentMapping);
}
