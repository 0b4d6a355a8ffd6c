//! Secrets: versioned values with Azure Key Vault's soft-delete lifecycle.
//! This file holds the operations; `secret_queries` holds the reads.

use prost::Message;

use super::error::{Result, StateError};
use super::kv::{Kv, Txn};
use super::{keys, record, validate, vaults};
use crate::proto::storage::{
    DeleteSecret, DeletedInfo, PurgeSecret, RecoverSecret, RestoreSecret, RewrapSecret, SecretAttributes, SecretHead,
    SecretVersionRecord, SetSecret, UpdateSecret, VaultRecord,
};

pub use super::secret_queries::*;

/// Current backup blob format.
pub const BACKUP_FORMAT: u32 = 1;
const DAY: i64 = 86_400;

/// One version of a secret with its vault's policy and its head: what the
/// API needs to describe it. `version.value` is empty unless a read asked
/// for the value.
#[derive(Debug, Clone)]
pub struct SecretView {
    /// The vault (for its soft-delete policy).
    pub vault: VaultRecord,
    /// The secret's head: latest version, deletion state.
    pub head: SecretHead,
    /// The version described.
    pub version: SecretVersionRecord,
}

/// Loads a secret's head, deleted or not.
pub(super) fn head(kv: &dyn Kv, vault: &str, name: &str) -> Result<Option<SecretHead>> {
    validate::name("secret", name)?;
    record::load(kv, &keys::secret_head(vault, name))
}

/// Loads a live (not deleted) secret's head.
pub(super) fn live_head(kv: &dyn Kv, vault: &str, name: &str) -> Result<SecretHead> {
    match head(kv, vault, name)? {
        None => Err(not_found(vault, name)),
        Some(h) if h.deleted.is_some() => Err(StateError::SecretDeleted(name.into())),
        Some(h) => Ok(h),
    }
}

/// Loads a soft-deleted secret's head.
pub(super) fn deleted_head(kv: &dyn Kv, vault: &str, name: &str) -> Result<SecretHead> {
    match head(kv, vault, name)? {
        None => Err(not_found(vault, name)),
        Some(h) if h.deleted.is_none() => Err(StateError::SecretNotDeleted(name.into())),
        Some(h) => Ok(h),
    }
}

/// Loads one version; `""` means the latest.
pub(super) fn version(kv: &dyn Kv, vault: &str, head: &SecretHead, version: &str) -> Result<SecretVersionRecord> {
    let v = if version.is_empty() { head.latest_version.as_str() } else { version };
    validate::version(v).map_err(|_| version_not_found(vault, &head.name, v))?;
    record::load(kv, &keys::secret_version(vault, &head.name, v))?
        .ok_or_else(|| version_not_found(vault, &head.name, v))
}

pub(super) fn not_found(vault: &str, name: &str) -> StateError {
    StateError::SecretNotFound { vault: vault.into(), name: name.into() }
}

fn version_not_found(vault: &str, name: &str, version: &str) -> StateError {
    StateError::VersionNotFound { vault: vault.into(), name: name.into(), version: version.into() }
}

/// The view of `version` without its value.
pub(super) fn view(vault: VaultRecord, head: SecretHead, mut version: SecretVersionRecord) -> SecretView {
    version.value.clear();
    SecretView { vault, head, version }
}

pub(super) fn set(txn: &mut Txn<'_>, now: i64, op: &SetSecret) -> Result<SecretView> {
    let vault = vaults::get(txn, &op.vault)?;
    validate::name("secret", &op.name)?;
    validate::version(&op.version)?;
    let attrs = op.attributes.clone().unwrap_or_default();
    let existing = head(txn, &op.vault, &op.name)?;
    if existing.as_ref().is_some_and(|h| h.deleted.is_some()) {
        return Err(StateError::SecretDeleted(op.name.clone()));
    }
    if let Some(expected) = &op.expected_version {
        let actual = existing.as_ref().map(|h| h.latest_version.as_str()).unwrap_or("");
        if expected != actual {
            return Err(StateError::VersionConflict { expected: expected.clone(), actual: actual.into() });
        }
    }
    let version_key = keys::secret_version(&op.vault, &op.name, &op.version);
    if txn.get(&version_key)?.is_some() {
        return Err(StateError::InvalidArgument(format!("version '{}' already exists", op.version)));
    }
    let mut head = existing.unwrap_or(SecretHead { name: op.name.clone(), created: now, ..Default::default() });
    let record = SecretVersionRecord {
        version: op.version.clone(),
        seq: head.next_seq,
        value: op.value.clone(),
        attributes: Some(attrs),
        created: now,
        updated: now,
    };
    head.latest_version = op.version.clone();
    head.next_seq += 1;
    head.updated = now;
    txn.put(version_key, record.encode_to_vec());
    txn.put(keys::secret_head(&op.vault, &op.name), head.encode_to_vec());
    Ok(view(vault, head, record))
}

pub(super) fn update(txn: &mut Txn<'_>, now: i64, op: &UpdateSecret) -> Result<SecretView> {
    let vault = vaults::get(txn, &op.vault)?;
    let head = live_head(txn, &op.vault, &op.name)?;
    let mut record = version(txn, &op.vault, &head, &op.version)?;
    let attrs = record.attributes.get_or_insert_with(SecretAttributes::default);
    patch(attrs, op);
    record.updated = now;
    txn.put(keys::secret_version(&op.vault, &op.name, &record.version), record.encode_to_vec());
    Ok(view(vault, head, record))
}

fn patch(attrs: &mut SecretAttributes, op: &UpdateSecret) {
    if let Some(enabled) = op.enabled {
        attrs.enabled = enabled;
    }
    if op.clear_not_before {
        attrs.not_before = None;
    } else if op.not_before.is_some() {
        attrs.not_before = op.not_before;
    }
    if op.clear_expires {
        attrs.expires = None;
    } else if op.expires.is_some() {
        attrs.expires = op.expires;
    }
    if let Some(meta) = &op.sealed_meta {
        attrs.sealed_meta = meta.clone();
    }
}

pub(super) fn delete(txn: &mut Txn<'_>, now: i64, op: &DeleteSecret) -> Result<SecretView> {
    let vault = vaults::get(txn, &op.vault)?;
    let mut head = match head(txn, &op.vault, &op.name)? {
        Some(h) if h.deleted.is_none() => h,
        // Deleting a deleted secret finds nothing, as in Azure Key Vault.
        _ => return Err(not_found(&op.vault, &op.name)),
    };
    head.deleted = Some(DeletedInfo {
        deleted_on: now,
        scheduled_purge: now.saturating_add(i64::from(vault.retention_days) * DAY),
    });
    txn.put(keys::secret_head(&op.vault, &op.name), head.encode_to_vec());
    let latest = version(txn, &op.vault, &head, "")?;
    Ok(view(vault, head, latest))
}

pub(super) fn recover(txn: &mut Txn<'_>, now: i64, op: &RecoverSecret) -> Result<SecretView> {
    let vault = vaults::get(txn, &op.vault)?;
    let mut head = deleted_head(txn, &op.vault, &op.name)?;
    head.deleted = None;
    head.updated = now;
    txn.put(keys::secret_head(&op.vault, &op.name), head.encode_to_vec());
    let latest = version(txn, &op.vault, &head, "")?;
    Ok(view(vault, head, latest))
}

pub(super) fn purge(txn: &mut Txn<'_>, now: i64, op: &PurgeSecret) -> Result<()> {
    let vault = vaults::get(txn, &op.vault)?;
    let head = deleted_head(txn, &op.vault, &op.name)?;
    let scheduled = head.deleted.as_ref().map_or(0, |d| d.scheduled_purge);
    let due = now >= scheduled;
    if !due && (op.scheduled || vault.purge_protection) {
        return Err(StateError::PurgeProtected { name: op.name.clone(), scheduled });
    }
    let mut doomed = Vec::new();
    txn.scan(&keys::secret_versions(&op.vault, &op.name), None, &mut |k, _| {
        doomed.push(k.to_vec());
        true
    })?;
    for k in doomed {
        txn.delete(k);
    }
    txn.delete(keys::secret_head(&op.vault, &op.name));
    Ok(())
}

/// Re-encrypts a version of a live or soft-deleted secret (both hold sealed
/// versions), if it is still as the proposer read it.
pub(super) fn rewrap(txn: &mut Txn<'_>, op: &RewrapSecret) -> Result<()> {
    let head = head(txn, &op.vault, &op.name)?.ok_or_else(|| not_found(&op.vault, &op.name))?;
    let mut record = version(txn, &op.vault, &head, &op.version)?;
    let meta = record.attributes.as_ref().map(|a| a.sealed_meta.as_slice()).unwrap_or_default();
    if record.value != op.old_value || meta != op.old_sealed_meta.as_slice() {
        return Err(StateError::VersionConflict { expected: "unchanged value".into(), actual: "changed".into() });
    }
    if op.new_value.is_empty() || meta.is_empty() != op.new_sealed_meta.is_empty() {
        return Err(StateError::InvalidArgument("a rewrap must seal the value and any meta again".into()));
    }
    record.value = op.new_value.clone();
    if !op.new_sealed_meta.is_empty() {
        record.attributes.get_or_insert_with(SecretAttributes::default).sealed_meta = op.new_sealed_meta.clone();
    }
    txn.put(keys::secret_version(&op.vault, &op.name, &record.version), record.encode_to_vec());
    Ok(())
}

pub(super) fn restore(txn: &mut Txn<'_>, now: i64, op: &RestoreSecret) -> Result<SecretView> {
    let vault = vaults::get(txn, &op.vault)?;
    let backup = op.backup.as_ref().ok_or_else(|| StateError::InvalidBackup("empty".into()))?;
    if backup.format != BACKUP_FORMAT {
        return Err(StateError::InvalidBackup(format!("unknown format {}", backup.format)));
    }
    let mut head = backup.head.clone().ok_or_else(|| StateError::InvalidBackup("no head".into()))?;
    validate::name("secret", &head.name)?;
    if self::head(txn, &op.vault, &head.name)?.is_some() {
        return Err(StateError::SecretAlreadyExists(head.name.clone()));
    }
    let mut latest = None;
    for v in &backup.versions {
        validate::version(&v.version).map_err(|_| StateError::InvalidBackup("bad version id".into()))?;
        txn.put(keys::secret_version(&op.vault, &head.name, &v.version), v.encode_to_vec());
        if v.version == head.latest_version {
            latest = Some(v.clone());
        }
    }
    let latest = latest.ok_or_else(|| StateError::InvalidBackup("latest version missing".into()))?;
    head.deleted = None;
    head.updated = now;
    txn.put(keys::secret_head(&op.vault, &head.name), head.encode_to_vec());
    Ok(view(vault, head, latest))
}
