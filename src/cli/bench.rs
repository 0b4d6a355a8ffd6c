//! `coffer bench`: a closed-loop load generator that drives a running
//! cluster through the SDK over the real network path, and reports
//! throughput and latency percentiles.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use serde_json::json;

use super::{output, CliResult, Format};
use crate::client::{Client, ReadConsistency, SetSecret};
use crate::error_code::ErrorCode;

/// What each request does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// Write a new version of a random secret.
    Write,
    /// Linearizable read of a random secret.
    Read,
    /// Stale (local) read of a random secret.
    ReadStale,
}

/// Flags of `coffer bench`.
#[derive(Args)]
pub struct BenchArgs {
    #[arg(long, value_enum, default_value_t = Workload::Write)]
    workload: Workload,
    /// Concurrent requests in flight.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 10)]
    duration: u64,
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
}

struct Sample {
    latencies: Vec<Duration>,
    errors: usize,
}

pub async fn run(args: BenchArgs, client: Client, format: Format) -> CliResult {
    let client = Arc::new(client);
    match client.create_vault(&args.vault, 0, false).await {
        Err(e) if e.code() != ErrorCode::VaultAlreadyExists => return Err(e.into()),
        _ => {}
    }
    let value = "v".repeat(args.value_size);
    if args.workload != Workload::Write {
        // Reads need something to read.
        let writers: Vec<_> = (0..args.keys)
            .collect::<Vec<_>>()
            .chunks(args.keys.div_ceil(16).max(1))
            .map(|chunk| {
                let (client, vault, value, chunk) = (client.clone(), args.vault.clone(), value.clone(), chunk.to_vec());
                tokio::spawn(async move {
                    for k in chunk {
                        client.set_secret(SetSecret::new(&vault, &format!("k{k}"), value.clone())).await?;
                    }
                    Ok::<_, crate::client::ClientError>(())
                })
            })
            .collect();
        for w in writers {
            w.await.map_err(|e| super::CliError::new(ErrorCode::Internal, e.to_string()))??;
        }
    }
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..args.concurrency)
        .map(|t| {
            let (client, vault, value) = (client.clone(), args.vault.clone(), value.clone());
            let (measuring, stop, workload, keys) = (measuring.clone(), stop.clone(), args.workload, args.keys);
            tokio::spawn(async move {
                let mut s = Sample { latencies: Vec::new(), errors: 0 };
                let mut n = t;
                while !stop.load(Ordering::Relaxed) {
                    n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    let key = format!("k{}", (n >> 33) % keys);
                    let start = Instant::now();
                    let ok = match workload {
                        Workload::Write => client.set_secret(SetSecret::new(&vault, &key, value.clone())).await.is_ok(),
                        Workload::Read => {
                            client.get_secret(&vault, &key, None, ReadConsistency::Linearizable).await.is_ok()
                        }
                        Workload::ReadStale => {
                            client.get_secret(&vault, &key, None, ReadConsistency::Stale).await.is_ok()
                        }
                    };
                    if measuring.load(Ordering::Relaxed) {
                        if ok {
                            s.latencies.push(start.elapsed());
                        } else {
                            s.errors += 1;
                        }
                    }
                }
                s
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(args.warmup)).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.duration)).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        if let Ok(s) = t.await {
            all.extend(s.latencies);
            errors += s.errors;
        }
    }
    all.sort_unstable();
    let pct = |p: f64| -> f64 {
        if all.is_empty() {
            return 0.0;
        }
        let i = ((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1;
        all[i].as_secs_f64() * 1000.0
    };
    let result = json!({
        "workload": format!("{:?}", args.workload).to_lowercase(),
        "concurrency": args.concurrency,
        "value_size": args.value_size,
        "requests": all.len(),
        "errors": errors,
        "seconds": elapsed.as_secs_f64(),
        "throughput_per_sec": all.len() as f64 / elapsed.as_secs_f64(),
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": all.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
    });
    output::record(format, result);
    Ok(())
}
