//! Long-term credential state (RFC 8489 §9.2) and the encoding of TURN requests and
//! indications. The client learns REALM, NONCE and the password algorithm from a 401 or
//! 438 and from then on signs every request with a prepared [`IntegrityKey`].

use std::net::SocketAddr;

use super::credentials::base64_bits;
use crate::stun::attr::{self, PasswordAlgorithmParam};
use crate::stun::{
    Attribute, Class, Credentials, IntegrityKey, Message, MessageBuilder, MessageType, Method,
    PasswordAlgorithm, StunError, TransactionId,
};

/// The "nonce cookie" that announces STUN security features (RFC 8489 §9.2).
const NONCE_COOKIE: &str = "obMatJos2";
/// Feature bits in the 24-bit set after the cookie. RFC 8489 as published numbers bit 0
/// as the most significant, but its own example (Appendix B.1: "obMatJos2AAAC" with a
/// USERHASH request) and the erratum on §9.2 count from the least significant side:
/// bit 0 (0x000001) is "Password algorithms", bit 1 (0x000002) "Username anonymity".
const FEATURE_PASSWORD_ALGORITHMS: u32 = 1 << 0;
const FEATURE_USER_ANONYMITY: u32 = 1 << 1;

/// The security feature set announced by a NONCE's cookie (0 without the cookie).
fn nonce_features(nonce: &str) -> u32 {
    nonce
        .strip_prefix(NONCE_COOKIE)
        .and_then(|rest| rest.get(..4))
        .and_then(base64_bits)
        .unwrap_or(0)
}

/// True if `msg` carries a NONCE whose cookie announces PASSWORD-ALGORITHMS but no
/// PASSWORD-ALGORITHMS attribute: the list was stripped on the way (a bid-down attack,
/// RFC 8489 §9.2.1) or the server is broken. §9.2.5: a 401/438 like that must not be
/// retried, and any other response like that must be ignored.
pub(crate) fn algorithms_stripped(msg: &Message<'_>) -> bool {
    let Ok(Some(nonce)) = msg.nonce() else {
        return false;
    };
    nonce_features(nonce) & FEATURE_PASSWORD_ALGORITHMS != 0
        && msg.get(attr::PASSWORD_ALGORITHMS).is_none()
}

/// What the client knows about the server's long-term credential challenge.
#[derive(Debug)]
pub(crate) struct Auth {
    credentials: Credentials,
    realm: Option<String>,
    nonce: Option<String>,
    algorithm: PasswordAlgorithm,
    /// PASSWORD-ALGORITHMS as the server sent it, echoed in every request (§9.2.4).
    algorithms_wire: Option<Vec<u8>>,
    userhash: Option<[u8; 32]>,
    key: Option<IntegrityKey>,
}

impl Auth {
    pub(crate) fn new(credentials: Credentials) -> Self {
        Auth {
            credentials,
            realm: None,
            nonce: None,
            algorithm: PasswordAlgorithm::Md5,
            algorithms_wire: None,
            userhash: None,
            key: None,
        }
    }

    /// True once a challenge has been answered-ready (realm, nonce and key known).
    pub(crate) fn is_ready(&self) -> bool {
        self.key.is_some() && self.nonce.is_some()
    }

    pub(crate) fn realm(&self) -> &str {
        self.realm.as_deref().unwrap_or("")
    }

    pub(crate) fn algorithm(&self) -> PasswordAlgorithm {
        self.algorithm
    }

    /// True if requests are signed with MESSAGE-INTEGRITY-SHA256, false for
    /// MESSAGE-INTEGRITY. RFC 8489 §9.2.5: once the server sent PASSWORD-ALGORITHMS,
    /// every request uses MESSAGE-INTEGRITY-SHA256 only, whichever algorithm was picked;
    /// a legacy challenge (no list) gets MESSAGE-INTEGRITY with the MD5 key.
    pub(crate) fn signs_sha256(&self) -> bool {
        self.algorithms_wire.is_some()
    }

    /// Forgets the challenge (after a redirect to another server).
    pub(crate) fn reset(&mut self) {
        *self = Auth::new(self.credentials.clone());
    }

    /// Learns REALM, NONCE and PASSWORD-ALGORITHMS from a 401 or 438 response.
    /// `Err` with a description if the challenge cannot be answered.
    pub(crate) fn challenge(&mut self, msg: &Message<'_>) -> Result<(), ChallengeError> {
        let nonce = msg
            .nonce()
            .map_err(ChallengeError::Malformed)?
            .ok_or(ChallengeError::Missing("NONCE"))?;
        let realm = match msg.realm().map_err(ChallengeError::Malformed)? {
            Some(r) => r.to_string(),
            None => self.realm.clone().ok_or(ChallengeError::Missing("REALM"))?,
        };
        let features = nonce_features(nonce);
        let (algorithm, wire) = match msg
            .password_algorithms()
            .map_err(ChallengeError::Malformed)?
        {
            Some(list) => {
                let offered: Vec<u16> = list.iter().map(|p| p.algorithm).collect();
                let alg = if offered.contains(&PasswordAlgorithm::Sha256.to_u16()) {
                    PasswordAlgorithm::Sha256
                } else if offered.contains(&PasswordAlgorithm::Md5.to_u16()) {
                    PasswordAlgorithm::Md5
                } else {
                    return Err(ChallengeError::NoAlgorithm);
                };
                (alg, msg.get(attr::PASSWORD_ALGORITHMS).map(<[u8]>::to_vec))
            }
            None if features & FEATURE_PASSWORD_ALGORITHMS != 0 => {
                // The cookie promises the list, but it is missing: a downgrade attempt
                // or a broken server. §9.2.5: do not retry (and never fall back to MD5).
                return Err(ChallengeError::AlgorithmsStripped);
            }
            None => (PasswordAlgorithm::Md5, None),
        };
        let key = self
            .credentials
            .long_term_key(algorithm, &realm)
            .map_err(ChallengeError::Credentials)?;
        self.userhash = if features & FEATURE_USER_ANONYMITY != 0 {
            Some(
                self.credentials
                    .userhash(&realm)
                    .map_err(ChallengeError::Credentials)?,
            )
        } else {
            None
        };
        self.realm = Some(realm);
        self.nonce = Some(nonce.to_string());
        self.algorithm = algorithm;
        self.algorithms_wire = wire;
        self.key = Some(key);
        Ok(())
    }

    /// Appends USERNAME (or USERHASH), REALM, NONCE, the algorithm attributes and the
    /// integrity attribute. Call last, before FINGERPRINT.
    fn sign(&self, b: &mut MessageBuilder<'_>) -> Result<(), StunError> {
        let (Some(key), Some(realm), Some(nonce)) = (&self.key, &self.realm, &self.nonce) else {
            return Ok(());
        };
        match &self.userhash {
            Some(h) => b.add(&Attribute::UserHash(h))?,
            None => b.add_username(&self.credentials.username)?,
        };
        b.add(&Attribute::Realm(realm))?;
        b.add(&Attribute::Nonce(nonce))?;
        if let Some(wire) = &self.algorithms_wire {
            b.add_raw(attr::PASSWORD_ALGORITHMS, wire)?;
            b.add(&Attribute::PasswordAlgorithm(PasswordAlgorithmParam {
                algorithm: self.algorithm.to_u16(),
                params: &[],
            }))?;
        }
        if self.signs_sha256() {
            b.add_message_integrity_sha256(key.as_bytes())?;
        } else {
            b.add_message_integrity_key(key)?;
        }
        Ok(())
    }

    /// Checks the integrity of a response to an authenticated request. The response
    /// must carry the integrity attribute the request was signed with (`sha256`, see
    /// [`Auth::signs_sha256`]) and it must verify: a response to a
    /// MESSAGE-INTEGRITY-SHA256 request that carries only MESSAGE-INTEGRITY is a
    /// downgrade and fails (RFC 8489 §9.1.4, §9.2.4, §9.2.5), and the other way round.
    /// A response with neither passes only if `required` is false (401 and 438 carry
    /// none).
    pub(crate) fn verify(&self, msg: &Message<'_>, required: bool, sha256: bool) -> bool {
        let Some(key) = &self.key else {
            return !required;
        };
        match (sha256, msg.has_integrity_sha256(), msg.has_integrity()) {
            (true, true, _) => msg.verify_integrity_sha256(key.as_bytes()).is_ok(),
            (false, _, true) => msg.verify_integrity_key(key).is_ok(),
            // Only the other attribute: the wrong algorithm.
            (true, false, true) | (false, true, false) => false,
            (_, false, false) => !required,
        }
    }
}

/// Why a 401/438 challenge cannot be answered.
#[derive(Debug)]
pub(crate) enum ChallengeError {
    Missing(&'static str),
    /// The nonce cookie announces PASSWORD-ALGORITHMS but the challenge has none.
    AlgorithmsStripped,
    Malformed(StunError),
    NoAlgorithm,
    Credentials(StunError),
}

impl std::fmt::Display for ChallengeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChallengeError::Missing(a) => write!(f, "challenge without {a}"),
            ChallengeError::AlgorithmsStripped => f.write_str(
                "the challenge's nonce cookie announces PASSWORD-ALGORITHMS but the \
                 attribute is missing: possible downgrade attack (RFC 8489 §9.2.5), \
                 not retrying",
            ),
            ChallengeError::Malformed(e) => write!(f, "malformed challenge: {e}"),
            ChallengeError::NoAlgorithm => {
                f.write_str("PASSWORD-ALGORITHMS offers neither MD5 nor SHA-256")
            }
            ChallengeError::Credentials(e) => write!(f, "{e}"),
        }
    }
}

/// Encodes a request (signed when `auth` is given) with SOFTWARE and FINGERPRINT.
pub(crate) fn request(
    method: Method,
    tid: TransactionId,
    attrs: &[Attribute<'_>],
    auth: Option<&Auth>,
    software: Option<&str>,
) -> Result<Vec<u8>, StunError> {
    encode(
        MessageType::new(Class::Request, method),
        tid,
        attrs,
        auth,
        software,
    )
}

/// A Send indication (RFC 8656 §11): XOR-PEER-ADDRESS and DATA, unsigned.
pub(crate) fn send_indication(
    tid: TransactionId,
    peer: SocketAddr,
    data: &[u8],
) -> Result<Vec<u8>, StunError> {
    encode(
        MessageType::new(Class::Indication, Method::SEND),
        tid,
        &[Attribute::XorPeerAddress(peer), Attribute::Data(data)],
        None,
        None,
    )
}

fn encode(
    typ: MessageType,
    tid: TransactionId,
    attrs: &[Attribute<'_>],
    auth: Option<&Auth>,
    software: Option<&str>,
) -> Result<Vec<u8>, StunError> {
    let mut size = 1024 + software.map_or(0, str::len);
    for a in attrs {
        size += 4 + a.value_len()?.next_multiple_of(4);
    }
    if let Some(a) = auth {
        size += a.credentials.username.len() + a.realm().len();
        size += a.nonce.as_ref().map_or(0, String::len);
        size += a.algorithms_wire.as_ref().map_or(0, Vec::len);
    }
    let mut buf = vec![0u8; size];
    let mut b = MessageBuilder::new(&mut buf, typ, tid)?;
    for a in attrs {
        b.add(a)?;
    }
    if let Some(s) = software {
        b.add_software(s)?;
    }
    if let Some(a) = auth {
        a.sign(&mut b)?;
    }
    b.add_fingerprint()?;
    let n = b.finish().len();
    buf.truncate(n);
    Ok(buf)
}
