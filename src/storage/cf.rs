//! Every RocksDB column family and metadata key, in one place.

/// Raft log entries, keyed by big-endian u64 index.
pub const LOG: &str = "log";
/// Raft's own metadata: vote, purge point.
pub const RAFT_META: &str = "raft_meta";
/// The state machine's keyspace (see `state::keys`).
pub const STATE: &str = "state";
/// The state machine's metadata: last applied log id, membership, snapshot.
pub const SM_META: &str = "sm_meta";
/// The audit log's records (the state keys under
/// [`crate::state::keys::AUDIT_RECORDS`]), kept apart so they can grow (and
/// be trimmed) without touching the rest. Only records: they are appended in
/// key order, so the files RocksDB flushes never overlap and its compactions
/// move them down a level instead of rewriting them.
pub const AUDIT: &str = "audit";
/// The audit chain's head ([`crate::state::keys::AUDIT_HEAD`]), rewritten
/// with every batch of records. Among the records it would make every
/// flushed file overlap (each compaction would rewrite the whole log); among
/// the state it would fill the memtable that every read searches.
pub const AUDIT_HEAD: &str = "audit_head";

/// The Raft log's database (`<data dir>/log`).
pub const LOG_DB: &[&str] = &[LOG, RAFT_META];
/// The state machine's database (`<data dir>/db`).
pub const STATE_DB: &[&str] = &[STATE, SM_META, AUDIT, AUDIT_HEAD];
/// The families of [`STATE_DB`] that hold the state keyspace.
pub const STATE_KEYSPACE: &[&str] = &[STATE, AUDIT, AUDIT_HEAD];

/// The column family holding the state key (or prefix) `key`.
pub fn of_state_key(key: &[u8]) -> &'static str {
    if key.starts_with(crate::state::keys::AUDIT_RECORDS) {
        AUDIT
    } else if key == crate::state::keys::AUDIT_HEAD {
        AUDIT_HEAD
    } else {
        STATE
    }
}

/// Keys in [`RAFT_META`].
#[allow(missing_docs)]
pub mod raft_meta {
    pub const VOTE: &[u8] = b"vote";
    pub const LAST_PURGED: &[u8] = b"last_purged";
}

/// Keys in [`SM_META`].
#[allow(missing_docs)]
pub mod sm_meta {
    pub const LAST_APPLIED: &[u8] = b"last_applied";
    pub const MEMBERSHIP: &[u8] = b"membership";
    pub const SNAPSHOT: &[u8] = b"snapshot";
    /// Present while a snapshot install replaces the state (see `storage::install`).
    pub const INSTALLING: &[u8] = b"installing";
}
