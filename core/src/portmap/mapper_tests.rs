use super::*;
use crate::portmap::natpmp::tests::{external_answer, map_answer as natpmp_map};
use crate::portmap::pcp::tests::map_answer as pcp_map;
use rand::rngs::StdRng;

const LOCAL: &str = "10.1.0.2:5000";
const GW: &str = "10.1.0.1";

fn gw() -> IpAddr {
    GW.parse().unwrap()
}

fn server() -> SocketAddr {
    SocketAddr::new(gw(), 5351)
}

/// A scripted gateway: which protocols answer, with what external address.
struct Fake {
    pcp: bool,
    natpmp: bool,
    external: [u8; 4],
    epoch: u32,
    /// Requests seen: (opcode-ish label, lifetime).
    seen: Vec<(&'static str, u32)>,
}

impl Fake {
    fn new(pcp: bool, natpmp: bool) -> Self {
        Fake {
            pcp,
            natpmp,
            external: [203, 0, 113, 2],
            epoch: 100,
            seen: Vec::new(),
        }
    }

    /// Answers every datagram the mapper sends to 5351 (SSDP goes unanswered).
    fn answer(&mut self, m: &mut PortMapper, now: Instant) {
        loop {
            let sent: Vec<Transmit> = std::iter::from_fn(|| m.poll_transmit()).collect();
            if sent.is_empty() {
                return;
            }
            self.answer_batch(m, now, sent);
        }
    }

    fn answer_batch(&mut self, m: &mut PortMapper, now: Instant, sent: Vec<Transmit>) {
        for t in sent {
            if t.to != server() {
                continue;
            }
            let b = &t.bytes;
            let reply = match b[0] {
                2 => {
                    let lifetime = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
                    self.seen.push(("pcp-map", lifetime));
                    if self.pcp {
                        let mut nonce = [0; 12];
                        nonce.copy_from_slice(&b[24..36]);
                        let ext = SocketAddr::new(IpAddr::from(self.external), 6000);
                        Some(pcp_map(0, lifetime, self.epoch, nonce, 5000, ext))
                    } else if self.natpmp {
                        Some(vec![0, 129, 0, 1, 0, 0, 0, 0])
                    } else {
                        None
                    }
                }
                0 if b[1] == 0 => {
                    self.seen.push(("natpmp-ext", 0));
                    self.natpmp
                        .then(|| external_answer(self.epoch, self.external))
                }
                0 => {
                    let lifetime = u32::from_be_bytes([b[8], b[9], b[10], b[11]]);
                    self.seen.push(("natpmp-map", lifetime));
                    self.natpmp.then(|| {
                        natpmp_map(
                            self.epoch,
                            5000,
                            if lifetime == 0 { 0 } else { 7000 },
                            lifetime,
                        )
                    })
                }
                _ => None,
            };
            if let Some(r) = reply {
                assert!(m.handle_datagram(now, server(), &r));
            }
        }
    }
}

fn mapper(now: Instant, protocols: Protocols) -> PortMapper {
    let mut cfg = PortMapConfig::new(LOCAL.parse().unwrap(), gw());
    cfg.protocols = protocols;
    PortMapper::new(now, cfg, &mut StdRng::seed_from_u64(3)).unwrap()
}

fn events(m: &mut PortMapper) -> Vec<PortMapEvent> {
    std::iter::from_fn(|| m.poll_event()).collect()
}

/// Runs timers (answering as the fake gateway) until `until`.
fn run(m: &mut PortMapper, g: &mut Fake, mut now: Instant, until: Instant) -> Vec<PortMapEvent> {
    let mut ev = Vec::new();
    g.answer(m, now);
    ev.extend(events(m));
    while let Some(t) = m.poll_timeout().filter(|t| *t <= until) {
        now = t.max(now);
        m.handle_timeout(now);
        g.answer(m, now);
        ev.extend(events(m));
    }
    ev
}

#[test]
fn pcp_is_preferred_and_natpmp_maps_nothing() {
    let t0 = Instant::now();
    let mut m = mapper(t0, Protocols::default());
    let mut g = Fake::new(true, true);
    let ev = run(&mut m, &mut g, t0, t0 + Duration::from_secs(10));
    let ext: SocketAddr = "203.0.113.2:6000".parse().unwrap();
    assert!(
        ev.contains(&PortMapEvent::Mapped {
            protocol: Protocol::Pcp,
            external: ext,
            lifetime: Duration::from_secs(7200)
        }),
        "{ev:?}"
    );
    assert!(ev.contains(&PortMapEvent::Available {
        protocol: Protocol::NatPmp,
        external_ip: Some("203.0.113.2".parse().unwrap())
    }));
    assert!(ev.iter().any(|e| matches!(
        e,
        PortMapEvent::Unavailable {
            protocol: Protocol::Upnp,
            reason: PortMapError::NoResponse { .. }
        }
    )));
    assert_eq!(
        g.seen.iter().filter(|s| s.0 == "natpmp-map").count(),
        0,
        "{:?}",
        g.seen
    );
    assert_eq!(m.mapping().unwrap().external, ext);
    assert!(m.probes_done());
    // Close deletes the PCP mapping, and only it.
    m.close(t0 + Duration::from_secs(10));
    g.seen.clear();
    g.answer(&mut m, t0 + Duration::from_secs(10));
    assert_eq!(g.seen, vec![("pcp-map", 0)]);
    assert!(m.is_closed());
    assert_eq!(m.poll_timeout(), None);
}

#[test]
fn a_natpmp_only_gateway_answers_pcp_with_unsupp_version_and_natpmp_maps_at_once() {
    let t0 = Instant::now();
    let mut m = mapper(
        t0,
        Protocols {
            upnp: false,
            ..Protocols::default()
        },
    );
    let mut g = Fake::new(false, true);
    let ev = run(&mut m, &mut g, t0, t0);
    assert!(
        matches!(
            &ev[0],
            PortMapEvent::Unavailable {
                protocol: Protocol::Pcp,
                reason: PortMapError::UnsupportedVersion { .. }
            }
        ),
        "{ev:?}"
    );
    assert!(
        ev.contains(&PortMapEvent::Mapped {
            protocol: Protocol::NatPmp,
            external: "203.0.113.2:7000".parse().unwrap(),
            lifetime: Duration::from_secs(7200)
        }),
        "{ev:?}"
    );
}

#[test]
fn a_silent_pcp_delays_natpmp_by_the_preference_wait_only() {
    let t0 = Instant::now();
    let mut m = mapper(
        t0,
        Protocols {
            upnp: false,
            ..Protocols::default()
        },
    );
    let mut g = Fake::new(false, true);
    g.natpmp = true;
    // PCP requests vanish: a gateway that drops version 2.
    let mut ev = Vec::new();
    let mut now = t0;
    loop {
        let sent: Vec<Transmit> = std::iter::from_fn(|| m.poll_transmit()).collect();
        for t in sent.into_iter().filter(|t| t.bytes[0] == 0) {
            let reply = if t.bytes[1] == 0 {
                external_answer(1, [203, 0, 113, 2])
            } else {
                natpmp_map(1, 5000, 7000, 7200)
            };
            m.handle_datagram(now, server(), &reply);
        }
        ev.extend(events(&mut m));
        if m.mapping().is_some() {
            break;
        }
        now = m.poll_timeout().unwrap();
        m.handle_timeout(now);
    }
    assert_eq!(now - t0, Duration::from_millis(500));
    assert!(matches!(
        ev.last(),
        Some(PortMapEvent::Mapped {
            protocol: Protocol::NatPmp,
            ..
        })
    ));
}

#[test]
fn a_late_pcp_mapping_takes_over_and_the_extra_one_is_deleted() {
    let t0 = Instant::now();
    let mut m = mapper(
        t0,
        Protocols {
            upnp: false,
            ..Protocols::default()
        },
    );
    let mut g = Fake::new(false, true);
    g.natpmp = true;
    // PCP is dropped at first; NAT-PMP maps after the preference wait.
    let mut now = t0;
    let mut pcp_request = None;
    while m.mapping().is_none() {
        let sent: Vec<Transmit> = std::iter::from_fn(|| m.poll_transmit()).collect();
        for t in sent {
            if t.bytes[0] == 2 {
                pcp_request = Some(t.bytes);
                continue;
            }
            let reply = if t.bytes[1] == 0 {
                external_answer(1, [203, 0, 113, 2])
            } else {
                natpmp_map(1, 5000, 7000, 7200)
            };
            m.handle_datagram(now, server(), &reply);
        }
        if m.mapping().is_none() {
            now = m.poll_timeout().unwrap();
            m.handle_timeout(now);
        }
    }
    events(&mut m);
    // The PCP answer arrives late (still within the budget).
    let req = pcp_request.unwrap();
    let mut nonce = [0; 12];
    nonce.copy_from_slice(&req[24..36]);
    let ext: SocketAddr = "203.0.113.2:6000".parse().unwrap();
    m.handle_datagram(now, server(), &pcp_map(0, 7200, 1, nonce, 5000, ext));
    let ev = events(&mut m);
    assert_eq!(
        ev,
        vec![PortMapEvent::Changed {
            protocol: Protocol::Pcp,
            previous: "203.0.113.2:7000".parse().unwrap(),
            external: ext,
            lifetime: Duration::from_secs(7200)
        }]
    );
    let deletes: Vec<Transmit> = std::iter::from_fn(|| m.poll_transmit()).collect();
    assert_eq!(deletes.len(), 1);
    assert_eq!(
        deletes[0].bytes,
        crate::portmap::natpmp::encode_map_request(5000, 0, 0).to_vec(),
        "the NAT-PMP mapping is deleted"
    );
    assert!(matches!(
        m.status(Protocol::NatPmp),
        ProtocolStatus::Unavailable(PortMapError::Superseded { .. })
    ));
}

#[test]
fn a_private_external_address_is_a_double_nat() {
    let t0 = Instant::now();
    let mut m = mapper(
        t0,
        Protocols {
            upnp: false,
            ..Protocols::default()
        },
    );
    let mut g = Fake::new(true, true);
    g.external = [100, 64, 0, 7];
    let ev = run(&mut m, &mut g, t0, t0 + Duration::from_secs(1));
    for p in [Protocol::Pcp, Protocol::NatPmp] {
        let e = ev.iter().find_map(|e| match e {
            PortMapEvent::Unavailable { protocol, reason } if *protocol == p => {
                Some(reason.clone())
            }
            _ => None,
        });
        let e = e.unwrap_or_else(|| panic!("{p}: {ev:?}"));
        assert!(e.is_double_nat(), "{e}");
        assert!(
            e.to_string().contains("100.64.0.7 is not a public address"),
            "{e}"
        );
    }
    assert_eq!(m.mapping(), None);
    // The PCP mapping it got was deleted at once.
    assert!(g.seen.contains(&("pcp-map", 0)), "{:?}", g.seen);
    assert!(!ev.iter().any(|e| matches!(e, PortMapEvent::Mapped { .. })));
}

#[test]
fn foreign_and_malformed_datagrams_are_dropped_and_counted() {
    let t0 = Instant::now();
    let mut m = mapper(t0, Protocols::default());
    let stranger: SocketAddr = "10.1.0.9:5351".parse().unwrap();
    assert!(m.handle_datagram(t0, stranger, &external_answer(1, [203, 0, 113, 2])));
    assert!(m.handle_datagram(
        t0,
        "10.1.0.9:1900".parse().unwrap(),
        b"HTTP/1.1 200 OK\r\n\r\n"
    ));
    assert_eq!(m.stats().dropped_wrong_source, 2);
    // ICE's traffic is not the mapper's.
    assert!(!m.handle_datagram(t0, "198.51.100.1:3478".parse().unwrap(), &[0, 1, 0, 0]));
    assert!(!m.handle_datagram(t0, SocketAddr::new(gw(), 40000), &[0x40, 0, 0, 4]));
    assert!(m.handle_datagram(t0, server(), &[0, 128]));
    assert!(m.handle_datagram(t0, server(), &[7; 24]));
    assert!(m.handle_datagram(t0, server(), &[2, 0x81, 0, 0]));
    assert_eq!(m.stats().dropped_malformed, 3);
    assert!(m.handle_datagram(
        t0,
        server(),
        &[0, 130, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    ));
    assert_eq!(m.stats().dropped_wrong_opcode, 1);
    assert_eq!(m.mapping(), None);
}

#[test]
fn network_changed_remaps_and_reports_only_a_change() {
    let t0 = Instant::now();
    let mut m = mapper(t0, Protocols::only(Protocol::Pcp));
    let mut g = Fake::new(true, false);
    run(&mut m, &mut g, t0, t0);
    m.network_changed(t0 + Duration::from_secs(1));
    let ev = run(
        &mut m,
        &mut g,
        t0 + Duration::from_secs(1),
        t0 + Duration::from_secs(1),
    );
    assert_eq!(ev, vec![], "same address again: nothing to tell");
    g.external = [203, 0, 113, 9];
    m.network_changed(t0 + Duration::from_secs(2));
    let ev = run(
        &mut m,
        &mut g,
        t0 + Duration::from_secs(2),
        t0 + Duration::from_secs(2),
    );
    assert!(
        matches!(ev.as_slice(), [PortMapEvent::Changed { .. }]),
        "{ev:?}"
    );
    g.pcp = false;
    m.network_changed(t0 + Duration::from_secs(3));
    let ev = run(
        &mut m,
        &mut g,
        t0 + Duration::from_secs(3),
        t0 + Duration::from_secs(20),
    );
    assert!(
        ev.iter().any(|e| matches!(e, PortMapEvent::Lost { .. })),
        "{ev:?}"
    );
}

#[test]
fn config_errors_are_explained() {
    let e = PortMapper::new(
        Instant::now(),
        PortMapConfig::new("0.0.0.0:5000".parse().unwrap(), gw()),
        &mut StdRng::seed_from_u64(1),
    )
    .unwrap_err();
    assert!(e.to_string().contains("concrete local address"), "{e}");
}
