//! [`MessageBuilder`]: writes a STUN message into a caller's buffer, no allocation.
//!
//! The header length field is kept current after every attribute, so MESSAGE-INTEGRITY,
//! MESSAGE-INTEGRITY-SHA256 and FINGERPRINT are computed over exactly what RFC 8489 §14.5-14.7
//! specify (the header with the length including the attribute being added).
//!
//! Padding bytes default to zero. RFC 8489 says they may be any value and receivers ignore them;
//! [`MessageBuilder::padding_byte`] chooses another byte (RFC 5769's vectors pad SOFTWARE and
//! USERNAME with 0x20, and MESSAGE-INTEGRITY covers the padding, so reproducing them needs it).

use hmac::Mac;

use super::attr::{self, pad4, AttrTypeList, Attribute, ErrorCode};
use super::error::StunError;
use super::integrity::{self, IntegrityKey, MacKey};
use super::message::Message;
use super::{Class, MessageType, TransactionId, HEADER_LEN, MAGIC_COOKIE};

/// Largest value of the 16-bit length field.
const MAX_BODY: usize = u16::MAX as usize;

/// Builds one message into `buf`. Every method that writes returns an error value (never
/// panics) if the buffer is too small or the value breaks an RFC rule; on error nothing is
/// written and the builder is still usable.
#[derive(Debug)]
pub struct MessageBuilder<'b> {
    buf: &'b mut [u8],
    len: usize,
    tid: TransactionId,
    padding: u8,
    /// The last of MESSAGE-INTEGRITY / -SHA256 / FINGERPRINT added, which limits what may follow.
    last_special: Option<u16>,
}

impl<'b> MessageBuilder<'b> {
    /// Starts a message: writes the 20-byte header.
    pub fn new(buf: &'b mut [u8], typ: MessageType, tid: TransactionId) -> Result<Self, StunError> {
        if buf.len() < HEADER_LEN {
            return Err(StunError::BufferTooSmall {
                needed: HEADER_LEN,
                available: buf.len(),
            });
        }
        buf[0..2].copy_from_slice(&typ.to_u16().to_be_bytes());
        buf[2..4].fill(0);
        buf[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
        buf[8..20].copy_from_slice(&tid.0);
        Ok(MessageBuilder {
            buf,
            len: HEADER_LEN,
            tid,
            padding: 0,
            last_special: None,
        })
    }

    /// Starts a 420 (Unknown Attribute) error response to `request` listing its unknown
    /// comprehension-required attributes (RFC 8489 §6.3.1.1). Returns `Ok(None)` if `request`
    /// is not a request or has none. Add SOFTWARE / integrity / FINGERPRINT, then `finish`.
    pub fn unknown_attributes_response(
        buf: &'b mut [u8],
        request: &Message<'_>,
    ) -> Result<Option<Self>, StunError> {
        if request.class() != Class::Request || !request.has_unknown_comprehension_required() {
            return Ok(None);
        }
        let typ = MessageType::new(Class::Error, request.method());
        let mut b = MessageBuilder::new(buf, typ, request.transaction_id())?;
        b.add(&Attribute::ErrorCode(ErrorCode::UNKNOWN_ATTRIBUTE))?;
        b.add_unknown_attributes(request.unknown_comprehension_required())?;
        Ok(Some(b))
    }

    /// Byte used to pad values to a multiple of 4 from now on (default 0).
    pub fn padding_byte(&mut self, byte: u8) -> &mut Self {
        self.padding = byte;
        self
    }

    /// The transaction ID in the header.
    pub fn transaction_id(&self) -> TransactionId {
        self.tid
    }

    /// Bytes written so far (a complete message at every point).
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Ends the message and returns it.
    #[must_use = "the encoded message is the returned slice"]
    pub fn finish(self) -> &'b [u8] {
        &self.buf[..self.len]
    }

    fn check_order(&self, typ: u16) -> Result<(), StunError> {
        match self.last_special {
            None => Ok(()),
            Some(attr::MESSAGE_INTEGRITY)
                if matches!(typ, attr::MESSAGE_INTEGRITY_SHA256 | attr::FINGERPRINT) =>
            {
                Ok(())
            }
            Some(attr::MESSAGE_INTEGRITY_SHA256) if typ == attr::FINGERPRINT => Ok(()),
            Some(after) => Err(StunError::AttributeOrder { typ, after }),
        }
    }

    /// Reserves an attribute of `value_len` bytes: writes its header, padding and the new
    /// message length; returns the value slice to fill.
    fn reserve(&mut self, typ: u16, value_len: usize) -> Result<&mut [u8], StunError> {
        self.check_order(typ)?;
        if value_len > MAX_BODY {
            return Err(StunError::MessageTooLong(value_len));
        }
        let end = self.len + 4 + pad4(value_len);
        if end - HEADER_LEN > MAX_BODY {
            return Err(StunError::MessageTooLong(end - HEADER_LEN));
        }
        if end > self.buf.len() {
            return Err(StunError::BufferTooSmall {
                needed: end,
                available: self.buf.len(),
            });
        }
        let start = self.len;
        self.buf[start..start + 2].copy_from_slice(&typ.to_be_bytes());
        self.buf[start + 2..start + 4].copy_from_slice(&(value_len as u16).to_be_bytes());
        if value_len % 4 != 0 {
            // One fixed 4-byte store covers the 1..=3 padding bytes (no `memset` call); the
            // value is written over the front of it by the caller.
            self.buf[end - 4..end].copy_from_slice(&[self.padding; 4]);
        }
        self.buf[2..4].copy_from_slice(&((end - HEADER_LEN) as u16).to_be_bytes());
        self.len = end;
        Ok(&mut self.buf[start + 4..start + 4 + value_len])
    }

    /// Adds a typed attribute. MESSAGE-INTEGRITY(-SHA256) and FINGERPRINT are refused here
    /// ([`StunError::ComputedAttribute`]): use the dedicated methods.
    pub fn add(&mut self, a: &Attribute<'_>) -> Result<&mut Self, StunError> {
        let typ = a.typ();
        if matches!(
            typ,
            attr::MESSAGE_INTEGRITY | attr::MESSAGE_INTEGRITY_SHA256 | attr::FINGERPRINT
        ) {
            return Err(StunError::ComputedAttribute(typ));
        }
        let n = a.value_len()?;
        let tid = self.tid;
        let out = self.reserve(typ, n)?;
        a.write_value(out, &tid);
        Ok(self)
    }

    /// Adds an attribute from its raw type and value (no validation of the value).
    pub fn add_raw(&mut self, typ: u16, value: &[u8]) -> Result<&mut Self, StunError> {
        if matches!(
            typ,
            attr::MESSAGE_INTEGRITY | attr::MESSAGE_INTEGRITY_SHA256 | attr::FINGERPRINT
        ) {
            return Err(StunError::ComputedAttribute(typ));
        }
        self.reserve(typ, value.len())?.copy_from_slice(value);
        Ok(self)
    }

    /// Adds UNKNOWN-ATTRIBUTES from any iterator of types (e.g. a request's
    /// [`Message::unknown_comprehension_required`]).
    pub fn add_unknown_attributes(
        &mut self,
        types: impl IntoIterator<Item = u16> + Clone,
    ) -> Result<&mut Self, StunError> {
        let n = types.clone().into_iter().count();
        let out = self.reserve(attr::UNKNOWN_ATTRIBUTES, 2 * n)?;
        for (chunk, t) in out.chunks_exact_mut(2).zip(types) {
            chunk.copy_from_slice(&t.to_be_bytes());
        }
        Ok(self)
    }

    /// Convenience: UNKNOWN-ATTRIBUTES from a slice.
    pub fn add_unknown_attribute_list(&mut self, types: &[u16]) -> Result<&mut Self, StunError> {
        self.add(&Attribute::UnknownAttributes(AttrTypeList::Types(types)))
    }

    /// Convenience: XOR-MAPPED-ADDRESS (the builder does the XOR).
    pub fn add_xor_mapped_address(
        &mut self,
        addr: std::net::SocketAddr,
    ) -> Result<&mut Self, StunError> {
        self.add(&Attribute::XorMappedAddress(addr))
    }

    /// Convenience: USERNAME (at most 509 bytes).
    pub fn add_username(&mut self, username: &str) -> Result<&mut Self, StunError> {
        self.add(&Attribute::Username(username))
    }

    /// Convenience: SOFTWARE (fewer than 128 characters).
    pub fn add_software(&mut self, software: &str) -> Result<&mut Self, StunError> {
        self.add(&Attribute::Software(software))
    }

    /// Convenience: ERROR-CODE `code` (300..=699) with a reason phrase.
    pub fn add_error_code(&mut self, code: u16, reason: &str) -> Result<&mut Self, StunError> {
        self.add(&Attribute::ErrorCode(ErrorCode::new(code, reason)))
    }

    /// Appends MESSAGE-INTEGRITY (HMAC-SHA1 with `key`, RFC 8489 §14.5).
    pub fn add_message_integrity(&mut self, key: &[u8]) -> Result<&mut Self, StunError> {
        self.add_mi(MacKey::Bytes(key))
    }

    /// Same as [`MessageBuilder::add_message_integrity`] with a prepared key (faster).
    pub fn add_message_integrity_key(
        &mut self,
        key: &IntegrityKey,
    ) -> Result<&mut Self, StunError> {
        self.add_mi(MacKey::Prepared(key))
    }

    fn add_mi(&mut self, key: MacKey<'_>) -> Result<&mut Self, StunError> {
        let start = self.len;
        self.reserve(attr::MESSAGE_INTEGRITY, 20)?;
        let len = (self.len - HEADER_LEN) as u16;
        let tag = integrity::hmac_sha1(key, self.buf, start, len).finalize();
        self.buf[start + 4..start + 24].copy_from_slice(&tag.into_bytes());
        self.last_special = Some(attr::MESSAGE_INTEGRITY);
        Ok(self)
    }

    /// Appends a full 32-byte MESSAGE-INTEGRITY-SHA256 (RFC 8489 §14.6).
    pub fn add_message_integrity_sha256(&mut self, key: &[u8]) -> Result<&mut Self, StunError> {
        self.add_message_integrity_sha256_truncated(key, 32)
    }

    /// Appends MESSAGE-INTEGRITY-SHA256 truncated to `len` bytes (16..=32, a multiple of 4).
    pub fn add_message_integrity_sha256_truncated(
        &mut self,
        key: &[u8],
        len: usize,
    ) -> Result<&mut Self, StunError> {
        if !(16..=32).contains(&len) || len % 4 != 0 {
            return Err(StunError::BadAttribute {
                typ: attr::MESSAGE_INTEGRITY_SHA256,
                reason: "length must be 16..=32 and a multiple of 4",
            });
        }
        let start = self.len;
        self.reserve(attr::MESSAGE_INTEGRITY_SHA256, len)?;
        let body = (self.len - HEADER_LEN) as u16;
        let tag = integrity::hmac_sha256(key, self.buf, start, body).finalize();
        self.buf[start + 4..start + 4 + len].copy_from_slice(&tag.into_bytes()[..len]);
        self.last_special = Some(attr::MESSAGE_INTEGRITY_SHA256);
        Ok(self)
    }

    /// Appends FINGERPRINT (RFC 8489 §14.7). Nothing may be added after it.
    pub fn add_fingerprint(&mut self) -> Result<&mut Self, StunError> {
        let start = self.len;
        self.reserve(attr::FINGERPRINT, 4)?;
        let len = (self.len - HEADER_LEN) as u16;
        let crc = integrity::fingerprint(self.buf, start, len);
        self.buf[start + 4..start + 8].copy_from_slice(&crc.to_be_bytes());
        self.last_special = Some(attr::FINGERPRINT);
        Ok(self)
    }
}

/// Encodes a whole message into a new `Vec` (sized exactly): `attrs` in order, then
/// MESSAGE-INTEGRITY with `integrity_key` if given, then FINGERPRINT if asked.
pub fn encode_to_vec(
    typ: MessageType,
    tid: TransactionId,
    attrs: &[Attribute<'_>],
    integrity_key: Option<&[u8]>,
    fingerprint: bool,
) -> Result<Vec<u8>, StunError> {
    let mut size = HEADER_LEN;
    for a in attrs {
        size += 4 + pad4(a.value_len()?);
    }
    size += if integrity_key.is_some() { 24 } else { 0 } + if fingerprint { 8 } else { 0 };
    let mut buf = vec![0u8; size];
    let mut b = MessageBuilder::new(&mut buf, typ, tid)?;
    for a in attrs {
        b.add(a)?;
    }
    if let Some(k) = integrity_key {
        b.add_message_integrity(k)?;
    }
    if fingerprint {
        b.add_fingerprint()?;
    }
    let n = b.finish().len();
    buf.truncate(n);
    Ok(buf)
}
