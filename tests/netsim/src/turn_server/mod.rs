//! A TURN server (RFC 8656) as a netsim [`Endpoint`], so scenarios can prove
//! "connected through relay" deterministically.
//!
//! It serves STUN/TURN over UDP and over netsim's TCP stream model (STUN
//! messages and ChannelData frames padded to 4 bytes), on configurable ports
//! (UDP 3478, TCP 3478 and 443 by default, so a peer behind the `udp_blocked`
//! preset reaches it on TCP 443). Allocations use long-term credentials and
//! relay over UDP from the server's public IP on allocated ports. Built on the
//! `pinhole::stun` codec; ChannelData and stream framing are in [`framing`].
//!
//! ```text
//! let ip: IpAddr = "192.0.2.10".parse()?;
//! let host = net.server("turn", &[ip]);
//! let cfg = TurnConfig::new(ip).with_user("alice", "secret");
//! let turn = net.attach(host, TurnServer::new(cfg)); // all UDP ports: listeners + relays
//! // ... run a client ...
//! let stats = net.endpoint(turn).stats();
//! let alloc = &net.endpoint(turn).allocations()[0];
//! ```

mod allocation;
mod auth;
mod config;
pub mod framing;
mod requests;
#[cfg(test)]
mod tests;

pub use allocation::{AllocationView, ClientTransport, FiveTuple};
pub use config::{TurnConfig, TurnDrops, TurnStats};

use crate::endpoint::{ConnId, Datagram, Endpoint, TcpCommand, TcpEvent};
use allocation::Allocation;
use auth::Nonces;
use framing::{decode_channel_data, encode_channel_data, is_channel_data_first_byte, Frame};
use framing::{FramingError, StreamFramer};
use pinhole::stun::{Attribute, Class, Message, MessageType, Method, TransactionId};
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

/// One accepted TCP connection.
#[derive(Debug)]
struct TcpClient {
    tuple: FiveTuple,
    framer: StreamFramer,
}

/// The TURN server endpoint. Attach it with `attach(host, ..)` (it needs its
/// listener ports and every relay port of the host).
#[derive(Debug)]
pub struct TurnServer {
    cfg: TurnConfig,
    nonces: Nonces,
    allocations: BTreeMap<FiveTuple, Allocation>,
    by_relay_port: BTreeMap<u16, FiveTuple>,
    next_port: u16,
    tcp: BTreeMap<ConnId, TcpClient>,
    tcp_by_tuple: BTreeMap<FiveTuple, ConnId>,
    out: VecDeque<Datagram>,
    tcp_out: VecDeque<TcpCommand>,
    indications: u64,
    stats: TurnStats,
}

impl TurnServer {
    pub fn new(cfg: TurnConfig) -> Self {
        let tcp_out = cfg
            .tcp_ports
            .iter()
            .map(|&port| TcpCommand::Listen { port })
            .collect();
        TurnServer {
            next_port: *cfg.relay_ports.start(),
            cfg,
            nonces: Nonces::default(),
            allocations: BTreeMap::new(),
            by_relay_port: BTreeMap::new(),
            tcp: BTreeMap::new(),
            tcp_by_tuple: BTreeMap::new(),
            out: VecDeque::new(),
            tcp_out,
            indications: 0,
            stats: TurnStats::default(),
        }
    }

    pub fn config(&self) -> &TurnConfig {
        &self.cfg
    }

    /// Counters since creation.
    pub fn stats(&self) -> &TurnStats {
        &self.stats
    }

    /// Every live allocation (as of the last event the server saw), in 5-tuple order.
    pub fn allocations(&self) -> Vec<AllocationView> {
        self.allocations.values().map(Allocation::view).collect()
    }

    /// The allocation of a client address as the server sees it (any transport).
    pub fn allocation_of(&self, client: SocketAddr) -> Option<AllocationView> {
        self.allocations
            .values()
            .find(|a| a.tuple.client == client)
            .map(Allocation::view)
    }

    /// The allocation owning a relayed address.
    pub fn allocation_by_relay(&self, relayed: SocketAddr) -> Option<AllocationView> {
        let t = self.by_relay_port.get(&relayed.port())?;
        self.allocations
            .get(t)
            .filter(|a| a.relayed == relayed)
            .map(Allocation::view)
    }

    pub fn allocation_count(&self) -> usize {
        self.allocations.len()
    }

    /// Removes everything that has reached its expiry at `now`.
    fn expire(&mut self, now: Instant) {
        let dead: Vec<FiveTuple> = self
            .allocations
            .iter()
            .filter(|(_, a)| a.expires_at <= now)
            .map(|(t, _)| *t)
            .collect();
        for t in dead {
            self.remove_allocation(&t);
            self.stats.allocations_expired += 1;
        }
        for a in self.allocations.values_mut() {
            a.expire_children(now, &mut self.stats);
        }
    }

    fn remove_allocation(&mut self, t: &FiveTuple) -> bool {
        match self.allocations.remove(t) {
            Some(a) => {
                self.by_relay_port.remove(&a.relayed.port());
                true
            }
            None => false,
        }
    }

    /// The lowest free relay port at or after the last one handed out (wrapping).
    fn take_relay_port(&mut self, even: bool) -> Option<u16> {
        let (lo, hi) = (*self.cfg.relay_ports.start(), *self.cfg.relay_ports.end());
        if lo > hi {
            return None;
        }
        let span = u32::from(hi - lo) + 1;
        let start = self.next_port.clamp(lo, hi);
        for i in 0..span {
            let p = (u32::from(start - lo) + i) % span + u32::from(lo);
            let p = p as u16;
            let taken = self.by_relay_port.contains_key(&p) || self.cfg.udp_ports.contains(&p);
            if !taken && (!even || p.is_multiple_of(2)) {
                self.next_port = if p == hi { lo } else { p + 1 };
                return Some(p);
            }
        }
        None
    }

    fn indication_tid(&mut self) -> TransactionId {
        self.indications += 1;
        let mut t = [0u8; 12];
        t[..4].copy_from_slice(b"turn");
        t[4..].copy_from_slice(&self.indications.to_be_bytes());
        TransactionId(t)
    }

    /// Sends bytes to a client over its transport (ChannelData padded on streams).
    fn send_to_client(&mut self, tuple: FiveTuple, bytes: Vec<u8>) {
        match tuple.transport {
            ClientTransport::Udp => {
                self.out
                    .push_back(Datagram::new(tuple.server, tuple.client, bytes));
            }
            ClientTransport::Tcp => {
                let Some(&conn) = self.tcp_by_tuple.get(&tuple) else {
                    return;
                };
                let mut data = bytes;
                data.resize(framing::pad4(data.len()), 0);
                self.tcp_out.push_back(TcpCommand::Send { conn, data });
            }
        }
    }

    /// A whole message from a client: STUN or ChannelData (already un-framed for TCP).
    fn on_client_message(&mut self, now: Instant, tuple: FiveTuple, bytes: &[u8]) {
        match bytes.first() {
            Some(&b) if is_channel_data_first_byte(b) => match decode_channel_data(bytes) {
                Some((channel, data)) => self.client_channel_data(now, tuple, channel, data),
                None => self.stats.dropped.malformed += 1,
            },
            Some(&b) if b <= 3 => match Message::parse(bytes) {
                Ok(msg) => match (msg.class(), msg.method()) {
                    (Class::Request, _) => self.handle_request(now, tuple, &msg),
                    (Class::Indication, Method::SEND) => self.send_indication(now, tuple, &msg),
                    _ => self.stats.dropped.unexpected += 1,
                },
                Err(_) => self.stats.dropped.malformed += 1,
            },
            _ => self.stats.dropped.malformed += 1,
        }
    }

    /// Send indication: relay DATA to XOR-PEER-ADDRESS if permitted.
    fn send_indication(&mut self, now: Instant, tuple: FiveTuple, msg: &Message<'_>) {
        let (Ok(Some(peer)), Some(data)) = (msg.xor_peer_address(), msg.data()) else {
            self.stats.dropped.malformed += 1;
            return;
        };
        self.relay_to_peer(now, tuple, peer, data);
    }

    fn client_channel_data(&mut self, now: Instant, tuple: FiveTuple, channel: u16, data: &[u8]) {
        let Some(a) = self.allocations.get(&tuple) else {
            self.stats.dropped.no_allocation += 1;
            return;
        };
        let Some(&(peer, _)) = a.channels.get(&channel) else {
            self.stats.dropped.unbound_channel += 1;
            return;
        };
        self.relay_to_peer(now, tuple, peer, data);
    }

    fn relay_to_peer(&mut self, now: Instant, tuple: FiveTuple, peer: SocketAddr, data: &[u8]) {
        let Some(a) = self.allocations.get_mut(&tuple) else {
            self.stats.dropped.no_allocation += 1;
            return;
        };
        if !a.has_permission(peer.ip(), now) {
            self.stats.dropped.no_permission_out += 1;
            return;
        }
        a.to_peer_bytes += data.len() as u64;
        self.stats.relayed_to_peer_packets += 1;
        self.stats.relayed_to_peer_bytes += data.len() as u64;
        if is_application_data(data) {
            self.stats.relayed_data_to_peer_packets += 1;
        }
        let relayed = a.relayed;
        self.out.push_back(Datagram::new(relayed, peer, data));
    }

    /// UDP from a peer to a relayed address: ChannelData if a channel is bound,
    /// else a Data indication; dropped without a permission.
    fn on_peer_datagram(&mut self, now: Instant, tuple: FiveTuple, peer: SocketAddr, data: &[u8]) {
        let Some(a) = self.allocations.get_mut(&tuple) else {
            self.stats.dropped.no_relay += 1;
            return;
        };
        if !a.has_permission(peer.ip(), now) {
            self.stats.dropped.no_permission += 1;
            return;
        }
        let bytes = match a.channel_for_peer(peer) {
            Some(ch) => encode_channel_data(ch, data, false),
            None => {
                let tid = self.indication_tid();
                let typ = MessageType::new(Class::Indication, Method::DATA);
                let attrs = [Attribute::XorPeerAddress(peer), Attribute::Data(data)];
                match requests::encode(typ, tid, &attrs, None, None) {
                    Some(b) => b,
                    None => {
                        self.stats.dropped.malformed += 1;
                        return;
                    }
                }
            }
        };
        let a = self.allocations.get_mut(&tuple).expect("checked above");
        a.to_client_bytes += data.len() as u64;
        self.stats.relayed_to_client_packets += 1;
        self.stats.relayed_to_client_bytes += data.len() as u64;
        if is_application_data(data) {
            self.stats.relayed_data_to_client_packets += 1;
        }
        self.send_to_client(tuple, bytes);
    }

    fn close_tcp(&mut self, conn: ConnId, send_close: bool) {
        if let Some(c) = self.tcp.remove(&conn) {
            self.tcp_by_tuple.remove(&c.tuple);
            // RFC 8656 §3.1: the allocation lives and dies with its TCP connection.
            if self.remove_allocation(&c.tuple) {
                self.stats.allocations_deleted += 1;
            }
        }
        if send_close {
            self.tcp_out.push_back(TcpCommand::Close { conn });
        }
    }

    fn tcp_data(&mut self, now: Instant, conn: ConnId, data: &[u8]) {
        let Some(c) = self.tcp.get_mut(&conn) else {
            return;
        };
        c.framer.push(data);
        let tuple = c.tuple;
        let (frames, err): (Vec<Frame>, Option<FramingError>) = c.framer.drain_frames();
        for f in frames {
            match f {
                Frame::Stun(m) => self.on_client_message(now, tuple, &m),
                Frame::ChannelData { channel, data } => {
                    self.client_channel_data(now, tuple, channel, &data)
                }
            }
        }
        if err.is_some() {
            self.stats.dropped.stream_error += 1;
            self.close_tcp(conn, true);
        }
    }
}

/// Not STUN (RFC 7983: STUN starts with 0-3): what an application sent.
fn is_application_data(data: &[u8]) -> bool {
    data.first().is_some_and(|&b| b > 3)
}

impl Endpoint for TurnServer {
    fn receive(&mut self, now: Instant, d: Datagram) {
        self.expire(now);
        let port = d.dst.port();
        if self.cfg.udp_ports.contains(&port) {
            let tuple = FiveTuple {
                transport: ClientTransport::Udp,
                client: d.src,
                server: d.dst,
            };
            self.on_client_message(now, tuple, &d.payload);
        } else if let Some(&tuple) = self
            .by_relay_port
            .get(&port)
            // The allocation's own relayed IP (a dual-stack server has two).
            .filter(|t| {
                self.allocations
                    .get(t)
                    .is_some_and(|a| a.relayed.ip() == d.dst.ip())
            })
        {
            self.on_peer_datagram(now, tuple, d.src, &d.payload);
        } else {
            self.stats.dropped.no_relay += 1;
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.expire(now);
    }

    fn poll_transmit(&mut self) -> Option<Datagram> {
        self.out.pop_front()
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.allocations
            .values()
            .map(Allocation::next_deadline)
            .min()
    }

    fn tcp_event(&mut self, now: Instant, ev: TcpEvent) {
        self.expire(now);
        match ev {
            TcpEvent::Accepted {
                conn,
                local,
                remote,
            } => {
                let tuple = FiveTuple {
                    transport: ClientTransport::Tcp,
                    client: remote,
                    server: local,
                };
                self.stats.tcp_connections += 1;
                self.tcp.insert(
                    conn,
                    TcpClient {
                        tuple,
                        framer: StreamFramer::new(),
                    },
                );
                self.tcp_by_tuple.insert(tuple, conn);
            }
            TcpEvent::Data { conn, data } => self.tcp_data(now, conn, &data),
            TcpEvent::Closed { conn } => self.close_tcp(conn, false),
            TcpEvent::Connected { .. } | TcpEvent::ConnectFailed { .. } => {}
        }
    }

    fn poll_tcp(&mut self) -> Option<TcpCommand> {
        self.tcp_out.pop_front()
    }
}
