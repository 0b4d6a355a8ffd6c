//! Read views over the state keyspace (the state, audit and audit head column
//! families, chosen by key; see [`cf::of_state_key`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rocksdb::{ColumnFamily, Direction, IteratorMode, SnapshotWithThreadMode, DB};

use super::db::{Db, DbRelease};
use super::vault_cache::{Stamp, VaultCache};
use super::{cf, handle};
use crate::state::kv::{Kv, KvError};

/// A consistent point-in-time view of the state keyspace.
pub struct DbView<'a> {
    pub(super) snap: SnapshotWithThreadMode<'a, DB>,
    state: &'a ColumnFamily,
    audit: &'a ColumnFamily,
    /// The audit head's family: the records' own in a checkpoint taken
    /// before the head had a family of its own.
    head: &'a ColumnFamily,
}

impl<'a> DbView<'a> {
    /// A view of the state as of now.
    pub fn new(db: &'a DB) -> Self {
        Self::of(db, db.snapshot())
    }

    /// A view of the state as of `snap`.
    pub fn of(db: &'a DB, snap: SnapshotWithThreadMode<'a, DB>) -> Self {
        let audit = handle(db, cf::AUDIT);
        DbView { snap, state: handle(db, cf::STATE), audit, head: db.cf_handle(cf::AUDIT_HEAD).unwrap_or(audit) }
    }

    fn cf_of(&self, key: &[u8]) -> &'a ColumnFamily {
        match cf::of_state_key(key) {
            cf::AUDIT => self.audit,
            cf::AUDIT_HEAD => self.head,
            _ => self.state,
        }
    }

    /// Visits every pair of the view: the state, the audit log, its head.
    pub fn for_each(&self, mut visit: impl FnMut(&[u8], &[u8]) -> Result<(), KvError>) -> Result<(), KvError> {
        let families = [self.state, self.audit, self.head];
        let distinct = if std::ptr::eq(self.head, self.audit) { &families[..2] } else { &families[..] };
        for cf in distinct {
            for item in self.snap.iterator_cf(*cf, IteratorMode::Start) {
                let (k, v) = item.map_err(kv_err)?;
                visit(&k, &v)?;
            }
        }
        Ok(())
    }
}

fn kv_err(e: rocksdb::Error) -> KvError {
    KvError::Io(e.to_string())
}

impl Kv for DbView<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        self.snap.get_cf(self.cf_of(key), key).map_err(kv_err)
    }

    fn scan(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), KvError> {
        let start = after.unwrap_or(prefix);
        let iter = self.snap.iterator_cf(self.cf_of(prefix), IteratorMode::From(start, Direction::Forward));
        for item in iter {
            let (k, v) = item.map_err(kv_err)?;
            if !k.starts_with(prefix) {
                break;
            }
            if after.is_some_and(|a| &*k <= a) {
                continue;
            }
            if !visit(&k, &v) {
                break;
            }
        }
        Ok(())
    }
}

/// Counters bumped by apply whenever it changes a family of hot records,
/// so readers can cache those records and know when to read again; and
/// whether a snapshot is being installed, so they do not read half of it.
#[derive(Debug, Default)]
pub struct Generations {
    security: AtomicU64,
    tokens: AtomicU64,
    /// Odd while a snapshot install is replacing the state (a seqlock: a
    /// reader whose view was taken between two equal even readings saw a
    /// whole state). Left odd by an install that failed half-way.
    installs: AtomicU64,
    /// Odd while apply writes a batch that changes a vault record (a
    /// seqlock for the readers' vault cache, see [`Generations::stamp`]).
    vaults: AtomicU64,
}

impl Generations {
    /// Notes the keys a batch wrote (or `None`: everything changed, e.g. a
    /// snapshot was installed).
    pub(super) fn note<'k>(&self, keys: Option<impl Iterator<Item = &'k [u8]>>) {
        let (mut security, mut tokens) = (keys.is_none(), keys.is_none());
        for k in keys.into_iter().flatten() {
            security |= crate::state::keys::is_system(k);
            tokens |= crate::state::keys::is_token(k);
        }
        if security {
            self.security.fetch_add(1, Ordering::Release);
        }
        if tokens {
            self.tokens.fetch_add(1, Ordering::Release);
        }
    }

    /// Marks the state as being replaced: readers refuse from now on.
    pub(super) fn begin_install(&self) {
        let _ = self.installs.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| Some(n + 1 + n % 2));
    }

    /// Marks the state as whole again.
    pub(super) fn end_install(&self) {
        let _ = self.installs.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| Some(n + n % 2));
    }

    fn installs(&self) -> u64 {
        self.installs.load(Ordering::SeqCst)
    }

    /// Runs `write`, a write of the state that changes a vault record when
    /// `changes_vaults`, marking it under way meanwhile.
    pub(super) fn writing_vaults<T>(&self, changes_vaults: bool, write: impl FnOnce() -> T) -> T {
        if !changes_vaults {
            return write();
        }
        self.vaults.fetch_add(1, Ordering::SeqCst);
        let written = write();
        self.vaults.fetch_add(1, Ordering::SeqCst);
        written
    }

    /// Installs and vault writes so far. Two equal readings around the
    /// taking of a view, both even, mean the view holds the vault records
    /// of every other view taken between equal readings of the same stamp.
    fn stamp(&self) -> Stamp {
        (self.installs(), self.vaults.load(Ordering::SeqCst))
    }

    /// Changes whenever the security records (`sys/…`) change.
    pub fn security(&self) -> u64 {
        self.security.load(Ordering::Acquire)
    }

    /// Changes whenever a token record changes.
    pub fn tokens(&self) -> u64 {
        self.tokens.load(Ordering::Acquire)
    }
}

/// Serves queries from the local state (cheap to clone).
#[derive(Clone)]
pub struct StateReader {
    db: Arc<Db>,
    generations: Arc<Generations>,
    vaults: Arc<VaultCache>,
}

impl StateReader {
    pub(super) fn new(db: Arc<Db>, generations: Arc<Generations>) -> Self {
        StateReader { db, generations, vaults: Arc::default() }
    }

    /// What apply has changed (to invalidate caches of hot records).
    pub fn generations(&self) -> &Generations {
        &self.generations
    }

    /// Flushes the state's memtables to SST files and syncs its WAL (so a
    /// scan of the data dir sees everything on disk; the log's WAL is synced
    /// on every append).
    pub fn flush_to_disk(&self) -> Result<(), super::StorageError> {
        for name in super::cf::STATE_DB {
            self.db.flush_cf(super::handle(&self.db, name))?;
        }
        Ok(self.db.flush_wal(true)?)
    }

    /// A handle that tells when the node's databases are closed (the data
    /// dir is then free to reopen or delete).
    pub fn release_watch(&self) -> DbRelease {
        self.db.release_watch()
    }

    /// Whether the state holds no records at all.
    pub fn is_empty(&self) -> bool {
        let view = DbView::new(&self.db);
        let mut empty = true;
        let _ = view.scan(b"", None, &mut |_, _| {
            empty = false;
            false
        });
        empty
    }

    /// Runs `f` over a consistent view of the current local state. While a
    /// snapshot is being installed the state is partly replaced: every read
    /// of `f` then fails with [`KvError::Installing`].
    pub fn read<R>(&self, f: impl FnOnce(&dyn Kv) -> R) -> R {
        let before = self.generations.stamp();
        let view = DbView::new(&self.db);
        let after = self.generations.stamp();
        if before.0 % 2 == 1 || after.0 != before.0 {
            return f(&Installing);
        }
        let stamp = (before == after && before.1.is_multiple_of(2)).then_some(before);
        f(&ReadView { view, vaults: &self.vaults, stamp })
    }
}

/// A reader's view: vault records from the cache when the view's stamp
/// allows, everything else from the view.
struct ReadView<'a> {
    view: DbView<'a>,
    vaults: &'a VaultCache,
    /// `None`: a vault write was under way as the view was taken.
    stamp: Option<Stamp>,
}

impl Kv for ReadView<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        match self.stamp {
            Some(stamp) if key.starts_with(crate::state::keys::VAULTS) => {
                self.vaults.get(stamp, key, || self.view.get(key))
            }
            _ => self.view.get(key),
        }
    }

    fn scan(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), KvError> {
        self.view.scan(prefix, after, visit)
    }
}

/// The state while a snapshot install replaces it: nothing can be read.
struct Installing;

impl Kv for Installing {
    fn get(&self, _: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        Err(KvError::Installing)
    }

    fn scan(&self, _: &[u8], _: Option<&[u8]>, _: &mut dyn FnMut(&[u8], &[u8]) -> bool) -> Result<(), KvError> {
        Err(KvError::Installing)
    }
}
