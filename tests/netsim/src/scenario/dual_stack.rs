//! Dual-stack cells: each peer's IPv4 sits behind a preset (carrier CGNAT, symmetric...)
//! while its host also has a global IPv6 address, open or behind a stateful firewall
//! ([`crate::dual_stack`]), or no IPv6 at all. The STUN and TURN servers in the core are
//! dual-stack ([`STUN_SERVER6`], [`TURN_SERVER6`] beside the IPv4 addresses), so each
//! session gathers host, server-reflexive and relayed candidates in both families and
//! RFC 8421 decides between them. Bounds: [`super::bound::dual_stack_bound`].

use super::bound::{class, class6, dual_stack_bound, Family, NatClass};
use super::call::{TURN_TLS_PORT, TURN_USER};
use super::{Outcome, Path, Scenario, Topology};
use crate::dual_stack::Ipv6Access;
use crate::presets::Preset;
use pinhole::session::{SessionConfig, TurnServer};
use std::fmt::{self, Write};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// The STUN server's IPv6 address (same host as [`super::STUN_SERVER`]).
pub const STUN_SERVER6: SocketAddr = SocketAddr::new(
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
    3478,
);
/// The TURN server's IPv6 address (same host and model as [`super::TURN_SERVER`]):
/// allocations made over it relay from it (REQUESTED-ADDRESS-FAMILY IPv6).
pub const TURN_SERVER6: SocketAddr = SocketAddr::new(
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2)),
    3478,
);

/// One peer of a dual-stack cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Side {
    /// What its IPv4 is behind.
    pub v4: Preset,
    /// Its global IPv6 address: open, firewalled, or none (IPv4 only).
    pub v6: Option<Ipv6Access>,
}

impl Side {
    /// IPv4 behind `v4`, IPv6 reachable as `v6`.
    pub fn dual(v4: Preset, v6: Ipv6Access) -> Self {
        Side { v4, v6: Some(v6) }
    }

    /// IPv4 only, behind `v4`.
    pub fn v4_only(v4: Preset) -> Self {
        Side { v4, v6: None }
    }

    /// (IPv4 class, IPv6 class if any) for the bounds.
    pub fn classes(&self) -> (NatClass, Option<NatClass>) {
        (class(self.v4), self.v6.map(|a| class6(self.v4, a)))
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v4 = super::table::short(self.v4);
        match self.v6 {
            None => write!(f, "{v4}, no IPv6"),
            Some(Ipv6Access::Open) => write!(f, "{v4} + IPv6 open"),
            Some(a) => write!(f, "{v4} + IPv6 {a}"),
        }
    }
}

/// The perfect agent's time to connected of a dual-stack cell and the family of that
/// first direct path; `None` where neither family has a direct path.
pub fn bound(a: Side, b: Side) -> Option<(Duration, Family)> {
    dual_stack_bound(a.classes(), b.classes())
}

/// Adds the servers' IPv6 addresses to a session's configuration (the IPv4 ones are
/// there already): STUN, and TURN over UDP and TCP 443.
pub fn with_ipv6_servers(mut c: SessionConfig) -> SessionConfig {
    let (user, pass) = TURN_USER;
    let ip = TURN_SERVER6.ip();
    c = c.with_stun_server(STUN_SERVER6.to_string());
    c = c.with_turn_server(TurnServer::new(
        format!("turn:{TURN_SERVER6}?transport=udp"),
        user,
        pass,
    ));
    c.with_turn_server(TurnServer::new(
        format!("turn:[{ip}]:{TURN_TLS_PORT}?transport=tcp"),
        user,
        pass,
    ))
}

/// The dual-stack cells of the demo table and BENCHMARKS.md: IPv4 CGNAT or symmetric on
/// both sides with IPv6 open or firewalled on both, one side without IPv6, and cells
/// where both families work (IPv6 preferred).
pub fn cells() -> Vec<Topology> {
    let cgnat = Preset::CarrierCgnat(Duration::from_secs(60));
    let sym = Preset::Symmetric;
    let open = Ipv6Access::Open;
    let apdf = Ipv6Access::firewall_apdf();
    let eif = Ipv6Access::firewall_eif();
    let d = Side::dual;
    let v4 = Side::v4_only;
    vec![
        // IPv4 allows a direct path nowhere here, or only through CGNAT punching: IPv6 must.
        Topology::DualStack(d(cgnat, open), d(cgnat, open)),
        Topology::DualStack(d(sym, open), d(sym, open)),
        Topology::DualStack(d(cgnat, apdf), d(cgnat, apdf)),
        Topology::DualStack(d(sym, apdf), d(sym, apdf)),
        Topology::DualStack(d(sym, eif), d(sym, eif)),
        Topology::DualStack(d(sym, apdf), d(cgnat, open)),
        Topology::DualStack(d(cgnat, open), d(sym, apdf)),
        // Only one side has IPv6: the IPv4 rules decide.
        Topology::DualStack(d(cgnat, open), v4(sym)),
        Topology::DualStack(d(sym, apdf), v4(sym)),
        Topology::DualStack(v4(sym), d(sym, open)),
        Topology::DualStack(d(cgnat, apdf), v4(Preset::PortRestrictedCone)),
        // Both families work: IPv6 preferred (RFC 8421).
        Topology::DualStack(
            d(Preset::PortRestrictedCone, apdf),
            d(Preset::PortRestrictedCone, apdf),
        ),
        Topology::DualStack(d(Preset::Open, open), d(cgnat, apdf)),
        Topology::DualStack(d(Preset::FullCone, open), d(Preset::FullCone, open)),
    ]
}

/// Runs the dual-stack cells ([`cells`]) with clean links (one seed per cell).
pub fn run_cells() -> Vec<(Scenario, Outcome)> {
    cells()
        .into_iter()
        .enumerate()
        .map(|(k, t)| {
            let sc = Scenario::new(t).seed(2000 + k as u64);
            let o = sc.run();
            (sc, o)
        })
        .collect()
}

/// The family of an outcome's selected path, from the peer's end of it.
pub fn path_family(o: &Outcome) -> Option<Family> {
    let (_, p) = o.paths.last()?;
    Some(if p.remote.addr.is_ipv6() {
        Family::V6
    } else {
        Family::V4
    })
}

/// The dual-stack section of the demo and BENCHMARKS.md: per cell the outcome, the
/// family of the selected path and the one the bound expects, the time to connected
/// against the bound.
pub fn format_table(rows: &[(Scenario, Outcome)]) -> String {
    let fam = |f: Option<Family>| match f {
        Some(Family::V6) => "IPv6",
        Some(Family::V4) => "IPv4",
        None => "-",
    };
    let ms = |d: Option<Duration>| d.map_or("-".to_string(), |d| d.as_millis().to_string());
    let mut out = String::from(
        "| cell (alice x bob) | outcome | path family | expected family | lower bound ms | connected ms | over bound ms |\n|---|---|---|---|---:|---:|---:|\n",
    );
    for (sc, o) in rows {
        let expected = match o.path {
            Path::Relay => Some(Family::V4),
            _ => sc.expected_family(),
        };
        let over = match (o.time(), o.lower_bound) {
            (Some(t), Some(b)) => (t.as_millis() as i64 - b.as_millis() as i64).to_string(),
            _ => "-".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            o.name,
            o.cell(),
            fam(path_family(o)),
            fam(expected),
            ms(o.lower_bound),
            ms(o.time()),
            over
        );
    }
    out
}
