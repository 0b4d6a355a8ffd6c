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
use crate::raft::service::AuditAppender;
use crate::state::OpOutput;

/// How long a follower keeps trying to hand a record to a leader.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(10);

/// Channels to the leaders this node has forwarded to, by peer address.
#[derive(Default)]
pub struct Forwarder {
    channels: Mutex<HashMap<String, tonic::transport::Channel>>,
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
        let addr = self.member(leader).ok_or(ReplicaError::NoLeader)?.raft_addr;
        let channel = {
            let mut channels = self.inner.forwarder.channels.lock().unwrap_or_else(|p| p.into_inner());
            match channels.get(&addr) {
                Some(c) => c.clone(),
                None => {
                    let name = crate::tls::pki::node_dns_name(leader);
                    let c = crate::tls::channel(
                        &addr,
                        &self.client_tls(),
                        Some(name),
                        Duration::from_secs(2),
                        Some(FORWARD_TIMEOUT),
                    )?;
                    channels.insert(addr.clone(), c.clone());
                    c
                }
            }
        };
        RaftServiceClient::new(channel)
            .forward_audit(AuditBatch { records: vec![record] })
            .await
            .map(drop)
            .map_err(|s| ReplicaError::Unavailable(format!("leader {leader}: {}", s.message())))
    }
}

impl AuditAppender for Replica {
    fn append(
        &self,
        records: Vec<AuditRecord>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = std::result::Result<(), String>> + Send>> {
        let replica = self.clone();
        Box::pin(async move {
            let leads = replica.raft().metrics().borrow().current_leader == Some(replica.id());
            if !leads {
                return Err("not the leader".into());
            }
            replica.commit_audit(records).await.map(drop).map_err(|e| e.to_string())
        })
    }
}
