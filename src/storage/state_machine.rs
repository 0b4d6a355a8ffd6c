//! openraft's state machine on RocksDB. Each `apply` call runs the commands
//! through `crate::state` and commits their writes, the last applied log id
//! and any membership change in one atomic batch.
//!
//! Applied batches are not synced: every entry is synced in the log's own
//! database before it is applied (a leader's own entries may be appended
//! unsynced; apply waits for their sync, see `super::durable`), so a crash
//! can only lose a suffix of applied batches whose entries are still in the
//! log (they are re-applied on restart), and a snapshot syncs this
//! database's WAL before the log it covers can be purged.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{Entry, EntryPayload, LogId, OptionalSend, StorageIOError, StoredMembership};
use prost::Message;
use rocksdb::{WriteBatch, DB};

use super::db::Db;
use super::durable::Durable;
use super::error::{raft_err, RaftStorageError};
use super::purge_gate::PurgeGate;
use super::snapshots::{to_snapshot, Meta, SnapshotStore};
use super::view::DbView;
use super::{cf, handle, install, snapshot_file, StorageError};
use crate::faults::Install;
use crate::proto::raft as pb;
use crate::raft::codec::log_id::{opt_from_pb, opt_to_pb};
use crate::raft::snapshot_data::SnapshotData;
use crate::raft::{NodeId, NodeInfo, TypeConfig};
use crate::state::kv::{KvError, Txn};
use crate::state::{apply, ApplyOutput};

type Membership = StoredMembership<NodeId, NodeInfo>;

/// The replicated state machine.
pub struct StateMachine {
    db: Arc<Db>,
    snapshots: SnapshotStore,
    generations: Arc<super::view::Generations>,
    /// The log's durable point: nothing is applied before it is on disk.
    durable: Arc<Durable>,
    /// Set by tests: the next install breaks off after its first record,
    /// as a stop in the middle would leave it (see `crate::faults`).
    install_fault: Install,
    /// The snapshot files' MAC key source (see `snapshot_file`).
    keys: super::SnapshotKeys,
}

impl StateMachine {
    pub(super) fn new(
        db: Arc<Db>,
        dir: PathBuf,
        generations: Arc<super::view::Generations>,
        durable: Arc<Durable>,
        gate: Arc<PurgeGate>,
    ) -> Result<Self, StorageError> {
        let keys = super::SnapshotKeys::default();
        let snapshots = SnapshotStore::new(db.clone(), dir, gate, keys.clone())?;
        install::recover(&db, &generations, &snapshots)?;
        Ok(StateMachine { snapshots, db, generations, durable, install_fault: Install::default(), keys })
    }

    /// Where the key that authenticates this node's snapshot files comes
    /// from: set it once the node's keys can be asked for.
    pub fn snapshot_keys(&self) -> super::SnapshotKeys {
        self.keys.clone()
    }

    /// A switch that makes the next snapshot install break off half-way
    /// (tests; see `Node::break_next_snapshot_install`).
    #[cfg(feature = "fault-injection")]
    pub fn install_fault(&self) -> Install {
        self.install_fault.clone()
    }

    fn apply_entries(
        &self,
        entries: impl IntoIterator<Item = Entry<TypeConfig>>,
    ) -> Result<Vec<ApplyOutput>, StorageError> {
        let view = DbView::new(&self.db);
        let mut txn = Txn::new(&view);
        let mut outputs = Vec::new();
        let mut last = None;
        let mut membership = None;
        for entry in entries {
            last = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => outputs.push(ApplyOutput::default()),
                EntryPayload::Normal(cmd) => outputs.push(apply::apply(&mut txn, &cmd)),
                EntryPayload::Membership(m) => {
                    membership = Some(Membership::new(Some(entry.log_id), m));
                    outputs.push(ApplyOutput::default());
                }
            }
        }
        let Some(last) = last else { return Ok(outputs) };
        let writes = txn.into_writes();
        drop(view);
        // Only the few keys of cached record families matter to readers.
        let changed: Vec<Vec<u8>> = writes
            .keys()
            .filter(|k| crate::state::keys::is_system(k) || crate::state::keys::is_token(k))
            .cloned()
            .collect();
        let changes_vaults = writes.keys().any(|k| k.starts_with(crate::state::keys::VAULTS));
        let mut batch = WriteBatch::default();
        for (k, v) in writes {
            let family = handle(&self.db, cf::of_state_key(&k));
            match v {
                Some(v) => batch.put_cf(family, k, v),
                None => batch.delete_cf(family, k),
            }
        }
        let meta = handle(&self.db, cf::SM_META);
        let applied = pb::StoredLogId { log_id: opt_to_pb(Some(last)) };
        batch.put_cf(meta, cf::sm_meta::LAST_APPLIED, applied.encode_to_vec());
        if let Some(m) = membership {
            batch.put_cf(meta, cf::sm_meta::MEMBERSHIP, pb::StoredMembership::from(&m).encode_to_vec());
        }
        self.generations.writing_vaults(changes_vaults, || self.db.write(batch))?;
        self.generations.note(Some(changed.iter().map(Vec::as_slice)));
        Ok(outputs)
    }

    /// Installs a received snapshot file: read through once to check it
    /// whole (a damaged file changes nothing), then again into the state in
    /// bounded batches (see `super::install`).
    fn install(&self, meta: &Meta, file: &mut File) -> Result<(), StorageError> {
        snapshot_file::read_each(file, |_| Ok(()))?;
        install::replace_state(
            &self.db,
            &self.generations,
            meta.last_log_id,
            &meta.last_membership,
            install::CHUNK_BYTES,
            |put| {
                let breaks = self.install_fault.take();
                let mut seen = 0;
                snapshot_file::read_each(file, |r| {
                    seen += 1;
                    if let Some(why) = breaks.filter(|_| seen > 1) {
                        return Err(StorageError::Io(why.into()));
                    }
                    put(&r.key, &r.value)
                })
            },
        )?;
        // The installed state is this node's current snapshot now.
        self.snapshots.adopt_installed(meta)
    }
}

/// The last applied log id and the membership stored in `db` (the live
/// database, or a snapshot's checkpoint).
pub(super) fn applied_state(db: &DB) -> Result<(Option<LogId<NodeId>>, Membership), StorageError> {
    let sm = handle(db, cf::SM_META);
    let applied = match db.get_cf(sm, cf::sm_meta::LAST_APPLIED)? {
        Some(b) => opt_from_pb(pb::StoredLogId::decode(b.as_slice())?.log_id)?,
        None => None,
    };
    let membership = match db.get_cf(sm, cf::sm_meta::MEMBERSHIP)? {
        Some(b) => pb::StoredMembership::decode(b.as_slice())?.try_into()?,
        None => Membership::default(),
    };
    Ok((applied, membership))
}

impl From<KvError> for StorageError {
    fn from(e: KvError) -> Self {
        StorageError::Io(e.to_string())
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotStore;

    async fn applied_state(&mut self) -> Result<(Option<LogId<NodeId>>, Membership), RaftStorageError> {
        applied_state(&self.db).map_err(raft_err(StorageIOError::read_state_machine))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<ApplyOutput>, RaftStorageError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<_> = entries.into_iter().collect();
        let write = raft_err(StorageIOError::write_state_machine);
        if let Some(last) = entries.last() {
            self.durable.wait_synced(last.log_id.index).await.map_err(&write)?;
        }
        self.apply_entries(entries).map_err(write)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.snapshots.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<SnapshotData>, RaftStorageError> {
        self.snapshots.receiving();
        let file = self.snapshots.incoming().map_err(raft_err(|e| StorageIOError::write_snapshot(None, e)))?;
        Ok(Box::new(SnapshotData::file(file)))
    }

    async fn install_snapshot(&mut self, meta: &Meta, snapshot: Box<SnapshotData>) -> Result<(), RaftStorageError> {
        let install = async { self.install(meta, &mut snapshot.into_std().await?) };
        install.await.map_err(raft_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), e)))
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, RaftStorageError> {
        let current = self.snapshots.current().map_err(raft_err(|e| StorageIOError::read_snapshot(None, e)))?;
        Ok(current.map(to_snapshot))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(db: &DB, key: &[u8]) -> Option<Vec<u8>> {
        db.get_cf(handle(db, cf::STATE), key).unwrap()
    }

    /// A state machine and a reader over one fresh database (the sync
    /// thread runs while the fixture lives).
    struct Fixture {
        db: Arc<Db>,
        sm: StateMachine,
        reader: super::super::StateReader,
        _sync: super::super::durable::SyncThread,
    }

    fn open(tmp: &std::path::Path) -> Fixture {
        let db = Db::alone(super::super::open_db(&tmp.join("db"), cf::STATE_DB).unwrap());
        let dir = tmp.join("snapshots");
        std::fs::create_dir_all(&dir).unwrap();
        let (durable, sync) = Durable::start(0, || Ok(())).unwrap();
        let generations = Arc::new(super::super::view::Generations::default());
        let sm = StateMachine::new(db.clone(), dir, generations.clone(), durable, Arc::default()).unwrap();
        Fixture { reader: super::super::StateReader::new(db.clone(), generations), db, sm, _sync: sync }
    }

    #[test]
    fn readers_see_every_vault_write_past_their_cache() {
        use crate::proto::storage::{op::Kind, Command, CreateVault, DeleteVault, Op, UpdateVault};
        use openraft::{CommittedLeaderId, LogId};
        let tmp = tempfile::tempdir().unwrap();
        let Fixture { sm, reader, .. } = &open(tmp.path());
        let mut index = 0;
        let mut apply = |kind: Kind| {
            index += 1;
            let cmd = Command { now: 1, ops: vec![Op { kind: Some(kind) }] };
            let log_id = LogId::new(CommittedLeaderId::new(1, 1), index);
            let out = sm.apply_entries([Entry { log_id, payload: EntryPayload::Normal(Arc::new(cmd)) }]).unwrap();
            assert!(out[0].0[0].is_ok(), "{out:?}");
        };
        let vault = || reader.read(|kv| crate::state::vaults::get(kv, "v"));
        // Twice each time: the second read comes from the cache.
        for _ in 0..2 {
            assert!(matches!(vault(), Err(crate::state::StateError::VaultNotFound(_))));
        }
        apply(Kind::CreateVault(CreateVault { name: "v".into(), retention_days: 7, purge_protection: false }));
        for _ in 0..2 {
            assert!(!vault().unwrap().purge_protection);
        }
        apply(Kind::UpdateVault(UpdateVault { name: "v".into(), purge_protection: Some(true) }));
        for _ in 0..2 {
            assert!(vault().unwrap().purge_protection);
        }
        apply(Kind::DeleteVault(DeleteVault { name: "v".into() }));
        for _ in 0..2 {
            assert!(matches!(vault(), Err(crate::state::StateError::VaultNotFound(_))));
        }
        // A snapshot install replaces the vaults too.
        apply(Kind::CreateVault(CreateVault { name: "v".into(), retention_days: 7, purge_protection: false }));
        assert!(vault().is_ok());
        let path = tmp.path().join("in.snap");
        snapshot_file::write::<StorageError>(&path, None, |_| Ok(())).unwrap();
        sm.install(&Meta::default(), &mut File::open(&path).unwrap()).unwrap();
        assert!(matches!(vault(), Err(crate::state::StateError::VaultNotFound(_))));
    }

    #[test]
    fn a_snapshot_file_installs_whole_or_not_at_all() {
        let tmp = tempfile::tempdir().unwrap();
        let Fixture { db, sm, .. } = &open(tmp.path());
        db.put_cf(handle(db, cf::STATE), b"k", b"old").unwrap();
        let path = tmp.path().join("in.snap");
        snapshot_file::write::<StorageError>(&path, None, |visit| {
            visit(b"k", b"new")?;
            visit(b"k2", b"x")
        })
        .unwrap();
        let whole = std::fs::read(&path).unwrap();
        let meta = Meta::default();

        // Cut short: the first record read back fine, but nothing is installed.
        std::fs::write(&path, &whole[..whole.len() - 1]).unwrap();
        assert!(sm.install(&meta, &mut File::open(&path).unwrap()).is_err());
        assert_eq!((state(db, b"k"), state(db, b"k2")), (Some(b"old".to_vec()), None));

        std::fs::write(&path, &whole).unwrap();
        sm.install(&meta, &mut File::open(&path).unwrap()).unwrap();
        assert_eq!((state(db, b"k"), state(db, b"k2")), (Some(b"new".to_vec()), Some(b"x".to_vec())));
    }
}
