//! A sans-IO HTTP/1.1 client for the few exchanges UPnP-IGD needs: request building,
//! `http://` URLs, and an incremental response parser (Content-Length, chunked, or
//! read-until-close) with hard size caps. One request per connection (`Connection: close`).

use std::net::{IpAddr, SocketAddr};

/// Largest status line plus headers accepted.
pub const MAX_HEAD: usize = 8 * 1024;

/// An `http://IP[:PORT]/path` URL whose host is an IP literal (UPnP gateways advertise
/// their LAN address; names are not resolved).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpUrl {
    /// Host and port.
    pub addr: SocketAddr,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl HttpUrl {
    /// Parses an absolute `http://` URL with an IPv4 or bracketed IPv6 literal host.
    pub fn parse(s: &str) -> Option<HttpUrl> {
        let s = s.trim();
        let rest = s
            .get(..7)
            .filter(|p| p.eq_ignore_ascii_case("http://"))
            .map(|_| &s[7..])?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.contains('@') {
            return None;
        }
        let addr = if let Some(v6) = authority.strip_prefix('[') {
            let (host, port) = v6.split_once(']')?;
            let port = match port.strip_prefix(':') {
                Some(p) => p.parse().ok()?,
                None if port.is_empty() => 80,
                None => return None,
            };
            SocketAddr::new(host.parse::<IpAddr>().ok()?, port)
        } else {
            let (host, port) = match authority.rsplit_once(':') {
                Some((h, p)) => (h, p.parse().ok()?),
                None => (authority, 80),
            };
            SocketAddr::new(host.parse::<IpAddr>().ok()?, port)
        };
        Some(HttpUrl {
            addr,
            path: path.to_string(),
        })
    }

    /// Resolves a reference found in a device description (absolute URL, absolute path or
    /// relative path) against this URL.
    pub fn join(&self, reference: &str) -> Option<HttpUrl> {
        let r = reference.trim();
        if r.len() >= 7 && r[..7].eq_ignore_ascii_case("http://") {
            return HttpUrl::parse(r);
        }
        if r.contains("://") {
            return None;
        }
        let path = if r.starts_with('/') {
            r.to_string()
        } else {
            let dir = self.path.rsplit_once('/').map_or("", |(d, _)| d);
            format!("{dir}/{r}")
        };
        Some(HttpUrl {
            addr: self.addr,
            path,
        })
    }

    /// The `Host` header value.
    pub fn host_header(&self) -> String {
        self.addr.to_string()
    }
}

/// `GET url` with `Connection: close`.
pub fn get_request(url: &HttpUrl) -> Vec<u8> {
    format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nUser-Agent: pinhole UPnP/1.1\r\nAccept: text/xml\r\n\r\n",
        url.path,
        url.host_header()
    )
    .into_bytes()
}

/// A SOAP `POST` to a control URL.
pub fn soap_request(url: &HttpUrl, service_type: &str, action: &str, body: &str) -> Vec<u8> {
    let mut r = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: text/xml; charset=\"utf-8\"\r\nSOAPAction: \"{service_type}#{action}\"\r\nContent-Length: {}\r\nConnection: close\r\nUser-Agent: pinhole UPnP/1.1\r\n\r\n",
        url.path,
        url.host_header(),
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body.as_bytes());
    r
}

/// A parsed response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header fields, names as received.
    pub headers: Vec<(String, String)>,
    /// The (de-chunked) body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Why a response could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// Headers or body over the cap.
    #[error("the {what} is larger than {limit} bytes")]
    TooLarge {
        /// "header" or "body".
        what: &'static str,
        /// The cap.
        limit: usize,
    },
    /// Not HTTP/1.x, or broken framing.
    #[error("malformed HTTP response: {0}")]
    Malformed(&'static str),
    /// The connection closed before the response was complete.
    #[error("the connection closed before the response was complete")]
    Truncated,
    /// No complete answer in time.
    #[error("no complete answer within {0:?}")]
    TimedOut(std::time::Duration),
}

/// Parses a status line and header block (no trailing blank line needed).
pub fn parse_head(head: &[u8]) -> Result<(u16, Vec<(String, String)>), HttpError> {
    let text = std::str::from_utf8(head).map_err(|_| HttpError::Malformed("not text"))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(HttpError::Malformed("not an HTTP/1.x status line"));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|s| (100..600).contains(s))
        .ok_or(HttpError::Malformed("bad status code"))?;
    let mut headers = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (k, v) = line
            .split_once(':')
            .ok_or(HttpError::Malformed("header line without a colon"))?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    Ok((status, headers))
}

/// An incremental response reader with a body cap.
#[derive(Debug)]
pub struct ResponseParser {
    buf: Vec<u8>,
    max_body: usize,
}

impl ResponseParser {
    /// A parser accepting bodies up to `max_body` bytes.
    pub fn new(max_body: usize) -> Self {
        ResponseParser {
            buf: Vec::new(),
            max_body,
        }
    }

    /// Adds received bytes; `Ok(Some)` once the response is complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Option<Response>, HttpError> {
        // Chunk-size lines and the CRLFs around chunks add a little to the body.
        let cap = MAX_HEAD + self.max_body + self.max_body / 8 + 64;
        if self.buf.len() + bytes.len() > cap {
            return Err(HttpError::TooLarge {
                what: "body",
                limit: self.max_body,
            });
        }
        self.buf.extend_from_slice(bytes);
        self.try_parse(false)
    }

    /// The connection closed: a response without length ends here.
    pub fn finish(&mut self) -> Result<Response, HttpError> {
        self.try_parse(true)?.ok_or(HttpError::Truncated)
    }

    fn try_parse(&self, eof: bool) -> Result<Option<Response>, HttpError> {
        let Some(end) = find(&self.buf, b"\r\n\r\n") else {
            if self.buf.len() > MAX_HEAD {
                return Err(HttpError::TooLarge {
                    what: "header",
                    limit: MAX_HEAD,
                });
            }
            return Ok(None);
        };
        if end > MAX_HEAD {
            return Err(HttpError::TooLarge {
                what: "header",
                limit: MAX_HEAD,
            });
        }
        let (status, headers) = parse_head(&self.buf[..end])?;
        let rest = &self.buf[end + 4..];
        let chunked = header(&headers, "transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        let body = if chunked {
            match dechunk(rest, self.max_body)? {
                Some(b) => b,
                None if eof => return Err(HttpError::Truncated),
                None => return Ok(None),
            }
        } else if let Some(len) = header(&headers, "content-length") {
            let len: usize = len
                .parse()
                .map_err(|_| HttpError::Malformed("bad Content-Length"))?;
            if len > self.max_body {
                return Err(HttpError::TooLarge {
                    what: "body",
                    limit: self.max_body,
                });
            }
            if rest.len() < len {
                return if eof {
                    Err(HttpError::Truncated)
                } else {
                    Ok(None)
                };
            }
            rest[..len].to_vec()
        } else {
            if rest.len() > self.max_body {
                return Err(HttpError::TooLarge {
                    what: "body",
                    limit: self.max_body,
                });
            }
            if !eof {
                return Ok(None);
            }
            rest.to_vec()
        };
        Ok(Some(Response {
            status,
            headers,
            body,
        }))
    }
}

/// Decodes a chunked body; `None` while incomplete.
fn dechunk(mut b: &[u8], max: usize) -> Result<Option<Vec<u8>>, HttpError> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = find(b, b"\r\n") else {
            return Ok(None);
        };
        let line =
            std::str::from_utf8(&b[..eol]).map_err(|_| HttpError::Malformed("chunk size"))?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| HttpError::Malformed("bad chunk size"))?;
        b = &b[eol + 2..];
        if size == 0 {
            // Trailer fields, then an empty line.
            loop {
                let Some(eol) = find(b, b"\r\n") else {
                    return Ok(None);
                };
                if eol == 0 {
                    return Ok(Some(out));
                }
                b = &b[eol + 2..];
            }
        }
        if out.len().saturating_add(size) > max {
            return Err(HttpError::TooLarge {
                what: "body",
                limit: max,
            });
        }
        if b.len() < size + 2 {
            return Ok(None);
        }
        if &b[size..size + 2] != b"\r\n" {
            return Err(HttpError::Malformed("chunk not followed by CRLF"));
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_response_in_pieces() {
        let mut p = ResponseParser::new(100);
        assert_eq!(p.feed(b"HTTP/1.1 200 OK\r\nContent-Le").unwrap(), None);
        assert_eq!(p.feed(b"ngth: 5\r\n\r\nhel").unwrap(), None);
        let r = p.feed(b"lo").unwrap().unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
    }

    #[test]
    fn chunked_response_with_extensions_and_trailer() {
        let mut p = ResponseParser::new(100);
        let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n";
        // Byte by byte: never complete early.
        for (i, byte) in wire.iter().enumerate() {
            let r = p.feed(&[*byte]).unwrap();
            assert_eq!(r.is_some(), i == wire.len() - 1, "at {i}");
            if let Some(r) = r {
                assert_eq!(r.body, b"hello world");
            }
        }
    }

    #[test]
    fn caps_and_truncation() {
        let mut p = ResponseParser::new(10);
        let e = p
            .feed(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n")
            .unwrap_err();
        assert_eq!(
            e,
            HttpError::TooLarge {
                what: "body",
                limit: 10
            }
        );
        let mut p = ResponseParser::new(10);
        let e = p
            .feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nff\r\n")
            .unwrap_err();
        assert!(matches!(e, HttpError::TooLarge { .. }), "{e:?}");
        let mut p = ResponseParser::new(10);
        let e = p
            .feed(&vec![b'a'; MAX_HEAD + 11 + 10 + 64 + 2])
            .unwrap_err();
        assert!(matches!(e, HttpError::TooLarge { .. }), "{e:?}");
        let mut p = ResponseParser::new(10);
        let e = p.feed(&vec![b'a'; MAX_HEAD + 1]).unwrap_err();
        assert_eq!(
            e,
            HttpError::TooLarge {
                what: "header",
                limit: MAX_HEAD
            }
        );
        let mut p = ResponseParser::new(10);
        p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab")
            .unwrap();
        assert_eq!(p.finish().unwrap_err(), HttpError::Truncated);
        let mut p = ResponseParser::new(10);
        p.feed(b"HTTP/1.0 200 OK\r\n\r\nuntil-eof").unwrap();
        assert_eq!(p.finish().unwrap().body, b"until-eof");
        let mut p = ResponseParser::new(10);
        assert!(p.feed(b"SIP/2.0 200 OK\r\n\r\n").is_err());
    }

    #[test]
    fn urls_parse_and_join() {
        let u = HttpUrl::parse("http://10.1.0.1:5000/rootDesc.xml").unwrap();
        assert_eq!(u.addr, "10.1.0.1:5000".parse().unwrap());
        assert_eq!(u.join("/ctl/IPConn").unwrap().path, "/ctl/IPConn");
        assert_eq!(u.join("ctl").unwrap().path, "/ctl");
        let d = HttpUrl::parse("HTTP://192.168.1.1/a/b/desc.xml").unwrap();
        assert_eq!(d.addr.port(), 80);
        assert_eq!(d.join("ctl/x").unwrap().path, "/a/b/ctl/x");
        assert_eq!(
            d.join("http://192.168.1.1:49000/upnp/control")
                .unwrap()
                .addr
                .port(),
            49000
        );
        assert!(HttpUrl::parse("https://10.0.0.1/").is_none());
        assert!(HttpUrl::parse("http://router.local/").is_none());
        assert!(HttpUrl::parse("http://u@10.0.0.1/").is_none());
        assert!(d.join("ftp://10.0.0.1/x").is_none());
    }
}
