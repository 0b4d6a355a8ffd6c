//! Fail-stop: a node whose Raft core stops on an error (its log or its
//! state could not be written) stops serving. Left running, it would answer
//! stale reads from a state it no longer keeps up to date and make every
//! other request wait out its retries. Stopped, it refuses connections, so
//! clients move on to the other nodes at once. `coffer server` then exits
//! with an error for its supervisor to restart it; a restarted node
//! recovers from what is on its disk and catches up from the leader.

use openraft::error::Fatal;
use tokio::sync::watch;

use crate::raft::Raft;

/// Watches `raft` and, if its core stops on an error, records the error
/// in `failed` and stops the node's servers through `stop`. Ends quietly
/// when Raft is shut down normally.
pub(super) async fn watch(raft: Raft, stop: watch::Sender<bool>, failed: watch::Sender<Option<String>>) {
    let mut metrics = raft.metrics();
    let error = loop {
        match &metrics.borrow_and_update().running_state {
            Ok(()) => {}
            Err(Fatal::Stopped) => return,
            Err(e) => break e.to_string(),
        }
        if metrics.changed().await.is_err() {
            return;
        }
    };
    tracing::error!(%error, "Raft stopped on an error: this node stops serving");
    failed.send_replace(Some(error));
    stop.send_replace(true);
}
