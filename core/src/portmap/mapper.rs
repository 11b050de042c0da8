//! [`PortMapper`]: one mapping for one UDP socket, from whichever protocol the gateway
//! offers.
//!
//! At creation it probes all enabled protocols at once, within `budget`: PCP by mapping
//! (it is the preferred protocol, so its probe is its MAP), NAT-PMP by asking for the
//! external address and UPnP-IGD by SSDP, the device description and
//! `GetExternalIPAddress` (neither of which maps anything). It then maps with the most
//! preferred protocol that answered: a less preferred one is used once every more
//! preferred one failed, or `preference_wait` after it answered, or at the end of the
//! budget, so a silent PCP never delays NAT-PMP by more than that. Should a more
//! preferred protocol map after a less preferred one did, the mapper switches and deletes
//! the extra mapping. Nothing else waits for the mapper: the caller adds a candidate
//! when [`PortMapEvent::Mapped`] arrives.
//!
//! # Driving it
//!
//! ```text
//! let mut m = PortMapper::new(now, PortMapConfig::new(local, gateway), &mut rng)?;
//! loop {
//!     while let Some(t) = m.poll_transmit() { socket.send_to(&t.bytes, t.to) }
//!     while let Some(r) = m.poll_stream_request() { /* Connect / Send / Close a TCP stream */ }
//!     while let Some(e) = m.poll_event() { /* Mapped, Changed, Lost, Unavailable, ... */ }
//!     select! {
//!         (buf, from) = socket.recv_from() => if !m.handle_datagram(now, from, &buf) { /* ICE's */ },
//!         stream event => m.handle_stream_connected / _data / _closed(now, id, ..),
//!         _ = sleep_until(m.poll_timeout()) => m.handle_timeout(now),
//!     }
//! }
//! m.close(now); // then drive it until m.is_closed(): the deletes go out
//! ```

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};

pub use super::config::{PortMapConfig, PortMapConfigError, Protocols};
use super::error::check_external;
pub use super::event::{Mapping, PortMapEvent, ProtocolStatus};
use super::natpmp::NatPmpClient;
use super::pcp::{wire as pcp_wire, PcpClient};
use super::upnp::{ssdp, UpnpClient};
use super::{
    ClientEvent, PortMapError, PortMapStats, Protocol, StreamId, StreamRequest, PCP_SERVER_PORT,
};
use crate::deadline::after;
use crate::Transmit;

fn index(p: Protocol) -> usize {
    match p {
        Protocol::Pcp => 0,
        Protocol::NatPmp => 1,
        Protocol::Upnp => 2,
    }
}

/// The port-mapping orchestrator for one socket. See the module docs.
#[derive(Debug)]
pub struct PortMapper {
    config: PortMapConfig,
    pcp: PcpClient,
    natpmp: NatPmpClient,
    upnp: UpnpClient,
    status: [ProtocolStatus; 3],
    available_since: [Option<Instant>; 3],
    probe_deadline: Option<Instant>,
    /// The protocol asked to map (mapping or mapped).
    active: Option<Protocol>,
    mapping: Option<Mapping>,
    /// The mapping held before a re-probe: the next one is `Changed`, or `Lost` if none.
    previous: Option<Mapping>,
    closing: Option<Instant>,
    close_expired: bool,
    stats: PortMapStats,
    events: VecDeque<PortMapEvent>,
}

impl PortMapper {
    /// Starts probing at `now`. The PCP nonce and all jitter come from `rng`.
    pub fn new(
        now: Instant,
        config: PortMapConfig,
        rng: &mut dyn RngCore,
    ) -> Result<Self, PortMapConfigError> {
        if config.local.ip().is_unspecified() {
            return Err(PortMapConfigError::UnspecifiedLocal(config.local));
        }
        if !config.local.is_ipv4() || !config.gateway.is_ipv4() {
            return Err(PortMapConfigError::NotIpv4 {
                local: config.local,
                gateway: config.gateway,
            });
        }
        let mut seed = || SmallRng::seed_from_u64(rng.next_u64());
        let c = &config;
        let pcp = PcpClient::new(c.gateway, c.local, c.lifetime, c.announce_delay_max, seed());
        let natpmp = NatPmpClient::new(c.gateway, c.local, c.lifetime);
        let upnp = UpnpClient::new(
            c.gateway,
            c.local,
            c.lifetime,
            c.description.clone(),
            c.http_timeout,
            seed(),
        );
        let mut m = PortMapper {
            config,
            pcp,
            natpmp,
            upnp,
            status: [
                ProtocolStatus::Disabled,
                ProtocolStatus::Disabled,
                ProtocolStatus::Disabled,
            ],
            available_since: [None; 3],
            probe_deadline: None,
            active: None,
            mapping: None,
            previous: None,
            closing: None,
            close_expired: false,
            stats: PortMapStats::default(),
            events: VecDeque::new(),
        };
        m.start_probes(now);
        Ok(m)
    }

    fn start_probes(&mut self, now: Instant) {
        let deadline = after(now, self.config.budget);
        self.probe_deadline = Some(deadline);
        self.available_since = [None; 3];
        self.active = None;
        for p in Protocol::ALL {
            self.status[index(p)] = if self.config.protocols.contains(p) {
                ProtocolStatus::Probing
            } else {
                ProtocolStatus::Disabled
            };
        }
        if self.config.protocols.pcp {
            self.pcp.map(now, deadline);
        }
        if self.config.protocols.nat_pmp {
            self.natpmp.probe(now, deadline);
        }
        if self.config.protocols.upnp {
            self.upnp.probe(now, deadline);
        }
        self.settle(now);
    }

    /// The configuration.
    pub fn config(&self) -> &PortMapConfig {
        &self.config
    }

    /// The gateway this mapper talks to.
    pub fn gateway(&self) -> IpAddr {
        self.config.gateway
    }

    /// The mapping held now, if any.
    pub fn mapping(&self) -> Option<Mapping> {
        self.mapping
    }

    /// What is known of `protocol`.
    pub fn status(&self, protocol: Protocol) -> &ProtocolStatus {
        &self.status[index(protocol)]
    }

    /// True once every enabled protocol's probe has ended (available, mapped or not).
    pub fn probes_done(&self) -> bool {
        !self.status.contains(&ProtocolStatus::Probing)
    }

    /// Counters.
    pub fn stats(&self) -> &PortMapStats {
        &self.stats
    }

    /// A datagram arrived on the mapped socket. Returns whether it was the mapper's
    /// (anything from the gateway's port 5351, SSDP answers from the gateway, and things
    /// shaped like them from elsewhere, which are dropped and counted); `false` means it
    /// belongs to someone else (ICE), untouched.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) -> bool {
        let from_gateway = from.ip() == self.config.gateway;
        let pcp_port = from.port() == PCP_SERVER_PORT;
        let ssdp_like = ssdp::looks_like_response(bytes);
        if !from_gateway {
            let shaped = (pcp_port && matches!(bytes.first(), Some(0) | Some(2)))
                || (from.port() == super::SSDP_MULTICAST.port() && ssdp_like);
            if shaped {
                log::debug!(
                    "portmap: dropped a {}-byte answer from {from}, not the gateway",
                    bytes.len()
                );
                self.stats.dropped_wrong_source += 1;
            }
            return shaped;
        }
        if pcp_port {
            match bytes.first() {
                Some(&pcp_wire::VERSION) => self.pcp.handle_response(now, bytes, &mut self.stats),
                Some(0) if pcp_wire::is_natpmp_unsupported_version(bytes) => {
                    self.pcp.handle_unsupported_version(&mut self.stats)
                }
                Some(0) => self.natpmp.handle_response(now, bytes, &mut self.stats),
                _ => self.stats.dropped_malformed += 1,
            }
        } else if ssdp_like {
            self.upnp.handle_ssdp(now, bytes, &mut self.stats);
        } else {
            return false;
        }
        self.settle(now);
        true
    }

    /// The pump connected stream `id`.
    pub fn handle_stream_connected(&mut self, now: Instant, id: StreamId) {
        self.upnp.handle_connected(id);
        self.settle(now);
    }

    /// Bytes arrived on stream `id`.
    pub fn handle_stream_data(&mut self, now: Instant, id: StreamId, bytes: &[u8]) {
        self.upnp.handle_data(now, id, bytes, &mut self.stats);
        self.settle(now);
    }

    /// Stream `id` closed, was reset, or could not connect.
    pub fn handle_stream_closed(&mut self, now: Instant, id: StreamId) {
        self.upnp.handle_closed(now, id, &mut self.stats);
        self.settle(now);
    }

    /// Time passed: retransmissions, budget, renewals.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.pcp.handle_timeout(now);
        self.natpmp.handle_timeout(now);
        self.upnp.handle_timeout(now, &mut self.stats);
        self.settle(now);
        if self.probe_deadline.is_some_and(|d| now >= d) {
            self.probe_deadline = None;
            for p in Protocol::ALL {
                if self.status[index(p)] == ProtocolStatus::Probing {
                    self.cancel(now, p);
                    let reason = PortMapError::NoResponse {
                        protocol: p,
                        gateway: self.config.gateway,
                        waited: self.config.budget,
                    };
                    self.set_unavailable(p, reason);
                }
            }
            self.settle(now);
        }
        if self.closing.is_some_and(|d| now >= d) {
            self.close_expired = true;
        }
    }

    /// The network changed (same gateway, same socket): forget the mappings' state and
    /// probe and map again. The next mapping is reported as `Changed` if its address
    /// differs, not at all if it is the same, and `Lost` if none can be made. For a new
    /// gateway or a new local address, create a new `PortMapper` instead.
    pub fn network_changed(&mut self, now: Instant) {
        if self.closing.is_some() {
            return;
        }
        self.pcp.reset();
        self.natpmp.reset();
        self.upnp.reset();
        if let Some(m) = self.mapping.take() {
            self.previous = Some(m);
        }
        self.start_probes(now);
    }

    /// Deletes every mapping: after this, drive the mapper (transmits, streams, timeouts)
    /// until [`PortMapper::is_closed`], at most `close_timeout`.
    pub fn close(&mut self, now: Instant) {
        if self.closing.is_some() {
            return;
        }
        let deadline = after(now, self.config.close_timeout);
        self.closing = Some(deadline);
        self.probe_deadline = None;
        self.pcp.unmap(now, deadline);
        self.natpmp.unmap(now, deadline);
        self.upnp.unmap(now);
        self.mapping = None;
        self.previous = None;
        self.active = None;
        self.drain_clients(now);
    }

    /// True once closed and every delete was answered or given up.
    pub fn is_closed(&self) -> bool {
        self.closing.is_some()
            && (self.close_expired
                || (self.pcp.is_idle() && self.natpmp.is_idle() && self.upnp.is_idle()))
    }

    /// The next datagram to send from the mapped socket.
    #[must_use = "a polled datagram is gone from the queue: send it"]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let t = self
            .pcp
            .poll_transmit()
            .or_else(|| self.natpmp.poll_transmit())
            .or_else(|| self.upnp.poll_transmit())?;
        self.stats.datagrams_sent += 1;
        Some(t)
    }

    /// The next TCP stream request (UPnP's HTTP).
    #[must_use = "a polled stream request is gone from the queue: carry it out"]
    pub fn poll_stream_request(&mut self) -> Option<StreamRequest> {
        let r = self.upnp.poll_stream_request();
        if matches!(r, Some(StreamRequest::Connect { .. })) {
            self.stats.http_exchanges += 1;
        }
        r
    }

    /// The next event.
    #[must_use = "a polled event is gone from the queue: handle it"]
    pub fn poll_event(&mut self) -> Option<PortMapEvent> {
        self.events.pop_front()
    }

    /// When to call [`PortMapper::handle_timeout`].
    #[must_use = "the deadline says when to call handle_timeout next"]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_closed() {
            return None;
        }
        let waits = Protocol::ALL.iter().filter_map(|p| {
            let since = self.available_since[index(*p)]?;
            (self.active.is_none() && self.closing.is_none())
                .then_some(since + self.config.preference_wait)
        });
        [
            self.pcp.poll_timeout(),
            self.natpmp.poll_timeout(),
            self.upnp.poll_timeout(),
            self.probe_deadline,
            self.closing.filter(|_| !self.close_expired),
        ]
        .into_iter()
        .flatten()
        .chain(waits)
        .min()
    }

    fn cancel(&mut self, now: Instant, p: Protocol) {
        let deadline = after(now, self.config.close_timeout);
        match p {
            Protocol::Pcp => self.pcp.unmap(now, deadline),
            Protocol::NatPmp => self.natpmp.unmap(now, deadline),
            Protocol::Upnp => self.upnp.unmap(now),
        }
    }

    fn set_unavailable(&mut self, p: Protocol, reason: PortMapError) {
        log::debug!("portmap: {reason}");
        self.status[index(p)] = ProtocolStatus::Unavailable(reason.clone());
        self.available_since[index(p)] = None;
        self.events.push_back(PortMapEvent::Unavailable {
            protocol: p,
            reason,
        });
    }

    /// Collects client events, then decides what to map.
    fn settle(&mut self, now: Instant) {
        self.drain_clients(now);
        self.decide(now);
        self.drain_clients(now);
        if self.previous.is_some()
            && self.mapping.is_none()
            && self.active.is_none()
            && self.probes_done()
        {
            // Cannot fire: `self.previous.is_some()` is the first condition above.
            let prev = self.previous.take().expect("checked");
            let reason = Protocol::ALL
                .iter()
                .find_map(|p| match &self.status[index(*p)] {
                    ProtocolStatus::Unavailable(e) if *p == prev.protocol => Some(e.clone()),
                    _ => None,
                })
                .unwrap_or(PortMapError::Expired {
                    protocol: prev.protocol,
                    gateway: self.config.gateway,
                });
            self.events.push_back(PortMapEvent::Lost {
                protocol: prev.protocol,
                previous: prev.external,
                reason,
            });
        }
    }

    fn drain_clients(&mut self, now: Instant) {
        loop {
            let next = self
                .pcp
                .poll_event()
                .map(|e| (Protocol::Pcp, e))
                .or_else(|| self.natpmp.poll_event().map(|e| (Protocol::NatPmp, e)))
                .or_else(|| self.upnp.poll_event().map(|e| (Protocol::Upnp, e)));
            let Some((p, e)) = next else { break };
            if self.closing.is_none() {
                self.on_client_event(now, p, e);
            }
        }
    }

    fn on_client_event(&mut self, now: Instant, p: Protocol, e: ClientEvent) {
        match e {
            ClientEvent::Available(ip) => {
                if let Some(Err(reason)) = ip.map(|ip| check_external(p, SocketAddr::new(ip, 0))) {
                    self.cancel(now, p);
                    return self.set_unavailable(p, reason);
                }
                self.status[index(p)] = ProtocolStatus::Available { external_ip: ip };
                self.available_since[index(p)] = Some(now);
                self.events.push_back(PortMapEvent::Available {
                    protocol: p,
                    external_ip: ip,
                });
            }
            ClientEvent::Failed(reason) => {
                if self.active == Some(p) {
                    self.active = None;
                }
                self.set_unavailable(p, reason);
            }
            ClientEvent::Mapped { external, lifetime } => {
                self.on_mapped(now, p, external, lifetime)
            }
            ClientEvent::Lost(reason) => {
                if self.mapping.is_some_and(|m| m.protocol == p) {
                    // Cannot fire: the `if` just checked `self.mapping` is `Some`.
                    let m = self.mapping.take().expect("checked");
                    self.active = None;
                    self.set_unavailable(p, reason.clone());
                    self.events.push_back(PortMapEvent::Lost {
                        protocol: p,
                        previous: m.external,
                        reason,
                    });
                    // Perhaps another protocol, or the same one anew, can map: probe again.
                    self.pcp.reset();
                    self.natpmp.reset();
                    self.upnp.reset();
                    self.start_probes(now);
                }
            }
            ClientEvent::Reset => {}
        }
    }

    fn on_mapped(&mut self, now: Instant, p: Protocol, external: SocketAddr, lifetime: Duration) {
        if let Err(reason) = check_external(p, external) {
            self.cancel(now, p);
            if self.active == Some(p) {
                self.active = None;
            }
            if let Some(m) = self.mapping.filter(|m| m.protocol == p) {
                self.mapping = None;
                self.events.push_back(PortMapEvent::Lost {
                    protocol: p,
                    previous: m.external,
                    reason: reason.clone(),
                });
            }
            return self.set_unavailable(p, reason);
        }
        let new = Mapping {
            protocol: p,
            external,
            lifetime,
        };
        match self.mapping {
            Some(m) if m.protocol == p => {
                self.mapping = Some(new);
                if m.external == external {
                    self.stats.renewals += 1;
                } else {
                    self.changed(m.external, new);
                }
            }
            Some(m) if p < m.protocol => {
                // A more preferred protocol mapped late: switch, delete the extra one.
                self.cancel(now, m.protocol);
                self.status[index(m.protocol)] =
                    ProtocolStatus::Unavailable(PortMapError::Superseded {
                        protocol: m.protocol,
                        preferred: p,
                    });
                self.install(new);
                self.changed(m.external, new);
            }
            Some(m) => {
                // A less preferred protocol mapped while another holds the mapping.
                self.cancel(now, p);
                self.status[index(p)] = ProtocolStatus::Unavailable(PortMapError::Superseded {
                    protocol: p,
                    preferred: m.protocol,
                });
            }
            None => {
                if let Some(other) = self.active.filter(|a| *a != p) {
                    self.cancel(now, other);
                    self.status[index(other)] =
                        ProtocolStatus::Unavailable(PortMapError::Superseded {
                            protocol: other,
                            preferred: p,
                        });
                }
                self.install(new);
                match self.previous.take() {
                    Some(prev) if prev.external == external => {}
                    Some(prev) => self.changed(prev.external, new),
                    None => self.events.push_back(PortMapEvent::Mapped {
                        protocol: p,
                        external,
                        lifetime,
                    }),
                }
            }
        }
    }

    fn install(&mut self, m: Mapping) {
        self.mapping = Some(m);
        self.active = Some(m.protocol);
        self.status[index(m.protocol)] = ProtocolStatus::Mapped {
            external: m.external,
        };
    }

    fn changed(&mut self, previous: SocketAddr, m: Mapping) {
        self.status[index(m.protocol)] = ProtocolStatus::Mapped {
            external: m.external,
        };
        self.events.push_back(PortMapEvent::Changed {
            protocol: m.protocol,
            previous,
            external: m.external,
            lifetime: m.lifetime,
        });
    }

    /// Picks the protocol to map with, if it is time.
    fn decide(&mut self, now: Instant) {
        if self.closing.is_some() || self.active.is_some() {
            return;
        }
        for p in [Protocol::NatPmp, Protocol::Upnp] {
            let i = index(p);
            let Some(since) = self.available_since[i] else {
                continue;
            };
            if !matches!(self.status[i], ProtocolStatus::Available { .. }) {
                continue;
            }
            let better_pending = Protocol::ALL[..i].iter().any(|q| {
                matches!(
                    self.status[index(*q)],
                    ProtocolStatus::Probing | ProtocolStatus::Available { .. }
                )
            });
            let waited = now >= since + self.config.preference_wait;
            let budget_over = self.probe_deadline.is_none_or(|d| now >= d);
            if better_pending && !waited && !budget_over {
                return;
            }
            self.active = Some(p);
            match p {
                Protocol::NatPmp => self.natpmp.map(now, after(now, self.config.budget)),
                _ => self.upnp.map(now),
            }
            return;
        }
    }
}

#[cfg(test)]
#[path = "mapper_tests.rs"]
mod tests;
