//! A 256-bit symmetric key that zeroizes on drop and never prints.

use std::fmt;

use zeroize::Zeroizing;

use super::{random_fill, CryptoError};

/// 256 bits of key material (data keys, the root key).
#[derive(Clone)]
pub struct Key256(Zeroizing<[u8; 32]>);

impl Key256 {
    /// A fresh random key.
    pub fn generate() -> Result<Key256, CryptoError> {
        let mut k = Zeroizing::new([0u8; 32]);
        random_fill(k.as_mut())?;
        Ok(Key256(k))
    }

    /// A key from exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Key256> {
        let mut k = Zeroizing::new([0u8; 32]);
        if bytes.len() != 32 {
            return None;
        }
        k.copy_from_slice(bytes);
        Some(Key256(k))
    }

    /// The raw bytes (only for sealing the key itself or building a cipher).
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for Key256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key256(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted_and_keys_differ() {
        let a = Key256::generate().unwrap();
        let b = Key256::generate().unwrap();
        assert_ne!(a.expose(), b.expose());
        let shown = format!("{a:?}");
        assert_eq!(shown, "Key256(<redacted>)");
        assert!(Key256::from_slice(&[0u8; 31]).is_none());
    }
}
