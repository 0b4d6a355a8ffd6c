//! The server side: TCP connections accepted, TLS handshakes done
//! concurrently (a slow client cannot hold up others), and the verified
//! peer identity attached to every request on the connection.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;

use super::coalesce::Coalesced;
use super::identity::CertIdentity;
use super::material::NodeTls;

/// A handshake that takes longer than this is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Which listener a connection arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// The peer (Raft) API: node certificates required.
    Peer,
    /// The client API: client certificates optional.
    Api,
}

/// What a request knows about its connection (in the request extensions).
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The client's address.
    pub remote: Option<SocketAddr>,
    /// Who the client's certificate names, if it presented one.
    pub identity: Option<CertIdentity>,
}

/// An accepted, handshaken TLS connection.
pub struct TlsConn {
    /// Writes go out once per flush (see [`super::coalesce`]).
    stream: Coalesced<TlsStream<TcpStream>>,
    info: ConnInfo,
}

impl Connected for TlsConn {
    type ConnectInfo = ConnInfo;

    fn connect_info(&self) -> ConnInfo {
        self.info.clone()
    }
}

impl AsyncRead for TlsConn {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The connections of `listener` as a stream for
/// `Server::serve_with_incoming`. Accepting stops (and the port closes)
/// when the server drops the stream. Until the node has TLS material,
/// connections are closed at once. `count` counts the TCP connections
/// accepted.
pub fn incoming(
    listener: TcpListener,
    tls: NodeTls,
    which: Listener,
    count: Arc<AtomicU64>,
) -> ReceiverStream<io::Result<TlsConn>> {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = tx.closed() => return,
            };
            let (tcp, remote) = match accepted {
                Ok(a) => {
                    count.fetch_add(1, Ordering::Relaxed);
                    a
                }
                Err(e) => {
                    tracing::debug!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Some(loaded) = tls.current() else {
                tracing::debug!(%remote, "connection refused: this node has no certificate yet");
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let tx = tx.clone();
            tokio::spawn(async move {
                let config = match which {
                    Listener::Peer => loaded.peer_server.clone(),
                    Listener::Api => loaded.api_server.clone(),
                };
                let handshake = TlsAcceptor::from(config).accept(tcp);
                let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::info!(%remote, listener = ?which, error = %e, "TLS handshake refused");
                        return;
                    }
                    Err(_) => {
                        tracing::info!(%remote, listener = ?which, "TLS handshake timed out");
                        return;
                    }
                };
                let identity = stream.get_ref().1.peer_certificates().and_then(|chain| loaded.identity(chain));
                let info = ConnInfo { remote: Some(remote), identity };
                let _ = tx.send(Ok(TlsConn { stream: Coalesced::server(stream), info })).await;
            });
        }
    });
    ReceiverStream::new(rx)
}
