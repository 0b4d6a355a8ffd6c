//! Writing files safely: a temporary file, synced, then renamed over the
//! target, so a crash leaves the old file or the new one, never half of one.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Only the owner may read (keys, tokens, sealed material).
pub const PRIVATE: u32 = 0o600;
/// Anyone may read (certificates).
pub const PUBLIC: u32 = 0o644;

/// Writes `bytes` to `path` atomically with permissions `mode`, creating
/// the parent directory if needed.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Renames `from` to `to` (in the same directory) and syncs the
/// directory, so the rename survives a crash before any later one does.
pub fn rename_synced(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::rename(from, to)?;
    let dir = to.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_with_the_mode_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/key");
        super::write_atomic(&path, b"one", super::PRIVATE).unwrap();
        super::write_atomic(&path, b"two", super::PRIVATE).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
    }
}
