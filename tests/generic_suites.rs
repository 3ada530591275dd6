//! What generic PKCS#11 test suites expect of any token (issue #20, cause 5), through the `.so`:
//! a `CKA_VALUE_LEN` on unwrap that matches the value; 2.40's codes and flags for a caller that
//! came through `C_GetFunctionList` (a NULL mechanism is `CKR_ARGUMENTS_BAD`, no 3.0-only
//! mechanism flag) while the 3.0 interface keeps 3.0's (NULL cancels, `CKF_EC_CURVENAME`); an
//! empty DES value refused as invalid.

#[macro_use]
mod common;
use common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use cryptoki_sys::*;
use std::ptr::null_mut;

#[test]
fn unwrap_takes_a_value_len_that_matches_the_value() {
    let (_m, s) = logged_in_session("unwrap");
    let kek = s
        .generate_key(
            &Mechanism::AesKeyGen,
            &[Attribute::ValueLen(32.into()), Attribute::Token(false), Attribute::Wrap(true), Attribute::Unwrap(true)],
        )
        .unwrap();
    let target = s
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Token(false),
            Attribute::Extractable(true),
            Attribute::Value(vec![5u8; 16]),
        ])
        .unwrap();
    let blob = s.wrap_key(&Mechanism::AesKeyWrapPad, kek, target).unwrap();
    let t = |len: Option<u64>| {
        let mut t =
            vec![Attribute::Class(ObjectClass::SECRET_KEY), Attribute::KeyType(KeyType::AES), Attribute::Token(false)];
        if let Some(l) = len {
            t.push(Attribute::ValueLen(l.into()));
        }
        t
    };
    s.unwrap_key(&Mechanism::AesKeyWrapPad, kek, &blob, &t(Some(16))).unwrap();
    s.unwrap_key(&Mechanism::AesKeyWrapPad, kek, &blob, &t(None)).unwrap();
    // A shorter length would cut a key that may be protected: refused, not truncated.
    let e = s.unwrap_key(&Mechanism::AesKeyWrapPad, kek, &blob, &t(Some(8))).unwrap_err();
    assert_eq!(rv(e), RvError::TemplateInconsistent);
}

#[test]
fn a_2_40_caller_gets_2_40_answers_and_a_3_0_caller_3_0_ones() {
    let (r, h) = module_session();
    let f3 = list_3_0(&r);
    // A NULL mechanism: 2.40 says the arguments are bad; 3.0 cancels (nothing active: OK).
    assert_eq!(call!(r, C_EncryptInit, h, null_mut(), 0), CKR_ARGUMENTS_BAD);
    assert_eq!(call!(r, C_DecryptInit, h, null_mut(), 0), CKR_ARGUMENTS_BAD);
    assert_eq!(call!(r, C_SignInit, h, null_mut(), 0), CKR_ARGUMENTS_BAD);
    assert_eq!(call!(r, C_VerifyInit, h, null_mut(), 0), CKR_ARGUMENTS_BAD);
    assert_eq!(call!(r, C_DigestInit, h, null_mut()), CKR_ARGUMENTS_BAD);
    assert_eq!(unsafe { f3.C_EncryptInit.unwrap()(h, null_mut(), 0) }, CKR_OK);
    assert_eq!(unsafe { f3.C_DigestInit.unwrap()(h, null_mut()) }, CKR_OK);
    // A bad session still comes first.
    assert_eq!(call!(r, C_EncryptInit, 0xdead, null_mut(), 0), CKR_SESSION_HANDLE_INVALID);
    // CKF_EC_CURVENAME is 3.0's: ECDH's flags say it to a 3.0 caller only.
    // SAFETY: plain C structs; the calls fill them.
    let (mut i2, mut i3): (CK_MECHANISM_INFO, CK_MECHANISM_INFO) = unsafe { std::mem::zeroed() };
    assert_eq!(call!(r, C_GetMechanismInfo, MODULE_SLOT_ID, CKM_ECDH1_DERIVE, &mut i2), CKR_OK);
    assert_eq!(unsafe { f3.C_GetMechanismInfo.unwrap()(MODULE_SLOT_ID, CKM_ECDH1_DERIVE, &mut i3) }, CKR_OK);
    assert_eq!(i2.flags & CKF_EC_CURVENAME, 0);
    assert_ne!(i3.flags & CKF_EC_CURVENAME, 0);
    assert_eq!(i2.flags | CKF_EC_CURVENAME, i3.flags, "nothing else differs");
    assert_eq!(call!(r, C_Finalize, null_mut()), CKR_OK);
}

#[test]
fn an_empty_des_value_is_invalid() {
    let m = Module::fresh_with_env(&[("CKNFAST_OVERRIDE_SECURITY_ASSURANCES", "weak_des")]);
    let slot = m.init_token("des");
    let s = m.user_session(slot);
    for kt in [KeyType::DES, KeyType::DES3] {
        let e = s
            .create_object(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(kt),
                Attribute::Token(false),
                Attribute::Value(vec![]),
            ])
            .unwrap_err();
        assert_eq!(rv(e), RvError::AttributeValueInvalid, "{kt:?}");
    }
}

/// A 512-bit RSA public key was refused even under `all`. Under `weak_rsa` (or `all`) a public
/// key of 512 bits or more is taken and verifies (openssl's signature); nothing is encrypted or
/// wrapped to it (`CKR_KEY_SIZE_RANGE`); without the override it is refused.
#[test]
fn weak_rsa_lets_a_short_public_key_verify_only() {
    use cryptoki::object::AttributeType;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k512.pem");
    let sh = |args: &[&str]| {
        let o = std::process::Command::new("openssl").args(args).output().unwrap();
        assert!(o.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        o.stdout
    };
    let k = key.to_str().unwrap();
    sh(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:512", "-out", k]);
    let msg = dir.path().join("msg");
    std::fs::write(&msg, b"a legacy signature").unwrap();
    let sig = sh(&["dgst", "-sha256", "-sign", k, msg.to_str().unwrap()]);
    let text = String::from_utf8(sh(&["rsa", "-in", k, "-noout", "-modulus"])).unwrap();
    let n = hex::decode(text.trim().trim_start_matches("Modulus=")).unwrap();
    let public = |extra: &[Attribute]| {
        let mut t = vec![
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(KeyType::RSA),
            Attribute::Token(false),
            Attribute::Modulus(n.clone()),
            Attribute::PublicExponent(vec![1, 0, 1]),
            Attribute::Verify(true),
        ];
        t.extend_from_slice(extra);
        t
    };
    let strict = Module::fresh();
    let s = strict.user_session(strict.init_token("strict"));
    assert_eq!(rv(s.create_object(&public(&[])).unwrap_err()), RvError::AttributeValueInvalid);
    let m = Module::fresh_with_env(&[("CKNFAST_OVERRIDE_SECURITY_ASSURANCES", "weak_rsa")]);
    let s = m.user_session(m.init_token("weak"));
    let h = s.create_object(&public(&[])).unwrap();
    s.verify(&Mechanism::Sha256RsaPkcs, h, b"a legacy signature", &sig).unwrap();
    let bits = s.get_attributes(h, &[AttributeType::ModulusBits]).unwrap();
    assert_eq!(bits, vec![Attribute::ModulusBits(512.into())]);
    let enc = s.create_object(&public(&[Attribute::Encrypt(true)])).unwrap();
    assert_eq!(rv(s.encrypt(&Mechanism::RsaPkcs, enc, b"secret").unwrap_err()), RvError::KeySizeRange);
}
