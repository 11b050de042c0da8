use super::wire::*;
use super::*;
use rand::SeedableRng;

fn gw() -> IpAddr {
    "10.1.0.1".parse().unwrap()
}

fn local() -> SocketAddr {
    "10.1.0.2:5000".parse().unwrap()
}

/// A server's MAP answer (RFC 6887 §7.2 header + §11.1 MAP data), built independently of
/// the client's encoder.
pub(crate) fn map_answer(
    result: u8,
    lifetime: u32,
    epoch: u32,
    nonce: [u8; 12],
    internal: u16,
    external: SocketAddr,
) -> Vec<u8> {
    let mut b = vec![2, 0x81, 0, result];
    b.extend_from_slice(&lifetime.to_be_bytes());
    b.extend_from_slice(&epoch.to_be_bytes());
    b.extend_from_slice(&[0; 12]);
    b.extend_from_slice(&nonce);
    b.extend_from_slice(&[17, 0, 0, 0]);
    b.extend_from_slice(&internal.to_be_bytes());
    b.extend_from_slice(&external.port().to_be_bytes());
    let ip = match external.ip() {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    b.extend_from_slice(&ip.octets());
    b
}

pub(crate) fn announce(epoch: u32) -> Vec<u8> {
    let mut b = vec![2, 0x80, 0, 0, 0, 0, 0, 0];
    b.extend_from_slice(&epoch.to_be_bytes());
    b.extend_from_slice(&[0; 12]);
    b
}

fn client() -> PcpClient {
    PcpClient::new(
        gw(),
        local(),
        Duration::from_secs(7200),
        Duration::from_secs(5),
        SmallRng::seed_from_u64(7),
    )
}

fn drain(c: &mut PcpClient) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    while let Some(t) = c.poll_transmit() {
        assert_eq!(t.to, SocketAddr::new(gw(), 5351));
        v.push(t.bytes);
    }
    v
}

#[test]
fn map_request_layout_matches_rfc_6887() {
    let nonce = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
    let b = encode_map_request(&MapRequest {
        lifetime: 7200,
        client_ip: "10.1.0.2".parse().unwrap(),
        nonce,
        internal_port: 5000,
        suggested: "0.0.0.0:5000".parse().unwrap(),
    });
    assert_eq!(b.len(), 60);
    assert_eq!(b[..4], [2, 1, 0, 0], "version 2, R=0, opcode MAP, reserved");
    assert_eq!(b[4..8], 7200u32.to_be_bytes());
    assert_eq!(
        b[8..24],
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 0, 2],
        "IPv4-mapped client address"
    );
    assert_eq!(b[24..36], nonce);
    assert_eq!(b[36..40], [17, 0, 0, 0], "UDP, reserved");
    assert_eq!(
        b[40..44],
        [0x13, 0x88, 0x13, 0x88],
        "internal and suggested external port"
    );
    assert_eq!(
        b[44..60],
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0],
        "::ffff:0.0.0.0 = no suggestion"
    );
}

#[test]
fn decoding_rejects_every_hostile_shape() {
    let n = [9; 12];
    let ext: SocketAddr = "203.0.113.2:6000".parse().unwrap();
    let ok = map_answer(0, 3600, 5, n, 5000, ext);
    assert!(
        matches!(decode_response(&ok), Ok(Response::Map { external, lifetime: 3600, .. }) if external == ext)
    );
    assert_eq!(decode_response(&ok[..56]), Err(DecodeError::Truncated));
    assert_eq!(decode_response(&ok[..20]), Err(DecodeError::Truncated));
    assert_eq!(decode_response(&ok[..59]), Err(DecodeError::BadLength));
    let mut big = ok.clone();
    big.resize(1104, 0);
    assert_eq!(decode_response(&big), Err(DecodeError::BadLength));
    let mut request = ok.clone();
    request[1] = 1;
    assert_eq!(decode_response(&request), Err(DecodeError::WrongOpcode));
    let mut peer = ok.clone();
    peer[1] = 0x82;
    assert_eq!(decode_response(&peer), Err(DecodeError::WrongOpcode));
    let mut v1 = ok.clone();
    v1[0] = 1;
    assert_eq!(decode_response(&v1), Err(DecodeError::WrongVersion));
    // Options: a well-formed one is skipped, one overrunning the packet is rejected.
    let mut opt = ok.clone();
    opt.extend_from_slice(&[0x80, 0, 0, 4, 1, 2, 3, 4]);
    assert!(decode_response(&opt).is_ok());
    let mut bad = ok.clone();
    bad.extend_from_slice(&[0x80, 0, 0, 8, 1, 2, 3, 4]);
    assert_eq!(decode_response(&bad), Err(DecodeError::BadOption));
    assert!(is_natpmp_unsupported_version(&[0, 129, 0, 1, 0, 0, 0, 0]));
    assert!(!is_natpmp_unsupported_version(&[0, 129, 0, 0, 0, 0, 0, 0]));
    assert_eq!(
        from_wire(to_wire("198.51.100.7".parse().unwrap())),
        "198.51.100.7".parse::<IpAddr>().unwrap()
    );
}

#[test]
fn nonce_comes_from_the_rng_and_foreign_nonces_are_dropped() {
    let a = client();
    let b = PcpClient::new(
        gw(),
        local(),
        Duration::from_secs(60),
        Duration::ZERO,
        SmallRng::seed_from_u64(8),
    );
    assert_ne!(a.nonce(), b.nonce());
    assert_eq!(a.nonce(), client().nonce(), "a seeded RNG replays");
    let t0 = Instant::now();
    let mut c = client();
    let mut stats = PortMapStats::default();
    c.map(t0, t0 + Duration::from_secs(5));
    let sent = drain(&mut c);
    assert_eq!(sent[0][24..36], c.nonce());
    let ext: SocketAddr = "203.0.113.2:6000".parse().unwrap();
    let mut wrong = c.nonce();
    wrong[0] ^= 1;
    c.handle_response(t0, &map_answer(0, 3600, 1, wrong, 5000, ext), &mut stats);
    assert_eq!(stats.dropped_wrong_nonce, 1);
    assert_eq!(c.poll_event(), None);
    c.handle_response(
        t0,
        &map_answer(0, 3600, 1, c.nonce(), 5001, ext),
        &mut stats,
    );
    assert_eq!(stats.dropped_unexpected, 1, "another internal port");
    c.handle_response(
        t0,
        &map_answer(0, 3600, 1, c.nonce(), 5000, ext),
        &mut stats,
    );
    assert_eq!(
        c.poll_event(),
        Some(ClientEvent::Mapped {
            external: ext,
            lifetime: Duration::from_secs(3600)
        })
    );
}

#[test]
fn retransmits_from_irt_three_seconds_with_jitter() {
    let t0 = Instant::now();
    let mut c = client();
    c.map(t0, t0 + Duration::from_secs(20));
    assert_eq!(drain(&mut c).len(), 1);
    let first = c.poll_timeout().unwrap() - t0;
    assert!(
        first >= Duration::from_millis(2700) && first <= Duration::from_millis(3300),
        "{first:?}"
    );
    c.handle_timeout(t0 + first);
    assert_eq!(drain(&mut c).len(), 1);
    let second = c.poll_timeout().unwrap() - t0 - first;
    assert!(
        second >= Duration::from_millis(5400) && second <= Duration::from_millis(6600),
        "{second:?}"
    );
}

#[test]
fn renewal_announce_and_epoch_reset() {
    let t0 = Instant::now();
    let mut c = client();
    let mut stats = PortMapStats::default();
    c.map(t0, t0 + Duration::from_secs(5));
    drain(&mut c);
    let ext: SocketAddr = "203.0.113.2:6000".parse().unwrap();
    c.handle_response(
        t0,
        &map_answer(0, 120, 1000, c.nonce(), 5000, ext),
        &mut stats,
    );
    assert!(matches!(c.poll_event(), Some(ClientEvent::Mapped { .. })));
    // Renewal at exactly half the lifetime, same nonce, suggesting the mapped address.
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(60)));
    let t = t0 + Duration::from_secs(60);
    c.handle_timeout(t);
    let renew = drain(&mut c);
    assert_eq!(renew.len(), 1);
    assert_eq!(renew[0][24..36], c.nonce());
    assert_eq!(renew[0][42..44], 6000u16.to_be_bytes());
    assert_eq!(renew[0][44..60], to_wire(ext.ip()));
    c.handle_response(
        t,
        &map_answer(0, 120, 1060, c.nonce(), 5000, ext),
        &mut stats,
    );
    assert!(matches!(c.poll_event(), Some(ClientEvent::Mapped { .. })));
    assert_eq!(stats.epoch_resets, 0);
    // An unsolicited ANNOUNCE (the server restarted): re-map within announce_delay_max.
    let t2 = t + Duration::from_secs(10);
    c.handle_response(t2, &announce(0), &mut stats);
    assert_eq!((stats.announces, stats.epoch_resets), (1, 1));
    let at = c.poll_timeout().unwrap();
    assert!(
        at >= t2 && at <= t2 + Duration::from_secs(5),
        "{:?}",
        at - t2
    );
    c.handle_timeout(at);
    assert_eq!(drain(&mut c).len(), 1);
    let ext2: SocketAddr = "203.0.113.2:6002".parse().unwrap();
    c.handle_response(
        at,
        &map_answer(0, 120, 3, c.nonce(), 5000, ext2),
        &mut stats,
    );
    assert_eq!(
        c.poll_event(),
        Some(ClientEvent::Mapped {
            external: ext2,
            lifetime: Duration::from_secs(120)
        })
    );
    // Delete: lifetime 0, same nonce.
    c.unmap(at, at + Duration::from_secs(2));
    let del = drain(&mut c);
    assert_eq!(del[0][4..8], [0, 0, 0, 0]);
    assert_eq!(del[0][24..36], c.nonce());
}

#[test]
fn errors_and_the_natpmp_fallback() {
    let t0 = Instant::now();
    let mut stats = PortMapStats::default();
    let mut c = client();
    c.map(t0, t0 + Duration::from_secs(5));
    drain(&mut c);
    c.handle_unsupported_version(&mut stats);
    assert!(matches!(
        c.poll_event(),
        Some(ClientEvent::Failed(PortMapError::UnsupportedVersion { .. }))
    ));
    assert!(c.is_idle());
    let mut c = client();
    c.map(t0, t0 + Duration::from_secs(5));
    drain(&mut c);
    let ext: SocketAddr = "0.0.0.0:0".parse().unwrap();
    c.handle_response(t0, &map_answer(2, 30, 1, c.nonce(), 5000, ext), &mut stats);
    match c.poll_event() {
        Some(ClientEvent::Failed(PortMapError::Refused {
            code: 2, meaning, ..
        })) => {
            assert!(meaning.contains("NOT_AUTHORIZED"), "{meaning}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_mapping_granted_after_giving_up_is_deleted() {
    let t0 = Instant::now();
    let mut stats = PortMapStats::default();
    let mut c = client();
    c.map(t0, t0 + Duration::from_secs(5));
    drain(&mut c);
    c.unmap(t0 + Duration::from_secs(5), t0 + Duration::from_secs(7));
    assert!(drain(&mut c).is_empty(), "nothing was mapped yet");
    let ext: SocketAddr = "203.0.113.2:6000".parse().unwrap();
    c.handle_response(
        t0 + Duration::from_secs(6),
        &map_answer(0, 7200, 1, c.nonce(), 5000, ext),
        &mut stats,
    );
    assert_eq!(stats.dropped_unexpected, 1);
    assert_eq!(c.poll_event(), None);
    let del = drain(&mut c);
    assert_eq!(del.len(), 1);
    assert_eq!(
        del[0][4..8],
        [0, 0, 0, 0],
        "lifetime 0 deletes the late mapping"
    );
}
