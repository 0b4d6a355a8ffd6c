//! The audit record of the request being served, carried with the
//! handler's task, so that the request's write can take it along into the
//! same Raft entry (one round trip instead of two; the write and its record
//! commit together or not at all).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::proto::storage::{AuditHmac, AuditRecord};

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
}

impl Context {
    /// A context for a request whose record starts as `record`.
    pub fn new(record: AuditRecord, started: Instant) -> Context {
        Context(Arc::new(Mutex::new(State { record, started, taken: false, recorded: false })))
    }

    /// Runs `f` with this context as the current one.
    pub async fn scope<F: std::future::Future>(&self, f: F) -> F::Output {
        CURRENT.scope(self.clone(), f).await
    }

    /// Whether a write already committed the record.
    pub fn recorded(&self) -> bool {
        self.lock().recorded
    }

    /// The record as it stands (for appending it separately).
    pub fn record(&self) -> AuditRecord {
        self.lock().record.clone()
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

/// The write that took the record committed (whatever its own result).
pub fn committed(c: &Context) {
    c.lock().recorded = true;
}
