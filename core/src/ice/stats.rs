//! A statistics snapshot, shaped like WebRTC `getStats()`
//! (`RTCIceCandidatePairStats` plus the selected pair and drop counters).

use std::net::SocketAddr;
use std::time::Duration;

use super::agent::{ConnectionState, GatheringState, IceAgent, PathKind};
use super::candidate::CandidateType;
use super::pair::PairState;

/// Counters of notable inputs, mostly things dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// Datagrams that failed STUN parsing or FINGERPRINT, or were empty.
    pub malformed: u64,
    /// Requests or responses with missing or wrong credentials.
    pub unauthenticated: u64,
    /// Datagrams on a socket the agent does not know.
    pub unknown_socket: u64,
    /// Application data from a tuple that never authenticated.
    pub data_unknown_source: u64,
    /// Responses matching no transaction (late, duplicated or spoofed).
    pub stray_responses: u64,
    /// Role conflicts seen (487 sent or received, or a role switch).
    pub role_conflicts: u64,
    /// Authenticated requests dropped by `max_requests_per_second`.
    pub rate_limited: u64,
    /// Unauthenticated requests (all counted in `unauthenticated` too) left
    /// unanswered by `max_unauthenticated_per_second`.
    pub unauthenticated_rate_limited: u64,
    /// TURN ChannelData (first byte 64–79) from a tuple that is neither a
    /// TURN server nor an authenticated peer, or non-Binding STUN methods.
    pub unsupported: u64,
    /// Authenticated requests answered 420, and responses that failed their
    /// transaction, for comprehension-required attributes this agent does not know
    /// (RFC 8489 §6.3).
    pub unknown_attributes: u64,
    /// Remote candidates already known.
    pub duplicate_candidates: u64,
    /// Signaling of an earlier generation arriving late: the peer's old credentials, or
    /// a candidate naming an old ufrag (ignored, see `signaling.rs`).
    pub stale_signaling: u64,
    /// Peer-reflexive remotes refused by the remote-candidate cap.
    pub remote_candidates_rejected: u64,
    /// Peer-reflexive remote candidates learned from requests.
    pub prflx_remote_learned: u64,
    /// Peer-reflexive local addresses learned from responses.
    pub prflx_local_learned: u64,
    /// Selected pairs that lost consent.
    pub consent_lost: u64,
    /// Check transactions started (ordinary, nomination, consent and keepalive).
    pub checks_sent: u64,
    /// Keepalive checks started on an idle selected pair (see `ice::keepalive`).
    pub keepalives_sent: u64,
    /// Of those, sent early because the radio was up anyway.
    pub keepalives_coalesced: u64,
    /// Consent checks started (data flowing, recovering, data waiting, WebRTC mode).
    pub consent_checks_sent: u64,
    /// Keepalive checks that went unanswered through all their retransmissions.
    pub keepalive_timeouts: u64,
    /// Consent checks that went unanswered.
    pub consent_timeouts: u64,
    /// Answers on the selected pair whose XOR-MAPPED-ADDRESS changed: this side's NAT
    /// mapping was lost and made again.
    pub mapped_changes: u64,
    /// Datagrams that waited for consent to be refreshed before leaving.
    pub held: u64,
    /// Datagrams dropped while waiting for consent (the queue was full, or consent was
    /// lost).
    pub held_dropped: u64,
}

/// One candidate pair of the current generation, like WebRTC's `RTCIceCandidatePairStats`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PairStats {
    /// The local socket checks and data leave from (the relayed address for a relay
    /// candidate).
    pub local: SocketAddr,
    /// The remote candidate's address.
    pub remote: SocketAddr,
    /// Type of the local candidate (a srflx candidate is paired as its host base).
    pub local_type: CandidateType,
    /// Type of the remote candidate.
    pub remote_type: CandidateType,
    /// Checklist state (RFC 8445 §6.1.2.6).
    pub state: PairState,
    /// Whether a check on it succeeded (and consent was not lost).
    pub valid: bool,
    /// Nominated (selected at some point).
    pub nominated: bool,
    /// Whether it carries data now.
    pub selected: bool,
    /// Pair priority for the agent's current role (RFC 8445 §6.1.2.3).
    pub priority: u64,
    /// Last round-trip time measured by a check (unambiguous samples only, Karn's rule).
    pub rtt: Option<Duration>,
    /// Check requests sent (retransmissions included).
    pub requests_sent: u64,
    /// Check requests received.
    pub requests_received: u64,
    /// Responses sent to the peer's checks.
    pub responses_sent: u64,
    /// Successful responses received.
    pub responses_received: u64,
    /// Bytes sent (checks and data).
    pub bytes_sent: u64,
    /// Bytes received (checks and data).
    pub bytes_received: u64,
}

/// The pair carrying data, summarised.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SelectedStats {
    /// Local candidate type as the peer sees it.
    pub local_type: CandidateType,
    /// Type of the remote candidate.
    pub remote_type: CandidateType,
    /// Direct or through a TURN relay.
    pub path: PathKind,
    /// Last round-trip time measured on it.
    pub rtt: Option<Duration>,
}

/// A snapshot of the agent, shaped like WebRTC `getStats()`; see [`IceAgent::stats`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IceStats {
    /// The connection state now.
    pub state: ConnectionState,
    /// The gathering state now.
    pub gathering: GatheringState,
    /// Pairs of the current generation, highest priority first.
    pub pairs: Vec<PairStats>,
    /// The pair carrying data, if any (during a restart, the previous generation's).
    pub selected: Option<SelectedStats>,
    /// Remote candidates in the current checklist (signalled and peer-reflexive).
    pub remote_candidates: usize,
    /// Local candidates in the current checklist (retired ones included).
    pub local_candidates: usize,
    /// Drop and event counters since the agent was created.
    pub counters: Counters,
}

impl IceAgent {
    /// The counters alone (cheap: no per-pair snapshot).
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// A statistics snapshot: cheap enough to take every second (one allocation per
    /// pair).
    pub fn stats(&self) -> IceStats {
        let g = &self.current;
        let pairs = g
            .checklist
            .pairs()
            .iter()
            .map(|p| {
                let key = (p.local, p.remote);
                let (local, remote) = g.tuple(key);
                let d = g.data.get(&key).cloned().unwrap_or_default();
                PairStats {
                    local,
                    remote,
                    local_type: g.checklist.local(p.local).candidate.kind,
                    remote_type: g.checklist.remote(p.remote).kind,
                    state: p.state,
                    valid: d.valid && !d.consent_lost,
                    nominated: d.nominated,
                    selected: g.selected == Some(key),
                    priority: p.priority,
                    rtt: d.rtt,
                    requests_sent: d.requests_sent,
                    requests_received: d.requests_received,
                    responses_sent: d.responses_sent,
                    responses_received: d.responses_received,
                    bytes_sent: d.bytes_sent,
                    bytes_received: d.bytes_received,
                }
            })
            .collect();
        let selected = self.selected_pair().map(|s| SelectedStats {
            local_type: s.local.kind,
            remote_type: s.remote.kind,
            path: s.path,
            rtt: s.rtt,
        });
        IceStats {
            state: self.state,
            gathering: self.gathering_state,
            pairs,
            selected,
            remote_candidates: g.checklist.remotes().len(),
            local_candidates: g.checklist.locals().len(),
            counters: self.counters,
        }
    }
}
