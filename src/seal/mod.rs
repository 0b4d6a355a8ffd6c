//! Local seals: how a node keeps the root key across restarts so it can
//! unseal itself. Shamir (the default) keeps nothing: operators unseal by
//! hand. A passphrase keystore ([`passphrase`]) or an HSM ([`pkcs11`]) seal
//! the root key into `<data_dir>/seal/root`, and the node opens it on start.
//!
//! A node stores the root key the first time it is unsealed by any means
//! (init, key shares), and again after a rekey; so a node joining later gets
//! the root key by being unsealed once, then seals it with its own HSM.

pub mod passphrase;
pub mod pkcs11;

use std::path::Path;

use prost::Message;

use crate::config::SealConfig;
use crate::crypto::Key256;
use crate::proto::storage::SealedRootFile;

/// Why a local seal failed. Messages name files and settings, never secrets.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SealError {
    /// The seal is misconfigured (missing passphrase, PIN, module…).
    #[error("seal configuration: {0}")]
    Config(String),
    /// The passphrase or PIN is wrong, or the sealed file was tampered with.
    #[error("cannot open the sealed root key: {0}")]
    Open(String),
    /// The HSM reported an error.
    #[error("HSM: {0}")]
    Hsm(String),
    /// Reading or writing the sealed root key file failed.
    #[error("seal file {path}: {message}")]
    #[allow(missing_docs)]
    File { path: String, message: String },
}

/// A configured local seal.
pub enum LocalSeal {
    /// Argon2id passphrase keystore.
    Passphrase(passphrase::PassphraseSeal),
    /// PKCS#11 HSM.
    Pkcs11(pkcs11::Pkcs11Seal),
}

impl LocalSeal {
    /// The seal a node's configuration asks for (`None`: Shamir only).
    pub fn from_config(config: &SealConfig, data_dir: &Path) -> Result<Option<LocalSeal>, SealError> {
        let file = data_dir.join("seal").join("root");
        match config.kind.as_str() {
            "shamir" => Ok(None),
            "passphrase" => Ok(Some(LocalSeal::Passphrase(passphrase::PassphraseSeal::new(config, file)?))),
            "pkcs11" => Ok(Some(LocalSeal::Pkcs11(pkcs11::Pkcs11Seal::new(config, file)?))),
            other => Err(SealError::Config(format!("unknown seal kind '{other}' (shamir, passphrase, pkcs11)"))),
        }
    }

    /// "passphrase" or "pkcs11".
    pub fn kind(&self) -> &'static str {
        match self {
            LocalSeal::Passphrase(_) => "passphrase",
            LocalSeal::Pkcs11(_) => "pkcs11",
        }
    }

    fn file(&self) -> &Path {
        match self {
            LocalSeal::Passphrase(s) => &s.file,
            LocalSeal::Pkcs11(s) => &s.file,
        }
    }

    /// The root key generation stored, without opening it.
    pub fn stored_generation(&self) -> Result<Option<u32>, SealError> {
        Ok(read_file(self.file())?.map(|f| f.root_generation))
    }

    /// Opens the stored root key: `(root, generation)`, or `None` if nothing
    /// is stored yet. Blocking (key derivation, HSM calls).
    pub fn load(&self) -> Result<Option<(Key256, u32)>, SealError> {
        let Some(file) = read_file(self.file())? else { return Ok(None) };
        let root = match self {
            LocalSeal::Passphrase(s) => s.open(&file)?,
            LocalSeal::Pkcs11(s) => s.open(&file)?,
        };
        Ok(Some((root, file.root_generation)))
    }

    /// Seals and stores `root` of `generation`. Blocking.
    pub fn store(&self, root: &Key256, generation: u32) -> Result<(), SealError> {
        let mut file = match self {
            LocalSeal::Passphrase(s) => s.seal(root)?,
            LocalSeal::Pkcs11(s) => s.seal(root)?,
        };
        file.root_generation = generation;
        write_file(self.file(), &file)
    }
}

fn file_err(path: &Path, e: impl std::fmt::Display) -> SealError {
    SealError::File { path: path.display().to_string(), message: e.to_string() }
}

fn read_file(path: &Path) -> Result<Option<SealedRootFile>, SealError> {
    match std::fs::read(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(file_err(path, e)),
        Ok(bytes) => SealedRootFile::decode(bytes.as_slice()).map(Some).map_err(|e| file_err(path, e)),
    }
}

fn write_file(path: &Path, file: &SealedRootFile) -> Result<(), SealError> {
    crate::fsutil::write_atomic(path, &file.encode_to_vec(), crate::fsutil::PRIVATE).map_err(|e| file_err(path, e))
}

/// Reads a secret setting (passphrase, PIN) from a file or an environment
/// variable; never from the command line.
pub(crate) fn read_secret_setting(file: Option<&Path>, env: &str) -> Result<zeroize::Zeroizing<String>, SealError> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| file_err(path, e))?;
        return Ok(zeroize::Zeroizing::new(text.trim_end_matches(['\n', '\r']).to_owned()));
    }
    match std::env::var(env) {
        Ok(v) if !v.is_empty() => Ok(zeroize::Zeroizing::new(v)),
        _ => Err(SealError::Config(format!("set the file setting or the {env} environment variable"))),
    }
}
