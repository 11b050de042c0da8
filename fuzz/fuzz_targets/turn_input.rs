//! A TURN client fed arbitrary server answers: as UDP datagrams (STUN responses,
//! indications, ChannelData) and as a TCP byte stream in arbitrary pieces. Nothing may
//! panic.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use pinhole::stun::Credentials;
use pinhole::turn::{TransportKind, TurnClient, TurnConfig};
use rand::rngs::StdRng;
use rand::SeedableRng;

fn drain(c: &mut TurnClient) {
    while c.poll_transmit().is_some() {}
    while c.poll_event().is_some() {}
}

fuzz_target!(|data: &[u8]| {
    let server: SocketAddr = "192.0.2.2:3478".parse().unwrap();
    let mut rng = StdRng::seed_from_u64(1);
    let mut now = Instant::now();
    for transport in [TransportKind::Udp, TransportKind::Tcp] {
        let cfg = TurnConfig::new(server, transport, Credentials::new("user", "pass"));
        let mut c = TurnClient::new(now, cfg, &mut rng);
        drain(&mut c);
        let peer: SocketAddr = "198.51.100.7:9000".parse().unwrap();
        let _ = c.create_permission(now, peer.ip());
        let _ = c.bind_channel(now, peer);
        let _ = c.send_to(now, peer, b"hello");
        drain(&mut c);
        for piece in data.split(|b| *b == 0xff) {
            match transport {
                TransportKind::Udp => c.handle_input(now, piece),
                _ => c.handle_stream_bytes(now, piece),
            }
            now += Duration::from_millis(37);
            c.handle_timeout(now);
            drain(&mut c);
        }
        c.close(now);
        drain(&mut c);
    }
});
