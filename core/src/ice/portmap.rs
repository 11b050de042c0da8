//! Port-mapped candidates: an external address the home gateway forwards to one local
//! socket (NAT-PMP, PCP or UPnP-IGD, see [`crate::portmap`]), offered to the peer as a
//! server-reflexive candidate.
//!
//! The agent does not speak the mapping protocols; its owner (the session) runs a
//! [`PortMapper`](crate::portmap::PortMapper) per socket and tells the agent what it got:
//! [`IceAgent::add_mapped_candidate`] when a mapping exists or its address changed,
//! [`IceAgent::remove_mapped_candidate`] when it is gone. The candidate is trickled at
//! once (after end-of-candidates too: probing never delays gathering), and offered again
//! in every later generation (ICE restart) while the mapping lasts.
//!
//! # Priority
//!
//! Type `srflx` (RFC 8445 §5.1.2.2 wants one type preference per type), with the local
//! preference [`mapped_local_preference`]: **the socket's own local preference + 1**, one
//! above the STUN server-reflexive candidate of the same socket. A mapping's filtering is
//! endpoint-independent (anyone may send to it), so the peer should try it before the
//! STUN-learned address, which a port-restricted or symmetric NAT filters. It stays below
//! every candidate of a cheaper network (local preferences rank the network cost first,
//! see `gather.rs`). IPv4 sockets have odd offsets within their cost tier (2·n + 1), so the
//! value is the one an IPv6 socket of the same rank uses; port mapping is IPv4 only and an
//! IPv6 socket behind a NAT is rare, so the two do not meet in practice.
//!
//! The foundation is that of a server-reflexive candidate learned from the gateway (its IP
//! as the "server"), so it differs from the STUN-learned one. A mapping on the address the
//! STUN server already reported (a port-preserving NAT) adds nothing: that candidate is
//! known to the peer already.
//!
//! Removing a mapped candidate cannot withdraw it from the peer (ICE has no way to), so
//! the peer's checks to it simply fail; the agent stops offering it in later generations.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use rand::RngCore;

use super::agent::{IceAgent, IceError};
use super::candidate::{Candidate, CandidateType, Transport};
use super::pair::LocalCandidate;
use super::priority::{candidate_priority, foundation, FoundationInput};

/// The local preference of a port-mapped candidate on a socket whose own local
/// preference is `socket_pref`: one above the socket's STUN server-reflexive candidate.
pub fn mapped_local_preference(socket_pref: u16) -> u16 {
    socket_pref.saturating_add(1)
}

/// The mappings the agent was told about, per local socket.
#[derive(Debug, Default)]
pub(super) struct Mapped {
    /// socket → (external address, gateway).
    by_socket: HashMap<SocketAddr, (SocketAddr, IpAddr)>,
}

impl IceAgent {
    /// A port mapping forwards `external` to local socket `socket` (the session's port
    /// mapper got it from `gateway`): offer it to the peer as a server-reflexive candidate
    /// at once (trickled, after end-of-candidates too) and in every later generation while
    /// it lasts. Its local preference is [`mapped_local_preference`] of the socket's: one
    /// above the socket's STUN server-reflexive candidate, since a mapping filters
    /// endpoint-independently; its foundation names the gateway as the server. A mapping
    /// on an address the STUN server already reported adds nothing. Calling it again with
    /// a new external address replaces the mapping (a gateway reboot, a new public
    /// address); the same address again changes nothing.
    pub fn add_mapped_candidate(
        &mut self,
        now: Instant,
        socket: SocketAddr,
        external: SocketAddr,
        gateway: IpAddr,
    ) -> Result<(), IceError> {
        if self.closed {
            return Err(IceError::Closed);
        }
        if !self.sockets.iter().any(|s| s.addr == socket) {
            return Err(IceError::UnknownSocket(socket));
        }
        if self.portmap.by_socket.get(&socket) == Some(&(external, gateway)) {
            return Ok(());
        }
        log::debug!("ice: port mapping {external} -> {socket} (gateway {gateway})");
        self.portmap.by_socket.insert(socket, (external, gateway));
        let gen = self.current.id;
        self.add_mapped_local(gen, socket);
        self.drive(now);
        Ok(())
    }

    /// The mapping of `socket` is gone: it is not offered any more. Returns whether there
    /// was one.
    pub fn remove_mapped_candidate(&mut self, socket: SocketAddr) -> bool {
        let removed = self.portmap.by_socket.remove(&socket);
        if let Some((external, _)) = removed {
            log::debug!("ice: port mapping {external} -> {socket} is gone");
        }
        removed.is_some()
    }

    /// The external address mapped to `socket`, if any.
    pub fn mapped_address(&self, socket: SocketAddr) -> Option<SocketAddr> {
        self.portmap.by_socket.get(&socket).map(|m| m.0)
    }

    /// Adds the mapped candidate of `socket` (if it has one) to generation `gen` and, for
    /// the current generation, trickles it. Called when the mapping arrives and when a
    /// restart gathers the socket again.
    pub(super) fn add_mapped_local(&mut self, gen: u32, socket: SocketAddr) {
        let Some(&(external, gateway)) = self.portmap.by_socket.get(&socket) else {
            return;
        };
        let Some(sock) = self.sockets.iter().find(|s| s.addr == socket).cloned() else {
            return;
        };
        if !sock.offered
            || external == socket
            || self.config.transport_policy == super::config::TransportPolicy::Relay
        {
            return;
        }
        let Some(g) = self.generation_mut(gen) else {
            return;
        };
        let known = g.checklist.locals().iter().any(|l| {
            l.candidate.address.ip() == Some(external.ip()) && l.candidate.port == external.port()
        });
        if known {
            return;
        }
        let mut c = Candidate::new(
            foundation(&FoundationInput {
                kind: CandidateType::ServerReflexive,
                base_ip: socket.ip(),
                server_ip: Some(gateway),
                transport: Transport::Udp,
            }),
            1,
            Transport::Udp,
            candidate_priority(
                CandidateType::ServerReflexive.type_preference(),
                mapped_local_preference(sock.local_pref),
                1,
            ),
            external.ip(),
            external.port(),
            CandidateType::ServerReflexive,
        );
        c.related = Some((socket.ip().into(), socket.port()));
        g.checklist
            .add_local(LocalCandidate::new(c.clone(), socket));
        if gen == self.current.id {
            self.announce_local(c);
        }
    }

    /// A seeded RNG for a machine the agent's owner runs beside it (port mappers, NAT
    /// discovery), drawn from the agent's injected RNG so a seeded run replays exactly.
    pub(crate) fn fork_rng(&mut self) -> rand::rngs::SmallRng {
        use rand::SeedableRng;
        rand::rngs::SmallRng::seed_from_u64(self.rng.next_u64())
    }

    /// A socket went away: its mapping with it.
    pub(super) fn forget_mapping(&mut self, socket: SocketAddr) {
        self.portmap.by_socket.remove(&socket);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ice::{IceConfig, IceEvent, NetworkCost};
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn agent() -> IceAgent {
        IceAgent::new(IceConfig::default(), StdRng::seed_from_u64(7))
    }

    fn candidates(a: &mut IceAgent) -> Vec<Candidate> {
        std::iter::from_fn(|| a.poll_event())
            .filter_map(|e| match e {
                IceEvent::LocalCandidate(c) => Some(c),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_mapping_is_a_srflx_candidate_above_the_stun_one() {
        let now = Instant::now();
        let mut a = agent();
        let sock: SocketAddr = "10.0.0.2:5000".parse().unwrap();
        a.add_local_socket(now, sock, NetworkCost::WIFI).unwrap();
        let host = candidates(&mut a);
        assert_eq!(host.len(), 1);
        let gw: IpAddr = "10.0.0.1".parse().unwrap();
        let ext: SocketAddr = "203.0.113.7:40000".parse().unwrap();
        a.add_mapped_candidate(now, sock, ext, gw).unwrap();
        let c = candidates(&mut a);
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].kind, CandidateType::ServerReflexive);
        assert_eq!((c[0].address.ip(), c[0].port), (Some(ext.ip()), ext.port()));
        // The STUN srflx of the same socket would carry the socket's own preference.
        let pref = a.socket_pref(sock);
        let stun = candidate_priority(100, pref, 1);
        assert!(c[0].priority > stun);
        assert_eq!(c[0].priority, candidate_priority(100, pref + 1, 1));
        assert!(c[0].priority < host[0].priority);
        assert_eq!(a.mapped_address(sock), Some(ext));
        // The same mapping again: nothing new.
        a.add_mapped_candidate(now, sock, ext, gw).unwrap();
        assert!(candidates(&mut a).is_empty());
        // A new address (gateway reboot): a new candidate.
        let ext2: SocketAddr = "203.0.113.7:40001".parse().unwrap();
        a.add_mapped_candidate(now, sock, ext2, gw).unwrap();
        assert_eq!(candidates(&mut a)[0].port, 40001);
        // Offered again after an ICE restart, not once removed.
        a.restart(now);
        let again = candidates(&mut a);
        assert!(again.iter().any(|c| c.port == 40001), "{again:?}");
        assert!(a.remove_mapped_candidate(sock));
        a.restart(now);
        let later = candidates(&mut a);
        assert!(!later.iter().any(|c| c.port == 40001), "{later:?}");
    }

    #[test]
    fn unknown_sockets_are_refused() {
        let mut a = agent();
        let e = a
            .add_mapped_candidate(
                Instant::now(),
                "10.0.0.2:5000".parse().unwrap(),
                "203.0.113.7:4000".parse().unwrap(),
                "10.0.0.1".parse().unwrap(),
            )
            .unwrap_err();
        assert!(matches!(e, IceError::UnknownSocket(_)));
    }
}
