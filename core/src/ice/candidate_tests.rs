//! Candidate parsing against lines real stacks emit, and against bad lines.
//!
//! Fixture sources (public repositories, test files or captured SDP):
//! - Chrome/libwebrtc: `pc/webrtc_sdp_unittest.cc` (libwebrtc, as vendored in
//!   DrKLO/Telegram and WebKit), `test/sdp/SDPMock.ts` in
//!   aws/amazon-chime-sdk-js, `test/mocks/sdp_mock.dart` in millicast/flutter-sdk.
//! - Firefox: `test/sdp/FirefoxSDPMock.ts` in aws/amazon-chime-sdk-js
//!   (Firefox 68 offer), libwebrtc's `pc/test/test_sdp_strings.h` (Nightly offer),
//!   a gst-plugin-webrtc signalling-server log with a Firefox 99 peer.
//! - libnice: the same gst-plugin-webrtc log (GStreamer webrtcbin uses libnice),
//!   and Janus (libnice) answers; libnice's `agent.c` writes `UDP` uppercase.
//! - pion: `candidate_test.go` in pion/ice.
//! - aioice: `tests/test_candidate.py` in aiortc/aioice.

use super::candidate::*;
use std::net::IpAddr;

struct Fixture {
    stack: &'static str,
    line: &'static str,
    canonical: &'static str,
}

const FIXTURES: &[Fixture] = &[
    // --- Chrome / libwebrtc ---
    Fixture {
        stack: "libwebrtc kRawCandidate",
        line: "candidate:a0+B/1 1 udp 2130706432 192.168.1.5 1234 typ host generation 2",
        canonical: "candidate:a0+B/1 1 udp 2130706432 192.168.1.5 1234 typ host generation 2",
    },
    Fixture {
        stack: "libwebrtc kSdpOneCandidate (a= and CRLF)",
        line: "a=candidate:a0+B/1 1 udp 2130706432 192.168.1.5 1234 typ host generation 2\r\n",
        canonical: "candidate:a0+B/1 1 udp 2130706432 192.168.1.5 1234 typ host generation 2",
    },
    Fixture {
        stack: "libwebrtc kSdpTcpPassiveCandidate",
        line: "candidate:a0+B/1 1 tcp 2130706432 192.168.1.5 9 typ host tcptype passive generation 2",
        canonical: "candidate:a0+B/1 1 tcp 2130706432 192.168.1.5 9 typ host tcptype passive generation 2",
    },
    Fixture {
        stack: "libwebrtc kSdpTcpSOCandidate",
        line: "candidate:a0+B/1 1 tcp 2130706432 192.168.1.5 9 typ host tcptype so generation 2",
        canonical: "candidate:a0+B/1 1 tcp 2130706432 192.168.1.5 9 typ host tcptype so generation 2",
    },
    Fixture {
        stack: "libwebrtc kRawIPV6Candidate",
        line: "candidate:a0+B/1 1 udp 2130706432 abcd:abcd:abcd:abcd:abcd:abcd:abcd:abcd 1234 typ host generation 2",
        canonical: "candidate:a0+B/1 1 udp 2130706432 abcd:abcd:abcd:abcd:abcd:abcd:abcd:abcd 1234 typ host generation 2",
    },
    Fixture {
        stack: "libwebrtc kSdpOneCandidateWithUfragPwd",
        line: "a=candidate:a0+B/1 1 udp 2130706432 192.168.1.5 1234 typ host network_name eth0 ufrag user_rtp pwd password_rtp generation 2\r\n",
        canonical: "candidate:a0+B/1 1 udp 2130706432 192.168.1.5 1234 typ host network_name eth0 ufrag user_rtp pwd password_rtp generation 2",
    },
    Fixture {
        stack: "Chrome via amazon-chime-sdk-js SDPMock RTP_CANDIDATE",
        line: "candidate:MOCK9004 1 udp 2122260223 10.88.178.121 52788 typ host generation 0 ufrag PWwO network-id 2 network-cost 50",
        canonical: "candidate:MOCK9004 1 udp 2122260223 10.88.178.121 52788 typ host generation 0 ufrag PWwO network-id 2 network-cost 50",
    },
    Fixture {
        stack: "Chrome via amazon-chime-sdk-js SDPMock SERVER_REFLEXIVE_CANDIDATE",
        line: "a=candidate:1853887674 1 udp 1518280447 47.61.61.61 36768 typ srflx raddr 192.168.0.196 rport 36768 generation 0",
        canonical: "candidate:1853887674 1 udp 1518280447 47.61.61.61 36768 typ srflx raddr 192.168.0.196 rport 36768 generation 0",
    },
    Fixture {
        stack: "Chrome via amazon-chime-sdk-js SDPMock PEER_REFLEXIVE_CANDIDATE",
        line: "a=candidate:750991856 2 udp 25108222 237.30.30.30 51472 typ prflx raddr 47.61.61.61 rport 54763 generation 0",
        canonical: "candidate:750991856 2 udp 25108222 237.30.30.30 51472 typ prflx raddr 47.61.61.61 rport 54763 generation 0",
    },
    Fixture {
        stack: "Chrome mDNS host via millicast/flutter-sdk sdp_mock",
        line: "a=candidate:1560499547 1 udp 2113937151 2cf0b2c0-0842-4fe3-aaa0-4556a2dfbadc.local 33192 typ host generation 0 network-cost 999",
        canonical: "candidate:1560499547 1 udp 2113937151 2cf0b2c0-0842-4fe3-aaa0-4556a2dfbadc.local 33192 typ host generation 0 network-cost 999",
    },
    Fixture {
        stack: "Chrome hidden raddr via millicast/flutter-sdk sdp_mock",
        line: "a=candidate:842163049 1 udp 1677729535 186.50.9.10 52200 typ srflx raddr 0.0.0.0 rport 0 generation 0 network-cost 999",
        canonical: "candidate:842163049 1 udp 1677729535 186.50.9.10 52200 typ srflx raddr 0.0.0.0 rport 0 generation 0 network-cost 999",
    },
    // --- Firefox ---
    Fixture {
        stack: "Firefox 68 via amazon-chime-sdk-js FirefoxSDPMock",
        line: "a=candidate:0 1 UDP 2122252543 192.168.8.221 54925 typ host",
        canonical: "candidate:0 1 udp 2122252543 192.168.8.221 54925 typ host",
    },
    Fixture {
        stack: "Firefox 68 TCP via amazon-chime-sdk-js FirefoxSDPMock",
        line: "a=candidate:1 2 TCP 2105524478 192.168.8.221 9 typ host tcptype active",
        canonical: "candidate:1 2 tcp 2105524478 192.168.8.221 9 typ host tcptype active",
    },
    Fixture {
        stack: "Firefox Nightly via libwebrtc test_sdp_strings.h",
        line: "a=candidate:5 1 UDP 1694302207 74.95.2.170 36993 typ srflx raddr 10.0.254.2 rport 58122",
        canonical: "candidate:5 1 udp 1694302207 74.95.2.170 36993 typ srflx raddr 10.0.254.2 rport 58122",
    },
    Fixture {
        stack: "Firefox 99 via gst-webrtc-signalling log",
        line: "candidate:1 1 UDP 1685987327 187.180.171.0 10021 typ srflx raddr 192.168.72.152 rport 59914",
        canonical: "candidate:1 1 udp 1685987327 187.180.171.0 10021 typ srflx raddr 192.168.72.152 rport 59914",
    },
    // --- libnice (GStreamer webrtcbin, Janus) ---
    Fixture {
        stack: "libnice/webrtcbin IPv6 link-local",
        line: "a=candidate:2 1 UDP 2015363583 fe80::6c3d:5b42:1532:2f9a 10007 typ host",
        canonical: "candidate:2 1 udp 2015363583 fe80::6c3d:5b42:1532:2f9a 10007 typ host",
    },
    Fixture {
        stack: "libnice/webrtcbin TCP passive",
        line: "candidate:21 1 TCP 1010829055 fe80::70c9:80ff:fe7d:1a13 50785 typ host tcptype passive",
        canonical: "candidate:21 1 tcp 1010829055 fe80::70c9:80ff:fe7d:1a13 50785 typ host tcptype passive",
    },
    Fixture {
        stack: "libnice/webrtcbin srflx TCP (tcptype after rport)",
        line: "candidate:47 1 TCP 847249663 187.180.171.0 9 typ srflx raddr 192.168.72.123 rport 9 tcptype active",
        canonical: "candidate:47 1 tcp 847249663 187.180.171.0 9 typ srflx raddr 192.168.72.123 rport 9 tcptype active",
    },
    Fixture {
        stack: "Janus (libnice) srflx",
        line: "a=candidate:2 1 udp 1679819007 54.69.188.246 59430 typ srflx raddr 172.18.0.5 rport 59430",
        canonical: "candidate:2 1 udp 1679819007 54.69.188.246 59430 typ srflx raddr 172.18.0.5 rport 59430",
    },
    // --- pion ---
    Fixture {
        stack: "pion host IPv6",
        line: "750 1 udp 500 fcd9:e3b8:12ce:9fc5:74a5:c6bb:d8b:e08a 53987 typ host",
        canonical: "candidate:750 1 udp 500 fcd9:e3b8:12ce:9fc5:74a5:c6bb:d8b:e08a 53987 typ host",
    },
    Fixture {
        stack: "pion prflx TCP with extensions",
        line: "4207374052 1 tcp 1685790463 192.0.2.15 50000 typ prflx raddr 10.0.0.1 rport 12345 generation 0 network-id 2 network-cost 10",
        canonical: "candidate:4207374052 1 tcp 1685790463 192.0.2.15 50000 typ prflx raddr 10.0.0.1 rport 12345 generation 0 network-id 2 network-cost 10",
    },
    Fixture {
        stack: "pion relay",
        line: "848194626 1 udp 16777215 50.0.0.1 5000 typ relay raddr 192.168.0.1 rport 5001",
        canonical: "candidate:848194626 1 udp 16777215 50.0.0.1 5000 typ relay raddr 192.168.0.1 rport 5001",
    },
    Fixture {
        stack: "pion mDNS host",
        line: "1380287402 1 udp 2130706431 e2494022-4d9a-4c1e-a750-cc48d4f8d6ee.local 60542 typ host",
        canonical: "candidate:1380287402 1 udp 2130706431 e2494022-4d9a-4c1e-a750-cc48d4f8d6ee.local 60542 typ host",
    },
    Fixture {
        stack: "pion TCP without tcptype",
        line: "candidate:3359356140 1 tcp 1671430143 172.28.142.173 7686 typ host",
        canonical: "candidate:3359356140 1 tcp 1671430143 172.28.142.173 7686 typ host",
    },
    // --- aioice ---
    Fixture {
        stack: "aioice host",
        line: "6815297761 1 udp 659136 1.2.3.4 31102 typ host generation 0",
        canonical: "candidate:6815297761 1 udp 659136 1.2.3.4 31102 typ host generation 0",
    },
    Fixture {
        stack: "aioice srflx UDP uppercase",
        line: "1 1 UDP 1686052863 1.2.3.4 42705 typ srflx raddr 192.168.1.101 rport 42705",
        canonical: "candidate:1 1 udp 1686052863 1.2.3.4 42705 typ srflx raddr 192.168.1.101 rport 42705",
    },
    Fixture {
        stack: "aioice TCP (Chrome-style extensions)",
        line: "1936595596 1 tcp 1518214911 1.2.3.4 9 typ host tcptype active generation 0 network-id 1 network-cost 10",
        canonical: "candidate:1936595596 1 tcp 1518214911 1.2.3.4 9 typ host tcptype active generation 0 network-id 1 network-cost 10",
    },
];

#[test]
fn every_fixture_parses_and_encodes_canonically() {
    for fx in FIXTURES {
        let c = Candidate::parse(fx.line)
            .unwrap_or_else(|e| panic!("{}: {e}\n  {}", fx.stack, fx.line));
        assert_eq!(c.to_string(), fx.canonical, "{}", fx.stack);
        // The canonical form is a fixed point.
        let again = Candidate::parse(&c.to_string()).unwrap();
        assert_eq!(again, c, "{}", fx.stack);
    }
}

#[test]
fn fields_of_a_chrome_srflx_line() {
    let c: Candidate = "candidate:842163049 1 udp 1686052607 1.2.3.4 46154 typ srflx raddr 10.0.0.17 rport 46154 generation 0 ufrag EEtu network-id 3 network-cost 10"
        .parse()
        .unwrap();
    assert_eq!(c.foundation.as_str(), "842163049");
    assert_eq!(c.component, 1);
    assert_eq!(c.transport, Transport::Udp);
    assert_eq!(c.priority, 1686052607);
    assert_eq!(c.address, CandidateAddress::Ip("1.2.3.4".parse().unwrap()));
    assert_eq!(c.port, 46154);
    assert_eq!(c.kind, CandidateType::ServerReflexive);
    assert_eq!(
        c.related,
        Some((CandidateAddress::Ip("10.0.0.17".parse().unwrap()), 46154))
    );
    assert_eq!(c.tcp_type, None);
    assert_eq!(c.generation(), Some(0));
    assert_eq!(c.ufrag(), Some("EEtu"));
    assert_eq!(c.network_id(), Some(3));
    assert_eq!(c.network_cost(), Some(10));
    assert_eq!(
        c.extensions,
        vec![
            ("generation".to_string(), "0".to_string()),
            ("ufrag".to_string(), "EEtu".to_string()),
            ("network-id".to_string(), "3".to_string()),
            ("network-cost".to_string(), "10".to_string()),
        ]
    );
}

#[test]
fn mdns_names_are_a_distinct_variant() {
    let c = Candidate::parse(
        "candidate:1019731727 1 udp 2113937151 a6a83776-1b37-4d7c-a6be-43e778d07e1c.local 58285 typ host generation 0 ufrag f/zZ network-cost 999",
    )
    .unwrap();
    assert!(c.is_mdns());
    assert_eq!(c.address.ip(), None);
    assert_eq!(
        c.address,
        CandidateAddress::Mdns("a6a83776-1b37-4d7c-a6be-43e778d07e1c.local".into())
    );
    assert_eq!(c.ufrag(), Some("f/zZ"));
    // Upper-case suffix is still mDNS; other host names are not accepted.
    assert!(Candidate::parse("1 1 udp 1 HOST.LOCAL 1 typ host")
        .unwrap()
        .is_mdns());
    for bad in ["a.test", ".local", "x..local", "under_score.local", "local"] {
        let line = format!("1 1 udp 1 {bad} 1 typ host");
        assert_eq!(
            Candidate::parse(&line),
            Err(CandidateParseError::InvalidAddress(bad.into())),
            "{bad}"
        );
    }
}

#[test]
fn tolerant_of_case_whitespace_and_keyword_placement() {
    let canonical = "candidate:1 1 udp 1686052863 1.2.3.4 42705 typ srflx raddr 192.168.1.101 rport 42705 generation 0";
    for variant in [
        "  a=candidate:1 1 UDP 1686052863 1.2.3.4 42705 typ srflx raddr 192.168.1.101 rport 42705 generation 0   ",
        "A=CANDIDATE:1 1 Udp 1686052863 1.2.3.4 42705 TYP SRFLX RADDR 192.168.1.101 RPORT 42705 generation 0",
        "candidate:1  1\tudp 1686052863 1.2.3.4 42705 typ srflx raddr 192.168.1.101 rport 42705 generation 0\r\n",
        // raddr/rport after an extension (seen from hand-written signalling).
        "candidate:1 1 udp 1686052863 1.2.3.4 42705 typ srflx generation 0 raddr 192.168.1.101 rport 42705",
    ] {
        assert_eq!(Candidate::parse(variant).unwrap().to_string(), canonical, "{variant:?}");
    }
    // tcptype is moved to its canonical place after raddr/rport.
    let c = Candidate::parse(
        "2 1 tcp 5 1.2.3.4 9 typ srflx tcptype active raddr 10.0.0.1 rport 9 generation 0",
    )
    .unwrap();
    assert_eq!(c.to_string(), "candidate:2 1 tcp 5 1.2.3.4 9 typ srflx raddr 10.0.0.1 rport 9 tcptype active generation 0");
    // Extension names keep their case on output.
    let c = Candidate::parse("1 1 udp 1 1.2.3.4 1 typ host X-Vendor Foo").unwrap();
    assert_eq!(c.extension("x-vendor"), Some("Foo"));
    assert!(c.to_string().ends_with("X-Vendor Foo"));
}

#[test]
fn ipv6_related_addresses_and_port_zero() {
    let c = Candidate::parse("1947208462 1 udp 1677732095 2001:db8:85a3::8a2e:370:7334 50028 typ srflx raddr :: rport 0 generation 0 network-cost 999").unwrap();
    assert_eq!(
        c.related,
        Some((
            CandidateAddress::Ip(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)),
            0
        ))
    );
    let c = Candidate::parse("1052353102 1 tcp 2128609279 192.168.0.196 0 typ host tcptype active")
        .unwrap();
    assert_eq!(c.port, 0);
    assert_eq!(c.tcp_type, Some(TcpType::Active));
}

#[test]
fn boundaries_are_inclusive() {
    let ok = |l: &str| Candidate::parse(l).unwrap_or_else(|e| panic!("{l}: {e}"));
    ok("12345678901234567890123456789012 1 udp 1 1.2.3.4 1 typ host");
    ok("f 256 udp 2147483647 1.2.3.4 65535 typ relay");
    ok("+/ 1 udp 1 1.2.3.4 0 typ prflx");
}

#[test]
fn rejections_name_the_field_and_the_expectation() {
    let cases: &[(&str, &str)] = &[
        ("", "candidate line is missing the foundation"),
        ("candidate:", "candidate line is missing the foundation"),
        (
            "1 0 udp 1 1.2.3.4 1 typ host",
            r#"invalid component id "0" in candidate line: expected 1..=256"#,
        ),
        (
            "1 257 udp 1 1.2.3.4 1 typ host",
            r#"invalid component id "257" in candidate line: expected 1..=256"#,
        ),
        (
            "1 +1 udp 1 1.2.3.4 1 typ host",
            r#"invalid component id "+1""#,
        ),
        (
            "111111111111111111111111111111111 1 udp 500 127.0.0.1 80 typ host",
            r#"invalid foundation "111111111111111111111111111111111" in candidate line: expected 1 to 32 characters"#,
        ),
        (
            "3$3 1 udp 500 127.0.0.1 80 typ host",
            r#"invalid foundation "3$3""#,
        ),
        (
            "1 1 sctp 1 1.2.3.4 1 typ host",
            r#"unsupported transport "sctp" in candidate line: expected udp or tcp"#,
        ),
        (
            "1986380506 1 udp 99999999999 10.0.75.1 53634 typ host",
            r#"invalid priority "99999999999" in candidate line: expected 1..=2147483647"#,
        ),
        ("1 1 udp 0 1.2.3.4 1 typ host", r#"invalid priority "0""#),
        (
            "1 1 udp 2147483648 1.2.3.4 1 typ host",
            r#"invalid priority "2147483648""#,
        ),
        (
            "1 1 udp INVALID 1.2.3.4 1 typ host",
            r#"invalid priority "INVALID""#,
        ),
        (
            "848194626 1 udp 16777215 50.0.0.^^1 5000 typ relay",
            r#"invalid connection address "50.0.0.^^1" in candidate line: expected an IPv4 or IPv6 address or an mDNS name ending in .local"#,
        ),
        (
            "1 1 udp 1 fe80::1%eth0 1 typ host",
            r#"invalid connection address "fe80::1%eth0" in candidate line: expected an IPv6 address without a %zone suffix"#,
        ),
        (
            "1 1 udp 1 [2001:db8::1] 1 typ host",
            r#"invalid connection address "[2001:db8::1]""#,
        ),
        (
            "1 1 udp 1 1.2.3.4 65536 typ host",
            r#"invalid port "65536" in candidate line: expected 0..=65535"#,
        ),
        (
            "848194626 1 udp 16777215 50.0.0.1 5000 typ relay raddr 192.168.0.1 rport 999999",
            r#"invalid rport "999999" in candidate line: expected 0..=65535"#,
        ),
        (
            "1 1 udp 1 1.2.3.4 1 host",
            r#"unexpected "host" after the port in candidate line: expected "typ""#,
        ),
        (
            "4207374051 1 udp 2130706431 10.0.75.1 53634 typ",
            "candidate line is missing the candidate type",
        ),
        (
            "4207374051 1 udp 2130706431 10.0.75.1 53634",
            r#"candidate line is missing the "typ""#,
        ),
        (
            "4207374051 1 udp 2130706431 10.0.75.1 53634 typ INVALID",
            r#"unknown candidate type "INVALID" in candidate line: expected host, srflx, prflx or relay"#,
        ),
        (
            "1052353102 1 tcp 2128609279 192.168.0.196 0 typ host tcptype INVALID",
            r#"invalid tcptype "INVALID" in candidate line: expected active, passive or so"#,
        ),
        (
            "1 1 udp 1 1.2.3.4 1 typ host tcptype active",
            r#"tcptype "active" on a UDP candidate line: expected tcptype only with transport tcp"#,
        ),
        (
            "848194626 1 udp 16777215 50.0.0.1 5000 typ relay raddr",
            r#"attribute "raddr" has no value in candidate line: expected "raddr <value>""#,
        ),
        (
            "848194626 1 udp 16777215 50.0.0.1 5000 typ relay raddr 192.168.0.1",
            r#"missing the "rport" after "raddr""#,
        ),
        (
            "1 1 udp 1 1.2.3.4 1 typ relay rport 5",
            r#"missing the "raddr" before "rport""#,
        ),
        (
            "1 1 udp 1 1.2.3.4 1 typ relay raddr 1.1.1.1 rport 2 raddr 1.1.1.2",
            r#"attribute "raddr" appears twice in candidate line: expected it at most once"#,
        ),
        (
            "1 1 udp 1 1.2.3.4 1 typ host generation",
            r#"attribute "generation" has no value"#,
        ),
        (
            "848194626 1 udp 16777215 50.0.0.1 5000 typ relay raddr 192.168.0.1 rport 654 ext valu\0e",
            r#"invalid extension attribute "valu\0e" in candidate line: expected a byte string without NUL"#,
        ),
        // pion's "ext valu\nu": the newline splits it into an odd token count.
        (
            "750 1 udp 500 fcd9:e3b8:12ce:9fc5:74a5:c6bb:d8b:e08a 53987 typ host ext valu\nu",
            r#"attribute "u" has no value"#,
        ),
    ];
    for (line, expected) in cases {
        let err = Candidate::parse(line).expect_err(line).to_string();
        assert!(
            err.contains(expected),
            "{line:?}\n  got:      {err}\n  expected: {expected}"
        );
    }
}

#[test]
fn built_candidates_encode_canonically() {
    let mut c = Candidate::new(
        Foundation::new("1").unwrap(),
        1,
        Transport::Udp,
        2130706431,
        "192.0.2.1".parse::<IpAddr>().unwrap(),
        50000,
        CandidateType::Host,
    );
    assert_eq!(
        c.to_string(),
        "candidate:1 1 udp 2130706431 192.0.2.1 50000 typ host"
    );
    c.kind = CandidateType::Relayed;
    c.related = Some((CandidateAddress::Ip("203.0.113.4".parse().unwrap()), 6000));
    c.extensions.push(("generation".into(), "0".into()));
    assert_eq!(
        c.to_string(),
        "candidate:1 1 udp 2130706431 192.0.2.1 50000 typ relay raddr 203.0.113.4 rport 6000 generation 0"
    );
    assert!(Foundation::new("").is_err());
    assert!(Foundation::new("a b").is_err());
}

#[test]
fn multibyte_text_where_a_prefix_would_be_is_an_error_not_a_panic() {
    // Found by the candidate_parse fuzz target: slicing "aé" at byte 2 splits the 'é'.
    for line in [
        "aé",
        "xé candidate",
        "candidaté:1 1 udp 1 1.2.3.4 5 typ host",
        "é",
    ] {
        assert!(Candidate::parse(line).is_err(), "{line}");
    }
    assert!(crate::ice::IceAttribute::parse("aé").is_err());
}
