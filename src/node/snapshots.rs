//! When this node builds a snapshot.
//!
//! openraft's own policy builds one every `snapshot_after_logs` committed
//! entries counted from the last snapshot, so every member of a cluster
//! builds at the same log index, at the same moment, from its first snapshot
//! on. A build (a RocksDB checkpoint, which flushes every column family)
//! slows that node's synced log appends for up to a second or more; when
//! every member does it at once, commits stall cluster-wide and replication
//! calls time out (bench/RESULTS.md, 'What was tried'). Here openraft's policy is
//! off, and each node builds at its own offset within the interval, set by
//! its id, so the members take turns: while a follower builds, the leader
//! and the other followers still commit at full speed (the leader's own
//! turn still slows its commits, one turn in three on three nodes).

use std::time::{Duration, Instant};

use tokio::time::MissedTickBehavior;

use crate::raft::{NodeId, Raft};

/// How often the applied index is checked against the next build.
const CHECK_EVERY: Duration = Duration::from_millis(100);
/// How long a requested build may take to show before it is requested again
/// (openraft ignores a request while a build is under way, and a build can fail).
const ASK_AGAIN_AFTER: Duration = Duration::from_secs(10);

/// The offset within every interval of `every` entries at which `node`
/// builds: Fibonacci hashing of the id, so consecutive ids (1, 2, 3, …) land
/// far apart — for 3 nodes at least 0.23 of the interval, for 5 at least
/// 0.14 — and every member builds every `every` entries.
pub fn offset(node: NodeId, every: u64) -> u64 {
    const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15; // 2^64 / φ
    ((u128::from(node.wrapping_mul(GOLDEN)) * u128::from(every)) >> 64) as u64
}

/// The applied log index at which to build the next snapshot, when the last
/// one ends at index `last` (`None`: this node has none): the first index at
/// `offset` within an interval that is at least half an interval past
/// `last`. In a steady state that is one build every `every` entries; after a
/// snapshot taken at any other point (installed from the leader, or asked
/// for by a backup) the next build is half to one and a half intervals away.
pub fn next_build(last: Option<u64>, every: u64, offset: u64) -> u64 {
    let every = every.max(1);
    let earliest = last.map_or(0, |i| i.saturating_add(1)).saturating_add(every / 2);
    let ahead = (offset % every + every - earliest % every) % every;
    earliest.saturating_add(ahead)
}

/// Requests a snapshot build whenever the applied index reaches this node's
/// next build, until Raft shuts down. The node's openraft config must have
/// `SnapshotPolicy::Never`.
pub async fn run(raft: Raft, node: NodeId, every: u64) {
    let offset = offset(node, every);
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // The snapshot this node had when it last asked for a build, and when.
    let mut asked: Option<(Option<u64>, Instant)> = None;
    loop {
        tick.tick().await;
        let (applied, last) = {
            let m = raft.metrics();
            let m = m.borrow();
            (m.last_applied.map(|l| l.index), m.snapshot.map(|l| l.index))
        };
        let Some(applied) = applied else { continue };
        if applied < next_build(last, every, offset) {
            continue;
        }
        if asked.is_some_and(|(had, at)| had == last && at.elapsed() < ASK_AGAIN_AFTER) {
            continue;
        }
        tracing::debug!(applied, last_snapshot = ?last, "building a snapshot");
        if raft.trigger().snapshot().await.is_err() {
            return; // Raft has stopped
        }
        asked = Some((last, Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest distance between any two of `points` on a circle of `every`.
    fn min_gap(points: &[u64], every: u64) -> u64 {
        let mut p = points.to_vec();
        p.sort_unstable();
        let wrap = p[0] + every - p[p.len() - 1];
        p.windows(2).map(|w| w[1] - w[0]).chain([wrap]).min().unwrap()
    }

    #[test]
    fn consecutive_ids_build_far_apart() {
        let every = 10_000;
        let three: Vec<u64> = (1..=3).map(|id| offset(id, every)).collect();
        let five: Vec<u64> = (1..=5).map(|id| offset(id, every)).collect();
        assert!(min_gap(&three, every) >= 2_300, "{three:?}");
        assert!(min_gap(&five, every) >= 1_400, "{five:?}");
        assert!((1..=100).all(|id| offset(id, every) < every));
    }

    #[test]
    fn the_next_build_is_at_the_offset_half_to_one_and_a_half_intervals_on() {
        let every = 1_000;
        for offset in [0, 1, 499, 500, 999] {
            for last in [None, Some(0), Some(10), Some(499), Some(500), Some(12_345)] {
                let due = next_build(last, every, offset);
                let from = last.map_or(0, |l| l + 1);
                assert_eq!(due % every, offset, "{last:?} {offset}");
                assert!(due >= from + every / 2 && due < from + every / 2 + every, "{last:?} {offset}: {due}");
            }
        }
        // In a steady state, one build per interval.
        let first = next_build(None, every, 700);
        assert_eq!(next_build(Some(first), every, 700), first + every);
    }

    #[test]
    fn an_interval_of_one_builds_after_every_entry() {
        assert_eq!(next_build(None, 1, offset(3, 1)), 0);
        assert_eq!(next_build(Some(41), 1, offset(3, 1)), 42);
        assert_eq!(next_build(Some(u64::MAX), 7, 3), u64::MAX, "saturates instead of overflowing");
    }
}
