//! Membership changes and cluster status.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use openraft::{ChangeMembers, ServerState};

use super::error::{ReplicaError, Result};
use super::{Consistency, Replica};
use crate::raft::{NodeId, NodeInfo};

/// A member as shown by `cluster status`.
#[derive(Debug, Clone)]
pub struct MemberStatus {
    /// The member's node id.
    pub id: NodeId,
    /// Its addresses and region.
    pub info: NodeInfo,
    /// "leader", "follower" or "learner".
    pub role: &'static str,
    /// Last log index the leader knows the member holds (leader only).
    pub matched_index: Option<u64>,
    /// Entries behind the leader's last log index (leader only).
    pub lag: Option<u64>,
}

/// The cluster as seen from this node.
#[derive(Debug, Clone)]
pub struct ClusterStatus {
    /// The node that answered.
    pub node_id: NodeId,
    /// Its Raft role: leader, follower, learner, candidate or shutdown.
    pub state: String,
    /// Its current term.
    pub term: u64,
    /// The leader it knows, if any.
    pub leader: Option<NodeId>,
    /// The leader's client API address.
    pub leader_api_addr: Option<String>,
    /// Its last log index.
    pub last_log_index: Option<u64>,
    /// The highest index it knows to be committed.
    pub committed_index: Option<u64>,
    /// The highest index it has applied.
    pub applied_index: Option<u64>,
    /// The last index covered by its snapshot.
    pub snapshot_index: Option<u64>,
    /// Every member of the cluster.
    pub members: Vec<MemberStatus>,
    /// When its own certificate expires (Unix seconds).
    pub cert_not_after: Option<i64>,
}

impl Replica {
    /// Bootstraps a single-node cluster made of this node. A node seeded by
    /// `coffer cluster restore` then snapshots and purges its log, so members
    /// that join later receive the restored state as a snapshot.
    pub async fn bootstrap(&self) -> Result<()> {
        if self.is_joining() {
            return Err(ReplicaError::Membership(
                "this node was started to join a cluster, not to bootstrap one".into(),
            ));
        }
        let restored = !self.reader().is_empty();
        self.initialize().await?;
        if restored {
            let leader = self.wait_for_leader(Duration::from_secs(10)).await?;
            if leader != self.id() {
                return Err(ReplicaError::NotLeader { leader: None });
            }
            let snapshot = self.fresh_snapshot(Duration::from_secs(60)).await?;
            if let Some(last) = snapshot.meta.last_log_id {
                self.raft()
                    .trigger()
                    .purge_log(last.index)
                    .await
                    .map_err(|e| ReplicaError::Unavailable(e.to_string()))?;
            }
        }
        Ok(())
    }

    async fn initialize(&self) -> Result<()> {
        if self.raft().is_initialized().await.map_err(|e| ReplicaError::Unavailable(e.to_string()))? {
            return Err(ReplicaError::AlreadyInitialized);
        }
        let members = BTreeMap::from([(self.id(), self.info().clone())]);
        self.raft().initialize(members).await.map_err(|e| match e {
            openraft::error::RaftError::APIError(_) => ReplicaError::AlreadyInitialized,
            e => ReplicaError::Unavailable(e.to_string()),
        })
    }

    /// Adds a node as a learner and waits until it has caught up.
    pub async fn add_learner(&self, id: NodeId, info: NodeInfo) -> Result<()> {
        if id == 0 {
            return Err(ReplicaError::InvalidArgument("node id 0 is reserved".into()));
        }
        self.raft().add_learner(id, info, true).await?;
        Ok(())
    }

    /// Whether an operator removed node `id` (it may not add itself back),
    /// read with `consistency`.
    pub async fn is_removed(&self, id: NodeId, consistency: Consistency) -> Result<bool> {
        self.read(consistency, |kv| crate::state::removed_nodes::is_removed(kv, id)).await
    }

    /// Marks node `id` as removed by an operator (or lifts the mark); writes
    /// only when that changes something. Run by the leader, right after the
    /// membership change it follows: its own state is current.
    pub async fn mark_removed(&self, id: NodeId, removed: bool) -> Result<()> {
        if self.is_removed(id, Consistency::Stale).await? == removed {
            return Ok(());
        }
        let op = crate::proto::storage::MarkRemovedNode { node_id: id, removed };
        self.write(crate::proto::storage::op::Kind::MarkRemovedNode(op)).await?;
        Ok(())
    }

    /// Makes learners voters.
    pub async fn promote(&self, ids: BTreeSet<NodeId>) -> Result<()> {
        self.known(&ids)?;
        self.raft().change_membership(ChangeMembers::AddVoterIds(ids), false).await?;
        Ok(())
    }

    /// Removes members (voters or learners) from the cluster.
    pub async fn remove(&self, ids: BTreeSet<NodeId>) -> Result<()> {
        self.known(&ids)?;
        let metrics = self.raft().metrics().borrow().clone();
        let voters: BTreeSet<NodeId> = metrics.membership_config.membership().voter_ids().collect();
        let remove_voters: BTreeSet<NodeId> = ids.intersection(&voters).copied().collect();
        if !remove_voters.is_empty() {
            if remove_voters.len() == voters.len() {
                return Err(ReplicaError::Membership("cannot remove every voter".into()));
            }
            self.raft().change_membership(ChangeMembers::RemoveVoters(remove_voters), false).await?;
        }
        self.raft().change_membership(ChangeMembers::RemoveNodes(ids), false).await?;
        Ok(())
    }

    fn known(&self, ids: &BTreeSet<NodeId>) -> Result<()> {
        let metrics = self.raft().metrics().borrow().clone();
        let membership = metrics.membership_config.membership();
        match ids.iter().find(|id| membership.get_node(id).is_none()) {
            Some(id) => Err(ReplicaError::NodeNotFound(*id)),
            None => Ok(()),
        }
    }

    /// The member `id`'s addresses, if it is a member.
    pub fn member(&self, id: NodeId) -> Option<NodeInfo> {
        self.raft().metrics().borrow().membership_config.membership().get_node(&id).cloned()
    }

    /// Waits until this node sees a leader, up to `timeout`.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Result<NodeId> {
        let waited = self.raft().wait(Some(timeout)).metrics(|m| m.current_leader.is_some(), "leader").await;
        waited.ok().and_then(|m| m.current_leader).ok_or(ReplicaError::NoLeader)
    }

    /// The client API address of the leader when another node leads: where
    /// a request goes that this node cannot answer with authority (it may not
    /// have applied the leader's latest writes yet).
    pub fn other_leader(&self) -> Option<String> {
        let m = self.raft().metrics();
        let m = m.borrow();
        let leader = m.current_leader.filter(|l| *l != self.id())?;
        m.membership_config.membership().get_node(&leader).map(|n| n.api_addr.clone())
    }

    /// The cluster as this node sees it.
    pub async fn status(&self) -> ClusterStatus {
        let m = self.raft().metrics().borrow().clone();
        let committed = self.raft().with_raft_state(|st| st.committed.map(|c| c.index)).await.ok().flatten();
        let membership = m.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let members = membership
            .nodes()
            .map(|(id, info)| {
                let role = if Some(*id) == m.current_leader {
                    "leader"
                } else if voters.contains(id) {
                    "follower"
                } else {
                    "learner"
                };
                let matched_index = m
                    .replication
                    .as_ref()
                    .and_then(|r| r.get(id).copied().flatten())
                    .map(|l| l.index)
                    .or(if *id == m.id { m.last_log_index } else { None });
                let lag = match (m.replication.is_some(), matched_index) {
                    (true, Some(mi)) => m.last_log_index.map(|l| l.saturating_sub(mi)),
                    (true, None) => m.last_log_index,
                    _ => None,
                };
                MemberStatus { id: *id, info: info.clone(), role, matched_index, lag }
            })
            .collect();
        ClusterStatus {
            node_id: m.id,
            state: match m.state {
                ServerState::Leader => "leader",
                ServerState::Follower => "follower",
                ServerState::Learner => "learner",
                ServerState::Candidate => "candidate",
                ServerState::Shutdown => "shutdown",
            }
            .into(),
            term: m.current_term,
            leader: m.current_leader,
            leader_api_addr: m.current_leader.and_then(|l| membership.get_node(&l)).map(|n| n.api_addr.clone()),
            last_log_index: m.last_log_index,
            committed_index: committed,
            applied_index: m.last_applied.map(|l| l.index),
            snapshot_index: m.snapshot.map(|l| l.index),
            members,
            cert_not_after: self.tls().current().and_then(|l| l.cert_info.as_ref().map(|c| c.not_after)),
        }
    }
}
