//! Session management: open and close, session information, operation state,
//! login and logout, `C_SessionCancel`; and the legacy parallel-function calls.

use crate::abi::marshal::{out, slice};
use crate::abi::{guard, lib, session};
use crate::error::err;
use cryptoki_sys::*;
use std::ffi::c_void;

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
        l.session_cancel(&s, flags);
        Ok(())
    })
}

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
