//! TCP/TLS connections to TURN servers as explicit requests to the pump.
//!
//! The ICE agent frames what it sends to a stream TURN server and names the server;
//! this bookkeeping turns that into connect / send / close requests with a
//! [`StreamId`] per connection: a connection is requested on the first bytes for a
//! server, bytes wait here until the pump reports it connected, and a connection the
//! pump reports closed is forgotten (the agent decides whether to try again).

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

use super::events::{StreamId, StreamRequest};
use crate::ice::{RelayStreamTransmit, TlsName};
use crate::turn::TransportKind;

struct Stream {
    id: StreamId,
    server: SocketAddr,
    /// Our end, once connected.
    local: Option<SocketAddr>,
    /// Bytes waiting for the connection.
    pending: Vec<Vec<u8>>,
}

/// The session's TURN server connections.
#[derive(Default)]
pub(super) struct Streams {
    list: Vec<Stream>,
    next_id: u64,
    out: VecDeque<StreamRequest>,
    /// The configured name of each `turns:` server address, for certificate checks.
    names: HashMap<SocketAddr, String>,
}

impl Streams {
    /// Remembers the name a TLS server at `addr` was configured with.
    pub(super) fn set_name(&mut self, addr: SocketAddr, name: String) {
        self.names.insert(addr, name);
    }

    /// Bytes the agent wants written to a stream server.
    pub(super) fn transmit(&mut self, t: RelayStreamTransmit) {
        let i = match self.list.iter().position(|s| s.server == t.server) {
            Some(i) => i,
            None => {
                let id = StreamId(self.next_id);
                self.next_id += 1;
                let tls_server_name = (t.transport == TransportKind::Tls)
                    .then(|| self.tls_name(t.server, &t.tls_name));
                self.out.push_back(StreamRequest::Connect {
                    id,
                    server: t.server,
                    transport: t.transport,
                    tls_server_name,
                });
                self.list.push(Stream {
                    id,
                    server: t.server,
                    local: None,
                    pending: Vec::new(),
                });
                self.list.len() - 1
            }
        };
        let s = &mut self.list[i];
        if s.local.is_some() {
            self.out.push_back(StreamRequest::Send {
                id: s.id,
                bytes: t.bytes,
            });
        } else {
            s.pending.push(t.bytes);
        }
    }

    /// The name a TLS server's certificate is checked against: the configured server's
    /// name; after a redirect the ALTERNATE-DOMAIN, or the redirecting server's name
    /// (RFC 8489 §14.16).
    fn tls_name(&self, server: SocketAddr, name: &TlsName) -> String {
        let named = |a: &SocketAddr| {
            self.names
                .get(a)
                .cloned()
                .unwrap_or_else(|| a.ip().to_string())
        };
        match name {
            TlsName::Configured => named(&server),
            TlsName::SameAs(origin) => named(origin),
            TlsName::Domain(d) => d.clone(),
        }
    }

    /// The pump connected stream `id` from `local`; what waited goes out. Returns false
    /// for an unknown id.
    pub(super) fn connected(&mut self, id: StreamId, local: SocketAddr) -> bool {
        let Some(s) = self.list.iter_mut().find(|s| s.id == id) else {
            return false;
        };
        s.local = Some(local);
        for bytes in std::mem::take(&mut s.pending) {
            self.out.push_back(StreamRequest::Send { id, bytes });
        }
        true
    }

    /// The server of stream `id`.
    pub(super) fn server(&self, id: StreamId) -> Option<SocketAddr> {
        self.list.iter().find(|s| s.id == id).map(|s| s.server)
    }

    /// The pump reports stream `id` closed: forgotten. Returns its server.
    pub(super) fn closed(&mut self, id: StreamId) -> Option<SocketAddr> {
        let i = self.list.iter().position(|s| s.id == id)?;
        Some(self.list.remove(i).server)
    }

    /// Closes the streams whose local address is not in `alive` (the interface went
    /// away); returns their servers.
    pub(super) fn close_unless_local_in(&mut self, alive: &[IpAddr]) -> Vec<SocketAddr> {
        let mut gone = Vec::new();
        let out = &mut self.out;
        self.list.retain(|s| {
            let dead = s.local.is_some_and(|l| !alive.contains(&l.ip()));
            if dead {
                out.push_back(StreamRequest::Close { id: s.id });
                gone.push(s.server);
            }
            !dead
        });
        gone
    }

    /// Closes every stream (after the bytes already requested).
    pub(super) fn close_all(&mut self) {
        for s in self.list.drain(..) {
            self.out.push_back(StreamRequest::Close { id: s.id });
        }
    }

    /// The next request for the pump.
    pub(super) fn poll(&mut self) -> Option<StreamRequest> {
        self.out.pop_front()
    }
}
