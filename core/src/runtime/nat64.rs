//! NAT64 at the I/O edge: finding the network's prefix with the system resolver (RFC 7050)
//! and turning IPv4 server addresses into ones an IPv6-only host can reach.
//!
//! When to call what:
//!
//! - [`host_is_ipv6_only`] at start-up and after every network change (an interface came
//!   or went, Wi-Fi to cellular). It is true on an IPv6-only network: no IPv4 address other
//!   than loopback and link-local. Only then is [`discover_nat64_prefixes`] worth a DNS
//!   query; its result belongs to that network and is dropped with it.
//! - [`reachable_server`] before talking to a STUN or TURN server given as an IPv4
//!   address (or resolved to one): on a host with no IPv4 route to it, it synthesizes the
//!   address under the discovered prefix. Servers given by name need nothing: on such a
//!   network the resolver is a DNS64 and already answers with synthesized AAAA records.
//! - The prefixes then go to the ICE agent, which pairs its IPv6 sockets with the peer's
//!   IPv4 candidates through [`crate::nat::nat64::remote_via_nat64`].

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use super::interface_addresses;
use crate::nat::nat64::{discover_prefixes, is_ipv6_only, WELL_KNOWN_IPV4_ONLY_NAME};
use crate::nat::Nat64Prefix;

/// Whether this host is on an IPv6-only network: a routable IPv6 address and no IPv4
/// address other than loopback or link-local (see [`crate::nat::nat64::is_ipv6_only`]).
pub fn host_is_ipv6_only() -> bool {
    is_ipv6_only(interface_addresses().into_iter().map(|a| a.ip))
}

/// The NAT64 prefixes the system resolver reveals (RFC 7050): the AAAA answers for
/// `ipv4only.arpa`, searched for 192.0.0.170 / 192.0.0.171. Preferred prefix first; empty
/// when the resolver is not a DNS64, fails, or does not answer within `limit`.
pub async fn discover_nat64_prefixes(limit: Duration) -> Vec<Nat64Prefix> {
    let name = format!("{WELL_KNOWN_IPV4_ONLY_NAME}:0");
    discover_with(
        async move { Ok(tokio::net::lookup_host(name).await?.collect()) },
        limit,
    )
    .await
}

/// The preferred NAT64 prefix, if the resolver reveals one within `limit`.
pub async fn discover_nat64_prefix(limit: Duration) -> Option<Nat64Prefix> {
    discover_nat64_prefixes(limit).await.into_iter().next()
}

/// Discovery over any lookup (the tests inject answers, failures and a resolver that
/// never answers).
async fn discover_with(
    lookup: impl Future<Output = io::Result<Vec<SocketAddr>>>,
    limit: Duration,
) -> Vec<Nat64Prefix> {
    let answers = match tokio::time::timeout(limit, lookup).await {
        Err(_) => {
            log::debug!("nat64: {WELL_KNOWN_IPV4_ONLY_NAME} did not resolve within {limit:?}");
            return Vec::new();
        }
        Ok(Err(e)) => {
            log::debug!("nat64: {WELL_KNOWN_IPV4_ONLY_NAME} did not resolve: {e}");
            return Vec::new();
        }
        Ok(Ok(addrs)) => addrs,
    };
    let v6: Vec<_> = answers
        .iter()
        .filter_map(|a| match a.ip() {
            IpAddr::V6(ip) => Some(ip),
            IpAddr::V4(_) => None,
        })
        .collect();
    match discover_prefixes(&v6) {
        Ok(prefixes) => {
            log::debug!("nat64: prefixes {prefixes:?} from {WELL_KNOWN_IPV4_ONLY_NAME}");
            prefixes
        }
        Err(e) => {
            log::debug!("nat64: {e}");
            Vec::new()
        }
    }
}

/// `server` as `prefix` represents it: an IPv4 address becomes the synthesized IPv6 one
/// (same port); an IPv6 address is returned as it is.
pub fn synthesize_server(server: SocketAddr, prefix: &Nat64Prefix) -> SocketAddr {
    match server {
        SocketAddr::V4(v4) => SocketAddr::V6(prefix.synthesize_socket(v4)),
        v6 => v6,
    }
}

/// Whether the routing table has an IPv4 route towards `server` (a UDP `connect`, which
/// sends nothing). False on an IPv6-only host.
pub fn has_route_to(server: SocketAddr) -> bool {
    UdpSocket::bind(super::interfaces::any_address_for(server))
        .and_then(|s| s.connect(server))
        .is_ok()
}

/// The address to send to for `server`, and the NAT64 prefix this host needs (if any) to
/// reach IPv4 addresses the server will report (OTHER-ADDRESS, mapped addresses, a TURN
/// server's peers):
///
/// - an IPv4 `server` the host has a route to, or an IPv6 one on a host with IPv4
///   addresses: returned as it is, no prefix, no DNS query;
/// - an IPv4 `server` with no route (an IPv6-only host): synthesized under the prefix the
///   resolver reveals (discovery bounded by `limit`);
/// - an IPv6 `server` on an IPv6-only host: returned as it is, with the discovered prefix.
///
/// When no prefix is found, `server` comes back unchanged with `None`, and sending to an
/// IPv4 one will fail with "network unreachable", which is the truth.
pub async fn reachable_server(
    server: SocketAddr,
    limit: Duration,
) -> (SocketAddr, Option<Nat64Prefix>) {
    let needs_nat64 = match server {
        SocketAddr::V4(_) => !has_route_to(server),
        SocketAddr::V6(_) => host_is_ipv6_only(),
    };
    if !needs_nat64 {
        return (server, None);
    }
    match discover_nat64_prefix(limit).await {
        Some(prefix) => (synthesize_server(server, &prefix), Some(prefix)),
        None => (server, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    const LIMIT: Duration = Duration::from_secs(5);

    #[test]
    fn discovers_the_prefix_from_synthesized_answers() {
        let answers = vec![sa("[64:ff9b::c000:aa]:0"), sa("[64:ff9b::c000:ab]:0")];
        let got = rt().block_on(discover_with(async { Ok(answers) }, LIMIT));
        assert_eq!(got, vec![Nat64Prefix::WELL_KNOWN]);
    }

    #[test]
    fn ipv4_answers_and_plain_ipv6_answers_find_nothing() {
        // A host with IPv4 gets the real A records back: no DNS64, no prefix.
        let answers = vec![
            sa("192.0.0.170:0"),
            sa("192.0.0.171:0"),
            sa("[2001:db8::1]:0"),
        ];
        let got = rt().block_on(discover_with(async { Ok(answers) }, LIMIT));
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn a_resolver_error_finds_nothing() {
        let got = rt().block_on(discover_with(
            async { Err(io::Error::other("no such host")) },
            LIMIT,
        ));
        assert!(got.is_empty());
    }

    #[test]
    fn a_silent_resolver_is_bounded_by_the_limit() {
        let got = rt().block_on(discover_with(
            std::future::pending(),
            Duration::from_millis(20),
        ));
        assert!(got.is_empty());
    }

    #[test]
    fn servers_are_synthesized_only_when_ipv4() {
        let p: Nat64Prefix = "2001:db8:64::/96".parse().unwrap();
        assert_eq!(
            synthesize_server(sa("192.0.2.1:3478"), &p),
            sa("[2001:db8:64::c000:201]:3478")
        );
        assert_eq!(
            synthesize_server(sa("[2001:db8::1]:3478"), &p),
            sa("[2001:db8::1]:3478")
        );
    }

    #[test]
    fn a_reachable_server_is_left_alone() {
        // Loopback always has a route: no discovery, no synthesis.
        let (addr, prefix) = rt().block_on(reachable_server(sa("127.0.0.1:3478"), LIMIT));
        assert_eq!((addr, prefix), (sa("127.0.0.1:3478"), None));
        let (addr, _) = rt().block_on(reachable_server(sa("[::1]:3478"), LIMIT));
        assert_eq!(addr, sa("[::1]:3478"));
    }
}
