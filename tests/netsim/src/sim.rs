//! The simulator: the event queue, the virtual clock and the run API.

use crate::clock::Clock;
use crate::endpoint::{ConnId, HostId};
use crate::net::{Gateway, GatewayId, Host, Link, LinkId, Network, NetworkId, TcpConn};
use crate::packet::Packet;
use crate::trace::Trace;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};
use std::time::{Duration, Instant};

/// Something scheduled at a virtual time.
pub(crate) enum Event {
    /// A packet reaches a network after crossing a link upwards.
    AtNetwork {
        net: NetworkId,
        pkt: Packet,
    },
    /// A packet reaches the node end of a link.
    AtNode {
        link: LinkId,
        pkt: Packet,
    },
    /// A scheduled change (interface down, NAT reboot...), or anything a test wants.
    Action(Box<dyn FnOnce(&mut Sim)>),
    TcpConnectTimeout(ConnId),
}

struct Scheduled {
    at: Duration,
    seq: u64,
    ev: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Scheduled {
    // Reversed: BinaryHeap is a max-heap, we want the earliest (then first scheduled).
    fn cmp(&self, o: &Self) -> Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

/// What runs next; at equal times NAT sweeps go first, then queued events in
/// the order they were scheduled, then endpoint timers in host order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Next {
    Sweep(usize),
    Queue,
    Timer(usize, usize),
}

/// A deterministic simulated Internet.
pub struct Sim {
    pub(crate) clock: Clock,
    pub(crate) rng: StdRng,
    pub(crate) networks: Vec<Network>,
    pub(crate) links: Vec<Link>,
    pub(crate) hosts: Vec<Host>,
    pub(crate) gateways: Vec<Gateway>,
    /// The IPv6 side of boxes that route it for dual-stack hosts ([`crate::dual_stack`]).
    pub(crate) routers6: BTreeMap<GatewayId, crate::dual_stack::Router6>,
    pub(crate) conns: BTreeMap<ConnId, TcpConn>,
    queue: BinaryHeap<Scheduled>,
    seq: u64,
    pub(crate) next_packet_id: u64,
    pub(crate) next_conn: u64,
    pub(crate) trace: Trace,
    /// How long a TCP connect waits for SYN-ACK before `ConnectFailed` (default 5 s).
    pub tcp_connect_timeout: Duration,
    steps: u64,
}

/// Panics if this many steps happen without virtual time moving (a busy endpoint).
const MAX_STEPS_AT_ONE_INSTANT: u64 = 1_000_000;

impl Sim {
    /// An empty simulation whose randomness all comes from `seed`.
    pub fn new(seed: u64) -> Self {
        Self::with_base(seed, Instant::now())
    }

    /// As `new`, with virtual time zero at `base`.
    pub fn with_base(seed: u64, base: Instant) -> Self {
        Sim {
            clock: Clock::new(base),
            rng: StdRng::seed_from_u64(seed),
            networks: Vec::new(),
            links: Vec::new(),
            hosts: Vec::new(),
            gateways: Vec::new(),
            routers6: BTreeMap::new(),
            conns: BTreeMap::new(),
            queue: BinaryHeap::new(),
            seq: 0,
            next_packet_id: 1,
            next_conn: 1,
            trace: Trace::default(),
            tcp_connect_timeout: Duration::from_secs(5),
            steps: 0,
        }
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Virtual time zero.
    pub fn base(&self) -> Instant {
        self.clock.base()
    }

    /// Virtual time since zero.
    pub fn elapsed(&self) -> Duration {
        self.clock.elapsed()
    }

    /// Steps processed so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// A new RNG seeded from the simulation's RNG, for endpoints that need randomness.
    pub fn fork_rng(&mut self) -> StdRng {
        StdRng::seed_from_u64(self.rng.next_u64())
    }

    pub(crate) fn schedule_event(&mut self, at: Duration, ev: Event) {
        self.seq += 1;
        self.queue.push(Scheduled {
            at: at.max(self.clock.elapsed()),
            seq: self.seq,
            ev,
        });
    }

    /// Runs `f` at virtual time `at` (or now, if `at` has passed).
    pub fn schedule(&mut self, at: Instant, f: impl FnOnce(&mut Sim) + 'static) {
        let at = self.clock.offset_of(at);
        self.schedule_event(at, Event::Action(Box::new(f)));
    }

    /// Runs `f` after `d` of virtual time.
    pub fn schedule_in(&mut self, d: Duration, f: impl FnOnce(&mut Sim) + 'static) {
        let at = self.clock.elapsed() + d;
        self.schedule_event(at, Event::Action(Box::new(f)));
    }

    /// Sends whatever every endpoint has queued (API calls made between steps).
    pub fn flush(&mut self) {
        for h in 0..self.hosts.len() {
            for s in 0..self.hosts[h].slots.len() {
                self.drain(HostId(h), s);
            }
        }
    }

    fn next(&mut self) -> Option<(Duration, Next)> {
        let now = self.clock.elapsed();
        let mut best: Option<(Duration, Next)> = None;
        let mut consider = |t: Duration, n: Next| {
            let c = (t.max(now), n);
            if best.is_none_or_greater(&c) {
                best = Some(c);
            }
        };
        for (i, g) in self.gateways.iter().enumerate() {
            if let Some(t) = g.nat.next_expiry() {
                consider(t, Next::Sweep(i));
            }
        }
        if let Some(s) = self.queue.peek() {
            consider(s.at, Next::Queue);
        }
        let base = self.clock.base();
        for (h, host) in self.hosts.iter_mut().enumerate() {
            for (s, slot) in host.slots.iter_mut().enumerate() {
                if let Some(t) = slot.ep.poll_timeout() {
                    consider(t.saturating_duration_since(base), Next::Timer(h, s));
                }
            }
        }
        best
    }

    /// The virtual time of the next thing to happen, if anything is pending.
    pub fn next_event_time(&mut self) -> Option<Instant> {
        self.flush();
        let base = self.clock.base();
        self.next().map(|(t, _)| base + t)
    }

    /// Processes the next single thing (a packet hop, a timer, a sweep, an
    /// action), advancing the clock to it. Returns false when nothing is pending.
    pub fn step(&mut self) -> bool {
        self.flush();
        let Some((t, what)) = self.next() else {
            return false;
        };
        self.steps += 1;
        self.clock.advance_to(t);
        match what {
            Next::Sweep(g) => {
                let now = self.clock.elapsed();
                self.gateways[g].nat.sweep(now);
                self.emit_nat_notes(g);
            }
            Next::Queue => {
                let s = self.queue.pop().expect("peeked");
                self.handle_event(s.ev);
            }
            Next::Timer(h, s) => {
                let now = self.clock.now();
                self.hosts[h].slots[s].ep.handle_timeout(now);
                self.drain(HostId(h), s);
            }
        }
        true
    }

    fn handle_event(&mut self, ev: Event) {
        match ev {
            Event::AtNetwork { net, pkt } => self.route(net, pkt),
            Event::AtNode { link, pkt } => self.at_node(link, pkt),
            Event::Action(f) => f(self),
            Event::TcpConnectTimeout(c) => self.tcp_connect_timeout(c),
        }
    }

    /// Runs every event up to and including virtual time `t`, then sets the clock to `t`.
    pub fn run_until(&mut self, t: Instant) {
        let target = self.clock.offset_of(t);
        let mut same = 0u64;
        loop {
            self.flush();
            match self.next() {
                Some((at, _)) if at <= target => {
                    same = if at == self.clock.elapsed() {
                        same + 1
                    } else {
                        0
                    };
                    assert!(
                        same < MAX_STEPS_AT_ONE_INSTANT,
                        "netsim: virtual time stuck at {:?} (an endpoint keeps asking for a timeout in the past?)",
                        at
                    );
                    self.step();
                }
                _ => break,
            }
        }
        self.clock.advance_to(target);
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let t = self.now() + d;
        self.run_until(t);
    }

    /// Steps until `pred` holds (checked before each step) or `deadline` passes.
    /// Returns whether `pred` held; on timeout the clock is left at `deadline`.
    pub fn run_until_predicate(
        &mut self,
        deadline: Instant,
        mut pred: impl FnMut(&mut Sim) -> bool,
    ) -> bool {
        let target = self.clock.offset_of(deadline);
        loop {
            if pred(self) {
                return true;
            }
            self.flush();
            match self.next() {
                Some((at, _)) if at <= target => {
                    self.step();
                }
                _ => {
                    self.clock.advance_to(target);
                    return pred(self);
                }
            }
        }
    }
}

trait BestExt {
    fn is_none_or_greater(&self, c: &(Duration, Next)) -> bool;
}

impl BestExt for Option<(Duration, Next)> {
    fn is_none_or_greater(&self, c: &(Duration, Next)) -> bool {
        match self {
            None => true,
            Some(b) => c < b,
        }
    }
}
