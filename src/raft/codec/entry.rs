use std::sync::Arc;

use openraft::{Entry, EntryPayload};
use prost::encoding::message;

use super::{required, CodecError};
use crate::proto::raft as pb;
use crate::raft::TypeConfig;

impl TryFrom<pb::Entry> for Entry<TypeConfig> {
    type Error = CodecError;
    fn try_from(e: pb::Entry) -> Result<Self, CodecError> {
        let payload = match required(e.payload, "entry.payload")? {
            pb::entry::Payload::Blank(_) => EntryPayload::Blank,
            pb::entry::Payload::Normal(cmd) => EntryPayload::Normal(Arc::new(cmd)),
            pb::entry::Payload::Membership(m) => EntryPayload::Membership(m.into()),
        };
        Ok(Entry { log_id: required(e.log_id, "entry.log_id")?.try_into()?, payload })
    }
}

/// `e` encoded as a [`pb::Entry`], without copying its command first.
pub fn encode_entry(e: &Entry<TypeConfig>) -> Vec<u8> {
    let log_id = pb::LogId::from(e.log_id);
    let membership = match &e.payload {
        EntryPayload::Membership(m) => Some(pb::Membership::from(m)),
        _ => None,
    };
    let len = message::encoded_len(1, &log_id)
        + match (&e.payload, &membership) {
            (EntryPayload::Normal(cmd), _) => message::encoded_len(3, cmd.as_ref()),
            (_, Some(m)) => message::encoded_len(4, m),
            _ => message::encoded_len(2, &pb::Blank {}),
        };
    let mut buf = Vec::with_capacity(len);
    message::encode(1, &log_id, &mut buf);
    match (&e.payload, &membership) {
        (EntryPayload::Normal(cmd), _) => message::encode(3, cmd.as_ref(), &mut buf),
        (_, Some(m)) => message::encode(4, m, &mut buf),
        _ => message::encode(2, &pb::Blank {}, &mut buf),
    }
    buf
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use openraft::{CommittedLeaderId, LogId, Membership};
    use prost::Message;

    use super::*;
    use crate::proto::storage::{op::Kind, Command, DeleteVault, Op};

    /// `e` as a message, its command copied.
    fn message(e: &Entry<TypeConfig>) -> pb::Entry {
        let payload = match &e.payload {
            EntryPayload::Blank => pb::entry::Payload::Blank(pb::Blank {}),
            EntryPayload::Normal(cmd) => pb::entry::Payload::Normal(cmd.as_ref().clone()),
            EntryPayload::Membership(m) => pb::entry::Payload::Membership(m.into()),
        };
        pb::Entry { log_id: Some(e.log_id.into()), payload: Some(payload) }
    }

    #[test]
    fn encode_entry_matches_the_message_encoding() {
        let log_id = LogId::new(CommittedLeaderId::new(7, 2), 42);
        let cmd = Command {
            now: 1_700_000_000_000,
            ops: vec![Op { kind: Some(Kind::DeleteVault(DeleteVault { name: "v".into() })) }],
        };
        let node = |n: u64| crate::raft::NodeInfo { raft_addr: format!("10.0.0.{n}:7001"), ..Default::default() };
        let nodes: BTreeMap<u64, crate::raft::NodeInfo> = (1..=3).map(|n| (n, node(n))).collect();
        let payloads = [
            EntryPayload::Blank,
            EntryPayload::Normal(Arc::new(cmd)),
            EntryPayload::Membership(Membership::new(vec![[1u64, 2, 3].into()], nodes)),
        ];
        for payload in payloads {
            let e = Entry::<TypeConfig> { log_id, payload };
            let bytes = encode_entry(&e);
            // (Decoded, not byte for byte: a membership's node map is a
            // hash map, encoded in no fixed order.)
            assert_eq!(pb::Entry::decode(bytes.as_slice()).unwrap(), message(&e));
            assert_eq!(bytes.len(), message(&e).encoded_len());
            let back: Entry<TypeConfig> = pb::Entry::decode(bytes.as_slice()).unwrap().try_into().unwrap();
            assert_eq!(back.log_id, log_id);
        }
    }
}
