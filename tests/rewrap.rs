//! `operator rewrap`: every object sealed under an older data key term is
//! re-encrypted under the newest, and the work always ends.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use coffer::barrier::aad;
use coffer::client::{Client, ClientTls, ReadConsistency, SetSecret};
use coffer::crypto::{aead, Key256};
use coffer::error_code::ErrorCode;
use coffer::node::Node;
use coffer::proto::storage::{op::Kind, SecretAttributes};
use coffer::replica::rewrap::REWRAP_BATCH;
use coffer::replica::{Consistency, Replica};
use coffer::state::{join_tokens, secrets};
use common::TestCluster;

/// Rewraps until nothing remains, at most `max_calls` times; returns the
/// objects rewrapped by kind and the number of calls.
async fn rewrap_all(client: &Client, max_calls: usize) -> (BTreeMap<String, u64>, usize) {
    let mut done = BTreeMap::new();
    for call in 1..=max_calls {
        let batch = client.rewrap().await.unwrap();
        for k in batch.kinds {
            *done.entry(k.kind).or_default() += k.rewrapped;
        }
        if batch.remaining == 0 {
            return (done, call);
        }
    }
    panic!("rewrap did not finish in {max_calls} calls");
}

/// Objects still under terms older than `active` on `replica`: live and
/// deleted secret versions, and whether the cluster CA key is.
async fn stale(replica: &Replica, active: u32) -> (u64, u64, bool) {
    replica
        .read(Consistency::Linearizable, |kv| {
            let versions = secrets::under_old_terms(kv, active, 0)?;
            let ca = join_tokens::cluster_ca(kv)?.is_some_and(|ca| secrets::under_old_term(&ca.sealed_key, active));
            Ok((versions.live, versions.deleted, ca))
        })
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rewrap_moves_deleted_versions_and_the_cluster_ca_key() {
    // A managed cluster: its CA key is sealed under a data key.
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::test_config(1, dir.path());
    config.tls = Default::default();
    config.bootstrap = true;
    let node = Node::start(config.clone()).await.unwrap();
    node.replica().wait_for_leader(Duration::from_secs(10)).await.unwrap();
    let ca_pem = std::fs::read_to_string(config.data_dir.join("tls/ca.pem")).unwrap();
    let anonymous =
        Client::new([node.api_addr().to_string()]).unwrap().with_tls(ClientTls::new(&ca_pem, None).unwrap());
    let init = anonymous.operator_init(1, 1).await.unwrap();
    let client = anonymous.with_token(init.root_token.as_str());

    client.create_vault("v", 0, false).await.unwrap();
    let tags = std::collections::HashMap::from([("env".to_owned(), "prod".to_owned())]);
    client.set_secret(SetSecret::new("v", "live", "one").with_tags(tags.clone())).await.unwrap();
    client.set_secret(SetSecret::new("v", "live", "two")).await.unwrap();
    client.set_secret(SetSecret::new("v", "gone", "deleted-value").with_tags(tags)).await.unwrap();
    client.delete_secret("v", "gone").await.unwrap();
    assert_eq!(client.rotate().await.unwrap().keyring_term, 2);
    assert_eq!(stale(node.replica(), 2).await, (2, 1, true));

    let (done, _) = rewrap_all(&client, 5).await;
    let expected = [("cluster-ca-key", 1), ("deleted-secret-versions", 1), ("secret-versions", 2)];
    assert_eq!(done, expected.iter().map(|(k, n)| (k.to_string(), *n)).collect());
    assert_eq!(stale(node.replica(), 2).await, (0, 0, false), "nothing is left under term 1");

    // Everything rewrapped still opens: the CA signs, the deleted secret
    // comes back with its value and tags.
    let (_, public_key) = coffer::tls::pki::new_key().unwrap();
    client.issue_client_certificate("alice", &public_key, 3600).await.unwrap();
    client.recover_deleted_secret("v", "gone").await.unwrap();
    let got = client.get_secret("v", "gone", None, ReadConsistency::Linearizable).await.unwrap();
    assert_eq!((got.value.as_str(), got.properties.unwrap().tags["env"].as_str()), ("deleted-value", "prod"));
    // Nothing to do: an empty report, no error.
    let again = client.rewrap().await.unwrap();
    assert_eq!((again.rewrapped, again.remaining), (0, 0));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rewrap_always_ends_and_names_what_it_cannot_open() {
    let cluster = TestCluster::start(3).await;
    let client = cluster.client();
    client.create_vault("v", 0, false).await.unwrap();
    // More versions of a soft-deleted secret than one call handles.
    for i in 0..=REWRAP_BATCH {
        client.set_secret(SetSecret::new("v", "many", format!("value-{i}"))).await.unwrap();
    }
    client.delete_secret("v", "many").await.unwrap();
    client.rotate().await.unwrap();
    let (done, calls) = rewrap_all(&client, 4).await;
    assert_eq!(done["deleted-secret-versions"], REWRAP_BATCH as u64 + 1);
    assert_eq!(calls, 2);

    // A version sealed under the active term but with a key that is not the
    // cluster's: after the next rotation it cannot be rewrapped.
    let leader = cluster.node(cluster.leader().await).replica().clone();
    let version = "0123456789abcdef0123456789abcdef";
    let term = leader.unsealed().unwrap().active_term();
    let foreign = Key256::generate().unwrap();
    let value = aead::seal(&foreign, term, &aad::secret_value("v", "broken", version), b"x").unwrap();
    let set = coffer::proto::storage::SetSecret {
        vault: "v".into(),
        name: "broken".into(),
        version: version.into(),
        value,
        attributes: Some(SecretAttributes { enabled: true, ..Default::default() }),
        expected_version: None,
    };
    leader.write(Kind::SetSecret(set)).await.unwrap();
    client.set_secret(SetSecret::new("v", "fine", "x")).await.unwrap();
    client.rotate().await.unwrap();
    let err = client.rewrap().await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Integrity, "{err}");
    assert!(err.message().contains(&format!("v/broken/{version}")), "{err}");
    // Once the operator removes it, rewrap finishes.
    client.delete_secret("v", "broken").await.unwrap();
    client.purge_deleted_secret("v", "broken").await.unwrap();
    let (done, _) = rewrap_all(&client, 4).await;
    assert_eq!(done["secret-versions"], 1, "{done:?}");
    assert_eq!(done["deleted-secret-versions"], REWRAP_BATCH as u64 + 1);
    cluster.shutdown().await;
}
