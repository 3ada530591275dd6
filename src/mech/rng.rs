//! Random bytes from aws-lc's DRBG (`C_GenerateRandom`, key generation, IVs).

use crate::error::{Error, Result};
use cryptoki_sys::CKR_FUNCTION_FAILED;
use zeroize::Zeroizing;

/// Fills `buf` with random bytes. An engine failure is `CKR_FUNCTION_FAILED`.
pub fn fill(buf: &mut [u8]) -> Result<()> {
    aws_lc_rs::rand::fill(buf).map_err(|_| Error::new(CKR_FUNCTION_FAILED))
}

/// `n` random bytes in a buffer that is wiped when dropped.
pub fn random_vec(n: usize) -> Result<Zeroizing<Vec<u8>>> {
    let mut v = Zeroizing::new(vec![0u8; n]);
    fill(&mut v)?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_every_length_and_differs() {
        for n in [0usize, 1, 7, 16, 33, 4096] {
            let v = random_vec(n).unwrap();
            assert_eq!(v.len(), n);
        }
        // Two 32-byte draws colliding, or a draw being all zero, has probability 2^-256.
        let a = random_vec(32).unwrap();
        let b = random_vec(32).unwrap();
        assert_ne!(*a, *b);
        assert!(a.iter().any(|&x| x != 0));
        let mut buf = [0u8; 64];
        fill(&mut buf).unwrap();
        assert!(buf.iter().any(|&x| x != 0));
    }

    #[test]
    fn byte_values_are_spread() {
        // 64 KiB of output must hit every byte value (a stuck or biased generator would not):
        // the chance that a uniform source misses one of 256 values in 65536 draws is < 2^-360.
        let v = random_vec(65536).unwrap();
        let mut seen = [false; 256];
        for &x in v.iter() {
            seen[x as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }
}
