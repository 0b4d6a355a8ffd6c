//! The audit log as replicated state: records chained by hash, in order of
//! apply. Apply assigns each record its sequence number and computes its
//! hash from the previous one (deterministic: no clock, no randomness).
//! Anchors — keyed MACs of a record's position and hash, made by the leader
//! before they are proposed — are stored as they come.

use prost::Message;

use super::error::{Result, StateError};
use super::kv::{Kv, Txn};
use super::{audit_chain as chain, keys, record};
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

/// What a bounded scan of the log found.
#[derive(Debug, Default)]
pub struct Scan {
    /// The records kept, in order.
    pub records: Vec<AuditRecord>,
    /// The last sequence number read (the one scanned after, when none was).
    pub through: u64,
    /// Whether the scan read to the end of the log.
    pub at_end: bool,
}

/// Reads the records after `after_seq` in order, at most `max_read` of
/// them, keeping those `keep` accepts, up to `limit`: however selective
/// `keep` is, one call reads a bounded part of the log.
pub fn scan(
    kv: &dyn Kv,
    after_seq: u64,
    limit: usize,
    max_read: usize,
    mut keep: impl FnMut(&AuditRecord) -> bool,
) -> Result<Scan> {
    let mut out = Scan { through: after_seq, at_end: true, ..Default::default() };
    let mut read = 0;
    record::scan(kv, keys::AUDIT_RECORDS, Some(&keys::audit_record(after_seq)), |_, r: AuditRecord| {
        read += 1;
        out.through = r.seq;
        if keep(&r) {
            out.records.push(r);
        }
        out.at_end = out.records.len() < limit && read < max_read;
        out.at_end
    })?;
    Ok(out)
}

/// The last record of the longest run after `after_seq`, at most `max_read`
/// records long, whose records all pass `trimmable`.
pub fn trimmable_prefix(
    kv: &dyn Kv,
    after_seq: u64,
    max_read: usize,
    mut trimmable: impl FnMut(&AuditRecord) -> bool,
) -> Result<Option<AuditRecord>> {
    let mut last = None;
    let mut read = 0;
    record::scan(kv, keys::AUDIT_RECORDS, Some(&keys::audit_record(after_seq)), |_, r: AuditRecord| {
        if !trimmable(&r) {
            return false;
        }
        read += 1;
        last = Some(r);
        read < max_read
    })?;
    Ok(last)
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
    // Records are numbered without gaps and everything up to the previous
    // checkpoint is gone: delete by number, reading nothing.
    let first = head.checkpoint.as_ref().map_or(0, |c| c.seq);
    for seq in first + 1..=cp.seq {
        txn.delete(keys::audit_record(seq));
    }
    // Anchors are sparse (one a second at most): those up to the checkpoint.
    let last = keys::audit_anchor(cp.seq);
    let mut doomed = Vec::new();
    txn.scan(keys::AUDIT_ANCHORS, None, &mut |k, _| {
        let keep_going = k <= last.as_slice();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::storage::AuditCheckpoint;
    use crate::state::kv::MemKv;

    /// A log of `n` records; every seventh is a `SecretGet`.
    fn log(n: u64) -> MemKv {
        let mut kv = MemKv::default();
        for i in 1..=n {
            let op = if i % 7 == 0 { "SecretGet" } else { "VaultGet" };
            let writes = {
                let mut txn = Txn::new(&kv);
                append(&mut txn, &AuditRecord { operation: op.into(), time_ms: i as i64, ..Default::default() })
                    .unwrap();
                txn.into_writes()
            };
            kv.commit(writes);
        }
        kv
    }

    #[test]
    fn a_scan_reads_at_most_its_bound_and_says_where_to_go_on() {
        let kv = log(25);
        let none = scan(&kv, 0, 100, 10, |_| false).unwrap();
        assert_eq!((none.records.len(), none.through, none.at_end), (0, 10, false));
        // Following the continuation finds every match, ten records a call.
        let (mut after, mut found, mut calls) = (0, Vec::new(), 0);
        loop {
            let s = scan(&kv, after, 100, 10, |r| r.operation == "SecretGet").unwrap();
            assert!(s.through - after <= 10);
            calls += 1;
            found.extend(s.records.iter().map(|r| r.seq));
            after = s.through;
            if s.at_end {
                break;
            }
        }
        assert_eq!((found, after, calls), (vec![7, 14, 21], 25, 3));
        // The page limit stops a scan too, right after the last match.
        let s = scan(&kv, 0, 1, 100, |r| r.operation == "SecretGet").unwrap();
        assert_eq!((s.records.len(), s.through, s.at_end), (1, 7, false));
    }

    #[test]
    fn trims_in_batches_remove_exactly_the_records_up_to_each_checkpoint() {
        let mut kv = log(25);
        let old = |r: &AuditRecord| r.time_ms <= 23;
        let mut before = 0;
        let mut batches = 0;
        while let Some(last) = trimmable_prefix(&kv, before, 10, old).unwrap() {
            assert!(last.seq - before <= 10);
            let cp = AuditCheckpoint { seq: last.seq, hash: last.hash, signature: vec![1], ..Default::default() };
            let writes = {
                let mut txn = Txn::new(&kv);
                trim(&mut txn, &TrimAudit { checkpoint: Some(cp) }).unwrap();
                txn.into_writes()
            };
            assert!(writes.len() <= 11, "{} writes", writes.len());
            kv.commit(writes);
            before = last.seq;
            batches += 1;
        }
        assert_eq!((before, batches), (23, 3));
        let left: Vec<u64> = range(&kv, 0, 100, |_| true).unwrap().iter().map(|r| r.seq).collect();
        assert_eq!(left, vec![24, 25]);
        assert_eq!(head(&kv).unwrap().checkpoint.unwrap().seq, 23);
        // The run ends at the first record that may not go, even if later ones could.
        let kv = log(5);
        assert_eq!(trimmable_prefix(&kv, 0, 10, |r| r.seq != 3).unwrap().map(|r| r.seq), Some(2));
    }
}
