//! In-process clusters on 127.0.0.1 for integration tests: real nodes (RocksDB,
//! gRPC peer and client APIs) with fault injection (kill, restart, wipe,
//! isolate, delay).

#![allow(dead_code)]

#[cfg(not(feature = "fault-injection"))]
compile_error!("the tests need coffer's `fault-injection` feature, which Cargo.toml turns on for test builds");

pub mod pki;
pub mod process;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use coffer::client::{Client, ReadConsistency};
use coffer::config::Config;
use coffer::faults::Faults;
use coffer::node::Node;
use tempfile::TempDir;

/// A cluster of in-process nodes.
pub struct TestCluster {
    pub dir: TempDir,
    pub faults: Faults,
    configs: BTreeMap<u64, Config>,
    nodes: BTreeMap<u64, Node>,
    /// The single Shamir share of the root key (1-of-1 in tests).
    pub share: String,
    /// The initial root token.
    pub root_token: String,
}

/// Fast Raft timings so elections finish quickly in tests.
pub fn test_config(id: u64, dir: &std::path::Path) -> Config {
    let mut c = Config {
        node_id: id,
        region: format!("region-{}", (id - 1) % 3 + 1),
        data_dir: dir.join(format!("node{id}")),
        api_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        raft_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..Config::default()
    };
    c.raft.heartbeat_ms = 50;
    c.raft.election_timeout_min_ms = 300;
    c.raft.election_timeout_max_ms = 600;
    pki::pki().configure_node(&mut c, dir);
    c
}

/// Runs `f` on a stopped node's data until it succeeds: a node stopped in
/// the middle of background work (a snapshot being built) may hold its
/// database past `kill`'s grace. Fails after 15 s with `f`'s error.
pub async fn once_unlocked<T, E: std::fmt::Display>(what: &str, mut f: impl FnMut() -> Result<T, E>) -> T {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match f() {
            Ok(v) => return v,
            Err(e) => assert!(Instant::now() < deadline, "{what}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A client of `addrs` trusting the test CA (no credential).
pub fn client_for<S: Into<String>>(addrs: impl IntoIterator<Item = S>) -> Client {
    Client::new(addrs).expect("client").with_tls(pki::pki().client_tls())
}

impl TestCluster {
    /// Starts `n` nodes, bootstraps node 1 and joins the others as voters.
    pub async fn start(n: u64) -> TestCluster {
        Self::start_with(n, |_| {}).await
    }

    /// Like `start`, with each node's config adjusted by `tweak`.
    pub async fn start_with(n: u64, tweak: impl Fn(&mut Config)) -> TestCluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cluster = TestCluster {
            dir,
            faults: Faults::default(),
            configs: BTreeMap::new(),
            nodes: BTreeMap::new(),
            share: String::new(),
            root_token: String::new(),
        };
        for id in 1..=n {
            let mut c = test_config(id, cluster.dir.path());
            c.bootstrap = id == 1;
            tweak(&mut c);
            cluster.configs.insert(id, c);
            cluster.boot(id).await;
        }
        let leader = cluster.node(1).replica().clone();
        leader.wait_for_leader(Duration::from_secs(10)).await.expect("leader");
        for id in 2..=n {
            let info = cluster.node(id).replica().info().clone();
            leader.add_learner(id, info).await.expect("add learner");
        }
        if n > 1 {
            leader.promote((2..=n).collect()).await.expect("promote");
        }
        let init = leader.init_security(1, 1).await.expect("init security");
        cluster.share = init.shares[0].to_string();
        cluster.root_token = init.root_token.to_string();
        for id in 2..=n {
            cluster.unseal(id).await;
        }
        cluster
    }

    /// Unseals node `id` once it holds the security record.
    pub async fn unseal(&self, id: u64) {
        let replica = self.node(id).replica();
        let deadline = Instant::now() + Duration::from_secs(20);
        while replica.security_record().expect("read").is_none() {
            assert!(Instant::now() < deadline, "node {id} never received the keyring");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        replica.unseal(&self.share).expect("unseal");
    }

    /// Starts node `id` from its config; pins its ports so restarts reuse them.
    async fn boot(&mut self, id: u64) {
        let config = self.configs[&id].clone();
        let deadline = Instant::now() + Duration::from_secs(15);
        let node = loop {
            // A just-stopped node may still be releasing its database lock.
            match Node::start_with_faults(config.clone(), self.faults.clone()).await {
                Ok(node) => break node,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("node {id} not started yet: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("node {id} failed to start: {e}"),
            }
        };
        let c = self.configs.get_mut(&id).expect("config");
        c.api_listen = node.api_addr();
        c.raft_listen = node.raft_addr();
        c.bootstrap = false;
        self.nodes.insert(id, node);
    }

    /// Starts an extra node `id` that is not (yet) a member.
    pub async fn spawn_node(&mut self, id: u64, tweak: impl Fn(&mut Config)) {
        let mut c = test_config(id, self.dir.path());
        tweak(&mut c);
        self.configs.insert(id, c);
        self.boot(id).await;
    }

    pub fn node(&self, id: u64) -> &Node {
        self.nodes.get(&id).unwrap_or_else(|| panic!("node {id} is not running"))
    }

    pub fn running(&self) -> Vec<u64> {
        self.nodes.keys().copied().collect()
    }

    pub fn data_dir(&self, id: u64) -> std::path::PathBuf {
        self.configs[&id].data_dir.clone()
    }

    pub fn api_addr(&self, id: u64) -> String {
        self.configs[&id].api_listen.to_string()
    }

    /// A root client that knows every node (running or not).
    pub fn client(&self) -> Client {
        self.anonymous_client().with_token(&self.root_token)
    }

    /// A client without credentials.
    pub fn anonymous_client(&self) -> Client {
        client_for(self.configs.keys().map(|id| self.api_addr(*id)))
    }

    /// A root client that only knows node `id`.
    pub fn client_of(&self, id: u64) -> Client {
        client_for([self.api_addr(id)]).with_token(&self.root_token)
    }

    /// Waits until the running nodes agree on a leader among them.
    pub async fn leader(&self) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let views: Vec<Option<u64>> =
                self.nodes.values().map(|n| n.replica().raft().metrics().borrow().current_leader).collect();
            if let Some(Some(l)) = views.first() {
                if self.nodes.contains_key(l) && views.iter().all(|v| *v == Some(*l)) {
                    return *l;
                }
            }
            assert!(Instant::now() < deadline, "no agreed leader: {views:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops node `id` abruptly (its data stays).
    pub async fn kill(&mut self, id: u64) {
        let node = self.nodes.remove(&id).expect("running");
        node.shutdown().await;
    }

    /// Kills node `id` as a power cut would: its Raft log loses the appends
    /// not yet synced. Hold its syncs first (`Node::hold_log_syncs`), so that
    /// what is synced cannot change meanwhile. Returns the last index kept.
    pub async fn crash_losing_unsynced(&mut self, id: u64) -> u64 {
        let through = self.node(id).log_synced_through();
        self.kill(id).await;
        let dir = &self.configs[&id].data_dir;
        once_unlocked(&format!("node {id}'s log"), || coffer::storage::lose_log_after(dir, through)).await;
        through
    }

    /// Restarts a killed node from its data dir, leaving it sealed.
    pub async fn restart_sealed(&mut self, id: u64) {
        self.boot(id).await;
    }

    /// Waits until node `id` is unsealed (by its local seal).
    pub async fn wait_unsealed(&self, id: u64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let st = self.node(id).replica().seal_status().expect("status");
            if !st.sealed {
                return;
            }
            assert!(Instant::now() < deadline, "node {id} stayed sealed: {:?}", st.seal_error);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Restarts a killed node from its data dir and unseals it.
    pub async fn restart(&mut self, id: u64) {
        self.boot(id).await;
        self.unseal(id).await;
    }

    /// Kills node `id`, deletes its whole data dir and starts it empty.
    pub async fn wipe(&mut self, id: u64) {
        if self.nodes.contains_key(&id) {
            self.kill(id).await;
        }
        // A snapshot being written as the node stopped may still add a file.
        let dir = &self.configs[&id].data_dir;
        let mut tries = 0;
        while let Err(e) = std::fs::remove_dir_all(dir) {
            tries += 1;
            assert!(tries < 50 && dir.exists(), "wipe: {e}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.boot(id).await;
        self.unseal(id).await;
    }

    /// Waits until node `id` has applied at least `index`.
    pub async fn wait_applied(&self, id: u64, index: u64) {
        let raft = self.node(id).replica().raft();
        raft.wait(Some(Duration::from_secs(30)))
            .applied_index_at_least(Some(index), "caught up")
            .await
            .unwrap_or_else(|e| panic!("node {id} did not apply {index}: {e}"));
    }

    /// Node `id`'s last applied index.
    pub fn applied(&self, id: u64) -> u64 {
        self.node(id).replica().raft().metrics().borrow().last_applied.map_or(0, |l| l.index)
    }

    /// The leader's last applied index.
    pub async fn applied_on_leader(&self) -> u64 {
        self.applied(self.leader().await)
    }

    pub async fn shutdown(mut self) {
        for id in self.running() {
            self.kill(id).await;
        }
    }
}

/// Reads a secret from one node's local state (stale read).
pub async fn stale_value(cluster: &TestCluster, node: u64, vault: &str, name: &str) -> Option<String> {
    cluster.client_of(node).get_secret(vault, name, None, ReadConsistency::Stale).await.ok().map(|s| s.value)
}
