//! DSA (FIPS 186-4): key material from PKCS#11 attributes, CKM_DSA_PARAMETER_GEN,
//! CKM_DSA_KEY_PAIR_GEN, CKM_DSA (over a caller digest) and CKM_DSA_SHA1/224/256/384/512.
//!
//! Attribute conventions (PKCS#11 §2.2): CKA_PRIME (p), CKA_SUBPRIME (q), CKA_BASE (g), and
//! CKA_VALUE: y for a public key, x for a private key (big-endian). Signatures are r || s, each
//! q's length. Keys in use have p of 1024 to 3072 bits and q of 160, 224 or 256 bits (the FIPS
//! 186-4 sizes); generation makes L = 2048 or 3072 with N = 256 (1024/160 only where the SAM
//! override `weak_dsa` allows it).
//!
//! The arithmetic is aws-lc's through [`super::ffi`]; one engine key per object.

#![forbid(unsafe_code)]

use super::asn1;
use super::ffi::{self, Md};
use super::prehash::{self, DigestSigner, RawDigest};
use super::{KeyMaterial, Mechanism, Params, SignOp};
use crate::assurance::{relaxed, Assurance};
use crate::error::{err, Error, Result};
use crate::object::attr::{Attr, AttrMap};
use aws_lc_rs::digest;
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Sizes of p (bits) a DSA key may have (C_CreateObject, signing, verification).
pub const MIN_BITS: usize = 1024;
pub const MAX_BITS: usize = 3072;
/// Sizes of p generated without an override; 1024 bits needs `weak_dsa`.
pub const GEN_BITS: [usize; 2] = [2048, 3072];
pub const WEAK_GEN_BITS: usize = 1024;

/// A parsed DSA key.
pub struct DsaKey {
    pub(crate) engine: ffi::Dsa,
}

impl DsaKey {
    pub fn is_private(&self) -> bool {
        self.engine.is_private()
    }
    pub fn sig_len(&self) -> usize {
        self.engine.sig_len()
    }
}

impl std::fmt::Debug for DsaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DsaKey(private: {})", self.is_private())
    }
}

fn bad() -> Error {
    Error::new(CKR_ATTRIBUTE_VALUE_INVALID)
}

/// A big-endian attribute without its leading zeros, at most `max_bits` long (so nothing larger
/// reaches the engine).
pub(crate) fn bounded(attrs: &AttrMap, ty: CK_ATTRIBUTE_TYPE, max_bits: usize) -> Result<&[u8]> {
    let v = asn1::trim_be(attrs.bytes(ty).ok_or(CKR_TEMPLATE_INCOMPLETE)?);
    if v.is_empty() || v == [0] || bit_len(v) > max_bits {
        return Err(bad());
    }
    Ok(v)
}

pub(crate) fn bit_len(be: &[u8]) -> usize {
    match be.iter().position(|b| *b != 0) {
        None => 0,
        Some(i) => (be.len() - i) * 8 - be[i].leading_zeros() as usize,
    }
}

/// Builds the key of a DSA key object (CKA_PRIME, CKA_SUBPRIME, CKA_BASE, CKA_VALUE). Bounds
/// only, no primality or order test: a created private key's x is the caller's already, so a bad
/// group leaks nothing it did not know; generation (below) validates the group in full.
pub fn key_from_attrs(attrs: &AttrMap, private: bool) -> Result<DsaKey> {
    let p = bounded(attrs, CKA_PRIME, MAX_BITS)?;
    let q = bounded(attrs, CKA_SUBPRIME, 256)?;
    let g = bounded(attrs, CKA_BASE, MAX_BITS)?;
    let v = bounded(attrs, CKA_VALUE, MAX_BITS)?;
    if bit_len(p) < MIN_BITS {
        return Err(bad());
    }
    let engine = if private { ffi::Dsa::new_private(p, q, g, v) } else { ffi::Dsa::new_public(p, q, g, v) };
    Ok(DsaKey { engine: engine.map_err(|_| bad())? })
}

/// The attributes of a key: CKA_PRIME, CKA_SUBPRIME, CKA_BASE and CKA_VALUE (y, or x for a
/// private key, q's length).
pub fn key_attrs(key: &DsaKey) -> Result<AttrMap> {
    let parts = key.engine.parts().map_err(|_| Error::general())?;
    let mut m = AttrMap::new();
    m.set(CKA_PRIME, Attr::Bytes(parts.p));
    m.set(CKA_SUBPRIME, Attr::Bytes(parts.q));
    m.set(CKA_BASE, Attr::Bytes(parts.g));
    let value = if key.is_private() { key.engine.x().map_err(|_| Error::general())? } else { parts.y };
    m.set(CKA_VALUE, Attr::Bytes(value));
    Ok(m)
}

/// The public value y of a key, minimal big-endian.
pub fn public_value(key: &DsaKey) -> Result<Zeroizing<Vec<u8>>> {
    Ok(public_parts(key)?.y)
}

/// p, q, g and y of a key, minimal big-endian (SubjectPublicKeyInfo, PKCS#8).
pub type DsaPublicParts = ffi::DsaParts;

pub fn public_parts(key: &DsaKey) -> Result<DsaPublicParts> {
    key.engine.parts().map_err(|_| Error::general())
}

impl KeyMaterial {
    /// The DSA key for signing.
    pub fn dsa_private(&self) -> Result<&Arc<DsaKey>> {
        match self {
            KeyMaterial::DsaPrivate(k) => Ok(k),
            _ => err(CKR_KEY_TYPE_INCONSISTENT),
        }
    }
    /// The DSA key for verification: a public key or a private key's public half.
    pub fn dsa_public(&self) -> Result<&Arc<DsaKey>> {
        match self {
            KeyMaterial::DsaPrivate(k) | KeyMaterial::DsaPublic(k) => Ok(k),
            _ => err(CKR_KEY_TYPE_INCONSISTENT),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Signatures
// ---------------------------------------------------------------------------------------------

/// CKM_DSA's input: a digest of one of these lengths (PKCS#11 §2.2.5: SHA-1 to SHA-512).
static RAW_DIGEST: RawDigest = RawDigest { lens: &[20, 28, 32, 48, 64], max: 64 };

impl DigestSigner for DsaKey {
    fn sig_len(&self) -> usize {
        DsaKey::sig_len(self)
    }
    fn sign_digest(&self, digest: &[u8], out: &mut [u8]) -> std::result::Result<(), ()> {
        self.engine.sign(digest, out).map_err(|_| ())
    }
    fn verify_digest(&self, digest: &[u8], sig: &[u8]) -> bool {
        self.engine.verify(digest, sig)
    }
}

/// CKM_DSA (`hash: None`: the data is the digest) and CKM_DSA_SHAxxx.
pub struct Dsa {
    hash: Option<Md>,
}

pub static DSA: Dsa = Dsa { hash: None };
pub static DSA_SHA1: Dsa = Dsa { hash: Some(Md::Sha1) };
pub static DSA_SHA224: Dsa = Dsa { hash: Some(Md::Sha224) };
pub static DSA_SHA256: Dsa = Dsa { hash: Some(Md::Sha256) };
pub static DSA_SHA384: Dsa = Dsa { hash: Some(Md::Sha384) };
pub static DSA_SHA512: Dsa = Dsa { hash: Some(Md::Sha512) };

impl Mechanism for Dsa {
    fn sign(&self, p: &Params, key: &KeyMaterial) -> Result<Box<dyn SignOp>> {
        prehash::start(p, self.hash, &RAW_DIGEST, key.dsa_private()?)
    }
    fn verify(&self, p: &Params, key: &KeyMaterial) -> Result<Box<dyn SignOp>> {
        prehash::start(p, self.hash, &RAW_DIGEST, key.dsa_public()?)
    }
}

// ---------------------------------------------------------------------------------------------
// Generation
// ---------------------------------------------------------------------------------------------

/// The (L, N) pairs FIPS 186-4 §4.2 allows, 1024/160 only with `weak_dsa`.
fn allowed_sizes(l: usize, n: usize) -> Result<()> {
    let weak_ok = relaxed(Assurance::WeakDsa);
    match (l, n) {
        (2048, 224 | 256) | (3072, 256) => Ok(()),
        (1024, 160) if weak_ok => Ok(()),
        _ => err(CKR_KEY_SIZE_RANGE),
    }
}

/// CKM_DSA_PARAMETER_GEN: new domain parameters with a `bits`-bit prime (CKA_PRIME_BITS) and,
/// if given, a `sub_bits`-bit subprime (CKA_SUB_PRIME_BITS). aws-lc makes N = 256 for L = 2048
/// and 3072 (and N = 160 for the weak L = 1024); other pairs are `CKR_KEY_SIZE_RANGE`, and
/// N = 224 (valid, but not what the engine generates) `CKR_ATTRIBUTE_VALUE_INVALID`. Returns
/// CKA_PRIME, CKA_SUBPRIME, CKA_BASE, CKA_PRIME_BITS and CKA_SUB_PRIME_BITS.
pub fn generate_params(bits: CK_ULONG, sub_bits: Option<CK_ULONG>) -> Result<AttrMap> {
    let l = usize::try_from(bits).map_err(|_| Error::new(CKR_KEY_SIZE_RANGE))?;
    let n = if l >= 2048 { 256 } else { 160 };
    if !GEN_BITS.contains(&l) && l != WEAK_GEN_BITS {
        return err(CKR_KEY_SIZE_RANGE);
    }
    allowed_sizes(l, n)?;
    match sub_bits {
        Some(s) if s as usize == n => {}
        Some(224) if l == 2048 => return err(CKR_ATTRIBUTE_VALUE_INVALID),
        Some(_) => return err(CKR_KEY_SIZE_RANGE),
        None => {}
    }
    let parts = ffi::Dsa::generate_params(l as u32).map_err(|_| Error::new(CKR_FUNCTION_FAILED))?;
    if bit_len(&parts.p) != l || bit_len(&parts.q) != n {
        return err(CKR_FUNCTION_FAILED);
    }
    let mut m = AttrMap::new();
    m.set(CKA_PRIME, Attr::Bytes(parts.p));
    m.set(CKA_SUBPRIME, Attr::Bytes(parts.q));
    m.set(CKA_BASE, Attr::Bytes(parts.g));
    m.set(CKA_PRIME_BITS, Attr::Ulong(l as CK_ULONG));
    m.set(CKA_SUB_PRIME_BITS, Attr::Ulong(n as CK_ULONG));
    Ok(m)
}

/// CKM_DSA_KEY_PAIR_GEN: the domain parameters come from the public template (CKA_PRIME,
/// CKA_SUBPRIME, CKA_BASE, all required). They must be a FIPS 186-4 size (else
/// `CKR_KEY_SIZE_RANGE`; 1024-bit p only with `weak_dsa`) and valid: p and q prime, q | p - 1,
/// g of order q (else `CKR_DOMAIN_PARAMS_INVALID`).
pub struct DsaKeyPairGen;
pub static DSA_KEY_PAIR_GEN: DsaKeyPairGen = DsaKeyPairGen;

impl Mechanism for DsaKeyPairGen {
    fn generate_pair(&self, public: &AttrMap, _private: &AttrMap) -> Result<(AttrMap, AttrMap)> {
        let p = bounded(public, CKA_PRIME, MAX_BITS).map_err(size_or_invalid)?;
        let q = bounded(public, CKA_SUBPRIME, MAX_BITS).map_err(size_or_invalid)?;
        let g = bounded(public, CKA_BASE, MAX_BITS).map_err(size_or_invalid)?;
        allowed_sizes(bit_len(p), bit_len(q))?;
        let valid =
            validated_once(b"dsa", &[p, q, g], || ffi::Dsa::validate_params(p, q, g).map_err(|_| Error::general()))?;
        if !valid {
            return err(CKR_DOMAIN_PARAMS_INVALID);
        }
        // No sign-and-verify pairwise test (it tripled the cost, and SoftHSMv2 runs none): the
        // private object is rebuilt from x at once when it is completed, y = g^x computed anew
        // for its CKA_PUBLIC_KEY_INFO, and the engine checks the key's bounds.
        let key = DsaKey { engine: ffi::Dsa::generate_key(p, q, g).map_err(|_| Error::new(CKR_FUNCTION_FAILED))? };
        let private = key_attrs(&key)?;
        let mut public = private.subset(&[CKA_PRIME, CKA_SUBPRIME, CKA_BASE]);
        public.set(CKA_VALUE, Attr::Bytes(public_value(&key)?));
        Ok((public, private))
    }
}

/// How many validated groups [`validated_once`] remembers.
const VALIDATED_CAP: usize = 64;

/// Runs `check` (a costly validation of public domain parameters: primality tests) once per
/// distinct `parts`, remembering the groups that passed by their SHA-256, so the usual pattern of
/// many key pairs on one group pays for the validation once. Failures are not remembered.
pub(crate) fn validated_once(label: &[u8], parts: &[&[u8]], check: impl FnOnce() -> Result<bool>) -> Result<bool> {
    static SEEN: parking_lot::Mutex<std::collections::VecDeque<[u8; 32]>> =
        parking_lot::Mutex::new(std::collections::VecDeque::new());
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(label);
    for p in parts {
        // Length-prefixed, so (p, q) and (p', q') with p||q = p'||q' differ.
        ctx.update(&(p.len() as u64).to_be_bytes());
        ctx.update(p);
    }
    let id: [u8; 32] = ctx.finish().as_ref().try_into().map_err(|_| Error::general())?;
    if SEEN.lock().contains(&id) {
        return Ok(true);
    }
    let ok = check()?;
    if ok {
        let mut seen = SEEN.lock();
        if seen.len() == VALIDATED_CAP {
            seen.pop_front();
        }
        seen.push_back(id);
    }
    Ok(ok)
}

/// A template value too long for any supported size is a size problem, not a malformed value.
fn size_or_invalid(e: Error) -> Error {
    if e.rv() == CKR_ATTRIBUTE_VALUE_INVALID {
        Error::new(CKR_KEY_SIZE_RANGE)
    } else {
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mech::testutil::*;

    fn rfc6979() -> serde_json::Value {
        serde_json::from_str(include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/rfc6979_dsa2048.json")))
            .unwrap()
    }

    fn key(class: CK_OBJECT_CLASS, value: &str) -> AttrMap {
        let v = rfc6979();
        let f = |k: &str| h(v[k].as_str().unwrap());
        attrs(
            class,
            CKK_DSA,
            &[(CKA_PRIME, &f("p")), (CKA_SUBPRIME, &f("q")), (CKA_BASE, &f("g")), (CKA_VALUE, &f(value))],
        )
    }

    #[test]
    fn rfc6979_a22_sha256_sample_and_raw_digest_lengths() {
        let v = rfc6979();
        let case = &v["signatures"][4];
        assert_eq!((case["hash"].as_str(), case["message"].as_str()), (Some("SHA-256"), Some("sample")));
        let sig = [h(case["r"].as_str().unwrap()), h(case["s"].as_str().unwrap())].concat();
        let (public, private) = (material(&key(CKO_PUBLIC_KEY, "y")), material(&key(CKO_PRIVATE_KEY, "x")));
        verify(&DSA_SHA256, &Params::None, &public, b"sample", &sig).unwrap();
        // The private key computes the same y, and verifies through its public half.
        let KeyMaterial::DsaPrivate(k) = &private else { panic!() };
        assert_eq!(&public_value(k).unwrap()[..], &h(v["y"].as_str().unwrap())[..]);
        verify(&DSA_SHA256, &Params::None, &private, b"sample", &sig).unwrap();
        let d = digest(CKM_SHA256, b"sample");
        verify(&DSA, &Params::None, &public, &d, &sig).unwrap();
        // CKM_DSA takes SHA-1/2 digest lengths only.
        assert_eq!(rv(sign(&DSA, &Params::None, &private, &d[..31])), CKR_DATA_LEN_RANGE);
        assert_eq!(rv(sign(&DSA, &Params::None, &private, &[0; 65])), CKR_DATA_LEN_RANGE);
        assert_eq!(rv(sign(&DSA_SHA256, &Params::None, &public, b"x")), CKR_KEY_TYPE_INCONSISTENT);
        let fresh = sign_parts(&DSA_SHA512, &Params::None, &private, b"abc", 1).unwrap();
        verify(&DSA_SHA512, &Params::None, &public, b"abc", &fresh).unwrap();
    }

    #[test]
    fn generation_sizes_are_refused_before_any_work() {
        if !relaxed(Assurance::WeakDsa) {
            assert_eq!(rv(generate_params(1024, None)), CKR_KEY_SIZE_RANGE, "weak without weak_dsa");
        }
        for (l, n, want) in [
            (4096, None, CKR_KEY_SIZE_RANGE),
            (CK_ULONG::MAX, None, CKR_KEY_SIZE_RANGE),
            (2048, Some(160), CKR_KEY_SIZE_RANGE),
            (3072, Some(224), CKR_KEY_SIZE_RANGE),
            (2048, Some(224), CKR_ATTRIBUTE_VALUE_INVALID),
        ] {
            assert_eq!(rv(generate_params(l, n)), want, "{l}/{n:?}");
        }
    }
}
