//! The snapshot file: `COFSNAP1`, the record count (u64 little-endian), then
//! each pair of the state keyspace as a length-delimited `SnapshotRecord`.
//! Written to a temporary name, synced, then renamed, so a snapshot file
//! either exists whole or not at all.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use prost::Message;

use super::StorageError;
use crate::proto::storage::SnapshotRecord;

const MAGIC: &[u8; 8] = b"COFSNAP1";
/// No single record is larger than this; anything larger is corruption.
const MAX_RECORD: u64 = 64 << 20;

/// Writes a snapshot file at `path` from `pairs`, durably.
pub fn write<E>(
    path: &Path,
    for_each: impl FnOnce(&mut dyn FnMut(&[u8], &[u8]) -> Result<(), E>) -> Result<(), E>,
) -> Result<u64, StorageError>
where
    StorageError: From<E>,
{
    let tmp = path.with_extension("tmp");
    let mut out = BufWriter::new(File::create(&tmp)?);
    out.write_all(MAGIC)?;
    out.write_all(&0u64.to_le_bytes())?;
    let mut count = 0u64;
    let mut io_err = None;
    for_each(&mut |k, v| {
        let rec = SnapshotRecord { key: k.to_vec(), value: v.to_vec() };
        if let Err(e) = out.write_all(&rec.encode_length_delimited_to_vec()) {
            io_err.get_or_insert(e);
        }
        count += 1;
        Ok(())
    })?;
    if let Some(e) = io_err {
        return Err(e.into());
    }
    let mut file = out.into_inner().map_err(|e| StorageError::Io(e.to_string()))?;
    file.seek(SeekFrom::Start(MAGIC.len() as u64))?;
    file.write_all(&count.to_le_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(count)
}

/// Reads every record of a snapshot file from its start.
pub fn read_all(file: &mut File) -> Result<Vec<SnapshotRecord>, StorageError> {
    let mut records = Vec::new();
    read_each(file, |r| {
        records.push(r);
        Ok(())
    })?;
    Ok(records)
}

/// Hands each record of a snapshot file, from its start, to `visit`, one
/// at a time (a snapshot need not fit in memory twice). An error, after
/// some records were visited, if the file turns out to be corrupt.
pub fn read_each(
    file: &mut File,
    mut visit: impl FnMut(SnapshotRecord) -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    file.seek(SeekFrom::Start(0))?;
    let mut r = BufReader::new(file);
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic).map_err(|_| corrupt("too short"))?;
    if &magic != MAGIC {
        return Err(corrupt("bad magic"));
    }
    let mut count = [0u8; 8];
    r.read_exact(&mut count).map_err(|_| corrupt("too short"))?;
    let count = u64::from_le_bytes(count);
    let mut buf = Vec::new();
    for _ in 0..count {
        let len = read_varint(&mut r)?;
        if len > MAX_RECORD {
            return Err(corrupt("record too large"));
        }
        // Grown by what is there, not by what the length claims.
        buf.clear();
        (&mut r).take(len).read_to_end(&mut buf)?;
        if buf.len() as u64 != len {
            return Err(corrupt("truncated"));
        }
        visit(SnapshotRecord::decode(buf.as_slice())?)?;
    }
    let mut rest = [0u8; 1];
    if r.read(&mut rest)? != 0 {
        return Err(corrupt("trailing bytes"));
    }
    Ok(())
}

fn read_varint(r: &mut impl Read) -> Result<u64, StorageError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let mut b = [0u8; 1];
        r.read_exact(&mut b).map_err(|_| corrupt("truncated"))?;
        value |= u64::from(b[0] & 0x7f) << shift;
        if b[0] & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(corrupt("bad length"))
}

fn corrupt(what: &str) -> StorageError {
    StorageError::Corrupt(format!("snapshot file: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.snap");
        let pairs = vec![(b"k1".to_vec(), b"v1".to_vec()), (b"k2".to_vec(), vec![7u8; 300])];
        let n = write::<StorageError>(&path, |visit| {
            for (k, v) in &pairs {
                visit(k, v)?;
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 2);
        let got = read_all(&mut File::open(&path).unwrap()).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].value, vec![7u8; 300]);

        // Truncation and garbage are errors, never panics.
        let bytes = std::fs::read(&path).unwrap();
        for cut in [0, 5, 16, 20, bytes.len() - 1] {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            assert!(read_all(&mut File::open(&path).unwrap()).is_err(), "cut at {cut}");
        }
        std::fs::write(&path, b"COFSNAP1\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff").unwrap();
        assert!(read_all(&mut File::open(&path).unwrap()).is_err());
    }
}
