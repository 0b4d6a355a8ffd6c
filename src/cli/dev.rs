//! `coffer dev`: a local 3-node cluster in one process, for trying coffer
//! out. Data lives under the directory given (default `./coffer-dev`), so a
//! restart keeps the data; the default client address reaches it.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use zeroize::Zeroizing;

use super::server::wait_for_signal;
use super::{init_logging, write_private, CliError, CliResult};
use crate::client::{Client, ClientTls};
use crate::config::Config;
use crate::error_code::ErrorCode;
use crate::node::Node;

/// Flags of `coffer dev`.
#[derive(Args)]
pub struct DevArgs {
    /// Where the nodes keep their data.
    #[arg(long, default_value = "coffer-dev")]
    dir: PathBuf,
    /// Number of nodes.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=9))]
    nodes: u64,
    /// Client API port of node 1; node N listens on port + N - 1, and its
    /// peer API 100 above.
    #[arg(long, default_value_t = 7701)]
    port: u16,
}

pub async fn run(args: DevArgs) -> CliResult {
    init_logging("warn,openraft=off");
    let fail = |e: String| CliError::new(ErrorCode::Unavailable, e);
    let config = |id: u64| {
        let offset = (id - 1) as u16;
        Config {
            node_id: id,
            region: "local".into(),
            data_dir: args.dir.join(format!("node{id}")),
            api_listen: ([127, 0, 0, 1], args.port + offset).into(),
            raft_listen: ([127, 0, 0, 1], args.port + 100 + offset).into(),
            bootstrap: id == 1,
            join: (id > 1).then(|| format!("127.0.0.1:{}", args.port)),
            ..Config::default()
        }
    };
    // Node 1 creates the cluster and its CA; init seals the CA into the
    // cluster; the others join with join tokens and receive certificates.
    let first = Node::start(config(1)).await.map_err(|e| fail(format!("node 1: {e}")))?;
    let ca = args.dir.join("node1/tls/ca.pem");
    let dev_ca = args.dir.join("tls/ca.pem");
    std::fs::create_dir_all(args.dir.join("tls"))
        .and_then(|()| std::fs::copy(&ca, &dev_ca).map(drop))
        .map_err(|e| CliError::usage(format!("cannot copy the cluster CA to {}: {e}", dev_ca.display())))?;
    let tls = ClientTls::from_files(&dev_ca, None).map_err(|e| CliError::new(e.code(), e.to_string()))?;
    let key_file = args.dir.join("unseal-key");
    let share = init_once(&first.api_addr().to_string(), &tls, &key_file).await?;
    let mut nodes = vec![first];
    for id in 2..=args.nodes {
        let mut c = config(id);
        if !crate::tls::TlsFiles::managed(&c.data_dir).cert.exists() {
            let root = std::fs::read_to_string(args.dir.join("root-token")).unwrap_or_default();
            let client = Client::new([nodes[0].api_addr().to_string()])?.with_tls(tls.clone()).with_token(root.trim());
            let (token, _) = client.create_join_token(600).await?;
            c.join_token = crate::config::JoinToken::new(&token);
        }
        nodes.push(Node::start(c).await.map_err(|e| fail(format!("node {id}: {e}")))?);
    }
    let addrs: Vec<String> = nodes.iter().map(|n| n.api_addr().to_string()).collect();
    wait_for_voters(&addrs, &tls, args.nodes as usize).await.map_err(fail)?;
    unseal_all(&addrs, &tls, &share).await?;

    let dir = std::fs::canonicalize(&args.dir).unwrap_or(args.dir.clone());
    outln!("coffer dev cluster is running: {} nodes, data in {}", args.nodes, dir.display());
    for (i, n) in nodes.iter().enumerate() {
        outln!("  node {}: client API {}  peer API {}", i + 1, n.api_addr(), n.raft_addr());
    }
    outln!();
    outln!("In another shell (the default address reaches this cluster):");
    outln!("  coffer vault create demo");
    outln!("  printf 's3cret' | coffer secret set demo db-password");
    outln!("  coffer secret get demo db-password");
    outln!("  coffer cluster status");
    outln!();
    outln!(
        "Commands run from this directory use {} and {} by default;",
        args.dir.join("root-token").display(),
        args.dir.join("tls/ca.pem").display()
    );
    outln!("elsewhere: export COFFER_TOKEN=$(cat {})", dir.join("root-token").display());
    outln!("           export COFFER_CACERT={}  (the cluster CA; TLS is always on)", dir.join("tls/ca.pem").display());
    outln!();
    outln!("This is a development cluster: its single unseal key and root token are stored in");
    outln!("plaintext beside the data. Ctrl-C stops it.");
    // One node failing stops them all: a dev cluster is not left half-working.
    let failure = tokio::select! {
        () = wait_for_signal() => None,
        failed = crate::node::first_failure(&nodes) => Some(failed),
    };
    outln!("stopping");
    for n in nodes {
        n.shutdown().await;
    }
    match failure {
        Some((id, error)) => Err(CliError::new(ErrorCode::Storage, format!("node {id} stopped on an error: {error}"))),
        None => Ok(()),
    }
}

/// Dev only: initializes with a single key share kept in a plaintext file
/// beside the data (and the root token beside it), or reads that share.
async fn init_once(addr: &str, tls: &ClientTls, key_file: &std::path::Path) -> CliResult<Zeroizing<String>> {
    let client = Client::new([addr.to_owned()])?.with_tls(tls.clone());
    let mut status = client.seal_status(addr).await;
    for _ in 0..100 {
        if status.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        status = client.seal_status(addr).await;
    }
    if status?.initialized {
        let text = std::fs::read_to_string(key_file).map_err(|e| {
            CliError::usage(format!(
                "the dev cluster is initialized but {} is unreadable ({e}); unseal with `coffer operator unseal`",
                key_file.display()
            ))
        })?;
        return Ok(Zeroizing::new(text.trim().to_owned()));
    }
    let mut init = client.operator_init(1, 1).await?;
    let share = init.shares.remove(0);
    write_private(key_file, share.as_str())?;
    write_private(&key_file.with_file_name("root-token"), init.root_token.as_str())?;
    Ok(share)
}

/// Unseals every node with the dev share.
async fn unseal_all(addrs: &[String], tls: &ClientTls, share: &str) -> CliResult {
    let client = Client::new(addrs.iter().cloned())?.with_tls(tls.clone());
    for addr in addrs {
        client.unseal(addr, share).await?;
    }
    Ok(())
}

async fn wait_for_voters(addrs: &[String], tls: &ClientTls, want: usize) -> Result<(), String> {
    let client = Client::new(addrs.iter().cloned()).map_err(|e| e.to_string())?.with_tls(tls.clone());
    for _ in 0..300 {
        if let Ok(st) = client.cluster_status().await {
            let voters = st.members.iter().filter(|m| m.role != "learner").count();
            if st.leader_id.is_some() && voters == want {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("the dev cluster did not form within 30 s".into())
}
