//! Role-based access control: every built-in role × every operation ×
//! scope, custom roles, groups, assignments taking effect on every node,
//! and the "read exactly one secret" token.

mod common;

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use coffer::client::types::UpdateSecretRequest;
use coffer::client::{Client, ReadConsistency, SetSecret};
use coffer::error_code::ErrorCode;
use common::TestCluster;

const L: ReadConsistency = ReadConsistency::Linearizable;

/// What each built-in role may do among the operations below, written out
/// by hand from the role descriptions (not computed from the code).
fn expected_actions(role: &str) -> &'static [&'static str] {
    const SECRETS_ALL: &[&str] = &[
        "vaults/read",
        "secrets/get",
        "secrets/metadata",
        "secrets/set",
        "secrets/update",
        "secrets/delete",
        "secrets/recover",
        "secrets/backup",
        "secrets/restore",
        "secrets/purge",
    ];
    match role {
        "administrator" => &[
            "vaults/read",
            "vaults/create",
            "vaults/update",
            "vaults/delete",
            "secrets/get",
            "secrets/metadata",
            "secrets/set",
            "secrets/update",
            "secrets/delete",
            "secrets/recover",
            "secrets/backup",
            "secrets/restore",
            "secrets/purge",
        ],
        "secrets-officer" => SECRETS_ALL,
        "secrets-user" => &["secrets/get", "secrets/metadata"],
        "reader" => &["vaults/read", "secrets/metadata"],
        "purge-operator" => &["vaults/read", "secrets/purge"],
        "crypto-officer" | "certificates-officer" => &["vaults/read"],
        "crypto-user" | "crypto-service-encryption-user" | "certificate-user" | "auditor" => &[],
        "data-access-administrator" => &["vaults/read", "roles/read", "assignments/read", "assignments/write"],
        "operator" => &["operator/rotate", "operator/rewrap", "cluster/snapshot", "cluster/join-token"],
        other => panic!("no expectation for role {other}"),
    }
}

/// Where an operation acts.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum At {
    Cluster,
    Vault,
    Secret,
}

type Call<'a> = Pin<Box<dyn Future<Output = Result<(), coffer::client::ClientError>> + Send + 'a>>;

/// Every operation of the API that a role can be granted, by its gRPC
/// method, with the action it needs written out by hand (the test checks
/// the operation table agrees), in an order where allowed destructive ones
/// still leave later ones meaningful. The ones left out are in
/// [`NOT_IN_THE_MATRIX`].
fn operations<'a>(c: &'a Client, v: &'a str, backup: &'a [u8]) -> Vec<(&'static str, &'static str, At, Call<'a>)> {
    let s = "s";
    vec![
        ("VaultService/GetVault", "vaults/read", At::Vault, Box::pin(async move { c.get_vault(v, L).await.map(drop) })),
        (
            "VaultService/ListVaults",
            "vaults/read",
            At::Cluster,
            Box::pin(async move { c.list_vaults(0, "", L).await.map(drop) }),
        ),
        (
            "VaultService/CreateVault",
            "vaults/create",
            At::Vault,
            Box::pin(async move { c.create_vault(v, 0, false).await.map(drop) }),
        ),
        (
            "VaultService/UpdateVault",
            "vaults/update",
            At::Vault,
            Box::pin(async move { c.update_vault(v, Some(false)).await.map(drop) }),
        ),
        ("VaultService/DeleteVault", "vaults/delete", At::Vault, Box::pin(async move { c.delete_vault(v).await })),
        (
            "SecretService/GetSecret",
            "secrets/get",
            At::Secret,
            Box::pin(async move { c.get_secret(v, s, None, L).await.map(drop) }),
        ),
        (
            "SecretService/ListSecrets",
            "secrets/metadata",
            At::Vault,
            Box::pin(async move { c.list_secrets(v, 0, "", L).await.map(drop) }),
        ),
        (
            "SecretService/ListSecretVersions",
            "secrets/metadata",
            At::Secret,
            Box::pin(async move { c.list_secret_versions(v, s, 0, "", L).await.map(drop) }),
        ),
        (
            "SecretService/SetSecret",
            "secrets/set",
            At::Secret,
            Box::pin(async move { c.set_secret(SetSecret::new(v, s, "new")).await.map(drop) }),
        ),
        (
            "SecretService/UpdateSecret",
            "secrets/update",
            At::Secret,
            Box::pin(async move {
                let req =
                    UpdateSecretRequest { vault: v.into(), name: s.into(), enabled: Some(true), ..Default::default() };
                c.update_secret(req).await.map(drop)
            }),
        ),
        (
            "SecretService/BackupSecret",
            "secrets/backup",
            At::Secret,
            Box::pin(async move { c.backup_secret(v, s).await.map(drop) }),
        ),
        (
            "SecretService/DeleteSecret",
            "secrets/delete",
            At::Secret,
            Box::pin(async move { c.delete_secret(v, s).await.map(drop) }),
        ),
        (
            "SecretService/GetDeletedSecret",
            "secrets/metadata",
            At::Secret,
            Box::pin(async move { c.get_deleted_secret(v, s, L).await.map(drop) }),
        ),
        (
            "SecretService/ListDeletedSecrets",
            "secrets/metadata",
            At::Vault,
            Box::pin(async move { c.list_deleted_secrets(v, 0, "", L).await.map(drop) }),
        ),
        (
            "SecretService/RecoverDeletedSecret",
            "secrets/recover",
            At::Secret,
            Box::pin(async move { c.recover_deleted_secret(v, s).await.map(drop) }),
        ),
        (
            "SecretService/PurgeDeletedSecret",
            "secrets/purge",
            At::Secret,
            Box::pin(async move { c.purge_deleted_secret(v, s).await }),
        ),
        (
            "SecretService/RestoreSecret",
            "secrets/restore",
            At::Vault,
            Box::pin(async move { c.restore_secret(v, backup.to_vec()).await.map(drop) }),
        ),
        (
            "TokenService/ListTokens",
            "tokens/read",
            At::Cluster,
            Box::pin(async move { c.list_tokens().await.map(drop) }),
        ),
        ("RbacService/ListRoles", "roles/read", At::Cluster, Box::pin(async move { c.list_roles().await.map(drop) })),
        (
            "RbacService/ListAssignments",
            "assignments/read",
            At::Cluster,
            Box::pin(async move { c.list_assignments("", "").await.map(drop) }),
        ),
        (
            "RbacService/SetGroupMember",
            "assignments/write",
            At::Cluster,
            Box::pin(async move { c.set_group_member("matrix", "cert:nobody", true).await }),
        ),
        ("OperatorService/Rotate", "operator/rotate", At::Cluster, Box::pin(async move { c.rotate().await.map(drop) })),
        ("OperatorService/Rewrap", "operator/rewrap", At::Cluster, Box::pin(async move { c.rewrap().await.map(drop) })),
        (
            "ClusterService/SaveSnapshot",
            "cluster/snapshot",
            At::Cluster,
            Box::pin(async move { c.save_snapshot(&mut std::io::sink()).await.map(drop) }),
        ),
        (
            "PkiService/CreateJoinToken",
            "cluster/join-token",
            At::Cluster,
            Box::pin(async move { c.create_join_token(60).await.map(drop) }),
        ),
    ]
}

/// Operations authorized by an action that the matrix does not call, and why.
const NOT_IN_THE_MATRIX: &[(&str, &str)] = &[
    ("OperatorService/Seal", "would stop the test cluster"),
    ("OperatorService/Rekey", "needs the key shares and replaces them"),
    ("OperatorService/Init", "formation: open before init, then only for a root token (tests/auth.rs)"),
    ("ClusterService/Bootstrap", "formation (tests/membership.rs)"),
    ("ClusterService/AddLearner", "formation (tests/membership.rs)"),
    ("ClusterService/Promote", "formation (tests/membership.rs)"),
    ("ClusterService/RemoveNode", "formation (tests/membership.rs)"),
    ("ClusterService/TransferLeader", "formation (tests/cluster.rs)"),
    ("PkiService/IssueClientCertificate", "needs the managed cluster CA (tests/tls.rs)"),
    ("TokenService/CreateToken", "the delegation rule (tests/delegation.rs)"),
    ("TokenService/RevokeAccessor", "would revoke the matrix's own tokens"),
    ("RbacService/ListActions", "roles/read, as ListRoles"),
    ("RbacService/GetRole", "roles/read, as ListRoles"),
    ("RbacService/PutRole", "the delegation rule (tests/delegation.rs)"),
    ("RbacService/DeleteRole", "roles/write, root only (no built-in role holds it)"),
    ("RbacService/Assign", "the delegation rule (tests/delegation.rs)"),
    ("RbacService/Unassign", "the delegation rule at the assignment's scope (tests/rbac.rs, delegation)"),
    ("RbacService/ListGroups", "assignments/read, as ListAssignments"),
    ("AuditService/Query", "audit/read (tests/audit.rs)"),
    ("AuditService/Tail", "audit/read (tests/audit.rs)"),
    ("AuditService/Verify", "audit/read (tests/audit.rs)"),
    ("AuditService/Trim", "audit/trim (tests/audit.rs)"),
    ("AuditService/Head", "audit/read (tests/audit.rs)"),
    ("AuditService/Hmac", "audit/read (tests/audit.rs)"),
];

/// The operation table's row for `method` (`Service/Method`).
fn row(method: &str) -> &'static coffer::api::operations::Operation {
    coffer::api::operations::find(&format!("/coffer.v1.{method}")).unwrap_or_else(|| panic!("no row for {method}"))
}

/// The action the table says `method` needs (the first, for restore).
fn action_of(method: &str) -> &'static str {
    row(method).actions().first().copied().unwrap_or_else(|| panic!("{method} needs no action"))
}

#[test]
fn the_matrix_covers_every_operation_that_needs_an_action_or_says_why_not() {
    use coffer::api::operations::{Access, OPERATIONS};
    let client = Client::new(["127.0.0.1:1"]).unwrap();
    let called: BTreeSet<String> = operations(&client, "v", &[]).into_iter().map(|(m, ..)| m.to_owned()).collect();
    for (method, action, ..) in operations(&client, "v", &[]) {
        assert_eq!(action_of(method), action, "the operation table's action for {method}");
    }
    for (m, _) in NOT_IN_THE_MATRIX {
        assert!(!called.contains(*m), "{m} is both called and excused");
        row(m);
    }
    let excused: BTreeSet<String> = NOT_IN_THE_MATRIX.iter().map(|(m, _)| m.to_string()).collect();
    for op in OPERATIONS {
        let needs_an_action = !matches!(op.access, Access::OwnToken | Access::Authenticated | Access::Open);
        let method = format!("{}/{}", op.service.trim_start_matches("coffer.v1."), op.method);
        if needs_an_action {
            assert!(
                called.contains(&method) || excused.contains(&method),
                "{method} is neither in the matrix nor excused"
            );
        }
    }
}

/// Whether an assignment at `scope` (as written in the matrix) covers an
/// operation at `at` on vault `v`, secret `s`.
fn covers(scope: &str, at: At) -> bool {
    match scope {
        "/" => true,
        "vaults/v" => at != At::Cluster,
        "vaults/v/secrets/s" => at == At::Secret,
        "vaults/other" => false,
        other => panic!("unknown scope {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_built_in_role_at_every_scope_allows_exactly_its_operations() {
    let cluster = TestCluster::start(1).await;
    let root = cluster.client();
    let roles: Vec<String> =
        root.list_roles().await.unwrap().into_iter().filter(|r| r.built_in).map(|r| r.name).collect();
    assert_eq!(roles.len(), 13, "{roles:?}");
    let mut failures = Vec::new();
    let mut checked = 0;
    for (i, role) in roles.iter().enumerate() {
        for (j, scope) in ["/", "vaults/v", "vaults/v/secrets/s", "vaults/other"].iter().enumerate() {
            // A fresh vault per case (operations change it); the scope
            // names it as "v", so map the names.
            let v = format!("m{i}x{j}");
            root.create_vault(&v, 0, false).await.unwrap();
            root.create_vault(&format!("{v}-other"), 0, false).await.unwrap();
            root.set_secret(SetSecret::new(&v, "s", "value")).await.unwrap();
            let backup = root.backup_secret(&v, "s").await.unwrap();
            let real_scope =
                scope.replace("vaults/v", &format!("vaults/{v}")).replace("vaults/other", &format!("vaults/{v}-other"));
            let (token, _) = root.create_token_with_roles("matrix", 0, false, &[(role, &real_scope)]).await.unwrap();
            let client = cluster.anonymous_client().with_token(token.as_str());
            let allowed: BTreeSet<&str> = expected_actions(role).iter().copied().collect();
            for (method, action, at, call) in operations(&client, &v, &backup) {
                assert_eq!(action_of(method), action, "the operation table's action for {method}");
                let expect = allowed.contains(action) && covers(scope, at);
                let result = call.await;
                let forbidden = matches!(&result, Err(e) if e.code() == ErrorCode::Forbidden);
                checked += 1;
                if forbidden == expect {
                    failures.push(format!(
                        "{role} at {scope}: {method}, {action} ({at:?}) expected allowed={expect}, got {result:?}"
                    ));
                }
                if let Err(e) = &result {
                    if forbidden {
                        // A denial names the action and the scope, nothing more.
                        assert!(e.message().contains(action), "{e}");
                        assert!(!e.message().contains("value"), "{e}");
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {checked} checks failed:\n{}", failures.len(), failures.join("\n"));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_token_for_one_secret_reads_only_that_secret() {
    let cluster = TestCluster::start(3).await;
    let root = cluster.client();
    root.create_vault("payments", 0, false).await.unwrap();
    root.create_vault("billing", 0, false).await.unwrap();
    root.set_secret(SetSecret::new("payments", "db-password", "hunter2")).await.unwrap();
    root.set_secret(SetSecret::new("payments", "api-key", "other")).await.unwrap();
    root.set_secret(SetSecret::new("billing", "db-password", "billing-pw")).await.unwrap();
    let (token, info) = root
        .create_token_with_roles(
            "payments-app",
            3600,
            false,
            &[("secrets-user", "vaults/payments/secrets/db-password")],
        )
        .await
        .unwrap();
    let app = cluster.anonymous_client().with_token(token.as_str());
    assert_eq!(app.get_secret("payments", "db-password", None, L).await.unwrap().value, "hunter2");
    for (vault, name) in [("payments", "api-key"), ("billing", "db-password")] {
        let err = app.get_secret(vault, name, None, L).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::Forbidden);
        assert!(err.message().contains(&format!("secrets/get at vaults/{vault}/secrets/{name}")), "{err}");
        assert!(!err.message().contains("other") && !err.message().contains("billing-pw"), "{err}");
    }
    assert_eq!(app.list_secrets("payments", 0, "", L).await.unwrap_err().code(), ErrorCode::Forbidden);
    let write = app.set_secret(SetSecret::new("payments", "db-password", "x")).await.unwrap_err();
    assert_eq!(write.code(), ErrorCode::Forbidden);
    // Its assignment is listed under its principal; revoking the token removes it.
    let principal = format!("token:{}", info.accessor);
    assert_eq!(root.list_assignments(&principal, "").await.unwrap().len(), 1);
    root.revoke_accessor(&info.accessor).await.unwrap();
    assert!(root.list_assignments(&principal, "").await.unwrap().is_empty());
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn assignment_changes_take_effect_on_every_node() {
    let cluster = TestCluster::start(3).await;
    let root = cluster.client();
    root.create_vault("v", 0, false).await.unwrap();
    root.set_secret(SetSecret::new("v", "s", "x")).await.unwrap();
    let (token, info) = root.create_token("default", "app", 0, false).await.unwrap();
    let principal = format!("token:{}", info.accessor);
    // A stale read is served by a node from its own state when that state
    // allows it; a refusal is the leader's (a node whose state refuses, or
    // that does not know the token, sends the caller there).
    let on = |id: u64| common::client_for([cluster.api_addr(id)]).with_token(token.as_str());
    for id in 1..=3 {
        let err = on(id).get_secret("v", "s", None, ReadConsistency::Stale).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::Forbidden);
    }
    let assignment = root.assign_role(&principal, "secrets-user", "vaults/v").await.unwrap();
    for id in 1..=3 {
        assert_eq!(on(id).get_secret("v", "s", None, ReadConsistency::Stale).await.unwrap().value, "x");
    }
    // A revocation reaches each node's stale reads once it applies it: each
    // node's own answer shows when.
    root.unassign_role(&assignment.id).await.unwrap();
    for id in 1..=3 {
        wait_until(|| async move {
            on(id)
                .get_secret("v", "s", None, ReadConsistency::Stale)
                .await
                .is_err_and(|e| e.code() == ErrorCode::Forbidden)
        })
        .await;
    }
    cluster.shutdown().await;
}

async fn wait_until<F, Fut>(check: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "the change never took effect");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn custom_roles_groups_and_delegation() {
    let cluster = TestCluster::start(1).await;
    let root = cluster.client();
    root.create_vault("v", 0, false).await.unwrap();
    root.set_secret(SetSecret::new("v", "s", "x")).await.unwrap();

    // A custom role with a not-action.
    let role = coffer::client::types::Role {
        name: "writer-no-purge".into(),
        description: "everything on secrets but purge".into(),
        actions: vec!["secrets/*".into()],
        not_actions: vec!["secrets/purge".into()],
        ..Default::default()
    };
    root.put_role(role.clone(), true).await.unwrap();
    assert_eq!(root.put_role(role.clone(), true).await.unwrap_err().code(), ErrorCode::RoleAlreadyExists);
    let typo = coffer::client::types::Role { actions: vec!["secret/get".into()], ..role.clone() };
    assert_eq!(root.put_role(typo, false).await.unwrap_err().code(), ErrorCode::InvalidArgument);
    let builtin = coffer::client::types::Role { name: "reader".into(), ..role.clone() };
    assert_eq!(root.put_role(builtin, false).await.unwrap_err().code(), ErrorCode::InvalidArgument);

    // Granted through a group: a client certificate in group "team".
    let alice = common::client_for([cluster.api_addr(1)]).with_tls(common::pki::pki().client_cert("alice"));
    assert_eq!(alice.get_secret("v", "s", None, L).await.unwrap_err().code(), ErrorCode::Forbidden);
    root.set_group_member("team", "cert:alice", true).await.unwrap();
    let a = root.assign_role("group:team", "writer-no-purge", "vaults/v").await.unwrap();
    assert_eq!(alice.get_secret("v", "s", None, L).await.unwrap().value, "x");
    alice.delete_secret("v", "s").await.unwrap();
    assert_eq!(alice.purge_deleted_secret("v", "s").await.unwrap_err().code(), ErrorCode::Forbidden);
    alice.recover_deleted_secret("v", "s").await.unwrap();
    // A role in use cannot be deleted; once unassigned it can.
    assert_eq!(root.delete_role("writer-no-purge").await.unwrap_err().code(), ErrorCode::InvalidArgument);
    root.set_group_member("team", "cert:alice", false).await.unwrap();
    assert_eq!(alice.get_secret("v", "s", None, L).await.unwrap_err().code(), ErrorCode::Forbidden);
    root.unassign_role(&a.id).await.unwrap();
    root.delete_role("writer-no-purge").await.unwrap();
    assert_eq!(root.get_role("writer-no-purge").await.unwrap_err().code(), ErrorCode::RoleNotFound);

    // A vault's data access administrator delegates within that vault only,
    // and cannot mint root tokens.
    let (admin, _) = root
        .create_token_with_roles(
            "dar",
            0,
            false,
            &[("data-access-administrator", "vaults/v"), ("secrets-user", "vaults/v")],
        )
        .await
        .unwrap();
    let admin = cluster.anonymous_client().with_token(admin.as_str());
    admin.assign_role("cert:bob", "secrets-user", "vaults/v/secrets/s").await.unwrap();
    // ... only data roles: not operator, not through a group either.
    let err = admin.assign_role("cert:bob", "operator", "vaults/v").await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Forbidden);
    assert!(err.message().contains("role operator"), "{err}");
    root.assign_role("group:ops", "operator", "/").await.unwrap();
    let (cluster_dar, _) =
        root.create_token_with_roles("dar2", 0, false, &[("data-access-administrator", "/")]).await.unwrap();
    let cluster_dar = cluster.anonymous_client().with_token(cluster_dar.as_str());
    assert_eq!(cluster_dar.set_group_member("ops", "cert:bob", true).await.unwrap_err().code(), ErrorCode::Forbidden);
    cluster_dar.set_group_member("readers", "cert:bob", true).await.unwrap();
    let err = admin.assign_role("cert:bob", "secrets-user", "/").await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Forbidden);
    assert!(err.message().contains("assignments/write at /"), "{err}");
    let err = root.create_token_with_roles("tc", 0, false, &[("token-maker", "/")]).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::RoleNotFound, "assigning an unknown role fails");
    let maker = coffer::client::types::Role {
        name: "token-maker".into(),
        actions: vec!["tokens/create".into()],
        ..Default::default()
    };
    root.put_role(maker, true).await.unwrap();
    let (maker_token, _) = root.create_token_with_roles("tc", 0, false, &[("token-maker", "/")]).await.unwrap();
    let maker = cluster.anonymous_client().with_token(maker_token.as_str());
    assert_eq!(maker.create_token("root", "escalate", 0, false).await.unwrap_err().code(), ErrorCode::Forbidden);
    let err = maker.create_token_with_roles("x", 0, false, &[("administrator", "/")]).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Forbidden);
    maker.create_token("default", "plain", 60, false).await.unwrap();
    cluster.shutdown().await;
}

/// A role granted moments ago is honoured at once by a follower that has
/// not applied the grant yet: its refusal sends the client to the leader.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_grant_just_made_works_at_once_on_a_follower_that_has_not_applied_it() {
    let cluster = TestCluster::start(3).await;
    let root = cluster.client();
    root.create_vault("v", 0, false).await.unwrap();
    root.set_secret(SetSecret::new("v", "s", "x")).await.unwrap();
    let (token, info) = root.create_token("default", "app", 0, false).await.unwrap();
    let leader = cluster.leader().await;
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    cluster.wait_applied(follower, cluster.applied_on_leader().await).await;
    let on_follower = common::client_for([cluster.api_addr(follower)]).with_token(token.as_str());
    let err = on_follower.get_secret("v", "s", None, ReadConsistency::Stale).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Forbidden, "no role yet: {err}");
    // Slowed peer messages keep the follower behind the grant for a while.
    cluster.faults.set_delay(Some(Duration::from_millis(30)));
    root.assign_role(&format!("token:{}", info.accessor), "secrets-user", "vaults/v").await.unwrap();
    let behind = cluster.applied(follower);
    assert!(behind < cluster.applied_on_leader().await, "the test needs the follower behind the leader");
    assert_eq!(on_follower.get_secret("v", "s", None, ReadConsistency::Stale).await.unwrap().value, "x");
    cluster.faults.set_delay(None);
    cluster.shutdown().await;
}
