//! DSA and Diffie-Hellman (PKCS #3) through the C ABI: RFC 6979 A.2.2 DSA-2048 signatures
//! verified with imported keys (tests/data/rfc6979_dsa2048.json), RFC 5114 A.3 DH shared secrets
//! derived from imported private values (tests/data/rfc5114_dh2048_256.json), parameter and key
//! generation, the weak-size assurances, and hostile inputs (bad primes, out-of-range values,
//! huge sizes), each refused with the spec's code and in bounded time.

#[macro_use]
mod common;
use common::*;
use cryptoki_sys::*;
use std::ffi::c_void;
use std::ptr::null_mut;
use std::time::{Duration, Instant};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn json(name: &str) -> serde_json::Value {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn field(v: &serde_json::Value, k: &str) -> Vec<u8> {
    h(v[k].as_str().unwrap())
}

/// An attribute value as the C ABI takes it.
enum V {
    U(CK_ULONG),
    B(bool),
    Bytes(Vec<u8>),
}

/// A template whose values live as long as it does.
struct Tpl {
    vals: Vec<(CK_ATTRIBUTE_TYPE, V)>,
    bools: Vec<CK_BBOOL>,
}

impl Tpl {
    fn new(vals: Vec<(CK_ATTRIBUTE_TYPE, V)>) -> Tpl {
        let bools = vals.iter().map(|(_, v)| if matches!(v, V::B(true)) { CK_TRUE } else { CK_FALSE }).collect();
        Tpl { vals, bools }
    }
    fn ck(&mut self) -> Vec<CK_ATTRIBUTE> {
        let bools = &mut self.bools;
        self.vals
            .iter_mut()
            .enumerate()
            .map(|(i, (t, v))| {
                let (p, l) = match v {
                    V::U(u) => (u as *mut CK_ULONG as *mut c_void, std::mem::size_of::<CK_ULONG>()),
                    V::B(_) => (&mut bools[i] as *mut CK_BBOOL as *mut c_void, 1),
                    V::Bytes(b) => (b.as_mut_ptr() as *mut c_void, b.len()),
                };
                CK_ATTRIBUTE { type_: *t, pValue: p, ulValueLen: l as CK_ULONG }
            })
            .collect()
    }
}

fn create(r: &Raw, s: CK_SESSION_HANDLE, vals: Vec<(CK_ATTRIBUTE_TYPE, V)>) -> Result<CK_OBJECT_HANDLE, CK_RV> {
    let mut t = Tpl::new(vals);
    let mut ck = t.ck();
    let mut o = 0;
    match call!(r, C_CreateObject, s, ck.as_mut_ptr(), ck.len() as CK_ULONG, &mut o) {
        CKR_OK => Ok(o),
        rv => Err(rv),
    }
}

fn read(r: &Raw, s: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE, ty: CK_ATTRIBUTE_TYPE) -> Result<Vec<u8>, CK_RV> {
    let mut a = CK_ATTRIBUTE { type_: ty, pValue: null_mut(), ulValueLen: 0 };
    match call!(r, C_GetAttributeValue, s, o, &mut a, 1) {
        CKR_OK => {}
        rv => return Err(rv),
    }
    let mut buf = vec![0u8; a.ulValueLen as usize];
    a.pValue = buf.as_mut_ptr() as *mut c_void;
    assert_eq!(call!(r, C_GetAttributeValue, s, o, &mut a, 1), CKR_OK);
    Ok(buf)
}

fn read_ulong(r: &Raw, s: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE, ty: CK_ATTRIBUTE_TYPE) -> CK_ULONG {
    let b = read(r, s, o, ty).unwrap();
    CK_ULONG::from_ne_bytes(b.try_into().unwrap())
}

fn mech(ty: CK_MECHANISM_TYPE) -> CK_MECHANISM {
    CK_MECHANISM { mechanism: ty, pParameter: null_mut(), ulParameterLen: 0 }
}

fn sign(r: &Raw, s: CK_SESSION_HANDLE, ty: CK_MECHANISM_TYPE, k: CK_OBJECT_HANDLE, data: &[u8]) -> Vec<u8> {
    let mut m = mech(ty);
    assert_eq!(call!(r, C_SignInit, s, &mut m, k), CKR_OK);
    let mut n: CK_ULONG = 0;
    assert_eq!(call!(r, C_Sign, s, data.as_ptr() as *mut u8, data.len() as CK_ULONG, null_mut(), &mut n), CKR_OK);
    let mut out = vec![0u8; n as usize];
    assert_eq!(call!(r, C_Sign, s, data.as_ptr() as *mut u8, data.len() as CK_ULONG, out.as_mut_ptr(), &mut n), CKR_OK);
    out.truncate(n as usize);
    out
}

fn sign_parts(r: &Raw, s: CK_SESSION_HANDLE, ty: CK_MECHANISM_TYPE, k: CK_OBJECT_HANDLE, data: &[u8]) -> Vec<u8> {
    let mut m = mech(ty);
    assert_eq!(call!(r, C_SignInit, s, &mut m, k), CKR_OK);
    for part in data.chunks(3) {
        assert_eq!(call!(r, C_SignUpdate, s, part.as_ptr() as *mut u8, part.len() as CK_ULONG), CKR_OK);
    }
    let mut out = vec![0u8; 64];
    let mut n = out.len() as CK_ULONG;
    assert_eq!(call!(r, C_SignFinal, s, out.as_mut_ptr(), &mut n), CKR_OK);
    out.truncate(n as usize);
    out
}

/// C_Verify single-part, or C_VerifyUpdate in pieces and C_VerifyFinal.
fn verify(
    r: &Raw,
    s: CK_SESSION_HANDLE,
    ty: CK_MECHANISM_TYPE,
    k: CK_OBJECT_HANDLE,
    data: &[u8],
    sig: &[u8],
    parts: bool,
) -> CK_RV {
    let mut m = mech(ty);
    assert_eq!(call!(r, C_VerifyInit, s, &mut m, k), CKR_OK);
    let (sp, sl) = (sig.as_ptr() as *mut u8, sig.len() as CK_ULONG);
    if !parts {
        return call!(r, C_Verify, s, data.as_ptr() as *mut u8, data.len() as CK_ULONG, sp, sl);
    }
    for part in data.chunks(2) {
        assert_eq!(call!(r, C_VerifyUpdate, s, part.as_ptr() as *mut u8, part.len() as CK_ULONG), CKR_OK);
    }
    call!(r, C_VerifyFinal, s, sp, sl)
}

fn digest(name: &str, msg: &[u8]) -> Vec<u8> {
    use aws_lc_rs::digest as d;
    let alg = match name {
        "SHA-1" => &d::SHA1_FOR_LEGACY_USE_ONLY,
        "SHA-224" => &d::SHA224,
        "SHA-256" => &d::SHA256,
        "SHA-384" => &d::SHA384,
        _ => &d::SHA512,
    };
    d::digest(alg, msg).as_ref().to_vec()
}

fn dsa_mech(name: &str) -> CK_MECHANISM_TYPE {
    match name {
        "SHA-1" => CKM_DSA_SHA1,
        "SHA-224" => CKM_DSA_SHA224,
        "SHA-256" => CKM_DSA_SHA256,
        "SHA-384" => CKM_DSA_SHA384,
        _ => CKM_DSA_SHA512,
    }
}

/// The RFC 6979 DSA-2048 key: (public handle, private handle).
fn rfc6979_keys(r: &Raw, s: CK_SESSION_HANDLE) -> (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE) {
    let v = json("rfc6979_dsa2048.json");
    let group = |class, value: Vec<u8>| {
        vec![
            (CKA_CLASS, V::U(class)),
            (CKA_KEY_TYPE, V::U(CKK_DSA)),
            (CKA_PRIME, V::Bytes(field(&v, "p"))),
            (CKA_SUBPRIME, V::Bytes(field(&v, "q"))),
            (CKA_BASE, V::Bytes(field(&v, "g"))),
            (CKA_VALUE, V::Bytes(value)),
        ]
    };
    let public = create(r, s, group(CKO_PUBLIC_KEY, field(&v, "y"))).unwrap();
    let mut t = group(CKO_PRIVATE_KEY, field(&v, "x"));
    t.push((CKA_SIGN, V::B(true)));
    let private = create(r, s, t).unwrap();
    (public, private)
}

#[test]
fn rfc6979_dsa2048_signatures_verify_and_a_flipped_bit_fails() {
    let (r, s) = module_session();
    let (public, _) = rfc6979_keys(&r, s);
    let v = json("rfc6979_dsa2048.json");
    for case in v["signatures"].as_array().unwrap() {
        let (hash, msg) = (case["hash"].as_str().unwrap(), case["message"].as_str().unwrap().as_bytes());
        let sig = [field(case, "r"), field(case, "s")].concat();
        assert_eq!(sig.len(), 64);
        let ty = dsa_mech(hash);
        assert_eq!(verify(&r, s, ty, public, msg, &sig, false), CKR_OK, "{hash} {msg:?}");
        assert_eq!(verify(&r, s, ty, public, msg, &sig, true), CKR_OK, "{hash} {msg:?} multi-part");
        // CKM_DSA over the digest (SHA-384/512 digests are cut to q's 256 bits, FIPS 186-4 §4.6).
        assert_eq!(verify(&r, s, CKM_DSA, public, &digest(hash, msg), &sig, false), CKR_OK, "{hash} raw");
        for bit in [0usize, 300, 511] {
            let mut bad = sig.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(verify(&r, s, ty, public, msg, &bad, false), CKR_SIGNATURE_INVALID, "{hash} bit {bit}");
        }
        let mut other = msg.to_vec();
        other[0] ^= 1;
        assert_eq!(verify(&r, s, ty, public, &other, &sig, true), CKR_SIGNATURE_INVALID);
        assert_eq!(verify(&r, s, ty, public, msg, &sig[..63], false), CKR_SIGNATURE_LEN_RANGE);
    }
}

/// Verification reads g^u1·y^u2 off per-key tables built at the first verify (src/mech/ffi/
/// dsa_comb.rs): halves outside 1..q−1 (FIPS 186-4 §4.7) are refused, whether the tables exist
/// yet or not, and the RFC's signature still verifies (the positive control) on the first, a
/// repeated and a second object's verification.
#[test]
fn out_of_range_signature_halves_are_refused() {
    let (r, s) = module_session();
    let v = json("rfc6979_dsa2048.json");
    let cases = v["signatures"].as_array().unwrap();
    let case = cases.iter().find(|c| c["hash"] == "SHA-256" && c["message"] == "sample").unwrap();
    let (msg, sig) = (case["message"].as_str().unwrap().as_bytes(), [field(case, "r"), field(case, "s")].concat());
    let q = field(&v, "q");
    let edges = [vec![0u8; 32], q.clone(), plus(&q, 1), plus(&q, -1), vec![0xff; 32]];
    for first in [true, false] {
        let (public, _) = rfc6979_keys(&r, s);
        if !first {
            assert_eq!(verify(&r, s, CKM_DSA_SHA256, public, msg, &sig, false), CKR_OK);
        }
        for edge in &edges {
            for half in 0..2 {
                let mut bad = sig.clone();
                bad[half * 32..(half + 1) * 32].copy_from_slice(edge);
                assert_eq!(verify(&r, s, CKM_DSA_SHA256, public, msg, &bad, false), CKR_SIGNATURE_INVALID);
            }
        }
        for _ in 0..3 {
            assert_eq!(verify(&r, s, CKM_DSA_SHA256, public, msg, &sig, false), CKR_OK);
        }
    }
}

#[test]
fn imported_key_signs_with_every_dsa_mechanism() {
    let (r, s) = module_session();
    let (public, private) = rfc6979_keys(&r, s);
    let msg = b"shieldhsm DSA round trip, long enough to span several updates";
    for hash in ["SHA-1", "SHA-224", "SHA-256", "SHA-384", "SHA-512"] {
        let ty = dsa_mech(hash);
        let one = sign(&r, s, ty, private, msg);
        let parts = sign_parts(&r, s, ty, private, msg);
        assert_eq!((one.len(), parts.len()), (64, 64));
        assert_ne!(one, parts, "DSA signatures are randomized");
        for sig in [&one, &parts] {
            assert_eq!(verify(&r, s, ty, public, msg, sig, false), CKR_OK, "{hash}");
        }
        let raw = sign(&r, s, CKM_DSA, private, &digest(hash, msg));
        assert_eq!(verify(&r, s, ty, public, msg, &raw, false), CKR_OK, "{hash}: CKM_DSA over the digest");
    }
    // CKM_DSA takes a digest of a SHA length only.
    let mut m = mech(CKM_DSA);
    assert_eq!(call!(r, C_SignInit, s, &mut m, private), CKR_OK);
    let (mut out, mut n) = ([0u8; 64], 64 as CK_ULONG);
    assert_eq!(call!(r, C_Sign, s, [1u8; 21].as_ptr() as *mut u8, 21, out.as_mut_ptr(), &mut n), CKR_DATA_LEN_RANGE);
    // Cross-checked by an implementation that is not aws-lc, where the openssl tool exists.
    openssl_verifies(&r, s, public, private);
}

/// A DER INTEGER of a big-endian magnitude.
fn der_int(v: &[u8]) -> Vec<u8> {
    let v = &v[v.iter().position(|b| *b != 0).unwrap_or(v.len() - 1)..];
    let body = if v[0] & 0x80 != 0 { [&[0u8][..], v].concat() } else { v.to_vec() };
    der(0x02, &body)
}

fn der(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match body.len() {
        n if n < 0x80 => out.push(n as u8),
        n if n < 0x100 => out.extend([0x81, n as u8]),
        n => out.extend([0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(body);
    out
}

/// Signs with the token and verifies with `openssl pkeyutl` (a DER SubjectPublicKeyInfo built from
/// the key's attributes, the signature as DER Dss-Sig-Value). Skipped without the tool.
fn openssl_verifies(r: &Raw, s: CK_SESSION_HANDLE, public: CK_OBJECT_HANDLE, private: CK_OBJECT_HANDLE) {
    if std::process::Command::new("openssl").arg("version").output().is_err() {
        eprintln!("openssl not found: cross-check skipped");
        return;
    }
    let a = |t| read(r, s, public, t).unwrap();
    let params = der(0x30, &[der_int(&a(CKA_PRIME)), der_int(&a(CKA_SUBPRIME)), der_int(&a(CKA_BASE))].concat());
    let alg = der(0x30, &[der(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01]), params].concat());
    let key_bits = der(0x03, &[&[0u8][..], &der_int(&a(CKA_VALUE))].concat());
    let spki = der(0x30, &[alg, key_bits].concat());
    assert_eq!(read(r, s, public, CKA_PUBLIC_KEY_INFO).unwrap(), spki, "CKA_PUBLIC_KEY_INFO: RFC 3279 form");
    let dir = tempfile::tempdir().unwrap();
    let d = digest("SHA-256", b"checked by openssl");
    let sig = sign(r, s, CKM_DSA_SHA256, private, b"checked by openssl");
    let der_sig = der(0x30, &[der_int(&sig[..32]), der_int(&sig[32..])].concat());
    for (name, bytes) in [("pub.der", &spki), ("sig.der", &der_sig), ("digest.bin", &d)] {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    let out = std::process::Command::new("openssl")
        .args(["pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey", "pub.der", "-in", "digest.bin"])
        .args(["-sigfile", "sig.der"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("Verified Successfully"),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn generate_params(
    r: &Raw,
    s: CK_SESSION_HANDLE,
    bits: CK_ULONG,
    sub: Option<CK_ULONG>,
) -> Result<CK_OBJECT_HANDLE, CK_RV> {
    let mut vals = vec![(CKA_PRIME_BITS, V::U(bits))];
    if let Some(n) = sub {
        vals.push((CKA_SUB_PRIME_BITS, V::U(n)));
    }
    let mut t = Tpl::new(vals);
    let mut ck = t.ck();
    let mut m = mech(CKM_DSA_PARAMETER_GEN);
    let mut o = 0;
    match call!(r, C_GenerateKey, s, &mut m, ck.as_mut_ptr(), ck.len() as CK_ULONG, &mut o) {
        CKR_OK => Ok(o),
        rv => Err(rv),
    }
}

fn generate_pair(
    r: &Raw,
    s: CK_SESSION_HANDLE,
    ty: CK_MECHANISM_TYPE,
    public: Vec<(CK_ATTRIBUTE_TYPE, V)>,
    private: Vec<(CK_ATTRIBUTE_TYPE, V)>,
) -> Result<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE), CK_RV> {
    let (mut pt, mut st) = (Tpl::new(public), Tpl::new(private));
    let (mut pc, mut sc) = (pt.ck(), st.ck());
    let mut m = mech(ty);
    let (mut hp, mut hs) = (0, 0);
    let rv = call!(
        r,
        C_GenerateKeyPair,
        s,
        &mut m,
        pc.as_mut_ptr(),
        pc.len() as CK_ULONG,
        sc.as_mut_ptr(),
        sc.len() as CK_ULONG,
        &mut hp,
        &mut hs
    );
    if rv == CKR_OK {
        Ok((hp, hs))
    } else {
        Err(rv)
    }
}

fn dsa_public_template(p: Vec<u8>, q: Vec<u8>, g: Vec<u8>) -> Vec<(CK_ATTRIBUTE_TYPE, V)> {
    vec![(CKA_PRIME, V::Bytes(p)), (CKA_SUBPRIME, V::Bytes(q)), (CKA_BASE, V::Bytes(g)), (CKA_VERIFY, V::B(true))]
}

#[test]
fn parameter_generation_then_key_pair_then_signatures() {
    let (r, s) = module_session();
    let t = Instant::now();
    let params = generate_params(&r, s, 2048, None).unwrap();
    eprintln!("DSA-2048 parameter generation: {:?}", t.elapsed());
    assert_eq!(read_ulong(&r, s, params, CKA_CLASS), CKO_DOMAIN_PARAMETERS);
    assert_eq!(read_ulong(&r, s, params, CKA_KEY_TYPE), CKK_DSA);
    assert_eq!(read_ulong(&r, s, params, CKA_PRIME_BITS), 2048);
    assert_eq!(read(&r, s, params, CKA_LOCAL).unwrap(), vec![CK_TRUE]);
    let (p, q, g) = (
        read(&r, s, params, CKA_PRIME).unwrap(),
        read(&r, s, params, CKA_SUBPRIME).unwrap(),
        read(&r, s, params, CKA_BASE).unwrap(),
    );
    assert_eq!((p.len(), q.len()), (256, 32));
    let (public, private) =
        generate_pair(&r, s, CKM_DSA_KEY_PAIR_GEN, dsa_public_template(p.clone(), q, g), vec![(CKA_SIGN, V::B(true))])
            .unwrap();
    assert_eq!(read(&r, s, private, CKA_PRIME).unwrap(), p, "the private key carries the domain parameters");
    assert_eq!(read(&r, s, public, CKA_VALUE).unwrap().len(), 256);
    // The private value is sensitive by default; the public value is not.
    assert_eq!(read(&r, s, private, CKA_VALUE), Err(CKR_ATTRIBUTE_SENSITIVE));
    assert_eq!(read(&r, s, private, CKA_ALWAYS_SENSITIVE).unwrap(), vec![CK_TRUE]);
    let sig = sign(&r, s, CKM_DSA_SHA256, private, b"generated");
    assert_eq!(verify(&r, s, CKM_DSA_SHA256, public, b"generated", &sig, false), CKR_OK);
    assert_eq!(verify(&r, s, CKM_DSA_SHA256, public, b"generatee", &sig, false), CKR_SIGNATURE_INVALID);
}

#[test]
fn parameter_generation_sizes_and_the_weak_override() {
    let (r, s) = module_session();
    for (bits, sub, want) in [
        (1024, None, CKR_KEY_SIZE_RANGE), // weak: needs weak_dsa
        (1 << 20, None, CKR_KEY_SIZE_RANGE),
        (CK_ULONG::MAX, None, CKR_KEY_SIZE_RANGE),
        (4096, None, CKR_KEY_SIZE_RANGE),
        (2047, None, CKR_KEY_SIZE_RANGE),
        (2048, Some(160), CKR_KEY_SIZE_RANGE),
        (2048, Some(224), CKR_ATTRIBUTE_VALUE_INVALID), // a FIPS size aws-lc does not generate
    ] {
        let t = Instant::now();
        assert_eq!(generate_params(&r, s, bits, sub), Err(want), "{bits}/{sub:?}");
        assert!(t.elapsed() < Duration::from_secs(1), "refused at once");
    }
    let mut m = mech(CKM_DSA_PARAMETER_GEN);
    let mut o = 0;
    assert_eq!(call!(r, C_GenerateKey, s, &mut m, null_mut(), 0, &mut o), CKR_TEMPLATE_INCOMPLETE);
    // Importing parameters: CKA_PRIME_BITS is computed, never given.
    let v = json("rfc6979_dsa2048.json");
    let t = vec![
        (CKA_CLASS, V::U(CKO_DOMAIN_PARAMETERS)),
        (CKA_KEY_TYPE, V::U(CKK_DSA)),
        (CKA_PRIME, V::Bytes(field(&v, "p"))),
        (CKA_SUBPRIME, V::Bytes(field(&v, "q"))),
        (CKA_BASE, V::Bytes(field(&v, "g"))),
    ];
    let imported = create(&r, s, t).unwrap();
    assert_eq!(read_ulong(&r, s, imported, CKA_PRIME_BITS), 2048);
    assert_eq!(read(&r, s, imported, CKA_LOCAL).unwrap(), vec![CK_FALSE]);

    let (r, s) = session_with_env("weak_dsa");
    let params = generate_params(&r, s, 1024, Some(160)).unwrap();
    let get = |t| read(&r, s, params, t).unwrap();
    assert_eq!((get(CKA_PRIME).len(), get(CKA_SUBPRIME).len()), (128, 20));
    let (public, private) = generate_pair(
        &r,
        s,
        CKM_DSA_KEY_PAIR_GEN,
        dsa_public_template(get(CKA_PRIME), get(CKA_SUBPRIME), get(CKA_BASE)),
        vec![],
    )
    .unwrap();
    let sig = sign(&r, s, CKM_DSA_SHA1, private, b"weak");
    assert_eq!(sig.len(), 40);
    assert_eq!(verify(&r, s, CKM_DSA_SHA1, public, b"weak", &sig, false), CKR_OK);
}

/// A module session on a library initialized with an override list.
fn session_with_env(overrides: &str) -> (Raw, CK_SESSION_HANDLE) {
    let _env = env_lock();
    std::env::set_var("CKNFAST_OVERRIDE_SECURITY_ASSURANCES", overrides);
    let r = Raw::load();
    assert_eq!(call!(r, C_Initialize, null_mut()), CKR_OK);
    std::env::remove_var("CKNFAST_OVERRIDE_SECURITY_ASSURANCES");
    let free = raw_free_slot(&r);
    let mut label = [b' '; 32];
    let so = SO_PIN.as_bytes();
    assert_eq!(call!(r, C_InitToken, free, so.as_ptr() as *mut _, so.len() as CK_ULONG, label.as_mut_ptr()), CKR_OK);
    let mut h: CK_SESSION_HANDLE = 0;
    assert_eq!(
        call!(r, C_OpenSession, MODULE_SLOT_ID, CKF_SERIAL_SESSION | CKF_RW_SESSION, null_mut(), None, &mut h),
        CKR_OK
    );
    (r, h)
}

/// A big-endian number plus a small value (no carry past the top byte in these uses).
fn plus(v: &[u8], d: i32) -> Vec<u8> {
    let mut out = v.to_vec();
    let last = out.len() - 1;
    out[last] = (out[last] as i32 + d) as u8;
    out
}

#[test]
fn hostile_dsa_parameters_and_keys_are_refused() {
    let (r, s) = module_session();
    let v = json("rfc6979_dsa2048.json");
    let (p, q, g) = (field(&v, "p"), field(&v, "q"), field(&v, "g"));
    let huge = vec![0xFFu8; 2500]; // 20000 bits
    let gen = |p: Vec<u8>, q: Vec<u8>, g: Vec<u8>| {
        let t = Instant::now();
        let rv = generate_pair(&r, s, CKM_DSA_KEY_PAIR_GEN, dsa_public_template(p, q, g), vec![]).map(|_| ());
        assert!(t.elapsed() < Duration::from_secs(10), "bounded work");
        rv
    };
    assert_eq!(gen(p.clone(), q.clone(), vec![1]), Err(CKR_DOMAIN_PARAMS_INVALID), "g = 1");
    assert_eq!(gen(p.clone(), q.clone(), p.clone()), Err(CKR_DOMAIN_PARAMS_INVALID), "g = p");
    assert_eq!(gen(plus(&p, 1), q.clone(), g.clone()), Err(CKR_DOMAIN_PARAMS_INVALID), "p even");
    assert_eq!(
        gen(plus(&p, 2), q.clone(), g.clone()),
        Err(CKR_DOMAIN_PARAMS_INVALID),
        "p + 2: q does not divide p - 1"
    );
    assert_eq!(gen(p.clone(), plus(&q, -2), g.clone()), Err(CKR_DOMAIN_PARAMS_INVALID), "q - 2");
    assert_eq!(gen(huge.clone(), q.clone(), g.clone()), Err(CKR_KEY_SIZE_RANGE), "20000-bit p");
    assert_eq!(gen(p[..128].to_vec(), q[..20].to_vec(), g[..100].to_vec()), Err(CKR_KEY_SIZE_RANGE), "1024/160");

    // Import: values out of range, or sizes no DSA key has.
    let key = |class, p: &[u8], q: &[u8], value: Vec<u8>| {
        create(
            &r,
            s,
            vec![
                (CKA_CLASS, V::U(class)),
                (CKA_KEY_TYPE, V::U(CKK_DSA)),
                (CKA_PRIME, V::Bytes(p.to_vec())),
                (CKA_SUBPRIME, V::Bytes(q.to_vec())),
                (CKA_BASE, V::Bytes(g.clone())),
                (CKA_VALUE, V::Bytes(value)),
            ],
        )
        .map(|_| ())
    };
    let bad = Err(CKR_ATTRIBUTE_VALUE_INVALID);
    assert_eq!(key(CKO_PRIVATE_KEY, &p, &q, vec![0]), bad, "x = 0");
    assert_eq!(key(CKO_PRIVATE_KEY, &p, &q, q.clone()), bad, "x = q");
    assert_eq!(key(CKO_PUBLIC_KEY, &p, &q, vec![0]), bad, "y = 0");
    assert_eq!(key(CKO_PUBLIC_KEY, &p, &q, p.clone()), bad, "y = p");
    assert_eq!(key(CKO_PUBLIC_KEY, &huge, &q, vec![2]), bad, "20000-bit p");
    assert_eq!(key(CKO_PUBLIC_KEY, &p, &[0x7f; 40], vec![2]), bad, "320-bit q");
    // Caught by aws-lc's bounds checks (q of a FIPS size, p odd and above q, 0 < g < p).
    assert_eq!(key(CKO_PUBLIC_KEY, &p, &q[..25], field(&v, "y")), bad, "200-bit q");
    assert_eq!(key(CKO_PUBLIC_KEY, &plus(&p, 1), &q, field(&v, "y")), bad, "even p");
    assert_eq!(key(CKO_PRIVATE_KEY, &p, &q, field(&v, "x")), Ok(()), "positive control");
}

fn aes_kek(r: &Raw, s: CK_SESSION_HANDLE, value: &[u8]) -> CK_OBJECT_HANDLE {
    let t = vec![
        (CKA_CLASS, V::U(CKO_SECRET_KEY)),
        (CKA_KEY_TYPE, V::U(CKK_AES)),
        (CKA_VALUE, V::Bytes(value.to_vec())),
        (CKA_WRAP, V::B(true)),
        (CKA_UNWRAP, V::B(true)),
    ];
    create(r, s, t).unwrap()
}

fn wrap(r: &Raw, s: CK_SESSION_HANDLE, kek: CK_OBJECT_HANDLE, key: CK_OBJECT_HANDLE) -> Result<Vec<u8>, CK_RV> {
    let mut m = mech(CKM_AES_KEY_WRAP_KWP);
    let (mut out, mut n) = (vec![0u8; 4096], 4096 as CK_ULONG);
    match call!(r, C_WrapKey, s, &mut m, kek, key, out.as_mut_ptr(), &mut n) {
        CKR_OK => Ok(out[..n as usize].to_vec()),
        rv => Err(rv),
    }
}

fn unwrap(
    r: &Raw,
    s: CK_SESSION_HANDLE,
    kek: CK_OBJECT_HANDLE,
    blob: &[u8],
    kt: CK_KEY_TYPE,
    usage: CK_ATTRIBUTE_TYPE,
) -> CK_OBJECT_HANDLE {
    let mut t = Tpl::new(vec![(CKA_CLASS, V::U(CKO_PRIVATE_KEY)), (CKA_KEY_TYPE, V::U(kt)), (usage, V::B(true))]);
    let mut ck = t.ck();
    let mut m = mech(CKM_AES_KEY_WRAP_KWP);
    let mut o = 0;
    let rv = call!(
        r,
        C_UnwrapKey,
        s,
        &mut m,
        kek,
        blob.as_ptr() as *mut u8,
        blob.len() as CK_ULONG,
        ck.as_mut_ptr(),
        ck.len() as CK_ULONG,
        &mut o
    );
    assert_eq!(rv, CKR_OK);
    o
}

fn set_attr(r: &Raw, s: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE, ty: CK_ATTRIBUTE_TYPE, v: Vec<u8>) -> CK_RV {
    let mut t = Tpl::new(vec![(ty, V::Bytes(v))]);
    let mut ck = t.ck();
    call!(r, C_SetAttributeValue, s, o, ck.as_mut_ptr(), 1)
}

fn copy_with(r: &Raw, s: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE, ty: CK_ATTRIBUTE_TYPE, v: Vec<u8>) -> CK_RV {
    let mut t = Tpl::new(vec![(ty, V::Bytes(v))]);
    let mut ck = t.ck();
    let mut n = 0;
    call!(r, C_CopyObject, s, o, ck.as_mut_ptr(), 1, &mut n)
}

#[test]
fn dsa_private_keys_stay_inside() {
    let (r, s) = module_session();
    let (public, private) = rfc6979_keys(&r, s);
    let v = json("rfc6979_dsa2048.json");
    // Imported without CKA_SENSITIVE: sensitive by default, as other private keys here.
    assert_eq!(read(&r, s, private, CKA_VALUE), Err(CKR_ATTRIBUTE_SENSITIVE));
    assert_eq!(read(&r, s, public, CKA_VALUE).unwrap(), field(&v, "y"), "positive control");
    // The group of a private key never changes (a swapped p or g would make signatures leak x).
    for ty in [CKA_PRIME, CKA_SUBPRIME, CKA_BASE] {
        assert_eq!(set_attr(&r, s, private, ty, vec![5]), CKR_ATTRIBUTE_READ_ONLY, "{ty:#x}");
        assert_eq!(copy_with(&r, s, private, ty, vec![5]), CKR_ATTRIBUTE_READ_ONLY, "{ty:#x}");
    }
    assert_eq!(set_attr(&r, s, private, CKA_LABEL, b"fine".to_vec()), CKR_OK, "positive control");
    let kek = aes_kek(&r, s, &[7; 32]);
    // Not extractable: never wrapped.
    let mut t = Tpl::new(vec![(CKA_EXTRACTABLE, V::B(false))]);
    let mut ck = t.ck();
    assert_eq!(call!(r, C_SetAttributeValue, s, private, ck.as_mut_ptr(), 1), CKR_OK);
    assert_eq!(wrap(&r, s, kek, private), Err(CKR_KEY_UNEXTRACTABLE));
    // Generated in the token (never known outside): not under a key that can decrypt.
    let (p, q, g) = (field(&v, "p"), field(&v, "q"), field(&v, "g"));
    let (_, born) = generate_pair(&r, s, CKM_DSA_KEY_PAIR_GEN, dsa_public_template(p, q, g), vec![]).unwrap();
    assert_eq!(wrap(&r, s, kek, born), Err(CKR_KEY_NOT_WRAPPABLE));
    // The public key cannot sign.
    let mut m = mech(CKM_DSA_SHA256);
    assert_ne!(call!(r, C_SignInit, s, &mut m, public), CKR_OK);
}

/// An imported, extractable DSA key wraps as PKCS#8 (RFC 5958; id-dsa with Dss-Parms, x as an
/// INTEGER), which `openssl` reads as the same key, and unwraps into a key that signs.
#[test]
fn dsa_keys_wrap_as_pkcs8() {
    let (r, s) = module_session();
    let (public, private) = rfc6979_keys(&r, s);
    let kek_value = [9u8; 32];
    let kek = aes_kek(&r, s, &kek_value);
    let blob = wrap(&r, s, kek, private).unwrap();
    let back = unwrap(&r, s, kek, &blob, CKK_DSA, CKA_SIGN);
    let sig = sign(&r, s, CKM_DSA_SHA384, back, b"unwrapped");
    assert_eq!(verify(&r, s, CKM_DSA_SHA384, public, b"unwrapped", &sig, false), CKR_OK);
    // CKA_PUBLIC_KEY_INFO is the SubjectPublicKeyInfo an independent parser accepts.
    let spki = read(&r, s, public, CKA_PUBLIC_KEY_INFO).unwrap();
    assert_eq!(read(&r, s, private, CKA_PUBLIC_KEY_INFO).unwrap(), spki);
    if std::process::Command::new("openssl").arg("version").output().is_err() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("blob"), &blob).unwrap();
    std::fs::write(dir.path().join("spki.der"), &spki).unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl").args(args).current_dir(dir.path()).output().unwrap();
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    let k = hex::encode(kek_value);
    run(&["enc", "-d", "-id-aes256-wrap-pad", "-iv", "A65959A6", "-K", &k, "-in", "blob", "-out", "p8.der"]);
    // The public key openssl derives from the PKCS#8 is the token's SubjectPublicKeyInfo.
    run(&["pkey", "-inform", "DER", "-in", "p8.der", "-pubout", "-outform", "DER", "-out", "pub.der"]);
    assert_eq!(std::fs::read(dir.path().join("pub.der")).unwrap(), spki);
    let text = String::from_utf8(run(&["pkey", "-inform", "DER", "-in", "p8.der", "-text", "-noout"])).unwrap();
    assert!(text.contains("Private-Key: (2048 bit)"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// Diffie-Hellman
// ---------------------------------------------------------------------------------------------

fn dh_private(r: &Raw, s: CK_SESSION_HANDLE, v: &serde_json::Value, x: &str) -> CK_OBJECT_HANDLE {
    create(
        r,
        s,
        vec![
            (CKA_CLASS, V::U(CKO_PRIVATE_KEY)),
            (CKA_KEY_TYPE, V::U(CKK_DH)),
            (CKA_PRIME, V::Bytes(field(v, "p"))),
            (CKA_BASE, V::Bytes(field(v, "g"))),
            (CKA_VALUE, V::Bytes(field(v, x))),
            (CKA_DERIVE, V::B(true)),
        ],
    )
    .unwrap()
}

/// C_DeriveKey with CKM_DH_PKCS_DERIVE into a readable generic secret (or `extra` template).
fn derive(
    r: &Raw,
    s: CK_SESSION_HANDLE,
    base: CK_OBJECT_HANDLE,
    peer: &[u8],
    extra: Vec<(CK_ATTRIBUTE_TYPE, V)>,
) -> Result<CK_OBJECT_HANDLE, CK_RV> {
    let mut vals = vec![(CKA_CLASS, V::U(CKO_SECRET_KEY)), (CKA_SENSITIVE, V::B(false)), (CKA_EXTRACTABLE, V::B(true))];
    if !extra.iter().any(|(t, _)| *t == CKA_KEY_TYPE) {
        vals.push((CKA_KEY_TYPE, V::U(CKK_GENERIC_SECRET)));
    }
    vals.extend(extra);
    let mut t = Tpl::new(vals);
    let mut ck = t.ck();
    let mut peer = peer.to_vec();
    let mut m = CK_MECHANISM {
        mechanism: CKM_DH_PKCS_DERIVE,
        pParameter: peer.as_mut_ptr() as *mut c_void,
        ulParameterLen: peer.len() as CK_ULONG,
    };
    let mut o = 0;
    match call!(r, C_DeriveKey, s, &mut m, base, ck.as_mut_ptr(), ck.len() as CK_ULONG, &mut o) {
        CKR_OK => Ok(o),
        rv => Err(rv),
    }
}

#[test]
fn rfc5114_shared_secret_through_the_token() {
    let (r, s) = module_session();
    let v = json("rfc5114_dh2048_256.json");
    let z = field(&v, "Z");
    let a = dh_private(&r, s, &v, "xA");
    let b = dh_private(&r, s, &v, "xB");
    for (key, peer) in [(a, "yB"), (b, "yA")] {
        let k = derive(&r, s, key, &field(&v, peer), vec![]).unwrap();
        assert_eq!(read(&r, s, k, CKA_VALUE).unwrap(), z, "{peer}");
        assert_eq!(read_ulong(&r, s, k, CKA_VALUE_LEN), 256);
    }
    // With a length, the leading bytes are dropped (PKCS#11 §2.5.7); an AES key takes 32.
    let k = derive(&r, s, a, &field(&v, "yB"), vec![(CKA_VALUE_LEN, V::U(20))]).unwrap();
    assert_eq!(read(&r, s, k, CKA_VALUE).unwrap(), z[z.len() - 20..]);
    let k = derive(&r, s, a, &field(&v, "yB"), vec![(CKA_KEY_TYPE, V::U(CKK_AES)), (CKA_VALUE_LEN, V::U(32))]).unwrap();
    assert_eq!(read(&r, s, k, CKA_VALUE).unwrap(), z[z.len() - 32..]);
    // A leading zero on the peer value changes nothing.
    let k = derive(&r, s, a, &[&[0u8][..], &field(&v, "yB")].concat(), vec![]).unwrap();
    assert_eq!(read(&r, s, k, CKA_VALUE).unwrap(), z);
    // The private value is sensitive by default.
    assert_eq!(read(&r, s, a, CKA_VALUE), Err(CKR_ATTRIBUTE_SENSITIVE));
    assert_eq!(derive(&r, s, a, &field(&v, "yB"), vec![(CKA_VALUE_LEN, V::U(257))]), Err(CKR_KEY_SIZE_RANGE));
    // Wrapped as PKCS#8 (dhKeyAgreement) and unwrapped, xA still gives Z.
    let kek = aes_kek(&r, s, &[3; 32]);
    let back = unwrap(&r, s, kek, &wrap(&r, s, kek, a).unwrap(), CKK_DH, CKA_DERIVE);
    let k = derive(&r, s, back, &field(&v, "yB"), vec![]).unwrap();
    assert_eq!(read(&r, s, k, CKA_VALUE).unwrap(), z);
    // The group of a private key never changes (a small-subgroup p or g would leak x).
    for ty in [CKA_PRIME, CKA_BASE] {
        assert_eq!(set_attr(&r, s, a, ty, vec![5]), CKR_ATTRIBUTE_READ_ONLY, "{ty:#x}");
    }
}

#[test]
fn hostile_dh_peer_values_are_refused() {
    let (r, s) = module_session();
    let v = json("rfc5114_dh2048_256.json");
    let a = dh_private(&r, s, &v, "xA");
    let p = field(&v, "p");
    let mut huge = vec![0xFFu8; 1 << 16];
    huge[0] = 1;
    for (name, peer) in [
        ("0", vec![0u8]),
        ("1", vec![1u8]),
        ("p - 1", plus(&p, -1)),
        ("p", p.clone()),
        ("p + 1", plus(&p, 1)),
        ("empty", vec![]),
        ("64 KiB", huge),
    ] {
        let t = Instant::now();
        assert_eq!(derive(&r, s, a, &peer, vec![]), Err(CKR_MECHANISM_PARAM_INVALID), "peer {name}");
        assert!(t.elapsed() < Duration::from_secs(1));
    }
    // The group is RFC 5114 §2.3, recognised: y = 2 is in range but not in the order-q subgroup.
    assert_eq!(derive(&r, s, a, &[2], vec![]), Err(CKR_MECHANISM_PARAM_INVALID), "y = 2 is of the wrong order");
    assert!(derive(&r, s, a, &field(&v, "yB"), vec![]).is_ok(), "positive control: the RFC's yB");
}

fn dh_public_template(p: Vec<u8>, g: Vec<u8>) -> Vec<(CK_ATTRIBUTE_TYPE, V)> {
    vec![(CKA_PRIME, V::Bytes(p)), (CKA_BASE, V::Bytes(g))]
}

/// RFC 2409 §6.2 (the 1024-bit MODP group, Oakley group 2) prime: a weak size.
const OAKLEY2_P: &str = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD\
EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF";

#[test]
fn dh_key_pairs_agree_and_sizes_are_checked() {
    let (r, s) = module_session();
    let v = json("rfc5114_dh2048_256.json");
    let (p, g) = (field(&v, "p"), field(&v, "g"));
    let derive_on = vec![(CKA_DERIVE, V::B(true)), (CKA_VALUE_BITS, V::U(256))];
    let (pa, sa) =
        generate_pair(&r, s, CKM_DH_PKCS_KEY_PAIR_GEN, dh_public_template(p.clone(), g.clone()), derive_on).unwrap();
    let (pb, sb) = generate_pair(
        &r,
        s,
        CKM_DH_PKCS_KEY_PAIR_GEN,
        dh_public_template(p.clone(), g.clone()),
        vec![(CKA_DERIVE, V::B(true))],
    )
    .unwrap();
    assert!(read_ulong(&r, s, sa, CKA_VALUE_BITS) <= 256);
    assert_eq!(read(&r, s, sa, CKA_VALUE), Err(CKR_ATTRIBUTE_SENSITIVE));
    let (ya, yb) = (read(&r, s, pa, CKA_VALUE).unwrap(), read(&r, s, pb, CKA_VALUE).unwrap());
    let k1 = derive(&r, s, sa, &yb, vec![]).unwrap();
    let k2 = derive(&r, s, sb, &ya, vec![]).unwrap();
    assert_eq!(read(&r, s, k1, CKA_VALUE).unwrap(), read(&r, s, k2, CKA_VALUE).unwrap());

    let gen = |p: Vec<u8>, g: Vec<u8>, private: Vec<(CK_ATTRIBUTE_TYPE, V)>| {
        let t = Instant::now();
        let rv = generate_pair(&r, s, CKM_DH_PKCS_KEY_PAIR_GEN, dh_public_template(p, g), private).map(|_| ());
        assert!(t.elapsed() < Duration::from_secs(20), "bounded work");
        rv
    };
    assert_eq!(gen(h(OAKLEY2_P), vec![2], vec![]), Err(CKR_KEY_SIZE_RANGE), "1024 bits needs weak_dh");
    assert_eq!(gen(vec![0xFF; 1100], vec![2], vec![]), Err(CKR_KEY_SIZE_RANGE), "8800 bits");
    assert_eq!(gen(plus(&p, 1), g.clone(), vec![]), Err(CKR_DOMAIN_PARAMS_INVALID), "even p");
    assert_eq!(gen(plus(&p, 2), g.clone(), vec![]), Err(CKR_DOMAIN_PARAMS_INVALID), "composite p");
    assert_eq!(gen(p.clone(), vec![1], vec![]), Err(CKR_DOMAIN_PARAMS_INVALID), "g = 1");
    assert_eq!(gen(p.clone(), g.clone(), vec![(CKA_VALUE_BITS, V::U(8))]), Err(CKR_ATTRIBUTE_VALUE_INVALID));
    assert_eq!(gen(p.clone(), g.clone(), vec![(CKA_VALUE_BITS, V::U(1 << 20))]), Err(CKR_ATTRIBUTE_VALUE_INVALID));

    let (r, s) = session_with_env("weak_dh");
    let weak = generate_pair(&r, s, CKM_DH_PKCS_KEY_PAIR_GEN, dh_public_template(h(OAKLEY2_P), vec![2]), vec![]);
    assert!(weak.is_ok(), "weak_dh allows 1024 bits");
}

#[test]
fn mechanism_info_lists_dsa_and_dh() {
    let (r, _s) = module_session();
    for (ty, min, max, flags) in [
        (CKM_DSA_PARAMETER_GEN, 2048, 3072, CKF_GENERATE),
        (CKM_DSA_KEY_PAIR_GEN, 2048, 3072, CKF_GENERATE_KEY_PAIR),
        (CKM_DSA, 1024, 3072, CKF_SIGN | CKF_VERIFY),
        (CKM_DSA_SHA512, 1024, 3072, CKF_SIGN | CKF_VERIFY),
        (CKM_DH_PKCS_KEY_PAIR_GEN, 2048, 8192, CKF_GENERATE_KEY_PAIR),
        (CKM_DH_PKCS_DERIVE, 1024, 8192, CKF_DERIVE),
    ] {
        let mut info = CK_MECHANISM_INFO { ulMinKeySize: 0, ulMaxKeySize: 0, flags: 0 };
        assert_eq!(call!(r, C_GetMechanismInfo, MODULE_SLOT_ID, ty, &mut info), CKR_OK, "{ty:#x}");
        assert_eq!((info.ulMinKeySize, info.ulMaxKeySize, info.flags & !CKF_HW), (min, max, flags), "{ty:#x}");
    }
}

/// Token objects of the new classes and key types survive a reload: domain parameters, a DSA
/// public key and a DH public key, read back from the store by a second instance.
#[test]
fn token_objects_persist() {
    let (r, s) = module_session();
    let v = json("rfc5114_dh2048_256.json");
    let d = json("rfc6979_dsa2048.json");
    let on_token = |mut t: Vec<(CK_ATTRIBUTE_TYPE, V)>| {
        t.push((CKA_TOKEN, V::B(true)));
        create(&r, s, t).unwrap()
    };
    on_token(vec![
        (CKA_CLASS, V::U(CKO_DOMAIN_PARAMETERS)),
        (CKA_KEY_TYPE, V::U(CKK_DSA)),
        (CKA_PRIME, V::Bytes(field(&d, "p"))),
        (CKA_SUBPRIME, V::Bytes(field(&d, "q"))),
        (CKA_BASE, V::Bytes(field(&d, "g"))),
    ]);
    on_token(vec![
        (CKA_CLASS, V::U(CKO_PUBLIC_KEY)),
        (CKA_KEY_TYPE, V::U(CKK_DSA)),
        (CKA_PRIME, V::Bytes(field(&d, "p"))),
        (CKA_SUBPRIME, V::Bytes(field(&d, "q"))),
        (CKA_BASE, V::Bytes(field(&d, "g"))),
        (CKA_VALUE, V::Bytes(field(&d, "y"))),
    ]);
    on_token(vec![
        (CKA_CLASS, V::U(CKO_PUBLIC_KEY)),
        (CKA_KEY_TYPE, V::U(CKK_DH)),
        (CKA_PRIME, V::Bytes(field(&v, "p"))),
        (CKA_BASE, V::Bytes(field(&v, "g"))),
        (CKA_VALUE, V::Bytes(field(&v, "yA"))),
    ]);
    let kmdata = r.dir.path().join("kmdata");
    let r2 = {
        let _env = env_lock();
        let r2 = Raw::load_at(tempfile::tempdir().unwrap(), &kmdata);
        assert_eq!(call!(r2, C_Initialize, null_mut()), CKR_OK);
        r2
    };
    let mut s2 = 0;
    assert_eq!(call!(r2, C_OpenSession, MODULE_SLOT_ID, CKF_SERIAL_SESSION, null_mut(), None, &mut s2), CKR_OK);
    let find = |class: CK_OBJECT_CLASS, kt: CK_KEY_TYPE| {
        let mut t = Tpl::new(vec![(CKA_CLASS, V::U(class)), (CKA_KEY_TYPE, V::U(kt))]);
        let mut ck = t.ck();
        assert_eq!(call!(r2, C_FindObjectsInit, s2, ck.as_mut_ptr(), 2), CKR_OK);
        let (mut found, mut n) = ([0 as CK_OBJECT_HANDLE; 4], 0);
        assert_eq!(call!(r2, C_FindObjects, s2, found.as_mut_ptr(), 4, &mut n), CKR_OK);
        assert_eq!(call!(r2, C_FindObjectsFinal, s2), CKR_OK);
        assert_eq!(n, 1, "class {class:#x} key type {kt:#x}");
        found[0]
    };
    let params = find(CKO_DOMAIN_PARAMETERS, CKK_DSA);
    assert_eq!(read(&r2, s2, params, CKA_BASE).unwrap(), field(&d, "g"));
    assert_eq!(read_ulong(&r2, s2, params, CKA_PRIME_BITS), 2048);
    let dsa_pub = find(CKO_PUBLIC_KEY, CKK_DSA);
    let sig = [field(&d["signatures"][4], "r"), field(&d["signatures"][4], "s")].concat();
    assert_eq!(d["signatures"][4]["hash"], "SHA-256");
    assert_eq!(verify(&r2, s2, CKM_DSA_SHA256, dsa_pub, b"sample", &sig, false), CKR_OK);
    let dh_pub = find(CKO_PUBLIC_KEY, CKK_DH);
    assert_eq!(read(&r2, s2, dh_pub, CKA_VALUE).unwrap(), field(&v, "yA"));
}

#[test]
fn dh_value_bits_belongs_to_the_private_template() {
    let (r, s) = module_session();
    let v = json("rfc5114_dh2048_256.json");
    let mut public = dh_public_template(field(&v, "p"), field(&v, "g"));
    public.push((CKA_VALUE_BITS, V::U(256)));
    assert_eq!(generate_pair(&r, s, CKM_DH_PKCS_KEY_PAIR_GEN, public, vec![]), Err(CKR_ATTRIBUTE_TYPE_INVALID));
    // The private value's length, computed when not asked for: below q (256 bits) on the
    // recognised RFC 5114 group, below (p - 1) / 2 on a safe prime.
    let (_, private) =
        generate_pair(&r, s, CKM_DH_PKCS_KEY_PAIR_GEN, dh_public_template(field(&v, "p"), field(&v, "g")), vec![])
            .unwrap();
    assert!((200..=256).contains(&read_ulong(&r, s, private, CKA_VALUE_BITS)));
    let ffdhe = dh_public_template(field(&groups(), "ffdhe2048"), vec![2]);
    let (_, private) = generate_pair(&r, s, CKM_DH_PKCS_KEY_PAIR_GEN, ffdhe, vec![]).unwrap();
    assert!((2000..=2047).contains(&read_ulong(&r, s, private, CKA_VALUE_BITS)));
}

// ---------------------------------------------------------------------------------------------
// Diffie-Hellman groups: only groups that cannot leak x through y (tests/data/dh_groups.json)
// ---------------------------------------------------------------------------------------------

fn groups() -> serde_json::Value {
    json("dh_groups.json")
}

fn flag(r: &Raw, s: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE, ty: CK_ATTRIBUTE_TYPE) -> bool {
    read(r, s, o, ty).unwrap() == [CK_TRUE]
}

fn dh_template_q(p: &[u8], g: &[u8], q: Option<&[u8]>) -> Vec<(CK_ATTRIBUTE_TYPE, V)> {
    let mut t = dh_public_template(p.to_vec(), g.to_vec());
    if let Some(q) = q {
        t.push((CKA_SUBPRIME, V::Bytes(q.to_vec())));
    }
    t
}

fn dh_gen(
    r: &Raw,
    s: CK_SESSION_HANDLE,
    public: Vec<(CK_ATTRIBUTE_TYPE, V)>,
) -> Result<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE), CK_RV> {
    let private = vec![(CKA_DERIVE, V::B(true)), (CKA_SENSITIVE, V::B(true)), (CKA_EXTRACTABLE, V::B(false))];
    generate_pair(r, s, CKM_DH_PKCS_KEY_PAIR_GEN, public, private)
}

/// Two key pairs on the group of `public` derive the same secret; returns the first pair.
fn two_agree(
    r: &Raw,
    s: CK_SESSION_HANDLE,
    public: impl Fn() -> Vec<(CK_ATTRIBUTE_TYPE, V)>,
) -> (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE) {
    let (pa, sa) = dh_gen(r, s, public()).unwrap();
    let (pb, sb) = dh_gen(r, s, public()).unwrap();
    let (ya, yb) = (read(r, s, pa, CKA_VALUE).unwrap(), read(r, s, pb, CKA_VALUE).unwrap());
    let k1 = derive(r, s, sa, &yb, vec![]).unwrap();
    let k2 = derive(r, s, sb, &ya, vec![]).unwrap();
    assert_eq!(read(r, s, k1, CKA_VALUE).unwrap(), read(r, s, k2, CKA_VALUE).unwrap());
    assert!(flag(r, s, sa, CKA_NEVER_EXTRACTABLE) && flag(r, s, sa, CKA_ALWAYS_SENSITIVE));
    (pa, sa)
}

fn big(b: &[u8]) -> rsa::BigUint {
    rsa::BigUint::from_bytes_be(b)
}

/// x mod f from y = g^x on a group whose order p - 1 has the small prime factor f
/// (Pohlig-Hellman's step: in the order-f subgroup, a search of f values).
fn x_mod_factor(p: &rsa::BigUint, g: &rsa::BigUint, y: &rsa::BigUint, f: u32) -> u32 {
    let e = (p - 1u32) / f;
    let (h, t) = (g.modpow(&e, p), y.modpow(&e, p));
    let mut acc = rsa::BigUint::from(1u32);
    for k in 0..f {
        if acc == t {
            return k;
        }
        acc = acc * &h % p;
    }
    panic!("g^((p-1)/{f}) does not generate");
}

/// The attack: on a prime p whose p - 1 is smooth, y gives x away. The token refuses such a
/// bare prime; under `dh_group` it generates, but the key never claims to be protected.
#[test]
fn a_smooth_prime_is_refused_and_under_dh_group_the_key_is_born_known() {
    let v = groups();
    let (p, g) = (field(&v, "smooth_p"), vec![v["smooth_g"].as_u64().unwrap() as u8]);
    let (r, s) = module_session();
    let t = Instant::now();
    assert_eq!(dh_gen(&r, s, dh_template_q(&p, &g, None)), Err(CKR_DOMAIN_PARAMS_INVALID));
    assert!(t.elapsed() < Duration::from_secs(2), "refused at once: (p - 1) / 2 fails trial division");
    // A caller q that is a real but small factor of p - 1 (g of that order) is no better.
    let f = v["smooth_factors"][0].as_u64().unwrap() as u32;
    let gf = big(&g).modpow(&((big(&p) - 1u32) / f), &big(&p)).to_bytes_be();
    let small_q = rsa::BigUint::from(f).to_bytes_be();
    assert_eq!(dh_gen(&r, s, dh_template_q(&p, &gf, Some(&small_q))), Err(CKR_DOMAIN_PARAMS_INVALID));

    let (r, s) = session_with_env("dh_group");
    let (_, sensitive) = dh_gen(&r, s, dh_template_q(&p, &g, None)).unwrap();
    assert!(!flag(&r, s, sensitive, CKA_NEVER_EXTRACTABLE), "not never-extractable");
    assert!(!flag(&r, s, sensitive, CKA_ALWAYS_SENSITIVE), "not always-sensitive");
    assert!(flag(&r, s, sensitive, CKA_LOCAL) && flag(&r, s, sensitive, CKA_SENSITIVE));
    // The leak, shown on a readable twin: x mod each of the first factors comes out of y alone.
    let readable = vec![(CKA_DERIVE, V::B(true)), (CKA_SENSITIVE, V::B(false)), (CKA_EXTRACTABLE, V::B(true))];
    let (public, private) =
        generate_pair(&r, s, CKM_DH_PKCS_KEY_PAIR_GEN, dh_template_q(&p, &g, None), readable).unwrap();
    let (pb, gb, y) = (big(&p), big(&g), big(&read(&r, s, public, CKA_VALUE).unwrap()));
    let x = big(&read(&r, s, private, CKA_VALUE).unwrap());
    for f in v["smooth_factors"].as_array().unwrap().iter().take(4).map(|f| f.as_u64().unwrap() as u32) {
        assert_eq!(rsa::BigUint::from(x_mod_factor(&pb, &gb, &y, f)), &x % f, "x mod {f} from y");
    }
}

#[test]
fn recognised_groups_generate_fast_and_agree() {
    let v = groups();
    let (r, s) = module_session();
    for name in ["ffdhe2048", "modp2048", "modp3072"] {
        let p = field(&v, name);
        let t = Instant::now();
        let _ = dh_gen(&r, s, dh_template_q(&p, &[2], None)).unwrap();
        eprintln!("{name}: one key pair in {:?}", t.elapsed());
        let (_, private) = two_agree(&r, s, || dh_template_q(&p, &[2], None));
        assert_eq!(read(&r, s, private, CKA_SUBPRIME), Err(CKR_ATTRIBUTE_TYPE_INVALID), "{name}: safe, no q kept");
        // The known q, (p - 1) / 2, may be given too; another q may not.
        let q = (big(&p) >> 1usize).to_bytes_be();
        assert!(dh_gen(&r, s, dh_template_q(&p, &[2], Some(&q))).is_ok(), "{name} with its q");
        assert_eq!(dh_gen(&r, s, dh_template_q(&p, &[2], Some(&[0xF5; 20]))), Err(CKR_DOMAIN_PARAMS_INVALID));
    }
}

#[test]
fn rfc5114_groups_with_and_without_q_keep_peers_in_the_subgroup() {
    let v = json("rfc5114_dh2048_256.json");
    let (p, g, q) = (field(&v, "p"), field(&v, "g"), field(&v, "q"));
    let (r, s) = module_session();
    for given in [Some(&q[..]), None] {
        let (public, private) = two_agree(&r, s, || dh_template_q(&p, &g, given));
        assert_eq!(read(&r, s, private, CKA_SUBPRIME).unwrap(), q, "the key knows q (given: {})", given.is_some());
        assert_eq!(read(&r, s, public, CKA_SUBPRIME).unwrap(), q);
        assert!(read_ulong(&r, s, private, CKA_VALUE_BITS) <= 256, "x < q");
        // In range, not of order q: refused.
        for peer in [vec![2u8], plus(&p, -2), field(&v, "g")[..].iter().rev().copied().collect()] {
            assert_eq!(derive(&r, s, private, &peer, vec![]), Err(CKR_MECHANISM_PARAM_INVALID));
        }
        assert!(derive(&r, s, private, &field(&v, "yB"), vec![]).is_ok());
    }
    // A public key with a value outside the subgroup is no key.
    let bad = vec![
        (CKA_CLASS, V::U(CKO_PUBLIC_KEY)),
        (CKA_KEY_TYPE, V::U(CKK_DH)),
        (CKA_PRIME, V::Bytes(p.clone())),
        (CKA_BASE, V::Bytes(g.clone())),
        (CKA_VALUE, V::Bytes(vec![2])),
    ];
    assert_eq!(create(&r, s, bad), Err(CKR_ATTRIBUTE_VALUE_INVALID));
}

#[test]
fn a_caller_subgroup_is_checked() {
    let v = json("rfc5114_dh2048_256.json");
    let (p, g, q) = (field(&v, "p"), field(&v, "g"), field(&v, "q"));
    // g^2 generates the same order-q subgroup, so (p, g^2) is no recognised group: the caller's
    // q is what makes it acceptable.
    let g2 = big(&g).modpow(&rsa::BigUint::from(2u32), &big(&p)).to_bytes_be();
    let (r, s) = module_session();
    assert_eq!(dh_gen(&r, s, dh_template_q(&p, &g2, None)), Err(CKR_DOMAIN_PARAMS_INVALID), "no q, not safe");
    let (_, private) = two_agree(&r, s, || dh_template_q(&p, &g2, Some(&q)));
    assert_eq!(read(&r, s, private, CKA_SUBPRIME).unwrap(), q);
    assert_eq!(derive(&r, s, private, &[2], vec![]), Err(CKR_MECHANISM_PARAM_INVALID), "peer of the wrong order");
    let q224 = h("801C0D34C58D93FE997177101F80535A4738CEBCBF389A99B36371EB"); // RFC 5114 §2.2's q: prime
    for (name, g, q) in [
        ("q does not divide p - 1", g2.clone(), q224),
        ("g of another order", vec![2], q.clone()),
        ("q not prime", g2.clone(), plus(&q, 2)),
        ("g = 1", vec![1], q.clone()),
    ] {
        assert_eq!(dh_gen(&r, s, dh_template_q(&p, &g, Some(&q))), Err(CKR_DOMAIN_PARAMS_INVALID), "{name}");
    }
}

#[test]
fn a_safe_prime_in_no_list_is_accepted() {
    let p = field(&groups(), "safe_p");
    let (r, s) = module_session();
    let t = Instant::now();
    let _ = dh_gen(&r, s, dh_template_q(&p, &[2], None)).unwrap();
    let first = t.elapsed();
    let t = Instant::now();
    let _ = two_agree(&r, s, || dh_template_q(&p, &[2], None));
    eprintln!("caller safe prime: first key pair (with validation) {first:?}, two more {:?}", t.elapsed());
}
