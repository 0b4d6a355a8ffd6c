//! The cluster administration service.

use std::collections::BTreeSet;
use std::pin::Pin;
use std::time::Duration;

use futures::Stream;
use tokio::io::AsyncReadExt;
use tonic::{Request, Response, Status};

use super::serve::{serve, Allowed};
use super::status::{invalid, status};
use crate::client::Client;
use crate::error_code::ErrorCode;
use crate::proto::api::cluster_service_server::ClusterService;
use crate::proto::api::{self as pb, Empty};
use crate::raft::NodeInfo;
use crate::rbac::Scope;
use crate::replica::cluster::ClusterStatus;
use crate::replica::{Consistency, Replica, ReplicaError};

/// Snapshot stream chunk size.
const CHUNK: usize = 1 << 20;
/// How long a snapshot may take to build.
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(120);

/// Serves membership changes and status.
pub struct Cluster {
    replica: Replica,
}

impl Cluster {
    /// The service over `replica`.
    pub fn new(replica: Replica) -> Self {
        Cluster { replica }
    }

    async fn status_pb(&self) -> pb::ClusterStatus {
        to_pb(self.replica.status().await)
    }

    fn require_leader(&self, st: &ClusterStatus) -> Result<(), ReplicaError> {
        match st.leader {
            Some(l) if l == st.node_id => Ok(()),
            Some(_) => Err(ReplicaError::NotLeader { leader: st.leader_api_addr.clone() }),
            None => Err(ReplicaError::NoLeader),
        }
    }
}

fn to_pb(s: ClusterStatus) -> pb::ClusterStatus {
    pb::ClusterStatus {
        node_id: s.node_id,
        leader_id: s.leader,
        leader_api_addr: s.leader_api_addr.unwrap_or_default(),
        term: s.term,
        last_log_index: s.last_log_index,
        committed_index: s.committed_index,
        applied_index: s.applied_index,
        members: s
            .members
            .into_iter()
            .map(|m| pb::Member {
                id: m.id,
                raft_addr: m.info.raft_addr,
                api_addr: m.info.api_addr,
                region: m.info.region,
                role: m.role.into(),
                matched_index: m.matched_index,
                lag: m.lag,
            })
            .collect(),
        state: s.state,
        snapshot_index: s.snapshot_index,
        cert_not_after: s.cert_not_after,
    }
}

fn ids(req: pb::NodeIdsRequest) -> Result<BTreeSet<u64>, Status> {
    if req.ids.is_empty() {
        return Err(invalid("no node ids given"));
    }
    Ok(req.ids.into_iter().collect())
}

type ChunkStream = Pin<Box<dyn Stream<Item = Result<pb::SnapshotChunk, Status>> + Send>>;

#[tonic::async_trait]
impl ClusterService for Cluster {
    async fn bootstrap(&self, req: Request<Empty>) -> Result<Response<pb::ClusterStatus>, Status> {
        let target = Scope::Cluster;
        serve(&self.replica, req, target, |_, _| async move {
            self.replica.bootstrap().await?;
            self.replica.wait_for_leader(Duration::from_secs(10)).await?;
            Ok(Response::new(self.status_pb().await))
        })
        .await
    }

    async fn status(&self, req: Request<pb::StatusRequest>) -> Result<Response<pb::ClusterStatus>, Status> {
        let target = Scope::Cluster;
        serve(&self.replica, req, target, |_, _| async move { Ok(Response::new(self.status_pb().await)) }).await
    }

    async fn add_learner(&self, req: Request<pb::AddLearnerRequest>) -> Result<Response<pb::ClusterStatus>, Status> {
        let target = Scope::Cluster;
        serve(&self.replica, req, target, |req, Allowed { auth, .. }| async move {
            if let Some(node) = auth.acting_node() {
                self.only_itself(&auth, &[node]).await?;
            }
            let addr = req.into_inner().api_addr;
            self.require_leader(&self.replica.status().await)?;
            let client =
                Client::new([addr.clone()]).map_err(|e| invalid(e.to_string()))?.with_tls(self.replica.client_tls());
            let member = client
                .node_info(&addr)
                .await
                .map_err(|e| status(ErrorCode::Unavailable, format!("cannot reach {addr}: {e}"), None))?;
            self.only_itself(&auth, &[member.id]).await?;
            let info = NodeInfo { raft_addr: member.raft_addr, api_addr: member.api_addr, region: member.region };
            self.replica.add_learner(member.id, info).await?;
            if auth.acting_node().is_none() {
                // An operator added it: it may rejoin by itself later.
                self.replica.mark_removed(member.id, false).await?;
            }
            Ok(Response::new(self.status_pb().await))
        })
        .await
    }

    async fn promote(&self, req: Request<pb::NodeIdsRequest>) -> Result<Response<pb::ClusterStatus>, Status> {
        let target = Scope::Cluster;
        serve(&self.replica, req, target, |req, Allowed { auth, .. }| async move {
            let ids = ids(req.into_inner())?;
            self.only_itself(&auth, &ids.iter().copied().collect::<Vec<_>>()).await?;
            self.replica.promote(ids).await?;
            Ok(Response::new(self.status_pb().await))
        })
        .await
    }

    async fn remove_node(&self, req: Request<pb::NodeIdsRequest>) -> Result<Response<pb::ClusterStatus>, Status> {
        let target = Scope::Cluster;
        serve(&self.replica, req, target, |req, _| async move {
            let ids = ids(req.into_inner())?;
            self.replica.remove(ids.clone()).await?;
            // Its certificate stays valid: it must not add itself back.
            for id in ids {
                self.replica.mark_removed(id, true).await?;
            }
            Ok(Response::new(self.status_pb().await))
        })
        .await
    }

    async fn transfer_leader(
        &self,
        req: Request<pb::TransferLeaderRequest>,
    ) -> Result<Response<pb::ClusterStatus>, Status> {
        let target = Scope::Cluster;
        serve(&self.replica, req, target, |req, _| async move {
            self.replica.transfer_leader(req.into_inner().to).await?;
            Ok(Response::new(self.status_pb().await))
        })
        .await
    }

    async fn node_info(&self, req: Request<Empty>) -> Result<Response<pb::Member>, Status> {
        let target = Scope::Cluster;
        serve(&self.replica, req, target, |_, _| async move {
            let info = self.replica.info().clone();
            Ok(Response::new(pb::Member {
                id: self.replica.id(),
                raft_addr: info.raft_addr,
                api_addr: info.api_addr,
                region: info.region,
                role: self.replica.status().await.state,
                matched_index: None,
                lag: None,
            }))
        })
        .await
    }

    type SaveSnapshotStream = ChunkStream;

    async fn save_snapshot(&self, req: Request<Empty>) -> Result<Response<ChunkStream>, Status> {
        let target = Scope::Cluster;
        serve(&self.replica, req, target, |_, _| async move {
            // The file is authenticated with a key only an unsealed node has.
            self.replica.unsealed().map(drop)?;
            let snapshot = self.replica.fresh_snapshot(SNAPSHOT_TIMEOUT).await?;
            let mut file = authenticated(snapshot.snapshot).await?;
            let stream = async_stream(move |tx| async move {
                loop {
                    let mut buf = vec![0u8; CHUNK];
                    let n = match file.read(&mut buf).await {
                        Ok(0) => return,
                        Ok(n) => n,
                        Err(e) => {
                            let _ = tx.send(Err(status(ErrorCode::Storage, e.to_string(), None))).await;
                            return;
                        }
                    };
                    buf.truncate(n);
                    if tx.send(Ok(pb::SnapshotChunk { data: buf })).await.is_err() {
                        return;
                    }
                }
            });
            Ok(Response::new(stream))
        })
        .await
    }
}

/// The snapshot's file, if it carries a MAC (it was serialized while this
/// node held its keys).
async fn authenticated(data: Box<crate::storage::SnapshotData>) -> Result<tokio::fs::File, Status> {
    use std::io::{Seek, SeekFrom};
    let storage = |e: &dyn std::fmt::Display| status(ErrorCode::Storage, e.to_string(), None);
    let mut file = data.into_std().await.map_err(|e| storage(&e))?;
    let checked = tokio::task::spawn_blocking(move || {
        let authentic = crate::storage::snapshot_file::authenticated(&mut file)?;
        file.seek(SeekFrom::Start(0))?;
        Ok::<_, crate::storage::StorageError>((authentic, file))
    });
    match checked.await.map_err(|e| storage(&e))?.map_err(|e| storage(&e))? {
        (true, file) => Ok(tokio::fs::File::from_std(file)),
        (false, _) => {
            Err(status(ErrorCode::Sealed, "the snapshot was written without the keys: unseal this node", None))
        }
    }
}

/// A stream fed by a spawned producer.
fn async_stream<F, Fut>(producer: F) -> ChunkStream
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<pb::SnapshotChunk, Status>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(producer(tx));
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}

/// A node certificate may add or promote only its own node.
impl Cluster {
    /// A node certificate may add or promote only its own node, and not once
    /// an operator removed that node. The mark is read linearizably: an
    /// operator's add that lifted it must be seen even by a lagging follower
    /// (which sends the caller to the leader instead).
    async fn only_itself(&self, auth: &crate::auth::Authorized, ids: &[u64]) -> Result<(), Status> {
        let Some(node) = auth.acting_node() else { return Ok(()) };
        if ids.iter().any(|id| *id != node) {
            return Err(status(ErrorCode::Forbidden, format!("node:{node} may only add or promote itself"), None));
        }
        if self.replica.is_removed(node, Consistency::Linearizable).await? {
            return Err(status(
                ErrorCode::Forbidden,
                format!("node:{node} was removed by an operator; an operator must add it again"),
                None,
            ));
        }
        Ok(())
    }
}
