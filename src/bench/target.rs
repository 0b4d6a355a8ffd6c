//! What a benchmark drives: a coffer cluster through the SDK, or an etcd
//! cluster through its gRPC KV API (for side-by-side comparisons with the
//! same workload shape), over TLS as in production or in plaintext.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

use crate::client::{Client, ClientError, ClientTls, ReadConsistency, SetSecret};
use crate::error_code::ErrorCode;
use crate::proto::etcd::{kv_client::KvClient, PutRequest, RangeRequest};

/// The system under test.
#[derive(Clone)]
pub enum Target {
    /// A coffer cluster.
    Coffer(Arc<Client>),
    /// An etcd cluster: one channel per member, used round-robin.
    Etcd(Arc<EtcdTarget>),
}

/// Channels to etcd's members.
pub struct EtcdTarget {
    endpoints: Vec<String>,
    tls: Option<ClientTls>,
    channels: Vec<Channel>,
    next: AtomicUsize,
}

impl EtcdTarget {
    /// Connects lazily to `endpoints` (`host:port` of etcd's client URLs),
    /// over TLS when `tls` says what to trust, else in plaintext.
    pub fn new(endpoints: &[String], tls: Option<ClientTls>) -> Result<Self, ClientError> {
        const TIMEOUT: Duration = Duration::from_secs(15);
        let channels = endpoints
            .iter()
            .map(|e| match &tls {
                Some(tls) => Ok(crate::tls::channel(e, tls, None, Duration::from_secs(2), Some(TIMEOUT))?),
                None => Endpoint::from_shared(format!("http://{e}"))
                    .map(|ep| ep.tcp_nodelay(true).timeout(TIMEOUT).connect_lazy())
                    .map_err(|_| ClientError::new(ErrorCode::InvalidArgument, format!("invalid endpoint '{e}'"))),
            })
            .collect::<Result<Vec<_>, ClientError>>()?;
        if channels.is_empty() {
            return Err(ClientError::new(ErrorCode::InvalidArgument, "no endpoints given"));
        }
        Ok(EtcdTarget { endpoints: endpoints.to_vec(), tls, channels, next: AtomicUsize::new(0) })
    }

    fn kv(&self) -> KvClient<Channel> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.channels.len();
        KvClient::new(self.channels[i].clone())
    }
}

fn etcd_err(s: tonic::Status) -> ClientError {
    ClientError::from(s)
}

impl Target {
    /// Another client of the same system with its own connections.
    pub fn independent(&self) -> Result<Target, ClientError> {
        Ok(match self {
            Target::Coffer(c) => Target::Coffer(Arc::new(c.independent())),
            Target::Etcd(e) => Target::Etcd(Arc::new(EtcdTarget::new(&e.endpoints, e.tls.clone())?)),
        })
    }

    /// Creates the namespace (coffer: the vault) if missing.
    pub async fn prepare_namespace(&self, vault: &str) -> Result<(), ClientError> {
        match self {
            Target::Coffer(c) => match c.create_vault(vault, 0, false).await {
                Err(e) if e.code() != ErrorCode::VaultAlreadyExists => Err(e),
                _ => Ok(()),
            },
            Target::Etcd(_) => Ok(()),
        }
    }

    /// Writes a new value of `key`.
    pub async fn write(&self, vault: &str, key: &str, value: &str) -> Result<(), ClientError> {
        match self {
            Target::Coffer(c) => c.set_secret(SetSecret::new(vault, key, value)).await.map(drop),
            Target::Etcd(e) => {
                let req = PutRequest {
                    key: format!("{vault}/{key}").into_bytes(),
                    value: value.as_bytes().to_vec(),
                    lease: 0,
                };
                e.kv().put(req).await.map(drop).map_err(etcd_err)
            }
        }
    }

    /// Reads `key`, linearizable or stale.
    pub async fn read(&self, vault: &str, key: &str, stale: bool) -> Result<(), ClientError> {
        match self {
            Target::Coffer(c) => {
                let consistency = if stale { ReadConsistency::Stale } else { ReadConsistency::Linearizable };
                c.get_secret(vault, key, None, consistency).await.map(drop)
            }
            Target::Etcd(e) => {
                let req = RangeRequest {
                    key: format!("{vault}/{key}").into_bytes(),
                    serializable: stale,
                    ..Default::default()
                };
                let resp = e.kv().range(req).await.map_err(etcd_err)?.into_inner();
                if resp.kvs.is_empty() {
                    return Err(ClientError::new(ErrorCode::SecretNotFound, "no such key"));
                }
                Ok(())
            }
        }
    }

    /// Lists the first page (25) of the namespace.
    pub async fn list(&self, vault: &str) -> Result<(), ClientError> {
        match self {
            Target::Coffer(c) => c.list_secrets(vault, 25, "", ReadConsistency::Linearizable).await.map(drop),
            Target::Etcd(e) => {
                let start = format!("{vault}/").into_bytes();
                let mut end = start.clone();
                if let Some(last) = end.last_mut() {
                    *last += 1;
                }
                let req = RangeRequest { key: start, range_end: end, limit: 25, ..Default::default() };
                e.kv().range(req).await.map(drop).map_err(etcd_err)
            }
        }
    }
}
