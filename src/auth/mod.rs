//! Authentication. A request presents a token in the `authorization:
//! Bearer cof_…` metadata entry; the [`Authenticator`] interceptor resolves
//! it to a [`Principal`] (by the token's SHA-256, compared in constant
//! time). Handlers then call [`authorize`], whose [`Authorized`] result is
//! the only proof of access a handler can hold.
//!
//! Until `coffer operator init` there are no tokens: cluster formation
//! (membership changes) is open, and data requests answer `Uninitialized`.

pub mod token;

use tonic::{Request, Status};

use crate::api::status::status;
use crate::error_code::ErrorCode;
use crate::proto::storage::TokenRecord;
use crate::replica::Replica;
use crate::state::tokens;

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The token's accessor (safe to log and audit).
    pub accessor: String,
    /// "root" or "default".
    pub policy: String,
    /// A label given at creation.
    pub display_name: String,
}

/// What an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Full access: a root token.
    Root,
    /// Any valid token (operations on the token itself).
    AnyToken,
    /// Cluster formation: open until security is initialized, root after.
    Admin,
}

/// Proof that a request was authorized; only [`authorize`] makes one.
#[derive(Debug)]
pub struct Authorized {
    /// The caller (`None` during the pre-init formation window).
    pub principal: Option<Principal>,
}

/// Resolves the bearer token of each request (tonic interceptor).
#[derive(Clone)]
pub struct Authenticator {
    replica: Replica,
}

impl Authenticator {
    /// An interceptor reading tokens from `replica`'s state.
    pub fn new(replica: Replica) -> Self {
        Authenticator { replica }
    }

    fn resolve(&self, presented: &str) -> Result<Principal, Status> {
        let invalid = || status(ErrorCode::Unauthenticated, "invalid, expired or revoked token", None);
        if !token::looks_like_token(presented) {
            return Err(invalid());
        }
        let hash = crate::crypto::sha256(presented.as_bytes());
        let record: Option<TokenRecord> = self
            .replica
            .reader()
            .read(|kv| tokens::by_hash(kv, &hash))
            .map_err(|e| status(e.code(), e.to_string(), None))?;
        let record = record.ok_or_else(invalid)?;
        // The lookup was by hash; compare again in constant time anyway.
        if !crate::crypto::constant_time_eq(&record.hash, &hash) {
            return Err(invalid());
        }
        if record.expires != 0 && self.replica.clock().now() >= record.expires {
            return Err(invalid());
        }
        Ok(Principal { accessor: record.accessor, policy: record.policy, display_name: record.display_name })
    }
}

impl tonic::service::Interceptor for Authenticator {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        let header = match req.metadata().get("authorization") {
            None => return Ok(req),
            Some(v) => v.to_str().map_err(|_| status(ErrorCode::Unauthenticated, "malformed authorization", None))?,
        };
        let presented = header
            .strip_prefix("Bearer ")
            .ok_or_else(|| status(ErrorCode::Unauthenticated, "expected `authorization: Bearer <token>`", None))?;
        let principal = self.resolve(presented.trim())?;
        req.extensions_mut().insert(principal);
        Ok(req)
    }
}

/// Checks that the request may do something that needs `need`.
pub fn authorize<T>(req: &Request<T>, replica: &Replica, need: Need) -> Result<Authorized, Status> {
    let principal = req.extensions().get::<Principal>().cloned();
    if principal.is_none() {
        let initialized = replica.security_record().map_err(Status::from)?.is_some();
        match need {
            _ if initialized => {}
            Need::Admin => return Ok(Authorized { principal: None }),
            Need::Root | Need::AnyToken => {
                return Err(crate::barrier::BarrierError::Uninitialized.into());
            }
        }
    }
    let principal = principal.ok_or_else(|| {
        status(ErrorCode::Unauthenticated, "this request needs a token (COFFER_TOKEN or coffer login)", None)
    })?;
    match need {
        Need::AnyToken => {}
        Need::Root | Need::Admin if principal.policy == tokens::ROOT => {}
        Need::Root | Need::Admin => {
            return Err(status(
                ErrorCode::Forbidden,
                format!("token '{}' may not do this", principal.display_name),
                None,
            ))
        }
    }
    Ok(Authorized { principal: Some(principal) })
}
