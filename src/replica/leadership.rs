//! Leadership transfer and snapshots on demand.
//!
//! openraft 0.9 has no transfer primitive, so a transfer is arranged: the
//! leader waits until the target holds its whole log, stops sending
//! heartbeats and stops campaigning itself, and asks the target to campaign.
//! Followers grant votes once the old leader's lease has lapsed, and the
//! target, campaigning repeatedly from that moment, is the first candidate
//! with an up-to-date log. The outcome is checked, not assumed.

use std::time::{Duration, Instant};

use openraft::storage::Snapshot;

use super::error::{ReplicaError, Result};
use super::Replica;
use crate::raft::{NodeId, TypeConfig};

/// How long a transfer may take.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(10);

impl Replica {
    /// Moves leadership from this node (the leader) to `to`, asking it over
    /// the peer API to campaign.
    pub async fn transfer_leader(&self, to: NodeId) -> Result<()> {
        let st = self.status().await;
        match st.leader {
            Some(l) if l == self.id() => {}
            Some(_) => return Err(ReplicaError::NotLeader { leader: st.leader_api_addr }),
            None => return Err(ReplicaError::NoLeader),
        }
        if to == self.id() {
            return Ok(());
        }
        let target = st.members.iter().find(|m| m.id == to).ok_or(ReplicaError::NodeNotFound(to))?;
        if target.role == "learner" {
            return Err(ReplicaError::Membership(format!("node {to} is a learner, not a voter")));
        }
        let raft_addr = target.info.raft_addr.clone();
        self.wait_caught_up(to).await?;
        let raft = self.raft();
        raft.runtime_config().heartbeat(false);
        raft.runtime_config().elect(false);
        let asked = crate::raft::network::request_campaign(to, &raft_addr, &self.client_tls()).await;
        let outcome = match asked {
            Err(e) => Err(ReplicaError::Unavailable(format!("node {to} could not campaign: {e}"))),
            Ok(()) => {
                let waited = raft
                    .wait(Some(TRANSFER_TIMEOUT))
                    .metrics(|m| m.current_leader.is_some_and(|l| l != self.id()), "new leader")
                    .await;
                match waited.ok().and_then(|m| m.current_leader) {
                    Some(l) if l == to => Ok(()),
                    Some(l) => Err(ReplicaError::Membership(format!("leadership moved to {l} instead of {to}"))),
                    None => Err(ReplicaError::Timeout(TRANSFER_TIMEOUT)),
                }
            }
        };
        raft.runtime_config().heartbeat(true);
        raft.runtime_config().elect(true);
        outcome
    }

    /// Waits until the leader knows `to` holds its whole log.
    async fn wait_caught_up(&self, to: NodeId) -> Result<()> {
        let deadline = Instant::now() + TRANSFER_TIMEOUT;
        loop {
            let st = self.status().await;
            let lag = st.members.iter().find(|m| m.id == to).and_then(|m| m.lag);
            if lag == Some(0) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(ReplicaError::Timeout(TRANSFER_TIMEOUT));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A snapshot that contains every write committed before the call.
    pub async fn fresh_snapshot(&self, timeout: Duration) -> Result<Snapshot<TypeConfig>> {
        let raft = self.raft();
        let read = raft.ensure_linearizable().await?;
        let need = read.map(|l| l.index);
        raft.trigger().snapshot().await.map_err(|e| ReplicaError::Unavailable(e.to_string()))?;
        raft.wait(Some(timeout))
            .metrics(|m| m.snapshot.map(|s| s.index) >= need, "snapshot")
            .await
            .map_err(|_| ReplicaError::Timeout(timeout))?;
        raft.get_snapshot()
            .await
            .map_err(|e| ReplicaError::Unavailable(e.to_string()))?
            .ok_or_else(|| ReplicaError::Unavailable("no snapshot available".into()))
    }
}
