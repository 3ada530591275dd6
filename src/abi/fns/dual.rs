//! Dual-function cryptographic updates: two active operations fed the same stream. The logic
//! (which operation must be active, when the second one sees the data) is the token layer's
//! (`Library::dual_update`); a shim marshals the input and hands over the two-call output.
//! Errors here end no operation by themselves, so these use [`guard`], not `super::op_call`.

use crate::abi::marshal::{slice, write_out};
use crate::abi::{guard, session};
use crate::token::ops::Dual;
use cryptoki_sys::*;

/// # Safety
/// Buffers as the spec defines them.
#[no_mangle]
pub unsafe extern "C" fn C_DigestEncryptUpdate(
    h: CK_SESSION_HANDLE,
    d: *mut CK_BYTE,
    l: CK_ULONG,
    o: *mut CK_BYTE,
    ol: *mut CK_ULONG,
) -> CK_RV {
    guard(|| {
        let (lib, s) = session(h)?;
        // This one reads its input before checking the digest is active (the other three after).
        // SAFETY: caller's buffers.
        let input = unsafe { slice(d, l)? };
        lib.dual_update(
            &s,
            Dual::DigestEncrypt,
            || Ok(input),
            // SAFETY: `o` and `ol` are the caller's output buffer and its length, as `write_out` requires.
            |f| unsafe { write_out(o, ol, f) },
        )
    })
}

/// # Safety
/// Buffers as the spec defines them.
#[no_mangle]
pub unsafe extern "C" fn C_DecryptDigestUpdate(
    h: CK_SESSION_HANDLE,
    d: *mut CK_BYTE,
    l: CK_ULONG,
    o: *mut CK_BYTE,
    ol: *mut CK_ULONG,
) -> CK_RV {
    // SAFETY: forwarded contract.
    unsafe { dual(h, Dual::DecryptDigest, d, l, o, ol) }
}

/// # Safety
/// Buffers as the spec defines them.
#[no_mangle]
pub unsafe extern "C" fn C_SignEncryptUpdate(
    h: CK_SESSION_HANDLE,
    d: *mut CK_BYTE,
    l: CK_ULONG,
    o: *mut CK_BYTE,
    ol: *mut CK_ULONG,
) -> CK_RV {
    // SAFETY: forwarded contract.
    unsafe { dual(h, Dual::SignEncrypt, d, l, o, ol) }
}

/// # Safety
/// Buffers as the spec defines them.
#[no_mangle]
pub unsafe extern "C" fn C_DecryptVerifyUpdate(
    h: CK_SESSION_HANDLE,
    d: *mut CK_BYTE,
    l: CK_ULONG,
    o: *mut CK_BYTE,
    ol: *mut CK_ULONG,
) -> CK_RV {
    // SAFETY: forwarded contract.
    unsafe { dual(h, Dual::DecryptVerify, d, l, o, ol) }
}

/// A dual-function update whose input is read once the second operation is known active.
///
/// # Safety
/// Buffers as the spec defines them.
unsafe fn dual(
    h: CK_SESSION_HANDLE,
    which: Dual,
    d: *mut CK_BYTE,
    l: CK_ULONG,
    o: *mut CK_BYTE,
    ol: *mut CK_ULONG,
) -> CK_RV {
    guard(|| {
        let (lib, s) = session(h)?;
        lib.dual_update(
            &s,
            which,
            // SAFETY: caller's buffers.
            || unsafe { slice(d, l) },
            // SAFETY: `o` and `ol` are the caller's output buffer and its length, as `write_out` requires.
            |f| unsafe { write_out(o, ol, f) },
        )
    })
}
