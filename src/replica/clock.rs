//! The node's wall clock, as used for proposals (timestamps carried in
//! commands) and for checking validity dates on reads. Tests can move it
//! forward to exercise retention without waiting days (see `crate::faults`).

use std::time::{SystemTime, UNIX_EPOCH};

use crate::faults::ClockSkew;

/// Unix time in seconds, plus the offset tests may set (cheap to clone).
#[derive(Clone, Default)]
pub struct Clock {
    skew: ClockSkew,
}

impl Clock {
    /// Now, in unix seconds.
    pub fn now(&self) -> i64 {
        let real = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        real.saturating_add(self.skew.secs())
    }

    /// Moves this node's clock forward by `secs` (tests only: a node whose
    /// clock is off proposes wrong timestamps).
    #[cfg(feature = "fault-injection")]
    pub fn advance_for_tests(&self, secs: i64) {
        self.skew.advance(secs);
    }
}
