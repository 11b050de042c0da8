//! RFC 5769 test vectors, byte for byte: parse + verify, and build the same bytes back.
//!
//! The vectors pad SOFTWARE and USERNAME with 0x20 (RFC 5769 errata: padding is "any value",
//! and MESSAGE-INTEGRITY covers it), so the encode tests set `padding_byte(0x20)`; §2.4 pads
//! with zeros, the builder's default.

use std::net::SocketAddr;

use pinhole::stun::attr::{self, Attribute};
use pinhole::stun::integrity::{IntegrityKey, PasswordAlgorithm};
use pinhole::stun::{
    Class, Message, MessageBuilder, MessageType, Method, StunError, TransactionId,
};

fn hex(s: &str) -> Vec<u8> {
    let d: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    d.chunks(2)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap())
        .collect()
}

const PASSWORD: &[u8] = b"VOkJxbRl1RmTxUk/WvJxBt";
const TID: [u8; 12] = [
    0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
];

const REQUEST: &str = "
    00 01 00 58 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
    80 22 00 10 53 54 55 4e 20 74 65 73 74 20 63 6c 69 65 6e 74
    00 24 00 04 6e 00 01 ff
    80 29 00 08 93 2f f9 b1 51 26 3b 36
    00 06 00 09 65 76 74 6a 3a 68 36 76 59 20 20 20
    00 08 00 14 9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2
    80 28 00 04 e5 7a 3b cf";

const IPV4_RESPONSE: &str = "
    01 01 00 3c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
    80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
    00 20 00 08 00 01 a1 47 e1 12 a6 43
    00 08 00 14 2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7
    80 28 00 04 c0 7d 4c 96";

const IPV6_RESPONSE: &str = "
    01 01 00 48 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
    80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
    00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9
    00 08 00 14 a3 82 95 4e 4b e6 7b f1 17 84 c9 7c 82 92 c2 75 bf e3 ed 41
    80 28 00 04 c8 fb 0b 4c";

const LONG_TERM_REQUEST: &str = "
    00 01 00 60 21 12 a4 42 78 ad 34 33 c6 ad 72 c0 29 da 41 2e
    00 06 00 12 e3 83 9e e3 83 88 e3 83 aa e3 83 83 e3 82 af e3 82 b9 00 00
    00 15 00 1c 66 2f 2f 34 39 39 6b 39 35 34 64 36 4f 4c 33 34 6f 4c 39 46 53 54 76 79 36 34 73 41
    00 14 00 0b 65 78 61 6d 70 6c 65 2e 6f 72 67 00
    00 08 00 14 f6 70 24 65 6d d6 4a 3e 02 b8 e0 71 2e 85 c9 a2 8c a8 96 66";

const USERNAME_2_4: &str = "\u{30de}\u{30c8}\u{30ea}\u{30c3}\u{30af}\u{30b9}";
const NONCE_2_4: &str = "f//499k954d6OL34oL9FSTvy64sA";

fn binding(class: Class) -> MessageType {
    MessageType::new(class, Method::BINDING)
}

#[test]
fn sample_request_verifies_and_decodes() {
    let bytes = hex(REQUEST);
    let m = Message::parse(&bytes).unwrap();
    assert_eq!(m.message_type(), binding(Class::Request));
    assert_eq!(m.transaction_id(), TransactionId(TID));
    assert_eq!(m.software().unwrap(), Some("STUN test client"));
    assert_eq!(m.priority().unwrap(), Some(0x6e0001ff));
    assert_eq!(m.ice_controlled().unwrap(), Some(0x932ff9b151263b36));
    assert_eq!(m.ice_controlling().unwrap(), None);
    assert_eq!(m.username().unwrap(), Some("evtj:h6vY"));
    m.verify_integrity(PASSWORD).unwrap();
    m.verify_integrity_key(&IntegrityKey::short_term("VOkJxbRl1RmTxUk/WvJxBt").unwrap())
        .unwrap();
    assert!(m
        .verify_integrity_key(&IntegrityKey::from_bytes(b"x"))
        .is_err());
    m.verify_fingerprint().unwrap();
    assert_eq!(
        m.verify_integrity(b"VOkJxbRl1RmTxUk/WvJxBu"),
        Err(StunError::IntegrityMismatch(attr::MESSAGE_INTEGRITY))
    );
    let types: Vec<u16> = m.attributes().map(|(t, _)| t).collect();
    assert_eq!(
        types,
        [
            attr::SOFTWARE,
            attr::PRIORITY,
            attr::ICE_CONTROLLED,
            attr::USERNAME,
            attr::MESSAGE_INTEGRITY,
            attr::FINGERPRINT
        ]
    );
    assert!(!m.has_unknown_comprehension_required());
}

#[test]
fn sample_request_encodes_byte_for_byte() {
    let mut buf = [0u8; 256];
    let mut b = MessageBuilder::new(&mut buf, binding(Class::Request), TransactionId(TID)).unwrap();
    b.padding_byte(0x20);
    b.add(&Attribute::Software("STUN test client")).unwrap();
    b.add(&Attribute::Priority(0x6e0001ff)).unwrap();
    b.add(&Attribute::IceControlled(0x932ff9b151263b36))
        .unwrap();
    b.add(&Attribute::Username("evtj:h6vY")).unwrap();
    b.add_message_integrity_key(&IntegrityKey::from_bytes(PASSWORD))
        .unwrap();
    b.add_fingerprint().unwrap();
    assert_eq!(b.finish(), &hex(REQUEST)[..]);
}

fn check_response(vector: &str, addr: &str) {
    let bytes = hex(vector);
    let addr: SocketAddr = addr.parse().unwrap();
    let m = Message::parse(&bytes).unwrap();
    assert_eq!(m.message_type(), binding(Class::Success));
    assert_eq!(m.software().unwrap(), Some("test vector"));
    assert_eq!(m.xor_mapped_address().unwrap(), Some(addr));
    assert_eq!(m.mapped_address().unwrap(), None);
    m.verify_integrity(PASSWORD).unwrap();
    m.verify_fingerprint().unwrap();

    let mut buf = [0u8; 256];
    let mut b = MessageBuilder::new(&mut buf, binding(Class::Success), TransactionId(TID)).unwrap();
    b.padding_byte(0x20).add_software("test vector").unwrap();
    b.add_xor_mapped_address(addr).unwrap();
    b.add_message_integrity(PASSWORD)
        .unwrap()
        .add_fingerprint()
        .unwrap();
    assert_eq!(b.finish(), &bytes[..]);
}

#[test]
fn sample_ipv4_response_verifies_decodes_and_encodes() {
    check_response(IPV4_RESPONSE, "192.0.2.1:32853");
}

#[test]
fn sample_ipv6_response_verifies_decodes_and_encodes() {
    check_response(
        IPV6_RESPONSE,
        "[2001:db8:1234:5678:11:2233:4455:6677]:32853",
    );
}

/// §2.4: the password "TheMa\u{aa}tr\u{2168}" is given after SASLprep ("TheMatrIX"); our
/// OpaqueString does not do NFKC (see `integrity` docs).
fn long_term_key() -> IntegrityKey {
    IntegrityKey::long_term(
        PasswordAlgorithm::Md5,
        USERNAME_2_4,
        "example.org",
        "TheMatrIX",
    )
    .unwrap()
}

#[test]
fn long_term_request_verifies_and_decodes() {
    let bytes = hex(LONG_TERM_REQUEST);
    let m = Message::parse(&bytes).unwrap();
    assert_eq!(m.message_type(), binding(Class::Request));
    assert_eq!(m.username().unwrap(), Some(USERNAME_2_4));
    assert_eq!(m.nonce().unwrap(), Some(NONCE_2_4));
    assert_eq!(m.realm().unwrap(), Some("example.org"));
    assert!(!m.has_fingerprint());
    assert_eq!(
        m.verify_fingerprint(),
        Err(StunError::MissingAttribute(attr::FINGERPRINT))
    );
    m.verify_integrity(long_term_key().as_bytes()).unwrap();
    let wrong = IntegrityKey::long_term(
        PasswordAlgorithm::Md5,
        USERNAME_2_4,
        "example.org",
        "thematrix",
    )
    .unwrap();
    assert!(m.verify_integrity(wrong.as_bytes()).is_err());
}

#[test]
fn long_term_request_encodes_byte_for_byte() {
    let tid = TransactionId([
        0x78, 0xad, 0x34, 0x33, 0xc6, 0xad, 0x72, 0xc0, 0x29, 0xda, 0x41, 0x2e,
    ]);
    let key = long_term_key();
    let bytes = pinhole::stun::encode_to_vec(
        binding(Class::Request),
        tid,
        &[
            Attribute::Username(USERNAME_2_4),
            Attribute::Nonce(NONCE_2_4),
            Attribute::Realm("example.org"),
        ],
        Some(key.as_bytes()),
        false,
    )
    .unwrap();
    assert_eq!(bytes, hex(LONG_TERM_REQUEST));
}

#[test]
fn every_single_bit_flip_of_the_request_is_caught() {
    let bytes = hex(REQUEST);
    for i in 0..bytes.len() * 8 {
        let mut b = bytes.clone();
        b[i / 8] ^= 1 << (i % 8);
        if let Ok(m) = Message::parse(&b) {
            let ok = m.verify_integrity(PASSWORD).is_ok() && m.verify_fingerprint().is_ok();
            // Padding bytes are covered by MESSAGE-INTEGRITY too, so no flip survives both.
            assert!(!ok, "bit {i} flip survived both integrity checks");
        }
    }
}
