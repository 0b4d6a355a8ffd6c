//! A node's own certificates when it manages them (no TLS files in its
//! config): the first node of a cluster creates the cluster CA, and every
//! node keeps its certificate and key in `<data_dir>/tls` (see
//! [`TlsFiles::managed`](super::TlsFiles::managed)).
//!
//! The CA's private key stays in `<data_dir>/tls/ca.key` on the first node
//! only until `coffer operator init`, which seals it into the replicated
//! state (under the barrier) and deletes the file; from then on any
//! unsealed leader issues certificates to nodes that join with a join token,
//! and each node renews its own before it expires (`node::cert_renewal`).

use std::path::{Path, PathBuf};

use super::pki::{self, Issued, KeyPem};
use super::{NodeTls, TlsError};
use crate::fsutil::{rename_synced, write_atomic, PRIVATE, PUBLIC};

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
        let node = signer.issue_node(node_id, hosts, self.node_cert_ttl())?;
        write(&self.ca_key_path(), ca.key.as_str(), PRIVATE)?;
        self.store_node_cert(&node.cert_pem, &node.key, &ca.cert_pem)?;
        tracing::info!(ca = %self.files().ca.display(), "created the cluster CA; clients trust it with COFFER_CACERT");
        Ok(())
    }

    /// Stores a node certificate (with the CA appended, so peers and joining
    /// nodes see the whole chain) and its key, then loads them.
    ///
    /// The certificate and key must change together: both are first written
    /// beside the files in use (`node.key.next`, then `node.pem.next`, whose
    /// presence means the pair is complete), then renamed over them, key
    /// first. A crash in between is completed at the next start by
    /// [`NodeTls::finish_staged`]; meanwhile readers are held off.
    pub fn store_node_cert(&self, cert_pem: &str, key: &KeyPem, ca_pem: &str) -> Result<(), TlsError> {
        let files = self.files();
        let mut stamp = self.lock_files();
        write(&files.ca, ca_pem, PUBLIC)?;
        write(&staged(&files.key), key.as_str(), PRIVATE)?;
        write(&staged(&files.cert), &format!("{}\n{}", cert_pem.trim_end(), ca_pem), PUBLIC)?;
        finish(&files.cert, &files.key)?;
        self.reload_locked(&mut stamp)?;
        Ok(())
    }

    /// Completes a certificate replacement a crash interrupted (see
    /// [`NodeTls::store_node_cert`]), or drops one that was not complete.
    /// Call before the first [`NodeTls::reload`] of a node that manages its
    /// certificates.
    pub fn finish_staged(&self) -> Result<(), TlsError> {
        let files = self.files();
        let _stamp = self.lock_files();
        if staged(&files.cert).exists() {
            tracing::warn!(cert = %files.cert.display(), "completing a certificate replacement a stop interrupted");
            finish(&files.cert, &files.key)
        } else {
            match std::fs::remove_file(staged(&files.key)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_error(&staged(&files.key), e)),
                _ => Ok(()),
            }
        }
    }

    /// The CA kept on this node's disk until `operator init` seals it into
    /// the cluster, if there is one.
    pub fn pending_ca(&self) -> Result<Option<Issued>, TlsError> {
        let path = self.ca_key_path();
        let key = match std::fs::read_to_string(&path) {
            Ok(k) => KeyPem::new(k),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(&path, e)),
        };
        let ca = &self.files().ca;
        let cert_pem = std::fs::read_to_string(ca).map_err(|e| io_error(ca, e))?;
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

/// Moves a complete staged pair over the files in use: the key (unless an
/// interrupted run moved it already), then the certificate, which ends it.
fn finish(cert: &Path, key: &Path) -> Result<(), TlsError> {
    let staged_key = staged(key);
    if staged_key.exists() {
        rename_synced(&staged_key, key).map_err(|e| io_error(key, e))?;
    }
    rename_synced(&staged(cert), cert).map_err(|e| io_error(cert, e))
}

/// Where a file's replacement waits.
fn staged(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".next");
    path.with_file_name(name)
}

fn write(path: &Path, text: &str, mode: u32) -> Result<(), TlsError> {
    write_atomic(path, text.as_bytes(), mode).map_err(|e| io_error(path, e))
}

fn io_error(path: &Path, e: std::io::Error) -> TlsError {
    TlsError::Io(format!("{}: {e}", path.display()))
}

fn random_id() -> [u8; 4] {
    let mut id = [0u8; 4];
    let _ = crate::crypto::random_fill(&mut id);
    id
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::tls::pki::{new_ca, Ca, CertInfo};
    use crate::tls::TlsFiles;

    const HOUR: Duration = Duration::from_secs(3600);

    fn node_tls(dir: &Path) -> (NodeTls, Ca) {
        let ca = new_ca("t").unwrap();
        let signer = Ca::new(&ca.cert_pem, &ca.key).unwrap();
        (NodeTls::new(TlsFiles::managed(dir)), signer)
    }

    fn serial_in_use(tls: &NodeTls) -> String {
        tls.current().unwrap().cert_info.clone().unwrap().serial
    }

    fn serial_of(issued: &Issued) -> String {
        let der = crate::tls::material::certs(&issued.cert_pem, Path::new("t")).unwrap();
        CertInfo::of(&der[0]).unwrap().serial
    }

    #[test]
    fn a_replaced_certificate_is_in_use_at_once_and_nothing_is_left_staged() {
        let dir = tempfile::tempdir().unwrap();
        let (tls, ca) = node_tls(dir.path());
        let first = ca.issue_node(1, &[], HOUR).unwrap();
        tls.store_node_cert(&first.cert_pem, &first.key, ca.cert_pem()).unwrap();
        assert_eq!(serial_in_use(&tls), serial_of(&first));
        let second = ca.issue_node(1, &[], HOUR).unwrap();
        tls.store_node_cert(&second.cert_pem, &second.key, ca.cert_pem()).unwrap();
        assert_eq!(serial_in_use(&tls), serial_of(&second));
        let names: Vec<_> =
            std::fs::read_dir(dir.path().join("tls")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(names.iter().all(|n| !n.to_string_lossy().contains(".next")), "{names:?}");
    }

    /// A stop at each step of a replacement: the next start uses a matching
    /// pair, the new one once its certificate was staged, else the old one.
    #[test]
    fn a_replacement_interrupted_at_any_step_leaves_a_matching_pair() {
        let files = |dir: &Path| TlsFiles::managed(dir);
        // (staged key written, staged certificate written, key moved, new pair expected)
        for (key_staged, cert_staged, key_moved, new_expected) in
            [(true, false, false, false), (true, true, false, true), (false, true, true, true)]
        {
            let dir = tempfile::tempdir().unwrap();
            let (tls, ca) = node_tls(dir.path());
            let old = ca.issue_node(1, &[], HOUR).unwrap();
            tls.store_node_cert(&old.cert_pem, &old.key, ca.cert_pem()).unwrap();
            let new = ca.issue_node(1, &[], HOUR).unwrap();
            let f = files(dir.path());
            let chain = format!("{}\n{}", new.cert_pem.trim_end(), ca.cert_pem());
            if key_staged {
                write(&staged(&f.key), new.key.as_str(), PRIVATE).unwrap();
            }
            if cert_staged {
                write(&staged(&f.cert), &chain, PUBLIC).unwrap();
            }
            if key_moved {
                write(&f.key, new.key.as_str(), PRIVATE).unwrap();
            }

            let restarted = NodeTls::new(files(dir.path()));
            restarted.finish_staged().unwrap();
            restarted.reload().unwrap();
            let expected = if new_expected { serial_of(&new) } else { serial_of(&old) };
            assert_eq!(serial_in_use(&restarted), expected, "{key_staged} {cert_staged} {key_moved}");
            assert!(!staged(&f.key).exists() && !staged(&f.cert).exists());
        }
    }
}
