//! SP 800-108 derivation parameters (`CK_SP800_108_KDF_PARAMS`,
//! `CK_SP800_108_FEEDBACK_KDF_PARAMS`): arrays of caller structs whose values point to further
//! caller buffers, each counted and length-checked before it is read.

use super::{param_data, read_struct, MAX_PARAM_DATA};
use crate::error::{err, Result};
use crate::mech::kbkdf::{Counter, DkmLength, KbkdfParams, PrfData};
use crate::mech::Params;
use cryptoki_sys::*;
use std::mem::size_of;

/// Most data parameters of an SP 800-108 derivation, and the longest byte array (or feedback
/// IV) one may carry: a hostile count or length fails before anything is read or allocated.
const MAX_PRF_DATA_PARAMS: CK_ULONG = 32;
const MAX_PRF_DATA_LEN: CK_ULONG = 4096;

/// The counter (`feedback` false) or feedback mode parameters in `raw`.
///
/// # Safety
/// The struct's pointers are the caller's buffers, as PKCS#11 defines them.
pub(super) unsafe fn sp800_108(raw: &[u8], feedback: bool) -> Result<Params> {
    let bad = CKR_MECHANISM_PARAM_INVALID;
    if !feedback {
        // SAFETY: size-checked read; its pointers are the caller's buffers.
        let k: CK_SP800_108_KDF_PARAMS = unsafe { read_struct(raw)? };
        // No additional derived keys (README): their array is never read.
        if k.ulAdditionalDerivedKeys != 0 {
            return err(bad);
        }
        // SAFETY: the caller's array of `ulNumberOfDataParams` structs, counted before it is read.
        let data = unsafe { prf_data(k.pDataParams, k.ulNumberOfDataParams) }?;
        return Ok(Params::Kbkdf(Box::new(KbkdfParams { prf: k.prfType, data, iv: Vec::new() })));
    }
    // SAFETY: size-checked read; its pointers are the caller's buffers.
    let k: CK_SP800_108_FEEDBACK_KDF_PARAMS = unsafe { read_struct(raw)? };
    if k.ulAdditionalDerivedKeys != 0 {
        return err(bad);
    }
    // SAFETY: the caller's array of `ulNumberOfDataParams` structs, counted before it is read.
    let data = unsafe { prf_data(k.pDataParams, k.ulNumberOfDataParams) }?;
    // SAFETY: the caller's IV buffer of `ulIVLen` bytes, length-checked before it is read.
    let iv = unsafe { param_data(k.pIV, k.ulIVLen, MAX_PRF_DATA_LEN) }?.to_vec();
    Ok(Params::Kbkdf(Box::new(KbkdfParams { prf: k.prfType, data, iv })))
}

/// The `n` data parameters of an SP 800-108 derivation at `p`.
///
/// # Safety
/// `p` is null or points to `n` readable `CK_PRF_DATA_PARAM`s, each `pValue` to `ulValueLen`
/// readable bytes.
unsafe fn prf_data(p: *const CK_PRF_DATA_PARAM, n: CK_ULONG) -> Result<Vec<PrfData>> {
    if n == 0 || n > MAX_PRF_DATA_PARAMS {
        return err(CKR_MECHANISM_PARAM_INVALID);
    }
    let size = size_of::<CK_PRF_DATA_PARAM>();
    // SAFETY: `n` structs at `p` (at most MAX_PRF_DATA_PARAMS, counted above).
    let raw = unsafe { param_data(p as *const u8, n * size as CK_ULONG, MAX_PARAM_DATA) }?;
    raw.chunks_exact(size)
        .map(|c| {
            // SAFETY: size-checked read of one struct.
            let d: CK_PRF_DATA_PARAM = unsafe { read_struct(c)? };
            // SAFETY: the caller's value buffer of `ulValueLen` bytes, length-checked before it is read.
            let v = unsafe { param_data(d.pValue as *const u8, d.ulValueLen, MAX_PRF_DATA_LEN) }?;
            prf_datum(d.type_, v)
        })
        .collect()
}

/// One data parameter from its type and value bytes (structs read only at their exact size).
fn prf_datum(ty: CK_PRF_DATA_TYPE, v: &[u8]) -> Result<PrfData> {
    let flag = |b: CK_BBOOL| match b {
        CK_FALSE => Ok(false),
        CK_TRUE => Ok(true),
        _ => err(CKR_MECHANISM_PARAM_INVALID),
    };
    let counter = |v: &[u8]| -> Result<Counter> {
        // SAFETY: size-checked read of a plain struct (any bytes are a valid value).
        let c: CK_SP800_108_COUNTER_FORMAT = unsafe { read_struct(v)? };
        Ok(Counter { little_endian: flag(c.bLittleEndian)?, bits: c.ulWidthInBits })
    };
    Ok(match ty {
        CK_SP800_108_ITERATION_VARIABLE if v.is_empty() => PrfData::Iteration(None),
        CK_SP800_108_ITERATION_VARIABLE => PrfData::Iteration(Some(counter(v)?)),
        CK_SP800_108_OPTIONAL_COUNTER => PrfData::Counter(counter(v)?),
        CK_SP800_108_DKM_LENGTH => {
            // SAFETY: size-checked read of a plain struct (any bytes are a valid value).
            let l: CK_SP800_108_DKM_LENGTH_FORMAT = unsafe { read_struct(v)? };
            let little_endian = flag(l.bLittleEndian)?;
            PrfData::DkmLength(DkmLength { method: l.dkmLengthMethod, little_endian, bits: l.ulWidthInBits })
        }
        CK_SP800_108_BYTE_ARRAY => PrfData::Bytes(v.to_vec()),
        _ => return err(CKR_MECHANISM_PARAM_INVALID),
    })
}
