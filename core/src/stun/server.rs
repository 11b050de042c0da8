//! A sans-IO STUN Binding server (RFC 8489) with RFC 5780 NAT behaviour discovery support.
//!
//! Without an alternate address the server answers Binding requests on whatever sockets
//! the runtime feeds it, with XOR-MAPPED-ADDRESS, SOFTWARE and FINGERPRINT (plus
//! RESPONSE-ORIGIN when the local address is concrete). It sends no MAPPED-ADDRESS: every
//! RFC 5389/8489 client reads XOR-MAPPED-ADDRESS. Classic RFC 3489 requests (no magic
//! cookie) are answered the RFC 3489 way (MAPPED-ADDRESS, SOURCE-ADDRESS, CHANGED-ADDRESS), as
//! RFC 8489 §12 asks.
//! RESPONSE-PORT (RFC 5780 §7.5, needed for binding-lifetime discovery) is honoured with one
//! address too.
//!
//! With an alternate address — primary (IP1, P1), alternate (IP2, P2) — the runtime listens
//! on all four combinations IP1:P1, IP1:P2, IP2:P1, IP2:P2
//! ([`BindingServer::local_addresses`]). Every success response then carries OTHER-ADDRESS
//! (the combination with both IP and port flipped from where the request arrived) and
//! RESPONSE-ORIGIN, and CHANGE-REQUEST is honoured by answering from the other IP and/or
//! port (RFC 5780 §6.1).
//!
//! Error responses (same socket, back to the request's source):
//! - 420 Unknown Attribute, listing them in UNKNOWN-ATTRIBUTES, for comprehension-required
//!   attributes the server does not process: types the codec does not know, PADDING (not
//!   implemented), and CHANGE-REQUEST when no alternate is configured (RFC 5780 §6.1).
//! - 400 Bad Request for a malformed CHANGE-REQUEST or RESPONSE-PORT (or RESPONSE-PORT 0),
//!   and for requests of other methods: this server only serves Binding.
//!
//! Anything that is not a well-formed STUN request (garbage, bad FINGERPRINT, responses,
//! indications, a local address outside the configured four) is dropped and counted in
//! [`ServerStats`]; nothing here panics on network input.
//!
//! Driver loop: for each datagram received on one of the local sockets call
//! [`BindingServer::handle_input`], then send every [`BindingServer::poll_transmit`] from the
//! socket bound to `transmit.from`. The server has no timers.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use super::attr::{self, Attribute, ErrorCode};
use super::builder::encode_to_vec;
use super::classic;
use super::error::StunError;
use super::message::Message;
use super::{Class, MessageType, Method, TransactionId};
use crate::Transmit;

/// Configuration mistakes: each says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// Primary and alternate are of different IP families.
    #[error(
        "alternate address {alternate} and primary {primary} must be the same IP family \
         (both IPv4 or both IPv6)"
    )]
    AlternateFamily {
        /// The configured primary address.
        primary: SocketAddr,
        /// The configured alternate address.
        alternate: SocketAddr,
    },
    /// Primary and alternate share their IP or their port.
    #[error(
        "alternate address {alternate} must differ from the primary {primary} in both IP and \
         port (RFC 5780 needs four distinct IP:port combinations)"
    )]
    AlternateNotDistinct {
        /// The configured primary address.
        primary: SocketAddr,
        /// The configured alternate address.
        alternate: SocketAddr,
    },
    /// An RFC 5780 server needs concrete IPs to answer from.
    #[error("alternate address {0} must not be unspecified (0.0.0.0 or ::): give a concrete IP")]
    AlternateUnspecified(SocketAddr),
    /// The SOFTWARE text cannot be encoded (too long, or not valid).
    #[error("SOFTWARE value rejected: {0}")]
    Software(#[source] StunError),
}

/// Where the server listens and what it calls itself.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerConfig {
    /// (IP1, P1).
    pub primary: SocketAddr,
    /// (IP2, P2), enabling RFC 5780 behaviour discovery.
    pub alternate: Option<SocketAddr>,
    /// SOFTWARE attribute value; `None` omits it.
    pub software: Option<String>,
}

impl ServerConfig {
    /// A plain server on `primary`, SOFTWARE `"pinhole <version>"`.
    pub fn new(primary: SocketAddr) -> Self {
        ServerConfig {
            primary,
            alternate: None,
            software: Some(concat!("pinhole ", env!("CARGO_PKG_VERSION")).to_string()),
        }
    }

    /// Adds the alternate address (RFC 5780 mode).
    #[must_use]
    pub fn with_alternate(mut self, alternate: SocketAddr) -> Self {
        self.alternate = Some(alternate);
        self
    }
}

/// Counters: what arrived and what became of it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerStats {
    /// Every datagram fed to `handle_input`.
    pub received: u64,
    /// Success responses queued (RFC 5389/8489 and classic RFC 3489).
    pub success_responses: u64,
    /// Error responses queued (400, 420).
    pub error_responses: u64,
    /// Not parseable as STUN, or FINGERPRINT mismatch.
    pub dropped_malformed: u64,
    /// Responses and indications.
    pub dropped_not_request: u64,
    /// Arrived on an address that is none of the four configured ones.
    pub dropped_unknown_local: u64,
    /// A response that could not be encoded (a bug; never expected).
    pub dropped_encode_failure: u64,
    /// RFC 3489 Binding requests answered (also counted in `success_responses`).
    pub classic_requests: u64,
}

/// The sans-IO Binding server. See the module docs.
#[derive(Debug)]
pub struct BindingServer {
    config: ServerConfig,
    stats: ServerStats,
    outbox: VecDeque<Transmit>,
}

impl BindingServer {
    /// A server for `config`; checks the RFC 5780 addresses and the SOFTWARE text.
    pub fn new(config: ServerConfig) -> Result<Self, ServerError> {
        if let Some(alternate) = config.alternate {
            let primary = config.primary;
            if primary.is_ipv4() != alternate.is_ipv4() {
                return Err(ServerError::AlternateFamily { primary, alternate });
            }
            if alternate.ip().is_unspecified() || primary.ip().is_unspecified() {
                return Err(ServerError::AlternateUnspecified(alternate));
            }
            if primary.ip() == alternate.ip() || primary.port() == alternate.port() {
                return Err(ServerError::AlternateNotDistinct { primary, alternate });
            }
        }
        if let Some(s) = &config.software {
            let ty = MessageType::new(Class::Success, Method::BINDING);
            encode_to_vec(
                ty,
                TransactionId::default(),
                &[Attribute::Software(s)],
                None,
                false,
            )
            .map_err(ServerError::Software)?;
        }
        Ok(BindingServer {
            config,
            stats: ServerStats::default(),
            outbox: VecDeque::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The sockets the runtime must bind: the primary alone, or all four RFC 5780
    /// combinations (IP1:P1, IP1:P2, IP2:P1, IP2:P2).
    pub fn local_addresses(&self) -> Vec<SocketAddr> {
        let p = self.config.primary;
        match self.config.alternate {
            None => vec![p],
            Some(a) => vec![
                p,
                SocketAddr::new(p.ip(), a.port()),
                SocketAddr::new(a.ip(), p.port()),
                a,
            ],
        }
    }

    /// What arrived and what became of it, so far.
    pub fn stats(&self) -> ServerStats {
        self.stats
    }

    /// The next datagram to send.
    #[must_use = "a polled datagram is gone from the queue: send it"]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.outbox.pop_front()
    }

    /// The server keeps no timers: always `None`.
    #[must_use = "the deadline says when to call handle_timeout next"]
    pub fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    /// No-op (no timers); present so every machine has the same driver shape.
    pub fn handle_timeout(&mut self, _now: Instant) {}

    /// A datagram arrived on the local socket `local` from `remote`.
    pub fn handle_input(
        &mut self,
        _now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        datagram: &[u8],
    ) {
        self.stats.received += 1;
        let msg = match Message::parse(datagram) {
            Ok(m) if !m.has_fingerprint() || m.verify_fingerprint().is_ok() => m,
            Err(StunError::BadMagicCookie { .. }) => {
                return self.handle_classic(local, remote, datagram);
            }
            Ok(_) | Err(_) => {
                self.stats.dropped_malformed += 1;
                log::debug!("stun server: dropped malformed datagram from {remote}");
                return;
            }
        };
        if msg.class() != Class::Request {
            self.stats.dropped_not_request += 1;
            return;
        }
        let Some(position) = self.position_of(local) else {
            self.stats.dropped_unknown_local += 1;
            return;
        };

        let unknown = self.unknown_attributes(&msg);
        if !unknown.is_empty() {
            let list = attr::AttrTypeList::Types(&unknown);
            let attrs = [
                Attribute::ErrorCode(ErrorCode::UNKNOWN_ATTRIBUTE),
                Attribute::UnknownAttributes(list),
            ];
            return self.respond_error(&msg, local, remote, &attrs);
        }
        if msg.method() != Method::BINDING {
            let e = ErrorCode::new(400, "Bad Request: this server only answers Binding");
            return self.respond_error(&msg, local, remote, &[Attribute::ErrorCode(e)]);
        }
        let (change, response_port) = match (msg.change_request(), msg.response_port()) {
            (Ok(c), Ok(p)) if p != Some(0) => (c, p),
            _ => {
                let e = ErrorCode::new(
                    400,
                    "Bad Request: malformed CHANGE-REQUEST or RESPONSE-PORT",
                );
                return self.respond_error(&msg, local, remote, &[Attribute::ErrorCode(e)]);
            }
        };

        let (change_ip, change_port) = change.unwrap_or((false, false));
        let source = self.address_at(local, position, (change_ip, change_port));
        let destination = SocketAddr::new(remote.ip(), response_port.unwrap_or(remote.port()));
        let mut attrs = Vec::with_capacity(4);
        attrs.push(Attribute::XorMappedAddress(remote));
        if self.config.alternate.is_some() {
            attrs.push(Attribute::OtherAddress(self.address_at(
                local,
                position,
                (true, true),
            )));
        }
        if !source.ip().is_unspecified() {
            attrs.push(Attribute::ResponseOrigin(source));
        }
        let ty = MessageType::new(Class::Success, Method::BINDING);
        if self.send(ty, &msg, &attrs, source, destination) {
            self.stats.success_responses += 1;
        }
    }

    /// An RFC 3489 request, if it is one: answered from the changed address when asked.
    fn handle_classic(&mut self, local: SocketAddr, remote: SocketAddr, datagram: &[u8]) {
        let Some(request) = classic::parse_binding_request(datagram) else {
            self.stats.dropped_malformed += 1;
            return;
        };
        let Some(position) = self.position_of(local) else {
            self.stats.dropped_unknown_local += 1;
            return;
        };
        let flip = (request.change_ip, request.change_port);
        if self.config.alternate.is_none() && (flip.0 || flip.1) {
            // Cannot answer from another address; RFC 3489 clients read silence as filtering.
            self.stats.dropped_not_request += 1;
            return;
        }
        let source = self.address_at(local, position, flip);
        let changed = self
            .config
            .alternate
            .map(|_| self.address_at(local, position, (true, true)));
        match classic::encode_binding_response(&request, remote, source, changed) {
            Some(contents) => {
                self.outbox.push_back(Transmit {
                    from: source,
                    to: remote,
                    bytes: contents,
                });
                self.stats.success_responses += 1;
                self.stats.classic_requests += 1;
            }
            None => self.stats.dropped_malformed += 1,
        }
    }

    /// Comprehension-required attributes this server will not act on, in order, once each.
    fn unknown_attributes(&self, msg: &Message<'_>) -> Vec<u16> {
        let mut out: Vec<u16> = Vec::new();
        let not_served = |t: u16| {
            t == attr::PADDING || (t == attr::CHANGE_REQUEST && self.config.alternate.is_none())
        };
        let types = msg
            .unknown_comprehension_required()
            .chain(msg.attributes().map(|(t, _)| t).filter(|t| not_served(*t)));
        for t in types {
            if !out.contains(&t) {
                out.push(t);
            }
        }
        out
    }

    /// Which of the four combinations `local` is: (on primary IP?, on primary port?).
    /// `None` if it is none of them. Without an alternate every socket is "primary".
    fn position_of(&self, local: SocketAddr) -> Option<(bool, bool)> {
        let Some(alt) = self.config.alternate else {
            return Some((true, true));
        };
        let p = self.config.primary;
        let ip = match local.ip() {
            ip if ip == p.ip() => true,
            ip if ip == alt.ip() => false,
            _ => return None,
        };
        let port = match local.port() {
            port if port == p.port() => true,
            port if port == alt.port() => false,
            _ => return None,
        };
        Some((ip, port))
    }

    /// The local address at `position` (on primary IP?, on primary port?), each
    /// coordinate flipped where asked. Without an alternate, always `local`.
    fn address_at(
        &self,
        local: SocketAddr,
        position: (bool, bool),
        flip: (bool, bool),
    ) -> SocketAddr {
        let Some(alt) = self.config.alternate else {
            return local;
        };
        let p = self.config.primary;
        let on_primary_ip = position.0 != flip.0;
        let on_primary_port = position.1 != flip.1;
        SocketAddr::new(
            if on_primary_ip { p.ip() } else { alt.ip() },
            if on_primary_port {
                p.port()
            } else {
                alt.port()
            },
        )
    }

    fn respond_error(
        &mut self,
        request: &Message<'_>,
        local: SocketAddr,
        remote: SocketAddr,
        attrs: &[Attribute<'_>],
    ) {
        let ty = MessageType::new(Class::Error, request.method());
        if self.send(ty, request, attrs, local, remote) {
            self.stats.error_responses += 1;
        }
    }

    /// Appends SOFTWARE, encodes with FINGERPRINT and queues. False if encoding failed.
    fn send(
        &mut self,
        ty: MessageType,
        request: &Message<'_>,
        attrs: &[Attribute<'_>],
        source: SocketAddr,
        destination: SocketAddr,
    ) -> bool {
        let mut all = attrs.to_vec();
        if let Some(s) = self.config.software.as_deref() {
            all.push(Attribute::Software(s));
        }
        match encode_to_vec(ty, request.transaction_id(), &all, None, true) {
            Ok(contents) => {
                self.outbox.push_back(Transmit {
                    from: source,
                    to: destination,
                    bytes: contents,
                });
                true
            }
            Err(e) => {
                log::debug!("stun server: could not encode a response: {e}");
                self.stats.dropped_encode_failure += 1;
                false
            }
        }
    }
}
