//! The `shieldhsm` tool end to end: the built binary (`target/release/shieldhsm`) run as a user
//! would, against a temporary data directory, with passphrases from SHIELDHSM_PASSPHRASE_FILE.

mod common;
use common::cli::*;

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use std::path::Path;

#[test]
fn seed_steps_run_as_written() {
    let env = Env::new();
    let links = env.dir.path().join("bin");
    env.ok("install-links", links.to_str().unwrap(), &[]);
    for name in ["new-world", "generatekey", "nfkminfo", "KeyTransferRemote", "verifykeypackage"] {
        assert!(std::fs::symlink_metadata(links.join(name)).unwrap().file_type().is_symlink(), "{name}");
    }
    let tool = |name: &str, args: &str, pass: &[&str]| {
        let v: Vec<&str> = args.split_whitespace().collect();
        let o = env.exec(&links.join(name), &v, pass);
        assert!(o.status.success(), "{name} {args}:\n{}{}", text(&o.stdout), text(&o.stderr));
        text(&o.stdout)
    };
    tool("new-world", SEED_NEW_WORLD, &["acs-one", "acs-two", "acs-three"]);
    assert!(env.local("world").exists());
    let out = tool("generatekey", SEED_GENERATEKEY, &[]);
    assert!(out.contains("key_simple_contosokey"), "{out}");
    assert!(env.local("key_simple_contosokey").exists());

    let keys = tool("nfkminfo", "-k", &[]);
    assert!(keys.contains("AppName simple") && keys.contains("Ident contosokey"), "{keys}");
    let info = tool("nfkminfo", "", &[]);
    assert!(info.contains("ciphersuite DLf1024s160mRijndael"), "{info}");
    assert!(info.contains("k-out-of-n  2/3"), "{info}");
    assert!(info.contains("Usable"), "{info}");
    let names = tool("nfkminfo", "-l", &[]);
    assert!(names.contains("key_simple_contosokey `contosokey'"), "{names}");
    let acl = tool("aclprint", "simple contosokey", &[]);
    assert!(acl.contains("Sign") && !acl.contains("ExportAsPlain"), "{acl}");
    let dump = tool("kmfile-dump", env.local("key_simple_contosokey").to_str().unwrap(), &[]);
    assert!(dump.contains("CKA_LABEL") && dump.contains("<sensitive: not shown>"), "{dump}");
    let en = tool("enquiry", "", &[]);
    assert!(en.contains("mode                 operational"), "{en}");
    // A tool run through its link with missing parameters says what is missing, in one line.
    let o = env.exec(&links.join("KeyTransferRemote"), &["-ModifyAcls"], &[]);
    assert_eq!(o.status.code(), Some(1));
    one_error_line("KeyTransferRemote", &o);
}

#[test]
fn pkcs11_library_sees_the_keys() {
    let env = Env::new();
    env.world("1/1", false, &["acs"]);
    env.ok("generatekey", SEED_GENERATEKEY, &[]);
    env.ok("ppmk", "--new webapp", &["soft-pass-1"]);
    let out = env.ok(
        "generatekey",
        "--generate pkcs11 type=EC curve=NISTP256 protect=softcard softcard=webapp plainname=weblabel",
        &["soft-pass-1"],
    );
    assert!(out.contains("ident us"), "{out}");
    env.ok("generatekey", "--generate pkcs11 type=AES size=128 plainname=modaes", &[]);

    let m = common::Module::load_at(env.dir);
    let label = |l: &str| vec![Attribute::Label(l.as_bytes().to_vec())];
    // Module slot: the seed's key pair and the pkcs11 AES key, without login.
    let s0 = common::module_slot();
    let s = m.p11.open_ro_session(s0).unwrap();
    let objs = s.find_objects(&label("contosokey")).unwrap();
    assert_eq!(objs.len(), 2, "private and public halves");
    let classes: Vec<ObjectClass> = objs
        .iter()
        .map(|o| match s.get_attributes(*o, &[AttributeType::Class]).unwrap().remove(0) {
            Attribute::Class(c) => c,
            _ => unreachable!(),
        })
        .collect();
    assert!(classes.contains(&ObjectClass::PRIVATE_KEY) && classes.contains(&ObjectClass::PUBLIC_KEY));
    assert_eq!(s.find_objects(&label("modaes")).unwrap().len(), 1);
    // The softcard is a token whose user PIN is its passphrase.
    let slot = m
        .p11
        .get_slots_with_initialized_token()
        .unwrap()
        .into_iter()
        .find(|sl| m.p11.get_token_info(*sl).map(|t| t.label() == "webapp").unwrap_or(false))
        .expect("a slot for softcard webapp");
    let s = m.p11.open_ro_session(slot).unwrap();
    assert_eq!(s.find_objects(&label("weblabel")).unwrap().len(), 1, "only the public half before login");
    s.login(UserType::User, Some(&AuthPin::new("soft-pass-1".into()))).unwrap();
    assert_eq!(s.find_objects(&label("weblabel")).unwrap().len(), 2);
    // Both keys sign through the C ABI, and their public halves verify.
    let class = |c: ObjectClass, l: &str| vec![Attribute::Class(c), Attribute::Label(l.as_bytes().to_vec())];
    let (sk, pk) = (
        s.find_objects(&class(ObjectClass::PRIVATE_KEY, "weblabel")).unwrap()[0],
        s.find_objects(&class(ObjectClass::PUBLIC_KEY, "weblabel")).unwrap()[0],
    );
    let sig = s.sign(&Mechanism::EcdsaSha256, sk, b"softcard message").unwrap();
    s.verify(&Mechanism::EcdsaSha256, pk, b"softcard message", &sig).unwrap();
    let s0 = m.p11.open_ro_session(common::module_slot()).unwrap();
    let (msk, mpk) = (
        s0.find_objects(&class(ObjectClass::PRIVATE_KEY, "contosokey")).unwrap()[0],
        s0.find_objects(&class(ObjectClass::PUBLIC_KEY, "contosokey")).unwrap()[0],
    );
    let sig = s0.sign(&Mechanism::Sha256RsaPkcs, msk, b"module message").unwrap();
    s0.verify(&Mechanism::Sha256RsaPkcs, mpk, b"module message", &sig).unwrap();
}

#[test]
fn any_k_acs_cards_load_the_world_and_fewer_do_not() {
    let env = Env::new();
    env.world("2/3", false, &["p1", "p2", "p3"]);
    env.ok("add-module", "", &[]);
    env.ok("hsm-mode", "--module=2 --mode=init", &[]);
    let hash = std::fs::read_dir(env.kmdata().join("emu/cards")).unwrap().next().unwrap().unwrap().path();
    for pick in [[1, 2], [1, 3], [2, 3]] {
        let cd = env.dir.path().join(format!("cards-{}{}", pick[0], pick[1]));
        std::fs::create_dir(&cd).unwrap();
        for i in pick {
            std::fs::copy(hash.join(format!("card_{i}.json")), cd.join(format!("card_{i}.json"))).unwrap();
        }
        let pass: Vec<String> = pick.iter().map(|i| format!("p{i}")).collect();
        let pass: Vec<&str> = pass.iter().map(String::as_str).collect();
        env.ok("new-world", &format!("-l --module=2 --card-dir={}", cd.display()), &pass);
    }
    let info = env.ok("nfkminfo", "", &[]);
    assert!(info.contains("n_modules   2"), "{info}");
    // One card is not a quorum.
    let one = env.dir.path().join("one-card");
    std::fs::create_dir(&one).unwrap();
    std::fs::copy(hash.join("card_3.json"), one.join("card_3.json")).unwrap();
    let before = env.snapshot();
    let e = env.fails("new-world", &format!("-l --module=2 --card-dir={}", one.display()), &["p3"]);
    assert!(e.contains("only 1 of its cards"), "{e}");
    // A wrong passphrase is refused and changes nothing (card files included).
    let e = env.fails("new-world", "-l --module=2", &["p1", "wrong"]);
    assert!(e.contains("the quorum failed") && !e.contains("card 2"), "{e}");
    assert_eq!(before, env.snapshot());
    // A damaged card is reported, not used.
    let card1 = hash.join("card_1.json");
    let mut bytes = std::fs::read(&card1).unwrap();
    let pos = bytes.windows(7).position(|w| w == b"\"share\"").unwrap() + 12;
    bytes[pos] = if bytes[pos] == b'A' { b'B' } else { b'A' };
    std::fs::write(&card1, &bytes).unwrap();
    let e = env.fails("new-world", "-l --module=2", &["p1", "p2"]);
    assert!(e.contains("card_1.json is damaged"), "{e}");
}

#[test]
fn three_of_five_operator_cards() {
    let env = Env::new();
    env.world("1/1", false, &["acs"]);
    let out = env.ok("createocs", "-m1 -Q 3/5 -N operators -p", &["o1", "o2", "o3", "o4", "o5"]);
    assert!(out.contains("3/5"), "{out}");
    env.ok(
        "generatekey",
        "--generate simple type=AES protect=token cardset=operators ident=opkey",
        &["o1", "o2", "o3"],
    );
    let cs = env.ok("nfkminfo", "-c", &[]);
    assert!(cs.contains("3/5") && cs.contains("operators"), "{cs}");
    let hash = cs.lines().find(|l| l.contains("operators")).unwrap().split_whitespace().next().unwrap().to_string();
    assert!(env.local(&format!("card_{hash}")).exists() && env.local(&format!("cards_{hash}_5")).exists());
    let src = env.kmdata().join("emu/cards").join(&hash);
    let subsets = |k: usize| -> Vec<Vec<usize>> {
        (0u32..32)
            .filter(|m| m.count_ones() as usize == k)
            .map(|m| (1..=5).filter(|i| m & (1 << (i - 1)) != 0).collect())
            .collect()
    };
    for (k, works) in [(3, true), (2, false)] {
        for set in subsets(k) {
            let cd = env.dir.path().join(format!("ocs-{}", uniq()));
            std::fs::create_dir(&cd).unwrap();
            for i in &set {
                std::fs::copy(src.join(format!("card_{i}.json")), cd.join(format!("card_{i}.json"))).unwrap();
            }
            let pass: Vec<String> = set.iter().map(|i| format!("o{i}")).collect();
            let pass: Vec<&str> = pass.iter().map(String::as_str).collect();
            let args = format!("simple opkey --card-dir={}", cd.display());
            if works {
                let acl = env.ok("aclprint", &args, &pass);
                assert!(acl.contains(&format!("lt:{hash}")) || acl.contains(&hash), "{acl}");
            } else {
                let e = env.fails("aclprint", &args, &pass);
                assert!(e.contains("only 2 of its cards"), "{set:?}: {e}");
            }
        }
    }
    // The key cannot be opened with the world key alone.
    let dump = env.ok("kmfile-dump", "key_simple_opkey", &[]);
    assert!(dump.contains("sealed under the token"), "{dump}");
}

#[test]
fn softcard_keys() {
    let env = Env::new();
    env.world("1/1", false, &["acs"]);
    env.ok("ppmk", "--new alpha", &["alpha-pass"]);
    env.ok(
        "generatekey",
        "--generate simple type=RSA size=2048 protect=softcard softcard=alpha ident=sk1",
        &["alpha-pass"],
    );
    let e = env.fails(
        "generatekey",
        "--generate simple type=AES protect=softcard softcard=alpha ident=sk2",
        &["nope-nope"],
    );
    assert!(e.contains("wrong passphrase for softcard"), "{e}");
    assert!(!env.local("key_simple_sk2").exists());
    let sc = env.ok("nfkminfo", "-s", &[]);
    assert!(sc.contains("alpha"), "{sc}");
    let names = env.ok("nfkminfo", "-l", &[]);
    let soft_part = names.split("Keys protected by softcards:").nth(1).unwrap();
    assert!(soft_part.contains("key_simple_sk1"), "{names}");
    let acl = env.ok("aclprint", "simple sk1", &["alpha-pass"]);
    assert!(acl.contains("softcard:"), "{acl}");
    let e = env.fails("ppmk", "--new short", &["abc"]);
    assert!(e.contains("4 to 256"), "{e}");
}

#[test]
fn bad_input_is_one_line_and_changes_nothing() {
    let env = Env::new();
    env.world("2/3", false, &["p1", "p2", "p3"]);
    env.ok("generatekey", SEED_GENERATEKEY, &[]);
    let before = env.snapshot();
    let cases: [(&str, &str, &[&str], &str); 9] = [
        ("new-world", "--initialize --cipher-suite=DLf9999 --acs-quorum=2/3", &["a", "b", "c"], "unknown cipher suite"),
        ("new-world", "--initialize --acs-quorum=4/3", &["a", "b", "c"], "K > N"),
        ("new-world", "--initialize --acs-quorum=0/3", &[], "at least one card"),
        ("new-world", "--initialize --acs-quorum=1/1", &["a"], "hsm-mode -m 1 I"),
        ("generatekey", "--generate simple type=RSA ident=has space", &[], "unexpected argument"),
        ("generatekey", "--generate simple type=RSA ident=has_underscore", &[], "may contain only"),
        ("generatekey", SEED_GENERATEKEY, &[], "already exists"),
        ("generatekey", "--generate simple type=RSA ident=k nvram=yes", &[], "NVRAM"),
        ("createocs", "-m1 -Q 3/2 -N x", &[], "K > N"),
    ];
    for (tool, args, pass, expect) in cases {
        let e = env.fails(tool, args, pass);
        assert!(e.contains(expect), "{tool} {args}: {e}");
        assert_eq!(before, env.snapshot(), "{tool} {args} changed the data directory");
    }
    // An ident with a space inside one argument (quoted on a shell command line).
    let o = env.exec(
        Path::new(env!("CARGO_BIN_EXE_shieldhsm")),
        &["generatekey", "--generate", "simple", "type=AES", "ident=my key"],
        &[],
    );
    assert!(one_error_line("generatekey", &o).contains("ident=my-key"));
    assert_eq!(before, env.snapshot());
    // Capitals are folded, as nShield does, and said so.
    let o = env.run("generatekey", "--generate simple type=AES ident=MixedCase", &[]);
    assert!(o.status.success());
    assert!(text(&o.stderr).contains("folded to lowercase: mixedcase"));
    assert!(env.local("key_simple_mixedcase").exists());

    // Wrong mode, both ways.
    env.ok("hsm-mode", "-m 1 I", &[]);
    let before = env.snapshot();
    let e = env.fails("generatekey", "--generate simple type=AES ident=z", &[]);
    assert!(e.contains("hsm-mode -m 1 O"), "{e}");
    assert_eq!(before, env.snapshot());

    // A module holding a world refuses new-world until put into initialisation mode.
    env.ok("hsm-mode", "-m 1 O", &[]);
    let before = env.snapshot();
    let e = env.fails("new-world", SEED_NEW_WORLD, &["a", "b", "c"]);
    assert!(e.contains("hsm-mode -m 1 I"), "{e}");
    assert_eq!(before, env.snapshot());

    let fresh = Env::new();
    fresh.ok("enquiry", "", &[]);
    let before = fresh.snapshot();
    // Missing cards: the passphrase file has two of the three passphrases.
    let e = fresh.fails("new-world", SEED_NEW_WORLD, &["a", "b"]);
    assert!(e.contains("no passphrase left for card 3"), "{e}");
    let e = fresh.fails("generatekey", "--generate simple type=AES ident=z", &[]);
    assert!(e.contains("no Security World"), "{e}");
    assert_eq!(before, fresh.snapshot());
}

#[test]
fn generatekey_rsa_sizes_are_exact() {
    let env = Env::new();
    env.world("1/1", false, &["acs"]);
    // 3092 is no multiple of 8, let alone of 128 (what the engine's own generator keeps).
    env.ok("generatekey", "--generate simple type=RSA size=3092 protect=module ident=odd3092 pubexp=17", &[]);
    // The public key file as kmfile-dump shows it: 387 bytes of modulus, CKA_MODULUS_BITS 3092.
    let dump = env.ok("kmfile-dump", "key_simple_odd3092_pub", &[]);
    let field = |name: &str| {
        let line = dump.lines().find(|l| l.split_whitespace().next() == Some(name));
        line.unwrap_or_else(|| panic!("no {name} in:\n{dump}")).split_whitespace().nth(1).unwrap().to_string()
    };
    assert!(dump.contains("(387 bytes)"), "{dump}");
    assert_eq!(field("CKA_MODULUS_BITS"), "0xC14", "{dump}");
    // The first modulus byte is 0x08..=0x0f: bit 3091 is the top one.
    assert!(matches!(&field("CKA_MODULUS")[..2], "08" | "09" | "0a" | "0b" | "0c" | "0d" | "0e" | "0f"), "{dump}");
    assert_eq!(field("CKA_PUBLIC_EXPONENT"), "11");
    // Out of range: one line, nothing written.
    let before = env.snapshot();
    for (size, expect) in [("8193", "not supported"), ("1500", "weak key size"), ("2047", "weak key size")] {
        let e = env.fails("generatekey", &format!("--generate simple type=RSA size={size} ident=r{size}"), &[]);
        assert!(e.contains(expect), "{size}: {e}");
        assert_eq!(before, env.snapshot());
    }

    // Through the library: the module slot (id 0) holds the pair, exactly 3092 bits, and it signs.
    let m = common::Module::load_at(env.dir);
    let s = m.p11.open_ro_session(cryptoki::slot::Slot::try_from(0u64).unwrap()).unwrap();
    let find =
        |c: ObjectClass| s.find_objects(&[Attribute::Class(c), Attribute::Label(b"odd3092".to_vec())]).unwrap()[0];
    let (sk, pk) = (find(ObjectClass::PRIVATE_KEY), find(ObjectClass::PUBLIC_KEY));
    let n = match s.get_attributes(pk, &[AttributeType::Modulus]).unwrap().remove(0) {
        Attribute::Modulus(n) => n,
        other => panic!("{other:?}"),
    };
    assert_eq!((n.len(), n[0] >> 3), (387, 1));
    let sig = s.sign(&Mechanism::Sha256RsaPkcs, sk, b"generatekey 3092").unwrap();
    assert_eq!(sig.len(), 387);
    s.verify(&Mechanism::Sha256RsaPkcs, pk, b"generatekey 3092", &sig).unwrap();
}
