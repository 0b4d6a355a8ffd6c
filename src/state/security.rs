//! The security record: the sealed keyring and the seal parameters. Apply
//! only stores what the proposer sealed; it never sees a key.

use prost::Message;

use super::error::{Result, StateError};
use super::kv::{Kv, Txn};
use super::{keys, record};
use crate::proto::storage::{InitSecurity, Rekey, RotateKeyring, SecurityRecord};

/// The security record, if coffer has been initialized.
pub fn get(kv: &dyn Kv) -> Result<Option<SecurityRecord>> {
    record::load(kv, keys::SECURITY)
}

pub(super) fn init(txn: &mut Txn<'_>, now: i64, op: &InitSecurity) -> Result<SecurityRecord> {
    if get(txn)?.is_some() {
        return Err(StateError::SecurityInitialized);
    }
    if op.sealed_keyring.is_empty() || op.active_term == 0 {
        return Err(StateError::InvalidArgument("empty keyring".into()));
    }
    let root = op.root_token.as_ref().ok_or_else(|| StateError::InvalidArgument("no root token".into()))?;
    super::tokens::insert(txn, root)?;
    if let Some(ca) = &op.cluster_ca {
        super::join_tokens::store_cluster_ca(txn, ca)?;
    }
    let rec = SecurityRecord {
        sealed_keyring: op.sealed_keyring.clone(),
        active_term: op.active_term,
        key_shares: op.key_shares,
        key_threshold: op.key_threshold,
        initialized: now,
        rotated: now,
        root_generation: 1,
    };
    txn.put(keys::SECURITY.to_vec(), rec.encode_to_vec());
    Ok(rec)
}

pub(super) fn rotate(txn: &mut Txn<'_>, now: i64, op: &RotateKeyring) -> Result<SecurityRecord> {
    let mut rec = get(txn)?.ok_or(StateError::SecurityUninitialized)?;
    // Both checks: a rotation made from a stale term, or from a keyring
    // sealed under a root key a concurrent rekey replaced, would lose keys.
    if rec.active_term != op.previous_term
        || op.active_term != op.previous_term + 1
        || rec.root_generation != op.root_generation
    {
        return Err(StateError::VersionConflict {
            expected: format!("keyring term {} under root {}", op.previous_term, op.root_generation),
            actual: format!("keyring term {} under root {}", rec.active_term, rec.root_generation),
        });
    }
    rec.sealed_keyring = op.sealed_keyring.clone();
    rec.active_term = op.active_term;
    rec.rotated = now;
    txn.put(keys::SECURITY.to_vec(), rec.encode_to_vec());
    Ok(rec)
}

pub(super) fn rekey(txn: &mut Txn<'_>, op: &Rekey) -> Result<SecurityRecord> {
    let mut rec = get(txn)?.ok_or(StateError::SecurityUninitialized)?;
    if rec.root_generation != op.previous_generation
        || op.root_generation != op.previous_generation + 1
        || rec.active_term != op.active_term
    {
        return Err(StateError::VersionConflict {
            expected: format!("root {} with keyring term {}", op.previous_generation, op.active_term),
            actual: format!("root {} with keyring term {}", rec.root_generation, rec.active_term),
        });
    }
    rec.sealed_keyring = op.sealed_keyring.clone();
    rec.root_generation = op.root_generation;
    rec.key_shares = op.key_shares;
    rec.key_threshold = op.key_threshold;
    txn.put(keys::SECURITY.to_vec(), rec.encode_to_vec());
    Ok(rec)
}
