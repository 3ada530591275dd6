//! The ABI entry points called directly, in-process, as a unit test: the one way to run the
//! marshalling layer under AddressSanitizer/LeakSanitizer (an ASan-built `.so` cannot be
//! dlopen'ed by ordinary test binaries). The same calls run in every ordinary `cargo test`.

use super::fns::*;
use cryptoki_sys::*;
use std::ffi::c_void;
use std::ptr::null_mut;

fn attr<T>(type_: CK_ATTRIBUTE_TYPE, v: &T) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE { type_, pValue: v as *const T as *mut c_void, ulValueLen: std::mem::size_of::<T>() as CK_ULONG }
}

fn bytes(type_: CK_ATTRIBUTE_TYPE, v: &[u8]) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE { type_, pValue: v.as_ptr() as *mut c_void, ulValueLen: v.len() as CK_ULONG }
}

#[test]
fn a_session_through_the_entry_points() {
    let dir = tempfile::tempdir().unwrap();
    // This test is the only one in the crate that uses the ABI's process-wide state.
    std::env::set_var("SHIELDHSM_KMDATA", dir.path().join("kmdata"));
    // SAFETY: (all calls below) every pointer addresses a live local of the stated length.
    unsafe {
        assert_eq!(C_Initialize(null_mut()), CKR_OK);
        let mut slots = [0 as CK_SLOT_ID; 4];
        let mut n: CK_ULONG = 4;
        assert_eq!(C_GetSlotList(CK_TRUE, slots.as_mut_ptr(), &mut n), CKR_OK);
        // A fresh store: the free slot and the module slot (id 0), which is listed last.
        assert_eq!(&slots[..n as usize], &[1, crate::token::MODULE_SLOT]);
        let free = slots[0];
        let (so, user) = (b"5678-so", b"1234-user");
        let mut label = [b' '; 32];
        assert_eq!(C_InitToken(free, so.as_ptr() as *mut _, 7, label.as_mut_ptr()), CKR_OK);
        let mut h: CK_SESSION_HANDLE = 0;
        let rw = CKF_SERIAL_SESSION | CKF_RW_SESSION;
        assert_eq!(C_OpenSession(free, rw, null_mut(), None, &mut h), CKR_OK);
        assert_eq!(C_Login(h, CKU_SO, so.as_ptr() as *mut _, 7), CKR_OK);
        assert_eq!(C_InitPIN(h, user.as_ptr() as *mut _, 9), CKR_OK);
        assert_eq!(C_Logout(h), CKR_OK);
        assert_eq!(C_Login(h, CKU_USER, user.as_ptr() as *mut _, 9), CKR_OK);

        // A hostile template: refused, nothing leaks.
        let (class, kt, value, t) = (CKO_SECRET_KEY, CKK_AES, [7u8; 16], CK_TRUE);
        let mut tmpl =
            [attr(CKA_CLASS, &class), attr(CKA_KEY_TYPE, &kt), bytes(CKA_VALUE, &value), attr(CKA_TOKEN, &t)];
        let me = tmpl.as_mut_ptr();
        tmpl[3] = CK_ATTRIBUTE { type_: CKA_WRAP_TEMPLATE, pValue: me as *mut c_void, ulValueLen: 4 * 24 };
        let mut k: CK_OBJECT_HANDLE = 0;
        assert_eq!(C_CreateObject(h, tmpl.as_mut_ptr(), 4, &mut k), CKR_ATTRIBUTE_VALUE_INVALID);

        // A token key: generate, encrypt and decrypt with the two-call convention, read.
        let len: CK_ULONG = 32;
        let mut gen = [attr(CKA_VALUE_LEN, &len), attr(CKA_TOKEN, &t), bytes(CKA_LABEL, b"direct")];
        let mut kg = CK_MECHANISM { mechanism: CKM_AES_KEY_GEN, pParameter: null_mut(), ulParameterLen: 0 };
        assert_eq!(C_GenerateKey(h, &mut kg, gen.as_mut_ptr(), 3, &mut k), CKR_OK);
        let iv = [1u8; 16];
        let mut cbc =
            CK_MECHANISM { mechanism: CKM_AES_CBC_PAD, pParameter: iv.as_ptr() as *mut _, ulParameterLen: 16 };
        let data = [9u8; 33];
        assert_eq!(C_EncryptInit(h, &mut cbc, k), CKR_OK);
        let mut out_len: CK_ULONG = 0;
        assert_eq!(C_Encrypt(h, data.as_ptr() as *mut _, 33, null_mut(), &mut out_len), CKR_OK);
        let mut ct = vec![0u8; out_len as usize];
        assert_eq!(C_Encrypt(h, data.as_ptr() as *mut _, 33, ct.as_mut_ptr(), &mut out_len), CKR_OK);
        assert_eq!(C_DecryptInit(h, &mut cbc, k), CKR_OK);
        let mut pt = [0u8; 48];
        let mut pt_len: CK_ULONG = 48;
        assert_eq!(C_Decrypt(h, ct.as_mut_ptr(), out_len, pt.as_mut_ptr(), &mut pt_len), CKR_OK);
        assert_eq!(&pt[..pt_len as usize], &data[..]);
        let mut lab = [0u8; 6];
        let mut read = [bytes(CKA_LABEL, &lab), bytes(CKA_VALUE, &[0u8; 32])];
        read[0].pValue = lab.as_mut_ptr() as *mut c_void;
        assert_eq!(C_GetAttributeValue(h, k, read.as_mut_ptr(), 2), CKR_ATTRIBUTE_SENSITIVE);
        assert_eq!(&lab, b"direct");

        // A key pair: sign and verify; find; destroy.
        let bits: CK_ULONG = 2048;
        let mut pubt = [attr(CKA_MODULUS_BITS, &bits)];
        let mut privt = [attr(CKA_SIGN, &t)];
        let mut kp = CK_MECHANISM { mechanism: CKM_RSA_PKCS_KEY_PAIR_GEN, pParameter: null_mut(), ulParameterLen: 0 };
        let (mut pk, mut sk) = (0, 0);
        assert_eq!(
            C_GenerateKeyPair(h, &mut kp, pubt.as_mut_ptr(), 1, privt.as_mut_ptr(), 1, &mut pk, &mut sk),
            CKR_OK
        );
        let mut sha = CK_MECHANISM { mechanism: CKM_SHA256_RSA_PKCS, pParameter: null_mut(), ulParameterLen: 0 };
        assert_eq!(C_SignInit(h, &mut sha, sk), CKR_OK);
        let mut sig = [0u8; 256];
        let mut sig_len: CK_ULONG = 256;
        assert_eq!(C_Sign(h, data.as_ptr() as *mut _, 33, sig.as_mut_ptr(), &mut sig_len), CKR_OK);
        assert_eq!(C_VerifyInit(h, &mut sha, pk), CKR_OK);
        assert_eq!(C_Verify(h, data.as_ptr() as *mut _, 33, sig.as_mut_ptr(), sig_len), CKR_OK);
        let mut find = [bytes(CKA_LABEL, b"direct")];
        assert_eq!(C_FindObjectsInit(h, find.as_mut_ptr(), 1), CKR_OK);
        let mut found = [0 as CK_OBJECT_HANDLE; 4];
        let mut count: CK_ULONG = 0;
        assert_eq!(C_FindObjects(h, found.as_mut_ptr(), 4, &mut count), CKR_OK);
        assert_eq!((count, found[0]), (1, k));
        assert_eq!(C_FindObjectsFinal(h), CKR_OK);
        assert_eq!(C_DestroyObject(h, k), CKR_OK);
        assert_eq!(C_CloseSession(h), CKR_OK);
        assert_eq!(C_Finalize(null_mut()), CKR_OK);
    }
}
