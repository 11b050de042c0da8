//! [`TurnClient`] against a scripted fake server, in virtual time.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::*;
use crate::stun::attr::{self, PasswordAlgorithmList, PasswordAlgorithmParam};
use crate::stun::{
    Attribute, Class, Credentials, ErrorCode, IntegrityKey, Message, MessageBuilder, MessageType,
    Method, PasswordAlgorithm,
};

const REALM: &str = "pinhole.test";

fn server() -> SocketAddr {
    "192.0.2.1:3478".parse().unwrap()
}
fn relayed() -> SocketAddr {
    "192.0.2.1:50000".parse().unwrap()
}
fn peer() -> SocketAddr {
    "198.51.100.7:4000".parse().unwrap()
}

fn md5_key() -> IntegrityKey {
    IntegrityKey::long_term(PasswordAlgorithm::Md5, "pinhole", REALM, "secret").unwrap()
}

fn client_with(transport: TransportKind, now: Instant) -> TurnClient {
    let cfg = TurnConfig::new(server(), transport, Credentials::new("pinhole", "secret"));
    TurnClient::new(now, cfg, &mut StdRng::seed_from_u64(7))
}

fn client(now: Instant) -> TurnClient {
    client_with(TransportKind::Udp, now)
}

fn transmits(c: &mut TurnClient) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| c.poll_transmit().map(|t| t.contents)).collect()
}

fn events(c: &mut TurnClient) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

fn one(c: &mut TurnClient) -> Vec<u8> {
    let mut t = transmits(c);
    assert_eq!(t.len(), 1, "expected exactly one transmit");
    t.pop().unwrap()
}

/// A response to `req` with `attrs`, signed with `key` (MD5 MI) when given.
fn respond(
    req: &[u8],
    class: Class,
    attrs: &[Attribute<'_>],
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
    if let Some(k) = key {
        b.add_message_integrity_key(k).unwrap();
    }
    b.finish().to_vec()
}

fn challenge(req: &[u8], code: ErrorCode<'_>, nonce: &str) -> Vec<u8> {
    respond(
        req,
        Class::Error,
        &[
            Attribute::ErrorCode(code),
            Attribute::Realm(REALM),
            Attribute::Nonce(nonce),
        ],
        None,
    )
}

fn alloc_ok(req: &[u8], lifetime: u32) -> Vec<u8> {
    respond(
        req,
        Class::Success,
        &[
            Attribute::XorRelayedAddress(relayed()),
            Attribute::XorMappedAddress("203.0.113.9:6000".parse().unwrap()),
            Attribute::Lifetime(lifetime),
        ],
        Some(&md5_key()),
    )
}

/// Runs the 401 dance and returns an allocated client (lifetime 600 s).
fn allocated(transport: TransportKind, now: Instant) -> TurnClient {
    let mut c = client_with(transport, now);
    let r1 = one(&mut c);
    feed(
        &mut c,
        now,
        &challenge(&r1, ErrorCode::UNAUTHENTICATED, "n1"),
    );
    let r2 = one(&mut c);
    feed(&mut c, now, &alloc_ok(&r2, 600));
    assert!(matches!(events(&mut c)[..], [Event::Allocated { .. }]));
    c
}

fn feed(c: &mut TurnClient, now: Instant, bytes: &[u8]) {
    if c.transport().is_stream() {
        c.handle_stream_bytes(now, bytes)
    } else {
        c.handle_input(now, bytes)
    }
}

fn ok_signed(req: &[u8]) -> Vec<u8> {
    respond(req, Class::Success, &[], Some(&md5_key()))
}

#[test]
fn allocate_runs_the_401_dance() {
    let now = Instant::now();
    let mut c = client(now);
    let r1 = one(&mut c);
    let m = Message::parse(&r1).unwrap();
    assert_eq!(m.method(), Method::ALLOCATE);
    assert_eq!(m.requested_transport().unwrap(), Some(17));
    assert!(!m.has_integrity() && m.username().unwrap().is_none());
    c.handle_input(now, &challenge(&r1, ErrorCode::UNAUTHENTICATED, "n1"));
    let r2 = one(&mut c);
    let m = Message::parse(&r2).unwrap();
    assert_eq!(m.username().unwrap(), Some("pinhole"));
    assert_eq!(m.realm().unwrap(), Some(REALM));
    assert_eq!(m.nonce().unwrap(), Some("n1"));
    m.verify_integrity(md5_key().as_bytes()).unwrap();
    m.verify_fingerprint().unwrap();
    c.handle_input(now, &alloc_ok(&r2, 600));
    assert_eq!(
        events(&mut c),
        vec![Event::Allocated {
            relayed: relayed(),
            mapped: Some("203.0.113.9:6000".parse().unwrap()),
            lifetime: Duration::from_secs(600),
        }]
    );
    assert_eq!(c.state(), TurnState::Allocated);
    assert_eq!(c.relayed_address(), Some(relayed()));
}

#[test]
fn ipv6_relay_requests_the_family() {
    let now = Instant::now();
    let mut cfg = TurnConfig::new(server(), TransportKind::Udp, Credentials::new("u", "p"));
    cfg.relay_family = crate::stun::AddressFamily::V6;
    let mut c = TurnClient::new(now, cfg, &mut StdRng::seed_from_u64(1));
    let m = one(&mut c);
    let m = Message::parse(&m).unwrap();
    assert_eq!(
        m.requested_address_family().unwrap(),
        Some(crate::stun::AddressFamily::V6)
    );
}

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
fn stale_nonce_retries_with_the_new_nonce_and_refresh_runs_at_80_percent() {
    let t0 = Instant::now();
    let mut c = allocated(TransportKind::Udp, t0);
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(480)));
    let t1 = t0 + Duration::from_secs(480);
    c.handle_timeout(t1);
    let r = one(&mut c);
    let m = Message::parse(&r).unwrap();
    assert_eq!(m.method(), Method::REFRESH);
    assert_eq!(m.nonce().unwrap(), Some("n1"));
    c.handle_input(t1, &challenge(&r, ErrorCode::STALE_NONCE, "n2"));
    let r = one(&mut c);
    let m = Message::parse(&r).unwrap();
    assert_eq!(m.nonce().unwrap(), Some("n2"));
    m.verify_integrity(md5_key().as_bytes()).unwrap();
    let ok = respond(
        &r,
        Class::Success,
        &[Attribute::Lifetime(300)],
        Some(&md5_key()),
    );
    c.handle_input(t1, &ok);
    assert_eq!(
        events(&mut c),
        vec![Event::Refreshed {
            lifetime: Duration::from_secs(300)
        }]
    );
    assert_eq!(c.poll_timeout(), Some(t1 + Duration::from_secs(240)));
}

#[test]
fn permission_channel_and_data_paths() {
    let t0 = Instant::now();
    let mut c = allocated(TransportKind::Udp, t0);
    // No permission yet: CreatePermission goes out, the data waits.
    c.send_to(t0, peer(), b"early").unwrap();
    let r = one(&mut c);
    let m = Message::parse(&r).unwrap();
    assert_eq!(m.method(), Method::CREATE_PERMISSION);
    assert_eq!(m.xor_peer_address().unwrap().unwrap().ip(), peer().ip());
    c.handle_input(t0, &ok_signed(&r));
    assert_eq!(
        events(&mut c),
        vec![Event::PermissionCreated { peer: peer().ip() }]
    );
    // The queued datagram goes out as a Send indication.
    let ind = one(&mut c);
    let m = Message::parse(&ind).unwrap();
    assert_eq!((m.class(), m.method()), (Class::Indication, Method::SEND));
    assert_eq!(m.data(), Some(&b"early"[..]));
    assert_eq!(m.xor_peer_address().unwrap(), Some(peer()));
    // Bind a channel; until bound, data still goes as Send indications.
    let ch = c.bind_channel(t0, peer()).unwrap();
    assert_eq!(ch, 0x4000);
    let r = one(&mut c);
    c.send_to(t0, peer(), b"still-send").unwrap();
    let ind = one(&mut c);
    assert_eq!(Message::parse(&ind).unwrap().method(), Method::SEND);
    c.handle_input(t0, &ok_signed(&r));
    assert_eq!(
        events(&mut c),
        vec![Event::ChannelBound {
            peer: peer(),
            channel: 0x4000
        }]
    );
    c.send_to(t0, peer(), b"hello").unwrap();
    assert_eq!(
        one(&mut c),
        ChannelData::encode(0x4000, b"hello", false).unwrap()
    );
    // Inbound: a Data indication and ChannelData.
    let data_ind = crate::stun::encode_to_vec(
        MessageType::new(Class::Indication, Method::DATA),
        crate::stun::TransactionId([1; 12]),
        &[Attribute::XorPeerAddress(peer()), Attribute::Data(b"in1")],
        None,
        false,
    )
    .unwrap();
    c.handle_input(t0, &data_ind);
    c.handle_input(t0, &ChannelData::encode(0x4000, b"in2", false).unwrap());
    c.handle_input(t0, &ChannelData::encode(0x4001, b"nobody", false).unwrap());
    assert_eq!(
        events(&mut c),
        vec![
            Event::Data {
                peer: peer(),
                bytes: b"in1".to_vec()
            },
            Event::Data {
                peer: peer(),
                bytes: b"in2".to_vec()
            },
        ]
    );
    assert_eq!(c.stats().dropped, 1);
    assert_eq!(c.stats().data_in, 2);
}

#[test]
fn permissions_refresh_every_240s_and_channels_every_540s() {
    let t0 = Instant::now();
    let mut c = allocated(TransportKind::Udp, t0);
    let ip: IpAddr = peer().ip();
    c.create_permission(t0, ip).unwrap();
    let r = one(&mut c);
    c.handle_input(t0, &ok_signed(&r));
    c.bind_channel(t0, peer()).unwrap();
    let r = one(&mut c);
    c.handle_input(t0, &ok_signed(&r));
    events(&mut c);
    let mut seen = Vec::new();
    let mut now = t0;
    // Answer every request for 20 virtual minutes; note when each kind went out.
    while now < t0 + Duration::from_secs(1200) {
        now = c.poll_timeout().unwrap();
        c.handle_timeout(now);
        for r in transmits(&mut c) {
            let m = Message::parse(&r).unwrap();
            seen.push(((now - t0).as_secs(), m.method()));
            let ok = if m.method() == Method::REFRESH {
                respond(
                    &r,
                    Class::Success,
                    &[Attribute::Lifetime(600)],
                    Some(&md5_key()),
                )
            } else {
                ok_signed(&r)
            };
            c.handle_input(now, &ok);
        }
    }
    let at = |m: Method| -> Vec<u64> { seen.iter().filter(|s| s.1 == m).map(|s| s.0).collect() };
    assert_eq!(
        at(Method::CREATE_PERMISSION),
        vec![240, 480, 720, 960, 1200]
    );
    assert_eq!(at(Method::CHANNEL_BIND), vec![540, 1080]);
    assert_eq!(at(Method::REFRESH), vec![480, 960]);
    assert_eq!(c.state(), TurnState::Allocated);
    assert!(events(&mut c)
        .iter()
        .all(|e| matches!(e, Event::Refreshed { .. })));
}

/// Answers every request until `end`; returns (seconds since `t0`, method, peer IP)
/// for every request that went out.
fn run_answering(
    c: &mut TurnClient,
    t0: Instant,
    end: Instant,
    mut answer: impl FnMut(&Message<'_>, &[u8], u64) -> Vec<u8>,
) -> Vec<(u64, Method, Option<IpAddr>)> {
    let mut seen = Vec::new();
    let mut now = t0;
    for r in transmits(c) {
        let m = Message::parse(&r).unwrap();
        let ip = m.xor_peer_address().ok().flatten().map(|a| a.ip());
        seen.push((0, m.method(), ip));
        let resp = answer(&m, &r, 0);
        c.handle_input(now, &resp);
    }
    while let Some(t) = c.poll_timeout().filter(|t| *t <= end) {
        now = t;
        c.handle_timeout(now);
        for r in transmits(c) {
            let m = Message::parse(&r).unwrap();
            let at = (now - t0).as_secs();
            let ip = m.xor_peer_address().ok().flatten().map(|a| a.ip());
            seen.push((at, m.method(), ip));
            let resp = answer(&m, &r, at);
            c.handle_input(now, &resp);
        }
    }
    seen
}

fn ok_refresh_aware(m: &Message<'_>, r: &[u8]) -> Vec<u8> {
    if m.method() == Method::REFRESH {
        respond(
            r,
            Class::Success,
            &[Attribute::Lifetime(600)],
            Some(&md5_key()),
        )
    } else {
        ok_signed(r)
    }
}

#[test]
fn a_channel_without_a_permission_refreshes_before_the_permission_expires() {
    // RFC 8656 §12: ChannelBind installs the peer IP's permission, which lasts 300 s;
    // the channel itself lasts 600 s. Without create_permission, only the channel's
    // refresh keeps that permission alive, so it must come before 300 s.
    let t0 = Instant::now();
    let mut c = allocated(TransportKind::Udp, t0);
    c.bind_channel(t0, peer()).unwrap();
    let seen = run_answering(&mut c, t0, t0 + Duration::from_secs(1300), |m, r, _| {
        ok_refresh_aware(m, r)
    });
    let times: Vec<u64> = seen
        .iter()
        .filter(|s| s.2 == Some(peer().ip()))
        .map(|s| s.0)
        .collect();
    assert_eq!(times, vec![0, 240, 480, 720, 960, 1200], "{seen:?}");
    assert!(times.windows(2).all(|w| w[1] - w[0] < 300));
    assert_eq!(c.state(), TurnState::Allocated);
    assert_eq!(c.bound_channel(peer()), Some(0x4000));
}

#[test]
fn a_failed_permission_hands_its_refresh_to_the_channel() {
    // Permission and channel for the same IP: the channel refreshes every 540 s while
    // the permission's own refresh covers the IP. When that refresh fails, the
    // channel's ChannelBind goes out at once and then as often as a permission's.
    let t0 = Instant::now();
    let mut c = allocated(TransportKind::Udp, t0);
    c.create_permission(t0, peer().ip()).unwrap();
    let r = one(&mut c);
    c.handle_input(t0, &ok_signed(&r));
    c.bind_channel(t0, peer()).unwrap();
    let seen = run_answering(&mut c, t0, t0 + Duration::from_secs(1000), |m, r, at| {
        if m.method() == Method::CREATE_PERMISSION && at == 240 {
            respond(
                r,
                Class::Error,
                &[Attribute::ErrorCode(ErrorCode::new(500, "Server Error"))],
                Some(&md5_key()),
            )
        } else {
            ok_refresh_aware(m, r)
        }
    });
    let at = |m: Method| -> Vec<u64> { seen.iter().filter(|s| s.1 == m).map(|s| s.0).collect() };
    assert_eq!(at(Method::CREATE_PERMISSION), vec![240], "{seen:?}");
    assert_eq!(
        at(Method::CHANNEL_BIND),
        vec![0, 240, 480, 720, 960],
        "{seen:?}"
    );
    let ev = events(&mut c);
    assert!(ev
        .iter()
        .any(|e| matches!(e, Event::PermissionFailed { .. })));
    assert!(!ev
        .iter()
        .any(|e| matches!(e, Event::ChannelBindFailed { .. } | Event::Failed(_))));
    assert_eq!(c.bound_channel(peer()), Some(0x4000));
}

#[test]
fn stream_transport_frames_partial_and_coalesced_reads_and_pads() {
    let t0 = Instant::now();
    let mut c = client_with(TransportKind::Tcp, t0);
    let r1 = one(&mut c);
    let e = challenge(&r1, ErrorCode::UNAUTHENTICATED, "n1");
    for b in &e {
        c.handle_stream_bytes(t0, std::slice::from_ref(b));
    }
    let r2 = one(&mut c);
    c.handle_stream_bytes(t0, &alloc_ok(&r2, 600));
    events(&mut c);
    c.bind_channel(t0, peer()).unwrap();
    let r = one(&mut c);
    // The response and two ChannelData frames in one read, then split mid-frame.
    let mut blob = ok_signed(&r);
    blob.extend(ChannelData::encode(0x4000, b"abcde", true).unwrap());
    blob.extend(ChannelData::encode(0x4000, b"xy", true).unwrap());
    let (a, b) = blob.split_at(blob.len() - 3);
    c.handle_stream_bytes(t0, a);
    c.handle_stream_bytes(t0, b);
    let ev = events(&mut c);
    assert_eq!(ev.len(), 3, "{ev:?}");
    assert_eq!(
        ev[2],
        Event::Data {
            peer: peer(),
            bytes: b"xy".to_vec()
        }
    );
    c.send_to(t0, peer(), b"abcde").unwrap();
    let out = one(&mut c);
    assert_eq!(out.len(), 12, "ChannelData on TCP is padded to 4");
}

fn fails_with(code: ErrorCode<'static>, check: impl Fn(&TurnError) -> bool) {
    let now = Instant::now();
    let mut c = client(now);
    let r1 = one(&mut c);
    c.handle_input(now, &challenge(&r1, ErrorCode::UNAUTHENTICATED, "n1"));
    let r2 = one(&mut c);
    c.handle_input(now, &challenge(&r2, code, "n1"));
    let ev = events(&mut c);
    let [Event::Failed(e)] = &ev[..] else {
        panic!("{}: {ev:?}", code.code)
    };
    assert!(check(e), "{}: {e:?}", code.code);
    assert_eq!(e.code(), Some(code.code));
    assert!(e.to_string().contains("192.0.2.1:3478"), "{e}");
    assert_eq!(c.state(), TurnState::Failed);
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn every_error_code_maps_to_its_error() {
    fails_with(
        ErrorCode::UNAUTHENTICATED,
        |e| matches!(e, TurnError::Unauthorized { realm, .. } if realm == REALM),
    );
    fails_with(ErrorCode::FORBIDDEN, |e| {
        matches!(e, TurnError::Forbidden { .. })
    });
    fails_with(ErrorCode::ALLOCATION_MISMATCH, |e| {
        matches!(e, TurnError::AllocationMismatch { .. })
    });
    fails_with(ErrorCode::WRONG_CREDENTIALS, |e| {
        matches!(e, TurnError::WrongCredentials { .. })
    });
    fails_with(ErrorCode::ALLOCATION_QUOTA_REACHED, |e| {
        matches!(e, TurnError::QuotaReached { .. })
    });
    fails_with(ErrorCode::INSUFFICIENT_CAPACITY, |e| {
        matches!(e, TurnError::InsufficientCapacity { .. })
    });
    fails_with(ErrorCode::UNSUPPORTED_TRANSPORT_PROTOCOL, |e| {
        matches!(e, TurnError::ErrorResponse { code: 442, .. })
    });
}

#[test]
fn nul_padding_in_the_reason_phrase_is_trimmed() {
    // As coturn sends it: the NUL padding counted into ERROR-CODE's length.
    fails_with(
        ErrorCode::new(440, "Unsupported address family\0\0"),
        |e| matches!(e, TurnError::ErrorResponse { reason, .. } if reason == "Unsupported address family"),
    );
}

#[test]
fn permission_errors_do_not_kill_the_allocation() {
    let t0 = Instant::now();
    let mut c = allocated(TransportKind::Udp, t0);
    c.create_permission(t0, peer().ip()).unwrap();
    let r = one(&mut c);
    let e = respond(
        &r,
        Class::Error,
        &[Attribute::ErrorCode(ErrorCode::FORBIDDEN)],
        Some(&md5_key()),
    );
    c.handle_input(t0, &e);
    assert!(matches!(
        &events(&mut c)[..],
        [Event::PermissionFailed {
            error: TurnError::Forbidden { .. },
            ..
        }]
    ));
    assert_eq!(c.state(), TurnState::Allocated);
}

#[test]
fn allocation_mismatch_on_a_permission_fails_the_allocation_at_once() {
    // The server restarted and lost the allocation: no need to wait for the next Refresh.
    let t0 = Instant::now();
    let mut c = allocated(TransportKind::Udp, t0);
    c.create_permission(t0, peer().ip()).unwrap();
    let r = one(&mut c);
    let e = respond(
        &r,
        Class::Error,
        &[Attribute::ErrorCode(ErrorCode::new(
            437,
            "Allocation Mismatch",
        ))],
        Some(&md5_key()),
    );
    c.handle_input(t0, &e);
    assert!(matches!(
        &events(&mut c)[..],
        [Event::Failed(TurnError::AllocationMismatch { .. })]
    ));
    assert_eq!(c.state(), TurnState::Failed);
}

#[test]
fn silent_server_is_unreachable_after_the_transaction_timeout() {
    let t0 = Instant::now();
    let mut c = client(t0);
    let mut sent = 0;
    while let Some(t) = c.poll_timeout() {
        sent += transmits(&mut c).len();
        c.handle_timeout(t);
    }
    assert_eq!(sent, 5);
    let ev = events(&mut c);
    assert!(
        matches!(
            &ev[..],
            [Event::Failed(TurnError::Unreachable {
                request: "Allocate",
                ..
            })]
        ),
        "{ev:?}"
    );
}

#[test]
fn redirect_is_followed_once_and_loops_are_refused() {
    let t0 = Instant::now();
    let mut c = client(t0);
    let alt: SocketAddr = "192.0.2.2:3478".parse().unwrap();
    let r1 = one(&mut c);
    let redir = |req: &[u8], to: SocketAddr| {
        respond(
            req,
            Class::Error,
            &[
                Attribute::ErrorCode(ErrorCode::TRY_ALTERNATE),
                Attribute::AlternateServer(to),
            ],
            None,
        )
    };
    c.handle_input(t0, &redir(&r1, alt));
    assert_eq!(
        events(&mut c),
        vec![Event::Redirected {
            from: server(),
            to: alt,
            domain: None,
        }]
    );
    let t = c.poll_transmit().unwrap();
    assert_eq!(t.destination, alt);
    assert_eq!(c.server(), alt);
    c.handle_input(t0, &redir(&t.contents, server()));
    assert!(matches!(
        &events(&mut c)[..],
        [Event::Failed(TurnError::TooManyRedirects { .. })]
    ));
}

#[test]
fn close_deallocates_with_lifetime_zero() {
    let t0 = Instant::now();
    let mut c = allocated(TransportKind::Udp, t0);
    c.close(t0);
    let r = one(&mut c);
    let m = Message::parse(&r).unwrap();
    assert_eq!(m.method(), Method::REFRESH);
    assert_eq!(m.lifetime().unwrap(), Some(0));
    assert_eq!(c.state(), TurnState::Closing);
    c.handle_input(t0, &ok_signed(&r));
    assert_eq!(events(&mut c), vec![Event::Closed]);
    assert_eq!(c.poll_timeout(), None);
    assert!(matches!(
        c.send_to(t0, peer(), b"x"),
        Err(TurnError::NotAllocated("closed"))
    ));
}

#[test]
fn bad_input_is_dropped_and_counted() {
    let t0 = Instant::now();
    let mut c = client(t0);
    let r1 = one(&mut c);
    c.handle_input(t0, &[]);
    c.handle_input(t0, &[0x99; 8]);
    c.handle_input(t0, &[0, 1, 0, 4, 1, 2]);
    c.handle_input(t0, &[0x40, 0x00, 0x00, 0x10]);
    assert_eq!(c.stats().malformed, 2);
    assert_eq!(c.stats().dropped, 2);
    // A forged success (wrong key) to an authenticated request is ignored.
    c.handle_input(t0, &challenge(&r1, ErrorCode::UNAUTHENTICATED, "n1"));
    let r2 = one(&mut c);
    let bad = IntegrityKey::from_bytes(b"wrong");
    let forged = respond(
        &r2,
        Class::Success,
        &[Attribute::XorRelayedAddress(relayed())],
        Some(&bad),
    );
    c.handle_input(t0, &forged);
    assert_eq!(c.stats().integrity_failures, 1);
    assert_eq!(c.state(), TurnState::Allocating);
    c.handle_input(t0, &alloc_ok(&r2, 600));
    assert_eq!(c.state(), TurnState::Allocated);
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
