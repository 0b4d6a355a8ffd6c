//! Seeding a new node's data dir from a saved snapshot file, offline. The
//! file must verify under the cluster's snapshot key before anything is
//! written; that key comes from the keyring the file itself holds, opened
//! with a threshold of the key shares (a keyring that is not the cluster's
//! does not open with its shares). A file changed in any byte — a token
//! record written into it, say — is refused with `Integrity`.

use std::path::Path;

use prost::Message;

use crate::barrier::{shares, Barrier, BarrierError};
use crate::error_code::ErrorCode;
use crate::proto::storage::SecurityRecord;
use crate::storage::{snapshot_file, StorageError};

/// Why a restore refused or failed.
#[allow(missing_docs)] // each variant is described by its #[error] message
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("the snapshot holds no keyring, so it cannot be verified")]
    NoKeyring,
    #[error(transparent)]
    Barrier(#[from] BarrierError),
    #[error("snapshot file refused: {0}")]
    Storage(#[from] StorageError),
}

impl RestoreError {
    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            RestoreError::NoKeyring => ErrorCode::Integrity,
            RestoreError::Barrier(e) => e.code(),
            RestoreError::Storage(StorageError::Unauthentic(_) | StorageError::Corrupt(_)) => ErrorCode::Integrity,
            RestoreError::Storage(_) => ErrorCode::Storage,
        }
    }
}

/// Verifies the snapshot file at `snapshot` with the keys that `key_shares`
/// (a threshold of the shares of the saved cluster's root key) open, then
/// seeds `data_dir` from it (see `storage::restore`). Returns the number of
/// records restored.
pub fn restore(data_dir: &Path, snapshot: &Path, key_shares: &[impl AsRef<str>]) -> Result<u64, RestoreError> {
    let mut security = None;
    let mut file = std::fs::File::open(snapshot).map_err(StorageError::from)?;
    snapshot_file::read_each(&mut file, |r| {
        if r.key == crate::state::keys::SECURITY {
            security = Some(r.value);
        }
        Ok(())
    })?;
    let record = SecurityRecord::decode(security.ok_or(RestoreError::NoKeyring)?.as_slice())
        .map_err(|_| RestoreError::NoKeyring)?;
    let barrier = Barrier::default();
    for share in key_shares {
        let share = shares::decode(share.as_ref())
            .ok_or_else(|| BarrierError::InvalidShares("malformed or mistyped key share".into()))?;
        barrier.submit_share(share, &record)?;
    }
    let key = match barrier.unsealed() {
        Ok(keys) => keys.snapshot_key()?,
        Err(_) => {
            let need = record.key_threshold;
            return Err(
                BarrierError::InvalidShares(format!("{need} key shares of the saved cluster are needed")).into()
            );
        }
    };
    Ok(crate::storage::restore(data_dir, snapshot, &key)?)
}
