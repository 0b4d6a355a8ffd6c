//! The one place where errors become gRPC statuses. The stable error code
//! travels in the `coffer-error-code` metadata entry, the leader's address
//! (for `NotLeader`) in `coffer-leader`; the client reverses this mapping.

use tonic::metadata::MetadataValue;
use tonic::Status;

use crate::error_code::ErrorCode;
use crate::replica::ReplicaError;
use crate::state::StateError;

/// Metadata key of the stable error code.
pub const CODE_KEY: &str = "coffer-error-code";
/// Metadata key of the leader's client API address.
pub const LEADER_KEY: &str = "coffer-leader";

/// Builds the status for `code` with a human-readable `message`.
pub fn status(code: ErrorCode, message: impl Into<String>, leader: Option<&str>) -> Status {
    let mut s = Status::new(code.grpc(), message.into());
    s.metadata_mut().insert(CODE_KEY, MetadataValue::from_static(code.as_str()));
    if let Some(l) = leader.and_then(|l| MetadataValue::try_from(l).ok()) {
        s.metadata_mut().insert(LEADER_KEY, l);
    }
    s
}

impl From<ReplicaError> for Status {
    fn from(e: ReplicaError) -> Status {
        status(e.code(), e.to_string(), e.leader_hint())
    }
}

impl From<StateError> for Status {
    fn from(e: StateError) -> Status {
        status(e.code(), e.to_string(), None)
    }
}

impl From<crate::barrier::BarrierError> for Status {
    fn from(e: crate::barrier::BarrierError) -> Status {
        status(e.code(), e.to_string(), None)
    }
}

/// An internal failure (never carries request data).
pub fn internal(message: impl Into<String>) -> Status {
    status(ErrorCode::Internal, message, None)
}

/// Apply answered an operation with an output of the wrong kind: a bug.
pub fn unexpected(out: crate::state::OpOutput) -> Status {
    tracing::error!(?out, "unexpected apply output");
    internal("unexpected apply output")
}

/// A malformed request.
pub fn invalid(message: impl Into<String>) -> Status {
    status(ErrorCode::InvalidArgument, message, None)
}
