//! `generatekey --import`: key material from a PEM file (`pemreadfile=`) instead of the
//! generator. PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`) and SEC 1 (`EC PRIVATE KEY`)
//! blocks are read; encrypted ones are refused (decrypt them first). The objects are then made as
//! created, not generated: CKA_LOCAL, CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE are FALSE,
//! as nShield marks an imported key as one that has been outside the module.

use super::super::admin::{fail, AdminError, AdminResult};
use super::make::{pair, Material};
use super::params::{Curve, KeyParams, KeyType};
use crate::mech::{self, asn1, rsa as rsa_gen};
use crate::object::attr::AttrMap;
use cryptoki_sys::*;

/// The largest PEM file read: an RSA-16384 PKCS#8 key is about 12 KiB.
pub const MAX_PEM_BYTES: u64 = 64 * 1024;

/// The OID of id-ecPublicKey, as a complete DER element.
const EC_PUBLIC_KEY_OID: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// rsaEncryption with its NULL parameters, a complete AlgorithmIdentifier.
const RSA_ALG_ID: &[u8] = &[0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00];
const VERSION_0: &[u8] = &[asn1::INTEGER, 1, 0];

fn unreadable(why: &str) -> AdminError {
    AdminError::new(
        format!("the PEM file does not hold a usable private key ({why})"),
        "give an unencrypted PKCS#8, PKCS#1 (RSA) or SEC 1 (EC) private key in PEM",
    )
}

/// PKCS#8 DER of the first private key block in `pem`.
fn pkcs8_of(pem: &[u8]) -> AdminResult<zeroize::Zeroizing<Vec<u8>>> {
    let text = std::str::from_utf8(pem).map_err(|_| unreadable("not PEM text"))?;
    let block = asn1::pem_block(text).ok_or_else(|| unreadable("no -----BEGIN line"))?;
    if block.label.contains("ENCRYPTED") || text.contains("Proc-Type: 4,ENCRYPTED") {
        return fail(
            "the PEM key is encrypted",
            "decrypt it first: openssl pkcs8 -topk8 -nocrypt -in KEY.pem -out PLAIN.pem (then delete PLAIN.pem)",
        );
    }
    let der = zeroize::Zeroizing::new(block.der().ok_or_else(|| unreadable("bad base64"))?);
    match block.label {
        "PRIVATE KEY" => Ok(der),
        "RSA PRIVATE KEY" => Ok(asn1::sequence(&[VERSION_0, RSA_ALG_ID, &asn1::tlv(asn1::OCTET_STRING, &der)])),
        "EC PRIVATE KEY" => {
            // SEC 1 ECPrivateKey: the curve is its [0] parameters, which PKCS#8 carries outside.
            let params = sec1_curve(&der).ok_or_else(|| unreadable("an EC key without its named curve"))?;
            let alg = asn1::sequence(&[EC_PUBLIC_KEY_OID, params]);
            Ok(asn1::sequence(&[VERSION_0, &alg, &asn1::tlv(asn1::OCTET_STRING, &der)]))
        }
        other => Err(unreadable(&format!("a {other} block"))),
    }
}

/// The `[0] parameters` (a namedCurve OID element) of a SEC 1 ECPrivateKey.
fn sec1_curve(der: &[u8]) -> Option<&[u8]> {
    let mut outer = asn1::Reader::new(der);
    let mut k = outer.seq()?;
    k.small_uint()?;
    k.read(asn1::OCTET_STRING)?;
    k.optional(asn1::CTX0)?
}

/// What a PEM key becomes: its material, and the parameters it implies (size, curve), checked
/// against `p.ktype`.
pub(super) fn material(p: &KeyParams, pem: &[u8]) -> AdminResult<(Material, KeyParams)> {
    if !p.ktype.asymmetric() {
        return fail(
            format!("generatekey --import reads RSA and EC private keys, not {} keys", p.ktype.name()),
            "import a secret key through PKCS#11 (C_UnwrapKey under a wrapping key, or C_CreateObject)",
        );
    }
    let der = pkcs8_of(pem)?;
    let mut attrs = mech::pkcs8_to_attrs(&der).map_err(|_| unreadable("malformed or inconsistent key"))?;
    let kt = attrs.key_type();
    attrs.remove(CKA_CLASS);
    attrs.remove(CKA_KEY_TYPE);
    let mut q = p.clone();
    let found = match kt {
        Some(CKK_RSA) => KeyType::Rsa,
        Some(CKK_EC) => KeyType::Ec,
        _ => return Err(unreadable("generatekey imports RSA and EC keys")),
    };
    if found != p.ktype {
        return fail(
            format!("type={} was given, but the PEM file holds an {} key", p.ktype.name(), found.name()),
            format!("use type={}", found.name()),
        );
    }
    let mat = match found {
        KeyType::Rsa => {
            q.size = rsa_bits(&attrs)?;
            pair(attrs, CKK_RSA, &[CKA_MODULUS, CKA_PUBLIC_EXPONENT], CKM_RSA_PKCS_KEY_PAIR_GEN)?
        }
        _ => {
            let params = attrs.bytes(CKA_EC_PARAMS).unwrap_or_default();
            let curve = [Curve::P256, Curve::P384, Curve::P521, Curve::Secp256k1]
                .into_iter()
                .find(|c| c.ec_params() == params)
                .ok_or_else(|| unreadable("a curve generatekey does not take"))?;
            q.curve = Some(curve);
            q.size = curve.bits();
            pair(attrs, CKK_EC, &[CKA_EC_PARAMS, CKA_EC_POINT], CKM_EC_KEY_PAIR_GEN)?
        }
    };
    Ok((mat, q))
}

/// An RSA key's modulus size, in the token's range (weak sizes only under `weak_rsa`).
fn rsa_bits(attrs: &AttrMap) -> AdminResult<u32> {
    let n = asn1::trim_be(attrs.bytes(CKA_MODULUS).unwrap_or_default());
    let bits = match n.first() {
        Some(top) => n.len() * 8 - top.leading_zeros() as usize,
        None => 0,
    };
    let weak = bits < rsa_gen::GEN_MIN_BITS;
    if !(rsa_gen::WEAK_GEN_MIN_BITS..=rsa_gen::GEN_MAX_BITS).contains(&bits) {
        return fail(format!("an RSA-{bits} key is not supported"), "import an RSA key of 2048 to 8192 bits");
    }
    if weak && !crate::assurance::relaxed(crate::assurance::Assurance::WeakRsa) {
        return fail(
            format!("RSA-{bits} is a weak key size (security assurance weak_rsa)"),
            "import a key of 2048 bits or more, or set CKNFAST_OVERRIDE_SECURITY_ASSURANCES=weak_rsa",
        );
    }
    Ok(bits as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_pem_is_refused_without_panicking() {
        let cases: [&[u8]; 7] = [
            b"",
            b"\xff\xfe",
            b"-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n",
            b"-----BEGIN EC PRIVATE KEY-----\nMAA=\n-----END EC PRIVATE KEY-----\n",
            b"-----BEGIN RSA PRIVATE KEY-----\nMAMCAQA=\n-----END RSA PRIVATE KEY-----\n",
            b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
        ];
        for pem in cases {
            let r = pkcs8_of(pem).and_then(|der| {
                mech::pkcs8_to_attrs(&der).map(|_| ()).map_err(|_| unreadable("malformed or inconsistent key"))
            });
            assert!(r.is_err(), "{:?}", String::from_utf8_lossy(pem));
        }
        // A SEC 1 key without its [0] curve cannot be placed in PKCS#8.
        assert!(sec1_curve(&[0x30, 0x05, 0x02, 0x01, 0x01, 0x04, 0x00]).is_none());
    }
}
