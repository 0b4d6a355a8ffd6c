//! Re-encryption under the newest data key term (`coffer operator rewrap`)
//! of everything the state holds sealed under a data key: the versions of
//! live and soft-deleted secrets (value and meta) and the cluster CA's
//! private key. Each call re-encrypts a bounded batch and reports, by kind,
//! what it did and what remains. A call that finds work either re-encrypts
//! something or fails, so calling until nothing remains always ends; an
//! object that cannot be opened fails the call with its name.

use super::error::{ReplicaError, Result};
use super::{Consistency, Replica};
use crate::barrier::aad;
use crate::proto::storage::{op::Kind, ClusterCa, RewrapClusterCa, RewrapSecret};
use crate::state::secrets::{self, StaleVersion};
use crate::state::{join_tokens, StateError};

/// Most objects re-encrypted per call.
pub const REWRAP_BATCH: usize = 256;

/// Versions of live secrets.
pub const SECRET_VERSIONS: &str = "secret-versions";
/// Versions of soft-deleted secrets.
pub const DELETED_SECRET_VERSIONS: &str = "deleted-secret-versions";
/// The cluster CA's private key.
pub const CLUSTER_CA_KEY: &str = "cluster-ca-key";

/// What one call did for one kind of sealed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewrapCount {
    /// [`SECRET_VERSIONS`], [`DELETED_SECRET_VERSIONS`] or [`CLUSTER_CA_KEY`].
    pub kind: &'static str,
    /// Re-encrypted by this call.
    pub rewrapped: u64,
    /// Still under older terms after it.
    pub remaining: u64,
}

impl Replica {
    /// Re-encrypts up to [`REWRAP_BATCH`] objects still under older terms.
    /// Returns the counts by kind; call again until nothing remains.
    pub async fn rewrap(&self) -> Result<Vec<RewrapCount>> {
        let active = self.unsealed()?.active_term();
        let (stale, ca) = self
            .read(Consistency::Linearizable, |kv| {
                Ok((secrets::under_old_terms(kv, active, REWRAP_BATCH)?, join_tokens::cluster_ca(kv)?))
            })
            .await?;
        let ca = ca.filter(|c| secrets::under_old_term(&c.sealed_key, active));
        let mut counts = [
            RewrapCount { kind: SECRET_VERSIONS, rewrapped: 0, remaining: stale.live },
            RewrapCount { kind: DELETED_SECRET_VERSIONS, rewrapped: 0, remaining: stale.deleted },
            RewrapCount { kind: CLUSTER_CA_KEY, rewrapped: 0, remaining: u64::from(ca.is_some()) },
        ];
        let mut attempted = 0;
        if let Some(ca) = ca {
            attempted += 1;
            let op = self.rewrapped_ca(&ca)?;
            if self.apply_rewrap(Kind::RewrapClusterCa(op)).await? {
                counts[2].rewrapped += 1;
            }
        }
        for v in stale.first.into_iter().take(REWRAP_BATCH - attempted) {
            attempted += 1;
            let op = self.rewrapped_version(&v)?;
            if self.apply_rewrap(Kind::RewrapSecret(op)).await? {
                counts[usize::from(v.deleted)].rewrapped += 1;
            }
        }
        for c in &mut counts {
            c.remaining = c.remaining.saturating_sub(c.rewrapped);
        }
        if attempted > 0 && counts.iter().all(|c| c.rewrapped == 0) {
            return Err(ReplicaError::Unavailable(format!(
                "all {attempted} objects this rewrap read changed before they were re-encrypted; run it again"
            )));
        }
        Ok(counts.to_vec())
    }

    /// Proposes one re-encryption: `false` if the object changed or was
    /// purged since it was read (the next call looks at it again). Any other
    /// failure is returned.
    async fn apply_rewrap(&self, kind: Kind) -> Result<bool> {
        match self.write(kind).await {
            Ok(_) => Ok(true),
            Err(ReplicaError::State(
                StateError::VersionConflict { .. }
                | StateError::SecretNotFound { .. }
                | StateError::VersionNotFound { .. },
            )) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// A version's value and meta sealed again under the active term.
    fn rewrapped_version(&self, v: &StaleVersion) -> Result<RewrapSecret> {
        let keys = self.unsealed()?;
        let (vault, name, version) = (&v.vault, &v.name, &v.version.version);
        let cannot =
            |source| ReplicaError::Rewrap { object: format!("secret version {vault}/{name}/{version}"), source };
        let old_meta = v.version.attributes.as_ref().map(|a| a.sealed_meta.clone()).unwrap_or_default();
        let (new_value, new_meta) =
            super::sealing::reseal_version(&keys, vault, name, version, &v.version.value, &old_meta).map_err(cannot)?;
        Ok(RewrapSecret {
            vault: vault.clone(),
            name: name.clone(),
            version: version.clone(),
            new_value,
            old_value: v.version.value.clone(),
            new_sealed_meta: new_meta,
            old_sealed_meta: old_meta,
        })
    }

    /// The cluster CA's key sealed again under the active term.
    fn rewrapped_ca(&self, ca: &ClusterCa) -> Result<RewrapClusterCa> {
        let keys = self.unsealed()?;
        let key = keys
            .decrypt(aad::CLUSTER_CA_KEY, &ca.sealed_key)
            .map_err(|source| ReplicaError::Rewrap { object: "the cluster CA key".into(), source })?;
        Ok(RewrapClusterCa {
            old_sealed_key: ca.sealed_key.clone(),
            new_sealed_key: keys.encrypt(aad::CLUSTER_CA_KEY, &key)?,
        })
    }
}
