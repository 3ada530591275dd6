//! Parsed key material, built once per object and cached by the token layer (never rebuilt per
//! `C_*Init`: that is where SoftHSMv2 loses half its speed). Secret bytes are wiped on drop.

use crate::error::{err, Result};
use crate::token::attr::AttrMap;
use aws_lc_rs::cipher::{DecryptingKey, EncryptingKey};
use cryptoki_sys::*;
use once_cell::sync::OnceCell;
use std::sync::Arc;
use zeroize::Zeroizing;

pub enum KeyMaterial {
    Secret(SecretKey),
    /// Asymmetric keys are stored and listed before their mechanisms exist; using one with a
    /// mechanism that needs parsed material is `CKR_KEY_TYPE_INCONSISTENT`.
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
    /// Builds the material of a key object from its attributes.
    pub fn from_attrs(attrs: &AttrMap) -> Result<KeyMaterial> {
        match attrs.class() {
            Some(CKO_SECRET_KEY) => {
                let kt = attrs.key_type().ok_or(CKR_KEY_TYPE_INCONSISTENT)?;
                let v = attrs.bytes(CKA_VALUE).ok_or(CKR_KEY_TYPE_INCONSISTENT)?;
                Ok(KeyMaterial::Secret(SecretKey::new(kt, v)))
            }
            Some(CKO_PUBLIC_KEY) | Some(CKO_PRIVATE_KEY) => Ok(KeyMaterial::Unparsed),
            _ => err(CKR_KEY_HANDLE_INVALID),
        }
    }

    /// The secret key, or `CKR_KEY_TYPE_INCONSISTENT` for the given expected key types.
    pub fn secret(&self, allowed: &[CK_KEY_TYPE]) -> Result<&SecretKey> {
        match self {
            KeyMaterial::Secret(s) if allowed.contains(&s.key_type) => Ok(s),
            _ => err(CKR_KEY_TYPE_INCONSISTENT),
        }
    }
}
