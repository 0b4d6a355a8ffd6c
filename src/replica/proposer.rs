//! Group commit: concurrent writes are collected into one command, so many
//! client writes share one log entry, one append and one fsync. While a
//! batch is in flight the next one fills up; at most `MAX_IN_FLIGHT` batches
//! are proposed at once.

use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::clock::Clock;
use super::error::{ReplicaError, Result};
use crate::proto::storage::{Command, Op};
use crate::raft::Raft;
use crate::state::OpOutput;

/// Most operations in one command.
const MAX_OPS: usize = 512;
/// Most encoded bytes in one command (keeps peer messages bounded).
const MAX_BYTES: usize = 4 << 20;
/// Most commands being replicated at once.
const MAX_IN_FLIGHT: usize = 8;
/// How long a write may take before its outcome is reported unknown.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

type Reply = oneshot::Sender<Result<OpOutput>>;

/// Submits operations to be replicated (cheap to clone).
#[derive(Clone)]
pub struct Proposer {
    tx: mpsc::Sender<(Op, Reply)>,
}

impl Proposer {
    /// Starts the batching task for `raft`.
    pub fn start(raft: Raft, clock: Clock) -> Self {
        let (tx, rx) = mpsc::channel(16 * MAX_OPS);
        tokio::spawn(run(raft, clock, rx));
        Proposer { tx }
    }

    /// Replicates `op` and returns its result once it is committed and applied.
    /// A timeout means the outcome is unknown: the operation may still apply.
    pub async fn propose(&self, op: Op) -> Result<OpOutput> {
        let (reply, rx) = oneshot::channel();
        self.tx.send((op, reply)).await.map_err(|_| ReplicaError::Unavailable("node is shutting down".into()))?;
        match tokio::time::timeout(WRITE_TIMEOUT, rx).await {
            Err(_) => Err(ReplicaError::Timeout(WRITE_TIMEOUT)),
            Ok(Err(_)) => Err(ReplicaError::Unavailable("node is shutting down".into())),
            Ok(Ok(result)) => result,
        }
    }
}

async fn run(raft: Raft, clock: Clock, mut rx: mpsc::Receiver<(Op, Reply)>) {
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        // Wait for a slot first: the queue keeps filling meanwhile, which is
        // what makes batches large under load.
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let mut bytes = first.0.encoded_len();
        let mut batch = vec![first];
        while batch.len() < MAX_OPS && bytes < MAX_BYTES {
            match rx.try_recv() {
                Ok(item) => {
                    bytes += item.0.encoded_len();
                    batch.push(item);
                }
                Err(_) => break,
            }
        }
        let raft = raft.clone();
        let now = clock.now();
        tokio::spawn(async move {
            commit(&raft, now, batch).await;
            drop(permit);
        });
    }
}

async fn commit(raft: &Raft, now: i64, batch: Vec<(Op, Reply)>) {
    let (ops, replies): (Vec<Op>, Vec<Reply>) = batch.into_iter().unzip();
    let count = ops.len();
    let cmd = Command { now, ops };
    match raft.client_write(cmd).await {
        Ok(resp) => {
            let mut results = resp.data.0.into_iter();
            for reply in replies {
                let r =
                    results.next().unwrap_or_else(|| Err(crate::state::StateError::Storage("missing result".into())));
                let _ = reply.send(r.map_err(ReplicaError::State));
            }
        }
        Err(e) => {
            let err = ReplicaError::from(e);
            tracing::debug!(count, error = %err, "batch not committed");
            for reply in replies {
                let _ = reply.send(Err(err.clone()));
            }
        }
    }
}
