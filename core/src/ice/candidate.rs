//! The ICE candidate and its SDP form (RFC 8445 §5.1, RFC 8839 §5.1).
//!
//! ```text
//! candidate:<foundation> <component> <transport> <priority> <address> <port>
//!     typ <host|srflx|prflx|relay> [raddr <address> rport <port>]
//!     [tcptype <active|passive|so>] *(<extension-name> <extension-value>)
//! ```
//!
//! [`Candidate::parse`] accepts what Chrome (libwebrtc), Firefox, libnice, pion
//! and aioice put on the wire: with or without `a=` and `candidate:`,
//! any case for keywords (`UDP`, `TYP`), `raddr`/`rport`/`tcptype` among the
//! extensions, mDNS `.local` host names, surrounding whitespace. It rejects
//! anything that cannot be a valid candidate with a [`CandidateParseError`]
//! naming the field and what was expected.
//!
//! [`Candidate`]'s `Display` writes the canonical form: `candidate:` prefix,
//! lowercase keywords, `raddr`/`rport` right after the type, then `tcptype`,
//! then the extensions in the order they were received.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// The largest candidate priority RFC 8445 §5.1.2 allows (2^31 − 1).
pub(super) const MAX_PRIORITY: u32 = 0x7FFF_FFFF;
/// The largest component ID RFC 8445 §5.1.1 allows.
pub(super) const MAX_COMPONENT: u16 = 256;

/// `ice-char` from RFC 8839 §5.1: `ALPHA / DIGIT / "+" / "/"`.
pub(super) fn is_ice_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '+' || c == '/'
}

/// A candidate foundation: 1 to 32 `ice-char`s (RFC 8839 §5.1).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Foundation(String);

impl Foundation {
    /// Validates `s` as a foundation.
    pub fn new(s: &str) -> Result<Self, CandidateParseError> {
        if (1..=32).contains(&s.len()) && s.chars().all(is_ice_char) {
            Ok(Foundation(s.to_owned()))
        } else {
            Err(CandidateParseError::InvalidFoundation(s.to_owned()))
        }
    }

    /// The foundation text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Foundation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Foundation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Candidate type (RFC 8445 §5.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CandidateType {
    /// An address on a local interface (`host`).
    Host,
    /// The address a STUN server saw (`srflx`).
    ServerReflexive,
    /// An address learned from a peer's connectivity check (`prflx`).
    PeerReflexive,
    /// An address allocated on a TURN server (`relay`).
    Relayed,
}

impl CandidateType {
    /// The SDP token: `host`, `srflx`, `prflx` or `relay`.
    pub fn as_str(self) -> &'static str {
        match self {
            CandidateType::Host => "host",
            CandidateType::ServerReflexive => "srflx",
            CandidateType::PeerReflexive => "prflx",
            CandidateType::Relayed => "relay",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        let t = match s.to_ascii_lowercase().as_str() {
            "host" => CandidateType::Host,
            "srflx" => CandidateType::ServerReflexive,
            "prflx" => CandidateType::PeerReflexive,
            "relay" => CandidateType::Relayed,
            _ => return None,
        };
        Some(t)
    }
}

impl fmt::Display for CandidateType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Transport protocol of a candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// UDP (RFC 8445).
    Udp,
    /// TCP (RFC 6544); see [`Candidate::tcp_type`].
    Tcp,
}

impl Transport {
    /// The canonical (lowercase) SDP token.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The role of a TCP candidate (RFC 6544 §4.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TcpType {
    /// Opens outgoing connections only (`active`, usually port 9).
    Active,
    /// Accepts incoming connections only (`passive`).
    Passive,
    /// Simultaneous open (`so`).
    SimultaneousOpen,
}

impl TcpType {
    /// The SDP token: `active`, `passive` or `so`.
    pub fn as_str(self) -> &'static str {
        match self {
            TcpType::Active => "active",
            TcpType::Passive => "passive",
            TcpType::SimultaneousOpen => "so",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        let t = match s.to_ascii_lowercase().as_str() {
            "active" => TcpType::Active,
            "passive" => TcpType::Passive,
            "so" => TcpType::SimultaneousOpen,
            _ => return None,
        };
        Some(t)
    }
}

/// A connection address as it appears in a candidate line.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CandidateAddress {
    /// An IPv4 or IPv6 address (never with a zone).
    Ip(IpAddr),
    /// An mDNS host name ending in `.local`, as browsers emit to hide local
    /// addresses (`3f6b2a9e-1b7c-4b1d-9c3e-0d2f6f6f7a11.local`). The agent must
    /// resolve it, or ignore the candidate, before pairing.
    Mdns(String),
}

impl CandidateAddress {
    /// The IP address, if this is not an mDNS name.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            CandidateAddress::Ip(ip) => Some(*ip),
            CandidateAddress::Mdns(_) => None,
        }
    }

    fn parse(s: &str) -> Result<Self, CandidateParseError> {
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(CandidateAddress::Ip(ip));
        }
        if s.contains('%') && s.contains(':') {
            return Err(CandidateParseError::ZonedAddress(s.to_owned()));
        }
        if is_mdns_name(s) {
            return Ok(CandidateAddress::Mdns(s.to_owned()));
        }
        Err(CandidateParseError::InvalidAddress(s.to_owned()))
    }
}

impl From<IpAddr> for CandidateAddress {
    fn from(ip: IpAddr) -> Self {
        CandidateAddress::Ip(ip)
    }
}

impl fmt::Display for CandidateAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CandidateAddress::Ip(ip) => write!(f, "{ip}"),
            CandidateAddress::Mdns(name) => f.write_str(name),
        }
    }
}

/// `label(.label)*.local`, labels of letters, digits and hyphens (RFC 6762).
fn is_mdns_name(s: &str) -> bool {
    let Some(stem) = s
        .len()
        .checked_sub(6)
        .filter(|&i| s.is_char_boundary(i) && s[i..].eq_ignore_ascii_case(".local"))
        .map(|i| &s[..i])
    else {
        return false;
    };
    s.len() <= 255
        && !stem.is_empty()
        && stem.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// One ICE candidate (RFC 8445 §5.1.1 and its RFC 8839 SDP encoding).
///
/// Fields are public; the parser guarantees `component` is 1..=256 and
/// `priority` 1..=2^31−1, and the encoder writes whatever is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Groups candidates that are likely to share a fate (§5.1.1.3).
    pub foundation: Foundation,
    /// Component ID, 1..=256 (1 = RTP or the only component).
    pub component: u16,
    /// `udp` or `tcp`.
    pub transport: Transport,
    /// Candidate priority (§5.1.2), 1..=2^31−1.
    pub priority: u32,
    /// The connection address.
    pub address: CandidateAddress,
    /// The port (0 is legal: active TCP candidates often use 9 or 0).
    pub port: u16,
    /// `typ`.
    pub kind: CandidateType,
    /// `raddr` and `rport`: the base or mapped address this candidate came
    /// from. Browsers write `0.0.0.0 0` / `:: 0` to hide it.
    pub related: Option<(CandidateAddress, u16)>,
    /// `tcptype`, for TCP candidates (RFC 6544).
    pub tcp_type: Option<TcpType>,
    /// Every other `name value` pair (`generation`, `ufrag`, `network-id`,
    /// `network-cost`, ...) in the order received; re-emitted as is.
    pub extensions: Vec<(String, String)>,
}

impl Candidate {
    /// A candidate without related address, tcptype or extensions.
    pub fn new(
        foundation: Foundation,
        component: u16,
        transport: Transport,
        priority: u32,
        address: impl Into<CandidateAddress>,
        port: u16,
        kind: CandidateType,
    ) -> Self {
        Candidate {
            foundation,
            component,
            transport,
            priority,
            address: address.into(),
            port,
            kind,
            related: None,
            tcp_type: None,
            extensions: Vec::new(),
        }
    }

    /// Parses an `a=candidate` value, tolerating `a=` and `candidate:`
    /// prefixes and surrounding whitespace.
    pub fn parse(line: &str) -> Result<Self, CandidateParseError> {
        let mut s = line.trim();
        if s.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("a=")) {
            s = &s[2..];
        }
        if s.get(..10)
            .is_some_and(|p| p.eq_ignore_ascii_case("candidate:"))
        {
            s = &s[10..];
        }
        let mut tokens = s.split_ascii_whitespace();
        let mut next = |what: &'static str| tokens.next().ok_or(CandidateParseError::Missing(what));

        let foundation = Foundation::new(next("foundation")?)?;
        let component = parse_component(next("component id")?)?;
        let transport_str = next("transport")?;
        let transport = match transport_str.to_ascii_lowercase().as_str() {
            "udp" => Transport::Udp,
            "tcp" => Transport::Tcp,
            _ => {
                return Err(CandidateParseError::UnsupportedTransport(
                    transport_str.into(),
                ))
            }
        };
        let priority = parse_priority(next("priority")?)?;
        let address = CandidateAddress::parse(next("connection address")?)?;
        let port = parse_port("port", next("port")?)?;
        let typ = next("\"typ\"")?;
        if !typ.eq_ignore_ascii_case("typ") {
            return Err(CandidateParseError::ExpectedTyp(typ.into()));
        }
        let kind_str = next("candidate type")?;
        let kind = CandidateType::parse(kind_str)
            .ok_or_else(|| CandidateParseError::UnknownType(kind_str.into()))?;

        let mut candidate = Candidate::new(
            foundation, component, transport, priority, address, port, kind,
        );
        let mut raddr: Option<CandidateAddress> = None;
        let mut rport: Option<u16> = None;
        while let Some(name) = tokens.next() {
            let value = tokens
                .next()
                .ok_or_else(|| CandidateParseError::MissingValue(name.into()))?;
            if let Some(bad) = [name, value].into_iter().find(|t| t.contains('\0')) {
                return Err(CandidateParseError::InvalidExtension(
                    bad.escape_debug().to_string(),
                ));
            }
            let key = name.to_ascii_lowercase();
            let duplicate = match key.as_str() {
                "raddr" => raddr.replace(CandidateAddress::parse(value)?).is_some(),
                "rport" => rport.replace(parse_port("rport", value)?).is_some(),
                "tcptype" => {
                    let t = TcpType::parse(value)
                        .ok_or_else(|| CandidateParseError::InvalidTcpType(value.into()))?;
                    candidate.tcp_type.replace(t).is_some()
                }
                _ => {
                    candidate.extensions.push((name.into(), value.into()));
                    false
                }
            };
            if duplicate {
                return Err(CandidateParseError::Duplicate(key));
            }
        }
        candidate.related = match (raddr, rport) {
            (Some(a), Some(p)) => Some((a, p)),
            (None, None) => None,
            (Some(_), None) => {
                return Err(CandidateParseError::Missing("\"rport\" after \"raddr\""))
            }
            (None, Some(_)) => {
                return Err(CandidateParseError::Missing("\"raddr\" before \"rport\""))
            }
        };
        if candidate.transport == Transport::Udp {
            if let Some(t) = candidate.tcp_type {
                return Err(CandidateParseError::TcpTypeOnUdp(t.as_str().into()));
            }
        }
        Ok(candidate)
    }

    /// The first extension named `name` (ASCII case-insensitive).
    pub fn extension(&self, name: &str) -> Option<&str> {
        self.extensions
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `generation` (libwebrtc): which ICE generation the candidate belongs to.
    pub fn generation(&self) -> Option<u32> {
        self.extension("generation")?.parse().ok()
    }

    /// `ufrag` (libwebrtc): the username fragment the candidate belongs to.
    pub fn ufrag(&self) -> Option<&str> {
        self.extension("ufrag")
    }

    /// `network-id` (libwebrtc): the sender's id for the interface.
    pub fn network_id(&self) -> Option<u32> {
        self.extension("network-id")?.parse().ok()
    }

    /// `network-cost` (libwebrtc): 0 ethernet, 10 Wi-Fi, 50 unknown, 900 cellular,
    /// 999 undisclosed.
    pub fn network_cost(&self) -> Option<u16> {
        self.extension("network-cost")?.parse().ok()
    }

    /// Whether the connection address is an mDNS name still to be resolved.
    pub fn is_mdns(&self) -> bool {
        matches!(self.address, CandidateAddress::Mdns(_))
    }
}

fn parse_component(s: &str) -> Result<u16, CandidateParseError> {
    match s.parse::<u16>() {
        Ok(c) if (1..=MAX_COMPONENT).contains(&c) && is_digits(s) => Ok(c),
        _ => Err(CandidateParseError::InvalidComponent(s.into())),
    }
}

fn parse_priority(s: &str) -> Result<u32, CandidateParseError> {
    match s.parse::<u32>() {
        Ok(p) if (1..=MAX_PRIORITY).contains(&p) && is_digits(s) => Ok(p),
        _ => Err(CandidateParseError::InvalidPriority(s.into())),
    }
}

fn parse_port(field: &'static str, s: &str) -> Result<u16, CandidateParseError> {
    match s.parse::<u16>() {
        Ok(p) if is_digits(s) => Ok(p),
        _ => Err(CandidateParseError::InvalidPort {
            field,
            value: s.into(),
        }),
    }
}

/// `str::parse` accepts a leading `+`; the grammar does not.
fn is_digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

impl FromStr for Candidate {
    type Err = CandidateParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Candidate::parse(s)
    }
}

impl fmt::Display for Candidate {
    /// The canonical `candidate:...` form (the attribute value, without `a=`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "candidate:{} {} {} {} {} {} typ {}",
            self.foundation,
            self.component,
            self.transport,
            self.priority,
            self.address,
            self.port,
            self.kind
        )?;
        if let Some((addr, port)) = &self.related {
            write!(f, " raddr {addr} rport {port}")?;
        }
        if let Some(t) = self.tcp_type {
            write!(f, " tcptype {}", t.as_str())?;
        }
        for (k, v) in &self.extensions {
            write!(f, " {k} {v}")?;
        }
        Ok(())
    }
}

/// Why a candidate line was rejected. Each message quotes the offending field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CandidateParseError {
    /// The line ended before a required field.
    #[error("candidate line is missing the {0}: expected \"candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type>\"")]
    Missing(&'static str),
    /// Bad foundation.
    #[error("invalid foundation \"{0}\" in candidate line: expected 1 to 32 characters from A-Z a-z 0-9 + /")]
    InvalidFoundation(String),
    /// Bad component id.
    #[error("invalid component id \"{0}\" in candidate line: expected 1..=256")]
    InvalidComponent(String),
    /// A transport other than UDP or TCP; the candidate can be ignored.
    #[error("unsupported transport \"{0}\" in candidate line: expected udp or tcp")]
    UnsupportedTransport(String),
    /// Bad priority.
    #[error("invalid priority \"{0}\" in candidate line: expected 1..=2147483647")]
    InvalidPriority(String),
    /// Neither an IP address nor an mDNS name.
    #[error("invalid connection address \"{0}\" in candidate line: expected an IPv4 or IPv6 address or an mDNS name ending in .local")]
    InvalidAddress(String),
    /// An IPv6 address with a `%zone`.
    #[error("invalid connection address \"{0}\" in candidate line: expected an IPv6 address without a %zone suffix")]
    ZonedAddress(String),
    /// Bad port or rport.
    #[error("invalid {field} \"{value}\" in candidate line: expected 0..=65535")]
    InvalidPort {
        /// `port` or `rport`.
        field: &'static str,
        /// The text found.
        value: String,
    },
    /// Something other than `typ` after the port.
    #[error("unexpected \"{0}\" after the port in candidate line: expected \"typ\"")]
    ExpectedTyp(String),
    /// Unknown candidate type.
    #[error(
        "unknown candidate type \"{0}\" in candidate line: expected host, srflx, prflx or relay"
    )]
    UnknownType(String),
    /// Unknown tcptype.
    #[error("invalid tcptype \"{0}\" in candidate line: expected active, passive or so")]
    InvalidTcpType(String),
    /// `tcptype` on a UDP candidate.
    #[error("tcptype \"{0}\" on a UDP candidate line: expected tcptype only with transport tcp")]
    TcpTypeOnUdp(String),
    /// An attribute name without a value.
    #[error("attribute \"{0}\" has no value in candidate line: expected \"{0} <value>\"")]
    MissingValue(String),
    /// An extension name or value containing NUL (RFC 8839 `byte-string`).
    #[error(
        "invalid extension attribute \"{0}\" in candidate line: expected a byte string without NUL"
    )]
    InvalidExtension(String),
    /// `raddr`, `rport` or `tcptype` given twice.
    #[error("attribute \"{0}\" appears twice in candidate line: expected it at most once")]
    Duplicate(String),
}
