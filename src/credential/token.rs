//! Token values: `cof_` + 64 hex characters (256 random bits). Only their
//! SHA-256 is stored.

use zeroize::Zeroizing;

use crate::crypto::{random_fill, sha256, CryptoError};
use crate::proto::storage::TokenRecord;

const PREFIX: &str = "cof_";

/// Whether `s` has the shape of a token (before any lookup).
pub fn looks_like_token(s: &str) -> bool {
    s.len() == PREFIX.len() + 64 && s.starts_with(PREFIX) && s[PREFIX.len()..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// A new token and its record (accessor random too). `expires` is computed
/// from `now` and `ttl` (0 = never).
pub fn generate(
    policy: &str,
    display_name: &str,
    now: i64,
    ttl: i64,
    renewable: bool,
) -> Result<(Zeroizing<String>, TokenRecord), CryptoError> {
    let mut secret = Zeroizing::new([0u8; 32]);
    random_fill(secret.as_mut())?;
    let token = Zeroizing::new(format!("{PREFIX}{}", hex::encode(secret.as_ref())));
    let mut accessor = [0u8; 16];
    random_fill(&mut accessor)?;
    let record = TokenRecord {
        accessor: hex::encode(accessor),
        hash: sha256(token.as_bytes()).to_vec(),
        policy: policy.into(),
        display_name: display_name.into(),
        created: now,
        expires: if ttl > 0 { now.saturating_add(ttl) } else { 0 },
        ttl: ttl.max(0),
        renewable,
    };
    Ok((token, record))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_only_hashed() {
        let (a, ra) = generate("root", "a", 100, 60, true).unwrap();
        let (b, _) = generate("root", "b", 100, 0, false).unwrap();
        assert!(looks_like_token(&a) && looks_like_token(&b));
        assert_ne!(*a, *b);
        assert_eq!(ra.expires, 160);
        assert_eq!(ra.hash, sha256(a.as_bytes()).to_vec());
        assert!(!format!("{ra:?}").contains(&a[4..]));
        assert!(!looks_like_token("cof_123") && !looks_like_token(&a.replace("cof_", "xyz_")));
    }
}
