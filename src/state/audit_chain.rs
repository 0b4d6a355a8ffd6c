//! The audit log's hash chain: how a record is linked to the one before
//! and what its hash covers. Apply links every record with [`chain`];
//! `audit::chain` verifies ranges with [`record_hash`].

use prost::encoding::{encode_key, encode_varint, WireType};
use prost::Message;

use crate::proto::storage::AuditRecord;

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
