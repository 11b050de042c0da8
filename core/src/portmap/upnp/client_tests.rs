use super::*;
use rand::SeedableRng;

const DESC_V1: &str = r#"<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0"><device>
<deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType><deviceList><device>
<deviceList><device><serviceList><service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType>
<controlURL>/ctl/IPConn</controlURL></service></serviceList></device></deviceList></device></deviceList></device></root>"#;

fn gw() -> IpAddr {
    "10.1.0.1".parse().unwrap()
}

fn local() -> SocketAddr {
    "10.1.0.2:5000".parse().unwrap()
}

fn client() -> UpnpClient {
    UpnpClient::new(
        gw(),
        local(),
        Duration::from_secs(3600),
        "pinhole".into(),
        Duration::from_secs(2),
        SmallRng::seed_from_u64(1),
    )
}

fn ssdp_answer(location: &str) -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nLOCATION: {location}\r\n\r\n").into_bytes()
}

fn http(status: u16, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn soap_ok(action: &str, args: &[(&str, &str)]) -> String {
    let inner: String = args
        .iter()
        .map(|(k, v)| format!("<{k}>{v}</{k}>"))
        .collect();
    format!("<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><u:{action}Response xmlns:u=\"x\">{inner}</u:{action}Response></s:Body></s:Envelope>")
}

fn soap_fault(code: u16) -> String {
    format!("<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><s:Fault><detail><UPnPError><errorCode>{code}</errorCode><errorDescription>E</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>")
}

/// Runs the one pending exchange: expects Connect, answers Connected, takes the request,
/// feeds `answer` in two pieces. Returns the request text.
fn exchange(c: &mut UpnpClient, now: Instant, answer: &[u8], stats: &mut PortMapStats) -> String {
    let Some(StreamRequest::Connect { id, to }) = c.poll_stream_request() else {
        panic!("expected a connect");
    };
    assert_eq!(to.ip(), gw());
    assert!(c.handle_connected(id));
    let Some(StreamRequest::Send { bytes, .. }) = c.poll_stream_request() else {
        panic!("expected the request");
    };
    let half = answer.len() / 2;
    c.handle_data(now, id, &answer[..half], stats);
    c.handle_data(now, id, &answer[half..], stats);
    assert_eq!(c.poll_stream_request(), Some(StreamRequest::Close { id }));
    String::from_utf8(bytes).unwrap()
}

fn discovered(t0: Instant, stats: &mut PortMapStats) -> UpnpClient {
    let mut c = client();
    c.probe(t0, t0 + Duration::from_secs(5));
    let searches: Vec<Transmit> = std::iter::from_fn(|| c.poll_transmit()).collect();
    assert_eq!(
        searches.iter().map(|t| t.to).collect::<Vec<_>>(),
        vec![SSDP_MULTICAST, "10.1.0.1:1900".parse().unwrap()]
    );
    assert!(searches.iter().all(|t| t.from == local()));
    c.handle_ssdp(t0, &ssdp_answer("http://10.1.0.1:5000/rootDesc.xml"), stats);
    let get = exchange(&mut c, t0, &http(200, DESC_V1), stats);
    assert!(
        get.starts_with("GET /rootDesc.xml HTTP/1.1\r\nHost: 10.1.0.1:5000\r\n"),
        "{get}"
    );
    let soap = exchange(
        &mut c,
        t0,
        &http(
            200,
            &soap_ok(
                "GetExternalIPAddress",
                &[("NewExternalIPAddress", "203.0.113.2")],
            ),
        ),
        stats,
    );
    assert!(soap.starts_with("POST /ctl/IPConn HTTP/1.1\r\n"), "{soap}");
    assert!(soap.contains(
        "SOAPAction: \"urn:schemas-upnp-org:service:WANIPConnection:1#GetExternalIPAddress\""
    ));
    assert_eq!(
        c.poll_event(),
        Some(ClientEvent::Available(Some("203.0.113.2".parse().unwrap())))
    );
    c
}

#[test]
fn discovers_and_maps_with_v1_trying_another_port_on_conflict() {
    let t0 = Instant::now();
    let mut stats = PortMapStats::default();
    let mut c = discovered(t0, &mut stats);
    c.map(t0);
    let add = exchange(&mut c, t0, &http(500, &soap_fault(718)), &mut stats);
    assert!(
        add.contains("<NewExternalPort>5000</NewExternalPort>"),
        "{add}"
    );
    assert!(add.contains("<NewInternalClient>10.1.0.2</NewInternalClient>"));
    assert!(add.contains("<NewLeaseDuration>3600</NewLeaseDuration>"));
    let add2 = exchange(
        &mut c,
        t0,
        &http(200, &soap_ok("AddPortMapping", &[])),
        &mut stats,
    );
    let port: u16 = add2
        .split("<NewExternalPort>")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(port, 5000);
    assert_eq!(
        c.poll_event(),
        Some(ClientEvent::Mapped {
            external: SocketAddr::new("203.0.113.2".parse().unwrap(), port),
            lifetime: Duration::from_secs(3600)
        })
    );
    // Renewal at half the lease: the address, then the same port again.
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(1800)));
    let t = t0 + Duration::from_secs(1800);
    c.handle_timeout(t, &mut stats);
    exchange(
        &mut c,
        t,
        &http(
            200,
            &soap_ok(
                "GetExternalIPAddress",
                &[("NewExternalIPAddress", "203.0.113.2")],
            ),
        ),
        &mut stats,
    );
    let renew = exchange(
        &mut c,
        t,
        &http(200, &soap_ok("AddPortMapping", &[])),
        &mut stats,
    );
    assert!(renew.contains(&format!("<NewExternalPort>{port}</NewExternalPort>")));
    assert!(matches!(c.poll_event(), Some(ClientEvent::Mapped { .. })));
    // Delete on close.
    c.unmap(t);
    let del = exchange(
        &mut c,
        t,
        &http(200, &soap_ok("DeletePortMapping", &[])),
        &mut stats,
    );
    assert!(del.contains("#DeletePortMapping\""));
    assert!(del.contains(&format!("<NewExternalPort>{port}</NewExternalPort>")));
    assert!(c.is_idle());
}

#[test]
fn permanent_lease_only_routers_get_lease_zero() {
    let t0 = Instant::now();
    let mut stats = PortMapStats::default();
    let mut c = discovered(t0, &mut stats);
    c.map(t0);
    exchange(&mut c, t0, &http(500, &soap_fault(725)), &mut stats);
    let add = exchange(
        &mut c,
        t0,
        &http(200, &soap_ok("AddPortMapping", &[])),
        &mut stats,
    );
    assert!(add.contains("<NewLeaseDuration>0</NewLeaseDuration>"));
    assert_eq!(
        c.poll_event(),
        Some(ClientEvent::Mapped {
            external: "203.0.113.2:5000".parse().unwrap(),
            lifetime: Duration::MAX
        })
    );
    assert_eq!(c.poll_timeout(), None, "an infinite lease is never renewed");
    c.unmap(t0);
    assert!(exchange(
        &mut c,
        t0,
        &http(200, &soap_ok("DeletePortMapping", &[])),
        &mut stats
    )
    .contains("DeletePortMapping"));
}

#[test]
fn v2_uses_add_any_port_mapping_and_falls_back_on_401() {
    let t0 = Instant::now();
    let mut stats = PortMapStats::default();
    let mut c = client();
    c.probe(t0, t0 + Duration::from_secs(5));
    while c.poll_transmit().is_some() {}
    c.handle_ssdp(t0, &ssdp_answer("http://10.1.0.1:5000/d.xml"), &mut stats);
    let v2 = DESC_V1.replace("WANIPConnection:1", "WANIPConnection:2");
    exchange(&mut c, t0, &http(200, &v2), &mut stats);
    exchange(
        &mut c,
        t0,
        &http(
            200,
            &soap_ok(
                "GetExternalIPAddress",
                &[("NewExternalIPAddress", "203.0.113.2")],
            ),
        ),
        &mut stats,
    );
    let _ = c.poll_event();
    c.map(t0);
    let any = exchange(
        &mut c,
        t0,
        &http(
            200,
            &soap_ok("AddAnyPortMapping", &[("NewReservedPort", "40000")]),
        ),
        &mut stats,
    );
    assert!(any.contains("#AddAnyPortMapping\""), "{any}");
    assert_eq!(
        c.poll_event(),
        Some(ClientEvent::Mapped {
            external: "203.0.113.2:40000".parse().unwrap(),
            lifetime: Duration::from_secs(3600)
        })
    );
    c.unmap(t0);
    exchange(
        &mut c,
        t0,
        &http(200, &soap_ok("DeletePortMapping", &[])),
        &mut stats,
    );
    // A "v2" that does not implement AddAnyPortMapping.
    let mut c = client();
    c.probe(t0, t0 + Duration::from_secs(5));
    while c.poll_transmit().is_some() {}
    c.handle_ssdp(t0, &ssdp_answer("http://10.1.0.1:5000/d.xml"), &mut stats);
    exchange(&mut c, t0, &http(200, &v2), &mut stats);
    exchange(
        &mut c,
        t0,
        &http(
            200,
            &soap_ok(
                "GetExternalIPAddress",
                &[("NewExternalIPAddress", "203.0.113.2")],
            ),
        ),
        &mut stats,
    );
    let _ = c.poll_event();
    c.map(t0);
    exchange(&mut c, t0, &http(500, &soap_fault(401)), &mut stats);
    let add = exchange(
        &mut c,
        t0,
        &http(200, &soap_ok("AddPortMapping", &[])),
        &mut stats,
    );
    assert!(add.contains("#AddPortMapping\""));
    assert!(matches!(c.poll_event(), Some(ClientEvent::Mapped { .. })));
}

#[test]
fn hostile_gateways_cost_only_the_budget() {
    let t0 = Instant::now();
    let mut stats = PortMapStats::default();
    // LOCATION on another host: dropped; the search goes on.
    let mut c = client();
    c.probe(t0, t0 + Duration::from_secs(3));
    assert_eq!(std::iter::from_fn(|| c.poll_transmit()).count(), 2);
    c.handle_ssdp(
        t0,
        &ssdp_answer("http://10.1.0.99:5000/rootDesc.xml"),
        &mut stats,
    );
    assert_eq!(stats.dropped_wrong_source, 1);
    assert_eq!(c.poll_stream_request(), None);
    c.handle_ssdp(
        t0,
        b"HTTP/1.1 200 OK\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\r\n",
        &mut stats,
    );
    assert_eq!(stats.dropped_malformed, 1);
    // Search rounds every second until the budget, then a NoResponse.
    let mut rounds = 0;
    while let Some(t) = c.poll_timeout() {
        c.handle_timeout(t, &mut stats);
        rounds += std::iter::from_fn(|| c.poll_transmit()).count();
        if let Some(ClientEvent::Failed(e)) = c.poll_event() {
            assert!(
                matches!(
                    e,
                    PortMapError::NoResponse {
                        protocol: Protocol::Upnp,
                        ..
                    }
                ),
                "{e}"
            );
            assert_eq!(t, t0 + Duration::from_secs(3));
            break;
        }
    }
    assert_eq!(rounds, 4, "two more rounds of two M-SEARCHes");
    // An oversized description: dropped, counted, a clear reason.
    let mut c = client();
    c.probe(t0, t0 + Duration::from_secs(5));
    c.handle_ssdp(
        t0,
        &ssdp_answer("http://10.1.0.1:5000/rootDesc.xml"),
        &mut stats,
    );
    let Some(StreamRequest::Connect { id, .. }) = c.poll_stream_request() else {
        panic!()
    };
    c.handle_connected(id);
    let _ = c.poll_stream_request();
    c.handle_data(
        t0,
        id,
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            10 * MAX_DESCRIPTION
        )
        .as_bytes(),
        &mut stats,
    );
    assert_eq!(stats.dropped_oversized, 1);
    match c.poll_event() {
        Some(ClientEvent::Failed(PortMapError::Upnp(m))) => {
            assert!(m.contains("larger than 65536 bytes"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    // A gateway that accepts the connection and never answers: the HTTP timeout.
    let mut c = client();
    c.probe(t0, t0 + Duration::from_secs(5));
    c.handle_ssdp(
        t0,
        &ssdp_answer("http://10.1.0.1:5000/rootDesc.xml"),
        &mut stats,
    );
    let Some(StreamRequest::Connect { id, .. }) = c.poll_stream_request() else {
        panic!()
    };
    c.handle_connected(id);
    let _ = c.poll_stream_request();
    c.handle_timeout(t0 + Duration::from_secs(2), &mut stats);
    assert_eq!(c.poll_stream_request(), Some(StreamRequest::Close { id }));
    match c.poll_event() {
        Some(ClientEvent::Failed(PortMapError::Upnp(m))) => {
            assert!(m.contains("no complete answer within 2s"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    // A control URL pointing off the gateway.
    let mut c = client();
    c.probe(t0, t0 + Duration::from_secs(5));
    c.handle_ssdp(
        t0,
        &ssdp_answer("http://10.1.0.1:5000/rootDesc.xml"),
        &mut stats,
    );
    exchange(
        &mut c,
        t0,
        &http(200, &DESC_V1.replace("/ctl/IPConn", "http://192.0.2.9/ctl")),
        &mut stats,
    );
    assert!(
        matches!(c.poll_event(), Some(ClientEvent::Failed(PortMapError::Upnp(m))) if m.contains("not on the gateway"))
    );
}
