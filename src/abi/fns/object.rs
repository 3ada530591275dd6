//! Object management: create, copy, destroy, size, attributes, search.

use crate::abi::marshal::{fill_attr, out, template};
use crate::abi::{guard, session};
use crate::error::err;
use crate::token::manage::{read_attr, AttrRead};
use cryptoki_sys::*;

/// # Safety
/// `t` has `n` attributes; `ph` is writable.
#[no_mangle]
pub unsafe extern "C" fn C_CreateObject(
    h: CK_SESSION_HANDLE,
    t: *mut CK_ATTRIBUTE,
    n: CK_ULONG,
    ph: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        // SAFETY: caller's template and out-parameter.
        let (t, ph) = unsafe { (template(t, n)?, out(ph)?) };
        *ph = l.create_object(&s, &t)?;
        Ok(())
    })
}

/// # Safety
/// `t` has `n` attributes; `ph` is writable.
#[no_mangle]
pub unsafe extern "C" fn C_CopyObject(
    h: CK_SESSION_HANDLE,
    o: CK_OBJECT_HANDLE,
    t: *mut CK_ATTRIBUTE,
    n: CK_ULONG,
    ph: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        // SAFETY: caller's template and out-parameter.
        let (t, ph) = unsafe { (template(t, n)?, out(ph)?) };
        *ph = l.copy_object(&s, o, &t)?;
        Ok(())
    })
}

#[no_mangle]
pub extern "C" fn C_DestroyObject(h: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        l.destroy_object(&s, o)
    })
}

/// # Safety
/// `p` is writable.
#[no_mangle]
pub unsafe extern "C" fn C_GetObjectSize(h: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE, p: *mut CK_ULONG) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        // SAFETY: caller's out-parameter.
        *unsafe { out(p)? } = l.object_size(&s, o)? as CK_ULONG;
        Ok(())
    })
}

/// # Safety
/// `t` has `n` attributes whose value buffers are writable.
#[no_mangle]
pub unsafe extern "C" fn C_GetAttributeValue(
    h: CK_SESSION_HANDLE,
    o: CK_OBJECT_HANDLE,
    t: *mut CK_ATTRIBUTE,
    n: CK_ULONG,
) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        let (obj, _) = l.object(&s, o)?;
        if t.is_null() {
            return if n == 0 { Ok(()) } else { err(CKR_ARGUMENTS_BAD) };
        }
        // SAFETY: the caller's array of `n` attributes.
        let attrs = unsafe { std::slice::from_raw_parts_mut(t, n as usize) };
        // Every attribute is processed; the call reports the first problem found.
        let mut rv = CKR_OK;
        for a in attrs.iter_mut() {
            let r = match read_attr(&obj, a.type_) {
                AttrRead::Value(v) => {
                    // SAFETY: the caller's value buffer for this attribute.
                    unsafe { fill_attr(a, &v) }
                }
                AttrRead::Sensitive => {
                    a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                    CKR_ATTRIBUTE_SENSITIVE
                }
                AttrRead::Invalid => {
                    a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                    CKR_ATTRIBUTE_TYPE_INVALID
                }
            };
            if rv == CKR_OK {
                rv = r;
            }
        }
        if rv == CKR_OK {
            Ok(())
        } else {
            err(rv)
        }
    })
}

/// # Safety
/// `t` has `n` attributes.
#[no_mangle]
pub unsafe extern "C" fn C_SetAttributeValue(
    h: CK_SESSION_HANDLE,
    o: CK_OBJECT_HANDLE,
    t: *mut CK_ATTRIBUTE,
    n: CK_ULONG,
) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        // SAFETY: caller's template.
        let t = unsafe { template(t, n)? };
        l.set_attributes(&s, o, &t)
    })
}

/// # Safety
/// `t` has `n` attributes.
#[no_mangle]
pub unsafe extern "C" fn C_FindObjectsInit(h: CK_SESSION_HANDLE, t: *mut CK_ATTRIBUTE, n: CK_ULONG) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        // SAFETY: caller's template.
        match unsafe { template(t, n) } {
            Ok(t) => l.find_init(&s, &t),
            // An attribute type we do not know: a search that matches nothing, not an error.
            Err(e) if e.rv() == CKR_ATTRIBUTE_TYPE_INVALID => l.find_init_matching_nothing(&s),
            Err(e) => Err(e),
        }
    })
}

/// # Safety
/// `p` has room for `max` handles; `count` is writable.
#[no_mangle]
pub unsafe extern "C" fn C_FindObjects(
    h: CK_SESSION_HANDLE,
    p: *mut CK_OBJECT_HANDLE,
    max: CK_ULONG,
    count: *mut CK_ULONG,
) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        // SAFETY: caller's out-parameter.
        let count = unsafe { out(count)? };
        if p.is_null() && max > 0 {
            return err(CKR_ARGUMENTS_BAD);
        }
        let found = l.find_next(&s, max as usize)?;
        if !found.is_empty() {
            // SAFETY: room for `max >= found.len()` handles.
            unsafe { std::ptr::copy_nonoverlapping(found.as_ptr(), p, found.len()) };
        }
        *count = found.len() as CK_ULONG;
        Ok(())
    })
}

#[no_mangle]
pub extern "C" fn C_FindObjectsFinal(h: CK_SESSION_HANDLE) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        l.find_final(&s)
    })
}
