//! Fixtures shared by the [`TurnClient`] tests: a client, and the answers a scripted
//! fake server gives, in virtual time.

use std::net::SocketAddr;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::*;
use crate::stun::{
    Attribute, Class, Credentials, ErrorCode, IntegrityKey, Message, MessageBuilder, MessageType,
    PasswordAlgorithm,
};

pub(super) const REALM: &str = "pinhole.test";

pub(super) fn server() -> SocketAddr {
    "192.0.2.1:3478".parse().unwrap()
}
pub(super) fn relayed() -> SocketAddr {
    "192.0.2.1:50000".parse().unwrap()
}
pub(super) fn peer() -> SocketAddr {
    "198.51.100.7:4000".parse().unwrap()
}

pub(super) fn md5_key() -> IntegrityKey {
    IntegrityKey::long_term(PasswordAlgorithm::Md5, "pinhole", REALM, "secret").unwrap()
}

pub(super) fn client_with(transport: TransportKind, now: Instant) -> TurnClient {
    let cfg = TurnConfig::new(server(), transport, Credentials::new("pinhole", "secret"));
    TurnClient::new(now, cfg, &mut StdRng::seed_from_u64(7))
}

pub(super) fn client(now: Instant) -> TurnClient {
    client_with(TransportKind::Udp, now)
}

pub(super) fn transmits(c: &mut TurnClient) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| c.poll_transmit().map(|t| t.bytes)).collect()
}

pub(super) fn events(c: &mut TurnClient) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

pub(super) fn one(c: &mut TurnClient) -> Vec<u8> {
    let mut t = transmits(c);
    assert_eq!(t.len(), 1, "expected exactly one transmit");
    t.pop().unwrap()
}

/// A response to `req` with `attrs`, signed with `key` (MD5 MI) when given.
pub(super) fn respond(
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

pub(super) fn challenge(req: &[u8], code: ErrorCode<'_>, nonce: &str) -> Vec<u8> {
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

pub(super) fn alloc_ok(req: &[u8], lifetime: u32) -> Vec<u8> {
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
pub(super) fn allocated(transport: TransportKind, now: Instant) -> TurnClient {
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

pub(super) fn feed(c: &mut TurnClient, now: Instant, bytes: &[u8]) {
    if c.transport().is_stream() {
        c.handle_stream_bytes(now, bytes)
    } else {
        c.handle_input(now, bytes)
    }
}

pub(super) fn ok_signed(req: &[u8]) -> Vec<u8> {
    respond(req, Class::Success, &[], Some(&md5_key()))
}
