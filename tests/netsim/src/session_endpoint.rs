//! Pinhole's [`Session`] as a netsim endpoint: a thin pump, like the tokio
//! runtime's, so every netsim scenario drives the SDK path.
//!
//! The pump moves bytes, time and API calls in and the session's outputs out,
//! and nothing else (the rules live in [`Session`]):
//!
//! - netsim datagrams → [`Input::Datagram`]; [`Output::Transmit`] → netsim
//!   datagrams.
//! - the host's addresses (`interfaces_changed`) → [`Input::LocalAddresses`];
//!   a [`SocketRequest::Bind`] is answered at once with [`Input::SocketBound`]
//!   on the endpoint's fixed port ([`SessionConfig::port`]; the endpoint is
//!   attached on that port), or for a bind with port 0 (the keepalive probe's
//!   spare sockets, a hard-NAT punch's extra sockets) on the next free port of
//!   [`SessionEndpoint::with_spare_ports`], then, with
//!   [`SessionEndpoint::with_ephemeral_ports`], on the next free port from 49152
//!   as an OS would (attach the endpoint to every port of its host, `attach`, for
//!   those to receive), or [`Input::SocketFailed`] if the host has no such
//!   address (or no port is left); a
//!   [`SocketRequest::Close`] closes the socket: datagrams to it are dropped
//!   and counted ([`SessionEndpoint::stray`]). Make-before-break is the
//!   session's rule; [`SessionEndpoint::socket_log`] shows the order.
//! - the default gateway ([`SessionEndpoint::with_gateway`], the home NAT's
//!   LAN address in netsim's topology) → [`Input::Gateway`], with the host's
//!   addresses; the session's port mappers talk to it through the same
//!   datagrams and streams.
//! - [`StreamRequest`]s → netsim's TCP model (connect, send, close); TCP
//!   events → [`Input::StreamConnected`] / [`Input::StreamData`] /
//!   [`Input::StreamClosed`]. Nothing is buffered here: the session holds
//!   bytes until the stream is connected. netsim has no TLS: a `turns:`
//!   stream is refused with a reason.
//! - [`Output::Resolve`]: netsim has no DNS. A name in the endpoint's static
//!   table ([`SessionEndpoint::with_host`]) resolves; any other name gets an
//!   error naming it. Literal addresses never ask.
//! - [`Event::Signal`] → the signaling outbox as **strings**
//!   ([`Signal::to_json`](pinhole::session::Signal::to_json), what an app
//!   sends), taken by the scenario ([`SessionEndpoint::take_signals`]) and
//!   handed to the peer's [`SessionEndpoint::signal`].
//!
//! Every event and every application datagram is recorded with its virtual
//! time since the endpoint was created.
//!
//! ```text
//! let config = SessionConfig::default().with_port(5000).with_stun_server("192.0.2.1:3478");
//! let ep = SessionEndpoint::new(net.now(), config, net.fork_rng())?;
//! let a = net.attach_on_ports(peer.host, &[ep.port()], ep); // binds and gathers at once
//! for (_, line) in net.endpoint_mut(a).take_signals() { /* to the peer */ }
//! net.endpoint_mut(b).signal(now, &line)?;
//! ```

use crate::endpoint::{ConnId, Datagram, Endpoint, TcpCommand, TcpEvent};
use pinhole::session::{
    ConfigError, Event, Input, Output, PathInfo, PathKind, Session, SessionConfig, SessionError,
    SessionState, SocketRequest, StreamId, StreamRequest,
};
use pinhole::turn::TransportKind;
use rand::RngCore;
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

/// Why a [`SessionEndpoint`] cannot be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointError {
    /// The session refused the configuration.
    Config(ConfigError),
    /// `SessionConfig::port` is 0: netsim attaches endpoints to fixed ports.
    NoPort,
}

impl std::fmt::Display for EndpointError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EndpointError::Config(e) => write!(f, "{e}"),
            EndpointError::NoPort => write!(
                f,
                "SessionConfig::port is 0: a netsim endpoint needs a fixed port (with_port)"
            ),
        }
    }
}

impl std::error::Error for EndpointError {}

/// An application datagram the session handed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Virtual time since the endpoint was created.
    pub at: Duration,
    /// The local socket and the sender it arrived on (for TURN over TCP, the
    /// stream's local address and the server); `None` when the session
    /// released it from its hold (data that came before the `Connected`
    /// state was polled), whose arrival tuple the pump cannot know.
    pub via: Option<(SocketAddr, SocketAddr)>,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// One TCP connection the session asked for.
struct Stream {
    id: StreamId,
    server: SocketAddr,
    /// Set once connected.
    conn: Option<ConnId>,
    local: Option<SocketAddr>,
    /// The session closed it while it was still connecting.
    closing: bool,
}

/// A [`Session`] on one host, at one UDP port. Attach it with
/// `attach_on_ports(host, &[ep.port()], ep)`.
pub struct SessionEndpoint {
    session: Session,
    port: u16,
    start: Instant,
    /// The host's addresses, as last reported.
    host_addrs: Option<Vec<IpAddr>>,
    /// Sockets bound for the session.
    bound: Vec<SocketAddr>,
    /// The static name table (netsim has no DNS).
    names: Vec<(String, IpAddr)>,
    /// The default gateway to tell the session.
    gateway: Option<IpAddr>,
    /// Binds on port 0 beyond the spare ports get ephemeral ports.
    ephemeral: bool,
    /// The next port for such a bind.
    next_ephemeral: u16,
    /// Every event, with its virtual time since creation.
    pub events: Vec<(Duration, Event)>,
    /// Every application datagram received.
    pub data: Vec<Received>,
    /// Every socket request, in the order the session made them.
    pub socket_log: Vec<(Duration, SocketRequest)>,
    /// Datagrams to or from a socket the session does not have (closed, or
    /// never bound): dropped, as a kernel would.
    pub stray: u64,
    /// Every datagram sent: virtual time since creation, from, to.
    pub sent: Vec<(Duration, SocketAddr, SocketAddr)>,
    /// Datagrams received on a bound socket.
    pub received: u64,
    /// Ports a bind for port 0 may use.
    spare_ports: Vec<u16>,
    outbox: VecDeque<(Instant, String)>,
    out: VecDeque<Datagram>,
    tcp_out: VecDeque<TcpCommand>,
    streams: Vec<Stream>,
    /// The tuple of the input being handled, for [`Received::via`].
    rx: Option<(SocketAddr, SocketAddr)>,
    /// `Connected` was polled: the session holds no received data any more.
    connected_seen: bool,
    /// The deadline of the last drain (the session changes only through the
    /// entry points, which all drain).
    deadline: Option<Instant>,
}

impl SessionEndpoint {
    /// A session with `config` (its `port` must be set: the endpoint binds
    /// every socket there). Its outputs are polled once attached: netsim
    /// reports the host's addresses at once, and the session binds and
    /// gathers.
    pub fn new(
        now: Instant,
        config: SessionConfig,
        rng: impl RngCore + Send + 'static,
    ) -> Result<Self, EndpointError> {
        let port = config.port;
        if port == 0 {
            return Err(EndpointError::NoPort);
        }
        let session = Session::new(config, now, rng).map_err(EndpointError::Config)?;
        Ok(SessionEndpoint {
            session,
            port,
            start: now,
            host_addrs: None,
            bound: Vec::new(),
            names: Vec::new(),
            gateway: None,
            ephemeral: false,
            next_ephemeral: 49152,
            events: Vec::new(),
            data: Vec::new(),
            socket_log: Vec::new(),
            stray: 0,
            sent: Vec::new(),
            received: 0,
            spare_ports: Vec::new(),
            outbox: VecDeque::new(),
            out: VecDeque::new(),
            tcp_out: VecDeque::new(),
            streams: Vec::new(),
            rx: None,
            connected_seen: false,
            deadline: None,
        })
    }

    /// Answers resolve requests for `name` with `ip` (the port is the
    /// requested one). May be called several times per name.
    pub fn with_host(mut self, name: &str, ip: IpAddr) -> Self {
        self.names.push((name.to_owned(), ip));
        self
    }

    /// Tells the session the NAT64 prefixes of its IPv6-only network (what the runtime
    /// learns by RFC 7050 discovery).
    pub fn set_nat64(&mut self, now: Instant, prefixes: &[pinhole::nat::Nat64Prefix]) {
        self.session
            .handle_input(now, pinhole::session::Input::Nat64(prefixes));
        self.drain(now);
    }

    /// Binds for port 0 (the keepalive probe's spare sockets) use these ports; attach
    /// the endpoint on [`SessionEndpoint::ports`].
    pub fn with_spare_ports(mut self, ports: &[u16]) -> Self {
        self.spare_ports = ports.to_vec();
        self
    }

    /// Binds for port 0 beyond the spare ports (a hard-NAT punch's sockets) get the
    /// next free port from 49152, as an OS picks one; attach the endpoint on every port
    /// of its host (`attach`) for those to receive. Without it they fail.
    pub fn with_ephemeral_ports(mut self) -> Self {
        self.ephemeral = true;
        self
    }

    /// Tells the session `ip` is the default gateway (for port mapping).
    pub fn with_gateway(mut self, ip: IpAddr) -> Self {
        self.gateway = Some(ip);
        self
    }

    /// The UDP port every socket is bound on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every port the endpoint binds: [`SessionEndpoint::port`] and the spare ones.
    pub fn ports(&self) -> Vec<u16> {
        std::iter::once(self.port)
            .chain(self.spare_ports.iter().copied())
            .collect()
    }

    /// The session (state, path, stats, and the agent through
    /// [`Session::agent`]).
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Calls the session's API (`restart`, `close`, `network_changed`, ...)
    /// and polls what it produced, at `now`.
    pub fn call<R>(&mut self, now: Instant, f: impl FnOnce(&mut Session, Instant) -> R) -> R {
        let r = f(&mut self.session, now);
        self.drain(now);
        r
    }

    /// A signaling string from the peer ([`Session::handle_signal`]).
    pub fn signal(&mut self, now: Instant, message: &str) -> Result<(), SessionError> {
        self.call(now, |s, now| s.handle_signal(now, message))
    }

    /// Sends one application datagram on the current path ([`Session::send`]).
    pub fn send(&mut self, now: Instant, data: &[u8]) -> Result<(), SessionError> {
        self.call(now, |s, now| s.send(now, data))
    }

    /// Signaling strings emitted since the last call, with their time.
    pub fn take_signals(&mut self) -> Vec<(Instant, String)> {
        self.outbox.drain(..).collect()
    }

    /// Virtual time since creation.
    pub fn since_start(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.start)
    }

    /// First time (since creation) an event matching `f` was recorded.
    pub fn first_event(&self, f: impl Fn(&Event) -> bool) -> Option<Duration> {
        self.events.iter().find(|(_, e)| f(e)).map(|(t, _)| *t)
    }

    /// Every path change, with its time.
    pub fn paths(&self) -> impl Iterator<Item = (Duration, &PathInfo)> {
        self.events.iter().filter_map(|(t, e)| match e {
            Event::PathChanged(p) => Some((*t, p)),
            _ => None,
        })
    }

    /// When the session first had a path (of any kind).
    pub fn connected_at(&self) -> Option<Duration> {
        self.paths().next().map(|(t, _)| t)
    }

    /// When the session first had a path of this kind.
    pub fn path_at(&self, kind: PathKind) -> Option<Duration> {
        self.paths().find(|(_, p)| p.kind == kind).map(|(t, _)| t)
    }

    /// When the session reported `Failed`, if it did.
    pub fn failed_at(&self) -> Option<Duration> {
        self.first_event(|e| *e == Event::StateChanged(SessionState::Failed))
    }

    /// The path data takes now.
    pub fn path(&self) -> Option<&PathInfo> {
        self.session.path()
    }

    /// Polls the session until it has nothing more to do at `now`, acting on
    /// every output. Every entry point calls it; call it after using the
    /// session some other way.
    pub fn drain(&mut self, now: Instant) {
        let at = self.since_start(now);
        // Data from this input comes out now, unless the session was still
        // holding received data (before `Connected` was polled).
        let mut via = self.rx.take().filter(|_| self.connected_seen);
        loop {
            match self.session.poll_output() {
                Output::Timeout(t) => {
                    self.deadline = t;
                    break;
                }
                Output::Socket(r) => self.on_socket(now, at, r),
                Output::Resolve(r) => {
                    let found: Vec<SocketAddr> = self
                        .names
                        .iter()
                        .filter(|(n, _)| n.eq_ignore_ascii_case(&r.host))
                        .map(|(_, ip)| SocketAddr::new(*ip, r.port))
                        .collect();
                    let result = if found.is_empty() {
                        Err(format!(
                            "netsim has no DNS: {} is not in the endpoint's host table \
                             (use a literal address, or SessionEndpoint::with_host)",
                            r.host
                        ))
                    } else {
                        Ok(found)
                    };
                    self.session
                        .handle_input(now, Input::Resolved { id: r.id, result });
                }
                Output::Stream(r) => self.on_stream(now, r),
                Output::Transmit(t) => {
                    if self.bound.contains(&t.from) {
                        self.sent.push((at, t.from, t.to));
                        self.out.push_back(Datagram::new(t.from, t.to, t.bytes));
                    } else {
                        self.stray += 1;
                    }
                }
                Output::Event(e) => {
                    match &e {
                        Event::Signal(m) => self.outbox.push_back((now, m.to_json())),
                        Event::StateChanged(SessionState::Connected) => self.connected_seen = true,
                        _ => {}
                    }
                    self.events.push((at, e));
                }
                Output::Datagram(bytes) => self.data.push(Received {
                    at,
                    via: via.take(),
                    bytes,
                }),
                other => unhandled(&other),
            }
        }
    }

    fn on_socket(&mut self, now: Instant, at: Duration, r: SocketRequest) {
        self.socket_log.push((at, r.clone()));
        match r {
            SocketRequest::Bind { ip, port } => {
                let exists = self.host_addrs.as_ref().is_none_or(|a| a.contains(&ip));
                let port = if port == 0 {
                    let free = self
                        .spare_ports
                        .iter()
                        .copied()
                        .find(|p| !self.bound.contains(&SocketAddr::new(ip, *p)));
                    let free = free.or_else(|| self.ephemeral.then(|| self.next_free_port(ip)));
                    let Some(p) = free else {
                        let reason =
                            "netsim: no spare port left (SessionEndpoint::with_spare_ports)";
                        self.session
                            .handle_input(now, Input::SocketFailed { ip, reason });
                        return;
                    };
                    p
                } else {
                    self.port
                };
                if exists {
                    let addr = SocketAddr::new(ip, port);
                    if !self.bound.contains(&addr) {
                        self.bound.push(addr);
                    }
                    self.session.handle_input(now, Input::SocketBound { addr });
                } else {
                    let reason = "netsim: the host has no such address";
                    self.session
                        .handle_input(now, Input::SocketFailed { ip, reason });
                }
            }
            SocketRequest::Close { addr } => self.bound.retain(|a| *a != addr),
            other => unhandled(&other),
        }
    }

    /// A free port on `ip`, as an OS picks one for a bind on port 0.
    fn next_free_port(&mut self, ip: IpAddr) -> u16 {
        loop {
            let p = self.next_ephemeral;
            self.next_ephemeral = if p == u16::MAX { 49152 } else { p + 1 };
            let addr = SocketAddr::new(ip, p);
            if p != self.port && !self.bound.contains(&addr) {
                return p;
            }
        }
    }

    fn on_stream(&mut self, now: Instant, r: StreamRequest) {
        match r {
            StreamRequest::Connect {
                id,
                server,
                transport,
                ..
            } => {
                if transport != TransportKind::Tcp {
                    let reason = format!(
                        "netsim has no {transport:?} streams: give the TURN server as \
                         turn:HOST:PORT?transport=tcp"
                    );
                    self.session.handle_input(
                        now,
                        Input::StreamClosed {
                            id,
                            reason: &reason,
                        },
                    );
                    return;
                }
                let any = if server.is_ipv4() {
                    IpAddr::V4(Ipv4Addr::UNSPECIFIED)
                } else {
                    IpAddr::V6(Ipv6Addr::UNSPECIFIED)
                };
                self.tcp_out.push_back(TcpCommand::Connect {
                    token: id.0,
                    local: SocketAddr::new(any, 0),
                    remote: server,
                });
                self.streams.push(Stream {
                    id,
                    server,
                    conn: None,
                    local: None,
                    closing: false,
                });
            }
            StreamRequest::Send { id, bytes } => {
                // The session sends only on connected streams; bytes for a
                // stream that is gone have nowhere to go.
                if let Some(conn) = self
                    .streams
                    .iter()
                    .find(|s| s.id == id)
                    .and_then(|s| s.conn)
                {
                    self.tcp_out
                        .push_back(TcpCommand::Send { conn, data: bytes });
                }
            }
            StreamRequest::Close { id } => {
                if let Some(i) = self.streams.iter().position(|s| s.id == id) {
                    match self.streams[i].conn {
                        Some(conn) => {
                            self.streams.remove(i);
                            self.tcp_out.push_back(TcpCommand::Close { conn });
                        }
                        // Closed when the connect completes.
                        None => self.streams[i].closing = true,
                    }
                }
            }
            other => unhandled(&other),
        }
    }
}

/// A session output this pump does not know (the enums are
/// `#[non_exhaustive]`): a test must fail rather than drop it unseen.
fn unhandled(what: &dyn std::fmt::Debug) -> ! {
    panic!("netsim's SessionEndpoint does not handle {what:?}: teach the pump")
}

impl Endpoint for SessionEndpoint {
    fn receive(&mut self, now: Instant, d: Datagram) {
        if !self.bound.contains(&d.dst) {
            self.stray += 1;
            return;
        }
        self.received += 1;
        self.rx = Some((d.dst, d.src));
        let input = Input::Datagram {
            local: d.dst,
            from: d.src,
            data: &d.payload,
        };
        self.session.handle_input(now, input);
        self.drain(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.session.handle_timeout(now);
        self.drain(now);
    }

    fn poll_transmit(&mut self) -> Option<Datagram> {
        self.out.pop_front()
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.deadline
    }

    fn interfaces_changed(&mut self, now: Instant, addrs: &[IpAddr]) {
        self.host_addrs = Some(addrs.to_vec());
        if self.gateway.is_some() {
            self.session.handle_input(now, Input::Gateway(self.gateway));
        }
        self.session.handle_input(now, Input::LocalAddresses(addrs));
        self.drain(now);
    }

    fn tcp_event(&mut self, now: Instant, ev: TcpEvent) {
        match ev {
            TcpEvent::Connected {
                token, conn, local, ..
            } => {
                let i = self
                    .streams
                    .iter()
                    .position(|s| s.id.0 == token && s.conn.is_none());
                match i {
                    Some(i) if !self.streams[i].closing => {
                        let s = &mut self.streams[i];
                        s.conn = Some(conn);
                        s.local = Some(local);
                        let id = s.id;
                        self.session
                            .handle_input(now, Input::StreamConnected { id, local });
                    }
                    other => {
                        if let Some(i) = other {
                            self.streams.remove(i);
                        }
                        self.tcp_out.push_back(TcpCommand::Close { conn });
                    }
                }
            }
            TcpEvent::ConnectFailed { token, reason } => {
                if let Some(i) = self
                    .streams
                    .iter()
                    .position(|s| s.id.0 == token && s.conn.is_none())
                {
                    let s = self.streams.remove(i);
                    if !s.closing {
                        self.session.handle_input(
                            now,
                            Input::StreamClosed {
                                id: s.id,
                                reason: &reason,
                            },
                        );
                    }
                }
            }
            TcpEvent::Data { conn, data } => {
                if let Some(s) = self.streams.iter().find(|s| s.conn == Some(conn)) {
                    let id = s.id;
                    self.rx = s.local.map(|l| (l, s.server));
                    self.session
                        .handle_input(now, Input::StreamData { id, data: &data });
                }
            }
            TcpEvent::Closed { conn } => {
                if let Some(i) = self.streams.iter().position(|s| s.conn == Some(conn)) {
                    let id = self.streams.remove(i).id;
                    let reason = "closed by the server";
                    self.session
                        .handle_input(now, Input::StreamClosed { id, reason });
                }
            }
            TcpEvent::Accepted { conn, .. } => {
                self.tcp_out.push_back(TcpCommand::Close { conn });
            }
        }
        self.drain(now);
    }

    fn poll_tcp(&mut self) -> Option<TcpCommand> {
        self.tcp_out.pop_front()
    }
}
