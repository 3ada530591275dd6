//! General-purpose functions: initialize, finalize, library information and the
//! 2.40 function list. The 3.0 interfaces (`C_GetInterfaceList`, `C_GetInterface`) are with the
//! tables they hand out, in [`crate::abi::tables`].

use crate::abi::marshal::{out, pad};
use crate::abi::{guard, lib};
use crate::error::{err, Result};
use crate::token::MANUFACTURER;
use cryptoki_sys::*;
use std::ffi::c_void;

pub const LIBRARY_VERSION: CK_VERSION = CK_VERSION { major: 0, minor: 1 };

/// # Safety
/// `args` is null or points to a `CK_C_INITIALIZE_ARGS`.
#[no_mangle]
pub unsafe extern "C" fn C_Initialize(args: *mut c_void) -> CK_RV {
    guard(|| {
        // SAFETY: null or a CK_C_INITIALIZE_ARGS, per the spec.
        if let Some(a) = unsafe { (args as *const CK_C_INITIALIZE_ARGS).as_ref() } {
            if !a.pReserved.is_null() {
                return err(CKR_ARGUMENTS_BAD);
            }
            let fns =
                [a.CreateMutex.is_some(), a.DestroyMutex.is_some(), a.LockMutex.is_some(), a.UnlockMutex.is_some()];
            if fns.iter().any(|f| *f) && !fns.iter().all(|f| *f) {
                return err(CKR_ARGUMENTS_BAD);
            }
            // Callbacks without CKF_OS_LOCKING_OK: we check the caller's mutexes work, then lock
            // with the OS primitives (always available on this platform, never weaker).
            if fns[0] && a.flags & CKF_OS_LOCKING_OK == 0 {
                // SAFETY: calling the caller's own mutex callbacks as the spec defines them.
                unsafe { check_callbacks(a)? };
            }
        }
        crate::abi::initialize()
    })
}

unsafe fn check_callbacks(a: &CK_C_INITIALIZE_ARGS) -> Result<()> {
    let (Some(create), Some(destroy), Some(lock), Some(unlock)) =
        (a.CreateMutex, a.DestroyMutex, a.LockMutex, a.UnlockMutex)
    else {
        return err(CKR_ARGUMENTS_BAD);
    };
    let mut m: *mut c_void = std::ptr::null_mut();
    // SAFETY: the spec's mutex callback contract.
    unsafe {
        if create(&mut m) != CKR_OK || lock(m) != CKR_OK || unlock(m) != CKR_OK || destroy(m) != CKR_OK {
            return err(CKR_CANT_LOCK);
        }
    }
    Ok(())
}

/// # Safety
/// `reserved` must be null.
#[no_mangle]
pub unsafe extern "C" fn C_Finalize(reserved: *mut c_void) -> CK_RV {
    guard(|| {
        if !reserved.is_null() {
            return err(CKR_ARGUMENTS_BAD);
        }
        crate::abi::finalize()
    })
}

fn info(version: CK_VERSION) -> CK_INFO {
    CK_INFO {
        cryptokiVersion: version,
        manufacturerID: pad(MANUFACTURER),
        flags: 0,
        libraryDescription: pad("shieldhsm PKCS#11 (emulated HSM)"),
        libraryVersion: LIBRARY_VERSION,
    }
}

/// # Safety
/// `p` points to a writable `CK_INFO`.
#[no_mangle]
pub unsafe extern "C" fn C_GetInfo(p: *mut CK_INFO) -> CK_RV {
    guard(|| {
        lib()?;
        // SAFETY: caller's out-parameter.
        *unsafe { out(p)? } = info(CK_VERSION { major: 2, minor: 40 });
        Ok(())
    })
}

/// `C_GetInfo` of the 3.0 interface: reports the version that interface implements.
///
/// # Safety
/// As [`C_GetInfo`].
pub unsafe extern "C" fn C_GetInfo_v3(p: *mut CK_INFO) -> CK_RV {
    guard(|| {
        lib()?;
        // SAFETY: caller's out-parameter.
        *unsafe { out(p)? } = info(CK_VERSION { major: 3, minor: 0 });
        Ok(())
    })
}

/// # Safety
/// `pp` points to a writable pointer.
#[no_mangle]
pub unsafe extern "C" fn C_GetFunctionList(pp: *mut *mut CK_FUNCTION_LIST) -> CK_RV {
    guard(|| {
        // SAFETY: caller's out-parameter.
        *unsafe { out(pp)? } = crate::abi::tables::function_list_240();
        Ok(())
    })
}
