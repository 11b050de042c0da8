//! The NAT matrix as tables: what the `pinhole-demo` binary prints and
//! BENCHMARKS.md records.

use super::{Outcome, Path, Scenario, Topology};
use crate::presets::Preset;
use std::fmt::Write;
use std::time::Duration;

/// The matrix presets, in table order.
pub fn matrix_presets() -> Vec<Preset> {
    vec![
        Preset::Open,
        Preset::FullCone,
        Preset::RestrictedCone,
        Preset::PortRestrictedCone,
        Preset::Symmetric,
        Preset::CarrierCgnat(Duration::from_secs(60)),
        Preset::DoubleNat,
    ]
}

/// Which impairments a matrix run has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Perfect links, perfect signaling, trickle.
    Clean,
    /// 30% of signaling lines lost and 30% duplicated (the app resends).
    SignalingLoss,
    /// 5% packet loss on each access link, both ways.
    AccessLoss,
    /// RFC 8445 defaults without trickle.
    NonTrickle,
    /// Clean, and every home router grants port mappings (NAT-PMP, PCP, UPnP-IGD).
    PortMapping,
}

/// The scenario of one cell of a variant (seeds differ per cell).
pub fn scenario(topology: Topology, variant: Variant, seed: u64) -> Scenario {
    let s = Scenario::new(topology).seed(seed);
    match variant {
        Variant::Clean => s,
        Variant::SignalingLoss => s.signaling_loss(0.3, 0.3),
        Variant::AccessLoss => s.access_loss(0.05),
        Variant::NonTrickle => s.non_trickle(),
        Variant::PortMapping => s.port_mapping(),
    }
}

/// The cells outside the preset matrix.
pub fn extra_topologies() -> Vec<Topology> {
    vec![
        Topology::SameLan,
        Topology::SharedNat { hairpinning: true },
        Topology::SharedNat { hairpinning: false },
        Topology::Pair(Preset::UdpBlocked, Preset::Open),
    ]
}

/// A short column label.
pub fn short(p: Preset) -> &'static str {
    match p {
        Preset::Open => "open",
        Preset::FullCone => "full cone",
        Preset::RestrictedCone => "restricted",
        Preset::PortRestrictedCone => "port-restr.",
        Preset::Symmetric | Preset::SymmetricSequential => "symmetric",
        Preset::CarrierCgnat(_) => "CGNAT",
        Preset::DoubleNat => "double NAT",
        Preset::UdpBlocked => "UDP blocked",
    }
}

/// Runs every preset pair of a variant: `[row = alice][col = bob]`.
pub fn run_matrix(variant: Variant) -> Vec<Vec<Outcome>> {
    let ps = matrix_presets();
    ps.iter()
        .enumerate()
        .map(|(i, &a)| {
            ps.iter()
                .enumerate()
                .map(|(j, &b)| {
                    scenario(Topology::Pair(a, b), variant, (i * 16 + j) as u64 + 1).run()
                })
                .collect()
        })
        .collect()
}

/// The matrix as a text table (rows: controlling Alice, columns: Bob).
pub fn format_matrix(m: &[Vec<Outcome>]) -> String {
    let ps = matrix_presets();
    let w = m
        .iter()
        .flatten()
        .map(|o| o.cell().len())
        .max()
        .unwrap_or(10)
        .max(12);
    let mut out = String::new();
    let _ = write!(out, "{:<12}", "alice \\ bob");
    for p in &ps {
        let _ = write!(out, " | {:<w$}", short(*p));
    }
    out.push('\n');
    for (i, row) in m.iter().enumerate() {
        let _ = write!(out, "{:<12}", short(ps[i]));
        for o in row {
            let _ = write!(out, " | {:<w$}", o.cell());
        }
        out.push('\n');
    }
    out
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| format!("{}", d.as_millis()))
}

/// A markdown table: per cell the outcome, the lower bound, the measured
/// time (trickle), the margin, and the same scenario with RFC 8445 defaults
/// without trickle.
pub fn format_comparison(rows: &[(Outcome, Outcome)]) -> String {
    let mut out = String::from(
        "| cell (alice x bob) | outcome | lower bound ms | trickle ms | over bound ms | controlled side ms | non-trickle RFC 8445 ms |\n|---|---|---:|---:|---:|---:|---:|\n",
    );
    for (t, n) in rows {
        let over = match (t.time(), t.lower_bound) {
            (Some(c), Some(b)) => format!("{}", c.as_millis() as i64 - b.as_millis() as i64),
            _ => "-".into(),
        };
        let nt = match n.path {
            Path::Failed(_) => "failed".into(),
            _ => ms(n.time()),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            t.name,
            t.cell(),
            ms(t.lower_bound),
            ms(t.time()).replace('-', "failed"),
            over,
            ms(t.peer_connected_at),
            nt
        );
    }
    out
}

/// Every cell (matrix, then extras) with its trickle and non-trickle runs.
pub fn comparison_rows(
    trickle: &[Vec<Outcome>],
    non_trickle: &[Vec<Outcome>],
) -> Vec<(Outcome, Outcome)> {
    let mut rows: Vec<(Outcome, Outcome)> = trickle
        .iter()
        .flatten()
        .cloned()
        .zip(non_trickle.iter().flatten().cloned())
        .collect();
    for (k, t) in extra_topologies().into_iter().enumerate() {
        let seed = 1000 + k as u64;
        rows.push((
            scenario(t, Variant::Clean, seed).run(),
            scenario(t, Variant::NonTrickle, seed).run(),
        ));
    }
    rows
}

/// The cells whose direct path came from the hard-NAT punch: time to direct,
/// the relayed path first, and what the punch cost.
pub fn format_punch(outcomes: &[&Outcome]) -> String {
    let mut out = String::from(
        "| cell (alice x bob) | outcome | relay first ms | punch start ms | direct ms | easy-side probes sent | probe that hit | predicted | hard-side sockets |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for o in outcomes {
        let Some(p) = &o.punch else { continue };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            o.name,
            o.cell(),
            ms(o.relay_at),
            p.started.as_millis(),
            ms(o.direct_at),
            p.easy_probes,
            p.hit_probe
                .map_or("hard side's probe".to_owned(), |n| n.to_string()),
            p.predicted,
            p.hard_sockets,
        );
    }
    out
}

/// How many cells connected, and how: `connected: 49/49 (direct 42, relay 7)`.
pub fn summary<'a>(outcomes: impl IntoIterator<Item = &'a Outcome>) -> String {
    let (mut total, mut direct, mut relay) = (0, 0, 0);
    for o in outcomes {
        total += 1;
        match o.path {
            Path::Direct => direct += 1,
            Path::Relay => relay += 1,
            Path::Failed(_) => {}
        }
    }
    format!(
        "connected: {}/{total} (direct {direct}, relay {relay})",
        direct + relay
    )
}
