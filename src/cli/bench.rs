//! `coffer bench`: load against a running cluster (see `crate::bench`), or
//! the disk's fdatasync floor with `--fsync-floor DIR`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use serde_json::json;

use super::{output, CliError, CliResult, Format};
use crate::bench::target::EtcdTarget;
use crate::bench::{self, BenchConfig, Mode, Target, Workload};
use crate::client::Client;
use crate::error_code::ErrorCode;

/// Flags of `coffer bench`.
#[derive(Args)]
pub struct BenchArgs {
    #[arg(long, value_enum, default_value_t = Workload::Write)]
    workload: Workload,
    /// Independent clients, each with its own connections.
    #[arg(long, default_value_t = 1)]
    clients: usize,
    /// Requests in flight per client (closed loop), or workers per client
    /// (with --rate).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Open loop: this many requests per second regardless of latency.
    #[arg(long)]
    rate: Option<f64>,
    /// Measured seconds.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Stop after this many measured requests instead.
    #[arg(long)]
    requests: Option<u64>,
    /// Unmeasured seconds before measuring.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Secret value size, bytes.
    #[arg(long, default_value_t = 256)]
    value_size: usize,
    /// Number of distinct secrets.
    #[arg(long, default_value_t = 1000)]
    keys: usize,
    /// Vault to use (created if missing).
    #[arg(long, default_value = "bench")]
    vault: String,
    /// Write the JSON result here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write an SVG plot (latency percentiles, throughput over time) here.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// The system to drive: a coffer cluster, or an etcd cluster at --addr
    /// (etcd client endpoints), for comparisons: `etcd` over TLS (trusting
    /// --cacert, presenting --cert/--key if given), `etcd-plaintext` without.
    #[arg(long, value_enum, default_value_t = System::Coffer)]
    target: System,
    /// Instead of load: measure fdatasync latency and rate in this directory.
    #[arg(long)]
    fsync_floor: Option<PathBuf>,
}

fn write_file(path: &PathBuf, text: &str) -> CliResult {
    std::fs::write(path, text).map_err(|e| CliError::usage(format!("cannot write {}: {e}", path.display())))
}

/// Which system `coffer bench` drives.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum System {
    Coffer,
    Etcd,
    EtcdPlaintext,
}

pub async fn run(args: BenchArgs, client: Client, format: Format) -> CliResult {
    if let Some(dir) = &args.fsync_floor {
        let floor =
            bench::disk::fsync_floor(dir, 2000).map_err(|e| CliError::new(ErrorCode::Internal, e.to_string()))?;
        output::record(format, serde_json::to_value(&floor).unwrap_or_default());
        return Ok(());
    }
    let cfg = BenchConfig {
        workload: args.workload,
        mode: args.rate.map_or(Mode::Closed, |rate| Mode::Open { rate }),
        clients: args.clients.max(1),
        concurrency: args.concurrency.max(1),
        warmup: Duration::from_secs(args.warmup),
        duration: Duration::from_secs(args.duration),
        requests: args.requests,
        value_size: args.value_size,
        keys: args.keys.max(1),
        vault: args.vault,
        progress: format == Format::Table,
        system: match args.target {
            System::Coffer => "coffer".into(),
            System::Etcd => "etcd".into(),
            System::EtcdPlaintext => "etcd-plaintext".into(),
        },
    };
    let target = match args.target {
        System::Coffer => Target::Coffer(Arc::new(client)),
        System::Etcd => Target::Etcd(Arc::new(EtcdTarget::new(&client.endpoints(), client.tls().cloned())?)),
        System::EtcdPlaintext => Target::Etcd(Arc::new(EtcdTarget::new(&client.endpoints(), None)?)),
    };
    let result = bench::run(target, cfg).await?;
    let doc = serde_json::to_value(&result).unwrap_or_default();
    if let Some(path) = &args.out {
        write_file(path, &serde_json::to_string_pretty(&doc).unwrap_or_default())?;
    }
    if let Some(path) = &args.plot {
        write_file(path, &bench::svg::render(&result))?;
    }
    match format {
        Format::Json => output::json(&doc),
        Format::Table => output::record(
            format,
            json!({
                "workload": result.workload, "mode": result.mode, "clients": result.clients, "in_flight": result.in_flight,
                "requests": result.requests, "errors": result.errors,
                "throughput_per_sec": format!("{:.0}", result.throughput_per_sec),
                "p50_ms": result.latency_ms.p50, "p90_ms": result.latency_ms.p90, "p99_ms": result.latency_ms.p99,
                "p99.9_ms": result.latency_ms.p999, "max_ms": result.latency_ms.max,
            }),
        ),
    }
    Ok(())
}
