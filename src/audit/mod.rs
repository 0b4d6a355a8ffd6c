//! The audit log: one record per request to the client or admin API,
//! replicated through Raft in its own column family, chained by hash and
//! anchored by keyed MACs.
//!
//! | module    | what it holds                                                  |
//! |-----------|----------------------------------------------------------------|
//! | [`chain`] | record hashes, anchors, signed trim checkpoints, verification of a range |
//! | [`context`] | the record of the request being served, for its write to carry  |
//! | [`reach`] | how far a request got: its caller, whether a handler audited it |
//! | [`sink`]  | a node's local JSON Lines copy, rotated by size                 |
//!
//! Records are written by the API layer (`api::audited`): a request's
//! result is returned only once its record is committed (fail closed). The
//! proposer's group commit puts many records in one Raft entry. Secret
//! values, key material, tokens and request bodies never enter a record;
//! where correlating a value helps, the record holds its HMAC-SHA256 under
//! the cluster's audit key ([`AuditKeys`]).

pub mod chain;
pub mod context;
pub mod reach;
pub mod sink;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};

use crate::barrier::{BarrierError, Unsealed};
use crate::crypto::Key256;
use crate::proto::storage::{AuditAnchor, AuditCheckpoint, AuditRecord};

/// The wall clock in milliseconds since the Unix epoch, as records give time.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// A new record of `operation` made on node `node_id`, timed now (wall
/// clock, milliseconds), with a fresh request id. It is correlated by the
/// id the client `sent` if that is usable (not empty, at most 128 bytes),
/// else by its own request id. The caller fills in who asked, for what, and
/// the result.
pub fn new_record(node_id: u64, operation: impl Into<String>, sent: Option<&str>) -> AuditRecord {
    let request_id = crate::crypto::random_id().unwrap_or_default();
    let correlation_id =
        sent.filter(|v| !v.is_empty() && v.len() <= 128).map_or_else(|| request_id.clone(), str::to_owned);
    AuditRecord {
        time_ms: now_ms(),
        operation: operation.into(),
        node_id,
        request_id,
        correlation_id,
        ..Default::default()
    }
}

/// The cluster's audit keys, derived from its keyring (so every node has
/// them while unsealed, and they survive rotations and rekeys).
pub struct AuditKeys {
    hmac: Key256,
    anchor: Key256,
    signing: Ed25519KeyPair,
}

/// Hex HMAC-SHA256 of `value` under the cluster's audit key (cheaper than
/// [`AuditKeys::of`] when only the HMAC is needed: no signing key).
pub fn hmac(keys: &Unsealed<'_>, value: &[u8]) -> Result<String, BarrierError> {
    Ok(hmac_with(&keys.derive(HMAC_PURPOSE)?, value))
}

const HMAC_PURPOSE: &[u8] = b"coffer audit hmac v1";
const ANCHOR_PURPOSE: &[u8] = b"coffer audit anchor v1";

fn hmac_with(key: &Key256, value: &[u8]) -> String {
    hex::encode(mac(key, value))
}

fn mac(key: &Key256, value: &[u8]) -> aws_lc_rs::hmac::Tag {
    aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key.expose()), value)
}

/// The anchor of record `seq`, whose hash is `hash`, under the cluster's
/// audit anchor key (cheaper than [`AuditKeys::of`]: no signing key).
pub fn anchor(keys: &Unsealed<'_>, seq: u64, hash: &[u8]) -> Result<AuditAnchor, BarrierError> {
    Ok(anchor_with(&keys.derive(ANCHOR_PURPOSE)?, seq, hash))
}

fn anchor_with(key: &Key256, seq: u64, hash: &[u8]) -> AuditAnchor {
    let mac = mac(key, &chain::anchor_message(seq, hash)).as_ref().to_vec();
    AuditAnchor { seq, hash: hash.to_vec(), mac }
}

impl AuditKeys {
    /// The keys, from an unsealed node's keyring.
    pub fn of(keys: &Unsealed<'_>) -> Result<AuditKeys, BarrierError> {
        let hmac = keys.derive(HMAC_PURPOSE)?;
        let anchor = keys.derive(ANCHOR_PURPOSE)?;
        let seed = keys.derive(b"coffer audit signing v1")?;
        let signing = Ed25519KeyPair::from_seed_unchecked(seed.expose())
            .map_err(|_| BarrierError::Crypto(crate::crypto::CryptoError::Random))?;
        Ok(AuditKeys { hmac, anchor, signing })
    }

    /// Whether `a` is an anchor made with the cluster's anchor key (compared
    /// in constant time).
    pub fn is_genuine(&self, a: &AuditAnchor) -> bool {
        crate::crypto::constant_time_eq(&anchor_with(&self.anchor, a.seq, &a.hash).mac, &a.mac)
    }

    /// Hex HMAC-SHA256 of `value` under the audit key.
    pub fn hmac(&self, value: &[u8]) -> String {
        hmac_with(&self.hmac, value)
    }

    /// The public half of the checkpoint signing key.
    pub fn public_key(&self) -> Vec<u8> {
        self.signing.public_key().as_ref().to_vec()
    }

    /// Signs a trim checkpoint (sets its public key and signature).
    pub fn sign(&self, cp: &mut AuditCheckpoint) {
        cp.public_key = self.public_key();
        cp.signature = self.signing.sign(&chain::checkpoint_message(cp)).as_ref().to_vec();
    }
}

impl std::fmt::Debug for AuditKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKeys(REDACTED)")
    }
}

/// A record as one JSON object (file sink, export, CLI output).
pub fn to_json(r: &AuditRecord) -> serde_json::Value {
    let hmacs: serde_json::Map<String, serde_json::Value> =
        r.hmacs.iter().map(|h| (h.field.clone(), serde_json::Value::String(h.hmac.clone()))).collect();
    serde_json::json!({
        "seq": r.seq,
        "time_ms": r.time_ms,
        "operation": r.operation,
        "principal": r.principal,
        "source": r.source,
        "node_id": r.node_id,
        "vault": r.vault,
        "object": r.object,
        "version": r.version,
        "result": r.result,
        "duration_us": r.duration_us,
        "request_id": r.request_id,
        "correlation_id": r.correlation_id,
        "hmac": hmacs,
        "detail": r.detail,
        "prev_hash": hex::encode(&r.prev_hash),
        "hash": hex::encode(&r.hash),
    })
}

#[cfg(test)]
mod tests {
    use super::new_record;

    #[test]
    fn a_new_record_has_a_fresh_request_id_and_is_correlated_by_a_usable_sent_id_or_its_own() {
        let a = new_record(3, "SecretGet", Some("trace-7"));
        assert_eq!((a.node_id, a.operation.as_str(), a.correlation_id.as_str()), (3, "SecretGet", "trace-7"));
        assert_eq!(a.request_id.len(), 32);
        assert!(a.request_id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(a.time_ms > 1_700_000_000_000, "wall-clock milliseconds");
        let long = "x".repeat(129);
        for sent in [None, Some(""), Some(long.as_str())] {
            let r = new_record(3, "SecretGet", sent);
            assert_eq!(r.correlation_id, r.request_id, "{sent:?} is not usable");
            assert_ne!(r.request_id, a.request_id);
        }
        assert_eq!(new_record(3, "SecretGet", Some(&long[..128])).correlation_id.len(), 128);
    }
}
