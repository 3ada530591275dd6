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

/// A session (read/write with `rw`) logged in to softcard `alpha` (passphrase `alpha-pass`).
fn alpha_session(p11: &cryptoki::context::Pkcs11, rw: bool) -> cryptoki::session::Session {
    let slot = p11
        .get_slots_with_initialized_token()
        .unwrap()
        .into_iter()
        .find(|sl| p11.get_token_info(*sl).map(|t| t.label() == "alpha").unwrap_or(false))
        .unwrap();
    let s = if rw { p11.open_rw_session(slot) } else { p11.open_ro_session(slot) }.unwrap();
    s.login(cryptoki::session::UserType::User, Some(&cryptoki::types::AuthPin::new("alpha-pass".into()))).unwrap();
    s
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

/// Runs a program (openssl) that must succeed; its stdout.
fn sh(program: &str, args: &[&str]) -> Vec<u8> {
    let o = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} ({e}); these tests need openssl"));
    assert!(o.status.success(), "{program} {args:?}:\n{}", text(&o.stderr));
    o.stdout
}

fn ps(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

/// The value after `name` on the first output line that has it: `ident usab12...`.
fn word_after(out: &str, name: &str) -> String {
    let mut words = out.split_whitespace().skip_while(|w| *w != name);
    words.nth(1).unwrap_or_else(|| panic!("no {name} in {out}")).to_string()
}

/// Keys made by openssl (an independent producer) in the three PEM encodings generatekey reads;
/// the imported keys must give openssl's public keys and make signatures openssl verifies.
#[test]
fn import_reads_pem_keys_and_marks_them_imported() {
    let env = Env::new();
    env.world("1/1", true, &["acs"]);
    env.ok("ppmk", "--new alpha", &["alpha-pass"]);
    let w = |n: &str| env.w(n);
    sh("openssl", &["genrsa", "-traditional", "-out", ps(&w("rsa.pem")), "2048"]);
    sh("openssl", &["ecparam", "-name", "secp256k1", "-genkey", "-noout", "-out", ps(&w("k1.pem"))]);
    sh("openssl", &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", ps(&w("p384.pem"))]);
    sh("openssl", &["genrsa", "-aes256", "-passout", "pass:secret", "-out", ps(&w("enc.pem")), "2048"]);
    sh("openssl", &["genpkey", "-algorithm", "ED25519", "-out", ps(&w("ed.pem"))]);
    assert!(std::fs::read_to_string(w("rsa.pem")).unwrap().contains("BEGIN RSA PRIVATE KEY"));
    assert!(std::fs::read_to_string(w("k1.pem")).unwrap().contains("BEGIN EC PRIVATE KEY"));
    assert!(std::fs::read_to_string(w("p384.pem")).unwrap().contains("BEGIN PRIVATE KEY"));
    for f in ["rsa", "k1", "p384"] {
        let der = sh("openssl", &["pkey", "-in", ps(&w(&format!("{f}.pem"))), "-pubout", "-outform", "DER"]);
        std::fs::write(w(&format!("{f}.spki")), der).unwrap();
    }
    // Refusals first: one line each, nothing written. Without the `import` assurance relaxed,
    // no import at all.
    let before = env.snapshot();
    let e = env.fails("generatekey", "--import simple type=RSA ident=x pemreadfile=rsa.pem", &[]);
    assert!(e.contains("security assurance (`import`)") && e.contains("=import"), "{e}");
    assert_eq!(before, env.snapshot());
    env.set_env("CKNFAST_OVERRIDE_SECURITY_ASSURANCES", "import");
    let refusals = [
        ("--import simple type=RSA ident=x", "pemreadfile"),
        ("--import simple type=RSA ident=x pemreadfile=enc.pem", "encrypted"),
        ("--import simple type=EC ident=x pemreadfile=rsa.pem", "holds an RSA key"),
        ("--import simple type=RSA size=4096 ident=x pemreadfile=rsa.pem", "size= is taken"),
        ("--import simple type=EC ident=x pemreadfile=ed.pem", "RSA and EC"),
        ("--import simple type=AES ident=x pemreadfile=rsa.pem", "not AES keys"),
        ("--import simple type=RSA ident=x pemreadfile=rsa.spki", "not PEM"),
        ("--import simple type=RSA ident=x pemreadfile=missing.pem", "cannot read"),
        ("--generate simple type=RSA ident=x pemreadfile=rsa.pem", "belongs to --import"),
        ("--import --generate simple type=RSA ident=x pemreadfile=rsa.pem", "more than one action"),
    ];
    for (args, expect) in refusals {
        let e = env.fails("generatekey", args, &[]);
        assert!(e.contains(expect), "{args}: {e}");
        assert_eq!(before, env.snapshot(), "{args} changed something");
    }
    std::fs::write(w("big.pem"), vec![b'A'; 70_000]).unwrap();
    let before = env.snapshot();
    let e = env.fails("generatekey", "--import simple type=RSA ident=x pemreadfile=big.pem", &[]);
    assert!(e.contains("larger than"), "{e}");
    assert_eq!(before, env.snapshot());
    // A wrong passphrase counts against the softcard (its try counter), and writes no key.
    let e = env.fails(
        "generatekey",
        "--import simple type=EC protect=softcard softcard=alpha ident=k1 pemreadfile=k1.pem",
        &["wrong-pass"],
    );
    assert!(e.contains("wrong passphrase"), "{e}");
    assert!(!env.local("key_simple_k1").exists());

    let out = env.ok("generatekey", "--import simple type=RSA ident=imprsa plainname=imprsa pemreadfile=rsa.pem", &[]);
    assert!(out.contains("Key successfully imported.") && out.contains("RSA 2048"), "{out}");
    let out = env.ok(
        "generatekey",
        "--import simple type=EC protect=softcard softcard=alpha ident=impk1 plainname=impk1 pemreadfile=k1.pem",
        &["alpha-pass"],
    );
    assert!(out.contains("SECP256k1"), "{out}");
    env.ok("generatekey", "--import pkcs11 type=EC plainname=imp384 pemreadfile=p384.pem", &[]);
    env.ok("generatekey", "--generate simple type=RSA ident=genrsa plainname=genrsa", &[]);
    let again = env.fails("generatekey", "--import simple type=RSA ident=imprsa pemreadfile=rsa.pem", &[]);
    assert!(again.contains("already exists"), "{again}");
    // The tools say where the keys came from; a generated key is the control.
    assert!(env.ok("nfkminfo", "-k simple imprsa", &[]).contains("imported"));
    assert!(env.ok("nfkminfo", "-k simple impk1", &[]).contains("imported"), "read without the passphrase");
    assert!(env.ok("nfkminfo", "-k simple genrsa", &[]).contains("generated in the module"));
    assert!(env.ok("aclprint", "simple imprsa", &[]).contains("origin: imported"));
    assert!(
        env.local("key_simple_imprsa").exists() && env.kmdata().join("emu/recovery/key_simple_imprsa.json").exists()
    );

    let m = common::Module::load_at(env.dir);
    let tmp = m.dir.path().to_path_buf();
    let s = m.p11.open_ro_session(common::module_slot()).unwrap();
    let find = |s: &cryptoki::session::Session, c: ObjectClass, l: &str| {
        let mut t = label(l);
        t.push(Attribute::Class(c));
        s.find_objects(&t).unwrap()[0]
    };
    let flags = [
        AttributeType::Local,
        AttributeType::AlwaysSensitive,
        AttributeType::NeverExtractable,
        AttributeType::Sensitive,
        AttributeType::Extractable,
    ];
    let flags_of = |s: &cryptoki::session::Session, k| s.get_attributes(k, &flags).unwrap();
    let imported = vec![
        Attribute::Local(false),
        Attribute::AlwaysSensitive(false),
        Attribute::NeverExtractable(false),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
    ];
    let generated = vec![
        Attribute::Local(true),
        Attribute::AlwaysSensitive(true),
        Attribute::NeverExtractable(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
    ];
    assert_eq!(flags_of(&s, find(&s, ObjectClass::PRIVATE_KEY, "imprsa")), imported);
    assert_eq!(flags_of(&s, find(&s, ObjectClass::PRIVATE_KEY, "imp384")), imported);
    assert_eq!(flags_of(&s, find(&s, ObjectClass::PRIVATE_KEY, "genrsa")), generated);
    // The value stays sealed: a sensitive component is not readable.
    let sk = find(&s, ObjectClass::PRIVATE_KEY, "imprsa");
    // (cryptoki leaves out what C_GetAttributeValue reports CKR_ATTRIBUTE_SENSITIVE for.)
    let got = s.get_attributes(sk, &[AttributeType::PrivateExponent, AttributeType::Prime1]);
    assert!(got.as_ref().map_or(true, Vec::is_empty), "{got:?}");

    // openssl's public keys, and signatures openssl verifies.
    let check = |s: &cryptoki::session::Session, l: &str, spki: &str, mech: Mechanism, ec: bool| {
        let pk = find(s, ObjectClass::PUBLIC_KEY, l);
        let info = match s.get_attributes(pk, &[AttributeType::PublicKeyInfo]).unwrap().remove(0) {
            Attribute::PublicKeyInfo(v) => v,
            other => panic!("{other:?}"),
        };
        let want = std::fs::read(tmp.join("work").join(spki)).unwrap();
        assert_eq!(info, want, "{l}: the imported key's public half is openssl's");
        let sig = s.sign(&mech, find(s, ObjectClass::PRIVATE_KEY, l), b"imported").unwrap();
        let sig = if ec { raw_to_der(&sig) } else { sig };
        std::fs::write(tmp.join("msg"), b"imported").unwrap();
        std::fs::write(tmp.join("sig"), &sig).unwrap();
        let pubpem = tmp.join("work").join(spki);
        sh(
            "openssl",
            &[
                "dgst",
                if l == "imp384" { "-sha384" } else { "-sha256" },
                "-keyform",
                "DER",
                "-verify",
                ps(&pubpem),
                "-signature",
                ps(&tmp.join("sig")),
                ps(&tmp.join("msg")),
            ],
        );
    };
    check(&s, "imprsa", "rsa.spki", Mechanism::Sha256RsaPkcs, false);
    check(&s, "imp384", "p384.spki", Mechanism::EcdsaSha384, true);
    let s = alpha_session(&m.p11, false);
    assert_eq!(flags_of(&s, find(&s, ObjectClass::PRIVATE_KEY, "impk1")), imported);
    check(&s, "impk1", "k1.spki", Mechanism::EcdsaSha256, true);
}

/// PKCS#11's raw r||s ECDSA signature as the DER SEQUENCE openssl verifies.
fn raw_to_der(sig: &[u8]) -> Vec<u8> {
    let int = |b: &[u8]| {
        let b: Vec<u8> = b.iter().copied().skip_while(|x| *x == 0).collect();
        let mut v = if b.first().is_some_and(|x| x & 0x80 != 0) { vec![0] } else { vec![] };
        v.extend(b);
        let mut out = vec![0x02, v.len() as u8];
        out.extend(v);
        out
    };
    let (r, s) = sig.split_at(sig.len() / 2);
    let body: Vec<u8> = [int(r), int(s)].concat();
    let mut out = vec![0x30];
    if body.len() > 127 {
        out.push(0x81);
    }
    out.push(body.len() as u8);
    out.extend(body);
    out
}

#[test]
fn retarget_makes_the_same_key_under_another_name() {
    let env = Env::new();
    env.world("1/1", true, &["acs"]);
    env.ppmk_alpha();
    env.ok("generatekey", SEED_GENERATEKEY, &[]);
    let out = env.ok(
        "generatekey",
        "--generate pkcs11 type=AES size=128 protect=softcard softcard=alpha plainname=p11aes",
        &["alpha-pass"],
    );
    let p11_ident = word_after(&out, "ident");
    let acl_before = env.ok("aclprint", "simple contosokey", &[]);

    let e = env.fails(
        "generatekey",
        &format!("--retarget simple ident=c2 from-application=pkcs11 from-ident={p11_ident}"),
        &["bad-pass"],
    );
    assert!(e.contains("wrong passphrase"), "{e}");
    assert!(!env.local("key_simple_c2").exists(), "a wrong passphrase writes no key");
    let before = env.snapshot();
    let refusals: [(String, &[&str], &str); 4] = [
        ("--retarget custom ident=c from-application=simple from-ident=nokey".into(), &[], "there is no key"),
        ("--retarget simple ident=contosokey from-application=simple from-ident=contosokey".into(), &[], "same key"),
        ("--retarget custom ident=c from-application=simple".into(), &[], "from-ident="),
        ("--retarget custom ident=c from-application=simple from-ident=contosokey size=4".into(), &[], "size="),
    ];
    for (args, pass, expect) in &refusals {
        let e = env.fails("generatekey", args, pass);
        assert!(e.contains(expect), "{args}: {e}");
        assert_eq!(before, env.snapshot(), "{args} changed something");
    }
    // Attack: the BYOK transfer copy (ACL: wrapped export only) may not be copied to a key with
    // a fresh, wider use; positive control below (the ordinary key retargets).
    env.ok("byok-toolset", "--region EU", &[]);
    env.ok(
        "KeyTransferRemote",
        "-ModifyAcls -KeyAppName simple -KeyIdentifier contosokey -ExchangeKeyPackage BYOK-KEK-pkg-EU-1 \
         -NewSecurityWorldPackage BYOK-SecurityWorld-pkg-EU-1",
        &["acs"],
    );
    let before = env.snapshot();
    let e =
        env.fails("generatekey", "--retarget simple ident=wider from-application=xferacld from-ident=contosokey", &[]);
    assert!(e.contains("does not allow a new blob"), "{e}");
    assert_eq!(before, env.snapshot());
    env.ok("generatekey", "--retarget custom ident=copy from-application=simple from-ident=contosokey", &[]);
    assert!(env.local("key_custom_copy").exists() && env.local("key_custom_copy_pub").exists());
    assert!(env.kmdata().join("emu/recovery/key_custom_copy.json").exists(), "recoverable like its source");
    let acl_after = env.ok("aclprint", "custom copy", &[]);
    let body = |a: &str| a.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(body(&acl_before), body(&acl_after), "the same ACL");
    let out = env.ok(
        "generatekey",
        &format!("--retarget simple ident=fromp11 plainname=retargeted from-application=pkcs11 from-ident={p11_ident}"),
        &["alpha-pass"],
    );
    assert!(out.contains("softcard:"), "{out}");
    // The target exists now: refused, nothing changes.
    let before = env.snapshot();
    let e = env.fails("generatekey", "--retarget custom ident=copy from-application=simple from-ident=contosokey", &[]);
    assert!(e.contains("already exists"), "{e}");
    assert_eq!(before, env.snapshot());
    assert!(env.ok("nfkminfo", "-l", &[]).contains("`retargeted'"));

    // Through the library: the copies are the same keys.
    let m = common::Module::load_at(env.dir);
    let s = m.p11.open_ro_session(common::module_slot()).unwrap();
    let find = |s: &cryptoki::session::Session, c: ObjectClass, l: &str| {
        let mut t = label(l);
        t.push(Attribute::Class(c));
        s.find_objects(&t).unwrap()
    };
    let sks = find(&s, ObjectClass::PRIVATE_KEY, "contosokey");
    assert_eq!(sks.len(), 2, "the key and its retargeted copy");
    let pk = find(&s, ObjectClass::PUBLIC_KEY, "contosokey")[0];
    for sk in sks {
        let sig = s.sign(&Mechanism::Sha256RsaPkcs, sk, b"retarget").unwrap();
        s.verify(&Mechanism::Sha256RsaPkcs, pk, b"retarget", &sig).unwrap();
    }
    let s = alpha_session(&m.p11, false);
    let (a, b) = (find(&s, ObjectClass::SECRET_KEY, "p11aes")[0], find(&s, ObjectClass::SECRET_KEY, "retargeted")[0]);
    let ct = s.encrypt(&Mechanism::AesEcb, a, &[5u8; 16]).unwrap();
    assert_eq!(s.decrypt(&Mechanism::AesEcb, b, &ct).unwrap(), vec![5u8; 16]);
    let flags = [AttributeType::Local, AttributeType::NeverExtractable, AttributeType::Sensitive];
    assert_eq!(s.get_attributes(a, &flags).unwrap(), s.get_attributes(b, &flags).unwrap(), "the same history");
}

trait Alpha {
    fn ppmk_alpha(&self);
}

impl Alpha for Env {
    fn ppmk_alpha(&self) {
        self.ok("ppmk", "--new alpha", &["alpha-pass"]);
    }
}

/// `ckinfo` and `cklist` are PKCS#11 clients of the built library (loaded by dlopen); key
/// material never appears in what they print, even for a key whose attributes would reveal it.
#[test]
fn ckinfo_and_cklist_are_pkcs11_clients_that_print_no_key_material() {
    let env = Env::new();
    env.world("1/1", false, &["acs"]);
    env.ppmk_alpha();
    env.ok("generatekey", SEED_GENERATEKEY, &[]);
    env.ok(
        "generatekey",
        "--generate simple type=AES protect=softcard softcard=alpha ident=sk plainname=soft-aes",
        &["alpha-pass"],
    );
    // Through the library: a readable (non-sensitive, extractable) private AES key of a known value.
    let value: Vec<u8> = (0x10u8..0x30).collect();
    let so = env.dir.path().join("lib-ck.so");
    std::fs::copy(common::built_module(), &so).unwrap();
    {
        let p11 = common::init_at(&so, &env.kmdata());
        let s = alpha_session(&p11, true);
        let k = s
            .create_object(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(cryptoki::object::KeyType::AES),
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(false),
                Attribute::Extractable(true),
                Attribute::Label(b"readable-aes".to_vec()),
                Attribute::Value(value.clone()),
            ])
            .unwrap();
        // Control: the library itself does reveal this value to a logged-in caller.
        assert_eq!(s.get_attributes(k, &[AttributeType::Value]).unwrap(), vec![Attribute::Value(value.clone())]);
    }
    let lib = format!("--library={}", so.display());

    let info = env.ok("ckinfo", &lib, &[]);
    assert!(
        info.contains("CK_INFO") && info.contains("\"alpha\"") && info.contains("\"loadshared accelerator\""),
        "{info}"
    );
    assert!(info.contains("TOKEN_INITIALIZED") && info.contains("mechanisms ("), "{info}");
    // Found without --library: next to the program (target/release/), as installed.
    assert!(env.ok("ckinfo", "", &[]).contains("CK_INFO"));

    // Without a PIN: public objects only.
    let list = env.ok("cklist", &lib, &[]);
    assert!(list.contains("\"contosokey\"") && list.contains("CKA_MODULUS "), "{list}");
    assert!(!list.contains("readable-aes") && !list.contains("soft-aes"), "private objects before login: {list}");
    // With the PIN (given, or asked for): the token's private objects, attributes, no values.
    let list = env.ok("cklist", &format!("{lib} -p alpha-pass"), &[]);
    let asked = env.ok("cklist", &format!("{lib} --login"), &["alpha-pass"]);
    for l in [&list, &asked] {
        assert!(l.contains("\"readable-aes\"") && l.contains("\"soft-aes\"") && l.contains("(logged in)"), "{l}");
        assert!(l.contains("CKA_SENSITIVE FALSE") && l.contains("CKA_VALUE_LEN 32"), "{l}");
        let hex_value = value.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert!(!l.to_ascii_lowercase().contains(&hex_value), "the key's value was printed: {l}");
        assert!(!l.contains("CKA_VALUE "), "{l}");
        assert!(!l.contains("CKA_PRIVATE_EXPONENT") && !l.contains("CKA_PRIME_1"), "{l}");
    }
    let before = env.snapshot();
    for (args, expect) in [
        (format!("{lib} -p wrong-pin-1"), "wrong PIN"),
        (format!("{lib} -s 0x77"), "no token"),
        ("--library=/nonexistent/libx.so".to_string(), "cannot load"),
        (format!("{lib} -s zz"), "not a slot number"),
    ] {
        let e = env.fails("cklist", &args, &[]);
        assert!(e.contains(expect), "{args}: {e}");
    }
    let e = env.fails("ckinfo", "--library=/nonexistent/libx.so", &[]);
    assert!(e.contains("cannot load"), "{e}");
    // (A wrong PIN counts against the softcard's tries; nothing else changes.)
    let after = env.snapshot();
    let changed: Vec<_> = after.iter().filter(|(k, v)| before.get(*k) != Some(v)).map(|(k, _)| k.clone()).collect();
    assert!(
        changed.iter().all(|k| k.to_string_lossy().contains("counters") || k.to_string_lossy().contains("softcard_")),
        "{changed:?}"
    );
    // A second token that needs a login: a PIN without -s is refused before any login.
    env.ok("ppmk", "--new beta", &["beta-pass"]);
    let e = env.fails("cklist", &format!("{lib} -p alpha-pass"), &[]);
    assert!(e.contains("2 tokens need a login"), "{e}");
    let slot = word_after(&info_of(&env, &lib), "alpha");
    let list = env.ok("cklist", &format!("{lib} -s {slot} -p alpha-pass"), &[]);
    assert!(list.contains("\"readable-aes\"") && !list.contains("\"beta\""), "{list}");
}

/// The card directory `new-world`/`createocs` used for a set (the default place), by set hash.
fn cards_of(env: &Env, hash: &str) -> std::path::PathBuf {
    env.kmdata().join("emu/cards").join(hash)
}

fn ocs_hash(env: &Env, name: &str) -> String {
    let cs = env.ok("nfkminfo", "-c", &[]);
    cs.lines()
        .find(|l| l.ends_with(name))
        .unwrap_or_else(|| panic!("{name}: {cs}"))
        .split_whitespace()
        .next()
        .unwrap()
        .into()
}

#[test]
fn rocs_moves_recoverable_keys_to_a_new_card_set() {
    let env = Env::new();
    env.world("2/3", true, &["p1", "p2", "p3"]);
    env.ok("createocs", "-m1 -Q 1/1 -N lost", &["old-ocs"]);
    env.ok("generatekey", "--generate simple type=RSA protect=token cardset=lost ident=rk recovery=yes", &["old-ocs"]);
    env.ok("generatekey", "--generate simple type=AES protect=token cardset=lost ident=nr recovery=no", &["old-ocs"]);
    let old_hash = ocs_hash(&env, "lost");
    let old_cards = cards_of(&env, &old_hash);
    assert!(env.ok("aclprint", "simple rk", &["old-ocs"]).contains(&old_hash));
    let pub_before = std::fs::read(env.local("key_simple_rk_pub")).unwrap();

    let before = env.snapshot();
    let refusals: [(&str, &[&str], &str); 5] = [
        ("-m1 -l lost -Q 1/2 -N newset", &["p1"], "no passphrase left"),
        ("-m1 -l lost -Q 1/2 -N newset", &["p1", "wrong"], "the quorum failed"),
        ("-m1 -l nosuchset -Q 1/2 -N newset", &[], "no Operator Card Set"),
        ("-m1 -l lost -Q 1/2 -N lost", &[], "already exists"),
        ("-m1 -l lost -Q 3/2 -N newset", &[], "K > N"),
    ];
    for (args, pass, expect) in refusals {
        let e = env.fails("rocs", args, pass);
        assert!(e.contains(expect), "{args}: {e}");
        assert_eq!(before, env.snapshot(), "rocs {args} changed something");
    }
    // A recovery blob swapped for another key's is refused (the blob names its file).
    env.ok("generatekey", "--generate simple type=RSA protect=token cardset=lost ident=rk2 recovery=yes", &["old-ocs"]);
    let blob = |id: &str| env.kmdata().join(format!("emu/recovery/key_simple_{id}.json"));
    let saved = std::fs::read(blob("rk")).unwrap();
    std::fs::copy(blob("rk2"), blob("rk")).unwrap();
    let before = env.snapshot();
    let e = env.fails("rocs", "-m1 -l lost -Q 1/2 -N newset", &["p1", "p2", "n1", "n2"]);
    assert!(e.contains("recovery blob of key_simple_rk"), "{e}");
    assert_eq!(before, env.snapshot());
    std::fs::write(blob("rk"), saved).unwrap();
    let out = env.ok("rocs", "-m1 -l lost -Q 1/2 -N newset", &["p1", "p2", "n1", "n2"]);
    assert!(out.contains("Recovered keys (2):") && out.contains("key_simple_rk\n"), "{out}");
    assert!(out.contains("Not recoverable") && out.contains("key_simple_nr"), "{out}");
    let new_hash = ocs_hash(&env, "newset");
    assert_ne!(new_hash, old_hash);

    // The lost set's card no longer opens the recovered key; one card of the new set does.
    let e = env.fails("aclprint", &format!("simple rk --card-dir={}", old_cards.display()), &["old-ocs"]);
    assert!(e.contains("only 0 of its cards"), "{e}");
    let acl = env.ok("aclprint", "simple rk", &["n1"]);
    assert!(acl.contains(&format!("lt:{new_hash}")) || acl.contains(&new_hash), "{acl}");
    assert!(!acl.contains(&old_hash), "the ACL follows the key to the new set: {acl}");
    let names = env.ok("nfkminfo", "-k simple rk", &[]);
    assert!(names.contains("recovery    Enabled"), "a new recovery blob: {names}");
    // The same key: its public half is unchanged apart from its owner.
    let pub_after = std::fs::read(env.local("key_simple_rk_pub")).unwrap();
    assert_ne!(pub_before, pub_after);
    assert!(env.ok("kmfile-dump", "key_simple_rk_pub", &[]).contains(&new_hash));
    // The key without recovery stays with the lost set, whose card still opens it.
    assert!(env.ok("aclprint", "simple nr", &["old-ocs"]).contains(&old_hash));
    // Recovering again from the new set works too (the new blob opens).
    env.ok("rocs", "-m1 -l newset -Q 1/1 -N third", &["p1", "p2", "t1"]);
    assert!(env.ok("aclprint", "simple rk", &["t1"]).contains(&ocs_hash(&env, "third")));
}

#[test]
fn racs_replaces_the_administrator_cards() {
    let env = Env::new();
    env.world("2/3", true, &["p1", "p2", "p3"]);
    env.ok("generatekey", SEED_GENERATEKEY, &[]);
    env.ok("add-module", "", &[]);
    env.ok("hsm-mode", "--module=2 --mode=init", &[]);
    let w = env.ok("nfkminfo", "-w", &[]);
    let acs_dir = std::fs::read_dir(env.kmdata().join("emu/cards")).unwrap().next().unwrap().unwrap().path();
    let new_dir = env.dir.path().join("new-acs");

    let before = env.snapshot();
    for (args, pass, expect) in [
        (format!("-m1 -Q 1/2 --card-dir={}", new_dir.display()), &["p1", "bad"][..], "the quorum failed"),
        (format!("-m1 -Q 0/2 --card-dir={}", new_dir.display()), &[][..], "at least one card"),
        ("-m1".to_string(), &[][..], "-Q K/N"),
    ] {
        let e = env.fails("racs", &args, pass);
        assert!(e.contains(expect), "{args}: {e}");
        assert_eq!(before, env.snapshot(), "racs {args} changed something");
    }
    let out = env.ok("racs", &format!("-m1 -Q 1/2 --card-dir={}", new_dir.display()), &["p1", "p2", "q1", "q2"]);
    assert!(out.contains("1/2"), "{out}");
    assert!(env.ok("nfkminfo", "-w", &[]) != w, "the world shows the new set");

    // An ACS operation: the old cards are refused, one new card is enough.
    let old = format!("-l --module=2 --card-dir={}", acs_dir.display());
    let e = env.fails("new-world", &old, &["p1", "p2"]);
    assert!(e.contains("only 0 of its cards"), "{e}");
    env.ok("new-world", &format!("-l --module=2 --card-dir={}", new_dir.display()), &["q1"]);
    // And the old quorum cannot replace the set again.
    let e = env.fails("racs", &format!("-m1 -Q 1/1 --old-card-dir={}", acs_dir.display()), &["p1", "p2", "x1"]);
    assert!(e.contains("only 0 of its cards"), "{e}");
    // The world's keys are the same: the module key still opens, new keys are made.
    assert!(env.ok("aclprint", "simple contosokey", &[]).contains("contosokey"));
    env.ok("generatekey", "--generate simple type=AES ident=after", &[]);
    // The ACS's authority over key ACLs (KeyTransferRemote -ModifyAcls) follows the new cards.
    env.ok("byok-toolset", "--region EU", &[]);
    let ma = format!(
        "-ModifyAcls -KeyAppName simple -KeyIdentifier contosokey -ExchangeKeyPackage BYOK-KEK-pkg-EU-1 \
         -NewSecurityWorldPackage BYOK-SecurityWorld-pkg-EU-1 --card-dir={}",
        acs_dir.display()
    );
    assert!(env.fails("KeyTransferRemote", &ma, &["p1", "p2"]).contains("only 0 of its cards"));
    let ma_new = ma.replace(&acs_dir.display().to_string(), &new_dir.display().to_string());
    assert!(env.ok("KeyTransferRemote", &ma_new, &["q1"]).contains("Result: SUCCESS"));
}

/// ckinfo's output with each slot's token label after its slot line, for `word_after`:
/// `slot [0x2] ... label "alpha"` becomes `alpha 0x2`.
fn info_of(env: &Env, lib: &str) -> String {
    let info = env.ok("ckinfo", lib, &[]);
    let mut out = String::new();
    let mut slot = String::new();
    for l in info.lines() {
        if let Some(rest) = l.strip_prefix("slot [") {
            slot = rest.split(']').next().unwrap().to_string();
        } else if let Some(label) = l.trim().strip_prefix("label ") {
            out.push_str(&format!("{} {slot}\n", label.trim_matches('"')));
        }
    }
    out
}
