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

#![warn(missing_docs, unreachable_pub)]

pub mod ice;
pub mod nat;
pub mod netchange;
pub mod portmap;
pub mod session;
pub mod stun;
pub mod turn;

mod transmit;
pub use transmit::Transmit;

#[cfg(feature = "runtime")]
pub mod runtime;
