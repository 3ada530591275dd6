//! EdDSA (RFC 8032) on edwards25519 and edwards448: key material from PKCS#11 attributes,
//! CKM_EC_EDWARDS_KEY_PAIR_GEN and CKM_EDDSA with its optional `CK_EDDSA_PARAMS`.
//!
//! Attributes (PKCS#11 3.0 §2.3.5): CKA_EC_PARAMS names the curve by OID (id-Ed25519
//! 1.3.101.112, id-Ed448 1.3.101.113; we emit these) or by the PrintableString curve name
//! ("edwards25519", "edwards448"); CKA_EC_POINT is a DER OCTET STRING of the public key (32 or
//! 57 bytes; the bare key is accepted on import); CKA_VALUE the private seed (32 or 57 bytes).
//!
//! CKM_EDDSA (PKCS#11 3.0 §2.3.14), by curve and `CK_EDDSA_PARAMS` (none: pure EdDSA):
//!
//! | curve   | no parameter / phFlag false, no context | phFlag false, context | phFlag true |
//! |---------|-------------------------------------------|-----------------------|-------------|
//! | Ed25519 | Ed25519                                   | Ed25519ctx            | Ed25519ph   |
//! | Ed448   | Ed448 (empty context)                     | Ed448 with context    | Ed448ph     |
//!
//! Contexts are at most 255 bytes. For the prehash variants the token hashes the message
//! (SHA-512, SHAKE256 to 64 bytes), so multi-part operations stream; the pure variants need
//! the whole message, so `update` buffers.
//!
//! Ed25519 is aws-lc's (the safe aws-lc-rs API; Ed25519ctx/ph through [`super::ffi`]); Ed448
//! is `ed448-goldilocks-plus`, which aws-lc does not offer.

#![forbid(unsafe_code)]

use super::asn1;
use super::ffi;
use super::{KeyMaterial, Mechanism, Params, SignOp};
use crate::error::{err, Error, Result};
use crate::object::attr::{Attr, AttrMap};
use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, Ed25519KeyPair, KeyPair as _};
use cryptoki_sys::*;
use ed448_goldilocks_plus as ed448;
use ed448_goldilocks_plus::sha3::digest::Update as _;
use ed448_goldilocks_plus::sha3::Shake256;
use std::sync::Arc;
use zeroize::Zeroizing;

/// CKA_EC_PARAMS as the OID id-Ed25519 (1.3.101.112), which we emit.
pub const ED25519_PARAMS_OID: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
/// CKA_EC_PARAMS as the PKCS#11 3.0 curve name.
pub const ED25519_PARAMS_NAME: &[u8] = b"\x13\x0cedwards25519";
/// DER OID contents of id-Ed25519.
pub const ID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
/// CKA_EC_PARAMS as the OID id-Ed448 (1.3.101.113), which we emit.
pub const ED448_PARAMS_OID: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x71];
/// CKA_EC_PARAMS as the PKCS#11 3.0 curve name.
pub const ED448_PARAMS_NAME: &[u8] = b"\x13\x0aedwards448";
/// DER OID contents of id-Ed448.
pub const ID_ED448: &[u8] = &[0x2b, 0x65, 0x71];

/// Longest EdDSA context (RFC 8032 §5.1, §5.2: its length is one octet).
pub const MAX_CONTEXT: usize = 255;

/// An Edwards curve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EdCurve {
    Ed25519,
    Ed448,
}

impl EdCurve {
    pub const ALL: [EdCurve; 2] = [EdCurve::Ed25519, EdCurve::Ed448];

    /// Bytes of a seed and of a public key.
    pub fn key_len(self) -> usize {
        match self {
            EdCurve::Ed25519 => 32,
            EdCurve::Ed448 => 57,
        }
    }

    pub fn sig_len(self) -> usize {
        2 * self.key_len()
    }

    /// Size in bits (CK_MECHANISM_INFO key sizes).
    pub fn bits(self) -> usize {
        match self {
            EdCurve::Ed25519 => 255,
            EdCurve::Ed448 => 448,
        }
    }

    /// CKA_EC_PARAMS in OID form.
    pub fn params(self) -> &'static [u8] {
        match self {
            EdCurve::Ed25519 => ED25519_PARAMS_OID,
            EdCurve::Ed448 => ED448_PARAMS_OID,
        }
    }

    /// The OID's DER contents (SPKI and PKCS#8 algorithm, RFC 8410).
    pub fn oid(self) -> &'static [u8] {
        &self.params()[2..]
    }

    pub fn from_oid(oid: &[u8]) -> Option<EdCurve> {
        EdCurve::ALL.into_iter().find(|c| c.oid() == oid)
    }
}

/// The entry of `table` (OID form, curve-name form, value) that CKA_EC_PARAMS names; another
/// well-formed OID or curve name is `CKR_CURVE_NOT_SUPPORTED`, anything else
/// `CKR_DOMAIN_PARAMS_INVALID`. Shared with [`super::montgomery`].
pub(crate) fn named_curve<T: Copy>(params: &[u8], table: &[(&[u8], &[u8], T)]) -> Result<T> {
    if let Some((_, _, v)) = table.iter().find(|(oid, name, _)| params == *oid || params == *name) {
        return Ok(*v);
    }
    let mut r = asn1::Reader::new(params);
    match r.any() {
        Some((asn1::OID | asn1::PRINTABLE_STRING, _)) if r.end().is_some() => err(CKR_CURVE_NOT_SUPPORTED),
        _ => err(CKR_DOMAIN_PARAMS_INVALID),
    }
}

/// The curve CKA_EC_PARAMS names (see [`named_curve`] for the errors).
pub fn check_params(params: &[u8]) -> Result<EdCurve> {
    named_curve(
        params,
        &[
            (ED25519_PARAMS_OID, ED25519_PARAMS_NAME, EdCurve::Ed25519),
            (ED448_PARAMS_OID, ED448_PARAMS_NAME, EdCurve::Ed448),
        ],
    )
}

/// The `len`-byte key inside a CKA_EC_POINT value (or ECDH public data): a DER OCTET STRING
/// wrapping it, or the bare key.
pub fn point_from_attr(v: &[u8], len: usize) -> Option<&[u8]> {
    asn1::single(v, asn1::OCTET_STRING).filter(|i| i.len() == len).or(Some(v).filter(|v| v.len() == len))
}

/// An EdDSA key: the public key, and the signing key for a private key.
pub struct EdKey {
    public: Vec<u8>,
    inner: Inner,
}

enum Inner {
    /// aws-lc's key pair and the seed (aws-lc-rs does not give the seed back).
    Ed25519(Option<(Ed25519KeyPair, Zeroizing<[u8; 32]>)>),
    /// The decoded public key; the signing key (wiped on drop by the crate) of a private key.
    Ed448(Box<ed448::VerifyingKey>, Option<Box<ed448::SigningKey>>),
}

impl std::fmt::Debug for EdKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EdKey({:?}, private: {})", self.curve(), self.is_private())
    }
}

fn bad() -> Error {
    Error::new(CKR_ATTRIBUTE_VALUE_INVALID)
}

impl EdKey {
    /// A private key from its seed.
    pub fn from_seed(curve: EdCurve, seed: &[u8]) -> Result<EdKey> {
        if seed.len() != curve.key_len() {
            return Err(bad());
        }
        match curve {
            EdCurve::Ed25519 => {
                let seed: [u8; 32] = seed.try_into().map_err(|_| bad())?;
                let kp = Ed25519KeyPair::from_seed_unchecked(&seed).map_err(|_| bad())?;
                let public = kp.public_key().as_ref().to_vec();
                Ok(EdKey { public, inner: Inner::Ed25519(Some((kp, Zeroizing::new(seed)))) })
            }
            EdCurve::Ed448 => {
                let sk = ed448::SigningKey::try_from(seed).map_err(|_| bad())?;
                let vk = sk.verifying_key();
                Ok(EdKey { public: vk.as_bytes().to_vec(), inner: Inner::Ed448(Box::new(vk), Some(Box::new(sk))) })
            }
        }
    }

    /// A public key (an Ed448 key must decode to a point of the curve).
    pub fn from_public(curve: EdCurve, public: &[u8]) -> Result<EdKey> {
        if public.len() != curve.key_len() {
            return Err(bad());
        }
        let inner = match curve {
            EdCurve::Ed25519 => Inner::Ed25519(None),
            EdCurve::Ed448 => {
                let bytes: &[u8; 57] = public.try_into().map_err(|_| bad())?;
                Inner::Ed448(Box::new(ed448::VerifyingKey::from_bytes(bytes).map_err(|_| bad())?), None)
            }
        };
        Ok(EdKey { public: public.to_vec(), inner })
    }

    pub fn curve(&self) -> EdCurve {
        match self.inner {
            Inner::Ed25519(_) => EdCurve::Ed25519,
            Inner::Ed448(..) => EdCurve::Ed448,
        }
    }

    pub fn public(&self) -> &[u8] {
        &self.public
    }

    /// The private seed (CKA_VALUE).
    pub fn seed(&self) -> Option<&[u8]> {
        match &self.inner {
            Inner::Ed25519(pair) => pair.as_ref().map(|(_, s)| &s[..]),
            Inner::Ed448(_, sk) => sk.as_ref().map(|k| &k.as_bytes()[..]),
        }
    }

    pub fn is_private(&self) -> bool {
        self.seed().is_some()
    }
}

/// Builds the key of a CKK_EC_EDWARDS object. A private key's CKA_EC_POINT, when present, must
/// be its public key.
pub fn key_from_attrs(attrs: &AttrMap, private: bool) -> Result<EdKey> {
    let curve = check_params(attrs.bytes(CKA_EC_PARAMS).ok_or(CKR_TEMPLATE_INCOMPLETE)?)?;
    let given = attrs.bytes(CKA_EC_POINT).map(|p| point_from_attr(p, curve.key_len()).ok_or_else(bad));
    if private {
        let key = EdKey::from_seed(curve, attrs.bytes(CKA_VALUE).ok_or(CKR_TEMPLATE_INCOMPLETE)?)?;
        if let Some(p) = given {
            if p? != key.public() {
                return Err(bad());
            }
        }
        Ok(key)
    } else {
        EdKey::from_public(curve, given.ok_or(CKR_TEMPLATE_INCOMPLETE)??)
    }
}

/// CKA_EC_POINT of a public key: DER OCTET STRING.
pub fn point_attr(public: &[u8]) -> Vec<u8> {
    asn1::tlv(asn1::OCTET_STRING, public).to_vec()
}

/// The attributes of a key: CKA_EC_PARAMS (`params`), CKA_EC_POINT, and CKA_VALUE for a private
/// key.
pub fn key_attrs(key: &EdKey, params: &[u8]) -> AttrMap {
    let mut m = AttrMap::new();
    m.set(CKA_EC_PARAMS, Attr::bytes(params));
    m.set(CKA_EC_POINT, Attr::bytes(point_attr(key.public())));
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

/// The variant a CKM_EDDSA parameter asks for: (prehash, context). No parameter (or an empty
/// one) is pure EdDSA without context; a context longer than 255 bytes, or a parameter of
/// another shape, is `CKR_MECHANISM_PARAM_INVALID`.
fn eddsa_variant(p: &Params) -> Result<(bool, &[u8])> {
    match p {
        Params::None => Ok((false, &[])),
        Params::Raw(v) if v.is_empty() => Ok((false, &[])),
        Params::Eddsa { ph, ctx } if ctx.len() <= MAX_CONTEXT => Ok((*ph, ctx)),
        _ => err(CKR_MECHANISM_PARAM_INVALID),
    }
}

/// What an operation accumulates: the whole message (pure variants) or its prehash.
enum Msg {
    Whole(Zeroizing<Vec<u8>>),
    /// Ed25519ph: SHA-512.
    Sha512(digest::Context),
    /// Ed448ph: SHAKE256, read to 64 bytes at the end.
    Shake(Box<Shake256>),
}

struct EdOp {
    key: Arc<EdKey>,
    ctx: Vec<u8>,
    /// `None` once finished.
    msg: Option<Msg>,
}

impl EdOp {
    fn new(key: &Arc<EdKey>, p: &Params) -> Result<EdOp> {
        let (ph, ctx) = eddsa_variant(p)?;
        let msg = match (ph, key.curve()) {
            (false, _) => Msg::Whole(Zeroizing::new(Vec::new())),
            (true, EdCurve::Ed25519) => Msg::Sha512(digest::Context::new(&digest::SHA512)),
            (true, EdCurve::Ed448) => Msg::Shake(Box::default()),
        };
        Ok(EdOp { key: key.clone(), ctx: ctx.to_vec(), msg: Some(msg) })
    }
}

/// SHAKE256(M, 64): Ed448ph's PH (RFC 8032 §5.2).
fn shake_prehash(h: Shake256) -> ed448::PreHasherXof<Shake256> {
    ed448::PreHasherXof::from(h)
}

/// An engine that fails to sign (a bad key was refused when it was built).
fn failed<E>(_: E) -> Error {
    Error::new(CKR_FUNCTION_FAILED)
}

fn sha512_digest(ctx: digest::Context) -> Result<[u8; 64]> {
    ctx.finish().as_ref().try_into().map_err(|_| Error::general())
}

impl SignOp for EdOp {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        match self.msg.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)? {
            Msg::Whole(v) => v.extend_from_slice(data),
            Msg::Sha512(c) => c.update(data),
            Msg::Shake(h) => h.update(data),
        }
        Ok(())
    }

    fn sig_len(&self) -> usize {
        self.key.curve().sig_len()
    }

    fn sign_final(&mut self, out: &mut [u8]) -> Result<usize> {
        let n = self.sig_len();
        if out.len() < n {
            return err(CKR_BUFFER_TOO_SMALL);
        }
        let msg = self.msg.take().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        match (&self.key.inner, msg) {
            (Inner::Ed25519(Some((kp, _))), Msg::Whole(m)) if self.ctx.is_empty() => {
                out[..n].copy_from_slice(kp.sign(&m).as_ref())
            }
            (Inner::Ed25519(Some((_, seed))), Msg::Whole(m)) => {
                let public = self.key.public().try_into().map_err(|_| Error::general())?;
                out[..n].copy_from_slice(&ffi::ed25519ctx_sign(seed, public, &m, &self.ctx).map_err(failed)?)
            }
            (Inner::Ed25519(Some((_, seed))), Msg::Sha512(c)) => {
                let public = self.key.public().try_into().map_err(|_| Error::general())?;
                let d = sha512_digest(c)?;
                out[..n].copy_from_slice(&ffi::ed25519ph_sign_digest(seed, public, &d, &self.ctx).map_err(failed)?)
            }
            (Inner::Ed448(_, Some(sk)), Msg::Whole(m)) => {
                out[..n].copy_from_slice(&sk.sign_ctx(&self.ctx, &m).map_err(failed)?.to_bytes())
            }
            (Inner::Ed448(_, Some(sk)), Msg::Shake(h)) => {
                let sig = sk.sign_prehashed(Some(&self.ctx), shake_prehash(*h)).map_err(failed)?;
                out[..n].copy_from_slice(&sig.to_bytes())
            }
            _ => return err(CKR_KEY_TYPE_INCONSISTENT),
        }
        Ok(n)
    }

    fn verify_final(&mut self, sig: &[u8]) -> Result<()> {
        let msg = self.msg.take().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        if sig.len() != self.sig_len() {
            return err(CKR_SIGNATURE_LEN_RANGE);
        }
        let ok = match (&self.key.inner, msg) {
            (Inner::Ed25519(_), Msg::Whole(m)) if self.ctx.is_empty() => {
                signature::UnparsedPublicKey::new(&signature::ED25519, self.key.public()).verify(&m, sig).is_ok()
            }
            (Inner::Ed25519(_), Msg::Whole(m)) => {
                let public = self.key.public().try_into().map_err(|_| Error::general())?;
                ffi::ed25519ctx_verify(public, &m, sig.try_into().map_err(|_| Error::general())?, &self.ctx)
            }
            (Inner::Ed25519(_), Msg::Sha512(c)) => {
                let public = self.key.public().try_into().map_err(|_| Error::general())?;
                let d = sha512_digest(c)?;
                ffi::ed25519ph_verify_digest(public, &d, sig.try_into().map_err(|_| Error::general())?, &self.ctx)
            }
            (Inner::Ed448(vk, _), msg) => {
                let sig: &[u8; 114] = sig.try_into().map_err(|_| Error::general())?;
                match (ed448::Signature::from_bytes(sig), msg) {
                    (Err(_), _) => false,
                    (Ok(s), Msg::Whole(m)) => vk.verify_ctx(&s, &self.ctx, &m).is_ok(),
                    (Ok(s), Msg::Shake(h)) => vk.verify_prehashed(&s, Some(&self.ctx), shake_prehash(*h)).is_ok(),
                    (Ok(_), Msg::Sha512(_)) => return Err(Error::general()),
                }
            }
            (Inner::Ed25519(_), Msg::Shake(_)) => return Err(Error::general()),
        };
        if ok {
            Ok(())
        } else {
            err(CKR_SIGNATURE_INVALID)
        }
    }
}

/// CKM_EDDSA.
pub struct EdDsa;
pub static EDDSA: EdDsa = EdDsa;

impl Mechanism for EdDsa {
    fn sign(&self, p: &Params, key: &KeyMaterial) -> Result<Box<dyn SignOp>> {
        Ok(Box::new(EdOp::new(key.ed_private()?, p)?))
    }
    fn verify(&self, p: &Params, key: &KeyMaterial) -> Result<Box<dyn SignOp>> {
        Ok(Box::new(EdOp::new(key.ed_public()?, p)?))
    }
}

/// CKM_EC_EDWARDS_KEY_PAIR_GEN: Ed25519 or Ed448, as CKA_EC_PARAMS in the public template names
/// it (either form, echoed back); without CKA_EC_PARAMS, Ed25519 (OID form).
pub struct EdKeyPairGen;
pub static EC_EDWARDS_KEY_PAIR_GEN: EdKeyPairGen = EdKeyPairGen;

impl Mechanism for EdKeyPairGen {
    fn generate_pair(&self, public: &AttrMap, _private: &AttrMap) -> Result<(AttrMap, AttrMap)> {
        let params = public.bytes(CKA_EC_PARAMS).unwrap_or(ED25519_PARAMS_OID);
        let curve = check_params(params)?;
        let seed = super::rng::random_vec(curve.key_len())?;
        let key = EdKey::from_seed(curve, &seed)?;
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

    fn eddsa(ph: bool, ctx: &[u8]) -> Params {
        Params::Eddsa { ph, ctx: ctx.to_vec() }
    }

    /// One RFC 8032 vector from tests/data/rfc8032.json.
    struct Vector {
        name: String,
        secret: Vec<u8>,
        public: Vec<u8>,
        message: Vec<u8>,
        context: Vec<u8>,
        prehash: bool,
        signature: Vec<u8>,
    }

    /// The vectors of one section of tests/data/rfc8032.json ("ed448", "ed25519ctx",
    /// "ed25519ph").
    fn vectors(section: &str) -> Vec<Vector> {
        let doc: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/data/rfc8032.json")).expect("rfc8032.json");
        let s = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap().to_string();
        doc[section]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| Vector {
                name: s(v, "name"),
                secret: h(&s(v, "secret")),
                public: h(&s(v, "public")),
                message: h(&s(v, "message")),
                context: h(&s(v, "context")),
                prehash: v["prehash"].as_bool().unwrap(),
                signature: h(&s(v, "signature")),
            })
            .collect()
    }

    /// Checks a vector through the mechanism: exact signature (single- and multi-part), and
    /// verification with every form of the public key, rejecting tampering.
    fn check_vector(v: &Vector, curve: EdCurve) {
        let names = match curve {
            EdCurve::Ed25519 => [ED25519_PARAMS_OID, ED25519_PARAMS_NAME],
            EdCurve::Ed448 => [ED448_PARAMS_OID, ED448_PARAMS_NAME],
        };
        // Pure Ed448 with an empty context is also what no parameter at all asks for.
        let mut params = vec![eddsa(v.prehash, &v.context)];
        if !v.prehash && v.context.is_empty() {
            params.extend([NONE, Params::Raw(vec![])]);
        }
        for form in names {
            let k = material(&private(&v.secret, form));
            let KeyMaterial::EdPrivate(key) = &k else { panic!() };
            assert_eq!(key.curve(), curve);
            assert_eq!(key.public(), &v.public[..], "{}", v.name);
            assert_eq!(key.seed(), Some(&v.secret[..]));
            assert_eq!(key_attrs(key, form).bytes(CKA_EC_POINT), Some(&point_attr(&v.public)[..]));
            let pubs = [material(&public(&point_attr(&v.public), form)), material(&public(&v.public, form))];
            for p in &params {
                assert_eq!(sign(&EDDSA, p, &k, &v.message).unwrap(), v.signature, "{}", v.name);
                assert_eq!(sign_parts(&EDDSA, p, &k, &v.message, 7).unwrap(), v.signature, "{}", v.name);
                for pk in pubs.iter().chain([&k]) {
                    verify(&EDDSA, p, pk, &v.message, &v.signature).unwrap();
                    let mut bad = v.signature.clone();
                    bad[5] ^= 1;
                    assert_eq!(rv(verify(&EDDSA, p, pk, &v.message, &bad)), CKR_SIGNATURE_INVALID);
                    let last = bad.len() - 2;
                    let mut bad = v.signature.clone();
                    bad[last] ^= 0x10;
                    assert_eq!(rv(verify(&EDDSA, p, pk, &v.message, &bad)), CKR_SIGNATURE_INVALID);
                    let other = [&v.message[..], b"!"].concat();
                    assert_eq!(rv(verify(&EDDSA, p, pk, &other, &v.signature)), CKR_SIGNATURE_INVALID);
                    let short = &v.signature[..v.signature.len() - 1];
                    assert_eq!(rv(verify(&EDDSA, p, pk, &v.message, short)), CKR_SIGNATURE_LEN_RANGE);
                }
            }
            // Another context, or the other variant, does not verify.
            for p in [eddsa(v.prehash, b"other"), eddsa(!v.prehash, &v.context)] {
                assert_eq!(rv(verify(&EDDSA, &p, &pubs[0], &v.message, &v.signature)), CKR_SIGNATURE_INVALID);
            }
        }
    }

    #[test]
    fn rfc8032_test_vectors() {
        for (sk, pk, msg, sig) in RFC8032 {
            let (sk, pk, msg, sig) = (h(sk), h(pk), h(msg), h(sig));
            for params in [ED25519_PARAMS_OID, ED25519_PARAMS_NAME] {
                let k = material(&private(&sk, params));
                let KeyMaterial::EdPrivate(key) = &k else { panic!() };
                assert_eq!(key.public(), &pk[..]);
                assert_eq!(key_attrs(key, params).bytes(CKA_EC_POINT), Some(&point_attr(key.public())[..]));
                // Deterministic: exactly the published signature, single- and multi-part.
                assert_eq!(sign(&EDDSA, &NONE, &k, &msg).unwrap(), sig);
                assert_eq!(sign_parts(&EDDSA, &Params::Raw(vec![]), &k, &msg, 1).unwrap(), sig);
                // phFlag false without a context is pure Ed25519 (Ed25519ctx needs a context).
                assert_eq!(sign(&EDDSA, &eddsa(false, &[]), &k, &msg).unwrap(), sig);
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

    /// RFC 8032 §7.4: Ed448 (with and without context) and Ed448ph.
    #[test]
    fn rfc8032_ed448_vectors() {
        let vs = vectors("ed448");
        assert!(vs.iter().any(|v| v.prehash && !v.context.is_empty()));
        assert!(vs.iter().any(|v| !v.prehash && !v.context.is_empty()));
        for v in &vs {
            check_vector(v, EdCurve::Ed448);
        }
    }

    /// RFC 8032 §7.2 (Ed25519ctx) and §7.3 (Ed25519ph), through aws-lc.
    #[test]
    fn rfc8032_ed25519ctx_and_ph_vectors() {
        for v in vectors("ed25519ctx").iter().chain(&vectors("ed25519ph")) {
            check_vector(v, EdCurve::Ed25519);
        }
    }

    #[test]
    fn parameters_key_types_and_generation() {
        let (sk, _, msg, sig) = RFC8032[2];
        let k = material(&private(&h(sk), ED25519_PARAMS_OID));
        assert_eq!(sign(&EDDSA, &eddsa(false, &[]), &k, &h(msg)).unwrap(), h(sig));
        // Contexts up to 255 bytes; longer ones, and parameters of other shapes, are invalid.
        let long = [7u8; 255];
        for ph in [false, true] {
            let s = sign(&EDDSA, &eddsa(ph, &long), &k, b"m").unwrap();
            verify(&EDDSA, &eddsa(ph, &long), &k, b"m", &s).unwrap();
        }
        for p in [eddsa(false, &[7; 256]), eddsa(true, &[7; 256]), Params::Raw(vec![0; 3]), Params::Iv(vec![0; 16])] {
            assert_eq!(rv(EDDSA.sign(&p, &k)), CKR_MECHANISM_PARAM_INVALID);
            assert_eq!(rv(EDDSA.verify(&p, &k)), CKR_MECHANISM_PARAM_INVALID);
        }
        // The variants differ from one another.
        let pure = sign(&EDDSA, &NONE, &k, b"m").unwrap();
        let ctx = sign(&EDDSA, &eddsa(false, b"c"), &k, b"m").unwrap();
        let ph = sign(&EDDSA, &eddsa(true, &[]), &k, b"m").unwrap();
        let ph_ctx = sign(&EDDSA, &eddsa(true, b"c"), &k, b"m").unwrap();
        let all = [&pure, &ctx, &ph, &ph_ctx];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a, b);
            }
        }
        // Key types.
        let (ec_pub, ec_priv) = ec_pair(crate::mech::ec::P256.params);
        for other in [material(&ec_pub), material(&ec_priv)] {
            assert_eq!(rv(EDDSA.sign(&NONE, &other)), CKR_KEY_TYPE_INCONSISTENT);
            assert_eq!(rv(EDDSA.verify(&NONE, &other)), CKR_KEY_TYPE_INCONSISTENT);
        }
        let pubk = material(&public(&h(RFC8032[2].1), ED25519_PARAMS_OID));
        assert_eq!(rv(EDDSA.sign(&NONE, &pubk)), CKR_KEY_TYPE_INCONSISTENT);
        // Material checks: Montgomery curves are no Edwards curves, whatever the form.
        for params in [&b"\x13\x0acurve25519"[..], &[0x06, 0x03, 0x2b, 0x65, 0x6e], &[0x06, 0x03, 0x2b, 0x65, 0x6f]] {
            assert_eq!(rv(KeyMaterial::from_attrs(&private(&h(sk), params))), CKR_CURVE_NOT_SUPPORTED);
        }
        assert_eq!(rv(KeyMaterial::from_attrs(&private(&h(sk), &[0x30, 0x00]))), CKR_DOMAIN_PARAMS_INVALID);
        assert_eq!(
            rv(KeyMaterial::from_attrs(&private(&h(sk)[..31], ED25519_PARAMS_OID))),
            CKR_ATTRIBUTE_VALUE_INVALID
        );
        // An Ed25519 seed is no Ed448 seed, and the other way round.
        assert_eq!(rv(KeyMaterial::from_attrs(&private(&h(sk), ED448_PARAMS_OID))), CKR_ATTRIBUTE_VALUE_INVALID);
        assert_eq!(rv(KeyMaterial::from_attrs(&private(&[1; 57], ED25519_PARAMS_OID))), CKR_ATTRIBUTE_VALUE_INVALID);
        assert_eq!(rv(KeyMaterial::from_attrs(&public(&[0; 31], ED25519_PARAMS_OID))), CKR_ATTRIBUTE_VALUE_INVALID);
        // Ed448 public keys must decode to a point that is not the identity.
        let mut not_on_curve = [0u8; 57];
        not_on_curve[0] = 2;
        let mut identity = [0u8; 57];
        identity[0] = 1;
        for bad in [&not_on_curve[..], &identity, &[0; 56], &point_attr(&[0; 56])] {
            assert_eq!(rv(KeyMaterial::from_attrs(&public(bad, ED448_PARAMS_OID))), CKR_ATTRIBUTE_VALUE_INVALID);
        }
        let mut wrong = private(&h(sk), ED25519_PARAMS_OID);
        wrong.set(CKA_EC_POINT, Attr::bytes(point_attr(&[7; 32])));
        assert_eq!(rv(KeyMaterial::from_attrs(&wrong)), CKR_ATTRIBUTE_VALUE_INVALID);
        // Generation: parameters echoed (either form), defaulting to the Ed25519 OID.
        for (template, want, curve) in [
            (Some(ED25519_PARAMS_NAME), ED25519_PARAMS_NAME, EdCurve::Ed25519),
            (Some(ED25519_PARAMS_OID), ED25519_PARAMS_OID, EdCurve::Ed25519),
            (None, ED25519_PARAMS_OID, EdCurve::Ed25519),
            (Some(ED448_PARAMS_NAME), ED448_PARAMS_NAME, EdCurve::Ed448),
            (Some(ED448_PARAMS_OID), ED448_PARAMS_OID, EdCurve::Ed448),
        ] {
            let mut t = AttrMap::new();
            if let Some(p) = template {
                t.set(CKA_EC_PARAMS, Attr::bytes(p.to_vec()));
            }
            let (p, s) = EC_EDWARDS_KEY_PAIR_GEN.generate_pair(&t, &AttrMap::new()).unwrap();
            assert_eq!(p.bytes(CKA_EC_PARAMS), Some(want));
            assert_eq!(s.bytes(CKA_VALUE).unwrap().len(), curve.key_len());
            assert_eq!(p.bytes(CKA_EC_POINT).unwrap().len(), curve.key_len() + 2);
            let s = with_class(s, CKO_PRIVATE_KEY, CKK_EC_EDWARDS);
            let p = with_class(p, CKO_PUBLIC_KEY, CKK_EC_EDWARDS);
            for params in [NONE, eddsa(false, b"ctx"), eddsa(true, &[])] {
                let sig = sign(&EDDSA, &params, &material(&s), b"generated").unwrap();
                assert_eq!(sig.len(), curve.sig_len());
                verify(&EDDSA, &params, &material(&p), b"generated", &sig).unwrap();
                assert_eq!(rv(verify(&EDDSA, &params, &material(&p), b"generateD", &sig)), CKR_SIGNATURE_INVALID);
            }
        }
        for params in [crate::mech::ec::P256.params, crate::mech::montgomery::X25519_PARAMS_OID] {
            let mut t = AttrMap::new();
            t.set(CKA_EC_PARAMS, Attr::bytes(params.to_vec()));
            assert_eq!(rv(EC_EDWARDS_KEY_PAIR_GEN.generate_pair(&t, &AttrMap::new())), CKR_CURVE_NOT_SUPPORTED);
        }
    }

    /// Hostile signatures never panic: every length, all-zero and all-one values, and an S
    /// at or above the group order.
    #[test]
    fn hostile_signatures_are_rejected() {
        for curve in EdCurve::ALL {
            let (p, _) = generated(CKM_EC_EDWARDS_KEY_PAIR_GEN, {
                let mut t = AttrMap::new();
                t.set(CKA_EC_PARAMS, Attr::bytes(curve.params().to_vec()));
                t
            });
            let k = material(&p);
            for params in [NONE, eddsa(false, b"c"), eddsa(true, b"c")] {
                for n in 0..=curve.sig_len() + 1 {
                    for fill in [0u8, 0xff] {
                        let want = if n == curve.sig_len() { CKR_SIGNATURE_INVALID } else { CKR_SIGNATURE_LEN_RANGE };
                        assert_eq!(rv(verify(&EDDSA, &params, &k, b"x", &vec![fill; n])), want);
                    }
                }
            }
        }
    }
}
