//! Crossing the barrier for secrets: sealing values, metadata and backups
//! before they are proposed, opening them after they are read.

use prost::Message;
use zeroize::{Zeroize, Zeroizing};

use crate::barrier::{aad, BarrierError, Unsealed};
use crate::proto::storage::{BackupEnvelope, SecretBackup, SecretMeta};
use crate::state::SecretView;

/// Backup blob format: a `BackupEnvelope` naming the source, with the whole
/// `SecretBackup` sealed as one ciphertext bound to that source.
const BACKUP_FORMAT: u32 = 2;

/// Seals a version's value for `vault/name/version`.
pub fn seal_value(
    keys: &Unsealed<'_>,
    vault: &str,
    name: &str,
    version: &str,
    value: &[u8],
) -> Result<Vec<u8>, BarrierError> {
    keys.encrypt(&aad::secret_value(vault, name, version), value)
}

/// Seals a version's content type and tags.
pub fn seal_meta(
    keys: &Unsealed<'_>,
    vault: &str,
    name: &str,
    version: &str,
    meta: &SecretMeta,
) -> Result<Vec<u8>, BarrierError> {
    keys.encrypt(&aad::secret_meta(vault, name, version), &Zeroizing::new(meta.encode_to_vec()))
}

/// A stored version's value and sealed metadata (empty: none) sealed again
/// under the active term, for `vault/name/version`.
pub fn reseal_version(
    keys: &Unsealed<'_>,
    vault: &str,
    name: &str,
    version: &str,
    value: &[u8],
    sealed_meta: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), BarrierError> {
    let value_aad = aad::secret_value(vault, name, version);
    let value = keys.encrypt(&value_aad, &keys.decrypt(&value_aad, value)?)?;
    let meta = if sealed_meta.is_empty() {
        Vec::new()
    } else {
        let meta_aad = aad::secret_meta(vault, name, version);
        keys.encrypt(&meta_aad, &keys.decrypt(&meta_aad, sealed_meta)?)?
    };
    Ok((value, meta))
}

/// Opens a stored version's value.
pub fn open_value(keys: &Unsealed<'_>, view: &SecretView) -> Result<Zeroizing<Vec<u8>>, BarrierError> {
    let v = &view.version;
    keys.decrypt(&aad::secret_value(&view.vault.name, &view.head.name, &v.version), &v.value)
}

/// Opens a stored version's content type and tags (empty if it has none).
pub fn open_meta(keys: &Unsealed<'_>, view: &SecretView) -> Result<SecretMeta, BarrierError> {
    let sealed = view.version.attributes.as_ref().map(|a| a.sealed_meta.as_slice()).unwrap_or_default();
    if sealed.is_empty() {
        return Ok(SecretMeta::default());
    }
    let aad = aad::secret_meta(&view.vault.name, &view.head.name, &view.version.version);
    let bytes = keys.decrypt(&aad, sealed)?;
    SecretMeta::decode(bytes.as_slice()).map_err(|_| BarrierError::Integrity)
}

/// Turns a backup read from `vault` (sealed per version) into an opaque blob:
/// the versions' plaintext, sealed as a whole and bound to `vault` and the
/// secret's name, so it can be restored into any vault of the cluster by a
/// caller entitled to back up that secret.
pub fn seal_backup(keys: &Unsealed<'_>, vault: &str, backup: SecretBackup) -> Result<Vec<u8>, BarrierError> {
    // Wiped on every exit, including errors half way through.
    let mut backup = Wiped(backup);
    let backup = &mut backup.0;
    let name = backup.head.as_ref().map(|h| h.name.clone()).unwrap_or_default();
    for v in &mut backup.versions {
        let plain = keys.decrypt(&aad::secret_value(vault, &name, &v.version), &v.value)?;
        v.value = plain.to_vec();
        if let Some(a) = v.attributes.as_mut().filter(|a| !a.sealed_meta.is_empty()) {
            a.sealed_meta = keys.decrypt(&aad::secret_meta(vault, &name, &v.version), &a.sealed_meta)?.to_vec();
        }
    }
    let bytes = Zeroizing::new(backup.encode_to_vec());
    let sealed = keys.encrypt(&aad::secret_backup(vault, &name), &bytes)?;
    Ok(BackupEnvelope { format: BACKUP_FORMAT, vault: vault.into(), name, sealed }.encode_to_vec())
}

/// A backup blob opened: the vault and secret it was taken from (proven by
/// its seal) and its versions in plaintext, wiped when dropped.
pub struct OpenedBackup {
    vault: String,
    name: String,
    backup: Wiped,
}

impl OpenedBackup {
    /// The vault the backup was taken from.
    pub fn vault(&self) -> &str {
        &self.vault
    }

    /// The secret's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Opens a backup blob. Fails with `Integrity` unless it is a blob of this
/// cluster, unaltered, of the vault and secret it names.
pub fn open_backup(keys: &Unsealed<'_>, blob: &[u8]) -> Result<OpenedBackup, BarrierError> {
    let envelope = BackupEnvelope::decode(blob).map_err(|_| BarrierError::Integrity)?;
    if envelope.format != BACKUP_FORMAT {
        return Err(BarrierError::Integrity);
    }
    let bytes = keys.decrypt(&aad::secret_backup(&envelope.vault, &envelope.name), &envelope.sealed)?;
    // Plaintext until each version is resealed: wiped if anything fails.
    let backup = Wiped(SecretBackup::decode(bytes.as_slice()).map_err(|_| BarrierError::Integrity)?);
    if backup.0.head.as_ref().map(|h| h.name.as_str()) != Some(envelope.name.as_str()) {
        return Err(BarrierError::Integrity);
    }
    Ok(OpenedBackup { vault: envelope.vault, name: envelope.name, backup })
}

/// Seals an opened backup's versions for `vault`, where it is restored.
pub fn reseal_backup(keys: &Unsealed<'_>, vault: &str, opened: OpenedBackup) -> Result<SecretBackup, BarrierError> {
    let OpenedBackup { name, backup: mut guard, .. } = opened;
    let backup = &mut guard.0;
    for v in &mut backup.versions {
        let sealed = seal_value(keys, vault, &name, &v.version, &v.value)?;
        v.value.zeroize();
        v.value = sealed;
        if let Some(a) = v.attributes.as_mut().filter(|a| !a.sealed_meta.is_empty()) {
            let sealed = keys.encrypt(&aad::secret_meta(vault, &name, &v.version), &a.sealed_meta)?;
            a.sealed_meta.zeroize();
            a.sealed_meta = sealed;
        }
    }
    // Everything is sealed now: hand it out without wiping.
    Ok(std::mem::take(&mut guard.0))
}

/// A backup whose values (and metadata) are wiped when it is dropped.
struct Wiped(SecretBackup);

impl Drop for Wiped {
    fn drop(&mut self) {
        for v in &mut self.0.versions {
            v.value.zeroize();
            if let Some(a) = v.attributes.as_mut() {
                a.sealed_meta.zeroize();
            }
        }
    }
}
