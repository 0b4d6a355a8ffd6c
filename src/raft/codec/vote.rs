use openraft::{LeaderId, Vote};

use super::{required, CodecError};
use crate::proto::raft as pb;
use crate::raft::NodeId;

impl From<LeaderId<NodeId>> for pb::LeaderId {
    fn from(l: LeaderId<NodeId>) -> Self {
        pb::LeaderId { term: l.term, node_id: l.node_id }
    }
}

impl From<pb::LeaderId> for LeaderId<NodeId> {
    fn from(l: pb::LeaderId) -> Self {
        LeaderId::new(l.term, l.node_id)
    }
}

impl From<Vote<NodeId>> for pb::Vote {
    fn from(v: Vote<NodeId>) -> Self {
        pb::Vote { leader_id: Some(v.leader_id.into()), committed: v.committed }
    }
}

impl TryFrom<pb::Vote> for Vote<NodeId> {
    type Error = CodecError;
    fn try_from(v: pb::Vote) -> Result<Self, CodecError> {
        let leader_id: LeaderId<NodeId> = required(v.leader_id, "vote.leader_id")?.into();
        Ok(Vote { leader_id, committed: v.committed })
    }
}
