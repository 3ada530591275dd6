//! Symmetric mechanisms through the C ABI, with known answers from NIST SP 800-38A, the GCM
//! specification (McGrew & Viega), FIPS 180, RFC 4231, RFC 3394 and RFC 5649.

mod common;
use common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

/// An extractable, non-sensitive session key with a known value.
fn secret(s: &Session, kt: KeyType, value: &[u8]) -> ObjectHandle {
    s.create_object(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(kt),
        Attribute::Value(value.to_vec()),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
    ])
    .unwrap()
}

fn session() -> (Module, Session) {
    let m = Module::fresh();
    let slot = m.init_token("crypto");
    let s = m.user_session(slot);
    (m, s)
}

#[test]
fn aes_cbc_sp800_38a_f25() {
    let (_m, s) = session();
    let k = secret(&s, KeyType::AES, &h("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4"));
    let iv: [u8; 16] = h("000102030405060708090a0b0c0d0e0f").try_into().unwrap();
    let pt = h("6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51 30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710");
    let ct = h("f58c4c04d6e5f1ba779eabfb5f7bfbd6 9cfc4e967edb808d679f777bc6702c7d 39f23369a9d9bacfa530e26304231461 b2eb05e2c39be9fcda6c19078c6a9d1b");
    assert_eq!(s.encrypt(&Mechanism::AesCbc(iv), k, &pt).unwrap(), ct);
    assert_eq!(s.decrypt(&Mechanism::AesCbc(iv), k, &ct).unwrap(), pt);
    // Multi-part in uneven pieces gives the same bytes.
    s.encrypt_init(&Mechanism::AesCbc(iv), k).unwrap();
    let mut out = Vec::new();
    for chunk in pt.chunks(23) {
        out.extend(s.encrypt_update(chunk).unwrap());
    }
    out.extend(s.encrypt_final().unwrap());
    assert_eq!(out, ct);
    // CBC without padding refuses a partial block.
    assert_eq!(rv(s.encrypt(&Mechanism::AesCbc(iv), k, &pt[..20]).unwrap_err()), RvError::DataLenRange);
    // CBC-PAD round trip of an odd length.
    let c = s.encrypt(&Mechanism::AesCbcPad(iv), k, b"odd length message").unwrap();
    assert_eq!(c.len(), 32);
    assert_eq!(s.decrypt(&Mechanism::AesCbcPad(iv), k, &c).unwrap(), b"odd length message");
}

#[test]
fn aes_gcm_spec_test_case_16_and_tamper() {
    let (_m, s) = session();
    let k = secret(&s, KeyType::AES, &h("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"));
    let iv = h("cafebabefacedbaddecaf888");
    let aad = h("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    let pt = h("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
    let expect = h("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662 76fc6ece0f4e1768cddf8853bb2d551b");
    let mut iv_buf = iv.clone();
    let params = GcmParams::new(&mut iv_buf, &aad, 128.into()).unwrap();
    assert_eq!(s.encrypt(&Mechanism::AesGcm(params), k, &pt).unwrap(), expect);
    let params = GcmParams::new(&mut iv_buf, &aad, 128.into()).unwrap();
    assert_eq!(s.decrypt(&Mechanism::AesGcm(params), k, &expect).unwrap(), pt);
    let mut bad = expect.clone();
    bad[5] ^= 1;
    let params = GcmParams::new(&mut iv_buf, &aad, 128.into()).unwrap();
    assert_eq!(rv(s.decrypt(&Mechanism::AesGcm(params), k, &bad).unwrap_err()), RvError::EncryptedDataInvalid);
    // The failed operation ended: a new one can start at once.
    let params = GcmParams::new(&mut iv_buf, &aad, 128.into()).unwrap();
    assert_eq!(s.decrypt(&Mechanism::AesGcm(params), k, &expect).unwrap(), pt);
}

#[test]
fn digests_fips180_and_digest_key() {
    let (_m, s) = session();
    assert_eq!(
        s.digest(&Mechanism::Sha256, b"abc").unwrap(),
        h("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    );
    assert_eq!(s.digest(&Mechanism::Sha1, b"abc").unwrap(), h("a9993e364706816aba3e25717850c26c9cd0d89d"));
    assert_eq!(
        s.digest(&Mechanism::Sha512, b"abc").unwrap(),
        h("ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f")
    );
    s.digest_init(&Mechanism::Sha256).unwrap();
    s.digest_update(b"a").unwrap();
    s.digest_update(b"bc").unwrap();
    assert_eq!(s.digest_final().unwrap(), h("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    // C_DigestKey digests the key's value without revealing it (sensitive key).
    let k = s
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::GENERIC_SECRET),
            Attribute::Value(b"abc".to_vec()),
        ])
        .unwrap();
    s.digest_init(&Mechanism::Sha256).unwrap();
    s.digest_key(k).unwrap();
    assert_eq!(s.digest_final().unwrap(), h("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
}

#[test]
fn hmac_rfc4231_case2_sign_verify() {
    let (_m, s) = session();
    let k = secret(&s, KeyType::GENERIC_SECRET, b"Jefe");
    let mac = s.sign(&Mechanism::Sha256Hmac, k, b"what do ya want for nothing?").unwrap();
    assert_eq!(mac, h("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"));
    s.verify(&Mechanism::Sha256Hmac, k, b"what do ya want for nothing?", &mac).unwrap();
    let mut bad = mac.clone();
    bad[0] ^= 1;
    assert_eq!(
        rv(s.verify(&Mechanism::Sha256Hmac, k, b"what do ya want for nothing?", &bad).unwrap_err()),
        RvError::SignatureInvalid
    );
    assert_eq!(
        rv(s.verify(&Mechanism::Sha256Hmac, k, b"what do ya want for nothing?", &mac[..31]).unwrap_err()),
        RvError::SignatureLenRange
    );
    // An AES key is not an HMAC key.
    let aes = secret(&s, KeyType::AES, &[0u8; 16]);
    assert_eq!(rv(s.sign(&Mechanism::Sha256Hmac, aes, b"x").unwrap_err()), RvError::KeyTypeInconsistent);
}

#[test]
fn aes_key_wrap_rfc3394_4_6_unwrap_and_wrap() {
    let (_m, s) = session();
    let kek = secret(&s, KeyType::AES, &h("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F"));
    let wrapped = h("28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21");
    let key = s
        .unwrap_key(
            &Mechanism::AesKeyWrap,
            kek,
            &wrapped,
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::Sensitive(false),
                Attribute::Extractable(true),
            ],
        )
        .unwrap();
    let v = s.get_attributes(key, &[AttributeType::Value]).unwrap();
    assert_eq!(v, vec![Attribute::Value(h("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F"))]);
    assert_eq!(s.wrap_key(&Mechanism::AesKeyWrap, kek, key).unwrap(), wrapped);
    // A flipped bit is caught by the integrity check.
    let mut bad = wrapped.clone();
    bad[10] ^= 1;
    let e = s
        .unwrap_key(
            &Mechanism::AesKeyWrap,
            kek,
            &bad,
            &[Attribute::Class(ObjectClass::SECRET_KEY), Attribute::KeyType(KeyType::AES)],
        )
        .unwrap_err();
    assert_eq!(rv(e), RvError::WrappedKeyInvalid);
}

#[test]
fn aes_kwp_rfc5649_as_ckm_aes_key_wrap_pad() {
    let (_m, s) = session();
    let kek = secret(&s, KeyType::AES, &h("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8"));
    let target = secret(&s, KeyType::GENERIC_SECRET, &h("c37b7e6492584340bed12207808941155068f738"));
    let expect = h("138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a");
    assert_eq!(s.wrap_key(&Mechanism::AesKeyWrapPad, kek, target).unwrap(), expect);
    // (CKM_AES_KEY_WRAP_KWP, 0x210B, has no cryptoki variant: tests/abi.rs calls it by number.)
    let back = s
        .unwrap_key(
            &Mechanism::AesKeyWrapPad,
            kek,
            &expect,
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::GENERIC_SECRET),
                Attribute::Sensitive(false),
            ],
        )
        .unwrap();
    assert_eq!(
        s.get_attributes(back, &[AttributeType::Value]).unwrap(),
        vec![Attribute::Value(h("c37b7e6492584340bed12207808941155068f738"))]
    );
}

#[test]
fn wrap_rules_extractable_and_usage() {
    let (_m, s) = session();
    // A key-encryption key born here: wraps, cannot decrypt (see tests/attacks.rs).
    let kek = s
        .generate_key(
            &Mechanism::AesKeyGen,
            &[Attribute::ValueLen(32.into()), Attribute::Wrap(true), Attribute::Decrypt(false)],
        )
        .unwrap();
    let locked = s
        .generate_key(&Mechanism::AesKeyGen, &[Attribute::ValueLen(16.into()), Attribute::Extractable(false)])
        .unwrap();
    assert_eq!(rv(s.wrap_key(&Mechanism::AesKeyWrap, kek, locked).unwrap_err()), RvError::KeyUnextractable);
    let nowrap =
        s.generate_key(&Mechanism::AesKeyGen, &[Attribute::ValueLen(32.into()), Attribute::Wrap(false)]).unwrap();
    let free = s.generate_key(&Mechanism::AesKeyGen, &[Attribute::ValueLen(16.into())]).unwrap();
    assert!(s.wrap_key(&Mechanism::AesKeyWrap, nowrap, free).is_err());
    // A generated sensitive key still wraps (it never leaves in the clear) and unwraps equal.
    let w = s.wrap_key(&Mechanism::AesKeyWrap, kek, free).unwrap();
    assert_eq!(w.len(), 24);
    let back = s
        .unwrap_key(
            &Mechanism::AesKeyWrap,
            kek,
            &w,
            &[Attribute::Class(ObjectClass::SECRET_KEY), Attribute::KeyType(KeyType::AES)],
        )
        .unwrap();
    let iv = [7u8; 16];
    let c1 = s.encrypt(&Mechanism::AesCbcPad(iv), free, b"same key?").unwrap();
    assert_eq!(s.decrypt(&Mechanism::AesCbcPad(iv), back, &c1).unwrap(), b"same key?");
    // CKA_ALLOWED_MECHANISMS is enforced.
    let only_gcm = s
        .generate_key(
            &Mechanism::AesKeyGen,
            &[Attribute::ValueLen(16.into()), Attribute::AllowedMechanisms(vec![MechanismType::AES_GCM])],
        )
        .unwrap();
    assert_eq!(rv(s.encrypt(&Mechanism::AesCbcPad(iv), only_gcm, b"x").unwrap_err()), RvError::MechanismInvalid);
    // A key without CKA_ENCRYPT.
    let noenc =
        s.generate_key(&Mechanism::AesKeyGen, &[Attribute::ValueLen(16.into()), Attribute::Encrypt(false)]).unwrap();
    assert_eq!(rv(s.encrypt(&Mechanism::AesCbcPad(iv), noenc, b"x").unwrap_err()), RvError::KeyFunctionNotPermitted);
}

#[test]
fn operation_rules() {
    let (_m, s) = session();
    let k = s.generate_key(&Mechanism::AesKeyGen, &[Attribute::ValueLen(16.into())]).unwrap();
    let iv = [0u8; 16];
    s.encrypt_init(&Mechanism::AesCbcPad(iv), k).unwrap();
    assert_eq!(rv(s.encrypt_init(&Mechanism::AesCbcPad(iv), k).unwrap_err()), RvError::OperationActive);
    s.encrypt_update(b"0123456789").unwrap();
    // A single-part call after an update is refused; the operation goes on.
    assert_eq!(rv(s.encrypt(&Mechanism::AesCbcPad(iv), k, b"x").unwrap_err()), RvError::OperationActive);
    assert_eq!(s.encrypt_final().unwrap().len(), 16);
    assert_eq!(rv(s.encrypt_final().unwrap_err()), RvError::OperationNotInitialized);
    // Wrong key size for a generated key.
    assert_eq!(
        rv(s.generate_key(&Mechanism::AesKeyGen, &[Attribute::ValueLen(20.into())]).unwrap_err()),
        RvError::KeySizeRange
    );
    assert_eq!(rv(s.generate_key(&Mechanism::AesKeyGen, &[]).unwrap_err()), RvError::TemplateIncomplete);
    // DES3: generate, odd parity, round trip.
    let d = s.generate_key(&Mechanism::Des3KeyGen, &[Attribute::Sensitive(false)]).unwrap();
    let v = s.get_attributes(d, &[AttributeType::Value]).unwrap();
    let Attribute::Value(bytes) = &v[0] else { panic!() };
    assert_eq!(bytes.len(), 24);
    assert!(bytes.iter().all(|b| b.count_ones() % 2 == 1));
    let c = s.encrypt(&Mechanism::Des3CbcPad([1u8; 8]), d, b"payment data").unwrap();
    assert_eq!(s.decrypt(&Mechanism::Des3CbcPad([1u8; 8]), d, &c).unwrap(), b"payment data");
}
