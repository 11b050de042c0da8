//! Mapping lifetime: exact expiry in virtual time, keepalives, inbound refresh.

mod common;
use common::*;
use pinhole_netsim::endpoints::Recorder;
use pinhole_netsim::{presets, Firewall, Layer, LinkSpec, NatConfig};
use std::net::SocketAddr;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);
const TICK: Duration = Duration::from_nanos(1);

/// A client behind a port-restricted NAT with a 30 s timeout, over perfect links
/// (so packets reach the NAT at the instant they are sent), and a Recorder server.
fn setup(inbound_refresh: bool) -> (World<Recorder>, SocketAddr) {
    let nat = NatConfig {
        mapping_timeout: T,
        inbound_refresh,
        ..presets::port_restricted_cone()
    };
    let layer = Layer {
        name: "nat",
        nat,
        firewall: Firewall::open(),
        carrier: false,
    };
    let mut w = world_with_layers(1, vec![layer], LinkSpec::default(), Recorder::new());
    w.net.enable_trace();
    let src = w.peer.local(5000);
    w.net
        .endpoint_mut(w.client)
        .send(src, sa(S1, P1), b"open".to_vec());
    w.net.run_for(Duration::ZERO);
    let mapped = w.net.endpoint_mut(w.server).take()[0].1.src;
    (w, mapped)
}

/// The server sends to the mapping at virtual time `at`; returns whether it arrived.
fn server_sends_at(w: &mut World<Recorder>, mapped: SocketAddr, at: Duration) -> bool {
    let t = w.net.base() + at;
    w.net.run_until(t);
    w.net
        .endpoint_mut(w.server)
        .send(sa(S1, P1), mapped, b"in".to_vec());
    w.net.run_for(Duration::from_millis(1));
    w.net
        .endpoint_mut(w.client)
        .take()
        .iter()
        .any(|(_, d)| d.payload == b"in")
}

fn client_sends_at(w: &mut World<Recorder>, at: Duration) {
    let t = w.net.base() + at;
    w.net.run_until(t);
    let src = w.peer.local(5000);
    w.net
        .endpoint_mut(w.client)
        .send(src, sa(S1, P1), b"keepalive".to_vec());
    w.net.run_for(Duration::ZERO);
}

#[test]
fn mapping_lives_until_one_tick_before_timeout() {
    let (mut w, mapped) = setup(false);
    assert!(server_sends_at(&mut w, mapped, T - TICK));
}

#[test]
fn mapping_expires_exactly_at_timeout() {
    let (mut w, mapped) = setup(false);
    assert!(!server_sends_at(&mut w, mapped, T));
    let nat = w.peer.nat().unwrap();
    assert_eq!(w.net.nat_stats(nat).mappings_expired, 1);
    assert_eq!(w.net.nat_stats(nat).dropped_no_mapping, 1);
    let text = w.net.trace().text();
    assert!(
        text.contains("[30.000000000] nat client-nat: mapping expired"),
        "{text}"
    );
}

#[test]
fn keepalive_one_tick_before_timeout_holds_the_mapping() {
    let (mut w, mapped) = setup(false);
    client_sends_at(&mut w, T - TICK);
    assert!(server_sends_at(&mut w, mapped, 2 * T - 2 * TICK));
    // And it then expires exactly one timeout after the keepalive.
    let (mut w, mapped) = setup(false);
    client_sends_at(&mut w, T - TICK);
    assert!(!server_sends_at(&mut w, mapped, 2 * T - TICK));
}

#[test]
fn without_keepalive_the_mapping_is_gone() {
    let (mut w, mapped) = setup(false);
    assert!(!server_sends_at(
        &mut w,
        mapped,
        T + Duration::from_secs(10)
    ));
}

#[test]
fn inbound_refresh_on_keeps_the_mapping() {
    let (mut w, mapped) = setup(true);
    assert!(server_sends_at(&mut w, mapped, T - TICK));
    assert!(server_sends_at(&mut w, mapped, 2 * T - 3 * TICK));
    assert!(server_sends_at(&mut w, mapped, 3 * T - 4 * TICK));
}

#[test]
fn inbound_refresh_off_ignores_inbound_traffic() {
    let (mut w, mapped) = setup(false);
    assert!(server_sends_at(&mut w, mapped, T - TICK));
    assert!(!server_sends_at(&mut w, mapped, 2 * T - 3 * TICK));
}

#[test]
fn filtered_inbound_does_not_refresh() {
    // A stranger's packets are filtered and must not keep the mapping alive.
    let (mut w, mapped) = setup(true);
    let t = w.net.base() + T - TICK;
    w.net.run_until(t);
    w.net
        .endpoint_mut(w.server)
        .send(sa(S2, P1), mapped, b"stranger".to_vec());
    w.net.run_for(Duration::ZERO);
    assert_eq!(w.net.nat_stats(w.peer.nat().unwrap()).dropped_filtered, 1);
    assert!(!server_sends_at(&mut w, mapped, T + TICK));
}
