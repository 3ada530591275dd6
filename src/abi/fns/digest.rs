//! Message digesting: init, single-part, update, key, final. `super::op_call` ends the
//! operation on an error.

use super::op_call;
use crate::abi::marshal::{mechanism, slice, write_out};
use crate::abi::{guard, session};
use crate::token::crypto::OpKind;
use cryptoki_sys::*;

/// # Safety
/// `m` is null or a valid mechanism.
#[no_mangle]
pub unsafe extern "C" fn C_DigestInit(h: CK_SESSION_HANDLE, m: *mut CK_MECHANISM) -> CK_RV {
    guard(|| {
        let (lib, s) = session(h)?;
        if m.is_null() {
            s.digest_cancel();
            return Ok(());
        }
        // SAFETY: caller's mechanism.
        let m = unsafe { mechanism(m)? };
        lib.weak_gate(m.ty)?;
        s.digest_init(&m)
    })
}

/// # Safety
/// Buffers as the spec defines them.
#[no_mangle]
pub unsafe extern "C" fn C_Digest(
    h: CK_SESSION_HANDLE,
    d: *mut CK_BYTE,
    len: CK_ULONG,
    o: *mut CK_BYTE,
    ol: *mut CK_ULONG,
) -> CK_RV {
    op_call(h, OpKind::Digest, |_, s| {
        // SAFETY: caller's buffers.
        let input = unsafe { slice(d, len)? };
        // SAFETY: `o` and `ol` are the caller's output buffer and its length, as `write_out` requires.
        unsafe { write_out(o, ol, |out| s.digest(input, out)) }
    })
}

/// # Safety
/// Buffers as the spec defines them.
#[no_mangle]
pub unsafe extern "C" fn C_DigestUpdate(h: CK_SESSION_HANDLE, d: *mut CK_BYTE, len: CK_ULONG) -> CK_RV {
    op_call(h, OpKind::Digest, |_, s| {
        // SAFETY: caller's buffer.
        let input = unsafe { slice(d, len)? };
        s.digest_update(input)
    })
}

#[no_mangle]
pub extern "C" fn C_DigestKey(h: CK_SESSION_HANDLE, k: CK_OBJECT_HANDLE) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        l.digest_key(&s, k)
    })
}

/// # Safety
/// Buffers as the spec defines them.
#[no_mangle]
pub unsafe extern "C" fn C_DigestFinal(h: CK_SESSION_HANDLE, o: *mut CK_BYTE, ol: *mut CK_ULONG) -> CK_RV {
    op_call(h, OpKind::Digest, |_, s| {
        // SAFETY: caller's buffers.
        unsafe { write_out(o, ol, |out| s.digest_final(out)) }
    })
}
