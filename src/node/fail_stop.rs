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
    // The server metrics change only with the node's role, vote or leader,
    // not with every commit as the full metrics do, and their sender goes
    // when Raft's core ends, after it has set `running_state`.
    let mut server = raft.server_metrics();
    while server.changed().await.is_ok() {}
    let error = match &raft.metrics().borrow().running_state {
        Err(Fatal::Stopped) => return,
        Err(e) => e.to_string(),
        Ok(()) => "Raft's core ended without a reason".to_owned(),
    };
    tracing::error!(%error, "Raft stopped on an error: this node stops serving");
    failed.send_replace(Some(error));
    stop.send_replace(true);
}
