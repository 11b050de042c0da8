//! Links: one-way latency, jitter, loss, reordering, duplication and MTU.
//!
//! A link joins a node (host interface or NAT WAN side) to a network. Each
//! direction has its own [`LinkConfig`], so links can be asymmetric. UDP packets
//! are subject to every impairment; simulated TCP segments only to latency and
//! jitter (TCP is modelled as reliable and ordered).

use rand::Rng;
use std::time::Duration;

/// Impairments of one direction of a link.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkConfig {
    /// Fixed one-way delay.
    pub latency: Duration,
    /// Extra delay drawn uniformly from `[0, jitter]`. Packets stay in order
    /// unless `reorder` says otherwise.
    pub jitter: Duration,
    /// Probability (0..=1) that a UDP packet is lost.
    pub loss: f64,
    /// Probability that a UDP packet is delivered twice.
    pub duplicate: f64,
    /// Probability that a UDP packet is held back by `reorder_delay`, letting
    /// later packets overtake it.
    pub reorder: f64,
    /// Extra delay of a reordered packet.
    pub reorder_delay: Duration,
    /// Largest IP packet (header included) the link carries; larger UDP packets are dropped.
    pub mtu: usize,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(5),
            mtu: 1500,
        }
    }
}

impl LinkConfig {
    /// A perfect link with this one-way latency.
    pub fn latency(latency: Duration) -> Self {
        LinkConfig {
            latency,
            ..Default::default()
        }
    }
    pub fn with_jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }
    pub fn with_loss(mut self, p: f64) -> Self {
        self.loss = p;
        self
    }
    pub fn with_duplicate(mut self, p: f64) -> Self {
        self.duplicate = p;
        self
    }
    pub fn with_reorder(mut self, p: f64, delay: Duration) -> Self {
        self.reorder = p;
        self.reorder_delay = delay;
        self
    }
    pub fn with_mtu(mut self, mtu: usize) -> Self {
        self.mtu = mtu;
        self
    }
}

/// Both directions of a link. `up` is node → network, `down` is network → node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinkSpec {
    pub up: LinkConfig,
    pub down: LinkConfig,
}

impl LinkSpec {
    /// The same impairments both ways.
    pub fn symmetric(cfg: LinkConfig) -> Self {
        LinkSpec {
            up: cfg.clone(),
            down: cfg,
        }
    }
    /// Different impairments each way.
    pub fn asymmetric(up: LinkConfig, down: LinkConfig) -> Self {
        LinkSpec { up, down }
    }
    /// A perfect link with this one-way latency both ways.
    pub fn latency(d: Duration) -> Self {
        Self::symmetric(LinkConfig::latency(d))
    }
}

/// Counters of one direction of a link.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Packets offered to the link.
    pub sent: u64,
    /// Packets scheduled for delivery (duplicates included).
    pub delivered: u64,
    pub dropped_loss: u64,
    pub dropped_mtu: u64,
    pub dropped_down: u64,
    pub duplicated: u64,
    pub reordered: u64,
}

/// Why a link dropped a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkDrop {
    Loss,
    Mtu,
}

/// What a link does with one packet: when it (and maybe a duplicate) arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    pub at: Duration,
    pub duplicate_at: Option<Duration>,
    pub reordered: bool,
}

/// One direction of a link, with its FIFO state and counters.
#[derive(Debug, Clone)]
pub struct LinkDir {
    pub cfg: LinkConfig,
    pub stats: LinkStats,
    last_arrival: Duration,
}

impl LinkDir {
    pub fn new(cfg: LinkConfig) -> Self {
        LinkDir {
            cfg,
            stats: LinkStats::default(),
            last_arrival: Duration::ZERO,
        }
    }

    /// Decides the fate of a packet of `ip_len` bytes offered at `now`.
    /// `reliable` packets (simulated TCP) skip loss, duplication, reordering and MTU.
    /// Randomness is drawn only for impairments that are configured.
    pub fn offer<R: Rng>(
        &mut self,
        now: Duration,
        ip_len: usize,
        reliable: bool,
        rng: &mut R,
    ) -> Result<Arrival, LinkDrop> {
        self.stats.sent += 1;
        if !reliable && ip_len > self.cfg.mtu {
            self.stats.dropped_mtu += 1;
            return Err(LinkDrop::Mtu);
        }
        if !reliable && self.cfg.loss > 0.0 && rng.gen_bool(self.cfg.loss.min(1.0)) {
            self.stats.dropped_loss += 1;
            return Err(LinkDrop::Loss);
        }
        let mut delay = self.cfg.latency;
        if !self.cfg.jitter.is_zero() {
            let j = rng.gen_range(0..=self.cfg.jitter.as_nanos() as u64);
            delay += Duration::from_nanos(j);
        }
        let reordered =
            !reliable && self.cfg.reorder > 0.0 && rng.gen_bool(self.cfg.reorder.min(1.0));
        let mut at = now + delay;
        if reordered {
            // Held back; does not hold back later packets.
            at += self.cfg.reorder_delay;
            self.stats.reordered += 1;
        } else {
            at = at.max(self.last_arrival);
            self.last_arrival = at;
        }
        let duplicate_at =
            if !reliable && self.cfg.duplicate > 0.0 && rng.gen_bool(self.cfg.duplicate.min(1.0)) {
                self.stats.duplicated += 1;
                self.stats.delivered += 1;
                Some(at)
            } else {
                None
            };
        self.stats.delivered += 1;
        Ok(Arrival {
            at,
            duplicate_at,
            reordered,
        })
    }

    pub(crate) fn count_down(&mut self) {
        self.stats.sent += 1;
        self.stats.dropped_down += 1;
    }
}
