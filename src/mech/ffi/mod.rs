//! Direct calls into aws-lc — the same C library aws-lc-rs wraps, through `aws-lc-sys` — for
//! what the safe aws-lc-rs API does not offer and the public-key mechanisms need:
//!
//! * RSA keys of any size aws-lc handles (aws-lc-rs refuses below 2048 bits), built from
//!   PKCS#11 components and generated with any public exponent;
//! * raw RSA: PKCS#1 v1.5 type-1 padding over caller data (CKM_RSA_PKCS sign over a DigestInfo),
//!   no padding (CKM_RSA_X_509), PSS with any salt length and MGF1 digest, OAEP with SHA-224 and
//!   labels on every key size;
//! * ECDSA over a digest of any length (truncated to the group order as FIPS 186 / SEC 1 say),
//!   ECDH on every supported curve including secp256k1;
//! * Ed25519ctx and Ed25519ph (RFC 8032 §5.1: a context, and a SHA-512 prehash);
//! * DSA (FIPS 186) and Diffie-Hellman (PKCS #3), which aws-lc-rs does not expose at all;
//! * AES-GCM with IVs other than 96 bits (aws-lc-rs's AEAD takes 96-bit nonces only).
//!
//! This is the only `unsafe` in `mech` (rsa, ec, eddsa, dsa, dh, rsa_aes and pkcs8 `forbid` it). Every
//! block carries its `SAFETY:` argument; the types below own their engine objects and free them
//! on drop. Functions report failure as [`Failed`]; callers pick the CK_RV that fits.
//!
//! `bn` holds the big-number plumbing, `rsa`, `ec`, `ed25519`, `dsa` and `dh` the algorithms; this file the
//! error type and the digests they share.

#![deny(clippy::undocumented_unsafe_blocks)]

mod bn;
mod dh;
mod dsa;
mod dsa_comb;
mod ec;
mod ed25519;
mod gcm;
mod rsa;

#[cfg(test)]
pub use dh::aws_lc_group;
pub use dh::Dh;
pub use dsa::{Dsa, DsaParts};
pub use ec::{Ec, NID_P256, NID_P384, NID_P521, NID_SECP256K1};
pub use ed25519::{ed25519ctx_sign, ed25519ctx_verify, ed25519ph_sign_digest, ed25519ph_verify_digest};
pub use gcm::{gcm_open, gcm_seal};
pub use rsa::{Pad, Rsa};

use aws_lc_sys as sys;
use std::os::raw::c_int;

/// An engine call failed (bad key, bad padding, out of memory).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failed;

pub type R<T> = std::result::Result<T, Failed>;

fn check(ok: c_int) -> R<()> {
    if ok == 1 {
        Ok(())
    } else {
        // The engine queued an error; it is not ours to report and would only pile up.
        // SAFETY: no preconditions; clears this thread's error queue.
        unsafe { sys::ERR_clear_error() };
        Err(Failed)
    }
}

/// The SHA digests PSS, OAEP and MGF1 use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Md {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Md {
    fn evp(self) -> *const sys::EVP_MD {
        // SAFETY: these return pointers to static, immutable method tables; no preconditions.
        unsafe {
            match self {
                Md::Sha1 => sys::EVP_sha1(),
                Md::Sha224 => sys::EVP_sha224(),
                Md::Sha256 => sys::EVP_sha256(),
                Md::Sha384 => sys::EVP_sha384(),
                Md::Sha512 => sys::EVP_sha512(),
            }
        }
    }

    /// The digest of a hash mechanism (CKM_SHA_1, CKM_SHA224, ... CKM_SHA512).
    pub fn from_mech(m: cryptoki_sys::CK_MECHANISM_TYPE) -> Option<Md> {
        use cryptoki_sys::*;
        Some(match m {
            CKM_SHA_1 => Md::Sha1,
            CKM_SHA224 => Md::Sha224,
            CKM_SHA256 => Md::Sha256,
            CKM_SHA384 => Md::Sha384,
            CKM_SHA512 => Md::Sha512,
            _ => return None,
        })
    }

    /// The digest of an MGF1 generator (CKG_MGF1_SHA1, ... CKG_MGF1_SHA512).
    pub fn from_mgf(g: cryptoki_sys::CK_RSA_PKCS_MGF_TYPE) -> Option<Md> {
        use cryptoki_sys::*;
        Some(match g {
            CKG_MGF1_SHA1 => Md::Sha1,
            CKG_MGF1_SHA224 => Md::Sha224,
            CKG_MGF1_SHA256 => Md::Sha256,
            CKG_MGF1_SHA384 => Md::Sha384,
            CKG_MGF1_SHA512 => Md::Sha512,
            _ => return None,
        })
    }

    /// The aws-lc-rs algorithm, for hashing data before signing.
    pub fn algorithm(self) -> &'static aws_lc_rs::digest::Algorithm {
        use aws_lc_rs::digest;
        match self {
            Md::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Md::Sha224 => &digest::SHA224,
            Md::Sha256 => &digest::SHA256,
            Md::Sha384 => &digest::SHA384,
            Md::Sha512 => &digest::SHA512,
        }
    }

    /// Output length in bytes.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(self) -> usize {
        match self {
            Md::Sha1 => 20,
            Md::Sha224 => 28,
            Md::Sha256 => 32,
            Md::Sha384 => 48,
            Md::Sha512 => 64,
        }
    }
}
