//! Layout of the state keyspace. Names are validated to `[0-9a-zA-Z-]`, so
//! `/` can separate the parts unambiguously.
//!
//! | key                          | record                |
//! |------------------------------|-----------------------|
//! | `sys/security`               | `SecurityRecord`      |
//! | `sys/cluster-ca`             | `ClusterCa`           |
//! | `jt/{hex(sha256(secret))}`   | `JoinTokenRecord`     |
//! | `au/head`                    | `AuditHead` (its own CF) |
//! | `au/r/{seq:016x}`            | `AuditRecord` (audit CF) |
//! | `au/a/{seq:016x}`            | `AuditAnchor`         |
//! | `rd/{role}`                  | `RoleDefinition`      |
//! | `rm/{node id}`               | empty: removed node   |
//! | `ra/{id}`                    | `RoleAssignment`      |
//! | `rap/{hex(principal)}/{id}`  | id (index)            |
//! | `rar/{role}/{id}`            | empty (index)         |
//! | `grp/{group}/{hex(principal)}`| principal            |
//! | `gm/{hex(principal)}/{group}`| group (index)         |
//! | `tok/{accessor}`             | `TokenRecord`         |
//! | `toh/{hex(sha256(token))}`   | accessor              |
//! | `v/{vault}`                  | `VaultRecord`         |
//! | `s/{vault}/{name}`           | `SecretHead`          |
//! | `sv/{vault}/{name}/{version}`| `SecretVersionRecord` |

/// Prefix of the cluster-wide records below (security record, cluster CA).
pub const SYSTEM: &[u8] = b"sys/";

/// The security record (sealed keyring, seal parameters).
pub const SECURITY: &[u8] = b"sys/security";

/// The cluster CA (certificate, sealed key).
pub const CLUSTER_CA: &[u8] = b"sys/cluster-ca";

/// Key of a join token record.
pub fn join_token(hash: &[u8]) -> Vec<u8> {
    format!("jt/{}", hex::encode(hash)).into_bytes()
}

/// The audit log's head: last sequence number and hash, checkpoint.
pub const AUDIT_HEAD: &[u8] = b"au/head";

/// Prefix of audit records (stored in their own column family).
pub const AUDIT_RECORDS: &[u8] = b"au/r/";

/// Key of audit record `seq` (big-endian hex, so keys sort by sequence).
pub fn audit_record(seq: u64) -> Vec<u8> {
    format!("au/r/{seq:016x}").into_bytes()
}

/// Prefix of the audit chain's anchors.
pub const AUDIT_ANCHORS: &[u8] = b"au/a/";

/// Key of the anchor of audit record `seq`.
pub fn audit_anchor(seq: u64) -> Vec<u8> {
    format!("au/a/{seq:016x}").into_bytes()
}

/// Prefix of all custom role definitions.
pub const ROLES: &[u8] = b"rd/";

/// Key of a custom role definition.
pub fn role(name: &str) -> Vec<u8> {
    format!("rd/{name}").into_bytes()
}

/// Prefix of all role assignments.
pub const ASSIGNMENTS: &[u8] = b"ra/";

/// Key of a role assignment.
pub fn assignment(id: &str) -> Vec<u8> {
    format!("ra/{id}").into_bytes()
}

/// Prefix of the index of `principal`'s assignments.
pub fn assignments_of(principal: &str) -> Vec<u8> {
    format!("rap/{}/", hex::encode(principal)).into_bytes()
}

/// Index entry: `principal` has assignment `id`.
pub fn assignment_of(principal: &str, id: &str) -> Vec<u8> {
    format!("rap/{}/{id}", hex::encode(principal)).into_bytes()
}

/// Prefix of the index of `role`'s assignments.
pub fn assignments_by_role(role: &str) -> Vec<u8> {
    format!("rar/{role}/").into_bytes()
}

/// Index entry: assignment `id` uses `role`.
pub fn assignment_by_role(role: &str, id: &str) -> Vec<u8> {
    format!("rar/{role}/{id}").into_bytes()
}

/// Prefix of all group members.
pub const GROUPS: &[u8] = b"grp/";

/// Key of `principal`'s membership in `group`.
pub fn group_member(group: &str, principal: &str) -> Vec<u8> {
    format!("grp/{group}/{}", hex::encode(principal)).into_bytes()
}

/// Prefix of the index of `principal`'s groups.
pub fn groups_of(principal: &str) -> Vec<u8> {
    format!("gm/{}/", hex::encode(principal)).into_bytes()
}

/// Index entry: `principal` is in `group`.
pub fn group_of(principal: &str, group: &str) -> Vec<u8> {
    format!("gm/{}/{group}", hex::encode(principal)).into_bytes()
}

/// Key marking node `id` as removed by an operator.
pub fn removed_node(id: u64) -> Vec<u8> {
    format!("rm/{id}").into_bytes()
}

/// Prefix of all token records.
pub const TOKENS: &[u8] = b"tok/";

/// Key of a token record.
pub fn token(accessor: &str) -> Vec<u8> {
    format!("tok/{accessor}").into_bytes()
}

/// Prefix of the index from tokens' hashes to their accessors.
pub const TOKEN_HASHES: &[u8] = b"toh/";

/// Key of the index entry from a token's hash to its accessor.
pub fn token_hash(hash: &[u8]) -> Vec<u8> {
    format!("toh/{}", hex::encode(hash)).into_bytes()
}

/// Whether `key` is a system record (see [`SYSTEM`]).
pub fn is_system(key: &[u8]) -> bool {
    key.starts_with(SYSTEM)
}

/// Whether `key` is a token record or an entry of the tokens' hash index.
pub fn is_token(key: &[u8]) -> bool {
    key.starts_with(TOKENS) || key.starts_with(TOKEN_HASHES)
}

/// Prefix of all vault records.
pub const VAULTS: &[u8] = b"v/";

/// Key of a vault record.
pub fn vault(vault: &str) -> Vec<u8> {
    format!("v/{vault}").into_bytes()
}

/// Prefix of all secret heads in a vault.
pub fn secret_heads(vault: &str) -> Vec<u8> {
    format!("s/{vault}/").into_bytes()
}

/// Key of a secret's head record.
pub fn secret_head(vault: &str, name: &str) -> Vec<u8> {
    format!("s/{vault}/{name}").into_bytes()
}

/// Prefix of all versions of one secret.
pub fn secret_versions(vault: &str, name: &str) -> Vec<u8> {
    format!("sv/{vault}/{name}/").into_bytes()
}

/// Key of one secret version.
pub fn secret_version(vault: &str, name: &str, version: &str) -> Vec<u8> {
    format!("sv/{vault}/{name}/{version}").into_bytes()
}
