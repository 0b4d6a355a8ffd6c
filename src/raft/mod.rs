//! Raft: the type configuration, the node description carried in membership,
//! a snapshot's bytes, the peer network (client and server) and the
//! protobuf codec of Raft's own types. Storage lives in `crate::storage`,
//! above this layer: it implements what the network and service need of it
//! ([`network::LogSync`], [`service::SnapshotCheck`]).

pub mod announce;
pub mod codec;
pub mod network;
pub mod service;
pub mod snapshot_data;

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
        SnapshotData = snapshot_data::SnapshotData,
        AsyncRuntime = openraft::TokioRuntime,
);

/// A node's id within the cluster.
pub type NodeId = u64;

/// The leader (and its term) that proposed a committed entry: a commit by
/// this node in term `t` proves it led in term `t` at a time a quorum
/// accepted the entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommittedBy {
    /// The entry's term.
    pub term: u64,
    /// The leader that proposed it.
    pub leader: NodeId,
}

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
