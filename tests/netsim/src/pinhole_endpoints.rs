//! Pinhole's own sans-IO machines as netsim endpoints: the RFC 5389/5780 Binding
//! server, the RFC 5780 NAT behaviour discovery client and the binding-lifetime
//! probe. Each is a thin adapter (`receive` → `handle_input`, `Transmit` →
//! [`Datagram`]) that also notes the virtual time its machine finished, so a
//! scenario can assert how long it took.
//!
//! ```text
//! let stun = net.server("stun", &[S1, S2]);
//! let cfg = ServerConfig::new(sa(S1, 3478)).with_alternate(sa(S2, 3479));
//! net.attach(stun, StunServerEndpoint::new(cfg)?);
//! let local = peer.local(5000);
//! let (now, mut rng) = (net.now(), net.fork_rng());
//! let d = DiscoveryEndpoint::new(now, DiscoveryConfig::new(sa(S1, 3478), local), &mut rng)?;
//! let d = net.attach_on_ports(peer.host, &[local.port()], d);
//! net.run_until_predicate(deadline, |sim| sim.endpoint(d).is_done());
//! ```

use crate::endpoint::{Datagram, Endpoint};
use pinhole::nat::discovery::{DiscoveryConfig, DiscoveryError, NatDiscovery, NatReport};
use pinhole::nat::lifetime::{LifetimeConfig, LifetimeError, LifetimeProbe, LifetimeReport};
use pinhole::nat::Nat64Prefix;
use pinhole::stun::server::{BindingServer, ServerConfig, ServerError, ServerStats};
use rand::RngCore;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// [`BindingServer`] on a simulated host. Attach it to a host that owns the
/// primary and alternate IPs (`net.server(name, &[ip1, ip2])`); it answers on
/// the four RFC 5780 combinations and drops (and counts) anything else.
#[derive(Debug)]
pub struct StunServerEndpoint {
    server: BindingServer,
}

impl StunServerEndpoint {
    pub fn new(config: ServerConfig) -> Result<Self, ServerError> {
        Ok(StunServerEndpoint {
            server: BindingServer::new(config)?,
        })
    }

    /// The machine itself (config, `local_addresses`).
    pub fn server(&self) -> &BindingServer {
        &self.server
    }

    pub fn stats(&self) -> ServerStats {
        self.server.stats()
    }
}

impl Endpoint for StunServerEndpoint {
    fn receive(&mut self, now: Instant, d: Datagram) {
        self.server.handle_input(now, d.dst, d.src, &d.payload);
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.server.handle_timeout(now);
    }
    fn poll_transmit(&mut self) -> Option<Datagram> {
        let t = self.server.poll_transmit()?;
        Some(Datagram::new(t.from, t.to, t.bytes))
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        self.server.poll_timeout()
    }
}

/// [`NatDiscovery`] on one simulated socket, `config.local`. Attach it with
/// `attach_on_ports(host, &[local.port()])` (or `attach`; datagrams to other
/// ports are then ignored and counted in [`DiscoveryEndpoint::ignored`]).
#[derive(Debug)]
pub struct DiscoveryEndpoint {
    local: SocketAddr,
    nat64: Option<Nat64Prefix>,
    discovery: NatDiscovery,
    started: Instant,
    finished: Option<Instant>,
    ignored: u64,
}

impl DiscoveryEndpoint {
    /// Starts discovery at `now` (normally `net.now()`): Test I leaves at once.
    pub fn new<R: RngCore + ?Sized>(
        now: Instant,
        config: DiscoveryConfig,
        rng: &mut R,
    ) -> Result<Self, DiscoveryError> {
        Ok(DiscoveryEndpoint {
            local: config.local,
            nat64: None,
            discovery: NatDiscovery::new(now, config, rng)?,
            started: now,
            finished: None,
            ignored: 0,
        })
    }

    /// On an IPv6-only host: send to the IPv4 addresses the server reports
    /// (OTHER-ADDRESS, the mapped address) through this NAT64 prefix, as the runtime's
    /// netcheck does.
    pub fn with_nat64(mut self, prefix: Nat64Prefix) -> Self {
        self.nat64 = Some(prefix);
        self
    }

    pub fn discovery(&self) -> &NatDiscovery {
        &self.discovery
    }

    pub fn is_done(&self) -> bool {
        self.discovery.is_done()
    }

    /// The report or error, once done.
    pub fn result(&self) -> Option<&Result<NatReport, DiscoveryError>> {
        self.discovery.result()
    }

    /// Virtual time from start to the result.
    pub fn elapsed(&self) -> Option<Duration> {
        self.finished.map(|f| f - self.started)
    }

    /// Datagrams that arrived for another port of the host.
    pub fn ignored(&self) -> u64 {
        self.ignored
    }

    fn note(&mut self, now: Instant) {
        if self.finished.is_none() && self.discovery.is_done() {
            self.finished = Some(now);
        }
    }
}

impl Endpoint for DiscoveryEndpoint {
    fn receive(&mut self, now: Instant, d: Datagram) {
        if d.dst.port() != self.local.port() {
            self.ignored += 1;
            return;
        }
        self.discovery.handle_input(now, d.src, &d.payload);
        self.note(now);
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.discovery.handle_timeout(now);
        self.note(now);
    }
    fn poll_transmit(&mut self) -> Option<Datagram> {
        let t = self.discovery.poll_transmit()?;
        let to = match (self.local, t.to, self.nat64) {
            (SocketAddr::V6(_), SocketAddr::V4(v4), Some(p)) => {
                SocketAddr::V6(p.synthesize_socket(v4))
            }
            (_, to, _) => to,
        };
        Some(Datagram::new(t.from, to, t.bytes))
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        self.discovery.poll_timeout()
    }
}

/// [`LifetimeProbe`] on two simulated sockets, X and Y (distinct ports of one
/// host). Attach it with `attach_on_ports(host, &[x.port(), y.port()])`.
#[derive(Debug)]
pub struct LifetimeEndpoint {
    x: SocketAddr,
    y: SocketAddr,
    probe: LifetimeProbe,
    started: Instant,
    finished: Option<Instant>,
    ignored: u64,
}

impl LifetimeEndpoint {
    /// Starts the probe at `now`; X's first request leaves at once.
    pub fn new<R: RngCore + ?Sized>(
        now: Instant,
        config: LifetimeConfig,
        x: SocketAddr,
        y: SocketAddr,
        rng: &mut R,
    ) -> Result<Self, LifetimeError> {
        assert_ne!(x.port(), y.port(), "X and Y need distinct ports");
        Ok(LifetimeEndpoint {
            x,
            y,
            probe: LifetimeProbe::new(now, config, x, y, rng)?,
            started: now,
            finished: None,
            ignored: 0,
        })
    }

    pub fn probe(&self) -> &LifetimeProbe {
        &self.probe
    }

    pub fn is_done(&self) -> bool {
        self.probe.is_done()
    }

    /// The report or error, once done.
    pub fn result(&self) -> Option<&Result<LifetimeReport, LifetimeError>> {
        self.probe.result()
    }

    /// Virtual time from start to the result.
    pub fn elapsed(&self) -> Option<Duration> {
        self.finished.map(|f| f - self.started)
    }

    /// Datagrams that arrived for a port that is neither X nor Y.
    pub fn ignored(&self) -> u64 {
        self.ignored
    }

    fn note(&mut self, now: Instant) {
        if self.finished.is_none() && self.probe.is_done() {
            self.finished = Some(now);
        }
    }
}

impl Endpoint for LifetimeEndpoint {
    fn receive(&mut self, now: Instant, d: Datagram) {
        let socket = match d.dst.port() {
            p if p == self.x.port() => self.x,
            p if p == self.y.port() => self.y,
            _ => {
                self.ignored += 1;
                return;
            }
        };
        self.probe.handle_input(now, socket, d.src, &d.payload);
        self.note(now);
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.probe.handle_timeout(now);
        self.note(now);
    }
    fn poll_transmit(&mut self) -> Option<Datagram> {
        let t = self.probe.poll_transmit()?;
        Some(Datagram::new(t.from, t.to, t.bytes))
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        self.probe.poll_timeout()
    }
}
