//! Loading and storing protobuf records.

use prost::Message;

use super::error::{Result, StateError};
use super::kv::Kv;

/// Reads and decodes the record at `key`.
pub fn load<M: Message + Default>(kv: &dyn Kv, key: &[u8]) -> Result<Option<M>> {
    match kv.get(key)? {
        None => Ok(None),
        Some(bytes) => decode(key, &bytes).map(Some),
    }
}

/// Decodes a stored record; `key` names it in the error.
pub fn decode<M: Message + Default>(key: &[u8], bytes: &[u8]) -> Result<M> {
    M::decode(bytes).map_err(|_| StateError::Corrupt(String::from_utf8_lossy(key).into_owned()))
}

/// Visits all records under `prefix` after `after`, decoded, until `visit`
/// returns `false`.
pub fn scan<M: Message + Default>(
    kv: &dyn Kv,
    prefix: &[u8],
    after: Option<&[u8]>,
    mut visit: impl FnMut(&[u8], M) -> bool,
) -> Result<()> {
    let mut failed = None;
    kv.scan(prefix, after, &mut |k, v| match decode::<M>(k, v) {
        Ok(m) => visit(k, m),
        Err(e) => {
            failed = Some(e);
            false
        }
    })?;
    failed.map_or(Ok(()), Err)
}
