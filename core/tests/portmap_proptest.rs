//! Property tests for the port mapper's hostile-input handling: arbitrary datagrams from
//! the gateway's PCP/NAT-PMP and SSDP ports, and arbitrary HTTP answers on its streams,
//! never panic, never produce a mapping, and are counted when dropped; the HTTP parser
//! gives the same answer however the bytes are split.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

use pinhole::portmap::upnp::http::ResponseParser;
use pinhole::portmap::{PortMapConfig, PortMapper, StreamRequest};

fn mapper(now: Instant) -> PortMapper {
    let cfg = PortMapConfig::new(
        "10.1.0.2:5000".parse().unwrap(),
        "10.1.0.1".parse().unwrap(),
    );
    PortMapper::new(now, cfg, &mut StdRng::seed_from_u64(9)).unwrap()
}

fn datagram() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..80),
        // Plausible headers with random tails: version 0 or 2, response opcodes.
        (prop_oneof![Just(0u8), Just(2u8)], 128u8..=131, proptest::collection::vec(any::<u8>(), 0..70))
            .prop_map(|(v, op, mut tail)| {
                let mut b = vec![v, op];
                b.append(&mut tail);
                b
            }),
        proptest::collection::vec(any::<u8>(), 0..200).prop_map(|t| {
            let mut b = b"HTTP/1.1 200 OK\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nLOCATION: ".to_vec();
            b.extend_from_slice(&t);
            b
        }),
    ]
}

proptest! {
    #[test]
    fn garbage_from_the_gateway_never_panics_nor_maps(
        packets in proptest::collection::vec((datagram(), prop_oneof![Just(5351u16), Just(1900u16)]), 1..20)
    ) {
        let t0 = Instant::now();
        let mut m = mapper(t0);
        while m.poll_transmit().is_some() {}
        for (i, (bytes, port)) in packets.iter().enumerate() {
            let now = t0 + Duration::from_millis(i as u64);
            let from = SocketAddr::new("10.1.0.1".parse().unwrap(), *port);
            prop_assert!(m.handle_datagram(now, from, bytes) || *port == 1900);
        }
        // A random packet matching a 12-byte PCP nonce and the rest is beyond reach.
        prop_assert!(m.mapping().is_none());
        let s = m.stats();
        let dropped = s.dropped_malformed + s.dropped_wrong_opcode + s.dropped_wrong_nonce
            + s.dropped_unexpected + s.dropped_wrong_source;
        prop_assert!(dropped + s.datagrams_accepted > 0 || packets.iter().all(|(b, p)| *p == 1900 && !b.starts_with(b"HTTP/1.")));
        // Time runs out cleanly.
        let mut now = t0;
        for _ in 0..200 {
            match m.poll_timeout() {
                Some(t) if t <= t0 + Duration::from_secs(30) => { now = now.max(t); m.handle_timeout(now); }
                _ => break,
            }
        }
        prop_assert!(m.probes_done());
    }

    #[test]
    fn http_parsing_does_not_depend_on_how_bytes_are_split(
        body in proptest::collection::vec(any::<u8>(), 0..300),
        chunked in any::<bool>(),
        cuts in proptest::collection::vec(0usize..400, 0..6),
    ) {
        let mut wire = if chunked {
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec()
        } else {
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes()
        };
        if chunked {
            for c in body.chunks(37) {
                wire.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                wire.extend_from_slice(c);
                wire.extend_from_slice(b"\r\n");
            }
            wire.extend_from_slice(b"0\r\n\r\n");
        } else {
            wire.extend_from_slice(&body);
        }
        let mut points: Vec<usize> = cuts.into_iter().map(|c| c % (wire.len() + 1)).collect();
        points.sort_unstable();
        let mut p = ResponseParser::new(1024);
        let mut last = 0;
        let mut done = None;
        for cut in points.into_iter().chain([wire.len()]) {
            if let Some(r) = p.feed(&wire[last..cut]).unwrap() {
                done = Some(r);
                break;
            }
            last = cut;
        }
        let r = done.expect("complete");
        prop_assert_eq!(r.body, body);
    }

    #[test]
    fn arbitrary_stream_bytes_never_panic(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..8)) {
        let t0 = Instant::now();
        let mut m = mapper(t0);
        let ssdp = b"HTTP/1.1 200 OK\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nLOCATION: http://10.1.0.1:5000/d.xml\r\n\r\n";
        m.handle_datagram(t0, "10.1.0.1:1900".parse().unwrap(), ssdp);
        let id = loop {
            match m.poll_stream_request() {
                Some(StreamRequest::Connect { id, .. }) => break id,
                Some(_) => {}
                None => panic!("no connect"),
            }
        };
        m.handle_stream_connected(t0, id);
        for c in &chunks {
            m.handle_stream_data(t0, id, c);
        }
        m.handle_stream_closed(t0, id);
        prop_assert!(m.mapping().is_none());
    }
}
