//! Deadlines from durations the API or the network chose.
//!
//! `Instant + Duration` panics on overflow, and a caller may well configure
//! `Duration::MAX` to mean "never" (or a server send an absurd LIFETIME). Every deadline
//! an engine machine computes from such a duration goes through [`after`], which
//! saturates instead.

use std::time::{Duration, Instant};

/// The furthest ahead a deadline is ever set: 100 years, far beyond any session.
pub(crate) const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// `t + d`, with `d` capped at [`FOREVER`]. Never panics: every platform's `Instant`
/// counts from boot (or a fixed epoch) with centuries of range left, so the capped sum
/// fits; were it ever not to, the deadline is `t` itself (due at once) rather than a
/// panic.
pub(crate) fn after(t: Instant, d: Duration) -> Instant {
    t.checked_add(d.min(FOREVER)).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturates_instead_of_panicking() {
        let t = Instant::now();
        assert_eq!(
            after(t, Duration::from_millis(5)),
            t + Duration::from_millis(5)
        );
        assert_eq!(after(t, Duration::MAX), t + FOREVER);
        assert!(after(t, Duration::MAX) > t);
    }
}
