//! State records → client API messages.

use tonic::Status;

use crate::proto::api as pb;
use crate::proto::storage::{SecretMeta, VaultRecord};
use crate::replica::Consistency;
use crate::state::SecretView;

/// A vault record as the API shows it.
pub fn vault(v: VaultRecord) -> pb::Vault {
    pb::Vault {
        name: v.name,
        retention_days: v.retention_days,
        purge_protection: v.purge_protection,
        created: v.created,
        updated: v.updated,
    }
}

/// Azure Key Vault's recovery level for a vault's policy.
fn recovery_level(purge_protection: bool) -> &'static str {
    if purge_protection {
        "Recoverable"
    } else {
        "Recoverable+Purgeable"
    }
}

/// A secret version's metadata as the API shows it.
pub fn properties(view: &SecretView, meta: &SecretMeta) -> pb::SecretProperties {
    let attrs = view.version.attributes.clone().unwrap_or_default();
    pb::SecretProperties {
        vault: view.vault.name.clone(),
        name: view.head.name.clone(),
        version: view.version.version.clone(),
        enabled: attrs.enabled,
        not_before: attrs.not_before,
        expires: attrs.expires,
        content_type: meta.content_type.clone(),
        tags: meta.tags.clone(),
        created: view.version.created,
        updated: view.version.updated,
        recoverable_days: view.vault.retention_days,
        recovery_level: recovery_level(view.vault.purge_protection).into(),
    }
}

/// A secret version with its (opened) value.
pub fn secret(view: &SecretView, meta: &SecretMeta, value: &[u8]) -> Result<pb::Secret, Status> {
    let value = String::from_utf8(value.to_vec())
        .map_err(|_| super::status::status(crate::error_code::ErrorCode::Storage, "stored value is not UTF-8", None))?;
    Ok(pb::Secret { properties: Some(properties(view, meta)), value })
}

/// A soft-deleted secret.
pub fn deleted(view: &SecretView, meta: &SecretMeta) -> pb::DeletedSecret {
    let d = view.head.deleted.unwrap_or_default();
    pb::DeletedSecret {
        properties: Some(properties(view, meta)),
        deleted_date: d.deleted_on,
        scheduled_purge_date: d.scheduled_purge,
    }
}

/// The read consistency a request asks for (linearizable by default).
pub fn consistency(read: Option<&pb::ReadOptions>) -> Consistency {
    match read.map(|r| r.consistency()) {
        Some(pb::Consistency::Stale) => Consistency::Stale,
        _ => Consistency::Linearizable,
    }
}
