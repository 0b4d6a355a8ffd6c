//! The operator service: initialize, unseal, seal, rotate, rewrap.

use super::serve::serve;
use tonic::{Request, Response, Status};

use crate::proto::api::operator_service_server::OperatorService;
use crate::proto::api::{self as pb, Empty};
use crate::rbac::Scope;
use crate::replica::operator::SealStatus;
use crate::replica::Replica;

/// Serves operator actions on the receiving node.
pub struct Operator {
    replica: Replica,
}

impl Operator {
    /// The service over `replica`.
    pub fn new(replica: Replica) -> Self {
        Operator { replica }
    }

    fn status_pb(&self, s: SealStatus) -> pb::SealStatus {
        pb::SealStatus {
            initialized: s.initialized,
            sealed: s.sealed,
            seal_type: s.seal_type.into(),
            key_shares: s.key_shares,
            key_threshold: s.key_threshold,
            progress: s.progress,
            keyring_term: s.keyring_term,
            node_id: self.replica.id(),
            seal_error: s.seal_error.unwrap_or_default(),
        }
    }
}

#[tonic::async_trait]
impl OperatorService for Operator {
    async fn init(&self, req: Request<pb::InitRequest>) -> Result<Response<pb::InitResponse>, Status> {
        let target = Scope::Cluster;
        // Open only while uninitialized (then refused as AlreadyInitialized).
        serve(&self.replica, req, target, |req, _| async move {
            let r = req.into_inner();
            let out = self.replica.init_security(r.key_shares, r.key_threshold).await?;
            Ok(Response::new(pb::InitResponse {
                key_shares: out.shares.iter().map(|s| s.as_str().to_owned()).collect(),
                key_threshold: r.key_threshold,
                root_token: out.root_token.as_str().to_owned(),
            }))
        })
        .await
    }

    async fn unseal(&self, req: Request<pb::UnsealRequest>) -> Result<Response<pb::SealStatus>, Status> {
        let target = Scope::Cluster;
        serve(&self.replica, req, target, |req, _| async move {
            let r = req.into_inner();
            if r.reset {
                self.replica.barrier().reset_progress();
                return Ok(Response::new(self.status_pb(self.replica.seal_status()?)));
            }
            let status = self.replica.unseal(&r.key_share)?;
            Ok(Response::new(self.status_pb(status)))
        })
        .await
    }

    async fn seal(&self, req: Request<Empty>) -> Result<Response<pb::SealStatus>, Status> {
        let target = Scope::Cluster;
        serve(&self.replica, req, target, |_, _| async move {
            self.replica.barrier().seal_by_operator();
            tracing::info!("sealed by operator request");
            Ok(Response::new(self.status_pb(self.replica.seal_status()?)))
        })
        .await
    }

    async fn status(&self, req: Request<Empty>) -> Result<Response<pb::SealStatus>, Status> {
        let target = Scope::Cluster;
        serve(&self.replica, req, target, |_, _| async move {
            Ok(Response::new(self.status_pb(self.replica.seal_status()?)))
        })
        .await
    }

    async fn rotate(&self, req: Request<Empty>) -> Result<Response<pb::SealStatus>, Status> {
        let target = Scope::Cluster;
        serve(&self.replica, req, target, |_, _| async move {
            let status = self.replica.rotate_keyring().await?;
            Ok(Response::new(self.status_pb(status)))
        })
        .await
    }

    async fn rekey(&self, req: Request<pb::RekeyRequest>) -> Result<Response<pb::InitResponse>, Status> {
        let target = Scope::Cluster;
        serve(&self.replica, req, target, |req, _| async move {
            let r = req.into_inner();
            let shares = self.replica.rekey(&r.current_shares, r.key_shares, r.key_threshold).await?;
            Ok(Response::new(pb::InitResponse {
                key_shares: shares.iter().map(|s| s.as_str().to_owned()).collect(),
                key_threshold: r.key_threshold,
                root_token: String::new(),
            }))
        })
        .await
    }

    async fn rewrap(&self, req: Request<Empty>) -> Result<Response<pb::RewrapResponse>, Status> {
        let target = Scope::Cluster;
        serve(&self.replica, req, target, |_, _| async move {
            let counts = self.replica.rewrap().await?;
            Ok(Response::new(pb::RewrapResponse {
                rewrapped: counts.iter().map(|c| c.rewrapped).sum(),
                remaining: counts.iter().map(|c| c.remaining).sum(),
                kinds: counts
                    .into_iter()
                    .map(|c| pb::RewrapCount { kind: c.kind.into(), rewrapped: c.rewrapped, remaining: c.remaining })
                    .collect(),
            }))
        })
        .await
    }
}
