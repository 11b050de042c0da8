//! ICE scenarios in netsim: two Pinhole sessions behind chosen NATs, a STUN
//! and a TURN server in the core, an application signaling channel carrying
//! the sessions' strings, and the measured time to connected beside the
//! lower bound a perfect agent could reach.
//!
//! Each side is a [`pinhole::session::Session`] pumped by
//! [`crate::session_endpoint::SessionEndpoint`]: the SDK path an app uses.
//!
//! Topology (see [`bound`]): each peer's access link is 50 ms one way to the
//! core, where the STUN and TURN servers sit (STUN and TURN round trip
//! 100 ms, peer round trip 200 ms); the signaling channel ([`signaling`])
//! takes 25 ms one way. Both sessions get the TURN server over UDP 3478 and
//! TCP 443 ([`turn_servers`]): cells where RFC 4787 behaviour allows no
//! direct path connect through it.
//! Alice is the controlling side (rows of the matrix), Bob the controlled
//! one (columns).
//!
//! **Time to connected** is the virtual time from the start (both sessions
//! created, credentials sent) to the controlling side's first path
//! (`Event::PathChanged`) of the kind the cell ends on: its first direct path
//! in a direct cell (later than its first path when the relay won the race
//! and the agent upgraded), its first relayed path in a relay cell. From then
//! on it sends data on a checked path, which is what the bound in [`bound`]
//! is about. The controlled side's time (it selects when the nomination
//! arrives, half a round trip later) is reported too.
//!
//! After connecting, every run sends one datagram each way across the
//! selected path ([`exchange`]) and records whether the TURN server relayed
//! it.
//!
//! Dual-stack cells ([`Topology::DualStack`], [`dual_stack`]) give each host a global
//! IPv6 address beside its NATed IPv4 one, and the servers both families; their bound is
//! the earlier of the two families' ([`bound::dual_stack_bound`]) and
//! [`Scenario::expected_family`] says which family a perfect agent connects on.
//!
//! Used by `tests/ice_matrix.rs`, `tests/dual_stack_sessions.rs` and by the
//! `pinhole-demo` binary.

pub mod bound;
mod call;
pub mod dual_stack;
pub mod exchange;
pub mod keepalive;
pub mod roam;
pub mod signaling;
pub mod table;

pub use call::{
    session_config, turn_servers, Call, CallOptions, Topology, ICE_PORT, STUN_ALTERNATE,
    STUN_SERVER, TURN_SERVER, TURN_TLS_PORT, TURN_USER,
};
pub use exchange::Exchange;
pub use signaling::SignalingLoss;

use bound::{class, class_mapped, lower_bound_rtt, relay_lower_bound_class};
use bound::{Filter, NatClass, PEER_RTT};
use pinhole::ice::CandidateType;
use pinhole::session::{Event, PathInfo, PathKind, Signal};
use std::time::Duration;

/// Whether the sessions gather relay candidates: the TURN server model
/// (tests/netsim/src/turn_server) is in the core and [`Call::start`] gives
/// both sessions its UDP and TCP 443 addresses, so cells where RFC 4787
/// behaviour allows no direct path (and UDP blocked) end `Path::Relay`.
pub const RELAY_CANDIDATES: bool = true;

/// How the run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Path {
    Direct,
    Relay,
    Failed(String),
}

/// What a scenario measured.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub name: String,
    /// Controlling side's first path of any kind (since start).
    pub connected_at: Option<Duration>,
    /// Controlling side's first direct path (later than `connected_at` when
    /// the relay won the race and the agent upgraded).
    pub direct_at: Option<Duration>,
    /// Controlling side's first relayed path.
    pub relay_at: Option<Duration>,
    /// Controlled side's first path of the kind the controlling side ended on.
    pub peer_connected_at: Option<Duration>,
    pub path: Path,
    /// Candidate types of the controlling side's path (local, remote).
    pub local: Option<CandidateType>,
    pub remote: Option<CandidateType>,
    /// The perfect agent's time to connected: direct where RFC 4787 allows
    /// a direct path, else through the relay ([`bound`]).
    pub lower_bound: Option<Duration>,
    /// When the controlling side reported `Failed`.
    pub failed_at: Option<Duration>,
    /// One datagram each way across the path, after connecting.
    pub exchange: Option<Exchange>,
    /// Signaling strings either session refused (none expected).
    pub signal_errors: usize,
    /// Every path the controlling side selected, with when (since start): the last one
    /// is the path the outcome reports, with its addresses (`local.addr` as the peer
    /// sees it, `remote.addr`).
    pub paths: Vec<(Duration, PathInfo)>,
    /// The hard-NAT punch, if one ran.
    pub punch: Option<PunchSummary>,
    /// A port mapping became a candidate on either side.
    pub mapped: bool,
}

/// What the hard-NAT punch of a run cost (both sides' statistics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PunchSummary {
    /// When it started (since the start of the run; the earlier side).
    pub started: Duration,
    /// Probes the easy side sent in all.
    pub easy_probes: u64,
    /// Which of the easy side's probes got through first (1 = the first), when
    /// one did; `None` when the hard side's probe came in first (the easy side
    /// had probed its port before it was open).
    pub hit_probe: Option<u64>,
    /// Of the easy side's probes, those to predicted ports.
    pub predicted: u64,
    /// Sockets the hard side opened.
    pub hard_sockets: u64,
    /// Probes the hard side sent.
    pub hard_probes: u64,
    /// Both sides' outcome words (`succeeded`, `exhausted`, ...), easy side first.
    pub outcome: (String, String),
}

impl Outcome {
    /// Whether a path was selected (direct or relay).
    pub fn connected(&self) -> bool {
        matches!(self.path, Path::Direct | Path::Relay)
    }

    /// Time to connected: the first path of the kind the run ended on
    /// (`direct_at` on a direct path, `relay_at` on a relayed one).
    pub fn time(&self) -> Option<Duration> {
        match self.path {
            Path::Direct => self.direct_at,
            Path::Relay => self.relay_at,
            Path::Failed(_) => None,
        }
    }

    /// `direct srflx/prflx 325 ms`, `relay relay/srflx 625 ms`, `failed: needs relay`.
    pub fn cell(&self) -> String {
        let types = match (self.local, self.remote) {
            (Some(l), Some(r)) => format!("{}/{}", l.as_str(), r.as_str()),
            _ => "?".into(),
        };
        let ms = self.time().map_or(0, |d| d.as_millis());
        match &self.path {
            Path::Direct => format!("direct {types} {ms} ms"),
            Path::Relay => format!("relay {types} {ms} ms"),
            Path::Failed(r) if r.contains("UDP") => "failed: UDP blocked".into(),
            Path::Failed(_) => "failed: needs relay".into(),
        }
    }
}

/// One run.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub topology: Topology,
    pub seed: u64,
    /// Loss and duplication of signaling lines (the app resends every 100 ms).
    pub signaling: SignalingLoss,
    /// Packet loss on each access link, both directions.
    pub access_loss: f64,
    /// false: RFC 8445 defaults without trickle — gather everything, send
    /// all candidates in one message when gathering completes, then check
    /// at Ta = 50 ms.
    pub trickle: bool,
    /// Give up after this much virtual time (default 15 s: a cell without a
    /// direct path fails when the last check times out, ~9 s).
    pub deadline: Duration,
    /// Home routers grant port mappings ([`CallOptions::port_mapping`]).
    pub port_mapping: bool,
    /// Hard-NAT punching (default on; off: [`CallOptions::hard_nat_off`]).
    pub hard_nat: bool,
}

impl Scenario {
    pub fn new(topology: Topology) -> Self {
        Scenario {
            topology,
            seed: 1,
            signaling: SignalingLoss::default(),
            access_loss: 0.0,
            trickle: true,
            deadline: Duration::from_secs(15),
            port_mapping: false,
            hard_nat: true,
        }
    }

    /// Home routers grant port mappings.
    pub fn port_mapping(mut self) -> Self {
        self.port_mapping = true;
        self
    }

    /// The two sides' classes (a mapping router's side counts as open).
    pub fn classes(&self) -> Option<(NatClass, NatClass)> {
        let Topology::Pair(a, b) = self.topology else {
            return None;
        };
        let c = |p| {
            if self.port_mapping {
                class_mapped(p)
            } else {
                class(p)
            }
        };
        Some((c(a), c(b)))
    }

    /// Whether this cell is direct only through the hard-NAT punch (see
    /// [`bound`]); its time to direct is at most [`bound::PUNCH_DEADLINE`].
    pub fn punch_cell(&self) -> bool {
        self.hard_nat
            && self
                .classes()
                .is_some_and(|(a, b)| bound::punch_possible(a, b))
    }

    pub fn pair(a: crate::Preset, b: crate::Preset) -> Self {
        Self::new(Topology::Pair(a, b))
    }

    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    pub fn signaling_loss(mut self, loss: f64, duplicate: f64) -> Self {
        self.signaling = SignalingLoss { loss, duplicate };
        self
    }

    pub fn access_loss(mut self, loss: f64) -> Self {
        self.access_loss = loss;
        self
    }

    pub fn non_trickle(mut self) -> Self {
        self.trickle = false;
        self
    }

    /// The perfect agent's time to connected (see [`bound`]).
    pub fn lower_bound(&self) -> Option<Duration> {
        let apdf = NatClass::Eim(Filter::Apd);
        match self.topology {
            Topology::Pair(..) => {
                let (a, b) = self.classes()?;
                lower_bound_rtt(a, b, PEER_RTT)
            }
            // The mobile NAT64: endpoint-independent mapping, address-dependent filtering.
            Topology::Nat64Pair(b) => {
                lower_bound_rtt(NatClass::Eim(Filter::Ad), class(b), bound::PEER_RTT)
            }
            Topology::SameLan => Some(signaling::SIGNALING_DELAY),
            Topology::SharedNat { hairpinning: true } => {
                lower_bound_rtt(apdf, apdf, Duration::ZERO)
            }
            Topology::SharedNat { hairpinning: false } => None,
            Topology::DualStack(a, b) => dual_stack::bound(a, b).map(|(t, _)| t),
        }
    }

    /// The family of the path a perfect agent connects on first (IPv6 where it ties
    /// with IPv4, RFC 8421): only for dual-stack cells with a direct path.
    pub fn expected_family(&self) -> Option<bound::Family> {
        match self.topology {
            Topology::DualStack(a, b) => dual_stack::bound(a, b).map(|(_, f)| f),
            _ => None,
        }
    }

    /// The perfect agent's time to connected through the TURN server when
    /// no direct path exists (see [`bound`]); `None` where direct is possible.
    pub fn relay_bound(&self) -> Option<Duration> {
        if self.direct_possible() {
            return None;
        }
        let apdf = NatClass::Eim(Filter::Apd);
        let (a, b) = match self.topology {
            Topology::Pair(..) => self.classes().unwrap_or((apdf, apdf)),
            // The relay is reached over IPv4 (IPv6 has no direct path either only when a
            // side has no IPv6 or no UDP, and then the IPv4 classes decide).
            Topology::DualStack(a, b) => (class(a.v4), class(b.v4)),
            _ => (apdf, apdf),
        };
        Some(relay_lower_bound_class(a, b))
    }

    /// [`Scenario::lower_bound`], else [`Scenario::relay_bound`]; `None` on a punch
    /// cell (its time is a budget, [`bound::PUNCH_DEADLINE`], not a bound).
    pub fn bound(&self) -> Option<Duration> {
        if self.punch_cell() {
            return None;
        }
        self.lower_bound().or_else(|| self.relay_bound())
    }

    /// Whether RFC 4787 behaviour allows a direct path here.
    pub fn direct_possible(&self) -> bool {
        self.lower_bound().is_some()
    }

    /// Whether a direct path is expected in the end: ordinary checks, or the punch.
    pub fn direct_expected(&self) -> bool {
        self.direct_possible() || self.punch_cell()
    }

    /// Whether a side has no UDP at all.
    pub fn udp_blocked(&self) -> bool {
        match self.topology {
            Topology::Pair(a, b) => class(a) == NatClass::NoUdp || class(b) == NatClass::NoUdp,
            Topology::DualStack(a, b) => {
                class(a.v4) == NatClass::NoUdp || class(b.v4) == NatClass::NoUdp
            }
            _ => false,
        }
    }

    /// Runs until both sides have a path (plus 500 ms to settle; up to 3 s
    /// more while a relayed path is selected where a direct path exists, for
    /// the upgrade), the controlling one failed, or the deadline; then, if
    /// connected, sends one datagram each way ([`exchange`]).
    pub fn run(&self) -> Outcome {
        let mut s = Call::start_with_options(
            self.topology,
            self.seed,
            self.access_loss,
            self.signaling,
            self.trickle,
            CallOptions {
                port_mapping: self.port_mapping,
                hard_nat_off: !self.hard_nat,
            },
            &|c| c,
        );
        let deadline = s.start + self.deadline;
        s.run(deadline, |s| {
            (s.ep(0).connected_at().is_some() && s.ep(1).connected_at().is_some())
                || s.ep(0).failed_at().is_some()
        });
        if s.ep(0).failed_at().is_none() {
            let settle = s.net.now() + Duration::from_millis(500);
            s.run(settle.min(deadline), |_| false);
        }
        let on_relay = |s: &Call| s.ep(0).path().map(|p| p.kind) == Some(PathKind::Relay);
        if self.direct_expected() && on_relay(&s) {
            // Up to 3 s for an upgrade; a punch cell until its deadline.
            let upgrade = if self.punch_cell() {
                s.start + bound::PUNCH_DEADLINE + Duration::from_secs(1)
            } else {
                s.net.now() + Duration::from_secs(3)
            };
            s.run(upgrade.min(deadline), |s| !on_relay(s));
            // Both sides on the direct path before the exchange.
            let settle = s.net.now() + Duration::from_millis(500);
            s.run(settle.min(deadline), |_| false);
        }
        let exchange = s.ep(0).path().is_some().then(|| exchange::exchange(&mut s));
        let (a, b) = (s.ep(0), s.ep(1));
        let sel = a.path();
        let path = match sel.map(|p| p.kind) {
            Some(PathKind::Relay) => Path::Relay,
            Some(_) => Path::Direct,
            None => Path::Failed(failure_reason(&s)),
        };
        let kind = sel.map(|p| p.kind);
        Outcome {
            name: self.topology.name(),
            connected_at: a.connected_at(),
            direct_at: a.path_at(PathKind::Direct),
            relay_at: a.path_at(PathKind::Relay),
            peer_connected_at: kind.and_then(|k| b.path_at(k)),
            path,
            local: sel.map(|p| p.local.kind),
            remote: sel.map(|p| p.remote.kind),
            lower_bound: self.bound(),
            failed_at: a.failed_at(),
            exchange,
            signal_errors: s.signal_errors.len(),
            paths: a.paths().map(|(t, p)| (t, p.clone())).collect(),
            punch: punch_summary(&s),
            mapped: (0..2).any(|i| {
                s.ep(i)
                    .session()
                    .port_mappings()
                    .iter()
                    .any(|m| m.mapping.is_some())
            }),
        }
    }
}

/// Both sides' punch statistics, if a punch ran.
fn punch_summary(s: &Call) -> Option<PunchSummary> {
    use pinhole::ice::PunchRole;
    let stats = [s.ep(0).session().stats(), s.ep(1).session().stats()];
    let easy = stats
        .iter()
        .find(|x| x.punch.role == Some(PunchRole::Easy))?;
    let hard = stats
        .iter()
        .find(|x| x.punch.role == Some(PunchRole::Hard))?;
    let started = [easy, hard].iter().filter_map(|x| x.punch_times.0).min()?;
    Some(PunchSummary {
        started,
        easy_probes: easy.punch.probes_sent,
        hit_probe: easy.punch.hit.map(|h| h.probes),
        predicted: easy.punch.predicted_probes,
        hard_sockets: hard.punch.sockets_opened,
        hard_probes: hard.punch.probes_sent,
        outcome: (
            easy.punch.outcome.as_str().to_owned(),
            hard.punch.outcome.as_str().to_owned(),
        ),
    })
}

/// Why no path was selected, from what the sessions observed.
fn failure_reason(s: &Call) -> String {
    let names = ["alice", "bob"];
    for (i, name) in names.iter().enumerate() {
        let srflx = s.ep(i).events.iter().any(|(_, e)| {
            matches!(e, Event::Signal(Signal::Candidate(c)) if c.kind == CandidateType::ServerReflexive)
        });
        let public = s.ep(i).session().sockets().iter().any(|a| match a.ip() {
            std::net::IpAddr::V4(v4) => {
                let o = v4.octets();
                !(v4.is_private() || (o[0] == 100 && (o[1] & 0xc0) == 64))
            }
            std::net::IpAddr::V6(_) => true,
        });
        if !srflx && !public {
            return format!(
                "{name}: no server-reflexive candidate, UDP to the STUN server is blocked; \
                 needs a relay (TURN over TCP/TLS), which did not connect either"
            );
        }
    }
    "needs relay: NAT filtering dropped every connectivity check (no direct path per \
     RFC 4787), and the relay did not connect either"
        .into()
}
