//! Committing audit records: the leader proposes them (group commit puts
//! many in one entry); a follower forwards them to the leader over the
//! peer API and waits until they are committed. A node that belongs to no
//! cluster yet has no log to write to.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::error::{ReplicaError, Result};
use super::proposer::CommittedBy;
use super::Replica;
use crate::proto::raft::raft_service_client::RaftServiceClient;
use crate::proto::raft::AuditBatch;
use crate::proto::storage::{op::Kind, AppendAudit, AuditRecord, Op};
use crate::state::OpOutput;

/// How long a follower keeps trying to hand a record to a leader.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(10);

/// Channels to the peers this node has called (leaders it forwarded to,
/// members it handed a root key to), by node and peer address.
#[derive(Default)]
pub struct Forwarder {
    channels: Mutex<HashMap<(u64, String), tonic::transport::Channel>>,
}

impl Replica {
    /// Whether this node is part of a cluster (has a membership to log into).
    pub fn in_cluster(&self) -> bool {
        self.raft().metrics().borrow().membership_config.membership().nodes().next().is_some()
    }

    /// Commits `record` to the audit log; returns once it is committed, with
    /// the leadership that committed it when that was this node.
    pub async fn append_audit(&self, record: AuditRecord) -> Result<Option<CommittedBy>> {
        let deadline = Instant::now() + FORWARD_TIMEOUT;
        let mut wait = Duration::from_millis(20);
        loop {
            let leader = self.raft().metrics().borrow().current_leader;
            let outcome = match leader {
                Some(l) if l == self.id() => self.commit_audit(vec![record.clone()]).await,
                Some(l) => self.forward_audit(l, record.clone()).await.map(|()| None),
                None => Err(ReplicaError::NoLeader),
            };
            match outcome {
                Ok(by) => return Ok(by),
                // Leadership moved or is being decided: try again.
                Err(ReplicaError::NotLeader { .. } | ReplicaError::NoLeader | ReplicaError::Unavailable(_))
                    if Instant::now() + wait < deadline =>
                {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_millis(500));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Commits `records` through this node (the leader); returns the
    /// leadership that committed the last of them.
    async fn commit_audit(&self, records: Vec<AuditRecord>) -> Result<Option<CommittedBy>> {
        let proposer = &self.inner.proposer;
        let writes = records
            .into_iter()
            .map(|r| proposer.propose(Op { kind: Some(Kind::AppendAudit(AppendAudit { record: Some(r) })) }));
        let mut by = None;
        for out in futures::future::join_all(writes).await {
            let applied = out?;
            match applied.output {
                OpOutput::Audited(_) => by = Some(applied.by),
                other => return Err(ReplicaError::Unavailable(format!("unexpected apply output {other:?}"))),
            }
        }
        Ok(by)
    }

    async fn forward_audit(&self, leader: u64, record: AuditRecord) -> Result<()> {
        let channel = self.peer_channel(leader).map_err(|e| match e {
            ReplicaError::NodeNotFound(_) => ReplicaError::NoLeader,
            e => e,
        })?;
        RaftServiceClient::new(channel)
            .forward_audit(AuditBatch { records: vec![record] })
            .await
            .map(drop)
            .map_err(|s| ReplicaError::Unavailable(format!("leader {leader}: {}", s.message())))
    }

    /// A channel to member `node`'s peer API (kept for later calls).
    pub(super) fn peer_channel(&self, node: u64) -> Result<tonic::transport::Channel> {
        let addr = self.member(node).ok_or(ReplicaError::NodeNotFound(node))?.raft_addr;
        let mut channels = self.inner.forwarder.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = channels.get(&(node, addr.clone())) {
            return Ok(c.clone());
        }
        let name = crate::tls::pki::node_dns_name(node);
        let c =
            crate::tls::channel(&addr, &self.client_tls(), Some(name), Duration::from_secs(2), Some(FORWARD_TIMEOUT))?;
        channels.insert((node, addr), c.clone());
        Ok(c)
    }

    /// Commits audit records a follower forwarded, if this node leads.
    pub(super) async fn append_forwarded(&self, records: Vec<AuditRecord>) -> std::result::Result<(), String> {
        let leads = self.raft().metrics().borrow().current_leader == Some(self.id());
        if !leads {
            return Err("not the leader".into());
        }
        self.commit_audit(records).await.map(drop).map_err(|e| e.to_string())
    }
}
