//! Drives RFC 5780 discovery (and, when asked, the binding-lifetime probe) over real UDP
//! sockets. Each run uses fresh sockets: traffic an application already sent on a socket
//! would open filters and skew the filtering verdict.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::net::UdpSocket;

use super::RuntimeError;
use crate::nat::{
    DiscoveryConfig, DiscoveryError, LifetimeConfig, LifetimeError, LifetimeProbe, LifetimeReport,
    Nat64Prefix, NatDiscovery, NatReport,
};

/// Why [`netcheck`] produced no report: a socket or the clock (I/O), or the protocol
/// (the server did not answer, refused, answered without a mapped address…).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetcheckError {
    /// Binding or using a socket failed, or the whole run exceeded its timeout.
    #[error(transparent)]
    Io(#[from] RuntimeError),
    /// NAT behaviour discovery failed before it learned the mapped address.
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    /// The binding-lifetime probe could not measure anything.
    #[error(transparent)]
    Lifetime(#[from] LifetimeError),
}

/// What [`netcheck`] measures and how long it may take; `Default`: 30 s, no lifetime
/// probe, NAT64 prefix only when the server is under 64:ff9b::/96.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct NetcheckOptions {
    /// Overall limit for discovery (the lifetime probe has its own, much longer, bound).
    pub timeout: Duration,
    /// Also measure how long an idle mapping survives (minutes, not seconds).
    pub lifetime: Option<LifetimeConfig>,
    /// On an IPv6-only host, the NAT64 prefix through which the IPv4 addresses the server
    /// reports (OTHER-ADDRESS, the mapped address for the hairpin test) are reached. When
    /// `None` and the server's address lies under the Well-Known Prefix 64:ff9b::/96, that
    /// prefix is used (its length is fixed, so nothing needs discovering).
    pub nat64: Option<Nat64Prefix>,
}

impl Default for NetcheckOptions {
    fn default() -> Self {
        NetcheckOptions {
            timeout: Duration::from_secs(30),
            lifetime: None,
            nat64: None,
        }
    }
}

/// What [`netcheck`] found.
#[derive(Clone, Debug)]
pub struct NetcheckReport {
    /// The local socket the checks ran from.
    pub local: SocketAddr,
    /// The RFC 5780 verdicts and the mapped address.
    pub nat: NatReport,
    /// How long an idle mapping lived, when measured ([`NetcheckOptions::lifetime`]).
    pub lifetime: Option<LifetimeReport>,
}

/// Runs discovery against `server`, then the lifetime probe if asked.
pub async fn netcheck(
    server: SocketAddr,
    options: &NetcheckOptions,
) -> Result<NetcheckReport, NetcheckError> {
    let socket = bind_towards(server).await?;
    let local = socket.local_addr().map_err(|source| RuntimeError::Io {
        local: server,
        source,
    })?;
    let mut rng = StdRng::from_entropy();
    let mut discovery = NatDiscovery::new(
        Instant::now(),
        DiscoveryConfig::new(server, local),
        &mut rng,
    )?;
    let nat64 = options.nat64.or_else(|| match server {
        SocketAddr::V6(v6) if Nat64Prefix::WELL_KNOWN.contains(*v6.ip()) => {
            Some(Nat64Prefix::WELL_KNOWN)
        }
        _ => None,
    });
    let nat = tokio::time::timeout(
        options.timeout,
        drive_discovery(&socket, &mut discovery, nat64),
    )
    .await
    .map_err(|_| RuntimeError::Timeout(options.timeout))??;
    drop(socket);
    let lifetime = match &options.lifetime {
        Some(config) => Some(probe_lifetime(server, local, *config, nat64, &mut rng).await?),
        None => None,
    };
    Ok(NetcheckReport {
        local,
        nat,
        lifetime,
    })
}

/// A socket on the interface the OS routes `server` through, so that "no NAT" can be
/// recognised by comparing the mapped address with a concrete local address.
async fn bind_towards(server: SocketAddr) -> Result<UdpSocket, RuntimeError> {
    let any = super::interfaces::any_address_for(server);
    let probe = UdpSocket::bind(any)
        .await
        .map_err(|source| RuntimeError::Bind { addr: any, source })?;
    probe
        .connect(server)
        .await
        .map_err(|source| RuntimeError::NoRoute { server, source })?;
    let ip = probe
        .local_addr()
        .map_err(|source| RuntimeError::NoRoute { server, source })?
        .ip();
    drop(probe);
    let addr = SocketAddr::new(ip, 0);
    UdpSocket::bind(addr)
        .await
        .map_err(|source| RuntimeError::Bind { addr, source })
}

async fn drive_discovery(
    socket: &UdpSocket,
    machine: &mut NatDiscovery,
    nat64: Option<Nat64Prefix>,
) -> Result<NatReport, NetcheckError> {
    let local = socket.local_addr().map_err(|source| RuntimeError::Io {
        local: SocketAddr::from(([0, 0, 0, 0], 0)),
        source,
    })?;
    let mut buf = vec![0u8; 2048];
    loop {
        while let Some(t) = machine.poll_transmit() {
            send(socket, local, &t.bytes, t.to, nat64).await;
        }
        if let Some(result) = machine.result() {
            return result.clone().map_err(NetcheckError::from);
        }
        let deadline = machine.poll_timeout();
        tokio::select! {
            received = socket.recv_from(&mut buf) => match received {
                Ok((n, from)) => machine.handle_input(Instant::now(), from, &buf[..n]),
                // ICMP errors from earlier sends (port unreachable) land here: the
                // transaction's own timeout decides what they mean.
                Err(e) => log::debug!("netcheck: recv on {local}: {e}"),
            },
            _ = sleep_until(deadline) => machine.handle_timeout(Instant::now()),
        }
    }
}

async fn probe_lifetime(
    server: SocketAddr,
    local: SocketAddr,
    config: LifetimeConfig,
    nat64: Option<Nat64Prefix>,
    rng: &mut StdRng,
) -> Result<LifetimeReport, NetcheckError> {
    let bind = |addr: SocketAddr| async move {
        UdpSocket::bind(addr)
            .await
            .map_err(|source| RuntimeError::Bind { addr, source })
    };
    let x = bind(SocketAddr::new(local.ip(), 0)).await?;
    let y = bind(SocketAddr::new(local.ip(), 0)).await?;
    let address = |socket: &UdpSocket| {
        socket.local_addr().map_err(|source| RuntimeError::Io {
            local: SocketAddr::new(local.ip(), 0),
            source,
        })
    };
    let (x_addr, y_addr) = (address(&x)?, address(&y)?);
    let config = LifetimeConfig { server, ..config };
    let mut probe = LifetimeProbe::new(Instant::now(), config, x_addr, y_addr, rng)?;
    let (mut bx, mut by) = (vec![0u8; 2048], vec![0u8; 2048]);
    loop {
        while let Some(t) = probe.poll_transmit() {
            let socket = if t.from == x_addr { &x } else { &y };
            send(socket, local, &t.bytes, t.to, nat64).await;
        }
        if let Some(result) = probe.result() {
            return result.clone().map_err(NetcheckError::from);
        }
        let deadline = probe.poll_timeout();
        tokio::select! {
            Ok((n, from)) = x.recv_from(&mut bx) => probe.handle_input(Instant::now(), x_addr, from, &bx[..n]),
            Ok((n, from)) = y.recv_from(&mut by) => probe.handle_input(Instant::now(), y_addr, from, &by[..n]),
            _ = sleep_until(deadline) => probe.handle_timeout(Instant::now()),
        }
    }
}

async fn send(
    socket: &UdpSocket,
    local: SocketAddr,
    bytes: &[u8],
    to: SocketAddr,
    nat64: Option<Nat64Prefix>,
) {
    // An IPv6 socket reaches an IPv4 address the server reported through the NAT64.
    let to = match (local, to, nat64) {
        (SocketAddr::V6(_), SocketAddr::V4(v4), Some(prefix)) => {
            SocketAddr::V6(prefix.synthesize_socket(v4))
        }
        _ => to,
    };
    // A failed send is a lost datagram as far as the protocol is concerned: the
    // retransmission timer covers it.
    if let Err(e) = socket.send_to(bytes, to).await {
        log::debug!("send {local} -> {to}: {e}");
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}
