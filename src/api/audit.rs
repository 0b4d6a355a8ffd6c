//! The audit service: query, tail, verify, trim. Reading the log needs
//! `audit/read`, trimming `audit/trim`; these requests are audited too.

use std::pin::Pin;
use std::time::Duration;

use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::serve::serve;
use super::status::{internal, invalid, status};
use crate::audit::{chain, AuditKeys};
use crate::error_code::ErrorCode;
use crate::proto::api::audit_service_server::AuditService;
use crate::proto::api::{self as pb, Empty};
use crate::proto::storage::{op::Kind, AuditCheckpoint, AuditRecord, TrimAudit};
use crate::rbac::Scope;
use crate::replica::{Consistency, Replica};
use crate::state::audit as stored;

/// Largest query page.
const MAX_PAGE: usize = 1000;
/// How often a tail looks for new records.
const TAIL_POLL: Duration = Duration::from_millis(200);

/// Serves the audit log of the answering node.
pub struct Audit {
    replica: Replica,
}

impl Audit {
    /// The service over `replica`.
    pub fn new(replica: Replica) -> Self {
        Audit { replica }
    }

    fn keys(&self) -> Option<AuditKeys> {
        self.replica.unsealed().ok().and_then(|u| AuditKeys::of(&u).ok())
    }
}

/// Whether `r` passes the query's filters.
fn matches(q: &pb::AuditQuery, r: &AuditRecord) -> bool {
    let eq = |want: &str, have: &str| want.is_empty() || want == have;
    let result_ok = match q.result.as_str() {
        "" => true,
        "error" => r.result != "ok",
        want => want == r.result,
    };
    (q.from_ms == 0 || r.time_ms >= q.from_ms)
        && (q.to_ms == 0 || r.time_ms <= q.to_ms)
        && eq(&q.principal, &r.principal)
        && eq(&q.vault, &r.vault)
        && eq(&q.operation, &r.operation)
        && result_ok
}

type RecordStream = Pin<Box<dyn Stream<Item = Result<AuditRecord, Status>> + Send>>;

#[tonic::async_trait]
impl AuditService for Audit {
    async fn query(&self, req: Request<pb::AuditQuery>) -> Result<Response<pb::AuditPage>, Status> {
        serve(&self.replica, req, Scope::Cluster, |req, _| async move {
            let q = req.into_inner();
            let limit = match q.limit as usize {
                0 => MAX_PAGE,
                n => n.min(MAX_PAGE),
            };
            let max_read = self.replica.limits().audit_scan_records.max(1);
            let (scan, last_seq) = self
                .replica
                .read(Consistency::Linearizable, |kv| {
                    let head = stored::head(kv)?;
                    Ok((stored::scan(kv, q.after_seq, limit, max_read, |r| matches(&q, r))?, head.last_seq))
                })
                .await?;
            // Where the next call goes on: after the last record read, even
            // when none matched; at the end, the log's end.
            let next = if scan.at_end { scan.through.max(last_seq) } else { scan.through };
            Ok(Response::new(pb::AuditPage { records: scan.records, next_after_seq: next, last_seq }))
        })
        .await
    }

    type TailStream = RecordStream;

    async fn tail(&self, req: Request<pb::AuditQuery>) -> Result<Response<RecordStream>, Status> {
        serve(&self.replica, req, Scope::Cluster, |req, _| async move {
            let q = req.into_inner();
            let reader = self.replica.reader().clone();
            let mut after = if q.from_start {
                q.after_seq
            } else {
                reader.read(stored::head).map_err(|e| internal(e.to_string()))?.last_seq.max(q.after_seq)
            };
            let (tx, rx) = tokio::sync::mpsc::channel(256);
            tokio::spawn(async move {
                loop {
                    let batch = reader.read(|kv| stored::range(kv, after, MAX_PAGE, |_| true));
                    match batch {
                        Ok(records) if !records.is_empty() => {
                            after = records[records.len() - 1].seq;
                            for r in records.into_iter().filter(|r| matches(&q, r)) {
                                if tx.send(Ok(r)).await.is_err() {
                                    return;
                                }
                            }
                            continue;
                        }
                        Ok(_) => {}
                        Err(e) => {
                            let _ = tx.send(Err(internal(e.to_string()))).await;
                            return;
                        }
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(TAIL_POLL) => {}
                        _ = tx.closed() => return,
                    }
                }
            });
            let stream: RecordStream = Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx));
            Ok(Response::new(stream))
        })
        .await
    }

    async fn verify(&self, req: Request<pb::AuditVerifyRequest>) -> Result<Response<pb::AuditVerifyResponse>, Status> {
        serve(&self.replica, req, Scope::Cluster, |req, _| async move {
            let r = req.into_inner();
            let keys = self.keys();
            let report = self
                .replica
                .reader()
                .read(|kv| chain::verify(kv, r.from_seq, r.to_seq, keys.as_ref()))
                .map_err(Status::from)?;
            let (break_seq, reason) = report.first_break.clone().unwrap_or_default();
            Ok(Response::new(pb::AuditVerifyResponse {
                ok: report.first_break.is_none(),
                from_seq: report.from,
                to_seq: report.to,
                checked: report.checked,
                break_seq,
                reason,
                checkpoint_seq: report.checkpoint.unwrap_or(0),
                checkpoint_verified: report.checkpoint.is_some() && keys.is_some(),
                node_id: self.replica.id(),
                anchored_seq: report.anchored,
                anchors_checked: report.anchors_checked,
            }))
        })
        .await
    }

    async fn trim(&self, req: Request<pb::AuditTrimRequest>) -> Result<Response<pb::AuditTrimResponse>, Status> {
        serve(&self.replica, req, Scope::Cluster, |req, _| async move {
            let r = req.into_inner();
            let floor = self.replica.audit_retention_secs();
            if r.older_than_secs < floor.max(0) || r.older_than_secs > 100 * 365 * 86_400 {
                return Err(invalid(format!(
                    "records younger than the retention of {} days ([audit] retention_days) are kept; at most 100 years",
                    floor / 86_400
                )));
            }
            let keys = self
                .keys()
                .ok_or_else(|| status(ErrorCode::Sealed, "trimming signs a checkpoint: unseal this node", None))?;
            let now_ms = crate::audit::now_ms();
            let cutoff = now_ms - r.older_than_secs * 1000;
            let batch = self.replica.limits().audit_scan_records.max(1);
            let trimmable = |rec: &AuditRecord| rec.seq <= r.exported_through_seq && rec.time_ms < cutoff;
            let mut through = 0;
            let mut trimmed = 0;
            // The trimmable prefix (exported, and older than the cutoff), at
            // most `batch` records per Raft command.
            loop {
                let (before, last) = self
                    .replica
                    .read(Consistency::Linearizable, |kv| {
                        let before = stored::head(kv)?.checkpoint.as_ref().map_or(0, |c| c.seq);
                        Ok((before, stored::trimmable_prefix(kv, before, batch, trimmable)?))
                    })
                    .await?;
                let Some(last) = last else {
                    through = through.max(before);
                    break;
                };
                let mut cp = AuditCheckpoint {
                    seq: last.seq,
                    hash: last.hash.clone(),
                    trimmed_at_ms: now_ms,
                    ..Default::default()
                };
                keys.sign(&mut cp);
                self.replica.write(Kind::TrimAudit(TrimAudit { checkpoint: Some(cp) })).await?;
                trimmed += last.seq - before;
                through = last.seq;
                if last.seq - before < batch as u64 {
                    break;
                }
            }
            Ok(Response::new(pb::AuditTrimResponse { trimmed_through_seq: through, trimmed }))
        })
        .await
    }

    async fn head(&self, req: Request<Empty>) -> Result<Response<pb::AuditHeadInfo>, Status> {
        serve(&self.replica, req, Scope::Cluster, |_, _| async move {
            let head = self.replica.read(Consistency::Linearizable, stored::head).await?;
            let checkpoint_seq = head.checkpoint.as_ref().map_or(0, |c| c.seq);
            Ok(Response::new(pb::AuditHeadInfo {
                first_seq: (checkpoint_seq + 1).min(head.last_seq.max(1)),
                last_seq: head.last_seq,
                checkpoint_seq,
                public_key: self.keys().map(|k| hex::encode(k.public_key())).unwrap_or_default(),
            }))
        })
        .await
    }

    async fn hmac(&self, req: Request<pb::AuditHmacRequest>) -> Result<Response<pb::AuditHmacResponse>, Status> {
        serve(&self.replica, req, Scope::Cluster, |req, _| async move {
            let keys = self.keys().ok_or_else(|| status(ErrorCode::Sealed, "this node is sealed", None))?;
            Ok(Response::new(pb::AuditHmacResponse { hmac: keys.hmac(req.get_ref().value.as_bytes()) }))
        })
        .await
    }
}
