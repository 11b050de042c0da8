//! ICE session attributes other than candidates (RFC 8839 §5.3–5.4, RFC 8840).
//!
//! - [`Ufrag`] / [`Password`]: `ice-ufrag` (4–256 ice-chars) and `ice-pwd`
//!   (22–256 ice-chars), validated, and generated from an injected RNG.
//! - [`IceCredentials`]: the pair, as the `pinhole connect` `credentials` line carries it.
//! - [`IceAttribute`]: parse/encode `ice-ufrag`, `ice-pwd`, `ice-options`
//!   (e.g. `trickle`) and `end-of-candidates` lines.

use std::fmt;

use rand::Rng;

use super::candidate::is_ice_char;

/// Bad `ice-ufrag`, `ice-pwd` or other ICE attribute.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IceAttributeError {
    /// Ufrag of the wrong length or with a character outside ice-char.
    #[error("invalid ice-ufrag \"{0}\": expected 4 to 256 characters from A-Z a-z 0-9 + /")]
    InvalidUfrag(String),
    /// Password of the wrong length or with a character outside ice-char.
    #[error("invalid ice-pwd (length {0}): expected 22 to 256 characters from A-Z a-z 0-9 + /")]
    InvalidPassword(usize),
    /// `ice-options` without any option.
    #[error("empty ice-options attribute: expected at least one option tag such as \"trickle\"")]
    EmptyOptions,
    /// Not an ICE attribute this module knows.
    #[error("unknown ICE attribute \"{0}\": expected ice-ufrag, ice-pwd, ice-options or end-of-candidates")]
    Unknown(String),
}

fn valid_ice_chars(s: &str, len: std::ops::RangeInclusive<usize>) -> bool {
    len.contains(&s.len()) && s.chars().all(is_ice_char)
}

/// Draws `n` ice-chars (64 symbols, 6 bits each) from `rng`.
fn random_ice_chars<R: rand::RngCore + ?Sized>(rng: &mut R, n: usize) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    (0..n)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..64)]))
        .collect()
}

/// `ice-ufrag`: 4 to 256 ice-chars; at least 24 bits of randomness when generated.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Ufrag(String);

impl Ufrag {
    /// Length of generated fragments: 4 chars × 6 bits = 24 bits (RFC 8445 §5.3).
    pub const GENERATED_LEN: usize = 4;

    /// Validates a received or configured ufrag.
    pub fn new(s: &str) -> Result<Self, IceAttributeError> {
        if valid_ice_chars(s, 4..=256) {
            Ok(Ufrag(s.to_owned()))
        } else {
            Err(IceAttributeError::InvalidUfrag(s.to_owned()))
        }
    }

    /// A fresh random ufrag of [`Ufrag::GENERATED_LEN`] characters.
    pub fn random<R: rand::RngCore + ?Sized>(rng: &mut R) -> Self {
        Ufrag(random_ice_chars(rng, Self::GENERATED_LEN))
    }

    /// The ufrag as signalled.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Ufrag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Ufrag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `ice-pwd`: 22 to 256 ice-chars; at least 128 bits of randomness when
/// generated. `Debug` does not print it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Password(String);

impl Password {
    /// Length of generated passwords: 22 chars × 6 bits = 132 bits ≥ 128 (RFC 8445 §5.3).
    pub const GENERATED_LEN: usize = 22;

    /// Validates a received or configured password.
    pub fn new(s: &str) -> Result<Self, IceAttributeError> {
        if valid_ice_chars(s, 22..=256) {
            Ok(Password(s.to_owned()))
        } else {
            Err(IceAttributeError::InvalidPassword(s.len()))
        }
    }

    /// A fresh random password.
    pub fn random<R: rand::RngCore + ?Sized>(rng: &mut R) -> Self {
        Password(random_ice_chars(rng, Self::GENERATED_LEN))
    }

    /// The text (the STUN short-term credential key).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Password(<{} chars>)", self.0.len())
    }
}

/// One side's ICE credentials (RFC 8445 §5.3): what `a=ice-ufrag` and `a=ice-pwd` carry.
/// Not a STUN username/password ([`crate::stun::Credentials`]): the agent derives the
/// check usernames and keys from these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IceCredentials {
    /// Username fragment (`ice-ufrag`).
    pub ufrag: Ufrag,
    /// Password (`ice-pwd`).
    pub pwd: Password,
}

impl IceCredentials {
    /// Validates a pair received from the peer.
    pub fn new(ufrag: &str, pwd: &str) -> Result<Self, IceAttributeError> {
        Ok(IceCredentials {
            ufrag: Ufrag::new(ufrag)?,
            pwd: Password::new(pwd)?,
        })
    }

    /// Fresh random credentials (for a new session or an ICE restart).
    pub fn random<R: rand::RngCore + ?Sized>(rng: &mut R) -> Self {
        IceCredentials {
            ufrag: Ufrag::random(rng),
            pwd: Password::random(rng),
        }
    }
}

/// An ICE session/media-level SDP attribute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IceAttribute {
    /// `ice-ufrag:<ufrag>`
    Ufrag(Ufrag),
    /// `ice-pwd:<pwd>`
    Password(Password),
    /// `ice-options:<tag> *(SP <tag>)`, e.g. `trickle`, `ice2`, `renomination`.
    Options(Vec<String>),
    /// `end-of-candidates` (RFC 8840 §8.2).
    EndOfCandidates,
}

impl IceAttribute {
    /// Parses one attribute line, with or without `a=` and trailing whitespace.
    /// Names are matched case-insensitively; values are kept as given.
    pub fn parse(line: &str) -> Result<Self, IceAttributeError> {
        let mut s = line.trim();
        if s.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("a=")) {
            s = &s[2..];
        }
        let (name, value) = match s.split_once(':') {
            Some((n, v)) => (n, Some(v.trim())),
            None => (s, None),
        };
        match (name.to_ascii_lowercase().as_str(), value) {
            ("ice-ufrag", Some(v)) => Ok(IceAttribute::Ufrag(Ufrag::new(v)?)),
            ("ice-ufrag", None) => Err(IceAttributeError::InvalidUfrag(String::new())),
            ("ice-pwd", Some(v)) => Ok(IceAttribute::Password(Password::new(v)?)),
            ("ice-pwd", None) => Err(IceAttributeError::InvalidPassword(0)),
            ("ice-options", v) => {
                let tags: Vec<String> = v
                    .unwrap_or("")
                    .split_ascii_whitespace()
                    .map(str::to_owned)
                    .collect();
                if tags.is_empty() {
                    Err(IceAttributeError::EmptyOptions)
                } else {
                    Ok(IceAttribute::Options(tags))
                }
            }
            ("end-of-candidates", None) => Ok(IceAttribute::EndOfCandidates),
            _ => Err(IceAttributeError::Unknown(s.to_owned())),
        }
    }

    /// Whether this is `ice-options` listing `trickle` (RFC 8840).
    pub fn has_trickle(&self) -> bool {
        matches!(self, IceAttribute::Options(tags) if tags.iter().any(|t| t.eq_ignore_ascii_case("trickle")))
    }
}

impl fmt::Display for IceAttribute {
    /// The attribute without `a=`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IceAttribute::Ufrag(u) => write!(f, "ice-ufrag:{u}"),
            IceAttribute::Password(p) => write!(f, "ice-pwd:{}", p.as_str()),
            IceAttribute::Options(tags) => write!(f, "ice-options:{}", tags.join(" ")),
            IceAttribute::EndOfCandidates => f.write_str("end-of-candidates"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn ufrag_length_rules() {
        assert!(Ufrag::new("abc").is_err());
        assert!(Ufrag::new("abcd").is_ok());
        assert!(Ufrag::new("f/zZ").is_ok(), "Chrome uses + and /");
        assert!(Ufrag::new(&"a".repeat(256)).is_ok());
        assert!(Ufrag::new(&"a".repeat(257)).is_err());
        let err = Ufrag::new("ab-c").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid ice-ufrag \"ab-c\": expected 4 to 256 characters from A-Z a-z 0-9 + /"
        );
    }

    #[test]
    fn password_length_rules_and_redacted_debug() {
        assert!(Password::new(&"p".repeat(21)).is_err());
        assert!(Password::new("qEA+KCGezaoGknNYbpAADXBK").is_ok()); // Chrome, 24 chars
        assert!(Password::new("36fb7878390db89481c1d46daa4278d8").is_ok()); // Firefox, 32 chars
        assert!(Password::new(&"p".repeat(257)).is_err());
        assert!(
            Password::new("0123456789012345678_01").is_err(),
            "underscore is not an ice-char"
        );
        let p = Password::new("qEA+KCGezaoGknNYbpAADXBK").unwrap();
        assert!(!format!("{p:?}").contains("qEA"));
        assert_eq!(
            Password::new("short").unwrap_err().to_string(),
            "invalid ice-pwd (length 5): expected 22 to 256 characters from A-Z a-z 0-9 + /"
        );
    }

    #[test]
    fn generated_credentials_are_valid_and_seeded() {
        let mut rng = StdRng::seed_from_u64(7);
        let c = IceCredentials::random(&mut rng);
        assert_eq!(c.ufrag.as_str().len(), 4);
        assert_eq!(c.pwd.as_str().len(), 22);
        assert!(Ufrag::new(c.ufrag.as_str()).is_ok());
        assert!(Password::new(c.pwd.as_str()).is_ok());
        // Same seed, same credentials; the next draw differs.
        let again = IceCredentials::random(&mut StdRng::seed_from_u64(7));
        assert_eq!(c, again);
        assert_ne!(IceCredentials::random(&mut rng), c);
        // Enough entropy: 4 chars of 6 bits ≥ 24 bits; 22 chars of 6 bits ≥ 128 bits.
        const _: () = assert!(Ufrag::GENERATED_LEN * 6 >= 24);
        const _: () = assert!(Password::GENERATED_LEN * 6 >= 128);
    }

    #[test]
    fn generated_chars_cover_the_alphabet() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            seen.extend(Password::random(&mut rng).as_str().chars());
        }
        assert_eq!(seen.len(), 64);
    }

    #[test]
    fn parses_and_encodes_attributes() {
        let cases = [
            ("a=ice-ufrag:gydc", "ice-ufrag:gydc"),
            (
                "ice-pwd:qEA+KCGezaoGknNYbpAADXBK\r\n",
                "ice-pwd:qEA+KCGezaoGknNYbpAADXBK",
            ),
            ("a=ice-options:trickle", "ice-options:trickle"),
            (
                "a=ice-options:trickle renomination",
                "ice-options:trickle renomination",
            ),
            ("a=end-of-candidates", "end-of-candidates"),
            ("A=ICE-UFRAG:Pvhf", "ice-ufrag:Pvhf"),
        ];
        for (input, canonical) in cases {
            let attr = IceAttribute::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(attr.to_string(), canonical);
            assert_eq!(IceAttribute::parse(canonical).unwrap(), attr);
        }
        assert!(IceAttribute::parse("a=ice-options:trickle")
            .unwrap()
            .has_trickle());
        assert!(!IceAttribute::parse("a=ice-options:ice2")
            .unwrap()
            .has_trickle());
    }

    #[test]
    fn rejects_bad_attributes() {
        assert_eq!(
            IceAttribute::parse("a=ice-options:"),
            Err(IceAttributeError::EmptyOptions)
        );
        assert!(matches!(
            IceAttribute::parse("a=ice-ufrag:ab"),
            Err(IceAttributeError::InvalidUfrag(_))
        ));
        // Amazon Chime's test SDP carries "a=ice-pwd: redact" - too short.
        assert!(matches!(
            IceAttribute::parse("a=ice-pwd: redact"),
            Err(IceAttributeError::InvalidPassword(6))
        ));
        assert!(matches!(
            IceAttribute::parse("a=ice-lite"),
            Err(IceAttributeError::Unknown(_))
        ));
        assert!(matches!(
            IceAttribute::parse("a=end-of-candidates:x"),
            Err(IceAttributeError::Unknown(_))
        ));
    }
}
