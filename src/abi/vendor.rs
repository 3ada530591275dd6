//! The vendor interface "ShieldHSM" (include/shieldhsm.h): Security World creation and
//! information, key generation, KEK import, the reduced-ACL transfer copy and `.byok` export,
//! for C callers. Same core functions as the `shieldhsm` CLI.
//!
//! Administrative failures carry a sentence for a person; C callers get a CK_RV, and the
//! sentence through `SHSM_LastError` (per thread).

#![allow(non_snake_case)]

use super::marshal::{out, slice, write_out};
use super::{guard, lib};
use crate::byok::transfer;
use crate::error::{err, Error, Result};
use crate::module::admin::{AdminError, Scripted};
use crate::module::hsm::{self, Mode};
use crate::module::keygen;
use crate::module::world::{self, NewWorldParams, WorldFile};
use crate::token::crypto::Outcome;
use cryptoki_sys::*;
use std::cell::RefCell;
use std::ffi::{c_char, CStr};

#[repr(C)]
pub struct SHSM_FUNCTION_LIST {
    pub version: CK_VERSION,
    pub SHSM_NewWorld: Option<unsafe extern "C" fn(*const c_char, CK_ULONG, CK_ULONG, *const *const c_char) -> CK_RV>,
    pub SHSM_WorldInfo: Option<unsafe extern "C" fn(*mut CK_BYTE, *mut CK_ULONG) -> CK_RV>,
    pub SHSM_GenerateKey: Option<unsafe extern "C" fn(*const c_char, *const c_char) -> CK_RV>,
    pub SHSM_ImportKek: Option<unsafe extern "C" fn(*const c_char, *mut CK_BYTE, CK_ULONG, *const c_char) -> CK_RV>,
    pub SHSM_ReduceAclForTransfer: Option<
        unsafe extern "C" fn(*const c_char, *const c_char, *const c_char, *const *const c_char, CK_ULONG) -> CK_RV,
    >,
    pub SHSM_ExportByok:
        Option<unsafe extern "C" fn(*const c_char, *const c_char, *mut CK_BYTE, *mut CK_ULONG) -> CK_RV>,
    pub SHSM_LastError: Option<unsafe extern "C" fn(*mut CK_BYTE, *mut CK_ULONG) -> CK_RV>,
}

pub static FUNCTIONS: SHSM_FUNCTION_LIST = SHSM_FUNCTION_LIST {
    version: CK_VERSION { major: 1, minor: 0 },
    SHSM_NewWorld: Some(SHSM_NewWorld),
    SHSM_WorldInfo: Some(SHSM_WorldInfo),
    SHSM_GenerateKey: Some(SHSM_GenerateKey),
    SHSM_ImportKek: Some(SHSM_ImportKek),
    SHSM_ReduceAclForTransfer: Some(SHSM_ReduceAclForTransfer),
    SHSM_ExportByok: Some(SHSM_ExportByok),
    SHSM_LastError: Some(SHSM_LastError),
};

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Records an administrative failure for `SHSM_LastError` and maps it to a CK_RV.
fn admin(e: AdminError, rv: CK_RV) -> Error {
    LAST_ERROR.with(|l| *l.borrow_mut() = e.to_string());
    if let Ok(l) = lib() {
        l.config.debug_line(&format!("vendor call failed: {}", e.what));
    }
    Error::new(rv)
}

/// A NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `p` is null or a NUL-terminated string.
unsafe fn text<'a>(p: *const c_char) -> Result<&'a str> {
    if p.is_null() {
        return err(CKR_ARGUMENTS_BAD);
    }
    // SAFETY: the caller guarantees a NUL-terminated string.
    unsafe { CStr::from_ptr(p) }.to_str().map_err(|_| CKR_ARGUMENTS_BAD.into())
}

/// `count` strings from a caller's array.
///
/// # Safety
/// `p` points to `count` NUL-terminated strings.
unsafe fn texts(p: *const *const c_char, count: usize) -> Result<Vec<String>> {
    if p.is_null() {
        return if count == 0 { Ok(Vec::new()) } else { err(CKR_ARGUMENTS_BAD) };
    }
    // SAFETY: the caller guarantees `count` pointers.
    let ptrs = unsafe { std::slice::from_raw_parts(p, count) };
    // SAFETY: each is a NUL-terminated string.
    ptrs.iter().map(|s| unsafe { text(*s) }.map(str::to_string)).collect()
}

/// Bytes out with the two-call convention.
///
/// # Safety
/// As `marshal::write_out`.
unsafe fn bytes_out(buf: *mut CK_BYTE, len: *mut CK_ULONG, data: &[u8]) -> Result<()> {
    // SAFETY: forwarded contract.
    unsafe {
        write_out(buf, len, |o| {
            Ok(match o {
                crate::token::crypto::Out::Buf(b) if b.len() >= data.len() => {
                    b[..data.len()].copy_from_slice(data);
                    Outcome::Written(data.len())
                }
                _ => Outcome::Needed(data.len()),
            })
        })
    }
}

/// # Safety
/// `suite` null or a string; `passphrases` holds `n` strings.
pub unsafe extern "C" fn SHSM_NewWorld(
    suite: *const c_char,
    k: CK_ULONG,
    n: CK_ULONG,
    passphrases: *const *const c_char,
) -> CK_RV {
    guard(|| {
        let l = lib()?;
        // SAFETY: caller's strings.
        let suite = if suite.is_null() { None } else { Some(unsafe { text(suite) }?) };
        // SAFETY: `passphrases` is the caller's array of `n` NUL-terminated strings.
        let pass = unsafe { texts(passphrases, n as usize) }?;
        let mut p = NewWorldParams { k: k as u32, n: n as u32, ..NewWorldParams::default() };
        if let Some(s) = suite {
            p.ciphersuite = s.to_string();
        }
        // The vendor call does the seed's three steps: mode I, new-world, mode O.
        let refs: Vec<&str> = pass.iter().map(String::as_str).collect();
        let mut ui = Scripted::new(&refs);
        hsm::set_mode(&l.store, 1, Mode::Init).map_err(|e| admin(e, CKR_FUNCTION_FAILED))?;
        let made = world::new_world(&l.store, &p, &mut ui);
        let back = hsm::set_mode(&l.store, 1, Mode::Operational);
        made.map_err(|e| admin(e, CKR_FUNCTION_FAILED))?;
        back.map_err(|e| admin(e, CKR_FUNCTION_FAILED))?;
        l.reload_world();
        Ok(())
    })
}

/// # Safety
/// `buf`/`len` as the two-call convention.
pub unsafe extern "C" fn SHSM_WorldInfo(buf: *mut CK_BYTE, len: *mut CK_ULONG) -> CK_RV {
    guard(|| {
        let l = lib()?;
        let w = WorldFile::read(&l.store).map_err(|e| admin(e, CKR_DEVICE_ERROR))?.ok_or_else(|| {
            admin(AdminError::new("there is no Security World", "create one first"), CKR_FUNCTION_FAILED)
        })?;
        let keys =
            keygen::list_keys(&l.store, l.world().as_ref().map(|w| &w.km)).map_err(|e| admin(e, CKR_DEVICE_ERROR))?;
        let info = serde_json::json!({
            "ciphersuite": w.ciphersuite,
            "k_out_of_n": format!("{}/{}", w.acs_k, w.acs_n),
            "hknso": w.hknso,
            "hkm": w.hkm,
            "modules": w.modules,
            "keys": keys.iter().map(|k| serde_json::json!({
                "app": k.app, "ident": k.ident, "file": k.file, "public_half": k.public_half, "label": k.label,
            })).collect::<Vec<_>>(),
        });
        let bytes = serde_json::to_vec(&info).map_err(|_| Error::general())?;
        // SAFETY: caller's buffers.
        unsafe { bytes_out(buf, len, &bytes) }
    })
}

/// # Safety
/// `app` and `params` are strings.
pub unsafe extern "C" fn SHSM_GenerateKey(app: *const c_char, params: *const c_char) -> CK_RV {
    guard(|| {
        let l = lib()?;
        // SAFETY: caller's strings.
        let (app, params) = unsafe { (text(app)?, text(params)?) };
        let pairs: Vec<(String, String)> = params
            .split_whitespace()
            .map(|kv| kv.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).ok_or(CKR_ARGUMENTS_BAD))
            .collect::<std::result::Result<_, _>>()?;
        let (p, _notes) = keygen::parse_params(app, &pairs).map_err(|e| admin(e, CKR_ARGUMENTS_BAD))?;
        keygen::generate(&l.store, &p, &mut Scripted::new(&[])).map_err(|e| admin(e, CKR_FUNCTION_FAILED))?;
        Ok(())
    })
}

/// # Safety
/// Strings as documented; `kek` holds `len` bytes.
pub unsafe extern "C" fn SHSM_ImportKek(
    name: *const c_char,
    kek: *mut CK_BYTE,
    len: CK_ULONG,
    kid: *const c_char,
) -> CK_RV {
    guard(|| {
        let l = lib()?;
        // SAFETY: caller's strings and buffer; `kid` may be NULL for a vendor package.
        let (name, kek) = unsafe { (text(name)?, slice(kek, len)?) };
        // SAFETY: as above.
        let kid = if kid.is_null() { None } else { Some(unsafe { text(kid) }?) };
        transfer::import_kek(&l.store, name, kek, kid).map_err(|e| admin(e, CKR_ARGUMENTS_BAD))?;
        Ok(())
    })
}

/// # Safety
/// Strings as documented; `passphrases` holds `count` strings.
pub unsafe extern "C" fn SHSM_ReduceAclForTransfer(
    app: *const c_char,
    ident: *const c_char,
    kek_name: *const c_char,
    passphrases: *const *const c_char,
    count: CK_ULONG,
) -> CK_RV {
    guard(|| {
        let l = lib()?;
        // SAFETY: caller's strings.
        let (app, ident, kek_name) = unsafe { (text(app)?, text(ident)?, text(kek_name)?) };
        // SAFETY: `passphrases` is the caller's array of `count` NUL-terminated strings.
        let pass = unsafe { texts(passphrases, count as usize) }?;
        let kek = transfer::resolve_kek(&l.store, kek_name, None).map_err(|e| admin(e, CKR_ARGUMENTS_BAD))?;
        let refs: Vec<&str> = pass.iter().map(String::as_str).collect();
        transfer::modify_acls(&l.store, app, ident, &kek, None, &mut Scripted::new(&refs))
            .map_err(|e| admin(e, CKR_FUNCTION_FAILED))?;
        Ok(())
    })
}

/// # Safety
/// Strings as documented; `buf`/`len` as the two-call convention.
pub unsafe extern "C" fn SHSM_ExportByok(
    ident: *const c_char,
    kek_name: *const c_char,
    buf: *mut CK_BYTE,
    len: *mut CK_ULONG,
) -> CK_RV {
    guard(|| {
        let l = lib()?;
        // SAFETY: caller's strings.
        let (ident, kek_name) = unsafe { (text(ident)?, text(kek_name)?) };
        let kek = transfer::resolve_kek(&l.store, kek_name, None).map_err(|e| admin(e, CKR_ARGUMENTS_BAD))?;
        let (doc, _) =
            transfer::package_document(&l.store, ident, &kek).map_err(|e| admin(e, CKR_KEY_UNEXTRACTABLE))?;
        // The wrap is randomized, but its length is fixed by the key and the KEK, so a length
        // query followed by a second call returns a buffer of exactly the announced size.
        // SAFETY: caller's buffers.
        unsafe { bytes_out(buf, len, &doc.to_bytes()) }
    })
}

/// The sentence explaining this thread's last failed vendor call ("" if none).
///
/// # Safety
/// `buf`/`len` as the two-call convention.
pub unsafe extern "C" fn SHSM_LastError(buf: *mut CK_BYTE, len: *mut CK_ULONG) -> CK_RV {
    guard(|| {
        let msg = LAST_ERROR.with(|l| l.borrow().clone());
        // SAFETY: caller's out-parameter, checked before use.
        unsafe { out(len)? };
        // SAFETY: caller's buffers.
        unsafe { bytes_out(buf, len, msg.as_bytes()) }
    })
}
