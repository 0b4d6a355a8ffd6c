//! Token management.

use zeroize::Zeroizing;

use super::types::token_service_client::TokenServiceClient;
use super::types::{self as pb, Empty};
use super::{Client, Result, Retry};

fn svc(ch: super::Transport) -> TokenServiceClient<super::Transport> {
    TokenServiceClient::new(ch)
}

impl Client {
    /// Creates a token (needs a root token). The token is returned once.
    pub async fn create_token(
        &self,
        policy: &str,
        display_name: &str,
        ttl_secs: i64,
        renewable: bool,
    ) -> Result<(Zeroizing<String>, pb::TokenInfo)> {
        let req = pb::CreateTokenRequest {
            policy: policy.into(),
            display_name: display_name.into(),
            ttl: ttl_secs,
            renewable,
            roles: Vec::new(),
        };
        self.create_token_with(req).await
    }

    /// Creates a default token holding `roles` (role, scope) — its only
    /// rights. Needs `tokens/create`, and `assignments/write` at each scope.
    pub async fn create_token_with_roles(
        &self,
        display_name: &str,
        ttl_secs: i64,
        renewable: bool,
        roles: &[(&str, &str)],
    ) -> Result<(Zeroizing<String>, pb::TokenInfo)> {
        let roles = roles.iter().map(|(r, s)| pb::RoleAtScope { role: (*r).into(), scope: (*s).into() }).collect();
        let req = pb::CreateTokenRequest {
            policy: String::new(),
            display_name: display_name.into(),
            ttl: ttl_secs,
            renewable,
            roles,
        };
        self.create_token_with(req).await
    }

    async fn create_token_with(&self, req: pb::CreateTokenRequest) -> Result<(Zeroizing<String>, pb::TokenInfo)> {
        let created = self
            .run(Retry::IfNotSent, |ch| {
                let req = req.clone();
                async move { svc(ch).create_token(req).await.map(|r| r.into_inner()) }
            })
            .await?;
        Ok((Zeroizing::new(created.token), created.info.unwrap_or_default()))
    }

    /// The calling token's information.
    pub async fn lookup_self(&self) -> Result<pb::TokenInfo> {
        self.run(Retry::Idempotent, |ch| async move { svc(ch).lookup_self(Empty {}).await.map(|r| r.into_inner()) })
            .await
    }

    /// Extends the calling token's lifetime.
    pub async fn renew_self(&self) -> Result<pb::TokenInfo> {
        self.run(Retry::IfNotSent, |ch| async move { svc(ch).renew_self(Empty {}).await.map(|r| r.into_inner()) }).await
    }

    /// Revokes the calling token.
    pub async fn revoke_self(&self) -> Result<()> {
        self.run(Retry::IfNotSent, |ch| async move { svc(ch).revoke_self(Empty {}).await.map(|_| ()) }).await
    }

    /// Every token's information (needs a root token).
    pub async fn list_tokens(&self) -> Result<Vec<pb::TokenInfo>> {
        self.run(
            Retry::Idempotent,
            |ch| async move { svc(ch).list_tokens(Empty {}).await.map(|r| r.into_inner().tokens) },
        )
        .await
    }

    /// Revokes the token with `accessor` (needs a root token).
    pub async fn revoke_accessor(&self, accessor: &str) -> Result<()> {
        let req = pb::AccessorRequest { accessor: accessor.into() };
        self.run(Retry::IfNotSent, |ch| {
            let req = req.clone();
            async move { svc(ch).revoke_accessor(req).await.map(|_| ()) }
        })
        .await
    }
}

impl Client {
    /// Who this client authenticates as (its token or client certificate).
    pub async fn who_am_i(&self) -> Result<pb::Identity> {
        self.run(Retry::Idempotent, |ch| async move { svc(ch).who_am_i(Empty {}).await.map(|r| r.into_inner()) }).await
    }
}
