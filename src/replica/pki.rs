//! The cluster CA inside the cluster: `operator init` seals the CA that the
//! first node created into the replicated state (under the active data
//! key), and from then on any unsealed node issues node certificates to
//! nodes that present a join token, consumed through Raft first, and to
//! itself when its own certificate nears its end.

use zeroize::Zeroizing;

use super::error::{ReplicaError, Result};
use super::{Consistency, Replica};
use crate::barrier::{aad, Keyring};
use crate::credential::join_token;
use crate::proto::storage::op::Kind;
use crate::proto::storage::{AuditRecord, ClusterCa, ConsumeJoinToken, CreateJoinToken};
use crate::state::{join_tokens, StateError};
use crate::tls::pki::{self, CertInfo, KeyPem};
use crate::tls::TlsError;

/// Longest join token lifetime: a day.
pub const MAX_JOIN_TOKEN_TTL: i64 = 24 * 3600;

/// What a joining node asks for.
pub struct Admission {
    /// Its join token (`cjt_…`).
    pub join_token: Zeroizing<String>,
    /// Its node id.
    pub node_id: u64,
    /// Hosts its certificate must name (of its client and peer addresses).
    pub hosts: Vec<String>,
    /// Its public key (DER SubjectPublicKeyInfo); the private key stays with it.
    pub public_key: Vec<u8>,
}

/// A new join token.
pub struct JoinToken {
    /// The token (`cjt_…`), shown once.
    pub token: Zeroizing<String>,
    /// Unix seconds.
    pub expires: i64,
}

impl Replica {
    /// The cluster CA to hand to `operator init`: the one this node created
    /// when it bootstrapped the cluster, sealed under the new keyring's
    /// active data key. `None` when certificates are the operator's.
    pub(super) fn cluster_ca_for_init(&self, keyring: &Keyring) -> Result<Option<ClusterCa>> {
        let Some(ca) = self.tls().pending_ca()? else { return Ok(None) };
        let (term, key) = keyring.active();
        let sealed_key = crate::crypto::aead::seal(key, term, aad::CLUSTER_CA_KEY, ca.key.as_str().as_bytes())
            .map_err(crate::barrier::BarrierError::from)?;
        Ok(Some(ClusterCa { cert_pem: ca.cert_pem, sealed_key }))
    }

    /// Creates a single-use join token valid for `ttl` seconds.
    pub async fn create_join_token(&self, ttl: i64) -> Result<JoinToken> {
        if !(1..=MAX_JOIN_TOKEN_TTL).contains(&ttl) {
            return Err(ReplicaError::InvalidArgument(format!("ttl must be 1..={MAX_JOIN_TOKEN_TTL} seconds")));
        }
        let ca = self.reader().read(join_tokens::cluster_ca)?.ok_or(StateError::NoClusterCa)?;
        let fingerprint = crate::tls::fingerprint_of_pem(&ca.cert_pem)?;
        let mut fp = [0u8; 32];
        hex::decode_to_slice(&fingerprint, &mut fp).map_err(|_| StateError::Corrupt("cluster CA".into()))?;
        let (token, record) =
            join_token::generate(&fp, self.clock().now(), ttl).map_err(crate::barrier::BarrierError::from)?;
        let expires = record.expires;
        self.write(Kind::CreateJoinToken(CreateJoinToken { token: Some(record) })).await?;
        Ok(JoinToken { token, expires })
    }

    /// Admits a joining node: uses up its join token (through Raft, so it
    /// admits once) and issues its node certificate. Returns the
    /// certificate and the cluster CA certificate, PEM.
    pub async fn admit(&self, req: &Admission) -> Result<(String, String)> {
        let parsed = join_token::parse(&req.join_token).ok_or(StateError::InvalidJoinToken("malformed"))?;
        // Unknown tokens are refused here (a linearizable read: followers
        // send the caller to the leader), so guessing costs no Raft entry;
        // the consume below decides for known ones.
        let known = self.read(Consistency::Linearizable, |kv| join_tokens::get(kv, &parsed.hash)).await?;
        if known.is_none() {
            return Err(StateError::InvalidJoinToken("unknown").into());
        }
        let ca = self.open_cluster_ca()?;
        self.check_admission(req)?;
        self.write(Kind::ConsumeJoinToken(ConsumeJoinToken { hash: parsed.hash.to_vec(), node_id: req.node_id }))
            .await?;
        // The token is the operator's consent: a node removed before may rejoin.
        self.mark_removed(req.node_id, false).await?;
        let cert = ca.issue_node_for(req.node_id, &req.hosts, &req.public_key, self.tls().node_cert_ttl())?;
        tracing::info!(node_id = req.node_id, "issued a node certificate for a join token");
        Ok((cert, ca.cert_pem().to_owned()))
    }

    /// Refuses, before the token is spent, what a join token must not buy:
    /// the identity of a current member, another member's host name (on
    /// loopback every node shares the address, so that is allowed), a name
    /// in the node namespace, or a key that does not parse.
    fn check_admission(&self, req: &Admission) -> Result<()> {
        if req.node_id == 0 || self.member(req.node_id).is_some() {
            return Err(ReplicaError::InvalidArgument(format!(
                "node id {} is reserved or a member; remove the member first",
                req.node_id
            )));
        }
        crate::tls::pki::check_node_request(&req.hosts, &req.public_key)?;
        let metrics = self.raft().metrics().borrow().clone();
        let taken: Vec<String> = metrics
            .membership_config
            .membership()
            .nodes()
            .flat_map(|(_, n)| [pki::host_of(&n.api_addr).to_owned(), pki::host_of(&n.raft_addr).to_owned()])
            .collect();
        let loopback = |h: &str| h == "localhost" || h.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
        if let Some(h) = req.hosts.iter().find(|h| !loopback(h) && taken.contains(h)) {
            return Err(ReplicaError::InvalidArgument(format!("host {h} belongs to a member")));
        }
        Ok(())
    }

    /// Issues a client certificate naming `principal` for a public key.
    /// Returns the certificate and the cluster CA certificate, PEM.
    pub fn issue_client_certificate(
        &self,
        principal: &str,
        valid_for: std::time::Duration,
        public_key: &[u8],
    ) -> Result<(String, String)> {
        let ca = self.open_cluster_ca()?;
        let cert = ca.issue_client_for(principal, valid_for, public_key)?;
        tracing::info!(principal, "issued a client certificate");
        Ok((cert, ca.cert_pem().to_owned()))
    }

    /// Renews this node's own certificate when it manages its certificates:
    /// a new key, and a certificate from the cluster CA for the same node
    /// and hosts, valid for `[tls] node_cert_ttl_secs`. The renewal is
    /// audited (as `NodeCertificateRenew` by `node:<id>`) before the new
    /// certificate is used: new connections present it, open ones keep the
    /// old one. Needs this node unsealed and the cluster initialized.
    pub async fn renew_node_certificate(&self) -> Result<CertInfo> {
        let ca = self.open_cluster_ca()?;
        let hosts = crate::tls::managed::hosts(&self.info().api_addr, &self.info().raft_addr);
        let issued = ca.issue_node(self.id(), &hosts, self.tls().node_cert_ttl())?;
        let der = crate::tls::material::certs(&issued.cert_pem, std::path::Path::new("renewed certificate"))?;
        let renewed =
            CertInfo::of(&der[0]).ok_or_else(|| TlsError::Pki("the renewed certificate does not parse".into()))?;
        if self.audit_enabled() && self.in_cluster() {
            let record = AuditRecord {
                principal: format!("node:{}", self.id()),
                object: format!("nodes/{}", self.id()),
                result: "ok".into(),
                detail: format!("serial {} valid until {}", renewed.serial, renewed.not_after),
                ..crate::audit::new_record(self.id(), "NodeCertificateRenew", None)
            };
            self.append_audit(record).await?;
        }
        self.tls().store_node_cert(&issued.cert_pem, &issued.key, ca.cert_pem())?;
        tracing::info!(serial = %renewed.serial, not_after = renewed.not_after, "renewed this node's certificate");
        Ok(renewed)
    }

    /// The cluster CA, able to sign (needs this node unsealed).
    fn open_cluster_ca(&self) -> Result<pki::Ca> {
        let record = self.reader().read(join_tokens::cluster_ca)?.ok_or(StateError::NoClusterCa)?;
        let key = self.unsealed()?.decrypt(aad::CLUSTER_CA_KEY, &record.sealed_key)?;
        let key =
            KeyPem::new(String::from_utf8(key.to_vec()).map_err(|_| StateError::Corrupt("cluster CA key".into()))?);
        Ok(pki::Ca::new(&record.cert_pem, &key)?)
    }
}
