//! Port mapping inside two sessions: symmetric × symmetric behind routers that grant
//! mappings (NAT-PMP, PCP, UPnP-IGD), the cell no ICE stack connects without a relay.
//! The router of one side reboots mid-call: its mappings and its NAT's state are gone,
//! and its PCP server announces the new epoch. The session maps again (PCP ANNOUNCE,
//! after the random delay RFC 6887 asks for: 2.8 s with this seed), its candidate stays
//! (the same external port is granted again), and data through the mapping flows again
//! from then on, without an ICE restart.

use pinhole::portmap::Protocol;
use pinhole::session::PathKind;
use pinhole_netsim::scenario::signaling::SignalingLoss;
use pinhole_netsim::scenario::{Call, CallOptions, Topology};
use pinhole_netsim::Preset;
use std::time::Duration;

fn mapped_call(seed: u64) -> Call {
    Call::start_with_options(
        Topology::Pair(Preset::Symmetric, Preset::Symmetric),
        seed,
        0.0,
        SignalingLoss::default(),
        true,
        CallOptions {
            port_mapping: true,
            hard_nat_off: false,
        },
        &|c| c,
    )
}

fn ping(c: &mut Call) {
    let now = c.net.now();
    for i in 0..2 {
        let _ = c.ep_mut(i).send(now, b"ping");
    }
}

#[test]
fn a_router_reboot_is_mapped_again_and_data_flows_again() {
    let mut c = mapped_call(3);
    let connected = c.start + Duration::from_secs(3);
    assert!(c.run(connected, |c| c.ep(0).path().is_some()
        && c.ep(1).path().is_some()));
    for i in 0..2 {
        let m = c.ep(i).session().port_mappings();
        let mapping = m[0].mapping.expect("mapped");
        assert_eq!(mapping.protocol, Protocol::Pcp, "PCP is preferred: {m:?}");
        assert_eq!(c.ep(i).path().unwrap().kind, PathKind::Direct);
    }
    let before = c.ep(0).session().port_mappings()[0].mapping.unwrap();
    // Traffic both ways every 100 ms; at 4 s Alice's router reboots.
    let tick = Duration::from_millis(100);
    let reboot = c.start + Duration::from_secs(4);
    while c.net.now() < reboot {
        let t = c.net.now() + tick;
        c.run(t, |_| false);
        ping(&mut c);
    }
    let g = c.alice.nat().unwrap();
    let installed_before = c.net.nat_stats(g).static_installed;
    c.net.nat_reboot(g);
    // Alice hears Bob through her mapping: that is the direction the reboot breaks.
    let received_before = c.ep(0).data.len();
    let end = reboot + Duration::from_secs(12);
    while c.net.now() < end {
        let t = c.net.now() + tick;
        c.run(t, |_| false);
        ping(&mut c);
    }
    let st = c.ep(0).session().stats();
    let m = &st.port_mappings[0];
    assert!(m.stats.announces >= 1, "the PCP ANNOUNCE arrived: {m:?}");
    let after = m.mapping.expect("mapped again");
    assert_eq!(
        after.external, before.external,
        "the same port is granted again"
    );
    // Alice hears Bob again once she mapped again (the ANNOUNCE is answered after a
    // random delay of up to 5 s, RFC 6887 §14.1.3), from then on without a gap, and no
    // ICE restart was needed.
    let since_reboot = reboot - c.start;
    let times: Vec<Duration> = c.ep(0).data[received_before..]
        .iter()
        .map(|d| d.at.saturating_sub(since_reboot))
        .collect();
    let first = *times.first().expect("data flows again");
    let gap = times
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    let installed = c.net.nat_stats(g).static_installed;
    println!(
        "reboot: Alice hears Bob again {first:?} after it (static mappings installed: \
         {installed}), then with gaps of at most {gap:?}"
    );
    assert!(first <= Duration::from_millis(5500), "{times:?}");
    assert!(gap <= tick + Duration::from_millis(10), "{gap:?}");
    assert!(times.last().is_some_and(|t| *t >= Duration::from_secs(11)));
    assert_eq!(
        installed,
        installed_before + 1,
        "the mapping was installed again after the reboot"
    );
    assert_eq!(st.restarts, 0, "{st:?}");
}
