//! The encryption barrier and the seal, end to end on in-process clusters.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use coffer::client::{ReadConsistency, SetSecret};
use coffer::crypto::aead;
use coffer::error_code::ErrorCode;
use coffer::replica::Consistency;
use coffer::state::secrets;
use common::TestCluster;

/// Files under `dir` containing `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        // A directory may go between being listed and being read (a
        // snapshot checkpoint replaced by a newer one): nothing to search.
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    hits.push(path.display().to_string());
                }
            }
        }
    }
    hits
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_plaintext_on_disk_in_logs_snapshots_or_backups() {
    let cluster = TestCluster::start_with(3, |c| {
        c.raft.snapshot_after_logs = 10;
        c.raft.keep_logs_after_snapshot = 2;
    })
    .await;
    let client = cluster.client();
    // The vault name is plaintext by design: it proves the scan can see.
    client.create_vault("control-visible-vault-name", 0, false).await.unwrap();
    let marker = "MARKER-7f3a9c-plaintext-secret";
    let tag_marker = "MARKER-tag-5d1e";
    let mut tags = std::collections::HashMap::new();
    tags.insert("owner".to_string(), tag_marker.to_string());
    for i in 0..30 {
        let req = SetSecret::new("control-visible-vault-name", &format!("s{i}"), format!("{marker}-{i}"))
            .with_tags(tags.clone())
            .with_content_type("text/x-MARKER-ct");
        client.set_secret(req).await.unwrap();
    }
    let blob = client.backup_secret("control-visible-vault-name", "s0").await.unwrap();
    let mut saved = Vec::new();
    client.save_snapshot(&mut saved).await.unwrap();
    let applied = cluster.applied_on_leader().await;
    for id in 1..=3 {
        cluster.wait_applied(id, applied).await;
        cluster.node(id).replica().reader().flush_to_disk().unwrap();
    }
    let dir = cluster.dir.path();
    let root_token = cluster.root_token.clone();
    assert!(!files_containing(dir, b"control-visible-vault-name").is_empty(), "the scan sees plaintext");
    for needle in [marker, tag_marker, "MARKER-ct", &root_token[4..]] {
        assert_eq!(files_containing(dir, needle.as_bytes()), Vec::<String>::new(), "{needle} found on disk");
        assert!(!blob.windows(needle.len()).any(|w| w == needle.as_bytes()), "{needle} in the backup blob");
        assert!(!saved.windows(needle.len()).any(|w| w == needle.as_bytes()), "{needle} in the snapshot");
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn swapped_ciphertexts_fail_with_an_integrity_error() {
    let mut cluster = TestCluster::start(3).await;
    let client = cluster.client();
    client.create_vault("v", 0, false).await.unwrap();
    let a = client.set_secret(SetSecret::new("v", "a", "value-a")).await.unwrap().version;
    let b = client.set_secret(SetSecret::new("v", "b", "value-b")).await.unwrap().version;
    let applied = cluster.applied_on_leader().await;
    let leader = cluster.leader().await;
    let victim = (1..=3).find(|id| *id != leader).unwrap();
    cluster.wait_applied(victim, applied).await;
    cluster.kill(victim).await;

    // Swap the sealed values of the two versions directly in RocksDB.
    {
        use prost::Message;
        let db_path = cluster.dir.path().join(format!("node{victim}/db"));
        let open = || rocksdb::DB::open_cf(&rocksdb::Options::default(), &db_path, coffer::storage::cf::STATE_DB);
        let db = common::once_unlocked("the victim's state", open).await;
        let cf = db.cf_handle(coffer::storage::cf::STATE).unwrap();
        let key_a = coffer::state::keys::secret_version("v", "a", &a);
        let key_b = coffer::state::keys::secret_version("v", "b", &b);
        let decode = |k: &[u8]| {
            coffer::proto::storage::SecretVersionRecord::decode(db.get_cf(cf, k).unwrap().unwrap().as_slice()).unwrap()
        };
        let (mut ra, mut rb) = (decode(&key_a), decode(&key_b));
        std::mem::swap(&mut ra.value, &mut rb.value);
        db.put_cf(cf, &key_a, ra.encode_to_vec()).unwrap();
        db.put_cf(cf, &key_b, rb.encode_to_vec()).unwrap();
    }
    cluster.restart(victim).await;
    let only_victim = cluster.client_of(victim);
    for name in ["a", "b"] {
        let err = only_victim.get_secret("v", name, None, ReadConsistency::Stale).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::Integrity, "{err}");
        assert!(!err.message().contains("value-"), "no plaintext in errors");
    }
    // The healthy replicas still serve the right values.
    let got = client.get_secret("v", "a", None, ReadConsistency::Linearizable).await.unwrap();
    assert_eq!(got.value, "value-a");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sealed_node_refuses_data_and_unseals_with_the_share() {
    let cluster = TestCluster::start(3).await;
    let client = cluster.client();
    client.create_vault("v", 0, false).await.unwrap();
    client.set_secret(SetSecret::new("v", "s", "x")).await.unwrap();
    let leader = cluster.leader().await;
    let replica = cluster.node(leader).replica().clone();
    replica.barrier().seal();
    let err = client.get_secret("v", "s", None, ReadConsistency::Linearizable).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Sealed);
    let err = client.set_secret(SetSecret::new("v", "s", "y")).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Sealed);
    // Still a working Raft member: a follower can take over and serve.
    assert!(replica.raft().metrics().borrow().current_leader.is_some());
    replica.unseal(&cluster.share).unwrap();
    assert_eq!(client.get_secret("v", "s", None, ReadConsistency::Linearizable).await.unwrap().value, "x");
    assert!(matches!(replica.unseal("cofshare1-00"), Err(e) if e.code() == ErrorCode::InvalidShares));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keyring_rotation_under_write_load() {
    let cluster = TestCluster::start(3).await;
    let client = Arc::new(cluster.client());
    client.create_vault("v", 0, false).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (client, stop) = (client.clone(), stop.clone());
            tokio::spawn(async move {
                let mut written = Vec::new();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let value = format!("w{w}-{i}");
                    let p = client.set_secret(SetSecret::new("v", &format!("w{w}"), value.clone())).await;
                    written.push((p.expect("no write fails during rotation").version, value));
                    i += 1;
                }
                written
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(client.rotate().await.unwrap().keyring_term, 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(client.rotate().await.unwrap().keyring_term, 3);
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for (w, t) in writers.into_iter().enumerate() {
        for (version, value) in t.await.unwrap() {
            all.push((w, version, value));
        }
    }
    for (w, version, value) in &all {
        let got = client.get_secret("v", &format!("w{w}"), Some(version), ReadConsistency::Linearizable).await.unwrap();
        assert_eq!(&got.value, value);
    }
    // New writes carry the newest term; rewrap moves the old ones.
    let p = client.set_secret(SetSecret::new("v", "fresh", "x")).await.unwrap();
    let leader = cluster.node(cluster.leader().await).replica().clone();
    let view =
        leader.read(Consistency::Linearizable, |kv| secrets::get_any(kv, "v", "fresh", &p.version)).await.unwrap();
    assert_eq!(aead::term_of(&view.version.value).unwrap(), 3);
    let stale = leader.read(Consistency::Linearizable, |kv| secrets::under_old_terms(kv, 3, 1)).await.unwrap();
    assert!(stale.live > 0, "writes before the rotations are under older terms");
    while client.rewrap().await.unwrap().remaining > 0 {}
    let stale = leader.read(Consistency::Linearizable, |kv| secrets::under_old_terms(kv, 3, 1)).await.unwrap();
    assert_eq!(stale.live + stale.deleted, 0);
    for (w, version, value) in all.iter().take(20) {
        let got = client.get_secret("v", &format!("w{w}"), Some(version), ReadConsistency::Linearizable).await.unwrap();
        assert_eq!(&got.value, value);
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rekey_replaces_the_root_key_and_shares() {
    let cluster = TestCluster::start(3).await;
    let client = cluster.client();
    client.create_vault("v", 0, false).await.unwrap();
    client.set_secret(SetSecret::new("v", "s", "before")).await.unwrap();
    let old = cluster.share.clone();
    let err = client.rekey(vec!["cofshare1-00".into()], 3, 2).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidShares);
    let new = client.rekey(vec![old.clone()], 3, 2).await.unwrap();
    assert_eq!(new.len(), 3);
    // Every unsealed node follows the new root key without new shares, also
    // through a later data key rotation.
    client.rotate().await.unwrap();
    client.set_secret(SetSecret::new("v", "s2", "after")).await.unwrap();
    let applied = cluster.applied_on_leader().await;
    for id in 1..=3 {
        cluster.wait_applied(id, applied).await;
        let only = cluster.client_of(id);
        assert_eq!(only.get_secret("v", "s", None, ReadConsistency::Stale).await.unwrap().value, "before", "node {id}");
        assert_eq!(only.get_secret("v", "s2", None, ReadConsistency::Stale).await.unwrap().value, "after");
    }
    // The old share no longer unseals; two of the new ones do.
    let replica = cluster.node(1).replica().clone();
    replica.barrier().seal();
    assert_eq!(replica.unseal(&old).unwrap().progress, 1);
    let err = replica.unseal(&new[1]).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidShares, "an old share spoils the combination");
    assert_eq!(replica.seal_status().unwrap().progress, 0);
    replica.unseal(&new[0]).unwrap();
    assert!(replica.seal_status().unwrap().sealed);
    assert!(!replica.unseal(&new[2]).unwrap().sealed);
    cluster.shutdown().await;
}

/// Builds a snapshot on node `id` covering what it has applied, and
/// returns its file (serialized by this read).
async fn fresh_snapshot_file(cluster: &TestCluster, id: u64) -> std::path::PathBuf {
    let raft = cluster.node(id).replica().raft().clone();
    let applied = cluster.applied(id);
    // A trigger while a build runs is dropped: trigger again.
    for _ in 0..10 {
        raft.trigger().snapshot().await.unwrap();
        let wait = raft.wait(Some(Duration::from_secs(2)));
        if wait.metrics(|m| m.snapshot.is_some_and(|s| s.index >= applied), "snapshot").await.is_ok() {
            let snapshot = raft.get_snapshot().await.unwrap().expect("a snapshot");
            drop(snapshot.snapshot.into_std().await.unwrap());
            return cluster.data_dir(id).join("snapshots").join(format!("{}.snap", snapshot.meta.snapshot_id));
        }
    }
    panic!("node {id} did not build a snapshot");
}

/// A snapshot from the leader that does not verify (its file changed on
/// the leader's disk) is refused by a follower holding the keys: nothing is
/// installed and the follower keeps running; it catches up from the next,
/// intact snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_follower_refuses_a_snapshot_that_does_not_verify() {
    // Snapshots are built only when the test asks.
    let cluster = TestCluster::start_with(3, |c| {
        c.raft.snapshot_after_logs = 1_000_000;
        c.raft.keep_logs_after_snapshot = 5;
    })
    .await;
    let client = cluster.client();
    client.create_vault("v", 0, false).await.unwrap();
    let leader = cluster.leader().await;
    let lagging = (1..=3).find(|id| *id != leader).unwrap();
    cluster.wait_applied(lagging, cluster.applied_on_leader().await).await;
    cluster.faults.isolate(lagging);
    for i in 0..30 {
        client.set_secret(SetSecret::new("v", &format!("s{i}"), "x")).await.unwrap();
    }
    let its_last = cluster.node(lagging).replica().raft().metrics().borrow().last_log_index.unwrap_or(0);
    // Whichever of the others leads once the follower is back (its
    // elections while cut off may depose the leader) sends its snapshot:
    // each one's file gets one byte changed.
    for id in (1..=3).filter(|id| *id != lagging) {
        cluster.wait_applied(id, cluster.applied_on_leader().await).await;
        let file = fresh_snapshot_file(&cluster, id).await;
        let raft = cluster.node(id).replica().raft();
        raft.wait(Some(Duration::from_secs(20)))
            .metrics(|m| m.purged.is_some_and(|p| p.index > its_last), "log purged")
            .await
            .expect("the log purged");
        let mut bytes = std::fs::read(&file).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x01;
        std::fs::write(&file, &bytes).unwrap();
    }

    let behind = cluster.applied(lagging);
    cluster.faults.heal(lagging);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(cluster.applied(lagging), behind, "the changed snapshot was installed");
    assert!(
        tokio::time::timeout(Duration::from_millis(100), cluster.node(lagging).failure()).await.is_err(),
        "a refused snapshot does not stop the follower"
    );

    // New snapshots replace the changed ones; the follower takes one.
    client.set_secret(SetSecret::new("v", "after", "y")).await.unwrap();
    for id in (1..=3).filter(|id| *id != lagging) {
        fresh_snapshot_file(&cluster, id).await;
    }
    cluster.wait_applied(lagging, cluster.applied_on_leader().await).await;
    let on_lagging = common::client_for([cluster.api_addr(lagging)]).with_token(&cluster.root_token);
    let value = on_lagging.get_secret("v", "s29", None, ReadConsistency::Stale).await.unwrap();
    assert_eq!(value.value, "x");
    cluster.shutdown().await;
}
