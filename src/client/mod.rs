//! The Rust client SDK.
//!
//! ```no_run
//! # async fn demo() -> Result<(), coffer::client::ClientError> {
//! use coffer::client::Client;
//! use coffer::client::ClientTls;
//! let tls = ClientTls::from_files("coffer-dev/tls/ca.pem".as_ref(), None)?; // the cluster CA
//! let client = Client::new(["127.0.0.1:7701", "127.0.0.1:7702", "127.0.0.1:7703"])?
//!     .with_tls(tls)
//!     .with_token(std::env::var("COFFER_TOKEN").unwrap_or_default());
//! client.create_vault("payments", 0, false).await?;
//! client.set_secret(coffer::client::SetSecret::new("payments", "db-password", "s3cret")).await?;
//! let secret = client.get_secret("payments", "db-password", None, Default::default()).await?;
//! assert_eq!(secret.value, "s3cret");
//! # Ok(()) }
//! ```
//!
//! A [`Client`] takes a list of node endpoints, finds the leader (following
//! `NotLeader` answers), retries reads across leader changes and retries
//! writes only when the request certainly did not reach a server. Every
//! error has a stable [`crate::error_code::ErrorCode`].

mod audit;
mod cluster;
mod error;
mod operator;
mod pki;
mod rbac;
mod secrets;
mod tokens;
mod vaults;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tonic::transport::Channel;

pub use error::{ClientError, Result};
pub use operator::InitResult;
pub use pki::IssuedCertificate;
pub use secrets::SetSecret;

pub use crate::tls::ClientTls;

use crate::error_code::ErrorCode;
/// Request and response types of the client API.
pub use crate::proto::api as types;

/// How fresh a read must be.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReadConsistency {
    /// Confirmed by the leader with a quorum (default).
    #[default]
    Linearizable,
    /// Served by whichever node answers; may lag behind.
    Stale,
}

impl ReadConsistency {
    fn to_pb(self) -> Option<types::ReadOptions> {
        let consistency = match self {
            ReadConsistency::Linearizable => types::Consistency::Linearizable,
            ReadConsistency::Stale => types::Consistency::Stale,
        };
        Some(types::ReadOptions { consistency: consistency as i32 })
    }
}

/// Whether a call may be sent again after an unknown outcome.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Reads: any failure that another node may not have is retried.
    Idempotent,
    /// Writes: retried only when the request certainly did not execute.
    IfNotSent,
}

/// Adds the bearer token (and a correlation id) to every request.
#[derive(Clone, Default)]
pub(crate) struct Bearer {
    token: Option<tonic::metadata::AsciiMetadataValue>,
    correlation_id: Option<tonic::metadata::AsciiMetadataValue>,
}

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> std::result::Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.token {
            req.metadata_mut().insert("authorization", v.clone());
        }
        if let Some(v) = &self.correlation_id {
            req.metadata_mut().insert("x-correlation-id", v.clone());
        }
        Ok(req)
    }
}

/// Connections a client keeps to each node: a server handles each
/// connection's TLS and HTTP/2 framing on one task, so one connection
/// caps what many calls in flight can use of a node. A call alone in
/// flight always takes the first, which is then warm.
const CONNECTIONS_PER_NODE: usize = 2;

/// A channel that authenticates its requests.
pub(crate) type Transport = tonic::service::interceptor::InterceptedService<Channel, Bearer>;

/// A connection to a coffer cluster (share it; it is `Send + Sync`).
pub struct Client {
    /// `Bearer <token>`, marked sensitive so it never prints.
    bearer: Bearer,
    endpoints: Mutex<Vec<String>>,
    leader: Mutex<Option<String>>,
    channels: Mutex<HashMap<String, [Channel; CONNECTIONS_PER_NODE]>>,
    /// Which of a node's connections the next call takes when others are
    /// in flight.
    turn: AtomicUsize,
    /// Calls in flight (see [`Client::run`]).
    in_flight: AtomicUsize,
    /// How long a call keeps retrying across nodes before giving up.
    deadline: Duration,
    /// What to trust, and the client certificate if any.
    tls: Option<ClientTls>,
}

impl Client {
    /// A client for the cluster reachable at `endpoints` (`host:port`).
    pub fn new<S: Into<String>>(endpoints: impl IntoIterator<Item = S>) -> Result<Self> {
        let endpoints: Vec<String> = endpoints.into_iter().map(Into::into).filter(|e| !e.is_empty()).collect();
        if endpoints.is_empty() {
            return Err(ClientError::new(ErrorCode::InvalidArgument, "no endpoints given"));
        }
        Ok(Client {
            bearer: Bearer::default(),
            endpoints: Mutex::new(endpoints),
            leader: Mutex::new(None),
            channels: Mutex::new(HashMap::new()),
            turn: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            deadline: Duration::from_secs(20),
            tls: None,
        })
    }

    /// Connects with TLS as `tls` says: the CA to trust and, optionally, a
    /// client certificate that authenticates requests without a token.
    pub fn with_tls(mut self, tls: ClientTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The TLS settings given with [`Client::with_tls`].
    pub fn tls(&self) -> Option<&ClientTls> {
        self.tls.as_ref()
    }

    /// Authenticates every request with `token` (`cof_…`).
    pub fn with_token(mut self, token: impl AsRef<str>) -> Self {
        let value = tonic::metadata::AsciiMetadataValue::try_from(format!("Bearer {}", token.as_ref().trim()))
            .map(|mut v| {
                v.set_sensitive(true);
                v
            })
            .ok();
        self.bearer.token = value;
        self
    }

    /// Sends `id` as the `x-correlation-id` of every request; audit records
    /// carry it (at most 128 printable characters).
    pub fn with_correlation_id(mut self, id: impl AsRef<str>) -> Self {
        self.bearer.correlation_id = tonic::metadata::AsciiMetadataValue::try_from(id.as_ref()).ok();
        self
    }

    /// Sets how long a call keeps retrying across nodes (default 20 s).
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// A client with this one's settings and known leader but its own
    /// connections (for spreading load over several connections).
    pub fn independent(&self) -> Client {
        Client {
            bearer: self.bearer.clone(),
            endpoints: Mutex::new(self.endpoints()),
            leader: Mutex::new(lock(&self.leader).clone()),
            channels: Mutex::new(HashMap::new()),
            turn: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            deadline: self.deadline,
            tls: self.tls.clone(),
        }
    }

    /// The endpoints this client knows.
    pub fn endpoints(&self) -> Vec<String> {
        lock(&self.endpoints).clone()
    }

    pub(crate) fn channel(&self, addr: &str) -> Result<Transport> {
        Ok(Transport::new(self.raw_channel(addr)?, self.bearer.clone()))
    }

    fn raw_channel(&self, addr: &str) -> Result<Channel> {
        let turn = match self.in_flight.load(Ordering::Relaxed) {
            0 | 1 => 0,
            _ => self.turn.fetch_add(1, Ordering::Relaxed) % CONNECTIONS_PER_NODE,
        };
        let mut channels = lock(&self.channels);
        if let Some(c) = channels.get(addr) {
            return Ok(c[turn].clone());
        }
        let tls = self.tls.as_ref().ok_or_else(|| {
            ClientError::new(
                ErrorCode::InvalidArgument,
                "no CA to trust: set COFFER_CACERT (the cluster CA certificate) or use Client::with_tls",
            )
        })?;
        let open = || crate::tls::channel(addr, tls, None, Duration::from_secs(2), Some(Duration::from_secs(15)));
        let pool: [Channel; CONNECTIONS_PER_NODE] = [open()?, open()?];
        let channel = pool[turn].clone();
        channels.insert(addr.to_owned(), pool);
        Ok(channel)
    }

    /// Endpoints in the order to try them: the known leader first.
    fn candidates(&self) -> Vec<String> {
        let mut list = self.endpoints();
        if let Some(l) = lock(&self.leader).clone() {
            list.retain(|e| *e != l);
            list.insert(0, l);
        }
        list
    }

    fn learn_leader(&self, leader: &str) {
        let mut eps = lock(&self.endpoints);
        if !eps.iter().any(|e| e == leader) {
            eps.push(leader.to_owned());
        }
        *lock(&self.leader) = Some(leader.to_owned());
    }

    /// Runs `call` against the cluster, following leader hints and retrying
    /// according to `retry` until the client's deadline.
    async fn run<T, F, Fut>(&self, retry: Retry, call: F) -> Result<T>
    where
        F: Fn(Transport) -> Fut,
        Fut: Future<Output = std::result::Result<T, tonic::Status>>,
    {
        let _in_flight = InFlight::enter(&self.in_flight);
        let start = Instant::now();
        let mut backoff = Duration::from_millis(50);
        let mut hops = 0u32;
        loop {
            let mut last = None;
            for addr in self.candidates() {
                let result = call(self.channel(&addr)?).await.map_err(ClientError::from);
                let err = match result {
                    Ok(v) => {
                        *lock(&self.leader) = Some(addr);
                        return Ok(v);
                    }
                    Err(e) => e,
                };
                let retriable = match err.code() {
                    // Refused before anything was done: another node may answer.
                    ErrorCode::NotLeader
                    | ErrorCode::NoLeader
                    | ErrorCode::NotInitialized
                    | ErrorCode::InstallingSnapshot => true,
                    ErrorCode::Unavailable | ErrorCode::Timeout => retry == Retry::Idempotent || err.not_sent,
                    _ => false,
                };
                if !retriable {
                    return Err(err);
                }
                if let Some(leader) = err.leader.clone() {
                    self.learn_leader(&leader);
                    last = Some(err);
                    break;
                }
                if lock(&self.leader).as_deref() == Some(addr.as_str()) {
                    *lock(&self.leader) = None;
                }
                last = Some(err);
            }
            let err = last.unwrap_or_else(|| ClientError::new(ErrorCode::Unavailable, "no endpoint answered"));
            if start.elapsed() + backoff > self.deadline {
                return Err(err);
            }
            // Follow the first leader hint at once; anything else waits, so
            // an election in progress is not hammered.
            hops += 1;
            if err.leader.is_none() || hops > 1 {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// Counts a call in flight until dropped.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn enter(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        InFlight(count)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::pki::new_ca;

    #[tokio::test]
    async fn calls_are_counted_in_flight_only_while_they_run_even_when_they_fail() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let tls = ClientTls::new(&new_ca("test CA").unwrap().cert_pem, None).unwrap();
        let client =
            Client::new([format!("127.0.0.1:{port}")]).unwrap().with_tls(tls).with_deadline(Duration::from_millis(200));
        let calls = [client.get_vault("v", ReadConsistency::Stale), client.get_vault("w", ReadConsistency::Stale)];
        let mut calls = calls.map(Box::pin);
        // Both started: a second call in flight spreads over the connections.
        for call in &mut calls {
            assert!(futures::poll!(call.as_mut()).is_pending());
        }
        assert_eq!(client.in_flight.load(Ordering::Relaxed), 2);
        for call in calls {
            assert_eq!(call.await.unwrap_err().code(), ErrorCode::Unavailable);
        }
        assert_eq!(client.in_flight.load(Ordering::Relaxed), 0);
    }
}
