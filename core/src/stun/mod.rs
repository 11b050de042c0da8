//! STUN (RFC 8489, compatible with RFC 5389 peers).
//!
//! - [`Message`]: a zero-copy view over a received datagram.
//! - [`MessageBuilder`]: writes a message into a caller's buffer.
//! - [`attr`]: attribute type numbers and typed values.
//! - [`integrity`]: short-term and long-term credentials, MESSAGE-INTEGRITY(-SHA256), FINGERPRINT.
//! - [`transaction`]: the sans-IO client transaction (RFC 8489 §6.2.1 retransmissions).
//!
//! The small types shared by all of them live in this file.

pub mod attr;
pub mod builder;
mod classic;
pub mod error;
pub mod integrity;
pub mod message;
pub mod server;
pub mod transaction;

pub use attr::{AddressFamily, Attribute, ErrorCode};
pub use builder::{encode_to_vec, MessageBuilder};
pub use error::StunError;
pub use integrity::{Credentials, IntegrityKey, PasswordAlgorithm};
pub use message::Message;

/// The fixed value in bytes 4..8 of every RFC 5389/8489 message.
pub const MAGIC_COOKIE: u32 = 0x2112_A442;
/// Size of the STUN header.
pub const HEADER_LEN: usize = 20;

/// The 96-bit transaction ID.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TransactionId(pub [u8; 12]);

impl TransactionId {
    /// A fresh random ID from the caller's RNG (sans-IO: no global randomness).
    pub fn random<R: rand::RngCore + ?Sized>(rng: &mut R) -> Self {
        let mut id = [0u8; 12];
        rng.fill_bytes(&mut id);
        TransactionId(id)
    }
}

impl std::fmt::Debug for TransactionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// The message class (RFC 8489 §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// A request: expects a success or error response.
    Request,
    /// An indication: no response.
    Indication,
    /// A success response.
    Success,
    /// An error response (carries ERROR-CODE).
    Error,
}

/// A STUN method (12 bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Method(pub u16);

impl Method {
    /// Binding (RFC 8489): reflexive address, ICE checks and consent.
    pub const BINDING: Method = Method(0x001);
    /// Allocate (RFC 8656 §7): create a relayed address.
    pub const ALLOCATE: Method = Method(0x003);
    /// Refresh (RFC 8656 §8): extend or delete (LIFETIME 0) an allocation.
    pub const REFRESH: Method = Method(0x004);
    /// Send indication (RFC 8656 §11): data to a peer through the relay.
    pub const SEND: Method = Method(0x006);
    /// Data indication (RFC 8656 §11): data from a peer through the relay.
    pub const DATA: Method = Method(0x007);
    /// CreatePermission (RFC 8656 §9): let a peer IP send to the relayed address.
    pub const CREATE_PERMISSION: Method = Method(0x008);
    /// ChannelBind (RFC 8656 §12): bind a channel number to a peer for ChannelData.
    pub const CHANNEL_BIND: Method = Method(0x009);
}

/// Class and method together, as encoded in the 14-bit message type field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MessageType {
    /// Request, indication, success or error.
    pub class: Class,
    /// The method.
    pub method: Method,
}

impl MessageType {
    /// A class and method pair.
    pub const fn new(class: Class, method: Method) -> Self {
        MessageType { class, method }
    }

    /// Interleaves the class bits C1 (bit 8) and C0 (bit 4) into the method bits.
    pub fn to_u16(self) -> u16 {
        let m = self.method.0 & 0x0fff;
        let c: u16 = match self.class {
            Class::Request => 0b00,
            Class::Indication => 0b01,
            Class::Success => 0b10,
            Class::Error => 0b11,
        };
        (m & 0x000f) | ((m & 0x0070) << 1) | ((m & 0x0f80) << 2) | ((c & 1) << 4) | ((c & 2) << 7)
    }

    /// Inverse of [`MessageType::to_u16`]; `None` if either of the top two bits is set.
    pub fn from_u16(v: u16) -> Option<Self> {
        if v & 0xc000 != 0 {
            return None;
        }
        let method = (v & 0x000f) | ((v >> 1) & 0x0070) | ((v >> 2) & 0x0f80);
        let class = match ((v >> 4) & 1) | ((v >> 7) & 2) {
            0 => Class::Request,
            1 => Class::Indication,
            2 => Class::Success,
            _ => Class::Error,
        };
        Some(MessageType {
            class,
            method: Method(method),
        })
    }
}

/// True if `buf` looks like a STUN message by its first byte (RFC 7983 demultiplexing:
/// 0..=3 is STUN, 64..=79 is TURN ChannelData, the rest is application data here).
pub fn is_stun_first_byte(b: u8) -> bool {
    b <= 3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_type_round_trips_every_class_and_method() {
        for class in [
            Class::Request,
            Class::Indication,
            Class::Success,
            Class::Error,
        ] {
            for m in [0x001u16, 0x003, 0x009, 0x0fff, 0x0abc] {
                let t = MessageType::new(class, Method(m));
                assert_eq!(MessageType::from_u16(t.to_u16()), Some(t));
            }
        }
        // Binding success response is 0x0101, error 0x0111 (RFC 8489 §5).
        assert_eq!(
            MessageType::new(Class::Success, Method::BINDING).to_u16(),
            0x0101
        );
        assert_eq!(
            MessageType::new(Class::Error, Method::BINDING).to_u16(),
            0x0111
        );
        assert_eq!(
            MessageType::new(Class::Indication, Method::SEND).to_u16(),
            0x0016
        );
        assert_eq!(MessageType::from_u16(0xc001), None);
    }
}
