//! The one place where server errors become gRPC statuses, built with
//! [`status`] (in `error_code`, which the client shares to read them back).

use tonic::Status;

use crate::error_code::ErrorCode;
pub use crate::error_code::{status, CODE_KEY, LEADER_KEY};
use crate::replica::ReplicaError;
use crate::state::StateError;

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
