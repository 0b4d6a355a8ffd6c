//! `coffer dev`: a local 3-node cluster in one process, for trying coffer
//! out. Data lives under the directory given (default `./coffer-dev`), so a
//! restart keeps the data; the default client address reaches it.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::server::wait_for_signal;
use super::{init_logging, write_private, CliError, CliResult};
use crate::client::Client;
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
    init_logging("warn");
    let fail = |e: String| CliError::new(ErrorCode::Unavailable, e);
    let mut nodes = Vec::new();
    for id in 1..=args.nodes {
        let offset = (id - 1) as u16;
        let config = Config {
            node_id: id,
            region: "local".into(),
            data_dir: args.dir.join(format!("node{id}")),
            api_listen: ([127, 0, 0, 1], args.port + offset).into(),
            raft_listen: ([127, 0, 0, 1], args.port + 100 + offset).into(),
            bootstrap: id == 1,
            join: (id > 1).then(|| format!("127.0.0.1:{}", args.port)),
            ..Config::default()
        };
        nodes.push(Node::start(config).await.map_err(|e| fail(format!("node {id}: {e}")))?);
    }
    let addrs: Vec<String> = nodes.iter().map(|n| n.api_addr().to_string()).collect();
    wait_for_voters(&addrs, args.nodes as usize).await.map_err(fail)?;
    let key_file = args.dir.join("unseal-key");
    unseal_all(&addrs, &key_file).await?;

    let dir = std::fs::canonicalize(&args.dir).unwrap_or(args.dir.clone());
    println!("coffer dev cluster is running: {} nodes, data in {}", args.nodes, dir.display());
    for (i, n) in nodes.iter().enumerate() {
        println!("  node {}: client API {}  peer API {}", i + 1, n.api_addr(), n.raft_addr());
    }
    println!();
    println!("In another shell (the default address reaches this cluster):");
    println!("  coffer vault create demo");
    println!("  printf 's3cret' | coffer secret set demo db-password");
    println!("  coffer secret get demo db-password");
    println!("  coffer cluster status");
    println!();
    println!(
        "Commands run from this directory use the root token in {} by default;",
        args.dir.join("root-token").display()
    );
    println!("elsewhere: export COFFER_TOKEN=$(cat {})", dir.join("root-token").display());
    println!();
    println!("This is a development cluster: its single unseal key and root token are stored in");
    println!("plaintext beside the data, and there is no TLS yet. Ctrl-C stops it.");
    wait_for_signal().await;
    println!("stopping");
    for n in nodes {
        n.shutdown().await;
    }
    Ok(())
}

/// Dev only: initializes with a single key share kept in a plaintext file
/// beside the data, and unseals every node with it.
async fn unseal_all(addrs: &[String], key_file: &std::path::Path) -> CliResult {
    let client = Client::new(addrs.iter().cloned())?;
    let status = client.seal_status(&addrs[0]).await?;
    let share = if status.initialized {
        let text = std::fs::read_to_string(key_file).map_err(|e| {
            CliError::usage(format!(
                "the dev cluster is initialized but {} is unreadable ({e}); unseal with `coffer operator unseal`",
                key_file.display()
            ))
        })?;
        zeroize::Zeroizing::new(text.trim().to_owned())
    } else {
        let mut init = client.operator_init(1, 1).await?;
        let share = init.shares.remove(0);
        write_private(key_file, share.as_str())?;
        write_private(&key_file.with_file_name("root-token"), init.root_token.as_str())?;
        share
    };
    for addr in addrs {
        client.unseal(addr, &share).await?;
    }
    Ok(())
}

async fn wait_for_voters(addrs: &[String], want: usize) -> Result<(), String> {
    let client = Client::new(addrs.iter().cloned()).map_err(|e| e.to_string())?;
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
