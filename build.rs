//! Generates the protobuf types and gRPC stubs from proto/ with a vendored
//! protoc, so building needs no system protoc.

/// Messages that carry secret values or raw state. Their generated Debug is
/// replaced by hand-written redacting impls in `src/proto/redact.rs`.
const REDACTED: &[&str] = &[
    ".coffer.storage.v1.SetSecret",
    ".coffer.storage.v1.SecretVersionRecord",
    ".coffer.storage.v1.SnapshotRecord",
    ".coffer.v1.Secret",
    ".coffer.v1.SetSecretRequest",
    ".coffer.v1.SecretBackupBlob",
    ".coffer.v1.RestoreSecretRequest",
    ".coffer.v1.SnapshotChunk",
    ".coffer.raft.v1.InstallSnapshotRequest",
    ".coffer.storage.v1.DataKey",
    ".coffer.storage.v1.RewrapSecret",
    ".coffer.storage.v1.RewrapClusterCa",
    ".coffer.raft.v1.RootHandoff",
    ".coffer.v1.InitResponse",
    ".coffer.v1.UnsealRequest",
    ".coffer.v1.RekeyRequest",
    ".coffer.v1.CreatedToken",
    ".coffer.v1.CreatedJoinToken",
    ".coffer.v1.JoinRequest",
    ".coffer.storage.v1.ClusterCa",
    ".coffer.v1.AuditHmacRequest",
    ".coffer.storage.v1.AuditedOp",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // SAFETY: build scripts are single-threaded; nothing else reads the environment concurrently.
    unsafe { std::env::set_var("PROTOC", protoc_bin_vendored::protoc_bin_path()?) };
    let protos = [
        "proto/coffer/storage/v1/state.proto",
        "proto/coffer/v1/common.proto",
        "proto/coffer/v1/vault.proto",
        "proto/coffer/v1/secret.proto",
        "proto/coffer/v1/cluster.proto",
        "proto/coffer/v1/operator.proto",
        "proto/coffer/v1/token.proto",
        "proto/coffer/v1/pki.proto",
        "proto/coffer/v1/rbac.proto",
        "proto/coffer/v1/audit.proto",
        "proto/etcd/kv.proto",
    ];
    // The client API's messages are small: smaller first buffers than
    // tonic's 8 KiB (see src/proto/codec.rs).
    tonic_prost_build::configure()
        .skip_debug(REDACTED)
        .codec_path("crate::proto::codec::Codec")
        .compile_protos(&protos, &["proto"])?;
    // The peer API's log entries run to tens of KiB: tonic's buffers.
    // Maps in replicated records encode in key order, the same on every node.
    let peer = "proto/raft/v1/raft.proto";
    tonic_prost_build::configure()
        .skip_debug(REDACTED)
        .btree_map(".coffer.raft.v1.Membership.nodes")
        .compile_protos(&[peer], &["proto"])?;
    println!("cargo:rerun-if-changed={peer}");
    for p in protos {
        println!("cargo:rerun-if-changed={p}");
    }
    Ok(())
}
