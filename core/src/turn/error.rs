//! [`TurnError`]: what went wrong with a TURN allocation, phrased so the user can act.

use std::net::SocketAddr;
use std::time::Duration;

use crate::stun::StunError;

/// Why an allocation, a permission or a channel failed. Every network-side variant names
/// the server; the message says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TurnError {
    /// 401 after the client answered the challenge: username or password is wrong.
    #[error(
        "TURN server {server} rejected the credentials (401) for realm {realm:?}: \
         check the username and password"
    )]
    Unauthorized {
        /// The TURN server (the one a redirect led to, if any).
        server: SocketAddr,
        /// The REALM the server challenged with.
        realm: String,
    },
    /// 403: the server refuses this request (peer address not allowed, or policy).
    #[error("TURN server {server} forbids this request (403 {reason:?}): the peer address or the user is not allowed by the server's policy")]
    Forbidden {
        /// The TURN server (the one a redirect led to, if any).
        server: SocketAddr,
        /// The server's reason phrase.
        reason: String,
    },
    /// 437: the server has no (or another) allocation for this 5-tuple.
    #[error("TURN server {server} reports an allocation mismatch (437): the allocation expired or was replaced; allocate again")]
    AllocationMismatch {
        /// The TURN server (the one a redirect led to, if any).
        server: SocketAddr,
    },
    /// 441: the credentials differ from the ones the allocation was made with.
    #[error("TURN server {server} reports wrong credentials (441): requests must use the credentials the allocation was created with")]
    WrongCredentials {
        /// The TURN server (the one a redirect led to, if any).
        server: SocketAddr,
    },
    /// 486: the user (or the whole server) already holds as many allocations as allowed.
    #[error("TURN server {server} refused the allocation: quota reached (486); close other allocations of this user, or raise the server's per-user or total quota")]
    QuotaReached {
        /// The TURN server (the one a redirect led to, if any).
        server: SocketAddr,
    },
    /// 508: the server is out of relay ports or bandwidth.
    #[error(
        "TURN server {server} is out of capacity (508): try again later or use another server"
    )]
    InsufficientCapacity {
        /// The TURN server (the one a redirect led to, if any).
        server: SocketAddr,
    },
    /// Any other error response.
    #[error("TURN server {server} answered {code} {reason:?} to {request}")]
    ErrorResponse {
        /// The TURN server (the one a redirect led to, if any).
        server: SocketAddr,
        /// The request it answered (Allocate, Refresh, CreatePermission, ChannelBind).
        request: &'static str,
        /// The STUN error code (300-699).
        code: u16,
        /// The server's reason phrase.
        reason: String,
    },
    /// No response within the transaction timeout.
    #[error("TURN server {server} did not answer {request} within {after:?}: check the address, port and transport (is UDP or TCP blocked?)")]
    Unreachable {
        /// The TURN server (the one a redirect led to, if any).
        server: SocketAddr,
        /// The request that went unanswered.
        request: &'static str,
        /// How long the client waited (the transaction timeout).
        after: Duration,
    },
    /// Redirects (300 ALTERNATE-SERVER) went in a loop or too deep.
    #[error("TURN server {server} redirected to {to} after {hops} redirects already: giving up (redirect loop or chain too long)")]
    TooManyRedirects {
        /// The TURN server (the one a redirect led to, if any).
        server: SocketAddr,
        /// Where the last redirect pointed.
        to: SocketAddr,
        /// Redirects already followed.
        hops: u32,
    },
    /// The allocation expired because it could not be refreshed in time.
    #[error("TURN allocation on {server} expired: it could not be refreshed in time")]
    Expired {
        /// The TURN server (the one a redirect led to, if any).
        server: SocketAddr,
    },
    /// The server broke the protocol (e.g. a success response without a relayed address).
    #[error("TURN server {server} sent an invalid response: {what}")]
    Protocol {
        /// The TURN server (the one a redirect led to, if any).
        server: SocketAddr,
        /// What was wrong with the response.
        what: String,
    },
    /// The connection to the server closed (TCP/TLS).
    #[error("connection to TURN server {server} closed{}", reason_suffix(.reason))]
    ConnectionClosed {
        /// The TURN server (the one a redirect led to, if any).
        server: SocketAddr,
        /// What the OS or the peer said; empty for an orderly close.
        reason: String,
    },
    /// The server's host name did not resolve.
    #[error("cannot resolve TURN server {host:?}: {reason}")]
    Resolve {
        /// The host name as configured.
        host: String,
        /// What the resolver said.
        reason: String,
    },
    /// A TCP/TLS connection could not be made, or a socket failed.
    #[error("cannot connect to TURN server {server}: {reason}")]
    Connect {
        /// The TURN server (the one a redirect led to, if any).
        server: SocketAddr,
        /// What the OS said (refused, unreachable, timed out…).
        reason: String,
    },
    /// The TLS handshake failed (certificate, name, or protocol).
    #[error("TLS with TURN server {server} ({name}) failed: {reason}; for a self-hosted server pass its CA certificate or its own (PEM)")]
    Tls {
        /// The TURN server (the one a redirect led to, if any).
        server: SocketAddr,
        /// The name the certificate was verified against.
        name: String,
        /// What the TLS layer said (certificate, name or protocol problem).
        reason: String,
    },
    /// A `turn:`/`turns:` URL that RFC 7065 does not allow.
    #[error("invalid TURN URL {url:?}: {reason} (expected turn:HOST[:PORT][?transport=udp|tcp] or turns:HOST[:PORT])")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A `turns:` URL given to a build of pinhole without its `tls` feature.
    #[error("cannot use TURN URL {url:?}: this build has no TLS support: rebuild pinhole with the `tls` feature, or use a turn: URL")]
    TlsUnavailable {
        /// The URL as given.
        url: String,
    },
    /// The username, realm or password cannot be used (OpaqueString rejects it).
    #[error("unusable TURN credentials: {0}")]
    Credentials(StunError),
    /// An API call that needs an allocation was made before or after it existed.
    #[error("no TURN allocation (state: {0}): wait for Allocated before sending")]
    NotAllocated(&'static str),
    /// All 4096 channel numbers are in use.
    #[error("all TURN channel numbers (0x4000-0x4FFF) are bound")]
    ChannelsExhausted,
    /// The peer's address family differs from the relayed address's.
    #[error("peer {peer} is not of the relayed address's family ({relayed}): TURN relays within one family")]
    PeerFamilyMismatch {
        /// The peer address given.
        peer: SocketAddr,
        /// The allocation's relayed address.
        relayed: SocketAddr,
    },
    /// The application datagram does not fit one STUN or ChannelData message.
    #[error("datagram of {0} bytes is too large for TURN (at most 65535 minus headers)")]
    TooLarge(usize),
}

fn reason_suffix(reason: &str) -> String {
    if reason.is_empty() {
        String::new()
    } else {
        format!(": {reason}")
    }
}

impl TurnError {
    /// The STUN error code behind this error, if it came from an error response.
    pub fn code(&self) -> Option<u16> {
        Some(match self {
            TurnError::Unauthorized { .. } => 401,
            TurnError::Forbidden { .. } => 403,
            TurnError::AllocationMismatch { .. } => 437,
            TurnError::WrongCredentials { .. } => 441,
            TurnError::QuotaReached { .. } => 486,
            TurnError::InsufficientCapacity { .. } => 508,
            TurnError::ErrorResponse { code, .. } => *code,
            _ => return None,
        })
    }
}
