//! When a probe gets through (see [`super`]): the peer's check reaching a punching
//! socket, and the answer to one of our probes. Either makes a pair valid the way any
//! ICE check does.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::super::agent::{IceAgent, LocalSocket};
use super::super::candidate::{Candidate, CandidateType, Transport};
use super::super::pair::{LocalCandidate, PairState};
use super::super::priority::{candidate_priority, foundation, FoundationInput};
use super::PunchHit;
use crate::stun::{Class, Message, Method};

impl IceAgent {
    /// A datagram on a punch socket that carries no pair yet: an authenticated check from
    /// the peer (its probe got through) makes it an ordinary socket with a pair towards
    /// the sender, and an answer to our probe goes on to the response handling. Returns
    /// whether the datagram is to be handled as on any socket.
    pub(in crate::ice) fn punch_inbound(
        &mut self,
        now: Instant,
        local: SocketAddr,
        from: SocketAddr,
        data: &[u8],
    ) -> bool {
        let Ok(msg) = Message::parse(data) else {
            self.punch.stats.dropped += 1;
            return false;
        };
        if msg.method() != Method::BINDING {
            self.punch.stats.dropped += 1;
            return false;
        }
        match msg.class() {
            Class::Success | Class::Error
                if self.punch.probes.contains_key(&msg.transaction_id()) =>
            {
                true
            }
            Class::Request if self.authenticates(&msg) => {
                self.punch_promote(now, local, from);
                true
            }
            _ => {
                self.punch.stats.dropped += 1;
                false
            }
        }
    }

    /// A request for the current generation with valid credentials.
    fn authenticates(&self, msg: &Message<'_>) -> bool {
        let g = &self.current;
        let Ok(Some(username)) = msg.username() else {
            return false;
        };
        msg.has_integrity()
            && username.split(':').next() == Some(g.local.ufrag.as_str())
            && msg.verify_integrity_key(&g.local_key).is_ok()
    }

    /// A punch socket the peer reached becomes an unsignaled local socket with one pair:
    /// towards `remote` (the peer's address as it arrived).
    pub(super) fn punch_promote(&mut self, now: Instant, socket: SocketAddr, remote: SocketAddr) {
        let Some((started, stand_in)) = self.punch.run.as_mut().map(|run| {
            run.sockets.retain(|s| *s != socket);
            run.unprobed.retain(|s| *s != socket);
            (run.started, run.spray_from)
        }) else {
            return;
        };
        let after = now - started;
        // One below the socket it stands in for, so its host candidate ranks like it.
        let pref = self.socket_pref(stand_in).saturating_sub(1);
        self.sockets.push(LocalSocket {
            addr: socket,
            local_pref: pref,
            offered: false,
        });
        let host = Candidate::new(
            foundation(&FoundationInput {
                kind: CandidateType::Host,
                base_ip: socket.ip(),
                server_ip: None,
                transport: Transport::Udp,
            }),
            1,
            Transport::Udp,
            candidate_priority(CandidateType::Host.type_preference(), pref, 1),
            socket.ip(),
            socket.port(),
            CandidateType::Host,
        );
        let prflx = self.prflx_priority(0);
        let g = &mut self.current;
        let known = g.remote_at(remote);
        let local = g
            .checklist
            .add_local_for(LocalCandidate::new(host, socket), known);
        if known.is_none() {
            let _ = g.checklist.add_remote_for(peer_prflx(remote, prflx), local);
        }
        log::debug!("ice: punch socket {socket} reached by {remote} after {after:?}");
        if self.punch.stats.hit.is_none() {
            self.punch.stats.hit = Some(PunchHit {
                local: socket,
                remote,
                after,
                probes: self.punch.stats.probes_sent - self.punch.attempt_base,
            });
        }
    }

    /// A response that matches no check transaction: an answer to a probe? Returns
    /// whether it was one (handled here, valid or not).
    pub(in crate::ice) fn punch_response(
        &mut self,
        now: Instant,
        local: SocketAddr,
        from: SocketAddr,
        msg: &Message<'_>,
    ) -> bool {
        let tid = msg.transaction_id();
        let Some(probe) = self.punch.probes.get(&tid).copied() else {
            return false;
        };
        let Some((_, rkey)) = &self.current.remote else {
            return true;
        };
        if msg.verify_integrity_key(rkey).is_err() {
            self.counters.unauthenticated += 1;
            return true;
        }
        self.punch.probes.remove(&tid);
        // RFC 8445 §7.2.5.2.1: symmetric addresses, and a success.
        if from != probe.to || local != probe.from || msg.class() != Class::Success {
            self.punch.stats.dropped += 1;
            return true;
        }
        self.punch.stats.responses += 1;
        if self.is_punch_socket(local) {
            self.punch_promote(now, local, from);
        }
        let mapped = msg.xor_mapped_address().ok().flatten();
        self.punch_valid(now, local, from, probe.sent, mapped, probe.n);
        true
    }

    /// A probe from `local` to `remote` was answered: the pair is valid (RFC 8445
    /// §7.2.5.3), created first if the peer's address is new (peer-reflexive).
    fn punch_valid(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        sent: Instant,
        mapped: Option<SocketAddr>,
        n: u64,
    ) {
        let prflx = self.prflx_priority(0);
        let started = self.punch.run.as_ref().map(|r| r.started);
        let g = &mut self.current;
        let Some(host) = g.host_of(local) else { return };
        let rid = match g.remote_at(remote) {
            Some(r) => r,
            None => {
                let added = g.checklist.add_remote_for(peer_prflx(remote, prflx), host);
                match added {
                    Ok(r) => {
                        self.counters.prflx_remote_learned += 1;
                        r
                    }
                    Err(_) => {
                        self.counters.remote_candidates_rejected += 1;
                        return;
                    }
                }
            }
        };
        let g = &mut self.current;
        if g.checklist.pair(host, rid).is_none() {
            return;
        }
        let key = (host, rid);
        let selected = g.selected == Some(key);
        let gid = g.id;
        let d = g.pair_data(key);
        d.valid = true;
        d.responses_received += 1;
        d.rtt = Some(now.saturating_duration_since(sent));
        d.last_response = Some(now);
        // What consent freshness counts from (RFC 7675: the request's send time), as for
        // any check answered.
        d.last_answered_sent = Some(d.last_answered_sent.map_or(sent, |s| s.max(sent)));
        d.succeeded_at.get_or_insert(now);
        d.mapped = mapped;
        g.checklist.set_state(host, rid, PairState::Succeeded);
        self.peers.insert((local, remote), now);
        if selected {
            self.consent_answered(now, gid, sent);
        }
        if self.punch.stats.hit.is_none() {
            self.punch.stats.hit = Some(PunchHit {
                local,
                remote,
                after: started.map_or(Duration::ZERO, |s| now - s),
                probes: n,
            });
        }
        log::debug!("ice: punch probe {local} -> {remote} answered: pair valid");
    }
}

/// A peer-reflexive remote candidate at `addr`.
fn peer_prflx(addr: SocketAddr, priority: u32) -> Candidate {
    Candidate::new(
        foundation(&FoundationInput {
            kind: CandidateType::PeerReflexive,
            base_ip: addr.ip(),
            server_ip: None,
            transport: Transport::Udp,
        }),
        1,
        Transport::Udp,
        priority.max(1),
        addr.ip(),
        addr.port(),
        CandidateType::PeerReflexive,
    )
}
