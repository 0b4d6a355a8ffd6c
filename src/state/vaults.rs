//! Vaults: named namespaces with a soft-delete policy.

use prost::Message;

use super::error::{Result, StateError};
use super::kv::{Kv, Txn};
use super::{keys, record, validate};
use crate::proto::storage::{CreateVault, DeleteVault, UpdateVault, VaultRecord};

/// Loads a vault or fails with `VaultNotFound`.
pub fn get(kv: &dyn Kv, name: &str) -> Result<VaultRecord> {
    validate::name("vault", name)?;
    record::load(kv, &keys::vault(name))?.ok_or_else(|| StateError::VaultNotFound(name.into()))
}

/// Lists up to `limit` vaults after the vault named `after`.
pub fn list(kv: &dyn Kv, after: Option<&str>, limit: usize) -> Result<Vec<VaultRecord>> {
    let after = after.map(keys::vault);
    let mut out = Vec::new();
    record::scan(kv, keys::VAULTS, after.as_deref(), |_, v: VaultRecord| {
        out.push(v);
        out.len() < limit
    })?;
    Ok(out)
}

pub(super) fn create(txn: &mut Txn<'_>, now: i64, op: &CreateVault) -> Result<VaultRecord> {
    validate::name("vault", &op.name)?;
    validate::retention_days(op.retention_days)?;
    let key = keys::vault(&op.name);
    if txn.get(&key)?.is_some() {
        return Err(StateError::VaultAlreadyExists(op.name.clone()));
    }
    let vault = VaultRecord {
        name: op.name.clone(),
        retention_days: op.retention_days,
        purge_protection: op.purge_protection,
        created: now,
        updated: now,
    };
    txn.put(key, vault.encode_to_vec());
    Ok(vault)
}

pub(super) fn update(txn: &mut Txn<'_>, now: i64, op: &UpdateVault) -> Result<VaultRecord> {
    let mut vault = get(txn, &op.name)?;
    match op.purge_protection {
        Some(false) if vault.purge_protection => return Err(StateError::PurgeProtectionPermanent),
        Some(on) => vault.purge_protection = on,
        None => {}
    }
    vault.updated = now;
    txn.put(keys::vault(&op.name), vault.encode_to_vec());
    Ok(vault)
}

pub(super) fn delete(txn: &mut Txn<'_>, op: &DeleteVault) -> Result<()> {
    get(txn, &op.name)?;
    let mut empty = true;
    txn.scan(&keys::secret_heads(&op.name), None, &mut |_, _| {
        empty = false;
        false
    })?;
    if !empty {
        return Err(StateError::VaultNotEmpty(op.name.clone()));
    }
    txn.delete(keys::vault(&op.name));
    Ok(())
}
