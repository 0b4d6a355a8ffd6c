//! Vault operations.

use super::types::vault_service_client::VaultServiceClient;
use super::types::{self as pb};
use super::{Client, ReadConsistency, Result, Retry};

fn svc(ch: super::Transport) -> VaultServiceClient<super::Transport> {
    VaultServiceClient::new(ch)
}

impl Client {
    /// Creates a vault. `retention_days` 0 means the default (90).
    pub async fn create_vault(&self, name: &str, retention_days: u32, purge_protection: bool) -> Result<pb::Vault> {
        let req = pb::CreateVaultRequest { name: name.into(), retention_days, purge_protection };
        self.run(Retry::IfNotSent, |ch| {
            let req = req.clone();
            async move { svc(ch).create_vault(req).await.map(|r| r.into_inner()) }
        })
        .await
    }

    /// Reads a vault.
    pub async fn get_vault(&self, name: &str, consistency: ReadConsistency) -> Result<pb::Vault> {
        let req = pb::GetVaultRequest { name: name.into(), read: consistency.to_pb() };
        self.run(Retry::Idempotent, |ch| {
            let req = req.clone();
            async move { svc(ch).get_vault(req).await.map(|r| r.into_inner()) }
        })
        .await
    }

    /// One page of vaults.
    pub async fn list_vaults(
        &self,
        max_results: u32,
        continuation_token: &str,
        consistency: ReadConsistency,
    ) -> Result<pb::ListVaultsResponse> {
        let req = pb::ListVaultsRequest {
            max_results,
            continuation_token: continuation_token.into(),
            read: consistency.to_pb(),
        };
        self.run(Retry::Idempotent, |ch| {
            let req = req.clone();
            async move { svc(ch).list_vaults(req).await.map(|r| r.into_inner()) }
        })
        .await
    }

    /// Turns on purge protection (it can never be turned off).
    pub async fn update_vault(&self, name: &str, purge_protection: Option<bool>) -> Result<pb::Vault> {
        let req = pb::UpdateVaultRequest { name: name.into(), purge_protection };
        self.run(Retry::IfNotSent, |ch| {
            let req = req.clone();
            async move { svc(ch).update_vault(req).await.map(|r| r.into_inner()) }
        })
        .await
    }

    /// Deletes an empty vault.
    pub async fn delete_vault(&self, name: &str) -> Result<()> {
        let req = pb::DeleteVaultRequest { name: name.into() };
        self.run(Retry::IfNotSent, |ch| {
            let req = req.clone();
            async move { svc(ch).delete_vault(req).await.map(|_| ()) }
        })
        .await
    }
}
