//! [`TurnSession`]: a TURN allocation driven over tokio UDP, TCP or TLS.
//!
//! `connect` resolves the `turn:`/`turns:` URL, opens the transport, spawns a driver task
//! that owns the sans-IO [`TurnClient`] and returns once the allocation exists. The
//! session then sends through the relay (`send_to`), receives what peers send (`recv`)
//! and deletes the allocation on `close` (or, best effort, on drop).

pub(super) mod conn;
#[cfg(feature = "tls")]
mod pinned;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::sync::{mpsc, oneshot};

pub use crate::turn::TurnUrl;

use self::conn::{Conn, Tls};
use crate::stun::{AddressFamily, Credentials};
use crate::turn::{Event, TransportKind, TurnClient, TurnConfig, TurnError, TurnStats};

/// How to connect; `Default` suits a public server (webpki roots, the server's
/// LIFETIME, the server address's family).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TurnOptions {
    /// Certificates (PEM, one or more CERTIFICATE blocks) for a self-hosted `turns:`
    /// server, on top of the webpki roots: each is a trust anchor for chains it issued,
    /// and a server presenting exactly one of them is accepted (a pinned self-signed
    /// certificate, even one WebPKI rules refuse: `CA:TRUE`, no subjectAltName).
    /// Unused without the `tls` feature, where `turns:` URLs are refused.
    pub ca_pem: Option<Vec<u8>>,
    /// Bound on resolving, connecting and allocating (default 15 s).
    pub timeout: Duration,
    /// LIFETIME to request; `None` takes the server's default.
    pub requested_lifetime: Option<Duration>,
    /// How often to refresh each permission (default 240 s; they expire after 300 s).
    pub permission_refresh: Duration,
    /// How often to refresh each channel binding (default 540 s; they expire after 600 s).
    pub channel_refresh: Duration,
    /// Family of the relayed address; `None` follows the server address's family.
    pub relay_family: Option<AddressFamily>,
    /// Relayed datagrams buffered for `recv` before new ones are dropped (default 1024;
    /// drops are counted in `TurnStats::receive_queue_full`).
    pub recv_queue: usize,
}

impl Default for TurnOptions {
    fn default() -> Self {
        TurnOptions {
            ca_pem: None,
            timeout: Duration::from_secs(15),
            requested_lifetime: None,
            permission_refresh: Duration::from_secs(240),
            channel_refresh: Duration::from_secs(540),
            relay_family: None,
            recv_queue: 1024,
        }
    }
}

enum Command {
    /// Data to relay; the reply is only asked for when the client may refuse it.
    Send(
        SocketAddr,
        Vec<u8>,
        Option<oneshot::Sender<Result<(), TurnError>>>,
    ),
    Permission(IpAddr, oneshot::Sender<Result<(), TurnError>>),
    Channel(SocketAddr, oneshot::Sender<Result<u16, TurnError>>),
    Stats(oneshot::Sender<TurnStats>),
    Close(oneshot::Sender<()>),
}

/// A live allocation. Dropping it deletes the allocation in the background.
pub struct TurnSession {
    commands: mpsc::Sender<Command>,
    data: mpsc::Receiver<(SocketAddr, Vec<u8>)>,
    failure: Arc<Mutex<Option<TurnError>>>,
    relayed: SocketAddr,
    mapped: Option<SocketAddr>,
    server: SocketAddr,
    local: SocketAddr,
    transport: TransportKind,
    lifetime: Duration,
}

impl TurnSession {
    /// Allocates on the server at `url` (see [`TurnUrl`]).
    pub async fn connect(
        url: &str,
        credentials: Credentials,
        options: TurnOptions,
    ) -> Result<TurnSession, TurnError> {
        let parsed: TurnUrl = url.parse()?;
        let limit = options.timeout;
        let server = super::resolve_udp(&parsed.host_port(), limit)
            .await
            .map_err(|e| TurnError::Resolve {
                host: parsed.host.clone(),
                reason: e.to_string(),
            })?;
        let tls = match parsed.transport {
            TransportKind::Tls => Some(conn::tls(&parsed.host, options.ca_pem.as_deref(), server)?),
            _ => None,
        };
        let (conn, local) = Conn::open(parsed.transport, server, tls.as_ref(), limit).await?;
        let mut config = TurnConfig::new(server, parsed.transport, credentials);
        config.requested_lifetime = options.requested_lifetime;
        config.permission_refresh = options.permission_refresh;
        config.channel_refresh = options.channel_refresh;
        if let Some(f) = options.relay_family {
            config.relay_family = f;
        }
        let client = TurnClient::new(Instant::now(), config, &mut StdRng::from_entropy());
        let (cmd_tx, cmd_rx) = mpsc::channel(256);
        let (data_tx, data_rx) = mpsc::channel(options.recv_queue.max(1));
        let (ready_tx, ready_rx) = oneshot::channel();
        let failure = Arc::new(Mutex::new(None));
        let driver = Driver {
            client,
            conn,
            tls,
            limit,
            local,
            commands: cmd_rx,
            data: data_tx,
            receive_queue_full: 0,
            ready: Some(ready_tx),
            failure: failure.clone(),
            permission_waiters: BTreeMap::new(),
            channel_waiters: BTreeMap::new(),
            close_waiter: None,
        };
        tokio::spawn(driver.run());
        let ready = tokio::time::timeout(limit, ready_rx).await;
        // After a redirect, the server and the local address are the new connection's.
        let (relayed, mapped, lifetime, server, local) = match ready {
            Ok(Ok(r)) => r?,
            Ok(Err(_)) => return Err(closed(server)),
            Err(_) => {
                return Err(TurnError::Unreachable {
                    server,
                    request: "Allocate",
                    after: limit,
                })
            }
        };
        Ok(TurnSession {
            commands: cmd_tx,
            data: data_rx,
            failure,
            relayed,
            mapped,
            server,
            local,
            transport: parsed.transport,
            lifetime,
        })
    }

    /// The relayed transport address: where peers send to reach this client.
    pub fn relayed_addr(&self) -> SocketAddr {
        self.relayed
    }
    /// This client's address as the server saw it (XOR-MAPPED-ADDRESS).
    pub fn mapped_addr(&self) -> Option<SocketAddr> {
        self.mapped
    }
    /// The TURN server in use (after any redirect).
    pub fn server_addr(&self) -> SocketAddr {
        self.server
    }
    /// The local socket's address (after any redirect, the new connection's).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
    /// How the server is reached.
    pub fn transport(&self) -> TransportKind {
        self.transport
    }
    /// The allocation lifetime granted at allocation time.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, TurnError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| self.gone())?;
        rx.await.map_err(|_| self.gone())
    }

    fn gone(&self) -> TurnError {
        self.failure
            .lock()
            .ok()
            .and_then(|f| f.clone())
            .unwrap_or_else(|| closed(self.server))
    }

    /// Installs a permission for `peer` and waits until the server confirmed it.
    pub async fn create_permission(&self, peer: IpAddr) -> Result<(), TurnError> {
        self.call(|tx| Command::Permission(peer, tx)).await?
    }

    /// Binds a channel to `peer` and waits until the server confirmed it.
    pub async fn bind_channel(&self, peer: SocketAddr) -> Result<u16, TurnError> {
        self.call(|tx| Command::Channel(peer, tx)).await?
    }

    /// Relays one datagram to `peer` (ChannelData once a channel is bound, else a Send
    /// indication; the permission is created on first use).
    ///
    /// Returns once the driver has the datagram, without waiting for it to act on it (a
    /// round trip per datagram capped the rate at which one task could send and receive):
    /// the refusals the client could make are checked here first, and a datagram still in
    /// the queue when the allocation fails is lost, as on a UDP socket.
    pub async fn send_to(&self, peer: SocketAddr, bytes: &[u8]) -> Result<(), TurnError> {
        if self.relayed.is_ipv4() != peer.is_ipv4() {
            return Err(TurnError::PeerFamilyMismatch {
                peer,
                relayed: self.relayed,
            });
        }
        let bytes = bytes.to_vec();
        // Above this a Send indication (no channel yet) no longer fits: let the client say.
        if bytes.len() > SEND_UNCHECKED_MAX {
            return self.call(|tx| Command::Send(peer, bytes, Some(tx))).await?;
        }
        self.commands
            .send(Command::Send(peer, bytes, None))
            .await
            .map_err(|_| self.gone())
    }

    /// The next datagram a peer sent through the relay; `Err` once the allocation is gone.
    pub async fn recv(&mut self) -> Result<(SocketAddr, Vec<u8>), TurnError> {
        match self.data.recv().await {
            Some(d) => Ok(d),
            None => Err(self.gone()),
        }
    }

    /// The TURN client's drop and data counters.
    pub async fn stats(&self) -> Result<TurnStats, TurnError> {
        self.call(Command::Stats).await
    }

    /// Deletes the allocation (Refresh LIFETIME 0) and waits for the server, bounded.
    pub async fn close(self) -> Result<(), TurnError> {
        let r = self.call(Command::Close);
        match tokio::time::timeout(Duration::from_secs(5), r).await {
            Ok(r) => r,
            Err(_) => Ok(()),
        }
    }
}

/// The largest datagram `send_to` hands over without waiting for the client's verdict:
/// anything up to here fits a ChannelData message and a Send indication alike.
const SEND_UNCHECKED_MAX: usize = u16::MAX as usize - 64;

/// Commands or datagrams handled per wake-up before timers and transmits get a turn.
const BATCH: usize = 64;
/// Where the driver's timer rests while the client wants no timeout.
const IDLE: Duration = Duration::from_secs(3600);

fn closed(server: SocketAddr) -> TurnError {
    TurnError::ConnectionClosed {
        server,
        reason: "the session ended".into(),
    }
}

/// Relayed, mapped, lifetime, server and local address, as of the allocation.
type Ready = (
    SocketAddr,
    Option<SocketAddr>,
    Duration,
    SocketAddr,
    SocketAddr,
);

/// Owns the client and the connection; runs until the allocation is closed or fails.
struct Driver {
    client: TurnClient,
    conn: Conn,
    tls: Option<Tls>,
    limit: Duration,
    local: SocketAddr,
    commands: mpsc::Receiver<Command>,
    data: mpsc::Sender<(SocketAddr, Vec<u8>)>,
    /// Datagrams dropped because `data` was full.
    receive_queue_full: u64,
    ready: Option<oneshot::Sender<Result<Ready, TurnError>>>,
    failure: Arc<Mutex<Option<TurnError>>>,
    permission_waiters: BTreeMap<IpAddr, Vec<oneshot::Sender<Result<(), TurnError>>>>,
    channel_waiters: BTreeMap<SocketAddr, Vec<oneshot::Sender<Result<u16, TurnError>>>>,
    close_waiter: Option<oneshot::Sender<()>>,
}

impl Driver {
    async fn run(mut self) {
        let mut buf = vec![0u8; 65_536 + 64];
        let mut dropped_session = false;
        let sleep = tokio::time::sleep_until((Instant::now() + IDLE).into());
        tokio::pin!(sleep);
        let mut armed: Option<Instant> = None;
        loop {
            if !self.drain_events().await {
                break;
            }
            while let Some(t) = self.client.poll_transmit() {
                if let Err(e) = self.conn.send(&t.bytes).await {
                    self.client.handle_connection_closed(&e.to_string());
                    break;
                }
            }
            // One timer, re-armed only when the deadline moves (not one per datagram).
            let deadline = self.client.poll_timeout();
            if deadline != armed {
                armed = deadline;
                let at = deadline.unwrap_or_else(|| Instant::now() + IDLE);
                sleep.as_mut().reset(at.into());
            }
            tokio::select! {
                r = self.conn.recv(&mut buf) => {
                    self.on_recv(r, &buf);
                    // Take what else already waits in the socket before the next turn.
                    if let Conn::Udp(sock) = &self.conn {
                        for _ in 1..BATCH {
                            let Ok(n) = sock.try_recv(&mut buf) else { break };
                            self.client.handle_input(Instant::now(), &buf[..n]);
                        }
                    }
                }
                cmd = self.commands.recv(), if !dropped_session => match cmd {
                    Some(c) => {
                        self.on_command(c);
                        for _ in 1..BATCH {
                            let Ok(c) = self.commands.try_recv() else { break };
                            self.on_command(c);
                        }
                    }
                    None => {
                        dropped_session = true;
                        self.client.close(Instant::now());
                    }
                },
                _ = &mut sleep, if armed.is_some() => {
                    armed = None;
                    self.client.handle_timeout(Instant::now());
                }
            }
        }
        self.conn.shutdown().await;
    }

    fn on_recv(&mut self, r: std::io::Result<usize>, buf: &[u8]) {
        let now = Instant::now();
        match (r, &self.conn) {
            (Ok(n), Conn::Udp(_)) => self.client.handle_input(now, &buf[..n]),
            (Ok(0), Conn::Stream(_)) => self.client.handle_connection_closed("EOF"),
            (Ok(n), Conn::Stream(_)) => self.client.handle_stream_bytes(now, &buf[..n]),
            // ICMP port unreachable surfaces as ECONNREFUSED on a connected UDP socket:
            // let the transaction time out with its own, clearer error.
            (Err(e), Conn::Udp(_)) => log::debug!("TURN: UDP receive error: {e}"),
            (Err(e), Conn::Stream(_)) => self.client.handle_connection_closed(&e.to_string()),
        }
    }

    fn on_command(&mut self, c: Command) {
        let now = Instant::now();
        match c {
            Command::Send(peer, bytes, tx) => {
                let r = self.client.send_to(now, peer, &bytes);
                match (tx, r) {
                    (Some(tx), r) => {
                        let _ = tx.send(r);
                    }
                    (None, Err(e)) => log::debug!("TURN: dropping data to {peer}: {e}"),
                    (None, Ok(())) => {}
                }
            }
            Command::Permission(ip, tx) => match self.client.create_permission(now, ip) {
                Ok(()) if self.client.permission_installed(ip) => {
                    let _ = tx.send(Ok(()));
                }
                Ok(()) => self.permission_waiters.entry(ip).or_default().push(tx),
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            },
            Command::Channel(peer, tx) => match self.client.bind_channel(now, peer) {
                Ok(ch) if self.client.bound_channel(peer) == Some(ch) => {
                    let _ = tx.send(Ok(ch));
                }
                Ok(_) => self.channel_waiters.entry(peer).or_default().push(tx),
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            },
            Command::Stats(tx) => {
                let _ = tx.send(TurnStats {
                    receive_queue_full: self.receive_queue_full,
                    ..self.client.stats()
                });
            }
            Command::Close(tx) => {
                self.close_waiter = Some(tx);
                self.client.close(now);
            }
        }
    }

    /// Handles every pending event; false when the driver should stop.
    async fn drain_events(&mut self) -> bool {
        while let Some(ev) = self.client.poll_event() {
            match ev {
                Event::Allocated {
                    relayed,
                    mapped,
                    lifetime,
                } => {
                    log::debug!("TURN: allocated {relayed} on {}", self.client.server());
                    if let Some(tx) = self.ready.take() {
                        let server = self.client.server();
                        let _ = tx.send(Ok((relayed, mapped, lifetime, server, self.local)));
                    }
                }
                Event::Refreshed { lifetime } => log::debug!("TURN: refreshed for {lifetime:?}"),
                Event::PermissionCreated { peer } => {
                    for tx in self.permission_waiters.remove(&peer).unwrap_or_default() {
                        let _ = tx.send(Ok(()));
                    }
                }
                Event::PermissionFailed { peer, error } => {
                    log::debug!("TURN: {error}");
                    for tx in self.permission_waiters.remove(&peer).unwrap_or_default() {
                        let _ = tx.send(Err(error.clone()));
                    }
                }
                Event::ChannelBound { peer, channel } => {
                    for tx in self.channel_waiters.remove(&peer).unwrap_or_default() {
                        let _ = tx.send(Ok(channel));
                    }
                }
                Event::ChannelBindFailed { peer, error } => {
                    log::debug!("TURN: {error}");
                    for tx in self.channel_waiters.remove(&peer).unwrap_or_default() {
                        let _ = tx.send(Err(error.clone()));
                    }
                }
                Event::Data { peer, bytes } => {
                    // A full queue drops, as a UDP socket would, and counts it.
                    if self.data.try_send((peer, bytes)).is_err() {
                        self.receive_queue_full += 1;
                    }
                }
                Event::Redirected { to, domain, .. } => {
                    log::debug!("TURN: redirected to {to} (domain {domain:?})");
                    self.conn.shutdown().await;
                    if let (Some(tls), Some(domain)) = (&mut self.tls, domain) {
                        if let Err(e) = tls.verify_as(&domain, to) {
                            return self.finish(Some(e));
                        }
                    }
                    match Conn::open(self.client.transport(), to, self.tls.as_ref(), self.limit)
                        .await
                    {
                        Ok((c, local)) => {
                            self.conn = c;
                            self.local = local;
                        }
                        Err(e) => return self.finish(Some(e)),
                    }
                }
                Event::Failed(e) => return self.finish(Some(e)),
                Event::Closed => return self.finish(None),
            }
        }
        true
    }

    fn finish(&mut self, error: Option<TurnError>) -> bool {
        if let Some(e) = &error {
            log::debug!("TURN: {e}");
            if let Ok(mut f) = self.failure.lock() {
                *f = Some(e.clone());
            }
            if let Some(tx) = self.ready.take() {
                let _ = tx.send(Err(e.clone()));
            }
        }
        if let Some(tx) = self.close_waiter.take() {
            let _ = tx.send(());
        }
        false
    }
}
