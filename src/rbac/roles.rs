//! Built-in roles, modelled on Azure Key Vault's, plus the cluster Operator
//! and an Auditor. They live in code (never stored, never changed); custom
//! roles are replicated records with the same shape.

use super::actions;
use crate::proto::storage::RoleDefinition;

/// A built-in role: name, description, actions, not-actions.
struct BuiltIn {
    name: &'static str,
    description: &'static str,
    actions: &'static [&'static str],
    not_actions: &'static [&'static str],
}

const BUILT_IN: &[BuiltIn] = &[
    BuiltIn {
        name: "administrator",
        description: "Key Vault Administrator: every data operation on vaults, secrets, keys and certificates",
        actions: &["vaults/*", "secrets/*", "keys/*", "certificates/*"],
        not_actions: &[],
    },
    BuiltIn {
        name: "secrets-officer",
        description: "Key Vault Secrets Officer: every operation on secrets",
        actions: &["vaults/read", "secrets/*"],
        not_actions: &[],
    },
    BuiltIn {
        name: "secrets-user",
        description: "Key Vault Secrets User: read secret values and properties",
        actions: &["secrets/get", "secrets/metadata"],
        not_actions: &[],
    },
    BuiltIn {
        name: "crypto-officer",
        description: "Key Vault Crypto Officer: every operation on keys",
        actions: &["vaults/read", "keys/*"],
        not_actions: &[],
    },
    BuiltIn {
        name: "crypto-user",
        description: "Key Vault Crypto User: cryptographic operations with keys",
        actions: &[
            "keys/get",
            "keys/metadata",
            "keys/sign",
            "keys/verify",
            "keys/encrypt",
            "keys/decrypt",
            "keys/wrap",
            "keys/unwrap",
        ],
        not_actions: &[],
    },
    BuiltIn {
        name: "crypto-service-encryption-user",
        description: "Key Vault Crypto Service Encryption User: wrap and unwrap with keys",
        actions: &["keys/metadata", "keys/wrap", "keys/unwrap"],
        not_actions: &[],
    },
    BuiltIn {
        name: "certificates-officer",
        description: "Key Vault Certificates Officer: every operation on certificates",
        actions: &["vaults/read", "certificates/*"],
        not_actions: &[],
    },
    BuiltIn {
        name: "certificate-user",
        description: "Key Vault Certificate User: read whole certificates, private key included",
        actions: &["certificates/get", "certificates/metadata"],
        not_actions: &[],
    },
    BuiltIn {
        name: "reader",
        description: "Key Vault Reader: metadata only, never secret values or key material",
        actions: &["vaults/read", "*/metadata"],
        not_actions: &[],
    },
    BuiltIn {
        name: "purge-operator",
        description: "Key Vault Purge Operator: permanently delete soft-deleted objects",
        actions: &["vaults/read", "*/purge"],
        not_actions: &[],
    },
    BuiltIn {
        name: "data-access-administrator",
        description: "Key Vault Data Access Administrator: assign data roles (vaults, secrets, keys, certificates) and manage groups",
        actions: &["vaults/read", "roles/read", "assignments/*"],
        not_actions: &[],
    },
    BuiltIn {
        name: "operator",
        description: "Cluster operator: membership, snapshots, join tokens, seal, key rotation",
        actions: &["cluster/membership", "cluster/snapshot", "cluster/join-token", "operator/*"],
        not_actions: &[],
    },
    BuiltIn {
        name: "auditor",
        description: "Read and verify the audit log",
        actions: &["audit/read"],
        not_actions: &[],
    },
];

/// Whether `name` is a built-in role.
pub fn is_built_in(name: &str) -> bool {
    BUILT_IN.iter().any(|b| b.name == name)
}

/// The built-in role `name`.
pub fn built_in(name: &str) -> Option<RoleDefinition> {
    BUILT_IN.iter().find(|b| b.name == name).map(to_definition)
}

/// Every built-in role.
pub fn built_ins() -> Vec<RoleDefinition> {
    BUILT_IN.iter().map(to_definition).collect()
}

fn to_definition(b: &BuiltIn) -> RoleDefinition {
    RoleDefinition {
        name: b.name.into(),
        description: b.description.into(),
        actions: b.actions.iter().map(|a| a.to_string()).collect(),
        not_actions: b.not_actions.iter().map(|a| a.to_string()).collect(),
        created: 0,
        updated: 0,
    }
}

/// Whether `role` allows `action`.
pub fn allows(role: &RoleDefinition, action: &str) -> bool {
    role.actions.iter().any(|p| actions::matches(p, action))
        && !role.not_actions.iter().any(|p| actions::matches(p, action))
}

/// The areas of data-plane actions: what a delegated access administrator
/// may hand out.
const DATA_AREAS: &[&str] = &["vaults", "secrets", "keys", "certificates"];

/// Whether every action `role` allows is a data-plane action. Only such
/// roles may be assigned by a non-root principal (so `assignments/write`
/// cannot be turned into cluster, token or audit rights).
pub fn data_only(role: &RoleDefinition) -> bool {
    actions::ACTIONS
        .iter()
        .filter(|(a, _)| allows(role, a))
        .all(|(a, _)| DATA_AREAS.iter().any(|area| a.starts_with(&format!("{area}/"))))
}

/// Checks a custom role definition (name, patterns).
pub fn check(role: &RoleDefinition) -> Result<(), String> {
    if !crate::names::is_valid(&role.name) {
        return Err(format!("invalid role name {:?}: must match ^[0-9a-zA-Z-]{{1,127}}$", role.name));
    }
    if is_built_in(&role.name) {
        return Err(format!("{} is a built-in role", role.name));
    }
    if role.actions.is_empty() {
        return Err("a role needs at least one action".into());
    }
    if role.description.len() > 1024 || role.actions.len() + role.not_actions.len() > 256 {
        return Err("role definition too large".into());
    }
    role.actions.iter().chain(&role.not_actions).try_for_each(|p| actions::check_pattern(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_patterns_are_valid() {
        for b in BUILT_IN {
            for p in b.actions.iter().chain(b.not_actions) {
                assert!(actions::check_pattern(p).is_ok(), "{}: {p}", b.name);
            }
        }
    }

    #[test]
    fn a_reader_never_reads_values() {
        let reader = built_in("reader").unwrap();
        assert!(allows(&reader, "secrets/metadata") && allows(&reader, "keys/metadata"));
        for denied in ["secrets/get", "secrets/backup", "keys/get", "certificates/get", "secrets/set"] {
            assert!(!allows(&reader, denied), "{denied}");
        }
    }

    #[test]
    fn only_data_roles_are_data_only() {
        for name in ["administrator", "secrets-user", "reader", "crypto-user", "purge-operator"] {
            assert!(data_only(&built_in(name).unwrap()), "{name}");
        }
        for name in ["operator", "auditor", "data-access-administrator"] {
            assert!(!data_only(&built_in(name).unwrap()), "{name}");
        }
        let star = RoleDefinition { name: "all".into(), actions: vec!["*".into()], ..Default::default() };
        assert!(!data_only(&star));
    }

    #[test]
    fn not_actions_subtract() {
        let role = RoleDefinition {
            name: "no-purge".into(),
            actions: vec!["secrets/*".into()],
            not_actions: vec!["secrets/purge".into()],
            ..Default::default()
        };
        assert!(check(&role).is_ok());
        assert!(allows(&role, "secrets/delete") && !allows(&role, "secrets/purge"));
        let bad = RoleDefinition { name: "reader".into(), actions: vec!["*".into()], ..Default::default() };
        assert!(check(&bad).is_err());
        let typo = RoleDefinition { name: "x".into(), actions: vec!["secret/get".into()], ..Default::default() };
        assert!(check(&typo).is_err());
    }
}
