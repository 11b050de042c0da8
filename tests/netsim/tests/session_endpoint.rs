//! The pump itself (`pinhole_netsim::session_endpoint`): what it answers that
//! netsim cannot do (TLS; DNS is in `ice_relay.rs`), what it requires (a
//! fixed port), and that only the session's sockets reach the session.

use pinhole::session::{Event, RelayPolicy, SessionConfig, SessionState, TurnServer};
use pinhole::turn::TurnUrl;
use pinhole_netsim::endpoints::Recorder;
use pinhole_netsim::scenario::ICE_PORT;
use pinhole_netsim::session_endpoint::{EndpointError, SessionEndpoint};
use pinhole_netsim::turn_server::{TurnConfig, TurnServer as TurnServerModel};
use pinhole_netsim::{Internet, Preset};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

#[test]
fn a_fixed_port_is_required() {
    let now = std::time::Instant::now();
    let e = SessionEndpoint::new(now, SessionConfig::default(), StdRng::seed_from_u64(1))
        .err()
        .expect("port 0 refused");
    assert_eq!(e, EndpointError::NoPort);
    assert!(e.to_string().contains("with_port"), "{e}");
}

/// netsim's TCP has no TLS: a `turns:` server cannot work. Which layer says
/// so depends on the build: pinhole without its `tls` feature (pinhole-netsim
/// built alone) refuses the URL in the configuration; with it (features
/// unified with the CLI's in a workspace build) the session asks for a TLS
/// stream and the pump refuses it with a reason, which fails that relay, and
/// a relay-only session at once.
#[test]
fn turns_servers_are_refused_with_a_reason() {
    let turn_ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
    let mut net = Internet::new(3);
    let host = net.server("turn", &[turn_ip]);
    net.attach(
        host,
        TurnServerModel::new(TurnConfig::new(turn_ip).with_user("u", "p")),
    );
    let peer = net.peer(
        "alice",
        Preset::PortRestrictedCone,
        Duration::from_millis(20),
    );
    let url = "turns:192.0.2.10:443";
    let config = SessionConfig::default()
        .with_port(ICE_PORT)
        .with_relay_policy(RelayPolicy::RelayOnly)
        .with_turn_server(TurnServer::new(url, "u", "p"));
    let tls_build = url.parse::<TurnUrl>().is_ok();
    let ep = match SessionEndpoint::new(net.now(), config, net.fork_rng()) {
        Err(EndpointError::Config(e)) if !tls_build => {
            assert!(e.to_string().contains("no TLS support"), "{e}");
            return;
        }
        other => other.expect("a build with TLS accepts turns: URLs"),
    };
    let a = net.attach_on_ports(peer.host, &[ICE_PORT], ep);
    net.run_for(Duration::from_millis(100));
    let ep = net.endpoint(a);
    let failed: Vec<String> = ep
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::RelayFailed { error, .. } => Some(error.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(failed.len(), 1, "{:?}", ep.events);
    assert!(failed[0].contains("netsim has no"), "{failed:?}");
    assert_eq!(ep.session().state(), SessionState::Failed);
    assert_eq!(
        ep.failed_at(),
        Some(Duration::ZERO),
        "at once, not at the ICE timeout"
    );
}

/// The session binds only what its configuration allows: a datagram to the
/// host's other address (same port) is dropped by the pump and counted, never
/// handed to the session; one to its socket is.
#[test]
fn an_address_without_a_socket_receives_nothing() {
    let mut net = Internet::new(5);
    let (used, unused) = (net.alloc_public(), net.alloc_public());
    let host = net.server("alice", &[used, unused]);
    let config = SessionConfig::default().with_port(ICE_PORT).with_bind(used);
    let ep = SessionEndpoint::new(net.now(), config, net.fork_rng()).unwrap();
    let a = net.attach_on_ports(host, &[ICE_PORT], ep);
    assert_eq!(
        net.endpoint(a).session().sockets(),
        &[SocketAddr::new(used, ICE_PORT)]
    );
    let ip = net.alloc_public();
    let stranger = net.server("stranger", &[ip]);
    let r = net.attach(stranger, Recorder::new());
    let from = SocketAddr::new(ip, 7);
    net.endpoint_mut(r)
        .send(from, SocketAddr::new(unused, ICE_PORT), b"hello".to_vec());
    net.run_for(Duration::from_millis(100));
    let ep = net.endpoint(a);
    assert_eq!(ep.stray, 1);
    assert_eq!(ep.session().stats().ice.counters.data_unknown_source, 0);
    net.endpoint_mut(r)
        .send(from, SocketAddr::new(used, ICE_PORT), b"hello".to_vec());
    net.run_for(Duration::from_millis(100));
    let ep = net.endpoint(a);
    assert_eq!(ep.stray, 1);
    assert_eq!(
        ep.session().stats().ice.counters.data_unknown_source,
        1,
        "the session saw it (and dropped it: a stranger's data)"
    );
}
