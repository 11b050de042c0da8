//! NAT-PMP (RFC 6886): wire format and the sans-IO client for one UDP socket.
//!
//! Requests go to the gateway's port 5351; answers are accepted only from there. The
//! client asks for the external address (its probe, which maps nothing), then, when the
//! mapper picks NAT-PMP, maps the socket's port (UDP), renews at half the granted
//! lifetime, re-maps when the epoch shows a gateway reboot, and deletes with lifetime 0.
//! Retransmissions follow §3.1: 250 ms, doubling, at most 9 sends, within a deadline.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use super::epoch::{whole_secs, Epoch, EpochRule};
use super::retry::Retry;
use super::{secs, ClientEvent, PortMapError, PortMapStats, Protocol, PCP_SERVER_PORT};
use crate::deadline::after;
use crate::Transmit;

/// Opcode of the external address request.
pub const OP_EXTERNAL_ADDRESS: u8 = 0;
/// Opcode of a UDP mapping request.
pub const OP_MAP_UDP: u8 = 1;
/// Added to a request opcode in its response.
pub const RESPONSE_BIT: u8 = 128;

/// The external address request: version 0, opcode 0 (§3.2).
pub fn encode_external_address_request() -> [u8; 2] {
    [0, OP_EXTERNAL_ADDRESS]
}

/// A UDP mapping request (§3.3): version, opcode, 2 reserved bytes, internal port,
/// suggested external port, requested lifetime in seconds. Lifetime 0 deletes.
pub fn encode_map_request(internal_port: u16, suggested_external: u16, lifetime: u32) -> [u8; 12] {
    let mut b = [0u8; 12];
    b[1] = OP_MAP_UDP;
    b[4..6].copy_from_slice(&internal_port.to_be_bytes());
    b[6..8].copy_from_slice(&suggested_external.to_be_bytes());
    b[8..12].copy_from_slice(&lifetime.to_be_bytes());
    b
}

/// A decoded NAT-PMP response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Response {
    /// Answer to the external address request (12 bytes).
    ExternalAddress {
        /// Seconds since start of epoch.
        epoch: u32,
        /// The gateway's external IPv4 address.
        ip: Ipv4Addr,
    },
    /// Answer to a mapping request (16 bytes).
    Map {
        /// Seconds since start of epoch.
        epoch: u32,
        /// The internal port the mapping is for.
        internal_port: u16,
        /// The external port granted.
        external_port: u16,
        /// Lifetime granted, seconds.
        lifetime: u32,
    },
    /// A non-zero result code (the rest of the packet may be short).
    Error {
        /// The request opcode this answers.
        opcode: u8,
        /// The result code.
        result: u16,
        /// Seconds since start of epoch, when present.
        epoch: Option<u32>,
    },
}

/// Why a datagram is not a usable NAT-PMP response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Shorter than its opcode requires.
    Truncated,
    /// Version is not 0.
    WrongVersion,
    /// A request (opcode below 128) or an opcode this client never sends.
    WrongOpcode,
}

/// Decodes a response from the gateway.
pub fn decode_response(b: &[u8]) -> Result<Response, DecodeError> {
    if b.len() < 4 {
        return Err(DecodeError::Truncated);
    }
    if b[0] != 0 {
        return Err(DecodeError::WrongVersion);
    }
    if b[1] < RESPONSE_BIT {
        return Err(DecodeError::WrongOpcode);
    }
    let opcode = b[1] - RESPONSE_BIT;
    if opcode != OP_EXTERNAL_ADDRESS && opcode != OP_MAP_UDP {
        return Err(DecodeError::WrongOpcode);
    }
    let result = u16::from_be_bytes([b[2], b[3]]);
    let epoch = (b.len() >= 8).then(|| u32::from_be_bytes([b[4], b[5], b[6], b[7]]));
    if result != 0 {
        return Ok(Response::Error {
            opcode,
            result,
            epoch,
        });
    }
    match opcode {
        OP_EXTERNAL_ADDRESS if b.len() >= 12 => Ok(Response::ExternalAddress {
            epoch: epoch.unwrap_or(0),
            ip: Ipv4Addr::new(b[8], b[9], b[10], b[11]),
        }),
        OP_MAP_UDP if b.len() >= 16 => Ok(Response::Map {
            epoch: epoch.unwrap_or(0),
            internal_port: u16::from_be_bytes([b[8], b[9]]),
            external_port: u16::from_be_bytes([b[10], b[11]]),
            lifetime: u32::from_be_bytes([b[12], b[13], b[14], b[15]]),
        }),
        _ => Err(DecodeError::Truncated),
    }
}

/// What a NAT-PMP result code means, and what to do about it (§3.5).
pub fn result_meaning(code: u16) -> &'static str {
    match code {
        1 => "unsupported version",
        2 => {
            "not authorized: the router has NAT-PMP switched off or refuses this host; enable \
              NAT-PMP (often the \"UPnP/NAT-PMP\" setting) in the router"
        }
        3 => {
            "network failure: the router has no external address yet (its WAN link is down \
              or still connecting); try again later"
        }
        4 => {
            "out of resources: the router's mapping table is full; remove unused port \
              forwardings"
        }
        5 => "unsupported opcode: the router does not map UDP ports",
        _ => "unknown result code",
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    ExternalAddress,
    Map,
    Delete,
}

#[derive(Debug)]
struct InFlight {
    op: Op,
    started: Instant,
    bytes: Vec<u8>,
    retry: Retry,
}

#[derive(Clone, Copy, Debug)]
struct Lease {
    external_port: u16,
    renew_at: Instant,
    expires_at: Instant,
}

/// The NAT-PMP client for one socket.
#[derive(Debug)]
pub struct NatPmpClient {
    gateway: IpAddr,
    local: SocketAddr,
    lifetime: u32,
    epoch: Epoch,
    external_ip: Option<Ipv4Addr>,
    queue: VecDeque<(Op, Instant)>,
    inflight: Option<InFlight>,
    lease: Option<Lease>,
    /// The mapper wants a mapping kept.
    wanted: bool,
    out: VecDeque<Transmit>,
    events: VecDeque<ClientEvent>,
}

const FIRST_RTO: Duration = Duration::from_millis(250);
/// §3.1: the ninth send waits 64 s; the client may give up after that.
const MAX_SENDS: u32 = 9;

impl NatPmpClient {
    /// A client for the socket `local` behind `gateway`, asking for `lifetime`.
    pub fn new(gateway: IpAddr, local: SocketAddr, lifetime: Duration) -> Self {
        NatPmpClient {
            gateway,
            local,
            lifetime: whole_secs(lifetime).max(1),
            epoch: Epoch::new(EpochRule::NatPmp),
            external_ip: None,
            queue: VecDeque::new(),
            inflight: None,
            lease: None,
            wanted: false,
            out: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The probe: asks for the external address, giving up at `deadline`.
    pub(crate) fn probe(&mut self, now: Instant, deadline: Instant) {
        self.enqueue(now, Op::ExternalAddress, deadline);
    }

    /// Maps the socket's port and keeps the mapping; the first answer is due by `deadline`.
    pub(crate) fn map(&mut self, now: Instant, deadline: Instant) {
        self.wanted = true;
        if self.external_ip.is_none() {
            self.enqueue(now, Op::ExternalAddress, deadline);
        }
        self.enqueue(now, Op::Map, deadline);
    }

    /// Stops: forgets pending requests and deletes the mapping, if any (one request,
    /// retransmitted until `deadline`).
    pub(crate) fn unmap(&mut self, now: Instant, deadline: Instant) {
        self.wanted = false;
        self.queue.clear();
        self.inflight = None;
        if self.lease.take().is_some() {
            self.enqueue(now, Op::Delete, deadline);
        }
    }

    /// Forgets everything (the network changed: the old gateway may be gone).
    pub(crate) fn reset(&mut self) {
        self.wanted = false;
        self.queue.clear();
        self.inflight = None;
        self.lease = None;
        self.external_ip = None;
        self.epoch.reset();
    }

    /// Whether nothing is outstanding (a delete has been answered or given up).
    pub(crate) fn is_idle(&self) -> bool {
        self.inflight.is_none() && self.queue.is_empty()
    }

    fn enqueue(&mut self, now: Instant, op: Op, deadline: Instant) {
        if self.inflight.as_ref().is_some_and(|f| f.op == op)
            || self.queue.iter().any(|(o, _)| *o == op)
        {
            return;
        }
        self.queue.push_back((op, deadline));
        self.advance(now);
    }

    /// Starts the next queued request if none is in flight, and sends what is due.
    fn advance(&mut self, now: Instant) {
        if self.inflight.is_none() {
            if let Some((op, deadline)) = self.queue.pop_front() {
                let bytes = match op {
                    Op::ExternalAddress => encode_external_address_request().to_vec(),
                    Op::Map => {
                        let suggested = self.lease.map_or(self.local.port(), |l| l.external_port);
                        encode_map_request(self.local.port(), suggested, self.lifetime).to_vec()
                    }
                    Op::Delete => encode_map_request(self.local.port(), 0, 0).to_vec(),
                };
                let retry = Retry::new(now, FIRST_RTO, Duration::MAX, MAX_SENDS, deadline);
                self.inflight = Some(InFlight {
                    op,
                    started: now,
                    bytes,
                    retry,
                });
            }
        }
        if let Some(f) = &mut self.inflight {
            if f.retry.due(now) {
                f.retry.sent(now, 1.0);
                self.out.push_back(Transmit {
                    from: self.local,
                    to: SocketAddr::new(self.gateway, PCP_SERVER_PORT),
                    bytes: f.bytes.clone(),
                });
            }
        }
    }

    /// A NAT-PMP-shaped datagram from the gateway's port 5351.
    pub(crate) fn handle_response(&mut self, now: Instant, b: &[u8], stats: &mut PortMapStats) {
        let resp = match decode_response(b) {
            Ok(r) => r,
            Err(DecodeError::WrongOpcode) => {
                stats.dropped_wrong_opcode += 1;
                return;
            }
            Err(_) => {
                stats.dropped_malformed += 1;
                return;
            }
        };
        let (op, epoch) = match resp {
            Response::ExternalAddress { epoch, .. } => (Op::ExternalAddress, Some(epoch)),
            Response::Map {
                epoch,
                internal_port,
                ..
            } => {
                if internal_port != self.local.port() {
                    stats.dropped_unexpected += 1;
                    return;
                }
                (Op::Map, Some(epoch))
            }
            Response::Error { opcode, epoch, .. } => {
                let op = if opcode == OP_EXTERNAL_ADDRESS {
                    Op::ExternalAddress
                } else {
                    Op::Map
                };
                (op, epoch)
            }
        };
        let Some(f) = self.inflight.as_ref() else {
            stats.dropped_unexpected += 1;
            // A mapping granted after we stopped wanting it: delete it rather than leave it.
            if let Response::Map { lifetime, .. } = resp {
                if lifetime > 0 && !self.wanted && self.lease.is_none() {
                    self.enqueue(now, Op::Delete, now + FIRST_RTO * 8);
                }
            }
            return;
        };
        let matches = f.op == op || (f.op == Op::Delete && op == Op::Map);
        if !matches {
            stats.dropped_unexpected += 1;
            return;
        }
        stats.datagrams_accepted += 1;
        // Cannot fire: `f` above borrowed `self.inflight` as `Some`.
        let done = self.inflight.take().expect("checked").op;
        if let Some(e) = epoch {
            if self.epoch.observe(now, e) && done != Op::Delete {
                stats.epoch_resets += 1;
                if self.wanted && self.lease.is_some() {
                    log::debug!("portmap: NAT-PMP epoch {e} shows a gateway reboot: mapping again");
                    self.lease = None;
                    self.events.push_back(ClientEvent::Reset);
                    self.queue.clear();
                    let deadline = now + FIRST_RTO * 256;
                    self.queue.push_back((Op::ExternalAddress, deadline));
                    self.queue.push_back((Op::Map, deadline));
                    self.advance(now);
                    return;
                }
            }
        }
        match (done, resp) {
            (Op::Delete, _) => {}
            (_, Response::Error { result, .. }) => {
                let err = PortMapError::Refused {
                    protocol: Protocol::NatPmp,
                    code: result,
                    meaning: result_meaning(result).to_string(),
                };
                self.fail(err);
            }
            (Op::ExternalAddress, Response::ExternalAddress { ip, .. }) => {
                self.external_ip = Some(ip);
                if !self.wanted {
                    self.events
                        .push_back(ClientEvent::Available(Some(IpAddr::V4(ip))));
                }
            }
            (
                Op::Map,
                Response::Map {
                    external_port,
                    lifetime,
                    ..
                },
            ) => {
                if lifetime == 0 || external_port == 0 {
                    self.fail(PortMapError::Refused {
                        protocol: Protocol::NatPmp,
                        code: 0,
                        meaning: "the gateway granted no mapping (lifetime or port 0)".into(),
                    });
                } else if let Some(ip) = self.external_ip {
                    let granted = secs(lifetime);
                    self.lease = Some(Lease {
                        external_port,
                        renew_at: after(now, granted / 2),
                        expires_at: after(now, granted),
                    });
                    self.events.push_back(ClientEvent::Mapped {
                        external: SocketAddr::new(IpAddr::V4(ip), external_port),
                        lifetime: granted,
                    });
                }
            }
            _ => stats.dropped_unexpected += 1,
        }
        self.advance(now);
    }

    fn fail(&mut self, err: PortMapError) {
        self.queue.retain(|(op, _)| *op == Op::Delete);
        if self.lease.is_some() {
            self.lease = None;
            self.wanted = false;
            self.events.push_back(ClientEvent::Lost(err));
        } else {
            self.wanted = false;
            self.events.push_back(ClientEvent::Failed(err));
        }
    }

    /// Retransmits, gives up, renews.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if let Some(f) = &self.inflight {
            if f.retry.expired(now) {
                // Cannot fire: the `if let` above found `self.inflight` `Some`.
                let f = self.inflight.take().expect("checked");
                if f.op != Op::Delete {
                    let lost = self.lease.is_some_and(|l| now >= l.expires_at);
                    if self.lease.is_none() || lost {
                        let err = if lost {
                            PortMapError::Expired {
                                protocol: Protocol::NatPmp,
                                gateway: self.gateway,
                            }
                        } else {
                            PortMapError::NoResponse {
                                protocol: Protocol::NatPmp,
                                gateway: self.gateway,
                                waited: now.saturating_duration_since(f.started),
                            }
                        };
                        self.fail(err);
                    }
                }
            }
        }
        if let Some(l) = self.lease {
            if self.wanted && now >= l.renew_at && self.inflight.is_none() && self.queue.is_empty()
            {
                self.queue.push_back((Op::ExternalAddress, l.expires_at));
                self.queue.push_back((Op::Map, l.expires_at));
                // Renew again only after this renewal's answer (which moves renew_at).
                if let Some(lease) = &mut self.lease {
                    lease.renew_at = lease.expires_at;
                }
            }
        }
        self.advance(now);
    }

    /// The next datagram to send.
    #[must_use = "a polled datagram is gone from the queue: send it"]
    pub(crate) fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    /// The next event for the mapper.
    #[must_use = "a polled event is gone from the queue: handle it"]
    pub(crate) fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// When to call `handle_timeout`.
    #[must_use = "the deadline says when to call handle_timeout next"]
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let retry = self.inflight.as_ref().map(|f| f.retry.poll_timeout());
        let renew = self
            .lease
            .filter(|_| self.wanted)
            .map(|l| l.renew_at.min(l.expires_at));
        [retry, renew].into_iter().flatten().min()
    }
}

#[cfg(test)]
#[path = "natpmp_tests.rs"]
pub(crate) mod tests;
