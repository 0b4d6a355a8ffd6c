//! The secrets service: one handler per Azure Key Vault secret operation.
//! Values, content types and tags cross the barrier here: sealed before they
//! are proposed, opened after they are read.

use tonic::{Request, Response, Status};

use super::audited::Note;
use super::serve::serve;

use super::convert::{self, consistency};
use super::paging;
use super::status::{internal, unexpected};
use crate::proto::api::secret_service_server::SecretService;
use crate::proto::api::{self as pb, Empty};
use crate::proto::storage::{self as st, op::Kind, SecretMeta};
use crate::rbac::Scope;
use crate::replica::sealing::{open_backup, open_meta, open_value, reseal_backup, seal_backup, seal_meta, seal_value};
use crate::replica::{Consistency, Replica};
use crate::state::{secrets, validate, OpOutput, SecretView, StateError};

/// Serves the secret operations of every vault.
pub struct Secrets {
    replica: Replica,
}

impl Secrets {
    /// The service over `replica`.
    pub fn new(replica: Replica) -> Self {
        Secrets { replica }
    }

    /// Fails with `Sealed` (or `Uninitialized`) unless this node holds keys.
    fn ready(&self) -> Result<(), Status> {
        self.replica.unsealed()?;
        Ok(())
    }

    async fn write_secret(&self, kind: Kind) -> Result<SecretView, Status> {
        match self.replica.write(kind).await? {
            OpOutput::Secret(view) => Ok(view),
            other => Err(unexpected(other)),
        }
    }

    /// Properties of versions, with their metadata opened.
    fn describe(&self, views: &[SecretView]) -> Result<Vec<pb::SecretProperties>, Status> {
        let keys = self.replica.unsealed()?;
        views.iter().map(|v| Ok(convert::properties(v, &open_meta(&keys, v)?))).collect()
    }

    fn describe_deleted(&self, views: &[SecretView]) -> Result<Vec<pb::DeletedSecret>, Status> {
        let keys = self.replica.unsealed()?;
        views.iter().map(|v| Ok(convert::deleted(v, &open_meta(&keys, v)?))).collect()
    }

    fn one(&self, view: SecretView) -> Result<pb::SecretProperties, Status> {
        Ok(self.describe(&[view])?.remove(0))
    }
}

/// A new random version id: 128 bits as 32 lowercase hex characters.
fn new_version() -> Result<String, Status> {
    crate::crypto::random_id().map_err(|_| internal("no randomness"))
}

fn check_ref(vault: &str, name: &str) -> Result<(), StateError> {
    validate::name("vault", vault)?;
    validate::name("secret", name)
}

#[tonic::async_trait]
impl SecretService for Secrets {
    async fn set_secret(&self, req: Request<pb::SetSecretRequest>) -> Result<Response<pb::SecretProperties>, Status> {
        let target = Scope::secret(&req.get_ref().vault, &req.get_ref().name);
        serve(&self.replica, req, target, |req, _| async move {
            let r = req.into_inner();
            check_ref(&r.vault, &r.name)?;
            validate::value_size(r.value.len(), self.replica.limits().max_value_bytes)?;
            validate::attributes(&r.tags, &r.content_type)?;
            if let Some(v) = r.expected_version.as_deref().filter(|v| !v.is_empty()) {
                validate::version(v)?;
            }
            let version = new_version()?;
            let note = Note::default().hmac(&self.replica, "value", r.value.as_bytes()).version(&version);
            let meta = SecretMeta { content_type: r.content_type, tags: r.tags };
            let (value, sealed_meta) = {
                let keys = self.replica.unsealed()?;
                let value = seal_value(&keys, &r.vault, &r.name, &version, r.value.as_bytes())?;
                (value, seal_meta(&keys, &r.vault, &r.name, &version, &meta)?)
            };
            let op = st::SetSecret {
                vault: r.vault,
                name: r.name,
                version,
                value,
                attributes: Some(st::SecretAttributes {
                    enabled: r.enabled.unwrap_or(true),
                    not_before: r.not_before,
                    expires: r.expires,
                    sealed_meta,
                }),
                expected_version: r.expected_version,
            };
            note.before_write();
            let view = self.write_secret(Kind::SetSecret(op)).await?;
            Ok(note.to(Response::new(convert::properties(&view, &meta))))
        })
        .await
    }

    async fn get_secret(&self, req: Request<pb::GetSecretRequest>) -> Result<Response<pb::Secret>, Status> {
        let target = Scope::secret(&req.get_ref().vault, &req.get_ref().name);
        serve(&self.replica, req, target, |req, _| async move {
            let r = req.into_inner();
            check_ref(&r.vault, &r.name)?;
            self.ready()?;
            let now = self.replica.clock().now();
            let view = self
                .replica
                .read(consistency(r.read.as_ref()), |kv| secrets::get(kv, &r.vault, &r.name, &r.version, now))
                .await?;
            let keys = self.replica.unsealed()?;
            let value = open_value(&keys, &view)?;
            let secret = convert::secret(&view, &open_meta(&keys, &view)?, &value)?;
            drop(keys);
            let note =
                Note::default().hmac(&self.replica, "value", secret.value.as_bytes()).version(&view.version.version);
            Ok(note.to(Response::new(secret)))
        })
        .await
    }

    async fn list_secrets(
        &self,
        req: Request<pb::ListSecretsRequest>,
    ) -> Result<Response<pb::ListSecretsResponse>, Status> {
        let target = Scope::vault(&req.get_ref().vault);
        serve(&self.replica, req, target, |req, _| async move {
            let r = req.into_inner();
            let (page, token) = self.list(&r, false).await?;
            Ok(Response::new(pb::ListSecretsResponse { secrets: self.describe(&page)?, continuation_token: token }))
        })
        .await
    }

    async fn list_secret_versions(
        &self,
        req: Request<pb::ListSecretVersionsRequest>,
    ) -> Result<Response<pb::ListSecretsResponse>, Status> {
        let target = Scope::secret(&req.get_ref().vault, &req.get_ref().name);
        serve(&self.replica, req, target, |req, _| async move {
            let r = req.into_inner();
            check_ref(&r.vault, &r.name)?;
            self.ready()?;
            let size = paging::page_size(r.max_results, self.replica.limits())?;
            let after = match paging::decode(&r.continuation_token)? {
                None => None,
                Some(s) => Some(s.parse::<u64>().map_err(|_| super::status::invalid("invalid continuation token"))?),
            };
            let views = self
                .replica
                .read(consistency(r.read.as_ref()), |kv| secrets::list_versions(kv, &r.vault, &r.name, after, size + 1))
                .await?;
            let (page, token) = paging::paginate(views, size, |v| v.version.seq.to_string());
            Ok(Response::new(pb::ListSecretsResponse { secrets: self.describe(&page)?, continuation_token: token }))
        })
        .await
    }

    async fn update_secret(
        &self,
        req: Request<pb::UpdateSecretRequest>,
    ) -> Result<Response<pb::SecretProperties>, Status> {
        let target = Scope::secret(&req.get_ref().vault, &req.get_ref().name);
        serve(&self.replica, req, target, |req, _| async move {
            let r = req.into_inner();
            check_ref(&r.vault, &r.name)?;
            if !r.version.is_empty() {
                validate::version(&r.version)?;
            }
            self.ready()?;
            // Content type and tags are sealed: read the version, patch, reseal.
            // The version id is pinned so a concurrent set cannot redirect this.
            let current = self
                .replica
                .read(Consistency::Linearizable, |kv| secrets::get_any(kv, &r.vault, &r.name, &r.version))
                .await?;
            let version = current.version.version.clone();
            let meta_changes = r.content_type.is_some() || r.replace_tags;
            let sealed_meta = if meta_changes {
                let keys = self.replica.unsealed()?;
                let mut meta = open_meta(&keys, &current)?;
                if let Some(ct) = r.content_type {
                    meta.content_type = ct;
                }
                if r.replace_tags {
                    meta.tags = r.tags;
                }
                validate::attributes(&meta.tags, &meta.content_type)?;
                Some(seal_meta(&keys, &r.vault, &r.name, &version, &meta)?)
            } else {
                None
            };
            let op = st::UpdateSecret {
                vault: r.vault,
                name: r.name,
                version,
                enabled: r.enabled,
                not_before: r.not_before,
                expires: r.expires,
                clear_not_before: r.clear_not_before,
                clear_expires: r.clear_expires,
                sealed_meta,
            };
            let view = self.write_secret(Kind::UpdateSecret(op)).await?;
            Ok(Response::new(self.one(view)?))
        })
        .await
    }

    async fn delete_secret(&self, req: Request<pb::SecretRef>) -> Result<Response<pb::DeletedSecret>, Status> {
        let target = Scope::secret(&req.get_ref().vault, &req.get_ref().name);
        serve(&self.replica, req, target, |req, _| async move {
            let r = req.into_inner();
            check_ref(&r.vault, &r.name)?;
            self.ready()?;
            let view = self.write_secret(Kind::DeleteSecret(st::DeleteSecret { vault: r.vault, name: r.name })).await?;
            Ok(Response::new(self.describe_deleted(&[view])?.remove(0)))
        })
        .await
    }

    async fn get_deleted_secret(
        &self,
        req: Request<pb::GetDeletedSecretRequest>,
    ) -> Result<Response<pb::DeletedSecret>, Status> {
        let target = Scope::secret(&req.get_ref().vault, &req.get_ref().name);
        serve(&self.replica, req, target, |req, _| async move {
            let r = req.into_inner();
            check_ref(&r.vault, &r.name)?;
            self.ready()?;
            let view = self
                .replica
                .read(consistency(r.read.as_ref()), |kv| secrets::get_deleted(kv, &r.vault, &r.name))
                .await?;
            Ok(Response::new(self.describe_deleted(&[view])?.remove(0)))
        })
        .await
    }

    async fn list_deleted_secrets(
        &self,
        req: Request<pb::ListSecretsRequest>,
    ) -> Result<Response<pb::ListDeletedSecretsResponse>, Status> {
        let target = Scope::vault(&req.get_ref().vault);
        serve(&self.replica, req, target, |req, _| async move {
            let r = req.into_inner();
            let (page, token) = self.list(&r, true).await?;
            let secrets = self.describe_deleted(&page)?;
            Ok(Response::new(pb::ListDeletedSecretsResponse { secrets, continuation_token: token }))
        })
        .await
    }

    async fn recover_deleted_secret(
        &self,
        req: Request<pb::SecretRef>,
    ) -> Result<Response<pb::SecretProperties>, Status> {
        let target = Scope::secret(&req.get_ref().vault, &req.get_ref().name);
        serve(&self.replica, req, target, |req, _| async move {
            let r = req.into_inner();
            check_ref(&r.vault, &r.name)?;
            self.ready()?;
            let view =
                self.write_secret(Kind::RecoverSecret(st::RecoverSecret { vault: r.vault, name: r.name })).await?;
            Ok(Response::new(self.one(view)?))
        })
        .await
    }

    async fn purge_deleted_secret(&self, req: Request<pb::SecretRef>) -> Result<Response<Empty>, Status> {
        let target = Scope::secret(&req.get_ref().vault, &req.get_ref().name);
        serve(&self.replica, req, target, |req, _| async move {
            let r = req.into_inner();
            check_ref(&r.vault, &r.name)?;
            self.ready()?;
            let op = st::PurgeSecret { vault: r.vault, name: r.name, scheduled: false };
            self.replica.write(Kind::PurgeSecret(op)).await?;
            Ok(Response::new(Empty {}))
        })
        .await
    }

    async fn backup_secret(
        &self,
        req: Request<pb::BackupSecretRequest>,
    ) -> Result<Response<pb::SecretBackupBlob>, Status> {
        let target = Scope::secret(&req.get_ref().vault, &req.get_ref().name);
        serve(&self.replica, req, target, |req, _| async move {
            let r = req.into_inner();
            check_ref(&r.vault, &r.name)?;
            self.ready()?;
            let backup =
                self.replica.read(consistency(r.read.as_ref()), |kv| secrets::backup(kv, &r.vault, &r.name)).await?;
            let blob = seal_backup(&self.replica.unsealed()?, &r.vault, backup)?;
            Ok(Response::new(pb::SecretBackupBlob { blob }))
        })
        .await
    }

    async fn restore_secret(
        &self,
        req: Request<pb::RestoreSecretRequest>,
    ) -> Result<Response<pb::SecretProperties>, Status> {
        let target = Scope::vault(&req.get_ref().vault);
        serve(&self.replica, req, target, |req, allowed| async move {
            validate::name("vault", &req.get_ref().vault)?;
            let opened = open_backup(&self.replica.unsealed()?, &req.get_ref().blob)
                .map_err(|_| StateError::InvalidBackup("not a backup of this cluster, or corrupt".into()))?;
            // Restoring hands the secret to whoever may read the target, so
            // the caller must also be entitled to back up its source: the
            // vault and name the blob's seal has just proven.
            let source = Scope::secret(opened.vault(), opened.name());
            allowed.at_source(&self.replica, source.clone())?;
            let r = req.into_inner();
            let backup = reseal_backup(&self.replica.unsealed()?, &r.vault, opened)?;
            let op = st::RestoreSecret { vault: r.vault, backup: Some(backup) };
            let note = Note::default().detail(format!("from {source}"));
            note.before_write();
            let view = self.write_secret(Kind::RestoreSecret(op)).await?;
            Ok(note.to(Response::new(self.one(view)?)))
        })
        .await
    }
}

impl Secrets {
    /// One page of live or deleted secrets.
    async fn list(&self, r: &pb::ListSecretsRequest, deleted: bool) -> Result<(Vec<SecretView>, String), Status> {
        validate::name("vault", &r.vault)?;
        self.ready()?;
        let size = paging::page_size(r.max_results, self.replica.limits())?;
        let after = paging::decode(&r.continuation_token)?;
        let views = self
            .replica
            .read(consistency(r.read.as_ref()), |kv| secrets::list(kv, &r.vault, after.as_deref(), size + 1, deleted))
            .await?;
        Ok(paging::paginate(views, size, |v| v.head.name.clone()))
    }
}
