//! Block-cipher MACs through the C ABI (issue #13): CKM_AES_CMAC(_GENERAL) against NIST SP 800-38B
//! Appendix D / RFC 4493 §4 (tests/data/cmac.json), CKM_AES_MAC(_GENERAL) (CBC-MAC, zero IV,
//! zero padding) against an independent CBC-MAC built from RustCrypto's AES block cipher, and
//! CKM_DES3_CMAC(_GENERAL) (SP 800-38B D.4/D.5) and CKM_DES3_MAC(_GENERAL).

#[macro_use]
mod common;
use common::*;
use cryptoki_sys::*;
use std::ffi::c_void;
use std::ptr::null_mut;

fn attr<T>(type_: CK_ATTRIBUTE_TYPE, v: &T) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE { type_, pValue: v as *const T as *mut c_void, ulValueLen: std::mem::size_of::<T>() as CK_ULONG }
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

/// (name, key, message, MAC).
type Vector = (String, Vec<u8>, Vec<u8>, Vec<u8>);

/// The AES vectors of tests/data/cmac.json.
fn vectors() -> Vec<Vector> {
    section("vectors")
}

/// A section of tests/data/cmac.json ("vectors": AES, "tdes_vectors": DES3).
fn section(name: &str) -> Vec<Vector> {
    let doc: serde_json::Value =
        serde_json::from_str(include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/cmac.json"))).unwrap();
    doc[name]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let s = |k: &str| v[k].as_str().unwrap().to_string();
            (s("name"), h(&s("key")), h(&s("message")), h(&s("mac")))
        })
        .collect()
}

/// A session AES key with CKA_SIGN/CKA_VERIFY as given.
fn aes_key(r: &Raw, s: CK_SESSION_HANDLE, value: &[u8], usage: bool) -> CK_OBJECT_HANDLE {
    secret_key(r, s, CKK_AES, value, usage)
}

/// A session secret key of type `kt` with CKA_SIGN/CKA_VERIFY as given.
fn secret_key(r: &Raw, s: CK_SESSION_HANDLE, kt: CK_KEY_TYPE, value: &[u8], usage: bool) -> CK_OBJECT_HANDLE {
    let (class, f) = (CKO_SECRET_KEY, CK_FALSE);
    let u: CK_BBOOL = if usage { CK_TRUE } else { CK_FALSE };
    let mut t = [
        attr(CKA_CLASS, &class),
        attr(CKA_KEY_TYPE, &kt),
        CK_ATTRIBUTE { type_: CKA_VALUE, pValue: value.as_ptr() as *mut c_void, ulValueLen: value.len() as CK_ULONG },
        attr(CKA_SIGN, &u),
        attr(CKA_VERIFY, &u),
        attr(CKA_PRIVATE, &f),
    ];
    let mut o: CK_OBJECT_HANDLE = 0;
    assert_eq!(call!(r, C_CreateObject, s, t.as_mut_ptr(), t.len() as CK_ULONG, &mut o), CKR_OK);
    o
}

/// A mechanism, with `CK_MAC_GENERAL_PARAMS` when `len` is given.
struct Mech {
    ty: CK_MECHANISM_TYPE,
    len: Option<CK_ULONG>,
}

impl Mech {
    fn ck(&mut self) -> CK_MECHANISM {
        match &mut self.len {
            None => CK_MECHANISM { mechanism: self.ty, pParameter: null_mut(), ulParameterLen: 0 },
            Some(l) => CK_MECHANISM {
                mechanism: self.ty,
                pParameter: l as *mut CK_ULONG as *mut c_void,
                ulParameterLen: std::mem::size_of::<CK_ULONG>() as CK_ULONG,
            },
        }
    }
}

fn m(ty: CK_MECHANISM_TYPE, len: Option<CK_ULONG>) -> Mech {
    Mech { ty, len }
}

/// C_Sign, single-part (two-call length convention).
fn sign(r: &Raw, s: CK_SESSION_HANDLE, mech: &mut Mech, k: CK_OBJECT_HANDLE, data: &[u8]) -> Vec<u8> {
    let mut ck = mech.ck();
    assert_eq!(call!(r, C_SignInit, s, &mut ck, k), CKR_OK);
    let mut n: CK_ULONG = 0;
    assert_eq!(call!(r, C_Sign, s, data.as_ptr() as *mut u8, data.len() as CK_ULONG, null_mut(), &mut n), CKR_OK);
    let mut out = vec![0u8; n as usize];
    assert_eq!(call!(r, C_Sign, s, data.as_ptr() as *mut u8, data.len() as CK_ULONG, out.as_mut_ptr(), &mut n), CKR_OK);
    out.truncate(n as usize);
    out
}

/// C_SignUpdate over uneven chunks, then C_SignFinal.
fn sign_parts(r: &Raw, s: CK_SESSION_HANDLE, mech: &mut Mech, k: CK_OBJECT_HANDLE, data: &[u8]) -> Vec<u8> {
    let mut ck = mech.ck();
    assert_eq!(call!(r, C_SignInit, s, &mut ck, k), CKR_OK);
    let mut rest = data;
    for size in [1usize, 15, 3, 17, 32].iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (a, b) = rest.split_at((*size).min(rest.len()));
        assert_eq!(call!(r, C_SignUpdate, s, a.as_ptr() as *mut u8, a.len() as CK_ULONG), CKR_OK);
        rest = b;
    }
    let mut out = [0u8; 32];
    let mut n: CK_ULONG = out.len() as CK_ULONG;
    assert_eq!(call!(r, C_SignFinal, s, out.as_mut_ptr(), &mut n), CKR_OK);
    out[..n as usize].to_vec()
}

/// C_Verify single-part, or (when `parts`) C_VerifyUpdate in two pieces and C_VerifyFinal.
fn verify(
    r: &Raw,
    s: CK_SESSION_HANDLE,
    mech: &mut Mech,
    k: CK_OBJECT_HANDLE,
    data: &[u8],
    sig: &[u8],
    parts: bool,
) -> CK_RV {
    let mut ck = mech.ck();
    assert_eq!(call!(r, C_VerifyInit, s, &mut ck, k), CKR_OK);
    let sp = sig.as_ptr() as *mut u8;
    if !parts {
        return call!(r, C_Verify, s, data.as_ptr() as *mut u8, data.len() as CK_ULONG, sp, sig.len() as CK_ULONG);
    }
    let (a, b) = data.split_at(data.len() / 2);
    for c in [a, b] {
        assert_eq!(call!(r, C_VerifyUpdate, s, c.as_ptr() as *mut u8, c.len() as CK_ULONG), CKR_OK);
    }
    call!(r, C_VerifyFinal, s, sp, sig.len() as CK_ULONG)
}

#[test]
fn aes_cmac_sp800_38b_rfc4493_sign_verify() {
    let (r, s) = module_session();
    let vs = vectors();
    assert_eq!(vs.len(), 12);
    for (name, kv, msg, mac) in vs {
        let k = aes_key(&r, s, &kv, true);
        let mut cmac = m(CKM_AES_CMAC, None);
        assert_eq!(sign(&r, s, &mut cmac, k, &msg), mac, "{name}");
        assert_eq!(sign_parts(&r, s, &mut cmac, k, &msg), mac, "{name} multi-part");
        for parts in [false, true] {
            assert_eq!(verify(&r, s, &mut cmac, k, &msg, &mac, parts), CKR_OK, "{name}");
            let mut bad = mac.clone();
            bad[5] ^= 0x10;
            assert_eq!(verify(&r, s, &mut cmac, k, &msg, &bad, parts), CKR_SIGNATURE_INVALID, "{name}");
            assert_eq!(verify(&r, s, &mut cmac, k, &msg, &mac[..15], parts), CKR_SIGNATURE_LEN_RANGE, "{name}");
        }
        // _GENERAL: the MAC truncated to ulMacLength bytes.
        for n in [1usize, 4, 8, 12, 16] {
            let mut g = m(CKM_AES_CMAC_GENERAL, Some(n as CK_ULONG));
            assert_eq!(sign(&r, s, &mut g, k, &msg), &mac[..n], "{name} len {n}");
            assert_eq!(sign_parts(&r, s, &mut g, k, &msg), &mac[..n], "{name} len {n}");
            assert_eq!(verify(&r, s, &mut g, k, &msg, &mac[..n], true), CKR_OK);
            assert_eq!(
                verify(&r, s, &mut g, k, &msg, &mac[..16], false),
                if n == 16 { CKR_OK } else { CKR_SIGNATURE_LEN_RANGE }
            );
            let mut bad = mac[..n].to_vec();
            bad[n - 1] ^= 1;
            assert_eq!(verify(&r, s, &mut g, k, &msg, &bad, false), CKR_SIGNATURE_INVALID);
        }
    }
}

/// CBC-MAC (zero IV, data zero-padded to whole blocks, empty data as one zero block) from
/// RustCrypto's AES block cipher.
fn oracle_cbc_mac(key: &[u8], msg: &[u8]) -> [u8; 16] {
    use aes_gcm::aes::cipher::{BlockEncrypt, KeyInit};
    use aes_gcm::aes::{Aes128, Aes192, Aes256, Block};
    let mut padded = msg.to_vec();
    padded.resize(msg.len().div_ceil(16).max(1) * 16, 0);
    let mut c = Block::default();
    for b in padded.chunks(16) {
        for (x, y) in c.iter_mut().zip(b) {
            *x ^= y;
        }
        match key.len() {
            16 => Aes128::new_from_slice(key).unwrap().encrypt_block(&mut c),
            24 => Aes192::new_from_slice(key).unwrap().encrypt_block(&mut c),
            _ => Aes256::new_from_slice(key).unwrap().encrypt_block(&mut c),
        }
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&c);
    out
}

#[test]
fn aes_mac_cbc_mac_against_independent_oracle() {
    let (r, s) = module_session();
    let data: Vec<u8> = (0..200u32).map(|i| (i * 31 + 7) as u8).collect();
    for kv in [h("2b7e151628aed2a6abf7158809cf4f3c"), vec![0x5a; 24], (0..32).collect()] {
        let k = aes_key(&r, s, &kv, true);
        for len in [0usize, 1, 15, 16, 17, 40, 64, 200] {
            let msg = &data[..len];
            let full = oracle_cbc_mac(&kv, msg);
            // Plain CKM_AES_MAC: half the block.
            let mut plain = m(CKM_AES_MAC, None);
            assert_eq!(sign(&r, s, &mut plain, k, msg), &full[..8], "len {len}");
            assert_eq!(sign_parts(&r, s, &mut plain, k, msg), &full[..8], "len {len}");
            assert_eq!(verify(&r, s, &mut plain, k, msg, &full[..8], true), CKR_OK);
            assert_eq!(verify(&r, s, &mut plain, k, msg, &full[..16], false), CKR_SIGNATURE_LEN_RANGE);
            let mut bad = full[..8].to_vec();
            bad[0] ^= 0x80;
            assert_eq!(verify(&r, s, &mut plain, k, msg, &bad, false), CKR_SIGNATURE_INVALID);
            for n in [1usize, 8, 13, 16] {
                let mut g = m(CKM_AES_MAC_GENERAL, Some(n as CK_ULONG));
                assert_eq!(sign(&r, s, &mut g, k, msg), &full[..n], "len {len} mac {n}");
                assert_eq!(sign_parts(&r, s, &mut g, k, msg), &full[..n], "len {len} mac {n}");
                assert_eq!(verify(&r, s, &mut g, k, msg, &full[..n], false), CKR_OK);
            }
        }
    }
}

#[test]
fn mechanism_info_params_and_key_rules() {
    let (r, s) = module_session();
    for ty in [CKM_AES_MAC, CKM_AES_MAC_GENERAL, CKM_AES_CMAC, CKM_AES_CMAC_GENERAL] {
        // SAFETY: a plain C struct; the call fills it.
        let mut info: CK_MECHANISM_INFO = unsafe { std::mem::zeroed() };
        assert_eq!(call!(r, C_GetMechanismInfo, MODULE_SLOT_ID, ty, &mut info), CKR_OK);
        assert_eq!((info.ulMinKeySize, info.ulMaxKeySize), (16, 32), "{ty:#x}");
        assert_eq!(info.flags & (CKF_SIGN | CKF_VERIFY), CKF_SIGN | CKF_VERIFY);
        assert_eq!(info.flags & (CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP), 0);
    }
    let k = aes_key(&r, s, &[1; 16], true);
    for (ty, len) in
        [(CKM_AES_CMAC_GENERAL, 0), (CKM_AES_CMAC_GENERAL, 17), (CKM_AES_MAC_GENERAL, 0), (CKM_AES_MAC_GENERAL, 17)]
    {
        let mut ck = m(ty, Some(len));
        let mut c = ck.ck();
        assert_eq!(call!(r, C_SignInit, s, &mut c, k), CKR_MECHANISM_PARAM_INVALID, "{ty:#x} {len}");
    }
    // _GENERAL without its parameter, plain with one.
    let mut c = m(CKM_AES_CMAC_GENERAL, None).ck();
    assert_eq!(call!(r, C_SignInit, s, &mut c, k), CKR_MECHANISM_PARAM_INVALID);
    let mut c = m(CKM_AES_CMAC, Some(16)).ck();
    assert_eq!(call!(r, C_SignInit, s, &mut c, k), CKR_MECHANISM_PARAM_INVALID);
    // A key without CKA_SIGN/CKA_VERIFY.
    let no = aes_key(&r, s, &[1; 16], false);
    let mut c = m(CKM_AES_CMAC, None).ck();
    assert_eq!(call!(r, C_SignInit, s, &mut c, no), CKR_KEY_FUNCTION_NOT_PERMITTED);
    assert_eq!(call!(r, C_VerifyInit, s, &mut c, no), CKR_KEY_FUNCTION_NOT_PERMITTED);
    // A short output buffer is retryable.
    assert_eq!(call!(r, C_SignInit, s, &mut c, k), CKR_OK);
    let mut out = [0u8; 16];
    let mut n: CK_ULONG = 15;
    assert_eq!(call!(r, C_Sign, s, b"abc".as_ptr() as *mut u8, 3, out.as_mut_ptr(), &mut n), CKR_BUFFER_TOO_SMALL);
    assert_eq!(n, 16);
    assert_eq!(call!(r, C_Sign, s, b"abc".as_ptr() as *mut u8, 3, out.as_mut_ptr(), &mut n), CKR_OK);
}

#[test]
fn des3_cmac_sp800_38b_and_des3_mac() {
    let (r, s) = module_session();
    let vs = section("tdes_vectors");
    assert_eq!(vs.len(), 8);
    for (name, kv, msg, mac) in vs {
        let k = secret_key(&r, s, CKK_DES3, &kv, true);
        let mut cmac = m(CKM_DES3_CMAC, None);
        assert_eq!(sign(&r, s, &mut cmac, k, &msg), mac, "{name}");
        assert_eq!(sign_parts(&r, s, &mut cmac, k, &msg), mac, "{name}");
        assert_eq!(verify(&r, s, &mut cmac, k, &msg, &mac, true), CKR_OK);
        let mut bad = mac.clone();
        bad[2] ^= 4;
        assert_eq!(verify(&r, s, &mut cmac, k, &msg, &bad, false), CKR_SIGNATURE_INVALID);
        assert_eq!(verify(&r, s, &mut cmac, k, &msg, &mac[..4], false), CKR_SIGNATURE_LEN_RANGE);
        let mut g = m(CKM_DES3_CMAC_GENERAL, Some(5));
        assert_eq!(sign(&r, s, &mut g, k, &msg), &mac[..5], "{name}");
        // CBC-MAC: plain DES3_MAC is half the 8-byte block and a prefix of the general form.
        let full = sign(&r, s, &mut m(CKM_DES3_MAC_GENERAL, Some(8)), k, &msg);
        assert_eq!(full.len(), 8);
        assert_eq!(sign(&r, s, &mut m(CKM_DES3_MAC, None), k, &msg), &full[..4]);
        assert_eq!(sign_parts(&r, s, &mut m(CKM_DES3_MAC, None), k, &msg), &full[..4]);
    }
    // One block: the CBC-MAC is the DES3-ECB encryption of the zero-padded block.
    let kv = h("8aa83bf8cbda10620bc1bf19fbb6cd58bc313d4a371ca8b5");
    let k = secret_key(&r, s, CKK_DES3, &kv, true);
    let mac = sign(&r, s, &mut m(CKM_DES3_MAC_GENERAL, Some(8)), k, b"abc");
    let mut ck = m(CKM_DES3_ECB, None).ck();
    let enc = secret_key_enc(&r, s, &kv);
    assert_eq!(call!(r, C_EncryptInit, s, &mut ck, enc), CKR_OK);
    let mut block = *b"abc\0\0\0\0\0";
    let mut out = [0u8; 8];
    let mut n: CK_ULONG = 8;
    assert_eq!(call!(r, C_Encrypt, s, block.as_mut_ptr(), 8, out.as_mut_ptr(), &mut n), CKR_OK);
    assert_eq!(mac, out);
    for ty in [CKM_DES3_MAC, CKM_DES3_MAC_GENERAL, CKM_DES3_CMAC, CKM_DES3_CMAC_GENERAL] {
        // SAFETY: a plain C struct; the call fills it.
        let mut info: CK_MECHANISM_INFO = unsafe { std::mem::zeroed() };
        assert_eq!(call!(r, C_GetMechanismInfo, MODULE_SLOT_ID, ty, &mut info), CKR_OK);
        assert_eq!(
            (info.ulMinKeySize, info.ulMaxKeySize, info.flags & (CKF_SIGN | CKF_VERIFY)),
            (24, 24, CKF_SIGN | CKF_VERIFY)
        );
    }
}

/// A session DES3 key that can encrypt (for the ECB cross-check).
fn secret_key_enc(r: &Raw, s: CK_SESSION_HANDLE, value: &[u8]) -> CK_OBJECT_HANDLE {
    let (class, kt, t, f) = (CKO_SECRET_KEY, CKK_DES3, CK_TRUE, CK_FALSE);
    let mut tm = [
        attr(CKA_CLASS, &class),
        attr(CKA_KEY_TYPE, &kt),
        CK_ATTRIBUTE { type_: CKA_VALUE, pValue: value.as_ptr() as *mut c_void, ulValueLen: value.len() as CK_ULONG },
        attr(CKA_ENCRYPT, &t),
        attr(CKA_PRIVATE, &f),
    ];
    let mut o: CK_OBJECT_HANDLE = 0;
    assert_eq!(call!(r, C_CreateObject, s, tm.as_mut_ptr(), tm.len() as CK_ULONG, &mut o), CKR_OK);
    o
}

/// PKCS#11 3.0's HMAC key generation (`CKM_SHA_1_KEY_GEN` … `CKM_SHA512_KEY_GEN`, what generic
/// suites use): each makes a key of its HMAC key type (`CKK_SHA*_HMAC`) at the template's
/// `CKA_VALUE_LEN`, in a session that never logged in (a public session key), and its HMAC
/// agrees with RustCrypto's `hmac` over the value read back.
#[test]
fn sha_key_gen_makes_hmac_keys_rustcrypto_agrees() {
    use cryptoki::mechanism::{Mechanism, MechanismType};
    use cryptoki::object::{Attribute, AttributeType, KeyType};
    use hmac::{Hmac, Mac};
    let m = Module::fresh();
    let slot = m.init_token("hmac");
    let s = m.p11.open_rw_session(slot).unwrap();
    fn ours<M: Mac + hmac::digest::KeyInit>(key: &[u8], msg: &[u8]) -> Vec<u8> {
        let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key).unwrap();
        mac.update(msg);
        mac.finalize().into_bytes().to_vec()
    }
    type Oracle = fn(&[u8], &[u8]) -> Vec<u8>;
    let cases: [(CK_MECHANISM_TYPE, CK_KEY_TYPE, Mechanism, Oracle); 4] = [
        (CKM_SHA224_KEY_GEN, CKK_SHA224_HMAC, Mechanism::Sha224Hmac, ours::<Hmac<sha2::Sha224>>),
        (CKM_SHA256_KEY_GEN, CKK_SHA256_HMAC, Mechanism::Sha256Hmac, ours::<Hmac<sha2::Sha256>>),
        (CKM_SHA384_KEY_GEN, CKK_SHA384_HMAC, Mechanism::Sha384Hmac, ours::<Hmac<sha2::Sha384>>),
        (CKM_SHA512_KEY_GEN, CKK_SHA512_HMAC, Mechanism::Sha512Hmac, ours::<Hmac<sha2::Sha512>>),
    ];
    for (gen, kt, hmac_mech, check) in cases {
        // SAFETY: MechanismType is #[repr(transparent)] over CK_MECHANISM_TYPE.
        let ty: MechanismType = unsafe { std::mem::transmute::<CK_MECHANISM_TYPE, MechanismType>(gen) };
        let mech =
            Mechanism::VendorDefined(cryptoki::mechanism::vendor_defined::VendorDefinedMechanism::new::<()>(ty, None));
        let key = s
            .generate_key(
                &mech,
                &[
                    Attribute::ValueLen(40.into()),
                    Attribute::Token(false),
                    Attribute::Sign(true),
                    Attribute::Sensitive(false),
                    Attribute::Extractable(true),
                ],
            )
            .unwrap();
        let a = s.get_attributes(key, &[AttributeType::KeyType, AttributeType::Value]).unwrap();
        assert_eq!(a[0], Attribute::KeyType(KeyType::try_from(kt).unwrap()), "{gen:#x}");
        let Attribute::Value(v) = &a[1] else { panic!("no value") };
        assert_eq!(v.len(), 40);
        let tag = s.sign(&hmac_mech, key, b"what generic suites sign").unwrap();
        assert_eq!(tag, check(v, b"what generic suites sign"), "{gen:#x}");
    }
    // CKM_SHA_1_KEY_GEN: a CKK_SHA_1_HMAC key.
    // SAFETY: as above.
    let ty: MechanismType = unsafe { std::mem::transmute::<CK_MECHANISM_TYPE, MechanismType>(CKM_SHA_1_KEY_GEN) };
    let mech =
        Mechanism::VendorDefined(cryptoki::mechanism::vendor_defined::VendorDefinedMechanism::new::<()>(ty, None));
    let key = s
        .generate_key(&mech, &[Attribute::ValueLen(20.into()), Attribute::Token(false), Attribute::Sign(true)])
        .unwrap();
    let a = s.get_attributes(key, &[AttributeType::KeyType]).unwrap();
    assert_eq!(a[0], Attribute::KeyType(KeyType::try_from(CKK_SHA_1_HMAC).unwrap()));
    assert_eq!(s.sign(&Mechanism::Sha1Hmac, key, b"x").unwrap().len(), 20);
}
