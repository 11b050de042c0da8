//! Long-term credentials (RFC 8489 §9.2, as RFC 8656 uses them): REALM, NONCE
//! with a lifetime, MD5 or (optionally offered) SHA-256 keys, MESSAGE-INTEGRITY
//! or MESSAGE-INTEGRITY-SHA256.

use super::config::TurnConfig;
use pinhole::stun::attr::{PasswordAlgorithmList, PasswordAlgorithmParam};
use pinhole::stun::integrity::{userhash, PasswordAlgorithm};
use pinhole::stun::{IntegrityKey, Message};
use std::collections::BTreeMap;
use std::time::Instant;

/// RFC 8489 §9.2: "obMatJos2" + base64 of the 24 security-feature bits.
const NONCE_COOKIE: &str = "obMatJos2";
/// Feature bits, counted from the least significant side as the RFC 8489 erratum on
/// §9.2 and its Appendix B.1 ("AAAC" = username anonymity) have it.
const FEATURE_PASSWORD_ALGORITHMS: u32 = 1 << 0;
const FEATURE_USERNAME_ANONYMITY: u32 = 1 << 1;

/// The 13-character nonce cookie announcing `features` ("obMatJos2AAAB" for password
/// algorithms alone).
pub(crate) fn nonce_cookie(features: u32) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::from(NONCE_COOKIE);
    for i in (0..4).rev() {
        s.push(B64[((features >> (6 * i)) & 63) as usize] as char);
    }
    s
}

/// What the server offers in PASSWORD-ALGORITHMS (preference order).
pub(crate) const OFFERED: [PasswordAlgorithmParam<'static>; 2] = [
    PasswordAlgorithmParam {
        algorithm: PasswordAlgorithm::Sha256 as u16,
        params: &[],
    },
    PasswordAlgorithmParam {
        algorithm: PasswordAlgorithm::Md5 as u16,
        params: &[],
    },
];

/// An authenticated request: who, and how to sign the response.
#[derive(Debug, Clone)]
pub(crate) struct Authenticated {
    pub username: String,
    pub key: IntegrityKey,
    /// The request carried MESSAGE-INTEGRITY-SHA256 (answer with it too).
    pub sha256_mac: bool,
    /// The user was identified by USERHASH, not USERNAME.
    pub by_userhash: bool,
}

/// Why a request was refused; the caller builds the error response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// 401 with REALM and a fresh NONCE (no integrity, or bad integrity / unknown user).
    Unauthenticated,
    /// 400 (missing USERNAME/REALM/NONCE, or a PASSWORD-ALGORITHM(S) mismatch).
    BadRequest,
    /// 438 with a fresh NONCE.
    StaleNonce,
}

/// Issued nonces and the credentials checker.
#[derive(Debug, Default)]
pub(crate) struct Nonces {
    issued: BTreeMap<String, Instant>,
    counter: u64,
}

impl Nonces {
    /// A fresh nonce valid from `now`.
    pub fn issue(&mut self, now: Instant, cfg: &TurnConfig) -> String {
        // Drop the stale ones so the table stays small.
        let life = cfg.nonce_lifetime;
        self.issued.retain(|_, t| now < *t + life);
        self.counter += 1;
        // Deterministic but not guessable-looking: a counter mixed by a 64-bit LCG step.
        let mix = self
            .counter
            .wrapping_mul(0x5851_f42d_4c95_7f2d)
            .wrapping_add(0x1405_7b7e_f767_814f);
        let mut features = 0;
        if cfg.offer_sha256 {
            features |= FEATURE_PASSWORD_ALGORITHMS;
        }
        if cfg.username_anonymity {
            features |= FEATURE_USERNAME_ANONYMITY;
        }
        let prefix = if features != 0 {
            nonce_cookie(features)
        } else {
            String::new()
        };
        let n = format!("{prefix}{mix:016x}{:04x}", self.counter & 0xffff);
        self.issued.insert(n.clone(), now);
        n
    }

    /// Checks a request's long-term credentials (RFC 8489 §9.2.4, in its order).
    pub fn check(
        &self,
        now: Instant,
        cfg: &TurnConfig,
        msg: &Message<'_>,
    ) -> Result<Authenticated, Refusal> {
        if !msg.has_integrity() && !msg.has_integrity_sha256() {
            return Err(Refusal::Unauthenticated);
        }
        let by_userhash = matches!(msg.userhash(), Ok(Some(_)));
        let username = match (msg.username(), msg.userhash()) {
            // With username anonymity announced the client must send USERHASH
            // (RFC 8489 §9.2.5); this model holds clients to it.
            (Ok(Some(_)), _) if cfg.username_anonymity => return Err(Refusal::BadRequest),
            (Ok(Some(u)), _) => Some(u.to_string()),
            (_, Ok(Some(h))) => cfg
                .users
                .keys()
                .find(|u| userhash(u, &cfg.realm).is_ok_and(|x| x == *h))
                .cloned(),
            (Ok(None), Ok(None)) => return Err(Refusal::BadRequest),
            _ => return Err(Refusal::BadRequest),
        };
        let (Ok(Some(_realm)), Ok(Some(nonce))) = (msg.realm(), msg.nonce()) else {
            return Err(Refusal::BadRequest);
        };
        match self.issued.get(nonce) {
            Some(&t) if now < t + cfg.nonce_lifetime => {}
            _ => return Err(Refusal::StaleNonce),
        }
        let algorithm = if cfg.offer_sha256 {
            password_algorithm(msg)?
        } else {
            PasswordAlgorithm::Md5
        };
        let username = username.ok_or(Refusal::Unauthenticated)?;
        let password = cfg.users.get(&username).ok_or(Refusal::Unauthenticated)?;
        let key = IntegrityKey::long_term(algorithm, &username, &cfg.realm, password)
            .map_err(|_| Refusal::Unauthenticated)?;
        let sha256_mac = msg.has_integrity_sha256();
        let ok = if sha256_mac {
            msg.verify_integrity_sha256(key.as_bytes()).is_ok()
        } else {
            msg.verify_integrity_key(&key).is_ok()
        };
        if !ok {
            return Err(Refusal::Unauthenticated);
        }
        Ok(Authenticated {
            username,
            key,
            sha256_mac,
            by_userhash,
        })
    }
}

/// RFC 8489 §9.2.4 with the password-algorithms cookie: neither attribute → MD5;
/// otherwise both must be present, PASSWORD-ALGORITHMS must be what we sent and
/// PASSWORD-ALGORITHM one of its entries, else 400.
fn password_algorithm(msg: &Message<'_>) -> Result<PasswordAlgorithm, Refusal> {
    let list = msg.password_algorithms().map_err(|_| Refusal::BadRequest)?;
    let chosen = msg.password_algorithm().map_err(|_| Refusal::BadRequest)?;
    match (list, chosen) {
        (None, None) => Ok(PasswordAlgorithm::Md5),
        (Some(list), Some(chosen)) => {
            let echoed: Vec<_> = list.iter().collect();
            if echoed != OFFERED || !echoed.contains(&chosen) {
                return Err(Refusal::BadRequest);
            }
            PasswordAlgorithm::from_u16(chosen.algorithm).ok_or(Refusal::BadRequest)
        }
        _ => Err(Refusal::BadRequest),
    }
}

/// The PASSWORD-ALGORITHMS value the server sends.
pub(crate) fn offered_list() -> PasswordAlgorithmList<'static> {
    PasswordAlgorithmList::Entries(&OFFERED)
}

#[cfg(test)]
mod tests {
    use super::nonce_cookie;

    #[test]
    fn nonce_cookie_counts_feature_bits_from_the_least_significant_side() {
        assert_eq!(nonce_cookie(0), "obMatJos2AAAA");
        assert_eq!(nonce_cookie(1), "obMatJos2AAAB");
        // RFC 8489 Appendix B.1's nonce: username anonymity alone.
        assert_eq!(nonce_cookie(2), "obMatJos2AAAC");
        assert_eq!(nonce_cookie(3), "obMatJos2AAAD");
    }
}
