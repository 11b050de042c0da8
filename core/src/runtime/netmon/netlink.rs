//! The rtnetlink wire format, as much of it as the monitor needs: splitting a datagram
//! into messages, the link, address and route records, dump requests, and turning a dump
//! into a [`NetworkSnapshot`].
//!
//! Pure byte handling, no socket: every length is checked before it is used, and anything
//! that does not add up is a [`Malformed`] error for the caller to count and drop. Netlink
//! speaks host byte order; the constants are the kernel's UAPI values
//! (`linux/netlink.h`, `linux/rtnetlink.h`, `linux/if_addr.h`, `linux/if.h`), written out
//! here so that this file has no platform dependency and its tests run everywhere.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::netchange::{
    AddressFlags, DefaultRoute, Interface, InterfaceAddress, InterfaceFlags, NetworkSnapshot,
};

/// `struct nlmsghdr`: len u32, type u16, flags u16, seq u32, pid u32.
pub(super) const NLMSG_HDRLEN: usize = 16;
pub(super) const NLMSG_ERROR: u16 = 2;
pub(super) const NLMSG_DONE: u16 = 3;
pub(super) const NLMSG_OVERRUN: u16 = 4;

pub(super) const NLM_F_REQUEST: u16 = 0x01;
/// The dump was interrupted by a change (`NLM_F_DUMP_INTR`): it may be inconsistent.
pub(super) const NLM_F_DUMP_INTR: u16 = 0x10;
pub(super) const NLM_F_DUMP: u16 = 0x300;

pub(super) const RTM_NEWLINK: u16 = 16;
pub(super) const RTM_DELLINK: u16 = 17;
pub(super) const RTM_GETLINK: u16 = 18;
pub(super) const RTM_NEWADDR: u16 = 20;
pub(super) const RTM_DELADDR: u16 = 21;
pub(super) const RTM_GETADDR: u16 = 22;
pub(super) const RTM_NEWROUTE: u16 = 24;
pub(super) const RTM_DELROUTE: u16 = 25;
pub(super) const RTM_GETROUTE: u16 = 26;

/// Multicast groups (the legacy bitmask form used in `sockaddr_nl.nl_groups`).
pub(super) const RTMGRP_LINK: u32 = 0x1;
pub(super) const RTMGRP_IPV4_IFADDR: u32 = 0x10;
pub(super) const RTMGRP_IPV4_ROUTE: u32 = 0x40;
pub(super) const RTMGRP_IPV6_IFADDR: u32 = 0x100;
pub(super) const RTMGRP_IPV6_ROUTE: u32 = 0x400;

pub(super) const AF_UNSPEC: u8 = 0;
pub(super) const AF_INET: u8 = 2;
pub(super) const AF_INET6: u8 = 10;

const IFLA_IFNAME: u16 = 3;

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_FLAGS: u16 = 8;
/// `IFA_F_TEMPORARY` for IPv6; the same bit is `IFA_F_SECONDARY` for IPv4.
const IFA_F_TEMPORARY: u32 = 0x01;
const IFA_F_DADFAILED: u32 = 0x08;
const IFA_F_DEPRECATED: u32 = 0x20;
const IFA_F_TENTATIVE: u32 = 0x40;

const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_MULTIPATH: u16 = 9;
const RTA_TABLE: u16 = 15;
pub(super) const RT_TABLE_MAIN: u8 = 254;
const RTN_UNICAST: u8 = 1;
const RTNH_F_DEAD: u32 = 0x01;
const RTNH_F_LINKDOWN: u32 = 0x10;

const IFF_UP: u32 = 0x1;
const IFF_LOOPBACK: u32 = 0x8;
const IFF_POINTOPOINT: u32 = 0x10;
const IFF_RUNNING: u32 = 0x40;

/// Attribute type bits that are flags, not part of the type (`NLA_F_NESTED`,
/// `NLA_F_NET_BYTEORDER`).
const NLA_TYPE_MASK: u16 = 0x3fff;

/// `struct ifinfomsg` (16 bytes), `struct ifaddrmsg` (8), `struct rtmsg` (12).
const IFINFOMSG_LEN: usize = 16;
const IFADDRMSG_LEN: usize = 8;
const RTMSG_LEN: usize = 12;
/// `struct rtnexthop`: len u16, flags u8, hops u8, ifindex i32.
const RTNEXTHOP_LEN: usize = 8;

/// A message or attribute that does not add up; the reason names the check that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed netlink message: {0}")]
pub(super) struct Malformed(pub &'static str);

/// Rounds up to netlink's 4-byte alignment.
fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2).map(|s| u16::from_ne_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
}

/// One netlink message header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Header {
    /// Message type (`RTM_*` or `NLMSG_*`).
    pub ty: u16,
    /// `NLM_F_*` flags.
    pub flags: u16,
    /// Sequence number (the request's, for answers to a request).
    pub seq: u32,
    /// Sender's port id (0 for the kernel).
    pub pid: u32,
}

/// One netlink message: its header and the payload after it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Message<'a> {
    pub header: Header,
    pub payload: &'a [u8],
}

/// Splits a received datagram into messages. After the first malformed header it yields
/// that error and stops: the rest of the datagram cannot be framed.
pub(super) fn messages(datagram: &[u8]) -> Messages<'_> {
    Messages {
        rest: datagram,
        failed: false,
    }
}

/// Iterator returned by [`messages`].
pub(super) struct Messages<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<'a>, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let b = self.rest;
        let parsed = (|| {
            let len = u32_at(b, 0).ok_or(Malformed("truncated message header"))? as usize;
            if b.len() < NLMSG_HDRLEN {
                return Err(Malformed("truncated message header"));
            }
            if len < NLMSG_HDRLEN || len > b.len() {
                return Err(Malformed("message length out of bounds"));
            }
            let header = Header {
                ty: u16_at(b, 4).unwrap_or_default(),
                flags: u16_at(b, 6).unwrap_or_default(),
                seq: u32_at(b, 8).unwrap_or_default(),
                pid: u32_at(b, 12).unwrap_or_default(),
            };
            Ok((
                Message {
                    header,
                    payload: &b[NLMSG_HDRLEN..len],
                },
                align4(len).min(b.len()),
            ))
        })();
        match parsed {
            Ok((message, consumed)) => {
                self.rest = &b[consumed..];
                Some(Ok(message))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Walks `rtattr`/`nlattr` attributes: yields (type without flag bits, value).
fn attributes(mut b: &[u8]) -> impl Iterator<Item = Result<(u16, &[u8]), Malformed>> {
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || b.is_empty() {
            return None;
        }
        let (Some(len), Some(ty)) = (u16_at(b, 0), u16_at(b, 2)) else {
            failed = true;
            return Some(Err(Malformed("truncated attribute header")));
        };
        let len = len as usize;
        if len < 4 || len > b.len() {
            failed = true;
            return Some(Err(Malformed("attribute length out of bounds")));
        }
        let value = &b[4..len];
        b = &b[align4(len).min(b.len())..];
        Some(Ok((ty & NLA_TYPE_MASK, value)))
    })
}

fn parse_ip(family: u8, value: &[u8]) -> Result<IpAddr, Malformed> {
    match (family, value.len()) {
        (AF_INET, 4) => Ok(IpAddr::V4(Ipv4Addr::new(
            value[0], value[1], value[2], value[3],
        ))),
        (AF_INET6, 16) => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(value);
            Ok(IpAddr::V6(Ipv6Addr::from(octets)))
        }
        _ => Err(Malformed("address length does not match its family")),
    }
}

fn parse_u32(value: &[u8]) -> Result<u32, Malformed> {
    if value.len() != 4 {
        return Err(Malformed("u32 attribute of the wrong length"));
    }
    Ok(u32_at(value, 0).unwrap_or_default())
}

/// An `RTM_NEWLINK` record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct LinkRecord {
    pub index: u32,
    pub name: String,
    /// `IFF_*` flags.
    pub flags: u32,
}

/// An `RTM_NEWADDR` record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct AddrRecord {
    pub index: u32,
    pub ip: IpAddr,
    pub prefix_len: u8,
    /// `IFA_F_*` flags (the 32-bit `IFA_FLAGS` attribute when present).
    pub flags: u32,
}

/// An `RTM_NEWROUTE` record, reduced to what a default-route decision needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct RouteRecord {
    pub family: u8,
    pub dst_len: u8,
    pub table: u32,
    pub route_type: u8,
    /// `RTNH_F_*` flags of the route (or of the first usable next hop).
    pub flags: u32,
    /// Outgoing interface (0 when absent).
    pub oif: u32,
    pub gateway: Option<IpAddr>,
    pub priority: u32,
}

impl RouteRecord {
    /// A usable default route of the main table.
    pub(super) fn is_main_default(&self) -> bool {
        self.dst_len == 0
            && self.table == u32::from(RT_TABLE_MAIN)
            && self.route_type == RTN_UNICAST
            && self.flags & (RTNH_F_DEAD | RTNH_F_LINKDOWN) == 0
            && self.oif != 0
    }
}

/// Parses the payload of `RTM_NEWLINK`/`RTM_DELLINK`.
pub(super) fn parse_link(payload: &[u8]) -> Result<LinkRecord, Malformed> {
    if payload.len() < IFINFOMSG_LEN {
        return Err(Malformed("truncated ifinfomsg"));
    }
    let index = u32_at(payload, 4).unwrap_or_default();
    let flags = u32_at(payload, 8).unwrap_or_default();
    let mut name = None;
    for attr in attributes(&payload[IFINFOMSG_LEN..]) {
        let (ty, value) = attr?;
        if ty == IFLA_IFNAME {
            let end = value.iter().position(|&c| c == 0).unwrap_or(value.len());
            name = Some(String::from_utf8_lossy(&value[..end]).into_owned());
        }
    }
    if index == 0 {
        return Err(Malformed("link with interface index 0"));
    }
    Ok(LinkRecord {
        index,
        name: name.ok_or(Malformed("link without a name"))?,
        flags,
    })
}

/// Parses the payload of `RTM_NEWADDR`/`RTM_DELADDR`. `Ok(None)` for families other than
/// IPv4 and IPv6.
pub(super) fn parse_addr(payload: &[u8]) -> Result<Option<AddrRecord>, Malformed> {
    if payload.len() < IFADDRMSG_LEN {
        return Err(Malformed("truncated ifaddrmsg"));
    }
    let family = payload[0];
    let prefix_len = payload[1];
    let mut flags = u32::from(payload[2]);
    let index = u32_at(payload, 4).unwrap_or_default();
    let (mut local, mut address) = (None, None);
    for attr in attributes(&payload[IFADDRMSG_LEN..]) {
        let (ty, value) = attr?;
        match ty {
            IFA_LOCAL if family == AF_INET || family == AF_INET6 => {
                local = Some(parse_ip(family, value)?)
            }
            IFA_ADDRESS if family == AF_INET || family == AF_INET6 => {
                address = Some(parse_ip(family, value)?)
            }
            IFA_FLAGS => flags = parse_u32(value)?,
            _ => {}
        }
    }
    if family != AF_INET && family != AF_INET6 {
        return Ok(None);
    }
    let max_prefix = if family == AF_INET { 32 } else { 128 };
    if prefix_len > max_prefix {
        return Err(Malformed("prefix length longer than the address"));
    }
    // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on a
    // point-to-point link, and the own address otherwise (always, for IPv6 without peer).
    let ip = local
        .or(address)
        .ok_or(Malformed("address record without an address"))?;
    Ok(Some(AddrRecord {
        index,
        ip,
        prefix_len,
        flags,
    }))
}

/// Parses the payload of `RTM_NEWROUTE`/`RTM_DELROUTE`. `Ok(None)` for families other
/// than IPv4 and IPv6.
pub(super) fn parse_route(payload: &[u8]) -> Result<Option<RouteRecord>, Malformed> {
    if payload.len() < RTMSG_LEN {
        return Err(Malformed("truncated rtmsg"));
    }
    let family = payload[0];
    let mut route = RouteRecord {
        family,
        dst_len: payload[1],
        table: u32::from(payload[4]),
        route_type: payload[7],
        flags: u32_at(payload, 8).unwrap_or_default(),
        oif: 0,
        gateway: None,
        priority: 0,
    };
    let mut multipath = None;
    for attr in attributes(&payload[RTMSG_LEN..]) {
        let (ty, value) = attr?;
        match ty {
            RTA_TABLE => route.table = parse_u32(value)?,
            RTA_OIF => route.oif = parse_u32(value)?,
            RTA_PRIORITY => route.priority = parse_u32(value)?,
            RTA_GATEWAY if family == AF_INET || family == AF_INET6 => {
                route.gateway = Some(parse_ip(family, value)?)
            }
            RTA_MULTIPATH => multipath = Some(value),
            _ => {}
        }
    }
    if family != AF_INET && family != AF_INET6 {
        return Ok(None);
    }
    if route.oif == 0 {
        if let Some(hops) = multipath {
            // ECMP: the first next hop that is alive stands for the route.
            if let Some((oif, gateway, flags)) = first_live_nexthop(family, hops)? {
                route.oif = oif;
                route.gateway = gateway;
                route.flags |= flags;
            }
        }
    }
    Ok(Some(route))
}

/// The first `rtnexthop` in an `RTA_MULTIPATH` value that is neither dead nor link-down:
/// (ifindex, gateway, flags).
fn first_live_nexthop(
    family: u8,
    mut b: &[u8],
) -> Result<Option<(u32, Option<IpAddr>, u32)>, Malformed> {
    while !b.is_empty() {
        let len = u16_at(b, 0).ok_or(Malformed("truncated next hop"))? as usize;
        if len < RTNEXTHOP_LEN || len > b.len() {
            return Err(Malformed("next hop length out of bounds"));
        }
        let flags = u32::from(b[2]);
        let ifindex = u32_at(b, 4).unwrap_or_default();
        let mut gateway = None;
        for attr in attributes(&b[RTNEXTHOP_LEN..len]) {
            let (ty, value) = attr?;
            if ty == RTA_GATEWAY {
                gateway = Some(parse_ip(family, value)?);
            }
        }
        if flags & (RTNH_F_DEAD | RTNH_F_LINKDOWN) == 0 && ifindex != 0 {
            return Ok(Some((ifindex, gateway, flags)));
        }
        b = &b[align4(len).min(b.len())..];
    }
    Ok(None)
}

/// Whether a notification can change a snapshot: any link message, address messages
/// except for link-local and other never-usable addresses, and route messages about a
/// default route of the main table. Errors are malformed messages.
pub(super) fn is_relevant(message: &Message<'_>) -> Result<bool, Malformed> {
    match message.header.ty {
        RTM_NEWLINK | RTM_DELLINK => parse_link(message.payload).map(|_| true),
        // Link-local addresses never make it into a snapshot: IPv6 assigns them (after
        // duplicate address detection, a second or two late) whenever a link comes up.
        RTM_NEWADDR | RTM_DELADDR => {
            parse_addr(message.payload).map(|a| a.is_some_and(|a| !never_usable(a.ip)))
        }
        RTM_NEWROUTE | RTM_DELROUTE => parse_route(message.payload)
            .map(|r| r.is_some_and(|r| r.dst_len == 0 && r.table == u32::from(RT_TABLE_MAIN))),
        _ => Ok(false),
    }
}

/// A dump request: `RTM_GET*` with `NLM_F_DUMP` for `family`. Route dumps ask for the
/// main table (a kernel with strict checking filters on it; others send every table and
/// [`Dump::into_snapshot`] filters).
pub(super) fn dump_request(ty: u16, family: u8, seq: u32) -> Vec<u8> {
    let body_len = match ty {
        RTM_GETLINK => IFINFOMSG_LEN,
        RTM_GETADDR => IFADDRMSG_LEN,
        _ => RTMSG_LEN,
    };
    let len = NLMSG_HDRLEN + body_len;
    let mut b = Vec::with_capacity(len);
    b.extend_from_slice(&(len as u32).to_ne_bytes());
    b.extend_from_slice(&ty.to_ne_bytes());
    b.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    b.extend_from_slice(&seq.to_ne_bytes());
    b.extend_from_slice(&0u32.to_ne_bytes());
    let mut body = vec![0u8; body_len];
    body[0] = family;
    if ty == RTM_GETROUTE {
        body[4] = RT_TABLE_MAIN;
    }
    b.extend_from_slice(&body);
    b
}

/// The records of one full dump (links, then addresses, then routes).
#[derive(Clone, Debug, Default)]
pub(super) struct Dump {
    pub links: Vec<LinkRecord>,
    pub addrs: Vec<AddrRecord>,
    pub routes: Vec<RouteRecord>,
}

impl Dump {
    /// The normalised snapshot this dump describes: every link; the usable addresses (on
    /// links that are up and running, not loopback, not link-local, not tentative nor
    /// DAD-failed); per family the main table's default route with the lowest metric
    /// among those through a link that is up and running.
    pub(super) fn into_snapshot(self) -> NetworkSnapshot {
        let link = |index: u32| self.links.iter().find(|l| l.index == index);
        let interfaces = self
            .links
            .iter()
            .map(|l| Interface {
                index: l.index,
                name: l.name.clone(),
                flags: interface_flags(l.flags),
            })
            .collect();
        let addresses = self
            .addrs
            .iter()
            .filter_map(|a| {
                let l = link(a.index)?;
                let f = interface_flags(l.flags);
                (f.up && f.running && !f.loopback && address_usable(a)).then(|| InterfaceAddress {
                    ifindex: a.index,
                    interface: l.name.clone(),
                    ip: a.ip,
                    prefix_len: a.prefix_len,
                    flags: AddressFlags {
                        temporary: a.ip.is_ipv6() && a.flags & IFA_F_TEMPORARY != 0,
                        deprecated: a.flags & IFA_F_DEPRECATED != 0,
                    },
                })
            })
            .collect();
        let best_default = |family: u8| {
            self.routes
                .iter()
                .filter(|r| r.family == family && r.is_main_default())
                // A route through an interface known to be down or without carrier
                // carries nothing (the kernel usually says so with RTNH_F_LINKDOWN too).
                .filter(|r| {
                    link(r.oif).is_none_or(|l| {
                        let f = interface_flags(l.flags);
                        f.up && f.running
                    })
                })
                .min_by_key(|r| (r.priority, r.oif, r.gateway))
                .map(|r| DefaultRoute {
                    ifindex: r.oif,
                    interface: link(r.oif).map(|l| l.name.clone()).unwrap_or_default(),
                    gateway: r.gateway,
                    metric: r.priority,
                })
        };
        NetworkSnapshot {
            interfaces,
            addresses,
            default_v4: best_default(AF_INET),
            default_v6: best_default(AF_INET6),
        }
        .normalized()
    }
}

fn interface_flags(flags: u32) -> InterfaceFlags {
    InterfaceFlags {
        up: flags & IFF_UP != 0,
        running: flags & IFF_RUNNING != 0,
        loopback: flags & IFF_LOOPBACK != 0,
        point_to_point: flags & IFF_POINTOPOINT != 0,
    }
}

/// Loopback, link-local, unspecified and multicast addresses: never in a snapshot.
fn never_usable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback() || v4.is_link_local() || v4.is_unspecified() || v4.is_multicast()
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

fn address_usable(a: &AddrRecord) -> bool {
    !never_usable(a.ip) && a.flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED) == 0
}

#[cfg(test)]
#[path = "netlink_tests.rs"]
pub(super) mod tests;
