//! The sans-IO Binding server: RFC 8489 answers, RFC 5780 CHANGE-REQUEST / OTHER-ADDRESS /
//! RESPONSE-ORIGIN / RESPONSE-PORT, error responses, and drop-and-count of bad input.

use std::net::SocketAddr;
use std::time::Instant;

use pinhole::stun::attr::{self, Attribute};
use pinhole::stun::server::{BindingServer, ServerConfig, ServerError, ServerStats};
use pinhole::stun::{
    encode_to_vec, Class, Message, MessageBuilder, MessageType, Method, TransactionId,
};
use pinhole::Transmit;

fn a(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

const P: &str = "198.51.100.1:3478";
const ALT: &str = "198.51.100.2:3479";
const CLIENT: &str = "203.0.113.7:40000";

fn tid() -> TransactionId {
    TransactionId([7; 12])
}

fn request(attrs: &[Attribute<'_>]) -> Vec<u8> {
    let ty = MessageType::new(Class::Request, Method::BINDING);
    encode_to_vec(ty, tid(), attrs, None, true).unwrap()
}

fn rfc5780() -> BindingServer {
    BindingServer::new(ServerConfig::new(a(P)).with_alternate(a(ALT))).unwrap()
}

fn plain() -> BindingServer {
    BindingServer::new(ServerConfig::new(a(P))).unwrap()
}

/// Feeds one datagram and returns the single transmit it caused (or None).
fn exchange(s: &mut BindingServer, local: &str, bytes: &[u8]) -> Option<Transmit> {
    s.handle_input(Instant::now(), a(local), a(CLIENT), bytes);
    let t = s.poll_transmit();
    assert!(s.poll_transmit().is_none(), "one response per request");
    t
}

fn parsed(t: &Transmit) -> Message<'_> {
    let m = Message::parse(&t.bytes).unwrap();
    m.verify_fingerprint()
        .expect("every response carries a valid FINGERPRINT");
    assert_eq!(m.transaction_id(), tid());
    assert!(m.software().unwrap().unwrap().starts_with("pinhole "));
    m
}

#[test]
fn plain_server_answers_with_xor_mapped_address_only() {
    let mut s = plain();
    assert_eq!(s.local_addresses(), vec![a(P)]);
    let t = exchange(&mut s, P, &request(&[])).unwrap();
    assert_eq!((t.from, t.to), (a(P), a(CLIENT)));
    let m = parsed(&t);
    assert_eq!(
        m.message_type(),
        MessageType::new(Class::Success, Method::BINDING)
    );
    assert_eq!(m.xor_mapped_address().unwrap(), Some(a(CLIENT)));
    assert_eq!(m.mapped_address().unwrap(), None);
    assert_eq!(m.other_address().unwrap(), None);
    assert_eq!(m.response_origin().unwrap(), Some(a(P)));
    assert_eq!(s.stats().success_responses, 1);
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn wildcard_local_address_is_answered_from_it_without_response_origin() {
    let mut s = BindingServer::new(ServerConfig::new(a("0.0.0.0:3478"))).unwrap();
    let t = exchange(&mut s, "0.0.0.0:3478", &request(&[])).unwrap();
    assert_eq!(t.from, a("0.0.0.0:3478"));
    assert_eq!(parsed(&t).response_origin().unwrap(), None);
}

#[test]
fn rfc5780_server_listens_on_four_combinations_and_flips_both_for_other_address() {
    let mut s = rfc5780();
    let four = [
        "198.51.100.1:3478",
        "198.51.100.1:3479",
        "198.51.100.2:3478",
        "198.51.100.2:3479",
    ];
    assert_eq!(s.local_addresses(), four.map(a).to_vec());
    let other = [
        "198.51.100.2:3479",
        "198.51.100.2:3478",
        "198.51.100.1:3479",
        "198.51.100.1:3478",
    ];
    for (local, other) in four.iter().zip(other) {
        let t = exchange(&mut s, local, &request(&[])).unwrap();
        assert_eq!(t.from, a(local));
        let m = parsed(&t);
        assert_eq!(
            m.other_address().unwrap(),
            Some(a(other)),
            "arrived on {local}"
        );
        assert_eq!(m.response_origin().unwrap(), Some(a(local)));
        assert_eq!(m.xor_mapped_address().unwrap(), Some(a(CLIENT)));
    }
}

#[test]
fn change_request_answers_from_the_other_ip_and_or_port() {
    let mut s = rfc5780();
    // (arrived on, change ip, change port, expected source)
    let cases = [
        (P, false, false, "198.51.100.1:3478"),
        (P, true, false, "198.51.100.2:3478"),
        (P, false, true, "198.51.100.1:3479"),
        (P, true, true, "198.51.100.2:3479"),
        (ALT, true, true, "198.51.100.1:3478"),
        (ALT, false, true, "198.51.100.2:3478"),
        ("198.51.100.2:3478", true, false, "198.51.100.1:3478"),
        ("198.51.100.1:3479", false, true, "198.51.100.1:3478"),
    ];
    for (local, change_ip, change_port, source) in cases {
        let req = request(&[Attribute::ChangeRequest {
            change_ip,
            change_port,
        }]);
        let t = exchange(&mut s, local, &req).unwrap();
        assert_eq!(
            t.from,
            a(source),
            "{local} ip={change_ip} port={change_port}"
        );
        assert_eq!(t.to, a(CLIENT));
        assert_eq!(parsed(&t).response_origin().unwrap(), Some(a(source)));
    }
}

#[test]
fn response_port_redirects_to_the_source_ip_and_works_without_an_alternate() {
    for mut s in [plain(), rfc5780()] {
        let t = exchange(&mut s, P, &request(&[Attribute::ResponsePort(50_123)])).unwrap();
        assert_eq!(t.to, a("203.0.113.7:50123"));
        assert_eq!(t.from, a(P));
        // The mapped address is still the request's source.
        assert_eq!(parsed(&t).xor_mapped_address().unwrap(), Some(a(CLIENT)));
    }
}

#[test]
fn change_request_and_response_port_combine() {
    let mut s = rfc5780();
    let req = request(&[
        Attribute::ChangeRequest {
            change_ip: true,
            change_port: true,
        },
        Attribute::ResponsePort(1234),
    ]);
    let t = exchange(&mut s, P, &req).unwrap();
    assert_eq!((t.from, t.to), (a(ALT), a("203.0.113.7:1234")));
}

fn assert_error(t: &Transmit, code: u16, unknown: &[u16]) {
    assert_eq!(
        (t.from, t.to),
        (a(P), a(CLIENT)),
        "errors go back the way they came"
    );
    let m = parsed(t);
    assert_eq!(m.class(), Class::Error);
    assert_eq!(m.error_code().unwrap().unwrap().code, code);
    let listed: Vec<u16> = m
        .unknown_attributes()
        .unwrap()
        .map(|l| l.iter().collect())
        .unwrap_or_default();
    assert_eq!(listed, unknown);
}

#[test]
fn change_request_without_an_alternate_is_420() {
    let mut s = plain();
    let req = request(&[Attribute::ChangeRequest {
        change_ip: true,
        change_port: false,
    }]);
    assert_error(
        &exchange(&mut s, P, &req).unwrap(),
        420,
        &[attr::CHANGE_REQUEST],
    );
    assert_eq!(s.stats().error_responses, 1);
}

#[test]
fn unknown_comprehension_required_attributes_are_420_and_optional_ones_ignored() {
    let mut s = rfc5780();
    let mut buf = [0u8; 128];
    let ty = MessageType::new(Class::Request, Method::BINDING);
    let mut b = MessageBuilder::new(&mut buf, ty, tid()).unwrap();
    b.add_raw(0x7ffe, &[1, 2, 3, 4]).unwrap();
    b.add_raw(0xc0de, &[1]).unwrap(); // comprehension-optional: ignored
    b.add_raw(0x0031, &[]).unwrap();
    b.add_raw(0x7ffe, &[5]).unwrap(); // listed once
    b.add_fingerprint().unwrap();
    let req = b.finish().to_vec();
    assert_error(&exchange(&mut s, P, &req).unwrap(), 420, &[0x7ffe, 0x0031]);

    let mut buf = [0u8; 64];
    let mut b = MessageBuilder::new(&mut buf, ty, tid()).unwrap();
    b.add_raw(0xc0de, &[1]).unwrap();
    let req = b.finish().to_vec();
    assert_eq!(
        parsed(&exchange(&mut s, P, &req).unwrap()).class(),
        Class::Success
    );
}

#[test]
fn padding_is_not_implemented_so_it_is_420() {
    let mut s = rfc5780();
    let req = request(&[Attribute::Padding(&[0; 8])]);
    assert_error(&exchange(&mut s, P, &req).unwrap(), 420, &[attr::PADDING]);
}

#[test]
fn other_methods_and_bad_values_are_400() {
    let mut s = rfc5780();
    let ty = MessageType::new(Class::Request, Method::ALLOCATE);
    let alloc = encode_to_vec(ty, tid(), &[], None, true).unwrap();
    assert_error(&exchange(&mut s, P, &alloc).unwrap(), 400, &[]);
    let zero_port = request(&[Attribute::ResponsePort(0)]);
    assert_error(&exchange(&mut s, P, &zero_port).unwrap(), 400, &[]);
    let mut buf = [0u8; 64];
    let mut b = MessageBuilder::new(
        &mut buf,
        MessageType::new(Class::Request, Method::BINDING),
        tid(),
    )
    .unwrap();
    b.add_raw(attr::CHANGE_REQUEST, &[0, 0]).unwrap(); // must be 4 bytes
    let short = b.finish().to_vec();
    assert_error(&exchange(&mut s, P, &short).unwrap(), 400, &[]);
}

#[test]
fn garbage_responses_indications_and_bad_fingerprints_are_dropped_and_counted() {
    let mut s = rfc5780();
    let mut bad_fp = request(&[]);
    let n = bad_fp.len();
    bad_fp[n - 1] ^= 0xff;
    let success = encode_to_vec(
        MessageType::new(Class::Success, Method::BINDING),
        tid(),
        &[],
        None,
        false,
    )
    .unwrap();
    let indication = encode_to_vec(
        MessageType::new(Class::Indication, Method::BINDING),
        tid(),
        &[],
        None,
        false,
    )
    .unwrap();
    for d in [
        &[][..],
        &[0u8; 3][..],
        &[0xffu8; 40][..],
        &bad_fp[..],
        &request(&[])[..19],
    ] {
        assert!(exchange(&mut s, P, d).is_none());
    }
    for d in [&success, &indication] {
        assert!(exchange(&mut s, P, d).is_none());
    }
    // Right bytes, wrong socket.
    assert!(exchange(&mut s, "198.51.100.9:3478", &request(&[])).is_none());
    assert!(exchange(&mut s, "198.51.100.1:9999", &request(&[])).is_none());
    let mut expected = ServerStats::default();
    expected.received = 9;
    expected.dropped_malformed = 5;
    expected.dropped_not_request = 2;
    expected.dropped_unknown_local = 2;
    assert_eq!(s.stats(), expected);
}

#[test]
fn random_and_mutated_input_never_panics() {
    let mut s = rfc5780();
    let base = request(&[
        Attribute::ChangeRequest {
            change_ip: true,
            change_port: true,
        },
        Attribute::ResponsePort(9),
    ]);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..20_000 {
        let mut d = base.clone();
        let flips = next() % 4 + 1;
        for _ in 0..flips {
            let i = (next() as usize) % d.len();
            d[i] = next() as u8;
        }
        if next() % 5 == 0 {
            d.truncate((next() as usize) % d.len());
        }
        s.handle_input(Instant::now(), a(P), a(CLIENT), &d);
        while s.poll_transmit().is_some() {}
    }
    let st = s.stats();
    assert_eq!(st.received, 20_000);
    assert_eq!(
        st.success_responses + st.error_responses + st.dropped_malformed + st.dropped_not_request,
        20_000
    );
}

#[test]
fn ipv6_server_answers_ipv6_clients() {
    let mut s = BindingServer::new(
        ServerConfig::new(a("[2001:db8::1]:3478")).with_alternate(a("[2001:db8::2]:3479")),
    )
    .unwrap();
    s.handle_input(
        Instant::now(),
        a("[2001:db8::1]:3478"),
        a("[2001:db8::99]:5000"),
        &request(&[]),
    );
    let t = s.poll_transmit().unwrap();
    let m = Message::parse(&t.bytes).unwrap();
    assert_eq!(
        m.xor_mapped_address().unwrap(),
        Some(a("[2001:db8::99]:5000"))
    );
    assert_eq!(m.other_address().unwrap(), Some(a("[2001:db8::2]:3479")));
}

#[test]
fn bad_configs_say_what_to_fix() {
    let err = |c: ServerConfig| BindingServer::new(c).unwrap_err();
    let e = err(ServerConfig::new(a(P)).with_alternate(a("[2001:db8::2]:3479")));
    assert!(matches!(e, ServerError::AlternateFamily { .. }), "{e}");
    let e = err(ServerConfig::new(a(P)).with_alternate(a("198.51.100.2:3478")));
    assert!(matches!(e, ServerError::AlternateNotDistinct { .. }));
    assert!(e.to_string().contains("both IP and port"));
    let e = err(ServerConfig::new(a(P)).with_alternate(a("198.51.100.1:4000")));
    assert!(matches!(e, ServerError::AlternateNotDistinct { .. }));
    let e = err(ServerConfig::new(a("0.0.0.0:3478")).with_alternate(a(ALT)));
    assert!(matches!(e, ServerError::AlternateUnspecified(_)));
    let mut long = ServerConfig::new(a(P));
    long.software = Some("x".repeat(200));
    assert!(matches!(err(long), ServerError::Software(_)));
    // No SOFTWARE at all is fine.
    let mut quiet = ServerConfig::new(a(P));
    quiet.software = None;
    let mut s = BindingServer::new(quiet).unwrap();
    let t = exchange(&mut s, P, &request(&[])).unwrap();
    assert_eq!(Message::parse(&t.bytes).unwrap().software().unwrap(), None);
}
