//! ICE relay candidates against the netsim TURN server model, behind real NAT
//! presets. A minimal ICE endpoint adapter lives here (the shared one in
//! src/ice_endpoint.rs did not exist yet when this was written).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use pinhole::ice::{
    Candidate, GatheringState, IceAgent, IceConfig, IceEvent, Input, NetworkCost, PathKind,
    RelayServer,
};
use pinhole::turn::TransportKind;
use pinhole_netsim::turn_server::{TurnConfig, TurnServer};
use pinhole_netsim::{Datagram, Endpoint, EndpointId, Internet, Preset};
use rand::rngs::StdRng;
use rand::SeedableRng;

const TURN_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// An [`IceAgent`] on a simulated host, with its events recorded.
struct IceEp {
    agent: IceAgent,
    events: Vec<(Instant, IceEvent)>,
    outbox: Vec<IceEvent>,
    data: Vec<String>,
}

impl Endpoint for IceEp {
    fn receive(&mut self, now: Instant, d: Datagram) {
        let input = Input::Receive {
            local: d.dst,
            from: d.src,
            data: &d.payload,
        };
        let _ = self.agent.handle_input(now, input);
        self.drain(now);
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.agent.handle_timeout(now);
        self.drain(now);
    }
    fn poll_transmit(&mut self) -> Option<Datagram> {
        let t = self.agent.poll_transmit()?;
        Some(Datagram::new(t.from, t.to, t.bytes))
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        self.agent.poll_timeout()
    }
}

impl IceEp {
    fn drain(&mut self, now: Instant) {
        while let Some(e) = self.agent.poll_event() {
            if let IceEvent::Data { data, .. } = &e {
                self.data.push(String::from_utf8_lossy(data).into_owned());
            }
            self.outbox.push(e.clone());
            self.events.push((now, e));
        }
    }
    fn selected(&self) -> Vec<(Instant, PathKind)> {
        self.events
            .iter()
            .filter_map(|(t, e)| match e {
                IceEvent::SelectedPair(p) => Some((*t, p.path)),
                _ => None,
            })
            .collect()
    }
}

struct World {
    net: Internet,
    eps: [EndpointId<IceEp>; 2],
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
        let agent = IceAgent::new(cfg(i == 0), StdRng::seed_from_u64(seed + i as u64));
        let ep = IceEp {
            agent,
            events: Vec::new(),
            outbox: Vec::new(),
            data: Vec::new(),
        };
        let id = net.attach(peer.host, ep);
        let now = net.now();
        let e = net.endpoint_mut(id);
        e.agent
            .add_local_socket(now, peer.local(5000), NetworkCost::WIFI)
            .unwrap();
        e.drain(now);
        eps.push(id);
    }
    let eps = [eps[0], eps[1]];
    for i in 0..2 {
        let (creds, opts) = {
            let a = &net.endpoint(eps[1 - i]).agent;
            (a.local_credentials().clone(), a.local_ice_options())
        };
        let now = net.now();
        let a = &mut net.endpoint_mut(eps[i]).agent;
        a.handle_input(now, Input::RemoteCredentials(creds))
            .unwrap();
        let lite = false;
        a.handle_input(
            now,
            Input::RemoteOptions {
                options: opts,
                lite,
            },
        )
        .unwrap();
    }
    World { net, eps, start }
}

impl World {
    /// Relays trickled candidates and end-of-candidates between the agents.
    fn signal(&mut self) {
        let now = self.net.now();
        for i in 0..2 {
            let out = std::mem::take(&mut self.net.endpoint_mut(self.eps[i]).outbox);
            let peer = self.net.endpoint_mut(self.eps[1 - i]);
            for e in out {
                let input = match e {
                    IceEvent::LocalCandidate(c) => Input::RemoteCandidate(reparse(&c)),
                    IceEvent::GatheringStateChanged(GatheringState::Complete) => {
                        Input::RemoteEndOfCandidates
                    }
                    _ => continue,
                };
                let _ = peer.agent.handle_input(now, input);
            }
            peer.drain(now);
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

    fn ep(&self, i: usize) -> &IceEp {
        self.net.endpoint(self.eps[i])
    }

    fn connected(&self) -> bool {
        (0..2).all(|i| self.ep(i).agent.selected_pair().is_some())
    }

    fn send(&mut self, i: usize, text: &str) {
        let now = self.net.now();
        let ep = self.net.endpoint_mut(self.eps[i]);
        ep.agent.send_data(now, text.as_bytes()).unwrap();
    }

    fn since_start(&self, t: Instant) -> Duration {
        t - self.start
    }
}

/// Candidates cross signaling as SDP text.
fn reparse(c: &Candidate) -> Candidate {
    Candidate::parse(&c.to_string()).unwrap()
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
        let sel = w.ep(i).selected();
        let (t, path) = *sel.last().unwrap();
        eprintln!(
            "netsim symmetric/symmetric: node {i} {path:?} at {:?}",
            w.since_start(t)
        );
        assert_eq!(path, PathKind::Relay);
    }
    w.send(0, "ping");
    w.send(1, "pong");
    w.run_until(w.net.now() - w.start + ms(500), |w| {
        !w.ep(0).data.is_empty() && !w.ep(1).data.is_empty()
    });
    assert_eq!(w.ep(1).data, vec!["ping"]);
    assert_eq!(w.ep(0).data, vec!["pong"]);
}

#[test]
fn port_restricted_peers_prefer_direct_over_the_relay() {
    let mut w = world(
        8,
        [Preset::PortRestrictedCone, Preset::PortRestrictedCone],
        turn_cfg(TransportKind::Udp, 3478),
    );
    assert!(w.run_until(Duration::from_secs(10), |w| {
        w.connected()
            && (0..2).all(|i| w.ep(i).selected().last().map(|s| s.1) == Some(PathKind::Direct))
    }));
    let t = w.ep(0).selected().last().unwrap().0;
    eprintln!("netsim port-restricted: direct at {:?}", w.since_start(t));
}
