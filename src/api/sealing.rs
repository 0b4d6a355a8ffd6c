//! Crossing the barrier for secrets: sealing values, metadata and backups
//! before they are proposed, opening them after they are read.

use prost::Message;
use zeroize::{Zeroize, Zeroizing};

use crate::barrier::{aad, BarrierError, Unsealed};
use crate::proto::storage::{SecretBackup, SecretMeta};
use crate::state::SecretView;

/// Backup blob format: the whole `SecretBackup`, sealed as one ciphertext.
const BACKUP_AAD: &[u8] = b"coffer/v1/secret-backup";

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
/// the versions' plaintext, sealed as a whole, so it can be restored into
/// any vault of the cluster.
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
    keys.encrypt(BACKUP_AAD, &bytes)
}

/// Opens a backup blob and seals its versions for `vault`.
pub fn open_backup(keys: &Unsealed<'_>, vault: &str, blob: &[u8]) -> Result<SecretBackup, BarrierError> {
    let bytes = keys.decrypt(BACKUP_AAD, blob)?;
    // Plaintext until each version is resealed: wiped if anything fails.
    let mut guard = Wiped(SecretBackup::decode(bytes.as_slice()).map_err(|_| BarrierError::Integrity)?);
    let backup = &mut guard.0;
    let name = backup.head.as_ref().map(|h| h.name.clone()).unwrap_or_default();
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
