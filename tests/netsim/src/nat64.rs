//! A stateful NAT64 (RFC 6146) on a gateway: IPv6-only hosts inside reach IPv4 hosts by
//! sending to `prefix::a` (RFC 6052); the gateway extracts `a`, maps the IPv6 source to
//! an address and port of its IPv4 pool with the same [`Nat`] table the IPv4 NATs use
//! (so mapping and filtering behaviour, port assignment, timeouts, inbound refresh and
//! hairpinning are configured the same way), and rewrites the IPv4 source of what comes
//! back to `prefix::source`. UDP and the simulated TCP both pass.
//!
//! Not modelled: native IPv6 beyond the gateway (an IPv6 destination outside the prefix
//! goes through NAT66 if the gateway has an IPv6 external address, else is dropped as
//! `dropped_no_external_address`), ICMP, fragmentation, DNS64 (tests synthesize).

use crate::endpoint::HostId;
use crate::firewall::Firewall;
use crate::link::LinkSpec;
use crate::nat::{Nat, NatConfig};
use crate::net::{Gateway, GatewayId, NetworkId, NodeRef};
use crate::sim::Sim;
use crate::topology::{Internet, Peer};
use pinhole::nat::Nat64Prefix;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// How a NAT64 gateway translates.
#[derive(Debug, Clone, PartialEq)]
pub struct Nat64Config {
    /// The prefix under which IPv4 addresses are represented (Pref64::/n).
    pub prefix: Nat64Prefix,
    /// The IPv6 → IPv4 translation table: mapping and filtering behaviour, pool ports,
    /// timeouts (RFC 6146 asks for endpoint-independent mapping).
    pub nat: NatConfig,
    /// Refuse IPv4 destinations RFC 6052 §3.1 keeps out of the Well-Known Prefix
    /// (private, shared, documentation ranges...), as TAYGA does. Off in the presets,
    /// because netsim's "public" servers live in documentation ranges.
    pub strict_well_known: bool,
}

/// The NAT64 part of a gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Nat64Settings {
    pub prefix: Nat64Prefix,
    pub strict_well_known: bool,
}

/// Why an IPv6 packet under the prefix is not translated.
pub(crate) enum Untranslatable {
    /// The u-octet (bits 64-71) is not zero: not an IPv4-embedded address.
    NotEmbedded,
    /// RFC 6052 §3.1 (strict mode): a non-global IPv4 address under the Well-Known Prefix.
    NotPermitted,
}

impl Nat64Settings {
    /// The IPv4 destination for an IPv6 destination under the prefix; `None` when `dst`
    /// is not under the prefix at all (the packet is not for the translator).
    pub fn destination(&self, dst: SocketAddr) -> Option<Result<SocketAddr, Untranslatable>> {
        let IpAddr::V6(ip) = dst.ip() else {
            return None;
        };
        if !self.prefix.contains(ip) {
            return None;
        }
        Some(match self.prefix.extract(ip) {
            None => Err(Untranslatable::NotEmbedded),
            Some(v4) if self.strict_well_known && !self.prefix.permits(v4) => {
                Err(Untranslatable::NotPermitted)
            }
            Some(v4) => Ok(SocketAddr::new(IpAddr::V4(v4), dst.port())),
        })
    }

    /// The IPv6 source an inside host sees for an IPv4 source.
    pub fn source(&self, src: SocketAddr) -> SocketAddr {
        match src {
            SocketAddr::V4(v4) => SocketAddr::V6(self.prefix.synthesize_socket(v4)),
            v6 => v6,
        }
    }
}

impl Sim {
    /// Adds a NAT64 gateway whose WAN side sits on `upstream` with the IPv4 pool
    /// `pool` (and optionally an IPv6 address for NAT66 of non-prefix traffic), and
    /// returns it with its (new, IPv6) inside network.
    pub fn add_nat64_gateway(
        &mut self,
        name: &str,
        upstream: NetworkId,
        pool: &[IpAddr],
        wan_link: LinkSpec,
        cfg: Nat64Config,
        firewall: Firewall,
    ) -> (GatewayId, NetworkId) {
        let g = GatewayId(self.gateways.len());
        let inside = self.add_network(&format!("{name}-lan"));
        self.networks[inside.0].upstream = Some(g);
        let wan = self.add_link(
            format!("{name}/wan"),
            upstream,
            NodeRef::Gateway(g),
            pool,
            wan_link,
        );
        self.gateways.push(Gateway {
            name: name.to_string(),
            inside,
            wan,
            nat: Nat::new(cfg.nat, pool.to_vec()),
            firewall,
            nat64: Some(Nat64Settings {
                prefix: cfg.prefix,
                strict_well_known: cfg.strict_well_known,
            }),
        });
        (g, inside)
    }

    /// The NAT64 prefix of a gateway, if it is a NAT64.
    pub fn nat64_prefix(&self, g: GatewayId) -> Option<Nat64Prefix> {
        self.gateways[g.0].nat64.map(|n| n.prefix)
    }
}

impl Internet {
    /// An IPv6-only host (address 2001:db8:N::2) behind a NAT64 gateway in the core
    /// whose IPv4 pool is one fresh carrier address (198.51.100.0/24); `access` is the
    /// gateway's link into the core. `peer.nat()` is the NAT64.
    pub fn peer_ipv6_only(&mut self, name: &str, cfg: Nat64Config, access: LinkSpec) -> Peer {
        let (lan, g, addr) = self.build_nat64_path(name, cfg, access);
        let host = self.sim.add_host(name);
        self.sim
            .add_interface(host, lan, &[addr], LinkSpec::default());
        Peer {
            host,
            addr,
            nats: vec![g],
            lan,
        }
    }

    /// Moves `host`'s interface `iface` onto a fresh IPv6-only network behind a NAT64
    /// (Wi-Fi → an IPv6-only carrier). Returns the new path and interface index.
    pub fn roam_to_ipv6_only(
        &mut self,
        host: HostId,
        iface: usize,
        name: &str,
        cfg: Nat64Config,
        access: LinkSpec,
    ) -> (Peer, usize) {
        let (lan, g, addr) = self.build_nat64_path(name, cfg, access);
        let idx = self
            .sim
            .replace_interface(host, iface, lan, &[addr], LinkSpec::default());
        (
            Peer {
                host,
                addr,
                nats: vec![g],
                lan,
            },
            idx,
        )
    }

    fn build_nat64_path(
        &mut self,
        name: &str,
        cfg: Nat64Config,
        access: LinkSpec,
    ) -> (NetworkId, GatewayId, IpAddr) {
        let pool = self.alloc_carrier_public();
        let core = self.core;
        let (g, lan) = self.sim.add_nat64_gateway(
            &format!("{name}-nat64"),
            core,
            &[pool],
            access,
            cfg,
            Firewall::open(),
        );
        let subnet = self.new_v6_lan(lan);
        let addr = self.alloc_on(lan);
        debug_assert!(matches!(addr, IpAddr::V6(a) if a.segments()[2] == subnet));
        (lan, g, addr)
    }
}

/// `2001:db8:subnet::host`.
pub(crate) fn v6_lan_addr(subnet: u16, host: u16) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, subnet, 0, 0, 0, 0, host))
}
