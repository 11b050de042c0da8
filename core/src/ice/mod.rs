//! ICE (RFC 8445) as a sans-IO agent, with the SDP forms of its signaling
//! (RFC 8839, RFC 8840) and dual-stack, multi-network priorities (RFC 8421).
//!
//! What an application uses:
//!
//! - [`IceAgent`], the state machine: configure it with [`IceConfig`], feed it
//!   [`Input`]s and timeouts, drain [`Transmit`](crate::Transmit)s, [`IceEvent`]s and
//!   [`RelayStreamTransmit`]s. Its docs show the driver loop.
//! - Signaling values: [`Candidate`] (the `a=candidate` line, parsed tolerantly —
//!   Chrome, Firefox, libnice, pion, aioice — and written canonically),
//!   [`IceCredentials`] ([`Ufrag`] and [`Password`]) and the other session
//!   attributes ([`IceAttribute`]).
//! - Observability: [`IceStats`] (a `getStats()`-like snapshot), [`RelayStats`].
//!
//! Pair formation, the checklist, the check scheduler, nomination, consent
//! freshness and gathering are internal: their policies are described on the
//! [`IceConfig`] fields that tune them.
//!
//! Everything here is plain data, pure functions or sans-IO machines: no
//! sockets, no clock, no global randomness.

mod agent;
mod candidate;
mod checklist;
mod checks;
mod config;
mod consent;
mod gather;
mod generation;
mod keepalive;
mod nominate;
mod pacer;
mod pair;
mod portmap;
mod priority;
mod punch;
mod punch_config;
mod relay;
mod sdp;
mod signaling;
mod stats;

#[cfg(test)]
mod agent_tests;
#[cfg(test)]
mod candidate_tests;
#[cfg(test)]
mod harness;
#[cfg(test)]
mod harness_turn;
#[cfg(test)]
mod limits_tests;
#[cfg(test)]
mod lite_ipv6_tests;
#[cfg(test)]
mod liveness_tests;
#[cfg(test)]
mod relay_tests;
#[cfg(test)]
mod signaling_tests;

pub use agent::{
    ConnectionState, GatheringState, IceAgent, IceEvent, Input, PathKind, SelectedPair,
};
pub use candidate::{
    Candidate, CandidateAddress, CandidateParseError, CandidateType, Foundation, TcpType, Transport,
};
pub use checklist::{CheckListConfig, CheckListError};
pub use config::{
    IceConfig, IceError, KeepaliveTiming, NominationMode, TransportPolicy, RENOMINATION_OPTION,
};
pub use pair::PairState;
pub use portmap::mapped_local_preference;
pub use priority::NetworkCost;
pub use punch::{
    NatBehaviour, PortAllocation, PunchConfig, PunchHit, PunchOutcome, PunchRole, PunchStats,
};
pub use relay::{RelayServer, RelayStats, RelayStreamTransmit, TlsName};
pub use sdp::{IceAttribute, IceAttributeError, IceCredentials, Password, Ufrag};
pub use stats::{Counters, IceStats, PairStats, SelectedStats};
