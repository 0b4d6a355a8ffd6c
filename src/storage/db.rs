//! An open database shared by the node's storage parts, and a watch that
//! tells when every database opened together has closed.

use std::ops::Deref;
use std::sync::{Arc, Weak};

use rocksdb::DB;

/// An open RocksDB database (derefs to it). Dropping the last `Arc<Db>`
/// closes it.
pub struct Db {
    db: DB,
    /// Shared by the databases opened together. Fields drop in order, so
    /// this goes only after RocksDB has closed `db` and released its files
    /// and lock, not when the last reference is let go (an `Arc<DB>`'s
    /// count reaches zero before its database is closed).
    open: Arc<()>,
}

impl Db {
    /// Wraps `db`, watched together with every database given the same
    /// `open`.
    pub(super) fn new(db: DB, open: &Arc<()>) -> Arc<Db> {
        Arc::new(Db { db, open: open.clone() })
    }

    /// Wraps `db`, watched on its own.
    #[cfg(test)]
    pub(super) fn alone(db: DB) -> Arc<Db> {
        Db::new(db, &Arc::default())
    }

    /// A handle that tells when this database and those opened with it are
    /// closed (the data dir is then free to reopen or delete).
    pub fn release_watch(&self) -> DbRelease {
        DbRelease(Arc::downgrade(&self.open))
    }
}

impl Deref for Db {
    type Target = DB;

    fn deref(&self) -> &DB {
        &self.db
    }
}

/// See [`Db::release_watch`].
pub struct DbRelease(Weak<()>);

impl DbRelease {
    /// Whether the databases are closed.
    pub fn is_released(&self) -> bool {
        self.0.strong_count() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_only_when_every_database_opened_together_is_closed() {
        let dir = tempfile::tempdir().unwrap();
        let open = Arc::new(());
        let a = Db::new(DB::open_default(dir.path().join("a")).unwrap(), &open);
        let b = Db::new(DB::open_default(dir.path().join("b")).unwrap(), &open);
        drop(open);
        let watch = a.release_watch();
        let a2 = a.clone();
        drop(a);
        assert!(!watch.is_released());
        drop(a2);
        assert!(!watch.is_released(), "b is still open");
        drop(b);
        assert!(watch.is_released());
        // Released means closed: both reopen at once.
        DB::open_default(dir.path().join("a")).unwrap();
        DB::open_default(dir.path().join("b")).unwrap();
    }

    #[test]
    fn released_is_seen_only_once_the_database_can_be_reopened() {
        let dir = tempfile::tempdir().unwrap();
        for round in 0..20 {
            let path = dir.path().join(round.to_string());
            let db = Db::alone(DB::open_default(&path).unwrap());
            for i in 0..100u32 {
                db.put(i.to_be_bytes(), [0u8; 100]).unwrap();
            }
            let watch = db.release_watch();
            let closer = std::thread::spawn(move || drop(db));
            while !watch.is_released() {
                std::hint::spin_loop();
            }
            DB::open_default(&path).unwrap_or_else(|e| panic!("round {round}: {e}"));
            closer.join().unwrap();
        }
    }
}
