//! The records and enums the bindings see (Kotlin data classes and enums, Swift structs and
//! enums), and their conversions to and from the engine's types. Addresses cross as
//! strings (`192.0.2.1:5000`, `[2001:db8::1]:5000`), durations as milliseconds.

use std::net::IpAddr;
use std::time::Duration;

use engine::session as core;

use super::error::PinholeError;

/// Who controls nomination. Leave it unset (`null`/`nil`): the two sessions decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Role {
    /// Decided with the peer (the default).
    Auto,
    /// This side controls nomination.
    Controlling,
    /// The peer controls nomination.
    Controlled,
}

/// Which candidates a session uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum RelayPolicy {
    /// Direct where possible, TURN where not (the default).
    All,
    /// Only relayed candidates: the peer never learns a local or public address.
    RelayOnly,
    /// Never relay, even if TURN servers are configured.
    NoRelay,
}

/// A TURN server and its long-term credentials.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TurnServer {
    /// `turn:HOST[:PORT][?transport=udp|tcp]` or `turns:HOST[:PORT]`.
    pub url: String,
    /// Username.
    pub username: String,
    /// Password.
    pub password: String,
}

/// How a session is set up. Every field has a default: `SessionConfig()` (Kotlin) or
/// `SessionConfig()` (Swift) works on a LAN with no servers.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SessionConfig {
    /// Controlling, controlled, or (unset) decided with the peer.
    #[uniffi(default = None)]
    pub role: Option<Role>,
    /// STUN servers as `HOST[:PORT]` (port 3478 by default).
    #[uniffi(default)]
    pub stun_servers: Vec<String>,
    /// TURN servers.
    #[uniffi(default)]
    pub turn_servers: Vec<TurnServer>,
    /// PEM certificates trusted (and pinned) for `turns:` servers on top of the system's
    /// web PKI roots.
    #[uniffi(default = None)]
    pub turn_ca_pem: Option<String>,
    /// Which candidates to use; unset: all.
    #[uniffi(default = None)]
    pub relay_policy: Option<RelayPolicy>,
    /// Bind only these IP addresses; empty: every usable interface. A loopback address
    /// here is offered as a host candidate (tests, two sessions in one process).
    #[uniffi(default)]
    pub bind: Vec<String>,
    /// Local UDP port for every socket (0: any).
    #[uniffi(default = 0)]
    pub port: u16,
    /// Use IPv4.
    #[uniffi(default = true)]
    pub ipv4: bool,
    /// Use IPv6.
    #[uniffi(default = true)]
    pub ipv6: bool,
    /// Offer link-local addresses as host candidates.
    #[uniffi(default = false)]
    pub include_link_local: bool,
    /// Received datagrams held before new ones are dropped (and counted).
    #[uniffi(default = 256)]
    pub receive_queue: u32,
    /// Datagrams `send` accepts before the session is connected (sent once it is); 0:
    /// sending before connected is an error.
    #[uniffi(default = 0)]
    pub early_send_queue: u32,
    /// Longest a server name may take to resolve before the session goes on without it.
    #[uniffi(default = 5000)]
    pub dns_timeout_ms: u32,
    /// Port mapping through the default gateway (NAT-PMP, PCP, UPnP-IGD): a mapping is
    /// offered as a candidate, renewed, and deleted on close. Off for apps that must not
    /// touch the router.
    #[uniffi(default = true)]
    pub port_mapping: bool,
    /// The hard-NAT punch (a bounded burst of authenticated checks from extra sockets
    /// when one side's NAT is symmetric; needs an RFC 5780 STUN server).
    #[uniffi(default = true)]
    pub hard_nat: bool,
    /// ICE restarts the session makes by itself when a path that worked fails for good,
    /// before `Failed` (0: report `Failed` at once).
    #[uniffi(default = 3)]
    pub restart_on_failure: u32,
}

impl SessionConfig {
    /// The engine's configuration, or what is wrong with this one.
    pub(crate) fn to_core(&self) -> Result<core::SessionConfig, PinholeError> {
        let mut c = core::SessionConfig::default()
            .with_role(match self.role.unwrap_or(Role::Auto) {
                Role::Auto => core::Role::Auto,
                Role::Controlling => core::Role::Controlling,
                Role::Controlled => core::Role::Controlled,
            })
            .with_relay_policy(match self.relay_policy.unwrap_or(RelayPolicy::All) {
                RelayPolicy::All => core::RelayPolicy::All,
                RelayPolicy::RelayOnly => core::RelayPolicy::RelayOnly,
                RelayPolicy::NoRelay => core::RelayPolicy::NoRelay,
            })
            .with_port(self.port)
            .with_ip_families(self.ipv4, self.ipv6)
            .with_receive_queue(self.receive_queue as usize)
            .with_early_send_queue(self.early_send_queue as usize);
        for s in &self.stun_servers {
            c = c.with_stun_server(s.clone());
        }
        for t in &self.turn_servers {
            c = c.with_turn_server(core::TurnServer::new(
                t.url.clone(),
                t.username.clone(),
                t.password.clone(),
            ));
        }
        if let Some(pem) = &self.turn_ca_pem {
            c = c.with_turn_ca_pem(pem.as_bytes().to_vec());
        }
        for b in &self.bind {
            let ip: IpAddr = b.trim().parse().map_err(|_| {
                PinholeError::InvalidConfig(format!(
                    "bind address {b:?} is not an IP address: use a literal such as 192.0.2.1 or 2001:db8::1 (or leave bind empty to use every interface)"
                ))
            })?;
            c = c.with_bind(ip);
        }
        c.include_link_local = self.include_link_local;
        c.dns_timeout = Duration::from_millis(u64::from(self.dns_timeout_ms));
        c.port_mapping.enabled = self.port_mapping;
        c.hard_nat.enabled = self.hard_nat;
        c.network.restart_on_failure = self.restart_on_failure;
        c.check()
            .map_err(|e| PinholeError::InvalidConfig(e.to_string()))?;
        Ok(c)
    }
}

/// The kind of network the device's default route uses (what the platform's network
/// monitor reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum NetworkKind {
    /// Not known.
    Unknown,
    /// Wi-Fi.
    Wifi,
    /// Cellular (metered unless said otherwise).
    Cellular,
    /// Wired.
    Ethernet,
    /// VPN, tunnel, other.
    Other,
    /// No network at all.
    None,
}

impl From<NetworkKind> for core::NetworkKind {
    fn from(k: NetworkKind) -> Self {
        match k {
            NetworkKind::Unknown => core::NetworkKind::Unknown,
            NetworkKind::Wifi => core::NetworkKind::Wifi,
            NetworkKind::Cellular => core::NetworkKind::Cellular,
            NetworkKind::Ethernet => core::NetworkKind::Ethernet,
            NetworkKind::Other => core::NetworkKind::Other,
            NetworkKind::None => core::NetworkKind::None,
        }
    }
}

/// Connection state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum SessionState {
    /// Created; nothing checked yet.
    New,
    /// Looking for a path.
    Checking,
    /// A path carries data.
    Connected,
    /// The path went silent; it may come back, or the session restarts.
    Disconnected,
    /// No path works: `restart()` tries again (with the peer).
    Failed,
    /// Closed.
    Closed,
}

impl From<core::SessionState> for SessionState {
    fn from(s: core::SessionState) -> Self {
        match s {
            core::SessionState::New => SessionState::New,
            core::SessionState::Checking => SessionState::Checking,
            core::SessionState::Connected => SessionState::Connected,
            core::SessionState::Disconnected => SessionState::Disconnected,
            core::SessionState::Failed => SessionState::Failed,
            // Closed, and any state a later engine adds that the bindings do not know.
            _ => SessionState::Closed,
        }
    }
}

/// Direct, or through a TURN relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum PathKind {
    /// Peer to peer.
    Direct,
    /// Through a TURN server.
    Relay,
}

/// The path data takes.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PathInfo {
    /// Direct or relayed.
    pub kind: PathKind,
    /// Our candidate's type: `host`, `srflx`, `prflx` or `relay`.
    pub local_type: String,
    /// Our candidate's address, as the peer sees it.
    pub local_address: String,
    /// The peer's candidate type.
    pub remote_type: String,
    /// The peer's candidate address.
    pub remote_address: String,
    /// The local socket data leaves from.
    pub local_socket: String,
    /// Where data is sent.
    pub remote_socket: String,
    /// Last round-trip time measured on the path, in milliseconds.
    pub rtt_ms: Option<f64>,
}

impl From<&core::PathInfo> for PathInfo {
    fn from(p: &core::PathInfo) -> Self {
        PathInfo {
            kind: match p.kind {
                core::PathKind::Relay => PathKind::Relay,
                _ => PathKind::Direct,
            },
            local_type: p.local.kind.to_string(),
            local_address: p.local.addr.to_string(),
            remote_type: p.remote.kind.to_string(),
            remote_address: p.remote.addr.to_string(),
            local_socket: p.local_socket.to_string(),
            remote_socket: p.remote_addr.to_string(),
            rtt_ms: p.rtt.map(|d| d.as_secs_f64() * 1000.0),
        }
    }
}

/// A statistics snapshot.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SessionStats {
    /// Connection state.
    pub state: SessionState,
    /// The path data takes.
    pub path: Option<PathInfo>,
    /// Application datagrams sent.
    pub datagrams_sent: u64,
    /// Application bytes sent.
    pub bytes_sent: u64,
    /// Application datagrams received.
    pub datagrams_received: u64,
    /// Application bytes received.
    pub bytes_received: u64,
    /// Received datagrams dropped because the application did not take them in time.
    pub receive_queue_drops: u64,
    /// Peer signaling messages ignored (repeats, other stacks' TCP candidates…).
    pub signals_ignored: u64,
    /// ICE restarts, ours and the peer's.
    pub restarts: u64,
    /// Local sockets in use.
    pub sockets: u32,
    /// Calls into the listener that threw (logged at warn; the session went on).
    pub listener_errors: u64,
    /// Everything above and more (ICE pairs, relays, counters of dropped network input),
    /// as one JSON object for bug reports.
    pub json: String,
}

impl SessionStats {
    pub(crate) fn from_core(s: &core::SessionStats, listener_errors: u64) -> Self {
        SessionStats {
            state: s.state.into(),
            path: s.path.as_ref().map(PathInfo::from),
            datagrams_sent: s.datagrams_sent,
            bytes_sent: s.bytes_sent,
            datagrams_received: s.datagrams_received,
            bytes_received: s.bytes_received,
            receive_queue_drops: s.receive_queue_drops,
            signals_ignored: s.signals_ignored,
            restarts: s.restarts,
            sockets: u32::try_from(s.sockets).unwrap_or(u32::MAX),
            listener_errors,
            json: s.to_json(),
        }
    }
}

/// Something the application must know, delivered to its `SessionListener` in order.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum SessionEvent {
    /// Send `message` to the peer through your signaling channel, in order; the peer
    /// hands it to its `handleSignal`.
    Signal {
        /// One JSON object, as a string.
        message: String,
    },
    /// The connection state changed (`Closed` is the last event of a session).
    StateChanged {
        /// The new state.
        state: SessionState,
    },
    /// Data now takes this path (first connection, a better path, a network change).
    PathChanged {
        /// The path.
        path: PathInfo,
    },
    /// A TURN server gave no relay; other paths are unaffected. `reason` says what to fix.
    RelayFailed {
        /// The server's URL as configured.
        server: String,
        /// `udp`, `tcp` or `tls`.
        transport: String,
        /// What happened and what to do.
        reason: String,
    },
    /// ICE restarted (new credentials went out as a `Signal`); the old path carries data
    /// until the new one is ready.
    Restarted {
        /// The peer asked for it.
        by_peer: bool,
    },
}

impl SessionEvent {
    /// The bindings' form of an engine event (`None` for kinds a later engine adds).
    pub(crate) fn from_core(e: &core::Event) -> Option<Self> {
        Some(match e {
            core::Event::Signal(s) => SessionEvent::Signal {
                message: s.to_json(),
            },
            core::Event::StateChanged(s) => SessionEvent::StateChanged { state: (*s).into() },
            core::Event::PathChanged(p) => SessionEvent::PathChanged { path: p.into() },
            core::Event::RelayFailed {
                server,
                transport,
                error,
            } => SessionEvent::RelayFailed {
                server: server.clone(),
                transport: transport.to_string(),
                reason: error.to_string(),
            },
            core::Event::Restarted { by_peer } => SessionEvent::Restarted { by_peer: *by_peer },
            _ => return None,
        })
    }
}
