//! NAT behaviour discovery (RFC 5780) and, later, port mapping.
//!
//! - [`discovery`]: [`NatDiscovery`], the one-socket client that classifies mapping,
//!   filtering and hairpinning (RFC 5780 §4.2-4.5) against a server such as
//!   [`crate::stun::server::BindingServer`].
//! - [`lifetime`]: [`LifetimeProbe`], the two-socket client that measures how long an idle
//!   UDP mapping lives (RFC 5780 §4.6).
//! - [`nat64`]: [`Nat64Prefix`] (RFC 6052 synthesis and extraction), prefix discovery from
//!   `ipv4only.arpa` answers (RFC 7050) and the pairing helpers for IPv6-only hosts.
//!
//! Both are sans-IO: feed received datagrams and timeouts, drain transmits, read the report.
//! The small STUN helpers they share (building a Binding request, reading a response) are
//! here.

pub mod discovery;
pub mod lifetime;
pub mod nat64;

pub use discovery::{
    DiscoveryConfig, DiscoveryError, Filtering, Mapping, NatDiscovery, NatReport, UnknownReason,
};
pub use lifetime::{LifetimeConfig, LifetimeError, LifetimeProbe, LifetimeReport};
pub use nat64::{Nat64Error, Nat64Prefix};

use std::net::SocketAddr;

use crate::stun::attr::Attribute;
use crate::stun::builder::encode_to_vec;
use crate::stun::message::Message;
use crate::stun::{Class, MessageType, Method, TransactionId};

/// Options of a Binding request.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RequestOptions {
    /// CHANGE-REQUEST flags (change IP, change port).
    pub change: Option<(bool, bool)>,
    /// RESPONSE-PORT.
    pub response_port: Option<u16>,
}

/// Encodes a Binding request with FINGERPRINT (so it demultiplexes cleanly on a shared
/// socket).
pub(crate) fn binding_request(id: TransactionId, opts: RequestOptions) -> Vec<u8> {
    let mut attrs = Vec::with_capacity(2);
    if let Some((change_ip, change_port)) = opts.change {
        attrs.push(Attribute::ChangeRequest {
            change_ip,
            change_port,
        });
    }
    if let Some(p) = opts.response_port {
        attrs.push(Attribute::ResponsePort(p));
    }
    let ty = MessageType::new(Class::Request, Method::BINDING);
    // Cannot fail: CHANGE-REQUEST and RESPONSE-PORT are fixed-size with no invalid value
    // (any flags, any port), nothing comes after FINGERPRINT, and encode_to_vec sizes its
    // own buffer.
    encode_to_vec(ty, id, &attrs, None, true).expect("a Binding request always encodes")
}

/// What a client needs from a received STUN message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Received {
    pub id: TransactionId,
    pub class: Class,
    pub method: Method,
    /// XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS.
    pub mapped: Option<SocketAddr>,
    pub other: Option<SocketAddr>,
    /// ERROR-CODE of an error response (code, reason).
    pub error: Option<(u16, String)>,
}

/// Parses a datagram; `None` if it is not well-formed STUN, fails its FINGERPRINT, or is a
/// response carrying unknown comprehension-required attributes (RFC 8489 §6.3.3/§6.3.4:
/// discard it; the transaction has failed). The caller drops and counts it, and the test
/// it answered ends as unanswered when its transaction times out.
pub(crate) fn parse(datagram: &[u8]) -> Option<Received> {
    let msg = Message::parse(datagram).ok()?;
    if msg.has_fingerprint() && msg.verify_fingerprint().is_err() {
        return None;
    }
    let class = msg.class();
    if class != Class::Request && msg.has_unknown_comprehension_required() {
        return None;
    }
    let mapped = match msg.xor_mapped_address().ok()? {
        Some(a) => Some(a),
        None => msg.mapped_address().ok()?,
    };
    Some(Received {
        id: msg.transaction_id(),
        class,
        method: msg.method(),
        mapped,
        other: msg.other_address().ok()?,
        error: msg
            .error_code()
            .ok()?
            .map(|e| (e.code, e.reason.to_string())),
    })
}
