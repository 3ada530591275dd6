//! Signing and MACing: init, single-part, update, final (`super::op_call` ends the operation
//! on an error), and signing with recovery, which no mechanism of ours offers.

use super::{op_call, sign_init};
use crate::abi::marshal::{mechanism, slice, write_out};
use crate::abi::{guard, session};
use crate::error::err;
use crate::token::crypto::{OpKind, SignDir};
use cryptoki_sys::*;

/// # Safety
/// `m` is null or a valid mechanism.
#[no_mangle]
pub unsafe extern "C" fn C_SignInit(h: CK_SESSION_HANDLE, m: *mut CK_MECHANISM, k: CK_OBJECT_HANDLE) -> CK_RV {
    // SAFETY: forwarded contract.
    unsafe { sign_init(h, SignDir::Sign, m, k) }
}

/// # Safety
/// Buffers as the spec defines them.
#[no_mangle]
pub unsafe extern "C" fn C_Sign(
    h: CK_SESSION_HANDLE,
    d: *mut CK_BYTE,
    len: CK_ULONG,
    o: *mut CK_BYTE,
    ol: *mut CK_ULONG,
) -> CK_RV {
    op_call(h, OpKind::Sign(SignDir::Sign), |_, s| {
        // SAFETY: caller's buffers.
        let input = unsafe { slice(d, len)? };
        // SAFETY: `o` and `ol` are the caller's output buffer and its length, as `write_out` requires.
        unsafe { write_out(o, ol, |out| s.sign(Some(input), out)) }
    })
}

/// # Safety
/// Buffers as the spec defines them.
#[no_mangle]
pub unsafe extern "C" fn C_SignUpdate(h: CK_SESSION_HANDLE, d: *mut CK_BYTE, len: CK_ULONG) -> CK_RV {
    op_call(h, OpKind::Sign(SignDir::Sign), |_, s| {
        // SAFETY: caller's buffer.
        let input = unsafe { slice(d, len)? };
        s.sign_update(SignDir::Sign, input)
    })
}

/// # Safety
/// Buffers as the spec defines them.
#[no_mangle]
pub unsafe extern "C" fn C_SignFinal(h: CK_SESSION_HANDLE, o: *mut CK_BYTE, ol: *mut CK_ULONG) -> CK_RV {
    op_call(h, OpKind::Sign(SignDir::Sign), |_, s| {
        // SAFETY: caller's buffers.
        unsafe { write_out(o, ol, |out| s.sign(None, out)) }
    })
}

/// No mechanism of ours signs with recovery: the init refuses with the spec's code.
///
/// # Safety
/// `m` is null or a valid mechanism.
#[no_mangle]
pub unsafe extern "C" fn C_SignRecoverInit(h: CK_SESSION_HANDLE, m: *mut CK_MECHANISM, _k: CK_OBJECT_HANDLE) -> CK_RV {
    guard(|| {
        session(h)?;
        // SAFETY: caller's mechanism.
        unsafe { mechanism(m)? };
        err(CKR_MECHANISM_INVALID)
    })
}

#[no_mangle]
pub extern "C" fn C_SignRecover(
    h: CK_SESSION_HANDLE,
    _d: *mut CK_BYTE,
    _l: CK_ULONG,
    _o: *mut CK_BYTE,
    _ol: *mut CK_ULONG,
) -> CK_RV {
    guard(|| {
        session(h)?;
        err(CKR_OPERATION_NOT_INITIALIZED)
    })
}
