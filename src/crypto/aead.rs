//! AES-256-GCM in coffer's ciphertext format:
//!
//! ```text
//! | format (1) = 1 | keyring term (4, big-endian) | nonce (12) | ciphertext + tag (16) |
//! ```
//!
//! The associated data binds a ciphertext to its place (vault, object type,
//! name, version, field); the format byte and term are authenticated too, so
//! neither can be changed without failing decryption.
//!
//! Nonces are 96 random bits per encryption. Random nonces are safe for up
//! to 2^32 encryptions under one key; each node asks for a new data key
//! after [`MAX_ENCRYPTIONS_PER_TERM`] encryptions of its own, which keeps a
//! cluster of up to 16 nodes below that bound (the count restarts with the
//! node, so it is a budget per node run, not a cluster-wide count).

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use zeroize::Zeroizing;

use super::{random_fill, CryptoError, Key256};

/// Current format version.
pub const FORMAT: u8 = 1;
const HEADER: usize = 1 + 4 + NONCE_LEN;
const TAG: usize = 16;
/// Encryptions a node performs under one data key before it asks for a
/// rotation: 16 nodes' worth stays below the 2^32 bound for random nonces.
pub const MAX_ENCRYPTIONS_PER_TERM: u64 = 1 << 28;

fn cipher(key: &Key256) -> Result<LessSafeKey, CryptoError> {
    UnboundKey::new(&AES_256_GCM, key.expose()).map(LessSafeKey::new).map_err(|_| CryptoError::Integrity)
}

fn aad_with_header(header: &[u8], aad: &[u8]) -> Vec<u8> {
    let mut full = Vec::with_capacity(5 + aad.len());
    full.extend_from_slice(&header[..5]);
    full.extend_from_slice(aad);
    full
}

/// Encrypts `plaintext` under `key` (of keyring `term`), bound to `aad`.
pub fn seal(key: &Key256, term: u32, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut out = Vec::with_capacity(HEADER + plaintext.len() + TAG);
    out.push(FORMAT);
    out.extend_from_slice(&term.to_be_bytes());
    let mut nonce = [0u8; NONCE_LEN];
    random_fill(&mut nonce)?;
    out.extend_from_slice(&nonce);
    let full_aad = aad_with_header(&out, aad);
    let mut body = plaintext.to_vec();
    cipher(key)?
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(&full_aad), &mut body)
        .map_err(|_| CryptoError::Integrity)?;
    out.extend_from_slice(&body);
    Ok(out)
}

/// The keyring term a ciphertext was sealed under.
pub fn term_of(ciphertext: &[u8]) -> Result<u32, CryptoError> {
    if ciphertext.len() < HEADER + TAG {
        return Err(CryptoError::Integrity);
    }
    if ciphertext[0] != FORMAT {
        return Err(CryptoError::Format(ciphertext[0]));
    }
    Ok(u32::from_be_bytes([ciphertext[1], ciphertext[2], ciphertext[3], ciphertext[4]]))
}

/// Decrypts a ciphertext made by [`seal`] under `key` with the same `aad`.
pub fn open(key: &Key256, aad: &[u8], ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    term_of(ciphertext)?;
    let (header, body) = ciphertext.split_at(HEADER);
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&header[5..]);
    let full_aad = aad_with_header(header, aad);
    let mut buf = Zeroizing::new(body.to_vec());
    let len = cipher(key)?
        .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(&full_aad), buf.as_mut_slice())
        .map_err(|_| CryptoError::Integrity)?
        .len();
    buf.truncate(len);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let k = Key256::generate().unwrap();
        let ct = seal(&k, 7, b"vault/a/secret/x", b"hunter2").unwrap();
        assert_eq!(term_of(&ct).unwrap(), 7);
        assert_eq!(open(&k, b"vault/a/secret/x", &ct).unwrap().as_slice(), b"hunter2");
        // Another place, another key, a flipped bit, a changed term: all fail.
        assert_eq!(open(&k, b"vault/a/secret/y", &ct).unwrap_err(), CryptoError::Integrity);
        assert_eq!(open(&Key256::generate().unwrap(), b"vault/a/secret/x", &ct).unwrap_err(), CryptoError::Integrity);
        let mut bad = ct.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(open(&k, b"vault/a/secret/x", &bad).is_err());
        let mut other_term = ct.clone();
        other_term[4] ^= 1;
        assert!(open(&k, b"vault/a/secret/x", &other_term).is_err());
        assert!(open(&k, b"", &[1, 2, 3]).is_err());
        assert_eq!(term_of(&[9; 40]).unwrap_err(), CryptoError::Format(9));
    }

    #[test]
    fn nonces_differ() {
        let k = Key256::generate().unwrap();
        let a = seal(&k, 1, b"", b"same").unwrap();
        let b = seal(&k, 1, b"", b"same").unwrap();
        assert_ne!(a, b);
    }
}
