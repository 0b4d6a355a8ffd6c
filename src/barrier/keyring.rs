//! The keyring: data keys by term, sealed under the root key for storage.

use std::collections::BTreeMap;

use prost::Message;
use zeroize::Zeroizing;

use super::{aad, BarrierError};
use crate::crypto::{aead, Key256};
use crate::proto::storage as pb;

/// Data keys by term; the highest is active.
pub struct Keyring {
    keys: BTreeMap<u32, Key256>,
    active: u32,
}

impl Keyring {
    /// A keyring with one fresh key at term 1.
    pub fn generate() -> Result<Keyring, BarrierError> {
        Ok(Keyring { keys: BTreeMap::from([(1, Key256::generate()?)]), active: 1 })
    }

    /// The same keys plus a fresh one at the next term, made active.
    pub fn with_new_term(&self, _now: i64) -> Result<Keyring, BarrierError> {
        let next = self.active + 1;
        let mut keys = self.keys.clone();
        keys.insert(next, Key256::generate()?);
        Ok(Keyring { keys, active: next })
    }

    /// The active term.
    pub fn active_term(&self) -> u32 {
        self.active
    }

    /// The active term and its key.
    pub fn active(&self) -> (u32, &Key256) {
        // The active term is always present: every constructor inserts it.
        (self.active, &self.keys[&self.active])
    }

    /// The key of `term`.
    pub fn get(&self, term: u32) -> Option<&Key256> {
        self.keys.get(&term)
    }

    /// Seals the keyring under the root key.
    pub fn seal(&self, root: &Key256) -> Result<Vec<u8>, BarrierError> {
        // Both the message and its encoding hold key bytes: both are wiped.
        let plain = WipedKeyring(pb::Keyring {
            active_term: self.active,
            keys: self
                .keys
                .iter()
                .map(|(term, k)| pb::DataKey { term: *term, key: k.expose().to_vec(), created: 0 })
                .collect(),
        });
        let bytes = Zeroizing::new(plain.0.encode_to_vec());
        Ok(aead::seal(root, 0, aad::KEYRING, &bytes)?)
    }

    /// Opens a sealed keyring; fails with `Integrity` under a wrong root key.
    pub fn open(root: &Key256, sealed: &[u8]) -> Result<Keyring, BarrierError> {
        if sealed.is_empty() {
            return Err(BarrierError::Uninitialized);
        }
        let bytes = aead::open(root, aad::KEYRING, sealed)?;
        let plain = WipedKeyring(pb::Keyring::decode(bytes.as_slice()).map_err(|_| BarrierError::Integrity)?);
        let plain = &plain.0;
        let mut keys = BTreeMap::new();
        for k in &plain.keys {
            keys.insert(k.term, Key256::from_slice(&k.key).ok_or(BarrierError::Integrity)?);
        }
        if !keys.contains_key(&plain.active_term) {
            return Err(BarrierError::Integrity);
        }
        Ok(Keyring { keys, active: plain.active_term })
    }
}

/// A decoded keyring whose key bytes are wiped when it is dropped, on every
/// path out of [`Keyring::open`].
struct WipedKeyring(pb::Keyring);

impl Drop for WipedKeyring {
    fn drop(&mut self) {
        for k in &mut self.0.keys {
            zeroize::Zeroize::zeroize(&mut k.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_rotate() {
        let root = Key256::generate().unwrap();
        let k1 = Keyring::generate().unwrap();
        let sealed = k1.seal(&root).unwrap();
        let opened = Keyring::open(&root, &sealed).unwrap();
        assert_eq!(opened.active_term(), 1);
        assert_eq!(opened.get(1).unwrap().expose(), k1.get(1).unwrap().expose());
        let k2 = opened.with_new_term(0).unwrap();
        assert_eq!(k2.active_term(), 2);
        assert!(k2.get(1).is_some() && k2.get(2).is_some());
        let wrong = Key256::generate().unwrap();
        assert!(matches!(Keyring::open(&wrong, &sealed), Err(BarrierError::Integrity)));
        assert!(matches!(Keyring::open(&root, &[]), Err(BarrierError::Uninitialized)));
    }
}
