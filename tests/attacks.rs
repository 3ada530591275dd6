//! Keys leave only as policy allows: each attack of issue #9 through the built `.so`, showing the
//! refusal and its return code, beside a positive control showing the legitimate use still
//! works. Offline steps (what the attacker does with what it received) use aws-lc directly and
//! the `rsa` crate, never the token's own code.

mod common;
use common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use rsa::traits::{PrivateKeyParts, PublicKeyParts};

/// A generated AES-256 session key: protected (its value never known to the caller).
fn generated(s: &Session, extra: &[Attribute]) -> ObjectHandle {
    let mut t = vec![Attribute::ValueLen(32.into()), Attribute::Token(false)];
    t.extend_from_slice(extra);
    s.generate_key(&Mechanism::AesKeyGen, &t).unwrap()
}

/// An AES-256 key whose value the caller chose.
fn created(s: &Session, value: &[u8], extra: &[Attribute]) -> ObjectHandle {
    let mut t = vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Value(value.to_vec()),
        Attribute::Token(false),
    ];
    t.extend_from_slice(extra);
    s.create_object(&t).unwrap()
}

/// A key-encryption key born in the token: generated sensitive, CKA_WRAP, no CKA_DECRYPT.
fn kek(s: &Session) -> ObjectHandle {
    generated(
        s,
        &[Attribute::Wrap(true), Attribute::Unwrap(true), Attribute::Decrypt(false), Attribute::Encrypt(false)],
    )
}

/// What a key encrypts the zero block to (its check value), through the token.
fn kcv(s: &Session, k: ObjectHandle) -> Vec<u8> {
    s.encrypt(&Mechanism::AesEcb, k, &[0u8; 16]).unwrap()
}

/// The same, offline, for a value the attacker holds.
fn kcv_offline(value: &[u8]) -> Vec<u8> {
    use aws_lc_rs::cipher::{EncryptingKey, UnboundCipherKey, AES_256};
    let k = EncryptingKey::ecb(UnboundCipherKey::new(&AES_256, value).unwrap()).unwrap();
    let mut block = vec![0u8; 16];
    k.encrypt(&mut block).unwrap();
    block
}

fn ecb_decrypt_offline(key: &[u8], data: &[u8]) -> Vec<u8> {
    use aws_lc_rs::cipher::{DecryptingKey, DecryptionContext, UnboundCipherKey, AES_256};
    let k = DecryptingKey::ecb(UnboundCipherKey::new(&AES_256, key).unwrap()).unwrap();
    let mut buf = data.to_vec();
    k.decrypt(&mut buf, DecryptionContext::None).unwrap().to_vec()
}

fn oaep_sha256() -> Mechanism<'static> {
    Mechanism::RsaPkcsOaep(PkcsOaepParams::new(
        MechanismType::SHA256,
        PkcsMgfType::MGF1_SHA256,
        PkcsOaepSource::empty(),
    ))
}

/// An RSA key pair the attacker made offline (aws-lc generates, the `rsa` crate holds it): its
/// public half as token attributes.
fn offline_rsa() -> (rsa::RsaPrivateKey, Vec<Attribute>) {
    use aws_lc_rs::encoding::AsDer;
    use rsa::pkcs8::DecodePrivateKey;
    let kp = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&kp).unwrap();
    let sk = rsa::RsaPrivateKey::from_pkcs8_der(der.as_ref()).unwrap();
    let t = vec![
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::KeyType(KeyType::RSA),
        Attribute::Modulus(sk.n().to_bytes_be()),
        Attribute::PublicExponent(sk.e().to_bytes_be()),
        Attribute::Wrap(true),
        Attribute::Token(false),
    ];
    (sk, t)
}

/// A generated RSA-2048 session key pair; `private` adds to the private template.
fn rsa_pair(s: &Session, private: &[Attribute]) -> (ObjectHandle, ObjectHandle) {
    let mut t = vec![Attribute::Token(false)];
    t.extend_from_slice(private);
    s.generate_key_pair(
        &Mechanism::RsaPkcsKeyPairGen,
        &[Attribute::ModulusBits(2048.into()), Attribute::Token(false)],
        &t,
    )
    .unwrap()
}

fn logged_in() -> (Module, Session) {
    let m = Module::fresh();
    let slot = m.init_token("attacks");
    let s = m.user_session(slot);
    (m, s)
}

#[test]
fn case1_wrap_then_decrypt_is_refused() {
    let (_m, s) = logged_in();
    let secret = generated(&s, &[]);
    // A key that can both wrap and decrypt: wrapping the protected key under it is refused.
    let dual = generated(&s, &[Attribute::Wrap(true), Attribute::Decrypt(true)]);
    assert_eq!(rv(s.wrap_key(&Mechanism::AesEcb, dual, secret).unwrap_err()), RvError::KeyNotWrappable);
    // The same with CBC-PAD for a generated RSA private key.
    let (_, sk) = rsa_pair(&s, &[Attribute::Extractable(true)]);
    assert_eq!(rv(s.wrap_key(&Mechanism::AesCbcPad([0; 16]), dual, sk).unwrap_err()), RvError::KeyNotWrappable);
    // Positive control: a key the caller made itself still wraps under the dual key, and the
    // caller may decrypt that blob (it gains nothing it did not have).
    let known_value = [0x42u8; 32];
    let known = created(&s, &known_value, &[]);
    let blob = s.wrap_key(&Mechanism::AesEcb, dual, known).unwrap();
    assert_eq!(s.decrypt(&Mechanism::AesEcb, dual, &blob).unwrap(), known_value);
    // Positive control: a KEK born here wraps the protected key and cannot decrypt its blob,
    // nor be made to (set or copy).
    let k = kek(&s);
    let blob = s.wrap_key(&Mechanism::AesEcb, k, secret).unwrap();
    assert_eq!(rv(s.decrypt(&Mechanism::AesEcb, k, &blob).unwrap_err()), RvError::KeyFunctionNotPermitted);
    assert_eq!(rv(s.update_attributes(k, &[Attribute::Decrypt(true)]).unwrap_err()), RvError::AttributeReadOnly);
    assert_eq!(rv(s.copy_object(k, &[Attribute::Decrypt(true)]).unwrap_err()), RvError::AttributeReadOnly);
    // A KEK never leaves, not even under another KEK.
    let k2 = kek(&s);
    assert_eq!(rv(s.wrap_key(&Mechanism::AesKeyWrap, k2, k).unwrap_err()), RvError::KeyNotWrappable);
}

#[test]
fn case2_wrap_under_a_key_the_caller_knows_is_refused() {
    let (m, s) = logged_in();
    let secret = generated(&s, &[]);
    let chosen = [7u8; 32];
    let known = created(&s, &chosen, &[Attribute::Wrap(true)]);
    assert_eq!(rv(s.wrap_key(&Mechanism::AesKeyWrap, known, secret).unwrap_err()), RvError::KeyNotWrappable);
    // An RSA public key the caller imported.
    let (attacker, pubt) = offline_rsa();
    let imported = s.create_object(&pubt).unwrap();
    assert_eq!(rv(s.wrap_key(&oaep_sha256(), imported, secret).unwrap_err()), RvError::KeyNotWrappable);
    // Positive control: the SO marks a public key CKA_TRUSTED; the protected key then wraps to
    // it, and its private half (offline) recovers exactly the token's key.
    let slot = s.get_session_info().unwrap().slot_id();
    let secret_tok = s.generate_key(&Mechanism::AesKeyGen, &[Attribute::ValueLen(32.into()), Attribute::Token(true)]);
    let secret_tok = secret_tok.unwrap();
    let want_kcv = kcv(&s, secret_tok);
    s.logout().unwrap();
    let so = m.p11.open_rw_session(slot).unwrap();
    so.login(UserType::So, Some(&AuthPin::new(SO_PIN.into()))).unwrap();
    let mut t = pubt.clone();
    t.retain(|a| !matches!(a, Attribute::Token(_)));
    t.extend([Attribute::Token(true), Attribute::Trusted(true), Attribute::Label(b"azure-kek".to_vec())]);
    so.create_object(&t).unwrap();
    so.logout().unwrap();
    drop(so);
    s.login(UserType::User, Some(&AuthPin::new(USER_PIN.into()))).unwrap();
    let trusted = s.find_objects(&[Attribute::Label(b"azure-kek".to_vec())]).unwrap()[0];
    let secret_tok = s.find_objects(&[Attribute::Class(ObjectClass::SECRET_KEY), Attribute::Token(true)]).unwrap()[0];
    let blob = s.wrap_key(&oaep_sha256(), trusted, secret_tok).unwrap();
    let value = attacker.decrypt(rsa::Oaep::new::<sha2::Sha256>(), &blob).unwrap();
    assert_eq!(kcv_offline(&value), want_kcv);
    // Positive control: a key the caller knows wraps under a key it knows.
    let other = created(&s, &[9u8; 32], &[]);
    let blob = s.wrap_key(&Mechanism::AesEcb, known, other).unwrap();
    assert_eq!(ecb_decrypt_offline(&chosen, &blob), vec![9u8; 32]);
}

#[test]
fn case3_unwrap_is_no_decryption_oracle() {
    let (_m, s) = logged_in();
    let (pk, sk) = rsa_pair(&s, &[Attribute::AlwaysAuthenticate(true)]);
    let secret_msg = b"a message only the key holder may read".to_vec();
    let ct = s.encrypt(&oaep_sha256(), pk, &secret_msg).unwrap();
    let as_secret = |extra: &[Attribute]| {
        let mut t = vec![
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::GENERIC_SECRET),
            Attribute::Token(false),
        ];
        t.extend_from_slice(extra);
        t
    };
    for bad in [vec![Attribute::Sensitive(false)], vec![Attribute::Extractable(true)]] {
        let e = s.unwrap_key(&oaep_sha256(), sk, &ct, &as_secret(&bad)).unwrap_err();
        assert_eq!(rv(e), RvError::TemplateInconsistent, "{bad:?}");
    }
    // Every unwrap with it asks for the PIN first (C_Login(CKU_CONTEXT_SPECIFIC), one use).
    let e = s.unwrap_key(&oaep_sha256(), sk, &ct, &as_secret(&[])).unwrap_err();
    assert_eq!(rv(e), RvError::UserNotLoggedIn);
    s.login(UserType::ContextSpecific, Some(&AuthPin::new(USER_PIN.into()))).unwrap();
    // Unwrapped then, the result is sensitive and non-extractable: nothing reads it back.
    let h = s.unwrap_key(&oaep_sha256(), sk, &ct, &as_secret(&[])).unwrap();
    let a = s.get_attributes(h, &[AttributeType::Sensitive, AttributeType::Extractable]).unwrap();
    assert_eq!(a, vec![Attribute::Sensitive(true), Attribute::Extractable(false)]);
    // (cryptoki reports CKR_ATTRIBUTE_SENSITIVE as an absent value.)
    assert!(s.get_attributes(h, &[AttributeType::Value]).unwrap().is_empty());
    let k = kek(&s);
    assert_eq!(rv(s.wrap_key(&Mechanism::AesKeyWrapPad, k, h).unwrap_err()), RvError::KeyUnextractable);
    // The same for a key a KEK born here unwraps: what it wrapped stays protected.
    let secret = generated(&s, &[]);
    let blob = s.wrap_key(&Mechanism::AesKeyWrap, k, secret).unwrap();
    let aes = |extra: &[Attribute]| {
        let mut t =
            vec![Attribute::Class(ObjectClass::SECRET_KEY), Attribute::KeyType(KeyType::AES), Attribute::Token(false)];
        t.extend_from_slice(extra);
        t
    };
    let e = s.unwrap_key(&Mechanism::AesKeyWrap, k, &blob, &aes(&[Attribute::Sensitive(false)])).unwrap_err();
    assert_eq!(rv(e), RvError::TemplateInconsistent);
    let twin = s.unwrap_key(&Mechanism::AesKeyWrap, k, &blob, &aes(&[])).unwrap();
    assert_eq!(kcv(&s, twin), kcv(&s, secret), "the legitimate restore works");
    let known = created(&s, &[1u8; 32], &[]);
    assert_eq!(rv(s.wrap_key(&Mechanism::AesEcb, known, twin).unwrap_err()), RvError::KeyNotWrappable);
    // Positive control: a private key without CKA_ALWAYS_AUTHENTICATE unwraps what the caller
    // encrypted as a readable key (the caller knew it anyway).
    let (pk2, sk2) = rsa_pair(&s, &[]);
    let ct2 = s.encrypt(&oaep_sha256(), pk2, b"caller's own secret").unwrap();
    let h2 = s.unwrap_key(
        &oaep_sha256(),
        sk2,
        &ct2,
        &as_secret(&[Attribute::Sensitive(false), Attribute::Extractable(true)]),
    );
    let v = s.get_attributes(h2.unwrap(), &[AttributeType::Value]).unwrap();
    assert_eq!(v, vec![Attribute::Value(b"caller's own secret".to_vec())]);
}

#[test]
fn case4_digest_key_refuses_protected_keys() {
    let (_m, s) = logged_in();
    let secret = generated(&s, &[]);
    s.digest_init(&Mechanism::Sha256).unwrap();
    assert_eq!(rv(s.digest_key(secret).unwrap_err()), RvError::KeyIndigestible);
    let locked = created(&s, &[3u8; 32], &[Attribute::Extractable(false)]);
    s.digest_init(&Mechanism::Sha256).unwrap();
    assert_eq!(rv(s.digest_key(locked).unwrap_err()), RvError::KeyIndigestible);
    // Positive control: a key the caller made, extractable, digests to the SHA-256 of its value.
    let known = created(&s, &[5u8; 32], &[]);
    s.digest_init(&Mechanism::Sha256).unwrap();
    s.digest_key(known).unwrap();
    use sha2::Digest;
    assert_eq!(s.digest_final().unwrap(), sha2::Sha256::digest([5u8; 32]).to_vec());
}

/// Byte 8 of an object file is its protection: 0 module key, 1 the card's logical token.
fn protections(kmdata: &std::path::Path) -> Vec<u8> {
    let mut v: Vec<u8> = std::fs::read_dir(kmdata.join("local"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("key_pkcs11_us"))
        .map(|e| std::fs::read(e.path()).unwrap()[8])
        .collect();
    v.sort();
    v
}

#[test]
fn case5_a_private_key_is_never_made_public() {
    let (m, s) = logged_in();
    let (_, sk) = s
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[
                Attribute::EcParams(vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]),
                Attribute::Token(true),
            ],
            &[Attribute::Token(true), Attribute::Label(b"signer".to_vec())],
        )
        .unwrap();
    // Protection never weakens: a private key has no public copy, as a token or a session object.
    for token in [true, false] {
        let e = s.copy_object(sk, &[Attribute::Private(false), Attribute::Token(token)]).unwrap_err();
        assert_eq!(rv(e), RvError::AttributeReadOnly);
    }
    // Keys born public (CKA_PRIVATE=FALSE) are public: sealed under the module key, as nShield
    // module-protects them, and usable without the login.
    s.generate_key_pair(
        &Mechanism::EccKeyPairGen,
        &[
            Attribute::EcParams(vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]),
            Attribute::Token(false),
        ],
        &[Attribute::Token(true), Attribute::Private(false), Attribute::Label(b"public".to_vec())],
    )
    .unwrap();
    s.generate_key(
        &Mechanism::AesKeyGen,
        &[Attribute::ValueLen(16.into()), Attribute::Token(true), Attribute::Private(false)],
    )
    .unwrap();
    // Only the private key's file is sealed under the logical token.
    assert_eq!(protections(&m.kmdata()), vec![0, 0, 0, 1]);
    s.logout().unwrap();
    // A fresh process that does not log in: the private key is neither seen nor usable; the
    // public ones are both.
    let so = m.dir.path().join("second.so");
    std::fs::copy(built_module(), &so).unwrap();
    let p2 = init_at(&so, &m.kmdata());
    let slot = s.get_session_info().unwrap().slot_id();
    let s2 = p2.open_rw_session(slot).unwrap();
    assert!(s2
        .find_objects(&[Attribute::Label(b"signer".to_vec()), Attribute::Class(ObjectClass::PRIVATE_KEY)])
        .unwrap()
        .is_empty());
    let public = s2.find_objects(&[Attribute::Label(b"public".to_vec())]).unwrap();
    assert_eq!(public.len(), 1);
    assert_eq!(s2.sign(&Mechanism::Ecdsa, public[0], &[1u8; 32]).unwrap().len(), 64);
    let aes = s2.find_objects(&[Attribute::Class(ObjectClass::SECRET_KEY)]).unwrap();
    assert_eq!(aes.len(), 1);
    s2.encrypt(&Mechanism::AesEcb, aes[0], &[0u8; 16]).unwrap();
    // Positive control: with the passphrase, the private key signs.
    s2.login(UserType::User, Some(&AuthPin::new(USER_PIN.into()))).unwrap();
    let signer =
        s2.find_objects(&[Attribute::Label(b"signer".to_vec()), Attribute::Class(ObjectClass::PRIVATE_KEY)]).unwrap();
    assert_eq!(s2.sign(&Mechanism::Ecdsa, signer[0], &[1u8; 32]).unwrap().len(), 64);
}

#[test]
fn case8_public_key_info_must_match_the_key() {
    let (_m, s) = logged_in();
    let (a, _) = offline_rsa();
    let (b, _) = offline_rsa();
    use rsa::pkcs8::EncodePublicKey;
    let spki_b = b.to_public_key().to_public_key_der().unwrap().as_bytes().to_vec();
    let spki_a = a.to_public_key().to_public_key_der().unwrap().as_bytes().to_vec();
    let private = |spki: &[u8]| {
        vec![
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(KeyType::RSA),
            Attribute::Token(false),
            Attribute::Modulus(a.n().to_bytes_be()),
            Attribute::PublicExponent(a.e().to_bytes_be()),
            Attribute::PrivateExponent(a.d().to_bytes_be()),
            Attribute::PublicKeyInfo(spki.to_vec()),
        ]
    };
    assert_eq!(rv(s.create_object(&private(&spki_b)).unwrap_err()), RvError::AttributeValueInvalid);
    // CKA_MODULUS of another key with this key's private components: refused too.
    let mut swapped = private(&spki_a);
    swapped[3] = Attribute::Modulus(b.n().to_bytes_be());
    swapped.pop();
    assert_eq!(rv(s.create_object(&swapped).unwrap_err()), RvError::AttributeValueInvalid);
    let primes = a.primes();
    let mut with_crt = swapped.clone();
    with_crt.extend([Attribute::Prime1(primes[0].to_bytes_be()), Attribute::Prime2(primes[1].to_bytes_be())]);
    assert_eq!(rv(s.create_object(&with_crt).unwrap_err()), RvError::AttributeValueInvalid);
    let public = |spki: &[u8]| {
        vec![
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(KeyType::RSA),
            Attribute::Token(false),
            Attribute::Modulus(a.n().to_bytes_be()),
            Attribute::PublicExponent(a.e().to_bytes_be()),
            Attribute::PublicKeyInfo(spki.to_vec()),
        ]
    };
    assert_eq!(rv(s.create_object(&public(&spki_b)).unwrap_err()), RvError::AttributeValueInvalid);
    // Positive controls: the key's own SPKI, given or not, is accepted and reported.
    let h = s.create_object(&private(&spki_a)).unwrap();
    assert_eq!(
        s.get_attributes(h, &[AttributeType::PublicKeyInfo]).unwrap(),
        vec![Attribute::PublicKeyInfo(spki_a.clone())]
    );
    s.create_object(&public(&spki_a)).unwrap();
}

#[test]
fn override_tokens_reenable_exactly_their_class() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("assurance.log");
    let m = Module::fresh_with_env(&[
        ("CKNFAST_OVERRIDE_SECURITY_ASSURANCES", "digest_key"),
        ("CKNFAST_ASSURANCE_LOG", log.to_str().unwrap()),
    ]);
    let slot = m.init_token("relaxed");
    let s = m.user_session(slot);
    let secret = generated(&s, &[]);
    // digest_key relaxed: the digest is allowed (and logged as relaxed).
    s.digest_init(&Mechanism::Sha256).unwrap();
    s.digest_key(secret).unwrap();
    assert_eq!(s.digest_final().unwrap().len(), 32);
    // wrap_kek is not: wrapping under a known key is still refused, with a line naming the token.
    let known = created(&s, &[7u8; 32], &[]);
    assert_eq!(rv(s.wrap_key(&Mechanism::AesKeyWrap, known, secret).unwrap_err()), RvError::KeyNotWrappable);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("security assurance digest_key relaxed by override"), "{text}");
    assert!(text.contains("CKNFAST_OVERRIDE_SECURITY_ASSURANCES=wrap_kek"), "{text}");
    assert!(!text.contains(&hex::encode([7u8; 32])), "no key material in the log");

    // wrap_kek relaxed: the legacy wrap goes through; digest_key is refused again.
    let m = Module::fresh_with_env(&[("CKNFAST_OVERRIDE_SECURITY_ASSURANCES", "wrap_kek")]);
    let slot = m.init_token("legacy");
    let s = m.user_session(slot);
    let secret = generated(&s, &[]);
    let known = created(&s, &[7u8; 32], &[]);
    let blob = s.wrap_key(&Mechanism::AesEcb, known, secret).unwrap();
    assert_eq!(kcv_offline(&ecb_decrypt_offline(&[7u8; 32], &blob)), kcv(&s, secret));
    s.digest_init(&Mechanism::Sha256).unwrap();
    assert_eq!(rv(s.digest_key(secret).unwrap_err()), RvError::KeyIndigestible);
}

#[test]
fn weak_rsa_is_an_override_not_a_default() {
    let gen = |s: &Session| {
        s.generate_key_pair(
            &Mechanism::RsaPkcsKeyPairGen,
            &[Attribute::ModulusBits(1024.into()), Attribute::Token(false)],
            &[Attribute::Token(false)],
        )
    };
    let (_m, s) = logged_in();
    assert_eq!(rv(gen(&s).unwrap_err()), RvError::KeySizeRange);
    let m = Module::fresh_with_env(&[("CKNFAST_OVERRIDE_SECURITY_ASSURANCES", "weak_all")]);
    let slot = m.init_token("weak");
    let s = m.user_session(slot);
    gen(&s).unwrap();
}

#[test]
fn case6_module_keys_change_only_as_their_acl_allows() {
    use common::cli::{Env, SEED_GENERATEKEY};
    let env = Env::new();
    env.world("1/1", false, &["acs"]);
    env.ok("generatekey", SEED_GENERATEKEY, &[]);
    let file = env.local("key_simple_contosokey");
    let before = std::fs::read(&file).unwrap();
    let so = env.dir.path().join("lib-acl.so");
    std::fs::copy(built_module(), &so).unwrap();
    let p11 = init_at(&so, &env.kmdata());
    let s = p11.open_rw_session(module_slot()).unwrap();
    let sk = s
        .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY), Attribute::Label(b"contosokey".to_vec())])
        .unwrap()[0];
    let a = s.get_attributes(sk, &[AttributeType::Modifiable, AttributeType::Destroyable]).unwrap();
    assert_eq!(a, vec![Attribute::Modifiable(false), Attribute::Destroyable(false)]);
    for change in [Attribute::Label(b"mine".to_vec()), Attribute::Decrypt(false)] {
        assert_eq!(rv(s.update_attributes(sk, &[change]).unwrap_err()), RvError::AttributeReadOnly);
    }
    assert_eq!(rv(s.destroy_object(sk).unwrap_err()), RvError::ActionProhibited);
    assert_eq!(std::fs::read(&file).unwrap(), before, "the key file is untouched");
    // Positive control: a key made through PKCS#11 in the module slot has no ACL and is managed
    // as usual; the seed's key still signs.
    let k = s.generate_key(&Mechanism::AesKeyGen, &[Attribute::ValueLen(16.into()), Attribute::Token(true)]).unwrap();
    s.update_attributes(k, &[Attribute::Label(b"renamed".to_vec())]).unwrap();
    s.destroy_object(k).unwrap();
    assert_eq!(s.sign(&Mechanism::Sha256RsaPkcs, sk, b"still signs").unwrap().len(), 256);
}

/// A search is no oracle: C_FindObjects never confirms a guessed value of an attribute the caller
/// may not read (a sensitive secret's CKA_VALUE, an RSA private exponent). Positive control: the
/// same search finds a key whose value is readable.
#[test]
fn case9_find_objects_does_not_confirm_a_guessed_secret() {
    let (_m, s) = logged_in();
    let guess = [0x42u8; 16];
    let secret = created(&s, &guess, &[Attribute::Sensitive(true), Attribute::Label(b"secret".to_vec())]);
    let open = created(
        &s,
        &[0x17u8; 16],
        &[Attribute::Sensitive(false), Attribute::Extractable(true), Attribute::Label(b"open".to_vec())],
    );
    let by_value = |v: &[u8]| s.find_objects(&[Attribute::Value(v.to_vec())]).unwrap();
    assert!(by_value(&guess).is_empty(), "the sensitive key's value must not be confirmed by a search");
    assert!(!by_value(&guess).contains(&secret));
    assert_eq!(by_value(&[0x17u8; 16]), vec![open], "a readable value is searchable");
    // Its other, public attributes still match.
    assert_eq!(s.find_objects(&[Attribute::Label(b"secret".to_vec())]).unwrap(), vec![secret]);
    // An imported RSA private key: its modulus is searchable, its private exponent is not.
    let (sk, _) = offline_rsa();
    let be = |b: &rsa::BigUint| b.to_bytes_be();
    let privk = s
        .create_object(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(KeyType::RSA),
            Attribute::Modulus(be(sk.n())),
            Attribute::PublicExponent(be(sk.e())),
            Attribute::PrivateExponent(be(sk.d())),
            Attribute::Prime1(be(&sk.primes()[0])),
            Attribute::Prime2(be(&sk.primes()[1])),
            Attribute::Sensitive(true),
            Attribute::Token(false),
        ])
        .unwrap();
    assert_eq!(s.find_objects(&[Attribute::Modulus(be(sk.n()))]).unwrap(), vec![privk]);
    assert!(s.find_objects(&[Attribute::PrivateExponent(be(sk.d()))]).unwrap().is_empty());
}

/// A generated DES-family session key with the given usage attributes.
fn des_family(s: &Session, mech: &Mechanism, extra: &[Attribute]) -> ObjectHandle {
    let mut t = vec![Attribute::Token(false)];
    t.extend_from_slice(extra);
    s.generate_key(mech, &t).unwrap()
}

#[test]
fn case10_a_weak_key_wraps_nothing_stronger() {
    // The 56-bit route: a protected AES-256 key wrapped under single DES is worth 56 bits.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("assurance.log");
    let m = Module::fresh_with_env(&[
        ("CKNFAST_OVERRIDE_SECURITY_ASSURANCES", "weak_des"),
        ("CKNFAST_ASSURANCE_LOG", log.to_str().unwrap()),
    ]);
    let slot = m.init_token("weak-wrap");
    let s = m.user_session(slot);
    let kek_attrs =
        [Attribute::Wrap(true), Attribute::Unwrap(true), Attribute::Encrypt(false), Attribute::Decrypt(false)];
    let des_kek = des_family(&s, &Mechanism::DesKeyGen, &kek_attrs);
    let des2_kek = des_family(&s, &Mechanism::Des2KeyGen, &kek_attrs);
    let aes256 = generated(&s, &[]);
    assert_eq!(rv(s.wrap_key(&Mechanism::DesEcb, des_kek, aes256).unwrap_err()), RvError::KeyNotWrappable);
    assert_eq!(rv(s.wrap_key(&Mechanism::DesCbcPad([1; 8]), des_kek, aes256).unwrap_err()), RvError::KeyNotWrappable);
    // Two-key triple DES (80 bits) through the CKM_DES3_* mechanisms: the same.
    assert_eq!(rv(s.wrap_key(&Mechanism::Des3Ecb, des2_kek, aes256).unwrap_err()), RvError::KeyNotWrappable);
    // Nor an 80-bit key under 56 bits, nor an RSA private key under 80 bits.
    let des2 = des_family(&s, &Mechanism::Des2KeyGen, &[]);
    assert_eq!(rv(s.wrap_key(&Mechanism::DesEcb, des_kek, des2).unwrap_err()), RvError::KeyNotWrappable);
    let (_, rsa_private) = rsa_pair(&s, &[Attribute::Extractable(true)]);
    assert_eq!(
        rv(s.wrap_key(&Mechanism::Des3CbcPad([0; 8]), des2_kek, rsa_private).unwrap_err()),
        RvError::KeyNotWrappable
    );
    // The rule is about strength, not lineage: a key the caller knows, wrapped under a DES key
    // the caller knows, is refused too when it is stronger.
    let known_des = s
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::DES),
            Attribute::Value(hex::decode("0123456789abcdef").unwrap()),
            Attribute::Wrap(true),
            Attribute::Token(false),
        ])
        .unwrap();
    let known_aes = created(&s, &[0x42u8; 32], &[]);
    assert_eq!(rv(s.wrap_key(&Mechanism::DesEcb, known_des, known_aes).unwrap_err()), RvError::KeyNotWrappable);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("CKNFAST_OVERRIDE_SECURITY_ASSURANCES=wrap_weak"), "{text}");

    // Positive controls: a DES key wraps a DES key, a DES2 key wraps DES and DES2 keys, and the
    // AES-256 key leaves under an AES-256 KEK, as before.
    let des = des_family(&s, &Mechanism::DesKeyGen, &[]);
    let blob = s.wrap_key(&Mechanism::DesEcb, des_kek, des).unwrap();
    assert_eq!(blob.len(), 8);
    let back = s
        .unwrap_key(
            &Mechanism::DesEcb,
            des_kek,
            &blob,
            &[Attribute::Class(ObjectClass::SECRET_KEY), Attribute::KeyType(KeyType::DES), Attribute::Token(false)],
        )
        .unwrap();
    assert!(back != des);
    assert_eq!(s.wrap_key(&Mechanism::Des3Ecb, des2_kek, des).unwrap().len(), 8);
    assert_eq!(s.wrap_key(&Mechanism::Des3Ecb, des2_kek, des2).unwrap().len(), 16);
    assert_eq!(s.wrap_key(&Mechanism::AesKeyWrap, kek(&s), aes256).unwrap().len(), 40);

    // With wrap_weak relaxed as well, the legacy wrap goes through, and the log says so.
    let m = Module::fresh_with_env(&[
        ("CKNFAST_OVERRIDE_SECURITY_ASSURANCES", "weak_des;wrap_weak"),
        ("CKNFAST_ASSURANCE_LOG", log.to_str().unwrap()),
    ]);
    let slot = m.init_token("weak-wrap-relaxed");
    let s = m.user_session(slot);
    let des_kek = des_family(&s, &Mechanism::DesKeyGen, &kek_attrs);
    let aes256 = generated(&s, &[]);
    assert_eq!(s.wrap_key(&Mechanism::DesEcb, des_kek, aes256).unwrap().len(), 32);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("security assurance wrap_weak relaxed by override"), "{text}");
}

/// Public objects are public (issue #20): a session key born public, in a session that never
/// logged in, is usable without login (encrypt, HMAC, digest, wrap, set, destroy), where it got
/// `CKR_USER_NOT_LOGGED_IN` before; with no `CKA_PRIVATE` a public session makes public objects.
/// Protection never weakens: a public session cannot make a private object, a private key has no
/// public copy (case 5), and what is derived from or unwrapped with a private key is private.
#[test]
fn case11_public_session_keys_are_public_and_protection_never_weakens() {
    let m = Module::fresh();
    let slot = m.init_token("public");
    let s = m.p11.open_rw_session(slot).unwrap();
    let aes =
        s.generate_key(&Mechanism::AesKeyGen, &[Attribute::ValueLen(32.into()), Attribute::Token(false)]).unwrap();
    let read = s.get_attributes(aes, &[AttributeType::Private]).unwrap();
    assert_eq!(read, vec![Attribute::Private(false)], "a public session's default");
    let ct = s.encrypt(&Mechanism::AesEcb, aes, &[7u8; 16]).unwrap();
    assert_eq!(s.decrypt(&Mechanism::AesEcb, aes, &ct).unwrap(), vec![7u8; 16]);
    let hmac = s
        .generate_key(
            &Mechanism::GenericSecretKeyGen,
            &[Attribute::ValueLen(32.into()), Attribute::Token(false), Attribute::Sign(true), Attribute::Verify(true)],
        )
        .unwrap();
    let tag = s.sign(&Mechanism::Sha256Hmac, hmac, b"message").unwrap();
    s.verify(&Mechanism::Sha256Hmac, hmac, b"message", &tag).unwrap();
    let known = created(&s, &[3u8; 32], &[Attribute::Private(false), Attribute::Extractable(true)]);
    s.digest_init(&Mechanism::Sha256).unwrap();
    s.digest_key(known).unwrap();
    assert_eq!(s.digest_final().unwrap().len(), 32);
    let blob = s.wrap_key(&Mechanism::AesKeyWrapPad, aes, known).unwrap();
    assert!(!blob.is_empty());
    s.update_attributes(aes, &[Attribute::Label(b"renamed".to_vec())]).unwrap();
    s.destroy_object(known).unwrap();
    // A public session holds no private object.
    let e = s
        .generate_key(
            &Mechanism::AesKeyGen,
            &[Attribute::ValueLen(32.into()), Attribute::Token(false), Attribute::Private(true)],
        )
        .unwrap_err();
    assert_eq!(rv(e), RvError::UserNotLoggedIn);

    // Logged in: keys are private by default; nothing of a private key comes out public.
    s.login(UserType::User, Some(&AuthPin::new(USER_PIN.into()))).unwrap();
    let base = generated(&s, &[Attribute::Derive(true), Attribute::Encrypt(true)]);
    assert_eq!(s.get_attributes(base, &[AttributeType::Private]).unwrap(), vec![Attribute::Private(true)]);
    let d = common::derive::Derivation::data(cryptoki_sys::CKM_AES_ECB_ENCRYPT_DATA, &[1u8; 32]);
    let aes_out = |extra: &[Attribute]| {
        let mut t = vec![
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(32.into()),
            Attribute::Token(false),
        ];
        t.extend_from_slice(extra);
        t
    };
    let e = s.derive_key(&d.mechanism(), base, &aes_out(&[Attribute::Private(false)])).unwrap_err();
    assert_eq!(rv(e), RvError::TemplateInconsistent, "derived from a private key, never public");
    let derived = s.derive_key(&d.mechanism(), base, &aes_out(&[])).unwrap();
    assert_eq!(s.get_attributes(derived, &[AttributeType::Private]).unwrap(), vec![Attribute::Private(true)]);
    let e = s.copy_object(base, &[Attribute::Private(false)]).unwrap_err();
    assert_eq!(rv(e), RvError::AttributeReadOnly, "no public copy");
    // The public key stays usable in the logged-in session too.
    s.encrypt(&Mechanism::AesEcb, aes, &[7u8; 16]).unwrap();
}
