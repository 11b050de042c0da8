//! Local sockets and candidate gathering: host candidates from the sockets
//! the runtime announces, server-reflexive candidates from STUN servers
//! (RFC 8445 §5.1.1), trickled as [`IceEvent::LocalCandidate`] as soon as
//! each is known (RFC 8838).
//!
//! Server-reflexive requests use [`IceConfig::gather_transaction`]
//! (RTO 250 ms, given up after 5 s): a dead server only delays the
//! `Complete` gathering state, never a check — host candidates are paired
//! and checked at once.
//!
//! Network change without restart: `add_local_socket` gathers on the new
//! socket and trickles its candidates; `remove_local_socket` retires the
//! socket's candidates and pairs. If the selected pair used it, the agent
//! re-selects (see [`super::nominate`]).
//!
//! [`IceConfig::gather_transaction`]: super::agent::IceConfig::gather_transaction

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use super::agent::{GatheringState, IceAgent, IceError, IceEvent, LocalSocket, TxContext};
use super::candidate::{Candidate, CandidateType, Transport};
use super::pair::LocalCandidate;
use super::priority::{candidate_priority, foundation, FoundationInput, NetworkCost};
use crate::stun::{encode_to_vec, Class, Message, MessageType, Method, TransactionId};

/// Local preference: cost tier first (one tier per 10 cost units, 1024
/// values each, cheapest highest); within a tier the families interleave,
/// IPv6 first (RFC 8421 §4): the n-th IPv6 socket, then the n-th IPv4 one,
/// where `seq` counts the sockets added so far of the same family. Stable for
/// a socket's lifetime, distinct per socket.
fn local_preference(cost: NetworkCost, ip: IpAddr, seq: u16) -> u16 {
    let tier = u32::from(cost.0 / 10).min(62);
    let top = 65535 - tier * 1024;
    let within = 2 * u32::from(seq % 500) + u32::from(ip.is_ipv4());
    (top - within) as u16
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

impl IceAgent {
    /// The runtime opened (or found) a socket: offer it as a host candidate,
    /// gather a server-reflexive candidate through it, pair it, check it.
    /// Loopback and link-local sockets are kept but not offered unless the
    /// config says so.
    pub fn add_local_socket(
        &mut self,
        now: Instant,
        addr: SocketAddr,
        cost: NetworkCost,
    ) -> Result<(), IceError> {
        if self.closed {
            return Err(IceError::Closed);
        }
        if self.sockets.iter().any(|s| s.addr == addr) {
            return Err(IceError::DuplicateSocket(addr));
        }
        let ip = addr.ip();
        let offered = (self.config.include_loopback || !ip.is_loopback())
            && (self.config.include_link_local || !is_link_local(ip))
            && !ip.is_unspecified();
        let family_seq = &mut self.socket_seq[usize::from(ip.is_ipv4())];
        let local_pref = local_preference(cost, ip, *family_seq);
        *family_seq = family_seq.wrapping_add(1);
        self.sockets.push(LocalSocket {
            addr,
            local_pref,
            offered,
        });
        self.gather_socket(now, addr);
        self.drive(now);
        Ok(())
    }

    /// The socket is gone (interface down, network switch): its candidates
    /// and pairs are dropped in every generation, its transactions cancelled.
    pub fn remove_local_socket(&mut self, now: Instant, addr: SocketAddr) -> Result<(), IceError> {
        if !self.sockets.iter().any(|s| s.addr == addr) {
            return Err(IceError::UnknownSocket(addr));
        }
        self.drop_relays_on(addr);
        self.retire_socket(addr);
        self.after_selection_lost(now);
        self.drive(now);
        Ok(())
    }

    /// Forgets a socket (or relayed address): its candidates and pairs in
    /// every generation, its transactions, its authenticated tuples.
    pub(super) fn retire_socket(&mut self, addr: SocketAddr) {
        self.sockets.retain(|s| s.addr != addr);
        self.forget_mapping(addr);
        let mut cancel = Vec::new();
        let ids: Vec<u32> = std::iter::once(self.current.id)
            .chain(self.previous.as_ref().map(|p| p.id))
            .collect();
        for gid in ids {
            let Some(g) = self.generation_mut(gid) else {
                continue;
            };
            let retired = g.checklist.retire_base(addr);
            g.triggered.retain(|k| !retired.contains(&k.0));
            for (k, d) in g.data.iter_mut() {
                if retired.contains(&k.0) {
                    d.valid = false;
                    if let Some(t) = d.in_flight.take() {
                        cancel.push(t);
                    }
                }
            }
            if g.nominating.is_some_and(|k| retired.contains(&k.0)) {
                g.nominating = None;
            }
            if let Some(k) = g.selected.filter(|k| retired.contains(&k.0)) {
                // The first loss names the path to recover; a fallback selected meanwhile
                // (a TCP relay whose stream went with the address) does not replace it.
                if g.recover_remote.is_none() {
                    g.recover_remote = Some(k.1);
                    g.recover_probes = 0;
                    g.recover_probe_at = None;
                }
                log::debug!("ice: selected pair lost its socket {addr}");
                g.clear_selection();
            }
        }
        // Transactions still in flight from the dead socket are dropped at
        // poll_transmit and time out on their own.
        for id in cancel {
            self.transactions.cancel(&id);
        }
        self.peers.retain(|(l, _), _| *l != addr);
        self.last_out.retain(|(l, _), _| *l != addr);
    }

    /// Offers the socket's host candidate in the current generation and
    /// starts one server-reflexive request per STUN server of its family.
    pub(super) fn gather_socket(&mut self, now: Instant, addr: SocketAddr) {
        let Some(sock) = self.sockets.iter().find(|s| s.addr == addr).cloned() else {
            return;
        };
        if !sock.offered {
            return;
        }
        self.start_relays(now, addr);
        if self.config.transport_policy == super::config::TransportPolicy::Relay {
            self.set_gathering_state(GatheringState::Gathering);
            return;
        }
        let ip = addr.ip();
        let host = Candidate::new(
            foundation(&FoundationInput {
                kind: CandidateType::Host,
                base_ip: ip,
                server_ip: None,
                transport: Transport::Udp,
            }),
            1,
            Transport::Udp,
            candidate_priority(CandidateType::Host.type_preference(), sock.local_pref, 1),
            ip,
            addr.port(),
            CandidateType::Host,
        );
        self.current
            .checklist
            .add_local(LocalCandidate::new(host.clone(), addr));
        self.announce_local(host);
        self.add_mapped_local(self.current.id, addr);
        let servers = self.config.stun_servers.clone();
        self.request_srflx(now, addr, &servers);
        self.set_gathering_state(GatheringState::Gathering);
    }

    /// Servers learned after the sockets gathered (a NAT64 prefix discovered late makes
    /// IPv4 servers reachable from IPv6 sockets): the sockets gather from them too.
    pub(crate) fn add_servers(
        &mut self,
        now: Instant,
        stun: &[SocketAddr],
        turn: &[super::relay::RelayServer],
    ) {
        if self.closed {
            return;
        }
        let stun: Vec<SocketAddr> = stun
            .iter()
            .copied()
            .filter(|s| !self.config.stun_servers.contains(s))
            .collect();
        self.config.stun_servers.extend(stun.iter().copied());
        self.config.turn_servers.extend(turn.iter().cloned());
        let sockets: Vec<SocketAddr> = self
            .sockets
            .iter()
            .filter(|s| s.offered)
            .map(|s| s.addr)
            .collect();
        for addr in sockets {
            if !turn.is_empty() {
                self.start_relays(now, addr);
            }
            if self.config.transport_policy != super::config::TransportPolicy::Relay {
                self.request_srflx(now, addr, &stun);
            }
        }
        self.drive(now);
    }

    /// One server-reflexive request from `addr` per server of its family.
    fn request_srflx(&mut self, now: Instant, addr: SocketAddr, servers: &[SocketAddr]) {
        let servers: Vec<SocketAddr> = servers
            .iter()
            .copied()
            .filter(|s| s.is_ipv4() == addr.is_ipv4())
            .collect();
        if !servers.is_empty() {
            self.set_gathering_state(GatheringState::Gathering);
        }
        for server in servers {
            let tid = TransactionId::random(&mut *self.rng);
            let req = encode_to_vec(
                MessageType::new(Class::Request, Method::BINDING),
                tid,
                &[],
                None,
                true,
            )
            // Cannot fire: no attribute to validate, and encode_to_vec sizes its own buffer.
            .expect("a bare Binding request always encodes");
            let ctx = TxContext::Gather {
                gen: self.current.id,
                socket: addr,
                server,
            };
            if self
                .transactions
                .start(now, tid, server, req, self.config.gather_transaction, ctx)
                .is_ok()
            {
                self.current.gathering += 1;
            }
        }
    }

    /// A Binding response from a STUN server.
    pub(super) fn on_gather_response(
        &mut self,
        gen: u32,
        socket: SocketAddr,
        server: SocketAddr,
        msg: &Message<'_>,
    ) {
        if let Some(g) = self.generation_mut(gen) {
            g.gathering = g.gathering.saturating_sub(1);
        }
        if msg.class() != Class::Success {
            return;
        }
        if msg.has_unknown_comprehension_required() {
            // RFC 8489 §6.3.3: discarded, and the transaction has failed.
            self.counters.unknown_attributes += 1;
            return;
        }
        let mapped = match msg.xor_mapped_address() {
            Ok(Some(a)) => a,
            _ => match msg.mapped_address() {
                Ok(Some(a)) => a,
                _ => {
                    self.counters.malformed += 1;
                    return;
                }
            },
        };
        self.add_srflx(gen, socket, server.ip(), mapped);
    }

    /// A server-reflexive candidate for `socket` mapped to `mapped` (from a
    /// STUN server, or a TURN server's XOR-MAPPED-ADDRESS), unless redundant.
    pub(super) fn add_srflx(
        &mut self,
        gen: u32,
        socket: SocketAddr,
        server_ip: IpAddr,
        mapped: SocketAddr,
    ) {
        let Some(sock) = self.sockets.iter().find(|s| s.addr == socket).cloned() else {
            return;
        };
        let Some(g) = self.generation_mut(gen) else {
            return;
        };
        let exists = g.checklist.locals().iter().any(|l| {
            l.candidate.address.ip() == Some(mapped.ip()) && l.candidate.port == mapped.port()
        });
        if exists || mapped == socket {
            return; // not behind a NAT, or already known: redundant (§5.1.3)
        }
        let mut c = Candidate::new(
            foundation(&FoundationInput {
                kind: CandidateType::ServerReflexive,
                base_ip: socket.ip(),
                server_ip: Some(server_ip),
                transport: Transport::Udp,
            }),
            1,
            Transport::Udp,
            candidate_priority(
                CandidateType::ServerReflexive.type_preference(),
                sock.local_pref,
                1,
            ),
            mapped.ip(),
            mapped.port(),
            CandidateType::ServerReflexive,
        );
        c.related = Some((socket.ip().into(), socket.port()));
        g.checklist
            .add_local(LocalCandidate::new(c.clone(), socket));
        if gen == self.current.id {
            self.announce_local(c);
        }
    }

    /// Emits a local candidate for the peer, tagged with the current generation's
    /// ufrag (the `ufrag` extension libwebrtc sends too), so the peer can tell a
    /// candidate of a new generation from a late one of the old (see signaling.rs).
    pub(super) fn announce_local(&mut self, mut c: Candidate) {
        let ufrag = self.current.local.ufrag.as_str().to_owned();
        c.extensions.retain(|(k, _)| k != "ufrag");
        c.extensions.push(("ufrag".to_owned(), ufrag));
        self.events.push_back(IceEvent::LocalCandidate(c));
    }

    pub(super) fn on_gather_timeout(&mut self, gen: u32) {
        if let Some(g) = self.generation_mut(gen) {
            g.gathering = g.gathering.saturating_sub(1);
        }
    }

    /// A prflx local candidate for a mapped address the peer reported.
    pub(super) fn prflx_candidate(&self, base: SocketAddr, mapped: SocketAddr) -> Candidate {
        let pref = self
            .sockets
            .iter()
            .find(|s| s.addr == base)
            .map_or(0, |s| s.local_pref);
        let mut c = Candidate::new(
            foundation(&FoundationInput {
                kind: CandidateType::PeerReflexive,
                base_ip: base.ip(),
                server_ip: None,
                transport: Transport::Udp,
            }),
            1,
            Transport::Udp,
            self.prflx_priority(pref),
            mapped.ip(),
            mapped.port(),
            CandidateType::PeerReflexive,
        );
        c.related = Some((base.ip().into(), base.port()));
        c
    }

    /// PRIORITY for checks sent from a socket (RFC 8445 §7.1.1).
    pub(super) fn prflx_priority(&self, local_pref: u16) -> u32 {
        candidate_priority(
            CandidateType::PeerReflexive.type_preference(),
            local_pref,
            1,
        )
    }

    /// The local preference of a socket.
    pub(super) fn socket_pref(&self, addr: SocketAddr) -> u16 {
        self.sockets
            .iter()
            .find(|s| s.addr == addr)
            .map_or(0, |s| s.local_pref)
    }

    fn set_gathering_state(&mut self, s: GatheringState) {
        if self.gathering_state != s {
            self.gathering_state = s;
            self.events.push_back(IceEvent::GatheringStateChanged(s));
        }
    }

    pub(super) fn update_gathering_state(&mut self) {
        if self.gathering_state == GatheringState::Gathering && self.current.gathering == 0 {
            self.set_gathering_state(GatheringState::Complete);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_preferences_rank_cost_then_family_then_order() {
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        // Per-family sequence numbers, as add_local_socket assigns them.
        let wifi4 = local_preference(NetworkCost::WIFI, v4, 0);
        let wifi6 = local_preference(NetworkCost::WIFI, v6, 0);
        let wifi4b = local_preference(NetworkCost::WIFI, v4, 1);
        let wifi6b = local_preference(NetworkCost::WIFI, v6, 1);
        let cell4 = local_preference(NetworkCost::CELLULAR, v4, 2);
        let eth4 = local_preference(NetworkCost::ETHERNET, v4, 3);
        assert!(eth4 > wifi4 && wifi4 > cell4);
        // RFC 8421 §4 interleaving: v6, v4, v6, v4 whatever order they were added in.
        assert!(wifi6 > wifi4 && wifi4 > wifi6b && wifi6b > wifi4b);
        assert!(local_preference(NetworkCost::MAX, v4, 499) > 0);
    }
}
