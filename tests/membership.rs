//! Cluster management through the SDK: add, promote, remove, transfer
//! leadership, save a snapshot and restore a new cluster from it.

mod common;

use std::time::Duration;

use coffer::client::{ReadConsistency, SetSecret};
use coffer::error_code::ErrorCode;
use common::TestCluster;

fn role_of(status: &coffer::client::types::ClusterStatus, id: u64) -> Option<String> {
    status.members.iter().find(|m| m.id == id).map(|m| m.role.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn add_promote_remove_and_status() {
    let mut cluster = TestCluster::start(3).await;
    let client = cluster.client();
    client.create_vault("v", 0, false).await.unwrap();
    client.set_secret(SetSecret::new("v", "s", "x")).await.unwrap();

    cluster.spawn_node(4, |_| {}).await;
    let st = client.add_learner(&cluster.api_addr(4)).await.unwrap();
    assert_eq!(role_of(&st, 4).as_deref(), Some("learner"));
    let st = client.promote(vec![4]).await.unwrap();
    assert_eq!(role_of(&st, 4).as_deref(), Some("follower"));
    let st = client.cluster_status().await.unwrap();
    assert_eq!(st.members.len(), 4);
    assert!(st.members.iter().all(|m| m.lag.is_some() && m.matched_index.is_some()), "{st:?}");
    assert_eq!(st.members.iter().find(|m| m.id == 4).unwrap().region, "region-1");

    let st = client.remove_nodes(vec![4]).await.unwrap();
    assert_eq!(role_of(&st, 4), None);
    // Its certificate is still valid, but a removed node cannot add itself back.
    let pki = common::pki::pki();
    let cert = pki.ca.issue_node(4, &["127.0.0.1".into()], coffer::tls::pki::CERT_VALIDITY).unwrap();
    let tls = coffer::client::ClientTls::new(&pki.ca_pem, Some((&cert.cert_pem, &cert.key))).unwrap();
    // Followers first: a follower's copy of the mark may lag the operator's
    // add below; the mark must still be read as the leader has it.
    let leader = cluster.leader().await;
    let order = (1..=3).filter(|id| *id != leader).chain([leader]);
    let as_node4 = coffer::client::Client::new(order.map(|id| cluster.api_addr(id))).unwrap().with_tls(tls);
    let err = as_node4.add_learner(&cluster.api_addr(4)).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Forbidden, "{err}");
    assert!(err.message().contains("removed"), "{err}");
    // An operator can add it again, after which it may promote itself.
    client.add_learner(&cluster.api_addr(4)).await.unwrap();
    as_node4.promote(vec![4]).await.unwrap();
    client.remove_nodes(vec![4]).await.unwrap();
    let err = client.remove_nodes(vec![42]).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::NodeNotFound);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transfer_leadership() {
    let cluster = TestCluster::start(3).await;
    let client = cluster.client();
    let old = cluster.leader().await;
    let target = (1..=3).find(|id| *id != old).unwrap();
    let st = client.transfer_leader(target).await.unwrap();
    assert_eq!(st.leader_id, Some(target), "{st:?}");
    assert_eq!(cluster.leader().await, target);
    // Writes keep working under the new leader.
    client.create_vault("after-transfer", 0, false).await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn save_snapshot_and_restore_a_new_cluster() {
    let cluster = TestCluster::start(3).await;
    let client = cluster.client();
    client.create_vault("v", 0, true).await.unwrap();
    let mut versions = Vec::new();
    for i in 0..10 {
        versions.push(client.set_secret(SetSecret::new("v", "s", format!("value-{i}"))).await.unwrap().version);
    }
    client.set_secret(SetSecret::new("v", "gone", "x")).await.unwrap();
    client.delete_secret("v", "gone").await.unwrap();
    // Saved after a rotation: the file is authenticated all the same.
    assert_eq!(client.rotate().await.unwrap().keyring_term, 2);
    client.set_secret(SetSecret::new("v", "after-rotation", "y")).await.unwrap();
    let share = cluster.share.clone();
    let root = cluster.root_token.clone();
    let mut saved = Vec::new();
    let bytes = client.save_snapshot(&mut saved).await.unwrap();
    assert_eq!(bytes as usize, saved.len());
    assert!(bytes > 0);
    cluster.shutdown().await;

    // Seed a new node from the file, bootstrap it, and grow it to 2 nodes.
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &saved).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::test_config(1, dir.path());
    let restore = |shares: &[&str]| coffer::node::restore::restore(&config.data_dir, file.path(), shares);
    assert_eq!(restore(&[]).unwrap_err().code(), ErrorCode::InvalidShares, "the keys are needed");
    let restored = restore(&[&share]).unwrap();
    assert!(restored > 0);
    assert!(restore(&[&share]).is_err(), "restore refuses a used data dir");
    config.bootstrap = true;
    let n1 = coffer::node::Node::start(config).await.unwrap();
    let n2 = coffer::node::Node::start(common::test_config(2, dir.path())).await.unwrap();
    let client = common::client_for([n1.api_addr().to_string()]).with_token(&root);
    client.add_learner(&n2.api_addr().to_string()).await.unwrap();
    client.promote(vec![2]).await.unwrap();
    // The restored state is sealed under the old cluster's root key.
    n1.replica().unseal(&share).unwrap();
    for (i, v) in versions.iter().enumerate() {
        let got = client.get_secret("v", "s", Some(v), ReadConsistency::Linearizable).await.unwrap();
        assert_eq!(got.value, format!("value-{i}"));
    }
    let deleted = client.get_deleted_secret("v", "gone", ReadConsistency::Linearizable).await.unwrap();
    assert!(deleted.scheduled_purge_date > 0);
    assert!(client.get_vault("v", ReadConsistency::Linearizable).await.unwrap().purge_protection);
    let after = client.get_secret("v", "after-rotation", None, ReadConsistency::Linearizable).await.unwrap();
    assert_eq!(after.value, "y");
    // The joined node received the restored state as a snapshot.
    let only_n2 = common::client_for([n2.api_addr().to_string()]).with_token(&root);
    let mut found = None;
    for _ in 0..100 {
        let _ = n2.replica().unseal(&share);
        if let Ok(s) = only_n2.get_secret("v", "s", None, ReadConsistency::Stale).await {
            found = Some(s.value);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(found.as_deref(), Some("value-9"));
    n2.shutdown().await;
    n1.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_saved_snapshot_changed_in_any_way_is_refused_on_restore() {
    use coffer::proto::storage::{SnapshotRecord, TokenRecord};
    use coffer::storage::snapshot_file;
    use prost::Message;

    let cluster = TestCluster::start(1).await;
    let mut saved = Vec::new();
    cluster.client().save_snapshot(&mut saved).await.unwrap();
    let share = cluster.share.clone();
    cluster.shutdown().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("saved.snap");
    let data_dir = dir.path().join("node");
    let restore = |bytes: &[u8]| {
        std::fs::write(&file, bytes).unwrap();
        coffer::node::restore::restore(&data_dir, &file, &[&share])
    };

    // A root token of the attacker's, written into the saved state.
    let token = format!("cof_{}", "7".repeat(64));
    let hash = coffer::crypto::sha256(token.as_bytes());
    let forged =
        TokenRecord { accessor: "forged".into(), hash: hash.to_vec(), policy: "root".into(), ..Default::default() };
    let added = [
        (coffer::state::keys::token("forged"), forged.encode_to_vec()),
        (coffer::state::keys::token_hash(&hash), b"forged".to_vec()),
    ];
    std::fs::write(&file, &saved).unwrap();
    let mut records = snapshot_file::read_all(&mut std::fs::File::open(&file).unwrap()).unwrap();
    records.extend(added.iter().map(|(key, value)| SnapshotRecord { key: key.clone(), value: value.clone() }));
    // Rewritten whole, without the key (so without a MAC) ...
    snapshot_file::write::<coffer::storage::StorageError>(&file, None, |visit| {
        records.iter().try_for_each(|r| visit(&r.key, &r.value))
    })
    .unwrap();
    let rewritten = std::fs::read(&file).unwrap();
    // ... or spliced in, keeping the original MAC, with the count fixed up.
    let mut spliced = saved.clone();
    let inserted: Vec<u8> = added
        .iter()
        .flat_map(|(key, value)| {
            SnapshotRecord { key: key.clone(), value: value.clone() }.encode_length_delimited_to_vec()
        })
        .collect();
    spliced.splice(8..8, inserted);
    let count_at = spliced.len() - 41;
    let count = u64::from_le_bytes(spliced[count_at..count_at + 8].try_into().unwrap()) + 2;
    spliced[count_at..count_at + 8].copy_from_slice(&count.to_le_bytes());
    // A flipped byte in the middle of the file.
    let mut flipped = saved.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x20;
    for (what, bytes) in [("rewritten", &rewritten), ("spliced", &spliced), ("flipped", &flipped)] {
        let err = restore(bytes).unwrap_err();
        assert_eq!(err.code(), ErrorCode::Integrity, "{what}: {err}");
        assert!(!data_dir.exists(), "{what}: nothing is written");
    }
    // The file as saved restores.
    assert!(restore(&saved).unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_started_to_join_cannot_be_bootstrapped() {
    let mut cluster = TestCluster::start(3).await;
    let through = cluster.api_addr(1);
    cluster.spawn_node(4, |c| c.join = Some(through.clone())).await;
    let err = cluster.node(4).replica().bootstrap().await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::MembershipChange, "{err}");
    cluster.shutdown().await;
}
