//! What a [`Session`](super::Session) is created with. `SessionConfig::default()` works
//! with no configuration on a LAN: automatic role, every interface, host candidates only.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::network_change::NetworkPolicy;
use super::portmap::PortMapPolicy;
use super::signal::Role;
use crate::ice::{IceConfig, PunchConfig};
use crate::keepalive::KeepaliveConfig;
use crate::turn::TurnUrl;

/// Which candidates the session uses (WebRTC's `iceTransportPolicy`, plus the reverse).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RelayPolicy {
    /// Direct where possible, TURN where not (the default).
    #[default]
    All,
    /// Only relayed candidates: the peer never learns a local or public address.
    RelayOnly,
    /// Never relay, even if TURN servers are configured (direct or nothing).
    NoRelay,
}

/// A TURN server: an RFC 7065 URL and long-term credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct TurnServer {
    /// `turn:HOST[:PORT][?transport=udp|tcp]` or `turns:HOST[:PORT]`.
    pub url: String,
    /// Username (for REST-API credentials, `expiry:user`).
    pub username: String,
    /// Password.
    pub password: String,
}

impl TurnServer {
    /// A server with static long-term credentials.
    pub fn new(
        url: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        TurnServer {
            url: url.into(),
            username: username.into(),
            password: password.into(),
        }
    }

    /// A server with TURN REST-API credentials (coturn's `use-auth-secret`) derived from
    /// the shared `secret`, valid for `ttl` from `unix_now` (seconds since 1970).
    pub fn with_rest_secret(
        url: impl Into<String>,
        secret: &str,
        user: &str,
        unix_now: u64,
        ttl: Duration,
    ) -> Self {
        let c = crate::turn::rest_api_credentials(secret, user, unix_now, ttl);
        TurnServer::new(url, c.username, c.password)
    }
}

impl std::fmt::Debug for TurnServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnServer")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .finish()
    }
}

/// Session configuration. Build it with `SessionConfig::default()` and the `with_*`
/// methods; every field has a documented default.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SessionConfig {
    /// Controlling, controlled, or decided with the peer (default [`Role::Auto`]).
    pub role: Role,
    /// STUN servers as `HOST[:PORT]` (port 3478 by default); names are resolved by the
    /// pump. Default none.
    pub stun_servers: Vec<String>,
    /// TURN servers. Default none.
    pub turn_servers: Vec<TurnServer>,
    /// PEM certificates trusted for `turns:` servers on top of the web PKI roots; a
    /// self-signed server certificate listed here is pinned. Default none.
    pub turn_ca_pem: Option<Vec<u8>>,
    /// Which candidates to use (default [`RelayPolicy::All`]).
    pub relay_policy: RelayPolicy,
    /// Bind only these addresses. Default empty: every usable address of every interface
    /// that is up (no loopback, no link-local). A loopback address here is offered as a
    /// host candidate.
    pub bind: Vec<IpAddr>,
    /// Local UDP port for every socket (default 0: any).
    pub port: u16,
    /// Use IPv4 (default true).
    pub ipv4: bool,
    /// Use IPv6 (default true).
    pub ipv6: bool,
    /// Offer link-local addresses as host candidates (default false).
    pub include_link_local: bool,
    /// Received datagrams held for the application before new ones are dropped and
    /// counted (default 256).
    pub receive_queue: usize,
    /// Datagrams `send` accepts before the session is connected, sent once it is
    /// (default 0: sending before connected is an error).
    pub early_send_queue: usize,
    /// Longest the pump may take to resolve a server name before the session starts
    /// without it (default 5 s).
    pub dns_timeout: Duration,
    /// How the session reacts to network change (see `NetworkPolicy`).
    pub network: NetworkPolicy,
    /// Whether a pump that can watch the host's network by itself does (default true):
    /// the tokio runtime runs its netlink monitor on Linux when `bind` is empty. False:
    /// the session hears of network changes only through `network_changed` calls (the
    /// runtime lists the interfaces again on each), as on the platforms without a
    /// monitor — for a host whose own connectivity callbacks should be the only source.
    pub network_monitor: bool,
    /// How often the path carries a keepalive (default: Pinhole's adaptive policy, see
    /// [`crate::keepalive`]). It sets the agent's keepalive timing at run time, so
    /// `ice.keepalive` is overwritten.
    pub keepalive: KeepaliveConfig,
    /// Port mapping: whether the session asks the default gateway (NAT-PMP, PCP,
    /// UPnP-IGD) to forward a port to each socket, offered to the peer as a candidate
    /// (default on, every protocol; see `session::portmap`). Turn it off
    /// ([`PortMapPolicy::disabled`]) for apps that must not touch the router. Needs the
    /// pump to name the gateway ([`Input::Gateway`](super::Input::Gateway)).
    pub port_mapping: PortMapPolicy,
    /// Hard-NAT punching: the birthday-paradox punch between an endpoint-independent NAT
    /// and a symmetric one, with its budget (default on, see [`PunchConfig`]). Its
    /// NAT discovery runs against the first IPv4 STUN server, which must support RFC 5780
    /// (OTHER-ADDRESS). Off (`enabled: false`): no discovery, no punch, such cells stay on
    /// the relay. Overrides `ice.punch`.
    pub hard_nat: PunchConfig,
    /// Advanced ICE tuning (timers, pacing, caps). Its role, server, policy, loopback and
    /// punch fields are overwritten from the fields above.
    pub ice: IceConfig,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            role: Role::Auto,
            stun_servers: Vec::new(),
            turn_servers: Vec::new(),
            turn_ca_pem: None,
            relay_policy: RelayPolicy::All,
            bind: Vec::new(),
            port: 0,
            ipv4: true,
            ipv6: true,
            include_link_local: false,
            receive_queue: 256,
            early_send_queue: 0,
            dns_timeout: Duration::from_secs(5),
            network: NetworkPolicy::default(),
            network_monitor: true,
            keepalive: KeepaliveConfig::default(),
            port_mapping: PortMapPolicy::default(),
            hard_nat: PunchConfig::default(),
            ice: IceConfig::default(),
        }
    }
}

impl SessionConfig {
    /// Sets the role.
    pub fn with_role(mut self, role: Role) -> Self {
        self.role = role;
        self
    }
    /// Adds a STUN server (`HOST[:PORT]`).
    pub fn with_stun_server(mut self, server: impl Into<String>) -> Self {
        self.stun_servers.push(server.into());
        self
    }
    /// Adds a TURN server.
    pub fn with_turn_server(mut self, server: TurnServer) -> Self {
        self.turn_servers.push(server);
        self
    }
    /// Trusts (and pins) these PEM certificates for `turns:` servers.
    pub fn with_turn_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.turn_ca_pem = Some(pem.into());
        self
    }
    /// Sets the relay policy.
    pub fn with_relay_policy(mut self, policy: RelayPolicy) -> Self {
        self.relay_policy = policy;
        self
    }
    /// Binds this address only (may be called several times).
    pub fn with_bind(mut self, ip: IpAddr) -> Self {
        self.bind.push(ip);
        self
    }
    /// Uses this local port on every socket.
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }
    /// Enables or disables IPv4 and IPv6.
    pub fn with_ip_families(mut self, ipv4: bool, ipv6: bool) -> Self {
        self.ipv4 = ipv4;
        self.ipv6 = ipv6;
        self
    }
    /// Holds up to `n` datagrams sent before the session is connected.
    pub fn with_early_send_queue(mut self, n: usize) -> Self {
        self.early_send_queue = n;
        self
    }
    /// Holds up to `n` received datagrams for the application.
    pub fn with_receive_queue(mut self, n: usize) -> Self {
        self.receive_queue = n;
        self
    }
    /// Lets a pump with an OS network monitor use it (true, the default) or not.
    pub fn with_network_monitor(mut self, on: bool) -> Self {
        self.network_monitor = on;
        self
    }
    /// Sets the keepalive policy.
    pub fn with_keepalive(mut self, keepalive: KeepaliveConfig) -> Self {
        self.keepalive = keepalive;
        self
    }
    /// Sets the port-mapping policy ([`PortMapPolicy::disabled`] to leave the router alone).
    pub fn with_port_mapping(mut self, policy: PortMapPolicy) -> Self {
        self.port_mapping = policy;
        self
    }
    /// Sets the hard-NAT punching settings ([`PunchConfig::disabled`] to opt out).
    pub fn with_hard_nat(mut self, punch: PunchConfig) -> Self {
        self.hard_nat = punch;
        self
    }
    /// Replaces the advanced ICE tuning.
    pub fn with_ice(mut self, ice: IceConfig) -> Self {
        self.ice = ice;
        self
    }

    /// Checks everything that can be checked without I/O ([`Session::new`](super::Session::new)
    /// does too): address families, bind addresses, server syntax, relay policy.
    pub fn check(&self) -> Result<(), ConfigError> {
        self.validate().map(|_| ())
    }

    /// [`SessionConfig::check`], returning the parsed servers.
    pub(super) fn validate(&self) -> Result<Servers, ConfigError> {
        if !self.ipv4 && !self.ipv6 {
            return Err(ConfigError::NoAddressFamily);
        }
        for ip in &self.bind {
            if (ip.is_ipv4() && !self.ipv4) || (ip.is_ipv6() && !self.ipv6) {
                return Err(ConfigError::BindFamily(*ip));
            }
            if ip.is_unspecified() {
                return Err(ConfigError::BindUnspecified(*ip));
            }
        }
        if self.receive_queue == 0 {
            return Err(ConfigError::ZeroReceiveQueue);
        }
        let mut servers = Servers::default();
        for s in &self.stun_servers {
            servers
                .stun
                .push(
                    parse_host_port(s, 3478).map_err(|reason| ConfigError::BadStunServer {
                        server: s.clone(),
                        reason,
                    })?,
                );
        }
        if self.relay_policy != RelayPolicy::NoRelay {
            for t in &self.turn_servers {
                let url: TurnUrl =
                    t.url
                        .parse()
                        .map_err(|e: crate::turn::TurnError| ConfigError::BadTurnUrl {
                            url: t.url.clone(),
                            reason: e.to_string(),
                        })?;
                if t.username.is_empty() {
                    return Err(ConfigError::TurnWithoutCredentials(t.url.clone()));
                }
                servers.turn.push((url, t.clone()));
            }
        }
        if self.relay_policy == RelayPolicy::RelayOnly && servers.turn.is_empty() {
            return Err(ConfigError::RelayOnlyWithoutTurn);
        }
        Ok(servers)
    }
}

/// The servers of a valid configuration, parsed but not resolved.
#[derive(Default, Debug)]
pub(super) struct Servers {
    pub(super) stun: Vec<(String, u16)>,
    pub(super) turn: Vec<(TurnUrl, TurnServer)>,
}

/// `HOST[:PORT]`, `[V6]:PORT` or a bare IPv6 literal.
fn parse_host_port(s: &str, default_port: u16) -> Result<(String, u16), &'static str> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty: expected HOST[:PORT], for example stun.example.org:3478");
    }
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok((a.ip().to_string(), a.port()));
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok((ip.to_string(), default_port));
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (host, port) = rest
            .split_once(']')
            .ok_or("unclosed '[': expected [IPV6]:PORT")?;
        let port = match port.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| "the port is not a number 1-65535")?,
            None if port.is_empty() => default_port,
            None => return Err("expected [IPV6]:PORT"),
        };
        return Ok((host.to_owned(), port));
    }
    match s.rsplit_once(':') {
        Some((host, port)) => {
            let port: u16 = port
                .parse()
                .map_err(|_| "the port is not a number 1-65535")?;
            if port == 0 || host.is_empty() {
                return Err("expected HOST:PORT with a port 1-65535");
            }
            Ok((host.to_owned(), port))
        }
        None => Ok((s.to_owned(), default_port)),
    }
}

/// A configuration that cannot work, and what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Both families off.
    #[error("IPv4 and IPv6 are both disabled: enable at least one")]
    NoAddressFamily,
    /// A bind address of a disabled family.
    #[error(
        "bind address {0} belongs to a disabled address family: enable it or drop the address"
    )]
    BindFamily(IpAddr),
    /// 0.0.0.0 or ::.
    #[error("bind address {0} is unspecified: ICE needs concrete addresses (leave bind empty to use every interface)")]
    BindUnspecified(IpAddr),
    /// No room for received data.
    #[error("receive_queue is 0: every received datagram would be dropped; use at least 1")]
    ZeroReceiveQueue,
    /// A STUN server that does not parse.
    #[error("STUN server {server:?}: {reason}")]
    BadStunServer {
        /// As given.
        server: String,
        /// Why.
        reason: &'static str,
    },
    /// A TURN URL that does not parse.
    #[error("TURN server {url:?}: {reason}")]
    BadTurnUrl {
        /// As given.
        url: String,
        /// Why.
        reason: String,
    },
    /// A TURN server without a username.
    #[error("TURN server {0:?} has no username: TURN servers require long-term credentials")]
    TurnWithoutCredentials(String),
    /// Relay-only without a TURN server.
    #[error("relay policy is relay-only but no TURN server is configured: add one, or use RelayPolicy::All")]
    RelayOnlyWithoutTurn,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        assert_eq!(
            parse_host_port("stun.example.org", 3478).unwrap(),
            ("stun.example.org".into(), 3478)
        );
        assert_eq!(
            parse_host_port("stun.example.org:19302", 3478).unwrap().1,
            19302
        );
        assert_eq!(
            parse_host_port("192.0.2.1:5000", 3478).unwrap(),
            ("192.0.2.1".into(), 5000)
        );
        assert_eq!(
            parse_host_port("2001:db8::1", 3478).unwrap(),
            ("2001:db8::1".into(), 3478)
        );
        assert_eq!(
            parse_host_port("[2001:db8::1]:9", 3478).unwrap(),
            ("2001:db8::1".into(), 9)
        );
        assert!(parse_host_port("host:0", 3478).is_err());
        assert!(parse_host_port("host:x", 3478).is_err());
        assert!(parse_host_port("", 3478).is_err());
    }

    #[test]
    fn impossible_configs_say_what_to_change() {
        let e = |c: SessionConfig| c.validate().unwrap_err().to_string();
        assert!(e(SessionConfig::default().with_ip_families(false, false))
            .contains("enable at least one"));
        assert!(
            e(SessionConfig::default().with_relay_policy(RelayPolicy::RelayOnly))
                .contains("add one")
        );
        assert!(
            e(SessionConfig::default().with_turn_server(TurnServer::new("http://x", "u", "p")))
                .contains("turn:")
        );
        assert!(
            e(SessionConfig::default().with_turn_server(TurnServer::new("turn:x", "", "")))
                .contains("credentials")
        );
        assert!(
            e(SessionConfig::default().with_bind("0.0.0.0".parse().unwrap()))
                .contains("unspecified")
        );
        assert!(SessionConfig::default().validate().is_ok());
    }

    #[test]
    fn no_relay_ignores_turn_servers() {
        let c = SessionConfig::default()
            .with_turn_server(TurnServer::new("turn:192.0.2.1", "u", "p"))
            .with_relay_policy(RelayPolicy::NoRelay);
        assert!(c.validate().unwrap().turn.is_empty());
    }

    #[test]
    fn debug_hides_turn_passwords() {
        let s = format!("{:?}", TurnServer::new("turn:x", "u", "secret"));
        assert!(!s.contains("secret"));
    }
}
