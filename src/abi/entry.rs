//! The `extern "C"` entry points. Each one: catch panics, marshal, call the token layer.
//! Signatures follow cryptoki-sys; the function tables in [`super::tables`] point here.

#![allow(non_snake_case)]

use super::marshal::{fill_attr, mechanism, out, pad, slice, slice_mut, template, unpad, write_list, write_out};
use super::{guard, lib, session};
use crate::error::{err, Result};
use crate::mech::registry;
use crate::module::softcard::{self, Who};
use crate::token::crypto::{CipherDir, OpKind, Out, Outcome, SignDir};
use crate::token::manage::{read_attr, AttrRead};
use crate::token::session::Session;
use crate::token::Library;
use crate::token::{SlotKind, MANUFACTURER};
use cryptoki_sys::*;
use std::ffi::c_void;

pub const LIBRARY_VERSION: CK_VERSION = CK_VERSION { major: 0, minor: 1 };
const HW_VERSION: CK_VERSION = CK_VERSION { major: 12, minor: 72 };

// ---- general ----

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
        super::initialize()
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
        super::finalize()
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
        *unsafe { out(pp)? } = super::tables::function_list_240();
        Ok(())
    })
}

// ---- slots and tokens ----

/// # Safety
/// `list` is null or has `*count` entries; `count` is writable.
#[no_mangle]
pub unsafe extern "C" fn C_GetSlotList(_present: CK_BBOOL, list: *mut CK_SLOT_ID, count: *mut CK_ULONG) -> CK_RV {
    guard(|| {
        let ids = lib()?.slot_ids()?;
        // SAFETY: caller's buffers.
        unsafe { write_list(list, count, &ids) }
    })
}

/// # Safety
/// `p` points to a writable `CK_SLOT_INFO`.
#[no_mangle]
pub unsafe extern "C" fn C_GetSlotInfo(id: CK_SLOT_ID, p: *mut CK_SLOT_INFO) -> CK_RV {
    guard(|| {
        let l = lib()?;
        let slot = l.slot(id)?;
        let desc = match slot.kind {
            SlotKind::Module => "nShield emulated module #1".to_string(),
            SlotKind::Card { .. } => format!("nShield emulated softcard slot {id}"),
            SlotKind::Empty => "nShield emulated free token slot".to_string(),
        };
        // SAFETY: caller's out-parameter.
        *unsafe { out(p)? } = CK_SLOT_INFO {
            slotDescription: pad(&desc),
            manufacturerID: pad(MANUFACTURER),
            flags: CKF_TOKEN_PRESENT,
            hardwareVersion: HW_VERSION,
            firmwareVersion: HW_VERSION,
        };
        Ok(())
    })
}

/// # Safety
/// `p` points to a writable `CK_TOKEN_INFO`.
#[no_mangle]
pub unsafe extern "C" fn C_GetTokenInfo(id: CK_SLOT_ID, p: *mut CK_TOKEN_INFO) -> CK_RV {
    guard(|| {
        let l = lib()?;
        let slot = l.slot(id)?;
        let sessions = l.sessions_on(id);
        let rw = sessions.iter().filter(|s| s.rw).count();
        let mut flags = CKF_RNG;
        let (label, serial) = match &slot.kind {
            SlotKind::Module => {
                flags |= CKF_TOKEN_INITIALIZED;
                if l.config.fake_accelerator_login {
                    flags |= CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED;
                }
                match l.world() {
                    Some(w) => (String::from("loadshared accelerator"), w.esn.replace('-', "")),
                    None => {
                        flags |= CKF_WRITE_PROTECTED;
                        (String::from("loadshared accelerator"), String::from("no-world"))
                    }
                }
            }
            SlotKind::Empty => (String::new(), String::new()),
            SlotKind::Card { .. } => {
                let c = l.card(&slot)?.ok_or(CKR_TOKEN_NOT_PRESENT)?;
                flags |= CKF_TOKEN_INITIALIZED | CKF_LOGIN_REQUIRED;
                if c.user.is_some() {
                    flags |= CKF_USER_PIN_INITIALIZED;
                }
                flags |= pin_flags(
                    c.failures(Who::User),
                    c.max_tries,
                    CKF_USER_PIN_COUNT_LOW,
                    CKF_USER_PIN_FINAL_TRY,
                    CKF_USER_PIN_LOCKED,
                );
                flags |= pin_flags(
                    c.failures(Who::So),
                    c.max_tries,
                    CKF_SO_PIN_COUNT_LOW,
                    CKF_SO_PIN_FINAL_TRY,
                    CKF_SO_PIN_LOCKED,
                );
                (c.name.clone(), c.serial.clone())
            }
        };
        // SAFETY: caller's out-parameter.
        *unsafe { out(p)? } = CK_TOKEN_INFO {
            label: pad(&label),
            manufacturerID: pad(MANUFACTURER),
            model: pad("nShield-Emulator"),
            serialNumber: pad(&serial),
            flags,
            ulMaxSessionCount: CK_EFFECTIVELY_INFINITE,
            ulSessionCount: sessions.len() as CK_ULONG,
            ulMaxRwSessionCount: CK_EFFECTIVELY_INFINITE,
            ulRwSessionCount: rw as CK_ULONG,
            ulMaxPinLen: softcard::MAX_PIN as CK_ULONG,
            ulMinPinLen: softcard::MIN_PIN as CK_ULONG,
            ulTotalPublicMemory: CK_UNAVAILABLE_INFORMATION,
            ulFreePublicMemory: CK_UNAVAILABLE_INFORMATION,
            ulTotalPrivateMemory: CK_UNAVAILABLE_INFORMATION,
            ulFreePrivateMemory: CK_UNAVAILABLE_INFORMATION,
            hardwareVersion: HW_VERSION,
            firmwareVersion: HW_VERSION,
            utcTime: [b' '; 16],
        };
        Ok(())
    })
}

fn pin_flags(failures: u32, max: u32, low: CK_FLAGS, last: CK_FLAGS, locked: CK_FLAGS) -> CK_FLAGS {
    if failures >= max {
        locked
    } else if failures + 1 == max {
        last | low
    } else if failures > 0 {
        low
    } else {
        0
    }
}

/// # Safety
/// `list` is null or has `*count` entries; `count` is writable.
#[no_mangle]
pub unsafe extern "C" fn C_GetMechanismList(
    id: CK_SLOT_ID,
    list: *mut CK_MECHANISM_TYPE,
    count: *mut CK_ULONG,
) -> CK_RV {
    guard(|| {
        lib()?.slot(id)?;
        let all: Vec<CK_MECHANISM_TYPE> = registry::ALL.iter().map(|e| e.ty).collect();
        // SAFETY: caller's buffers.
        unsafe { write_list(list, count, &all) }
    })
}

/// # Safety
/// `p` points to a writable `CK_MECHANISM_INFO`.
#[no_mangle]
pub unsafe extern "C" fn C_GetMechanismInfo(id: CK_SLOT_ID, ty: CK_MECHANISM_TYPE, p: *mut CK_MECHANISM_INFO) -> CK_RV {
    guard(|| {
        lib()?.slot(id)?;
        let e = registry::lookup(ty).ok_or(CKR_MECHANISM_INVALID)?;
        // SAFETY: caller's out-parameter.
        *unsafe { out(p)? } = e.info();
        Ok(())
    })
}

/// # Safety
/// `pin` has `len` bytes; `label` points to 32 bytes.
#[no_mangle]
pub unsafe extern "C" fn C_InitToken(
    id: CK_SLOT_ID,
    pin: *mut CK_UTF8CHAR,
    len: CK_ULONG,
    label: *mut CK_UTF8CHAR,
) -> CK_RV {
    guard(|| {
        let l = lib()?;
        // SAFETY: caller's buffers (label is a 32-byte blank-padded field).
        let (pin, label) = unsafe { (slice(pin, len)?, slice(label, 32)?) };
        if label.is_empty() || pin.is_empty() {
            return err(CKR_ARGUMENTS_BAD);
        }
        l.init_token(id, pin, &unpad(label))
    })
}

/// # Safety
/// `pin` has `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn C_InitPIN(h: CK_SESSION_HANDLE, pin: *mut CK_UTF8CHAR, len: CK_ULONG) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        // SAFETY: caller's buffer.
        let pin = unsafe { slice(pin, len)? };
        l.init_pin(&s, pin)
    })
}

/// # Safety
/// `old`/`new` have `old_len`/`new_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn C_SetPIN(
    h: CK_SESSION_HANDLE,
    old: *mut CK_UTF8CHAR,
    old_len: CK_ULONG,
    new: *mut CK_UTF8CHAR,
    new_len: CK_ULONG,
) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        // SAFETY: caller's buffers.
        let (old, new) = unsafe { (slice(old, old_len)?, slice(new, new_len)?) };
        l.set_pin(&s, old, new)
    })
}

// ---- sessions ----

/// # Safety
/// `ph` points to a writable handle.
#[no_mangle]
pub unsafe extern "C" fn C_OpenSession(
    id: CK_SLOT_ID,
    flags: CK_FLAGS,
    _app: *mut c_void,
    _notify: CK_NOTIFY,
    ph: *mut CK_SESSION_HANDLE,
) -> CK_RV {
    guard(|| {
        // SAFETY: caller's out-parameter.
        let ph = unsafe { out(ph)? };
        *ph = lib()?.open_session(id, flags)?;
        Ok(())
    })
}

#[no_mangle]
pub extern "C" fn C_CloseSession(h: CK_SESSION_HANDLE) -> CK_RV {
    guard(|| lib()?.close_session(h))
}

#[no_mangle]
pub extern "C" fn C_CloseAllSessions(id: CK_SLOT_ID) -> CK_RV {
    guard(|| lib()?.close_all_sessions(id))
}

/// # Safety
/// `p` points to a writable `CK_SESSION_INFO`.
#[no_mangle]
pub unsafe extern "C" fn C_GetSessionInfo(h: CK_SESSION_HANDLE, p: *mut CK_SESSION_INFO) -> CK_RV {
    guard(|| {
        let (_, s) = session(h)?;
        // SAFETY: caller's out-parameter.
        *unsafe { out(p)? } = CK_SESSION_INFO {
            slotID: s.slot.id,
            state: s.state(),
            flags: CKF_SERIAL_SESSION | if s.rw { CKF_RW_SESSION } else { 0 },
            ulDeviceError: 0,
        };
        Ok(())
    })
}

#[no_mangle]
pub extern "C" fn C_GetOperationState(h: CK_SESSION_HANDLE, _p: *mut CK_BYTE, _l: *mut CK_ULONG) -> CK_RV {
    guard(|| {
        session(h)?;
        err(CKR_FUNCTION_NOT_SUPPORTED)
    })
}

#[no_mangle]
pub extern "C" fn C_SetOperationState(
    h: CK_SESSION_HANDLE,
    _p: *mut CK_BYTE,
    _l: CK_ULONG,
    _e: CK_OBJECT_HANDLE,
    _a: CK_OBJECT_HANDLE,
) -> CK_RV {
    guard(|| {
        session(h)?;
        err(CKR_FUNCTION_NOT_SUPPORTED)
    })
}

/// # Safety
/// `pin` has `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn C_Login(
    h: CK_SESSION_HANDLE,
    user: CK_USER_TYPE,
    pin: *mut CK_UTF8CHAR,
    len: CK_ULONG,
) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        // SAFETY: caller's buffer.
        let pin = unsafe { slice(pin, len)? };
        l.login(&s, user, pin)
    })
}

/// # Safety
/// As [`C_Login`]; `name` has `name_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn C_LoginUser(
    h: CK_SESSION_HANDLE,
    user: CK_USER_TYPE,
    pin: *mut CK_UTF8CHAR,
    len: CK_ULONG,
    name: *mut CK_UTF8CHAR,
    name_len: CK_ULONG,
) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        // SAFETY: caller's buffers. Our tokens have one user each, so the name is not used.
        let (pin, _name) = unsafe { (slice(pin, len)?, slice(name, name_len)?) };
        l.login(&s, user, pin)
    })
}

#[no_mangle]
pub extern "C" fn C_Logout(h: CK_SESSION_HANDLE) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        l.logout(&s)
    })
}

#[no_mangle]
pub extern "C" fn C_SessionCancel(h: CK_SESSION_HANDLE, flags: CK_FLAGS) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        if flags & CKF_ENCRYPT != 0 {
            l.cipher_cancel(&s, CipherDir::Encrypt);
        }
        if flags & CKF_DECRYPT != 0 {
            l.cipher_cancel(&s, CipherDir::Decrypt);
        }
        if flags & CKF_DIGEST != 0 {
            l.digest_cancel(&s);
        }
        if flags & CKF_SIGN != 0 {
            l.sign_cancel(&s, SignDir::Sign);
        }
        if flags & CKF_VERIFY != 0 {
            l.sign_cancel(&s, SignDir::Verify);
        }
        if flags & CKF_FIND_OBJECTS != 0 {
            let _ = l.find_final(&s);
        }
        Ok(())
    })
}

// ---- objects ----

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
        // A template naming an attribute we do not know matches nothing (it is not an error).
        // SAFETY: caller's template.
        let t = match unsafe { template(t, n) } {
            Ok(t) => Some(t),
            Err(e) if e.rv() == CKR_ATTRIBUTE_TYPE_INVALID => None,
            Err(e) => return Err(e),
        };
        match t {
            Some(t) => l.find_init(&s, &t),
            None => {
                let mut never = crate::object::attr::AttrMap::new();
                never.set(CKA_CLASS, crate::object::attr::Attr::Ulong(CK_UNAVAILABLE_INFORMATION));
                l.find_init(&s, &never)
            }
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

// ---- encrypt / decrypt ----

unsafe fn cipher_init(h: CK_SESSION_HANDLE, d: CipherDir, m: *mut CK_MECHANISM, key: CK_OBJECT_HANDLE) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        if m.is_null() {
            // PKCS#11 3.0: a NULL mechanism cancels the active operation.
            l.cipher_cancel(&s, d);
            return Ok(());
        }
        // SAFETY: caller's mechanism.
        let m = unsafe { mechanism(m)? };
        l.cipher_init(&s, d, &m, key)
    })
}

/// A call of an active operation. PKCS#11 ends the operation on any error but
/// `CKR_BUFFER_TOO_SMALL` (argument errors such as a NULL length pointer included); with no
/// operation active there is nothing to end.
fn op_call(h: CK_SESSION_HANDLE, kind: OpKind, f: impl FnOnce(&Library, &Session) -> Result<()>) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        let r = f(&l, &s);
        if let Err(e) = &r {
            if !matches!(e.rv(), CKR_BUFFER_TOO_SMALL | CKR_OPERATION_NOT_INITIALIZED) {
                l.cancel_op(&s, kind);
            }
        }
        r
    })
}

unsafe fn cipher_one(
    h: CK_SESSION_HANDLE,
    d: CipherDir,
    data: *mut CK_BYTE,
    len: CK_ULONG,
    o: *mut CK_BYTE,
    ol: *mut CK_ULONG,
) -> CK_RV {
    op_call(h, OpKind::Cipher(d), |l, s| {
        // SAFETY: caller's buffers.
        let input = unsafe { slice(data, len)? };
        // SAFETY: `o` and `ol` are the caller's output buffer and its length, as `write_out` requires.
        unsafe { write_out(o, ol, |out| l.cipher(s, d, input, out)) }
    })
}

unsafe fn cipher_update(
    h: CK_SESSION_HANDLE,
    d: CipherDir,
    data: *mut CK_BYTE,
    len: CK_ULONG,
    o: *mut CK_BYTE,
    ol: *mut CK_ULONG,
) -> CK_RV {
    op_call(h, OpKind::Cipher(d), |l, s| {
        // SAFETY: caller's buffers.
        let input = unsafe { slice(data, len)? };
        // SAFETY: `o` and `ol` are the caller's output buffer and its length, as `write_out` requires.
        unsafe { write_out(o, ol, |out| l.cipher_update(s, d, input, out)) }
    })
}

unsafe fn cipher_final(h: CK_SESSION_HANDLE, d: CipherDir, o: *mut CK_BYTE, ol: *mut CK_ULONG) -> CK_RV {
    op_call(h, OpKind::Cipher(d), |l, s| {
        // SAFETY: caller's buffers.
        unsafe { write_out(o, ol, |out| l.cipher_final(s, d, out)) }
    })
}

/// # Safety
/// `m` is null or a valid mechanism.
#[no_mangle]
pub unsafe extern "C" fn C_EncryptInit(h: CK_SESSION_HANDLE, m: *mut CK_MECHANISM, k: CK_OBJECT_HANDLE) -> CK_RV {
    // SAFETY: forwarded contract.
    unsafe { cipher_init(h, CipherDir::Encrypt, m, k) }
}
/// # Safety
/// Buffers as the spec defines them.
#[no_mangle]
pub unsafe extern "C" fn C_Encrypt(
    h: CK_SESSION_HANDLE,
    d: *mut CK_BYTE,
    l: CK_ULONG,
    o: *mut CK_BYTE,
    ol: *mut CK_ULONG,
) -> CK_RV {
    // SAFETY: forwarded contract.
    unsafe { cipher_one(h, CipherDir::Encrypt, d, l, o, ol) }
}
/// # Safety
/// Buffers as the spec defines them.
#[no_mangle]
pub unsafe extern "C" fn C_EncryptUpdate(
    h: CK_SESSION_HANDLE,
    d: *mut CK_BYTE,
    l: CK_ULONG,
    o: *mut CK_BYTE,
    ol: *mut CK_ULONG,
) -> CK_RV {
    // SAFETY: forwarded contract.
    unsafe { cipher_update(h, CipherDir::Encrypt, d, l, o, ol) }
}
/// # Safety
/// Buffers as the spec defines them.
#[no_mangle]
pub unsafe extern "C" fn C_EncryptFinal(h: CK_SESSION_HANDLE, o: *mut CK_BYTE, ol: *mut CK_ULONG) -> CK_RV {
    // SAFETY: forwarded contract.
    unsafe { cipher_final(h, CipherDir::Encrypt, o, ol) }
}
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

// ---- digest ----

/// # Safety
/// `m` is null or a valid mechanism.
#[no_mangle]
pub unsafe extern "C" fn C_DigestInit(h: CK_SESSION_HANDLE, m: *mut CK_MECHANISM) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        if m.is_null() {
            l.digest_cancel(&s);
            return Ok(());
        }
        // SAFETY: caller's mechanism.
        let m = unsafe { mechanism(m)? };
        l.digest_init(&s, &m)
    })
}
/// # Safety
/// Buffers as the spec defines them.
#[no_mangle]
pub unsafe extern "C" fn C_Digest(
    h: CK_SESSION_HANDLE,
    d: *mut CK_BYTE,
    len: CK_ULONG,
    o: *mut CK_BYTE,
    ol: *mut CK_ULONG,
) -> CK_RV {
    op_call(h, OpKind::Digest, |l, s| {
        // SAFETY: caller's buffers.
        let input = unsafe { slice(d, len)? };
        // SAFETY: `o` and `ol` are the caller's output buffer and its length, as `write_out` requires.
        unsafe { write_out(o, ol, |out| l.digest(s, input, out)) }
    })
}
/// # Safety
/// Buffers as the spec defines them.
#[no_mangle]
pub unsafe extern "C" fn C_DigestUpdate(h: CK_SESSION_HANDLE, d: *mut CK_BYTE, len: CK_ULONG) -> CK_RV {
    op_call(h, OpKind::Digest, |l, s| {
        // SAFETY: caller's buffer.
        let input = unsafe { slice(d, len)? };
        l.digest_update(s, input)
    })
}
#[no_mangle]
pub extern "C" fn C_DigestKey(h: CK_SESSION_HANDLE, k: CK_OBJECT_HANDLE) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        l.digest_key(&s, k)
    })
}
/// # Safety
/// Buffers as the spec defines them.
#[no_mangle]
pub unsafe extern "C" fn C_DigestFinal(h: CK_SESSION_HANDLE, o: *mut CK_BYTE, ol: *mut CK_ULONG) -> CK_RV {
    op_call(h, OpKind::Digest, |l, s| {
        // SAFETY: caller's buffers.
        unsafe { write_out(o, ol, |out| l.digest_final(s, out)) }
    })
}

// ---- sign / verify ----

unsafe fn sign_init(h: CK_SESSION_HANDLE, d: SignDir, m: *mut CK_MECHANISM, k: CK_OBJECT_HANDLE) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        if m.is_null() {
            l.sign_cancel(&s, d);
            return Ok(());
        }
        // SAFETY: caller's mechanism.
        let m = unsafe { mechanism(m)? };
        l.sign_init(&s, d, &m, k)
    })
}

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
    op_call(h, OpKind::Sign(SignDir::Sign), |l, s| {
        // SAFETY: caller's buffers.
        let input = unsafe { slice(d, len)? };
        // SAFETY: `o` and `ol` are the caller's output buffer and its length, as `write_out` requires.
        unsafe { write_out(o, ol, |out| l.sign(s, Some(input), out)) }
    })
}
/// # Safety
/// Buffers as the spec defines them.
#[no_mangle]
pub unsafe extern "C" fn C_SignUpdate(h: CK_SESSION_HANDLE, d: *mut CK_BYTE, len: CK_ULONG) -> CK_RV {
    op_call(h, OpKind::Sign(SignDir::Sign), |l, s| {
        // SAFETY: caller's buffer.
        let input = unsafe { slice(d, len)? };
        l.sign_update(s, SignDir::Sign, input)
    })
}
/// # Safety
/// Buffers as the spec defines them.
#[no_mangle]
pub unsafe extern "C" fn C_SignFinal(h: CK_SESSION_HANDLE, o: *mut CK_BYTE, ol: *mut CK_ULONG) -> CK_RV {
    op_call(h, OpKind::Sign(SignDir::Sign), |l, s| {
        // SAFETY: caller's buffers.
        unsafe { write_out(o, ol, |out| l.sign(s, None, out)) }
    })
}
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
    op_call(h, OpKind::Sign(SignDir::Verify), |l, s| {
        // SAFETY: caller's buffers.
        let (input, sig) = unsafe { (slice(d, len)?, slice(sig, sl)?) };
        l.verify(s, Some(input), sig)
    })
}
/// # Safety
/// Buffers as the spec defines them.
#[no_mangle]
pub unsafe extern "C" fn C_VerifyUpdate(h: CK_SESSION_HANDLE, d: *mut CK_BYTE, len: CK_ULONG) -> CK_RV {
    op_call(h, OpKind::Sign(SignDir::Verify), |l, s| {
        // SAFETY: caller's buffer.
        let input = unsafe { slice(d, len)? };
        l.sign_update(s, SignDir::Verify, input)
    })
}
/// # Safety
/// Buffers as the spec defines them.
#[no_mangle]
pub unsafe extern "C" fn C_VerifyFinal(h: CK_SESSION_HANDLE, sig: *mut CK_BYTE, sl: CK_ULONG) -> CK_RV {
    op_call(h, OpKind::Sign(SignDir::Verify), |l, s| {
        // SAFETY: caller's buffer.
        let sig = unsafe { slice(sig, sl)? };
        l.verify(s, None, sig)
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

// ---- dual-function updates: two active operations fed the same stream ----

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
        // SAFETY: caller's buffers.
        let input = unsafe { slice(d, l)? };
        if s.ops.lock().digest.is_none() {
            return err(CKR_OPERATION_NOT_INITIALIZED);
        }
        let mut done = false;
        // SAFETY: `o` and `ol` are the caller's output buffer and its length, as `write_out` requires.
        let r = unsafe {
            write_out(o, ol, |out| {
                let r = lib.cipher_update(&s, CipherDir::Encrypt, input, out)?;
                done = matches!(r, Outcome::Written(_));
                Ok(r)
            })
        };
        if done {
            lib.digest_update(&s, input)?;
        }
        r
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
    guard(|| {
        let (lib, s) = session(h)?;
        if s.ops.lock().digest.is_none() {
            return err(CKR_OPERATION_NOT_INITIALIZED);
        }
        // SAFETY: caller's buffers.
        let input = unsafe { slice(d, l)? };
        // SAFETY: `o` and `ol` are the caller's output buffer and its length, as `write_out` requires.
        unsafe {
            write_out(o, ol, |out| decrypt_then(&lib, &s, input, out, |lib, s, plain| lib.digest_update(s, plain)))
        }
    })
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
    guard(|| {
        let (lib, s) = session(h)?;
        if s.ops.lock().sign.is_none() {
            return err(CKR_OPERATION_NOT_INITIALIZED);
        }
        // SAFETY: caller's buffers.
        let input = unsafe { slice(d, l)? };
        let mut done = false;
        // SAFETY: `o` and `ol` are the caller's output buffer and its length, as `write_out` requires.
        let r = unsafe {
            write_out(o, ol, |out| {
                let r = lib.cipher_update(&s, CipherDir::Encrypt, input, out)?;
                done = matches!(r, Outcome::Written(_));
                Ok(r)
            })
        };
        if done {
            lib.sign_update(&s, SignDir::Sign, input)?;
        }
        r
    })
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
    guard(|| {
        let (lib, s) = session(h)?;
        if s.ops.lock().verify.is_none() {
            return err(CKR_OPERATION_NOT_INITIALIZED);
        }
        // SAFETY: caller's buffers.
        let input = unsafe { slice(d, l)? };
        // SAFETY: `o` and `ol` are the caller's output buffer and its length, as `write_out` requires.
        unsafe {
            write_out(o, ol, |out| {
                decrypt_then(&lib, &s, input, out, |lib, s, plain| lib.sign_update(s, SignDir::Verify, plain))
            })
        }
    })
}

/// Decrypt-update, then feed the produced plaintext to a second operation.
fn decrypt_then(
    lib: &crate::token::Library,
    s: &crate::token::session::Session,
    input: &[u8],
    out: Out<'_>,
    then: impl FnOnce(&crate::token::Library, &crate::token::session::Session, &[u8]) -> Result<()>,
) -> Result<Outcome> {
    match out {
        Out::Query => lib.cipher_update(s, CipherDir::Decrypt, input, Out::Query),
        Out::Buf(b) => {
            let r = lib.cipher_update(s, CipherDir::Decrypt, input, Out::Buf(&mut *b))?;
            if let Outcome::Written(n) = r {
                then(lib, s, &b[..n])?;
            }
            Ok(r)
        }
    }
}

// ---- keys ----

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

/// Key pairs arrive with the public-key mechanisms; none is registered yet.
///
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

// ---- random ----

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

// ---- legacy and not supported ----

#[no_mangle]
pub extern "C" fn C_GetFunctionStatus(h: CK_SESSION_HANDLE) -> CK_RV {
    guard(|| {
        session(h)?;
        err(CKR_FUNCTION_NOT_PARALLEL)
    })
}

#[no_mangle]
pub extern "C" fn C_CancelFunction(h: CK_SESSION_HANDLE) -> CK_RV {
    guard(|| {
        session(h)?;
        err(CKR_FUNCTION_NOT_PARALLEL)
    })
}

/// Slots never change by themselves here (no card readers), so there is no event to wait for.
///
/// # Safety
/// `slot` is writable.
#[no_mangle]
pub unsafe extern "C" fn C_WaitForSlotEvent(flags: CK_FLAGS, slot: *mut CK_SLOT_ID, _r: *mut c_void) -> CK_RV {
    guard(|| {
        lib()?;
        // SAFETY: caller's out-parameter.
        unsafe { out(slot)? };
        if flags & CKF_DONT_BLOCK != 0 {
            err(CKR_NO_EVENT)
        } else {
            err(CKR_FUNCTION_NOT_SUPPORTED)
        }
    })
}

/// The 3.0 message-based functions: not supported (each returns CKR_FUNCTION_NOT_SUPPORTED after
/// checking the session, so a bad handle still gets its own code).
macro_rules! not_supported {
    ($($name:ident($($arg:ident: $ty:ty),*);)*) => {$(
        #[no_mangle]
        pub extern "C" fn $name(h: CK_SESSION_HANDLE $(, $arg: $ty)*) -> CK_RV {
            $(let _ = $arg;)*
            guard(|| { session(h)?; err(CKR_FUNCTION_NOT_SUPPORTED) })
        }
    )*};
}

not_supported! {
    C_MessageEncryptInit(m: *mut CK_MECHANISM, k: CK_OBJECT_HANDLE);
    C_EncryptMessage(p: *mut c_void, pl: CK_ULONG, a: *mut CK_BYTE, al: CK_ULONG, d: *mut CK_BYTE, dl: CK_ULONG, o: *mut CK_BYTE, ol: *mut CK_ULONG);
    C_EncryptMessageBegin(p: *mut c_void, pl: CK_ULONG, a: *mut CK_BYTE, al: CK_ULONG);
    C_EncryptMessageNext(p: *mut c_void, pl: CK_ULONG, d: *mut CK_BYTE, dl: CK_ULONG, o: *mut CK_BYTE, ol: *mut CK_ULONG, f: CK_FLAGS);
    C_MessageEncryptFinal();
    C_MessageDecryptInit(m: *mut CK_MECHANISM, k: CK_OBJECT_HANDLE);
    C_DecryptMessage(p: *mut c_void, pl: CK_ULONG, a: *mut CK_BYTE, al: CK_ULONG, d: *mut CK_BYTE, dl: CK_ULONG, o: *mut CK_BYTE, ol: *mut CK_ULONG);
    C_DecryptMessageBegin(p: *mut c_void, pl: CK_ULONG, a: *mut CK_BYTE, al: CK_ULONG);
    C_DecryptMessageNext(p: *mut c_void, pl: CK_ULONG, d: *mut CK_BYTE, dl: CK_ULONG, o: *mut CK_BYTE, ol: *mut CK_ULONG, f: CK_FLAGS);
    C_MessageDecryptFinal();
    C_MessageSignInit(m: *mut CK_MECHANISM, k: CK_OBJECT_HANDLE);
    C_SignMessage(p: *mut c_void, pl: CK_ULONG, d: *mut CK_BYTE, dl: CK_ULONG, s: *mut CK_BYTE, sl: *mut CK_ULONG);
    C_SignMessageBegin(p: *mut c_void, pl: CK_ULONG);
    C_SignMessageNext(p: *mut c_void, pl: CK_ULONG, d: *mut CK_BYTE, dl: CK_ULONG, s: *mut CK_BYTE, sl: *mut CK_ULONG);
    C_MessageSignFinal();
    C_MessageVerifyInit(m: *mut CK_MECHANISM, k: CK_OBJECT_HANDLE);
    C_VerifyMessage(p: *mut c_void, pl: CK_ULONG, d: *mut CK_BYTE, dl: CK_ULONG, s: *mut CK_BYTE, sl: CK_ULONG);
    C_VerifyMessageBegin(p: *mut c_void, pl: CK_ULONG);
    C_VerifyMessageNext(p: *mut c_void, pl: CK_ULONG, d: *mut CK_BYTE, dl: CK_ULONG, s: *mut CK_BYTE, sl: CK_ULONG);
    C_MessageVerifyFinal();
}
