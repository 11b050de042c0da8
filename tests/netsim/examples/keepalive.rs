//! Prints the keepalive benchmark table (BENCHMARKS.md, "Keepalives"): one virtual hour
//! per NAT profile, Pinhole's policy beside fixed 25 s, fixed 15 s and WebRTC-style
//! consent.
//!
//! ```sh
//! cargo run --release -p pinhole-netsim --example keepalive
//! ```

use pinhole_netsim::scenario::keepalive::{self, Policy, Profile};

fn main() {
    let started = std::time::Instant::now();
    let mut all = Vec::new();
    for profile in Profile::all() {
        for policy in Policy::all() {
            all.push(keepalive::run(profile, policy, 1));
        }
    }
    println!("{}", keepalive::table(&all));
    println!(
        "{} runs of one virtual hour in {:.2} s",
        all.len(),
        started.elapsed().as_secs_f64()
    );
}
