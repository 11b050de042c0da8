//! NAT configurations with the names people use, and the `Preset` enum the
//! topology builder understands.

use crate::firewall::Firewall;
use crate::nat::{Behaviour, NatConfig, PortAssignment};
use crate::nat64::Nat64Config;
use pinhole::nat::Nat64Prefix;
use std::time::Duration;

use Behaviour::{
    AddressAndPortDependent as Apd, AddressDependent as Ad, EndpointIndependent as Ei,
};

/// EIM + EIF, port preserving, hairpinning on.
pub fn full_cone() -> NatConfig {
    NatConfig {
        mapping: Ei,
        filtering: Ei,
        hairpinning: true,
        ..NatConfig::default()
    }
}

/// EIM + ADF ("address-restricted cone"), port preserving, hairpinning on.
pub fn restricted_cone() -> NatConfig {
    NatConfig {
        mapping: Ei,
        filtering: Ad,
        hairpinning: true,
        ..NatConfig::default()
    }
}

/// EIM + APDF, port preserving, no hairpinning: Linux `masquerade`.
pub fn port_restricted_cone() -> NatConfig {
    NatConfig::default()
}

/// APDM + APDF with random ports: `masquerade random,fully-random`.
pub fn symmetric() -> NatConfig {
    NatConfig {
        mapping: Apd,
        filtering: Apd,
        port_assignment: PortAssignment::Random,
        ..NatConfig::default()
    }
}

/// APDM + APDF with sequential ports from 40000 (predictable).
pub fn symmetric_sequential() -> NatConfig {
    NatConfig {
        mapping: Apd,
        filtering: Apd,
        port_assignment: PortAssignment::Sequential,
        port_range: 40000..=59999,
        ..NatConfig::default()
    }
}

/// A carrier-grade NAT: EIM + APDF, random ports from 20000-29999, the given
/// idle timeout, inbound refresh, no hairpinning.
pub fn carrier_cgnat(timeout: Duration) -> NatConfig {
    NatConfig {
        mapping: Ei,
        filtering: Apd,
        port_assignment: PortAssignment::Random,
        port_range: 20000..=29999,
        mapping_timeout: timeout,
        ..NatConfig::default()
    }
}

/// An IPv6-only mobile network: the host has only an IPv6 address and reaches IPv4
/// through the carrier's stateful NAT64 on the Well-Known Prefix 64:ff9b::/96 (as on
/// T-Mobile US, or Apple's App Review network): endpoint-independent mapping (RFC 6146
/// asks for it), address-dependent filtering, random pool ports, the given idle timeout,
/// inbound refresh, no hairpinning. Build it with `Internet::peer_ipv6_only`.
pub fn ipv6_only_mobile(timeout: Duration) -> Nat64Config {
    Nat64Config {
        prefix: Nat64Prefix::WELL_KNOWN,
        nat: NatConfig {
            mapping: Ei,
            filtering: Ad,
            port_assignment: PortAssignment::Random,
            port_range: 1024..=65535,
            mapping_timeout: timeout,
            ..NatConfig::default()
        },
        strict_well_known: false,
    }
}

/// A network with a well-known name. Each peer built from a preset sits behind
/// its own NAT box(es), reached over an access link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// No NAT: the host has a public address in the core.
    Open,
    FullCone,
    RestrictedCone,
    PortRestrictedCone,
    /// Random ports.
    Symmetric,
    SymmetricSequential,
    /// The host has a 100.64.0.0/10 address behind a carrier NAT with this timeout.
    CarrierCgnat(Duration),
    /// A home router (port-restricted cone, 120 s) behind a carrier NAT (60 s).
    DoubleNat,
    /// A corporate network: port-restricted NAT whose firewall blocks UDP and
    /// allows only TCP to port 443.
    UdpBlocked,
}

/// One NAT box of a preset (presets list them outermost first).
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    pub name: &'static str,
    pub nat: NatConfig,
    pub firewall: Firewall,
    /// Whether its inside network is carrier space (100.64.0.0/10).
    pub carrier: bool,
}

impl Preset {
    pub fn carrier_cgnat(timeout: Duration) -> Self {
        Preset::CarrierCgnat(timeout)
    }

    /// Every preset (CarrierCgnat with a 60 s timeout).
    pub fn all() -> Vec<Preset> {
        vec![
            Preset::Open,
            Preset::FullCone,
            Preset::RestrictedCone,
            Preset::PortRestrictedCone,
            Preset::Symmetric,
            Preset::SymmetricSequential,
            Preset::CarrierCgnat(Duration::from_secs(60)),
            Preset::DoubleNat,
            Preset::UdpBlocked,
        ]
    }

    pub fn name(&self) -> &'static str {
        match self {
            Preset::Open => "open",
            Preset::FullCone => "full_cone",
            Preset::RestrictedCone => "restricted_cone",
            Preset::PortRestrictedCone => "port_restricted_cone",
            Preset::Symmetric => "symmetric",
            Preset::SymmetricSequential => "symmetric_sequential",
            Preset::CarrierCgnat(_) => "carrier_cgnat",
            Preset::DoubleNat => "double_nat",
            Preset::UdpBlocked => "udp_blocked",
        }
    }

    /// The NAT boxes between the host and the core, outermost first.
    pub fn layers(&self) -> Vec<Layer> {
        let home = |nat: NatConfig| Layer {
            name: "nat",
            nat,
            firewall: Firewall::open(),
            carrier: false,
        };
        let cgnat = |t: Duration| Layer {
            name: "cgnat",
            nat: carrier_cgnat(t),
            firewall: Firewall::open(),
            carrier: true,
        };
        match *self {
            Preset::Open => vec![],
            Preset::FullCone => vec![home(full_cone())],
            Preset::RestrictedCone => vec![home(restricted_cone())],
            Preset::PortRestrictedCone => vec![home(port_restricted_cone())],
            Preset::Symmetric => vec![home(symmetric())],
            Preset::SymmetricSequential => vec![home(symmetric_sequential())],
            Preset::CarrierCgnat(t) => vec![cgnat(t)],
            Preset::DoubleNat => vec![cgnat(Duration::from_secs(60)), home(port_restricted_cone())],
            Preset::UdpBlocked => vec![Layer {
                name: "corp",
                nat: port_restricted_cone(),
                firewall: Firewall::tcp_443_only(),
                carrier: false,
            }],
        }
    }
}
