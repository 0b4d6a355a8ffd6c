//! The audit record of the request being served, carried with the
//! handler's task, so that the request's write can take it along into the
//! same Raft entry (one round trip instead of two; the write and its record
//! commit together or not at all).
//!
//! The record's commit also vouches for a read-only request's linearizable
//! reads on the leader (see [`defer_read`]): they skip their own leadership
//! check.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::proto::storage::{AuditHmac, AuditRecord};
use crate::raft::CommittedBy;

tokio::task_local! {
    static CURRENT: Context;
}

/// One request's audit record in the making.
#[derive(Clone)]
pub struct Context(Arc<Mutex<State>>);

struct State {
    record: AuditRecord,
    started: Instant,
    /// Taken by a write (its outcome then decides `recorded`).
    taken: bool,
    /// The record is committed (with the write's result).
    recorded: bool,
    /// The request only reads: its reads may be vouched for by its record.
    read_only: bool,
    /// Reads made without their own leadership check need the record
    /// committed by this leader in this term.
    vouch: Option<CommittedBy>,
    /// The record was committed as `vouch` requires.
    vouched: bool,
}

impl Context {
    /// A context for a request whose record starts as `record`; a
    /// `read_only` request (one that never writes) may defer its reads'
    /// leadership check to its record's commit.
    pub fn new(record: AuditRecord, started: Instant, read_only: bool) -> Context {
        Context(Arc::new(Mutex::new(State {
            record,
            started,
            taken: false,
            recorded: false,
            read_only,
            vouch: None,
            vouched: false,
        })))
    }

    /// Runs `f` with this context as the current one.
    pub async fn scope<F: std::future::Future>(&self, f: F) -> F::Output {
        CURRENT.scope(self.clone(), f).await
    }

    /// Whether a write already committed the record.
    pub fn recorded(&self) -> bool {
        self.lock().recorded
    }

    /// Whether the request read without a leadership check that its
    /// record's commit has not made good (its result must be withheld).
    pub fn unvouched(&self) -> bool {
        let s = self.lock();
        s.vouch.is_some() && !s.vouched
    }

    /// The record was committed by `by` (whatever the request's result).
    pub fn committed(&self, by: Option<CommittedBy>) {
        let mut s = self.lock();
        s.recorded = true;
        s.vouched = s.vouch.is_some() && s.vouch == by;
    }

    /// The record as it stands, taken out (for appending it separately,
    /// once the request is done: nothing annotates it after that).
    pub fn take_record(&self) -> AuditRecord {
        std::mem::take(&mut self.lock().record)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Adds particulars known before the request's write: the version it
/// writes, HMACs of sensitive values, details.
pub fn annotate(version: &str, hmacs: &[AuditHmac], detail: &str) {
    let _ = CURRENT.try_with(|c| {
        let mut s = c.lock();
        if !version.is_empty() {
            s.record.version = version.into();
        }
        s.record.hmacs.extend_from_slice(hmacs);
        if !detail.is_empty() {
            s.record.detail = detail.into();
        }
    });
}

/// The current request's record, for its first write to carry (once).
pub fn take() -> Option<(Context, AuditRecord)> {
    CURRENT
        .try_with(|c| {
            let mut s = c.lock();
            if s.taken {
                return None;
            }
            s.taken = true;
            let mut record = s.record.clone();
            record.duration_us = s.started.elapsed().as_micros() as u64;
            Some((c.clone(), record))
        })
        .ok()
        .flatten()
}

/// Lets the current request read on the leader without a leadership check
/// (read index) of its own, because its audit record will be committed
/// after the read. If that record's entry was proposed `by` this node in the
/// term it led when the read began, no other leader can have acknowledged a
/// write the read missed: writes of earlier terms were applied before the
/// read (callers check that this node leads and has applied an entry of
/// its term), writes of this term are applied here before they are
/// acknowledged, and any leader of a later term has the entry — created
/// after the read — before all of its own entries in its log (even when
/// that later leader is the one that commits it).
///
/// Only requests that never write qualify: the check comes after the
/// response is decided, so it can withhold an answer but not undo a write
/// decided on the read. Returns false — the read needs its own check —
/// outside an audited read-only request, after its record is committed, or
/// when an earlier read of the request was vouched for by another
/// leadership.
pub fn defer_read(by: CommittedBy) -> bool {
    CURRENT
        .try_with(|c| {
            let mut s = c.lock();
            if !s.read_only || s.recorded || s.vouch.is_some_and(|v| v != by) {
                return false;
            }
            s.vouch = Some(by);
            true
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BY_1: CommittedBy = CommittedBy { term: 3, leader: 1 };
    const BY_2: CommittedBy = CommittedBy { term: 4, leader: 2 };

    fn context() -> Context {
        Context::new(AuditRecord::default(), Instant::now(), true)
    }

    #[tokio::test]
    async fn a_deferred_read_is_vouched_for_only_by_its_own_leadership() {
        for (committed_by, vouched) in [(Some(BY_1), true), (Some(BY_2), false), (None, false)] {
            let c = context();
            assert!(c.scope(async { defer_read(BY_1) }).await);
            assert!(c.unvouched());
            c.committed(committed_by);
            assert_eq!(c.unvouched(), !vouched, "committed by {committed_by:?}");
        }
    }

    #[tokio::test]
    async fn reads_are_deferred_only_in_read_only_requests_before_their_record_under_one_leadership() {
        assert!(!defer_read(BY_1), "no request");
        let c = context();
        c.scope(async {
            assert!(defer_read(BY_1));
            assert!(defer_read(BY_1), "a second read under the same leadership");
            assert!(!defer_read(BY_2), "a read under another leadership");
        })
        .await;
        let writer = Context::new(AuditRecord::default(), Instant::now(), false);
        assert!(!writer.scope(async { defer_read(BY_1) }).await, "a request that may write");
        assert!(!writer.unvouched());
        let done = context();
        done.committed(Some(BY_1));
        assert!(!done.scope(async { defer_read(BY_1) }).await, "the record is committed already");
    }

    #[tokio::test]
    async fn requests_without_deferred_reads_need_no_vouching() {
        let c = context();
        assert!(!c.unvouched());
        c.committed(Some(BY_1));
        assert!(!c.unvouched());
    }
}
