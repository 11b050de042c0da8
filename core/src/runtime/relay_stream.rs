//! TURN servers reached over TCP or TLS by an [`IceSession`](super::IceSession): URL
//! resolution into [`RelayServer`]s, and one stream per server. The agent frames and
//! parses everything; this module only opens connections, writes the bytes the agent
//! hands out and reads what arrives.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::turn::conn::{self, Conn, Tls};
use super::{RuntimeError, TurnUrl};
use crate::ice::{RelayServer, RelayStreamTransmit, TlsName};
use crate::stun::Credentials;
use crate::turn::{TransportKind, TurnError};

/// Longest a TCP connect plus TLS handshake may take.
const CONNECT_LIMIT: Duration = Duration::from_secs(10);
/// Longest DNS may take for one TURN URL.
const RESOLVE_LIMIT: Duration = Duration::from_secs(10);
/// Largest read from a stream.
const READ_CHUNK: usize = 16 * 1024;

/// A TURN server for an [`IceSession`](super::IceSession).
#[derive(Clone, Debug)]
pub struct IceTurnServer {
    /// `turn:HOST[:PORT][?transport=udp|tcp]` or `turns:HOST[:PORT]` (RFC 7065).
    pub url: String,
    /// Long-term credentials (see [`crate::turn::rest_api_credentials`]).
    pub credentials: Credentials,
}

/// Parses and resolves each URL. Returns the agent's servers and the TLS settings of
/// each `turns:` server (by resolved address).
pub(super) async fn resolve_servers(
    servers: &[IceTurnServer],
    ca_pem: Option<&[u8]>,
) -> Result<(Vec<RelayServer>, HashMap<SocketAddr, Tls>), RuntimeError> {
    let mut out = Vec::new();
    let mut tls = HashMap::new();
    for s in servers {
        let url: TurnUrl = s.url.parse()?;
        let addr = super::resolve_udp(&url.host_port(), RESOLVE_LIMIT)
            .await
            .map_err(|e| TurnError::Resolve {
                host: url.host.clone(),
                reason: e.to_string(),
            })?;
        if url.transport == TransportKind::Tls {
            tls.insert(addr, conn::tls(&url.host, ca_pem, addr)?);
        }
        out.push(RelayServer {
            addr,
            transport: url.transport,
            credentials: s.credentials.clone(),
        });
    }
    Ok((out, tls))
}

/// What a stream task reports to the driver.
pub(super) enum StreamEvent {
    Bytes(SocketAddr, Vec<u8>),
    Closed(SocketAddr, String),
}

struct Stream {
    out: mpsc::UnboundedSender<Vec<u8>>,
    task: JoinHandle<()>,
}

/// The open streams, one per server.
pub(super) struct RelayStreams {
    streams: HashMap<SocketAddr, Stream>,
    tls: HashMap<SocketAddr, Tls>,
    ca_pem: Option<Vec<u8>>,
    events: mpsc::UnboundedSender<StreamEvent>,
}

impl RelayStreams {
    pub(super) fn new(
        tls: HashMap<SocketAddr, Tls>,
        ca_pem: Option<Vec<u8>>,
        events: mpsc::UnboundedSender<StreamEvent>,
    ) -> Self {
        RelayStreams {
            streams: HashMap::new(),
            tls,
            ca_pem,
            events,
        }
    }

    /// Queues `t.bytes` on the stream to `t.server`, connecting first if there is none.
    /// Bytes for a stream whose task already ended are dropped: its `Closed` event is on
    /// its way to the agent.
    pub(super) fn send(&mut self, t: RelayStreamTransmit) {
        if !self.streams.contains_key(&t.server) {
            let tls = match t.transport {
                TransportKind::Tls => match self.tls_for(t.server, &t.tls_name) {
                    Ok(tls) => Some(tls),
                    Err(e) => {
                        let _ = self
                            .events
                            .send(StreamEvent::Closed(t.server, e.to_string()));
                        return;
                    }
                },
                _ => None,
            };
            let (out, rx) = mpsc::unbounded_channel();
            let task = tokio::spawn(run_stream(
                t.server,
                t.transport,
                tls,
                rx,
                self.events.clone(),
            ));
            self.streams.insert(t.server, Stream { out, task });
        }
        if let Some(s) = self.streams.get(&t.server) {
            let _ = s.out.send(t.bytes);
        }
    }

    /// The stream to `server` is gone (its task reported `Closed`).
    pub(super) fn forget(&mut self, server: SocketAddr) {
        self.streams.remove(&server);
    }

    /// Lets every stream write what is queued and shut down, for at most `limit`.
    pub(super) async fn close(&mut self, limit: Duration) {
        let tasks: Vec<JoinHandle<()>> = self.streams.drain().map(|(_, s)| s.task).collect();
        let _ = tokio::time::timeout(limit, async {
            for t in tasks {
                let _ = t.await;
            }
        })
        .await;
    }

    /// What a TLS stream to `server` verifies: a configured server its configured name;
    /// one the agent was redirected to the ALTERNATE-DOMAIN, or without one the name of
    /// the server that redirected (RFC 8489 §14.16).
    fn tls_for(&mut self, server: SocketAddr, name: &TlsName) -> Result<Tls, TurnError> {
        let ca_pem = self.ca_pem.as_deref();
        match name {
            TlsName::Domain(domain) => conn::tls(domain, ca_pem, server),
            TlsName::SameAs(origin) => match self.tls.get(origin) {
                Some(t) => Ok(t.clone()),
                None => conn::tls(&origin.ip().to_string(), ca_pem, server),
            },
            TlsName::Configured => match self.tls.get(&server) {
                Some(t) => Ok(t.clone()),
                None => conn::tls(&server.ip().to_string(), ca_pem, server),
            },
        }
    }
}

impl Drop for RelayStreams {
    fn drop(&mut self) {
        for s in self.streams.values() {
            s.task.abort();
        }
    }
}

/// Connects, then writes what the driver queues and reports what arrives, until either
/// side closes. Ends with exactly one `Closed` unless the driver hung up first.
async fn run_stream(
    server: SocketAddr,
    kind: TransportKind,
    tls: Option<Tls>,
    mut out: mpsc::UnboundedReceiver<Vec<u8>>,
    events: mpsc::UnboundedSender<StreamEvent>,
) {
    let closed = |reason: String| {
        log::debug!("ice: relay stream {server}: {reason}");
        let _ = events.send(StreamEvent::Closed(server, reason));
    };
    let stream = match Conn::open(kind, server, tls.as_ref(), CONNECT_LIMIT).await {
        Ok((Conn::Stream(s), local)) => {
            log::debug!("ice: relay stream {local} -> {server} ({kind}) open");
            s
        }
        Ok((Conn::Udp(_), _)) => return closed("not a stream transport".into()),
        Err(e) => return closed(e.to_string()),
    };
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        tokio::select! {
            bytes = out.recv() => match bytes {
                Some(b) => {
                    let written = async {
                        writer.write_all(&b).await?;
                        writer.flush().await
                    };
                    if let Err(e) = written.await {
                        return closed(format!("write failed: {e}"));
                    }
                }
                // The session is closing: what was queued is written.
                None => {
                    let _ = writer.shutdown().await;
                    return;
                }
            },
            n = reader.read(&mut buf) => match n {
                Ok(0) => return closed("the server closed the connection".into()),
                Ok(n) => {
                    if events.send(StreamEvent::Bytes(server, buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
                Err(e) => return closed(format!("read failed: {e}")),
            },
        }
    }
}
