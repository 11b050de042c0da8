//! [`TurnClient`] against a scripted fake server, in virtual time: allocation, refreshes,
//! permissions, channels, streams, errors. Authentication details are in
//! client_auth_tests.rs.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::client_test_support::*;
use super::*;
use crate::stun::{
    Attribute, Class, Credentials, ErrorCode, IntegrityKey, Message, MessageType, Method,
};

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
    assert_eq!(t.to, alt);
    assert_eq!(c.server(), alt);
    c.handle_input(t0, &redir(&t.bytes, server()));
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

/// A configured refresh interval of `Duration::MAX` ("never") and the largest LIFETIME a
/// server can send saturate into far-off deadlines instead of overflowing `Instant`.
#[test]
fn durations_of_any_size_are_deadlines_not_panics() {
    let now = Instant::now();
    let mut cfg = TurnConfig::new(
        server(),
        TransportKind::Udp,
        Credentials::new("pinhole", "secret"),
    );
    cfg.permission_refresh = Duration::MAX;
    cfg.channel_refresh = Duration::MAX;
    cfg.transaction.rto = Duration::MAX;
    let mut c = TurnClient::new(now, cfg, &mut StdRng::seed_from_u64(7));
    let r1 = one(&mut c);
    c.handle_input(now, &challenge(&r1, ErrorCode::UNAUTHENTICATED, "n1"));
    let r2 = one(&mut c);
    c.handle_input(now, &alloc_ok(&r2, u32::MAX));
    assert!(matches!(events(&mut c)[..], [Event::Allocated { .. }]));
    c.create_permission(now, peer().ip()).unwrap();
    let req = one(&mut c);
    c.handle_input(now, &ok_signed(&req));
    c.bind_channel(now, peer()).unwrap();
    let req = one(&mut c);
    c.handle_input(now, &ok_signed(&req));
    assert_eq!(c.bound_channel(peer()), Some(CHANNEL_MIN));
    let next = c.poll_timeout().expect("refreshes stay scheduled");
    assert!(next > now + Duration::from_secs(3600));
    c.handle_timeout(now + Duration::from_secs(3600));
    assert_eq!(c.state(), TurnState::Allocated);
}

#[test]
fn refreshes_ride_on_a_wake_up_that_happens_anyway() {
    // The agent wakes the radio every 100 s for a keepalive and calls
    // refresh_due_before(now, now + 100 s): every refresh then leaves with a keepalive,
    // none needs a wake-up of its own, and none runs more than twice as often.
    let t0 = Instant::now();
    let mut c = allocated(TransportKind::Udp, t0);
    c.create_permission(t0, peer().ip()).unwrap();
    let r = one(&mut c);
    c.handle_input(t0, &ok_signed(&r));
    c.bind_channel(t0, peer()).unwrap();
    let r = one(&mut c);
    c.handle_input(t0, &ok_signed(&r));
    events(&mut c);
    let period = Duration::from_secs(100);
    let mut seen: Vec<(u64, Method)> = Vec::new();
    let answer = |c: &mut TurnClient, now: Instant, seen: &mut Vec<(u64, Method)>| {
        for r in transmits(c) {
            let m = Message::parse(&r).unwrap();
            seen.push(((now - t0).as_secs(), m.method()));
            c.handle_input(now, &ok_refresh_aware(&m, &r));
        }
    };
    let mut wake = t0 + period;
    while wake <= t0 + Duration::from_secs(1800) {
        // Nothing of the client's own may come due before the keepalive wake-up.
        assert!(
            c.poll_timeout().unwrap() >= wake,
            "a refresh needed its own wake-up at {:?}",
            c.poll_timeout().unwrap() - t0
        );
        c.handle_timeout(wake);
        c.refresh_due_before(wake, wake + period);
        answer(&mut c, wake, &mut seen);
        wake += period;
    }
    let at = |m: Method| -> Vec<u64> { seen.iter().filter(|s| s.1 == m).map(|s| s.0).collect() };
    // Permission (refresh every 240 s, half of it 120 s): at 200, 400, …, each one wake-up
    // before the 240 s it would otherwise need.
    assert_eq!(
        at(Method::CREATE_PERMISSION),
        vec![200, 400, 600, 800, 1000, 1200, 1400, 1600, 1800]
    );
    // Channel (540 s): the wake-up before it is due, once half way (270 s).
    assert_eq!(at(Method::CHANNEL_BIND), vec![500, 1000, 1500]);
    // Allocation (refresh at 480 s of 600, half the lifetime 300 s).
    assert_eq!(at(Method::REFRESH), vec![400, 800, 1200, 1600]);
    assert_eq!(c.state(), TurnState::Allocated);
    // Without the hook the client still refreshes on its own schedule: one wake-up each.
    let mut lone = allocated(TransportKind::Udp, t0);
    assert_eq!(lone.refresh_due_before(t0, t0 + period), 0, "too early");
    lone.handle_timeout(t0 + Duration::from_secs(479));
    assert!(transmits(&mut lone).is_empty());
}
