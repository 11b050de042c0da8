//! PCP (RFC 6887): the sans-IO MAP client for one UDP socket.
//!
//! PCP is the preferred protocol, so its probe *is* the MAP request: a gateway that
//! speaks PCP maps at once. The 12-byte mapping nonce comes from the injected RNG and
//! every answer must carry it (others are dropped and counted). Retransmissions follow
//! §8.1.1 (IRT 3 s, doubling with ±10% jitter, MRT 1024 s) within a deadline. The client
//! renews at half the granted lifetime, checks the epoch of every answer (§8.5), re-maps
//! after an unsolicited ANNOUNCE (after a random delay, §14.1.3, so that every client
//! of a rebooted gateway does not answer at once), and deletes with lifetime 0.
//! A NAT-PMP-only gateway's UNSUPP_VERSION answer ends the probe: the mapper falls back.

pub mod wire;

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::Rng;

use super::epoch::{whole_secs, Epoch, EpochRule};
use super::retry::Retry;
use super::{secs, ClientEvent, PortMapError, PortMapStats, Protocol, PCP_SERVER_PORT};
use crate::deadline::after;
use crate::Transmit;
use wire::{DecodeError, MapRequest, Response};

/// Initial retransmission time (§8.1.1).
pub const IRT: Duration = Duration::from_secs(3);
/// Maximum retransmission time (§8.1.1).
pub const MRT: Duration = Duration::from_secs(1024);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
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
    external: SocketAddr,
    renew_at: Instant,
    expires_at: Instant,
}

/// The PCP client for one socket.
#[derive(Debug)]
pub struct PcpClient {
    gateway: IpAddr,
    local: SocketAddr,
    lifetime: u32,
    nonce: [u8; 12],
    epoch: Epoch,
    inflight: Option<InFlight>,
    lease: Option<Lease>,
    wanted: bool,
    /// A re-map scheduled after an unsolicited ANNOUNCE.
    remap_at: Option<Instant>,
    announce_delay_max: Duration,
    rng: SmallRng,
    out: VecDeque<Transmit>,
    events: VecDeque<ClientEvent>,
}

impl PcpClient {
    /// A client for `local` behind `gateway`. `rng` gives the nonce now and the jitter
    /// later.
    pub(crate) fn new(
        gateway: IpAddr,
        local: SocketAddr,
        lifetime: Duration,
        announce_delay_max: Duration,
        mut rng: SmallRng,
    ) -> Self {
        let nonce: [u8; 12] = rng.gen();
        PcpClient {
            gateway,
            local,
            lifetime: whole_secs(lifetime).max(1),
            nonce,
            epoch: Epoch::new(EpochRule::Pcp),
            inflight: None,
            lease: None,
            wanted: false,
            remap_at: None,
            announce_delay_max,
            rng,
            out: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The mapping nonce (for tests and diagnostics).
    pub fn nonce(&self) -> [u8; 12] {
        self.nonce
    }

    /// Probes by mapping; the first answer is due by `deadline`.
    pub(crate) fn map(&mut self, now: Instant, deadline: Instant) {
        self.wanted = true;
        self.remap_at = None;
        self.start(now, Op::Map, deadline);
    }

    /// Stops: deletes the mapping if there is one (retransmitted until `deadline`).
    pub(crate) fn unmap(&mut self, now: Instant, deadline: Instant) {
        self.wanted = false;
        self.remap_at = None;
        self.inflight = None;
        if self.lease.take().is_some() {
            self.start(now, Op::Delete, deadline);
        }
    }

    /// Forgets everything (the network changed).
    pub(crate) fn reset(&mut self) {
        self.wanted = false;
        self.remap_at = None;
        self.inflight = None;
        self.lease = None;
        self.epoch.reset();
    }

    /// Whether nothing is outstanding.
    pub(crate) fn is_idle(&self) -> bool {
        self.inflight.is_none()
    }

    fn start(&mut self, now: Instant, op: Op, deadline: Instant) {
        let (lifetime, suggested) = match op {
            Op::Map => (
                self.lifetime,
                self.lease.map_or(
                    SocketAddr::new(wire::unspecified_like(self.local.ip()), self.local.port()),
                    |l| l.external,
                ),
            ),
            Op::Delete => (
                0,
                SocketAddr::new(wire::unspecified_like(self.local.ip()), 0),
            ),
        };
        let bytes = wire::encode_map_request(&MapRequest {
            lifetime,
            client_ip: self.local.ip(),
            nonce: self.nonce,
            internal_port: self.local.port(),
            suggested,
        });
        let retry = Retry::new(now, IRT, MRT, u32::MAX, deadline);
        self.inflight = Some(InFlight {
            op,
            started: now,
            bytes,
            retry,
        });
        self.send_due(now);
    }

    fn send_due(&mut self, now: Instant) {
        let jitter = 1.0 + self.rng.gen_range(-0.1..=0.1);
        if let Some(f) = &mut self.inflight {
            if f.retry.due(now) {
                f.retry.sent(now, jitter);
                self.out.push_back(Transmit {
                    from: self.local,
                    to: SocketAddr::new(self.gateway, PCP_SERVER_PORT),
                    bytes: f.bytes.clone(),
                });
            }
        }
    }

    /// A NAT-PMP server's UNSUPP_VERSION answer to our request: this gateway has no PCP.
    pub(crate) fn handle_unsupported_version(&mut self, stats: &mut PortMapStats) {
        if self.inflight.as_ref().is_some_and(|f| f.op == Op::Map) && self.lease.is_none() {
            stats.datagrams_accepted += 1;
            self.inflight = None;
            self.wanted = false;
            self.events
                .push_back(ClientEvent::Failed(PortMapError::UnsupportedVersion {
                    gateway: self.gateway,
                }));
        } else {
            stats.dropped_unexpected += 1;
        }
    }

    /// A version-2 datagram from the gateway's port 5351.
    pub(crate) fn handle_response(&mut self, now: Instant, b: &[u8], stats: &mut PortMapStats) {
        let resp = match wire::decode_response(b) {
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
        match resp {
            Response::Announce { result, epoch } => {
                if result != 0 {
                    stats.dropped_unexpected += 1;
                    return;
                }
                stats.datagrams_accepted += 1;
                stats.announces += 1;
                if self.epoch.observe(now, epoch) {
                    stats.epoch_resets += 1;
                }
                if self.wanted && self.lease.is_some() && self.remap_at.is_none() {
                    let delay = self
                        .announce_delay_max
                        .mul_f64(self.rng.gen_range(0.0..=1.0));
                    log::debug!(
                        "portmap: PCP ANNOUNCE from {}: mapping again in {delay:?}",
                        self.gateway
                    );
                    self.remap_at = Some(now + delay);
                }
            }
            Response::Map {
                result,
                lifetime,
                epoch,
                nonce,
                protocol,
                internal_port,
                external,
            } => {
                if nonce != self.nonce {
                    stats.dropped_wrong_nonce += 1;
                    return;
                }
                if protocol != wire::PROTO_UDP || internal_port != self.local.port() {
                    stats.dropped_unexpected += 1;
                    return;
                }
                let Some(op) = self.inflight.as_ref().map(|f| f.op) else {
                    stats.dropped_unexpected += 1;
                    // A mapping granted after we gave up on it (the budget ended, or the
                    // mapper chose another protocol): delete it rather than leave it.
                    if result == 0 && lifetime > 0 && !self.wanted && self.lease.is_none() {
                        self.start(now, Op::Delete, now + IRT);
                    }
                    return;
                };
                stats.datagrams_accepted += 1;
                self.inflight = None;
                if self.epoch.observe(now, epoch) {
                    // This very answer re-created the mapping (a MAP creates as well as
                    // renews); count the reset, nothing else to redo.
                    stats.epoch_resets += 1;
                    if op == Op::Map && self.lease.is_some() {
                        self.events.push_back(ClientEvent::Reset);
                    }
                }
                if op == Op::Delete {
                    return;
                }
                if result != 0 {
                    let err = if result == wire::UNSUPP_VERSION {
                        PortMapError::UnsupportedVersion {
                            gateway: self.gateway,
                        }
                    } else {
                        PortMapError::Refused {
                            protocol: Protocol::Pcp,
                            code: u16::from(result),
                            meaning: wire::result_meaning(result).to_string(),
                        }
                    };
                    return self.fail(err);
                }
                if lifetime == 0 {
                    return self.fail(PortMapError::Refused {
                        protocol: Protocol::Pcp,
                        code: 0,
                        meaning: "the gateway granted a lifetime of 0".into(),
                    });
                }
                let granted = secs(lifetime);
                self.lease = Some(Lease {
                    external,
                    renew_at: after(now, granted / 2),
                    expires_at: after(now, granted),
                });
                self.events.push_back(ClientEvent::Mapped {
                    external,
                    lifetime: granted,
                });
            }
        }
    }

    fn fail(&mut self, err: PortMapError) {
        self.wanted = false;
        self.remap_at = None;
        if self.lease.take().is_some() {
            self.events.push_back(ClientEvent::Lost(err));
        } else {
            self.events.push_back(ClientEvent::Failed(err));
        }
    }

    /// Retransmits, gives up, renews, re-maps after an ANNOUNCE.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if let Some(f) = &self.inflight {
            if f.retry.expired(now) {
                // Cannot fire: the `if let` above found `self.inflight` `Some`.
                let f = self.inflight.take().expect("checked");
                if f.op == Op::Map {
                    let err = match self.lease {
                        Some(_) => PortMapError::Expired {
                            protocol: Protocol::Pcp,
                            gateway: self.gateway,
                        },
                        None => PortMapError::NoResponse {
                            protocol: Protocol::Pcp,
                            gateway: self.gateway,
                            waited: now.saturating_duration_since(f.started),
                        },
                    };
                    self.fail(err);
                }
            }
        }
        if let (true, Some(l)) = (self.wanted, self.lease) {
            let remap = self.remap_at.is_some_and(|t| now >= t);
            if self.inflight.is_none() && (now >= l.renew_at || remap) {
                self.remap_at = None;
                self.start(now, Op::Map, l.expires_at);
            }
        }
        self.send_due(now);
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
            .filter(|_| self.wanted && self.inflight.is_none())
            .map(|l| l.renew_at);
        let remap = self.remap_at.filter(|_| self.inflight.is_none());
        [retry, renew, remap].into_iter().flatten().min()
    }
}

#[cfg(test)]
pub(crate) mod tests;
