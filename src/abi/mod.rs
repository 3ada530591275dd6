//! The C ABI: the only room with raw pointers from the caller (the other `unsafe` is aws-lc's C
//! API in `mech::ffi` and libc calls in `module::store`). It holds marshalling and shims only:
//! PKCS#11 policy (PIN flags, operation state, the dual-function updates) is the token layer's.
//!
//! - [`fns`]: the `C_*` entry points, one file per chapter of the function list (general,
//!   slot and token, session, object, encrypt, decrypt, digest, sign, verify, dual-function,
//!   key, random, the 3.0 message functions). Each is a thin shim that catches panics
//!   ([`guard`]), turns pointers into slices and typed values ([`marshal`]), calls a typed
//!   function of the token layer, and maps the result to a `CK_RV`.
//! - [`tables`]: the 2.40 and 3.0 function lists and `C_GetInterface`/`C_GetInterfaceList`.
//! - [`vendor`]: the "ShieldHSM" vendor calls, which reach `module` and `byok` directly.
//!
//! The top layer: nothing in the library names it but `fuzzing`.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod fns;
pub mod marshal;
pub mod tables;
pub mod vendor;

#[cfg(test)]
mod direct_tests;

use crate::error::{Error, Result};
use crate::token::session::Session;
use crate::token::Library;
use cryptoki_sys::*;
use parking_lot::RwLock;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once};

/// The library state between `C_Initialize` and `C_Finalize`.
static STATE: RwLock<Option<Arc<Library>>> = RwLock::new(None);
/// Set in a child after `fork()`: the parent's sessions and files are not the child's to use.
static FORKED: AtomicBool = AtomicBool::new(false);
static ATFORK: Once = Once::new();

/// Runs an entry point body: panics become `CKR_GENERAL_ERROR` instead of unwinding into C.
pub fn guard(f: impl FnOnce() -> Result<()>) -> CK_RV {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => CKR_OK,
        Ok(Err(e)) => e.rv(),
        Err(_) => CKR_GENERAL_ERROR,
    }
}

/// The initialized library, or `CKR_CRYPTOKI_NOT_INITIALIZED`.
pub fn lib() -> Result<Arc<Library>> {
    if FORKED.load(Ordering::Relaxed) {
        return Err(CKR_CRYPTOKI_NOT_INITIALIZED.into());
    }
    STATE.read().clone().ok_or(CKR_CRYPTOKI_NOT_INITIALIZED.into())
}

/// The library and a session of it.
pub fn session(h: CK_SESSION_HANDLE) -> Result<(Arc<Library>, Arc<Session>)> {
    let l = lib()?;
    let s = l.session(h)?;
    Ok((l, s))
}

extern "C" fn before_fork() {
    // Hold the state lock across fork so the child never inherits it mid-update.
    std::mem::forget(STATE.write());
}
extern "C" fn after_fork_parent() {
    // SAFETY: paired with the write lock taken and forgotten in `before_fork`.
    unsafe { STATE.force_unlock_write() };
}
extern "C" fn after_fork_child() {
    FORKED.store(true, Ordering::Relaxed);
    // SAFETY: as in the parent; the child has the same (locked) copy of the lock.
    unsafe { STATE.force_unlock_write() };
}

pub fn initialize() -> Result<()> {
    ATFORK.call_once(|| {
        // SAFETY: registering plain extern "C" functions with no captured state.
        unsafe { libc::pthread_atfork(Some(before_fork), Some(after_fork_parent), Some(after_fork_child)) };
    });
    let mut st = STATE.write();
    if FORKED.swap(false, Ordering::Relaxed) {
        // The parent's state belongs to the parent: leak our copy rather than close its
        // sessions or unlock its files.
        std::mem::forget(st.take());
    }
    if st.is_some() {
        return Err(CKR_CRYPTOKI_ALREADY_INITIALIZED.into());
    }
    *st = Some(Arc::new(Library::open_default()?));
    Ok(())
}

pub fn finalize() -> Result<()> {
    if FORKED.load(Ordering::Relaxed) {
        return Err(CKR_CRYPTOKI_NOT_INITIALIZED.into());
    }
    let old = STATE.write().take().ok_or(Error::new(CKR_CRYPTOKI_NOT_INITIALIZED))?;
    for s in old.sessions_all() {
        let _ = old.close_session(s);
    }
    Ok(())
}
