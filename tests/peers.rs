//! The peer API trusts a node only as itself: a Raft message naming its
//! sender (leader or candidate) must come from that node's certificate,
//! only the leader may hand over leadership or offer a root key, and
//! forwarded audit records must name the node that forwards them.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use coffer::client::types::AuditQuery;
use coffer::client::{ClientTls, ReadConsistency, SetSecret};
use coffer::proto::raft as pb;
use coffer::proto::raft::raft_service_client::RaftServiceClient;
use coffer::proto::storage::AuditRecord;
use coffer::tls::pki::{node_dns_name, CERT_VALIDITY};
use common::TestCluster;
use tonic::transport::Channel;

/// A peer API client of node `to` presenting a certificate of node `as_node`
/// (issued by the cluster CA, as that node's own is).
fn peer(cluster: &TestCluster, as_node: u64, to: u64) -> RaftServiceClient<Channel> {
    let pki = common::pki::pki();
    let cert = pki.ca.issue_node(as_node, &["127.0.0.1".into()], CERT_VALIDITY).unwrap();
    let tls = ClientTls::new(&pki.ca_pem, Some((&cert.cert_pem, &cert.key))).unwrap();
    let addr = cluster.node(to).raft_addr().to_string();
    let channel = coffer::tls::channel(&addr, &tls, Some(node_dns_name(to)), Duration::from_secs(2), None).unwrap();
    RaftServiceClient::new(channel)
}

/// A vote of term 0 for `node`: older than any the cluster holds, so even a
/// node that accepted the message would change nothing.
fn vote(node: u64) -> Option<pb::Vote> {
    Some(pb::Vote { leader_id: Some(pb::LeaderId { term: 0, node_id: node }), committed: true })
}

fn append(node: u64) -> pb::AppendEntriesRequest {
    pb::AppendEntriesRequest { vote: vote(node), ..Default::default() }
}

fn vote_request(node: u64) -> pb::VoteRequest {
    pb::VoteRequest { vote: Some(pb::Vote { committed: false, ..vote(node).unwrap() }), last_log_id: None }
}

fn snapshot(node: u64) -> pb::InstallSnapshotRequest {
    let membership = pb::Membership {
        configs: vec![pb::NodeIdSet { ids: vec![node] }],
        nodes: BTreeMap::from([(node, pb::Node::default())]),
    };
    let meta = pb::SnapshotMeta {
        last_log_id: None,
        last_membership: Some(pb::StoredMembership { log_id: None, membership: Some(membership) }),
        snapshot_id: "forged".into(),
    };
    pb::InstallSnapshotRequest { vote: vote(node), meta: Some(meta), offset: 0, data: vec![], done: true }
}

fn refused<T: std::fmt::Debug>(what: &str, result: Result<tonic::Response<T>, tonic::Status>, says: &str) {
    match result {
        Err(s) if s.code() == tonic::Code::PermissionDenied => assert!(s.message().contains(says), "{what}: {s:?}"),
        other => panic!("{what}: expected PermissionDenied, got {other:?}"),
    }
}

fn record(node: u64, cid: &str) -> AuditRecord {
    AuditRecord {
        operation: "SecretGet".into(),
        principal: "token:someone-else".into(),
        node_id: node,
        result: "ok".into(),
        request_id: cid.into(),
        correlation_id: cid.into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_may_speak_only_for_itself() {
    let mut cluster = TestCluster::start(3).await;
    let root = cluster.client();
    root.create_vault("v", 0, false).await.unwrap();
    cluster.spawn_node(4, |_| {}).await;
    root.add_learner(&cluster.api_addr(4)).await.unwrap();
    let leader = cluster.leader().await;
    let mut followers = (1..=3).filter(|id| *id != leader);
    let (a, b) = (followers.next().unwrap(), followers.next().unwrap());

    // Node b's certificate, speaking for the leader, to node a.
    refused("append as the leader", peer(&cluster, b, a).append_entries(append(leader)).await, "may not send");
    refused("vote as another", peer(&cluster, b, a).vote(vote_request(leader)).await, "may not send");
    refused("snapshot as the leader", peer(&cluster, b, a).install_snapshot(snapshot(leader)).await, "may not send");
    // The learner, as another node.
    refused(
        "append from a learner as the leader",
        peer(&cluster, 4, a).append_entries(append(leader)).await,
        "may not",
    );
    // Only the leader hands over leadership.
    refused("campaign asked by a follower", peer(&cluster, b, a).campaign(pb::Blank {}).await, "does not lead");
    refused("campaign asked by a learner", peer(&cluster, 4, a).campaign(pb::Blank {}).await, "does not lead");
    // Only the leader, which alone rekeys, offers a new root key.
    let offer = pb::RootHandoff { root_generation: 2, root: vec![7; 32] };
    refused("root key offered by a follower", peer(&cluster, b, a).hand_off_root(offer).await, "does not lead");
    // Audit records of another node, forwarded to the leader.
    let forged = pb::AuditBatch { records: vec![record(a, "own"), record(b, "forged")] };
    refused("forwarded records of another node", peer(&cluster, a, leader).forward_audit(forged).await, "may not");
    // A node's own records are taken.
    let own = pb::AuditBatch { records: vec![record(a, "own-record")] };
    peer(&cluster, a, leader).forward_audit(own).await.unwrap();

    // The cluster works as before: writes, reads served by a follower (whose
    // record goes through the leader), a learner that replicates and is
    // promoted, and a leadership transfer (the leader asks for a campaign).
    root.set_secret(SetSecret::new("v", "s", "x")).await.unwrap();
    cluster.wait_applied(a, cluster.applied_on_leader().await).await;
    let follower = cluster.client_of(a);
    assert_eq!(follower.get_secret("v", "s", None, ReadConsistency::Stale).await.unwrap().value, "x");
    cluster.wait_applied(4, cluster.applied_on_leader().await).await;
    root.promote(vec![4]).await.unwrap();
    root.transfer_leader(a).await.unwrap();
    assert_eq!(cluster.leader().await, a);
    root.set_secret(SetSecret::new("v", "s", "y")).await.unwrap();

    let mut seen = Vec::new();
    let mut q = AuditQuery::default();
    loop {
        let page = root.audit_query(q.clone()).await.unwrap();
        seen.extend(page.records.into_iter().map(|r| r.correlation_id));
        if page.next_after_seq >= page.last_seq || page.next_after_seq == q.after_seq {
            break;
        }
        q.after_seq = page.next_after_seq;
    }
    assert!(seen.iter().any(|c| c == "own-record"), "a node's own forwarded record is logged");
    assert!(!seen.iter().any(|c| c == "forged" || c == "own"), "nothing of the refused batch is logged");
    cluster.shutdown().await;
}
