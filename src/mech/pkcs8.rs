//! Key encodings the token layer needs: PKCS#8 PrivateKeyInfo (wrapping private keys, Azure
//! BYOK targets) both ways, SubjectPublicKeyInfo (CKA_PUBLIC_KEY_INFO, KEK import), and the
//! public half of a private key.
//!
//! PKCS#8 is emitted exactly as OpenSSL/pyca do and docs/nshield-emulation.md §1.3 fixes:
//! version 0; RSA `rsaEncryption` with NULL parameters and a full two-prime RSAPrivateKey; EC
//! `id-ecPublicKey` with the namedCurve OID and an RFC 5915 ECPrivateKey (version 1, d at the
//! order's length, no [0] parameters, the [1] publicKey); Ed25519, Ed448, X25519 and X448 per
//! RFC 8410 (the curve's OID, no parameters, the seed or scalar in an inner OCTET STRING, no
//! public key).
//!
//! Every function goes through the engine keys (`KeyMaterial::from_attrs`), so what it encodes
//! or returns has been checked, and RSA keys given as n, e, d come out with their CRT values.

#![forbid(unsafe_code)]

use super::asn1::{self, Reader};
use super::eddsa::EdCurve;
use super::montgomery::XCurve;
use super::{dh, dsa, ec, eddsa, montgomery, rsa, KeyMaterial};
use crate::error::{err, Error, Result};
use crate::object::attr::{Attr, AttrMap};
use cryptoki_sys::*;
use zeroize::Zeroizing;

/// DER OID contents of rsaEncryption (1.2.840.113549.1.1.1).
pub const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// id-dsa (1.2.840.10040.4.1, RFC 3279 §2.3.2): parameters Dss-Parms ::= SEQUENCE { p, q, g }.
pub const ID_DSA: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01];
/// PKCS #3 dhKeyAgreement (1.2.840.113549.1.3.1): parameters DHParameter ::= SEQUENCE { prime,
/// base, privateValueLength OPTIONAL }, as OpenSSL writes PKCS #3 DH keys.
pub const DH_KEY_AGREEMENT: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x03, 0x01];

fn alg_id(oid: &[u8], params: Option<&[u8]>) -> Zeroizing<Vec<u8>> {
    let o = asn1::tlv(asn1::OID, oid);
    match params {
        Some(p) => asn1::sequence(&[&o, p]),
        None => asn1::sequence(&[&o]),
    }
}

fn rsa_alg_id() -> Zeroizing<Vec<u8>> {
    alg_id(RSA_ENCRYPTION, Some(&[asn1::NULL, 0]))
}

fn version(v: u8) -> [u8; 3] {
    [asn1::INTEGER, 1, v]
}

fn private_key_info(alg: &[u8], private_key: &[u8]) -> Zeroizing<Vec<u8>> {
    let pk = asn1::tlv(asn1::OCTET_STRING, private_key);
    asn1::sequence(&[&version(0), alg, &pk])
}

fn ints(values: &[&[u8]]) -> Zeroizing<Vec<u8>> {
    let cap: usize = values.iter().map(|v| asn1::uint_len(v)).sum();
    let mut out = Zeroizing::new(Vec::with_capacity(cap));
    for v in values {
        asn1::put_uint(&mut out, v);
    }
    out
}

/// What kind of asymmetric key `attrs` describe.
fn key_kind(attrs: &AttrMap) -> Result<CK_KEY_TYPE> {
    match attrs.key_type() {
        Some(kt @ (CKK_RSA | CKK_EC | CKK_EC_EDWARDS | CKK_EC_MONTGOMERY | CKK_DSA | CKK_DH)) => Ok(kt),
        _ => err(CKR_KEY_TYPE_INCONSISTENT),
    }
}

/// PKCS#8 PrivateKeyInfo DER of a private key object (RSA, EC, Edwards, Montgomery). A key type we cannot
/// encode is `CKR_KEY_NOT_WRAPPABLE`; invalid material is what
/// [`super::KeyMaterial::from_attrs`] says.
pub fn private_to_pkcs8(attrs: &AttrMap) -> Result<Zeroizing<Vec<u8>>> {
    if attrs.class() != Some(CKO_PRIVATE_KEY) {
        return err(CKR_KEY_NOT_WRAPPABLE);
    }
    match key_kind(attrs).map_err(|_| Error::new(CKR_KEY_NOT_WRAPPABLE))? {
        CKK_RSA => {
            let key = rsa::key_from_attrs(attrs, true)?;
            let parts = key.engine.parts().map_err(|_| Error::general())?;
            let [d, p, q, dp, dq, qi] = parts.private.as_ref().ok_or(CKR_KEY_NOT_WRAPPABLE)?;
            let body = ints(&[&[0], &parts.n, &parts.e, d, p, q, dp, dq, qi]);
            let rsa_private_key = asn1::sequence(&[&body]);
            Ok(private_key_info(&rsa_alg_id(), &rsa_private_key))
        }
        CKK_EC => {
            let key = ec::key_from_attrs(attrs, true)?;
            let d = key.engine.scalar().map_err(|_| Error::general())?;
            let point = key.point()?;
            let mut bits = Vec::with_capacity(point.len() + 4);
            asn1::put_bit_string(&mut bits, &point);
            let public = asn1::tlv(asn1::CTX1, &bits);
            let ec_private_key = asn1::sequence(&[&version(1), &asn1::tlv(asn1::OCTET_STRING, &d), &public]);
            let alg = alg_id(ec::ID_EC_PUBLIC_KEY, Some(key.curve.params));
            Ok(private_key_info(&alg, &ec_private_key))
        }
        // RFC 5958 / OpenSSL: the private value as an INTEGER, the group in the algorithm.
        CKK_DSA => {
            let key = dsa::key_from_attrs(attrs, true)?;
            let parts = key.engine.parts().map_err(|_| Error::general())?;
            let x = key.engine.x().map_err(|_| Error::general())?;
            let alg = alg_id(ID_DSA, Some(&asn1::sequence(&[&ints(&[&parts.p, &parts.q, &parts.g])])));
            Ok(private_key_info(&alg, &ints(&[&x])))
        }
        CKK_DH => {
            let key = dh::key_from_attrs(attrs, true)?;
            let [p, g, _] = key.engine.parts().map_err(|_| Error::general())?;
            let x = key.engine.x().map_err(|_| Error::general())?;
            let alg = alg_id(DH_KEY_AGREEMENT, Some(&asn1::sequence(&[&ints(&[&p, &g])])));
            Ok(private_key_info(&alg, &ints(&[&x])))
        }
        CKK_EC_EDWARDS => {
            let key = eddsa::key_from_attrs(attrs, true)?;
            let seed = key.seed().ok_or(CKR_KEY_NOT_WRAPPABLE)?;
            let inner = asn1::tlv(asn1::OCTET_STRING, seed);
            Ok(private_key_info(&alg_id(key.curve().oid(), None), &inner))
        }
        _ => {
            let key = montgomery::key_from_attrs(attrs, true)?;
            let k = key.scalar().ok_or(CKR_KEY_NOT_WRAPPABLE)?;
            let inner = asn1::tlv(asn1::OCTET_STRING, k);
            Ok(private_key_info(&alg_id(key.curve().oid(), None), &inner))
        }
    }
}

fn bytes(v: impl Into<Vec<u8>>) -> Attr {
    Attr::bytes(v)
}

/// Parses a PKCS#8 PrivateKeyInfo (or RFC 5958 OneAsymmetricKey) into the attributes of a
/// private key object: CKA_CLASS, CKA_KEY_TYPE and the key material (RSA: all eight
/// components; EC: CKA_EC_PARAMS, CKA_VALUE, CKA_EC_POINT — computed when the encoding has no
/// public key; Edwards and Montgomery keys: CKA_EC_PARAMS (OID form), CKA_VALUE, CKA_EC_POINT).
/// Anything malformed, unsupported or inconsistent is `CKR_WRAPPED_KEY_INVALID`.
pub fn pkcs8_to_attrs(der: &[u8]) -> Result<AttrMap> {
    parse_pkcs8(der).ok_or(Error::new(CKR_WRAPPED_KEY_INVALID))?.map_err(|_| Error::new(CKR_WRAPPED_KEY_INVALID))
}

/// `None`: malformed; `Some(Err)`: well-formed but the key is unusable.
fn parse_pkcs8(der: &[u8]) -> Option<Result<AttrMap>> {
    let mut outer = Reader::new(der);
    let mut pki = outer.seq()?;
    outer.end()?;
    let ver = pki.small_uint()?;
    if ver > 1 {
        return None;
    }
    let mut alg = pki.seq()?;
    let oid = alg.read(asn1::OID)?;
    let alg_params = if alg.is_empty() { None } else { Some(alg.any()?) };
    alg.end()?;
    let private_key = pki.read(asn1::OCTET_STRING)?;
    pki.optional(asn1::CTX0)?; // attributes: ignored
    let one_asym_public = pki.optional(asn1::CTX1_PRIM)?;
    pki.end()?;

    let mut m = AttrMap::new();
    m.set(CKA_CLASS, Attr::Ulong(CKO_PRIVATE_KEY));
    if oid == RSA_ENCRYPTION {
        if !matches!(alg_params, None | Some((asn1::NULL, []))) {
            return None;
        }
        let mut r = Reader::new(private_key);
        let mut k = r.seq()?;
        r.end()?;
        // Version 0 is two-prime; version 1 (multi-prime) is not supported.
        if k.small_uint()? != 0 {
            return None;
        }
        m.set(CKA_KEY_TYPE, Attr::Ulong(CKK_RSA));
        for t in crate::mech::rsa::PRIVATE_COMPONENTS {
            m.set(t, bytes(k.uint()?));
        }
        k.end()?;
        Some(rsa::key_from_attrs(&m, true).map(|_| m))
    } else if oid == ec::ID_EC_PUBLIC_KEY {
        let curve = match alg_params {
            Some((asn1::OID, c)) => ec::curve_from_oid(c)?,
            _ => return None,
        };
        let mut r = Reader::new(private_key);
        let mut k = r.seq()?;
        r.end()?;
        if k.small_uint()? != 1 {
            return None;
        }
        let d = asn1::trim_be(k.read(asn1::OCTET_STRING)?);
        if let Some(p) = k.optional(asn1::CTX0)? {
            if p != curve.params {
                return None;
            }
        }
        let public = match k.optional(asn1::CTX1)? {
            Some(p) => {
                let mut pr = Reader::new(p);
                let bits = pr.bit_string()?;
                pr.end()?;
                Some(bits)
            }
            None => None,
        };
        k.end()?;
        if d.len() > curve.len() {
            return None;
        }
        let mut value = Zeroizing::new(vec![0u8; curve.len()]);
        value[curve.len() - d.len()..].copy_from_slice(d);
        m.set(CKA_KEY_TYPE, Attr::Ulong(CKK_EC));
        m.set(CKA_EC_PARAMS, bytes(curve.params));
        if let Some(p) = public {
            m.set(CKA_EC_POINT, bytes(ec::point_attr(p)));
        }
        m.set(CKA_VALUE, Attr::Bytes(value));
        // Checks the scalar and that a given public key is its point; fills in the point.
        Some(ec::key_from_attrs(&m, true).and_then(|key| {
            m.set(CKA_EC_POINT, bytes(ec::point_attr(&key.point()?)));
            Ok(m)
        }))
    } else if oid == ID_DSA || oid == DH_KEY_AGREEMENT {
        let is_dsa = oid == ID_DSA;
        let mut group = match alg_params {
            Some((asn1::SEQUENCE, body)) => Reader::new(body),
            _ => return None,
        };
        let p = group.uint()?;
        let q = if is_dsa { Some(group.uint()?) } else { None };
        let g = group.uint()?;
        if !is_dsa {
            group.optional(asn1::INTEGER)?; // privateValueLength: x itself says
        }
        group.end()?;
        let x = asn1::single(private_key, asn1::INTEGER)?;
        m.set(CKA_KEY_TYPE, Attr::Ulong(if is_dsa { CKK_DSA } else { CKK_DH }));
        m.set(CKA_PRIME, bytes(p));
        if let Some(q) = q {
            m.set(CKA_SUBPRIME, bytes(q));
        }
        m.set(CKA_BASE, bytes(g));
        m.set(CKA_VALUE, bytes(asn1::trim_be(x)));
        // Checks the group and the private value.
        let checked =
            if is_dsa { dsa::key_from_attrs(&m, true).map(|_| ()) } else { dh::key_from_attrs(&m, true).map(|_| ()) };
        Some(checked.map(|_| m))
    } else if let Some((kt, params)) = rfc8410_curve(oid) {
        // RFC 8410 §7: no parameters; CurvePrivateKey, an OCTET STRING, inside the OCTET STRING.
        if alg_params.is_some() {
            return None;
        }
        let secret = asn1::single(private_key, asn1::OCTET_STRING)?;
        m.set(CKA_KEY_TYPE, Attr::Ulong(kt));
        m.set(CKA_EC_PARAMS, bytes(params));
        m.set(CKA_VALUE, bytes(secret));
        if let Some(p) = one_asym_public {
            // [1] IMPLICIT BIT STRING: the unused-bits byte, then the key.
            let [0, key @ ..] = p else { return None };
            m.set(CKA_EC_POINT, bytes(eddsa::point_attr(key)));
        }
        // Checks the secret and that a given public key is its own; fills in the public key.
        let public = match kt {
            CKK_EC_EDWARDS => eddsa::key_from_attrs(&m, true).map(|k| k.public().to_vec()),
            _ => montgomery::key_from_attrs(&m, true).map(|k| k.public().to_vec()),
        };
        Some(public.map(|public| {
            m.set(CKA_EC_POINT, bytes(eddsa::point_attr(&public)));
            m
        }))
    } else {
        None
    }
}

/// The key type and CKA_EC_PARAMS (OID form) of an RFC 8410 algorithm OID: Ed25519, Ed448,
/// X25519, X448.
fn rfc8410_curve(oid: &[u8]) -> Option<(CK_KEY_TYPE, &'static [u8])> {
    match (EdCurve::from_oid(oid), XCurve::from_oid(oid)) {
        (Some(c), _) => Some((CKK_EC_EDWARDS, c.params())),
        (_, Some(c)) => Some((CKK_EC_MONTGOMERY, c.params())),
        _ => None,
    }
}

/// The public key of a public or private key object: RSA (n, e) / EC (curve, point) / an
/// RFC 8410 key (the curve's OID contents, the raw public key).
enum Public {
    Rsa(Zeroizing<Vec<u8>>, Zeroizing<Vec<u8>>),
    Ec(&'static ec::Curve, Vec<u8>),
    Rfc8410(&'static [u8], Vec<u8>),
    /// DSA: p, q, g, y.
    Dsa(dsa::DsaPublicParts),
    /// PKCS #3 DH: p, g, y.
    Dh([Zeroizing<Vec<u8>>; 3]),
}

fn public_of(attrs: &AttrMap) -> Result<Public> {
    let private = match attrs.class() {
        Some(CKO_PRIVATE_KEY) => true,
        Some(CKO_PUBLIC_KEY) => false,
        _ => return err(CKR_KEY_TYPE_INCONSISTENT),
    };
    Ok(match key_kind(attrs)? {
        CKK_RSA => {
            let n = attrs.bytes(CKA_MODULUS).ok_or(CKR_TEMPLATE_INCOMPLETE)?;
            let e = attrs.bytes(CKA_PUBLIC_EXPONENT).ok_or(CKR_TEMPLATE_INCOMPLETE)?;
            let (n, e) = (asn1::trim_be(n), asn1::trim_be(e));
            if n == [0] || e == [0] || n.is_empty() || e.is_empty() {
                return err(CKR_ATTRIBUTE_VALUE_INVALID);
            }
            Public::Rsa(Zeroizing::new(n.to_vec()), Zeroizing::new(e.to_vec()))
        }
        CKK_EC => {
            let params = attrs.bytes(CKA_EC_PARAMS).ok_or(CKR_TEMPLATE_INCOMPLETE)?;
            let curve = ec::curve_from_params(params)?;
            let key = if private && attrs.contains(CKA_VALUE) {
                ec::key_from_attrs(attrs, true)?
            } else {
                let p = attrs.bytes(CKA_EC_POINT).ok_or(CKR_TEMPLATE_INCOMPLETE)?;
                ec::public_key(curve, ec::point_from_attr(p, curve.len()).ok_or(CKR_ATTRIBUTE_VALUE_INVALID)?)?
            };
            Public::Ec(curve, key.point()?)
        }
        CKK_EC_EDWARDS => {
            let key = eddsa::key_from_attrs(attrs, private && attrs.contains(CKA_VALUE))?;
            Public::Rfc8410(key.curve().oid(), key.public().to_vec())
        }
        CKK_DSA => Public::Dsa(dsa::public_parts(&dsa::key_from_attrs(attrs, private)?)?),
        CKK_DH => Public::Dh(dh::public_parts(&dh::key_from_attrs(attrs, private)?)?),
        _ => {
            let key = montgomery::key_from_attrs(attrs, private && attrs.contains(CKA_VALUE))?;
            Public::Rfc8410(key.curve().oid(), key.public().to_vec())
        }
    })
}

fn spki(alg: &[u8], key: &[u8]) -> Vec<u8> {
    let mut bits = Vec::with_capacity(asn1::tlv_len(key.len() + 1));
    asn1::put_bit_string(&mut bits, key);
    asn1::sequence(&[alg, &bits]).to_vec()
}

/// SubjectPublicKeyInfo DER of a public or private key object (CKA_PUBLIC_KEY_INFO), or `None`
/// when the object has no usable public key (other key types, missing or invalid material).
pub fn public_key_info(attrs: &AttrMap) -> Option<Vec<u8>> {
    Some(encode_spki(public_of(attrs).ok()?))
}

fn encode_spki(public: Public) -> Vec<u8> {
    match public {
        Public::Rsa(n, e) => {
            let rsa_public_key = asn1::sequence(&[&ints(&[&n, &e])]);
            spki(&rsa_alg_id(), &rsa_public_key)
        }
        Public::Ec(curve, point) => spki(&alg_id(ec::ID_EC_PUBLIC_KEY, Some(curve.params)), &point),
        Public::Rfc8410(oid, pk) => spki(&alg_id(oid, None), &pk),
        // RFC 3279 §2.3.2 (DSA) and §2.3.3's PKCS #3 form (DH): the value y as an INTEGER.
        Public::Dsa(d) => {
            let params = asn1::sequence(&[&ints(&[&d.p, &d.q, &d.g])]);
            spki(&alg_id(ID_DSA, Some(&params)), &ints(&[&d.y]))
        }
        Public::Dh([p, g, y]) => {
            let params = asn1::sequence(&[&ints(&[&p, &g])]);
            spki(&alg_id(DH_KEY_AGREEMENT, Some(&params)), &ints(&[&y]))
        }
    }
}

/// The public key of `attrs` from `material`, the engine key already built from those same
/// attributes by `KeyMaterial::from_attrs` (so checked): the key is not parsed again. RSA (and
/// key types without material) read the attributes, as [`public_of`] does.
fn public_of_parsed(attrs: &AttrMap, material: &KeyMaterial) -> Result<Public> {
    Ok(match material {
        KeyMaterial::EcPrivate(k) | KeyMaterial::EcPublic(k) => Public::Ec(k.curve, k.point()?),
        KeyMaterial::EdPrivate(k) | KeyMaterial::EdPublic(k) => Public::Rfc8410(k.curve().oid(), k.public().to_vec()),
        KeyMaterial::MontPrivate(k) | KeyMaterial::MontPublic(k) => {
            Public::Rfc8410(k.curve().oid(), k.public().to_vec())
        }
        KeyMaterial::DsaPrivate(k) | KeyMaterial::DsaPublic(k) => Public::Dsa(dsa::public_parts(k)?),
        KeyMaterial::DhPrivate(k) | KeyMaterial::DhPublic(k) => Public::Dh(dh::public_parts(k)?),
        _ => return public_of(attrs),
    })
}

/// [`public_key_info`] of a key object whose material `material` was built from `attrs` by
/// `KeyMaterial::from_attrs` (when an object is made): the same value, without a second parse.
pub fn public_key_info_parsed(attrs: &AttrMap, material: &KeyMaterial) -> Option<Vec<u8>> {
    Some(encode_spki(public_of_parsed(attrs, material).ok()?))
}

/// [`public_from_private`] of a private key object whose material `material` was built from
/// `attrs` by `KeyMaterial::from_attrs`: the same attributes, without a second parse.
pub fn public_from_private_parsed(attrs: &AttrMap, material: &KeyMaterial) -> Result<AttrMap> {
    if attrs.class() != Some(CKO_PRIVATE_KEY) {
        return err(CKR_KEY_TYPE_INCONSISTENT);
    }
    // A DSA or DH private key holds its domain parameters already; its public value y is no
    // attribute of the private key in PKCS#11.
    if matches!(attrs.key_type(), Some(CKK_DSA | CKK_DH)) {
        return Ok(AttrMap::new());
    }
    let point = match (key_kind(attrs)?, material) {
        (CKK_EC, KeyMaterial::EcPrivate(k)) => ec::point_attr(&k.point()?),
        (CKK_EC_EDWARDS, KeyMaterial::EdPrivate(k)) => eddsa::point_attr(k.public()),
        (CKK_EC_MONTGOMERY, KeyMaterial::MontPrivate(k)) => eddsa::point_attr(k.public()),
        _ => return public_from_private(attrs),
    };
    let mut m = AttrMap::new();
    m.set(CKA_EC_PARAMS, bytes(attrs.bytes(CKA_EC_PARAMS).unwrap_or_default()));
    m.set(CKA_EC_POINT, bytes(point));
    Ok(m)
}

/// The public attributes of a private key object: CKA_MODULUS and CKA_PUBLIC_EXPONENT (RSA), or
/// CKA_EC_PARAMS (as stored) and CKA_EC_POINT (DER OCTET STRING, computed from CKA_VALUE) for
/// EC, Edwards and Montgomery keys.
pub fn public_from_private(attrs: &AttrMap) -> Result<AttrMap> {
    if attrs.class() != Some(CKO_PRIVATE_KEY) {
        return err(CKR_KEY_TYPE_INCONSISTENT);
    }
    let mut m = AttrMap::new();
    match key_kind(attrs)? {
        // The private key holds the group already, and y is no attribute of it.
        CKK_DSA | CKK_DH => {}
        CKK_RSA => {
            let Public::Rsa(n, e) = public_of(attrs)? else { return Err(Error::general()) };
            m.set(CKA_MODULUS, Attr::Bytes(n));
            m.set(CKA_PUBLIC_EXPONENT, Attr::Bytes(e));
        }
        CKK_EC => {
            let key = ec::key_from_attrs(attrs, true)?;
            m.set(CKA_EC_PARAMS, bytes(attrs.bytes(CKA_EC_PARAMS).unwrap_or_default()));
            m.set(CKA_EC_POINT, bytes(ec::point_attr(&key.point()?)));
        }
        CKK_EC_EDWARDS => {
            let key = eddsa::key_from_attrs(attrs, true)?;
            m.set(CKA_EC_PARAMS, bytes(attrs.bytes(CKA_EC_PARAMS).unwrap_or_default()));
            m.set(CKA_EC_POINT, bytes(eddsa::point_attr(key.public())));
        }
        _ => {
            let key = montgomery::key_from_attrs(attrs, true)?;
            m.set(CKA_EC_PARAMS, bytes(attrs.bytes(CKA_EC_PARAMS).unwrap_or_default()));
            m.set(CKA_EC_POINT, bytes(eddsa::point_attr(key.public())));
        }
    }
    Ok(m)
}

/// Parses a SubjectPublicKeyInfo (RSA, EC on a supported curve, Ed25519, Ed448, X25519, X448)
/// — or, leniently, a bare PKCS#1 RSAPublicKey — into the attributes of a public key object:
/// CKA_CLASS, CKA_KEY_TYPE, and CKA_MODULUS/CKA_PUBLIC_EXPONENT or CKA_EC_PARAMS/CKA_EC_POINT. The key is
/// checked; anything wrong is `CKR_ATTRIBUTE_VALUE_INVALID` (an unsupported curve
/// `CKR_CURVE_NOT_SUPPORTED`).
pub fn spki_to_attrs(der: &[u8]) -> Result<AttrMap> {
    let bad = || Error::new(CKR_ATTRIBUTE_VALUE_INVALID);
    let mut m = AttrMap::new();
    m.set(CKA_CLASS, Attr::Ulong(CKO_PUBLIC_KEY));
    let rsa_public = |m: &mut AttrMap, body: &[u8]| -> Option<()> {
        let mut r = Reader::new(body);
        let mut k = r.seq()?;
        r.end()?;
        let (n, e) = (k.uint()?, k.uint()?);
        k.end()?;
        m.set(CKA_KEY_TYPE, Attr::Ulong(CKK_RSA));
        m.set(CKA_MODULUS, bytes(n));
        m.set(CKA_PUBLIC_EXPONENT, bytes(e));
        Some(())
    };
    let parsed = (|| -> Option<Result<()>> {
        let mut outer = Reader::new(der);
        let mut s = outer.seq()?;
        outer.end()?;
        if s.peek_tag() == Some(asn1::INTEGER) {
            // PKCS#1 RSAPublicKey.
            return rsa_public(&mut m, der).map(Ok);
        }
        let mut alg = s.seq()?;
        let oid = alg.read(asn1::OID)?;
        let params = if alg.is_empty() { None } else { Some(alg.any()?) };
        alg.end()?;
        let key = s.bit_string()?;
        s.end()?;
        if oid == RSA_ENCRYPTION && matches!(params, None | Some((asn1::NULL, []))) {
            rsa_public(&mut m, key).map(Ok)
        } else if oid == ec::ID_EC_PUBLIC_KEY {
            let curve = match params? {
                (asn1::OID, c) => match ec::curve_from_oid(c) {
                    Some(c) => c,
                    None => return Some(err(CKR_CURVE_NOT_SUPPORTED)),
                },
                _ => return Some(err(CKR_DOMAIN_PARAMS_INVALID)),
            };
            m.set(CKA_KEY_TYPE, Attr::Ulong(CKK_EC));
            m.set(CKA_EC_PARAMS, bytes(curve.params));
            m.set(CKA_EC_POINT, bytes(ec::point_attr(key)));
            Some(Ok(()))
        } else if let (Some((kt, curve_params)), None) = (rfc8410_curve(oid), params) {
            m.set(CKA_KEY_TYPE, Attr::Ulong(kt));
            m.set(CKA_EC_PARAMS, bytes(curve_params));
            m.set(CKA_EC_POINT, bytes(eddsa::point_attr(key)));
            Some(Ok(()))
        } else {
            None
        }
    })();
    parsed.ok_or_else(bad)??;
    super::KeyMaterial::from_attrs(&m)?;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mech::testutil::*;
    use crate::mech::KeyMaterial;

    /// RFC 8410 §10.3 private key, §10.1 public key, and the §10.3 OneAsymmetricKey (v2) with an
    /// attribute and the public key.
    const RFC8410_PRIVATE: &str = "MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC";
    const RFC8410_PUBLIC: &str = "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=";
    const RFC8410_V2: &str = "MHICAQEwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhCoB8wHQYKKoZIhvcNAQkJFDEPDA1DdXJkbGUgQ2hhaXJzgSEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=";

    fn b64(s: &str) -> Vec<u8> {
        pem(s)
    }

    #[test]
    fn azure_kat_targets_round_trip_byte_for_byte() {
        for (i, kt) in [(0usize, CKK_RSA), (1, CKK_EC)] {
            let der = kat_hex(&kat()["cases"][i]["target_plaintext"]);
            let m = pkcs8_to_attrs(&der).unwrap();
            assert_eq!(m.class(), Some(CKO_PRIVATE_KEY));
            assert_eq!(m.key_type(), Some(kt));
            assert_eq!(*private_to_pkcs8(&m).unwrap(), der, "case {i}");
            // The attributes build a working key.
            assert!(KeyMaterial::from_attrs(&m).unwrap().is_private());
        }
        // P-256 target: 138 bytes, EC_POINT filled in from the [1] publicKey.
        let der = kat_hex(&kat()["cases"][1]["target_plaintext"]);
        assert_eq!(der.len(), 138);
        let m = pkcs8_to_attrs(&der).unwrap();
        assert_eq!(m.bytes(CKA_EC_PARAMS), Some(crate::mech::ec::P256.params));
        assert_eq!(m.bytes(CKA_VALUE).unwrap().len(), 32);
        assert_eq!(m.bytes(CKA_EC_POINT).unwrap().len(), 67);
        // RSA target: all eight components.
        let m = pkcs8_to_attrs(&kat_hex(&kat()["cases"][0]["target_plaintext"])).unwrap();
        for t in crate::mech::rsa::PRIVATE_COMPONENTS {
            assert!(m.contains(t));
        }
        assert_eq!(m.bytes(CKA_MODULUS).unwrap().len(), 256);
    }

    #[test]
    fn kek_pem_files() {
        let (private, public) = kat_kek();
        let der = pem(kat()["kek_private_key_pkcs8_pem"].as_str().unwrap());
        assert_eq!(*private_to_pkcs8(&private).unwrap(), der);
        let spki = pem(kat()["kek_public_key_spki_pem"].as_str().unwrap());
        assert_eq!(public_key_info(&private).unwrap(), spki);
        assert_eq!(public_key_info(&public).unwrap(), spki);
        assert_eq!(public.bytes(CKA_MODULUS), private.bytes(CKA_MODULUS));
        let from_private = public_from_private(&private).unwrap();
        assert_eq!(from_private.bytes(CKA_MODULUS), private.bytes(CKA_MODULUS));
        assert_eq!(from_private.bytes(CKA_PUBLIC_EXPONENT), Some(&[1, 0, 1][..]));
        // PKCS#1 RSAPublicKey (the BIT STRING contents) is accepted too.
        let mut r = Reader::new(&spki);
        let mut s = r.seq().unwrap();
        s.seq().unwrap();
        let rsa_public_key = s.bit_string().unwrap();
        assert_eq!(spki_to_attrs(rsa_public_key).unwrap(), public);
    }

    #[test]
    fn ed25519_rfc8410() {
        let der = b64(RFC8410_PRIVATE);
        let m = pkcs8_to_attrs(&der).unwrap();
        assert_eq!(m.key_type(), Some(CKK_EC_EDWARDS));
        assert_eq!(
            m.bytes(CKA_VALUE),
            Some(&h("d4ee72dbf913584ad5b6d8f1f769f8ad3afe7c28cbf1d4fbe097a88f44755842")[..])
        );
        assert_eq!(*private_to_pkcs8(&m).unwrap(), der);
        assert_eq!(public_key_info(&m).unwrap(), b64(RFC8410_PUBLIC));
        // The v2 form (with an attribute and the public key) gives the same key.
        assert_eq!(pkcs8_to_attrs(&b64(RFC8410_V2)).unwrap(), m);
        let public = spki_to_attrs(&b64(RFC8410_PUBLIC)).unwrap();
        assert_eq!(public.bytes(CKA_EC_POINT), m.bytes(CKA_EC_POINT));
        assert_eq!(public_key_info(&public).unwrap(), b64(RFC8410_PUBLIC));
        let p = public_from_private(&m).unwrap();
        assert_eq!(p.bytes(CKA_EC_POINT), m.bytes(CKA_EC_POINT));
        // A v2 public key that does not belong to the seed.
        let mut v2 = b64(RFC8410_V2);
        let n = v2.len();
        v2[n - 1] ^= 1;
        assert_eq!(rv(pkcs8_to_attrs(&v2)), CKR_WRAPPED_KEY_INVALID);
    }

    /// RFC 8410 keys as OpenSSL 3.0 writes them (`openssl genpkey -algorithm ED448|X25519|X448`,
    /// then `openssl pkey -pubout`): PKCS#8 and SubjectPublicKeyInfo. OpenSSL computed the
    /// public keys, independently of the engines here.
    const OPENSSL_RFC8410: [(CK_KEY_TYPE, &[u8], &str, &str); 3] = [
        (
            CKK_EC_EDWARDS,
            crate::mech::eddsa::ED448_PARAMS_OID,
            "MEcCAQAwBQYDK2VxBDsEOdwPOXL9RIYQYzF3bhOw3cp0B0TNZMI05fy2jbUYaBwesQmv82bTPhdCgks3Hv5m6/HRaIfsSBpTxw==",
            "MEMwBQYDK2VxAzoAeLyc97xqj9sHGox0aavRS5EoJOOU0ofXM4aVg68tr181/TZ7ml8aMrKS1OHUkzAujPTIkEcA03uA",
        ),
        (
            CKK_EC_MONTGOMERY,
            crate::mech::montgomery::X25519_PARAMS_OID,
            "MC4CAQAwBQYDK2VuBCIEIKjPGW1Vvrt349yjx2loE16gw+syoEmOTAWygN8a3gNg",
            "MCowBQYDK2VuAyEAzqmnRlDsVa/2AWNBKlxWuN8xQUaVP7QjpiyBpCM3rig=",
        ),
        (
            CKK_EC_MONTGOMERY,
            crate::mech::montgomery::X448_PARAMS_OID,
            "MEYCAQAwBQYDK2VvBDoEOAD9cLI6TrkgwCQ/1ooq7Ul5cbfj1wzSPGn3LPd90wY0Dlj7yGobKx6sgQaLCLfQi9bBP1+w6Tfk",
            "MEIwBQYDK2VvAzkArz73Pu5ghk2rHEgPgK8AHxfYHPM1iGOasbNoTPRpHd8l9J+yZx7iMmgbf4CNjl0hPUlyL1fKfEo=",
        ),
    ];

    #[test]
    fn ed448_x25519_x448_as_openssl_writes_them() {
        for (kt, params, private, public) in OPENSSL_RFC8410 {
            let (der, spki) = (b64(private), b64(public));
            let m = pkcs8_to_attrs(&der).unwrap();
            assert_eq!(m.key_type(), Some(kt));
            assert_eq!(m.bytes(CKA_EC_PARAMS), Some(params));
            assert!(KeyMaterial::from_attrs(&m).unwrap().is_private());
            // The same bytes back, and the public key OpenSSL computed.
            assert_eq!(*private_to_pkcs8(&m).unwrap(), der);
            assert_eq!(public_key_info(&m).unwrap(), spki);
            let p = spki_to_attrs(&spki).unwrap();
            assert_eq!(p.key_type(), Some(kt));
            assert_eq!(p.bytes(CKA_EC_POINT), m.bytes(CKA_EC_POINT));
            assert_eq!(public_key_info(&p).unwrap(), spki);
            assert_eq!(public_from_private(&m).unwrap().bytes(CKA_EC_POINT), m.bytes(CKA_EC_POINT));
            // A OneAsymmetricKey (v2) with the public key: accepted when it is the key's own.
            let key = &p.bytes(CKA_EC_POINT).unwrap()[2..];
            let seed = m.bytes(CKA_VALUE).unwrap();
            let oid = &params[2..];
            let mut bits = vec![0u8];
            bits.extend_from_slice(key);
            let v2 = |bits: &[u8]| {
                asn1::sequence(&[
                    &version(1),
                    &alg_id(oid, None),
                    &asn1::tlv(asn1::OCTET_STRING, &asn1::tlv(asn1::OCTET_STRING, seed)),
                    &asn1::tlv(asn1::CTX1_PRIM, bits),
                ])
            };
            assert_eq!(pkcs8_to_attrs(&v2(&bits)).unwrap(), m);
            let last = bits.len() - 1;
            bits[last] ^= 1;
            assert_eq!(rv(pkcs8_to_attrs(&v2(&bits))), CKR_WRAPPED_KEY_INVALID);
            // Parameters, a wrong-length key and a truncated encoding are refused.
            let with_params =
                private_key_info(&alg_id(oid, Some(&[asn1::NULL, 0])), &asn1::tlv(asn1::OCTET_STRING, seed));
            let short = private_key_info(&alg_id(oid, None), &asn1::tlv(asn1::OCTET_STRING, &seed[1..]));
            for bad in [&with_params[..], &short, &der[..der.len() - 1]] {
                assert_eq!(rv(pkcs8_to_attrs(bad)), CKR_WRAPPED_KEY_INVALID);
            }
            assert_eq!(rv(spki_to_attrs(&spki[..spki.len() - 1])), CKR_ATTRIBUTE_VALUE_INVALID);
            assert_eq!(rv(spki_to_attrs(&super::spki(&alg_id(oid, None), &key[1..]))), CKR_ATTRIBUTE_VALUE_INVALID);
        }
    }

    #[test]
    fn generated_keys_round_trip() {
        let mut sources = vec![rsa_pair(2048), rsa_pair(3072)];
        for c in crate::mech::ec::CURVES {
            sources.push(ec_pair(c.params));
        }
        for (mech, params) in [
            (CKM_EC_EDWARDS_KEY_PAIR_GEN, crate::mech::eddsa::ED25519_PARAMS_OID),
            (CKM_EC_EDWARDS_KEY_PAIR_GEN, crate::mech::eddsa::ED448_PARAMS_OID),
            (CKM_EC_MONTGOMERY_KEY_PAIR_GEN, crate::mech::montgomery::X25519_PARAMS_OID),
            (CKM_EC_MONTGOMERY_KEY_PAIR_GEN, crate::mech::montgomery::X448_PARAMS_OID),
        ] {
            let mut t = AttrMap::new();
            t.set(CKA_EC_PARAMS, Attr::bytes(params.to_vec()));
            sources.push(generated(mech, t));
        }
        for (public, private) in sources {
            let der = private_to_pkcs8(&private).unwrap();
            let back = pkcs8_to_attrs(&der).unwrap();
            for (t, v) in private.iter() {
                assert_eq!(back.get(t), Some(v), "attribute {t:#x}");
            }
            assert_eq!(*private_to_pkcs8(&back).unwrap(), *der);
            let spki = public_key_info(&private).unwrap();
            assert_eq!(public_key_info(&public).unwrap(), spki);
            assert_eq!(spki_to_attrs(&spki).unwrap(), public);
            let p = public_from_private(&private).unwrap();
            for (t, v) in p.iter() {
                assert_eq!(public.get(t), Some(v));
            }
            // aws-lc agrees with our encodings.
            match private.key_type() {
                Some(CKK_RSA) => {
                    aws_lc_rs::rsa::KeyPair::from_pkcs8(&der).unwrap();
                    aws_lc_rs::rsa::PublicEncryptingKey::from_der(&spki).unwrap();
                }
                _ if private.bytes(CKA_EC_PARAMS) == Some(crate::mech::ec::P256.params) => {
                    use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
                    let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der).unwrap();
                    let point = crate::mech::ec::point_from_attr(public.bytes(CKA_EC_POINT).unwrap(), 32).unwrap();
                    assert_eq!(kp.public_key().as_ref(), point);
                }
                _ => {}
            }
        }
    }

    #[test]
    fn partial_keys_are_completed() {
        // RSA given as n, e, d: the encoding carries the recovered CRT values.
        let full = pkcs8_to_attrs(&kat_hex(&kat()["cases"][0]["target_plaintext"])).unwrap();
        let mut ned = full.clone();
        for t in [CKA_PRIME_1, CKA_PRIME_2, CKA_EXPONENT_1, CKA_EXPONENT_2, CKA_COEFFICIENT] {
            ned.remove(t);
        }
        let der = private_to_pkcs8(&ned).unwrap();
        let back = pkcs8_to_attrs(&der).unwrap();
        assert_eq!(back.bytes(CKA_PRIVATE_EXPONENT), full.bytes(CKA_PRIVATE_EXPONENT));
        let (p, q) = (full.bytes(CKA_PRIME_1).unwrap(), full.bytes(CKA_PRIME_2).unwrap());
        assert!([p, q].contains(&back.bytes(CKA_PRIME_1).unwrap()));
        // EC without CKA_EC_POINT: the point is computed.
        let ec = pkcs8_to_attrs(&kat_hex(&kat()["cases"][1]["target_plaintext"])).unwrap();
        let mut no_point = ec.clone();
        no_point.remove(CKA_EC_POINT);
        assert_eq!(*private_to_pkcs8(&no_point).unwrap(), kat_hex(&kat()["cases"][1]["target_plaintext"]));
        assert_eq!(public_key_info(&no_point), public_key_info(&ec));
        assert_eq!(public_from_private(&no_point).unwrap().bytes(CKA_EC_POINT), ec.bytes(CKA_EC_POINT));
        // An ECPrivateKey without the optional [1] publicKey, and with [0] parameters.
        let d = ec.bytes(CKA_VALUE).unwrap();
        let ecpk = asn1::sequence(&[
            &version(1),
            &asn1::tlv(asn1::OCTET_STRING, d),
            &asn1::tlv(asn1::CTX0, crate::mech::ec::P256.params),
        ]);
        let der =
            private_key_info(&alg_id(crate::mech::ec::ID_EC_PUBLIC_KEY, Some(crate::mech::ec::P256.params)), &ecpk);
        assert_eq!(pkcs8_to_attrs(&der).unwrap(), ec);
    }

    #[test]
    fn malformed_or_inconsistent_pkcs8_is_refused() {
        let rsa = kat_hex(&kat()["cases"][0]["target_plaintext"]);
        let ec = kat_hex(&kat()["cases"][1]["target_plaintext"]);
        let mut cases: Vec<Vec<u8>> = vec![
            vec![],
            vec![0x30, 0x00],
            rsa[..rsa.len() - 1].to_vec(),
            [&rsa[..], &[0]].concat(),
            ec[..100].to_vec(),
            b64(RFC8410_PUBLIC),
        ];
        // A changed private exponent / scalar (consistency is checked).
        let mut m = pkcs8_to_attrs(&rsa).unwrap();
        let mut d = m.bytes(CKA_PRIVATE_EXPONENT).unwrap().to_vec();
        d[20] ^= 1;
        m.set(CKA_PRIVATE_EXPONENT, Attr::bytes(d));
        let parts: Vec<&[u8]> = crate::mech::rsa::PRIVATE_COMPONENTS.iter().map(|t| m.bytes(*t).unwrap()).collect();
        let mut all = vec![&[0u8][..]];
        all.extend(parts);
        cases.push(private_key_info(&rsa_alg_id(), &asn1::sequence(&[&ints(&all)])).to_vec());
        // The EC public key of another scalar.
        let mut bad_ec = ec.clone();
        let n = bad_ec.len();
        bad_ec[n - 1] ^= 1;
        cases.push(bad_ec);
        // An unknown algorithm (id-dsa) and an unsupported curve (secp224r1).
        cases.push(
            private_key_info(&alg_id(&[0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01], None), &[0x02, 0x01, 0x01]).to_vec(),
        );
        let ecpk = asn1::sequence(&[&version(1), &asn1::tlv(asn1::OCTET_STRING, &[1; 28])]);
        let secp224r1 = [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x21];
        let p224 = private_key_info(&alg_id(crate::mech::ec::ID_EC_PUBLIC_KEY, Some(&secp224r1)), &ecpk).to_vec();
        cases.push(p224);
        // Version 2 and a multi-prime RSAPrivateKey version.
        let mut v2 = rsa.clone();
        v2[6] = 2;
        cases.push(v2);
        for (i, c) in cases.iter().enumerate() {
            assert_eq!(rv(pkcs8_to_attrs(c)), CKR_WRAPPED_KEY_INVALID, "case {i}");
        }
        // Encoding refuses what is not a private key of a supported type.
        let (_, kek_public) = kat_kek();
        assert_eq!(rv(private_to_pkcs8(&kek_public)), CKR_KEY_NOT_WRAPPABLE);
        let aes = attrs(CKO_SECRET_KEY, CKK_AES, &[(CKA_VALUE, &[0; 16])]);
        assert_eq!(rv(private_to_pkcs8(&aes)), CKR_KEY_NOT_WRAPPABLE);
        assert_eq!(public_key_info(&aes), None);
        let kea = attrs(CKO_PRIVATE_KEY, CKK_KEA, &[(CKA_VALUE, &[1; 20])]);
        assert_eq!(rv(private_to_pkcs8(&kea)), CKR_KEY_NOT_WRAPPABLE);
        assert_eq!(public_key_info(&kea), None);
        let dsa = attrs(CKO_PRIVATE_KEY, CKK_DSA, &[(CKA_VALUE, &[1; 20])]);
        assert_eq!(rv(private_to_pkcs8(&dsa)), CKR_TEMPLATE_INCOMPLETE);
        assert_eq!(public_key_info(&dsa), None);
        assert_eq!(rv(public_from_private(&kek_public)), CKR_KEY_TYPE_INCONSISTENT);
        // SPKI parsing.
        assert_eq!(rv(spki_to_attrs(&[0x30, 0x00])), CKR_ATTRIBUTE_VALUE_INVALID);
        assert_eq!(rv(spki_to_attrs(&rsa)), CKR_ATTRIBUTE_VALUE_INVALID);
    }
}
