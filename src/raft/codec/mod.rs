//! Conversions between openraft's types and their protobuf encoding, used both
//! on the wire (peer API) and on disk (log entries, vote, membership).
//! One small file per type family.

/// Log entries.
pub mod entry;
pub(crate) mod log_id;
mod membership;
mod messages;
mod vote;

/// A protobuf message that cannot be turned back into an openraft type.
#[derive(Debug, thiserror::Error)]
#[error("malformed raft message: missing field `{0}`")]
pub struct CodecError(pub &'static str);

/// Unwraps a required message field.
pub(crate) fn required<T>(v: Option<T>, field: &'static str) -> Result<T, CodecError> {
    v.ok_or(CodecError(field))
}
