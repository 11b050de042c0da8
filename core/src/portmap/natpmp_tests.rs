use super::*;

const GW: &str = "10.1.0.1";

fn gw() -> IpAddr {
    GW.parse().unwrap()
}

fn local() -> SocketAddr {
    "10.1.0.2:5000".parse().unwrap()
}

/// A gateway's external address answer (RFC 6886 §3.2 layout).
pub(crate) fn external_answer(epoch: u32, ip: [u8; 4]) -> Vec<u8> {
    let mut b = vec![0, 128, 0, 0];
    b.extend_from_slice(&epoch.to_be_bytes());
    b.extend_from_slice(&ip);
    b
}

/// A gateway's mapping answer (§3.3 layout).
pub(crate) fn map_answer(epoch: u32, internal: u16, external: u16, lifetime: u32) -> Vec<u8> {
    let mut b = vec![0, 129, 0, 0];
    b.extend_from_slice(&epoch.to_be_bytes());
    b.extend_from_slice(&internal.to_be_bytes());
    b.extend_from_slice(&external.to_be_bytes());
    b.extend_from_slice(&lifetime.to_be_bytes());
    b
}

fn drain(c: &mut NatPmpClient) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    while let Some(t) = c.poll_transmit() {
        assert_eq!(t.to, SocketAddr::new(gw(), 5351));
        assert_eq!(t.from, local());
        v.push(t.bytes);
    }
    v
}

#[test]
fn request_layouts_match_rfc_6886() {
    assert_eq!(encode_external_address_request(), [0, 0]);
    assert_eq!(
        encode_map_request(0x1388, 0x1389, 7200),
        [0, 1, 0, 0, 0x13, 0x88, 0x13, 0x89, 0, 0, 0x1c, 0x20]
    );
    assert_eq!(encode_map_request(5000, 0, 0)[6..], [0, 0, 0, 0, 0, 0]);
}

#[test]
fn response_decoding_and_hostile_shapes() {
    assert_eq!(
        decode_response(&external_answer(7, [203, 0, 113, 2])),
        Ok(Response::ExternalAddress {
            epoch: 7,
            ip: Ipv4Addr::new(203, 0, 113, 2)
        })
    );
    assert_eq!(
        decode_response(&map_answer(9, 5000, 6000, 3600)),
        Ok(Response::Map {
            epoch: 9,
            internal_port: 5000,
            external_port: 6000,
            lifetime: 3600
        })
    );
    // An error answer may be short; the result code is what matters.
    assert_eq!(
        decode_response(&[0, 129, 0, 2, 0, 0, 0, 5]),
        Ok(Response::Error {
            opcode: 1,
            result: 2,
            epoch: Some(5)
        })
    );
    assert_eq!(
        decode_response(&map_answer(9, 5000, 6000, 3600)[..15]),
        Err(DecodeError::Truncated)
    );
    assert_eq!(decode_response(&[0, 128, 0]), Err(DecodeError::Truncated));
    assert_eq!(
        decode_response(&[1, 128, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]),
        Err(DecodeError::WrongVersion)
    );
    assert_eq!(
        decode_response(&[0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        Err(DecodeError::WrongOpcode)
    );
    assert_eq!(
        decode_response(&[0, 130, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        Err(DecodeError::WrongOpcode)
    );
}

#[test]
fn retransmits_on_the_section_3_1_schedule_within_the_budget() {
    let t0 = Instant::now();
    let mut c = NatPmpClient::new(gw(), local(), Duration::from_secs(7200));
    c.probe(t0, t0 + Duration::from_secs(5));
    let mut sends = vec![Duration::ZERO];
    assert_eq!(drain(&mut c), vec![vec![0, 0]]);
    while let Some(t) = c.poll_timeout() {
        c.handle_timeout(t);
        if !drain(&mut c).is_empty() {
            sends.push(t - t0);
        }
        if let Some(ClientEvent::Failed(e)) = c.poll_event() {
            assert!(
                matches!(e, PortMapError::NoResponse { waited, .. } if waited == Duration::from_secs(5)),
                "{e}"
            );
            assert_eq!(t - t0, Duration::from_secs(5));
            break;
        }
    }
    let ms: Vec<u128> = sends.iter().map(|d| d.as_millis()).collect();
    assert_eq!(ms, [0, 250, 750, 1750, 3750]);
}

fn mapped_client(t0: Instant, lifetime: u32) -> NatPmpClient {
    let mut stats = PortMapStats::default();
    let mut c = NatPmpClient::new(gw(), local(), Duration::from_secs(7200));
    c.probe(t0, t0 + Duration::from_secs(5));
    drain(&mut c);
    c.handle_response(t0, &external_answer(100, [203, 0, 113, 2]), &mut stats);
    assert_eq!(
        c.poll_event(),
        Some(ClientEvent::Available(Some("203.0.113.2".parse().unwrap())))
    );
    c.map(t0, t0 + Duration::from_secs(5));
    assert_eq!(
        drain(&mut c),
        vec![encode_map_request(5000, 5000, 7200).to_vec()]
    );
    c.handle_response(t0, &map_answer(100, 5000, 6000, lifetime), &mut stats);
    assert_eq!(
        c.poll_event(),
        Some(ClientEvent::Mapped {
            external: "203.0.113.2:6000".parse().unwrap(),
            lifetime: Duration::from_secs(u64::from(lifetime))
        })
    );
    c
}

#[test]
fn renews_at_half_the_granted_lifetime_with_the_same_port() {
    let t0 = Instant::now();
    let mut c = mapped_client(t0, 120);
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(60)));
    let t = t0 + Duration::from_secs(60);
    c.handle_timeout(t);
    assert_eq!(
        drain(&mut c),
        vec![vec![0, 0]],
        "the external address is checked first"
    );
    let mut stats = PortMapStats::default();
    c.handle_response(t, &external_answer(160, [203, 0, 113, 2]), &mut stats);
    assert_eq!(
        drain(&mut c),
        vec![encode_map_request(5000, 6000, 7200).to_vec()],
        "suggests the port it has"
    );
    c.handle_response(t, &map_answer(160, 5000, 6000, 120), &mut stats);
    assert!(matches!(c.poll_event(), Some(ClientEvent::Mapped { .. })));
    assert_eq!(c.poll_timeout(), Some(t + Duration::from_secs(60)));
    assert_eq!(stats.epoch_resets, 0);
}

#[test]
fn an_epoch_reset_maps_again() {
    let t0 = Instant::now();
    let mut c = mapped_client(t0, 7200);
    let mut stats = PortMapStats::default();
    // A renewal 3600 s later sees an epoch of 10: the gateway rebooted.
    let t = t0 + Duration::from_secs(3600);
    c.handle_timeout(t);
    drain(&mut c);
    c.handle_response(t, &external_answer(10, [203, 0, 113, 2]), &mut stats);
    assert_eq!(stats.epoch_resets, 1);
    assert_eq!(c.poll_event(), Some(ClientEvent::Reset));
    // The whole mapping is requested anew (address first, then the port, suggesting
    // the socket's own port as a fresh mapping does).
    assert_eq!(drain(&mut c), vec![vec![0, 0]]);
    c.handle_response(t, &external_answer(10, [203, 0, 113, 2]), &mut stats);
    assert_eq!(
        drain(&mut c),
        vec![encode_map_request(5000, 5000, 7200).to_vec()]
    );
    c.handle_response(t, &map_answer(10, 5000, 6001, 7200), &mut stats);
    assert_eq!(
        c.poll_event(),
        Some(ClientEvent::Mapped {
            external: "203.0.113.2:6001".parse().unwrap(),
            lifetime: Duration::from_secs(7200)
        })
    );
}

#[test]
fn unmap_sends_lifetime_zero_and_stray_answers_are_counted() {
    let t0 = Instant::now();
    let mut c = mapped_client(t0, 7200);
    let mut stats = PortMapStats::default();
    c.handle_response(t0, &map_answer(100, 5000, 6000, 7200), &mut stats);
    assert_eq!(stats.dropped_unexpected, 1, "nothing outstanding");
    c.unmap(t0, t0 + Duration::from_secs(2));
    assert_eq!(drain(&mut c), vec![encode_map_request(5000, 0, 0).to_vec()]);
    assert!(!c.is_idle());
    c.handle_response(t0, &map_answer(100, 5001, 0, 0), &mut stats);
    assert_eq!(stats.dropped_unexpected, 2, "another internal port");
    c.handle_response(t0, &map_answer(100, 5000, 0, 0), &mut stats);
    assert!(c.is_idle());
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn refusal_is_an_actionable_error() {
    let t0 = Instant::now();
    let mut c = NatPmpClient::new(gw(), local(), Duration::from_secs(7200));
    let mut stats = PortMapStats::default();
    c.probe(t0, t0 + Duration::from_secs(5));
    drain(&mut c);
    c.handle_response(t0, &[0, 128, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0], &mut stats);
    match c.poll_event() {
        Some(ClientEvent::Failed(e)) => assert!(e.to_string().contains("enable NAT-PMP"), "{e}"),
        other => panic!("{other:?}"),
    }
}
