//! What a generic PKCS#11 client sees (issue #14): the slot list order that OpenSSL's
//! pkcs11-provider relies on when its URI names no token, and the common attributes of every
//! object class read back with their defaults (an unset `CKA_ALLOWED_MECHANISMS` is an empty
//! list, not a missing attribute).

#[macro_use]
mod common;
use common::*;
use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType};
use cryptoki::session::UserType;
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use cryptoki_sys::*;
use std::ffi::c_void;
use std::ptr::null_mut;

/// DER OID of P-256, as CKA_EC_PARAMS.
const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

// ---------------------------------------------------------------- slot order

/// pkcs11-provider's key generation with no token in the URI: the first slot in
/// `C_GetSlotList(CK_TRUE)` order whose (initialized) token offers the mechanism; it logs in
/// only if the token says `CKF_LOGIN_REQUIRED`, then asks for a private token key.
fn generate_like_pkcs11_provider(p11: &cryptoki::context::Pkcs11) -> Result<Slot, Error> {
    let listed = p11.get_slots_with_token()?;
    let offers = |s: &Slot| p11.get_mechanism_list(*s).unwrap().contains(&MechanismType::ECC_KEY_PAIR_GEN);
    let first = *listed.iter().find(|s| offers(s)).expect("a slot offering CKM_EC_KEY_PAIR_GEN");
    // pkcs11-provider also skips tokens that are not initialized; the first slot already is one.
    let slot = *listed.iter().find(|s| offers(s) && p11.get_token_info(**s).unwrap().token_initialized()).unwrap();
    assert_eq!(first, slot, "the first slot offering the mechanism holds an initialized token");
    let info = p11.get_token_info(slot)?;
    let s = p11.open_rw_session(slot)?;
    if info.token_initialized() && info.login_required() {
        s.login(UserType::User, Some(&AuthPin::new(USER_PIN.into())))?;
    }
    let (_, sk) = s.generate_key_pair(
        &Mechanism::EccKeyPairGen,
        &[Attribute::EcParams(P256.to_vec()), Attribute::Token(true), Attribute::Verify(true)],
        &[Attribute::Token(true), Attribute::Private(true), Attribute::Sign(true)],
    )?;
    let got = s.get_attributes(sk, &[AttributeType::Token, AttributeType::Private]).unwrap();
    assert!(got.contains(&Attribute::Token(true)) && got.contains(&Attribute::Private(true)));
    s.sign(&Mechanism::Ecdsa, sk, &[7u8; 32])?;
    Ok(slot)
}

#[test]
fn a_generic_client_generates_a_private_token_key_on_the_first_listed_slot() {
    let m = Module::fresh();
    let card = m.init_token("client");
    let slot = generate_like_pkcs11_provider(&m.p11).unwrap();
    assert_eq!(slot, card, "the softcard, not the module slot");
    let info = m.p11.get_token_info(slot).unwrap();
    assert!(info.token_initialized() && info.login_required());
}

#[test]
fn login_tokens_are_listed_first_and_the_module_slot_keeps_id_0_and_comes_last() {
    let m = Module::fresh();
    let a = m.init_token("first");
    let b = m.init_token("second");
    let free = free_slot(&m.p11);
    let listed = m.p11.get_all_slots().unwrap();
    assert_eq!(listed, vec![a, b, free, module_slot()], "softcards by id, the free slot, the module slot");
    assert_eq!(m.p11.get_slots_with_token().unwrap(), listed);
    assert!(a.id() < b.id() && b.id() < free.id());
    // Slot 0 is reached by its id and by its label, and works as before.
    assert_eq!(module_slot().id(), 0);
    let info = m.p11.get_token_info(module_slot()).unwrap();
    assert_eq!(info.label(), "loadshared accelerator");
    assert!(!info.login_required());
    let by_label =
        listed.iter().copied().find(|s| m.p11.get_token_info(*s).unwrap().label() == "loadshared accelerator").unwrap();
    assert_eq!(by_label, module_slot());
    let s = m.p11.open_rw_session(module_slot()).unwrap();
    let k = s.generate_key(&Mechanism::AesKeyGen, &[Attribute::ValueLen(16.into()), Attribute::Token(true)]).unwrap();
    s.destroy_object(k).unwrap();
}

#[test]
fn the_setting_restores_module_slot_first_order() {
    let m = Module::fresh_with_env(&[("SHIELDHSM_MODULE_SLOT_FIRST", "1")]);
    let card = m.init_token("card");
    let free = free_slot(&m.p11);
    assert_eq!(m.p11.get_all_slots().unwrap(), vec![module_slot(), card, free]);
    // What that order does to a generic client: it lands on the module slot, which needs no
    // login and so holds no private objects.
    let e = generate_like_pkcs11_provider(&m.p11).unwrap_err();
    assert_eq!(rv(e), RvError::UserNotLoggedIn);

    // The same setting from cknfastrc (`$NFAST_HOME/cknfastrc`).
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("cknfastrc"), "# order for slotListIndex\nSHIELDHSM_MODULE_SLOT_FIRST=1\n")
        .unwrap();
    let f = Module::fresh_with_env(&[("NFAST_HOME", home.path().to_str().unwrap())]);
    let card = f.init_token("card");
    assert_eq!(f.p11.get_all_slots().unwrap(), vec![module_slot(), card, free_slot(&f.p11)]);
}

#[test]
fn the_module_slot_is_not_listed_when_hidden_and_last_with_fake_login() {
    for env in [
        &[("CKNFAST_NO_ACCELERATOR_SLOTS", "1")][..],
        &[("CKNFAST_NO_ACCELERATOR_SLOTS", "1"), ("SHIELDHSM_MODULE_SLOT_FIRST", "1")][..],
    ] {
        let m = Module::fresh_with_env(env);
        let card = m.init_token("hidden");
        let listed = m.p11.get_all_slots().unwrap();
        assert_eq!(listed, vec![card, free_slot(&m.p11)], "{env:?}");
        assert_eq!(rv(m.p11.get_token_info(module_slot()).unwrap_err()), RvError::SlotIdInvalid);
        generate_like_pkcs11_provider(&m.p11).unwrap();
    }
    // CKNFAST_FAKE_ACCELERATOR_LOGIN: slot 0 asks for a login (any PIN), still listed last.
    let m = Module::fresh_with_env(&[("CKNFAST_FAKE_ACCELERATOR_LOGIN", "1")]);
    let card = m.init_token("fake");
    assert_eq!(m.p11.get_all_slots().unwrap(), vec![card, free_slot(&m.p11), module_slot()]);
    assert!(m.p11.get_token_info(module_slot()).unwrap().login_required());
    let s = m.p11.open_rw_session(module_slot()).unwrap();
    s.login(UserType::User, Some(&AuthPin::new("anything".into()))).unwrap();
    assert_eq!(generate_like_pkcs11_provider(&m.p11).unwrap(), card);
}

// ---------------------------------------------------------------- attributes, raw ABI

/// A loaded library with one softcard and a logged-in R/W user session on it.
fn user_session() -> (Raw, CK_SESSION_HANDLE) {
    let _env = env_lock();
    let r = Raw::load();
    assert_eq!(call!(r, C_Initialize, null_mut()), CKR_OK);
    let free = raw_free_slot(&r);
    let mut label = [b' '; 32];
    label[..5].copy_from_slice(b"attrs");
    let (so, user) = (SO_PIN.as_bytes(), USER_PIN.as_bytes());
    assert_eq!(call!(r, C_InitToken, free, so.as_ptr() as *mut _, so.len() as CK_ULONG, label.as_mut_ptr()), CKR_OK);
    let mut h: CK_SESSION_HANDLE = 0;
    assert_eq!(call!(r, C_OpenSession, free, CKF_SERIAL_SESSION | CKF_RW_SESSION, null_mut(), None, &mut h), CKR_OK);
    assert_eq!(call!(r, C_Login, h, CKU_SO, so.as_ptr() as *mut _, so.len() as CK_ULONG), CKR_OK);
    assert_eq!(call!(r, C_InitPIN, h, user.as_ptr() as *mut _, user.len() as CK_ULONG), CKR_OK);
    assert_eq!(call!(r, C_Logout, h), CKR_OK);
    assert_eq!(call!(r, C_Login, h, CKU_USER, user.as_ptr() as *mut _, user.len() as CK_ULONG), CKR_OK);
    (r, h)
}

fn b(v: bool) -> Vec<u8> {
    vec![v as u8]
}
fn ul(v: CK_ULONG) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}
fn mechs(v: &[CK_MECHANISM_TYPE]) -> Vec<u8> {
    v.iter().flat_map(|m| m.to_ne_bytes()).collect()
}

/// A caller template pointing into `items`, which must outlive its use (bind them first).
fn tmpl(items: &[(CK_ATTRIBUTE_TYPE, Vec<u8>)]) -> Vec<CK_ATTRIBUTE> {
    items
        .iter()
        .map(|(t, v)| CK_ATTRIBUTE { type_: *t, pValue: v.as_ptr() as *mut c_void, ulValueLen: v.len() as CK_ULONG })
        .collect()
}

fn create(r: &Raw, h: CK_SESSION_HANDLE, items: &[(CK_ATTRIBUTE_TYPE, Vec<u8>)]) -> CK_OBJECT_HANDLE {
    let mut t = tmpl(items);
    let mut o: CK_OBJECT_HANDLE = 0;
    assert_eq!(call!(r, C_CreateObject, h, t.as_mut_ptr(), t.len() as CK_ULONG, &mut o), CKR_OK);
    o
}

fn aes_key(r: &Raw, h: CK_SESSION_HANDLE, extra: &[(CK_ATTRIBUTE_TYPE, Vec<u8>)]) -> CK_OBJECT_HANDLE {
    let mut items = vec![(CKA_VALUE_LEN, ul(16)), (CKA_TOKEN, b(true))];
    items.extend_from_slice(extra);
    let mut t = tmpl(&items);
    let mut mech = CK_MECHANISM { mechanism: CKM_AES_KEY_GEN, pParameter: null_mut(), ulParameterLen: 0 };
    let mut o: CK_OBJECT_HANDLE = 0;
    assert_eq!(call!(r, C_GenerateKey, h, &mut mech, t.as_mut_ptr(), t.len() as CK_ULONG, &mut o), CKR_OK);
    o
}

/// A key pair; `private_extra` goes into the private template.
fn key_pair(
    r: &Raw,
    h: CK_SESSION_HANDLE,
    mech: CK_MECHANISM_TYPE,
    private_extra: &[(CK_ATTRIBUTE_TYPE, Vec<u8>)],
) -> (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE) {
    let public = if mech == CKM_EC_KEY_PAIR_GEN {
        vec![(CKA_EC_PARAMS, P256.to_vec()), (CKA_VERIFY, b(true))]
    } else {
        vec![(CKA_MODULUS_BITS, ul(2048)), (CKA_PUBLIC_EXPONENT, vec![1, 0, 1]), (CKA_VERIFY, b(true))]
    };
    let mut private = vec![(CKA_TOKEN, b(true)), (CKA_PRIVATE, b(true)), (CKA_SIGN, b(true))];
    private.extend_from_slice(private_extra);
    let (mut tp, mut tk) = (tmpl(&public), tmpl(&private));
    let mut m = CK_MECHANISM { mechanism: mech, pParameter: null_mut(), ulParameterLen: 0 };
    let (mut pk, mut sk): (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE) = (0, 0);
    let rv = call!(
        r,
        C_GenerateKeyPair,
        h,
        &mut m,
        tp.as_mut_ptr(),
        tp.len() as CK_ULONG,
        tk.as_mut_ptr(),
        tk.len() as CK_ULONG,
        &mut pk,
        &mut sk
    );
    assert_eq!(rv, CKR_OK);
    (pk, sk)
}

/// One attribute read the two-call way: `Err(rv)` of the length query, or the value bytes (a
/// nested template comes back as its entry count, one byte per entry).
fn read(r: &Raw, h: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE, t: CK_ATTRIBUTE_TYPE) -> Result<Vec<u8>, CK_RV> {
    let mut q = [CK_ATTRIBUTE { type_: t, pValue: null_mut(), ulValueLen: 0 }];
    let rv = call!(r, C_GetAttributeValue, h, o, q.as_mut_ptr(), 1);
    if rv != CKR_OK {
        assert_eq!(q[0].ulValueLen, CK_UNAVAILABLE_INFORMATION, "attribute {t:#x}: {rv:#x}");
        return Err(rv);
    }
    let len = q[0].ulValueLen as usize;
    assert_ne!(q[0].ulValueLen, CK_UNAVAILABLE_INFORMATION);
    if matches!(t, CKA_WRAP_TEMPLATE | CKA_UNWRAP_TEMPLATE | CKA_DERIVE_TEMPLATE) {
        let n = len / std::mem::size_of::<CK_ATTRIBUTE>();
        let mut inner = vec![CK_ATTRIBUTE { type_: 0, pValue: null_mut(), ulValueLen: 0 }; n.max(1)];
        let mut a = [CK_ATTRIBUTE { type_: t, pValue: inner.as_mut_ptr() as *mut c_void, ulValueLen: len as CK_ULONG }];
        assert_eq!(call!(r, C_GetAttributeValue, h, o, a.as_mut_ptr(), 1), CKR_OK, "template {t:#x}");
        return Ok(vec![0u8; a[0].ulValueLen as usize / std::mem::size_of::<CK_ATTRIBUTE>()]);
    }
    let mut buf = vec![0u8; len.max(1)];
    let mut a = [CK_ATTRIBUTE { type_: t, pValue: buf.as_mut_ptr() as *mut c_void, ulValueLen: len as CK_ULONG }];
    assert_eq!(call!(r, C_GetAttributeValue, h, o, a.as_mut_ptr(), 1), CKR_OK, "attribute {t:#x}");
    buf.truncate(a[0].ulValueLen as usize);
    Ok(buf)
}

fn sign(r: &Raw, h: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE, mech: &mut CK_MECHANISM, msg: &[u8]) -> CK_RV {
    let rv = call!(r, C_SignInit, h, mech, key);
    if rv != CKR_OK {
        return rv;
    }
    let mut sig = vec![0u8; 512];
    let mut n = sig.len() as CK_ULONG;
    call!(r, C_Sign, h, msg.as_ptr() as *mut u8, msg.len() as CK_ULONG, sig.as_mut_ptr(), &mut n)
}

#[test]
fn unset_allowed_mechanisms_reads_as_an_empty_list_and_empty_means_unrestricted() {
    let (r, h) = user_session();
    let mut ecdsa = CK_MECHANISM { mechanism: CKM_ECDSA, pParameter: null_mut(), ulParameterLen: 0 };
    // Unset: the length query says 0 and the read succeeds, on both halves.
    let (pk, sk) = key_pair(&r, h, CKM_EC_KEY_PAIR_GEN, &[]);
    for o in [pk, sk] {
        let mut q = [CK_ATTRIBUTE { type_: CKA_ALLOWED_MECHANISMS, pValue: null_mut(), ulValueLen: 99 }];
        assert_eq!(call!(r, C_GetAttributeValue, h, o, q.as_mut_ptr(), 1), CKR_OK);
        assert_eq!(q[0].ulValueLen, 0);
        assert_eq!(read(&r, h, o, CKA_ALLOWED_MECHANISMS), Ok(vec![]));
    }
    assert_eq!(sign(&r, h, sk, &mut ecdsa, &[1u8; 32]), CKR_OK);
    // Set empty: the same, and no restriction.
    let (_, sk) = key_pair(&r, h, CKM_EC_KEY_PAIR_GEN, &[(CKA_ALLOWED_MECHANISMS, vec![])]);
    assert_eq!(read(&r, h, sk, CKA_ALLOWED_MECHANISMS), Ok(vec![]));
    assert_eq!(sign(&r, h, sk, &mut ecdsa, &[1u8; 32]), CKR_OK);
    let mut sha = CK_MECHANISM { mechanism: CKM_ECDSA_SHA256, pParameter: null_mut(), ulParameterLen: 0 };
    assert_eq!(sign(&r, h, sk, &mut sha, b"message"), CKR_OK);
    // A PSS-only RSA key reads back as one and signs only with PSS.
    let (_, rsk) = key_pair(&r, h, CKM_RSA_PKCS_KEY_PAIR_GEN, &[(CKA_ALLOWED_MECHANISMS, mechs(&[CKM_RSA_PKCS_PSS]))]);
    assert_eq!(read(&r, h, rsk, CKA_ALLOWED_MECHANISMS), Ok(mechs(&[CKM_RSA_PKCS_PSS])));
    let mut pkcs1 = CK_MECHANISM { mechanism: CKM_SHA256_RSA_PKCS, pParameter: null_mut(), ulParameterLen: 0 };
    assert_eq!(sign(&r, h, rsk, &mut pkcs1, b"message"), CKR_MECHANISM_INVALID);
    let mut params = CK_RSA_PKCS_PSS_PARAMS { hashAlg: CKM_SHA256, mgf: CKG_MGF1_SHA256, sLen: 32 };
    let mut pss = CK_MECHANISM {
        mechanism: CKM_RSA_PKCS_PSS,
        pParameter: &mut params as *mut _ as *mut c_void,
        ulParameterLen: std::mem::size_of::<CK_RSA_PKCS_PSS_PARAMS>() as CK_ULONG,
    };
    assert_eq!(sign(&r, h, rsk, &mut pss, &[3u8; 32]), CKR_OK);
    // The attribute is fixed once the key exists.
    let items = [(CKA_ALLOWED_MECHANISMS, vec![])];
    let mut t = tmpl(&items);
    assert_eq!(call!(r, C_SetAttributeValue, h, rsk, t.as_mut_ptr(), 1), CKR_ATTRIBUTE_READ_ONLY);
    // A search for the default finds the keys that do not restrict.
    let items = [(CKA_CLASS, ul(CKO_PRIVATE_KEY)), (CKA_ALLOWED_MECHANISMS, vec![])];
    let mut f = tmpl(&items);
    assert_eq!(call!(r, C_FindObjectsInit, h, f.as_mut_ptr(), 2), CKR_OK);
    let mut found = [0 as CK_OBJECT_HANDLE; 8];
    let mut n: CK_ULONG = 0;
    assert_eq!(call!(r, C_FindObjects, h, found.as_mut_ptr(), 8, &mut n), CKR_OK);
    assert_eq!(call!(r, C_FindObjectsFinal, h), CKR_OK);
    assert_eq!(n, 2, "both EC private keys, not the PSS-only one");
    assert!(!found[..2].contains(&rsk));
}

const STORAGE: &[CK_ATTRIBUTE_TYPE] =
    &[CKA_CLASS, CKA_TOKEN, CKA_PRIVATE, CKA_MODIFIABLE, CKA_LABEL, CKA_COPYABLE, CKA_DESTROYABLE, CKA_UNIQUE_ID];
const KEY: &[CK_ATTRIBUTE_TYPE] = &[
    CKA_KEY_TYPE,
    CKA_ID,
    CKA_START_DATE,
    CKA_END_DATE,
    CKA_DERIVE,
    CKA_LOCAL,
    CKA_KEY_GEN_MECHANISM,
    CKA_ALLOWED_MECHANISMS,
];
const PUBLIC: &[CK_ATTRIBUTE_TYPE] = &[
    CKA_SUBJECT,
    CKA_ENCRYPT,
    CKA_VERIFY,
    CKA_VERIFY_RECOVER,
    CKA_WRAP,
    CKA_TRUSTED,
    CKA_WRAP_TEMPLATE,
    CKA_PUBLIC_KEY_INFO,
];
const PRIVATE: &[CK_ATTRIBUTE_TYPE] = &[
    CKA_SUBJECT,
    CKA_SENSITIVE,
    CKA_DECRYPT,
    CKA_SIGN,
    CKA_SIGN_RECOVER,
    CKA_UNWRAP,
    CKA_EXTRACTABLE,
    CKA_ALWAYS_SENSITIVE,
    CKA_NEVER_EXTRACTABLE,
    CKA_WRAP_WITH_TRUSTED,
    CKA_UNWRAP_TEMPLATE,
    CKA_ALWAYS_AUTHENTICATE,
    CKA_PUBLIC_KEY_INFO,
];
const SECRET: &[CK_ATTRIBUTE_TYPE] = &[
    CKA_SENSITIVE,
    CKA_ENCRYPT,
    CKA_DECRYPT,
    CKA_SIGN,
    CKA_VERIFY,
    CKA_WRAP,
    CKA_UNWRAP,
    CKA_EXTRACTABLE,
    CKA_ALWAYS_SENSITIVE,
    CKA_NEVER_EXTRACTABLE,
    CKA_CHECK_VALUE,
    CKA_WRAP_WITH_TRUSTED,
    CKA_TRUSTED,
    CKA_WRAP_TEMPLATE,
    CKA_UNWRAP_TEMPLATE,
];
const CERT: &[CK_ATTRIBUTE_TYPE] = &[
    CKA_CERTIFICATE_TYPE,
    CKA_TRUSTED,
    CKA_CERTIFICATE_CATEGORY,
    CKA_CHECK_VALUE,
    CKA_START_DATE,
    CKA_END_DATE,
    CKA_PUBLIC_KEY_INFO,
    CKA_SUBJECT,
    CKA_ID,
    CKA_ISSUER,
    CKA_SERIAL_NUMBER,
    CKA_VALUE,
    CKA_URL,
    CKA_HASH_OF_SUBJECT_PUBLIC_KEY,
    CKA_HASH_OF_ISSUER_PUBLIC_KEY,
    CKA_JAVA_MIDP_SECURITY_DOMAIN,
    CKA_NAME_HASH_ALGORITHM,
];
const DATA: &[CK_ATTRIBUTE_TYPE] = &[CKA_APPLICATION, CKA_OBJECT_ID, CKA_VALUE];

#[test]
fn every_common_attribute_of_every_class_reads_and_foreign_ones_are_type_invalid() {
    let (r, h) = user_session();
    let data = create(&r, h, &[(CKA_CLASS, ul(CKO_DATA)), (CKA_TOKEN, b(true))]);
    let cert = create(
        &r,
        h,
        &[
            (CKA_CLASS, ul(CKO_CERTIFICATE)),
            (CKA_CERTIFICATE_TYPE, ul(CKC_X_509)),
            (CKA_SUBJECT, b"\x30\x00".to_vec()),
            (CKA_VALUE, b"\x30\x03\x02\x01\x01".to_vec()),
        ],
    );
    let aes = aes_key(&r, h, &[]);
    let (ecp, ecs) = key_pair(&r, h, CKM_EC_KEY_PAIR_GEN, &[]);
    let (rsap, rsas) = key_pair(&r, h, CKM_RSA_PKCS_KEY_PAIR_GEN, &[]);
    let classes: [(&str, CK_OBJECT_HANDLE, Vec<&[CK_ATTRIBUTE_TYPE]>); 7] = [
        ("data", data, vec![STORAGE, DATA]),
        ("certificate", cert, vec![STORAGE, CERT]),
        ("secret key", aes, vec![STORAGE, KEY, SECRET]),
        ("EC public key", ecp, vec![STORAGE, KEY, PUBLIC]),
        ("EC private key", ecs, vec![STORAGE, KEY, PRIVATE]),
        ("RSA public key", rsap, vec![STORAGE, KEY, PUBLIC]),
        ("RSA private key", rsas, vec![STORAGE, KEY, PRIVATE]),
    ];
    for (name, o, tables) in &classes {
        for t in tables.iter().flat_map(|t| t.iter()) {
            if let Err(rv) = read(&r, h, *o, *t) {
                panic!("{name}: attribute {t:#x} gave {rv:#x}");
            }
        }
    }
    // Defaults where nothing was given.
    let empty: Result<Vec<u8>, CK_RV> = Ok(vec![]);
    for t in [CKA_LABEL, CKA_ID, CKA_START_DATE, CKA_END_DATE, CKA_ALLOWED_MECHANISMS, CKA_WRAP_TEMPLATE] {
        assert_eq!(read(&r, h, aes, t), empty, "AES {t:#x}");
    }
    for t in [CKA_SUBJECT, CKA_UNWRAP_TEMPLATE, CKA_ID, CKA_LABEL] {
        assert_eq!(read(&r, h, ecs, t), empty, "EC private {t:#x}");
    }
    assert_eq!(read(&r, h, ecp, CKA_WRAP_TEMPLATE), empty);
    for t in [CKA_APPLICATION, CKA_OBJECT_ID, CKA_VALUE, CKA_LABEL] {
        assert_eq!(read(&r, h, data, t), empty, "data {t:#x}");
    }
    for t in [CKA_ISSUER, CKA_SERIAL_NUMBER, CKA_URL, CKA_ID, CKA_HASH_OF_SUBJECT_PUBLIC_KEY] {
        assert_eq!(read(&r, h, cert, t), empty, "certificate {t:#x}");
    }
    assert_eq!(read(&r, h, cert, CKA_NAME_HASH_ALGORITHM), Ok(ul(CKM_SHA_1)));
    assert_eq!(read(&r, h, cert, CKA_CERTIFICATE_CATEGORY), Ok(ul(0)));
    assert_eq!(read(&r, h, cert, CKA_TRUSTED), Ok(b(false)));
    assert_eq!(read(&r, h, ecs, CKA_ALWAYS_AUTHENTICATE), Ok(b(false)));
    assert_eq!(read(&r, h, ecs, CKA_KEY_GEN_MECHANISM), Ok(ul(CKM_EC_KEY_PAIR_GEN)));
    assert_eq!(read(&r, h, aes, CKA_MODIFIABLE), Ok(b(true)));
    // Key material stays sensitive.
    assert_eq!(read(&r, h, aes, CKA_VALUE), Err(CKR_ATTRIBUTE_SENSITIVE));
    assert_eq!(read(&r, h, ecs, CKA_VALUE), Err(CKR_ATTRIBUTE_SENSITIVE));
    assert_eq!(read(&r, h, rsas, CKA_PRIVATE_EXPONENT), Err(CKR_ATTRIBUTE_SENSITIVE));
    assert_eq!(read(&r, h, rsas, CKA_PRIME_1), Err(CKR_ATTRIBUTE_SENSITIVE));
    // Attributes foreign to the class.
    for (o, t) in [
        (aes, CKA_MODULUS),
        (aes, CKA_APPLICATION),
        (aes, CKA_CERTIFICATE_TYPE),
        (aes, CKA_EC_POINT),
        (data, CKA_ALLOWED_MECHANISMS),
        (data, CKA_ID),
        (data, CKA_KEY_TYPE),
        (cert, CKA_KEY_TYPE),
        (cert, CKA_SENSITIVE),
        (ecp, CKA_SENSITIVE),
        (ecp, CKA_UNWRAP_TEMPLATE),
        (ecs, CKA_MODULUS),
        (rsap, CKA_EC_PARAMS),
        (aes, 0x7FFF_FF00),
    ] {
        assert_eq!(read(&r, h, o, t), Err(CKR_ATTRIBUTE_TYPE_INVALID), "{o}: {t:#x}");
    }
    // Several at once: every attribute is processed, the call reports the problem.
    let mut buf = [0u8; 64];
    let mut q = [
        CK_ATTRIBUTE { type_: CKA_ALLOWED_MECHANISMS, pValue: null_mut(), ulValueLen: 0 },
        CK_ATTRIBUTE { type_: CKA_MODULUS, pValue: null_mut(), ulValueLen: 0 },
        CK_ATTRIBUTE { type_: CKA_LABEL, pValue: buf.as_mut_ptr() as *mut c_void, ulValueLen: 64 },
    ];
    assert_eq!(call!(r, C_GetAttributeValue, h, aes, q.as_mut_ptr(), 3), CKR_ATTRIBUTE_TYPE_INVALID);
    assert_eq!((q[0].ulValueLen, q[1].ulValueLen, q[2].ulValueLen), (0, CK_UNAVAILABLE_INFORMATION, 0));
}
