//! The TURN server's configuration and counters.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::time::Duration;

/// How a [`super::TurnServer`] behaves. Build with [`TurnConfig::new`] and the
/// `with_*` methods, or set the public fields directly.
#[derive(Debug, Clone)]
pub struct TurnConfig {
    /// The server host's public IP: listeners and relayed addresses live on it.
    pub public_ip: IpAddr,
    /// A second public IP of the other family (a dual-stack server): it answers there
    /// too, and relays from it for allocations whose REQUESTED-ADDRESS-FAMILY asks for
    /// its family (RFC 8656 §7.1). Allocations without one relay from `public_ip`.
    pub dual_stack_ip: Option<IpAddr>,
    /// UDP ports answering STUN/TURN (default 3478).
    pub udp_ports: Vec<u16>,
    /// TCP ports answering STUN/TURN over streams (default 3478 and 443).
    pub tcp_ports: Vec<u16>,
    /// REALM of the long-term credentials (default "pinhole.test").
    pub realm: String,
    /// Users: username → password.
    pub users: BTreeMap<String, String>,
    /// Offer SHA-256 through PASSWORD-ALGORITHMS (RFC 8489 §9.2): the nonce then
    /// starts with the "obMatJos2" cookie and clients must echo the list and
    /// pick one algorithm. Off: plain MD5 keys (RFC 5389 style).
    pub offer_sha256: bool,
    /// Announce username anonymity (RFC 8489 §9.2, cookie bit 1): clients must
    /// then identify with USERHASH; a request with USERNAME gets 400.
    pub username_anonymity: bool,
    /// How long a nonce stays valid after it is issued; a request with an older
    /// one gets 438 Stale Nonce with a fresh one (default 1 h).
    pub nonce_lifetime: Duration,
    /// Allocation lifetime when the client asks for less or nothing (default 600 s).
    pub default_lifetime: Duration,
    /// Longest allocation lifetime granted (default 3600 s).
    pub max_lifetime: Duration,
    /// Permission lifetime (RFC 8656: 300 s).
    pub permission_lifetime: Duration,
    /// Channel binding lifetime (RFC 8656: 600 s).
    pub channel_lifetime: Duration,
    /// Ports handed out as relayed addresses, lowest free first (default 49152..=65535).
    pub relay_ports: RangeInclusive<u16>,
    /// Allocations one user may hold at once (default: unlimited); 486 beyond.
    pub default_quota: Option<usize>,
    /// Per-user quota overriding `default_quota`.
    pub user_quota: BTreeMap<String, usize>,
    /// SOFTWARE in responses, if any.
    pub software: Option<String>,
}

impl TurnConfig {
    /// Defaults on `public_ip`, with no users.
    pub fn new(public_ip: IpAddr) -> Self {
        TurnConfig {
            public_ip,
            dual_stack_ip: None,
            udp_ports: vec![3478],
            tcp_ports: vec![3478, 443],
            realm: "pinhole.test".into(),
            users: BTreeMap::new(),
            offer_sha256: false,
            username_anonymity: false,
            nonce_lifetime: Duration::from_secs(3600),
            default_lifetime: Duration::from_secs(600),
            max_lifetime: Duration::from_secs(3600),
            permission_lifetime: Duration::from_secs(300),
            channel_lifetime: Duration::from_secs(600),
            relay_ports: 49152..=65535,
            default_quota: None,
            user_quota: BTreeMap::new(),
            software: None,
        }
    }

    /// Makes the server dual-stack: `ip`, of the other family than `public_ip`, answers
    /// and relays too ([`TurnConfig::dual_stack_ip`]).
    pub fn with_dual_stack(mut self, ip: IpAddr) -> Self {
        assert_ne!(
            ip.is_ipv4(),
            self.public_ip.is_ipv4(),
            "netsim: a dual-stack TURN server's second address is of the other family"
        );
        self.dual_stack_ip = Some(ip);
        self
    }

    /// The server's public IP of `family`, if it has one.
    pub fn ip_of(&self, family: pinhole::stun::attr::AddressFamily) -> Option<IpAddr> {
        [Some(self.public_ip), self.dual_stack_ip]
            .into_iter()
            .flatten()
            .find(|ip| {
                pinhole::stun::attr::AddressFamily::of(&std::net::SocketAddr::new(*ip, 0)) == family
            })
    }

    pub fn with_user(mut self, username: &str, password: &str) -> Self {
        self.users.insert(username.into(), password.into());
        self
    }
    pub fn with_realm(mut self, realm: &str) -> Self {
        self.realm = realm.into();
        self
    }
    pub fn with_udp_ports(mut self, ports: &[u16]) -> Self {
        self.udp_ports = ports.to_vec();
        self
    }
    pub fn with_tcp_ports(mut self, ports: &[u16]) -> Self {
        self.tcp_ports = ports.to_vec();
        self
    }
    pub fn with_sha256(mut self, offer: bool) -> Self {
        self.offer_sha256 = offer;
        self
    }
    pub fn with_username_anonymity(mut self, on: bool) -> Self {
        self.username_anonymity = on;
        self
    }
    pub fn with_nonce_lifetime(mut self, d: Duration) -> Self {
        self.nonce_lifetime = d;
        self
    }
    /// Default and maximum allocation lifetime.
    pub fn with_lifetimes(mut self, default: Duration, max: Duration) -> Self {
        self.default_lifetime = default;
        self.max_lifetime = max;
        self
    }
    pub fn with_relay_ports(mut self, ports: RangeInclusive<u16>) -> Self {
        self.relay_ports = ports;
        self
    }
    /// Quota for every user without its own.
    pub fn with_quota(mut self, allocations: usize) -> Self {
        self.default_quota = Some(allocations);
        self
    }
    pub fn with_user_quota(mut self, username: &str, allocations: usize) -> Self {
        self.user_quota.insert(username.into(), allocations);
        self
    }

    pub(crate) fn quota_for(&self, username: &str) -> Option<usize> {
        self.user_quota
            .get(username)
            .copied()
            .or(self.default_quota)
    }
}

/// Why a packet was dropped (silently, as RFC 8656 says) instead of answered or relayed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TurnDrops {
    /// Peer → relayed address from an IP without a permission.
    pub no_permission: u64,
    /// Send indication / ChannelData to a peer without a permission.
    pub no_permission_out: u64,
    /// Send indication / ChannelData on a 5-tuple with no allocation.
    pub no_allocation: u64,
    /// ChannelData on a channel not bound on this allocation.
    pub unbound_channel: u64,
    /// UDP to a port that is neither a listener nor an allocated relay port.
    pub no_relay: u64,
    /// Not parseable as STUN / ChannelData, or an indication missing attributes.
    pub malformed: u64,
    /// A STUN response, or an indication/request the server does not serve.
    pub unexpected: u64,
    /// TCP stream that is not TURN framing (connection closed).
    pub stream_error: u64,
}

impl TurnDrops {
    pub fn total(&self) -> u64 {
        self.no_permission
            + self.no_permission_out
            + self.no_allocation
            + self.unbound_channel
            + self.no_relay
            + self.malformed
            + self.unexpected
            + self.stream_error
    }
}

/// What the server did, cumulative since it was created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TurnStats {
    /// STUN requests received (any method).
    pub requests: u64,
    /// Success responses sent.
    pub successes: u64,
    /// Authenticated requests whose user was identified by USERHASH.
    pub userhash_requests: u64,
    /// Error responses sent, by code (401, 437, 438, 441, 486, ...).
    pub errors: BTreeMap<u16, u64>,
    pub allocations_created: u64,
    /// Deleted by Refresh with LIFETIME 0 or by the TCP connection closing.
    pub allocations_deleted: u64,
    /// Reached their lifetime without a Refresh.
    pub allocations_expired: u64,
    /// Permissions installed (refreshes not counted).
    pub permissions_created: u64,
    pub permissions_expired: u64,
    /// Channels bound (refreshes not counted).
    pub channels_bound: u64,
    pub channels_expired: u64,
    /// Application payload relayed client → peer.
    pub relayed_to_peer_packets: u64,
    pub relayed_to_peer_bytes: u64,
    /// Application payload relayed peer → client.
    pub relayed_to_client_packets: u64,
    pub relayed_to_client_bytes: u64,
    /// Of the relayed packets, those that are application data rather than
    /// STUN (first byte above 3, RFC 7983: connectivity checks and consent are
    /// STUN, and a Pinhole session refuses to send data starting with 0-3),
    /// client → peer. Proves that a datagram did, or did not, take the relay.
    pub relayed_data_to_peer_packets: u64,
    /// The same, peer → client.
    pub relayed_data_to_client_packets: u64,
    /// TCP connections accepted.
    pub tcp_connections: u64,
    pub dropped: TurnDrops,
}

impl TurnStats {
    /// Error responses sent with this code.
    pub fn error_count(&self, code: u16) -> u64 {
        self.errors.get(&code).copied().unwrap_or(0)
    }
}

impl fmt::Display for TurnStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "turn: requests={} ok={} errors={:?}",
            self.requests, self.successes, self.errors
        )?;
        writeln!(
            f,
            "turn: allocations created={} deleted={} expired={}; permissions created={} expired={}; channels bound={} expired={}; tcp conns={}",
            self.allocations_created,
            self.allocations_deleted,
            self.allocations_expired,
            self.permissions_created,
            self.permissions_expired,
            self.channels_bound,
            self.channels_expired,
            self.tcp_connections
        )?;
        writeln!(
            f,
            "turn: relayed to peer {} pkts / {} B ({} data), to client {} pkts / {} B ({} data)",
            self.relayed_to_peer_packets,
            self.relayed_to_peer_bytes,
            self.relayed_data_to_peer_packets,
            self.relayed_to_client_packets,
            self.relayed_to_client_bytes,
            self.relayed_data_to_client_packets
        )?;
        write!(f, "turn: dropped {:?}", self.dropped)
    }
}
