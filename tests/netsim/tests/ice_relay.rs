//! ICE relay candidates against the netsim TURN server model, behind real NAT
//! presets, through the shared adapter (`pinhole_netsim::ice_endpoint`):
//! UDP to the TURN server, and TCP 443 from a network that blocks UDP.
//! Signaling is immediate here (every 5 ms step); the scenario runner
//! (`scenario`, `tests/ice_matrix.rs`) measures times with a real channel.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use pinhole::ice::{CandidateType, IceConfig, IceEvent, PathKind, RelayServer};
use pinhole::turn::TransportKind;
use pinhole_netsim::ice_endpoint::{IceEndpoint, Signal};
use pinhole_netsim::turn_server::{TurnConfig, TurnServer};
use pinhole_netsim::{EndpointId, Internet, Preset};

const TURN_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
const PORT: u16 = 5000;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

struct World {
    net: Internet,
    eps: [EndpointId<IceEndpoint>; 2],
    start: Instant,
}

fn world(seed: u64, presets: [Preset; 2], cfg: impl Fn(bool) -> IceConfig) -> World {
    let mut net = Internet::new(seed);
    let host = net.server("turn", &[TURN_IP]);
    net.attach(
        host,
        TurnServer::new(TurnConfig::new(TURN_IP).with_user("u", "p")),
    );
    let start = net.now();
    let mut eps = Vec::new();
    for (i, preset) in presets.into_iter().enumerate() {
        let peer = net.peer(&format!("p{i}"), preset, ms(20));
        let ep = IceEndpoint::new(start, cfg(i == 0), net.fork_rng(), PORT);
        eps.push(net.attach_on_ports(peer.host, &[PORT], ep));
    }
    let eps = [eps[0], eps[1]];
    for i in 0..2 {
        let hello = {
            let a = net.endpoint(eps[1 - i]).agent();
            [
                Signal::Credentials(a.local_credentials().clone()),
                Signal::Options(a.local_ice_options()),
            ]
        };
        let now = net.now();
        for s in &hello {
            net.endpoint_mut(eps[i]).signal(now, s);
        }
    }
    World { net, eps, start }
}

impl World {
    /// Hands each agent's trickled candidates and end-of-candidates to the
    /// other (candidates cross as SDP text).
    fn signal(&mut self) {
        let now = self.net.now();
        for i in 0..2 {
            let out = self.net.endpoint_mut(self.eps[i]).take_signals();
            for (_, s) in out {
                let s = match s {
                    Signal::Candidate(c) => Signal::Candidate(c.to_string().parse().unwrap()),
                    other => other,
                };
                self.net.endpoint_mut(self.eps[1 - i]).signal(now, &s);
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

    fn ep(&self, i: usize) -> &IceEndpoint {
        self.net.endpoint(self.eps[i])
    }

    /// Every selected pair's path, with its time since start.
    fn selected(&self, i: usize) -> Vec<(Duration, PathKind)> {
        self.ep(i)
            .events
            .iter()
            .filter_map(|(t, e)| match e {
                IceEvent::SelectedPair(p) => Some((*t, p.path)),
                _ => None,
            })
            .collect()
    }

    fn connected(&self) -> bool {
        (0..2).all(|i| self.ep(i).selected().is_some())
    }

    fn send(&mut self, i: usize, text: &str) {
        let now = self.net.now();
        let ep = self.net.endpoint_mut(self.eps[i]);
        ep.send_data(now, text.as_bytes()).unwrap();
    }

    fn received(&self, i: usize) -> Vec<String> {
        self.ep(i)
            .data
            .iter()
            .map(|d| String::from_utf8_lossy(&d.3).into_owned())
            .collect()
    }

    /// Both send one datagram on the selected pair; each gets the other's.
    fn ping_pong(&mut self) {
        self.send(0, "ping");
        self.send(1, "pong");
        let limit = self.net.now() - self.start + ms(500);
        self.run_until(limit, |w| {
            !w.ep(0).data.is_empty() && !w.ep(1).data.is_empty()
        });
        assert_eq!(self.received(1), vec!["ping"]);
        assert_eq!(self.received(0), vec!["pong"]);
    }
}

fn turn_cfg(transport: TransportKind, port: u16) -> impl Fn(bool) -> IceConfig {
    move |controlling| IceConfig {
        controlling,
        turn_servers: vec![RelayServer {
            transport,
            ..RelayServer::udp(SocketAddr::new(TURN_IP, port), "u", "p")
        }],
        ..IceConfig::default()
    }
}

#[test]
fn symmetric_nats_on_both_sides_connect_through_the_turn_server() {
    let mut w = world(
        7,
        [Preset::Symmetric, Preset::Symmetric],
        turn_cfg(TransportKind::Udp, 3478),
    );
    assert!(w.run_until(Duration::from_secs(10), World::connected));
    for i in 0..2 {
        let (t, path) = *w.selected(i).last().unwrap();
        eprintln!("netsim symmetric/symmetric: node {i} {path:?} at {t:?}");
        assert_eq!(path, PathKind::Relay);
    }
    w.ping_pong();
}

#[test]
fn port_restricted_peers_prefer_direct_over_the_relay() {
    let mut w = world(
        8,
        [Preset::PortRestrictedCone, Preset::PortRestrictedCone],
        turn_cfg(TransportKind::Udp, 3478),
    );
    assert!(w.run_until(Duration::from_secs(10), |w| {
        w.connected() && (0..2).all(|i| w.selected(i).last().map(|s| s.1) == Some(PathKind::Direct))
    }));
    let t = w.selected(0).last().unwrap().0;
    eprintln!("netsim port-restricted: direct at {t:?}");
}

/// Only TCP 443 leaves Alice's network: her relayed candidate comes over the
/// adapter's TCP stream to the TURN server, and data flows through it.
#[test]
fn udp_blocked_peer_connects_through_turn_over_tcp_443() {
    let mut w = world(9, [Preset::UdpBlocked, Preset::Symmetric], |controlling| {
        IceConfig {
            controlling,
            turn_servers: vec![
                RelayServer::udp(SocketAddr::new(TURN_IP, 3478), "u", "p"),
                RelayServer {
                    transport: TransportKind::Tcp,
                    ..RelayServer::udp(SocketAddr::new(TURN_IP, 443), "u", "p")
                },
            ],
            ..IceConfig::default()
        }
    });
    assert!(w.run_until(Duration::from_secs(10), World::connected));
    let sel = w.ep(0).selected().unwrap();
    eprintln!("netsim udp_blocked/symmetric: {:?}", w.selected(0));
    assert_eq!(sel.path, PathKind::Relay);
    assert_eq!(sel.local.kind, CandidateType::Relayed);
    w.ping_pong();
}
