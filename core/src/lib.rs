//! Pinhole: a NAT traversal engine.
//!
//! The engine modules ([`stun`], [`nat`], [`portmap`]) are sans-IO state machines: they take
//! `now` and bytes, and return bytes, events and the next deadline. They never
//! read a clock, open a socket or spawn a thread. The [`runtime`] module (behind
//! the default `runtime` feature) drives them over tokio sockets; the default `tls`
//! feature adds TURN over TLS (`turns:`, rustls) to it.

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
