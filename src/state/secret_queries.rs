//! Reads of secrets. Callers choose the view (linearizable or stale); these
//! functions only read it.

use super::error::{Result, StateError};
use super::kv::Kv;
use super::secrets::{deleted_head, live_head, version, view, SecretView, BACKUP_FORMAT};
use super::{keys, record, vaults};
use crate::proto::storage::{SecretBackup, SecretHead, SecretVersionRecord};

/// A secret version with its value. Disabled, not-yet-valid and expired
/// versions are refused, as Azure Key Vault does. `now` is unix seconds.
pub fn get(kv: &dyn Kv, vault: &str, name: &str, ver: &str, now: i64) -> Result<SecretView> {
    let vault_rec = vaults::get(kv, vault)?;
    let head = live_head(kv, vault, name).map_err(|e| match e {
        // A deleted secret is not found by get.
        StateError::SecretDeleted(_) => super::secrets::not_found(vault, name),
        e => e,
    })?;
    let record = version(kv, vault, &head, ver)?;
    let attrs = record.attributes.clone().unwrap_or_default();
    if !attrs.enabled {
        return Err(StateError::SecretDisabled(name.into()));
    }
    if attrs.not_before.is_some_and(|nbf| now < nbf) {
        return Err(StateError::SecretNotYetValid(name.into()));
    }
    if attrs.expires.is_some_and(|exp| now >= exp) {
        return Err(StateError::SecretExpired(name.into()));
    }
    Ok(SecretView { vault: vault_rec, head, version: record })
}

/// Lists secrets (their latest versions, without values) after the secret
/// named `after`: live ones, or soft-deleted ones when `deleted` is set.
pub fn list(kv: &dyn Kv, vault: &str, after: Option<&str>, limit: usize, deleted: bool) -> Result<Vec<SecretView>> {
    let vault_rec = vaults::get(kv, vault)?;
    let after = after.map(|a| keys::secret_head(vault, a));
    let mut heads = Vec::new();
    record::scan(kv, &keys::secret_heads(vault), after.as_deref(), |_, h: SecretHead| {
        if h.deleted.is_some() == deleted {
            heads.push(h);
        }
        heads.len() < limit
    })?;
    heads
        .into_iter()
        .map(|h| {
            let latest = version(kv, vault, &h, "")?;
            Ok(view(vault_rec.clone(), h, latest))
        })
        .collect()
}

/// Lists the versions of a live secret in creation order, after sequence
/// number `after_seq`.
pub fn list_versions(
    kv: &dyn Kv,
    vault: &str,
    name: &str,
    after_seq: Option<u64>,
    limit: usize,
) -> Result<Vec<SecretView>> {
    let vault_rec = vaults::get(kv, vault)?;
    let head = live_head(kv, vault, name)?;
    let mut versions = all_versions(kv, vault, name)?;
    versions.retain(|v| after_seq.is_none_or(|a| v.seq > a));
    versions.truncate(limit);
    Ok(versions.into_iter().map(|v| view(vault_rec.clone(), head.clone(), v)).collect())
}

/// A soft-deleted secret (its latest version, without value).
pub fn get_deleted(kv: &dyn Kv, vault: &str, name: &str) -> Result<SecretView> {
    let vault_rec = vaults::get(kv, vault)?;
    let head = deleted_head(kv, vault, name)?;
    let latest = version(kv, vault, &head, "")?;
    Ok(view(vault_rec, head, latest))
}

/// A backup of a live secret with all its versions.
pub fn backup(kv: &dyn Kv, vault: &str, name: &str) -> Result<SecretBackup> {
    vaults::get(kv, vault)?;
    let head = live_head(kv, vault, name)?;
    let versions = all_versions(kv, vault, name)?;
    Ok(SecretBackup { format: BACKUP_FORMAT, head: Some(head), versions })
}

/// Every version of a secret, by sequence number.
fn all_versions(kv: &dyn Kv, vault: &str, name: &str) -> Result<Vec<SecretVersionRecord>> {
    let mut versions = Vec::new();
    record::scan(kv, &keys::secret_versions(vault, name), None, |_, v: SecretVersionRecord| {
        versions.push(v);
        true
    })?;
    versions.sort_by_key(|v| v.seq);
    Ok(versions)
}

/// Soft-deleted secrets whose scheduled purge date is at or before `now`,
/// as `(vault, name)`, at most `limit`.
pub fn due_for_purge(kv: &dyn Kv, now: i64, limit: usize) -> Result<Vec<(String, String)>> {
    let mut due = Vec::new();
    for vault in vaults::list(kv, None, usize::MAX)? {
        record::scan(kv, &keys::secret_heads(&vault.name), None, |_, h: SecretHead| {
            if h.deleted.as_ref().is_some_and(|d| d.scheduled_purge <= now) {
                due.push((vault.name.clone(), h.name));
            }
            due.len() < limit
        })?;
        if due.len() >= limit {
            break;
        }
    }
    Ok(due)
}

/// A secret version found under an older keyring term.
pub struct StaleVersion {
    /// Its vault.
    pub vault: String,
    /// Its secret's name.
    pub name: String,
    /// Whether its secret is soft-deleted.
    pub deleted: bool,
    /// The version record (sealed value and meta).
    pub version: SecretVersionRecord,
}

/// Secret versions sealed under older terms: the first ones, and how many
/// there are of each kind.
pub struct StaleVersions {
    /// The first `limit` of them, in key order.
    pub first: Vec<StaleVersion>,
    /// How many belong to live secrets.
    pub live: u64,
    /// How many belong to soft-deleted secrets.
    pub deleted: u64,
}

/// Whether `sealed` is under a term older than `active`. A ciphertext whose
/// term cannot be read counts as older: re-encrypting it reports it.
pub fn under_old_term(sealed: &[u8], active: u32) -> bool {
    crate::crypto::aead::term_of(sealed).map_or(true, |t| t < active)
}

/// The versions of live and soft-deleted secrets whose value or meta is
/// sealed under a term older than `active`: the first `limit`, and counts.
pub fn under_old_terms(kv: &dyn Kv, active: u32, limit: usize) -> Result<StaleVersions> {
    let mut out = StaleVersions { first: Vec::new(), live: 0, deleted: 0 };
    for vault in vaults::list(kv, None, usize::MAX)? {
        let mut heads = Vec::new();
        record::scan(kv, &keys::secret_heads(&vault.name), None, |_, h: SecretHead| {
            heads.push((h.name, h.deleted.is_some()));
            true
        })?;
        for (name, deleted) in heads {
            for v in all_versions(kv, &vault.name, &name)? {
                let meta = v.attributes.as_ref().map(|a| a.sealed_meta.as_slice()).unwrap_or_default();
                if !under_old_term(&v.value, active) && (meta.is_empty() || !under_old_term(meta, active)) {
                    continue;
                }
                *(if deleted { &mut out.deleted } else { &mut out.live }) += 1;
                if out.first.len() < limit {
                    out.first.push(StaleVersion { vault: vault.name.clone(), name: name.clone(), deleted, version: v });
                }
            }
        }
    }
    Ok(out)
}

/// A version of a live secret (`""`: the latest) regardless of its
/// attributes, without opening anything: for updates.
pub fn get_any(kv: &dyn Kv, vault: &str, name: &str, ver: &str) -> Result<SecretView> {
    let vault_rec = vaults::get(kv, vault)?;
    let head = live_head(kv, vault, name)?;
    let record = version(kv, vault, &head, ver)?;
    Ok(SecretView { vault: vault_rec, head, version: record })
}
