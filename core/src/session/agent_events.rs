//! What the ICE agent reports, turned into the session's signaling, state, path, data
//! and relay events.

use super::events::{Event, PathInfo, SessionState};
use super::signal::Signal;
use super::{RelayPolicy, Session};
use crate::ice::{ConnectionState, GatheringState, IceEvent};

impl Session {
    /// Moves the agent's stream bytes and events into the session's queues.
    pub(super) fn process_agent(&mut self) {
        self.run_keepalive(self.now);
        while let Some(t) = self.agent.poll_relay_stream_transmit() {
            self.streams.transmit(t);
        }
        while let Some(e) = self.agent.poll_event() {
            self.on_agent_event(e);
        }
    }

    fn on_agent_event(&mut self, e: IceEvent) {
        match e {
            IceEvent::LocalCandidate(c) => {
                self.candidates_since_eoc += 1;
                self.events.push_back(Event::Signal(Signal::Candidate(c)));
            }
            IceEvent::LocalCredentials(c) => {
                self.eoc_sent = false;
                self.candidates_since_eoc = 0;
                self.counters.restarts += 1;
                self.failed = false;
                self.note_restart(self.now);
                let by_peer = !std::mem::take(&mut self.restart_by_us);
                let signal = self.credentials_signal(c);
                self.events.push_back(Event::Signal(signal));
                self.events.push_back(Event::Restarted { by_peer });
            }
            IceEvent::GatheringStateChanged(GatheringState::Complete) => {
                // Once per generation, and again only if candidates followed (a socket
                // added by a network change gathers after the first end-of-candidates).
                if !self.eoc_sent || self.candidates_since_eoc > 0 {
                    self.eoc_sent = true;
                    self.candidates_since_eoc = 0;
                    self.events
                        .push_back(Event::Signal(Signal::EndOfCandidates));
                }
            }
            IceEvent::GatheringStateChanged(_) => {}
            IceEvent::ConnectionStateChanged(s) => self.on_ice_state(s),
            IceEvent::SelectedPair(p) => {
                let info = PathInfo::from_pair(&p);
                let first = self.path.is_none();
                match &mut self.path {
                    Some(old) if old.same_route(&info) => old.rtt = info.rtt,
                    _ => {
                        self.path = Some(info.clone());
                        self.events.push_back(Event::PathChanged(info));
                    }
                }
                if first {
                    self.flush_early_sends();
                }
            }
            IceEvent::RoleChanged { controlling } => {
                log::debug!(
                    "session: now {}",
                    if controlling {
                        "controlling"
                    } else {
                        "controlled"
                    }
                );
            }
            IceEvent::RelayFailed {
                server,
                transport,
                error,
            } => {
                let url = self
                    .turn
                    .iter()
                    .find(|t| t.addr == server && t.transport == transport)
                    .map_or_else(|| server.to_string(), |t| t.url.clone());
                log::warn!("session: TURN relay {url} failed: {error}");
                self.events.push_back(Event::RelayFailed {
                    server: url,
                    transport,
                    error,
                });
                self.check_relay_only(self.now);
            }
            IceEvent::Data { data, .. } => {
                self.counters.datagrams_received += 1;
                self.counters.bytes_received += data.len() as u64;
                if self.datagrams.len() >= self.config.receive_queue {
                    self.counters.receive_queue_drops += 1;
                } else {
                    self.datagrams.push_back(data);
                }
            }
        }
    }

    fn on_ice_state(&mut self, s: ConnectionState) {
        let mut mapped = match s {
            ConnectionState::New => return,
            ConnectionState::Checking => SessionState::Checking,
            ConnectionState::Connected | ConnectionState::Completed => SessionState::Connected,
            ConnectionState::Disconnected => SessionState::Disconnected,
            ConnectionState::Failed => SessionState::Failed,
            ConnectionState::Closed => SessionState::Closed,
        };
        if self.failed && mapped != SessionState::Closed {
            return;
        }
        if mapped == SessionState::Connected {
            self.network.failure_restarts = 0;
            self.network.was_connected = true;
        }
        if matches!(mapped, SessionState::Failed | SessionState::Closed) {
            self.path = None;
        }
        // A restart of our own is coming: not failed yet, only without a path.
        if mapped == SessionState::Failed
            && self.network.was_connected
            && self.restart_after_failure(self.now)
        {
            mapped = SessionState::Disconnected;
        }
        self.set_state(mapped);
    }

    /// Relay-only with every relay gone: nothing else can connect, so the session fails
    /// at once instead of at the ICE timeout.
    pub(super) fn check_relay_only(&mut self, _now: std::time::Instant) {
        if self.config.relay_policy != RelayPolicy::RelayOnly
            || self.path.is_some()
            || self.failed
            || !self.started
        {
            return;
        }
        let relays = self.agent.relay_stats();
        let none_resolved = self.turn.is_empty() && self.turn_unresolved > 0;
        let all_failed = !relays.is_empty() && relays.iter().all(|r| r.error.is_some());
        if none_resolved || all_failed {
            log::warn!("session: relay-only and no TURN relay is left");
            self.failed = true;
            self.set_state(SessionState::Failed);
        }
    }
}
