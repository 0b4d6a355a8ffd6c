//! No faults: what a build without the `fault-injection` feature has. Each
//! type has the questions of its counterpart in `injected`, always answered
//! "no fault", and none of its switches.

use std::time::Duration;

/// Peer network faults: never any.
#[derive(Clone, Default)]
pub struct Faults(());

impl Faults {
    /// Never cut.
    #[inline(always)]
    pub fn cut(&self, _a: u64, _b: u64) -> Option<&'static str> {
        None
    }

    /// Never delayed.
    #[inline(always)]
    pub fn delay(&self) -> Option<Duration> {
        None
    }
}

/// Log-sync faults: never any.
#[derive(Default)]
pub struct Disk(());

impl Disk {
    /// Syncs are never held.
    #[inline(always)]
    pub fn held(&self) -> bool {
        false
    }

    /// Syncs never fail on purpose.
    #[inline(always)]
    pub fn failure(&self) -> Option<&'static str> {
        None
    }
}

/// Snapshot install faults: never any.
#[derive(Clone, Default)]
pub struct Install(());

impl Install {
    /// An install never breaks off.
    #[inline(always)]
    pub fn take(&self) -> Option<&'static str> {
        None
    }
}

/// The clock's offset: always none.
#[derive(Clone, Default)]
pub struct ClockSkew(());

impl ClockSkew {
    /// No offset.
    #[inline(always)]
    pub fn secs(&self) -> i64 {
        0
    }
}
