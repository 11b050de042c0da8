//! NAT64 address arithmetic (RFC 6052), prefix discovery (RFC 7050) and the helpers an
//! IPv6-only host needs to reach IPv4 peers and servers through a NAT64 (RFC 6146).
//!
//! Pure: no sockets, no DNS, no clock. The runtime asks the system resolver for
//! `ipv4only.arpa` and hands the AAAA answers to [`discover_prefixes`]; everything else is
//! arithmetic on addresses.
//!
//! - [`Nat64Prefix`]: a Pref64::/n of length 32, 40, 48, 56, 64 or 96 with
//!   [`synthesize`](Nat64Prefix::synthesize) and [`extract`](Nat64Prefix::extract)
//!   (RFC 6052 §2.2, including the u-octet: bits 64-71 are always zero).
//! - [`discover_prefixes`]: RFC 7050 §3, finding 192.0.0.170 / 192.0.0.171 in the
//!   synthesized answers for `ipv4only.arpa`.
//! - [`remote_via_nat64`], [`original_remote`], [`is_ipv6_only`]: mapping a peer's IPv4
//!   candidate to the address an IPv6-only socket sends to, recognising the translated
//!   source of what comes back, and telling an IPv6-only host.

mod discovery;
mod ice;
#[cfg(test)]
mod tests;

pub use discovery::{discover_prefixes, WELL_KNOWN_IPV4_ONLY_NAME, WKA_PRIMARY, WKA_SECONDARY};
pub use ice::{is_ipv6_only, original_remote, remote_via_nat64, Nat64Remote};

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::str::FromStr;

/// What is wrong with a NAT64 prefix given through the API (or found by discovery).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Nat64Error {
    /// RFC 6052 §2.2 allows only these lengths.
    #[error(
        "NAT64 prefix length /{0} is not one RFC 6052 allows: use /32, /40, /48, /56, /64 or /96"
    )]
    InvalidLength(u8),
    /// Bits past the prefix length are set (`2001:db8::1/32`).
    #[error(
        "NAT64 prefix {addr}/{len} has bits set past its length: did you mean {masked}/{len}?"
    )]
    HostBits {
        /// The address as given.
        addr: Ipv6Addr,
        /// The length as given.
        len: u8,
        /// The address with the bits past `len` cleared.
        masked: Ipv6Addr,
    },
    /// A /96 prefix whose bits 64-71 are not zero (RFC 6052 §2.2: they MUST be).
    #[error(
        "NAT64 prefix {0}/96 has bits 64-71 (the u-octet) set; RFC 6052 requires them to be zero"
    )]
    UOctet(Ipv6Addr),
    /// Not `ADDRESS/LENGTH`.
    #[error("{0:?} is not a NAT64 prefix: expected IPv6-ADDRESS/LENGTH, for example 64:ff9b::/96")]
    Syntax(String),
    /// A prefix in a range that cannot be a NAT64 prefix (multicast, link-local,
    /// IPv4-mapped, the unspecified or loopback block).
    #[error("{0} cannot be a NAT64 prefix (multicast, link-local, IPv4-mapped or reserved range)")]
    Reserved(Nat64Prefix),
    /// The `ipv4only.arpa` answers embed neither 192.0.0.170 nor 192.0.0.171 at any
    /// RFC 6052 position: the resolver is not a DNS64 (or it lied).
    #[error(
        "none of the {answers} AAAA answers for ipv4only.arpa embeds 192.0.0.170 or 192.0.0.171: \
         the resolver does not synthesize (no DNS64), so no NAT64 prefix was found"
    )]
    NoWellKnownAddress {
        /// How many AAAA answers were examined.
        answers: usize,
    },
}

/// A NAT64 prefix (Pref64::/n, RFC 6052): the IPv6 prefix under which a translator
/// represents every IPv4 address.
///
/// Invariants: the length is 32, 40, 48, 56, 64 or 96; no bit past the length is set; bits
/// 64-71 are zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nat64Prefix {
    bits: u128,
    len: u8,
}

/// The lengths RFC 6052 §2.2 defines, longest first (the order RFC 7050 discovery prefers).
pub const PREFIX_LENGTHS: [u8; 6] = [96, 64, 56, 48, 40, 32];

/// The mask of bits 64-71 (the u-octet) of an IPv6 address as a `u128`.
const U_OCTET: u128 = 0xff << 56;

impl Nat64Prefix {
    /// The Well-Known Prefix 64:ff9b::/96 (RFC 6052 §2.1).
    pub const WELL_KNOWN: Nat64Prefix = Nat64Prefix {
        bits: 0x0064_ff9b << 96,
        len: 96,
    };

    /// The Local-Use IPv4/IPv6 Translation Prefix 64:ff9b:1::/48 (RFC 8215). An operator
    /// may use the /48 itself or any longer prefix carved out of it; unlike the Well-Known
    /// Prefix it may embed non-global IPv4 addresses.
    pub const LOCAL_USE: Nat64Prefix = Nat64Prefix {
        bits: (0x0064_ff9b_0001 << 80),
        len: 48,
    };

    /// A prefix from its address and length, checked against RFC 6052 §2.2.
    pub fn new(addr: Ipv6Addr, len: u8) -> Result<Self, Nat64Error> {
        if !PREFIX_LENGTHS.contains(&len) {
            return Err(Nat64Error::InvalidLength(len));
        }
        let bits = u128::from(addr);
        let masked = bits & mask(len);
        if masked != bits {
            return Err(Nat64Error::HostBits {
                addr,
                len,
                masked: Ipv6Addr::from(masked),
            });
        }
        if bits & U_OCTET != 0 {
            return Err(Nat64Error::UOctet(addr));
        }
        let p = Nat64Prefix { bits, len };
        if p.is_reserved() {
            return Err(Nat64Error::Reserved(p));
        }
        Ok(p)
    }

    /// The prefix of `len` bits that `addr` starts with (bits past `len` dropped). For
    /// discovery, where the address is an IPv4-embedded one rather than a prefix.
    pub(crate) fn of_address(addr: Ipv6Addr, len: u8) -> Result<Self, Nat64Error> {
        Self::new(Ipv6Addr::from(u128::from(addr) & mask(len)), len)
    }

    /// The prefix's network address (`64:ff9b::` for the Well-Known Prefix).
    pub fn network(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.bits)
    }

    /// The prefix length: 32, 40, 48, 56, 64 or 96.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// Whether this is the Well-Known Prefix 64:ff9b::/96.
    pub fn is_well_known(&self) -> bool {
        *self == Self::WELL_KNOWN
    }

    /// Whether this prefix lies inside the Local-Use block 64:ff9b:1::/48 (RFC 8215).
    pub fn is_local_use(&self) -> bool {
        self.len >= 48 && self.bits & mask(48) == Self::LOCAL_USE.bits
    }

    /// Whether `addr` lies under this prefix (its first `len` bits match). Says nothing
    /// about the u-octet: see [`extract`](Self::extract).
    pub fn contains(&self, addr: Ipv6Addr) -> bool {
        u128::from(addr) & mask(self.len) == self.bits
    }

    /// The IPv4-embedded IPv6 address of `v4` under this prefix (RFC 6052 §2.2): the 32
    /// IPv4 bits follow the prefix, skipping bits 64-71 (the u-octet, zero); the suffix
    /// after them is zero.
    #[must_use]
    pub fn synthesize(&self, v4: Ipv4Addr) -> Ipv6Addr {
        let mut bytes = Ipv6Addr::from(self.bits).octets();
        for (i, b) in positions(self.len).zip(v4.octets()) {
            bytes[i] = b;
        }
        Ipv6Addr::from(bytes)
    }

    /// The IPv4 address embedded in `v6`, if `v6` lies under this prefix and its u-octet
    /// (bits 64-71) is zero as RFC 6052 requires. The suffix bits are not checked (RFC 6052
    /// says they SHOULD be zero and reserves them for future extensions), so a translator
    /// that sets them is still understood.
    #[must_use]
    pub fn extract(&self, v6: Ipv6Addr) -> Option<Ipv4Addr> {
        if !self.contains(v6) || u128::from(v6) & U_OCTET != 0 {
            return None;
        }
        Some(self.embedded(v6))
    }

    /// The 32 bits at this prefix length's IPv4 position, unchecked.
    fn embedded(&self, v6: Ipv6Addr) -> Ipv4Addr {
        let bytes = v6.octets();
        let mut out = [0u8; 4];
        for (o, i) in out.iter_mut().zip(positions(self.len)) {
            *o = bytes[i];
        }
        Ipv4Addr::from(out)
    }

    /// [`synthesize`](Self::synthesize) for a socket address (same port).
    #[must_use]
    pub fn synthesize_socket(&self, v4: SocketAddrV4) -> SocketAddrV6 {
        SocketAddrV6::new(self.synthesize(*v4.ip()), v4.port(), 0, 0)
    }

    /// [`extract`](Self::extract) for a socket address (same port).
    #[must_use]
    pub fn extract_socket(&self, v6: SocketAddrV6) -> Option<SocketAddrV4> {
        self.extract(*v6.ip())
            .map(|ip| SocketAddrV4::new(ip, v6.port()))
    }

    /// Whether a translator following RFC 6052 §3.1 will translate `v4` under this
    /// prefix: the Well-Known Prefix MUST NOT carry non-global IPv4 addresses (private,
    /// shared, documentation, benchmarking and other special-purpose ranges), and TAYGA,
    /// for one, drops them. Any other prefix (network-specific or local-use) may carry
    /// them.
    pub fn permits(&self, v4: Ipv4Addr) -> bool {
        !self.is_well_known() || !is_non_global(v4)
    }

    /// Ranges no NAT64 prefix can live in: multicast ff00::/8, link-local fe80::/10, and
    /// ::/80 (unspecified, loopback, IPv4-compatible and IPv4-mapped addresses).
    fn is_reserved(&self) -> bool {
        let multicast = (self.bits >> 120) == 0xff;
        let link_local = (self.bits >> 118) == (0xfe80 >> 6);
        multicast || link_local || self.bits >> 48 == 0
    }
}

/// The byte indices of the four IPv4 octets for a prefix length: right after the prefix,
/// skipping byte 8 (bits 64-71).
fn positions(len: u8) -> impl Iterator<Item = usize> {
    (usize::from(len) / 8..16).filter(|&i| i != 8).take(4)
}

fn mask(len: u8) -> u128 {
    match len {
        0 => 0,
        l => u128::MAX << (128 - u32::from(l)),
    }
}

/// IPv4 addresses RFC 6052 §3.1 keeps out of the Well-Known Prefix: the non-global
/// special-purpose ranges (RFC 6890 and the ranges TAYGA refuses).
pub(crate) fn is_non_global(v4: Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    a == 0
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b))
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 192 && b == 0 && c == 2)
        || (a == 192 && b == 168)
        || (a == 198 && (18..20).contains(&b))
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
        || a >= 224
}

impl fmt::Display for Nat64Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network(), self.len)
    }
}

impl FromStr for Nat64Prefix {
    type Err = Nat64Error;

    /// Parses `ADDRESS/LENGTH`, for example `64:ff9b::/96`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || Nat64Error::Syntax(s.to_string());
        let (addr, len) = s.trim().split_once('/').ok_or_else(syntax)?;
        let addr: Ipv6Addr = addr.parse().map_err(|_| syntax())?;
        let len: u8 = len.parse().map_err(|_| syntax())?;
        Nat64Prefix::new(addr, len)
    }
}
