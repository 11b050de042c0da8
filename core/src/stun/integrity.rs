//! Credentials and keys for MESSAGE-INTEGRITY and MESSAGE-INTEGRITY-SHA256 (RFC 8489 §9).
//!
//! - Short-term (ICE): the key is `OpaqueString(password)`.
//! - Long-term (TURN): the key is `MD5(username ":" OpaqueString(realm) ":" OpaqueString(password))`
//!   or the same with SHA-256 (RFC 8489 §9.2.2), chosen by PASSWORD-ALGORITHM.
//! - USERHASH: `SHA-256(OpaqueString(username) ":" OpaqueString(realm))` (§14.4).
//!
//! ## What [`opaque_string`] implements of RFC 8265 §4.2 (OpaqueString)
//!
//! ASCII input is handled exactly: printable ASCII (0x20-0x7E) passes unchanged, control
//! characters are rejected, and the empty string is rejected. For non-ASCII input we apply the
//! "additional mapping rule" (every Unicode space separator, category Zs, becomes U+0020) and
//! reject non-ASCII control characters, but we do **not** apply Unicode Normalization Form C and
//! do not check the full PRECIS FreeformClass disallowed set (unassigned code points, old Hangul
//! jamo, etc.); that needs Unicode tables this crate does not carry. Callers with non-ASCII
//! passwords should supply them already in NFC (which nearly every input method produces).
//!
//! Note that RFC 5389 peers used SASLprep (NFKC), which maps more characters than
//! OpaqueString: RFC 5769 §2.4 uses the password "TheMa\u{aa}tr\u{2168}", which SASLprep turns
//! into "TheMatrIX" but OpaqueString keeps as is. Give us the prepared form for such peers.

use std::borrow::Cow;

use hmac::{Hmac, Mac};
use md5::Md5;
use sha2::{Digest, Sha256};

use super::error::StunError;
use super::HEADER_LEN;

pub(crate) type HmacSha1 = Hmac<sha1::Sha1>;
pub(crate) type HmacSha256 = Hmac<Sha256>;

/// The XOR constant applied to the CRC-32 in FINGERPRINT (RFC 8489 §14.7).
pub const FINGERPRINT_XOR: u32 = 0x5354_554e;

/// PASSWORD-ALGORITHM numbers (RFC 8489 §18.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum PasswordAlgorithm {
    /// MD5 (RFC 8489 §18.5.1.1): the RFC 5389 long-term key.
    Md5 = 0x0001,
    /// SHA-256 (RFC 8489 §18.5.1.2).
    Sha256 = 0x0002,
}

impl PasswordAlgorithm {
    /// The IANA number.
    pub fn to_u16(self) -> u16 {
        self as u16
    }
    /// `None` for reserved or unassigned numbers.
    pub fn from_u16(v: u16) -> Option<Self> {
        match v {
            1 => Some(PasswordAlgorithm::Md5),
            2 => Some(PasswordAlgorithm::Sha256),
            _ => None,
        }
    }
}

/// Prepares a string with the OpaqueString profile (see the module docs for what is left out).
pub fn opaque_string(s: &str) -> Result<Cow<'_, str>, StunError> {
    if s.is_empty() {
        return Err(StunError::BadCredential(
            "OpaqueString forbids the empty string",
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(StunError::BadCredential(
            "OpaqueString forbids control characters",
        ));
    }
    if s.is_ascii() {
        return Ok(Cow::Borrowed(s));
    }
    if !s.chars().any(is_non_ascii_space) {
        return Ok(Cow::Borrowed(s));
    }
    Ok(Cow::Owned(
        s.chars()
            .map(|c| if is_non_ascii_space(c) { ' ' } else { c })
            .collect(),
    ))
}

/// Unicode general category Zs, other than U+0020.
fn is_non_ascii_space(c: char) -> bool {
    matches!(
        c,
        '\u{a0}' | '\u{1680}' | '\u{2000}'..='\u{200a}' | '\u{202f}' | '\u{205f}' | '\u{3000}'
    )
}

/// A derived MESSAGE-INTEGRITY key. `Debug` does not print the secret.
///
/// It also holds the HMAC-SHA1 state with the key pads already hashed, so
/// [`crate::stun::Message::verify_integrity_key`] and
/// [`crate::stun::MessageBuilder::add_message_integrity_key`] skip two SHA-1 blocks per message.
#[derive(Clone)]
pub struct IntegrityKey {
    bytes: Box<[u8]>,
    sha1: HmacSha1,
}

impl PartialEq for IntegrityKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}
impl Eq for IntegrityKey {}

impl IntegrityKey {
    /// Short-term credential key (ICE): OpaqueString(password).
    pub fn short_term(password: &str) -> Result<Self, StunError> {
        Ok(IntegrityKey::from_bytes(
            opaque_string(password)?.as_bytes(),
        ))
    }

    /// Long-term credential key for the given algorithm (RFC 8489 §9.2.2).
    /// `username` is used as given (it is what goes in USERNAME); realm and password go
    /// through OpaqueString.
    pub fn long_term(
        algorithm: PasswordAlgorithm,
        username: &str,
        realm: &str,
        password: &str,
    ) -> Result<Self, StunError> {
        let realm = opaque_string(realm)?;
        let password = opaque_string(password)?;
        let parts: [&[u8]; 5] = [
            username.as_bytes(),
            b":",
            realm.as_bytes(),
            b":",
            password.as_bytes(),
        ];
        Ok(IntegrityKey::from_bytes(&match algorithm {
            PasswordAlgorithm::Md5 => digest::<Md5>(&parts),
            PasswordAlgorithm::Sha256 => digest::<Sha256>(&parts),
        }))
    }

    /// A key from raw bytes (e.g. a stored long-term key, or a password already prepared).
    pub fn from_bytes(key: &[u8]) -> Self {
        IntegrityKey {
            bytes: key.into(),
            // Cannot fire: HMAC takes keys of any length (longer ones are hashed first,
            // RFC 2104 §2); `new_from_slice` only fails for fixed-key MACs.
            sha1: <HmacSha1 as Mac>::new_from_slice(key).expect("HMAC accepts any key length"),
        }
    }

    /// The key bytes (the HMAC key).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl AsRef<[u8]> for IntegrityKey {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl std::fmt::Debug for IntegrityKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IntegrityKey({} bytes, redacted)", self.bytes.len())
    }
}

fn digest<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
    let mut d = D::new();
    for p in parts {
        d.update(p);
    }
    d.finalize().to_vec()
}

/// USERHASH = SHA-256(OpaqueString(username) ":" OpaqueString(realm)) (RFC 8489 §14.4).
pub fn userhash(username: &str, realm: &str) -> Result<[u8; 32], StunError> {
    let u = opaque_string(username)?;
    let r = opaque_string(realm)?;
    let mut d = Sha256::new();
    d.update(u.as_bytes());
    d.update(b":");
    d.update(r.as_bytes());
    Ok(d.finalize().into())
}

/// A STUN username and password (RFC 8489 §9), as a TURN client holds them: it learns
/// the realm (and algorithm) from the server's 401 and then derives
/// [`Credentials::long_term_key`]. Not ICE's ufrag/pwd pair, which is
/// [`crate::ice::IceCredentials`].
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name (prepared with OpaqueString when a key is derived).
    pub username: String,
    /// The password (prepared with OpaqueString when a key is derived).
    pub password: String,
}

impl Credentials {
    /// Credentials as configured; nothing is validated until a key is derived.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials {
            username: username.into(),
            password: password.into(),
        }
    }

    /// The short-term key: OpaqueString(password) (RFC 8489 §9.1.1).
    pub fn short_term_key(&self) -> Result<IntegrityKey, StunError> {
        IntegrityKey::short_term(&self.password)
    }

    /// The long-term key for `realm` (RFC 8489 §9.2.2): MD5 or SHA-256 of
    /// `username:realm:password`, each OpaqueString-prepared.
    pub fn long_term_key(
        &self,
        algorithm: PasswordAlgorithm,
        realm: &str,
    ) -> Result<IntegrityKey, StunError> {
        IntegrityKey::long_term(algorithm, &self.username, realm, &self.password)
    }

    /// USERHASH for `realm` (RFC 8489 §14.4).
    pub fn userhash(&self, realm: &str) -> Result<[u8; 32], StunError> {
        userhash(&self.username, realm)
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Feeds `msg[..end]` to `update` as if its length field were `len`: when the field already
/// says `len` (the attribute is the last one) in one piece, otherwise a patched copy of the
/// 20-byte header and then the rest of the message in place. The message is never copied.
#[inline]
fn feed(msg: &[u8], end: usize, len: u16, mut update: impl FnMut(&[u8])) {
    let len = len.to_be_bytes();
    if msg[2..4] == len {
        update(&msg[..end]);
    } else {
        let mut h = [0u8; HEADER_LEN];
        h.copy_from_slice(&msg[..HEADER_LEN]);
        h[2..4].copy_from_slice(&len);
        update(&h);
        update(&msg[HEADER_LEN..end]);
    }
}

/// HMAC-SHA1 over `msg[..end]` with the length field set to `len` (RFC 8489 §14.5).
/// `key` is either raw key bytes or a precomputed [`IntegrityKey`] state.
pub(crate) fn hmac_sha1(key: MacKey<'_>, msg: &[u8], end: usize, len: u16) -> HmacSha1 {
    let mut mac = match key {
        // Cannot fire: HMAC takes keys of any length (see `IntegrityKey::from_bytes`).
        MacKey::Bytes(k) => {
            <HmacSha1 as Mac>::new_from_slice(k).expect("HMAC accepts any key length")
        }
        MacKey::Prepared(k) => k.sha1.clone(),
    };
    feed(msg, end, len, |b| mac.update(b));
    mac
}

/// HMAC-SHA256 over the same shape (RFC 8489 §14.6).
pub(crate) fn hmac_sha256(key: &[u8], msg: &[u8], end: usize, len: u16) -> HmacSha256 {
    // Cannot fire: HMAC takes keys of any length (see `IntegrityKey::from_bytes`).
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    feed(msg, end, len, |b| mac.update(b));
    mac
}

/// CRC-32 XOR 0x5354554e over the same shape (RFC 8489 §14.7).
pub(crate) fn fingerprint(msg: &[u8], end: usize, len: u16) -> u32 {
    let mut h = crc32fast::Hasher::new();
    feed(msg, end, len, |b| h.update(b));
    h.finalize() ^ FINGERPRINT_XOR
}

/// Raw key bytes, or a key whose HMAC-SHA1 pads are already hashed.
#[derive(Clone, Copy)]
pub(crate) enum MacKey<'k> {
    Bytes(&'k [u8]),
    Prepared(&'k IntegrityKey),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opaque_string_ascii_and_rejections() {
        assert_eq!(
            opaque_string("VOkJxbRl1RmTxUk/WvJxBt").unwrap(),
            "VOkJxbRl1RmTxUk/WvJxBt"
        );
        assert_eq!(opaque_string("a b").unwrap(), "a b");
        assert!(opaque_string("").is_err());
        assert!(opaque_string("a\tb").is_err());
        assert!(opaque_string("a\u{7f}").is_err());
        assert_eq!(opaque_string("a\u{a0}b\u{3000}").unwrap(), "a b ");
        assert_eq!(opaque_string("マトリックス").unwrap(), "マトリックス");
    }

    #[test]
    fn long_term_key_matches_rfc5769_md5() {
        // RFC 5769 §2.4 with the SASLprep'd password.
        let k = IntegrityKey::long_term(
            PasswordAlgorithm::Md5,
            "マトリックス",
            "example.org",
            "TheMatrIX",
        )
        .unwrap();
        let expect = Md5::digest("マトリックス:example.org:TheMatrIX".as_bytes());
        assert_eq!(k.as_bytes(), &expect[..]);
        let k2 = IntegrityKey::long_term(PasswordAlgorithm::Sha256, "u", "r", "p").unwrap();
        assert_eq!(k2.as_bytes(), &Sha256::digest(b"u:r:p")[..]);
        assert_eq!(format!("{k:?}"), "IntegrityKey(16 bytes, redacted)");
    }

    #[test]
    fn userhash_and_algorithms() {
        assert_eq!(
            userhash("u", "r").unwrap(),
            <[u8; 32]>::from(Sha256::digest(b"u:r"))
        );
        assert_eq!(
            PasswordAlgorithm::from_u16(2),
            Some(PasswordAlgorithm::Sha256)
        );
        assert_eq!(PasswordAlgorithm::from_u16(0), None);
        assert_eq!(PasswordAlgorithm::Md5.to_u16(), 1);
        let c = Credentials::new("user", "pass");
        assert_eq!(c.short_term_key().unwrap().as_bytes(), b"pass");
        assert!(!format!("{c:?}").contains("pass\""));
    }
}
