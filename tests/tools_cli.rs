//! The tools that complete nShield's set, end to end through the built binary (and the built
//! library where a key must be used): `KeyTransferRemote -KeyType`, `curve=SECP256k1`, key names
//! in `nfkminfo` without the token, `generatekey --import` / `--retarget`, `cklist` / `ckinfo`,
//! `rocs` and `racs`. Every refusal is one line and changes nothing (`Env::snapshot`).

mod common;
use common::cli::*;

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectClass};

fn label(l: &str) -> Vec<Attribute> {
    vec![Attribute::Label(l.as_bytes().to_vec())]
}

#[test]
fn key_type_is_checked_against_the_key_before_anything_happens() {
    let env = Env::new();
    env.world("1/1", false, &["acs"]);
    env.ok("byok-toolset", "--region EU", &[]);
    env.ok("generatekey", "--generate simple type=AES size=256 protect=module ident=aeskey", &[]);
    let pkgs = "-ExchangeKeyPackage BYOK-KEK-pkg-EU-1 -NewSecurityWorldPackage BYOK-SecurityWorld-pkg-EU-1";
    let modify = |kt: &str| format!("-ModifyAcls -KeyAppName simple -KeyIdentifier aeskey {pkgs} -KeyType {kt}");
    let before = env.snapshot();
    for (kt, expect) in [("RSA", "does not match"), ("EC-HSM", "does not match"), ("DSA", "is not known")] {
        let e = env.fails("KeyTransferRemote", &modify(kt), &["acs"]);
        assert!(e.contains(expect), "{kt}: {e}");
        assert_eq!(before, env.snapshot(), "-KeyType {kt} changed something");
    }
    let e = env.fails("KeyTransferRemote", &modify("RSA"), &["acs"]);
    assert!(e.contains("oct AES-256"), "the line names the key's own type: {e}");
    // The matching type, in Azure's -HSM spelling and any case: the transfer goes ahead.
    env.ok("KeyTransferRemote", &modify("oct-hsm"), &["acs"]);
    let package = |kt: &str| format!("-Package -KeyIdentifier aeskey {pkgs} -KeyFriendlyName aes1 -KeyType {kt}");
    let before = env.snapshot();
    let e = env.fails("KeyTransferRemote", &package("RSA-HSM"), &[]);
    assert!(e.contains("does not match"), "{e}");
    assert_eq!(before, env.snapshot());
    let out = env.ok("KeyTransferRemote", &package("oct"), &[]);
    assert!(out.contains("Result: SUCCESS"), "{out}");
    assert!(env.w("KeyTransferPackage-aes1.byok").exists());
}

#[test]
fn secp256k1_keys_are_made_and_sign_through_the_library() {
    let env = Env::new();
    env.world("1/1", false, &["acs"]);
    let out = env.ok("generatekey", "--generate simple type=EC curve=SECP256k1 ident=k1 plainname=k1", &[]);
    assert!(out.contains("SECP256k1"), "{out}");
    let dump = env.ok("kmfile-dump", "key_simple_k1_pub", &[]);
    // namedCurve secp256k1, OID 1.3.132.0.10 (SEC 2 §A.2.1).
    assert!(dump.contains("06052b8104000a"), "{dump}");
    let before = env.snapshot();
    let e = env.fails("generatekey", "--generate simple type=EC curve=secp255k1 ident=k2", &[]);
    assert!(e.contains("SECP256k1"), "{e}");
    assert_eq!(before, env.snapshot());

    let m = common::Module::load_at(env.dir);
    let s = m.p11.open_ro_session(common::module_slot()).unwrap();
    let class = |c: ObjectClass| {
        let mut t = label("k1");
        t.push(Attribute::Class(c));
        s.find_objects(&t).unwrap()[0]
    };
    let (sk, pk) = (class(ObjectClass::PRIVATE_KEY), class(ObjectClass::PUBLIC_KEY));
    let sig = s.sign(&Mechanism::EcdsaSha256, sk, b"k1 message").unwrap();
    assert_eq!(sig.len(), 64);
    s.verify(&Mechanism::EcdsaSha256, pk, b"k1 message", &sig).unwrap();
}

#[test]
fn token_key_names_show_without_the_token() {
    let env = Env::new();
    env.world("1/1", false, &["acs"]);
    env.ok("ppmk", "--new alpha", &["alpha-pass"]);
    env.ok("createocs", "-m1 -Q 1/1 -N ops", &["ops-pass"]);
    for (prot, id, pass) in
        [("protect=softcard softcard=alpha", "sk", "alpha-pass"), ("protect=token cardset=ops", "ck", "ops-pass")]
    {
        for ty in ["AES", "HMACSHA256", "EC"] {
            let t = ty.to_ascii_lowercase();
            env.ok(
                "generatekey",
                &format!("--generate simple type={ty} {prot} ident={id}{t} plainname=name-{id}-{t}"),
                &[pass],
            );
        }
    }
    // No passphrase given: the names come from the key files' public part.
    let names = env.ok("nfkminfo", "-l", &[]);
    assert!(!names.contains("sealed under its token"), "{names}");
    for n in ["name-sk-aes", "name-sk-hmacsha256", "name-sk-ec", "name-ck-aes", "name-ck-hmacsha256", "name-ck-ec"] {
        assert!(names.contains(&format!("`{n}'")), "{n}: {names}");
    }
    let one = env.ok("nfkminfo", "-k simple skaes", &[]);
    assert!(one.contains("\"name-sk-aes\"") && one.contains("AES"), "{one}");

    // The library: the softcard's secret key stays invisible until login, then works.
    let m = common::Module::load_at(env.dir);
    let slot = m
        .p11
        .get_slots_with_initialized_token()
        .unwrap()
        .into_iter()
        .find(|sl| m.p11.get_token_info(*sl).map(|t| t.label() == "alpha").unwrap_or(false))
        .unwrap();
    let s = m.p11.open_ro_session(slot).unwrap();
    assert!(s.find_objects(&label("name-sk-aes")).unwrap().is_empty(), "a private key is hidden before login");
    s.login(cryptoki::session::UserType::User, Some(&cryptoki::types::AuthPin::new("alpha-pass".into()))).unwrap();
    let k = s.find_objects(&label("name-sk-aes")).unwrap();
    assert_eq!(k.len(), 1);
    let attrs = s.get_attributes(k[0], &[AttributeType::Sensitive]).unwrap();
    assert_eq!(attrs, vec![Attribute::Sensitive(true)]);
    let ct = s.encrypt(&Mechanism::AesEcb, k[0], &[7u8; 16]).unwrap();
    assert_eq!(s.decrypt(&Mechanism::AesEcb, k[0], &ct).unwrap(), vec![7u8; 16]);
}
