//! The passphrase keystore: the root key sealed with AES-256-GCM under a key
//! derived from a passphrase with Argon2id (64 MiB, 3 passes). For a single
//! host or development; an HSM is stronger.

use std::path::PathBuf;

use argon2::{Algorithm, Argon2, Params, Version};
use zeroize::Zeroizing;

use super::{read_secret_setting, SealError};
use crate::config::SealConfig;
use crate::crypto::{aead, random_fill, Key256};
use crate::proto::storage::SealedRootFile;

const AAD: &[u8] = b"coffer/v1/passphrase-keystore";
const M_KIB: u32 = 64 * 1024;
const T: u32 = 3;
const P: u32 = 1;

/// A passphrase keystore.
pub struct PassphraseSeal {
    pub(super) file: PathBuf,
    passphrase: Zeroizing<String>,
}

impl PassphraseSeal {
    pub(super) fn new(config: &SealConfig, file: PathBuf) -> Result<Self, SealError> {
        let passphrase = read_secret_setting(config.passphrase_file.as_deref(), "COFFER_SEAL_PASSPHRASE")?;
        if passphrase.chars().count() < 12 {
            return Err(SealError::Config("the seal passphrase must be at least 12 characters".into()));
        }
        Ok(PassphraseSeal { file, passphrase })
    }

    fn derive(&self, salt: &[u8], m: u32, t: u32, p: u32) -> Result<Key256, SealError> {
        let params = Params::new(m, t, p, Some(32)).map_err(|e| SealError::Config(format!("argon2: {e}")))?;
        let mut out = Zeroizing::new([0u8; 32]);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(self.passphrase.as_bytes(), salt, out.as_mut())
            .map_err(|e| SealError::Config(format!("argon2: {e}")))?;
        Key256::from_slice(out.as_ref()).ok_or_else(|| SealError::Config("argon2 output".into()))
    }

    pub(super) fn seal(&self, root: &Key256) -> Result<SealedRootFile, SealError> {
        let mut salt = vec![0u8; 16];
        random_fill(&mut salt).map_err(|e| SealError::Config(e.to_string()))?;
        let key = self.derive(&salt, M_KIB, T, P)?;
        let ciphertext = aead::seal(&key, 0, AAD, root.expose()).map_err(|e| SealError::Config(e.to_string()))?;
        Ok(SealedRootFile {
            kind: "passphrase".into(),
            salt,
            argon2_m_kib: M_KIB,
            argon2_t: T,
            argon2_p: P,
            ciphertext,
            ..Default::default()
        })
    }

    pub(super) fn open(&self, file: &SealedRootFile) -> Result<Key256, SealError> {
        if file.kind != "passphrase" {
            return Err(SealError::Config(format!("the sealed root key was made by a '{}' seal", file.kind)));
        }
        // The parameters come from a file: bound them so a tampered file
        // cannot make the node allocate or spin without limit.
        if file.argon2_m_kib > 1 << 20 || file.argon2_t > 16 || file.argon2_p > 16 || file.salt.len() > 64 {
            return Err(SealError::Open("keystore parameters out of range".into()));
        }
        let key = self.derive(&file.salt, file.argon2_m_kib, file.argon2_t, file.argon2_p)?;
        let root = aead::open(&key, AAD, &file.ciphertext).map_err(|_| SealError::Open("wrong passphrase".into()))?;
        Key256::from_slice(&root).ok_or_else(|| SealError::Open("bad root key length".into()))
    }
}
