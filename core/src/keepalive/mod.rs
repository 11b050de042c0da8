//! Keepalives at the physical minimum: how often a path must carry a packet so that the
//! NATs on it keep their mappings, and no more often.
//!
//! A NAT whose idle timeout is T forgets a mapping T after its last packet, so the
//! physical minimum is one packet per T, 3600/T an hour. Fixed intervals miss it both
//! ways: WireGuard's 25 s loses mappings on carriers that time out sooner and wastes
//! packets on a 120 s home router; WebRTC's consent every ~5 s is ~720 packets an hour
//! whatever the NAT.
//!
//! [`KeepalivePolicy`] (owned by a session, which feeds it and runs its probe):
//!
//! 1. **Start by network kind** (before anything is measured):
//!
//!    | kind | start | why |
//!    |---|---|---|
//!    | cellular | 8 s | carrier NATs expire idle UDP after 10–200 s, 74 % within a minute (Richter et al., IMC 2016); some after ~10 s, so 15 s (RFC 8445's Tr) would lose those before a measurement could tell |
//!    | Wi-Fi | 20 s | home gateways keep ≥ 30 s (Hätönen et al., IMC 2010; RFC 9308: assume 30 s); Android's IWLAN NAT-T and Apple's QUIC use 20 s |
//!    | wired | 25 s | the same home gateways; WireGuard's `PersistentKeepalive` 25 s; no radio to save, so no need to start lower |
//!    | unknown, other | 15 s | RFC 8445 §11's Tr default |
//!
//!    Every kind stretches to at most 300 s (RFC 4787 REQ-5 recommends 5 min), and never
//!    goes below 4 s (RFC 7675 §5.1's shortest consent period; a keepalive is a consent
//!    check).
//! 2. **Stretch towards the measured binding lifetime**: the RFC 5780 §4.6 probe
//!    ([`crate::nat::LifetimeProbe::single_trial`]) runs on two spare sockets behind the
//!    same NAT, one trial at a time: first a zero-idle check that the STUN server honours
//!    RESPONSE-PORT, then idle times doubling from the interval until a mapping dies, then
//!    bisection down to 5 % (at least 0.5 s). After every trial the interval becomes the
//!    longest survived idle time minus a margin of 10 % (at least 1.5 s: a lost
//!    keepalive's retransmissions at +0.5 s and +1.5 s still refresh the mapping in time).
//!    So a 120 s NAT ends at ~106 s, 34 packets an hour against the physical 30.
//! 3. **Snap back at once on evidence of loss**: a keepalive unanswered through its
//!    retransmissions, an answer showing a new mapped address (the NAT forgot the
//!    mapping), lost consent. The interval halves (to at most the start interval), what
//!    survived is forgotten, and the search runs again below the interval that failed.
//! 4. **Any packet counts, one wake-up per period**: the agent sends a keepalive only when
//!    nothing else went out on the path for the interval, the controlled side waits a
//!    little longer so that one check and its answer serve both NATs, and TURN refreshes,
//!    permissions and channel binds ride on the keepalive's wake-up
//!    ([`IceConfig::keepalive`](crate::ice::IceConfig::keepalive)).
//!
//! RFC 7675 consent stays correct: consent lasts 30 s from an answered request; a pair
//! whose keepalives are further apart lets it lapse while idle, and data sent then waits
//! one round trip for a fresh answer
//! ([`IceConfig::consent_timeout`](crate::ice::IceConfig::consent_timeout)).
//!
//! [`KeepaliveMode::Fixed`] and [`KeepaliveMode::WebRtc`] are the baselines the
//! benchmark compares against (`BENCHMARKS.md`, "Keepalives").

mod config;
mod policy;

#[cfg(test)]
mod tests;

pub use config::{KeepaliveConfig, KeepaliveMode, KindPolicy};
pub use policy::{KeepalivePolicy, Loss, Phase, PolicyStats};
