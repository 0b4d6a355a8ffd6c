//! Cryptographic primitives, all from aws-lc-rs: AES-256-GCM with coffer's
//! versioned ciphertext format, 256-bit keys that zeroize on drop, Shamir
//! secret sharing over GF(2^8), and randomness. A leaf module: no tokio, no
//! tonic, no storage.

pub mod aead;
pub mod key;
pub mod shamir;

pub use key::Key256;

/// Why a cryptographic operation failed. Never carries key material or
/// plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The ciphertext is malformed, was tampered with, was moved to another
    /// object, or was encrypted under another key.
    #[error("decryption failed: the ciphertext is corrupt, moved, or under another key")]
    Integrity,
    /// The ciphertext names a keyring term this node does not have.
    #[error("unknown keyring term {0}")]
    UnknownTerm(u32),
    /// An unsupported ciphertext format version.
    #[error("unsupported ciphertext format {0}")]
    Format(u8),
    /// Invalid Shamir parameters or shares.
    #[error("invalid key shares: {0}")]
    Shares(&'static str),
    /// The system random generator failed.
    #[error("no randomness available")]
    Random,
}

/// Fills `buf` from the system's secure random generator.
pub fn random_fill(buf: &mut [u8]) -> Result<(), CryptoError> {
    aws_lc_rs::rand::fill(buf).map_err(|_| CryptoError::Random)
}

/// A random 128-bit id as 32 lowercase hex characters.
pub fn random_id() -> Result<String, CryptoError> {
    let mut id = [0u8; 16];
    random_fill(&mut id)?;
    Ok(hex::encode(id))
}

/// Compares two byte strings in constant time (for tokens and digests).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}
