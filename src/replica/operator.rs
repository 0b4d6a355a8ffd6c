//! Operator actions on a node: initialize the keyring, unseal and seal,
//! rotate the data key, rekey (re-encryption is in [`super::rewrap`]).

use zeroize::Zeroizing;

use super::error::{ReplicaError, Result};
use super::Replica;
use crate::barrier::{shares, BarrierError, Keyring, Unsealed};
use crate::crypto::{shamir, Key256};
use crate::proto::storage::{op::Kind, InitSecurity, Rekey, RotateKeyring, SecurityRecord};
use crate::state::{security, OpOutput};

/// A node's seal status.
#[derive(Debug, Clone)]
pub struct SealStatus {
    /// Whether the cluster's keyring exists.
    pub initialized: bool,
    /// Whether this node holds no keys.
    pub sealed: bool,
    /// Shamir parameters of the root key.
    pub key_shares: u32,
    /// Shares needed to unseal.
    pub key_threshold: u32,
    /// Shares submitted so far on this node.
    pub progress: u32,
    /// Active keyring term (0 while sealed).
    pub keyring_term: u32,
    /// How this node keeps the root key: shamir, passphrase or pkcs11.
    pub seal_type: &'static str,
    /// Why the local seal could not unseal this node, if it failed.
    pub seal_error: Option<String>,
}

/// What `init` hands to the operator, once.
pub struct InitOutput {
    /// The root key's Shamir shares, encoded.
    pub shares: Vec<Zeroizing<String>>,
    /// The initial root token.
    pub root_token: Zeroizing<String>,
}

impl Replica {
    /// The replicated security record, from this node's local state.
    pub fn security_record(&self) -> Result<Option<SecurityRecord>> {
        // Every request needs it; it changes only on init, rotation and
        // rekey, so it is read again only after apply changed it.
        let generation = self.reader().generations().security();
        let mut cache = self.inner.security_cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((g, record)) = cache.as_ref() {
            if *g == generation {
                return Ok(record.clone());
            }
        }
        let record = self.reader().read(security::get)?;
        *cache = Some((generation, record.clone()));
        Ok(record)
    }

    /// The capability to encrypt and decrypt, with the keyring brought up to
    /// date with any rotation this node has applied.
    pub fn unsealed(&self) -> Result<Unsealed<'_>> {
        let record = self.security_record()?.ok_or(BarrierError::Uninitialized)?;
        self.barrier().refresh(&record)?;
        let keys = self.barrier().unsealed()?;
        if keys.rotation_due() {
            self.rotate_in_background();
        }
        Ok(keys)
    }

    /// Rotates the data key once this node's nonce budget for it is spent.
    fn rotate_in_background(&self) {
        if self.rotation_running().swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let replica = self.clone();
        tokio::spawn(async move {
            match replica.rotate_keyring().await {
                Ok(s) => tracing::info!(term = s.keyring_term, "data key rotated: nonce budget spent"),
                Err(e) => tracing::warn!(error = %e, "automatic data key rotation failed; will retry"),
            }
            replica.rotation_running().store(false, std::sync::atomic::Ordering::SeqCst);
        });
    }

    /// This node's seal status.
    pub fn seal_status(&self) -> Result<SealStatus> {
        let record = self.security_record()?;
        let st = self.barrier().state();
        Ok(SealStatus {
            initialized: record.is_some(),
            sealed: st.sealed,
            key_shares: record.as_ref().map_or(0, |r| r.key_shares),
            key_threshold: record.as_ref().map_or(0, |r| r.key_threshold),
            progress: st.progress,
            keyring_term: st.keyring_term,
            seal_type: self.seal_type(),
            seal_error: self.barrier().seal_error(),
        })
    }

    /// Creates the root key (split into Shamir shares), the keyring and the
    /// initial root token, and unseals this node. Returns the encoded shares
    /// and the root token: shown once, kept nowhere (only the token's hash).
    pub async fn init_security(&self, key_shares: u32, key_threshold: u32) -> Result<InitOutput> {
        if !(1..=255).contains(&key_shares) || !(1..=key_shares).contains(&key_threshold) {
            return Err(ReplicaError::InvalidArgument("need 1 <= key-threshold <= key-shares <= 255".into()));
        }
        if self.security_record()?.is_some() {
            return Err(crate::state::StateError::SecurityInitialized.into());
        }
        let root = Key256::generate().map_err(BarrierError::from)?;
        let keyring = Keyring::generate()?;
        let sealed_keyring = keyring.seal(&root)?;
        let split = shamir::split(root.expose(), key_shares as u8, key_threshold as u8).map_err(BarrierError::from)?;
        let (root_token, token_record) = crate::credential::token::generate(
            crate::state::tokens::ROOT,
            "initial root",
            self.clock().now(),
            0,
            false,
        )
        .map_err(BarrierError::from)?;
        let cluster_ca = self.cluster_ca_for_init(&keyring)?;
        let sealed_ca = cluster_ca.is_some();
        let op = InitSecurity {
            sealed_keyring,
            active_term: keyring.active_term(),
            key_shares,
            key_threshold,
            root_token: Some(token_record),
            cluster_ca,
        };
        let record = match self.write(Kind::InitSecurity(op)).await? {
            OpOutput::Security(r) => r,
            _ => return Err(ReplicaError::Unavailable("unexpected apply output".into())),
        };
        if sealed_ca {
            // The cluster holds the CA key now (sealed); no plaintext copy stays.
            self.tls().forget_pending_ca();
        }
        self.barrier().unseal_with_root(root, &record)?;
        Ok(InitOutput { shares: split.iter().map(|s| Zeroizing::new(shares::encode(s))).collect(), root_token })
    }

    /// Submits one key share to this node.
    pub fn unseal(&self, share: &str) -> Result<SealStatus> {
        let record = self.security_record()?.ok_or(BarrierError::Uninitialized)?;
        let share = shares::decode(share)
            .ok_or_else(|| BarrierError::InvalidShares("malformed or mistyped key share".into()))?;
        self.barrier().submit_share(share, &record)?;
        self.seal_status()
    }

    /// Unseals this node with the root key itself (from a local seal).
    pub fn unseal_with_root(&self, root: Key256) -> Result<()> {
        let record = self.security_record()?.ok_or(BarrierError::Uninitialized)?;
        Ok(self.barrier().unseal_with_root(root, &record)?)
    }

    /// Replaces the root key and its Shamir shares, authorized by a threshold
    /// of the current shares. The keyring is resealed, no data re-encrypted.
    /// The new root key is never replicated: this node hands it to the
    /// other members first (see [`super::handoff`]), and unsealed members
    /// that took it follow the rekey when they apply it.
    pub async fn rekey(
        &self,
        current: &[String],
        key_shares: u32,
        key_threshold: u32,
    ) -> Result<Vec<Zeroizing<String>>> {
        if !(1..=255).contains(&key_shares) || !(1..=key_shares).contains(&key_threshold) {
            return Err(ReplicaError::InvalidArgument("need 1 <= key-threshold <= key-shares <= 255".into()));
        }
        if let Some(leader) = self.other_leader() {
            // Only the leader proposes: no root key is handed out for a
            // rekey that would be refused.
            return Err(ReplicaError::NotLeader { leader: Some(leader) });
        }
        let record = self.security_record()?.ok_or(BarrierError::Uninitialized)?;
        let parsed: Vec<shamir::Share> = current
            .iter()
            .map(|s| shares::decode(s).ok_or_else(|| BarrierError::InvalidShares("malformed key share".into())))
            .collect::<std::result::Result<_, _>>()?;
        if (parsed.len() as u32) < record.key_threshold {
            return Err(
                BarrierError::InvalidShares(format!("{} current shares are needed", record.key_threshold)).into()
            );
        }
        let old_root = shamir::combine(&parsed).ok().and_then(|b| Key256::from_slice(&b));
        let new_root = Key256::generate().map_err(BarrierError::from)?;
        let split =
            shamir::split(new_root.expose(), key_shares as u8, key_threshold as u8).map_err(BarrierError::from)?;
        let op = {
            let keys = self.unsealed()?;
            if !old_root.is_some_and(|r| keys.is_root(&r)) {
                return Err(BarrierError::InvalidShares("the shares do not reconstruct the root key".into()).into());
            }
            let generation = keys.root_generation();
            Rekey {
                sealed_keyring: keys.rekeyed(&new_root)?,
                root_generation: generation + 1,
                previous_generation: generation,
                key_shares,
                key_threshold,
                active_term: keys.active_term(),
            }
        };
        self.hand_off_root(op.root_generation, &new_root).await;
        self.write(Kind::Rekey(op)).await?;
        self.unsealed()?;
        Ok(split.iter().map(|s| Zeroizing::new(shares::encode(s))).collect())
    }

    /// Adds a data key term through Raft; new writes use it.
    pub async fn rotate_keyring(&self) -> Result<SealStatus> {
        let op = {
            let keys = self.unsealed()?;
            let (sealed_keyring, active_term) = keys.rotated_keyring(self.clock().now())?;
            RotateKeyring {
                sealed_keyring,
                active_term,
                previous_term: keys.active_term(),
                root_generation: keys.root_generation(),
            }
        };
        self.write(Kind::RotateKeyring(op)).await?;
        self.unsealed()?;
        self.seal_status()
    }
}
