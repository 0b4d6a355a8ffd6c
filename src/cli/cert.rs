//! `coffer cert`: certificates. `ca`, `node` and `client` work offline with
//! a CA of your own (bring-your-own certificates, docker-compose);
//! `request` asks the cluster CA for a client certificate.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde_json::json;

use super::output;
use super::{write_private, CliError, CliResult, Format};
use crate::client::Client;
use crate::fsutil::{write_atomic, PUBLIC};
use crate::tls::pki::{self, Ca, KeyPem, CERT_VALIDITY};

#[derive(Subcommand)]
pub enum CertCmd {
    /// Offline: create a CA (ca.pem, ca.key) in DIR.
    Ca {
        #[arg(long)]
        out: PathBuf,
        /// The CA's common name.
        #[arg(long, default_value = "coffer CA")]
        name: String,
    },
    /// Offline: issue a node certificate (node.pem with the CA appended, node.key).
    Node {
        /// Directory holding ca.pem and ca.key.
        #[arg(long)]
        ca_dir: PathBuf,
        #[arg(long)]
        node_id: u64,
        /// Host names or IP addresses the node is reached at (repeatable).
        #[arg(long = "host", required = true)]
        hosts: Vec<String>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Offline: issue a client certificate (client.pem, client.key) naming NAME.
    Client {
        #[arg(long)]
        ca_dir: PathBuf,
        #[arg(long)]
        name: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Ask the cluster CA for a client certificate naming NAME (root token);
    /// the key is made here and never leaves this machine.
    Request {
        #[arg(long)]
        name: String,
        #[arg(long)]
        out: PathBuf,
        /// Lifetime in seconds (default: a year).
        #[arg(long, default_value_t = 0)]
        ttl: i64,
    },
}

pub async fn run(cmd: CertCmd, connect: impl FnOnce() -> CliResult<Client>, format: Format) -> CliResult {
    let written = match cmd {
        CertCmd::Ca { out, name } => {
            let ca = pki::new_ca(&name).map_err(tls_err)?;
            write_pair(&out, "ca", &ca.cert_pem, &ca.key)?
        }
        CertCmd::Node { ca_dir, node_id, hosts, out } => {
            let ca = load_ca(&ca_dir)?;
            let node = ca.issue_node(node_id, &hosts, CERT_VALIDITY).map_err(tls_err)?;
            let chain = format!("{}\n{}", node.cert_pem.trim_end(), ca.cert_pem());
            write_pair(&out, "node", &chain, &node.key)?
        }
        CertCmd::Client { ca_dir, name, out } => {
            let client = load_ca(&ca_dir)?.issue_client(&name, CERT_VALIDITY).map_err(tls_err)?;
            write_pair(&out, "client", &client.cert_pem, &client.key)?
        }
        CertCmd::Request { name, out, ttl } => {
            let (key, public_key) = pki::new_key().map_err(tls_err)?;
            let issued = connect()?.issue_client_certificate(&name, &public_key, ttl).await?;
            write_public(&out.join("ca.pem"), &issued.ca_pem)?;
            write_pair(&out, "client", &issued.cert_pem, &key)?
        }
    };
    output::record(format, json!({ "certificate": written.0, "key": written.1 }));
    Ok(())
}

fn load_ca(dir: &Path) -> CliResult<Ca> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path).map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))
    };
    Ca::new(&read("ca.pem")?, &KeyPem::new(read("ca.key")?)).map_err(tls_err)
}

/// Writes `<name>.pem` and `<name>.key` into `dir`; returns their paths.
fn write_pair(dir: &Path, name: &str, cert_pem: &str, key: &KeyPem) -> CliResult<(String, String)> {
    let cert = dir.join(format!("{name}.pem"));
    let key_path = dir.join(format!("{name}.key"));
    write_private(&key_path, key.as_str())?;
    write_public(&cert, cert_pem)?;
    Ok((cert.display().to_string(), key_path.display().to_string()))
}

fn write_public(path: &Path, text: &str) -> CliResult {
    write_atomic(path, text.as_bytes(), PUBLIC)
        .map_err(|e| CliError::usage(format!("cannot write {}: {e}", path.display())))
}

fn tls_err(e: crate::tls::TlsError) -> CliError {
    CliError::new(e.code(), e.to_string())
}
