//! Replication under faults, on in-process 3-node clusters.

mod common;

use std::time::Duration;

use coffer::client::{ReadConsistency, SetSecret};
use coffer::error_code::ErrorCode;
use coffer::node::snapshots::{next_build, offset};
use common::{stale_value, TestCluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t10_write_replicates_to_every_node() {
    let cluster = TestCluster::start(3).await;
    let client = cluster.client();
    client.create_vault("v", 0, false).await.unwrap();
    client.set_secret(SetSecret::new("v", "s", "hello")).await.unwrap();
    let applied = cluster.applied_on_leader().await;
    for id in 1..=3 {
        cluster.wait_applied(id, applied).await;
        assert_eq!(stale_value(&cluster, id, "v", "s").await.as_deref(), Some("hello"), "node {id}");
    }
    cluster.shutdown().await;
}

/// A commit is announced to the followers even when no entry and no
/// heartbeat follows it: the leader defers the announcement only briefly,
/// hoping to send it with the next entry (`raft::announce`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t12_followers_learn_of_a_commit_with_no_entry_after_it() {
    let cluster = TestCluster::start_with(3, |c| {
        c.raft.heartbeat_ms = 10_000;
        c.raft.election_timeout_min_ms = 60_000;
        c.raft.election_timeout_max_ms = 90_000;
    })
    .await;
    let client = cluster.client();
    client.create_vault("v", 0, false).await.unwrap();
    for round in 0..3 {
        client.set_secret(SetSecret::new("v", "s", format!("value {round}"))).await.unwrap();
        let applied = cluster.applied_on_leader().await;
        for id in 1..=3 {
            // Far less than a heartbeat interval: the announcement itself.
            let raft = cluster.node(id).replica().raft();
            raft.wait(Some(Duration::from_secs(3)))
                .applied_index_at_least(Some(applied), "the commit announced")
                .await
                .unwrap_or_else(|e| panic!("round {round}: node {id} did not learn of commit {applied}: {e}"));
        }
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t20_follower_redirects_to_leader() {
    let cluster = TestCluster::start(3).await;
    let leader = cluster.leader().await;
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    // A client that only knows a follower learns the leader from NotLeader.
    let client = cluster.client_of(follower);
    client.create_vault("v", 0, false).await.unwrap();
    client.set_secret(SetSecret::new("v", "s", "x")).await.unwrap();
    let got = client.get_secret("v", "s", None, ReadConsistency::Linearizable).await.unwrap();
    assert_eq!(got.value, "x");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t30_leader_killed_new_leader_elected_and_writes_continue() {
    let mut cluster = TestCluster::start(3).await;
    let client = cluster.client();
    client.create_vault("v", 0, false).await.unwrap();
    client.set_secret(SetSecret::new("v", "before", "1")).await.unwrap();
    let old = cluster.leader().await;
    cluster.kill(old).await;
    let new = cluster.leader().await;
    assert_ne!(new, old);
    client.set_secret(SetSecret::new("v", "after", "2")).await.unwrap();
    for name in ["before", "after"] {
        client.get_secret("v", name, None, ReadConsistency::Linearizable).await.unwrap();
    }
    // The old leader comes back as a follower and catches up.
    cluster.restart(old).await;
    let applied = cluster.applied_on_leader().await;
    cluster.wait_applied(old, applied).await;
    assert_eq!(stale_value(&cluster, old, "v", "after").await.as_deref(), Some("2"));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t40_isolated_follower_catches_up_from_the_log() {
    let cluster = TestCluster::start(3).await;
    let client = cluster.client();
    client.create_vault("v", 0, false).await.unwrap();
    let leader = cluster.leader().await;
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    cluster.faults.isolate(follower);
    for i in 0..20 {
        client.set_secret(SetSecret::new("v", &format!("s{i}"), "x")).await.unwrap();
    }
    assert_eq!(stale_value(&cluster, follower, "v", "s19").await, None, "isolated node saw the write");
    cluster.faults.heal(follower);
    let applied = cluster.applied_on_leader().await;
    cluster.wait_applied(follower, applied).await;
    assert_eq!(stale_value(&cluster, follower, "v", "s19").await.as_deref(), Some("x"));
    let m = cluster.node(follower).replica().raft().metrics().borrow().clone();
    assert_eq!(m.snapshot, None, "caught up from the log, not a snapshot");
    cluster.shutdown().await;
}

/// A 3-node cluster that snapshots every 20 entries, keeping 5, with a
/// vault `v`.
async fn compacting_cluster() -> TestCluster {
    let cluster = TestCluster::start_with(3, |c| {
        c.raft.snapshot_after_logs = 20;
        c.raft.keep_logs_after_snapshot = 5;
    })
    .await;
    cluster.client().create_vault("v", 0, false).await.unwrap();
    cluster
}

/// Writes `v/s<i>` = `value-<i>` for each `i`.
async fn write_values(cluster: &TestCluster, range: std::ops::Range<u32>) {
    let client = cluster.client();
    for i in range {
        client.set_secret(SetSecret::new("v", &format!("s{i}"), format!("value-{i}"))).await.unwrap();
    }
}

/// Checks that `node` holds `v/s<i>` = `value-<i>` for each `i`.
async fn assert_values(cluster: &TestCluster, node: u64, which: &[u32], context: &str) {
    for i in which {
        let value = stale_value(cluster, node, "v", &format!("s{i}")).await;
        assert_eq!(value, Some(format!("value-{i}")), "s{i} on node {node} {context}");
    }
}

/// Waits until `leader` has purged its log past `index`.
async fn wait_purged_past(cluster: &TestCluster, leader: u64, index: u64) {
    let raft = cluster.node(leader).replica().raft();
    raft.wait(Some(Duration::from_secs(20)))
        .metrics(|m| m.purged.is_some_and(|p| p.index > index), "log purged")
        .await
        .expect("the leader purged its log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t50_wiped_lagging_follower_catches_up_through_a_snapshot() {
    let mut cluster = compacting_cluster().await;
    let leader = cluster.leader().await;
    let lagging = (1..=3).find(|id| *id != leader).unwrap();
    cluster.kill(lagging).await;
    write_values(&cluster, 0..60).await;
    // The leader compacts its log past what the follower could use (once no
    // replication to the dead follower is in flight).
    wait_purged_past(&cluster, leader, 10).await;
    cluster.wipe(lagging).await;
    let applied = cluster.applied_on_leader().await;
    cluster.wait_applied(lagging, applied).await;
    let m = cluster.node(lagging).replica().raft().metrics().borrow().clone();
    assert!(m.snapshot.is_some(), "caught up through a snapshot: {m:?}");
    assert_values(&cluster, lagging, &[0, 30, 59], "after a wipe").await;
    cluster.shutdown().await;
}

/// A follower whose snapshot install breaks off half-way (as a stop in the
/// middle would leave it) stops serving; restarted, it puts back its own
/// state from before, and catches up through the snapshot sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t51_a_broken_off_snapshot_install_is_rolled_back_and_resent() {
    let mut cluster = compacting_cluster().await;
    write_values(&cluster, 0..30).await;
    let leader = cluster.leader().await;
    let lagging = (1..=3).find(|id| *id != leader).unwrap();
    let applied = cluster.applied_on_leader().await;
    cluster.wait_applied(lagging, applied).await;
    // Its own snapshot holds s0..s29: what it restarts from below.
    // (A trigger while its own turn's build runs is dropped: trigger again.)
    let raft = cluster.node(lagging).replica().raft().clone();
    let mut tries = 0;
    loop {
        raft.trigger().snapshot().await.unwrap();
        let wait = raft.wait(Some(Duration::from_secs(2)));
        if wait.metrics(|m| m.snapshot.is_some_and(|s| s.index >= applied), "own snapshot").await.is_ok() {
            break;
        }
        tries += 1;
        assert!(tries < 10, "the lagging follower did not build its snapshot");
    }
    cluster.faults.isolate(lagging);
    write_values(&cluster, 30..90).await;
    let its_last = cluster.node(lagging).replica().raft().metrics().borrow().last_log_index.unwrap_or(0);
    wait_purged_past(&cluster, leader, its_last).await;

    cluster.node(lagging).break_next_snapshot_install();
    cluster.faults.heal(lagging);
    let (failed, error) =
        tokio::time::timeout(Duration::from_secs(30), coffer::node::first_failure([cluster.node(lagging)]))
            .await
            .expect("the broken install stops the node");
    assert_eq!(failed, lagging);
    assert!(error.contains("broken off"), "{error}");

    // Restarted on its own, it has the state of its own snapshot back (the
    // install had deleted it), and its log was not purged past it.
    cluster.faults.isolate(lagging);
    cluster.kill(lagging).await;
    cluster.restart(lagging).await;
    assert_values(&cluster, lagging, &[0, 29], "restarted, before catching up").await;
    cluster.faults.heal(lagging);
    let applied = cluster.applied_on_leader().await;
    cluster.wait_applied(lagging, applied).await;
    assert_values(&cluster, lagging, &[0, 29, 30, 89], "caught up").await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t60_restart_every_node_keeps_all_data() {
    let mut cluster = TestCluster::start_with(3, |c| c.raft.snapshot_after_logs = 15).await;
    let client = cluster.client();
    client.create_vault("v", 0, false).await.unwrap();
    let mut versions = Vec::new();
    for i in 0..30 {
        let p = client.set_secret(SetSecret::new("v", "s", format!("v{i}"))).await.unwrap();
        versions.push(p.version);
    }
    for id in 1..=3 {
        cluster.kill(id).await;
    }
    for id in 1..=3 {
        cluster.restart(id).await;
    }
    cluster.leader().await;
    let client = cluster.client();
    for (i, v) in versions.iter().enumerate() {
        let got = client.get_secret("v", "s", Some(v), ReadConsistency::Linearizable).await.unwrap();
        assert_eq!(got.value, format!("v{i}"));
    }
    let latest = client.get_secret("v", "s", None, ReadConsistency::Linearizable).await.unwrap();
    assert_eq!(latest.value, "v29");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t70_no_quorum_means_no_acknowledged_write() {
    let mut cluster = TestCluster::start(3).await;
    let client = cluster.client().with_deadline(Duration::from_secs(3));
    client.create_vault("v", 0, false).await.unwrap();
    let leader = cluster.leader().await;
    for id in (1..=3).filter(|id| *id != leader).collect::<Vec<_>>() {
        cluster.kill(id).await;
    }
    let err = client.set_secret(SetSecret::new("v", "s", "x")).await.unwrap_err();
    assert!(
        matches!(err.code(), ErrorCode::Timeout | ErrorCode::Unavailable | ErrorCode::NoLeader | ErrorCode::NotLeader),
        "{err}"
    );
    let err = client.get_secret("v", "s", None, ReadConsistency::Linearizable).await.unwrap_err();
    assert_ne!(err.code(), ErrorCode::SecretNotFound, "a linearizable read must not be served without quorum");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t80_delayed_network_still_commits() {
    let cluster = TestCluster::start(3).await;
    cluster.faults.set_delay(Some(Duration::from_millis(30)));
    let client = cluster.client();
    client.create_vault("v", 0, false).await.unwrap();
    client.set_secret(SetSecret::new("v", "s", "slow")).await.unwrap();
    assert_eq!(client.get_secret("v", "s", None, ReadConsistency::Linearizable).await.unwrap().value, "slow");
    cluster.faults.set_delay(None);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t90_concurrent_writes_are_group_committed() {
    let cluster = TestCluster::start(3).await;
    let client = std::sync::Arc::new(cluster.client());
    client.create_vault("v", 0, false).await.unwrap();
    let before = cluster.applied_on_leader().await;
    let writes: Vec<_> = (0..200)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move { client.set_secret(SetSecret::new("v", &format!("s{i}"), "x")).await })
        })
        .collect();
    for w in writes {
        w.await.unwrap().unwrap();
    }
    let entries = cluster.applied_on_leader().await - before;
    eprintln!("200 concurrent writes took {entries} log entries");
    assert!(entries < 200, "no batching: {entries} entries for 200 writes");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t95_leader_purges_expired_soft_deleted_secrets() {
    let cluster = TestCluster::start(3).await;
    let client = cluster.client();
    client.create_vault("v", 7, true).await.unwrap();
    client.set_secret(SetSecret::new("v", "old", "x")).await.unwrap();
    client.set_secret(SetSecret::new("v", "fresh", "x")).await.unwrap();
    client.delete_secret("v", "old").await.unwrap();
    let leader = cluster.leader().await;
    let replica = cluster.node(leader).replica().clone();
    // Not due yet: nothing is purged, even by the leader's sweep.
    assert_eq!(coffer::replica::purger::sweep(&replica).await.unwrap(), 0);
    replica.clock().advance_for_tests(7 * 86_400 + 1);
    client.delete_secret("v", "fresh").await.unwrap();
    assert_eq!(coffer::replica::purger::sweep(&replica).await.unwrap(), 1);
    let err = client.get_deleted_secret("v", "old", ReadConsistency::Linearizable).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::SecretNotFound);
    client.get_deleted_secret("v", "fresh", ReadConsistency::Linearizable).await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t55_wiped_up_to_date_follower_rejoins_without_disrupting_the_leader() {
    let mut cluster = TestCluster::start_with(3, |c| c.raft.snapshot_after_logs = 5).await;
    let client = cluster.client();
    client.create_vault("v", 0, false).await.unwrap();
    for i in 0..10 {
        client.set_secret(SetSecret::new("v", &format!("s{i}"), "x")).await.unwrap();
    }
    let leader = cluster.leader().await;
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    cluster.wait_applied(follower, cluster.applied_on_leader().await).await;
    // Its disk is lost while it was fully caught up: its log "reverts".
    cluster.wipe(follower).await;
    client.set_secret(SetSecret::new("v", "after", "y")).await.unwrap();
    assert_eq!(cluster.leader().await, leader, "the leader survived the reverted follower");
    cluster.wait_applied(follower, cluster.applied_on_leader().await).await;
    assert_eq!(stale_value(&cluster, follower, "v", "after").await.as_deref(), Some("y"));
    cluster.shutdown().await;
}

/// The members build snapshots in turn, each at its own offset within the
/// interval, rather than all at the same log index.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t57_members_take_turns_building_snapshots() {
    const EVERY: u64 = 100;
    let cluster = TestCluster::start_with(3, |c| c.raft.snapshot_after_logs = EVERY).await;
    let client = cluster.client();
    client.create_vault("v", 0, false).await.unwrap();
    let mut turns: Vec<(u64, u64)> = (1..=3).map(|id| (next_build(None, EVERY, offset(id, EVERY)), id)).collect();
    turns.sort_unstable();
    assert!(cluster.applied_on_leader().await < turns[0].0, "a fresh cluster is before every turn: {turns:?}");
    let snapshot = |id: u64| cluster.node(id).replica().raft().metrics().borrow().snapshot;
    let mut written = 0;
    for (k, &(due, id)) in turns.iter().enumerate() {
        // Write until the leader has applied this node's turn, and no later one.
        while cluster.applied_on_leader().await < due {
            client.set_secret(SetSecret::new("v", &format!("s{written}"), "x")).await.unwrap();
            written += 1;
        }
        let applied = cluster.applied_on_leader().await;
        if let Some(&(next, _)) = turns.get(k + 1) {
            assert!(applied < next, "wrote past the next turn: {applied} >= {next}");
        }
        for node in 1..=3 {
            cluster.wait_applied(node, applied).await;
        }
        cluster
            .node(id)
            .replica()
            .raft()
            .wait(Some(Duration::from_secs(10)))
            .metrics(|m| m.snapshot.is_some_and(|s| s.index >= due), "its turn")
            .await
            .unwrap_or_else(|e| panic!("node {id} did not build at its turn {due} ({turns:?}): {e}"));
        // The nodes whose turn is later have checked several times meanwhile.
        tokio::time::sleep(Duration::from_millis(300)).await;
        for &(later_due, later) in &turns[k + 1..] {
            assert_eq!(snapshot(later), None, "node {later} (turn {later_due}) built at applied {applied}");
        }
    }
    cluster.shutdown().await;
}

/// Linearizable reads on the leader skip the read index: the commit of the
/// request's audit record confirms the leadership instead. Without audit
/// records they confirm with a read-index round.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t72_audited_leader_reads_need_no_read_index_round() {
    for audit in [true, false] {
        let cluster = TestCluster::start_with(3, |c| c.audit.enabled = audit).await;
        cluster.client().create_vault("v", 0, false).await.unwrap();
        cluster.client().set_secret(SetSecret::new("v", "s", "x")).await.unwrap();
        let leader = cluster.leader().await;
        let client = cluster.client_of(leader);
        let before = cluster.node(leader).replica().read_index_rounds();
        for _ in 0..5 {
            assert_eq!(client.get_secret("v", "s", None, ReadConsistency::Linearizable).await.unwrap().value, "x");
        }
        let rounds = cluster.node(leader).replica().read_index_rounds() - before;
        if audit {
            assert_eq!(rounds, 0, "audited reads ran read-index rounds");
        } else {
            assert!(rounds >= 1, "unaudited linearizable reads skipped the read index");
        }
        cluster.shutdown().await;
    }
}

/// openraft asks for a new peer client for every leadership check (each
/// read-index round): they must reuse the peer's connection, not open a TCP
/// connection and make a TLS handshake on both nodes per round.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t73_read_index_rounds_reuse_peer_connections() {
    let cluster = TestCluster::start_with(3, |c| c.audit.enabled = false).await;
    cluster.client().create_vault("v", 0, false).await.unwrap();
    cluster.client().set_secret(SetSecret::new("v", "s", "x")).await.unwrap();
    let leader = cluster.leader().await;
    let followers: Vec<u64> = (1..=3).filter(|id| *id != leader).collect();
    let accepted = || followers.iter().map(|id| cluster.node(*id).peer_connections_accepted()).sum::<u64>();
    let client = cluster.client_of(leader);
    let before = accepted();
    let rounds = cluster.node(leader).replica().read_index_rounds();
    for _ in 0..20 {
        assert_eq!(client.get_secret("v", "s", None, ReadConsistency::Linearizable).await.unwrap().value, "x");
    }
    let rounds = cluster.node(leader).replica().read_index_rounds() - rounds;
    let opened = accepted() - before;
    assert!(rounds >= 10, "expected a read-index round per read, ran {rounds}");
    assert!(opened <= 2, "{rounds} read-index rounds opened {opened} peer connections");
    cluster.shutdown().await;
}

/// A leader cut off from the others keeps believing it leads; the majority
/// elects another and acknowledges a newer value. The old leader must not
/// answer a linearizable read with the value it still holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t75_deposed_leader_serves_no_stale_linearizable_read() {
    // Audited reads are vouched for by their record's commit; unaudited
    // ones by a read-index round (whose peer calls are never deferred).
    for audit in [true, false] {
        deposed_leader_serves_no_stale_linearizable_read(audit).await;
    }
}

async fn deposed_leader_serves_no_stale_linearizable_read(audit: bool) {
    let cluster = TestCluster::start_with(3, |c| c.audit.enabled = audit).await;
    cluster.client().create_vault("v", 0, false).await.unwrap();
    cluster.client().set_secret(SetSecret::new("v", "s", "old")).await.unwrap();
    let old = cluster.leader().await;
    cluster.faults.isolate(old);
    let others: Vec<u64> = (1..=3).filter(|id| *id != old).collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let new = loop {
        let views: Vec<Option<u64>> =
            others.iter().map(|id| cluster.node(*id).replica().raft().metrics().borrow().current_leader).collect();
        if let Some(Some(l)) = views.first() {
            if *l != old && views.iter().all(|v| *v == Some(*l)) {
                break *l;
            }
        }
        assert!(std::time::Instant::now() < deadline, "no new leader: {views:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    cluster.client_of(new).set_secret(SetSecret::new("v", "s", "new")).await.unwrap();
    let got = cluster
        .client_of(old)
        .with_deadline(Duration::from_secs(3))
        .get_secret("v", "s", None, ReadConsistency::Linearizable)
        .await;
    assert!(!matches!(&got, Ok(s) if s.value == "old"), "the deposed leader served a stale read (audit {audit})");
    cluster.faults.heal(old);
    cluster.shutdown().await;
}

/// A leader's own appends are synced in the background, after they went
/// out to the followers (`storage::durable`). A crash of the leader that
/// loses them must lose no acknowledged write, and must not let the
/// restarted leader reuse their log ids for other entries (it gives up its
/// leadership at start): the nodes must end with the same state.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t35_leader_crash_losing_unsynced_appends_loses_no_acknowledged_write() {
    // No election on its own while the test runs: the leader restarts
    // first, and an election is then called for.
    let mut cluster = TestCluster::start_with(3, |c| {
        c.raft.heartbeat_ms = 100;
        c.raft.election_timeout_min_ms = 20_000;
        c.raft.election_timeout_max_ms = 22_000;
    })
    .await;
    let client = cluster.client();
    client.create_vault("v", 0, false).await.unwrap();
    for i in 0..5 {
        client.set_secret(SetSecret::new("v", &format!("acked{i}"), "a")).await.unwrap();
    }
    let leader = cluster.leader().await;
    let followers: Vec<u64> = (1..=3).filter(|id| *id != leader).collect();
    cluster.node(leader).hold_log_syncs(true);
    let through = cluster.node(leader).log_synced_through();
    let pending = std::sync::Arc::new(cluster.client().with_deadline(Duration::from_secs(1)));
    let writes: Vec<_> = (0..4)
        .map(|i| {
            let c = pending.clone();
            tokio::spawn(async move { c.set_secret(SetSecret::new("v", &format!("pending{i}"), "p")).await })
        })
        .collect();
    // The followers get the leader's unsynced entries (and sync them)…
    let metrics = |id: u64| cluster.node(id).replica().raft().metrics().borrow().clone();
    let last_log = |id: u64| metrics(id).last_log_index.unwrap_or(0);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while last_log(leader) <= through || followers.iter().any(|f| last_log(*f) < last_log(leader)) {
        assert!(std::time::Instant::now() < deadline, "the entries did not reach the followers");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // …but no node applies them, and no client hears of them.
    for w in writes {
        let outcome = w.await.unwrap();
        assert!(outcome.is_err(), "a write was acknowledged before the leader synced it");
    }
    for id in 1..=3 {
        let applied = metrics(id).last_applied.map_or(0, |l| l.index);
        assert!(applied <= through, "node {id} applied {applied}, past the leader's synced log ({through})");
    }
    assert_eq!(cluster.crash_losing_unsynced(leader).await, through);
    cluster.restart(leader).await;
    // A write now must not find the restarted node leading in its old term
    // (its next entry would take a lost entry's log id): it waits for an
    // election, called on a follower if none has happened.
    let after = {
        let c = cluster.client().with_deadline(Duration::from_secs(20));
        tokio::spawn(async move { c.set_secret(SetSecret::new("v", "after", "b")).await })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    if !after.is_finished() {
        cluster.node(followers[0]).replica().raft().trigger().elect().await.unwrap();
    }
    after.await.unwrap().expect("the write after the crash");
    let applied = cluster.applied_on_leader().await;
    for id in 1..=3 {
        cluster.wait_applied(id, applied).await;
    }
    let acked = (0..5).map(|i| format!("acked{i}")).chain(["after".to_string()]);
    for (name, must_exist) in acked.map(|n| (n, true)).chain((0..4).map(|i| (format!("pending{i}"), false))) {
        let mut seen = Vec::new();
        for id in 1..=3 {
            seen.push(stale_value(&cluster, id, "v", &name).await);
        }
        assert!(seen.iter().all(|v| *v == seen[0]), "{name}: the nodes disagree: {seen:?}");
        assert!(!must_exist || seen[0].is_some(), "{name}: an acknowledged write was lost");
    }
    cluster.shutdown().await;
}

/// A node whose Raft log cannot be written stops serving (fail-stop)
/// rather than answering from a state it no longer keeps up to date; the
/// others go on, and restarted on a working disk it catches up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t37_a_node_whose_disk_fails_stops_serving_and_recovers_on_restart() {
    let mut cluster = TestCluster::start(3).await;
    let client = cluster.client();
    client.create_vault("v", 0, false).await.unwrap();
    client.set_secret(SetSecret::new("v", "before", "a")).await.unwrap();
    let broken = cluster.leader().await;
    cluster.node(broken).break_log_syncs();
    // The write the broken leader takes has an unknown outcome.
    let _ =
        cluster.client_of(broken).with_deadline(Duration::from_secs(5)).set_secret(SetSecret::new("v", "x", "b")).await;
    let all = (1..=3).map(|id| cluster.node(id));
    let (failed, error) = tokio::time::timeout(Duration::from_secs(30), coffer::node::first_failure(all))
        .await
        .expect("the node stops serving");
    assert_eq!(failed, broken);
    assert!(error.contains("could not be synced"), "{error}");
    // It refuses even a stale read.
    let only_broken = cluster.client_of(broken).with_deadline(Duration::from_secs(5));
    let err = only_broken.get_secret("v", "before", None, ReadConsistency::Stale).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Unavailable, "{err}");
    // The others elect a leader and take writes meanwhile.
    client.set_secret(SetSecret::new("v", "after", "c")).await.unwrap();
    // Restarted (its disk working again), it catches up.
    cluster.kill(broken).await;
    cluster.restart(broken).await;
    let applied = cluster.applied_on_leader().await;
    cluster.wait_applied(broken, applied).await;
    for name in ["before", "after"] {
        assert!(stale_value(&cluster, broken, "v", name).await.is_some(), "{name}");
    }
    cluster.shutdown().await;
}
