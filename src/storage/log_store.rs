//! The Raft log on RocksDB. Entries are keyed by big-endian index so that
//! key order is log order. Every write that Raft must be able to rely on
//! after a crash (vote, appended entries, purge point) is WAL-synced before
//! it is reported done. The committed index is not stored: a restarted node
//! starts from what its state machine has applied and learns the rest from
//! the leader (openraft's default). Storing it cost every commit a RocksDB
//! write on the path to apply — one that waits behind any synced write in
//! flight — and told a restart little more than the applied index does.
//! The newest entries are also kept in memory ([`Recent`]) for the reads
//! that follow every append.
//!
//! The one exception to "synced before reported": a leader's own entries
//! (not membership changes) are written unsynced and reported at once, and
//! synced in the background ([`super::durable`] says what keeps that safe).
//! A leader that restarts could have lost such entries while a follower
//! kept them under the same log ids, so at open a node gives up a
//! leadership its vote records: it must win a new term before it proposes
//! again, and the new term's log ids are new.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{Entry, EntryPayload, LogId, OptionalSend, RaftLogReader, StorageIOError, Vote};
use prost::Message;
use rocksdb::{Direction, IteratorMode, WriteBatch, WriteOptions};

use super::db::Db;
use super::durable::{Durable, SyncThread};
use super::error::{raft_err, RaftStorageError};
use super::purge_gate::PurgeGate;
use super::recent::Recent;
use super::{cf, handle, StorageError};
use crate::proto::raft as pb;
use crate::raft::codec::entry::encode_entry;
use crate::raft::codec::log_id::{opt_from_pb, opt_to_pb};
use crate::raft::{NodeId, TypeConfig};

/// The Raft log store, owned by openraft's core. When it is dropped, its
/// background sync ends.
pub struct LogStore {
    /// This node: its own entries, appended as leader, are synced in the
    /// background.
    id: NodeId,
    db: Arc<Db>,
    recent: Arc<Recent>,
    /// The vote last saved (which says whether this node leads).
    vote: std::sync::Mutex<Option<Vote<NodeId>>>,
    durable: Arc<Durable>,
    _sync: SyncThread,
    /// Holds purges back while a snapshot is being installed.
    gate: Arc<PurgeGate>,
}

/// Reads the log, for openraft's replication streams (cheap to clone). It
/// holds no part in syncing it: a stream that outlives the store (stopping
/// with its node) does not keep the sync going.
#[derive(Clone)]
pub struct LogReader {
    db: Arc<Db>,
    recent: Arc<Recent>,
}

/// A log entry's key: its index, big-endian, so that key order is log order.
pub(super) fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

fn synced() -> WriteOptions {
    let mut w = WriteOptions::default();
    w.set_sync(true);
    w
}

impl LogStore {
    /// The log of node `id` in `db`. Syncs what a crashed predecessor may
    /// have left unsynced, and gives up a leadership recorded in the vote
    /// (see the module docs).
    pub(super) fn open(id: NodeId, db: Arc<Db>, gate: Arc<PurgeGate>) -> Result<Self, StorageError> {
        db.flush_wal(true)?;
        let sync_db = db.clone();
        let (durable, sync) = Durable::start(0, move || Ok(sync_db.flush_wal(true)?))?;
        let store = LogStore { id, db, recent: Arc::default(), vote: Default::default(), durable, _sync: sync, gate };
        let last = store.last_entry()?.map_or(0, |id| id.index);
        store.durable.wrote_synced(last, false);
        let mut vote: Option<Vote<NodeId>> =
            store.get_meta::<pb::Vote>(cf::raft_meta::VOTE)?.map(TryInto::try_into).transpose()?;
        if let Some(v) = vote.filter(|v| v.is_committed() && v.leader_id().voted_for() == Some(id)) {
            let uncommitted = Vote::new(v.leader_id().term, id);
            store.put_meta(cf::raft_meta::VOTE, &pb::Vote::from(uncommitted))?;
            vote = Some(uncommitted);
        }
        *store.vote_cell() = vote;
        Ok(store)
    }

    /// Deletes the entries through `log_id`. The purge point is recorded
    /// first: a crash in between leaves entries that are merely ignored,
    /// never a hole.
    fn purge_now(&self, log_id: LogId<NodeId>) -> Result<(), StorageError> {
        self.put_log_id_meta(cf::raft_meta::LAST_PURGED, Some(log_id))?;
        self.recent.purged(log_id.index);
        self.delete_from(0, log_id.index + 1)
    }

    /// How far this log is on disk.
    pub fn durable(&self) -> Arc<Durable> {
        self.durable.clone()
    }

    fn vote_cell(&self) -> std::sync::MutexGuard<'_, Option<Vote<NodeId>>> {
        self.vote.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `entries` are this node's own, appended while it leads, and
    /// none changes the membership (joint consensus needs a change truly
    /// committed before the next is proposed): those may be synced later.
    fn own_as_leader(&self, entries: &[Entry<TypeConfig>]) -> bool {
        let Some(vote) = *self.vote_cell() else { return false };
        vote.is_committed()
            && vote.leader_id().voted_for() == Some(self.id)
            && entries
                .iter()
                .all(|e| e.log_id.leader_id == *vote.leader_id() && !matches!(e.payload, EntryPayload::Membership(_)))
    }

    fn get_meta<M: Message + Default>(&self, key: &[u8]) -> Result<Option<M>, StorageError> {
        match self.db.get_cf(handle(&self.db, cf::RAFT_META), key)? {
            None => Ok(None),
            Some(bytes) => Ok(Some(M::decode(bytes.as_slice())?)),
        }
    }

    /// Writes a Raft metadata record, WAL-synced.
    fn put_meta(&self, key: &[u8], msg: &impl Message) -> Result<(), StorageError> {
        let cf = handle(&self.db, cf::RAFT_META);
        Ok(self.db.put_cf_opt(cf, key, msg.encode_to_vec(), &synced())?)
    }

    fn log_id_meta(&self, key: &[u8]) -> Result<Option<LogId<NodeId>>, StorageError> {
        let stored: Option<pb::StoredLogId> = self.get_meta(key)?;
        Ok(opt_from_pb(stored.and_then(|s| s.log_id))?)
    }

    fn put_log_id_meta(&self, key: &[u8], id: Option<LogId<NodeId>>) -> Result<(), StorageError> {
        self.put_meta(key, &pb::StoredLogId { log_id: opt_to_pb(id) })
    }

    fn last_entry(&self) -> Result<Option<LogId<NodeId>>, StorageError> {
        let cf = handle(&self.db, cf::LOG);
        match self.db.iterator_cf(cf, IteratorMode::End).next() {
            None => Ok(None),
            Some(item) => {
                let (_, v) = item?;
                let entry = pb::Entry::decode(&*v)?;
                let entry: Entry<TypeConfig> = entry.try_into()?;
                Ok(Some(entry.log_id))
            }
        }
    }

    /// Appends `entries`, synced unless `sync` is false.
    fn write(&self, entries: Vec<Entry<TypeConfig>>, sync: bool) -> Result<(), StorageError> {
        let cf = handle(&self.db, cf::LOG);
        let mut batch = WriteBatch::default();
        let mut appended = Vec::new();
        for entry in entries {
            let bytes = encode_entry(&entry);
            batch.put_cf(cf, index_key(entry.log_id.index), &bytes);
            appended.push((entry, bytes.len()));
        }
        let Some(last) = appended.last().map(|(e, _)| e.log_id.index) else { return Ok(()) };
        if sync {
            self.db.write_opt(batch, &synced())?;
            self.durable.wrote_synced(last, false);
        } else {
            self.db.write(batch)?;
            self.durable.wrote_unsynced(last);
        }
        self.recent.appended(appended);
        Ok(())
    }

    /// Appends `entries`, synced unless they are a leader's own (see the
    /// module docs): either way they can be reported flushed on return.
    fn append_entries(&self, entries: Vec<Entry<TypeConfig>>) -> Result<(), StorageError> {
        let sync = !self.own_as_leader(&entries);
        self.write(entries, sync)
    }

    #[cfg(test)]
    pub(super) fn append_sync(&self, entries: impl IntoIterator<Item = Entry<TypeConfig>>) -> Result<(), StorageError> {
        self.write(entries.into_iter().collect(), true)
    }

    fn delete_from(&self, from: u64, to: u64) -> Result<(), StorageError> {
        let cf = handle(&self.db, cf::LOG);
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(cf, index_key(from), index_key(to));
        Ok(self.db.write_opt(batch, &synced())?)
    }
}

impl LogReader {
    fn read_range(&self, start: u64, end: Bound<u64>) -> Result<Vec<Entry<TypeConfig>>, StorageError> {
        let end_excluded = match end {
            Bound::Included(e) => Some(e.saturating_add(1)),
            Bound::Excluded(e) => Some(e),
            Bound::Unbounded => None,
        };
        if let Some(entries) = end_excluded.and_then(|end| self.recent.get(start, end)) {
            return Ok(entries);
        }
        let cf = handle(&self.db, cf::LOG);
        let mut out = Vec::new();
        let key = index_key(start);
        for item in self.db.iterator_cf(cf, IteratorMode::From(&key, Direction::Forward)) {
            let (k, v) = item?;
            let index = u64::from_be_bytes(k.as_ref().try_into().map_err(|_| StorageError::Corrupt("log key".into()))?);
            let past_end = match end {
                Bound::Included(e) => index > e,
                Bound::Excluded(e) => index >= e,
                Bound::Unbounded => false,
            };
            if past_end {
                break;
            }
            out.push(pb::Entry::decode(&*v)?.try_into()?);
        }
        Ok(out)
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, RaftStorageError> {
        self.get_log_reader().await.try_get_log_entries(range).await
    }
}

impl RaftLogReader<TypeConfig> for LogReader {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, RaftStorageError> {
        let start = match range.start_bound() {
            Bound::Included(s) => *s,
            Bound::Excluded(s) => s + 1,
            Bound::Unbounded => 0,
        };
        self.read_range(start, range.end_bound().cloned()).map_err(raft_err(StorageIOError::read_logs))
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogReader;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, RaftStorageError> {
        let read = raft_err(StorageIOError::read_logs);
        let last_purged_log_id = self.log_id_meta(cf::raft_meta::LAST_PURGED).map_err(&read)?;
        let last_log_id = self.last_entry().map_err(&read)?.or(last_purged_log_id);
        Ok(LogState { last_purged_log_id, last_log_id })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        LogReader { db: self.db.clone(), recent: self.recent.clone() }
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), RaftStorageError> {
        self.put_meta(cf::raft_meta::VOTE, &pb::Vote::from(*vote)).map_err(raft_err(StorageIOError::write_vote))?;
        *self.vote_cell() = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, RaftStorageError> {
        Ok(*self.vote_cell())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), RaftStorageError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let write = raft_err(StorageIOError::write_logs);
        if let Some(upto) = self.gate.ready() {
            self.purge_now(upto).map_err(&write)?;
        }
        self.append_entries(entries.into_iter().collect()).map_err(write)?;
        callback.log_io_completed(Ok(()));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), RaftStorageError> {
        // Out of the cache first: a reader in between finds them in RocksDB.
        self.recent.truncated(log_id.index);
        self.delete_from(log_id.index, u64::MAX).map_err(raft_err(StorageIOError::write_logs))?;
        self.durable.wrote_synced(log_id.index.saturating_sub(1), true);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), RaftStorageError> {
        if !self.gate.admit(log_id) {
            tracing::info!(upto = log_id.index, "log purge held until the snapshot being received is installed");
            return Ok(());
        }
        self.purge_now(log_id).map_err(raft_err(StorageIOError::write_logs))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use openraft::{CommittedLeaderId, EntryPayload, Membership};

    use super::*;

    fn entry(term: u64, leader: NodeId, index: u64) -> Entry<TypeConfig> {
        Entry { log_id: LogId::new(CommittedLeaderId::new(term, leader), index), payload: EntryPayload::Blank }
    }

    fn open_log(dir: &std::path::Path) -> LogStore {
        LogStore::open(1, Db::alone(super::super::open_db(&dir.join("log"), cf::LOG_DB).unwrap()), Arc::default())
            .unwrap()
    }

    #[tokio::test]
    async fn only_a_leaders_own_entries_may_be_synced_later() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open_log(dir.path());
        let own = |log: &LogStore, term| log.own_as_leader(&[entry(term, 1, 1), entry(term, 1, 2)]);
        assert!(!own(&log, 2), "no vote yet");
        log.save_vote(&Vote::new(2, 1)).await.unwrap();
        assert!(!own(&log, 2), "a candidate's");
        log.save_vote(&Vote::new_committed(2, 1)).await.unwrap();
        assert!(own(&log, 2));
        assert!(!own(&log, 1), "entries of an earlier term");
        let mut change = entry(2, 1, 3);
        let nodes: std::collections::BTreeMap<NodeId, crate::raft::NodeInfo> = [(1, Default::default())].into();
        change.payload = EntryPayload::Membership(Membership::new(vec![[1u64].into()], nodes));
        assert!(!log.own_as_leader(&[entry(2, 1, 2), change]), "a membership change");
        log.save_vote(&Vote::new_committed(3, 2)).await.unwrap();
        assert!(!log.own_as_leader(&[entry(3, 2, 1)]), "a follower's");
    }

    #[tokio::test]
    async fn a_leaders_own_entries_are_readable_at_once_and_synced_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open_log(dir.path());
        log.append_entries(vec![entry(1, 2, 1)]).unwrap();
        assert_eq!(log.durable.synced(), 1, "a follower's append is synced before it returns");
        log.save_vote(&Vote::new_committed(2, 1)).await.unwrap();
        log.durable.hold(true);
        log.append_entries((2..=4).map(|i| entry(2, 1, i)).collect()).unwrap();
        assert_eq!(log.durable.synced(), 1);
        let read = log.try_get_log_entries(1..5).await.unwrap();
        assert_eq!(read.iter().map(|e| e.log_id.index).collect::<Vec<_>>(), [1, 2, 3, 4]);
        log.durable.hold(false);
        tokio::time::timeout(Duration::from_secs(5), log.durable.wait_synced(4)).await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_node_that_led_gives_up_its_leadership_when_it_opens() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open_log(dir.path());
        log.save_vote(&Vote::new_committed(4, 1)).await.unwrap();
        log.append_entries(vec![entry(4, 1, 1)]).unwrap();
        drop(log);
        let mut log = open_log(dir.path());
        assert_eq!(log.read_vote().await.unwrap(), Some(Vote::new(4, 1)));
        assert_eq!(log.durable.synced(), 1, "what a predecessor wrote is synced at open");
        drop(log);
        let mut log = open_log(dir.path());
        assert_eq!(log.read_vote().await.unwrap(), Some(Vote::new(4, 1)), "and stays given up");
    }
}
