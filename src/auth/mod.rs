//! Authentication. A request presents a token in the `authorization:
//! Bearer cof_…` metadata entry, or comes over a connection whose client
//! certificate was verified by TLS (see [`crate::tls`]). The
//! [`Authenticator`] interceptor resolves either to a [`Principal`] (a
//! token by its SHA-256, compared in constant time; a token wins over a
//! certificate). Handlers then call [`authorize`], whose [`Authorized`]
//! result is the only proof of access a handler can hold.
//!
//! A root token may do everything; every other principal may do what its
//! role assignments allow (see [`crate::rbac`]), plus look up, renew and
//! revoke its own token; a node certificate may add and promote that node
//! itself (joining).
//!
//! A node that does not know a presented token, or whose role assignments
//! do not allow the request, answers `NotLeader` with the leader's address
//! while another node leads, instead of refusing: it may not have applied
//! the token's creation or the grant yet, and the leader knows every change
//! it has acknowledged (the SDK follows the hint), so those refusals come
//! from the leader.
//!
//! Until `coffer operator init` there are no tokens: cluster formation
//! (membership changes) is open, and data requests answer `Uninitialized`.

pub mod delegation;
pub mod throttle;

pub use crate::credential::{join_token, token};

use tonic::{Request, Status};

use crate::error_code::{status, ErrorCode};
use crate::proto::storage::TokenRecord;
use crate::raft::NodeId;
use crate::rbac::Scope;
use crate::replica::Replica;
use crate::state::tokens;
use crate::tls::{CertIdentity, ConnInfo};

/// How a principal proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// A bearer token.
    Token,
    /// A client certificate verified by TLS.
    Certificate,
}

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The token's accessor (safe to log and audit); empty for certificates.
    pub accessor: String,
    /// "root" or "default" for tokens; empty for certificates.
    pub policy: String,
    /// A token's label, or the name a certificate carries.
    pub display_name: String,
    /// How it authenticated.
    pub credential: Credential,
    /// The node a node certificate names.
    pub node: Option<NodeId>,
}

impl Principal {
    fn of_certificate(identity: &CertIdentity) -> Principal {
        let (display_name, node) = match identity {
            CertIdentity::Node(id) => (format!("node {id}"), Some(*id)),
            CertIdentity::Principal(name) => (name.clone(), None),
        };
        Principal {
            accessor: String::new(),
            policy: String::new(),
            display_name,
            credential: Credential::Certificate,
            node,
        }
    }

    /// The name role assignments use: `token:<accessor>`, `cert:<name>`
    /// or `node:<id>`.
    pub fn name(&self) -> String {
        match (self.credential, self.node) {
            (Credential::Token, _) => format!("token:{}", self.accessor),
            (Credential::Certificate, Some(id)) => format!("node:{id}"),
            (Credential::Certificate, None) => format!("cert:{}", self.display_name),
        }
    }
}

/// What an operation needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// An action at a scope: a root token, or a role assignment allowing it
    /// (see [`crate::rbac`]).
    Action(&'static str, Scope),
    /// Any valid token (operations on the token itself).
    AnyToken,
    /// Any authenticated principal.
    Authenticated,
    /// Cluster formation: open until security is initialized, then the
    /// action at cluster scope.
    Formation(&'static str),
    /// Nothing: the request carries its own proof (key shares, a join
    /// token) or only reports status. The caller, if any, is named.
    Open,
    /// Adding or promoting a node: like `Formation("cluster/membership")`,
    /// and also a node certificate acting for its own node (see
    /// [`Authorized::acting_node`]).
    Membership,
}

/// Proof that a request was authorized; only [`authorize`] makes one.
#[derive(Debug)]
pub struct Authorized {
    /// The caller (`None` during the pre-init formation window).
    pub principal: Option<Principal>,
}

impl Authorized {
    /// Whether the caller holds a root token.
    pub fn is_root(&self) -> bool {
        self.principal.as_ref().is_some_and(|p| p.policy == tokens::ROOT)
    }

    /// When authorized as a node acting for itself: that node, which the
    /// handler must check is the one the request is about.
    pub fn acting_node(&self) -> Option<NodeId> {
        self.principal.as_ref().filter(|p| p.policy != tokens::ROOT).and_then(|p| p.node)
    }
}

/// Resolves the bearer token of each request (tonic interceptor), and
/// rate-limits requests without a valid credential by source address.
#[derive(Clone)]
pub struct Authenticator {
    replica: Replica,
    cache: std::sync::Arc<std::sync::Mutex<TokenCache>>,
    throttle: std::sync::Arc<throttle::Throttle>,
}

/// Token records by hash, valid for one generation of the token records.
#[derive(Default)]
struct TokenCache {
    generation: u64,
    records: std::collections::HashMap<[u8; 32], Option<TokenRecord>>,
}

/// Most token lookups kept between token changes.
const TOKEN_CACHE_MAX: usize = 10_000;

impl Authenticator {
    /// An interceptor reading tokens from `replica`'s state, limiting
    /// requests without a valid credential as `replica`'s limits say.
    pub fn new(replica: Replica) -> Self {
        let limits = replica.limits();
        let throttle = throttle::Throttle::new(limits.unauthenticated_per_second, limits.unauthenticated_burst);
        Authenticator { replica, cache: Default::default(), throttle: std::sync::Arc::new(throttle) }
    }

    /// Whether a request from `source` that presents no valid credential
    /// may go on (see [`throttle`]).
    pub fn admit_anonymous(&self, source: Option<std::net::SocketAddr>) -> bool {
        self.throttle.admit(source.map(|a| a.ip()))
    }

    /// The token record with SHA-256 `hash`, from the cache while no token
    /// has changed since it was read.
    fn lookup(&self, hash: &[u8; 32]) -> Result<Option<TokenRecord>, Status> {
        let generation = self.replica.reader().generations().tokens();
        {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if cache.generation != generation {
                cache.generation = generation;
                cache.records.clear();
            }
            if let Some(found) = cache.records.get(hash) {
                return Ok(found.clone());
            }
        }
        let record: Option<TokenRecord> = self
            .replica
            .reader()
            .read(|kv| tokens::by_hash(kv, hash))
            .map_err(|e| status(e.code(), e.to_string(), None))?;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.generation == generation {
            if cache.records.len() >= TOKEN_CACHE_MAX {
                cache.records.clear();
            }
            cache.records.insert(*hash, record.clone());
        }
        Ok(record)
    }

    fn resolve(&self, presented: &str) -> Result<Principal, Rejection> {
        let invalid = || status(ErrorCode::Unauthenticated, "invalid, expired or revoked token", None);
        if !token::looks_like_token(presented) {
            return Err(invalid().into());
        }
        let hash = crate::crypto::sha256(presented.as_bytes());
        let record = self.lookup(&hash)?.ok_or_else(|| Rejection { status: invalid(), unknown_token: true })?;
        // The lookup was by hash; compare again in constant time anyway.
        if !crate::crypto::constant_time_eq(&record.hash, &hash) {
            return Err(invalid().into());
        }
        if record.expires != 0 && self.replica.clock().now() >= record.expires {
            return Err(invalid().into());
        }
        Ok(Principal {
            accessor: record.accessor,
            policy: record.policy,
            display_name: record.display_name,
            credential: Credential::Token,
            node: None,
        })
    }
}

impl Authenticator {
    fn principal_of(&self, req: &Request<()>) -> Result<Option<Principal>, Rejection> {
        let header = match req.metadata().get("authorization") {
            None => {
                let identity = req.extensions().get::<ConnInfo>().and_then(|c| c.identity.clone());
                return Ok(identity.as_ref().map(Principal::of_certificate));
            }
            Some(v) => v.to_str().map_err(|_| status(ErrorCode::Unauthenticated, "malformed authorization", None))?,
        };
        let presented = header
            .strip_prefix("Bearer ")
            .ok_or_else(|| status(ErrorCode::Unauthenticated, "expected `authorization: Bearer <token>`", None))?;
        self.resolve(presented.trim()).map(Some)
    }
}

impl Authenticator {
    /// Who a request's credentials name, for a request no service's
    /// interceptor saw (one for a service that does not exist): `None` when
    /// it presents no credential or a refused one.
    pub fn caller_of(
        &self,
        authorization: Option<&http::HeaderValue>,
        identity: Option<&CertIdentity>,
    ) -> Option<String> {
        let mut headers = http::HeaderMap::new();
        if let Some(value) = authorization {
            headers.insert(http::header::AUTHORIZATION, value.clone());
        }
        let mut extensions = tonic::Extensions::new();
        extensions.insert(ConnInfo { remote: None, identity: identity.cloned() });
        let req = Request::from_parts(tonic::metadata::MetadataMap::from_headers(headers), extensions, ());
        self.principal_of(&req).ok().flatten().map(|p| p.name())
    }
}

/// Why a credential was refused.
struct Rejection {
    status: Status,
    /// A well-formed token this node's state does not hold: the leader may
    /// have made it moments ago (see [`authorize`]).
    unknown_token: bool,
}

impl From<Status> for Rejection {
    fn from(status: Status) -> Self {
        Rejection { status, unknown_token: false }
    }
}

/// A credential that was presented but refused: kept for [`authorize`], so
/// the request still reaches its handler and is audited.
#[derive(Debug, Clone)]
struct Refused {
    code: ErrorCode,
    message: String,
    unknown_token: bool,
}

impl tonic::service::Interceptor for Authenticator {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        let found = self.principal_of(&req);
        if !matches!(found, Ok(Some(_))) {
            let source = req.extensions().get::<ConnInfo>().and_then(|c| c.remote);
            if !self.admit_anonymous(source) {
                if let Some(reach) = req.extensions().get::<crate::audit::reach::Reach>() {
                    reach.throttled();
                }
                return Err(status(ErrorCode::RateLimited, "too many requests without a valid credential", None));
            }
        }
        match found {
            Ok(Some(principal)) => {
                if let Some(reach) = req.extensions().get::<crate::audit::reach::Reach>() {
                    reach.authenticated(principal.name());
                }
                req.extensions_mut().insert(principal);
            }
            Ok(None) => {}
            Err(Rejection { status: s, unknown_token }) => {
                let code = s
                    .metadata()
                    .get(crate::error_code::CODE_KEY)
                    .and_then(|c| c.to_str().ok()?.parse().ok())
                    .unwrap_or(ErrorCode::Unauthenticated);
                req.extensions_mut().insert(Refused { code, message: s.message().to_owned(), unknown_token });
            }
        }
        Ok(req)
    }
}

/// Checks that the request may do something that needs `need`.
pub fn authorize<T>(req: &Request<T>, replica: &Replica, need: Need) -> Result<Authorized, Status> {
    if let Some(refused) = req.extensions().get::<Refused>() {
        // A follower applies the leader's writes a moment after they are
        // acknowledged: a token it does not know may be one the leader has
        // just made, so the client is sent to the leader, which knows every
        // token it has acknowledged (and refuses an unknown one itself).
        let unknown = || ask_leader(replica, "this node does not know the token (yet): ask the leader");
        return Err(refused
            .unknown_token
            .then(unknown)
            .flatten()
            .unwrap_or_else(|| status(refused.code, refused.message.clone(), None)));
    }
    check(req.extensions().get::<Principal>().cloned(), replica, need)
}

/// Checks that `principal` (`None`: unauthenticated) may do what `need` says.
pub fn check(principal: Option<Principal>, replica: &Replica, need: Need) -> Result<Authorized, Status> {
    if need == Need::Open {
        return Ok(Authorized { principal });
    }
    if principal.is_none() {
        let initialized = replica.security_record().map_err(Status::from)?.is_some();
        match need {
            _ if initialized => {}
            Need::Formation(_) | Need::Membership => return Ok(Authorized { principal: None }),
            Need::Action(..) | Need::AnyToken | Need::Authenticated | Need::Open => {
                return Err(crate::barrier::BarrierError::Uninitialized.into());
            }
        }
    }
    let principal = principal.ok_or_else(|| {
        status(
            ErrorCode::Unauthenticated,
            "this request needs a credential: a token (COFFER_TOKEN or coffer login) or a client certificate",
            None,
        )
    })?;
    let (action, scope) = match need {
        Need::Authenticated | Need::Open => return Ok(Authorized { principal: Some(principal) }),
        Need::AnyToken if principal.credential == Credential::Token => {
            return Ok(Authorized { principal: Some(principal) })
        }
        Need::AnyToken => return Err(forbidden(&principal, "this needs a token credential")),
        Need::Membership if principal.node.is_some() => return Ok(Authorized { principal: Some(principal) }),
        Need::Membership => ("cluster/membership", Scope::Cluster),
        Need::Formation(action) => (action, Scope::Cluster),
        Need::Action(action, scope) => (action, scope),
    };
    if principal.policy == tokens::ROOT {
        return Ok(Authorized { principal: Some(principal) });
    }
    let name = principal.name();
    let allowed = replica.reader().read(|kv| crate::rbac::allowed(kv, &name, action, &scope)).map_err(Status::from)?;
    if !allowed {
        // Like an unknown token (see `authorize`): this node may not have
        // applied a grant the leader has made, so the leader decides.
        return Err(ask_leader(replica, "this node's role assignments may trail the leader's: ask the leader")
            .unwrap_or_else(|| forbidden(&principal, &format!("may not {action} at {scope}"))));
    }
    Ok(Authorized { principal: Some(principal) })
}

/// `NotLeader` with the leader's address when another node leads: the
/// leader decides what this node may not have applied yet.
fn ask_leader(replica: &Replica, why: &str) -> Option<Status> {
    replica.other_leader().map(|leader| status(ErrorCode::NotLeader, why, Some(&leader)))
}

fn forbidden(principal: &Principal, what: &str) -> Status {
    status(ErrorCode::Forbidden, format!("{} {what}", principal.name()), None)
}
