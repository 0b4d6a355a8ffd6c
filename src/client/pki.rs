//! Join tokens and certificates.

use zeroize::Zeroizing;

use super::types::pki_service_client::PkiServiceClient;
use super::types::{self as pb};
use super::{Client, Result, Retry};

fn svc(ch: super::Transport) -> PkiServiceClient<super::Transport> {
    PkiServiceClient::new(ch)
}

/// A certificate issued by the cluster CA.
#[derive(Debug, Clone)]
pub struct IssuedCertificate {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The cluster CA certificate, PEM.
    pub ca_pem: String,
}

impl From<pb::IssuedCertificate> for IssuedCertificate {
    fn from(c: pb::IssuedCertificate) -> Self {
        IssuedCertificate { cert_pem: c.cert_pem, ca_pem: c.ca_pem }
    }
}

impl Client {
    /// Creates a single-use join token valid for `ttl_secs` (needs a root
    /// token). Returns the token (shown once) and its expiry (Unix seconds).
    pub async fn create_join_token(&self, ttl_secs: i64) -> Result<(Zeroizing<String>, i64)> {
        let req = pb::CreateJoinTokenRequest { ttl: ttl_secs };
        let created = self
            .run(Retry::IfNotSent, |ch| async move { svc(ch).create_join_token(req).await.map(|r| r.into_inner()) })
            .await?;
        Ok((Zeroizing::new(created.token.clone()), created.expires))
    }

    /// Presents a join token and this node's public key (DER
    /// SubjectPublicKeyInfo); receives the node certificate.
    pub async fn join(
        &self,
        join_token: &str,
        node_id: u64,
        api_addr: &str,
        raft_addr: &str,
        public_key: &[u8],
    ) -> Result<IssuedCertificate> {
        let req = pb::JoinRequest {
            join_token: join_token.into(),
            node_id,
            api_addr: api_addr.into(),
            raft_addr: raft_addr.into(),
            public_key: public_key.to_vec(),
        };
        self.run(Retry::IfNotSent, |ch| {
            let req = req.clone();
            async move { svc(ch).join(req).await.map(|r| r.into_inner().into()) }
        })
        .await
    }

    /// Has the cluster CA issue a client certificate naming `principal` for
    /// a public key (needs a root token). `ttl_secs` 0 means a year.
    pub async fn issue_client_certificate(
        &self,
        principal: &str,
        public_key: &[u8],
        ttl_secs: i64,
    ) -> Result<IssuedCertificate> {
        let req = pb::IssueClientCertificateRequest {
            principal: principal.into(),
            public_key: public_key.to_vec(),
            ttl: ttl_secs,
        };
        self.run(Retry::IfNotSent, |ch| {
            let req = req.clone();
            async move { svc(ch).issue_client_certificate(req).await.map(|r| r.into_inner().into()) }
        })
        .await
    }
}
