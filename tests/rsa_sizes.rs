//! RSA key-pair generation to the bit, through the C ABI: a 3092-bit `C_GenerateKeyPair` (not a
//! multiple of 128, which aws-lc's own generator would silently round down to 3072) whose
//! signatures an independent implementation (RustCrypto `rsa`) verifies, the size range the
//! mechanism info advertises, the weak sizes only the SAM override allows, and the vendor
//! interface's `SHSM_GenerateKey`, which uses the same generator.

#[macro_use]
mod common;
use common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, ObjectHandle};
use cryptoki::session::Session;
use cryptoki::slot::Slot;
use sha2::{Digest, Sha256};

fn session(label: &str) -> (Module, Slot, Session) {
    let m = Module::fresh();
    let slot = m.init_token(label);
    let s = m.user_session(slot);
    (m, slot, s)
}

fn pair(s: &Session, bits: u64, e: &[u8]) -> cryptoki::error::Result<(ObjectHandle, ObjectHandle)> {
    s.generate_key_pair(
        &Mechanism::RsaPkcsKeyPairGen,
        &[
            Attribute::ModulusBits(bits.into()),
            Attribute::PublicExponent(e.to_vec()),
            Attribute::Verify(true),
            Attribute::Token(false),
        ],
        &[Attribute::Sign(true), Attribute::Token(false)],
    )
}

fn bytes(s: &Session, h: ObjectHandle, t: AttributeType) -> Vec<u8> {
    match s.get_attributes(h, &[t]).unwrap().pop() {
        Some(Attribute::Modulus(v)) | Some(Attribute::PublicExponent(v)) => v,
        other => panic!("{t:?}: {other:?}"),
    }
}

/// Bit length of a big-endian integer.
fn bit_len(n: &[u8]) -> usize {
    let n = &n[n.iter().take_while(|&&b| b == 0).count()..];
    n.first().map_or(0, |b| n.len() * 8 - b.leading_zeros() as usize)
}

#[test]
fn rsa_3092_key_pair_has_a_3092_bit_modulus_and_signs() {
    let (_m, _, s) = session("rsa3092");
    let (pubk, privk) = pair(&s, 3092, &[1, 0, 1]).unwrap();
    let n = bytes(&s, pubk, AttributeType::Modulus);
    // 3092 bits = 386 whole bytes + 4 bits: 387 bytes, the top one 0x08..=0x0f (bit 3091 set).
    assert_eq!(n.len(), 387);
    assert_eq!(n[0] >> 3, 1, "top byte {:#04x}", n[0]);
    assert_eq!(bit_len(&n), 3092);
    assert_eq!(bytes(&s, privk, AttributeType::Modulus), n, "both halves carry the modulus");
    match s.get_attributes(pubk, &[AttributeType::ModulusBits]).unwrap().pop() {
        Some(Attribute::ModulusBits(b)) => assert_eq!(u64::from(b), 3092),
        other => panic!("CKA_MODULUS_BITS: {other:?}"),
    }
    let e = bytes(&s, pubk, AttributeType::PublicExponent);
    assert_eq!(e, [1, 0, 1]);

    // Sign with the token; verify with the token and with RustCrypto rsa.
    use rsa::{BigUint, Pkcs1v15Sign, Pss, RsaPublicKey};
    let pk = RsaPublicKey::new(BigUint::from_bytes_be(&n), BigUint::from_bytes_be(&e)).unwrap();
    let msg = b"a 3092-bit signature";
    let digest = Sha256::digest(msg);
    let sig = s.sign(&Mechanism::Sha256RsaPkcs, privk, msg).unwrap();
    assert_eq!(sig.len(), 387);
    s.verify(&Mechanism::Sha256RsaPkcs, pubk, msg, &sig).unwrap();
    // rsa's sha2 "oid" feature is off here: the DigestInfo prefix is spelled out.
    let prefix = hex::decode("3031300d060960864801650304020105000420").unwrap();
    let pkcs1 = || Pkcs1v15Sign { hash_len: Some(32), prefix: prefix.clone().into_boxed_slice() };
    pk.verify(pkcs1(), &digest, &sig).expect("rsa accepts the token's PKCS#1 v1.5 signature");
    let mut bad = sig.clone();
    bad[200] ^= 1;
    assert_eq!(rv(s.verify(&Mechanism::Sha256RsaPkcs, pubk, msg, &bad).unwrap_err()), RvError::SignatureInvalid);
    assert!(pk.verify(pkcs1(), &digest, &bad).is_err());
    // PSS: the encoded message is one bit shorter than the modulus (emBits = 3091).
    let pss = PkcsPssParams { hash_alg: MechanismType::SHA256, mgf: PkcsMgfType::MGF1_SHA256, s_len: 32.into() };
    let psig = s.sign(&Mechanism::Sha256RsaPkcsPss(pss), privk, msg).unwrap();
    s.verify(&Mechanism::Sha256RsaPkcsPss(pss), pubk, msg, &psig).unwrap();
    pk.verify(Pss::new_with_salt::<Sha256>(32), &digest, &psig).expect("rsa accepts the token's PSS signature");
}

#[test]
fn advertised_range_is_generated_to_the_bit() {
    let (m, slot, s) = session("ranges");
    let info = m.p11.get_mechanism_info(slot, MechanismType::RSA_PKCS_KEY_PAIR_GEN).unwrap();
    assert_eq!((info.min_key_size(), info.max_key_size()), (2048, 8192));
    // Both ends' neighbours inside the range, odd exponents, and sizes the engine would round.
    for (bits, e) in [(2048u64, &[1u8, 0, 1][..]), (2049, &[3]), (2111, &[17]), (2175, &[1, 0, 1])] {
        let (pubk, _) = pair(&s, bits, e).unwrap();
        assert_eq!(bit_len(&bytes(&s, pubk, AttributeType::Modulus)), bits as usize);
        assert_eq!(bytes(&s, pubk, AttributeType::PublicExponent), e);
    }
    // Outside: CKR_KEY_SIZE_RANGE; an even exponent or 1: CKR_ATTRIBUTE_VALUE_INVALID.
    for bits in [1024u64, 2047, 8193] {
        assert_eq!(rv(pair(&s, bits, &[1, 0, 1]).unwrap_err()), RvError::KeySizeRange, "{bits}");
    }
    for e in [&[1u8, 0, 0][..], &[1], &[0]] {
        assert_eq!(rv(pair(&s, 3092, e).unwrap_err()), RvError::AttributeValueInvalid, "{e:?}");
    }
}

#[test]
fn weak_sizes_only_with_the_override() {
    let (_m, _, s) = session("strong");
    assert_eq!(rv(pair(&s, 1500, &[1, 0, 1]).unwrap_err()), RvError::KeySizeRange);
    let m = Module::fresh_with_env(&[("CKNFAST_OVERRIDE_SECURITY_ASSURANCES", "weak_rsa")]);
    let slot = m.init_token("weak");
    let s = m.user_session(slot);
    for bits in [1024u64, 1500] {
        let (pubk, privk) = pair(&s, bits, &[1, 0, 1]).unwrap();
        assert_eq!(bit_len(&bytes(&s, pubk, AttributeType::Modulus)), bits as usize);
        let sig = s.sign(&Mechanism::Sha256RsaPkcs, privk, b"weak").unwrap();
        s.verify(&Mechanism::Sha256RsaPkcs, pubk, b"weak", &sig).unwrap();
    }
    assert_eq!(rv(pair(&s, 1023, &[1, 0, 1]).unwrap_err()), RvError::KeySizeRange);
}

#[test]
fn vendor_generate_key_is_to_the_bit_too() {
    use cryptoki_sys::*;
    use std::ffi::c_void;
    use std::ptr::{null, null_mut};
    let env = env_lock();
    let r = Raw::load();
    assert_eq!(call!(r, C_Initialize, null_mut()), CKR_OK);
    drop(env);
    let v = vendor(&r);
    let acs = [c"acs-one".as_ptr()];
    assert_eq!(unsafe { v.SHSM_NewWorld.unwrap()(null(), 1, 1, acs.as_ptr()) }, CKR_OK);
    let generate =
        |params: &std::ffi::CStr| unsafe { v.SHSM_GenerateKey.unwrap()(c"simple".as_ptr(), params.as_ptr()) };
    assert_eq!(generate(c"type=RSA size=3092 protect=module ident=vendor3092"), CKR_OK);
    assert_eq!(generate(c"type=RSA size=8193 protect=module ident=vendor8193"), CKR_ARGUMENTS_BAD);

    // Its public half in the module slot (id 0; no login): a 3092-bit modulus.
    let mut s: CK_SESSION_HANDLE = 0;
    assert_eq!(call!(r, C_OpenSession, 0, CKF_SERIAL_SESSION, null_mut(), None, &mut s), CKR_OK);
    let mut n: CK_ULONG = 0;
    let class = CKO_PUBLIC_KEY.to_ne_bytes();
    let label = b"vendor3092";
    let mut t = [
        CK_ATTRIBUTE { type_: CKA_CLASS, pValue: class.as_ptr() as *mut c_void, ulValueLen: class.len() as CK_ULONG },
        CK_ATTRIBUTE { type_: CKA_LABEL, pValue: label.as_ptr() as *mut c_void, ulValueLen: label.len() as CK_ULONG },
    ];
    assert_eq!(call!(r, C_FindObjectsInit, s, t.as_mut_ptr(), 2), CKR_OK);
    let mut h: [CK_OBJECT_HANDLE; 2] = [0; 2];
    assert_eq!(call!(r, C_FindObjects, s, h.as_mut_ptr(), 2, &mut n), CKR_OK);
    assert_eq!(call!(r, C_FindObjectsFinal, s), CKR_OK);
    assert_eq!(n, 1, "one public key labelled vendor3092");
    let mut modulus = vec![0u8; 1024];
    let mut a = [CK_ATTRIBUTE {
        type_: CKA_MODULUS,
        pValue: modulus.as_mut_ptr() as *mut c_void,
        ulValueLen: modulus.len() as CK_ULONG,
    }];
    assert_eq!(call!(r, C_GetAttributeValue, s, h[0], a.as_mut_ptr(), 1), CKR_OK);
    modulus.truncate(a[0].ulValueLen as usize);
    assert_eq!(modulus.len(), 387);
    assert_eq!(bit_len(&modulus), 3092);
    assert_eq!(call!(r, C_Finalize, null_mut()), CKR_OK);
}
