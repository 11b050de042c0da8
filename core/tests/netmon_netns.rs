//! The Linux network monitor against the real kernel: each test creates a network
//! namespace with two veth "radios" (`wifi0`, `cell0`), runs a monitor inside it (see
//! support/netns.rs for how), changes the namespace with `ip`, and checks what the
//! monitor reports and how `classify` judges it. Detection latency (from the `ip` command
//! returning to the monitor reporting) is printed, not asserted.
//!
//! Needs root: `#[ignore]`d in a plain `cargo test`; run by scripts/test.sh, or
//! `cargo test -p pinhole --test netmon_netns -- --include-ignored --nocapture`.

#![cfg(all(target_os = "linux", feature = "runtime"))]

#[path = "support/netns.rs"]
mod netns;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use netns::{Netns, Report, Watcher};
use pinhole::netchange::{classify_with_reason, Change, ChangeReason, NetworkSnapshot};
use pinhole::runtime::MonitorConfig;
use pinhole::stun::AddressFamily;

const WIFI_IP: &str = "10.10.0.2";
const CELL_IP: &str = "100.64.0.2";
const QUIET: Duration = Duration::from_millis(1500);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A laptop-like namespace: `wifi0` 10.10.0.2/24 carrying the default route via
/// 10.10.0.1, `cell0` 100.64.0.2/24 up but not the default.
fn two_radios() -> Netns {
    let ns = Netns::new();
    ns.add_link("wifi0");
    ns.add_link("cell0");
    ns.ip(&format!("addr add {WIFI_IP}/24 dev wifi0"));
    ns.ip(&format!("addr add {CELL_IP}/24 dev cell0"));
    ns.ip("route add default via 10.10.0.1 dev wifi0");
    ns
}

/// Starts a monitor with the default config and waits until the setup's late kernel
/// work has been reported; returns the baseline snapshot.
fn watch(ns: &Netns) -> (Watcher, NetworkSnapshot) {
    let w = Watcher::start(ns, MonitorConfig::default(), false);
    let base = w
        .until_quiet(QUIET)
        .pop()
        .map_or_else(|| w.initial.clone(), |r| r.snapshot);
    assert_eq!(base, ns.snapshot(), "baseline differs from a fresh dump");
    (w, base)
}

/// Makes a change with `ip`, waits for the report, prints the latency, checks the
/// classification against `expect` and that nothing else is reported for the same change.
fn change(
    ns: &Netns,
    w: &Watcher,
    base: &NetworkSnapshot,
    cmd: &str,
    in_use: &[&str],
    expect: ChangeReason,
) -> Report {
    ns.ip(cmd);
    let done = Instant::now();
    let report = w.expect_report(cmd);
    let latency = report.at.saturating_duration_since(done);
    let in_use: Vec<IpAddr> = in_use.iter().map(|s| ip(s)).collect();
    let reason = classify_with_reason(base, &report.snapshot, &in_use);
    eprintln!(
        "netmon: `ip {cmd}` reported after {:.1} ms: {:?} ({reason})",
        latency.as_secs_f64() * 1e3,
        reason.change()
    );
    assert_eq!(reason, expect, "{:#?}", report.snapshot);
    let extra = w.until_quiet(Duration::from_millis(700));
    assert!(extra.is_empty(), "{cmd}: more reports: {extra:#?}");
    assert_eq!(report.snapshot, ns.snapshot(), "{cmd}: not the final state");
    report
}

#[test]
#[ignore = "needs root and iproute2: run by scripts/test.sh"]
fn address_added_is_minor() {
    let ns = two_radios();
    let (w, base) = watch(&ns);
    let r = change(
        &ns,
        &w,
        &base,
        "addr add 10.10.0.3/24 dev wifi0",
        &[WIFI_IP],
        ChangeReason::AddressesChanged,
    );
    assert!(r.snapshot.has_address(ip("10.10.0.3")));
    let a = r
        .snapshot
        .addresses
        .iter()
        .find(|a| a.ip == ip("10.10.0.3"))
        .unwrap();
    assert_eq!((a.interface.as_str(), a.prefix_len), ("wifi0", 24));

    // IPv6, as SLAAC would add it, then deprecated (the first step of a privacy address
    // rotation): both minor, and the flag is seen.
    let r = change(
        &ns,
        &w,
        &r.snapshot,
        "addr add 2001:db8:1::2/64 dev wifi0 nodad",
        &[WIFI_IP],
        ChangeReason::AddressesChanged,
    );
    let r = change(
        &ns,
        &w,
        &r.snapshot,
        "addr change 2001:db8:1::2/64 dev wifi0 nodad preferred_lft 0",
        &["2001:db8:1::2"],
        ChangeReason::AddressesChanged,
    );
    let v6 = r
        .snapshot
        .addresses
        .iter()
        .find(|a| a.ip == ip("2001:db8:1::2"))
        .unwrap();
    assert!(v6.flags.deprecated && !v6.flags.temporary, "{v6:?}");
    assert_eq!(r.stats.malformed, 0);
}

#[test]
#[ignore = "needs root and iproute2: run by scripts/test.sh"]
fn removing_the_address_in_use_is_major() {
    let ns = two_radios();
    // A second subnet on wifi0 that the session's path uses.
    ns.ip("addr add 192.168.77.2/24 dev wifi0");
    let (w, base) = watch(&ns);
    let r = change(
        &ns,
        &w,
        &base,
        "addr del 192.168.77.2/24 dev wifi0",
        &["192.168.77.2"],
        ChangeReason::InUseAddressesGone,
    );
    // The same removal with other addresses in use is only minor.
    assert_eq!(
        classify_with_reason(&base, &r.snapshot, &[ip("192.168.77.2"), ip(WIFI_IP)]),
        ChangeReason::AddressesChanged
    );
    // Removing wifi0's last address takes the default route with it.
    let r = change(
        &ns,
        &w,
        &r.snapshot,
        &format!("addr del {WIFI_IP}/24 dev wifi0"),
        &[WIFI_IP],
        ChangeReason::DefaultRouteLost(AddressFamily::V4),
    );
    assert_eq!(r.snapshot.default_v4, None);
    assert!(r.snapshot.has_address(ip(CELL_IP)));
}

#[test]
#[ignore = "needs root and iproute2: run by scripts/test.sh"]
fn default_route_moving_to_another_interface_is_major() {
    let ns = two_radios();
    let (w, base) = watch(&ns);
    assert_eq!(base.default_v4.as_ref().unwrap().interface, "wifi0");
    // Wi-Fi → cellular: the default route moves, both radios keep their addresses.
    let r = change(
        &ns,
        &w,
        &base,
        "route replace default via 100.64.0.1 dev cell0",
        &[WIFI_IP],
        ChangeReason::DefaultRouteMoved(AddressFamily::V4),
    );
    let route = r.snapshot.default_v4.clone().unwrap();
    assert_eq!(route.interface, "cell0");
    assert_eq!(route.gateway, Some(ip("100.64.0.1")));
    assert_eq!(r.snapshot.default_gateway_v4(), Some(ip("100.64.0.1")));
    // Then the Wi-Fi goes away altogether: its addresses with it.
    let r2 = change(
        &ns,
        &w,
        &r.snapshot,
        "link set wifi0 down",
        &[CELL_IP],
        ChangeReason::InterfacesChanged,
    );
    assert!(!r2.snapshot.has_address(ip(WIFI_IP)));
    let wifi = r2
        .snapshot
        .addresses
        .iter()
        .filter(|a| a.interface == "wifi0");
    assert_eq!(wifi.count(), 0);
}

#[test]
#[ignore = "needs root and iproute2: run by scripts/test.sh"]
fn interface_flapping_is_debounced() {
    let ns = two_radios();
    let (w, base) = watch(&ns);
    // Five times down within ~1.3 s, back up in between; it ends down.
    let start = Instant::now();
    for i in 0..9 {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(150));
        }
        ns.ip(if i % 2 == 0 {
            "link set cell0 down"
        } else {
            "link set cell0 up"
        });
    }
    let done = Instant::now();
    let flapping = done - start;
    assert!(flapping < Duration::from_secs(2), "took {flapping:?}");
    let reports = w.until_quiet(QUIET);
    let last = reports.last().expect("a report after the flapping").clone();
    eprintln!(
        "netmon: 9 transitions in {:.0} ms → {} report(s), last {:.1} ms after the last \
         change; {} notifications, {} dumps, {} duplicates suppressed",
        flapping.as_secs_f64() * 1e3,
        reports.len(),
        last.at.saturating_duration_since(done).as_secs_f64() * 1e3,
        last.stats.notifications,
        last.stats.dumps,
        last.stats.duplicates,
    );
    assert!(
        reports.len() <= 2,
        "{} reports for one burst of flapping: {reports:#?}",
        reports.len()
    );
    // The last report is the final state: cell0 down, its address unusable.
    assert_eq!(last.snapshot, ns.snapshot());
    let cell0 = last
        .snapshot
        .interfaces
        .iter()
        .find(|i| i.name == "cell0")
        .unwrap();
    assert!(!cell0.flags.up, "{cell0:?}");
    assert!(!last.snapshot.has_address(ip(CELL_IP)));
    assert_eq!(
        classify_with_reason(&base, &last.snapshot, &[ip(WIFI_IP)]),
        ChangeReason::InterfacesChanged
    );
    // Up again for good: exactly the starting point.
    let r = change(
        &ns,
        &w,
        &last.snapshot,
        "link set cell0 up",
        &[WIFI_IP],
        ChangeReason::InterfacesChanged,
    );
    assert_eq!(r.snapshot, base);
}

#[test]
#[ignore = "needs root and iproute2: run by scripts/test.sh"]
fn overrun_resynchronises_with_a_dump() {
    let ns = two_radios();
    // A tiny socket buffer (the kernel rounds it up to a few KiB), and a monitor that is
    // not read while 200 addresses arrive: the kernel must drop notifications.
    let mut config = MonitorConfig::default();
    config.receive_buffer = 1;
    let mut w = Watcher::start(&ns, config, true);
    let script: String = (0..200)
        .map(|i| format!("addr add 10.20.{}.{}/32 dev cell0\n", i / 200, i % 200 + 1))
        .collect();
    ns.ip_batch(&script);
    let done = Instant::now();
    w.resume();
    let reports = w.until_quiet(QUIET);
    let last = reports.last().expect("a report after the overrun");
    eprintln!(
        "netmon: 200 addresses with a full socket buffer → {} overrun(s), {} report(s), \
         last {:.1} ms after resuming",
        last.stats.overruns,
        reports.len(),
        last.at.saturating_duration_since(done).as_secs_f64() * 1e3
    );
    assert!(last.stats.overruns >= 1, "{:?}", last.stats);
    assert_eq!(last.snapshot, ns.snapshot());
    let on_cell = last
        .snapshot
        .addresses
        .iter()
        .filter(|a| a.interface == "cell0")
        .count();
    assert_eq!(on_cell, 201);
    assert_eq!(
        classify_with_reason(&w.initial, &last.snapshot, &[ip(WIFI_IP)]).change(),
        Change::Minor
    );
}

#[test]
#[ignore = "needs root and iproute2: run by scripts/test.sh"]
fn detection_latency_series() {
    // Latency figures only: ten address additions and removals per debounce setting.
    let ns = two_radios();
    for debounce_ms in [250u64, 50, 0] {
        let mut config = MonitorConfig::default();
        config.debounce = Duration::from_millis(debounce_ms);
        let w = Watcher::start(&ns, config, false);
        w.until_quiet(QUIET);
        let mut samples = Vec::new();
        for i in 0..10 {
            let cmd = if i % 2 == 0 { "add" } else { "del" };
            ns.ip(&format!("addr {cmd} 10.10.0.50/24 dev wifi0"));
            let done = Instant::now();
            let r = w.expect_report(cmd);
            samples.push(r.at.saturating_duration_since(done).as_secs_f64() * 1e3);
            assert_eq!(r.snapshot.has_address(ip("10.10.0.50")), i % 2 == 0);
        }
        samples.sort_by(|a, b| a.total_cmp(b));
        eprintln!(
            "netmon: debounce {debounce_ms} ms: detection latency min {:.1} / median {:.1} / \
             max {:.1} ms over {} changes",
            samples[0],
            samples[samples.len() / 2],
            samples[samples.len() - 1],
            samples.len()
        );
    }
}
