//! The node's current snapshot. Building one makes a RocksDB checkpoint of
//! the database (hard links to its table files, so its cost does not grow
//! with the state) and records its meta; the snapshot file a follower or a
//! backup reads is serialized from the checkpoint only when first read (see
//! [`SnapshotData`]), and kept until the next snapshot replaces it.
//!
//! In `snapshots/`: `<id>.ckpt/` (the checkpoint), `<id>.snap` (its file,
//! once read) and transient `building-*` and `*.tmp` entries (a snapshot
//! being received is in a file without a name).
//! Making a snapshot current removes everything else. A snapshot's
//! checkpoint keeps table files that compaction has since replaced, so the
//! disk holds up to one extra copy of the state between snapshots.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use openraft::storage::Snapshot;
use openraft::{RaftSnapshotBuilder, SnapshotMeta, StorageIOError};
use prost::Message;
use rocksdb::checkpoint::Checkpoint;
use rocksdb::{WriteOptions, DB};

use super::db::Db;
use super::error::{raft_err, RaftStorageError};
use super::purge_gate::PurgeGate;
use super::snapshot_keys::SnapshotKeys;
use super::state_machine::applied_state;
use super::view::DbView;
use super::{cf, cf_options, handle, snapshot_file, StorageError};
use crate::proto::raft as pb;
use crate::raft::snapshot_data::SnapshotData;
use crate::raft::{NodeId, NodeInfo, TypeConfig};
use crate::state::kv::KvError;

pub(super) type Meta = SnapshotMeta<NodeId, NodeInfo>;

/// Builds and serves the current snapshot (cheap to clone).
#[derive(Clone)]
pub struct SnapshotStore {
    db: Arc<Db>,
    dir: PathBuf,
    /// Held while a snapshot file is being serialized, so two readers of
    /// one snapshot do not both write it.
    serializing: Arc<Mutex<()>>,
    /// Told what the current snapshot covers, for the log's purges.
    gate: Arc<PurgeGate>,
    /// The key its files are authenticated under, while this node has it.
    keys: SnapshotKeys,
}

impl SnapshotStore {
    pub(super) fn new(
        db: Arc<Db>,
        dir: PathBuf,
        gate: Arc<PurgeGate>,
        keys: SnapshotKeys,
    ) -> Result<Self, StorageError> {
        let store = SnapshotStore { db, dir, serializing: Arc::default(), gate, keys };
        store.gate.built(store.current()?.and_then(|(meta, _)| meta.last_log_id));
        Ok(store)
    }

    /// A snapshot from the leader has started to arrive.
    pub(super) fn receiving(&self) {
        self.gate.receiving();
    }

    /// Builds a snapshot of the state as of now and makes it current.
    pub fn build(&self) -> Result<Meta, StorageError> {
        // Everything applied so far must be durable before the log that
        // produced it can be purged on the strength of this snapshot.
        self.db.flush_wal(true)?;
        let building = self.dir.join(format!("building-{}.ckpt", unique()));
        Checkpoint::new(&self.db)?.create_checkpoint(&building)?;
        let meta = match read_meta(&building) {
            Ok(meta) => meta,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&building);
                return Err(e);
            }
        };
        std::fs::rename(&building, self.checkpoint_path(&meta.snapshot_id))?;
        File::open(&self.dir)?.sync_all()?;
        self.set_current(&meta)?;
        self.gate.built(meta.last_log_id);
        Ok(meta)
    }

    /// Makes the state as installed from a received snapshot this node's
    /// current snapshot (called with no apply in progress).
    pub(super) fn adopt_installed(&self, meta: &Meta) -> Result<(), StorageError> {
        let path = self.checkpoint_path(&meta.snapshot_id);
        if path.exists() {
            std::fs::remove_dir_all(&path)?;
        }
        Checkpoint::new(&self.db)?.create_checkpoint(&path)?;
        File::open(&self.dir)?.sync_all()?;
        self.set_current(meta)?;
        self.gate.installed(meta.last_log_id);
        Ok(())
    }

    /// The current snapshot, if any: its meta and its bytes (serialized
    /// when first read).
    pub fn current(&self) -> Result<Option<(Meta, SnapshotData)>, StorageError> {
        let meta = match self.db.get_cf(handle(&self.db, cf::SM_META), cf::sm_meta::SNAPSHOT)? {
            None => return Ok(None),
            Some(b) => Meta::try_from(pb::SnapshotMeta::decode(b.as_slice())?)?,
        };
        let data = self.data(&meta.snapshot_id);
        Ok(Some((meta, data)))
    }

    /// The current snapshot's meta and its checkpoint (opened read-only).
    pub(super) fn current_checkpoint(&self) -> Result<Option<(Meta, DB)>, StorageError> {
        let Some((meta, _)) = self.current()? else { return Ok(None) };
        let checkpoint = open_checkpoint(&self.checkpoint_path(&meta.snapshot_id), cf::STATE_KEYSPACE)?;
        Ok(Some((meta, checkpoint)))
    }

    /// The bytes of snapshot `id`, serialized when first read.
    fn data(&self, id: &str) -> SnapshotData {
        let (store, id) = (self.clone(), id.to_owned());
        SnapshotData::lazy(move || store.open_file(&id).map_err(std::io::Error::other))
    }

    /// A new file to receive a snapshot into. Unlinked at once: it lives
    /// as long as its handle, so a snapshot refused or cut short leaves
    /// nothing behind.
    pub(super) fn incoming(&self) -> Result<File, StorageError> {
        let path = self.dir.join(format!("incoming-{}.part", unique()));
        let file = File::options().read(true).write(true).create_new(true).open(&path)?;
        std::fs::remove_file(&path)?;
        Ok(file)
    }

    /// The snapshot file of snapshot `id`, serialized from its checkpoint
    /// if this is its first reader, or if it was serialized without a MAC
    /// (this node held no keys then) and this node has the key now.
    fn open_file(&self, id: &str) -> Result<File, StorageError> {
        let _one_at_a_time = self.serializing.lock().unwrap_or_else(|p| p.into_inner());
        let file = self.file_path(id);
        let key = self.keys.key();
        if key.is_some() && file.exists() && !snapshot_file::authenticated(&mut File::open(&file)?)? {
            std::fs::remove_file(&file)?;
        }
        if !file.exists() {
            let checkpoint = open_checkpoint(&self.checkpoint_path(id), cf::STATE_KEYSPACE)?;
            let view = DbView::new(&checkpoint);
            snapshot_file::write::<KvError>(&file, key.as_ref(), |visit| view.for_each(visit))?;
        }
        Ok(File::open(file)?)
    }

    fn safe_name(id: &str) -> String {
        // Snapshot ids are made of digits and dashes (see `read_meta`), but
        // one received from a peer is sanitized before it names a file.
        id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect()
    }

    fn file_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{}.snap", Self::safe_name(id)))
    }

    fn checkpoint_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{}.ckpt", Self::safe_name(id)))
    }

    fn set_current(&self, meta: &Meta) -> Result<(), StorageError> {
        let mut sync = WriteOptions::default();
        sync.set_sync(true);
        let sm = handle(&self.db, cf::SM_META);
        self.db.put_cf_opt(sm, cf::sm_meta::SNAPSHOT, pb::SnapshotMeta::from(meta).encode_to_vec(), &sync)?;
        // Remove every other snapshot, partial download and build.
        let keep = [self.checkpoint_path(&meta.snapshot_id), self.file_path(&meta.snapshot_id)];
        for entry in std::fs::read_dir(&self.dir)?.flatten() {
            let path = entry.path();
            if !keep.contains(&path) {
                let _ = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
            }
        }
        Ok(())
    }
}

/// Opens a checkpoint read-only, with those of the column families
/// `families` it has (one taken by an older version may lack newer ones).
fn open_checkpoint(path: &Path, families: &[&str]) -> Result<DB, StorageError> {
    let present = DB::list_cf(&rocksdb::Options::default(), path)?;
    let cfs = families
        .iter()
        .filter(|name| present.iter().any(|p| p == *name))
        .map(|name| rocksdb::ColumnFamilyDescriptor::new(*name, cf_options(name)));
    Ok(DB::open_cf_descriptors_read_only(&rocksdb::Options::default(), path, cfs, false)?)
}

/// The meta of the snapshot that the checkpoint at `path` holds.
fn read_meta(path: &Path) -> Result<Meta, StorageError> {
    let (applied, membership) = applied_state(&open_checkpoint(path, &[cf::SM_META])?)?;
    let millis = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let snapshot_id = match applied {
        Some(l) => format!("{}-{}-{}", l.leader_id.term, l.index, millis),
        None => format!("0-0-{millis}"),
    };
    Ok(Meta { last_log_id: applied, last_membership: membership, snapshot_id })
}

/// A name part no other build or download in this process or an earlier
/// one has used.
fn unique() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

pub(super) fn to_snapshot((meta, data): (Meta, SnapshotData)) -> Snapshot<TypeConfig> {
    Snapshot { meta, snapshot: Box::new(data) }
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotStore {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, RaftStorageError> {
        let store = self.clone();
        let built = tokio::task::spawn_blocking(move || {
            let meta = store.build()?;
            let data = store.data(&meta.snapshot_id);
            Ok((meta, data))
        });
        built
            .await
            .map_err(|e| StorageError::Io(e.to_string()))
            .and_then(|r| r)
            .map(to_snapshot)
            .map_err(raft_err(|e| StorageIOError::write_snapshot(None, e)))
    }
}

#[cfg(test)]
mod tests {
    use openraft::{CommittedLeaderId, LogId};

    use super::*;
    use crate::raft::codec::log_id::opt_to_pb;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    fn put(db: &DB, family: &str, key: &[u8], value: &[u8]) {
        db.put_cf(handle(db, family), key, value).unwrap();
    }

    fn applied(db: &DB, index: u64) {
        let id = LogId::new(CommittedLeaderId::new(3, 1), index);
        put(
            db,
            cf::SM_META,
            cf::sm_meta::LAST_APPLIED,
            &pb::StoredLogId { log_id: opt_to_pb(Some(id)) }.encode_to_vec(),
        );
    }

    #[tokio::test]
    async fn a_snapshot_is_a_checkpoint_serialized_only_when_first_read() {
        let tmp = tempfile::tempdir().unwrap();
        let db = Db::alone(super::super::open_db(&tmp.path().join("db"), super::super::cf::STATE_DB).unwrap());
        let dir = tmp.path().join("snapshots");
        std::fs::create_dir_all(&dir).unwrap();
        let store = SnapshotStore::new(db.clone(), dir.clone(), Arc::default(), SnapshotKeys::default()).unwrap();
        put(&db, cf::STATE, b"se/a", b"one");
        put(&db, cf::AUDIT, crate::state::keys::AUDIT_RECORDS, b"record");
        applied(&db, 5);

        let meta = store.build().unwrap();
        assert_eq!(meta.last_log_id.map(|l| l.index), Some(5));
        assert!(meta.snapshot_id.starts_with("3-5-"), "{}", meta.snapshot_id);
        let checkpoint = format!("{}.ckpt", meta.snapshot_id);
        assert_eq!(names(&dir), std::slice::from_ref(&checkpoint), "building writes no snapshot file");

        // Writes after the build are not in the snapshot.
        put(&db, cf::STATE, b"se/a", b"two");
        put(&db, cf::STATE, b"se/b", b"new");
        applied(&db, 9);
        let (current, data) = store.current().unwrap().unwrap();
        assert_eq!(current, meta);
        let mut file = data.into_std().await.unwrap();
        let records = snapshot_file::read_all(&mut file).unwrap();
        let pairs: Vec<(&[u8], &[u8])> = records.iter().map(|r| (&r.key[..], &r.value[..])).collect();
        assert_eq!(pairs, [(&b"se/a"[..], &b"one"[..]), (crate::state::keys::AUDIT_RECORDS, &b"record"[..])]);
        assert_eq!(names(&dir), [checkpoint, format!("{}.snap", meta.snapshot_id)]);

        // The next build replaces both.
        let next = store.build().unwrap();
        assert_eq!(next.last_log_id.map(|l| l.index), Some(9));
        assert_eq!(names(&dir), [format!("{}.ckpt", next.snapshot_id)]);
    }

    #[tokio::test]
    async fn a_file_serialized_without_the_key_is_serialized_again_once_the_key_is_there() {
        let tmp = tempfile::tempdir().unwrap();
        let db = Db::alone(super::super::open_db(&tmp.path().join("db"), super::super::cf::STATE_DB).unwrap());
        let dir = tmp.path().join("snapshots");
        std::fs::create_dir_all(&dir).unwrap();
        let keys = SnapshotKeys::default();
        let store = SnapshotStore::new(db.clone(), dir, Arc::default(), keys.clone()).unwrap();
        put(&db, cf::STATE, b"se/a", b"one");
        applied(&db, 5);
        store.build().unwrap();
        let read = || async { store.current().unwrap().unwrap().1.into_std().await.unwrap() };
        // No key (sealed): no MAC.
        assert!(!snapshot_file::authenticated(&mut read().await).unwrap());
        let key = crate::crypto::Key256::generate().unwrap();
        let shared = key.clone();
        keys.set(move || Some(shared.clone()));
        let mut file = read().await;
        snapshot_file::verify(&mut file, &key).unwrap();
        assert_eq!(snapshot_file::read_all(&mut file).unwrap().len(), 1);
    }

    #[test]
    fn a_snapshot_whose_checkpoint_is_gone_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let db = Db::alone(super::super::open_db(&tmp.path().join("db"), super::super::cf::STATE_DB).unwrap());
        let store = SnapshotStore::new(db, tmp.path().to_path_buf(), Arc::default(), SnapshotKeys::default()).unwrap();
        assert!(store.open_file("1-2-3").is_err());
        assert!(!tmp.path().join("1-2-3.snap").exists());
    }

    #[tokio::test]
    async fn a_checkpoint_from_before_the_head_had_its_own_family_still_serializes_the_head() {
        use crate::state::keys;
        let tmp = tempfile::tempdir().unwrap();
        let older = [cf::STATE, cf::SM_META, cf::AUDIT];
        let db = Db::alone(super::super::open_db(&tmp.path().join("db"), &older).unwrap());
        put(&db, cf::AUDIT, keys::AUDIT_HEAD, b"head");
        put(&db, cf::AUDIT, &keys::audit_record(1), b"record");
        applied(&db, 2);
        let dir = tmp.path().join("snapshots");
        std::fs::create_dir_all(&dir).unwrap();
        let store = SnapshotStore::new(db, dir, Arc::default(), SnapshotKeys::default()).unwrap();
        store.build().unwrap();
        let (_, data) = store.current().unwrap().unwrap();
        let records = snapshot_file::read_all(&mut data.into_std().await.unwrap()).unwrap();
        let pairs: Vec<(&[u8], &[u8])> = records.iter().map(|r| (&r.key[..], &r.value[..])).collect();
        assert_eq!(pairs, [(keys::AUDIT_HEAD, &b"head"[..]), (&keys::audit_record(1)[..], &b"record"[..])]);
    }
}
