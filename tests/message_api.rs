//! PKCS#11 3.0's message-based functions through the `.so`'s 3.0 interface: AES-GCM messages
//! against the GCM specification's test case 16 (whole and in parts), the token making IVs
//! (a counter that never repeats, random), the tag refused when altered
//! (`CKR_AEAD_DECRYPT_FAILED`), and HMAC message signing equal to `C_Sign`'s.

#[macro_use]
mod common;
use common::*;
use cryptoki_sys::*;
use std::ffi::c_void;
use std::ptr::null_mut;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

fn attr<T>(ty: CK_ATTRIBUTE_TYPE, v: &[T]) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE { type_: ty, pValue: v.as_ptr() as *mut c_void, ulValueLen: std::mem::size_of_val(v) as CK_ULONG }
}

fn secret(r: &Raw, s: CK_SESSION_HANDLE, kt: CK_KEY_TYPE, value: &[u8], extra: &[CK_ATTRIBUTE]) -> CK_OBJECT_HANDLE {
    let (class, kt, yes, no) = ([CKO_SECRET_KEY], [kt], [CK_TRUE], [CK_FALSE]);
    let mut t = vec![attr(CKA_CLASS, &class), attr(CKA_KEY_TYPE, &kt), attr(CKA_VALUE, value), attr(CKA_TOKEN, &no)];
    if kt[0] == CKK_AES {
        t.extend([attr(CKA_ENCRYPT, &yes), attr(CKA_DECRYPT, &yes)]);
    } else {
        t.extend([attr(CKA_SIGN, &yes), attr(CKA_VERIFY, &yes)]);
    }
    t.extend_from_slice(extra);
    let mut k = 0;
    assert_eq!(call!(r, C_CreateObject, s, t.as_mut_ptr(), t.len() as CK_ULONG, &mut k), CKR_OK);
    k
}

const KEY: &str = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
const IV: &str = "cafebabefacedbaddecaf888";
const AAD: &str = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
const PT: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
const CT: &str = "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662";
const TAG: &str = "76fc6ece0f4e1768cddf8853bb2d551b";

fn gcm_init() -> CK_MECHANISM {
    CK_MECHANISM { mechanism: CKM_AES_GCM, pParameter: null_mut(), ulParameterLen: 0 }
}

fn params(iv: &mut [u8], fixed: CK_ULONG, generator: CK_GENERATOR_FUNCTION, tag: &mut [u8]) -> CK_GCM_MESSAGE_PARAMS {
    CK_GCM_MESSAGE_PARAMS {
        pIv: iv.as_mut_ptr(),
        ulIvLen: iv.len() as CK_ULONG,
        ulIvFixedBits: fixed,
        ivGenerator: generator,
        pTag: tag.as_mut_ptr(),
        ulTagBits: (tag.len() * 8) as CK_ULONG,
    }
}

const PSIZE: CK_ULONG = std::mem::size_of::<CK_GCM_MESSAGE_PARAMS>() as CK_ULONG;

#[test]
fn gcm_messages_give_the_spec_answers_whole_and_in_parts() {
    let (r, s) = module_session();
    let f = list_3_0(&r);
    let key = secret(&r, s, CKK_AES, &h(KEY), &[]);
    let (pt, aad) = (h(PT), h(AAD));
    let mut m = gcm_init();
    assert_eq!(unsafe { f.C_MessageEncryptInit.unwrap()(s, &mut m, key) }, CKR_OK);
    assert_eq!(unsafe { f.C_MessageEncryptInit.unwrap()(s, &mut m, key) }, CKR_OPERATION_ACTIVE);
    let (mut iv, mut tag) = (h(IV), vec![0u8; 16]);
    let mut p = params(&mut iv, 0, CKG_NO_GENERATE, &mut tag);
    let pp = &mut p as *mut _ as *mut c_void;
    let (a, al) = (aad.as_ptr() as *mut u8, aad.len() as CK_ULONG);
    // Length first, then the message.
    let mut n: CK_ULONG = 0;
    let rv = unsafe {
        f.C_EncryptMessage.unwrap()(
            s,
            pp,
            PSIZE,
            a,
            al,
            pt.as_ptr() as *mut u8,
            pt.len() as CK_ULONG,
            null_mut(),
            &mut n,
        )
    };
    assert_eq!((rv, n as usize), (CKR_OK, pt.len()));
    let mut ct = vec![0u8; n as usize];
    let rv = unsafe {
        f.C_EncryptMessage.unwrap()(
            s,
            pp,
            PSIZE,
            a,
            al,
            pt.as_ptr() as *mut u8,
            pt.len() as CK_ULONG,
            ct.as_mut_ptr(),
            &mut n,
        )
    };
    assert_eq!(rv, CKR_OK);
    assert_eq!((ct.clone(), tag.clone()), (h(CT), h(TAG)));
    // In three parts: no output until the last, then the same answer.
    let mut tag2 = vec![0u8; 16];
    let mut iv2 = h(IV);
    let mut p2 = params(&mut iv2, 0, CKG_NO_GENERATE, &mut tag2);
    let pp2 = &mut p2 as *mut _ as *mut c_void;
    assert_eq!(unsafe { f.C_EncryptMessageBegin.unwrap()(s, pp2, PSIZE, a, al) }, CKR_OK);
    let mut out = vec![0u8; pt.len()];
    let mut got = Vec::new();
    for (i, part) in pt.chunks(25).enumerate() {
        let last = (i + 1) * 25 >= pt.len();
        let mut n = out.len() as CK_ULONG;
        let flags = if last { CKF_END_OF_MESSAGE } else { 0 };
        let rv = unsafe {
            f.C_EncryptMessageNext.unwrap()(
                s,
                pp2,
                PSIZE,
                part.as_ptr() as *mut u8,
                part.len() as CK_ULONG,
                out.as_mut_ptr(),
                &mut n,
                flags,
            )
        };
        assert_eq!(rv, CKR_OK);
        got.extend_from_slice(&out[..n as usize]);
    }
    assert_eq!((got, tag2), (h(CT), h(TAG)));
    assert_eq!(unsafe { f.C_MessageEncryptFinal.unwrap()(s) }, CKR_OK);
    assert_eq!(unsafe { f.C_MessageEncryptFinal.unwrap()(s) }, CKR_OPERATION_NOT_INITIALIZED);

    // Decryption with the tag; an altered tag is refused.
    assert_eq!(unsafe { f.C_MessageDecryptInit.unwrap()(s, &mut m, key) }, CKR_OK);
    let (mut iv, mut tag) = (h(IV), h(TAG));
    let mut p = params(&mut iv, 0, CKG_NO_GENERATE, &mut tag);
    let pp = &mut p as *mut _ as *mut c_void;
    let mut back = vec![0u8; ct.len()];
    let mut n = back.len() as CK_ULONG;
    let rv = unsafe {
        f.C_DecryptMessage.unwrap()(
            s,
            pp,
            PSIZE,
            a,
            al,
            ct.as_mut_ptr(),
            ct.len() as CK_ULONG,
            back.as_mut_ptr(),
            &mut n,
        )
    };
    assert_eq!(rv, CKR_OK);
    assert_eq!(back, pt);
    tag[0] ^= 1;
    let mut p = params(&mut iv, 0, CKG_NO_GENERATE, &mut tag);
    let pp = &mut p as *mut _ as *mut c_void;
    let rv = unsafe {
        f.C_DecryptMessage.unwrap()(
            s,
            pp,
            PSIZE,
            a,
            al,
            ct.as_mut_ptr(),
            ct.len() as CK_ULONG,
            back.as_mut_ptr(),
            &mut n,
        )
    };
    assert_eq!(rv, CKR_AEAD_DECRYPT_FAILED);
    assert_eq!(unsafe { f.C_MessageDecryptFinal.unwrap()(s) }, CKR_OK);
    assert_eq!(call!(r, C_Finalize, null_mut()), CKR_OK);
}

#[test]
fn the_token_makes_ivs_that_never_repeat() {
    let (r, s) = module_session();
    let f = list_3_0(&r);
    let key = secret(&r, s, CKK_AES, &h(KEY), &[]);
    let mut m = gcm_init();
    assert_eq!(unsafe { f.C_MessageEncryptInit.unwrap()(s, &mut m, key) }, CKR_OK);
    let pt = b"one message".to_vec();
    let seal = |generator: CK_GENERATOR_FUNCTION, query_first: bool| {
        let (mut iv, mut tag) = ([0xAAu8; 12], [0u8; 16]);
        let mut p = params(&mut iv, 32, generator, &mut tag);
        let pp = &mut p as *mut _ as *mut c_void;
        let mut ct = vec![0u8; pt.len()];
        let mut n = ct.len() as CK_ULONG;
        if query_first {
            let rv = unsafe {
                f.C_EncryptMessage.unwrap()(
                    s,
                    pp,
                    PSIZE,
                    null_mut(),
                    0,
                    pt.as_ptr() as *mut u8,
                    pt.len() as CK_ULONG,
                    null_mut(),
                    &mut n,
                )
            };
            assert_eq!(rv, CKR_OK);
        }
        let rv = unsafe {
            f.C_EncryptMessage.unwrap()(
                s,
                pp,
                PSIZE,
                null_mut(),
                0,
                pt.as_ptr() as *mut u8,
                pt.len() as CK_ULONG,
                ct.as_mut_ptr(),
                &mut n,
            )
        };
        assert_eq!(rv, CKR_OK);
        (iv, ct, tag)
    };
    let (iv0, _, _) = seal(CKG_GENERATE_COUNTER, true);
    let (iv1, c1, _) = seal(CKG_GENERATE_COUNTER, false);
    // The fixed 32 bits stay; the counter counts from 0, and a length query made no IV.
    assert_eq!(&iv0[..4], &[0xAA; 4]);
    assert_eq!(&iv0[4..], &[0u8; 8]);
    assert_eq!(&iv1[4..], &[0, 0, 0, 0, 0, 0, 0, 1]);
    let (ivr, cr, _) = seal(CKG_GENERATE_RANDOM, false);
    assert_eq!(&ivr[..4], &[0xAA; 4]);
    assert_ne!((ivr, cr), (iv1, c1), "another IV, another ciphertext");
    // Too few free bits for a counter.
    let (mut iv, mut tag) = ([0u8; 12], [0u8; 16]);
    let mut p = params(&mut iv, 80, CKG_GENERATE_COUNTER, &mut tag);
    let mut n: CK_ULONG = 16;
    let mut out = [0u8; 16];
    let rv = unsafe {
        f.C_EncryptMessage.unwrap()(
            s,
            &mut p as *mut _ as *mut c_void,
            PSIZE,
            null_mut(),
            0,
            pt.as_ptr() as *mut u8,
            pt.len() as CK_ULONG,
            out.as_mut_ptr(),
            &mut n,
        )
    };
    assert_eq!(rv, CKR_MECHANISM_PARAM_INVALID);
    assert_eq!(call!(r, C_Finalize, null_mut()), CKR_OK);
}

#[test]
fn hmac_messages_equal_c_sign_and_keys_keep_their_rules() {
    let (r, s) = module_session();
    let f = list_3_0(&r);
    let key = secret(&r, s, CKK_GENERIC_SECRET, &[0x0b; 32], &[]);
    let data = b"a message signed through the 3.0 message API".to_vec();
    let mut m = CK_MECHANISM { mechanism: CKM_SHA256_HMAC, pParameter: null_mut(), ulParameterLen: 0 };
    assert_eq!(call!(r, C_SignInit, s, &mut m, key), CKR_OK);
    let (mut want, mut n) = (vec![0u8; 32], 32 as CK_ULONG);
    assert_eq!(
        call!(r, C_Sign, s, data.as_ptr() as *mut u8, data.len() as CK_ULONG, want.as_mut_ptr(), &mut n),
        CKR_OK
    );
    assert_eq!(unsafe { f.C_MessageSignInit.unwrap()(s, &mut m, key) }, CKR_OK);
    let (mut sig, mut n) = (vec![0u8; 32], 32 as CK_ULONG);
    let rv = unsafe {
        f.C_SignMessage.unwrap()(
            s,
            null_mut(),
            0,
            data.as_ptr() as *mut u8,
            data.len() as CK_ULONG,
            sig.as_mut_ptr(),
            &mut n,
        )
    };
    assert_eq!((rv, &sig), (CKR_OK, &want));
    // In parts: NULL signature length for every part but the last.
    assert_eq!(unsafe { f.C_SignMessageBegin.unwrap()(s, null_mut(), 0) }, CKR_OK);
    let (head, tail) = data.split_at(10);
    let rv = unsafe {
        f.C_SignMessageNext.unwrap()(
            s,
            null_mut(),
            0,
            head.as_ptr() as *mut u8,
            head.len() as CK_ULONG,
            null_mut(),
            null_mut(),
        )
    };
    assert_eq!(rv, CKR_OK);
    let (mut sig2, mut n) = (vec![0u8; 32], 32 as CK_ULONG);
    let rv = unsafe {
        f.C_SignMessageNext.unwrap()(
            s,
            null_mut(),
            0,
            tail.as_ptr() as *mut u8,
            tail.len() as CK_ULONG,
            sig2.as_mut_ptr(),
            &mut n,
        )
    };
    assert_eq!((rv, &sig2), (CKR_OK, &want));
    assert_eq!(unsafe { f.C_MessageSignFinal.unwrap()(s) }, CKR_OK);
    assert_eq!(unsafe { f.C_MessageVerifyInit.unwrap()(s, &mut m, key) }, CKR_OK);
    let rv = unsafe {
        f.C_VerifyMessage.unwrap()(
            s,
            null_mut(),
            0,
            data.as_ptr() as *mut u8,
            data.len() as CK_ULONG,
            want.as_mut_ptr(),
            32,
        )
    };
    assert_eq!(rv, CKR_OK);
    want[0] ^= 1;
    let rv = unsafe {
        f.C_VerifyMessage.unwrap()(
            s,
            null_mut(),
            0,
            data.as_ptr() as *mut u8,
            data.len() as CK_ULONG,
            want.as_mut_ptr(),
            32,
        )
    };
    assert_eq!(rv, CKR_SIGNATURE_INVALID);
    // A key that may not encrypt does not encrypt messages; GCM does not sign them.
    let no = [CK_FALSE];
    let locked = {
        let (class, kt) = ([CKO_SECRET_KEY], [CKK_AES]);
        let value = h(KEY);
        let mut t = [
            attr(CKA_CLASS, &class),
            attr(CKA_KEY_TYPE, &kt),
            attr(CKA_VALUE, &value),
            attr(CKA_TOKEN, &no),
            attr(CKA_ENCRYPT, &no),
        ];
        let mut k = 0;
        assert_eq!(call!(r, C_CreateObject, s, t.as_mut_ptr(), t.len() as CK_ULONG, &mut k), CKR_OK);
        k
    };
    let mut g = gcm_init();
    assert_eq!(unsafe { f.C_MessageEncryptInit.unwrap()(s, &mut g, locked) }, CKR_KEY_FUNCTION_NOT_PERMITTED);
    assert_eq!(unsafe { f.C_MessageSignInit.unwrap()(s, &mut g, locked) }, CKR_MECHANISM_INVALID);
    // The mechanism says what it offers to a 3.0 caller.
    // SAFETY: a plain C struct; the call fills it.
    let mut info: CK_MECHANISM_INFO = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { f.C_GetMechanismInfo.unwrap()(MODULE_SLOT_ID, CKM_AES_GCM, &mut info) }, CKR_OK);
    assert_ne!(info.flags & CKF_MESSAGE_ENCRYPT, 0);
    assert_eq!(call!(r, C_Finalize, null_mut()), CKR_OK);
}
