use openraft::LogId;

use super::{required, CodecError};
use crate::proto::raft as pb;
use crate::raft::NodeId;

impl From<LogId<NodeId>> for pb::LogId {
    fn from(l: LogId<NodeId>) -> Self {
        pb::LogId { leader_id: Some(l.leader_id.into()), index: l.index }
    }
}

impl TryFrom<pb::LogId> for LogId<NodeId> {
    type Error = CodecError;
    fn try_from(l: pb::LogId) -> Result<Self, CodecError> {
        Ok(LogId::new(required(l.leader_id, "log_id.leader_id")?.into(), l.index))
    }
}

/// Encodes an optional log id.
pub(crate) fn opt_to_pb(l: Option<LogId<NodeId>>) -> Option<pb::LogId> {
    l.map(Into::into)
}

/// Decodes an optional log id.
pub(crate) fn opt_from_pb(l: Option<pb::LogId>) -> Result<Option<LogId<NodeId>>, CodecError> {
    l.map(TryInto::try_into).transpose()
}
