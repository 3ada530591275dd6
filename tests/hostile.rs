//! A hostile or buggy caller through the raw C ABI (issue #10): inputs that once crashed or
//! aborted the host process are refused with the spec's codes, and the process goes on.

#[macro_use]
mod common;
use common::*;
use cryptoki_sys::*;
use std::ffi::c_void;
use std::ptr::null_mut;

fn attr<T>(type_: CK_ATTRIBUTE_TYPE, v: &T) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE { type_, pValue: v as *const T as *mut c_void, ulValueLen: std::mem::size_of::<T>() as CK_ULONG }
}

fn aes_key(r: &Raw, h: CK_SESSION_HANDLE) -> CK_OBJECT_HANDLE {
    let (class, kt, value, t) = (CKO_SECRET_KEY, CKK_AES, [7u8; 16], CK_TRUE);
    let mut tmpl = [attr(CKA_CLASS, &class), attr(CKA_KEY_TYPE, &kt), attr(CKA_VALUE, &value), attr(CKA_ENCRYPT, &t)];
    let mut k: CK_OBJECT_HANDLE = 0;
    assert_eq!(call!(r, C_CreateObject, h, tmpl.as_mut_ptr(), tmpl.len() as CK_ULONG, &mut k), CKR_OK);
    k
}

#[test]
fn self_referencing_and_deep_templates_are_refused() {
    let (r, h) = module_session();
    let (class, kt, value) = (CKO_SECRET_KEY, CKK_AES, [7u8; 16]);
    // CKA_WRAP_TEMPLATE whose value is the template itself.
    let mut tmpl = [attr(CKA_CLASS, &class), attr(CKA_KEY_TYPE, &kt), attr(CKA_VALUE, &value), attr(CKA_CLASS, &class)];
    let me = tmpl.as_mut_ptr();
    tmpl[3] = CK_ATTRIBUTE {
        type_: CKA_WRAP_TEMPLATE,
        pValue: me as *mut c_void,
        ulValueLen: (4 * std::mem::size_of::<CK_ATTRIBUTE>()) as CK_ULONG,
    };
    let mut k: CK_OBJECT_HANDLE = 0;
    assert_eq!(call!(r, C_CreateObject, h, tmpl.as_mut_ptr(), 4, &mut k), CKR_ATTRIBUTE_VALUE_INVALID);
    // The same in a search template, on the module slot without login.
    assert_eq!(call!(r, C_FindObjectsInit, h, tmpl.as_mut_ptr(), 4), CKR_ATTRIBUTE_VALUE_INVALID);
    // A chain 10,000 deep.
    let t = CK_TRUE;
    let mut chain: Vec<CK_ATTRIBUTE> = vec![attr(CKA_EXTRACTABLE, &t); 10_000];
    for i in 0..chain.len() - 1 {
        let next = &mut chain[i + 1] as *mut CK_ATTRIBUTE;
        chain[i] = CK_ATTRIBUTE {
            type_: CKA_UNWRAP_TEMPLATE,
            pValue: next as *mut c_void,
            ulValueLen: std::mem::size_of::<CK_ATTRIBUTE>() as CK_ULONG,
        };
    }
    let mut outer = [attr(CKA_CLASS, &class), attr(CKA_KEY_TYPE, &kt), attr(CKA_VALUE, &value), chain[0]];
    assert_eq!(call!(r, C_CreateObject, h, outer.as_mut_ptr(), 4, &mut k), CKR_ATTRIBUTE_VALUE_INVALID);
    // One level, as the spec uses it, still works.
    let mut inner = [attr(CKA_EXTRACTABLE, &t)];
    outer[3] = CK_ATTRIBUTE {
        type_: CKA_UNWRAP_TEMPLATE,
        pValue: inner.as_mut_ptr() as *mut c_void,
        ulValueLen: std::mem::size_of::<CK_ATTRIBUTE>() as CK_ULONG,
    };
    assert_eq!(call!(r, C_CreateObject, h, outer.as_mut_ptr(), 4, &mut k), CKR_OK);
    // Oversized values and templates are refused before anything is copied.
    let big = CK_ATTRIBUTE { type_: CKA_LABEL, pValue: value.as_ptr() as *mut c_void, ulValueLen: 1 << 40 };
    let mut tmpl = [big];
    assert_eq!(call!(r, C_FindObjectsInit, h, tmpl.as_mut_ptr(), 1), CKR_ATTRIBUTE_VALUE_INVALID);
    assert_eq!(call!(r, C_FindObjectsInit, h, tmpl.as_mut_ptr(), 1 << 40), CKR_ARGUMENTS_BAD);
}

#[test]
fn parameter_lengths_are_checked_before_copying() {
    let (r, h) = module_session();
    let k = aes_key(&r, h);
    let iv = [0u8; 12];
    let init = |iv_len: CK_ULONG, aad: *const u8, aad_len: CK_ULONG| {
        let mut gcm = CK_GCM_PARAMS {
            pIv: iv.as_ptr() as *mut u8,
            ulIvLen: iv_len,
            ulIvBits: 96,
            pAAD: aad as *mut u8,
            ulAADLen: aad_len,
            ulTagBits: 128,
        };
        let mut m = CK_MECHANISM {
            mechanism: CKM_AES_GCM,
            pParameter: &mut gcm as *mut _ as *mut c_void,
            ulParameterLen: std::mem::size_of::<CK_GCM_PARAMS>() as CK_ULONG,
        };
        call!(r, C_EncryptInit, h, &mut m, k)
    };
    // ulIvLen of 2^40 with a 12-byte buffer: refused, not a 1 TiB allocation; likewise the AAD.
    assert_eq!(init(1 << 40, null_mut(), 0), CKR_MECHANISM_PARAM_INVALID);
    assert_eq!(init(12, iv.as_ptr(), 1 << 40), CKR_MECHANISM_PARAM_INVALID);
    assert_eq!(init(12, null_mut(), 0), CKR_OK, "the honest parameters still work");
    let mut m = CK_MECHANISM { mechanism: CKM_AES_GCM, pParameter: iv.as_ptr() as *mut c_void, ulParameterLen: 0 };
    // A parameter length the buffer cannot have.
    m.ulParameterLen = 1 << 40;
    assert_eq!(call!(r, C_DecryptInit, h, &mut m, k), CKR_MECHANISM_PARAM_INVALID);
}

#[test]
fn a_pss_salt_length_near_the_maximum_is_refused() {
    let (r, h) = module_session();
    let (bits, t) = (2048 as CK_ULONG, CK_TRUE);
    let mut pubt = [attr(CKA_MODULUS_BITS, &bits), attr(CKA_VERIFY, &t)];
    let mut privt = [attr(CKA_SIGN, &t)];
    let mut gen = CK_MECHANISM { mechanism: CKM_RSA_PKCS_KEY_PAIR_GEN, pParameter: null_mut(), ulParameterLen: 0 };
    let (mut pk, mut sk) = (0, 0);
    let rv = call!(r, C_GenerateKeyPair, h, &mut gen, pubt.as_mut_ptr(), 2, privt.as_mut_ptr(), 1, &mut pk, &mut sk);
    assert_eq!(rv, CKR_OK);
    for s_len in [CK_ULONG::MAX, CK_ULONG::MAX - 1, 1 << 40] {
        let mut pss = CK_RSA_PKCS_PSS_PARAMS { hashAlg: CKM_SHA256, mgf: CKG_MGF1_SHA256, sLen: s_len };
        let mut m = CK_MECHANISM {
            mechanism: CKM_SHA256_RSA_PKCS_PSS,
            pParameter: &mut pss as *mut _ as *mut c_void,
            ulParameterLen: std::mem::size_of::<CK_RSA_PKCS_PSS_PARAMS>() as CK_ULONG,
        };
        assert_eq!(call!(r, C_SignInit, h, &mut m, sk), CKR_MECHANISM_PARAM_INVALID, "sLen {s_len}");
    }
}

/// PKCS#11 3.0: a call "always terminates the active operation unless it returns
/// CKR_BUFFER_TOO_SMALL or is a successful call to determine the length of the buffer needed".
#[test]
fn errors_end_operations_as_the_spec_says() {
    let (r, h) = module_session();
    let k = aes_key(&r, h);
    let iv = [0u8; 16];
    let mut m = CK_MECHANISM { mechanism: CKM_AES_CBC_PAD, pParameter: iv.as_ptr() as *mut c_void, ulParameterLen: 16 };
    let data = [1u8; 20];
    let mut out = [0u8; 64];
    let mut len: CK_ULONG = 64;
    // Whether an encryption is still active (if not, this starts the next one).
    let template_mech = m;
    let active = |r: &Raw| {
        let mut again = template_mech;
        call!(r, C_EncryptInit, h, &mut again, k) == CKR_OPERATION_ACTIVE
    };
    // A NULL length pointer ends the operation.
    assert_eq!(call!(r, C_EncryptInit, h, &mut m, k), CKR_OK);
    let rv = call!(r, C_Encrypt, h, data.as_ptr() as *mut u8, 20, out.as_mut_ptr(), null_mut());
    assert_eq!(rv, CKR_ARGUMENTS_BAD);
    assert!(!active(&r), "ended by CKR_ARGUMENTS_BAD (and begun again)");
    // CKR_BUFFER_TOO_SMALL and a length query keep it.
    let mut small: CK_ULONG = 4;
    let rv = call!(r, C_Encrypt, h, data.as_ptr() as *mut u8, 20, out.as_mut_ptr(), &mut small);
    assert_eq!(rv, CKR_BUFFER_TOO_SMALL);
    assert_eq!(call!(r, C_Encrypt, h, data.as_ptr() as *mut u8, 20, null_mut(), &mut len), CKR_OK);
    // The length query committed it to single-part: an update is refused, which ends it.
    let rv = call!(r, C_EncryptUpdate, h, data.as_ptr() as *mut u8, 20, out.as_mut_ptr(), &mut len);
    assert_eq!(rv, CKR_OPERATION_ACTIVE);
    assert_eq!(call!(r, C_EncryptFinal, h, out.as_mut_ptr(), &mut len), CKR_OPERATION_NOT_INITIALIZED);
    // A single-part call after an update: refused, and the operation is over.
    assert_eq!(call!(r, C_EncryptInit, h, &mut m, k), CKR_OK);
    len = 64;
    assert_eq!(call!(r, C_EncryptUpdate, h, data.as_ptr() as *mut u8, 16, out.as_mut_ptr(), &mut len), CKR_OK);
    len = 64;
    let rv = call!(r, C_Encrypt, h, data.as_ptr() as *mut u8, 20, out.as_mut_ptr(), &mut len);
    assert_eq!(rv, CKR_OPERATION_ACTIVE);
    assert_eq!(call!(r, C_EncryptInit, h, &mut m, k), CKR_OK, "a new operation may start");
    // Digest: the same rules.
    let mut sha = CK_MECHANISM { mechanism: CKM_SHA256, pParameter: null_mut(), ulParameterLen: 0 };
    assert_eq!(call!(r, C_DigestInit, h, &mut sha), CKR_OK);
    assert_eq!(call!(r, C_Digest, h, data.as_ptr() as *mut u8, 20, null_mut(), null_mut()), CKR_ARGUMENTS_BAD);
    assert_eq!(call!(r, C_DigestUpdate, h, data.as_ptr() as *mut u8, 20), CKR_OPERATION_NOT_INITIALIZED);
    // Argument checks come before mechanism checks.
    let mut bogus = CK_MECHANISM { mechanism: 0x7FFF_FFF0, pParameter: null_mut(), ulParameterLen: 0 };
    let mut kh: CK_OBJECT_HANDLE = 0;
    assert_eq!(call!(r, C_GenerateKey, h, &mut bogus, null_mut(), 3, &mut kh), CKR_ARGUMENTS_BAD);
    assert_eq!(call!(r, C_GenerateKey, h, &mut bogus, null_mut(), 0, null_mut()), CKR_ARGUMENTS_BAD);
    assert_eq!(call!(r, C_GenerateKey, h, &mut bogus, null_mut(), 0, &mut kh), CKR_MECHANISM_INVALID);
}

/// A proxy that writes into the `CK_INTERFACE` it receives (Debian 12's pkcs11-spy does) must not
/// crash the host, and later callers still get our table.
#[test]
fn a_caller_may_write_into_the_interface_it_receives() {
    let _env = env_lock();
    let r = Raw::load();
    let get: unsafe extern "C" fn(*mut CK_UTF8CHAR, *mut CK_VERSION, *mut *mut CK_INTERFACE, CK_FLAGS) -> CK_RV =
        unsafe { std::mem::transmute(r.sym(c"C_GetInterface")) };
    let mut p: *mut CK_INTERFACE = null_mut();
    assert_eq!(unsafe { get(null_mut(), null_mut(), &mut p, 0) }, CKR_OK);
    let ours = unsafe { (*p).pFunctionList };
    // What the spy does: put its own function list in the struct.
    unsafe { (*p).pFunctionList = 0x1234 as *mut c_void };
    let mut q: *mut CK_INTERFACE = null_mut();
    assert_eq!(unsafe { get(null_mut(), null_mut(), &mut q, 0) }, CKR_OK);
    assert_eq!(unsafe { (*q).pFunctionList }, ours);
}

#[test]
fn sign_and_copy_follow_the_same_rules() {
    let (r, h) = module_session();
    let k = aes_key(&r, h);
    // C_CopyObject naming an attribute that cannot change.
    let (class, local) = (CKO_DATA, CK_TRUE);
    let mut c: CK_OBJECT_HANDLE = 0;
    for mut t in [[attr(CKA_CLASS, &class)], [attr(CKA_LOCAL, &local)]] {
        assert_eq!(call!(r, C_CopyObject, h, k, t.as_mut_ptr(), 1, &mut c), CKR_ATTRIBUTE_READ_ONLY);
    }
    // Sign: a NULL length pointer ends the operation; a length query commits it to single-part.
    let (kt, value, t) = (CKK_GENERIC_SECRET, [5u8; 32], CK_TRUE);
    let (class, data) = (CKO_SECRET_KEY, [3u8; 10]);
    let mut tm = [
        attr(CKA_CLASS, &class),
        attr(CKA_KEY_TYPE, &kt),
        attr(CKA_SIGN, &t),
        CK_ATTRIBUTE { type_: CKA_VALUE, pValue: value.as_ptr() as *mut c_void, ulValueLen: 32 },
    ];
    let mut mk: CK_OBJECT_HANDLE = 0;
    assert_eq!(call!(r, C_CreateObject, h, tm.as_mut_ptr(), 4, &mut mk), CKR_OK);
    let mut m = CK_MECHANISM { mechanism: CKM_SHA256_HMAC, pParameter: null_mut(), ulParameterLen: 0 };
    assert_eq!(call!(r, C_SignInit, h, &mut m, mk), CKR_OK);
    assert_eq!(call!(r, C_Sign, h, data.as_ptr() as *mut u8, 10, null_mut(), null_mut()), CKR_ARGUMENTS_BAD);
    assert_eq!(call!(r, C_SignUpdate, h, data.as_ptr() as *mut u8, 10), CKR_OPERATION_NOT_INITIALIZED);
    assert_eq!(call!(r, C_SignInit, h, &mut m, mk), CKR_OK);
    let mut len: CK_ULONG = 0;
    assert_eq!(call!(r, C_Sign, h, data.as_ptr() as *mut u8, 10, null_mut(), &mut len), CKR_OK);
    assert_eq!(len, 32);
    assert_eq!(call!(r, C_SignUpdate, h, data.as_ptr() as *mut u8, 10), CKR_OPERATION_ACTIVE);
    assert_eq!(call!(r, C_SignFinal, h, null_mut(), &mut len), CKR_OPERATION_NOT_INITIALIZED);
    // Verify after an update: a single-part C_Verify is refused and ends it.
    assert_eq!(call!(r, C_VerifyInit, h, &mut m, mk), CKR_OK);
    assert_eq!(call!(r, C_VerifyUpdate, h, data.as_ptr() as *mut u8, 10), CKR_OK);
    let mut sig = [0u8; 32];
    let rv = call!(r, C_Verify, h, data.as_ptr() as *mut u8, 10, sig.as_mut_ptr(), 32);
    assert_eq!(rv, CKR_OPERATION_ACTIVE);
    assert_eq!(call!(r, C_VerifyFinal, h, sig.as_mut_ptr(), 32), CKR_OPERATION_NOT_INITIALIZED);
}
