//! The server side of the peer API: hands received Raft messages to the local
//! Raft instance, and what else peers send to this node's replica. A caller
//! speaks only for itself: messages naming a sender must name the node of
//! its certificate, only the leader asks for a campaign or offers a root
//! key, and forwarded audit records must name the node that forwards them.
//! Learners are not refused as leaders or candidates: a node's view of who
//! is a learner may be stale (it missed a promotion), and refusing a
//! promoted leader would leave it behind for good; a node admitted with a
//! join token may promote itself anyway (see SECURITY.md).
//!
//! A snapshot from the leader is received here chunk by chunk and, when
//! this node holds the keys, its MAC is checked before Raft installs it
//! (with [`SnapshotCheck`], the storage's file format): a snapshot that does not verify is
//! refused and nothing changes. A node without keys (sealed) cannot check
//! it and installs it as received; it serves nothing until it is unsealed.

use std::time::{Duration, Instant};

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::network::snapshot_transport::{Chunked, SnapshotTransport, Streaming};
use openraft::storage::Snapshot;
use openraft::ServerState;
use tonic::{Request, Response, Status};

use super::snapshot_data::SnapshotData;
use super::{NodeId, Raft, TypeConfig};
use crate::crypto::Key256;
use crate::faults::Faults;
use crate::proto::raft as pb;
use crate::proto::raft::raft_service_server::RaftService;
use crate::tls::{CertIdentity, ConnInfo};

/// Where peers' requests other than Raft's go (the node's replica).
pub trait PeerRequests: Send + Sync {
    /// Commits `records` (forwarded by a follower) if this node leads;
    /// answers once they are committed.
    fn append(
        &self,
        records: Vec<crate::proto::storage::AuditRecord>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>>;

    /// Keeps a root key handed over by a node that rekeys; returns whether
    /// this node kept it.
    fn offer_root(&self, generation: u32, root: Key256) -> bool;
}

/// How received snapshots are checked (the storage's snapshot file
/// format and this node's keys).
pub trait SnapshotCheck: Send + Sync {
    /// The key to check with; `None` while this node holds no keys.
    fn key(&self) -> Option<Key256>;

    /// Checks the MAC of the snapshot file `file` under `key`.
    fn verify(&self, file: &mut std::fs::File, key: &Key256) -> Result<(), String>;
}

/// Serves Raft messages addressed to this node.
pub struct PeerService {
    raft: Raft,
    self_id: NodeId,
    faults: Faults,
    replica: std::sync::Arc<dyn PeerRequests>,
    /// The key received snapshots are checked with.
    snapshot_keys: std::sync::Arc<dyn SnapshotCheck>,
    /// The snapshot being received, chunk by chunk.
    streaming: tokio::sync::Mutex<Option<Streaming<TypeConfig>>>,
}

impl PeerService {
    /// A service that feeds `raft`, and `replica` with the other requests,
    /// and checks received snapshots with the key of `snapshot_keys`.
    pub fn new(
        raft: Raft,
        self_id: NodeId,
        faults: Faults,
        replica: std::sync::Arc<dyn PeerRequests>,
        snapshot_keys: std::sync::Arc<dyn SnapshotCheck>,
    ) -> Self {
        PeerService { raft, self_id, faults, replica, snapshot_keys, streaming: Default::default() }
    }

    /// The received snapshot, if its MAC verifies under this node's key, or
    /// as received if this node holds no key to check it with.
    async fn verified(&self, snapshot: Snapshot<TypeConfig>) -> Result<Snapshot<TypeConfig>, Status> {
        let Some(key) = self.snapshot_keys.key() else {
            tracing::warn!(
                snapshot = %snapshot.meta.snapshot_id,
                "installing a snapshot this node cannot verify: it holds no keys (sealed)"
            );
            return Ok(snapshot);
        };
        let meta = snapshot.meta;
        let mut file = snapshot.snapshot.into_std().await.map_err(|e| Status::internal(e.to_string()))?;
        let check = self.snapshot_keys.clone();
        let checked = tokio::task::spawn_blocking(move || check.verify(&mut file, &key).map(|()| file));
        match checked.await.map_err(|e| Status::internal(e.to_string()))? {
            Ok(file) => Ok(Snapshot { meta, snapshot: Box::new(SnapshotData::file(file)) }),
            Err(e) => {
                tracing::error!(snapshot = %meta.snapshot_id, error = %e, "snapshot from the leader refused");
                Err(Status::data_loss(format!("snapshot {} refused: {e}", meta.snapshot_id)))
            }
        }
    }

    /// Refuses callers that are cut off (fault injection) or not members;
    /// returns the caller's node id. TLS has verified that the caller holds
    /// a node certificate from the cluster CA; here its node id must be a
    /// member (voter or learner) of the membership this node knows. A node
    /// that knows none yet (it is being added) accepts any node of the
    /// cluster CA.
    fn check_caller<T>(&self, req: &Request<T>) -> Result<NodeId, Status> {
        if let Some(why) = self.faults.cut(self.self_id, self.self_id) {
            return Err(Status::unavailable(why));
        }
        let caller = match req.extensions().get::<ConnInfo>().and_then(|c| c.identity.clone()) {
            Some(CertIdentity::Node(id)) => id,
            _ => return Err(Status::permission_denied("the peer API accepts only node certificates")),
        };
        // Borrowed, not cloned: this runs for every peer call.
        let stranger = {
            let metrics = self.raft.metrics();
            let metrics = metrics.borrow();
            let membership = metrics.membership_config.membership();
            membership.nodes().next().is_some() && membership.get_node(&caller).is_none()
        };
        if stranger {
            tracing::warn!(caller, "peer request from a node that is not a member refused");
            return Err(Status::permission_denied(format!("node {caller} is not a member of this cluster")));
        }
        Ok(caller)
    }

    /// Checks a Raft message that names its sender in `vote` (the leader of
    /// an append or snapshot, the candidate of a vote): the caller's
    /// certificate must name that node.
    fn check_sender<T>(&self, req: &Request<T>, vote: &Option<pb::Vote>, what: &str) -> Result<(), Status> {
        let caller = self.check_caller(req)?;
        let Some(named) = vote.as_ref().and_then(|v| v.leader_id.as_ref()).map(|l| l.node_id) else {
            return Err(Status::invalid_argument(format!("a {what} must name its sender")));
        };
        if named != caller {
            tracing::warn!(caller, named, what, "peer message naming another node as its sender refused");
            return Err(Status::permission_denied(format!("node {caller} may not send a {what} as node {named}")));
        }
        Ok(())
    }
}

fn bad_request(e: super::codec::CodecError) -> Status {
    Status::invalid_argument(e.to_string())
}

fn raft_status<E: std::fmt::Display>(e: E) -> Status {
    Status::unavailable(format!("raft: {e}"))
}

#[tonic::async_trait]
impl RaftService for PeerService {
    async fn append_entries(
        &self,
        req: Request<pb::AppendEntriesRequest>,
    ) -> Result<Response<pb::AppendEntriesResponse>, Status> {
        self.check_sender(&req, &req.get_ref().vote, "append")?;
        let rpc = req.into_inner().try_into().map_err(bad_request)?;
        let resp = self.raft.append_entries(rpc).await.map_err(raft_status)?;
        Ok(Response::new(resp.into()))
    }

    async fn vote(&self, req: Request<pb::VoteRequest>) -> Result<Response<pb::VoteResponse>, Status> {
        self.check_sender(&req, &req.get_ref().vote, "vote request")?;
        let rpc = req.into_inner().try_into().map_err(bad_request)?;
        let resp = self.raft.vote(rpc).await.map_err(raft_status)?;
        Ok(Response::new(resp.into()))
    }

    async fn campaign(&self, req: Request<pb::Blank>) -> Result<Response<pb::Blank>, Status> {
        // Only the leader hands over leadership: anyone else asking would
        // make this node disrupt a healthy leader with a higher term.
        let caller = self.check_caller(&req)?;
        if self.raft.metrics().borrow().current_leader != Some(caller) {
            tracing::warn!(caller, "request to campaign from a node that does not lead refused");
            return Err(Status::permission_denied(format!(
                "node {caller} does not lead: it may not hand over leadership"
            )));
        }
        campaign(self.raft.clone());
        Ok(Response::new(pb::Blank {}))
    }

    async fn forward_audit(&self, req: Request<pb::AuditBatch>) -> Result<Response<pb::Blank>, Status> {
        // A node forwards the records of requests it served itself.
        let caller = self.check_caller(&req)?;
        if let Some(r) = req.get_ref().records.iter().find(|r| r.node_id != caller) {
            tracing::warn!(caller, named = r.node_id, "forwarded audit records naming another node refused");
            return Err(Status::permission_denied(format!(
                "node {caller} may not forward audit records of node {}",
                r.node_id
            )));
        }
        self.replica.append(req.into_inner().records).await.map_err(Status::unavailable)?;
        Ok(Response::new(pb::Blank {}))
    }

    async fn hand_off_root(&self, req: Request<pb::RootHandoff>) -> Result<Response<pb::RootHandoffReply>, Status> {
        // Only the leader rekeys: no other member may offer root keys.
        let caller = self.check_caller(&req)?;
        if self.raft.metrics().borrow().current_leader != Some(caller) {
            tracing::warn!(caller, "root key offered by a node that does not lead refused");
            return Err(Status::permission_denied(format!("node {caller} does not lead: it may not offer a root key")));
        }
        let mut req = req.into_inner();
        let root = Key256::from_slice(&req.root);
        zeroize::Zeroize::zeroize(&mut req.root);
        let root = root.ok_or_else(|| Status::invalid_argument("a root key has 32 bytes"))?;
        let accepted = self.replica.offer_root(req.root_generation, root);
        Ok(Response::new(pb::RootHandoffReply { accepted }))
    }

    async fn install_snapshot(
        &self,
        req: Request<pb::InstallSnapshotRequest>,
    ) -> Result<Response<pb::InstallSnapshotResponse>, Status> {
        self.check_sender(&req, &req.get_ref().vote, "snapshot")?;
        let rpc: openraft::raft::InstallSnapshotRequest<TypeConfig> =
            req.into_inner().try_into().map_err(bad_request)?;
        use pb::install_snapshot_response::Result as R;
        // What `Raft::install_snapshot` does, with the check between the
        // last chunk and the install.
        let vote = rpc.vote;
        let my_vote = || self.raft.metrics().borrow().vote;
        if vote < my_vote() {
            return Ok(Response::new(pb::InstallSnapshotResponse { result: Some(R::Vote(my_vote().into())) }));
        }
        let received = {
            let mut streaming = self.streaming.lock().await;
            Chunked::receive_snapshot(&mut streaming, &self.raft, rpc).await
        };
        let result = match received {
            Ok(None) => R::Vote(my_vote().into()),
            Ok(Some(snapshot)) => {
                let snapshot = self.verified(snapshot).await?;
                R::Vote(self.raft.install_full_snapshot(vote, snapshot).await.map_err(raft_status)?.vote.into())
            }
            Err(RaftError::APIError(InstallSnapshotError::SnapshotMismatch(m))) => {
                let seg = |s: openraft::SnapshotSegmentId| pb::SnapshotSegment { id: s.id, offset: s.offset };
                R::Mismatch(pb::SnapshotMismatch { expect: Some(seg(m.expect)), got: Some(seg(m.got)) })
            }
            Err(e) => return Err(raft_status(e)),
        };
        Ok(Response::new(pb::InstallSnapshotResponse { result: Some(result) }))
    }
}

/// How long a campaigning node keeps retrying.
const CAMPAIGN_FOR: Duration = Duration::from_secs(5);

/// Campaigns for leadership repeatedly for a few seconds, in the background,
/// until this node leads: votes are refused while the old leader's lease
/// lasts, so one attempt is not enough.
fn campaign(raft: Raft) {
    tokio::spawn(async move {
        let until = Instant::now() + CAMPAIGN_FOR;
        while Instant::now() < until {
            if raft.metrics().borrow().state == ServerState::Leader {
                return;
            }
            if raft.trigger().elect().await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
}
