//! Drives an [`IceAgent`] over real UDP sockets: one socket per usable local address, one
//! receive task per socket, one task that owns the agent. It holds no protocol logic: it
//! feeds datagrams (with the local address they arrived on), API calls and deadlines into
//! the agent, sends each [`Transmit`](crate::ice::Transmit) from the socket it names, and
//! forwards [`IceEvent`]s. TURN servers reached over TCP or TLS get one stream each
//! (see [`relay_stream`](super::relay_stream)); UDP ones share the local sockets.
//!
//! ```text
//! let mut s = IceSession::start(IceSessionOptions::default()).await?;
//! signal(s.local_credentials());
//! loop { select! {
//!     ev = s.next_event() => /* LocalCandidate → signal, SelectedPair → s.send(..) */,
//!     msg = signaling.recv() => s.add_remote_candidate(c).await?,
//! } }
//! ```

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::interfaces::interface_addresses;
use super::relay_stream::{resolve_servers, IceTurnServer, RelayStreams, StreamEvent};
use super::{socket_buffers, RuntimeError};
use crate::ice::{
    Candidate, Credentials, IceAgent, IceConfig, IceError, IceEvent, IceStats, Input, NetworkCost,
    RelayStats, SelectedPair,
};

/// Largest datagram read.
const MAX_DATAGRAM: usize = 65_535;

/// Longest a closing session waits for its TURN streams to flush.
const STREAM_CLOSE_LIMIT: std::time::Duration = std::time::Duration::from_millis(500);

/// How an [`IceSession`] finds its sockets.
#[derive(Clone, Debug, Default)]
pub struct IceSessionOptions {
    /// The agent's configuration (role, STUN servers, timers).
    pub ice: IceConfig,
    /// Bind only this address (port chosen by the OS). A loopback address is then
    /// offered as a host candidate. `None`: every address of every interface that is up,
    /// without loopback and (unless `ice.include_link_local`) link-local addresses.
    pub bind: Option<IpAddr>,
    /// TURN servers, resolved at start and appended to `ice.turn_servers`.
    pub turn: Vec<IceTurnServer>,
    /// Trusted and pinned certificates (PEM) for `turns:` servers, on top of the webpki
    /// roots; see [`super::TurnOptions::ca_pem`].
    pub turn_ca_pem: Option<Vec<u8>>,
}

enum Command {
    Input(Input<'static>, oneshot::Sender<Result<(), IceError>>),
    Send(Vec<u8>, oneshot::Sender<Result<(), IceError>>),
    Restart,
    Selected(oneshot::Sender<Option<SelectedPair>>),
    Stats(oneshot::Sender<IceStats>),
    Relays(oneshot::Sender<Vec<RelayStats>>),
    Close,
}

/// A running ICE agent on real sockets. Dropping it stops everything.
pub struct IceSession {
    commands: mpsc::UnboundedSender<Command>,
    events: mpsc::UnboundedReceiver<IceEvent>,
    credentials: Credentials,
    local: Vec<SocketAddr>,
    task: JoinHandle<()>,
}

impl IceSession {
    /// Binds the sockets, creates the agent and starts gathering.
    pub async fn start(options: IceSessionOptions) -> Result<IceSession, RuntimeError> {
        let mut config = options.ice;
        let (relays, tls) = resolve_servers(&options.turn, options.turn_ca_pem.as_deref()).await?;
        config.turn_servers.extend(relays);
        let ips = match options.bind {
            Some(ip) => {
                if ip.is_loopback() {
                    config.include_loopback = true;
                }
                vec![ip]
            }
            None => usable_ips(config.include_link_local),
        };
        let mut sockets = HashMap::new();
        let mut last_error = None;
        for ip in ips {
            let addr = SocketAddr::new(ip, 0);
            match UdpSocket::bind(addr)
                .await
                .and_then(|s| Ok((s.local_addr()?, s)))
            {
                Ok((local, s)) => {
                    socket_buffers::enlarge(&s, socket_buffers::UDP_BUFFER_BYTES);
                    sockets.insert(local, Arc::new(s));
                }
                // One unusable address (a tentative IPv6 one, say) must not stop the
                // others; with --bind it is the only one and the error is reported.
                Err(source) => {
                    log::debug!("ice: cannot bind {addr}: {source}");
                    last_error = Some(RuntimeError::Bind { addr, source });
                }
            }
        }
        if sockets.is_empty() {
            return Err(last_error.unwrap_or(RuntimeError::Bind {
                addr: SocketAddr::from(([0, 0, 0, 0], 0)),
                source: std::io::Error::new(
                    std::io::ErrorKind::AddrNotAvailable,
                    "no usable interface address (no interface is up?)",
                ),
            }));
        }
        let mut local: Vec<SocketAddr> = sockets.keys().copied().collect();
        local.sort_by_key(|a| (a.is_ipv6(), *a));

        let mut agent = IceAgent::new(config, StdRng::from_entropy());
        let credentials = agent.local_credentials().clone();
        let now = Instant::now();
        for addr in &local {
            agent
                .add_local_socket(now, *addr, NetworkCost::UNKNOWN)
                .expect("each bound address is distinct and the agent is open");
        }

        let (dgram_tx, dgram_rx) = mpsc::channel(1024);
        let mut receivers = Vec::new();
        for (addr, socket) in &sockets {
            receivers.push(tokio::spawn(receive(
                *addr,
                socket.clone(),
                dgram_tx.clone(),
            )));
        }
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let (stream_tx, stream_rx) = mpsc::unbounded_channel();
        let driver = Driver {
            agent,
            sockets,
            events: ev_tx,
            streams: RelayStreams::new(tls, options.turn_ca_pem, stream_tx),
            _receivers: AbortOnDrop(receivers),
        };
        let task = tokio::spawn(driver.run(dgram_rx, cmd_rx, stream_rx));
        Ok(IceSession {
            commands: cmd_tx,
            events: ev_rx,
            credentials,
            local,
            task,
        })
    }

    /// The credentials to signal first (later ones arrive as
    /// [`IceEvent::LocalCredentials`]).
    pub fn local_credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The bound sockets.
    pub fn local_addresses(&self) -> &[SocketAddr] {
        &self.local
    }

    /// The next event; `None` once the session is closed and every event was read.
    pub async fn next_event(&mut self) -> Option<IceEvent> {
        self.events.recv().await
    }

    /// The peer's ufrag and password.
    pub async fn set_remote_credentials(&self, c: Credentials) -> Result<(), IceError> {
        self.input(Input::RemoteCredentials(c)).await
    }

    /// A remote candidate (trickled or not).
    pub async fn add_remote_candidate(&self, c: Candidate) -> Result<(), IceError> {
        self.input(Input::RemoteCandidate(c)).await
    }

    /// The peer signalled end-of-candidates.
    pub async fn end_of_candidates(&self) -> Result<(), IceError> {
        self.input(Input::RemoteEndOfCandidates).await
    }

    /// The peer's `ice-options` and ICE-lite flag.
    pub async fn set_remote_options(
        &self,
        options: Vec<String>,
        lite: bool,
    ) -> Result<(), IceError> {
        self.input(Input::RemoteOptions { options, lite }).await
    }

    /// Sends one datagram on the selected pair.
    pub async fn send(&self, data: &[u8]) -> Result<(), IceError> {
        let (tx, rx) = oneshot::channel();
        self.command(Command::Send(data.to_vec(), tx))?;
        rx.await.unwrap_or(Err(IceError::Closed))
    }

    /// ICE restart (new credentials arrive as an event).
    pub fn restart(&self) -> Result<(), IceError> {
        self.command(Command::Restart)
    }

    /// The pair data is sent on.
    pub async fn selected_pair(&self) -> Option<SelectedPair> {
        let (tx, rx) = oneshot::channel();
        self.command(Command::Selected(tx)).ok()?;
        rx.await.ok().flatten()
    }

    /// A statistics snapshot; `None` once closed.
    pub async fn stats(&self) -> Option<IceStats> {
        let (tx, rx) = oneshot::channel();
        self.command(Command::Stats(tx)).ok()?;
        rx.await.ok()
    }

    /// Every relay's state (one per UDP TURN server and local socket, one per TCP/TLS
    /// server); `None` once closed.
    pub async fn relay_stats(&self) -> Option<Vec<RelayStats>> {
        let (tx, rx) = oneshot::channel();
        self.command(Command::Relays(tx)).ok()?;
        rx.await.ok()
    }

    /// Closes the agent; the event stream ends after `ConnectionStateChanged(Closed)`.
    pub fn close(&self) {
        let _ = self.command(Command::Close);
    }

    async fn input(&self, input: Input<'static>) -> Result<(), IceError> {
        let (tx, rx) = oneshot::channel();
        self.command(Command::Input(input, tx))?;
        rx.await.unwrap_or(Err(IceError::Closed))
    }

    fn command(&self, c: Command) -> Result<(), IceError> {
        self.commands.send(c).map_err(|_| IceError::Closed)
    }
}

impl Drop for IceSession {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Up, non-loopback interface addresses (link-local ones only when asked), IPv4 first.
fn usable_ips(include_link_local: bool) -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = interface_addresses()
        .into_iter()
        .filter(|a| !a.loopback && !a.ip.is_loopback() && !a.ip.is_unspecified())
        .filter(|a| !a.is_link_local() || (include_link_local && a.ip.is_ipv4()))
        .map(|a| a.ip)
        .collect();
    ips.sort_by_key(|ip| (ip.is_ipv6(), *ip));
    ips.dedup();
    ips
}

struct AbortOnDrop(Vec<JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

async fn receive(
    local: SocketAddr,
    socket: Arc<UdpSocket>,
    tx: mpsc::Sender<(SocketAddr, SocketAddr, Vec<u8>)>,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((n, from)) => {
                if tx.send((local, from, buf[..n].to_vec())).await.is_err() {
                    return;
                }
            }
            // ICMP errors from earlier sends surface here on some platforms: the
            // agent's own timers decide what a silent peer means.
            Err(e) => log::debug!("ice: recv on {local}: {e}"),
        }
    }
}

struct Driver {
    agent: IceAgent,
    sockets: HashMap<SocketAddr, Arc<UdpSocket>>,
    events: mpsc::UnboundedSender<IceEvent>,
    streams: RelayStreams,
    _receivers: AbortOnDrop,
}

impl Driver {
    async fn run(
        mut self,
        mut datagrams: mpsc::Receiver<(SocketAddr, SocketAddr, Vec<u8>)>,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut streams: mpsc::UnboundedReceiver<StreamEvent>,
    ) {
        loop {
            self.flush().await;
            let deadline = self.agent.poll_timeout();
            tokio::select! {
                Some((local, from, data)) = datagrams.recv() => {
                    // Network input never yields an error: it is dropped and counted.
                    let _ = self.agent.handle_input(
                        Instant::now(),
                        Input::Receive { local, from, data: &data },
                    );
                }
                Some(event) = streams.recv() => match event {
                    StreamEvent::Bytes(server, bytes) => {
                        self.agent.handle_relay_stream_bytes(Instant::now(), server, &bytes);
                    }
                    StreamEvent::Closed(server, reason) => {
                        self.streams.forget(server);
                        self.agent.handle_relay_stream_closed(Instant::now(), server, &reason);
                    }
                },
                command = commands.recv() => match command {
                    Some(Command::Close) | None => {
                        self.agent.close();
                        self.flush().await;
                        // Deallocations go out on the streams before they shut down.
                        self.streams.close(STREAM_CLOSE_LIMIT).await;
                        return;
                    }
                    Some(c) => self.apply(c),
                },
                _ = sleep_until(deadline) => self.agent.handle_timeout(Instant::now()),
            }
        }
    }

    fn apply(&mut self, command: Command) {
        let now = Instant::now();
        match command {
            Command::Input(input, reply) => {
                let _ = reply.send(self.agent.handle_input(now, input));
            }
            Command::Send(data, reply) => {
                let _ = reply.send(self.agent.send_data(now, &data));
            }
            Command::Restart => self.agent.restart(now),
            Command::Selected(reply) => {
                let _ = reply.send(self.agent.selected_pair());
            }
            Command::Stats(reply) => {
                let _ = reply.send(self.agent.stats());
            }
            Command::Relays(reply) => {
                let _ = reply.send(self.agent.relay_stats());
            }
            Command::Close => unreachable!("handled by run"),
        }
    }

    /// Sends every pending datagram and forwards every pending event.
    async fn flush(&mut self) {
        while let Some(t) = self.agent.poll_transmit() {
            let Some(socket) = self.sockets.get(&t.from) else {
                log::debug!("ice: no socket bound on {}", t.from);
                continue;
            };
            // A failed send is a lost datagram: retransmission timers cover it.
            if let Err(e) = socket.send_to(&t.bytes, t.to).await {
                log::debug!("ice: send {} -> {}: {e}", t.from, t.to);
            }
        }
        while let Some(t) = self.agent.poll_relay_stream_transmit() {
            self.streams.send(t);
        }
        while let Some(e) = self.agent.poll_event() {
            let _ = self.events.send(e);
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}
