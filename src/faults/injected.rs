//! The fault switches tests set (the `fault-injection` feature). Each type
//! answers the questions the production code asks, like its zero-sized
//! counterpart in `none`, and adds the switches.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Shared peer network fault switches for a set of nodes (one per
/// in-process cluster): a node made unreachable, as a partitioned region
/// would be, or all traffic slowed down, as a distant one would be.
#[derive(Clone, Default)]
pub struct Faults(Arc<Mutex<Peers>>);

#[derive(Default)]
struct Peers {
    /// Nodes cut off from every peer, in both directions.
    isolated: HashSet<u64>,
    /// Extra latency added to every peer message.
    delay: Option<Duration>,
}

impl Faults {
    fn with<R>(&self, f: impl FnOnce(&mut Peers) -> R) -> R {
        // A poisoned lock only means a test panicked while holding it; the
        // switches are still meaningful.
        let mut s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s)
    }

    /// Cuts `node` off from all peers.
    pub fn isolate(&self, node: u64) {
        self.with(|s| s.isolated.insert(node));
    }

    /// Reconnects `node`.
    pub fn heal(&self, node: u64) {
        self.with(|s| s.isolated.remove(&node));
    }

    /// Adds `delay` to every peer message (`None` removes it).
    pub fn set_delay(&self, delay: Option<Duration>) {
        self.with(|s| s.delay = delay);
    }

    /// Why a message between `a` and `b` is dropped, if it is.
    pub fn cut(&self, a: u64, b: u64) -> Option<&'static str> {
        let cut = self.with(|s| s.isolated.contains(&a) || s.isolated.contains(&b));
        cut.then_some("injected partition")
    }

    /// The extra latency of every peer message.
    pub fn delay(&self) -> Option<Duration> {
        self.with(|s| s.delay)
    }
}

/// A node's log-sync faults: syncs held back, as a disk that has stopped
/// answering would hold them, or failing, as a disk returning errors would.
#[derive(Default)]
pub struct Disk {
    held: AtomicBool,
    broken: AtomicBool,
}

impl Disk {
    /// Whether syncs are held back.
    pub fn held(&self) -> bool {
        self.held.load(Ordering::SeqCst)
    }

    /// Why a sync fails, if it is made to.
    pub fn failure(&self) -> Option<&'static str> {
        self.broken.load(Ordering::SeqCst).then_some("the disk is broken (a test fault)")
    }

    /// Holds syncs back (`true`) or lets them go on.
    pub fn hold(&self, held: bool) {
        self.held.store(held, Ordering::SeqCst);
    }

    /// Makes every sync from now on fail.
    pub fn break_syncs(&self) {
        self.broken.store(true, Ordering::SeqCst);
    }
}

/// A node's snapshot install fault: the next install breaks off after its
/// first record, as a stop in the middle would leave it (shared: the state
/// machine takes it, the node sets it).
#[derive(Clone, Default)]
pub struct Install(Arc<AtomicBool>);

impl Install {
    /// Why the install now starting breaks off, if it does (once).
    pub fn take(&self) -> Option<&'static str> {
        self.0.swap(false, Ordering::SeqCst).then_some("the install was broken off (a test fault)")
    }

    /// Makes the next install break off.
    pub fn break_next(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// How far a node's clock is moved forward, seconds (shared by the clones
/// of its clock).
#[derive(Clone, Default)]
pub struct ClockSkew(Arc<AtomicI64>);

impl ClockSkew {
    /// The offset, seconds.
    pub fn secs(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Moves the clock forward by `secs`.
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::Relaxed);
    }
}
