//! Per-attribute unit tests: round trips through the builder and parser, IPv4/IPv6, boundary
//! lengths, and malformed values.

use std::net::SocketAddr;

use super::*;
use crate::stun::{Class, Message, MessageBuilder, MessageType, Method, StunError, TransactionId};

const TID: TransactionId = TransactionId([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);

fn round_trip(a: Attribute<'_>) {
    let mut buf = [0u8; 2048];
    let mut b = MessageBuilder::new(
        &mut buf,
        MessageType::new(Class::Request, Method::ALLOCATE),
        TID,
    )
    .unwrap();
    b.add(&a).unwrap();
    let bytes = b.finish();
    assert_eq!(bytes.len() % 4, 0);
    let m = Message::parse(bytes).unwrap();
    let got = m.attribute(a.typ()).unwrap().unwrap();
    match (a, got) {
        // Lists decode to their wire form; compare element-wise.
        (Attribute::UnknownAttributes(x), Attribute::UnknownAttributes(y)) => {
            assert!(x.iter().eq(y.iter()))
        }
        (Attribute::PasswordAlgorithms(x), Attribute::PasswordAlgorithms(y)) => {
            assert!(x.iter().eq(y.iter()))
        }
        (a, got) => assert_eq!(a, got),
    }
}

fn v4() -> SocketAddr {
    "192.0.2.1:32853".parse().unwrap()
}
fn v6() -> SocketAddr {
    "[2001:db8::1]:65535".parse().unwrap()
}

#[test]
fn address_attributes_round_trip_v4_and_v6() {
    for a in [
        v4(),
        v6(),
        "0.0.0.0:0".parse().unwrap(),
        "[::ffff:1.2.3.4]:1".parse().unwrap(),
    ] {
        round_trip(Attribute::MappedAddress(a));
        round_trip(Attribute::XorMappedAddress(a));
        round_trip(Attribute::AlternateServer(a));
        round_trip(Attribute::ResponseOrigin(a));
        round_trip(Attribute::OtherAddress(a));
        round_trip(Attribute::XorPeerAddress(a));
        round_trip(Attribute::XorRelayedAddress(a));
    }
}

#[test]
fn xor_address_really_is_xored() {
    let mut out = [0u8; 20];
    address::encode(&v6(), Some(&TID), &mut out);
    assert_eq!(out[1], FAMILY_IPV6);
    assert_eq!(u16::from_be_bytes([out[2], out[3]]), 65535 ^ 0x2112);
    assert_eq!(
        out[4..8],
        [0x20 ^ 0x21, 0x01 ^ 0x12, 0x0d ^ 0xa4, 0xb8 ^ 0x42]
    );
    assert_eq!(out[19], 1 ^ 12);
}

#[test]
fn malformed_addresses_are_errors() {
    let tid = TID;
    assert!(dec_address(MAPPED_ADDRESS, &[0, 1, 0, 0, 1, 2, 3], &tid).is_err());
    assert!(dec_address(MAPPED_ADDRESS, &[0, 3, 0, 0, 1, 2, 3, 4], &tid).is_err());
    assert!(dec_address(MAPPED_ADDRESS, &[0, 2, 0, 0, 1, 2, 3, 4], &tid).is_err());
    assert!(dec_address(XOR_MAPPED_ADDRESS, &[0, 1], &tid).is_err());
    assert!(dec_address(MAPPED_ADDRESS, &[0, 1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8], &tid).is_err());
}

#[test]
fn text_attributes_round_trip_and_enforce_limits() {
    round_trip(Attribute::Username(""));
    round_trip(Attribute::Username("evtj:h6vY"));
    let max_user = "u".repeat(MAX_USERNAME_BYTES);
    round_trip(Attribute::Username(&max_user));
    let long_user = "u".repeat(MAX_USERNAME_BYTES + 1);
    assert!(matches!(
        Attribute::Username(&long_user).value_len(),
        Err(StunError::BadAttribute { typ: USERNAME, .. })
    ));

    let max = "r".repeat(MAX_TEXT_CHARS);
    let over = "r".repeat(MAX_TEXT_CHARS + 1);
    // 127 three-byte characters: 381 bytes, still fewer than 128 characters.
    let wide = "\u{30de}".repeat(MAX_TEXT_CHARS);
    let wide_over = "\u{30de}".repeat(MAX_TEXT_CHARS + 1);
    for make in [Attribute::Realm, Attribute::Nonce, Attribute::Software] {
        round_trip(make(&max));
        round_trip(make(&wide));
        round_trip(make("x"));
        assert!(make(&over).value_len().is_err());
        assert!(make(&wide_over).value_len().is_err());
    }
    assert!(dec_text(REALM, over.as_bytes()).is_err());
    assert!(dec_text(REALM, &[0xff, 0xfe]).is_err());
    round_trip(Attribute::AlternateDomain("turn.example.org"));
    assert!(Attribute::AlternateDomain("b\u{fc}cher.example")
        .value_len()
        .is_err());
    assert!(Attribute::AlternateDomain(&"a".repeat(256))
        .value_len()
        .is_err());
}

#[test]
fn error_code_round_trip_classes_and_limits() {
    for e in [
        ErrorCode::TRY_ALTERNATE,
        ErrorCode::BAD_REQUEST,
        ErrorCode::UNAUTHENTICATED,
        ErrorCode::FORBIDDEN,
        ErrorCode::UNKNOWN_ATTRIBUTE,
        ErrorCode::ALLOCATION_MISMATCH,
        ErrorCode::STALE_NONCE,
        ErrorCode::ADDRESS_FAMILY_NOT_SUPPORTED,
        ErrorCode::WRONG_CREDENTIALS,
        ErrorCode::UNSUPPORTED_TRANSPORT_PROTOCOL,
        ErrorCode::PEER_ADDRESS_FAMILY_MISMATCH,
        ErrorCode::CONNECTION_ALREADY_EXISTS,
        ErrorCode::CONNECTION_TIMEOUT_OR_FAILURE,
        ErrorCode::ALLOCATION_QUOTA_REACHED,
        ErrorCode::ROLE_CONFLICT,
        ErrorCode::SERVER_ERROR,
        ErrorCode::INSUFFICIENT_CAPACITY,
        ErrorCode::new(699, ""),
    ] {
        round_trip(Attribute::ErrorCode(e));
        round_trip(Attribute::AddressErrorCode {
            family: AddressFamily::V6,
            error: e,
        });
    }
    assert_eq!(ErrorCode::STALE_NONCE.class(), 4);
    assert_eq!(ErrorCode::STALE_NONCE.number(), 38);
    assert!(Attribute::ErrorCode(ErrorCode::new(299, "x"))
        .value_len()
        .is_err());
    assert!(Attribute::ErrorCode(ErrorCode::new(700, "x"))
        .value_len()
        .is_err());
    let long = "e".repeat(128);
    assert!(Attribute::ErrorCode(ErrorCode::new(400, &long))
        .value_len()
        .is_err());
    // Class 2 and number 100 on the wire are rejected.
    assert!(ErrorCode::decode(ERROR_CODE, &[0, 0, 2, 0]).is_err());
    assert!(ErrorCode::decode(ERROR_CODE, &[0, 0, 4, 100]).is_err());
    assert!(ErrorCode::decode(ERROR_CODE, &[0, 0, 4]).is_err());
    // Reserved bits above the class are ignored.
    assert_eq!(
        ErrorCode::decode(ERROR_CODE, &[0xff, 0xff, 0xfc, 1])
            .unwrap()
            .code,
        401
    );
}

#[test]
fn numeric_and_flag_attributes_round_trip() {
    round_trip(Attribute::Priority(0));
    round_trip(Attribute::Priority(u32::MAX));
    round_trip(Attribute::UseCandidate);
    round_trip(Attribute::IceControlled(u64::MAX));
    round_trip(Attribute::IceControlling(0x932ff9b151263b36));
    for (change_ip, change_port) in [(false, false), (true, false), (false, true), (true, true)] {
        round_trip(Attribute::ChangeRequest {
            change_ip,
            change_port,
        });
    }
    round_trip(Attribute::ResponsePort(3478));
    round_trip(Attribute::Padding(&[]));
    round_trip(Attribute::Padding(&[0xaa; 7]));
    round_trip(Attribute::ChannelNumber(0x4000));
    round_trip(Attribute::Lifetime(600));
    round_trip(Attribute::Data(&[]));
    round_trip(Attribute::Data(b"hello"));
    round_trip(Attribute::RequestedAddressFamily(AddressFamily::V4));
    round_trip(Attribute::AdditionalAddressFamily(AddressFamily::V6));
    round_trip(Attribute::EvenPort(true));
    round_trip(Attribute::EvenPort(false));
    round_trip(Attribute::RequestedTransport(TRANSPORT_UDP));
    round_trip(Attribute::DontFragment);
    round_trip(Attribute::ReservationToken(0x0102030405060708));
    round_trip(Attribute::Icmp(Icmp {
        icmp_type: 3,
        code: 4,
        data: 1400,
    }));
    round_trip(Attribute::UserHash(&[7; 32]));
    round_trip(Attribute::Unknown {
        typ: 0x7fff,
        value: b"abc",
    });
    round_trip(Attribute::Unknown {
        typ: 0xc001,
        value: &[],
    });
}

#[test]
fn wrong_fixed_lengths_are_errors() {
    let tid = TID;
    for typ in [
        PRIORITY,
        LIFETIME,
        CHANNEL_NUMBER,
        RESPONSE_PORT,
        CHANGE_REQUEST,
        REQUESTED_TRANSPORT,
    ] {
        assert!(
            Attribute::decode(typ, &[0; 3], &tid).is_err(),
            "{}",
            name(typ)
        );
        assert!(
            Attribute::decode(typ, &[0; 5], &tid).is_err(),
            "{}",
            name(typ)
        );
    }
    for typ in [ICE_CONTROLLED, ICE_CONTROLLING, RESERVATION_TOKEN, ICMP] {
        assert!(
            Attribute::decode(typ, &[0; 4], &tid).is_err(),
            "{}",
            name(typ)
        );
    }
    assert!(Attribute::decode(USE_CANDIDATE, &[0], &tid).is_err());
    assert!(Attribute::decode(DONT_FRAGMENT, &[0; 4], &tid).is_err());
    assert!(Attribute::decode(EVEN_PORT, &[0; 4], &tid).is_err());
    assert!(Attribute::decode(USERHASH, &[0; 31], &tid).is_err());
    assert!(Attribute::decode(MESSAGE_INTEGRITY, &[0; 19], &tid).is_err());
    assert!(Attribute::decode(FINGERPRINT, &[0; 8], &tid).is_err());
    assert!(Attribute::decode(REQUESTED_ADDRESS_FAMILY, &[3, 0, 0, 0], &tid).is_err());
    assert!(Attribute::decode(UNKNOWN_ATTRIBUTES, &[0; 3], &tid).is_err());
    for n in [12, 15, 36] {
        assert!(Attribute::decode(MESSAGE_INTEGRITY_SHA256, &vec![0; n], &tid).is_err());
    }
    for n in [16, 20, 28, 32] {
        assert!(Attribute::decode(MESSAGE_INTEGRITY_SHA256, &vec![0; n], &tid).is_ok());
    }
}

#[test]
fn lists_round_trip() {
    round_trip(Attribute::UnknownAttributes(AttrTypeList::Types(&[])));
    round_trip(Attribute::UnknownAttributes(AttrTypeList::Types(&[0x7000])));
    round_trip(Attribute::UnknownAttributes(AttrTypeList::Types(&[
        0x7000, 0x0042, 0x1234,
    ])));
    let entries = [
        PasswordAlgorithmParam {
            algorithm: 2,
            params: &[],
        },
        PasswordAlgorithmParam {
            algorithm: 1,
            params: &[],
        },
        PasswordAlgorithmParam {
            algorithm: 9,
            params: &[1, 2, 3],
        },
    ];
    round_trip(Attribute::PasswordAlgorithms(
        PasswordAlgorithmList::Entries(&entries),
    ));
    round_trip(Attribute::PasswordAlgorithm(entries[0]));
    round_trip(Attribute::PasswordAlgorithm(entries[2]));
    // An entry whose parameter length overruns the value.
    assert!(Attribute::decode(PASSWORD_ALGORITHMS, &[0, 1, 0, 8, 0, 0], &TID).is_err());
    assert!(Attribute::decode(PASSWORD_ALGORITHM, &[0, 1, 0, 0, 0, 2, 0, 0], &TID).is_err());
}

#[test]
fn names_and_ranges() {
    assert_eq!(name(XOR_MAPPED_ADDRESS), "XOR-MAPPED-ADDRESS");
    assert_eq!(name(0x7777), "unknown");
    assert!(is_known(ICMP) && !is_known(0x7777));
    assert!(is_comprehension_required(0x7fff) && !is_comprehension_required(0x8000));
}
