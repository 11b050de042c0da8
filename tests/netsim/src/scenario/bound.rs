//! The truth table (where RFC 4787 behaviour allows a direct path) and the
//! lower bound a perfect agent could reach on each cell.
//!
//! # NAT classes
//!
//! Each preset is reduced to what matters for hole punching: `Open` (public
//! address, nothing filters), `Eim(filter)` (endpoint-independent mapping:
//! full cone = EIF, restricted cone = ADF, port-restricted cone, carrier
//! CGNAT and double NAT = APDF — both boxes of a double NAT are EIM+APDF),
//! and `Apdm` (symmetric: a new external port per destination, APDF).
//!
//! # Does X's first check get through to Y? (`admits(Y, X)`)
//!
//! With trickle both agents learn each other's reachable candidate at the
//! same instant and check at once, so each NAT opens its own pinhole towards
//! the other's advertised address before the other's check arrives. X's
//! first check, sent to Y's advertised (server-reflexive) address, gets in
//! unless:
//! - Y is `Apdm`: Y's server-reflexive port was opened towards the STUN
//!   server only; or
//! - Y filters on address and port (APDF) and X is `Apdm`: X's check comes
//!   from a fresh port Y never sent to.
//!
//! `Open` and EIF (full cone) always admit; ADF admits (Y sent to X's IP).
//!
//! # The lower bound (time to connected of the controlling side, A)
//!
//! An ICE agent may use a pair once its own check on it succeeded. Let
//! - `a_X` = when X can first check the peer: the signaling delay (25 ms)
//!   after the peer's reachable candidate exists: at 0 for an `Open` peer
//!   (its host candidate), after one STUN round trip (100 ms) otherwise;
//! - RTT = the peer-to-peer round trip (200 ms: 50 ms access + 50 ms access,
//!   each way).
//!
//! Then A's pair becomes valid at the earliest of
//! - `a_A + RTT` if A's first check gets through (one round trip), and
//! - `a_B + 1.5·RTT` if B's first check gets through: it reaches A after
//!   half a round trip, A answers it with a triggered check, whose response
//!   comes back one round trip later;
//!
//! and there is no direct path if neither first check gets through (a
//! relay is needed). So the bound is the first server-reflexive candidate
//! after one STUN round trip, plus the signaling delay, plus one round trip
//! when A's own first check is admitted, or one and a half when only B's is
//! (for example A full cone, B symmetric). Two filtering EIM NATs
//! (port-restricted ↔ port-restricted) cost one round trip, not one and a
//! half: their first checks cross in flight, each having opened its own NAT.
//!
//! Same LAN: host candidates after the signaling delay plus one LAN round
//! trip (0 ms: netsim LAN links are perfect): 25 ms. Two peers behind one
//! shared NAT (each behind its own home router): the path hairpins in the
//! shared NAT, whose peer round trip is 0 ms; the formula gives 125 ms with
//! hairpinning and no direct path without.
//!
//! # The relay lower bound (cells with no direct path)
//!
//! Both agents have the TURN server in the core (beside the STUN server:
//! TURN round trip 100 ms, like STUN) over UDP 3478 and TCP 443. A relayed
//! candidate exists at `r_X`: an Allocate, its 401 challenge and the
//! authenticated Allocate, two TURN round trips (200 ms); over TCP (a side
//! without UDP) the connection's handshake first, one more (300 ms). The
//! relaying server forwards a check only once the relay's owner has a
//! permission for the sender's IP (RFC 8656 §9); an agent creates it as soon
//! as both its allocation and the peer's candidate exist. Then A's pair
//! becomes valid at the earliest of
//! - `r_B + 25 ms + RTT`: A checks from its own address to B's relayed
//!   candidate once it arrives; B asked for the permission for A's
//!   (server-reflexive) IP when its allocation completed, known since
//!   125 ms, so it is in place before the check reaches the server (needs A
//!   to have UDP);
//! - `r_A + TURN RTT + RTT`: A checks from its relayed candidate, which
//!   waits one TURN round trip for its own permission for B's IP;
//!
//! so 425 ms when both sides have UDP (200 + 25 + 200) and 600 ms with UDP
//! blocked on A's side (300 + 100 + 200). The RTT through the relay is the
//! peer RTT (the server's link has no delay).

use crate::presets::Preset;
use std::time::Duration;

use super::signaling::SIGNALING_DELAY;

/// One-way latency of each peer's access link.
pub const ACCESS: Duration = Duration::from_millis(50);
/// Round trip to the STUN server in the core.
pub const STUN_RTT: Duration = Duration::from_millis(100);
/// Peer-to-peer round trip across the core.
pub const PEER_RTT: Duration = Duration::from_millis(200);
/// Round trip to the TURN server in the core.
pub const TURN_RTT: Duration = Duration::from_millis(100);
/// The agent's check pacing Ta: the slack every direct cell is allowed.
pub const PACING: Duration = Duration::from_millis(50);

/// RFC 4787 filtering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    Ei,
    Ad,
    Apd,
}

/// What a side looks like to hole punching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatClass {
    Open,
    Eim(Filter),
    Apdm,
    /// No UDP at all (a firewall).
    NoUdp,
}

/// The class of a preset.
pub fn class(p: Preset) -> NatClass {
    match p {
        Preset::Open => NatClass::Open,
        Preset::FullCone => NatClass::Eim(Filter::Ei),
        Preset::RestrictedCone => NatClass::Eim(Filter::Ad),
        Preset::PortRestrictedCone | Preset::CarrierCgnat(_) | Preset::DoubleNat => {
            NatClass::Eim(Filter::Apd)
        }
        Preset::Symmetric | Preset::SymmetricSequential => NatClass::Apdm,
        Preset::UdpBlocked => NatClass::NoUdp,
    }
}

/// Whether `to`'s NAT lets the first check from `from` in (see module docs).
pub fn admits(to: NatClass, from: NatClass) -> bool {
    match (to, from) {
        (NatClass::NoUdp, _) | (_, NatClass::NoUdp) => false,
        (NatClass::Apdm, _) => false,
        (NatClass::Open, _) | (NatClass::Eim(Filter::Ei | Filter::Ad), _) => true,
        (NatClass::Eim(Filter::Apd), f) => f != NatClass::Apdm,
    }
}

/// Whether RFC 4787 behaviour allows a direct path between the two sides.
pub fn direct_possible(a: NatClass, b: NatClass) -> bool {
    admits(a, b) || admits(b, a)
}

/// When X can first check the peer `peer`.
fn first_check(peer: NatClass) -> Duration {
    match peer {
        NatClass::Open => SIGNALING_DELAY,
        _ => STUN_RTT + SIGNALING_DELAY,
    }
}

/// The perfect agent's time to connected for controlling side `a` facing
/// `b`, with peer round trip `rtt`; `None` when no direct path exists.
pub fn lower_bound_rtt(a: NatClass, b: NatClass, rtt: Duration) -> Option<Duration> {
    let own = admits(b, a).then(|| first_check(b) + rtt);
    let theirs = admits(a, b).then(|| first_check(a) + rtt * 3 / 2);
    match (own, theirs) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

/// [`lower_bound_rtt`] across the core (200 ms).
pub fn lower_bound(a: Preset, b: Preset) -> Option<Duration> {
    lower_bound_rtt(class(a), class(b), PEER_RTT)
}

/// When side `x`'s relayed candidate exists: Allocate, 401, Allocate; over
/// TCP 443 (no UDP) after the connection's handshake.
pub fn relay_ready(x: NatClass) -> Duration {
    match x {
        NatClass::NoUdp => TURN_RTT * 3,
        _ => TURN_RTT * 2,
    }
}

/// The perfect agent's time to connected through the TURN server for
/// controlling side `a` facing `b` (see module docs).
pub fn relay_lower_bound_class(a: NatClass, b: NatClass) -> Duration {
    let own = relay_ready(a) + TURN_RTT + PEER_RTT;
    if a == NatClass::NoUdp {
        return own;
    }
    own.min(relay_ready(b) + SIGNALING_DELAY + PEER_RTT)
}

/// [`relay_lower_bound_class`] of two presets.
pub fn relay_lower_bound(a: Preset, b: Preset) -> Duration {
    relay_lower_bound_class(class(a), class(b))
}
