//! Nodes an operator removed. Their certificates stay valid, so the mark
//! is what keeps them from adding themselves back; an operator adding the
//! node, or admitting it with a join token, lifts it.

use super::error::Result;
use super::keys;
use super::kv::{Kv, Txn};
use crate::proto::storage::MarkRemovedNode;

/// Whether an operator removed node `id` (and nobody re-admitted it).
pub fn is_removed(kv: &dyn Kv, id: u64) -> Result<bool> {
    Ok(kv.get(&keys::removed_node(id))?.is_some())
}

pub(super) fn mark(txn: &mut Txn<'_>, op: &MarkRemovedNode) -> Result<()> {
    if op.removed {
        txn.put(keys::removed_node(op.node_id), Vec::new());
    } else {
        txn.delete(keys::removed_node(op.node_id));
    }
    Ok(())
}
