//! Port mapping inside the session: one [`PortMapper`] per UDP socket behind the
//! default gateway, whose mapping becomes a server-reflexive ICE candidate.
//!
//! - **When**: a socket is mapped once the session has started (its server names are
//!   resolved), it is bound, and the pump named the default gateway
//!   ([`Input::Gateway`](super::Input::Gateway), or the default route of an
//!   [`Input::Network`](super::Input::Network) snapshot). Only IPv4 sockets on a private
//!   or shared address are mapped: a public address has no NAT to ask. Probing runs beside
//!   gathering and never delays it (the candidate trickles when it arrives).
//! - **Traffic**: NAT-PMP, PCP and SSDP go out of the mapped socket itself as ordinary
//!   [`Output::Transmit`](super::Output::Transmit)s; datagrams from the gateway are offered
//!   to its mapper before ICE sees them. UPnP's HTTP exchanges are TCP streams like a TURN
//!   server's ([`StreamRequest`]s of transport TCP to the gateway), with ids that have
//!   [`PORTMAP_STREAM_BIT`] set.
//! - **Candidates**: `Mapped` adds the candidate
//!   ([`IceAgent::add_mapped_candidate`](crate::ice::IceAgent::add_mapped_candidate), local
//!   preference one above STUN's), `Changed` replaces it, `Lost` removes it. The mapper
//!   renews at half the lease and re-maps by itself after a gateway epoch reset or a PCP
//!   ANNOUNCE; a major network change makes every mapper probe and map again, a new
//!   gateway gets new mappers (the old ones delete their mappings first).
//! - **Close**: [`Session::close`](super::Session::close) deletes every mapping; the
//!   session keeps asking to be driven (transmits, streams, timeouts) until each mapper is
//!   closed, at most [`PortMapConfig::close_timeout`] — see
//!   [`Session::is_finished`](super::Session::is_finished).
//! - **Off** with [`PortMapPolicy::enabled`] for apps that must not touch the router.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;

use super::events::{StreamId, StreamRequest};
use crate::ice::IceAgent;
use crate::portmap::{
    self, Mapping, PortMapConfig, PortMapEvent, PortMapStats, PortMapper, Protocol, ProtocolStatus,
    Protocols,
};
use crate::turn::TransportKind;
use crate::Transmit;

/// Stream ids of port-mapping HTTP exchanges have this bit set (TURN streams count up
/// from 0), so the two never collide.
pub const PORTMAP_STREAM_BIT: u64 = 1 << 63;

/// Whether and how the session asks the gateway for port mappings. `Default`: on, every
/// protocol, the port mapper's own defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PortMapPolicy {
    /// Ask the gateway at all (default true). Off for apps that must not touch the router.
    pub enabled: bool,
    /// Which protocols to try (default all three: PCP, NAT-PMP, UPnP-IGD).
    pub protocols: Protocols,
    /// Lease asked for (default 2 h, RFC 6886's recommendation); renewed at half of it.
    pub lifetime: Duration,
    /// How long the probes may take (default 5 s).
    pub budget: Duration,
}

impl Default for PortMapPolicy {
    fn default() -> Self {
        let d = PortMapConfig::new(
            SocketAddr::from(([0, 0, 0, 0], 0)),
            IpAddr::from([0, 0, 0, 0]),
        );
        PortMapPolicy {
            enabled: true,
            protocols: Protocols::default(),
            lifetime: d.lifetime,
            budget: d.budget,
        }
    }
}

impl PortMapPolicy {
    /// No port mapping.
    pub fn disabled() -> Self {
        PortMapPolicy {
            enabled: false,
            ..Self::default()
        }
    }

    /// Only `protocol`.
    pub fn only(protocol: Protocol) -> Self {
        PortMapPolicy {
            protocols: Protocols::only(protocol),
            ..Self::default()
        }
    }

    /// With this lease.
    pub fn with_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }
}

/// One socket's port mapping as [`SessionStats`](super::SessionStats) reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PortMapState {
    /// The mapped socket.
    pub socket: SocketAddr,
    /// The gateway asked.
    pub gateway: IpAddr,
    /// The mapping held now.
    pub mapping: Option<Mapping>,
    /// What is known of each protocol (PCP, NAT-PMP, UPnP-IGD), in words.
    pub protocols: Vec<(Protocol, String)>,
    /// Being deleted (the session is closing, or the gateway changed).
    pub closing: bool,
    /// The mapper's counters (renewals, epoch resets, drops).
    pub stats: PortMapStats,
}

struct Entry {
    socket: SocketAddr,
    mapper: PortMapper,
    /// Deleting its mappings: no candidate any more.
    closing: bool,
}

/// The session's port mappers.
pub(super) struct PortMaps {
    policy: PortMapPolicy,
    gateway: Option<IpAddr>,
    entries: Vec<Entry>,
    rng: SmallRng,
    /// Session stream id → (mapper socket, mapper stream id).
    streams: Vec<(StreamId, SocketAddr, portmap::StreamId)>,
    next_stream: u64,
    out: VecDeque<StreamRequest>,
}

/// Whether a socket is worth mapping: IPv4 on a private or shared address.
fn mappable(addr: SocketAddr) -> bool {
    addr.is_ipv4()
        && !addr.ip().is_loopback()
        && !addr.ip().is_unspecified()
        && portmap::is_non_global(addr.ip())
        && !matches!(addr.ip(), IpAddr::V4(v4) if v4.is_link_local())
}

impl PortMaps {
    pub(super) fn new(policy: PortMapPolicy, rng: SmallRng) -> Self {
        PortMaps {
            policy,
            gateway: None,
            entries: Vec::new(),
            rng,
            streams: Vec::new(),
            next_stream: 0,
            out: VecDeque::new(),
        }
    }

    /// The default gateway now. A different one closes the mappers of the old one (they
    /// delete their mappings) and maps `sockets` through the new one. Returns the sockets
    /// whose candidate must go.
    pub(super) fn set_gateway(
        &mut self,
        now: Instant,
        gateway: Option<IpAddr>,
        sockets: &[SocketAddr],
    ) -> Vec<SocketAddr> {
        let gateway = gateway.filter(|g| g.is_ipv4() && !g.is_unspecified());
        if gateway == self.gateway {
            return Vec::new();
        }
        log::debug!("session: default gateway {gateway:?}");
        self.gateway = gateway;
        let mut gone = Vec::new();
        for e in self.entries.iter_mut().filter(|e| !e.closing) {
            e.mapper.close(now);
            e.closing = true;
            gone.push(e.socket);
        }
        for s in sockets {
            self.add_socket(now, *s);
        }
        gone
    }

    /// A socket is bound: map it if it qualifies.
    pub(super) fn add_socket(&mut self, now: Instant, socket: SocketAddr) {
        let Some(gateway) = self.gateway else { return };
        if !self.policy.enabled
            || !mappable(socket)
            || self
                .entries
                .iter()
                .any(|e| e.socket == socket && !e.closing)
        {
            return;
        }
        let mut c = PortMapConfig::new(socket, gateway);
        c.protocols = self.policy.protocols;
        c.lifetime = self.policy.lifetime;
        c.budget = self.policy.budget;
        match PortMapper::new(now, c, &mut self.rng) {
            Ok(mapper) => {
                log::debug!("session: port mapping {socket} through {gateway}");
                self.entries.push(Entry {
                    socket,
                    mapper,
                    closing: false,
                });
            }
            Err(e) => log::debug!("session: no port mapping for {socket}: {e}"),
        }
    }

    /// The socket is gone: its mapper with it (nothing can be sent from it any more).
    pub(super) fn remove_socket(&mut self, socket: SocketAddr) {
        self.entries.retain(|e| e.socket != socket);
        self.streams.retain(|(_, s, _)| *s != socket);
    }

    /// A major network change on the same gateway: every mapper probes and maps again.
    pub(super) fn network_changed(&mut self, now: Instant) {
        for e in self.entries.iter_mut().filter(|e| !e.closing) {
            e.mapper.network_changed(now);
        }
    }

    /// `Session::close`: every mapper deletes its mapping.
    pub(super) fn close(&mut self, now: Instant) {
        for e in self.entries.iter_mut() {
            if !e.closing {
                e.mapper.close(now);
                e.closing = true;
            }
        }
    }

    /// Every mapper is closed (nothing left to delete).
    pub(super) fn all_closed(&self) -> bool {
        self.entries.iter().all(|e| e.mapper.is_closed())
    }

    /// A datagram on `local` from the gateway: the mapper's? (Only datagrams from the
    /// gateway's address are offered, so a peer's check is never taken for one.)
    pub(super) fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        from: SocketAddr,
        data: &[u8],
    ) -> bool {
        if Some(from.ip()) != self.gateway {
            return false;
        }
        self.entries
            .iter_mut()
            .find(|e| e.socket == local)
            .is_some_and(|e| e.mapper.handle_datagram(now, from, data))
    }

    fn stream(&self, id: StreamId) -> Option<(usize, portmap::StreamId)> {
        let (_, socket, sid) = self.streams.iter().find(|(s, _, _)| *s == id)?;
        let i = self.entries.iter().position(|e| e.socket == *socket)?;
        Some((i, *sid))
    }

    /// Whether `id` is one of ours.
    pub(super) fn owns_stream(id: StreamId) -> bool {
        id.0 & PORTMAP_STREAM_BIT != 0
    }

    pub(super) fn stream_connected(&mut self, now: Instant, id: StreamId) {
        if let Some((i, sid)) = self.stream(id) {
            self.entries[i].mapper.handle_stream_connected(now, sid);
        }
    }

    pub(super) fn stream_data(&mut self, now: Instant, id: StreamId, data: &[u8]) {
        if let Some((i, sid)) = self.stream(id) {
            self.entries[i].mapper.handle_stream_data(now, sid, data);
        }
    }

    pub(super) fn stream_closed(&mut self, now: Instant, id: StreamId) {
        if let Some((i, sid)) = self.stream(id) {
            self.entries[i].mapper.handle_stream_closed(now, sid);
        }
        self.streams.retain(|(s, _, _)| *s != id);
    }

    pub(super) fn handle_timeout(&mut self, now: Instant) {
        for e in &mut self.entries {
            if e.mapper.poll_timeout().is_some_and(|t| t <= now) {
                e.mapper.handle_timeout(now);
            }
        }
    }

    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.entries
            .iter()
            .filter_map(|e| e.mapper.poll_timeout())
            .min()
    }

    /// The next datagram a mapper wants sent (from its socket).
    pub(super) fn poll_transmit(&mut self) -> Option<Transmit> {
        self.entries
            .iter_mut()
            .find_map(|e| e.mapper.poll_transmit())
    }

    /// The next stream request (UPnP HTTP), as the session's.
    pub(super) fn poll_stream(&mut self) -> Option<StreamRequest> {
        for i in 0..self.entries.len() {
            while let Some(r) = self.entries[i].mapper.poll_stream_request() {
                let socket = self.entries[i].socket;
                self.translate(socket, r);
            }
        }
        self.out.pop_front()
    }

    fn translate(&mut self, socket: SocketAddr, r: portmap::StreamRequest) {
        let find = |streams: &[(StreamId, SocketAddr, portmap::StreamId)], sid| {
            streams
                .iter()
                .find(|(_, s, m)| *s == socket && *m == sid)
                .map(|(id, _, _)| *id)
        };
        match r {
            portmap::StreamRequest::Connect { id: sid, to } => {
                let id = StreamId(PORTMAP_STREAM_BIT | self.next_stream);
                self.next_stream += 1;
                self.streams.push((id, socket, sid));
                self.out.push_back(StreamRequest::Connect {
                    id,
                    server: to,
                    transport: TransportKind::Tcp,
                    tls_server_name: None,
                });
            }
            portmap::StreamRequest::Send { id: sid, bytes } => {
                if let Some(id) = find(&self.streams, sid) {
                    self.out.push_back(StreamRequest::Send { id, bytes });
                }
            }
            portmap::StreamRequest::Close { id: sid } => {
                if let Some(id) = find(&self.streams, sid) {
                    self.streams.retain(|(s, _, _)| *s != id);
                    self.out.push_back(StreamRequest::Close { id });
                }
            }
        }
    }

    /// Applies the mappers' events to the agent's candidates.
    pub(super) fn process(&mut self, now: Instant, agent: &mut IceAgent) {
        let gateway = self.gateway;
        for e in &mut self.entries {
            while let Some(ev) = e.mapper.poll_event() {
                if e.closing {
                    continue;
                }
                match ev {
                    PortMapEvent::Mapped { external, .. }
                    | PortMapEvent::Changed { external, .. } => {
                        log::info!("session: port mapping {external} -> {}", e.socket);
                        let gw = gateway.unwrap_or(e.mapper.gateway());
                        if let Err(err) = agent.add_mapped_candidate(now, e.socket, external, gw) {
                            log::debug!("session: mapped candidate {external}: {err}");
                        }
                    }
                    PortMapEvent::Lost {
                        previous, reason, ..
                    } => {
                        log::info!("session: port mapping {previous} lost: {reason}");
                        agent.remove_mapped_candidate(e.socket);
                    }
                    PortMapEvent::Unavailable { reason, .. } => {
                        log::debug!("session: {reason}");
                    }
                    PortMapEvent::Available { .. } => {}
                }
            }
        }
        // Closed mappers of a former gateway are dropped once done.
        let before = self.entries.len();
        self.entries
            .retain(|e| !(e.closing && e.mapper.is_closed()));
        if self.entries.len() != before {
            let sockets: Vec<SocketAddr> = self.entries.iter().map(|e| e.socket).collect();
            self.streams.retain(|(_, s, _)| sockets.contains(s));
        }
    }

    /// What each mapper knows, for the statistics.
    pub(super) fn states(&self) -> Vec<PortMapState> {
        self.entries
            .iter()
            .map(|e| PortMapState {
                socket: e.socket,
                gateway: e.mapper.gateway(),
                mapping: e.mapper.mapping(),
                protocols: Protocol::ALL
                    .iter()
                    .map(|p| (*p, status_words(e.mapper.status(*p))))
                    .collect(),
                closing: e.closing,
                stats: e.mapper.stats().clone(),
            })
            .collect()
    }

    /// The gateway in use.
    pub(super) fn gateway(&self) -> Option<IpAddr> {
        self.gateway
    }
}

fn status_words(s: &ProtocolStatus) -> String {
    match s {
        ProtocolStatus::Disabled => "disabled".into(),
        ProtocolStatus::Probing => "probing".into(),
        ProtocolStatus::Available { external_ip } => match external_ip {
            Some(ip) => format!("available ({ip})"),
            None => "available".into(),
        },
        ProtocolStatus::Mapped { external } => format!("mapped {external}"),
        ProtocolStatus::Unavailable(e) => format!("unavailable: {e}"),
    }
}
