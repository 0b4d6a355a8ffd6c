//! Errors of the state machine's operations and queries. They carry names and
//! versions, never values.

use crate::error_code::ErrorCode;

/// Result alias for state operations.
pub type Result<T, E = StateError> = std::result::Result<T, E>;

/// Why a state operation or query failed.
#[allow(missing_docs)] // each variant is described by its #[error] message
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("invalid {what} name: must match ^[0-9a-zA-Z-]{{1,127}}$")]
    InvalidName { what: &'static str },
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("secret value is {size} bytes; the maximum is {max}")]
    ValueTooLarge { size: usize, max: usize },
    #[error("invalid backup blob: {0}")]
    InvalidBackup(String),
    #[error("vault '{0}' not found")]
    VaultNotFound(String),
    #[error("vault '{0}' already exists")]
    VaultAlreadyExists(String),
    #[error("vault '{0}' still holds secrets (live or soft-deleted)")]
    VaultNotEmpty(String),
    #[error("purge protection cannot be turned off once on")]
    PurgeProtectionPermanent,
    #[error("secret '{vault}/{name}' not found")]
    SecretNotFound { vault: String, name: String },
    #[error("version '{version}' of secret '{vault}/{name}' not found")]
    VersionNotFound { vault: String, name: String, version: String },
    #[error("secret '{0}' is disabled")]
    SecretDisabled(String),
    #[error("secret '{0}' is not valid yet (not-before is in the future)")]
    SecretNotYetValid(String),
    #[error("secret '{0}' has expired")]
    SecretExpired(String),
    #[error("secret '{0}' is soft-deleted: recover or purge it first")]
    SecretDeleted(String),
    #[error("secret '{0}' is not deleted")]
    SecretNotDeleted(String),
    #[error("secret '{0}' already exists")]
    SecretAlreadyExists(String),
    #[error("version conflict: expected latest version '{expected}', found '{actual}'")]
    VersionConflict { expected: String, actual: String },
    #[error("purge protection: '{name}' cannot be purged before {scheduled}")]
    PurgeProtected { name: String, scheduled: i64 },
    #[error("security is already initialized")]
    SecurityInitialized,
    #[error("coffer is not initialized: run `coffer operator init`")]
    SecurityUninitialized,
    #[error("the last root token cannot be revoked: create another root token first")]
    LastRootToken,
    #[error("role '{0}' not found")]
    RoleNotFound(String),
    #[error("role '{0}' already exists")]
    RoleExists(String),
    #[error("role assignment '{0}' not found")]
    AssignmentNotFound(String),
    #[error("invalid join token: {0}")]
    InvalidJoinToken(&'static str),
    #[error("this cluster has no managed CA (its certificates are brought by the operator)")]
    NoClusterCa,
    #[error("this node is installing a snapshot from the leader; retry on another node")]
    InstallingSnapshot,
    #[error("storage: {0}")]
    Storage(String),
    #[error("corrupt record at '{0}'")]
    Corrupt(String),
}

impl StateError {
    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        use StateError::*;
        match self {
            InvalidName { .. } => ErrorCode::InvalidName,
            InvalidArgument(_) => ErrorCode::InvalidArgument,
            ValueTooLarge { .. } => ErrorCode::ValueTooLarge,
            InvalidBackup(_) => ErrorCode::InvalidBackup,
            VaultNotFound(_) => ErrorCode::VaultNotFound,
            VaultAlreadyExists(_) => ErrorCode::VaultAlreadyExists,
            VaultNotEmpty(_) => ErrorCode::VaultNotEmpty,
            PurgeProtectionPermanent => ErrorCode::PurgeProtectionPermanent,
            SecretNotFound { .. } | VersionNotFound { .. } => ErrorCode::SecretNotFound,
            SecretDisabled(_) => ErrorCode::SecretDisabled,
            SecretNotYetValid(_) => ErrorCode::SecretNotYetValid,
            SecretExpired(_) => ErrorCode::SecretExpired,
            SecretDeleted(_) => ErrorCode::SecretDeleted,
            SecretNotDeleted(_) => ErrorCode::SecretNotDeleted,
            SecretAlreadyExists(_) => ErrorCode::SecretAlreadyExists,
            VersionConflict { .. } => ErrorCode::VersionConflict,
            PurgeProtected { .. } => ErrorCode::PurgeProtected,
            SecurityInitialized => ErrorCode::AlreadyInitialized,
            SecurityUninitialized => ErrorCode::Uninitialized,
            LastRootToken => ErrorCode::LastRootToken,
            InvalidJoinToken(_) => ErrorCode::InvalidJoinToken,
            RoleNotFound(_) => ErrorCode::RoleNotFound,
            RoleExists(_) => ErrorCode::RoleAlreadyExists,
            AssignmentNotFound(_) => ErrorCode::AssignmentNotFound,
            NoClusterCa => ErrorCode::NoClusterCa,
            InstallingSnapshot => ErrorCode::InstallingSnapshot,
            Storage(_) => ErrorCode::Storage,
            Corrupt(_) => ErrorCode::Storage,
        }
    }
}

impl From<super::kv::KvError> for StateError {
    fn from(e: super::kv::KvError) -> Self {
        match e {
            super::kv::KvError::Io(e) => StateError::Storage(e),
            super::kv::KvError::Installing => StateError::InstallingSnapshot,
        }
    }
}
