//! Network change behind real Linux NATs (network namespaces and nftables, see
//! cli/tests/natlab/ and shared/NAT-LAB.md): two `pinhole connect` processes, each behind a
//! port-restricted cone router (Linux masquerade), signaled through this test's pipes,
//! STUN from `pinhole stun-server` in the public namespace. While both send a numbered
//! datagram every 20 ms (`send` control lines), the test changes one side's network:
//!
//! 1. its address moves to another subnet behind the same router, with no hint: the
//!    runtime's netlink monitor must notice by itself (no `--bind`, so it runs); or a
//!    second interface takes the default route and the first is deleted a second later;
//! 2. its router forgets every mapping (`conntrack -F`, a NAT reboot);
//! 3. its interface goes down and up five times within two seconds;
//! 4. as 1, with the monitor off (`--no-network-monitor`) and a `network-changed`
//!    control line instead, as the mobile glue sends it.
//!
//! Each test prints the time from the change to the first datagram, sent after it, that
//! arrives on each side, and counts ICE restarts (a restart writes a new `credentials`
//! line; the peer answers with its own). The times are asserted only against a generous
//! bound that catches a hang, never against the wall clock otherwise (the tight bounds
//! are netsim's, in virtual time). Needs root, nftables and conntrack; run via
//! scripts/test.sh. `PINHOLE_LAB_LOG=debug` passes `RUST_LOG` to both processes.

mod common;
mod natlab;

use std::time::Duration;

use common::{require_tool, LivePair, PipeRun, Ticker, PINHOLE};
use natlab::{Lab, Nat, SERVER_IP_1, SERVER_IP_2};
use serde_json::Value;

const STUN: &str = "192.0.2.1:3478";
/// How often each side sends a numbered datagram.
const TICK: Duration = Duration::from_millis(20);
/// Only catches a hang: recovery takes a second or two at most (netsim's bounds are a
/// few round trips; the restart fallback fires after 1 s).
const HANG: Duration = Duration::from_secs(20);
/// Longest a whole run may take (every process is killed after it).
const RUN_LIMIT: Duration = Duration::from_secs(120);
/// The text each side expects last, sent by the test when it is done: the process exits 0
/// once it arrived.
const BYE: &str = "zzz-bye";
/// The side whose network changes (side 0, controlling, unless a test says otherwise).
const ROAMER: usize = 0;

/// Two connected sessions in the lab, and the ticker sending through both. Dropped in
/// this order, also on a panic: the ticker stops, the processes are killed, then the lab's
/// namespaces go.
struct Call {
    ticker: Ticker,
    pair: LivePair,
    lab: Lab,
}

/// Starts both sides (`extra` flags per side) and waits until data flows both ways.
fn start_call(extra: [&[&str]; 2]) -> Call {
    require_tool("conntrack", "conntrack");
    let mut lab = Lab::with_sides(&[Nat::PortRestricted, Nat::PortRestricted]);
    let public = lab.public.clone();
    let (bind, alt) = (format!("{SERVER_IP_1}:3478"), format!("{SERVER_IP_2}:3479"));
    lab.spawn(
        &public,
        &[PINHOLE, "stun-server", "--bind", &bind, "--alt", &alt],
    );
    // Server-reflexive gathering retransmits for seconds; this only saves a retransmit.
    std::thread::sleep(Duration::from_millis(200));
    let log = std::env::var("PINHOLE_LAB_LOG").ok();
    let timeout = (RUN_LIMIT.as_secs() - 10).to_string();
    let argv = |i: usize| -> Vec<String> {
        let mut v: Vec<String> = ["ip", "netns", "exec", &lab.sides[i].client]
            .iter()
            .map(|s| s.to_string())
            .collect();
        if let Some(level) = &log {
            v.extend(["env".into(), format!("RUST_LOG={level}")]);
        }
        v.extend(
            [
                PINHOLE,
                "connect",
                ["--controlling", "--controlled"][i],
                "--stun",
                STUN,
                "--expect",
                BYE,
                "--timeout",
                &timeout,
            ]
            .iter()
            .chain(extra[i])
            .map(|s| s.to_string()),
        );
        v
    };
    let (a, b) = (argv(0), argv(1));
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let b: Vec<&str> = b.iter().map(String::as_str).collect();
    let mut pair = LivePair::start(("A", &a), ("B", &b), RUN_LIMIT);
    pair.wait_for("a connected line on both sides", HANG, |p| {
        (0..2).all(|i| !p.lines_of(i, "connected").is_empty())
    });
    let ticker = pair.ticker(["a", "b"], TICK);
    pair.wait_for("data both ways", HANG, |p| {
        (0..2).all(|i| ticker.first_arrival(p, i, Duration::ZERO).is_some())
    });
    Call { ticker, pair, lab }
}

impl Call {
    /// ICE restarts so far, per side: `credentials` lines after the first.
    fn restarts(&self) -> [usize; 2] {
        [0, 1].map(|i| self.pair.lines_of(i, "credentials").len().saturating_sub(1))
    }

    /// Waits until a datagram each side sent at or after `since` arrived at the other;
    /// returns the arrival times [at B (A's data), at A (B's data)].
    fn wait_data_both_ways(&mut self, what: &str, since: Duration) -> [Duration; 2] {
        let ticker = &self.ticker;
        self.pair.wait_for(what, HANG, |p| {
            (0..2).all(|i| ticker.first_arrival(p, i, since).is_some())
        });
        [0, 1].map(|i| self.ticker.first_arrival(&self.pair, i, since).unwrap())
    }

    /// Lets data flow for `d`, then asserts that nearly all of it arrived both ways (a
    /// path that works, not one datagram that slipped through).
    fn assert_data_keeps_flowing(&self, d: Duration) {
        let from = self.pair.elapsed();
        std::thread::sleep(d);
        // Datagrams sent in the last 100 ms may still be on their way.
        let until = self.pair.elapsed() - Duration::from_millis(100);
        for i in 0..2 {
            let (sent, arrived) = self.ticker.delivered(&self.pair, i, from, until);
            assert!(
                sent > 0 && arrived * 10 >= sent * 9,
                "side {i}: {arrived} of {sent} datagrams arrived in {d:?} after recovery\n{}",
                self.pair.describe()
            );
        }
    }

    /// Ends the call: both sides get the last expected text and must exit 0.
    fn finish(self) -> PipeRun {
        let Call { ticker, pair, lab } = self;
        drop(ticker);
        let bye = serde_json::json!({"type": "send", "text": BYE}).to_string();
        for i in 0..2 {
            pair.send_line(i, &bye);
        }
        let run = pair.finish(Duration::from_secs(15));
        assert!(
            run.a.succeeded() && run.b.succeeded(),
            "both must exit 0 after the last datagram\n{}",
            run.describe()
        );
        if std::env::var_os("PINHOLE_LAB_LOG").is_some() {
            println!("{}", run.describe());
        }
        drop(lab);
        run
    }
}

fn endpoint(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_string()
}

/// How the roamer's address changes.
#[derive(Clone, Copy, Debug)]
enum Move {
    /// Its interface's address moves to another subnet (new gateway too).
    Subnet,
    /// A second interface comes up with the default route; one second later the first
    /// one is deleted.
    SecondInterface,
}

/// Changes the roamer's address and measures recovery. `hint`: the roamer runs without
/// its monitor and gets a `network-changed` line right after the change instead.
fn roam(how: Move, hint: Option<&str>) {
    let flags: &[&str] = if hint.is_some() {
        &["--no-network-monitor"]
    } else {
        &[]
    };
    let mut extra: [&[&str]; 2] = [&[], &[]];
    extra[ROAMER] = flags;
    let mut call = start_call(extra);
    let before = call.restarts();
    let old_local = endpoint(
        &call.pair.lines_of(ROAMER, "connected").last().unwrap().1,
        "local",
    );
    std::thread::sleep(Duration::from_millis(500));
    // `t0`..`changed`: the last step of the change, from which recovery is measured.
    let (new_ip, t0) = match how {
        Move::Subnet => {
            call.lab.add_router_subnet(ROAMER, 1);
            let t0 = call.pair.elapsed();
            (call.lab.move_client(ROAMER, 1), t0)
        }
        Move::SecondInterface => {
            let ip = call.lab.add_client_interface(ROAMER, 2);
            std::thread::sleep(Duration::from_secs(1));
            let t0 = call.pair.elapsed();
            call.lab.remove_first_client_interface(ROAMER);
            (ip, t0)
        }
    };
    let changed = call.pair.elapsed();
    if let Some(kind) = hint {
        let line = serde_json::json!({"type": "network-changed", "kind": kind}).to_string();
        call.pair.send_line(ROAMER, &line);
    }
    let [at_b, at_a] = call.wait_data_both_ways("data both ways after the move", changed);
    let connected = call.pair.lines_of(ROAMER, "connected");
    let (t_path, path) = connected.last().unwrap().clone();
    call.assert_data_keeps_flowing(Duration::from_secs(1));
    // A restart happens within the recovery timeout (1 s) after the change, if at all.
    let restarts = [0, 1].map(|i| call.restarts()[i] - before[i]);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "roam {how:?} ({}): to {new_ip}, change took {:.0} ms; data again after {:.0} ms (A→B) \
         and {:.0} ms (B→A) from the change's end; restarts {restarts:?}; path {old_local} → \
         {} at +{:.0} ms",
        match hint {
            Some(k) => format!("hint {k}, no monitor"),
            None => "netlink monitor, no hint".into(),
        },
        ms(changed - t0),
        ms(at_b.saturating_sub(changed)),
        ms(at_a.saturating_sub(changed)),
        endpoint(&path, "local"),
        ms(t_path.saturating_sub(changed)),
    );
    assert_ne!(
        endpoint(&path, "local"),
        old_local,
        "the roamer writes a connected line for its new path\n{}",
        call.pair.describe()
    );
    // An address that moves loses the path: the new socket finds one in the current
    // generation (the peer's candidates are known, the new address trickles to it) long
    // before the 1 s recovery timeout, so no restart.
    //
    // A second interface that takes the default route while the path still works is a
    // major change around a working path: one restart, by design (netchange.rs: the
    // old socket's traffic may now leave through another gateway). After selection every
    // socket still checks the peer's proven candidate once, and the selected socket every
    // peer candidate once, so both NATs are open between A's new interface and B when the
    // first interface goes a second later: the current generation moves to that pair with
    // no second restart.
    let most = match how {
        Move::Subnet => 0,
        Move::SecondInterface => 1,
    };
    assert!(
        restarts.iter().all(|r| *r <= most),
        "at most {most} restart(s) per side: {restarts:?}\n{}",
        call.pair.describe()
    );
    call.finish();
}

#[test]
#[ignore = "needs root, nftables and conntrack: run by scripts/test.sh"]
fn an_address_change_noticed_by_the_netlink_monitor_recovers() {
    roam(Move::Subnet, None);
}

#[test]
#[ignore = "needs root, nftables and conntrack: run by scripts/test.sh"]
fn a_second_interface_replacing_the_first_recovers() {
    roam(Move::SecondInterface, None);
}

#[test]
#[ignore = "needs root, nftables and conntrack: run by scripts/test.sh"]
fn an_address_change_reported_by_the_host_recovers() {
    roam(Move::Subnet, Some("wifi"));
}

/// Flushes the roamer's router and waits for data both ways again; returns the arrival
/// times after the flush [at B, at A] and the restarts it caused.
fn nat_reboot(call: &mut Call, what: &str) -> ([Duration; 2], [usize; 2]) {
    let before = call.restarts();
    let entries = call.lab.conntrack_udp_entries(ROAMER);
    let t0 = call.pair.elapsed();
    call.lab.flush_conntrack(ROAMER);
    let flushed = call.pair.elapsed();
    call.ticker.pause(ROAMER, false);
    let [at_b, at_a] = call.wait_data_both_ways(what, flushed);
    let restarts = [0, 1].map(|i| call.restarts()[i] - before[i]);
    let after = [at_b - flushed, at_a - flushed];
    println!(
        "NAT reboot, {what}: {entries} UDP entries flushed in {:.0} ms; data again after \
         {:.0} ms (A→B) and {:.0} ms (B→A); restarts {restarts:?}",
        (flushed - t0).as_secs_f64() * 1e3,
        after[0].as_secs_f64() * 1e3,
        after[1].as_secs_f64() * 1e3,
    );
    (after, restarts)
}

#[test]
#[ignore = "needs root, nftables and conntrack: run by scripts/test.sh"]
fn a_nat_reboot_recovers() {
    let mut call = start_call([&[], &[]]);
    std::thread::sleep(Duration::from_millis(500));
    // Both sending: the roamer's next datagram makes the router map it again, to the
    // same port (masquerade keeps the source port when it is free), so the peer's
    // datagrams pass again from then on.
    let (_, restarts) = nat_reboot(&mut call, "both sending");
    assert_eq!(restarts, [0, 0], "{}", call.pair.describe());
    call.assert_data_keeps_flowing(Duration::from_secs(1));
    // The roamer idle, only the peer sending: the peer's datagrams die at the router
    // until the roamer sends something. Nothing arrives, so its consent check goes out
    // early (after half the 2.5 s disconnected timeout) and maps it again.
    call.ticker.pause(ROAMER, true);
    std::thread::sleep(Duration::from_millis(500));
    let before = call.restarts();
    let t0 = call.pair.elapsed();
    call.lab.flush_conntrack(ROAMER);
    let flushed = call.pair.elapsed();
    let ticker = &call.ticker;
    call.pair
        .wait_for("the peer's data at the idle roamer", HANG, |p| {
            ticker.first_arrival(p, 1 - ROAMER, flushed).is_some()
        });
    let at_a = call
        .ticker
        .first_arrival(&call.pair, 1 - ROAMER, flushed)
        .unwrap();
    let restarts = [0, 1].map(|i| call.restarts()[i] - before[i]);
    println!(
        "NAT reboot, roamer idle: flushed in {:.0} ms; the peer's data reaches it again \
         after {:.0} ms; restarts {restarts:?}",
        (flushed - t0).as_secs_f64() * 1e3,
        (at_a - flushed).as_secs_f64() * 1e3,
    );
    assert_eq!(restarts, [0, 0], "{}", call.pair.describe());
    call.ticker.pause(ROAMER, false);
    call.assert_data_keeps_flowing(Duration::from_secs(1));
    call.finish();
}

/// Takes the roamer's interface down and up `n` times (`down` then `up` long each);
/// returns when the last up was done.
fn flap(call: &Call, n: usize, down: Duration, up: Duration) -> Duration {
    let (_, gateway) = Lab::lan_addresses(ROAMER, 0);
    let mut last_up = Duration::ZERO;
    for k in 0..n {
        call.lab.set_client_link(ROAMER, false, &gateway);
        std::thread::sleep(down);
        call.lab.set_client_link(ROAMER, true, &gateway);
        last_up = call.pair.elapsed();
        if k + 1 < n {
            std::thread::sleep(up);
        }
    }
    last_up
}

/// After flapping ended at `settled`: data both ways, no more than one restart per side
/// (counted once the restart holdoff and recovery timeout are over), and what the
/// roamer signaled meanwhile (new sockets' candidates: proof the session saw it).
fn after_flapping(
    call: &mut Call,
    what: &str,
    since: Duration,
    settled: Duration,
    before: [usize; 2],
) {
    let [at_b, at_a] = call.wait_data_both_ways(what, settled);
    // Whatever the session does about it happens within the restart holdoff (2 s) and
    // the recovery timeout (1 s) after the last change it saw; wait that out.
    std::thread::sleep(Duration::from_secs(4));
    let restarts = [0, 1].map(|i| call.restarts()[i] - before[i]);
    let candidates = call
        .pair
        .lines_of(ROAMER, "candidate")
        .iter()
        .filter(|(t, _)| *t >= since)
        .count();
    println!(
        "flapping, {what}: over {:.0} ms to the last up; data again after {:.0} ms (A→B) and {:.0} ms (B→A) \
         from the last up; {candidates} new candidates signaled; restarts {restarts:?}",
        (settled - since).as_secs_f64() * 1e3,
        (at_b.saturating_sub(settled)).as_secs_f64() * 1e3,
        (at_a.saturating_sub(settled)).as_secs_f64() * 1e3,
    );
    assert!(
        restarts.iter().all(|r| *r <= 1),
        "at most one restart per side: {restarts:?}\n{}",
        call.pair.describe()
    );
    call.assert_data_keeps_flowing(Duration::from_secs(1));
}

#[test]
#[ignore = "needs root, nftables and conntrack: run by scripts/test.sh"]
fn a_flapping_interface_settles_to_at_most_one_restart() {
    let mut call = start_call([&[], &[]]);
    std::thread::sleep(Duration::from_millis(500));
    // Five times within two seconds: faster than the monitor's 250 ms debounce, so the
    // session may see nothing of it but the end state.
    let (before, since) = (call.restarts(), call.pair.elapsed());
    let settled = flap(
        &call,
        5,
        Duration::from_millis(150),
        Duration::from_millis(150),
    );
    assert!(
        settled - since < Duration::from_secs(2),
        "five flaps took {:?}",
        settled - since
    );
    after_flapping(&mut call, "5 in 2 s", since, settled, before);
    // Slower than the debounce: every down and every up reaches the session (offline,
    // online with a new socket), five times in four seconds.
    let (before, since) = (call.restarts(), call.pair.elapsed());
    let settled = flap(
        &call,
        5,
        Duration::from_millis(400),
        Duration::from_millis(400),
    );
    after_flapping(&mut call, "5 in 4 s", since, settled, before);
    call.finish();
}
