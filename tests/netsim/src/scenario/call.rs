//! Two Pinhole sessions in one simulated Internet, each pumped by a
//! [`SessionEndpoint`], their signaling strings carried by the application's
//! channel, driven on the virtual clock: the machinery shared by
//! [`super::Scenario::run`] and the network-change scenario.

use super::bound::ACCESS;
use super::dual_stack::{with_ipv6_servers, Side, STUN_SERVER6, TURN_SERVER6};
use super::signaling::{Channel, SignalingLoss};
use crate::endpoint::{EndpointId, HostId};
use crate::firewall::Firewall;
use crate::link::{LinkConfig, LinkSpec};
use crate::nat::NatConfig;
use crate::pinhole_endpoints::StunServerEndpoint;
use crate::portmap_server::{PortMapServer, PortMapServerConfig};
use crate::presets::{self, Layer, Preset};
use crate::session_endpoint::SessionEndpoint;
use crate::topology::{Internet, Peer};
use crate::turn_server::{TurnConfig, TurnServer as TurnServerModel};
use pinhole::session::{Role, SessionConfig, SessionError, Signal, TurnServer};
use pinhole::stun::server::ServerConfig;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

/// The STUN server in the core.
pub const STUN_SERVER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 3478);
/// The STUN server's alternate address (RFC 5780 OTHER-ADDRESS), for the sessions' NAT
/// behaviour discovery: another IP and another port on the same host.
pub const STUN_ALTERNATE: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 3)), 3479);
/// The TURN server in the core (UDP 3478; TCP 3478 and 443), beside the
/// STUN server: same zero-latency link, so a TURN round trip is 100 ms too.
pub const TURN_SERVER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)), 3478);
/// The TURN server's TCP port for networks that only let TCP 443 out.
pub const TURN_TLS_PORT: u16 = 443;
/// Long-term credentials both agents use.
pub const TURN_USER: (&str, &str) = ("pinhole", "netsim-secret");

/// The TURN servers every session is given: UDP 3478, and TCP 443 for
/// networks where UDP is blocked (a relay over a stream is only used when
/// nothing better works: its candidate ranks below the UDP relay's).
pub fn turn_servers() -> Vec<TurnServer> {
    let (user, pass) = TURN_USER;
    let ip = TURN_SERVER.ip();
    vec![
        TurnServer::new(format!("turn:{TURN_SERVER}?transport=udp"), user, pass),
        TurnServer::new(
            format!("turn:{ip}:{TURN_TLS_PORT}?transport=tcp"),
            user,
            pass,
        ),
    ]
}

/// Side `i`'s session configuration: Alice (0) controlling, Bob (1)
/// controlled, the STUN server, both TURN servers, [`ICE_PORT`].
pub fn session_config(i: usize) -> SessionConfig {
    let role = if i == 0 {
        Role::Controlling
    } else {
        Role::Controlled
    };
    let mut c = SessionConfig::default()
        .with_role(role)
        .with_port(ICE_PORT)
        .with_stun_server(STUN_SERVER.to_string());
    for t in turn_servers() {
        c = c.with_turn_server(t);
    }
    c
}

/// The port each session uses on every address of its host.
pub const ICE_PORT: u16 = 5000;

/// What a call has besides its topology.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallOptions {
    /// Every home router (a peer's innermost NAT that is not a carrier's) offers port
    /// mapping: NAT-PMP, PCP and UPnP-IGD ([`PortMapServer`]) at its LAN address x.y.z.1,
    /// which each session is given as its default gateway. Without it no gateway is named
    /// (netsim's NAT boxes have no address of their own on the LAN to answer at), and the
    /// sessions try no port mapping.
    pub port_mapping: bool,
    /// Both sessions opt out of hard-NAT punching (and its NAT discovery).
    pub hard_nat_off: bool,
}

/// Where the two peers are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    /// Alice (controlling) behind the first preset, Bob behind the second,
    /// each over its own 50 ms access link.
    Pair(Preset, Preset),
    /// Alice on an IPv6-only mobile network behind a NAT64 (the session is told the
    /// prefix, as the runtime's RFC 7050 discovery would), Bob on IPv4 behind the preset.
    Nat64Pair(Preset),
    /// Both on one LAN behind one port-restricted NAT.
    SameLan,
    /// Each behind its own home router (port-restricted cone), both behind
    /// one shared carrier NAT with hairpinning on or off.
    SharedNat { hairpinning: bool },
    /// Alice and Bob each with IPv4 behind a preset and, on the same host, a global IPv6
    /// address open, firewalled or absent; the STUN and TURN servers are dual-stack
    /// ([`super::dual_stack`]).
    DualStack(Side, Side),
}

impl Topology {
    /// A short name for tables and test output.
    pub fn name(&self) -> String {
        match self {
            Topology::Pair(a, b) => format!("{} x {}", a.name(), b.name()),
            Topology::Nat64Pair(b) => format!("IPv6-only NAT64 x {}", b.name()),
            Topology::SameLan => "same LAN".into(),
            Topology::SharedNat { hairpinning: true } => "one NAT, hairpinning".into(),
            Topology::SharedNat { hairpinning: false } => "one NAT, no hairpinning".into(),
            Topology::DualStack(a, b) => format!("{a} x {b}"),
        }
    }

    /// Whether the servers and sessions are dual-stack.
    pub fn is_dual_stack(&self) -> bool {
        matches!(self, Topology::DualStack(..))
    }
}

/// The mobile NAT64 of [`Topology::Nat64Pair`], on a network-specific prefix
/// (2001:db8:64::/96) as many carriers use: netsim's "public" hosts live in documentation
/// ranges, which RFC 6052 §3.1 keeps out of the Well-Known Prefix, and the session honours
/// that rule (it gives such peer candidates no IPv6 twin there).
pub fn nat64_network_specific() -> crate::Nat64Config {
    crate::Nat64Config {
        prefix: crate::Nat64Prefix::new("2001:db8:64::".parse().expect("literal"), 96)
            .expect("a valid /96"),
        ..presets::ipv6_only_mobile(Duration::from_secs(60))
    }
}

/// The running pair: Alice's and Bob's sessions and the channel between them.
pub struct Call {
    pub net: Internet,
    pub alice: Peer,
    pub bob: Peer,
    pub eps: [EndpointId<SessionEndpoint>; 2],
    /// The TURN server model in the core.
    pub turn: EndpointId<TurnServerModel>,
    pub channel: Channel,
    pub start: Instant,
    /// Signaling strings a session refused: receiving side, the string, why.
    /// Stays empty when both sides speak the same protocol.
    pub signal_errors: Vec<(usize, String, SessionError)>,
    /// false: RFC 8445 without trickle (everything in one message once
    /// gathering completes).
    trickle: bool,
    held: [Vec<String>; 2],
}

fn access(loss: f64) -> LinkSpec {
    LinkSpec::symmetric(LinkConfig::latency(ACCESS).with_loss(loss))
}

/// A side of a dual-stack cell: with its IPv6 address when it has one.
fn dual_side(net: &mut Internet, name: &str, side: Side, loss: f64) -> (Peer, Option<IpAddr>) {
    match side.v6 {
        Some(v6) => {
            let p = net.peer_dual_stack(name, side.v4, v6, access(loss));
            (p.peer, Some(p.addr6))
        }
        None => (net.peer_with_link(name, side.v4, access(loss)), None),
    }
}

fn build(net: &mut Internet, topo: Topology, loss: f64) -> (Peer, Peer) {
    match topo {
        Topology::DualStack(a, b) => (
            dual_side(net, "alice", a, loss).0,
            dual_side(net, "bob", b, loss).0,
        ),
        Topology::Pair(a, b) => (
            net.peer_with_link("alice", a, access(loss)),
            net.peer_with_link("bob", b, access(loss)),
        ),
        Topology::Nat64Pair(b) => (
            net.peer_ipv6_only("alice", nat64_network_specific(), access(loss)),
            net.peer_with_link("bob", b, access(loss)),
        ),
        Topology::SameLan => {
            let alice = net.peer_with_link("alice", Preset::PortRestrictedCone, access(loss));
            let bob = net.neighbour("bob", &alice);
            (alice, bob)
        }
        Topology::SharedNat { hairpinning } => {
            let shared = Layer {
                name: "shared",
                nat: NatConfig {
                    hairpinning,
                    ..presets::carrier_cgnat(Duration::from_secs(60))
                },
                firewall: Firewall::open(),
                carrier: true,
            };
            let home = Layer {
                name: "nat",
                nat: presets::port_restricted_cone(),
                firewall: Firewall::open(),
                carrier: false,
            };
            let alice = net.peer_with_layers("alice", vec![shared, home], access(loss));
            let outer = alice.outer_nat().expect("two layers");
            let carrier = net.sim.gateways[outer.0].inside;
            let wan = net.alloc_on(carrier);
            let (g, lan) = net.sim.add_gateway(
                "bob-nat",
                carrier,
                &[wan],
                LinkSpec::default(),
                presets::port_restricted_cone(),
                Firewall::open(),
            );
            let addr: IpAddr = Ipv4Addr::new(10, 200, 0, 2).into();
            let host = net.sim.add_host("bob");
            net.sim
                .add_interface(host, lan, &[addr], LinkSpec::default());
            let bob = Peer {
                host,
                addr,
                nats: vec![g, outer],
                lan,
            };
            (alice, bob)
        }
    }
}

/// Whether side `i`'s innermost NAT is a home router (there is one, and it is not a
/// carrier's box): what offers port mapping in [`CallOptions::port_mapping`].
fn home_router(topo: Topology, i: usize, p: &Peer) -> bool {
    let Topology::Pair(a, b) = topo else {
        return false;
    };
    let preset = if i == 0 { a } else { b };
    !p.nats.is_empty() && preset.layers().last().is_some_and(|l| !l.carrier)
}

/// A port-mapping server on the peer's home router; returns its LAN address.
fn add_portmap_router(net: &mut Internet, p: &Peer) -> IpAddr {
    let (host, lan_ip) = net.add_portmap_host(p);
    let g = p.nat().expect("a home router");
    let external = net.nat(g).external_addrs()[0];
    net.attach(
        host,
        PortMapServer::new(PortMapServerConfig::new(lan_ip, external)),
    );
    lan_ip
}

impl Call {
    /// Builds the topology, the STUN and the TURN server, starts both
    /// sessions (credentials go out on the signaling channel first, then the
    /// sessions bind and gather).
    pub fn start(
        topo: Topology,
        seed: u64,
        access_loss: f64,
        signaling: SignalingLoss,
        trickle: bool,
    ) -> Call {
        Call::start_with_options(
            topo,
            seed,
            access_loss,
            signaling,
            trickle,
            CallOptions::default(),
            &|c| c,
        )
    }

    /// [`Call::start`] with each side's configuration passed through `tweak` first.
    pub fn start_configured(
        topo: Topology,
        seed: u64,
        access_loss: f64,
        signaling: SignalingLoss,
        trickle: bool,
        tweak: &dyn Fn(SessionConfig) -> SessionConfig,
    ) -> Call {
        Call::start_with_options(
            topo,
            seed,
            access_loss,
            signaling,
            trickle,
            CallOptions::default(),
            tweak,
        )
    }

    /// [`Call::start_configured`] with options (port-mapping routers, no punch).
    pub fn start_with_options(
        topo: Topology,
        seed: u64,
        access_loss: f64,
        signaling: SignalingLoss,
        trickle: bool,
        options: CallOptions,
        tweak: &dyn Fn(SessionConfig) -> SessionConfig,
    ) -> Call {
        let mut net = Internet::new(seed);
        let dual = topo.is_dual_stack();
        let (stun_ips, turn_ips) = if dual {
            (
                vec![STUN_SERVER.ip(), STUN_SERVER6.ip()],
                vec![TURN_SERVER.ip(), TURN_SERVER6.ip()],
            )
        } else {
            (
                vec![STUN_SERVER.ip(), STUN_ALTERNATE.ip()],
                vec![TURN_SERVER.ip()],
            )
        };
        let stun = net.server("stun", &stun_ips);
        // Without an alternate address the server answers on every address of its host
        // (dual-stack cells: IPv4 and IPv6); with one (the others), RFC 5780 on IPv4 for
        // the sessions' NAT discovery.
        let mut stun_config = ServerConfig::new(STUN_SERVER);
        if !dual {
            stun_config = stun_config.with_alternate(STUN_ALTERNATE);
        }
        let server = StunServerEndpoint::new(stun_config).expect("valid");
        net.attach(stun, server);
        let turn_host = net.server("turn", &turn_ips);
        let (user, pass) = TURN_USER;
        let mut turn_cfg = TurnConfig::new(TURN_SERVER.ip()).with_user(user, pass);
        if dual {
            turn_cfg = turn_cfg.with_dual_stack(TURN_SERVER6.ip());
        }
        let turn = net.attach(turn_host, TurnServerModel::new(turn_cfg));
        let (alice, bob) = build(&mut net, topo, access_loss);
        let mut gateways = [None, None];
        for (i, p) in [&alice, &bob].into_iter().enumerate() {
            if options.port_mapping && home_router(topo, i, p) {
                gateways[i] = Some(add_portmap_router(&mut net, p));
            }
        }
        let start = net.now();
        let mut eps = Vec::new();
        for (i, peer) in [&alice, &bob].into_iter().enumerate() {
            let mut config = tweak(if dual {
                with_ipv6_servers(session_config(i))
            } else {
                session_config(i)
            });
            if options.hard_nat_off {
                config = config.with_hard_nat(pinhole::ice::PunchConfig::disabled());
            }
            let mut ep = SessionEndpoint::new(start, config, net.fork_rng())
                .expect("a valid session configuration");
            if let Some(prefix) = peer.nat().and_then(|g| net.sim.nat64_prefix(g)) {
                ep.set_nat64(start, &[prefix]);
            }
            if let Some(gw) = gateways[i] {
                ep = ep.with_gateway(gw);
            }
            // Every port of the host: a hard-NAT punch binds extra sockets (port 0, and
            // so do the keepalive probe's two). Dual-stack cells run no NAT discovery (their
            // STUN server has no alternate address), hence no punch: their pump keeps
            // refusing port-0 binds, as it did before the punch.
            if !dual {
                ep = ep.with_ephemeral_ports();
            }
            eps.push(net.attach(peer.host, ep));
        }
        Call::assemble(
            net,
            (alice, bob),
            eps,
            turn,
            (signaling, seed),
            start,
            trickle,
        )
    }

    /// A call between the peers `build` puts in the net (Alice first), with the
    /// endpoints `endpoint(side, start, rng)` makes, each attached on its
    /// [`SessionEndpoint::ports`]; IPv4 STUN and TURN servers as in [`Call::start`].
    pub fn start_with(
        seed: u64,
        build: impl FnOnce(&mut Internet) -> (Peer, Peer),
        endpoint: impl Fn(usize, Instant, rand::rngs::StdRng) -> SessionEndpoint,
        signaling: SignalingLoss,
        trickle: bool,
    ) -> Call {
        let mut net = Internet::new(seed);
        let stun = net.server("stun", &[STUN_SERVER.ip()]);
        let server = StunServerEndpoint::new(ServerConfig::new(STUN_SERVER)).expect("valid");
        net.attach(stun, server);
        let turn_host = net.server("turn", &[TURN_SERVER.ip()]);
        let (user, pass) = TURN_USER;
        let turn = net.attach(
            turn_host,
            TurnServerModel::new(TurnConfig::new(TURN_SERVER.ip()).with_user(user, pass)),
        );
        let (alice, bob) = build(&mut net);
        let start = net.now();
        let mut eps = Vec::new();
        for (i, host) in [alice.host, bob.host].into_iter().enumerate() {
            let ep = endpoint(i, start, net.fork_rng());
            let ports = ep.ports();
            eps.push(net.attach_on_ports(host, &ports, ep));
        }
        Call::assemble(
            net,
            (alice, bob),
            eps,
            turn,
            (signaling, seed),
            start,
            trickle,
        )
    }

    /// The call once the net is built and both endpoints attached: the first signals
    /// collected.
    fn assemble(
        net: Internet,
        (alice, bob): (Peer, Peer),
        eps: Vec<EndpointId<SessionEndpoint>>,
        turn: EndpointId<TurnServerModel>,
        (signaling, seed): (SignalingLoss, u64),
        start: Instant,
        trickle: bool,
    ) -> Call {
        let mut s = Call {
            net,
            alice,
            bob,
            eps: [eps[0], eps[1]],
            turn,
            channel: Channel::new(signaling, seed),
            start,
            signal_errors: Vec::new(),
            trickle,
            held: [Vec::new(), Vec::new()],
        };
        s.collect_signals();
        s
    }

    /// Side `i`'s endpoint.
    pub fn ep(&self, i: usize) -> &SessionEndpoint {
        self.net.endpoint(self.eps[i])
    }

    /// Mutable access to side `i`'s endpoint.
    pub fn ep_mut(&mut self, i: usize) -> &mut SessionEndpoint {
        self.net.endpoint_mut(self.eps[i])
    }

    /// The TURN server model.
    pub fn turn(&self) -> &TurnServerModel {
        self.net.endpoint(self.turn)
    }

    /// The hosts, Alice's first.
    pub fn hosts(&self) -> [HostId; 2] {
        [self.alice.host, self.bob.host]
    }

    /// Virtual time since the sessions started.
    pub fn elapsed(&self) -> Duration {
        self.net.now() - self.start
    }

    /// Moves what the sessions want signaled onto the channel (trickle), or
    /// holds it until end-of-candidates (non-trickle: one message).
    fn collect_signals(&mut self) {
        for i in 0..2 {
            for (at, line) in self.ep_mut(i).take_signals() {
                if self.trickle {
                    self.channel.send(at, i, vec![line]);
                } else {
                    let parsed = Signal::from_json(&line);
                    if matches!(parsed, Ok(Some(Signal::Nat(_)))) {
                        // Not part of the offer: discovery ends after gathering.
                        self.channel.send(at, i, vec![line]);
                        continue;
                    }
                    let end = matches!(parsed, Ok(Some(Signal::EndOfCandidates)));
                    self.held[i].push(line);
                    if end {
                        let batch = std::mem::take(&mut self.held[i]);
                        self.channel.send(at, i, batch);
                    }
                }
            }
        }
    }

    /// Runs until `stop` holds (checked after every instant) or `until`.
    /// Returns whether `stop` held.
    pub fn run(&mut self, until: Instant, mut stop: impl FnMut(&mut Call) -> bool) -> bool {
        loop {
            self.collect_signals();
            if stop(self) {
                return true;
            }
            let next = match (self.net.next_event_time(), self.channel.next_time()) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => match a.or(b) {
                    Some(t) => t,
                    // Nothing will ever happen: time passes anyway.
                    None => {
                        self.net.run_until(until);
                        return stop(self);
                    }
                },
            };
            if next > until {
                self.net.run_until(until);
                self.collect_signals();
                return stop(self);
            }
            self.net.run_until(next);
            self.collect_signals();
            let now = self.net.now();
            for d in self.channel.poll(now) {
                for line in d.lines {
                    if let Err(e) = self.ep_mut(d.to).signal(now, &line) {
                        self.signal_errors.push((d.to, line, e));
                    }
                }
            }
        }
    }
}
