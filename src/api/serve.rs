//! The one entry point of every handler: [`serve`] (or [`serve_scoped`])
//! finds the request's row in [`super::operations`], audits the request
//! under its name and authorizes it as the row says, then runs the handler
//! with the proof. Handlers name neither their operation nor their action.

use std::future::Future;

use tonic::{Request, Response, Status};

use super::audited::audited;
use super::operations::{Access, Operation};
use super::status::internal;
use crate::auth::{authorize, check, Authorized, Need, Principal};
use crate::rbac::Scope;
use crate::replica::Replica;

/// What a handler of a row whose access [`serve`] decides holds: the proof,
/// and for [`Access::ActionAndSource`] the check at the source.
pub struct Allowed {
    /// The caller, authorized.
    pub auth: Authorized,
    op: &'static Operation,
}

impl Allowed {
    /// Checks the row's second action at `source` (see
    /// [`Access::ActionAndSource`]).
    pub fn at_source(&self, replica: &Replica, source: Scope) -> Result<(), Status> {
        let Access::ActionAndSource(_, action) = self.op.access else {
            return Err(internal(format!("{} has no source action", self.op.name)));
        };
        check(self.auth.principal.clone(), replica, Need::Action(action, source)).map(drop)
    }
}

/// What a handler of an [`Access::ActionAt`] row holds until it has found
/// the scope: [`Pending::check`] is the only way to the proof.
pub struct Pending {
    principal: Option<Principal>,
    action: &'static str,
}

impl Pending {
    /// Authorizes the row's action at `scope`.
    pub fn check(&self, replica: &Replica, scope: Scope) -> Result<Authorized, Status> {
        check(self.principal.clone(), replica, Need::Action(self.action, scope))
    }
}

/// Serves `req` as its row says, at `target` (the scope its record names
/// and its action is authorized at), with `handler`.
pub async fn serve<Req, Resp, F, Fut>(
    replica: &Replica,
    req: Request<Req>,
    target: Scope,
    handler: F,
) -> Result<Response<Resp>, Status>
where
    F: FnOnce(Request<Req>, Allowed) -> Fut,
    Fut: Future<Output = Result<Response<Resp>, Status>>,
{
    let op = row(&req)?;
    audited(replica, req, op, target.clone(), |req| async move {
        let need = match op.access {
            Access::Action(a) | Access::ActionAndSource(a, _) => Need::Action(a, target),
            Access::OwnToken => Need::AnyToken,
            Access::Authenticated => Need::Authenticated,
            Access::Formation(a) => Need::Formation(a),
            Access::Membership => Need::Membership,
            Access::Open => Need::Open,
            Access::ActionAt(_) => return Err(internal(format!("{} is served by serve_scoped", op.name))),
        };
        // An open operation takes no credential, so a refused one is no
        // reason to refuse it.
        let auth = match need {
            Need::Open => check(req.extensions().get::<Principal>().cloned(), replica, need)?,
            need => authorize(&req, replica, need)?,
        };
        handler(req, Allowed { auth, op }).await
    })
    .await
}

/// Serves `req` of an [`Access::ActionAt`] row: the handler finds the scope
/// and calls [`Pending::check`].
pub async fn serve_scoped<Req, Resp, F, Fut>(
    replica: &Replica,
    req: Request<Req>,
    target: Scope,
    handler: F,
) -> Result<Response<Resp>, Status>
where
    F: FnOnce(Request<Req>, Pending) -> Fut,
    Fut: Future<Output = Result<Response<Resp>, Status>>,
{
    let op = row(&req)?;
    audited(replica, req, op, target, |req| async move {
        let Access::ActionAt(action) = op.access else {
            return Err(internal(format!("{} is served by serve", op.name)));
        };
        // A refused credential is refused here, as `authorize` would.
        authorize(&req, replica, Need::Authenticated)?;
        let principal = req.extensions().get::<Principal>().cloned();
        handler(req, Pending { principal, action }).await
    })
    .await
}

/// The request's row, found by the API's outermost layer from its path.
fn row<T>(req: &Request<T>) -> Result<&'static Operation, Status> {
    req.extensions().get::<&'static Operation>().copied().ok_or_else(|| internal("no operation row for this method"))
}
