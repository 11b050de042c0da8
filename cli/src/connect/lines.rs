//! The lines `pinhole connect` reads and writes besides the signaling messages
//! themselves (DESIGN.md, "The `pinhole` CLI contracts").

use std::io::Write;

use pinhole::session::{NetworkHint, NetworkKind, PathInfo, PathKind, SessionState};
use serde_json::{json, Value};

/// A control line from stdin (as opposed to the peer's signaling).
#[derive(Debug, PartialEq)]
pub(super) enum Control {
    Send(String),
    NetworkChanged(NetworkHint),
    Restart,
    Close,
    /// Write a `statistics` line (the session's statistics, keepalive policy included).
    Stats,
}

/// `Ok(Some)`: a control line; `Ok(None)`: not one (the peer's signaling, or a line to
/// ignore); `Err`: a control line that is malformed.
pub(super) fn parse_control(line: &str) -> Result<Option<Control>, String> {
    let Ok(v) = serde_json::from_str::<Value>(line) else {
        return Ok(None);
    };
    let kind = v.get("type").and_then(Value::as_str).unwrap_or_default();
    match kind {
        "send" => {
            let text = v
                .get("text")
                .and_then(Value::as_str)
                .ok_or("send line without a string \"text\"")?;
            super::options::check_sendable(text)?;
            Ok(Some(Control::Send(text.to_owned())))
        }
        "network-changed" => {
            let k = v.get("kind").and_then(Value::as_str).unwrap_or("other");
            let kind = NetworkKind::parse(k).ok_or_else(|| {
                format!(
                    "network-changed kind {k:?}: expected wifi, cellular, ethernet, other or none"
                )
            })?;
            let mut hint = NetworkHint::new(kind);
            if let Some(m) = v.get("metered").and_then(Value::as_bool) {
                hint = hint.with_metered(m);
            }
            Ok(Some(Control::NetworkChanged(hint)))
        }
        "restart" => Ok(Some(Control::Restart)),
        "stats" => Ok(Some(Control::Stats)),
        "close" => Ok(Some(Control::Close)),
        _ => Ok(None),
    }
}

/// One line on stdout. A closed stdout (the peer went away) is not our failure.
pub(super) fn emit_raw(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|_| out.flush());
}

pub(super) fn emit(v: Value) {
    emit_raw(&v.to_string());
}

pub(super) fn connected_line(p: &PathInfo) -> Value {
    json!({
        "type": "connected",
        "path": if p.kind == PathKind::Relay { "relay" } else { "direct" },
        "local": p.local.to_string(),
        "remote": p.remote.to_string(),
        "rtt_ms": p.rtt.map(|d| (d.as_secs_f64() * 10_000.0).round() / 10.0),
    })
}

/// `{"type":"statistics","stats":{…}}` with [`pinhole::session::SessionStats::to_json`]'s
/// object: another type than the `stats` control line that asks for it, so that a peer
/// reading this side's output as its input does not answer with its own.
pub(super) fn stats_line(stats_json: &str) -> Value {
    let stats: Value = serde_json::from_str(stats_json).unwrap_or(Value::Null);
    json!({"type": "statistics", "stats": stats})
}

pub(super) fn state_line(s: SessionState) -> Value {
    json!({"type": "state", "state": s.as_str()})
}

pub(super) fn data_line(text: &str) -> Value {
    json!({"type": "data", "text": text})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_lines() {
        assert_eq!(
            parse_control(r#"{"type":"send","text":"hi"}"#),
            Ok(Some(Control::Send("hi".into())))
        );
        assert_eq!(
            parse_control(r#"{"type":"restart"}"#),
            Ok(Some(Control::Restart))
        );
        assert_eq!(
            parse_control(r#"{"type":"close"}"#),
            Ok(Some(Control::Close))
        );
        assert_eq!(
            parse_control(r#"{"type":"stats"}"#),
            Ok(Some(Control::Stats))
        );
        assert_eq!(
            parse_control(r#"{"type":"network-changed","kind":"cellular"}"#),
            Ok(Some(Control::NetworkChanged(NetworkHint::new(
                NetworkKind::Cellular
            ))))
        );
        assert!(parse_control(r#"{"type":"network-changed","kind":"5g"}"#).is_err());
        assert!(parse_control(r#"{"type":"send"}"#).is_err());
        assert_eq!(
            parse_control(r#"{"type":"candidate","candidate":"x"}"#),
            Ok(None)
        );
        assert_eq!(parse_control("not json"), Ok(None));
    }
}
