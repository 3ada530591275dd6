//! Random number generation: the engine's DRBG takes no seed.

use crate::abi::marshal::{slice, slice_mut};
use crate::abi::{guard, session};
use crate::error::err;
use cryptoki_sys::*;

/// # Safety
/// `p` has `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn C_SeedRandom(h: CK_SESSION_HANDLE, p: *mut CK_BYTE, len: CK_ULONG) -> CK_RV {
    guard(|| {
        session(h)?;
        // SAFETY: caller's buffer (validated, then refused: the engine's DRBG takes no seed).
        unsafe { slice(p, len)? };
        err(CKR_RANDOM_SEED_NOT_SUPPORTED)
    })
}

/// # Safety
/// `p` has room for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn C_GenerateRandom(h: CK_SESSION_HANDLE, p: *mut CK_BYTE, len: CK_ULONG) -> CK_RV {
    guard(|| {
        let (l, _) = session(h)?;
        if len == 0 {
            return Ok(());
        }
        // SAFETY: caller's buffer.
        let buf = unsafe { slice_mut(p, len)? };
        l.generate_random(buf)
    })
}
