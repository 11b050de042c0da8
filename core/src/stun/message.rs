//! [`Message`]: a zero-copy, validated view over a received STUN datagram.
//!
//! `parse` checks the header and walks the attribute TLV headers once (no value decoding, no
//! allocation) and remembers where MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 and FINGERPRINT
//! are. Typed getters decode a value when asked. Verification feeds the header with a patched
//! length field and then the rest of the message straight into the MAC; nothing is copied.
//!
//! Ordering (RFC 8489 §14.5-14.7): attributes after MESSAGE-INTEGRITY other than
//! MESSAGE-INTEGRITY-SHA256 and FINGERPRINT are ignored, after MESSAGE-INTEGRITY-SHA256 only
//! FINGERPRINT counts, and everything after FINGERPRINT is ignored (still framing-checked).
//! "Ignored" means the iterator, `get` and the typed getters do not see them.

use std::net::SocketAddr;

use hmac::Mac;

use super::attr::{
    self, AddressFamily, AttrTypeList, Attribute, ErrorCode, Icmp, PasswordAlgorithmList,
};
use super::attr::{pad4, PasswordAlgorithmParam};
use super::error::StunError;
use super::integrity::{self, IntegrityKey, MacKey};
use super::{Class, MessageType, Method, TransactionId, HEADER_LEN, MAGIC_COOKIE};

/// A parsed STUN message borrowing the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    buf: &'a [u8],
    typ: MessageType,
    integrity: Option<usize>,
    integrity_sha256: Option<usize>,
    fingerprint: Option<usize>,
}

impl<'a> Message<'a> {
    /// Validates `buf` as one whole STUN message (RFC 5389/8489 framing; see the module docs).
    pub fn parse(buf: &'a [u8]) -> Result<Self, StunError> {
        if buf.len() < HEADER_LEN {
            return Err(StunError::Truncated {
                needed: HEADER_LEN,
                actual: buf.len(),
            });
        }
        let raw_type = u16::from_be_bytes([buf[0], buf[1]]);
        let typ = MessageType::from_u16(raw_type).ok_or(StunError::NotStun(buf[0]))?;
        let declared = u16::from_be_bytes([buf[2], buf[3]]) as usize;
        let actual = buf.len() - HEADER_LEN;
        if declared != actual || declared % 4 != 0 {
            return Err(StunError::BadLength { declared, actual });
        }
        let cookie = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
        if cookie != MAGIC_COOKIE {
            return Err(StunError::BadMagicCookie(cookie));
        }
        let mut msg = Message {
            buf,
            typ,
            integrity: None,
            integrity_sha256: None,
            fingerprint: None,
        };
        let mut off = HEADER_LEN;
        while off < buf.len() {
            if buf.len() - off < 4 {
                return Err(StunError::Truncated {
                    needed: off + 4,
                    actual: buf.len(),
                });
            }
            let t = u16::from_be_bytes([buf[off], buf[off + 1]]);
            let len = u16::from_be_bytes([buf[off + 2], buf[off + 3]]) as usize;
            let end = off + 4 + pad4(len);
            if end > buf.len() {
                return Err(StunError::AttributeOverrun {
                    typ: t,
                    offset: off,
                });
            }
            if msg.fingerprint.is_none() {
                match t {
                    attr::MESSAGE_INTEGRITY
                        if msg.integrity.is_none() && msg.integrity_sha256.is_none() =>
                    {
                        if len != 20 {
                            return Err(StunError::BadAttribute {
                                typ: t,
                                reason: "MESSAGE-INTEGRITY must be 20 bytes",
                            });
                        }
                        msg.integrity = Some(off);
                    }
                    attr::MESSAGE_INTEGRITY_SHA256 if msg.integrity_sha256.is_none() => {
                        attr::dec_mi256(&buf[off + 4..off + 4 + len])?;
                        msg.integrity_sha256 = Some(off);
                    }
                    attr::FINGERPRINT => {
                        if len != 4 {
                            return Err(StunError::BadAttribute {
                                typ: t,
                                reason: "FINGERPRINT must be 4 bytes",
                            });
                        }
                        msg.fingerprint = Some(off);
                    }
                    _ => {}
                }
            }
            off = end;
        }
        Ok(msg)
    }

    /// The whole datagram.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }
    /// Class and method.
    pub fn message_type(&self) -> MessageType {
        self.typ
    }
    /// Request, indication, success or error response.
    pub fn class(&self) -> Class {
        self.typ.class
    }
    /// The method (Binding, Allocate, …).
    pub fn method(&self) -> Method {
        self.typ.method
    }
    /// The 96-bit transaction ID from the header.
    pub fn transaction_id(&self) -> TransactionId {
        let mut t = [0u8; 12];
        t.copy_from_slice(&self.buf[8..20]);
        TransactionId(t)
    }

    /// Offset of the first of MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 and FINGERPRINT
    /// (`usize::MAX` if none): every attribute up to and including it is visible.
    #[inline]
    fn first_special(&self) -> usize {
        // `parse` records MESSAGE-INTEGRITY only before the other two and MESSAGE-INTEGRITY-SHA256
        // only before FINGERPRINT, so the first recorded one is the smallest.
        self.integrity
            .or(self.integrity_sha256)
            .or(self.fingerprint)
            .unwrap_or(usize::MAX)
    }

    /// True if the attribute at `off` is visible under the §14.5-14.7 ordering rules: it is at
    /// or before the first special attribute, or it is the recorded MESSAGE-INTEGRITY-SHA256 or
    /// FINGERPRINT (which `parse` only records where they count).
    #[inline]
    fn visible(&self, off: usize) -> bool {
        off <= self.first_special()
            || Some(off) == self.integrity_sha256
            || Some(off) == self.fingerprint
    }

    /// Raw `(type, value)` pairs in order, values without padding.
    pub fn attributes(&self) -> Attributes<'a> {
        Attributes {
            msg: *self,
            off: HEADER_LEN,
        }
    }

    /// Each attribute decoded; an `Err` item for a malformed value (the walk goes on).
    pub fn typed_attributes(&self) -> impl Iterator<Item = Result<Attribute<'a>, StunError>> + 'a {
        let tid = self.transaction_id();
        self.attributes()
            .map(move |(t, v)| Attribute::decode(t, v, &tid))
    }

    /// The value of the first visible attribute of type `typ`.
    ///
    /// A direct walk over the TLV headers (compare the type first, check visibility only on a
    /// match): the typed getters call this once each, so it is the decode hot path.
    pub fn get(&self, typ: u16) -> Option<&'a [u8]> {
        let buf = self.buf;
        let mut off = HEADER_LEN;
        // parse() proved the framing; `get` keeps this panic-free regardless.
        while let Some(hdr) = buf.get(off..off + 4) {
            let t = u16::from_be_bytes([hdr[0], hdr[1]]);
            let len = u16::from_be_bytes([hdr[2], hdr[3]]) as usize;
            if t == typ && self.visible(off) {
                return buf.get(off + 4..off + 4 + len);
            }
            off += 4 + pad4(len);
        }
        None
    }

    /// The first attribute of type `typ`, decoded.
    pub fn attribute(&self, typ: u16) -> Result<Option<Attribute<'a>>, StunError> {
        let tid = self.transaction_id();
        self.get(typ)
            .map(|v| Attribute::decode(typ, v, &tid))
            .transpose()
    }

    fn typed<T>(
        &self,
        typ: u16,
        f: impl FnOnce(&'a [u8]) -> Result<T, StunError>,
    ) -> Result<Option<T>, StunError> {
        self.get(typ).map(f).transpose()
    }

    fn addr(&self, typ: u16) -> Result<Option<SocketAddr>, StunError> {
        let tid = self.transaction_id();
        self.typed(typ, |v| attr::dec_address(typ, v, &tid))
    }

    /// Comprehension-required attribute types (0x0000-0x7FFF) this codec does not know.
    /// RFC 8489 §6.3: a request carrying any gets a 420 response listing them in
    /// UNKNOWN-ATTRIBUTES (see [`crate::stun::MessageBuilder::unknown_attributes_response`]);
    /// a response or indication carrying any is discarded.
    pub fn unknown_comprehension_required(&self) -> impl Iterator<Item = u16> + Clone + 'a {
        self.attributes()
            .map(|(t, _)| t)
            .filter(|t| attr::is_comprehension_required(*t) && !attr::is_known(*t))
    }

    /// True if [`Message::unknown_comprehension_required`] is non-empty.
    pub fn has_unknown_comprehension_required(&self) -> bool {
        self.unknown_comprehension_required().next().is_some()
    }

    /// Verifies MESSAGE-INTEGRITY (HMAC-SHA1, constant-time compare) with raw key bytes.
    pub fn verify_integrity(&self, key: &[u8]) -> Result<(), StunError> {
        self.verify_mi(MacKey::Bytes(key))
    }

    /// Same as [`Message::verify_integrity`] with a prepared key (faster: the HMAC key pads
    /// are precomputed). Use this on hot paths such as ICE connectivity checks.
    pub fn verify_integrity_key(&self, key: &IntegrityKey) -> Result<(), StunError> {
        self.verify_mi(MacKey::Prepared(key))
    }

    fn verify_mi(&self, key: MacKey<'_>) -> Result<(), StunError> {
        let off = self
            .integrity
            .ok_or(StunError::MissingAttribute(attr::MESSAGE_INTEGRITY))?;
        let len = (off + 24 - HEADER_LEN) as u16;
        let mac = integrity::hmac_sha1(key, self.buf, off, len);
        mac.verify_slice(&self.buf[off + 4..off + 24])
            .map_err(|_| StunError::IntegrityMismatch(attr::MESSAGE_INTEGRITY))
    }

    /// Verifies MESSAGE-INTEGRITY-SHA256, truncated per §14.6 (16..=32 bytes, multiple of 4).
    pub fn verify_integrity_sha256(&self, key: &[u8]) -> Result<(), StunError> {
        let typ = attr::MESSAGE_INTEGRITY_SHA256;
        let off = self
            .integrity_sha256
            .ok_or(StunError::MissingAttribute(typ))?;
        let tag_len = u16::from_be_bytes([self.buf[off + 2], self.buf[off + 3]]) as usize;
        let len = (off + 4 + tag_len - HEADER_LEN) as u16;
        let mac = integrity::hmac_sha256(key, self.buf, off, len);
        mac.verify_truncated_left(&self.buf[off + 4..off + 4 + tag_len])
            .map_err(|_| StunError::IntegrityMismatch(typ))
    }

    /// Verifies FINGERPRINT (CRC-32 XOR 0x5354554e).
    pub fn verify_fingerprint(&self) -> Result<(), StunError> {
        let off = self
            .fingerprint
            .ok_or(StunError::MissingAttribute(attr::FINGERPRINT))?;
        let len = (off + 8 - HEADER_LEN) as u16;
        let computed = integrity::fingerprint(self.buf, off, len);
        let b = &self.buf[off + 4..off + 8];
        let carried = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        if carried == computed {
            Ok(())
        } else {
            Err(StunError::FingerprintMismatch { carried, computed })
        }
    }

    /// Whether a MESSAGE-INTEGRITY that counts (RFC 8489 §14.5 ordering) is present.
    pub fn has_integrity(&self) -> bool {
        self.integrity.is_some()
    }
    /// Whether a MESSAGE-INTEGRITY-SHA256 that counts is present.
    pub fn has_integrity_sha256(&self) -> bool {
        self.integrity_sha256.is_some()
    }
    /// Whether a FINGERPRINT is present (last in the message).
    pub fn has_fingerprint(&self) -> bool {
        self.fingerprint.is_some()
    }
}

/// Typed getters: `Ok(None)` if absent, `Err` if present but malformed.
impl<'a> Message<'a> {
    /// MAPPED-ADDRESS.
    pub fn mapped_address(&self) -> Result<Option<SocketAddr>, StunError> {
        self.addr(attr::MAPPED_ADDRESS)
    }
    /// XOR-MAPPED-ADDRESS, un-XORed.
    pub fn xor_mapped_address(&self) -> Result<Option<SocketAddr>, StunError> {
        self.addr(attr::XOR_MAPPED_ADDRESS)
    }
    /// ALTERNATE-SERVER (the target of a 300 redirect).
    pub fn alternate_server(&self) -> Result<Option<SocketAddr>, StunError> {
        self.addr(attr::ALTERNATE_SERVER)
    }
    /// RESPONSE-ORIGIN (RFC 5780).
    pub fn response_origin(&self) -> Result<Option<SocketAddr>, StunError> {
        self.addr(attr::RESPONSE_ORIGIN)
    }
    /// OTHER-ADDRESS (RFC 5780): the server's alternate address.
    pub fn other_address(&self) -> Result<Option<SocketAddr>, StunError> {
        self.addr(attr::OTHER_ADDRESS)
    }
    /// The first XOR-PEER-ADDRESS, un-XORed (see [`Message::xor_peer_addresses`] for all).
    pub fn xor_peer_address(&self) -> Result<Option<SocketAddr>, StunError> {
        self.addr(attr::XOR_PEER_ADDRESS)
    }
    /// All XOR-PEER-ADDRESS values (CreatePermission may carry several); malformed ones are `Err`.
    pub fn xor_peer_addresses(&self) -> impl Iterator<Item = Result<SocketAddr, StunError>> + 'a {
        let tid = self.transaction_id();
        self.attributes()
            .filter(|(t, _)| *t == attr::XOR_PEER_ADDRESS)
            .map(move |(t, v)| attr::dec_address(t, v, &tid))
    }
    /// XOR-RELAYED-ADDRESS, un-XORed.
    pub fn xor_relayed_address(&self) -> Result<Option<SocketAddr>, StunError> {
        self.addr(attr::XOR_RELAYED_ADDRESS)
    }
    /// USERNAME.
    pub fn username(&self) -> Result<Option<&'a str>, StunError> {
        self.typed(attr::USERNAME, attr::dec_username)
    }
    /// USERHASH.
    pub fn userhash(&self) -> Result<Option<&'a [u8; 32]>, StunError> {
        self.typed(attr::USERHASH, |v| {
            v.try_into().map_err(|_| StunError::BadAttribute {
                typ: attr::USERHASH,
                reason: "USERHASH must be 32 bytes",
            })
        })
    }
    /// REALM.
    pub fn realm(&self) -> Result<Option<&'a str>, StunError> {
        self.typed(attr::REALM, |v| attr::dec_text(attr::REALM, v))
    }
    /// NONCE.
    pub fn nonce(&self) -> Result<Option<&'a str>, StunError> {
        self.typed(attr::NONCE, |v| attr::dec_text(attr::NONCE, v))
    }
    /// SOFTWARE.
    pub fn software(&self) -> Result<Option<&'a str>, StunError> {
        self.typed(attr::SOFTWARE, |v| attr::dec_text(attr::SOFTWARE, v))
    }
    /// ALTERNATE-DOMAIN.
    pub fn alternate_domain(&self) -> Result<Option<&'a str>, StunError> {
        self.typed(attr::ALTERNATE_DOMAIN, attr::dec_domain)
    }
    /// ERROR-CODE.
    pub fn error_code(&self) -> Result<Option<ErrorCode<'a>>, StunError> {
        self.typed(attr::ERROR_CODE, |v| ErrorCode::decode(attr::ERROR_CODE, v))
    }
    /// UNKNOWN-ATTRIBUTES (in a 420 response).
    pub fn unknown_attributes(&self) -> Result<Option<AttrTypeList<'a>>, StunError> {
        self.attribute(attr::UNKNOWN_ATTRIBUTES).map(|a| match a {
            Some(Attribute::UnknownAttributes(l)) => Some(l),
            _ => None,
        })
    }
    /// PASSWORD-ALGORITHMS (the server's offer).
    pub fn password_algorithms(&self) -> Result<Option<PasswordAlgorithmList<'a>>, StunError> {
        self.attribute(attr::PASSWORD_ALGORITHMS).map(|a| match a {
            Some(Attribute::PasswordAlgorithms(l)) => Some(l),
            _ => None,
        })
    }
    /// PASSWORD-ALGORITHM (the client's choice).
    pub fn password_algorithm(&self) -> Result<Option<PasswordAlgorithmParam<'a>>, StunError> {
        self.attribute(attr::PASSWORD_ALGORITHM).map(|a| match a {
            Some(Attribute::PasswordAlgorithm(p)) => Some(p),
            _ => None,
        })
    }
    /// PRIORITY (ICE).
    pub fn priority(&self) -> Result<Option<u32>, StunError> {
        self.typed(attr::PRIORITY, |v| attr::dec_u32(attr::PRIORITY, v))
    }
    /// USE-CANDIDATE is a flag: `Ok(true)` if present (and empty).
    pub fn use_candidate(&self) -> Result<bool, StunError> {
        Ok(self
            .typed(attr::USE_CANDIDATE, |v| {
                attr::dec_empty(attr::USE_CANDIDATE, v)
            })?
            .is_some())
    }
    /// ICE-CONTROLLED: the sender's tie-breaker.
    pub fn ice_controlled(&self) -> Result<Option<u64>, StunError> {
        self.typed(attr::ICE_CONTROLLED, |v| {
            attr::dec_u64(attr::ICE_CONTROLLED, v)
        })
    }
    /// ICE-CONTROLLING: the sender's tie-breaker.
    pub fn ice_controlling(&self) -> Result<Option<u64>, StunError> {
        self.typed(attr::ICE_CONTROLLING, |v| {
            attr::dec_u64(attr::ICE_CONTROLLING, v)
        })
    }
    /// CHANGE-REQUEST as `(change_ip, change_port)`.
    pub fn change_request(&self) -> Result<Option<(bool, bool)>, StunError> {
        self.typed(attr::CHANGE_REQUEST, attr::dec_change_request)
    }
    /// RESPONSE-PORT (RFC 5780).
    pub fn response_port(&self) -> Result<Option<u16>, StunError> {
        self.typed(attr::RESPONSE_PORT, |v| {
            attr::dec_u16_in_4(attr::RESPONSE_PORT, v)
        })
    }
    /// PADDING's raw value (never interpreted).
    pub fn padding(&self) -> Option<&'a [u8]> {
        self.get(attr::PADDING)
    }
    /// CHANNEL-NUMBER (TURN).
    pub fn channel_number(&self) -> Result<Option<u16>, StunError> {
        self.typed(attr::CHANNEL_NUMBER, |v| {
            attr::dec_u16_in_4(attr::CHANNEL_NUMBER, v)
        })
    }
    /// LIFETIME in seconds.
    pub fn lifetime(&self) -> Result<Option<u32>, StunError> {
        self.typed(attr::LIFETIME, |v| attr::dec_u32(attr::LIFETIME, v))
    }
    /// DATA (TURN): the relayed datagram.
    pub fn data(&self) -> Option<&'a [u8]> {
        self.get(attr::DATA)
    }
    /// REQUESTED-ADDRESS-FAMILY (TURN).
    pub fn requested_address_family(&self) -> Result<Option<AddressFamily>, StunError> {
        self.typed(attr::REQUESTED_ADDRESS_FAMILY, |v| {
            attr::dec_family(attr::REQUESTED_ADDRESS_FAMILY, v)
        })
    }
    /// ADDITIONAL-ADDRESS-FAMILY (TURN).
    pub fn additional_address_family(&self) -> Result<Option<AddressFamily>, StunError> {
        self.typed(attr::ADDITIONAL_ADDRESS_FAMILY, |v| {
            attr::dec_family(attr::ADDITIONAL_ADDRESS_FAMILY, v)
        })
    }
    /// EVEN-PORT's R bit.
    pub fn even_port(&self) -> Result<Option<bool>, StunError> {
        self.attribute(attr::EVEN_PORT).map(|a| match a {
            Some(Attribute::EvenPort(r)) => Some(r),
            _ => None,
        })
    }
    /// REQUESTED-TRANSPORT protocol number.
    pub fn requested_transport(&self) -> Result<Option<u8>, StunError> {
        self.attribute(attr::REQUESTED_TRANSPORT).map(|a| match a {
            Some(Attribute::RequestedTransport(p)) => Some(p),
            _ => None,
        })
    }
    /// DONT-FRAGMENT is a flag: `Ok(true)` if present (and empty).
    pub fn dont_fragment(&self) -> Result<bool, StunError> {
        Ok(self
            .typed(attr::DONT_FRAGMENT, |v| {
                attr::dec_empty(attr::DONT_FRAGMENT, v)
            })?
            .is_some())
    }
    /// RESERVATION-TOKEN (TURN).
    pub fn reservation_token(&self) -> Result<Option<u64>, StunError> {
        self.typed(attr::RESERVATION_TOKEN, |v| {
            attr::dec_u64(attr::RESERVATION_TOKEN, v)
        })
    }
    /// ADDRESS-ERROR-CODE (TURN): the family that failed and why.
    pub fn address_error_code(&self) -> Result<Option<(AddressFamily, ErrorCode<'a>)>, StunError> {
        self.typed(attr::ADDRESS_ERROR_CODE, attr::dec_address_error_code)
    }
    /// ICMP (TURN): an ICMP error relayed by the server.
    pub fn icmp(&self) -> Result<Option<Icmp>, StunError> {
        self.typed(attr::ICMP, attr::dec_icmp)
    }
    /// The raw MESSAGE-INTEGRITY value, if any (use [`Message::verify_integrity`] to check it).
    pub fn message_integrity(&self) -> Option<&'a [u8]> {
        self.integrity.map(|o| &self.buf[o + 4..o + 24])
    }
    /// The raw MESSAGE-INTEGRITY-SHA256 value, if any.
    pub fn message_integrity_sha256(&self) -> Option<&'a [u8]> {
        self.integrity_sha256.map(|o| {
            let len = u16::from_be_bytes([self.buf[o + 2], self.buf[o + 3]]) as usize;
            &self.buf[o + 4..o + 4 + len]
        })
    }
    /// The FINGERPRINT value as carried, if any.
    pub fn fingerprint(&self) -> Option<u32> {
        self.fingerprint.map(|o| {
            let b = &self.buf[o + 4..o + 8];
            u32::from_be_bytes([b[0], b[1], b[2], b[3]])
        })
    }
}

/// Iterator over visible raw attributes; see [`Message::attributes`].
#[derive(Clone, Debug)]
pub struct Attributes<'a> {
    msg: Message<'a>,
    off: usize,
}

impl<'a> Iterator for Attributes<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let buf = self.msg.buf;
        loop {
            // parse() proved the framing; `get` keeps this panic-free regardless.
            let hdr = buf.get(self.off..self.off + 4)?;
            let typ = u16::from_be_bytes([hdr[0], hdr[1]]);
            let len = u16::from_be_bytes([hdr[2], hdr[3]]) as usize;
            let off = self.off;
            self.off += 4 + pad4(len);
            if self.msg.visible(off) {
                return buf.get(off + 4..off + 4 + len).map(|v| (typ, v));
            }
        }
    }
}

#[cfg(test)]
mod tests;
