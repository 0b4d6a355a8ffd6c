//! With every log target at TRACE, a scenario that handles secret values,
//! tags and key shares must not write any of them to the log.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use coffer::client::{ReadConsistency, SetSecret};
use common::TestCluster;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn trace_logs_carry_no_secrets() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let mut cluster = TestCluster::start_with(3, |c| c.raft.snapshot_after_logs = 5).await;
    let client = cluster.client();
    let value = "LOGMARKER-value-94be";
    let tag = "LOGMARKER-tag-2c7d";
    client.create_vault("v", 0, false).await.unwrap();
    let mut tags = std::collections::HashMap::new();
    tags.insert("t".to_string(), tag.to_string());
    for i in 0..8 {
        client
            .set_secret(SetSecret::new("v", &format!("s{i}"), format!("{value}{i}")).with_tags(tags.clone()))
            .await
            .unwrap();
    }
    client.get_secret("v", "s1", None, ReadConsistency::Linearizable).await.unwrap();
    let blob = client.backup_secret("v", "s1").await.unwrap();
    client.delete_secret("v", "s1").await.unwrap();
    client.purge_deleted_secret("v", "s1").await.unwrap();
    client.restore_secret("v", blob).await.unwrap();
    client.rotate().await.unwrap();
    // A follower restarts and catches up (snapshot and log traffic).
    let leader = cluster.leader().await;
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    cluster.wipe(follower).await;
    let applied = cluster.applied_on_leader().await;
    cluster.wait_applied(follower, applied).await;
    let share = cluster.share.clone();
    let token = cluster.root_token.clone();
    cluster.shutdown().await;

    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(logs.len() > 10_000, "trace logging captured: {} bytes", logs.len());
    for needle in [value, tag, share.as_str(), &share["cofshare1-".len()..], &token[4..]] {
        assert!(!logs.contains(needle), "a secret appeared in the logs: {needle}");
    }
}
