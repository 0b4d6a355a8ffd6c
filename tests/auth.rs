//! Token authentication: no credential, a wrong one, an expired or revoked
//! one are refused; only root tokens may do everything.

mod common;

use coffer::client::{ReadConsistency, SetSecret};
use coffer::error_code::ErrorCode;
use common::TestCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_need_a_valid_token() {
    let cluster = TestCluster::start(3).await;
    let root = cluster.client();
    root.create_vault("v", 0, false).await.unwrap();
    root.set_secret(SetSecret::new("v", "s", "x")).await.unwrap();

    let anonymous = cluster.anonymous_client();
    let err = anonymous.get_secret("v", "s", None, ReadConsistency::Linearizable).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Unauthenticated);
    assert_eq!(anonymous.create_vault("w", 0, false).await.unwrap_err().code(), ErrorCode::Unauthenticated);
    assert_eq!(anonymous.rotate().await.unwrap_err().code(), ErrorCode::Unauthenticated);
    assert_eq!(anonymous.remove_nodes(vec![3]).await.unwrap_err().code(), ErrorCode::Unauthenticated);
    // Status stays readable without a token.
    anonymous.cluster_status().await.unwrap();

    let forged = cluster.anonymous_client().with_token(format!("cof_{}", "0".repeat(64)));
    let err = forged.get_secret("v", "s", None, ReadConsistency::Linearizable).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Unauthenticated);
    let garbage = cluster.anonymous_client().with_token("not-a-token");
    assert_eq!(
        garbage.list_vaults(0, "", ReadConsistency::Linearizable).await.unwrap_err().code(),
        ErrorCode::Unauthenticated
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn default_tokens_only_manage_themselves() {
    let cluster = TestCluster::start(3).await;
    let root = cluster.client();
    root.create_vault("v", 0, false).await.unwrap();
    let (token, info) = root.create_token("default", "app", 3600, true).await.unwrap();
    assert_eq!(info.policy, "default");
    let app = cluster.anonymous_client().with_token(token.as_str());
    let err = app.get_secret("v", "s", None, ReadConsistency::Linearizable).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Forbidden);
    assert!(!err.message().contains(token.as_str()));
    assert_eq!(app.create_token("root", "escalate", 0, false).await.unwrap_err().code(), ErrorCode::Forbidden);
    assert_eq!(app.lookup_self().await.unwrap().accessor, info.accessor);
    app.renew_self().await.unwrap();
    // The root token lists tokens by accessor, never the tokens themselves.
    let listed = root.list_tokens().await.unwrap();
    assert!(listed.iter().any(|t| t.accessor == info.accessor));
    assert!(!format!("{listed:?}").contains(&token[4..]));
    app.revoke_self().await.unwrap();
    assert_eq!(app.lookup_self().await.unwrap_err().code(), ErrorCode::Unauthenticated);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokens_expire_and_renew() {
    let cluster = TestCluster::start(3).await;
    let root = cluster.client();
    let (token, _) = root.create_token("root", "short", 60, true).await.unwrap();
    let (fixed, _) = root.create_token("root", "fixed", 60, false).await.unwrap();
    let short = cluster.anonymous_client().with_token(token.as_str());
    short.list_vaults(0, "", ReadConsistency::Linearizable).await.unwrap();
    for id in 1..=3 {
        cluster.node(id).replica().clock().advance_for_tests(45);
    }
    short.renew_self().await.unwrap();
    let fixed = cluster.anonymous_client().with_token(fixed.as_str());
    assert!(fixed.renew_self().await.is_err(), "not renewable");
    for id in 1..=3 {
        cluster.node(id).replica().clock().advance_for_tests(30);
    }
    // 75 s after creation: the renewed token lives on, the other expired.
    short.list_vaults(0, "", ReadConsistency::Linearizable).await.unwrap();
    let err = fixed.list_vaults(0, "", ReadConsistency::Linearizable).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Unauthenticated);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_initial_root_token_can_be_revoked_once_another_admin_exists() {
    let cluster = TestCluster::start(3).await;
    let initial = cluster.client();
    let initial_accessor = initial.lookup_self().await.unwrap().accessor;
    let err = initial.revoke_self().await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::LastRootToken);
    let (admin_token, _) = initial.create_token("root", "second admin", 0, false).await.unwrap();
    let admin = cluster.anonymous_client().with_token(admin_token.as_str());
    admin.revoke_accessor(&initial_accessor).await.unwrap();
    assert_eq!(
        initial.list_vaults(0, "", ReadConsistency::Linearizable).await.unwrap_err().code(),
        ErrorCode::Unauthenticated
    );
    admin.create_vault("still-works", 0, false).await.unwrap();
    cluster.shutdown().await;
}

/// A follower applies a write a moment after the leader acknowledges it. A
/// token it does not know yet (made moments ago) sends the client to the
/// leader instead of being refused; a token nobody knows is still refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_token_just_made_works_at_once_on_a_follower_that_has_not_applied_it() {
    let cluster = TestCluster::start(3).await;
    let root = cluster.client();
    root.create_vault("v", 0, false).await.unwrap();
    root.set_secret(SetSecret::new("v", "s", "x")).await.unwrap();
    let leader = cluster.leader().await;
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    // A client connected to the follower alone, before the token exists.
    let on_follower = common::client_for([cluster.api_addr(follower)]);
    on_follower.cluster_status().await.unwrap();
    // Followers learn of a commit from the leader's next message: with every
    // peer message slowed down (as much as replication tolerates here), they
    // apply the token's creation a while after it is acknowledged.
    cluster.faults.set_delay(Some(std::time::Duration::from_millis(30)));
    let (token, _) = root.create_token_with_roles("app", 3600, false, &[("secrets-user", "vaults/v")]).await.unwrap();
    let behind = cluster.applied(follower);
    assert!(behind < cluster.applied_on_leader().await, "the test needs the follower behind the leader");
    let read = on_follower.with_token(token.as_str()).get_secret("v", "s", None, ReadConsistency::Stale).await;
    assert_eq!(read.unwrap().value, "x");

    let forged = common::client_for([cluster.api_addr(follower)]).with_token(format!("cof_{}", "0".repeat(64)));
    let err = forged.get_secret("v", "s", None, ReadConsistency::Stale).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Unauthenticated);
    cluster.faults.set_delay(None);
    cluster.shutdown().await;
}
