//! The connection to a TURN server: a UDP socket, a TCP stream, or TLS over TCP (rustls,
//! with the `tls` feature).

use std::net::SocketAddr;
#[cfg(feature = "tls")]
use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "tls")]
use rustls::pki_types::pem::PemObject;
#[cfg(feature = "tls")]
use rustls::pki_types::{CertificateDer, ServerName};
#[cfg(feature = "tls")]
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

#[cfg(feature = "tls")]
use super::pinned::PinnedOrWebPki;
use crate::runtime::socket_buffers;
use crate::turn::{TransportKind, TurnError};

pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// What a TLS connection verifies: the name and the trust anchors.
#[cfg(feature = "tls")]
#[derive(Clone)]
pub(crate) struct Tls {
    pub(crate) config: Arc<ClientConfig>,
    pub(crate) name: ServerName<'static>,
}

/// Trust anchors: the webpki (Mozilla) roots plus every certificate in `ca_pem`, each of
/// which is also pinned (accepted when the server presents exactly it; see pinned.rs).
#[cfg(feature = "tls")]
pub(crate) fn tls(host: &str, ca_pem: Option<&[u8]>, server: SocketAddr) -> Result<Tls, TurnError> {
    let err = |reason: String| TurnError::Tls {
        server,
        name: host.to_string(),
        reason,
    };
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let mut pinned = Vec::new();
    if let Some(pem) = ca_pem {
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| err(format!("cannot read the CA PEM: {e}")))?;
            roots
                .add(cert.clone())
                .map_err(|e| err(format!("unusable CA certificate: {e}")))?;
            pinned.push(cert);
        }
        if pinned.is_empty() {
            return Err(err("the CA PEM holds no CERTIFICATE block".into()));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = PinnedOrWebPki::new(roots, pinned, provider.clone()).map_err(err)?;
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    let name = ServerName::try_from(host.to_string())
        .map_err(|_| err("not a valid DNS name or IP address for TLS".into()))?;
    Ok(Tls {
        config: Arc::new(config),
        name,
    })
}

#[cfg(feature = "tls")]
impl Tls {
    /// Verifies later connections against `domain` instead (a redirect's
    /// ALTERNATE-DOMAIN); `server` only names the server in the error.
    pub(crate) fn verify_as(&mut self, domain: &str, server: SocketAddr) -> Result<(), TurnError> {
        self.name = ServerName::try_from(domain.to_string()).map_err(|_| TurnError::Tls {
            server,
            name: domain.to_string(),
            reason: "ALTERNATE-DOMAIN is not a valid DNS name".into(),
        })?;
        Ok(())
    }
}

/// Without the `tls` feature no TLS settings can exist: `turns:` URLs are refused when
/// parsed (`TurnError::TlsUnavailable`), so no TLS transport reaches this module.
/// The field is private and uninhabited, so code elsewhere that holds an `Option<Tls>`
/// compiles unchanged (no `cfg` of its own, no unreachable-code warnings).
#[cfg(not(feature = "tls"))]
#[derive(Clone)]
pub(crate) struct Tls {
    never: std::convert::Infallible,
}

/// Without the `tls` feature: the same refusal as a `turns:` URL gets when parsed.
#[cfg(not(feature = "tls"))]
pub(crate) fn tls(
    host: &str,
    _ca_pem: Option<&[u8]>,
    _server: SocketAddr,
) -> Result<Tls, TurnError> {
    Err(TurnError::TlsUnavailable {
        url: format!("turns:{host}"),
    })
}

#[cfg(not(feature = "tls"))]
impl Tls {
    pub(crate) fn verify_as(
        &mut self,
        _domain: &str,
        _server: SocketAddr,
    ) -> Result<(), TurnError> {
        match self.never {}
    }
}

/// An open connection to the server.
pub(crate) enum Conn {
    Udp(UdpSocket),
    Stream(Box<dyn Stream>),
}

impl Conn {
    /// Opens a connection to `server`, bounded by `limit`.
    pub(crate) async fn open(
        kind: TransportKind,
        server: SocketAddr,
        tls: Option<&Tls>,
        limit: Duration,
    ) -> Result<(Conn, SocketAddr), TurnError> {
        let connect_err = |reason: String| TurnError::Connect { server, reason };
        let fut = async {
            match kind {
                TransportKind::Udp => {
                    let any = crate::runtime::interfaces::any_address_for(server);
                    let s = UdpSocket::bind(any)
                        .await
                        .map_err(|e| connect_err(format!("cannot bind a UDP socket: {e}")))?;
                    socket_buffers::enlarge(&s, socket_buffers::UDP_BUFFER_BYTES);
                    // connect() picks the local address routed to the server.
                    s.connect(server)
                        .await
                        .map_err(|e| connect_err(e.to_string()))?;
                    let local = s.local_addr().map_err(|e| connect_err(e.to_string()))?;
                    Ok((Conn::Udp(s), local))
                }
                TransportKind::Tcp | TransportKind::Tls => {
                    let tcp = TcpStream::connect(server)
                        .await
                        .map_err(|e| connect_err(e.to_string()))?;
                    let _ = tcp.set_nodelay(true);
                    let local = tcp.local_addr().map_err(|e| connect_err(e.to_string()))?;
                    let Some(tls) = tls.filter(|_| kind == TransportKind::Tls) else {
                        return Ok((Conn::Stream(Box::new(tcp)), local));
                    };
                    Ok((Conn::Stream(handshake(tls, tcp, server).await?), local))
                }
            }
        };
        tokio::time::timeout(limit, fut)
            .await
            .map_err(|_| connect_err(format!("no connection within {limit:?}")))?
    }

    /// Reads one datagram or a chunk of the stream. `Ok(0)` on a stream means EOF.
    /// Cancel-safe (used in `select!`).
    pub(crate) async fn recv(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Udp(s) => s.recv(buf).await,
            Conn::Stream(s) => s.read(buf).await,
        }
    }

    pub(crate) async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Conn::Udp(s) => s.send(bytes).await.map(|_| ()),
            Conn::Stream(s) => {
                s.write_all(bytes).await?;
                s.flush().await
            }
        }
    }

    pub(crate) async fn shutdown(&mut self) {
        if let Conn::Stream(s) = self {
            let _ = tokio::time::timeout(Duration::from_secs(1), s.shutdown()).await;
        }
    }
}

/// The TLS client handshake over `tcp`, verified as `tls` says.
#[cfg(feature = "tls")]
async fn handshake(
    tls: &Tls,
    tcp: TcpStream,
    server: SocketAddr,
) -> Result<Box<dyn Stream>, TurnError> {
    let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
    let stream = connector
        .connect(tls.name.clone(), tcp)
        .await
        .map_err(|e| TurnError::Tls {
            server,
            name: name_of(&tls.name),
            reason: e.to_string(),
        })?;
    Ok(Box::new(stream))
}

#[cfg(not(feature = "tls"))]
async fn handshake(
    tls: &Tls,
    _tcp: TcpStream,
    _server: SocketAddr,
) -> Result<Box<dyn Stream>, TurnError> {
    match tls.never {}
}

#[cfg(feature = "tls")]
fn name_of(n: &ServerName<'_>) -> String {
    match n {
        ServerName::DnsName(d) => d.as_ref().to_string(),
        ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
        _ => "?".into(),
    }
}
