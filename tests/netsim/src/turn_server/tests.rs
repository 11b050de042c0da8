//! The server model against pinhole's own sans-IO TURN client, in virtual time.

use super::{TurnConfig, TurnServer};
use crate::endpoint::{Datagram, Endpoint};
use pinhole::stun::{attr, Class, Credentials, Message, Method};
use pinhole::turn::{self, Event, TransportKind, TurnClient, TurnState};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

fn server_addr() -> SocketAddr {
    "192.0.2.10:3478".parse().unwrap()
}
fn client_addr() -> SocketAddr {
    "203.0.113.5:40000".parse().unwrap()
}

/// A client and the server, exchanging datagrams directly (no network in between).
struct Pair {
    client: TurnClient,
    server: TurnServer,
    /// Every STUN request the client sent, in order.
    requests: Vec<Vec<u8>>,
    events: Vec<Event>,
}

impl Pair {
    fn new(now: Instant, cfg: TurnConfig) -> Self {
        let cfg = cfg.with_user("alice", "alice-secret");
        let ccfg = turn::TurnConfig::new(
            server_addr(),
            TransportKind::Udp,
            Credentials::new("alice", "alice-secret"),
        );
        let client = TurnClient::new(now, ccfg, &mut StdRng::seed_from_u64(3));
        let mut p = Pair {
            client,
            server: TurnServer::new(cfg),
            requests: Vec::new(),
            events: Vec::new(),
        };
        p.pump(now);
        p
    }

    /// Moves datagrams both ways until both sides are quiet.
    fn pump(&mut self, now: Instant) {
        loop {
            let mut moved = false;
            while let Some(t) = self.client.poll_transmit() {
                moved = true;
                if Message::parse(&t.bytes).is_ok_and(|m| m.class() == Class::Request) {
                    self.requests.push(t.bytes.clone());
                }
                self.server
                    .receive(now, Datagram::new(client_addr(), t.to, t.bytes));
            }
            while let Some(d) = self.server.poll_transmit() {
                moved = true;
                if d.dst == client_addr() {
                    self.client.handle_input(now, &d.payload);
                }
            }
            self.events
                .extend(std::iter::from_fn(|| self.client.poll_event()));
            if !moved {
                return;
            }
        }
    }

    /// Runs both sides' timers up to `end`.
    fn run_until(&mut self, end: Instant) {
        loop {
            let next = [self.client.poll_timeout(), self.server.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            let Some(t) = next.filter(|t| *t <= end) else {
                return;
            };
            self.client.handle_timeout(t);
            self.server.handle_timeout(t);
            self.pump(t);
        }
    }
}

#[test]
fn username_anonymity_makes_the_client_send_userhash() {
    let t0 = Instant::now();
    let cfg = TurnConfig::new("192.0.2.10".parse().unwrap())
        .with_sha256(true)
        .with_username_anonymity(true);
    let p = Pair::new(t0, cfg);
    assert_eq!(p.client.state(), TurnState::Allocated, "{:?}", p.events);
    // The first Allocate is bare; the second answers the challenge with USERHASH.
    assert_eq!(p.requests.len(), 2);
    let m = Message::parse(&p.requests[1]).unwrap();
    assert_eq!(m.method(), Method::ALLOCATE);
    assert!(m.username().unwrap().is_none(), "USERNAME must not be sent");
    let expected = pinhole::stun::integrity::userhash("alice", "pinhole.test").unwrap();
    assert_eq!(m.userhash().unwrap(), Some(&expected));
    assert!(m.has_integrity_sha256() && !m.has_integrity());
    assert!(m.get(attr::PASSWORD_ALGORITHMS).is_some());
    let s = p.server.stats();
    assert_eq!((s.userhash_requests, s.error_count(400)), (1, 0), "{s}");
}

#[test]
fn a_channel_without_a_permission_keeps_its_permission_alive() {
    // RFC 8656: the permission a ChannelBind installs lasts 300 s, the channel 600 s.
    let t0 = Instant::now();
    let mut p = Pair::new(t0, TurnConfig::new("192.0.2.10".parse().unwrap()));
    let peer: SocketAddr = "198.51.100.20:5000".parse().unwrap();
    p.client.bind_channel(t0, peer).unwrap();
    p.pump(t0);
    assert_eq!(p.client.bound_channel(peer), Some(0x4000));
    let relayed = p.client.relayed_address().unwrap();
    // Every 100 s the peer sends to the relayed address: each must come through.
    for i in 1..=20u64 {
        let t = t0 + Duration::from_secs(100 * i);
        p.run_until(t);
        p.server.receive(
            t,
            Datagram::new(peer, relayed, format!("ping-{i}").into_bytes()),
        );
        p.pump(t);
        assert!(
            p.events.iter().any(|e| matches!(e, Event::Data { bytes, .. } if *bytes == format!("ping-{i}").into_bytes())),
            "ping-{i} at {} s was dropped: {}",
            100 * i,
            p.server.stats()
        );
    }
    let s = p.server.stats();
    assert_eq!(
        (s.permissions_expired, s.dropped.no_permission),
        (0, 0),
        "{s}"
    );
    assert_eq!(p.client.state(), TurnState::Allocated);
}
