//! A node's fault switches for tests (the `fault-injection` feature; see
//! `crate::faults`).

use super::{Node, NodeError};
use crate::config::Config;
use crate::faults::Faults;

impl Node {
    /// Starts a node whose peer traffic obeys `faults`.
    pub async fn start_with_faults(config: Config, faults: Faults) -> Result<Node, NodeError> {
        Self::launch(config, faults).await
    }

    /// Holds back (`true`) or lets go on the syncs of this node's Raft log,
    /// as a disk that has stopped answering would. Writes this node leads
    /// then commit on the followers but are not applied or answered.
    pub fn hold_log_syncs(&self, held: bool) {
        self.durable.hold(held);
    }

    /// Makes every sync of this node's Raft log fail from now on, as a
    /// disk returning errors would.
    pub fn break_log_syncs(&self) {
        self.durable.break_syncs();
    }

    /// Makes the next snapshot this node installs break off after its first
    /// record, as a stop in the middle would leave it. The install fails, so
    /// the node stops serving (see [`Node::failure`]); restarted, it
    /// recovers (see `storage::install`).
    pub fn break_next_snapshot_install(&self) {
        self.install_fault.break_next();
    }
}
