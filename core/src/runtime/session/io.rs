//! The I/O a running session's requests turn into: UDP sockets, name lookups, TCP/TLS
//! connections to TURN servers. Each reports back to the driver through [`IoEvent`]s.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::super::socket_buffers;
use super::super::turn::conn::{self, Conn};
use crate::session::StreamId;
use crate::turn::TransportKind;

/// Longest a TCP connect plus TLS handshake may take.
const CONNECT_LIMIT: Duration = Duration::from_secs(10);
/// Largest read from a stream at once.
const READ_CHUNK: usize = 16 * 1024;

/// What the I/O tasks report to the driver.
pub(super) enum IoEvent {
    Resolved {
        id: u64,
        result: Result<Vec<SocketAddr>, String>,
    },
    StreamConnected {
        id: StreamId,
        local: SocketAddr,
    },
    StreamData {
        id: StreamId,
        data: Vec<u8>,
    },
    StreamClosed {
        id: StreamId,
        reason: String,
    },
    Nat64(Vec<crate::nat::Nat64Prefix>),
}

/// On an IPv6-only host: the NAT64 prefixes, by RFC 7050 discovery, in the background.
pub(super) fn discover_nat64(limit: Duration, tx: mpsc::UnboundedSender<IoEvent>) {
    if !super::super::host_is_ipv6_only() {
        return;
    }
    tokio::spawn(async move {
        let prefixes = super::super::discover_nat64_prefixes(limit).await;
        let _ = tx.send(IoEvent::Nat64(prefixes));
    });
}

/// Binds a non-blocking UDP socket with large buffers (must run inside the runtime).
pub(super) fn bind(ip: IpAddr, port: u16) -> std::io::Result<(SocketAddr, Arc<UdpSocket>)> {
    let std_socket = std::net::UdpSocket::bind(SocketAddr::new(ip, port))?;
    std_socket.set_nonblocking(true)?;
    socket_buffers::enlarge(&std_socket, socket_buffers::UDP_BUFFER_BYTES);
    let local = std_socket.local_addr()?;
    Ok((local, Arc::new(UdpSocket::from_std(std_socket)?)))
}

/// Resolves `host` in the background.
pub(super) fn resolve(
    id: u64,
    host: String,
    port: u16,
    limit: Duration,
    tx: mpsc::UnboundedSender<IoEvent>,
) {
    tokio::spawn(async move {
        let result =
            match tokio::time::timeout(limit, tokio::net::lookup_host((host.as_str(), port))).await
            {
                Ok(Ok(addrs)) => Ok(addrs.collect()),
                Ok(Err(e)) => Err(format!("cannot resolve {host:?}: {e}")),
                Err(_) => Err(format!("DNS did not answer for {host:?} within {limit:?}")),
            };
        let _ = tx.send(IoEvent::Resolved { id, result });
    });
}

/// An open (or opening) stream: bytes to write go through `out`; dropping it closes the
/// connection once what was queued is written.
pub(super) struct StreamHandle {
    pub(super) id: StreamId,
    pub(super) out: mpsc::UnboundedSender<Vec<u8>>,
    pub(super) task: tokio::task::JoinHandle<()>,
}

/// Connects to a TURN server over TCP or TLS in the background, then writes what is
/// queued and reports what arrives, until either side closes. Ends with exactly one
/// `StreamClosed` unless the driver hung up first.
pub(super) fn open_stream(
    id: StreamId,
    server: SocketAddr,
    transport: TransportKind,
    tls_server_name: Option<String>,
    ca_pem: Option<Arc<Vec<u8>>>,
    tx: mpsc::UnboundedSender<IoEvent>,
) -> StreamHandle {
    let (out, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let task = tokio::spawn(async move {
        let closed = |reason: String| {
            log::debug!("session: stream {server}: {reason}");
            let _ = tx.send(IoEvent::StreamClosed { id, reason });
        };
        let tls = match (transport, &tls_server_name) {
            (TransportKind::Tls, Some(name)) => {
                match conn::tls(name, ca_pem.as_deref().map(|v| v.as_slice()), server) {
                    Ok(t) => Some(t),
                    Err(e) => return closed(e.to_string()),
                }
            }
            _ => None,
        };
        let (stream, local) = match Conn::open(transport, server, tls.as_ref(), CONNECT_LIMIT).await
        {
            Ok((Conn::Stream(s), local)) => (s, local),
            Ok((Conn::Udp(_), _)) => return closed("not a stream transport".into()),
            Err(e) => return closed(e.to_string()),
        };
        if tx.send(IoEvent::StreamConnected { id, local }).is_err() {
            return;
        }
        let (mut reader, mut writer) = tokio::io::split(stream);
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            tokio::select! {
                bytes = rx.recv() => match bytes {
                    Some(b) => {
                        let written = async {
                            writer.write_all(&b).await?;
                            writer.flush().await
                        };
                        if let Err(e) = written.await {
                            return closed(format!("write failed: {e}"));
                        }
                    }
                    // Closed by the session: what was queued is written.
                    None => {
                        let _ = tokio::time::timeout(Duration::from_secs(1), writer.shutdown()).await;
                        return;
                    }
                },
                n = reader.read(&mut buf) => match n {
                    Ok(0) => return closed("the server closed the connection".into()),
                    Ok(n) => {
                        if tx.send(IoEvent::StreamData { id, data: buf[..n].to_vec() }).is_err() {
                            return;
                        }
                    }
                    Err(e) => return closed(format!("read failed: {e}")),
                },
            }
        }
    });
    StreamHandle { id, out, task }
}
