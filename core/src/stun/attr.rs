//! STUN attribute type numbers and the typed [`Attribute`] value, for decode and encode.
//!
//! Decoding is lazy: [`crate::stun::Message`] only walks TLV headers; an [`Attribute`] is built
//! from a value slice when asked for. Text and byte values borrow from the datagram.

mod address;
#[cfg(test)]
mod tests;
mod values;

use std::net::SocketAddr;

pub use address::{AddressFamily, FAMILY_IPV4, FAMILY_IPV6};
pub use values::{
    AttrTypeList, ErrorCode, Icmp, PasswordAlgorithmList, PasswordAlgorithmParam, MAX_DOMAIN_BYTES,
    MAX_TEXT_BYTES, MAX_TEXT_CHARS, MAX_USERNAME_BYTES,
};

pub(crate) use values::pad4;

use super::error::StunError;
use super::TransactionId;

// Comprehension-required (0x0000-0x7FFF).
/// MAPPED-ADDRESS (RFC 8489 §14.1): the reflexive address, unobfuscated (RFC 3489 servers).
pub const MAPPED_ADDRESS: u16 = 0x0001;
/// CHANGE-REQUEST (RFC 5780 §7.2): ask the server to answer from its other IP and/or port.
pub const CHANGE_REQUEST: u16 = 0x0003;
/// USERNAME (RFC 8489 §14.3): the credential user name (ICE: `remote-ufrag:local-ufrag`).
pub const USERNAME: u16 = 0x0006;
/// MESSAGE-INTEGRITY (RFC 8489 §14.5): HMAC-SHA1 over the message.
pub const MESSAGE_INTEGRITY: u16 = 0x0008;
/// ERROR-CODE (RFC 8489 §14.8): error class, number and reason phrase.
pub const ERROR_CODE: u16 = 0x0009;
/// UNKNOWN-ATTRIBUTES (RFC 8489 §14.13): the comprehension-required types a 420 refuses.
pub const UNKNOWN_ATTRIBUTES: u16 = 0x000A;
/// CHANNEL-NUMBER (RFC 8656 §18.1): the channel a ChannelBind requests.
pub const CHANNEL_NUMBER: u16 = 0x000C;
/// LIFETIME (RFC 8656 §18.2): allocation lifetime in seconds.
pub const LIFETIME: u16 = 0x000D;
/// XOR-PEER-ADDRESS (RFC 8656 §18.3): a peer of the TURN allocation.
pub const XOR_PEER_ADDRESS: u16 = 0x0012;
/// DATA (RFC 8656 §18.4): the application datagram in a Send or Data indication.
pub const DATA: u16 = 0x0013;
/// REALM (RFC 8489 §14.9): the long-term credential realm.
pub const REALM: u16 = 0x0014;
/// NONCE (RFC 8489 §14.10): the server nonce for long-term credentials.
pub const NONCE: u16 = 0x0015;
/// XOR-RELAYED-ADDRESS (RFC 8656 §18.5): the relayed transport address of an allocation.
pub const XOR_RELAYED_ADDRESS: u16 = 0x0016;
/// REQUESTED-ADDRESS-FAMILY (RFC 8656 §18.6): the family of the relayed address asked for.
pub const REQUESTED_ADDRESS_FAMILY: u16 = 0x0017;
/// EVEN-PORT (RFC 8656 §18.7): ask for an even relayed port.
pub const EVEN_PORT: u16 = 0x0018;
/// REQUESTED-TRANSPORT (RFC 8656 §18.8): the relay's transport protocol.
pub const REQUESTED_TRANSPORT: u16 = 0x0019;
/// DONT-FRAGMENT (RFC 8656 §18.9): set DF on relayed datagrams.
pub const DONT_FRAGMENT: u16 = 0x001A;
/// MESSAGE-INTEGRITY-SHA256 (RFC 8489 §14.6): HMAC-SHA256 over the message.
pub const MESSAGE_INTEGRITY_SHA256: u16 = 0x001C;
/// PASSWORD-ALGORITHM (RFC 8489 §14.12): the algorithm the client chose for the long-term key.
pub const PASSWORD_ALGORITHM: u16 = 0x001D;
/// USERHASH (RFC 8489 §14.4): SHA-256 of `username:realm`, instead of USERNAME.
pub const USERHASH: u16 = 0x001E;
/// XOR-MAPPED-ADDRESS (RFC 8489 §14.2): the reflexive address, XORed with the magic cookie.
pub const XOR_MAPPED_ADDRESS: u16 = 0x0020;
/// RESERVATION-TOKEN (RFC 8656 §18.10): names a port reserved with EVEN-PORT.
pub const RESERVATION_TOKEN: u16 = 0x0022;
/// PRIORITY (RFC 8445 §16.1): the peer-reflexive priority of an ICE check.
pub const PRIORITY: u16 = 0x0024;
/// USE-CANDIDATE (RFC 8445 §16.1): the controlling agent nominates this pair.
pub const USE_CANDIDATE: u16 = 0x0025;
/// PADDING (RFC 5780 §7.6): filler for path MTU tests (not implemented here).
pub const PADDING: u16 = 0x0026;
/// RESPONSE-PORT (RFC 5780 §7.5): answer to this port at the request's source IP.
pub const RESPONSE_PORT: u16 = 0x0027;
// Comprehension-optional (0x8000-0xFFFF).
/// ADDITIONAL-ADDRESS-FAMILY (RFC 8656 §18.11): ask for a second, IPv6 relayed address.
pub const ADDITIONAL_ADDRESS_FAMILY: u16 = 0x8000;
/// ADDRESS-ERROR-CODE (RFC 8656 §18.12): why one family of a dual allocation failed.
pub const ADDRESS_ERROR_CODE: u16 = 0x8001;
/// PASSWORD-ALGORITHMS (RFC 8489 §14.11): the algorithms a server offers.
pub const PASSWORD_ALGORITHMS: u16 = 0x8002;
/// ALTERNATE-DOMAIN (RFC 8489 §14.16): the TLS name of an ALTERNATE-SERVER.
pub const ALTERNATE_DOMAIN: u16 = 0x8003;
/// ICMP (RFC 8656 §18.13): an ICMP error relayed by a TURN server.
pub const ICMP: u16 = 0x8004;
/// SOFTWARE (RFC 8489 §14.14): a description of the sending software.
pub const SOFTWARE: u16 = 0x8022;
/// ALTERNATE-SERVER (RFC 8489 §14.15): try this server instead (with a 300).
pub const ALTERNATE_SERVER: u16 = 0x8023;
/// FINGERPRINT (RFC 8489 §14.7): CRC-32 of the message XOR 0x5354554E.
pub const FINGERPRINT: u16 = 0x8028;
/// ICE-CONTROLLED (RFC 8445 §16.1): the sender is controlled; carries its tie-breaker.
pub const ICE_CONTROLLED: u16 = 0x8029;
/// ICE-CONTROLLING (RFC 8445 §16.1): the sender is controlling; carries its tie-breaker.
pub const ICE_CONTROLLING: u16 = 0x802A;
/// RESPONSE-ORIGIN (RFC 5780 §7.3): the address a response was sent from.
pub const RESPONSE_ORIGIN: u16 = 0x802B;
/// OTHER-ADDRESS (RFC 5780 §7.4): the server's alternate address (other IP and port).
pub const OTHER_ADDRESS: u16 = 0x802C;

/// REQUESTED-TRANSPORT protocol number for UDP.
pub const TRANSPORT_UDP: u8 = 17;
/// REQUESTED-TRANSPORT protocol number for TCP (RFC 6062).
pub const TRANSPORT_TCP: u8 = 6;
/// CHANGE-REQUEST flag "change IP" (RFC 5780 §7.2).
pub const CHANGE_IP: u32 = 0x4;
/// CHANGE-REQUEST flag "change port".
pub const CHANGE_PORT: u32 = 0x2;

/// True for types in the comprehension-required range (RFC 8489 §14).
pub const fn is_comprehension_required(typ: u16) -> bool {
    typ < 0x8000
}

/// The RFC name of an attribute type, or "unknown".
pub fn name(typ: u16) -> &'static str {
    match typ {
        MAPPED_ADDRESS => "MAPPED-ADDRESS",
        CHANGE_REQUEST => "CHANGE-REQUEST",
        USERNAME => "USERNAME",
        MESSAGE_INTEGRITY => "MESSAGE-INTEGRITY",
        ERROR_CODE => "ERROR-CODE",
        UNKNOWN_ATTRIBUTES => "UNKNOWN-ATTRIBUTES",
        CHANNEL_NUMBER => "CHANNEL-NUMBER",
        LIFETIME => "LIFETIME",
        XOR_PEER_ADDRESS => "XOR-PEER-ADDRESS",
        DATA => "DATA",
        REALM => "REALM",
        NONCE => "NONCE",
        XOR_RELAYED_ADDRESS => "XOR-RELAYED-ADDRESS",
        REQUESTED_ADDRESS_FAMILY => "REQUESTED-ADDRESS-FAMILY",
        EVEN_PORT => "EVEN-PORT",
        REQUESTED_TRANSPORT => "REQUESTED-TRANSPORT",
        DONT_FRAGMENT => "DONT-FRAGMENT",
        MESSAGE_INTEGRITY_SHA256 => "MESSAGE-INTEGRITY-SHA256",
        PASSWORD_ALGORITHM => "PASSWORD-ALGORITHM",
        USERHASH => "USERHASH",
        XOR_MAPPED_ADDRESS => "XOR-MAPPED-ADDRESS",
        RESERVATION_TOKEN => "RESERVATION-TOKEN",
        PRIORITY => "PRIORITY",
        USE_CANDIDATE => "USE-CANDIDATE",
        PADDING => "PADDING",
        RESPONSE_PORT => "RESPONSE-PORT",
        ADDITIONAL_ADDRESS_FAMILY => "ADDITIONAL-ADDRESS-FAMILY",
        ADDRESS_ERROR_CODE => "ADDRESS-ERROR-CODE",
        PASSWORD_ALGORITHMS => "PASSWORD-ALGORITHMS",
        ALTERNATE_DOMAIN => "ALTERNATE-DOMAIN",
        ICMP => "ICMP",
        SOFTWARE => "SOFTWARE",
        ALTERNATE_SERVER => "ALTERNATE-SERVER",
        FINGERPRINT => "FINGERPRINT",
        ICE_CONTROLLED => "ICE-CONTROLLED",
        ICE_CONTROLLING => "ICE-CONTROLLING",
        RESPONSE_ORIGIN => "RESPONSE-ORIGIN",
        OTHER_ADDRESS => "OTHER-ADDRESS",
        _ => "unknown",
    }
}

/// True if this codec understands `typ` (used for the RFC 8489 §6.3 unknown-attribute check).
pub fn is_known(typ: u16) -> bool {
    name(typ) != "unknown"
}

/// A decoded (or to-be-encoded) attribute. Borrowed values point into the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attribute<'a> {
    /// MAPPED-ADDRESS: the reflexive transport address as is.
    MappedAddress(SocketAddr),
    /// XOR-MAPPED-ADDRESS: the reflexive transport address (the codec does the XOR).
    XorMappedAddress(SocketAddr),
    /// At most [`MAX_USERNAME_BYTES`].
    Username(&'a str),
    /// USERHASH: SHA-256 of `username:realm` (see [`crate::stun::integrity::userhash`]).
    UserHash(&'a [u8; 32]),
    /// Decode only: the builder computes it (`add_message_integrity`).
    MessageIntegrity(&'a [u8; 20]),
    /// Decode only: 16..=32 bytes, a multiple of 4.
    MessageIntegritySha256(&'a [u8]),
    /// Decode only: the CRC-32 value as carried.
    Fingerprint(u32),
    /// ERROR-CODE: code and reason phrase.
    ErrorCode(ErrorCode<'a>),
    /// REALM: at most [`MAX_TEXT_CHARS`] characters.
    Realm(&'a str),
    /// NONCE: opaque server text, at most [`MAX_TEXT_CHARS`] characters.
    Nonce(&'a str),
    /// PASSWORD-ALGORITHMS: what the server offers, in its order.
    PasswordAlgorithms(PasswordAlgorithmList<'a>),
    /// PASSWORD-ALGORITHM: what the client chose from the offer.
    PasswordAlgorithm(PasswordAlgorithmParam<'a>),
    /// UNKNOWN-ATTRIBUTES: the types a 420 response refuses.
    UnknownAttributes(AttrTypeList<'a>),
    /// SOFTWARE: free text, at most [`MAX_TEXT_CHARS`] characters.
    Software(&'a str),
    /// ALTERNATE-SERVER: where a 300 redirect points.
    AlternateServer(SocketAddr),
    /// ALTERNATE-DOMAIN: the name to verify the alternate server's certificate against.
    AlternateDomain(&'a str),
    /// PRIORITY: the priority a peer-reflexive candidate learned from this check gets.
    Priority(u32),
    /// USE-CANDIDATE: no value.
    UseCandidate,
    /// ICE-CONTROLLED: the sender's tie-breaker.
    IceControlled(u64),
    /// ICE-CONTROLLING: the sender's tie-breaker.
    IceControlling(u64),
    /// CHANGE-REQUEST: which of the server's IP and port to change for the answer.
    ChangeRequest {
        /// Answer from the server's other IP.
        change_ip: bool,
        /// Answer from the server's other port.
        change_port: bool,
    },
    /// RESPONSE-ORIGIN: where the server sent the response from.
    ResponseOrigin(SocketAddr),
    /// OTHER-ADDRESS: the server's alternate IP and port.
    OtherAddress(SocketAddr),
    /// RESPONSE-PORT: the port to answer to.
    ResponsePort(u16),
    /// PADDING: filler bytes (decoded, never interpreted).
    Padding(&'a [u8]),
    /// CHANNEL-NUMBER: 0x4000..=0x4FFF (RFC 8656 §12).
    ChannelNumber(u16),
    /// Seconds.
    Lifetime(u32),
    /// XOR-PEER-ADDRESS: a peer of the allocation.
    XorPeerAddress(SocketAddr),
    /// DATA: the relayed datagram.
    Data(&'a [u8]),
    /// XOR-RELAYED-ADDRESS: the allocation's relayed address.
    XorRelayedAddress(SocketAddr),
    /// REQUESTED-ADDRESS-FAMILY: the family the relayed address should have.
    RequestedAddressFamily(AddressFamily),
    /// The R bit: reserve the next-higher port too.
    EvenPort(bool),
    /// IANA protocol number ([`TRANSPORT_UDP`], [`TRANSPORT_TCP`]).
    RequestedTransport(u8),
    /// DONT-FRAGMENT: no value.
    DontFragment,
    /// RESERVATION-TOKEN: names a reserved relayed port.
    ReservationToken(u64),
    /// ADDITIONAL-ADDRESS-FAMILY: also allocate this family (IPv6).
    AdditionalAddressFamily(AddressFamily),
    /// ADDRESS-ERROR-CODE: one family of a dual allocation failed.
    AddressErrorCode {
        /// The family that failed.
        family: AddressFamily,
        /// Why it failed.
        error: ErrorCode<'a>,
    },
    /// ICMP: an ICMP error the TURN server received for a peer.
    Icmp(Icmp),
    /// Any type this codec does not know, kept as raw bytes (decode only).
    Unknown {
        /// The attribute type.
        typ: u16,
        /// The value, without padding.
        value: &'a [u8],
    },
}

fn bad(typ: u16, reason: &'static str) -> StunError {
    StunError::BadAttribute { typ, reason }
}

fn fixed<const N: usize>(typ: u16, v: &[u8]) -> Result<[u8; N], StunError> {
    v.try_into()
        .map_err(|_| bad(typ, "wrong value length for this attribute"))
}

pub(crate) fn dec_u32(typ: u16, v: &[u8]) -> Result<u32, StunError> {
    Ok(u32::from_be_bytes(fixed(typ, v)?))
}

pub(crate) fn dec_u64(typ: u16, v: &[u8]) -> Result<u64, StunError> {
    Ok(u64::from_be_bytes(fixed(typ, v)?))
}

/// The first 16 bits of a 4-byte value (CHANNEL-NUMBER, RESPONSE-PORT).
pub(crate) fn dec_u16_in_4(typ: u16, v: &[u8]) -> Result<u16, StunError> {
    let b: [u8; 4] = fixed(typ, v)?;
    Ok(u16::from_be_bytes([b[0], b[1]]))
}

pub(crate) fn dec_family(typ: u16, v: &[u8]) -> Result<AddressFamily, StunError> {
    let b: [u8; 4] = fixed(typ, v)?;
    AddressFamily::from_u8(b[0]).ok_or(bad(typ, "unknown address family (expected 0x01 or 0x02)"))
}

pub(crate) fn dec_empty(typ: u16, v: &[u8]) -> Result<(), StunError> {
    if v.is_empty() {
        Ok(())
    } else {
        Err(bad(typ, "value must be empty"))
    }
}

pub(crate) fn dec_address(
    typ: u16,
    v: &[u8],
    tid: &TransactionId,
) -> Result<SocketAddr, StunError> {
    let xor = matches!(
        typ,
        XOR_MAPPED_ADDRESS | XOR_PEER_ADDRESS | XOR_RELAYED_ADDRESS
    );
    address::decode(typ, v, xor.then_some(tid))
}

pub(crate) fn dec_username(v: &[u8]) -> Result<&str, StunError> {
    values::text(USERNAME, v, usize::MAX, MAX_USERNAME_BYTES)
}

pub(crate) fn dec_text(typ: u16, v: &[u8]) -> Result<&str, StunError> {
    values::text(typ, v, MAX_TEXT_CHARS, MAX_TEXT_BYTES)
}

pub(crate) fn dec_domain(v: &[u8]) -> Result<&str, StunError> {
    if !v.is_ascii() {
        return Err(bad(
            ALTERNATE_DOMAIN,
            "domain name must be ASCII (A-labels)",
        ));
    }
    values::text(ALTERNATE_DOMAIN, v, usize::MAX, MAX_DOMAIN_BYTES)
}

pub(crate) fn dec_mi256(v: &[u8]) -> Result<&[u8], StunError> {
    if (16..=32).contains(&v.len()) && v.len() % 4 == 0 {
        Ok(v)
    } else {
        Err(bad(
            MESSAGE_INTEGRITY_SHA256,
            "length must be 16..=32 and a multiple of 4",
        ))
    }
}

pub(crate) fn dec_change_request(v: &[u8]) -> Result<(bool, bool), StunError> {
    let f = dec_u32(CHANGE_REQUEST, v)?;
    Ok((f & CHANGE_IP != 0, f & CHANGE_PORT != 0))
}

pub(crate) fn dec_address_error_code(
    v: &[u8],
) -> Result<(AddressFamily, ErrorCode<'_>), StunError> {
    let typ = ADDRESS_ERROR_CODE;
    let fam = v.first().ok_or(bad(typ, "value shorter than 4 bytes"))?;
    let family = AddressFamily::from_u8(*fam).ok_or(bad(typ, "unknown address family"))?;
    Ok((family, ErrorCode::decode(typ, v)?))
}

pub(crate) fn dec_icmp(v: &[u8]) -> Result<Icmp, StunError> {
    let b: [u8; 8] = fixed(ICMP, v)?;
    Ok(Icmp {
        icmp_type: b[2],
        code: b[3],
        data: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
    })
}

impl<'a> Attribute<'a> {
    /// Decodes the value of an attribute of type `typ`. `tid` un-XORs the XOR-*-ADDRESS types.
    pub fn decode(typ: u16, v: &'a [u8], tid: &TransactionId) -> Result<Self, StunError> {
        use Attribute as A;
        Ok(match typ {
            MAPPED_ADDRESS => A::MappedAddress(dec_address(typ, v, tid)?),
            XOR_MAPPED_ADDRESS => A::XorMappedAddress(dec_address(typ, v, tid)?),
            ALTERNATE_SERVER => A::AlternateServer(dec_address(typ, v, tid)?),
            RESPONSE_ORIGIN => A::ResponseOrigin(dec_address(typ, v, tid)?),
            OTHER_ADDRESS => A::OtherAddress(dec_address(typ, v, tid)?),
            XOR_PEER_ADDRESS => A::XorPeerAddress(dec_address(typ, v, tid)?),
            XOR_RELAYED_ADDRESS => A::XorRelayedAddress(dec_address(typ, v, tid)?),
            USERNAME => A::Username(dec_username(v)?),
            USERHASH => A::UserHash(
                v.try_into()
                    .map_err(|_| bad(typ, "USERHASH must be 32 bytes"))?,
            ),
            MESSAGE_INTEGRITY => A::MessageIntegrity(
                v.try_into()
                    .map_err(|_| bad(typ, "MESSAGE-INTEGRITY must be 20 bytes"))?,
            ),
            MESSAGE_INTEGRITY_SHA256 => A::MessageIntegritySha256(dec_mi256(v)?),
            FINGERPRINT => A::Fingerprint(dec_u32(typ, v)?),
            ERROR_CODE => A::ErrorCode(ErrorCode::decode(typ, v)?),
            REALM => A::Realm(dec_text(typ, v)?),
            NONCE => A::Nonce(dec_text(typ, v)?),
            SOFTWARE => A::Software(dec_text(typ, v)?),
            ALTERNATE_DOMAIN => A::AlternateDomain(dec_domain(v)?),
            PASSWORD_ALGORITHMS => {
                PasswordAlgorithmList::validate_wire(typ, v)?;
                A::PasswordAlgorithms(PasswordAlgorithmList::Wire(v))
            }
            PASSWORD_ALGORITHM => {
                let (p, used) = PasswordAlgorithmParam::decode_one(typ, v)?;
                if used != v.len() {
                    return Err(bad(typ, "trailing bytes after the algorithm parameters"));
                }
                A::PasswordAlgorithm(p)
            }
            UNKNOWN_ATTRIBUTES => {
                if v.len() % 2 != 0 {
                    return Err(bad(typ, "length must be a multiple of 2"));
                }
                A::UnknownAttributes(AttrTypeList::Wire(v))
            }
            PRIORITY => A::Priority(dec_u32(typ, v)?),
            USE_CANDIDATE => {
                dec_empty(typ, v)?;
                A::UseCandidate
            }
            ICE_CONTROLLED => A::IceControlled(dec_u64(typ, v)?),
            ICE_CONTROLLING => A::IceControlling(dec_u64(typ, v)?),
            CHANGE_REQUEST => {
                let (change_ip, change_port) = dec_change_request(v)?;
                A::ChangeRequest {
                    change_ip,
                    change_port,
                }
            }
            RESPONSE_PORT => A::ResponsePort(dec_u16_in_4(typ, v)?),
            PADDING => A::Padding(v),
            CHANNEL_NUMBER => A::ChannelNumber(dec_u16_in_4(typ, v)?),
            LIFETIME => A::Lifetime(dec_u32(typ, v)?),
            DATA => A::Data(v),
            REQUESTED_ADDRESS_FAMILY => A::RequestedAddressFamily(dec_family(typ, v)?),
            ADDITIONAL_ADDRESS_FAMILY => A::AdditionalAddressFamily(dec_family(typ, v)?),
            EVEN_PORT => A::EvenPort(fixed::<1>(typ, v)?[0] & 0x80 != 0),
            REQUESTED_TRANSPORT => A::RequestedTransport(fixed::<4>(typ, v)?[0]),
            DONT_FRAGMENT => {
                dec_empty(typ, v)?;
                A::DontFragment
            }
            RESERVATION_TOKEN => A::ReservationToken(dec_u64(typ, v)?),
            ADDRESS_ERROR_CODE => {
                let (family, error) = dec_address_error_code(v)?;
                A::AddressErrorCode { family, error }
            }
            ICMP => A::Icmp(dec_icmp(v)?),
            _ => A::Unknown { typ, value: v },
        })
    }

    /// The attribute type number.
    pub fn typ(&self) -> u16 {
        use Attribute as A;
        match self {
            A::MappedAddress(_) => MAPPED_ADDRESS,
            A::XorMappedAddress(_) => XOR_MAPPED_ADDRESS,
            A::Username(_) => USERNAME,
            A::UserHash(_) => USERHASH,
            A::MessageIntegrity(_) => MESSAGE_INTEGRITY,
            A::MessageIntegritySha256(_) => MESSAGE_INTEGRITY_SHA256,
            A::Fingerprint(_) => FINGERPRINT,
            A::ErrorCode(_) => ERROR_CODE,
            A::Realm(_) => REALM,
            A::Nonce(_) => NONCE,
            A::PasswordAlgorithms(_) => PASSWORD_ALGORITHMS,
            A::PasswordAlgorithm(_) => PASSWORD_ALGORITHM,
            A::UnknownAttributes(_) => UNKNOWN_ATTRIBUTES,
            A::Software(_) => SOFTWARE,
            A::AlternateServer(_) => ALTERNATE_SERVER,
            A::AlternateDomain(_) => ALTERNATE_DOMAIN,
            A::Priority(_) => PRIORITY,
            A::UseCandidate => USE_CANDIDATE,
            A::IceControlled(_) => ICE_CONTROLLED,
            A::IceControlling(_) => ICE_CONTROLLING,
            A::ChangeRequest { .. } => CHANGE_REQUEST,
            A::ResponseOrigin(_) => RESPONSE_ORIGIN,
            A::OtherAddress(_) => OTHER_ADDRESS,
            A::ResponsePort(_) => RESPONSE_PORT,
            A::Padding(_) => PADDING,
            A::ChannelNumber(_) => CHANNEL_NUMBER,
            A::Lifetime(_) => LIFETIME,
            A::XorPeerAddress(_) => XOR_PEER_ADDRESS,
            A::Data(_) => DATA,
            A::XorRelayedAddress(_) => XOR_RELAYED_ADDRESS,
            A::RequestedAddressFamily(_) => REQUESTED_ADDRESS_FAMILY,
            A::EvenPort(_) => EVEN_PORT,
            A::RequestedTransport(_) => REQUESTED_TRANSPORT,
            A::DontFragment => DONT_FRAGMENT,
            A::ReservationToken(_) => RESERVATION_TOKEN,
            A::AdditionalAddressFamily(_) => ADDITIONAL_ADDRESS_FAMILY,
            A::AddressErrorCode { .. } => ADDRESS_ERROR_CODE,
            A::Icmp(_) => ICMP,
            A::Unknown { typ, .. } => *typ,
        }
    }

    /// Validates the value against the RFC limits and returns its encoded length (unpadded).
    pub fn value_len(&self) -> Result<usize, StunError> {
        use Attribute as A;
        let typ = self.typ();
        Ok(match self {
            A::MappedAddress(a)
            | A::XorMappedAddress(a)
            | A::AlternateServer(a)
            | A::ResponseOrigin(a)
            | A::OtherAddress(a)
            | A::XorPeerAddress(a)
            | A::XorRelayedAddress(a) => address::encoded_len(a),
            A::Username(s) => {
                values::check_text(typ, s, usize::MAX, MAX_USERNAME_BYTES)?;
                s.len()
            }
            A::Realm(s) | A::Nonce(s) | A::Software(s) => {
                values::check_text(typ, s, MAX_TEXT_CHARS, MAX_TEXT_BYTES)?;
                s.len()
            }
            A::AlternateDomain(s) => dec_domain(s.as_bytes())?.len(),
            A::UserHash(_) => 32,
            A::MessageIntegrity(_) => 20,
            A::MessageIntegritySha256(v) => dec_mi256(v)?.len(),
            A::Fingerprint(_) => 4,
            A::ErrorCode(e) => e.validate(typ)?,
            A::AddressErrorCode { error, .. } => error.validate(typ)?,
            A::PasswordAlgorithms(l) => l.encoded_len(),
            A::PasswordAlgorithm(p) => p.encoded_len(),
            A::UnknownAttributes(l) => 2 * l.len(),
            A::Priority(_) | A::Lifetime(_) | A::ChangeRequest { .. } | A::ResponsePort(_) => 4,
            A::ChannelNumber(_) | A::RequestedAddressFamily(_) | A::RequestedTransport(_) => 4,
            A::AdditionalAddressFamily(_) => 4,
            A::IceControlled(_) | A::IceControlling(_) | A::ReservationToken(_) | A::Icmp(_) => 8,
            A::UseCandidate | A::DontFragment => 0,
            A::EvenPort(_) => 1,
            A::Padding(v) | A::Data(v) | A::Unknown { value: v, .. } => v.len(),
        })
    }

    /// Writes the value into `out`, which is exactly [`Attribute::value_len`] bytes long.
    pub(crate) fn write_value(&self, out: &mut [u8], tid: &TransactionId) {
        use Attribute as A;
        match self {
            A::MappedAddress(a)
            | A::AlternateServer(a)
            | A::ResponseOrigin(a)
            | A::OtherAddress(a) => address::encode(a, None, out),
            A::XorMappedAddress(a) | A::XorPeerAddress(a) | A::XorRelayedAddress(a) => {
                address::encode(a, Some(tid), out)
            }
            A::Username(s) | A::Realm(s) | A::Nonce(s) | A::Software(s) | A::AlternateDomain(s) => {
                out.copy_from_slice(s.as_bytes())
            }
            A::UserHash(h) => out.copy_from_slice(&h[..]),
            A::MessageIntegrity(h) => out.copy_from_slice(&h[..]),
            A::MessageIntegritySha256(v)
            | A::Padding(v)
            | A::Data(v)
            | A::Unknown { value: v, .. } => out.copy_from_slice(v),
            A::Fingerprint(x) | A::Priority(x) | A::Lifetime(x) => {
                out.copy_from_slice(&x.to_be_bytes())
            }
            A::ErrorCode(e) => {
                out[..2].fill(0);
                e.write(out)
            }
            A::AddressErrorCode { family, error } => {
                out[0] = family.to_u8();
                out[1] = 0;
                error.write(out)
            }
            A::PasswordAlgorithms(PasswordAlgorithmList::Wire(w)) => out.copy_from_slice(w),
            A::PasswordAlgorithms(PasswordAlgorithmList::Entries(e)) => {
                let mut at = 0;
                for p in e.iter() {
                    at += p.write(&mut out[at..]);
                }
            }
            A::PasswordAlgorithm(p) => {
                p.write(out);
            }
            A::UnknownAttributes(l) => {
                for (i, t) in l.iter().enumerate() {
                    out[2 * i..2 * i + 2].copy_from_slice(&t.to_be_bytes());
                }
            }
            A::UseCandidate | A::DontFragment => {}
            A::IceControlled(x) | A::IceControlling(x) | A::ReservationToken(x) => {
                out.copy_from_slice(&x.to_be_bytes())
            }
            A::ChangeRequest {
                change_ip,
                change_port,
            } => {
                let f = if *change_ip { CHANGE_IP } else { 0 }
                    | if *change_port { CHANGE_PORT } else { 0 };
                out.copy_from_slice(&f.to_be_bytes())
            }
            A::ResponsePort(p) | A::ChannelNumber(p) => {
                out[..2].copy_from_slice(&p.to_be_bytes());
                out[2..].fill(0);
            }
            A::RequestedAddressFamily(f) | A::AdditionalAddressFamily(f) => {
                out.copy_from_slice(&[f.to_u8(), 0, 0, 0])
            }
            A::RequestedTransport(p) => out.copy_from_slice(&[*p, 0, 0, 0]),
            A::EvenPort(r) => out[0] = if *r { 0x80 } else { 0 },
            A::Icmp(i) => {
                out[..4].copy_from_slice(&[0, 0, i.icmp_type, i.code]);
                out[4..].copy_from_slice(&i.data.to_be_bytes());
            }
        }
    }
}
