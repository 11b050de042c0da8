//! RFC 7050 §3: learning the NAT64 prefix from a DNS64's synthesized answers for
//! `ipv4only.arpa`, a name that has only the A records 192.0.0.170 and 192.0.0.171. A DNS64
//! answers its AAAA query with those two addresses embedded under each prefix it uses; the
//! node finds where they sit and so learns both the prefix and its length.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{Nat64Error, Nat64Prefix, PREFIX_LENGTHS};

/// The name whose AAAA answers reveal the prefix (RFC 7050 §2, RFC 8880).
pub const WELL_KNOWN_IPV4_ONLY_NAME: &str = "ipv4only.arpa";
/// The first well-known IPv4 address of `ipv4only.arpa` (RFC 7050 §2.2).
pub const WKA_PRIMARY: Ipv4Addr = Ipv4Addr::new(192, 0, 0, 170);
/// The second well-known IPv4 address, used to tell positions apart (RFC 7050 §3).
pub const WKA_SECONDARY: Ipv4Addr = Ipv4Addr::new(192, 0, 0, 171);

/// The NAT64 prefixes embedded in the AAAA answers for `ipv4only.arpa`, in answer order
/// and without duplicates (a network may run several translators; the first is preferred).
///
/// Each answer is searched for 192.0.0.170 or 192.0.0.171 at every RFC 6052 position
/// (/96, /64, /56, /48, /40, /32), with the u-octet (bits 64-71) zero. An answer embedding
/// a well-known address at exactly one position gives that prefix. One that embeds it at
/// several positions (a prefix whose own bits happen to spell c000:aa) is resolved as
/// RFC 7050 §3 says, with the other well-known address: the position at which another
/// answer embeds the *other* address under the same prefix wins; if that still leaves
/// more than one, or none, the answer is ignored. Answers that embed neither address (a
/// real AAAA record, a resolver that is not a DNS64) are ignored, as are prefixes in
/// ranges that cannot be NAT64 prefixes (multicast, link-local, IPv4-mapped).
///
/// Fails with [`Nat64Error::NoWellKnownAddress`] when no answer yields a prefix: the
/// network has no DNS64, and an IPv6-only host there has no NAT64 it can find this way.
pub fn discover_prefixes(answers: &[Ipv6Addr]) -> Result<Vec<Nat64Prefix>, Nat64Error> {
    let mut found: Vec<Nat64Prefix> = Vec::new();
    for answer in answers {
        let candidates = embedded_wkas(*answer);
        let chosen = match candidates.as_slice() {
            [] => None,
            [(prefix, _)] => Some(*prefix),
            several => {
                let confirmed: Vec<Nat64Prefix> = several
                    .iter()
                    .filter(|(prefix, wka)| {
                        let other = if *wka == WKA_PRIMARY {
                            WKA_SECONDARY
                        } else {
                            WKA_PRIMARY
                        };
                        answers.iter().any(|a| prefix.extract(*a) == Some(other))
                    })
                    .map(|(prefix, _)| *prefix)
                    .collect();
                match confirmed.as_slice() {
                    [one] => Some(*one),
                    _ => {
                        log::debug!(
                            "nat64: ipv4only.arpa answer {answer} embeds a well-known address at \
                             several positions and the other address does not settle which: ignored"
                        );
                        None
                    }
                }
            }
        };
        if let Some(p) = chosen {
            if !found.contains(&p) {
                found.push(p);
            }
        }
    }
    if found.is_empty() {
        return Err(Nat64Error::NoWellKnownAddress {
            answers: answers.len(),
        });
    }
    Ok(found)
}

/// Every (prefix, well-known address) found in `answer` at an RFC 6052 position.
fn embedded_wkas(answer: Ipv6Addr) -> Vec<(Nat64Prefix, Ipv4Addr)> {
    PREFIX_LENGTHS
        .iter()
        .filter_map(|&len| {
            let prefix = Nat64Prefix::of_address(answer, len).ok()?;
            let v4 = prefix.extract(answer)?;
            (v4 == WKA_PRIMARY || v4 == WKA_SECONDARY).then_some((prefix, v4))
        })
        .collect()
}
