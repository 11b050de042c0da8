//! TURN REST API ephemeral credentials (draft-uberti-behave-turn-rest, coturn's
//! `use-auth-secret` / `static-auth-secret`).
//!
//! The service that knows the shared secret hands a client `username = "EXPIRY:USER"` (EXPIRY
//! in Unix seconds) and `password = base64(HMAC-SHA1(secret, username))`; the TURN server
//! recomputes the password from the username and rejects it after EXPIRY.

use std::time::Duration;

use hmac::Mac;

use crate::stun::integrity::HmacSha1;
use crate::stun::Credentials;

/// Ephemeral credentials valid until `now_unix + ttl`. `user` may be empty (the username
/// is then the expiry alone). Sans-IO: the caller reads the wall clock.
#[must_use]
pub fn rest_api_credentials(secret: &str, user: &str, now_unix: u64, ttl: Duration) -> Credentials {
    let expiry = now_unix.saturating_add(ttl.as_secs());
    let username = if user.is_empty() {
        expiry.to_string()
    } else {
        format!("{expiry}:{user}")
    };
    // Cannot fire: HMAC takes keys of any length (longer ones are hashed first, RFC 2104).
    let mut mac =
        <HmacSha1 as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(username.as_bytes());
    let password = base64(&mac.finalize().into_bytes());
    Credentials::new(username, password)
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with `=` padding (RFC 4648 §4).
pub fn base64(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64 characters (no padding, no whitespace) into bits, for the
/// 4-character STUN security feature set (RFC 8489 §9.2). `None` on a foreign character.
pub(crate) fn base64_bits(s: &str) -> Option<u32> {
    s.bytes().try_fold(0u32, |acc, c| {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        Some((acc << 6) | v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
        assert_eq!(base64_bits("AAAB"), Some(1));
        assert_eq!(base64_bits("gAAA"), Some(0x80_0000));
        assert_eq!(base64_bits("A*AA"), None);
    }

    #[test]
    fn rest_credentials_match_coturn_formula() {
        // echo -n "1700000600:alice" | openssl dgst -sha1 -hmac s3cret -binary | base64
        let c = rest_api_credentials("s3cret", "alice", 1_700_000_000, Duration::from_secs(600));
        assert_eq!(c.username, "1700000600:alice");
        assert_eq!(c.password, "bUIJIVaC05oyFgKsQvKAparqg1Q=");
        let anon = rest_api_credentials("s", "", 10, Duration::from_secs(5));
        assert_eq!(anon.username, "15");
    }
}
