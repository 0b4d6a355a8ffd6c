//! Join tokens: `cjt_` + 64 hex (256 random bits, the secret) + `_` + 64
//! hex (SHA-256 of the cluster CA certificate). The secret admits one node
//! once (only its SHA-256 is stored); the fingerprint lets the joining
//! node, which trusts nothing yet, check that it talks to this cluster.

use zeroize::Zeroizing;

use crate::crypto::{random_fill, sha256, CryptoError};
use crate::proto::storage::JoinTokenRecord;

const PREFIX: &str = "cjt_";

/// A join token taken apart.
pub struct Parsed {
    /// SHA-256 of the secret: the stored record's key.
    pub hash: [u8; 32],
    /// SHA-256 of the cluster CA certificate (DER).
    pub ca_fingerprint: [u8; 32],
}

/// Parses a join token; `None` if it does not have the shape of one.
pub fn parse(token: &str) -> Option<Parsed> {
    let rest = token.trim().strip_prefix(PREFIX)?;
    let (secret, fingerprint) = rest.split_once('_')?;
    let secret = Zeroizing::new(hex32(secret)?);
    Some(Parsed { hash: sha256(secret.as_ref()), ca_fingerprint: hex32(fingerprint)? })
}

/// A new join token for the CA with `ca_fingerprint`, valid from `now` for
/// `ttl` seconds, and its record.
pub fn generate(
    ca_fingerprint: &[u8; 32],
    now: i64,
    ttl: i64,
) -> Result<(Zeroizing<String>, JoinTokenRecord), CryptoError> {
    let mut secret = Zeroizing::new([0u8; 32]);
    random_fill(secret.as_mut())?;
    let token = Zeroizing::new(format!("{PREFIX}{}_{}", hex::encode(secret.as_ref()), hex::encode(ca_fingerprint)));
    let record = JoinTokenRecord {
        hash: sha256(secret.as_ref()).to_vec(),
        created: now,
        expires: now.saturating_add(ttl),
        ..Default::default()
    };
    Ok((token, record))
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_tokens_round_trip_and_store_only_a_hash() {
        let fp = [9u8; 32];
        let (token, record) = generate(&fp, 100, 60).unwrap();
        let parsed = parse(&token).unwrap();
        assert_eq!(parsed.ca_fingerprint, fp);
        assert_eq!(parsed.hash.to_vec(), record.hash);
        assert_eq!(record.expires, 160);
        assert!(!format!("{record:?}").contains(&token[4..68]));
        for bad in ["", "cjt_", "cof_00", &token.replace("cjt_", "cof_"), &token[..token.len() - 2]] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }
}
