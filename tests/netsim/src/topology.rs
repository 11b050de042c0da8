//! The common topology: a public core with servers on public addresses, and
//! peers each behind a preset over an access link.

use crate::endpoint::HostId;
use crate::link::LinkSpec;
use crate::net::{GatewayId, NetworkId};
use crate::presets::{Layer, Preset};
use crate::sim::Sim;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::{Deref, DerefMut};
use std::time::Duration;

/// A peer built from a preset.
#[derive(Debug, Clone)]
pub struct Peer {
    pub host: HostId,
    /// The host's own (private, or public for `open`) address.
    pub addr: IpAddr,
    /// NAT boxes between the host and the core, innermost first.
    pub nats: Vec<GatewayId>,
    /// The network the host is on (its LAN, or the core for `open`).
    pub lan: NetworkId,
}

impl Peer {
    /// The innermost NAT (the home router), if any.
    pub fn nat(&self) -> Option<GatewayId> {
        self.nats.first().copied()
    }
    /// The outermost NAT (the one on the core), if any.
    pub fn outer_nat(&self) -> Option<GatewayId> {
        self.nats.last().copied()
    }
    /// `addr:port`.
    pub fn local(&self, port: u16) -> SocketAddr {
        SocketAddr::new(self.addr, port)
    }
}

/// A simulation with a public core. Derefs to [`Sim`].
pub struct Internet {
    pub sim: Sim,
    pub core: NetworkId,
    next_public: u8,
    next_carrier_public: u8,
    next_lan: u8,
    next_carrier: u8,
    lan_hosts: BTreeMap<NetworkId, (Ipv4Addr, u8)>,
    /// IPv6-only LANs (behind NAT64s): (subnet, next host number).
    lan6_hosts: BTreeMap<NetworkId, (u16, u16)>,
}

impl Deref for Internet {
    type Target = Sim;
    fn deref(&self) -> &Sim {
        &self.sim
    }
}

impl DerefMut for Internet {
    fn deref_mut(&mut self) -> &mut Sim {
        &mut self.sim
    }
}

impl Internet {
    /// An empty Internet: just the core.
    pub fn new(seed: u64) -> Self {
        let mut sim = Sim::new(seed);
        let core = sim.add_network("core");
        Internet {
            sim,
            core,
            next_public: 1,
            next_carrier_public: 1,
            next_lan: 1,
            next_carrier: 0,
            lan_hosts: BTreeMap::new(),
            lan6_hosts: BTreeMap::new(),
        }
    }

    /// A server in the core on these public addresses, over a perfect link.
    pub fn server(&mut self, name: &str, addrs: &[IpAddr]) -> HostId {
        self.server_with_link(name, addrs, LinkSpec::default())
    }

    /// A server in the core over a given link.
    pub fn server_with_link(&mut self, name: &str, addrs: &[IpAddr], link: LinkSpec) -> HostId {
        let h = self.sim.add_host(name);
        let core = self.core;
        self.sim.add_interface(h, core, addrs, link);
        h
    }

    /// A fresh public address for a home NAT or open host (203.0.113.0/24).
    pub fn alloc_public(&mut self) -> IpAddr {
        let n = self.next_public;
        self.next_public = n.checked_add(1).expect("netsim: out of 203.0.113.0/24");
        IpAddr::V4(Ipv4Addr::new(203, 0, 113, n))
    }

    pub(crate) fn alloc_carrier_public(&mut self) -> IpAddr {
        let n = self.next_carrier_public;
        self.next_carrier_public = n.checked_add(1).expect("netsim: out of 198.51.100.0/24");
        IpAddr::V4(Ipv4Addr::new(198, 51, 100, n))
    }

    /// Registers `net` as an IPv6-only LAN (2001:db8:subnet::/64) and returns its subnet.
    pub(crate) fn new_v6_lan(&mut self, net: NetworkId) -> u16 {
        let subnet = self.lan6_hosts.len() as u16 + 1;
        self.lan6_hosts.insert(net, (subnet, 2));
        subnet
    }

    /// The next free host address on a network made by this builder (IPv6 on an
    /// IPv6-only LAN behind a NAT64).
    pub fn alloc_on(&mut self, net: NetworkId) -> IpAddr {
        if let Some((subnet, n)) = self.lan6_hosts.get_mut(&net) {
            let a = crate::nat64::v6_lan_addr(*subnet, *n);
            *n += 1;
            return a;
        }
        let (base, n) = self
            .lan_hosts
            .get_mut(&net)
            .expect("netsim: not a builder-made LAN");
        let o = base.octets();
        let a = IpAddr::V4(Ipv4Addr::new(o[0], o[1], o[2], *n));
        *n += 1;
        a
    }

    /// A peer behind `preset`; the whole one-way latency to the core is `access`.
    pub fn peer(&mut self, name: &str, preset: Preset, access: Duration) -> Peer {
        self.peer_with_link(name, preset, LinkSpec::latency(access))
    }

    /// A peer behind `preset`; `access` is the link into the core (the outermost
    /// NAT's WAN link, or the host's own link for `open`). Inner links are perfect.
    pub fn peer_with_link(&mut self, name: &str, preset: Preset, access: LinkSpec) -> Peer {
        self.peer_with_layers(name, preset.layers(), access)
    }

    /// A peer behind custom NAT boxes (outermost first), e.g. an
    /// address-dependent mapping no preset has.
    pub fn peer_with_layers(&mut self, name: &str, layers: Vec<Layer>, access: LinkSpec) -> Peer {
        let (lan, nats, addr, link) = self.build_path(name, layers, access);
        let host = self.sim.add_host(name);
        self.sim.add_interface(host, lan, &[addr], link);
        Peer {
            host,
            addr,
            nats,
            lan,
        }
    }

    /// Builds the NAT boxes of a preset; returns the host's network, the NATs
    /// (innermost first), a host address on that network and the host's link.
    pub(crate) fn build_path(
        &mut self,
        name: &str,
        layers: Vec<Layer>,
        access: LinkSpec,
    ) -> (NetworkId, Vec<GatewayId>, IpAddr, LinkSpec) {
        let mut upstream = self.core;
        let mut nats = Vec::new();
        let mut link = access;
        for (i, layer) in layers.iter().enumerate() {
            let wan = if i > 0 {
                self.alloc_on(upstream)
            } else if layer.carrier {
                self.alloc_carrier_public()
            } else {
                self.alloc_public()
            };
            let gname = format!("{name}-{}", layer.name);
            let (g, inside) = self.sim.add_gateway(
                &gname,
                upstream,
                &[wan],
                link,
                layer.nat.clone(),
                layer.firewall.clone(),
            );
            link = LinkSpec::default();
            let base = if layer.carrier {
                self.next_carrier += 1;
                Ipv4Addr::new(100, 64, self.next_carrier - 1, 0)
            } else {
                self.next_lan += 1;
                Ipv4Addr::new(10, self.next_lan - 1, 0, 0)
            };
            self.lan_hosts.insert(inside, (base, 2));
            nats.push(g);
            upstream = inside;
        }
        nats.reverse();
        let addr = if layers.is_empty() {
            self.alloc_public()
        } else {
            self.alloc_on(upstream)
        };
        (upstream, nats, addr, link)
    }

    /// A host on the LAN side of `peer`'s innermost NAT at the box's own LAN address
    /// (x.y.z.1), allowed to install static mappings in that NAT: attach a
    /// [`crate::portmap_server::PortMapServer`] to it. Returns the host and address.
    pub fn add_portmap_host(&mut self, peer: &Peer) -> (HostId, IpAddr) {
        let g = peer.nat().expect("netsim: the peer has no NAT");
        let (base, _) = self.lan_hosts[&peer.lan];
        let o = base.octets();
        let ip = IpAddr::V4(Ipv4Addr::new(o[0], o[1], o[2], 1));
        (self.sim.add_nat_service_host(g, ip), ip)
    }

    /// Another host on the same LAN as `peer` (behind the same NATs), over a perfect link.
    pub fn neighbour(&mut self, name: &str, peer: &Peer) -> Peer {
        let addr = self.alloc_on(peer.lan);
        let host = self.sim.add_host(name);
        self.sim
            .add_interface(host, peer.lan, &[addr], LinkSpec::default());
        Peer {
            host,
            addr,
            nats: peer.nats.clone(),
            lan: peer.lan,
        }
    }

    /// Moves `host`'s interface `iface` behind freshly built NATs of `preset`
    /// (Wi-Fi → cellular): the old interface and its address are gone, the new
    /// one is up, and the host's endpoints are told. `name` names the new NATs.
    /// Returns the new path (same host) and the new interface index.
    pub fn roam(
        &mut self,
        host: HostId,
        iface: usize,
        name: &str,
        preset: Preset,
        access: LinkSpec,
    ) -> (Peer, usize) {
        let (lan, nats, addr, link) = self.build_path(name, preset.layers(), access);
        let idx = self.sim.replace_interface(host, iface, lan, &[addr], link);
        (
            Peer {
                host,
                addr,
                nats,
                lan,
            },
            idx,
        )
    }
}
