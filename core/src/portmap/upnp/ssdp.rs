//! SSDP discovery (UPnP Device Architecture 1.1 §1.3): the M-SEARCH request and the
//! unicast `HTTP/1.1 200 OK` answers that carry a device's LOCATION.

use super::http::{parse_head, HttpUrl};

/// The search target: an Internet Gateway Device (IGD:2 devices answer IGD:1 searches).
pub const SEARCH_TARGET: &str = "urn:schemas-upnp-org:device:InternetGatewayDevice:1";

/// An M-SEARCH for `target`, answered within `mx` seconds, sent to `host`
/// (`239.255.255.250:1900`, or the gateway's own address for a unicast search).
pub fn msearch(host: &str, target: &str, mx: u8) -> Vec<u8> {
    format!(
        "M-SEARCH * HTTP/1.1\r\nHOST: {host}\r\nMAN: \"ssdp:discover\"\r\nMX: {mx}\r\nST: {target}\r\nUSER-AGENT: pinhole UPnP/1.1\r\n\r\n"
    )
    .into_bytes()
}

/// A search answer: where the device description is, and what matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchResponse {
    /// The description URL.
    pub location: HttpUrl,
    /// The ST header.
    pub target: String,
}

/// Why an SSDP datagram is not a usable answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SsdpError {
    /// Not an `HTTP/1.1 200` with headers.
    Malformed,
    /// No LOCATION, or not an `http://IP:port/` one.
    NoLocation,
    /// It answers a search for something other than a gateway.
    NotAGateway,
}

/// Whether a datagram looks like an SSDP answer at all (for demultiplexing).
pub fn looks_like_response(b: &[u8]) -> bool {
    b.starts_with(b"HTTP/1.")
}

/// Parses a search answer.
pub fn parse_response(b: &[u8]) -> Result<SearchResponse, SsdpError> {
    let head = b.strip_suffix(b"\r\n\r\n").unwrap_or(b);
    let (status, headers) = parse_head(head).map_err(|_| SsdpError::Malformed)?;
    if status != 200 {
        return Err(SsdpError::Malformed);
    }
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let target = get("st").unwrap_or_default();
    let t = target.to_ascii_lowercase();
    let gateway_like = t.contains("internetgatewaydevice")
        || t.contains("wanipconnection")
        || t.contains("wanpppconnection")
        || t.contains("wandevice")
        || t.contains("wanconnectiondevice");
    if !gateway_like {
        return Err(SsdpError::NotAGateway);
    }
    let location = get("location")
        .and_then(|l| HttpUrl::parse(&l))
        .ok_or(SsdpError::NoLocation)?;
    Ok(SearchResponse { location, target })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msearch_has_the_udaf_fields() {
        let m = String::from_utf8(msearch("239.255.255.250:1900", SEARCH_TARGET, 2)).unwrap();
        assert!(m.starts_with("M-SEARCH * HTTP/1.1\r\n"));
        assert!(m.contains("MAN: \"ssdp:discover\"\r\n"));
        assert!(m.contains("ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n"));
        assert!(m.ends_with("\r\n\r\n"));
    }

    #[test]
    fn parses_a_miniupnpd_answer_and_rejects_others() {
        let ok = b"HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nUSN: uuid:x::urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nEXT:\r\nSERVER: Debian/12 UPnP/1.1 MiniUPnPd/2.3.1\r\nLOCATION: http://10.1.0.1:5000/rootDesc.xml\r\n\r\n";
        let r = parse_response(ok).unwrap();
        assert_eq!(r.location.addr, "10.1.0.1:5000".parse().unwrap());
        assert_eq!(r.location.path, "/rootDesc.xml");
        let printer = b"HTTP/1.1 200 OK\r\nST: urn:schemas-upnp-org:device:Printer:1\r\nLOCATION: http://10.1.0.9/d.xml\r\n\r\n";
        assert_eq!(parse_response(printer), Err(SsdpError::NotAGateway));
        let no_loc = b"HTTP/1.1 200 OK\r\nST: upnp:rootdevice urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\r\n";
        assert_eq!(parse_response(no_loc), Err(SsdpError::NoLocation));
        assert_eq!(parse_response(b"HTTP/1.1"), Err(SsdpError::Malformed));
        assert_eq!(parse_response(&[0xff; 40]), Err(SsdpError::Malformed));
    }
}
