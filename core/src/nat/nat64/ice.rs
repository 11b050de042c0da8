//! What an ICE agent on an IPv6-only host needs to pair its IPv6 sockets with a peer's
//! IPv4 candidates through a NAT64.
//!
//! Through a stateful NAT64 (RFC 6146) an IPv6-only host reaches IPv4 address `a:p` by
//! sending to `prefix::a` port `p`; what `a:p` sends back arrives from `prefix::a` port
//! `p`. Its own server-reflexive address (what a STUN server reports) is an IPv4 address of
//! the translator's pool, so its srflx candidates are IPv4 while their base is IPv6. The
//! helpers here do the address part; the agent keeps the peer's original candidate for
//! priorities, foundations and signaling, and uses the translated address on the wire.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use super::Nat64Prefix;

/// A peer's IPv4 address as an IPv6-only socket reaches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Nat64Remote {
    /// The address the peer signaled (or the server has), IPv4.
    pub original: SocketAddrV4,
    /// Where the IPv6 socket sends, and where answers come from: `prefix::original`.
    pub translated: SocketAddrV6,
    /// The prefix used.
    pub prefix: Nat64Prefix,
}

/// The translated remote for a (local base, remote candidate) pair, when the pair needs
/// the NAT64: the local base is a routable IPv6 address, the remote is IPv4, and a prefix
/// is known. Uses the first prefix (discovery returns the preferred one first).
///
/// `None` when no translation applies: same family (pair as usual), an IPv4 local base,
/// a loopback or link-local local base (a NAT64 is reached only from a routable address),
/// no prefix, or a remote address no translator can reach (unspecified, loopback,
/// link-local, multicast, broadcast, 0.0.0.0/8, 240.0.0.0/4).
///
/// Private and other non-global remotes are translated even under the Well-Known Prefix,
/// although a translator that follows RFC 6052 §3.1 strictly (TAYGA) drops them: such a
/// check fails like one to any unreachable address. An agent that wants to save those
/// checks skips remotes for which [`Nat64Prefix::permits`] is false.
#[must_use]
pub fn remote_via_nat64(
    prefixes: &[Nat64Prefix],
    local: SocketAddr,
    remote: SocketAddr,
) -> Option<Nat64Remote> {
    let (SocketAddr::V6(local), SocketAddr::V4(remote)) = (local, remote) else {
        return None;
    };
    let prefix = prefixes.first()?;
    if !routable_v6(IpAddr::V6(*local.ip())) || !reachable_v4(*remote.ip()) {
        return None;
    }
    Some(Nat64Remote {
        original: remote,
        translated: prefix.synthesize_socket(remote),
        prefix: *prefix,
    })
}

/// The IPv4 address behind a translated source: `from` is `prefix::a` port `p` for one of
/// `prefixes` (with a zero u-octet), so the datagram came from `a:p` through the NAT64.
/// The agent calls this for a datagram on an IPv6 socket whose source matches no pair,
/// before creating a peer-reflexive candidate: the candidate (and what is compared with
/// candidates the peer signals later) is the IPv4 address, not the synthesized one.
#[must_use]
pub fn original_remote(prefixes: &[Nat64Prefix], from: SocketAddr) -> Option<SocketAddrV4> {
    let SocketAddr::V6(from) = from else {
        return None;
    };
    prefixes.iter().find_map(|p| p.extract_socket(from))
}

/// Whether a host with these interface addresses is IPv6-only: at least one routable IPv6
/// address (not loopback, link-local or unspecified) and no IPv4 address other than
/// loopback and link-local (169.254/16). Such a host reaches IPv4 only through a NAT64, so
/// the runtime should discover the prefix and synthesize IPv4 server and peer addresses.
pub fn is_ipv6_only(addrs: impl IntoIterator<Item = IpAddr>) -> bool {
    let mut v6 = false;
    for a in addrs {
        match a {
            IpAddr::V4(v4) if v4.is_loopback() || v4.is_link_local() => {}
            IpAddr::V4(_) => return false,
            IpAddr::V6(_) => v6 |= routable_v6(a),
        }
    }
    v6
}

fn routable_v6(a: IpAddr) -> bool {
    match a {
        IpAddr::V6(v6) => {
            let link_local = (v6.segments()[0] & 0xffc0) == 0xfe80;
            !(v6.is_loopback() || v6.is_unspecified() || v6.is_multicast() || link_local)
        }
        IpAddr::V4(_) => false,
    }
}

fn reachable_v4(v4: Ipv4Addr) -> bool {
    let first = v4.octets()[0];
    !(v4.is_unspecified()
        || v4.is_loopback()
        || v4.is_link_local()
        || v4.is_multicast()
        || v4.is_broadcast()
        || first == 0
        || first >= 240)
}
