//! Pointer and buffer marshalling between the C caller and the typed core. The SP 800-108
//! derivation parameters, the deepest structure a caller hands in, are read in [`kdf`].

mod kdf;

use crate::error::{err, Result};
use crate::mech::{registry, ParamKind, Params};
use crate::object::attr::{kind_of, Attr, AttrMap, Kind};
use crate::token::crypto::{Mech, Out, Outcome};
use cryptoki_sys::*;
use std::mem::size_of;

/// A caller's input buffer. `NULL` is allowed only with length 0.
///
/// # Safety
/// `p` must point to `len` readable bytes when non-null, valid for `'a`.
pub unsafe fn slice<'a>(p: *const u8, len: CK_ULONG) -> Result<&'a [u8]> {
    if p.is_null() {
        return if len == 0 { Ok(&[]) } else { err(CKR_ARGUMENTS_BAD) };
    }
    // SAFETY: the caller guarantees `p` points to `len` bytes.
    Ok(unsafe { std::slice::from_raw_parts(p, len as usize) })
}

/// A caller's output buffer.
///
/// # Safety
/// `p` must point to `len` writable bytes, valid for `'a`.
pub unsafe fn slice_mut<'a>(p: *mut u8, len: CK_ULONG) -> Result<&'a mut [u8]> {
    if p.is_null() {
        return err(CKR_ARGUMENTS_BAD);
    }
    // SAFETY: the caller guarantees `p` points to `len` writable bytes.
    Ok(unsafe { std::slice::from_raw_parts_mut(p, len as usize) })
}

/// A caller's out-parameter.
///
/// # Safety
/// `p` must be null or point to a writable `T`.
pub unsafe fn out<'a, T>(p: *mut T) -> Result<&'a mut T> {
    // SAFETY: non-null checked; validity is the caller's contract.
    unsafe { p.as_mut() }.ok_or(CKR_ARGUMENTS_BAD.into())
}

/// The two-call length convention: a NULL buffer asks for the length; a short buffer gets
/// `CKR_BUFFER_TOO_SMALL` with the length needed.
///
/// # Safety
/// `buf` is null or points to `*len` writable bytes; `len` is null or writable.
pub unsafe fn write_out(buf: *mut u8, len: *mut CK_ULONG, f: impl FnOnce(Out<'_>) -> Result<Outcome>) -> Result<()> {
    // SAFETY: forwarded contract.
    let len = unsafe { out(len)? };
    let o = if buf.is_null() {
        Out::Query
    } else {
        // SAFETY: forwarded contract.
        Out::Buf(unsafe { slice_mut(buf, *len)? })
    };
    let query = matches!(o, Out::Query);
    match f(o)? {
        Outcome::Written(n) => {
            *len = n as CK_ULONG;
            Ok(())
        }
        Outcome::Needed(n) => {
            *len = n as CK_ULONG;
            if query {
                Ok(())
            } else {
                err(CKR_BUFFER_TOO_SMALL)
            }
        }
    }
}

/// Copies a list into a caller's array with the two-call convention (slot and mechanism lists).
///
/// # Safety
/// `p` is null or points to `*count` writable elements; `count` is writable.
pub unsafe fn write_list<T: Copy>(p: *mut T, count: *mut CK_ULONG, items: &[T]) -> Result<()> {
    // SAFETY: forwarded contract.
    let count = unsafe { out(count)? };
    if p.is_null() {
        *count = items.len() as CK_ULONG;
        return Ok(());
    }
    if (*count as usize) < items.len() {
        *count = items.len() as CK_ULONG;
        return err(CKR_BUFFER_TOO_SMALL);
    }
    // SAFETY: `p` has room for `*count >= items.len()` elements.
    unsafe { std::ptr::copy_nonoverlapping(items.as_ptr(), p, items.len()) };
    *count = items.len() as CK_ULONG;
    Ok(())
}

/// A caller's template as a typed map. Unknown types are `CKR_ATTRIBUTE_TYPE_INVALID`; a type
/// given twice with different values is `CKR_TEMPLATE_INCONSISTENT`.
///
/// # Safety
/// `p` is null (with `n == 0`) or points to `n` attributes whose values are readable.
pub unsafe fn template(p: *const CK_ATTRIBUTE, n: CK_ULONG) -> Result<AttrMap> {
    // SAFETY: as this function's contract.
    unsafe { template_at(p, n, true) }
}

/// Most attributes a template may hold, and the largest value one attribute may carry (a
/// certificate chain fits; a caller cannot make the token copy gigabytes).
pub const MAX_TEMPLATE_ATTRS: usize = 1024;
pub const MAX_ATTR_LEN: usize = 1 << 20;

/// A template; `top` says whether nested templates (`CKA_WRAP_TEMPLATE`…) may appear: the spec
/// uses one level, so a template inside a nested template is refused (no recursion a caller
/// controls, no cycles).
unsafe fn template_at(p: *const CK_ATTRIBUTE, n: CK_ULONG, top: bool) -> Result<AttrMap> {
    if p.is_null() {
        return if n == 0 { Ok(AttrMap::new()) } else { err(CKR_ARGUMENTS_BAD) };
    }
    if n as usize > MAX_TEMPLATE_ATTRS {
        return err(CKR_ARGUMENTS_BAD);
    }
    // SAFETY: the caller guarantees `n` attributes at `p`.
    let attrs = unsafe { std::slice::from_raw_parts(p, n as usize) };
    let mut map = AttrMap::new();
    for a in attrs {
        let kind = kind_of(a.type_).ok_or(CKR_ATTRIBUTE_TYPE_INVALID)?;
        let v = if kind == Kind::Template {
            if a.ulValueLen as usize % size_of::<CK_ATTRIBUTE>() != 0 {
                return err(CKR_ATTRIBUTE_VALUE_INVALID);
            }
            if !top {
                return err(CKR_ATTRIBUTE_VALUE_INVALID);
            }
            let count = a.ulValueLen as usize / size_of::<CK_ATTRIBUTE>();
            // SAFETY: a template attribute's value is an array of `count` attributes.
            Attr::Template(unsafe { template_at(a.pValue as *const CK_ATTRIBUTE, count as CK_ULONG, false)? })
        } else {
            if a.ulValueLen as usize > MAX_ATTR_LEN {
                return err(CKR_ATTRIBUTE_VALUE_INVALID);
            }
            // SAFETY: the value buffer holds `ulValueLen` bytes.
            let raw = unsafe { slice(a.pValue as *const u8, a.ulValueLen) }.map_err(|_| CKR_ATTRIBUTE_VALUE_INVALID)?;
            Attr::from_native(kind, raw)?
        };
        if let Some(old) = map.get(a.type_) {
            if *old != v {
                return err(CKR_TEMPLATE_INCONSISTENT);
            }
        }
        map.set(a.type_, v);
    }
    Ok(map)
}

/// Fills one caller attribute from a value (for C_GetAttributeValue). Returns the CK_RV that
/// attribute contributes (OK or BUFFER_TOO_SMALL).
///
/// # Safety
/// `a.pValue` is null or points to `a.ulValueLen` writable bytes (for templates, to an array of
/// attributes prepared by the caller).
pub unsafe fn fill_attr(a: &mut CK_ATTRIBUTE, v: &Attr) -> CK_RV {
    if let Attr::Template(t) = v {
        let need = t.len() * size_of::<CK_ATTRIBUTE>();
        if a.pValue.is_null() {
            a.ulValueLen = need as CK_ULONG;
            return CKR_OK;
        }
        if (a.ulValueLen as usize) < need {
            a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
            return CKR_BUFFER_TOO_SMALL;
        }
        // SAFETY: the caller gave room for `t.len()` attributes.
        let inner = unsafe { std::slice::from_raw_parts_mut(a.pValue as *mut CK_ATTRIBUTE, t.len()) };
        let mut rv = CKR_OK;
        for (slot, (ty, val)) in inner.iter_mut().zip(t.iter()) {
            slot.type_ = ty;
            // SAFETY: nested buffers follow the same contract.
            let r = unsafe { fill_attr(slot, val) };
            if r != CKR_OK {
                rv = r;
            }
        }
        a.ulValueLen = need as CK_ULONG;
        return rv;
    }
    let bytes = v.native_bytes();
    if a.pValue.is_null() {
        a.ulValueLen = bytes.len() as CK_ULONG;
        return CKR_OK;
    }
    if (a.ulValueLen as usize) < bytes.len() {
        a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
        return CKR_BUFFER_TOO_SMALL;
    }
    // SAFETY: room for `bytes.len()` bytes checked above.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), a.pValue as *mut u8, bytes.len()) };
    a.ulValueLen = bytes.len() as CK_ULONG;
    CKR_OK
}

/// Reads a `CK_MECHANISM` and its parameter, shaped per the registry.
///
/// # Safety
/// `p` is null or points to a mechanism whose parameter is readable.
pub unsafe fn mechanism(p: *const CK_MECHANISM) -> Result<Mech> {
    // SAFETY: non-null checked by `as_ref`.
    let m = unsafe { p.as_ref() }.ok_or(CKR_ARGUMENTS_BAD)?;
    let kind = registry::param_kind(m.mechanism).ok_or(CKR_MECHANISM_INVALID)?;
    // SAFETY: the parameter buffer holds `ulParameterLen` bytes (bounded before it is read).
    let raw = unsafe { param_data(m.pParameter as *const u8, m.ulParameterLen, MAX_PARAM_DATA) }?;
    // SAFETY: each arm reads a struct only after checking the size matches.
    let params = unsafe { params(kind, raw) }?;
    Ok(Mech { ty: m.mechanism, params })
}

/// Reads a `#[repr(C)]` parameter struct of exactly its size.
unsafe fn read_struct<T: Copy>(raw: &[u8]) -> Result<T> {
    if raw.len() != size_of::<T>() {
        return err(CKR_MECHANISM_PARAM_INVALID);
    }
    // SAFETY: size checked; read_unaligned copes with any alignment.
    Ok(unsafe { std::ptr::read_unaligned(raw.as_ptr() as *const T) })
}

/// Longest IV, and longest AAD, label or other data a mechanism parameter may point to: checked
/// before anything is copied, so a length the caller got wrong is an error, not an allocation.
/// GCM hashes an IV of any length into its pre-counter block (SP 800-38D): long ones are legal.
const MAX_GCM_IV_LEN: CK_ULONG = 4096;
const MAX_PARAM_DATA: CK_ULONG = 1 << 24;
/// Longest data of a simple key derivation (no key here is longer).
const MAX_DERIVE_DATA: CK_ULONG = crate::mech::derive_data::MAX_DATA as CK_ULONG;
/// Longest EdDSA context (`CK_EDDSA_PARAMS.ulContextDataLen`; RFC 8032 gives it one octet).
const MAX_EDDSA_CONTEXT: CK_ULONG = crate::mech::eddsa::MAX_CONTEXT as CK_ULONG;

/// A parameter's data buffer, length-checked before it is read.
///
/// # Safety
/// As [`slice`].
unsafe fn param_data<'a>(p: *const u8, len: CK_ULONG, max: CK_ULONG) -> Result<&'a [u8]> {
    if len > max {
        return err(CKR_MECHANISM_PARAM_INVALID);
    }
    // SAFETY: as this function's contract.
    unsafe { slice(p, len) }.map_err(|_| CKR_MECHANISM_PARAM_INVALID.into())
}

unsafe fn params(kind: ParamKind, raw: &[u8]) -> Result<Params> {
    let bad = CKR_MECHANISM_PARAM_INVALID;
    Ok(match kind {
        ParamKind::None if raw.is_empty() => Params::None,
        ParamKind::None => return err(bad),
        ParamKind::Raw => Params::Raw(raw.to_vec()),
        ParamKind::Iv(n) if raw.len() == n => Params::Iv(raw.to_vec()),
        ParamKind::Iv(_) => return err(bad),
        ParamKind::MacLen => {
            // SAFETY: size-checked read.
            let v: CK_ULONG = unsafe { read_struct(raw)? };
            Params::MacLen(v as usize)
        }
        ParamKind::Ctr => {
            // SAFETY: size-checked read.
            let c: CK_AES_CTR_PARAMS = unsafe { read_struct(raw)? };
            Params::Ctr { counter_bits: c.ulCounterBits as usize, cb: c.cb }
        }
        ParamKind::Gcm => {
            // SAFETY: size-checked read; the IV and AAD pointers are the caller's buffers.
            let g: CK_GCM_PARAMS = unsafe { read_struct(raw)? };
            // SAFETY: the caller's IV buffer of `ulIvLen` bytes, length-checked before it is read.
            let iv = unsafe { param_data(g.pIv, g.ulIvLen, MAX_GCM_IV_LEN) }?.to_vec();
            // SAFETY: the caller's AAD buffer of `ulAADLen` bytes, length-checked before it is read.
            let aad = unsafe { param_data(g.pAAD, g.ulAADLen, MAX_PARAM_DATA) }?.to_vec();
            Params::Gcm { iv, aad, tag_bits: g.ulTagBits as usize }
        }
        ParamKind::Oaep => {
            // SAFETY: size-checked read.
            let o: CK_RSA_PKCS_OAEP_PARAMS = unsafe { read_struct(raw)? };
            // SAFETY: `o` was read whole above; its label pointer is the caller's buffer.
            unsafe { oaep(&o) }?
        }
        ParamKind::Pss => {
            // SAFETY: size-checked read.
            let p: CK_RSA_PKCS_PSS_PARAMS = unsafe { read_struct(raw)? };
            Params::Pss { hash: p.hashAlg, mgf: p.mgf, salt_len: p.sLen as usize }
        }
        ParamKind::RsaAesKeyWrap => {
            // SAFETY: size-checked read; pOAEPParams is the caller's struct.
            let p: CK_RSA_AES_KEY_WRAP_PARAMS = unsafe { read_struct(raw)? };
            // SAFETY: `pOAEPParams` is null or the caller's CK_RSA_PKCS_OAEP_PARAMS.
            let o = unsafe { p.pOAEPParams.as_ref() }.ok_or(bad)?;
            // SAFETY: `o` is the caller's OAEP struct; its label pointer is the caller's buffer.
            Params::RsaAesKeyWrap { aes_bits: p.ulAESKeyBits as usize, oaep: Box::new(unsafe { oaep(o) }?) }
        }
        ParamKind::Ecdh => {
            // SAFETY: size-checked read; data pointers are the caller's buffers.
            let e: CK_ECDH1_DERIVE_PARAMS = unsafe { read_struct(raw)? };
            // SAFETY: the caller's shared-data buffer, length-checked before it is read.
            let shared = unsafe { param_data(e.pSharedData, e.ulSharedDataLen, MAX_PARAM_DATA) }?.to_vec();
            // SAFETY: the caller's public-data buffer, length-checked before it is read.
            let public = unsafe { param_data(e.pPublicData, e.ulPublicDataLen, MAX_PARAM_DATA) }?.to_vec();
            Params::Ecdh { kdf: e.kdf, shared, public }
        }
        ParamKind::DeriveData => {
            // SAFETY: size-checked read; the data pointer is the caller's buffer.
            let d: CK_KEY_DERIVATION_STRING_DATA = unsafe { read_struct(raw)? };
            // SAFETY: the caller's data buffer, length-checked before it is read.
            Params::Data(unsafe { param_data(d.pData, d.ulLen, MAX_DERIVE_DATA) }?.to_vec())
        }
        ParamKind::CbcEncryptData(16) => {
            // SAFETY: size-checked read; the data pointer is the caller's buffer.
            let c: CK_AES_CBC_ENCRYPT_DATA_PARAMS = unsafe { read_struct(raw)? };
            // SAFETY: the caller's data buffer, length-checked before it is read.
            let data = unsafe { param_data(c.pData, c.length, MAX_DERIVE_DATA) }?.to_vec();
            Params::IvData { iv: c.iv.to_vec(), data }
        }
        ParamKind::CbcEncryptData(_) => {
            // SAFETY: size-checked read; the data pointer is the caller's buffer.
            let c: CK_DES_CBC_ENCRYPT_DATA_PARAMS = unsafe { read_struct(raw)? };
            // SAFETY: the caller's data buffer, length-checked before it is read.
            let data = unsafe { param_data(c.pData, c.length, MAX_DERIVE_DATA) }?.to_vec();
            Params::IvData { iv: c.iv.to_vec(), data }
        }
        ParamKind::KeyHandle => {
            // SAFETY: size-checked read of a plain integer.
            Params::KeyHandle(unsafe { read_struct::<CK_OBJECT_HANDLE>(raw)? })
        }
        // SAFETY: as this function's contract (`kdf` reads the structs and the caller's arrays).
        ParamKind::Kbkdf => unsafe { kdf::sp800_108(raw, false) }?,
        // SAFETY: as above.
        ParamKind::KbkdfFeedback => unsafe { kdf::sp800_108(raw, true) }?,
        ParamKind::Extract => {
            // SAFETY: size-checked read of a plain integer.
            Params::BitIndex(unsafe { read_struct::<CK_EXTRACT_PARAMS>(raw)? })
        }
        // CKM_EDDSA: no parameter is pure EdDSA; a context is at most 255 bytes (RFC 8032), which
        // is checked before the caller's buffer is read.
        ParamKind::Eddsa if raw.is_empty() => Params::None,
        ParamKind::Eddsa => {
            // SAFETY: size-checked read; the context pointer is the caller's buffer.
            let e: CK_EDDSA_PARAMS = unsafe { read_struct(raw)? };
            // SAFETY: the caller's context buffer, length-checked (at most 255 bytes) before it is read.
            let ctx = unsafe { param_data(e.pContextData, e.ulContextDataLen, MAX_EDDSA_CONTEXT) }?.to_vec();
            Params::Eddsa { ph: e.phFlag != CK_FALSE, ctx }
        }
    })
}

unsafe fn oaep(o: &CK_RSA_PKCS_OAEP_PARAMS) -> Result<Params> {
    let label = if o.source == CKZ_DATA_SPECIFIED {
        // SAFETY: the source data buffer holds `ulSourceDataLen` bytes.
        unsafe { param_data(o.pSourceData as *const u8, o.ulSourceDataLen, MAX_PARAM_DATA) }?.to_vec()
    } else if o.source == 0 && o.ulSourceDataLen == 0 {
        Vec::new()
    } else {
        return err(CKR_MECHANISM_PARAM_INVALID);
    };
    Ok(Params::Oaep { hash: o.hashAlg, mgf: o.mgf, label })
}

/// Copies `s` into a blank-padded fixed-size field (CK_INFO, CK_TOKEN_INFO strings).
pub fn pad<const N: usize>(s: &str) -> [u8; N] {
    let mut out = [b' '; N];
    let b = s.as_bytes();
    let n = b.len().min(N);
    out[..n].copy_from_slice(&b[..n]);
    out
}

/// A blank-padded label from the caller, trimmed (C_InitToken's 32-byte label).
pub fn unpad(b: &[u8]) -> String {
    String::from_utf8_lossy(b).trim_end_matches([' ', '\0']).to_string()
}
