//! X25519 and X448 (RFC 7748): CKK_EC_MONTGOMERY key material, CKM_EC_MONTGOMERY_KEY_PAIR_GEN,
//! and the Diffie-Hellman step of CKM_ECDH1_DERIVE on Montgomery keys ([`super::ec::Ecdh`]
//! applies the KDF and length rules it applies on the other curves).
//!
//! Attributes (PKCS#11 3.0 §2.3.7): CKA_EC_PARAMS names the curve by OID (id-X25519 1.3.101.110,
//! id-X448 1.3.101.111; we emit these) or by the PrintableString curve name ("curve25519",
//! "curve448"); CKA_EC_POINT is a DER OCTET STRING of the u-coordinate (32 or 56 bytes,
//! little-endian; the bare value is accepted on import); CKA_VALUE the private scalar as RFC 7748
//! encodes it (32 or 56 bytes, before clamping). The peer's public data of a derivation is the
//! u-coordinate, bare or DER OCTET STRING-wrapped.
//!
//! A shared secret of all zeros (the peer sent a point of small order) is refused, as RFC 7748
//! §6 allows and TLS, HPKE and SoftHSMv2/OpenSSL do.
//!
//! X25519 is aws-lc's (aws-lc-rs `agreement`); X448 is `ed448-goldilocks-plus`'s Montgomery
//! ladder, which aws-lc does not offer.

#![forbid(unsafe_code)]

use super::eddsa::{named_curve, point_attr};
use super::{KeyMaterial, Mechanism};
use crate::error::{err, Error, Result};
use crate::object::attr::{Attr, AttrMap};
use aws_lc_rs::agreement;
use cryptoki_sys::*;
use ed448_goldilocks_plus as ed448;
use std::sync::Arc;
use zeroize::{Zeroize, Zeroizing};

/// CKA_EC_PARAMS as the OID id-X25519 (1.3.101.110), which we emit.
pub const X25519_PARAMS_OID: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x6e];
/// CKA_EC_PARAMS as the PKCS#11 3.0 curve name.
pub const X25519_PARAMS_NAME: &[u8] = b"\x13\x0acurve25519";
/// What OpenSC 0.23's pkcs11-tool (Debian 12) sends for `--key-type EC:curve25519`: the curve
/// name with a length byte one too large (it counts the C string's NUL). Taken as
/// [`X25519_PARAMS_NAME`], which is what is stored and read back.
pub const X25519_PARAMS_OPENSC_0_23: &[u8] = b"\x13\x0bcurve25519";
/// CKA_EC_PARAMS as the OID id-X448 (1.3.101.111), which we emit.
pub const X448_PARAMS_OID: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x6f];
/// CKA_EC_PARAMS as the PKCS#11 3.0 curve name.
pub const X448_PARAMS_NAME: &[u8] = b"\x13\x08curve448";

/// A Montgomery curve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XCurve {
    X25519,
    X448,
}

impl XCurve {
    pub const ALL: [XCurve; 2] = [XCurve::X25519, XCurve::X448];

    /// Bytes of a scalar, a u-coordinate and a shared secret.
    pub fn key_len(self) -> usize {
        match self {
            XCurve::X25519 => 32,
            XCurve::X448 => 56,
        }
    }

    /// Size in bits (CK_MECHANISM_INFO key sizes).
    pub fn bits(self) -> usize {
        match self {
            XCurve::X25519 => 255,
            XCurve::X448 => 448,
        }
    }

    /// CKA_EC_PARAMS in OID form.
    pub fn params(self) -> &'static [u8] {
        match self {
            XCurve::X25519 => X25519_PARAMS_OID,
            XCurve::X448 => X448_PARAMS_OID,
        }
    }

    /// The OID's DER contents (SPKI and PKCS#8 algorithm, RFC 8410).
    pub fn oid(self) -> &'static [u8] {
        &self.params()[2..]
    }

    pub fn from_oid(oid: &[u8]) -> Option<XCurve> {
        XCurve::ALL.into_iter().find(|c| c.oid() == oid)
    }
}

/// The curve CKA_EC_PARAMS names: another well-formed OID or curve name is
/// `CKR_CURVE_NOT_SUPPORTED`, anything else `CKR_DOMAIN_PARAMS_INVALID`.
pub fn check_params(params: &[u8]) -> Result<XCurve> {
    named_curve(
        canonical_params(params),
        &[(X25519_PARAMS_OID, X25519_PARAMS_NAME, XCurve::X25519), (X448_PARAMS_OID, X448_PARAMS_NAME, XCurve::X448)],
    )
}

/// `params`, with OpenSC 0.23's malformed curve name replaced by the well-formed one.
pub fn canonical_params(params: &[u8]) -> &[u8] {
    if params == X25519_PARAMS_OPENSC_0_23 {
        X25519_PARAMS_NAME
    } else {
        params
    }
}

/// X448 (RFC 7748 §5): the u-coordinate of the clamped scalar `k` times the point `u`. The
/// scalar is used whole (448 bits, not reduced modulo the group order), as RFC 7748 requires.
pub fn x448(k: &[u8; 56], u: &[u8; 56]) -> Zeroizing<[u8; 56]> {
    let mut clamped = Zeroizing::new(*k);
    clamped[0] &= 252;
    clamped[55] |= 128;
    let mut s = ed448::Scalar::from_bytes(&clamped);
    let mut p = &ed448::MontgomeryPoint(*u) * &s;
    s.zeroize();
    let out = Zeroizing::new(p.0);
    p.zeroize();
    out
}

/// A Montgomery key: the u-coordinate of its public point, and the scalar of a private key.
pub struct MontKey {
    curve: XCurve,
    public: Vec<u8>,
    secret: Option<Secret>,
}

enum Secret {
    /// The scalar as given (CKA_VALUE) and aws-lc's key built from it.
    X25519(Zeroizing<Vec<u8>>, agreement::PrivateKey),
    X448(Zeroizing<[u8; 56]>),
}

impl std::fmt::Debug for MontKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MontKey({:?}, private: {})", self.curve, self.secret.is_some())
    }
}

fn bad() -> Error {
    Error::new(CKR_ATTRIBUTE_VALUE_INVALID)
}

impl MontKey {
    /// A private key from its scalar (any `key_len` bytes: RFC 7748 clamps at use).
    pub fn from_scalar(curve: XCurve, k: &[u8]) -> Result<MontKey> {
        if k.len() != curve.key_len() {
            return Err(bad());
        }
        match curve {
            XCurve::X25519 => {
                let key = agreement::PrivateKey::from_private_key(&agreement::X25519, k).map_err(|_| bad())?;
                let public = key.compute_public_key().map_err(|_| Error::general())?.as_ref().to_vec();
                Ok(MontKey { curve, public, secret: Some(Secret::X25519(Zeroizing::new(k.to_vec()), key)) })
            }
            XCurve::X448 => {
                let k: Zeroizing<[u8; 56]> = Zeroizing::new(k.try_into().map_err(|_| bad())?);
                let public = x448(&k, &ed448::MontgomeryPoint::GENERATOR.0).to_vec();
                Ok(MontKey { curve, public, secret: Some(Secret::X448(k)) })
            }
        }
    }

    /// A public key: any u-coordinate of the right length (RFC 7748 §5 takes every value, and
    /// a point of small order shows as an all-zero shared secret, which a derivation refuses).
    pub fn from_public(curve: XCurve, u: &[u8]) -> Result<MontKey> {
        if u.len() != curve.key_len() {
            return Err(bad());
        }
        Ok(MontKey { curve, public: u.to_vec(), secret: None })
    }

    pub fn curve(&self) -> XCurve {
        self.curve
    }

    pub fn public(&self) -> &[u8] {
        &self.public
    }

    /// The private scalar (CKA_VALUE).
    pub fn scalar(&self) -> Option<&[u8]> {
        match &self.secret {
            Some(Secret::X25519(k, _)) => Some(k),
            Some(Secret::X448(k)) => Some(&k[..]),
            None => None,
        }
    }

    pub fn is_private(&self) -> bool {
        self.secret.is_some()
    }

    /// Diffie-Hellman with the peer's public data (its u-coordinate, bare or in a DER OCTET
    /// STRING): the shared secret, `key_len` bytes. A wrong length, a public key, or an all-zero
    /// result is `CKR_MECHANISM_PARAM_INVALID` (`CKR_KEY_TYPE_INCONSISTENT` for a public key).
    pub fn agree(&self, peer: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let bad_peer = || Error::new(CKR_MECHANISM_PARAM_INVALID);
        let u = super::eddsa::point_from_attr(peer, self.curve.key_len()).ok_or_else(bad_peer)?;
        let z = match self.secret.as_ref().ok_or(CKR_KEY_TYPE_INCONSISTENT)? {
            Secret::X25519(_, key) => {
                let peer = agreement::UnparsedPublicKey::new(&agreement::X25519, u);
                agreement::agree(key, peer, bad_peer(), |z| Ok(Zeroizing::new(z.to_vec())))?
            }
            Secret::X448(k) => {
                let u: &[u8; 56] = u.try_into().map_err(|_| bad_peer())?;
                Zeroizing::new(x448(k, u).to_vec())
            }
        };
        // RFC 7748 §6.1/§6.2: an all-zero secret means a small-order peer point. Checked
        // without branching on the secret's bytes.
        if z.len() != self.curve.key_len() || z.iter().fold(0u8, |acc, b| acc | b) == 0 {
            return Err(bad_peer());
        }
        Ok(z)
    }
}

/// Builds the key of a CKK_EC_MONTGOMERY object. A private key's CKA_EC_POINT, when present,
/// must be its public key.
pub fn key_from_attrs(attrs: &AttrMap, private: bool) -> Result<MontKey> {
    let curve = check_params(attrs.bytes(CKA_EC_PARAMS).ok_or(CKR_TEMPLATE_INCOMPLETE)?)?;
    let given = attrs.bytes(CKA_EC_POINT).map(|p| super::eddsa::point_from_attr(p, curve.key_len()).ok_or_else(bad));
    if private {
        let key = MontKey::from_scalar(curve, attrs.bytes(CKA_VALUE).ok_or(CKR_TEMPLATE_INCOMPLETE)?)?;
        if let Some(p) = given {
            if p? != key.public() {
                return Err(bad());
            }
        }
        Ok(key)
    } else {
        MontKey::from_public(curve, given.ok_or(CKR_TEMPLATE_INCOMPLETE)??)
    }
}

/// The attributes of a key: CKA_EC_PARAMS (`params`), CKA_EC_POINT (DER OCTET STRING), and
/// CKA_VALUE for a private key.
pub fn key_attrs(key: &MontKey, params: &[u8]) -> AttrMap {
    let mut m = AttrMap::new();
    m.set(CKA_EC_PARAMS, Attr::bytes(params));
    m.set(CKA_EC_POINT, Attr::bytes(point_attr(key.public())));
    if let Some(k) = key.scalar() {
        m.set(CKA_VALUE, Attr::bytes(k.to_vec()));
    }
    m
}

impl KeyMaterial {
    /// The Montgomery key of a private-key operation (derive).
    pub fn mont_private(&self) -> Result<&Arc<MontKey>> {
        match self {
            KeyMaterial::MontPrivate(k) => Ok(k),
            _ => err(CKR_KEY_TYPE_INCONSISTENT),
        }
    }
}

/// CKM_EC_MONTGOMERY_KEY_PAIR_GEN: X25519 or X448, as CKA_EC_PARAMS in the public template
/// names it (either form, echoed back); without CKA_EC_PARAMS, X25519 (OID form).
pub struct MontKeyPairGen;
pub static EC_MONTGOMERY_KEY_PAIR_GEN: MontKeyPairGen = MontKeyPairGen;

impl Mechanism for MontKeyPairGen {
    fn generate_pair(&self, public: &AttrMap, _private: &AttrMap) -> Result<(AttrMap, AttrMap)> {
        let params = canonical_params(public.bytes(CKA_EC_PARAMS).unwrap_or(X25519_PARAMS_OID));
        let curve = check_params(params)?;
        let k = super::rng::random_vec(curve.key_len())?;
        let key = MontKey::from_scalar(curve, &k)?;
        let private = key_attrs(&key, params);
        Ok((private.subset(&[CKA_EC_PARAMS, CKA_EC_POINT]), private))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mech::ec::ECDH1_DERIVE;
    use crate::mech::testutil::*;
    use crate::mech::Params;

    fn rfc7748() -> serde_json::Value {
        serde_json::from_str(include_str!("../../tests/data/rfc7748.json")).expect("rfc7748.json")
    }

    fn hx(v: &serde_json::Value) -> Vec<u8> {
        h(v.as_str().unwrap())
    }

    fn private(k: &[u8], params: &[u8]) -> AttrMap {
        attrs(CKO_PRIVATE_KEY, CKK_EC_MONTGOMERY, &[(CKA_EC_PARAMS, params), (CKA_VALUE, k)])
    }

    fn public(u: &[u8], params: &[u8]) -> AttrMap {
        attrs(CKO_PUBLIC_KEY, CKK_EC_MONTGOMERY, &[(CKA_EC_PARAMS, params), (CKA_EC_POINT, u)])
    }

    fn ecdh(public: &[u8]) -> Params {
        Params::Ecdh { kdf: CKD_NULL, shared: vec![], public: public.to_vec() }
    }

    fn names(curve: XCurve) -> [&'static [u8]; 2] {
        match curve {
            XCurve::X25519 => [X25519_PARAMS_OID, X25519_PARAMS_NAME],
            XCurve::X448 => [X448_PARAMS_OID, X448_PARAMS_NAME],
        }
    }

    /// The scalar multiplication itself, through a key whose scalar is `k`: its agreement with
    /// the point `u`.
    fn mult(curve: XCurve, k: &[u8], u: &[u8]) -> Vec<u8> {
        MontKey::from_scalar(curve, k).unwrap().agree(u).unwrap().to_vec()
    }

    /// RFC 7748 §5.2: the two scalar-multiplication vectors and the iterated function (once,
    /// and 1000 times) of each curve.
    #[test]
    fn rfc7748_scalar_multiplication() {
        let doc = rfc7748();
        for (curve, name, base) in [(XCurve::X25519, "x25519", 9u8), (XCurve::X448, "x448", 5)] {
            let d = &doc[name];
            for v in d["scalar_mult"].as_array().unwrap() {
                assert_eq!(mult(curve, &hx(&v["scalar"]), &hx(&v["u"])), hx(&v["output"]), "{name}");
            }
            let mut k = vec![0u8; curve.key_len()];
            k[0] = base;
            let mut u = k.clone();
            for i in 1..=1000 {
                let next = mult(curve, &k, &u);
                u = std::mem::replace(&mut k, next);
                if i == 1 {
                    assert_eq!(k, hx(&d["iterated"]["1"]), "{name}");
                }
            }
            assert_eq!(k, hx(&d["iterated"]["1000"]), "{name}");
        }
    }

    /// RFC 7748 §6.1 and §6.2: both parties' public keys and the shared secret, through
    /// CKM_ECDH1_DERIVE with the peer's key bare and DER-wrapped, and with either CKA_EC_PARAMS
    /// form.
    #[test]
    fn rfc7748_diffie_hellman() {
        let doc = rfc7748();
        for (curve, name) in [(XCurve::X25519, "x25519"), (XCurve::X448, "x448")] {
            let d = &doc[name]["dh"];
            let shared = hx(&d["shared"]);
            for params in names(curve) {
                for (me, mine, peer) in [("alice", "alice_public", "bob_public"), ("bob", "bob_public", "alice_public")]
                {
                    let k = material(&private(&hx(&d[format!("{me}_private")]), params));
                    let KeyMaterial::MontPrivate(key) = &k else { panic!() };
                    assert_eq!(key.curve(), curve);
                    assert_eq!(key.public(), &hx(&d[mine])[..], "{name} {me}");
                    let attrs = key_attrs(key, params);
                    assert_eq!(attrs.bytes(CKA_EC_POINT), Some(&point_attr(&hx(&d[mine]))[..]));
                    assert_eq!(attrs.bytes(CKA_VALUE), Some(&hx(&d[format!("{me}_private")])[..]));
                    let peer = hx(&d[peer]);
                    for public in [peer.clone(), point_attr(&peer)] {
                        assert_eq!(*ECDH1_DERIVE.derive(&ecdh(&public), &k, None).unwrap(), shared);
                        assert_eq!(
                            *ECDH1_DERIVE.derive(&ecdh(&public), &k, Some(16)).unwrap(),
                            shared[shared.len() - 16..]
                        );
                    }
                    // A KDF over the secret, as on the other curves.
                    let p = Params::Ecdh { kdf: CKD_SHA256_KDF, shared: b"info".to_vec(), public: peer.clone() };
                    let want = crate::mech::ec::x963_kdf(crate::mech::ffi::Md::Sha256, &shared, b"info", 32);
                    assert_eq!(ECDH1_DERIVE.derive(&p, &k, Some(32)).unwrap(), want);
                    // The public key object parses in either CKA_EC_POINT form.
                    for form in [peer.clone(), point_attr(&peer)] {
                        assert!(matches!(material(&public(&form, params)), KeyMaterial::MontPublic(_)));
                    }
                }
            }
        }
    }

    /// Points of small order give an all-zero secret, which is refused; so are peer values of
    /// the wrong length, public keys as the base key, and the other Montgomery curve's points.
    #[test]
    fn small_order_points_and_bad_input_are_refused() {
        let doc = rfc7748();
        for (curve, name) in [(XCurve::X25519, "x25519"), (XCurve::X448, "x448")] {
            let d = &doc[name]["dh"];
            let k = material(&private(&hx(&d["alice_private"]), curve.params()));
            let n = curve.key_len();
            let zero = vec![0u8; n];
            let mut one = vec![0u8; n];
            one[0] = 1;
            let peer = hx(&d["bob_public"]);
            for bad in [zero, one, vec![], peer[1..].to_vec(), [&peer[..], &[0]].concat(), vec![0u8; 88 - n]] {
                assert_eq!(rv(ECDH1_DERIVE.derive(&ecdh(&bad), &k, None)), CKR_MECHANISM_PARAM_INVALID, "{name}");
            }
            let pk = material(&public(&hx(&d["alice_public"]), curve.params()));
            assert_eq!(rv(ECDH1_DERIVE.derive(&ecdh(&peer), &pk, None)), CKR_KEY_TYPE_INCONSISTENT);
            assert_eq!(rv(ECDH1_DERIVE.derive(&ecdh(&peer), &k, Some(n + 1))), CKR_KEY_SIZE_RANGE);
            assert_eq!(rv(ECDH1_DERIVE.derive(&ecdh(&peer), &k, Some(0))), CKR_KEY_SIZE_RANGE);
            // Parameter errors that hold for every curve.
            let bad = Params::Ecdh { kdf: CKD_NULL, shared: vec![1], public: peer.clone() };
            assert_eq!(rv(ECDH1_DERIVE.derive(&bad, &k, None)), CKR_MECHANISM_PARAM_INVALID);
            assert_eq!(rv(ECDH1_DERIVE.derive(&Params::None, &k, None)), CKR_MECHANISM_PARAM_INVALID);
        }
    }

    #[test]
    fn params_material_and_generation() {
        let k25519 = h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
        // Edwards curves and prime curves are no Montgomery curves.
        let edwards = [crate::mech::eddsa::ED25519_PARAMS_OID, crate::mech::eddsa::ED448_PARAMS_NAME];
        for params in [edwards[0], edwards[1], crate::mech::ec::P256.params] {
            assert_eq!(rv(KeyMaterial::from_attrs(&private(&k25519, params))), CKR_CURVE_NOT_SUPPORTED);
        }
        for params in [&[0x30, 0x00][..], &[], &[0x13, 0x05, b'c']] {
            assert_eq!(rv(KeyMaterial::from_attrs(&private(&k25519, params))), CKR_DOMAIN_PARAMS_INVALID);
        }
        // Lengths: a 25519 scalar is no 448 scalar, and the other way round.
        assert_eq!(rv(KeyMaterial::from_attrs(&private(&k25519, X448_PARAMS_OID))), CKR_ATTRIBUTE_VALUE_INVALID);
        assert_eq!(rv(KeyMaterial::from_attrs(&private(&[1; 56], X25519_PARAMS_OID))), CKR_ATTRIBUTE_VALUE_INVALID);
        assert_eq!(rv(KeyMaterial::from_attrs(&public(&[9; 31], X25519_PARAMS_OID))), CKR_ATTRIBUTE_VALUE_INVALID);
        let mut no_point = public(&[9; 32], X25519_PARAMS_OID);
        no_point.remove(CKA_EC_POINT);
        assert_eq!(rv(KeyMaterial::from_attrs(&no_point)), CKR_TEMPLATE_INCOMPLETE);
        // A private key's CKA_EC_POINT must be its own.
        let mut wrong = private(&k25519, X25519_PARAMS_OID);
        wrong.set(CKA_EC_POINT, Attr::bytes(point_attr(&[9; 32])));
        assert_eq!(rv(KeyMaterial::from_attrs(&wrong)), CKR_ATTRIBUTE_VALUE_INVALID);
        // Montgomery keys do nothing else.
        let k = material(&private(&k25519, X25519_PARAMS_OID));
        assert!(k.is_private());
        assert_eq!(rv(crate::mech::eddsa::EDDSA.sign(&Params::None, &k)), CKR_KEY_TYPE_INCONSISTENT);
        assert_eq!(rv(crate::mech::ec::ECDSA.sign(&Params::None, &k)), CKR_KEY_TYPE_INCONSISTENT);
        // Generation: parameters echoed, X25519 by default; both sides of a generated pair of
        // pairs agree.
        for (template, want, curve) in [
            (Some(X25519_PARAMS_NAME), X25519_PARAMS_NAME, XCurve::X25519),
            (Some(X25519_PARAMS_OID), X25519_PARAMS_OID, XCurve::X25519),
            (None, X25519_PARAMS_OID, XCurve::X25519),
            (Some(X448_PARAMS_NAME), X448_PARAMS_NAME, XCurve::X448),
            (Some(X448_PARAMS_OID), X448_PARAMS_OID, XCurve::X448),
        ] {
            let mut t = AttrMap::new();
            if let Some(p) = template {
                t.set(CKA_EC_PARAMS, Attr::bytes(p.to_vec()));
            }
            let gen = || EC_MONTGOMERY_KEY_PAIR_GEN.generate_pair(&t, &AttrMap::new()).unwrap();
            let ((pa, sa), (pb, sb)) = (gen(), gen());
            assert_eq!(pa.bytes(CKA_EC_PARAMS), Some(want));
            assert_eq!(sa.bytes(CKA_VALUE).unwrap().len(), curve.key_len());
            assert_eq!(pa.bytes(CKA_EC_POINT).unwrap().len(), curve.key_len() + 2);
            assert_eq!(sa.bytes(CKA_EC_POINT), pa.bytes(CKA_EC_POINT));
            let ka = material(&with_class(sa, CKO_PRIVATE_KEY, CKK_EC_MONTGOMERY));
            let kb = material(&with_class(sb, CKO_PRIVATE_KEY, CKK_EC_MONTGOMERY));
            let za = ECDH1_DERIVE.derive(&ecdh(pb.bytes(CKA_EC_POINT).unwrap()), &ka, None).unwrap();
            let zb = ECDH1_DERIVE.derive(&ecdh(pa.bytes(CKA_EC_POINT).unwrap()), &kb, None).unwrap();
            assert_eq!(za, zb);
            assert_eq!(za.len(), curve.key_len());
        }
        // OpenSC 0.23's curve name (length one too large) generates an X25519 key whose
        // CKA_EC_PARAMS is the well-formed name; other malformed names stay invalid.
        let mut t = AttrMap::new();
        t.set(CKA_EC_PARAMS, Attr::bytes(X25519_PARAMS_OPENSC_0_23.to_vec()));
        let (p, s) = EC_MONTGOMERY_KEY_PAIR_GEN.generate_pair(&t, &AttrMap::new()).unwrap();
        assert_eq!(p.bytes(CKA_EC_PARAMS), Some(X25519_PARAMS_NAME));
        assert_eq!(s.bytes(CKA_VALUE).unwrap().len(), 32);
        assert_eq!(rv(check_params(b"\x13\x09curve448")), CKR_DOMAIN_PARAMS_INVALID);
        for params in [crate::mech::ec::P256.params, crate::mech::eddsa::ED25519_PARAMS_OID] {
            let mut t = AttrMap::new();
            t.set(CKA_EC_PARAMS, Attr::bytes(params.to_vec()));
            assert_eq!(rv(EC_MONTGOMERY_KEY_PAIR_GEN.generate_pair(&t, &AttrMap::new())), CKR_CURVE_NOT_SUPPORTED);
        }
    }
}
