//! Runs a [`BindingServer`] over tokio UDP sockets: one receive task per socket, one task
//! that owns the sans-IO server and sends what it asks from the socket it names.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::{socket_buffers, RuntimeError};
use crate::stun::server::{BindingServer, ServerConfig, ServerError, ServerStats};

/// Why a STUN server did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StunServerError {
    /// The configuration is inconsistent (alternate address family, distinctness…).
    #[error(transparent)]
    Config(#[from] ServerError),
    /// A socket could not be bound or queried.
    #[error(transparent)]
    Io(#[from] RuntimeError),
}

/// Largest datagram read; bigger ones are truncated by the OS and then fail to parse.
const MAX_DATAGRAM: usize = 65_535;

/// Starts a STUN Binding server ([`BindingServer`]) on tokio sockets; see
/// [`StunServer::start`].
pub struct StunServer;

/// A running server. Dropping it stops the server.
pub struct StunServerHandle {
    local: Vec<SocketAddr>,
    primary: SocketAddr,
    alternate: Option<SocketAddr>,
    stats: watch::Receiver<ServerStats>,
    tasks: Vec<JoinHandle<()>>,
}

impl StunServer {
    /// Binds the sockets `config` needs (one, or the four RFC 5780 combinations) and
    /// starts serving on the current tokio runtime.
    pub async fn start(config: ServerConfig) -> Result<StunServerHandle, StunServerError> {
        let server = BindingServer::new(config)?;
        let mut sockets = Vec::new();
        for addr in server.local_addresses() {
            sockets.push(bind(addr).await?);
        }
        Ok(spawn(server, sockets))
    }

    /// An RFC 5780 server on two local IPs with ports the OS picks (for an embedded check
    /// on loopback: 127.0.0.1 and 127.0.0.2). Retries when a port is taken on one IP.
    pub async fn start_ephemeral(
        ip1: IpAddr,
        ip2: IpAddr,
    ) -> Result<StunServerHandle, StunServerError> {
        const ATTEMPTS: u32 = 32;
        let mut attempt = 1;
        loop {
            match bind_four(ip1, ip2).await {
                Ok((config, sockets)) => {
                    let server = BindingServer::new(config)?;
                    return Ok(spawn(server, sockets));
                }
                Err(_) if attempt < ATTEMPTS => attempt += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl StunServerHandle {
    /// Every socket address the server listens on.
    pub fn local_addresses(&self) -> &[SocketAddr] {
        &self.local
    }

    /// Where clients send their first request.
    pub fn primary(&self) -> SocketAddr {
        self.primary
    }

    /// The alternate address (RFC 5780 mode), if configured.
    pub fn alternate(&self) -> Option<SocketAddr> {
        self.alternate
    }

    /// Counters as of the last datagram handled.
    pub fn stats(&self) -> ServerStats {
        *self.stats.borrow()
    }

    /// Waits until the server stops (only on a socket error: it otherwise runs forever).
    pub async fn run_forever(mut self) {
        let tasks = std::mem::take(&mut self.tasks);
        for t in tasks {
            let _ = t.await;
        }
    }
}

impl Drop for StunServerHandle {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// A bound socket and the address it got (the OS picks the port when `addr` says 0).
type Bound = (SocketAddr, Arc<UdpSocket>);

async fn bind(addr: SocketAddr) -> Result<Bound, RuntimeError> {
    let socket = UdpSocket::bind(addr)
        .await
        .map_err(|source| RuntimeError::Bind { addr, source })?;
    let local = socket.local_addr().map_err(|source| RuntimeError::Io {
        local: addr,
        source,
    })?;
    socket_buffers::enlarge(&socket, socket_buffers::UDP_BUFFER_BYTES);
    Ok((local, Arc::new(socket)))
}

/// IP1:P1, IP2:P1, IP1:P2, IP2:P2 with P1, P2 chosen by the OS on IP1.
async fn bind_four(ip1: IpAddr, ip2: IpAddr) -> Result<(ServerConfig, Vec<Bound>), RuntimeError> {
    let a = bind(SocketAddr::new(ip1, 0)).await?;
    let p1 = a.0.port();
    let b = bind(SocketAddr::new(ip2, p1)).await?;
    let c = bind(SocketAddr::new(ip1, 0)).await?;
    let p2 = c.0.port();
    let d = bind(SocketAddr::new(ip2, p2)).await?;
    let config =
        ServerConfig::new(SocketAddr::new(ip1, p1)).with_alternate(SocketAddr::new(ip2, p2));
    Ok((config, vec![a, b, c, d]))
}

fn spawn(mut server: BindingServer, sockets: Vec<Bound>) -> StunServerHandle {
    let (tx, mut rx) = mpsc::channel::<(SocketAddr, SocketAddr, Vec<u8>)>(1024);
    let mut by_addr = HashMap::new();
    let mut tasks = Vec::new();
    for (local, socket) in sockets {
        by_addr.insert(local, socket.clone());
        let tx = tx.clone();
        tasks.push(tokio::spawn(async move {
            let mut buf = vec![0u8; MAX_DATAGRAM];
            loop {
                match socket.recv_from(&mut buf).await {
                    Ok((n, remote)) => {
                        if tx.send((local, remote, buf[..n].to_vec())).await.is_err() {
                            return;
                        }
                    }
                    // ICMP port unreachable from an earlier send surfaces here on some
                    // platforms; it says nothing about this socket, so keep serving.
                    Err(e) => log::debug!("stun server: recv on {local}: {e}"),
                }
            }
        }));
    }
    drop(tx);
    let local: Vec<SocketAddr> = server.local_addresses();
    let primary = server.config().primary;
    let alternate = server.config().alternate;
    let (stats_tx, stats) = watch::channel(server.stats());
    tasks.push(tokio::spawn(async move {
        while let Some((local, remote, bytes)) = rx.recv().await {
            server.handle_input(Instant::now(), local, remote, &bytes);
            while let Some(t) = server.poll_transmit() {
                let Some(socket) = by_addr.get(&t.from) else {
                    log::debug!("stun server: no socket bound on {}", t.from);
                    continue;
                };
                if let Err(e) = socket.send_to(&t.bytes, t.to).await {
                    log::debug!("stun server: send {} -> {}: {e}", t.from, t.to);
                }
            }
            let _ = stats_tx.send(server.stats());
        }
    }));
    StunServerHandle {
        local,
        primary,
        alternate,
        stats,
        tasks,
    }
}
