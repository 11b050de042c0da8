//! The peer's signaling as it really arrives: duplicated, reordered, candidates before
//! credentials.
//!
//! - An exact repeat is ignored. New credentials (the peer restarted ICE) start over for
//!   candidates, because the peer signals its candidates again for the new generation
//!   and an unchanged host candidate comes back as the very same line. Credentials are
//!   never forgotten, so a late copy of old ones cannot restart ICE back to them.
//! - Candidates and end-of-candidates that arrive before the first credentials wait for
//!   them (at most [`HELD_MAX`]).

use std::collections::{HashSet, VecDeque};

use super::signal::Signal;
use crate::ice::IceCredentials;

/// Messages held for the peer's first credentials (RFC 8445's suggested remote-candidate cap).
pub(super) const HELD_MAX: usize = 100;
/// Earlier credentials remembered (restarts are rare).
const CREDENTIALS_KEPT: usize = 64;

/// What to do with an incoming message.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Admit {
    /// Hand it to the agent.
    Apply(Signal),
    /// Held until credentials arrive.
    Held,
    /// A repeat (or held-queue overflow): ignored and counted.
    Ignored,
}

#[derive(Default)]
pub(super) struct Inbox {
    credentials: VecDeque<IceCredentials>,
    others: HashSet<String>,
    held: Vec<Signal>,
    /// Messages ignored as repeats or overflow.
    pub(super) ignored: u64,
}

impl Inbox {
    pub(super) fn admit(&mut self, s: Signal) -> Admit {
        match s {
            Signal::Credentials(ref c) => {
                if self.credentials.contains(&c.credentials) {
                    self.ignored += 1;
                    return Admit::Ignored;
                }
                if self.credentials.len() == CREDENTIALS_KEPT {
                    self.credentials.pop_front();
                }
                // A restart: the peer signals its candidates again (the held ones of the
                // first credentials stay known).
                if !self.credentials.is_empty() {
                    self.others.clear();
                }
                self.credentials.push_back(c.credentials.clone());
                Admit::Apply(s)
            }
            other => {
                let key = match &other {
                    Signal::Candidate(c) => c.to_string(),
                    _ => "end-of-candidates".to_owned(),
                };
                if !self.others.insert(key) {
                    self.ignored += 1;
                    return Admit::Ignored;
                }
                if self.credentials.is_empty() {
                    if self.held.len() >= HELD_MAX {
                        self.ignored += 1;
                        return Admit::Ignored;
                    }
                    self.held.push(other);
                    return Admit::Held;
                }
                Admit::Apply(other)
            }
        }
    }

    /// What waited for the first credentials, in arrival order.
    pub(super) fn take_held(&mut self) -> Vec<Signal> {
        std::mem::take(&mut self.held)
    }

    /// Whether the peer's credentials ever arrived.
    pub(super) fn has_credentials(&self) -> bool {
        !self.credentials.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::super::signal::SignalCredentials;
    use super::*;
    use crate::ice::Candidate;

    fn creds(u: &str) -> Signal {
        Signal::Credentials(SignalCredentials {
            credentials: IceCredentials::new(u, "0123456789abcdefghijkl").unwrap(),
            options: vec![],
            role: None,
            tie_breaker: None,
        })
    }

    #[test]
    fn repeats_are_ignored_until_the_peer_restarts() {
        let host = Signal::Candidate(
            Candidate::parse("candidate:1 1 udp 2015364095 127.0.0.1 57705 typ host").unwrap(),
        );
        let mut i = Inbox::default();
        assert_eq!(i.admit(host.clone()), Admit::Held);
        assert_eq!(i.admit(host.clone()), Admit::Ignored, "a duplicate");
        assert!(matches!(i.admit(creds("aaaa")), Admit::Apply(_)));
        assert_eq!(i.take_held(), vec![host.clone()]);
        assert_eq!(i.admit(creds("aaaa")), Admit::Ignored);
        // ICE restart: new credentials, then the same host candidate again.
        assert!(matches!(i.admit(creds("bbbb")), Admit::Apply(_)));
        assert!(
            matches!(i.admit(host.clone()), Admit::Apply(_)),
            "re-sent after the restart"
        );
        assert_eq!(i.admit(host.clone()), Admit::Ignored);
        // A late duplicate of the old credentials changes nothing.
        assert_eq!(i.admit(creds("aaaa")), Admit::Ignored);
        assert_eq!(i.admit(host), Admit::Ignored);
        assert_eq!(i.ignored, 5);
    }

    #[test]
    fn the_held_queue_is_bounded() {
        let mut i = Inbox::default();
        for p in 0..(HELD_MAX as u16 + 10) {
            let c = Candidate::parse(&format!(
                "candidate:1 1 udp 2015364095 10.0.0.1 {} typ host",
                1000 + p
            ))
            .unwrap();
            i.admit(Signal::Candidate(c));
        }
        assert_eq!(i.take_held().len(), HELD_MAX);
        assert_eq!(i.ignored, 10);
    }
}
