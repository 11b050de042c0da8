//! Moving packets: hosts send, links delay or drop, networks route, gateways
//! translate and filter, hosts deliver to endpoints.

use crate::clock::fmt_offset;
use crate::endpoint::{Datagram, HostId, NatControl, NatControlResult};
use crate::nat::{NatDrop, NatNote};
use crate::net::{GatewayId, LinkId, NetworkId, NodeRef};
use crate::packet::{Body, Packet};
use crate::sim::{Event, Sim};
use std::net::{IpAddr, SocketAddr};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    Up,
    Down,
}

impl Sim {
    /// Drains an endpoint's pending datagrams and TCP commands.
    pub(crate) fn drain(&mut self, h: HostId, slot: usize) {
        loop {
            let ep = &mut self.hosts[h.0].slots[slot].ep;
            if let Some(d) = ep.poll_transmit() {
                self.host_send_udp(h, d);
                continue;
            }
            if let Some(c) = ep.poll_tcp() {
                self.tcp_command(h, slot, c);
                continue;
            }
            if let Some(c) = ep.poll_nat_control() {
                self.nat_control(h, slot, c);
                continue;
            }
            break;
        }
    }

    /// Finds the up interface owning `ip` (or, for an unspecified IP, the first up
    /// interface with an address of that family). Returns (link, concrete ip).
    pub(crate) fn source_iface(&self, h: HostId, ip: IpAddr) -> Option<(LinkId, IpAddr)> {
        let host = &self.hosts[h.0];
        for iface in host.ifaces.iter().filter(|i| i.up) {
            let link = &self.links[iface.link.0];
            if ip.is_unspecified() {
                if let Some(a) = link.addrs.iter().find(|a| a.is_ipv6() == ip.is_ipv6()) {
                    return Some((iface.link, *a));
                }
            } else if link.addrs.contains(&ip) {
                return Some((iface.link, ip));
            }
        }
        None
    }

    pub(crate) fn new_packet(&mut self, src: SocketAddr, dst: SocketAddr, body: Body) -> Packet {
        let id = self.next_packet_id;
        self.next_packet_id += 1;
        Packet { id, src, dst, body }
    }

    fn host_send_udp(&mut self, h: HostId, d: Datagram) {
        let now = self.clock.elapsed();
        let Some((link, ip)) = self.source_iface(h, d.src.ip()) else {
            self.hosts[h.0].stats.dropped_bad_source += 1;
            let name = &self.hosts[h.0].name;
            self.trace.line(now, || {
                format!(
                    "host {name}: drop (no such local address) udp {} -> {}",
                    d.src, d.dst
                )
            });
            return;
        };
        self.hosts[h.0].stats.sent += 1;
        let pkt = self.new_packet(
            SocketAddr::new(ip, d.src.port()),
            d.dst,
            Body::Udp(d.payload),
        );
        self.transmit(link, Dir::Up, pkt);
    }

    /// Offers a packet to one direction of a link.
    pub(crate) fn transmit(&mut self, link: LinkId, dir: Dir, pkt: Packet) {
        let now = self.clock.elapsed();
        let l = &mut self.links[link.0];
        let arrow = if dir == Dir::Up { "up" } else { "down" };
        self.trace.capture(now, &l.name, &pkt);
        let ld = if dir == Dir::Up {
            &mut l.up
        } else {
            &mut l.down
        };
        if !l.active {
            ld.count_down();
            let name = &l.name;
            self.trace.line(now, || {
                format!("link {name} {arrow}: drop (interface down) {pkt}")
            });
            return;
        }
        let reliable = matches!(pkt.body, Body::Tcp { .. });
        match ld.offer(now, pkt.ip_len(), reliable, &mut self.rng) {
            Err(reason) => {
                let name = &l.name;
                self.trace.line(now, || {
                    format!("link {name} {arrow}: drop ({reason:?}) {pkt}")
                });
            }
            Ok(arr) => {
                let name = &l.name;
                self.trace.line(now, || {
                    let mut s =
                        format!("link {name} {arrow}: {pkt} arrives {}", fmt_offset(arr.at));
                    if arr.reordered {
                        s.push_str(" (held back)");
                    }
                    if arr.duplicate_at.is_some() {
                        s.push_str(" (duplicated)");
                    }
                    s
                });
                let net = l.network;
                let mk = |p: Packet| match dir {
                    Dir::Up => Event::AtNetwork { net, pkt: p },
                    Dir::Down => Event::AtNode { link, pkt: p },
                };
                if let Some(d) = arr.duplicate_at {
                    self.schedule_event(d, mk(pkt.clone()));
                }
                self.schedule_event(arr.at, mk(pkt));
            }
        }
    }

    /// Applies a NAT service host's request to the NAT it serves and answers at once.
    fn nat_control(&mut self, h: HostId, slot: usize, c: NatControl) {
        let Some(g) = self.hosts[h.0].serves else {
            return;
        };
        let now = self.clock.elapsed();
        let nat = &mut self.gateways[g.0].nat;
        let result = match c {
            NatControl::Map {
                token,
                internal,
                port,
                exact,
                lifetime,
            } => {
                let ext = nat
                    .external_addrs()
                    .iter()
                    .copied()
                    .find(|a| a.is_ipv6() == internal.is_ipv6());
                match (
                    ext,
                    nat.add_static(now, internal, port, exact, lifetime, &mut self.rng),
                ) {
                    (Some(ip), Ok(p)) => {
                        let external = SocketAddr::new(ip, p);
                        let name = &self.gateways[g.0].name;
                        self.trace.line(now, || {
                            format!("nat {name}: static mapping udp {internal} => {external} for {lifetime:?}")
                        });
                        NatControlResult::Mapped { token, external }
                    }
                    _ => NatControlResult::Conflict { token },
                }
            }
            NatControl::UnmapInternal { internal } => {
                nat.remove_static_internal(internal);
                return;
            }
            NatControl::UnmapPort { port } => {
                nat.remove_static_port(port, false);
                return;
            }
        };
        let t = self.clock.now();
        self.hosts[h.0].slots[slot].ep.nat_control_result(t, result);
    }

    /// A network forwards a packet: to an attached address, else to its upstream gateway.
    /// Multicast goes to every other host on the network and never upstream.
    pub(crate) fn route(&mut self, net: NetworkId, pkt: Packet) {
        if pkt.dst.ip().is_multicast() {
            let mut links: Vec<LinkId> = self.networks[net.0]
                .routes
                .iter()
                .filter(|(a, _)| **a != pkt.src.ip() && a.is_ipv4() == pkt.dst.is_ipv4())
                .map(|(_, l)| *l)
                .filter(|l| matches!(self.links[l.0].node, NodeRef::Host(..)))
                .collect();
            links.dedup();
            for l in links {
                let mut copy = pkt.clone();
                // Each copy is addressed to the group; the receiving host takes it.
                copy.id = pkt.id;
                self.transmit(l, Dir::Down, copy);
            }
            return;
        }
        let n = &mut self.networks[net.0];
        if let Some(&link) = n.routes.get(&pkt.dst.ip()) {
            self.transmit(link, Dir::Down, pkt);
        } else if let Some(g) = n.upstream {
            self.gateway_outbound(g, pkt);
        } else {
            n.dropped_no_route += 1;
            let now = self.clock.elapsed();
            let name = &n.name;
            self.trace
                .line(now, || format!("net {name}: drop (no route) {pkt}"));
        }
    }

    pub(crate) fn at_node(&mut self, link: LinkId, pkt: Packet) {
        match self.links[link.0].node {
            NodeRef::Host(h, iface) => self.host_receive(h, iface, pkt),
            NodeRef::Gateway(g) => self.gateway_inbound(g, pkt),
        }
    }

    pub(crate) fn emit_nat_notes(&mut self, g: usize) {
        let notes = std::mem::take(&mut self.gateways[g].nat.notes);
        if !self.trace.is_enabled() {
            return;
        }
        let name = self.gateways[g].name.clone();
        let ext = self.gateways[g].nat.external_addrs().to_vec();
        let now = self.clock.elapsed();
        for n in notes {
            match n {
                NatNote::NewMapping { proto, internal, external, remote } => self.trace.line(now, || {
                    format!("nat {name}: new mapping {proto} {internal} => {external} (first to {remote})")
                }),
                NatNote::Expired { proto, internal, external_port, at } => {
                    let ip = ext.iter().find(|a| a.is_ipv6() == internal.is_ipv6()).copied();
                    let external = ip.map_or(format!("port {external_port}"), |ip| SocketAddr::new(ip, external_port).to_string());
                    self.trace.line(at, || format!("nat {name}: mapping expired {proto} {internal} => {external}"))
                }
                NatNote::EarlyProbePoison { external_port, remote } => self.trace.line(now, || {
                    format!("nat {name}: unsolicited {remote} -> port {external_port} leaves an unreplied entry")
                }),
            }
        }
    }

    fn nat_drop(&mut self, g: GatewayId, why: &str, pkt: &Packet) {
        self.emit_nat_notes(g.0);
        let now = self.clock.elapsed();
        let name = &self.gateways[g.0].name;
        self.trace
            .line(now, || format!("nat {name}: drop ({why}) {pkt}"));
    }

    fn gateway_outbound(&mut self, g: GatewayId, mut pkt: Packet) {
        if self.routes_out6(g, &pkt) {
            return self.route6_outbound(g, pkt);
        }
        let now = self.clock.elapsed();
        if self.gateways[g.0].nat64.is_some() && !self.nat64_outbound(g, &mut pkt) {
            return;
        }
        let gw = &mut self.gateways[g.0];
        if !gw.firewall.allows(&pkt) {
            gw.nat.stats.dropped_firewall += 1;
            return self.nat_drop(g, "firewall", &pkt);
        }
        let hairpin = gw.nat.external_addrs().contains(&pkt.dst.ip());
        if hairpin && !gw.nat.cfg.hairpinning {
            gw.nat.stats.dropped_hairpin_disabled += 1;
            return self.nat_drop(g, "hairpinning disabled", &pkt);
        }
        let orig = pkt.src;
        match gw
            .nat
            .outbound(now, pkt.proto(), pkt.src, pkt.dst, &mut self.rng)
        {
            Err(e) => return self.nat_drop(g, drop_reason(e), &pkt),
            Ok(ext) => pkt.src = ext,
        }
        self.emit_nat_notes(g.0);
        let gw = &mut self.gateways[g.0];
        let name = &gw.name;
        self.trace
            .line(now, || format!("nat {name}: out {orig} => {}", pkt.src));
        if hairpin {
            match gw.nat.inbound(now, pkt.proto(), pkt.src, pkt.dst) {
                Err(e) => return self.nat_drop(g, drop_reason(e), &pkt),
                Ok(internal) => {
                    gw.nat.stats.hairpinned += 1;
                    let old = pkt.dst;
                    pkt.dst = internal;
                    if let Some(n64) = gw.nat64.filter(|_| internal.is_ipv6()) {
                        pkt.src = n64.source(pkt.src);
                    }
                    let inside = gw.inside;
                    let name = &gw.name;
                    self.trace
                        .line(now, || format!("nat {name}: hairpin {old} => {internal}"));
                    self.emit_nat_notes(g.0);
                    return self.route(inside, pkt);
                }
            }
        }
        let wan = self.gateways[g.0].wan;
        self.transmit(wan, Dir::Up, pkt);
    }

    fn gateway_inbound(&mut self, g: GatewayId, mut pkt: Packet) {
        if self.routes_in6(g, &pkt) {
            return self.route6_inbound(g, pkt);
        }
        let now = self.clock.elapsed();
        let gw = &mut self.gateways[g.0];
        match gw.nat.inbound(now, pkt.proto(), pkt.src, pkt.dst) {
            Err(e) => self.nat_drop(g, drop_reason(e), &pkt),
            Ok(internal) => {
                let old = pkt.dst;
                pkt.dst = internal;
                if let Some(n64) = gw.nat64.filter(|_| internal.is_ipv6()) {
                    pkt.src = n64.source(pkt.src);
                }
                let inside = gw.inside;
                self.emit_nat_notes(g.0);
                let name = &self.gateways[g.0].name;
                self.trace.line(now, || {
                    format!("nat {name}: in {old} => {internal} from {}", pkt.src)
                });
                self.route(inside, pkt);
            }
        }
    }

    /// The NAT64 step of an outbound packet: an IPv6 destination under the prefix
    /// becomes the IPv4 address it embeds. Returns false when the packet was dropped.
    fn nat64_outbound(&mut self, g: GatewayId, pkt: &mut Packet) -> bool {
        let now = self.clock.elapsed();
        let gw = &mut self.gateways[g.0];
        let n64 = gw.nat64.expect("a NAT64 gateway");
        if pkt.src.is_ipv6() && pkt.dst.is_ipv4() {
            gw.nat.stats.dropped_nat64_family_mismatch += 1;
            self.nat_drop(g, "nat64: IPv6 source to an IPv4 address", pkt);
            return false;
        }
        match n64.destination(pkt.dst) {
            None => true,
            Some(Ok(v4)) => {
                let old = std::mem::replace(&mut pkt.dst, v4);
                let name = &gw.name;
                self.trace
                    .line(now, || format!("nat {name}: nat64 {old} => {v4}"));
                true
            }
            Some(Err(why)) => {
                gw.nat.stats.dropped_nat64_untranslatable += 1;
                let reason = match why {
                    crate::nat64::Untranslatable::NotEmbedded => "nat64: u-octet not zero",
                    crate::nat64::Untranslatable::NotPermitted => {
                        "nat64: non-global IPv4 under the Well-Known Prefix (RFC 6052 3.1)"
                    }
                };
                self.nat_drop(g, reason, pkt);
                false
            }
        }
    }

    fn host_receive(&mut self, h: HostId, iface: usize, pkt: Packet) {
        let now = self.clock.elapsed();
        let host = &mut self.hosts[h.0];
        if !host.ifaces[iface].up {
            return;
        }
        let name = &host.name;
        match pkt.body {
            Body::Tcp { .. } => self.tcp_receive(h, pkt),
            Body::Udp(payload) => {
                let port = pkt.dst.port();
                let slot = host
                    .slots
                    .iter()
                    .position(|s| s.ports.as_ref().is_some_and(|p| p.contains(&port)))
                    .or_else(|| host.slots.iter().position(|s| s.ports.is_none()));
                let Some(slot) = slot else {
                    host.stats.dropped_no_listener += 1;
                    self.trace.line(now, || {
                        format!(
                            "host {name}: drop (no listener) udp {} -> {}",
                            pkt.src, pkt.dst
                        )
                    });
                    return;
                };
                host.stats.received += 1;
                self.trace.line(now, || {
                    format!(
                        "host {name}: recv #{} udp {} -> {} len={}",
                        pkt.id,
                        pkt.src,
                        pkt.dst,
                        payload.len()
                    )
                });
                let d = Datagram {
                    src: pkt.src,
                    dst: pkt.dst,
                    payload,
                };
                let t = self.clock.now();
                host.slots[slot].ep.receive(t, d);
                self.drain(h, slot);
            }
        }
    }
}

fn drop_reason(e: NatDrop) -> &'static str {
    match e {
        NatDrop::Filtered => "filtered",
        NatDrop::NoMapping => "no mapping",
        NatDrop::PoolExhausted => "port pool exhausted",
        NatDrop::NoExternalAddress => "no external address of that family",
    }
}
