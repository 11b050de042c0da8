//! The application's calls: signaling in, data out, restart, network change, close.

use std::time::Instant;

use super::events::SessionState;
use super::inbox::Admit;
use super::signal::{Role, Signal};
use super::stats::SessionStats;
use super::{Session, SessionError, MAX_DATAGRAM};
use crate::ice::{IceError, Input as IceInput};

impl Session {
    /// A signaling string from the peer (what its session emitted as
    /// [`Event::Signal`](super::Event::Signal), in its JSON form). Repeats are ignored;
    /// candidates that overtake the credentials wait for them; messages of types a
    /// session does not act on are ignored. A string that is not a signaling message is
    /// an error (log it and go on: nothing changed).
    pub fn handle_signal(&mut self, now: Instant, message: &str) -> Result<(), SessionError> {
        if self.closed {
            return Err(SessionError::Closed);
        }
        match Signal::from_json(message)? {
            Some(s) => self.handle_signal_message(now, s),
            None => {
                self.counters.signals_ignored += 1;
                Ok(())
            }
        }
    }

    /// A parsed signaling message from the peer (for apps that carry SDP lines: see
    /// [`Signal::from_sdp`]).
    pub fn handle_signal_message(
        &mut self,
        now: Instant,
        message: Signal,
    ) -> Result<(), SessionError> {
        self.now = now;
        if self.closed {
            return Err(SessionError::Closed);
        }
        if let Signal::Nat(n) = message {
            // The latest word wins; it needs no credentials and no ordering.
            self.agent.set_remote_nat(now, Some(n));
            return Ok(());
        }
        let first_credentials = !self.inbox.has_credentials();
        match self.inbox.admit(message) {
            Admit::Ignored => {
                self.counters.signals_ignored += 1;
                Ok(())
            }
            Admit::Held => Ok(()),
            Admit::Apply(m) => {
                let r = self.apply_signal(now, m);
                if first_credentials && self.inbox.has_credentials() {
                    for held in self.inbox.take_held() {
                        if let Err(e) = self.apply_signal(now, held) {
                            log::debug!("session: held signaling refused: {e}");
                        }
                    }
                }
                r
            }
        }
    }

    fn apply_signal(&mut self, now: Instant, m: Signal) -> Result<(), SessionError> {
        let r = match m {
            Signal::Credentials(c) => {
                self.remote_v4.clear();
                if !self.role_decided {
                    self.role_decided = true;
                    self.decide_role(c.role, c.tie_breaker);
                }
                if !c.options.is_empty() {
                    self.agent.handle_input(
                        now,
                        IceInput::RemoteOptions {
                            options: c.options,
                            lite: false,
                        },
                    )?;
                }
                self.agent
                    .handle_input(now, IceInput::RemoteCredentials(c.credentials))
            }
            Signal::Candidate(c) => {
                self.nat64_candidate(now, &c);
                match self.agent.handle_input(now, IceInput::RemoteCandidate(c)) {
                    // Another stack's TCP or RTCP candidates: not ours to use, not an error.
                    Err(
                        e
                        @ (IceError::UnsupportedTransport(_) | IceError::UnsupportedComponent(..)),
                    ) => {
                        log::debug!("session: skipping remote candidate: {e}");
                        self.counters.signals_ignored += 1;
                        Ok(())
                    }
                    r => r,
                }
            }
            Signal::EndOfCandidates => self
                .agent
                .handle_input(now, IceInput::RemoteEndOfCandidates),
            Signal::Nat(n) => {
                self.agent.set_remote_nat(now, Some(n));
                Ok(())
            }
        };
        r.map_err(SessionError::from)
    }

    /// [`Role::Auto`] meets the peer's first credentials: a peer with a fixed role gets
    /// the other one; two automatic peers compare tie-breakers (the larger controls, as
    /// in RFC 8445 §7.3.1.1); a peer that says nothing leaves it to role-conflict
    /// resolution during the checks.
    fn decide_role(&mut self, peer_role: Option<Role>, peer_tie_breaker: Option<u64>) {
        if self.config.role != Role::Auto {
            return;
        }
        let controlling = match (peer_role, peer_tie_breaker) {
            (Some(Role::Controlling), _) => false,
            (Some(Role::Controlled), _) => true,
            (_, Some(theirs)) if theirs != self.agent.tie_breaker() => {
                self.agent.tie_breaker() > theirs
            }
            _ => return,
        };
        self.agent.set_role(controlling);
    }

    /// Sends one datagram to the peer on the current path.
    pub fn send(&mut self, now: Instant, data: &[u8]) -> Result<(), SessionError> {
        self.now = now;
        if self.closed {
            return Err(SessionError::Closed);
        }
        let first = *data.first().ok_or(SessionError::EmptyData)?;
        if first <= 3 {
            return Err(SessionError::AmbiguousData(first));
        }
        if data.len() > MAX_DATAGRAM {
            return Err(SessionError::TooLarge {
                len: data.len(),
                max: MAX_DATAGRAM,
            });
        }
        if self.path.is_none() {
            if self.early.len() < self.config.early_send_queue {
                self.early.push_back(data.to_vec());
                return Ok(());
            }
            return Err(SessionError::NotConnected);
        }
        self.agent.send_data(now, data)?;
        self.counters.datagrams_sent += 1;
        self.counters.bytes_sent += data.len() as u64;
        Ok(())
    }

    /// What was sent before the first path, now that there is one.
    pub(super) fn flush_early_sends(&mut self) {
        while let Some(d) = self.early.pop_front() {
            if self.agent.send_data(self.now, &d).is_ok() {
                self.counters.datagrams_sent += 1;
                self.counters.bytes_sent += d.len() as u64;
            }
        }
    }

    /// ICE restart: new credentials go to the peer as an [`Event::Signal`](super::Event::Signal),
    /// every path is checked again, and the current path keeps carrying data until a new
    /// one is selected. Also the way out of [`SessionState::Failed`].
    pub fn restart(&mut self, now: Instant) -> Result<(), SessionError> {
        self.now = now;
        if self.closed {
            return Err(SessionError::Closed);
        }
        self.restart_by_us = true;
        self.failed = false;
        self.note_restart(now);
        self.agent.restart(now);
        Ok(())
    }

    /// Closes the session: TURN allocations and port mappings are deleted (the pump sends
    /// those last datagrams and stream bytes, and keeps driving the session until
    /// [`Session::is_finished`](super::Session::is_finished)), the state becomes
    /// [`SessionState::Closed`], and nothing else is sent or delivered. Idempotent.
    pub fn close(&mut self, now: Instant) {
        self.now = now;
        if self.closed {
            return;
        }
        self.closed = true;
        self.keepalive_close();
        self.portmaps.close(now);
        self.agent.close();
        while let Some(t) = self.agent.poll_relay_stream_transmit() {
            self.streams.transmit(t);
        }
        self.streams.close_all();
        self.datagrams.clear();
        self.early.clear();
        self.path = None;
        self.set_state(SessionState::Closed);
    }

    /// Whether `close` was called.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// A statistics snapshot (also as JSON: [`SessionStats::to_json`]).
    pub fn stats(&self) -> SessionStats {
        SessionStats::collect(self)
    }
}
