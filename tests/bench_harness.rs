//! The load generator itself, against an in-process cluster: a short run
//! completes, the histogram counts every measured request, and the JSON and
//! SVG outputs are well formed. (No timing assertions.)

mod common;

use std::sync::Arc;
use std::time::Duration;

use coffer::bench::{self, BenchConfig, Mode, Target, Workload};
use coffer::client::types::AuditQuery;
use common::TestCluster;

fn config(workload: Workload, mode: Mode) -> BenchConfig {
    BenchConfig {
        workload,
        mode,
        clients: 1,
        concurrency: 4,
        warmup: Duration::from_millis(200),
        duration: Duration::from_secs(1),
        requests: Some(150),
        value_size: 64,
        keys: 20,
        vault: "bench".into(),
        progress: false,
        system: "coffer".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn short_runs_count_every_request() {
    let cluster = TestCluster::start(3).await;
    let client = Arc::new(cluster.client());
    for (workload, mode) in [
        (Workload::Write, Mode::Closed),
        (Workload::Mixed, Mode::Closed),
        (Workload::Read, Mode::Open { rate: 300.0 }),
        (Workload::List, Mode::Closed),
    ] {
        let r = bench::run(Target::Coffer(client.clone()), config(workload, mode)).await.unwrap();
        assert_eq!(r.requests, 150, "{workload:?}: histogram count = measured requests");
        assert_eq!(r.errors, 0, "{:?}", r.errors_by_code);
        assert!(r.latency_ms.p50 > 0.0 && r.latency_ms.p50 <= r.latency_ms.p99 && r.latency_ms.p99 <= r.latency_ms.max);
        let json = serde_json::to_string(&r).unwrap();
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["requests"], 150);
        assert_eq!(back["workload"], workload.name());
        let svg = bench::svg::render(&r);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>") && svg.contains("polyline"));
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_clients_use_their_own_connections() {
    let cluster = TestCluster::start(3).await;
    let client = Arc::new(cluster.client());
    let cfg = BenchConfig { clients: 3, concurrency: 2, ..config(Workload::Read, Mode::Closed) };
    let r = bench::run(Target::Coffer(client.clone()), cfg).await.unwrap();
    assert_eq!((r.clients, r.concurrency, r.in_flight), (3, 2, 6));
    assert_eq!(r.requests, 150, "histogram count = measured requests");
    assert_eq!(r.errors, 0, "{:?}", r.errors_by_code);
    // Each client reached the cluster from a connection of its own: the
    // reads' audit records name three different source addresses.
    let mut sources = std::collections::BTreeSet::new();
    let mut q = AuditQuery { operation: "SecretGet".into(), ..Default::default() };
    loop {
        let page = client.audit_query(q.clone()).await.unwrap();
        sources.extend(page.records.iter().map(|r| r.source.clone()));
        if page.next_after_seq >= page.last_seq || page.next_after_seq == q.after_seq {
            break;
        }
        q.after_seq = page.next_after_seq;
    }
    assert!(sources.len() >= 3, "{sources:?}");
    cluster.shutdown().await;
}

#[test]
fn fsync_floor_measures_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let f = bench::disk::fsync_floor(dir.path(), 50).unwrap();
    assert_eq!(f.syncs, 50);
    assert!(f.syncs_per_sec > 0.0 && f.p50_ms <= f.max_ms);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "the probe file is removed");
}
