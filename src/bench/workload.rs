//! Workloads. Add one by adding a variant, its name, and its request.

use super::BenchConfig;
use crate::client::{Client, ClientError, ReadConsistency, SetSecret};
use crate::error_code::ErrorCode;

/// What each request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// Write a new version of a random secret.
    Write,
    /// Linearizable read of a random secret.
    Read,
    /// Stale (local) read of a random secret.
    ReadStale,
    /// 90% linearizable reads, 10% writes.
    Mixed,
    /// List the first page of the vault's secrets.
    List,
}

impl Workload {
    /// The workload's name in results.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Write => "write",
            Workload::Read => "read",
            Workload::ReadStale => "read-stale",
            Workload::Mixed => "mixed-90-10",
            Workload::List => "list",
        }
    }

    fn reads(self) -> bool {
        self != Workload::Write
    }
}

/// Creates the vault and, for reading workloads, every key once.
pub(super) async fn prepare(client: &Client, cfg: &BenchConfig, value: &str) -> Result<(), ClientError> {
    match client.create_vault(&cfg.vault, 0, false).await {
        Err(e) if e.code() != ErrorCode::VaultAlreadyExists => return Err(e),
        _ => {}
    }
    if cfg.workload.reads() {
        let mut pending = Vec::new();
        for k in 0..cfg.keys {
            pending.push(client.set_secret(SetSecret::new(&cfg.vault, &key(k), value)));
            if pending.len() == 64 {
                for r in futures::future::join_all(pending.drain(..)).await {
                    r?;
                }
            }
        }
        for r in futures::future::join_all(pending).await {
            r?;
        }
    }
    Ok(())
}

fn key(k: usize) -> String {
    format!("k{k}")
}

/// One request; `random` picks the key (and, for mixed, the operation).
pub(super) async fn request(client: &Client, cfg: &BenchConfig, value: &str, random: u64) -> Result<(), ClientError> {
    let name = key((random >> 8) as usize % cfg.keys.max(1));
    let write = || client.set_secret(SetSecret::new(&cfg.vault, &name, value));
    match cfg.workload {
        Workload::Write => write().await.map(drop),
        Workload::Read => client.get_secret(&cfg.vault, &name, None, ReadConsistency::Linearizable).await.map(drop),
        Workload::ReadStale => client.get_secret(&cfg.vault, &name, None, ReadConsistency::Stale).await.map(drop),
        Workload::Mixed if random % 10 == 0 => write().await.map(drop),
        Workload::Mixed => client.get_secret(&cfg.vault, &name, None, ReadConsistency::Linearizable).await.map(drop),
        Workload::List => client.list_secrets(&cfg.vault, 25, "", ReadConsistency::Linearizable).await.map(drop),
    }
}
