//! Ed25519 (RFC 8032): key material from PKCS#11 attributes, CKM_EC_EDWARDS_KEY_PAIR_GEN and
//! CKM_EDDSA (pure Ed25519; Ed25519ph and contexts are `CKR_MECHANISM_PARAM_INVALID`).
//!
//! Attributes (PKCS#11 3.0 §2.3.5): CKA_EC_PARAMS is the PrintableString "edwards25519" or the
//! OID 1.3.101.112 (we emit the OID); CKA_EC_POINT a DER OCTET STRING of the 32-byte public key
//! (the bare 32 bytes are accepted on import); CKA_VALUE the 32-byte private seed.
//!
//! All of it through aws-lc-rs's safe API. CKM_EDDSA needs the whole message, so `update`
//! buffers.

#![forbid(unsafe_code)]

use super::asn1;
use super::{KeyMaterial, Mechanism, Params, SignOp};
use crate::error::{err, Error, Result};
use crate::token::attr::{Attr, AttrMap};
use aws_lc_rs::signature::{self, Ed25519KeyPair, KeyPair as _};
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

/// CKA_EC_PARAMS as the OID id-Ed25519 (1.3.101.112), which we emit.
pub const ED25519_PARAMS_OID: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
/// CKA_EC_PARAMS as the PKCS#11 3.0 curve name.
pub const ED25519_PARAMS_NAME: &[u8] = b"\x13\x0cedwards25519";
/// DER OID contents of id-Ed25519.
pub const ID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

pub const SIG_LEN: usize = 64;

/// `Ok` when CKA_EC_PARAMS names Ed25519; another well-formed curve is
/// `CKR_CURVE_NOT_SUPPORTED`, anything else `CKR_DOMAIN_PARAMS_INVALID`.
pub fn check_params(params: &[u8]) -> Result<()> {
    if params == ED25519_PARAMS_OID || params == ED25519_PARAMS_NAME {
        return Ok(());
    }
    let mut r = asn1::Reader::new(params);
    match r.any() {
        Some((asn1::OID | asn1::PRINTABLE_STRING, _)) if r.end().is_some() => err(CKR_CURVE_NOT_SUPPORTED),
        _ => err(CKR_DOMAIN_PARAMS_INVALID),
    }
}

/// The 32-byte public key inside a CKA_EC_POINT value (DER OCTET STRING or bare).
pub fn point_from_attr(v: &[u8]) -> Option<[u8; 32]> {
    let inner = asn1::single(v, asn1::OCTET_STRING).filter(|i| i.len() == 32).unwrap_or(v);
    inner.try_into().ok()
}

/// An Ed25519 key: the public key, and the key pair for a private key.
pub struct EdKey {
    public: [u8; 32],
    pair: Option<(Ed25519KeyPair, Zeroizing<[u8; 32]>)>,
}

impl std::fmt::Debug for EdKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EdKey(Ed25519, private: {})", self.pair.is_some())
    }
}

impl EdKey {
    /// A private key from its 32-byte seed.
    pub fn from_seed(seed: &[u8]) -> Result<EdKey> {
        let seed: [u8; 32] = seed.try_into().map_err(|_| Error::new(CKR_ATTRIBUTE_VALUE_INVALID))?;
        let kp = Ed25519KeyPair::from_seed_unchecked(&seed).map_err(|_| Error::new(CKR_ATTRIBUTE_VALUE_INVALID))?;
        let public = kp.public_key().as_ref().try_into().map_err(|_| Error::general())?;
        Ok(EdKey { public, pair: Some((kp, Zeroizing::new(seed))) })
    }

    pub fn from_public(public: [u8; 32]) -> EdKey {
        EdKey { public, pair: None }
    }

    pub fn public(&self) -> &[u8; 32] {
        &self.public
    }

    pub fn seed(&self) -> Option<&[u8; 32]> {
        self.pair.as_ref().map(|(_, s)| &**s)
    }

    pub fn is_private(&self) -> bool {
        self.pair.is_some()
    }
}

/// Builds the key of a CKK_EC_EDWARDS object. A private key's CKA_EC_POINT, when present, must
/// be its public key.
pub fn key_from_attrs(attrs: &AttrMap, private: bool) -> Result<EdKey> {
    check_params(attrs.bytes(CKA_EC_PARAMS).ok_or(CKR_TEMPLATE_INCOMPLETE)?)?;
    let given = attrs.bytes(CKA_EC_POINT).map(|p| point_from_attr(p).ok_or(CKR_ATTRIBUTE_VALUE_INVALID));
    if private {
        let key = EdKey::from_seed(attrs.bytes(CKA_VALUE).ok_or(CKR_TEMPLATE_INCOMPLETE)?)?;
        if let Some(p) = given {
            if p? != key.public {
                return err(CKR_ATTRIBUTE_VALUE_INVALID);
            }
        }
        Ok(key)
    } else {
        Ok(EdKey::from_public(given.ok_or(CKR_TEMPLATE_INCOMPLETE)??))
    }
}

/// CKA_EC_POINT of a public key.
pub fn point_attr(public: &[u8; 32]) -> Vec<u8> {
    asn1::tlv(asn1::OCTET_STRING, public).to_vec()
}

/// The attributes of a key: CKA_EC_PARAMS (`params`), CKA_EC_POINT, and CKA_VALUE for a private
/// key.
pub fn key_attrs(key: &EdKey, params: &[u8]) -> AttrMap {
    let mut m = AttrMap::new();
    m.set(CKA_EC_PARAMS, Attr::bytes(params));
    m.set(CKA_EC_POINT, Attr::bytes(point_attr(&key.public)));
    if let Some(seed) = key.seed() {
        m.set(CKA_VALUE, Attr::bytes(seed.to_vec()));
    }
    m
}

impl KeyMaterial {
    pub fn ed_private(&self) -> Result<&Arc<EdKey>> {
        match self {
            KeyMaterial::EdPrivate(k) => Ok(k),
            _ => err(CKR_KEY_TYPE_INCONSISTENT),
        }
    }
    pub fn ed_public(&self) -> Result<&Arc<EdKey>> {
        match self {
            KeyMaterial::EdPrivate(k) | KeyMaterial::EdPublic(k) => Ok(k),
            _ => err(CKR_KEY_TYPE_INCONSISTENT),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// CKM_EDDSA
// ---------------------------------------------------------------------------------------------

/// Accepts no parameter, an empty one, or a `CK_EDDSA_PARAMS` asking for pure Ed25519
/// (phFlag false, no context).
fn check_eddsa_params(p: &Params) -> Result<()> {
    match p {
        Params::None => Ok(()),
        Params::Raw(v) if v.is_empty() => Ok(()),
        Params::Raw(v) if v.len() == std::mem::size_of::<CK_EDDSA_PARAMS>() => {
            let ph = v[std::mem::offset_of!(CK_EDDSA_PARAMS, phFlag)];
            let off = std::mem::offset_of!(CK_EDDSA_PARAMS, ulContextDataLen);
            let n = std::mem::size_of::<CK_ULONG>();
            let ctx_len = CK_ULONG::from_ne_bytes(v[off..off + n].try_into().map_err(|_| Error::general())?);
            if ph == 0 && ctx_len == 0 {
                Ok(())
            } else {
                err(CKR_MECHANISM_PARAM_INVALID)
            }
        }
        _ => err(CKR_MECHANISM_PARAM_INVALID),
    }
}

struct EdOp {
    key: Arc<EdKey>,
    msg: Option<Zeroizing<Vec<u8>>>,
}

impl SignOp for EdOp {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.msg.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?.extend_from_slice(data);
        Ok(())
    }

    fn sig_len(&self) -> usize {
        SIG_LEN
    }

    fn sign_final(&mut self, out: &mut [u8]) -> Result<usize> {
        if out.len() < SIG_LEN {
            return err(CKR_BUFFER_TOO_SMALL);
        }
        let (kp, _) = self.key.pair.as_ref().ok_or(CKR_KEY_TYPE_INCONSISTENT)?;
        let msg = self.msg.take().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        out[..SIG_LEN].copy_from_slice(kp.sign(&msg).as_ref());
        Ok(SIG_LEN)
    }

    fn verify_final(&mut self, sig: &[u8]) -> Result<()> {
        let msg = self.msg.take().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        if sig.len() != SIG_LEN {
            return err(CKR_SIGNATURE_LEN_RANGE);
        }
        signature::UnparsedPublicKey::new(&signature::ED25519, &self.key.public)
            .verify(&msg, sig)
            .map_err(|_| Error::new(CKR_SIGNATURE_INVALID))
    }
}

/// CKM_EDDSA.
pub struct EdDsa;
pub static EDDSA: EdDsa = EdDsa;

impl Mechanism for EdDsa {
    fn sign(&self, p: &Params, key: &KeyMaterial) -> Result<Box<dyn SignOp>> {
        check_eddsa_params(p)?;
        Ok(Box::new(EdOp { key: key.ed_private()?.clone(), msg: Some(Zeroizing::new(Vec::new())) }))
    }
    fn verify(&self, p: &Params, key: &KeyMaterial) -> Result<Box<dyn SignOp>> {
        check_eddsa_params(p)?;
        Ok(Box::new(EdOp { key: key.ed_public()?.clone(), msg: Some(Zeroizing::new(Vec::new())) }))
    }
}

/// CKM_EC_EDWARDS_KEY_PAIR_GEN: Ed25519. CKA_EC_PARAMS in the public template may name
/// Ed25519 either way (and is echoed back) or be absent (the OID is used).
pub struct EdKeyPairGen;
pub static EC_EDWARDS_KEY_PAIR_GEN: EdKeyPairGen = EdKeyPairGen;

impl Mechanism for EdKeyPairGen {
    fn generate_pair(&self, public: &AttrMap, _private: &AttrMap) -> Result<(AttrMap, AttrMap)> {
        let params = public.bytes(CKA_EC_PARAMS).unwrap_or(ED25519_PARAMS_OID);
        check_params(params)?;
        let seed = super::rng::random_vec(32)?;
        let key = EdKey::from_seed(&seed)?;
        let private = key_attrs(&key, params);
        Ok((private.subset(&[CKA_EC_PARAMS, CKA_EC_POINT]), private))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mech::testutil::*;

    /// RFC 8032 §7.1 TEST 1-3: (secret key, public key, message, signature).
    const RFC8032: [(&str, &str, &str, &str); 3] = [
        (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
        (
            "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
            "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            "af82",
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
        ),
    ];

    const NONE: Params = Params::None;

    fn private(seed: &[u8], params: &[u8]) -> AttrMap {
        attrs(CKO_PRIVATE_KEY, CKK_EC_EDWARDS, &[(CKA_EC_PARAMS, params), (CKA_VALUE, seed)])
    }

    fn public(point: &[u8], params: &[u8]) -> AttrMap {
        attrs(CKO_PUBLIC_KEY, CKK_EC_EDWARDS, &[(CKA_EC_PARAMS, params), (CKA_EC_POINT, point)])
    }

    #[test]
    fn rfc8032_test_vectors() {
        for (sk, pk, msg, sig) in RFC8032 {
            let (sk, pk, msg, sig) = (h(sk), h(pk), h(msg), h(sig));
            for params in [ED25519_PARAMS_OID, ED25519_PARAMS_NAME] {
                let k = material(&private(&sk, params));
                let KeyMaterial::EdPrivate(key) = &k else { panic!() };
                assert_eq!(&key.public()[..], &pk[..]);
                assert_eq!(key_attrs(key, params).bytes(CKA_EC_POINT), Some(&point_attr(key.public())[..]));
                // Deterministic: exactly the published signature, single- and multi-part.
                assert_eq!(sign(&EDDSA, &NONE, &k, &msg).unwrap(), sig);
                assert_eq!(sign_parts(&EDDSA, &Params::Raw(vec![]), &k, &msg, 1).unwrap(), sig);
                for pubk in [material(&public(&point_attr(key.public()), params)), material(&public(&pk, params)), k] {
                    verify(&EDDSA, &NONE, &pubk, &msg, &sig).unwrap();
                    let mut bad = sig.clone();
                    bad[10] ^= 1;
                    assert_eq!(rv(verify(&EDDSA, &NONE, &pubk, &msg, &bad)), CKR_SIGNATURE_INVALID);
                    assert_eq!(rv(verify(&EDDSA, &NONE, &pubk, b"other", &sig)), CKR_SIGNATURE_INVALID);
                    assert_eq!(rv(verify(&EDDSA, &NONE, &pubk, &msg, &sig[..63])), CKR_SIGNATURE_LEN_RANGE);
                }
            }
        }
    }

    fn eddsa_params(ph: u8, ctx_len: CK_ULONG) -> Params {
        let mut v = vec![0u8; std::mem::size_of::<CK_EDDSA_PARAMS>()];
        v[std::mem::offset_of!(CK_EDDSA_PARAMS, phFlag)] = ph;
        let off = std::mem::offset_of!(CK_EDDSA_PARAMS, ulContextDataLen);
        v[off..off + std::mem::size_of::<CK_ULONG>()].copy_from_slice(&ctx_len.to_ne_bytes());
        Params::Raw(v)
    }

    #[test]
    fn parameters_key_types_and_generation() {
        let (sk, _, msg, sig) = RFC8032[2];
        let k = material(&private(&h(sk), ED25519_PARAMS_OID));
        // An empty CK_EDDSA_PARAMS is pure Ed25519; prehash and contexts are not supported.
        assert_eq!(sign(&EDDSA, &eddsa_params(0, 0), &k, &h(msg)).unwrap(), h(sig));
        for p in [eddsa_params(1, 0), eddsa_params(0, 3), Params::Raw(vec![0; 3]), Params::Iv(vec![0; 16])] {
            assert_eq!(rv(EDDSA.sign(&p, &k)), CKR_MECHANISM_PARAM_INVALID);
            assert_eq!(rv(EDDSA.verify(&p, &k)), CKR_MECHANISM_PARAM_INVALID);
        }
        // Key types.
        let (ec_pub, ec_priv) = ec_pair(crate::mech::ec::P256.params);
        for other in [material(&ec_pub), material(&ec_priv)] {
            assert_eq!(rv(EDDSA.sign(&NONE, &other)), CKR_KEY_TYPE_INCONSISTENT);
            assert_eq!(rv(EDDSA.verify(&NONE, &other)), CKR_KEY_TYPE_INCONSISTENT);
        }
        let pubk = material(&public(&h(RFC8032[2].1), ED25519_PARAMS_OID));
        assert_eq!(rv(EDDSA.sign(&NONE, &pubk)), CKR_KEY_TYPE_INCONSISTENT);
        // Material checks.
        let curve25519 = b"\x13\x0acurve25519";
        assert_eq!(rv(KeyMaterial::from_attrs(&private(&h(sk), curve25519))), CKR_CURVE_NOT_SUPPORTED);
        assert_eq!(
            rv(KeyMaterial::from_attrs(&private(&h(sk), &[0x06, 0x03, 0x2b, 0x65, 0x71]))),
            CKR_CURVE_NOT_SUPPORTED
        );
        assert_eq!(rv(KeyMaterial::from_attrs(&private(&h(sk), &[0x30, 0x00]))), CKR_DOMAIN_PARAMS_INVALID);
        assert_eq!(
            rv(KeyMaterial::from_attrs(&private(&h(sk)[..31], ED25519_PARAMS_OID))),
            CKR_ATTRIBUTE_VALUE_INVALID
        );
        assert_eq!(rv(KeyMaterial::from_attrs(&public(&[0; 31], ED25519_PARAMS_OID))), CKR_ATTRIBUTE_VALUE_INVALID);
        let mut wrong = private(&h(sk), ED25519_PARAMS_OID);
        wrong.set(CKA_EC_POINT, Attr::bytes(point_attr(&[7; 32])));
        assert_eq!(rv(KeyMaterial::from_attrs(&wrong)), CKR_ATTRIBUTE_VALUE_INVALID);
        // Generation: parameters echoed (either form), defaulting to the OID.
        for (template, want) in [
            (Some(ED25519_PARAMS_NAME), ED25519_PARAMS_NAME),
            (Some(ED25519_PARAMS_OID), ED25519_PARAMS_OID),
            (None, ED25519_PARAMS_OID),
        ] {
            let mut t = AttrMap::new();
            if let Some(p) = template {
                t.set(CKA_EC_PARAMS, Attr::bytes(p.to_vec()));
            }
            let (p, s) = EC_EDWARDS_KEY_PAIR_GEN.generate_pair(&t, &AttrMap::new()).unwrap();
            assert_eq!(p.bytes(CKA_EC_PARAMS), Some(want));
            assert_eq!(s.bytes(CKA_VALUE).unwrap().len(), 32);
            assert_eq!(p.bytes(CKA_EC_POINT).unwrap().len(), 34);
            let s = with_class(s, CKO_PRIVATE_KEY, CKK_EC_EDWARDS);
            let p = with_class(p, CKO_PUBLIC_KEY, CKK_EC_EDWARDS);
            let sig = sign(&EDDSA, &NONE, &material(&s), b"generated").unwrap();
            verify(&EDDSA, &NONE, &material(&p), b"generated", &sig).unwrap();
        }
        let mut t = AttrMap::new();
        t.set(CKA_EC_PARAMS, Attr::bytes(crate::mech::ec::P256.params.to_vec()));
        assert_eq!(rv(EC_EDWARDS_KEY_PAIR_GEN.generate_pair(&t, &AttrMap::new())), CKR_CURVE_NOT_SUPPORTED);
    }
}
