//! Every operation of the client API, declared once: its gRPC method, the
//! name its audit records carry, how it is authorized, and whether it
//! writes. The API's outermost layer finds a request's row by its path
//! ([`find`]); [`super::serve`] authorizes and audits the request from it.
//! A new operation is its handler plus one row here; a test checks that the
//! rows and the services' methods (proto/coffer/v1) match one to one.

/// How an operation is authorized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The action at the request's target (the scope its record names).
    Action(&'static str),
    /// The action at a scope only the handler can find (in the request or
    /// the state): the handler gets a [`super::serve::Pending`] to check.
    ActionAt(&'static str),
    /// The first action at the target, and the second at a source the
    /// handler finds (restore: the backup right where the blob came from).
    ActionAndSource(&'static str, &'static str),
    /// Any token: operations on the caller's own token.
    OwnToken,
    /// Any authenticated principal.
    Authenticated,
    /// Cluster formation: open until `operator init`, then the action at
    /// the cluster scope.
    Formation(&'static str),
    /// Adding or promoting a node: as `Formation("cluster/membership")`, or
    /// a node certificate acting for its own node.
    Membership,
    /// No credential: the request carries its own proof (key shares, a join
    /// token) or only reports status.
    Open,
}

/// What an operation does to the replicated state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// May write.
    Write,
    /// Never writes: a linearizable read may be vouched for by the commit
    /// of its audit record instead of a read-index round
    /// (`audit::context::defer_read`).
    Read,
    /// A health or status call: answered even when its record cannot be
    /// committed (an operator diagnosing a lost quorum needs it).
    Health,
}

/// One operation.
#[derive(Debug, PartialEq, Eq)]
pub struct Operation {
    /// The gRPC service, e.g. `coffer.v1.SecretService`.
    pub service: &'static str,
    /// The gRPC method, e.g. `GetSecret`.
    pub method: &'static str,
    /// The name audit records give it, e.g. `SecretGet`.
    pub name: &'static str,
    /// How it is authorized.
    pub access: Access,
    /// Whether it writes.
    pub effect: Effect,
}

use Access::*;
use Effect::*;

const fn op(
    service: &'static str,
    method: &'static str,
    name: &'static str,
    access: Access,
    effect: Effect,
) -> Operation {
    Operation { service, method, name, access, effect }
}

const VAULTS: &str = "coffer.v1.VaultService";
const SECRETS: &str = "coffer.v1.SecretService";
const OPERATOR: &str = "coffer.v1.OperatorService";
const TOKENS: &str = "coffer.v1.TokenService";
const PKI: &str = "coffer.v1.PkiService";
const RBAC: &str = "coffer.v1.RbacService";
const AUDIT: &str = "coffer.v1.AuditService";
const CLUSTER: &str = "coffer.v1.ClusterService";

/// The table.
pub const OPERATIONS: &[Operation] = &[
    op(VAULTS, "CreateVault", "VaultCreate", Action("vaults/create"), Write),
    op(VAULTS, "GetVault", "VaultGet", Action("vaults/read"), Read),
    op(VAULTS, "ListVaults", "VaultList", Action("vaults/read"), Read),
    op(VAULTS, "UpdateVault", "VaultUpdate", Action("vaults/update"), Write),
    op(VAULTS, "DeleteVault", "VaultDelete", Action("vaults/delete"), Write),
    op(SECRETS, "SetSecret", "SecretSet", Action("secrets/set"), Write),
    op(SECRETS, "GetSecret", "SecretGet", Action("secrets/get"), Read),
    op(SECRETS, "ListSecrets", "SecretList", Action("secrets/metadata"), Read),
    op(SECRETS, "ListSecretVersions", "SecretListVersions", Action("secrets/metadata"), Read),
    op(SECRETS, "UpdateSecret", "SecretUpdate", Action("secrets/update"), Write),
    op(SECRETS, "DeleteSecret", "SecretDelete", Action("secrets/delete"), Write),
    op(SECRETS, "GetDeletedSecret", "SecretGetDeleted", Action("secrets/metadata"), Read),
    op(SECRETS, "ListDeletedSecrets", "SecretListDeleted", Action("secrets/metadata"), Read),
    op(SECRETS, "RecoverDeletedSecret", "SecretRecover", Action("secrets/recover"), Write),
    op(SECRETS, "PurgeDeletedSecret", "SecretPurge", Action("secrets/purge"), Write),
    op(SECRETS, "BackupSecret", "SecretBackup", Action("secrets/backup"), Read),
    op(SECRETS, "RestoreSecret", "SecretRestore", ActionAndSource("secrets/restore", "secrets/backup"), Write),
    op(OPERATOR, "Init", "OperatorInit", Formation("cluster/membership"), Write),
    op(OPERATOR, "Unseal", "OperatorUnseal", Open, Write),
    op(OPERATOR, "Seal", "OperatorSeal", Action("operator/seal"), Write),
    op(OPERATOR, "Status", "OperatorStatus", Open, Health),
    op(OPERATOR, "Rotate", "OperatorRotate", Action("operator/rotate"), Write),
    op(OPERATOR, "Rekey", "OperatorRekey", Action("operator/rekey"), Write),
    op(OPERATOR, "Rewrap", "OperatorRewrap", Action("operator/rewrap"), Write),
    op(TOKENS, "CreateToken", "TokenCreate", Action("tokens/create"), Write),
    op(TOKENS, "LookupSelf", "TokenLookupSelf", OwnToken, Write),
    op(TOKENS, "RenewSelf", "TokenRenewSelf", OwnToken, Write),
    op(TOKENS, "RevokeSelf", "TokenRevokeSelf", OwnToken, Write),
    op(TOKENS, "ListTokens", "TokenList", Action("tokens/read"), Read),
    op(TOKENS, "RevokeAccessor", "TokenRevoke", Action("tokens/revoke"), Write),
    op(TOKENS, "WhoAmI", "WhoAmI", Authenticated, Write),
    op(PKI, "CreateJoinToken", "JoinTokenCreate", Action("cluster/join-token"), Write),
    op(PKI, "Join", "NodeJoin", Open, Write),
    op(PKI, "IssueClientCertificate", "ClientCertificateIssue", Action("cluster/issue-certificate"), Write),
    op(RBAC, "ListActions", "RoleListActions", Action("roles/read"), Write),
    op(RBAC, "ListRoles", "RoleList", Action("roles/read"), Read),
    op(RBAC, "GetRole", "RoleGet", Action("roles/read"), Read),
    op(RBAC, "PutRole", "RolePut", Action("roles/write"), Write),
    op(RBAC, "DeleteRole", "RoleDelete", Action("roles/write"), Write),
    op(RBAC, "Assign", "RoleAssign", ActionAt("assignments/write"), Write),
    op(RBAC, "Unassign", "RoleUnassign", ActionAt("assignments/write"), Write),
    op(RBAC, "ListAssignments", "RoleAssignmentList", ActionAt("assignments/read"), Read),
    op(RBAC, "SetGroupMember", "GroupMemberSet", Action("assignments/write"), Write),
    op(RBAC, "ListGroups", "GroupList", Action("assignments/read"), Read),
    op(AUDIT, "Query", "AuditQuery", Action("audit/read"), Read),
    op(AUDIT, "Tail", "AuditTail", Action("audit/read"), Write),
    op(AUDIT, "Verify", "AuditVerify", Action("audit/read"), Write),
    op(AUDIT, "Trim", "AuditTrim", Action("audit/trim"), Write),
    op(AUDIT, "Head", "AuditHead", Action("audit/read"), Read),
    op(AUDIT, "Hmac", "AuditHmac", Action("audit/read"), Write),
    op(CLUSTER, "Bootstrap", "ClusterBootstrap", Formation("cluster/membership"), Write),
    op(CLUSTER, "Status", "ClusterStatus", Open, Health),
    op(CLUSTER, "AddLearner", "ClusterAddLearner", Membership, Write),
    op(CLUSTER, "Promote", "ClusterPromote", Membership, Write),
    op(CLUSTER, "RemoveNode", "ClusterRemove", Formation("cluster/membership"), Write),
    op(CLUSTER, "TransferLeader", "ClusterTransferLeader", Formation("cluster/membership"), Write),
    op(CLUSTER, "NodeInfo", "ClusterNodeInfo", Open, Health),
    op(CLUSTER, "SaveSnapshot", "ClusterSaveSnapshot", Action("cluster/snapshot"), Write),
];

/// The row of the request to `path` (`/package.Service/Method`).
pub fn find(path: &str) -> Option<&'static Operation> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    OPERATIONS.iter().find(|o| o.service == service && o.method == method)
}

impl Operation {
    /// The actions this operation can need (for the RBAC matrix).
    pub fn actions(&self) -> Vec<&'static str> {
        match self.access {
            Action(a) | ActionAt(a) | Formation(a) => vec![a],
            ActionAndSource(a, b) => vec![a, b],
            Membership => vec!["cluster/membership"],
            OwnToken | Authenticated | Open => vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Every `rpc` of the client API's services, from their proto files.
    fn methods() -> BTreeSet<(String, String)> {
        let protos = [
            include_str!("../../proto/coffer/v1/vault.proto"),
            include_str!("../../proto/coffer/v1/secret.proto"),
            include_str!("../../proto/coffer/v1/operator.proto"),
            include_str!("../../proto/coffer/v1/token.proto"),
            include_str!("../../proto/coffer/v1/pki.proto"),
            include_str!("../../proto/coffer/v1/rbac.proto"),
            include_str!("../../proto/coffer/v1/audit.proto"),
            include_str!("../../proto/coffer/v1/cluster.proto"),
        ];
        let mut out = BTreeSet::new();
        for proto in protos {
            let mut service = String::new();
            for line in proto.lines().map(str::trim) {
                if let Some(rest) = line.strip_prefix("service ") {
                    service = format!("coffer.v1.{}", rest.trim_end_matches('{').trim());
                } else if let Some(rest) = line.strip_prefix("rpc ") {
                    let method = rest.split('(').next().unwrap_or_default().trim().to_owned();
                    assert!(!service.is_empty(), "rpc {method} outside a service");
                    out.insert((service.clone(), method));
                }
            }
        }
        out
    }

    #[test]
    fn every_method_has_exactly_one_row_and_every_row_a_method() {
        let methods = methods();
        assert!(methods.len() > 50, "the proto files were read: {}", methods.len());
        let rows: Vec<(String, String)> =
            OPERATIONS.iter().map(|o| (o.service.to_owned(), o.method.to_owned())).collect();
        let unique: BTreeSet<_> = rows.iter().cloned().collect();
        assert_eq!(unique.len(), rows.len(), "a method has two rows");
        let missing: Vec<_> = methods.difference(&unique).collect();
        let extra: Vec<_> = unique.difference(&methods).collect();
        assert!(missing.is_empty(), "methods without a row: {missing:?}");
        assert!(extra.is_empty(), "rows without a method: {extra:?}");
        let names: BTreeSet<_> = OPERATIONS.iter().map(|o| o.name).collect();
        assert_eq!(names.len(), OPERATIONS.len(), "two rows share an audit name");
    }

    #[test]
    fn every_action_named_is_an_action_and_rows_are_found_by_path() {
        for o in OPERATIONS {
            for a in o.actions() {
                assert!(crate::rbac::actions::is_action(a), "{}: {a}", o.name);
            }
            assert_eq!(find(&format!("/{}/{}", o.service, o.method)), Some(o));
        }
        assert_eq!(find("/coffer.v1.SecretService/Nope"), None);
        assert_eq!(find("nonsense"), None);
    }
}
