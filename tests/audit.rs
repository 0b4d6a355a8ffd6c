//! The audit log: one record per request (allowed, denied, failed, sealed),
//! no secrets in records, the hash chain detecting edits and deletions,
//! fail-closed without quorum, tail, trim with a signed checkpoint, and the
//! local file sink.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use coffer::client::types::AuditQuery;
use coffer::client::{Client, ReadConsistency, SetSecret};
use coffer::error_code::ErrorCode;
use coffer::proto::storage::AuditRecord;
use common::TestCluster;
use prost::Message;
use tokio_stream::StreamExt;

const L: ReadConsistency = ReadConsistency::Linearizable;

/// Every record of the log, read through `client`.
async fn all_records(client: &Client) -> Vec<AuditRecord> {
    let mut out = Vec::new();
    let mut q = AuditQuery::default();
    loop {
        let page = client.audit_query(q.clone()).await.unwrap();
        out.extend(page.records);
        if page.next_after_seq >= page.last_seq || page.next_after_seq == q.after_seq {
            return out;
        }
        q.after_seq = page.next_after_seq;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_request_has_exactly_one_record_without_secrets() {
    let cluster = TestCluster::start(3).await;
    let leader = cluster.leader().await;
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    let other = (1..=3).find(|id| *id != leader && *id != follower).unwrap();
    let root = cluster.client_of(leader);
    root.create_vault("v", 0, false).await.unwrap();
    let (reader_token, _) = root.create_token_with_roles("reader", 0, false, &[("reader", "/")]).await.unwrap();

    // (correlation id, node, token, expected operation, expected result)
    let mut expected: Vec<(String, &str, &str)> = Vec::new();
    let marker = "marker-value-0193";
    let on = |id: u64, token: &str, cid: &str| {
        common::client_for([cluster.api_addr(id)]).with_token(token).with_correlation_id(cid)
    };
    let root_token = cluster.root_token.clone();
    for i in 0..5 {
        let cid = format!("set-{i}");
        on(leader, &root_token, &cid)
            .set_secret(SetSecret::new("v", &format!("s{i}"), format!("{marker}-{i}")))
            .await
            .unwrap();
        expected.push((cid, "SecretSet", "ok"));
        let cid = format!("get-{i}");
        on(leader, &root_token, &cid).get_secret("v", &format!("s{i}"), None, L).await.unwrap();
        expected.push((cid, "SecretGet", "ok"));
        // Served by a follower from its own state (once it has the write);
        // its record goes through the leader.
        cluster.wait_applied(follower, cluster.applied_on_leader().await).await;
        let cid = format!("stale-{i}");
        on(follower, &root_token, &cid).get_secret("v", &format!("s{i}"), None, ReadConsistency::Stale).await.unwrap();
        expected.push((cid, "SecretGet", "ok"));
    }
    let cid = "denied".to_owned();
    let err = on(leader, &reader_token, &cid).get_secret("v", "s0", None, L).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Forbidden);
    expected.push((cid, "SecretGet", "Forbidden"));
    let cid = "anonymous".to_owned();
    let err = on(leader, "", &cid).list_vaults(0, "", L).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Unauthenticated);
    expected.push((cid, "VaultList", "Unauthenticated"));
    let cid = "forged".to_owned();
    let forged = format!("cof_{}", "0".repeat(64));
    let err = on(leader, &forged, &cid).list_vaults(0, "", L).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Unauthenticated);
    expected.push((cid, "VaultList", "Unauthenticated"));
    // A write refused in apply: its record is carried in the same entry, once.
    let cid = "conflict".to_owned();
    let stale_cas = SetSecret::new("v", "s0", "x").if_latest_is("0".repeat(32));
    let err = on(leader, &root_token, &cid).set_secret(stale_cas).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::VersionConflict);
    expected.push((cid, "SecretSet", "VersionConflict"));
    let cid = "missing".to_owned();
    let err = on(leader, &root_token, &cid).get_secret("v", "nope", None, L).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::SecretNotFound);
    expected.push((cid, "SecretGet", "SecretNotFound"));
    // A sealed node refuses, and the refusal is audited.
    on(other, &root_token, "seal").seal(&cluster.api_addr(other)).await.unwrap();
    expected.push(("seal".into(), "OperatorSeal", "ok"));
    let cid = "sealed".to_owned();
    let err = on(other, &root_token, &cid).get_secret("v", "s0", None, ReadConsistency::Stale).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Sealed);
    expected.push((cid, "SecretGet", "Sealed"));
    cluster.unseal(other).await;

    let records = all_records(&root).await;
    let mut by_cid: HashMap<&str, Vec<&AuditRecord>> = HashMap::new();
    for r in &records {
        by_cid.entry(r.correlation_id.as_str()).or_default().push(r);
    }
    for (cid, op, result) in &expected {
        let found = by_cid.get(cid.as_str()).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(found.len(), 1, "{cid}: {found:?}");
        assert_eq!((found[0].operation.as_str(), found[0].result.as_str()), (*op, *result), "{cid}");
        assert!(found[0].time_ms > 0 && !found[0].request_id.is_empty() && !found[0].source.is_empty());
    }
    let set = by_cid["set-0"][0];
    assert_eq!((set.vault.as_str(), set.object.as_str()), ("v", "secrets/s0"));
    assert!(set.principal.starts_with("token:") && set.version.len() == 32);
    // The value is there only as an HMAC under the audit key.
    let hmac = root.audit_hmac(&format!("{marker}-0")).await.unwrap();
    assert_eq!(set.hmacs[0].hmac, hmac);
    assert_eq!(by_cid["get-0"][0].hmacs[0].hmac, hmac);
    // No record holds a secret value or a token.
    for r in &records {
        let text = format!("{r:?} {}", coffer::audit::to_json(r));
        for needle in [marker, root_token.as_str(), reader_token.as_str(), forged.as_str()] {
            assert!(!text.contains(needle), "record {} holds {needle}", r.seq);
        }
    }
    assert_eq!(root.audit_trim(u64::MAX, i64::MAX).await.unwrap_err().code(), ErrorCode::InvalidArgument);
    // Records younger than the retention ([audit] retention_days, 30) stay.
    let err = root.audit_trim(u64::MAX, 3600).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    assert!(err.message().contains("retention"), "{err}");
    // The chain is intact on every node.
    for id in 1..=3 {
        let report = cluster.client_of(id).audit_verify(0, 0).await.unwrap();
        assert!(report.ok, "node {id}: {report:?}");
        assert!(report.checked >= expected.len() as u64);
    }
    cluster.shutdown().await;
}

/// Rewrites node `id`'s stored audit records with `edit` (node stopped).
async fn tamper(cluster: &TestCluster, id: u64, edit: impl Fn(&rocksdb::DB, &rocksdb::ColumnFamily)) {
    let path = cluster.data_dir(id).join("db");
    let cfs = coffer::storage::cf::STATE_DB;
    let open = || rocksdb::DB::open_cf(&rocksdb::Options::default(), &path, cfs);
    let db = common::once_unlocked(&format!("node {id}'s state"), open).await;
    edit(&db, db.cf_handle("audit").unwrap());
}

fn key(seq: u64) -> Vec<u8> {
    format!("au/r/{seq:016x}").into_bytes()
}

/// A 3-node cluster whose log holds ten secret writes, and a root client.
async fn cluster_with_ten_writes() -> (TestCluster, Client) {
    let cluster = TestCluster::start(3).await;
    let root = cluster.client();
    root.create_vault("v", 0, false).await.unwrap();
    for i in 0..10 {
        root.set_secret(SetSecret::new("v", "s", format!("x{i}"))).await.unwrap();
    }
    (cluster, root)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn editing_or_deleting_a_record_is_detected() {
    let (mut cluster, root) = cluster_with_ten_writes().await;
    let leader = cluster.leader().await;
    let (a, b) = {
        let mut others = (1..=3).filter(|id| *id != leader);
        (others.next().unwrap(), others.next().unwrap())
    };
    let last = root.audit_head().await.unwrap().last_seq;
    cluster.wait_applied(a, cluster.applied_on_leader().await).await;
    cluster.wait_applied(b, cluster.applied_on_leader().await).await;

    // Node a: change who did request 5.
    cluster.kill(a).await;
    tamper(&cluster, a, |db, cf| {
        let mut rec = AuditRecord::decode(db.get_cf(cf, key(5)).unwrap().unwrap().as_slice()).unwrap();
        rec.principal = "token:innocent".into();
        db.put_cf(cf, key(5), rec.encode_to_vec()).unwrap();
    })
    .await;
    // Node b: remove request 7.
    cluster.kill(b).await;
    tamper(&cluster, b, |db, cf| db.delete_cf(cf, key(7)).unwrap()).await;
    cluster.restart(a).await;
    cluster.restart(b).await;

    let report = cluster.client_of(a).audit_verify(1, last).await.unwrap();
    assert!(!report.ok);
    assert_eq!(report.break_seq, 5, "{report:?}");
    assert!(report.reason.contains("edited"), "{report:?}");
    let report = cluster.client_of(b).audit_verify(1, last).await.unwrap();
    assert_eq!((report.ok, report.break_seq), (false, 7), "{report:?}");
    assert!(report.reason.contains("missing"), "{report:?}");
    // The leader's copy is intact.
    assert!(cluster.client_of(leader).audit_verify(0, 0).await.unwrap().ok);
    cluster.shutdown().await;
}

/// Waits until node `id`'s verification vouches for records through `seq`
/// with an anchor.
async fn wait_anchored(cluster: &TestCluster, id: u64, seq: u64) -> coffer::client::types::AuditVerifyResponse {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let report = cluster.client_of(id).audit_verify(0, 0).await.unwrap();
        if report.anchored_seq >= seq {
            return report;
        }
        assert!(std::time::Instant::now() < deadline, "node {id} never anchored {seq}: {report:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_consistent_rewrite_of_anchored_records_is_detected() {
    let (mut cluster, root) = cluster_with_ten_writes().await;
    let leader = cluster.leader().await;
    let a = (1..=3).find(|id| *id != leader).unwrap();
    let last = root.audit_head().await.unwrap().last_seq;
    cluster.wait_applied(a, cluster.applied_on_leader().await).await;
    assert!(wait_anchored(&cluster, a, last).await.anchors_checked);

    // Node a: record 5 credited to someone else, and every hash after it
    // recomputed with the unkeyed chain, head included: the chain holds.
    cluster.kill(a).await;
    tamper(&cluster, a, |db, records| {
        let get = |seq: u64| AuditRecord::decode(db.get_cf(records, key(seq)).unwrap().unwrap().as_slice()).unwrap();
        let mut prev = get(4).hash;
        let mut seq = 5;
        while let Some(bytes) = db.get_cf(records, key(seq)).unwrap() {
            let mut rec = AuditRecord::decode(bytes.as_slice()).unwrap();
            if seq == 5 {
                rec.principal = "token:innocent".into();
            }
            let (stored, hash) = coffer::audit::chain::chain(&rec, seq, &prev);
            db.put_cf(records, key(seq), stored).unwrap();
            prev = hash.to_vec();
            seq += 1;
        }
        let heads = db.cf_handle(coffer::storage::cf::AUDIT_HEAD).unwrap();
        let raw = db.get_cf(heads, coffer::state::keys::AUDIT_HEAD).unwrap().unwrap();
        let mut head = coffer::proto::storage::AuditHead::decode(raw.as_slice()).unwrap();
        assert_eq!(head.last_seq, seq - 1);
        head.last_hash = prev;
        db.put_cf(heads, coffer::state::keys::AUDIT_HEAD, head.encode_to_vec()).unwrap();
    })
    .await;
    cluster.restart(a).await;

    let report = cluster.client_of(a).audit_verify(1, last).await.unwrap();
    assert!(!report.ok, "{report:?}");
    assert!(report.break_seq <= 5 && report.reason.contains("rewritten"), "{report:?}");
    assert!(cluster.client_of(leader).audit_verify(0, 0).await.unwrap().ok);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_chain_stays_anchored_and_verifiable_across_a_keyring_rotation() {
    let cluster = TestCluster::start(3).await;
    let root = cluster.client();
    root.create_vault("v", 0, false).await.unwrap();
    root.set_secret(SetSecret::new("v", "s", "before")).await.unwrap();
    let before = root.audit_head().await.unwrap().last_seq;
    let leader = cluster.leader().await;
    wait_anchored(&cluster, leader, before).await;
    assert_eq!(root.rotate().await.unwrap().keyring_term, 2);
    root.set_secret(SetSecret::new("v", "s", "after")).await.unwrap();
    let after = root.audit_head().await.unwrap().last_seq;
    for id in 1..=3 {
        cluster.wait_applied(id, cluster.applied_on_leader().await).await;
        let report = wait_anchored(&cluster, id, after).await;
        assert!(report.ok && report.anchors_checked, "node {id}: {report:?}");
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_quorum_requests_fail_instead_of_running_unaudited() {
    let mut cluster = TestCluster::start(3).await;
    let root = cluster.client();
    root.create_vault("v", 0, false).await.unwrap();
    root.set_secret(SetSecret::new("v", "s", "quorum-marker")).await.unwrap();
    let survivor = cluster.leader().await;
    cluster.wait_applied(survivor, cluster.applied_on_leader().await).await;
    for id in (1..=3).filter(|id| *id != survivor) {
        cluster.kill(id).await;
    }
    // A stale read needs no quorum, but its audit record does.
    let client = cluster.client_of(survivor).with_deadline(Duration::from_secs(1));
    let err = client.get_secret("v", "s", None, ReadConsistency::Stale).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::AuditFailed, "{err}");
    assert!(!err.message().contains("quorum-marker"));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tail_follows_and_trim_leaves_a_verifiable_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let sink = dir.path().join("audit.jsonl");
    let sink_for_1 = sink.clone();
    let cluster = TestCluster::start_with(1, move |c| {
        c.audit.file = Some(sink_for_1.clone());
        c.audit.retention_days = 0;
    })
    .await;
    let root = cluster.client();
    let mut tail = root.audit_tail(AuditQuery { operation: "VaultCreate".into(), ..Default::default() }).await.unwrap();
    root.create_vault("followed", 0, false).await.unwrap();
    let seen = tokio::time::timeout(Duration::from_secs(10), tail.next()).await.unwrap().unwrap().unwrap();
    assert_eq!((seen.operation.as_str(), seen.vault.as_str()), ("VaultCreate", "followed"));

    for i in 0..5 {
        root.create_vault(&format!("v{i}"), 0, false).await.unwrap();
    }
    // The node's file sink has the records, one JSON object per line.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(&sink).unwrap_or_default();
        if text.lines().filter(|l| l.contains("\"VaultCreate\"")).count() >= 6 {
            assert!(text.lines().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "sink: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let head = root.audit_head().await.unwrap();
    let through = head.last_seq - 2;
    let trimmed = root.audit_trim(through, 0).await.unwrap();
    assert_eq!(trimmed.trimmed_through_seq, through);
    let after = root.audit_head().await.unwrap();
    assert_eq!(after.checkpoint_seq, through);
    let report = root.audit_verify(0, 0).await.unwrap();
    assert!(report.ok && report.checkpoint_verified, "{report:?}");
    assert_eq!(report.from_seq, through + 1);
    // Nothing exported beyond `through` is trimmed, and young records stay.
    assert_eq!(root.audit_trim(head.last_seq + 100, 3600).await.unwrap().trimmed, 0);
    let only_reader = root.create_token_with_roles("a", 0, false, &[("auditor", "/")]).await.unwrap().0;
    let auditor = cluster.anonymous_client().with_token(only_reader.as_str());
    assert_eq!(auditor.audit_trim(head.last_seq, 0).await.unwrap_err().code(), ErrorCode::Forbidden);
    assert!(auditor.audit_verify(0, 0).await.unwrap().ok);

    drop(tail);
    cluster.shutdown().await;
}

/// Calls `method` of the client API with `body` as its request, as the
/// root token, with correlation id `cid` (no handler may make sense of it).
async fn raw_call<M: Message + Default + Send + 'static>(
    cluster: &TestCluster,
    method: &'static str,
    body: M,
    cid: &str,
) -> tonic::Status {
    let tls = common::pki::pki().client_tls();
    let channel = coffer::tls::channel(&cluster.api_addr(1), &tls, None, Duration::from_secs(5), None).unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let mut req = tonic::Request::new(body);
    req.metadata_mut().insert("authorization", format!("Bearer {}", cluster.root_token).parse().unwrap());
    req.metadata_mut().insert("x-correlation-id", cid.parse().unwrap());
    let codec = tonic_prost::ProstCodec::<M, coffer::proto::api::SecretProperties>::default();
    grpc.unary(req, http::uri::PathAndQuery::from_static(method), codec).await.unwrap_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_no_handler_reaches_are_audited_too() {
    let cluster = TestCluster::start(1).await;
    let root = cluster.client();
    root.create_vault("v", 0, false).await.unwrap();
    // A body that does not decode as the method's request: field 1 (the
    // vault's name, a string) arrives as a number.
    let garbled = AuditRecord { seq: 5, ..Default::default() };
    let err = raw_call(&cluster, "/coffer.v1.SecretService/SetSecret", garbled, "garbled").await;
    assert_ne!(err.code(), tonic::Code::Ok);
    // One over the API's 16 MiB request limit.
    let big = coffer::proto::api::SetSecretRequest {
        vault: "v".into(),
        name: "big".into(),
        value: "x".repeat(17 << 20),
        ..Default::default()
    };
    let err = raw_call(&cluster, "/coffer.v1.SecretService/SetSecret", big, "big").await;
    assert_ne!(err.code(), tonic::Code::Ok);
    let err = raw_call(&cluster, "/coffer.v1.SecretService/NoSuchMethod", AuditRecord::default(), "nosuch").await;
    assert_eq!(err.code(), tonic::Code::Unimplemented, "{err:?}");
    assert!(err.metadata().get("x-request-id").is_some(), "{err:?}");
    // A service that does not exist: no interceptor saw the caller.
    let err = raw_call(&cluster, "/coffer.v1.NoSuchService/Call", AuditRecord::default(), "nosvc").await;
    assert_eq!(err.code(), tonic::Code::Unimplemented, "{err:?}");

    let records = all_records(&root).await;
    let of = |cid: &str| records.iter().filter(|r| r.correlation_id == cid).collect::<Vec<_>>();
    let principal = &records.iter().find(|r| r.operation == "VaultCreate").unwrap().principal;
    for (cid, operation, result) in [
        ("garbled", "coffer.v1.SecretService/SetSecret", "Internal"),
        ("big", "coffer.v1.SecretService/SetSecret", "OutOfRange"),
        ("nosuch", "coffer.v1.SecretService/NoSuchMethod", "Unimplemented"),
        ("nosvc", "coffer.v1.NoSuchService/Call", "Unimplemented"),
    ] {
        let found = of(cid);
        assert_eq!(found.len(), 1, "{cid}: {found:?}");
        let r = found[0];
        assert_eq!((r.operation.as_str(), r.result.as_str()), (operation, result), "{r:?}");
        assert_eq!(&r.principal, principal, "{r:?}");
        assert!(!r.source.is_empty() && !r.request_id.is_empty() && r.time_ms > 0, "{r:?}");
    }
    // A request a handler took is audited once, by the handler.
    cluster.client().with_correlation_id("handled").set_secret(SetSecret::new("v", "s", "x")).await.unwrap();
    let records = all_records(&root).await;
    assert_eq!(records.iter().filter(|r| r.correlation_id == "handled").count(), 1);
    assert!(root.audit_verify(0, 0).await.unwrap().ok);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn queries_and_trims_read_a_bounded_part_of_the_log_per_call() {
    const BOUND: usize = 20;
    let cluster = TestCluster::start_with(1, |c| {
        c.limits.audit_scan_records = BOUND;
        c.audit.retention_days = 0;
    })
    .await;
    let root = cluster.client();
    root.create_vault("v", 0, false).await.unwrap();
    for i in 0..75 {
        if i % 15 == 7 {
            root.set_secret(SetSecret::new("v", &format!("s{i}"), "x")).await.unwrap();
        } else {
            root.get_vault("v", L).await.unwrap();
        }
    }
    let last = root.audit_head().await.unwrap().last_seq;
    assert!(last > 3 * BOUND as u64, "{last}");

    // A filter that matches nothing: one call reads the bound, not the log,
    // and says where to go on.
    let nothing = AuditQuery { operation: "NoSuchOperation".into(), ..Default::default() };
    let page = root.audit_query_page(nothing.clone()).await.unwrap();
    assert!(page.records.is_empty());
    assert_eq!(page.next_after_seq, BOUND as u64, "{page:?}");
    assert!(page.next_after_seq < page.last_seq);
    // The SDK goes on by itself, to the end.
    let page = root.audit_query(nothing).await.unwrap();
    assert!(page.records.is_empty() && page.next_after_seq >= last, "{page:?}");

    // Following the continuations finds every match.
    let sets = AuditQuery { operation: "SecretSet".into(), ..Default::default() };
    let mut q = sets.clone();
    let mut found = Vec::new();
    loop {
        let page = root.audit_query_page(q.clone()).await.unwrap();
        assert!(page.next_after_seq - q.after_seq <= BOUND as u64, "{page:?}");
        found.extend(page.records.iter().map(|r| r.vault.clone() + "/" + &r.object));
        if page.next_after_seq >= page.last_seq {
            break;
        }
        q.after_seq = page.next_after_seq;
    }
    let expected: Vec<String> = (0..75).filter(|i| i % 15 == 7).map(|i| format!("v/secrets/s{i}")).collect();
    assert_eq!(found, expected);
    let all = root.audit_query(AuditQuery { limit: 100, ..sets }).await.unwrap();
    assert_eq!(all.records.len(), expected.len());

    // Trim removes all it should, one bounded batch per Raft command.
    let through = last - 2;
    let applied = cluster.applied(1);
    let trimmed = root.audit_trim(through, 0).await.unwrap();
    assert_eq!((trimmed.trimmed_through_seq, trimmed.trimmed), (through, through));
    let commands = cluster.applied(1) - applied;
    assert!(commands >= through.div_ceil(BOUND as u64), "{commands} entries for {through} records");
    assert_eq!(root.audit_head().await.unwrap().checkpoint_seq, through);
    let rest = root.audit_query_page(AuditQuery::default()).await.unwrap();
    assert_eq!(rest.records.first().map(|r| r.seq), Some(through + 1), "{rest:?}");
    let report = root.audit_verify(0, 0).await.unwrap();
    assert!(report.ok && report.checkpoint_verified && report.from_seq == through + 1, "{report:?}");
    cluster.shutdown().await;
}
