//! Cluster administration.

use super::types::cluster_service_client::ClusterServiceClient;
use super::types::{self as pb, Empty};
use super::{Client, Result, Retry};
use crate::client::ClientError;

fn svc(ch: super::Transport) -> ClusterServiceClient<super::Transport> {
    ClusterServiceClient::new(ch).max_decoding_message_size(64 << 20)
}

impl Client {
    /// The cluster as seen by the leader (or by any node when there is none).
    pub async fn cluster_status(&self) -> Result<pb::ClusterStatus> {
        let any =
            self.run(Retry::Idempotent, |ch| async move {
                svc(ch).status(pb::StatusRequest {}).await.map(|r| r.into_inner())
            })
            .await?;
        // Ask the leader itself: only it knows how far each member is.
        if any.leader_id.is_some_and(|l| l != any.node_id) && !any.leader_api_addr.is_empty() {
            if let Ok(from_leader) = self.node_status(&any.leader_api_addr).await {
                return Ok(from_leader);
            }
        }
        Ok(any)
    }

    /// The cluster as seen by the node at `addr`.
    pub async fn node_status(&self, addr: &str) -> Result<pb::ClusterStatus> {
        let ch = self.channel(addr)?;
        Ok(svc(ch).status(pb::StatusRequest {}).await?.into_inner())
    }

    /// Bootstraps a new cluster on the node at `addr`.
    pub async fn bootstrap(&self, addr: &str) -> Result<pb::ClusterStatus> {
        let ch = self.channel(addr)?;
        Ok(svc(ch).bootstrap(Empty {}).await?.into_inner())
    }

    /// Identity and addresses of the node at `addr`.
    pub async fn node_info(&self, addr: &str) -> Result<pb::Member> {
        let ch = self.channel(addr)?;
        Ok(svc(ch).node_info(Empty {}).await?.into_inner())
    }

    /// Adds the node serving its client API at `api_addr` as a learner.
    pub async fn add_learner(&self, api_addr: &str) -> Result<pb::ClusterStatus> {
        let req = pb::AddLearnerRequest { api_addr: api_addr.into() };
        self.run(Retry::IfNotSent, |ch| {
            let req = req.clone();
            async move { svc(ch).add_learner(req).await.map(|r| r.into_inner()) }
        })
        .await
    }

    /// Makes learners voters.
    pub async fn promote(&self, ids: Vec<u64>) -> Result<pb::ClusterStatus> {
        let req = pb::NodeIdsRequest { ids };
        self.run(Retry::IfNotSent, |ch| {
            let req = req.clone();
            async move { svc(ch).promote(req).await.map(|r| r.into_inner()) }
        })
        .await
    }

    /// Removes members.
    pub async fn remove_nodes(&self, ids: Vec<u64>) -> Result<pb::ClusterStatus> {
        let req = pb::NodeIdsRequest { ids };
        self.run(Retry::IfNotSent, |ch| {
            let req = req.clone();
            async move { svc(ch).remove_node(req).await.map(|r| r.into_inner()) }
        })
        .await
    }

    /// Moves leadership to node `to`.
    pub async fn transfer_leader(&self, to: u64) -> Result<pb::ClusterStatus> {
        let req = pb::TransferLeaderRequest { to };
        self.run(Retry::IfNotSent, |ch| async move { svc(ch).transfer_leader(req).await.map(|r| r.into_inner()) }).await
    }

    /// Streams a snapshot of the whole state into `out`; returns its size.
    pub async fn save_snapshot(&self, out: &mut (dyn std::io::Write + Send)) -> Result<u64> {
        let mut stream = self
            .run(Retry::Idempotent, |ch| async move { svc(ch).save_snapshot(Empty {}).await.map(|r| r.into_inner()) })
            .await?;
        let mut total = 0u64;
        while let Some(chunk) = stream.message().await.map_err(ClientError::from)? {
            out.write_all(&chunk.data).map_err(|e| {
                ClientError::new(crate::error_code::ErrorCode::Internal, format!("writing snapshot: {e}"))
            })?;
            total += chunk.data.len() as u64;
        }
        Ok(total)
    }
}
