//! Shamir's secret sharing over GF(2^8) (the AES field, polynomial 0x11b),
//! byte by byte: share `x` holds `f_i(x)` for each secret byte `i`, where
//! `f_i` is a random polynomial of degree `threshold - 1` with `f_i(0)` the
//! secret byte. Any `threshold` shares recover the secret by Lagrange
//! interpolation at 0; fewer reveal nothing about it.

use zeroize::Zeroizing;

use super::{random_fill, CryptoError};

/// One share: its x coordinate (1..=255) and one y byte per secret byte.
#[derive(Clone)]
pub struct Share {
    /// The x coordinate, 1..=255.
    pub x: u8,
    /// One y value per byte of the secret.
    pub y: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Share(x={}, <redacted>)", self.x)
    }
}

fn mul(mut a: u8, mut b: u8) -> u8 {
    // Constant-time carry-less multiplication modulo x^8 + x^4 + x^3 + x + 1.
    let mut p = 0u8;
    for _ in 0..8 {
        p ^= a & 0u8.wrapping_sub(b & 1);
        let carry = a >> 7;
        a = (a << 1) ^ (0x1b & 0u8.wrapping_sub(carry));
        b >>= 1;
    }
    p
}

fn inv(a: u8) -> u8 {
    // a^254 = a^-1 in GF(2^8); fixed sequence of operations.
    let mut r = 1u8;
    let mut base = a;
    let mut e = 254u8;
    for _ in 0..8 {
        let m = mul(r, base);
        r = if e & 1 == 1 { m } else { r };
        base = mul(base, base);
        e >>= 1;
    }
    r
}

/// Splits `secret` into `shares` shares, any `threshold` of which recover it.
pub fn split(secret: &[u8], shares: u8, threshold: u8) -> Result<Vec<Share>, CryptoError> {
    if threshold == 0 || shares < threshold {
        return Err(CryptoError::Shares("need 1 <= threshold <= shares"));
    }
    if secret.is_empty() {
        return Err(CryptoError::Shares("empty secret"));
    }
    let t = threshold as usize;
    let mut out: Vec<Share> =
        (1..=shares).map(|x| Share { x, y: Zeroizing::new(Vec::with_capacity(secret.len())) }).collect();
    let mut coeffs = Zeroizing::new(vec![0u8; t]);
    for &byte in secret {
        coeffs[0] = byte;
        random_fill(&mut coeffs[1..])?;
        for share in &mut out {
            // Horner's rule.
            let mut y = 0u8;
            for &c in coeffs.iter().rev() {
                y = mul(y, share.x) ^ c;
            }
            share.y.push(y);
        }
    }
    Ok(out)
}

/// Recovers the secret from at least `threshold` distinct shares. With too
/// few or wrong shares the result is a wrong secret, not an error: callers
/// check it (coffer by decrypting the keyring).
pub fn combine(shares: &[Share]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let Some(first) = shares.first() else { return Err(CryptoError::Shares("no shares")) };
    let len = first.y.len();
    if shares.iter().any(|s| s.y.len() != len || s.x == 0) {
        return Err(CryptoError::Shares("shares of different secrets"));
    }
    for (i, a) in shares.iter().enumerate() {
        if shares[i + 1..].iter().any(|b| b.x == a.x) {
            return Err(CryptoError::Shares("duplicate share"));
        }
    }
    let mut secret = Zeroizing::new(vec![0u8; len]);
    for (i, si) in shares.iter().enumerate() {
        // Lagrange basis at 0: prod_{j != i} x_j / (x_j - x_i); minus is xor.
        let mut basis = 1u8;
        for (j, sj) in shares.iter().enumerate() {
            if i != j {
                basis = mul(basis, mul(sj.x, inv(sj.x ^ si.x)));
            }
        }
        for (out, y) in secret.iter_mut().zip(si.y.iter()) {
            *out ^= mul(basis, *y);
        }
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_inverse() {
        for a in 1..=255u8 {
            assert_eq!(mul(a, inv(a)), 1, "inverse of {a}");
        }
    }

    #[test]
    fn any_threshold_subset_recovers() {
        let secret: Vec<u8> = (0..32).collect();
        let shares = split(&secret, 5, 3).unwrap();
        for a in 0..5 {
            for b in a + 1..5 {
                for c in b + 1..5 {
                    let subset = [shares[a].clone(), shares[b].clone(), shares[c].clone()];
                    assert_eq!(combine(&subset).unwrap().as_slice(), secret.as_slice());
                }
            }
        }
        // Fewer than the threshold gives a different value.
        let two = [shares[0].clone(), shares[1].clone()];
        assert_ne!(combine(&two).unwrap().as_slice(), secret.as_slice());
        assert!(combine(&[shares[0].clone(), shares[0].clone()]).is_err());
        assert!(split(&secret, 2, 3).is_err());
        let one = split(&secret, 1, 1).unwrap();
        assert_eq!(combine(&one).unwrap().as_slice(), secret.as_slice());
    }
}
