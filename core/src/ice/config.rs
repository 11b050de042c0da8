//! Agent configuration and API errors.

use std::net::SocketAddr;
use std::time::Duration;

use super::checklist::{CheckListConfig, CheckListError};
pub(super) use super::relay::RelayServer;
use crate::stun::transaction::TransactionConfig;

/// The ice-option Pinhole agents advertise to say they accept renomination
/// (the libwebrtc `renomination` option and its NOMINATION attribute).
pub const RENOMINATION_OPTION: &str = "renomination";

/// How the controlling agent nominates (RFC 8445 §8.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NominationMode {
    /// Checks first, then one check with USE-CANDIDATE on the chosen pair.
    Regular,
    /// USE-CANDIDATE on every check (RFC 5245 aggressive nomination); the
    /// highest-priority pair that succeeds wins. Faster on lossy paths,
    /// needs a peer that selects the highest-priority nominated pair.
    Aggressive,
}

/// Agent configuration. `Default` gives the values described on each field.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct IceConfig {
    /// Start as the controlling agent (the offerer, RFC 8445 §6.1.1).
    pub controlling: bool,
    /// Check pacing Ta (default 50 ms, RFC 8445 §14.2). Clamped to ≥ 5 ms.
    pub ta: Duration,
    /// Connectivity-check retransmissions (default [`TransactionConfig::ice_check`]).
    pub check_transaction: TransactionConfig,
    /// Server-reflexive gathering (default [`TransactionConfig::gathering`]:
    /// RTO 250 ms, gives up at 5 s).
    pub gather_transaction: TransactionConfig,
    /// STUN servers for server-reflexive candidates.
    pub stun_servers: Vec<SocketAddr>,
    /// Offer loopback sockets as host candidates (default false).
    pub include_loopback: bool,
    /// Offer IPv4/IPv6 link-local sockets as host candidates (default false).
    pub include_link_local: bool,
    /// Nomination mode (default regular).
    pub nomination: NominationMode,
    /// Longest the controlling agent waits, after a pair succeeds, for a
    /// higher-priority pair still waiting or in progress (default 250 ms; the
    /// actual wait is `min(this, 2·RTT + Ta)` of the pair that succeeded).
    pub nomination_patience: Duration,
    /// Advertise and use renomination (default true).
    pub renomination: bool,
    /// Pace of consent checks while application data is being sent, while a path that
    /// stopped answering is being re-checked, and in [`KeepaliveTiming::Consent`] mode:
    /// randomised ×(0.8–1.2) (default 5 s, RFC 7675 §5.1; it forbids less than 4 s).
    pub consent_interval: Duration,
    /// Consent lasts this long after sending a request that was answered (default 30 s,
    /// RFC 7675 §5.1 counts from the request). Application data leaves only while
    /// consent is fresh: a busy pair keeps it fresh with paced checks, an idle pair whose
    /// keepalives are further apart lets it lapse (nothing is sent then, so nothing is
    /// sent without consent), and data sent on a lapsed pair is held (up to 64
    /// datagrams; more are dropped and counted in `Counters::held_dropped`) while a check
    /// goes out at once: it leaves one round trip later, when the answer arrives. Only an
    /// answer to a request sent since re-establishes consent (late answers to older ones
    /// do not). A pair whose checks went unanswered this long, with consent expired, has
    /// lost consent for good: held data is dropped and the agent falls back to another
    /// valid pair or fails.
    pub consent_timeout: Duration,
    /// A check on the selected pair unanswered this long (and nothing else heard on
    /// the pair since it went out) → `Disconnected` (default 2.5 s). A keepalive's
    /// retransmissions run within it. How soon a dead *idle* path is noticed depends on
    /// when a check goes out: at the next keepalive by default, or sooner with
    /// [`IceConfig::liveness_probe`].
    pub disconnected_timeout: Duration,
    /// When the selected pair has gone this long without any inbound packet, send a
    /// check to find out whether it still works (default `None`: no extra checks; an
    /// idle path is judged at its keepalives, a busy one by its consent checks, and when
    /// the peer's data stops, one check goes out after half `disconnected_timeout`). The
    /// "disconnected" detection interval of an idle path is a policy choice: `None`
    /// notices a dead idle path within one keepalive interval plus
    /// `disconnected_timeout` at no cost; `Some(d)` within `d` plus
    /// `disconnected_timeout`, at up to 3600/d extra checks an hour per side while idle
    /// (Pinhole used 1.25 s before its keepalives were stretched: ~2900 a hour).
    pub liveness_probe: Option<Duration>,
    /// When keepalives go out on the selected pair (default
    /// [`KeepaliveTiming::default`]: at least every 15 s, RFC 8445 §11's Tr). A session
    /// changes it at run time from its keepalive policy
    /// ([`IceAgent::set_keepalive`](super::IceAgent::set_keepalive)).
    ///
    /// A keepalive is an authenticated Binding request (so also a consent check, RFC
    /// 7675), sent only when this side sent nothing at all on the pair for the interval:
    /// data, checks and answers to the peer's checks all count. Unlike paced consent
    /// checks (sent once, RFC 7675 §5.1) it is retransmitted at 0.5 s and 1.5 s when
    /// unanswered, within the policy's safety margin, so one lost packet does not cost
    /// the NAT mapping; unanswered after 2.5 s it is evidence of loss
    /// (`Counters::keepalive_timeouts`). While data flows, consent is paced by
    /// [`IceConfig::consent_interval`] instead and the data itself keeps the NAT. One
    /// radio wake-up per period: whenever the agent sends anything it also sends a
    /// keepalive due within a quarter interval and every TURN refresh (allocation,
    /// permissions, channels) due before the next keepalive; a pump sending something of
    /// its own calls [`IceAgent::radio_wakeup`](super::IceAgent::radio_wakeup).
    pub keepalive: KeepaliveTiming,
    /// Pair and remote-candidate caps (default 100 each).
    pub checklist: CheckListConfig,
    /// Most ordinary checks in flight at once, triggered checks included (a
    /// check-rate cap on top of Ta; default 32). Consent checks and regular
    /// nomination checks do not count.
    pub max_checks_in_flight: usize,
    /// Most authenticated inbound STUN requests answered per second (default
    /// 200); the rest are dropped and counted (`Counters::rate_limited`).
    /// Requests that fail authentication never count against it.
    pub max_requests_per_second: u32,
    /// Most inbound STUN requests that fail authentication answered (400 or
    /// 401) per second (default 50); the rest are dropped and counted
    /// (`Counters::unauthenticated_rate_limited`). A separate budget, so a
    /// spoofed flood cannot starve the peer's checks.
    pub max_unauthenticated_per_second: u32,
    /// TURN servers for relayed candidates (default none). Each is allocated on as
    /// soon as a socket is added (UDP: one allocation per local socket; TCP/TLS: one
    /// stream per server); one that fails only ends in [`IceEvent::RelayFailed`].
    ///
    /// [`IceEvent::RelayFailed`]: super::IceEvent::RelayFailed
    pub turn_servers: Vec<RelayServer>,
    /// Which local candidates are gathered and paired (default all).
    pub transport_policy: TransportPolicy,
    /// Hard-NAT punching (default on, see [`PunchConfig`](super::PunchConfig)).
    pub punch: super::punch::PunchConfig,
}

/// When the agent sends keepalives on its selected pair (see [`IceConfig::keepalive`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeepaliveTiming {
    /// Any packet this side sends on the pair (data, a check, an answer to the peer's
    /// check) counts: a keepalive check goes out only when nothing was sent for
    /// `interval`. The controlled side waits `follower_slack` longer, so that when both
    /// sides use the same interval the controlling side's check (and this side's
    /// answer, which refreshes this side's NAT) comes first: one packet each way per
    /// interval, not two.
    Interval {
        /// Longest the pair goes without a packet from this side.
        interval: Duration,
        /// Extra wait of the controlled side (keep it within the NAT's margin).
        follower_slack: Duration,
    },
    /// WebRTC-style: each side sends a consent check every
    /// [`IceConfig::consent_interval`] ×(0.8–1.2), whatever else flows (RFC 7675 used as
    /// the keepalive; ~720 checks an hour per side). A baseline for comparisons.
    Consent,
}

impl KeepaliveTiming {
    /// [`KeepaliveTiming::Interval`] with a follower slack of 1/16 of the interval, at
    /// most 2 s.
    pub fn every(interval: Duration) -> Self {
        KeepaliveTiming::Interval {
            interval,
            follower_slack: (interval / 16).min(Duration::from_secs(2)),
        }
    }

    /// The interval, if this is [`KeepaliveTiming::Interval`].
    pub fn interval(&self) -> Option<Duration> {
        match self {
            KeepaliveTiming::Interval { interval, .. } => Some(*interval),
            KeepaliveTiming::Consent => None,
        }
    }
}

impl Default for KeepaliveTiming {
    /// Every 15 s (RFC 8445 §11: Tr defaults to 15 s).
    fn default() -> Self {
        KeepaliveTiming::every(Duration::from_secs(15))
    }
}

/// Which local candidates the agent uses (like WebRTC's `iceTransportPolicy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportPolicy {
    /// Host, server-reflexive and relayed candidates.
    #[default]
    All,
    /// Only relayed candidates are offered, paired and used: no host or
    /// server-reflexive candidate is signalled, so the peer never learns a
    /// local address.
    Relay,
}

impl Default for IceConfig {
    fn default() -> Self {
        IceConfig {
            controlling: true,
            ta: Duration::from_millis(50),
            check_transaction: TransactionConfig::ice_check(),
            gather_transaction: TransactionConfig::gathering(),
            stun_servers: Vec::new(),
            include_loopback: false,
            include_link_local: false,
            nomination: NominationMode::Regular,
            nomination_patience: Duration::from_millis(250),
            renomination: true,
            consent_interval: Duration::from_secs(5),
            consent_timeout: Duration::from_secs(30),
            disconnected_timeout: Duration::from_millis(2500),
            liveness_probe: None,
            keepalive: KeepaliveTiming::default(),
            checklist: CheckListConfig::default(),
            max_checks_in_flight: 32,
            max_requests_per_second: 200,
            max_unauthenticated_per_second: 50,
            turn_servers: Vec::new(),
            transport_policy: TransportPolicy::All,
            punch: super::punch::PunchConfig::default(),
        }
    }
}

/// Errors from API calls (network input never produces one: it is dropped and counted).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IceError {
    /// `send_data` before a pair was selected.
    #[error("no selected candidate pair yet: wait for IceEvent::ConnectionStateChanged(Connected) (or SelectedPair) before sending data")]
    NotConnected,
    /// The agent was closed.
    #[error("the ICE agent is closed: create a new agent (or call restart() before close())")]
    Closed,
    /// A remote candidate the checklist refused.
    #[error(transparent)]
    Candidate(#[from] CheckListError),
    /// A TCP remote candidate.
    #[error("remote candidate {0} uses TCP: this agent only speaks UDP, ignore TCP candidates")]
    UnsupportedTransport(String),
    /// Component other than 1.
    #[error("remote candidate {0} is for component {1}: this agent handles one component (1), use rtcp-mux")]
    UnsupportedComponent(String, u16),
    /// `add_local_socket` twice with the same address.
    #[error("local socket {0} was already added")]
    DuplicateSocket(SocketAddr),
    /// `remove_local_socket` of an unknown address.
    #[error("unknown local socket {0}: it was never added with add_local_socket")]
    UnknownSocket(SocketAddr),
    /// Application data the peer's demultiplexer would take for STUN (first
    /// byte 0–3, RFC 7983). 64–79 (TURN ChannelData) is fine: TURN server
    /// traffic is told apart by its source.
    #[error("application data starting with byte {0} would be demultiplexed as STUN (0-3) by RFC 7983: frame it so the first byte is 4 or more")]
    AmbiguousData(u8),
    /// Empty application datagram.
    #[error("application data is empty: nothing to send")]
    EmptyData,
}
