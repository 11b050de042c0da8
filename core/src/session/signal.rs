//! The signaling messages two sessions exchange, and their wire forms.
//!
//! The application never needs to understand them: it forwards every
//! [`Event::Signal`](super::Event::Signal) to the peer as a string
//! ([`Signal::to_json`]) and hands the peer's strings to
//! [`Session::handle_signal`](super::Session::handle_signal). The JSON form is the line
//! protocol `pinhole connect` speaks (DESIGN.md): one flat object per message, string
//! values only, so any JSON library (or a 50-line C parser) reads it:
//!
//! ```text
//! {"type":"credentials","ufrag":"...","pwd":"...","options":"trickle renomination","role":"auto","tiebreaker":"1234"}
//! {"type":"candidate","candidate":"candidate:1 1 udp 2130706431 192.0.2.1 50000 typ host"}
//! {"type":"end-of-candidates"}
//! ```
//!
//! `options`, `role` and `tiebreaker` are optional: other ICE stacks send plain
//! credentials. An ICE restart is new credentials. Apps that carry SDP themselves use the
//! RFC 8839 attribute lines instead ([`Signal::to_sdp`], [`Signal::from_sdp`]).
//!
//! A Pinhole extension: what a session found out about its NAT (RFC 5780 discovery),
//! sent once known and again when it changes, so that the two sides can decide on a
//! hard-NAT punch ([`crate::ice::PunchConfig`]). Other stacks ignore a message of an unknown
//! type, and so does a session (counted in `signals_ignored`):
//!
//! ```text
//! {"type":"nat","mapping":"address-and-port-dependent","filtering":"address-and-port-dependent","allocation":"sequential","last-port":"40007"}
//! ```
//!
//! `mapping` and `filtering` take the RFC 4787 words (`endpoint-independent`,
//! `address-dependent`, `address-and-port-dependent`), `no-nat` for the mapping, or
//! `unknown`; `allocation` is `random`, `sequential` (with `last-port`, the last external
//! port discovery saw) or `unknown`. Unknown words read as `unknown`. It has no SDP form.

use serde_json::{Map, Value};

use crate::ice::{
    Candidate, CandidateParseError, IceAttribute, IceCredentials, NatBehaviour, PortAllocation,
};
use crate::nat::{Filtering, Mapping, UnknownReason};

/// Who controls nomination (RFC 8445 §6.1.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Role {
    /// Decided by the two sessions' tie-breakers when the peer's credentials arrive, so
    /// apps need not pick (a peer that sends none: RFC 8445 role-conflict resolution).
    #[default]
    Auto,
    /// The controlling agent (the offerer in RFC 8445 terms).
    Controlling,
    /// The controlled agent.
    Controlled,
}

impl Role {
    /// `auto`, `controlling` or `controlled`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Auto => "auto",
            Role::Controlling => "controlling",
            Role::Controlled => "controlled",
        }
    }

    fn parse(s: &str) -> Option<Role> {
        match s {
            "auto" => Some(Role::Auto),
            "controlling" => Some(Role::Controlling),
            "controlled" => Some(Role::Controlled),
            _ => None,
        }
    }
}

/// One side's credentials for one ICE generation, with what the peer needs to agree on
/// roles and options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignalCredentials {
    /// ufrag and password.
    pub credentials: IceCredentials,
    /// `ice-options` tags (`trickle`, `renomination`).
    pub options: Vec<String>,
    /// The sender's configured role.
    pub role: Option<Role>,
    /// The sender's ICE tie-breaker, for [`Role::Auto`].
    pub tie_breaker: Option<u64>,
}

/// A signaling message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Signal {
    /// Credentials: the first message of a session, and of every ICE restart.
    Credentials(SignalCredentials),
    /// One trickled candidate.
    Candidate(Candidate),
    /// No more candidates in this generation.
    EndOfCandidates,
    /// What the sender knows of its NAT (a Pinhole extension, see the module docs).
    Nat(NatBehaviour),
}

/// Why a signaling string was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignalError {
    /// Not JSON at all.
    #[error("not JSON ({0}): a signaling message is one JSON object")]
    NotJson(String),
    /// JSON, but not an object with a string `type`.
    #[error("not a signaling message: a JSON object with a string \"type\" was expected")]
    NoType,
    /// A known type with a missing or non-string field.
    #[error("{kind} message without a string {field:?}")]
    MissingField {
        /// The message type.
        kind: String,
        /// The missing field.
        field: &'static str,
    },
    /// Credentials that RFC 8839 does not allow.
    #[error("bad credentials: {0}")]
    BadCredentials(String),
    /// A field with a value outside its range.
    #[error("bad {field} {value:?}: {reason}")]
    BadField {
        /// The field.
        field: &'static str,
        /// What was received.
        value: String,
        /// What is allowed.
        reason: &'static str,
    },
    /// A candidate line that does not parse.
    #[error("bad candidate {line:?}: {source}")]
    BadCandidate {
        /// The line.
        line: String,
        /// Why.
        source: CandidateParseError,
    },
    /// An SDP line that is not an ICE attribute.
    #[error("not an ICE SDP attribute: {0:?}")]
    NotIceSdp(String),
}

impl Signal {
    /// The JSON wire form: one line, no newline.
    pub fn to_json(&self) -> String {
        let mut m = Map::new();
        let mut put = |k: &str, v: &str| {
            m.insert(k.to_owned(), Value::String(v.to_owned()));
        };
        match self {
            Signal::Credentials(c) => {
                put("type", "credentials");
                put("ufrag", c.credentials.ufrag.as_str());
                put("pwd", c.credentials.pwd.as_str());
                if !c.options.is_empty() {
                    put("options", &c.options.join(" "));
                }
                if let Some(r) = c.role {
                    put("role", r.as_str());
                }
                if let Some(t) = c.tie_breaker {
                    put("tiebreaker", &t.to_string());
                }
            }
            Signal::Candidate(c) => {
                put("type", "candidate");
                put("candidate", &c.to_string());
            }
            Signal::EndOfCandidates => put("type", "end-of-candidates"),
            Signal::Nat(n) => {
                put("type", "nat");
                put("mapping", n.mapping.as_str());
                put("filtering", n.filtering.as_str());
                match n.allocation {
                    PortAllocation::Unknown => put("allocation", "unknown"),
                    PortAllocation::Random => put("allocation", "random"),
                    PortAllocation::Sequential { last } => {
                        put("allocation", "sequential");
                        put("last-port", &last.to_string());
                    }
                }
            }
        }
        Value::Object(m).to_string()
    }

    /// Parses the JSON wire form. `Ok(None)`: a valid message of a type a session does
    /// not act on (the peer's `connected` or `data` lines, future types).
    pub fn from_json(s: &str) -> Result<Option<Signal>, SignalError> {
        let v: Value =
            serde_json::from_str(s.trim()).map_err(|e| SignalError::NotJson(e.to_string()))?;
        let kind = v
            .get("type")
            .and_then(Value::as_str)
            .ok_or(SignalError::NoType)?;
        let field = |name: &'static str| {
            v.get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| SignalError::MissingField {
                    kind: kind.to_owned(),
                    field: name,
                })
        };
        let optional = |name: &'static str| v.get(name).and_then(Value::as_str);
        match kind {
            "credentials" => {
                let credentials = IceCredentials::new(field("ufrag")?, field("pwd")?)
                    .map_err(|e| SignalError::BadCredentials(e.to_string()))?;
                let options = optional("options")
                    .map(|o| o.split_ascii_whitespace().map(str::to_owned).collect())
                    .unwrap_or_default();
                let role = match optional("role") {
                    None => None,
                    Some(r) => Some(Role::parse(r).ok_or_else(|| SignalError::BadField {
                        field: "role",
                        value: r.to_owned(),
                        reason: "expected auto, controlling or controlled",
                    })?),
                };
                let tie_breaker = match optional("tiebreaker") {
                    None => None,
                    Some(t) => Some(t.parse::<u64>().map_err(|_| SignalError::BadField {
                        field: "tiebreaker",
                        value: t.to_owned(),
                        reason: "expected a decimal 64-bit unsigned integer",
                    })?),
                };
                Ok(Some(Signal::Credentials(SignalCredentials {
                    credentials,
                    options,
                    role,
                    tie_breaker,
                })))
            }
            "candidate" => {
                let line = field("candidate")?;
                Candidate::parse(line)
                    .map(|c| Some(Signal::Candidate(c)))
                    .map_err(|source| SignalError::BadCandidate {
                        line: line.to_owned(),
                        source,
                    })
            }
            "end-of-candidates" => Ok(Some(Signal::EndOfCandidates)),
            "nat" => {
                let unknown = Mapping::Unknown(UnknownReason::NoOtherAddress);
                let mapping = match optional("mapping").unwrap_or("unknown") {
                    "no-nat" => Mapping::NoNat,
                    "endpoint-independent" => Mapping::EndpointIndependent,
                    "address-dependent" => Mapping::AddressDependent,
                    "address-and-port-dependent" => Mapping::AddressAndPortDependent,
                    _ => unknown,
                };
                let filtering = match optional("filtering").unwrap_or("unknown") {
                    "endpoint-independent" => Filtering::EndpointIndependent,
                    "address-dependent" => Filtering::AddressDependent,
                    "address-and-port-dependent" => Filtering::AddressAndPortDependent,
                    _ => Filtering::Unknown(UnknownReason::NoOtherAddress),
                };
                let allocation = match optional("allocation") {
                    Some("random") => PortAllocation::Random,
                    Some("sequential") => {
                        let p = field("last-port")?;
                        let last = p.parse::<u16>().map_err(|_| SignalError::BadField {
                            field: "last-port",
                            value: p.to_owned(),
                            reason: "expected a port number 0-65535",
                        })?;
                        PortAllocation::Sequential { last }
                    }
                    _ => PortAllocation::Unknown,
                };
                Ok(Some(Signal::Nat(NatBehaviour {
                    mapping,
                    filtering,
                    allocation,
                })))
            }
            _ => Ok(None),
        }
    }

    /// The RFC 8839 attribute lines (with `a=`) for apps that carry SDP: `ice-ufrag`,
    /// `ice-pwd` and `ice-options` for credentials, `candidate`, `end-of-candidates`.
    /// Role and tie-breaker have no SDP form (SDP carries roles as offer/answer), nor has
    /// the NAT message (no lines: an SDP app gets no hard-NAT punch).
    pub fn to_sdp(&self) -> Vec<String> {
        match self {
            Signal::Credentials(c) => {
                let mut v = vec![
                    format!("a={}", IceAttribute::Ufrag(c.credentials.ufrag.clone())),
                    format!("a={}", IceAttribute::Password(c.credentials.pwd.clone())),
                ];
                if !c.options.is_empty() {
                    v.push(format!("a={}", IceAttribute::Options(c.options.clone())));
                }
                v
            }
            Signal::Candidate(c) => vec![format!("a={c}")],
            Signal::EndOfCandidates => vec![format!("a={}", IceAttribute::EndOfCandidates)],
            Signal::Nat(_) => Vec::new(),
        }
    }

    /// Parses RFC 8839 attribute lines (with or without `a=`) into messages: an
    /// `ice-ufrag` and `ice-pwd` pair (plus `ice-options`, in any order) become one
    /// [`Signal::Credentials`], each `candidate` one [`Signal::Candidate`],
    /// `end-of-candidates` one [`Signal::EndOfCandidates`]. Non-ICE lines are an error.
    pub fn from_sdp<'a>(
        lines: impl IntoIterator<Item = &'a str>,
    ) -> Result<Vec<Signal>, SignalError> {
        let (mut ufrag, mut pwd, mut options) = (None, None, Vec::new());
        let mut out = Vec::new();
        for line in lines {
            let t = line.trim();
            if t.is_empty() {
                continue;
            }
            let bare = t.strip_prefix("a=").unwrap_or(t);
            if bare.len() >= 10
                && bare.is_char_boundary(10)
                && bare[..10].eq_ignore_ascii_case("candidate:")
            {
                let c = Candidate::parse(bare).map_err(|source| SignalError::BadCandidate {
                    line: t.to_owned(),
                    source,
                })?;
                out.push(Signal::Candidate(c));
                continue;
            }
            match IceAttribute::parse(t) {
                Ok(IceAttribute::Ufrag(u)) => ufrag = Some(u),
                Ok(IceAttribute::Password(p)) => pwd = Some(p),
                Ok(IceAttribute::Options(o)) => options = o,
                Ok(IceAttribute::EndOfCandidates) => out.push(Signal::EndOfCandidates),
                Err(_) => return Err(SignalError::NotIceSdp(t.to_owned())),
            }
        }
        match (ufrag, pwd) {
            (Some(ufrag), Some(pwd)) => out.insert(
                0,
                Signal::Credentials(SignalCredentials {
                    credentials: IceCredentials { ufrag, pwd },
                    options,
                    role: None,
                    tie_breaker: None,
                }),
            ),
            (None, None) => {}
            _ => {
                return Err(SignalError::BadCredentials(
                    "ice-ufrag and ice-pwd must come together".into(),
                ))
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> SignalCredentials {
        SignalCredentials {
            credentials: IceCredentials::new("abcd", "0123456789abcdefghijkl").unwrap(),
            options: vec!["trickle".into(), "renomination".into()],
            role: Some(Role::Auto),
            tie_breaker: Some(u64::MAX),
        }
    }

    #[test]
    fn json_round_trips_every_message() {
        let cand =
            Candidate::parse("candidate:1 1 udp 2130706431 192.0.2.1 50000 typ host").unwrap();
        let nat = |allocation| {
            Signal::Nat(NatBehaviour {
                mapping: Mapping::AddressAndPortDependent,
                filtering: Filtering::AddressDependent,
                allocation,
            })
        };
        for s in [
            Signal::Credentials(creds()),
            Signal::Candidate(cand),
            Signal::EndOfCandidates,
            nat(PortAllocation::Sequential { last: 40007 }),
            nat(PortAllocation::Random),
            nat(PortAllocation::Unknown),
        ] {
            let line = s.to_json();
            assert!(!line.contains('\n'));
            assert_eq!(Signal::from_json(&line).unwrap(), Some(s), "{line}");
        }
    }

    #[test]
    fn the_nat_message_is_flat_strings_and_forgiving() {
        let line = Signal::Nat(NatBehaviour {
            mapping: Mapping::EndpointIndependent,
            filtering: Filtering::AddressAndPortDependent,
            allocation: PortAllocation::Unknown,
        })
        .to_json();
        let v: Value = serde_json::from_str(&line).unwrap();
        assert!(
            v.as_object().unwrap().values().all(Value::is_string),
            "{line}"
        );
        assert_eq!(v["mapping"], "endpoint-independent");
        // Words from a newer peer read as unknown; a bad port is explained.
        let Some(Signal::Nat(n)) =
            Signal::from_json(r#"{"type":"nat","mapping":"wobbly","allocation":"fancy"}"#).unwrap()
        else {
            panic!()
        };
        assert!(!n.is_easy() && !n.is_hard());
        assert_eq!(n.allocation, PortAllocation::Unknown);
        let e = Signal::from_json(r#"{"type":"nat","allocation":"sequential","last-port":"x"}"#)
            .unwrap_err();
        assert!(e.to_string().contains("last-port"), "{e}");
        assert!(Signal::Nat(n).to_sdp().is_empty());
    }

    #[test]
    fn plain_credentials_from_other_stacks_parse() {
        let s = Signal::from_json(
            r#"{"type":"credentials","ufrag":"abcd","pwd":"0123456789abcdefghijkl"}"#,
        )
        .unwrap()
        .unwrap();
        let Signal::Credentials(c) = s else { panic!() };
        assert_eq!((c.role, c.tie_breaker, c.options.len()), (None, None, 0));
    }

    #[test]
    fn bad_strings_are_explained() {
        let e = |s: &str| Signal::from_json(s).unwrap_err().to_string();
        assert!(e("hello").contains("not JSON"));
        assert!(e("[1]").contains("not a signaling message"));
        assert!(e(r#"{"type":"credentials","ufrag":"abcd"}"#).contains("\"pwd\""));
        assert!(
            e(r#"{"type":"credentials","ufrag":"a","pwd":"0123456789abcdefghijkl"}"#)
                .contains("bad credentials")
        );
        assert!(
            e(r#"{"type":"candidate","candidate":"candidate:1 1 udp"}"#).contains("bad candidate")
        );
        assert!(e(r#"{"type":"credentials","ufrag":"abcd","pwd":"0123456789abcdefghijkl","tiebreaker":"-1"}"#).contains("tiebreaker"));
        assert!(e(
            r#"{"type":"credentials","ufrag":"abcd","pwd":"0123456789abcdefghijkl","role":"boss"}"#
        )
        .contains("role"));
        assert_eq!(
            Signal::from_json(r#"{"type":"connected","path":"direct"}"#).unwrap(),
            None
        );
    }

    #[test]
    fn sdp_lines_round_trip() {
        let mut c = creds();
        c.role = None;
        c.tie_breaker = None;
        let cand =
            Candidate::parse("candidate:1 1 udp 2130706431 192.0.2.1 50000 typ host").unwrap();
        let msgs = [
            Signal::Credentials(c),
            Signal::Candidate(cand),
            Signal::EndOfCandidates,
        ];
        let lines: Vec<String> = msgs.iter().flat_map(Signal::to_sdp).collect();
        assert_eq!(lines[0], "a=ice-ufrag:abcd");
        let back = Signal::from_sdp(lines.iter().map(String::as_str)).unwrap();
        assert_eq!(back, msgs);
        assert!(Signal::from_sdp(["a=ice-ufrag:abcd"]).is_err());
        assert!(Signal::from_sdp(["m=audio 9 UDP/TLS/RTP/SAVPF 0"]).is_err());
    }
}
