//! Generated protobuf types. They stay at the edges: the gRPC API, the Raft
//! network and codec, the client, and the state machine's disk format.

#![allow(missing_docs, clippy::all)]

pub mod codec;
mod redact;

/// The generated modules, nested as their protobuf packages are.
mod generated {
    pub mod coffer {
        pub mod v1 {
            tonic::include_proto!("coffer.v1");
        }
        pub mod storage {
            pub mod v1 {
                tonic::include_proto!("coffer.storage.v1");
            }
        }
        pub mod raft {
            pub mod v1 {
                tonic::include_proto!("coffer.raft.v1");
            }
        }
    }
}

/// Peer (Raft) API and the disk encoding of Raft's own records (`coffer.raft.v1`).
pub use generated::coffer::raft::v1 as raft;
/// Disk and log format of the state machine (`coffer.storage.v1`).
pub use generated::coffer::storage::v1 as storage;
/// etcd's KV API subset, for benchmark comparisons only.
pub mod etcd {
    tonic::include_proto!("etcdserverpb");
}

/// Client API (`coffer.v1`).
pub use generated::coffer::v1 as api;
