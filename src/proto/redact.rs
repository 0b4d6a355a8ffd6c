//! Debug impls for messages that carry secret values or raw state: they print
//! the shape of the message, never the sensitive bytes.

use std::fmt;

use super::{api, raft, storage};

/// Prints `<redacted N bytes>` for a sensitive field.
struct Redacted(usize);

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<redacted {} bytes>", self.0)
    }
}

impl fmt::Debug for storage::SetSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetSecret")
            .field("vault", &self.vault)
            .field("name", &self.name)
            .field("version", &self.version)
            .field("value", &Redacted(self.value.len()))
            .field("expected_version", &self.expected_version)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for storage::SecretVersionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretVersionRecord")
            .field("version", &self.version)
            .field("seq", &self.seq)
            .field("value", &Redacted(self.value.len()))
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for storage::SnapshotRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnapshotRecord")
            .field("key", &Redacted(self.key.len()))
            .field("value", &Redacted(self.value.len()))
            .finish()
    }
}

impl fmt::Debug for api::Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secret")
            .field("properties", &self.properties)
            .field("value", &Redacted(self.value.len()))
            .finish()
    }
}

impl fmt::Debug for api::SetSecretRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetSecretRequest")
            .field("vault", &self.vault)
            .field("name", &self.name)
            .field("value", &Redacted(self.value.len()))
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for api::SecretBackupBlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretBackupBlob").field("blob", &Redacted(self.blob.len())).finish()
    }
}

impl fmt::Debug for api::RestoreSecretRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestoreSecretRequest")
            .field("vault", &self.vault)
            .field("blob", &Redacted(self.blob.len()))
            .finish()
    }
}

impl fmt::Debug for api::SnapshotChunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnapshotChunk").field("data", &Redacted(self.data.len())).finish()
    }
}

impl fmt::Debug for raft::InstallSnapshotRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstallSnapshotRequest")
            .field("vote", &self.vote)
            .field("meta", &self.meta)
            .field("offset", &self.offset)
            .field("data", &Redacted(self.data.len()))
            .field("done", &self.done)
            .finish()
    }
}

impl fmt::Debug for storage::DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey").field("term", &self.term).field("key", &Redacted(self.key.len())).finish()
    }
}

impl fmt::Debug for storage::RewrapSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RewrapSecret")
            .field("vault", &self.vault)
            .field("name", &self.name)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for api::InitResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InitResponse")
            .field("key_shares", &format_args!("<{} redacted>", self.key_shares.len()))
            .field("key_threshold", &self.key_threshold)
            .field("root_token", &Redacted(self.root_token.len()))
            .finish()
    }
}

impl fmt::Debug for api::CreatedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedToken").field("token", &Redacted(self.token.len())).field("info", &self.info).finish()
    }
}

impl fmt::Debug for api::UnsealRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnsealRequest").field("key_share", &"<redacted>").field("reset", &self.reset).finish()
    }
}

impl fmt::Debug for api::RekeyRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RekeyRequest")
            .field("current_shares", &format_args!("<{} redacted>", self.current_shares.len()))
            .field("key_shares", &self.key_shares)
            .field("key_threshold", &self.key_threshold)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_values() {
        let marker = "hunter2-marker";
        let set = storage::SetSecret { value: marker.as_bytes().to_vec(), ..Default::default() };
        let cmd = storage::Command { now: 1, ops: vec![storage::Op { kind: Some(storage::op::Kind::SetSecret(set)) }] };
        let secret = api::Secret { value: marker.into(), properties: None };
        let req = api::SetSecretRequest { value: marker.into(), ..Default::default() };
        for text in [format!("{cmd:?}"), format!("{secret:?}"), format!("{req:?}")] {
            assert!(!text.contains(marker), "leaked in {text}");
            assert!(text.contains("redacted"));
        }
    }
}

impl fmt::Debug for api::CreatedJoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedJoinToken")
            .field("token", &Redacted(self.token.len()))
            .field("expires", &self.expires)
            .finish()
    }
}

impl fmt::Debug for api::JoinRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinRequest")
            .field("join_token", &Redacted(self.join_token.len()))
            .field("node_id", &self.node_id)
            .field("api_addr", &self.api_addr)
            .field("raft_addr", &self.raft_addr)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for storage::ClusterCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterCa").field("sealed_key", &Redacted(self.sealed_key.len())).finish_non_exhaustive()
    }
}

impl fmt::Debug for api::AuditHmacRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditHmacRequest").field("value", &Redacted(self.value.len())).finish()
    }
}

/// Carries an encoded write (a sealed value, a data key…): never printed.
impl fmt::Debug for storage::AuditedOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditedOp").field("op", &Redacted(self.op.len())).field("record", &self.record).finish()
    }
}

impl fmt::Debug for storage::RewrapClusterCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RewrapClusterCa").field("new_sealed_key", &Redacted(self.new_sealed_key.len())).finish()
    }
}

/// Carries a root key in plaintext (inside mutual TLS): never printed.
impl fmt::Debug for raft::RootHandoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RootHandoff")
            .field("root_generation", &self.root_generation)
            .field("root", &Redacted(self.root.len()))
            .finish()
    }
}
