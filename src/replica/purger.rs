//! The leader purges soft-deleted objects whose retention has passed. The
//! decision to purge is the leader's (it reads its clock); the purge itself
//! is an ordinary replicated command that apply re-checks against the time
//! carried in the command.

use std::time::Duration;

use openraft::ServerState;

use super::{Consistency, Replica};
use crate::proto::storage::{op, PurgeSecret};
use crate::state::secrets;

/// Most purges proposed per sweep.
const BATCH: usize = 256;

/// Runs the sweep every `every` until the node shuts down.
pub async fn run(replica: Replica, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        if replica.raft().metrics().borrow().state != ServerState::Leader {
            continue;
        }
        if let Err(e) = sweep(&replica).await {
            tracing::warn!(error = %e, "purge sweep failed");
        }
    }
}

/// Purges every due object once; returns how many were purged.
pub async fn sweep(replica: &Replica) -> super::Result<usize> {
    let now = replica.clock().now();
    let due = replica.read(Consistency::Stale, |kv| secrets::due_for_purge(kv, now, BATCH)).await?;
    let mut purged = 0;
    for (vault, name) in due {
        let op = op::Kind::PurgeSecret(PurgeSecret { vault, name, scheduled: true });
        match replica.write(op).await {
            Ok(_) => purged += 1,
            Err(e) => tracing::debug!(error = %e, "scheduled purge skipped"),
        }
    }
    Ok(purged)
}
