//! Requests without a valid credential cannot fill the cluster's disks:
//! their audit records are small and fixed in size whatever they send, and
//! each source address may make only so many of them.

mod common;

use coffer::client::types::AuditQuery;
use coffer::client::{Client, ReadConsistency, SetSecret};
use coffer::error_code::ErrorCode;
use coffer::proto::storage::AuditRecord;
use common::TestCluster;
use prost::Message;

/// The records of `operation` answered with `result`.
async fn records(root: &Client, operation: &str, result: &str) -> Vec<AuditRecord> {
    let q = AuditQuery { operation: operation.into(), result: result.into(), ..Default::default() };
    root.audit_query(q).await.unwrap().records
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_anonymous_refusal_is_recorded_small_whatever_the_request_carries() {
    let cluster = TestCluster::start(1).await;
    let root = cluster.client();
    let anonymous = cluster.anonymous_client().with_token("cof_not-a-real-token");
    let huge = "v".repeat(1 << 20);
    let err = anonymous.set_secret(SetSecret::new(&huge, &huge, "x")).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Unauthenticated, "{err}");
    let err = cluster.anonymous_client().get_secret(&huge, "s", None, ReadConsistency::Stale).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Unauthenticated, "{err}");

    for (operation, n) in [("SecretSet", 1), ("SecretGet", 1)] {
        let found = records(&root, operation, "Unauthenticated").await;
        assert_eq!(found.len(), n, "{operation}: {found:?}");
        for r in found {
            assert!(r.vault.is_empty() && r.object.is_empty() && r.detail.is_empty(), "{r:?}");
            assert!(r.encoded_len() < 400, "{operation}: a record of {} bytes", r.encoded_len());
        }
    }
    // An authenticated request naming an invalid vault records no copy of it.
    let err = root.get_secret(&huge, "s", None, ReadConsistency::Stale).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidName, "{err}");
    let found = records(&root, "SecretGet", "InvalidName").await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].vault, "(invalid name)");
    assert!(found[0].encoded_len() < 400, "a record of {} bytes", found[0].encoded_len());
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_source_may_make_only_so_many_requests_without_a_credential() {
    let cluster = TestCluster::start_with(1, |c| {
        c.limits.unauthenticated_per_second = 0;
        c.limits.unauthenticated_burst = 5;
    })
    .await;
    let root = cluster.client();
    root.create_vault("v", 0, false).await.unwrap();
    let anonymous = cluster.anonymous_client().with_token("cof_not-a-real-token");
    let mut codes = Vec::new();
    for _ in 0..30 {
        codes.push(anonymous.get_vault("v", ReadConsistency::Stale).await.unwrap_err().code());
        // An authenticated caller from the same address is never limited.
        root.get_vault("v", ReadConsistency::Stale).await.unwrap();
    }
    let refused = codes.iter().filter(|c| **c == ErrorCode::Unauthenticated).count();
    let limited = codes.iter().filter(|c| **c == ErrorCode::RateLimited).count();
    assert_eq!(refused + limited, codes.len(), "{codes:?}");
    assert_eq!(refused, 5, "the burst, and no refill at a rate of 0: {codes:?}");
    // Only the requests let through were recorded.
    assert_eq!(records(&root, "VaultGet", "Unauthenticated").await.len(), refused);
    assert!(records(&root, "VaultGet", "RateLimited").await.is_empty());
    cluster.shutdown().await;
}
