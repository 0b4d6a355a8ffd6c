//! The load generator behind `coffer bench`: drives a running cluster
//! through the SDK over the real network path, closed loop (a fixed number
//! of requests in flight) or open loop (a fixed rate, with latency measured
//! from each request's *intended* start so a stall cannot hide behind
//! coordinated omission). Latencies go into an HDR histogram; the result is
//! a JSON document and an SVG plot.
//!
//! - [`workload`]: what one request does.
//! - [`disk`]: the disk's fdatasync floor, to compare writes against.
//! - [`svg`]: the plot.

pub mod disk;
pub mod svg;
pub mod target;
pub mod workload;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

pub use target::Target;
pub use workload::Workload;

use crate::client::ClientError;

/// How requests are issued.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// `concurrency` requests always in flight per client.
    Closed,
    /// `rate` requests per second regardless of latency, by `concurrency`
    /// workers per client.
    Open {
        /// Requests per second.
        rate: f64,
    },
}

/// One benchmark run.
#[derive(Debug, Clone)]
#[allow(missing_docs)] // the fields are the CLI's flags, documented there
pub struct BenchConfig {
    pub workload: Workload,
    pub mode: Mode,
    /// Independent clients, each with its own connections.
    pub clients: usize,
    /// Requests in flight per client.
    pub concurrency: usize,
    pub warmup: Duration,
    /// Measured time; ignored when `requests` is set.
    pub duration: Duration,
    /// Stop after this many measured requests instead of after `duration`.
    pub requests: Option<u64>,
    pub value_size: usize,
    pub keys: usize,
    pub vault: String,
    /// Print a progress line to stderr every second.
    pub progress: bool,
    /// "coffer" or "etcd", for the result.
    pub system: String,
}

/// Latency percentiles, milliseconds.
#[derive(Debug, Clone, Serialize)]
#[allow(missing_docs)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

/// What a run measured.
#[derive(Debug, Clone, Serialize)]
#[allow(missing_docs)] // named as in the JSON result
pub struct BenchResult {
    pub system: String,
    pub workload: String,
    pub mode: String,
    pub clients: usize,
    /// Requests in flight per client.
    pub concurrency: usize,
    /// Requests in flight in all (clients × concurrency).
    pub in_flight: usize,
    pub value_size: usize,
    pub keys: usize,
    pub seconds: f64,
    /// Successful measured requests (= the histogram's count).
    pub requests: u64,
    pub errors: u64,
    pub errors_by_code: BTreeMap<String, u64>,
    pub throughput_per_sec: f64,
    pub latency_ms: Latency,
    /// Completed requests in each second of the measured window.
    pub throughput_timeline: Vec<u64>,
    /// (percentile, milliseconds) points of the latency distribution.
    pub percentile_curve: Vec<(f64, f64)>,
}

/// Shared by the workers of a run.
struct Shared {
    measuring: AtomicBool,
    stop: AtomicBool,
    measured: AtomicU64,
    started: Mutex<Option<Instant>>,
    timeline: Vec<AtomicU64>,
}

struct WorkerOutcome {
    histogram: Histogram<u64>,
    errors: BTreeMap<String, u64>,
}

fn new_histogram() -> Histogram<u64> {
    // Microseconds from 1 µs to 10 minutes, 3 significant figures.
    Histogram::new_with_bounds(1, 600_000_000, 3).unwrap_or_else(|_| unreachable!("valid histogram bounds"))
}

/// Runs a benchmark against `target`: `cfg.clients` clients (the first is
/// `target`, the others independent copies with their own connections).
pub async fn run(target: Target, cfg: BenchConfig) -> Result<BenchResult, ClientError> {
    let value: Arc<str> = "v".repeat(cfg.value_size).into();
    workload::prepare(&target, &cfg, &value).await?;
    let mut targets = vec![target];
    for _ in 1..cfg.clients.max(1) {
        targets.push(targets[0].independent()?);
    }
    let in_flight = targets.len() * cfg.concurrency.max(1);
    let slots = (cfg.duration.as_secs() + 2) as usize + cfg.requests.map_or(0, |_| 3600);
    let shared = Arc::new(Shared {
        measuring: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        measured: AtomicU64::new(0),
        started: Mutex::new(None),
        timeline: (0..slots).map(|_| AtomicU64::new(0)).collect(),
    });
    // Open loop: a ticket per request, stamped with its intended start.
    let (tickets_tx, tickets_rx) = tokio::sync::mpsc::channel::<Instant>(in_flight * 1024);
    let tickets_rx = Arc::new(tokio::sync::Mutex::new(tickets_rx));
    let ticketer = match cfg.mode {
        Mode::Open { rate } => Some(tokio::spawn(issue_tickets(rate, tickets_tx, shared.clone()))),
        Mode::Closed => None,
    };
    let workers: Vec<_> = (0..in_flight)
        .map(|w| {
            let client = targets[w % targets.len()].clone();
            let (cfg, value, shared) = (cfg.clone(), value.clone(), shared.clone());
            let tickets = (ticketer.is_some()).then(|| tickets_rx.clone());
            tokio::spawn(worker(w, client, cfg, value, shared, tickets))
        })
        .collect();

    tokio::time::sleep(cfg.warmup).await;
    *shared.started.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    shared.measuring.store(true, Ordering::SeqCst);
    let started = Instant::now();
    let mut last_print = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let done = shared.measured.load(Ordering::Relaxed);
        let finished = match cfg.requests {
            Some(n) => done >= n,
            None => started.elapsed() >= cfg.duration,
        };
        if cfg.progress && (finished || last_print.elapsed() >= Duration::from_secs(1)) {
            last_print = Instant::now();
            let total = cfg.requests.map_or(cfg.duration.as_secs_f64(), |n| n as f64);
            let now = cfg.requests.map_or(started.elapsed().as_secs_f64(), |_| done as f64);
            eprint!("\r{} {:>5.1}%  {done} requests", progress_bar(now / total), (now / total * 100.0).min(100.0));
        }
        if finished {
            break;
        }
    }
    if cfg.progress {
        eprintln!();
    }
    shared.measuring.store(false, Ordering::SeqCst);
    let elapsed = started.elapsed();
    shared.stop.store(true, Ordering::SeqCst);
    if let Some(t) = ticketer {
        t.abort();
    }
    let mut histogram = new_histogram();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for w in workers {
        let outcome = w.await.map_err(|e| ClientError::new(crate::error_code::ErrorCode::Internal, e.to_string()))?;
        let _ = histogram.add(&outcome.histogram);
        for (k, v) in outcome.errors {
            *errors.entry(k).or_default() += v;
        }
    }
    Ok(summarize(&cfg, in_flight, elapsed, &histogram, errors, &shared))
}

/// A 30-character progress bar for `fraction` (0..=1).
pub fn progress_bar(fraction: f64) -> String {
    let filled = (fraction.clamp(0.0, 1.0) * 30.0) as usize;
    format!("[{}{}]", "#".repeat(filled), ".".repeat(30 - filled))
}

async fn issue_tickets(rate: f64, tx: tokio::sync::mpsc::Sender<Instant>, shared: Arc<Shared>) {
    let interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let start = Instant::now();
    let mut n: u32 = 0;
    while !shared.stop.load(Ordering::Relaxed) {
        let due = start + interval * n;
        tokio::time::sleep_until(due.into()).await;
        if tx.send(due).await.is_err() {
            return;
        }
        n = n.wrapping_add(1);
    }
}

async fn worker(
    w: usize,
    client: Target,
    cfg: BenchConfig,
    value: Arc<str>,
    shared: Arc<Shared>,
    tickets: Option<Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<Instant>>>>,
) -> WorkerOutcome {
    let mut out = WorkerOutcome { histogram: new_histogram(), errors: BTreeMap::new() };
    let mut rng = (w as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    while !shared.stop.load(Ordering::Relaxed) {
        let intended = match &tickets {
            None => Instant::now(),
            Some(rx) => {
                match tokio::time::timeout(Duration::from_millis(100), async { rx.lock().await.recv().await }).await {
                    Ok(Some(t)) => t,
                    Ok(None) => break,
                    Err(_) => continue,
                }
            }
        };
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let result = workload::request(&client, &cfg, &value, rng).await;
        if !shared.measuring.load(Ordering::Relaxed) {
            continue;
        }
        if let Some(n) = cfg.requests {
            if shared.measured.load(Ordering::Relaxed) >= n {
                continue;
            }
        }
        match result {
            Ok(()) => {
                let micros = intended.elapsed().as_micros().max(1) as u64;
                let _ = out.histogram.record(micros.min(600_000_000));
                shared.measured.fetch_add(1, Ordering::Relaxed);
                let started = *shared.started.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(s) = started {
                    let slot = s.elapsed().as_secs() as usize;
                    if let Some(c) = shared.timeline.get(slot) {
                        c.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Err(e) => *out.errors.entry(e.code().as_str().to_owned()).or_default() += 1,
        }
    }
    out
}

fn summarize(
    cfg: &BenchConfig,
    in_flight: usize,
    elapsed: Duration,
    h: &Histogram<u64>,
    errors: BTreeMap<String, u64>,
    shared: &Shared,
) -> BenchResult {
    let ms = |us: u64| us as f64 / 1000.0;
    let secs = elapsed.as_secs_f64();
    let full_seconds = (secs.floor() as usize).max(1);
    let timeline = shared.timeline.iter().take(full_seconds).map(|c| c.load(Ordering::Relaxed)).collect();
    let curve = [0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 100.0]
        .iter()
        .map(|p| (*p, ms(h.value_at_quantile(p / 100.0))))
        .collect();
    BenchResult {
        system: cfg.system.clone(),
        workload: cfg.workload.name().into(),
        mode: match cfg.mode {
            Mode::Closed => "closed".into(),
            Mode::Open { rate } => format!("open@{rate}/s"),
        },
        clients: in_flight / cfg.concurrency.max(1),
        concurrency: cfg.concurrency.max(1),
        in_flight,
        value_size: cfg.value_size,
        keys: cfg.keys,
        seconds: secs,
        requests: h.len(),
        errors: errors.values().sum(),
        errors_by_code: errors,
        throughput_per_sec: h.len() as f64 / secs,
        latency_ms: Latency {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: h.mean() / 1000.0,
        },
        throughput_timeline: timeline,
        percentile_curve: curve,
    }
}
