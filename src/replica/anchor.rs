//! Anchoring the audit chain: about every second, the leader — if it holds
//! the keys — proposes an anchor of its newest audit record (an HMAC of its
//! sequence number and hash under a key derived from the keyring; see
//! `audit::chain`). The MAC is made before it is proposed: apply only stores
//! it. A sealed leader anchors nothing; the next leader that holds the keys
//! anchors everything written meanwhile, through the chain.

use std::time::Duration;

use super::{Replica, Result};
use crate::proto::storage::{op::Kind, AnchorAudit, Op};
use crate::state::audit as stored;

/// Anchors every `every` until the node shuts down.
pub async fn run(replica: Replica, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = replica.anchor_audit().await {
            tracing::debug!(error = %e, "audit anchor not committed; will retry");
        }
    }
}

impl Replica {
    /// Proposes an anchor of the newest audit record if this node leads,
    /// holds the keys, and records were added since the last anchor.
    /// Returns the sequence number anchored.
    pub async fn anchor_audit(&self) -> Result<Option<u64>> {
        if self.raft().metrics().borrow().current_leader != Some(self.id()) {
            return Ok(None);
        }
        let head = self.reader().read(stored::head)?;
        if head.last_seq == 0 || head.anchored_seq >= head.last_seq {
            return Ok(None);
        }
        // The keys are held only while the MAC is made, not across the write.
        let anchor = match self.barrier().unsealed() {
            Ok(keys) => crate::audit::anchor(&keys, head.last_seq, &head.last_hash)?,
            Err(_) => return Ok(None),
        };
        let op = Op { kind: Some(Kind::AnchorAudit(AnchorAudit { anchor: Some(anchor) })) };
        self.inner.proposer.propose(op).await?;
        Ok(Some(head.last_seq))
    }
}
