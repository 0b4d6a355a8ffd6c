//! The load generator itself, against an in-process cluster: a short run
//! completes, the histogram counts every measured request, and the JSON and
//! SVG outputs are well formed; its etcd target reaches an etcd-shaped
//! server over TLS or in plaintext. (No timing assertions.)

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use coffer::bench::target::EtcdTarget;
use coffer::bench::{self, BenchConfig, Mode, Target, Workload};
use coffer::client::types::AuditQuery;
use coffer::proto::etcd::kv_server::{Kv, KvServer};
use coffer::proto::etcd::{KeyValue, PutRequest, PutResponse, RangeRequest, RangeResponse};
use coffer::tls::{Listener, NodeTls, TlsFiles};
use common::TestCluster;
use tonic::{Request, Response, Status};

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

/// A stand-in for etcd's KV API: answers every Range with one value and
/// counts the calls.
#[derive(Default)]
struct FakeEtcd {
    calls: std::sync::atomic::AtomicU64,
}

#[tonic::async_trait]
impl Kv for FakeEtcd {
    async fn range(&self, req: Request<RangeRequest>) -> Result<Response<RangeResponse>, Status> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let kv = KeyValue { key: req.into_inner().key, value: b"v".to_vec(), ..Default::default() };
        Ok(Response::new(RangeResponse { kvs: vec![kv], count: 1, ..Default::default() }))
    }

    async fn put(&self, _: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok(Response::new(PutResponse::default()))
    }
}

/// Serves a [`FakeEtcd`] over TLS (the test CA's certificate for
/// 127.0.0.1, coffer's own acceptor); returns its address and the fake.
async fn fake_etcd_over_tls(dir: &std::path::Path) -> (String, Arc<FakeEtcd>) {
    let mut config = common::test_config(1, dir);
    common::pki::pki().configure_node(&mut config, dir);
    let files = TlsFiles {
        ca: config.tls.ca_file.unwrap(),
        cert: config.tls.cert_file.unwrap(),
        key: config.tls.key_file.unwrap(),
        client_ca: None,
    };
    let tls = NodeTls::new(files);
    assert!(tls.reload().unwrap(), "the certificate is loaded");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let incoming = coffer::tls::accept::incoming(listener, tls, Listener::Api, Default::default());
    let fake = Arc::new(FakeEtcd::default());
    let service = KvServer::from_arc(fake.clone());
    tokio::spawn(tonic::transport::Server::builder().add_service(service).serve_with_incoming(incoming));
    (addr, fake)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_etcd_target_speaks_tls_when_given_a_ca_and_plaintext_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, fake) = fake_etcd_over_tls(dir.path()).await;
    let endpoints = [addr];
    let etcd = |tls| Target::Etcd(Arc::new(EtcdTarget::new(&endpoints, tls).unwrap()));
    let cfg = |workload| BenchConfig { system: "etcd".into(), ..config(workload, Mode::Closed) };

    for workload in [Workload::Write, Workload::Read] {
        let before = fake.calls.load(Ordering::Relaxed);
        let r = bench::run(etcd(Some(common::pki::pki().client_tls())), cfg(workload)).await.unwrap();
        assert_eq!(r.requests, 150, "{workload:?}: histogram count = measured requests");
        assert_eq!(r.errors, 0, "{workload:?}: {:?}", r.errors_by_code);
        assert!(fake.calls.load(Ordering::Relaxed) - before >= 150, "every request reached the server");
    }

    // The same server refuses a plaintext client: no request gets through.
    let before = fake.calls.load(Ordering::Relaxed);
    let cfg = BenchConfig { requests: Some(5), warmup: Duration::ZERO, ..cfg(Workload::Read) };
    if let Ok(r) = bench::run(etcd(None), cfg).await {
        assert_eq!(r.errors, r.requests, "{:?}", r.errors_by_code);
    }
    assert_eq!(fake.calls.load(Ordering::Relaxed), before);
}
