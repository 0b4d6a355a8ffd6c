//! Persistence on RocksDB, in two databases under the data dir (column
//! families in [`cf`]): `log/` holds the Raft log and Raft's metadata, `db/`
//! the state machine. Each has its own WAL, so the log's synced appends and
//! the state machine's unsynced applies never wait for each other (RocksDB
//! makes a write wait for any synced write ahead of it in its WAL's queue).
//! Nothing needs the two to commit together: an entry is applied only after
//! it is synced in the log. Data dirs from before the split keep the log in
//! `db/`; [`open`] moves it (see `open_log_db`), and the audit chain's head
//! out of the audit family (see `move_audit_head`).
//!
//! - [`log_store`]: openraft's `RaftLogStorage`; appends and votes are
//!   reported done only after the WAL is synced, but for a leader's own
//!   entries, synced in the background ([`durable`] says how far). `recent`
//!   keeps the newest entries in memory for the reads that follow each
//!   append.
//! - [`state_machine`]: openraft's `RaftStateMachine`, applying commands with
//!   `crate::state` and committing each batch atomically with its log id.
//! - [`snapshots`]: the current snapshot, a RocksDB checkpoint, and
//!   `raft::snapshot_data`: its bytes, serialized only when read.
//! - [`snapshot_file`]: the snapshot file format, authenticated by a MAC
//!   under a key from above this layer (`snapshot_keys`); `install` replaces the
//!   state with a received one in bounded memory, and recovers from a stop
//!   in the middle; `purge_gate` keeps the log from being purged past a
//!   snapshot before it is installed.
//! - [`view`]: read views implementing `state::kv::Kv`; `vault_cache` keeps
//!   vault records for readers between the writes that change them.
//! - `db`: a database shared by these parts, and the watch that tells when
//!   both databases have closed.

pub mod cf;
mod db;
pub mod durable;
mod error;
mod install;
mod purge_gate;

pub use install::restore;
pub mod log_store;
mod recent;
pub mod snapshot_file;
mod snapshot_keys;
pub mod snapshots;
pub mod state_machine;
mod vault_cache;
pub mod view;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rocksdb::{ColumnFamilyDescriptor, Options, DB};

use crate::raft::NodeId;
use db::Db;

pub use crate::raft::snapshot_data::SnapshotData;
pub use db::DbRelease;
pub use error::StorageError;
pub use log_store::LogStore;
pub use snapshot_keys::SnapshotKeys;
pub use state_machine::StateMachine;
pub use view::StateReader;

/// Opens (or creates) the databases of node `id` under `data_dir` and
/// returns the log store, the state machine and a reader for serving
/// queries.
pub fn open(data_dir: &Path, id: NodeId) -> Result<(LogStore, StateMachine, StateReader), StorageError> {
    let mut db = open_db(&data_dir.join("db"), cf::STATE_DB)?;
    move_audit_head(&db)?;
    keep_moved_audit_files(&db)?;
    let log_db = open_log_db(data_dir, &mut db)?;
    // One release watch for both databases (see `StateReader::release_watch`).
    let open = Arc::new(());
    let db = Db::new(db, &open);
    let snapshot_dir: PathBuf = data_dir.join("snapshots");
    std::fs::create_dir_all(&snapshot_dir).map_err(|e| StorageError::Io(e.to_string()))?;
    let generations = Arc::new(view::Generations::default());
    let gate = Arc::new(purge_gate::PurgeGate::default());
    let log = LogStore::open(id, Db::new(log_db, &open), gate.clone())?;
    let state_machine = StateMachine::new(db.clone(), snapshot_dir, generations.clone(), log.durable(), gate)?;
    Ok((log, state_machine, StateReader::new(db, generations)))
}

/// Deletes the log entries of the (stopped) node under `data_dir` after
/// `index`: what a crash loses of appends not yet synced, for tests that
/// crash a node (see `Node::hold_log_syncs`; a fault, see `crate::faults`).
#[cfg(feature = "fault-injection")]
pub fn lose_log_after(data_dir: &Path, index: u64) -> Result<(), StorageError> {
    let db = open_db(&data_dir.join("log"), cf::LOG_DB)?;
    let mut batch = rocksdb::WriteBatch::default();
    let key = log_store::index_key;
    batch.delete_range_cf(handle(&db, cf::LOG), key(index.saturating_add(1)), key(u64::MAX));
    let mut sync = rocksdb::WriteOptions::default();
    sync.set_sync(true);
    Ok(db.write_opt(batch, &sync)?)
}

/// Opens the log's database, first moving the log out of the state's
/// database (`state_db`) where an older data dir kept it. The move is
/// copied into `log.new/`, synced, then renamed to `log/`: a crash before
/// the rename leaves the old copy in place to start over from, and one
/// after it leaves the old column families to drop on the next open.
fn open_log_db(data_dir: &Path, state_db: &mut DB) -> Result<DB, StorageError> {
    let path = data_dir.join("log");
    if !path.exists() {
        let building = data_dir.join("log.new");
        if building.exists() {
            std::fs::remove_dir_all(&building)?;
        }
        let new = open_db(&building, cf::LOG_DB)?;
        for name in cf::LOG_DB {
            if let Some(old) = state_db.cf_handle(name) {
                copy_family(state_db, old, &new, handle(&new, name))?;
            }
        }
        new.flush_wal(true)?;
        drop(new);
        std::fs::rename(&building, &path)?;
        std::fs::File::open(data_dir)?.sync_all()?;
    }
    for name in cf::LOG_DB {
        if state_db.cf_handle(name).is_some() {
            state_db.drop_cf(name)?;
        }
    }
    open_db(&path, cf::LOG_DB)
}

/// Moves the audit chain's head into its own column family (see
/// [`cf::AUDIT_HEAD`]) from the records' family, where older data dirs kept
/// it, or the state's, in one synced batch. Does nothing once it is moved.
fn move_audit_head(db: &DB) -> Result<(), StorageError> {
    let key = crate::state::keys::AUDIT_HEAD;
    let mut batch = rocksdb::WriteBatch::default();
    for old in [cf::AUDIT, cf::STATE] {
        if let Some(head) = db.get_cf(handle(db, old), key)? {
            batch.put_cf(handle(db, cf::AUDIT_HEAD), key, head);
            batch.delete_cf(handle(db, old), key);
        }
    }
    if batch.is_empty() {
        return Ok(());
    }
    let mut sync = rocksdb::WriteOptions::default();
    sync.set_sync(true);
    Ok(db.write_opt(batch, &sync)?)
}

/// Lets the audit records' files stay as flushed once compaction has moved
/// them to the last level. By default RocksDB rewrites each such file once
/// to zero its sequence numbers as soon as no snapshot needs them — for an
/// append-only log, a second write of everything it holds, for nothing
/// (bench/RESULTS.md, 'What was tried'); zeroed, they would save a few bytes per
/// record. Delayed by a year, a file is rewritten only if it is still there
/// then, and trimmed records never are. The crate has no setter for the
/// option, so it is set on the open database.
fn keep_moved_audit_files(db: &DB) -> Result<(), StorageError> {
    const YEAR_SECS: &str = "31536000";
    Ok(db.set_options_cf(handle(db, cf::AUDIT), &[("bottommost_file_compaction_delay", YEAR_SECS)])?)
}

/// Copies every record of `from` (in `src`) into `to` (in `dst`), in batches.
fn copy_family(
    src: &DB,
    from: &rocksdb::ColumnFamily,
    dst: &DB,
    to: &rocksdb::ColumnFamily,
) -> Result<(), StorageError> {
    let mut batch = rocksdb::WriteBatch::default();
    for item in src.iterator_cf(from, rocksdb::IteratorMode::Start) {
        let (k, v) = item?;
        batch.put_cf(to, k, v);
        if batch.len() >= 1024 {
            dst.write(std::mem::take(&mut batch))?;
        }
    }
    Ok(dst.write(batch)?)
}

/// Opens (or creates) the database at `path` with the column families
/// `families`, and any others it already has (RocksDB opens all or none).
fn open_db(path: &Path, families: &[&str]) -> Result<DB, StorageError> {
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    // Flushes and compactions in parallel, and their writes (and the WAL's)
    // synced in 1 MiB steps rather than in bursts that stall the synced
    // log appends: shallower throughput dips under sustained writes
    // (bench/RESULTS.md, 'What was tried').
    opts.set_max_background_jobs(4);
    opts.set_bytes_per_sync(1 << 20);
    opts.set_wal_bytes_per_sync(1 << 20);
    // Reuse obsolete WAL files rather than growing new ones: an append
    // that does not change the file's size needs no inode write, so each
    // synced append is one write to the disk, not two (a probe synced
    // 1.34-1.42x as many overwrites as appends per second). Records carry
    // their WAL's number, so recovery stops at a recycled file's stale tail.
    opts.set_recycle_log_file_num(4);
    let mut names: Vec<String> = families.iter().map(|f| f.to_string()).collect();
    if path.exists() {
        for existing in DB::list_cf(&opts, path)? {
            if existing != rocksdb::DEFAULT_COLUMN_FAMILY_NAME && !names.contains(&existing) {
                names.push(existing);
            }
        }
    }
    let cfs = names.iter().map(|name| ColumnFamilyDescriptor::new(name, cf_options(name)));
    Ok(DB::open_cf_descriptors(&opts, path, cfs)?)
}

/// A column family's options. The state is read by point lookups (a
/// secret's head, a version, a token), many of them for keys that do not
/// exist (a new version's id is checked before it is written): a Bloom
/// filter lets those skip the table files that cannot hold the key, which
/// otherwise makes every lookup slower as the data grows.
fn cf_options(name: &str) -> Options {
    let mut opts = Options::default();
    if name == cf::STATE || name == cf::AUDIT {
        let mut table = rocksdb::BlockBasedOptions::default();
        table.set_bloom_filter(10.0, false);
        opts.set_block_based_table_factory(&table);
    }
    opts
}

/// The handle of a column family that `open_db` created.
pub(crate) fn handle<'a>(db: &'a DB, name: &str) -> &'a rocksdb::ColumnFamily {
    // Each database is opened with the families its users ask for, so this
    // cannot fail.
    db.cf_handle(name).unwrap_or_else(|| unreachable!("column family {name} is created on open"))
}

#[cfg(test)]
mod tests {
    use openraft::storage::RaftLogStorage;
    use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, RaftLogReader, Vote};

    use super::*;
    use crate::raft::TypeConfig;

    fn blank(index: u64) -> Entry<TypeConfig> {
        Entry { log_id: LogId::new(CommittedLeaderId::new(1, 1), index), payload: EntryPayload::Blank }
    }

    /// A log and a vote where data dirs kept them before the split: in the
    /// state's database.
    async fn old_layout(dir: &Path) {
        let all = [cf::LOG, cf::RAFT_META, cf::STATE, cf::SM_META, cf::AUDIT];
        let mut log = LogStore::open(1, Db::alone(open_db(&dir.join("db"), &all).unwrap()), Arc::default()).unwrap();
        log.append_sync((1..=3).map(blank)).unwrap();
        log.save_vote(&Vote::new_committed(1, 2)).await.unwrap();
    }

    #[tokio::test]
    async fn a_log_kept_in_the_state_database_moves_to_its_own_without_loss() {
        let dir = tempfile::tempdir().unwrap();
        old_layout(dir.path()).await;
        // A move interrupted before its rename left a partial copy.
        std::fs::create_dir_all(dir.path().join("log.new")).unwrap();
        std::fs::write(dir.path().join("log.new/partial"), b"x").unwrap();
        // The second open finds the log already moved.
        for _ in 0..2 {
            let (mut log, _state_machine, _reader) = open(dir.path(), 1).unwrap();
            let state = log.get_log_state().await.unwrap();
            assert_eq!(state.last_log_id, Some(blank(3).log_id));
            assert_eq!(log.read_vote().await.unwrap(), Some(Vote::new_committed(1, 2)));
            let entries = log.try_get_log_entries(1..4).await.unwrap();
            assert_eq!(entries.iter().map(|e| e.log_id.index).collect::<Vec<_>>(), [1, 2, 3]);
        }
        let families = DB::list_cf(&Options::default(), dir.path().join("db")).unwrap();
        assert!(!families.iter().any(|f| cf::LOG_DB.contains(&f.as_str())), "old copy left: {families:?}");
        assert!(!dir.path().join("log.new").exists());
    }

    fn keys_of(db: &DB, family: &str) -> Vec<Vec<u8>> {
        db.iterator_cf(handle(db, family), rocksdb::IteratorMode::Start).map(|kv| kv.unwrap().0.to_vec()).collect()
    }

    #[tokio::test]
    async fn the_audit_head_has_a_family_of_its_own_and_an_old_one_moves_there() {
        use openraft::storage::RaftStateMachine;
        use prost::Message;

        use crate::proto::storage::{op::Kind, AppendAudit, AuditHead, AuditRecord, Command, Op};
        use crate::state::keys;

        let dir = tempfile::tempdir().unwrap();
        // An older data dir: the chain's head beside its records.
        {
            let db = open_db(&dir.path().join("db"), cf::STATE_DB).unwrap();
            let head = AuditHead { last_seq: 1, last_hash: vec![7; 32], checkpoint: None, anchored_seq: 0 };
            db.put_cf(handle(&db, cf::AUDIT), keys::AUDIT_HEAD, head.encode_to_vec()).unwrap();
            db.put_cf(handle(&db, cf::AUDIT), keys::audit_record(1), b"record one").unwrap();
        }
        let (_log, mut state_machine, reader) = open(dir.path(), 1).unwrap();
        assert_eq!(reader.read(|kv| crate::state::audit::head(kv)).unwrap().last_seq, 1, "the head survives its move");
        // Records appended now chain on from it; the head stays in its own family.
        let append = |seq: u64| Entry::<TypeConfig> {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), seq),
            payload: EntryPayload::Normal(Arc::new(Command {
                now: 0,
                ops: vec![Op {
                    kind: Some(Kind::AppendAudit(AppendAudit {
                        record: Some(AuditRecord { operation: format!("op{seq}"), ..Default::default() }),
                    })),
                }],
            })),
        };
        state_machine.apply([append(2), append(3)]).await.unwrap();
        let head = reader.read(|kv| crate::state::audit::head(kv)).unwrap();
        assert_eq!(head.last_seq, 3);
        drop((state_machine, reader));
        let db = open_db(&dir.path().join("db"), cf::STATE_DB).unwrap();
        let records: Vec<Vec<u8>> = (1..=3).map(keys::audit_record).collect();
        assert_eq!(keys_of(&db, cf::AUDIT), records);
        assert_eq!(keys_of(&db, cf::AUDIT_HEAD), [keys::AUDIT_HEAD.to_vec()]);
        assert!(!keys_of(&db, cf::STATE).contains(&keys::AUDIT_HEAD.to_vec()));
    }

    #[test]
    fn moved_audit_files_are_not_rewritten_for_their_sequence_numbers() {
        let dir = tempfile::tempdir().unwrap();
        drop(open(dir.path(), 1).unwrap());
        // RocksDB writes the options in force to OPTIONS-<n>; the newest is current.
        let newest = std::fs::read_dir(dir.path().join("db"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("OPTIONS-"))
            .max_by_key(|p| p.file_name().unwrap().to_string_lossy()[8..].parse::<u64>().unwrap())
            .unwrap();
        let options = std::fs::read_to_string(newest).unwrap();
        let audit = options.split("[CFOptions \"").find(|s| s.starts_with("audit\"")).unwrap();
        assert!(audit.contains("bottommost_file_compaction_delay=31536000"), "{audit}");
    }

    #[tokio::test]
    async fn a_new_data_dir_gets_separate_log_and_state_databases() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _state_machine, _reader) = open(dir.path(), 1).unwrap();
        log.append_sync((1..=2).map(blank)).unwrap();
        let families = |db: &str| DB::list_cf(&Options::default(), dir.path().join(db)).unwrap();
        assert!(families("log").contains(&cf::LOG.to_string()));
        assert!(!families("db").contains(&cf::LOG.to_string()));
        // An offline restore refuses a data dir that holds a log.
        std::fs::remove_dir_all(dir.path().join("db")).unwrap();
        let key = crate::crypto::Key256::generate().unwrap();
        let err = restore(dir.path(), &dir.path().join("none.snap"), &key).unwrap_err();
        assert!(err.to_string().contains("already holds a database"), "{err}");
    }
}
