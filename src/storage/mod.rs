//! Persistence on RocksDB: the Raft log store and the state machine share one
//! database (one WAL), in separate column families (see [`cf`]).
//!
//! - [`log_store`]: openraft's `RaftLogStorage`; appends and votes are
//!   reported done only after the WAL is synced. `recent` keeps the newest
//!   entries in memory for the reads that follow each append.
//! - [`state_machine`]: openraft's `RaftStateMachine`, applying commands with
//!   `crate::state` and committing each batch atomically with its log id.
//! - [`snapshots`]: the current snapshot, a RocksDB checkpoint, and
//!   [`snapshot_data`]: its bytes, serialized only when read.
//! - [`snapshot_file`]: the snapshot file format, installed atomically.
//! - [`view`]: read views implementing `state::kv::Kv`.

pub mod cf;
mod error;
pub mod log_store;
mod recent;
pub mod snapshot_data;
pub mod snapshot_file;
pub mod snapshots;
pub mod state_machine;
pub mod view;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rocksdb::{ColumnFamilyDescriptor, Options, DB};

pub use error::StorageError;
pub use log_store::LogStore;
pub use snapshot_data::SnapshotData;
pub use state_machine::StateMachine;
pub use view::StateReader;

/// Opens (or creates) the database under `data_dir` and returns the log store,
/// the state machine and a reader for serving queries.
pub fn open(data_dir: &Path) -> Result<(LogStore, StateMachine, StateReader), StorageError> {
    let db = Arc::new(open_db(&data_dir.join("db"))?);
    let snapshot_dir: PathBuf = data_dir.join("snapshots");
    std::fs::create_dir_all(&snapshot_dir).map_err(|e| StorageError::Io(e.to_string()))?;
    let generations = Arc::new(view::Generations::default());
    let state_machine = StateMachine::new(db.clone(), snapshot_dir, generations.clone())?;
    Ok((LogStore::new(db.clone()), state_machine, StateReader::new(db, generations)))
}

/// Seeds the state of a new node from a saved snapshot file (offline).
/// Refuses a data directory that already holds a database. Returns the
/// number of records restored.
pub fn restore(data_dir: &Path, snapshot: &Path) -> Result<u64, StorageError> {
    if data_dir.join("db").exists() {
        return Err(StorageError::Io(format!("{} already holds a database", data_dir.display())));
    }
    let mut file = std::fs::File::open(snapshot)?;
    let records = snapshot_file::read_all(&mut file)?;
    std::fs::create_dir_all(data_dir)?;
    let db = open_db(&data_dir.join("db"))?;
    let mut batch = rocksdb::WriteBatch::default();
    for r in &records {
        batch.put_cf(handle(&db, cf::of_state_key(&r.key)), &r.key, &r.value);
    }
    let mut sync = rocksdb::WriteOptions::default();
    sync.set_sync(true);
    db.write_opt(batch, &sync)?;
    Ok(records.len() as u64)
}

fn open_db(path: &Path) -> Result<DB, StorageError> {
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    // Flushes and compactions in parallel, and their writes (and the WAL's)
    // synced in 1 MiB steps rather than in bursts that stall the synced
    // log appends: shallower throughput dips under sustained writes
    // (bench/RESULTS.md, "RocksDB background I/O").
    opts.set_max_background_jobs(4);
    opts.set_bytes_per_sync(1 << 20);
    opts.set_wal_bytes_per_sync(1 << 20);
    // Reuse obsolete WAL files rather than growing new ones: an append
    // that does not change the file's size needs no inode write, so each
    // synced append is one write to the disk, not two (bench/RESULTS.md,
    // session 6). Records carry their WAL's number, so recovery stops at a
    // recycled file's stale tail.
    opts.set_recycle_log_file_num(4);
    let cfs = cf::ALL.iter().map(|name| ColumnFamilyDescriptor::new(*name, cf_options(name)));
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

/// The handle of a column family that `open_db` always creates.
pub(crate) fn handle<'a>(db: &'a DB, name: &str) -> &'a rocksdb::ColumnFamily {
    // Every name in cf::ALL is created in open_db, so this cannot fail.
    db.cf_handle(name).unwrap_or_else(|| unreachable!("column family {name} is created on open"))
}
