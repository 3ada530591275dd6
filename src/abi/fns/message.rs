//! The 3.0 message-based functions (`token::message`): AES-GCM message encryption and
//! decryption, and message signing and verifying with the MAC mechanisms. Arguments are read
//! here, lengths checked before buffers are; the caller's input is copied before any output
//! buffer is written, so input and output may overlap.

use crate::abi::marshal::{mechanism, out, slice, slice_mut};
use crate::abi::{guard, session};
use crate::error::{err, Result};
use crate::mech::Params;
use crate::token::message::{GcmMessage, MsgDir};
use cryptoki_sys::*;
use std::ffi::c_void;
use zeroize::Zeroizing;

/// The longest IV and AAD a message may carry (bytes).
const MAX_IV: CK_ULONG = 4096;
const MAX_AAD: CK_ULONG = 1 << 24;

/// # Safety
/// `m` is null or a valid mechanism.
unsafe fn init(h: CK_SESSION_HANDLE, d: MsgDir, m: *mut CK_MECHANISM, k: CK_OBJECT_HANDLE) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        if m.is_null() {
            return err(CKR_ARGUMENTS_BAD);
        }
        let (ty, params) = if matches!(d, MsgDir::Encrypt | MsgDir::Decrypt) {
            // SAFETY: a readable CK_MECHANISM (the caller's contract), read unaligned.
            let raw: CK_MECHANISM = unsafe { std::ptr::read_unaligned(m) };
            // Message GCM takes its parameters per message: none at init.
            if !raw.pParameter.is_null() || raw.ulParameterLen != 0 {
                return err(CKR_MECHANISM_PARAM_INVALID);
            }
            (raw.mechanism, Params::None)
        } else {
            // SAFETY: a readable CK_MECHANISM (the caller's contract), read unaligned.
            let ty = unsafe { std::ptr::read_unaligned(m) }.mechanism;
            if crate::token::message::message_flags(ty) & CKF_MESSAGE_SIGN == 0 {
                return err(CKR_MECHANISM_INVALID);
            }
            // SAFETY: caller's mechanism.
            let mech = unsafe { mechanism(m)? };
            (mech.ty, mech.params)
        };
        l.message_init(&s, d, ty, params, k)
    })
}

/// A message's `CK_GCM_MESSAGE_PARAMS`.
///
/// # Safety
/// `p` is null or points to `len` readable bytes; its IV and tag pointers are the caller's.
unsafe fn gcm_params(p: *mut c_void, len: CK_ULONG) -> Result<(CK_GCM_MESSAGE_PARAMS, GcmMessage)> {
    if p.is_null() || len as usize != std::mem::size_of::<CK_GCM_MESSAGE_PARAMS>() {
        return err(CKR_MECHANISM_PARAM_INVALID);
    }
    // SAFETY: `len` bytes at `p`, exactly the struct's size; read unaligned.
    let g: CK_GCM_MESSAGE_PARAMS = unsafe { std::ptr::read_unaligned(p as *const CK_GCM_MESSAGE_PARAMS) };
    if g.ulIvLen == 0 || g.ulIvLen > MAX_IV || g.ulTagBits % 8 != 0 || g.ulTagBits > 128 {
        return err(CKR_MECHANISM_PARAM_INVALID);
    }
    // SAFETY: the caller's IV buffer of `ulIvLen` bytes (bounded above).
    let iv = unsafe { slice(g.pIv, g.ulIvLen) }.map_err(|_| CKR_MECHANISM_PARAM_INVALID)?.to_vec();
    let m = GcmMessage {
        iv,
        fixed_bits: g.ulIvFixedBits as usize,
        generator: g.ivGenerator,
        tag_bits: g.ulTagBits as usize,
        tag: Vec::new(),
    };
    Ok((g, m))
}

/// The message's tag, from the caller's tag buffer.
///
/// # Safety
/// `g.pTag` points to `g.ulTagBits / 8` readable bytes.
unsafe fn read_tag(g: &CK_GCM_MESSAGE_PARAMS) -> Result<Vec<u8>> {
    // SAFETY: as this function's contract.
    Ok(unsafe { slice(g.pTag, g.ulTagBits / 8) }.map_err(|_| CKR_MECHANISM_PARAM_INVALID)?.to_vec())
}

/// Writes the tag (encryption) and the IV the token made (if it made one) to the caller.
///
/// # Safety
/// The struct's IV and tag buffers are writable for their lengths.
unsafe fn give_back(g: &CK_GCM_MESSAGE_PARAMS, iv: &[u8], tag: Option<&[u8]>) -> Result<()> {
    if g.ivGenerator != CKG_NO_GENERATE {
        // SAFETY: the caller's IV buffer of `ulIvLen` bytes (= iv.len()).
        unsafe { slice_mut(g.pIv, g.ulIvLen)? }.copy_from_slice(iv);
    }
    if let Some(t) = tag {
        // SAFETY: the caller's tag buffer of `ulTagBits / 8` bytes (= t.len()).
        unsafe { slice_mut(g.pTag, g.ulTagBits / 8)? }.copy_from_slice(t);
    }
    Ok(())
}

/// Copies `data` to the caller's buffer with the two-call convention (nothing happens on a
/// length query or a short buffer: `run` is not called).
///
/// # Safety
/// `o` is null or points to `*ol` writable bytes; `ol` is writable.
unsafe fn answer(
    o: *mut CK_BYTE,
    ol: *mut CK_ULONG,
    need: usize,
    run: impl FnOnce() -> Result<Zeroizing<Vec<u8>>>,
) -> Result<()> {
    // SAFETY: the caller's length out-parameter.
    let have = unsafe { out(ol)? };
    if o.is_null() {
        *have = need as CK_ULONG;
        return Ok(());
    }
    if (*have as usize) < need {
        *have = need as CK_ULONG;
        return err(CKR_BUFFER_TOO_SMALL);
    }
    let data = run()?;
    // SAFETY: `need` (= data.len()) writable bytes at `o`, checked above.
    unsafe { slice_mut(o, data.len() as CK_ULONG)? }.copy_from_slice(&data);
    *have = data.len() as CK_ULONG;
    Ok(())
}

/// `C_EncryptMessage`/`C_DecryptMessage`.
///
/// # Safety
/// Buffers as the spec defines them.
#[allow(clippy::too_many_arguments)]
unsafe fn cipher_message(
    h: CK_SESSION_HANDLE,
    d: MsgDir,
    p: *mut c_void,
    pl: CK_ULONG,
    a: *mut CK_BYTE,
    al: CK_ULONG,
    i: *mut CK_BYTE,
    il: CK_ULONG,
    o: *mut CK_BYTE,
    ol: *mut CK_ULONG,
) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        // SAFETY: the caller's parameter struct and its buffers.
        let (g, mut m) = unsafe { gcm_params(p, pl) }?;
        if al > MAX_AAD {
            return err(CKR_ARGUMENTS_BAD);
        }
        // SAFETY: the caller's AAD and input buffers, copied before any output is written.
        let aad = unsafe { slice(a, al) }?.to_vec();
        // SAFETY: as above.
        let input = Zeroizing::new(unsafe { slice(i, il) }?.to_vec());
        if d == MsgDir::Decrypt {
            // SAFETY: the caller's tag buffer.
            m.tag = unsafe { read_tag(&g) }?;
        }
        let n = input.len();
        // SAFETY: the caller's output buffer and length.
        unsafe {
            answer(o, ol, n, || {
                let mut whole = l.cipher_message(&s, d, &mut m, &aad, &input)?;
                if d == MsgDir::Encrypt {
                    let tag = whole.split_off(n);
                    give_back(&g, &m.iv, Some(&tag))?;
                }
                Ok(whole)
            })
        }
    })
}

/// `C_EncryptMessageBegin`/`C_DecryptMessageBegin`.
///
/// # Safety
/// Buffers as the spec defines them.
unsafe fn cipher_begin(
    h: CK_SESSION_HANDLE,
    d: MsgDir,
    p: *mut c_void,
    pl: CK_ULONG,
    a: *mut CK_BYTE,
    al: CK_ULONG,
) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        // SAFETY: the caller's parameter struct and its buffers.
        let (g, m) = unsafe { gcm_params(p, pl) }?;
        if al > MAX_AAD {
            return err(CKR_ARGUMENTS_BAD);
        }
        // SAFETY: the caller's AAD buffer.
        let aad = unsafe { slice(a, al) }?.to_vec();
        let iv = l.cipher_message_begin(&s, d, m, &aad)?;
        // SAFETY: the caller's IV buffer.
        unsafe { give_back(&g, &iv, None) }
    })
}

/// `C_EncryptMessageNext`/`C_DecryptMessageNext`: earlier parts give no output; the last
/// (`CKF_END_OF_MESSAGE`) gives the whole message's.
///
/// # Safety
/// Buffers as the spec defines them.
#[allow(clippy::too_many_arguments)]
unsafe fn cipher_next(
    h: CK_SESSION_HANDLE,
    d: MsgDir,
    p: *mut c_void,
    pl: CK_ULONG,
    i: *mut CK_BYTE,
    il: CK_ULONG,
    o: *mut CK_BYTE,
    ol: *mut CK_ULONG,
    flags: CK_FLAGS,
) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        // SAFETY: the caller's parameter struct and its buffers.
        let (g, _) = unsafe { gcm_params(p, pl) }?;
        // SAFETY: the caller's input part, copied before any output is written.
        let part = Zeroizing::new(unsafe { slice(i, il) }?.to_vec());
        let last = flags & CKF_END_OF_MESSAGE != 0;
        if !last {
            l.cipher_message_next(&s, d, &part, None)?;
            // SAFETY: the caller's length out-parameter.
            *unsafe { out(ol)? } = 0;
            return Ok(());
        }
        let need = l.message_pending_len(&s, d)?.saturating_add(part.len());
        let tag = if d == MsgDir::Decrypt {
            // SAFETY: the caller's tag buffer.
            unsafe { read_tag(&g) }?
        } else {
            Vec::new()
        };
        // SAFETY: the caller's output buffer and length.
        unsafe {
            answer(o, ol, need, || {
                let mut whole = l.cipher_message_next(&s, d, &part, Some(&tag))?;
                if d == MsgDir::Encrypt {
                    let t = whole.split_off(need);
                    // The caller's tag buffer (the IV was given back at Begin), within the
                    // enclosing unsafe block's contract.
                    slice_mut(g.pTag, g.ulTagBits / 8)?.copy_from_slice(&t);
                }
                Ok(whole)
            })
        }
    })
}

/// A finished MAC of at most `need` bytes.
fn mac_of(mac: &mut dyn crate::mech::SignOp, need: usize) -> Result<Zeroizing<Vec<u8>>> {
    let mut t = Zeroizing::new(vec![0u8; need]);
    let n = mac.sign_final(&mut t)?;
    t.truncate(n);
    Ok(t)
}

fn no_params(p: *mut c_void, pl: CK_ULONG) -> Result<()> {
    // MAC messages carry no parameters of their own.
    if !p.is_null() || pl != 0 {
        return err(CKR_MECHANISM_PARAM_INVALID);
    }
    Ok(())
}

/// # Safety
/// Pointers and buffers as the spec defines them for `C_MessageEncryptInit`.
#[no_mangle]
pub unsafe extern "C" fn C_MessageEncryptInit(
    h: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    k: CK_OBJECT_HANDLE,
) -> CK_RV {
    // SAFETY: forwarded contract.
    unsafe { init(h, MsgDir::Encrypt, m, k) }
}

/// # Safety
/// Pointers and buffers as the spec defines them for `C_MessageDecryptInit`.
#[no_mangle]
pub unsafe extern "C" fn C_MessageDecryptInit(
    h: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    k: CK_OBJECT_HANDLE,
) -> CK_RV {
    // SAFETY: forwarded contract.
    unsafe { init(h, MsgDir::Decrypt, m, k) }
}

/// # Safety
/// Pointers and buffers as the spec defines them for `C_MessageSignInit`.
#[no_mangle]
pub unsafe extern "C" fn C_MessageSignInit(h: CK_SESSION_HANDLE, m: *mut CK_MECHANISM, k: CK_OBJECT_HANDLE) -> CK_RV {
    // SAFETY: forwarded contract.
    unsafe { init(h, MsgDir::Sign, m, k) }
}

/// # Safety
/// Pointers and buffers as the spec defines them for `C_MessageVerifyInit`.
#[no_mangle]
pub unsafe extern "C" fn C_MessageVerifyInit(h: CK_SESSION_HANDLE, m: *mut CK_MECHANISM, k: CK_OBJECT_HANDLE) -> CK_RV {
    // SAFETY: forwarded contract.
    unsafe { init(h, MsgDir::Verify, m, k) }
}

/// # Safety
/// Pointers and buffers as the spec defines them for `C_EncryptMessage`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn C_EncryptMessage(
    h: CK_SESSION_HANDLE,
    p: *mut c_void,
    pl: CK_ULONG,
    a: *mut CK_BYTE,
    al: CK_ULONG,
    d: *mut CK_BYTE,
    dl: CK_ULONG,
    o: *mut CK_BYTE,
    ol: *mut CK_ULONG,
) -> CK_RV {
    // SAFETY: forwarded contract.
    unsafe { cipher_message(h, MsgDir::Encrypt, p, pl, a, al, d, dl, o, ol) }
}

/// # Safety
/// Pointers and buffers as the spec defines them for `C_DecryptMessage`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn C_DecryptMessage(
    h: CK_SESSION_HANDLE,
    p: *mut c_void,
    pl: CK_ULONG,
    a: *mut CK_BYTE,
    al: CK_ULONG,
    d: *mut CK_BYTE,
    dl: CK_ULONG,
    o: *mut CK_BYTE,
    ol: *mut CK_ULONG,
) -> CK_RV {
    // SAFETY: forwarded contract.
    unsafe { cipher_message(h, MsgDir::Decrypt, p, pl, a, al, d, dl, o, ol) }
}

/// # Safety
/// Pointers and buffers as the spec defines them for `C_EncryptMessageBegin`.
#[no_mangle]
pub unsafe extern "C" fn C_EncryptMessageBegin(
    h: CK_SESSION_HANDLE,
    p: *mut c_void,
    pl: CK_ULONG,
    a: *mut CK_BYTE,
    al: CK_ULONG,
) -> CK_RV {
    // SAFETY: forwarded contract.
    unsafe { cipher_begin(h, MsgDir::Encrypt, p, pl, a, al) }
}

/// # Safety
/// Pointers and buffers as the spec defines them for `C_DecryptMessageBegin`.
#[no_mangle]
pub unsafe extern "C" fn C_DecryptMessageBegin(
    h: CK_SESSION_HANDLE,
    p: *mut c_void,
    pl: CK_ULONG,
    a: *mut CK_BYTE,
    al: CK_ULONG,
) -> CK_RV {
    // SAFETY: forwarded contract.
    unsafe { cipher_begin(h, MsgDir::Decrypt, p, pl, a, al) }
}

/// # Safety
/// Pointers and buffers as the spec defines them for `C_EncryptMessageNext`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn C_EncryptMessageNext(
    h: CK_SESSION_HANDLE,
    p: *mut c_void,
    pl: CK_ULONG,
    d: *mut CK_BYTE,
    dl: CK_ULONG,
    o: *mut CK_BYTE,
    ol: *mut CK_ULONG,
    f: CK_FLAGS,
) -> CK_RV {
    // SAFETY: forwarded contract.
    unsafe { cipher_next(h, MsgDir::Encrypt, p, pl, d, dl, o, ol, f) }
}

/// # Safety
/// Pointers and buffers as the spec defines them for `C_DecryptMessageNext`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn C_DecryptMessageNext(
    h: CK_SESSION_HANDLE,
    p: *mut c_void,
    pl: CK_ULONG,
    d: *mut CK_BYTE,
    dl: CK_ULONG,
    o: *mut CK_BYTE,
    ol: *mut CK_ULONG,
    f: CK_FLAGS,
) -> CK_RV {
    // SAFETY: forwarded contract.
    unsafe { cipher_next(h, MsgDir::Decrypt, p, pl, d, dl, o, ol, f) }
}

#[no_mangle]
pub extern "C" fn C_MessageEncryptFinal(h: CK_SESSION_HANDLE) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        l.message_final(&s, MsgDir::Encrypt)
    })
}

#[no_mangle]
pub extern "C" fn C_MessageDecryptFinal(h: CK_SESSION_HANDLE) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        l.message_final(&s, MsgDir::Decrypt)
    })
}

#[no_mangle]
pub extern "C" fn C_MessageSignFinal(h: CK_SESSION_HANDLE) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        l.message_final(&s, MsgDir::Sign)
    })
}

#[no_mangle]
pub extern "C" fn C_MessageVerifyFinal(h: CK_SESSION_HANDLE) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        l.message_final(&s, MsgDir::Verify)
    })
}

/// # Safety
/// Pointers and buffers as the spec defines them for `C_SignMessage`.
#[no_mangle]
pub unsafe extern "C" fn C_SignMessage(
    h: CK_SESSION_HANDLE,
    p: *mut c_void,
    pl: CK_ULONG,
    d: *mut CK_BYTE,
    dl: CK_ULONG,
    sig: *mut CK_BYTE,
    sl: *mut CK_ULONG,
) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        no_params(p, pl)?;
        // SAFETY: the caller's data, copied before the signature is written.
        let data = Zeroizing::new(unsafe { slice(d, dl) }?.to_vec());
        let mut mac = l.sign_message(&s, MsgDir::Sign, &data)?;
        let need = mac.sig_len();
        // SAFETY: the caller's signature buffer and length.
        unsafe { answer(sig, sl, need, || mac_of(mac.as_mut(), need)) }
    })
}

/// # Safety
/// Pointers and buffers as the spec defines them for `C_VerifyMessage`.
#[no_mangle]
pub unsafe extern "C" fn C_VerifyMessage(
    h: CK_SESSION_HANDLE,
    p: *mut c_void,
    pl: CK_ULONG,
    d: *mut CK_BYTE,
    dl: CK_ULONG,
    sig: *mut CK_BYTE,
    sl: CK_ULONG,
) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        no_params(p, pl)?;
        // SAFETY: the caller's data and signature buffers (read only).
        let (data, sig) = unsafe { (slice(d, dl)?, slice(sig, sl)?) };
        let mut mac = l.sign_message(&s, MsgDir::Verify, data)?;
        mac.verify_final(sig)
    })
}

#[no_mangle]
pub extern "C" fn C_SignMessageBegin(h: CK_SESSION_HANDLE, p: *mut c_void, pl: CK_ULONG) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        no_params(p, pl)?;
        l.sign_message_begin(&s, MsgDir::Sign)
    })
}

#[no_mangle]
pub extern "C" fn C_VerifyMessageBegin(h: CK_SESSION_HANDLE, p: *mut c_void, pl: CK_ULONG) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        no_params(p, pl)?;
        l.sign_message_begin(&s, MsgDir::Verify)
    })
}

/// A part of a message being signed; `sl` NULL for every part but the last.
///
/// # Safety
/// Pointers and buffers as the spec defines them for `C_SignMessageNext`.
#[no_mangle]
pub unsafe extern "C" fn C_SignMessageNext(
    h: CK_SESSION_HANDLE,
    p: *mut c_void,
    pl: CK_ULONG,
    d: *mut CK_BYTE,
    dl: CK_ULONG,
    sig: *mut CK_BYTE,
    sl: *mut CK_ULONG,
) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        no_params(p, pl)?;
        // SAFETY: the caller's data part, copied before the signature is written.
        let part = Zeroizing::new(unsafe { slice(d, dl) }?.to_vec());
        if sl.is_null() {
            l.sign_message_next(&s, MsgDir::Sign, &part, false)?;
            return Ok(());
        }
        let need = l.message_pending_len(&s, MsgDir::Sign)?;
        // SAFETY: the caller's signature buffer and length.
        unsafe {
            answer(sig, sl, need, || {
                let mut mac = l.sign_message_next(&s, MsgDir::Sign, &part, true)?.ok_or(CKR_GENERAL_ERROR)?;
                mac_of(mac.as_mut(), need)
            })
        }
    })
}

/// A part of a message being verified; `sig` NULL for every part but the last.
///
/// # Safety
/// Pointers and buffers as the spec defines them for `C_VerifyMessageNext`.
#[no_mangle]
pub unsafe extern "C" fn C_VerifyMessageNext(
    h: CK_SESSION_HANDLE,
    p: *mut c_void,
    pl: CK_ULONG,
    d: *mut CK_BYTE,
    dl: CK_ULONG,
    sig: *mut CK_BYTE,
    sl: CK_ULONG,
) -> CK_RV {
    guard(|| {
        let (l, s) = session(h)?;
        no_params(p, pl)?;
        // SAFETY: the caller's data part and signature (read only).
        let part = unsafe { slice(d, dl) }?;
        if sig.is_null() {
            l.sign_message_next(&s, MsgDir::Verify, part, false)?;
            return Ok(());
        }
        // SAFETY: as above.
        let sig = unsafe { slice(sig, sl) }?;
        let mut mac = l.sign_message_next(&s, MsgDir::Verify, part, true)?.ok_or(CKR_GENERAL_ERROR)?;
        mac.verify_final(sig)
    })
}
