//! Auditing the requests no handler reached: a body that does not decode
//! (malformed, or over the size limit), a method that does not exist. The
//! outermost layer of the client API puts a [`Reach`] in every request;
//! `audited` marks it when a handler takes the request, and the
//! authenticating interceptor records the caller in it (for a service that
//! does not exist, where no interceptor runs, the credentials are read
//! here). A request that comes back as an error without a handler's mark
//! gets its record here,
//! under its gRPC method's name (its body, never decoded, names no vault or
//! object). The answer is an error already, so it is not withheld if its
//! record cannot be committed.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{HeaderValue, Request, Response};

use super::audited::{CORRELATION_ID_KEY, REQUEST_ID_KEY};
use crate::audit::reach::Reach;
use crate::auth::Authenticator;
use crate::proto::storage::AuditRecord;
use crate::replica::Replica;
use crate::tls::{CertIdentity, ConnInfo};

/// The record's `detail` for a request no handler reached.
const DETAIL: &str = "refused before a handler: the request did not decode or names no method";

/// The layer (see the module docs).
#[derive(Clone)]
pub struct AuditUnhandledLayer {
    /// Where records go.
    pub replica: Replica,
    /// The services' authenticator: it names the caller of a service that
    /// does not exist, and rate-limits such a caller without a credential.
    pub auth: Authenticator,
}

impl<S> tower::Layer<S> for AuditUnhandledLayer {
    type Service = AuditUnhandled<S>;

    fn layer(&self, inner: S) -> AuditUnhandled<S> {
        AuditUnhandled { inner, replica: self.replica.clone(), auth: self.auth.clone() }
    }
}

/// See [`AuditUnhandledLayer`].
#[derive(Clone)]
pub struct AuditUnhandled<S> {
    inner: S,
    replica: Replica,
    auth: Authenticator,
}

/// What the record needs from the request, taken before it moves on
/// (cheap clones: most requests never need them).
struct Seen {
    started: Instant,
    time_ms: i64,
    uri: http::Uri,
    remote: Option<SocketAddr>,
    correlation_id: Option<HeaderValue>,
    /// For a service that does not exist (no interceptor will see it).
    credentials: Option<Box<Credentials>>,
    reach: Reach,
}

/// A request's credentials, authenticated here only if it names a service
/// that does not exist.
struct Credentials {
    authorization: Option<HeaderValue>,
    identity: Option<CertIdentity>,
}

impl<S, B, R> tower::Service<Request<B>> for AuditUnhandled<S>
where
    S: tower::Service<Request<B>, Response = Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    R: Send + 'static,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<R>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let reach = Reach::default();
        req.extensions_mut().insert(reach.clone());
        if let Some(op) = super::operations::find(req.uri().path()) {
            req.extensions_mut().insert(op);
        }
        let conn = req.extensions().get::<ConnInfo>();
        let service = req.uri().path().trim_start_matches('/').rsplit_once('/').map_or("", |(s, _)| s);
        let credentials = (!super::SERVICES.contains(&service)).then(|| {
            Box::new(Credentials {
                authorization: req.headers().get(http::header::AUTHORIZATION).cloned(),
                identity: conn.and_then(|c| c.identity.clone()),
            })
        });
        let seen = Seen {
            started: Instant::now(),
            time_ms: crate::audit::now_ms(),
            uri: req.uri().clone(),
            remote: conn.and_then(|c| c.remote),
            correlation_id: req.headers().get(CORRELATION_ID_KEY).cloned(),
            credentials,
            reach,
        };
        // The clone that was made ready is the one to call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let (replica, auth) = (self.replica.clone(), self.auth.clone());
        Box::pin(async move {
            let mut resp = inner.call(req).await?;
            if let Some(code) = refused(&resp).filter(|_| !seen.reach.accounted_for()) {
                record(&replica, &auth, seen, code, &mut resp).await;
            }
            Ok(resp)
        })
    }
}

/// The gRPC status code of an answer that is an error from its headers
/// (as every error raised before a handler is), by name.
fn refused<R>(resp: &Response<R>) -> Option<String> {
    let code = resp.headers().get("grpc-status")?.to_str().ok()?.parse::<i32>().ok()?;
    let code = tonic::Code::from_i32(code);
    (code != tonic::Code::Ok).then(|| format!("{code:?}"))
}

async fn record<R>(replica: &Replica, auth: &Authenticator, seen: Seen, code: String, resp: &mut Response<R>) {
    if !replica.audit_enabled() || !replica.in_cluster() {
        return;
    }
    // No interceptor ran for a service that does not exist.
    let principal = match (&seen.credentials, seen.reach.principal()) {
        (Some(c), "") => auth.caller_of(c.authorization.as_ref(), c.identity.as_ref()).unwrap_or_default(),
        (_, known) => known.to_owned(),
    };
    if principal.is_empty() && seen.credentials.is_some() && !auth.admit_anonymous(seen.remote) {
        return;
    }
    let sent = seen.correlation_id.as_ref().and_then(|v| v.to_str().ok());
    let record = AuditRecord {
        time_ms: seen.time_ms,
        principal,
        source: seen.remote.map(|a| a.to_string()).unwrap_or_default(),
        result: code,
        duration_us: seen.started.elapsed().as_micros() as u64,
        detail: DETAIL.into(),
        ..crate::audit::new_record(replica.id(), operation(seen.uri.path()), sent)
    };
    if let Ok(id) = HeaderValue::from_str(&record.request_id) {
        resp.headers_mut().insert(REQUEST_ID_KEY, id);
    }
    if let Err(e) = replica.append_audit(record).await {
        tracing::warn!(error = %e, "audit record of a request refused before its handler not committed");
    }
}

/// Longest method path a record names; a longer one, or one with other
/// characters than a gRPC method's, is recorded as [`UNKNOWN_METHOD`].
const MAX_METHOD: usize = 128;
/// The operation of a request whose path is no plausible gRPC method.
const UNKNOWN_METHOD: &str = "(malformed method path)";

/// The record's operation for a request to `path`: the gRPC method it
/// names (`package.Service/Method`), bounded in size and alphabet.
fn operation(path: &str) -> &str {
    let method = path.trim_start_matches('/');
    let plausible = |b: u8| b.is_ascii_alphanumeric() || b"._/".contains(&b);
    if method.is_empty() || method.len() > MAX_METHOD || !method.bytes().all(plausible) {
        UNKNOWN_METHOD
    } else {
        method
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_method_path_is_recorded_only_bounded_and_plausible() {
        assert_eq!(operation("/coffer.v1.SecretService/GetSecret"), "coffer.v1.SecretService/GetSecret");
        assert_eq!(operation("/x.Nope/Nothing"), "x.Nope/Nothing");
        let long = format!("/a.B/{}", "c".repeat(200));
        for bad in [long.as_str(), "/", "/a.B/%00", "/a b/c", "/a.B/ü"] {
            assert_eq!(operation(bad), UNKNOWN_METHOD, "{bad:?}");
        }
    }
}
