//! The audit log.

use tokio_stream::Stream;

use super::types::audit_service_client::AuditServiceClient;
use super::types::{self as pb, Empty};
use super::{Client, Result, Retry};
use crate::proto::storage::AuditRecord;

fn svc(ch: super::Transport) -> AuditServiceClient<super::Transport> {
    AuditServiceClient::new(ch)
}

impl Client {
    /// Records matching `query`: `query.limit` of them (0: the server's
    /// page size; at least one) unless the log ends first. A server call
    /// reads a bounded part of the log and may return fewer, or none; this
    /// goes on from where each stopped. Continue from `next_after_seq`
    /// while it is below `last_seq`.
    pub async fn audit_query(&self, mut query: pb::AuditQuery) -> Result<pb::AuditPage> {
        let want = query.limit as usize;
        let mut out = pb::AuditPage::default();
        loop {
            let page = self.audit_query_page(query.clone()).await?;
            out.records.extend(page.records);
            out.next_after_seq = page.next_after_seq;
            out.last_seq = page.last_seq;
            let enough = if want == 0 { !out.records.is_empty() } else { out.records.len() >= want };
            if enough || page.next_after_seq >= page.last_seq || page.next_after_seq <= query.after_seq {
                return Ok(out);
            }
            query.after_seq = page.next_after_seq;
            if want > 0 {
                query.limit = (want - out.records.len()) as u32;
            }
        }
    }

    /// One server call of `audit_query`: the records matching `query` in
    /// the part of the log it read, and where to go on (`next_after_seq`).
    pub async fn audit_query_page(&self, query: pb::AuditQuery) -> Result<pb::AuditPage> {
        self.run(Retry::Idempotent, |ch| {
            let q = query.clone();
            async move { svc(ch).query(q).await.map(|r| r.into_inner()) }
        })
        .await
    }

    /// Follows the log: records matching `query` as they are committed.
    pub async fn audit_tail(
        &self,
        query: pb::AuditQuery,
    ) -> Result<impl Stream<Item = std::result::Result<AuditRecord, tonic::Status>>> {
        self.run(Retry::Idempotent, |ch| {
            let q = query.clone();
            async move { svc(ch).tail(q).await.map(|r| r.into_inner()) }
        })
        .await
    }

    /// Verifies the hash chain over `from..=to` (0 = open) on one node.
    pub async fn audit_verify(&self, from_seq: u64, to_seq: u64) -> Result<pb::AuditVerifyResponse> {
        let req = pb::AuditVerifyRequest { from_seq, to_seq };
        self.run(Retry::Idempotent, |ch| async move { svc(ch).verify(req).await.map(|r| r.into_inner()) }).await
    }

    /// Trims records exported through `exported_through_seq` and older than
    /// `older_than_secs`, leaving a signed checkpoint.
    pub async fn audit_trim(&self, exported_through_seq: u64, older_than_secs: i64) -> Result<pb::AuditTrimResponse> {
        let req = pb::AuditTrimRequest { exported_through_seq, older_than_secs };
        self.run(Retry::IfNotSent, |ch| async move { svc(ch).trim(req).await.map(|r| r.into_inner()) }).await
    }

    /// The log's extent and checkpoint.
    pub async fn audit_head(&self) -> Result<pb::AuditHeadInfo> {
        self.run(Retry::Idempotent, |ch| async move { svc(ch).head(Empty {}).await.map(|r| r.into_inner()) }).await
    }

    /// HMAC of `value` under the audit key, to look for it in records.
    pub async fn audit_hmac(&self, value: &str) -> Result<String> {
        let req = pb::AuditHmacRequest { value: value.into() };
        self.run(Retry::Idempotent, |ch| {
            let req = req.clone();
            async move { svc(ch).hmac(req).await.map(|r| r.into_inner().hmac) }
        })
        .await
    }
}
