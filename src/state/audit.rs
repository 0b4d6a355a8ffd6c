//! The audit log as replicated state: records chained by hash, in order of
//! apply. Apply assigns each record its sequence number and computes its
//! hash from the previous one (deterministic: no clock, no randomness).

use prost::Message;

use super::error::{Result, StateError};
use super::kv::{Kv, Txn};
use super::{keys, record};
use crate::audit::chain;
use crate::proto::storage::{AppendAudit, AuditHead, AuditRecord, TrimAudit};

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

pub(super) fn append(txn: &mut Txn<'_>, op: &AppendAudit) -> Result<AuditRecord> {
    let mut rec = op.record.clone().ok_or_else(|| StateError::InvalidArgument("no audit record".into()))?;
    let mut head = head(txn)?;
    chain::link(&mut rec, head.last_seq + 1, &head.last_hash);
    head.last_seq = rec.seq;
    head.last_hash = rec.hash.clone();
    txn.put(keys::audit_record(rec.seq), rec.encode_to_vec());
    txn.put(keys::AUDIT_HEAD.to_vec(), head.encode_to_vec());
    Ok(rec)
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
