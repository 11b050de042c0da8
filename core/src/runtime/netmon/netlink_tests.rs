//! Hand-built netlink messages, good and bad. The builders below lay out the kernel's
//! structs byte by byte (host order), independently of the parser.

use super::*;

pub(crate) fn attr(ty: u16, value: &[u8]) -> Vec<u8> {
    let len = 4 + value.len();
    let mut b = Vec::new();
    b.extend_from_slice(&(len as u16).to_ne_bytes());
    b.extend_from_slice(&ty.to_ne_bytes());
    b.extend_from_slice(value);
    b.resize(align4(len), 0);
    b
}

pub(crate) fn nlmsg(ty: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
    let len = NLMSG_HDRLEN + payload.len();
    let mut b = Vec::new();
    b.extend_from_slice(&(len as u32).to_ne_bytes());
    b.extend_from_slice(&ty.to_ne_bytes());
    b.extend_from_slice(&flags.to_ne_bytes());
    b.extend_from_slice(&seq.to_ne_bytes());
    b.extend_from_slice(&0u32.to_ne_bytes());
    b.extend_from_slice(payload);
    b.resize(align4(len), 0);
    b
}

/// `struct ifinfomsg` + IFLA_IFNAME.
pub(crate) fn link_payload(index: u32, flags: u32, name: &str) -> Vec<u8> {
    let mut b = vec![AF_UNSPEC, 0];
    b.extend_from_slice(&1u16.to_ne_bytes()); // ARPHRD_ETHER
    b.extend_from_slice(&index.to_ne_bytes());
    b.extend_from_slice(&flags.to_ne_bytes());
    b.extend_from_slice(&0u32.to_ne_bytes()); // change mask
    let mut name = name.as_bytes().to_vec();
    name.push(0);
    b.extend(attr(IFLA_IFNAME, &name));
    b
}

/// `struct ifaddrmsg` + IFA_ADDRESS (+ IFA_LOCAL for IPv4) + IFA_FLAGS.
pub(crate) fn addr_payload(index: u32, ip: &str, prefix_len: u8, flags: u32) -> Vec<u8> {
    let ip: IpAddr = ip.parse().unwrap();
    let (family, octets) = match ip {
        IpAddr::V4(v4) => (AF_INET, v4.octets().to_vec()),
        IpAddr::V6(v6) => (AF_INET6, v6.octets().to_vec()),
    };
    let mut b = vec![family, prefix_len, (flags & 0xff) as u8, 0];
    b.extend_from_slice(&index.to_ne_bytes());
    b.extend(attr(IFA_ADDRESS, &octets));
    if family == AF_INET {
        b.extend(attr(IFA_LOCAL, &octets));
    }
    b.extend(attr(IFA_FLAGS, &flags.to_ne_bytes()));
    b
}

fn ip_octets(ip: &str) -> (u8, Vec<u8>) {
    match ip.parse::<IpAddr>().unwrap() {
        IpAddr::V4(v4) => (AF_INET, v4.octets().to_vec()),
        IpAddr::V6(v6) => (AF_INET6, v6.octets().to_vec()),
    }
}

/// `struct rtmsg` for a default route of the main table, table also as RTA_TABLE.
pub(crate) fn default_route_payload(
    family: u8,
    oif: u32,
    gateway: Option<&str>,
    metric: u32,
) -> Vec<u8> {
    let mut b = vec![
        family,
        0,
        0,
        0,
        RT_TABLE_MAIN,
        3, /* boot */
        0,
        RTN_UNICAST,
    ];
    b.extend_from_slice(&0u32.to_ne_bytes());
    b.extend(attr(RTA_TABLE, &254u32.to_ne_bytes()));
    b.extend(attr(RTA_PRIORITY, &metric.to_ne_bytes()));
    if let Some(gw) = gateway {
        b.extend(attr(RTA_GATEWAY, &ip_octets(gw).1));
    }
    b.extend(attr(RTA_OIF, &oif.to_ne_bytes()));
    b
}

const UP_RUNNING: u32 = IFF_UP | IFF_RUNNING;

#[test]
fn splits_a_datagram_into_messages() {
    let mut datagram = nlmsg(RTM_NEWLINK, 0x2, 7, &link_payload(2, UP_RUNNING, "eth0"));
    datagram.extend(nlmsg(NLMSG_DONE, 0x2, 7, &0i32.to_ne_bytes()));
    let all: Vec<_> = messages(&datagram).collect::<Result<_, _>>().unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].header.ty, RTM_NEWLINK);
    assert_eq!(all[0].header.seq, 7);
    assert_eq!(all[1].header.ty, NLMSG_DONE);
    let link = parse_link(all[0].payload).unwrap();
    assert_eq!(
        link,
        LinkRecord {
            index: 2,
            name: "eth0".into(),
            flags: UP_RUNNING
        }
    );
}

#[test]
fn truncated_and_garbage_datagrams_are_errors_not_panics() {
    let good = nlmsg(RTM_NEWLINK, 0, 1, &link_payload(2, UP_RUNNING, "eth0"));
    // Every truncation of a good message.
    for cut in 1..good.len() {
        let results: Vec<_> = messages(&good[..cut]).collect();
        assert!(
            results.iter().any(|r| r.is_err())
                || results.iter().all(|r| {
                    let m = r.as_ref().unwrap();
                    parse_link(m.payload).is_err()
                }),
            "cut at {cut} parsed cleanly"
        );
    }
    // Length field smaller than a header, or pointing past the end.
    let mut short = good.clone();
    short[0..4].copy_from_slice(&8u32.to_ne_bytes());
    assert_eq!(
        messages(&short).next().unwrap().unwrap_err(),
        Malformed("message length out of bounds")
    );
    let mut long = good.clone();
    long[0..4].copy_from_slice(&4096u32.to_ne_bytes());
    assert!(messages(&long).next().unwrap().is_err());
    // After an error the iterator stops instead of reading garbage as headers.
    let mut two = long.clone();
    two.extend(good.clone());
    assert_eq!(messages(&two).count(), 1);
    // Random bytes never panic, whatever they say.
    let mut x: u32 = 0x1234_5678;
    for _ in 0..2000 {
        let n = (x % 97) as usize;
        let bytes: Vec<u8> = (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        for m in messages(&bytes).flatten() {
            let _ = is_relevant(&m);
            let _ = parse_link(m.payload);
            let _ = parse_addr(m.payload);
            let _ = parse_route(m.payload);
        }
    }
}

#[test]
fn attribute_overrunning_its_message_is_malformed() {
    let mut payload = link_payload(2, UP_RUNNING, "eth0");
    // IFLA_IFNAME's length field now claims more than the payload holds.
    payload[IFINFOMSG_LEN..IFINFOMSG_LEN + 2].copy_from_slice(&200u16.to_ne_bytes());
    assert_eq!(
        parse_link(&payload),
        Err(Malformed("attribute length out of bounds"))
    );
    payload[IFINFOMSG_LEN..IFINFOMSG_LEN + 2].copy_from_slice(&2u16.to_ne_bytes());
    assert!(parse_link(&payload).is_err());
    assert_eq!(
        parse_link(&payload[..IFINFOMSG_LEN - 1]),
        Err(Malformed("truncated ifinfomsg"))
    );
}

#[test]
fn link_without_name_or_index_is_malformed() {
    let mut b = link_payload(2, UP_RUNNING, "eth0");
    b.truncate(IFINFOMSG_LEN);
    assert_eq!(parse_link(&b), Err(Malformed("link without a name")));
    assert!(parse_link(&link_payload(0, UP_RUNNING, "eth0")).is_err());
}

#[test]
fn parses_ipv4_and_ipv6_addresses_with_32_bit_flags() {
    let v4 = parse_addr(&addr_payload(3, "192.0.2.7", 24, 0x80))
        .unwrap()
        .unwrap();
    assert_eq!(v4.ip, "192.0.2.7".parse::<IpAddr>().unwrap());
    assert_eq!((v4.index, v4.prefix_len, v4.flags), (3, 24, 0x80));
    // IFA_F_MANAGETEMPADDR (0x100) only fits the 32-bit attribute, which wins.
    let v6 = parse_addr(&addr_payload(3, "2001:db8::7", 64, 0x100 | IFA_F_TEMPORARY))
        .unwrap()
        .unwrap();
    assert_eq!(v6.flags, 0x101);
    assert_eq!(v6.ip, "2001:db8::7".parse::<IpAddr>().unwrap());
}

#[test]
fn point_to_point_address_is_the_local_one_not_the_peer() {
    let mut b = vec![AF_INET, 32, 0, 0];
    b.extend_from_slice(&5u32.to_ne_bytes());
    b.extend(attr(IFA_ADDRESS, &[10, 64, 0, 1])); // the peer
    b.extend(attr(IFA_LOCAL, &[10, 64, 0, 2]));
    let a = parse_addr(&b).unwrap().unwrap();
    assert_eq!(a.ip, "10.64.0.2".parse::<IpAddr>().unwrap());
}

#[test]
fn bad_addresses_are_malformed() {
    // A 5-byte IPv4 address.
    let mut b = vec![AF_INET, 24, 0, 0];
    b.extend_from_slice(&3u32.to_ne_bytes());
    b.extend(attr(IFA_ADDRESS, &[192, 0, 2, 1, 9]));
    assert_eq!(
        parse_addr(&b),
        Err(Malformed("address length does not match its family"))
    );
    // Prefix longer than the address.
    assert!(parse_addr(&addr_payload(3, "192.0.2.7", 33, 0)).is_err());
    // No address at all.
    let mut none = vec![AF_INET6, 64, 0, 0];
    none.extend_from_slice(&3u32.to_ne_bytes());
    assert!(parse_addr(&none).is_err());
    // IFA_FLAGS of the wrong size.
    let mut flags = addr_payload(3, "192.0.2.7", 24, 0);
    flags.extend(attr(IFA_FLAGS, &[1, 2]));
    assert_eq!(
        parse_addr(&flags),
        Err(Malformed("u32 attribute of the wrong length"))
    );
    // Another family is not an error, just not ours.
    let mut other = vec![17u8 /* AF_PACKET */, 0, 0, 0];
    other.extend_from_slice(&3u32.to_ne_bytes());
    other.extend(attr(IFA_ADDRESS, &[1, 2, 3, 4, 5, 6]));
    assert_eq!(parse_addr(&other), Ok(None));
}

#[test]
fn parses_default_routes_and_multipath() {
    let r = parse_route(&default_route_payload(AF_INET, 3, Some("192.0.2.1"), 600))
        .unwrap()
        .unwrap();
    assert!(r.is_main_default());
    assert_eq!((r.oif, r.priority), (3, 600));
    assert_eq!(r.gateway, Some("192.0.2.1".parse().unwrap()));

    // ECMP default: two next hops, the first one dead.
    let mut b = vec![AF_INET6, 0, 0, 0, RT_TABLE_MAIN, 3, 0, RTN_UNICAST];
    b.extend_from_slice(&0u32.to_ne_bytes());
    let mut hops = Vec::new();
    for (flags, ifindex, gw) in [(RTNH_F_DEAD as u8, 4u32, "fe80::4"), (0, 5, "fe80::5")] {
        let gw_attr = attr(RTA_GATEWAY, &ip_octets(gw).1);
        let len = (RTNEXTHOP_LEN + gw_attr.len()) as u16;
        hops.extend_from_slice(&len.to_ne_bytes());
        hops.extend_from_slice(&[flags, 0]);
        hops.extend_from_slice(&ifindex.to_ne_bytes());
        hops.extend(gw_attr);
    }
    b.extend(attr(RTA_MULTIPATH, &hops));
    let r = parse_route(&b).unwrap().unwrap();
    assert!(r.is_main_default());
    assert_eq!(r.oif, 5);
    assert_eq!(r.gateway, Some("fe80::5".parse().unwrap()));

    // A next hop whose length overruns the attribute.
    let mut bad_hops = hops.clone();
    bad_hops[0..2].copy_from_slice(&500u16.to_ne_bytes());
    let mut bad = b[..RTMSG_LEN].to_vec();
    bad.extend(attr(RTA_MULTIPATH, &bad_hops));
    assert_eq!(
        parse_route(&bad),
        Err(Malformed("next hop length out of bounds"))
    );
}

#[test]
fn routes_that_are_not_usable_main_defaults_are_recognised() {
    let mut local_table = default_route_payload(AF_INET, 3, None, 0);
    local_table[4] = 255;
    local_table[RTMSG_LEN + 4..RTMSG_LEN + 8].copy_from_slice(&255u32.to_ne_bytes());
    assert!(!parse_route(&local_table)
        .unwrap()
        .unwrap()
        .is_main_default());
    // wg-quick's table 51820 only fits RTA_TABLE; rtm_table says RT_TABLE_COMPAT (252).
    let mut wg = default_route_payload(AF_INET, 3, None, 0);
    wg[4] = 252;
    wg[RTMSG_LEN + 4..RTMSG_LEN + 8].copy_from_slice(&51820u32.to_ne_bytes());
    assert!(!parse_route(&wg).unwrap().unwrap().is_main_default());
    let mut linkdown = default_route_payload(AF_INET, 3, Some("192.0.2.1"), 0);
    linkdown[8..12].copy_from_slice(&RTNH_F_LINKDOWN.to_ne_bytes());
    assert!(!parse_route(&linkdown).unwrap().unwrap().is_main_default());
    let mut unreachable = default_route_payload(AF_INET6, 3, None, 0);
    unreachable[7] = 7; // RTN_UNREACHABLE
    assert!(!parse_route(&unreachable)
        .unwrap()
        .unwrap()
        .is_main_default());
    let mut prefix = default_route_payload(AF_INET, 3, None, 0);
    prefix[1] = 24;
    assert!(!parse_route(&prefix).unwrap().unwrap().is_main_default());
}

#[test]
fn relevance_of_notifications() {
    let msg = |ty, payload: Vec<u8>| nlmsg(ty, 0, 0, &payload);
    let relevant = |bytes: &[u8]| is_relevant(&messages(bytes).next().unwrap().unwrap());
    assert_eq!(
        relevant(&msg(RTM_NEWLINK, link_payload(2, 0, "eth0"))),
        Ok(true)
    );
    assert_eq!(
        relevant(&msg(RTM_DELADDR, addr_payload(2, "192.0.2.1", 24, 0))),
        Ok(true)
    );
    assert_eq!(
        relevant(&msg(
            RTM_NEWROUTE,
            default_route_payload(AF_INET6, 2, None, 1024)
        )),
        Ok(true)
    );
    // Tentative addresses matter (DAD finishing makes them usable); link-local ones not.
    assert_eq!(
        relevant(&msg(
            RTM_NEWADDR,
            addr_payload(2, "2001:db8::1", 64, IFA_F_TENTATIVE)
        )),
        Ok(true)
    );
    assert_eq!(
        relevant(&msg(RTM_NEWADDR, addr_payload(2, "fe80::1", 64, 0))),
        Ok(false)
    );
    let mut prefix = default_route_payload(AF_INET, 2, None, 0);
    prefix[1] = 24;
    assert_eq!(relevant(&msg(RTM_NEWROUTE, prefix)), Ok(false));
    assert_eq!(relevant(&msg(1 /* NLMSG_NOOP */, vec![])), Ok(false));
    assert!(relevant(&msg(RTM_NEWADDR, vec![AF_INET, 24])).is_err());
}

#[test]
fn dump_requests_are_well_formed() {
    for (ty, family, body) in [
        (RTM_GETLINK, AF_UNSPEC, IFINFOMSG_LEN),
        (RTM_GETADDR, AF_UNSPEC, IFADDRMSG_LEN),
        (RTM_GETROUTE, AF_INET6, RTMSG_LEN),
    ] {
        let req = dump_request(ty, family, 42);
        let m = messages(&req).next().unwrap().unwrap();
        assert_eq!(req.len(), NLMSG_HDRLEN + body);
        assert_eq!(m.header.ty, ty);
        assert_eq!(m.header.flags, NLM_F_REQUEST | NLM_F_DUMP);
        assert_eq!(m.header.seq, 42);
        assert_eq!(m.payload[0], family);
    }
    assert_eq!(
        dump_request(RTM_GETROUTE, AF_INET, 1)[NLMSG_HDRLEN + 4],
        254
    );
}

fn link(index: u32, name: &str, flags: u32) -> LinkRecord {
    LinkRecord {
        index,
        name: name.into(),
        flags,
    }
}

fn addr(index: u32, ip: &str, prefix_len: u8, flags: u32) -> AddrRecord {
    AddrRecord {
        index,
        ip: ip.parse().unwrap(),
        prefix_len,
        flags,
    }
}

fn main_default(family: u8, oif: u32, gateway: Option<&str>, priority: u32) -> RouteRecord {
    RouteRecord {
        family,
        dst_len: 0,
        table: 254,
        route_type: RTN_UNICAST,
        flags: 0,
        oif,
        gateway: gateway.map(|g| g.parse().unwrap()),
        priority,
    }
}

#[test]
fn a_dump_becomes_a_normalised_snapshot_of_usable_addresses() {
    let dump = Dump {
        links: vec![
            link(1, "lo", IFF_UP | IFF_RUNNING | IFF_LOOPBACK),
            link(3, "wlan0", UP_RUNNING),
            link(2, "eth0", IFF_UP), // no carrier
            link(4, "tun0", UP_RUNNING | IFF_POINTOPOINT),
        ],
        addrs: vec![
            addr(1, "127.0.0.1", 8, 0x80),
            addr(3, "192.168.1.23", 24, 0),
            addr(3, "fe80::1234", 64, 0x80),
            addr(3, "2001:db8::aaaa", 64, IFA_F_TEMPORARY | IFA_F_DEPRECATED),
            addr(3, "2001:db8::bbbb", 64, IFA_F_TEMPORARY),
            addr(3, "2001:db8::cccc", 64, IFA_F_TENTATIVE),
            addr(3, "2001:db8::dddd", 64, IFA_F_DADFAILED),
            addr(3, "169.254.3.3", 16, 0),
            addr(3, "192.168.1.24", 24, IFA_F_TEMPORARY), // IPv4 secondary, same bit
            addr(2, "10.0.0.2", 24, 0),
            addr(4, "10.64.0.2", 32, 0),
            addr(9, "10.9.9.9", 24, 0), // its link is not in the dump (a race)
        ],
        routes: vec![
            main_default(AF_INET, 2, Some("10.0.0.1"), 100), // eth0: up, no carrier
            main_default(AF_INET, 3, Some("192.168.1.1"), 600),
            main_default(AF_INET6, 3, Some("fe80::1"), 1024),
            RouteRecord {
                dst_len: 24,
                ..main_default(AF_INET, 3, None, 0)
            },
        ],
    };
    let s = dump.into_snapshot();
    assert_eq!(
        s.interfaces.iter().map(|i| i.index).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert!(s.interfaces[0].flags.loopback);
    assert!(s.interfaces[3].flags.point_to_point);
    assert!(!s.interfaces[1].flags.running);
    let ips: Vec<String> = s.addresses.iter().map(|a| a.ip.to_string()).collect();
    assert_eq!(
        ips,
        [
            "192.168.1.23",
            "192.168.1.24",
            "2001:db8::aaaa",
            "2001:db8::bbbb",
            "10.64.0.2"
        ]
    );
    let aaaa = &s.addresses[2];
    assert!(aaaa.flags.temporary && aaaa.flags.deprecated);
    assert_eq!(aaaa.interface, "wlan0");
    assert!(
        !s.addresses[1].flags.temporary,
        "IPv4 secondary is not temporary"
    );
    // eth0's route has the lowest metric but eth0 has no carrier: wlan0's is the default.
    let v4 = s.default_v4.as_ref().unwrap();
    assert_eq!(
        (v4.ifindex, v4.interface.as_str(), v4.metric),
        (3, "wlan0", 600)
    );
    let v6 = s.default_v6.as_ref().unwrap();
    assert_eq!(v6.gateway, Some("fe80::1".parse().unwrap()));
    assert_eq!(s.default_gateway_v4(), Some("192.168.1.1".parse().unwrap()));
}

#[test]
fn default_route_via_a_down_interface_or_linkdown_is_ignored() {
    let links = vec![link(2, "eth0", 0), link(3, "wlan0", UP_RUNNING)];
    let mut linkdown = main_default(AF_INET, 3, Some("192.168.1.1"), 50);
    linkdown.flags = RTNH_F_LINKDOWN;
    let dump = Dump {
        links,
        addrs: vec![addr(3, "192.168.1.23", 24, 0)],
        routes: vec![
            main_default(AF_INET, 2, Some("10.0.0.1"), 10),
            linkdown,
            main_default(AF_INET, 3, Some("192.168.1.254"), 600),
        ],
    };
    let s = dump.into_snapshot();
    assert_eq!(
        s.default_gateway_v4(),
        Some("192.168.1.254".parse().unwrap())
    );
    assert_eq!(s.default_v6, None);
}

#[test]
fn equal_metric_defaults_pick_the_same_route_whatever_the_order() {
    let a = main_default(AF_INET6, 3, Some("fe80::1"), 1024);
    let b = main_default(AF_INET6, 3, Some("fe80::2"), 1024);
    let links = vec![link(3, "wlan0", UP_RUNNING)];
    let one = Dump {
        links: links.clone(),
        addrs: vec![addr(3, "2001:db8::1", 64, 0)],
        routes: vec![a.clone(), b.clone()],
    }
    .into_snapshot();
    let other = Dump {
        links,
        addrs: vec![addr(3, "2001:db8::1", 64, 0)],
        routes: vec![b, a],
    }
    .into_snapshot();
    assert_eq!(one, other);
}

#[test]
fn mutated_messages_never_panic() {
    let mut multipath = vec![AF_INET, 0, 0, 0, RT_TABLE_MAIN, 3, 0, RTN_UNICAST];
    multipath.extend_from_slice(&0u32.to_ne_bytes());
    let mut hop = vec![];
    let gw = attr(RTA_GATEWAY, &[192, 0, 2, 1]);
    hop.extend_from_slice(&((RTNEXTHOP_LEN + gw.len()) as u16).to_ne_bytes());
    hop.extend_from_slice(&[0, 0]);
    hop.extend_from_slice(&3u32.to_ne_bytes());
    hop.extend(gw);
    multipath.extend(attr(RTA_MULTIPATH, &hop));
    let seeds = [
        nlmsg(RTM_NEWLINK, 0, 1, &link_payload(2, UP_RUNNING, "wlan0")),
        nlmsg(RTM_NEWADDR, 0, 1, &addr_payload(2, "192.0.2.7", 24, 0)),
        nlmsg(RTM_DELADDR, 0, 1, &addr_payload(2, "2001:db8::7", 64, 0x21)),
        nlmsg(
            RTM_NEWROUTE,
            0,
            1,
            &default_route_payload(AF_INET6, 2, Some("fe80::1"), 1024),
        ),
        nlmsg(RTM_NEWROUTE, 0, 1, &multipath),
    ];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut parsed = 0;
    for round in 0..20_000 {
        let mut b = seeds[round % seeds.len()].clone();
        for _ in 0..=(next() % 3) {
            let at = (next() as usize) % b.len();
            b[at] = next() as u8;
        }
        if next() % 4 == 0 {
            b.truncate((next() as usize) % b.len());
        }
        let mut dump = Dump::default();
        for m in messages(&b).flatten() {
            let _ = is_relevant(&m);
            if let Ok(l) = parse_link(m.payload) {
                dump.links.push(l);
            }
            if let Ok(Some(a)) = parse_addr(m.payload) {
                dump.addrs.push(a);
            }
            if let Ok(Some(r)) = parse_route(m.payload) {
                dump.routes.push(r);
                parsed += 1;
            }
        }
        let _ = dump.into_snapshot();
    }
    // The mutations are small enough that many messages still parse: the parsers were
    // really exercised, not just the framing check.
    assert!(parsed > 1000, "only {parsed} routes parsed");
}
