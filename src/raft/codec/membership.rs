use std::collections::{BTreeMap, BTreeSet};

use openraft::{Membership, StoredMembership};

use super::log_id::{opt_from_pb, opt_to_pb};
use super::{required, CodecError};
use crate::proto::raft as pb;
use crate::raft::{NodeId, NodeInfo};

impl From<NodeInfo> for pb::Node {
    fn from(n: NodeInfo) -> Self {
        pb::Node { raft_addr: n.raft_addr, api_addr: n.api_addr, region: n.region }
    }
}

impl From<pb::Node> for NodeInfo {
    fn from(n: pb::Node) -> Self {
        NodeInfo { raft_addr: n.raft_addr, api_addr: n.api_addr, region: n.region }
    }
}

impl From<&Membership<NodeId, NodeInfo>> for pb::Membership {
    fn from(m: &Membership<NodeId, NodeInfo>) -> Self {
        pb::Membership {
            configs: m.get_joint_config().iter().map(|c| pb::NodeIdSet { ids: c.iter().copied().collect() }).collect(),
            nodes: m.nodes().map(|(id, n)| (*id, n.clone().into())).collect(),
        }
    }
}

impl From<pb::Membership> for Membership<NodeId, NodeInfo> {
    fn from(m: pb::Membership) -> Self {
        let configs: Vec<BTreeSet<NodeId>> = m.configs.into_iter().map(|c| c.ids.into_iter().collect()).collect();
        let nodes: BTreeMap<NodeId, NodeInfo> = m.nodes.into_iter().map(|(id, n)| (id, n.into())).collect();
        Membership::new(configs, nodes)
    }
}

impl From<&StoredMembership<NodeId, NodeInfo>> for pb::StoredMembership {
    fn from(m: &StoredMembership<NodeId, NodeInfo>) -> Self {
        pb::StoredMembership { log_id: opt_to_pb(*m.log_id()), membership: Some(m.membership().into()) }
    }
}

impl TryFrom<pb::StoredMembership> for StoredMembership<NodeId, NodeInfo> {
    type Error = CodecError;
    fn try_from(m: pb::StoredMembership) -> Result<Self, CodecError> {
        Ok(StoredMembership::new(
            opt_from_pb(m.log_id)?,
            required(m.membership, "stored_membership.membership")?.into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    #[test]
    fn a_membership_encodes_the_same_every_time() {
        let node =
            |i: u64| NodeInfo { raft_addr: format!("n{i}:1"), api_addr: format!("n{i}:2"), region: String::new() };
        let nodes: BTreeMap<NodeId, NodeInfo> = (1..=16).map(|i| (i, node(i))).collect();
        let membership = Membership::new(vec![nodes.keys().copied().collect()], nodes);
        // Each encoding builds its own map: a hash map would iterate each
        // in another order.
        let first = pb::Membership::from(&membership).encode_to_vec();
        for _ in 0..8 {
            assert_eq!(pb::Membership::from(&membership).encode_to_vec(), first);
        }
        assert_eq!(Membership::from(pb::Membership::decode(first.as_slice()).unwrap()), membership);
    }
}
