//! A node's TLS material: the CA bundle, its certificate and key (and
//! optionally a separate CA for client certificates), read from PEM files
//! and turned into rustls configurations. [`NodeTls::reload`] re-reads the
//! files when they change, so certificates can be replaced without a
//! restart: new connections use the new material, open ones keep theirs.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use super::identity::{self, CertIdentity};
use super::pki::{CertInfo, CERT_VALIDITY};
use super::{provider, TlsError, ALPN_H2};

/// Where a node's TLS files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// CA certificate(s) that issue node certificates (and client ones).
    pub ca: PathBuf,
    /// This node's certificate (chain), PEM.
    pub cert: PathBuf,
    /// This node's private key, PEM.
    pub key: PathBuf,
    /// Another CA whose client certificates are accepted on the client API.
    pub client_ca: Option<PathBuf>,
}

impl TlsFiles {
    /// The files a node keeps in `<data_dir>/tls` when it manages its own
    /// certificates (bootstrap creates them, a join fills them in).
    pub fn managed(data_dir: &Path) -> TlsFiles {
        let dir = data_dir.join("tls");
        TlsFiles { ca: dir.join("ca.pem"), cert: dir.join("node.pem"), key: dir.join("node.key"), client_ca: None }
    }

    fn paths(&self) -> impl Iterator<Item = &PathBuf> {
        [&self.ca, &self.cert, &self.key].into_iter().chain(self.client_ca.as_ref())
    }
}

/// The rustls configurations built from one reading of the files.
pub struct Loaded {
    /// The peer (Raft) listener: a node certificate from the cluster CA is required.
    pub peer_server: Arc<ServerConfig>,
    /// The client API listener: client certificates optional.
    pub api_server: Arc<ServerConfig>,
    /// This node as a client of other nodes (presents its certificate).
    pub client: Arc<ClientConfig>,
    /// The CA bundle, PEM.
    pub ca_pem: String,
    /// This node's own certificate (`None` if it does not parse as X.509).
    pub cert_info: Option<CertInfo>,
    cluster_only: Arc<dyn ClientCertVerifier>,
    has_client_ca: bool,
}

impl Loaded {
    /// The identity in a peer's verified chain. Node names count only when
    /// the chain verifies against the cluster CA itself.
    pub fn identity(&self, chain: &[CertificateDer<'static>]) -> Option<CertIdentity> {
        let (leaf, rest) = chain.split_first()?;
        let node_names_trusted =
            !self.has_client_ca || self.cluster_only.verify_client_cert(leaf, rest, UnixTime::now()).is_ok();
        identity::of_certificate(leaf, node_names_trusted)
    }
}

/// When the files were last read: their modification times.
type Stamp = Option<Vec<Option<SystemTime>>>;

/// A node's TLS state, shared by its listeners and its outgoing connections.
#[derive(Clone)]
pub struct NodeTls {
    files: TlsFiles,
    current: Arc<RwLock<Option<Arc<Loaded>>>>,
    /// Held while the files are read or replaced.
    stamp: Arc<Mutex<Stamp>>,
    /// How long the node certificates this node issues are valid
    /// (`[tls] node_cert_ttl_secs`; managed certificates only).
    node_cert_ttl: Duration,
}

impl NodeTls {
    /// TLS from `files`; nothing is read until [`NodeTls::reload`].
    pub fn new(files: TlsFiles) -> NodeTls {
        NodeTls {
            files,
            current: Arc::new(RwLock::new(None)),
            stamp: Arc::new(Mutex::new(None)),
            node_cert_ttl: CERT_VALIDITY,
        }
    }

    /// Issues node certificates valid for `ttl` instead of a year.
    pub fn with_node_cert_ttl(mut self, ttl: Duration) -> NodeTls {
        self.node_cert_ttl = ttl;
        self
    }

    /// How long the node certificates this node issues are valid.
    pub fn node_cert_ttl(&self) -> Duration {
        self.node_cert_ttl
    }

    /// The files this node reads.
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// The material in use (`None` until the files exist and are valid).
    pub fn current(&self) -> Option<Arc<Loaded>> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Re-reads the files if any changed since the last reading. Returns
    /// whether new material is in use. Missing files are not an error (a
    /// node that is joining has none yet); invalid ones are, and leave the
    /// previous material in use.
    pub fn reload(&self) -> Result<bool, TlsError> {
        self.reload_locked(&mut self.lock_files())
    }

    /// Holds off other readers and writers of the files.
    pub(super) fn lock_files(&self) -> std::sync::MutexGuard<'_, Stamp> {
        self.stamp.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// [`NodeTls::reload`] with the files locked.
    pub(super) fn reload_locked(&self, last: &mut Stamp) -> Result<bool, TlsError> {
        let stamp: Vec<Option<SystemTime>> =
            self.files.paths().map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok()).collect();
        if last.as_ref() == Some(&stamp) {
            return Ok(false);
        }
        if stamp.iter().take(3).any(Option::is_none) {
            *last = Some(stamp);
            return Ok(false);
        }
        let loaded = load(&self.files)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(loaded));
        *last = Some(stamp);
        Ok(true)
    }
}

fn load(files: &TlsFiles) -> Result<Loaded, TlsError> {
    let ca_pem = read(&files.ca)?;
    let cluster_roots = Arc::new(roots(&ca_pem, &files.ca)?);
    let chain = certs(&read(&files.cert)?, &files.cert)?;
    let key = key(&read(&files.key)?, &files.key)?;

    let cluster_only = WebPkiClientVerifier::builder_with_provider(cluster_roots.clone(), provider())
        .build()
        .map_err(|e| TlsError::InvalidCertificate(format!("{}: {e}", files.ca.display())))?;
    let mut api_roots = (*cluster_roots).clone();
    if let Some(path) = &files.client_ca {
        for cert in certs(&read(path)?, path)? {
            api_roots.add(cert).map_err(|e| TlsError::InvalidCertificate(format!("{}: {e}", path.display())))?;
        }
    }
    let api_verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(api_roots), provider())
        .allow_unauthenticated()
        .build()
        .map_err(|e| TlsError::InvalidCertificate(e.to_string()))?;

    let server = |verifier: Arc<dyn ClientCertVerifier>| -> Result<Arc<ServerConfig>, TlsError> {
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(TlsError::rustls)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(|e| TlsError::InvalidCertificate(format!("{}: {e}", files.cert.display())))?;
        config.alpn_protocols = vec![ALPN_H2.to_vec()];
        Ok(Arc::new(config))
    };
    let mut client = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(TlsError::rustls)?
        .with_root_certificates(cluster_roots)
        .with_client_auth_cert(chain.clone(), key.clone_key())
        .map_err(|e| TlsError::InvalidCertificate(format!("{}: {e}", files.cert.display())))?;
    client.alpn_protocols = vec![ALPN_H2.to_vec()];
    Ok(Loaded {
        cert_info: CertInfo::of(&chain[0]),
        peer_server: server(cluster_only.clone())?,
        api_server: server(api_verifier)?,
        client: Arc::new(client),
        ca_pem,
        cluster_only,
        has_client_ca: files.client_ca.is_some(),
    })
}

fn read(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|e| TlsError::Io(format!("{}: {e}", path.display())))
}

/// The certificates in a PEM text (at least one).
pub fn certs(pem: &str, origin: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::InvalidCertificate(format!("{}: {e}", origin.display())))?;
    if certs.is_empty() {
        return Err(TlsError::InvalidCertificate(format!("{}: no certificate in it", origin.display())));
    }
    Ok(certs)
}

/// A root store of the certificates in a PEM text.
pub fn roots(pem: &str, origin: &Path) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    for cert in certs(pem, origin)? {
        store.add(cert).map_err(|e| TlsError::InvalidCertificate(format!("{}: {e}", origin.display())))?;
    }
    Ok(store)
}

/// The private key in a PEM text.
pub fn key(pem: &str, origin: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|_| TlsError::InvalidKey(format!("{}: no usable private key in it", origin.display())))
}
