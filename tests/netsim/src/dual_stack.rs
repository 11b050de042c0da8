//! Dual-stack hosts: IPv4 behind a preset's NAT boxes (carrier CGNAT, symmetric...) and,
//! on the same interface, a global IPv6 address that those boxes route without
//! translation, as home routers and mobile carriers do. The IPv6 side is either open
//! (nothing filters) or behind a stateful firewall ([`crate::Firewall6`], RFC 6092
//! simple security) on the innermost box: the home router, or the carrier's gateway
//! for a phone behind CGNAT.
//!
//! Routing is by exact address, as everywhere in netsim: each network between the host
//! and the core gets a route for the host's IPv6 address towards the next box, and each
//! box forwards it inwards. An IPv6 packet from a routed address leaves untranslated
//! (through the box's stateless outbound [`crate::Firewall`] too, so a UDP-blocking
//! corporate box blocks IPv6 UDP as well); one to a routed address comes in if the
//! stateful firewall, where there is one, has a live flow for it. Other IPv6 traffic
//! through the box keeps its old meaning (NAT66 if the box has an IPv6 external
//! address, else dropped).

use crate::endpoint::HostId;
use crate::firewall6::{Firewall6, Firewall6Config, Firewall6Drop};
use crate::forward::Dir;
use crate::link::LinkSpec;
use crate::net::{GatewayId, NetworkId};
use crate::packet::Packet;
use crate::presets::{Layer, Preset};
use crate::sim::Sim;
use crate::topology::{Internet, Peer};
use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// How a dual-stack host's global IPv6 address is reachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv6Access {
    /// Routed and unfiltered: anyone may send to it.
    Open,
    /// Routed through a stateful firewall on the innermost box.
    Firewall(Firewall6Config),
}

impl Ipv6Access {
    /// The strict home-router firewall: address-and-port-dependent filtering, 120 s.
    pub fn firewall_apdf() -> Self {
        Ipv6Access::Firewall(Firewall6Config::address_and_port_dependent())
    }

    /// The transparent firewall of RFC 6092 REC-11: endpoint-independent filtering, 120 s.
    pub fn firewall_eif() -> Self {
        Ipv6Access::Firewall(Firewall6Config::endpoint_independent())
    }
}

impl fmt::Display for Ipv6Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ipv6Access::Open => f.write_str("open"),
            Ipv6Access::Firewall(c) => write!(f, "{c}"),
        }
    }
}

/// The IPv6 side of a box: the inside addresses it routes, and its stateful firewall.
#[derive(Debug, Clone, Default)]
pub(crate) struct Router6 {
    routed: BTreeSet<IpAddr>,
    firewall: Option<Firewall6>,
}

/// A dual-stack peer: the IPv4 path of a preset and a global IPv6 address on the same
/// host interface.
#[derive(Debug, Clone)]
pub struct DualStackPeer {
    /// The IPv4 side as [`Internet::peer`] builds it (`peer.addr` is the IPv4 address).
    pub peer: Peer,
    /// The host's global IPv6 address.
    pub addr6: IpAddr,
    /// The box holding the IPv6 firewall, if the IPv6 side has one.
    pub firewall: Option<GatewayId>,
}

impl DualStackPeer {
    /// The host.
    pub fn host(&self) -> HostId {
        self.peer.host
    }

    /// `[addr6]:port`.
    pub fn local6(&self, port: u16) -> SocketAddr {
        SocketAddr::new(self.addr6, port)
    }
}

/// The global IPv6 address of a dual-stack host: 2001:db8:1000:H::2 (H: its host id).
fn global_v6(host: HostId) -> IpAddr {
    let h = u16::try_from(host.0).expect("netsim: too many hosts for an IPv6 subnet number");
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0x1000, h, 0, 0, 0, 2))
}

impl Internet {
    /// A dual-stack peer: IPv4 behind `preset` (its own boxes, `access` into the core, as
    /// [`Internet::peer_with_link`]), and a global IPv6 address routed through the same
    /// boxes, `v6` open or firewalled on the innermost box. For [`Preset::Open`] (no box)
    /// the IPv6 side must be open.
    pub fn peer_dual_stack(
        &mut self,
        name: &str,
        preset: Preset,
        v6: Ipv6Access,
        access: LinkSpec,
    ) -> DualStackPeer {
        self.peer_dual_stack_with_layers(name, preset.layers(), v6, access)
    }

    /// [`Internet::peer_dual_stack`] behind custom NAT boxes (outermost first).
    pub fn peer_dual_stack_with_layers(
        &mut self,
        name: &str,
        layers: Vec<Layer>,
        v6: Ipv6Access,
        access: LinkSpec,
    ) -> DualStackPeer {
        assert!(
            !(layers.is_empty() && matches!(v6, Ipv6Access::Firewall(_))),
            "netsim: {name} has no box to put an IPv6 firewall on (an open preset)"
        );
        let (lan, nats, addr, link) = self.build_path(name, layers, access);
        let host = self.sim.add_host(name);
        let addr6 = global_v6(host);
        self.sim.add_interface(host, lan, &[addr, addr6], link);
        // Route the address inwards through every box, outermost first.
        for (i, &g) in nats.iter().enumerate().rev() {
            let wan = self.sim.gateways[g.0].wan;
            let upstream = self.sim.links[wan.0].network;
            self.sim.networks[upstream.0].routes.insert(addr6, wan);
            let r = self.sim.routers6.entry(g).or_default();
            r.routed.insert(addr6);
            if let (0, Ipv6Access::Firewall(cfg)) = (i, v6) {
                r.firewall.get_or_insert_with(|| Firewall6::new(cfg));
            }
        }
        let firewall = match v6 {
            Ipv6Access::Firewall(_) => nats.first().copied(),
            Ipv6Access::Open => None,
        };
        DualStackPeer {
            peer: Peer {
                host,
                addr,
                nats,
                lan,
            },
            addr6,
            firewall,
        }
    }
}

impl Sim {
    /// The stateful IPv6 firewall on box `g`, if it has one (flows, counters).
    pub fn firewall6(&self, g: GatewayId) -> Option<&Firewall6> {
        self.routers6.get(&g).and_then(|r| r.firewall.as_ref())
    }

    /// Whether box `g` routes this outbound packet natively (an IPv6 source it routes).
    pub(crate) fn routes_out6(&self, g: GatewayId, pkt: &Packet) -> bool {
        self.routers6
            .get(&g)
            .is_some_and(|r| r.routed.contains(&pkt.src.ip()))
    }

    /// Whether box `g` routes this inbound packet natively (an IPv6 destination it routes).
    pub(crate) fn routes_in6(&self, g: GatewayId, pkt: &Packet) -> bool {
        self.routers6
            .get(&g)
            .is_some_and(|r| r.routed.contains(&pkt.dst.ip()))
    }

    /// An IPv6 packet from a routed inside address: through the stateless outbound
    /// firewall, creating state in the stateful one, out of the WAN link untranslated
    /// (or back inside, if the destination is routed here too).
    pub(crate) fn route6_outbound(&mut self, g: GatewayId, pkt: Packet) {
        let now = self.clock.elapsed();
        let gw = &mut self.gateways[g.0];
        let name = &gw.name;
        if !gw.firewall.allows(&pkt) {
            gw.nat.stats.dropped_firewall += 1;
            self.trace
                .line(now, || format!("router {name}: drop (firewall) {pkt}"));
            return;
        }
        let r = self.routers6.get_mut(&g).expect("routes_out6 checked");
        if r.routed.contains(&pkt.dst.ip()) {
            let inside = gw.inside;
            return self.route_inside6(g, inside, pkt);
        }
        if let Some(f) = r.firewall.as_mut() {
            f.outbound(now, pkt.proto(), pkt.src, pkt.dst);
        }
        self.trace
            .line(now, || format!("router {name}: out (routed) {pkt}"));
        let wan = gw.wan;
        self.transmit(wan, Dir::Up, pkt);
    }

    /// An IPv6 packet for a routed inside address: in if the stateful firewall (if any)
    /// has a live flow for it under its filtering, else dropped and counted.
    pub(crate) fn route6_inbound(&mut self, g: GatewayId, pkt: Packet) {
        let now = self.clock.elapsed();
        let gw = &self.gateways[g.0];
        let name = &gw.name;
        let r = self.routers6.get_mut(&g).expect("routes_in6 checked");
        if let Some(f) = r.firewall.as_mut() {
            if let Err(why) = f.inbound(now, pkt.proto(), pkt.src, pkt.dst) {
                let why = match why {
                    Firewall6Drop::Unsolicited => "unsolicited",
                    Firewall6Drop::Filtered => "filtered",
                };
                self.trace.line(now, || {
                    format!("router {name}: firewall drop ({why}) {pkt}")
                });
                return;
            }
        }
        self.trace
            .line(now, || format!("router {name}: in (routed) {pkt}"));
        let inside = gw.inside;
        self.route_inside6(g, inside, pkt);
    }

    /// Hands a routed packet to the inside network if it still has a route for the
    /// destination (the host may have moved away); otherwise drops it as "no route"
    /// rather than let the network's default route send it back out through the box.
    fn route_inside6(&mut self, g: GatewayId, inside: NetworkId, pkt: Packet) {
        let n = &mut self.networks[inside.0];
        if n.routes.contains_key(&pkt.dst.ip()) {
            return self.route(inside, pkt);
        }
        n.dropped_no_route += 1;
        let now = self.clock.elapsed();
        let name = &self.gateways[g.0].name;
        self.trace.line(now, || {
            format!("router {name}: drop (no route inside) {pkt}")
        });
    }
}
