//! The newest log entries, kept in memory. Every entry is read back right
//! after it is appended: by the replication stream of each follower and by
//! apply. Serving those reads from here spares a RocksDB read and a decode
//! of the whole command each time (entries share their command, so a read
//! copies no payload).
//!
//! The cache holds a contiguous run of indexes and mirrors the stored log
//! over that run: the log store reports every append to it once the write
//! succeeded, and every truncation and purge before it deletes. A read it
//! cannot serve whole goes to RocksDB.

use std::collections::VecDeque;
use std::sync::Mutex;

use openraft::Entry;

use crate::raft::TypeConfig;

/// At most this many entries are kept…
const MAX_ENTRIES: usize = 4096;
/// …and at most this many of their encoded bytes.
const MAX_BYTES: usize = 64 << 20;

/// The cache (shared by the log store's clones).
#[derive(Default)]
pub struct Recent {
    inner: Mutex<Run>,
}

#[derive(Default)]
struct Run {
    /// Entries with their encoded size, in index order without gaps.
    entries: VecDeque<(Entry<TypeConfig>, usize)>,
    bytes: usize,
}

impl Run {
    fn first(&self) -> Option<u64> {
        self.entries.front().map(|(e, _)| e.log_id.index)
    }

    fn last(&self) -> Option<u64> {
        self.entries.back().map(|(e, _)| e.log_id.index)
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }
}

impl Recent {
    fn run(&self) -> std::sync::MutexGuard<'_, Run> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Entries `start..end`, if every one of them is held.
    pub fn get(&self, start: u64, end: u64) -> Option<Vec<Entry<TypeConfig>>> {
        let run = self.run();
        let (first, last) = (run.first()?, run.last()?);
        if start < first || end > last + 1 || start > end {
            return None;
        }
        let from = (start - first) as usize;
        Some(run.entries.range(from..from + (end - start) as usize).map(|(e, _)| e.clone()).collect())
    }

    /// `entries` (with their encoded sizes) were appended to the log.
    pub fn appended(&self, entries: Vec<(Entry<TypeConfig>, usize)>) {
        let mut run = self.run();
        for (entry, size) in entries {
            // Anything but the next index (a log that restarted behind a
            // snapshot, say) starts a new run.
            if run.last().is_some_and(|l| l + 1 != entry.log_id.index) {
                run.clear();
            }
            run.bytes += size;
            run.entries.push_back((entry, size));
        }
        while run.entries.len() > MAX_ENTRIES || (run.bytes > MAX_BYTES && run.entries.len() > 1) {
            if let Some((_, size)) = run.entries.pop_front() {
                run.bytes -= size;
            }
        }
    }

    /// Entries from `index` on were removed from the log.
    pub fn truncated(&self, index: u64) {
        let mut run = self.run();
        while run.last().is_some_and(|l| l >= index) {
            if let Some((_, size)) = run.entries.pop_back() {
                run.bytes -= size;
            }
        }
    }

    /// Entries up to and including `index` were removed from the log.
    pub fn purged(&self, index: u64) {
        let mut run = self.run();
        while run.first().is_some_and(|f| f <= index) {
            if let Some((_, size)) = run.entries.pop_front() {
                run.bytes -= size;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use openraft::{CommittedLeaderId, EntryPayload, LogId};

    use super::*;

    fn entry(index: u64) -> (Entry<TypeConfig>, usize) {
        (Entry { log_id: LogId::new(CommittedLeaderId::new(1, 1), index), payload: EntryPayload::Blank }, 100)
    }

    fn indexes(got: Option<Vec<Entry<TypeConfig>>>) -> Option<Vec<u64>> {
        got.map(|v| v.iter().map(|e| e.log_id.index).collect())
    }

    #[test]
    fn serves_only_ranges_it_holds_whole() {
        let r = Recent::default();
        assert_eq!(indexes(r.get(1, 2)), None);
        r.appended((5..=9).map(entry).collect());
        assert_eq!(indexes(r.get(5, 10)), Some(vec![5, 6, 7, 8, 9]));
        assert_eq!(indexes(r.get(7, 8)), Some(vec![7]));
        assert_eq!(indexes(r.get(7, 7)), Some(vec![]));
        assert_eq!(indexes(r.get(4, 6)), None, "starts before the run");
        assert_eq!(indexes(r.get(8, 11)), None, "ends past the run");
    }

    #[test]
    fn follows_truncation_purge_and_gaps() {
        let r = Recent::default();
        r.appended((1..=10).map(entry).collect());
        r.truncated(8);
        assert_eq!(indexes(r.get(6, 8)), Some(vec![6, 7]));
        assert_eq!(indexes(r.get(6, 9)), None);
        r.appended(vec![entry(8)]);
        assert_eq!(indexes(r.get(7, 9)), Some(vec![7, 8]));
        r.purged(6);
        assert_eq!(indexes(r.get(6, 8)), None);
        assert_eq!(indexes(r.get(7, 9)), Some(vec![7, 8]));
        // A gap (the log restarted behind a snapshot) starts a new run.
        r.appended(vec![entry(20), entry(21)]);
        assert_eq!(indexes(r.get(7, 9)), None);
        assert_eq!(indexes(r.get(20, 22)), Some(vec![20, 21]));
        r.purged(100);
        assert_eq!(indexes(r.get(20, 21)), None);
    }

    #[test]
    fn stays_within_its_bounds() {
        let r = Recent::default();
        r.appended((1..=(MAX_ENTRIES as u64 + 10)).map(entry).collect());
        assert_eq!(indexes(r.get(1, 2)), None);
        assert_eq!(indexes(r.get(11, 12)), Some(vec![11]));
        let big = |i| (entry(i).0, MAX_BYTES / 2);
        r.appended(vec![big(MAX_ENTRIES as u64 + 11), big(MAX_ENTRIES as u64 + 12), big(MAX_ENTRIES as u64 + 13)]);
        let run = r.run();
        assert!(run.bytes <= MAX_BYTES && run.entries.len() == 2, "{} bytes", run.bytes);
    }
}
