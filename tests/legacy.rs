//! The legacy mechanisms through the C ABI: CKM_MD5, CKM_RIPEMD160, their HMACs, CKM_MD5_RSA_PKCS
//! (override `weak_all`) and single / two-key DES (override `weak_des`), each against published
//! known answers (tests/data/legacy.json: RFC 1321, the RIPEMD-160 designers' page, RFC 2202,
//! RFC 2286, FIPS 81; tests/data/cmac.json: SP 800-38B D.5 for two-key TDEA), MD5_RSA_PKCS
//! against the `rsa` crate over the published MD5 digests; and the refusals with no override.

#[macro_use]
mod common;
use common::*;
use cryptoki_sys::*;
use std::ffi::c_void;
use std::ptr::null_mut;

const OVERRIDE: &str = "CKNFAST_OVERRIDE_SECURITY_ASSURANCES";

/// Every mechanism this file is about, with the override that turns it on.
const DES_MECHS: [CK_MECHANISM_TYPE; 5] =
    [CKM_DES_KEY_GEN, CKM_DES_ECB, CKM_DES_CBC, CKM_DES_CBC_PAD, CKM_DES2_KEY_GEN];
const HASH_MECHS: [CK_MECHANISM_TYPE; 7] = [
    CKM_MD5,
    CKM_MD5_HMAC,
    CKM_MD5_HMAC_GENERAL,
    CKM_MD5_RSA_PKCS,
    CKM_RIPEMD160,
    CKM_RIPEMD160_HMAC,
    CKM_RIPEMD160_HMAC_GENERAL,
];

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn data() -> serde_json::Value {
    serde_json::from_str(include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/legacy.json"))).unwrap()
}

/// A library loaded with `overrides` (none: the variable unset) and `CKNFAST_ASSURANCE_LOG`
/// at `log`, a world, and an R/W session on the module slot.
fn session_with(overrides: Option<&str>, log: &std::path::Path) -> (Raw, CK_SESSION_HANDLE) {
    let _env = env_lock();
    match overrides {
        Some(v) => std::env::set_var(OVERRIDE, v),
        None => std::env::remove_var(OVERRIDE),
    }
    std::env::set_var("CKNFAST_ASSURANCE_LOG", log);
    let r = Raw::load();
    assert_eq!(call!(r, C_Initialize, null_mut()), CKR_OK);
    std::env::remove_var(OVERRIDE);
    std::env::remove_var("CKNFAST_ASSURANCE_LOG");
    let free = raw_free_slot(&r);
    let mut label = [b' '; 32];
    let so = SO_PIN.as_bytes();
    let rv = call!(r, C_InitToken, free, so.as_ptr() as *mut _, so.len() as CK_ULONG, label.as_mut_ptr());
    assert_eq!(rv, CKR_OK);
    let mut s: CK_SESSION_HANDLE = 0;
    let flags = CKF_SERIAL_SESSION | CKF_RW_SESSION;
    assert_eq!(call!(r, C_OpenSession, MODULE_SLOT_ID, flags, null_mut(), None, &mut s), CKR_OK);
    (r, s)
}

fn attr<T>(type_: CK_ATTRIBUTE_TYPE, v: &T) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE { type_, pValue: v as *const T as *mut c_void, ulValueLen: std::mem::size_of::<T>() as CK_ULONG }
}

fn bytes_attr(type_: CK_ATTRIBUTE_TYPE, v: &[u8]) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE { type_, pValue: v.as_ptr() as *mut c_void, ulValueLen: v.len() as CK_ULONG }
}

/// C_CreateObject of a session secret key usable for everything; the return code and handle.
fn create_secret(r: &Raw, s: CK_SESSION_HANDLE, kt: CK_KEY_TYPE, value: &[u8]) -> (CK_RV, CK_OBJECT_HANDLE) {
    let (class, t) = (CKO_SECRET_KEY, CK_TRUE);
    let mut tpl = [
        attr(CKA_CLASS, &class),
        attr(CKA_KEY_TYPE, &kt),
        bytes_attr(CKA_VALUE, value),
        attr(CKA_ENCRYPT, &t),
        attr(CKA_DECRYPT, &t),
        attr(CKA_SIGN, &t),
        attr(CKA_VERIFY, &t),
        attr(CKA_UNWRAP, &t),
    ];
    let mut o: CK_OBJECT_HANDLE = 0;
    let rv = call!(r, C_CreateObject, s, tpl.as_mut_ptr(), tpl.len() as CK_ULONG, &mut o);
    (rv, o)
}

fn secret(r: &Raw, s: CK_SESSION_HANDLE, kt: CK_KEY_TYPE, value: &[u8]) -> CK_OBJECT_HANDLE {
    let (rv, o) = create_secret(r, s, kt, value);
    assert_eq!(rv, CKR_OK);
    o
}

/// A mechanism with its parameter bytes (IV) or a `CK_MAC_GENERAL_PARAMS` length.
struct Mech {
    ty: CK_MECHANISM_TYPE,
    param: Vec<u8>,
}

impl Mech {
    fn ck(&mut self) -> CK_MECHANISM {
        let p = if self.param.is_empty() { null_mut() } else { self.param.as_mut_ptr() as *mut c_void };
        CK_MECHANISM { mechanism: self.ty, pParameter: p, ulParameterLen: self.param.len() as CK_ULONG }
    }
}

fn m(ty: CK_MECHANISM_TYPE) -> Mech {
    Mech { ty, param: Vec::new() }
}

fn m_iv(ty: CK_MECHANISM_TYPE, iv: &[u8]) -> Mech {
    Mech { ty, param: iv.to_vec() }
}

fn m_len(ty: CK_MECHANISM_TYPE, len: usize) -> Mech {
    Mech { ty, param: (len as CK_ULONG).to_ne_bytes().to_vec() }
}

/// C_Digest single-part, or C_DigestUpdate in `chunk`-byte pieces and C_DigestFinal.
fn digest(r: &Raw, s: CK_SESSION_HANDLE, ty: CK_MECHANISM_TYPE, msg: &[u8], chunk: Option<usize>) -> Vec<u8> {
    let mut ck = m(ty).ck();
    assert_eq!(call!(r, C_DigestInit, s, &mut ck), CKR_OK);
    let mut out = [0u8; 64];
    let mut n = out.len() as CK_ULONG;
    match chunk {
        None => {
            let rv = call!(r, C_Digest, s, msg.as_ptr() as *mut u8, msg.len() as CK_ULONG, out.as_mut_ptr(), &mut n);
            assert_eq!(rv, CKR_OK);
        }
        Some(c) => {
            for part in msg.chunks(c) {
                assert_eq!(call!(r, C_DigestUpdate, s, part.as_ptr() as *mut u8, part.len() as CK_ULONG), CKR_OK);
            }
            assert_eq!(call!(r, C_DigestFinal, s, out.as_mut_ptr(), &mut n), CKR_OK);
        }
    }
    out[..n as usize].to_vec()
}

/// C_Sign single-part (two-call length convention).
fn sign(r: &Raw, s: CK_SESSION_HANDLE, mech: &mut Mech, k: CK_OBJECT_HANDLE, data: &[u8]) -> Vec<u8> {
    let mut ck = mech.ck();
    assert_eq!(call!(r, C_SignInit, s, &mut ck, k), CKR_OK);
    let d = data.as_ptr() as *mut u8;
    let mut n: CK_ULONG = 0;
    assert_eq!(call!(r, C_Sign, s, d, data.len() as CK_ULONG, null_mut(), &mut n), CKR_OK);
    let mut out = vec![0u8; n as usize];
    assert_eq!(call!(r, C_Sign, s, d, data.len() as CK_ULONG, out.as_mut_ptr(), &mut n), CKR_OK);
    out.truncate(n as usize);
    out
}

/// C_VerifyUpdate in two pieces and C_VerifyFinal.
fn verify(r: &Raw, s: CK_SESSION_HANDLE, mech: &mut Mech, k: CK_OBJECT_HANDLE, data: &[u8], sig: &[u8]) -> CK_RV {
    let mut ck = mech.ck();
    assert_eq!(call!(r, C_VerifyInit, s, &mut ck, k), CKR_OK);
    let (a, b) = data.split_at(data.len() / 2);
    for c in [a, b] {
        assert_eq!(call!(r, C_VerifyUpdate, s, c.as_ptr() as *mut u8, c.len() as CK_ULONG), CKR_OK);
    }
    call!(r, C_VerifyFinal, s, sig.as_ptr() as *mut u8, sig.len() as CK_ULONG)
}

/// C_Encrypt or C_Decrypt single-part.
fn crypt(r: &Raw, s: CK_SESSION_HANDLE, mech: &mut Mech, k: CK_OBJECT_HANDLE, input: &[u8], enc: bool) -> Vec<u8> {
    let mut ck = mech.ck();
    let i = input.as_ptr() as *mut u8;
    let mut out = vec![0u8; input.len() + 16];
    let mut n = out.len() as CK_ULONG;
    if enc {
        assert_eq!(call!(r, C_EncryptInit, s, &mut ck, k), CKR_OK);
        assert_eq!(call!(r, C_Encrypt, s, i, input.len() as CK_ULONG, out.as_mut_ptr(), &mut n), CKR_OK);
    } else {
        assert_eq!(call!(r, C_DecryptInit, s, &mut ck, k), CKR_OK);
        assert_eq!(call!(r, C_Decrypt, s, i, input.len() as CK_ULONG, out.as_mut_ptr(), &mut n), CKR_OK);
    }
    out.truncate(n as usize);
    out
}

fn mechanism_list(r: &Raw) -> Vec<CK_MECHANISM_TYPE> {
    let mut n: CK_ULONG = 0;
    assert_eq!(call!(r, C_GetMechanismList, MODULE_SLOT_ID, null_mut(), &mut n), CKR_OK);
    let mut v = vec![0 as CK_MECHANISM_TYPE; n as usize];
    assert_eq!(call!(r, C_GetMechanismList, MODULE_SLOT_ID, v.as_mut_ptr(), &mut n), CKR_OK);
    v.truncate(n as usize);
    v
}

fn mechanism_info_rv(r: &Raw, ty: CK_MECHANISM_TYPE) -> CK_RV {
    // SAFETY: a plain C struct the call fills.
    let mut info: CK_MECHANISM_INFO = unsafe { std::mem::zeroed() };
    call!(r, C_GetMechanismInfo, MODULE_SLOT_ID, ty, &mut info)
}

/// C_GenerateKey with a session template; the return code and handle.
fn generate(r: &Raw, s: CK_SESSION_HANDLE, ty: CK_MECHANISM_TYPE) -> (CK_RV, CK_OBJECT_HANDLE) {
    let f = CK_FALSE;
    let mut tpl = [attr(CKA_TOKEN, &f), attr(CKA_SENSITIVE, &f)];
    let mut ck = m(ty).ck();
    let mut o: CK_OBJECT_HANDLE = 0;
    let rv = call!(r, C_GenerateKey, s, &mut ck, tpl.as_mut_ptr(), tpl.len() as CK_ULONG, &mut o);
    (rv, o)
}

fn value_of(r: &Raw, s: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE) -> Vec<u8> {
    let mut buf = [0u8; 64];
    let mut t = [CK_ATTRIBUTE { type_: CKA_VALUE, pValue: buf.as_mut_ptr() as *mut c_void, ulValueLen: 64 }];
    assert_eq!(call!(r, C_GetAttributeValue, s, o, t.as_mut_ptr(), 1), CKR_OK);
    buf[..t[0].ulValueLen as usize].to_vec()
}

#[test]
fn without_an_override_the_legacy_mechanisms_do_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("assurance.log");
    let (r, s) = session_with(None, &log);
    let list = mechanism_list(&r);
    for ty in DES_MECHS.iter().chain(&HASH_MECHS) {
        assert!(!list.contains(ty), "{ty:#x} listed without an override");
        assert_eq!(mechanism_info_rv(&r, *ty), CKR_MECHANISM_INVALID, "{ty:#x}");
    }
    // Positive control: the strong neighbours are there.
    for ty in [CKM_SHA_1, CKM_SHA256_HMAC, CKM_SHA256_RSA_PKCS, CKM_DES3_ECB, CKM_DES3_KEY_GEN] {
        assert!(list.contains(&ty), "{ty:#x}");
    }
    // Every init refuses them.
    for ty in [CKM_MD5, CKM_RIPEMD160] {
        let mut ck = m(ty).ck();
        assert_eq!(call!(r, C_DigestInit, s, &mut ck), CKR_MECHANISM_INVALID);
    }
    let generic = secret(&r, s, CKK_GENERIC_SECRET, b"Jefe");
    for mut mech in [m(CKM_MD5_HMAC), m_len(CKM_MD5_HMAC_GENERAL, 8), m(CKM_RIPEMD160_HMAC), m(CKM_MD5_RSA_PKCS)] {
        let mut ck = mech.ck();
        assert_eq!(call!(r, C_SignInit, s, &mut ck, generic), CKR_MECHANISM_INVALID, "{:#x}", mech.ty);
        assert_eq!(call!(r, C_VerifyInit, s, &mut ck, generic), CKR_MECHANISM_INVALID, "{:#x}", mech.ty);
    }
    let des3 = secret(&r, s, CKK_DES3, &h("0123456789abcdef23456789abcdef01456789abcdef0123"));
    for mut mech in [m(CKM_DES_ECB), m_iv(CKM_DES_CBC, &[0; 8]), m_iv(CKM_DES_CBC_PAD, &[0; 8])] {
        let mut ck = mech.ck();
        assert_eq!(call!(r, C_EncryptInit, s, &mut ck, des3), CKR_MECHANISM_INVALID);
        assert_eq!(call!(r, C_DecryptInit, s, &mut ck, des3), CKR_MECHANISM_INVALID);
        let mut n: CK_ULONG = 64;
        let mut out = [0u8; 64];
        assert_eq!(call!(r, C_WrapKey, s, &mut ck, des3, des3, out.as_mut_ptr(), &mut n), CKR_MECHANISM_INVALID);
    }
    for ty in [CKM_DES_KEY_GEN, CKM_DES2_KEY_GEN] {
        assert_eq!(generate(&r, s, ty).0, CKR_MECHANISM_INVALID);
    }
    // Nor can DES or two-key 3DES keys be brought in.
    assert_eq!(create_secret(&r, s, CKK_DES, &h("0123456789abcdef")).0, CKR_ATTRIBUTE_VALUE_INVALID);
    assert_eq!(create_secret(&r, s, CKK_DES2, &h("0123456789abcdef23456789abcdef01")).0, CKR_ATTRIBUTE_VALUE_INVALID);
    // The refusals name the override that would allow them.
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("CKNFAST_OVERRIDE_SECURITY_ASSURANCES=weak_all"), "{text}");
    assert!(text.contains("CKNFAST_OVERRIDE_SECURITY_ASSURANCES=weak_des"), "{text}");
}

#[test]
fn each_override_turns_on_its_own_class() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("assurance.log");
    // weak_des: DES yes, MD5 and RIPEMD-160 no.
    let (r, _) = session_with(Some("weak_des"), &log);
    let list = mechanism_list(&r);
    assert!(DES_MECHS.iter().all(|t| list.contains(t)));
    assert!(HASH_MECHS.iter().all(|t| !list.contains(t)));
    // weak_rsa: neither.
    let (r, _) = session_with(Some("weak_rsa"), &log);
    let list = mechanism_list(&r);
    assert!(DES_MECHS.iter().chain(&HASH_MECHS).all(|t| !list.contains(t)));
    // weak_all (and all): both, with their info.
    for o in ["weak_all", "all"] {
        let (r, _) = session_with(Some(o), &log);
        let list = mechanism_list(&r);
        assert!(DES_MECHS.iter().chain(&HASH_MECHS).all(|t| list.contains(t)), "{o}");
        assert_eq!(mechanism_info_rv(&r, CKM_MD5_RSA_PKCS), CKR_OK);
    }
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("security assurances relaxed by override: weak_des"), "{text}");
}

#[test]
fn md5_rfc1321_test_suite() {
    let dir = tempfile::tempdir().unwrap();
    let (r, s) = session_with(Some("weak_all"), &dir.path().join("log"));
    let vs = data()["md5"].as_array().unwrap().clone();
    assert_eq!(vs.len(), 7);
    for v in vs {
        let msg = v["message"].as_str().unwrap().as_bytes();
        let want = h(v["digest"].as_str().unwrap());
        assert_eq!(digest(&r, s, CKM_MD5, msg, None), want, "{msg:?}");
        assert_eq!(digest(&r, s, CKM_MD5, msg, Some(7)), want, "{msg:?} in parts");
    }
}

#[test]
fn ripemd160_designers_vectors() {
    let dir = tempfile::tempdir().unwrap();
    let (r, s) = session_with(Some("weak_all"), &dir.path().join("log"));
    let doc = data();
    let vs = doc["ripemd160"].as_array().unwrap();
    assert_eq!(vs.len(), 8);
    for v in vs {
        let msg = v["message"].as_str().unwrap().as_bytes();
        let want = h(v["digest"].as_str().unwrap());
        assert_eq!(digest(&r, s, CKM_RIPEMD160, msg, None), want, "{msg:?}");
        assert_eq!(digest(&r, s, CKM_RIPEMD160, msg, Some(5)), want, "{msg:?} in parts");
    }
    let million = vec![b'a'; 1_000_000];
    assert_eq!(digest(&r, s, CKM_RIPEMD160, &million, Some(1000)), h(doc["ripemd160_million_a"].as_str().unwrap()));
}

/// The RFC 2202 / RFC 2286 cases of `section` with `full`- and `general`-length mechanisms.
fn hmac_cases(section: &str, full: CK_MECHANISM_TYPE, general: CK_MECHANISM_TYPE, len: usize) {
    let dir = tempfile::tempdir().unwrap();
    let (r, s) = session_with(Some("weak_all"), &dir.path().join("log"));
    let doc = data();
    let vs = doc[section].as_array().unwrap();
    assert_eq!(vs.len(), 7);
    for v in vs {
        let name = v["name"].as_str().unwrap();
        let (key, msg, mac) =
            (h(v["key"].as_str().unwrap()), h(v["message"].as_str().unwrap()), h(v["mac"].as_str().unwrap()));
        assert_eq!(mac.len(), len);
        let k = secret(&r, s, CKK_GENERIC_SECRET, &key);
        assert_eq!(sign(&r, s, &mut m(full), k, &msg), mac, "{name}");
        assert_eq!(verify(&r, s, &mut m(full), k, &msg, &mac), CKR_OK, "{name}");
        let mut bad = mac.clone();
        bad[0] ^= 0x80;
        assert_eq!(verify(&r, s, &mut m(full), k, &msg, &bad), CKR_SIGNATURE_INVALID, "{name}");
        assert_eq!(verify(&r, s, &mut m(full), k, &msg, &mac[..len - 1]), CKR_SIGNATURE_LEN_RANGE, "{name}");
        // Test case 5 publishes the 96-bit truncation: _GENERAL with 12 bytes.
        assert_eq!(sign(&r, s, &mut m_len(general, 12), k, &msg), &mac[..12], "{name}");
        assert_eq!(verify(&r, s, &mut m_len(general, 12), k, &msg, &mac[..12]), CKR_OK, "{name}");
    }
    // A MAC length beyond the digest is a bad parameter.
    let k = secret(&r, s, CKK_GENERIC_SECRET, b"Jefe");
    let mut ck = m_len(general, len + 1);
    assert_eq!(call!(r, C_SignInit, s, &mut ck.ck(), k), CKR_MECHANISM_PARAM_INVALID);
}

#[test]
fn hmac_md5_rfc2202() {
    hmac_cases("hmac_md5", CKM_MD5_HMAC, CKM_MD5_HMAC_GENERAL, 16);
}

#[test]
fn hmac_ripemd160_rfc2286() {
    hmac_cases("hmac_ripemd160", CKM_RIPEMD160_HMAC, CKM_RIPEMD160_HMAC_GENERAL, 20);
}

#[test]
fn des_fips81_ecb_cbc_and_keys() {
    let dir = tempfile::tempdir().unwrap();
    let (r, s) = session_with(Some("weak_des"), &dir.path().join("log"));
    let doc = data();
    let v = &doc["des"];
    let x = |k: &str| h(v[k].as_str().unwrap());
    let (key, iv, pt) = (x("key"), x("iv"), x("plaintext"));
    let k = secret(&r, s, CKK_DES, &key);
    assert_eq!(crypt(&r, s, &mut m(CKM_DES_ECB), k, &pt, true), x("ecb"));
    assert_eq!(crypt(&r, s, &mut m(CKM_DES_ECB), k, &x("ecb"), false), pt);
    assert_eq!(crypt(&r, s, &mut m_iv(CKM_DES_CBC, &iv), k, &pt, true), x("cbc"));
    assert_eq!(crypt(&r, s, &mut m_iv(CKM_DES_CBC, &iv), k, &x("cbc"), false), pt);
    // CBC-PAD: the published blocks, then a block of padding; and back.
    let padded = crypt(&r, s, &mut m_iv(CKM_DES_CBC_PAD, &iv), k, &pt, true);
    assert_eq!(&padded[..24], &x("cbc")[..]);
    assert_eq!(padded.len(), 32);
    assert_eq!(crypt(&r, s, &mut m_iv(CKM_DES_CBC_PAD, &iv), k, &padded, false), pt);
    // Parity (PKCS#11: DES keys carry odd parity): a key with a bad parity bit is refused, as
    // are wrong lengths, and the weak key 0101010101010101 cannot be used.
    let mut bad_parity = key.clone();
    bad_parity[0] ^= 1;
    assert_eq!(create_secret(&r, s, CKK_DES, &bad_parity).0, CKR_ATTRIBUTE_VALUE_INVALID);
    assert_eq!(create_secret(&r, s, CKK_DES, &key[..7]).0, CKR_ATTRIBUTE_VALUE_INVALID);
    assert_eq!(create_secret(&r, s, CKK_DES2, &key).0, CKR_ATTRIBUTE_VALUE_INVALID);
    // Unwrapping checks parity too: a value with a bad parity bit is not a DES key.
    let unwrap = |blob: &[u8]| {
        let (class, kt, f) = (CKO_SECRET_KEY, CKK_DES, CK_FALSE);
        let mut tpl = [attr(CKA_CLASS, &class), attr(CKA_KEY_TYPE, &kt), attr(CKA_TOKEN, &f)];
        let mut ck = m(CKM_DES_ECB).ck();
        let mut o: CK_OBJECT_HANDLE = 0;
        let (b, n) = (blob.as_ptr() as *mut u8, blob.len() as CK_ULONG);
        call!(r, C_UnwrapKey, s, &mut ck, k, b, n, tpl.as_mut_ptr(), tpl.len() as CK_ULONG, &mut o)
    };
    assert_eq!(unwrap(&crypt(&r, s, &mut m(CKM_DES_ECB), k, &bad_parity, true)), CKR_WRAPPED_KEY_INVALID);
    assert_eq!(unwrap(&crypt(&r, s, &mut m(CKM_DES_ECB), k, &key, true)), CKR_OK);
    let weak = secret(&r, s, CKK_DES, &[1; 8]);
    let mut ck = m(CKM_DES_ECB).ck();
    assert_eq!(call!(r, C_EncryptInit, s, &mut ck, weak), CKR_KEY_TYPE_INCONSISTENT);
    // Generated keys have odd parity in every byte and the fixed length.
    for (ty, len) in [(CKM_DES_KEY_GEN, 8), (CKM_DES2_KEY_GEN, 16)] {
        for _ in 0..4 {
            let (rv, o) = generate(&r, s, ty);
            assert_eq!(rv, CKR_OK);
            let v = value_of(&r, s, o);
            assert_eq!(v.len(), len);
            assert!(v.iter().all(|b| b.count_ones() % 2 == 1), "{v:02x?}");
        }
    }
}

#[test]
fn two_key_tdea_sp800_38b_d5_and_single_des_composition() {
    let dir = tempfile::tempdir().unwrap();
    let (r, s) = session_with(Some("weak_des"), &dir.path().join("log"));
    let doc: serde_json::Value =
        serde_json::from_str(include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/cmac.json"))).unwrap();
    let d5: Vec<_> = doc["tdes_vectors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["name"].as_str().unwrap().contains("D.5"))
        .collect();
    assert_eq!(d5.len(), 4);
    for v in d5 {
        // The published key is K1 | K2 | K1: its first 16 bytes are the CKK_DES2 value.
        let key = h(v["key"].as_str().unwrap());
        let k = secret(&r, s, CKK_DES2, &key[..16]);
        let (msg, mac) = (h(v["message"].as_str().unwrap()), h(v["mac"].as_str().unwrap()));
        assert_eq!(sign(&r, s, &mut m(CKM_DES3_CMAC), k, &msg), mac, "{}", v["name"]);
    }
    // ECB with a DES2 key is E_K1(D_K2(E_K1(x))) (SP 800-67), built here from the single-DES
    // mechanism, which matches FIPS 81 above; and the 3-key form K1|K2|K1 agrees.
    let (k1, k2) = (h("0123456789abcdef"), h("23456789abcdef01"));
    let des2 = secret(&r, s, CKK_DES2, &[k1.clone(), k2.clone()].concat());
    let des3 = secret(&r, s, CKK_DES3, &[k1.clone(), k2.clone(), k1.clone()].concat());
    let (d1, d2) = (secret(&r, s, CKK_DES, &k1), secret(&r, s, CKK_DES, &k2));
    let pt = b"Now is the time for all ".to_vec();
    let step1 = crypt(&r, s, &mut m(CKM_DES_ECB), d1, &pt, true);
    let step2 = crypt(&r, s, &mut m(CKM_DES_ECB), d2, &step1, false);
    let composed = crypt(&r, s, &mut m(CKM_DES_ECB), d1, &step2, true);
    assert_eq!(crypt(&r, s, &mut m(CKM_DES3_ECB), des2, &pt, true), composed);
    assert_eq!(crypt(&r, s, &mut m(CKM_DES3_ECB), des3, &pt, true), composed);
    assert_eq!(crypt(&r, s, &mut m_iv(CKM_DES3_CBC_PAD, &[7; 8]), des2, &pt, true).len(), 32);
    // K1 == K2 is single DES in disguise.
    let degenerate = secret(&r, s, CKK_DES2, &[k1.clone(), k1].concat());
    let mut ck = m(CKM_DES3_ECB).ck();
    assert_eq!(call!(r, C_EncryptInit, s, &mut ck, degenerate), CKR_KEY_TYPE_INCONSISTENT);
}

/// An RSA private key (the BYOK known-answer KEK, a fixed test key) imported with C_CreateObject.
fn import_rsa(r: &Raw, s: CK_SESSION_HANDLE) -> (CK_OBJECT_HANDLE, rsa::RsaPrivateKey) {
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::traits::{PrivateKeyParts, PublicKeyParts};
    let pem = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/byok/example-KEK.private.pem"));
    let sk = rsa::RsaPrivateKey::from_pkcs8_pem(pem).unwrap();
    let be = |b: &rsa::BigUint| b.to_bytes_be();
    let (n, e, d) = (be(sk.n()), be(sk.e()), be(sk.d()));
    let (p, q) = (be(&sk.primes()[0]), be(&sk.primes()[1]));
    let (class, kt, t) = (CKO_PRIVATE_KEY, CKK_RSA, CK_TRUE);
    let mut tpl = [
        attr(CKA_CLASS, &class),
        attr(CKA_KEY_TYPE, &kt),
        bytes_attr(CKA_MODULUS, &n),
        bytes_attr(CKA_PUBLIC_EXPONENT, &e),
        bytes_attr(CKA_PRIVATE_EXPONENT, &d),
        bytes_attr(CKA_PRIME_1, &p),
        bytes_attr(CKA_PRIME_2, &q),
        attr(CKA_SIGN, &t),
    ];
    let mut o: CK_OBJECT_HANDLE = 0;
    assert_eq!(call!(r, C_CreateObject, s, tpl.as_mut_ptr(), tpl.len() as CK_ULONG, &mut o), CKR_OK);
    (o, sk)
}

#[test]
fn md5_rsa_pkcs_matches_the_rsa_crate() {
    let dir = tempfile::tempdir().unwrap();
    let (r, s) = session_with(Some("weak_all"), &dir.path().join("log"));
    let (k, sk) = import_rsa(&r, s);
    // The oracle signs the MD5 digest RFC 1321 publishes for each message, with the DigestInfo
    // prefix of RFC 8017 §9.2 note 1 spelled out: no MD5 code of ours is involved.
    let pkcs1 = || rsa::Pkcs1v15Sign {
        hash_len: Some(16),
        prefix: h("3020300c06082a864886f70d020505000410").into_boxed_slice(),
    };
    for v in data()["md5"].as_array().unwrap() {
        let msg = v["message"].as_str().unwrap().as_bytes();
        let want = sk.sign(pkcs1(), &h(v["digest"].as_str().unwrap())).unwrap();
        assert_eq!(sign(&r, s, &mut m(CKM_MD5_RSA_PKCS), k, msg), want, "{msg:?}");
    }
    // The token verifies what the oracle signs, with the public half imported on its own, and
    // refuses the same signature for another message.
    use rsa::traits::PublicKeyParts;
    let (n, e) = (sk.n().to_bytes_be(), sk.e().to_bytes_be());
    let (class, kt, t) = (CKO_PUBLIC_KEY, CKK_RSA, CK_TRUE);
    let mut tpl = [
        attr(CKA_CLASS, &class),
        attr(CKA_KEY_TYPE, &kt),
        bytes_attr(CKA_MODULUS, &n),
        bytes_attr(CKA_PUBLIC_EXPONENT, &e),
        attr(CKA_VERIFY, &t),
    ];
    let mut pk: CK_OBJECT_HANDLE = 0;
    assert_eq!(call!(r, C_CreateObject, s, tpl.as_mut_ptr(), tpl.len() as CK_ULONG, &mut pk), CKR_OK);
    let sig = sk.sign(pkcs1(), &h("900150983cd24fb0d6963f7d28e17f72")).unwrap();
    assert_eq!(verify(&r, s, &mut m(CKM_MD5_RSA_PKCS), pk, b"abc", &sig), CKR_OK);
    assert_eq!(verify(&r, s, &mut m(CKM_MD5_RSA_PKCS), pk, b"abd", &sig), CKR_SIGNATURE_INVALID);
    // CKM_SHA1_RSA_PKCS does not accept it either: the DigestInfo names the hash.
    assert_eq!(verify(&r, s, &mut m(CKM_SHA1_RSA_PKCS), pk, b"abc", &sig), CKR_SIGNATURE_INVALID);
}
