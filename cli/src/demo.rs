//! `pinhole demo`: the ICE NAT matrix in netsim, a simulated Internet on a
//! virtual clock — no servers, no root, no network. Prints, per cell, direct,
//! relay or failed, the selected candidate types and the time to connected,
//! then the comparison with RFC 8445's defaults without trickle.

use pinhole_netsim::scenario::table::{self, Variant};

pub fn run() -> Result<(), String> {
    let started = std::time::Instant::now();
    let clean = table::run_matrix(Variant::Clean);
    println!("ICE NAT matrix in netsim (virtual time; 50 ms access links, STUN RTT 100 ms,");
    println!("peer RTT 200 ms, trickled signaling 25 ms one way). Rows: controlling peer,");
    println!("columns: controlled peer. Cell: path, local/remote candidate types, time to");
    println!("connected of the controlling peer.\n");
    print!("{}", table::format_matrix(&clean));
    println!();
    println!("Time to connected against the lower bound a perfect agent could reach, and");
    println!(
        "RFC 8445 defaults without trickle (gather everything, send it, check at Ta = 50 ms):\n"
    );
    let rfc = table::run_matrix(Variant::NonTrickle);
    print!(
        "{}",
        table::format_comparison(&table::comparison_rows(&clean, &rfc))
    );
    println!(
        "\n\"failed: needs relay\": RFC 4787 behaviour allows no direct path there; the demo \
         gives the agents no TURN server yet."
    );
    println!(
        "Simulated {} scenarios in {:.2} s of wall time.",
        2 * clean.len() * clean.len() + 2 * table::extra_topologies().len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
