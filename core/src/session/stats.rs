//! A session's statistics snapshot, for apps and for bug reports (also as JSON).

use serde_json::{json, Value};

use super::events::{PathInfo, SessionState};
use super::portmap::PortMapState;
use super::{Counters, KeepaliveStats, Session};
use crate::ice::{IceStats, NatBehaviour, PortAllocation, PunchStats, RelayStats};

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
    /// Each mapped socket's port mapping (empty: none tried).
    pub port_mappings: Vec<PortMapState>,
    /// What NAT discovery found about our NAT.
    pub nat: Option<NatBehaviour>,
    /// The hard-NAT punch.
    pub punch: PunchStats,
    /// Sockets a hard-NAT punch holds now.
    pub punch_sockets: usize,
    /// `punch.started`, `punch.ended` as time since the session was created.
    pub punch_times: (Option<std::time::Duration>, Option<std::time::Duration>),
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
            port_mappings: s.port_mappings(),
            nat: s.nat_behaviour(),
            punch: s.agent.punch_stats(),
            punch_sockets: s.punch_socket_count(),
            punch_times: {
                let p = s.agent.punch_stats();
                (
                    p.started.map(|t| s.since_created(t)),
                    p.ended.map(|t| s.since_created(t)),
                )
            },
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
        let port_mappings: Vec<Value> = self
            .port_mappings
            .iter()
            .map(|m| {
                let protocols: serde_json::Map<String, Value> = m
                    .protocols
                    .iter()
                    .map(|(p, s)| (p.as_str().to_owned(), Value::String(s.clone())))
                    .collect();
                json!({
                    "socket": m.socket.to_string(),
                    "gateway": m.gateway.to_string(),
                    "protocol": m.mapping.map(|x| x.protocol.as_str()),
                    "external": m.mapping.map(|x| x.external.to_string()),
                    "lifetime_s": m.mapping.map(|x| x.lifetime.as_secs()),
                    "protocols": protocols,
                    "renewals": m.stats.renewals,
                    "epoch_resets": m.stats.epoch_resets,
                    "announces": m.stats.announces,
                    "closing": m.closing,
                })
            })
            .collect();
        let nat = self.nat.map(|n| {
            let (allocation, last) = match n.allocation {
                PortAllocation::Unknown => ("unknown", None),
                PortAllocation::Random => ("random", None),
                PortAllocation::Sequential { last } => ("sequential", Some(last)),
            };
            json!({
                "mapping": n.mapping.as_str(),
                "filtering": n.filtering.as_str(),
                "allocation": allocation,
                "last_port": last,
            })
        });
        let p = &self.punch;
        let ms = |d: Option<std::time::Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
        let punch = json!({
            "role": p.role.map(|r| r.as_str()),
            "outcome": p.outcome.as_str(),
            "attempts": p.attempts,
            "started_ms": ms(self.punch_times.0),
            "ended_ms": ms(self.punch_times.1),
            "sockets_opened": p.sockets_opened,
            "sockets_failed": p.sockets_failed,
            "sockets_held": self.punch_sockets,
            "probes_sent": p.probes_sent,
            "predicted_probes": p.predicted_probes,
            "responses": p.responses,
            "dropped": p.dropped,
            "hit": p.hit.map(|h| json!({
                "local": h.local.to_string(),
                "remote": h.remote.to_string(),
                "after_ms": h.after.as_secs_f64() * 1000.0,
                "probes": h.probes,
            })),
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
            "port_mappings": port_mappings,
            "nat": nat,
            "punch": punch,
        })
    }
}
