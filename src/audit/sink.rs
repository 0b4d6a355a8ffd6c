//! A node's local copy of the audit log as JSON Lines, for shipping to a
//! log system: it follows the records this node has applied, appends them
//! to a file, and rotates the file by size (`audit.jsonl` →
//! `audit.jsonl.1` → …, keeping a fixed number). The last sequence number
//! written is kept beside the file, so a restart resumes without gaps or
//! repeats.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::proto::storage::AuditRecord;
use crate::state::audit as stored;
use crate::storage::StateReader;

/// Where and how much to keep.
#[derive(Debug, Clone)]
pub struct SinkConfig {
    /// The file appended to.
    pub path: PathBuf,
    /// Rotate once the file is at least this large.
    pub max_bytes: u64,
    /// Rotated files kept (`.1` … `.N`).
    pub keep: u32,
}

/// Follows the local audit log into the file until the task is dropped.
pub async fn run(reader: StateReader, config: SinkConfig) {
    let pos_path = position_path(&config.path);
    let mut last = std::fs::read_to_string(&pos_path).ok().and_then(|s| s.trim().parse::<u64>().ok()).unwrap_or(0);
    loop {
        match reader.read(|kv| stored::range(kv, last, 1000, |_| true)) {
            Ok(records) if !records.is_empty() => match write(&config, &records) {
                Ok(()) => {
                    last = records[records.len() - 1].seq;
                    if let Err(e) = crate::fsutil::write_atomic(&pos_path, last.to_string().as_bytes(), 0o600) {
                        tracing::error!(error = %e, "audit file sink: cannot record its position");
                    }
                    continue;
                }
                Err(e) => tracing::error!(path = %config.path.display(), error = %e, "audit file sink: write failed"),
            },
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "audit file sink: cannot read the audit log"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn position_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".pos");
    path.with_file_name(name)
}

fn write(config: &SinkConfig, records: &[AuditRecord]) -> std::io::Result<()> {
    if let Some(dir) = config.path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let size = std::fs::metadata(&config.path).map_or(0, |m| m.len());
    if size >= config.max_bytes {
        rotate(&config.path, config.keep)?;
    }
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&config.path)?;
    let mut text = String::new();
    for r in records {
        text.push_str(&super::to_json(r).to_string());
        text.push('\n');
    }
    file.write_all(text.as_bytes())?;
    file.sync_data()
}

fn rotate(path: &Path, keep: u32) -> std::io::Result<()> {
    let numbered = |n: u32| {
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".{n}"));
        path.with_file_name(name)
    };
    if keep == 0 {
        return std::fs::remove_file(path);
    }
    let _ = std::fs::remove_file(numbered(keep));
    for n in (1..keep).rev() {
        let from = numbered(n);
        if from.exists() {
            std::fs::rename(&from, numbered(n + 1))?;
        }
    }
    std::fs::rename(path, numbered(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_a_fixed_number_of_files() {
        let dir = tempfile::tempdir().unwrap();
        let config = SinkConfig { path: dir.path().join("audit.jsonl"), max_bytes: 10, keep: 2 };
        for seq in 1..=5 {
            let r = AuditRecord { seq, operation: "SecretGet".into(), ..Default::default() };
            write(&config, &[r]).unwrap();
        }
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2"]);
        let newest = std::fs::read_to_string(&config.path).unwrap();
        assert!(newest.contains("\"seq\":5") && newest.lines().count() == 1, "{newest}");
    }
}
