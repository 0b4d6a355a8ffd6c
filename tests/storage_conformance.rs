//! openraft's own storage conformance suite, run against the RocksDB log
//! store and state machine.

use coffer::raft::{NodeId, TypeConfig};
use coffer::storage::{self, LogStore, StateMachine};
use openraft::testing::{StoreBuilder, Suite};
use openraft::StorageError;
use tempfile::TempDir;

struct RocksBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, TempDir> for RocksBuilder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachine), StorageError<NodeId>> {
        let dir = tempfile::tempdir().expect("temp dir");
        let (log, sm, _reader) = storage::open(dir.path(), 1).expect("open storage");
        Ok((dir, log, sm))
    }
}

#[test]
fn rocksdb_store_passes_openraft_suite() {
    Suite::test_all(RocksBuilder).expect("conformance suite");
}
