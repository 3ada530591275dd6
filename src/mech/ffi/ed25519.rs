//! Ed25519ctx and Ed25519ph (RFC 8032 §5.1), which aws-lc-rs does not expose.

use super::{check, Failed, R};
use aws_lc_sys as sys;
use zeroize::Zeroizing;

/// aws-lc's Ed25519 private key: the RFC 8032 seed followed by the public key.
fn ed25519_private(seed: &[u8; 32], public: &[u8; 32]) -> Zeroizing<[u8; 64]> {
    let mut k = Zeroizing::new([0u8; 64]);
    k[..32].copy_from_slice(seed);
    k[32..].copy_from_slice(public);
    k
}

/// Ed25519ctx signature of `msg` with a context of 1 to 255 bytes.
pub fn ed25519ctx_sign(seed: &[u8; 32], public: &[u8; 32], msg: &[u8], ctx: &[u8]) -> R<[u8; 64]> {
    if ctx.is_empty() || ctx.len() > 255 {
        return Err(Failed);
    }
    let key = ed25519_private(seed, public);
    let mut sig = [0u8; 64];
    // SAFETY: `sig` has room for the 64-byte signature, `key` is the 64-byte private key, and
    // the message and context slices are live for the call with their lengths.
    check(unsafe {
        sys::ED25519ctx_sign(sig.as_mut_ptr(), msg.as_ptr(), msg.len(), key.as_ptr(), ctx.as_ptr(), ctx.len())
    })?;
    Ok(sig)
}

/// Ed25519ctx verification (context of 1 to 255 bytes).
pub fn ed25519ctx_verify(public: &[u8; 32], msg: &[u8], sig: &[u8; 64], ctx: &[u8]) -> bool {
    if ctx.is_empty() || ctx.len() > 255 {
        return false;
    }
    // SAFETY: fixed-size signature and key arrays, live message and context slices; read only.
    let ok = unsafe {
        sys::ED25519ctx_verify(msg.as_ptr(), msg.len(), sig.as_ptr(), public.as_ptr(), ctx.as_ptr(), ctx.len())
    };
    check(ok).is_ok()
}

/// Ed25519ph signature of a message given by its SHA-512 digest, with a context of 0 to 255
/// bytes.
pub fn ed25519ph_sign_digest(seed: &[u8; 32], public: &[u8; 32], digest: &[u8; 64], ctx: &[u8]) -> R<[u8; 64]> {
    if ctx.len() > 255 {
        return Err(Failed);
    }
    let key = ed25519_private(seed, public);
    let mut sig = [0u8; 64];
    // SAFETY: `sig` has room for 64 bytes, the digest and key are fixed-size arrays, and the
    // context slice is live for the call with its length.
    check(unsafe {
        sys::ED25519ph_sign_digest(sig.as_mut_ptr(), digest.as_ptr(), key.as_ptr(), ctx.as_ptr(), ctx.len())
    })?;
    Ok(sig)
}

/// Ed25519ph verification of a SHA-512 digest (context of 0 to 255 bytes).
pub fn ed25519ph_verify_digest(public: &[u8; 32], digest: &[u8; 64], sig: &[u8; 64], ctx: &[u8]) -> bool {
    if ctx.len() > 255 {
        return false;
    }
    // SAFETY: fixed-size digest, signature and key arrays, a live context slice; read only.
    let ok = unsafe {
        sys::ED25519ph_verify_digest(digest.as_ptr(), sig.as_ptr(), public.as_ptr(), ctx.as_ptr(), ctx.len())
    };
    check(ok).is_ok()
}
