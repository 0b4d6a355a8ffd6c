//! Handing a new root key to the other nodes at a rekey.
//!
//! The new root key is never replicated, in any form: anything in the state
//! or the log is readable, sooner or later, by whoever holds the old shares
//! (they open the old keyring, and with it every data key a copy of the
//! state could seal it under). So the node that rekeys hands it to each
//! member over the peer API (mutual TLS, the member's own node certificate)
//! before it proposes the rekey. An unsealed member keeps it as a candidate
//! and adopts it when it applies the rekey, if it opens the keyring the
//! rekey replicated; a member that was not reached, or was sealed, seals
//! itself then and needs the new shares (or its local seal, once a node
//! stores the new root key there).

use std::time::Duration;

use super::Replica;
use crate::crypto::Key256;
use crate::proto::raft::raft_service_client::RaftServiceClient;
use crate::proto::raft::RootHandoff;
use crate::proto::storage::AuditRecord;
use crate::raft::service::PeerRequests;
use crate::raft::NodeId;

/// How long the node that rekeys waits for each member.
const HANDOFF_TIMEOUT: Duration = Duration::from_secs(5);

impl Replica {
    /// Hands `root` (of `generation`) to this node and every other member.
    /// Returns the members that did not keep it: unreachable, sealed, or at
    /// another generation. They seal themselves when they apply the rekey.
    pub(super) async fn hand_off_root(&self, generation: u32, root: &Key256) -> Vec<NodeId> {
        self.barrier().offer_root(generation, root.clone());
        let others: Vec<NodeId> = {
            let metrics = self.raft().metrics().borrow().clone();
            metrics.membership_config.membership().nodes().map(|(id, _)| *id).filter(|id| *id != self.id()).collect()
        };
        let calls = others.iter().map(|&node| async move {
            let req = RootHandoff { root_generation: generation, root: root.expose().to_vec() };
            let call = async {
                let channel = self.peer_channel(node).ok()?;
                RaftServiceClient::new(channel).hand_off_root(req).await.ok()
            };
            let kept = tokio::time::timeout(HANDOFF_TIMEOUT, call).await.ok().flatten();
            (node, kept.is_some_and(|r| r.into_inner().accepted))
        });
        let missed: Vec<NodeId> =
            futures::future::join_all(calls).await.into_iter().filter(|(_, kept)| !kept).map(|(n, _)| n).collect();
        if !missed.is_empty() {
            tracing::warn!(
                nodes = ?missed,
                generation,
                "these members did not take the new root key: they seal themselves at the rekey"
            );
        }
        missed
    }
}

impl PeerRequests for Replica {
    fn append(
        &self,
        records: Vec<AuditRecord>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = std::result::Result<(), String>> + Send>> {
        let replica = self.clone();
        Box::pin(async move { replica.append_forwarded(records).await })
    }

    fn offer_root(&self, generation: u32, root: Key256) -> bool {
        let kept = self.barrier().offer_root(generation, root);
        tracing::info!(generation, kept, "a root key was handed over for a rekey");
        kept
    }
}
