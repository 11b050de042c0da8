//! Pinhole's `PortMapper` against the netsim port-mapping gateway model (NAT-PMP, PCP,
//! UPnP-IGD on the home NAT's LAN address, installing real static mappings): behind a
//! symmetric NAT an outside host reaches the socket only through the mapping; renewals at
//! exactly half the lease; re-mapping after a gateway reboot; deletion on close; hostile
//! gateways end in clear diagnostics.

use pinhole::portmap::{PortMapConfig, PortMapError, PortMapEvent, Protocol, Protocols};
use pinhole_netsim::endpoints::Recorder;
use pinhole_netsim::portmap_endpoint::PortMapperEndpoint;
use pinhole_netsim::portmap_server::{Hostile, PortMapServer, PortMapServerConfig};
use pinhole_netsim::{Behaviour, EndpointId, Internet, Peer, Preset};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

const PORT: u16 = 5000;
const OUTSIDE: &str = "192.0.2.77";

struct World {
    net: Internet,
    peer: Peer,
    t0: Instant,
    server: EndpointId<PortMapServer>,
    mapper: EndpointId<PortMapperEndpoint>,
    outside: EndpointId<Recorder>,
    external_ip: IpAddr,
}

fn world(
    seed: u64,
    server: impl FnOnce(PortMapServerConfig) -> PortMapServerConfig,
    protocols: Protocols,
    lifetime: Duration,
) -> World {
    let mut net = Internet::new(seed);
    let outside_host = net.server("outside", &[OUTSIDE.parse().unwrap()]);
    let outside = net.attach(outside_host, Recorder::new());
    let peer = net.peer("alice", Preset::Symmetric, Duration::from_millis(20));
    let (host, lan_ip) = net.add_portmap_host(&peer);
    let external_ip = net.nat(peer.nat().unwrap()).external_addrs()[0];
    let server = net.attach(
        host,
        PortMapServer::new(server(PortMapServerConfig::new(lan_ip, external_ip))),
    );
    let mut config = PortMapConfig::new(peer.local(PORT), lan_ip);
    config.protocols = protocols;
    config.lifetime = lifetime;
    let (t0, mut rng) = (net.now(), net.fork_rng());
    let m = PortMapperEndpoint::new(t0, config, &mut rng);
    let mapper = net.attach_on_ports(peer.host, &[PORT], m);
    World {
        net,
        peer,
        t0,
        server,
        mapper,
        outside,
        external_ip,
    }
}

impl World {
    fn events(&self) -> Vec<(Duration, PortMapEvent)> {
        let e = self.net.endpoint(self.mapper);
        e.events
            .iter()
            .map(|(t, e)| (*t - self.t0, e.clone()))
            .collect()
    }

    fn mapped(&self) -> Option<(Duration, Protocol, SocketAddr)> {
        self.events().into_iter().find_map(|(t, e)| match e {
            PortMapEvent::Mapped {
                protocol, external, ..
            } => Some((t, protocol, external)),
            _ => None,
        })
    }

    fn run_until_mapped(&mut self) -> (Duration, Protocol, SocketAddr) {
        let deadline = self.t0 + Duration::from_secs(10);
        let m = self.mapper;
        self.net
            .run_until_predicate(deadline, |s| s.endpoint(m).mapper().mapping().is_some());
        self.mapped()
            .unwrap_or_else(|| panic!("no mapping: {:?}", self.events()))
    }

    fn run_to(&mut self, secs: u64) {
        let t = self.t0 + Duration::from_secs(secs);
        self.net.run_until(t);
    }

    fn statics(&self) -> Vec<(SocketAddr, u16)> {
        self.net
            .nat(self.peer.nat().unwrap())
            .static_mappings()
            .map(|s| (s.internal, s.external_port))
            .collect()
    }

    /// Sends from the outside host to `to`; returns whether the mapped socket echoed it.
    fn outside_reaches(&mut self, to: SocketAddr, text: &str) -> bool {
        let src: SocketAddr = format!("{OUTSIDE}:7000").parse().unwrap();
        let before = self.net.endpoint(self.outside).received.len();
        self.net
            .endpoint_mut(self.outside)
            .send(src, to, text.as_bytes().to_vec());
        self.net.run_for(Duration::from_millis(200));
        let got = &self.net.endpoint(self.outside).received[before..];
        got.iter()
            .any(|(_, d)| d.payload == text.as_bytes() && d.src == to)
    }
}

#[test]
fn each_protocol_maps_behind_a_symmetric_nat_and_the_outside_reaches_the_socket() {
    for p in Protocol::ALL {
        let mut w = world(1, |c| c, Protocols::only(p), Duration::from_secs(7200));
        let nat = w.peer.nat().unwrap();
        assert_eq!(
            w.net.nat(nat).cfg.mapping,
            Behaviour::AddressAndPortDependent
        );
        let (at, protocol, external) = w.run_until_mapped();
        assert_eq!(protocol, p);
        assert_eq!(external.ip(), w.external_ip, "{p}");
        // The LAN takes no time; UPnP needs its HTTP exchanges, still at time zero.
        assert!(at <= Duration::from_millis(250), "{p} mapped after {at:?}");
        assert_eq!(
            w.statics(),
            vec![(w.peer.local(PORT), external.port())],
            "{p}"
        );
        assert!(
            w.outside_reaches(external, "hello"),
            "{p}: outside cannot reach {external}"
        );
        // Anywhere else the symmetric NAT still drops unsolicited traffic.
        let beside = SocketAddr::new(w.external_ip, external.port().wrapping_add(1));
        assert!(!w.outside_reaches(beside, "beside"), "{p}");
        let e = w.net.endpoint(w.mapper);
        assert_eq!(e.received.len(), 1, "{p}");
        assert_eq!(e.received[0].1.dst, w.peer.local(PORT), "{p}");
        assert_eq!(e.mapper().stats().dropped_malformed, 0, "{p}");
    }
}

#[test]
fn with_all_three_offered_pcp_holds_the_only_mapping() {
    let mut w = world(2, |c| c, Protocols::default(), Duration::from_secs(7200));
    let (at, protocol, _) = w.run_until_mapped();
    assert_eq!((at, protocol), (Duration::ZERO, Protocol::Pcp));
    w.run_to(10);
    let s = w.net.endpoint(w.server);
    assert_eq!(s.count("nat-pmp", "map"), 0);
    assert_eq!(
        s.count("upnp", "AddPortMapping") + s.count("upnp", "AddAnyPortMapping"),
        0
    );
    assert_eq!(s.count("nat-pmp", "external"), 1, "probed, not mapped");
    assert_eq!(
        s.count("upnp", "GetExternalIPAddress"),
        1,
        "probed, not mapped"
    );
    assert_eq!(w.statics().len(), 1);
    let ev = w.events();
    for p in [Protocol::NatPmp, Protocol::Upnp] {
        assert!(ev.iter().any(|(_, e)| matches!(e, PortMapEvent::Available { protocol, external_ip: Some(ip) } if *protocol == p && *ip == w.external_ip)), "{p}: {ev:?}");
    }
}

/// The virtual times at which the server saw mapping requests (renewals included).
fn map_times(w: &World, p: Protocol) -> Vec<Duration> {
    let (proto, what): (&str, &[&str]) = match p {
        Protocol::Pcp => ("pcp", &["map"]),
        Protocol::NatPmp => ("nat-pmp", &["map"]),
        Protocol::Upnp => ("upnp", &["AddPortMapping", "AddAnyPortMapping"]),
    };
    w.net
        .endpoint(w.server)
        .seen
        .iter()
        .filter(|s| s.protocol == proto && what.contains(&s.what.as_str()))
        .map(|s| s.at - w.t0)
        .collect()
}

#[test]
fn mappings_are_renewed_at_exactly_half_the_lease_and_outlive_it() {
    for p in Protocol::ALL {
        let mut w = world(3, |c| c, Protocols::only(p), Duration::from_secs(120));
        let (_, _, external) = w.run_until_mapped();
        w.run_to(250);
        let secs: Vec<u64> = map_times(&w, p).iter().map(|d| d.as_secs()).collect();
        let exact = map_times(&w, p).iter().all(|d| d.subsec_nanos() == 0);
        assert_eq!(secs, vec![0, 60, 120, 180, 240], "{p}");
        assert!(exact, "{p}: renewals at whole seconds of virtual time");
        // Past the first lease (120 s) the mapping still stands, on the same port.
        assert!(w.outside_reaches(external, "still here"), "{p}");
        let e = w.net.endpoint(w.mapper);
        assert_eq!(e.mapper().stats().renewals, 4, "{p}");
        assert_eq!(
            w.events().len(),
            if p == Protocol::Pcp { 1 } else { 2 },
            "{p}: {:?}",
            w.events()
        );
    }
}

#[test]
fn after_a_gateway_reboot_every_protocol_maps_again() {
    for p in Protocol::ALL {
        let mut w = world(4, |c| c, Protocols::only(p), Duration::from_secs(120));
        let (_, _, external) = w.run_until_mapped();
        w.run_to(30);
        let g = w.peer.nat().unwrap();
        w.net.nat_reboot(g);
        assert!(w.statics().is_empty(), "the reboot forgot it");
        assert!(!w.outside_reaches(external, "lost"), "{p}");
        // PCP: the unsolicited ANNOUNCE brings a re-map within 5 s. NAT-PMP and UPnP learn
        // at the renewal (t = 60 s): NAT-PMP by the epoch, UPnP by re-adding.
        let by = if p == Protocol::Pcp { 36 } else { 61 };
        w.run_to(by);
        assert_eq!(w.statics().len(), 1, "{p}: re-mapped by {by} s");
        let now_external = w
            .net
            .endpoint(w.mapper)
            .mapper()
            .mapping()
            .unwrap()
            .external;
        assert!(w.outside_reaches(now_external, "back"), "{p}");
        let stats = w.net.endpoint(w.mapper).mapper().stats().clone();
        match p {
            Protocol::Pcp => {
                assert_eq!(stats.announces, 1);
                let t = map_times(&w, p);
                assert!(
                    t[1] >= Duration::from_secs(30) && t[1] <= Duration::from_secs(35),
                    "{t:?}"
                );
            }
            Protocol::NatPmp => assert_eq!(stats.epoch_resets, 1),
            Protocol::Upnp => {}
        }
        // A new port after the reboot is a Changed event; the same one, nothing.
        let changed = w
            .events()
            .iter()
            .any(|(_, e)| matches!(e, PortMapEvent::Changed { .. }));
        assert_eq!(changed, now_external != external, "{p}: {:?}", w.events());
    }
}

#[test]
fn close_deletes_the_mapping() {
    for p in Protocol::ALL {
        let mut w = world(5, |c| c, Protocols::only(p), Duration::from_secs(7200));
        let (_, _, external) = w.run_until_mapped();
        w.run_to(10);
        let now = w.net.now();
        w.net.endpoint_mut(w.mapper).close(now);
        let m = w.mapper;
        let closed = w
            .net
            .run_until_predicate(now + Duration::from_secs(3), |s| {
                s.endpoint(m).mapper().is_closed()
            });
        assert!(closed, "{p}");
        assert!(w.statics().is_empty(), "{p}: {:?}", w.statics());
        assert!(!w.outside_reaches(external, "gone"), "{p}");
        let s = w.net.endpoint(w.server);
        let deletes = match p {
            Protocol::Pcp => s.count("pcp", "delete"),
            Protocol::NatPmp => s.count("nat-pmp", "delete"),
            Protocol::Upnp => s.count("upnp", "DeletePortMapping"),
        };
        assert_eq!(deletes, 1, "{p}");
    }
}

#[test]
fn a_natpmp_only_gateway_makes_pcp_fall_back() {
    let mut w = world(
        6,
        |c| c.only(false, true, false),
        Protocols::default(),
        Duration::from_secs(7200),
    );
    let (_, protocol, _) = w.run_until_mapped();
    assert_eq!(protocol, Protocol::NatPmp);
    assert!(w.events().iter().any(|(_, e)| matches!(
        e,
        PortMapEvent::Unavailable {
            protocol: Protocol::Pcp,
            reason: PortMapError::UnsupportedVersion { .. }
        }
    )));
}

#[test]
fn an_igd_v1_with_permanent_leases_only_maps_with_lease_zero_and_deletes_on_close() {
    let mut w = world(
        7,
        |mut c| {
            c.upnp_version = 1;
            c.permanent_leases_only = true;
            c
        },
        Protocols::only(Protocol::Upnp),
        Duration::from_secs(120),
    );
    w.run_until_mapped();
    let lifetime = w.events().iter().find_map(|(_, e)| match e {
        PortMapEvent::Mapped { lifetime, .. } => Some(*lifetime),
        _ => None,
    });
    assert_eq!(lifetime, Some(Duration::MAX));
    w.run_to(400);
    assert_eq!(
        map_times(&w, Protocol::Upnp).len(),
        2,
        "725, then lease 0; never renewed"
    );
    assert_eq!(w.statics().len(), 1, "an infinite lease stays");
    let now = w.net.now();
    w.net.endpoint_mut(w.mapper).close(now);
    w.net.run_for(Duration::from_secs(3));
    assert!(w.statics().is_empty());
}

fn unavailable(w: &World, p: Protocol) -> PortMapError {
    w.events()
        .into_iter()
        .find_map(|(_, e)| match e {
            PortMapEvent::Unavailable { protocol, reason } if protocol == p => Some(reason),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{p}: {:?}", w.events()))
}

#[test]
fn hostile_gateways_end_in_clear_diagnostics() {
    // Wrong PCP nonce: every answer is dropped; PCP is unavailable at the budget (5 s).
    let mut w = world(
        8,
        |mut c| {
            c.hostile.wrong_nonce = true;
            c.only(true, false, false)
        },
        Protocols::only(Protocol::Pcp),
        Duration::from_secs(7200),
    );
    w.run_to(10);
    let e = unavailable(&w, Protocol::Pcp);
    assert!(
        matches!(e, PortMapError::NoResponse { waited, .. } if waited == Duration::from_secs(5)),
        "{e}"
    );
    let stats = w.net.endpoint(w.mapper).mapper().stats().clone();
    assert_eq!(
        stats.dropped_wrong_nonce, 2,
        "sent at 0 and ~3 s (IRT), both answered wrongly"
    );
    assert!(w.net.endpoint(w.mapper).mapper().mapping().is_none());

    // An oversized device description.
    let mut w = world(
        9,
        |mut c| {
            c.hostile.oversized_description = Some(200_000);
            c
        },
        Protocols::only(Protocol::Upnp),
        Duration::from_secs(7200),
    );
    w.run_to(10);
    let e = unavailable(&w, Protocol::Upnp);
    assert!(e.to_string().contains("larger than 65536 bytes"), "{e}");
    assert_eq!(
        w.net.endpoint(w.mapper).mapper().stats().dropped_oversized,
        1
    );

    // A private external address (the gateway is itself behind a carrier NAT).
    let mut w = world(
        10,
        |mut c| {
            c.hostile = Hostile {
                external_ip: Some("100.64.3.4".parse().unwrap()),
                ..Hostile::default()
            };
            c
        },
        Protocols::default(),
        Duration::from_secs(7200),
    );
    w.run_to(10);
    for p in Protocol::ALL {
        let e = unavailable(&w, p);
        assert!(e.is_double_nat(), "{p}: {e}");
        assert!(e.to_string().contains("second NAT"), "{e}");
    }
    assert!(w.net.endpoint(w.mapper).mapper().mapping().is_none());
    assert!(
        w.statics().is_empty(),
        "the PCP mapping it was given is deleted: {:?}",
        w.statics()
    );
}
