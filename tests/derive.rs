//! The simple derivations through the built `.so`: CKM_{AES,DES3}_{ECB,CBC}_ENCRYPT_DATA against
//! NIST SP 800-38A / SP 800-67 (tests/data/derive.json), CKM_XOR_BASE_AND_DATA and
//! CKM_CONCATENATE_BASE_AND_KEY against the PKCS#11 text's examples, their length rules, and the
//! attribute rules the spec gives the derived key. The refusals that protect keys are in
//! tests/derive_attacks.rs.

#[macro_use]
mod common;
use common::derive::{mech_type, Derivation};
use common::*;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use cryptoki_sys::*;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn doc() -> serde_json::Value {
    serde_json::from_str(include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/derive.json"))).unwrap()
}

fn mechanism_named(name: &str) -> CK_MECHANISM_TYPE {
    match name {
        "CKM_AES_ECB_ENCRYPT_DATA" => CKM_AES_ECB_ENCRYPT_DATA,
        "CKM_AES_CBC_ENCRYPT_DATA" => CKM_AES_CBC_ENCRYPT_DATA,
        "CKM_DES3_ECB_ENCRYPT_DATA" => CKM_DES3_ECB_ENCRYPT_DATA,
        "CKM_DES3_CBC_ENCRYPT_DATA" => CKM_DES3_CBC_ENCRYPT_DATA,
        "CKM_CONCATENATE_BASE_AND_DATA" => CKM_CONCATENATE_BASE_AND_DATA,
        "CKM_CONCATENATE_DATA_AND_BASE" => CKM_CONCATENATE_DATA_AND_BASE,
        other => panic!("unknown mechanism {other}"),
    }
}

/// A base key whose value the caller chose, with CKA_DERIVE.
fn base(s: &Session, kt: KeyType, value: &[u8], extra: &[Attribute]) -> ObjectHandle {
    let mut t = vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(kt),
        Attribute::Value(value.to_vec()),
        Attribute::Derive(true),
        Attribute::Token(false),
    ];
    t.extend_from_slice(extra);
    s.create_object(&t).unwrap()
}

/// A base key the caller may read back.
fn readable_base(s: &Session, kt: KeyType, value: &[u8]) -> ObjectHandle {
    base(s, kt, value, &[Attribute::Sensitive(false), Attribute::Extractable(true)])
}

/// A template for a readable generic secret, `len` bytes (or the mechanism's length).
fn readable_generic(len: Option<usize>) -> Vec<Attribute> {
    let mut t = vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
        Attribute::Token(false),
    ];
    t.extend(len.map(|l| Attribute::ValueLen((l as CK_ULONG).into())));
    t
}

fn value(s: &Session, k: ObjectHandle) -> Vec<u8> {
    match s.get_attributes(k, &[AttributeType::Value]).unwrap().pop() {
        Some(Attribute::Value(v)) => v,
        other => panic!("no value: {other:?}"),
    }
}

fn flag(s: &Session, k: ObjectHandle, t: AttributeType) -> bool {
    let a = s.get_attributes(k, &[t]).unwrap();
    match a.as_slice() {
        [Attribute::Sensitive(b)]
        | [Attribute::Extractable(b)]
        | [Attribute::AlwaysSensitive(b)]
        | [Attribute::NeverExtractable(b)] => *b,
        other => panic!("{other:?}"),
    }
}

fn derivation(v: &serde_json::Value) -> Derivation {
    let s = |k: &str| v[k].as_str().unwrap().to_string();
    let ty = mechanism_named(&s("mechanism"));
    if s("iv").is_empty() {
        Derivation::data(ty, &h(&s("data")))
    } else {
        Derivation::cbc(ty, &h(&s("iv")), &h(&s("data")))
    }
}

/// AES-ECB of the zero block under `key`, offline (aws-lc), for a derived key used in the token.
fn zero_block_offline(key: &[u8]) -> Vec<u8> {
    use aws_lc_rs::cipher::{EncryptingKey, UnboundCipherKey, AES_128, AES_256};
    let alg = if key.len() == 16 { &AES_128 } else { &AES_256 };
    let k = EncryptingKey::ecb(UnboundCipherKey::new(alg, key).unwrap()).unwrap();
    let mut block = vec![0u8; 16];
    k.encrypt(&mut block).unwrap();
    block
}

#[test]
fn encrypt_data_derivations_give_the_published_ciphertexts() {
    let (_m, s) = logged_in_session("derive");
    for v in doc()["encrypt_data"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        let kt = if v["mechanism"].as_str().unwrap().contains("DES3") { KeyType::DES3 } else { KeyType::AES };
        let want = h(v["derived"].as_str().unwrap());
        let d = derivation(v);
        // Read back through a readable base: the whole ciphertext, with or without CKA_VALUE_LEN.
        let k = readable_base(&s, kt, &h(v["key"].as_str().unwrap()));
        for len in [None, Some(want.len())] {
            let got = s.derive_key(&d.mechanism(), k, &readable_generic(len)).unwrap();
            assert_eq!(value(&s, got), want, "{name} {len:?}");
        }
        // A sensitive base: the derived key is sensitive too, and encrypts as its value says.
        if kt == KeyType::AES {
            let k = base(&s, kt, &h(v["key"].as_str().unwrap()), &[]);
            let t = [
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::ValueLen((want.len() as CK_ULONG).into()),
                Attribute::Encrypt(true),
                Attribute::Token(false),
            ];
            let aes = s.derive_key(&d.mechanism(), k, &t).unwrap();
            assert!(flag(&s, aes, AttributeType::Sensitive), "{name}");
            let c = s.encrypt(&cryptoki::mechanism::Mechanism::AesEcb, aes, &[0u8; 16]).unwrap();
            assert_eq!(c, zero_block_offline(&want), "{name}");
        }
    }
}

#[test]
fn xor_and_concatenate_follow_the_spec_examples_and_length_rules() {
    let (_m, s) = logged_in_session("derive");
    let doc = doc();
    let (x, c) = (&doc["xor"], &doc["concatenate"]);
    let hx = |v: &serde_json::Value, k: &str| h(v[k].as_str().unwrap());
    let xb = readable_base(&s, KeyType::GENERIC_SECRET, &hx(x, "base"));
    let xd = Derivation::xor(&hx(x, "data"));
    let got = |len, d: &Derivation, b| s.derive_key(&d.mechanism(), b, &readable_generic(len)).map(|k| value(&s, k));
    assert_eq!(got(None, &xd, xb).unwrap(), hx(x, "derived"));
    // A length takes the leading bytes; more than there is is out of range.
    assert_eq!(got(Some(2), &xd, xb).unwrap(), hx(x, "derived")[..2]);
    assert_eq!(rv(got(Some(5), &xd, xb).unwrap_err()), cryptoki::error::RvError::KeySizeRange);
    // XOR is as long as the shorter of key and data.
    assert_eq!(got(None, &Derivation::xor(&[0xFF; 9]), xb).unwrap(), [0xFE, 0xDC, 0xBA, 0x98]);

    let cb = readable_base(&s, KeyType::GENERIC_SECRET, &hx(c, "base"));
    let co = readable_base(&s, KeyType::GENERIC_SECRET, &hx(c, "other"));
    let cd = Derivation::concatenate(co);
    assert_eq!(got(None, &cd, cb).unwrap(), hx(c, "derived"));
    assert_eq!(got(Some(3), &cd, cb).unwrap(), hx(c, "derived")[..3]);
    assert_eq!(rv(got(Some(9), &cd, cb).unwrap_err()), cryptoki::error::RvError::KeySizeRange);

    // A DES3 key derived by XOR gets its parity bits set (PKCS#11: "set properly").
    let zero = readable_base(&s, KeyType::GENERIC_SECRET, &[0u8; 24]);
    let t = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::DES3),
        Attribute::Sensitive(false),
        Attribute::Token(false),
    ];
    let des = s.derive_key(&Derivation::xor(&[0u8; 24]).mechanism(), zero, &t).unwrap();
    assert_eq!(value(&s, des), [0x01; 24]);
}

#[test]
fn concatenation_with_data_and_extraction_follow_the_spec_examples() {
    let (_m, s) = logged_in_session("derive");
    let doc = doc();
    let hx = |v: &serde_json::Value, k: &str| h(v[k].as_str().unwrap());
    let got = |len, d: &Derivation, b| s.derive_key(&d.mechanism(), b, &readable_generic(len)).map(|k| value(&s, k));
    for v in doc["concatenate_data"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        let b = readable_base(&s, KeyType::GENERIC_SECRET, &hx(v, "base"));
        let d = Derivation::data(mechanism_named(v["mechanism"].as_str().unwrap()), &hx(v, "data"));
        assert_eq!(got(None, &d, b).unwrap(), hx(v, "derived"), "{name}");
        assert_eq!(got(Some(3), &d, b).unwrap(), hx(v, "derived")[..3], "{name}");
        assert_eq!(rv(got(Some(9), &d, b).unwrap_err()), cryptoki::error::RvError::KeySizeRange, "{name}");
        let ty = mechanism_named(v["mechanism"].as_str().unwrap());
        let empty = Derivation::data(ty, &[]);
        assert_eq!(rv(got(None, &empty, b).unwrap_err()), cryptoki::error::RvError::MechanismParamInvalid);
        // A sensitive base (its value known to the caller, so not protected) gives a sensitive key.
        let sens = base(&s, KeyType::GENERIC_SECRET, &hx(v, "base"), &[]);
        let k = s.derive_key(&d.mechanism(), sens, &[Attribute::Token(false)]).unwrap();
        assert!(flag(&s, k, AttributeType::Sensitive), "{name}");
        assert_eq!(rv(got(None, &d, sens).unwrap_err()), cryptoki::error::RvError::TemplateInconsistent);
    }
    let x = &doc["extract"];
    let b = readable_base(&s, KeyType::GENERIC_SECRET, &hx(x, "base"));
    let len = x["length"].as_u64().unwrap() as usize;
    let d = Derivation::extract(x["bit"].as_u64().unwrap() as CK_ULONG);
    assert_eq!(got(Some(len), &d, b).unwrap(), hx(x, "derived"));
    // Wrapping around: the whole key from bit 21 is the key rotated left by 21 bits.
    let whole = u32::from_be_bytes(hx(x, "base").try_into().unwrap()).rotate_left(21).to_be_bytes();
    assert_eq!(got(Some(4), &d, b).unwrap(), whole);
    // CKA_VALUE_LEN is needed, at most the base's length; the bit index must lie inside the base.
    assert_eq!(rv(got(None, &d, b).unwrap_err()), cryptoki::error::RvError::TemplateIncomplete);
    assert_eq!(rv(got(Some(5), &d, b).unwrap_err()), cryptoki::error::RvError::KeySizeRange);
    assert_eq!(
        rv(got(Some(2), &Derivation::extract(32), b).unwrap_err()),
        cryptoki::error::RvError::MechanismParamInvalid
    );
    // A key type with a fixed length gives it: 24 bytes of DES3 (parity set) from a 32-byte base.
    let big = readable_base(&s, KeyType::GENERIC_SECRET, &[0xFE; 32]);
    let t = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::DES3),
        Attribute::Sensitive(false),
        Attribute::Token(false),
    ];
    let des = s.derive_key(&Derivation::extract(3).mechanism(), big, &t).unwrap();
    assert_eq!(value(&s, des), [0xF7; 24]);
}

#[test]
fn the_derived_key_inherits_sensitivity_and_extractability_as_the_spec_says() {
    let (_m, s) = logged_in_session("derive");
    let d = Derivation::data(CKM_AES_ECB_ENCRYPT_DATA, &[0x11; 16]);
    let aes16 = |extra: &[Attribute]| {
        let mut t = vec![
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(16.into()),
            Attribute::Token(false),
        ];
        t.extend_from_slice(extra);
        t
    };
    // A sensitive base gives a sensitive key; a template asking otherwise is inconsistent.
    let sensitive = base(&s, KeyType::AES, &[1; 16], &[Attribute::Sensitive(true)]);
    let k = s.derive_key(&d.mechanism(), sensitive, &aes16(&[])).unwrap();
    assert!(flag(&s, k, AttributeType::Sensitive));
    let e = s.derive_key(&d.mechanism(), sensitive, &aes16(&[Attribute::Sensitive(false)])).unwrap_err();
    assert_eq!(rv(e), cryptoki::error::RvError::TemplateInconsistent);
    // A non-extractable base gives a non-extractable key.
    let fixed = base(&s, KeyType::AES, &[2; 16], &[Attribute::Sensitive(false), Attribute::Extractable(false)]);
    let k = s.derive_key(&d.mechanism(), fixed, &aes16(&[Attribute::Sensitive(false)])).unwrap();
    assert!(!flag(&s, k, AttributeType::Extractable));
    let e = s.derive_key(&d.mechanism(), fixed, &aes16(&[Attribute::Extractable(true)])).unwrap_err();
    assert_eq!(rv(e), cryptoki::error::RvError::TemplateInconsistent);
    // A readable base leaves both to the template.
    let open = readable_base(&s, KeyType::AES, &[3; 16]);
    let k = s.derive_key(&d.mechanism(), open, &aes16(&[Attribute::Sensitive(false)])).unwrap();
    assert!(!flag(&s, k, AttributeType::Sensitive) && flag(&s, k, AttributeType::Extractable));

    // "Always sensitive"/"never extractable": held by a key generated so, passed on only while
    // the derived key keeps the property; a key the caller made never had it.
    let gen = s
        .generate_key(
            &cryptoki::mechanism::Mechanism::AesKeyGen,
            &[
                Attribute::ValueLen(16.into()),
                Attribute::Derive(true),
                Attribute::Extractable(false),
                Attribute::Token(false),
            ],
        )
        .unwrap();
    let k = s.derive_key(&d.mechanism(), gen, &aes16(&[])).unwrap();
    assert!(flag(&s, k, AttributeType::AlwaysSensitive) && flag(&s, k, AttributeType::NeverExtractable));
    let k = s.derive_key(&d.mechanism(), sensitive, &aes16(&[])).unwrap();
    assert!(!flag(&s, k, AttributeType::AlwaysSensitive) && !flag(&s, k, AttributeType::NeverExtractable));

    // Concatenation: both keys count. A sensitive key on either side makes the result
    // sensitive; a non-extractable one on either side makes it non-extractable.
    let g = |v: u8| readable_base(&s, KeyType::GENERIC_SECRET, &[v; 8]);
    let sens = base(&s, KeyType::GENERIC_SECRET, &[4; 8], &[]);
    let fixed =
        base(&s, KeyType::GENERIC_SECRET, &[5; 8], &[Attribute::Sensitive(false), Attribute::Extractable(false)]);
    for (a, b) in [(g(6), sens), (sens, g(7))] {
        let k = s.derive_key(&Derivation::concatenate(b).mechanism(), a, &[Attribute::Token(false)]).unwrap();
        assert!(flag(&s, k, AttributeType::Sensitive));
        let e = s.derive_key(&Derivation::concatenate(b).mechanism(), a, &readable_generic(None)).unwrap_err();
        assert_eq!(rv(e), cryptoki::error::RvError::TemplateInconsistent);
    }
    for (a, b) in [(g(8), fixed), (fixed, g(9))] {
        let t = [Attribute::Sensitive(false), Attribute::Token(false)];
        let k = s.derive_key(&Derivation::concatenate(b).mechanism(), a, &t).unwrap();
        assert!(!flag(&s, k, AttributeType::Extractable));
    }
}

#[test]
fn the_derivations_are_listed_with_ckf_derive() {
    // Raw calls: `cryptoki` drops from the list the types it has no name for.
    let (r, _s) = module_session();
    let mut n: CK_ULONG = 0;
    assert_eq!(call!(r, C_GetMechanismList, MODULE_SLOT_ID, std::ptr::null_mut(), &mut n), CKR_OK);
    let mut listed = vec![0 as CK_MECHANISM_TYPE; n as usize];
    assert_eq!(call!(r, C_GetMechanismList, MODULE_SLOT_ID, listed.as_mut_ptr(), &mut n), CKR_OK);
    for ty in [
        CKM_AES_ECB_ENCRYPT_DATA,
        CKM_AES_CBC_ENCRYPT_DATA,
        CKM_DES3_ECB_ENCRYPT_DATA,
        CKM_DES3_CBC_ENCRYPT_DATA,
        CKM_XOR_BASE_AND_DATA,
        CKM_CONCATENATE_BASE_AND_KEY,
        CKM_CONCATENATE_BASE_AND_DATA,
        CKM_CONCATENATE_DATA_AND_BASE,
        CKM_EXTRACT_KEY_FROM_KEY,
    ] {
        assert!(listed.contains(&ty), "{ty:#x} not listed");
        // SAFETY: a plain C struct; the call fills it.
        let mut info: CK_MECHANISM_INFO = unsafe { std::mem::zeroed() };
        assert_eq!(call!(r, C_GetMechanismInfo, MODULE_SLOT_ID, ty, &mut info), CKR_OK);
        assert_eq!(info.flags, CKF_DERIVE, "{ty:#x}");
    }
}

#[test]
fn malformed_derivations_get_the_spec_codes() {
    use cryptoki::error::RvError;
    let (_m, s) = logged_in_session("derive");
    let aes = readable_base(&s, KeyType::AES, &[1; 16]);
    let des = readable_base(&s, KeyType::DES3, &h("0123456789abcdef23456789abcdef01456789abcdef0123"));
    let t = readable_generic(None);
    let code = |d: &Derivation, b| rv(s.derive_key(&d.mechanism(), b, &t).unwrap_err());
    // Data must fill whole blocks, be present, and be no longer than any key here.
    assert_eq!(code(&Derivation::data(CKM_AES_ECB_ENCRYPT_DATA, &[0; 15]), aes), RvError::MechanismParamInvalid);
    assert_eq!(code(&Derivation::data(CKM_DES3_ECB_ENCRYPT_DATA, &[0; 12]), des), RvError::MechanismParamInvalid);
    assert_eq!(code(&Derivation::data(CKM_AES_ECB_ENCRYPT_DATA, &[]), aes), RvError::MechanismParamInvalid);
    assert_eq!(code(&Derivation::data(CKM_AES_ECB_ENCRYPT_DATA, &[0; 4096]), aes), RvError::MechanismParamInvalid);
    assert_eq!(code(&Derivation::xor(&[]), aes), RvError::MechanismParamInvalid);
    // The cipher follows the mechanism.
    assert_eq!(code(&Derivation::data(CKM_AES_ECB_ENCRYPT_DATA, &[0; 16]), des), RvError::KeyTypeInconsistent);
    assert_eq!(code(&Derivation::cbc(CKM_DES3_CBC_ENCRYPT_DATA, &[0; 8], &[0; 8]), aes), RvError::KeyTypeInconsistent);
    // The second key of a concatenation must exist.
    let gone = readable_base(&s, KeyType::GENERIC_SECRET, &[1; 8]);
    s.destroy_object(gone).unwrap();
    assert_eq!(code(&Derivation::concatenate(gone), aes), RvError::KeyHandleInvalid);
    // A parameter of the wrong shape (a bare CK_ULONG where a struct belongs).
    let n: CK_ULONG = 16;
    let wrong = cryptoki::mechanism::Mechanism::VendorDefined(
        cryptoki::mechanism::vendor_defined::VendorDefinedMechanism::new(mech_type(CKM_AES_CBC_ENCRYPT_DATA), Some(&n)),
    );
    assert_eq!(rv(s.derive_key(&wrong, aes, &t).unwrap_err()), RvError::MechanismParamInvalid);
}
