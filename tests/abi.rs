//! The raw C ABI, called as a C program would: function tables and interfaces, C_Initialize
//! rules, NULL pointers, the two-call length convention, and fork.

#[macro_use]
mod common;
use common::*;
use cryptoki_sys::*;
use std::ffi::c_void;
use std::ptr::null_mut;

#[test]
fn initialize_finalize_rules() {
    let _env = env_lock();
    let r = Raw::load();
    assert_eq!(r.f.version.major, 2);
    assert_eq!(r.f.version.minor, 40);
    let mut info: CK_INFO = unsafe { std::mem::zeroed() };
    assert_eq!(call!(r, C_GetInfo, &mut info), CKR_CRYPTOKI_NOT_INITIALIZED);
    assert_eq!(call!(r, C_Initialize, null_mut()), CKR_OK);
    assert_eq!(call!(r, C_Initialize, null_mut()), CKR_CRYPTOKI_ALREADY_INITIALIZED);
    assert_eq!(call!(r, C_GetInfo, &mut info), CKR_OK);
    assert_eq!((info.cryptokiVersion.major, info.cryptokiVersion.minor), (2, 40));
    assert_eq!(call!(r, C_GetInfo, null_mut()), CKR_ARGUMENTS_BAD);
    assert_eq!(call!(r, C_Finalize, std::ptr::dangling_mut::<c_void>()), CKR_ARGUMENTS_BAD);
    assert_eq!(call!(r, C_Finalize, null_mut()), CKR_OK);
    assert_eq!(call!(r, C_Finalize, null_mut()), CKR_CRYPTOKI_NOT_INITIALIZED);
    // Reserved must be NULL; mutex callbacks all or none.
    let mut args: CK_C_INITIALIZE_ARGS = unsafe { std::mem::zeroed() };
    args.pReserved = std::ptr::dangling_mut::<c_void>();
    assert_eq!(call!(r, C_Initialize, &mut args as *mut _ as *mut c_void), CKR_ARGUMENTS_BAD);
    args.pReserved = null_mut();
    unsafe extern "C" fn create(m: *mut *mut c_void) -> CK_RV {
        unsafe { *m = Box::into_raw(Box::new(0u8)) as *mut c_void };
        CKR_OK
    }
    args.CreateMutex = Some(create);
    assert_eq!(call!(r, C_Initialize, &mut args as *mut _ as *mut c_void), CKR_ARGUMENTS_BAD);
    args.CreateMutex = None;
    args.flags = CKF_OS_LOCKING_OK;
    assert_eq!(call!(r, C_Initialize, &mut args as *mut _ as *mut c_void), CKR_OK);
    assert_eq!(call!(r, C_Finalize, null_mut()), CKR_OK);
}

#[test]
fn interfaces_for_null_name_and_versions() {
    let _env = env_lock();
    let r = Raw::load();
    type GetIf = unsafe extern "C" fn(*mut CK_UTF8CHAR, *mut CK_VERSION, *mut *mut CK_INTERFACE, CK_FLAGS) -> CK_RV;
    type GetIfList = unsafe extern "C" fn(*mut CK_INTERFACE, *mut CK_ULONG) -> CK_RV;
    let get: GetIf = unsafe { std::mem::transmute(r.sym(c"C_GetInterface")) };
    let list: GetIfList = unsafe { std::mem::transmute(r.sym(c"C_GetInterfaceList")) };
    let mut n: CK_ULONG = 0;
    assert_eq!(unsafe { list(null_mut(), &mut n) }, CKR_OK);
    assert!(n >= 2);
    let mut small: CK_ULONG = 1;
    let mut buf: Vec<CK_INTERFACE> = (0..n).map(|_| unsafe { std::mem::zeroed() }).collect();
    assert_eq!(unsafe { list(buf.as_mut_ptr(), &mut small) }, CKR_BUFFER_TOO_SMALL);
    assert_eq!(small, n);
    // NULL name and version: the newest "PKCS 11" interface, 3.0.
    let mut i: *mut CK_INTERFACE = null_mut();
    assert_eq!(unsafe { get(null_mut(), null_mut(), &mut i, 0) }, CKR_OK);
    let iface = unsafe { &*i };
    let name = unsafe { std::ffi::CStr::from_ptr(iface.pInterfaceName as *const _) };
    assert_eq!(name.to_str().unwrap(), "PKCS 11");
    let f3 = unsafe { &*(iface.pFunctionList as *const CK_FUNCTION_LIST_3_0) };
    assert_eq!((f3.version.major, f3.version.minor), (3, 0));
    assert!(f3.C_LoginUser.is_some() && f3.C_SessionCancel.is_some());
    // Asking for 2.40 by name gives the 2.40 table.
    let mut v = CK_VERSION { major: 2, minor: 40 };
    assert_eq!(unsafe { get(c"PKCS 11".as_ptr() as *mut _, &mut v, &mut i, 0) }, CKR_OK);
    let f2 = unsafe { &*((*i).pFunctionList as *const CK_FUNCTION_LIST) };
    assert_eq!((f2.version.major, f2.version.minor), (2, 40));
    // Unknown name.
    assert_eq!(unsafe { get(c"Nope".as_ptr() as *mut _, null_mut(), &mut i, 0) }, CKR_ARGUMENTS_BAD);
    // The 3.0 C_GetInfo reports 3.0.
    assert_eq!(unsafe { (f3.C_Initialize.unwrap())(null_mut()) }, CKR_OK);
    let mut info: CK_INFO = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { (f3.C_GetInfo.unwrap())(&mut info) }, CKR_OK);
    assert_eq!(info.cryptokiVersion.major, 3);
    // The message API is honestly unsupported.
    assert_eq!(unsafe { (f3.C_MessageEncryptFinal.unwrap())(12345) }, CKR_SESSION_HANDLE_INVALID);
    assert_eq!(unsafe { (f3.C_Finalize.unwrap())(null_mut()) }, CKR_OK);
}

#[test]
fn null_pointers_and_two_call_lengths() {
    let _env = env_lock();
    let r = Raw::load();
    assert_eq!(call!(r, C_Initialize, null_mut()), CKR_OK);
    // Slot list: NULL buffer gives the count; a short buffer gets BUFFER_TOO_SMALL and the count.
    assert_eq!(call!(r, C_GetSlotList, CK_TRUE, null_mut(), null_mut()), CKR_ARGUMENTS_BAD);
    let mut n: CK_ULONG = 0;
    assert_eq!(call!(r, C_GetSlotList, CK_TRUE, null_mut(), &mut n), CKR_OK);
    assert_eq!(n, 2);
    let mut one: CK_ULONG = 1;
    let mut slots = [0 as CK_SLOT_ID; 4];
    assert_eq!(call!(r, C_GetSlotList, CK_TRUE, slots.as_mut_ptr(), &mut one), CKR_BUFFER_TOO_SMALL);
    assert_eq!(one, 2);
    assert_eq!(call!(r, C_GetSlotList, CK_TRUE, slots.as_mut_ptr(), &mut n), CKR_OK);
    // Login tokens first, the module slot (id 0) last: the free slot leads on a fresh store.
    assert_eq!(slots[1], MODULE_SLOT_ID);
    let free = slots[0];
    assert_eq!(free, raw_free_slot(&r));
    // Init token with a NULL PIN of nonzero length.
    let mut label = [b' '; 32];
    label[..3].copy_from_slice(b"raw");
    assert_eq!(call!(r, C_InitToken, free, null_mut(), 4, label.as_mut_ptr()), CKR_ARGUMENTS_BAD);
    let so = SO_PIN.as_bytes();
    assert_eq!(call!(r, C_InitToken, free, so.as_ptr() as *mut _, so.len() as CK_ULONG, label.as_mut_ptr()), CKR_OK);
    assert_eq!(
        call!(r, C_InitToken, 999, so.as_ptr() as *mut _, so.len() as CK_ULONG, label.as_mut_ptr()),
        CKR_SLOT_ID_INVALID
    );
    let mut h: CK_SESSION_HANDLE = 0;
    assert_eq!(
        call!(r, C_OpenSession, free, CKF_RW_SESSION, null_mut(), None, &mut h),
        CKR_SESSION_PARALLEL_NOT_SUPPORTED
    );
    assert_eq!(
        call!(r, C_OpenSession, free, CKF_SERIAL_SESSION | CKF_RW_SESSION, null_mut(), None, null_mut()),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(call!(r, C_OpenSession, free, CKF_SERIAL_SESSION | CKF_RW_SESSION, null_mut(), None, &mut h), CKR_OK);
    // Session handles are never reused.
    let mut h2: CK_SESSION_HANDLE = 0;
    assert_eq!(call!(r, C_OpenSession, free, CKF_SERIAL_SESSION, null_mut(), None, &mut h2), CKR_OK);
    assert_eq!(call!(r, C_CloseSession, h2), CKR_OK);
    let mut h3: CK_SESSION_HANDLE = 0;
    assert_eq!(call!(r, C_OpenSession, free, CKF_SERIAL_SESSION, null_mut(), None, &mut h3), CKR_OK);
    assert!(h3 != h2 && h3 != h);
    assert_eq!(call!(r, C_CloseSession, h2), CKR_SESSION_HANDLE_INVALID);

    // A data object, then attribute reads with the two-call convention.
    let class: CK_OBJECT_CLASS = CKO_DATA;
    let value = b"attribute-value".to_vec();
    let mut t = [
        CK_ATTRIBUTE {
            type_: CKA_CLASS,
            pValue: &class as *const _ as *mut c_void,
            ulValueLen: std::mem::size_of::<CK_OBJECT_CLASS>() as CK_ULONG,
        },
        CK_ATTRIBUTE { type_: CKA_VALUE, pValue: value.as_ptr() as *mut c_void, ulValueLen: value.len() as CK_ULONG },
    ];
    let mut obj: CK_OBJECT_HANDLE = 0;
    assert_eq!(call!(r, C_CreateObject, h, t.as_mut_ptr(), 2, null_mut()), CKR_ARGUMENTS_BAD);
    assert_eq!(call!(r, C_CreateObject, h, null_mut(), 2, &mut obj), CKR_ARGUMENTS_BAD);
    // A CK_ULONG attribute of the wrong size.
    let mut bad = [CK_ATTRIBUTE { type_: CKA_CLASS, pValue: &class as *const _ as *mut c_void, ulValueLen: 3 }];
    assert_eq!(call!(r, C_CreateObject, h, bad.as_mut_ptr(), 1, &mut obj), CKR_ATTRIBUTE_VALUE_INVALID);
    assert_eq!(call!(r, C_CreateObject, h, t.as_mut_ptr(), 2, &mut obj), CKR_OK);
    let mut q = [
        CK_ATTRIBUTE { type_: CKA_VALUE, pValue: null_mut(), ulValueLen: 0 },
        CK_ATTRIBUTE { type_: CKA_MODULUS, pValue: null_mut(), ulValueLen: 0 },
    ];
    assert_eq!(call!(r, C_GetAttributeValue, h, obj, q.as_mut_ptr(), 2), CKR_ATTRIBUTE_TYPE_INVALID);
    assert_eq!(q[0].ulValueLen as usize, value.len());
    assert_eq!(q[1].ulValueLen, CK_UNAVAILABLE_INFORMATION);
    let mut small = [0u8; 4];
    let mut q1 = [CK_ATTRIBUTE { type_: CKA_VALUE, pValue: small.as_mut_ptr() as *mut c_void, ulValueLen: 4 }];
    assert_eq!(call!(r, C_GetAttributeValue, h, obj, q1.as_mut_ptr(), 1), CKR_BUFFER_TOO_SMALL);
    assert_eq!(q1[0].ulValueLen, CK_UNAVAILABLE_INFORMATION);
    let mut big = vec![0u8; 64];
    let mut q2 = [CK_ATTRIBUTE { type_: CKA_VALUE, pValue: big.as_mut_ptr() as *mut c_void, ulValueLen: 64 }];
    assert_eq!(call!(r, C_GetAttributeValue, h, obj, q2.as_mut_ptr(), 1), CKR_OK);
    assert_eq!(&big[..q2[0].ulValueLen as usize], &value[..]);
    assert_eq!(call!(r, C_GetAttributeValue, h, 0xDEAD, q2.as_mut_ptr(), 1), CKR_OBJECT_HANDLE_INVALID);

    // Random: NULL buffer with a length is bad; 0 bytes is fine.
    assert_eq!(call!(r, C_GenerateRandom, h, null_mut(), 16), CKR_ARGUMENTS_BAD);
    let mut rnd = [0u8; 32];
    assert_eq!(call!(r, C_GenerateRandom, h, rnd.as_mut_ptr(), 32), CKR_OK);
    assert_ne!(rnd, [0u8; 32]);
    assert_eq!(call!(r, C_SeedRandom, h, rnd.as_mut_ptr(), 32), CKR_RANDOM_SEED_NOT_SUPPORTED);
    // Operations not initialized.
    let mut outl: CK_ULONG = 0;
    assert_eq!(call!(r, C_Encrypt, h, rnd.as_mut_ptr(), 16, null_mut(), &mut outl), CKR_OPERATION_NOT_INITIALIZED);
    assert_eq!(call!(r, C_FindObjects, h, null_mut(), 0, &mut outl), CKR_OPERATION_NOT_INITIALIZED);
    // Unknown mechanism.
    let mut mech = CK_MECHANISM { mechanism: CKM_VENDOR_DEFINED | 0x4242, pParameter: null_mut(), ulParameterLen: 0 };
    assert_eq!(call!(r, C_DigestInit, h, &mut mech), CKR_MECHANISM_INVALID);
    let mut ml: CK_ULONG = 0;
    assert_eq!(call!(r, C_GetMechanismList, free, null_mut(), &mut ml), CKR_OK);
    assert!(ml > 10);
    let mut mi: CK_MECHANISM_INFO = unsafe { std::mem::zeroed() };
    assert_eq!(call!(r, C_GetMechanismInfo, free, CKM_AES_KEY_GEN, &mut mi), CKR_OK);
    assert_eq!((mi.ulMinKeySize, mi.ulMaxKeySize), (16, 32));
    assert_eq!(call!(r, C_GetMechanismInfo, free, CKM_VENDOR_DEFINED | 0x4242, &mut mi), CKR_MECHANISM_INVALID);
    assert_eq!(call!(r, C_Finalize, null_mut()), CKR_OK);
    // After finalize, sessions are gone.
    assert_eq!(call!(r, C_CloseSession, h), CKR_CRYPTOKI_NOT_INITIALIZED);
}

#[test]
fn a_forked_child_must_initialize_again() {
    let _env = env_lock();
    let r = Raw::load();
    assert_eq!(call!(r, C_Initialize, null_mut()), CKR_OK);
    let mut n: CK_ULONG = 0;
    assert_eq!(call!(r, C_GetSlotList, CK_TRUE, null_mut(), &mut n), CKR_OK);
    // SAFETY: the child only calls async-signal-tolerant code paths of ours and _exit()s.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let mut m: CK_ULONG = 0;
        let a = call!(r, C_GetSlotList, CK_TRUE, null_mut(), &mut m);
        let b = call!(r, C_Initialize, null_mut());
        let c = call!(r, C_GetSlotList, CK_TRUE, null_mut(), &mut m);
        let ok = a == CKR_CRYPTOKI_NOT_INITIALIZED && b == CKR_OK && c == CKR_OK && m == 2;
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut status = 0;
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child saw parent state or could not re-initialize"
    );
    // The parent is unaffected.
    assert_eq!(call!(r, C_GetSlotList, CK_TRUE, null_mut(), &mut n), CKR_OK);
    assert_eq!(call!(r, C_Finalize, null_mut()), CKR_OK);
}

#[test]
fn kwp_by_number_matches_rfc5649() {
    // The module slot (the first C_InitToken made its world): no login, as keys of a softcard
    // are used only while its user is logged in.
    let (r, h) = module_session();
    let class: CK_OBJECT_CLASS = CKO_SECRET_KEY;
    let make = |kt: CK_KEY_TYPE, value: &[u8]| -> CK_OBJECT_HANDLE {
        let f = CK_FALSE;
        let mut t = [
            CK_ATTRIBUTE { type_: CKA_CLASS, pValue: &class as *const _ as *mut c_void, ulValueLen: 8 },
            CK_ATTRIBUTE { type_: CKA_KEY_TYPE, pValue: &kt as *const _ as *mut c_void, ulValueLen: 8 },
            CK_ATTRIBUTE {
                type_: CKA_VALUE,
                pValue: value.as_ptr() as *mut c_void,
                ulValueLen: value.len() as CK_ULONG,
            },
            CK_ATTRIBUTE { type_: CKA_PRIVATE, pValue: &f as *const _ as *mut c_void, ulValueLen: 1 },
        ];
        let mut o: CK_OBJECT_HANDLE = 0;
        assert_eq!(call!(r, C_CreateObject, h, t.as_mut_ptr(), 4, &mut o), CKR_OK);
        o
    };
    // RFC 5649 §6, first example (192-bit KEK, 20-byte key).
    let kek = make(CKK_AES, &hex::decode("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8").unwrap());
    let target = make(CKK_GENERIC_SECRET, &hex::decode("c37b7e6492584340bed12207808941155068f738").unwrap());
    let mut mech = CK_MECHANISM { mechanism: CKM_AES_KEY_WRAP_KWP, pParameter: null_mut(), ulParameterLen: 0 };
    let mut len: CK_ULONG = 0;
    assert_eq!(call!(r, C_WrapKey, h, &mut mech, kek, target, null_mut(), &mut len), CKR_OK);
    assert_eq!(len, 32);
    let mut short = [0u8; 8];
    let mut slen: CK_ULONG = 8;
    assert_eq!(call!(r, C_WrapKey, h, &mut mech, kek, target, short.as_mut_ptr(), &mut slen), CKR_BUFFER_TOO_SMALL);
    assert_eq!(slen, 32);
    let mut out = [0u8; 32];
    assert_eq!(call!(r, C_WrapKey, h, &mut mech, kek, target, out.as_mut_ptr(), &mut len), CKR_OK);
    assert_eq!(hex::encode(out), "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a");
    assert_eq!(call!(r, C_Finalize, null_mut()), CKR_OK);
}
