//! The audit log as replicated state: records chained by hash, in order of
//! apply. Apply assigns each record its sequence number and computes its
//! hash from the previous one (deterministic: no clock, no randomness).
//! Anchors — keyed MACs of a record's position and hash, made by the leader
//! before they are proposed — are stored as they come.

use prost::Message;

use super::error::{Result, StateError};
use super::kv::{Kv, Txn};
use super::{keys, record};
use crate::audit::chain;
use crate::proto::storage::{AnchorAudit, AuditAnchor, AuditHead, AuditRecord, TrimAudit};

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

/// Up to `limit` anchors of records after `after_seq`, in order, while `keep`
/// is true.
pub fn anchors(
    kv: &dyn Kv,
    after_seq: u64,
    limit: usize,
    mut keep: impl FnMut(&AuditAnchor) -> bool,
) -> Result<Vec<AuditAnchor>> {
    let mut out = Vec::new();
    let after = keys::audit_anchor(after_seq);
    record::scan(kv, keys::AUDIT_ANCHORS, Some(&after), |_, a: AuditAnchor| {
        let go_on = keep(&a);
        if go_on {
            out.push(a);
        }
        go_on && out.len() < limit
    })?;
    Ok(out)
}

/// Stores an anchor of a record the chain has (and has not trimmed). Its
/// hash is not compared with the stored record's: verification does that.
pub(super) fn anchor(txn: &mut Txn<'_>, op: &AnchorAudit) -> Result<()> {
    let a = op.anchor.as_ref().ok_or_else(|| StateError::InvalidArgument("no anchor".into()))?;
    let mut head = head(txn)?;
    let trimmed = head.checkpoint.as_ref().map_or(0, |c| c.seq);
    if a.seq <= trimmed || a.seq > head.last_seq || a.hash.len() != 32 || a.mac.len() != 32 {
        return Err(StateError::InvalidArgument(format!("no audit record {} to anchor", a.seq)));
    }
    txn.put(keys::audit_anchor(a.seq), a.encode_to_vec());
    if a.seq > head.anchored_seq {
        head.anchored_seq = a.seq;
        txn.put(keys::AUDIT_HEAD.to_vec(), head.encode_to_vec());
    }
    Ok(())
}

pub(super) fn trim(txn: &mut Txn<'_>, op: &TrimAudit) -> Result<()> {
    let cp = op.checkpoint.clone().ok_or_else(|| StateError::InvalidArgument("no checkpoint".into()))?;
    let mut head = head(txn)?;
    let at = get(txn, cp.seq)?.ok_or_else(|| StateError::InvalidArgument(format!("no audit record {}", cp.seq)))?;
    if at.hash != cp.hash || cp.signature.is_empty() {
        return Err(StateError::InvalidArgument("the checkpoint does not match the chain".into()));
    }
    let mut doomed = Vec::new();
    for (prefix, last) in
        [(keys::AUDIT_RECORDS, keys::audit_record(cp.seq)), (keys::AUDIT_ANCHORS, keys::audit_anchor(cp.seq))]
    {
        txn.scan(prefix, None, &mut |k, _| {
            let keep_going = k <= last.as_slice();
            if keep_going {
                doomed.push(k.to_vec());
            }
            keep_going
        })?;
    }
    for k in doomed {
        txn.delete(k);
    }
    head.checkpoint = Some(cp);
    txn.put(keys::AUDIT_HEAD.to_vec(), head.encode_to_vec());
    Ok(())
}
