//! Elliptic curves over prime fields (P-256, P-384, P-521, secp256k1): key material from
//! PKCS#11 attributes, CKM_EC_KEY_PAIR_GEN, CKM_ECDSA (over a caller digest of any length),
//! CKM_ECDSA_SHA1/224/256/384/512 and CKM_ECDH1_DERIVE.
//!
//! Attribute conventions (PKCS#11 §2.3): CKA_EC_PARAMS is the DER OID of a named curve,
//! CKA_EC_POINT a DER OCTET STRING wrapping the uncompressed point (a bare point is accepted on
//! import), CKA_VALUE the private scalar, big-endian, padded to the order's length. Signatures
//! are r || s, each the order's length.
//!
//! The arithmetic is aws-lc's through [`super::ffi`]; one engine key per object.

#![forbid(unsafe_code)]

use super::asn1;
use super::ffi::{self, Md};
use super::prehash::{self, DigestSigner, RawDigest};
use super::{KeyMaterial, Mechanism, Params, SignOp};
use crate::error::{err, Error, Result};
use crate::object::attr::{Attr, AttrMap};
use aws_lc_rs::digest;
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

/// A supported named curve.
#[derive(Debug, PartialEq, Eq)]
pub struct Curve {
    pub name: &'static str,
    /// CKA_EC_PARAMS: the DER encoding of the curve's OID.
    pub params: &'static [u8],
    /// Size in bits (CK_MECHANISM_INFO key sizes).
    pub bits: usize,
    pub(crate) nid: std::os::raw::c_int,
}

impl Curve {
    /// Bytes of a scalar or coordinate.
    pub fn len(&self) -> usize {
        self.bits.div_ceil(8)
    }
    pub fn is_empty(&self) -> bool {
        false
    }
    /// The OID's DER contents (without tag and length).
    pub fn oid(&self) -> &'static [u8] {
        &self.params[2..]
    }
}

pub static P256: Curve = Curve {
    name: "P-256",
    params: &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
    bits: 256,
    nid: ffi::NID_P256,
};
pub static P384: Curve =
    Curve { name: "P-384", params: &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22], bits: 384, nid: ffi::NID_P384 };
pub static P521: Curve =
    Curve { name: "P-521", params: &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23], bits: 521, nid: ffi::NID_P521 };
pub static SECP256K1: Curve = Curve {
    name: "secp256k1",
    params: &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a],
    bits: 256,
    nid: ffi::NID_SECP256K1,
};

pub static CURVES: [&Curve; 4] = [&P256, &P384, &P521, &SECP256K1];

/// DER OID contents of id-ecPublicKey (1.2.840.10045.2.1).
pub const ID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];

/// The curve named by a CKA_EC_PARAMS value: a named-curve OID we support, else
/// `CKR_CURVE_NOT_SUPPORTED`; explicit parameters, implicitlyCA and malformed values are
/// `CKR_DOMAIN_PARAMS_INVALID`.
pub fn curve_from_params(params: &[u8]) -> Result<&'static Curve> {
    let mut r = asn1::Reader::new(params);
    match r.any() {
        Some((asn1::OID, _)) if r.end().is_some() => {
            CURVES.iter().copied().find(|c| c.params == params).ok_or(Error::new(CKR_CURVE_NOT_SUPPORTED))
        }
        // A curve name (PKCS#11 3.0 allows PrintableString for Edwards/Montgomery curves).
        Some((asn1::PRINTABLE_STRING, _)) if r.end().is_some() => err(CKR_CURVE_NOT_SUPPORTED),
        _ => err(CKR_DOMAIN_PARAMS_INVALID),
    }
}

/// The curve whose OID contents are `oid` (PKCS#8 / SPKI algorithm parameters).
pub fn curve_from_oid(oid: &[u8]) -> Option<&'static Curve> {
    CURVES.iter().copied().find(|c| c.oid() == oid)
}

/// The encoded point inside a CKA_EC_POINT value (or ECDH public data): a DER OCTET STRING
/// wrapping the point, or the bare point. Uncompressed (04 || X || Y) or compressed (02/03 || X).
pub fn point_from_attr(v: &[u8], field_len: usize) -> Option<&[u8]> {
    let plausible = |p: &[u8]| match p.first() {
        Some(4) => p.len() == 1 + 2 * field_len,
        Some(2 | 3) => p.len() == 1 + field_len,
        _ => false,
    };
    if let Some(inner) = asn1::single(v, asn1::OCTET_STRING) {
        if plausible(inner) {
            return Some(inner);
        }
    }
    plausible(v).then_some(v)
}

/// CKA_EC_POINT encoding of a point: DER OCTET STRING.
pub fn point_attr(point: &[u8]) -> Vec<u8> {
    asn1::tlv(asn1::OCTET_STRING, point).to_vec()
}

/// A parsed EC key.
pub struct EcKey {
    pub curve: &'static Curve,
    pub(crate) engine: ffi::Ec,
}

impl std::fmt::Debug for EcKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EcKey({}, private: {})", self.curve.name, self.engine.is_private())
    }
}

impl EcKey {
    /// The uncompressed public point.
    pub fn point(&self) -> Result<Vec<u8>> {
        self.engine.point().map_err(|_| Error::general())
    }
    pub fn is_private(&self) -> bool {
        self.engine.is_private()
    }
    /// Signature length (r || s).
    pub fn sig_len(&self) -> usize {
        2 * self.engine.order_len()
    }
}

fn bad() -> Error {
    Error::new(CKR_ATTRIBUTE_VALUE_INVALID)
}

/// A private key from its curve and scalar (leading zeros allowed, at most the order's length
/// once they are stripped).
pub fn private_key(curve: &'static Curve, d: &[u8]) -> Result<EcKey> {
    let d = asn1::trim_be(d);
    if d.len() > curve.len() {
        return Err(bad());
    }
    let engine = ffi::Ec::from_private(curve.nid, d).map_err(|_| bad())?;
    Ok(EcKey { curve, engine })
}

/// A public key from its curve and encoded point (checked to be on the curve).
pub fn public_key(curve: &'static Curve, point: &[u8]) -> Result<EcKey> {
    let engine = ffi::Ec::from_public(curve.nid, point).map_err(|_| bad())?;
    Ok(EcKey { curve, engine })
}

/// Builds the key of an EC key object (CKA_EC_PARAMS, and CKA_VALUE or CKA_EC_POINT). A private
/// key's CKA_EC_POINT, when present, must be its public point.
pub fn key_from_attrs(attrs: &AttrMap, private: bool) -> Result<EcKey> {
    let params = attrs.bytes(CKA_EC_PARAMS).ok_or(CKR_TEMPLATE_INCOMPLETE)?;
    let curve = curve_from_params(params)?;
    if private {
        let d = attrs.bytes(CKA_VALUE).ok_or(CKR_TEMPLATE_INCOMPLETE)?;
        match attrs.bytes(CKA_EC_POINT) {
            // The given point must be d·G: the engine's key check computes d·G once and
            // compares (on the curve, not infinity, pairwise consistent).
            Some(p) => {
                let given = point_from_attr(p, curve.len()).ok_or_else(bad)?;
                let d = asn1::trim_be(d);
                if d.len() > curve.len() {
                    return Err(bad());
                }
                let engine = ffi::Ec::from_private_and_public(curve.nid, d, given).map_err(|_| bad())?;
                Ok(EcKey { curve, engine })
            }
            None => private_key(curve, d),
        }
    } else {
        let p = attrs.bytes(CKA_EC_POINT).ok_or(CKR_TEMPLATE_INCOMPLETE)?;
        public_key(curve, point_from_attr(p, curve.len()).ok_or_else(bad)?)
    }
}

/// The attributes of a key: CKA_EC_PARAMS and CKA_EC_POINT (DER OCTET STRING), plus CKA_VALUE
/// (fixed length) for a private key.
pub fn key_attrs(key: &EcKey) -> Result<AttrMap> {
    let mut m = AttrMap::new();
    m.set(CKA_EC_PARAMS, Attr::bytes(key.curve.params));
    m.set(CKA_EC_POINT, Attr::bytes(point_attr(&key.point()?)));
    if key.is_private() {
        m.set(CKA_VALUE, Attr::Bytes(key.engine.scalar().map_err(|_| Error::general())?));
    }
    Ok(m)
}

impl KeyMaterial {
    /// The EC key for a private-key operation (sign, derive).
    pub fn ec_private(&self) -> Result<&Arc<EcKey>> {
        match self {
            KeyMaterial::EcPrivate(k) => Ok(k),
            _ => err(CKR_KEY_TYPE_INCONSISTENT),
        }
    }
    /// The EC key for verification: a public key or a private key's public half.
    pub fn ec_public(&self) -> Result<&Arc<EcKey>> {
        match self {
            KeyMaterial::EcPrivate(k) | KeyMaterial::EcPublic(k) => Ok(k),
            _ => err(CKR_KEY_TYPE_INCONSISTENT),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ECDSA
// ---------------------------------------------------------------------------------------------

/// CKM_ECDSA's input: a digest of any length up to this (the engine truncates it to the
/// order; the bound only limits buffering).
static RAW_DIGEST: RawDigest = RawDigest { lens: &[], max: 512 };

impl DigestSigner for EcKey {
    fn sig_len(&self) -> usize {
        EcKey::sig_len(self)
    }
    fn sign_digest(&self, digest: &[u8], out: &mut [u8]) -> std::result::Result<(), ()> {
        self.engine.sign(digest, out).map_err(|_| ())
    }
    fn verify_digest(&self, digest: &[u8], sig: &[u8]) -> bool {
        self.engine.verify(digest, sig)
    }
}

/// CKM_ECDSA (`hash: None`: the data is the digest) and CKM_ECDSA_SHAxxx.
pub struct Ecdsa {
    hash: Option<Md>,
}

pub static ECDSA: Ecdsa = Ecdsa { hash: None };
pub static ECDSA_SHA1: Ecdsa = Ecdsa { hash: Some(Md::Sha1) };
pub static ECDSA_SHA224: Ecdsa = Ecdsa { hash: Some(Md::Sha224) };
pub static ECDSA_SHA256: Ecdsa = Ecdsa { hash: Some(Md::Sha256) };
pub static ECDSA_SHA384: Ecdsa = Ecdsa { hash: Some(Md::Sha384) };
pub static ECDSA_SHA512: Ecdsa = Ecdsa { hash: Some(Md::Sha512) };

impl Mechanism for Ecdsa {
    fn sign(&self, p: &Params, key: &KeyMaterial) -> Result<Box<dyn SignOp>> {
        prehash::start(p, self.hash, &RAW_DIGEST, key.ec_private()?)
    }
    fn verify(&self, p: &Params, key: &KeyMaterial) -> Result<Box<dyn SignOp>> {
        prehash::start(p, self.hash, &RAW_DIGEST, key.ec_public()?)
    }
}

// ---------------------------------------------------------------------------------------------
// ECDH
// ---------------------------------------------------------------------------------------------

/// ANSI X9.63 KDF (SEC 1 §3.6.1): Hash(Z || counter || SharedInfo) for counter = 1, 2, ...
/// (32-bit big-endian), concatenated and cut to `len` bytes.
pub fn x963_kdf(md: Md, z: &[u8], shared: &[u8], len: usize) -> Zeroizing<Vec<u8>> {
    // Callers bound `len` (token::derive::MAX_DERIVED_LEN); saturating so a slip here cannot wrap.
    let mut out = Zeroizing::new(Vec::with_capacity(len.saturating_add(md.len())));
    let mut counter = 1u32;
    while out.len() < len {
        let mut ctx = digest::Context::new(md.algorithm());
        ctx.update(z);
        ctx.update(&counter.to_be_bytes());
        ctx.update(shared);
        out.extend_from_slice(ctx.finish().as_ref());
        counter += 1;
    }
    out.truncate(len);
    out
}

/// CKM_ECDH1_DERIVE with `Params::Ecdh`. The peer's public data is a bare point or a DER
/// OCTET STRING (uncompressed or compressed; for an X25519/X448 base key, the u-coordinate, see
/// [`super::montgomery`]). CKD_NULL (no shared data allowed) gives Z, the x-coordinate (the
/// X25519/X448 output) — when a length is asked for, its last `len` bytes (as SoftHSMv2 and
/// Kryoptic truncate); CKD_SHAxxx_KDF give the X9.63 KDF of Z and the shared data, and need a
/// length (`CKR_TEMPLATE_INCOMPLETE` without one).
pub struct Ecdh;
pub static ECDH1_DERIVE: Ecdh = Ecdh;

impl Mechanism for Ecdh {
    fn derive(&self, p: &Params, key: &KeyMaterial, len: Option<usize>) -> Result<Zeroizing<Vec<u8>>> {
        let Params::Ecdh { kdf, shared, public } = p else { return err(CKR_MECHANISM_PARAM_INVALID) };
        let md = match *kdf {
            CKD_NULL => None,
            CKD_SHA1_KDF => Some(Md::Sha1),
            CKD_SHA224_KDF => Some(Md::Sha224),
            CKD_SHA256_KDF => Some(Md::Sha256),
            CKD_SHA384_KDF => Some(Md::Sha384),
            CKD_SHA512_KDF => Some(Md::Sha512),
            _ => return err(CKR_MECHANISM_PARAM_INVALID),
        };
        if md.is_none() && !shared.is_empty() {
            return err(CKR_MECHANISM_PARAM_INVALID);
        }
        let z = match key {
            KeyMaterial::MontPrivate(key) => key.agree(public)?,
            _ => {
                let key = key.ec_private()?;
                let peer = point_from_attr(public, key.curve.len()).ok_or(CKR_MECHANISM_PARAM_INVALID)?;
                key.engine.ecdh(peer).map_err(|_| Error::new(CKR_MECHANISM_PARAM_INVALID))?
            }
        };
        match (md, len) {
            (_, Some(0)) => err(CKR_KEY_SIZE_RANGE),
            (None, None) => Ok(z),
            (None, Some(n)) if n <= z.len() => Ok(Zeroizing::new(z[z.len() - n..].to_vec())),
            (None, Some(_)) => err(CKR_KEY_SIZE_RANGE),
            (Some(_), None) => err(CKR_TEMPLATE_INCOMPLETE),
            (Some(md), Some(n)) => Ok(x963_kdf(md, &z, shared, n)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Key-pair generation
// ---------------------------------------------------------------------------------------------

/// CKM_EC_KEY_PAIR_GEN: the curve comes from CKA_EC_PARAMS in the public template (required).
pub struct EcKeyPairGen;
pub static EC_KEY_PAIR_GEN: EcKeyPairGen = EcKeyPairGen;

/// A new key on `curve`.
pub fn generate(curve: &'static Curve) -> Result<EcKey> {
    let engine = ffi::Ec::generate(curve.nid).map_err(|_| Error::new(CKR_FUNCTION_FAILED))?;
    Ok(EcKey { curve, engine })
}

impl Mechanism for EcKeyPairGen {
    fn generate_pair(&self, public: &AttrMap, _private: &AttrMap) -> Result<(AttrMap, AttrMap)> {
        let params = public.bytes(CKA_EC_PARAMS).ok_or(CKR_TEMPLATE_INCOMPLETE)?;
        let key = generate(curve_from_params(params)?)?;
        let private = key_attrs(&key)?;
        Ok((private.subset(&[CKA_EC_PARAMS, CKA_EC_POINT]), private))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mech::testutil::*;

    /// RFC 6979 A.2.5: P-256 private key x and public key (Ux, Uy).
    const P256_X: &str = "C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721";
    const P256_UX: &str = "60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6";
    const P256_UY: &str = "7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299";
    /// RFC 6979 A.2.5, message "sample": (hash mechanism, ECDSA mechanism, r, s).
    const P256_SAMPLE: [(CK_MECHANISM_TYPE, CK_MECHANISM_TYPE, &str, &str); 5] = [
        (
            CKM_SHA_1,
            CKM_ECDSA_SHA1,
            "61340C88C3AAEBEB4F6D667F672CA9759A6CCAA9FA8811313039EE4A35471D32",
            "6D7F147DAC089441BB2E2FE8F7A3FA264B9C475098FDCF6E00D7C996E1B8B7EB",
        ),
        (
            CKM_SHA224,
            CKM_ECDSA_SHA224,
            "53B2FFF5D1752B2C689DF257C04C40A587FABABB3F6FC2702F1343AF7CA9AA3F",
            "B9AFB64FDC03DC1A131C7D2386D11E349F070AA432A4ACC918BEA988BF75C74C",
        ),
        (
            CKM_SHA256,
            CKM_ECDSA_SHA256,
            "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716",
            "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8",
        ),
        (
            CKM_SHA384,
            CKM_ECDSA_SHA384,
            "0EAFEA039B20E9B42309FB1D89E213057CBF973DC0CFC8F129EDDDC800EF7719",
            "4861F0491E6998B9455193E34E7B0D284DDD7149A74B95B9261F13ABDE940954",
        ),
        (
            CKM_SHA512,
            CKM_ECDSA_SHA512,
            "8496A60B5E9B47C825488827E0495B0E3FA109EC4568FD3F8D1097678EB97F00",
            "2362AB1ADBE2B8ADF9CB9EDAB740EA6049C028114F2460F96554F61FAE3302FE",
        ),
    ];
    /// RFC 6979 A.2.5, message "test", SHA-256.
    const P256_TEST_SHA256: (&str, &str) = (
        "F1ABB023518351CD71D881567B1EA663ED3EFCF6C5132B354F28D3B0B7D38367",
        "019F4113742A2B14BD25926B49C649155F267E60D3814B4C0CC84250E46F0083",
    );
    /// RFC 6979 A.2.6: P-384 key and the SHA-384 "sample" signature.
    const P384_X: &str =
        "6B9D3DAD2E1B8C1C05B19875B6659F4DE23C3B667BF297BA9AA47740787137D896D5724E4C70A825F872C9EA60D2EDF5";
    const P384_UX: &str =
        "EC3A4E415B4E19A4568618029F427FA5DA9A8BC4AE92E02E06AAE5286B300C64DEF8F0EA9055866064A254515480BC13";
    const P384_UY: &str =
        "8015D9B72D7D57244EA8EF9AC0C621896708A59367F9DFB9F54CA84B3F1C9DB1288B231C3AE0D4FE7344FD2533264720";
    const P384_SAMPLE_SHA384: (&str, &str) = (
        "94EDBB92A5ECB8AAD4736E56C691916B3F88140666CE9FA73D64C4EA95AD133C81A648152E44ACF96E36DD1E80FABE46",
        "99EF4AEB15F178CEA1FE40DB2603138F130E740A19624526203B6351D0A3A94FA329C145786E679E7B82C71A38628AC8",
    );

    /// NIST CAVS 14.1 ECC CDH Primitive (KAS_ECC_CDH_PrimitiveTest.txt), [P-256] COUNT = 0.
    const CDH_QCAVS: (&str, &str) = (
        "700c48f77f56584c5cc632ca65640db91b6bacce3a4df6b42ce7cc838833d287",
        "db71e509e3fd9b060ddb20ba5c51dcc5948d46fbf640dfe0441782cab85fa4ac",
    );
    const CDH_DIUT: &str = "7d7dc5f71eb29ddaf80d6214632eeae03d9058af1fb6d22ed80badb62bc1a534";
    const CDH_QIUT: (&str, &str) = (
        "ead218590119e8876b29146ff89ca61770c4edbbf97d38ce385ed281d8a6b230",
        "28af61281fd35e2fa7002523acc85a429cb06ee6648325389f59edfce1405141",
    );
    const CDH_ZIUT: &str = "46fc62106420ff012e54a434fbdd2d25ccc5852060561e68040dd7778997bd7b";

    /// NIST CAVS ANS X9.63-2001 KDF (SP 800-135) test vectors: (digest, Z, SharedInfo, key data).
    const X963: [(Md, &str, &str, &str); 10] = [
        (Md::Sha1, "1c7d7b5f0597b03d06a018466ed1a93e30ed4b04dc64ccdd", "", "bf71dffd8f4d99223936beb46fee8ccc"),
        (
            Md::Sha1,
            "fd17198b89ab39c4ab5d7cca363b82f9fd7e23c3984dc8a2",
            "856a53f3e36a26bbc5792879f307cce2",
            "6e5fad865cb4a51c95209b16df0cc490bc2c9064405c5bccd4ee4832a531fbe7f10cb79e2eab6ab1149fbd5a23cfdabc
             41242269c9df22f628c4424333855b64e95e2d4fb8469c669f17176c07d103376b10b384ec5763d8b8c610409f19aca8
             eb31f9d85cc61a8d6d4a03d03e5a506b78d6847e93d295ee548c65afedd2efec",
        ),
        (Md::Sha224, "9ba3226ba0fca6bd5ddaef5b8d763a4d3303bc258d90468c", "", "15ccbd7d6b8f918335799b3920e69c1f"),
        (
            Md::Sha224,
            "da67a73072d521a8272c69023573012ddf9b46bff65b3900",
            "727997aed53e78f74b1d66743a4ea4d2",
            "dfc3126c5eebf9a58d89730e8d8ff7cc772592f28c10b349b437d9d068698a22e532eae975dfaf9c5c6a9f2935eafb05
             353013c253444e61f07bc9ddd15948e614bdc7e445ba3b1893f42f87f18fb352d49956009a642c362d45410b43a9ab37
             6e9261210739174759511d1f9e52f6ec73dfed446dbafaf7fd1a57113abc2e8d",
        ),
        (Md::Sha256, "96c05619d56c328ab95fe84b18264b08725b85e33fd34f08", "", "443024c3dae66b95e6f5670601558f71"),
        (
            Md::Sha256,
            "22518b10e70f2a3f243810ae3254139efbee04aa57c7af7d",
            "75eef81aa3041e33b80971203d2c0c52",
            "c498af77161cc59f2962b9a713e2b215152d139766ce34a776df11866a69bf2e52a13d9c7c6fc878c50c5ea0bc7b00e0
             da2447cfd874f6cf92f30d0097111485500c90c3af8b487872d04685d14c8d1dc8d7fa08beb0ce0ababc11f0bd496269
             142d43525a78e5bc79a17f59676a5706dc54d54d4d1f0bd7e386128ec26afc21",
        ),
        (Md::Sha384, "d8554db1b392cd55c3fe957bed76af09c13ac2a9392f88f6", "", "671a46aada145162f8ddf1ca586a1cda"),
        (
            Md::Sha384,
            "c051fd22539c9de791d6c43a854b8f80a6bf70190050854a",
            "1317504aa34759bb4c931e3b78201945",
            "cf6a84434734ac6949e1d7976743277be789906908ad3ca3a8923da7f476abbeb574306d7243031a85566914bfd247d2
             519c479953d9d55b6b831e56260806c39af21b74e3ecf470e3bd8332791c8a23c13352514fdef00c2d1a408ba31b2d3f
             9fdcb373895484649a645d1845eec91b5bfdc5ad28c7824984482002dd4a8677",
        ),
        (Md::Sha512, "87fc0d8c4477485bb574f5fcea264b30885dc8d90ad82782", "", "947665fbb9152153ef460238506a0245"),
        (
            Md::Sha512,
            "00aa5bb79b33e389fa58ceadc047197f14e73712f452caa9fc4c9adb369348b81507392f1a86ddfdb7c4ff8231c4bd0f
             44e44a1b55b1404747a9e2e753f55ef05a2d",
            "e3b5b4c1b0d5cf1d2b3a2f9937895d31",
            "4463f869f3cc18769b52264b0112b5858f7ad32a5a2d96d8cffabf7fa733633d6e4dd2a599acceb3ea54a6217ce0b50e
             ef4f6b40a5c30250a5a8eeee208002267089dbf351f3f5022aa9638bf1ee419dea9c4ff745a25ac27bda33ca08bd56dd
             1a59b4106cf2dbbc0ab2aa8e2efa7b17902d34276951ceccab87f9661c3e8816",
        ),
    ];

    const NONE: Params = Params::None;

    fn uncompressed(x: &str, y: &str) -> Vec<u8> {
        let mut p = vec![4u8];
        p.extend(h(x));
        p.extend(h(y));
        p
    }

    fn private(curve: &Curve, d: &str) -> AttrMap {
        attrs(CKO_PRIVATE_KEY, CKK_EC, &[(CKA_EC_PARAMS, curve.params), (CKA_VALUE, &h(d))])
    }

    fn public(curve: &Curve, point: &[u8]) -> AttrMap {
        attrs(CKO_PUBLIC_KEY, CKK_EC, &[(CKA_EC_PARAMS, curve.params), (CKA_EC_POINT, point)])
    }

    #[test]
    fn rfc6979_p256_signatures() {
        let k = material(&private(&P256, P256_X));
        let point = uncompressed(P256_UX, P256_UY);
        let KeyMaterial::EcPrivate(key) = &k else { panic!() };
        let got = key_attrs(key).unwrap();
        assert_eq!(got.bytes(CKA_EC_POINT), Some(&point_attr(&point)[..]));
        assert_eq!(got.bytes(CKA_VALUE), Some(&h(P256_X)[..]));
        // The public key given as DER OCTET STRING and as a bare point.
        let pubs = [material(&public(&P256, &point_attr(&point))), material(&public(&P256, &point))];
        for (hash, mech, r, s) in P256_SAMPLE {
            let sig = [h(r), h(s)].concat();
            let d = digest(hash, b"sample");
            for key in pubs.iter().chain([&k]) {
                verify(imp(mech), &NONE, key, b"sample", &sig).unwrap();
                // CKM_ECDSA over the digest: SHA-384 and SHA-512 digests are longer than the
                // order and are truncated to its bit length.
                verify(&ECDSA, &NONE, key, &d, &sig).unwrap();
                assert_eq!(rv(verify(imp(mech), &NONE, key, b"samplf", &sig)), CKR_SIGNATURE_INVALID);
                let mut bad = sig.clone();
                bad[63] ^= 1;
                assert_eq!(rv(verify(imp(mech), &NONE, key, b"sample", &bad)), CKR_SIGNATURE_INVALID);
                assert_eq!(rv(verify(imp(mech), &NONE, key, b"sample", &sig[..63])), CKR_SIGNATURE_LEN_RANGE);
            }
            // Our signatures (random k) verify under the published key.
            let mine = sign(imp(mech), &NONE, &k, b"sample").unwrap();
            assert_eq!(mine.len(), 64);
            assert_ne!(mine, sig);
            verify(imp(mech), &NONE, &pubs[0], b"sample", &mine).unwrap();
            let mine = sign(&ECDSA, &NONE, &k, &d).unwrap();
            verify(imp(mech), &NONE, &pubs[1], b"sample", &mine).unwrap();
        }
        let (r, s) = P256_TEST_SHA256;
        verify(&ECDSA_SHA256, &NONE, &pubs[0], b"test", &[h(r), h(s)].concat()).unwrap();
        // A digest longer than the order is its leading bits: a SHA-512 digest and its first 32
        // bytes give the same signature check.
        let d512 = digest(CKM_SHA512, b"sample");
        let (_, _, r, s) = P256_SAMPLE[4];
        verify(&ECDSA, &NONE, &pubs[0], &d512[..32], &[h(r), h(s)].concat()).unwrap();
        // A digest shorter than the order is used as an integer (left-padded).
        let d1 = digest(CKM_SHA_1, b"sample");
        let sig = sign(&ECDSA, &NONE, &k, &d1).unwrap();
        let mut padded = vec![0u8; 12];
        padded.extend_from_slice(&d1);
        verify(&ECDSA, &NONE, &pubs[0], &padded, &sig).unwrap();
    }

    #[test]
    fn rfc6979_p384_signature() {
        let k = material(&private(&P384, P384_X));
        let point = uncompressed(P384_UX, P384_UY);
        let KeyMaterial::EcPrivate(key) = &k else { panic!() };
        assert_eq!(key.point().unwrap(), point);
        let pk = material(&public(&P384, &point_attr(&point)));
        let (r, s) = P384_SAMPLE_SHA384;
        let sig = [h(r), h(s)].concat();
        verify(&ECDSA_SHA384, &NONE, &pk, b"sample", &sig).unwrap();
        verify(&ECDSA, &NONE, &pk, &digest(CKM_SHA384, b"sample"), &sig).unwrap();
        let mine = sign(&ECDSA_SHA384, &NONE, &k, b"sample").unwrap();
        assert_eq!(mine.len(), 96);
        verify(&ECDSA_SHA384, &NONE, &pk, b"sample", &mine).unwrap();
    }

    #[test]
    fn every_curve_and_mechanism_round_trips() {
        let mechs = [CKM_ECDSA, CKM_ECDSA_SHA1, CKM_ECDSA_SHA224, CKM_ECDSA_SHA256, CKM_ECDSA_SHA384, CKM_ECDSA_SHA512];
        for curve in CURVES {
            let (pubt, privt) = ec_pair(curve.params);
            assert_eq!(pubt.bytes(CKA_EC_PARAMS), Some(curve.params));
            assert_eq!(pubt.bytes(CKA_EC_POINT), privt.bytes(CKA_EC_POINT));
            assert_eq!(privt.bytes(CKA_VALUE).unwrap().len(), curve.len());
            assert_eq!(pubt.bytes(CKA_EC_POINT).unwrap().len(), asn1::tlv_len(1 + 2 * curve.len()));
            let (pk, k) = (material(&pubt), material(&privt));
            let msg: Vec<u8> = (0..200u8).collect();
            for mech in mechs {
                let m = imp(mech);
                let data = if mech == CKM_ECDSA { digest(CKM_SHA256, &msg) } else { msg.clone() };
                let sig = sign(m, &NONE, &k, &data).unwrap();
                assert_eq!(sig.len(), 2 * curve.len(), "{}", curve.name);
                verify(m, &NONE, &pk, &data, &sig).unwrap();
                let parts = sign_parts(m, &NONE, &k, &data, 7).unwrap();
                verify(m, &NONE, &pk, &data, &parts).unwrap();
                let mut bad = sig.clone();
                bad[3] ^= 0x80;
                assert_eq!(rv(verify(m, &NONE, &pk, &data, &bad)), CKR_SIGNATURE_INVALID);
                // r = 0 / s = 0 are invalid, not errors.
                let zero = vec![0u8; sig.len()];
                assert_eq!(rv(verify(m, &NONE, &pk, &data, &zero)), CKR_SIGNATURE_INVALID);
                assert_eq!(rv(verify(m, &NONE, &pk, &data, &[sig.clone(), vec![0]].concat())), CKR_SIGNATURE_LEN_RANGE);
                assert_eq!(rv(m.sign(&NONE, &pk)), CKR_KEY_TYPE_INCONSISTENT);
                assert_eq!(rv(m.sign(&Params::Raw(vec![1]), &k)), CKR_MECHANISM_PARAM_INVALID);
            }
            // ECDH between two generated keys agrees.
            let (pub2, priv2) = {
                let key = generate(curve).unwrap();
                let m = key_attrs(&key).unwrap();
                (with_class(m.clone(), CKO_PUBLIC_KEY, CKK_EC), with_class(m, CKO_PRIVATE_KEY, CKK_EC))
            };
            let p1 = Params::Ecdh { kdf: CKD_NULL, shared: vec![], public: pub2.bytes(CKA_EC_POINT).unwrap().to_vec() };
            let p2 = Params::Ecdh { kdf: CKD_NULL, shared: vec![], public: pubt.bytes(CKA_EC_POINT).unwrap().to_vec() };
            let z1 = ECDH1_DERIVE.derive(&p1, &k, None).unwrap();
            let z2 = ECDH1_DERIVE.derive(&p2, &material(&priv2), None).unwrap();
            assert_eq!(z1, z2);
            assert_eq!(z1.len(), curve.len());
        }
    }

    #[test]
    fn cavs_ecdh_p256() {
        let k = material(&private(&P256, CDH_DIUT));
        let KeyMaterial::EcPrivate(key) = &k else { panic!() };
        assert_eq!(key.point().unwrap(), uncompressed(CDH_QIUT.0, CDH_QIUT.1));
        let peer = uncompressed(CDH_QCAVS.0, CDH_QCAVS.1);
        let z = h(CDH_ZIUT);
        for public in [peer.clone(), point_attr(&peer)] {
            let p = Params::Ecdh { kdf: CKD_NULL, shared: vec![], public };
            assert_eq!(*ECDH1_DERIVE.derive(&p, &k, None).unwrap(), z);
            assert_eq!(*ECDH1_DERIVE.derive(&p, &k, Some(32)).unwrap(), z);
            // Truncation keeps the trailing bytes (SoftHSMv2, Kryoptic).
            assert_eq!(*ECDH1_DERIVE.derive(&p, &k, Some(16)).unwrap(), z[16..]);
            assert_eq!(rv(ECDH1_DERIVE.derive(&p, &k, Some(33))), CKR_KEY_SIZE_RANGE);
            assert_eq!(rv(ECDH1_DERIVE.derive(&p, &k, Some(0))), CKR_KEY_SIZE_RANGE);
        }
        // KDFs: X9.63 over Z and the shared data.
        for (kdf, md) in [
            (CKD_SHA1_KDF, Md::Sha1),
            (CKD_SHA224_KDF, Md::Sha224),
            (CKD_SHA256_KDF, Md::Sha256),
            (CKD_SHA384_KDF, Md::Sha384),
            (CKD_SHA512_KDF, Md::Sha512),
        ] {
            for shared in [vec![], b"other info".to_vec()] {
                let p = Params::Ecdh { kdf, shared: shared.clone(), public: peer.clone() };
                for len in [16usize, 32, 100] {
                    assert_eq!(ECDH1_DERIVE.derive(&p, &k, Some(len)).unwrap(), x963_kdf(md, &z, &shared, len));
                }
                assert_eq!(rv(ECDH1_DERIVE.derive(&p, &k, None)), CKR_TEMPLATE_INCOMPLETE);
            }
        }
        // Parameter errors.
        let bad_params = [
            Params::Ecdh { kdf: CKD_NULL, shared: vec![1], public: peer.clone() },
            Params::Ecdh { kdf: 0x99, shared: vec![], public: peer.clone() },
            Params::Ecdh { kdf: CKD_NULL, shared: vec![], public: vec![] },
            Params::Ecdh { kdf: CKD_NULL, shared: vec![], public: peer[..64].to_vec() },
            // Not on the curve.
            Params::Ecdh {
                kdf: CKD_NULL,
                shared: vec![],
                public: {
                    let mut q = peer.clone();
                    q[64] ^= 1;
                    q
                },
            },
            // A P-384 point.
            Params::Ecdh { kdf: CKD_NULL, shared: vec![], public: uncompressed(P384_UX, P384_UY) },
            NONE,
        ];
        for p in bad_params {
            assert_eq!(rv(ECDH1_DERIVE.derive(&p, &k, None)), CKR_MECHANISM_PARAM_INVALID, "{p:?}");
        }
        // Only private EC keys derive.
        let p = Params::Ecdh { kdf: CKD_NULL, shared: vec![], public: peer.clone() };
        let pk = material(&public(&P256, &uncompressed(CDH_QIUT.0, CDH_QIUT.1)));
        assert_eq!(rv(ECDH1_DERIVE.derive(&p, &pk, None)), CKR_KEY_TYPE_INCONSISTENT);
        let (_, rsa) = rsa_pair(2048);
        assert_eq!(rv(ECDH1_DERIVE.derive(&p, &material(&rsa), None)), CKR_KEY_TYPE_INCONSISTENT);
    }

    #[test]
    fn x963_kdf_cavs_vectors() {
        for (md, z, shared, out) in X963 {
            let want = h(out);
            assert_eq!(*x963_kdf(md, &h(z), &h(shared), want.len()), want, "{md:?}");
        }
    }

    #[test]
    fn ec_params_and_points_are_checked() {
        assert_eq!(curve_from_params(P256.params).unwrap().name, "P-256");
        assert_eq!(curve_from_params(SECP256K1.params).unwrap().name, "secp256k1");
        // brainpoolP256r1 (1.3.36.3.3.2.8.1.1.7): well-formed, not supported.
        let brainpool = [0x06, 0x09, 0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x07];
        assert_eq!(rv(curve_from_params(&brainpool)), CKR_CURVE_NOT_SUPPORTED);
        assert_eq!(rv(curve_from_params(crate::mech::eddsa::ED25519_PARAMS_NAME)), CKR_CURVE_NOT_SUPPORTED);
        assert_eq!(rv(curve_from_params(crate::mech::eddsa::ED25519_PARAMS_OID)), CKR_CURVE_NOT_SUPPORTED);
        for other in [
            crate::mech::eddsa::ED448_PARAMS_OID,
            crate::mech::montgomery::X25519_PARAMS_OID,
            crate::mech::montgomery::X448_PARAMS_NAME,
        ] {
            assert_eq!(rv(curve_from_params(other)), CKR_CURVE_NOT_SUPPORTED);
        }
        // Explicit parameters, implicitlyCA (NULL), garbage, trailing bytes.
        for bad in [&[0x30, 0x03, 0x02, 0x01, 0x01][..], &[0x05, 0x00], &[], &[0x06], &[P256.params, &[0]].concat()] {
            assert_eq!(rv(curve_from_params(bad)), CKR_DOMAIN_PARAMS_INVALID, "{bad:02x?}");
        }
        let point = uncompressed(P256_UX, P256_UY);
        // Compressed points are accepted on import too.
        let mut compressed = vec![0x02 | (point[64] & 1)];
        compressed.extend_from_slice(&point[1..33]);
        let KeyMaterial::EcPublic(k) = material(&public(&P256, &compressed)) else { panic!() };
        assert_eq!(k.point().unwrap(), point);
        // Off the curve, wrong length, wrong curve, the point at infinity.
        let mut off = point.clone();
        off[10] ^= 1;
        for bad in [off, point[..64].to_vec(), uncompressed(P384_UX, P384_UY), vec![0]] {
            assert_eq!(rv(KeyMaterial::from_attrs(&public(&P256, &bad))), CKR_ATTRIBUTE_VALUE_INVALID);
        }
        // Scalars: zero, the order, too long; a wrong CKA_EC_POINT on a private key.
        let order = "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551";
        for d in ["00", order, &format!("01{P256_X}")] {
            assert_eq!(rv(KeyMaterial::from_attrs(&private(&P256, d))), CKR_ATTRIBUTE_VALUE_INVALID, "{d}");
        }
        // Leading zeros are fine.
        material(&private(&P256, &format!("0000{P256_X}")));
        let mut m = private(&P256, P256_X);
        m.set(CKA_EC_POINT, Attr::bytes(point_attr(&uncompressed(CDH_QIUT.0, CDH_QIUT.1))));
        assert_eq!(rv(KeyMaterial::from_attrs(&m)), CKR_ATTRIBUTE_VALUE_INVALID);
        m.set(CKA_EC_POINT, Attr::bytes(point_attr(&point)));
        material(&m);
        // With a CKA_EC_POINT the scalar is checked as strictly (one multiplication: d·G == point).
        for d in ["00", order, &format!("01{P256_X}")] {
            let mut m = private(&P256, d);
            m.set(CKA_EC_POINT, Attr::bytes(point_attr(&point)));
            assert_eq!(rv(KeyMaterial::from_attrs(&m)), CKR_ATTRIBUTE_VALUE_INVALID, "{d}");
        }
        // A compressed CKA_EC_POINT on a private key: the key answers with the uncompressed point.
        let mut m = private(&P256, P256_X);
        m.set(CKA_EC_POINT, Attr::bytes(point_attr(&compressed)));
        let KeyMaterial::EcPrivate(k) = material(&m) else { panic!() };
        assert_eq!(k.point().unwrap(), point);
        // Missing attributes.
        let mut m = private(&P256, P256_X);
        m.remove(CKA_EC_PARAMS);
        assert_eq!(rv(KeyMaterial::from_attrs(&m)), CKR_TEMPLATE_INCOMPLETE);
        assert_eq!(
            rv(KeyMaterial::from_attrs(&attrs(CKO_PUBLIC_KEY, CKK_EC, &[(CKA_EC_PARAMS, P256.params)]))),
            CKR_TEMPLATE_INCOMPLETE
        );
        // Key-pair generation: the curve must be named and supported.
        let gen = |params: &[u8]| {
            let mut t = AttrMap::new();
            t.set(CKA_EC_PARAMS, Attr::bytes(params.to_vec()));
            EC_KEY_PAIR_GEN.generate_pair(&t, &AttrMap::new())
        };
        assert_eq!(rv(gen(&brainpool)), CKR_CURVE_NOT_SUPPORTED);
        assert_eq!(rv(gen(&[0x30, 0x00])), CKR_DOMAIN_PARAMS_INVALID);
        assert_eq!(rv(EC_KEY_PAIR_GEN.generate_pair(&AttrMap::new(), &AttrMap::new())), CKR_TEMPLATE_INCOMPLETE);
        let (p, s) = gen(P521.params).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(s.len(), 3);
        assert_eq!(s.bytes(CKA_VALUE).unwrap().len(), 66);
    }
}
