//! Key management: generate a key or a key pair, wrap, unwrap, derive.

use crate::abi::marshal::{mechanism, out, slice, template, write_out};
use crate::abi::{guard, session};
use cryptoki_sys::*;

/// # Safety
/// `m` a valid mechanism, `t` `n` attributes, `ph` writable.
#[no_mangle]
pub unsafe extern "C" fn C_GenerateKey(
    h: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    t: *mut CK_ATTRIBUTE,
    n: CK_ULONG,
    ph: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        // SAFETY: caller's mechanism, template and out-parameter.
        // Argument checks come before the mechanism's.
        let (ph, t, m) = unsafe { (out(ph)?, template(t, n)?, mechanism(m)?) };
        *ph = l.generate_key(&s, &m, &t)?;
        Ok(())
    })
}

/// # Safety
/// Pointers as the spec defines them.
#[no_mangle]
pub unsafe extern "C" fn C_GenerateKeyPair(
    h: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    pt: *mut CK_ATTRIBUTE,
    pn: CK_ULONG,
    st: *mut CK_ATTRIBUTE,
    sn: CK_ULONG,
    ph: *mut CK_OBJECT_HANDLE,
    sh: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        // SAFETY: caller's mechanism, templates and out-parameters.
        // Argument checks come before the mechanism's.
        let (ph, sh, pt, st, m) = unsafe { (out(ph)?, out(sh)?, template(pt, pn)?, template(st, sn)?, mechanism(m)?) };
        let (a, b) = l.generate_key_pair(&s, &m, &pt, &st)?;
        *ph = a;
        *sh = b;
        Ok(())
    })
}

/// # Safety
/// Pointers as the spec defines them.
#[no_mangle]
pub unsafe extern "C" fn C_WrapKey(
    h: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    wk: CK_OBJECT_HANDLE,
    k: CK_OBJECT_HANDLE,
    o: *mut CK_BYTE,
    ol: *mut CK_ULONG,
) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        // SAFETY: caller's mechanism and buffers.
        let m = unsafe { mechanism(m)? };
        // SAFETY: `o` and `ol` are the caller's output buffer and its length, as `write_out` requires.
        unsafe { write_out(o, ol, |out| l.wrap_key(&s, &m, wk, k, out)) }
    })
}

/// # Safety
/// Pointers as the spec defines them.
#[no_mangle]
pub unsafe extern "C" fn C_UnwrapKey(
    h: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    uk: CK_OBJECT_HANDLE,
    w: *mut CK_BYTE,
    wl: CK_ULONG,
    t: *mut CK_ATTRIBUTE,
    n: CK_ULONG,
    ph: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        // SAFETY: caller's mechanism, buffers, template and out-parameter.
        let (ph, w, t, m) = unsafe { (out(ph)?, slice(w, wl)?, template(t, n)?, mechanism(m)?) };
        *ph = l.unwrap_key(&s, &m, uk, w, &t)?;
        Ok(())
    })
}

/// # Safety
/// Pointers as the spec defines them.
#[no_mangle]
pub unsafe extern "C" fn C_DeriveKey(
    h: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    base: CK_OBJECT_HANDLE,
    t: *mut CK_ATTRIBUTE,
    n: CK_ULONG,
    ph: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        // SAFETY: caller's mechanism, template and out-parameter.
        // Argument checks come before the mechanism's.
        let (ph, t, m) = unsafe { (out(ph)?, template(t, n)?, mechanism(m)?) };
        *ph = l.derive_key(&s, &m, base, &t)?;
        Ok(())
    })
}
