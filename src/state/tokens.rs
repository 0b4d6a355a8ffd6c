//! Authentication tokens as replicated state: records by accessor, and an
//! index from the token's SHA-256 to its accessor. The token itself is never
//! stored.

use prost::Message;

use super::error::{Result, StateError};
use super::kv::{Kv, Txn};
use super::{keys, record};
use crate::proto::storage::{CreateToken, RenewToken, RevokeToken, TokenRecord};

/// Token policies.
pub const ROOT: &str = "root";
/// May only look up, renew and revoke itself.
pub const DEFAULT: &str = "default";

/// The token whose SHA-256 is `hash`.
pub fn by_hash(kv: &dyn Kv, hash: &[u8]) -> Result<Option<TokenRecord>> {
    let Some(accessor) = kv.get(&keys::token_hash(hash))? else { return Ok(None) };
    let accessor = String::from_utf8(accessor).map_err(|_| StateError::Corrupt("token index".into()))?;
    by_accessor(kv, &accessor)
}

/// The token with `accessor`.
pub fn by_accessor(kv: &dyn Kv, accessor: &str) -> Result<Option<TokenRecord>> {
    record::load(kv, &keys::token(accessor))
}

/// Every token record.
pub fn list(kv: &dyn Kv) -> Result<Vec<TokenRecord>> {
    let mut out = Vec::new();
    record::scan(kv, keys::TOKENS, None, |_, t: TokenRecord| {
        out.push(t);
        true
    })?;
    Ok(out)
}

fn not_found(accessor: &str) -> StateError {
    StateError::InvalidArgument(format!("no token with accessor '{accessor}'"))
}

/// Stores a new token.
pub(super) fn insert(txn: &mut Txn<'_>, token: &TokenRecord) -> Result<()> {
    let ok_accessor = token.accessor.len() == 32 && token.accessor.bytes().all(|b| b.is_ascii_hexdigit());
    if !ok_accessor || token.hash.len() != 32 || ![ROOT, DEFAULT].contains(&token.policy.as_str()) {
        return Err(StateError::InvalidArgument("malformed token record".into()));
    }
    if txn.get(&keys::token(&token.accessor))?.is_some() || txn.get(&keys::token_hash(&token.hash))?.is_some() {
        return Err(StateError::InvalidArgument("token already exists".into()));
    }
    txn.put(keys::token(&token.accessor), token.encode_to_vec());
    txn.put(keys::token_hash(&token.hash), token.accessor.clone().into_bytes());
    Ok(())
}

pub(super) fn create(txn: &mut Txn<'_>, now: i64, op: &CreateToken) -> Result<TokenRecord> {
    let token = op.token.clone().ok_or_else(|| StateError::InvalidArgument("no token".into()))?;
    insert(txn, &token)?;
    let principal = principal(&token);
    for a in &op.assignments {
        if a.principal != principal {
            return Err(StateError::InvalidArgument("a new token's assignments must name it".into()));
        }
        super::rbac::insert_assignment(txn, now, a.clone())?;
    }
    Ok(token)
}

/// The principal name of a token: `token:<accessor>`.
pub fn principal(token: &TokenRecord) -> String {
    format!("token:{}", token.accessor)
}

pub(super) fn renew(txn: &mut Txn<'_>, op: &RenewToken) -> Result<TokenRecord> {
    let mut t = by_accessor(txn, &op.accessor)?.ok_or_else(|| not_found(&op.accessor))?;
    if !t.renewable {
        return Err(StateError::InvalidArgument("this token is not renewable".into()));
    }
    t.expires = op.expires;
    txn.put(keys::token(&t.accessor), t.encode_to_vec());
    Ok(t)
}

pub(super) fn revoke(txn: &mut Txn<'_>, op: &RevokeToken) -> Result<()> {
    let t = by_accessor(txn, &op.accessor)?.ok_or_else(|| not_found(&op.accessor))?;
    if t.policy == ROOT && list(txn)?.iter().filter(|o| o.policy == ROOT).count() == 1 {
        return Err(StateError::LastRootToken);
    }
    txn.delete(keys::token(&t.accessor));
    txn.delete(keys::token_hash(&t.hash));
    super::rbac::unassign_all(txn, &principal(&t))
}
