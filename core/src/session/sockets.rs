//! The session's UDP sockets: which local addresses to use, bind requests to the pump,
//! and make-before-break replacement when the addresses change.
//!
//! The pump reports the host's addresses ([`Input::LocalAddresses`]); the session picks
//! the usable ones, asks the pump to bind each new one, and only once every bind it
//! asked for has been answered closes the sockets whose address went away — so on a
//! Wi-Fi → cellular switch the new socket exists before the old one is dropped. A pump
//! that owns its sockets ("bring your own sockets") reports them with
//! [`Input::SocketBound`] unasked.
//!
//! [`Input::LocalAddresses`]: super::Input::LocalAddresses
//! [`Input::SocketBound`]: super::Input::SocketBound

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

use super::config::SessionConfig;
use super::events::SocketRequest;

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

/// The addresses of `addrs` the configuration lets the session bind: the configured
/// bind addresses if any, else every non-loopback address of an enabled family
/// (link-local IPv4 only when asked; link-local IPv6 never: it needs a scope id the
/// candidate line cannot carry). IPv6 first: sockets are bound and their host
/// candidates signaled in this order, and a peer checks the candidates of one
/// signaling instant in arrival order, so on a dual-stack host the peer's first check
/// goes to the IPv6 pair RFC 8421 ranks first (IPv4 first cost a dual-stack call one
/// pacing interval, Ta, when only IPv6 works: netsim's dual-stack cells).
pub(super) fn usable(config: &SessionConfig, addrs: &[IpAddr]) -> Vec<IpAddr> {
    let mut v: Vec<IpAddr> = addrs
        .iter()
        .copied()
        .filter(|ip| (ip.is_ipv4() && config.ipv4) || (ip.is_ipv6() && config.ipv6))
        .filter(|ip| !ip.is_unspecified())
        .filter(|ip| {
            if !config.bind.is_empty() {
                return config.bind.contains(ip);
            }
            !ip.is_loopback()
                && (!is_link_local(*ip) || (config.include_link_local && ip.is_ipv4()))
        })
        .collect();
    v.sort_by_key(|ip| (ip.is_ipv4(), *ip));
    v.dedup();
    v
}

/// Bound, requested and retiring sockets.
#[derive(Default)]
pub(super) struct Sockets {
    bound: Vec<SocketAddr>,
    /// Bind requests not answered yet.
    pending: Vec<IpAddr>,
    /// Sockets whose address went away, closed once `pending` is empty.
    retiring: Vec<SocketAddr>,
    out: VecDeque<SocketRequest>,
}

impl Sockets {
    /// The addresses to have sockets on from now: binds the new ones, retires the rest.
    pub(super) fn want(&mut self, wanted: &[IpAddr], port: u16) {
        for ip in wanted {
            let have = self.bound.iter().any(|a| a.ip() == *ip) || self.pending.contains(ip);
            if !have {
                self.pending.push(*ip);
                self.out.push_back(SocketRequest::Bind { ip: *ip, port });
            }
        }
        for a in &self.bound {
            if !wanted.contains(&a.ip()) && !self.retiring.contains(a) {
                self.retiring.push(*a);
            }
        }
        // An address that came back before its socket was retired stays.
        self.retiring.retain(|a| !wanted.contains(&a.ip()));
    }

    /// Asks for one socket (an explicitly configured bind address).
    pub(super) fn bind(&mut self, ip: IpAddr, port: u16) {
        self.want_one(ip, port);
    }

    fn want_one(&mut self, ip: IpAddr, port: u16) {
        if !self.bound.iter().any(|a| a.ip() == ip) && !self.pending.contains(&ip) {
            self.pending.push(ip);
            self.out.push_back(SocketRequest::Bind { ip, port });
        }
    }

    /// New sockets for every bound one (they may be dead: iOS closes a suspended app's
    /// sockets); the old ones close once the new ones are bound.
    pub(super) fn replace_all(&mut self, port: u16) {
        for a in self.bound.clone() {
            if !self.pending.contains(&a.ip()) {
                self.pending.push(a.ip());
                self.out.push_back(SocketRequest::Bind { ip: a.ip(), port });
            }
            if !self.retiring.contains(&a) {
                self.retiring.push(a);
            }
        }
    }

    /// A socket is bound (asked for or not). False if it was already known.
    pub(super) fn bound(&mut self, addr: SocketAddr) -> bool {
        self.pending.retain(|ip| *ip != addr.ip());
        // Bound again at the same address (a fixed port): it stays.
        self.retiring.retain(|a| *a != addr);
        if self.bound.contains(&addr) {
            return false;
        }
        self.bound.push(addr);
        true
    }

    /// A bind request failed.
    pub(super) fn failed(&mut self, ip: IpAddr) {
        self.pending.retain(|p| *p != ip);
    }

    /// The pump closed a socket by itself. False if unknown.
    pub(super) fn closed(&mut self, addr: SocketAddr) -> bool {
        self.retiring.retain(|a| *a != addr);
        let known = self.bound.contains(&addr);
        self.bound.retain(|a| *a != addr);
        known
    }

    /// Once no bind is outstanding: the retiring sockets, forgotten and with a close
    /// request queued for each.
    pub(super) fn take_retired(&mut self) -> Vec<SocketAddr> {
        if !self.pending.is_empty() {
            return Vec::new();
        }
        let gone = std::mem::take(&mut self.retiring);
        for a in &gone {
            self.bound.retain(|b| b != a);
            self.out.push_back(SocketRequest::Close { addr: *a });
        }
        gone
    }

    /// Whether a bind for `ip` is outstanding.
    pub(super) fn expects(&self, ip: IpAddr) -> bool {
        self.pending.contains(&ip)
    }

    /// Binds outstanding.
    pub(super) fn binding(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Every bound socket.
    pub(super) fn all(&self) -> &[SocketAddr] {
        &self.bound
    }

    /// The next request for the pump.
    pub(super) fn poll(&mut self) -> Option<SocketRequest> {
        self.out.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn usable_addresses_follow_the_config() {
        let addrs = [
            ip("127.0.0.1"),
            ip("192.168.1.2"),
            ip("fe80::1"),
            ip("2001:db8::2"),
            ip("169.254.1.1"),
        ];
        assert_eq!(
            usable(&SessionConfig::default(), &addrs),
            vec![ip("2001:db8::2"), ip("192.168.1.2")]
        );
        let v4 = SessionConfig::default().with_ip_families(true, false);
        assert_eq!(usable(&v4, &addrs), vec![ip("192.168.1.2")]);
        let lo = SessionConfig::default().with_bind(ip("127.0.0.1"));
        assert_eq!(usable(&lo, &addrs), vec![ip("127.0.0.1")]);
    }

    #[test]
    fn a_dual_stack_host_binds_ipv6_first() {
        let addrs = [ip("10.0.0.2"), ip("2001:db8::2"), ip("192.0.2.7")];
        assert_eq!(
            usable(&SessionConfig::default(), &addrs),
            vec![ip("2001:db8::2"), ip("10.0.0.2"), ip("192.0.2.7")]
        );
    }

    #[test]
    fn new_sockets_are_bound_before_old_ones_close() {
        let mut s = Sockets::default();
        s.want(&[ip("192.168.1.2")], 0);
        assert_eq!(
            s.poll(),
            Some(SocketRequest::Bind {
                ip: ip("192.168.1.2"),
                port: 0
            })
        );
        let wifi: SocketAddr = "192.168.1.2:5000".parse().unwrap();
        assert!(s.bound(wifi));
        // Wi-Fi → cellular.
        s.want(&[ip("100.64.0.7")], 0);
        assert_eq!(
            s.poll(),
            Some(SocketRequest::Bind {
                ip: ip("100.64.0.7"),
                port: 0
            })
        );
        assert!(
            s.take_retired().is_empty(),
            "the new socket is not bound yet"
        );
        assert!(s.bound("100.64.0.7:6000".parse().unwrap()));
        assert_eq!(s.take_retired(), vec![wifi]);
        assert_eq!(s.poll(), Some(SocketRequest::Close { addr: wifi }));
        assert_eq!(s.all(), &["100.64.0.7:6000".parse::<SocketAddr>().unwrap()]);
    }

    #[test]
    fn an_address_that_comes_back_in_time_keeps_its_socket() {
        let mut s = Sockets::default();
        let a: SocketAddr = "192.168.1.2:5000".parse().unwrap();
        s.bound(a);
        s.want(&[ip("10.0.0.2")], 0);
        s.want(&[ip("10.0.0.2"), ip("192.168.1.2")], 0);
        s.failed(ip("10.0.0.2"));
        assert!(s.take_retired().is_empty());
        assert_eq!(s.all(), &[a]);
    }
}
