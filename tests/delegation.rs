//! Every path that hands out rights — role assignments, tokens created with
//! roles, group memberships, role definitions — follows one rule: a
//! non-root caller needs `assignments/write` at the scope and may hand out
//! only roles confined to data actions. (Client certificates: tests/tls.rs,
//! which runs the cluster CA that issues them.)

mod common;

use coffer::client::types::Role;
use coffer::client::Client;
use coffer::error_code::ErrorCode;
use common::TestCluster;

fn role(name: &str, actions: &[&str]) -> Role {
    Role { name: name.into(), actions: actions.iter().map(|a| a.to_string()).collect(), ..Default::default() }
}

async fn token_with(cluster: &TestCluster, name: &str, roles: &[(&str, &str)]) -> Client {
    let (token, _) = cluster.client().create_token_with_roles(name, 0, false, roles).await.unwrap();
    cluster.anonymous_client().with_token(token.as_str())
}

fn forbidden<T: std::fmt::Debug>(result: Result<T, coffer::client::ClientError>, what: &str) {
    let err = result.expect_err(what);
    assert_eq!(err.code(), ErrorCode::Forbidden, "{what}: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_token_maker_with_data_access_cannot_mint_more_than_data_roles() {
    let cluster = TestCluster::start(1).await;
    let root = cluster.client();
    root.create_vault("v", 0, false).await.unwrap();
    root.put_role(role("token-maker", &["tokens/create"]), true).await.unwrap();
    root.put_role(role("everything", &["*"]), true).await.unwrap();
    let maker = token_with(&cluster, "maker", &[("token-maker", "/"), ("data-access-administrator", "/")]).await;

    // The escalation: a token with the operator role, or any non-data custom role.
    forbidden(maker.create_token_with_roles("op", 0, false, &[("operator", "/")]).await, "operator");
    forbidden(maker.create_token_with_roles("all", 0, false, &[("everything", "vaults/v")]).await, "custom *");
    forbidden(maker.create_token_with_roles("aud", 0, false, &[("auditor", "/")]).await, "auditor");
    // Mixed: one forbidden role spoils the request, and nothing is created.
    let before = root.list_tokens().await.unwrap().len();
    forbidden(
        maker.create_token_with_roles("mix", 0, false, &[("secrets-user", "/"), ("operator", "/")]).await,
        "mixed",
    );
    assert_eq!(root.list_tokens().await.unwrap().len(), before, "a refused token is not created");
    // Data roles are fine.
    let (_, info) = maker.create_token_with_roles("app", 0, false, &[("secrets-user", "vaults/v")]).await.unwrap();
    let held = root.list_assignments(&format!("token:{}", info.accessor), "").await.unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].role, "secrets-user");

    // Without assignments/write at the scope, not even data roles.
    let vault_admin =
        token_with(&cluster, "vault-admin", &[("token-maker", "/"), ("data-access-administrator", "vaults/v")]).await;
    vault_admin.create_token_with_roles("in-v", 0, false, &[("secrets-user", "vaults/v")]).await.unwrap();
    forbidden(vault_admin.create_token_with_roles("at-root", 0, false, &[("secrets-user", "/")]).await, "scope");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn role_definitions_and_groups_follow_the_same_rule() {
    let cluster = TestCluster::start(1).await;
    let root = cluster.client();
    root.create_vault("v", 0, false).await.unwrap();

    // A role administrator cannot widen its own role, nor define cluster roles.
    root.put_role(role("role-admin", &["roles/*"]), true).await.unwrap();
    let role_admin = token_with(&cluster, "role-admin", &[("role-admin", "/")]).await;
    forbidden(role_admin.put_role(role("role-admin", &["roles/*", "operator/*"]), false).await, "own role");
    forbidden(role_admin.put_role(role("sealer", &["operator/seal"]), true).await, "cluster role");
    role_admin.put_role(role("secret-reader", &["secrets/get"]), true).await.unwrap();
    assert_eq!(root.get_role("role-admin").await.unwrap().actions, vec!["roles/*".to_string()]);

    // Groups: joining one gives its roles at their scopes.
    root.assign_role("group:ops", "operator", "/").await.unwrap();
    root.assign_role("group:v-readers", "secret-reader", "vaults/v").await.unwrap();
    root.assign_role("group:all-readers", "secret-reader", "/").await.unwrap();
    let v_admin = token_with(&cluster, "v-admin", &[("data-access-administrator", "vaults/v")]).await;
    let admin = token_with(&cluster, "admin", &[("data-access-administrator", "/")]).await;
    forbidden(admin.set_group_member("ops", "cert:eve", true).await, "ops group");
    admin.set_group_member("v-readers", "cert:eve", true).await.unwrap();
    admin.set_group_member("all-readers", "cert:eve", true).await.unwrap();
    // Assignments: the same rule (scope, then data-only).
    forbidden(admin.assign_role("cert:eve", "operator", "/").await, "assign operator");
    forbidden(v_admin.assign_role("cert:eve", "secret-reader", "/").await, "assign outside the scope");
    v_admin.assign_role("cert:eve", "secret-reader", "vaults/v").await.unwrap();
    cluster.shutdown().await;
}
