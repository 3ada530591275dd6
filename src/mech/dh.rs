//! Diffie-Hellman (PKCS #3): key material from PKCS#11 attributes, CKM_DH_PKCS_KEY_PAIR_GEN and
//! CKM_DH_PKCS_DERIVE.
//!
//! Attribute conventions (PKCS#11 §2.5): CKA_PRIME (p), CKA_BASE (g), CKA_VALUE (y for a
//! public key, x for a private key), CKA_VALUE_BITS (the private value's length in bits). Keys in
//! use have p of 1024 to 8192 bits; generation needs 2048 bits or more unless the SAM override
//! `weak_dh` allows 1024.
//!
//! Ours, not PKCS#11's: CKA_SUBPRIME (q, the prime order of g) may be given in the public
//! template of CKM_DH_PKCS_KEY_PAIR_GEN and when a key is created. Generated keys carry it (both
//! halves) when q is a *small* subgroup order (q shorter than p - 1 by more than a bit, as in
//! RFC 5114); a key without it on a recognised RFC 5114 group gets q from [`dh_groups`]. A key
//! with q checks public values against it (y^q = 1 mod p): the peer's at derivation, its own
//! at import. For safe primes no q is kept: the range check 1 < y < p - 1 already excludes the
//! only small subgroup, {1, p - 1} (order 2), so a second full-length exponentiation would buy
//! nothing.
//!
//! [`dh_groups`]: super::dh_groups

#![forbid(unsafe_code)]

use super::dh_groups;
use super::dsa::{bit_len, bounded};
use super::ffi;
use super::{KeyMaterial, Mechanism, Params};
use crate::assurance::{relaxed, Assurance};
use crate::error::{err, Error, Result};
use crate::object::attr::{Attr, AttrMap, CKA_SHSM_VALUE_KNOWN};
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

/// Whether q is a small subgroup order for p (worth checking public values against): shorter
/// than p - 1 by more than a bit. A q | p - 1 of p's length less one is (p - 1) / 2 itself.
fn small_subgroup(p: &[u8], q: &[u8]) -> bool {
    bit_len(q) + 1 < bit_len(p)
}

/// The q a key on (p, g) checks public values against: CKA_SUBPRIME if given, else the q of a
/// recognised RFC 5114 group; none for safe primes (see the module comment).
fn key_subgroup<'a>(attrs: &'a AttrMap, p: &[u8], g: &[u8]) -> Result<Option<&'a [u8]>> {
    let q = match attrs.bytes(CKA_SUBPRIME) {
        Some(_) => Some(bounded(attrs, CKA_SUBPRIME, MAX_BITS)?),
        None => dh_groups::known(p, g).filter(|k| !k.safe).map(|k| &k.q[..]),
    };
    Ok(q.filter(|q| small_subgroup(p, q)))
}

/// Builds the key of a DH key object (CKA_PRIME, CKA_BASE, CKA_VALUE, optional CKA_SUBPRIME): p
/// odd and of a supported size, 1 < g < p - 1, q < p, 1 < y < p - 1 (and y^q = 1 with a q) for a
/// public key, 0 < x < p - 1 for a private key. A created private key's q is not checked against
/// its group: its value is the caller's own, and q only narrows the peers it accepts.
pub fn key_from_attrs(attrs: &AttrMap, private: bool) -> Result<DhKey> {
    let p = bounded(attrs, CKA_PRIME, MAX_BITS)?;
    let g = bounded(attrs, CKA_BASE, MAX_BITS)?;
    let v = bounded(attrs, CKA_VALUE, MAX_BITS)?;
    if bit_len(p) < MIN_BITS {
        return Err(bad());
    }
    let q = key_subgroup(attrs, p, g)?;
    let engine = if private { ffi::Dh::new_private(p, q, g, v) } else { ffi::Dh::new_public(p, q, g, v) };
    Ok(DhKey { engine: engine.map_err(|_| bad())? })
}

/// The attributes of a key: CKA_PRIME, CKA_BASE, CKA_SUBPRIME if it has a small q, CKA_VALUE (y,
/// or x for a private key), and for a private key CKA_VALUE_BITS.
pub fn key_attrs(key: &DhKey) -> Result<AttrMap> {
    let [p, g, y] = key.engine.parts().map_err(|_| Error::general())?;
    let mut m = AttrMap::new();
    if let Some(q) = key.engine.q() {
        m.set(CKA_SUBPRIME, Attr::Bytes(q));
    }
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

/// CKM_DH_PKCS_KEY_PAIR_GEN: p and g from the public template (CKA_PRIME, CKA_BASE, required;
/// CKA_SUBPRIME, q, optional); CKA_VALUE_BITS of the private template (an attribute of DH private
/// keys only: in the public template it is `CKR_ATTRIBUTE_TYPE_INVALID`, from the policy tables)
/// bounds the private value. p must have 2048 to 8192 bits (1024 with `weak_dh`; else
/// `CKR_KEY_SIZE_RANGE`). The group must be one that cannot leak x through y (else
/// `CKR_DOMAIN_PARAMS_INVALID`), see [`Subgroup`].
pub struct DhKeyPairGen;
pub static DH_PKCS_KEY_PAIR_GEN: DhKeyPairGen = DhKeyPairGen;

/// What generation knows of a group's structure.
#[derive(Debug, PartialEq, Eq)]
enum Subgroup {
    /// A safe prime, recognised (RFC 3526, RFC 7919) or tested: x below (p - 1) / 2 (or
    /// CKA_VALUE_BITS), no further check of peer values needed.
    Safe,
    /// g has the small prime order q (RFC 5114, or a caller's checked CKA_SUBPRIME): x in
    /// [1, q - 1], peer values checked for y^q = 1.
    Order(Vec<u8>),
    /// A prime of unknown structure, under the `dh_group` override only: the key is born known.
    Unverified,
}

/// A validation of (p, q, g), public values (q empty when there is none).
type GroupCheck = fn(&[u8], &[u8], &[u8]) -> ffi::R<bool>;

/// Classifies (p, g, caller's q): an exact match of a recognised group needs no primality test;
/// anything else is validated once per group (`validated_once`). A caller q must be prime, at
/// least [`MIN_VALUE_BITS`] long (a short one would make x guessable), divide p - 1, and be the
/// order of g; a bare p must be a safe prime, or merely prime under `dh_group`.
fn classify(p: &[u8], g: &[u8], q: Option<&[u8]>) -> Result<Subgroup> {
    let invalid = || Error::new(CKR_DOMAIN_PARAMS_INVALID);
    let once = |label: &[u8], parts: &[&[u8]], check: GroupCheck| {
        super::dsa::validated_once(label, parts, || check(p, q.unwrap_or_default(), g).map_err(|_| Error::general()))
    };
    if let Some(k) = dh_groups::known(p, g) {
        return match q {
            Some(q) if q != k.q => Err(invalid()),
            _ if k.safe => Ok(Subgroup::Safe),
            _ => Ok(Subgroup::Order(k.q.clone())),
        };
    }
    if let Some(q) = q {
        if bit_len(q) < MIN_VALUE_BITS || !once(b"dh-q", &[p, q, g], ffi::Dh::subgroup_valid)? {
            return Err(invalid());
        }
        return Ok(if small_subgroup(p, q) { Subgroup::Order(q.to_vec()) } else { Subgroup::Safe });
    }
    if once(b"dh-safe", &[p], |p, _, _| ffi::Dh::safe_prime(p))? {
        return Ok(Subgroup::Safe);
    }
    if relaxed(Assurance::DhGroup) && once(b"dh", &[p], |p, _, _| ffi::Dh::prime_plausible(p))? {
        return Ok(Subgroup::Unverified);
    }
    Err(invalid())
}

impl Mechanism for DhKeyPairGen {
    fn generate_pair(&self, public: &AttrMap, private: &AttrMap) -> Result<(AttrMap, AttrMap)> {
        let too_big = |e: Error| if e.rv() == CKR_ATTRIBUTE_VALUE_INVALID { Error::new(CKR_KEY_SIZE_RANGE) } else { e };
        let p = bounded(public, CKA_PRIME, MAX_BITS).map_err(too_big)?;
        let g = bounded(public, CKA_BASE, MAX_BITS).map_err(|_| Error::new(CKR_DOMAIN_PARAMS_INVALID))?;
        let q = match public.bytes(CKA_SUBPRIME) {
            Some(_) => {
                Some(bounded(public, CKA_SUBPRIME, MAX_BITS).map_err(|_| Error::new(CKR_DOMAIN_PARAMS_INVALID))?)
            }
            None => None,
        };
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
        let group = classify(p, g, q)?;
        let order = match &group {
            Subgroup::Order(q) => Some(&q[..]),
            _ => None,
        };
        let engine = ffi::Dh::generate(p, order, g, value_bits).map_err(|_| Error::new(CKR_DOMAIN_PARAMS_INVALID))?;
        let key = DhKey { engine };
        let mut priv_attrs = key_attrs(&key)?;
        if group == Subgroup::Unverified {
            // Whoever chose p may solve for x from y: the key is marked known, so the token
            // (module::new_object::complete_new, module::lineage::at_birth) records it as never
            // having been protected: CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE false.
            priv_attrs.set(CKA_SHSM_VALUE_KNOWN, Attr::Bool(true));
        }
        let mut pub_attrs = priv_attrs.subset(&[CKA_PRIME, CKA_BASE, CKA_SUBPRIME]);
        pub_attrs.set(CKA_VALUE, Attr::Bytes(public_value(&key)?));
        Ok((pub_attrs, priv_attrs))
    }
}

/// CKM_DH_PKCS_DERIVE: the parameter is the other party's public value y (big-endian, 1 < y <
/// p - 1, and y^q = 1 mod p for a key with a small q, else `CKR_MECHANISM_PARAM_INVALID`). The secret is y^x mod p at p's length (PKCS #3);
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
        // The group is recognised (RFC 5114 §2.3), so the key knows q: 2 is in range but not of
        // order q.
        assert_eq!(k.engine.q().as_deref().map(|q| q.len()), Some(32));
        assert_eq!(rv(DH_PKCS_DERIVE.derive(&Params::Raw(vec![2]), &a, None)), CKR_MECHANISM_PARAM_INVALID);
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
