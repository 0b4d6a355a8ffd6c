//! A gRPC channel that sends from the caller's task: one HTTP/2 connection,
//! opened on first use and again after it breaks, and no queue in front
//! of it.
//!
//! tonic's `Channel` puts a buffer task in front of its connection, so each
//! call hands its request to that task before the connection's own task
//! writes it: one task hand-off more per call, and on a busy node a thread
//! wake-up. Nodes call their peers on every log entry, so the peer channels
//! are [`DirectChannel`]s. A call that cannot connect fails with
//! `Unavailable` (as tonic's channel does); deadlines are the caller's, by
//! `tokio::time::timeout` around the call.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::uri::{Authority, Scheme};
use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper::client::conn::http2::{self, SendRequest};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::ServerName;
use tonic::body::Body;

use super::connect::{connect, ClientTls};
use super::TlsError;

/// A cheap-to-clone channel to one server; clones share its connection.
#[derive(Clone)]
pub struct DirectChannel {
    inner: Arc<Inner>,
}

struct Inner {
    authority: Authority,
    server_name: ServerName<'static>,
    tls: ClientTls,
    connect_timeout: Duration,
    /// The open connection's sender; replaced (under this lock, so that
    /// callers do not race to connect) once it is closed.
    sender: tokio::sync::Mutex<Option<SendRequest<Body>>>,
}

impl DirectChannel {
    /// A channel to `addr` (`host:port`) whose server must present a
    /// certificate valid for `server_name`. Nothing connects until the
    /// first call.
    pub fn new(addr: &str, tls: &ClientTls, server_name: &str, connect_timeout: Duration) -> Result<Self, TlsError> {
        let authority: Authority = addr.parse().map_err(|e| TlsError::InvalidAddress(format!("{addr}: {e}")))?;
        let server_name = ServerName::try_from(server_name.to_owned())
            .map_err(|_| TlsError::InvalidAddress(format!("{server_name}: not a host name")))?;
        Ok(DirectChannel {
            inner: Arc::new(Inner {
                authority,
                server_name,
                tls: tls.clone(),
                connect_timeout,
                sender: tokio::sync::Mutex::new(None),
            }),
        })
    }
}

impl Inner {
    /// The open connection's sender, connecting first if there is none.
    async fn sender(&self) -> Result<SendRequest<Body>, tonic::Status> {
        let mut slot = self.sender.lock().await;
        if let Some(s) = slot.as_ref().filter(|s| !s.is_closed()) {
            return Ok(s.clone());
        }
        *slot = None;
        let unavailable = |e: String| tonic::Status::unavailable(e);
        let stream = connect(self.authority.as_str(), &self.tls, self.server_name.clone(), self.connect_timeout)
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let (sender, connection) = http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| unavailable(format!("{}: HTTP/2 handshake: {e}", self.authority)))?;
        let authority = self.authority.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%authority, error = %e, "peer connection closed");
            }
        });
        *slot = Some(sender.clone());
        Ok(sender)
    }

    async fn call(&self, mut req: Request<Body>) -> Result<Response<Incoming>, tonic::Status> {
        // tonic's generated clients give only the path; HTTP/2 needs the
        // scheme and authority too.
        let mut parts = req.uri().clone().into_parts();
        parts.scheme = Some(Scheme::HTTP);
        parts.authority = Some(self.authority.clone());
        *req.uri_mut() = Uri::from_parts(parts).map_err(|e| tonic::Status::internal(format!("request URI: {e}")))?;
        let mut sender = self.sender().await?;
        // Waits while the server's limit of concurrent streams is reached.
        sender.ready().await.map_err(|e| tonic::Status::unavailable(format!("{}: {e}", self.authority)))?;
        sender.send_request(req).await.map_err(|e| tonic::Status::from_error(Box::new(e)))
    }
}

impl tower::Service<Request<Body>> for DirectChannel {
    type Response = Response<Incoming>;
    type Error = tonic::Status;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let inner = self.inner.clone();
        Box::pin(async move { inner.call(req).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::raft as pb;
    use crate::proto::raft::raft_service_client::RaftServiceClient;
    use crate::tls::pki::{new_ca, node_dns_name};

    fn client_tls() -> ClientTls {
        ClientTls::new(&new_ca("test CA").unwrap().cert_pem, None).unwrap()
    }

    #[tokio::test]
    async fn a_peer_that_is_not_listening_is_unavailable_on_every_call() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let channel =
            DirectChannel::new(&format!("127.0.0.1:{port}"), &client_tls(), &node_dns_name(2), Duration::from_secs(2))
                .unwrap();
        let mut client = RaftServiceClient::new(channel);
        // Unavailable is what makes the caller report the peer unreachable;
        // a second call tries to connect again.
        for _ in 0..2 {
            let err = client.campaign(pb::Blank {}).await.unwrap_err();
            assert_eq!(err.code(), tonic::Code::Unavailable, "{err}");
        }
    }

    #[test]
    fn addresses_and_names_are_checked_when_the_channel_is_made() {
        let tls = client_tls();
        assert!(DirectChannel::new("not an address", &tls, "node-1.nodes.coffer", Duration::from_secs(1)).is_err());
        assert!(DirectChannel::new("127.0.0.1:1", &tls, "bad name!", Duration::from_secs(1)).is_err());
    }
}
