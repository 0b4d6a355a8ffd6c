//! Operator actions. Seal, unseal and status address one node (each node
//! holds its own keys); init and rotate go to the cluster.

use zeroize::Zeroizing;

use super::types::operator_service_client::OperatorServiceClient;
use super::types::{self as pb, Empty};
use super::{Client, Result, Retry};

/// What `operator init` returns, once.
pub struct InitResult {
    /// The root key's Shamir shares.
    pub shares: Vec<Zeroizing<String>>,
    /// The initial root token.
    pub root_token: Zeroizing<String>,
}

fn svc(ch: super::Transport) -> OperatorServiceClient<super::Transport> {
    OperatorServiceClient::new(ch)
}

impl Client {
    /// Initializes the cluster's keyring; returns the root key's shares and
    /// the initial root token (shown once: keep them safe and apart).
    pub async fn operator_init(&self, key_shares: u32, key_threshold: u32) -> Result<InitResult> {
        let req = pb::InitRequest { key_shares, key_threshold };
        let resp =
            self.run(Retry::IfNotSent, |ch| async move { svc(ch).init(req).await.map(|r| r.into_inner()) }).await?;
        Ok(InitResult {
            shares: resp.key_shares.into_iter().map(Zeroizing::new).collect(),
            root_token: Zeroizing::new(resp.root_token),
        })
    }

    /// Submits one key share to the node at `addr`.
    pub async fn unseal(&self, addr: &str, key_share: &str) -> Result<pb::SealStatus> {
        let req = pb::UnsealRequest { key_share: key_share.into(), reset: false };
        Ok(svc(self.channel(addr)?).unseal(req).await?.into_inner())
    }

    /// Discards the shares submitted so far to the node at `addr`.
    pub async fn unseal_reset(&self, addr: &str) -> Result<pb::SealStatus> {
        let req = pb::UnsealRequest { key_share: String::new(), reset: true };
        Ok(svc(self.channel(addr)?).unseal(req).await?.into_inner())
    }

    /// Seals the node at `addr`.
    pub async fn seal(&self, addr: &str) -> Result<pb::SealStatus> {
        Ok(svc(self.channel(addr)?).seal(Empty {}).await?.into_inner())
    }

    /// The seal status of the node at `addr`.
    pub async fn seal_status(&self, addr: &str) -> Result<pb::SealStatus> {
        Ok(svc(self.channel(addr)?).status(Empty {}).await?.into_inner())
    }

    /// Replaces the root key and its shares; `current` must hold a threshold
    /// of the current shares. Returns the new shares (once).
    pub async fn rekey(
        &self,
        current: Vec<String>,
        key_shares: u32,
        key_threshold: u32,
    ) -> Result<Vec<Zeroizing<String>>> {
        let req = pb::RekeyRequest { current_shares: current, key_shares, key_threshold };
        let resp = self
            .run(Retry::IfNotSent, |ch| {
                let req = req.clone();
                async move { svc(ch).rekey(req).await.map(|r| r.into_inner()) }
            })
            .await?;
        Ok(resp.key_shares.into_iter().map(Zeroizing::new).collect())
    }

    /// Rotates the data key.
    pub async fn rotate(&self) -> Result<pb::SealStatus> {
        self.run(Retry::IfNotSent, |ch| async move { svc(ch).rotate(Empty {}).await.map(|r| r.into_inner()) }).await
    }

    /// Re-encrypts one batch of objects under old terms; says what it did
    /// and what remains, in all and by kind. Call until `remaining` is 0.
    pub async fn rewrap(&self) -> Result<pb::RewrapResponse> {
        self.run(Retry::IfNotSent, |ch| async move { svc(ch).rewrap(Empty {}).await.map(|r| r.into_inner()) }).await
    }
}
