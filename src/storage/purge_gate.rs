//! Holding back purges of the Raft log while a received snapshot is being
//! installed.
//!
//! openraft 0.9 asks the log store to purge up to a received snapshot as
//! soon as it hands the snapshot to the state machine, without waiting for
//! the install. A stop before the install is done would leave a log purged
//! past everything the state machine holds (openraft then refuses to start).
//! So once a snapshot starts arriving, a purge past what the current
//! snapshot covers is only noted, and the log store runs it when a current
//! snapshot covers it. Purges within the current snapshot (the only ones
//! openraft asks for otherwise) are never held.

use std::sync::Mutex;

use openraft::LogId;

use crate::raft::NodeId;

/// Shared by the log store and the snapshot store of one node.
#[derive(Debug, Default)]
pub struct PurgeGate(Mutex<Gate>);

#[derive(Debug, Default)]
struct Gate {
    /// A snapshot has arrived or is arriving and is not installed yet.
    receiving: bool,
    /// What the current snapshot covers.
    covered: Option<LogId<NodeId>>,
    /// The furthest purge held back.
    held: Option<LogId<NodeId>>,
}

impl PurgeGate {
    fn gate(&self) -> std::sync::MutexGuard<'_, Gate> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A snapshot has started to arrive.
    pub fn receiving(&self) {
        self.gate().receiving = true;
    }

    /// This node built a snapshot covering `covers`; it is current now.
    pub fn built(&self, covers: Option<LogId<NodeId>>) {
        self.gate().covered = covers;
    }

    /// A received snapshot covering `covers` is installed and current now.
    pub fn installed(&self, covers: Option<LogId<NodeId>>) {
        let mut g = self.gate();
        g.receiving = false;
        g.covered = covers;
    }

    /// Whether the log may be purged through `upto` now; if not, the purge
    /// is held for [`PurgeGate::ready`].
    pub fn admit(&self, upto: LogId<NodeId>) -> bool {
        let mut g = self.gate();
        let hold = g.receiving && Some(upto) > g.covered;
        if hold {
            g.held = g.held.max(Some(upto));
        }
        !hold
    }

    /// A held purge the current snapshot covers, to run now.
    pub fn ready(&self) -> Option<LogId<NodeId>> {
        let mut g = self.gate();
        if g.held.is_none() || g.held > g.covered {
            return None;
        }
        g.held.take()
    }
}

#[cfg(test)]
mod tests {
    use openraft::CommittedLeaderId;

    use super::*;

    fn id(index: u64) -> LogId<NodeId> {
        LogId::new(CommittedLeaderId::new(1, 1), index)
    }

    #[test]
    fn a_purge_past_the_current_snapshot_waits_while_one_arrives() {
        let gate = PurgeGate::default();
        assert!(gate.admit(id(5)), "nothing arriving: purge at once");
        assert_eq!(gate.ready(), None);
        gate.built(Some(id(40)));

        gate.receiving();
        assert!(gate.admit(id(35)), "within the current snapshot");
        assert!(!gate.admit(id(90)));
        assert!(!gate.admit(id(97)));
        assert_eq!(gate.ready(), None);
        // This node's own next build does not cover it either.
        gate.built(Some(id(60)));
        assert!(gate.admit(id(55)));
        assert_eq!(gate.ready(), None);
        // The received snapshot, installed.
        gate.installed(Some(id(97)));
        assert_eq!(gate.ready(), Some(id(97)));
        assert_eq!(gate.ready(), None, "once");
        assert!(gate.admit(id(120)), "no snapshot arriving any more");
    }
}
