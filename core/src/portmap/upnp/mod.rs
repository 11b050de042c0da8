//! UPnP-IGD (v1 and v2): the sans-IO client for one UDP socket.
//!
//! The probe: an SSDP M-SEARCH from the mapped socket, both to the multicast group and
//! unicast to the gateway (answers are accepted only from the gateway, with a LOCATION on
//! the gateway); an HTTP GET of the device description, which names the
//! WANIPConnection:2/1 or WANPPPConnection:1 control URL; a SOAP `GetExternalIPAddress`.
//! Mapping: `AddAnyPortMapping` (v2), falling back to `AddPortMapping` (v1), which on 718
//! ConflictInMappingEntry tries another external port and on 725
//! OnlyPermanentLeasesSupported maps with lease 0 (infinite; deleted on close).
//! Renewal re-adds the same port at half the lease; `DeletePortMapping` on close.
//!
//! HTTP runs over streams the pump opens on request ([`StreamRequest`]), one connection
//! per exchange, each bounded in time and size.

mod actions;
pub mod http;
pub mod ssdp;
pub mod xml;

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;

use super::epoch::whole_secs;
use super::SSDP_MULTICAST;
use super::{ClientEvent, PortMapError, PortMapStats, Protocol, StreamId, StreamRequest};
use crate::deadline::after;
use crate::Transmit;
use http::{HttpError, HttpUrl, ResponseParser};

/// Largest device description accepted.
pub const MAX_DESCRIPTION: usize = 64 * 1024;
/// Largest SOAP answer accepted.
pub const MAX_SOAP: usize = 16 * 1024;
/// Interval between M-SEARCH rounds.
const SEARCH_INTERVAL: Duration = Duration::from_secs(1);
/// External ports tried on ConflictInMappingEntry before giving up.
const CONFLICT_ATTEMPTS: u8 = 4;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Action {
    Describe(HttpUrl),
    ExternalIp,
    AddAny { lease: u32 },
    Add { port: u16, lease: u32, attempt: u8 },
    Delete { port: u16 },
}

impl Action {
    fn name(&self) -> &'static str {
        match self {
            Action::Describe(_) => "device description",
            Action::ExternalIp => "GetExternalIPAddress",
            Action::AddAny { .. } => "AddAnyPortMapping",
            Action::Add { .. } => "AddPortMapping",
            Action::Delete { .. } => "DeletePortMapping",
        }
    }
}

#[derive(Debug)]
struct Exchange {
    id: StreamId,
    action: Action,
    url: HttpUrl,
    request: Vec<u8>,
    parser: ResponseParser,
    deadline: Instant,
}

#[derive(Clone, Debug)]
struct Igd {
    control: HttpUrl,
    service_type: String,
    v2: bool,
}

#[derive(Clone, Copy, Debug)]
struct Lease {
    port: u16,
    /// Requested lease, seconds; 0 = infinite.
    lease: u32,
    renew_at: Option<Instant>,
    expires_at: Option<Instant>,
}

#[derive(Clone, Copy, Debug)]
struct Search {
    started: Instant,
    next_at: Instant,
    deadline: Instant,
}

/// The UPnP-IGD client for one socket.
#[derive(Debug)]
pub struct UpnpClient {
    gateway: IpAddr,
    local: SocketAddr,
    lease_secs: u32,
    description: String,
    http_timeout: Duration,
    search: Option<Search>,
    igd: Option<Igd>,
    external_ip: Option<IpAddr>,
    queue: VecDeque<Action>,
    exchange: Option<Exchange>,
    lease: Option<Lease>,
    /// The probe is running: its failures are `Failed`.
    probing: bool,
    wanted: bool,
    next_stream: u64,
    rng: SmallRng,
    out: VecDeque<Transmit>,
    streams: VecDeque<StreamRequest>,
    events: VecDeque<ClientEvent>,
}

impl UpnpClient {
    /// A client for `local` behind `gateway`, asking for leases of `lifetime`.
    pub(crate) fn new(
        gateway: IpAddr,
        local: SocketAddr,
        lifetime: Duration,
        description: String,
        http_timeout: Duration,
        rng: SmallRng,
    ) -> Self {
        UpnpClient {
            gateway,
            local,
            lease_secs: whole_secs(lifetime).max(1),
            description,
            http_timeout,
            search: None,
            igd: None,
            external_ip: None,
            queue: VecDeque::new(),
            exchange: None,
            lease: None,
            probing: false,
            wanted: false,
            next_stream: 1,
            rng,
            out: VecDeque::new(),
            streams: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Starts discovery, giving up at `deadline`.
    pub(crate) fn probe(&mut self, now: Instant, deadline: Instant) {
        self.probing = true;
        self.search = Some(Search {
            started: now,
            next_at: now,
            deadline,
        });
        self.send_search(now);
    }

    /// Maps (now, or as soon as the probe found the gateway) and keeps the mapping.
    pub(crate) fn map(&mut self, now: Instant) {
        self.wanted = true;
        self.maybe_start_mapping(now);
    }

    /// Stops: cancels what is in flight and deletes the mapping, if any.
    pub(crate) fn unmap(&mut self, now: Instant) {
        self.wanted = false;
        self.probing = false;
        self.search = None;
        self.queue.clear();
        if let Some(x) = self.exchange.take() {
            self.streams.push_back(StreamRequest::Close { id: x.id });
        }
        if let Some(l) = self.lease.take() {
            self.queue.push_back(Action::Delete { port: l.port });
            self.advance(now);
        }
    }

    /// Forgets everything (the network changed).
    pub(crate) fn reset(&mut self) {
        self.wanted = false;
        self.probing = false;
        self.search = None;
        self.queue.clear();
        if let Some(x) = self.exchange.take() {
            self.streams.push_back(StreamRequest::Close { id: x.id });
        }
        self.lease = None;
        self.igd = None;
        self.external_ip = None;
    }

    /// Whether nothing is outstanding.
    pub(crate) fn is_idle(&self) -> bool {
        self.exchange.is_none() && self.queue.is_empty() && self.search.is_none()
    }

    fn send_search(&mut self, now: Instant) {
        let Some(s) = &mut self.search else { return };
        if now < s.next_at || now >= s.deadline {
            return;
        }
        s.next_at = now + SEARCH_INTERVAL;
        let unicast = SocketAddr::new(self.gateway, SSDP_MULTICAST.port());
        for to in [SSDP_MULTICAST, unicast] {
            self.out.push_back(Transmit {
                from: self.local,
                to,
                bytes: ssdp::msearch(&to.to_string(), ssdp::SEARCH_TARGET, 1),
            });
        }
    }

    /// An SSDP answer from the gateway.
    pub(crate) fn handle_ssdp(&mut self, now: Instant, b: &[u8], stats: &mut PortMapStats) {
        let resp = match ssdp::parse_response(b) {
            Ok(r) => r,
            Err(ssdp::SsdpError::NotAGateway) => {
                stats.dropped_unexpected += 1;
                return;
            }
            Err(_) => {
                stats.dropped_malformed += 1;
                return;
            }
        };
        if self.search.is_none() {
            stats.dropped_unexpected += 1;
            return;
        }
        if resp.location.addr.ip() != self.gateway {
            log::debug!(
                "portmap: SSDP answer names {} outside the gateway {}: ignored",
                resp.location.addr,
                self.gateway
            );
            stats.dropped_wrong_source += 1;
            return;
        }
        stats.datagrams_accepted += 1;
        self.search = None;
        self.queue.push_back(Action::Describe(resp.location));
        self.advance(now);
    }

    fn maybe_start_mapping(&mut self, now: Instant) {
        if !self.wanted || self.lease.is_some() || self.external_ip.is_none() {
            return;
        }
        if self.exchange.is_some() || !self.queue.is_empty() {
            return;
        }
        let Some(igd) = &self.igd else { return };
        let action = if igd.v2 {
            Action::AddAny {
                lease: self.lease_secs,
            }
        } else {
            Action::Add {
                port: self.local.port(),
                lease: self.lease_secs,
                attempt: 0,
            }
        };
        self.queue.push_back(action);
        self.advance(now);
    }

    /// Starts the next queued exchange if none is running.
    fn advance(&mut self, now: Instant) {
        if self.exchange.is_some() {
            return;
        }
        let Some(action) = self.queue.pop_front() else {
            return;
        };
        let (url, request, max_body) = match &action {
            Action::Describe(url) => (url.clone(), http::get_request(url), MAX_DESCRIPTION),
            _ => {
                let Some(igd) = &self.igd else {
                    return;
                };
                let body = self.soap_body(igd, &action);
                let req = http::soap_request(&igd.control, &igd.service_type, action.name(), &body);
                (igd.control.clone(), req, MAX_SOAP)
            }
        };
        let id = StreamId(self.next_stream);
        self.next_stream += 1;
        self.streams
            .push_back(StreamRequest::Connect { id, to: url.addr });
        self.exchange = Some(Exchange {
            id,
            action,
            url,
            request,
            parser: ResponseParser::new(max_body),
            deadline: after(now, self.http_timeout),
        });
    }

    /// The pump connected stream `id`.
    pub(crate) fn handle_connected(&mut self, id: StreamId) -> bool {
        match &self.exchange {
            Some(x) if x.id == id => {
                let bytes = x.request.clone();
                self.streams.push_back(StreamRequest::Send { id, bytes });
                true
            }
            _ => false,
        }
    }

    /// Bytes arrived on stream `id`.
    pub(crate) fn handle_data(
        &mut self,
        now: Instant,
        id: StreamId,
        bytes: &[u8],
        stats: &mut PortMapStats,
    ) -> bool {
        let Some(x) = self.exchange.as_mut().filter(|x| x.id == id) else {
            return false;
        };
        match x.parser.feed(bytes) {
            Ok(None) => {}
            Ok(Some(resp)) => self.complete(now, Ok(resp), stats),
            Err(e) => self.complete(now, Err(e), stats),
        }
        true
    }

    /// Stream `id` closed (or never connected).
    pub(crate) fn handle_closed(
        &mut self,
        now: Instant,
        id: StreamId,
        stats: &mut PortMapStats,
    ) -> bool {
        let Some(x) = self.exchange.as_mut().filter(|x| x.id == id) else {
            return false;
        };
        let result = x.parser.finish();
        self.complete(now, result, stats);
        true
    }

    fn complete(
        &mut self,
        now: Instant,
        result: Result<http::Response, HttpError>,
        stats: &mut PortMapStats,
    ) {
        let Some(x) = self.exchange.take() else {
            return;
        };
        self.streams.push_back(StreamRequest::Close { id: x.id });
        let where_ = format!("http://{}{}", x.url.addr, x.url.path);
        let outcome = match result {
            Err(HttpError::TooLarge { what, limit }) => {
                stats.dropped_oversized += 1;
                Err(format!(
                    "the {} answer from {where_} has a {what} larger than {limit} bytes: ignored",
                    x.action.name()
                ))
            }
            Err(e) => Err(format!("{} from {where_}: {e}", x.action.name())),
            Ok(resp) => Ok(resp),
        };
        match outcome {
            Ok(resp) => self.on_answer(now, x.action, &where_, resp, stats),
            Err(msg) => {
                stats.http_failures += 1;
                self.on_failure(now, &x.action, PortMapError::Upnp(msg));
            }
        }
        self.advance(now);
        self.maybe_start_mapping(now);
    }

    fn on_failure(&mut self, now: Instant, action: &Action, err: PortMapError) {
        log::debug!("portmap: UPnP {}: {err}", action.name());
        if matches!(action, Action::Delete { .. }) {
            return;
        }
        self.queue.retain(|a| matches!(a, Action::Delete { .. }));
        if let Some(l) = self.lease {
            // A renewal failed: try again before the lease runs out, else it is lost.
            match l.expires_at {
                Some(exp) if now + Duration::from_secs(1) < exp => {
                    let retry = now + ((exp - now) / 2).min(Duration::from_secs(30));
                    if let Some(lease) = &mut self.lease {
                        lease.renew_at = Some(retry);
                    }
                }
                _ => {
                    self.lease = None;
                    self.wanted = false;
                    self.events.push_back(ClientEvent::Lost(err));
                }
            }
            return;
        }
        self.probing = false;
        self.wanted = false;
        self.search = None;
        self.events.push_back(ClientEvent::Failed(err));
    }

    /// Search rounds, exchange timeouts, renewals.
    pub(crate) fn handle_timeout(&mut self, now: Instant, stats: &mut PortMapStats) {
        if let Some(s) = self.search {
            if now >= s.deadline {
                self.search = None;
                let err = PortMapError::NoResponse {
                    protocol: Protocol::Upnp,
                    gateway: self.gateway,
                    waited: now.saturating_duration_since(s.started),
                };
                self.on_failure(now, &Action::ExternalIp, err);
            } else {
                self.send_search(now);
            }
        }
        if self.exchange.as_ref().is_some_and(|x| now >= x.deadline) {
            self.complete(now, Err(HttpError::TimedOut(self.http_timeout)), stats);
        }
        if let Some(l) = self.lease {
            if l.expires_at.is_some_and(|e| now >= e) {
                if self.exchange.is_none() {
                    self.lease = None;
                    self.wanted = false;
                    self.events
                        .push_back(ClientEvent::Lost(PortMapError::Expired {
                            protocol: Protocol::Upnp,
                            gateway: self.gateway,
                        }));
                }
            } else if l.renew_at.is_some_and(|r| now >= r)
                && self.wanted
                && self.exchange.is_none()
                && self.queue.is_empty()
            {
                if let Some(lease) = &mut self.lease {
                    lease.renew_at = None;
                }
                self.queue.push_back(Action::ExternalIp);
                self.queue.push_back(Action::Add {
                    port: l.port,
                    lease: l.lease,
                    attempt: 0,
                });
                self.advance(now);
            }
        }
    }

    /// The next datagram to send (M-SEARCH).
    #[must_use = "a polled datagram is gone from the queue: send it"]
    pub(crate) fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    /// The next stream request.
    #[must_use = "a polled stream request is gone from the queue: carry it out"]
    pub(crate) fn poll_stream_request(&mut self) -> Option<StreamRequest> {
        self.streams.pop_front()
    }

    /// The next event for the mapper.
    #[must_use = "a polled event is gone from the queue: handle it"]
    pub(crate) fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// When to call `handle_timeout`.
    #[must_use = "the deadline says when to call handle_timeout next"]
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let search = self.search.map(|s| s.next_at.min(s.deadline));
        let exchange = self.exchange.as_ref().map(|x| x.deadline);
        let lease = self
            .lease
            .filter(|_| self.wanted)
            .and_then(|l| [l.renew_at, l.expires_at].into_iter().flatten().min());
        [search, exchange, lease].into_iter().flatten().min()
    }
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
