//! The storage interface the state logic is written against. It does not
//! mention RocksDB: `crate::storage` implements it, and `MemKv` implements it
//! for unit tests.

use std::collections::BTreeMap;

/// A storage read failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KvError {
    /// The storage could not be read.
    #[error("storage read failed: {0}")]
    Io(String),
    /// The state is being replaced by a snapshot from the leader.
    #[error("this node is installing a snapshot from the leader")]
    Installing,
}

/// Read access to a consistent view of the state keyspace.
pub trait Kv {
    /// The value stored at `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError>;

    /// Visits keys starting with `prefix` in order, starting strictly after
    /// `after` when given, until `visit` returns `false`.
    fn scan(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), KvError>;
}

/// Pending writes over a read view: what apply builds before the storage
/// layer commits it atomically together with the applied log id.
pub struct Txn<'a> {
    base: &'a dyn Kv,
    /// `None` marks a deletion.
    pending: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl<'a> Txn<'a> {
    /// An empty transaction over `base`.
    pub fn new(base: &'a dyn Kv) -> Self {
        Txn { base, pending: BTreeMap::new() }
    }

    /// Stores `value` at `key`.
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.pending.insert(key, Some(value));
    }

    /// Deletes `key`.
    pub fn delete(&mut self, key: Vec<u8>) {
        self.pending.insert(key, None);
    }

    /// Adds the writes of a child transaction.
    pub fn merge(&mut self, writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>) {
        self.pending.extend(writes);
    }

    /// The writes, in key order; `None` is a deletion.
    pub fn into_writes(self) -> BTreeMap<Vec<u8>, Option<Vec<u8>>> {
        self.pending
    }
}

impl Kv for Txn<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        match self.pending.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.base.get(key),
        }
    }

    fn scan(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), KvError> {
        // Merge the base with the overlay: collect the base's keys in range,
        // apply the pending writes, then visit in order.
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        self.base.scan(prefix, after, &mut |k, v| {
            merged.insert(k.to_vec(), v.to_vec());
            true
        })?;
        for (k, v) in self.pending.range(prefix.to_vec()..) {
            if !k.starts_with(prefix) {
                break;
            }
            if after.is_some_and(|a| k.as_slice() <= a) {
                continue;
            }
            match v {
                Some(v) => merged.insert(k.clone(), v.clone()),
                None => merged.remove(k),
            };
        }
        for (k, v) in &merged {
            if !visit(k, v) {
                break;
            }
        }
        Ok(())
    }
}

/// An in-memory keyspace for tests.
#[derive(Debug, Default, Clone)]
pub struct MemKv(pub BTreeMap<Vec<u8>, Vec<u8>>);

impl MemKv {
    /// Commits a transaction's writes.
    pub fn commit(&mut self, writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>) {
        for (k, v) in writes {
            match v {
                Some(v) => self.0.insert(k, v),
                None => self.0.remove(&k),
            };
        }
    }
}

impl Kv for MemKv {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        Ok(self.0.get(key).cloned())
    }

    fn scan(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), KvError> {
        for (k, v) in self.0.range(prefix.to_vec()..) {
            if !k.starts_with(prefix) {
                break;
            }
            if after.is_some_and(|a| k.as_slice() <= a) {
                continue;
            }
            if !visit(k, v) {
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(kv: &dyn Kv, prefix: &[u8], after: Option<&[u8]>) -> Vec<Vec<u8>> {
        let mut out = vec![];
        kv.scan(prefix, after, &mut |k, _| {
            out.push(k.to_vec());
            true
        })
        .unwrap();
        out
    }

    #[test]
    fn txn_overlays_base() {
        let mut base = MemKv::default();
        base.0.insert(b"a/1".to_vec(), b"x".to_vec());
        base.0.insert(b"a/2".to_vec(), b"y".to_vec());
        base.0.insert(b"b/1".to_vec(), b"z".to_vec());
        let mut txn = Txn::new(&base);
        txn.delete(b"a/1".to_vec());
        txn.put(b"a/3".to_vec(), b"w".to_vec());
        assert_eq!(txn.get(b"a/1").unwrap(), None);
        assert_eq!(txn.get(b"a/3").unwrap(), Some(b"w".to_vec()));
        assert_eq!(keys(&txn, b"a/", None), vec![b"a/2".to_vec(), b"a/3".to_vec()]);
        assert_eq!(keys(&txn, b"a/", Some(b"a/2")), vec![b"a/3".to_vec()]);
        let writes = txn.into_writes();
        base.commit(writes);
        assert_eq!(keys(&base, b"", None).len(), 3);
    }
}
