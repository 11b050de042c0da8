//! Server names the pump must resolve before the session gathers.
//!
//! STUN and TURN servers may be given as names. The session asks the pump to resolve
//! each one (literal addresses need no lookup), waits for every answer or
//! [`SessionConfig::dns_timeout`](super::SessionConfig::dns_timeout), and only then hands
//! its sockets to the ICE agent, so every socket gathers from every server. A name that
//! does not resolve is left out (a TURN server's failure is reported like any relay
//! failure).

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use super::events::ResolveRequest;

/// What a name is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Purpose {
    /// `stun_servers[i]`.
    Stun(usize),
    /// The i-th TURN server of the validated configuration.
    Turn(usize),
}

struct Lookup {
    id: u64,
    purpose: Purpose,
    /// `None` while outstanding.
    result: Option<Result<Vec<SocketAddr>, String>>,
}

/// Lookups for one session start.
pub(super) struct Resolver {
    lookups: Vec<Lookup>,
    out: VecDeque<ResolveRequest>,
    deadline: Option<Instant>,
}

impl Resolver {
    /// Starts a lookup for each `(purpose, host, port)` that is not a literal address.
    pub(super) fn new(
        now: Instant,
        timeout: std::time::Duration,
        names: Vec<(Purpose, String, u16)>,
    ) -> Self {
        let mut r = Resolver {
            lookups: Vec::new(),
            out: VecDeque::new(),
            deadline: None,
        };
        for (i, (purpose, host, port)) in names.into_iter().enumerate() {
            let id = i as u64;
            let result = match host.parse::<IpAddr>() {
                Ok(ip) => Some(Ok(vec![SocketAddr::new(ip, port)])),
                Err(_) => {
                    r.out.push_back(ResolveRequest { id, host, port });
                    r.deadline = Some(crate::deadline::after(now, timeout));
                    None
                }
            };
            r.lookups.push(Lookup {
                id,
                purpose,
                result,
            });
        }
        r
    }

    /// The next request for the pump.
    pub(super) fn poll(&mut self) -> Option<ResolveRequest> {
        self.out.pop_front()
    }

    /// The pump's answer. Unknown or repeated ids are ignored.
    pub(super) fn answer(&mut self, id: u64, result: Result<Vec<SocketAddr>, String>) {
        if let Some(l) = self
            .lookups
            .iter_mut()
            .find(|l| l.id == id && l.result.is_none())
        {
            l.result = Some(match result {
                Ok(a) if a.is_empty() => Err("DNS returned no addresses".into()),
                r => r,
            });
        }
    }

    /// Gives up on what is still outstanding at the deadline.
    pub(super) fn handle_timeout(&mut self, now: Instant) {
        if self.deadline.is_some_and(|d| now >= d) {
            for l in self.lookups.iter_mut().filter(|l| l.result.is_none()) {
                l.result = Some(Err(
                    "DNS did not answer in time (SessionConfig::dns_timeout)".into(),
                ));
            }
            self.deadline = None;
        }
    }

    /// When the outstanding lookups are given up.
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        if self.done() {
            None
        } else {
            self.deadline
        }
    }

    /// Every lookup answered (or given up).
    pub(super) fn done(&self) -> bool {
        self.lookups.iter().all(|l| l.result.is_some())
    }

    /// Each lookup's purpose and outcome: at most one address per family, IPv4 first.
    pub(super) fn results(
        &self,
    ) -> impl Iterator<Item = (Purpose, Result<Vec<SocketAddr>, String>)> + '_ {
        self.lookups.iter().map(|l| {
            let r = match l
                .result
                .clone()
                .unwrap_or_else(|| Err("not resolved".into()))
            {
                Ok(addrs) => {
                    let v4 = addrs.iter().find(|a| a.is_ipv4()).copied();
                    let v6 = addrs.iter().find(|a| a.is_ipv6()).copied();
                    Ok(v4.into_iter().chain(v6).collect())
                }
                Err(e) => Err(e),
            };
            (l.purpose, r)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn literals_need_no_lookup_and_names_wait_for_the_pump() {
        let now = Instant::now();
        let mut r = Resolver::new(
            now,
            Duration::from_secs(5),
            vec![
                (Purpose::Stun(0), "192.0.2.1".into(), 3478),
                (Purpose::Turn(0), "turn.example.org".into(), 3478),
            ],
        );
        assert!(!r.done());
        let q = r.poll().unwrap();
        assert_eq!((q.host.as_str(), q.port), ("turn.example.org", 3478));
        assert!(r.poll().is_none());
        r.answer(
            q.id,
            Ok(vec![
                "[2001:db8::1]:3478".parse().unwrap(),
                "198.51.100.1:3478".parse().unwrap(),
                "198.51.100.2:3478".parse().unwrap(),
            ]),
        );
        assert!(r.done());
        let res: Vec<_> = r.results().collect();
        assert_eq!(
            res[1].1.as_ref().unwrap(),
            &vec![
                "198.51.100.1:3478".parse::<SocketAddr>().unwrap(),
                "[2001:db8::1]:3478".parse().unwrap()
            ]
        );
    }

    #[test]
    fn a_silent_resolver_is_given_up_at_the_deadline() {
        let now = Instant::now();
        let mut r = Resolver::new(
            now,
            Duration::from_secs(5),
            vec![(Purpose::Stun(0), "stun.example.org".into(), 3478)],
        );
        assert_eq!(r.poll_timeout(), Some(now + Duration::from_secs(5)));
        r.handle_timeout(now + Duration::from_millis(4999));
        assert!(!r.done());
        r.handle_timeout(now + Duration::from_secs(5));
        assert!(r.done());
        assert!(r
            .results()
            .next()
            .unwrap()
            .1
            .unwrap_err()
            .contains("dns_timeout"));
        assert_eq!(r.poll_timeout(), None);
    }
}
