//! Property tests for RFC 6052 address synthesis: for every prefix length, extraction
//! inverts synthesis, the u-octet stays zero, the prefix bits survive, and RFC 7050
//! discovery finds any valid prefix from the two answers a DNS64 would give.

use std::net::{Ipv4Addr, Ipv6Addr};

use pinhole::nat::nat64::{
    discover_prefixes, Nat64Prefix, PREFIX_LENGTHS, WKA_PRIMARY, WKA_SECONDARY,
};
use proptest::prelude::*;

/// Any valid prefix: a random address masked to one of the six lengths, the u-octet
/// cleared, outside the reserved ranges.
fn prefix() -> impl Strategy<Value = Nat64Prefix> {
    (any::<u128>(), prop::sample::select(PREFIX_LENGTHS.to_vec())).prop_filter_map(
        "reserved range",
        |(bits, len)| {
            let masked = bits & (u128::MAX << (128 - u32::from(len))) & !(0xff << 56);
            Nat64Prefix::new(Ipv6Addr::from(masked), len).ok()
        },
    )
}

proptest! {
    #[test]
    fn extract_inverts_synthesize(prefix in prefix(), v4 in any::<u32>()) {
        let v4 = Ipv4Addr::from(v4);
        let v6 = prefix.synthesize(v4);
        prop_assert_eq!(prefix.extract(v6), Some(v4));
        prop_assert!(prefix.contains(v6));
        prop_assert_eq!(v6.octets()[8], 0, "u-octet of {}", v6);
    }

    #[test]
    fn synthesize_inverts_extract_on_embedded_addresses(prefix in prefix(), v6 in any::<u128>()) {
        // Any address under the prefix with a zero u-octet and zero suffix is synthesized.
        let len = prefix.prefix_len();
        let host = v6 & !(u128::MAX << (128 - u32::from(len)));
        let candidate = u128::from(prefix.network()) | (host & !(0xff << 56));
        // The IPv4 bits and the u-octet take 40 bits after a prefix shorter than /96.
        let suffix_bits = if len == 96 { 0 } else { 88 - u32::from(len) };
        let candidate = Ipv6Addr::from(candidate & !((1u128 << suffix_bits) - 1));
        let v4 = prefix.extract(candidate).expect("embedded");
        prop_assert_eq!(prefix.synthesize(v4), candidate);
    }

    #[test]
    fn synthesis_is_injective(prefix in prefix(), a in any::<u32>(), b in any::<u32>()) {
        prop_assume!(a != b);
        prop_assert_ne!(prefix.synthesize(a.into()), prefix.synthesize(b.into()));
    }

    #[test]
    fn display_round_trips(prefix in prefix()) {
        prop_assert_eq!(prefix.to_string().parse::<Nat64Prefix>(), Ok(prefix));
    }

    #[test]
    fn discovery_finds_any_prefix(prefix in prefix()) {
        let answers = [prefix.synthesize(WKA_PRIMARY), prefix.synthesize(WKA_SECONDARY)];
        prop_assert_eq!(discover_prefixes(&answers), Ok(vec![prefix]));
    }

    #[test]
    fn discovery_never_panics(answers in proptest::collection::vec(any::<u128>(), 0..6)) {
        let answers: Vec<Ipv6Addr> = answers.into_iter().map(Ipv6Addr::from).collect();
        let _ = discover_prefixes(&answers);
    }
}
