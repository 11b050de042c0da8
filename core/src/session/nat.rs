//! What the session learns about its own NAT and tells the peer, and the extra sockets
//! of a hard-NAT punch (see [`crate::ice::PunchConfig`]).
//!
//! - **Discovery**: once started, the session runs RFC 5780 behaviour discovery
//!   ([`NatDiscovery`]) on its first IPv4 socket against its first IPv4 STUN server, beside
//!   ICE gathering (its requests and answers share the socket; answers are told apart by
//!   transaction ID). Transactions are short ([`DISCOVERY_TRANSACTION`]: an unanswered
//!   filtering test is a verdict after 0.8 s), and hairpinning is not tested. The result —
//!   mapping, filtering, and for a symmetric NAT whether ports are allocated sequentially
//!   (from the mapped ports of the mapping tests) — goes to the agent and to the peer as a
//!   [`Signal::Nat`](super::Signal::Nat) message. A server without OTHER-ADDRESS (no RFC
//!   5780) gives "unknown", and no punch is tried. A new socket set (network change) runs
//!   it again.
//! - **Punch sockets**: the agent's hard side asks for N sockets on one IP; the session
//!   asks the pump for N binds on that IP with port 0 ([`SocketRequest::Bind`]) and tells
//!   the agent each one bound. An answer on an IP with such a bind outstanding (and no
//!   ordinary bind outstanding there) is a punch socket; the binds are asked only while
//!   no ordinary bind and none of the keepalive probe's spare binds is outstanding on
//!   that IP, so answers cannot be mistaken. Sockets the agent hands back are closed
//!   ([`SocketRequest::Close`]).

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;

use super::events::SocketRequest;
use crate::ice::{NatBehaviour, PortAllocation};
use crate::nat::{DiscoveryConfig, Mapping, NatDiscovery};
use crate::stun::transaction::TransactionConfig;
use crate::Transmit;

/// Discovery's transactions: RTO 200 ms, three transmissions, given up at 0.8 s. Shorter
/// than gathering's: an unanswered filtering test is the expected verdict on a filtering
/// NAT, and the mapping tests wait for it.
pub(super) const DISCOVERY_TRANSACTION: TransactionConfig = TransactionConfig {
    rto: Duration::from_millis(200),
    max_rto: None,
    max_transmissions: 3,
    final_wait_factor: 1,
};

struct Running {
    socket: SocketAddr,
    discovery: NatDiscovery,
    /// Transaction IDs of the requests sent (STUN header bytes 8..20).
    ids: Vec<[u8; 12]>,
}

/// Our NAT behaviour: discovery and its result.
pub(super) struct NatWatch {
    enabled: bool,
    running: Option<Running>,
    /// The socket the last result is about.
    done_on: Option<SocketAddr>,
    result: Option<NatBehaviour>,
    /// A new result the session has not taken yet.
    fresh: bool,
    rng: SmallRng,
}

impl NatWatch {
    pub(super) fn new(enabled: bool, rng: SmallRng) -> Self {
        NatWatch {
            enabled,
            running: None,
            done_on: None,
            result: None,
            fresh: false,
            rng,
        }
    }

    /// Runs discovery on `socket` against `server`, unless it ran (or runs) there already.
    pub(super) fn start(&mut self, now: Instant, socket: SocketAddr, server: SocketAddr) {
        if !self.enabled
            || self.running.is_some()
            || self.done_on == Some(socket)
            || !socket.is_ipv4()
            || !server.is_ipv4()
        {
            return;
        }
        let mut config = DiscoveryConfig::new(server, socket);
        config.transaction = DISCOVERY_TRANSACTION;
        config.hairpinning = false;
        match NatDiscovery::new(now, config, &mut self.rng) {
            Ok(discovery) => {
                log::debug!("session: NAT discovery on {socket} against {server}");
                self.running = Some(Running {
                    socket,
                    discovery,
                    ids: Vec::new(),
                });
            }
            Err(e) => log::debug!("session: NAT discovery cannot start: {e}"),
        }
    }

    /// The socket discovery runs on (or ran on) went away.
    pub(super) fn socket_gone(&mut self, socket: SocketAddr) {
        if self.running.as_ref().is_some_and(|r| r.socket == socket) {
            self.running = None;
        }
        if self.done_on == Some(socket) {
            self.done_on = None;
        }
    }

    /// Whether a discovery socket exists (running or done) among `sockets`.
    pub(super) fn covers(&self, sockets: &[SocketAddr]) -> bool {
        self.running
            .as_ref()
            .map(|r| r.socket)
            .or(self.done_on)
            .is_some_and(|s| sockets.contains(&s))
    }

    /// A datagram on `local`: an answer to one of discovery's requests?
    pub(super) fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        from: SocketAddr,
        data: &[u8],
    ) -> bool {
        let Some(r) = self.running.as_mut().filter(|r| r.socket == local) else {
            return false;
        };
        // A STUN response (first two bits 0, class bit set) carrying one of our IDs.
        let ours = data.len() >= 20
            && data[0] & 0xc0 == 0
            && data[0] & 0x01 != 0
            && r.ids.iter().any(|id| id[..] == data[8..20]);
        if !ours {
            return false;
        }
        r.discovery.handle_input(now, from, data);
        self.settle();
        true
    }

    pub(super) fn handle_timeout(&mut self, now: Instant) {
        if let Some(r) = self.running.as_mut() {
            if r.discovery.poll_timeout().is_some_and(|t| t <= now) {
                r.discovery.handle_timeout(now);
            }
        }
        self.settle();
    }

    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.running.as_ref()?.discovery.poll_timeout()
    }

    pub(super) fn poll_transmit(&mut self) -> Option<Transmit> {
        let r = self.running.as_mut()?;
        let t = r.discovery.poll_transmit()?;
        if let Some(id) = t
            .bytes
            .get(8..20)
            .and_then(|b| <[u8; 12]>::try_from(b).ok())
        {
            if !r.ids.contains(&id) {
                r.ids.push(id);
            }
        }
        Some(t)
    }

    fn settle(&mut self) {
        let Some(r) = self.running.as_ref() else {
            return;
        };
        let Some(result) = r.discovery.result() else {
            return;
        };
        let behaviour = match result {
            Ok(report) => {
                let hard = matches!(
                    report.mapping,
                    Mapping::AddressDependent | Mapping::AddressAndPortDependent
                );
                let ports: Vec<u16> = r
                    .discovery
                    .mapped_samples()
                    .iter()
                    .map(|a| a.port())
                    .collect();
                NatBehaviour {
                    mapping: report.mapping,
                    filtering: report.filtering,
                    allocation: if hard {
                        PortAllocation::from_samples(&ports)
                    } else {
                        PortAllocation::Unknown
                    },
                }
            }
            Err(e) => {
                log::debug!("session: NAT discovery: {e}");
                NatBehaviour::UNKNOWN
            }
        };
        log::debug!("session: NAT behaviour {behaviour:?}");
        self.done_on = Some(r.socket);
        self.running = None;
        self.result = Some(behaviour);
        self.fresh = true;
    }

    /// A result the session has not acted on yet.
    pub(super) fn take_fresh(&mut self) -> Option<NatBehaviour> {
        std::mem::take(&mut self.fresh).then_some(self.result?)
    }

    /// The last result.
    pub(super) fn result(&self) -> Option<NatBehaviour> {
        self.result
    }
}

/// The sockets of a hard-NAT punch, between the agent and the pump.
#[derive(Default)]
pub(super) struct PunchSockets {
    /// Binds wanted and not asked yet: (IP, how many).
    wanted: Vec<(IpAddr, usize)>,
    /// Binds asked for and not answered, per IP.
    pending: Vec<IpAddr>,
    bound: Vec<SocketAddr>,
    out: VecDeque<SocketRequest>,
}

impl PunchSockets {
    /// `n` sockets on `ip`, asked for by [`PunchSockets::ask`].
    pub(super) fn want(&mut self, ip: IpAddr, n: usize) {
        self.wanted.push((ip, n));
    }

    /// Asks the pump for the wanted binds on the IPs where `free(ip)` says no other bind
    /// is outstanding.
    pub(super) fn ask(&mut self, free: impl Fn(IpAddr) -> bool) {
        let mut i = 0;
        while i < self.wanted.len() {
            let (ip, n) = self.wanted[i];
            if !free(ip) {
                i += 1;
                continue;
            }
            self.wanted.remove(i);
            for _ in 0..n {
                self.pending.push(ip);
                self.out.push_back(SocketRequest::Bind { ip, port: 0 });
            }
        }
    }

    /// A bind on `ip` is outstanding.
    pub(super) fn expects(&self, ip: IpAddr) -> bool {
        self.pending.contains(&ip)
    }

    /// Our bind on `addr.ip()` was answered.
    pub(super) fn bound(&mut self, addr: SocketAddr) {
        if let Some(i) = self.pending.iter().position(|ip| *ip == addr.ip()) {
            self.pending.remove(i);
        }
        self.bound.push(addr);
    }

    /// Our bind on `ip` failed.
    pub(super) fn failed(&mut self, ip: IpAddr) {
        if let Some(i) = self.pending.iter().position(|p| *p == ip) {
            self.pending.remove(i);
        }
    }

    /// Close `addr` (the agent handed it back).
    pub(super) fn release(&mut self, addr: SocketAddr) {
        if let Some(i) = self.bound.iter().position(|a| *a == addr) {
            self.bound.remove(i);
            self.out.push_back(SocketRequest::Close { addr });
        }
    }

    /// The pump closed it.
    pub(super) fn closed(&mut self, addr: SocketAddr) -> bool {
        let known = self.bound.contains(&addr);
        self.bound.retain(|a| *a != addr);
        known
    }

    /// Sockets bound now.
    pub(super) fn count(&self) -> usize {
        self.bound.len()
    }

    pub(super) fn poll(&mut self) -> Option<SocketRequest> {
        self.out.pop_front()
    }
}
