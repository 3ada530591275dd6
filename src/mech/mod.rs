//! Mechanisms: one module per algorithm family behind one set of traits, registered in one
//! table ([`registry`]). `C_GetMechanismList`/`C_GetMechanismInfo` and operation dispatch read
//! the same table, so they cannot disagree.
//!
//! This layer is pure crypto: it sees key material ([`KeyMaterial`]) and typed parameters
//! ([`Params`]), never sessions, objects or pointers. Attribute checks (CKA_ENCRYPT, allowed
//! mechanisms, ...) belong to the token layer.
//!
//! Below `token` and `module`, which both call it; it names only [`crate::object`] (keys are
//! parsed from and encoded to [`AttrMap`]s), [`crate::error`] and [`crate::assurance`] (the
//! weak-size switches of RSA, DSA and DH generation). Its `unsafe` is confined to `ffi`.

pub mod aes;
pub mod asn1;
pub mod cmac;
pub mod derive_data;
pub mod des;
pub mod des3;
pub mod dh;
pub mod dh_groups;
pub mod digest;
pub mod dsa;
pub mod ec;
pub mod eddsa;
pub(crate) mod ffi;
pub mod hmac;
pub mod kbkdf;
pub mod key;
pub mod kw;
pub mod montgomery;
pub mod pkcs8;
mod prehash;
pub mod registry;
pub mod rng;
pub mod rsa;
pub mod rsa_aes;
#[cfg(test)]
pub(crate) mod testutil;
pub mod weak_hash;

use crate::error::Result;
use crate::object::attr::AttrMap;
use cryptoki_sys::*;
use zeroize::Zeroizing;

pub use key::KeyMaterial;
pub use pkcs8::{pkcs8_to_attrs, private_to_pkcs8, public_from_private, public_key_info, spki_to_attrs};
pub use registry::{lookup, pair_key_type, MechEntry};
pub use rsa_aes::rsa_aes_wrap_with;

/// Mechanism parameters, parsed from `CK_MECHANISM.pParameter` by the ABI layer according to
/// [`registry::param_kind`]. Owned copies: an operation may outlive the caller's buffers.
#[derive(Clone, Debug, Default)]
pub enum Params {
    #[default]
    None,
    /// CBC/CBC-PAD/ECB-with-IV style: the IV bytes.
    Iv(Vec<u8>),
    /// `CK_AES_CTR_PARAMS`.
    Ctr { counter_bits: usize, cb: [u8; 16] },
    /// `CK_GCM_PARAMS` (`ulIvBits` is ignored, as every implementation does).
    Gcm { iv: Vec<u8>, aad: Vec<u8>, tag_bits: usize },
    /// `CK_MAC_GENERAL_PARAMS`: requested MAC length in bytes.
    MacLen(usize),
    /// `CK_RSA_PKCS_OAEP_PARAMS`.
    Oaep { hash: CK_MECHANISM_TYPE, mgf: CK_ULONG, label: Vec<u8> },
    /// `CK_RSA_PKCS_PSS_PARAMS`.
    Pss { hash: CK_MECHANISM_TYPE, mgf: CK_ULONG, salt_len: usize },
    /// `CK_RSA_AES_KEY_WRAP_PARAMS`.
    RsaAesKeyWrap { aes_bits: usize, oaep: Box<Params> },
    /// `CK_ECDH1_DERIVE_PARAMS`.
    Ecdh { kdf: CK_ULONG, shared: Vec<u8>, public: Vec<u8> },
    /// `CK_KEY_DERIVATION_STRING_DATA` (XOR and ECB encrypt-data derivations).
    Data(Vec<u8>),
    /// `CK_AES_CBC_ENCRYPT_DATA_PARAMS` / `CK_DES_CBC_ENCRYPT_DATA_PARAMS`.
    IvData { iv: Vec<u8>, data: Vec<u8> },
    /// A `CK_OBJECT_HANDLE` (CKM_CONCATENATE_BASE_AND_KEY's second key; the token resolves it).
    KeyHandle(CK_OBJECT_HANDLE),
    /// `CK_EXTRACT_PARAMS`: the bit of the base key where CKM_EXTRACT_KEY_FROM_KEY starts.
    BitIndex(CK_ULONG),
    /// `CK_SP800_108_KDF_PARAMS` / `CK_SP800_108_FEEDBACK_KDF_PARAMS`.
    Kbkdf(Box<kbkdf::KbkdfParams>),
    /// `CK_EDDSA_PARAMS` (phFlag, context data; the ABI layer caps the context at 255 bytes).
    Eddsa { ph: bool, ctx: Vec<u8> },
    /// Anything else: the raw parameter bytes (e.g. an explicit AES-KW IV).
    Raw(Vec<u8>),
}

/// How the ABI layer must read `pParameter` for a mechanism.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// No parameter allowed (a non-empty one is `CKR_MECHANISM_PARAM_INVALID`).
    None,
    /// Exactly `n` bytes of IV.
    Iv(usize),
    /// Raw bytes, possibly empty, length checked by the mechanism.
    Raw,
    Ctr,
    Gcm,
    MacLen,
    Oaep,
    Pss,
    RsaAesKeyWrap,
    Ecdh,
    /// `CK_EDDSA_PARAMS`, or none.
    Eddsa,
    /// `CK_KEY_DERIVATION_STRING_DATA`.
    DeriveData,
    /// `CK_AES_CBC_ENCRYPT_DATA_PARAMS` (IV of 16) or `CK_DES_CBC_ENCRYPT_DATA_PARAMS` (IV of 8).
    CbcEncryptData(usize),
    /// A `CK_OBJECT_HANDLE`.
    KeyHandle,
    /// `CK_EXTRACT_PARAMS` (a `CK_ULONG` bit index).
    Extract,
    /// `CK_SP800_108_KDF_PARAMS`.
    Kbkdf,
    /// `CK_SP800_108_FEEDBACK_KDF_PARAMS`.
    KbkdfFeedback,
}

/// A multi-part encryption or decryption. Output buffers are sized by the caller from the
/// `*_len` bounds, so the token layer can implement the two-call length convention without
/// running the operation twice.
pub trait CipherOp: Send {
    /// Upper bound of what `update` writes for `input_len` more bytes.
    fn update_len(&self, input_len: usize) -> usize;
    fn update(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize>;
    /// Upper bound of what `finalize` writes.
    fn final_len(&self) -> usize;
    fn finalize(&mut self, out: &mut [u8]) -> Result<usize>;
    /// Upper bound of a single-part call on `input_len` bytes.
    fn single_len(&self, input_len: usize) -> usize {
        self.update_len(input_len) + self.final_len()
    }
    /// Single-part call; modes with a faster one-shot path override this.
    fn single(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        let n = self.update(input, out)?;
        let m = self.finalize(&mut out[n..])?;
        Ok(n + m)
    }
}

/// The end of every MAC operation (CMAC, CBC-MAC, HMAC): the full tag cut to the `n` bytes the
/// mechanism makes (the `_GENERAL` forms choose), written to `out` (its size first: a buffer too
/// small leaves the operation going, and `tag` ends it)...
pub(crate) fn mac_out<T: AsRef<[u8]>>(n: usize, out: &mut [u8], tag: impl FnOnce() -> Result<T>) -> Result<usize> {
    if out.len() < n {
        return Err(CKR_BUFFER_TOO_SMALL.into());
    }
    out[..n].copy_from_slice(&tag()?.as_ref()[..n]);
    Ok(n)
}

/// ... or compared with `sig` in constant time (its length first: `tag` ends the operation).
pub(crate) fn mac_check<T: AsRef<[u8]>>(n: usize, sig: &[u8], tag: impl FnOnce() -> Result<T>) -> Result<()> {
    if sig.len() != n {
        return Err(CKR_SIGNATURE_LEN_RANGE.into());
    }
    let tag = tag()?;
    aws_lc_rs::constant_time::verify_slices_are_equal(&tag.as_ref()[..n], sig).map_err(|_| CKR_SIGNATURE_INVALID.into())
}

/// A signature or MAC computation (sign and verify share it: verify recomputes or checks).
pub trait SignOp: Send {
    fn update(&mut self, data: &[u8]) -> Result<()>;
    /// Exact signature length.
    fn sig_len(&self) -> usize;
    fn sign_final(&mut self, out: &mut [u8]) -> Result<usize>;
    /// `CKR_SIGNATURE_INVALID` / `CKR_SIGNATURE_LEN_RANGE` on failure.
    fn verify_final(&mut self, sig: &[u8]) -> Result<()>;
}

#[allow(clippy::len_without_is_empty)]
pub trait DigestOp: Send {
    fn update(&mut self, data: &[u8]);
    /// Digest length in bytes.
    fn len(&self) -> usize;
    fn finalize(&mut self, out: &mut [u8]) -> usize;
}

/// The operations one mechanism offers. Every method defaults to `CKR_MECHANISM_INVALID`, so a
/// family implements only what the registry advertises for it.
pub trait Mechanism: Sync {
    fn encrypt(&self, _p: &Params, _key: &KeyMaterial) -> Result<Box<dyn CipherOp>> {
        Err(CKR_MECHANISM_INVALID.into())
    }
    fn decrypt(&self, _p: &Params, _key: &KeyMaterial) -> Result<Box<dyn CipherOp>> {
        Err(CKR_MECHANISM_INVALID.into())
    }
    fn sign(&self, _p: &Params, _key: &KeyMaterial) -> Result<Box<dyn SignOp>> {
        Err(CKR_MECHANISM_INVALID.into())
    }
    fn verify(&self, _p: &Params, _key: &KeyMaterial) -> Result<Box<dyn SignOp>> {
        Err(CKR_MECHANISM_INVALID.into())
    }
    fn digest(&self, _p: &Params) -> Result<Box<dyn DigestOp>> {
        Err(CKR_MECHANISM_INVALID.into())
    }
    /// Wraps `plaintext` (a secret key's value, or a private key's PKCS#8 DER).
    fn wrap(&self, _p: &Params, _key: &KeyMaterial, _plaintext: &[u8]) -> Result<Vec<u8>> {
        Err(CKR_MECHANISM_INVALID.into())
    }
    /// Inverse of `wrap`; integrity failures are `CKR_WRAPPED_KEY_INVALID`.
    fn unwrap(&self, _p: &Params, _key: &KeyMaterial, _wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        Err(CKR_MECHANISM_INVALID.into())
    }
    /// Key-pair generation: from the caller's (already policy-checked) public and private
    /// templates, the key-material attributes of the new pair — public: CKA_MODULUS,
    /// CKA_PUBLIC_EXPONENT (RSA) or CKA_EC_PARAMS, CKA_EC_POINT (EC); private: the same public
    /// values plus the secret components (RSA CRT values; EC CKA_VALUE). The token layer adds
    /// class, key type and every non-material attribute.
    fn generate_pair(&self, _public: &AttrMap, _private: &AttrMap) -> Result<(AttrMap, AttrMap)> {
        Err(CKR_MECHANISM_INVALID.into())
    }
    /// Key derivation: the derived secret's bytes, `len` long when the template fixed a length
    /// (`None`: the mechanism's natural length).
    fn derive(&self, _p: &Params, _key: &KeyMaterial, _len: Option<usize>) -> Result<Zeroizing<Vec<u8>>> {
        Err(CKR_MECHANISM_INVALID.into())
    }
    /// Derivation from two keys (CKM_CONCATENATE_BASE_AND_KEY): the whole output.
    fn derive_pair(&self, _base: &KeyMaterial, _other: &KeyMaterial) -> Result<Zeroizing<Vec<u8>>> {
        Err(CKR_MECHANISM_INVALID.into())
    }
}
