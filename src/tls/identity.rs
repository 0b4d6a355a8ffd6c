//! Who a verified certificate names. rustls has already checked the chain
//! when this runs; here we only read the names.

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::pki::NODE_NAME_SUFFIX;

/// The identity a peer's certificate carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertIdentity {
    /// A node certificate (`node-<id>.nodes.coffer`) issued by the cluster CA.
    Node(u64),
    /// A client certificate: the principal in its common name.
    Principal(String),
}

impl std::fmt::Display for CertIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CertIdentity::Node(id) => write!(f, "node:{id}"),
            CertIdentity::Principal(name) => write!(f, "cert:{name}"),
        }
    }
}

/// Reads the identity from a DER certificate. A node name counts only when
/// `node_names_trusted` (the chain ends at the cluster CA, not at a separate
/// client CA); otherwise such a certificate names nobody.
pub fn of_certificate(der: &[u8], node_names_trusted: bool) -> Option<CertIdentity> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let node = cert.subject_alternative_name().ok().flatten().and_then(|san| {
        san.value.general_names.iter().find_map(|name| match name {
            GeneralName::DNSName(dns) => node_id_of(dns),
            _ => None,
        })
    });
    if let Some(id) = node {
        return node_names_trusted.then_some(CertIdentity::Node(id));
    }
    let cn = cert.subject().iter_common_name().next()?.as_str().ok()?.trim();
    (!cn.is_empty()).then(|| CertIdentity::Principal(cn.to_owned()))
}

/// `node-<id>.nodes.coffer` → id.
pub fn node_id_of(dns: &str) -> Option<u64> {
    let id = dns.strip_prefix("node-")?.strip_suffix(NODE_NAME_SUFFIX)?;
    if id.starts_with('0') || !id.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    id.parse().ok().filter(|id| *id != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::pki::{new_ca, Ca, CERT_VALIDITY};
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;

    fn der(pem: &str) -> Vec<u8> {
        CertificateDer::from_pem_slice(pem.as_bytes()).unwrap().to_vec()
    }

    #[test]
    fn node_and_client_certificates_name_their_identity() {
        let ca = new_ca("test CA").unwrap();
        let ca = Ca::new(&ca.cert_pem, &ca.key).unwrap();
        let node = ca.issue_node(7, &["127.0.0.1".into(), "node7".into()], CERT_VALIDITY).unwrap();
        assert_eq!(of_certificate(&der(&node.cert_pem), true), Some(CertIdentity::Node(7)));
        assert_eq!(of_certificate(&der(&node.cert_pem), false), None);
        let client = ca.issue_client("alice", CERT_VALIDITY).unwrap();
        assert_eq!(of_certificate(&der(&client.cert_pem), true), Some(CertIdentity::Principal("alice".into())));
        assert_eq!(CertIdentity::Node(7).to_string(), "node:7");
    }

    #[test]
    fn node_names_parse_strictly() {
        assert_eq!(node_id_of("node-12.nodes.coffer"), Some(12));
        for bad in ["node-0.nodes.coffer", "node-012.nodes.coffer", "node-x.nodes.coffer", "node-1.nodes.coffer.evil"] {
            assert_eq!(node_id_of(bad), None, "{bad}");
        }
    }
}
