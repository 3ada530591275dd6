//! Key extraction through C_DeriveKey (Clulow 2003; Bortolozzo, Centenaro, Focardi, Steel,
//! "Attacking and fixing PKCS#11 security tokens" 2010; Delaune, Kremer, Steel 2008), through the
//! built `.so`: each refusal with its return code beside a positive control, and for each
//! security assurance the attack it guards against, carried out with the assurance overridden.
//! Offline steps (what the attacker does with what it received) use aws-lc directly.

mod common;
use common::derive::{Derivation, Kbkdf, Prf};
use common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use cryptoki_sys::*;

/// A generated AES-256 session key with CKA_DERIVE: protected (its value never known).
fn generated(s: &Session, extra: &[Attribute]) -> ObjectHandle {
    let mut t = vec![Attribute::ValueLen(32.into()), Attribute::Derive(true), Attribute::Token(false)];
    t.extend_from_slice(extra);
    s.generate_key(&Mechanism::AesKeyGen, &t).unwrap()
}

/// A key-encryption key born in the token (wrap-only) that also allows derivation.
fn kek(s: &Session) -> ObjectHandle {
    generated(
        s,
        &[Attribute::Wrap(true), Attribute::Unwrap(true), Attribute::Decrypt(false), Attribute::Encrypt(false)],
    )
}

/// A key of type `kt` whose value the caller chose, readable, with CKA_DERIVE.
fn created(s: &Session, kt: KeyType, value: &[u8]) -> ObjectHandle {
    s.create_object(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(kt),
        Attribute::Value(value.to_vec()),
        Attribute::Derive(true),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::Wrap(true),
        Attribute::Token(false),
    ])
    .unwrap()
}

/// The template of a derived AES-256 key that can decrypt (a would-be twin of its base).
fn decrypting_aes256() -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::ValueLen(32.into()),
        Attribute::Decrypt(true),
        Attribute::Encrypt(true),
        Attribute::Token(false),
    ]
}

/// A generic secret of `len` bytes that can sign (an HMAC key): the brute-force probe.
fn hmac_probe(len: usize) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::ValueLen((len as CK_ULONG).into()),
        Attribute::Sign(true),
        Attribute::Token(false),
    ]
}

fn value(s: &Session, k: ObjectHandle) -> Vec<u8> {
    match s.get_attributes(k, &[AttributeType::Value]).unwrap().pop() {
        Some(Attribute::Value(v)) => v,
        other => panic!("no value: {other:?}"),
    }
}

/// The zero block under a key in the token (its check value), and the same offline.
fn kcv(s: &Session, k: ObjectHandle) -> Vec<u8> {
    s.encrypt(&Mechanism::AesEcb, k, &[0u8; 16]).unwrap()
}

fn kcv_offline(key: &[u8]) -> Vec<u8> {
    use aws_lc_rs::cipher::{EncryptingKey, UnboundCipherKey, AES_128, AES_256};
    let alg = if key.len() == 16 { &AES_128 } else { &AES_256 };
    let k = EncryptingKey::ecb(UnboundCipherKey::new(alg, key).unwrap()).unwrap();
    let mut block = vec![0u8; 16];
    k.encrypt(&mut block).unwrap();
    block
}

/// The value of a short HMAC key, found offline by trying every last byte after `prefix`.
fn brute_force_next_byte(prefix: &[u8], msg: &[u8], mac: &[u8]) -> u8 {
    use aws_lc_rs::hmac;
    (0..=255u8)
        .find(|b| {
            let mut k = prefix.to_vec();
            k.push(*b);
            hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &k), msg).as_ref() == mac
        })
        .expect("one byte value fits")
}

fn session_with(overrides: &str) -> (Module, Session) {
    let m = Module::fresh_with_env(&[("CKNFAST_OVERRIDE_SECURITY_ASSURANCES", overrides)]);
    let slot = m.init_token("derive-attacks");
    let s = m.user_session(slot);
    (m, s)
}

/// A protected key wrapped (AES-ECB) under a KEK born here, as an application stores it.
fn stored_under_kek(s: &Session) -> (ObjectHandle, ObjectHandle, Vec<u8>) {
    let target = generated(s, &[]);
    let k = kek(s);
    let blob = s.wrap_key(&Mechanism::AesEcb, k, target).unwrap();
    (k, target, blob)
}

#[test]
fn xor_of_a_protected_key_is_refused() {
    let (_m, s) = logged_in_session("derive-attacks");
    let (k, _target, _blob) = stored_under_kek(&s);
    // XOR with zeros would be a twin of the KEK that decrypts its blobs; a 1-byte XOR would be
    // brute-forced through HMAC a byte at a time.
    let twin = s.derive_key(&Derivation::xor(&[0; 32]).mechanism(), k, &decrypting_aes256());
    assert_eq!(rv(twin.unwrap_err()), RvError::KeyFunctionNotPermitted);
    let probe = s.derive_key(&Derivation::xor(&[0]).mechanism(), generated(&s, &[]), &hmac_probe(1));
    assert_eq!(rv(probe.unwrap_err()), RvError::KeyFunctionNotPermitted);
    // Positive control: XOR of a key the caller knows works as the spec says.
    let known = created(&s, KeyType::GENERIC_SECRET, &[0x5A; 32]);
    let t = [Attribute::Sensitive(false), Attribute::Token(false)];
    let x = s.derive_key(&Derivation::xor(&[0x0F; 32]).mechanism(), known, &t).unwrap();
    assert_eq!(value(&s, x), [0x55; 32]);
}

#[test]
fn with_derive_xor_overridden_a_twin_of_a_kek_decrypts_its_blobs() {
    let (_m, s) = session_with("derive_xor");
    let (k, target, blob) = stored_under_kek(&s);
    let twin = s.derive_key(&Derivation::xor(&[0; 32]).mechanism(), k, &decrypting_aes256()).unwrap();
    let stolen = s.decrypt(&Mechanism::AesEcb, twin, &blob).unwrap();
    assert_eq!(kcv_offline(&stolen), kcv(&s, target), "the protected key is out");
}

#[test]
fn concatenation_with_a_protected_key_is_refused() {
    let (_m, s) = logged_in_session("derive-attacks");
    let (k, _target, _blob) = stored_under_kek(&s);
    let known = created(&s, KeyType::AES, &[7; 32]);
    // Cut to 32 bytes, KEK||known is a decrypting twin of the KEK; known||protected joins a
    // secret to a known key. Either side protected is refused.
    let twin = s.derive_key(&Derivation::concatenate(known).mechanism(), k, &decrypting_aes256());
    assert_eq!(rv(twin.unwrap_err()), RvError::KeyFunctionNotPermitted);
    let joined = s.derive_key(&Derivation::concatenate(generated(&s, &[])).mechanism(), known, &decrypting_aes256());
    assert_eq!(rv(joined.unwrap_err()), RvError::KeyFunctionNotPermitted);
    // Positive control: two keys the caller knows concatenate.
    let other = created(&s, KeyType::AES, &[8; 32]);
    let t = [Attribute::Sensitive(false), Attribute::Token(false)];
    let c = s.derive_key(&Derivation::concatenate(other).mechanism(), known, &t).unwrap();
    assert_eq!(value(&s, c), [[7u8; 32], [8u8; 32]].concat());
}

#[test]
fn with_derive_concatenate_overridden_a_cut_concatenation_is_a_twin() {
    let (_m, s) = session_with("derive_concatenate");
    let (k, target, blob) = stored_under_kek(&s);
    let known = created(&s, KeyType::AES, &[7; 32]);
    let twin = s.derive_key(&Derivation::concatenate(known).mechanism(), k, &decrypting_aes256()).unwrap();
    let stolen = s.decrypt(&Mechanism::AesEcb, twin, &blob).unwrap();
    assert_eq!(kcv_offline(&stolen), kcv(&s, target), "the protected key is out");
}

#[test]
fn a_cut_encrypt_data_key_of_a_protected_key_is_refused() {
    let (_m, s) = logged_in_session("derive-attacks");
    // A protected key that may derive but not encrypt.
    let k = generated(&s, &[Attribute::Encrypt(false)]);
    let d = Derivation::data(CKM_AES_ECB_ENCRYPT_DATA, &[0x33; 16]);
    for len in [1, 8, 15] {
        let e = s.derive_key(&d.mechanism(), k, &hmac_probe(len)).unwrap_err();
        assert_eq!(rv(e), RvError::TemplateInconsistent, "{len}");
    }
    let cbc = Derivation::cbc(CKM_AES_CBC_ENCRYPT_DATA, &[0; 16], &[0x33; 32]);
    assert_eq!(rv(s.derive_key(&cbc.mechanism(), k, &hmac_probe(12)).unwrap_err()), RvError::TemplateInconsistent);
    // Positive control: the whole ciphertext as a key is fine (it is as secret as its base), and
    // so is a cut of 16 bytes or more (out of brute force's reach).
    let whole = s.derive_key(&d.mechanism(), k, &hmac_probe(16)).unwrap();
    s.sign(&Mechanism::Sha256Hmac, whole, b"fine").unwrap();
    s.derive_key(&cbc.mechanism(), k, &hmac_probe(20)).unwrap();
    // ... and from a key the caller knows, a cut key is fine too.
    let known = created(&s, KeyType::AES, &[1; 16]);
    s.derive_key(&d.mechanism(), known, &hmac_probe(1)).unwrap();
}

#[test]
fn with_derive_kek_overridden_a_key_without_cka_encrypt_becomes_an_encryption_oracle() {
    let (_m, s) = session_with("derive_kek");
    let k = generated(&s, &[Attribute::Encrypt(false)]);
    assert_eq!(rv(s.encrypt(&Mechanism::AesEcb, k, &[0x33; 16]).unwrap_err()), RvError::KeyFunctionNotPermitted);
    // E_k(data), one byte at a time: a key of i+1 bytes, an HMAC with it, 256 guesses offline.
    let d = Derivation::data(CKM_AES_ECB_ENCRYPT_DATA, &[0x33; 16]);
    let mut found = vec![];
    for i in 0..16 {
        let probe = s.derive_key(&d.mechanism(), k, &hmac_probe(i + 1)).unwrap();
        let mac = s.sign(&Mechanism::Sha256Hmac, probe, b"probe").unwrap();
        found.push(brute_force_next_byte(&found, b"probe", &mac));
    }
    // The whole ciphertext as an AES key in the token agrees with the one found offline.
    let t = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::ValueLen(16.into()),
        Attribute::Encrypt(true),
        Attribute::Token(false),
    ];
    let whole = s.derive_key(&d.mechanism(), k, &t).unwrap();
    assert_eq!(kcv(&s, whole), kcv_offline(&found), "the base encrypted chosen data for the caller");
}

#[test]
fn a_key_derived_from_a_protected_key_is_protected_and_no_kek() {
    let (_m, s) = logged_in_session("derive-attacks");
    let (k, target, _blob) = stored_under_kek(&s);
    let d = Derivation::data(CKM_AES_ECB_ENCRYPT_DATA, &[0x44; 32]);
    // It may not be made readable (PKCS#11: a sensitive base gives a sensitive key).
    let mut readable = decrypting_aes256();
    readable.push(Attribute::Sensitive(false));
    assert_eq!(rv(s.derive_key(&d.mechanism(), k, &readable).unwrap_err()), RvError::TemplateInconsistent);
    // It does not leave under a key the caller knows, and it does not wrap protected keys.
    let mut wrapper = decrypting_aes256();
    wrapper.extend([Attribute::Wrap(true), Attribute::Extractable(true)]);
    let derived = s.derive_key(&d.mechanism(), k, &wrapper).unwrap();
    let known = created(&s, KeyType::AES, &[9; 32]);
    assert_eq!(rv(s.wrap_key(&Mechanism::AesEcb, known, derived).unwrap_err()), RvError::KeyNotWrappable);
    assert_eq!(rv(s.wrap_key(&Mechanism::AesEcb, derived, target).unwrap_err()), RvError::KeyNotWrappable);
    let attrs = s.get_attributes(derived, &[AttributeType::AlwaysSensitive]).unwrap();
    assert_eq!(attrs, vec![Attribute::AlwaysSensitive(true)]);
    // Positive control: it wraps a key the caller knows, and a derived key of a known base
    // leaves under a known key.
    s.wrap_key(&Mechanism::AesEcb, derived, known).unwrap();
    let from_known = s.derive_key(&d.mechanism(), known, &wrapper).unwrap();
    s.wrap_key(&Mechanism::AesEcb, known, from_known).unwrap();
}

#[test]
fn every_key_of_a_derivation_must_allow_it() {
    let (_m, s) = logged_in_session("derive-attacks");
    let d = Derivation::data(CKM_AES_ECB_ENCRYPT_DATA, &[0x55; 16]);
    let t = hmac_probe(16);
    // No CKA_DERIVE on the base (a generated key without it, and one turned off).
    let plain =
        s.generate_key(&Mechanism::AesKeyGen, &[Attribute::ValueLen(32.into()), Attribute::Token(false)]).unwrap();
    assert_eq!(rv(s.derive_key(&d.mechanism(), plain, &t).unwrap_err()), RvError::KeyFunctionNotPermitted);
    let k = generated(&s, &[]);
    s.update_attributes(k, &[Attribute::Derive(false)]).unwrap();
    assert_eq!(rv(s.derive_key(&d.mechanism(), k, &t).unwrap_err()), RvError::KeyFunctionNotPermitted);
    // No CKA_DERIVE on the second key of a concatenation.
    let base = created(&s, KeyType::GENERIC_SECRET, &[1; 16]);
    let other = s
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::GENERIC_SECRET),
            Attribute::Value(vec![2; 16]),
            Attribute::Token(false),
        ])
        .unwrap();
    let c = s.derive_key(&Derivation::concatenate(other).mechanism(), base, &[Attribute::Token(false)]);
    assert_eq!(rv(c.unwrap_err()), RvError::KeyFunctionNotPermitted);
    // CKA_ALLOWED_MECHANISMS without the derivation.
    let only_ecb = generated(&s, &[Attribute::AllowedMechanisms(vec![MechanismType::AES_ECB])]);
    assert_eq!(rv(s.derive_key(&d.mechanism(), only_ecb, &t).unwrap_err()), RvError::MechanismInvalid);
    // Positive control: both keys allow it.
    s.update_attributes(other, &[Attribute::Derive(true)]).unwrap();
    s.derive_key(&Derivation::concatenate(other).mechanism(), base, &[Attribute::Token(false)]).unwrap();
    s.derive_key(&d.mechanism(), generated(&s, &[]), &t).unwrap();
}

#[test]
fn refusals_and_overrides_are_logged_with_their_token() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("assurance.log");
    let m = Module::fresh_with_env(&[
        ("CKNFAST_OVERRIDE_SECURITY_ASSURANCES", "derive_kek"),
        ("CKNFAST_ASSURANCE_LOG", log.to_str().unwrap()),
    ]);
    let slot = m.init_token("logged");
    let s = m.user_session(slot);
    let k = generated(&s, &[]);
    let _ = s.derive_key(&Derivation::xor(&[0; 32]).mechanism(), k, &decrypting_aes256());
    let known = created(&s, KeyType::AES, &[3; 32]);
    let _ = s.derive_key(&Derivation::concatenate(known).mechanism(), k, &decrypting_aes256());
    let d = Derivation::data(CKM_AES_ECB_ENCRYPT_DATA, &[0; 16]);
    s.derive_key(&d.mechanism(), k, &hmac_probe(1)).unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("CKNFAST_OVERRIDE_SECURITY_ASSURANCES=derive_xor"), "{text}");
    assert!(text.contains("CKNFAST_OVERRIDE_SECURITY_ASSURANCES=derive_concatenate"), "{text}");
    assert!(text.contains("security assurance derive_kek relaxed by override"), "{text}");
}

#[test]
fn concatenation_of_a_protected_key_with_data_is_refused() {
    let (_m, s) = logged_in_session("derive-attacks");
    let (k, _target, _blob) = stored_under_kek(&s);
    // Cut to 32 bytes, KEK||data is a decrypting twin of the KEK; data||KEK from bit 8·len(data)
    // (or cut) would be one too.
    for ty in [CKM_CONCATENATE_BASE_AND_DATA, CKM_CONCATENATE_DATA_AND_BASE] {
        let twin = s.derive_key(&Derivation::data(ty, &[0; 16]).mechanism(), k, &decrypting_aes256());
        assert_eq!(rv(twin.unwrap_err()), RvError::KeyFunctionNotPermitted, "{ty:#x}");
    }
    // Positive control: a key the caller knows concatenates with data.
    let known = created(&s, KeyType::GENERIC_SECRET, &[7; 16]);
    let t = [Attribute::Sensitive(false), Attribute::Token(false)];
    let c = s.derive_key(&Derivation::data(CKM_CONCATENATE_DATA_AND_BASE, &[8; 16]).mechanism(), known, &t).unwrap();
    assert_eq!(value(&s, c), [[8u8; 16], [7u8; 16]].concat());
}

#[test]
fn with_derive_concatenate_overridden_base_and_data_cut_is_a_twin() {
    let (_m, s) = session_with("derive_concatenate");
    let (k, target, blob) = stored_under_kek(&s);
    let d = Derivation::data(CKM_CONCATENATE_BASE_AND_DATA, &[0; 16]);
    let twin = s.derive_key(&d.mechanism(), k, &decrypting_aes256()).unwrap();
    let stolen = s.decrypt(&Mechanism::AesEcb, twin, &blob).unwrap();
    assert_eq!(kcv_offline(&stolen), kcv(&s, target), "the protected key is out");
}

#[test]
fn extraction_from_a_protected_key_is_refused() {
    let (_m, s) = logged_in_session("derive-attacks");
    let (k, _target, _blob) = stored_under_kek(&s);
    // From bit 0 at its length: a decrypting twin; 1 byte from bit 8·i: brute-forced byte i.
    let twin = s.derive_key(&Derivation::extract(0).mechanism(), k, &decrypting_aes256());
    assert_eq!(rv(twin.unwrap_err()), RvError::KeyFunctionNotPermitted);
    let probe = s.derive_key(&Derivation::extract(8).mechanism(), generated(&s, &[]), &hmac_probe(1));
    assert_eq!(rv(probe.unwrap_err()), RvError::KeyFunctionNotPermitted);
    // Positive control: from a key the caller knows, any bits.
    let known = created(&s, KeyType::GENERIC_SECRET, &[0x0F, 0xF0, 0xAA]);
    let mut t = hmac_probe(2);
    t.push(Attribute::Sensitive(false));
    let x = s.derive_key(&Derivation::extract(4).mechanism(), known, &t).unwrap();
    assert_eq!(value(&s, x), [0xFF, 0x0A]);
}

#[test]
fn with_derive_extract_overridden_an_extracted_key_is_a_twin_but_the_floor_holds() {
    let (_m, s) = session_with("derive_extract");
    let (k, target, blob) = stored_under_kek(&s);
    let twin = s.derive_key(&Derivation::extract(0).mechanism(), k, &decrypting_aes256()).unwrap();
    let stolen = s.decrypt(&Mechanism::AesEcb, twin, &blob).unwrap();
    assert_eq!(kcv_offline(&stolen), kcv(&s, target), "the protected key is out");
    // Short keys of chosen bits still need derive_kek as well.
    let probe = s.derive_key(&Derivation::extract(8).mechanism(), generated(&s, &[]), &hmac_probe(1));
    assert_eq!(rv(probe.unwrap_err()), RvError::TemplateInconsistent);
}

#[test]
fn with_derive_extract_and_derive_kek_overridden_a_protected_key_is_read_a_byte_at_a_time() {
    let (_m, s) = session_with("derive_extract;derive_kek");
    let k = generated(&s, &[]);
    // Byte i of the key: one byte extracted from bit 8·i, an HMAC with it, 256 guesses offline.
    let mut found = vec![];
    for i in 0..32 {
        let probe = s.derive_key(&Derivation::extract(8 * i).mechanism(), k, &hmac_probe(1)).unwrap();
        let mac = s.sign(&Mechanism::Sha256Hmac, probe, b"probe").unwrap();
        found.push(brute_force_next_byte(&[], b"probe", &mac));
    }
    assert_eq!(kcv_offline(&found), kcv(&s, k), "the protected key is out");
}

/// An SP 800-108 counter-mode derivation with HMAC-SHA-256 over chosen data.
fn kbkdf(data: &[u8]) -> Kbkdf {
    Kbkdf::new(CKM_SHA256_HMAC, &[Prf::Iteration(Some((false, 32))), Prf::Bytes(data.to_vec())], None)
}

/// A generated HMAC key (CKK_GENERIC_SECRET, 32 bytes) with CKA_DERIVE: protected.
fn generated_secret(s: &Session) -> ObjectHandle {
    let t = [Attribute::ValueLen(32.into()), Attribute::Derive(true), Attribute::Token(false)];
    s.generate_key(&Mechanism::GenericSecretKeyGen, &t).unwrap()
}

#[test]
fn sp800_108_of_a_protected_key_is_protected_no_kek_and_floored() {
    let (_m, s) = logged_in_session("derive-attacks");
    let k = generated_secret(&s);
    let target = generated(&s, &[]);
    let d = kbkdf(b"app key");
    // Allowed (a PRF of the secret is no twin of it), but never readable ...
    let mut readable = decrypting_aes256();
    readable.push(Attribute::Sensitive(false));
    assert_eq!(rv(s.derive_key(&d.mechanism(), k, &readable).unwrap_err()), RvError::TemplateInconsistent);
    // ... never leaving under a known key, never wrapping a protected key ...
    let mut wrapper = decrypting_aes256();
    wrapper.extend([Attribute::Wrap(true), Attribute::Extractable(true)]);
    let derived = s.derive_key(&d.mechanism(), k, &wrapper).unwrap();
    let known = created(&s, KeyType::AES, &[9; 32]);
    assert_eq!(rv(s.wrap_key(&Mechanism::AesEcb, known, derived).unwrap_err()), RvError::KeyNotWrappable);
    assert_eq!(rv(s.wrap_key(&Mechanism::AesEcb, derived, target).unwrap_err()), RvError::KeyNotWrappable);
    // ... and never shorter than 16 bytes.
    for len in [1, 8, 15] {
        let e = s.derive_key(&d.mechanism(), k, &hmac_probe(len)).unwrap_err();
        assert_eq!(rv(e), RvError::TemplateInconsistent, "{len}");
    }
    // Positive control: 16 bytes are fine; from a key the caller knows, the derived key is known
    // (it leaves under a known key), and may be short.
    s.derive_key(&d.mechanism(), k, &hmac_probe(16)).unwrap();
    let known_base = created(&s, KeyType::GENERIC_SECRET, &[5; 32]);
    let from_known = s.derive_key(&d.mechanism(), known_base, &wrapper).unwrap();
    s.wrap_key(&Mechanism::AesEcb, known, from_known).unwrap();
    s.derive_key(&d.mechanism(), known_base, &hmac_probe(1)).unwrap();
}

#[test]
fn with_derive_kek_overridden_an_sp800_108_key_of_a_protected_key_is_found_a_byte_at_a_time() {
    let (_m, s) = session_with("derive_kek");
    let k = generated_secret(&s);
    // The application's AES-128 key, derived in the token: its value is known to no one.
    let d = kbkdf(b"app key");
    let t = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::ValueLen(16.into()),
        Attribute::Encrypt(true),
        Attribute::Token(false),
    ];
    let app = s.derive_key(&d.mechanism(), k, &t).unwrap();
    // Without a length field the output of i+1 bytes is a prefix of it: brute-force each byte.
    let mut found = vec![];
    for i in 0..16 {
        let probe = s.derive_key(&d.mechanism(), k, &hmac_probe(i + 1)).unwrap();
        let mac = s.sign(&Mechanism::Sha256Hmac, probe, b"probe").unwrap();
        found.push(brute_force_next_byte(&found, b"probe", &mac));
    }
    assert_eq!(kcv_offline(&found), kcv(&s, app), "the protected derived key is out");
}
