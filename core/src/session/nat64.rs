//! IPv6-only networks with NAT64/DNS64 (mobile carriers; Apple's App Store review network).
//!
//! The pump tells the session the NAT64 prefixes (RFC 7050 discovery: the runtime asks the
//! resolver for `ipv4only.arpa` when the host has no IPv4 address; netsim knows its
//! translator). From then on:
//!
//! - every IPv4 STUN and TURN server is also reachable at its RFC 6052 synthesized IPv6
//!   address, so the IPv6 sockets gather through the translator: their server-reflexive
//!   candidate is an IPv4 address of the translator's pool (signaled as is, with the IPv6
//!   base as related address), their TURN relay an IPv4 relay;
//! - every IPv4 candidate of the peer also gets a synthesized IPv6 twin, so an IPv6 socket
//!   pairs with it and checks go through the translator; the peer sees them come from the
//!   translator's pool address (peer-reflexive for it). Candidates no translator forwards
//!   (private, loopback, link-local: RFC 6052 §3.1 under the Well-Known Prefix) get none.
//!
//! Names need nothing: on such a network the resolver (DNS64) already answers with
//! synthesized addresses.

use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::time::Instant;

use super::Session;
use crate::ice::{Candidate, Input as IceInput, RelayServer};
use crate::nat::Nat64Prefix;

/// Remote IPv4 candidates remembered to synthesize once a prefix is known.
const REMEMBERED: usize = 100;

impl Session {
    /// The NAT64 prefixes the pump found (empty: none, or not IPv6-only any more).
    pub(super) fn on_nat64(&mut self, now: Instant, prefixes: &[Nat64Prefix]) {
        if self.nat64.as_slice() == prefixes {
            return;
        }
        log::debug!("session: NAT64 prefixes {prefixes:?}");
        self.nat64 = prefixes.to_vec();
        if self.nat64.is_empty() || !self.started {
            return;
        }
        let (stun, turn) = self.synthesized_servers(&self.stun_resolved, &self.relays_resolved);
        self.agent.add_servers(now, &stun, &turn);
        for c in self.remote_v4.clone() {
            self.add_synthesized(now, &c);
        }
    }

    /// The IPv6 twins of IPv4 servers, for the first prefix.
    pub(super) fn synthesized_servers(
        &self,
        stun: &[SocketAddr],
        turn: &[RelayServer],
    ) -> (Vec<SocketAddr>, Vec<RelayServer>) {
        let Some(p) = self.nat64.first() else {
            return (Vec::new(), Vec::new());
        };
        let synth = |a: SocketAddr| match a {
            SocketAddr::V4(v4) if p.permits(*v4.ip()) => {
                Some(SocketAddr::V6(p.synthesize_socket(v4)))
            }
            _ => None,
        };
        let stun = stun.iter().filter_map(|a| synth(*a)).collect();
        let turn = turn
            .iter()
            .filter_map(|r| synth(r.addr).map(|addr| RelayServer { addr, ..r.clone() }))
            .collect();
        (stun, turn)
    }

    /// A remote candidate arrived: remember an IPv4 one, and give it an IPv6 twin if a
    /// prefix is known.
    pub(super) fn nat64_candidate(&mut self, now: Instant, c: &Candidate) {
        if !matches!(c.address.ip(), Some(IpAddr::V4(_))) {
            return;
        }
        if self.remote_v4.len() < REMEMBERED {
            self.remote_v4.push(c.clone());
        }
        if !self.nat64.is_empty() {
            self.add_synthesized(now, c);
        }
    }

    fn add_synthesized(&mut self, now: Instant, c: &Candidate) {
        let (Some(p), Some(IpAddr::V4(v4))) = (self.nat64.first(), c.address.ip()) else {
            return;
        };
        if !p.permits(v4) {
            return; // no translator forwards it (RFC 6052 §3.1)
        }
        let mut twin = c.clone();
        let a = p.synthesize_socket(SocketAddrV4::new(v4, c.port));
        twin.address = IpAddr::V6(*a.ip()).into();
        if let Err(e) = self
            .agent
            .handle_input(now, IceInput::RemoteCandidate(twin))
        {
            log::debug!("session: NAT64 twin of {c}: {e}");
        }
    }
}
