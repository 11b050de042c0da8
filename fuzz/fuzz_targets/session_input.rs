//! A whole `Session` fed whatever a peer and the network control: signaling strings,
//! datagrams from anywhere (the default gateway's NAT-PMP/PCP and SSDP ports included,
//! so the port mapper sees them), stream bytes, in any order and at any time. Nothing may
//! panic, and the session keeps answering its pump.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use pinhole::session::{Input, Output, Session, SessionConfig, StreamId, StreamRequest};
use rand::rngs::StdRng;
use rand::SeedableRng;

/// A peer's first message, so later inputs reach the checks as well as the parsers.
const CREDENTIALS: &str =
    r#"{"type":"credentials","ufrag":"abcd","pwd":"0123456789abcdefghijkl","role":"auto","tiebreaker":"7"}"#;

fn drain(s: &mut Session, streams: &mut Vec<StreamId>) {
    for _ in 0..10_000 {
        match s.poll_output() {
            Output::Timeout(_) => return,
            Output::Stream(StreamRequest::Connect { id, .. }) => streams.push(id),
            _ => {}
        }
    }
    panic!("poll_output never reached Timeout");
}

fuzz_target!(|data: &[u8]| {
    let local: SocketAddr = "10.0.0.1:5000".parse().unwrap();
    let config = SessionConfig::default()
        .with_bind(local.ip())
        .with_stun_server("192.0.2.1:3478")
        .with_turn_server(pinhole::session::TurnServer::new("turn:192.0.2.2?transport=tcp", "u", "p"));
    let mut now = Instant::now();
    let Ok(mut s) = Session::new(config, now, StdRng::seed_from_u64(1)) else { return };
    let mut streams = Vec::new();
    let gateway: SocketAddr = "10.0.0.254:5351".parse().unwrap();
    s.handle_input(now, Input::Gateway(Some(gateway.ip())));
    s.handle_input(now, Input::SocketBound { addr: local });
    let _ = s.handle_signal(now, CREDENTIALS);
    drain(&mut s, &mut streams);
    // Each chunk: one op byte, one length byte, then that many bytes.
    let mut rest = data;
    while rest.len() >= 2 {
        let (op, len) = (rest[0], rest[1] as usize);
        let body = &rest[2..(2 + len).min(rest.len())];
        rest = &rest[(2 + len).min(rest.len())..];
        match op % 7 {
            0 => {
                let _ = s.handle_signal(now, &String::from_utf8_lossy(body));
            }
            1 | 2 => {
                let port = u16::from(op) * 97 + 1;
                let from: SocketAddr = SocketAddr::new([192, 0, 2, (op % 4) + 1].into(), port);
                s.handle_input(now, Input::Datagram { local, from, data: body });
            }
            3 => {
                now += Duration::from_millis(u64::from(op) * 7);
                s.handle_timeout(now);
            }
            4 => {
                if let Some(id) = streams.first().copied() {
                    s.handle_input(now, Input::StreamConnected { id, local });
                    s.handle_input(now, Input::StreamData { id, data: body });
                }
            }
            5 => {
                let _ = s.send(now, body);
            }
            _ => {
                let port = if op & 0x80 == 0 { 5351 } else { 1900 };
                let from = SocketAddr::new(gateway.ip(), port);
                s.handle_input(now, Input::Datagram { local, from, data: body });
            }
        }
        drain(&mut s, &mut streams);
    }
    s.close(now);
    drain(&mut s, &mut streams);
});
