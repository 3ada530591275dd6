//! Shamir secret sharing over GF(2^8), byte by byte: how a card set's logical token is split
//! across its K-of-N cards (docs/nshield-emulation.md §3.2).
//!
//! Every byte of the secret is the constant term of its own random polynomial of degree K−1;
//! card `x` (1..=N) holds the polynomial values at `x`. Any K shares rebuild the secret by
//! Lagrange interpolation at 0; K−1 shares are consistent with every possible secret equally
//! often, so they reveal nothing. Field arithmetic is branch-free (no log tables), so timing
//! does not depend on secret bytes.

use zeroize::{Zeroize, Zeroizing};

/// One card's part: its x coordinate (1..=255) and one y byte per secret byte.
#[derive(Clone, PartialEq, Eq)]
pub struct Share {
    pub x: u8,
    pub y: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Share {{ x: {}, y: <{} bytes> }}", self.x, self.y.len())
    }
}

impl Share {
    /// `x || y`, the form sealed into a card file.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut v = Zeroizing::new(Vec::with_capacity(1 + self.y.len()));
        v.push(self.x);
        v.extend_from_slice(&self.y);
        v
    }

    pub fn from_bytes(b: &[u8]) -> Option<Share> {
        let (&x, y) = b.split_first()?;
        (x != 0 && !y.is_empty()).then(|| Share { x, y: Zeroizing::new(y.to_vec()) })
    }
}

/// Why a split or a rebuild cannot be done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShamirError {
    /// K must be 1..=N and N at most 255 (x coordinates are bytes, 0 is the secret).
    BadQuorum,
    /// Shares of different lengths, a repeated x, or x = 0.
    BadShares,
    /// The random generator failed.
    Rng,
}

/// Multiplication in GF(2^8) modulo the AES polynomial x^8 + x^4 + x^3 + x + 1, in constant time.
pub fn gf_mul(mut a: u8, mut b: u8) -> u8 {
    let mut p = 0u8;
    for _ in 0..8 {
        p ^= a & 0u8.wrapping_sub(b & 1);
        let carry = 0u8.wrapping_sub(a >> 7);
        a = (a << 1) ^ (0x1B & carry);
        b >>= 1;
    }
    p
}

/// Multiplicative inverse (a^254); 0 maps to 0, callers never invert 0.
pub fn gf_inv(a: u8) -> u8 {
    // a^254 = a^(2+4+8+16+32+64+128)
    let mut result = 1u8;
    let mut sq = a;
    for _ in 0..7 {
        sq = gf_mul(sq, sq);
        result = gf_mul(result, sq);
    }
    result
}

/// Splits `secret` into `n` shares, any `k` of which rebuild it.
pub fn split(secret: &[u8], k: u8, n: u8) -> Result<Vec<Share>, ShamirError> {
    if k == 0 || n == 0 || k > n || secret.is_empty() {
        return Err(ShamirError::BadQuorum);
    }
    let k = k as usize;
    // coeffs[i*k + j]: coefficient j of byte i's polynomial; j = 0 is the secret byte.
    let mut coeffs = Zeroizing::new(vec![0u8; secret.len() * k]);
    if k > 1 {
        let mut rnd = Zeroizing::new(vec![0u8; secret.len() * (k - 1)]);
        aws_lc_rs::rand::fill(&mut rnd[..]).map_err(|_| ShamirError::Rng)?;
        for (i, chunk) in rnd.chunks(k - 1).enumerate() {
            coeffs[i * k + 1..(i + 1) * k].copy_from_slice(chunk);
        }
    }
    for (i, s) in secret.iter().enumerate() {
        coeffs[i * k] = *s;
    }
    let mut shares = Vec::with_capacity(n as usize);
    for x in 1..=n {
        let mut y = Zeroizing::new(vec![0u8; secret.len()]);
        for (i, out) in y.iter_mut().enumerate() {
            // Horner's rule from the highest coefficient down.
            let mut acc = 0u8;
            for j in (0..k).rev() {
                acc = gf_mul(acc, x) ^ coeffs[i * k + j];
            }
            *out = acc;
        }
        shares.push(Share { x, y });
    }
    Ok(shares)
}

/// Interpolates the shares at x = 0. Given at least K shares of one split this is the secret;
/// given fewer it is a value unrelated to it (the caller checks the result against a hash).
pub fn combine(shares: &[Share]) -> Result<Zeroizing<Vec<u8>>, ShamirError> {
    let first = shares.first().ok_or(ShamirError::BadShares)?;
    let len = first.y.len();
    for (i, s) in shares.iter().enumerate() {
        if s.x == 0 || s.y.len() != len || shares[..i].iter().any(|o| o.x == s.x) {
            return Err(ShamirError::BadShares);
        }
    }
    // Lagrange basis at 0: l_i = prod_{j != i} x_j / (x_j - x_i); subtraction is XOR.
    let mut basis = Vec::with_capacity(shares.len());
    for (i, si) in shares.iter().enumerate() {
        let mut num = 1u8;
        let mut den = 1u8;
        for (j, sj) in shares.iter().enumerate() {
            if i != j {
                num = gf_mul(num, sj.x);
                den = gf_mul(den, sj.x ^ si.x);
            }
        }
        basis.push(gf_mul(num, gf_inv(den)));
    }
    let mut out = Zeroizing::new(vec![0u8; len]);
    for (s, l) in shares.iter().zip(&basis) {
        for (o, y) in out.iter_mut().zip(s.y.iter()) {
            *o ^= gf_mul(*y, *l);
        }
    }
    basis.zeroize();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// All subsets of `0..n` with `k` elements.
    fn subsets(n: usize, k: usize) -> Vec<Vec<usize>> {
        (0u32..1 << n)
            .filter(|m| m.count_ones() as usize == k)
            .map(|m| (0..n).filter(|i| m & (1 << i) != 0).collect())
            .collect()
    }

    #[test]
    fn field_arithmetic() {
        // FIPS 197 §4.2: {57} • {83} = {c1}.
        assert_eq!(gf_mul(0x57, 0x83), 0xC1);
        for a in 1..=255u8 {
            assert_eq!(gf_mul(a, gf_inv(a)), 1, "inverse of {a}");
            assert_eq!(gf_mul(a, 1), a);
            assert_eq!(gf_mul(a, 0), 0);
        }
    }

    #[test]
    fn every_k_subset_rebuilds_and_no_smaller_one_does() {
        let mut secret = [0u8; 32];
        aws_lc_rs::rand::fill(&mut secret).unwrap();
        for (k, n) in [(2u8, 3u8), (3, 5), (1, 1), (1, 3), (5, 5)] {
            let shares = split(&secret, k, n).unwrap();
            assert_eq!(shares.len(), n as usize);
            for set in subsets(n as usize, k as usize) {
                let pick: Vec<Share> = set.iter().map(|i| shares[*i].clone()).collect();
                assert_eq!(&combine(&pick).unwrap()[..], &secret[..], "k={k} n={n} subset {set:?}");
            }
            if k > 1 {
                for set in subsets(n as usize, k as usize - 1) {
                    let pick: Vec<Share> = set.iter().map(|i| shares[*i].clone()).collect();
                    assert_ne!(&combine(&pick).unwrap()[..], &secret[..], "k-1 shares rebuilt it: {set:?}");
                }
            }
            // More than K shares rebuild it too.
            assert_eq!(&combine(&shares).unwrap()[..], &secret[..]);
        }
    }

    #[test]
    fn k_minus_one_shares_are_consistent_with_every_secret() {
        // Information-theoretic check on one byte: for 2-of-n, a share (x, y) is matched by
        // exactly one polynomial s + a·x for every candidate s; for 3-of-n, two shares are matched
        // by exactly one (a1, a2) for every s. So the shares do not favour any secret.
        let (x1, y1) = (1u8, 0x5Au8);
        let mut hits = [0u32; 256];
        for a in 0..=255u8 {
            hits[(y1 ^ gf_mul(a, x1)) as usize] += 1;
        }
        assert!(hits.iter().all(|h| *h == 1));

        let (x2, y2) = (3u8, 0xC4u8);
        let mut hits = [0u32; 256];
        for a1 in 0..=255u8 {
            for a2 in 0..=255u8 {
                let s = y1 ^ gf_mul(a1, x1) ^ gf_mul(a2, gf_mul(x1, x1));
                if s ^ gf_mul(a1, x2) ^ gf_mul(a2, gf_mul(x2, x2)) == y2 {
                    hits[s as usize] += 1;
                }
            }
        }
        assert!(hits.iter().all(|h| *h == 1), "{hits:?}");
    }

    #[test]
    fn bad_quorum_and_shares_are_refused() {
        assert_eq!(split(b"s", 0, 3).unwrap_err(), ShamirError::BadQuorum);
        assert_eq!(split(b"s", 4, 3).unwrap_err(), ShamirError::BadQuorum);
        assert_eq!(split(b"", 1, 1).unwrap_err(), ShamirError::BadQuorum);
        let shares = split(b"secret", 2, 3).unwrap();
        assert_eq!(combine(&[shares[0].clone(), shares[0].clone()]).unwrap_err(), ShamirError::BadShares);
        assert_eq!(combine(&[]).unwrap_err(), ShamirError::BadShares);
        let short = Share { x: 2, y: Zeroizing::new(vec![1]) };
        assert_eq!(combine(&[shares[0].clone(), short]).unwrap_err(), ShamirError::BadShares);
        let back = Share::from_bytes(&shares[1].to_bytes()).unwrap();
        assert_eq!(back, shares[1]);
        assert!(Share::from_bytes(&[0, 1, 2]).is_none());
    }

    #[test]
    fn shares_differ_between_splits() {
        let a = split(&[7u8; 32], 2, 3).unwrap();
        let b = split(&[7u8; 32], 2, 3).unwrap();
        assert_ne!(a[0].y, b[0].y, "coefficients must be random");
    }
}
