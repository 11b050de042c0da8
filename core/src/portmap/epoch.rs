//! The gateway's epoch ("seconds since start of epoch"): how NAT-PMP and PCP clients learn
//! that the gateway rebooted or otherwise lost its mappings, so they must map again.

use std::time::{Duration, Instant};

/// Which RFC's rule decides that the epoch is inconsistent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EpochRule {
    /// RFC 6886 §3.6: the epoch went backwards, or it is more than 2 s below the previous
    /// one plus 7/8 of the client time elapsed since.
    NatPmp,
    /// RFC 6887 §8.5: the epoch went back by more than 1 s, or server and client deltas
    /// disagree by more than 2 s plus 1/16 of the larger.
    Pcp,
}

/// The last epoch seen and when.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Epoch {
    rule: EpochRule,
    last: Option<(u32, Instant)>,
}

impl Epoch {
    pub(crate) fn new(rule: EpochRule) -> Self {
        Epoch { rule, last: None }
    }

    /// Forgets the previous value (a new gateway).
    pub(crate) fn reset(&mut self) {
        self.last = None;
    }

    /// Records `epoch` received at `now`. True if it shows that the gateway lost its
    /// state since the previous answer.
    pub(crate) fn observe(&mut self, now: Instant, epoch: u32) -> bool {
        let lost = match self.last {
            None => false,
            Some((prev, at)) => {
                let client_ms = now.saturating_duration_since(at).as_millis() as u64;
                let (cur_ms, prev_ms) = (u64::from(epoch) * 1000, u64::from(prev) * 1000);
                match self.rule {
                    EpochRule::NatPmp => {
                        epoch < prev || cur_ms + 2000 < prev_ms + client_ms * 7 / 8
                    }
                    EpochRule::Pcp => {
                        if u64::from(epoch) + 1 < u64::from(prev) {
                            true
                        } else {
                            let server_ms = cur_ms.saturating_sub(prev_ms);
                            client_ms + 2000 < server_ms.saturating_sub(server_ms / 16)
                                || server_ms + 2000 < client_ms.saturating_sub(client_ms / 16)
                        }
                    }
                }
            }
        };
        self.last = Some((epoch, now));
        lost
    }
}

/// Whole seconds of a duration, saturating at `u32::MAX`.
pub(crate) fn whole_secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn nat_pmp_epoch_must_advance_with_seven_eighths_of_client_time() {
        let t0 = Instant::now();
        let mut e = Epoch::new(EpochRule::NatPmp);
        assert!(!e.observe(t0, 1000), "the first value is a baseline");
        assert!(!e.observe(t0 + s(100), 1100), "in step");
        // 7/8 of 80 s is 70 s: 1100 + 70 = 1170; 1168 is within the 2 s slop, 1167 is not.
        assert!(!e.observe(t0 + s(180), 1168));
        let mut e2 = Epoch::new(EpochRule::NatPmp);
        e2.observe(t0, 1100);
        assert!(
            e2.observe(t0 + s(80), 1167),
            "too little server time: rebooted"
        );
        let mut back = Epoch::new(EpochRule::NatPmp);
        back.observe(t0, 500);
        assert!(back.observe(t0, 499), "backwards at all is a reboot");
        assert!(!back.observe(t0 + s(1), 500));
        let mut reboot = Epoch::new(EpochRule::NatPmp);
        reboot.observe(t0, 5000);
        assert!(
            reboot.observe(t0 + s(60), 3),
            "a fresh epoch after a reboot"
        );
    }

    #[test]
    fn pcp_epoch_rules_of_rfc_6887_section_8_5() {
        let t0 = Instant::now();
        let mut e = Epoch::new(EpochRule::Pcp);
        e.observe(t0, 100);
        assert!(!e.observe(t0, 99), "one second back is tolerated");
        let mut e = Epoch::new(EpochRule::Pcp);
        e.observe(t0, 100);
        assert!(e.observe(t0, 98), "two seconds back is lost state");
        // Server 160 s, client 160 s: fine. Client 200 s but server only 160 s:
        // 160 + 2 < 200 - 12.5 → lost.
        let mut e = Epoch::new(EpochRule::Pcp);
        e.observe(t0, 0);
        assert!(!e.observe(t0 + s(160), 160));
        assert!(e.observe(t0 + s(360), 320));
        // The server running much faster than the client is lost state too.
        let mut e = Epoch::new(EpochRule::Pcp);
        e.observe(t0, 0);
        assert!(e.observe(t0 + s(10), 100));
    }
}
