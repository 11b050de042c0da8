//! A tiny in-memory network for agent tests: two agents, a virtual clock,
//! per-packet delay and loss, an optional NAT per agent (endpoint-independent
//! mapping with address- or address-and-port-dependent filtering, or
//! symmetric), an optional STUN server, and automatic signaling. The full NAT
//! matrix lives in tests/netsim; this only has to be small and exact.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::agent::{IceAgent, IceConfig, IceEvent, Input};
use super::priority::NetworkCost;
use crate::stun::{encode_to_vec, Attribute, Class, Message, MessageType, Method};

/// Decides from (elapsed, src, dst) whether a datagram is lost.
pub(super) type DropFilter = Box<dyn Fn(Duration, SocketAddr, SocketAddr) -> bool>;

/// The address node `i`'s TCP streams to a TURN server come from.
pub(super) fn stream_addr(i: usize) -> SocketAddr {
    SocketAddr::new(IpAddr::from([100, 64, 0, i as u8 + 1]), 40000)
}

pub(super) fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// NAT behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum NatKind {
    /// Endpoint-independent mapping, address-dependent filtering.
    EimAdf,
    /// Endpoint-independent mapping, address-and-port-dependent filtering.
    #[allow(dead_code)]
    EimApdf,
    /// A new mapping per destination, address-and-port-dependent filtering.
    Symmetric,
}

pub(super) struct Nat {
    pub public_ip: IpAddr,
    pub kind: NatKind,
    map: HashMap<(SocketAddr, Option<SocketAddr>), u16>,
    rev: HashMap<u16, (SocketAddr, Vec<SocketAddr>)>,
    next_port: u16,
}

impl Nat {
    pub(super) fn new(public_ip: &str, kind: NatKind) -> Self {
        Nat {
            public_ip: public_ip.parse().unwrap(),
            kind,
            map: HashMap::new(),
            rev: HashMap::new(),
            next_port: 40000,
        }
    }

    fn outbound(&mut self, private: SocketAddr, dst: SocketAddr) -> SocketAddr {
        let key = match self.kind {
            NatKind::Symmetric => (private, Some(dst)),
            _ => (private, None),
        };
        let port = *self.map.entry(key).or_insert_with(|| {
            self.next_port += 1;
            self.next_port
        });
        let entry = self.rev.entry(port).or_insert((private, Vec::new()));
        if !entry.1.contains(&dst) {
            entry.1.push(dst);
        }
        SocketAddr::new(self.public_ip, port)
    }

    fn inbound(&self, port: u16, src: SocketAddr) -> Option<SocketAddr> {
        let (private, contacted) = self.rev.get(&port)?;
        let ok = match self.kind {
            NatKind::EimAdf => contacted.iter().any(|c| c.ip() == src.ip()),
            _ => contacted.contains(&src),
        };
        ok.then_some(*private)
    }
}

pub(super) struct Node {
    pub agent: IceAgent,
    pub nat: Option<Nat>,
    pub sockets: Vec<SocketAddr>,
    pub events: Vec<(Duration, IceEvent)>,
    pub data: Vec<(Duration, Vec<u8>)>,
    /// When each datagram this node sent left (UDP, lost ones included).
    pub sent: Vec<Duration>,
}

struct Packet {
    at: Instant,
    seq: u64,
    src: SocketAddr,
    dst: SocketAddr,
    bytes: Vec<u8>,
}

pub(super) struct Net {
    pub start: Instant,
    pub now: Instant,
    pub nodes: Vec<Node>,
    queue: Vec<Packet>,
    seq: u64,
    pub delay: Duration,
    pub loss: f64,
    rng: StdRng,
    pub stun_server: Option<SocketAddr>,
    /// Drop every datagram (a dead network).
    pub blocked: bool,
    /// Forward candidates, credentials and end-of-candidates to the peer.
    pub auto_signal: bool,
    /// Every datagram sent, for replay comparisons.
    pub log: Vec<String>,
    /// A scripted TURN server (see `harness_turn`).
    pub turn: Option<super::harness_turn::MiniTurn>,
    /// Drops a datagram when it returns true for (elapsed, src, dst).
    pub drop_if: Option<DropFilter>,
}

impl Net {
    /// Two agents (0 controlling, 1 controlled) with seeded RNGs.
    pub(super) fn new(seed: u64, c0: IceConfig, c1: IceConfig) -> Net {
        let start = Instant::now();
        let node = |c: IceConfig, s: u64| Node {
            agent: IceAgent::new(c, StdRng::seed_from_u64(s)),
            nat: None,
            sockets: Vec::new(),
            events: Vec::new(),
            data: Vec::new(),
            sent: Vec::new(),
        };
        Net {
            start,
            now: start,
            nodes: vec![node(c0, seed), node(c1, seed.wrapping_add(1))],
            queue: Vec::new(),
            seq: 0,
            delay: Duration::from_millis(10),
            loss: 0.0,
            rng: StdRng::seed_from_u64(seed ^ 0x5eed),
            stun_server: None,
            blocked: false,
            auto_signal: true,
            log: Vec::new(),
            turn: None,
            drop_if: None,
        }
    }

    pub(super) fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    pub(super) fn agent(&mut self, i: usize) -> &mut IceAgent {
        &mut self.nodes[i].agent
    }

    pub(super) fn add_socket(&mut self, i: usize, a: &str) {
        let now = self.now;
        let a = addr(a);
        self.nodes[i].sockets.push(a);
        self.nodes[i]
            .agent
            .add_local_socket(now, a, NetworkCost::WIFI)
            .unwrap();
    }

    pub(super) fn remove_socket(&mut self, i: usize, a: &str) {
        let now = self.now;
        let a = addr(a);
        self.nodes[i].sockets.retain(|s| *s != a);
        self.nodes[i].agent.remove_local_socket(now, a).unwrap();
    }

    /// Gives each agent the other's credentials and ice-options.
    pub(super) fn exchange_credentials(&mut self) {
        let now = self.now;
        for i in 0..2 {
            let creds = self.nodes[1 - i].agent.local_credentials().clone();
            let options = self.nodes[1 - i].agent.local_ice_options();
            let a = &mut self.nodes[i].agent;
            a.handle_input(now, Input::RemoteCredentials(creds))
                .unwrap();
            a.handle_input(
                now,
                Input::RemoteOptions {
                    options,
                    lite: false,
                },
            )
            .unwrap();
        }
    }

    pub(super) fn connected(&self, i: usize) -> bool {
        self.nodes[i].agent.selected_pair().is_some()
    }

    pub(super) fn both_connected(&self) -> bool {
        self.connected(0) && self.connected(1)
    }

    /// First time node `i` reported an event matching `f`.
    pub(super) fn first_event(&self, i: usize, f: impl Fn(&IceEvent) -> bool) -> Option<Duration> {
        self.nodes[i]
            .events
            .iter()
            .find(|(_, e)| f(e))
            .map(|(t, _)| *t)
    }

    fn send(&mut self, i: usize, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>) {
        let at = self.elapsed();
        self.nodes[i].sent.push(at);
        let src = match &mut self.nodes[i].nat {
            Some(nat) => nat.outbound(from, to),
            None => from,
        };
        self.log.push(format!(
            "{:?} {src}->{to} {}",
            self.elapsed(),
            crc32fast::hash(&bytes)
        ));
        if self.blocked || (self.loss > 0.0 && self.rng.gen::<f64>() < self.loss) {
            return;
        }
        if self
            .drop_if
            .as_ref()
            .is_some_and(|f| f(self.now - self.start, src, to))
        {
            return;
        }
        self.seq += 1;
        self.queue.push(Packet {
            at: self.now + self.delay,
            seq: self.seq,
            src,
            dst: to,
            bytes,
        });
    }

    fn deliver(&mut self, p: Packet) {
        if self.blocked {
            return;
        }
        let elapsed = self.now - self.start;
        if let Some(turn) = self.turn.as_mut().filter(|t| t.serves(p.dst)) {
            turn.now = elapsed;
            for (src, dst, bytes) in turn.handle(p.src, p.dst, &p.bytes) {
                self.seq += 1;
                self.queue.push(Packet {
                    at: self.now + self.delay,
                    seq: self.seq,
                    src,
                    dst,
                    bytes,
                });
            }
            for (at, src, dst, bytes) in std::mem::take(&mut turn.later) {
                self.seq += 1;
                self.queue.push(Packet {
                    at: self.start + at + self.delay,
                    seq: self.seq,
                    src,
                    dst,
                    bytes,
                });
            }
            return;
        }
        if Some(p.dst) == self.stun_server {
            if let Ok(m) = Message::parse(&p.bytes) {
                if m.class() == Class::Request {
                    let resp = encode_to_vec(
                        MessageType::new(Class::Success, Method::BINDING),
                        m.transaction_id(),
                        &[Attribute::XorMappedAddress(p.src)],
                        None,
                        true,
                    )
                    .unwrap();
                    self.seq += 1;
                    self.queue.push(Packet {
                        at: self.now + self.delay,
                        seq: self.seq,
                        src: p.dst,
                        dst: p.src,
                        bytes: resp,
                    });
                }
            }
            return;
        }
        let now = self.now;
        if let Some(n) = (0..self.nodes.len()).find(|&i| p.dst == stream_addr(i)) {
            let a = &mut self.nodes[n].agent;
            a.handle_relay_stream_bytes(now, p.src, &p.bytes);
            return;
        }
        for n in &mut self.nodes {
            let local = match &n.nat {
                Some(nat) if nat.public_ip == p.dst.ip() => nat.inbound(p.dst.port(), p.src),
                Some(_) => None,
                None => n.sockets.contains(&p.dst).then_some(p.dst),
            };
            if let Some(local) = local {
                if n.sockets.contains(&local) {
                    let _ = n.agent.handle_input(
                        now,
                        Input::Receive {
                            local,
                            from: p.src,
                            data: &p.bytes,
                        },
                    );
                }
                return;
            }
        }
    }

    /// Drains transmits and events until nothing moves.
    pub(super) fn pump(&mut self) {
        loop {
            let mut progress = false;
            for i in 0..self.nodes.len() {
                while let Some(t) = self.nodes[i].agent.poll_transmit() {
                    progress = true;
                    self.send(i, t.from, t.to, t.bytes);
                }
                // TCP/TLS to a TURN server: a lossless stream, not NATted.
                while let Some(t) = self.nodes[i].agent.poll_relay_stream_transmit() {
                    progress = true;
                    if let Some(turn) = &mut self.turn {
                        turn.stream_clients.insert(stream_addr(i));
                    }
                    self.seq += 1;
                    self.queue.push(Packet {
                        at: self.now + self.delay,
                        seq: self.seq,
                        src: stream_addr(i),
                        dst: t.server,
                        bytes: t.bytes,
                    });
                }
                // Hard-NAT punching sockets: bound at once on consecutive ports.
                let now = self.now;
                while let Some((ip, n)) = self.nodes[i].agent.poll_punch_sockets() {
                    progress = true;
                    for k in 0..n {
                        let a = SocketAddr::new(ip, 50000 + k as u16);
                        self.nodes[i].sockets.push(a);
                        self.nodes[i].agent.add_punch_socket(now, a);
                    }
                }
                while let Some(a) = self.nodes[i].agent.poll_punch_release() {
                    progress = true;
                    self.nodes[i].sockets.retain(|s| *s != a);
                }
                while let Some(e) = self.nodes[i].agent.poll_event() {
                    progress = true;
                    let at = self.elapsed();
                    if let IceEvent::Data { data, .. } = &e {
                        self.nodes[i].data.push((at, data.clone()));
                    }
                    self.nodes[i].events.push((at, e.clone()));
                    if self.auto_signal {
                        self.signal(1 - i, e);
                    }
                }
            }
            if !progress {
                break;
            }
        }
    }

    /// Delivers one signaling event to node `to`.
    pub(super) fn signal(&mut self, to: usize, e: IceEvent) {
        let now = self.now;
        let input = match e {
            IceEvent::LocalCandidate(c) => Input::RemoteCandidate(c),
            IceEvent::LocalCredentials(c) => Input::RemoteCredentials(c),
            IceEvent::GatheringStateChanged(super::agent::GatheringState::Complete) => {
                Input::RemoteEndOfCandidates
            }
            _ => return,
        };
        let _ = self.nodes[to].agent.handle_input(now, input);
    }

    /// Runs until `cond` holds (true) or virtual time reaches `start + limit` (false).
    pub(super) fn run_until(&mut self, limit: Duration, cond: impl Fn(&Net) -> bool) -> bool {
        let end = self.start + limit;
        let mut spins = 0u32;
        let mut last = self.now;
        loop {
            if self.now == last {
                spins += 1;
                assert!(spins < 100_000, "busy loop at {:?}", self.elapsed());
            } else {
                spins = 0;
                last = self.now;
            }
            self.pump();
            if cond(self) {
                return true;
            }
            let mut next = self.queue.iter().map(|p| p.at).min();
            for n in &self.nodes {
                if let Some(t) = n.agent.poll_timeout() {
                    next = Some(next.map_or(t, |x| x.min(t)));
                }
            }
            match next {
                Some(t) if t <= end => self.now = self.now.max(t),
                _ => {
                    self.now = self.now.max(end);
                    return cond(self);
                }
            }
            self.queue.sort_by_key(|p| (p.at, p.seq));
            while self.queue.first().is_some_and(|p| p.at <= self.now) {
                let p = self.queue.remove(0);
                self.deliver(p);
            }
            let now = self.now;
            for n in &mut self.nodes {
                if n.agent.poll_timeout().is_some_and(|t| t <= now) {
                    n.agent.handle_timeout(now);
                }
            }
        }
    }

    /// Runs for `d` of virtual time from now.
    pub(super) fn run_for(&mut self, d: Duration) {
        let limit = self.elapsed() + d;
        self.run_until(limit, |_| false);
    }

    /// Sends `text` from node `i` on its selected pair.
    pub(super) fn send_data(&mut self, i: usize, text: &str) -> bool {
        let now = self.now;
        self.nodes[i].agent.send_data(now, text.as_bytes()).is_ok()
    }

    pub(super) fn received(&self, i: usize) -> Vec<String> {
        self.nodes[i]
            .data
            .iter()
            .map(|(_, d)| String::from_utf8_lossy(d).into_owned())
            .collect()
    }

    /// The standard two-host setup: sockets, credentials, auto signaling.
    pub(super) fn hosts(seed: u64, mut c0: IceConfig, mut c1: IceConfig) -> Net {
        c0.controlling = true;
        c1.controlling = false;
        let mut net = Net::new(seed, c0, c1);
        net.exchange_credentials();
        net.add_socket(0, "10.0.0.1:5000");
        net.add_socket(1, "10.0.1.1:6000");
        net
    }
}
