//! Property tests for the STUN codec: no input panics the parser, mutations of valid messages
//! parse or fail cleanly, and build -> parse round-trips arbitrary attribute sets.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use proptest::prelude::*;

use pinhole::stun::attr::{self, AddressFamily, AttrTypeList, Attribute, ErrorCode, Icmp};
use pinhole::stun::{Class, Message, MessageBuilder, MessageType, Method, TransactionId};

#[path = "support/stun_walk.rs"]
mod stun_walk;

fn walk(m: &Message<'_>) {
    stun_walk::walk(m, b"key");
}

fn seed_message() -> Vec<u8> {
    let mut buf = [0u8; 256];
    let typ = MessageType::new(Class::Request, Method::BINDING);
    let mut b = MessageBuilder::new(&mut buf, typ, TransactionId([7; 12])).unwrap();
    b.add_username("user:frag").unwrap();
    b.add(&Attribute::Priority(0x6e0001ff)).unwrap();
    b.add(&Attribute::IceControlling(42)).unwrap();
    b.add(&Attribute::UseCandidate).unwrap();
    b.add_xor_mapped_address("[2001:db8::1]:3478".parse().unwrap())
        .unwrap();
    b.add_message_integrity(b"key").unwrap();
    b.add_message_integrity_sha256(b"key").unwrap();
    b.add_fingerprint().unwrap();
    b.finish().to_vec()
}

#[derive(Clone, Debug)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    SetLength(u16),
    SetByte(usize, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        any::<u16>().prop_map(Mutation::SetLength),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
    ]
}

fn addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<u32>(), any::<u16>())
            .prop_map(|(a, p)| SocketAddr::new(IpAddr::V4(Ipv4Addr::from(a)), p)),
        (any::<u128>(), any::<u16>())
            .prop_map(|(a, p)| SocketAddr::new(IpAddr::V6(Ipv6Addr::from(a)), p)),
    ]
}

/// Owned inputs for one attribute; `make` borrows them.
type Spec = (u8, u64, String, Vec<u8>, SocketAddr);

fn spec() -> impl Strategy<Value = Spec> {
    (
        0u8..32,
        any::<u64>(),
        "\\PC{0,40}",
        proptest::collection::vec(any::<u8>(), 0..64),
        addr(),
    )
}

fn make<'a>(s: &'a Spec, types: &'a [u16]) -> Attribute<'a> {
    let (kind, n, text, bytes, a) = s;
    let fam = if n & 1 == 0 {
        AddressFamily::V4
    } else {
        AddressFamily::V6
    };
    let code = 300 + (*n % 400) as u16;
    match kind {
        0 => Attribute::MappedAddress(*a),
        1 => Attribute::XorMappedAddress(*a),
        2 => Attribute::Username(text),
        3 => Attribute::ErrorCode(ErrorCode::new(code, text)),
        4 => Attribute::Realm(text),
        5 => Attribute::Nonce(text),
        6 => Attribute::UnknownAttributes(AttrTypeList::Types(types)),
        7 => Attribute::Software(text),
        8 => Attribute::AlternateServer(*a),
        9 => Attribute::Priority(*n as u32),
        10 => Attribute::UseCandidate,
        11 => Attribute::IceControlled(*n),
        12 => Attribute::IceControlling(*n),
        13 => Attribute::ChangeRequest {
            change_ip: n & 1 != 0,
            change_port: n & 2 != 0,
        },
        14 => Attribute::ResponseOrigin(*a),
        15 => Attribute::OtherAddress(*a),
        16 => Attribute::ResponsePort(*n as u16),
        17 => Attribute::Padding(bytes),
        18 => Attribute::ChannelNumber(*n as u16),
        19 => Attribute::Lifetime(*n as u32),
        20 => Attribute::XorPeerAddress(*a),
        21 => Attribute::Data(bytes),
        22 => Attribute::XorRelayedAddress(*a),
        23 => Attribute::RequestedAddressFamily(fam),
        24 => Attribute::EvenPort(n & 1 != 0),
        25 => Attribute::RequestedTransport(*n as u8),
        26 => Attribute::DontFragment,
        27 => Attribute::ReservationToken(*n),
        28 => Attribute::AdditionalAddressFamily(fam),
        29 => Attribute::AddressErrorCode {
            family: fam,
            error: ErrorCode::new(code, text),
        },
        30 => Attribute::Icmp(Icmp {
            icmp_type: *n as u8,
            code: (*n >> 8) as u8,
            data: (*n >> 16) as u32,
        }),
        _ => Attribute::Unknown {
            typ: 0x4000 | (*n as u16 & 0x3fff),
            value: bytes,
        },
    }
}

proptest! {
    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(m) = Message::parse(&bytes) {
            walk(&m);
        }
    }

    #[test]
    fn parse_never_panics_on_framed_garbage(body in proptest::collection::vec(any::<u8>(), 0..150), typ in 0u16..0x4000) {
        // A valid header so the attribute walk is exercised, not just the header checks.
        let mut bytes = typ.to_be_bytes().to_vec();
        let len = body.len() & !3;
        bytes.extend_from_slice(&(len as u16).to_be_bytes());
        bytes.extend_from_slice(&0x2112_A442u32.to_be_bytes());
        bytes.extend_from_slice(&[3; 12]);
        bytes.extend_from_slice(&body[..len]);
        if let Ok(m) = Message::parse(&bytes) {
            walk(&m);
        }
    }

    #[test]
    fn mutated_messages_parse_or_fail_cleanly(muts in proptest::collection::vec(mutation(), 1..4)) {
        let mut m = seed_message();
        for mu in muts {
            match mu {
                Mutation::Flip(i, b) => if !m.is_empty() { let i = i % m.len(); m[i] ^= 1 << b; },
                Mutation::Truncate(n) => { let n = n % (m.len() + 1); m.truncate(n); }
                Mutation::SetLength(l) => if m.len() >= 4 { m[2..4].copy_from_slice(&l.to_be_bytes()); },
                Mutation::SetByte(i, b) => if !m.is_empty() { let i = i % m.len(); m[i] = b; },
            }
        }
        if let Ok(msg) = Message::parse(&m) {
            walk(&msg);
        }
    }

    #[test]
    fn build_parse_round_trip(
        specs in proptest::collection::vec(spec(), 0..12),
        types in proptest::collection::vec(any::<u16>(), 0..6),
        tid in any::<[u8; 12]>(),
        method in 0u16..0x1000,
        key in proptest::collection::vec(any::<u8>(), 0..40),
        pad in any::<u8>(),
        with_mi in any::<bool>(),
        with_fp in any::<bool>(),
    ) {
        let attrs: Vec<Attribute<'_>> = specs.iter().map(|s| make(s, &types)).collect();
        let typ = MessageType::new(Class::Indication, Method(method));
        let mut buf = vec![0u8; 8192];
        let mut b = MessageBuilder::new(&mut buf, typ, TransactionId(tid)).unwrap();
        b.padding_byte(pad);
        let mut added = Vec::new();
        for a in &attrs {
            // Values the RFC forbids (too long text) are refused as errors, never written.
            if b.add(a).is_ok() {
                added.push(*a);
            } else {
                prop_assert!(a.value_len().is_err());
            }
        }
        if with_mi { b.add_message_integrity(&key).unwrap(); }
        if with_fp { b.add_fingerprint().unwrap(); }
        let bytes = b.finish();
        let m = Message::parse(bytes).unwrap();
        prop_assert_eq!(m.message_type(), typ);
        prop_assert_eq!(m.transaction_id(), TransactionId(tid));
        let decoded: Vec<Attribute<'_>> = m
            .typed_attributes()
            .map(|a| a.unwrap())
            .filter(|a| !matches!(a, Attribute::MessageIntegrity(_) | Attribute::Fingerprint(_)))
            .collect();
        prop_assert_eq!(decoded.len(), added.len());
        for (d, a) in decoded.iter().zip(&added) {
            match (d, a) {
                (Attribute::UnknownAttributes(x), Attribute::UnknownAttributes(y)) => prop_assert!(x.iter().eq(y.iter())),
                _ => prop_assert_eq!(d, a),
            }
        }
        prop_assert_eq!(m.verify_integrity(&key).is_ok(), with_mi);
        prop_assert_eq!(m.verify_fingerprint().is_ok(), with_fp);
        let _ = attr::name(0);
    }
}
