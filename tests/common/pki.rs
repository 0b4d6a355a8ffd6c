//! One test CA per test process; node certificates for test nodes (files,
//! as an operator bringing their own CA would have) and client TLS.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use coffer::client::ClientTls;
use coffer::config::Config;
use coffer::tls::pki::{new_ca, Ca, Issued, CERT_VALIDITY};

pub struct TestPki {
    pub ca: Ca,
    pub ca_pem: String,
    pub issued: Issued,
}

/// The process-wide test CA.
pub fn pki() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(|| {
        let issued = new_ca("coffer test CA").expect("test CA");
        let ca = Ca::new(&issued.cert_pem, &issued.key).expect("test CA");
        TestPki { ca_pem: issued.cert_pem.clone(), ca, issued }
    })
}

impl TestPki {
    /// Writes node `id`'s certificate (for 127.0.0.1) under `dir` and
    /// points `config` at it.
    pub fn configure_node(&self, config: &mut Config, dir: &Path) {
        let tls_dir = dir.join(format!("tls-node{}", config.node_id));
        let node = self
            .ca
            .issue_node(config.node_id, &["127.0.0.1".into(), "localhost".into()], CERT_VALIDITY)
            .expect("node cert");
        let (ca, cert, key) = write_files(&tls_dir, &self.ca_pem, &node);
        config.tls.ca_file = Some(ca);
        config.tls.cert_file = Some(cert);
        config.tls.key_file = Some(key);
    }

    /// Client TLS trusting the test CA, without a client certificate.
    pub fn client_tls(&self) -> ClientTls {
        ClientTls::new(&self.ca_pem, None).expect("client tls")
    }

    /// Client TLS with a client certificate naming `principal`.
    pub fn client_cert(&self, principal: &str) -> ClientTls {
        let c = self.ca.issue_client(principal, CERT_VALIDITY).expect("client cert");
        ClientTls::new(&self.ca_pem, Some((&c.cert_pem, &c.key))).expect("client tls")
    }

    /// Writes the CA certificate and a client certificate for `principal`
    /// into `dir`; returns (ca, cert, key) paths (for the CLI).
    pub fn client_files(&self, principal: &str, dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
        let c = self.ca.issue_client(principal, CERT_VALIDITY).expect("client cert");
        write_files(dir, &self.ca_pem, &c)
    }

    /// The CA certificate written to `dir/ca.pem`.
    pub fn ca_file(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ca.pem");
        std::fs::create_dir_all(dir).expect("dir");
        std::fs::write(&path, &self.ca_pem).expect("write CA");
        path
    }
}

fn write_files(dir: &Path, ca_pem: &str, issued: &Issued) -> (PathBuf, PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).expect("tls dir");
    let paths = (dir.join("ca.pem"), dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&paths.0, ca_pem).expect("write");
    std::fs::write(&paths.1, format!("{}\n{}", issued.cert_pem.trim_end(), ca_pem)).expect("write");
    std::fs::write(&paths.2, issued.key.as_str()).expect("write");
    paths
}
