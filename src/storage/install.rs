//! Replacing the whole state with a snapshot's, in bounded memory: a
//! snapshot received from the leader, or (offline, [`restore`]) a saved one
//! seeding a new node.
//!
//! A snapshot can be as large as the state, audit log included, so it is
//! written in batches of at most [`CHUNK_BYTES`], not in one:
//!
//! 1. one synced batch marks the install as begun (`sm_meta/installing`) and
//!    deletes the old state;
//! 2. the records follow in unsynced batches;
//! 3. one synced batch sets the applied log id and membership and removes
//!    the mark (syncing the WAL syncs every batch before it).
//!
//! Readers refuse while this runs (see `Generations::begin_install`). A
//! stop in the middle leaves the mark: the next open puts back the state
//! of the node's current snapshot (or an empty state if it has none), whose
//! log id the Raft log has not been purged past, and Raft brings the node
//! up from there (sending the snapshot again if it must).

use std::path::Path;

use openraft::{LogId, StoredMembership};
use prost::Message;
use rocksdb::{WriteBatch, WriteOptions, DB};

use super::snapshots::SnapshotStore;
use super::view::{DbView, Generations};
use super::{cf, handle, snapshot_file, StorageError};
use crate::crypto::Key256;
use crate::fsutil::rename_synced;
use crate::proto::raft as pb;
use crate::raft::codec::log_id::opt_to_pb;
use crate::raft::{NodeId, NodeInfo};
use crate::state::kv::KvError;

/// The most a batch of an install holds before it is written.
pub const CHUNK_BYTES: usize = 8 << 20;

/// Where a snapshot's records come from: `source(put)` calls `put` for each.
pub type Put<'p> = dyn FnMut(&[u8], &[u8]) -> Result<(), StorageError> + 'p;

/// Replaces the state with the records `source` gives, applied through
/// `applied` with `membership`, writing batches of at most `chunk_bytes`.
/// On an error the mark stays and readers keep refusing: the state is
/// partly replaced until the next open recovers it.
pub(super) fn replace_state(
    db: &DB,
    generations: &Generations,
    applied: Option<LogId<NodeId>>,
    membership: &StoredMembership<NodeId, NodeInfo>,
    chunk_bytes: usize,
    source: impl FnOnce(&mut Put<'_>) -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    let sm = handle(db, cf::SM_META);
    generations.begin_install();
    let mut begin = WriteBatch::default();
    begin.put_cf(sm, cf::sm_meta::INSTALLING, b"");
    // State keys are printable ASCII, so [0xff] bounds the whole keyspace.
    for family in cf::STATE_KEYSPACE {
        begin.delete_range_cf(handle(db, family), &[][..], &[0xffu8][..]);
    }
    db.write_opt(begin, &synced())?;

    let mut batch = WriteBatch::default();
    source(&mut |key, value| {
        batch.put_cf(handle(db, cf::of_state_key(key)), key, value);
        if batch.size_in_bytes() >= chunk_bytes {
            db.write(std::mem::take(&mut batch))?;
        }
        Ok(())
    })?;
    let applied = pb::StoredLogId { log_id: opt_to_pb(applied) };
    batch.put_cf(sm, cf::sm_meta::LAST_APPLIED, applied.encode_to_vec());
    batch.put_cf(sm, cf::sm_meta::MEMBERSHIP, pb::StoredMembership::from(membership).encode_to_vec());
    batch.delete_cf(sm, cf::sm_meta::INSTALLING);
    db.write_opt(batch, &synced())?;
    generations.end_install();
    generations.note(None::<std::iter::Empty<&[u8]>>);
    Ok(())
}

/// Seeds the state of a new node from a saved snapshot file (offline), in
/// bounded memory like an install: the file's MAC is checked against `key`
/// (the cluster's snapshot key) and the file read through once first, and
/// the database is built beside the data dir's `db/` and renamed to it
/// when whole. Refuses a data directory that already holds a database.
/// Returns the number of records restored.
pub fn restore(data_dir: &Path, snapshot: &Path, key: &Key256) -> Result<u64, StorageError> {
    restore_in_chunks(data_dir, snapshot, key, CHUNK_BYTES)
}

fn restore_in_chunks(data_dir: &Path, snapshot: &Path, key: &Key256, chunk_bytes: usize) -> Result<u64, StorageError> {
    let db_dir = data_dir.join("db");
    if db_dir.exists() || data_dir.join("log").exists() {
        return Err(StorageError::Io(format!("{} already holds a database", data_dir.display())));
    }
    let mut file = std::fs::File::open(snapshot)?;
    snapshot_file::verify(&mut file, key)?;
    let mut count = 0u64;
    snapshot_file::read_each(&mut file, |_| {
        count += 1;
        Ok(())
    })?;
    std::fs::create_dir_all(data_dir)?;
    let building = data_dir.join("db.restoring");
    if building.exists() {
        std::fs::remove_dir_all(&building)?;
    }
    {
        let db = super::open_db(&building, cf::STATE_DB)?;
        let mut batch = WriteBatch::default();
        snapshot_file::read_each(&mut file, |r| {
            batch.put_cf(handle(&db, cf::of_state_key(&r.key)), &r.key, &r.value);
            if batch.size_in_bytes() >= chunk_bytes {
                db.write(std::mem::take(&mut batch))?;
            }
            Ok(())
        })?;
        db.write_opt(batch, &synced())?;
    }
    rename_synced(&building, &db_dir)?;
    Ok(count)
}

/// At open: if an install was cut short, puts back the state of the
/// current snapshot (an empty state if there is none).
pub(super) fn recover(db: &DB, generations: &Generations, snapshots: &SnapshotStore) -> Result<(), StorageError> {
    if db.get_cf(handle(db, cf::SM_META), cf::sm_meta::INSTALLING)?.is_none() {
        return Ok(());
    }
    match snapshots.current_checkpoint()? {
        Some((meta, checkpoint)) => {
            tracing::warn!(
                snapshot = %meta.snapshot_id,
                "a snapshot install was cut short; restoring this node's own last snapshot"
            );
            replace_state(db, generations, meta.last_log_id, &meta.last_membership, CHUNK_BYTES, |put| {
                let copy = DbView::new(&checkpoint).for_each(|k, v| put(k, v).map_err(|e| KvError::Io(e.to_string())));
                Ok(copy?)
            })
        }
        None => {
            tracing::warn!(
                "a snapshot install was cut short and this node has no snapshot of its own; \
                 starting from an empty state"
            );
            replace_state(db, generations, None, &StoredMembership::default(), CHUNK_BYTES, |_| Ok(()))
        }
    }
}

fn synced() -> WriteOptions {
    let mut sync = WriteOptions::default();
    sync.set_sync(true);
    sync
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use openraft::CommittedLeaderId;

    use super::*;
    use crate::storage::db::Db;
    use crate::storage::state_machine::applied_state;
    use crate::storage::view::StateReader;

    struct Node {
        _tmp: tempfile::TempDir,
        db: Arc<Db>,
        snapshots: SnapshotStore,
    }

    fn node() -> Node {
        let tmp = tempfile::tempdir().unwrap();
        let db = Db::alone(super::super::open_db(&tmp.path().join("db"), cf::STATE_DB).unwrap());
        let dir = tmp.path().join("snapshots");
        std::fs::create_dir_all(&dir).unwrap();
        let snapshots = SnapshotStore::new(db.clone(), dir, Arc::default(), Default::default()).unwrap();
        Node { snapshots, db, _tmp: tmp }
    }

    fn log_id(index: u64) -> LogId<NodeId> {
        LogId::new(CommittedLeaderId::new(3, 1), index)
    }

    /// Sets the state as apply would: `pairs` and the applied log id.
    fn applied(db: &DB, pairs: &[(&[u8], &[u8])], index: u64) {
        for (k, v) in pairs {
            db.put_cf(handle(db, cf::of_state_key(k)), k, v).unwrap();
        }
        let id = pb::StoredLogId { log_id: opt_to_pb(Some(log_id(index))) };
        db.put_cf(handle(db, cf::SM_META), cf::sm_meta::LAST_APPLIED, id.encode_to_vec()).unwrap();
    }

    fn read(reader: &StateReader, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        reader.read(|kv| kv.get(key))
    }

    fn applied_index(db: &DB) -> Option<u64> {
        applied_state(db).unwrap().0.map(|l| l.index)
    }

    fn marked(db: &DB) -> bool {
        db.get_cf(handle(db, cf::SM_META), cf::sm_meta::INSTALLING).unwrap().is_some()
    }

    fn cut_short(db: &DB, generations: &Generations) {
        let result = replace_state(db, generations, Some(log_id(20)), &StoredMembership::default(), 64, |put| {
            put(b"se/partial", &[7; 100])?;
            Err(StorageError::Io("the stream broke".into()))
        });
        assert!(result.is_err());
    }

    #[test]
    fn the_state_is_replaced_in_batches_and_read_only_once_whole() {
        let n = node();
        applied(&n.db, &[(b"se/old", b"x")], 3);
        let generations = Arc::new(Generations::default());
        let reader = StateReader::new(n.db.clone(), generations.clone());
        let audit_key = [crate::state::keys::AUDIT_RECORDS, b"1"].concat();
        let mut seen_mid_way = None;
        replace_state(&n.db, &generations, Some(log_id(7)), &StoredMembership::default(), 256, |put| {
            for i in 0..100 {
                put(format!("se/k{i:03}").as_bytes(), &[i as u8; 100])?;
                if i == 50 {
                    // Earlier batches are in the database already, but
                    // readers are refused until the install is whole.
                    let raw = n.db.get_cf(handle(&n.db, cf::STATE), b"se/k010").unwrap();
                    seen_mid_way = Some((raw.is_some(), read(&reader, b"se/k010")));
                }
            }
            put(&audit_key, b"record")
        })
        .unwrap();
        let (written, refused) = seen_mid_way.unwrap();
        assert!(written, "the first batches were written before the end");
        assert!(matches!(refused, Err(KvError::Installing)), "{refused:?}");

        assert_eq!(read(&reader, b"se/k099").unwrap(), Some(vec![99; 100]));
        assert_eq!(read(&reader, &audit_key).unwrap(), Some(b"record".to_vec()));
        assert_eq!(read(&reader, b"se/old").unwrap(), None, "the old state is gone");
        assert_eq!(applied_index(&n.db), Some(7));
        assert!(!marked(&n.db));
    }

    #[test]
    fn an_install_cut_short_is_rolled_back_to_the_nodes_own_snapshot_at_the_next_open() {
        let n = node();
        applied(&n.db, &[(b"se/a", b"one")], 5);
        n.snapshots.build().unwrap();
        applied(&n.db, &[(b"se/a", b"two"), (b"se/b", b"x")], 9);
        let generations = Generations::default();
        cut_short(&n.db, &generations);
        // Half replaced: marked, and refused to readers until recovered.
        assert!(marked(&n.db));
        let reader = StateReader::new(n.db.clone(), Arc::new(generations));
        assert!(matches!(read(&reader, b"se/a"), Err(KvError::Installing)));

        // The next open: the node's own snapshot, which its log continues.
        let reopened = Arc::new(Generations::default());
        recover(&n.db, &reopened, &n.snapshots).unwrap();
        let reader = StateReader::new(n.db.clone(), reopened.clone());
        assert_eq!(read(&reader, b"se/a").unwrap(), Some(b"one".to_vec()));
        assert_eq!(read(&reader, b"se/b").unwrap(), None);
        assert_eq!(read(&reader, b"se/partial").unwrap(), None);
        assert_eq!(applied_index(&n.db), Some(5));
        assert!(!marked(&n.db));
        // Nothing left to do the time after.
        recover(&n.db, &reopened, &n.snapshots).unwrap();
        assert_eq!(applied_index(&n.db), Some(5));
    }

    #[test]
    fn without_a_snapshot_of_its_own_a_cut_short_install_leaves_an_empty_state() {
        let n = node();
        applied(&n.db, &[(b"se/a", b"one")], 9);
        cut_short(&n.db, &Generations::default());
        let reopened = Arc::new(Generations::default());
        recover(&n.db, &reopened, &n.snapshots).unwrap();
        let reader = StateReader::new(n.db.clone(), reopened);
        assert_eq!(read(&reader, b"se/a").unwrap(), None);
        assert_eq!(read(&reader, b"se/partial").unwrap(), None);
        assert_eq!(applied_index(&n.db), None);
        assert!(!marked(&n.db));
    }

    #[test]
    fn a_saved_snapshot_seeds_a_new_data_dir_in_batches_or_not_at_all() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("saved.snap");
        let audit_key = [crate::state::keys::AUDIT_RECORDS, b"1"].concat();
        let key = Key256::generate().unwrap();
        let save = |key: Option<&Key256>| {
            snapshot_file::write::<StorageError>(&file, key, |visit| {
                for i in 0..100 {
                    visit(format!("se/k{i:03}").as_bytes(), &[i as u8; 100])?;
                }
                visit(&audit_key, b"record")
            })
            .unwrap();
            std::fs::read(&file).unwrap()
        };
        let data_dir = tmp.path().join("node");

        // A damaged file, one without a MAC and one under another key
        // create nothing.
        let whole = save(Some(&key));
        std::fs::write(&file, &whole[..whole.len() - 1]).unwrap();
        assert!(restore_in_chunks(&data_dir, &file, &key, 256).is_err());
        save(None);
        assert!(matches!(restore_in_chunks(&data_dir, &file, &key, 256), Err(StorageError::Unauthentic(_))));
        save(Some(&Key256::generate().unwrap()));
        assert!(matches!(restore_in_chunks(&data_dir, &file, &key, 256), Err(StorageError::Unauthentic(_))));
        assert!(!data_dir.exists());

        // A restore a crash cut short left its work beside `db/`; it is
        // started over.
        std::fs::write(&file, &whole).unwrap();
        std::fs::create_dir_all(data_dir.join("db.restoring/junk")).unwrap();
        assert_eq!(restore_in_chunks(&data_dir, &file, &key, 256).unwrap(), 101);
        assert!(!data_dir.join("db.restoring").exists());
        let db = super::super::open_db(&data_dir.join("db"), cf::STATE_DB).unwrap();
        let get = |key: &[u8]| db.get_cf(handle(&db, cf::of_state_key(key)), key).unwrap();
        assert_eq!(get(b"se/k000"), Some(vec![0; 100]));
        assert_eq!(get(b"se/k099"), Some(vec![99; 100]));
        assert_eq!(get(&audit_key), Some(b"record".to_vec()));
        drop(db);
        assert!(restore_in_chunks(&data_dir, &file, &key, 256).is_err(), "a data dir with a database is refused");
    }
}
