//! What hard-NAT punching is told (the NAT behaviour of both sides, its budget) and what
//! it reports (see [`super::punch`] for the technique).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::nat::{Filtering, Mapping};

/// How a NAT picks the external port of a new mapping, as far as discovery could tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PortAllocation {
    /// Not known (endpoint-independent mapping, no NAT, or too few samples).
    Unknown,
    /// Ports of consecutive mappings are far apart: random.
    Random,
    /// Consecutive mappings got close, increasing ports; `last` is the last one seen.
    Sequential {
        /// The external port of the most recent mapping discovery saw.
        last: u16,
    },
}

impl PortAllocation {
    /// Two mappings at most this far apart (and in increasing order) count as sequential:
    /// a sequential allocator hands out the next free port, and other flows of the same
    /// host (its own ICE checks) take some in between.
    pub const SEQUENTIAL_GAP: u16 = 16;

    /// Classifies the external ports of consecutive mappings of one socket to different
    /// destinations (RFC 5780 tests I, II and III): sequential when each is above the
    /// previous by at most [`Self::SEQUENTIAL_GAP`], random otherwise, unknown with fewer
    /// than two samples.
    pub fn from_samples(ports: &[u16]) -> PortAllocation {
        if ports.len() < 2 {
            return PortAllocation::Unknown;
        }
        let sequential = ports
            .windows(2)
            .all(|w| w[1] > w[0] && w[1] - w[0] <= Self::SEQUENTIAL_GAP);
        match ports.last() {
            Some(&last) if sequential => PortAllocation::Sequential { last },
            _ => PortAllocation::Random,
        }
    }
}

/// What one side knows of its NAT (RFC 5780 discovery on its first socket): exchanged
/// through the signaling messages so that both sides can tell whether a birthday punch
/// can help and who does what.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct NatBehaviour {
    /// Mapping behaviour (RFC 4787 §4.1).
    pub mapping: Mapping,
    /// Filtering behaviour (RFC 4787 §5).
    pub filtering: Filtering,
    /// Port allocation of a non-endpoint-independent mapping.
    pub allocation: PortAllocation,
}

impl NatBehaviour {
    /// A behaviour as discovery (or the peer's signaling) describes it.
    pub fn new(mapping: Mapping, filtering: Filtering, allocation: PortAllocation) -> Self {
        NatBehaviour {
            mapping,
            filtering,
            allocation,
        }
    }

    /// Nothing known.
    pub const UNKNOWN: NatBehaviour = NatBehaviour {
        mapping: Mapping::Unknown(crate::nat::UnknownReason::NoOtherAddress),
        filtering: Filtering::Unknown(crate::nat::UnknownReason::NoOtherAddress),
        allocation: PortAllocation::Unknown,
    };

    /// A new external port per destination: address-dependent or
    /// address-and-port-dependent mapping (a "symmetric" NAT).
    pub fn is_hard(&self) -> bool {
        matches!(
            self.mapping,
            Mapping::AddressDependent | Mapping::AddressAndPortDependent
        )
    }

    /// One external port for every destination: endpoint-independent mapping.
    pub fn is_easy(&self) -> bool {
        self.mapping == Mapping::EndpointIndependent
    }
}

/// Hard-NAT punching: the birthday-paradox punch between an endpoint-independent NAT
/// (the "easy" side) and an address(-and-port)-dependent one (the "hard" side, a
/// symmetric NAT), which ordinary ICE checks cannot connect.
///
/// The hard side opens [`sockets`](Self::sockets) extra UDP sockets (its owner binds
/// them: [`IceAgent::poll_punch_sockets`](super::IceAgent::poll_punch_sockets)) and sends
/// one probe from each to the easy side's server-reflexive address, which opens its NAT
/// towards that address on a fresh port each. The easy side sprays probes at random
/// ports of the hard side's public IP (predicted ports first against a sequential
/// allocator); one that hits an open port gets through. Every probe is an authenticated
/// ICE connectivity check; an answered one makes its pair valid, and nomination (a
/// renomination, make-before-break, when a relayed path carries the data meanwhile)
/// does the rest. It runs only when both sides' NAT behaviour is known
/// ([`IceAgent::set_local_nat`](super::IceAgent::set_local_nat), the peer's through the
/// signaling), one is endpoint-independent and the other not, and no direct pair is
/// valid [`start_after`](Self::start_after) into the generation; it stops at the first
/// valid direct pair or when the budget is spent, and hands unused sockets back.
/// Symmetric ↔ symmetric is not tried.
///
/// `Default` gives the documented values, chosen from the measurements in
/// BENCHMARKS.md ("Hard NAT"): with 256 ports open on the hard side a random probe hits
/// with probability 256/64512, so half the attempts need ~175 probes, 99% ~1160 and
/// 99.9% ~1740 (1 − exp(−N·M/64512)); 2048 probes at 1000 per second finish in about two
/// seconds and succeed 99.97% of the time where a punch can work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PunchConfig {
    /// Try at all (default true). Off: cells that need it stay on the relay.
    pub enabled: bool,
    /// How long the ordinary checks of a generation get (from its remote credentials)
    /// before a punch may start (default 1 s: several round trips; a direct path that
    /// ordinary checks can find is found by then).
    pub start_after: Duration,
    /// Sockets the hard side opens (default 256).
    pub sockets: usize,
    /// Most probes the easy side sends per attempt (default 2048).
    pub max_probes: usize,
    /// Probes per second, each side (default 1000).
    pub rate: u32,
    /// Against a sequential allocator, the predicted ports probed first (default 64).
    pub prediction: usize,
    /// The easy side starts this long after deciding to punch, so that the hard side's
    /// mappings exist when its probes arrive (default 100 ms).
    pub spray_delay: Duration,
    /// How long after its last probe a response still counts (default 1 s).
    pub linger: Duration,
}

impl Default for PunchConfig {
    fn default() -> Self {
        PunchConfig {
            enabled: true,
            start_after: Duration::from_secs(1),
            sockets: 256,
            max_probes: 2048,
            rate: 1000,
            prediction: 64,
            spray_delay: Duration::from_millis(100),
            linger: Duration::from_secs(1),
        }
    }
}

impl PunchConfig {
    /// No punch (and, in a session, no NAT discovery): such cells stay on the relay.
    pub fn disabled() -> Self {
        PunchConfig {
            enabled: false,
            ..Self::default()
        }
    }

    /// How long the hard side keeps its sockets open: the easy side's whole spray plus
    /// its delay, and twice the linger for the skew between the two sides' starts.
    pub fn hard_window(&self) -> Duration {
        let spray =
            Duration::try_from_secs_f64(self.max_probes as f64 / f64::from(self.rate.max(1)))
                .unwrap_or(Duration::MAX);
        self.spray_delay
            .saturating_add(spray)
            .saturating_add(self.linger.saturating_mul(2))
    }
}

/// Which side of a punch this agent plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PunchRole {
    /// Endpoint-independent mapping: sprays probes at random ports of the peer's IP.
    Easy,
    /// Symmetric NAT: opens many sockets, each with one probe to the peer's mapped address.
    Hard,
}

impl PunchRole {
    /// `easy` or `hard`.
    pub fn as_str(self) -> &'static str {
        match self {
            PunchRole::Easy => "easy",
            PunchRole::Hard => "hard",
        }
    }
}

/// How the last punch ended (or that none ran).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PunchOutcome {
    /// No punch ran in this generation (not needed, not possible, or not yet).
    #[default]
    NotStarted,
    /// Probing now.
    Running,
    /// A direct pair became valid: by a probe (see [`PunchStats::hit`]) or otherwise.
    Succeeded,
    /// The budget was spent without a direct pair.
    Exhausted,
    /// An ICE restart or a lost socket ended it.
    Cancelled,
}

impl PunchOutcome {
    /// `not-started`, `running`, `succeeded`, `exhausted` or `cancelled`.
    pub fn as_str(self) -> &'static str {
        match self {
            PunchOutcome::NotStarted => "not-started",
            PunchOutcome::Running => "running",
            PunchOutcome::Succeeded => "succeeded",
            PunchOutcome::Exhausted => "exhausted",
            PunchOutcome::Cancelled => "cancelled",
        }
    }
}

/// The probe that got through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PunchHit {
    /// Our socket.
    pub local: SocketAddr,
    /// The peer's address it reached.
    pub remote: SocketAddr,
    /// Time from the start of the punch.
    pub after: Duration,
    /// Which probe of the attempt got through (1 = the first): for the easy side, the
    /// probes a hit cost; for a hard side reached by the peer's probe, its probes sent by
    /// then.
    pub probes: u64,
}

/// Counters of the punch (the last attempt's outcome; counters add up over attempts).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PunchStats {
    /// The role of the last attempt.
    pub role: Option<PunchRole>,
    /// How it ended.
    pub outcome: PunchOutcome,
    /// When the last attempt started and ended.
    pub started: Option<Instant>,
    /// When the last attempt ended.
    pub ended: Option<Instant>,
    /// Attempts started.
    pub attempts: u64,
    /// Hard side: sockets opened.
    pub sockets_opened: u64,
    /// Hard side: sockets the pump could not bind.
    pub sockets_failed: u64,
    /// Probes sent (hard side: one per socket).
    pub probes_sent: u64,
    /// Of those, to predicted ports of a sequential allocator.
    pub predicted_probes: u64,
    /// Authenticated answers to probes.
    pub responses: u64,
    /// Datagrams on a punching socket that were neither an authenticated check nor an
    /// answer to a probe (dropped).
    pub dropped: u64,
    /// The probe that made a pair valid, if one did.
    pub hit: Option<PunchHit>,
}
