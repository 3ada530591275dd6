//! CKM_SP800_108_COUNTER_KDF and CKM_SP800_108_FEEDBACK_KDF through the built `.so`: every
//! vector of NIST's CAVP KBKDF counter-mode file (tests/data/nist-800-108-KBKDF-CTR.txt: CMAC
//! with AES-128/192/256 and two- and three-key TDES, HMAC with SHA-1/224/256/384/512; counter of
//! 8 to 32 bits before, after or in the middle of the fixed data), the feedback mode against a
//! computation with aws-lc's HMAC, the length field, and hostile parameters. The rules for
//! protected base keys are in tests/derive_attacks.rs.

#[macro_use]
mod common;
use common::derive::{Kbkdf, Prf};
use common::*;
use cryptoki::error::RvError;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use cryptoki_sys::*;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

/// One CAVP vector: its section's PRF, counter location and width, and its values.
struct Vector {
    prf: String,
    location: String,
    rlen: CK_ULONG,
    count: String,
    l_bits: usize,
    ki: Vec<u8>,
    fixed: Vec<u8>,
    before: Vec<u8>,
    after: Vec<u8>,
    ko: Vec<u8>,
}

fn vectors() -> Vec<Vector> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/nist-800-108-KBKDF-CTR.txt")).unwrap();
    let (mut prf, mut location, mut rlen) = (String::new(), String::new(), 0);
    let mut out: Vec<Vector> = vec![];
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("[PRF=") {
            prf = v.trim_end_matches(']').to_string();
        } else if let Some(v) = line.strip_prefix("[CTRLOCATION=") {
            location = v.trim_end_matches(']').to_string();
        } else if let Some(v) = line.strip_prefix("[RLEN=") {
            rlen = v.trim_end_matches("_BITS]").parse().unwrap();
        } else if let Some((k, v)) = line.split_once(" = ").or_else(|| line.split_once('=')) {
            let v = v.trim();
            match k.trim() {
                "COUNT" => out.push(Vector {
                    prf: prf.clone(),
                    location: location.clone(),
                    rlen,
                    count: v.to_string(),
                    l_bits: 0,
                    ki: vec![],
                    fixed: vec![],
                    before: vec![],
                    after: vec![],
                    ko: vec![],
                }),
                "L" => out.last_mut().unwrap().l_bits = v.parse().unwrap(),
                "KI" => out.last_mut().unwrap().ki = h(v),
                "FixedInputData" => out.last_mut().unwrap().fixed = h(v),
                "DataBeforeCtrData" => out.last_mut().unwrap().before = h(v),
                "DataAfterCtrData" => out.last_mut().unwrap().after = h(v),
                "KO" => out.last_mut().unwrap().ko = h(v),
                _ => {}
            }
        }
    }
    out
}

/// The PKCS#11 PRF and base key type of a CAVP PRF name.
fn prf_of(name: &str) -> (CK_MECHANISM_TYPE, KeyType) {
    match name {
        "CMAC_AES128" | "CMAC_AES192" | "CMAC_AES256" => (CKM_AES_CMAC, KeyType::AES),
        "CMAC_TDES2" => (CKM_DES3_CMAC, KeyType::DES2),
        "CMAC_TDES3" => (CKM_DES3_CMAC, KeyType::DES3),
        "HMAC_SHA1" => (CKM_SHA_1_HMAC, KeyType::GENERIC_SECRET),
        "HMAC_SHA224" => (CKM_SHA224_HMAC, KeyType::GENERIC_SECRET),
        "HMAC_SHA256" => (CKM_SHA256_HMAC, KeyType::GENERIC_SECRET),
        "HMAC_SHA384" => (CKM_SHA384_HMAC, KeyType::GENERIC_SECRET),
        "HMAC_SHA512" => (CKM_SHA512_HMAC, KeyType::GENERIC_SECRET),
        other => panic!("unknown PRF {other}"),
    }
}

fn base(s: &Session, kt: KeyType, value: &[u8]) -> ObjectHandle {
    s.create_object(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(kt),
        Attribute::Value(value.to_vec()),
        Attribute::Derive(true),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
        Attribute::Token(false),
    ])
    .unwrap()
}

fn readable(len: usize) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::ValueLen((len as CK_ULONG).into()),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
        Attribute::Token(false),
    ]
}

fn value(s: &Session, k: ObjectHandle) -> Vec<u8> {
    match s.get_attributes(k, &[AttributeType::Value]).unwrap().pop() {
        Some(Attribute::Value(v)) => v,
        other => panic!("no value: {other:?}"),
    }
}

/// DES ignores the low bit of each key byte; the token takes DES keys only with odd parity, so
/// the CAVP keys (random bytes) get it set: the cipher, hence the CMAC, is the same.
fn with_parity(mut k: Vec<u8>) -> Vec<u8> {
    for b in &mut k {
        let hi = *b & 0xFE;
        *b = hi | (hi.count_ones() as u8 & 1 ^ 1);
    }
    k
}

#[test]
fn every_cavp_counter_mode_vector_through_the_so() {
    // Two-key TDES keys exist only with weak_des (README, security model).
    let m = Module::fresh_with_env(&[("CKNFAST_OVERRIDE_SECURITY_ASSURANCES", "weak_des")]);
    let slot = m.init_token("kbkdf");
    let s = m.user_session(slot);
    let all = vectors();
    let mut ran = std::collections::BTreeMap::<String, usize>::new();
    for v in &all {
        let (prf, kt) = prf_of(&v.prf);
        let ki = if prf == CKM_DES3_CMAC { with_parity(v.ki.clone()) } else { v.ki.clone() };
        let k = base(&s, kt, &ki);
        let ctr = Prf::Iteration(Some((false, v.rlen)));
        let data = match v.location.as_str() {
            "BEFORE_FIXED" => vec![ctr, Prf::Bytes(v.fixed.clone())],
            "AFTER_FIXED" => vec![Prf::Bytes(v.fixed.clone()), ctr],
            "MIDDLE_FIXED" => vec![Prf::Bytes(v.before.clone()), ctr, Prf::Bytes(v.after.clone())],
            other => panic!("unknown location {other}"),
        };
        assert_eq!(v.l_bits % 8, 0);
        let d = Kbkdf::new(prf, &data, None);
        let got = s.derive_key(&d.mechanism(), k, &readable(v.l_bits / 8)).unwrap();
        let what = format!("{} {} r={} COUNT={}", v.prf, v.location, v.rlen, v.count);
        assert_eq!(value(&s, got), v.ko, "{what}");
        s.destroy_object(got).unwrap();
        s.destroy_object(k).unwrap();
        *ran.entry(v.prf.clone()).or_default() += 1;
    }
    // The whole file: 10 PRFs x 3 locations x 4 widths x 40 vectors, none skipped.
    assert_eq!(all.len(), 4800);
    assert_eq!(ran.values().sum::<usize>(), 4800, "{ran:?}");
    eprintln!("KBKDF CAVP vectors run: {ran:?}");
}

#[test]
fn feedback_mode_and_the_length_field_agree_with_hmac_computed_offline() {
    use aws_lc_rs::hmac;
    let (_m, s) = logged_in_session("kbkdf");
    let key = [0x4B; 32];
    let k = base(&s, KeyType::GENERIC_SECRET, &key);
    let mac = |m: &[u8]| hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), m).as_ref().to_vec();
    // Feedback: K(i) = PRF(K(i-1) || [i]_16 LE || label || 0x00 || [L]_32 BE), K(0) = IV.
    let data = [
        Prf::Iteration(None),
        Prf::Counter(true, 16),
        Prf::Bytes(b"label\0".to_vec()),
        Prf::Dkm(CK_SP800_108_DKM_LENGTH_SUM_OF_KEYS, false, 32),
    ];
    let iv = [0x11; 32];
    let d = Kbkdf::new(CKM_SHA256_HMAC, &data, Some(&iv));
    let got = value(&s, s.derive_key(&d.mechanism(), k, &readable(40)).unwrap());
    let l = 320u32.to_be_bytes();
    let k1 = mac(&[&iv[..], &[1, 0], b"label\0", &l].concat());
    let k2 = mac(&[&k1[..], &[2, 0], b"label\0", &l].concat());
    assert_eq!(got, [&k1[..], &k2[..8]].concat());
    // An empty IV is allowed (K(0) empty).
    let d = Kbkdf::new(CKM_SHA256_HMAC, &data, Some(&[]));
    let got = value(&s, s.derive_key(&d.mechanism(), k, &readable(16)).unwrap());
    assert_eq!(got, mac(&[&[1, 0][..], b"label\0", &128u32.to_be_bytes()].concat())[..16]);
    // Counter mode, the length field counting segments (2 blocks of 256 bits), little-endian.
    let data = [
        Prf::Dkm(CK_SP800_108_DKM_LENGTH_SUM_OF_SEGMENTS, true, 16),
        Prf::Iteration(Some((false, 32))),
        Prf::Bytes(b"ctx".to_vec()),
    ];
    let d = Kbkdf::new(CKM_SHA256_HMAC, &data, None);
    let got = value(&s, s.derive_key(&d.mechanism(), k, &readable(33)).unwrap());
    let seg = 512u16.to_le_bytes();
    let b1 = mac(&[&seg[..], &[0, 0, 0, 1], b"ctx"].concat());
    let b2 = mac(&[&seg[..], &[0, 0, 0, 2], b"ctx"].concat());
    assert_eq!(got, [&b1[..], &b2[..1]].concat());
}

#[test]
fn hostile_or_malformed_parameters_fail_cleanly() {
    let (_m, s) = logged_in_session("kbkdf");
    let k = base(&s, KeyType::GENERIC_SECRET, &[7; 32]);
    let t = readable(32);
    let fixed = Prf::Bytes(vec![1; 8]);
    let ctr = Prf::Iteration(Some((false, 32)));
    let bad = |d: &Kbkdf| rv(s.derive_key(&d.mechanism(), k, &t).unwrap_err());
    // Counts and lengths the library must not trust.
    let mut d = Kbkdf::new(CKM_SHA256_HMAC, &[ctr.clone(), fixed.clone()], None);
    d.counter_params().ulNumberOfDataParams = CK_ULONG::MAX;
    assert_eq!(bad(&d), RvError::MechanismParamInvalid);
    d.counter_params().ulNumberOfDataParams = 0;
    assert_eq!(bad(&d), RvError::MechanismParamInvalid);
    d.counter_params().ulNumberOfDataParams = 2;
    d.counter_params().ulAdditionalDerivedKeys = 1;
    assert_eq!(bad(&d), RvError::MechanismParamInvalid, "additional derived keys are not supported");
    let huge = Kbkdf::new(CKM_SHA256_HMAC, &[ctr.clone(), Prf::Bytes(vec![0; 4097])], None);
    assert_eq!(bad(&huge), RvError::MechanismParamInvalid);
    // Shapes PKCS#11 rules out: no or two iteration variables, a counter of 40 bits, a feedback
    // iteration variable in counter mode, an optional counter in counter mode, an unknown PRF.
    for data in [
        vec![fixed.clone()],
        vec![ctr.clone(), ctr.clone()],
        vec![Prf::Iteration(Some((false, 40))), fixed.clone()],
        vec![Prf::Iteration(None), fixed.clone()],
        vec![ctr.clone(), Prf::Counter(false, 8)],
        vec![ctr.clone(), Prf::Dkm(9, false, 32)],
    ] {
        assert_eq!(bad(&Kbkdf::new(CKM_SHA256_HMAC, &data, None)), RvError::MechanismParamInvalid, "{data:?}");
    }
    assert_eq!(bad(&Kbkdf::new(CKM_SHA256, std::slice::from_ref(&ctr), None)), RvError::MechanismParamInvalid);
    // A counter-mode iteration variable is no feedback one.
    assert_eq!(
        bad(&Kbkdf::new(CKM_SHA256_HMAC, std::slice::from_ref(&ctr), Some(&[1]))),
        RvError::MechanismParamInvalid
    );
    // The PRF decides the base key type; the template must give a length.
    let aes = Kbkdf::new(CKM_AES_CMAC, std::slice::from_ref(&ctr), None);
    assert_eq!(bad(&aes), RvError::KeyTypeInconsistent);
    let d = Kbkdf::new(CKM_SHA256_HMAC, std::slice::from_ref(&ctr), None);
    let no_len = [Attribute::Sensitive(false), Attribute::Token(false)];
    assert_eq!(rv(s.derive_key(&d.mechanism(), k, &no_len).unwrap_err()), RvError::TemplateIncomplete);
    // Positive control.
    assert_eq!(value(&s, s.derive_key(&d.mechanism(), k, &t).unwrap()).len(), 32);
}

#[test]
fn the_kdfs_are_listed_with_ckf_derive() {
    let (r, _s) = module_session();
    for ty in [CKM_SP800_108_COUNTER_KDF, CKM_SP800_108_FEEDBACK_KDF] {
        // SAFETY: a plain C struct; the call fills it.
        let mut info: CK_MECHANISM_INFO = unsafe { std::mem::zeroed() };
        assert_eq!(call!(r, C_GetMechanismInfo, MODULE_SLOT_ID, ty, &mut info), CKR_OK);
        assert_eq!(info.flags, CKF_DERIVE, "{ty:#x}");
    }
    // SAFETY: as above.
    let mut info: CK_MECHANISM_INFO = unsafe { std::mem::zeroed() };
    let rv = call!(r, C_GetMechanismInfo, MODULE_SLOT_ID, CKM_SP800_108_DOUBLE_PIPELINE_KDF, &mut info);
    assert_eq!(rv, CKR_MECHANISM_INVALID, "not implemented, not listed");
}
