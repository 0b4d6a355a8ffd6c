use openraft::{Entry, EntryPayload};

use super::{required, CodecError};
use crate::proto::raft as pb;
use crate::raft::TypeConfig;

impl From<&Entry<TypeConfig>> for pb::Entry {
    fn from(e: &Entry<TypeConfig>) -> Self {
        let payload = match &e.payload {
            EntryPayload::Blank => pb::entry::Payload::Blank(pb::Blank {}),
            EntryPayload::Normal(cmd) => pb::entry::Payload::Normal(cmd.clone()),
            EntryPayload::Membership(m) => pb::entry::Payload::Membership(m.into()),
        };
        pb::Entry { log_id: Some(e.log_id.into()), payload: Some(payload) }
    }
}

impl TryFrom<pb::Entry> for Entry<TypeConfig> {
    type Error = CodecError;
    fn try_from(e: pb::Entry) -> Result<Self, CodecError> {
        let payload = match required(e.payload, "entry.payload")? {
            pb::entry::Payload::Blank(_) => EntryPayload::Blank,
            pb::entry::Payload::Normal(cmd) => EntryPayload::Normal(cmd),
            pb::entry::Payload::Membership(m) => EntryPayload::Membership(m.into()),
        };
        Ok(Entry { log_id: required(e.log_id, "entry.log_id")?.try_into()?, payload })
    }
}
