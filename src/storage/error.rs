//! Errors of the storage layer.

use openraft::{AnyError, StorageIOError};

use crate::raft::NodeId;

/// A storage failure.
#[allow(missing_docs)] // each variant is described by its #[error] message
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("rocksdb: {0}")]
    Rocks(#[from] rocksdb::Error),
    #[error("io: {0}")]
    Io(String),
    #[error("corrupt {0}")]
    Corrupt(String),
    /// A snapshot file whose MAC is missing or does not verify.
    #[error("{0}")]
    Unauthentic(String),
}

impl From<crate::raft::codec::CodecError> for StorageError {
    fn from(e: crate::raft::codec::CodecError) -> Self {
        StorageError::Corrupt(e.to_string())
    }
}

impl From<prost::DecodeError> for StorageError {
    fn from(e: prost::DecodeError) -> Self {
        StorageError::Corrupt(format!("record: {e}"))
    }
}

impl From<std::io::Error> for StorageError {
    fn from(e: std::io::Error) -> Self {
        StorageError::Io(e.to_string())
    }
}

/// Shorthand for openraft's storage error.
pub(crate) type RaftStorageError = openraft::StorageError<NodeId>;

/// Converts into openraft's error with the subject and verb given by `wrap`.
pub(crate) fn raft_err(wrap: impl Fn(AnyError) -> StorageIOError<NodeId>) -> impl Fn(StorageError) -> RaftStorageError {
    move |e| wrap(AnyError::new(&e)).into()
}
