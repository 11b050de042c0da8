//! [`TurnClient`] authentication against a scripted fake server: RFC 8489 password
//! algorithms and security-feature bits, USERHASH, integrity downgrades, unknown
//! comprehension-required attributes, unprotected errors.

use std::time::Instant;

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::client_test_support::*;
use super::*;
use crate::stun::attr::{self, PasswordAlgorithmList, PasswordAlgorithmParam};
use crate::stun::{
    Attribute, Class, Credentials, ErrorCode, IntegrityKey, Message, MessageBuilder, MessageType,
    Method, PasswordAlgorithm,
};

#[test]
fn sha256_is_used_when_offered() {
    let now = Instant::now();
    let mut c = client(now);
    let r1 = one(&mut c);
    let algs = [
        PasswordAlgorithmParam {
            algorithm: 1,
            params: &[],
        },
        PasswordAlgorithmParam {
            algorithm: 2,
            params: &[],
        },
    ];
    // Nonce cookie with the "password algorithms" feature bit (bit 0: "AAAB" = 0x000001).
    let nonce = "obMatJos2AAABxyz";
    let e = respond(
        &r1,
        Class::Error,
        &[
            Attribute::ErrorCode(ErrorCode::UNAUTHENTICATED),
            Attribute::Realm(REALM),
            Attribute::Nonce(nonce),
            Attribute::PasswordAlgorithms(PasswordAlgorithmList::Entries(&algs)),
        ],
        None,
    );
    c.handle_input(now, &e);
    let r2 = one(&mut c);
    let m = Message::parse(&r2).unwrap();
    let key =
        IntegrityKey::long_term(PasswordAlgorithm::Sha256, "pinhole", REALM, "secret").unwrap();
    assert!(!m.has_integrity());
    m.verify_integrity_sha256(key.as_bytes()).unwrap();
    assert_eq!(m.password_algorithm().unwrap().unwrap().algorithm, 2);
    assert!(m.get(attr::PASSWORD_ALGORITHMS).is_some());
    assert_eq!(c.password_algorithm(), PasswordAlgorithm::Sha256);
    // The success response is signed with MESSAGE-INTEGRITY-SHA256.
    let mut buf = vec![0u8; 512];
    let mut b = MessageBuilder::new(
        &mut buf,
        MessageType::new(Class::Success, Method::ALLOCATE),
        m.transaction_id(),
    )
    .unwrap();
    b.add(&Attribute::XorRelayedAddress(relayed())).unwrap();
    b.add_message_integrity_sha256(key.as_bytes()).unwrap();
    let ok = b.finish().to_vec();
    c.handle_input(now, &ok);
    assert!(matches!(events(&mut c)[..], [Event::Allocated { .. }]));
}

#[test]
fn feature_cookie_without_algorithms_is_refused() {
    // Bit 0 ("AAAB") announces PASSWORD-ALGORITHMS; the 401 has none: the list was
    // stripped (bid-down attack). RFC 8489 §9.2.5: do not retry.
    let now = Instant::now();
    let mut c = client(now);
    let r1 = one(&mut c);
    c.handle_input(
        now,
        &challenge(&r1, ErrorCode::UNAUTHENTICATED, "obMatJos2AAABxxxx"),
    );
    let ev = events(&mut c);
    let [Event::Failed(TurnError::Protocol { what, .. })] = &ev[..] else {
        panic!("{ev:?}")
    };
    assert!(what.contains("downgrade"), "{what}");
    assert!(transmits(&mut c).is_empty(), "no retry");
    assert_eq!(c.state(), TurnState::Failed);
}

#[test]
fn reserved_feature_bits_do_not_announce_password_algorithms() {
    // "gAAA" is bit 23 (reserved), not "password algorithms": a plain MD5 retry.
    let now = Instant::now();
    let mut c = client(now);
    let r1 = one(&mut c);
    c.handle_input(
        now,
        &challenge(&r1, ErrorCode::UNAUTHENTICATED, "obMatJos2gAAAxyz"),
    );
    let m = one(&mut c);
    let m = Message::parse(&m).unwrap();
    assert_eq!(m.username().unwrap(), Some("pinhole"));
    assert!(m.userhash().unwrap().is_none());
    m.verify_integrity(md5_key().as_bytes()).unwrap();
}

#[test]
fn other_responses_with_stripped_algorithms_are_ignored() {
    // §9.2.5: any response but 401/438 whose nonce cookie announces PASSWORD-ALGORITHMS
    // without the attribute is ignored (the transaction goes on).
    let t0 = Instant::now();
    let mut c = allocated(TransportKind::Udp, t0);
    c.create_permission(t0, peer().ip()).unwrap();
    let r = one(&mut c);
    let forbidden = respond(
        &r,
        Class::Error,
        &[
            Attribute::ErrorCode(ErrorCode::FORBIDDEN),
            Attribute::Nonce("obMatJos2AAABxxxx"),
        ],
        Some(&md5_key()),
    );
    c.handle_input(t0, &forbidden);
    assert!(events(&mut c).is_empty());
    assert_eq!(c.stats().dropped, 1);
    c.handle_input(t0, &ok_signed(&r));
    assert_eq!(
        events(&mut c),
        vec![Event::PermissionCreated { peer: peer().ip() }]
    );
}

#[test]
fn rfc8489_b1_cookie_means_username_anonymity_and_userhash() {
    // RFC 8489 Appendix B.1: nonce cookie "AAAC" (bit 1, username anonymity); the
    // request carries USERHASH 4a3cf38f... instead of USERNAME.
    let now = Instant::now();
    let creds = Credentials::new(
        "\u{30DE}\u{30C8}\u{30EA}\u{30C3}\u{30AF}\u{30B9}",
        "TheMatrIX",
    );
    let cfg = TurnConfig::new(server(), TransportKind::Udp, creds.clone());
    let mut c = TurnClient::new(now, cfg, &mut StdRng::seed_from_u64(7));
    let r1 = one(&mut c);
    let nonce = "obMatJos2AAACf//499k954d6OL34oL9FSTvy64sA";
    let e = respond(
        &r1,
        Class::Error,
        &[
            Attribute::ErrorCode(ErrorCode::UNAUTHENTICATED),
            Attribute::Realm("example.org"),
            Attribute::Nonce(nonce),
        ],
        None,
    );
    c.handle_input(now, &e);
    let r2 = one(&mut c);
    let m = Message::parse(&r2).unwrap();
    assert!(m.username().unwrap().is_none(), "USERNAME must not be sent");
    let b1: [u8; 32] = [
        0x4a, 0x3c, 0xf3, 0x8f, 0xef, 0x69, 0x92, 0xbd, 0xa9, 0x52, 0xc6, 0x78, 0x04, 0x17, 0xda,
        0x0f, 0x24, 0x81, 0x94, 0x15, 0x56, 0x9e, 0x60, 0xb2, 0x05, 0xc4, 0x6e, 0x41, 0x40, 0x7f,
        0x17, 0x04,
    ];
    assert_eq!(m.userhash().unwrap(), Some(&b1));
    assert_eq!(m.realm().unwrap(), Some("example.org"));
    assert_eq!(m.nonce().unwrap(), Some(nonce));
    // No PASSWORD-ALGORITHMS in the challenge: MD5 key, MESSAGE-INTEGRITY.
    let key = creds
        .long_term_key(PasswordAlgorithm::Md5, "example.org")
        .unwrap();
    m.verify_integrity_key(&key).unwrap();
    c.handle_input(now, &alloc_ok_with(&r2, &key));
    assert!(matches!(events(&mut c)[..], [Event::Allocated { .. }]));
}

fn alloc_ok_with(req: &[u8], key: &IntegrityKey) -> Vec<u8> {
    respond(
        req,
        Class::Success,
        &[Attribute::XorRelayedAddress(relayed())],
        Some(key),
    )
}

/// A response signed with MESSAGE-INTEGRITY-SHA256 only, plus raw extra attributes.
fn respond_sha256(
    req: &[u8],
    class: Class,
    attrs: &[Attribute<'_>],
    raw: &[(u16, &[u8])],
    key: Option<&IntegrityKey>,
) -> Vec<u8> {
    let m = Message::parse(req).unwrap();
    let mut buf = vec![0u8; 2048];
    let mut b = MessageBuilder::new(
        &mut buf,
        MessageType::new(class, m.method()),
        m.transaction_id(),
    )
    .unwrap();
    for a in attrs {
        b.add(a).unwrap();
    }
    for (t, v) in raw {
        b.add_raw(*t, v).unwrap();
    }
    if let Some(k) = key {
        b.add_message_integrity_sha256(k.as_bytes()).unwrap();
    }
    b.finish().to_vec()
}

fn sha256_key() -> IntegrityKey {
    IntegrityKey::long_term(PasswordAlgorithm::Sha256, "pinhole", REALM, "secret").unwrap()
}

/// Answers the first Allocate with a 401 offering `algs` and returns the retry.
fn challenged_with(
    c: &mut TurnClient,
    now: Instant,
    algs: &[PasswordAlgorithmParam<'_>],
) -> Vec<u8> {
    let r1 = one(c);
    let e = respond(
        &r1,
        Class::Error,
        &[
            Attribute::ErrorCode(ErrorCode::UNAUTHENTICATED),
            Attribute::Realm(REALM),
            Attribute::Nonce("obMatJos2AAABxyz"),
            Attribute::PasswordAlgorithms(PasswordAlgorithmList::Entries(algs)),
        ],
        None,
    );
    c.handle_input(now, &e);
    one(c)
}

const SHA256_ONLY: [PasswordAlgorithmParam<'static>; 1] = [PasswordAlgorithmParam {
    algorithm: 2,
    params: &[],
}];
const MD5_ONLY: [PasswordAlgorithmParam<'static>; 1] = [PasswordAlgorithmParam {
    algorithm: 1,
    params: &[],
}];

#[test]
fn sha256_request_refuses_a_response_with_only_message_integrity() {
    // The request carried MESSAGE-INTEGRITY-SHA256; a response with only the weaker
    // MESSAGE-INTEGRITY (even with the right key) is a downgrade: discarded, counted.
    let now = Instant::now();
    let mut c = client(now);
    let r2 = challenged_with(&mut c, now, &SHA256_ONLY);
    let m = Message::parse(&r2).unwrap();
    assert!(m.has_integrity_sha256() && !m.has_integrity());
    c.handle_input(now, &alloc_ok_with(&r2, &sha256_key()));
    assert_eq!(c.stats().integrity_failures, 1);
    assert_eq!(c.state(), TurnState::Allocating);
    assert!(events(&mut c).is_empty());
    // An error response with only MESSAGE-INTEGRITY is refused the same way.
    let e = respond(
        &r2,
        Class::Error,
        &[Attribute::ErrorCode(ErrorCode::FORBIDDEN)],
        Some(&sha256_key()),
    );
    c.handle_input(now, &e);
    assert_eq!(c.stats().integrity_failures, 2);
    assert_eq!(c.state(), TurnState::Allocating);
    let ok = respond_sha256(
        &r2,
        Class::Success,
        &[Attribute::XorRelayedAddress(relayed())],
        &[],
        Some(&sha256_key()),
    );
    c.handle_input(now, &ok);
    assert!(matches!(events(&mut c)[..], [Event::Allocated { .. }]));
}

#[test]
fn message_integrity_request_refuses_a_sha256_only_response() {
    let now = Instant::now();
    let mut c = client(now);
    let r1 = one(&mut c);
    c.handle_input(now, &challenge(&r1, ErrorCode::UNAUTHENTICATED, "n1"));
    let r2 = one(&mut c);
    let ok = respond_sha256(
        &r2,
        Class::Success,
        &[Attribute::XorRelayedAddress(relayed())],
        &[],
        Some(&md5_key()),
    );
    c.handle_input(now, &ok);
    assert_eq!(c.stats().integrity_failures, 1);
    assert_eq!(c.state(), TurnState::Allocating);
}

#[test]
fn md5_picked_from_password_algorithms_still_signs_with_sha256_integrity() {
    // RFC 8489 §9.2.5: once PASSWORD-ALGORITHMS was received, requests use
    // MESSAGE-INTEGRITY-SHA256 only (with the MD5 key), and so do the responses.
    let now = Instant::now();
    let mut c = client(now);
    let r2 = challenged_with(&mut c, now, &MD5_ONLY);
    let m = Message::parse(&r2).unwrap();
    assert!(m.has_integrity_sha256() && !m.has_integrity());
    m.verify_integrity_sha256(md5_key().as_bytes()).unwrap();
    assert_eq!(m.password_algorithm().unwrap().unwrap().algorithm, 1);
    let ok = respond_sha256(
        &r2,
        Class::Success,
        &[Attribute::XorRelayedAddress(relayed())],
        &[],
        Some(&md5_key()),
    );
    c.handle_input(now, &ok);
    assert!(matches!(events(&mut c)[..], [Event::Allocated { .. }]));
}

#[test]
fn unknown_comprehension_required_attributes_fail_the_transaction_at_once() {
    // RFC 8489 §6.3.4 (error) and §6.3.3 (success): the transaction has failed.
    let now = Instant::now();
    let mut c = client(now);
    let r1 = one(&mut c);
    let e = respond_sha256(
        &r1,
        Class::Error,
        &[Attribute::ErrorCode(ErrorCode::new(500, "Server Error"))],
        &[(0x7ff0, b"?"), (0x0777, b"")],
        None,
    );
    c.handle_input(now, &e);
    let ev = events(&mut c);
    let [Event::Failed(TurnError::Protocol { what, .. })] = &ev[..] else {
        panic!("{ev:?}")
    };
    assert!(what.contains("0x7ff0") && what.contains("0x0777"), "{what}");
    assert!(what.contains("Allocate"), "{what}");
    // On an allocation: an error and a success response to CreatePermission.
    let t0 = Instant::now();
    let mut c = allocated(TransportKind::Udp, t0);
    c.create_permission(t0, peer().ip()).unwrap();
    let r = one(&mut c);
    let m = Message::parse(&r).unwrap();
    let mut buf = vec![0u8; 512];
    let mut b = MessageBuilder::new(
        &mut buf,
        MessageType::new(Class::Success, m.method()),
        m.transaction_id(),
    )
    .unwrap();
    b.add_raw(0x7ffe, b"x").unwrap();
    b.add_message_integrity_key(&md5_key()).unwrap();
    c.handle_input(t0, b.finish());
    let ev = events(&mut c);
    let [Event::PermissionFailed {
        error: TurnError::Protocol { what, .. },
        ..
    }] = &ev[..]
    else {
        panic!("{ev:?}")
    };
    assert!(
        what.contains("success") && what.contains("0x7ffe"),
        "{what}"
    );
    assert!(!c.permission_installed(peer().ip()));
    assert_eq!(c.state(), TurnState::Allocated);
    // Comprehension-optional unknown attributes (0x8000-0xFFFF) are fine.
    c.create_permission(t0, peer().ip()).unwrap();
    let r = one(&mut c);
    let m = Message::parse(&r).unwrap();
    let mut buf = vec![0u8; 512];
    let mut b = MessageBuilder::new(
        &mut buf,
        MessageType::new(Class::Success, m.method()),
        m.transaction_id(),
    )
    .unwrap();
    b.add_raw(0xfff0, b"x").unwrap();
    b.add_message_integrity_key(&md5_key()).unwrap();
    c.handle_input(t0, b.finish());
    assert!(c.permission_installed(peer().ip()));
    // An indication with an unknown comprehension-required attribute is dropped.
    let ind = crate::stun::encode_to_vec(
        MessageType::new(Class::Indication, Method::DATA),
        crate::stun::TransactionId([1; 12]),
        &[Attribute::XorPeerAddress(peer()), Attribute::Data(b"in")],
        None,
        false,
    )
    .unwrap();
    let before = c.stats().malformed;
    let mut with_unknown = Message::parse(&ind).unwrap().as_bytes().to_vec();
    with_unknown.extend_from_slice(&[0x7f, 0xf0, 0x00, 0x00]);
    let len = (with_unknown.len() - 20) as u16;
    with_unknown[2..4].copy_from_slice(&len.to_be_bytes());
    c.handle_input(t0, &with_unknown);
    assert_eq!(c.stats().malformed, before + 1);
    assert!(events(&mut c)
        .iter()
        .all(|e| !matches!(e, Event::Data { .. })));
}

#[test]
fn an_unprotected_400_to_an_authenticated_request_is_ignored() {
    // RFC 8489 §9.2.5: discarded as if never received; retransmissions continue.
    let t0 = Instant::now();
    let mut c = allocated(TransportKind::Udp, t0);
    c.create_permission(t0, peer().ip()).unwrap();
    let r = one(&mut c);
    let forged = respond(
        &r,
        Class::Error,
        &[Attribute::ErrorCode(ErrorCode::BAD_REQUEST)],
        None,
    );
    c.handle_input(t0, &forged);
    assert!(events(&mut c).is_empty(), "the forged 400 changed nothing");
    assert_eq!(c.stats().integrity_failures, 1);
    let t1 = c.poll_timeout().unwrap();
    c.handle_timeout(t1);
    let again = one(&mut c);
    assert_eq!(
        Message::parse(&again).unwrap().transaction_id(),
        Message::parse(&r).unwrap().transaction_id(),
        "the request is retransmitted"
    );
    let real = respond(&again, Class::Success, &[], Some(&md5_key()));
    c.handle_input(t1, &real);
    assert!(matches!(
        &events(&mut c)[..],
        [Event::PermissionCreated { .. }]
    ));
}
