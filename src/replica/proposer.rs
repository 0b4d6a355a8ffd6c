//! Group commit: concurrent writes are collected into one command, so many
//! client writes share one log entry, one append and one fsync on every
//! node. One batch is replicated at a time; the next one fills up
//! meanwhile, so the load itself sets the batch size. (Up to 8 batches at
//! once made 3-5x more, smaller entries and was slower at every
//! concurrency measured: per-entry costs — an fsync on each node,
//! replication, apply — dominate. See bench/RESULTS.md.)
//!
//! A write that finds no batch in Raft and none waiting is committed by
//! its caller at once, skipping the hand-offs to and from the batching
//! task; whoever commits holds the turn, so it is still one batch at a
//! time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use tokio::sync::{mpsc, oneshot, Notify};

use super::clock::Clock;
use super::error::{ReplicaError, Result};
use crate::proto::storage::{Command, Op};
pub use crate::raft::CommittedBy;
use crate::raft::Raft;
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

/// Submits operations to be replicated (cheap to clone).
#[derive(Clone)]
pub struct Proposer {
    tx: mpsc::Sender<(Op, Reply)>,
    raft: Raft,
    clock: Clock,
    turn: Arc<Turn>,
}

impl Proposer {
    /// Starts the batching task for `raft`.
    pub fn start(raft: Raft, clock: Clock) -> Self {
        let (tx, rx) = mpsc::channel(16 * MAX_OPS);
        let turn = Arc::new(Turn::default());
        tokio::spawn(run(raft.clone(), clock.clone(), rx, turn.clone()));
        Proposer { tx, raft, clock, turn }
    }

    /// Replicates `op` and returns its result once it is committed and applied.
    /// A timeout means the outcome is unknown: the operation may still apply.
    pub async fn propose(&self, op: Op) -> Result<Applied> {
        let (reply, rx) = oneshot::channel();
        if self.tx.capacity() == self.tx.max_capacity() {
            if let Some(_turn) = self.turn.try_take() {
                // `commit` answers every reply before it returns, timeouts included.
                commit(&self.raft, self.clock.now(), vec![(op, reply)]).await;
                return rx.await.unwrap_or_else(|_| Err(ReplicaError::Unavailable("node is shutting down".into())));
            }
        }
        self.tx.send((op, reply)).await.map_err(|_| ReplicaError::Unavailable("node is shutting down".into()))?;
        match tokio::time::timeout(WRITE_TIMEOUT, rx).await {
            Err(_) => Err(ReplicaError::Timeout(WRITE_TIMEOUT)),
            Ok(Err(_)) => Err(ReplicaError::Unavailable("node is shutting down".into())),
            Ok(Ok(result)) => result,
        }
    }
}

/// Who may commit a batch now: the batching task or a lone caller.
#[derive(Default)]
struct Turn {
    busy: AtomicBool,
    /// The batching task holds operations and waits for the turn: callers
    /// queue behind them instead of taking it.
    wanted: AtomicBool,
    freed: Notify,
}

impl Turn {
    /// For a caller: the turn, if it is free and the task is not waiting for it.
    fn try_take(&self) -> Option<TurnGuard<'_>> {
        if self.wanted.load(Ordering::Acquire) {
            return None;
        }
        self.grab()
    }

    fn grab(&self) -> Option<TurnGuard<'_>> {
        self.busy.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).ok().map(|_| TurnGuard(self))
    }

    /// For the batching task: waits for the turn, and keeps callers from
    /// taking it meanwhile.
    async fn take(&self) -> TurnGuard<'_> {
        self.wanted.store(true, Ordering::Release);
        let guard = loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if let Some(guard) = self.grab() {
                break guard;
            }
            freed.await;
        };
        self.wanted.store(false, Ordering::Release);
        guard
    }
}

/// Gives the turn back when dropped (also when its holder is cancelled).
struct TurnGuard<'a>(&'a Turn);

impl Drop for TurnGuard<'_> {
    fn drop(&mut self) {
        self.0.busy.store(false, Ordering::Release);
        self.0.freed.notify_one();
    }
}

async fn run(raft: Raft, clock: Clock, mut rx: mpsc::Receiver<(Op, Reply)>, turn: Arc<Turn>) {
    while let Some(first) = rx.recv().await {
        // A lone caller may be committing its own write: wait for it.
        let _turn = turn.take().await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_task_gets_the_turn_when_a_lone_caller_gives_it_back_and_callers_queue_behind_it() {
        let turn = Arc::new(Turn::default());
        let caller = turn.try_take().expect("the turn is free");
        let waiting = turn.clone();
        let (got, mut got_rx) = mpsc::channel(1);
        let task = tokio::spawn(async move {
            let guard = waiting.take().await;
            got.send(()).await.unwrap();
            // Held until the test has checked that callers cannot take it.
            tokio::time::sleep(Duration::from_millis(50)).await;
            drop(guard);
        });
        while !turn.wanted.load(Ordering::Acquire) {
            tokio::task::yield_now().await;
        }
        assert!(got_rx.try_recv().is_err(), "the task must wait while a caller commits");
        drop(caller);
        // Freed, but the task is waiting for it: a new caller queues instead.
        assert!(turn.try_take().is_none());
        got_rx.recv().await.unwrap();
        assert!(turn.try_take().is_none(), "held by the task");
        task.await.unwrap();
        assert!(turn.try_take().is_some(), "given back, and nobody waits for it");
    }
}
