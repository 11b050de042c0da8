//! Shared scenario helpers: a two-IP × two-port server in the core and a
//! hand-driven client behind a preset. The server side is any `Endpoint`, so
//! the same worlds host the raw echo server and Pinhole's real STUN server.
//! Also the truth table: what each preset really does, which `presets.rs`
//! checks with raw probes and `discovery.rs` with Pinhole's RFC 5780 client.
#![allow(dead_code)]

use pinhole_netsim::endpoints::{EchoServer, Recorder};
use pinhole_netsim::{
    presets, Behaviour, Endpoint, EndpointId, Firewall, Internet, Layer, LinkSpec, NatConfig, Peer,
    Preset,
};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

pub const S1: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
pub const S2: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
pub const P1: u16 = 3478;
pub const P2: u16 = 3479;

pub fn sa(ip: IpAddr, port: u16) -> SocketAddr {
    SocketAddr::new(ip, port)
}

/// A world: a server on S1/S2 in the core running `server`, one client behind `layers`.
pub struct World<S: Endpoint> {
    pub net: Internet,
    pub peer: Peer,
    pub client: EndpointId<Recorder>,
    pub server: EndpointId<S>,
}

pub fn world_with_layers<S: Endpoint>(
    seed: u64,
    layers: Vec<Layer>,
    access: LinkSpec,
    server: S,
) -> World<S> {
    let mut net = Internet::new(seed);
    let sh = net.server("server", &[S1, S2]);
    let server = net.attach(sh, server);
    let peer = net.peer_with_layers("client", layers, access);
    let client = net.attach(peer.host, Recorder::new());
    World {
        net,
        peer,
        client,
        server,
    }
}

pub fn world<S: Endpoint>(seed: u64, preset: Preset, server: S) -> World<S> {
    world_with_layers(
        seed,
        preset.layers(),
        LinkSpec::latency(Duration::from_millis(10)),
        server,
    )
}

pub fn echo_world(seed: u64, preset: Preset) -> World<EchoServer> {
    world(seed, preset, EchoServer::new())
}

impl<S: Endpoint> World<S> {
    /// Sends `payload` from the client's `port` to `dst`, runs 1 s, and returns
    /// the replies' observed addresses (`SEEN`), with the address they came from.
    pub fn exchange(
        &mut self,
        port: u16,
        dst: SocketAddr,
        payload: Vec<u8>,
    ) -> Vec<(SocketAddr, SocketAddr)> {
        let src = self.peer.local(port);
        self.net.endpoint_mut(self.client).send(src, dst, payload);
        self.net.run_for(Duration::from_secs(1));
        self.net
            .endpoint_mut(self.client)
            .take()
            .into_iter()
            .filter_map(|(_, d)| EchoServer::parse_seen(&d.payload).map(|seen| (d.src, seen)))
            .collect()
    }

    /// The mapped address the server sees for `port` → `dst`.
    pub fn observe(&mut self, port: u16, dst: SocketAddr) -> Option<SocketAddr> {
        self.exchange(port, dst, b"hello".to_vec())
            .first()
            .map(|(_, seen)| *seen)
    }
}

/// How a NAT picks external ports for fresh mappings.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Ports {
    Preserving,
    Sequential,
    Random,
}

/// A network's true UDP behaviour as seen from the core.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct Truth {
    /// Whether the source address is translated at all (false for `open`).
    pub nat: bool,
    pub mapping: Behaviour,
    pub filtering: Behaviour,
    /// A packet to one's own public address comes back (trivially so without NAT).
    pub hairpin: bool,
    pub ports: Ports,
}

use Behaviour::{
    AddressAndPortDependent as Apd, AddressDependent as Ad, EndpointIndependent as Ei,
};

const fn nat(mapping: Behaviour, filtering: Behaviour, hairpin: bool, ports: Ports) -> Truth {
    Truth {
        nat: true,
        mapping,
        filtering,
        hairpin,
        ports,
    }
}

/// The truth table: each preset's behaviour; `None` when no UDP gets out at all.
pub fn truth(preset: Preset) -> Option<Truth> {
    Some(match preset {
        Preset::Open => Truth {
            nat: false,
            ..nat(Ei, Ei, true, Ports::Preserving)
        },
        Preset::FullCone => nat(Ei, Ei, true, Ports::Preserving),
        Preset::RestrictedCone => nat(Ei, Ad, true, Ports::Preserving),
        Preset::PortRestrictedCone => nat(Ei, Apd, false, Ports::Preserving),
        Preset::Symmetric => nat(Apd, Apd, false, Ports::Random),
        Preset::SymmetricSequential => nat(Apd, Apd, false, Ports::Sequential),
        Preset::CarrierCgnat(_) => nat(Ei, Apd, false, Ports::Random),
        // The carrier NAT's random ports and no-hairpin show through the home router.
        Preset::DoubleNat => nat(Ei, Apd, false, Ports::Random),
        Preset::UdpBlocked => return None,
    })
}

/// A NAT no preset has: address-dependent mapping and filtering (otherwise Linux masquerade).
pub fn adm_layer() -> Layer {
    Layer {
        name: "adm",
        nat: NatConfig {
            mapping: Ad,
            filtering: Ad,
            ..presets::port_restricted_cone()
        },
        firewall: Firewall::open(),
        carrier: false,
    }
}

/// The truth for [`adm_layer`].
pub const ADM_TRUTH: Truth = nat(Ad, Ad, false, Ports::Preserving);
