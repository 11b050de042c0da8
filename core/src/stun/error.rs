//! [`StunError`]: everything that can go wrong decoding, verifying or encoding a STUN message.
//!
//! Errors from the network side (a malformed datagram) are values the caller drops and counts;
//! errors from the API side (a buffer too small, a value the RFC forbids) are values the caller
//! fixes. Nothing in the codec panics on either.

use super::attr;

/// Why a STUN message could not be parsed, verified or built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StunError {
    /// Fewer bytes than a STUN header (20) or than an attribute header promises.
    #[error("STUN message truncated: need {needed} bytes, have {actual}")]
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes there are.
        actual: usize,
    },

    /// One of the top two bits of the message type is set: this is not STUN (RFC 7983 demux).
    #[error("not a STUN message: the top two bits of the first byte must be zero (got {0:#04x})")]
    NotStun(u8),

    /// The length field is not a multiple of 4 or does not equal the datagram length minus 20.
    #[error(
        "STUN length field says {declared} bytes of attributes but the datagram carries {actual} \
         (it must match exactly and be a multiple of 4)"
    )]
    BadLength {
        /// Attribute bytes the header declares.
        declared: usize,
        /// Attribute bytes the datagram carries.
        actual: usize,
    },

    /// The magic cookie is wrong; a classic RFC 3489 peer sends a random value here.
    #[error(
        "bad STUN magic cookie {0:#010x} (expected 0x2112a442): classic RFC 3489 STUN is not \
         supported, the peer must speak RFC 5389/8489"
    )]
    BadMagicCookie(u32),

    /// An attribute's declared length runs past the end of the message.
    #[error("{} attribute ({typ:#06x}) at offset {offset} runs past the end of the message", attr_name(.typ))]
    AttributeOverrun {
        /// The attribute type.
        typ: u16,
        /// Where its header starts in the message.
        offset: usize,
    },

    /// An attribute value that violates its RFC format (length, family, range, encoding).
    #[error("malformed {} attribute ({typ:#06x}): {reason}", attr_name(.typ))]
    BadAttribute {
        /// The attribute type.
        typ: u16,
        /// Which rule it breaks.
        reason: &'static str,
    },

    /// A verification or typed lookup needed an attribute the message does not carry.
    #[error("STUN message has no {} attribute ({0:#06x})", attr_name(.0))]
    MissingAttribute(u16),

    /// MESSAGE-INTEGRITY or MESSAGE-INTEGRITY-SHA256 did not verify with the given key.
    #[error(
        "{} check failed: wrong key (password, or username/realm for long-term credentials) \
         or the message was altered in transit",
        attr_name(.0)
    )]
    IntegrityMismatch(u16),

    /// FINGERPRINT does not match the CRC-32 of the message.
    #[error("FINGERPRINT mismatch: message carries {carried:#010x}, computed {computed:#010x}")]
    FingerprintMismatch {
        /// The value in the message.
        carried: u32,
        /// The CRC-32 computed over the message.
        computed: u32,
    },

    /// The caller's output buffer cannot hold the message.
    #[error("output buffer too small: need {needed} bytes, have {available}")]
    BufferTooSmall {
        /// Bytes the message needs.
        needed: usize,
        /// Bytes the buffer has.
        available: usize,
    },

    /// The message would exceed the 16-bit length field (65535 bytes of attributes).
    #[error("STUN message too long: {0} bytes of attributes exceeds the 65535 limit")]
    MessageTooLong(usize),

    /// An attribute was added where RFC 8489 §14.5-14.7 forbids it.
    #[error("cannot add {} ({typ:#06x}) after {}: only MESSAGE-INTEGRITY-SHA256 and FINGERPRINT may follow MESSAGE-INTEGRITY, and nothing follows FINGERPRINT", attr_name(.typ), attr_name(.after))]
    AttributeOrder {
        /// The attribute being added.
        typ: u16,
        /// The attribute it may not follow.
        after: u16,
    },

    /// MESSAGE-INTEGRITY(-SHA256) and FINGERPRINT are computed, not added as values.
    #[error("{} is computed by the builder: use add_message_integrity(), add_message_integrity_sha256() or add_fingerprint()", attr_name(.0))]
    ComputedAttribute(u16),

    /// A username, realm or password that OpaqueString (RFC 8265) rejects.
    #[error("invalid credential string: {0}")]
    BadCredential(&'static str),
}

fn attr_name(typ: &u16) -> &'static str {
    attr::name(*typ)
}
