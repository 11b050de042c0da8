//! Raw test endpoints: an echo server that tells clients their observed source
//! address, a recording client driven by the test, and a periodic pinger.

use crate::endpoint::{Datagram, Endpoint, TcpCommand, TcpEvent};
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Replies to every datagram with `SEEN <observed source>`, from the address
/// and port it arrived on, or, if the payload is `PROBE FROM <ip:port>`, from
/// that address instead (an RFC 5780 CHANGE-REQUEST in plain text; the server
/// host must own that IP). Counts what it answered.
#[derive(Debug, Default)]
pub struct EchoServer {
    out: VecDeque<Datagram>,
    pub answered: u64,
}

impl EchoServer {
    pub fn new() -> Self {
        Self::default()
    }

    /// The payload asking for a reply from `from`.
    pub fn probe_from(from: SocketAddr) -> Vec<u8> {
        format!("PROBE FROM {from}").into_bytes()
    }

    /// Parses a `SEEN <addr>` reply.
    pub fn parse_seen(payload: &[u8]) -> Option<SocketAddr> {
        std::str::from_utf8(payload)
            .ok()?
            .strip_prefix("SEEN ")?
            .parse()
            .ok()
    }
}

impl Endpoint for EchoServer {
    fn receive(&mut self, _now: Instant, d: Datagram) {
        let text = String::from_utf8_lossy(&d.payload);
        let from = text
            .strip_prefix("PROBE FROM ")
            .and_then(|a| a.parse().ok())
            .unwrap_or(d.dst);
        self.answered += 1;
        self.out
            .push_back(Datagram::new(from, d.src, format!("SEEN {}", d.src)));
    }
    fn poll_transmit(&mut self) -> Option<Datagram> {
        self.out.pop_front()
    }
}

/// A client the test drives by hand: queue datagrams and TCP commands, read
/// what arrived (with arrival times), interface changes and TCP events.
#[derive(Debug, Default)]
pub struct Recorder {
    out: VecDeque<Datagram>,
    tcp_out: VecDeque<TcpCommand>,
    pub received: Vec<(Instant, Datagram)>,
    pub tcp_events: Vec<(Instant, TcpEvent)>,
    pub interface_changes: Vec<(Instant, Vec<IpAddr>)>,
}

impl Recorder {
    pub fn new() -> Self {
        Self::default()
    }
    /// Queues a datagram; it leaves at the current virtual time.
    pub fn send(&mut self, src: SocketAddr, dst: SocketAddr, payload: impl Into<Vec<u8>>) {
        self.out.push_back(Datagram::new(src, dst, payload));
    }
    /// Queues a TCP command.
    pub fn tcp(&mut self, cmd: TcpCommand) {
        self.tcp_out.push_back(cmd);
    }
    /// Takes everything received so far.
    pub fn take(&mut self) -> Vec<(Instant, Datagram)> {
        std::mem::take(&mut self.received)
    }
}

impl Endpoint for Recorder {
    fn receive(&mut self, now: Instant, d: Datagram) {
        self.received.push((now, d));
    }
    fn poll_transmit(&mut self) -> Option<Datagram> {
        self.out.pop_front()
    }
    fn interfaces_changed(&mut self, now: Instant, addrs: &[IpAddr]) {
        self.interface_changes.push((now, addrs.to_vec()));
    }
    fn tcp_event(&mut self, now: Instant, ev: TcpEvent) {
        self.tcp_events.push((now, ev));
    }
    fn poll_tcp(&mut self) -> Option<TcpCommand> {
        self.tcp_out.pop_front()
    }
}

/// Sends a numbered datagram from `local` to `peer` every `interval` (starting
/// at the first timeout it is asked about), and counts what it receives. A
/// keepalive, and the load of the speed scenario.
#[derive(Debug)]
pub struct Pinger {
    pub local: SocketAddr,
    pub peer: SocketAddr,
    pub interval: Duration,
    next: Option<Instant>,
    seq: u64,
    out: VecDeque<Datagram>,
    pub sent: u64,
    pub received: u64,
    pub last_from: Option<SocketAddr>,
}

impl Pinger {
    pub fn new(local: SocketAddr, peer: SocketAddr, interval: Duration) -> Self {
        Pinger {
            local,
            peer,
            interval,
            next: None,
            seq: 0,
            out: VecDeque::new(),
            sent: 0,
            received: 0,
            last_from: None,
        }
    }
    /// Starts sending at `at`.
    pub fn start_at(mut self, at: Instant) -> Self {
        self.next = Some(at);
        self
    }
}

impl Endpoint for Pinger {
    fn receive(&mut self, _now: Instant, d: Datagram) {
        self.received += 1;
        self.last_from = Some(d.src);
    }
    fn handle_timeout(&mut self, now: Instant) {
        while let Some(t) = self.next.filter(|t| *t <= now) {
            self.seq += 1;
            self.sent += 1;
            self.out.push_back(Datagram::new(
                self.local,
                self.peer,
                format!("ping {}", self.seq),
            ));
            self.next = Some(t + self.interval);
        }
    }
    fn poll_transmit(&mut self) -> Option<Datagram> {
        self.out.pop_front()
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        self.next
    }
}
