//! Triple DES (TDEA, 24-byte keys): CKM_DES3_ECB, CKM_DES3_CBC, CKM_DES3_CBC_PAD, with the AES
//! block-mode machinery over 8-byte blocks.
//!
//! aws-lc-rs refuses 3-key TDEA keys whose parts are not pairwise distinct and DES weak keys. A
//! key with K1 == K3 (and K1 != K2) is the legacy 2-key form written out in 24 bytes; it is run
//! as 2-key TDEA (K1, K2), which computes the same E_K1(D_K2(E_K1(x))). Keys that degenerate to
//! single DES (K1 == K2 or K2 == K3) and weak sub-keys are `CKR_KEY_TYPE_INCONSISTENT`.
//!
//! Two-key keys proper (CKK_DES2, 16 bytes K1 K2) run the same mechanisms as 2-key TDEA, but
//! only with the `weak_des` security assurance relaxed (80-bit strength, SP 800-57); without it
//! they are `CKR_KEY_TYPE_INCONSISTENT`, as an unsupported key type is.
#![allow(deprecated)] // aws-lc-rs marks every DES item deprecated (legacy algorithm).

use super::aes::{BlockCipher, BlockMech, Chain};
use super::key::SecretKey;
use super::KeyMaterial;
use crate::error::{err, Result};
use aws_lc_rs::cipher::{UnboundCipherKey, DES_EDE3_FOR_LEGACY_USE_ONLY, DES_EDE_FOR_LEGACY_USE_ONLY};
use cryptoki_sys::*;

pub(crate) const DES_BLOCK: usize = 8;
const DES3_KEY: usize = 24;
const DES2_KEY: usize = 16;

pub(crate) fn make_des3(v: &[u8]) -> Result<UnboundCipherKey> {
    // Parity bits are ignored by the engine, so compare keys without them.
    let same = |a: &[u8], b: &[u8]| a.iter().zip(b).all(|(x, y)| (x ^ y) & 0xfe == 0);
    if v.len() == DES2_KEY {
        if same(&v[..8], &v[8..]) {
            return err(CKR_KEY_TYPE_INCONSISTENT);
        }
        return Ok(UnboundCipherKey::new(&DES_EDE_FOR_LEGACY_USE_ONLY, v)?);
    }
    if v.len() != DES3_KEY {
        return err(CKR_KEY_SIZE_RANGE);
    }
    let (k1, k2, k3) = (&v[..8], &v[8..16], &v[16..]);
    if same(k1, k3) && !same(k1, k2) {
        return Ok(UnboundCipherKey::new(&DES_EDE_FOR_LEGACY_USE_ONLY, &v[..16])?);
    }
    Ok(UnboundCipherKey::new(&DES_EDE3_FOR_LEGACY_USE_ONLY, v)?)
}

/// Sets the parity bit (the low bit) of every byte so that each has an odd number of ones, as
/// DES key generators do (the engine ignores these bits). For the key values that C_GenerateKey
/// and `generatekey` make.
pub fn set_odd_parity(key: &mut [u8]) {
    for b in key.iter_mut() {
        let ones = (*b & 0xFE).count_ones();
        *b = (*b & 0xFE) | u8::from(ones % 2 == 0);
    }
}

/// The triple-DES key of `key`: type CKK_DES3, 24 bytes, or (with `weak_des` relaxed) CKK_DES2,
/// 16 bytes. Other types are `CKR_KEY_TYPE_INCONSISTENT`, other lengths `CKR_KEY_SIZE_RANGE`.
pub(crate) fn des3_key(key: &KeyMaterial) -> Result<&SecretKey> {
    let sk = key.secret(&[CKK_DES3, CKK_DES2])?;
    let want = match sk.key_type {
        CKK_DES2 if !crate::assurance::relaxed(crate::assurance::Assurance::WeakDes) => {
            return err(CKR_KEY_TYPE_INCONSISTENT)
        }
        CKK_DES2 => DES2_KEY,
        _ => DES3_KEY,
    };
    if sk.value.len() != want {
        return err(CKR_KEY_SIZE_RANGE);
    }
    Ok(sk)
}

static DES3: BlockCipher =
    BlockCipher { block: DES_BLOCK, key: des3_key, make: make_des3, bad_key: CKR_KEY_TYPE_INCONSISTENT };

pub static DES3_ECB: BlockMech = BlockMech::new(&DES3, Chain::Ecb, false);
pub static DES3_CBC: BlockMech = BlockMech::new(&DES3, Chain::Cbc, false);
pub static DES3_CBC_PAD: BlockMech = BlockMech::new(&DES3, Chain::Cbc, true);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mech::testutil::{h, multi, rv, secret, single};
    use crate::mech::{Mechanism, Params};

    fn des3(v: &[u8]) -> KeyMaterial {
        secret(CKK_DES3, v)
    }

    #[test]
    fn set_odd_parity_makes_every_byte_odd() {
        let mut k = [0u8, 1, 2, 0xFF, 0xFE, 0x80];
        set_odd_parity(&mut k);
        assert!(k.iter().all(|b| b.count_ones() % 2 == 1));
        assert_eq!(k, [0x01, 0x01, 0x02, 0xFE, 0xFE, 0x80]);
    }

    /// TDEA ECB encryption as SP 800-67 §3 defines it, from single-DES steps.
    fn tdea_by_single_des(k1: &[u8], k2: &[u8], k3: &[u8], pt: &[u8]) -> Vec<u8> {
        use aws_lc_rs::cipher::{DecryptingKey, EncryptingKey, EncryptionContext, DES_FOR_LEGACY_USE_ONLY};
        let enc = |k: &[u8], d: &mut Vec<u8>| {
            let key = EncryptingKey::ecb(UnboundCipherKey::new(&DES_FOR_LEGACY_USE_ONLY, k).unwrap()).unwrap();
            key.less_safe_encrypt(d, EncryptionContext::None).unwrap();
        };
        let mut d = pt.to_vec();
        enc(k1, &mut d);
        let key = DecryptingKey::ecb(UnboundCipherKey::new(&DES_FOR_LEGACY_USE_ONLY, k2).unwrap()).unwrap();
        key.decrypt(&mut d, aws_lc_rs::cipher::DecryptionContext::None).unwrap();
        enc(k3, &mut d);
        d
    }

    /// NIST SP 800-67 Rev. 1/2, Appendix B: TDEA ECB example ("The qufck brown fox jump").
    const SP800_67_KEY: &str = "0123456789ABCDEF 23456789ABCDEF01 456789ABCDEF0123";
    const SP800_67_PT: &str = "5468652071756663 6B2062726F776E20 666F78206A756D70";
    const SP800_67_CT: &str = "A826FD8CE53B855F CCE21C8112256FE6 68D5C05DD9B6B900";

    /// NIST CAVP tdesmmt.zip, TCBCMMT3.rsp [ENCRYPT] COUNT = 9.
    const MMT_KEY: &str = "9b162a0df8ad9b61 c88676e3d5864345 70b902f12a2046e0";
    const MMT_IV: &str = "ebd6fefe029ad54b";
    const MMT_PT: &str = "f4c1c918e77355c8156f0fd778da52bff121ae5f2f44eaf4d2754946d0e10d1f18ce3a0176e69c18b7d20b6e0d0bee5eb5edfe4bd60e4d92adcd86bce72e76f94ee5cbcaa8b01cfddcea2ade575e66ac";
    const MMT_CT: &str = "1ff3c8709f403a8eff291aedf50c010df5c5ff64a8b205f1fce68564798897a390db16ee0d053856b75898009731da290fcc119dad987277aacef694872e880c4bb41471063fae05c89f25e4bd0cad6a";

    #[test]
    fn sp800_67_ecb() {
        let key = des3(&h(SP800_67_KEY));
        let (pt, ct) = (h(SP800_67_PT), h(SP800_67_CT));
        assert_eq!(single(&mut *DES3_ECB.encrypt(&Params::None, &key).unwrap(), &pt).unwrap(), ct);
        assert_eq!(single(&mut *DES3_ECB.decrypt(&Params::None, &key).unwrap(), &ct).unwrap(), pt);
        for chunk in [1, 3, 7, 8, 9, 13] {
            assert_eq!(multi(&mut *DES3_ECB.encrypt(&Params::None, &key).unwrap(), &pt, &[chunk]).unwrap(), ct);
            assert_eq!(multi(&mut *DES3_ECB.decrypt(&Params::None, &key).unwrap(), &ct, &[chunk]).unwrap(), pt);
        }
        assert_eq!(DES3_ECB.wrap(&Params::None, &key, &pt).unwrap(), ct);
        assert_eq!(*DES3_ECB.unwrap(&Params::None, &key, &ct).unwrap(), pt);
    }

    #[test]
    fn cavp_tcbcmmt3_cbc() {
        let key = des3(&h(MMT_KEY));
        let iv = Params::Iv(h(MMT_IV));
        let (pt, ct) = (h(MMT_PT), h(MMT_CT));
        assert_eq!(single(&mut *DES3_CBC.encrypt(&iv, &key).unwrap(), &pt).unwrap(), ct);
        assert_eq!(single(&mut *DES3_CBC.decrypt(&iv, &key).unwrap(), &ct).unwrap(), pt);
        for chunk in [1, 5, 8, 11, 24, 79] {
            assert_eq!(multi(&mut *DES3_CBC.encrypt(&iv, &key).unwrap(), &pt, &[chunk]).unwrap(), ct);
            assert_eq!(multi(&mut *DES3_CBC.decrypt(&iv, &key).unwrap(), &ct, &[chunk]).unwrap(), pt);
        }
        // CBC-PAD of the same message: the published blocks, then one block of padding
        // (8 x 0x08) chained from the last ciphertext block.
        let padded = single(&mut *DES3_CBC_PAD.encrypt(&iv, &key).unwrap(), &pt).unwrap();
        assert_eq!(padded.len(), ct.len() + 8);
        assert_eq!(&padded[..ct.len()], &ct[..]);
        let last_iv = Params::Iv(ct[ct.len() - 8..].to_vec());
        let pad_block = single(&mut *DES3_CBC.encrypt(&last_iv, &key).unwrap(), &[8u8; 8]).unwrap();
        assert_eq!(&padded[ct.len()..], &pad_block[..]);
        assert_eq!(single(&mut *DES3_CBC_PAD.decrypt(&iv, &key).unwrap(), &padded).unwrap(), pt);
        assert_eq!(DES3_CBC.wrap(&iv, &key, &pt).unwrap(), ct);
        assert_eq!(*DES3_CBC_PAD.unwrap(&iv, &key, &padded).unwrap(), pt);
    }

    #[test]
    fn cbc_from_sp800_67_ecb() {
        // With a zero IV, CBC of P1, P2 ^ C1, P3 ^ C2 is C1, C2, C3 of the ECB example.
        let key = des3(&h(SP800_67_KEY));
        let (p, c) = (h(SP800_67_PT), h(SP800_67_CT));
        let mut chained = p.clone();
        for i in 8..24 {
            chained[i] ^= c[i - 8];
        }
        let iv = Params::Iv(vec![0; 8]);
        assert_eq!(single(&mut *DES3_CBC.encrypt(&iv, &key).unwrap(), &chained).unwrap(), c);
        assert_eq!(single(&mut *DES3_CBC.decrypt(&iv, &key).unwrap(), &c).unwrap(), chained);
    }

    #[test]
    fn cbc_pad_round_trips_and_errors() {
        let key = des3(&h(MMT_KEY));
        let iv = Params::Iv(h(MMT_IV));
        for len in 0..=33usize {
            let pt: Vec<u8> = (0..len as u8).map(|i| i ^ 0x5c).collect();
            let ct = single(&mut *DES3_CBC_PAD.encrypt(&iv, &key).unwrap(), &pt).unwrap();
            assert_eq!(ct.len(), (len / 8 + 1) * 8);
            let raw = single(&mut *DES3_CBC.decrypt(&iv, &key).unwrap(), &ct).unwrap();
            assert!(raw[len..].iter().all(|&b| b as usize == 8 - len % 8));
            for chunk in [1, 3, 8, 9] {
                assert_eq!(multi(&mut *DES3_CBC_PAD.encrypt(&iv, &key).unwrap(), &pt, &[chunk]).unwrap(), ct);
                assert_eq!(multi(&mut *DES3_CBC_PAD.decrypt(&iv, &key).unwrap(), &ct, &[chunk]).unwrap(), pt);
            }
            assert_eq!(*DES3_CBC_PAD.unwrap(&iv, &key, &DES3_CBC_PAD.wrap(&iv, &key, &pt).unwrap()).unwrap(), pt);
        }
        // Bad padding: a last byte of 0 and of 9 (> block size).
        for last in [0u8, 9] {
            let mut raw = [1u8; 16];
            raw[15] = last;
            let ct = single(&mut *DES3_CBC.encrypt(&iv, &key).unwrap(), &raw).unwrap();
            assert_eq!(rv(single(&mut *DES3_CBC_PAD.decrypt(&iv, &key).unwrap(), &ct)), CKR_ENCRYPTED_DATA_INVALID);
            assert_eq!(rv(DES3_CBC_PAD.unwrap(&iv, &key, &ct)), CKR_WRAPPED_KEY_INVALID);
        }
        for n in [1usize, 7, 9, 12] {
            let data = vec![0u8; n];
            assert_eq!(rv(single(&mut *DES3_ECB.encrypt(&Params::None, &key).unwrap(), &data)), CKR_DATA_LEN_RANGE);
            assert_eq!(rv(single(&mut *DES3_CBC.decrypt(&iv, &key).unwrap(), &data)), CKR_ENCRYPTED_DATA_LEN_RANGE);
            assert_eq!(rv(multi(&mut *DES3_CBC.encrypt(&iv, &key).unwrap(), &data, &[5])), CKR_DATA_LEN_RANGE);
            assert_eq!(rv(single(&mut *DES3_CBC_PAD.decrypt(&iv, &key).unwrap(), &data)), CKR_ENCRYPTED_DATA_LEN_RANGE);
            assert_eq!(rv(DES3_CBC.wrap(&iv, &key, &data)), CKR_KEY_SIZE_RANGE);
            assert_eq!(rv(DES3_CBC.unwrap(&iv, &key, &data)), CKR_WRAPPED_KEY_LEN_RANGE);
        }
    }

    #[test]
    fn key_and_param_checks() {
        let good = h(SP800_67_KEY);
        // Wrong lengths.
        for len in [0usize, 8, 16, 23, 25, 32] {
            let k = des3(&vec![0x5b; len]);
            assert_eq!(rv(DES3_ECB.encrypt(&Params::None, &k)), CKR_KEY_SIZE_RANGE);
            assert_eq!(rv(DES3_CBC.wrap(&Params::Iv(vec![0; 8]), &k, &[0; 8])), CKR_WRAPPING_KEY_SIZE_RANGE);
        }
        // Wrong key types.
        let aes = secret(CKK_AES, &good);
        assert_eq!(rv(DES3_ECB.encrypt(&Params::None, &aes)), CKR_KEY_TYPE_INCONSISTENT);
        assert_eq!(rv(DES3_ECB.unwrap(&Params::None, &aes, &[0; 8])), CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT);
        // Degenerate keys (single DES in disguise) are refused.
        let k1 = &good[..8];
        let k2 = &good[8..16];
        let k3 = &good[16..];
        for v in [[k1, k1, k3].concat(), [k1, k2, k2].concat(), [k1, k1, k1].concat()] {
            assert_eq!(rv(DES3_ECB.encrypt(&Params::None, &des3(&v))), CKR_KEY_TYPE_INCONSISTENT);
            assert_eq!(rv(DES3_CBC.decrypt(&Params::Iv(vec![0; 8]), &des3(&v))), CKR_KEY_TYPE_INCONSISTENT);
        }
        // K1 == K3 (2-key TDEA written out in 24 bytes) works, and is E_K1(D_K2(E_K1(x))) as
        // SP 800-67 defines it: checked against single-DES steps.
        let two_key = des3(&[k1, k2, k1].concat());
        let pt = h(SP800_67_PT);
        let ct = single(&mut *DES3_ECB.encrypt(&Params::None, &two_key).unwrap(), &pt).unwrap();
        assert_eq!(ct, tdea_by_single_des(k1, k2, k1, &pt));
        assert_eq!(single(&mut *DES3_ECB.decrypt(&Params::None, &two_key).unwrap(), &ct).unwrap(), pt);
        // The same single-DES composition reproduces the published 3-key example.
        assert_eq!(tdea_by_single_des(k1, k2, k3, &pt), h(SP800_67_CT));
        // Parameters.
        let key = des3(&good);
        assert_eq!(rv(DES3_CBC.encrypt(&Params::Iv(vec![0; 16]), &key)), CKR_MECHANISM_PARAM_INVALID);
        assert_eq!(rv(DES3_CBC.encrypt(&Params::None, &key)), CKR_MECHANISM_PARAM_INVALID);
        assert_eq!(rv(DES3_ECB.encrypt(&Params::Iv(vec![0; 8]), &key)), CKR_MECHANISM_PARAM_INVALID);
    }
}
