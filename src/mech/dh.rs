//! Diffie-Hellman (PKCS #3): key material from PKCS#11 attributes, CKM_DH_PKCS_KEY_PAIR_GEN and
//! CKM_DH_PKCS_DERIVE.
//!
//! Attribute conventions (PKCS#11 §2.5): CKA_PRIME (p), CKA_BASE (g), CKA_VALUE (y for a
//! public key, x for a private key), CKA_VALUE_BITS (the private value's length in bits). Keys in
//! use have p of 1024 to 8192 bits; generation needs 2048 bits or more unless the SAM override
//! `weak_dh` allows 1024.

#![forbid(unsafe_code)]

use super::dsa::{bit_len, bounded};
use super::ffi;
use super::{KeyMaterial, Mechanism, Params};
use crate::assurance::{relaxed, Assurance};
use crate::error::{err, Error, Result};
use crate::object::attr::{Attr, AttrMap};
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Sizes of p (bits) a DH key may have.
pub const MIN_BITS: usize = 1024;
pub const MAX_BITS: usize = 8192;
/// The smallest p generated without `weak_dh`.
pub const GEN_MIN_BITS: usize = 2048;
/// The shortest private value CKA_VALUE_BITS may ask for (the smallest FIPS 186 subgroup).
const MIN_VALUE_BITS: usize = 160;

/// A parsed DH key.
pub struct DhKey {
    pub(crate) engine: ffi::Dh,
}

impl DhKey {
    pub fn is_private(&self) -> bool {
        self.engine.is_private()
    }
}

impl std::fmt::Debug for DhKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DhKey(private: {})", self.is_private())
    }
}

fn bad() -> Error {
    Error::new(CKR_ATTRIBUTE_VALUE_INVALID)
}

/// Builds the key of a DH key object (CKA_PRIME, CKA_BASE, CKA_VALUE): p odd and of a supported
/// size, 1 < g < p - 1, 1 < y < p - 1 for a public key, 0 < x < p - 1 for a private key.
pub fn key_from_attrs(attrs: &AttrMap, private: bool) -> Result<DhKey> {
    let p = bounded(attrs, CKA_PRIME, MAX_BITS)?;
    let g = bounded(attrs, CKA_BASE, MAX_BITS)?;
    let v = bounded(attrs, CKA_VALUE, MAX_BITS)?;
    if bit_len(p) < MIN_BITS {
        return Err(bad());
    }
    let engine = if private { ffi::Dh::new_private(p, g, v) } else { ffi::Dh::new_public(p, g, v) };
    Ok(DhKey { engine: engine.map_err(|_| bad())? })
}

/// The attributes of a key: CKA_PRIME, CKA_BASE, CKA_VALUE (y, or x for a private key), and for
/// a private key CKA_VALUE_BITS.
pub fn key_attrs(key: &DhKey) -> Result<AttrMap> {
    let [p, g, y] = key.engine.parts().map_err(|_| Error::general())?;
    let mut m = AttrMap::new();
    m.set(CKA_PRIME, Attr::Bytes(p));
    m.set(CKA_BASE, Attr::Bytes(g));
    if key.is_private() {
        let x = key.engine.x().map_err(|_| Error::general())?;
        m.set(CKA_VALUE_BITS, Attr::Ulong(bit_len(&x) as CK_ULONG));
        m.set(CKA_VALUE, Attr::Bytes(x));
    } else {
        m.set(CKA_VALUE, Attr::Bytes(y));
    }
    Ok(m)
}

/// The public value y of a key, minimal big-endian.
pub fn public_value(key: &DhKey) -> Result<Zeroizing<Vec<u8>>> {
    let [_, _, y] = public_parts(key)?;
    Ok(y)
}

/// p, g and y of a key, minimal big-endian (SubjectPublicKeyInfo).
pub fn public_parts(key: &DhKey) -> Result<[Zeroizing<Vec<u8>>; 3]> {
    key.engine.parts().map_err(|_| Error::general())
}

impl KeyMaterial {
    /// The DH key for derivation.
    pub fn dh_private(&self) -> Result<&Arc<DhKey>> {
        match self {
            KeyMaterial::DhPrivate(k) => Ok(k),
            _ => err(CKR_KEY_TYPE_INCONSISTENT),
        }
    }
}

/// CKM_DH_PKCS_KEY_PAIR_GEN: p and g from the public template (CKA_PRIME, CKA_BASE, required);
/// CKA_VALUE_BITS of the private template (an attribute of DH private keys only: in the public
/// template it is `CKR_ATTRIBUTE_TYPE_INVALID`, from the policy tables) bounds the private value. p must have 2048 to 8192 bits (1024 with `weak_dh`; else
/// `CKR_KEY_SIZE_RANGE`) and pass a primality test (else `CKR_DOMAIN_PARAMS_INVALID`).
pub struct DhKeyPairGen;
pub static DH_PKCS_KEY_PAIR_GEN: DhKeyPairGen = DhKeyPairGen;

impl Mechanism for DhKeyPairGen {
    fn generate_pair(&self, public: &AttrMap, private: &AttrMap) -> Result<(AttrMap, AttrMap)> {
        let too_big = |e: Error| if e.rv() == CKR_ATTRIBUTE_VALUE_INVALID { Error::new(CKR_KEY_SIZE_RANGE) } else { e };
        let p = bounded(public, CKA_PRIME, MAX_BITS).map_err(too_big)?;
        let g = bounded(public, CKA_BASE, MAX_BITS).map_err(|_| Error::new(CKR_DOMAIN_PARAMS_INVALID))?;
        let p_bits = bit_len(p);
        let min = if relaxed(Assurance::WeakDh) { MIN_BITS } else { GEN_MIN_BITS };
        if p_bits < min {
            return err(CKR_KEY_SIZE_RANGE);
        }
        let value_bits = match private.ulong(CKA_VALUE_BITS).map(|b| b as usize) {
            Some(b) if !(MIN_VALUE_BITS..=p_bits).contains(&b) => return err(CKR_ATTRIBUTE_VALUE_INVALID),
            Some(b) => Some(b as u32),
            None => None,
        };
        if !super::dsa::validated_once(b"dh", &[p], || ffi::Dh::prime_plausible(p).map_err(|_| Error::general()))? {
            return err(CKR_DOMAIN_PARAMS_INVALID);
        }
        let engine = ffi::Dh::generate(p, g, value_bits).map_err(|_| Error::new(CKR_DOMAIN_PARAMS_INVALID))?;
        let key = DhKey { engine };
        let priv_attrs = key_attrs(&key)?;
        let mut pub_attrs = priv_attrs.subset(&[CKA_PRIME, CKA_BASE]);
        pub_attrs.set(CKA_VALUE, Attr::Bytes(public_value(&key)?));
        Ok((pub_attrs, priv_attrs))
    }
}

/// CKM_DH_PKCS_DERIVE: the parameter is the other party's public value y (big-endian, 1 < y <
/// p - 1, else `CKR_MECHANISM_PARAM_INVALID`). The secret is y^x mod p at p's length (PKCS #3);
/// a requested length keeps its last `len` bytes ("the truncation removes bytes from the leading
/// end", PKCS#11 §2.5.7), a longer one is `CKR_KEY_SIZE_RANGE`.
pub struct DhDerive;
pub static DH_PKCS_DERIVE: DhDerive = DhDerive;

impl Mechanism for DhDerive {
    fn derive(&self, p: &Params, key: &KeyMaterial, len: Option<usize>) -> Result<Zeroizing<Vec<u8>>> {
        let Params::Raw(peer) = p else { return err(CKR_MECHANISM_PARAM_INVALID) };
        let key = key.dh_private()?;
        let peer = super::asn1::trim_be(peer);
        if peer.is_empty() || peer.len() > key.engine.p_len() {
            return err(CKR_MECHANISM_PARAM_INVALID);
        }
        let z = key.engine.agree(peer).map_err(|_| Error::new(CKR_MECHANISM_PARAM_INVALID))?;
        match len {
            None => Ok(z),
            Some(0) => err(CKR_KEY_SIZE_RANGE),
            Some(n) if n <= z.len() => Ok(Zeroizing::new(z[z.len() - n..].to_vec())),
            Some(_) => err(CKR_KEY_SIZE_RANGE),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mech::testutil::*;

    #[test]
    fn rfc5114_a3_and_truncation() {
        let v: serde_json::Value = serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/rfc5114_dh2048_256.json"
        )))
        .unwrap();
        let f = |k: &str| h(v[k].as_str().unwrap());
        let a = material(&attrs(
            CKO_PRIVATE_KEY,
            CKK_DH,
            &[(CKA_PRIME, &f("p")), (CKA_BASE, &f("g")), (CKA_VALUE, &f("xA"))],
        ));
        let KeyMaterial::DhPrivate(k) = &a else { panic!() };
        assert_eq!(&public_value(k).unwrap()[..], &f("yA")[..]);
        let z = DH_PKCS_DERIVE.derive(&Params::Raw(f("yB")), &a, None).unwrap();
        assert_eq!(&z[..], &f("Z")[..]);
        let tail = DH_PKCS_DERIVE.derive(&Params::Raw(f("yB")), &a, Some(16)).unwrap();
        assert_eq!(&tail[..], &f("Z")[256 - 16..]);
        assert_eq!(rv(DH_PKCS_DERIVE.derive(&Params::Raw(f("yB")), &a, Some(257))), CKR_KEY_SIZE_RANGE);
        assert_eq!(rv(DH_PKCS_DERIVE.derive(&Params::Raw(vec![1]), &a, None)), CKR_MECHANISM_PARAM_INVALID);
        assert_eq!(rv(DH_PKCS_DERIVE.derive(&Params::None, &a, None)), CKR_MECHANISM_PARAM_INVALID);
        // A public key is no base key.
        let public = material(&attrs(
            CKO_PUBLIC_KEY,
            CKK_DH,
            &[(CKA_PRIME, &f("p")), (CKA_BASE, &f("g")), (CKA_VALUE, &f("yB"))],
        ));
        assert_eq!(rv(DH_PKCS_DERIVE.derive(&Params::Raw(f("yA")), &public, None)), CKR_KEY_TYPE_INCONSISTENT);
    }
}
