//! What the peer signals, across ICE restarts.
//!
//! Real signaling channels duplicate, reorder and delay lines. Within one generation that
//! is easy (a duplicate candidate is ignored, a candidate before the credentials waits in
//! the checklist). Across a restart it is not:
//!
//! - A late copy of the peer's *previous* credentials must not look like yet another
//!   restart: both agents would restart again, and again. Credentials of earlier
//!   generations are remembered and ignored.
//! - A candidate of the peer's *next* generation can overtake its new credentials. When
//!   it names its generation (the `ufrag` extension libwebrtc emits), it is held until
//!   those credentials arrive instead of landing in the checklist about to be replaced;
//!   one naming an earlier generation is dropped. Without the extension a candidate
//!   belongs to the generation current when it arrives (RFC 8838 leaves the rest to the
//!   signaling's ordering).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use super::agent::{IceAgent, IceError, IceEvent};
use super::candidate::{Candidate, Transport};
use super::generation::key_of;
use super::sdp::IceCredentials;

/// Earlier remote credentials remembered (restarts are rare; a few cover any reordering).
const RETIRED_KEPT: usize = 8;
/// Candidates held for a generation whose credentials have not arrived (RFC 8445's
/// suggested cap on remote candidates).
const HELD_MAX: usize = 100;

/// The peer's signaling state that outlives one generation.
#[derive(Default)]
pub(crate) struct RemoteSignaling {
    /// Remote credentials of earlier generations, oldest first.
    retired: VecDeque<IceCredentials>,
    /// Candidates naming a ufrag not seen yet.
    held: Vec<Candidate>,
}

impl RemoteSignaling {
    /// The peer's credentials of a generation that is being replaced.
    pub(super) fn retire(&mut self, c: IceCredentials) {
        if !self.retired.contains(&c) {
            if self.retired.len() == RETIRED_KEPT {
                self.retired.pop_front();
            }
            self.retired.push_back(c);
        }
    }

    fn is_retired_ufrag(&self, ufrag: &str) -> bool {
        self.retired.iter().any(|c| c.ufrag.as_str() == ufrag)
    }
}

impl IceAgent {
    pub(super) fn set_remote_credentials(&mut self, now: Instant, c: IceCredentials) {
        if self.signaling.retired.contains(&c) {
            self.counters.stale_signaling += 1;
            return;
        }
        match &self.current.remote {
            Some((old, _)) if *old == c => return,
            Some(_) => {
                // The peer restarted ICE (RFC 8445 §9): so do we.
                self.restart(now);
            }
            None => {}
        }
        let key = key_of(&c);
        let ufrag = c.ufrag.as_str().to_owned();
        self.current.remote = Some((c, key));
        let (theirs, others): (Vec<Candidate>, Vec<Candidate>) =
            std::mem::take(&mut self.signaling.held)
                .into_iter()
                .partition(|h| h.ufrag() == Some(ufrag.as_str()));
        self.signaling.held = others;
        for h in theirs {
            // Errors were ruled out when it was held; a cap reached meanwhile is counted.
            let _ = self.add_to_current(h);
        }
    }

    pub(super) fn add_remote_candidate(&mut self, c: Candidate) -> Result<(), IceError> {
        if c.transport != Transport::Udp {
            return Err(IceError::UnsupportedTransport(c.to_string()));
        }
        if c.component != 1 {
            let comp = c.component;
            return Err(IceError::UnsupportedComponent(c.to_string(), comp));
        }
        if let Some(ufrag) = c.ufrag() {
            let current = self.current.remote.as_ref().map(|(r, _)| r.ufrag.as_str());
            if current != Some(ufrag) {
                if self.signaling.is_retired_ufrag(ufrag) {
                    self.counters.stale_signaling += 1;
                    return Ok(());
                }
                if current.is_some() {
                    // A generation whose credentials are still on the way.
                    if self.signaling.held.len() >= HELD_MAX {
                        self.counters.remote_candidates_rejected += 1;
                    } else if !self.signaling.held.contains(&c) {
                        self.signaling.held.push(c);
                    }
                    return Ok(());
                }
            }
        }
        self.add_to_current(c)
    }

    fn add_to_current(&mut self, c: Candidate) -> Result<(), IceError> {
        let known = c
            .address
            .ip()
            .and_then(|ip| self.current.remote_at(SocketAddr::new(ip, c.port)));
        if let Some(id) = known {
            // A check may have raced ahead of the signaling: the prflx remote it
            // created takes the signaled candidate's type, foundation and priority.
            self.counters.duplicate_candidates += 1;
            if self.current.checklist.replace_peer_reflexive(id, c) {
                // RFC 8445 §7.3.1.3: the pair now names the signaled type and priority;
                // if it carries data, the application's view of the path changes too.
                if let Some(k) = self.current.selected.filter(|k| k.1 == id) {
                    let p = self.describe(&self.current, k);
                    self.events.push_back(IceEvent::SelectedPair(p));
                }
            }
            return Ok(());
        }
        self.current.checklist.add_remote(c)?;
        Ok(())
    }
}
