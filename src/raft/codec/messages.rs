//! Peer RPC messages.

use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, VoteRequest, VoteResponse};
use openraft::SnapshotMeta;

use super::log_id::{opt_from_pb, opt_to_pb};
use super::{required, CodecError};
use crate::proto::raft as pb;
use crate::raft::{NodeId, NodeInfo, TypeConfig};

impl From<&AppendEntriesRequest<TypeConfig>> for pb::AppendEntriesRequest {
    fn from(r: &AppendEntriesRequest<TypeConfig>) -> Self {
        pb::AppendEntriesRequest {
            vote: Some(r.vote.into()),
            prev_log_id: opt_to_pb(r.prev_log_id),
            entries: r.entries.iter().map(Into::into).collect(),
            leader_commit: opt_to_pb(r.leader_commit),
        }
    }
}

impl TryFrom<pb::AppendEntriesRequest> for AppendEntriesRequest<TypeConfig> {
    type Error = CodecError;
    fn try_from(r: pb::AppendEntriesRequest) -> Result<Self, CodecError> {
        Ok(AppendEntriesRequest {
            vote: required(r.vote, "append.vote")?.try_into()?,
            prev_log_id: opt_from_pb(r.prev_log_id)?,
            entries: r.entries.into_iter().map(TryInto::try_into).collect::<Result<_, _>>()?,
            leader_commit: opt_from_pb(r.leader_commit)?,
        })
    }
}

impl From<AppendEntriesResponse<NodeId>> for pb::AppendEntriesResponse {
    fn from(r: AppendEntriesResponse<NodeId>) -> Self {
        use pb::append_entries_response::Result as R;
        let result = match r {
            AppendEntriesResponse::Success => R::Success(pb::Blank {}),
            AppendEntriesResponse::PartialSuccess(m) => {
                R::PartialSuccess(pb::PartialSuccess { matching: opt_to_pb(m) })
            }
            AppendEntriesResponse::Conflict => R::Conflict(pb::Blank {}),
            AppendEntriesResponse::HigherVote(v) => R::HigherVote(v.into()),
        };
        pb::AppendEntriesResponse { result: Some(result) }
    }
}

impl TryFrom<pb::AppendEntriesResponse> for AppendEntriesResponse<NodeId> {
    type Error = CodecError;
    fn try_from(r: pb::AppendEntriesResponse) -> Result<Self, CodecError> {
        use pb::append_entries_response::Result as R;
        Ok(match required(r.result, "append_response.result")? {
            R::Success(_) => AppendEntriesResponse::Success,
            R::PartialSuccess(p) => AppendEntriesResponse::PartialSuccess(opt_from_pb(p.matching)?),
            R::Conflict(_) => AppendEntriesResponse::Conflict,
            R::HigherVote(v) => AppendEntriesResponse::HigherVote(v.try_into()?),
        })
    }
}

impl From<VoteRequest<NodeId>> for pb::VoteRequest {
    fn from(r: VoteRequest<NodeId>) -> Self {
        pb::VoteRequest { vote: Some(r.vote.into()), last_log_id: opt_to_pb(r.last_log_id) }
    }
}

impl TryFrom<pb::VoteRequest> for VoteRequest<NodeId> {
    type Error = CodecError;
    fn try_from(r: pb::VoteRequest) -> Result<Self, CodecError> {
        Ok(VoteRequest {
            vote: required(r.vote, "vote_request.vote")?.try_into()?,
            last_log_id: opt_from_pb(r.last_log_id)?,
        })
    }
}

impl From<VoteResponse<NodeId>> for pb::VoteResponse {
    fn from(r: VoteResponse<NodeId>) -> Self {
        pb::VoteResponse {
            vote: Some(r.vote.into()),
            vote_granted: r.vote_granted,
            last_log_id: opt_to_pb(r.last_log_id),
        }
    }
}

impl TryFrom<pb::VoteResponse> for VoteResponse<NodeId> {
    type Error = CodecError;
    fn try_from(r: pb::VoteResponse) -> Result<Self, CodecError> {
        Ok(VoteResponse {
            vote: required(r.vote, "vote_response.vote")?.try_into()?,
            vote_granted: r.vote_granted,
            last_log_id: opt_from_pb(r.last_log_id)?,
        })
    }
}

impl From<&SnapshotMeta<NodeId, NodeInfo>> for pb::SnapshotMeta {
    fn from(m: &SnapshotMeta<NodeId, NodeInfo>) -> Self {
        pb::SnapshotMeta {
            last_log_id: opt_to_pb(m.last_log_id),
            last_membership: Some((&m.last_membership).into()),
            snapshot_id: m.snapshot_id.clone(),
        }
    }
}

impl TryFrom<pb::SnapshotMeta> for SnapshotMeta<NodeId, NodeInfo> {
    type Error = CodecError;
    fn try_from(m: pb::SnapshotMeta) -> Result<Self, CodecError> {
        Ok(SnapshotMeta {
            last_log_id: opt_from_pb(m.last_log_id)?,
            last_membership: required(m.last_membership, "snapshot_meta.last_membership")?.try_into()?,
            snapshot_id: m.snapshot_id,
        })
    }
}

impl From<InstallSnapshotRequest<TypeConfig>> for pb::InstallSnapshotRequest {
    fn from(r: InstallSnapshotRequest<TypeConfig>) -> Self {
        pb::InstallSnapshotRequest {
            vote: Some(r.vote.into()),
            meta: Some((&r.meta).into()),
            offset: r.offset,
            data: r.data,
            done: r.done,
        }
    }
}

impl TryFrom<pb::InstallSnapshotRequest> for InstallSnapshotRequest<TypeConfig> {
    type Error = CodecError;
    fn try_from(r: pb::InstallSnapshotRequest) -> Result<Self, CodecError> {
        Ok(InstallSnapshotRequest {
            vote: required(r.vote, "install_snapshot.vote")?.try_into()?,
            meta: required(r.meta, "install_snapshot.meta")?.try_into()?,
            offset: r.offset,
            data: r.data,
            done: r.done,
        })
    }
}
