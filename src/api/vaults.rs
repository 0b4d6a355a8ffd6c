//! The vaults service.

use tonic::{Request, Response, Status};

use super::convert::{self, consistency};
use super::paging;
use super::serve::serve;
use crate::proto::api::vault_service_server::VaultService;
use crate::proto::api::{self as pb, Empty};
use crate::proto::storage::{self as st, op::Kind};
use crate::rbac::Scope;
use crate::replica::Replica;
use crate::state::{validate, vaults, OpOutput};

/// Serves vault management.
pub struct Vaults {
    replica: Replica,
}

impl Vaults {
    /// The service over `replica`.
    pub fn new(replica: Replica) -> Self {
        Vaults { replica }
    }

    /// Fails with `Sealed` (or `Uninitialized`) unless this node holds keys.
    fn ready(&self) -> Result<(), Status> {
        self.replica.unsealed()?;
        Ok(())
    }

    async fn write_vault(&self, kind: Kind) -> Result<pb::Vault, Status> {
        match self.replica.write(kind).await? {
            OpOutput::Vault(v) => Ok(convert::vault(v)),
            other => Err(super::status::unexpected(other)),
        }
    }
}

#[tonic::async_trait]
impl VaultService for Vaults {
    async fn create_vault(&self, req: Request<pb::CreateVaultRequest>) -> Result<Response<pb::Vault>, Status> {
        let target = Scope::vault(&req.get_ref().name);
        serve(&self.replica, req, target, |req, _| async move {
            let r = req.into_inner();
            self.ready()?;
            validate::name("vault", &r.name)?;
            let retention_days = match r.retention_days {
                0 => validate::DEFAULT_RETENTION_DAYS,
                d => d,
            };
            validate::retention_days(retention_days)?;
            let op = st::CreateVault { name: r.name, retention_days, purge_protection: r.purge_protection };
            Ok(Response::new(self.write_vault(Kind::CreateVault(op)).await?))
        })
        .await
    }

    async fn get_vault(&self, req: Request<pb::GetVaultRequest>) -> Result<Response<pb::Vault>, Status> {
        let target = Scope::vault(&req.get_ref().name);
        serve(&self.replica, req, target, |req, _| async move {
            let r = req.into_inner();
            self.ready()?;
            let v = self.replica.read(consistency(r.read.as_ref()), |kv| vaults::get(kv, &r.name)).await?;
            Ok(Response::new(convert::vault(v)))
        })
        .await
    }

    async fn list_vaults(
        &self,
        req: Request<pb::ListVaultsRequest>,
    ) -> Result<Response<pb::ListVaultsResponse>, Status> {
        let target = Scope::Cluster;
        serve(&self.replica, req, target, |req, _| async move {
            let r = req.into_inner();
            self.ready()?;
            let size = paging::page_size(r.max_results, self.replica.limits())?;
            let after = paging::decode(&r.continuation_token)?;
            let all = self
                .replica
                .read(consistency(r.read.as_ref()), |kv| vaults::list(kv, after.as_deref(), size + 1))
                .await?;
            let (page, token) = paging::paginate(all, size, |v| v.name.clone());
            let vaults = page.into_iter().map(convert::vault).collect();
            Ok(Response::new(pb::ListVaultsResponse { vaults, continuation_token: token }))
        })
        .await
    }

    async fn update_vault(&self, req: Request<pb::UpdateVaultRequest>) -> Result<Response<pb::Vault>, Status> {
        let target = Scope::vault(&req.get_ref().name);
        serve(&self.replica, req, target, |req, _| async move {
            let r = req.into_inner();
            self.ready()?;
            validate::name("vault", &r.name)?;
            let op = st::UpdateVault { name: r.name, purge_protection: r.purge_protection };
            Ok(Response::new(self.write_vault(Kind::UpdateVault(op)).await?))
        })
        .await
    }

    async fn delete_vault(&self, req: Request<pb::DeleteVaultRequest>) -> Result<Response<Empty>, Status> {
        let target = Scope::vault(&req.get_ref().name);
        serve(&self.replica, req, target, |req, _| async move {
            let r = req.into_inner();
            self.ready()?;
            validate::name("vault", &r.name)?;
            self.replica.write(Kind::DeleteVault(st::DeleteVault { name: r.name })).await?;
            Ok(Response::new(Empty {}))
        })
        .await
    }
}
