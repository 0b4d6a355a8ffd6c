//! The client side: how the SDK and nodes open TLS channels. A
//! [`ClientTls`] says what to trust and who to be; [`channel`] makes a lazy
//! tonic channel whose every connection does a TLS 1.3 handshake with the
//! configuration current at that moment (so reloaded material is used);
//! [`super::direct`] uses the same handshake without tonic's channel.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tonic::transport::{Channel, Endpoint, Uri};

use super::coalesce::Coalesced;
use super::material::{certs, key, roots, NodeTls};
use super::pki::KeyPem;
use super::{provider, TlsError, ALPN_H2};

type Source = Arc<dyn Fn() -> Result<Arc<ClientConfig>, TlsError> + Send + Sync>;

/// What a client trusts and how it proves who it is.
#[derive(Clone)]
pub struct ClientTls {
    source: Source,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientTls")
    }
}

impl ClientTls {
    /// Trusts the CA certificate(s) in `ca_pem`; presents a client
    /// certificate when `identity` (certificate chain PEM, key) is given.
    pub fn new(ca_pem: &str, identity: Option<(&str, &KeyPem)>) -> Result<ClientTls, TlsError> {
        let origin = Path::new("CA certificate");
        let builder = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(TlsError::rustls)?
            .with_root_certificates(roots(ca_pem, origin)?);
        let config = match identity {
            None => builder.with_no_client_auth(),
            Some((cert_pem, key_pem)) => {
                let chain = certs(cert_pem, Path::new("client certificate"))?;
                let key = key(key_pem.as_str(), Path::new("client key"))?;
                builder.with_client_auth_cert(chain, key).map_err(|e| TlsError::InvalidCertificate(e.to_string()))?
            }
        };
        Ok(ClientTls::fixed(config))
    }

    /// Reads the CA bundle and, if given, a client certificate and key from files.
    pub fn from_files(ca: &Path, identity: Option<(&Path, &Path)>) -> Result<ClientTls, TlsError> {
        let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| TlsError::Io(format!("{}: {e}", p.display())));
        let ca_pem = read(ca)?;
        match identity {
            None => ClientTls::new(&ca_pem, None),
            Some((cert, key)) => ClientTls::new(&ca_pem, Some((&read(cert)?, &KeyPem::new(read(key)?)))),
        }
    }

    /// Trusts only a server whose chain includes the CA certificate with this
    /// SHA-256 fingerprint (a joining node that knows nothing else yet).
    pub fn pinned_ca(fingerprint: [u8; 32]) -> Result<ClientTls, TlsError> {
        let mut config = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(TlsError::rustls)?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedCa { fingerprint }))
            .with_no_client_auth();
        config.alpn_protocols = vec![ALPN_H2.to_vec()];
        Ok(ClientTls { source: Arc::new(move || Ok(Arc::new(config.clone()))) })
    }

    /// A node acting as a client: its own certificate, the cluster CA, and
    /// whatever was last loaded from its files.
    pub fn node(tls: NodeTls) -> ClientTls {
        ClientTls {
            source: Arc::new(move || {
                tls.current()
                    .map(|l| l.client.clone())
                    .ok_or_else(|| TlsError::NotReady("no node certificate yet".into()))
            }),
        }
    }

    fn fixed(mut config: ClientConfig) -> ClientTls {
        config.alpn_protocols = vec![ALPN_H2.to_vec()];
        let config = Arc::new(config);
        ClientTls { source: Arc::new(move || Ok(config.clone())) }
    }
}

/// A lazy channel to `addr` (`host:port`) whose server must present a
/// certificate valid for `server_name` (by default the host of `addr`).
/// `request_timeout` bounds each call.
pub fn channel(
    addr: &str,
    tls: &ClientTls,
    server_name: Option<String>,
    connect_timeout: Duration,
    request_timeout: Option<Duration>,
) -> Result<Channel, TlsError> {
    let mut endpoint = Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| TlsError::InvalidAddress(format!("{addr}: {e}")))?;
    if let Some(t) = request_timeout {
        endpoint = endpoint.timeout(t);
    }
    let name = server_name.unwrap_or_else(|| super::pki::host_of(addr).to_owned());
    let server_name =
        ServerName::try_from(name.clone()).map_err(|_| TlsError::InvalidAddress(format!("{name}: not a host name")))?;
    let tls = tls.clone();
    let connector = tower::service_fn(move |uri: Uri| {
        let tls = tls.clone();
        let server_name = server_name.clone();
        async move {
            let authority = uri.authority().map(|a| a.as_str().to_owned()).unwrap_or_default();
            connect(&authority, &tls, server_name, connect_timeout).await.map(TokioIo::new)
        }
    });
    Ok(endpoint.connect_with_connector_lazy(connector))
}

/// A TCP connection to `authority` (`host:port`, no delay) and a TLS
/// handshake with the configuration current now, within `timeout`. Its
/// writes go out once per flush (see [`super::coalesce`]).
pub(super) async fn connect(
    authority: &str,
    tls: &ClientTls,
    server_name: ServerName<'static>,
    timeout: Duration,
) -> Result<Coalesced<TlsStream<TcpStream>>, TlsError> {
    let config = (tls.source)()?;
    let connect = async {
        let tcp = TcpStream::connect(authority).await?;
        tcp.set_nodelay(true)?;
        TlsConnector::from(config).connect(server_name, tcp).await
    };
    match tokio::time::timeout(timeout, connect).await {
        Ok(Ok(stream)) => Ok(Coalesced::client(stream)),
        Ok(Err(e)) => Err(TlsError::Connect(format!("{authority}: {e}"))),
        Err(_) => Err(TlsError::Connect(format!("{authority}: connect timed out"))),
    }
}

/// Accepts a server whose chain contains the pinned CA and verifies under it.
#[derive(Debug)]
struct PinnedCa {
    fingerprint: [u8; 32],
}

impl ServerCertVerifier for PinnedCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let ca = intermediates
            .iter()
            .find(|c| crate::crypto::constant_time_eq(&crate::crypto::sha256(c), &self.fingerprint))
            .ok_or_else(|| rustls::Error::General("the server's chain lacks the pinned cluster CA".into()))?;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.clone().into_owned())?;
        let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        verifier.verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &provider().signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &provider().signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider().signature_verification_algorithms.supported_schemes()
    }
}
