//! Per-generation state: credentials, checklist, pair data, selection.
//! An ICE restart replaces the whole [`Generation`]; the previous one keeps
//! its selected pair alive until the new one selects (make-before-break).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::candidate::{CandidateType, Transport};
use super::checklist::{CheckList, CheckListConfig};
use super::pair::{LocalId, RemoteId};
use super::sdp::IceCredentials;
use crate::stun::{IntegrityKey, TransactionId};

pub(super) type PairKey = (LocalId, RemoteId);

/// A socket the runtime told us about.
#[derive(Debug, Clone)]
pub(super) struct LocalSocket {
    pub addr: SocketAddr,
    pub local_pref: u16,
    /// False for loopback/link-local sockets that are not offered.
    pub offered: bool,
}

/// What a check is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CheckKind {
    Ordinary,
    /// Carries USE-CANDIDATE (and NOMINATION when the peer renominates).
    Nominate(Option<u32>),
    /// RFC 7675 consent on a selected pair: sent once, never retransmitted.
    Consent,
    /// A keepalive on an idle selected pair (also a consent check): retransmitted within
    /// the keepalive's safety margin, so that one lost packet does not cost the NAT
    /// mapping (see `super::keepalive`).
    Keepalive,
}

/// Caller data of an in-flight STUN transaction.
#[derive(Debug, Clone)]
pub(super) enum TxContext {
    Gather {
        gen: u32,
        socket: SocketAddr,
        server: SocketAddr,
    },
    Check {
        gen: u32,
        pair: PairKey,
        from: SocketAddr,
        kind: CheckKind,
        /// The role claimed in the request (for 487 handling).
        controlling: bool,
    },
}

/// Agent-side data of one pair (the checklist holds its state).
#[derive(Debug, Clone, Default)]
pub(super) struct PairData {
    pub valid: bool,
    pub nominated: bool,
    /// Controlled side: USE-CANDIDATE arrived before our own check succeeded.
    pub remote_nominated: Option<Option<u32>>,
    pub in_flight: Option<TransactionId>,
    pub rtt: Option<Duration>,
    pub succeeded_at: Option<Instant>,
    pub last_response: Option<Instant>,
    /// When the last request that got an answer on this pair went out (consent counts
    /// from there, RFC 7675 §5.1).
    pub last_answered_sent: Option<Instant>,
    /// The address the peer saw us at (XOR-MAPPED-ADDRESS): a local prflx
    /// candidate when it is not one of ours.
    pub mapped: Option<SocketAddr>,
    pub requests_sent: u64,
    pub requests_received: u64,
    pub responses_sent: u64,
    pub responses_received: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Lost consent: never selected again in this generation.
    pub consent_lost: bool,
}

/// Consent (RFC 7675) and keepalive state of a generation's selected pair. Reset
/// whenever the selection changes.
#[derive(Debug, Clone, Default)]
pub(super) struct Liveness {
    /// When the pair was selected.
    pub selected_at: Option<Instant>,
    /// Consent lasts until then: `consent_timeout` after sending the last request that was
    /// answered (RFC 7675 §5.1 counts from the request). Data waits once it has passed.
    pub consent_expires: Option<Instant>,
    /// When the last consent or keepalive check went out on the pair.
    pub last_check: Option<Instant>,
    /// The next check while consent is paced (data flowing, recovering, WebRTC mode):
    /// `consent_interval` ×(0.8–1.2) after the last one.
    pub next_paced: Option<Instant>,
    /// When the first request still unanswered went out (cleared by any answer): the pair
    /// is Disconnected `disconnected_timeout` after it, and lost consent
    /// `consent_timeout` after it once consent has expired too.
    pub unanswered_since: Option<Instant>,
    /// Application data went out since the last check (consent is then paced).
    pub data_since_check: bool,
    /// The peer's application data arrived since the last check: if it stops, one check
    /// finds out whether the path did (a NAT reboot drops the peer's data silently).
    pub data_in_since_check: bool,
    /// Send a consent check at the next opportunity (data is waiting for consent, back
    /// from the background, the peer was heard on another pair).
    pub check_now: bool,
}

/// Credentials, checklist and selection: everything an ICE restart replaces.
pub(super) struct Generation {
    pub id: u32,
    pub local: IceCredentials,
    pub local_key: IntegrityKey,
    pub remote: Option<(IceCredentials, IntegrityKey)>,
    pub checklist: CheckList,
    pub data: HashMap<PairKey, PairData>,
    pub triggered: VecDeque<PairKey>,
    pub remote_eoc: bool,
    pub selected: Option<PairKey>,
    pub nominating: Option<PairKey>,
    pub nomination_deadline: Option<Instant>,
    /// Controlling: the last NOMINATION value sent.
    pub nomination_sent: u32,
    /// Controlled: the highest NOMINATION value accepted.
    pub nomination_seen: Option<u32>,
    /// Liveness of the selected pair (see `super::consent` and `super::keepalive`).
    pub liveness: Liveness,
    /// Outstanding server-reflexive requests.
    pub gathering: usize,
    /// The remote candidate of a selected pair lost with its local socket: after a
    /// network change the peer's same candidate is the likeliest to answer from the new
    /// socket, so its pairs are checked first.
    pub recover_remote: Option<RemoteId>,
    /// Recovery re-probes of that remote sent so far, and when the next may go.
    pub recover_probes: u32,
    pub recover_probe_at: Option<Instant>,
    /// Local candidates known when the current pair was selected: pairs of later ones
    /// (a socket added by a network change) are checked even below the selection.
    pub locals_at_selection: usize,
    /// How many remote candidates the checklist had when the current pair
    /// was selected: later ones (the peer's new network) are checked even
    /// when their pairs rank below the selected one.
    pub remotes_at_selection: usize,
}

impl Generation {
    pub(super) fn new(
        id: u32,
        local: IceCredentials,
        controlling: bool,
        config: CheckListConfig,
    ) -> Self {
        let local_key = key_of(&local);
        Generation {
            id,
            local,
            local_key,
            remote: None,
            checklist: CheckList::new(config, controlling),
            data: HashMap::new(),
            triggered: VecDeque::new(),
            remote_eoc: false,
            selected: None,
            nominating: None,
            nomination_deadline: None,
            nomination_sent: 0,
            nomination_seen: None,
            liveness: Liveness::default(),
            gathering: 0,
            recover_remote: None,
            recover_probes: 0,
            recover_probe_at: None,
            remotes_at_selection: 0,
            locals_at_selection: 0,
        }
    }

    /// The selected pair is gone (its socket, consent, a failed nomination): forget it
    /// and its liveness state.
    pub(super) fn clear_selection(&mut self) {
        self.selected = None;
        self.liveness = Liveness::default();
    }

    /// (local base, remote address) of a pair.
    pub(super) fn tuple(&self, key: PairKey) -> (SocketAddr, SocketAddr) {
        let l = self.checklist.local(key.0).base;
        let r = self.checklist.remote(key.1);
        // Cannot fire: a checklist holds no mDNS remote (`add_remote_paired` refuses them,
        // and `replace_peer_reflexive` only swaps in a candidate with the same address).
        let ip = r.address.ip().expect("paired remotes have an IP");
        (l, SocketAddr::new(ip, r.port))
    }

    pub(super) fn pair_data(&mut self, key: PairKey) -> &mut PairData {
        self.data.entry(key).or_default()
    }

    pub(super) fn priority(&self, key: PairKey) -> Option<u64> {
        self.checklist.pair(key.0, key.1).map(|p| p.priority)
    }

    pub(super) fn is_valid(&self, key: PairKey) -> bool {
        self.checklist.pair(key.0, key.1).is_some()
            && self
                .data
                .get(&key)
                .is_some_and(|d| d.valid && !d.consent_lost)
    }

    /// The host candidate of a local socket (the relayed candidate of a
    /// relayed address).
    pub(super) fn host_of(&self, socket: SocketAddr) -> Option<LocalId> {
        self.checklist
            .locals()
            .iter()
            .enumerate()
            .find(|(i, l)| {
                l.base == socket
                    && matches!(
                        l.candidate.kind,
                        CandidateType::Host | CandidateType::Relayed
                    )
                    && !self.checklist.is_retired(LocalId(*i))
            })
            .map(|(i, _)| LocalId(i))
    }

    /// The remote candidate with this transport address.
    pub(super) fn remote_at(&self, addr: SocketAddr) -> Option<RemoteId> {
        self.checklist
            .remotes()
            .iter()
            .position(|r| {
                r.address.ip() == Some(addr.ip())
                    && r.port == addr.port()
                    && r.transport == Transport::Udp
            })
            .map(RemoteId)
    }

    /// The pair whose tuple is (local, remote), if any.
    pub(super) fn pair_at(&self, local: SocketAddr, remote: SocketAddr) -> Option<PairKey> {
        let l = self.host_of(local)?;
        let r = self.remote_at(remote)?;
        self.checklist.pair(l, r).map(|_| (l, r))
    }
}

pub(super) fn key_of(c: &IceCredentials) -> IntegrityKey {
    // ice-chars are plain ASCII, which OpaqueString accepts; fall back to the raw bytes.
    IntegrityKey::short_term(c.pwd.as_str())
        .unwrap_or_else(|_| IntegrityKey::from_bytes(c.pwd.as_str().as_bytes()))
}
