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
//! Relay candidates over TCP/TLS TURN servers: the agent's stream bytes
//! ([`IceAgent::poll_relay_stream_transmit`]) go over netsim's TCP model,
//! one connection per server, opened on first use (bytes wait until it is
//! established); bytes read go back through
//! [`IceAgent::handle_relay_stream_bytes`], a refused, timed-out or closed
//! connection through [`IceAgent::handle_relay_stream_closed`]. UDP TURN
//! servers need nothing: their datagrams are ordinary transmits. A stream
//! whose local address goes away is closed and reported closed.
//!
//! ```text
//! let ep = IceEndpoint::new(net.now(), config, net.fork_rng(), 5000);
//! let a = net.attach_on_ports(peer.host, &[5000], ep); // gathers at once
//! net.endpoint_mut(a).signal(now, Input::RemoteCandidate(c));
//! ```

use crate::endpoint::{ConnId, Datagram, Endpoint, TcpCommand, TcpEvent};
use pinhole::ice::{
    ConnectionState, GatheringState, IceAgent, IceConfig, IceError, IceEvent, Input, NetworkCost,
    SelectedPair,
};
use rand::RngCore;
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
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
    streams: Vec<RelayStream>,
    tcp_out: VecDeque<TcpCommand>,
    next_token: u64,
}

/// The TCP connection to one stream TURN server.
struct RelayStream {
    server: SocketAddr,
    token: u64,
    /// `None` while connecting.
    conn: Option<ConnId>,
    /// Our end, once connected.
    local: Option<SocketAddr>,
    /// Bytes written before the connection was established.
    pending: Vec<Vec<u8>>,
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
            streams: Vec::new(),
            tcp_out: VecDeque::new(),
            next_token: 0,
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

    /// Moves the agent's relay stream bytes onto TCP connections, opening a
    /// connection to a server on first use.
    fn drain_relay_streams(&mut self) {
        while let Some(t) = self.agent.poll_relay_stream_transmit() {
            let i = match self.streams.iter().position(|s| s.server == t.server) {
                Some(i) => i,
                None => {
                    self.next_token += 1;
                    let token = self.next_token;
                    let any = if t.server.is_ipv4() {
                        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
                    } else {
                        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
                    };
                    self.tcp_out.push_back(TcpCommand::Connect {
                        token,
                        local: SocketAddr::new(any, 0),
                        remote: t.server,
                    });
                    self.streams.push(RelayStream {
                        server: t.server,
                        token,
                        conn: None,
                        local: None,
                        pending: Vec::new(),
                    });
                    self.streams.len() - 1
                }
            };
            match self.streams[i].conn {
                Some(conn) => self.tcp_out.push_back(TcpCommand::Send {
                    conn,
                    data: t.bytes,
                }),
                None => self.streams[i].pending.push(t.bytes),
            }
        }
    }

    /// The stream whose connection is `conn`, removed when `close`.
    fn stream_of(&mut self, conn: ConnId, close: bool) -> Option<SocketAddr> {
        let i = self.streams.iter().position(|s| s.conn == Some(conn))?;
        let server = self.streams[i].server;
        if close {
            self.streams.remove(i);
        }
        Some(server)
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
        // A TURN stream from an address that went away is dead: close it and
        // tell the agent (as a runtime's network monitor would).
        let dead: Vec<usize> = (0..self.streams.len())
            .filter(|&i| {
                self.streams[i]
                    .local
                    .is_some_and(|l| !addrs.contains(&l.ip()))
            })
            .collect();
        for i in dead.into_iter().rev() {
            let s = self.streams.remove(i);
            if let Some(conn) = s.conn {
                self.tcp_out.push_back(TcpCommand::Close { conn });
            }
            self.agent
                .handle_relay_stream_closed(now, s.server, "local address went away");
        }
        self.pump(now);
    }

    fn tcp_event(&mut self, now: Instant, ev: TcpEvent) {
        match ev {
            TcpEvent::Connected {
                token, conn, local, ..
            } => {
                if let Some(s) = self.streams.iter_mut().find(|s| s.token == token) {
                    s.conn = Some(conn);
                    s.local = Some(local);
                    for data in std::mem::take(&mut s.pending) {
                        self.tcp_out.push_back(TcpCommand::Send { conn, data });
                    }
                }
            }
            TcpEvent::ConnectFailed { token, reason } => {
                if let Some(i) = self.streams.iter().position(|s| s.token == token) {
                    let server = self.streams.remove(i).server;
                    self.agent.handle_relay_stream_closed(now, server, &reason);
                }
            }
            TcpEvent::Data { conn, data } => {
                if let Some(server) = self.stream_of(conn, false) {
                    self.agent.handle_relay_stream_bytes(now, server, &data);
                }
            }
            TcpEvent::Closed { conn } => {
                if let Some(server) = self.stream_of(conn, true) {
                    self.agent
                        .handle_relay_stream_closed(now, server, "closed by the server");
                }
            }
            TcpEvent::Accepted { conn, .. } => {
                self.tcp_out.push_back(TcpCommand::Close { conn });
            }
        }
        self.pump(now);
    }

    fn poll_tcp(&mut self) -> Option<TcpCommand> {
        self.drain_relay_streams();
        self.tcp_out.pop_front()
    }
}
