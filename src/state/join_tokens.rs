//! Join tokens as replicated state: single-use, with an expiry, looked up
//! by the SHA-256 of their secret (the secret itself is never stored). The
//! leader consumes a token before it issues a node certificate, so a token
//! admits one node once, whichever node answers. The cluster CA behind them
//! is kept here too, its private key sealed under a data key.

use prost::Message;

use super::error::{Result, StateError};
use super::kv::{Kv, Txn};
use super::{keys, record};
use crate::proto::storage::{ClusterCa, ConsumeJoinToken, CreateJoinToken, JoinTokenRecord, RewrapClusterCa};

/// The join token whose secret hashes to `hash`.
pub fn get(kv: &dyn Kv, hash: &[u8]) -> Result<Option<JoinTokenRecord>> {
    record::load(kv, &keys::join_token(hash))
}

/// The cluster CA, if `operator init` stored one.
pub fn cluster_ca(kv: &dyn Kv) -> Result<Option<ClusterCa>> {
    record::load(kv, keys::CLUSTER_CA)
}

pub(super) fn create(txn: &mut Txn<'_>, now: i64, op: &CreateJoinToken) -> Result<JoinTokenRecord> {
    let token = op.token.clone().ok_or_else(|| StateError::InvalidArgument("no join token".into()))?;
    if token.hash.len() != 32 || token.expires <= now || token.used_by != 0 {
        return Err(StateError::InvalidArgument("malformed join token record".into()));
    }
    if cluster_ca(txn)?.is_none() {
        return Err(StateError::NoClusterCa);
    }
    let key = keys::join_token(&token.hash);
    if txn.get(&key)?.is_some() {
        return Err(StateError::InvalidArgument("join token already exists".into()));
    }
    let token = JoinTokenRecord { created: now, ..token };
    txn.put(key, token.encode_to_vec());
    Ok(token)
}

pub(super) fn consume(txn: &mut Txn<'_>, now: i64, op: &ConsumeJoinToken) -> Result<JoinTokenRecord> {
    let mut token = get(txn, &op.hash)?.ok_or(StateError::InvalidJoinToken("unknown"))?;
    if token.used_by != 0 {
        return Err(StateError::InvalidJoinToken("already used"));
    }
    if now >= token.expires {
        return Err(StateError::InvalidJoinToken("expired"));
    }
    if op.node_id == 0 {
        return Err(StateError::InvalidArgument("node id 0 is reserved".into()));
    }
    token.used_by = op.node_id;
    token.used_at = now;
    txn.put(keys::join_token(&op.hash), token.encode_to_vec());
    Ok(token)
}

/// Stores the cluster CA given to `operator init`.
pub(super) fn store_cluster_ca(txn: &mut Txn<'_>, ca: &ClusterCa) -> Result<()> {
    if ca.cert_pem.is_empty() || ca.sealed_key.is_empty() {
        return Err(StateError::InvalidArgument("malformed cluster CA".into()));
    }
    txn.put(keys::CLUSTER_CA.to_vec(), ca.encode_to_vec());
    Ok(())
}

/// Re-encrypts the cluster CA's key, if it is still as the proposer read it.
pub(super) fn rewrap_cluster_ca(txn: &mut Txn<'_>, op: &RewrapClusterCa) -> Result<()> {
    let mut ca = cluster_ca(txn)?.ok_or(StateError::NoClusterCa)?;
    if ca.sealed_key != op.old_sealed_key {
        return Err(StateError::VersionConflict { expected: "unchanged CA key".into(), actual: "changed".into() });
    }
    if op.new_sealed_key.is_empty() {
        return Err(StateError::InvalidArgument("empty cluster CA key".into()));
    }
    ca.sealed_key = op.new_sealed_key.clone();
    txn.put(keys::CLUSTER_CA.to_vec(), ca.encode_to_vec());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::kv::MemKv;

    fn txn_apply<T>(kv: &mut MemKv, f: impl FnOnce(&mut Txn<'_>) -> Result<T>) -> Result<T> {
        let mut txn = Txn::new(&*kv);
        let out = f(&mut txn)?;
        let writes = txn.into_writes();
        kv.commit(writes);
        Ok(out)
    }

    #[test]
    fn a_join_token_admits_one_node_once_before_it_expires() {
        let mut kv = MemKv::default();
        let token = JoinTokenRecord { hash: vec![7; 32], expires: 100, ..Default::default() };
        let new = CreateJoinToken { token: Some(token) };
        let err = txn_apply(&mut kv, |t| create(t, 10, &new)).unwrap_err();
        assert!(matches!(err, StateError::NoClusterCa));
        let ca = ClusterCa { cert_pem: "cert".into(), sealed_key: vec![1] };
        txn_apply(&mut kv, |t| store_cluster_ca(t, &ca)).unwrap();
        txn_apply(&mut kv, |t| create(t, 10, &new)).unwrap();

        let by = |node_id| ConsumeJoinToken { hash: vec![7; 32], node_id };
        let unknown = ConsumeJoinToken { hash: vec![8; 32], node_id: 2 };
        assert!(matches!(txn_apply(&mut kv, |t| consume(t, 20, &unknown)), Err(StateError::InvalidJoinToken(_))));
        assert!(matches!(
            txn_apply(&mut kv, |t| consume(t, 100, &by(2))),
            Err(StateError::InvalidJoinToken("expired"))
        ));
        let used = txn_apply(&mut kv, |t| consume(t, 20, &by(2))).unwrap();
        assert_eq!((used.used_by, used.used_at), (2, 20));
        assert!(matches!(
            txn_apply(&mut kv, |t| consume(t, 21, &by(3))),
            Err(StateError::InvalidJoinToken("already used"))
        ));
    }
}
