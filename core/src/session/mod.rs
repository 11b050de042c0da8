//! [`Session`]: the one sans-IO object that does the whole traversal job.
//!
//! A session owns the ICE agent, its UDP sockets (as bind/close requests to the pump),
//! its TURN server connections (as stream requests), server name resolution (as
//! resolve requests), the signaling messages both ways, network change, port mappings
//! through the default gateway (`portmap.rs`), NAT discovery and the hard-NAT punch's
//! extra sockets (`nat.rs`, [`crate::ice::PunchConfig`]) and the application's data. Every
//! pump — the tokio runtime, netsim, a C caller bringing its own sockets — drives it the
//! same way:
//!
//! ```text
//! let mut s = Session::new(config, now, rng)?;
//! loop {
//!     match s.poll_output() {
//!         Output::Socket(Bind { ip, port })    => { bind; s.handle_input(now, Input::SocketBound { addr }) }
//!         Output::Socket(Close { addr })       => close it,
//!         Output::Resolve(r)                   => { resolve r.host; s.handle_input(now, Input::Resolved { id: r.id, result }) }
//!         Output::Stream(Connect { id, .. })   => open TCP/TLS; later Input::StreamConnected / StreamData / StreamClosed,
//!         Output::Stream(Send | Close)         => write / close,
//!         Output::Transmit(t)                  => socket(t.from).send_to(&t.bytes, t.to),
//!         Output::Event(Event::Signal(m))      => send m.to_json() to the peer,
//!         Output::Event(e)                     => tell the app,
//!         Output::Datagram(d)                  => give d to the app,
//!         Output::Timeout(t)                   => { wait for input or t; break }
//!     }
//! }
//! // inputs: Input::Datagram { local, from, data }, Input::LocalAddresses(&addrs),
//! //         Input::Gateway(default_gateway), s.handle_signal(now, peer_string),
//! //         s.send(now, bytes), s.handle_timeout(now)
//! ```
//!
//! # Poll order
//!
//! [`Session::poll_output`] returns, in this order, until it returns
//! [`Output::Timeout`]: socket requests (a bind comes before anything sent from the
//! socket), resolve requests, stream requests (a connect before its sends), datagrams to
//! transmit, events, received application datagrams, then the deadline. Drain it after
//! every call that feeds the session (any `handle_*`, `send`, `restart`,
//! `network_changed`, `close`): each may produce output. Received datagrams are a
//! separate queue (bounded by [`SessionConfig::receive_queue`]; when full, new ones are
//! dropped and counted), so a pump can deliver data and events on different paths.
//! Data that arrives before the session reported [`SessionState::Connected`] is held
//! until that event has been polled.
//!
//! # Lifecycle
//!
//! `new` emits the first [`Signal`] (credentials) at once. Gathering starts when the
//! pump reports sockets — through [`Input::LocalAddresses`] (the session asks for binds)
//! or [`Input::SocketBound`] (sockets the pump owns) — and every server name is
//! resolved. `close` deletes TURN allocations (over UDP and streams) and port mappings,
//! reports [`SessionState::Closed`], and leaves nothing more to poll but those transmits,
//! stream requests and the mappers' deadlines; once [`Session::is_finished`] the pump
//! drops its sockets.
//!
//! # Errors and panics
//!
//! API misuse returns a [`SessionError`] that says what to do. Input from the network
//! (datagrams, stream bytes, the peer's signaling strings) never panics: malformed
//! datagrams are dropped and counted ([`SessionStats`]), malformed signaling is an
//! error value for the caller to log. Nothing in this module panics on any input; a
//! panic would be a bug, and the FFI layer turns it into an error code.

mod agent_events;
mod api;
mod config;
mod error;
mod events;
mod inbox;
mod input;
mod keepalive;
mod nat;
mod nat64;
mod network;
mod network_change;
mod portmap;
mod resolve;
mod signal;
mod sockets;
mod stats;
mod streams;
mod traversal;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod traversal_tests;

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use rand::RngCore;

pub use config::{ConfigError, RelayPolicy, SessionConfig, TurnServer};
pub use error::SessionError;
pub use events::{
    Event, Output, PathEnd, PathInfo, PathKind, ResolveRequest, SessionState, SocketRequest,
    StreamId, StreamRequest,
};
pub use input::Input;
pub use keepalive::KeepaliveStats;
pub use network::{NetworkHint, NetworkKind};
pub use network_change::NetworkPolicy;
pub use portmap::{PortMapPolicy, PortMapState, PORTMAP_STREAM_BIT};
pub use signal::{Role, Signal, SignalCredentials, SignalError};
pub use stats::SessionStats;

use crate::ice::{IceAgent, IceConfig, Input as IceInput, RelayServer, TransportPolicy};
use crate::turn::{TransportKind, TurnError};
use inbox::Inbox;
use nat::{NatWatch, PunchSockets};
use portmap::PortMaps;
use resolve::{Purpose, Resolver};
use sockets::Sockets;
use streams::Streams;

/// The largest application datagram `send` accepts (a UDP payload over IPv4, minus
/// what a TURN Send indication adds).
pub const MAX_DATAGRAM: usize = 65_507 - 36;

/// Counters the session keeps besides the agent's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    pub(crate) datagrams_sent: u64,
    pub(crate) bytes_sent: u64,
    pub(crate) datagrams_received: u64,
    pub(crate) bytes_received: u64,
    pub(crate) receive_queue_drops: u64,
    pub(crate) signals_ignored: u64,
    pub(crate) restarts: u64,
}

/// A configured TURN server after resolution.
struct TurnEntry {
    url: String,
    addr: SocketAddr,
    transport: TransportKind,
}

/// See the module docs.
pub struct Session {
    config: SessionConfig,
    agent: IceAgent,
    inbox: Inbox,
    resolver: Resolver,
    started: bool,
    sockets: Sockets,
    streams: Streams,
    turn: Vec<TurnEntry>,
    /// NAT64 prefixes (IPv6-only host), first preferred.
    nat64: Vec<crate::nat::Nat64Prefix>,
    /// The peer's IPv4 candidates of this generation (NAT64 twins when a prefix comes).
    remote_v4: Vec<crate::ice::Candidate>,
    /// Servers as resolved (before NAT64 synthesis).
    stun_resolved: Vec<SocketAddr>,
    relays_resolved: Vec<RelayServer>,
    /// Configured STUN servers (host, port) waiting for their names to resolve.
    stun_pending: Vec<(String, u16)>,
    /// Configured TURN servers waiting for their names to resolve.
    turn_pending: Vec<(crate::turn::TurnUrl, TurnServer)>,
    /// TURN servers whose names did not resolve (they count as failed relays).
    turn_unresolved: usize,
    events: VecDeque<Event>,
    datagrams: VecDeque<Vec<u8>>,
    early: VecDeque<Vec<u8>>,
    state: SessionState,
    /// `Connected` was polled at least once (received data is held until then).
    connected_polled: bool,
    /// Sticky failure not reported by the agent (relay-only with every relay gone).
    failed: bool,
    path: Option<PathInfo>,
    role_decided: bool,
    network: network_change::NetworkState,
    keepalive: keepalive::KeepaliveState,
    /// Candidates signaled since the last end-of-candidates of this generation.
    candidates_since_eoc: usize,
    eoc_sent: bool,
    restart_by_us: bool,
    now: Instant,
    closed: bool,
    counters: Counters,
    /// Port mappers, one per mapped socket.
    portmaps: PortMaps,
    /// Our NAT behaviour (discovery) and what was signaled of it.
    nat: NatWatch,
    nat_signaled: Option<crate::ice::NatBehaviour>,
    /// Sockets of a hard-NAT punch.
    punch_sockets: PunchSockets,
    /// When the session was created (for statistics).
    created: Instant,
}

impl Session {
    /// A session with this configuration; its first signaling message (credentials) is
    /// ready to poll at once.
    pub fn new(
        config: SessionConfig,
        now: Instant,
        rng: impl RngCore + Send + 'static,
    ) -> Result<Self, ConfigError> {
        let servers = config.validate()?;
        let ice = IceConfig {
            controlling: config.role != Role::Controlled,
            transport_policy: match config.relay_policy {
                RelayPolicy::RelayOnly => TransportPolicy::Relay,
                _ => TransportPolicy::All,
            },
            include_loopback: config.bind.iter().any(|ip| ip.is_loopback()),
            include_link_local: config.include_link_local,
            stun_servers: Vec::new(),
            turn_servers: Vec::new(),
            punch: config.hard_nat,
            ..config.ice.clone()
        };
        let mut rng = rng;
        let keepalive = keepalive::KeepaliveState::new(config.keepalive, rng.next_u64());
        let mut agent = IceAgent::new(ice, rng);
        let portmaps = PortMaps::new(config.port_mapping, agent.fork_rng());
        let nat = NatWatch::new(config.hard_nat.enabled, agent.fork_rng());
        let mut names: Vec<(Purpose, String, u16)> = Vec::new();
        for (i, (host, port)) in servers.stun.iter().enumerate() {
            names.push((Purpose::Stun(i), host.clone(), *port));
        }
        for (i, (url, _)) in servers.turn.iter().enumerate() {
            names.push((Purpose::Turn(i), url.host.clone(), url.port));
        }
        let resolver = Resolver::new(now, config.dns_timeout, names);
        let mut s = Session {
            stun_pending: servers.stun,
            config,
            agent,
            inbox: Inbox::default(),
            resolver,
            started: false,
            sockets: Sockets::default(),
            streams: Streams::default(),
            turn: Vec::new(),
            nat64: Vec::new(),
            remote_v4: Vec::new(),
            stun_resolved: Vec::new(),
            relays_resolved: Vec::new(),
            turn_pending: servers.turn,
            turn_unresolved: 0,
            events: VecDeque::new(),
            datagrams: VecDeque::new(),
            early: VecDeque::new(),
            state: SessionState::New,
            connected_polled: false,
            failed: false,
            path: None,
            role_decided: false,
            network: Default::default(),
            keepalive,
            candidates_since_eoc: 0,
            eoc_sent: false,
            restart_by_us: false,
            now,
            closed: false,
            counters: Counters::default(),
            portmaps,
            nat,
            nat_signaled: None,
            punch_sockets: PunchSockets::default(),
            created: now,
        };
        let creds = s.agent.local_credentials().clone();
        s.events
            .push_back(Event::Signal(s.credentials_signal(creds)));
        for ip in s.config.bind.clone() {
            s.sockets.bind(ip, s.config.port);
        }
        s.maybe_start(now);
        Ok(s)
    }
}

impl Session {
    /// The next thing to do (see the module docs for the order). Call until it returns
    /// [`Output::Timeout`].
    #[must_use = "every output must be acted on"]
    pub fn poll_output(&mut self) -> Output {
        // Two passes: sending a relayed datagram in the first can hand bytes to a TURN
        // stream, which the second picks up.
        for _ in 0..2 {
            self.process_agent();
            self.process_nat();
            if let Some(r) = self.sockets.poll().or_else(|| self.punch_sockets.poll()) {
                return Output::Socket(r);
            }
            if let Some(r) = self.keepalive.poll_request() {
                return Output::Socket(r);
            }
            if let Some(r) = self.resolver.poll() {
                return Output::Resolve(r);
            }
            if let Some(r) = self.streams.poll().or_else(|| self.portmaps.poll_stream()) {
                return Output::Stream(r);
            }
            if let Some(t) = self.agent.poll_transmit() {
                self.keepalive_wakeup(self.now);
                return Output::Transmit(t);
            }
            if let Some(t) = self.keepalive.poll_transmit() {
                self.keepalive_sending(self.now);
                return Output::Transmit(t);
            }
            if let Some(t) = self.portmaps.poll_transmit() {
                return Output::Transmit(t);
            }
            if let Some(t) = self.nat.poll_transmit().filter(|_| !self.closed) {
                return Output::Transmit(t);
            }
            if let Some(e) = self.events.pop_front() {
                if e == Event::StateChanged(SessionState::Connected) {
                    self.connected_polled = true;
                }
                return Output::Event(e);
            }
            if self.connected_polled {
                if let Some(d) = self.datagrams.pop_front() {
                    return Output::Datagram(d);
                }
            }
        }
        Output::Timeout(self.poll_timeout())
    }

    /// When [`Session::handle_timeout`] is due (also the value of [`Output::Timeout`]).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let (a, n) = if self.closed {
            (None, None)
        } else {
            (self.agent.poll_timeout(), self.nat.poll_timeout())
        };
        let k = (!self.closed && !self.network.background)
            .then(|| self.keepalive.poll_timeout())
            .flatten();
        [
            self.resolver.poll_timeout(),
            a,
            n,
            self.network_timeout(),
            k,
            self.portmaps.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Time passed: runs what is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        if !self.started {
            self.resolver.handle_timeout(now);
            self.maybe_start(now);
        }
        self.portmaps.handle_timeout(now);
        if !self.closed {
            self.nat.handle_timeout(now);
            self.agent.handle_timeout(now);
            self.run_network(now);
            if !self.network.background {
                self.keepalive_timeout(now);
            }
        }
    }

    /// The addresses to have sockets on (usable ones of `addrs`).
    fn set_local_addresses(&mut self, now: Instant, addrs: &[IpAddr]) {
        let wanted = sockets::usable(&self.config, addrs);
        self.sockets.want(&wanted, self.config.port);
        self.retire_sockets(now);
    }

    /// Feeds what the pump observed.
    pub fn handle_input(&mut self, now: Instant, input: Input<'_>) {
        self.now = now;
        match input {
            Input::Datagram { local, from, data } => {
                if self.keepalive.owns(local) {
                    self.keepalive_datagram(now, local, from, data);
                    return;
                }
                if self.portmaps.handle_datagram(now, local, from, data)
                    || self.nat.handle_datagram(now, local, from, data)
                {
                    return;
                }
                let _ = self
                    .agent
                    .handle_input(now, IceInput::Receive { local, from, data });
            }
            Input::Gateway(gateway) => {
                if !self.closed {
                    self.set_gateway(now, gateway);
                }
            }
            Input::LocalAddresses(addrs) => {
                if !self.closed {
                    self.set_local_addresses(now, addrs);
                }
            }
            Input::Network(snapshot) => {
                if !self.closed {
                    self.set_gateway(now, snapshot.default_gateway_v4());
                    self.on_snapshot(now, snapshot);
                }
            }
            Input::SocketBound { addr } => {
                if self.closed {
                    return;
                }
                if self.is_punch_bind(addr.ip()) {
                    self.punch_sockets.bound(addr);
                    self.agent.add_punch_socket(now, addr);
                    return;
                }
                if self.keepalive.expects(addr.ip()) && !self.sockets.expects(addr.ip()) {
                    self.keepalive_bound(now, addr);
                    return;
                }
                if self.sockets.bound(addr) && self.started {
                    self.add_socket(now, addr);
                }
                self.retire_sockets(now);
            }
            Input::SocketFailed { ip, reason } => {
                if self.is_punch_bind(ip) {
                    log::debug!("session: punch socket on {ip}: {reason}");
                    self.punch_sockets.failed(ip);
                    self.agent.punch_socket_failed();
                    return;
                }
                if self.keepalive.expects(ip) && !self.sockets.expects(ip) {
                    self.keepalive_socket_lost(ip, reason);
                    return;
                }
                log::warn!("session: cannot bind a UDP socket on {ip}: {reason}");
                self.sockets.failed(ip);
                self.retire_sockets(now);
            }
            Input::SocketClosed { addr } => {
                if self.keepalive.owns(addr) {
                    self.keepalive_socket_lost(addr.ip(), "the pump closed it");
                    return;
                }
                if self.punch_sockets.closed(addr) {
                    self.agent.remove_punch_socket(addr);
                    let _ = self.agent.remove_local_socket(now, addr);
                } else if self.sockets.closed(addr) && self.started && !self.closed {
                    let _ = self.agent.remove_local_socket(now, addr);
                    self.socket_gone(addr);
                }
            }
            Input::Nat64(prefixes) => {
                if !self.closed {
                    self.on_nat64(now, prefixes);
                }
            }
            Input::Resolved { id, result } => {
                self.resolver.answer(id, result);
                self.maybe_start(now);
            }
            Input::StreamConnected { id, .. } if PortMaps::owns_stream(id) => {
                self.portmaps.stream_connected(now, id);
            }
            Input::StreamData { id, data } if PortMaps::owns_stream(id) => {
                self.portmaps.stream_data(now, id, data);
            }
            Input::StreamClosed { id, .. } if PortMaps::owns_stream(id) => {
                self.portmaps.stream_closed(now, id);
            }
            Input::StreamConnected { id, local } => {
                self.streams.connected(id, local);
            }
            Input::StreamData { id, data } => {
                if let Some(server) = self.streams.server(id) {
                    self.agent.handle_relay_stream_bytes(now, server, data);
                }
            }
            Input::StreamClosed { id, reason } => {
                if let Some(server) = self.streams.closed(id) {
                    self.agent.handle_relay_stream_closed(now, server, reason);
                }
            }
        }
    }

    /// The current connection state.
    pub fn state(&self) -> SessionState {
        self.state
    }

    /// The path data takes now, if any.
    pub fn path(&self) -> Option<&PathInfo> {
        self.path.as_ref()
    }

    /// The role the session plays now.
    pub fn is_controlling(&self) -> bool {
        self.agent.is_controlling()
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The ICE agent (read-only: statistics, candidates, state for diagnostics).
    pub fn agent(&self) -> &IceAgent {
        &self.agent
    }

    /// The sockets the session uses now.
    pub fn sockets(&self) -> &[SocketAddr] {
        self.sockets.all()
    }

    /// Every name resolved (or given up): from here on sockets gather.
    fn maybe_start(&mut self, now: Instant) {
        if self.started || !self.resolver.done() {
            return;
        }
        self.started = true;
        let results: Vec<_> = self.resolver.results().collect();
        let mut stun = Vec::new();
        let mut relays = Vec::new();
        for (purpose, result) in results {
            match (purpose, result) {
                (Purpose::Stun(_), Ok(addrs)) => stun.extend(addrs),
                (Purpose::Stun(i), Err(e)) => {
                    log::warn!(
                        "session: STUN server {:?} left out: {e}",
                        self.stun_pending.get(i).map(|s| &s.0)
                    );
                }
                (Purpose::Turn(i), Ok(addrs)) => {
                    let (url, server) = &self.turn_pending[i];
                    for addr in addrs {
                        if url.transport == TransportKind::Tls {
                            self.streams.set_name(addr, url.host.clone());
                        }
                        self.turn.push(TurnEntry {
                            url: server.url.clone(),
                            addr,
                            transport: url.transport,
                        });
                        relays.push(RelayServer {
                            addr,
                            transport: url.transport,
                            credentials: crate::stun::Credentials::new(
                                &server.username,
                                &server.password,
                            ),
                        });
                    }
                }
                (Purpose::Turn(i), Err(reason)) => {
                    let (url, server) = &self.turn_pending[i];
                    self.turn_unresolved += 1;
                    self.events.push_back(Event::RelayFailed {
                        server: server.url.clone(),
                        transport: url.transport,
                        error: TurnError::Resolve {
                            host: url.host.clone(),
                            reason,
                        },
                    });
                }
            }
        }
        self.stun_resolved = stun.clone();
        self.relays_resolved = relays.clone();
        let (synth_stun, synth_turn) = self.synthesized_servers(&stun, &relays);
        let config = self.agent.config_mut();
        config.stun_servers = stun.into_iter().chain(synth_stun).collect();
        config.turn_servers = relays.into_iter().chain(synth_turn).collect();
        for addr in self.sockets.all().to_vec() {
            self.add_socket(now, addr);
        }
        self.check_relay_only(now);
    }

    fn add_socket(&mut self, now: Instant, addr: SocketAddr) {
        if let Err(e) = self
            .agent
            .add_local_socket(now, addr, self.network.hint.kind.cost())
        {
            log::debug!("session: socket {addr}: {e}");
        }
        self.portmaps.add_socket(now, addr);
        self.start_nat_discovery(now);
        if self.state == SessionState::New {
            self.set_state(SessionState::Checking);
        }
    }

    /// Closes the sockets (and TURN streams) of vanished addresses once the new ones are
    /// bound, then judges the change (see `network_change`).
    fn retire_sockets(&mut self, now: Instant) {
        let had_path = self.path_works();
        let gone = self.sockets.take_retired();
        if self.started {
            for addr in &gone {
                let _ = self.agent.remove_local_socket(now, *addr);
            }
        }
        for addr in &gone {
            self.socket_gone(*addr);
        }
        if !gone.is_empty() {
            let alive: Vec<IpAddr> = self.sockets.all().iter().map(|a| a.ip()).collect();
            for server in self.streams.close_unless_local_in(&alive) {
                self.agent
                    .handle_relay_stream_closed(now, server, "the local address went away");
            }
        }
        if self.started {
            self.after_socket_change(now, had_path, !gone.is_empty());
            self.run_network(now);
        }
    }

    fn credentials_signal(&self, credentials: crate::ice::IceCredentials) -> Signal {
        Signal::Credentials(SignalCredentials {
            credentials,
            options: self.agent.local_ice_options(),
            role: Some(self.config.role),
            tie_breaker: Some(self.agent.tie_breaker()),
        })
    }

    fn set_state(&mut self, s: SessionState) {
        if self.state != s && (self.state != SessionState::Closed) {
            log::debug!("session: state {:?} -> {:?}", self.state, s);
            self.state = s;
            self.events.push_back(Event::StateChanged(s));
        }
    }
}
