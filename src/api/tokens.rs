//! The token service.

use tonic::{Request, Response, Status};

use super::audited::Note;
use super::serve::{serve, Allowed};

use super::status::{internal, unexpected};
use crate::api::status::status;
use crate::auth::delegation::{may_hand_out, Grant};
use crate::auth::{token, Authorized, Credential};
use crate::error_code::ErrorCode;
use crate::proto::api::token_service_server::TokenService;
use crate::proto::api::{self as pb, Empty};
use crate::proto::storage::{self as st, op::Kind, CreateToken, RenewToken, RevokeToken, TokenRecord};
use crate::rbac::Scope;
use crate::replica::{Consistency, Replica};
use crate::state::{tokens, OpOutput};

/// Serves token management.
pub struct Tokens {
    replica: Replica,
}

fn info(t: TokenRecord) -> pb::TokenInfo {
    pb::TokenInfo {
        accessor: t.accessor,
        policy: t.policy,
        display_name: t.display_name,
        created: t.created,
        expires: t.expires,
        ttl: t.ttl,
        renewable: t.renewable,
    }
}

impl Tokens {
    /// The service over `replica`.
    pub fn new(replica: Replica) -> Self {
        Tokens { replica }
    }

    /// The caller's own token record.
    async fn own(&self, auth: &Authorized) -> Result<TokenRecord, Status> {
        let accessor = auth.principal.as_ref().map(|p| p.accessor.clone()).unwrap_or_default();
        let record = self.replica.read(Consistency::Linearizable, |kv| tokens::by_accessor(kv, &accessor)).await?;
        record.ok_or_else(|| {
            crate::api::status::status(crate::error_code::ErrorCode::Unauthenticated, "token revoked", None)
        })
    }
}

#[tonic::async_trait]
impl TokenService for Tokens {
    async fn create_token(&self, req: Request<pb::CreateTokenRequest>) -> Result<Response<pb::CreatedToken>, Status> {
        let target = Scope::Cluster;
        serve(&self.replica, req, target, |req, Allowed { auth, .. }| async move {
            let r = req.into_inner();
            let policy = if r.policy.is_empty() { tokens::DEFAULT.to_owned() } else { r.policy };
            if ![tokens::ROOT, tokens::DEFAULT].contains(&policy.as_str()) {
                return Err(crate::api::status::invalid("policy must be root or default"));
            }
            let caller = auth.principal.as_ref();
            if policy == tokens::ROOT && caller.is_some_and(|p| p.policy != tokens::ROOT) {
                return Err(status(ErrorCode::Forbidden, "only a root token may create root tokens", None));
            }
            // Giving the new token roles is assigning roles: the same rule.
            let grants = r
                .roles
                .iter()
                .map(|g| Ok(Grant::new(g.role.clone(), Scope::parse(&g.scope).map_err(crate::api::status::invalid)?)))
                .collect::<Result<Vec<_>, Status>>()?;
            may_hand_out(&self.replica, &auth, &grants).await?;
            if r.ttl < 0 {
                return Err(crate::api::status::invalid("ttl must not be negative"));
            }
            let (secret, record) =
                token::generate(&policy, &r.display_name, self.replica.clock().now(), r.ttl, r.renewable)
                    .map_err(|e| internal(e.to_string()))?;
            let principal = tokens::principal(&record);
            let mut assignments = Vec::new();
            for Grant { role, scope } in grants {
                assignments.push(st::RoleAssignment {
                    id: crate::crypto::random_id().map_err(|e| internal(e.to_string()))?,
                    principal: principal.clone(),
                    role,
                    scope: scope.to_string(),
                    created: 0,
                });
            }
            let note = Note::default().detail(format!("created {principal}"));
            note.before_write();
            let op = CreateToken { token: Some(record), assignments };
            let created = match self.replica.write(Kind::CreateToken(op)).await? {
                OpOutput::Token(t) => t,
                other => return Err(unexpected(other)),
            };
            Ok(note
                .to(Response::new(pb::CreatedToken { token: secret.as_str().to_owned(), info: Some(info(created)) })))
        })
        .await
    }

    async fn lookup_self(&self, req: Request<Empty>) -> Result<Response<pb::TokenInfo>, Status> {
        let target = Scope::Cluster;
        serve(&self.replica, req, target, |_, Allowed { auth, .. }| async move {
            Ok(Response::new(info(self.own(&auth).await?)))
        })
        .await
    }

    async fn renew_self(&self, req: Request<Empty>) -> Result<Response<pb::TokenInfo>, Status> {
        let target = Scope::Cluster;
        serve(&self.replica, req, target, |_, Allowed { auth, .. }| async move {
            let own = self.own(&auth).await?;
            let expires = if own.ttl > 0 { self.replica.clock().now().saturating_add(own.ttl) } else { 0 };
            let renewed =
                match self.replica.write(Kind::RenewToken(RenewToken { accessor: own.accessor, expires })).await? {
                    OpOutput::Token(t) => t,
                    other => return Err(unexpected(other)),
                };
            Ok(Response::new(info(renewed)))
        })
        .await
    }

    async fn revoke_self(&self, req: Request<Empty>) -> Result<Response<Empty>, Status> {
        let target = Scope::Cluster;
        serve(&self.replica, req, target, |_, Allowed { auth, .. }| async move {
            let accessor = self.own(&auth).await?.accessor;
            self.replica.write(Kind::RevokeToken(RevokeToken { accessor })).await?;
            Ok(Response::new(Empty {}))
        })
        .await
    }

    async fn list_tokens(&self, req: Request<Empty>) -> Result<Response<pb::TokenList>, Status> {
        let target = Scope::Cluster;
        serve(&self.replica, req, target, |_, _| async move {
            let all = self.replica.read(Consistency::Linearizable, tokens::list).await?;
            Ok(Response::new(pb::TokenList { tokens: all.into_iter().map(info).collect() }))
        })
        .await
    }

    async fn revoke_accessor(&self, req: Request<pb::AccessorRequest>) -> Result<Response<Empty>, Status> {
        let target = Scope::Cluster;
        serve(&self.replica, req, target, |req, _| async move {
            let accessor = req.into_inner().accessor;
            self.replica.write(Kind::RevokeToken(RevokeToken { accessor })).await?;
            Ok(Response::new(Empty {}))
        })
        .await
    }

    async fn who_am_i(&self, req: Request<Empty>) -> Result<Response<pb::Identity>, Status> {
        let target = Scope::Cluster;
        serve(&self.replica, req, target, |_, Allowed { auth, .. }| async move {
            let p = auth.principal.ok_or_else(|| internal("authorized without a principal"))?;
            let credential = match p.credential {
                Credential::Token => "token",
                Credential::Certificate => "certificate",
            };
            Ok(Response::new(pb::Identity {
                principal: p.name(),
                credential: credential.into(),
                accessor: p.accessor,
                policy: p.policy,
            }))
        })
        .await
    }
}
