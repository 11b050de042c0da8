//! ICE building blocks that need no network (RFC 8445, RFC 8839, RFC 8421).
//!
//! - [`candidate`]: [`Candidate`] and its `a=candidate` SDP form, parsed
//!   tolerantly (Chrome, Firefox, libnice, pion, aioice) and written canonically.
//! - [`priority`]: candidate and pair priorities, local preferences for
//!   dual-stack and multi-network hosts, foundations.
//! - [`sdp`]: `ice-ufrag`, `ice-pwd`, `ice-options`, `end-of-candidates`, and
//!   credential generation from an injected RNG.
//! - [`pair`] and [`checklist`]: pair formation, pruning, ordering, caps and
//!   initial unfreezing for one data stream.
//!
//! - [`agent`]: the [`IceAgent`] sans-IO state machine built on them, with
//!   [`gather`], [`relay`] (TURN candidates), [`checks`], [`nominate`],
//!   [`consent`] and [`stats`].
//!
//! Everything here is plain data, pure functions or sans-IO machines: no
//! sockets, no clock, no global randomness.

pub mod agent;
pub mod candidate;
pub mod checklist;
pub mod checks;
mod config;
pub mod consent;
pub mod gather;
mod generation;
pub mod nominate;
mod pacer;
pub mod pair;
pub mod priority;
pub mod relay;
pub mod sdp;
mod signaling;
pub mod stats;

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
    ConnectionState, GatheringState, IceAgent, IceConfig, IceError, IceEvent, Input,
    NominationMode, PathKind, SelectedPair, Transmit, RENOMINATION_OPTION,
};
pub use candidate::{
    Candidate, CandidateAddress, CandidateParseError, CandidateType, Foundation, TcpType, Transport,
};
pub use checklist::{CheckList, CheckListConfig, CheckListError};
pub use config::TransportPolicy;
pub use pair::{CandidatePair, LocalCandidate, LocalId, PairFoundation, PairState, RemoteId};
pub use priority::{candidate_priority, foundation, pair_priority, NetworkCost};
pub use relay::{RelayServer, RelayStats, RelayStreamTransmit, TlsName};
pub use sdp::{Credentials, IceAttribute, IceAttributeError, Password, Ufrag};
pub use stats::{Counters, IceStats, PairStats, SelectedStats};
