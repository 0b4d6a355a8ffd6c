//! The hash chain's anchors and checkpoints: what an anchor and a
//! checkpoint vouch for, and how a range of the log is verified. How a
//! record's hash is computed is `state::audit_chain` (apply links records).
//!
//! Apply links each record to the one before by SHA-256, on every node,
//! sealed or not: it needs no key. That alone does not stop someone who
//! can write a node's storage from rewriting records and recomputing every
//! hash after them. So the leader anchors the chain: about every second,
//! when records were added, it proposes an HMAC-SHA256 of the newest
//! record's sequence number and hash under a key derived from the keyring
//! (`replica::anchor`). Through the chain an anchor vouches for every
//! record up to it; without the keys an anchored record cannot be changed
//! unnoticed, and a copy of the log that differs from the leader's fails on
//! the next anchor. Records after the last anchor are reported as not yet
//! anchored.

use super::AuditKeys;
use crate::proto::storage::AuditCheckpoint;
pub use crate::state::audit_chain::{chain, record_hash};
use crate::state::kv::Kv;
use crate::state::{audit as stored, StateError};

/// The bytes an anchor's MAC covers.
pub fn anchor_message(seq: u64, hash: &[u8]) -> Vec<u8> {
    let mut m = b"coffer audit anchor v1\0".to_vec();
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(hash);
    m
}

/// The bytes a checkpoint's signature covers.
pub fn checkpoint_message(cp: &AuditCheckpoint) -> Vec<u8> {
    let mut m = b"coffer audit checkpoint v1\0".to_vec();
    m.extend_from_slice(&cp.seq.to_be_bytes());
    m.extend_from_slice(&cp.hash);
    m.extend_from_slice(&cp.trimmed_at_ms.to_be_bytes());
    m
}

/// Whether `cp` carries a valid signature by `public_key`.
pub fn checkpoint_signed_by(cp: &AuditCheckpoint, public_key: &[u8]) -> bool {
    use aws_lc_rs::signature::{UnparsedPublicKey, ED25519};
    cp.public_key == public_key
        && UnparsedPublicKey::new(&ED25519, public_key).verify(&checkpoint_message(cp), &cp.signature).is_ok()
}

/// What a verification found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The first sequence number checked.
    pub from: u64,
    /// The last sequence number checked.
    pub to: u64,
    /// How many records were checked.
    pub checked: u64,
    /// The first break: its sequence number and what is wrong.
    pub first_break: Option<(u64, String)>,
    /// The checkpoint the chain starts from, if records were trimmed.
    pub checkpoint: Option<u64>,
    /// The last record a genuine anchor vouches for (0: none); records
    /// after it are not anchored yet.
    pub anchored: u64,
    /// Whether anchors were checked (it takes the keys).
    pub anchors_checked: bool,
}

/// Verifies records `from..=to` (clamped to what exists) of the local log:
/// every record present, each hash recomputed, each linked to the previous
/// one (or to the signed checkpoint at the start), the head matching and,
/// with the cluster's audit `keys`, every anchor genuine and naming its
/// record's hash — up to the first anchor at or after `to`, which vouches
/// for the end of the range.
pub fn verify(kv: &dyn Kv, from: u64, to: u64, keys: Option<&AuditKeys>) -> Result<Report, StateError> {
    let head = stored::head(kv)?;
    let first = head.checkpoint.as_ref().map_or(1, |c| c.seq + 1);
    let from = from.max(first);
    let to = if to == 0 { head.last_seq } else { to.min(head.last_seq) };
    let mut report = Report {
        from,
        to,
        checkpoint: head.checkpoint.as_ref().map(|c| c.seq),
        anchors_checked: keys.is_some(),
        ..Default::default()
    };
    let fail = |mut r: Report, seq: u64, why: String| {
        r.first_break = Some((seq, why));
        Ok(r)
    };
    if let (Some(cp), Some(keys)) = (&head.checkpoint, keys) {
        if !checkpoint_signed_by(cp, &keys.public_key()) {
            return fail(report, cp.seq, "the trim checkpoint's signature is not the cluster's".into());
        }
    }
    if from > to {
        return Ok(report);
    }
    // The hash the first checked record must link to.
    let mut prev: Option<Vec<u8>> = match from {
        1 => Some(Vec::new()),
        s if head.checkpoint.as_ref().is_some_and(|c| c.seq + 1 == s) => {
            head.checkpoint.as_ref().map(|c| c.hash.clone())
        }
        s => match stored::get(kv, s - 1)? {
            Some(r) => Some(r.hash),
            None => return fail(report, s - 1, format!("record {} is missing", s - 1)),
        },
    };
    let mut anchors = Vec::new();
    if keys.is_some() {
        anchors = stored::anchors(kv, from - 1, usize::MAX, |a| a.seq <= to)?;
        anchors.extend(stored::anchors(kv, to.max(from) - 1, 1, |a| a.seq > to)?);
    }
    // Checked through the anchor that vouches for `to`, if there is one.
    let end = anchors.last().map_or(to, |a| a.seq.max(to));
    let mut anchors = anchors.iter().peekable();
    // The first record no anchor checked so far vouches for.
    let mut unanchored = from;
    let mut expected = from;
    let mut broken = None;
    let scan = stored::range(kv, from - 1, usize::MAX, |r| r.seq <= end);
    let records = match scan {
        Ok(r) => r,
        Err(StateError::Corrupt(key)) => return fail(report, expected, format!("record {key} cannot be decoded")),
        Err(e) => return Err(e),
    };
    for rec in records.iter().take_while(|r| r.seq <= end) {
        if rec.seq != expected {
            broken = Some((expected, format!("record {expected} is missing")));
            break;
        }
        if prev.as_ref().is_some_and(|p| *p != rec.prev_hash) {
            broken = Some((rec.seq, "its previous-hash does not match the record before it".into()));
            break;
        }
        if record_hash(rec).as_slice() != rec.hash.as_slice() {
            broken = Some((rec.seq, "its contents do not match its hash (edited)".into()));
            break;
        }
        while anchors.peek().is_some_and(|a| a.seq < rec.seq) {
            anchors.next();
        }
        if let (Some(a), Some(keys)) = (anchors.next_if(|a| a.seq == rec.seq), keys) {
            if !keys.is_genuine(a) {
                broken = Some((rec.seq, "its anchor is not the cluster's (forged or changed)".into()));
                break;
            }
            if a.hash != rec.hash {
                let why = format!(
                    "records {unanchored}..={} were rewritten: the chain does not reach the hash the cluster anchored at {}",
                    rec.seq, rec.seq
                );
                broken = Some((unanchored, why));
                break;
            }
            report.anchored = rec.seq.min(to);
            unanchored = rec.seq + 1;
        }
        prev = Some(rec.hash.clone());
        expected += 1;
        report.checked += u64::from(rec.seq <= to);
    }
    if broken.is_none() && expected <= end {
        broken = Some((expected, format!("record {expected} is missing")));
    }
    if broken.is_none() && end == head.last_seq && prev.as_deref() != Some(head.last_hash.as_slice()) {
        broken = Some((end, "the head does not match the last record".into()));
    }
    report.first_break = broken;
    Ok(report)
}

#[cfg(test)]
mod anchor_tests {
    use prost::Message;

    use super::*;
    use crate::barrier::{Barrier, Keyring};
    use crate::crypto::Key256;
    use crate::proto::storage::{op::Kind, AnchorAudit, AppendAudit, AuditRecord, Command, Op, SecurityRecord};
    use crate::state::apply::{apply, OpResult};
    use crate::state::keys;
    use crate::state::kv::{MemKv, Txn};

    fn run(kv: &mut MemKv, kind: Kind) -> OpResult {
        let mut txn = Txn::new(&*kv);
        let out = apply(&mut txn, &Command { now: 0, ops: vec![Op { kind: Some(kind) }] });
        let writes = txn.into_writes();
        kv.commit(writes);
        out.0.into_iter().next().unwrap()
    }

    fn anchor_op(anchor: crate::proto::storage::AuditAnchor) -> Kind {
        Kind::AnchorAudit(AnchorAudit { anchor: Some(anchor) })
    }

    #[test]
    fn an_anchor_exposes_a_consistent_rewrite_of_the_records_before_it() {
        let root = Key256::generate().unwrap();
        let security =
            SecurityRecord { sealed_keyring: Keyring::generate().unwrap().seal(&root).unwrap(), ..Default::default() };
        let barrier = Barrier::default();
        barrier.unseal_with_root(root, &security).unwrap();
        let unsealed = barrier.unsealed().unwrap();
        let keys = super::AuditKeys::of(&unsealed).unwrap();

        let mut kv = MemKv::default();
        for i in 0..6 {
            let rec = AuditRecord { principal: format!("token:{i}"), ..Default::default() };
            run(&mut kv, Kind::AppendAudit(AppendAudit { record: Some(rec) })).unwrap();
        }
        let r4 = stored::get(&kv, 4).unwrap().unwrap();
        run(&mut kv, anchor_op(crate::audit::anchor(&unsealed, 4, &r4.hash).unwrap())).unwrap();
        assert_eq!(stored::head(&kv).unwrap().anchored_seq, 4);
        // Only records the chain has can be anchored.
        assert!(run(&mut kv, anchor_op(crate::audit::anchor(&unsealed, 7, &r4.hash).unwrap())).is_err());
        let report = verify(&kv, 0, 0, Some(&keys)).unwrap();
        assert_eq!((report.first_break, report.anchored, report.checked), (None, 4, 6));
        // A range ending before the anchor is vouched for by it.
        let report = verify(&kv, 1, 2, Some(&keys)).unwrap();
        assert_eq!((report.first_break, report.anchored, report.checked), (None, 2, 2));

        // Record 2 rewritten and every hash after it recomputed, as anyone
        // who can write the storage can: the chain alone still holds.
        let mut rewritten = kv.clone();
        let mut prev = stored::get(&rewritten, 1).unwrap().unwrap().hash;
        for seq in 2..=6 {
            let mut rec = stored::get(&rewritten, seq).unwrap().unwrap();
            if seq == 2 {
                rec.principal = "token:innocent".into();
            }
            let (bytes, hash) = chain(&rec, seq, &prev);
            rewritten.0.insert(keys::audit_record(seq), bytes);
            prev = hash.to_vec();
        }
        let mut head = stored::head(&rewritten).unwrap();
        head.last_hash = prev;
        rewritten.0.insert(keys::AUDIT_HEAD.to_vec(), head.encode_to_vec());
        let unkeyed = verify(&rewritten, 0, 0, None).unwrap();
        assert_eq!((unkeyed.first_break, unkeyed.anchors_checked), (None, false), "no keys: anchors unchecked");
        let report = verify(&rewritten, 0, 0, Some(&keys)).unwrap();
        let (at, why) = report.first_break.unwrap();
        assert_eq!(at, 1, "{why}");
        assert!(why.contains("records 1..=4 were rewritten"), "{why}");
        assert!(verify(&rewritten, 1, 2, Some(&keys)).unwrap().first_break.is_some());

        // Nor can the anchor be moved to the new hash without the key.
        let mut forged = rewritten.clone();
        let mut anchor = crate::audit::anchor(&unsealed, 4, &r4.hash).unwrap();
        anchor.hash = stored::get(&forged, 4).unwrap().unwrap().hash;
        forged.0.insert(keys::audit_anchor(4), anchor.encode_to_vec());
        let (at, why) = verify(&forged, 0, 0, Some(&keys)).unwrap().first_break.unwrap();
        assert_eq!(at, 4);
        assert!(why.contains("not the cluster's"), "{why}");
    }
}
