//! `coffer cluster …`

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::json;

use super::output;
use super::{CliError, CliResult, Format};
use crate::client::types as pb;
use crate::client::Client;

#[derive(Subcommand)]
pub enum ClusterCmd {
    /// Show leader, term, members, log and apply positions.
    Status,
    /// Bootstrap a new single-node cluster on the node at ADDR.
    Bootstrap { node: String },
    /// Add the node serving its client API at ADDR as a learner.
    AddLearner { node: String },
    /// Make learners voters.
    Promote { ids: Vec<u64> },
    /// Remove members.
    Remove { ids: Vec<u64> },
    /// Move leadership to the given node.
    TransferLeader { id: u64 },
    /// Save a snapshot of the whole cluster state to a file.
    Save { file: PathBuf },
    /// Create a single-use join token for a new node (root token). Start the
    /// node with `--join ADDR` and COFFER_JOIN_TOKEN set to it.
    JoinToken {
        /// Lifetime in seconds (at most a day).
        #[arg(long, default_value_t = 3600)]
        ttl: i64,
    },
    /// Offline: seed a new node's empty data dir from a saved snapshot; then
    /// start it with `coffer server --bootstrap` and join the others to it.
    /// The file is verified first with the saved cluster's key shares (a
    /// threshold of them on stdin, one per line).
    Restore {
        #[arg(long)]
        from: PathBuf,
        #[arg(long)]
        data_dir: PathBuf,
    },
}

pub async fn run(cmd: ClusterCmd, connect: impl FnOnce() -> CliResult<Client>, format: Format) -> CliResult {
    if let ClusterCmd::Restore { from, data_dir } = &cmd {
        let shares = super::operator::read_shares()?;
        let n = crate::node::restore::restore(data_dir, from, &shares)
            .map_err(|e| CliError::new(e.code(), e.to_string()))?;
        output::record(format, json!({ "restored_records": n, "data_dir": data_dir.display().to_string() }));
        return Ok(());
    }
    let client = connect()?;
    let status = match cmd {
        ClusterCmd::Status => client.cluster_status().await?,
        ClusterCmd::Bootstrap { node } => client.bootstrap(&node).await?,
        ClusterCmd::AddLearner { node } => client.add_learner(&node).await?,
        ClusterCmd::Promote { ids } => client.promote(ids).await?,
        ClusterCmd::Remove { ids } => client.remove_nodes(ids).await?,
        ClusterCmd::TransferLeader { id } => client.transfer_leader(id).await?,
        ClusterCmd::Save { file } => {
            let mut out = std::fs::File::create(&file)
                .map_err(|e| CliError::usage(format!("cannot create {}: {e}", file.display())))?;
            let bytes = client.save_snapshot(&mut out).await?;
            out.sync_all().map_err(|e| CliError::usage(format!("cannot write {}: {e}", file.display())))?;
            output::record(format, json!({ "snapshot": file.display().to_string(), "bytes": bytes }));
            return Ok(());
        }
        ClusterCmd::JoinToken { ttl } => {
            let (token, expires) = client.create_join_token(ttl).await?;
            output::record(format, json!({ "join_token": token.as_str(), "expires": expires }));
            return Ok(());
        }
        ClusterCmd::Restore { .. } => unreachable!("handled above"),
    };
    print_status(format, &status);
    Ok(())
}

fn opt(v: Option<u64>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

fn print_status(format: Format, s: &pb::ClusterStatus) {
    let members: Vec<_> = s
        .members
        .iter()
        .map(|m| {
            json!({
                "id": m.id, "role": m.role, "region": m.region,
                "api_addr": m.api_addr, "raft_addr": m.raft_addr,
                "matched_index": m.matched_index, "lag": m.lag,
            })
        })
        .collect();
    match format {
        Format::Json => output::json(&json!({
            "node_id": s.node_id,
            "leader_id": s.leader_id,
            "leader_api_addr": s.leader_api_addr,
            "term": s.term,
            "state": s.state,
            "last_log_index": s.last_log_index,
            "committed_index": s.committed_index,
            "applied_index": s.applied_index,
            "snapshot_index": s.snapshot_index,
            "cert_not_after": s.cert_not_after,
            "members": members,
        })),
        Format::Table => {
            outln!(
                "leader: {}  term: {}  last log: {}  committed: {}  applied: {}  (as seen by node {})",
                opt(s.leader_id),
                s.term,
                opt(s.last_log_index),
                opt(s.committed_index),
                opt(s.applied_index),
                s.node_id
            );
            let rows: Vec<Vec<String>> = s
                .members
                .iter()
                .map(|m| {
                    vec![
                        m.id.to_string(),
                        m.role.clone(),
                        m.region.clone(),
                        m.api_addr.clone(),
                        m.raft_addr.clone(),
                        opt(m.matched_index),
                        opt(m.lag),
                    ]
                })
                .collect();
            output::table(&["id", "role", "region", "api", "raft", "matched", "lag"], &rows);
            if let Some(t) = s.cert_not_after {
                outln!("node {}'s certificate is valid until {}", s.node_id, output::time(t));
            }
        }
    }
}
