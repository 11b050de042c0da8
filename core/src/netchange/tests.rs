use super::*;
use std::net::{Ipv4Addr, Ipv6Addr};

const WLAN: (u32, &str) = (3, "wlan0");
const CELL: (u32, &str) = (7, "rmnet_data0");
const VPN: (u32, &str) = (9, "wg0");

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn iface((index, name): (u32, &str)) -> Interface {
    Interface {
        index,
        name: name.into(),
        flags: InterfaceFlags {
            up: true,
            running: true,
            loopback: false,
            point_to_point: false,
        },
    }
}

fn addr((ifindex, name): (u32, &str), s: &str) -> InterfaceAddress {
    let (ip_s, len) = s.split_once('/').unwrap();
    InterfaceAddress {
        ifindex,
        interface: name.into(),
        ip: ip(ip_s),
        prefix_len: len.parse().unwrap(),
        flags: AddressFlags::default(),
    }
}

fn temporary(mut a: InterfaceAddress) -> InterfaceAddress {
    a.flags.temporary = true;
    a
}

fn deprecated(mut a: InterfaceAddress) -> InterfaceAddress {
    a.flags.deprecated = true;
    a
}

fn route((ifindex, name): (u32, &str), gateway: Option<&str>) -> Option<DefaultRoute> {
    Some(DefaultRoute {
        ifindex,
        interface: name.into(),
        gateway: gateway.map(ip),
        metric: 600,
    })
}

/// A laptop on Wi-Fi: IPv4 by DHCP, IPv6 by SLAAC with a privacy address.
fn on_wifi() -> NetworkSnapshot {
    NetworkSnapshot {
        interfaces: vec![iface(WLAN), iface(CELL)],
        addresses: vec![
            addr(WLAN, "192.168.1.23/24"),
            addr(WLAN, "2001:db8:1::23/64"),
            temporary(addr(WLAN, "2001:db8:1::aaaa/64")),
        ],
        default_v4: route(WLAN, Some("192.168.1.1")),
        default_v6: route(WLAN, Some("fe80::1")),
    }
    .normalized()
}

/// The same device on cellular only.
fn on_cellular() -> NetworkSnapshot {
    NetworkSnapshot {
        interfaces: vec![iface(WLAN), iface(CELL)],
        addresses: vec![
            addr(CELL, "100.64.12.7/30"),
            addr(CELL, "2001:db8:99::7/64"),
        ],
        default_v4: route(CELL, None),
        default_v6: route(CELL, Some("fe80::99")),
    }
    .normalized()
}

fn reason(old: &NetworkSnapshot, new: &NetworkSnapshot, in_use: &[&str]) -> ChangeReason {
    let in_use: Vec<IpAddr> = in_use.iter().map(|s| ip(s)).collect();
    let r = classify_with_reason(old, new, &in_use);
    assert_eq!(classify(old, new, &in_use), r.change(), "{r}");
    r
}

#[test]
fn identical_snapshots_are_no_change() {
    assert_eq!(
        reason(&on_wifi(), &on_wifi(), &["192.168.1.23"]),
        ChangeReason::Identical
    );
    assert_eq!(ChangeReason::Identical.change(), Change::None);
}

#[test]
fn listing_order_does_not_matter_after_normalisation() {
    let mut shuffled = on_wifi();
    shuffled.addresses.reverse();
    shuffled.interfaces.reverse();
    assert_ne!(shuffled, on_wifi());
    assert_eq!(reason(&on_wifi(), &shuffled, &[]), ChangeReason::Identical);
    assert_eq!(shuffled.normalized(), on_wifi());
}

#[test]
fn metric_and_address_less_interfaces_are_ignored() {
    let mut new = on_wifi();
    new.default_v4.as_mut().unwrap().metric = 20;
    new.interfaces.push(Interface {
        index: 12,
        name: "docker0".into(),
        flags: InterfaceFlags::default(),
    });
    new.interfaces[0].flags.point_to_point = true; // wlan0's flags, addresses unchanged
    assert_eq!(
        reason(&on_wifi(), &new.normalized(), &["192.168.1.23"]),
        ChangeReason::Identical
    );
}

#[test]
fn wifi_to_cellular_is_major() {
    let r = reason(&on_wifi(), &on_cellular(), &["192.168.1.23"]);
    assert_eq!(r, ChangeReason::DefaultRouteMoved(AddressFamily::V4));
    assert_eq!(r.change(), Change::Major);
}

#[test]
fn default_route_moving_with_both_interfaces_keeping_addresses_is_major() {
    // Both radios keep their addresses; only the default route moves (what the namespace
    // test does with `ip route replace`).
    let mut both = on_wifi();
    both.addresses.push(addr(CELL, "100.64.12.7/30"));
    let both = both.normalized();
    let mut moved = both.clone();
    moved.default_v4 = route(CELL, None);
    assert_eq!(
        reason(&both, &moved, &["192.168.1.23"]),
        ChangeReason::DefaultRouteMoved(AddressFamily::V4)
    );
}

#[test]
fn gateway_change_on_the_same_interface_is_major() {
    // Another Wi-Fi network that happens to hand out the same address.
    let mut new = on_wifi();
    new.default_v4 = route(WLAN, Some("192.168.1.254"));
    assert_eq!(
        reason(&on_wifi(), &new, &["192.168.1.23"]),
        ChangeReason::DefaultRouteMoved(AddressFamily::V4)
    );
}

#[test]
fn dhcp_renewal_to_a_new_address_is_major() {
    let mut new = on_wifi();
    new.addresses[0] = addr(WLAN, "192.168.1.57/24");
    let new = new.normalized();
    assert_eq!(
        reason(&on_wifi(), &new, &["192.168.1.23"]),
        ChangeReason::InUseAddressesGone
    );
    // Before any path exists nothing is in use: the new address is only more candidates.
    assert_eq!(
        reason(&on_wifi(), &new, &[]),
        ChangeReason::AddressesChanged
    );
}

#[test]
fn dhcp_renewal_keeping_the_address_is_no_change() {
    // A renewal changes only lifetimes, which snapshots do not carry.
    assert_eq!(
        reason(&on_wifi(), &on_wifi(), &["192.168.1.23"]),
        ChangeReason::Identical
    );
}

#[test]
fn address_added_is_minor() {
    let mut new = on_wifi();
    new.addresses.push(addr(WLAN, "192.168.1.99/24"));
    let new = new.normalized();
    assert_eq!(
        reason(&on_wifi(), &new, &["192.168.1.23"]),
        ChangeReason::AddressesChanged
    );
    let diff = address_diff(&on_wifi(), &new);
    assert_eq!(diff.added, vec![addr(WLAN, "192.168.1.99/24")]);
    assert!(diff.removed.is_empty() && diff.changed.is_empty());
}

#[test]
fn ipv6_privacy_rotation_is_minor_at_every_step() {
    let old_tmp = temporary(addr(WLAN, "2001:db8:1::aaaa/64"));
    let new_tmp = temporary(addr(WLAN, "2001:db8:1::bbbb/64"));
    // The session is using the old temporary address.
    let in_use = ["2001:db8:1::aaaa"];

    // Step 1: a new temporary address appears, the old one turns deprecated.
    let mut step1 = on_wifi();
    step1.addresses.retain(|a| a.ip != old_tmp.ip);
    step1.addresses.push(deprecated(old_tmp.clone()));
    step1.addresses.push(new_tmp.clone());
    let step1 = step1.normalized();
    assert_eq!(
        reason(&on_wifi(), &step1, &in_use),
        ChangeReason::AddressesChanged
    );
    let diff = address_diff(&on_wifi(), &step1);
    assert_eq!(diff.added, vec![new_tmp.clone()]);
    assert_eq!(diff.changed, vec![deprecated(old_tmp.clone())]);
    assert!(diff.removed.is_empty());

    // Step 1 alone, deprecation without a new address, is minor too.
    let mut only_deprecated = on_wifi();
    for a in &mut only_deprecated.addresses {
        if a.ip == old_tmp.ip {
            a.flags.deprecated = true;
        }
    }
    assert_eq!(
        reason(&on_wifi(), &only_deprecated, &in_use),
        ChangeReason::AddressesChanged
    );

    // Step 2: the deprecated one expires. The session's pair used it, but the stable
    // IPv4 and IPv6 addresses it also uses are still there.
    let mut step2 = step1.clone();
    step2.addresses.retain(|a| a.ip != old_tmp.ip);
    let in_use_several = ["2001:db8:1::aaaa", "192.168.1.23"];
    assert_eq!(
        reason(&step1, &step2, &in_use_several),
        ChangeReason::AddressesChanged
    );
    // ...but if it was the only address in use, its path is dead.
    assert_eq!(
        reason(&step1, &step2, &in_use),
        ChangeReason::InUseAddressesGone
    );
}

#[test]
fn some_in_use_addresses_gone_is_minor() {
    let mut new = on_wifi();
    new.addresses.retain(|a| a.ip != ip("2001:db8:1::23"));
    assert_eq!(
        reason(&on_wifi(), &new, &["2001:db8:1::23", "192.168.1.23"]),
        ChangeReason::AddressesChanged
    );
}

#[test]
fn ipv4_mapped_in_use_address_matches_its_ipv4() {
    let mapped = IpAddr::V6(Ipv4Addr::new(192, 168, 1, 23).to_ipv6_mapped());
    let r = classify_with_reason(&on_wifi(), &on_wifi(), &[mapped]);
    assert_eq!(r, ChangeReason::Identical);
    let mut new = on_wifi();
    new.addresses.push(addr(WLAN, "192.168.1.99/24"));
    assert_eq!(
        classify(&on_wifi(), &new.normalized(), &[mapped]),
        Change::Minor
    );
}

#[test]
fn vpn_coming_up_is_major_even_without_a_default_route_change() {
    // wg-quick style: a new interface, the main table's default route untouched.
    let mut new = on_wifi();
    new.interfaces.push(iface(VPN));
    new.addresses.push(addr(VPN, "10.64.0.2/32"));
    let new = new.normalized();
    assert_eq!(
        reason(&on_wifi(), &new, &["192.168.1.23"]),
        ChangeReason::InterfacesChanged
    );
    // And going down again.
    assert_eq!(
        reason(&new, &on_wifi(), &["192.168.1.23"]),
        ChangeReason::InterfacesChanged
    );
    // A full tunnel that does replace the default route: major for that reason first.
    let mut full = new.clone();
    full.default_v4 = route(VPN, None);
    assert_eq!(
        reason(&on_wifi(), &full, &["192.168.1.23"]),
        ChangeReason::DefaultRouteMoved(AddressFamily::V4)
    );
}

#[test]
fn interface_recreated_with_a_new_index_is_major() {
    // PPP and tunnels come back with a new index after a reconnect.
    let mut new = on_wifi();
    for a in &mut new.addresses {
        a.ifindex = 33;
    }
    new.default_v4.as_mut().unwrap().ifindex = 33;
    new.default_v6.as_mut().unwrap().ifindex = 33;
    assert_eq!(
        reason(&on_wifi(), &new.normalized(), &[]),
        ChangeReason::DefaultRouteMoved(AddressFamily::V4)
    );
}

#[test]
fn going_offline_and_back_is_major() {
    let offline = NetworkSnapshot {
        interfaces: vec![iface(WLAN)],
        ..NetworkSnapshot::default()
    };
    assert!(offline.is_offline());
    assert_eq!(
        reason(&on_wifi(), &offline, &["192.168.1.23"]),
        ChangeReason::WentOffline
    );
    assert_eq!(reason(&offline, &on_wifi(), &[]), ChangeReason::CameOnline);
    assert_eq!(reason(&offline, &offline, &[]), ChangeReason::Identical);
}

#[test]
fn late_ipv6_default_route_is_minor_and_losing_it_is_major() {
    let mut v4_only = on_wifi();
    v4_only.default_v6 = None;
    assert_eq!(
        reason(&v4_only, &on_wifi(), &["192.168.1.23"]),
        ChangeReason::DefaultRouteAdded(AddressFamily::V6)
    );
    assert_eq!(
        ChangeReason::DefaultRouteAdded(AddressFamily::V6).change(),
        Change::Minor
    );
    assert_eq!(
        reason(&on_wifi(), &v4_only, &["192.168.1.23"]),
        ChangeReason::DefaultRouteLost(AddressFamily::V6)
    );
}

#[test]
fn in_use_gone_wins_over_a_late_default_route() {
    let mut old = on_wifi();
    old.default_v6 = None;
    let mut new = on_wifi();
    new.addresses.retain(|a| a.ip != ip("192.168.1.23"));
    assert_eq!(
        reason(&old, &new, &["192.168.1.23"]),
        ChangeReason::InUseAddressesGone
    );
}

#[test]
fn helpers_answer_from_the_snapshot() {
    let s = on_wifi();
    assert_eq!(s.default_gateway_v4(), Some(ip("192.168.1.1")));
    assert_eq!(on_cellular().default_gateway_v4(), None);
    assert!(s.has_address(IpAddr::V6(Ipv6Addr::new(
        0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x23
    ))));
    assert!(!s.has_address(ip("192.168.1.24")));
    assert_eq!(s.interface(WLAN.0).map(|i| i.name.as_str()), Some("wlan0"));
    assert_eq!(
        s.default_route(AddressFamily::V6).and_then(|r| r.gateway),
        Some(ip("fe80::1"))
    );
}

#[test]
fn reasons_read_well_in_logs() {
    assert_eq!(
        ChangeReason::DefaultRouteMoved(AddressFamily::V4).to_string(),
        "IPv4 default route moved"
    );
    assert_eq!(
        ChangeReason::InUseAddressesGone.to_string(),
        "every address in use is gone"
    );
}
