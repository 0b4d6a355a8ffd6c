//! Commit announcements, deferred.
//!
//! When an entry commits and a follower's replication stream is idle,
//! openraft 0.9 tells that follower the new commit index at once, in an
//! AppendEntries of its own without entries. With one batch in flight at a
//! time (see `replica::proposer`) the stream is always idle then, so every
//! entry cost two peer calls, each with TLS, HTTP/2 and a Raft core round
//! on both ends (bench/RESULTS.md, 'What was tried'). Yet the next call with
//! entries carries the commit index too, and under load it follows within
//! a millisecond or two.
//!
//! So a replication stream's client answers such an empty call at once and
//! sends it when [`DEFER`] has passed, unless a call with entries has gone
//! out meanwhile (an empty call that comes meanwhile takes its place, with
//! the same deadline: followers still hear from the leader every
//! [`DEFER`] or sooner). A peer that did not answer a deferred call with
//! success gets the next empty call for real, and that call's own answer.
//!
//! Why this is safe with openraft 0.9.25 (pinned; look again before any
//! upgrade): the success of a call without entries moves no matching index
//! (openraft ignores the progress of a heartbeat request), only the
//! leader's clock of the follower's last answer, which 0.9 uses for metrics
//! alone (`millis_since_quorum_ack`; nothing in coffer reads it). Calls
//! with entries — all that commits rest on — are always sent. Leadership
//! checks (`Raft::ensure_linearizable`, the read index) do not go through
//! replication streams: openraft makes a new client for each, and only a
//! client that has carried entries, and whose calls since then have
//! succeeded, defers — never a first call. The cost: when no entry follows,
//! a follower learns of a commit [`DEFER`] later, and a leader learns that
//! a follower stopped answering (or has a higher vote) one call later.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::LogId;

use super::NodeId;

/// How long an empty call waits for a call with entries to replace it.
pub const DEFER: Duration = Duration::from_millis(5);

/// A deferred call: resolves to whether the peer answered with success.
type Call = Pin<Box<dyn Future<Output = bool> + Send>>;

/// One replication client's deferred announcements.
pub struct Announcer {
    /// [`DEFER`] (longer in tests, for their timing's sake).
    defer: Duration,
    /// The last entry this client delivered, while its calls since then
    /// have succeeded: an empty call that matches it only announces.
    delivered: Option<LogId<NodeId>>,
    /// `delivered` while a call is out (a call dropped unanswered, e.g. by
    /// openraft's timeout, leaves nothing delivered).
    sending: Option<LogId<NodeId>>,
    /// The call waiting for its deadline, shared with the task that sends
    /// it; taking it out cancels it.
    waiting: Arc<Mutex<Waiting>>,
}

#[derive(Default)]
struct Waiting {
    /// The newest deferred call, if not yet sent or cancelled, and the
    /// number of the deadline it keeps (each task sends only its own: a
    /// task whose call was cancelled must not send a later one early).
    call: Option<(u64, Call)>,
    /// Deadlines numbered so far.
    deadlines: u64,
    /// A deferred call was not answered with success.
    failed: bool,
}

impl Default for Announcer {
    fn default() -> Self {
        Announcer { defer: DEFER, delivered: None, sending: None, waiting: Arc::default() }
    }
}

impl Announcer {
    /// Whether a call without entries after `prev` (the follower's matching
    /// entry) may be answered at once and deferred. If not, the call is
    /// sent now (report its outcome with [`Announcer::sent`]), and a
    /// deferred call is cancelled: every call carries the commit index.
    pub fn defers(&mut self, has_entries: bool, prev: Option<&LogId<NodeId>>) -> bool {
        let mut waiting = lock(&self.waiting);
        if !has_entries && self.delivered.is_some() && prev == self.delivered.as_ref() && !waiting.failed {
            return true;
        }
        waiting.call = None;
        self.sending = self.delivered.take();
        false
    }

    /// Sends `call` when [`DEFER`] has passed (or instead of a call deferred
    /// before it, by that one's deadline) unless a call is sent first.
    pub fn defer(&mut self, call: impl Future<Output = bool> + Send + 'static) {
        let deadline = {
            let mut w = lock(&self.waiting);
            if let Some((deadline, _)) = w.call.take() {
                w.call = Some((deadline, Box::pin(call)));
                return;
            }
            w.deadlines += 1;
            let deadline = w.deadlines;
            w.call = Some((deadline, Box::pin(call)));
            deadline
        };
        let (waiting, defer) = (Arc::downgrade(&self.waiting), self.defer);
        tokio::spawn(async move {
            tokio::time::sleep(defer).await;
            let mine = |w: &mut Waiting| match w.call.take() {
                Some((d, call)) if d == deadline => Some(call),
                other => {
                    w.call = other;
                    None
                }
            };
            let Some(call) = waiting.upgrade().and_then(|w| mine(&mut lock(&w))) else { return };
            let ok = call.await;
            if let Some(w) = waiting.upgrade() {
                lock(&w).failed |= !ok;
            }
        });
    }

    /// Records the outcome of a call sent at once: `Some(last)` when it
    /// succeeded (`last` the entry it ends at, if it carried entries).
    pub fn sent(&mut self, outcome: Option<Option<LogId<NodeId>>>) {
        let before = self.sending.take();
        match outcome {
            Some(last) => {
                lock(&self.waiting).failed = false;
                self.delivered = last.or(before);
            }
            None => self.delivered = None,
        }
    }
}

fn lock(w: &Mutex<Waiting>) -> std::sync::MutexGuard<'_, Waiting> {
    w.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use openraft::CommittedLeaderId;

    use super::*;

    fn log_id(index: u64) -> LogId<NodeId> {
        LogId::new(CommittedLeaderId::new(2, 1), index)
    }

    /// The deferral in these tests: long enough against the scheduler's
    /// delays for timings a few tens of milliseconds apart to hold.
    const WAIT: Duration = Duration::from_millis(200);
    /// Long enough for a deferred call to have gone out.
    const LATER: Duration = Duration::from_millis(600);

    /// An announcer that has delivered entries up to 5.
    fn delivered_5() -> Announcer {
        let mut a = Announcer { defer: WAIT, ..Announcer::default() };
        assert!(!a.defers(true, Some(&log_id(3))));
        a.sent(Some(Some(log_id(5))));
        a
    }

    #[test]
    fn only_an_empty_call_after_delivered_entries_defers() {
        let mut a = Announcer::default();
        assert!(!a.defers(false, None), "a new client's first call (a leadership check) is sent");
        a.sent(Some(None));
        assert!(!a.defers(false, Some(&log_id(4))), "an empty call delivers nothing");
        a.sent(Some(None));
        let mut a = delivered_5();
        assert!(a.defers(false, Some(&log_id(5))), "announces what it delivered");
        assert!(!a.defers(true, Some(&log_id(5))), "a call with entries is sent");
        a.sent(Some(Some(log_id(6))));
        assert!(!a.defers(false, Some(&log_id(5))), "an empty call elsewhere in the log is sent");
        a.sent(Some(None));
        assert!(a.defers(false, Some(&log_id(6))), "an empty call's success keeps what was delivered");
        assert!(!a.defers(true, Some(&log_id(6))));
        a.sent(None);
        assert!(!a.defers(false, Some(&log_id(6))), "after a failed call, calls are sent");
    }

    #[test]
    fn a_call_dropped_unanswered_leaves_nothing_delivered() {
        let mut a = delivered_5();
        assert!(!a.defers(true, Some(&log_id(5))), "sent, then dropped by a timeout: no outcome");
        assert!(!a.defers(false, Some(&log_id(5))));
    }

    fn counting(calls: &Arc<AtomicU32>, which: u32, ok: bool) -> impl Future<Output = bool> + Send + 'static {
        let calls = calls.clone();
        async move {
            calls.fetch_add(which, Ordering::SeqCst);
            ok
        }
    }

    #[tokio::test]
    async fn a_deferred_call_is_sent_unless_a_call_goes_out_first() {
        let calls = Arc::new(AtomicU32::new(0));
        let mut a = delivered_5();
        assert!(a.defers(false, Some(&log_id(5))));
        a.defer(counting(&calls, 1, true));
        tokio::time::sleep(LATER).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1, "sent after the wait");

        assert!(a.defers(false, Some(&log_id(5))));
        a.defer(counting(&calls, 10, true));
        assert!(!a.defers(true, Some(&log_id(5))), "a call with entries goes out");
        a.sent(Some(Some(log_id(6))));
        tokio::time::sleep(LATER).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1, "the deferred call is never sent");
    }

    #[tokio::test]
    async fn a_newer_empty_call_takes_the_place_of_a_deferred_one() {
        let calls = Arc::new(AtomicU32::new(0));
        let mut a = delivered_5();
        assert!(a.defers(false, Some(&log_id(5))));
        a.defer(counting(&calls, 1, true));
        assert!(a.defers(false, Some(&log_id(5))));
        a.defer(counting(&calls, 10, true));
        tokio::time::sleep(LATER).await;
        assert_eq!(calls.load(Ordering::SeqCst), 10, "only the newer call");
    }

    #[tokio::test]
    async fn a_cancelled_deferral_does_not_send_the_next_one_early() {
        let calls = Arc::new(AtomicU32::new(0));
        let mut a = delivered_5();
        assert!(a.defers(false, Some(&log_id(5))));
        a.defer(counting(&calls, 1, true));
        assert!(!a.defers(true, Some(&log_id(5))), "a call with entries cancels it");
        a.sent(Some(Some(log_id(6))));
        tokio::time::sleep(WAIT / 2).await;
        assert!(a.defers(false, Some(&log_id(6))));
        a.defer(counting(&calls, 10, true));
        // The first task's deadline passes: it must leave the second call be.
        tokio::time::sleep(WAIT * 3 / 4).await;
        assert!(!a.defers(true, Some(&log_id(6))), "a call with entries within the second deadline");
        tokio::time::sleep(LATER).await;
        assert_eq!(calls.load(Ordering::SeqCst), 0, "neither deferred call went out");
    }

    #[tokio::test]
    async fn empty_calls_more_often_than_the_deferral_still_go_out() {
        let calls = Arc::new(AtomicU32::new(0));
        let mut a = delivered_5();
        let start = tokio::time::Instant::now();
        while start.elapsed() < WAIT * 3 {
            assert!(a.defers(false, Some(&log_id(5))));
            a.defer(counting(&calls, 1, true));
            tokio::time::sleep(WAIT / 5).await;
        }
        assert!(calls.load(Ordering::SeqCst) >= 1, "each replaces the one before, but keeps its deadline");
    }

    #[tokio::test]
    async fn after_a_deferred_call_fails_the_next_is_sent_at_once() {
        let calls = Arc::new(AtomicU32::new(0));
        let mut a = delivered_5();
        assert!(a.defers(false, Some(&log_id(5))));
        a.defer(counting(&calls, 1, false));
        tokio::time::sleep(LATER).await;
        assert!(!a.defers(false, Some(&log_id(5))), "the follower's own answer is wanted");
        a.sent(Some(None));
        assert!(a.defers(false, Some(&log_id(5))), "it answered: deferring again");
    }

    #[tokio::test]
    async fn a_dropped_client_sends_nothing_deferred() {
        let calls = Arc::new(AtomicU32::new(0));
        let mut a = delivered_5();
        assert!(a.defers(false, Some(&log_id(5))));
        a.defer(counting(&calls, 1, true));
        drop(a);
        tokio::time::sleep(LATER).await;
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }
}
