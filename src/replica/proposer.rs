//! Group commit: concurrent writes are collected into one command, so many
//! client writes share one log entry, one append and one fsync on every
//! node. One batch is replicated at a time; the next one fills up
//! meanwhile, so the load itself sets the batch size. (Up to 8 batches at
//! once made 3-5x more, smaller entries and was slower at every
//! concurrency measured: per-entry costs — an fsync on each node,
//! replication, apply — dominate. See bench/RESULTS.md.)

use std::time::Duration;

use prost::Message;
use tokio::sync::{mpsc, oneshot};

use super::clock::Clock;
use super::error::{ReplicaError, Result};
use crate::proto::storage::{Command, Op};
use crate::raft::{NodeId, Raft};
use crate::state::OpOutput;

/// Most operations in one command.
const MAX_OPS: usize = 512;
/// Most encoded bytes in one command (keeps peer messages bounded).
const MAX_BYTES: usize = 4 << 20;
/// How long a write may take before its outcome is reported unknown.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

type Reply = oneshot::Sender<Result<Applied>>;

/// An operation's result and the leadership that committed it.
#[derive(Debug)]
pub struct Applied {
    /// What the operation produced.
    pub output: OpOutput,
    /// The entry's term and the leader that proposed it.
    pub by: CommittedBy,
}

/// The leader (and its term) that proposed a committed entry: a commit by
/// this node in term `t` proves it led in term `t` at a time a quorum
/// accepted the entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommittedBy {
    /// The entry's term.
    pub term: u64,
    /// The leader that proposed it.
    pub leader: NodeId,
}

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
    pub async fn propose(&self, op: Op) -> Result<Applied> {
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
    while let Some(first) = rx.recv().await {
        // The queue filled while the previous batch was being committed:
        // everything in it is the next batch.
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
        // Callers that gave up (timed out: outcome unknown to them) are not
        // proposed any more: their write would land at an unpredictable time.
        batch.retain(|(_, reply)| !reply.is_closed());
        if !batch.is_empty() {
            commit(&raft, clock.now(), batch).await;
        }
    }
}

async fn commit(raft: &Raft, now: i64, batch: Vec<(Op, Reply)>) {
    let (ops, replies): (Vec<Op>, Vec<Reply>) = batch.into_iter().unzip();
    let count = ops.len();
    let cmd = Command { now, ops };
    // Bounded: a batch whose entry can never be answered (e.g. appended by a
    // deposed leader and purged behind a snapshot) must not stall the
    // batches behind it. Its outcome is unknown, like any timed-out write.
    let outcome = match tokio::time::timeout(WRITE_TIMEOUT, raft.client_write(std::sync::Arc::new(cmd))).await {
        Ok(r) => r.map_err(ReplicaError::from),
        Err(_) => Err(ReplicaError::Timeout(WRITE_TIMEOUT)),
    };
    match outcome {
        Ok(resp) => {
            let by = CommittedBy { term: resp.log_id.leader_id.term, leader: resp.log_id.leader_id.node_id };
            let mut results = resp.data.0.into_iter();
            for reply in replies {
                let r =
                    results.next().unwrap_or_else(|| Err(crate::state::StateError::Storage("missing result".into())));
                let _ = reply.send(r.map(|output| Applied { output, by }).map_err(ReplicaError::State));
            }
        }
        Err(err) => {
            tracing::debug!(count, error = %err, "batch not committed");
            for reply in replies {
                let _ = reply.send(Err(err.clone()));
            }
        }
    }
}
