//! PCP wire format (RFC 6887 §7 and §11): the common header, the MAP opcode, options.
//! Addresses are 16 bytes on the wire; IPv4 ones as IPv4-mapped IPv6 (`::ffff:a.b.c.d`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The PCP version this client speaks.
pub const VERSION: u8 = 2;
/// ANNOUNCE opcode (§14.1).
pub const OP_ANNOUNCE: u8 = 0;
/// MAP opcode (§11).
pub const OP_MAP: u8 = 1;
/// The R bit: set in responses.
pub const RESPONSE_BIT: u8 = 0x80;
/// IANA protocol number of UDP.
pub const PROTO_UDP: u8 = 17;
/// Common header length.
pub const HEADER_LEN: usize = 24;
/// MAP opcode-specific data length.
pub const MAP_LEN: usize = 36;
/// Largest PCP message (§7).
pub const MAX_LEN: usize = 1100;
/// Result code of a NAT-PMP-only server answering a PCP request (§9).
pub const UNSUPP_VERSION: u8 = 1;

/// An address as PCP carries it: IPv4 as IPv4-mapped IPv6.
pub fn to_wire(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// The address of 16 wire bytes: IPv4-mapped ones become IPv4.
pub fn from_wire(b: [u8; 16]) -> IpAddr {
    let v6 = Ipv6Addr::from(b);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

/// A MAP request (§11.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapRequest {
    /// Requested lifetime, seconds (0 deletes).
    pub lifetime: u32,
    /// The client's own IP (the packet's source address).
    pub client_ip: IpAddr,
    /// Mapping nonce.
    pub nonce: [u8; 12],
    /// Internal port to map (UDP).
    pub internal_port: u16,
    /// Suggested external address (unspecified of the client's family when none).
    pub suggested: SocketAddr,
}

/// Encodes a MAP request for UDP: the 24-byte header and 36 bytes of MAP data.
pub fn encode_map_request(r: &MapRequest) -> Vec<u8> {
    let mut b = Vec::with_capacity(HEADER_LEN + MAP_LEN);
    b.extend_from_slice(&[VERSION, OP_MAP, 0, 0]);
    b.extend_from_slice(&r.lifetime.to_be_bytes());
    b.extend_from_slice(&to_wire(r.client_ip));
    b.extend_from_slice(&r.nonce);
    b.extend_from_slice(&[PROTO_UDP, 0, 0, 0]);
    b.extend_from_slice(&r.internal_port.to_be_bytes());
    b.extend_from_slice(&r.suggested.port().to_be_bytes());
    b.extend_from_slice(&to_wire(r.suggested.ip()));
    b
}

/// A decoded PCP response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Response {
    /// An ANNOUNCE response: solicited (we never ask) or unsolicited, from a server that
    /// restarted or changed (§14.1.3).
    Announce {
        /// Result code.
        result: u8,
        /// Server epoch.
        epoch: u32,
    },
    /// A MAP response.
    Map {
        /// Result code (0 = success).
        result: u8,
        /// Granted lifetime (success) or how long the error holds, seconds.
        lifetime: u32,
        /// Server epoch.
        epoch: u32,
        /// The nonce of the request it answers.
        nonce: [u8; 12],
        /// Protocol number.
        protocol: u8,
        /// Internal port.
        internal_port: u16,
        /// Assigned external address and port.
        external: SocketAddr,
    },
}

/// Why a datagram is not a usable PCP response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Shorter than the header or its opcode's data.
    Truncated,
    /// Longer than 1100 bytes or not a multiple of 4.
    BadLength,
    /// Not version 2.
    WrongVersion,
    /// A request (R bit clear), or an opcode this client never sends.
    WrongOpcode,
    /// An option overruns the packet.
    BadOption,
}

/// Decodes a PCP response (header, opcode data, options checked for well-formedness and
/// otherwise ignored).
pub fn decode_response(b: &[u8]) -> Result<Response, DecodeError> {
    if b.len() < HEADER_LEN {
        return Err(DecodeError::Truncated);
    }
    if b.len() > MAX_LEN || b.len() % 4 != 0 {
        return Err(DecodeError::BadLength);
    }
    if b[0] != VERSION {
        return Err(DecodeError::WrongVersion);
    }
    if b[1] & RESPONSE_BIT == 0 {
        return Err(DecodeError::WrongOpcode);
    }
    let opcode = b[1] & !RESPONSE_BIT;
    let result = b[3];
    let lifetime = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
    let epoch = u32::from_be_bytes([b[8], b[9], b[10], b[11]]);
    let body = &b[HEADER_LEN..];
    match opcode {
        OP_ANNOUNCE => {
            check_options(body)?;
            Ok(Response::Announce { result, epoch })
        }
        OP_MAP => {
            if body.len() < MAP_LEN {
                return Err(DecodeError::Truncated);
            }
            check_options(&body[MAP_LEN..])?;
            let mut nonce = [0u8; 12];
            nonce.copy_from_slice(&body[..12]);
            let mut ext = [0u8; 16];
            ext.copy_from_slice(&body[20..36]);
            Ok(Response::Map {
                result,
                lifetime,
                epoch,
                nonce,
                protocol: body[12],
                internal_port: u16::from_be_bytes([body[16], body[17]]),
                external: SocketAddr::new(from_wire(ext), u16::from_be_bytes([body[18], body[19]])),
            })
        }
        _ => Err(DecodeError::WrongOpcode),
    }
}

/// Options: code, reserved, 16-bit length, data padded to 4 bytes (§7.3).
fn check_options(mut b: &[u8]) -> Result<(), DecodeError> {
    while !b.is_empty() {
        if b.len() < 4 {
            return Err(DecodeError::BadOption);
        }
        let len = usize::from(u16::from_be_bytes([b[2], b[3]]));
        let padded = 4 + len.div_ceil(4) * 4;
        if padded > b.len() {
            return Err(DecodeError::BadOption);
        }
        b = &b[padded..];
    }
    Ok(())
}

/// Whether a NAT-PMP-shaped datagram (version 0) is a NAT-PMP server's UNSUPP_VERSION
/// answer to our PCP request (RFC 6887 §9, RFC 6886 §3.5). A NAT-PMP server never
/// answers a version-0 request with it, so it cannot belong to the NAT-PMP client.
pub fn is_natpmp_unsupported_version(b: &[u8]) -> bool {
    b.len() >= 4 && b[0] == 0 && b[1] >= 128 && u16::from_be_bytes([b[2], b[3]]) == 1
}

/// What a PCP result code means and what to do (§7.4).
pub fn result_meaning(code: u8) -> &'static str {
    match code {
        0 => "success",
        1 => "UNSUPP_VERSION: the gateway does not speak PCP version 2",
        2 => {
            "NOT_AUTHORIZED: the router refuses mappings for this host; enable PCP / \
              NAT-PMP / UPnP in its settings or allow this host"
        }
        3 => "MALFORMED_REQUEST: the gateway could not parse the request",
        4 => "UNSUPP_OPCODE: the gateway does not support MAP",
        5 => "UNSUPP_OPTION: the gateway rejected an option",
        6 => "MALFORMED_OPTION: the gateway rejected a malformed option",
        7 => {
            "NETWORK_FAILURE: the gateway has no working external connection right now; \
              try again later"
        }
        8 => "NO_RESOURCES: the gateway's mapping table is full",
        9 => "UNSUPP_PROTOCOL: the gateway does not map UDP",
        10 => "USER_EX_QUOTA: this host has used up its quota of mappings on the gateway",
        11 => "CANNOT_PROVIDE_EXTERNAL: the gateway cannot give the suggested external port",
        12 => {
            "ADDRESS_MISMATCH: the gateway saw another source address than the one in \
               the request; another NAT sits between this host and the gateway"
        }
        13 => "EXCESSIVE_REMOTE_PEERS: too many remote peers",
        _ => "unknown result code",
    }
}

/// The unspecified address of `ip`'s family, as a "no suggestion" external address.
pub fn unspecified_like(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}
