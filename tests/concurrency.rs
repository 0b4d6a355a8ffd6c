//! Many clients write and read while the leader is killed. Every
//! acknowledged write must be readable afterwards; a failed write is an
//! unknown outcome (it may or may not have applied); a reader never sees a
//! secret go back to an older version.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use coffer::client::{Client, ReadConsistency, SetSecret};
use common::TestCluster;

const WRITERS: usize = 6;
const READERS: usize = 3;

/// Sequence number encoded in a value `w{writer}-{seq}`.
fn seq(value: &str) -> u64 {
    value.rsplit('-').next().and_then(|s| s.parse().ok()).expect("value format")
}

async fn writer(client: Arc<Client>, w: usize, stop: Arc<AtomicBool>) -> (Vec<(String, String)>, usize) {
    let mut acked = Vec::new();
    let mut unknown = 0;
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let value = format!("w{w}-{i}");
        match client.set_secret(SetSecret::new("c", &format!("w{w}"), &value)).await {
            Ok(p) => acked.push((p.version, value)),
            Err(e) => {
                // Unknown outcome: neither success nor failure is asserted.
                unknown += 1;
                eprintln!("writer {w}: {e}");
            }
        }
        i += 1;
    }
    (acked, unknown)
}

async fn reader(client: Arc<Client>, stop: Arc<AtomicBool>) -> usize {
    let mut seen: HashMap<usize, u64> = HashMap::new();
    let mut reads = 0;
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let w = n % WRITERS;
        n += 1;
        if let Ok(s) = client.get_secret("c", &format!("w{w}"), None, ReadConsistency::Linearizable).await {
            let now = seq(&s.value);
            let before = seen.insert(w, now).unwrap_or(0);
            assert!(now >= before, "w{w} went back from {before} to {now}");
            reads += 1;
        }
    }
    reads
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_leader_failure() {
    let mut cluster = TestCluster::start(3).await;
    let client = Arc::new(cluster.client());
    client.create_vault("c", 0, false).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS).map(|w| tokio::spawn(writer(client.clone(), w, stop.clone()))).collect();
    let readers: Vec<_> = (0..READERS).map(|_| tokio::spawn(reader(client.clone(), stop.clone()))).collect();

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let old = cluster.leader().await;
    cluster.kill(old).await;
    tokio::time::sleep(Duration::from_millis(3000)).await;
    cluster.restart(old).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::Relaxed);

    let mut total = 0;
    let mut unknown = 0;
    let mut acked_all = Vec::new();
    for w in writers {
        let (acked, u) = w.await.expect("writer task");
        total += acked.len();
        unknown += u;
        acked_all.push(acked);
    }
    let mut reads = 0;
    for r in readers {
        reads += r.await.expect("reader task (versions went backwards?)");
    }
    eprintln!("acknowledged writes: {total}, unknown outcomes: {unknown}, reads: {reads}");
    assert!(total > 50, "too few writes to mean anything: {total}");

    // Every acknowledged version is there with its value, on the new leader.
    for (w, acked) in acked_all.iter().enumerate() {
        for (version, value) in acked {
            let got = client
                .get_secret("c", &format!("w{w}"), Some(version), ReadConsistency::Linearizable)
                .await
                .unwrap_or_else(|e| panic!("acknowledged w{w} {version} lost: {e}"));
            assert_eq!(&got.value, value);
        }
        // The latest is at least the last acknowledged write.
        if let Some((_, last)) = acked.last() {
            let latest = client.get_secret("c", &format!("w{w}"), None, ReadConsistency::Linearizable).await.unwrap();
            assert!(seq(&latest.value) >= seq(last));
        }
    }
    cluster.shutdown().await;
}
