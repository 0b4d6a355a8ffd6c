//! Fault injection for the peer network: tests make a node unreachable or slow
//! down its traffic, as a partitioned or distant region would. In production
//! nothing sets a fault, and the check is one uncontended lock.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::NodeId;

/// Shared fault switches for a set of nodes (one per in-process cluster).
#[derive(Clone, Default)]
pub struct Faults(Arc<Mutex<State>>);

#[derive(Default)]
struct State {
    /// Nodes cut off from every peer, in both directions.
    isolated: HashSet<NodeId>,
    /// Extra latency added to every peer message.
    delay: Option<Duration>,
}

impl Faults {
    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        // A poisoned lock only means a test panicked while holding it; the
        // switches are still meaningful.
        let mut s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s)
    }

    /// Cuts `node` off from all peers.
    pub fn isolate(&self, node: NodeId) {
        self.with(|s| s.isolated.insert(node));
    }

    /// Reconnects `node`.
    pub fn heal(&self, node: NodeId) {
        self.with(|s| s.isolated.remove(&node));
    }

    /// Adds `delay` to every peer message (`None` removes it).
    pub fn set_delay(&self, delay: Option<Duration>) {
        self.with(|s| s.delay = delay);
    }

    /// Whether a message between `a` and `b` is dropped.
    pub fn is_cut(&self, a: NodeId, b: NodeId) -> bool {
        self.with(|s| s.isolated.contains(&a) || s.isolated.contains(&b))
    }

    /// The configured extra latency.
    pub fn delay(&self) -> Option<Duration> {
        self.with(|s| s.delay)
    }
}
