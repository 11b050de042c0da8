//! Output parsers for the two third-party NAT classifiers the interop tests drive:
//! coturn's `turnutils_natdiscovery` (RFC 5780) and Debian's `stun` (package stun-client,
//! RFC 3489). Shared by interop_stun.rs (loopback) and natlab_interop_stun.rs (behind
//! real kernel NATs). The tools' output formats are described at the top of
//! interop_stun.rs.

use super::Run;
use std::net::SocketAddr;

// ---------------------------------------------------------------------------------------
// turnutils_natdiscovery

/// natdiscovery's stdout reduced to what matters, with the server's addresses written
/// symbolically (A1:P1 ...) so that coturn's and pinhole's transcripts compare equal.
///
/// Each response becomes `response origin=<RESPONSE-ORIGIN> [other=<OTHER-ADDRESS>, first
/// response of a section only] mapped=<...>`, where `mapped=local` means the reflexive
/// address equals the socket's local address (no translation). Behind a NAT it reads
/// `mapped=<public IP>:<local-port|new-port> #n`: whether the NAT kept the local port,
/// and which distinct reflexive address of the section this is (#1 for the first one seen,
/// #2 for the next different one, ...), so that "same mapping" and "new mapping" are
/// visible without the random port numbers. Verdict and failure lines are kept verbatim.
pub fn natdiscovery_transcript(
    stdout: &str,
    primary: SocketAddr,
    alternate: SocketAddr,
) -> Vec<String> {
    let sym = |a: &str| -> String {
        let Ok(a) = a.trim().parse::<SocketAddr>() else {
            return a.trim().to_string();
        };
        let ip = if a.ip() == primary.ip() {
            "A1"
        } else if a.ip() == alternate.ip() {
            "A2"
        } else {
            return a.to_string();
        };
        let port = if a.port() == primary.port() {
            "P1"
        } else if a.port() == alternate.port() {
            "P2"
        } else {
            return a.to_string();
        };
        format!("{ip}:{port}")
    };
    let value_after = |line: &str, label: &str| -> Option<String> {
        let i = line.find(label)?;
        Some(
            line[i + label.len()..]
                .trim_start_matches([':', ' '])
                .trim()
                .to_string(),
        )
    };

    #[derive(Default)]
    struct Resp {
        origin: Option<String>,
        other: Option<String>,
        reflexive: Option<String>,
        local: Option<String>,
    }
    let mut out = Vec::new();
    let mut current: Option<Resp> = None;
    let mut first_in_section = true;
    // Distinct reflexive addresses of the current section, in order of appearance.
    let mut seen: Vec<String> = Vec::new();
    let flush = |r: Resp, first: bool, seen: &mut Vec<String>, out: &mut Vec<String>| {
        let mut s = format!(
            "response origin={}",
            r.origin.as_deref().map(sym).unwrap_or("-".into())
        );
        if first {
            s += &format!(
                " other={}",
                r.other.as_deref().map(sym).unwrap_or("-".into())
            );
        }
        match (&r.reflexive, &r.local) {
            (Some(x), Some(l)) if x == l => s += " mapped=local",
            (Some(x), l) => {
                let n = match seen.iter().position(|s| s == x) {
                    Some(i) => i + 1,
                    None => {
                        seen.push(x.clone());
                        seen.len()
                    }
                };
                let port = |a: &str| a.parse::<SocketAddr>().ok().map(|a| a.port());
                let kept = port(x).is_some() && port(x) == l.as_deref().and_then(port);
                let ip = x
                    .parse::<SocketAddr>()
                    .map(|a| a.ip().to_string())
                    .unwrap_or_else(|_| x.clone());
                let tag = if kept { "local-port" } else { "new-port" };
                s += &format!(" mapped={ip}:{tag} #{n}");
            }
            (None, _) => s += " mapped=-",
        }
        out.push(s);
    };
    for line in stdout.lines() {
        let t = line.trim();
        if t.starts_with("-= ") && t.ends_with(" =-") {
            if let Some(r) = current.take() {
                flush(r, first_in_section, &mut seen, &mut out);
            }
            first_in_section = true;
            seen.clear();
            let name = t.trim_start_matches("-= ").trim_end_matches(" =-");
            out.push(format!(
                "section {}",
                name.trim_end_matches(" Behavior Discovery")
            ));
        } else if t.starts_with("RFC 5780 response") {
            if let Some(r) = current.take() {
                flush(r, first_in_section, &mut seen, &mut out);
                first_in_section = false;
            }
            current = Some(Resp::default());
        } else if t.contains("Response origin:")
            || t.contains("Other addr:")
            || t.contains("UDP reflexive addr")
            || t.contains("Local addr:")
        {
            if let Some(r) = current.as_mut() {
                if let Some(v) = value_after(t, "Response origin:") {
                    r.origin.get_or_insert(v); // coturn's logger sometimes repeats this line
                } else if let Some(v) = value_after(t, "Other addr:") {
                    r.other = Some(v);
                } else if let Some(v) = value_after(t, "UDP reflexive addr") {
                    r.reflexive = Some(v);
                } else if let Some(v) = value_after(t, "Local addr:") {
                    r.local = Some(v);
                }
            }
        } else if t.is_empty()
            || t.starts_with("====")
            || t.starts_with("No ALG")
            || t.starts_with("Not received mapped address")
        {
            // Separators; and MAPPED-ADDRESS next to XOR-MAPPED-ADDRESS is optional for an
            // RFC 5389 server (coturn adds it for old clients), so its absence is fine.
        } else {
            // Verdicts ("No NAT! ...", "NAT with ...", "Received a request ...") and every
            // kind of failure ("STUN receive timeout..", "ALG detected!", "The response is
            // an error ...") end up here, in order.
            if let Some(r) = current.take() {
                flush(r, first_in_section, &mut seen, &mut out);
                first_in_section = false;
            }
            out.push(
                t.trim_start_matches("-= ")
                    .trim_end_matches(" =-")
                    .to_string(),
            );
        }
    }
    if let Some(r) = current.take() {
        flush(r, first_in_section, &mut seen, &mut out);
    }
    out
}

// ---------------------------------------------------------------------------------------
// Debian's `stun` classifier (RFC 3489)

/// What `stun HOST:PORT -v` reported.
#[derive(Debug)]
pub struct Classification {
    /// "Open", "Blocked or could not reach STUN server", ...
    pub verdict: String,
    pub exit: Option<i32>,
    /// "test I" → "1", "is nat" → "0", ... (keys with runs of spaces collapsed)
    pub summary: Vec<(String, String)>,
    /// The first local port it opened (its test I socket).
    pub local_port: Option<u16>,
    /// Per test id (first byte of the transaction ID): the attribute lines it parsed.
    pub responses: Vec<(u32, Vec<String>)>,
}

impl Classification {
    pub fn summary(&self, key: &str) -> Option<&str> {
        self.summary
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn response_attr(&self, id: u32, name: &str) -> Option<String> {
        let (_, lines) = self.responses.iter().find(|(i, _)| *i == id)?;
        lines.iter().find_map(|l| {
            l.strip_prefix(&format!("{name} = "))
                .map(|v| v.trim().to_string())
        })
    }
}

/// Parses what `stun HOST:PORT -v` printed (verdict on stdout, transactions and the
/// summary on stderr; the exit status is the return value).
pub fn parse_stun_classifier(run: &Run) -> Classification {
    let verdict = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Primary: "))
        .map(|v| v.trim().to_string())
        .unwrap_or_default();
    let mut summary = Vec::new();
    let mut responses = Vec::new();
    let mut pending: Vec<String> = Vec::new();
    let mut local_port = None;
    for line in run.stderr.lines() {
        let t = line.trim();
        if local_port.is_none() {
            if let Some(rest) = t.strip_prefix("Opened port ") {
                local_port = rest.split_whitespace().next().and_then(|p| p.parse().ok());
            }
        }
        if let Some(i) = t.find(" id=") {
            if t.starts_with("Received message of type") {
                let id = t[i + 4..].trim().parse().unwrap_or(0);
                responses.push((id, std::mem::take(&mut pending)));
                continue;
            }
        }
        if t.starts_with("Received stun message") {
            pending.clear();
        } else if let Some((k, v)) = t.split_once(" = ") {
            let key = k.split_whitespace().collect::<Vec<_>>().join(" ");
            if [
                "test I",
                "test II",
                "test III",
                "test I(2)",
                "is nat",
                "mapped IP same",
                "hairpin",
                "preserver port",
            ]
            .contains(&key.as_str())
            {
                summary.push((key, v.trim().to_string()));
            } else {
                pending.push(t.to_string());
            }
        }
    }
    Classification {
        verdict,
        exit: run.code(),
        summary,
        local_port,
        responses,
    }
}
