//! The XML of UPnP-IGD, read with a real parser (`quick-xml`): the device description
//! (which WAN connection service, at which control URL) and SOAP answers and faults; and
//! the SOAP request envelope, with every value escaped.

use quick_xml::events::Event;
use quick_xml::Reader;

/// WAN connection services, most preferred first.
pub const SERVICES: [&str; 3] = [
    "urn:schemas-upnp-org:service:WANIPConnection:2",
    "urn:schemas-upnp-org:service:WANIPConnection:1",
    "urn:schemas-upnp-org:service:WANPPPConnection:1",
];

/// The chosen WAN connection service of a device description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WanService {
    /// Its serviceType (one of [`SERVICES`]).
    pub service_type: String,
    /// Its controlURL, as written (resolve against URLBase or the description URL).
    pub control_url: String,
    /// The description's URLBase, if any (UDA 1.0).
    pub url_base: Option<String>,
}

impl WanService {
    /// Whether the service has `AddAnyPortMapping` (WANIPConnection:2).
    pub fn is_v2(&self) -> bool {
        self.service_type.ends_with("WANIPConnection:2")
    }
}

/// Why XML could not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// Not well-formed.
    #[error("malformed XML: {0}")]
    Malformed(String),
    /// Well-formed, but without what we need.
    #[error("{0}")]
    Missing(&'static str),
}

fn local(name: &[u8]) -> &[u8] {
    match name.iter().rposition(|&c| c == b':') {
        Some(i) => &name[i + 1..],
        None => name,
    }
}

/// Finds the most preferred WAN connection service in a device description.
pub fn parse_description(xml: &[u8]) -> Result<WanService, XmlError> {
    let text = std::str::from_utf8(xml).map_err(|_| XmlError::Malformed("not UTF-8".into()))?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut path: Vec<Vec<u8>> = Vec::new();
    // (serviceType, controlURL) of every <service>, and the depth of the open one.
    let mut services: Vec<(String, String)> = Vec::new();
    let mut open_service: Option<usize> = None;
    let mut url_base = None;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                if path.len() >= 32 {
                    return Err(XmlError::Malformed("nested too deeply".into()));
                }
                let name = local(e.name().as_ref()).to_vec();
                if name == b"service" && open_service.is_none() {
                    open_service = Some(path.len());
                    services.push((String::new(), String::new()));
                }
                path.push(name);
            }
            Ok(Event::End(_)) => {
                path.pop();
                if open_service == Some(path.len()) {
                    open_service = None;
                }
            }
            Ok(Event::Text(t)) => {
                let s = t
                    .unescape()
                    .map_err(|e| XmlError::Malformed(e.to_string()))?
                    .into_owned();
                if path.len() == 2 && path[1] == b"URLBase" {
                    url_base = Some(s);
                } else if let Some(d) = open_service.filter(|d| path.len() == d + 2) {
                    // Cannot fire: `open_service` is only set right after a push.
                    let svc = services.last_mut().expect("pushed with open_service");
                    match path[d + 1].as_slice() {
                        b"serviceType" => svc.0 = s,
                        b"controlURL" => svc.1 = s,
                        _ => {}
                    }
                }
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => return Err(XmlError::Malformed(e.to_string())),
        }
    }
    if !path.is_empty() {
        return Err(XmlError::Malformed("unclosed elements".into()));
    }
    for wanted in SERVICES {
        if let Some((ty, ctl)) = services.iter().find(|(t, c)| t == wanted && !c.is_empty()) {
            return Ok(WanService {
                service_type: ty.clone(),
                control_url: ctl.clone(),
                url_base,
            });
        }
    }
    Err(XmlError::Missing(
        "the device description names no WANIPConnection or WANPPPConnection service",
    ))
}

/// A SOAP answer: the output arguments, or a UPnP fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SoapAnswer {
    /// `<u:ActionResponse>` with these (name, value) arguments.
    Ok(Vec<(String, String)>),
    /// `<s:Fault>` with the UPnPError code and description.
    Fault {
        /// UPnP errorCode (0 if absent).
        code: u16,
        /// errorDescription.
        description: String,
    },
}

impl SoapAnswer {
    /// An output argument.
    pub fn arg(&self, name: &str) -> Option<&str> {
        match self {
            SoapAnswer::Ok(args) => args
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str()),
            SoapAnswer::Fault { .. } => None,
        }
    }
}

/// Parses a SOAP response body (a 200 answer or a 500 fault).
pub fn parse_soap(xml: &[u8]) -> Result<SoapAnswer, XmlError> {
    let mut args = Vec::new();
    let mut fault = false;
    let mut code = None;
    let mut description = String::new();
    let mut saw_body = false;
    // Arguments are the elements directly inside the response element: Envelope, Body,
    // ActionResponse, argument. Empty arguments produce no text node: record them too.
    let text = std::str::from_utf8(xml).map_err(|_| XmlError::Malformed("not UTF-8".into()))?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut path: Vec<Vec<u8>> = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                if path.len() >= 32 {
                    return Err(XmlError::Malformed("nested too deeply".into()));
                }
                let name = local(e.name().as_ref()).to_vec();
                if path.len() == 1 && name == b"Body" {
                    saw_body = true;
                }
                if path.len() == 2 && name == b"Fault" {
                    fault = true;
                }
                if path.len() == 3 && !fault {
                    args.push((String::from_utf8_lossy(&name).into_owned(), String::new()));
                }
                path.push(name);
            }
            Ok(Event::Empty(e)) => {
                if path.len() == 3 && !fault {
                    let name = String::from_utf8_lossy(local(e.name().as_ref())).into_owned();
                    args.push((name, String::new()));
                }
            }
            Ok(Event::End(_)) => {
                path.pop();
            }
            Ok(Event::Text(t)) => {
                let s = t
                    .unescape()
                    .map_err(|e| XmlError::Malformed(e.to_string()))?;
                if fault {
                    match path.last().map(Vec::as_slice) {
                        Some(b"errorCode") => code = s.trim().parse::<u16>().ok(),
                        Some(b"errorDescription") => description = s.into_owned(),
                        _ => {}
                    }
                } else if path.len() == 4 {
                    if let Some(last) = args.last_mut() {
                        last.1 = s.into_owned();
                    }
                }
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => return Err(XmlError::Malformed(e.to_string())),
        }
    }
    if !saw_body {
        return Err(XmlError::Missing("no SOAP Body"));
    }
    if fault {
        return Ok(SoapAnswer::Fault {
            code: code.unwrap_or(0),
            description,
        });
    }
    Ok(SoapAnswer::Ok(args))
}

/// A SOAP request envelope for `action` of `service_type` with these arguments (values
/// escaped).
pub fn soap_envelope(service_type: &str, action: &str, args: &[(&str, &str)]) -> String {
    let esc = |s: &str| quick_xml::escape::escape(s).into_owned();
    let mut body = String::new();
    for (k, v) in args {
        body += &format!("<{k}>{}</{k}>", esc(v));
    }
    format!(
        "<?xml version=\"1.0\"?>\r\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body>\
         <u:{action} xmlns:u=\"{}\">{body}</u:{action}></s:Body></s:Envelope>\r\n",
        esc(service_type)
    )
}

#[cfg(test)]
#[path = "xml_tests.rs"]
mod tests;
