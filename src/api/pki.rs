//! The certificate service: join tokens, node certificates for joining
//! nodes, client certificates.

use std::time::Duration;

use tonic::{Request, Response, Status};

use super::audited::Note;
use super::serve::{serve, Allowed};
use zeroize::Zeroizing;

use super::status::invalid;
use crate::auth::delegation::{self, may_hand_out};
use crate::proto::api::pki_service_server::PkiService;
use crate::proto::api::{self as pb};
use crate::rbac::Scope;
use crate::replica::pki::Admission;
use crate::replica::{Consistency, Replica};
use crate::tls::pki::CERT_VALIDITY;

/// Longest client certificate lifetime: a year.
const MAX_CLIENT_CERT_TTL: i64 = CERT_VALIDITY.as_secs() as i64;

/// Serves join tokens and certificates.
pub struct Pki {
    replica: Replica,
}

impl Pki {
    /// The service over `replica`.
    pub fn new(replica: Replica) -> Self {
        Pki { replica }
    }
}

#[tonic::async_trait]
impl PkiService for Pki {
    async fn create_join_token(
        &self,
        req: Request<pb::CreateJoinTokenRequest>,
    ) -> Result<Response<pb::CreatedJoinToken>, Status> {
        let target = Scope::Cluster;
        serve(&self.replica, req, target, |req, _| async move {
            let created = self.replica.create_join_token(req.into_inner().ttl).await?;
            Ok(Response::new(pb::CreatedJoinToken { token: created.token.to_string(), expires: created.expires }))
        })
        .await
    }

    async fn join(&self, req: Request<pb::JoinRequest>) -> Result<Response<pb::IssuedCertificate>, Status> {
        let target = Scope::Cluster;
        serve(&self.replica, req, target, |req, _| async move {
            // The join token in the body is the credential.
            let r = req.into_inner();
            if r.node_id == 0 || r.public_key.is_empty() || r.api_addr.is_empty() || r.raft_addr.is_empty() {
                return Err(invalid("node_id, api_addr, raft_addr and public_key are required"));
            }
            let admission = Admission {
                join_token: Zeroizing::new(r.join_token),
                node_id: r.node_id,
                hosts: crate::tls::managed::hosts(&r.api_addr, &r.raft_addr),
                public_key: r.public_key,
            };
            let note = Note::default()
                .hmac(&self.replica, "join_token", admission.join_token.as_bytes())
                .detail(format!("node:{}", admission.node_id));
            note.before_write();
            let (cert_pem, ca_pem) = self.replica.admit(&admission).await?;
            Ok(note.to(Response::new(pb::IssuedCertificate { cert_pem, ca_pem })))
        })
        .await
    }

    async fn issue_client_certificate(
        &self,
        req: Request<pb::IssueClientCertificateRequest>,
    ) -> Result<Response<pb::IssuedCertificate>, Status> {
        let target = Scope::Cluster;
        serve(&self.replica, req, target, |req, Allowed { auth, .. }| async move {
            let r = req.into_inner();
            // A certificate for a name hands out what that name holds.
            let holder = format!("cert:{}", r.principal);
            crate::rbac::check_principal(&holder).map_err(invalid)?;
            let grants = self.replica.read(Consistency::Linearizable, |kv| delegation::held_by(kv, &holder)).await?;
            may_hand_out(&self.replica, &auth, &grants).await?;
            let ttl = if r.ttl == 0 { MAX_CLIENT_CERT_TTL } else { r.ttl };
            if !(1..=MAX_CLIENT_CERT_TTL).contains(&ttl) {
                return Err(invalid(format!("ttl must be 1..={MAX_CLIENT_CERT_TTL} seconds")));
            }
            let (cert_pem, ca_pem) =
                self.replica.issue_client_certificate(&r.principal, Duration::from_secs(ttl as u64), &r.public_key)?;
            let note = Note::default().detail(format!("cert:{}", r.principal));
            Ok(note.to(Response::new(pb::IssuedCertificate { cert_pem, ca_pem })))
        })
        .await
    }
}
