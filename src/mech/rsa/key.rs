//! RSA key material: the engine key of an RSA key object (CRT values computed and p and q
//! recovered when the object lacks them), and a key's attributes.

use super::{RsaKey, MAX_BITS, MIN_BITS, WEAK_PUBLIC_MIN_BITS};
use crate::error::{err, Error, Result};
use crate::mech::{ffi, KeyMaterial};
use crate::object::attr::{Attr, AttrMap};
use cryptoki_sys::*;
use rsa::BigUint;
use std::sync::Arc;
use zeroize::Zeroizing;

fn bad() -> Error {
    Error::new(CKR_ATTRIBUTE_VALUE_INVALID)
}

fn required(attrs: &AttrMap, t: CK_ATTRIBUTE_TYPE) -> Result<&[u8]> {
    match attrs.bytes(t) {
        None => err(CKR_TEMPLATE_INCOMPLETE),
        Some(v) if v.iter().all(|&b| b == 0) => Err(bad()),
        Some(v) => Ok(v),
    }
}

/// A big integer, wiped when dropped (these are key components).
fn big(b: &[u8]) -> Zeroizing<BigUint> {
    Zeroizing::new(BigUint::from_bytes_be(b))
}

fn be(x: &BigUint) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(x.to_bytes_be())
}

/// Builds the key of an RSA key object: public from CKA_MODULUS and CKA_PUBLIC_EXPONENT; private
/// from those, CKA_PRIVATE_EXPONENT and the CRT values — computed when missing (p and q are
/// recovered from n, e, d when absent). Inconsistent or out-of-range values are
/// `CKR_ATTRIBUTE_VALUE_INVALID`, missing ones `CKR_TEMPLATE_INCOMPLETE`.
pub fn key_from_attrs(attrs: &AttrMap, private: bool) -> Result<RsaKey> {
    let n = required(attrs, CKA_MODULUS)?;
    let e = required(attrs, CKA_PUBLIC_EXPONENT)?;
    let bits = big(n).bits();
    // A public key of 512 bits or more: `weak_rsa` lets a legacy client verify with one (what
    // it trusts is its own affair). Nothing is encrypted or wrapped to such a key
    // ([`super::strong_public`]), and no private key below 1024 bits is used.
    let min = if !private && crate::assurance::relaxed(crate::assurance::Assurance::WeakRsa) {
        WEAK_PUBLIC_MIN_BITS
    } else {
        MIN_BITS
    };
    if !(min..=MAX_BITS).contains(&bits) {
        return Err(bad());
    }
    let engine = if !private {
        ffi::Rsa::new_public(n, e).map_err(|_| bad())?
    } else {
        let d = required(attrs, CKA_PRIVATE_EXPONENT)?;
        let given = [CKA_PRIME_1, CKA_PRIME_2, CKA_EXPONENT_1, CKA_EXPONENT_2, CKA_COEFFICIENT].map(|t| attrs.bytes(t));
        let crt = match given {
            [Some(p), Some(q), Some(dp), Some(dq), Some(qi)] => [
                Zeroizing::new(p.to_vec()),
                Zeroizing::new(q.to_vec()),
                dp.to_vec().into(),
                dq.to_vec().into(),
                qi.to_vec().into(),
            ],
            [Some(p), Some(q), ..] => crt_values(&big(p), &big(q), &big(d)).ok_or_else(bad)?,
            _ => {
                let (p, q) = recover_factors(&big(n), &big(e), &big(d)).ok_or_else(bad)?;
                crt_values(&p, &q, &big(d)).ok_or_else(bad)?
            }
        };
        let [p, q, dp, dq, qi] = &crt;
        ffi::Rsa::new_private(n, e, [d, p, q, dp, dq, qi]).map_err(|_| bad())?
    };
    Ok(RsaKey { engine })
}

/// p, q, d mod (p-1), d mod (q-1), q^-1 mod p (p is prime, so q^(p-2) mod p).
fn crt_values(p: &BigUint, q: &BigUint, d: &BigUint) -> Option<[Zeroizing<Vec<u8>>; 5]> {
    let one = BigUint::from(1u32);
    let two = BigUint::from(2u32);
    if *p <= two || *q <= two {
        return None;
    }
    let dp = Zeroizing::new(d % (p - &one));
    let dq = Zeroizing::new(d % (q - &one));
    let qi = Zeroizing::new(q.modpow(&(p - &two), p));
    Some([be(p), be(q), be(&dp), be(&dq), be(&qi)])
}

pub(super) fn gcd(mut a: BigUint, mut b: BigUint) -> BigUint {
    let zero = BigUint::from(0u32);
    while b != zero {
        let r = &a % &b;
        a = b;
        b = r;
    }
    a
}

/// The prime factors (larger first) of n from e and d: the standard probabilistic method
/// (write de - 1 = 2^t r with r odd; for a base g, some g^(r 2^i) is a square root of 1 other
/// than ±1 with probability at least 1/2, and gcd(it - 1, n) is a factor). Small primes serve as
/// bases, so the result is deterministic.
fn recover_factors(n: &BigUint, e: &BigUint, d: &BigUint) -> Option<(Zeroizing<BigUint>, Zeroizing<BigUint>)> {
    let one = BigUint::from(1u32);
    let zero = BigUint::from(0u32);
    if *n <= BigUint::from(3u32) || *e == zero || *d == zero {
        return None;
    }
    let k = Zeroizing::new(d * e - &one);
    if *k == zero {
        return None;
    }
    let mut r = k.clone();
    let mut t = 0u32;
    while (&*r % 2u32) == zero {
        *r >>= 1usize;
        t += 1;
    }
    if t == 0 {
        return None;
    }
    let n1 = n - &one;
    const BASES: [u32; 40] = [
        2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101, 103, 107,
        109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167, 173,
    ];
    for g in BASES {
        let mut y = Zeroizing::new(BigUint::from(g).modpow(&r, n));
        if *y == one || *y == n1 {
            continue;
        }
        for _ in 0..t {
            let x = Zeroizing::new(&*y * &*y % n);
            if *x == one {
                let p = Zeroizing::new(gcd(&*y - &one, n.clone()));
                if *p == one || *p == *n {
                    break;
                }
                let q = Zeroizing::new(n / &*p);
                if &*p * &*q != *n {
                    return None;
                }
                return Some(if *p > *q { (p, q) } else { (q, p) });
            }
            if *x == n1 {
                break;
            }
            y = x;
        }
    }
    None
}

/// The attributes of a key: public CKA_MODULUS and CKA_PUBLIC_EXPONENT, plus the private
/// components for a private key.
pub fn key_attrs(key: &RsaKey) -> Result<AttrMap> {
    let parts = key.engine.parts().map_err(|_| Error::general())?;
    let mut m = AttrMap::new();
    m.set(CKA_MODULUS, Attr::Bytes(parts.n));
    m.set(CKA_PUBLIC_EXPONENT, Attr::Bytes(parts.e));
    if let Some(private) = parts.private {
        let types = [CKA_PRIVATE_EXPONENT, CKA_PRIME_1, CKA_PRIME_2, CKA_EXPONENT_1, CKA_EXPONENT_2, CKA_COEFFICIENT];
        for (t, v) in types.into_iter().zip(private) {
            m.set(t, Attr::Bytes(v));
        }
    }
    Ok(m)
}

impl KeyMaterial {
    /// The RSA key for a private-key operation (sign, decrypt, unwrap).
    pub fn rsa_private(&self) -> Result<&Arc<RsaKey>> {
        match self {
            KeyMaterial::RsaPrivate(k) => Ok(k),
            _ => err(CKR_KEY_TYPE_INCONSISTENT),
        }
    }
    /// The RSA key for a public-key operation (verify, encrypt, wrap): a public key, or the
    /// public half of a private key.
    pub fn rsa_public(&self) -> Result<&Arc<RsaKey>> {
        match self {
            KeyMaterial::RsaPrivate(k) | KeyMaterial::RsaPublic(k) => Ok(k),
            _ => err(CKR_KEY_TYPE_INCONSISTENT),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::*;
    use super::super::SHA1_RSA_PKCS;
    use super::*;
    use crate::mech::testutil::*;
    use crate::mech::Params;

    const NONE: Params = Params::None;

    fn ffi_key(m: &AttrMap) -> Arc<RsaKey> {
        match material(m) {
            KeyMaterial::RsaPrivate(k) => k,
            _ => panic!(),
        }
    }

    #[test]
    fn private_key_from_n_e_d_recovers_the_crt_values() {
        let full = private_attrs(&EX1, 8);
        let ned = private_attrs(&EX1, 3);
        let KeyMaterial::RsaPrivate(key) = material(&ned) else { panic!() };
        let got = key_attrs(&key).unwrap();
        for t in TYPES {
            assert_eq!(got.bytes(t), full.bytes(t), "attribute {t:#x}");
        }
        assert_eq!(sign(&SHA1_RSA_PKCS, &NONE, &KeyMaterial::RsaPrivate(key), &h(EX1_MSG)).unwrap(), h(EX1_SIG));
        // p and q given, CRT values missing: computed.
        let pq = private_attrs(&EX1, 5);
        let KeyMaterial::RsaPrivate(key) = material(&pq) else { panic!() };
        assert_eq!(key_attrs(&key).unwrap(), key_attrs(&ffi_key(&full)).unwrap());
        // Also for a freshly generated 2048-bit key (e = 65537) and the OAEP example key.
        let (_, private) = rsa_pair(2048);
        let mut ned = private.clone();
        for t in [CKA_PRIME_1, CKA_PRIME_2, CKA_EXPONENT_1, CKA_EXPONENT_2, CKA_COEFFICIENT] {
            ned.remove(t);
        }
        let KeyMaterial::RsaPrivate(key) = material(&ned) else { panic!() };
        let got = key_attrs(&key).unwrap();
        // Recovery orders p > q; generation may not.
        let (p, q) = (private.bytes(CKA_PRIME_1).unwrap(), private.bytes(CKA_PRIME_2).unwrap());
        let (gp, gq) = (got.bytes(CKA_PRIME_1).unwrap(), got.bytes(CKA_PRIME_2).unwrap());
        assert!((gp, gq) == (p, q) || (gp, gq) == (q, p));
        assert_eq!(got.bytes(CKA_PRIVATE_EXPONENT), private.bytes(CKA_PRIVATE_EXPONENT));
        let KeyMaterial::RsaPrivate(_) = material(&private_attrs(&OAEP1, 3)) else { panic!() };
        // Inconsistent d: refused.
        let mut bad = private_attrs(&EX1, 3);
        let mut d = h(EX1[2]);
        d[10] ^= 1;
        bad.set(CKA_PRIVATE_EXPONENT, Attr::bytes(d));
        assert_eq!(rv(KeyMaterial::from_attrs(&bad)), CKR_ATTRIBUTE_VALUE_INVALID);
    }

    #[test]
    fn key_material_is_validated() {
        let full = private_attrs(&EX1, 8);
        // Each CRT value corrupted in turn.
        for t in [CKA_PRIME_1, CKA_EXPONENT_1, CKA_EXPONENT_2, CKA_COEFFICIENT] {
            let mut bad = full.clone();
            let mut v = bad.bytes(t).unwrap().to_vec();
            v[3] ^= 2;
            bad.set(t, Attr::bytes(v));
            assert_eq!(rv(KeyMaterial::from_attrs(&bad)), CKR_ATTRIBUTE_VALUE_INVALID, "{t:#x}");
        }
        let mut missing = full.clone();
        missing.remove(CKA_MODULUS);
        assert_eq!(rv(KeyMaterial::from_attrs(&missing)), CKR_TEMPLATE_INCOMPLETE);
        let mut missing = full.clone();
        missing.remove(CKA_PRIVATE_EXPONENT);
        assert_eq!(rv(KeyMaterial::from_attrs(&missing)), CKR_TEMPLATE_INCOMPLETE);
        assert_eq!(rv(KeyMaterial::from_attrs(&public_attrs(EX1[0], ""))), CKR_ATTRIBUTE_VALUE_INVALID);
        // Even modulus, 512-bit modulus, even exponent, zero exponent.
        let mut even = h(EX1[0]);
        *even.last_mut().unwrap() ^= 1;
        for (n, e) in [
            (hex::encode(&even), "010001".to_string()),
            ("c3".repeat(64), "010001".into()),
            (EX1[0].into(), "010000".into()),
        ] {
            assert_eq!(rv(KeyMaterial::from_attrs(&public_attrs(&n, &e))), CKR_ATTRIBUTE_VALUE_INVALID, "{n} {e}");
        }
        assert_eq!(rv(KeyMaterial::from_attrs(&public_attrs(EX1[0], "00"))), CKR_ATTRIBUTE_VALUE_INVALID);
        // Leading zero bytes are fine.
        let KeyMaterial::RsaPublic(k) = material(&public_attrs(&format!("00{}", EX1[0]), "0000010001")) else {
            panic!()
        };
        assert_eq!(k.bits(), 1024);
        assert_eq!(k.len(), 128);
    }
}
