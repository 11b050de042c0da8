//! Structured attribute values that are more than a number or an address: ERROR-CODE, the
//! UNKNOWN-ATTRIBUTES and PASSWORD-ALGORITHMS lists, PASSWORD-ALGORITHM, ICMP, and the text
//! length rules shared by USERNAME, REALM, NONCE, SOFTWARE and reason phrases.

use crate::stun::error::StunError;

/// Maximum USERNAME length in bytes (RFC 8489 §14.3: "less than 513 bytes").
pub const MAX_USERNAME_BYTES: usize = 512;
/// REALM, NONCE, SOFTWARE and reason phrases: "fewer than 128 characters" (RFC 8489 §14).
pub const MAX_TEXT_CHARS: usize = 127;
/// ... "which can be as long as 763 bytes" when encoded as UTF-8.
pub const MAX_TEXT_BYTES: usize = 763;
/// ALTERNATE-DOMAIN: a DNS name, at most 255 bytes (RFC 8489 §14.16).
pub const MAX_DOMAIN_BYTES: usize = 255;

/// Checks a UTF-8 text value against a character limit (and the matching byte limit).
pub(crate) fn text(
    typ: u16,
    v: &[u8],
    max_chars: usize,
    max_bytes: usize,
) -> Result<&str, StunError> {
    if v.len() > max_bytes {
        return Err(StunError::BadAttribute {
            typ,
            reason: "value too long",
        });
    }
    let s = std::str::from_utf8(v).map_err(|_| StunError::BadAttribute {
        typ,
        reason: "value is not valid UTF-8",
    })?;
    check_chars(typ, s, max_chars)?;
    Ok(s)
}

pub(crate) fn check_text(
    typ: u16,
    s: &str,
    max_chars: usize,
    max_bytes: usize,
) -> Result<(), StunError> {
    if s.len() > max_bytes {
        return Err(StunError::BadAttribute {
            typ,
            reason: "value too long",
        });
    }
    check_chars(typ, s, max_chars)
}

fn check_chars(typ: u16, s: &str, max_chars: usize) -> Result<(), StunError> {
    // Byte length bounds the char count, so most values skip the count.
    if s.len() > max_chars && s.chars().count() > max_chars {
        return Err(StunError::BadAttribute {
            typ,
            reason: "value must be fewer than 128 characters",
        });
    }
    Ok(())
}

/// ERROR-CODE (RFC 8489 §14.8): a code 300..=699 and a UTF-8 reason phrase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ErrorCode<'a> {
    /// The code, 300..=699.
    pub code: u16,
    /// The reason phrase (UTF-8, fewer than 128 characters).
    pub reason: &'a str,
}

impl<'a> ErrorCode<'a> {
    /// An error code; encoding checks the range and the phrase.
    pub const fn new(code: u16, reason: &'a str) -> Self {
        ErrorCode { code, reason }
    }
    /// The hundreds digit (3..=6).
    pub fn class(&self) -> u8 {
        (self.code / 100) as u8
    }
    /// The code modulo 100.
    pub fn number(&self) -> u8 {
        (self.code % 100) as u8
    }

    pub(crate) fn decode(typ: u16, v: &'a [u8]) -> Result<Self, StunError> {
        if v.len() < 4 {
            return Err(StunError::BadAttribute {
                typ,
                reason: "error code value shorter than 4 bytes",
            });
        }
        let class = v[2] & 0x07;
        let number = v[3];
        if !(3..=6).contains(&class) || number > 99 {
            return Err(StunError::BadAttribute {
                typ,
                reason: "error code outside 300..=699",
            });
        }
        let reason = text(typ, &v[4..], MAX_TEXT_CHARS, MAX_TEXT_BYTES)?;
        Ok(ErrorCode {
            code: class as u16 * 100 + number as u16,
            reason,
        })
    }

    pub(crate) fn validate(&self, typ: u16) -> Result<usize, StunError> {
        if !(300..=699).contains(&self.code) {
            return Err(StunError::BadAttribute {
                typ,
                reason: "error code outside 300..=699",
            });
        }
        check_text(typ, self.reason, MAX_TEXT_CHARS, MAX_TEXT_BYTES)?;
        Ok(4 + self.reason.len())
    }

    /// Writes class/number into `out[2..4]` and the reason after it (bytes 0..2 left to caller).
    pub(crate) fn write(&self, out: &mut [u8]) {
        out[2] = self.class();
        out[3] = self.number();
        out[4..4 + self.reason.len()].copy_from_slice(self.reason.as_bytes());
    }
}

impl ErrorCode<'static> {
    /// 300 (RFC 8489): use the ALTERNATE-SERVER instead.
    pub const TRY_ALTERNATE: ErrorCode<'static> = ErrorCode::new(300, "Try Alternate");
    /// 400 (RFC 8489): malformed request.
    pub const BAD_REQUEST: ErrorCode<'static> = ErrorCode::new(400, "Bad Request");
    /// 401 (RFC 8489): credentials missing or wrong (long-term: the challenge).
    pub const UNAUTHENTICATED: ErrorCode<'static> = ErrorCode::new(401, "Unauthenticated");
    /// 403 (RFC 8656): the server refuses (policy, peer address).
    pub const FORBIDDEN: ErrorCode<'static> = ErrorCode::new(403, "Forbidden");
    /// 420 (RFC 8489): comprehension-required attributes not understood (listed in UNKNOWN-ATTRIBUTES).
    pub const UNKNOWN_ATTRIBUTE: ErrorCode<'static> = ErrorCode::new(420, "Unknown Attribute");
    /// 437 (RFC 8656): no (or another) allocation for this 5-tuple.
    pub const ALLOCATION_MISMATCH: ErrorCode<'static> = ErrorCode::new(437, "Allocation Mismatch");
    /// 438 (RFC 8489): retry with the new NONCE.
    pub const STALE_NONCE: ErrorCode<'static> = ErrorCode::new(438, "Stale Nonce");
    /// 440 (RFC 8656): the requested relay address family is not available.
    pub const ADDRESS_FAMILY_NOT_SUPPORTED: ErrorCode<'static> =
        ErrorCode::new(440, "Address Family not Supported");
    /// 441 (RFC 8656): not the credentials the allocation was made with.
    pub const WRONG_CREDENTIALS: ErrorCode<'static> = ErrorCode::new(441, "Wrong Credentials");
    /// 442 (RFC 8656): REQUESTED-TRANSPORT not supported.
    pub const UNSUPPORTED_TRANSPORT_PROTOCOL: ErrorCode<'static> =
        ErrorCode::new(442, "Unsupported Transport Protocol");
    /// 443 (RFC 8656): the peer is not of the relayed address's family.
    pub const PEER_ADDRESS_FAMILY_MISMATCH: ErrorCode<'static> =
        ErrorCode::new(443, "Peer Address Family Mismatch");
    /// 446 (RFC 6062): a TCP connection to that peer already exists.
    pub const CONNECTION_ALREADY_EXISTS: ErrorCode<'static> =
        ErrorCode::new(446, "Connection Already Exists");
    /// 447 (RFC 6062): the TCP connection to the peer failed.
    pub const CONNECTION_TIMEOUT_OR_FAILURE: ErrorCode<'static> =
        ErrorCode::new(447, "Connection Timeout or Failure");
    /// 486 (RFC 8656): the user has as many allocations as allowed.
    pub const ALLOCATION_QUOTA_REACHED: ErrorCode<'static> =
        ErrorCode::new(486, "Allocation Quota Reached");
    /// 487 (RFC 8445): both ICE agents claim the same role.
    pub const ROLE_CONFLICT: ErrorCode<'static> = ErrorCode::new(487, "Role Conflict");
    /// 500 (RFC 8489): temporary server error; retry.
    pub const SERVER_ERROR: ErrorCode<'static> = ErrorCode::new(500, "Server Error");
    /// 508 (RFC 8656): out of relay ports or bandwidth.
    pub const INSUFFICIENT_CAPACITY: ErrorCode<'static> =
        ErrorCode::new(508, "Insufficient Capacity");
}

/// The list in UNKNOWN-ATTRIBUTES: a view over wire bytes (decode) or a caller's slice (encode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttrTypeList<'a> {
    /// Big-endian u16 pairs as received (even length, checked on decode).
    Wire(&'a [u8]),
    /// Types to encode.
    Types(&'a [u16]),
}

impl<'a> AttrTypeList<'a> {
    /// The attribute types in order.
    pub fn iter(&self) -> impl Iterator<Item = u16> + 'a {
        let (wire, types): (&'a [u8], &'a [u16]) = match *self {
            AttrTypeList::Wire(w) => (w, &[]),
            AttrTypeList::Types(t) => (&[], t),
        };
        wire.chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .chain(types.iter().copied())
    }
    /// Number of attribute types.
    pub fn len(&self) -> usize {
        match self {
            AttrTypeList::Wire(w) => w.len() / 2,
            AttrTypeList::Types(t) => t.len(),
        }
    }
    /// True for an empty list.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One entry of PASSWORD-ALGORITHMS, or the value of PASSWORD-ALGORITHM (RFC 8489 §14.11-12).
/// `algorithm` is the raw IANA number; see [`crate::stun::integrity::PasswordAlgorithm`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PasswordAlgorithmParam<'a> {
    /// The IANA algorithm number (1 MD5, 2 SHA-256).
    pub algorithm: u16,
    /// Algorithm parameters (empty for both defined algorithms).
    pub params: &'a [u8],
}

impl<'a> PasswordAlgorithmParam<'a> {
    /// Encoded length including padding of the parameters.
    pub(crate) fn encoded_len(&self) -> usize {
        4 + pad4(self.params.len())
    }

    /// Reads one entry from the front of `v`; returns it and the bytes consumed.
    pub(crate) fn decode_one(typ: u16, v: &'a [u8]) -> Result<(Self, usize), StunError> {
        if v.len() < 4 {
            return Err(StunError::BadAttribute {
                typ,
                reason: "password algorithm entry shorter than 4 bytes",
            });
        }
        let algorithm = u16::from_be_bytes([v[0], v[1]]);
        let plen = u16::from_be_bytes([v[2], v[3]]) as usize;
        let used = 4 + pad4(plen);
        if v.len() < 4 + plen {
            return Err(StunError::BadAttribute {
                typ,
                reason: "password algorithm parameters overrun the value",
            });
        }
        Ok((
            PasswordAlgorithmParam {
                algorithm,
                params: &v[4..4 + plen],
            },
            used.min(v.len()),
        ))
    }

    pub(crate) fn write(&self, out: &mut [u8]) -> usize {
        out[0..2].copy_from_slice(&self.algorithm.to_be_bytes());
        out[2..4].copy_from_slice(&(self.params.len() as u16).to_be_bytes());
        out[4..4 + self.params.len()].copy_from_slice(self.params);
        let n = self.encoded_len();
        out[4 + self.params.len()..n].fill(0);
        n
    }
}

/// PASSWORD-ALGORITHMS: a view over wire bytes (decode) or a caller's slice (encode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasswordAlgorithmList<'a> {
    /// As received (framing checked on decode).
    Wire(&'a [u8]),
    /// Entries to encode.
    Entries(&'a [PasswordAlgorithmParam<'a>]),
}

impl<'a> PasswordAlgorithmList<'a> {
    /// The entries in order.
    pub fn iter(&self) -> impl Iterator<Item = PasswordAlgorithmParam<'a>> + 'a {
        let (mut wire, entries): (&'a [u8], &'a [PasswordAlgorithmParam<'a>]) = match *self {
            PasswordAlgorithmList::Wire(w) => (w, &[]),
            PasswordAlgorithmList::Entries(e) => (&[], e),
        };
        std::iter::from_fn(move || {
            let (p, used) = PasswordAlgorithmParam::decode_one(0, wire).ok()?;
            wire = &wire[used..];
            Some(p)
        })
        .chain(entries.iter().copied())
    }

    pub(crate) fn validate_wire(typ: u16, mut v: &[u8]) -> Result<(), StunError> {
        while !v.is_empty() {
            let (_, used) = PasswordAlgorithmParam::decode_one(typ, v)?;
            v = &v[used..];
        }
        Ok(())
    }

    pub(crate) fn encoded_len(&self) -> usize {
        match self {
            PasswordAlgorithmList::Wire(w) => w.len(),
            PasswordAlgorithmList::Entries(e) => e.iter().map(|p| p.encoded_len()).sum(),
        }
    }
}

/// ICMP (RFC 8656 §18.13): the ICMP type, code and error data a TURN server relays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Icmp {
    /// ICMP (or ICMPv6) type.
    pub icmp_type: u8,
    /// ICMP code.
    pub code: u8,
    /// Error data (for "packet too big": the MTU).
    pub data: u32,
}

/// Rounds up to a multiple of 4.
pub(crate) const fn pad4(n: usize) -> usize {
    (n + 3) & !3
}
