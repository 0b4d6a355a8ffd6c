//! TLS 1.3 with mutual authentication on every connection, on rustls with
//! the aws-lc-rs provider (the crate's one crypto engine).
//!
//! | module       | what it holds                                                    |
//! |--------------|------------------------------------------------------------------|
//! | [`pki`]      | the cluster CA and the node and client certificates it issues   |
//! | [`identity`] | who a verified certificate names (a node id or a principal)      |
//! | [`material`] | a node's PEM files → rustls configurations, reloaded on change   |
//! | [`managed`]  | certificates a node creates, receives (join) or renews           |
//! | [`accept`]   | the servers' TLS listeners; the peer identity of each request   |
//! | [`coalesce`] | a connection's writes held until flushed (one TLS record)       |
//! | [`connect`]  | the clients' TLS channels (CA bundle, client cert, pinned CA)    |
//! | [`direct`]   | a channel that sends from the caller's task (peer calls)        |
//!
//! Peers require each other's node certificate, issued by the cluster CA,
//! and a peer's node id must be a member (checked by the peer service). The
//! client API accepts connections without a client certificate (such
//! clients authenticate with a token) and with one issued by the cluster CA
//! or a configured client CA (the certificate's principal authenticates).

pub mod accept;
pub mod coalesce;
pub mod connect;
pub mod direct;
pub mod identity;
pub mod managed;
pub mod material;
pub mod pki;

use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;

pub use accept::{ConnInfo, Listener};
pub use connect::{channel, ClientTls};
pub use direct::DirectChannel;
pub use identity::CertIdentity;
pub use material::{NodeTls, TlsFiles};

use crate::error_code::ErrorCode;

/// gRPC runs over HTTP/2.
const ALPN_H2: &[u8] = b"h2";

/// aws-lc-rs, shared by every configuration.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER.get_or_init(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider())).clone()
}

/// SHA-256 of a certificate's DER, hex: how a CA is pinned.
pub fn fingerprint_of_pem(pem: &str) -> Result<String, TlsError> {
    let cert = material::certs(pem, std::path::Path::new("CA certificate"))?;
    Ok(hex::encode(crate::crypto::sha256(&cert[0])))
}

/// A TLS failure. Messages name files and reasons, never key material.
#[allow(missing_docs)] // each variant is described by its #[error] message
#[derive(Debug, Clone, thiserror::Error)]
pub enum TlsError {
    #[error("invalid certificate: {0}")]
    InvalidCertificate(String),
    #[error("invalid private key: {0}")]
    InvalidKey(String),
    #[error("invalid name for a certificate: {0}")]
    InvalidName(String),
    #[error("invalid address: {0}")]
    InvalidAddress(String),
    #[error("cannot read TLS file {0}")]
    Io(String),
    #[error("TLS is not ready: {0}")]
    NotReady(String),
    #[error("TLS connection to {0}")]
    Connect(String),
    #[error("certificate issuing failed: {0}")]
    Pki(String),
    #[error("TLS configuration: {0}")]
    Config(String),
}

impl TlsError {
    fn rustls(e: rustls::Error) -> TlsError {
        TlsError::Config(e.to_string())
    }

    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            TlsError::InvalidCertificate(_) | TlsError::InvalidKey(_) | TlsError::InvalidName(_) => {
                ErrorCode::InvalidCertificate
            }
            TlsError::InvalidAddress(_) => ErrorCode::InvalidArgument,
            TlsError::Io(_) | TlsError::NotReady(_) | TlsError::Connect(_) => ErrorCode::Unavailable,
            TlsError::Pki(_) | TlsError::Config(_) => ErrorCode::Internal,
        }
    }
}
