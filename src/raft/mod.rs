//! Raft: the type configuration, the node description carried in membership,
//! the peer network (client and server) and the protobuf codec of Raft's own
//! types. Storage lives in `crate::storage`.

pub mod announce;
pub mod codec;
pub mod network;
pub mod service;

use std::fmt;

use crate::proto::storage::Command;
use crate::state::ApplyOutput;

openraft::declare_raft_types!(
    /// The type configuration of coffer's Raft group.
    pub TypeConfig:
        D = std::sync::Arc<Command>,
        R = ApplyOutput,
        NodeId = NodeId,
        Node = NodeInfo,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = crate::storage::SnapshotData,
        AsyncRuntime = openraft::TokioRuntime,
);

/// A node's id within the cluster.
pub type NodeId = u64;

/// The Raft handle of a coffer node.
pub type Raft = openraft::Raft<TypeConfig>;

/// Where a member can be reached and where it runs. Carried in membership
/// log entries, so every node knows every member's addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeInfo {
    /// Peer (Raft) API address, `host:port`.
    pub raft_addr: String,
    /// Client API address, `host:port`.
    pub api_addr: String,
    /// Free-form placement label, e.g. `eu-west`.
    pub region: String,
}

impl fmt::Display for NodeInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{raft:{}, api:{}, region:{}}}", self.raft_addr, self.api_addr, self.region)
    }
}
