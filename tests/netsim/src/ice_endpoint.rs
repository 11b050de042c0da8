//! Pinhole's [`IceAgent`] as a netsim endpoint.
//!
//! The agent's sockets are the host's interface addresses at one port: every
//! `interfaces_changed` adds a socket for each new address **first** and only
//! then removes the sockets whose address went away (make-before-break, so
//! the agent can fall back to the new socket at once). Every event and every
//! application datagram is recorded with its virtual time (since the
//! endpoint was created); events the peer must see (candidates, credentials,
//! end-of-candidates) are also queued in an outbox for the scenario's
//! signaling channel ([`IceEndpoint::take_signals`]).
//!
//! ```ignore
//! let ep = IceEndpoint::new(net.now(), config, net.fork_rng(), 5000);
//! let a = net.attach_on_ports(peer.host, &[5000], ep); // gathers at once
//! net.endpoint_mut(a).signal(now, Input::RemoteCandidate(c));
//! ```

use crate::endpoint::{Datagram, Endpoint};
use pinhole::ice::{
    ConnectionState, GatheringState, IceAgent, IceConfig, IceError, IceEvent, Input, NetworkCost,
    SelectedPair,
};
use rand::RngCore;
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// A signaling message for the peer, as the application would send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// ufrag and pwd.
    Credentials(pinhole::ice::Credentials),
    /// `ice-options`.
    Options(Vec<String>),
    /// One trickled candidate.
    Candidate(pinhole::ice::Candidate),
    /// end-of-candidates.
    EndOfCandidates,
}

impl Signal {
    /// The agent input it becomes at the receiver.
    pub fn to_input(&self) -> Input<'static> {
        match self {
            Signal::Credentials(c) => Input::RemoteCredentials(c.clone()),
            Signal::Options(o) => Input::RemoteOptions {
                options: o.clone(),
                lite: false,
            },
            Signal::Candidate(c) => Input::RemoteCandidate(c.clone()),
            Signal::EndOfCandidates => Input::RemoteEndOfCandidates,
        }
    }
}

/// [`IceAgent`] on the host's addresses at one UDP port. Attach it with
/// `attach_on_ports(host, &[port])`.
pub struct IceEndpoint {
    agent: IceAgent,
    port: u16,
    cost: NetworkCost,
    sockets: Vec<SocketAddr>,
    start: Instant,
    /// Every event, with its virtual time since creation.
    pub events: Vec<(Duration, IceEvent)>,
    /// Every application datagram received: time, local socket, sender, bytes.
    pub data: Vec<(Duration, SocketAddr, SocketAddr, Vec<u8>)>,
    outbox: VecDeque<(Instant, Signal)>,
    /// Errors the agent returned to API calls made through this adapter.
    pub errors: Vec<IceError>,
}

impl IceEndpoint {
    /// A new agent on `port`; it gathers once attached (the host's
    /// addresses arrive through `interfaces_changed`).
    pub fn new(
        now: Instant,
        config: IceConfig,
        rng: impl RngCore + Send + 'static,
        port: u16,
    ) -> Self {
        IceEndpoint {
            agent: IceAgent::new(config, rng),
            port,
            cost: NetworkCost::WIFI,
            sockets: Vec::new(),
            start: now,
            events: Vec::new(),
            data: Vec::new(),
            outbox: VecDeque::new(),
            errors: Vec::new(),
        }
    }

    /// The agent (credentials, state, stats).
    pub fn agent(&self) -> &IceAgent {
        &self.agent
    }

    /// Mutable access (restart, close); call [`IceEndpoint::pump`] after.
    pub fn agent_mut(&mut self) -> &mut IceAgent {
        &mut self.agent
    }

    /// The sockets the agent currently has.
    pub fn sockets(&self) -> &[SocketAddr] {
        &self.sockets
    }

    /// Feeds one signaling message from the peer.
    pub fn signal(&mut self, now: Instant, s: &Signal) {
        if let Err(e) = self.agent.handle_input(now, s.to_input()) {
            self.errors.push(e);
        }
        self.pump(now);
    }

    /// Sends application data on the selected pair.
    pub fn send_data(&mut self, now: Instant, data: &[u8]) -> Result<(), IceError> {
        let r = self.agent.send_data(now, data);
        self.pump(now);
        r
    }

    /// Signaling messages emitted since the last call, with their time.
    pub fn take_signals(&mut self) -> Vec<(Instant, Signal)> {
        self.outbox.drain(..).collect()
    }

    /// Virtual time since creation.
    pub fn since_start(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.start)
    }

    /// First time (since creation) an event matching `f` was recorded.
    pub fn first_event(&self, f: impl Fn(&IceEvent) -> bool) -> Option<Duration> {
        self.events.iter().find(|(_, e)| f(e)).map(|(t, _)| *t)
    }

    /// When the agent first selected a pair.
    pub fn connected_at(&self) -> Option<Duration> {
        self.first_event(|e| matches!(e, IceEvent::SelectedPair(_)))
    }

    /// When the agent reported `Failed`, if it did.
    pub fn failed_at(&self) -> Option<Duration> {
        self.first_event(|e| matches!(e, IceEvent::ConnectionStateChanged(ConnectionState::Failed)))
    }

    /// The pair data is sent on now.
    pub fn selected(&self) -> Option<SelectedPair> {
        self.agent.selected_pair()
    }

    /// Moves the agent's events into the log and the signaling outbox.
    pub fn pump(&mut self, now: Instant) {
        let at = self.since_start(now);
        while let Some(e) = self.agent.poll_event() {
            let sig = match &e {
                IceEvent::LocalCandidate(c) => Some(Signal::Candidate(c.clone())),
                IceEvent::LocalCredentials(c) => Some(Signal::Credentials(c.clone())),
                IceEvent::GatheringStateChanged(GatheringState::Complete) => {
                    Some(Signal::EndOfCandidates)
                }
                IceEvent::Data { local, from, data } => {
                    self.data.push((at, *local, *from, data.clone()));
                    None
                }
                _ => None,
            };
            if let Some(s) = sig {
                self.outbox.push_back((now, s));
            }
            self.events.push((at, e));
        }
    }
}

impl Endpoint for IceEndpoint {
    fn receive(&mut self, now: Instant, d: Datagram) {
        let input = Input::Receive {
            local: d.dst,
            from: d.src,
            data: &d.payload,
        };
        let _ = self.agent.handle_input(now, input);
        self.pump(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.agent.handle_timeout(now);
        self.pump(now);
    }

    fn poll_transmit(&mut self) -> Option<Datagram> {
        let t = self.agent.poll_transmit()?;
        Some(Datagram::new(t.from, t.to, t.bytes))
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.agent.poll_timeout()
    }

    fn interfaces_changed(&mut self, now: Instant, addrs: &[IpAddr]) {
        let wanted: Vec<SocketAddr> = addrs
            .iter()
            .map(|ip| SocketAddr::new(*ip, self.port))
            .collect();
        // Make-before-break: the new sockets first, then the dead ones.
        for a in &wanted {
            if !self.sockets.contains(a) {
                match self.agent.add_local_socket(now, *a, self.cost) {
                    Ok(()) => self.sockets.push(*a),
                    Err(e) => self.errors.push(e),
                }
            }
        }
        let gone: Vec<SocketAddr> = self
            .sockets
            .iter()
            .copied()
            .filter(|s| !wanted.contains(s))
            .collect();
        for a in gone {
            if let Err(e) = self.agent.remove_local_socket(now, a) {
                self.errors.push(e);
            }
            self.sockets.retain(|s| *s != a);
        }
        self.pump(now);
    }
}
