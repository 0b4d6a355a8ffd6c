//! The snapshot file: `COFSNAP2`, each pair of the state keyspace as a
//! length-delimited `SnapshotRecord`, then a trailer: the record count (u64
//! little-endian), the MAC kind (one byte) and the MAC (32 bytes).
//!
//! The MAC is HMAC-SHA256 of every byte before it, under the cluster's
//! snapshot key (derived from the keyring, so only an unsealed node has it;
//! see [`SnapshotKeys`]). Kind 1 means the MAC is there; kind 0 means the
//! file was written by a node without the key (sealed, or the cluster not
//! initialized) and its MAC field is zero. A node that holds the key
//! refuses a file whose MAC is missing or wrong ([`verify`]).
//!
//! Written to a temporary name, synced, then renamed, so a snapshot file
//! either exists whole or not at all.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use aws_lc_rs::hmac;
use prost::Message;

use super::StorageError;
use crate::crypto::Key256;
use crate::proto::storage::SnapshotRecord;

pub use super::snapshot_keys::SnapshotKeys;

const MAGIC: &[u8; 8] = b"COFSNAP2";
/// No single record is larger than this; anything larger is corruption.
const MAX_RECORD: u64 = 64 << 20;
/// Count (8), MAC kind (1), MAC (32).
const TRAILER: u64 = 8 + 1 + 32;
const MAC_LEN: u64 = 32;
const MAC_NONE: u8 = 0;
const MAC_HMAC_SHA256: u8 = 1;

/// Writes a snapshot file at `path` from `pairs`, durably, authenticated
/// under `key` if there is one.
pub fn write<E>(
    path: &Path,
    key: Option<&Key256>,
    for_each: impl FnOnce(&mut dyn FnMut(&[u8], &[u8]) -> Result<(), E>) -> Result<(), E>,
) -> Result<u64, StorageError>
where
    StorageError: From<E>,
{
    let tmp = path.with_extension("tmp");
    let mut out = MacWriter {
        inner: BufWriter::new(File::create(&tmp)?),
        mac: key.map(|k| hmac::Context::with_key(&hmac::Key::new(hmac::HMAC_SHA256, k.expose()))),
    };
    out.write_all(MAGIC)?;
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
    out.write_all(&count.to_le_bytes())?;
    let kind = if out.mac.is_some() { MAC_HMAC_SHA256 } else { MAC_NONE };
    out.write_all(&[kind])?;
    let tag = out.mac.take().map_or([0u8; 32], |m| tag_bytes(m.sign()));
    out.write_all(&tag)?;
    let file = out.inner.into_inner().map_err(|e| StorageError::Io(e.to_string()))?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(count)
}

/// The peer service checks received snapshots with this node's keys.
impl crate::raft::service::SnapshotCheck for SnapshotKeys {
    fn key(&self) -> Option<Key256> {
        SnapshotKeys::key(self)
    }

    fn verify(&self, file: &mut File, key: &Key256) -> Result<(), String> {
        verify(file, key).map_err(|e| e.to_string())
    }
}

/// Checks that the file carries a MAC and that it is `key`'s over the
/// whole file: any byte changed, added or removed fails. Nothing is
/// decoded; [`read_each`] checks the structure.
pub fn verify(file: &mut File, key: &Key256) -> Result<(), StorageError> {
    let len = file.metadata()?.len();
    if len < MAGIC.len() as u64 + TRAILER {
        return Err(corrupt("too short"));
    }
    file.seek(SeekFrom::Start(0))?;
    let mut ctx = hmac::Context::with_key(&hmac::Key::new(hmac::HMAC_SHA256, key.expose()));
    let mut left = len - MAC_LEN;
    let mut buf = vec![0u8; 64 << 10];
    let mut r = BufReader::new(&mut *file);
    let mut last = 0u8;
    while left > 0 {
        let n = (buf.len() as u64).min(left) as usize;
        r.read_exact(&mut buf[..n]).map_err(|_| corrupt("truncated"))?;
        ctx.update(&buf[..n]);
        last = buf[n - 1];
        left -= n as u64;
    }
    if last != MAC_HMAC_SHA256 {
        return Err(StorageError::Unauthentic(
            "the snapshot file carries no MAC (written by a node without the keys)".into(),
        ));
    }
    let mut tag = [0u8; 32];
    r.read_exact(&mut tag).map_err(|_| corrupt("truncated"))?;
    if !crate::crypto::constant_time_eq(&tag_bytes(ctx.sign()), &tag) {
        return Err(StorageError::Unauthentic(
            "the snapshot file's MAC does not verify: it was changed, or is not this cluster's".into(),
        ));
    }
    Ok(())
}

/// Whether the file carries a MAC (not whether it verifies: see [`verify`]).
pub fn authenticated(file: &mut File) -> Result<bool, StorageError> {
    let len = file.metadata()?.len();
    if len < MAGIC.len() as u64 + TRAILER {
        return Ok(false);
    }
    file.seek(SeekFrom::Start(len - MAC_LEN - 1))?;
    let mut kind = [0u8; 1];
    file.read_exact(&mut kind)?;
    Ok(kind[0] == MAC_HMAC_SHA256)
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
    let len = file.metadata()?.len();
    if len < MAGIC.len() as u64 + TRAILER {
        return Err(corrupt("too short"));
    }
    let records_end = len - TRAILER;
    file.seek(SeekFrom::Start(0))?;
    let mut r = Counted { inner: BufReader::new(file), at: 0 };
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic).map_err(|_| corrupt("too short"))?;
    if &magic != MAGIC {
        return Err(corrupt("bad magic"));
    }
    let mut buf = Vec::new();
    let mut seen = 0u64;
    while r.at < records_end {
        let len = read_varint(&mut r)?;
        if len > MAX_RECORD || r.at + len > records_end {
            return Err(corrupt("bad record length"));
        }
        // Grown by what is there, not by what the length claims.
        buf.clear();
        (&mut r).take(len).read_to_end(&mut buf)?;
        if buf.len() as u64 != len {
            return Err(corrupt("truncated"));
        }
        visit(SnapshotRecord::decode(buf.as_slice())?)?;
        seen += 1;
    }
    let mut trailer = [0u8; TRAILER as usize];
    r.read_exact(&mut trailer).map_err(|_| corrupt("truncated"))?;
    let count = u64::from_le_bytes(trailer[..8].try_into().unwrap_or_default());
    if count != seen {
        return Err(corrupt("record count does not match"));
    }
    if !matches!(trailer[8], MAC_NONE | MAC_HMAC_SHA256) {
        return Err(corrupt("unknown MAC kind"));
    }
    Ok(())
}

fn tag_bytes(tag: hmac::Tag) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// A writer that feeds the MAC every byte it writes.
struct MacWriter<W> {
    inner: W,
    mac: Option<hmac::Context>,
}

impl<W: Write> Write for MacWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        if let Some(m) = &mut self.mac {
            m.update(&buf[..n]);
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that counts the bytes it has read.
struct Counted<R> {
    inner: R,
    at: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.at += n as u64;
        Ok(n)
    }
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

    fn write_pairs(path: &Path, key: Option<&Key256>) -> u64 {
        let pairs = vec![(b"k1".to_vec(), b"v1".to_vec()), (b"k2".to_vec(), vec![7u8; 300])];
        write::<StorageError>(path, key, |visit| {
            for (k, v) in &pairs {
                visit(k, v)?;
            }
            Ok(())
        })
        .unwrap()
    }

    #[test]
    fn round_trip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.snap");
        assert_eq!(write_pairs(&path, None), 2);
        let got = read_all(&mut File::open(&path).unwrap()).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].value, vec![7u8; 300]);

        // Truncation and garbage are errors, never panics.
        let bytes = std::fs::read(&path).unwrap();
        for cut in [0, 5, 16, 20, bytes.len() - 42, bytes.len() - 1] {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            assert!(read_all(&mut File::open(&path).unwrap()).is_err(), "cut at {cut}");
        }
        let mut junk = b"COFSNAP2\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff".to_vec();
        junk.extend_from_slice(&[0u8; TRAILER as usize]);
        std::fs::write(&path, &junk).unwrap();
        assert!(read_all(&mut File::open(&path).unwrap()).is_err());
        // The previous format is not read.
        let mut old = bytes.clone();
        old[..8].copy_from_slice(b"COFSNAP1");
        std::fs::write(&path, &old).unwrap();
        assert!(read_all(&mut File::open(&path).unwrap()).is_err());
    }

    #[test]
    fn only_the_keys_mac_over_every_byte_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.snap");
        let key = Key256::generate().unwrap();
        write_pairs(&path, Some(&key));
        let open = || File::open(&path).unwrap();
        verify(&mut open(), &key).unwrap();
        assert!(authenticated(&mut open()).unwrap());
        assert_eq!(read_all(&mut open()).unwrap().len(), 2);
        let other = Key256::generate().unwrap();
        assert!(matches!(verify(&mut open(), &other), Err(StorageError::Unauthentic(_))));

        // Every single flipped bit is refused, MAC and trailer included.
        let whole = std::fs::read(&path).unwrap();
        for at in 0..whole.len() {
            let mut bytes = whole.clone();
            bytes[at] ^= 0x01;
            std::fs::write(&path, &bytes).unwrap();
            assert!(verify(&mut open(), &key).is_err(), "byte {at} flipped");
        }
        // As are a record added and a file cut short.
        let mut longer = whole.clone();
        longer.splice(8..8, SnapshotRecord { key: b"x".to_vec(), value: vec![] }.encode_length_delimited_to_vec());
        std::fs::write(&path, &longer).unwrap();
        assert!(verify(&mut open(), &key).is_err());
        std::fs::write(&path, &whole[..whole.len() - 1]).unwrap();
        assert!(verify(&mut open(), &key).is_err());

        // A file written without the key has no MAC: readable, never verified.
        write_pairs(&path, None);
        assert!(!authenticated(&mut open()).unwrap());
        assert_eq!(read_all(&mut open()).unwrap().len(), 2);
        let err = verify(&mut open(), &key).unwrap_err();
        assert!(err.to_string().contains("no MAC"), "{err}");
    }
}
