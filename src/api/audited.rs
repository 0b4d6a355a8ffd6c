//! Auditing every request: `audited` wraps a handler (through
//! [`super::serve`]), and returns its result only after the request's audit
//! record is committed through Raft (fail closed). The record names the
//! operation's row and the request's target; on success the handler may
//! add a [`Note`] (version, HMACs of sensitive values, details).

use std::future::Future;
use std::time::Instant;

use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status};

use super::operations::{Effect, Operation};
use super::status::{status, CODE_KEY};
use crate::auth::Principal;
use crate::error_code::ErrorCode;
use crate::proto::storage::{AuditHmac, AuditRecord};
use crate::rbac::Scope;
use crate::replica::{Replica, ReplicaError};
use crate::tls::ConnInfo;

/// Metadata key of the request id returned to the client.
pub const REQUEST_ID_KEY: &str = "x-request-id";
/// Metadata key of a correlation id the client may send.
pub const CORRELATION_ID_KEY: &str = "x-correlation-id";

/// What a successful handler adds to its audit record.
#[derive(Debug, Clone, Default)]
pub struct Note {
    version: String,
    hmacs: Vec<AuditHmac>,
    detail: String,
}

impl Note {
    /// The object version the request read or wrote.
    pub fn version(mut self, version: &str) -> Note {
        self.version = version.into();
        self
    }

    /// The HMAC of a sensitive `value` under the audit key (when this node
    /// holds the keys), for correlation without the value.
    pub fn hmac(mut self, replica: &Replica, field: &str, value: &[u8]) -> Note {
        if !replica.audit_enabled() {
            return self;
        }
        if let Some(hmac) = replica.unsealed().ok().and_then(|u| crate::audit::hmac(&u, value).ok()) {
            self.hmacs.push(AuditHmac { field: field.into(), hmac });
        }
        self
    }

    /// Non-sensitive particulars.
    pub fn detail(mut self, detail: impl Into<String>) -> Note {
        self.detail = detail.into();
        self
    }

    /// Hands the note to the request's audit record before its write, so
    /// a record carried by the write has it (see `audit::context`).
    pub fn before_write(&self) {
        crate::audit::context::annotate(&self.version, &self.hmacs, &self.detail);
    }

    /// Attaches this note to a response.
    pub fn to<T>(self, mut response: Response<T>) -> Response<T> {
        response.extensions_mut().insert(self);
        response
    }
}

/// Runs `handler` for `req` as `op` on `target` and audits it (through
/// [`super::serve`], which also authorizes it).
pub(super) async fn audited<Req, Resp, F, Fut>(
    replica: &Replica,
    req: Request<Req>,
    op: &'static Operation,
    target: Scope,
    handler: F,
) -> Result<Response<Resp>, Status>
where
    F: FnOnce(Request<Req>) -> Fut,
    Fut: Future<Output = Result<Response<Resp>, Status>>,
{
    if let Some(reach) = req.extensions().get::<crate::audit::reach::Reach>() {
        reach.audited();
    }
    let started = Instant::now();
    let principal = req.extensions().get::<Principal>().map(Principal::name).unwrap_or_default();
    let source = req.extensions().get::<ConnInfo>().and_then(|c| c.remote).map(|a| a.to_string()).unwrap_or_default();
    let (vault, object) = recorded_target(target);
    let sent = req.metadata().get(CORRELATION_ID_KEY).and_then(|v| v.to_str().ok());
    let template =
        AuditRecord { principal, source, vault, object, ..crate::audit::new_record(replica.id(), op.name, sent) };
    let request_id = template.request_id.clone();
    let context = crate::audit::context::Context::new(template, started, op.effect == Effect::Read);
    let mut result = context.scope(handler(req)).await;

    // A node outside any cluster (before bootstrap or join) has no log; a
    // request whose write carried its record is recorded already.
    if replica.audit_enabled() && replica.in_cluster() && !context.recorded() {
        let (code, note) = match &mut result {
            Ok(resp) => ("ok".to_owned(), resp.extensions_mut().remove::<Note>().unwrap_or_default()),
            Err(s) => (error_code(s), Note::default()),
        };
        let mut record = context.take_record();
        record.result = code;
        record.duration_us = started.elapsed().as_micros() as u64;
        if !note.version.is_empty() {
            record.version = note.version;
        }
        for h in note.hmacs {
            if !record.hmacs.iter().any(|o| o.field == h.field) {
                record.hmacs.push(h);
            }
        }
        if !note.detail.is_empty() {
            record.detail = bounded(note.detail, MAX_DETAIL);
        }
        if record.principal.is_empty() && record.result != "ok" {
            record = refusal_of_anonymous(record);
        }
        match replica.append_audit(record).await {
            Ok(by) => context.committed(by),
            // Health checks still answer in an outage (when they matter
            // most); their record is best effort.
            Err(e) if op.effect == Effect::Health => {
                tracing::warn!(operation = op.name, error = %e, "audit record of a health check not committed");
            }
            Err(e) => {
                tracing::error!(operation = op.name, error = %e, "audit record not committed; the result is withheld");
                result = Err(status(
                    ErrorCode::AuditFailed,
                    format!("the audit record could not be committed ({}); the result is withheld", e.code()),
                    None,
                ));
            }
        }
    }
    // Reads that skipped their leadership check on the strength of the
    // record's commit (see `audit::context::defer_read`) are answered only
    // if that commit was made by the leadership they read under.
    if context.unvouched() {
        result = Err(ReplicaError::Unavailable("leadership changed during the read; retry".into()).into());
    }
    if let Ok(id) = MetadataValue::try_from(request_id.as_str()) {
        match &mut result {
            Ok(resp) => resp.metadata_mut().insert(REQUEST_ID_KEY, id),
            Err(s) => s.metadata_mut().insert(REQUEST_ID_KEY, id),
        };
    }
    result
}

/// Longest `detail` a record keeps (handlers write short ones; this bounds
/// any that quotes what a caller sent).
const MAX_DETAIL: usize = 512;

/// The record's vault and object for `target`. The target comes from the
/// request before any check: a name that is not a valid name is recorded
/// only as such, never copied.
fn recorded_target(target: Scope) -> (String, String) {
    const INVALID: &str = "(invalid name)";
    let name = |n: String| if crate::state::validate::name("name", &n).is_ok() { n } else { INVALID.to_owned() };
    match target {
        Scope::Cluster => (String::new(), String::new()),
        Scope::Vault(v) => (name(v), String::new()),
        Scope::Object(v, kind, n) => (name(v), format!("{kind}/{}", name(n))),
    }
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn bounded(mut text: String, max: usize) -> String {
    if text.len() > max {
        let cut = (0..=max).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        text.truncate(cut);
    }
    text
}

/// The small, fixed-size record of a refused request with no valid
/// credential: what, when, from where, and the answer; nothing the caller
/// chose beyond the operation it called and its correlation id (at most
/// 128 bytes, see `audit::new_record`).
fn refusal_of_anonymous(record: AuditRecord) -> AuditRecord {
    AuditRecord {
        time_ms: record.time_ms,
        operation: record.operation,
        node_id: record.node_id,
        correlation_id: record.correlation_id,
        request_id: record.request_id,
        source: record.source,
        result: record.result,
        duration_us: record.duration_us,
        ..Default::default()
    }
}

/// The stable code of an error status (tonic's own when not ours).
fn error_code(s: &Status) -> String {
    s.metadata().get(CODE_KEY).and_then(|v| v.to_str().ok()).map_or_else(|| format!("{:?}", s.code()), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_is_recorded_only_with_valid_names() {
        let huge = "v".repeat(1 << 20);
        assert_eq!(recorded_target(Scope::secret("payments", "db")), ("payments".into(), "secrets/db".into()));
        let (vault, object) = recorded_target(Scope::secret(&huge, "a/b"));
        assert_eq!((vault.as_str(), object.as_str()), ("(invalid name)", "secrets/(invalid name)"));
        assert_eq!(recorded_target(Scope::Vault(String::new())).0, "(invalid name)");
    }

    #[test]
    fn details_are_bounded_on_a_character_boundary() {
        assert_eq!(bounded("short".into(), 512), "short");
        let cut = bounded("é".repeat(400), 512);
        assert_eq!(cut.len(), 512);
        assert_eq!(bounded("aé".into(), 2), "a");
    }

    #[test]
    fn an_anonymous_refusal_keeps_nothing_the_caller_chose() {
        let record = AuditRecord {
            vault: "v".repeat(127),
            object: "secrets/x".into(),
            detail: "d".repeat(512),
            correlation_id: "c".repeat(128),
            result: "Unauthenticated".into(),
            source: "127.0.0.1:5".into(),
            ..crate::audit::new_record(1, "SecretGet", None)
        };
        let small = refusal_of_anonymous(record.clone());
        assert!(small.vault.is_empty() && small.object.is_empty() && small.detail.is_empty());
        assert_eq!(small.correlation_id, record.correlation_id);
        assert_eq!((small.operation.as_str(), small.result.as_str()), ("SecretGet", "Unauthenticated"));
        assert_eq!(small.source, record.source);
    }
}
