//! Address attributes: MAPPED-ADDRESS style (plain) and XOR-MAPPED-ADDRESS style (XORed with
//! the magic cookie and, for IPv6, the transaction ID). RFC 8489 §14.1-14.2.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::stun::error::StunError;
use crate::stun::{TransactionId, MAGIC_COOKIE};

/// Address family byte: IPv4.
pub const FAMILY_IPV4: u8 = 0x01;
/// Address family byte: IPv6.
pub const FAMILY_IPV6: u8 = 0x02;

/// An address family as carried by REQUESTED-ADDRESS-FAMILY and friends (RFC 8656).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddressFamily {
    /// IPv4 (family 0x01).
    V4,
    /// IPv6 (family 0x02).
    V6,
}

impl AddressFamily {
    /// The wire byte (0x01 or 0x02).
    pub fn to_u8(self) -> u8 {
        match self {
            AddressFamily::V4 => FAMILY_IPV4,
            AddressFamily::V6 => FAMILY_IPV6,
        }
    }

    /// Parses the wire byte; `None` for anything but 0x01 and 0x02.
    pub fn from_u8(b: u8) -> Option<Self> {
        match b {
            FAMILY_IPV4 => Some(AddressFamily::V4),
            FAMILY_IPV6 => Some(AddressFamily::V6),
            _ => None,
        }
    }

    /// The family of `addr`.
    pub fn of(addr: &SocketAddr) -> Self {
        if addr.is_ipv4() {
            AddressFamily::V4
        } else {
            AddressFamily::V6
        }
    }
}

/// Encoded value length of an address attribute for `addr` (8 or 20).
pub(super) fn encoded_len(addr: &SocketAddr) -> usize {
    if addr.is_ipv4() {
        8
    } else {
        20
    }
}

/// XOR mask for the address bytes: cookie, then (IPv6 only) the transaction ID.
fn mask(tid: &TransactionId) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    m[4..].copy_from_slice(&tid.0);
    m
}

/// Decodes a plain (xor = None) or XOR (xor = Some(tid)) address value.
pub(super) fn decode(
    typ: u16,
    v: &[u8],
    xor: Option<&TransactionId>,
) -> Result<SocketAddr, StunError> {
    let bad = |reason| StunError::BadAttribute { typ, reason };
    if v.len() < 4 {
        return Err(bad("address value shorter than 4 bytes"));
    }
    let mut port = u16::from_be_bytes([v[2], v[3]]);
    let m = xor.map(mask);
    if xor.is_some() {
        port ^= (MAGIC_COOKIE >> 16) as u16;
    }
    match v[1] {
        FAMILY_IPV4 => {
            if v.len() != 8 {
                return Err(bad("IPv4 address value must be 8 bytes"));
            }
            let mut a = [v[4], v[5], v[6], v[7]];
            if let Some(m) = m {
                a.iter_mut().zip(m.iter()).for_each(|(b, k)| *b ^= k);
            }
            Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(a)), port))
        }
        FAMILY_IPV6 => {
            if v.len() != 20 {
                return Err(bad("IPv6 address value must be 20 bytes"));
            }
            let mut a = [0u8; 16];
            a.copy_from_slice(&v[4..20]);
            if let Some(m) = m {
                a.iter_mut().zip(m.iter()).for_each(|(b, k)| *b ^= k);
            }
            Ok(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(a)), port))
        }
        _ => Err(bad(
            "unknown address family (expected 0x01 IPv4 or 0x02 IPv6)",
        )),
    }
}

/// Writes an address value into `out` (which must be exactly [`encoded_len`] bytes).
pub(super) fn encode(addr: &SocketAddr, xor: Option<&TransactionId>, out: &mut [u8]) {
    let m = xor.map(mask);
    let mut port = addr.port();
    if xor.is_some() {
        port ^= (MAGIC_COOKIE >> 16) as u16;
    }
    out[0] = 0;
    out[2..4].copy_from_slice(&port.to_be_bytes());
    match addr.ip() {
        IpAddr::V4(ip) => {
            out[1] = FAMILY_IPV4;
            out[4..8].copy_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out[1] = FAMILY_IPV6;
            out[4..20].copy_from_slice(&ip.octets());
        }
    }
    if let Some(m) = m {
        out[4..].iter_mut().zip(m.iter()).for_each(|(b, k)| *b ^= k);
    }
}
