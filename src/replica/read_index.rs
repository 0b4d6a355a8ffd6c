//! Read-index batching: concurrent linearizable reads share one leadership
//! confirmation (one heartbeat round to a quorum) instead of one each.
//!
//! A read may only use a confirmation that *started after it arrived*. The
//! batcher takes every read queued so far, confirms once, answers them all;
//! reads that arrive during a round wait for the next one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::error::{ReplicaError, Result};
use crate::raft::Raft;

type Waiter = oneshot::Sender<Result<()>>;

/// Hands out linearizable read permissions (cheap to clone).
#[derive(Clone)]
pub struct ReadIndex {
    tx: mpsc::UnboundedSender<Waiter>,
    rounds: Arc<AtomicU64>,
}

impl ReadIndex {
    /// Starts the batching task for `raft`.
    pub fn start(raft: Raft, timeout: Duration) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let rounds = Arc::new(AtomicU64::new(0));
        tokio::spawn(run(raft, timeout, rx, rounds.clone()));
        ReadIndex { tx, rounds }
    }

    /// How many confirmation rounds this node has run.
    pub fn rounds(&self) -> u64 {
        self.rounds.load(Ordering::Relaxed)
    }

    /// Returns once this node has confirmed it is the leader and has applied
    /// everything committed before this call.
    pub async fn confirm(&self) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(tx).map_err(|_| ReplicaError::Unavailable("node is shutting down".into()))?;
        rx.await.map_err(|_| ReplicaError::Unavailable("node is shutting down".into()))?
    }
}

async fn run(raft: Raft, timeout: Duration, mut rx: mpsc::UnboundedReceiver<Waiter>, rounds: Arc<AtomicU64>) {
    while let Some(first) = rx.recv().await {
        let mut waiters = vec![first];
        while let Ok(w) = rx.try_recv() {
            waiters.push(w);
        }
        // Started after every waiter above was queued: valid for all of them.
        rounds.fetch_add(1, Ordering::Relaxed);
        let result = match tokio::time::timeout(timeout, raft.ensure_linearizable()).await {
            Err(_) => Err(ReplicaError::Timeout(timeout)),
            Ok(Err(e)) => Err(e.into()),
            Ok(Ok(_)) => Ok(()),
        };
        for w in waiters {
            let _ = w.send(result.clone());
        }
    }
}
