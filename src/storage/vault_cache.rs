//! Vault records kept for readers between the writes that change them.
//! Every secret request reads its vault's record, and vaults change
//! rarely: a RocksDB point read per request (~3% of a leader's CPU serving
//! audited reads, bench/RESULTS.md) becomes a map lookup.
//!
//! Entries are stamped with the [`Stamp`] of the views they were read
//! from: a reader uses them only when its own view has the same stamp,
//! that is, when no vault write and no snapshot install began or ended
//! between the entries' view and its own (see `Generations::stamp`). A
//! cached record is therefore the one the reader's view holds.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::state::kv::KvError;

/// Where a view stands: (snapshot installs, vault writes), both counters
/// odd while one is under way. Views taken at different times of the same
/// stamp see the same vault records.
pub(super) type Stamp = (u64, u64);

/// Most records kept (vaults are few; this bounds a client asking for
/// many that do not exist).
const MAX_ENTRIES: usize = 10_000;

/// Encoded vault records (or their absence) by key, for one stamp.
#[derive(Default)]
pub(super) struct VaultCache {
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    stamp: Stamp,
    records: HashMap<Vec<u8>, Option<Vec<u8>>>,
}

impl VaultCache {
    /// The value of `key` in a view of `stamp`: cached, or from `load`
    /// (the view itself) and kept unless a newer stamp is cached already.
    pub(super) fn get(
        &self,
        stamp: Stamp,
        key: &[u8],
        load: impl FnOnce() -> Result<Option<Vec<u8>>, KvError>,
    ) -> Result<Option<Vec<u8>>, KvError> {
        if let Some(found) = self.lock().lookup(stamp, key) {
            return Ok(found);
        }
        let value = load()?;
        let mut entries = self.lock();
        // Counters only grow, so a later view's stamp is the larger.
        if stamp > entries.stamp {
            entries.stamp = stamp;
            entries.records.clear();
        }
        if entries.stamp == stamp {
            if entries.records.len() >= MAX_ENTRIES {
                entries.records.clear();
            }
            entries.records.insert(key.to_vec(), value.clone());
        }
        Ok(value)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Entries {
    fn lookup(&self, stamp: Stamp, key: &[u8]) -> Option<Option<Vec<u8>>> {
        (self.stamp == stamp).then(|| self.records.get(key).cloned()).flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(cache: &VaultCache, stamp: Stamp, key: &[u8], stored: Option<&[u8]>) -> (Option<Vec<u8>>, bool) {
        let mut loaded = false;
        let value = cache
            .get(stamp, key, || {
                loaded = true;
                Ok(stored.map(<[u8]>::to_vec))
            })
            .unwrap();
        (value, loaded)
    }

    #[test]
    fn a_record_is_read_once_per_stamp_and_again_after_it_moves() {
        let cache = VaultCache::default();
        assert_eq!(get(&cache, (0, 2), b"v/a", Some(b"1")), (Some(b"1".to_vec()), true));
        assert_eq!(get(&cache, (0, 2), b"v/a", Some(b"ignored")), (Some(b"1".to_vec()), false));
        // Absence is kept too.
        assert_eq!(get(&cache, (0, 2), b"v/b", None), (None, true));
        assert_eq!(get(&cache, (0, 2), b"v/b", Some(b"ignored")), (None, false));
        // A vault write, or a snapshot install, moves the stamp: read again.
        assert_eq!(get(&cache, (0, 4), b"v/a", Some(b"2")), (Some(b"2".to_vec()), true));
        assert_eq!(get(&cache, (2, 4), b"v/a", None), (None, true));
        assert_eq!(get(&cache, (2, 4), b"v/a", Some(b"ignored")), (None, false));
    }

    #[test]
    fn a_reader_with_an_older_view_neither_uses_nor_replaces_newer_entries() {
        let cache = VaultCache::default();
        get(&cache, (0, 4), b"v/a", Some(b"new"));
        assert_eq!(get(&cache, (0, 2), b"v/a", Some(b"old")), (Some(b"old".to_vec()), true));
        assert_eq!(get(&cache, (0, 4), b"v/a", Some(b"ignored")), (Some(b"new".to_vec()), false));
    }
}
