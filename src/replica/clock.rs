//! The node's wall clock, as used for proposals (timestamps carried in
//! commands) and for checking validity dates on reads. Tests can move it
//! forward to exercise retention without waiting days.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Unix time in seconds, plus a test-only offset (cheap to clone).
#[derive(Clone, Default)]
pub struct Clock {
    offset: Arc<AtomicI64>,
}

impl Clock {
    /// Now, in unix seconds.
    pub fn now(&self) -> i64 {
        let real = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        real.saturating_add(self.offset.load(Ordering::Relaxed))
    }

    /// Moves this node's clock forward by `secs` (tests only: a node whose
    /// clock is off proposes wrong timestamps).
    pub fn advance_for_tests(&self, secs: i64) {
        self.offset.fetch_add(secs, Ordering::Relaxed);
    }
}
