//! One running coffer node: storage, Raft, the peer and client API servers
//! and background tasks, started and stopped together. A node whose Raft
//! core stops on an error stops serving on its own (`fail_stop`).

mod auto_unseal;
mod cert_renewal;
mod fail_stop;
#[cfg(feature = "fault-injection")]
mod faults;
mod join;
pub mod restore;
pub mod snapshots;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openraft::SnapshotPolicy;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::Server;

use crate::config::Config;
use crate::faults::Faults;
use crate::proto::raft::raft_service_server::RaftServiceServer;
use crate::raft::network::{NetworkFactory, MAX_MESSAGE_BYTES};
use crate::raft::service::PeerService;
use crate::raft::{NodeInfo, Raft};
use crate::replica::{anchor, purger, Replica};
use crate::storage;
use crate::tls::{self, ClientTls, Listener, NodeTls};

/// How long shutdown waits for requests in flight and background work.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How often the leader looks for expired soft-deleted objects.
const PURGE_EVERY: Duration = Duration::from_secs(60);

/// How often the leader anchors the audit chain (when records were added).
const ANCHOR_EVERY: Duration = Duration::from_secs(1);

/// Why a node could not start.
#[allow(missing_docs)] // each variant is described by its #[error] message
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("storage: {0}")]
    Storage(#[from] crate::storage::StorageError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("cannot create data dir: {0}")]
    DataDir(std::io::Error),
    #[error("raft: {0}")]
    Raft(String),
    #[error(transparent)]
    Seal(#[from] crate::seal::SealError),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("TLS files missing (all three must exist): {0}")]
    TlsMissing(String),
}

/// A running node. Dropping it without [`Node::shutdown`] leaves its tasks
/// running until the runtime ends.
pub struct Node {
    replica: Replica,
    api_addr: SocketAddr,
    raft_addr: SocketAddr,
    peer_connections: Arc<AtomicU64>,
    /// How far the Raft log is on disk (tests hold its syncs back).
    durable: Arc<storage::durable::Durable>,
    /// Breaks off the next snapshot install (tests).
    #[cfg(feature = "fault-injection")]
    install_fault: crate::faults::Install,
    stop: watch::Sender<bool>,
    /// Set if the node stopped on a failure of its own (see `fail_stop`).
    failed: watch::Receiver<Option<String>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Node {
    /// Starts a node.
    pub async fn start(config: Config) -> Result<Node, NodeError> {
        Self::launch(config, Faults::default()).await
    }

    /// Starts a node whose peer traffic obeys `faults` (no-ops without the
    /// `fault-injection` feature).
    async fn launch(config: Config, faults: Faults) -> Result<Node, NodeError> {
        config.validate()?;
        std::fs::create_dir_all(&config.data_dir).map_err(NodeError::DataDir)?;
        let local_seal = crate::seal::LocalSeal::from_config(&config.seal, &config.data_dir)?.map(Arc::new);
        let (log_store, state_machine, reader) = storage::open(&config.data_dir, config.node_id)?;
        let durable = log_store.durable();
        #[cfg(feature = "fault-injection")]
        let install_fault = state_machine.install_fault();
        let snapshot_keys = state_machine.snapshot_keys();
        let bind = |addr: SocketAddr| async move {
            let listener = TcpListener::bind(addr).await.map_err(|source| NodeError::Listen { addr, source })?;
            let local = listener.local_addr().map_err(|source| NodeError::Listen { addr, source })?;
            Ok::<_, NodeError>((listener, local))
        };
        let (api_listener, api_addr) = bind(config.api_listen).await?;
        let (raft_listener, raft_addr) = bind(config.raft_listen).await?;
        let info = NodeInfo {
            raft_addr: config.raft_advertise.clone().unwrap_or_else(|| raft_addr.to_string()),
            api_addr: config.api_advertise.clone().unwrap_or_else(|| api_addr.to_string()),
            region: config.region.clone(),
        };

        let tls =
            NodeTls::new(config.tls_files()).with_node_cert_ttl(Duration::from_secs(config.tls.node_cert_ttl_secs));
        if config.tls_managed() {
            tls.finish_staged()?;
        }
        tls.reload()?;
        let client_tls = ClientTls::node(tls.clone());
        let raft = Raft::new(
            config.node_id,
            Arc::new(raft_config(&config)?),
            NetworkFactory::new(config.node_id, faults.clone(), client_tls, durable.clone()),
            log_store,
            state_machine,
        )
        .await
        .map_err(|e| NodeError::Raft(e.to_string()))?;
        let initialized = raft.is_initialized().await.map_err(|e| NodeError::Raft(e.to_string()))?;
        if tls.current().is_none() {
            if !config.tls_managed() {
                return Err(NodeError::TlsMissing(format!("{:?}", tls.files())));
            }
            if config.bootstrap && !initialized {
                tls.create_cluster_ca(config.node_id, &tls::managed::hosts(&info.api_addr, &info.raft_addr))?;
            } else if config.join.is_none() {
                tracing::warn!(
                    dir = %config.data_dir.join("tls").display(),
                    "this node has no certificate: start it with --join and COFFER_JOIN_TOKEN, or configure [tls] files"
                );
            }
        }
        let seal_type = local_seal.as_ref().map_or("shamir", |s| s.kind());
        let replica =
            Replica::new(config.node_id, info, raft.clone(), reader, config.limits.clone(), seal_type, tls.clone());
        snapshot_keys.set(replica.snapshot_key_source());
        replica.set_audit_enabled(config.audit.enabled);
        replica.set_audit_retention_secs(i64::from(config.audit.retention_days) * 86_400);

        let (stop, stopped) = watch::channel(false);
        let (failing, failed) = watch::channel(None);
        let signal = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let peer_service =
            PeerService::new(raft.clone(), config.node_id, faults, Arc::new(replica.clone()), Arc::new(snapshot_keys));
        let peer = RaftServiceServer::new(peer_service)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let peer_connections = Arc::new(AtomicU64::new(0));
        let peer_incoming = tls::accept::incoming(raft_listener, tls.clone(), Listener::Peer, peer_connections.clone());
        let api_incoming = tls::accept::incoming(api_listener, tls.clone(), Listener::Api, Arc::default());
        let peer_server =
            Server::builder().add_service(peer).serve_with_incoming_shutdown(peer_incoming, signal(stopped.clone()));
        let api_server =
            crate::api::router(replica.clone()).serve_with_incoming_shutdown(api_incoming, signal(stopped.clone()));
        let mut tasks = vec![
            tokio::spawn(async move {
                if let Err(e) = peer_server.await {
                    tracing::error!(error = %e, "peer API server failed");
                }
            }),
            tokio::spawn(async move {
                if let Err(e) = api_server.await {
                    tracing::error!(error = %e, "client API server failed");
                }
            }),
            tokio::spawn(purger::run(replica.clone(), PURGE_EVERY)),
            tokio::spawn(anchor::run(replica.clone(), ANCHOR_EVERY)),
            tokio::spawn(reload_tls(tls.clone(), Duration::from_secs(config.tls.reload_secs))),
            tokio::spawn(snapshots::run(raft.clone(), config.node_id, config.raft.snapshot_after_logs)),
            tokio::spawn(fail_stop::watch(raft.clone(), stop.clone(), failing)),
        ];
        if let Some(path) = config.audit.file.clone() {
            let sink = crate::audit::sink::SinkConfig {
                path,
                max_bytes: config.audit.file_max_bytes,
                keep: config.audit.file_keep,
            };
            tasks.push(tokio::spawn(crate::audit::sink::run(replica.reader().clone(), sink)));
        }
        if let Some(seal) = local_seal {
            tasks.push(tokio::spawn(auto_unseal::run(replica.clone(), seal)));
        }
        if config.tls_managed() {
            tasks.push(tokio::spawn(cert_renewal::run(replica.clone())));
        }

        if !initialized {
            if config.bootstrap {
                replica.bootstrap().await.map_err(|e| NodeError::Raft(e.to_string()))?;
            } else if let Some(through) = config.join.clone() {
                replica.set_joining();
                tasks.push(tokio::spawn(join::run(replica.clone(), through, config.join_token.clone())));
            }
        }
        tracing::info!(node_id = config.node_id, %api_addr, %raft_addr, "node started");
        Ok(Node {
            replica,
            api_addr,
            raft_addr,
            peer_connections,
            durable,
            #[cfg(feature = "fault-injection")]
            install_fault,
            stop,
            failed,
            tasks,
        })
    }

    /// The replicated state as seen from this node.
    pub fn replica(&self) -> &Replica {
        &self.replica
    }

    /// Where the client API listens.
    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    /// Where the peer API listens.
    pub fn raft_addr(&self) -> SocketAddr {
        self.raft_addr
    }

    /// How many connections the peer API has accepted (diagnostics: peers
    /// keep theirs open, so this grows only when they reconnect).
    pub fn peer_connections_accepted(&self) -> u64 {
        self.peer_connections.load(Ordering::Relaxed)
    }

    /// Resolves, with the error, once the node has stopped serving because
    /// its Raft core stopped on an error (its log or state could not be
    /// written); pending for as long as that does not happen. The node
    /// still needs [`Node::shutdown`] to release its data directory.
    pub async fn failure(&self) -> String {
        let mut failed = self.failed.clone();
        let error = match failed.wait_for(Option::is_some).await {
            Ok(error) => error.clone().unwrap_or_default(),
            Err(_) => std::future::pending().await,
        };
        error
    }

    /// The last index of this node's Raft log known to be on disk.
    pub fn log_synced_through(&self) -> u64 {
        self.durable.synced()
    }

    /// Stops serving (letting requests in flight finish, up to a few
    /// seconds), stops Raft, and returns once the data directory is released.
    pub async fn shutdown(self) {
        let released = self.replica.reader().release_watch();
        let _ = self.stop.send(true);
        let mut tasks = self.tasks.into_iter();
        // The two servers first: a graceful stop closes client connections,
        // whose tasks would otherwise keep the node's state open.
        for server in tasks.by_ref().take(2) {
            let abort = server.abort_handle();
            if tokio::time::timeout(SHUTDOWN_GRACE, server).await.is_err() {
                abort.abort();
            }
        }
        if let Err(e) = self.replica.raft().shutdown().await {
            tracing::warn!(error = %e, "raft shutdown");
        }
        for task in tasks {
            task.abort();
            let _ = task.await;
        }
        drop(self.replica);
        // Background work (a snapshot being built) may hold the database a
        // little longer.
        let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        while !released.is_released() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if !released.is_released() {
            tracing::warn!("the database is still in use after shutdown");
        }
    }
}

/// Resolves with the id and error of the first of `nodes` to stop serving on
/// an error of its own (see [`Node::failure`]); pending while none does.
pub async fn first_failure<'a>(nodes: impl IntoIterator<Item = &'a Node>) -> (crate::raft::NodeId, String) {
    let failures: Vec<_> =
        nodes.into_iter().map(|n| Box::pin(async move { (n.replica().id(), n.failure().await) })).collect();
    if failures.is_empty() {
        return std::future::pending().await;
    }
    futures::future::select_all(failures).await.0
}

/// Picks up replaced certificate files: new connections use them.
async fn reload_tls(tls: NodeTls, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        match tls.reload() {
            Ok(true) => tracing::info!("TLS certificates reloaded"),
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "TLS certificates not reloaded; the previous ones stay in use"),
        }
    }
}

fn raft_config(config: &Config) -> Result<openraft::Config, NodeError> {
    let r = &config.raft;
    openraft::Config {
        cluster_name: "coffer".into(),
        heartbeat_interval: r.heartbeat_ms,
        election_timeout_min: r.election_timeout_min_ms,
        election_timeout_max: r.election_timeout_max_ms,
        // Built by `snapshots::run`, at this node's own turn.
        snapshot_policy: SnapshotPolicy::Never,
        max_in_snapshot_log_to_keep: r.keep_logs_after_snapshot,
        snapshot_max_chunk_size: 1 << 20,
        max_payload_entries: 64,
        install_snapshot_timeout: 10_000,
        ..Default::default()
    }
    .validate()
    .map_err(|e| NodeError::Raft(e.to_string()))
}
