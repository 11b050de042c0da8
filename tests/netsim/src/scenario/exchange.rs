//! One application datagram each way across the call's selected path, and
//! where it went: sent with `Session::send`, received as the session's
//! `Output::Datagram` at the other end, and counted (or not) by the TURN
//! server model's application-data counters, which only such datagrams move
//! (checks and consent are STUN, which those counters leave out).

use super::call::Call;
use std::time::Duration;

/// What Alice sends.
pub const ALICE_SAYS: &[u8] = b"alice to bob";
/// What Bob sends.
pub const BOB_SAYS: &[u8] = b"bob to alice";
/// A datagram not received by then is sent again (the app's retry; only lossy
/// links need it).
pub const RESEND: Duration = Duration::from_millis(250);
/// Longest an exchange may take.
pub const LIMIT: Duration = Duration::from_secs(3);

/// The result of one exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// When Alice's datagram reached Bob's application (since start).
    pub alice_to_bob: Option<Duration>,
    /// When Bob's datagram reached Alice's application.
    pub bob_to_alice: Option<Duration>,
    /// Datagrams each side sent (resent every [`RESEND`] until received).
    pub sends: [u32; 2],
    /// Application datagrams the TURN server relayed during the exchange,
    /// client → peer (out of a relayed address).
    pub relayed_to_peer: u64,
    /// The same, peer → client (into a relayed address).
    pub relayed_to_client: u64,
    /// Path changes (either side) during the exchange: 0 means the datagrams
    /// crossed the path the outcome reports.
    pub path_changes: usize,
    /// `send` errors, if a side refused to send.
    pub errors: Vec<String>,
}

impl Exchange {
    /// Each side's datagram reached the other.
    pub fn both_ways(&self) -> bool {
        self.alice_to_bob.is_some() && self.bob_to_alice.is_some()
    }

    /// Whether the datagrams went through the TURN server (at least one
    /// relayed each way), or provably not (none at all).
    pub fn through_relay(&self) -> Option<bool> {
        match (self.relayed_to_peer, self.relayed_to_client) {
            (0, 0) => Some(false),
            (p, c) if p > 0 && c > 0 => Some(true),
            _ => None,
        }
    }
}

/// Runs the exchange on a call whose sides have a path.
pub fn exchange(call: &mut Call) -> Exchange {
    let before = call.turn().stats().clone();
    let paths_before: usize = (0..2).map(|i| call.ep(i).paths().count()).sum();
    let from = call.elapsed();
    let deadline = call.net.now() + LIMIT;
    let said = [ALICE_SAYS, BOB_SAYS];
    let arrived = |c: &Call, to: usize| {
        c.ep(to)
            .data
            .iter()
            .find(|d| d.at >= from && d.bytes == said[1 - to])
            .map(|d| d.at)
    };
    let mut sends = [0u32; 2];
    let mut errors = Vec::new();
    loop {
        let now = call.net.now();
        for i in 0..2 {
            if arrived(call, 1 - i).is_none() {
                sends[i] += 1;
                if let Err(e) = call.ep_mut(i).send(now, said[i]) {
                    errors.push(format!("side {i}: {e}"));
                }
            }
        }
        let until = (now + RESEND).min(deadline);
        let done = call.run(until, |c| {
            arrived(c, 0).is_some() && arrived(c, 1).is_some()
        });
        if done || call.net.now() >= deadline || !errors.is_empty() {
            break;
        }
    }
    let after = call.turn().stats();
    let paths_after: usize = (0..2).map(|i| call.ep(i).paths().count()).sum();
    Exchange {
        alice_to_bob: arrived(call, 1),
        bob_to_alice: arrived(call, 0),
        sends,
        relayed_to_peer: after.relayed_data_to_peer_packets - before.relayed_data_to_peer_packets,
        relayed_to_client: after.relayed_data_to_client_packets
            - before.relayed_data_to_client_packets,
        path_changes: paths_after - paths_before,
        errors,
    }
}
