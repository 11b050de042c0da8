//! The virtual clock: a fixed base `Instant` plus a virtual offset.
//!
//! Time only moves when the simulator jumps to the next scheduled thing; nothing
//! here ever reads the wall clock except once, to pick the base.

use std::time::{Duration, Instant};

/// Virtual time. `now()` is `base + offset`; the offset is what traces print.
#[derive(Debug, Clone)]
pub struct Clock {
    base: Instant,
    offset: Duration,
}

impl Clock {
    /// A clock starting at offset zero from `base`.
    pub fn new(base: Instant) -> Self {
        Clock {
            base,
            offset: Duration::ZERO,
        }
    }

    /// The `Instant` handed to endpoints.
    pub fn now(&self) -> Instant {
        self.base + self.offset
    }

    /// The fixed base: the `Instant` of virtual time zero.
    pub fn base(&self) -> Instant {
        self.base
    }

    /// Virtual time elapsed since the base.
    pub fn elapsed(&self) -> Duration {
        self.offset
    }

    /// Converts an `Instant` into a virtual offset (instants before the base clamp to zero).
    pub fn offset_of(&self, t: Instant) -> Duration {
        t.saturating_duration_since(self.base)
    }

    /// Moves the clock forward; never backwards.
    pub(crate) fn advance_to(&mut self, offset: Duration) {
        if offset > self.offset {
            self.offset = offset;
        }
    }
}

/// Formats a virtual offset as seconds with nanoseconds, for traces.
pub fn fmt_offset(d: Duration) -> String {
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}
