//! Backup blobs are bound to the vault and secret they were taken from: a
//! restore needs the right to back up that source as well as the right to
//! restore into the target, and a blob whose names were altered is refused.

mod common;

use std::collections::HashMap;

use coffer::client::types::AuditQuery;
use coffer::client::{Client, ReadConsistency, SetSecret};
use coffer::error_code::ErrorCode;
use coffer::proto::storage::BackupEnvelope;
use common::TestCluster;
use prost::Message;

const L: ReadConsistency = ReadConsistency::Linearizable;

async fn token_client(cluster: &TestCluster, roles: &[(&str, &str)]) -> Client {
    let (token, _) = cluster.client().create_token_with_roles("backup-test", 0, false, roles).await.unwrap();
    cluster.anonymous_client().with_token(token.as_str())
}

/// `blob` with its envelope changed by `edit`.
fn tampered(blob: &[u8], edit: impl FnOnce(&mut BackupEnvelope)) -> Vec<u8> {
    let mut envelope = BackupEnvelope::decode(blob).unwrap();
    edit(&mut envelope);
    envelope.encode_to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_restores_only_for_a_caller_entitled_to_its_source() {
    let cluster = TestCluster::start(1).await;
    let root = cluster.client();
    for v in ["a", "b", "c"] {
        root.create_vault(v, 0, false).await.unwrap();
    }
    let tags = HashMap::from([("owner".to_string(), "team-a".to_string())]);
    root.set_secret(SetSecret::new("a", "db-password", "first").with_tags(tags.clone())).await.unwrap();
    root.set_secret(SetSecret::new("a", "db-password", "hunter2").with_content_type("text/plain")).await.unwrap();
    let blob = root.backup_secret("a", "db-password").await.unwrap();

    // Mallory may do anything with secrets in vault b, nothing in a; she
    // got hold of a's blob. Restoring it into b would let her read it.
    let mallory = token_client(&cluster, &[("secrets-officer", "vaults/b")]).await;
    let err = mallory.restore_secret("b", blob.clone()).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Forbidden, "{err}");
    assert!(err.message().contains("secrets/backup at vaults/a/secrets/db-password"), "{err}");
    assert_eq!(mallory.get_secret("b", "db-password", None, L).await.unwrap_err().code(), ErrorCode::SecretNotFound);
    // Renaming the source in the blob to one she may back up does not help.
    let renamed = tampered(&blob, |e| e.vault = "b".into());
    assert_eq!(mallory.restore_secret("b", renamed).await.unwrap_err().code(), ErrorCode::InvalidBackup);

    // Altered names are refused even for a root token.
    for edit in [
        Box::new(|e: &mut BackupEnvelope| e.name = "api-key".into()) as Box<dyn FnOnce(&mut BackupEnvelope)>,
        Box::new(|e: &mut BackupEnvelope| e.vault = "c".into()),
    ] {
        let err = root.restore_secret("c", tampered(&blob, edit)).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidBackup, "{err}");
    }
    assert_eq!(root.list_secrets("c", 0, "", L).await.unwrap().secrets.len(), 0);

    // With rights at both ends, a restore into another vault works: the
    // right to back up the source (here only that secret) and to restore
    // into the target.
    let alice =
        token_client(&cluster, &[("secrets-officer", "vaults/a/secrets/db-password"), ("secrets-officer", "vaults/b")])
            .await;
    alice.restore_secret("b", blob.clone()).await.unwrap();
    let got = alice.get_secret("b", "db-password", None, L).await.unwrap();
    let content_type = got.properties.as_ref().map(|p| p.content_type.as_str());
    assert_eq!((got.value.as_str(), content_type), ("hunter2", Some("text/plain")));
    assert_eq!(alice.list_secret_versions("b", "db-password", 0, "", L).await.unwrap().secrets.len(), 2);

    // The round trip into the source vault, after a purge.
    root.delete_secret("a", "db-password").await.unwrap();
    root.purge_deleted_secret("a", "db-password").await.unwrap();
    root.restore_secret("a", blob).await.unwrap();
    let versions = root.list_secret_versions("a", "db-password", 0, "", L).await.unwrap().secrets;
    assert!(versions.iter().any(|v| v.tags == tags), "{versions:?}");
    assert_eq!(root.get_secret("a", "db-password", None, L).await.unwrap().value, "hunter2");

    // The audit log says where a restored secret came from.
    let query = AuditQuery { operation: "SecretRestore".into(), result: "ok".into(), ..Default::default() };
    let records = root.audit_query(query).await.unwrap().records;
    let details: Vec<&str> = records.iter().map(|r| r.detail.as_str()).collect();
    assert_eq!(details, ["from vaults/a/secrets/db-password"; 2], "{records:?}");
    cluster.shutdown().await;
}
