//! Slot and token management: slots, tokens and their mechanisms, token and PIN
//! initialization, `C_SetPIN`, `C_WaitForSlotEvent`. What a slot or token reports is computed
//! by the token layer (`token::info`, `token::pin`); here it is copied into the C structures.

use crate::abi::marshal::{out, pad, slice, unpad, write_list};
use crate::abi::{guard, lib, session};
use crate::error::err;
use crate::token::MANUFACTURER;
use cryptoki_sys::*;
use std::ffi::c_void;

const HW_VERSION: CK_VERSION = CK_VERSION { major: 12, minor: 72 };

/// # Safety
/// `list` is null or has `*count` entries; `count` is writable.
#[no_mangle]
pub unsafe extern "C" fn C_GetSlotList(present: CK_BBOOL, list: *mut CK_SLOT_ID, count: *mut CK_ULONG) -> CK_RV {
    guard(|| {
        let ids = lib()?.slot_ids(present != CK_FALSE)?;
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
        let (desc, flags) = (l.slot_description(id)?, l.slot_flags(id)?);
        // SAFETY: caller's out-parameter.
        *unsafe { out(p)? } = CK_SLOT_INFO {
            slotDescription: pad(&desc),
            manufacturerID: pad(MANUFACTURER),
            flags,
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
        let t = lib()?.token_info(id)?;
        // SAFETY: caller's out-parameter.
        *unsafe { out(p)? } = CK_TOKEN_INFO {
            label: pad(&t.label),
            manufacturerID: pad(MANUFACTURER),
            model: pad("nShield-Emulator"),
            serialNumber: pad(&t.serial),
            flags: t.flags,
            ulMaxSessionCount: CK_EFFECTIVELY_INFINITE,
            ulSessionCount: t.sessions as CK_ULONG,
            ulMaxRwSessionCount: CK_EFFECTIVELY_INFINITE,
            ulRwSessionCount: t.rw_sessions as CK_ULONG,
            ulMaxPinLen: t.max_pin as CK_ULONG,
            ulMinPinLen: t.min_pin as CK_ULONG,
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

/// # Safety
/// `list` is null or has `*count` entries; `count` is writable.
#[no_mangle]
pub unsafe extern "C" fn C_GetMechanismList(
    id: CK_SLOT_ID,
    list: *mut CK_MECHANISM_TYPE,
    count: *mut CK_ULONG,
) -> CK_RV {
    guard(|| {
        let all = lib()?.mechanisms(id)?;
        // SAFETY: caller's buffers.
        unsafe { write_list(list, count, &all) }
    })
}

/// # Safety
/// `p` points to a writable `CK_MECHANISM_INFO`.
#[no_mangle]
pub unsafe extern "C" fn C_GetMechanismInfo(id: CK_SLOT_ID, ty: CK_MECHANISM_TYPE, p: *mut CK_MECHANISM_INFO) -> CK_RV {
    guard(|| {
        let info = lib()?.mechanism_info(id, ty)?;
        // SAFETY: caller's out-parameter.
        *unsafe { out(p)? } = info;
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

/// Card-set tokens come and go with the card in module #1's emulated reader; this reports the
/// next slot whose token appeared or went (see `token::cardsets`).
///
/// # Safety
/// `slot` is writable.
#[no_mangle]
pub unsafe extern "C" fn C_WaitForSlotEvent(flags: CK_FLAGS, slot: *mut CK_SLOT_ID, reserved: *mut c_void) -> CK_RV {
    guard(|| {
        let l = lib()?;
        if !reserved.is_null() {
            return err(CKR_ARGUMENTS_BAD);
        }
        // SAFETY: caller's out-parameter.
        let out = unsafe { out(slot)? };
        // Blocking ends when this library instance is finalized.
        let alive = || lib().is_ok_and(|now| std::sync::Arc::ptr_eq(&now, &l));
        *out = l.wait_for_slot_event(flags & CKF_DONT_BLOCK == 0, &alive)?;
        Ok(())
    })
}
