//! The hash chain and its checkpoints: how a record's hash is computed,
//! how a checkpoint is signed, and how a range of the log is verified.

use prost::encoding::{encode_key, encode_varint, WireType};
use prost::Message;

use crate::proto::storage::{AuditCheckpoint, AuditRecord};
use crate::state::kv::Kv;
use crate::state::{audit as stored, StateError};

/// SHA-256(prev_hash || seq (big-endian) || the record encoded without its
/// seq, prev_hash and hash).
pub fn record_hash(rec: &AuditRecord) -> [u8; 32] {
    let body = AuditRecord { seq: 0, prev_hash: Vec::new(), hash: Vec::new(), ..rec.clone() };
    hash_of(&rec.prev_hash, rec.seq, &body)
}

/// Chains `rec` after `prev_hash` as record `seq`: returns its stored
/// encoding (with seq, prev_hash and hash set) and its hash, the hash of
/// [`record_hash`]. The record is encoded once and not copied (unless it
/// arrives with chain fields set, which apply ignores): its chain fields
/// are its first three, so the stored encoding is theirs followed by the
/// hashed body's, byte for byte what prost makes of the linked record.
pub fn chain(rec: &AuditRecord, seq: u64, prev_hash: &[u8]) -> (Vec<u8>, [u8; 32]) {
    let cleared;
    let body = if rec.seq == 0 && rec.prev_hash.is_empty() && rec.hash.is_empty() {
        rec
    } else {
        cleared = AuditRecord { seq: 0, prev_hash: Vec::new(), hash: Vec::new(), ..rec.clone() };
        &cleared
    };
    let hashed = hash_input(prev_hash, seq, body);
    let hash = crate::crypto::sha256(&hashed);
    let body = &hashed[prev_hash.len() + 8..];
    // Three keys, the seq's varint (up to 10 bytes) and two one-byte lengths.
    let mut stored = Vec::with_capacity(16 + prev_hash.len() + hash.len() + body.len());
    if seq != 0 {
        encode_key(1, WireType::Varint, &mut stored);
        encode_varint(seq, &mut stored);
    }
    for (tag, bytes) in [(2, prev_hash), (3, &hash[..])] {
        if !bytes.is_empty() {
            encode_key(tag, WireType::LengthDelimited, &mut stored);
            encode_varint(bytes.len() as u64, &mut stored);
            stored.extend_from_slice(bytes);
        }
    }
    stored.extend_from_slice(body);
    (stored, hash)
}

fn hash_of(prev_hash: &[u8], seq: u64, body: &AuditRecord) -> [u8; 32] {
    crate::crypto::sha256(&hash_input(prev_hash, seq, body))
}

/// prev_hash || seq (big-endian) || `body` encoded.
fn hash_input(prev_hash: &[u8], seq: u64, body: &AuditRecord) -> Vec<u8> {
    let mut data = Vec::with_capacity(prev_hash.len() + 8 + body.encoded_len());
    data.extend_from_slice(prev_hash);
    data.extend_from_slice(&seq.to_be_bytes());
    body.encode(&mut data).unwrap_or_else(|_| unreachable!("the buffer was sized to fit"));
    data
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
}

/// Verifies records `from..=to` (clamped to what exists) of the local log:
/// every record present, each hash recomputed, each linked to the previous
/// one (or to the signed checkpoint at the start), and the head matching.
/// `public_key` is the cluster's audit signing key, to check a checkpoint.
pub fn verify(kv: &dyn Kv, from: u64, to: u64, public_key: Option<&[u8]>) -> Result<Report, StateError> {
    let head = stored::head(kv)?;
    let first = head.checkpoint.as_ref().map_or(1, |c| c.seq + 1);
    let from = from.max(first);
    let to = if to == 0 { head.last_seq } else { to.min(head.last_seq) };
    let mut report = Report { from, to, checkpoint: head.checkpoint.as_ref().map(|c| c.seq), ..Default::default() };
    let fail = |mut r: Report, seq: u64, why: String| {
        r.first_break = Some((seq, why));
        Ok(r)
    };
    if let (Some(cp), Some(pk)) = (&head.checkpoint, public_key) {
        if !checkpoint_signed_by(cp, pk) {
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
    let mut expected = from;
    let mut broken = None;
    let scan = stored::range(kv, from - 1, usize::MAX, |r| r.seq <= to);
    let records = match scan {
        Ok(r) => r,
        Err(StateError::Corrupt(key)) => return fail(report, expected, format!("record {key} cannot be decoded")),
        Err(e) => return Err(e),
    };
    for rec in records.iter().take_while(|r| r.seq <= to) {
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
        prev = Some(rec.hash.clone());
        expected += 1;
        report.checked += 1;
    }
    if broken.is_none() && expected <= to {
        broken = Some((expected, format!("record {expected} is missing")));
    }
    if broken.is_none() && to == head.last_seq && prev.as_deref() != Some(head.last_hash.as_slice()) {
        broken = Some((to, "the head does not match the last record".into()));
    }
    report.first_break = broken;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_makes_the_linked_records_encoding_and_the_hash_verification_recomputes() {
        let rec = AuditRecord {
            operation: "SecretGet".into(),
            principal: "token:abc".into(),
            hmacs: vec![crate::proto::storage::AuditHmac { field: "value".into(), hmac: "ab".into() }],
            ..Default::default()
        };
        // Chain fields on arrival are ignored; the first record has no previous hash.
        let stray = AuditRecord { seq: 99, prev_hash: vec![9; 32], hash: vec![1; 32], ..rec.clone() };
        for (arrived, seq, prev) in [(&rec, 5, vec![7u8; 32]), (&stray, 5, vec![7; 32]), (&rec, 1, vec![])] {
            let (stored, hash) = chain(arrived, seq, &prev);
            let linked = AuditRecord { seq, prev_hash: prev.clone(), hash: hash.to_vec(), ..rec.clone() };
            assert_eq!(stored, linked.encode_to_vec(), "seq {seq}, previous hash {prev:?}");
            assert_eq!(record_hash(&linked), hash);
            let mut edited = linked.clone();
            edited.principal = "token:xyz".into();
            assert_ne!(record_hash(&edited), hash);
        }
    }
}
