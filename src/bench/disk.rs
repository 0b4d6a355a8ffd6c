//! The disk's floor for a durable write: sequential 4 KiB writes, each
//! followed by fdatasync, in the directory the data lives in. A replicated
//! commit needs at least one of these (plus a round trip), so it bounds what
//! a single writer can achieve.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use hdrhistogram::Histogram;
use serde::Serialize;

/// fdatasync latency and rate.
#[derive(Debug, Clone, Serialize)]
#[allow(missing_docs)] // named as in the JSON result
pub struct FsyncFloor {
    pub syncs: u64,
    pub seconds: f64,
    pub syncs_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Measures `count` write+fdatasync rounds in a temporary file under `dir`.
pub fn fsync_floor(dir: &Path, count: u64) -> std::io::Result<FsyncFloor> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!(".coffer-fsync-probe-{}", std::process::id()));
    let mut file = std::fs::File::create(&path)?;
    let block = [0x5au8; 4096];
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).map_err(std::io::Error::other)?;
    let start = Instant::now();
    for _ in 0..count {
        let t = Instant::now();
        file.write_all(&block)?;
        file.sync_data()?;
        let _ = h.record((t.elapsed().as_micros() as u64).max(1));
    }
    let seconds = start.elapsed().as_secs_f64();
    drop(file);
    std::fs::remove_file(&path)?;
    Ok(FsyncFloor {
        syncs: count,
        seconds,
        syncs_per_sec: count as f64 / seconds,
        p50_ms: h.value_at_quantile(0.5) as f64 / 1000.0,
        p99_ms: h.value_at_quantile(0.99) as f64 / 1000.0,
        max_ms: h.max() as f64 / 1000.0,
    })
}
