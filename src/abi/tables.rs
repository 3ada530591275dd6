//! The function tables: one static table per interface version, all pointing at the same entry
//! points; `C_GetInterface` hands them out by name and version.

#![allow(non_snake_case)]

use super::fns::*;
use super::guard;
use super::marshal::{out, write_list};
use crate::error::err;
use cryptoki_sys::*;
use std::ffi::{c_void, CStr};

macro_rules! v240_functions {
    ($m:ident, $ty:ident, $maj:expr, $min:expr, $gi:ident $(, $extra:ident)*) => {
        $m!($ty, $maj, $min, [
            C_Initialize, C_Finalize, C_GetFunctionList, C_GetSlotList, C_GetSlotInfo,
            C_GetTokenInfo, C_GetMechanismList, C_GetMechanismInfo, C_InitToken, C_InitPIN, C_SetPIN,
            C_OpenSession, C_CloseSession, C_CloseAllSessions, C_GetSessionInfo, C_GetOperationState,
            C_SetOperationState, C_Login, C_Logout, C_CreateObject, C_CopyObject, C_DestroyObject,
            C_GetObjectSize, C_GetAttributeValue, C_SetAttributeValue, C_FindObjectsInit,
            C_FindObjects, C_FindObjectsFinal, C_EncryptInit, C_Encrypt, C_EncryptUpdate,
            C_EncryptFinal, C_DecryptInit, C_Decrypt, C_DecryptUpdate, C_DecryptFinal, C_DigestInit,
            C_Digest, C_DigestUpdate, C_DigestKey, C_DigestFinal, C_SignInit, C_Sign, C_SignUpdate,
            C_SignFinal, C_SignRecoverInit, C_SignRecover, C_VerifyInit, C_Verify, C_VerifyUpdate,
            C_VerifyFinal, C_VerifyRecoverInit, C_VerifyRecover, C_DigestEncryptUpdate,
            C_DecryptDigestUpdate, C_SignEncryptUpdate, C_DecryptVerifyUpdate, C_GenerateKey,
            C_GenerateKeyPair, C_WrapKey, C_UnwrapKey, C_DeriveKey, C_SeedRandom, C_GenerateRandom,
            C_GetFunctionStatus, C_CancelFunction, C_WaitForSlotEvent $(, $extra)*
        ], $gi)
    };
}

macro_rules! table_with_info {
    ($ty:ident, $major:expr, $minor:expr, [$($f:ident),* $(,)?], $gi:ident) => {
        $ty { version: CK_VERSION { major: $major, minor: $minor }, C_GetInfo: Some($gi), $( $f: Some($f), )* }
    };
}

const TABLE_240: CK_FUNCTION_LIST = v240_functions!(table_with_info, CK_FUNCTION_LIST, 2, 40, C_GetInfo);

/// The 2.40 list: the same entry points but where 2.40 and 3.0 answer differently (`fns::v240`).
static FUNCTIONS_240: CK_FUNCTION_LIST = CK_FUNCTION_LIST {
    C_GetMechanismInfo: Some(C_GetMechanismInfo_v240),
    C_EncryptInit: Some(C_EncryptInit_v240),
    C_DecryptInit: Some(C_DecryptInit_v240),
    C_DigestInit: Some(C_DigestInit_v240),
    C_SignInit: Some(C_SignInit_v240),
    C_VerifyInit: Some(C_VerifyInit_v240),
    ..TABLE_240
};

static FUNCTIONS_300: CK_FUNCTION_LIST_3_0 = v240_functions!(
    table_with_info,
    CK_FUNCTION_LIST_3_0,
    3,
    0,
    C_GetInfo_v3,
    C_GetInterfaceList,
    C_GetInterface,
    C_LoginUser,
    C_SessionCancel,
    C_MessageEncryptInit,
    C_EncryptMessage,
    C_EncryptMessageBegin,
    C_EncryptMessageNext,
    C_MessageEncryptFinal,
    C_MessageDecryptInit,
    C_DecryptMessage,
    C_DecryptMessageBegin,
    C_DecryptMessageNext,
    C_MessageDecryptFinal,
    C_MessageSignInit,
    C_SignMessage,
    C_SignMessageBegin,
    C_SignMessageNext,
    C_MessageSignFinal,
    C_MessageVerifyInit,
    C_VerifyMessage,
    C_VerifyMessageBegin,
    C_VerifyMessageNext,
    C_MessageVerifyFinal
);

pub fn function_list_240() -> *mut CK_FUNCTION_LIST {
    // Callers receive a mutable pointer by the spec's signature; they must not write through it.
    &FUNCTIONS_240 as *const CK_FUNCTION_LIST as *mut CK_FUNCTION_LIST
}

/// A `CK_INTERFACE` in static memory (raw pointers to other statics).
#[repr(transparent)]
struct Interface(CK_INTERFACE);
// SAFETY: the pointers refer to immutable statics.
unsafe impl Sync for Interface {}

const PKCS11_NAME: &CStr = c"PKCS 11";
const VENDOR_NAME: &CStr = c"ShieldHSM";

static INTERFACES: [Interface; 3] = [
    Interface(CK_INTERFACE {
        pInterfaceName: PKCS11_NAME.as_ptr() as *mut CK_CHAR,
        pFunctionList: &FUNCTIONS_300 as *const CK_FUNCTION_LIST_3_0 as *mut c_void,
        flags: 0,
    }),
    Interface(CK_INTERFACE {
        pInterfaceName: PKCS11_NAME.as_ptr() as *mut CK_CHAR,
        pFunctionList: &FUNCTIONS_240 as *const CK_FUNCTION_LIST as *mut c_void,
        flags: 0,
    }),
    // Vendor extensions (include/shieldhsm.h); NULL-name requests never return it, since the
    // "PKCS 11" entries come first.
    Interface(CK_INTERFACE {
        pInterfaceName: VENDOR_NAME.as_ptr() as *mut CK_CHAR,
        pFunctionList: &super::vendor::FUNCTIONS as *const super::vendor::SHSM_FUNCTION_LIST as *mut c_void,
        flags: 0,
    }),
];

/// The `CK_INTERFACE` given to a `C_GetInterface` caller: a writable copy, set afresh from
/// [`INTERFACES`] on every call. Proxies such as Debian 12's pkcs11-spy write their own function
/// list into the struct they receive (fixed upstream in OpenSC 0.26); writing into our read-only
/// statics would crash the host.
fn handed_out(i: &Interface) -> *mut CK_INTERFACE {
    // The address of a leaked, never freed array (a usize, so the cell is Sync).
    static COPIES: once_cell::sync::OnceCell<usize> = once_cell::sync::OnceCell::new();
    let base = *COPIES
        .get_or_init(|| Box::into_raw(Box::new([INTERFACES[0].0, INTERFACES[1].0, INTERFACES[2].0])) as usize)
        as *mut CK_INTERFACE;
    let index = INTERFACES.iter().position(|x| std::ptr::eq(x, i)).unwrap_or(0);
    // SAFETY: `base` is a leaked, live array of three interfaces; `index < 3`. A caller may
    // have written into its copy: it is reset to the template before being handed out again.
    unsafe {
        let p = base.add(index);
        p.write(i.0);
        p
    }
}

fn interface_version(i: &CK_INTERFACE) -> CK_VERSION {
    // SAFETY: every table starts with its CK_VERSION.
    unsafe { *(i.pFunctionList as *const CK_VERSION) }
}

/// # Safety
/// `list` is null or has `*count` entries; `count` is writable.
#[no_mangle]
pub unsafe extern "C" fn C_GetInterfaceList(list: *mut CK_INTERFACE, count: *mut CK_ULONG) -> CK_RV {
    guard(|| {
        let all: Vec<CK_INTERFACE> = INTERFACES.iter().map(|i| CK_INTERFACE { ..i.0 }).collect();
        // SAFETY: caller's buffers.
        unsafe { write_list(list, count, &all) }
    })
}

/// # Safety
/// `name` is null or a NUL-terminated string; `version` null or readable; `pp` writable.
#[no_mangle]
pub unsafe extern "C" fn C_GetInterface(
    name: *mut CK_UTF8CHAR,
    version: *mut CK_VERSION,
    pp: *mut *mut CK_INTERFACE,
    flags: CK_FLAGS,
) -> CK_RV {
    guard(|| {
        // SAFETY: caller's out-parameter.
        let pp = unsafe { out(pp)? };
        // SAFETY: a NUL-terminated name when non-null.
        let name = (!name.is_null()).then(|| unsafe { CStr::from_ptr(name as *const std::ffi::c_char) });
        // SAFETY: readable when non-null.
        let version = unsafe { version.as_ref() };
        // INTERFACES is newest first, so the first match is the newest acceptable version.
        let found = INTERFACES.iter().find(|i| {
            // SAFETY: our own static NUL-terminated names.
            let iname = unsafe { CStr::from_ptr(i.0.pInterfaceName as *const std::ffi::c_char) };
            let v = interface_version(&i.0);
            name.map(|n| n == iname).unwrap_or(true)
                && version.map(|w| w.major == v.major && w.minor == v.minor).unwrap_or(true)
                && i.0.flags & flags == flags
        });
        match found {
            Some(i) => {
                *pp = handed_out(i);
                Ok(())
            }
            None => err(CKR_ARGUMENTS_BAD),
        }
    })
}
