//! The encryption barrier. Storage, the Raft log, snapshots and backups are
//! untrusted: everything sensitive is sealed here before it is proposed and
//! opened here after it is read. A node holds keys only while unsealed.
//!
//! - The **root key** (256 bits) exists only in memory of unsealed nodes, or
//!   split into Shamir shares held by operators, or in a node's local seal.
//! - The **keyring** holds the data keys, one per term. It is replicated
//!   sealed under the root key (`sys/security`); new writes use the active
//!   term, older terms stay for reading. Rotation adds a term.
//! - A **rekey** replaces the root key. The new one is never replicated, in
//!   any form: the node that rekeys hands it to the others over the peer
//!   API ([`Barrier::offer_root`]), so old shares and any copy of the state
//!   never yield it.
//! - Each ciphertext names its term and is bound by associated data to its
//!   place ([`aad`]), so it cannot be moved to another object.
//!
//! [`Barrier::unsealed`] returns an [`Unsealed`] capability: the only way to
//! encrypt or decrypt, so code that skips the seal check does not compile.

pub mod aad;
pub mod keyring;
pub mod shares;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock, RwLockReadGuard};

use zeroize::Zeroizing;

pub use keyring::Keyring;

use crate::crypto::{aead, shamir, CryptoError, Key256};
use crate::error_code::ErrorCode;
use crate::proto::storage::SecurityRecord;

/// Why the barrier refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BarrierError {
    /// This node holds no keys.
    #[error("this node is sealed: unseal it with `coffer operator unseal`")]
    Sealed,
    /// The cluster has no keyring yet.
    #[error("coffer is not initialized: run `coffer operator init`")]
    Uninitialized,
    /// Decryption failed: tampered, moved or foreign ciphertext.
    #[error("integrity check failed: stored data is corrupt or was moved")]
    Integrity,
    /// The shares did not reconstruct the root key.
    #[error("invalid key shares: {0}")]
    InvalidShares(String),
    /// A cryptographic failure other than integrity.
    #[error("crypto: {0}")]
    Crypto(CryptoError),
}

impl BarrierError {
    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            BarrierError::Sealed => ErrorCode::Sealed,
            BarrierError::Uninitialized => ErrorCode::Uninitialized,
            BarrierError::Integrity => ErrorCode::Integrity,
            BarrierError::InvalidShares(_) => ErrorCode::InvalidShares,
            BarrierError::Crypto(_) => ErrorCode::Internal,
        }
    }
}

impl From<CryptoError> for BarrierError {
    fn from(e: CryptoError) -> Self {
        match e {
            CryptoError::Integrity | CryptoError::Format(_) | CryptoError::UnknownTerm(_) => BarrierError::Integrity,
            CryptoError::Shares(s) => BarrierError::InvalidShares(s.into()),
            e => BarrierError::Crypto(e),
        }
    }
}

/// Most root keys handed over for the next generation that a node keeps
/// (several rekeys may be tried at once; only one commits).
const MAX_HANDOFFS: usize = 4;

enum State {
    Sealed {
        shares: Vec<shamir::Share>,
    },
    Unsealed {
        root: Key256,
        generation: u32,
        keyring: Keyring,
        /// Root keys of the next generation handed over by a node that
        /// rekeys, before its rekey commits: the one that opens the
        /// keyring of that generation is adopted (see [`Barrier::refresh`]).
        handoffs: Vec<(u32, Key256)>,
    },
}

/// One node's barrier.
pub struct Barrier {
    state: RwLock<State>,
    /// Encryptions under the active term by this node (nonce budget).
    encryptions: AtomicU64,
    /// Sealed on an operator's request: the local seal must not undo it.
    held: AtomicBool,
    /// Why the local seal last failed to unseal this node.
    seal_error: Mutex<Option<String>>,
}

impl Default for Barrier {
    fn default() -> Self {
        Barrier {
            state: RwLock::new(State::Sealed { shares: Vec::new() }),
            encryptions: AtomicU64::new(0),
            held: AtomicBool::new(false),
            seal_error: Mutex::new(None),
        }
    }
}

/// What `seal status` shows of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealState {
    /// Whether the node holds no keys.
    pub sealed: bool,
    /// Shares submitted towards the threshold.
    pub progress: u32,
    /// Active keyring term (0 while sealed).
    pub keyring_term: u32,
}

impl Barrier {
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The capability to encrypt and decrypt, if this node is unsealed.
    pub fn unsealed(&self) -> Result<Unsealed<'_>, BarrierError> {
        let guard = self.read();
        match &*guard {
            State::Sealed { .. } => Err(BarrierError::Sealed),
            State::Unsealed { .. } => Ok(Unsealed { guard, encryptions: &self.encryptions }),
        }
    }

    /// Seal state for status reports.
    pub fn state(&self) -> SealState {
        match &*self.read() {
            State::Sealed { shares } => SealState { sealed: true, progress: shares.len() as u32, keyring_term: 0 },
            State::Unsealed { keyring, .. } => {
                SealState { sealed: false, progress: 0, keyring_term: keyring.active_term() }
            }
        }
    }

    /// Unseals with the root key, checked by opening the replicated keyring.
    pub fn unseal_with_root(&self, root: Key256, record: &SecurityRecord) -> Result<(), BarrierError> {
        let keyring = Keyring::open(&root, &record.sealed_keyring)?;
        *self.write() = State::Unsealed { root, generation: record.root_generation, keyring, handoffs: Vec::new() };
        self.encryptions.store(0, Ordering::Relaxed);
        Ok(())
    }

    /// Adds one Shamir share; unseals once `threshold` shares are in. Wrong
    /// shares are detected when the keyring does not open, and reset the
    /// progress. Returns the number of shares held (0 once unsealed).
    pub fn submit_share(&self, share: shamir::Share, record: &SecurityRecord) -> Result<u32, BarrierError> {
        let mut state = self.write();
        let shares = match &mut *state {
            State::Unsealed { .. } => return Ok(0),
            State::Sealed { shares } => shares,
        };
        if shares.iter().any(|s| s.x == share.x) {
            return Err(BarrierError::InvalidShares("this share was already submitted".into()));
        }
        shares.push(share);
        if (shares.len() as u32) < record.key_threshold {
            return Ok(shares.len() as u32);
        }
        let combined = shamir::combine(shares);
        shares.clear();
        let root = combined.ok().and_then(|bytes| Key256::from_slice(&bytes));
        let keyring = root.as_ref().map(|r| Keyring::open(r, &record.sealed_keyring));
        match (root, keyring) {
            (Some(root), Some(Ok(keyring))) => {
                *state = State::Unsealed { root, generation: record.root_generation, keyring, handoffs: Vec::new() };
                self.encryptions.store(0, Ordering::Relaxed);
                self.held.store(false, Ordering::Relaxed);
                Ok(0)
            }
            _ => Err(BarrierError::InvalidShares("the shares do not reconstruct the root key; progress reset".into())),
        }
    }

    /// Discards submitted shares.
    pub fn reset_progress(&self) {
        if let State::Sealed { shares } = &mut *self.write() {
            shares.clear();
        }
    }

    /// Drops every key from memory.
    pub fn seal(&self) {
        *self.write() = State::Sealed { shares: Vec::new() };
    }

    /// Seals on an operator's request: a local seal will not unseal this
    /// node again until it restarts or is unsealed with key shares.
    pub fn seal_by_operator(&self) {
        self.held.store(true, Ordering::Relaxed);
        self.seal();
    }

    /// Whether an operator sealed this node.
    pub fn held_by_operator(&self) -> bool {
        self.held.load(Ordering::Relaxed)
    }

    /// Records why the local seal could not unseal (`None`: no problem).
    pub fn set_seal_error(&self, error: Option<String>) {
        *self.seal_error.lock().unwrap_or_else(|p| p.into_inner()) = error;
    }

    /// Why the local seal last failed.
    pub fn seal_error(&self) -> Option<String> {
        self.seal_error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Keeps `root` as a candidate root key of `generation`, handed over by
    /// the node that rekeys before its rekey commits. Only an unsealed node
    /// at the generation before keeps it, and adopts it only if it opens the
    /// keyring that generation replicates: a wrong key is never used.
    /// Returns whether it was kept.
    pub fn offer_root(&self, generation: u32, root: Key256) -> bool {
        let mut state = self.write();
        let State::Unsealed { generation: current, handoffs, .. } = &mut *state else { return false };
        if generation != *current + 1 {
            return false;
        }
        if handoffs.len() >= MAX_HANDOFFS {
            handoffs.remove(0);
        }
        handoffs.push((generation, root));
        true
    }

    /// Picks up a keyring rotation or a rekey applied since this node
    /// unsealed. Cheap when nothing changed. A node that cannot follow a
    /// rekey (it missed a generation, or no node handed it the new root
    /// key) seals itself.
    pub fn refresh(&self, record: &SecurityRecord) -> Result<(), BarrierError> {
        let current = |s: &State| match s {
            State::Unsealed { generation, keyring, .. } => {
                *generation == record.root_generation && keyring.active_term() == record.active_term
            }
            State::Sealed { .. } => true,
        };
        if current(&self.read()) {
            return Ok(());
        }
        let mut state = self.write();
        if current(&state) {
            return Ok(());
        }
        let State::Unsealed { root, generation, keyring, handoffs } = &mut *state else { return Ok(()) };
        if *generation != record.root_generation {
            let next = std::mem::take(handoffs)
                .into_iter()
                .filter(|(g, _)| *g == record.root_generation && *generation + 1 == record.root_generation)
                .find_map(|(_, candidate)| {
                    Keyring::open(&candidate, &record.sealed_keyring).ok().map(|opened| (candidate, opened))
                });
            match next {
                Some((new_root, opened)) => {
                    *root = new_root;
                    *generation = record.root_generation;
                    *keyring = opened;
                    self.encryptions.store(0, Ordering::Relaxed);
                    return Ok(());
                }
                None => {
                    *state = State::Sealed { shares: Vec::new() };
                    return Err(BarrierError::Sealed);
                }
            }
        }
        *keyring = Keyring::open(root, &record.sealed_keyring)?;
        self.encryptions.store(0, Ordering::Relaxed);
        Ok(())
    }
}

/// Proof that the node is unsealed, and the keys that come with it. Holds
/// a read lock: use it for one request's crypto, never across an await.
pub struct Unsealed<'a> {
    guard: RwLockReadGuard<'a, State>,
    encryptions: &'a AtomicU64,
}

impl Unsealed<'_> {
    fn parts(&self) -> (&Key256, &Keyring) {
        match &*self.guard {
            State::Unsealed { root, keyring, .. } => (root, keyring),
            State::Sealed { .. } => unreachable!("Unsealed is only built from an unsealed state"),
        }
    }

    /// Encrypts under the active data key, bound to `aad`.
    pub fn encrypt(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, BarrierError> {
        let (_, keyring) = self.parts();
        self.encryptions.fetch_add(1, Ordering::Relaxed);
        let (term, key) = keyring.active();
        Ok(aead::seal(key, term, aad, plaintext)?)
    }

    /// Decrypts a ciphertext of any term in the keyring.
    pub fn decrypt(&self, aad: &[u8], ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, BarrierError> {
        let (_, keyring) = self.parts();
        let term = aead::term_of(ciphertext)?;
        let key = keyring.get(term).ok_or(CryptoError::UnknownTerm(term))?;
        Ok(aead::open(key, aad, ciphertext)?)
    }

    /// A key for `purpose`, derived (HMAC-SHA256) from the keyring's first
    /// data key: the same on every node and across rotations and rekeys.
    pub fn derive(&self, purpose: &[u8]) -> Result<Key256, BarrierError> {
        let (_, keyring) = self.parts();
        let first = keyring.get(1).ok_or(CryptoError::UnknownTerm(1))?;
        let mac =
            aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, first.expose()), purpose);
        Key256::from_slice(mac.as_ref()).ok_or_else(|| CryptoError::Random.into())
    }

    /// The key that authenticates snapshot files (`storage::snapshot_file`):
    /// derived like [`Unsealed::derive`], so a node whose keyring lags
    /// behind a rotation still verifies a snapshot from a newer node.
    pub fn snapshot_key(&self) -> Result<Key256, BarrierError> {
        self.derive(b"coffer snapshot mac v1")
    }

    /// Whether this node has used the active key so often that it must be
    /// rotated before random nonces could repeat.
    pub fn rotation_due(&self) -> bool {
        self.encryptions.load(Ordering::Relaxed) >= aead::MAX_ENCRYPTIONS_PER_TERM
    }

    /// The active term.
    pub fn active_term(&self) -> u32 {
        self.parts().1.active_term()
    }

    /// The root key, to be sealed by this node's local seal.
    pub(crate) fn root(&self) -> &Key256 {
        self.parts().0
    }

    /// Whether `root` is this node's current root key.
    pub fn is_root(&self, root: &Key256) -> bool {
        crate::crypto::constant_time_eq(self.parts().0.expose(), root.expose())
    }

    /// The keyring sealed under `new_root`, for a rekey. `new_root` itself
    /// is sealed under nothing: it reaches the other nodes only through
    /// [`Barrier::offer_root`].
    pub fn rekeyed(&self, new_root: &Key256) -> Result<Vec<u8>, BarrierError> {
        self.parts().1.seal(new_root)
    }

    /// The current root key generation.
    pub fn root_generation(&self) -> u32 {
        match &*self.guard {
            State::Unsealed { generation, .. } => *generation,
            State::Sealed { .. } => 0,
        }
    }

    /// A keyring with one more term, sealed under the root key, for a
    /// rotation proposal: `(sealed keyring, new term)`.
    pub fn rotated_keyring(&self, now: i64) -> Result<(Vec<u8>, u32), BarrierError> {
        let (root, keyring) = self.parts();
        let next = keyring.with_new_term(now)?;
        Ok((next.seal(root)?, next.active_term()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(keyring: &Keyring, root: &Key256, generation: u32) -> SecurityRecord {
        SecurityRecord {
            sealed_keyring: keyring.seal(root).unwrap(),
            active_term: keyring.active_term(),
            key_threshold: 1,
            root_generation: generation,
            ..Default::default()
        }
    }

    /// An unsealed barrier at generation 1, and the record of a rekey to a
    /// new root key at generation 2.
    fn rekeyed() -> (Barrier, Key256, SecurityRecord) {
        let (root, keyring) = (Key256::generate().unwrap(), Keyring::generate().unwrap());
        let barrier = Barrier::default();
        barrier.unseal_with_root(root.clone(), &record(&keyring, &root, 1)).unwrap();
        let new_root = Key256::generate().unwrap();
        let next = record(&keyring, &new_root, 2);
        (barrier, new_root, next)
    }

    #[test]
    fn a_handed_over_root_key_is_adopted_only_if_it_opens_the_new_keyring() {
        let (barrier, new_root, next) = rekeyed();
        assert!(!barrier.offer_root(3, new_root.clone()), "not the next generation");
        assert!(barrier.offer_root(2, Key256::generate().unwrap()));
        assert!(barrier.offer_root(2, new_root.clone()));
        barrier.refresh(&next).unwrap();
        let keys = barrier.unsealed().unwrap();
        assert!(keys.is_root(&new_root));
        assert_eq!(keys.root_generation(), 2);
    }

    #[test]
    fn a_node_without_the_new_root_key_seals_itself_at_a_rekey() {
        let (barrier, _, next) = rekeyed();
        assert!(barrier.offer_root(2, Key256::generate().unwrap()));
        assert_eq!(barrier.refresh(&next), Err(BarrierError::Sealed));
        assert!(barrier.state().sealed);
        // A sealed node takes no root key from a peer.
        assert!(!barrier.offer_root(2, Key256::generate().unwrap()));
    }
}
