//! A small tokio pump around [`PortMapper`] for one UDP socket it binds: used by
//! `pinhole netcheck` and `pinhole portmap`, and by tests. It finds the default IPv4
//! gateway, binds the socket on the interface facing it, moves datagrams, timers and the
//! UPnP HTTP streams, and hands back the mapper's events and the datagrams that are not
//! the mapper's (so a caller can answer them on the mapped socket).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::RuntimeError;
use crate::portmap::{
    Mapping, PortMapConfig, PortMapConfigError, PortMapEvent, PortMapper, Protocol, ProtocolStatus,
    Protocols, StreamId, StreamRequest,
};

/// Why a [`PortMapPump`] (or [`portmap_check`]) did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PortMapStartError {
    /// No gateway, or its socket could not be bound or routed.
    #[error(transparent)]
    Io(#[from] RuntimeError),
    /// The options make an unusable mapper configuration.
    #[error("port mapping: {0}")]
    Config(#[from] PortMapConfigError),
}

/// Longest a TCP connect to the gateway may take.
const CONNECT_LIMIT: Duration = Duration::from_secs(3);
/// Largest read from a stream.
const READ_CHUNK: usize = 16 * 1024;

/// The default IPv4 gateway from `/proc/net/route` (Linux). A netlink route monitor
/// will provide this later; until then this small parser does.
pub fn default_gateway_v4() -> Option<Ipv4Addr> {
    let text = std::fs::read_to_string("/proc/net/route").ok()?;
    parse_proc_net_route(&text)
}

/// The gateway of the first up default route in `/proc/net/route`'s text (columns
/// Iface, Destination, Gateway, Flags, ...; addresses in host byte order as hex).
pub fn parse_proc_net_route(text: &str) -> Option<Ipv4Addr> {
    const RTF_UP: u32 = 0x1;
    const RTF_GATEWAY: u32 = 0x2;
    text.lines().skip(1).find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let (dest, gw, flags) = (cols.get(1)?, cols.get(2)?, cols.get(3)?);
        let dest = u32::from_str_radix(dest, 16).ok()?;
        let gw = u32::from_str_radix(gw, 16).ok()?;
        let flags = u32::from_str_radix(flags, 16).ok()?;
        let mask = cols
            .get(7)
            .and_then(|m| u32::from_str_radix(m, 16).ok())
            .unwrap_or(0);
        let default = dest == 0 && mask == 0;
        (default && flags & RTF_UP != 0 && flags & RTF_GATEWAY != 0 && gw != 0)
            .then(|| Ipv4Addr::from(u32::from_be(gw)))
    })
}

/// Options of a [`PortMapPump`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PortMapOptions {
    /// The gateway; `None`: the default IPv4 gateway.
    pub gateway: Option<IpAddr>,
    /// Port to bind (0: any) on the interface facing the gateway.
    pub port: u16,
    /// Protocols to try.
    pub protocols: Protocols,
    /// Probe budget.
    pub budget: Duration,
    /// Lifetime asked for.
    pub lifetime: Duration,
}

impl Default for PortMapOptions {
    fn default() -> Self {
        let d = PortMapConfig::new(SocketAddr::from(([0, 0, 0, 0], 0)), IpAddr::from([0; 4]));
        PortMapOptions {
            gateway: None,
            port: 0,
            protocols: Protocols::default(),
            budget: d.budget,
            lifetime: d.lifetime,
        }
    }
}

/// What [`PortMapPump::next`] returns.
#[derive(Debug)]
pub enum PumpOutput {
    /// An event of the mapper.
    Event(PortMapEvent),
    /// A datagram on the mapped socket that is not the mapper's.
    Datagram {
        /// Its source.
        from: SocketAddr,
        /// Its payload.
        bytes: Vec<u8>,
    },
    /// The deadline passed.
    Timeout,
    /// The mapper finished closing (after [`PortMapPump::close`] began).
    Closed,
}

enum StreamEvent {
    Connected(StreamId),
    Data(StreamId, Vec<u8>),
    Closed(StreamId),
}

/// One socket, its mapper, and the mapper's HTTP streams.
pub struct PortMapPump {
    socket: UdpSocket,
    local: SocketAddr,
    mapper: PortMapper,
    streams: HashMap<StreamId, (mpsc::UnboundedSender<Vec<u8>>, JoinHandle<()>)>,
    events_tx: mpsc::UnboundedSender<StreamEvent>,
    events_rx: mpsc::UnboundedReceiver<StreamEvent>,
    buf: Vec<u8>,
}

impl PortMapPump {
    /// Finds the gateway, binds the socket and starts probing.
    pub async fn start(options: &PortMapOptions) -> Result<Self, PortMapStartError> {
        let gateway = match options.gateway {
            Some(g) => g,
            None => IpAddr::V4(default_gateway_v4().ok_or(RuntimeError::NoGateway)?),
        };
        let probe_to = SocketAddr::new(gateway, crate::portmap::PCP_SERVER_PORT);
        let any = SocketAddr::from(([0, 0, 0, 0], 0));
        let probe = UdpSocket::bind(any)
            .await
            .map_err(|source| RuntimeError::Bind { addr: any, source })?;
        probe
            .connect(probe_to)
            .await
            .map_err(|source| RuntimeError::NoRoute {
                server: probe_to,
                source,
            })?;
        let ip = probe
            .local_addr()
            .map_err(|source| RuntimeError::NoRoute {
                server: probe_to,
                source,
            })?
            .ip();
        drop(probe);
        let addr = SocketAddr::new(ip, options.port);
        let socket = UdpSocket::bind(addr)
            .await
            .map_err(|source| RuntimeError::Bind { addr, source })?;
        let local = socket.local_addr().map_err(|source| RuntimeError::Io {
            local: addr,
            source,
        })?;
        let mut config = PortMapConfig::new(local, gateway);
        config.protocols = options.protocols;
        config.budget = options.budget;
        config.lifetime = options.lifetime;
        let mapper = PortMapper::new(Instant::now(), config, &mut StdRng::from_entropy())?;
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        Ok(PortMapPump {
            socket,
            local,
            mapper,
            streams: HashMap::new(),
            events_tx,
            events_rx,
            buf: vec![0u8; 2048],
        })
    }

    /// The mapped socket's address.
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// The machine (status, mapping, stats).
    pub fn mapper(&self) -> &PortMapper {
        &self.mapper
    }

    /// Sends a datagram from the mapped socket.
    pub async fn send_to(&self, bytes: &[u8], to: SocketAddr) {
        if let Err(e) = self.socket.send_to(bytes, to).await {
            log::debug!("portmap: send {} -> {to}: {e}", self.local);
        }
    }

    /// Drives the mapper until it has an event, a foreign datagram arrives, or
    /// `deadline` passes.
    pub async fn next(&mut self, deadline: Option<Instant>) -> PumpOutput {
        loop {
            self.flush().await;
            if let Some(e) = self.mapper.poll_event() {
                return PumpOutput::Event(e);
            }
            if self.mapper.is_closed() {
                return PumpOutput::Closed;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return PumpOutput::Timeout;
            }
            let timer = self.mapper.poll_timeout();
            tokio::select! {
                r = self.socket.recv_from(&mut self.buf) => match r {
                    Ok((n, from)) => {
                        let bytes = self.buf[..n].to_vec();
                        if !self.mapper.handle_datagram(Instant::now(), from, &bytes) {
                            return PumpOutput::Datagram { from, bytes };
                        }
                    }
                    Err(e) => log::debug!("portmap: recv on {}: {e}", self.local),
                },
                Some(ev) = self.events_rx.recv() => {
                    let now = Instant::now();
                    match ev {
                        StreamEvent::Connected(id) => self.mapper.handle_stream_connected(now, id),
                        StreamEvent::Data(id, b) => self.mapper.handle_stream_data(now, id, &b),
                        StreamEvent::Closed(id) => {
                            self.streams.remove(&id);
                            self.mapper.handle_stream_closed(now, id)
                        }
                    }
                }
                _ = sleep_until(timer) => self.mapper.handle_timeout(Instant::now()),
                _ = sleep_until(deadline) => return PumpOutput::Timeout,
            }
        }
    }

    /// Asks the mapper to delete its mappings and drives it until it is done or `limit`
    /// passed. Returns the events produced meanwhile, and whether every delete was
    /// answered (or needed no answer) in time.
    pub async fn close(mut self, limit: Duration) -> (Vec<PortMapEvent>, bool) {
        let deadline = Instant::now() + limit;
        self.mapper.close(Instant::now());
        let mut events = Vec::new();
        while !self.mapper.is_closed() && Instant::now() < deadline {
            match self.next(Some(deadline)).await {
                PumpOutput::Event(e) => events.push(e),
                PumpOutput::Datagram { .. } => {}
                PumpOutput::Timeout | PumpOutput::Closed => break,
            }
        }
        self.flush().await;
        let closed = self.mapper.is_closed();
        (events, closed)
    }

    async fn flush(&mut self) {
        while let Some(t) = self.mapper.poll_transmit() {
            if let Err(e) = self.socket.send_to(&t.bytes, t.to).await {
                // Lost as far as the protocol is concerned: retransmission covers it.
                log::debug!("portmap: send {} -> {}: {e}", self.local, t.to);
            }
        }
        while let Some(r) = self.mapper.poll_stream_request() {
            match r {
                StreamRequest::Connect { id, to } => {
                    let (tx, rx) = mpsc::unbounded_channel();
                    let task = tokio::spawn(run_stream(
                        id,
                        self.local.ip(),
                        to,
                        rx,
                        self.events_tx.clone(),
                    ));
                    self.streams.insert(id, (tx, task));
                }
                StreamRequest::Send { id, bytes } => {
                    if let Some((tx, _)) = self.streams.get(&id) {
                        let _ = tx.send(bytes);
                    }
                }
                // Dropping the sender ends the task once what was queued is written.
                StreamRequest::Close { id } => {
                    self.streams.remove(&id);
                }
            }
        }
    }
}

impl Drop for PortMapPump {
    fn drop(&mut self) {
        for (_, task) in self.streams.values() {
            task.abort();
        }
    }
}

async fn run_stream(
    id: StreamId,
    local_ip: IpAddr,
    to: SocketAddr,
    mut out: mpsc::UnboundedReceiver<Vec<u8>>,
    events: mpsc::UnboundedSender<StreamEvent>,
) {
    let closed = |why: String| {
        log::debug!("portmap: {id} to {to}: {why}");
        let _ = events.send(StreamEvent::Closed(id));
    };
    let connect = async {
        let socket = if to.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }?;
        socket.bind(SocketAddr::new(local_ip, 0))?;
        socket.connect(to).await
    };
    let stream = match tokio::time::timeout(CONNECT_LIMIT, connect).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return closed(format!("connect failed: {e}")),
        Err(_) => return closed("connect timed out".into()),
    };
    if events.send(StreamEvent::Connected(id)).is_err() {
        return;
    }
    let (mut reader, mut writer) = stream.into_split();
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        tokio::select! {
            bytes = out.recv() => match bytes {
                Some(b) => {
                    if let Err(e) = writer.write_all(&b).await {
                        return closed(format!("write failed: {e}"));
                    }
                }
                None => {
                    let _ = writer.shutdown().await;
                    return;
                }
            },
            n = reader.read(&mut buf) => match n {
                Ok(0) => return closed("closed by the gateway".into()),
                Ok(n) => {
                    if events.send(StreamEvent::Data(id, buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
                Err(e) => return closed(format!("read failed: {e}")),
            },
        }
    }
}

/// What the gateway offers, per protocol, as `pinhole netcheck` reports it.
#[derive(Clone, Debug)]
pub struct PortMapCheck {
    /// The gateway asked.
    pub gateway: IpAddr,
    /// The probe socket.
    pub local: SocketAddr,
    /// Per protocol (PCP, NAT-PMP, UPnP): its final status.
    pub protocols: Vec<(Protocol, ProtocolStatus)>,
    /// The short-lived test mapping made (and deleted), if any.
    pub test_mapping: Option<Mapping>,
    /// Whether every delete was answered before the limit.
    pub deleted: bool,
}

/// Asks the gateway what it offers, cheaply and without touching anything of the
/// user's: from a fresh socket (its own ephemeral port) it probes the three protocols;
/// NAT-PMP and UPnP answer the external-address query (nothing mapped), PCP can only be
/// probed by mapping, so the preferred protocol that answers makes one short-lived test
/// mapping (lifetime `options.lifetime`) of that socket's port, which is deleted before
/// this returns.
pub async fn portmap_check(options: &PortMapOptions) -> Result<PortMapCheck, PortMapStartError> {
    let mut pump = PortMapPump::start(options).await?;
    let limit = Instant::now() + options.budget + Duration::from_secs(3);
    loop {
        let m = pump.mapper();
        let settled = m.probes_done()
            && (m.mapping().is_some()
                || !Protocol::ALL
                    .iter()
                    .any(|p| matches!(m.status(*p), ProtocolStatus::Available { .. })));
        if settled {
            break;
        }
        if let PumpOutput::Timeout | PumpOutput::Closed = pump.next(Some(limit)).await {
            break;
        }
    }
    let protocols = Protocol::ALL
        .iter()
        .map(|p| (*p, pump.mapper().status(*p).clone()))
        .collect();
    let test_mapping = pump.mapper().mapping();
    let (gateway, local) = (pump.mapper().gateway(), pump.local());
    let (_, deleted) = pump.close(Duration::from_secs(2)).await;
    Ok(PortMapCheck {
        gateway,
        local,
        protocols,
        test_mapping,
        deleted,
    })
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_route_is_read_from_proc_net_route() {
        let text =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                    eth0\t0001010A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                    eth0\t00000000\t0100010A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";
        assert_eq!(parse_proc_net_route(text), Some(Ipv4Addr::new(10, 1, 0, 1)));
        let no_default = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n\
                          eth0\t0001010A\t00000000\t0001\t0\t0\t0\t00FFFFFF\n";
        assert_eq!(parse_proc_net_route(no_default), None);
        let down = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n\
                    eth0\t00000000\t0100010A\t0002\t0\t0\t0\t00000000\n";
        assert_eq!(parse_proc_net_route(down), None);
    }
}
