//! Ed448 (CKM_EDDSA with CK_EDDSA_PARAMS), Ed25519ctx/Ed25519ph, and X25519/X448
//! (CKM_EC_MONTGOMERY_KEY_PAIR_GEN, CKM_ECDH1_DERIVE on CKK_EC_MONTGOMERY keys) through the C
//! ABI: the known answers of RFC 8032 and RFC 7748 (tests/data/), generated keys, OpenSSL as an
//! independent second implementation, and the error paths.

#[macro_use]
mod common;
use common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::elliptic_curve::{EcKdf, Ecdh1DeriveParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use std::path::Path;
use std::process::Command;

const ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
const ED448: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x71];
const ED448_NAME: &[u8] = b"\x13\x0aedwards448";
const X25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x6e];
const X25519_NAME: &[u8] = b"\x13\x0acurve25519";
const X448: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x6f];
const X448_NAME: &[u8] = b"\x13\x08curve448";

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn session() -> (Module, Session) {
    logged_in_session("curves")
}

fn data(name: &str) -> serde_json::Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name);
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn hx(v: &serde_json::Value) -> Vec<u8> {
    h(v.as_str().unwrap())
}

/// DER OCTET STRING of a short value (CKA_EC_POINT).
fn octets(v: &[u8]) -> Vec<u8> {
    [&[0x04, v.len() as u8][..], v].concat()
}

fn bytes_attr(s: &Session, k: ObjectHandle, t: AttributeType) -> Vec<u8> {
    match s.get_attributes(k, &[t]).unwrap().remove(0) {
        Attribute::EcPoint(v) | Attribute::Value(v) | Attribute::PublicKeyInfo(v) | Attribute::EcParams(v) => v,
        other => panic!("{other:?}"),
    }
}

fn bool_attr(s: &Session, k: ObjectHandle, t: AttributeType) -> bool {
    match s.get_attributes(k, &[t]).unwrap().remove(0) {
        Attribute::Local(b)
        | Attribute::AlwaysSensitive(b)
        | Attribute::NeverExtractable(b)
        | Attribute::Sensitive(b)
        | Attribute::Extractable(b) => b,
        other => panic!("{other:?}"),
    }
}

fn eddsa(ph: bool, ctx: &[u8]) -> Mechanism<'_> {
    Mechanism::Eddsa(EddsaParams::new(if ph {
        EddsaSignatureScheme::Ed448ph(ctx)
    } else {
        EddsaSignatureScheme::Ed448(ctx)
    }))
}

fn pure() -> Mechanism<'static> {
    Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure))
}

fn import_ed_private(s: &Session, params: &[u8], seed: &[u8]) -> ObjectHandle {
    s.create_object(&[
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(KeyType::EC_EDWARDS),
        Attribute::EcParams(params.to_vec()),
        Attribute::Value(seed.to_vec()),
        Attribute::Sign(true),
        Attribute::Extractable(true),
    ])
    .unwrap()
}

fn import_public(s: &Session, kt: KeyType, params: &[u8], point: &[u8]) -> ObjectHandle {
    s.create_object(&[
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::KeyType(kt),
        Attribute::EcParams(params.to_vec()),
        Attribute::EcPoint(point.to_vec()),
        Attribute::Verify(true),
    ])
    .unwrap()
}

/// SubjectPublicKeyInfo of an RFC 8410 key: AlgorithmIdentifier without parameters.
fn rfc8410_spki(oid: &[u8], key: &[u8]) -> Vec<u8> {
    let alg = [&[0x30, oid.len() as u8][..], oid].concat();
    let bits = [&[0x03, key.len() as u8 + 1, 0][..], key].concat();
    let body = [alg, bits].concat();
    [&[0x30, body.len() as u8][..], &body].concat()
}

/// RFC 8032 §7.4: Ed448 and Ed448ph private keys imported with C_CreateObject sign exactly the
/// published signatures (contexts through CK_EDDSA_PARAMS), single- and multi-part; the public
/// keys verify them and refuse tampered ones.
#[test]
fn ed448_rfc8032_known_answers() {
    let (_m, s) = session();
    let doc = data("rfc8032.json");
    let vectors = doc["ed448"].as_array().unwrap();
    assert!(vectors.iter().any(|v| v["name"].as_str().unwrap().contains("with context")));
    assert!(vectors.iter().any(|v| v["prehash"].as_bool().unwrap()));
    for (i, v) in vectors.iter().enumerate() {
        let (seed, public, msg, ctx, sig) =
            (hx(&v["secret"]), hx(&v["public"]), hx(&v["message"]), hx(&v["context"]), hx(&v["signature"]));
        let ph = v["prehash"].as_bool().unwrap();
        let name = v["name"].as_str().unwrap();
        let params = if i % 2 == 0 { ED448 } else { ED448_NAME };
        let sk = import_ed_private(&s, params, &seed);
        assert_eq!(bytes_attr(&s, sk, AttributeType::EcPoint), octets(&public), "{name}");
        assert_eq!(bytes_attr(&s, sk, AttributeType::PublicKeyInfo), rfc8410_spki(ED448, &public));
        let mech = eddsa(ph, &ctx);
        assert_eq!(s.sign(&mech, sk, &msg).unwrap(), sig, "{name}");
        if !ph && ctx.is_empty() {
            // No parameter at all is Ed448 with an empty context.
            assert_eq!(s.sign(&pure(), sk, &msg).unwrap(), sig, "{name}");
        }
        s.sign_init(&mech, sk).unwrap();
        for part in msg.chunks(5) {
            s.sign_update(part).unwrap();
        }
        assert_eq!(s.sign_final().unwrap(), sig, "{name} multi-part");
        for point in [octets(&public), public.clone()] {
            let pk = import_public(&s, KeyType::EC_EDWARDS, params, &point);
            s.verify(&mech, pk, &msg, &sig).unwrap();
            let mut bad = sig.clone();
            bad[20] ^= 4;
            assert_eq!(rv(s.verify(&mech, pk, &msg, &bad).unwrap_err()), RvError::SignatureInvalid, "{name}");
            let other_ctx = eddsa(ph, b"another context");
            assert_eq!(rv(s.verify(&other_ctx, pk, &msg, &sig).unwrap_err()), RvError::SignatureInvalid);
            assert_eq!(rv(s.verify(&eddsa(!ph, &ctx), pk, &msg, &sig).unwrap_err()), RvError::SignatureInvalid);
            assert_eq!(rv(s.verify(&mech, pk, &msg, &sig[..113]).unwrap_err()), RvError::SignatureLenRange);
        }
    }
}

/// RFC 8032 §7.2 (Ed25519ctx) and §7.3 (Ed25519ph) through CK_EDDSA_PARAMS.
#[test]
fn ed25519ctx_and_ed25519ph_known_answers() {
    let (_m, s) = session();
    let doc = data("rfc8032.json");
    for v in doc["ed25519ctx"].as_array().unwrap().iter().chain(doc["ed25519ph"].as_array().unwrap()) {
        let (seed, public, msg, ctx, sig) =
            (hx(&v["secret"]), hx(&v["public"]), hx(&v["message"]), hx(&v["context"]), hx(&v["signature"]));
        let scheme = if v["prehash"].as_bool().unwrap() {
            EddsaSignatureScheme::Ed25519ph(&ctx)
        } else {
            EddsaSignatureScheme::Ed25519ctx(&ctx)
        };
        let mech = Mechanism::Eddsa(EddsaParams::new(scheme));
        let sk = import_ed_private(&s, ED25519, &seed);
        assert_eq!(s.sign(&mech, sk, &msg).unwrap(), sig, "{}", v["name"]);
        let pk = import_public(&s, KeyType::EC_EDWARDS, ED25519, &octets(&public));
        s.verify(&mech, pk, &msg, &sig).unwrap();
        assert_eq!(rv(s.verify(&pure(), pk, &msg, &sig).unwrap_err()), RvError::SignatureInvalid);
    }
}

/// Runs `openssl` with an empty configuration; true on success.
fn openssl(args: &[&str], dir: &Path) -> bool {
    let empty = dir.join("empty.cnf");
    std::fs::write(&empty, "").unwrap();
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .env("OPENSSL_CONF", &empty)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn der_to_pem_file(dir: &Path, name: &str, der: &[u8], public: bool) -> String {
    std::fs::write(dir.join(format!("{name}.der")), der).unwrap();
    let pem = format!("{name}.pem");
    let mut args = vec!["pkey", "-inform", "DER", "-in"];
    let der_name = format!("{name}.der");
    args.push(&der_name);
    if public {
        args.push("-pubin");
    }
    args.extend(["-out", &pem]);
    assert!(openssl(&args, dir), "openssl pkey {name}");
    pem
}

/// Ed448 key pairs generated in the token (either CKA_EC_PARAMS form) sign and verify in every
/// variant; OpenSSL verifies the pure signatures with the exported public key.
#[test]
fn ed448_generated_pairs() {
    let (m, s) = session();
    let dir = m.dir.path();
    let msg = b"Ed448 generated in the token".repeat(9);
    for params in [ED448, ED448_NAME] {
        let (pk, sk) = s
            .generate_key_pair(
                &Mechanism::EccEdwardsKeyPairGen,
                &[Attribute::EcParams(params.to_vec()), Attribute::Verify(true)],
                &[Attribute::Sign(true), Attribute::Sensitive(true)],
            )
            .unwrap();
        assert_eq!(bytes_attr(&s, pk, AttributeType::EcParams), params);
        assert_eq!(bytes_attr(&s, pk, AttributeType::EcPoint).len(), 59);
        assert!(bool_attr(&s, sk, AttributeType::Local) && bool_attr(&s, sk, AttributeType::AlwaysSensitive));
        // cryptoki leaves out what C_GetAttributeValue marks unavailable (CKR_ATTRIBUTE_SENSITIVE).
        assert!(s.get_attributes(sk, &[AttributeType::Value]).unwrap().is_empty());
        let long = [0xa5u8; 255];
        let variants: [(bool, &[u8]); 4] = [(false, b""), (false, b"ctx"), (true, b""), (true, &long)];
        for (ph, ctx) in variants {
            let mech = eddsa(ph, ctx);
            let sig = s.sign(&mech, sk, &msg).unwrap();
            assert_eq!(sig.len(), 114);
            s.verify(&mech, pk, &msg, &sig).unwrap();
            s.verify_init(&mech, pk).unwrap();
            for part in msg.chunks(17) {
                s.verify_update(part).unwrap();
            }
            s.verify_final(&sig).unwrap();
            let mut bad = sig.clone();
            bad[100] ^= 1;
            assert_eq!(rv(s.verify(&mech, pk, &msg, &bad).unwrap_err()), RvError::SignatureInvalid);
            assert_eq!(rv(s.verify(&mech, pk, b"other", &sig).unwrap_err()), RvError::SignatureInvalid);
        }
        // OpenSSL verifies pure Ed448 with the key's CKA_PUBLIC_KEY_INFO.
        let sig = s.sign(&pure(), sk, &msg).unwrap();
        let spki = bytes_attr(&s, pk, AttributeType::PublicKeyInfo);
        assert_eq!(spki, bytes_attr(&s, sk, AttributeType::PublicKeyInfo));
        let pem = der_to_pem_file(dir, "ed448pub", &spki, true);
        std::fs::write(dir.join("msg"), &msg).unwrap();
        std::fs::write(dir.join("sig"), &sig).unwrap();
        let verify = ["pkeyutl", "-verify", "-pubin", "-inkey", &pem, "-rawin", "-in", "msg", "-sigfile", "sig"];
        assert!(openssl(&verify, dir), "OpenSSL verifies the token's Ed448 signature");
        std::fs::write(dir.join("sig"), [&sig[..113], &[sig[113] ^ 1]].concat()).unwrap();
        assert!(!openssl(&verify, dir), "OpenSSL refuses a tampered signature");
    }
}

/// Parameter and key-type errors of CKM_EDDSA, and the mechanism information of the new
/// mechanisms.
#[test]
fn eddsa_errors_and_mechanism_info() {
    let (m, s) = session();
    let (_, sk) = s
        .generate_key_pair(
            &Mechanism::EccEdwardsKeyPairGen,
            &[Attribute::EcParams(ED448.to_vec())],
            &[Attribute::Sign(true)],
        )
        .unwrap();
    // A context of 256 bytes is refused (RFC 8032 caps it at 255).
    for ph in [false, true] {
        assert_eq!(rv(s.sign(&eddsa(ph, &[1; 256]), sk, b"m").unwrap_err()), RvError::MechanismParamInvalid);
    }
    // Montgomery keys do not sign; Edwards keys do not derive.
    let (_, xk) = s
        .generate_key_pair(
            &Mechanism::EccMontgomeryKeyPairGen,
            &[Attribute::EcParams(X448.to_vec())],
            &[Attribute::Sign(true), Attribute::Derive(true)],
        )
        .unwrap();
    assert_eq!(rv(s.sign(&pure(), xk, b"m").unwrap_err()), RvError::KeyTypeInconsistent);
    // Curves of the other family, and unknown ones, are refused at generation.
    for (mech, params, want) in [
        (Mechanism::EccEdwardsKeyPairGen, X25519, RvError::CurveNotSupported),
        (Mechanism::EccMontgomeryKeyPairGen, ED448_NAME, RvError::CurveNotSupported),
        (Mechanism::EccMontgomeryKeyPairGen, &[0x30, 0x00][..], RvError::DomainParamsInvalid),
    ] {
        let e = s.generate_key_pair(&mech, &[Attribute::EcParams(params.to_vec())], &[]).unwrap_err();
        assert_eq!(rv(e), want, "{params:02x?}");
    }
    let slot = s.get_session_info().unwrap().slot_id();
    for (ty, min, max) in [
        (MechanismType::ECC_EDWARDS_KEY_PAIR_GEN, 255, 448),
        (MechanismType::ECC_MONTGOMERY_KEY_PAIR_GEN, 255, 448),
        (MechanismType::EDDSA, 255, 448),
        (MechanismType::ECDH1_DERIVE, 255, 521),
    ] {
        let info = m.p11.get_mechanism_info(slot, ty).unwrap();
        assert_eq!((info.min_key_size(), info.max_key_size()), (min, max), "{ty}");
        assert!(info.ec_f_p() && info.ec_from_oid(), "{ty}");
    }
    let list = m.p11.get_mechanism_list(slot).unwrap();
    assert!(list.contains(&MechanismType::ECC_MONTGOMERY_KEY_PAIR_GEN));
}

fn derive_template(len: Option<u64>, readable: bool) -> Vec<Attribute> {
    let mut t = vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::Sensitive(!readable),
        Attribute::Extractable(readable),
        Attribute::Encrypt(true),
    ];
    match len {
        Some(n) => t.extend([Attribute::KeyType(KeyType::AES), Attribute::ValueLen(n.into())]),
        None => t.push(Attribute::KeyType(KeyType::GENERIC_SECRET)),
    }
    t
}

fn ecdh(public: &[u8]) -> Mechanism<'_> {
    Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(EcKdf::null(), public))
}

/// RFC 7748 §6.1/§6.2: Alice's private key, imported, derives the published shared secret with
/// Bob's public key (bare and DER-wrapped) as a generic secret and as a truncated AES key; the
/// derived key is marked as known to the caller (CKA_ALWAYS_SENSITIVE and
/// CKA_NEVER_EXTRACTABLE false). A point of small order is refused.
#[test]
fn x25519_x448_rfc7748_known_answers() {
    let (_m, s) = session();
    let doc = data("rfc7748.json");
    for (name, params, names) in [("x25519", X25519, X25519_NAME), ("x448", X448, X448_NAME)] {
        let d = &doc[name]["dh"];
        let shared = hx(&d["shared"]);
        for form in [params, names] {
            let alice = s
                .create_object(&[
                    Attribute::Class(ObjectClass::PRIVATE_KEY),
                    Attribute::KeyType(KeyType::EC_MONTGOMERY),
                    Attribute::EcParams(form.to_vec()),
                    Attribute::Value(hx(&d["alice_private"])),
                    Attribute::Derive(true),
                ])
                .unwrap();
            assert_eq!(bytes_attr(&s, alice, AttributeType::EcPoint), octets(&hx(&d["alice_public"])));
            assert_eq!(
                bytes_attr(&s, alice, AttributeType::PublicKeyInfo),
                rfc8410_spki(params, &hx(&d["alice_public"]))
            );
            let bob = hx(&d["bob_public"]);
            for public in [bob.clone(), octets(&bob)] {
                let k = s.derive_key(&ecdh(&public), alice, &derive_template(None, true)).unwrap();
                assert_eq!(bytes_attr(&s, k, AttributeType::Value), shared, "{name}");
                for t in [AttributeType::Local, AttributeType::AlwaysSensitive, AttributeType::NeverExtractable] {
                    assert!(!bool_attr(&s, k, t), "{name} {t:?}");
                }
                let k = s.derive_key(&ecdh(&public), alice, &derive_template(Some(16), true)).unwrap();
                assert_eq!(bytes_attr(&s, k, AttributeType::Value), shared[shared.len() - 16..]);
            }
            // Small-order points (u = 0, u = 1) give an all-zero secret: refused.
            for u in [0u8, 1] {
                let mut p = vec![0u8; bob.len()];
                p[0] = u;
                let e = s.derive_key(&ecdh(&p), alice, &derive_template(None, true)).unwrap_err();
                assert_eq!(rv(e), RvError::MechanismParamInvalid, "{name} u={u}");
            }
            let e = s.derive_key(&ecdh(&bob[1..]), alice, &derive_template(None, true)).unwrap_err();
            assert_eq!(rv(e), RvError::MechanismParamInvalid);
            let e = s.derive_key(&ecdh(&bob), alice, &derive_template(Some(64), true)).unwrap_err();
            assert!(matches!(
                rv(e),
                RvError::KeySizeRange | RvError::TemplateInconsistent | RvError::AttributeValueInvalid
            ));
        }
    }
}

/// Two pairs generated in the token on each curve agree: sensitive AES-256 keys derived on both
/// sides encrypt alike. OpenSSL, with a key of its own, derives what the token derives.
#[test]
fn generated_montgomery_pairs_agree_with_each_other_and_openssl() {
    let (m, s) = session();
    let dir = m.dir.path();
    for (name, params) in [("X25519", X25519), ("X448", X448_NAME)] {
        let gen = || {
            s.generate_key_pair(
                &Mechanism::EccMontgomeryKeyPairGen,
                &[Attribute::EcParams(params.to_vec())],
                &[Attribute::Derive(true), Attribute::Sensitive(true), Attribute::Extractable(false)],
            )
            .unwrap()
        };
        let ((apub, apriv), (bpub, bpriv)) = (gen(), gen());
        assert_eq!(bytes_attr(&s, apub, AttributeType::EcParams), params);
        let (pa, pb) = (bytes_attr(&s, apub, AttributeType::EcPoint), bytes_attr(&s, bpub, AttributeType::EcPoint));
        assert_ne!(pa, pb);
        let ka = s.derive_key(&ecdh(&pb), apriv, &derive_template(Some(32), false)).unwrap();
        let kb = s.derive_key(&ecdh(&pa), bpriv, &derive_template(Some(32), false)).unwrap();
        assert!(s.get_attributes(ka, &[AttributeType::Value]).unwrap().is_empty(), "derived key is sensitive");
        let block = [0x5au8; 16];
        let ea = s.encrypt(&Mechanism::AesEcb, ka, &block).unwrap();
        assert_eq!(ea, s.encrypt(&Mechanism::AesEcb, kb, &block).unwrap(), "{name}");
        // A peer made by OpenSSL.
        assert!(openssl(&["genpkey", "-algorithm", name, "-out", "peer.pem"], dir));
        assert!(openssl(&["pkey", "-in", "peer.pem", "-pubout", "-outform", "DER", "-out", "peer.der"], dir));
        let spki = std::fs::read(dir.join("peer.der")).unwrap();
        let n = if name == "X25519" { 32 } else { 56 };
        let peer_u = &spki[spki.len() - n..];
        let mine = bytes_attr(&s, apub, AttributeType::PublicKeyInfo);
        let mine_pem = der_to_pem_file(dir, "mine", &mine, true);
        assert!(openssl(&["pkeyutl", "-derive", "-inkey", "peer.pem", "-peerkey", &mine_pem, "-out", "z.ossl"], dir));
        let k = s.derive_key(&ecdh(peer_u), apriv, &derive_template(None, true)).unwrap();
        assert_eq!(bytes_attr(&s, k, AttributeType::Value), std::fs::read(dir.join("z.ossl")).unwrap(), "{name}");
    }
}

/// Ed448 and X448 private keys wrap as PKCS#8 (AES key wrap with padding) and unwrap to keys
/// that work alike.
#[test]
fn ed448_and_x448_private_keys_wrap_and_unwrap() {
    let (_m, s) = session();
    let kek = s
        .generate_key(
            &Mechanism::AesKeyGen,
            &[Attribute::ValueLen(32.into()), Attribute::Wrap(true), Attribute::Unwrap(true), Attribute::Token(false)],
        )
        .unwrap();
    let doc = data("rfc8032.json");
    let v = &doc["ed448"][2];
    let sk = import_ed_private(&s, ED448, &hx(&v["secret"]));
    let back = wrap_round_trip(&s, kek, sk, KeyType::EC_EDWARDS, Attribute::Sign(true));
    let ctx = hx(&v["context"]);
    let mech = eddsa(false, &ctx);
    assert_eq!(s.sign(&mech, back, &hx(&v["message"])).unwrap(), hx(&v["signature"]));
    assert_eq!(bytes_attr(&s, back, AttributeType::EcParams), ED448);
    let x = &data("rfc7748.json")["x448"]["dh"];
    let alice = s
        .create_object(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(KeyType::EC_MONTGOMERY),
            Attribute::EcParams(X448.to_vec()),
            Attribute::Value(hx(&x["alice_private"])),
            Attribute::Extractable(true),
        ])
        .unwrap();
    let back = wrap_round_trip(&s, kek, alice, KeyType::EC_MONTGOMERY, Attribute::Derive(true));
    let k = s.derive_key(&ecdh(&hx(&x["bob_public"])), back, &derive_template(None, true)).unwrap();
    assert_eq!(bytes_attr(&s, k, AttributeType::Value), hx(&x["shared"]));
}

/// Hostile CK_EDDSA_PARAMS and CK_ECDH1_DERIVE_PARAMS through the raw C ABI: context and
/// public-data lengths are bounded before the caller's buffers are read, null buffers with a
/// length are refused, and the session goes on working.
#[test]
fn hostile_curve_parameters_through_the_c_abi() {
    use cryptoki_sys::*;
    use std::ffi::c_void;
    use std::ptr::null_mut;
    fn raw<T>(type_: CK_ATTRIBUTE_TYPE, v: &T) -> CK_ATTRIBUTE {
        CK_ATTRIBUTE { type_, pValue: v as *const T as *mut c_void, ulValueLen: std::mem::size_of::<T>() as CK_ULONG }
    }
    fn raw_bytes(type_: CK_ATTRIBUTE_TYPE, v: &[u8]) -> CK_ATTRIBUTE {
        CK_ATTRIBUTE { type_, pValue: v.as_ptr() as *mut c_void, ulValueLen: v.len() as CK_ULONG }
    }
    let (r, h) = module_session();
    // Session keys that are not private (the module slot has no login): Ed448 and X25519.
    let (class, f, t) = (CKO_PRIVATE_KEY, CK_FALSE, CK_TRUE);
    let key = |kt: CK_KEY_TYPE, params: &[u8], value: &[u8], usage: CK_ATTRIBUTE_TYPE| {
        let mut tmpl = [
            raw(CKA_CLASS, &class),
            raw(CKA_KEY_TYPE, &kt),
            raw_bytes(CKA_EC_PARAMS, params),
            raw_bytes(CKA_VALUE, value),
            raw(usage, &t),
            raw(CKA_PRIVATE, &f),
        ];
        let mut k: CK_OBJECT_HANDLE = 0;
        assert_eq!(call!(r, C_CreateObject, h, tmpl.as_mut_ptr(), tmpl.len() as CK_ULONG, &mut k), CKR_OK);
        k
    };
    let ed = key(CKK_EC_EDWARDS, ED448, &[0x42; 57], CKA_SIGN);
    let x = key(CKK_EC_MONTGOMERY, X25519, &[0x42; 32], CKA_DERIVE);
    let ctx = [0x63u8; 300];
    let size = std::mem::size_of::<CK_EDDSA_PARAMS>() as CK_ULONG;
    let p = |ph: CK_BBOOL, len: CK_ULONG, data: *const u8| CK_EDDSA_PARAMS {
        phFlag: ph,
        ulContextDataLen: len,
        pContextData: data as *mut u8,
    };
    let cases = [
        (p(CK_FALSE, 255, ctx.as_ptr()), size, CKR_OK),
        (p(CK_TRUE, 0, std::ptr::null()), size, CKR_OK),
        (p(CK_FALSE, 256, ctx.as_ptr()), size, CKR_MECHANISM_PARAM_INVALID),
        (p(CK_TRUE, 300, ctx.as_ptr()), size, CKR_MECHANISM_PARAM_INVALID),
        (p(CK_TRUE, CK_ULONG::MAX, ctx.as_ptr()), size, CKR_MECHANISM_PARAM_INVALID),
        (p(CK_FALSE, 5, std::ptr::null()), size, CKR_MECHANISM_PARAM_INVALID),
        (p(CK_FALSE, 0, std::ptr::null()), size - 1, CKR_MECHANISM_PARAM_INVALID),
        (p(CK_FALSE, 0, std::ptr::null()), size + 8, CKR_MECHANISM_PARAM_INVALID),
    ];
    for (i, (mut params, len, want)) in cases.into_iter().enumerate() {
        let mut m = CK_MECHANISM {
            mechanism: CKM_EDDSA,
            pParameter: &mut params as *mut CK_EDDSA_PARAMS as *mut c_void,
            ulParameterLen: len,
        };
        assert_eq!(call!(r, C_SignInit, h, &mut m, ed), want, "case {i}");
        if want == CKR_OK {
            let mut data = *b"message";
            let (mut sig, mut n) = ([0u8; 114], 114 as CK_ULONG);
            let rv = call!(r, C_Sign, h, data.as_mut_ptr(), data.len() as CK_ULONG, sig.as_mut_ptr(), &mut n);
            assert_eq!((rv, n), (CKR_OK, 114), "case {i}");
        }
    }
    // ECDH: the peer's public data.
    let peer = [9u8; 32];
    let (sk_class, gs) = (CKO_SECRET_KEY, CKK_GENERIC_SECRET);
    let mut tmpl = [raw(CKA_CLASS, &sk_class), raw(CKA_KEY_TYPE, &gs), raw(CKA_PRIVATE, &f)];
    let ecdh = |len: CK_ULONG, data: *const u8| CK_ECDH1_DERIVE_PARAMS {
        kdf: CKD_NULL,
        ulSharedDataLen: 0,
        pSharedData: null_mut(),
        ulPublicDataLen: len,
        pPublicData: data as *mut u8,
    };
    for (i, (mut params, want)) in [
        (ecdh(32, peer.as_ptr()), CKR_OK),
        (ecdh(31, peer.as_ptr()), CKR_MECHANISM_PARAM_INVALID),
        (ecdh(32, std::ptr::null()), CKR_MECHANISM_PARAM_INVALID),
        (ecdh(CK_ULONG::MAX, peer.as_ptr()), CKR_MECHANISM_PARAM_INVALID),
        (ecdh(1 << 40, peer.as_ptr()), CKR_MECHANISM_PARAM_INVALID),
    ]
    .into_iter()
    .enumerate()
    {
        let mut m = CK_MECHANISM {
            mechanism: CKM_ECDH1_DERIVE,
            pParameter: &mut params as *mut CK_ECDH1_DERIVE_PARAMS as *mut c_void,
            ulParameterLen: std::mem::size_of::<CK_ECDH1_DERIVE_PARAMS>() as CK_ULONG,
        };
        let mut k: CK_OBJECT_HANDLE = 0;
        let rv = call!(r, C_DeriveKey, h, &mut m, x, tmpl.as_mut_ptr(), tmpl.len() as CK_ULONG, &mut k);
        assert_eq!(rv, want, "ECDH case {i}");
    }
}

/// A hostile CKA_VALUE_LEN never sizes a KDF's output: lengths past the bound are
/// CKR_ATTRIBUTE_VALUE_INVALID at once (before, 2^40 aborted the host on allocation and
/// 2^64-1 wrapped). Positive control: a 48-byte X9.63-SHA-256 secret derives.
#[test]
fn derive_lengths_are_bounded() {
    let (_m, s) = session();
    let pair = |params: &[u8]| {
        s.generate_key_pair(
            &Mechanism::EccMontgomeryKeyPairGen,
            &[Attribute::EcParams(params.to_vec()), Attribute::Token(false)],
            &[Attribute::Derive(true), Attribute::Token(false)],
        )
        .unwrap()
    };
    let (apub, apriv) = pair(X25519);
    let peer = bytes_attr(&s, apub, AttributeType::EcPoint);
    let kdf = |p| Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(EcKdf::sha256(), p));
    for len in [0u64, 1 << 40, u64::MAX] {
        let t = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::GENERIC_SECRET),
            Attribute::ValueLen(len.into()),
            Attribute::Token(false),
        ];
        let e = s.derive_key(&kdf(&peer), apriv, &t).unwrap_err();
        assert_eq!(rv(e), RvError::AttributeValueInvalid, "CKA_VALUE_LEN {len}");
    }
    let t = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::ValueLen(48u64.into()),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
        Attribute::Token(false),
    ];
    let k = s.derive_key(&kdf(&peer), apriv, &t).unwrap();
    assert_eq!(bytes_attr(&s, k, AttributeType::Value).len(), 48);
}

/// Wraps a private key under `kek` (AES key wrap with padding) and unwraps it back with `usage`.
fn wrap_round_trip(s: &Session, kek: ObjectHandle, key: ObjectHandle, kt: KeyType, usage: Attribute) -> ObjectHandle {
    let wrapped = s.wrap_key(&Mechanism::AesKeyWrapPad, kek, key).unwrap();
    let t = [Attribute::Class(ObjectClass::PRIVATE_KEY), Attribute::KeyType(kt), usage];
    s.unwrap_key(&Mechanism::AesKeyWrapPad, kek, &wrapped, &t).unwrap()
}

/// ECDH on the Weierstrass curves refuses a peer point that is not on the curve (the last byte
/// of y flipped: an invalid-curve attack would feed such points to learn the key mod small
/// orders) with an error, never a secret; the point as generated derives.
#[test]
fn ecdh_refuses_off_curve_peer_points() {
    let (_m, s) = session();
    for (name, oid, plen) in [
        ("P-256", h("06082A8648CE3D030107"), 65),
        ("P-384", h("06052B81040022"), 97),
        ("P-521", h("06052B81040023"), 133),
        ("secp256k1", h("06052B8104000A"), 65),
    ] {
        let public = [Attribute::EcParams(oid.clone()), Attribute::Token(false)];
        let private = [Attribute::Derive(true), Attribute::Token(false)];
        let (pk, sk) = s.generate_key_pair(&Mechanism::EccKeyPairGen, &public, &private).unwrap();
        let der = bytes_attr(&s, pk, AttributeType::EcPoint);
        let point = der[der.len() - plen..].to_vec();
        assert_eq!(point[0], 4, "{name}: uncompressed");
        assert!(s.derive_key(&ecdh(&point), sk, &derive_template(None, true)).is_ok(), "{name}: on the curve");
        let mut off = point.clone();
        off[plen - 1] ^= 1;
        let e = s.derive_key(&ecdh(&off), sk, &derive_template(None, true)).unwrap_err();
        assert_eq!(rv(e), RvError::MechanismParamInvalid, "{name}: off the curve");
    }
}
