//! `turn:` and `turns:` URLs (RFC 7065).

use std::str::FromStr;

use crate::turn::{TransportKind, TurnError};

/// A parsed TURN server URL: `turn:HOST[:PORT][?transport=udp|tcp]` or
/// `turns:HOST[:PORT][?transport=tcp]`. Default ports: 3478 (`turn:`), 5349 (`turns:`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TurnUrl {
    /// A DNS name or an IP address (IPv6 without brackets).
    pub host: String,
    /// The port (default 3478 for `turn:`, 5349 for `turns:`).
    pub port: u16,
    /// UDP or TCP for `turn:`, TLS for `turns:`.
    pub transport: TransportKind,
}

impl TurnUrl {
    /// `host:port` for DNS resolution (IPv6 in brackets).
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl std::fmt::Display for TurnUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.transport {
            TransportKind::Tls => write!(f, "turns:{}", self.host_port()),
            t => write!(f, "turn:{}?transport={t}", self.host_port()),
        }
    }
}

impl FromStr for TurnUrl {
    type Err = TurnError;

    fn from_str(url: &str) -> Result<Self, TurnError> {
        let bad = |reason| TurnError::BadUrl {
            url: url.to_string(),
            reason,
        };
        // Schemes are case-insensitive (RFC 3986 §3.1): "TURN:" and "Turns:" are fine.
        let (secure, rest) = if let Some(r) = strip_prefix_ignore_case(url, "turns:") {
            (true, r)
        } else if let Some(r) = strip_prefix_ignore_case(url, "turn:") {
            (false, r)
        } else {
            return Err(bad("the scheme must be turn: or turns:"));
        };
        // RFC 7065 has no "//", but many configurations carry one; accept it.
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let (authority, query) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (rest, None),
        };
        let transport = match query {
            None => None,
            // ABNF literals are case-insensitive (RFC 5234 §2.3), so RFC 7065's
            // "transport=" and "udp" / "tcp" are too.
            Some(q) => match strip_prefix_ignore_case(q, "transport=") {
                Some(t) if t.eq_ignore_ascii_case("udp") => Some(TransportKind::Udp),
                Some(t) if t.eq_ignore_ascii_case("tcp") => Some(TransportKind::Tcp),
                _ => {
                    return Err(bad(
                        "the only query allowed is transport=udp or transport=tcp",
                    ))
                }
            },
        };
        let transport = match (secure, transport) {
            (false, t) => t.unwrap_or(TransportKind::Udp),
            (true, None | Some(TransportKind::Tcp)) => TransportKind::Tls,
            (true, Some(_)) => return Err(bad("turns: over UDP (DTLS) is not supported")),
        };
        let default_port = if secure { 5349 } else { 3478 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or(bad("unclosed [ in IPv6 host"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(bad("unexpected text after the IPv6 host")),
            };
            (host, port)
        } else {
            match authority.rsplit_once(':') {
                // "turn:2001:db8::1" would split into host "2001:db8:" and port 1.
                Some((h, _)) if h.contains(':') => {
                    return Err(bad(
                        "an IPv6 address must be in brackets, e.g. turn:[2001:db8::1]:3478",
                    ))
                }
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() || host.contains(['/', '@', ' ']) {
            return Err(bad("missing or invalid host"));
        }
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or(bad("the port must be 1-65535"))?,
            None => default_port,
        };
        // Checked last, so that a malformed turns: URL is still reported as malformed.
        if transport == TransportKind::Tls && !cfg!(feature = "tls") {
            return Err(TurnError::TlsUnavailable {
                url: url.to_string(),
            });
        }
        Ok(TurnUrl {
            host: host.to_string(),
            port,
            transport,
        })
    }
}

/// `s` without `prefix`, compared ASCII case-insensitively.
fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<TurnUrl, TurnError> {
        s.parse()
    }

    #[test]
    fn parses_rfc7065_forms() {
        let u = p("turn:example.org").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.transport),
            ("example.org", 3478, TransportKind::Udp)
        );
        let u = p("turn:192.0.2.1:3488?transport=tcp").unwrap();
        assert_eq!((u.port, u.transport), (3488, TransportKind::Tcp));
        assert_eq!(p("turn://h:1").unwrap().port, 1);
    }

    #[cfg(feature = "tls")]
    #[test]
    fn parses_turns_forms() {
        let u = p("turns:example.org").unwrap();
        assert_eq!((u.port, u.transport), (5349, TransportKind::Tls));
        let u = p("turns:[2001:db8::1]:443?transport=tcp").unwrap();
        assert_eq!(u.host, "2001:db8::1");
        assert_eq!(u.host_port(), "[2001:db8::1]:443");
        assert_eq!(u.to_string(), "turns:[2001:db8::1]:443");
        let u = p("TURNS:example.org:443").unwrap();
        assert_eq!((u.port, u.transport), (443, TransportKind::Tls));
        let u = p("tUrNs:[::1]?Transport=tcp").unwrap();
        assert_eq!((u.host.as_str(), u.transport), ("::1", TransportKind::Tls));
    }

    #[cfg(not(feature = "tls"))]
    #[test]
    fn turns_is_refused_without_the_tls_feature() {
        for s in ["turns:example.org", "TURNS:[::1]:443?transport=tcp"] {
            let e = p(s).unwrap_err();
            assert!(
                matches!(&e, TurnError::TlsUnavailable { url } if url == s),
                "{e:?}"
            );
            assert!(
                e.to_string().contains(
                    "this build has no TLS support: rebuild pinhole with the `tls` feature"
                ),
                "{e}"
            );
        }
        // A malformed turns: URL is still reported as malformed.
        assert!(matches!(
            p("turns:h?transport=udp"),
            Err(TurnError::BadUrl { .. })
        ));
        assert!(matches!(p("turns:h:0"), Err(TurnError::BadUrl { .. })));
    }

    #[test]
    fn rejects_bad_urls() {
        for s in [
            "stun:example.org",
            "turn:",
            "turn:h:0",
            "turn:h:99999",
            "turn:h?transport=sctp",
            "turns:h?transport=udp",
            "turn:[::1",
        ] {
            assert!(matches!(p(s), Err(TurnError::BadUrl { .. })), "{s}");
        }
    }

    #[test]
    fn bare_ipv6_host_is_refused_with_a_hint_to_use_brackets() {
        for s in [
            "turn:2001:db8::1",
            "turn:2001:db8::1:3478",
            "turns:::1",
            "turn:fe80::1?transport=tcp",
        ] {
            let e = p(s).unwrap_err();
            assert!(
                matches!(&e, TurnError::BadUrl { reason, .. } if reason.contains("brackets")),
                "{s}: {e:?}"
            );
            assert!(e.to_string().contains("turn:[2001:db8::1]:3478"), "{e}");
        }
        let u = p("turn:[2001:db8::1]").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("2001:db8::1", 3478));
    }

    #[test]
    fn scheme_and_transport_are_case_insensitive() {
        let u = p("TURN:example.org").unwrap();
        assert_eq!((u.port, u.transport), (3478, TransportKind::Udp));
        let u = p("Turn:example.org?transport=TCP").unwrap();
        assert_eq!(u.transport, TransportKind::Tcp);
        let u = p("turn:example.org?TRANSPORT=Udp").unwrap();
        assert_eq!(u.transport, TransportKind::Udp);
        assert!(p("TURNS:h?transport=UDP").is_err());
        assert!(p("TURN").is_err());
    }
}
