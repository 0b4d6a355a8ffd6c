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

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{Entry, LogId, OptionalSend, RaftLogReader, StorageIOError, Vote};
use prost::Message;
use rocksdb::{Direction, IteratorMode, WriteBatch, WriteOptions, DB};

use super::error::{raft_err, RaftStorageError};
use super::recent::Recent;
use super::{cf, handle, StorageError};
use crate::proto::raft as pb;
use crate::raft::codec::entry::encode_entry;
use crate::raft::codec::log_id::{opt_from_pb, opt_to_pb};
use crate::raft::{NodeId, TypeConfig};

/// The Raft log store. Cheap to clone: clones share the database.
#[derive(Clone)]
pub struct LogStore {
    db: Arc<DB>,
    recent: Arc<Recent>,
}

fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

fn synced() -> WriteOptions {
    let mut w = WriteOptions::default();
    w.set_sync(true);
    w
}

impl LogStore {
    pub(super) fn new(db: Arc<DB>) -> Self {
        LogStore { db, recent: Arc::default() }
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

    pub(super) fn append_sync(&self, entries: impl IntoIterator<Item = Entry<TypeConfig>>) -> Result<(), StorageError> {
        let cf = handle(&self.db, cf::LOG);
        let mut batch = WriteBatch::default();
        let mut appended = Vec::new();
        for entry in entries {
            let bytes = encode_entry(&entry);
            batch.put_cf(cf, index_key(entry.log_id.index), &bytes);
            appended.push((entry, bytes.len()));
        }
        self.db.write_opt(batch, &synced())?;
        self.recent.appended(appended);
        Ok(())
    }

    fn delete_from(&self, from: u64, to: u64) -> Result<(), StorageError> {
        let cf = handle(&self.db, cf::LOG);
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(cf, index_key(from), index_key(to));
        Ok(self.db.write_opt(batch, &synced())?)
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
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
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, RaftStorageError> {
        let read = raft_err(StorageIOError::read_logs);
        let last_purged_log_id = self.log_id_meta(cf::raft_meta::LAST_PURGED).map_err(&read)?;
        let last_log_id = self.last_entry().map_err(&read)?.or(last_purged_log_id);
        Ok(LogState { last_purged_log_id, last_log_id })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), RaftStorageError> {
        self.put_meta(cf::raft_meta::VOTE, &pb::Vote::from(*vote)).map_err(raft_err(StorageIOError::write_vote))
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, RaftStorageError> {
        let read = raft_err(StorageIOError::read_vote);
        let vote: Option<pb::Vote> = self.get_meta(cf::raft_meta::VOTE).map_err(&read)?;
        vote.map(|v| v.try_into().map_err(|e: crate::raft::codec::CodecError| read(e.into()))).transpose()
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), RaftStorageError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        // The batch is written with sync=true: when write_opt returns, the
        // entries are on disk, so the callback can report them flushed.
        self.append_sync(entries).map_err(raft_err(StorageIOError::write_logs))?;
        callback.log_io_completed(Ok(()));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), RaftStorageError> {
        // Out of the cache first: a reader in between finds them in RocksDB.
        self.recent.truncated(log_id.index);
        self.delete_from(log_id.index, u64::MAX).map_err(raft_err(StorageIOError::write_logs))
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), RaftStorageError> {
        let write = raft_err(StorageIOError::write_logs);
        // Record the purge point first: a crash in between leaves entries
        // that are merely ignored, never a hole.
        self.put_log_id_meta(cf::raft_meta::LAST_PURGED, Some(log_id)).map_err(&write)?;
        self.recent.purged(log_id.index);
        self.delete_from(0, log_id.index + 1).map_err(&write)
    }
}
