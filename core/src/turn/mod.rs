//! TURN client (RFC 8656), sans-IO.
//!
//! [`TurnClient`] holds one allocation on one TURN server: it runs the long-term credential
//! dance (401 → REALM/NONCE → authenticated retry, 438 stale nonce, SHA-256 when offered),
//! refreshes the allocation, permissions and channels before they expire, wraps outgoing
//! application data in Send indications or ChannelData, and unwraps Data indications and
//! ChannelData into [`Event::Data`]. Like every engine machine it takes `now` and bytes and
//! returns bytes, events and the next deadline; [`crate::runtime::TurnSession`] drives it
//! over UDP, TCP or TLS.
//!
//! - [`channel_data`]: the ChannelData message codec (RFC 8656 §12.4-12.5).
//! - [`credentials`]: TURN REST API ephemeral credentials (coturn's `use-auth-secret`).
//!
//! ## Refresh schedule
//!
//! | what | default lifetime | refreshed at |
//! | --- | --- | --- |
//! | allocation | LIFETIME from the server (600 s) | 80 % of LIFETIME |
//! | permission | 300 s (RFC 8656 §9) | every [`TurnConfig::permission_refresh`] (240 s) |
//! | channel | 600 s (RFC 8656 §12) | every [`TurnConfig::channel_refresh`] (540 s) |
//!
//! A ChannelBind also installs the permission for the peer's IP, and that permission
//! lasts only 300 s. A channel whose IP has no permission of its own (no
//! `create_permission`, or its refresh failed) is therefore refreshed every
//! [`TurnConfig::permission_refresh`] instead, which keeps both alive in one request.
//!
//! Those are the latest times. A caller that wakes the radio for something else (the ICE
//! agent sending a keepalive on the path) calls [`TurnClient::refresh_due_before`] with
//! its next wake-up: every refresh that would otherwise need a wake-up of its own before
//! then, and is at least half way through its period, goes out now, in the same burst.

pub mod channel_data;
mod client;
#[cfg(test)]
mod client_auth_tests;
#[cfg(test)]
mod client_test_support;
#[cfg(test)]
mod client_tests;
pub mod credentials;
mod error;
pub(crate) mod framing;
mod peers;
mod requests;
mod url;

pub use channel_data::ChannelData;
pub use client::{Event, TurnClient, TurnConfig, TurnState, TurnStats};
pub use credentials::rest_api_credentials;
pub use error::TurnError;
pub use url::TurnUrl;

use std::net::SocketAddr;

/// How the client reaches the TURN server (the relay itself is always UDP).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// UDP (`turn:`, `?transport=udp`, the default).
    Udp,
    /// TCP (`?transport=tcp`, RFC 6062 framing of the stream, RFC 8656 §12.5).
    Tcp,
    /// TLS over TCP (`turns:`).
    Tls,
}

impl TransportKind {
    /// True for TCP and TLS: no retransmissions, ChannelData padded to 4 bytes.
    pub fn is_stream(self) -> bool {
        !matches!(self, TransportKind::Udp)
    }
}

impl std::fmt::Display for TransportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TransportKind::Udp => "udp",
            TransportKind::Tcp => "tcp",
            TransportKind::Tls => "tls",
        })
    }
}

/// Bytes for the TURN server: a datagram over UDP, the next bytes of the stream over
/// TCP/TLS. The client knows its server but not the local socket, so this is not a
/// [`crate::Transmit`]: the owner sends it from the socket (or stream) it gave the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerTransmit {
    /// The server: the configured one, or the one an ALTERNATE-SERVER redirect named.
    /// Over TCP/TLS always the server of the current connection.
    pub to: SocketAddr,
    /// A STUN message or ChannelData frame (padded to 4 bytes over TCP/TLS).
    pub bytes: Vec<u8>,
}

/// Lowest channel number a client may bind (RFC 8656 §12).
pub const CHANNEL_MIN: u16 = 0x4000;
/// Highest channel number a client may bind (RFC 8656 §12).
pub const CHANNEL_MAX: u16 = 0x4FFF;
