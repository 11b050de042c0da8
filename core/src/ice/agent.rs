//! The RFC 8445 ICE agent as a sans-IO state machine: one data stream, one
//! component, UDP.
//!
//! How to drive it and what a generation is: see [`IceAgent`].
//!
//! Nomination policy: see [`super::nominate`].

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::RngCore;

use super::candidate::{Candidate, CandidateType};
pub(super) use super::config::{IceConfig, IceError, NominationMode, RENOMINATION_OPTION};
pub(super) use super::generation::{CheckKind, Generation, LocalSocket, PairKey, TxContext};
use super::sdp::IceCredentials;
use super::stats::Counters;
use crate::stun::transaction::{RequestTransmit, Transactions};

/// Something the agent was told: a datagram or a signaling message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input<'a> {
    /// A datagram arrived on local socket `local` from `from`.
    Receive {
        /// The local socket (as given to `add_local_socket`).
        local: SocketAddr,
        /// The sender.
        from: SocketAddr,
        /// The bytes.
        data: &'a [u8],
    },
    /// The peer's ufrag and password. Different ones while the agent already
    /// has remote credentials mean the peer restarted ICE: the agent restarts
    /// too (and emits its new [`IceEvent::LocalCredentials`]).
    RemoteCredentials(IceCredentials),
    /// The peer's `ice-options` tags (e.g. `trickle`, `renomination`) and
    /// whether it is an ICE-lite agent (then this agent is controlling).
    RemoteOptions {
        /// `ice-options` tags.
        options: Vec<String>,
        /// `a=ice-lite`.
        lite: bool,
    },
    /// A remote candidate, trickled or from the offer/answer.
    RemoteCandidate(Candidate),
    /// The peer signalled end-of-candidates.
    RemoteEndOfCandidates,
}

pub(super) use crate::Transmit;

/// Candidate gathering state (RFC 8838 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GatheringState {
    /// No socket added yet.
    New,
    /// Server-reflexive requests outstanding.
    Gathering,
    /// Everything gathered: signal end-of-candidates.
    Complete,
}

/// Connection state (like `RTCIceConnectionState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionState {
    /// Nothing checked yet.
    New,
    /// Checks running, no pair selected.
    Checking,
    /// A pair is selected; data may flow.
    Connected,
    /// Selected, and no better pair can still appear (both sides ended
    /// candidates, nothing better pending).
    Completed,
    /// The selected pair went silent (no inbound packet for
    /// `disconnected_timeout`); may recover by itself.
    Disconnected,
    /// Consent lost with no other valid pair, or every pair failed after
    /// end-of-candidates. Call `restart` to try again.
    Failed,
    /// `close` was called.
    Closed,
}

/// Direct or through a TURN relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    /// Neither candidate is relayed.
    Direct,
    /// At least one candidate is relayed.
    Relay,
}

/// The selected pair as reported to the application.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SelectedPair {
    /// Local candidate (host, srflx or prflx as the peer sees it).
    pub local: Candidate,
    /// Remote candidate (the signalled one once it arrived, else peer-reflexive).
    pub remote: Candidate,
    /// Local socket data is sent from.
    pub local_socket: SocketAddr,
    /// Remote address data is sent to.
    pub remote_addr: SocketAddr,
    /// Direct or through a TURN relay.
    pub path: PathKind,
    /// Last measured round-trip time on the pair.
    pub rtt: Option<Duration>,
}

/// What the application must know.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // rare events; boxing would burden every caller
#[non_exhaustive]
pub enum IceEvent {
    /// A local candidate to signal (trickle).
    LocalCandidate(Candidate),
    /// New local credentials to signal (after `restart`, or a restart the peer started).
    LocalCredentials(IceCredentials),
    /// Gathering state; `Complete` means: signal end-of-candidates.
    GatheringStateChanged(GatheringState),
    /// The connection state changed (never reported twice in a row).
    ConnectionStateChanged(ConnectionState),
    /// A (new) pair carries data from now on.
    SelectedPair(SelectedPair),
    /// The controlling/controlled role changed after a role conflict.
    RoleChanged {
        /// The new role.
        controlling: bool,
    },
    /// A TURN server gave no relayed candidate (unreachable, wrong
    /// credentials, quota…) or lost its allocation; other candidates are
    /// unaffected. `error` says what to fix.
    RelayFailed {
        /// The configured server.
        server: SocketAddr,
        /// How it was reached.
        transport: crate::turn::TransportKind,
        /// Why.
        error: crate::turn::TurnError,
    },
    /// Application data received on an authenticated path (on a relayed
    /// path `local` is our relayed address and `from` the peer's address as
    /// the TURN server saw it).
    Data {
        /// The local socket.
        local: SocketAddr,
        /// The sender.
        from: SocketAddr,
        /// The datagram.
        data: Vec<u8>,
    },
}

/// Inbound requests counted in the current one-second window, per budget.
#[derive(Default)]
pub(super) struct RateWindow {
    pub(super) start: Option<Instant>,
    pub(super) authenticated: u32,
    pub(super) unauthenticated: u32,
}

/// The ICE agent (RFC 8445): one data stream, one component, UDP; TURN
/// relayed candidates over UDP, TCP or TLS.
///
/// # Driving it
///
/// The runtime owns the sockets and the clock; the agent owns every protocol
/// decision. One socket carries STUN and application data.
///
/// ```text
/// let mut agent = IceAgent::new(IceConfig::default(), StdRng::from_entropy());
/// signal(agent.local_credentials());                    // ufrag/pwd to the peer
/// agent.add_local_socket(now, "192.168.1.20:5000".parse()?, NetworkCost::WIFI)?;
/// loop {
///     // signaling in:  agent.handle_input(now, Input::RemoteCredentials(c))
///     //                agent.handle_input(now, Input::RemoteCandidate(c))
///     //                agent.handle_input(now, Input::RemoteEndOfCandidates)
///     // datagram in:   agent.handle_input(now, Input::Receive { local, from, data })
///     // timer:         agent.handle_timeout(now)
///     while let Some(t) = agent.poll_transmit() { socket(t.from).send_to(&t.bytes, t.to) }
///     while let Some(e) = agent.poll_event() { /* IceEvent: signal candidates, data… */ }
///     sleep_until(agent.poll_timeout());
/// }
/// ```
///
/// Every call that takes `now` also runs the timers that are due, so the
/// runtime only has to call `handle_timeout` when `poll_timeout` says so.
///
/// # Generations (ICE restart, make-before-break)
///
/// Credentials, checklist, valid pairs and the selected pair form a
/// *generation*. [`IceAgent::restart`] (or new remote credentials while the
/// current generation already has some) starts a new one; the previous
/// generation keeps its selected pair, answers checks with its old
/// credentials and keeps consent alive until the new generation selects a
/// pair. Data sent meanwhile goes over the old pair, so a restart never
/// interrupts the flow.
///
/// # Relayed candidates
///
/// UDP TURN servers are reached through the agent's own sockets: their traffic
/// is ordinary [`Transmit`]s and `Input::Receive`s. TCP and TLS servers need one
/// stream per server, which the runtime owns: see
/// [`IceAgent::poll_relay_stream_transmit`].
pub struct IceAgent {
    pub(super) config: IceConfig,
    pub(super) rng: Box<dyn RngCore + Send>,
    pub(super) controlling: bool,
    pub(super) tie_breaker: u64,
    pub(super) sockets: Vec<LocalSocket>,
    /// Sockets added so far, per family (`[IPv6, IPv4]`), for local preferences.
    pub(super) socket_seq: [u16; 2],
    pub(super) current: Generation,
    pub(super) previous: Option<Generation>,
    pub(super) next_gen: u32,
    pub(super) transactions: Transactions<TxContext>,
    pub(super) outbox: VecDeque<Transmit>,
    pub(super) events: VecDeque<IceEvent>,
    pub(super) next_check_at: Option<Instant>,
    pub(super) state: ConnectionState,
    pub(super) gathering_state: GatheringState,
    pub(super) peer_renomination: bool,
    pub(super) remote_lite: bool,
    /// Authenticated (local, remote) tuples and when a packet last arrived on them.
    pub(super) peers: HashMap<(SocketAddr, SocketAddr), Instant>,
    /// When a packet last left on each (local, remote) tuple (any packet counts as a
    /// keepalive, see [`super::keepalive`]).
    pub(super) last_out: HashMap<(SocketAddr, SocketAddr), Instant>,
    /// The latest `now` the agent was given.
    pub(super) now: Option<Instant>,
    /// The instant of the last radio wake-up that was coalesced.
    pub(super) woke_at: Option<Instant>,
    /// Application data waiting for consent to be refreshed (see [`super::consent`]).
    pub(super) held: VecDeque<Vec<u8>>,
    pub(super) counters: Counters,
    /// Inbound request rate limiting (see `rate_ok` in checks.rs).
    pub(super) rate_window: RateWindow,
    pub(super) closed: bool,
    /// Sticky `Failed` until a restart.
    pub(super) failed: bool,
    /// In the background: no consent checks, no liveness verdicts (see
    /// [`IceAgent::set_background`]).
    pub(super) background: bool,
    /// TURN allocations (see [`super::relay`]).
    pub(super) relays: super::relay::Relays,
    /// Remote credentials and candidates across restarts (see [`super::signaling`]).
    pub(super) signaling: super::signaling::RemoteSignaling,
    /// Port mappings of local sockets (see [`super::portmap`]).
    pub(super) portmap: super::portmap::Mapped,
    /// Hard-NAT punching (see [`super::punch`]).
    pub(super) punch: super::punch::Punch,
}

impl IceAgent {
    /// A new agent with fresh random credentials and tie-breaker from `rng`.
    pub fn new(config: IceConfig, rng: impl RngCore + Send + 'static) -> Self {
        let mut rng: Box<dyn RngCore + Send> = Box::new(rng);
        let creds = IceCredentials::random(&mut *rng);
        let tie_breaker = rng.next_u64();
        let controlling = config.controlling;
        let current = Generation::new(0, creds, controlling, config.checklist);
        IceAgent {
            config,
            rng,
            controlling,
            tie_breaker,
            sockets: Vec::new(),
            socket_seq: [0; 2],
            current,
            previous: None,
            next_gen: 1,
            transactions: Transactions::new(),
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            next_check_at: None,
            state: ConnectionState::New,
            gathering_state: GatheringState::New,
            peer_renomination: false,
            remote_lite: false,
            peers: HashMap::new(),
            last_out: HashMap::new(),
            now: None,
            woke_at: None,
            held: VecDeque::new(),
            counters: Counters::default(),
            rate_window: RateWindow::default(),
            closed: false,
            failed: false,
            background: false,
            relays: Default::default(),
            signaling: Default::default(),
            portmap: Default::default(),
            punch: Default::default(),
        }
    }

    /// The current local credentials, to signal to the peer.
    pub fn local_credentials(&self) -> &IceCredentials {
        &self.current.local
    }

    /// The `ice-options` tags to signal: `trickle`, and `renomination` when enabled.
    pub fn local_ice_options(&self) -> Vec<String> {
        let mut v = vec!["trickle".to_owned()];
        if self.config.renomination {
            v.push(RENOMINATION_OPTION.to_owned());
        }
        v
    }

    /// The agent's ICE tie-breaker (RFC 8445 §7.3.1.1), fixed for its lifetime.
    pub(crate) fn tie_breaker(&self) -> u64 {
        self.tie_breaker
    }

    /// The configuration the agent was created with.
    pub fn config(&self) -> &IceConfig {
        &self.config
    }

    /// The configuration, for a session that fills in resolved servers before adding
    /// sockets (servers are read when a socket is added).
    pub(crate) fn config_mut(&mut self) -> &mut IceConfig {
        &mut self.config
    }

    /// Whether the agent is controlling now (the configured role, changed by a role
    /// conflict or a lite peer; see [`IceEvent::RoleChanged`]).
    pub fn is_controlling(&self) -> bool {
        self.controlling
    }

    /// The connection state now (also reported as
    /// [`IceEvent::ConnectionStateChanged`]).
    pub fn connection_state(&self) -> ConnectionState {
        self.state
    }

    /// The gathering state now (also reported as [`IceEvent::GatheringStateChanged`]).
    pub fn gathering_state(&self) -> GatheringState {
        self.gathering_state
    }

    /// The pair data is sent on, if any.
    pub fn selected_pair(&self) -> Option<SelectedPair> {
        self.sending_generation()
            .and_then(|g| g.selected.map(|k| self.describe(g, k)))
    }

    /// Feeds a datagram or a signaling message.
    pub fn handle_input(&mut self, now: Instant, input: Input<'_>) -> Result<(), IceError> {
        if self.closed {
            return match input {
                Input::Receive { .. } => Ok(()),
                _ => Err(IceError::Closed),
            };
        }
        let r = match input {
            Input::Receive { local, from, data } => {
                self.handle_receive(now, local, from, data);
                Ok(())
            }
            Input::RemoteCredentials(c) => {
                self.set_remote_credentials(now, c);
                Ok(())
            }
            Input::RemoteOptions { options, lite } => {
                self.peer_renomination = self.config.renomination
                    && options
                        .iter()
                        .any(|o| o.eq_ignore_ascii_case(RENOMINATION_OPTION));
                self.remote_lite = lite;
                if lite && !self.controlling {
                    // RFC 8445 §6.1.1: a full agent facing a lite one is controlling.
                    self.set_role(true);
                }
                Ok(())
            }
            Input::RemoteCandidate(c) => self.add_remote_candidate(c),
            Input::RemoteEndOfCandidates => {
                self.current.remote_eoc = true;
                Ok(())
            }
        };
        self.drive(now);
        r
    }

    /// Time passed: run due timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        if !self.closed {
            self.drive(now);
        }
    }

    /// The next datagram to send: checks, responses, consent, application data
    /// and TURN traffic to UDP relay servers. What is sent from a relayed
    /// address leaves as TURN traffic (a Send indication or ChannelData) to the
    /// server, from the local socket the allocation was made on. The first transmit
    /// of an instant is a radio wake-up: whatever would need a wake-up of its own soon
    /// (a keepalive due within a quarter interval, TURN refreshes due before the next
    /// keepalive) is sent with it.
    #[must_use = "a polled datagram is gone from the queue: send it"]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        loop {
            let t = if let Some(t) = self.outbox.pop_front() {
                t
            } else if let Some(t) = self.transactions.poll_transmit() {
                match self.account_transmit(t) {
                    Some(t) => t,
                    None => continue,
                }
            } else {
                let t = self.relay_poll_transmit();
                if let (Some(_), Some(now)) = (&t, self.now) {
                    self.coalesce(now);
                }
                return t;
            };
            self.note_sent(t.from, t.to);
            if let Some(t) = self.relay_wrap(t) {
                return Some(t);
            }
        }
    }

    /// Resolves the source socket of a transaction's datagram and counts it;
    /// `None` when that socket was removed meanwhile.
    fn account_transmit(&mut self, t: RequestTransmit) -> Option<Transmit> {
        let from = match self.transactions.context(&t.id)? {
            TxContext::Gather { socket, .. } => *socket,
            TxContext::Check {
                gen, pair, from, ..
            } => {
                let (gen, pair, from) = (*gen, *pair, *from);
                if let Some(g) = self.generation_mut(gen) {
                    let d = g.pair_data(pair);
                    d.requests_sent += 1;
                    d.bytes_sent += t.bytes.len() as u64;
                }
                from
            }
        };
        if !self.sockets.iter().any(|s| s.addr == from) {
            return None;
        }
        Some(Transmit {
            from,
            to: t.to,
            bytes: t.bytes,
        })
    }

    /// The next event.
    #[must_use = "a polled event is gone from the queue: handle it"]
    pub fn poll_event(&mut self) -> Option<IceEvent> {
        loop {
            let e = self.events.pop_front()?;
            // Sockets added in one batch each move gathering on; a queued state that a
            // later change already superseded is stale, and reporting a stale `Complete`
            // would make the app signal end-of-candidates before the later candidates.
            let superseded = matches!(e, IceEvent::GatheringStateChanged(_))
                && self
                    .events
                    .iter()
                    .any(|later| matches!(later, IceEvent::GatheringStateChanged(_)));
            if !superseded {
                return Some(e);
            }
        }
    }

    /// When `handle_timeout` must next be called.
    #[must_use = "the deadline says when to call handle_timeout next"]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        let mut t = self.transactions.poll_timeout();
        let mut min = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t: Instant| t.min(x)));
            }
        };
        min(self.relay_poll_timeout());
        min(self.recovery_probe_timeout());
        min(self.punch_timeout());
        if self.has_check_work() {
            min(self.next_check_at);
        }
        for g in std::iter::once(&self.current).chain(self.previous.as_ref()) {
            min(g.nomination_deadline);
            min(self.liveness_due(g).map(|(t, _)| t));
            if !self.background {
                min(self.consent_lost_at(g));
            }
            if let Some(k) = g.selected {
                min(self.silence_deadline(g, k));
            }
        }
        t
    }

    /// Sends application data on the selected pair. While consent is not fresh (an idle
    /// pair whose keepalives are further apart than the consent timeout) the data waits
    /// for a consent check's answer, one round trip, and then leaves in order (see
    /// [`IceConfig::consent_timeout`]); `Ok` either way.
    pub fn send_data(&mut self, now: Instant, data: &[u8]) -> Result<(), IceError> {
        if self.closed {
            return Err(IceError::Closed);
        }
        let first = *data.first().ok_or(IceError::EmptyData)?;
        if first <= 3 {
            return Err(IceError::AmbiguousData(first));
        }
        self.now = Some(self.now.map_or(now, |n| n.max(now)));
        let g = self.sending_generation().ok_or(IceError::NotConnected)?;
        if !Self::consent_fresh(g, now) {
            self.hold(now, data);
            return Ok(());
        }
        let g = self
            .sending_generation_mut()
            .ok_or(IceError::NotConnected)?;
        let key = g.selected.ok_or(IceError::NotConnected)?;
        let (from, to) = g.tuple(key);
        g.pair_data(key).bytes_sent += data.len() as u64;
        g.liveness.data_since_check = true;
        self.outbox.push_back(Transmit {
            from,
            to,
            bytes: data.to_vec(),
        });
        Ok(())
    }

    /// Datagrams waiting for consent to be refreshed (see [`IceConfig::consent_timeout`]).
    pub fn held_datagrams(&self) -> usize {
        self.held.len()
    }

    /// Closes the agent: no more events or timers; the only transmits left
    /// are the TURN deallocations (Refresh with LIFETIME 0, sent once).
    pub fn close(&mut self) {
        if !self.closed {
            self.set_state(ConnectionState::Closed);
            self.closed = true;
            self.outbox.clear();
            self.held.clear();
            self.close_relays();
        }
    }

    /// ICE restart: new local credentials (emitted as [`IceEvent::LocalCredentials`]),
    /// a fresh checklist, regathering. The selected pair keeps carrying data
    /// until the new generation nominates one.
    pub fn restart(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        let creds = IceCredentials::random(&mut *self.rng);
        let id = self.next_gen;
        self.next_gen += 1;
        let fresh = Generation::new(id, creds.clone(), self.controlling, self.config.checklist);
        let old = std::mem::replace(&mut self.current, fresh);
        if let Some((remote, _)) = &old.remote {
            self.signaling.retire(remote.clone());
        }
        if old.selected.is_some() {
            self.previous = Some(old);
        } else if self.previous.is_none() {
            // Nothing selected in the old generation; nothing to keep.
        }
        self.next_check_at = None;
        self.failed = false;
        self.events.push_back(IceEvent::LocalCredentials(creds));
        let sockets: Vec<SocketAddr> = self.sockets.iter().map(|s| s.addr).collect();
        for s in sockets {
            self.gather_socket(now, s);
        }
        if matches!(self.state, ConnectionState::Failed) || self.previous.is_none() {
            self.set_state(ConnectionState::Checking);
        }
        self.drive(now);
    }

    /// Runs every due timer and the state machine.
    pub(super) fn drive(&mut self, now: Instant) {
        self.now = Some(self.now.map_or(now, |n| n.max(now)));
        self.drive_relays(now);
        self.transactions.handle_timeout(now);
        while let Some(t) = self.transactions.poll_timed_out() {
            self.on_timed_out(now, t.id, t.context);
        }
        self.run_consent(now);
        self.run_nomination(now);
        self.run_pacer(now);
        self.run_recovery_probes(now);
        self.run_punch(now);
        self.update_gathering_state();
        let before = self.state;
        self.update_connection_state(now);
        if self.state == ConnectionState::Disconnected && before != self.state {
            // Judged silent just now (a check went unanswered): a pair the peer was
            // heard on since may take over at once rather than at the next timer.
            self.run_nomination(now);
            self.update_connection_state(now);
        }
    }

    pub(super) fn set_state(&mut self, s: ConnectionState) {
        if self.state != s {
            log::debug!("ice: connection state {:?} -> {:?}", self.state, s);
            self.state = s;
            self.events.push_back(IceEvent::ConnectionStateChanged(s));
        }
    }

    pub(crate) fn set_role(&mut self, controlling: bool) {
        if self.controlling == controlling {
            return;
        }
        self.controlling = controlling;
        self.current.checklist.set_controlling(controlling);
        if let Some(p) = &mut self.previous {
            p.checklist.set_controlling(controlling);
        }
        self.events.push_back(IceEvent::RoleChanged { controlling });
    }

    pub(super) fn generation(&self, id: u32) -> Option<&Generation> {
        if self.current.id == id {
            Some(&self.current)
        } else {
            self.previous.as_ref().filter(|p| p.id == id)
        }
    }

    pub(super) fn generation_mut(&mut self, id: u32) -> Option<&mut Generation> {
        if self.current.id == id {
            Some(&mut self.current)
        } else {
            self.previous.as_mut().filter(|p| p.id == id)
        }
    }

    /// The generation whose selected pair carries data: the current one once
    /// it selected, the previous one until then.
    pub(super) fn sending_generation(&self) -> Option<&Generation> {
        if self.current.selected.is_some() {
            Some(&self.current)
        } else {
            self.previous.as_ref().filter(|p| p.selected.is_some())
        }
    }

    fn sending_generation_mut(&mut self) -> Option<&mut Generation> {
        if self.current.selected.is_some() {
            Some(&mut self.current)
        } else {
            self.previous.as_mut().filter(|p| p.selected.is_some())
        }
    }

    /// The application-facing description of a pair.
    pub(super) fn describe(&self, g: &Generation, key: PairKey) -> SelectedPair {
        let (local_socket, remote_addr) = g.tuple(key);
        let mut local = g.checklist.local(key.0).candidate.clone();
        let remote = g.checklist.remote(key.1).clone();
        let d = g.data.get(&key);
        if let Some(mapped) = d.and_then(|d| d.mapped) {
            // The peer sees us at a reflexive address: report it as such.
            if mapped != local_socket && local.kind == CandidateType::Host {
                let srflx = g.checklist.locals().iter().find(|l| {
                    l.candidate.kind == CandidateType::ServerReflexive
                        && l.candidate.address.ip() == Some(mapped.ip())
                        && l.candidate.port == mapped.port()
                });
                local = match srflx {
                    Some(s) => s.candidate.clone(),
                    None => self.prflx_candidate(local_socket, mapped),
                };
            }
        }
        let relayed = local.kind == CandidateType::Relayed || remote.kind == CandidateType::Relayed;
        SelectedPair {
            local,
            remote,
            local_socket,
            remote_addr,
            path: if relayed {
                PathKind::Relay
            } else {
                PathKind::Direct
            },
            rtt: d.and_then(|d| d.rtt),
        }
    }

    /// Most recent inbound packet on a tuple.
    pub(super) fn last_inbound(&self, tuple: (SocketAddr, SocketAddr)) -> Option<Instant> {
        self.peers.get(&tuple).copied()
    }
}
