//! Verifying signatures and MACs: init, single-part, update, final (`super::op_call` ends the
//! operation on an error), and verifying with recovery, which no mechanism of ours offers.

use super::{op_call, sign_init};
use crate::abi::marshal::{mechanism, slice};
use crate::abi::{guard, session};
use crate::error::err;
use crate::token::crypto::{OpKind, SignDir};
use cryptoki_sys::*;

/// # Safety
/// `m` is null or a valid mechanism.
#[no_mangle]
pub unsafe extern "C" fn C_VerifyInit(h: CK_SESSION_HANDLE, m: *mut CK_MECHANISM, k: CK_OBJECT_HANDLE) -> CK_RV {
    // SAFETY: forwarded contract.
    unsafe { sign_init(h, SignDir::Verify, m, k) }
}

/// # Safety
/// Buffers as the spec defines them.
#[no_mangle]
pub unsafe extern "C" fn C_Verify(
    h: CK_SESSION_HANDLE,
    d: *mut CK_BYTE,
    len: CK_ULONG,
    sig: *mut CK_BYTE,
    sl: CK_ULONG,
) -> CK_RV {
    op_call(h, OpKind::Sign(SignDir::Verify), |_, s| {
        // SAFETY: caller's buffers.
        let (input, sig) = unsafe { (slice(d, len)?, slice(sig, sl)?) };
        s.verify(Some(input), sig)
    })
}

/// # Safety
/// Buffers as the spec defines them.
#[no_mangle]
pub unsafe extern "C" fn C_VerifyUpdate(h: CK_SESSION_HANDLE, d: *mut CK_BYTE, len: CK_ULONG) -> CK_RV {
    op_call(h, OpKind::Sign(SignDir::Verify), |_, s| {
        // SAFETY: caller's buffer.
        let input = unsafe { slice(d, len)? };
        s.sign_update(SignDir::Verify, input)
    })
}

/// # Safety
/// Buffers as the spec defines them.
#[no_mangle]
pub unsafe extern "C" fn C_VerifyFinal(h: CK_SESSION_HANDLE, sig: *mut CK_BYTE, sl: CK_ULONG) -> CK_RV {
    op_call(h, OpKind::Sign(SignDir::Verify), |_, s| {
        // SAFETY: caller's buffer.
        let sig = unsafe { slice(sig, sl)? };
        s.verify(None, sig)
    })
}

/// No mechanism of ours verifies with recovery: the init refuses with the spec's code.
///
/// # Safety
/// `m` is null or a valid mechanism.
#[no_mangle]
pub unsafe extern "C" fn C_VerifyRecoverInit(
    h: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    _k: CK_OBJECT_HANDLE,
) -> CK_RV {
    guard(|| {
        session(h)?;
        // SAFETY: caller's mechanism.
        unsafe { mechanism(m)? };
        err(CKR_MECHANISM_INVALID)
    })
}

#[no_mangle]
pub extern "C" fn C_VerifyRecover(
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
