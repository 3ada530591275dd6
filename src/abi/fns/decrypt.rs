//! Decryption: init, single-part, update, final. The shims are shared with
//! encrypt (`super::cipher_*`); `super::op_call` ends the operation on an error.

use super::{cipher_final, cipher_init, cipher_one, cipher_update};
use crate::token::crypto::CipherDir;
use cryptoki_sys::*;

/// # Safety
/// `m` is null or a valid mechanism.
#[no_mangle]
pub unsafe extern "C" fn C_DecryptInit(h: CK_SESSION_HANDLE, m: *mut CK_MECHANISM, k: CK_OBJECT_HANDLE) -> CK_RV {
    // SAFETY: forwarded contract.
    unsafe { cipher_init(h, CipherDir::Decrypt, m, k) }
}

/// # Safety
/// Buffers as the spec defines them.
#[no_mangle]
pub unsafe extern "C" fn C_Decrypt(
    h: CK_SESSION_HANDLE,
    d: *mut CK_BYTE,
    l: CK_ULONG,
    o: *mut CK_BYTE,
    ol: *mut CK_ULONG,
) -> CK_RV {
    // SAFETY: forwarded contract.
    unsafe { cipher_one(h, CipherDir::Decrypt, d, l, o, ol) }
}

/// # Safety
/// Buffers as the spec defines them.
#[no_mangle]
pub unsafe extern "C" fn C_DecryptUpdate(
    h: CK_SESSION_HANDLE,
    d: *mut CK_BYTE,
    l: CK_ULONG,
    o: *mut CK_BYTE,
    ol: *mut CK_ULONG,
) -> CK_RV {
    // SAFETY: forwarded contract.
    unsafe { cipher_update(h, CipherDir::Decrypt, d, l, o, ol) }
}

/// # Safety
/// Buffers as the spec defines them.
#[no_mangle]
pub unsafe extern "C" fn C_DecryptFinal(h: CK_SESSION_HANDLE, o: *mut CK_BYTE, ol: *mut CK_ULONG) -> CK_RV {
    // SAFETY: forwarded contract.
    unsafe { cipher_final(h, CipherDir::Decrypt, o, ol) }
}
