//! Pinhole: a NAT traversal engine (STUN RFC 8489, ICE RFC 8445, TURN RFC 8656).
//!
//! - [`session`]: [`session::Session`], the one object an application drives: ICE
//!   agent, sockets, relay streams, signaling and network change in one sans-IO machine.
//! - Engine building blocks, each a sans-IO machine or codec: [`ice`] (the agent and its
//!   SDP values), [`turn`] (the TURN client), [`stun`] (codec, transactions, Binding
//!   server), [`nat`] (RFC 5780 discovery, binding lifetime, NAT64), [`portmap`]
//!   (NAT-PMP, PCP and UPnP-IGD port mappings), [`netchange`] (classifying network
//!   changes).
//! - [`runtime`] (behind the default `runtime` feature): the tokio pump around them; the
//!   default `tls` feature adds TURN over TLS (`turns:`, rustls) to it.
//!
//! Sans-IO means: a machine takes `now` and bytes, and returns [`Transmit`]s, events and
//! the next deadline. It never reads a clock, opens a socket or spawns a thread;
//! randomness comes from an RNG the caller injects, so a seeded run replays exactly.
//!
//! # Panic policy
//!
//! The engine never panics on input from the network or from the API. A panic in this
//! crate is a bug; report it with the input that caused it.
//!
//! - Network input (datagrams, TURN stream bytes, the peer's signaling text, netlink
//!   messages, DNS answers) is parsed with checked lengths and `get`, never by slicing
//!   on trust; what does not parse is dropped and counted (and logged at debug). The
//!   STUN codec is covered by property tests and a fuzz target (`fuzz/`).
//! - API misuse is an error value ([`ice::IceError`], [`turn::TurnError`],
//!   [`stun::StunError`], …). The engine machines (ICE, TURN, STUN transactions, NAT
//!   probes) accept durations of any size: `Duration::MAX` for "never" becomes a far-off
//!   deadline, not an `Instant` overflow.
//! - The few `expect`s left in non-test code each carry a comment proving they cannot
//!   fire (HMAC takes keys of any length; fixed-size STUN encodings cannot fail; checklist
//!   invariants). New code follows the same rule: replace, or prove.
//! - The FFI layer wraps every `extern "C"` body in `catch_unwind` anyway, so that a
//!   bug becomes an error code rather than an abort in the host application.

#![warn(missing_docs, unreachable_pub)]

pub mod ice;
pub mod keepalive;
pub mod nat;
pub mod netchange;
pub mod portmap;
pub mod session;
pub mod stun;
pub mod turn;

mod deadline;
mod transmit;
pub use transmit::Transmit;

#[cfg(feature = "runtime")]
pub mod runtime;
