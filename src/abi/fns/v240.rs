//! The few entry points whose answer differs between PKCS#11 2.40 and 3.0, for the 2.40
//! function list (`C_GetFunctionList`, and `C_GetInterface` asked for version 2.40): a caller
//! that came through it is a 2.40 client and gets 2.40's codes and flags.
//!
//! - 3.0 lets `C_EncryptInit`, `C_DecryptInit`, `C_DigestInit`, `C_SignInit` and `C_VerifyInit`
//!   with a NULL mechanism cancel the active operation; in 2.40 a NULL mechanism is
//!   `CKR_ARGUMENTS_BAD`.
//! - `CKF_EC_CURVENAME` (curves named by their printable name) is a 3.0 mechanism flag: a 2.40
//!   client does not know it, and suites written for 2.40 reject unknown flags.

#![allow(non_snake_case)]

use super::*;
use crate::error::err;

/// Mechanism flags a 2.40 caller does not know.
const FLAGS_3_0: CK_FLAGS = CKF_EC_CURVENAME
    | CKF_MESSAGE_ENCRYPT
    | CKF_MESSAGE_DECRYPT
    | CKF_MESSAGE_SIGN
    | CKF_MESSAGE_VERIFY
    | CKF_MULTI_MESSAGE;

/// # Safety
/// `p` is the caller's out-parameter.
pub unsafe extern "C" fn C_GetMechanismInfo_v240(
    id: CK_SLOT_ID,
    ty: CK_MECHANISM_TYPE,
    p: *mut CK_MECHANISM_INFO,
) -> CK_RV {
    // SAFETY: forwarded contract.
    let rv = unsafe { C_GetMechanismInfo(id, ty, p) };
    if rv == CKR_OK {
        // SAFETY: the call above succeeded, so `p` is a valid, written CK_MECHANISM_INFO.
        unsafe { (*p).flags &= !FLAGS_3_0 };
    }
    rv
}

/// A NULL mechanism is an error in 2.40; the rest is the 3.0 entry point's.
fn null_mechanism(h: CK_SESSION_HANDLE) -> CK_RV {
    guard(|| {
        session(h)?;
        err(CKR_ARGUMENTS_BAD)
    })
}

macro_rules! init_v240 {
    ($name:ident, $v3:ident) => {
        /// # Safety
        /// As the 3.0 entry point.
        pub unsafe extern "C" fn $name(h: CK_SESSION_HANDLE, m: *mut CK_MECHANISM, k: CK_OBJECT_HANDLE) -> CK_RV {
            if m.is_null() {
                return null_mechanism(h);
            }
            // SAFETY: forwarded contract.
            unsafe { $v3(h, m, k) }
        }
    };
}

init_v240!(C_EncryptInit_v240, C_EncryptInit);
init_v240!(C_DecryptInit_v240, C_DecryptInit);
init_v240!(C_SignInit_v240, C_SignInit);
init_v240!(C_VerifyInit_v240, C_VerifyInit);

/// # Safety
/// As `C_DigestInit`.
pub unsafe extern "C" fn C_DigestInit_v240(h: CK_SESSION_HANDLE, m: *mut CK_MECHANISM) -> CK_RV {
    if m.is_null() {
        return null_mechanism(h);
    }
    // SAFETY: forwarded contract.
    unsafe { C_DigestInit(h, m) }
}
