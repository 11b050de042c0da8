//! Classic STUN (RFC 3489) Binding, server side only.
//!
//! RFC 8489 §12 (and RFC 5389 §12.2 before it) says a server SHOULD still answer clients
//! that predate the magic cookie: such a request is recognised by the cookie's absence, and
//! the answer echoes all 16 bytes of the old transaction ID and carries MAPPED-ADDRESS
//! instead of XOR-MAPPED-ADDRESS. Old NAT classifiers (Debian's `stun` client among them)
//! also need RFC 3489's CHANGE-REQUEST, SOURCE-ADDRESS and CHANGED-ADDRESS. IPv4 only, as
//! RFC 3489 was. RESPONSE-ADDRESS is ignored on purpose: it lets anyone aim a server's
//! answers at a third party.

use std::net::{IpAddr, SocketAddr};

use super::{HEADER_LEN, MAGIC_COOKIE};

const BINDING_REQUEST: u16 = 0x0001;
const BINDING_RESPONSE: u16 = 0x0101;
const MAPPED_ADDRESS: u16 = 0x0001;
const CHANGE_REQUEST: u16 = 0x0003;
const SOURCE_ADDRESS: u16 = 0x0004;
const CHANGED_ADDRESS: u16 = 0x0005;

/// A well-formed RFC 3489 Binding request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ClassicRequest {
    /// The whole 128-bit transaction ID, echoed in the response.
    pub transaction_id: [u8; 16],
    pub change_ip: bool,
    pub change_port: bool,
}

/// Recognises an RFC 3489 Binding request: no magic cookie, sane framing. `None` for
/// anything else, including every RFC 5389/8489 message.
pub(super) fn parse_binding_request(datagram: &[u8]) -> Option<ClassicRequest> {
    if datagram.len() < HEADER_LEN {
        return None;
    }
    let word = |at: usize| u16::from_be_bytes([datagram[at], datagram[at + 1]]);
    let cookie = u32::from_be_bytes(datagram[4..8].try_into().ok()?);
    let length = word(2) as usize;
    if word(0) != BINDING_REQUEST
        || cookie == MAGIC_COOKIE
        || length % 4 != 0
        || length != datagram.len() - HEADER_LEN
    {
        return None;
    }
    let mut request = ClassicRequest {
        transaction_id: datagram[4..20].try_into().ok()?,
        change_ip: false,
        change_port: false,
    };
    let mut at = HEADER_LEN;
    while at < datagram.len() {
        if datagram.len() - at < 4 {
            return None;
        }
        let (typ, len) = (word(at), word(at + 2) as usize);
        let value = datagram.get(at + 4..at + 4 + len)?;
        if typ == CHANGE_REQUEST {
            let flags = u32::from_be_bytes(value.try_into().ok()?);
            request.change_ip = flags & 0x4 != 0;
            request.change_port = flags & 0x2 != 0;
        }
        at += 4 + len.next_multiple_of(4);
    }
    Some(request)
}

/// Encodes the Binding response. `changed` is the server's other IP and port (absent
/// without an RFC 5780 alternate). `None` if any address is IPv6, which RFC 3489 cannot
/// carry.
pub(super) fn encode_binding_response(
    request: &ClassicRequest,
    mapped: SocketAddr,
    source: SocketAddr,
    changed: Option<SocketAddr>,
) -> Option<Vec<u8>> {
    // MAPPED-ADDRESS first: old clients stop at the first attribute they do not know.
    let mut attrs = vec![(MAPPED_ADDRESS, mapped), (SOURCE_ADDRESS, source)];
    attrs.extend(changed.map(|c| (CHANGED_ADDRESS, c)));
    let mut out = Vec::with_capacity(HEADER_LEN + 12 * attrs.len());
    out.extend_from_slice(&BINDING_RESPONSE.to_be_bytes());
    out.extend_from_slice(&((12 * attrs.len()) as u16).to_be_bytes());
    out.extend_from_slice(&request.transaction_id);
    for (typ, addr) in attrs {
        let IpAddr::V4(ip) = addr.ip() else {
            return None;
        };
        out.extend_from_slice(&typ.to_be_bytes());
        out.extend_from_slice(&8u16.to_be_bytes());
        out.extend_from_slice(&[0, 0x01]);
        out.extend_from_slice(&addr.port().to_be_bytes());
        out.extend_from_slice(&ip.octets());
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(attrs: &[u8]) -> Vec<u8> {
        let mut m = vec![0x00, 0x01];
        m.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        m.extend_from_slice(&[0xab; 16]);
        m.extend_from_slice(attrs);
        m
    }

    #[test]
    fn parses_change_request_flags() {
        let r = parse_binding_request(&request(&[0, 3, 0, 4, 0, 0, 0, 6])).unwrap();
        assert_eq!(r.transaction_id, [0xab; 16]);
        assert!(r.change_ip && r.change_port);
        let plain = parse_binding_request(&request(&[])).unwrap();
        assert!(!plain.change_ip && !plain.change_port);
    }

    #[test]
    fn rejects_modern_and_malformed_messages() {
        let mut modern = request(&[]);
        modern[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
        assert_eq!(parse_binding_request(&modern), None);
        assert_eq!(
            parse_binding_request(&request(&[0, 3, 0, 8, 0, 0, 0, 6])),
            None
        );
        assert_eq!(
            parse_binding_request(&request(&[0, 3, 0, 2, 0, 0, 0, 6])),
            None
        );
        assert_eq!(parse_binding_request(&[0u8; 19]), None);
        let mut response = request(&[]);
        response[1] = 0x01;
        response[0] = 0x01;
        assert_eq!(parse_binding_request(&response), None);
    }

    #[test]
    fn response_echoes_the_id_and_carries_the_rfc3489_addresses() {
        let r = parse_binding_request(&request(&[])).unwrap();
        let mapped: SocketAddr = "203.0.113.9:4000".parse().unwrap();
        let source: SocketAddr = "192.0.2.1:3478".parse().unwrap();
        let changed: SocketAddr = "192.0.2.2:3479".parse().unwrap();
        let out = encode_binding_response(&r, mapped, source, Some(changed)).unwrap();
        assert_eq!(&out[..4], &[0x01, 0x01, 0, 36]);
        assert_eq!(&out[4..20], &[0xab; 16]);
        assert_eq!(
            &out[20..32],
            &[0, 1, 0, 8, 0, 1, 0x0f, 0xa0, 203, 0, 113, 9]
        );
        assert_eq!(&out[32..36], &[0, 4, 0, 8]);
        assert_eq!(&out[44..48], &[0, 5, 0, 8]);
        let v6: SocketAddr = "[2001:db8::1]:1".parse().unwrap();
        assert_eq!(encode_binding_response(&r, v6, source, None), None);
    }
}
