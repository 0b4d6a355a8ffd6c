//! Stable error codes. Every failure coffer reports carries one of these; the
//! server maps them to a gRPC status in exactly one place (`api::status`,
//! with [`status`]) and the client maps them back: the code travels in the
//! `coffer-error-code` metadata entry, the leader's address (for
//! `NotLeader`) in `coffer-leader`. Codes are part of the API: never rename
//! one.

use std::fmt;
use std::str::FromStr;

use tonic::metadata::MetadataValue;
use tonic::Status;

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

macro_rules! codes {
    ($( $name:ident => $grpc:ident, $doc:literal; )*) => {
        /// A stable, machine-readable error code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $( #[doc = $doc] $name, )*
        }

        impl ErrorCode {
            /// Every code, for documentation and tests.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name,)*];

            /// The code as it appears on the wire and in CLI output.
            pub fn as_str(self) -> &'static str {
                match self { $( ErrorCode::$name => stringify!($name), )* }
            }

            /// A one-line description of what the code means.
            pub fn description(self) -> &'static str {
                match self { $( ErrorCode::$name => $doc, )* }
            }

            /// The gRPC status code this error travels as.
            pub fn grpc(self) -> tonic::Code {
                match self { $( ErrorCode::$name => tonic::Code::$grpc, )* }
            }
        }

        impl FromStr for ErrorCode {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                match s { $( stringify!($name) => Ok(ErrorCode::$name), )* _ => Err(()) }
            }
        }
    };
}

codes! {
    InvalidArgument => InvalidArgument, "A request field is malformed or out of range.";
    InvalidName => InvalidArgument, "A vault or object name does not match ^[0-9a-zA-Z-]{1,127}$.";
    ValueTooLarge => InvalidArgument, "The secret value exceeds the configured maximum size.";
    InvalidBackup => InvalidArgument, "A backup blob is corrupt or of an unknown format.";
    VaultNotFound => NotFound, "The vault does not exist.";
    VaultAlreadyExists => AlreadyExists, "A vault with this name exists.";
    VaultNotEmpty => FailedPrecondition, "The vault still holds objects (live or soft-deleted).";
    SecretNotFound => NotFound, "The secret or secret version does not exist.";
    SecretDisabled => PermissionDenied, "The secret version is disabled.";
    SecretNotYetValid => FailedPrecondition, "The secret version's not-before date is in the future.";
    SecretExpired => FailedPrecondition, "The secret version has expired.";
    SecretDeleted => FailedPrecondition, "The secret is soft-deleted: recover or purge it first.";
    SecretNotDeleted => FailedPrecondition, "The secret is not in the deleted state.";
    SecretAlreadyExists => AlreadyExists, "A secret with this name exists, so the backup cannot be restored.";
    VersionConflict => Aborted, "Check-and-set failed: the latest version is not the expected one.";
    PurgeProtected => FailedPrecondition, "Purge protection forbids purging before the scheduled purge date.";
    PurgeProtectionPermanent => FailedPrecondition, "Purge protection cannot be turned off once on.";
    Sealed => Unavailable, "This node is sealed: it holds no keys and serves no data until unsealed.";
    Uninitialized => FailedPrecondition, "coffer has not been initialized: run `coffer operator init`.";
    Integrity => DataLoss, "Stored data failed its integrity check (corrupt, tampered with or moved).";
    InvalidShares => InvalidArgument, "The key shares are malformed or do not reconstruct the root key.";
    Unauthenticated => Unauthenticated, "The request carries no valid credential.";
    Forbidden => PermissionDenied, "The credential does not allow this operation.";
    RateLimited => ResourceExhausted, "Too many requests without a valid credential from this address: wait, or present one.";
    LastRootToken => FailedPrecondition, "The last root token cannot be revoked.";
    InvalidCertificate => InvalidArgument, "A certificate or key is malformed, expired, or not issued by the trusted CA.";
    InvalidJoinToken => Unauthenticated, "The join token is malformed, unknown, expired or already used.";
    RoleNotFound => NotFound, "No role with that name.";
    RoleAlreadyExists => AlreadyExists, "A role with that name exists.";
    AssignmentNotFound => NotFound, "No role assignment with that id.";
    NoClusterCa => FailedPrecondition, "This cluster has no managed CA: its certificates are brought by the operator.";
    AuditFailed => Unavailable, "The request's audit record could not be committed, so its result is withheld.";
    NotLeader => Unavailable, "This node is not the leader; retry on the leader.";
    NoLeader => Unavailable, "The cluster has no leader right now; retry later.";
    NotInitialized => FailedPrecondition, "The cluster has not been bootstrapped.";
    AlreadyInitialized => AlreadyExists, "Already initialized (the cluster is bootstrapped, or its keyring exists).";
    MembershipChange => FailedPrecondition, "The membership change is not allowed in the current state.";
    NodeNotFound => NotFound, "No member with that node id.";
    Unavailable => Unavailable, "The server or cluster cannot serve the request now; retry.";
    Timeout => DeadlineExceeded, "The request timed out: its outcome is unknown.";
    InstallingSnapshot => Unavailable, "This node is installing a snapshot from the leader; retry on another node.";
    Storage => Internal, "A storage error occurred on the server.";
    Internal => Internal, "An internal error occurred.";
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_strings() {
        for code in ErrorCode::ALL {
            assert_eq!(code.as_str().parse::<ErrorCode>(), Ok(*code));
            assert!(!code.description().is_empty());
        }
        assert!("NoSuchCode".parse::<ErrorCode>().is_err());
    }
}
