//! Network change: what the host's network looks like ([`NetworkSnapshot`]) and how much a
//! change between two snapshots matters to a running session ([`classify`]).
//!
//! Pure engine code: snapshots are plain values. On Linux the runtime's network monitor
//! (`runtime::NetworkMonitor`, netlink) produces them; a netsim endpoint or a host app can
//! build them by hand.
//!
//! # The rules
//!
//! [`classify`] compares two snapshots after normalisation, which keeps only what a
//! session's paths depend on: the usable addresses (with their flags), the set of
//! interfaces that carry them, and per family the default route's interface and gateway.
//! Interfaces without a usable address, route metrics and address lifetimes are ignored,
//! so the lifetime refreshes every IPv6 router advertisement causes are no change at all.
//!
//! | what happened | [`Change`] |
//! |---|---|
//! | nothing that matters | `None` |
//! | from no usable address to some, or from some to none | `Major` |
//! | a family's default route moved to another interface or gateway, or disappeared | `Major` |
//! | the set of interfaces carrying usable addresses changed (one came or went) | `Major` |
//! | every address in use is gone (a non-empty `in_use`) | `Major` |
//! | otherwise: addresses added, removed (some in use may survive), flags changed, a default route appeared for a family that had none | `Minor` |
//!
//! Decisions worth knowing:
//!
//! - **Wi-Fi → cellular** moves the default route to another interface: `Major`.
//! - **DHCP renewal to a new address** removes the address in use: `Major`. A renewal
//!   that keeps the address changes nothing: `None`.
//! - **IPv6 privacy rotation** (RFC 8981): a new temporary address appears and the old
//!   one turns deprecated (still valid for existing flows), later it is removed. Each step
//!   is `Minor` as long as some address in use survives.
//! - **A gateway change on the same interface** (another Wi-Fi network handing out the
//!   same address) is `Major`: the NAT in front, hence every server-reflexive candidate,
//!   is probably different.
//! - **A VPN interface coming up is `Major`**, even when the main table's default route
//!   stays where it was. The common full-tunnel setups do not replace that route:
//!   `wg-quick` routes everything through its own table with a policy rule, OpenVPN adds
//!   `0.0.0.0/1` + `128.0.0.0/1`. A snapshot of the main table's default route cannot tell
//!   a split tunnel from a full one, so the new interface alone must trigger the restart.
//!   Going down is `Major` for the same reason.
//! - **An IPv6 default route arriving late** (the router advertisement comes seconds after
//!   DHCPv4) is `Minor`: the other family's paths are untouched, the new family only adds
//!   candidates. A family's default route disappearing is `Major`.
//! - **Some addresses in use gone, others left** is `Minor`: the session prunes the
//!   candidates on the lost addresses and the surviving ones keep a path. Pass as `in_use`
//!   exactly the local addresses whose loss should force a restart (typically the local
//!   base of the selected pair).

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;

use crate::stun::AddressFamily;

/// Flags of one interface, as far as Pinhole cares.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InterfaceFlags {
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// Operationally up: carrier present (`IFF_RUNNING`).
    pub running: bool,
    /// A loopback interface (`IFF_LOOPBACK`).
    pub loopback: bool,
    /// A point-to-point link (`IFF_POINTOPOINT`): PPP, most VPN tunnels, cellular on
    /// some modems.
    pub point_to_point: bool,
}

/// One network interface, whether or not it carries a usable address.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Interface {
    /// The kernel's interface index (never 0 for a real interface).
    pub index: u32,
    /// Interface name (`wlan0`, `eth0`, `rmnet_data0`).
    pub name: String,
    /// Its flags.
    pub flags: InterfaceFlags,
}

/// Flags of one address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AddressFlags {
    /// An IPv6 temporary (privacy, RFC 8981) address.
    pub temporary: bool,
    /// Its preferred lifetime ran out: still valid for existing flows, not to be chosen
    /// for new ones.
    pub deprecated: bool,
}

/// One usable address of one interface.
///
/// Usable means: on an interface that is up and running, not loopback, not link-local
/// (IPv4 169.254/16, IPv6 fe80::/10), and for IPv6 not tentative (duplicate address
/// detection pending) nor failed duplicate address detection.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InterfaceAddress {
    /// Index of the interface that carries it.
    pub ifindex: u32,
    /// Name of that interface.
    pub interface: String,
    /// The address.
    pub ip: IpAddr,
    /// Its prefix length (24 for 192.0.2.1/24).
    pub prefix_len: u8,
    /// Its flags.
    pub flags: AddressFlags,
}

/// The route a family's traffic takes when nothing more specific matches.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DefaultRoute {
    /// Index of the outgoing interface.
    pub ifindex: u32,
    /// Name of the outgoing interface (empty when the interface is unknown).
    pub interface: String,
    /// The next hop, `None` for an on-link default route (PPP, most tunnels).
    pub gateway: Option<IpAddr>,
    /// Route metric (priority): lower wins.
    pub metric: u32,
}

/// What the host's network looks like at one moment.
///
/// Build it with public fields and call [`NetworkSnapshot::normalize`], or take one from
/// the runtime's monitor, which hands out normalised snapshots only. `addresses` holds
/// usable addresses only (see [`InterfaceAddress`]); `interfaces` every interface the
/// system reported, with its flags.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct NetworkSnapshot {
    /// Every interface, sorted by index.
    pub interfaces: Vec<Interface>,
    /// Every usable address, sorted by interface index then address.
    pub addresses: Vec<InterfaceAddress>,
    /// The IPv4 default route of the main routing table (the lowest metric), if any.
    pub default_v4: Option<DefaultRoute>,
    /// The IPv6 default route of the main routing table (the lowest metric), if any.
    pub default_v6: Option<DefaultRoute>,
}

impl NetworkSnapshot {
    /// Sorts interfaces and addresses and drops exact duplicates, so that two snapshots of
    /// the same state compare equal whatever order the system listed things in.
    pub fn normalize(&mut self) {
        self.interfaces.sort();
        self.interfaces.dedup();
        self.addresses.sort();
        self.addresses.dedup();
    }

    /// `self`, normalised.
    #[must_use]
    pub fn normalized(mut self) -> Self {
        self.normalize();
        self
    }

    /// No usable address at all: no network.
    pub fn is_offline(&self) -> bool {
        self.addresses.is_empty()
    }

    /// Whether `ip` is one of the usable addresses (IPv4-mapped IPv6 matches its IPv4).
    pub fn has_address(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.addresses.iter().any(|a| a.ip == ip)
    }

    /// The default route of `family`, if any.
    pub fn default_route(&self, family: AddressFamily) -> Option<&DefaultRoute> {
        match family {
            AddressFamily::V4 => self.default_v4.as_ref(),
            AddressFamily::V6 => self.default_v6.as_ref(),
        }
    }

    /// The IPv4 default gateway, if the default route has one (what NAT-PMP and PCP talk
    /// to).
    pub fn default_gateway_v4(&self) -> Option<IpAddr> {
        self.default_v4.as_ref().and_then(|r| r.gateway)
    }

    /// The interface with index `index`, if listed.
    pub fn interface(&self, index: u32) -> Option<&Interface> {
        self.interfaces.iter().find(|i| i.index == index)
    }

    /// The interfaces that carry at least one usable address, as (index, name).
    fn carrying_interfaces(&self) -> BTreeSet<(u32, &str)> {
        self.addresses
            .iter()
            .map(|a| (a.ifindex, a.interface.as_str()))
            .collect()
    }

    fn address_set(&self) -> BTreeSet<&InterfaceAddress> {
        self.addresses.iter().collect()
    }
}

/// How much a network change matters to a running session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Change {
    /// Nothing a session depends on changed.
    None,
    /// Paths in use still work: gather on new addresses, prune candidates on removed
    /// ones, no ICE restart.
    Minor,
    /// Paths in use are probably dead or no longer the best: ICE restart.
    Major,
}

/// Which rule decided a [`Change`], for logs and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChangeReason {
    /// The normalised snapshots are identical.
    Identical,
    /// The last usable address went away.
    WentOffline,
    /// The first usable address appeared.
    CameOnline,
    /// A family's default route now uses another interface or gateway.
    DefaultRouteMoved(AddressFamily),
    /// A family's default route disappeared.
    DefaultRouteLost(AddressFamily),
    /// Every address in use is gone.
    InUseAddressesGone,
    /// An interface carrying usable addresses appeared or disappeared.
    InterfacesChanged,
    /// A family that had no default route got one (the other family is untouched).
    DefaultRouteAdded(AddressFamily),
    /// Addresses were added or removed or changed flags, on the same interfaces, with the
    /// same default routes, and not every address in use is gone.
    AddressesChanged,
}

impl ChangeReason {
    /// The change this reason implies.
    pub fn change(self) -> Change {
        match self {
            ChangeReason::Identical => Change::None,
            ChangeReason::DefaultRouteAdded(_) | ChangeReason::AddressesChanged => Change::Minor,
            ChangeReason::WentOffline
            | ChangeReason::CameOnline
            | ChangeReason::DefaultRouteMoved(_)
            | ChangeReason::DefaultRouteLost(_)
            | ChangeReason::InUseAddressesGone
            | ChangeReason::InterfacesChanged => Change::Major,
        }
    }
}

impl fmt::Display for ChangeReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fam = |family: &AddressFamily| match family {
            AddressFamily::V4 => "IPv4",
            AddressFamily::V6 => "IPv6",
        };
        match self {
            ChangeReason::Identical => f.write_str("no relevant change"),
            ChangeReason::WentOffline => f.write_str("no usable address left"),
            ChangeReason::CameOnline => f.write_str("first usable address appeared"),
            ChangeReason::DefaultRouteMoved(family) => {
                write!(f, "{} default route moved", fam(family))
            }
            ChangeReason::DefaultRouteLost(family) => {
                write!(f, "{} default route disappeared", fam(family))
            }
            ChangeReason::InUseAddressesGone => f.write_str("every address in use is gone"),
            ChangeReason::InterfacesChanged => f.write_str("interface set changed"),
            ChangeReason::DefaultRouteAdded(family) => {
                write!(f, "{} default route appeared", fam(family))
            }
            ChangeReason::AddressesChanged => f.write_str("addresses changed"),
        }
    }
}

/// Classifies the change from `old` to `new` for a session whose paths use the local
/// addresses `in_use` (empty before any path exists). See the module documentation for
/// the rules.
#[must_use]
pub fn classify(old: &NetworkSnapshot, new: &NetworkSnapshot, in_use: &[IpAddr]) -> Change {
    classify_with_reason(old, new, in_use).change()
}

/// [`classify`], also saying which rule decided.
#[must_use]
pub fn classify_with_reason(
    old: &NetworkSnapshot,
    new: &NetworkSnapshot,
    in_use: &[IpAddr],
) -> ChangeReason {
    match (old.is_offline(), new.is_offline()) {
        (true, true) => return ChangeReason::Identical,
        (false, true) => return ChangeReason::WentOffline,
        (true, false) => return ChangeReason::CameOnline,
        (false, false) => {}
    }
    let mut route_added = None;
    for family in [AddressFamily::V4, AddressFamily::V6] {
        let route_key = |s: &NetworkSnapshot| {
            s.default_route(family)
                .map(|r| (r.ifindex, r.interface.clone(), r.gateway))
        };
        match (route_key(old), route_key(new)) {
            (Some(_), None) => return ChangeReason::DefaultRouteLost(family),
            (Some(a), Some(b)) if a != b => return ChangeReason::DefaultRouteMoved(family),
            (None, Some(_)) => route_added = Some(family),
            _ => {}
        }
    }
    if !in_use.is_empty() && !in_use.iter().any(|ip| new.has_address(*ip)) {
        return ChangeReason::InUseAddressesGone;
    }
    if old.carrying_interfaces() != new.carrying_interfaces() {
        return ChangeReason::InterfacesChanged;
    }
    if let Some(family) = route_added {
        return ChangeReason::DefaultRouteAdded(family);
    }
    if old.address_set() != new.address_set() {
        return ChangeReason::AddressesChanged;
    }
    ChangeReason::Identical
}

/// The addresses that differ between two snapshots, for a session acting on a
/// [`Change::Minor`]: gather on `added`, prune candidates on `removed`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddressDiff {
    /// Addresses in the new snapshot and not in the old one.
    pub added: Vec<InterfaceAddress>,
    /// Addresses in the old snapshot and not in the new one.
    pub removed: Vec<InterfaceAddress>,
    /// Addresses in both whose flags or prefix length changed (as they are now).
    pub changed: Vec<InterfaceAddress>,
}

/// The address-level difference from `old` to `new` (an address is identified by its
/// interface index and IP).
#[must_use]
pub fn address_diff(old: &NetworkSnapshot, new: &NetworkSnapshot) -> AddressDiff {
    let key = |a: &InterfaceAddress| (a.ifindex, a.ip);
    let find = |s: &NetworkSnapshot, a: &InterfaceAddress| {
        s.addresses.iter().find(|b| key(b) == key(a)).cloned()
    };
    let mut diff = AddressDiff::default();
    for a in &new.addresses {
        match find(old, a) {
            None => diff.added.push(a.clone()),
            Some(before) if before != *a => diff.changed.push(a.clone()),
            Some(_) => {}
        }
    }
    for a in &old.addresses {
        if find(new, a).is_none() {
            diff.removed.push(a.clone());
        }
    }
    diff
}

#[cfg(test)]
mod tests;
