//! Binding-lifetime discovery (RFC 5780 §4.6): how long does an idle UDP mapping live?
//!
//! Two local sockets, X and Y, behind the same NAT, one STUN server that supports
//! RESPONSE-PORT (RFC 5780 §7.5: the server answers to the request's *source IP* and the
//! port in RESPONSE-PORT, from the address the request arrived on). One trial with idle
//! time T:
//!
//! 1. X sends a Binding request to the server and learns its mapping `M = (ip, port)`;
//!    this also (re)starts the NAT's idle timer for X's binding.
//! 2. Nothing is sent from X for T. **The driver must not send anything else from X.**
//! 3. Y sends a Binding request with RESPONSE-PORT = `M.port` to the same server address.
//!    Y's mapping shares M's IP, so the server answers to `M`, from the address X talked
//!    to (so even address-and-port-dependent filtering lets it in).
//! 4. The answer arriving on X means X's binding survived T. Nothing arriving (Y's
//!    transaction times out), or the answer arriving on Y (the NAT reused X's old port
//!    for Y), means it expired.
//!
//! A first trial with T = 0 checks that the method works at all (server honours
//! RESPONSE-PORT, both sockets share the NAT's IP). Then T grows from `min` by doubling
//! (capped at `max`) until a binding expires, and the interval between the longest
//! survived and the shortest expired T is bisected down to `resolution`. Every trial
//! starts with a fresh step 1, so trials are independent.
//!
//! Driver loop: as for [`super::NatDiscovery`], with two sockets whose addresses the probe
//! is given: send each [`Transmit`] from the socket it names (`from`), and feed each
//! received datagram with the socket it arrived on to [`LifetimeProbe::handle_input`].

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};

use super::{binding_request, parse, RequestOptions};
use crate::deadline::after;
use crate::stun::transaction::{TransactionConfig, TransactionError, Transactions};
use crate::stun::{Class, Method, TransactionId};
use crate::Transmit;

/// Which of the two local sockets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Socket {
    /// The socket whose binding is measured.
    X,
    /// The socket that asks the server to answer to X's binding.
    Y,
}

/// Search bounds and retransmission behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LifetimeConfig {
    /// The STUN server (must support RESPONSE-PORT).
    pub server: SocketAddr,
    /// Shortest idle time tried; a binding dying sooner is reported as "< min".
    pub min: Duration,
    /// Longest idle time tried; a binding surviving it is reported as "≥ max".
    pub max: Duration,
    /// Stop bisecting when survived and expired bounds are this close.
    pub resolution: Duration,
    /// Retransmissions of each request; an unanswered probe costs this much extra.
    pub transaction: TransactionConfig,
}

impl LifetimeConfig {
    /// 5 s .. 300 s (RFC 4787 asks for ≥ 120 s, field NATs go as low as 10-30 s),
    /// resolution 5 s, [`TransactionConfig::gathering`].
    pub fn new(server: SocketAddr) -> Self {
        LifetimeConfig {
            server,
            min: Duration::from_secs(5),
            max: Duration::from_secs(300),
            resolution: Duration::from_secs(5),
            transaction: TransactionConfig::gathering(),
        }
    }
}

/// One trial: after `idle`, did X's binding still deliver?
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trial {
    /// How long X stayed silent before the probe.
    pub idle: Duration,
    /// Whether the answer reached X (the binding was still there).
    pub survived: bool,
}

/// The measured lifetime: it lies in `[survived, expired)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LifetimeReport {
    /// Longest idle time the binding survived; `None` if it did not survive `min`.
    pub survived: Option<Duration>,
    /// Shortest idle time after which it was gone; `None` if it survived `max`.
    pub expired: Option<Duration>,
    /// Every trial in order, the T = 0 check included.
    pub trials: Vec<Trial>,
}

impl LifetimeReport {
    /// A safe keepalive interval: the longest idle time known to be survived.
    pub fn safe_idle(&self) -> Option<Duration> {
        self.survived
    }
}

/// The probe could not measure anything.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LifetimeError {
    /// The search bounds or the sockets are unusable; the message says which.
    #[error("invalid lifetime probe config: {0}")]
    InvalidConfig(&'static str),
    /// The retransmission settings are invalid.
    #[error(transparent)]
    Transaction(#[from] TransactionError),
    /// Socket X's Binding request was never answered.
    #[error(
        "STUN server {server} did not answer socket X within {waited:?}: check the address \
         and that UDP to it is not blocked"
    )]
    NoResponse {
        /// The STUN server asked.
        server: SocketAddr,
        /// How long the client waited (the transaction timeout).
        waited: Duration,
    },
    /// The server refused or ignored RESPONSE-PORT.
    #[error(
        "STUN server {server} does not support RESPONSE-PORT (RFC 5780 §7.5), so binding \
         lifetime cannot be measured with it: use a server that does (e.g. `pinhole stun-server`)"
    )]
    ResponsePortUnsupported {
        /// The STUN server asked.
        server: SocketAddr,
    },
    /// The server answered with another error.
    #[error("STUN server {server} rejected the Binding request: {code} {reason}")]
    ServerError {
        /// The STUN server asked.
        server: SocketAddr,
        /// The STUN error code.
        code: u16,
        /// The server's reason phrase.
        reason: String,
    },
    /// The server answered without a mapped address.
    #[error("STUN server {server} answered without XOR-MAPPED-ADDRESS or MAPPED-ADDRESS")]
    NoMappedAddress {
        /// The STUN server asked.
        server: SocketAddr,
    },
    /// Even with no idle time the answer did not reach X.
    #[error(
        "the answer to RESPONSE-PORT {port} never reached socket X even with no idle time: \
         the NAT maps the two sockets to different public IPs, or drops it"
    )]
    ProbeNotDelivered {
        /// X's mapped port, which the probe asked the server to answer to.
        port: u16,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    /// X's Binding request at the start of a trial.
    Learn,
    /// Y's RESPONSE-PORT request at the end of it.
    Probe,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Learning,
    Idle { mapped: SocketAddr, until: Instant },
    Probing { mapped: SocketAddr },
    Done,
}

/// The sans-IO binding-lifetime probe. See the module docs.
#[derive(Debug)]
pub struct LifetimeProbe {
    config: LifetimeConfig,
    /// The addresses of sockets X and Y.
    sockets: [SocketAddr; 2],
    rng: SmallRng,
    table: Transactions<(Socket, Purpose)>,
    phase: Phase,
    /// Idle time of the current trial.
    idle: Duration,
    survived: Option<Duration>,
    expired: Option<Duration>,
    trials: Vec<Trial>,
    result: Option<Result<LifetimeReport, LifetimeError>>,
    dropped: u64,
    /// One trial of a given idle time, no search (see [`LifetimeProbe::single_trial`]).
    single: bool,
}

impl LifetimeProbe {
    /// Starts at `now` with the T = 0 check; X's first request is queued at once.
    ///
    /// `x` is the local address of the socket whose binding is measured, `y` that of
    /// the socket that asks the server to answer to X's binding (two sockets bound
    /// behind the same NAT, on the same interface); every [`Transmit`] names one of
    /// them as `from`.
    pub fn new<R: RngCore + ?Sized>(
        now: Instant,
        config: LifetimeConfig,
        x: SocketAddr,
        y: SocketAddr,
        rng: &mut R,
    ) -> Result<Self, LifetimeError> {
        if x == y {
            return Err(LifetimeError::InvalidConfig(
                "sockets X and Y must be two different sockets",
            ));
        }
        if config.min.is_zero() || config.min > config.max {
            return Err(LifetimeError::InvalidConfig("need 0 < min <= max"));
        }
        if config.resolution.is_zero() {
            return Err(LifetimeError::InvalidConfig("resolution must be > 0"));
        }
        config.transaction.validate()?;
        let mut p = LifetimeProbe {
            config,
            sockets: [x, y],
            rng: SmallRng::seed_from_u64(rng.next_u64()),
            table: Transactions::new(),
            phase: Phase::Learning,
            idle: Duration::ZERO,
            survived: None,
            expired: None,
            trials: Vec::new(),
            result: None,
            dropped: 0,
            single: false,
        };
        p.learn(now);
        Ok(p)
    }

    /// One trial with idle time `idle` on sockets `[x, y]` (as for [`LifetimeProbe::new`])
    /// and no search: the report then holds exactly one [`Trial`]. With `idle` zero it is the method check (the server honours
    /// RESPONSE-PORT and both sockets share the NAT's IP), failing as [`LifetimeProbe::new`]'s
    /// first trial does. A caller that runs its own search (the keepalive policy, which
    /// stretches its interval after every survived trial) drives one of these per step.
    pub fn single_trial<R: RngCore + ?Sized>(
        now: Instant,
        server: SocketAddr,
        [x, y]: [SocketAddr; 2],
        idle: Duration,
        transaction: TransactionConfig,
        rng: &mut R,
    ) -> Result<Self, LifetimeError> {
        if x == y {
            return Err(LifetimeError::InvalidConfig(
                "sockets X and Y must be two different sockets",
            ));
        }
        transaction.validate()?;
        let mut p = LifetimeProbe {
            sockets: [x, y],
            config: LifetimeConfig {
                server,
                min: idle,
                max: idle,
                resolution: Duration::from_secs(1),
                transaction,
            },
            rng: SmallRng::seed_from_u64(rng.next_u64()),
            table: Transactions::new(),
            phase: Phase::Learning,
            idle,
            survived: None,
            expired: None,
            trials: Vec::new(),
            result: None,
            dropped: 0,
            single: true,
        };
        p.learn(now);
        Ok(p)
    }

    /// A datagram arrived on the local socket `local` (X or Y) from `from`.
    /// `from` is informational (answers legitimately come from the server only); a
    /// datagram on any other socket is dropped and counted.
    pub fn handle_input(
        &mut self,
        now: Instant,
        local: SocketAddr,
        _from: SocketAddr,
        datagram: &[u8],
    ) {
        let socket = match local {
            l if l == self.sockets[0] => Socket::X,
            l if l == self.sockets[1] => Socket::Y,
            _ => {
                self.dropped += 1;
                return;
            }
        };
        let msg = match parse(datagram) {
            Some(m)
                if m.method == Method::BINDING
                    && matches!(m.class, Class::Success | Class::Error) =>
            {
                m
            }
            _ => {
                self.dropped += 1;
                return;
            }
        };
        let Some(done) = self.table.handle_response(now, &msg.id) else {
            self.dropped += 1;
            return;
        };
        let server = self.config.server;
        if let Some((code, reason)) = msg.error {
            let e = match (done.context.1, code) {
                (Purpose::Probe, 420) => LifetimeError::ResponsePortUnsupported { server },
                _ => LifetimeError::ServerError {
                    server,
                    code,
                    reason,
                },
            };
            return self.finish(Err(e));
        }
        match (done.context.1, self.phase) {
            (Purpose::Learn, Phase::Learning) if socket == Socket::X => {
                let Some(mapped) = msg.mapped else {
                    return self.finish(Err(LifetimeError::NoMappedAddress { server }));
                };
                self.phase = Phase::Idle {
                    mapped,
                    until: after(now, self.idle),
                };
                self.handle_timeout(now);
            }
            (Purpose::Probe, Phase::Probing { .. }) => {
                if self.idle.is_zero() && socket == Socket::Y {
                    // The server answered to Y itself: it ignored RESPONSE-PORT.
                    return self.finish(Err(LifetimeError::ResponsePortUnsupported { server }));
                }
                self.end_trial(now, socket == Socket::X);
            }
            _ => self.dropped += 1,
        }
    }

    /// Time has passed: retransmit, start the probe after the idle time, or conclude that
    /// an unanswered probe means the binding expired.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.table.handle_timeout(now);
        while let Some(t) = self.table.poll_timed_out() {
            match t.context.1 {
                Purpose::Learn => {
                    let waited = self.config.transaction.total_timeout();
                    let server = self.config.server;
                    return self.finish(Err(LifetimeError::NoResponse { server, waited }));
                }
                Purpose::Probe => {
                    if let Phase::Probing { mapped } = self.phase {
                        if self.idle.is_zero() {
                            let port = mapped.port();
                            return self.finish(Err(LifetimeError::ProbeNotDelivered { port }));
                        }
                        self.end_trial(now, false);
                    }
                }
            }
        }
        if let Phase::Idle { mapped, until } = self.phase {
            if now >= until {
                self.phase = Phase::Probing { mapped };
                let opts = RequestOptions {
                    response_port: Some(mapped.port()),
                    ..Default::default()
                };
                self.send(now, Socket::Y, Purpose::Probe, opts);
            }
        }
    }

    /// The next datagram to send, from X or Y.
    #[must_use = "a polled datagram is gone from the queue: send it"]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let t = self.table.poll_transmit()?;
        let socket = self.table.context(&t.id).map_or(Socket::X, |c| c.0);
        Some(Transmit {
            from: match socket {
                Socket::X => self.sockets[0],
                Socket::Y => self.sockets[1],
            },
            to: t.to,
            bytes: t.bytes,
        })
    }

    /// When to call [`LifetimeProbe::handle_timeout`]; `None` once done.
    #[must_use = "the deadline says when to call handle_timeout next"]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let idle = match self.phase {
            Phase::Idle { until, .. } => Some(until),
            _ => None,
        };
        [self.table.poll_timeout(), idle]
            .into_iter()
            .flatten()
            .min()
    }

    /// True once the report (or the error) is ready.
    pub fn is_done(&self) -> bool {
        self.result.is_some()
    }

    /// The outcome, once done.
    pub fn result(&self) -> Option<&Result<LifetimeReport, LifetimeError>> {
        self.result.as_ref()
    }

    /// Trials so far (for progress output).
    pub fn trials(&self) -> &[Trial] {
        &self.trials
    }

    /// Idle time of the trial in progress.
    pub fn current_idle(&self) -> Duration {
        self.idle
    }

    /// Datagrams that were not an expected answer.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    fn learn(&mut self, now: Instant) {
        self.phase = Phase::Learning;
        self.send(now, Socket::X, Purpose::Learn, RequestOptions::default());
    }

    fn send(&mut self, now: Instant, socket: Socket, purpose: Purpose, opts: RequestOptions) {
        let id = TransactionId::random(&mut self.rng);
        let request = binding_request(id, opts);
        let (server, config) = (self.config.server, self.config.transaction);
        if let Err(e) = self
            .table
            .start(now, id, server, request, config, (socket, purpose))
        {
            self.finish(Err(e.into()));
        }
    }

    fn end_trial(&mut self, now: Instant, survived: bool) {
        let idle = self.idle;
        self.trials.push(Trial { idle, survived });
        if !idle.is_zero() {
            if survived {
                self.survived = Some(self.survived.map_or(idle, |s| s.max(idle)));
            } else {
                self.expired = Some(self.expired.map_or(idle, |e| e.min(idle)));
            }
        }
        match self.next_idle().filter(|_| !self.single) {
            Some(next) => {
                self.idle = next;
                self.learn(now);
            }
            None => {
                let report = LifetimeReport {
                    survived: self.survived,
                    expired: self.expired,
                    trials: self.trials.clone(),
                };
                self.finish(Ok(report));
            }
        }
    }

    /// Doubling from `min` until something expires, then bisection; `None` when settled.
    fn next_idle(&self) -> Option<Duration> {
        let LifetimeConfig {
            min,
            max,
            resolution,
            ..
        } = self.config;
        match (self.survived, self.expired) {
            (None, None) => Some(min),
            (None, Some(_)) => None, // expired at min: "< min"
            (Some(s), None) if s >= max => None,
            (Some(s), None) => Some(s.saturating_mul(2).min(max)),
            (Some(s), Some(e)) if e.saturating_sub(s) <= resolution => None,
            (Some(s), Some(e)) => Some(s + (e - s) / 2),
        }
    }

    fn finish(&mut self, result: Result<LifetimeReport, LifetimeError>) {
        self.phase = Phase::Done;
        self.result = Some(result);
        // Abandon whatever is still in flight (late answers are then dropped).
        self.table = Transactions::new();
    }
}
