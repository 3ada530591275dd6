//! The `extern "C"` entry points, one file per chapter of the PKCS#11 function list (as
//! Kryoptic splits its `fns/`). Each one: catch panics ([`guard`]), marshal
//! ([`super::marshal`]), call a typed function of the token layer. Signatures follow
//! cryptoki-sys; the function tables in [`super::tables`] point here.
//!
//! What is shared by several chapters lives here: [`op_call`], the wrapper of every call of an
//! active operation, and the init/update/final shims common to both directions of encrypt and
//! decrypt, and of sign and verify.

#![allow(non_snake_case)]

mod decrypt;
mod digest;
mod dual;
mod encrypt;
mod general;
mod key;
mod message;
mod object;
mod random;
mod session;
mod sign;
mod slot_token;
mod v240;
mod verify;

pub use decrypt::*;
pub use digest::*;
pub use dual::*;
pub use encrypt::*;
pub use general::*;
pub use key::*;
pub use message::*;
pub use object::*;
pub use random::*;
pub use session::*;
pub use sign::*;
pub use slot_token::*;
pub use v240::*;
pub use verify::*;

use super::marshal::{mechanism, slice, write_out};
use super::{guard, session};
use crate::error::Result;
use crate::token::crypto::{CipherDir, OpKind, SignDir};
use crate::token::session::Session;
use crate::token::Library;
use cryptoki_sys::*;

/// A call of an active operation: the token layer ends the operation on an error as PKCS#11
/// says ([`Library::op_call`]); `f` holds the marshalling too, so argument errors count.
fn op_call(h: CK_SESSION_HANDLE, kind: OpKind, f: impl FnOnce(&Library, &Session) -> Result<()>) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        l.op_call(&s, kind, || f(&l, &s))
    })
}

/// `C_EncryptInit`/`C_DecryptInit`.
///
/// # Safety
/// `m` is null or a valid mechanism.
unsafe fn cipher_init(h: CK_SESSION_HANDLE, d: CipherDir, m: *mut CK_MECHANISM, key: CK_OBJECT_HANDLE) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        if m.is_null() {
            // PKCS#11 3.0: a NULL mechanism cancels the active operation.
            s.cipher_cancel(d);
            return Ok(());
        }
        // SAFETY: caller's mechanism.
        let m = unsafe { mechanism(m)? };
        l.cipher_init(&s, d, &m, key)
    })
}

/// `C_Encrypt`/`C_Decrypt`.
///
/// # Safety
/// Buffers as the spec defines them.
unsafe fn cipher_one(
    h: CK_SESSION_HANDLE,
    d: CipherDir,
    data: *mut CK_BYTE,
    len: CK_ULONG,
    o: *mut CK_BYTE,
    ol: *mut CK_ULONG,
) -> CK_RV {
    op_call(h, OpKind::Cipher(d), |_, s| {
        // SAFETY: caller's buffers.
        let input = unsafe { slice(data, len)? };
        // SAFETY: `o` and `ol` are the caller's output buffer and its length, as `write_out` requires.
        unsafe { write_out(o, ol, |out| s.cipher(d, input, out)) }
    })
}

/// `C_EncryptUpdate`/`C_DecryptUpdate`.
///
/// # Safety
/// Buffers as the spec defines them.
unsafe fn cipher_update(
    h: CK_SESSION_HANDLE,
    d: CipherDir,
    data: *mut CK_BYTE,
    len: CK_ULONG,
    o: *mut CK_BYTE,
    ol: *mut CK_ULONG,
) -> CK_RV {
    op_call(h, OpKind::Cipher(d), |_, s| {
        // SAFETY: caller's buffers.
        let input = unsafe { slice(data, len)? };
        // SAFETY: `o` and `ol` are the caller's output buffer and its length, as `write_out` requires.
        unsafe { write_out(o, ol, |out| s.cipher_update(d, input, out)) }
    })
}

/// `C_EncryptFinal`/`C_DecryptFinal`.
///
/// # Safety
/// Buffers as the spec defines them.
unsafe fn cipher_final(h: CK_SESSION_HANDLE, d: CipherDir, o: *mut CK_BYTE, ol: *mut CK_ULONG) -> CK_RV {
    op_call(h, OpKind::Cipher(d), |_, s| {
        // SAFETY: caller's buffers.
        unsafe { write_out(o, ol, |out| s.cipher_final(d, out)) }
    })
}

/// `C_SignInit`/`C_VerifyInit`.
///
/// # Safety
/// `m` is null or a valid mechanism.
unsafe fn sign_init(h: CK_SESSION_HANDLE, d: SignDir, m: *mut CK_MECHANISM, k: CK_OBJECT_HANDLE) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        if m.is_null() {
            s.sign_cancel(d);
            return Ok(());
        }
        // SAFETY: caller's mechanism.
        let m = unsafe { mechanism(m)? };
        l.sign_init(&s, d, &m, k)
    })
}
