//! A node's view of the replicated state: writes go through Raft (batched by
//! the [`proposer`]), reads come from the local state machine after the
//! consistency the caller asked for. The gRPC API is built on this.
//!
//! - [`proposer`]: group commit of concurrent writes; [`read_index`]:
//!   batched leadership checks for linearizable reads; [`leadership`]: the
//!   leader's term and lease; [`clock`]: the node's clock.
//! - [`cluster`]: membership changes and status.
//! - [`operator`]: init, unseal, seal, rotate, rekey; [`handoff`]: the new
//!   root key handed to members at a rekey; [`rewrap`]: re-encryption
//!   under the newest key.
//! - [`sealing`]: crossing the barrier for secrets (values, metadata,
//!   backups), the one place that names their associated data.
//! - [`pki`]: join tokens and certificates from the cluster CA.
//! - [`audit`]: appending records (a follower forwards them to the leader);
//!   [`anchor`]: the leader's anchors of the audit chain.
//! - [`purger`]: the leader's sweep of expired soft-deleted objects.
//! - [`error`]: the layer's errors.

pub mod anchor;
pub mod audit;
pub mod clock;
pub mod cluster;
pub mod error;
pub mod handoff;
pub mod leadership;
pub mod operator;
pub mod pki;
pub mod proposer;
pub mod purger;
pub mod read_index;
pub mod rewrap;
pub mod sealing;

use std::sync::Arc;
use std::time::Duration;

pub use clock::Clock;
pub use error::{ReplicaError, Result};
pub use proposer::Proposer;

use crate::barrier::Barrier;
use crate::config::Limits;
use crate::proto::storage::{op, Op};
use crate::raft::{NodeId, NodeInfo, Raft};
use crate::state::kv::Kv;
use crate::state::{OpOutput, StateError};
use crate::storage::StateReader;
use crate::tls::{ClientTls, NodeTls};

/// How long a linearizable read may wait to confirm leadership.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// How fresh a read must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consistency {
    /// Confirmed by the leader with a quorum (read index) before reading.
    Linearizable,
    /// Whatever this node has applied.
    Stale,
}

/// The replicated state as seen from one node (cheap to clone).
#[derive(Clone)]
pub struct Replica {
    inner: Arc<Inner>,
}

struct Inner {
    id: NodeId,
    info: NodeInfo,
    raft: Raft,
    reader: StateReader,
    proposer: Proposer,
    read_index: read_index::ReadIndex,
    clock: Clock,
    barrier: Arc<Barrier>,
    /// Set while an automatic data key rotation is under way.
    rotating: std::sync::atomic::AtomicBool,
    /// Set on nodes started to join a cluster: they never bootstrap one.
    joining: std::sync::atomic::AtomicBool,
    /// The local seal kind: "shamir", "passphrase" or "pkcs11".
    seal_type: &'static str,
    limits: Limits,
    /// This node's certificates.
    tls: NodeTls,
    /// Whether requests are audited (`[audit] enabled`).
    audit: std::sync::atomic::AtomicBool,
    /// Records younger than this are never trimmed, seconds.
    audit_retention: std::sync::atomic::AtomicI64,
    /// Channels for forwarding audit records to the leader.
    forwarder: audit::Forwarder,
    /// The security record as of a generation of the state (see
    /// `StateReader::generations`).
    security_cache: std::sync::Mutex<Option<(u64, Option<crate::proto::storage::SecurityRecord>)>>,
}

impl Replica {
    /// Wraps a started Raft node and its state reader.
    pub fn new(
        id: NodeId,
        info: NodeInfo,
        raft: Raft,
        reader: StateReader,
        limits: Limits,
        seal_type: &'static str,
        tls: NodeTls,
    ) -> Self {
        let clock = Clock::default();
        let proposer = Proposer::start(raft.clone(), clock.clone());
        let read_index = read_index::ReadIndex::start(raft.clone(), READ_TIMEOUT);
        Replica {
            inner: Arc::new(Inner {
                id,
                info,
                raft,
                reader,
                proposer,
                read_index,
                clock,
                barrier: Arc::default(),
                rotating: Default::default(),
                joining: Default::default(),
                seal_type,
                limits,
                tls,
                audit: std::sync::atomic::AtomicBool::new(true),
                audit_retention: std::sync::atomic::AtomicI64::new(30 * 86_400),
                forwarder: Default::default(),
                security_cache: Default::default(),
            }),
        }
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.inner.id
    }

    /// This node's addresses and region.
    pub fn info(&self) -> &NodeInfo {
        &self.inner.info
    }

    /// The Raft handle.
    pub fn raft(&self) -> &Raft {
        &self.inner.raft
    }

    /// This node's encryption barrier.
    pub fn barrier(&self) -> &Barrier {
        &self.inner.barrier
    }

    /// The key that authenticates snapshot files, while this node holds
    /// its keys: a source for `storage::SnapshotKeys` (it holds the barrier
    /// only, not the replica, which owns the storage).
    pub fn snapshot_key_source(&self) -> impl Fn() -> Option<crate::crypto::Key256> + Send + Sync + 'static {
        let barrier = self.inner.barrier.clone();
        move || barrier.unsealed().ok().and_then(|keys| keys.snapshot_key().ok())
    }

    /// Marks this node as one that joins an existing cluster, so a stray
    /// bootstrap request cannot make it a cluster of its own.
    pub fn set_joining(&self) {
        self.inner.joining.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether this node was started to join a cluster.
    pub fn is_joining(&self) -> bool {
        self.inner.joining.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub(crate) fn rotation_running(&self) -> &std::sync::atomic::AtomicBool {
        &self.inner.rotating
    }

    /// How this node keeps the root key.
    pub fn seal_type(&self) -> &'static str {
        self.inner.seal_type
    }

    /// This node's clock.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// The local state.
    pub fn reader(&self) -> &StateReader {
        &self.inner.reader
    }

    /// Request limits.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Whether requests are audited.
    pub fn audit_enabled(&self) -> bool {
        self.inner.audit.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Turns auditing on or off (configuration; on by default).
    pub fn set_audit_enabled(&self, on: bool) {
        self.inner.audit.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// The youngest audit records a trim may remove, seconds.
    pub fn audit_retention_secs(&self) -> i64 {
        self.inner.audit_retention.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sets the audit retention floor (configuration).
    pub fn set_audit_retention_secs(&self, secs: i64) {
        self.inner.audit_retention.store(secs, std::sync::atomic::Ordering::Relaxed);
    }

    /// This node's TLS material.
    pub fn tls(&self) -> &NodeTls {
        &self.inner.tls
    }

    /// How this node connects to others: with its node certificate.
    pub fn client_tls(&self) -> ClientTls {
        ClientTls::node(self.inner.tls.clone())
    }

    /// Replicates one operation; returns its result once applied.
    ///
    /// The first write of an audited request, on the leader, carries the
    /// request's audit record into the same entry (see `audit::context`).
    pub async fn write(&self, kind: op::Kind) -> Result<OpOutput> {
        let leads = self.raft().metrics().borrow().current_leader == Some(self.id());
        let carried = match &kind {
            op::Kind::AppendAudit(_) | op::Kind::AuditedOp(_) => None,
            _ if leads && self.audit_enabled() => crate::audit::context::take(),
            _ => None,
        };
        let Some((context, record)) = carried else {
            return self.inner.proposer.propose(Op { kind: Some(kind) }).await.map(|a| a.output);
        };
        let inner = prost::Message::encode_to_vec(&Op { kind: Some(kind) });
        let audited = op::Kind::AuditedOp(crate::proto::storage::AuditedOp { op: inner, record: Some(record) });
        let out = self.inner.proposer.propose(Op { kind: Some(audited) }).await;
        match out {
            // Applied: the record is in, with the write's result.
            Ok(applied) => {
                context.committed(Some(applied.by));
                match applied.output {
                    OpOutput::Refused(e) => Err(e.into()),
                    o => Ok(o),
                }
            }
            // Refused before apply (not leader after all, …) or unknown: the
            // request's record is appended on its own.
            Err(e) => Err(e),
        }
    }

    /// Runs a query against the local state after ensuring `consistency`.
    ///
    /// On the leader, an audited request's linearizable reads let the
    /// commit of its audit record stand in for the read index (see
    /// `audit::context::defer_read`): one quorum round per request, not two.
    pub async fn read<R>(
        &self,
        consistency: Consistency,
        query: impl FnOnce(&dyn Kv) -> std::result::Result<R, StateError>,
    ) -> Result<R> {
        if consistency == Consistency::Linearizable && !self.defer_read_check() {
            self.inner.read_index.confirm().await?;
        }
        Ok(self.inner.reader.read(query)?)
    }

    /// How many read-index rounds (quorum heartbeats for linearizable
    /// reads) this node has run (diagnostics).
    pub fn read_index_rounds(&self) -> u64 {
        self.inner.read_index.rounds()
    }

    /// Whether this read may be vouched for by its request's audit record.
    fn defer_read_check(&self) -> bool {
        if !self.audit_enabled() {
            return false;
        }
        let by = {
            let m = self.raft().metrics();
            let m = m.borrow();
            // Leading, and an entry of this term applied: every write an
            // earlier leader acknowledged is in the local state.
            let applied_own_term = m.last_applied.is_some_and(|l| l.leader_id.term == m.current_term);
            if m.current_leader != Some(self.id()) || !applied_own_term {
                return false;
            }
            proposer::CommittedBy { term: m.current_term, leader: self.id() }
        };
        crate::audit::context::defer_read(by)
    }
}
