//! BYOK through the C ABI: the vendor interface (examples/byok.c, compiled and run as a user
//! would), and the standard PKCS#11 path, C_WrapKey(CKM_RSA_AES_KEY_WRAP), gated by the key's
//! ACL. Packages are checked by our verifier and by the independent tests/tools/verify_byok.py,
//! against the known-answer KEK of tests/data/byok/kat.json; the Python checker itself is first
//! held to the known answers.

#[macro_use]
mod common;
use common::*;
use cryptoki_sys::*;
use shieldhsm::byok::package::ByokDocument;
use shieldhsm::byok::transfer;
use std::collections::BTreeMap;
use std::ffi::c_void;
use std::path::Path;
use std::process::Command;
use std::ptr::null_mut;

/// The BYOK known answer and its files (see tests/data/README.md).
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/byok");
/// Our independent Python checker of `.byok` files (pyca/cryptography).
const VERIFY_BYOK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/verify_byok.py");

fn data(name: &str) -> std::path::PathBuf {
    Path::new(DATA).join(name)
}

fn kat() -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(data("kat.json")).unwrap()).unwrap()
}

struct KatKek {
    private_der: Vec<u8>,
    /// The private key's PEM file, for the Python checker.
    private_pem: std::path::PathBuf,
    public_pem: String,
    kid: String,
}

fn kat_kek() -> KatKek {
    let k = kat();
    let private_pem = data(k["kek_private_pem_file"].as_str().unwrap());
    let pem = std::fs::read_to_string(&private_pem).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    use base64::Engine;
    KatKek {
        private_der: base64::engine::general_purpose::STANDARD.decode(body).unwrap(),
        private_pem,
        public_pem: std::fs::read_to_string(data(k["kek_public_pem_file"].as_str().unwrap())).unwrap(),
        kid: k["kid"].as_str().unwrap().to_string(),
    }
}

/// Runs tests/tools/verify_byok.py on a package: Ok(the `key=value` fields of its OK line) or
/// Err(its FAIL line).
fn run_verify_byok(byok: &Path, kek_pem: &Path, extra: &[&str]) -> Result<BTreeMap<String, String>, String> {
    let out = Command::new("python3")
        .arg(VERIFY_BYOK)
        .args([byok.as_os_str(), kek_pem.as_os_str()])
        .args(extra)
        .output()
        .expect("python3 runs (CI installs pyca/cryptography from requirements-test.txt)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        assert_eq!(out.status.code(), Some(1), "verify_byok.py crashed or was misused: {stderr}");
        assert!(stderr.starts_with("FAIL "), "a refusal is one FAIL line: {stderr}");
        return Err(stderr.into_owned());
    }
    let line = stdout.lines().next().unwrap_or_default();
    assert!(line.starts_with("OK "), "{stdout}");
    Ok(line.split_whitespace().filter_map(|w| w.split_once('=')).map(|(k, v)| (k.into(), v.into())).collect())
}

/// The independent reference check of a package made to the known-answer KEK.
fn reference_check(byok: &Path, kek: &KatKek) -> BTreeMap<String, String> {
    run_verify_byok(byok, &kek.private_pem, &["--kid", &kek.kid])
        .unwrap_or_else(|e| panic!("verify_byok.py refused the package: {e}"))
}

fn attr(t: CK_ATTRIBUTE_TYPE, v: &[u8]) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE { type_: t, pValue: v.as_ptr() as *mut c_void, ulValueLen: v.len() as CK_ULONG }
}

fn read_attr(r: &Raw, s: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE, t: CK_ATTRIBUTE_TYPE) -> Option<Vec<u8>> {
    let mut a = [CK_ATTRIBUTE { type_: t, pValue: null_mut(), ulValueLen: 0 }];
    if call!(r, C_GetAttributeValue, s, o, a.as_mut_ptr(), 1) != CKR_OK {
        return None;
    }
    let mut buf = vec![0u8; a[0].ulValueLen as usize];
    a[0].pValue = buf.as_mut_ptr() as *mut c_void;
    assert_eq!(call!(r, C_GetAttributeValue, s, o, a.as_mut_ptr(), 1), CKR_OK);
    Some(buf)
}

fn find(r: &Raw, s: CK_SESSION_HANDLE, t: &mut [CK_ATTRIBUTE]) -> Vec<CK_OBJECT_HANDLE> {
    assert_eq!(call!(r, C_FindObjectsInit, s, t.as_mut_ptr(), t.len() as CK_ULONG), CKR_OK);
    let mut hs = [0 as CK_OBJECT_HANDLE; 16];
    let mut n: CK_ULONG = 0;
    assert_eq!(call!(r, C_FindObjects, s, hs.as_mut_ptr(), 16, &mut n), CKR_OK);
    assert_eq!(call!(r, C_FindObjectsFinal, s), CKR_OK);
    hs[..n as usize].to_vec()
}

/// C_WrapKey with CKM_RSA_AES_KEY_WRAP as Azure specifies (AES-256, OAEP SHA-1/MGF1-SHA-1).
fn wrap_azure(r: &Raw, s: CK_SESSION_HANDLE, kek: CK_OBJECT_HANDLE, key: CK_OBJECT_HANDLE) -> Result<Vec<u8>, CK_RV> {
    let mut oaep = CK_RSA_PKCS_OAEP_PARAMS {
        hashAlg: CKM_SHA_1,
        mgf: CKG_MGF1_SHA1,
        source: CKZ_DATA_SPECIFIED,
        pSourceData: null_mut(),
        ulSourceDataLen: 0,
    };
    let mut p = CK_RSA_AES_KEY_WRAP_PARAMS { ulAESKeyBits: 256, pOAEPParams: &mut oaep };
    let mut m = CK_MECHANISM {
        mechanism: CKM_RSA_AES_KEY_WRAP,
        pParameter: &mut p as *mut _ as *mut c_void,
        ulParameterLen: std::mem::size_of::<CK_RSA_AES_KEY_WRAP_PARAMS>() as CK_ULONG,
    };
    let mut len: CK_ULONG = 0;
    let rv = call!(r, C_WrapKey, s, &mut m, kek, key, null_mut(), &mut len);
    if rv != CKR_OK {
        return Err(rv);
    }
    let mut out = vec![0u8; len as usize];
    let rv = call!(r, C_WrapKey, s, &mut m, kek, key, out.as_mut_ptr(), &mut len);
    if rv != CKR_OK {
        return Err(rv);
    }
    out.truncate(len as usize);
    Ok(out)
}

/// A session RSA public key object for a KEK given as SPKI PEM.
fn kek_object(r: &Raw, s: CK_SESSION_HANDLE, spki_pem: &str) -> CK_OBJECT_HANDLE {
    let kek = shieldhsm::byok::kek::Kek::parse(spki_pem.as_bytes()).unwrap();
    let a = shieldhsm::mech::spki_to_attrs(&kek.spki_der).unwrap();
    let (n, e) = (a.bytes(CKA_MODULUS).unwrap().to_vec(), a.bytes(CKA_PUBLIC_EXPONENT).unwrap().to_vec());
    let class = CKO_PUBLIC_KEY.to_ne_bytes();
    let kt = CKK_RSA.to_ne_bytes();
    let yes = [CK_TRUE];
    let mut t = [
        attr(CKA_CLASS, &class),
        attr(CKA_KEY_TYPE, &kt),
        attr(CKA_MODULUS, &n),
        attr(CKA_PUBLIC_EXPONENT, &e),
        attr(CKA_WRAP, &yes),
    ];
    let mut h: CK_OBJECT_HANDLE = 0;
    assert_eq!(call!(r, C_CreateObject, s, t.as_mut_ptr(), t.len() as CK_ULONG, &mut h), CKR_OK);
    h
}

#[test]
fn vendor_interface_and_standard_wrap_produce_packages_azure_would_import() {
    let kat = kat_kek();
    let work = tempfile::tempdir().unwrap();
    let kmdata = work.path().join("kmdata");
    // 1. The C example, built and run as a user would.
    let exe = work.path().join("byok");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cc = Command::new("cc")
        .args(["-Wall", "-Werror", "-I/usr/include/p11-kit-1"])
        .arg(format!("-I{}", root.join("include").display()))
        .arg("-o")
        .arg(&exe)
        .arg(root.join("examples/byok.c"))
        .arg("-ldl")
        .output()
        .unwrap();
    assert!(cc.status.success(), "examples/byok.c does not compile: {}", String::from_utf8_lossy(&cc.stderr));
    let kek_pub = work.path().join("KEKforBYOK.publickey.pem");
    std::fs::write(&kek_pub, &kat.public_pem).unwrap();
    let byok = work.path().join("KeyTransferPackage-contosokey.byok");
    let run = Command::new(&exe)
        .arg(built_module())
        .arg(&kek_pub)
        .arg(&kat.kid)
        .arg(&byok)
        .env("SHIELDHSM_KMDATA", &kmdata)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "byok example failed: {stdout}{}", String::from_utf8_lossy(&run.stderr));
    assert!(stdout.contains("the quorum failed"), "a wrong ACS card is refused with a reason: {stdout}");
    assert!(!stdout.contains("card 2"), "and the reason names no card: {stdout}");

    // 2. The package: our verifier, the reference checker, and the schema's fixed fields.
    let bytes = std::fs::read(&byok).unwrap();
    let v = transfer::verify(&bytes, &kat.private_der, Some(&kat.kid)).unwrap();
    assert_eq!(v.kind, transfer::TargetKind::Rsa(2048));
    assert_eq!(v.aes_bits, 256);
    let py = reference_check(&byok, &kat);
    assert_eq!(py["target"], "RSA-2048");
    assert_eq!(py["transfer_key"], "AES-256");
    assert_eq!(py["plaintext_sha256"], v.plaintext_sha256, "both checkers see the same plaintext");
    let (doc, _) = ByokDocument::parse(&bytes).unwrap();
    assert!(!doc.ciphertext.contains(['+', '/', '=']), "unpadded base64url");

    // 3. The same key seen through PKCS#11: its public half matches what the package holds.
    let _env = env_lock();
    let r = Raw::load_at(tempfile::tempdir().unwrap(), &kmdata);
    assert_eq!(call!(r, C_Initialize, null_mut()), CKR_OK);
    let mut s: CK_SESSION_HANDLE = 0;
    assert_eq!(call!(r, C_OpenSession, 0, CKF_SERIAL_SESSION | CKF_RW_SESSION, null_mut(), None, &mut s), CKR_OK);
    let pubc = CKO_PUBLIC_KEY.to_ne_bytes();
    let privc = CKO_PRIVATE_KEY.to_ne_bytes();
    let pubs = find(&r, s, &mut [attr(CKA_CLASS, &pubc), attr(CKA_LABEL, b"contosokey")]);
    assert_eq!(pubs.len(), 1);
    assert_eq!(read_attr(&r, s, pubs[0], CKA_PUBLIC_KEY_INFO), v.public_spki);

    // 4. Standard PKCS#11: C_CreateObject the KEK, C_WrapKey(CKM_RSA_AES_KEY_WRAP).
    // The transfer copy carries its own label, so a client choosing by label gets the original.
    let original = find(&r, s, &mut [attr(CKA_CLASS, &privc), attr(CKA_LABEL, b"contosokey")]);
    let xfer = find(&r, s, &mut [attr(CKA_CLASS, &privc), attr(CKA_LABEL, b"contosokey (transfer copy)")]);
    assert_eq!((original.len(), xfer.len()), (1, 1), "the key and its reduced-ACL transfer copy");
    let app = |h| read_attr(&r, s, h, 0xDE43_6975).unwrap(); // CKA_NFKM_APPNAME
    assert_eq!((app(original[0]).as_slice(), app(xfer[0]).as_slice()), (&b"simple"[..], &b"xferacld"[..]));
    let no = [CK_FALSE];
    assert_eq!(read_attr(&r, s, xfer[0], CKA_SIGN).unwrap(), no, "its usage flags say what its ACL allows");
    let kek = kek_object(&r, s, &kat.public_pem);
    let ct = wrap_azure(&r, s, kek, xfer[0]).unwrap();
    let doc = ByokDocument::new(&kat.kid, &ct, "tests/byok.rs").to_bytes();
    let w = transfer::verify(&doc, &kat.private_der, Some(&kat.kid)).unwrap();
    assert_eq!(w.plaintext_sha256, v.plaintext_sha256, "both paths export the same key material");
    // The original key's ACL has no export at all; the copy exports only to its own KEK.
    assert_eq!(wrap_azure(&r, s, kek, original[0]), Err(CKR_KEY_UNEXTRACTABLE));
    let bits = (2048 as CK_ULONG).to_ne_bytes();
    let yes = [CK_TRUE];
    let mut pub_t = [attr(CKA_WRAP, &yes), attr(CKA_MODULUS_BITS, &bits)];
    let mut priv_t = [attr(CKA_UNWRAP, &yes)];
    let mut gen = CK_MECHANISM { mechanism: CKM_RSA_PKCS_KEY_PAIR_GEN, pParameter: null_mut(), ulParameterLen: 0 };
    let (mut gp, mut gs) = (0, 0);
    assert_eq!(
        call!(r, C_GenerateKeyPair, s, &mut gen, pub_t.as_mut_ptr(), 2, priv_t.as_mut_ptr(), 1, &mut gp, &mut gs),
        CKR_OK
    );
    assert_eq!(wrap_azure(&r, s, gp, xfer[0]), Err(CKR_KEY_UNEXTRACTABLE), "a KEK other than the ACL's is refused");
    // The module key cannot be signed with any more once it is a transfer copy: its ACL lists
    // only the export.
    let mut sign = CK_MECHANISM { mechanism: CKM_SHA256_RSA_PKCS, pParameter: null_mut(), ulParameterLen: 0 };
    assert_eq!(call!(r, C_SignInit, s, &mut sign, xfer[0]), CKR_KEY_FUNCTION_NOT_PERMITTED);
    assert_eq!(call!(r, C_SignInit, s, &mut sign, original[0]), CKR_OK, "the original still signs");
    assert_eq!(call!(r, C_Finalize, null_mut()), CKR_OK);
}

/// The Python checker agrees with the known answers: every KAT package opens to its target, and
/// a tampered package, a wrong kid, a wrong KEK and a malformed document are each refused.
#[test]
fn the_reference_checker_meets_the_known_answers() {
    let k = kat();
    let kek = kat_kek();
    for c in k["cases"].as_array().unwrap() {
        let file = data(c["byok_file"].as_str().unwrap());
        let f = reference_check(&file, &kek);
        assert_eq!(f["target"], c["target"].as_str().unwrap(), "{}", file.display());
        assert_eq!(f["transfer_key"], "AES-256");
        assert_eq!(f["kid"], kek.kid);
        let plain = hex::decode(c["plaintext_hex"].as_str().unwrap()).unwrap();
        use sha2::Digest;
        assert_eq!(f["plaintext_sha256"], hex::encode(sha2::Sha256::digest(&plain)));
        // --expect-plaintext: the exact bytes, and a refusal for others.
        let work = tempfile::tempdir().unwrap();
        let want = work.path().join("plain.bin");
        std::fs::write(&want, &plain).unwrap();
        run_verify_byok(&file, &kek.private_pem, &["--expect-plaintext", want.to_str().unwrap()]).unwrap();
        std::fs::write(&want, &plain[1..]).unwrap();
        let e = run_verify_byok(&file, &kek.private_pem, &["--expect-plaintext", want.to_str().unwrap()]);
        assert!(e.unwrap_err().contains("differs"));
    }
    let work = tempfile::tempdir().unwrap();
    let good = data("kat-AES-256.byok");
    // The known tampered ciphertext.
    let ct = hex::decode(k["must_fail"][0]["ciphertext_hex"].as_str().unwrap()).unwrap();
    let tampered = work.path().join("tampered.byok");
    std::fs::write(&tampered, ByokDocument::new(&kek.kid, &ct, "tests/byok.rs").to_bytes()).unwrap();
    let e = run_verify_byok(&tampered, &kek.private_pem, &[]).unwrap_err();
    assert!(e.contains("RFC 5649 integrity"), "{e}");
    // Another kid.
    let other = "https://other.vault.azure.net/keys/K/0123456789abcdef0123456789abcdef";
    let e = run_verify_byok(&good, &kek.private_pem, &["--kid", other]).unwrap_err();
    assert!(e.contains("kid is"), "{e}");
    // Another KEK (made by openssl).
    let other_kek = work.path().join("other-kek.pem");
    let o = Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out"])
        .arg(&other_kek)
        .output()
        .expect("openssl runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let e = run_verify_byok(&good, &other_kek, &[]).unwrap_err();
    assert!(e.contains("RSA-OAEP"), "{e}");
    // A document with a member Azure does not define, and one without `generator`.
    let mut doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&good).unwrap()).unwrap();
    doc["note"] = "extra".into();
    let bad = work.path().join("extra.byok");
    std::fs::write(&bad, serde_json::to_vec(&doc).unwrap()).unwrap();
    assert!(run_verify_byok(&bad, &kek.private_pem, &[]).unwrap_err().contains("note"));
    doc.as_object_mut().unwrap().retain(|k, _| k != "note" && k != "generator");
    std::fs::write(&bad, serde_json::to_vec(&doc).unwrap()).unwrap();
    assert!(run_verify_byok(&bad, &kek.private_pem, &[]).unwrap_err().contains("generator"));
}
