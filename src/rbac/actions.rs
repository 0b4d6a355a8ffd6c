//! The action namespace: `<area>/<verb>`, one action per API operation
//! (and the key and certificate operations still to come, so roles can
//! name them now). Role definitions match actions with patterns in which a
//! `*` segment matches any one segment and a trailing `*` anything below.

/// Every action, with what it allows.
pub const ACTIONS: &[(&str, &str)] = &[
    ("vaults/read", "get and list vaults"),
    ("vaults/create", "create a vault"),
    ("vaults/update", "change a vault's settings"),
    ("vaults/delete", "delete an empty vault"),
    ("secrets/get", "read secret values"),
    ("secrets/metadata", "read secret properties, versions and deleted secrets (never values)"),
    ("secrets/set", "write a new secret version"),
    ("secrets/update", "change a version's attributes"),
    ("secrets/delete", "soft-delete a secret"),
    ("secrets/recover", "recover a soft-deleted secret"),
    ("secrets/backup", "export a secret as an encrypted backup blob"),
    ("secrets/restore", "restore a secret from a backup blob"),
    ("secrets/purge", "permanently delete a soft-deleted secret"),
    ("keys/get", "read a key's public part"),
    ("keys/metadata", "read key properties (never key material)"),
    ("keys/create", "create or import a key"),
    ("keys/update", "change a key's attributes"),
    ("keys/rotate", "rotate a key"),
    ("keys/delete", "soft-delete a key"),
    ("keys/recover", "recover a soft-deleted key"),
    ("keys/backup", "export a key as an encrypted backup blob"),
    ("keys/restore", "restore a key from a backup blob"),
    ("keys/purge", "permanently delete a soft-deleted key"),
    ("keys/sign", "sign with a key"),
    ("keys/verify", "verify with a key"),
    ("keys/encrypt", "encrypt with a key"),
    ("keys/decrypt", "decrypt with a key"),
    ("keys/wrap", "wrap a key with a key"),
    ("keys/unwrap", "unwrap a key with a key"),
    ("certificates/get", "read a certificate with its private key"),
    ("certificates/metadata", "read certificate properties and public certificates"),
    ("certificates/create", "create or import a certificate"),
    ("certificates/update", "change a certificate's attributes and policy"),
    ("certificates/delete", "soft-delete a certificate"),
    ("certificates/recover", "recover a soft-deleted certificate"),
    ("certificates/backup", "export a certificate as an encrypted backup blob"),
    ("certificates/restore", "restore a certificate from a backup blob"),
    ("certificates/purge", "permanently delete a soft-deleted certificate"),
    ("roles/read", "list and show role definitions"),
    ("roles/write", "create, update and delete custom roles"),
    ("assignments/read", "list role assignments and group members"),
    ("assignments/write", "assign and unassign roles; change group members"),
    ("tokens/create", "create tokens"),
    ("tokens/read", "list tokens (never the tokens themselves)"),
    ("tokens/revoke", "revoke any token by its accessor"),
    ("cluster/membership", "add, promote, remove nodes; move leadership"),
    ("cluster/snapshot", "save a snapshot of the whole state"),
    ("cluster/join-token", "create join tokens for new nodes"),
    ("cluster/issue-certificate", "have the cluster CA issue client certificates"),
    ("operator/seal", "seal a node"),
    ("operator/rotate", "rotate the data key"),
    ("operator/rewrap", "re-encrypt data under the newest data key"),
    ("operator/rekey", "replace the root key and its shares"),
    ("audit/read", "tail, query and export the audit log; verify it"),
    ("audit/trim", "trim old audit records behind a signed checkpoint"),
];

/// Whether `action` is a known action.
pub fn is_action(action: &str) -> bool {
    ACTIONS.iter().any(|(a, _)| *a == action)
}

/// Whether `pattern` matches `action`: segments compare equal or the
/// pattern's is `*`; a final `*` also matches any deeper segments.
pub fn matches(pattern: &str, action: &str) -> bool {
    let mut p = pattern.split('/');
    let mut a = action.split('/');
    loop {
        match (p.next(), a.next()) {
            (None, None) => return true,
            (Some("*"), Some(_)) if p.clone().next().is_none() => return true,
            (Some(ps), Some(seg)) if ps == "*" || ps == seg => {}
            _ => return false,
        }
    }
}

/// Checks a pattern of a role definition: it must match some known action.
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() || pattern.len() > 128 {
        return Err(format!("action pattern {pattern:?} is empty or too long"));
    }
    if ACTIONS.iter().any(|(a, _)| matches(pattern, a)) {
        Ok(())
    } else {
        Err(format!("action pattern {pattern:?} matches no action (see `coffer role actions`)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_segments_and_trailing_wildcards() {
        assert!(matches("*", "secrets/get"));
        assert!(matches("secrets/*", "secrets/get"));
        assert!(matches("*/metadata", "keys/metadata"));
        assert!(matches("secrets/get", "secrets/get"));
        assert!(!matches("secrets/get", "secrets/set"));
        assert!(!matches("secrets/*", "keys/get"));
        assert!(!matches("*/metadata", "secrets/get"));
        assert!(!matches("secrets", "secrets/get"));
        assert!(!matches("secrets/get/x", "secrets/get"));
    }

    #[test]
    fn role_patterns_must_name_real_actions() {
        assert!(check_pattern("secrets/*").is_ok());
        assert!(check_pattern("*").is_ok());
        assert!(check_pattern("secret/get").is_err());
        assert!(check_pattern("").is_err());
        assert!(ACTIONS.iter().all(|(a, _)| a.split('/').count() == 2 && is_action(a)));
    }
}
