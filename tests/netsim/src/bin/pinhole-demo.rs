//! `pinhole-demo`: the ICE NAT matrix in netsim, a simulated Internet on a
//! virtual clock — no servers, no root, no network. Two Pinhole sessions (the
//! SDK's `Session`, pumped by netsim) behind every pair of NAT presets.
//! Prints, per cell, direct, relay or failed, the selected candidate types
//! and the time to connected, then the comparison with the lower bound and
//! with RFC 8445's defaults without trickle, what the hard-NAT punch cost in
//! the cells only it makes direct, the matrix again with port-mapping routers,
//! and how many cells connected; then the dual-stack cells (IPv4 behind a
//! preset, IPv6 open or firewalled, or none).
//!
//! `cargo run --release -p pinhole-netsim --bin pinhole-demo`
//!
//! A test-crate binary on purpose: the shipped `pinhole` CLI does not link
//! the simulator.

use pinhole_netsim::scenario::dual_stack;
use pinhole_netsim::scenario::table::{self, Variant};
use std::process::ExitCode;

fn main() -> ExitCode {
    let started = std::time::Instant::now();
    let clean = table::run_matrix(Variant::Clean);
    println!("ICE NAT matrix in netsim (virtual time; 50 ms access links, STUN and TURN RTT");
    println!("100 ms, peer RTT 200 ms, trickled signaling 25 ms one way; TURN over UDP 3478");
    println!("and TCP 443). Rows: controlling peer, columns: controlled peer. Cell: path,");
    println!("local/remote candidate types, time to connected of the controlling peer.\n");
    print!("{}", table::format_matrix(&clean));
    println!();
    println!("Time to connected against the lower bound a perfect agent could reach, and");
    println!(
        "RFC 8445 defaults without trickle (gather everything, send it, check at Ta = 50 ms):\n"
    );
    let rfc = table::run_matrix(Variant::NonTrickle);
    let rows = table::comparison_rows(&clean, &rfc);
    print!("{}", table::format_comparison(&rows));
    println!(
        "\n\"relay\": RFC 4787 behaviour allows no direct path there (or UDP is blocked); the \
         lower bound of those cells is the perfect agent's time through the TURN server."
    );
    let punched: Vec<&pinhole_netsim::scenario::Outcome> = clean
        .iter()
        .flatten()
        .filter(|o| o.punch.is_some())
        .collect();
    println!(
        "\nHard-NAT punch: symmetric facing an endpoint-independent NAT that filters on \
         address and port. The relay carries data first; the birthday punch (256 ports \
         on the symmetric side, random probes at 1000/s from the other, port prediction \
         against a sequential allocator) then moves the path direct:\n"
    );
    print!("{}", table::format_punch(&punched));
    let mapped = table::run_matrix(Variant::PortMapping);
    println!(
        "\nThe same matrix when every home router grants port mappings (NAT-PMP, PCP, \
         UPnP-IGD); a carrier NAT grants none, and a home router behind one maps to a \
         private address, which the session refuses:\n"
    );
    print!("{}", table::format_matrix(&mapped));
    println!("{}", table::summary(mapped.iter().flatten()));
    println!(
        "\nSimulated {} scenarios in {:.2} s of wall time.",
        3 * clean.len() * clean.len() + 2 * table::extra_topologies().len(),
        started.elapsed().as_secs_f64()
    );
    println!("{}", table::summary(rows.iter().map(|(t, _)| t)));
    println!();
    println!("Dual-stack: IPv4 behind the preset, a global IPv6 address on the same host, open or");
    println!(
        "behind a stateful RFC 6092 firewall (APDF/EIF, 120 s); STUN and TURN on both families."
    );
    println!("IPv6 is preferred where both families work (RFC 8421).\n");
    let dual_started = std::time::Instant::now();
    let dual = dual_stack::run_cells();
    print!("{}", dual_stack::format_table(&dual));
    println!(
        "Simulated {} dual-stack scenarios in {:.2} s of wall time.",
        dual.len(),
        dual_started.elapsed().as_secs_f64()
    );
    println!("{}", table::summary(dual.iter().map(|(_, o)| o)));
    if rows.iter().all(|(t, _)| t.connected())
        && mapped.iter().flatten().all(|o| o.connected())
        && dual.iter().all(|(_, o)| o.connected())
    {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
