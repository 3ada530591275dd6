//! Public-key mechanisms through the C ABI: known answers from RFC 8032 and RFC 6979, OpenSSL as
//! an independent second implementation in both directions, and the error paths.

mod common;
use common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::elliptic_curve::{EcKdf, Ecdh1DeriveParams};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use std::process::Command;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

const P256_OID: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384_OID: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
const P521_OID: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23];

fn session() -> (Module, Session) {
    let m = Module::fresh();
    let slot = m.init_token("pubkey");
    let s = m.user_session(slot);
    (m, s)
}

fn rsa_pair(s: &Session, bits: u64) -> (ObjectHandle, ObjectHandle) {
    s.generate_key_pair(
        &Mechanism::RsaPkcsKeyPairGen,
        &[Attribute::ModulusBits(bits.into()), Attribute::PublicExponent(vec![1, 0, 1]), Attribute::Wrap(true)],
        &[Attribute::Sensitive(true), Attribute::Unwrap(true)],
    )
    .unwrap()
}

fn ec_pair(s: &Session, oid: &[u8]) -> (ObjectHandle, ObjectHandle) {
    s.generate_key_pair(
        &Mechanism::EccKeyPairGen,
        &[Attribute::EcParams(oid.to_vec())],
        &[Attribute::Sensitive(true), Attribute::Derive(true)],
    )
    .unwrap()
}

/// The public key as PEM, from CKA_PUBLIC_KEY_INFO, for OpenSSL.
fn public_pem(s: &Session, key: ObjectHandle, dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let a = s.get_attributes(key, &[AttributeType::PublicKeyInfo]).unwrap();
    let Attribute::PublicKeyInfo(spki) = &a[0] else { panic!("no CKA_PUBLIC_KEY_INFO") };
    let der = dir.join(format!("{name}.der"));
    std::fs::write(&der, spki).unwrap();
    let pem = dir.join(format!("{name}.pem"));
    let st = Command::new("openssl")
        .args(["pkey", "-pubin", "-inform", "DER", "-in"])
        .arg(&der)
        .arg("-out")
        .arg(&pem)
        .status()
        .unwrap();
    assert!(st.success());
    pem
}

fn openssl_verify(
    pem: &std::path::Path,
    md: &str,
    msg: &[u8],
    sig: &[u8],
    extra: &[&str],
    dir: &std::path::Path,
) -> bool {
    let (m, g) = (dir.join("msg.bin"), dir.join("sig.bin"));
    std::fs::write(&m, msg).unwrap();
    std::fs::write(&g, sig).unwrap();
    Command::new("openssl")
        .args(["dgst", md, "-verify"])
        .arg(pem)
        .args(extra)
        .arg("-signature")
        .arg(&g)
        .arg(&m)
        .output()
        .unwrap()
        .status
        .success()
}

/// ECDSA r||s → DER for OpenSSL.
fn ecdsa_der(sig: &[u8]) -> Vec<u8> {
    fn int(b: &[u8]) -> Vec<u8> {
        let b: Vec<u8> = b.iter().copied().skip_while(|x| *x == 0).collect();
        let mut v = if b.first().map(|x| x & 0x80 != 0).unwrap_or(true) { vec![0] } else { vec![] };
        v.extend(b);
        let mut out = vec![0x02, v.len() as u8];
        out.extend(v);
        out
    }
    let (r, s) = sig.split_at(sig.len() / 2);
    let body = [int(r), int(s)].concat();
    let mut out = vec![0x30];
    if body.len() > 127 {
        out.push(0x81);
    }
    out.push(body.len() as u8);
    out.extend(body);
    out
}

#[test]
fn rsa_signatures_verify_in_openssl_and_errors_follow_the_spec() {
    let (m, s) = session();
    let dir = m.dir.path();
    let (pubk, privk) = rsa_pair(&s, 2048);
    let pem = public_pem(&s, pubk, dir, "rsa");
    let msg = b"signed by the token, checked by OpenSSL";
    let sig = s.sign(&Mechanism::Sha256RsaPkcs, privk, msg).unwrap();
    assert_eq!(sig.len(), 256);
    assert!(openssl_verify(&pem, "-sha256", msg, &sig, &[], dir));
    s.verify(&Mechanism::Sha256RsaPkcs, pubk, msg, &sig).unwrap();
    let pss = PkcsPssParams { hash_alg: MechanismType::SHA256, mgf: PkcsMgfType::MGF1_SHA256, s_len: 32.into() };
    let psig = s.sign(&Mechanism::Sha256RsaPkcsPss(pss), privk, msg).unwrap();
    assert!(openssl_verify(
        &pem,
        "-sha256",
        msg,
        &psig,
        &["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"],
        dir
    ));
    // Multi-part equals single-part for the deterministic PKCS#1 v1.5.
    s.sign_init(&Mechanism::Sha256RsaPkcs, privk).unwrap();
    s.sign_update(&msg[..10]).unwrap();
    s.sign_update(&msg[10..]).unwrap();
    assert_eq!(s.sign_final().unwrap(), sig);
    // Tampered, short.
    let mut bad = sig.clone();
    bad[7] ^= 1;
    assert_eq!(rv(s.verify(&Mechanism::Sha256RsaPkcs, pubk, msg, &bad).unwrap_err()), RvError::SignatureInvalid);
    assert_eq!(
        rv(s.verify(&Mechanism::Sha256RsaPkcs, pubk, msg, &sig[..200]).unwrap_err()),
        RvError::SignatureLenRange
    );
    // PSS over a digest of the wrong length; MGF not matching the hash.
    let raw_pss = PkcsPssParams { hash_alg: MechanismType::SHA256, mgf: PkcsMgfType::MGF1_SHA256, s_len: 32.into() };
    assert_eq!(rv(s.sign(&Mechanism::RsaPkcsPss(raw_pss), privk, &[0u8; 20]).unwrap_err()), RvError::DataLenRange);
    let mismatched = PkcsPssParams { hash_alg: MechanismType::SHA256, mgf: PkcsMgfType::MGF1_SHA1, s_len: 32.into() };
    assert_eq!(
        rv(s.sign_init(&Mechanism::Sha256RsaPkcsPss(mismatched), privk).unwrap_err()),
        RvError::MechanismParamInvalid
    );
    // Data too long for raw PKCS#1 v1.5 (k - 11 = 245 bytes).
    assert_eq!(rv(s.sign(&Mechanism::RsaPkcs, privk, &[1u8; 246]).unwrap_err()), RvError::DataLenRange);
    // A public key does not sign; an EC key is not an RSA key.
    assert_eq!(rv(s.sign(&Mechanism::Sha256RsaPkcs, pubk, msg).unwrap_err()), RvError::KeyFunctionNotPermitted);
    let (_, ecpriv) = ec_pair(&s, P256_OID);
    assert_eq!(rv(s.sign(&Mechanism::Sha256RsaPkcs, ecpriv, msg).unwrap_err()), RvError::KeyTypeInconsistent);
    // CKA_ALLOWED_MECHANISMS.
    let (_, only_pss) = s
        .generate_key_pair(
            &Mechanism::RsaPkcsKeyPairGen,
            &[Attribute::ModulusBits(2048.into())],
            &[Attribute::AllowedMechanisms(vec![MechanismType::SHA256_RSA_PKCS_PSS])],
        )
        .unwrap();
    assert_eq!(rv(s.sign(&Mechanism::Sha256RsaPkcs, only_pss, msg).unwrap_err()), RvError::MechanismInvalid);
    // 1024-bit keys are refused by default.
    let e =
        s.generate_key_pair(&Mechanism::RsaPkcsKeyPairGen, &[Attribute::ModulusBits(1024.into())], &[]).unwrap_err();
    assert_eq!(rv(e), RvError::KeySizeRange);
    // The private exponent never leaves; a sensitive key cannot be wrapped out of a
    // non-extractable one.
    let v = s.get_attributes(privk, &[AttributeType::PrivateExponent]).unwrap();
    assert!(v.is_empty());
    let (_, stuck) = s
        .generate_key_pair(
            &Mechanism::RsaPkcsKeyPairGen,
            &[Attribute::ModulusBits(2048.into())],
            &[Attribute::Extractable(false)],
        )
        .unwrap();
    let aes = s.generate_key(&Mechanism::AesKeyGen, &[Attribute::ValueLen(32.into())]).unwrap();
    assert_eq!(rv(s.wrap_key(&Mechanism::AesKeyWrapPad, aes, stuck).unwrap_err()), RvError::KeyUnextractable);
}

#[test]
fn openssl_signatures_and_ciphertexts_work_in_the_token() {
    let (m, s) = session();
    let dir = m.dir.path();
    let key = dir.join("ossl.pem");
    assert!(Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out"])
        .arg(&key)
        .status()
        .unwrap()
        .success());
    let pubder = dir.join("ossl-pub.der");
    assert!(Command::new("openssl")
        .args(["pkey", "-pubout", "-outform", "DER", "-in"])
        .arg(&key)
        .arg("-out")
        .arg(&pubder)
        .status()
        .unwrap()
        .success());
    let spki = std::fs::read(&pubder).unwrap();
    let attrs = shieldhsm::mech::spki_to_attrs(&spki).unwrap();
    let n = attrs.bytes(cryptoki_sys::CKA_MODULUS).unwrap().to_vec();
    let e = attrs.bytes(cryptoki_sys::CKA_PUBLIC_EXPONENT).unwrap().to_vec();
    let pubk = s
        .create_object(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(KeyType::RSA),
            Attribute::Modulus(n),
            Attribute::PublicExponent(e),
        ])
        .unwrap();
    let msg = dir.join("m.bin");
    std::fs::write(&msg, b"signed by OpenSSL").unwrap();
    let sig = dir.join("s.bin");
    assert!(Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(&key)
        .arg("-out")
        .arg(&sig)
        .arg(&msg)
        .status()
        .unwrap()
        .success());
    s.verify(&Mechanism::Sha256RsaPkcs, pubk, b"signed by OpenSSL", &std::fs::read(&sig).unwrap()).unwrap();
    // OAEP-SHA256 with a label: the token encrypts, OpenSSL... and the token decrypts what
    // OpenSSL encrypted to a token key.
    let (tpub, tpriv) = rsa_pair(&s, 2048);
    let tpem = public_pem(&s, tpub, dir, "tok");
    let pt = dir.join("pt.bin");
    std::fs::write(&pt, b"secret for the token").unwrap();
    let ct = dir.join("ct.bin");
    let ok = Command::new("openssl")
        .args(["pkeyutl", "-encrypt", "-pubin", "-inkey"])
        .arg(&tpem)
        .args([
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            "rsa_oaep_md:sha256",
            "-pkeyopt",
            "rsa_mgf1_md:sha256",
            "-pkeyopt",
            "rsa_oaep_label:6c6162656c",
        ])
        .arg("-in")
        .arg(&pt)
        .arg("-out")
        .arg(&ct)
        .status()
        .unwrap();
    assert!(ok.success());
    let oaep =
        PkcsOaepParams::new(MechanismType::SHA256, PkcsMgfType::MGF1_SHA256, PkcsOaepSource::data_specified(b"label"));
    assert_eq!(
        s.decrypt(&Mechanism::RsaPkcsOaep(oaep), tpriv, &std::fs::read(&ct).unwrap()).unwrap(),
        b"secret for the token"
    );
    // The wrong label fails.
    let wrong =
        PkcsOaepParams::new(MechanismType::SHA256, PkcsMgfType::MGF1_SHA256, PkcsOaepSource::data_specified(b"other"));
    assert_eq!(
        rv(s.decrypt(&Mechanism::RsaPkcsOaep(wrong), tpriv, &std::fs::read(&ct).unwrap()).unwrap_err()),
        RvError::EncryptedDataInvalid
    );
}

#[test]
fn ecdsa_rfc6979_key_and_curves_and_ecdh() {
    let (m, s) = session();
    let dir = m.dir.path();
    // RFC 6979 A.2.5 key, imported; its "sample"/SHA-256 signature verifies in the token.
    let mut point = vec![0x04];
    point.extend(h("60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6"));
    point.extend(h("7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299"));
    let mut der_point = vec![0x04, 65];
    der_point.extend(&point);
    let pubk = s
        .create_object(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(KeyType::EC),
            Attribute::EcParams(P256_OID.to_vec()),
            Attribute::EcPoint(der_point.clone()),
        ])
        .unwrap();
    let rs = [
        h("EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716"),
        h("F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8"),
    ]
    .concat();
    s.verify(&Mechanism::EcdsaSha256, pubk, b"sample", &rs).unwrap();
    assert_eq!(rv(s.verify(&Mechanism::EcdsaSha256, pubk, b"samplf", &rs).unwrap_err()), RvError::SignatureInvalid);
    // The raw point (not DER-wrapped) is accepted on import too, and read back DER-wrapped.
    let raw = s
        .create_object(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(KeyType::EC),
            Attribute::EcParams(P256_OID.to_vec()),
            Attribute::EcPoint(point),
        ])
        .unwrap();
    s.verify(&Mechanism::EcdsaSha256, raw, b"sample", &rs).unwrap();
    // Explicit curve parameters are refused.
    let e = s
        .create_object(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(KeyType::EC),
            Attribute::EcParams(vec![0x30, 0x03, 0x02, 0x01, 0x01]),
            Attribute::EcPoint(der_point),
        ])
        .unwrap_err();
    assert!(matches!(
        rv(e),
        RvError::DomainParamsInvalid | RvError::CurveNotSupported | RvError::AttributeValueInvalid
    ));
    // Every curve: token signature verified by OpenSSL.
    for (oid, md, len) in [(P256_OID, "-sha256", 64), (P384_OID, "-sha384", 96), (P521_OID, "-sha512", 132)] {
        let (pk, sk) = ec_pair(&s, oid);
        let mech = match md {
            "-sha256" => Mechanism::EcdsaSha256,
            "-sha384" => Mechanism::EcdsaSha384,
            _ => Mechanism::EcdsaSha512,
        };
        let sig = s.sign(&mech, sk, b"ec message").unwrap();
        assert_eq!(sig.len(), len);
        let pem = public_pem(&s, pk, dir, &format!("ec{len}"));
        assert!(openssl_verify(&pem, md, b"ec message", &ecdsa_der(&sig), &[], dir), "OpenSSL verifies {md}");
        s.verify(&mech, pk, b"ec message", &sig).unwrap();
    }
    // ECDH: both sides derive the same secret (null KDF), as AES keys.
    let (apub, apriv) = ec_pair(&s, P256_OID);
    let (bpub, bpriv) = ec_pair(&s, P256_OID);
    let point_of = |k| match &s.get_attributes(k, &[AttributeType::EcPoint]).unwrap()[0] {
        Attribute::EcPoint(p) => p.clone(),
        _ => panic!(),
    };
    let (pa, pb) = (point_of(apub), point_of(bpub));
    let tmpl = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::ValueLen(32.into()),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
    ];
    let ka = s.derive_key(&Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(EcKdf::null(), &pb)), apriv, &tmpl).unwrap();
    let kb = s.derive_key(&Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(EcKdf::null(), &pa)), bpriv, &tmpl).unwrap();
    let va = s.get_attributes(ka, &[AttributeType::Value]).unwrap();
    assert_eq!(va, s.get_attributes(kb, &[AttributeType::Value]).unwrap());
}

#[test]
fn ed25519_rfc8032_test_1() {
    let (_m, s) = session();
    let sk = s
        .create_object(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(KeyType::EC_EDWARDS),
            Attribute::EcParams(vec![0x06, 0x03, 0x2b, 0x65, 0x70]),
            Attribute::Value(h("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")),
            Attribute::Sign(true),
        ])
        .unwrap();
    let sig = s
        .sign(
            &Mechanism::Eddsa(cryptoki::mechanism::eddsa::EddsaParams::new(
                cryptoki::mechanism::eddsa::EddsaSignatureScheme::Pure,
            )),
            sk,
            b"",
        )
        .unwrap();
    assert_eq!(
        sig,
        h("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
    );
    let p = s.get_attributes(sk, &[AttributeType::EcPoint]).unwrap();
    let Attribute::EcPoint(pt) = &p[0] else { panic!() };
    assert!(pt.ends_with(&h("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")));
}
