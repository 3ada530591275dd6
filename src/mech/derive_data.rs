//! The simple key derivations of PKCS#11 (v3.0 "Miscellaneous simple key derivation mechanisms"
//! and the AES/DES3 "encrypt data" derivations): CKM_AES_ECB_ENCRYPT_DATA,
//! CKM_AES_CBC_ENCRYPT_DATA, CKM_DES3_ECB_ENCRYPT_DATA, CKM_DES3_CBC_ENCRYPT_DATA (the value is
//! the base key's encryption of the data), CKM_XOR_BASE_AND_DATA, CKM_CONCATENATE_BASE_AND_KEY,
//! CKM_CONCATENATE_BASE_AND_DATA, CKM_CONCATENATE_DATA_AND_BASE and CKM_EXTRACT_KEY_FROM_KEY.
//!
//! Each returns its whole output: the token layer cuts it to CKA_VALUE_LEN, because whether a
//! cut is allowed depends on the base key's lineage (`token::derive`), which this layer never sees.

use super::aes::{BlockMech, AES_CBC, AES_ECB};
use super::des3::{DES3_CBC, DES3_ECB};
use super::{KeyMaterial, Mechanism, Params};
use crate::error::{err, Result};
use cryptoki_sys::*;
use zeroize::Zeroizing;

/// The longest data a derivation takes: no key here is longer, and the output is kept whole.
pub const MAX_DATA: usize = 1024;

/// CKM_{AES,DES3}_{ECB,CBC}_ENCRYPT_DATA over the block mechanism of the same cipher.
pub struct EncryptData {
    cipher: &'static BlockMech,
    block: usize,
    cbc: bool,
}

pub static AES_ECB_ENCRYPT_DATA: EncryptData = EncryptData { cipher: &AES_ECB, block: 16, cbc: false };
pub static AES_CBC_ENCRYPT_DATA: EncryptData = EncryptData { cipher: &AES_CBC, block: 16, cbc: true };
pub static DES3_ECB_ENCRYPT_DATA: EncryptData = EncryptData { cipher: &DES3_ECB, block: 8, cbc: false };
pub static DES3_CBC_ENCRYPT_DATA: EncryptData = EncryptData { cipher: &DES3_CBC, block: 8, cbc: true };

/// The data of a derivation: present, not longer than [`MAX_DATA`].
fn data_in(d: &[u8]) -> Result<&[u8]> {
    if d.is_empty() || d.len() > MAX_DATA {
        return err(CKR_MECHANISM_PARAM_INVALID);
    }
    Ok(d)
}

impl Mechanism for EncryptData {
    fn derive(&self, p: &Params, key: &KeyMaterial, _len: Option<usize>) -> Result<Zeroizing<Vec<u8>>> {
        let (cipher_params, data) = match (self.cbc, p) {
            (false, Params::Data(d)) => (Params::None, d),
            (true, Params::IvData { iv, data }) if iv.len() == self.block => (Params::Iv(iv.clone()), data),
            _ => return err(CKR_MECHANISM_PARAM_INVALID),
        };
        // No padding: the data must fill whole blocks (the derived value is its ciphertext).
        let data = data_in(data)?;
        if data.len() % self.block != 0 {
            return err(CKR_MECHANISM_PARAM_INVALID);
        }
        let mut op = self.cipher.encrypt(&cipher_params, key)?;
        let mut out = Zeroizing::new(vec![0u8; op.single_len(data.len())]);
        let n = op.single(data, &mut out)?;
        out.truncate(n);
        Ok(out)
    }
}

/// CKM_XOR_BASE_AND_DATA: the base key's value XOR the data, as long as the shorter of the two.
pub struct XorBaseAndData;
pub static XOR_BASE_AND_DATA: XorBaseAndData = XorBaseAndData;

impl Mechanism for XorBaseAndData {
    fn derive(&self, p: &Params, key: &KeyMaterial, _len: Option<usize>) -> Result<Zeroizing<Vec<u8>>> {
        let Params::Data(d) = p else { return err(CKR_MECHANISM_PARAM_INVALID) };
        let data = data_in(d)?;
        let base = secret_value(key)?;
        Ok(Zeroizing::new(base.iter().zip(data).map(|(a, b)| a ^ b).collect()))
    }
}

/// CKM_CONCATENATE_BASE_AND_KEY: the base key's value followed by the other key's.
pub struct ConcatenateBaseAndKey;
pub static CONCATENATE_BASE_AND_KEY: ConcatenateBaseAndKey = ConcatenateBaseAndKey;

impl Mechanism for ConcatenateBaseAndKey {
    fn derive_pair(&self, base: &KeyMaterial, other: &KeyMaterial) -> Result<Zeroizing<Vec<u8>>> {
        let (a, b) = (secret_value(base)?, secret_value(other)?);
        let mut out = Zeroizing::new(Vec::with_capacity(a.len() + b.len()));
        out.extend_from_slice(a);
        out.extend_from_slice(b);
        Ok(out)
    }
}

/// CKM_CONCATENATE_BASE_AND_DATA (`data_first` false: base then data) and
/// CKM_CONCATENATE_DATA_AND_BASE (data then base).
pub struct ConcatenateWithData {
    data_first: bool,
}
pub static CONCATENATE_BASE_AND_DATA: ConcatenateWithData = ConcatenateWithData { data_first: false };
pub static CONCATENATE_DATA_AND_BASE: ConcatenateWithData = ConcatenateWithData { data_first: true };

impl Mechanism for ConcatenateWithData {
    fn derive(&self, p: &Params, key: &KeyMaterial, _len: Option<usize>) -> Result<Zeroizing<Vec<u8>>> {
        let Params::Data(d) = p else { return err(CKR_MECHANISM_PARAM_INVALID) };
        let data = data_in(d)?;
        let base = secret_value(key)?;
        let (a, b) = if self.data_first { (data, base) } else { (base, data) };
        let mut out = Zeroizing::new(Vec::with_capacity(a.len() + b.len()));
        out.extend_from_slice(a);
        out.extend_from_slice(b);
        Ok(out)
    }
}

/// CKM_EXTRACT_KEY_FROM_KEY: the base key's bits b0 b1 ... (b0 the most significant bit of its
/// first byte) read from bit `CK_EXTRACT_PARAMS` on, wrapping around to b0. The whole rotation
/// is returned (as long as the base); the token layer cuts it to CKA_VALUE_LEN. An index past
/// the key's last bit names no bit: `CKR_MECHANISM_PARAM_INVALID`.
pub struct ExtractKeyFromKey;
pub static EXTRACT_KEY_FROM_KEY: ExtractKeyFromKey = ExtractKeyFromKey;

impl Mechanism for ExtractKeyFromKey {
    fn derive(&self, p: &Params, key: &KeyMaterial, _len: Option<usize>) -> Result<Zeroizing<Vec<u8>>> {
        let Params::BitIndex(i) = p else { return err(CKR_MECHANISM_PARAM_INVALID) };
        let base = secret_value(key)?;
        let bits = base.len() as u64 * 8;
        if base.is_empty() || *i as u64 >= bits {
            return err(CKR_MECHANISM_PARAM_INVALID);
        }
        let (byte, shift) = (*i as usize / 8, *i as u32 % 8);
        let n = base.len();
        let out = (0..n)
            .map(|k| {
                let hi = base[(byte + k) % n];
                let lo = base[(byte + k + 1) % n];
                if shift == 0 {
                    hi
                } else {
                    (hi << shift) | (lo >> (8 - shift))
                }
            })
            .collect();
        Ok(Zeroizing::new(out))
    }
}

/// The value of a secret key of any type (XOR and concatenation read bytes, not a cipher).
fn secret_value(key: &KeyMaterial) -> Result<&[u8]> {
    match key {
        KeyMaterial::Secret(s) => Ok(&s.value),
        _ => err(CKR_KEY_TYPE_INCONSISTENT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mech::testutil::*;

    fn secret(kt: CK_KEY_TYPE, v: &[u8]) -> KeyMaterial {
        material(&attrs(CKO_SECRET_KEY, kt, &[(CKA_VALUE, v)]))
    }

    #[test]
    fn xor_and_concatenate_follow_the_spec_examples() {
        // PKCS#11's own examples: 0x01234567 XOR 0x89ABCDEF = 0x88888888; concatenation of the
        // same two values is 0x0123456789ABCDEF.
        let base = secret(CKK_GENERIC_SECRET, &[0x01, 0x23, 0x45, 0x67]);
        let other = secret(CKK_GENERIC_SECRET, &[0x89, 0xAB, 0xCD, 0xEF]);
        let x = XOR_BASE_AND_DATA.derive(&Params::Data(vec![0x89, 0xAB, 0xCD, 0xEF]), &base, None).unwrap();
        assert_eq!(*x, [0x88; 4]);
        let short = XOR_BASE_AND_DATA.derive(&Params::Data(vec![0xFF]), &base, None).unwrap();
        assert_eq!(*short, [0xFE]);
        let c = CONCATENATE_BASE_AND_KEY.derive_pair(&base, &other).unwrap();
        assert_eq!(*c, [0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF]);
        assert_eq!(rv(XOR_BASE_AND_DATA.derive(&Params::Data(vec![]), &base, None)), CKR_MECHANISM_PARAM_INVALID);
        assert_eq!(rv(XOR_BASE_AND_DATA.derive(&Params::None, &base, None)), CKR_MECHANISM_PARAM_INVALID);
    }

    #[test]
    fn concatenate_with_data_and_extract_follow_the_spec_examples() {
        // PKCS#11: base 0x01234567 and data 0x89ABCDEF give 0x0123456789ABCDEF (base and data)
        // and 0x89ABCDEF01234567 (data and base); 0x329F84A9 from bit 21 is 0x9526...
        let base = secret(CKK_GENERIC_SECRET, &[0x01, 0x23, 0x45, 0x67]);
        let d = Params::Data(vec![0x89, 0xAB, 0xCD, 0xEF]);
        assert_eq!(
            *CONCATENATE_BASE_AND_DATA.derive(&d, &base, None).unwrap(),
            [1, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF]
        );
        assert_eq!(
            *CONCATENATE_DATA_AND_BASE.derive(&d, &base, None).unwrap(),
            [0x89, 0xAB, 0xCD, 0xEF, 1, 0x23, 0x45, 0x67]
        );
        assert_eq!(
            rv(CONCATENATE_BASE_AND_DATA.derive(&Params::Data(vec![]), &base, None)),
            CKR_MECHANISM_PARAM_INVALID
        );
        let k = secret(CKK_GENERIC_SECRET, &[0x32, 0x9F, 0x84, 0xA9]);
        let x = EXTRACT_KEY_FROM_KEY.derive(&Params::BitIndex(21), &k, None).unwrap();
        assert_eq!(x[..2], [0x95, 0x26]);
        // ... wrapping around: the whole rotation by 21 bits.
        let v = u32::from_be_bytes([0x32, 0x9F, 0x84, 0xA9]).rotate_left(21);
        assert_eq!(*x, v.to_be_bytes());
        assert_eq!(*EXTRACT_KEY_FROM_KEY.derive(&Params::BitIndex(8), &k, None).unwrap(), [0x9F, 0x84, 0xA9, 0x32]);
        assert_eq!(*EXTRACT_KEY_FROM_KEY.derive(&Params::BitIndex(0), &k, None).unwrap(), [0x32, 0x9F, 0x84, 0xA9]);
        for bad in [32, CK_ULONG::MAX] {
            assert_eq!(rv(EXTRACT_KEY_FROM_KEY.derive(&Params::BitIndex(bad), &k, None)), CKR_MECHANISM_PARAM_INVALID);
        }
    }

    #[test]
    fn encrypt_data_takes_whole_blocks_of_bounded_data() {
        let k = secret(CKK_AES, &[7u8; 16]);
        let ok = AES_ECB_ENCRYPT_DATA.derive(&Params::Data(vec![0u8; 32]), &k, None).unwrap();
        assert_eq!(ok.len(), 32);
        for bad in [vec![], vec![0u8; 15], vec![0u8; MAX_DATA + 16]] {
            assert_eq!(rv(AES_ECB_ENCRYPT_DATA.derive(&Params::Data(bad), &k, None)), CKR_MECHANISM_PARAM_INVALID);
        }
        let p = Params::IvData { iv: vec![0u8; 8], data: vec![0u8; 16] };
        assert_eq!(rv(AES_CBC_ENCRYPT_DATA.derive(&p, &k, None)), CKR_MECHANISM_PARAM_INVALID);
        // A DES3 mechanism does not take an AES key.
        assert_eq!(rv(DES3_ECB_ENCRYPT_DATA.derive(&Params::Data(vec![0u8; 8]), &k, None)), CKR_KEY_TYPE_INCONSISTENT);
    }
}
