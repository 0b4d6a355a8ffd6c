//! Errors of replicated operations: where the request must go instead, or why
//! the cluster could not decide it.

use openraft::error::{CheckIsLeaderError, ClientWriteError, ForwardToLeader, RaftError};

use crate::error_code::ErrorCode;
use crate::raft::{NodeId, NodeInfo};
use crate::state::StateError;

/// Result alias for replicated operations.
pub type Result<T, E = ReplicaError> = std::result::Result<T, E>;

/// Why a replicated operation or read did not succeed.
#[allow(missing_docs)] // each variant is described by its #[error] message
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReplicaError {
    /// The request must be retried on the leader (address when known).
    #[error("not the leader{}", leader.as_ref().map(|l| format!("; leader is at {l}")).unwrap_or_default())]
    NotLeader { leader: Option<String> },
    #[error("the cluster has no leader right now")]
    NoLeader,
    #[error("cluster unavailable: {0}")]
    Unavailable(String),
    #[error("timed out after {0:?}: the outcome is unknown")]
    Timeout(std::time::Duration),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("membership change refused: {0}")]
    Membership(String),
    #[error("the cluster has not been bootstrapped")]
    NotInitialized,
    #[error("this node is already part of an initialized cluster")]
    AlreadyInitialized,
    #[error("no member with id {0}")]
    NodeNotFound(NodeId),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error(transparent)]
    Barrier(#[from] crate::barrier::BarrierError),
    /// `object` (a name, never a value) could not be opened to re-encrypt it.
    #[error("cannot re-encrypt {object}: {source}")]
    Rewrap { object: String, source: crate::barrier::BarrierError },
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
}

impl ReplicaError {
    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            ReplicaError::NotLeader { .. } => ErrorCode::NotLeader,
            ReplicaError::NoLeader => ErrorCode::NoLeader,
            ReplicaError::Unavailable(_) => ErrorCode::Unavailable,
            ReplicaError::Timeout(_) => ErrorCode::Timeout,
            ReplicaError::State(e) => e.code(),
            ReplicaError::Membership(_) => ErrorCode::MembershipChange,
            ReplicaError::NotInitialized => ErrorCode::NotInitialized,
            ReplicaError::AlreadyInitialized => ErrorCode::AlreadyInitialized,
            ReplicaError::NodeNotFound(_) => ErrorCode::NodeNotFound,
            ReplicaError::InvalidArgument(_) => ErrorCode::InvalidArgument,
            ReplicaError::Barrier(e) => e.code(),
            ReplicaError::Rewrap { source, .. } => source.code(),
            ReplicaError::Tls(e) => e.code(),
        }
    }

    /// The leader's client API address, for `NotLeader`.
    pub fn leader_hint(&self) -> Option<&str> {
        match self {
            ReplicaError::NotLeader { leader } => leader.as_deref(),
            _ => None,
        }
    }
}

fn forward(f: ForwardToLeader<NodeId, NodeInfo>) -> ReplicaError {
    match f.leader_id {
        None => ReplicaError::NoLeader,
        Some(_) => ReplicaError::NotLeader { leader: f.leader_node.map(|n| n.api_addr) },
    }
}

impl From<RaftError<NodeId, ClientWriteError<NodeId, NodeInfo>>> for ReplicaError {
    fn from(e: RaftError<NodeId, ClientWriteError<NodeId, NodeInfo>>) -> Self {
        match e {
            RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => forward(f),
            RaftError::APIError(ClientWriteError::ChangeMembershipError(m)) => ReplicaError::Membership(m.to_string()),
            RaftError::Fatal(f) => ReplicaError::Unavailable(f.to_string()),
        }
    }
}

impl From<RaftError<NodeId, CheckIsLeaderError<NodeId, NodeInfo>>> for ReplicaError {
    fn from(e: RaftError<NodeId, CheckIsLeaderError<NodeId, NodeInfo>>) -> Self {
        match e {
            RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)) => forward(f),
            RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(q)) => ReplicaError::Unavailable(q.to_string()),
            RaftError::Fatal(f) => ReplicaError::Unavailable(f.to_string()),
        }
    }
}
