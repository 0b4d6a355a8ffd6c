//! How far the log is on disk, and the background sync that moves it.
//!
//! A leader's own appends are written without a sync and reported to
//! openraft at once (see `log_store`), so that they go out to the
//! followers while the leader's fsync runs, instead of after it: the two
//! fsyncs of a commit overlap. openraft then counts the leader toward a
//! quorum before its copy is on disk, so nothing may show such a commit
//! outside the leader until its sync has ended:
//! - the state machine applies an entry (and so answers its client) only
//!   once it is synced here ([`Durable::wait_synced`]);
//! - the commit index sent to followers is held to what is synced here
//!   (`raft::network`), so no follower applies an entry the leader could
//!   still lose.
//!
//! An acknowledged write is therefore on the leader's disk and on a
//! follower's. One thread per log syncs the WAL whenever something is
//! written that is not yet synced; a sync covers every write before it, so
//! appends that arrive during one are covered by the next, as a group.
//! A failed sync stops everything behind it: waits end in an error, which
//! stops the Raft node.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use tokio::sync::watch;

use super::StorageError;
use crate::faults::Disk;

/// What is on disk, as published to waiters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Point {
    /// Every entry written up to this index is synced.
    synced: u64,
    /// Set when nothing more will be synced.
    ended: Option<Ended>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// A sync failed: nothing written since the last good one is known to
    /// be on disk.
    Failed,
    /// The log was closed (the node stopped).
    Closed,
}

/// The log's durable point (shared; see the module docs).
pub struct Durable {
    state: Mutex<State>,
    /// Syncs held back or failing (tests; see `crate::faults`). Switched
    /// under the `state` lock, so that the sync thread sees a change.
    faults: Disk,
    /// Wakes the sync thread.
    wake: Condvar,
    point: watch::Sender<Point>,
}

#[derive(Default)]
struct State {
    /// The last index written to the log (synced or not).
    written: u64,
    /// Every entry up to this index is synced.
    synced: u64,
    /// Bumped by every truncation: a sync that began before one may not
    /// vouch for entries written after it under the same indexes.
    epoch: u64,
    failed: bool,
    stop: bool,
}

impl State {
    /// Whether the thread has a sync to do.
    fn due(&self, faults: &Disk) -> bool {
        !faults.held() && !self.failed && self.written > self.synced
    }
}

impl Durable {
    /// A durable point at `last` (the log's last index, all of it synced),
    /// and its sync thread, which calls `sync` to sync every write made so
    /// far. The thread ends when the returned guard is dropped.
    pub fn start(
        last: u64,
        sync: impl Fn() -> Result<(), StorageError> + Send + 'static,
    ) -> Result<(Arc<Durable>, SyncThread), StorageError> {
        let durable = Arc::new(Durable {
            state: Mutex::new(State { written: last, synced: last, ..State::default() }),
            faults: Disk::default(),
            wake: Condvar::new(),
            point: watch::Sender::new(Point { synced: last, ended: None }),
        });
        let worker = durable.clone();
        let thread = std::thread::Builder::new()
            .name("coffer-log-sync".into())
            .spawn(move || worker.run(sync))
            .map_err(|e| StorageError::Io(format!("log sync thread: {e}")))?;
        Ok((durable.clone(), SyncThread { durable, thread: Some(thread) }))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn run(&self, sync: impl Fn() -> Result<(), StorageError>) {
        loop {
            let (target, epoch, failure) = {
                let mut s = self.state();
                while !s.stop && !s.due(&self.faults) {
                    s = self.wake.wait(s).unwrap_or_else(|p| p.into_inner());
                }
                // On stop, what was written is synced first (unless held).
                if !s.due(&self.faults) {
                    let synced = s.synced;
                    self.point.send_replace(Point { synced, ended: Some(Ended::Closed) });
                    return;
                }
                (s.written, s.epoch, self.faults.failure())
            };
            let result = match failure {
                Some(why) => Err(StorageError::Io(why.into())),
                None => sync(),
            };
            let mut s = self.state();
            match result {
                Ok(()) if s.epoch == epoch && target > s.synced => {
                    s.synced = target;
                    self.point.send_replace(Point { synced: target, ended: None });
                }
                Ok(()) => {}
                Err(e) => {
                    tracing::error!(error = %e, "syncing the Raft log failed; this node stops");
                    s.failed = true;
                    self.point.send_replace(Point { synced: s.synced, ended: Some(Ended::Failed) });
                }
            }
        }
    }

    /// Entries through `last` were written without a sync; the thread
    /// syncs them.
    pub fn wrote_unsynced(&self, last: u64) {
        let mut s = self.state();
        s.written = last;
        self.wake.notify_one();
    }

    /// A synced write left the log ending at `last`: everything in it is on
    /// disk. `truncated` says whether entries after `last` were removed.
    pub fn wrote_synced(&self, last: u64, truncated: bool) {
        let mut s = self.state();
        if truncated {
            s.epoch += 1;
        }
        s.written = last;
        if !s.failed {
            s.synced = last;
            self.point.send_replace(Point { synced: last, ended: None });
        }
    }

    /// The last index known to be on disk.
    pub fn synced(&self) -> u64 {
        self.state().synced
    }

    /// Holds syncs back (`true`), as a disk that has stopped answering
    /// would, or lets them go on (a test fault).
    #[cfg(feature = "fault-injection")]
    pub fn hold(&self, held: bool) {
        let _s = self.state();
        self.faults.hold(held);
        self.wake.notify_one();
    }

    /// Makes every sync from now on fail, as a disk returning errors would
    /// (a test fault).
    #[cfg(feature = "fault-injection")]
    pub fn break_syncs(&self) {
        let _s = self.state();
        self.faults.break_syncs();
    }

    /// Waits until the entry at `index` is on disk, if this log wrote it
    /// (entries from elsewhere, as the storage conformance suite applies,
    /// are not waited for). An error if a sync failed or the log closed
    /// first.
    pub async fn wait_synced(&self, index: u64) -> Result<(), StorageError> {
        let written = self.state().written;
        if index > written {
            return Ok(());
        }
        let mut rx = self.point.subscribe();
        let point = match rx.wait_for(|p| p.synced >= index || p.ended.is_some()).await {
            Ok(p) => *p,
            Err(_) => Point { synced: 0, ended: Some(Ended::Closed) },
        };
        match point.ended {
            _ if point.synced >= index => Ok(()),
            Some(Ended::Failed) => Err(StorageError::Io("the Raft log could not be synced".into())),
            _ => Err(StorageError::Io("the Raft log was closed before the entry was synced".into())),
        }
    }
}

impl crate::raft::network::LogSync for Durable {
    fn synced(&self) -> u64 {
        Durable::synced(self)
    }

    fn wait_synced(&self, index: u64) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>> {
        Box::pin(async move { Durable::wait_synced(self, index).await.map_err(|e| e.to_string()) })
    }
}

/// Stops the sync thread when dropped (after the sync under way, if any).
pub struct SyncThread {
    durable: Arc<Durable>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for SyncThread {
    fn drop(&mut self) {
        self.durable.state().stop = true;
        self.durable.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    use std::time::Duration;

    use super::*;

    fn counting() -> (Arc<AtomicU32>, impl Fn() -> Result<(), StorageError>) {
        let count = Arc::new(AtomicU32::new(0));
        let c = count.clone();
        (count, move || {
            c.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
    }

    async fn settles(d: &Durable, index: u64) {
        tokio::time::timeout(Duration::from_secs(5), d.wait_synced(index)).await.expect("synced in time").unwrap();
    }

    #[tokio::test]
    async fn unsynced_writes_are_synced_in_the_background_and_waiters_released() {
        let (count, sync) = counting();
        let (d, _thread) = Durable::start(3, sync).unwrap();
        assert_eq!(d.synced(), 3);
        d.hold(true);
        d.wrote_unsynced(5);
        let waiter = tokio::spawn({
            let d = d.clone();
            async move { d.wait_synced(5).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "released before its entry was synced");
        assert_eq!((d.synced(), count.load(Ordering::SeqCst)), (3, 0), "a held sync ran");
        d.hold(false);
        waiter.await.unwrap().unwrap();
        assert_eq!(d.synced(), 5);
        // Entries this log never wrote are not waited for; synced ones at once.
        d.wait_synced(9).await.unwrap();
        d.wait_synced(4).await.unwrap();
    }

    #[tokio::test]
    async fn a_sync_begun_before_a_truncation_does_not_vouch_for_what_replaced_it() {
        let started = Arc::new(AtomicBool::new(false));
        let release = Arc::new(AtomicBool::new(false));
        let (s, r) = (started.clone(), release.clone());
        let (d, _thread) = Durable::start(1, move || {
            s.store(true, Ordering::SeqCst);
            while !r.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(())
        })
        .unwrap();
        d.wrote_unsynced(4);
        while !started.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // Meanwhile 3.. is truncated away (synced) and written again, unsynced.
        d.wrote_synced(2, true);
        d.hold(true);
        d.wrote_unsynced(4);
        release.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(d.synced(), 2, "the old sync vouched for the new entries");
        d.hold(false);
        settles(&d, 4).await;
    }

    #[tokio::test]
    async fn a_failed_sync_fails_every_wait_behind_it() {
        let (d, _thread) = Durable::start(0, || Err(StorageError::Io("disk gone".into()))).unwrap();
        d.wrote_unsynced(2);
        let err = tokio::time::timeout(Duration::from_secs(5), d.wait_synced(1)).await.unwrap().unwrap_err();
        assert!(err.to_string().contains("could not be synced"), "{err}");
        // A later synced write does not make the lost ones durable again.
        d.wrote_synced(3, false);
        assert!(d.wait_synced(3).await.is_err());
    }

    #[tokio::test]
    async fn broken_syncs_fail_instead_of_syncing() {
        let (count, sync) = counting();
        let (d, _thread) = Durable::start(0, sync).unwrap();
        d.wrote_unsynced(1);
        settles(&d, 1).await;
        d.break_syncs();
        d.wrote_unsynced(2);
        let err = tokio::time::timeout(Duration::from_secs(5), d.wait_synced(2)).await.unwrap().unwrap_err();
        assert!(err.to_string().contains("could not be synced"), "{err}");
        assert_eq!((d.synced(), count.load(Ordering::SeqCst)), (1, 1));
    }

    #[tokio::test]
    async fn dropping_the_guard_syncs_what_is_written_then_ends_the_thread() {
        let (count, sync) = counting();
        let (d, thread) = Durable::start(0, sync).unwrap();
        d.wrote_unsynced(1);
        settles(&d, 1).await;
        d.hold(true);
        d.wrote_unsynced(2);
        d.hold(false);
        drop(thread);
        assert_eq!((d.synced(), count.load(Ordering::SeqCst)), (2, 2), "not synced before the thread ended");
        d.wrote_unsynced(3);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!((d.synced(), count.load(Ordering::SeqCst)), (2, 2));
        let err = d.wait_synced(3).await.unwrap_err();
        assert!(err.to_string().contains("closed"), "{err}");
    }

    #[tokio::test]
    async fn a_wait_ends_when_the_log_closes_with_syncs_held() {
        let (_count, sync) = counting();
        let (d, thread) = Durable::start(0, sync).unwrap();
        d.hold(true);
        d.wrote_unsynced(1);
        let waiter = tokio::spawn({
            let d = d.clone();
            async move { d.wait_synced(1).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(thread);
        let err = tokio::time::timeout(Duration::from_secs(5), waiter).await.unwrap().unwrap().unwrap_err();
        assert!(err.to_string().contains("closed"), "{err}");
        assert_eq!(d.synced(), 0);
    }
}
