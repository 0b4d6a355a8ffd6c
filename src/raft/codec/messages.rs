//! Peer RPC messages.

use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, VoteRequest, VoteResponse};
use openraft::SnapshotMeta;

use super::entry::encode_entry;
use super::log_id::{opt_from_pb, opt_to_pb};
use super::{required, CodecError};
use crate::proto::raft as pb;
use crate::raft::{NodeId, NodeInfo, TypeConfig};

impl From<&AppendEntriesRequest<TypeConfig>> for pb::AppendEntriesRequestEncoded {
    fn from(r: &AppendEntriesRequest<TypeConfig>) -> Self {
        pb::AppendEntriesRequestEncoded {
            vote: Some(r.vote.into()),
            prev_log_id: opt_to_pb(r.prev_log_id),
            entries: r.entries.iter().map(encode_entry).collect(),
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, Membership, Vote};
    use prost::Message;

    use super::*;
    use crate::proto::storage::{op::Kind, AppendAudit, AuditRecord, Command, Op};

    #[test]
    fn an_encoded_append_entries_request_decodes_as_the_request_a_follower_reads() {
        let log_id = |index| LogId::new(CommittedLeaderId::new(3, 1), index);
        let record = |n: u64| AuditRecord { operation: format!("SecretGet{n}"), node_id: n, ..Default::default() };
        let cmd = Command {
            now: 1_700_000_000_000,
            ops: (1..=3)
                .map(|n| Op { kind: Some(Kind::AppendAudit(AppendAudit { record: Some(record(n)) })) })
                .collect(),
        };
        let nodes: BTreeMap<NodeId, NodeInfo> =
            (1..=3).map(|n| (n, NodeInfo { raft_addr: format!("10.0.0.{n}:7001"), ..Default::default() })).collect();
        let payloads = [
            EntryPayload::Blank,
            EntryPayload::Normal(Arc::new(cmd)),
            EntryPayload::Membership(Membership::new(vec![[1u64, 2, 3].into()], nodes)),
        ];
        let sent = AppendEntriesRequest::<TypeConfig> {
            vote: Vote::new_committed(3, 1),
            prev_log_id: Some(log_id(9)),
            entries: payloads.into_iter().zip(10..).map(|(payload, i)| Entry { log_id: log_id(i), payload }).collect(),
            leader_commit: Some(log_id(8)),
        };
        let wire = pb::AppendEntriesRequestEncoded::from(&sent).encode_to_vec();
        let read: AppendEntriesRequest<TypeConfig> =
            pb::AppendEntriesRequest::decode(wire.as_slice()).unwrap().try_into().unwrap();
        assert_same(&read, &sent);

        let empty = AppendEntriesRequest::<TypeConfig> { entries: vec![], prev_log_id: None, ..sent };
        let wire = pb::AppendEntriesRequestEncoded::from(&empty).encode_to_vec();
        let read: AppendEntriesRequest<TypeConfig> =
            pb::AppendEntriesRequest::decode(wire.as_slice()).unwrap().try_into().unwrap();
        assert_same(&read, &empty);
    }

    fn assert_same(a: &AppendEntriesRequest<TypeConfig>, b: &AppendEntriesRequest<TypeConfig>) {
        assert_eq!((a.vote, a.prev_log_id, a.leader_commit), (b.vote, b.prev_log_id, b.leader_commit));
        assert_eq!(a.entries, b.entries);
    }
}
