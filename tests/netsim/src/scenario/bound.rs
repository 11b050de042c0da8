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
//! # Dual-stack cells (IPv6 routed, IPv4 behind NATs)
//!
//! A dual-stack host's global IPv6 address is routed, not translated: its host
//! candidate is the address its peers reach. Open, it is `Open`; behind a stateful
//! IPv6 firewall (RFC 6092, [`crate::Firewall6`]) it is `Stateful(filter)`: the firewall
//! admits a check exactly when an EIM NAT with the same filtering would (outbound
//! packets create the state, an APDF firewall behaves like a port-restricted cone),
//! but there is no mapping to learn, so the peer can check it as soon as the host
//! candidate arrives: `a_X` is the signaling delay alone, as for `Open`. Two
//! APDF firewalls cost one round trip: both first checks leave at the signaling
//! delay and each opened its own firewall before the other's arrives.
//!
//! Each family is a separate race with its own bound ([`lower_bound_rtt`] of the two
//! IPv4 classes, and of the two IPv6 classes when both sides have IPv6); the cell's
//! bound is the earlier one, and where IPv6 allows a direct path at all its bound is
//! never later than IPv4's (its candidates need no STUN round trip and its classes
//! admit at least as much), so RFC 8421's preference for IPv6 costs nothing. A side
//! without IPv6 leaves the cell to the IPv4 rules, including the relay (over IPv4)
//! when both IPv4 sides are symmetric. See [`dual_stack_bound`].
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
//!
//! # Port-mapping routers
//!
//! A home router that grants a port mapping (PCP answers at once on the
//! zero-latency LAN) gives its side a candidate anyone may send to, at 0 ms,
//! and its socket's traffic leaves from that port: to hole punching the side
//! is [`NatClass::Open`] ([`class_mapped`]). A carrier NAT offers none, and a
//! home router behind one (double NAT) maps to a private address, which the
//! session refuses: those sides keep their class.
//!
//! # Hard-NAT punch cells
//!
//! Where no ordinary direct path exists but one side is endpoint-independent
//! (APDF) and the other symmetric ([`punch_possible`]), the sessions' birthday
//! punch finds one (`core/src/ice/punch.rs`). Its time is not a round-trip
//! formula but a budget ([`PUNCH_DEADLINE`]): NAT discovery's verdict on an
//! APDF NAT (test I after a STUN round trip, the unanswered filtering tests
//! given up 0.8 s later, mapping tests II and III one STUN round trip each:
//! 1.1 s), the peer's verdict over signaling (25 ms), the easy side's spray
//! delay (100 ms) and its whole budget at 1000 probes/s (2048 probes, 2.048 s),
//! the last probe's way to the hard side (100 ms), and the validation and
//! renomination of the pair (two peer round trips, 400 ms): 3.77 s, so 4 s.

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
    /// No translation (routed IPv6) behind a stateful firewall with this filtering:
    /// admits like `Eim(filter)`, reachable at its host candidate like `Open`.
    Stateful(Filter),
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

/// The class of a preset whose home router grants port mappings (see the
/// module docs).
pub fn class_mapped(p: Preset) -> NatClass {
    match p {
        Preset::FullCone
        | Preset::RestrictedCone
        | Preset::PortRestrictedCone
        | Preset::Symmetric
        | Preset::SymmetricSequential => NatClass::Open,
        other => class(other),
    }
}

/// Whether only the hard-NAT punch can give a direct path: none exists for
/// ordinary checks, one side is endpoint-independent and the other symmetric.
pub fn punch_possible(a: NatClass, b: NatClass) -> bool {
    !direct_possible(a, b)
        && matches!(
            (a, b),
            (NatClass::Eim(_), NatClass::Apdm) | (NatClass::Apdm, NatClass::Eim(_))
        )
}

/// The latest time to direct of a punch cell (see the module docs).
pub const PUNCH_DEADLINE: Duration = Duration::from_millis(4000);

/// Whether `to`'s NAT lets the first check from `from` in (see module docs).
pub fn admits(to: NatClass, from: NatClass) -> bool {
    // A check from behind a stateful firewall comes from its advertised address, as
    // from an EIM NAT.
    let from = match from {
        NatClass::Stateful(f) => NatClass::Eim(f),
        c => c,
    };
    match (to, from) {
        (NatClass::NoUdp, _) | (_, NatClass::NoUdp) => false,
        (NatClass::Apdm, _) => false,
        (NatClass::Open, _) | (NatClass::Eim(Filter::Ei | Filter::Ad), _) => true,
        (NatClass::Eim(Filter::Apd), f) => f != NatClass::Apdm,
        // A stateful firewall filters like an EIM NAT with the same filtering.
        (NatClass::Stateful(f), from) => admits(NatClass::Eim(f), from),
    }
}

/// Whether RFC 4787 behaviour allows a direct path between the two sides.
pub fn direct_possible(a: NatClass, b: NatClass) -> bool {
    admits(a, b) || admits(b, a)
}

/// When X can first check the peer `peer`.
fn first_check(peer: NatClass) -> Duration {
    match peer {
        NatClass::Open | NatClass::Stateful(_) => SIGNALING_DELAY,
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

/// The address family of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// IPv4 (translated by the preset's NATs).
    V4,
    /// IPv6 (routed, open or behind a stateful firewall).
    V6,
}

/// The class of a dual-stack side's IPv6 access: `Open`, or `Stateful` with the
/// firewall's filtering; `NoUdp` when the IPv4 preset's box blocks UDP (its stateless
/// firewall blocks routed IPv6 UDP as well).
pub fn class6(v4: Preset, v6: crate::Ipv6Access) -> NatClass {
    use crate::nat::Behaviour;
    if class(v4) == NatClass::NoUdp {
        return NatClass::NoUdp;
    }
    match v6 {
        crate::Ipv6Access::Open => NatClass::Open,
        crate::Ipv6Access::Firewall(c) => NatClass::Stateful(match c.filtering {
            Behaviour::EndpointIndependent => Filter::Ei,
            Behaviour::AddressDependent => Filter::Ad,
            Behaviour::AddressAndPortDependent => Filter::Apd,
        }),
    }
}

/// The perfect agent's time to connected for dual-stack controlling side `a` (IPv4
/// class, IPv6 class if it has IPv6) facing `b`, and the family of that first path
/// (IPv6 when both families tie: RFC 8421); `None` when neither family has a direct
/// path. See the module docs.
pub fn dual_stack_bound(
    a: (NatClass, Option<NatClass>),
    b: (NatClass, Option<NatClass>),
) -> Option<(Duration, Family)> {
    let v4 = lower_bound_rtt(a.0, b.0, PEER_RTT).map(|t| (t, Family::V4));
    let v6 = match (a.1, b.1) {
        (Some(x), Some(y)) => lower_bound_rtt(x, y, PEER_RTT).map(|t| (t, Family::V6)),
        _ => None,
    };
    match (v6, v4) {
        (Some(x), Some(y)) => Some(if x.0 <= y.0 { x } else { y }),
        (x, y) => x.or(y),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Ipv6Access;

    const CGNAT: Preset = Preset::CarrierCgnat(Duration::from_secs(60));

    fn side(v4: Preset, v6: Option<Ipv6Access>) -> (NatClass, Option<NatClass>) {
        (class(v4), v6.map(|a| class6(v4, a)))
    }

    #[test]
    fn ipv6_open_or_firewalled_is_one_round_trip_after_the_host_candidates() {
        let ms = Duration::from_millis;
        for v6 in [
            Ipv6Access::Open,
            Ipv6Access::firewall_apdf(),
            Ipv6Access::firewall_eif(),
        ] {
            for v4 in [CGNAT, Preset::Symmetric] {
                let s = side(v4, Some(v6));
                assert_eq!(
                    dual_stack_bound(s, s),
                    Some((ms(225), Family::V6)),
                    "{v4:?} {v6}"
                );
            }
        }
    }

    #[test]
    fn without_ipv6_on_one_side_the_ipv4_rules_decide() {
        let a = side(Preset::Symmetric, Some(Ipv6Access::Open));
        let b = side(Preset::Symmetric, None);
        assert_eq!(dual_stack_bound(a, b), None);
        let b = side(Preset::PortRestrictedCone, None);
        let a = side(CGNAT, Some(Ipv6Access::firewall_apdf()));
        assert_eq!(
            dual_stack_bound(a, b),
            lower_bound(CGNAT, Preset::PortRestrictedCone).map(|t| (t, Family::V4))
        );
    }

    #[test]
    fn a_stateful_apdf_firewall_punches_like_a_port_restricted_cone() {
        let fw = NatClass::Stateful(Filter::Apd);
        for from in [
            NatClass::Open,
            NatClass::Eim(Filter::Apd),
            NatClass::Apdm,
            NatClass::Stateful(Filter::Apd),
        ] {
            assert_eq!(
                admits(fw, from),
                admits(NatClass::Eim(Filter::Apd), from),
                "{from:?}"
            );
        }
        // Without translation, no STUN round trip: 25 ms signaling + 200 ms.
        assert_eq!(
            lower_bound_rtt(fw, fw, PEER_RTT),
            Some(Duration::from_millis(225))
        );
    }
}
