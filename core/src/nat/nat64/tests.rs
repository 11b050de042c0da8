use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::*;

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn p(s: &str) -> Nat64Prefix {
    s.parse().unwrap()
}

const RFC_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 33);

/// RFC 6052 §2.4, the table of examples: every prefix length, and the Well-Known Prefix.
const RFC6052_TABLE: [(&str, &str); 7] = [
    ("2001:db8::/32", "2001:db8:c000:221::"),
    ("2001:db8:100::/40", "2001:db8:1c0:2:21::"),
    ("2001:db8:122::/48", "2001:db8:122:c000:2:2100::"),
    ("2001:db8:122:300::/56", "2001:db8:122:3c0:0:221::"),
    ("2001:db8:122:344::/64", "2001:db8:122:344:c0:2:2100:0"),
    ("2001:db8:122:344::/96", "2001:db8:122:344::192.0.2.33"),
    ("64:ff9b::/96", "64:ff9b::192.0.2.33"),
];

#[test]
fn rfc6052_table_synthesizes() {
    for (prefix, expected) in RFC6052_TABLE {
        assert_eq!(p(prefix).synthesize(RFC_V4), v6(expected), "{prefix}");
    }
}

#[test]
fn rfc6052_table_extracts() {
    for (prefix, embedded) in RFC6052_TABLE {
        assert_eq!(p(prefix).extract(v6(embedded)), Some(RFC_V4), "{prefix}");
    }
}

#[test]
fn well_known_and_local_use_constants() {
    assert_eq!(Nat64Prefix::WELL_KNOWN, p("64:ff9b::/96"));
    assert_eq!(Nat64Prefix::WELL_KNOWN.to_string(), "64:ff9b::/96");
    assert!(Nat64Prefix::WELL_KNOWN.is_well_known());
    assert!(!Nat64Prefix::WELL_KNOWN.is_local_use());
    assert_eq!(Nat64Prefix::LOCAL_USE, p("64:ff9b:1::/48"));
    assert!(Nat64Prefix::LOCAL_USE.is_local_use());
    assert!(p("64:ff9b:1:abcd::/64").is_local_use());
    assert!(p("64:ff9b:1:ab::/96").is_local_use());
    assert!(!p("64:ff9b:2::/48").is_local_use());
    assert_eq!(
        Nat64Prefix::LOCAL_USE.synthesize(RFC_V4),
        v6("64:ff9b:1:c000:2:2100::")
    );
}

#[test]
fn u_octet_is_skipped_and_must_be_zero() {
    // /40: the fourth IPv4 octet jumps over bits 64-71.
    let prefix = p("2001:db8:100::/40");
    let a = prefix.synthesize(Ipv4Addr::new(255, 255, 255, 255));
    assert_eq!(a.octets()[8], 0, "{a}");
    assert_eq!(a, v6("2001:db8:1ff:ffff:ff::"));
    // An address under the prefix with a non-zero u-octet is not IPv4-embedded.
    let mut bad = a.octets();
    bad[8] = 1;
    assert_eq!(prefix.extract(Ipv6Addr::from(bad)), None);
    // The same for /96, where bits 64-71 belong to the prefix itself.
    assert_eq!(
        "2001:db8:0:0:100::/96".parse::<Nat64Prefix>(),
        Err(Nat64Error::UOctet(v6("2001:db8:0:0:100::")))
    );
}

#[test]
fn extract_ignores_the_suffix_but_not_the_prefix() {
    let prefix = p("2001:db8::/32");
    // Suffix bits set: still understood (RFC 6052 reserves them).
    assert_eq!(
        prefix.extract(v6("2001:db8:c000:221:0:0:0:1")),
        Some(RFC_V4)
    );
    assert_eq!(prefix.extract(v6("2001:db9:c000:221::")), None);
    assert_eq!(Nat64Prefix::WELL_KNOWN.extract(v6("64:ff9c::1")), None);
    assert_eq!(
        Nat64Prefix::WELL_KNOWN.extract(v6("2001:db8::192.0.2.33")),
        None
    );
}

#[test]
fn invalid_prefixes_are_refused_with_reasons() {
    use Nat64Error::*;
    assert_eq!(
        Nat64Prefix::new(v6("2001:db8::"), 33),
        Err(InvalidLength(33))
    );
    assert_eq!(
        Nat64Prefix::new(v6("2001:db8::"), 128),
        Err(InvalidLength(128))
    );
    assert_eq!(
        Nat64Prefix::new(v6("2001:db8::1"), 32),
        Err(HostBits {
            addr: v6("2001:db8::1"),
            len: 32,
            masked: v6("2001:db8::")
        })
    );
    for reserved in ["ff02::/32", "fe80::/64", "::ffff:0:0/96", "::/96"] {
        assert!(
            matches!(reserved.parse::<Nat64Prefix>(), Err(Reserved(_))),
            "{reserved}"
        );
    }
    for junk in ["64:ff9b::", "64:ff9b::/x", "1.2.3.4/96", ""] {
        assert!(
            matches!(junk.parse::<Nat64Prefix>(), Err(Syntax(_))),
            "{junk}"
        );
    }
    let msg = Nat64Prefix::new(v6("2001:db8::"), 33)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("/96"), "{msg}");
}

#[test]
fn well_known_prefix_permits_only_global_ipv4() {
    let wkp = Nat64Prefix::WELL_KNOWN;
    for private in [
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "100.64.0.1",
        "192.0.2.1",
        "198.51.100.7",
        "203.0.113.9",
        "198.18.0.1",
        "127.0.0.1",
        "169.254.1.1",
        "192.0.0.170",
    ] {
        let a: Ipv4Addr = private.parse().unwrap();
        assert!(!wkp.permits(a), "{a}");
        assert!(p("2001:db8:64::/96").permits(a), "{a}");
        assert!(Nat64Prefix::LOCAL_USE.permits(a), "{a}");
    }
    for global in ["8.8.8.8", "192.88.99.1", "100.128.0.1", "172.32.0.1"] {
        assert!(wkp.permits(global.parse().unwrap()), "{global}");
    }
}

// --- RFC 7050 discovery ---

/// The two AAAA answers a DNS64 gives for ipv4only.arpa under `prefix`.
fn answers(prefix: &str) -> Vec<Ipv6Addr> {
    let prefix = p(prefix);
    vec![
        prefix.synthesize(WKA_PRIMARY),
        prefix.synthesize(WKA_SECONDARY),
    ]
}

#[test]
fn discovery_finds_each_prefix_length() {
    for (prefix, _) in RFC6052_TABLE {
        assert_eq!(discover_prefixes(&answers(prefix)), Ok(vec![p(prefix)]));
        // One answer alone is enough when the position is unambiguous.
        assert_eq!(
            discover_prefixes(&answers(prefix)[1..]),
            Ok(vec![p(prefix)])
        );
    }
}

#[test]
fn discovery_of_the_well_known_prefix_from_real_dns64_answers() {
    // What a DNS64 using 64:ff9b::/96 answers (e.g. on Apple's NAT64 review network).
    let got = discover_prefixes(&[v6("64:ff9b::c000:aa"), v6("64:ff9b::c000:ab")]);
    assert_eq!(got, Ok(vec![Nat64Prefix::WELL_KNOWN]));
}

#[test]
fn discovery_returns_several_prefixes_in_answer_order() {
    let mut all = answers("2001:db8:aaaa::/48");
    all.extend(answers("64:ff9b::/96"));
    all.extend(answers("2001:db8:aaaa::/48")); // repeated: one entry
    assert_eq!(
        discover_prefixes(&all),
        Ok(vec![p("2001:db8:aaaa::/48"), Nat64Prefix::WELL_KNOWN])
    );
}

#[test]
fn discovery_rejects_answers_without_a_well_known_address() {
    let none = [v6("2001:db8::1"), v6("64:ff9b::192.0.2.1")];
    assert_eq!(
        discover_prefixes(&none),
        Err(Nat64Error::NoWellKnownAddress { answers: 2 })
    );
    assert_eq!(
        discover_prefixes(&[]),
        Err(Nat64Error::NoWellKnownAddress { answers: 0 })
    );
    // A stray answer beside good ones is ignored.
    let mut mixed = vec![v6("2001:db8::1")];
    mixed.extend(answers("64:ff9b::/96"));
    assert_eq!(discover_prefixes(&mixed), Ok(vec![Nat64Prefix::WELL_KNOWN]));
}

#[test]
fn discovery_rejects_a_non_zero_u_octet() {
    // 192.0.0.170 at the /64 position but with bits 64-71 set: not RFC 6052.
    let mut a = p("2001:db8:1:2::/64").synthesize(WKA_PRIMARY).octets();
    a[8] = 0x02;
    assert!(discover_prefixes(&[Ipv6Addr::from(a)]).is_err());
}

#[test]
fn discovery_resolves_an_ambiguous_position_with_the_other_address() {
    // A /64 prefix whose own bits 32-63 spell 192.0.0.170: the .170 answer embeds it at /32
    // too. The .171 answer settles it (at /32 it reads .170 again, at /64 it reads .171).
    let prefix = p("2001:db8:c000:aa::/64");
    let first = prefix.synthesize(WKA_PRIMARY);
    let second = prefix.synthesize(WKA_SECONDARY);
    assert_eq!(
        p("2001:db8::/32").extract(first),
        Some(WKA_PRIMARY),
        "the test needs an ambiguous answer"
    );
    assert_eq!(discover_prefixes(&[first, second]), Ok(vec![prefix]));
    // Alone, the ambiguous answer cannot be placed: ignored, nothing found.
    assert!(discover_prefixes(&[first]).is_err());
}

#[test]
fn discovery_ignores_impossible_prefixes() {
    // IPv4-mapped "answers" embed the address at /96 under ::ffff:0:0.
    let mapped = WKA_PRIMARY.to_ipv6_mapped();
    assert!(discover_prefixes(&[mapped]).is_err());
}

// --- ICE helpers ---

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn ipv6_socket_reaches_an_ipv4_candidate_through_the_prefix() {
    let prefixes = [Nat64Prefix::WELL_KNOWN, p("2001:db8:64::/96")];
    let local = sa("[2001:db8:1::2]:5000");
    let r = remote_via_nat64(&prefixes, local, sa("198.51.100.7:40000")).unwrap();
    assert_eq!(r.translated.to_string(), "[64:ff9b::c633:6407]:40000");
    assert_eq!(r.original.to_string(), "198.51.100.7:40000");
    assert_eq!(r.prefix, Nat64Prefix::WELL_KNOWN);
    // And back: the answer's source names the candidate.
    assert_eq!(
        original_remote(&prefixes, SocketAddr::V6(r.translated)),
        Some(r.original)
    );
    // Under the second prefix too.
    assert_eq!(
        original_remote(&prefixes, sa("[2001:db8:64::c633:6407]:1")),
        Some("198.51.100.7:1".parse().unwrap())
    );
}

#[test]
fn no_translation_where_none_applies() {
    let prefixes = [Nat64Prefix::WELL_KNOWN];
    let v6_local = sa("[2001:db8:1::2]:5000");
    // Same family, IPv4 local, no prefix: pair as usual.
    assert_eq!(
        remote_via_nat64(&prefixes, v6_local, sa("[2001:db8:2::3]:1")),
        None
    );
    assert_eq!(
        remote_via_nat64(&prefixes, sa("10.0.0.2:5000"), sa("198.51.100.7:1")),
        None
    );
    assert_eq!(remote_via_nat64(&[], v6_local, sa("198.51.100.7:1")), None);
    // Local bases that cannot reach a translator.
    for local in ["[fe80::1]:5000", "[::1]:5000"] {
        assert_eq!(
            remote_via_nat64(&prefixes, sa(local), sa("198.51.100.7:1")),
            None
        );
    }
    // Remotes nobody can reach.
    for remote in [
        "0.0.0.0:1",
        "127.0.0.1:1",
        "169.254.3.4:1",
        "224.0.0.1:1",
        "255.255.255.255:1",
        "240.1.2.3:1",
    ] {
        assert_eq!(
            remote_via_nat64(&prefixes, v6_local, sa(remote)),
            None,
            "{remote}"
        );
    }
    // Private remotes are translated (a strict NAT64 will drop them; `permits` says so).
    let private = remote_via_nat64(&prefixes, v6_local, sa("192.168.1.5:1")).unwrap();
    assert!(!private.prefix.permits(*private.original.ip()));
}

#[test]
fn original_remote_needs_an_embedded_address() {
    let prefixes = [Nat64Prefix::WELL_KNOWN];
    assert_eq!(original_remote(&prefixes, sa("[2001:db8::1]:1")), None);
    assert_eq!(original_remote(&prefixes, sa("198.51.100.7:1")), None);
    assert_eq!(original_remote(&[], sa("[64:ff9b::1.2.3.4]:1")), None);
}

#[test]
fn ipv6_only_hosts_are_recognised() {
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert!(is_ipv6_only([
        ip("127.0.0.1"),
        ip("::1"),
        ip("fe80::1"),
        ip("2001:db8:1::2")
    ]));
    assert!(is_ipv6_only([ip("2001:db8:1::2"), ip("169.254.0.5")]));
    assert!(!is_ipv6_only([ip("2001:db8:1::2"), ip("10.0.0.2")]));
    assert!(!is_ipv6_only([ip("127.0.0.1"), ip("::1"), ip("fe80::1")]));
    assert!(!is_ipv6_only(Vec::<IpAddr>::new()));
}
