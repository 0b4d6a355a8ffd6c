//! Text encoding of Shamir key shares: `cofshare1-` + hex of
//! (x, y bytes, first 4 bytes of SHA-256 of x‖y). The checksum catches typos
//! before a wrong share is combined.

use zeroize::Zeroizing;

use crate::crypto::{sha256, shamir::Share};

const PREFIX: &str = "cofshare1-";

/// Encodes a share for an operator to keep.
pub fn encode(share: &Share) -> String {
    let mut raw = Zeroizing::new(Vec::with_capacity(1 + share.y.len() + 4));
    raw.push(share.x);
    raw.extend_from_slice(&share.y);
    let sum = sha256(&raw);
    raw.extend_from_slice(&sum[..4]);
    format!("{PREFIX}{}", hex::encode(&*raw))
}

/// Decodes a share; `None` when it is malformed or mistyped.
pub fn decode(text: &str) -> Option<Share> {
    let hex_part = text.trim().strip_prefix(PREFIX)?;
    let raw = Zeroizing::new(hex::decode(hex_part).ok()?);
    if raw.len() < 6 {
        return None;
    }
    let (body, sum) = raw.split_at(raw.len() - 4);
    if !crate::crypto::constant_time_eq(&sha256(body)[..4], sum) || body[0] == 0 {
        return None;
    }
    Some(Share { x: body[0], y: Zeroizing::new(body[1..].to_vec()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_typos() {
        let share = Share { x: 3, y: Zeroizing::new(vec![1, 2, 3, 4]) };
        let text = encode(&share);
        let back = decode(&text).unwrap();
        assert_eq!((back.x, back.y.as_slice()), (3, &[1u8, 2, 3, 4][..]));
        let mut typo = text.clone().into_bytes();
        let i = typo.len() - 6;
        typo[i] = if typo[i] == b'0' { b'1' } else { b'0' };
        assert!(decode(std::str::from_utf8(&typo).unwrap()).is_none());
        assert!(decode("cofshare1-zz").is_none());
        assert!(decode("garbage").is_none());
    }
}
