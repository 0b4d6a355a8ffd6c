//! A node's own certificates when it manages them (no TLS files in its
//! config): the first node of a cluster creates the cluster CA, and every
//! node keeps its certificate and key in `<data_dir>/tls` (see
//! [`TlsFiles::managed`](super::TlsFiles::managed)).
//!
//! The CA's private key stays in `<data_dir>/tls/ca.key` on the first node
//! only until `coffer operator init`, which seals it into the replicated
//! state (under the barrier) and deletes the file; from then on any
//! unsealed leader issues certificates to nodes that join with a join token.

use std::path::{Path, PathBuf};

use super::pki::{self, Issued, KeyPem};
use super::{NodeTls, TlsError};
use crate::fsutil::{write_atomic, PRIVATE, PUBLIC};

/// The hosts a node's certificate must name: those of its advertised
/// addresses (loopback names too when it listens on every interface).
pub fn hosts(api_addr: &str, raft_addr: &str) -> Vec<String> {
    let mut hosts = Vec::new();
    for addr in [api_addr, raft_addr] {
        let host = pki::host_of(addr).to_owned();
        let unspecified = host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_unspecified());
        let add = if unspecified { vec!["127.0.0.1".to_owned(), "localhost".to_owned()] } else { vec![host] };
        for h in add {
            if !hosts.contains(&h) {
                hosts.push(h);
            }
        }
    }
    hosts
}

impl NodeTls {
    /// Creates the cluster CA and this node's certificate (the first node
    /// of a cluster that manages its certificates).
    pub fn create_cluster_ca(&self, node_id: u64, hosts: &[String]) -> Result<(), TlsError> {
        let ca = pki::new_ca(&format!("coffer cluster CA {}", hex::encode(random_id())))?;
        let signer = pki::Ca::new(&ca.cert_pem, &ca.key)?;
        let node = signer.issue_node(node_id, hosts)?;
        write(&self.ca_key_path(), ca.key.as_str(), PRIVATE)?;
        self.store_node_cert(&node.cert_pem, &node.key, &ca.cert_pem)?;
        tracing::info!(ca = %self.files().ca.display(), "created the cluster CA; clients trust it with COFFER_CACERT");
        Ok(())
    }

    /// Stores a node certificate (with the CA appended, so peers and joining
    /// nodes see the whole chain) and its key, then loads them.
    pub fn store_node_cert(&self, cert_pem: &str, key: &KeyPem, ca_pem: &str) -> Result<(), TlsError> {
        let files = self.files();
        write(&files.key, key.as_str(), PRIVATE)?;
        write(&files.ca, ca_pem, PUBLIC)?;
        write(&files.cert, &format!("{}\n{}", cert_pem.trim_end(), ca_pem), PUBLIC)?;
        self.reload()?;
        Ok(())
    }

    /// The CA kept on this node's disk until `operator init` seals it into
    /// the cluster, if there is one.
    pub fn pending_ca(&self) -> Result<Option<Issued>, TlsError> {
        let path = self.ca_key_path();
        let key = match std::fs::read_to_string(&path) {
            Ok(k) => KeyPem::new(k),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(TlsError::Io(format!("{}: {e}", path.display()))),
        };
        let ca = &self.files().ca;
        let cert_pem = std::fs::read_to_string(ca).map_err(|e| TlsError::Io(format!("{}: {e}", ca.display())))?;
        Ok(Some(Issued { cert_pem, key }))
    }

    /// Deletes the local CA key once the cluster holds it sealed.
    pub fn forget_pending_ca(&self) {
        let path = self.ca_key_path();
        if let Err(e) = std::fs::remove_file(&path) {
            tracing::warn!(path = %path.display(), error = %e, "cannot delete the local CA key");
        }
    }

    fn ca_key_path(&self) -> PathBuf {
        self.files().key.with_file_name("ca.key")
    }
}

fn write(path: &Path, text: &str, mode: u32) -> Result<(), TlsError> {
    write_atomic(path, text.as_bytes(), mode).map_err(|e| TlsError::Io(format!("{}: {e}", path.display())))
}

fn random_id() -> [u8; 4] {
    let mut id = [0u8; 4];
    let _ = crate::crypto::random_fill(&mut id);
    id
}
