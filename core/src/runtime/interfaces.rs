//! The host's interface addresses, for binding one ICE socket per address.
//!
//! On Unix (Linux, Android, macOS, iOS) this is `getifaddrs(3)` through `libc`, which
//! tokio already links. Elsewhere it falls back to asking the routing table which
//! source address it would use towards a documentation address: `connect` on a UDP
//! socket sends nothing, it only selects a route.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

/// One address of one interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceAddr {
    /// Interface name (`eth0`, `wlan0`, `lo`; empty when unknown).
    pub name: String,
    /// The address (no prefix length, no scope).
    pub ip: IpAddr,
    /// Whether the interface is a loopback one (`IFF_LOOPBACK`).
    pub loopback: bool,
}

impl InterfaceAddr {
    /// IPv4 169.254/16 or IPv6 fe80::/10: usable only with a scope, never offered by
    /// default.
    pub fn is_link_local(&self) -> bool {
        match self.ip {
            IpAddr::V4(v4) => v4.is_link_local(),
            IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
        }
    }
}

/// Every address of every interface that is up. Never fails: an empty list means the
/// OS told us nothing (the caller decides whether that is an error).
pub fn interface_addresses() -> Vec<InterfaceAddr> {
    #[cfg(unix)]
    {
        match unix::getifaddrs() {
            Ok(v) => return v,
            Err(e) => log::debug!("getifaddrs failed ({e}); falling back to the route trick"),
        }
    }
    route_fallback()
}

/// The unspecified address of `peer`'s family with port 0: what a socket that will talk to
/// `peer` binds to when the OS may choose interface and port.
pub(crate) fn any_address_for(peer: SocketAddr) -> SocketAddr {
    match peer {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    }
}

/// The source address the OS would use towards a public-looking destination, per
/// family. `connect` on UDP sends no packet.
fn route_fallback() -> Vec<InterfaceAddr> {
    let mut out = Vec::new();
    let documentation_hosts: [IpAddr; 2] = [
        Ipv4Addr::new(203, 0, 113, 1).into(),
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).into(),
    ];
    for ip in documentation_hosts {
        let towards = SocketAddr::new(ip, 9);
        let Ok(s) = UdpSocket::bind(any_address_for(towards)) else {
            continue;
        };
        if s.connect(towards).is_err() {
            continue;
        }
        if let Ok(local) = s.local_addr() {
            if !local.ip().is_unspecified() {
                out.push(InterfaceAddr {
                    name: String::new(),
                    ip: local.ip(),
                    loopback: false,
                });
            }
        }
    }
    out
}

#[cfg(unix)]
mod unix {
    use super::InterfaceAddr;
    use std::ffi::CStr;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    pub(super) fn getifaddrs() -> std::io::Result<Vec<InterfaceAddr>> {
        let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
        // SAFETY: getifaddrs writes a list head we free below with freeifaddrs.
        if unsafe { libc::getifaddrs(&mut head) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut out = Vec::new();
        let mut cur = head;
        while !cur.is_null() {
            // SAFETY: `cur` is a node of the list getifaddrs returned, not yet freed.
            let ifa = unsafe { &*cur };
            cur = ifa.ifa_next;
            let flags = ifa.ifa_flags as libc::c_int;
            if ifa.ifa_addr.is_null() || flags & libc::IFF_UP == 0 {
                continue;
            }
            // SAFETY: ifa_addr is non-null and points to a sockaddr whose family says
            // which concrete struct it is.
            let ip = unsafe {
                match (*ifa.ifa_addr).sa_family as libc::c_int {
                    libc::AF_INET => {
                        let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                        IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
                    }
                    libc::AF_INET6 => {
                        let sin6 = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                        IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr))
                    }
                    _ => continue,
                }
            };
            let name = if ifa.ifa_name.is_null() {
                String::new()
            } else {
                // SAFETY: a NUL-terminated name owned by the list.
                unsafe { CStr::from_ptr(ifa.ifa_name) }
                    .to_string_lossy()
                    .into_owned()
            };
            out.push(InterfaceAddr {
                name,
                ip,
                loopback: flags & libc::IFF_LOOPBACK != 0,
            });
        }
        // SAFETY: the head getifaddrs returned, freed once.
        unsafe { libc::freeifaddrs(head) };
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_loopback_on_unix() {
        let all = interface_addresses();
        if cfg!(unix) {
            assert!(
                all.iter().any(|a| a.loopback && a.ip.is_loopback()),
                "{all:?}"
            );
        }
    }
}
