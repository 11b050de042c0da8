//! ICE relay candidates against the netsim TURN server model, behind real NAT
//! presets, through Pinhole's `Session` pumped by the shared endpoint
//! (`pinhole_netsim::session_endpoint`): UDP to the TURN server, and TCP 443
//! from a network that blocks UDP. Signaling is immediate here (every 5 ms
//! step, the sessions' strings handed over as they are); the scenario runner
//! (`scenario`, `tests/ice_matrix.rs`) measures times with a real channel.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use pinhole::ice::CandidateType;
use pinhole::session::{Event, PathKind, Role, SessionConfig, TurnServer};
use pinhole_netsim::session_endpoint::SessionEndpoint;
use pinhole_netsim::turn_server::{TurnConfig, TurnServer as TurnServerModel};
use pinhole_netsim::{EndpointId, Internet, Preset};

const TURN_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
const PORT: u16 = 5000;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

struct World {
    net: Internet,
    eps: [EndpointId<SessionEndpoint>; 2],
    turn: EndpointId<TurnServerModel>,
    start: Instant,
}

/// Side 0 controlling, side 1 controlled, each with `turn` (its TURN URLs).
fn world(seed: u64, presets: [Preset; 2], turn: &[&str]) -> World {
    let mut net = Internet::new(seed);
    let host = net.server("turn", &[TURN_IP]);
    let turn_ep = net.attach(
        host,
        TurnServerModel::new(TurnConfig::new(TURN_IP).with_user("u", "p")),
    );
    let start = net.now();
    let mut eps = Vec::new();
    for (i, preset) in presets.into_iter().enumerate() {
        let peer = net.peer(&format!("p{i}"), preset, ms(20));
        let role = [Role::Controlling, Role::Controlled][i];
        let mut config = SessionConfig::default().with_role(role).with_port(PORT);
        for url in turn {
            config = config.with_turn_server(TurnServer::new(*url, "u", "p"));
        }
        let ep = SessionEndpoint::new(start, config, net.fork_rng()).unwrap();
        eps.push(net.attach_on_ports(peer.host, &[PORT], ep));
    }
    World {
        net,
        eps: [eps[0], eps[1]],
        turn: turn_ep,
        start,
    }
}

impl World {
    /// Hands each session's signaling strings to the other.
    fn signal(&mut self) {
        let now = self.net.now();
        for i in 0..2 {
            let out = self.net.endpoint_mut(self.eps[i]).take_signals();
            for (_, line) in out {
                self.net
                    .endpoint_mut(self.eps[1 - i])
                    .signal(now, &line)
                    .unwrap();
            }
        }
    }

    fn run_until(&mut self, limit: Duration, cond: impl Fn(&World) -> bool) -> bool {
        while self.net.now() < self.start + limit {
            self.signal();
            if cond(self) {
                return true;
            }
            self.net.run_for(ms(5));
        }
        cond(self)
    }

    fn ep(&self, i: usize) -> &SessionEndpoint {
        self.net.endpoint(self.eps[i])
    }

    /// Every path change's kind, with its time since start.
    fn selected(&self, i: usize) -> Vec<(Duration, PathKind)> {
        self.ep(i).paths().map(|(t, p)| (t, p.kind)).collect()
    }

    fn connected(&self) -> bool {
        (0..2).all(|i| self.ep(i).path().is_some())
    }

    fn send(&mut self, i: usize, text: &str) {
        let now = self.net.now();
        let ep = self.net.endpoint_mut(self.eps[i]);
        ep.send(now, text.as_bytes()).unwrap();
    }

    fn received(&self, i: usize) -> Vec<String> {
        self.ep(i)
            .data
            .iter()
            .map(|d| String::from_utf8_lossy(&d.bytes).into_owned())
            .collect()
    }

    /// Both send one datagram on their path; each gets the other's, through
    /// the TURN server (one relayed application datagram each way).
    fn ping_pong_through_the_relay(&mut self) {
        let before = self.net.endpoint(self.turn).stats().clone();
        self.send(0, "ping");
        self.send(1, "pong");
        let limit = self.net.now() - self.start + ms(500);
        self.run_until(limit, |w| {
            !w.ep(0).data.is_empty() && !w.ep(1).data.is_empty()
        });
        assert_eq!(self.received(1), vec!["ping"]);
        assert_eq!(self.received(0), vec!["pong"]);
        let after = self.net.endpoint(self.turn).stats();
        let relayed = after.relayed_data_to_peer_packets + after.relayed_data_to_client_packets
            - before.relayed_data_to_peer_packets
            - before.relayed_data_to_client_packets;
        assert!(relayed >= 2, "both datagrams crossed the relay: {after}");
    }
}

const TURN_UDP: &str = "turn:192.0.2.10:3478?transport=udp";
const TURN_TCP_443: &str = "turn:192.0.2.10:443?transport=tcp";

#[test]
fn symmetric_nats_on_both_sides_connect_through_the_turn_server() {
    let mut w = world(7, [Preset::Symmetric, Preset::Symmetric], &[TURN_UDP]);
    assert!(w.run_until(Duration::from_secs(10), World::connected));
    for i in 0..2 {
        let (t, path) = *w.selected(i).last().unwrap();
        eprintln!("netsim symmetric/symmetric: node {i} {path:?} at {t:?}");
        assert_eq!(path, PathKind::Relay);
    }
    w.ping_pong_through_the_relay();
}

#[test]
fn port_restricted_peers_prefer_direct_over_the_relay() {
    let mut w = world(
        8,
        [Preset::PortRestrictedCone, Preset::PortRestrictedCone],
        &[TURN_UDP],
    );
    assert!(w.run_until(Duration::from_secs(10), |w| {
        w.connected() && (0..2).all(|i| w.selected(i).last().map(|s| s.1) == Some(PathKind::Direct))
    }));
    let t = w.selected(0).last().unwrap().0;
    eprintln!("netsim port-restricted: direct at {t:?}");
}

/// Only TCP 443 leaves Alice's network: her relayed candidate comes over the
/// session's stream to the TURN server (netsim's TCP model), and data flows
/// through it.
#[test]
fn udp_blocked_peer_connects_through_turn_over_tcp_443() {
    let mut w = world(
        9,
        [Preset::UdpBlocked, Preset::Symmetric],
        &[TURN_UDP, TURN_TCP_443],
    );
    assert!(w.run_until(Duration::from_secs(10), World::connected));
    let sel = w.ep(0).path().unwrap().clone();
    eprintln!("netsim udp_blocked/symmetric: {:?}", w.selected(0));
    assert_eq!(sel.kind, PathKind::Relay);
    assert_eq!(sel.local.kind, CandidateType::Relayed);
    w.ping_pong_through_the_relay();
}

/// TURN servers given by name: the pump answers the session's resolve
/// request from its static table (netsim has no DNS), and a name it does not
/// know fails that relay with an error naming the host, while the other
/// relay still connects the call.
#[test]
fn turn_server_names_resolve_through_the_pump() {
    let mut net = Internet::new(10);
    let host = net.server("turn", &[TURN_IP]);
    let turn = net.attach(
        host,
        TurnServerModel::new(TurnConfig::new(TURN_IP).with_user("u", "p")),
    );
    let start = net.now();
    let mut eps = Vec::new();
    for (i, preset) in [Preset::Symmetric, Preset::Symmetric]
        .into_iter()
        .enumerate()
    {
        let peer = net.peer(&format!("p{i}"), preset, ms(20));
        let config = SessionConfig::default()
            .with_role([Role::Controlling, Role::Controlled][i])
            .with_port(PORT)
            .with_turn_server(TurnServer::new("turn:relay.example:3478", "u", "p"))
            .with_turn_server(TurnServer::new("turn:unknown.example", "u", "p"));
        let ep = SessionEndpoint::new(start, config, net.fork_rng())
            .unwrap()
            .with_host("relay.example", TURN_IP);
        eps.push(net.attach_on_ports(peer.host, &[PORT], ep));
    }
    let mut w = World {
        net,
        eps: [eps[0], eps[1]],
        turn,
        start,
    };
    assert!(w.run_until(Duration::from_secs(10), World::connected));
    for i in 0..2 {
        assert_eq!(w.ep(i).path().unwrap().kind, PathKind::Relay);
        let failed: Vec<String> = w
            .ep(i)
            .events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::RelayFailed { server, error, .. } => Some(format!("{server}: {error}")),
                _ => None,
            })
            .collect();
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert!(
            failed[0].starts_with("turn:unknown.example") && failed[0].contains("unknown.example"),
            "{failed:?}"
        );
    }
    w.ping_pong_through_the_relay();
}
