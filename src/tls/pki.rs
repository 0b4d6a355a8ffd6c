//! The cluster CA and the certificates it issues. All keys are ECDSA P-256
//! (aws-lc-rs, through rcgen); certificates are PEM.
//!
//! - A **node certificate** names its node as the DNS name
//!   `node-<id>.nodes.coffer` (see [`node_dns_name`]) plus the hosts its
//!   addresses use, and is valid for both server and client authentication:
//!   peers present it to each other, and clients check it by host.
//! - A **client certificate** names a principal in its common name.

use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SerialNumber, SubjectPublicKeyInfo,
};
use x509_parser::prelude::FromDer;
use zeroize::Zeroizing;

use super::TlsError;

/// The DNS name suffix that marks a node identity in a certificate.
pub const NODE_NAME_SUFFIX: &str = ".nodes.coffer";

/// How long the cluster CA is valid.
pub const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// How long node and client certificates are valid by default.
pub const CERT_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
/// Certificates are valid from a little before their issue, for clock skew.
const BACKDATE: Duration = Duration::from_secs(300);

/// The DNS name that identifies node `id` in its certificate.
pub fn node_dns_name(id: u64) -> String {
    format!("node-{id}{NODE_NAME_SUFFIX}")
}

/// A private key in PKCS#8 PEM, wiped on drop and never printed.
#[derive(Clone)]
pub struct KeyPem(Zeroizing<String>);

impl KeyPem {
    /// Wraps a PEM-encoded private key.
    pub fn new(pem: String) -> Self {
        KeyPem(Zeroizing::new(pem))
    }

    /// The PEM text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn key_pair(&self) -> Result<KeyPair, TlsError> {
        KeyPair::from_pem(&self.0).map_err(|e| TlsError::InvalidKey(e.to_string()))
    }
}

impl std::fmt::Debug for KeyPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyPem(REDACTED)")
    }
}

/// A certificate with its private key.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// Its private key.
    pub key: KeyPem,
}

/// Creates a new cluster CA (self-signed).
pub fn new_ca(common_name: &str) -> Result<Issued, TlsError> {
    let key = KeyPair::generate().map_err(pki)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = dn(common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    validity(&mut params, CA_VALIDITY)?;
    let cert = params.self_signed(&key).map_err(pki)?;
    Ok(Issued { cert_pem: cert.pem(), key: KeyPem::new(key.serialize_pem()) })
}

/// A CA able to sign: its certificate and key.
pub struct Ca {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    /// Loads a CA from its PEM certificate and key.
    pub fn new(cert_pem: &str, key: &KeyPem) -> Result<Ca, TlsError> {
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key.key_pair()?)
            .map_err(|e| TlsError::InvalidCertificate(format!("CA certificate: {e}")))?;
        Ok(Ca { cert_pem: cert_pem.to_owned(), issuer })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Issues a node certificate valid for `valid_for`, with a new key.
    pub fn issue_node(&self, id: u64, hosts: &[String], valid_for: Duration) -> Result<Issued, TlsError> {
        let key = KeyPair::generate().map_err(pki)?;
        let cert_pem = self.sign(&node_params(id, hosts, valid_for)?, &key)?;
        Ok(Issued { cert_pem, key: KeyPem::new(key.serialize_pem()) })
    }

    /// Issues a node certificate valid for `valid_for` for a public key
    /// (DER SubjectPublicKeyInfo) whose private key stays with the node.
    pub fn issue_node_for(
        &self,
        id: u64,
        hosts: &[String],
        public_key_der: &[u8],
        valid_for: Duration,
    ) -> Result<String, TlsError> {
        let spki = SubjectPublicKeyInfo::from_der(public_key_der)
            .map_err(|e| TlsError::InvalidKey(format!("public key: {e}")))?;
        self.sign(&node_params(id, hosts, valid_for)?, &spki)
    }

    /// Issues a client certificate naming `principal`, with a new key.
    pub fn issue_client(&self, principal: &str, valid_for: Duration) -> Result<Issued, TlsError> {
        let key = KeyPair::generate().map_err(pki)?;
        let cert_pem = self.sign(&client_params(principal, valid_for)?, &key)?;
        Ok(Issued { cert_pem, key: KeyPem::new(key.serialize_pem()) })
    }

    /// Issues a client certificate naming `principal` for a public key.
    pub fn issue_client_for(
        &self,
        principal: &str,
        valid_for: Duration,
        public_key_der: &[u8],
    ) -> Result<String, TlsError> {
        let spki = SubjectPublicKeyInfo::from_der(public_key_der)
            .map_err(|e| TlsError::InvalidKey(format!("public key: {e}")))?;
        self.sign(&client_params(principal, valid_for)?, &spki)
    }

    fn sign(&self, params: &CertificateParams, key: &impl rcgen::PublicKeyData) -> Result<String, TlsError> {
        Ok(params.signed_by(key, &self.issuer).map_err(pki)?.pem())
    }
}

/// Checks what a joining node asks to be certified before anything is
/// spent on it: its public key parses, and no host it names is in the node
/// namespace (`*.nodes.coffer`: only its own node name is added, by us).
pub fn check_node_request(hosts: &[String], public_key_der: &[u8]) -> Result<(), TlsError> {
    SubjectPublicKeyInfo::from_der(public_key_der).map_err(|e| TlsError::InvalidKey(format!("public key: {e}")))?;
    if let Some(h) = hosts.iter().find(|h| h.to_ascii_lowercase().ends_with(NODE_NAME_SUFFIX)) {
        return Err(TlsError::InvalidName(format!("{h}: names under {NODE_NAME_SUFFIX} are reserved for node ids")));
    }
    CertificateParams::new(hosts.to_vec()).map_err(|e| TlsError::InvalidName(e.to_string()))?;
    Ok(())
}

/// A new key pair for a certificate to be issued elsewhere: its PEM
/// private key and its DER public key.
pub fn new_key() -> Result<(KeyPem, Vec<u8>), TlsError> {
    let key = KeyPair::generate().map_err(pki)?;
    Ok((KeyPem::new(key.serialize_pem()), rcgen::PublicKeyData::subject_public_key_info(&key)))
}

/// What a certificate says of itself: its serial and when it is valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// The serial number, hex.
    pub serial: String,
    /// Unix seconds.
    pub not_before: i64,
    /// Unix seconds.
    pub not_after: i64,
}

impl CertInfo {
    /// Reads a DER certificate (`None` if it does not parse).
    pub fn of(der: &[u8]) -> Option<CertInfo> {
        let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der).ok()?;
        let validity = cert.validity();
        Some(CertInfo {
            serial: hex::encode(cert.raw_serial()),
            not_before: validity.not_before.timestamp(),
            not_after: validity.not_after.timestamp(),
        })
    }

    /// Whether a certificate issued for `lifetime` should be renewed at
    /// `now` (Unix seconds): once less than a third of `lifetime` is left,
    /// so that a renewal that fails has time to be retried and noticed.
    pub fn renewal_due(&self, now: i64, lifetime: Duration) -> bool {
        now >= self.not_after.saturating_sub((lifetime.as_secs() / 3) as i64)
    }
}

/// The host part of `host:port` (brackets of IPv6 literals removed).
pub fn host_of(addr: &str) -> &str {
    let host = match addr.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => addr,
    };
    host.trim_start_matches('[').trim_end_matches(']')
}

fn node_params(id: u64, hosts: &[String], valid_for: Duration) -> Result<CertificateParams, TlsError> {
    let mut names = vec![node_dns_name(id)];
    for h in hosts {
        if !h.is_empty() && !names.contains(h) {
            names.push(h.clone());
        }
    }
    let mut params = CertificateParams::new(names).map_err(|e| TlsError::InvalidName(e.to_string()))?;
    params.distinguished_name = dn(&format!("coffer node {id}"));
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    leaf(&mut params, valid_for)?;
    Ok(params)
}

fn client_params(principal: &str, valid_for: Duration) -> Result<CertificateParams, TlsError> {
    if principal.is_empty() || principal.len() > 128 || principal.chars().any(|c| c.is_control()) {
        return Err(TlsError::InvalidName(format!("principal name {principal:?}")));
    }
    let mut params = CertificateParams::default();
    params.distinguished_name = dn(principal);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    leaf(&mut params, valid_for)?;
    Ok(params)
}

fn leaf(params: &mut CertificateParams, valid_for: Duration) -> Result<(), TlsError> {
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    validity(params, valid_for)
}

fn validity(params: &mut CertificateParams, valid_for: Duration) -> Result<(), TlsError> {
    let now = SystemTime::now();
    params.not_before = (now - BACKDATE).into();
    params.not_after = (now + valid_for).into();
    let mut serial = [0u8; 16];
    crate::crypto::random_fill(&mut serial).map_err(|_| TlsError::Pki("no randomness".into()))?;
    // A positive INTEGER of 16 bytes (no leading zero for DER to drop).
    serial[0] = (serial[0] & 0x7f) | 0x40;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    Ok(())
}

fn dn(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}

fn pki(e: rcgen::Error) -> TlsError {
    TlsError::Pki(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_of_strips_ports_and_brackets() {
        assert_eq!(host_of("127.0.0.1:7700"), "127.0.0.1");
        assert_eq!(host_of("node1:7700"), "node1");
        assert_eq!(host_of("[::1]:7700"), "::1");
        assert_eq!(host_of("node1"), "node1");
    }

    #[test]
    fn key_pem_debug_is_redacted() {
        let (key, _) = new_key().unwrap();
        assert_eq!(format!("{key:?}"), "KeyPem(REDACTED)");
        assert!(key.as_str().contains("PRIVATE KEY"));
    }

    #[test]
    fn a_node_certificate_is_valid_for_what_was_asked_and_renewed_in_its_last_third() {
        let ca = new_ca("t").unwrap();
        let ca = Ca::new(&ca.cert_pem, &ca.key).unwrap();
        let lifetime = Duration::from_secs(3000);
        let node = ca.issue_node(3, &["127.0.0.1".into()], lifetime).unwrap();
        let der = crate::tls::material::certs(&node.cert_pem, std::path::Path::new("t")).unwrap();
        let info = CertInfo::of(&der[0]).unwrap();
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() as i64;
        assert!((info.not_after - now - 3000).abs() <= 5, "{info:?}");
        assert!((now - info.not_before - BACKDATE.as_secs() as i64).abs() <= 5, "{info:?}");
        assert_eq!(info.serial.len(), 32);
        assert!(!info.renewal_due(now, lifetime));
        assert!(!info.renewal_due(info.not_after - 1001, lifetime));
        assert!(info.renewal_due(info.not_after - 1000, lifetime));
        assert!(info.renewal_due(info.not_after + 1, lifetime));
        // A later issue has another serial.
        let again = ca.issue_node(3, &["127.0.0.1".into()], lifetime).unwrap();
        let der = crate::tls::material::certs(&again.cert_pem, std::path::Path::new("t")).unwrap();
        assert_ne!(CertInfo::of(&der[0]).unwrap().serial, info.serial);
        assert_eq!(CertInfo::of(b"not a certificate"), None);
        // Serials are 16 bytes every time (one in 128 had a zero first byte).
        let (_, public_key) = new_key().unwrap();
        for _ in 0..200 {
            let pem = ca.issue_node_for(3, &[], &public_key, lifetime).unwrap();
            let der = crate::tls::material::certs(&pem, std::path::Path::new("t")).unwrap();
            assert_eq!(CertInfo::of(&der[0]).unwrap().serial.len(), 32);
        }
    }

    #[test]
    fn client_principal_names_are_checked() {
        let ca = new_ca("t").unwrap();
        let ca = Ca::new(&ca.cert_pem, &ca.key).unwrap();
        assert!(ca.issue_client("", CERT_VALIDITY).is_err());
        assert!(ca.issue_client("a\nb", CERT_VALIDITY).is_err());
        assert!(ca.issue_client("alice", CERT_VALIDITY).is_ok());
    }
}
