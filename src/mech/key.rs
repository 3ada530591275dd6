//! Parsed key material, built once per object and cached by the token layer (never rebuilt per
//! `C_*Init`: that is where SoftHSMv2 loses half its speed). Secret bytes are wiped on drop.

use super::dh::DhKey;
use super::dsa::DsaKey;
use super::ec::EcKey;
use super::eddsa::EdKey;
use super::montgomery::MontKey;
use super::rsa::RsaKey;
use super::{dh, dsa, ec, eddsa, montgomery, rsa};
use crate::error::{err, Result};
use crate::object::attr::AttrMap;
use aws_lc_rs::cipher::{DecryptingKey, EncryptingKey};
use cryptoki_sys::*;
use once_cell::sync::OnceCell;
use std::sync::Arc;
use zeroize::Zeroizing;

pub enum KeyMaterial {
    Secret(SecretKey),
    /// RSA private key (with its public half); see [`super::rsa`].
    RsaPrivate(Arc<RsaKey>),
    RsaPublic(Arc<RsaKey>),
    /// EC private key on a named curve (with its public point); see [`super::ec`].
    EcPrivate(Arc<EcKey>),
    EcPublic(Arc<EcKey>),
    /// Ed25519 or Ed448 private key (seed and public key); see [`super::eddsa`].
    EdPrivate(Arc<EdKey>),
    EdPublic(Arc<EdKey>),
    /// X25519 or X448 private key (scalar and public u-coordinate); see [`super::montgomery`].
    MontPrivate(Arc<MontKey>),
    MontPublic(Arc<MontKey>),
    /// DSA private key (domain parameters, x and the computed y); see [`super::dsa`].
    DsaPrivate(Arc<DsaKey>),
    DsaPublic(Arc<DsaKey>),
    /// Diffie-Hellman (PKCS #3) private key (p, g, x); see [`super::dh`].
    DhPrivate(Arc<DhKey>),
    DhPublic(Arc<DhKey>),
    /// Other asymmetric key types (stored and listed, usable with no mechanism: every
    /// mechanism answers `CKR_KEY_TYPE_INCONSISTENT`).
    Unparsed,
}

/// A symmetric key (AES, DES3, generic secret, HMAC) and lazily built engine keys for it.
pub struct SecretKey {
    pub key_type: CK_KEY_TYPE,
    pub value: Zeroizing<Vec<u8>>,
    /// AES-GCM key schedule, built on first GCM use. An `Arc` because a running operation keeps
    /// its own handle (operations outlive the borrow of the key material).
    pub(crate) gcm: OnceCell<Arc<aws_lc_rs::aead::LessSafeKey>>,
    /// HMAC key, built on first use for a given digest (algorithm id, key). A key used with a
    /// second digest gets a fresh engine key per operation (see `mech::hmac`). Boxed: the engine
    /// key holds a whole HMAC context (over a kilobyte) that non-HMAC keys should not carry.
    pub(crate) hmac: OnceCell<Box<(aws_lc_rs::hmac::Algorithm, aws_lc_rs::hmac::Key)>>,
    /// Block-cipher key schedules (AES or DES3, whichever the key type is), built on first use.
    pub(crate) cipher: CipherCache,
}

/// Engine keys of a block cipher, one per mode and direction (aws-lc-rs binds the mode into the
/// key object). Each is built on first use and shared with running operations through an `Arc`.
#[derive(Default)]
pub(crate) struct CipherCache {
    pub(crate) ecb_enc: OnceCell<Arc<EncryptingKey>>,
    pub(crate) ecb_dec: OnceCell<Arc<DecryptingKey>>,
    pub(crate) cbc_enc: OnceCell<Arc<EncryptingKey>>,
    pub(crate) cbc_dec: OnceCell<Arc<DecryptingKey>>,
    /// CTR keystream (AES only): CKM_AES_CTR both ways, and GCM with a truncated tag.
    pub(crate) ctr: OnceCell<Arc<EncryptingKey>>,
}

impl SecretKey {
    pub fn new(key_type: CK_KEY_TYPE, value: &[u8]) -> Self {
        SecretKey {
            key_type,
            value: Zeroizing::new(value.to_vec()),
            gcm: OnceCell::new(),
            hmac: OnceCell::new(),
            cipher: CipherCache::default(),
        }
    }
}

impl KeyMaterial {
    /// Builds the material of a key object from its attributes (called once per object, and
    /// at import to validate). Asymmetric keys are parsed and checked by the engine: RSA from
    /// CKA_MODULUS/CKA_PUBLIC_EXPONENT (+ CKA_PRIVATE_EXPONENT and CRT values, which are
    /// computed when absent), EC, Edwards (Ed25519, Ed448) and Montgomery (X25519, X448) keys from
    /// CKA_EC_PARAMS and CKA_EC_POINT or CKA_VALUE, DSA keys from CKA_PRIME, CKA_SUBPRIME,
    /// CKA_BASE and CKA_VALUE, DH keys from CKA_PRIME, CKA_BASE and CKA_VALUE.
    /// Missing components are `CKR_TEMPLATE_INCOMPLETE`, invalid ones
    /// `CKR_ATTRIBUTE_VALUE_INVALID`, unsupported curves `CKR_CURVE_NOT_SUPPORTED` and
    /// malformed or explicit EC parameters `CKR_DOMAIN_PARAMS_INVALID`.
    pub fn from_attrs(attrs: &AttrMap) -> Result<KeyMaterial> {
        let private = match attrs.class() {
            Some(CKO_SECRET_KEY) => {
                let kt = attrs.key_type().ok_or(CKR_KEY_TYPE_INCONSISTENT)?;
                let v = attrs.bytes(CKA_VALUE).ok_or(CKR_KEY_TYPE_INCONSISTENT)?;
                return Ok(KeyMaterial::Secret(SecretKey::new(kt, v)));
            }
            Some(CKO_PUBLIC_KEY) => false,
            Some(CKO_PRIVATE_KEY) => true,
            _ => return err(CKR_KEY_HANDLE_INVALID),
        };
        Ok(match (attrs.key_type(), private) {
            (Some(CKK_RSA), true) => KeyMaterial::RsaPrivate(Arc::new(rsa::key_from_attrs(attrs, true)?)),
            (Some(CKK_RSA), false) => KeyMaterial::RsaPublic(Arc::new(rsa::key_from_attrs(attrs, false)?)),
            (Some(CKK_EC), true) => KeyMaterial::EcPrivate(Arc::new(ec::key_from_attrs(attrs, true)?)),
            (Some(CKK_EC), false) => KeyMaterial::EcPublic(Arc::new(ec::key_from_attrs(attrs, false)?)),
            (Some(CKK_EC_EDWARDS), true) => KeyMaterial::EdPrivate(Arc::new(eddsa::key_from_attrs(attrs, true)?)),
            (Some(CKK_EC_EDWARDS), false) => KeyMaterial::EdPublic(Arc::new(eddsa::key_from_attrs(attrs, false)?)),
            (Some(CKK_EC_MONTGOMERY), true) => {
                KeyMaterial::MontPrivate(Arc::new(montgomery::key_from_attrs(attrs, true)?))
            }
            (Some(CKK_EC_MONTGOMERY), false) => {
                KeyMaterial::MontPublic(Arc::new(montgomery::key_from_attrs(attrs, false)?))
            }
            (Some(CKK_DSA), true) => KeyMaterial::DsaPrivate(Arc::new(dsa::key_from_attrs(attrs, true)?)),
            (Some(CKK_DSA), false) => KeyMaterial::DsaPublic(Arc::new(dsa::key_from_attrs(attrs, false)?)),
            (Some(CKK_DH), true) => KeyMaterial::DhPrivate(Arc::new(dh::key_from_attrs(attrs, true)?)),
            (Some(CKK_DH), false) => KeyMaterial::DhPublic(Arc::new(dh::key_from_attrs(attrs, false)?)),
            _ => KeyMaterial::Unparsed,
        })
    }

    /// True for material that holds a private key.
    pub fn is_private(&self) -> bool {
        matches!(
            self,
            KeyMaterial::RsaPrivate(_)
                | KeyMaterial::EcPrivate(_)
                | KeyMaterial::EdPrivate(_)
                | KeyMaterial::MontPrivate(_)
                | KeyMaterial::DsaPrivate(_)
                | KeyMaterial::DhPrivate(_)
        )
    }

    /// The secret key, or `CKR_KEY_TYPE_INCONSISTENT` for the given expected key types.
    pub fn secret(&self, allowed: &[CK_KEY_TYPE]) -> Result<&SecretKey> {
        match self {
            KeyMaterial::Secret(s) if allowed.contains(&s.key_type) => Ok(s),
            _ => err(CKR_KEY_TYPE_INCONSISTENT),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mech::testutil::*;

    #[test]
    fn asymmetric_keys_are_parsed_and_other_types_kept() {
        let (public, private) = rsa_pair(2048);
        assert!(matches!(material(&public), KeyMaterial::RsaPublic(_)));
        assert!(matches!(material(&private), KeyMaterial::RsaPrivate(_)));
        assert!(material(&private).is_private());
        assert!(!material(&public).is_private());
        let (public, private) = ec_pair(ec::P384.params);
        assert!(matches!(material(&public), KeyMaterial::EcPublic(_)));
        assert!(matches!(material(&private), KeyMaterial::EcPrivate(_)));
        // Types without mechanisms are stored as they are.
        let kea = attrs(CKO_PRIVATE_KEY, CKK_KEA, &[(CKA_VALUE, &[1; 20])]);
        assert!(matches!(material(&kea), KeyMaterial::Unparsed));
        // DSA and DH keys are parsed: incomplete ones are refused.
        let dsa = attrs(CKO_PRIVATE_KEY, CKK_DSA, &[(CKA_VALUE, &[1; 20])]);
        assert_eq!(rv(KeyMaterial::from_attrs(&dsa)), CKR_TEMPLATE_INCOMPLETE);
        let no_type = attrs(CKO_PUBLIC_KEY, CKK_RSA, &[]);
        assert_eq!(rv(KeyMaterial::from_attrs(&no_type)), CKR_TEMPLATE_INCOMPLETE);
        let cert = attrs(CKO_CERTIFICATE, 0, &[]);
        assert_eq!(rv(KeyMaterial::from_attrs(&cert)), CKR_KEY_HANDLE_INVALID);
    }
}
