//! UPnP-IGD on the server side: SSDP answers, the HTTP server (device description and
//! SOAP control), and the WANIPConnection actions Pinhole uses.

use super::{Pending, PortMapServer};
use crate::endpoint::{ConnId, TcpCommand};
use quick_xml::events::Event;
use quick_xml::Reader;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

fn service_type(version: u8) -> String {
    format!("urn:schemas-upnp-org:service:WANIPConnection:{version}")
}

impl PortMapServer {
    pub(crate) fn handle_ssdp(&mut self, now: Instant, from: SocketAddr, b: &[u8]) {
        let text = String::from_utf8_lossy(b);
        if !text.starts_with("M-SEARCH * HTTP/1.1\r\n") {
            return;
        }
        let st = text
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case("st")
                    .then(|| v.trim().to_string())
            })
            .unwrap_or_default();
        let wanted = st == "ssdp:all"
            || st == "upnp:rootdevice"
            || st.starts_with("urn:schemas-upnp-org:device:InternetGatewayDevice:");
        if !wanted {
            return;
        }
        self.note(now, "upnp", "m-search", None);
        let answer = format!(
            "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: {st}\r\nUSN: uuid:netsim::{st}\r\nEXT:\r\nSERVER: netsim UPnP/1.1 portmap/1\r\nLOCATION: http://{}:{}/rootDesc.xml\r\n\r\n",
            self.cfg.lan_ip, self.cfg.http_port
        );
        self.send(1900, from, answer.into_bytes());
    }

    /// A complete request in the connection's buffer is answered (one per connection).
    pub(crate) fn handle_http(&mut self, now: Instant, conn: ConnId) {
        let buf = &self.conns[&conn];
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            return;
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        let header = |name: &str| {
            head.lines().skip(1).find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_string())
            })
        };
        let len: usize = header("content-length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        if buf.len() < end + 4 + len {
            return;
        }
        let body = buf[end + 4..end + 4 + len].to_vec();
        self.conns.insert(conn, Vec::new());
        let request_line = head.lines().next().unwrap_or("").to_string();
        if request_line.starts_with("GET /rootDesc.xml ") {
            self.note(now, "upnp", "GET", None);
            let desc = self.description();
            self.respond(conn, 200, &desc, true);
        } else if request_line.starts_with("POST /ctl/IPConn ") {
            let action = header("soapaction")
                .and_then(|a| {
                    a.trim_matches('"')
                        .rsplit_once('#')
                        .map(|(_, a)| a.to_string())
                })
                .unwrap_or_default();
            let args = soap_args(&body);
            self.soap(now, conn, &action, &args);
        } else {
            self.respond(conn, 404, "not found", false);
        }
    }

    fn description(&self) -> String {
        let st = service_type(self.cfg.upnp_version);
        let mut d = format!(
            "<?xml version=\"1.0\"?>\r\n<root xmlns=\"urn:schemas-upnp-org:device-1-0\"><specVersion><major>1</major><minor>1</minor></specVersion>\
             <device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:{v}</deviceType><friendlyName>netsim gateway</friendlyName>\
             <deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:{v}</deviceType>\
             <deviceList><device><deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:{v}</deviceType>\
             <serviceList><service><serviceType>{st}</serviceType><serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId>\
             <controlURL>/ctl/IPConn</controlURL><eventSubURL>/evt/IPConn</eventSubURL><SCPDURL>/WANIPCn.xml</SCPDURL></service></serviceList>\
             </device></deviceList></device></deviceList></device>",
            v = self.cfg.upnp_version
        );
        if let Some(size) = self.cfg.hostile.oversized_description {
            d += "<!-- ";
            while d.len() < size {
                d += "padding padding padding padding ";
            }
            d += " -->";
        }
        d + "</root>\r\n"
    }

    /// Sends an HTTP response in 1000-byte segments (chunked when asked) and closes.
    fn respond(&mut self, conn: ConnId, status: u16, body: &str, chunked: bool) {
        let mut wire = if chunked {
            let mut w = format!("HTTP/1.1 {status} X\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n").into_bytes();
            for c in body.as_bytes().chunks(700) {
                w.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                w.extend_from_slice(c);
                w.extend_from_slice(b"\r\n");
            }
            w.extend_from_slice(b"0\r\n\r\n");
            w
        } else {
            format!("HTTP/1.1 {status} X\r\nContent-Type: text/xml; charset=\"utf-8\"\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).into_bytes()
        };
        for seg in wire.chunks(1000) {
            self.tcp_out.push_back(TcpCommand::Send {
                conn,
                data: seg.to_vec(),
            });
        }
        wire.clear();
        self.tcp_out.push_back(TcpCommand::Close { conn });
    }

    fn soap_ok(&mut self, conn: ConnId, action: &str, args: &[(&str, String)]) {
        let inner: String = args
            .iter()
            .map(|(k, v)| format!("<{k}>{v}</{k}>"))
            .collect();
        let body = format!(
            "<?xml version=\"1.0\"?>\r\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body><u:{action}Response xmlns:u=\"{}\">{inner}</u:{action}Response></s:Body></s:Envelope>\r\n",
            service_type(self.cfg.upnp_version)
        );
        self.respond(conn, 200, &body, false);
    }

    fn soap_fault(&mut self, conn: ConnId, code: u16, description: &str) {
        let body = format!(
            "<?xml version=\"1.0\"?>\r\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns=\"urn:schemas-upnp-org:control-1-0\"><errorCode>{code}</errorCode><errorDescription>{description}</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>\r\n"
        );
        self.respond(conn, 500, &body, false);
    }

    fn soap(&mut self, now: Instant, conn: ConnId, action: &str, args: &[(String, String)]) {
        let arg = |name: &str| {
            args.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let lease: u32 = arg("NewLeaseDuration").parse().unwrap_or(0);
        let lease_opt = matches!(action, "AddPortMapping" | "AddAnyPortMapping").then_some(lease);
        self.note(now, "upnp", action, lease_opt);
        match action {
            "GetExternalIPAddress" => {
                let ip = self.cfg.advertised().to_string();
                self.soap_ok(conn, action, &[("NewExternalIPAddress", ip)]);
            }
            "AddPortMapping" | "AddAnyPortMapping" => {
                if action == "AddAnyPortMapping" && self.cfg.upnp_version < 2 {
                    return self.soap_fault(conn, 401, "Invalid Action");
                }
                if lease != 0 && self.cfg.permanent_leases_only {
                    return self.soap_fault(conn, 725, "OnlyPermanentLeasesSupported");
                }
                let port: u16 = arg("NewExternalPort").parse().unwrap_or(0);
                let iport: u16 = arg("NewInternalPort").parse().unwrap_or(0);
                let client: Option<IpAddr> = arg("NewInternalClient").parse().ok();
                let (Some(client), true) = (client, iport != 0 && arg("NewProtocol") == "UDP")
                else {
                    return self.soap_fault(conn, 402, "Invalid Args");
                };
                let lifetime = if lease == 0 {
                    Duration::MAX
                } else {
                    Duration::from_secs(u64::from(self.grant(lease)))
                };
                self.request_map(
                    SocketAddr::new(client, iport),
                    port,
                    action == "AddPortMapping",
                    lifetime,
                    Pending::Soap {
                        conn,
                        action: action.to_string(),
                    },
                );
            }
            "DeletePortMapping" => {
                let port: u16 = arg("NewExternalPort").parse().unwrap_or(0);
                self.unmap_port(port);
                self.soap_ok(conn, action, &[]);
            }
            _ => self.soap_fault(conn, 401, "Invalid Action"),
        }
    }

    /// Answers any kind of mapping request once the NAT decided.
    pub(crate) fn answer_mapping(
        &mut self,
        now: Instant,
        p: Pending,
        external: Option<SocketAddr>,
    ) {
        match p {
            Pending::Soap { conn, action } => match (external, action.as_str()) {
                (None, "AddPortMapping") => self.soap_fault(conn, 718, "ConflictInMappingEntry"),
                (None, _) => self.soap_fault(conn, 728, "NoPortMapsAvailable"),
                (Some(_), "AddPortMapping") => self.soap_ok(conn, &action, &[]),
                (Some(e), _) => {
                    self.soap_ok(conn, &action, &[("NewReservedPort", e.port().to_string())])
                }
            },
            other => self.answer_udp_mapping(now, other, external),
        }
    }
}

/// The arguments of a SOAP request: leaf elements inside the action element.
fn soap_args(body: &[u8]) -> Vec<(String, String)> {
    let Ok(text) = std::str::from_utf8(body) else {
        return Vec::new();
    };
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut depth = 0usize;
    let mut current: Option<String> = None;
    let mut out = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                depth += 1;
                if depth == 4 {
                    let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                    out.push((name.clone(), String::new()));
                    current = Some(name);
                }
            }
            Ok(Event::Empty(e)) if depth == 3 => {
                out.push((
                    String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                    String::new(),
                ));
            }
            Ok(Event::End(_)) => {
                if depth == 4 {
                    current = None;
                }
                depth = depth.saturating_sub(1);
            }
            Ok(Event::Text(t)) if current.is_some() => {
                if let (Ok(v), Some(last)) = (t.unescape(), out.last_mut()) {
                    last.1 = v.into_owned();
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    out
}
