//! Socket addresses across the C boundary: a small fixed struct, the same on every
//! platform (no `sockaddr` in the header, so it needs no system socket headers).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

use crate::guard::Failure;
use crate::status::PinholeStatus;

/// An IPv4 or IPv6 address and port.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PinholeAddress {
    /// 4 or 6.
    pub family: u8,
    /// The port, host byte order.
    pub port: u16,
    /// IPv4 in the first 4 bytes (network order), or the 16 bytes of IPv6.
    pub ip: [u8; 16],
    /// IPv6 scope id (0 if none).
    pub scope_id: u32,
}

impl PinholeAddress {
    pub(crate) fn from_socket(a: SocketAddr) -> Self {
        let mut ip = [0u8; 16];
        match a {
            SocketAddr::V4(v4) => {
                ip[..4].copy_from_slice(&v4.ip().octets());
                PinholeAddress {
                    family: 4,
                    port: v4.port(),
                    ip,
                    scope_id: 0,
                }
            }
            SocketAddr::V6(v6) => PinholeAddress {
                family: 6,
                port: v6.port(),
                ip: v6.ip().octets(),
                scope_id: v6.scope_id(),
            },
        }
    }

    pub(crate) fn from_ip(ip: IpAddr, port: u16) -> Self {
        Self::from_socket(SocketAddr::new(ip, port))
    }

    pub(crate) fn to_socket(self, what: &str) -> Result<SocketAddr, Failure> {
        match self.family {
            4 => Ok(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::new(
                    self.ip[0], self.ip[1], self.ip[2], self.ip[3],
                )),
                self.port,
            )),
            6 => Ok(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(self.ip),
                self.port,
                0,
                self.scope_id,
            ))),
            f => Err(Failure::new(
                PinholeStatus::InvalidArgument,
                format!("{what}: address family {f} is neither 4 nor 6"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for s in ["192.0.2.1:5000", "[2001:db8::1]:9", "[fe80::1%3]:7"] {
            let a: SocketAddr = s.parse().unwrap();
            assert_eq!(PinholeAddress::from_socket(a).to_socket("x").ok(), Some(a));
        }
        let bad = PinholeAddress {
            family: 5,
            ..Default::default()
        };
        assert!(bad.to_socket("from").is_err());
    }
}
