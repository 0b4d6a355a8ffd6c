//! Workloads. Add one by adding a variant, its name, and its request.

use super::target::Target;
use super::BenchConfig;
use crate::client::ClientError;

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
pub(super) async fn prepare(target: &Target, cfg: &BenchConfig, value: &str) -> Result<(), ClientError> {
    target.prepare_namespace(&cfg.vault).await?;
    if cfg.workload.reads() {
        let keys: Vec<String> = (0..cfg.keys).map(key).collect();
        for chunk in keys.chunks(64) {
            let writes = chunk.iter().map(|k| target.write(&cfg.vault, k, value));
            for r in futures::future::join_all(writes).await {
                r?;
            }
        }
    }
    Ok(())
}

fn key(k: usize) -> String {
    format!("k{k}")
}

/// One request; `random` picks the key (and, for mixed, the operation).
pub(super) async fn request(target: &Target, cfg: &BenchConfig, value: &str, random: u64) -> Result<(), ClientError> {
    let name = key((random >> 8) as usize % cfg.keys.max(1));
    match cfg.workload {
        Workload::Write => target.write(&cfg.vault, &name, value).await,
        Workload::Read => target.read(&cfg.vault, &name, false).await,
        Workload::ReadStale => target.read(&cfg.vault, &name, true).await,
        Workload::Mixed if random.is_multiple_of(10) => target.write(&cfg.vault, &name, value).await,
        Workload::Mixed => target.read(&cfg.vault, &name, false).await,
        Workload::List => target.list(&cfg.vault).await,
    }
}
