//! A session's statistics snapshot, for apps and for bug reports (also as JSON).

use serde_json::{json, Value};

use super::events::{PathInfo, SessionState};
use super::{Counters, KeepaliveStats, Session};
use crate::ice::{IceStats, RelayStats};

/// A snapshot of one session.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionStats {
    /// Connection state.
    pub state: SessionState,
    /// The path data takes.
    pub path: Option<PathInfo>,
    /// Application datagrams sent.
    pub datagrams_sent: u64,
    /// Application bytes sent.
    pub bytes_sent: u64,
    /// Application datagrams received (including dropped ones).
    pub datagrams_received: u64,
    /// Application bytes received.
    pub bytes_received: u64,
    /// Received datagrams dropped because the application did not take them in time
    /// (`SessionConfig::receive_queue`).
    pub receive_queue_drops: u64,
    /// Peer signaling messages ignored: repeats, late copies, other stacks' TCP
    /// candidates, unknown types.
    pub signals_ignored: u64,
    /// ICE restarts (ours and the peer's).
    pub restarts: u64,
    /// Local sockets in use.
    pub sockets: usize,
    /// The peer's credentials arrived.
    pub peer_credentials: bool,
    /// The ICE agent's snapshot: pairs, counters (malformed input dropped, …).
    pub ice: IceStats,
    /// Every TURN relay's state.
    pub relays: Vec<RelayStats>,
    /// The keepalive policy: interval, what the lifetime probe found, losses.
    pub keepalive: KeepaliveStats,
}

impl SessionStats {
    pub(super) fn collect(s: &Session) -> SessionStats {
        let Counters {
            datagrams_sent,
            bytes_sent,
            datagrams_received,
            bytes_received,
            receive_queue_drops,
            signals_ignored,
            restarts,
        } = s.counters;
        SessionStats {
            state: s.state,
            path: s.path.clone(),
            datagrams_sent,
            bytes_sent,
            datagrams_received,
            bytes_received,
            receive_queue_drops,
            signals_ignored,
            restarts,
            sockets: s.sockets.all().len(),
            peer_credentials: s.inbox.has_credentials(),
            ice: s.agent.stats(),
            relays: s.agent.relay_stats(),
            keepalive: s.keepalive_stats(),
        }
    }

    /// One JSON object: state, path, the counters above, the ICE counters, pairs and
    /// relays. Keys are stable; new keys may be added.
    pub fn to_json(&self) -> String {
        self.to_value().to_string()
    }

    fn to_value(&self) -> Value {
        let path = self.path.as_ref().map(|p| {
            json!({
                "kind": p.kind.as_str(),
                "local": p.local.to_string(),
                "remote": p.remote.to_string(),
                "rtt_ms": p.rtt.map(|d| d.as_secs_f64() * 1000.0),
            })
        });
        let c = &self.ice.counters;
        let pairs: Vec<Value> = self
            .ice
            .pairs
            .iter()
            .map(|p| {
                json!({
                    "local": p.local.to_string(),
                    "remote": p.remote.to_string(),
                    "local_type": p.local_type.as_str(),
                    "remote_type": p.remote_type.as_str(),
                    "state": format!("{:?}", p.state).to_lowercase(),
                    "valid": p.valid,
                    "selected": p.selected,
                    "rtt_ms": p.rtt.map(|d| d.as_secs_f64() * 1000.0),
                    "requests_sent": p.requests_sent,
                    "responses_received": p.responses_received,
                })
            })
            .collect();
        let relays: Vec<Value> = self
            .relays
            .iter()
            .map(|r| {
                json!({
                    "server": r.server.to_string(),
                    "transport": r.transport.to_string(),
                    "state": format!("{:?}", r.state).to_lowercase(),
                    "relayed": r.relayed.map(|a| a.to_string()),
                    "error": r.error.as_ref().map(|e| e.to_string()),
                })
            })
            .collect();
        let k = &self.keepalive;
        let secs = |d: Option<std::time::Duration>| d.map(|d| d.as_secs_f64());
        let keepalive = json!({
            "kind": k.policy.kind.as_str(),
            "interval_s": k.policy.interval.as_secs_f64(),
            "phase": match &k.policy.phase {
                crate::keepalive::Phase::Probing => "probing".to_string(),
                crate::keepalive::Phase::Settled => "settled".to_string(),
                crate::keepalive::Phase::Unavailable(why) => format!("unavailable: {why}"),
                _ => "off".to_string(),
            },
            "survived_s": secs(k.policy.survived),
            "expired_s": secs(k.policy.expired),
            "trials": k.policy.trials,
            "losses": k.policy.losses,
            "keepalives_sent": k.keepalives_sent,
            "probe_datagrams": k.probe_datagrams,
            "held": k.held,
        });
        json!({
            "state": self.state.as_str(),
            "path": path,
            "datagrams_sent": self.datagrams_sent,
            "bytes_sent": self.bytes_sent,
            "datagrams_received": self.datagrams_received,
            "bytes_received": self.bytes_received,
            "receive_queue_drops": self.receive_queue_drops,
            "signals_ignored": self.signals_ignored,
            "restarts": self.restarts,
            "sockets": self.sockets,
            "peer_credentials": self.peer_credentials,
            "local_candidates": self.ice.local_candidates,
            "remote_candidates": self.ice.remote_candidates,
            "malformed": c.malformed,
            "unauthenticated": c.unauthenticated,
            "rate_limited": c.rate_limited,
            "consent_lost": c.consent_lost,
            "checks_sent": c.checks_sent,
            "pairs": pairs,
            "relays": relays,
            "keepalive": keepalive,
        })
    }
}
