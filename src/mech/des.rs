//! Single DES (CKK_DES, 8 bytes): CKM_DES_ECB, CKM_DES_CBC, CKM_DES_CBC_PAD over the AES
//! block-mode machinery; and what the token needs to know about DES-family keys: parity, weak
//! values, and how strong a key is (a weak key must not wrap a stronger one).
//!
//! Single DES and two-key triple DES (CKK_DES2, run by the CKM_DES3_* mechanisms in
//! [`super::des3`]) are usable only with the `weak_des` security assurance relaxed: the
//! registry marks their mechanisms, and [`super::des3`] refuses CKK_DES2 keys without it.
#![allow(deprecated)] // aws-lc-rs marks every DES item deprecated (legacy algorithm).

use super::aes::{BlockCipher, BlockMech, Chain};
use super::des3::DES_BLOCK;
use super::key::SecretKey;
use super::KeyMaterial;
use crate::error::{err, Result};
use aws_lc_rs::cipher::{EncryptingKey, UnboundCipherKey, DES_FOR_LEGACY_USE_ONLY};
use cryptoki_sys::*;

pub const DES_KEY: usize = 8;
pub const DES2_KEY: usize = 16;

fn make_des(v: &[u8]) -> Result<UnboundCipherKey> {
    Ok(UnboundCipherKey::new(&DES_FOR_LEGACY_USE_ONLY, v)?)
}

/// The single-DES key of `key`: type CKK_DES (`CKR_KEY_TYPE_INCONSISTENT`), 8 bytes
/// (`CKR_KEY_SIZE_RANGE`).
fn des_key(key: &KeyMaterial) -> Result<&SecretKey> {
    let sk = key.secret(&[CKK_DES])?;
    if sk.value.len() != DES_KEY {
        return err(CKR_KEY_SIZE_RANGE);
    }
    Ok(sk)
}

/// The engine refuses the four weak and twelve semi-weak keys (FIPS 74 §3.6).
static DES: BlockCipher =
    BlockCipher { block: DES_BLOCK, key: des_key, make: make_des, bad_key: CKR_KEY_TYPE_INCONSISTENT };

pub static DES_ECB: BlockMech = BlockMech::new(&DES, Chain::Ecb, false);
pub static DES_CBC: BlockMech = BlockMech::new(&DES, Chain::Cbc, false);
pub static DES_CBC_PAD: BlockMech = BlockMech::new(&DES, Chain::Cbc, true);

/// Whether every byte has odd parity (FIPS 46-3 §"key": the low bit of each byte makes the
/// number of ones odd). PKCS#11 requires DES keys to be created and unwrapped with it.
pub fn has_odd_parity(key: &[u8]) -> bool {
    key.iter().all(|b| b.count_ones() % 2 == 1)
}

/// The fixed value length of a DES-family key type.
pub fn fixed_len(kt: CK_KEY_TYPE) -> Option<usize> {
    match kt {
        CKK_DES => Some(DES_KEY),
        CKK_DES2 => Some(DES2_KEY),
        CKK_DES3 => Some(24),
        _ => None,
    }
}

/// Whether a freshly generated DES-family value is one the ciphers accept: no weak or
/// semi-weak 8-byte part, and (DES2/DES3) no part equal to its neighbour. Generators draw
/// again when it is not (the chance is about 2^-52 per part).
pub fn usable_value(kt: CK_KEY_TYPE, v: &[u8]) -> bool {
    let parts_ok = v.chunks(DES_KEY).all(|k| {
        UnboundCipherKey::new(&DES_FOR_LEGACY_USE_ONLY, k).ok().and_then(|u| EncryptingKey::ecb(u).ok()).is_some()
    });
    let same = |a: &[u8], b: &[u8]| a.iter().zip(b).all(|(x, y)| (x ^ y) & 0xfe == 0);
    let distinct = v.chunks(DES_KEY).collect::<Vec<_>>().windows(2).all(|w| !same(w[0], w[1]));
    parts_ok && (kt == CKK_DES || distinct)
}

/// Security strength in bits (NIST SP 800-57 Part 1 Table 2) of a symmetric key of type `kt`
/// with value `v`: DES 56; two-key triple DES 80, also when written as a 3-key value with
/// K1 == K3; three-key triple DES 112; other secret keys their length in bits. Used to keep a
/// weak key from wrapping a stronger one.
pub fn strength_bits(kt: CK_KEY_TYPE, v: &[u8]) -> usize {
    let same = |a: &[u8], b: &[u8]| a.iter().zip(b).all(|(x, y)| (x ^ y) & 0xfe == 0);
    match kt {
        CKK_DES => 56,
        CKK_DES2 => 80,
        CKK_DES3 if v.len() == 24 && same(&v[..8], &v[16..]) => 80,
        CKK_DES3 => 112,
        _ => v.len().saturating_mul(8),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mech::testutil::{h, multi, rv, secret, single};
    use crate::mech::{Mechanism, Params};

    /// FIPS 81 Appendix B, Table B1 (ECB) and C1 (CBC): key 0123456789abcdef, IV 1234567890abcdef,
    /// "Now is the time for all ".
    const KEY: &str = "0123456789abcdef";
    const IV: &str = "1234567890abcdef";
    const PT: &str = "4e6f77206973207468652074696d6520666f7220616c6c20";
    const ECB: &str = "3fa40e8a984d48156a271787ab8883f9893d51ec4b563b53";
    const CBC: &str = "e5c7cdde872bf27c43e934008c389c0f683788499a7c05f6";

    #[test]
    fn fips81_ecb_and_cbc() {
        let k = secret(CKK_DES, &h(KEY));
        let (pt, iv) = (h(PT), Params::Iv(h(IV)));
        assert_eq!(single(&mut *DES_ECB.encrypt(&Params::None, &k).unwrap(), &pt).unwrap(), h(ECB));
        assert_eq!(single(&mut *DES_ECB.decrypt(&Params::None, &k).unwrap(), &h(ECB)).unwrap(), pt);
        assert_eq!(single(&mut *DES_CBC.encrypt(&iv, &k).unwrap(), &pt).unwrap(), h(CBC));
        assert_eq!(multi(&mut *DES_CBC.decrypt(&iv, &k).unwrap(), &h(CBC), &[5]).unwrap(), pt);
        let padded = single(&mut *DES_CBC_PAD.encrypt(&iv, &k).unwrap(), &pt).unwrap();
        assert_eq!(&padded[..24], &h(CBC)[..]);
        assert_eq!(single(&mut *DES_CBC_PAD.decrypt(&iv, &k).unwrap(), &padded).unwrap(), pt);
    }

    #[test]
    fn key_checks() {
        assert_eq!(rv(DES_ECB.encrypt(&Params::None, &secret(CKK_DES, &[1; 16]))), CKR_KEY_SIZE_RANGE);
        assert_eq!(rv(DES_ECB.encrypt(&Params::None, &secret(CKK_DES3, &h(KEY)))), CKR_KEY_TYPE_INCONSISTENT);
        // The weak key 0101010101010101 (FIPS 74 §3.6).
        assert_eq!(rv(DES_ECB.encrypt(&Params::None, &secret(CKK_DES, &[1; 8]))), CKR_KEY_TYPE_INCONSISTENT);
        assert!(!usable_value(CKK_DES, &[1; 8]) && usable_value(CKK_DES, &h(KEY)));
        assert!(!usable_value(CKK_DES2, &h("0123456789abcdef0123456789abcdef")));
        assert!(usable_value(CKK_DES2, &h("0123456789abcdef23456789abcdef01")));
        assert_eq!(
            rv(DES_CBC.encrypt(&Params::Iv(vec![0; 16]), &secret(CKK_DES, &h(KEY)))),
            CKR_MECHANISM_PARAM_INVALID
        );
    }

    #[test]
    fn parity_and_strength() {
        assert!(has_odd_parity(&h(KEY)));
        assert!(!has_odd_parity(&h("0023456789abcdef")));
        let k1 = h(KEY);
        let k2 = h("23456789abcdef01");
        assert_eq!(strength_bits(CKK_DES, &k1), 56);
        assert_eq!(strength_bits(CKK_DES2, &[k1.clone(), k2.clone()].concat()), 80);
        assert_eq!(strength_bits(CKK_DES3, &[k1.clone(), k2.clone(), k1.clone()].concat()), 80);
        assert_eq!(strength_bits(CKK_DES3, &[k2.clone(), k1.clone(), h("456789abcdef0123")].concat()), 112);
        assert_eq!(strength_bits(CKK_AES, &[0; 32]), 256);
    }
}
