//! `coffer operator …`: initialize, unseal, seal, rotate, rekey, rewrap. Key
//! shares are read from stdin, never from arguments.

use std::io::BufRead;

use clap::Subcommand;
use serde_json::json;

use super::{output, CliError, CliResult, Format};
use crate::client::types as pb;
use crate::client::Client;

#[derive(Subcommand)]
pub enum OperatorCmd {
    /// Create the root key (split into Shamir shares) and the keyring. Prints
    /// the shares once.
    Init {
        #[arg(long, default_value_t = 5)]
        key_shares: u32,
        #[arg(long, default_value_t = 3)]
        key_threshold: u32,
    },
    /// Submit key shares (one per line on stdin) to a node, or to every node
    /// of --addr when --node is not given.
    Unseal {
        #[arg(long)]
        node: Option<String>,
        /// Discard the shares submitted so far instead.
        #[arg(long)]
        reset: bool,
    },
    /// Drop a node's keys from memory (every node of --addr without --node).
    Seal {
        #[arg(long)]
        node: Option<String>,
    },
    /// Show each node's seal status.
    Status {
        #[arg(long)]
        node: Option<String>,
    },
    /// Add a new data key term; new writes use it.
    Rotate,
    /// Replace the root key and its shares. A threshold of the current shares
    /// is read from stdin, one per line; the new shares are printed once.
    Rekey {
        #[arg(long, default_value_t = 5)]
        key_shares: u32,
        #[arg(long, default_value_t = 3)]
        key_threshold: u32,
    },
    /// Re-encrypt everything still under older data key terms (secret
    /// versions, also of deleted secrets, and the cluster CA key); prints
    /// the counts by kind.
    Rewrap,
}

fn nodes(client: &Client, node: Option<String>) -> Vec<String> {
    node.map(|n| vec![n]).unwrap_or_else(|| client.endpoints())
}

fn status_json(s: &pb::SealStatus, addr: &str) -> serde_json::Value {
    json!({
        "node": addr, "node_id": s.node_id, "initialized": s.initialized, "sealed": s.sealed,
        "seal_type": s.seal_type, "key_shares": s.key_shares, "key_threshold": s.key_threshold,
        "progress": s.progress, "keyring_term": s.keyring_term, "seal_error": s.seal_error,
    })
}

fn print_statuses(format: Format, rows: Vec<(String, Result<pb::SealStatus, String>)>) {
    let items: Vec<serde_json::Value> = rows
        .iter()
        .map(|(addr, r)| match r {
            Ok(s) => status_json(s, addr),
            Err(e) => json!({ "node": addr, "error": e }),
        })
        .collect();
    match format {
        Format::Json => output::json(&json!({ "nodes": items })),
        Format::Table => {
            let table: Vec<Vec<String>> = items
                .iter()
                .map(|v| {
                    let f = |k: &str| output::plain(&v[k]);
                    if v.get("error").is_some() {
                        vec![f("node"), "-".into(), "unreachable".into(), "-".into(), "-".into()]
                    } else {
                        let state = if v["sealed"] == true { "sealed" } else { "unsealed" };
                        let progress = format!("{}/{}", f("progress"), f("key_threshold"));
                        vec![f("node"), f("node_id"), state.into(), progress, f("keyring_term")]
                    }
                })
                .collect();
            output::table(&["node", "id", "state", "unseal progress", "keyring term"], &table);
        }
    }
}

pub async fn run(cmd: OperatorCmd, client: &Client, format: Format) -> CliResult {
    match cmd {
        OperatorCmd::Rekey { key_shares, key_threshold } => {
            let current = read_shares()?.iter().map(|s| s.as_str().to_owned()).collect();
            let shares = client.rekey(current, key_shares, key_threshold).await?;
            print_shares(format, &shares, key_threshold);
            if format == Format::Table {
                outln!();
                outln!("The root key was replaced; unsealed nodes follow on their own (a node that");
                outln!("could not be reached seals itself: unseal it with the new shares). Data keys");
                outln!("are unchanged: after a suspected share leak also run `coffer operator rotate`");
                outln!("and then `coffer operator rewrap`.");
                outln!("The new shares are shown only now.");
            }
        }
        OperatorCmd::Init { key_shares, key_threshold } => {
            let init = client.operator_init(key_shares, key_threshold).await?;
            match format {
                Format::Json => output::json(&json!({
                    "key_shares": init.shares.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                    "key_threshold": key_threshold,
                    "root_token": init.root_token.as_str(),
                })),
                Format::Table => {
                    print_shares(format, &init.shares, key_threshold);
                    outln!("Initial root token: {}", init.root_token.as_str());
                }
            }
            if format == Format::Table {
                outln!();
                outln!("coffer is initialized. The node that ran init is unsealed; unseal every");
                outln!(
                    "other node with {key_threshold} of these {key_shares} shares: coffer operator unseal --node ADDR"
                );
                outln!("The shares and the root token are shown only now and stored nowhere (the");
                outln!("token only as a hash). Keep them apart and safe; use the root token with");
                outln!("`coffer login` to create tokens for people and applications.");
            }
        }
        OperatorCmd::Unseal { node, reset } => {
            let targets = nodes(client, node);
            let mut rows = Vec::new();
            if reset {
                for addr in targets {
                    let r = client.unseal_reset(&addr).await.map_err(|e| e.to_string());
                    rows.push((addr, r));
                }
            } else {
                let shares = read_shares()?;
                for addr in targets {
                    let mut last = Err("no share given".to_string());
                    for share in &shares {
                        last = client.unseal(&addr, share).await.map_err(|e| e.to_string());
                        if last.as_ref().is_ok_and(|s| !s.sealed) || last.is_err() {
                            break;
                        }
                    }
                    rows.push((addr, last));
                }
            }
            let all_ok = rows.iter().all(|(_, r)| r.is_ok());
            let first_err = rows.iter().find_map(|(_, r)| r.as_ref().err().cloned());
            print_statuses(format, rows);
            if !all_ok {
                return Err(CliError::new(crate::error_code::ErrorCode::InvalidShares, first_err.unwrap_or_default()));
            }
        }
        OperatorCmd::Seal { node } => {
            let mut rows = Vec::new();
            for addr in nodes(client, node) {
                let r = client.seal(&addr).await.map_err(|e| e.to_string());
                rows.push((addr, r));
            }
            print_statuses(format, rows);
        }
        OperatorCmd::Status { node } => {
            let mut rows = Vec::new();
            for addr in nodes(client, node) {
                let r = client.seal_status(&addr).await.map_err(|e| e.to_string());
                rows.push((addr, r));
            }
            print_statuses(format, rows);
        }
        OperatorCmd::Rotate => {
            let s = client.rotate().await?;
            output::record(format, json!({ "keyring_term": s.keyring_term }));
        }
        OperatorCmd::Rewrap => rewrap(client, format).await?,
    }
    Ok(())
}

/// Rewraps batch after batch until nothing remains under older terms, then
/// prints what was re-encrypted and what remains, by kind — also when a
/// batch fails (before its error), or makes no progress.
async fn rewrap(client: &Client, format: Format) -> CliResult {
    // (kind, rewrapped in all, remaining after the last batch)
    let mut kinds: Vec<(String, u64, u64)> = Vec::new();
    let outcome = loop {
        let batch = match client.rewrap().await {
            Ok(b) => b,
            Err(e) => break Err(CliError::from(e)),
        };
        for k in &batch.kinds {
            match kinds.iter_mut().find(|(kind, ..)| *kind == k.kind) {
                Some(seen) => {
                    seen.1 += k.rewrapped;
                    seen.2 = k.remaining;
                }
                None => kinds.push((k.kind.clone(), k.rewrapped, k.remaining)),
            }
        }
        if batch.remaining == 0 {
            break Ok(());
        }
        if batch.rewrapped == 0 {
            let message = format!("rewrap made no progress: {} objects remain under older terms", batch.remaining);
            break Err(CliError::new(crate::error_code::ErrorCode::Unavailable, message));
        }
    };
    if !kinds.is_empty() {
        let items: Vec<serde_json::Value> =
            kinds.iter().map(|(k, done, left)| json!({ "kind": k, "rewrapped": done, "remaining": left })).collect();
        match format {
            Format::Json => output::json(&json!({
                "rewrapped": kinds.iter().map(|k| k.1).sum::<u64>(),
                "remaining": kinds.iter().map(|k| k.2).sum::<u64>(),
                "kinds": items,
            })),
            Format::Table => output::list(format, "kinds", &["kind", "rewrapped", "remaining"], items),
        }
    }
    outcome
}

fn print_shares(format: Format, shares: &[zeroize::Zeroizing<String>], key_threshold: u32) {
    match format {
        Format::Json => output::json(&json!({
            "key_shares": shares.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            "key_threshold": key_threshold,
        })),
        Format::Table => {
            for (i, s) in shares.iter().enumerate() {
                outln!("Key share {}: {}", i + 1, s.as_str());
            }
        }
    }
}

/// Key shares from stdin, one per line.
pub(super) fn read_shares() -> CliResult<Vec<zeroize::Zeroizing<String>>> {
    let mut shares = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let line = zeroize::Zeroizing::new(line.map_err(|e| CliError::usage(format!("cannot read stdin: {e}")))?);
        if !line.trim().is_empty() {
            shares.push(zeroize::Zeroizing::new(line.trim().to_owned()));
        }
    }
    if shares.is_empty() {
        return Err(CliError::usage("give the key shares on stdin, one per line"));
    }
    Ok(shares)
}
