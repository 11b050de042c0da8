//! Relayed candidates (RFC 8445 §5.1.1.2) through TURN (RFC 8656), sans-IO.
//!
//! The agent owns one [`TurnClient`] per (local socket, UDP TURN server) and
//! one per TCP/TLS TURN server. Allocation starts when a socket is added,
//! in parallel with server-reflexive gathering; each pending allocation
//! holds back [`GatheringState::Complete`], and a dead or refusing
//! server only ends in [`IceEvent::RelayFailed`] (with the
//! [`TurnError`] message) and never stalls checks on other pairs.
//!
//! [`GatheringState::Complete`]: super::agent::GatheringState::Complete
//!
//! # The relayed address as a virtual socket
//!
//! Once allocated, the relayed address is registered as a local socket of
//! its own (never announced as a host candidate): pairs from the relay
//! candidate have it as their base, inbound relayed datagrams are fed to the
//! STUN/data demultiplexer as if they arrived on it, and everything the
//! agent sends from it (checks, responses, consent, application data) is
//! handed to the TURN client in [`IceAgent::poll_transmit`]: a Send
//! indication, or ChannelData once a channel is bound. The agent binds a
//! channel for the selected pair, and creates a permission for every remote
//! candidate's IP as soon as it is known, before checks go out (the client
//! also queues a check until its permission is installed).
//!
//! # What the runtime sees
//!
//! - UDP servers: [`Transmit`]s `from` the local socket `to` the TURN server,
//!   like any other. Datagrams from the server are given to the agent as
//!   usual (`Input::Receive`); the agent routes them to the TURN client
//!   (STUN responses and indications, ChannelData 64–79) unless they answer
//!   one of its own Binding requests (a TURN server used as STUN server too).
//! - TCP/TLS servers: the runtime holds one stream per server.
//!   [`IceAgent::poll_relay_stream_transmit`] gives the bytes to write
//!   (connect to `server` on first use, or after a redirect to a new one);
//!   stream bytes read go to [`IceAgent::handle_relay_stream_bytes`], a closed
//!   or refused connection to [`IceAgent::handle_relay_stream_closed`].
//!
//! # Lifetime
//!
//! Refreshes (allocation, permissions, channels) run for as long as the
//! agent lives. [`IceAgent::close`] deletes every allocation (Refresh with
//! LIFETIME 0, sent once). An ICE restart keeps the allocations and offers
//! the same relay candidates again in the new generation (no new Allocate,
//! no extra round trip). Removing a socket drops its relays without
//! deallocating (the socket is gone; the server expires them).

use std::collections::{HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use super::agent::{IceAgent, IceEvent, LocalSocket, Transmit};
use super::candidate::{Candidate, CandidateType, Transport};
use super::config::TransportPolicy;
use super::pair::LocalCandidate;
use super::priority::{candidate_priority, foundation, FoundationInput};
use crate::stun::{Credentials, Message};
use crate::turn::{
    Event as TurnEvent, TransportKind, TurnClient, TurnConfig, TurnError, TurnState, TurnStats,
};

/// Whether a relay at `relayed` can reach `peer`: not when the peer's address
/// is private, shared (CGNAT), link-local or loopback while the relayed
/// address is not (a peer's host candidate behind its NAT, seen from a
/// public TURN server), unless that peer was heard through the relay. Nothing
/// else is relayed there: the datagram could only be lost, and coturn answers
/// a failed send on a relay socket (ENETUNREACH from a host without a route
/// to the peer's private network) by closing the whole allocation, taking
/// every other relayed pair with it. Permissions are still created (harmless:
/// they let such a peer reach us first).
pub(super) fn relay_reaches(relayed: SocketAddr, peer: IpAddr) -> bool {
    fn local_scope(ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) => {
                let o = v4.octets();
                v4.is_private()
                    || v4.is_loopback()
                    || v4.is_link_local()
                    || v4.is_unspecified()
                    || (o[0] == 100 && (o[1] & 0xc0) == 64)
            }
            IpAddr::V6(v6) => {
                let s = v6.segments()[0];
                v6.is_loopback()
                    || v6.is_unspecified()
                    || (s & 0xfe00) == 0xfc00
                    || (s & 0xffc0) == 0xfe80
            }
        }
    }
    !local_scope(peer) || local_scope(relayed.ip())
}

/// A TURN server to gather relayed candidates from.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RelayServer {
    /// The server's address (resolved by the runtime).
    pub addr: SocketAddr,
    /// How to reach it; the relay itself is always UDP.
    pub transport: TransportKind,
    /// Long-term credentials (see [`crate::turn::rest_api_credentials`]).
    pub credentials: Credentials,
}

impl RelayServer {
    /// A server at `addr` reached over `transport`, with long-term credentials.
    pub fn new(addr: SocketAddr, transport: TransportKind, username: &str, password: &str) -> Self {
        RelayServer {
            addr,
            transport,
            credentials: Credentials::new(username, password),
        }
    }

    /// A server reached over UDP.
    pub fn udp(addr: SocketAddr, username: &str, password: &str) -> Self {
        Self::new(addr, TransportKind::Udp, username, password)
    }
}

/// Bytes for the TCP/TLS stream to a TURN server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayStreamTransmit {
    /// The server the stream goes to.
    pub server: SocketAddr,
    /// TCP or TLS.
    pub transport: TransportKind,
    /// Bytes to write, in order.
    pub bytes: Vec<u8>,
    /// For TLS: the name the server's certificate must match.
    pub tls_name: TlsName,
}

/// The name a TURN server's TLS certificate is verified against (RFC 8489 §14.16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsName {
    /// The configured server's own name.
    Configured,
    /// Redirected without ALTERNATE-DOMAIN: the name the configured server `SameAs(addr)`
    /// was verified with.
    SameAs(SocketAddr),
    /// Redirected with ALTERNATE-DOMAIN: this name.
    Domain(String),
}

/// One relay's state, for diagnostics.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RelayStats {
    /// The configured server.
    pub server: SocketAddr,
    /// How it is reached.
    pub transport: TransportKind,
    /// The local socket the allocation was made from (UDP), `None` for a TCP/TLS stream.
    pub socket: Option<SocketAddr>,
    /// Where the allocation is (allocating, allocated, failed…).
    pub state: TurnState,
    /// Relayed address, once allocated.
    pub relayed: Option<SocketAddr>,
    /// Our address as the server saw it.
    pub mapped: Option<SocketAddr>,
    /// Why it failed, once it did (also reported as [`IceEvent::RelayFailed`]).
    pub error: Option<TurnError>,
    /// Peer IPs a permission was requested for.
    pub permissions: usize,
    /// Peers a channel was requested for.
    pub channels: usize,
    /// The TURN client's counters.
    pub turn: TurnStats,
}

pub(super) struct Relay {
    server_index: usize,
    server: SocketAddr,
    socket: Option<SocketAddr>,
    transport: TransportKind,
    client: TurnClient,
    relayed: Option<SocketAddr>,
    mapped: Option<SocketAddr>,
    /// Allocation outstanding (counted in `Generation::gathering`).
    pending: bool,
    /// The generation whose gathering count includes this relay.
    counted_gen: u32,
    error: Option<TurnError>,
    permitted: HashSet<IpAddr>,
    /// Peer IPs the server refused a permission for.
    denied: HashSet<IpAddr>,
    channels: HashSet<SocketAddr>,
    /// Peers that sent us something through the relay (so reachable from
    /// it, whatever their address; see [`relay_reaches`]).
    heard: HashSet<SocketAddr>,
    /// What a TLS stream to the (possibly redirected) server verifies.
    tls_name: TlsName,
}

/// The agent's relays.
#[derive(Default)]
pub(super) struct Relays {
    list: Vec<Relay>,
    /// The latest `now` the agent saw (for sends from `poll_transmit`).
    now: Option<Instant>,
    stream_out: VecDeque<RelayStreamTransmit>,
    /// The relayed pairs' Ta clock (see [`super::pacer`]).
    pub(super) next_check_at: Option<Instant>,
}

impl IceAgent {
    /// Starts (or, after a restart, re-offers) the relays of a socket.
    pub(super) fn start_relays(&mut self, now: Instant, socket: SocketAddr) {
        self.relays.now = Some(now);
        let servers = self.config.turn_servers.clone();
        for (si, s) in servers.iter().enumerate() {
            if s.addr.is_ipv4() != socket.is_ipv4() {
                continue;
            }
            let via = (!s.transport.is_stream()).then_some(socket);
            let pos = self
                .relays
                .list
                .iter()
                .position(|r| r.server_index == si && r.socket == via);
            let idx = match pos {
                Some(i) => i,
                None => {
                    let cfg = TurnConfig::new(s.addr, s.transport, s.credentials.clone());
                    let client = TurnClient::new(now, cfg, &mut *self.rng);
                    self.relays.list.push(Relay {
                        server_index: si,
                        server: s.addr,
                        socket: via,
                        transport: s.transport,
                        client,
                        relayed: None,
                        mapped: None,
                        pending: true,
                        counted_gen: u32::MAX,
                        error: None,
                        permitted: HashSet::new(),
                        denied: HashSet::new(),
                        channels: HashSet::new(),
                        heard: HashSet::new(),
                        tls_name: TlsName::Configured,
                    });
                    self.relays.list.len() - 1
                }
            };
            let gid = self.current.id;
            let r = &mut self.relays.list[idx];
            if r.pending {
                if r.counted_gen != gid {
                    r.counted_gen = gid;
                    self.current.gathering += 1;
                }
            } else if r.relayed.is_some() && r.error.is_none() {
                self.offer_relay(idx);
            }
        }
    }

    /// Adds the relay candidate (and its mapped address as srflx) to the
    /// current generation and trickles it.
    fn offer_relay(&mut self, idx: usize) {
        let r = &self.relays.list[idx];
        let Some(relayed) = r.relayed else {
            return;
        };
        let (socket, server, mapped, si) = (r.socket, r.server, r.mapped, r.server_index);
        let pref = self.socket_pref(relayed).saturating_sub(si as u16);
        let mut c = Candidate::new(
            foundation(&FoundationInput {
                kind: CandidateType::Relayed,
                base_ip: socket.map_or(relayed.ip(), |s| s.ip()),
                server_ip: Some(server.ip()),
                transport: Transport::Udp,
            }),
            1,
            Transport::Udp,
            candidate_priority(CandidateType::Relayed.type_preference(), pref, 1),
            relayed.ip(),
            relayed.port(),
            CandidateType::Relayed,
        );
        c.related = mapped.map(|m| (m.ip().into(), m.port()));
        let g = &mut self.current;
        let known = g
            .checklist
            .locals()
            .iter()
            .any(|l| l.base == relayed && l.candidate.kind == CandidateType::Relayed);
        if !known {
            g.checklist
                .add_local(LocalCandidate::new(c.clone(), relayed));
            self.announce_local(c);
        }
        if let (Some(socket), Some(mapped)) = (socket, mapped) {
            if self.config.transport_policy == TransportPolicy::All {
                let gid = self.current.id;
                self.add_srflx(gid, socket, server.ip(), mapped);
            }
        }
    }

    /// Runs the TURN clients' timers and events, permissions and channels.
    pub(super) fn drive_relays(&mut self, now: Instant) {
        self.relays.now = Some(now);
        for i in 0..self.relays.list.len() {
            let c = &mut self.relays.list[i].client;
            if c.poll_timeout().is_some_and(|t| t <= now) {
                c.handle_timeout(now);
            }
            self.relay_events(now, i);
        }
        self.relay_permissions(now);
        self.relay_channel(now);
    }

    fn relay_events(&mut self, now: Instant, i: usize) {
        while let Some(ev) = self.relays.list[i].client.poll_event() {
            let r = &mut self.relays.list[i];
            match ev {
                TurnEvent::Allocated {
                    relayed, mapped, ..
                } => {
                    log::debug!("ice: relay {relayed} allocated on {}", r.server);
                    r.relayed = Some(relayed);
                    r.mapped = mapped;
                    let pref = r.socket.map_or(0, |s| self.socket_pref(s));
                    let pref = if pref == 0 {
                        self.sockets.first().map_or(0, |s| s.local_pref)
                    } else {
                        pref
                    };
                    self.sockets.push(LocalSocket {
                        addr: relayed,
                        local_pref: pref,
                        offered: false,
                    });
                    self.relay_done(i);
                    self.offer_relay(i);
                }
                TurnEvent::Failed(error) => {
                    log::debug!("ice: relay on {} failed: {error}", r.server);
                    r.error = Some(error.clone());
                    let (server, transport, relayed) = (r.server, r.transport, r.relayed);
                    self.relay_done(i);
                    if let Some(relayed) = relayed {
                        self.retire_socket(relayed);
                        self.after_selection_lost(now);
                    }
                    self.events.push_back(IceEvent::RelayFailed {
                        server,
                        transport,
                        error,
                    });
                }
                TurnEvent::Data { peer, bytes } => {
                    r.heard.insert(peer);
                    if let Some(relayed) = r.relayed {
                        self.handle_receive(now, relayed, peer, &bytes);
                    }
                }
                TurnEvent::PermissionFailed { peer, error } => {
                    log::debug!("ice: relay permission for {peer} failed: {error}");
                    r.denied.insert(peer);
                }
                TurnEvent::ChannelBindFailed { peer, error } => {
                    log::debug!("ice: relay channel to {peer} failed: {error}");
                }
                TurnEvent::Redirected { to, domain, .. } => {
                    log::debug!("ice: relay {} redirected to {to}", r.server);
                    r.tls_name = match (domain, &r.tls_name) {
                        (Some(d), _) => TlsName::Domain(d),
                        (None, TlsName::Configured) => TlsName::SameAs(r.server),
                        (None, kept) => kept.clone(),
                    };
                }
                other => log::trace!("ice: relay event {other:?}"),
            }
        }
    }

    /// An allocation finished (either way): it no longer holds gathering up.
    fn relay_done(&mut self, i: usize) {
        let r = &mut self.relays.list[i];
        if std::mem::take(&mut r.pending) && r.counted_gen == self.current.id {
            self.current.gathering = self.current.gathering.saturating_sub(1);
        }
    }

    /// Permissions for every remote candidate's IP (RFC 8656 §9), before checks.
    fn relay_permissions(&mut self, now: Instant) {
        let mut ips: Vec<IpAddr> = Vec::new();
        for g in std::iter::once(&self.current).chain(self.previous.as_ref()) {
            ips.extend(g.checklist.remotes().iter().filter_map(|r| r.address.ip()));
        }
        for r in &mut self.relays.list {
            let Some(relayed) = r.relayed else { continue };
            if r.client.state() != TurnState::Allocated {
                continue;
            }
            for ip in &ips {
                if ip.is_ipv4() == relayed.is_ipv4() && r.permitted.insert(*ip) {
                    if let Err(e) = r.client.create_permission(now, *ip) {
                        log::debug!("ice: relay permission for {ip}: {e}");
                    }
                }
            }
        }
    }

    /// A channel for the selected pair when it is relayed from our side.
    fn relay_channel(&mut self, now: Instant) {
        let Some(g) = self.sending_generation() else {
            return;
        };
        let Some(k) = g.selected else { return };
        let (base, remote) = g.tuple(k);
        let Some(r) = self
            .relays
            .list
            .iter_mut()
            .find(|r| r.relayed == Some(base) && r.client.state() == TurnState::Allocated)
        else {
            return;
        };
        if r.channels.insert(remote) {
            if let Err(e) = r.client.bind_channel(now, remote) {
                log::debug!("ice: relay channel to {remote}: {e}");
            }
        }
    }

    /// Whether an ordinary check from `base` to `remote` can leave now: always
    /// unless `base` is one of our relayed addresses whose permission for
    /// the remote IP is still on its way (the TURN client would hold the
    /// check for that round trip; the relayed pairs' pacer must not spend a
    /// Ta slot on it while a pair towards the peer's relayed candidate, which
    /// needs no permission of ours, could go).
    pub(super) fn relay_check_ready(&self, base: SocketAddr, remote: SocketAddr) -> bool {
        self.relays
            .list
            .iter()
            .filter(|r| r.relayed == Some(base))
            .all(|r| {
                r.client.state() != TurnState::Allocated
                    || !(relay_reaches(base, remote.ip()) || r.heard.contains(&remote))
                    || r.client.permission_installed(remote.ip())
                    || r.denied.contains(&remote.ip())
            })
    }

    /// Inbound demultiplexing: a datagram from a TURN server on the socket of
    /// one of our relays goes to that TURN client (unless it answers one of
    /// the agent's own Binding requests). Returns whether it was taken.
    pub(super) fn relay_input(
        &mut self,
        now: Instant,
        local: SocketAddr,
        from: SocketAddr,
        data: &[u8],
    ) -> bool {
        let pos = self
            .relays
            .list
            .iter()
            .position(|r| r.socket == Some(local) && r.client.server() == from);
        let Some(i) = pos else {
            // Relay-only: nothing but relayed traffic is accepted.
            let relayed = self.relays.list.iter().any(|r| r.relayed == Some(local));
            if self.config.transport_policy == TransportPolicy::Relay && !relayed {
                self.counters.data_unknown_source += 1;
                return true;
            }
            return false;
        };
        if data
            .first()
            .is_some_and(|&b| crate::stun::is_stun_first_byte(b))
        {
            if let Ok(m) = Message::parse(data) {
                if self.transactions.context(&m.transaction_id()).is_some() {
                    return false;
                }
            }
        }
        self.relays.now = Some(now);
        self.relays.list[i].client.handle_input(now, data);
        self.relay_events(now, i);
        true
    }

    /// `poll_transmit` hook: what the agent sends from a relayed address goes
    /// through its TURN client. `Some` when `t` is not relayed.
    pub(super) fn relay_wrap(&mut self, t: Transmit) -> Option<Transmit> {
        let Some(r) = self
            .relays
            .list
            .iter_mut()
            .find(|r| r.relayed == Some(t.from))
        else {
            return Some(t);
        };
        if !relay_reaches(t.from, t.to.ip()) && !r.heard.contains(&t.to) {
            // The check times out like any unanswered one; the allocation lives on.
            log::trace!("ice: not relaying to {} (out of the relay's scope)", t.to);
            return None;
        }
        let now = self.relays.now?;
        if let Err(e) = r.client.send_to(now, t.to, &t.bytes) {
            log::debug!("ice: relay send to {}: {e}", t.to);
        }
        None
    }

    /// The next datagram a UDP TURN client wants sent (from its socket).
    #[must_use]
    pub(super) fn relay_poll_transmit(&mut self) -> Option<Transmit> {
        for r in &mut self.relays.list {
            let Some(socket) = r.socket else { continue };
            if let Some(t) = r.client.poll_transmit() {
                return Some(Transmit {
                    from: socket,
                    to: t.to,
                    bytes: t.bytes,
                });
            }
        }
        None
    }

    /// Every TURN refresh that would need its own wake-up before `horizon` goes out now
    /// (see [`super::keepalive`]).
    pub(super) fn relays_refresh_before(&mut self, now: Instant, horizon: Instant) {
        for r in &mut self.relays.list {
            let n = r.client.refresh_due_before(now, horizon);
            if n > 0 {
                log::trace!("ice: {n} TURN refreshes to {} ride along", r.server);
            }
        }
    }

    /// When the TURN clients' timers are due.
    #[must_use]
    pub(super) fn relay_poll_timeout(&self) -> Option<Instant> {
        self.relays
            .list
            .iter()
            .filter_map(|r| r.client.poll_timeout())
            .chain(self.relay_check_timeout())
            .min()
    }

    /// Deletes every allocation (Refresh LIFETIME 0), on `close`.
    pub(super) fn close_relays(&mut self) {
        let Some(now) = self.relays.now else { return };
        for r in &mut self.relays.list {
            r.client.close(now);
        }
    }

    /// The socket is going away: forget its relays and their candidates.
    pub(super) fn drop_relays_on(&mut self, socket: SocketAddr) {
        let gone: Vec<SocketAddr> = self
            .relays
            .list
            .iter()
            .filter(|r| r.socket == Some(socket))
            .filter_map(|r| r.relayed)
            .collect();
        for i in (0..self.relays.list.len()).rev() {
            if self.relays.list[i].socket == Some(socket) {
                self.relay_done(i);
                self.relays.list.remove(i);
            }
        }
        for relayed in gone {
            self.retire_socket(relayed);
        }
    }

    /// Bytes to write on the TCP/TLS stream to a TURN server. The runtime holds
    /// one stream per `server`: it connects on first use (and again when a
    /// redirect names a new server), verifying a TLS certificate against
    /// `tls_name`, and writes the bytes in order. Drain it after every call, like
    /// [`IceAgent::poll_transmit`]. UDP servers never appear here.
    #[must_use = "polled stream bytes are gone from the queue: write them"]
    pub fn poll_relay_stream_transmit(&mut self) -> Option<RelayStreamTransmit> {
        let Relays {
            list, stream_out, ..
        } = &mut self.relays;
        for r in list.iter_mut().filter(|r| r.socket.is_none()) {
            while let Some(t) = r.client.poll_transmit() {
                stream_out.push_back(RelayStreamTransmit {
                    server: t.to,
                    transport: r.transport,
                    bytes: t.bytes,
                    tls_name: r.tls_name.clone(),
                });
            }
        }
        stream_out.pop_front()
    }

    /// Bytes read from the TCP/TLS stream to `server`, in order and in any
    /// chunking (the agent reassembles STUN messages and ChannelData frames).
    pub fn handle_relay_stream_bytes(&mut self, now: Instant, server: SocketAddr, bytes: &[u8]) {
        if self.closed {
            return;
        }
        if let Some(i) = self.stream_relay(server) {
            self.relays.now = Some(now);
            self.relays.list[i].client.handle_stream_bytes(now, bytes);
            self.relay_events(now, i);
        }
        self.drive(now);
    }

    /// The stream to `server` closed or could not be opened; `reason` ends up in
    /// the [`IceEvent::RelayFailed`] error. The allocation on it is lost.
    pub fn handle_relay_stream_closed(&mut self, now: Instant, server: SocketAddr, reason: &str) {
        if self.closed {
            return;
        }
        if let Some(i) = self.stream_relay(server) {
            self.relays.list[i].client.handle_connection_closed(reason);
            self.relay_events(now, i);
        }
        self.drive(now);
    }

    fn stream_relay(&self, server: SocketAddr) -> Option<usize> {
        self.relays
            .list
            .iter()
            .position(|r| r.socket.is_none() && r.client.server() == server)
    }

    /// Every relay's state.
    pub fn relay_stats(&self) -> Vec<RelayStats> {
        self.relays
            .list
            .iter()
            .map(|r| RelayStats {
                server: r.server,
                transport: r.transport,
                socket: r.socket,
                state: r.client.state(),
                relayed: r.relayed,
                mapped: r.mapped,
                error: r.error.clone(),
                permissions: r.permitted.len(),
                channels: r.channels.len(),
                turn: r.client.stats(),
            })
            .collect()
    }
}
