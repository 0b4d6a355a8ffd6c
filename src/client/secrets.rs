//! Secret operations.

use std::collections::HashMap;

use super::types::secret_service_client::SecretServiceClient;
use super::types::{self as pb};
use super::{Client, ReadConsistency, Result, Retry};

/// A secret to write. Build with [`SetSecret::new`] and the `with_*` methods.
#[derive(Clone)]
pub struct SetSecret(pb::SetSecretRequest);

impl std::fmt::Debug for SetSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl SetSecret {
    /// A new version of `vault/name` holding `value`.
    pub fn new(vault: &str, name: &str, value: impl Into<String>) -> Self {
        SetSecret(pb::SetSecretRequest {
            vault: vault.into(),
            name: name.into(),
            value: value.into(),
            ..Default::default()
        })
    }

    /// Sets the content type.
    pub fn with_content_type(mut self, ct: impl Into<String>) -> Self {
        self.0.content_type = ct.into();
        self
    }

    /// Sets the tags.
    pub fn with_tags(mut self, tags: HashMap<String, String>) -> Self {
        self.0.tags = tags;
        self
    }

    /// Creates the version enabled or disabled (default enabled).
    pub fn with_enabled(mut self, enabled: bool) -> Self {
        self.0.enabled = Some(enabled);
        self
    }

    /// Sets not-before and expiry, unix seconds.
    pub fn with_validity(mut self, not_before: Option<i64>, expires: Option<i64>) -> Self {
        self.0.not_before = not_before;
        self.0.expires = expires;
        self
    }

    /// Writes only if the latest version is `version` (`""`: only if the
    /// secret does not exist yet).
    pub fn if_latest_is(mut self, version: impl Into<String>) -> Self {
        self.0.expected_version = Some(version.into());
        self
    }
}

fn svc(ch: super::Transport) -> SecretServiceClient<super::Transport> {
    SecretServiceClient::new(ch)
}

fn secret_ref(vault: &str, name: &str) -> pb::SecretRef {
    pb::SecretRef { vault: vault.into(), name: name.into() }
}

impl Client {
    /// Writes a new version; returns its properties (with the new version id).
    pub async fn set_secret(&self, req: SetSecret) -> Result<pb::SecretProperties> {
        self.run(Retry::IfNotSent, |ch| {
            let req = req.0.clone();
            async move { svc(ch).set_secret(req).await.map(|r| r.into_inner()) }
        })
        .await
    }

    /// Reads a version (`None`: the latest) with its value.
    pub async fn get_secret(
        &self,
        vault: &str,
        name: &str,
        version: Option<&str>,
        consistency: ReadConsistency,
    ) -> Result<pb::Secret> {
        let req = pb::GetSecretRequest {
            vault: vault.into(),
            name: name.into(),
            version: version.unwrap_or_default().into(),
            read: consistency.to_pb(),
        };
        self.run(Retry::Idempotent, |ch| {
            let req = req.clone();
            async move { svc(ch).get_secret(req).await.map(|r| r.into_inner()) }
        })
        .await
    }

    /// One page of a vault's secrets (properties of their latest versions).
    pub async fn list_secrets(
        &self,
        vault: &str,
        max_results: u32,
        continuation_token: &str,
        consistency: ReadConsistency,
    ) -> Result<pb::ListSecretsResponse> {
        let req = pb::ListSecretsRequest {
            vault: vault.into(),
            max_results,
            continuation_token: continuation_token.into(),
            read: consistency.to_pb(),
        };
        self.run(Retry::Idempotent, |ch| {
            let req = req.clone();
            async move { svc(ch).list_secrets(req).await.map(|r| r.into_inner()) }
        })
        .await
    }

    /// One page of a secret's versions, oldest first.
    pub async fn list_secret_versions(
        &self,
        vault: &str,
        name: &str,
        max_results: u32,
        continuation_token: &str,
        consistency: ReadConsistency,
    ) -> Result<pb::ListSecretsResponse> {
        let req = pb::ListSecretVersionsRequest {
            vault: vault.into(),
            name: name.into(),
            max_results,
            continuation_token: continuation_token.into(),
            read: consistency.to_pb(),
        };
        self.run(Retry::Idempotent, |ch| {
            let req = req.clone();
            async move { svc(ch).list_secret_versions(req).await.map(|r| r.into_inner()) }
        })
        .await
    }

    /// Updates a version's attributes (`version` empty: the latest).
    pub async fn update_secret(&self, req: pb::UpdateSecretRequest) -> Result<pb::SecretProperties> {
        self.run(Retry::IfNotSent, |ch| {
            let req = req.clone();
            async move { svc(ch).update_secret(req).await.map(|r| r.into_inner()) }
        })
        .await
    }

    /// Soft-deletes a secret.
    pub async fn delete_secret(&self, vault: &str, name: &str) -> Result<pb::DeletedSecret> {
        let req = secret_ref(vault, name);
        self.run(Retry::IfNotSent, |ch| {
            let req = req.clone();
            async move { svc(ch).delete_secret(req).await.map(|r| r.into_inner()) }
        })
        .await
    }

    /// Reads a soft-deleted secret.
    pub async fn get_deleted_secret(
        &self,
        vault: &str,
        name: &str,
        consistency: ReadConsistency,
    ) -> Result<pb::DeletedSecret> {
        let req = pb::GetDeletedSecretRequest { vault: vault.into(), name: name.into(), read: consistency.to_pb() };
        self.run(Retry::Idempotent, |ch| {
            let req = req.clone();
            async move { svc(ch).get_deleted_secret(req).await.map(|r| r.into_inner()) }
        })
        .await
    }

    /// One page of a vault's soft-deleted secrets.
    pub async fn list_deleted_secrets(
        &self,
        vault: &str,
        max_results: u32,
        continuation_token: &str,
        consistency: ReadConsistency,
    ) -> Result<pb::ListDeletedSecretsResponse> {
        let req = pb::ListSecretsRequest {
            vault: vault.into(),
            max_results,
            continuation_token: continuation_token.into(),
            read: consistency.to_pb(),
        };
        self.run(Retry::Idempotent, |ch| {
            let req = req.clone();
            async move { svc(ch).list_deleted_secrets(req).await.map(|r| r.into_inner()) }
        })
        .await
    }

    /// Recovers a soft-deleted secret.
    pub async fn recover_deleted_secret(&self, vault: &str, name: &str) -> Result<pb::SecretProperties> {
        let req = secret_ref(vault, name);
        self.run(Retry::IfNotSent, |ch| {
            let req = req.clone();
            async move { svc(ch).recover_deleted_secret(req).await.map(|r| r.into_inner()) }
        })
        .await
    }

    /// Permanently removes a soft-deleted secret.
    pub async fn purge_deleted_secret(&self, vault: &str, name: &str) -> Result<()> {
        let req = secret_ref(vault, name);
        self.run(Retry::IfNotSent, |ch| {
            let req = req.clone();
            async move { svc(ch).purge_deleted_secret(req).await.map(|_| ()) }
        })
        .await
    }

    /// An opaque backup of a secret with all its versions.
    pub async fn backup_secret(&self, vault: &str, name: &str) -> Result<Vec<u8>> {
        let req = pb::BackupSecretRequest { vault: vault.into(), name: name.into(), read: None };
        self.run(Retry::Idempotent, |ch| {
            let req = req.clone();
            async move { svc(ch).backup_secret(req).await.map(|r| r.into_inner().blob) }
        })
        .await
    }

    /// Restores a backup into `vault`.
    pub async fn restore_secret(&self, vault: &str, blob: Vec<u8>) -> Result<pb::SecretProperties> {
        let req = pb::RestoreSecretRequest { vault: vault.into(), blob };
        self.run(Retry::IfNotSent, |ch| {
            let req = req.clone();
            async move { svc(ch).restore_secret(req).await.map(|r| r.into_inner()) }
        })
        .await
    }
}
