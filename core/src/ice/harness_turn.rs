//! A minimal scripted TURN server for the in-memory harness: UDP only, one
//! user, MD5 long-term credentials with a fixed nonce, Allocate / Refresh /
//! CreatePermission / ChannelBind, Send and Data indications, ChannelData,
//! and Binding (so it can double as a STUN server). Permissions are enforced
//! both ways. The realistic server model lives in tests/netsim.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::stun::{
    encode_to_vec, Attribute, Class, ErrorCode, IntegrityKey, Message, MessageType, Method,
    PasswordAlgorithm, TransactionId,
};
use crate::turn::ChannelData;

const REALM: &str = "harness.test";
const NONCE: &str = "fixed-nonce";

struct Allocation {
    client: SocketAddr,
    relayed: SocketAddr,
    perms: HashSet<IpAddr>,
    channels: HashMap<u16, SocketAddr>,
}

/// Datagrams out: (source, destination, bytes).
pub(super) type Out = Vec<(SocketAddr, SocketAddr, Vec<u8>)>;

pub(super) struct MiniTurn {
    pub addr: SocketAddr,
    key: IntegrityKey,
    allocs: Vec<Allocation>,
    next_port: u16,
    /// Relayed datagrams forwarded (both directions) and requests answered.
    pub relayed: u64,
    pub requests: u64,
    pub deallocated: u64,
    /// Clients on a TCP stream (ChannelData to them is padded).
    pub stream_clients: HashSet<SocketAddr>,
    /// The harness clock (elapsed), set before each `handle`.
    pub now: Duration,
    /// How long a CreatePermission takes to be installed and answered
    /// (peer traffic before that is dropped, as coturn does).
    pub perm_delay: Duration,
    /// Permissions being installed: (when, client, peer IP).
    pending_perms: Vec<(Duration, SocketAddr, IpAddr)>,
    /// Answers held back: (when, source, destination, bytes).
    pub later: Vec<(Duration, SocketAddr, SocketAddr, Vec<u8>)>,
    /// Datagrams relayed to peers, per (relayed address, peer) (coturn's sp).
    pub sent_to_peer: HashMap<(SocketAddr, SocketAddr), u64>,
    /// Peer datagrams dropped for want of a permission, per relayed address.
    pub dropped_no_perm: HashMap<SocketAddr, u64>,
    /// Like coturn on a host with no route to private networks: relaying to
    /// a private peer address fails (ENETUNREACH) and closes the allocation.
    pub kill_on_private_peer: bool,
    /// Allocations closed that way.
    pub killed: u64,
}

impl MiniTurn {
    pub(super) fn new(addr: SocketAddr, user: &str, pass: &str) -> Self {
        MiniTurn {
            addr,
            key: IntegrityKey::long_term(PasswordAlgorithm::Md5, user, REALM, pass).unwrap(),
            allocs: Vec::new(),
            next_port: 50000,
            relayed: 0,
            requests: 0,
            deallocated: 0,
            stream_clients: HashSet::new(),
            now: Duration::ZERO,
            perm_delay: Duration::ZERO,
            pending_perms: Vec::new(),
            later: Vec::new(),
            sent_to_peer: HashMap::new(),
            dropped_no_perm: HashMap::new(),
            kill_on_private_peer: false,
            killed: 0,
        }
    }

    /// Whether a datagram to `dst` is for this server.
    pub(super) fn serves(&self, dst: SocketAddr) -> bool {
        dst == self.addr || self.allocs.iter().any(|a| a.relayed == dst)
    }

    /// Handles one datagram addressed to the server or a relayed address.
    pub(super) fn handle(&mut self, src: SocketAddr, dst: SocketAddr, bytes: &[u8]) -> Out {
        let mut out = self.handle_inner(src, dst, bytes);
        if self.kill_on_private_peer {
            let relays: Vec<SocketAddr> = self.allocs.iter().map(|a| a.relayed).collect();
            let dead: Vec<SocketAddr> = out
                .iter()
                .filter(|(from, to, _)| {
                    relays.contains(from) && matches!(to.ip(), IpAddr::V4(v4) if v4.is_private())
                })
                .map(|(from, _, _)| *from)
                .collect();
            if !dead.is_empty() {
                self.killed += dead.len() as u64;
                self.allocs.retain(|a| !dead.contains(&a.relayed));
                out.retain(|(from, _, _)| !dead.contains(from));
            }
        }
        out
    }

    fn handle_inner(&mut self, src: SocketAddr, dst: SocketAddr, bytes: &[u8]) -> Out {
        let now = self.now;
        let (due, rest): (Vec<_>, Vec<_>) = self
            .pending_perms
            .drain(..)
            .partition(|(t, _, _)| *t <= now);
        self.pending_perms = rest;
        for (_, client, ip) in due {
            if let Some(a) = self.allocs.iter_mut().find(|a| a.client == client) {
                a.perms.insert(ip);
            }
        }
        if dst != self.addr {
            return self.relay_in(src, dst, bytes);
        }
        let mut out = Vec::new();
        match bytes.first() {
            Some(64..=79) => {
                let Ok(cd) = ChannelData::decode(bytes) else {
                    return out;
                };
                let Some(a) = self.allocs.iter().find(|a| a.client == src) else {
                    return out;
                };
                if let Some(peer) = a.channels.get(&cd.channel) {
                    if a.perms.contains(&peer.ip()) {
                        self.relayed += 1;
                        *self.sent_to_peer.entry((a.relayed, *peer)).or_default() += 1;
                        out.push((a.relayed, *peer, cd.data.to_vec()));
                    }
                }
            }
            Some(0..=3) => {
                if let Ok(m) = Message::parse(bytes) {
                    self.stun(src, &m, &mut out);
                }
            }
            _ => {}
        }
        out
    }

    fn relay_in(&mut self, src: SocketAddr, dst: SocketAddr, bytes: &[u8]) -> Out {
        let Some(a) = self.allocs.iter().find(|a| a.relayed == dst) else {
            return Vec::new();
        };
        if !a.perms.contains(&src.ip()) {
            *self.dropped_no_perm.entry(dst).or_default() += 1;
            return Vec::new();
        }
        self.relayed += 1;
        let chan = a.channels.iter().find(|(_, p)| **p == src).map(|(c, _)| *c);
        let msg = match chan {
            Some(c) => {
                ChannelData::encode(c, bytes, self.stream_clients.contains(&a.client)).unwrap()
            }
            None => encode_to_vec(
                MessageType::new(Class::Indication, Method::DATA),
                TransactionId([7; 12]),
                &[Attribute::XorPeerAddress(src), Attribute::Data(bytes)],
                None,
                false,
            )
            .unwrap(),
        };
        vec![(self.addr, a.client, msg)]
    }

    fn stun(&mut self, src: SocketAddr, m: &Message<'_>, out: &mut Out) {
        let tid = m.transaction_id();
        let method = m.method();
        if m.class() == Class::Indication && method == Method::SEND {
            let Some(a) = self.allocs.iter().find(|a| a.client == src) else {
                return;
            };
            if let (Ok(Some(peer)), Some(data)) = (m.xor_peer_address(), m.data()) {
                if a.perms.contains(&peer.ip()) {
                    self.relayed += 1;
                    *self.sent_to_peer.entry((a.relayed, peer)).or_default() += 1;
                    out.push((a.relayed, peer, data.to_vec()));
                }
            }
            return;
        }
        if m.class() != Class::Request {
            return;
        }
        self.requests += 1;
        if method == Method::BINDING {
            let r = encode_to_vec(
                MessageType::new(Class::Success, Method::BINDING),
                tid,
                &[Attribute::XorMappedAddress(src)],
                None,
                true,
            );
            out.push((self.addr, src, r.unwrap()));
            return;
        }
        if !m.has_integrity() || m.verify_integrity_key(&self.key).is_err() {
            let r = encode_to_vec(
                MessageType::new(Class::Error, method),
                tid,
                &[
                    Attribute::ErrorCode(ErrorCode::UNAUTHENTICATED),
                    Attribute::Realm(REALM),
                    Attribute::Nonce(NONCE),
                ],
                None,
                false,
            );
            out.push((self.addr, src, r.unwrap()));
            return;
        }
        let mut attrs = Vec::new();
        let pos = self.allocs.iter().position(|a| a.client == src);
        match method {
            Method::ALLOCATE => {
                let relayed = match pos {
                    Some(i) => self.allocs[i].relayed,
                    None => {
                        self.next_port += 1;
                        let relayed = SocketAddr::new(self.addr.ip(), self.next_port);
                        self.allocs.push(Allocation {
                            client: src,
                            relayed,
                            perms: HashSet::new(),
                            channels: HashMap::new(),
                        });
                        relayed
                    }
                };
                attrs.push(Attribute::XorRelayedAddress(relayed));
                attrs.push(Attribute::XorMappedAddress(src));
                attrs.push(Attribute::Lifetime(600));
            }
            Method::REFRESH => {
                let lifetime = m.lifetime().ok().flatten().unwrap_or(600);
                if lifetime == 0 {
                    if let Some(i) = pos {
                        self.allocs.remove(i);
                        self.deallocated += 1;
                    }
                }
                attrs.push(Attribute::Lifetime(lifetime));
            }
            Method::CREATE_PERMISSION => {
                if let Some(i) = pos {
                    for p in m.xor_peer_addresses().flatten() {
                        if self.perm_delay.is_zero() {
                            self.allocs[i].perms.insert(p.ip());
                        } else {
                            let at = self.now + self.perm_delay;
                            self.pending_perms.push((at, src, p.ip()));
                        }
                    }
                }
                if !self.perm_delay.is_zero() {
                    let r = encode_to_vec(
                        MessageType::new(Class::Success, method),
                        tid,
                        &attrs,
                        Some(self.key.as_bytes()),
                        false,
                    );
                    let at = self.now + self.perm_delay;
                    self.later.push((at, self.addr, src, r.unwrap()));
                    return;
                }
            }
            Method::CHANNEL_BIND => {
                if let (Some(i), Ok(Some(c)), Ok(Some(p))) =
                    (pos, m.channel_number(), m.xor_peer_address())
                {
                    self.allocs[i].channels.insert(c, p);
                    self.allocs[i].perms.insert(p.ip());
                }
            }
            _ => return,
        }
        let r = encode_to_vec(
            MessageType::new(Class::Success, method),
            tid,
            &attrs,
            Some(self.key.as_bytes()),
            false,
        );
        out.push((self.addr, src, r.unwrap()));
    }
}
