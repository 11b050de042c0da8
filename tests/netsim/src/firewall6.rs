//! A stateful IPv6 firewall on a router: RFC 6092 "simple security". IPv6 is routed,
//! not translated, so a host's global address is the address its peers see; what keeps
//! unsolicited traffic out is this filter. An outbound packet creates (or refreshes) the
//! state of its flow; an inbound packet passes only if it belongs to a flow the inside
//! endpoint started, matched with the configured RFC 4787 filtering behaviour
//! (RFC 6092 REC-11 lets a filter choose endpoint-independent filtering for
//! transparency or something stricter), and only until the flow has been idle for
//! the timeout (RFC 6092 REC-14: at least two minutes for UDP; shorter ones are
//! configurable because mobile carriers use them).
//!
//! Like the NAT table ([`crate::Nat`]) this is pure data the simulator consults. A flow
//! is live while `now < last activity + timeout`, exactly: the same boundary as an
//! expiring NAT mapping.

use crate::nat::Behaviour;
use crate::packet::Proto;
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// How a stateful IPv6 firewall filters (RFC 6092 simple security).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Firewall6Config {
    /// Which inbound packets belong to an inside endpoint's flows (RFC 4787 words):
    /// endpoint-independent (anyone, once the endpoint sent anything), address-dependent
    /// (hosts it sent to), or address-and-port-dependent (exactly the addresses and ports
    /// it sent to).
    pub filtering: Behaviour,
    /// Idle time after which a UDP flow's state is gone.
    pub udp_timeout: Duration,
    /// Idle time after which a TCP flow's state is gone.
    pub tcp_timeout: Duration,
    /// Whether accepted inbound packets refresh the flow (RFC 6092 only requires
    /// outbound refresh; Linux conntrack refreshes on both).
    pub inbound_refresh: bool,
}

impl Firewall6Config {
    /// The strict default of home routers (Linux `ct state established,related`):
    /// address-and-port-dependent filtering, the two-minute UDP timer of RFC 6092
    /// REC-14, inbound refresh.
    pub fn address_and_port_dependent() -> Self {
        Firewall6Config {
            filtering: Behaviour::AddressAndPortDependent,
            udp_timeout: Duration::from_secs(120),
            tcp_timeout: Duration::from_secs(7200),
            inbound_refresh: true,
        }
    }

    /// The transparent choice of RFC 6092 REC-11: once an inside endpoint sent a
    /// packet, anyone may answer it until the flow idles out.
    pub fn endpoint_independent() -> Self {
        Firewall6Config {
            filtering: Behaviour::EndpointIndependent,
            ..Self::address_and_port_dependent()
        }
    }

    /// Address-dependent filtering: hosts the endpoint sent to, from any port.
    pub fn address_dependent() -> Self {
        Firewall6Config {
            filtering: Behaviour::AddressDependent,
            ..Self::address_and_port_dependent()
        }
    }

    /// The same filter with another UDP idle timeout.
    pub fn with_udp_timeout(mut self, timeout: Duration) -> Self {
        self.udp_timeout = timeout;
        self
    }

    fn timeout(&self, proto: Proto) -> Duration {
        match proto {
            Proto::Udp => self.udp_timeout,
            Proto::Tcp => self.tcp_timeout,
        }
    }
}

impl fmt::Display for Firewall6Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let filtering = match self.filtering {
            Behaviour::EndpointIndependent => "EIF",
            Behaviour::AddressDependent => "ADF",
            Behaviour::AddressAndPortDependent => "APDF",
        };
        write!(f, "stateful {filtering} {} s", self.udp_timeout.as_secs())
    }
}

/// Why the firewall dropped an inbound packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firewall6Drop {
    /// The inside endpoint has no live flow at all: nobody inside asked for it.
    Unsolicited,
    /// The inside endpoint has live flows, but none the filtering behaviour matches
    /// with this sender.
    Filtered,
}

/// Counters of a stateful IPv6 firewall.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Firewall6Stats {
    /// Flows whose state an outbound packet created (again, after expiry).
    pub flows_created: u64,
    /// Outbound packets that passed (every outbound packet does).
    pub passed_out: u64,
    /// Inbound packets that matched a live flow.
    pub passed_in: u64,
    /// Inbound packets to an endpoint with no live flow ([`Firewall6Drop::Unsolicited`]).
    pub dropped_unsolicited: u64,
    /// Inbound packets the filtering behaviour refused ([`Firewall6Drop::Filtered`]).
    pub dropped_filtered: u64,
}

/// The firewall's flow table and counters.
#[derive(Debug, Clone)]
pub struct Firewall6 {
    cfg: Firewall6Config,
    /// (protocol, inside endpoint, remote endpoint) → last activity (virtual time).
    flows: BTreeMap<(Proto, SocketAddr, SocketAddr), Duration>,
    /// Counters.
    pub stats: Firewall6Stats,
}

impl Firewall6 {
    /// An empty table.
    pub fn new(cfg: Firewall6Config) -> Self {
        Firewall6 {
            cfg,
            flows: BTreeMap::new(),
            stats: Firewall6Stats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Firewall6Config {
        &self.cfg
    }

    fn live(&self, proto: Proto, last: Duration, now: Duration) -> bool {
        now < last + self.cfg.timeout(proto)
    }

    /// An inside endpoint sends to `remote`: the flow's state is created or refreshed.
    pub fn outbound(
        &mut self,
        now: Duration,
        proto: Proto,
        inside: SocketAddr,
        remote: SocketAddr,
    ) {
        self.stats.passed_out += 1;
        let timeout = self.cfg.timeout(proto);
        let fresh = match self.flows.insert((proto, inside, remote), now) {
            Some(last) => now >= last + timeout,
            None => true,
        };
        if fresh {
            self.stats.flows_created += 1;
            // Forget flows that idled out, so the table stays the size of what is live.
            self.flows
                .retain(|&(p, _, _), last| now < *last + self.cfg.timeout(p));
        }
    }

    /// A packet from `remote` to the inside endpoint `inside`: passes if it belongs to a
    /// live flow under the filtering behaviour (and then refreshes the flows it matched,
    /// if configured).
    pub fn inbound(
        &mut self,
        now: Duration,
        proto: Proto,
        remote: SocketAddr,
        inside: SocketAddr,
    ) -> Result<(), Firewall6Drop> {
        let matches = |r: &SocketAddr| match self.cfg.filtering {
            Behaviour::EndpointIndependent => true,
            Behaviour::AddressDependent => r.ip() == remote.ip(),
            Behaviour::AddressAndPortDependent => *r == remote,
        };
        let mut any_live = false;
        let mut matched = Vec::new();
        let lowest = SocketAddr::from(([0, 0, 0, 0], 0));
        for (&(p, i, r), &last) in self.flows.range((proto, inside, lowest)..) {
            if p != proto || i != inside {
                break;
            }
            if self.live(proto, last, now) {
                any_live = true;
                if matches(&r) {
                    matched.push(r);
                }
            }
        }
        if matched.is_empty() {
            return Err(if any_live {
                self.stats.dropped_filtered += 1;
                Firewall6Drop::Filtered
            } else {
                self.stats.dropped_unsolicited += 1;
                Firewall6Drop::Unsolicited
            });
        }
        self.stats.passed_in += 1;
        if self.cfg.inbound_refresh {
            for r in matched {
                self.flows.insert((proto, inside, r), now);
            }
        }
        Ok(())
    }

    /// Live flows at `now`: (protocol, inside endpoint, remote endpoint).
    pub fn flows(
        &self,
        now: Duration,
    ) -> impl Iterator<Item = (Proto, SocketAddr, SocketAddr)> + '_ {
        self.flows
            .iter()
            .filter(move |(&(p, _, _), &last)| self.live(p, last, now))
            .map(|(&k, _)| k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    const IN: &str = "[2001:db8:1::2]:5000";
    const PEER: &str = "[2001:db8:2::2]:5000";
    const PEER_OTHER_PORT: &str = "[2001:db8:2::2]:6000";
    const OTHER: &str = "[2001:db8:3::2]:5000";
    const S: Duration = Duration::from_secs(1);

    fn fw(filtering: Behaviour) -> Firewall6 {
        Firewall6::new(Firewall6Config {
            filtering,
            ..Firewall6Config::address_and_port_dependent().with_udp_timeout(30 * S)
        })
    }

    #[test]
    fn nothing_gets_in_before_the_inside_endpoint_sends() {
        let mut f = fw(Behaviour::EndpointIndependent);
        let r = f.inbound(Duration::ZERO, Proto::Udp, sa(PEER), sa(IN));
        assert_eq!(r, Err(Firewall6Drop::Unsolicited));
        assert_eq!(f.stats.dropped_unsolicited, 1);
    }

    #[test]
    fn filtering_behaviours_decide_who_may_answer() {
        use Behaviour::*;
        // (behaviour, [same endpoint, same host other port, other host])
        let cases = [
            (EndpointIndependent, [true, true, true]),
            (AddressDependent, [true, true, false]),
            (AddressAndPortDependent, [true, false, false]),
        ];
        for (b, expect) in cases {
            let mut f = fw(b);
            f.outbound(Duration::ZERO, Proto::Udp, sa(IN), sa(PEER));
            for (from, want) in [PEER, PEER_OTHER_PORT, OTHER].into_iter().zip(expect) {
                let r = f.inbound(S, Proto::Udp, sa(from), sa(IN));
                assert_eq!(r.is_ok(), want, "{b}: from {from}: {r:?}");
                if !want {
                    assert_eq!(r, Err(Firewall6Drop::Filtered));
                }
            }
            // Another inside port has no state at all.
            let r = f.inbound(S, Proto::Udp, sa(PEER), sa("[2001:db8:1::2]:5001"));
            assert_eq!(r, Err(Firewall6Drop::Unsolicited));
            // Nor has TCP.
            let r = f.inbound(S, Proto::Tcp, sa(PEER), sa(IN));
            assert_eq!(r, Err(Firewall6Drop::Unsolicited));
        }
    }

    #[test]
    fn a_flow_expires_exactly_at_its_idle_timeout() {
        let mut f = fw(Behaviour::AddressAndPortDependent);
        f.outbound(Duration::ZERO, Proto::Udp, sa(IN), sa(PEER));
        let just_before = 30 * S - Duration::from_nanos(1);
        assert!(f.inbound(just_before, Proto::Udp, sa(PEER), sa(IN)).is_ok());
        // The accepted packet refreshed the flow (inbound refresh on).
        let t = just_before + 30 * S;
        assert_eq!(
            f.inbound(t, Proto::Udp, sa(PEER), sa(IN)),
            Err(Firewall6Drop::Unsolicited)
        );
        assert_eq!(f.flows(t).count(), 0);
    }

    #[test]
    fn without_inbound_refresh_only_outbound_packets_keep_a_flow() {
        let mut f = Firewall6::new(Firewall6Config {
            inbound_refresh: false,
            ..Firewall6Config::address_and_port_dependent().with_udp_timeout(30 * S)
        });
        f.outbound(Duration::ZERO, Proto::Udp, sa(IN), sa(PEER));
        assert!(f.inbound(20 * S, Proto::Udp, sa(PEER), sa(IN)).is_ok());
        assert!(f.inbound(30 * S, Proto::Udp, sa(PEER), sa(IN)).is_err());
        f.outbound(31 * S, Proto::Udp, sa(IN), sa(PEER));
        assert!(f.inbound(60 * S, Proto::Udp, sa(PEER), sa(IN)).is_ok());
        assert_eq!(f.stats.flows_created, 2);
        assert_eq!(f.stats.passed_in, 2);
    }
}
