//! Building a simulation, changing it at virtual times (interfaces, NAT
//! reboots, address changes), and inspecting it.

use crate::endpoint::{Endpoint, EndpointId, HostId};
use crate::firewall::Firewall;
use crate::link::{LinkSpec, LinkStats};
use crate::nat::{Nat, NatConfig, NatStats};
use crate::net::{
    Gateway, GatewayId, Host, HostStats, Interface, Link, LinkId, Network, NetworkId, NodeRef, Slot,
};
use crate::pcap;
use crate::sim::Sim;
use crate::trace::Trace;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

impl Sim {
    /// Adds a routing segment. A network without an upstream gateway (the core)
    /// drops packets for addresses nobody has.
    pub fn add_network(&mut self, name: &str) -> NetworkId {
        self.networks.push(Network {
            name: name.to_string(),
            routes: BTreeMap::new(),
            upstream: None,
            dropped_no_route: 0,
        });
        NetworkId(self.networks.len() - 1)
    }

    /// Adds a host with no interfaces.
    pub fn add_host(&mut self, name: &str) -> HostId {
        self.hosts.push(Host {
            name: name.to_string(),
            ifaces: Vec::new(),
            slots: Vec::new(),
            stats: HostStats::default(),
            listeners: BTreeMap::new(),
            conns: BTreeMap::new(),
            next_ephemeral: 49152,
            serves: None,
        });
        HostId(self.hosts.len() - 1)
    }

    pub(crate) fn add_link(
        &mut self,
        name: String,
        net: NetworkId,
        node: NodeRef,
        addrs: &[IpAddr],
        spec: LinkSpec,
    ) -> LinkId {
        let id = LinkId(self.links.len());
        for a in addrs {
            let prev = self.networks[net.0].routes.insert(*a, id);
            assert!(
                prev.is_none(),
                "netsim: address {a} is already in use on {}",
                self.networks[net.0].name
            );
        }
        self.links
            .push(Link::new(name, net, node, addrs.to_vec(), spec));
        id
    }

    fn unroute(&mut self, link: LinkId) {
        let l = &self.links[link.0];
        let net = &mut self.networks[l.network.0];
        for a in &l.addrs {
            if net.routes.get(a) == Some(&link) {
                net.routes.remove(a);
            }
        }
    }

    /// Adds an interface to `host` on `network` with these addresses (IPv4 and/or
    /// IPv6) over a link. Returns the interface index. Endpoints on the host are told.
    pub fn add_interface(
        &mut self,
        host: HostId,
        network: NetworkId,
        addrs: &[IpAddr],
        link: LinkSpec,
    ) -> usize {
        let idx = self.hosts[host.0].ifaces.len();
        let name = format!("{}/eth{idx}", self.hosts[host.0].name);
        let l = self.add_link(name, network, NodeRef::Host(host, idx), addrs, link);
        self.hosts[host.0]
            .ifaces
            .push(Interface { link: l, up: true });
        let now = self.clock.elapsed();
        self.trace.line(now, || {
            format!("iface up: {:?} on {}", addrs, self.networks[network.0].name)
        });
        self.notify_interfaces(host);
        idx
    }

    /// Takes an interface down (or back up). Packets to and from it are dropped
    /// while it is down; endpoints on the host are told.
    pub fn set_interface_up(&mut self, host: HostId, iface: usize, up: bool) {
        let i = &mut self.hosts[host.0].ifaces[iface];
        i.up = up;
        let link = i.link;
        self.links[link.0].active = up;
        let now = self.clock.elapsed();
        let name = &self.links[link.0].name;
        self.trace.line(now, || {
            format!("iface {name}: {}", if up { "up" } else { "down" })
        });
        self.notify_interfaces(host);
    }

    /// Removes an interface for good (its addresses become unrouted) and adds a
    /// new one on another network: Wi-Fi → cellular. Returns the new index.
    pub fn replace_interface(
        &mut self,
        host: HostId,
        iface: usize,
        network: NetworkId,
        addrs: &[IpAddr],
        link: LinkSpec,
    ) -> usize {
        let old = self.hosts[host.0].ifaces[iface].link;
        self.hosts[host.0].ifaces[iface].up = false;
        self.links[old.0].active = false;
        self.unroute(old);
        self.add_interface(host, network, addrs, link)
    }

    fn notify_interfaces(&mut self, host: HostId) {
        let addrs = self.host_addrs(host);
        let now = self.clock.now();
        for s in 0..self.hosts[host.0].slots.len() {
            self.hosts[host.0].slots[s]
                .ep
                .interfaces_changed(now, &addrs);
            self.drain(host, s);
        }
    }

    /// Adds a NAT box whose WAN side sits on `upstream` with `wan_addrs`, and
    /// returns it with its (new) inside network.
    pub fn add_gateway(
        &mut self,
        name: &str,
        upstream: NetworkId,
        wan_addrs: &[IpAddr],
        wan_link: LinkSpec,
        nat: NatConfig,
        firewall: Firewall,
    ) -> (GatewayId, NetworkId) {
        let g = GatewayId(self.gateways.len());
        let inside = self.add_network(&format!("{name}-lan"));
        self.networks[inside.0].upstream = Some(g);
        let wan = self.add_link(
            format!("{name}/wan"),
            upstream,
            NodeRef::Gateway(g),
            wan_addrs,
            wan_link,
        );
        self.gateways.push(Gateway {
            name: name.to_string(),
            inside,
            wan,
            nat: Nat::new(nat, wan_addrs.to_vec()),
            firewall,
            nat64: None,
        });
        (g, inside)
    }

    /// The NAT forgets every mapping (a reboot), static ones too; its service hosts'
    /// endpoints are told ([`crate::Endpoint::nat_rebooted`]).
    pub fn nat_reboot(&mut self, g: GatewayId) {
        let gw = &mut self.gateways[g.0];
        gw.nat.flush();
        gw.nat.stats.reboots += 1;
        let now = self.clock.elapsed();
        let name = &gw.name;
        self.trace
            .line(now, || format!("nat {name}: reboot, mappings forgotten"));
        let t = self.clock.now();
        for h in 0..self.hosts.len() {
            if self.hosts[h].serves == Some(g) {
                for s in 0..self.hosts[h].slots.len() {
                    self.hosts[h].slots[s].ep.nat_rebooted(t);
                    self.drain(HostId(h), s);
                }
            }
        }
    }

    /// The NAT's UDP idle timeout changes to `timeout`, from each mapping's next packet
    /// on ([`crate::Nat::set_mapping_timeout`]).
    pub fn nat_set_mapping_timeout(&mut self, g: GatewayId, timeout: Duration) {
        let gw = &mut self.gateways[g.0];
        gw.nat.set_mapping_timeout(timeout);
        let now = self.clock.elapsed();
        let name = &gw.name;
        self.trace
            .line(now, || format!("nat {name}: UDP timeout now {timeout:?}"));
    }

    /// Adds a host on gateway `g`'s inside network with address `lan_ip` (the box's
    /// own LAN address, e.g. 10.x.0.1) that may install static mappings in `g`'s NAT:
    /// where a port-mapping server ([`crate::portmap_server::PortMapServer`]) lives.
    pub fn add_nat_service_host(&mut self, g: GatewayId, lan_ip: IpAddr) -> HostId {
        let name = format!("{}-service", self.gateways[g.0].name);
        let h = self.add_host(&name);
        self.hosts[h.0].serves = Some(g);
        let inside = self.gateways[g.0].inside;
        self.add_interface(h, inside, &[lan_ip], LinkSpec::default());
        h
    }

    /// The NAT's public address(es) change; mappings are forgotten too.
    pub fn nat_set_public_addrs(&mut self, g: GatewayId, addrs: &[IpAddr]) {
        let wan = self.gateways[g.0].wan;
        self.unroute(wan);
        let net = self.links[wan.0].network;
        for a in addrs {
            self.networks[net.0].routes.insert(*a, wan);
        }
        self.links[wan.0].addrs = addrs.to_vec();
        let gw = &mut self.gateways[g.0];
        gw.nat.set_external(addrs.to_vec());
        gw.nat.flush();
        let now = self.clock.elapsed();
        let name = &gw.name;
        self.trace.line(now, || {
            format!("nat {name}: public address now {addrs:?}, mappings forgotten")
        });
    }

    /// Attaches an endpoint receiving every UDP port of `host` not claimed by a
    /// port-specific endpoint. Returns a typed handle.
    pub fn attach<T: Endpoint>(&mut self, host: HostId, ep: T) -> EndpointId<T> {
        self.attach_slot(host, None, ep)
    }

    /// Attaches an endpoint receiving only these UDP ports.
    pub fn attach_on_ports<T: Endpoint>(
        &mut self,
        host: HostId,
        ports: &[u16],
        ep: T,
    ) -> EndpointId<T> {
        self.attach_slot(host, Some(ports.to_vec()), ep)
    }

    fn attach_slot<T: Endpoint>(
        &mut self,
        host: HostId,
        ports: Option<Vec<u16>>,
        ep: T,
    ) -> EndpointId<T> {
        let slots = &mut self.hosts[host.0].slots;
        slots.push(Slot {
            ports,
            ep: Box::new(ep),
        });
        let id = EndpointId::new(host, slots.len() - 1);
        let addrs = self.host_addrs(host);
        let now = self.clock.now();
        self.hosts[host.0].slots[id.slot]
            .ep
            .interfaces_changed(now, &addrs);
        id
    }

    /// The endpoint behind a handle.
    pub fn endpoint<T: Endpoint>(&self, id: EndpointId<T>) -> &T {
        self.hosts[id.host.0].slots[id.slot]
            .ep
            .as_any()
            .downcast_ref()
            .expect("endpoint type")
    }

    /// Mutable access, e.g. to make API calls between steps (what they queue is
    /// sent at the current virtual time on the next step or run).
    pub fn endpoint_mut<T: Endpoint>(&mut self, id: EndpointId<T>) -> &mut T {
        self.hosts[id.host.0].slots[id.slot]
            .ep
            .as_any_mut()
            .downcast_mut()
            .expect("endpoint type")
    }

    /// The host's addresses on interfaces that are up.
    pub fn host_addrs(&self, host: HostId) -> Vec<IpAddr> {
        let h = &self.hosts[host.0];
        h.ifaces
            .iter()
            .filter(|i| i.up)
            .flat_map(|i| self.links[i.link.0].addrs.iter().copied())
            .collect()
    }

    pub fn host_stats(&self, host: HostId) -> &HostStats {
        &self.hosts[host.0].stats
    }

    /// The link of a host interface.
    pub fn host_link(&self, host: HostId, iface: usize) -> LinkId {
        self.hosts[host.0].ifaces[iface].link
    }

    /// The WAN link of a gateway.
    pub fn gateway_wan_link(&self, g: GatewayId) -> LinkId {
        self.gateways[g.0].wan
    }

    /// Counters of a link: (up = node → network, down = network → node).
    pub fn link_stats(&self, link: LinkId) -> (LinkStats, LinkStats) {
        self.links[link.0].stats()
    }

    /// The NAT table of a gateway (mappings, config, counters).
    pub fn nat(&self, g: GatewayId) -> &Nat {
        &self.gateways[g.0].nat
    }

    pub fn nat_stats(&self, g: GatewayId) -> &NatStats {
        &self.gateways[g.0].nat.stats
    }

    /// Packets a network dropped for lack of a route.
    pub fn network_dropped_no_route(&self, net: NetworkId) -> u64 {
        self.networks[net.0].dropped_no_route
    }

    /// All counters as text: one line per link direction, NAT and host.
    pub fn counters_text(&self) -> String {
        let mut s = String::new();
        for l in &self.links {
            s += &format!(
                "link {} up {:?}\nlink {} down {:?}\n",
                l.name, l.up.stats, l.name, l.down.stats
            );
        }
        for g in &self.gateways {
            s += &format!("nat {} {:?}\n", g.name, g.nat.stats);
        }
        for h in &self.hosts {
            s += &format!("host {} {:?}\n", h.name, h.stats);
        }
        s
    }

    /// Starts recording the text trace and packet captures.
    pub fn enable_trace(&mut self) {
        self.trace.enable();
    }

    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// The captured packets as a pcap file (LINKTYPE_RAW).
    pub fn pcap_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        pcap::write_pcap(&mut v, self.trace.captured()).expect("write to Vec");
        v
    }

    /// Writes the captured packets to a pcap file Wireshark opens.
    pub fn write_pcap(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        let f = std::io::BufWriter::new(std::fs::File::create(path)?);
        pcap::write_pcap(f, self.trace.captured())
    }
}
