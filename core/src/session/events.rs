//! What a [`Session`](super::Session) hands its pump and its application.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::signal::Signal;
use crate::ice::{CandidateType, SelectedPair};
use crate::turn::{TransportKind, TurnError};
use crate::Transmit;

/// Connection state, as an application shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SessionState {
    /// Created; nothing checked yet.
    New,
    /// Looking for a path.
    Checking,
    /// A path carries data.
    Connected,
    /// The path went silent; it may come back, or the session restarts.
    Disconnected,
    /// No path works, and the session will not try again by itself (a path that worked
    /// and fails is first restarted `NetworkPolicy::restart_on_failure` times while the
    /// state reads `Disconnected`). `restart()` tries again (with the peer).
    Failed,
    /// `close()` was called.
    Closed,
}

impl SessionState {
    /// `new`, `checking`, `connected`, `disconnected`, `failed`, `closed`.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::New => "new",
            SessionState::Checking => "checking",
            SessionState::Connected => "connected",
            SessionState::Disconnected => "disconnected",
            SessionState::Failed => "failed",
            SessionState::Closed => "closed",
        }
    }
}

/// Direct, or through a TURN relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PathKind {
    /// Peer to peer.
    Direct,
    /// Through a TURN server (either side's relay candidate).
    Relay,
}

impl PathKind {
    /// `direct` or `relay`.
    pub fn as_str(self) -> &'static str {
        match self {
            PathKind::Direct => "direct",
            PathKind::Relay => "relay",
        }
    }
}

/// One end of a path: the candidate type and its address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PathEnd {
    /// host, srflx, prflx or relay.
    pub kind: CandidateType,
    /// The candidate's address.
    pub addr: SocketAddr,
}

impl std::fmt::Display for PathEnd {
    /// `host 192.0.2.1:5000`, the form `pinhole connect` prints.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind, self.addr)
    }
}

/// The path data takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathInfo {
    /// Direct or relayed.
    pub kind: PathKind,
    /// Our end as the peer sees it.
    pub local: PathEnd,
    /// The peer's end.
    pub remote: PathEnd,
    /// The local socket data leaves from (a relayed address for our own relay).
    pub local_socket: SocketAddr,
    /// Where data is sent.
    pub remote_addr: SocketAddr,
    /// Last round-trip time measured on the path.
    pub rtt: Option<Duration>,
}

impl PathInfo {
    pub(super) fn from_pair(p: &SelectedPair) -> PathInfo {
        let end = |c: &crate::ice::Candidate, fallback: SocketAddr| PathEnd {
            kind: c.kind,
            addr: c
                .address
                .ip()
                .map_or(fallback, |ip| SocketAddr::new(ip, c.port)),
        };
        let relayed =
            p.local.kind == CandidateType::Relayed || p.remote.kind == CandidateType::Relayed;
        PathInfo {
            kind: if relayed {
                PathKind::Relay
            } else {
                PathKind::Direct
            },
            local: end(&p.local, p.local_socket),
            remote: end(&p.remote, p.remote_addr),
            local_socket: p.local_socket,
            remote_addr: p.remote_addr,
            rtt: p.rtt,
        }
    }

    /// Same path, whatever the RTT.
    pub(super) fn same_route(&self, other: &PathInfo) -> bool {
        (
            self.kind,
            self.local,
            self.remote,
            self.local_socket,
            self.remote_addr,
        ) == (
            other.kind,
            other.local,
            other.remote,
            other.local_socket,
            other.remote_addr,
        )
    }
}

/// Something the application must know.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[allow(clippy::large_enum_variant)] // rare; boxing would burden every caller
pub enum Event {
    /// Send this to the peer, through your signaling channel, in order
    /// ([`Signal::to_json`] is the string form).
    Signal(Signal),
    /// The connection state changed.
    StateChanged(SessionState),
    /// Data now takes this path (first connection, a better path, or after a network
    /// change).
    PathChanged(PathInfo),
    /// A TURN server gave no relay (unreachable, refused credentials, quota); other
    /// paths are unaffected. `error` says what to fix.
    RelayFailed {
        /// The server as configured (its URL).
        server: String,
        /// How it was reached.
        transport: TransportKind,
        /// Why.
        error: TurnError,
    },
    /// ICE restarted: new credentials went out as a [`Event::Signal`]. The old path
    /// keeps carrying data until the new one is ready.
    Restarted {
        /// The peer asked for it (its new credentials arrived).
        by_peer: bool,
    },
}

/// Which socket the pump must open or close.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SocketRequest {
    /// Bind a UDP socket on `ip` (port `port`, 0 = any) and answer with
    /// [`Input::SocketBound`](super::Input::SocketBound) or
    /// [`Input::SocketFailed`](super::Input::SocketFailed).
    Bind {
        /// The local address.
        ip: IpAddr,
        /// The port, 0 for any.
        port: u16,
    },
    /// Close this socket (its address went away). Nothing more is sent from it.
    Close {
        /// The socket.
        addr: SocketAddr,
    },
}

/// Identifies one TCP or TLS connection to a TURN server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(pub u64);

/// What the pump must do with a TURN server connection.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamRequest {
    /// Open a TCP (and for TLS, a TLS) connection; answer with
    /// [`Input::StreamConnected`](super::Input::StreamConnected) or
    /// [`Input::StreamClosed`](super::Input::StreamClosed).
    Connect {
        /// The connection.
        id: StreamId,
        /// The server.
        server: SocketAddr,
        /// TCP or TLS.
        transport: TransportKind,
        /// For TLS, the name the certificate must match (RFC 8489 §14.16).
        tls_server_name: Option<String>,
    },
    /// Write these bytes, in order (only after the connection is established).
    Send {
        /// The connection.
        id: StreamId,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// Close the connection after writing what was sent.
    Close {
        /// The connection.
        id: StreamId,
    },
}

/// A DNS name the pump must resolve; answer with
/// [`Input::Resolved`](super::Input::Resolved).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolveRequest {
    /// Echoed in the answer.
    pub id: u64,
    /// The name.
    pub host: String,
    /// The port to put in the answers.
    pub port: u16,
}

/// The next thing the pump must do. See [`Session::poll_output`](super::Session::poll_output)
/// for the order.
#[derive(Debug)]
#[non_exhaustive]
#[must_use = "every output must be acted on"]
pub enum Output {
    /// Open or close a socket.
    Socket(SocketRequest),
    /// Resolve a name.
    Resolve(ResolveRequest),
    /// Act on a TURN server connection.
    Stream(StreamRequest),
    /// Send a datagram.
    Transmit(Transmit),
    /// Tell the application.
    Event(Event),
    /// An application datagram from the peer.
    Datagram(Vec<u8>),
    /// Nothing more now: call [`Session::handle_timeout`](super::Session::handle_timeout)
    /// at this instant (`None`: only when new input arrives).
    Timeout(Option<Instant>),
}
