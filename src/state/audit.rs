//! The audit log as replicated state: records chained by hash, in order of
//! apply. Apply assigns each record its sequence number and computes its
//! hash from the previous one (deterministic: no clock, no randomness).

use prost::Message;

use super::error::{Result, StateError};
use super::kv::{Kv, Txn};
use super::{keys, record};
use crate::audit::chain;
use crate::proto::storage::{AuditHead, AuditRecord, TrimAudit};

/// The chain's head (empty before the first record).
pub fn head(kv: &dyn Kv) -> Result<AuditHead> {
    Ok(record::load(kv, keys::AUDIT_HEAD)?.unwrap_or_default())
}

/// Record `seq`, if stored.
pub fn get(kv: &dyn Kv, seq: u64) -> Result<Option<AuditRecord>> {
    record::load(kv, &keys::audit_record(seq))
}

/// Up to `limit` records after `after_seq`, in order, for which `keep` is true.
pub fn range(
    kv: &dyn Kv,
    after_seq: u64,
    limit: usize,
    mut keep: impl FnMut(&AuditRecord) -> bool,
) -> Result<Vec<AuditRecord>> {
    let mut out = Vec::new();
    let after = keys::audit_record(after_seq);
    record::scan(kv, keys::AUDIT_RECORDS, Some(&after), |_, r: AuditRecord| {
        if keep(&r) {
            out.push(r);
        }
        out.len() < limit
    })?;
    Ok(out)
}

/// Appends `rec` to the chain; returns its sequence number.
pub(super) fn append(txn: &mut Txn<'_>, rec: &AuditRecord) -> Result<u64> {
    let mut head = head(txn)?;
    let seq = head.last_seq + 1;
    let (stored, hash) = chain::chain(rec, seq, &head.last_hash);
    head.last_seq = seq;
    head.last_hash = hash.to_vec();
    txn.put(keys::audit_record(seq), stored);
    txn.put(keys::AUDIT_HEAD.to_vec(), head.encode_to_vec());
    Ok(seq)
}

pub(super) fn trim(txn: &mut Txn<'_>, op: &TrimAudit) -> Result<()> {
    let cp = op.checkpoint.clone().ok_or_else(|| StateError::InvalidArgument("no checkpoint".into()))?;
    let mut head = head(txn)?;
    let at = get(txn, cp.seq)?.ok_or_else(|| StateError::InvalidArgument(format!("no audit record {}", cp.seq)))?;
    if at.hash != cp.hash || cp.signature.is_empty() {
        return Err(StateError::InvalidArgument("the checkpoint does not match the chain".into()));
    }
    let mut doomed = Vec::new();
    txn.scan(keys::AUDIT_RECORDS, None, &mut |k, _| {
        let keep_going = k <= keys::audit_record(cp.seq).as_slice();
        if keep_going {
            doomed.push(k.to_vec());
        }
        keep_going
    })?;
    for k in doomed {
        txn.delete(k);
    }
    head.checkpoint = Some(cp);
    txn.put(keys::AUDIT_HEAD.to_vec(), head.encode_to_vec());
    Ok(())
}
