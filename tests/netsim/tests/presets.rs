//! Every preset, probed with raw endpoints: its true mapping and filtering
//! behaviour, hairpinning and port assignment, classified the RFC 5780 way.

mod common;
use common::*;
use pinhole_netsim::endpoints::EchoServer;
use pinhole_netsim::{Behaviour, LinkSpec, Preset, TcpCommand, TcpEvent};
use std::time::Duration;

/// Classifies a NAT from the outside, like RFC 5780 tests I-III plus hairpin and port probes.
fn classify(w: &mut common::World<EchoServer>) -> Option<Truth> {
    // Mapping: the same local port to S1:P1, S2:P1, S2:P2.
    let a = w.observe(5000, sa(S1, P1))?;
    let nat = a != w.peer.local(5000);
    let b = w.observe(5000, sa(S2, P1)).expect("reply from S2");
    let c = w.observe(5000, sa(S2, P2)).expect("reply from S2:P2");
    let mapping = if a == b {
        assert_eq!(a, c);
        Behaviour::EndpointIndependent
    } else if b == c {
        Behaviour::AddressDependent
    } else {
        Behaviour::AddressAndPortDependent
    };
    // Filtering: a fresh port talks to S1:P1 only, then asks for replies from elsewhere.
    assert!(w.observe(6000, sa(S1, P1)).is_some());
    let other_ip = w.exchange(6000, sa(S1, P1), EchoServer::probe_from(sa(S2, P2)));
    let other_port = w.exchange(6000, sa(S1, P1), EchoServer::probe_from(sa(S1, P2)));
    let filtering = if !other_ip.is_empty() {
        assert_eq!(other_ip[0].0, sa(S2, P2));
        Behaviour::EndpointIndependent
    } else if !other_port.is_empty() {
        Behaviour::AddressDependent
    } else {
        Behaviour::AddressAndPortDependent
    };
    // Hairpinning: send to our own mapped address from the same port (RFC 5780 §4.5).
    let mapped = w.observe(7000, sa(S1, P1))?;
    let src = w.peer.local(7000);
    w.net
        .endpoint_mut(w.client)
        .send(src, mapped, b"hairpin".to_vec());
    w.net.run_for(Duration::from_secs(1));
    let hairpin = w
        .net
        .endpoint_mut(w.client)
        .take()
        .iter()
        .any(|(_, d)| d.payload == b"hairpin");
    // Ports: fresh mappings from consecutive local ports.
    let ports: Vec<u16> = (9000..9004)
        .map(|p| w.observe(p, sa(S1, P1)).unwrap().port())
        .collect();
    let ports = if ports == [9000, 9001, 9002, 9003] {
        Ports::Preserving
    } else if ports.windows(2).all(|x| x[1] == x[0] + 1) {
        Ports::Sequential
    } else {
        Ports::Random
    };
    Some(Truth {
        nat,
        mapping,
        filtering,
        hairpin,
        ports,
    })
}

/// Classifies `preset` over three seeds and checks it against the truth table.
fn expect(preset: Preset) {
    let truth = truth(preset).expect("a preset that passes UDP");
    for seed in [1, 2, 3] {
        let mut w = echo_world(seed, preset);
        let got = classify(&mut w).unwrap_or_else(|| panic!("{}: no UDP reply", preset.name()));
        assert_eq!(got, truth, "preset {} seed {seed}", preset.name());
    }
}

#[test]
fn open_has_no_translation() {
    expect(Preset::Open);
    let mut w = echo_world(1, Preset::Open);
    assert_eq!(w.observe(5000, sa(S1, P1)), Some(w.peer.local(5000)));
}

#[test]
fn full_cone() {
    expect(Preset::FullCone);
}

#[test]
fn restricted_cone() {
    expect(Preset::RestrictedCone);
}

#[test]
fn port_restricted_cone() {
    expect(Preset::PortRestrictedCone);
}

#[test]
fn symmetric_random() {
    expect(Preset::Symmetric);
}

#[test]
fn symmetric_sequential() {
    expect(Preset::SymmetricSequential);
    // Consecutive destinations get consecutive ports too.
    let mut w = echo_world(1, Preset::SymmetricSequential);
    let a = w.observe(5000, sa(S1, P1)).unwrap().port();
    let b = w.observe(5000, sa(S1, P2)).unwrap().port();
    let c = w.observe(5000, sa(S2, P1)).unwrap().port();
    assert_eq!((b, c), (a + 1, a + 2));
}

#[test]
fn carrier_cgnat_is_behind_shared_address_space() {
    let preset = Preset::carrier_cgnat(Duration::from_secs(30));
    expect(preset);
    let mut w = echo_world(1, preset);
    assert!(w.peer.addr.to_string().starts_with("100.64."));
    let m = w.observe(5000, sa(S1, P1)).unwrap();
    assert!((20000..=29999).contains(&m.port()), "{m}");
}

#[test]
fn double_nat_chains_home_router_behind_cgnat() {
    expect(Preset::DoubleNat);
    let mut w = echo_world(1, Preset::DoubleNat);
    assert_eq!(w.peer.nats.len(), 2);
    w.observe(5000, sa(S1, P1)).unwrap();
    let home = w.net.nat(w.peer.nats[0]);
    assert!(home.external_addrs()[0].to_string().starts_with("100.64."));
    assert_eq!(
        home.mappings().next().unwrap().external_port,
        5000,
        "home router preserves"
    );
}

#[test]
fn address_dependent_mapping_is_detected() {
    let mut w = world_with_layers(1, vec![adm_layer()], LinkSpec::default(), EchoServer::new());
    assert_eq!(classify(&mut w), Some(ADM_TRUTH));
}

#[test]
fn udp_blocked_allows_only_tcp_443() {
    assert_eq!(truth(Preset::UdpBlocked), None);
    let mut w = world(
        1,
        Preset::UdpBlocked,
        pinhole_netsim::endpoints::Recorder::new(),
    );
    assert!(w.observe(5000, sa(S1, P1)).is_none());
    let nat = w.peer.nat().unwrap();
    assert_eq!(w.net.nat_stats(nat).dropped_firewall, 1);
    w.net
        .endpoint_mut(w.server)
        .tcp(TcpCommand::Listen { port: 443 });
    w.net
        .endpoint_mut(w.server)
        .tcp(TcpCommand::Listen { port: 80 });
    let any = sa("0.0.0.0".parse().unwrap(), 0);
    w.net.endpoint_mut(w.client).tcp(TcpCommand::Connect {
        token: 1,
        local: any,
        remote: sa(S1, 443),
    });
    w.net.endpoint_mut(w.client).tcp(TcpCommand::Connect {
        token: 2,
        local: any,
        remote: sa(S1, 80),
    });
    w.net.run_for(Duration::from_secs(10));
    let ev: Vec<_> = w
        .net
        .endpoint(w.client)
        .tcp_events
        .iter()
        .map(|(_, e)| e.clone())
        .collect();
    let conn = match &ev[0] {
        TcpEvent::Connected { token: 1, conn, .. } => *conn,
        e => panic!("unexpected {e:?}"),
    };
    assert!(
        matches!(&ev[1], TcpEvent::ConnectFailed { token: 2, reason } if reason.contains("timed out"))
    );
    // Bytes flow both ways, in order.
    w.net.endpoint_mut(w.client).tcp(TcpCommand::Send {
        conn,
        data: b"hello".to_vec(),
    });
    w.net.endpoint_mut(w.client).tcp(TcpCommand::Send {
        conn,
        data: b"world".to_vec(),
    });
    w.net.run_for(Duration::from_secs(1));
    let sev: Vec<_> = w
        .net
        .endpoint(w.server)
        .tcp_events
        .iter()
        .map(|(_, e)| e.clone())
        .collect();
    let (sconn, remote) = match &sev[0] {
        TcpEvent::Accepted { conn, remote, .. } => (*conn, *remote),
        e => panic!("unexpected {e:?}"),
    };
    assert_eq!(
        remote.ip(),
        w.net.nat(nat).external_addrs()[0],
        "server sees the NAT's address"
    );
    assert_eq!(
        sev[1],
        TcpEvent::Data {
            conn: sconn,
            data: b"hello".to_vec()
        }
    );
    assert_eq!(
        sev[2],
        TcpEvent::Data {
            conn: sconn,
            data: b"world".to_vec()
        }
    );
    w.net.endpoint_mut(w.server).tcp(TcpCommand::Send {
        conn: sconn,
        data: b"back".to_vec(),
    });
    w.net
        .endpoint_mut(w.server)
        .tcp(TcpCommand::Close { conn: sconn });
    w.net.run_for(Duration::from_secs(1));
    let ev: Vec<_> = w
        .net
        .endpoint(w.client)
        .tcp_events
        .iter()
        .map(|(_, e)| e.clone())
        .collect();
    assert_eq!(
        ev[2],
        TcpEvent::Data {
            conn,
            data: b"back".to_vec()
        }
    );
    assert_eq!(ev[3], TcpEvent::Closed { conn });
}

#[test]
fn tcp_to_closed_port_is_refused() {
    let mut w = world(1, Preset::Open, pinhole_netsim::endpoints::Recorder::new());
    let local = w.peer.local(0);
    w.net.endpoint_mut(w.client).tcp(TcpCommand::Connect {
        token: 7,
        local,
        remote: sa(S1, 8080),
    });
    w.net.run_for(Duration::from_secs(1));
    let ev = &w.net.endpoint(w.client).tcp_events;
    assert!(
        matches!(&ev[0].1, TcpEvent::ConnectFailed { token: 7, reason } if reason.contains("refused"))
    );
}

#[test]
fn tcp_server_behind_nat_is_unreachable() {
    // An inbound SYN finds no mapping: the NAT drops it and connect times out.
    let mut net = pinhole_netsim::Internet::new(1);
    let out = net.peer("outside", Preset::Open, Duration::from_millis(5));
    let inside = net.peer("inside", Preset::FullCone, Duration::from_millis(5));
    let a = net.attach(out.host, pinhole_netsim::endpoints::Recorder::new());
    let b = net.attach(inside.host, pinhole_netsim::endpoints::Recorder::new());
    net.endpoint_mut(b).tcp(TcpCommand::Listen { port: 443 });
    let public = net.nat(inside.nat().unwrap()).external_addrs()[0];
    net.endpoint_mut(a).tcp(TcpCommand::Connect {
        token: 1,
        local: out.local(0),
        remote: sa(public, 443),
    });
    net.run_for(Duration::from_secs(6));
    assert!(matches!(
        net.endpoint(a).tcp_events[0].1,
        TcpEvent::ConnectFailed { .. }
    ));
    assert_eq!(net.nat_stats(inside.nat().unwrap()).dropped_no_mapping, 1);
}
