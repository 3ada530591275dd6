//! The BYOK tools end to end: the built binary (`target/release/shieldhsm`) run as a user would,
//! against a temporary data directory, with passphrases from SHIELDHSM_PASSPHRASE_FILE. Every
//! `.byok` made here is checked by three independent means: our Python checker
//! `tests/tools/verify_byok.py` (pyca/cryptography), plain `openssl` (docs/nshield-emulation.md
//! §3.6), and the JSON schema `tests/data/byok/byok.schema.json` (python jsonschema) — plus our
//! own `byok-verify`.
//!
//! Needs `python3` with `cryptography` and `jsonschema` (requirements-test.txt) and `openssl`.

mod common;
use common::cli::*;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const SEED_MODIFY_ACLS: &str = "-ModifyAcls -KeyAppName simple -KeyIdentifier contosokey \
     -ExchangeKeyPackage BYOK-KEK-pkg-EU-1 -NewSecurityWorldPackage BYOK-SecurityWorld-pkg-EU-1";
const SEED_PACKAGE: &str = "-Package -KeyIdentifier contosokey -ExchangeKeyPackage BYOK-KEK-pkg-EU-1 \
     -NewSecurityWorldPackage BYOK-SecurityWorld-pkg-EU-1 -SubscriptionId 6b5b3c52-1f4e-4c5d-9d7e-0123456789ab \
     -KeyFriendlyName ContosoFirstHSMkey";
const ACS3: [&str; 3] = ["acs-one", "acs-two", "acs-three"];

/// Our independent Python checker of `.byok` files (pyca/cryptography).
const VERIFY_BYOK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/verify_byok.py");
/// Our JSON Schema of the `.byok` file.
const BYOK_SCHEMA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/byok/byok.schema.json");

/// Runs an external program; it must succeed.
fn sh(program: &str, args: &[&str]) -> Output {
    let o = Command::new(program).args(args).stdin(Stdio::null()).output().unwrap_or_else(|e| {
        panic!("cannot run {program} ({e}); the BYOK tests need python3 (pip install -r requirements-test.txt) and openssl")
    });
    assert!(o.status.success(), "{program} {args:?} failed:\n{}{}", text(&o.stdout), text(&o.stderr));
    o
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The value after `label` on the first line that starts with it (after trimming).
fn field(out: &str, label: &str) -> String {
    out.lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no `{label}` line in:\n{out}"))
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// What a `.byok` must hold.
#[derive(Clone, Copy, Debug)]
enum Target {
    Rsa(usize),
    Ec(&'static str),
    Aes(usize),
}

impl Target {
    /// verify_byok.py's name for it (`target=` on its OK line).
    fn py_name(self) -> String {
        match self {
            Target::Rsa(b) => format!("RSA-{b}"),
            Target::Ec(c) => format!("EC-{c}"),
            Target::Aes(b) => format!("AES-{b}"),
        }
    }
    fn generatekey(self) -> String {
        match self {
            Target::Rsa(b) => format!("type=RSA size={b}"),
            Target::Ec(c) => format!("type=EC curve=NIST{}", c.replace('-', "")),
            Target::Aes(b) => format!("type=AES size={b}"),
        }
    }
}

/// The KEK a package was made to: its private key file, kid and modulus size.
struct KekPriv<'a> {
    pem: &'a Path,
    kid: &'a str,
    bits: usize,
}

/// Checks `byok` every way there is: our byok-verify (with --expect-key), verify_byok.py, plain
/// openssl, and the JSON schema.
fn check_package(env: &Env, byok: &Path, kek: KekPriv<'_>, app: &str, ident: &str, t: Target) {
    let (kek_priv, kid, kek_bits) = (kek.pem, kek.kid, kek.bits);
    let tag = uniq();
    // The JSON: exactly the documented fields, unpadded base64url.
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(byok).unwrap()).unwrap();
    assert_eq!(doc["schema_version"], "1.0.0");
    assert_eq!(doc["header"]["kid"], kid);
    assert_eq!(doc["header"]["alg"], "dir");
    assert_eq!(doc["header"]["enc"], "CKM_RSA_AES_KEY_WRAP");
    let ct_b64 = doc["ciphertext"].as_str().unwrap();
    assert!(!ct_b64.contains(['+', '/', '=']), "ciphertext must be unpadded base64url");
    let ct = URL_SAFE_NO_PAD.decode(ct_b64).unwrap();
    let k = kek_bits / 8;
    assert!(ct.len() > k + 16 && (ct.len() - k) % 8 == 0, "ciphertext length {}", ct.len());

    // (0) our own verifier, compared with the key file.
    let pub_out = env.w(&format!("pub-{tag}.pem"));
    let args = format!(
        "{} --kek-private {} --kid {kid} --expect-key {app} {ident}{}",
        p(byok),
        p(kek_priv),
        if matches!(t, Target::Aes(_)) { String::new() } else { format!(" --public-out {}", p(&pub_out)) }
    );
    let v = env.ok("byok-verify", &args, &[]);
    assert!(v.contains(&format!("matches key_{app}_{ident}")), "{v}");
    assert!(v.contains("Result: SUCCESS"), "{v}");
    let plain_sha = field(&v, "plaintext  SHA-256");

    // (a) our Python checker (pyca/cryptography); for RSA/EC also against byok-verify's public key.
    let mut py_args = vec![VERIFY_BYOK, p(byok), p(kek_priv), "--kid", kid];
    if !matches!(t, Target::Aes(_)) {
        py_args.extend(["--expect-public", p(&pub_out)]);
    }
    let o = sh("python3", &py_args);
    let line = text(&o.stdout);
    assert!(line.starts_with("OK "), "{line}");
    let r: BTreeMap<&str, &str> = line.split_whitespace().filter_map(|w| w.split_once('=')).collect();
    assert_eq!(r["target"], t.py_name(), "{line}");
    assert_eq!(r["transfer_key"], "AES-256", "{line}");
    assert_eq!(r["kid"], kid, "{line}");
    assert_eq!(r["plaintext_sha256"], plain_sha, "verify_byok.py and byok-verify see the same plaintext");

    // (b) plain openssl, docs/nshield-emulation.md §3.6: split at k bytes, OAEP-SHA1 then RFC 5649.
    let part1 = env.w(&format!("part1-{tag}.bin"));
    let part2 = env.w(&format!("part2-{tag}.bin"));
    let aes = env.w(&format!("aes-{tag}.bin"));
    let target = env.w(&format!("target-{tag}.der"));
    std::fs::write(&part1, &ct[..k]).unwrap();
    std::fs::write(&part2, &ct[k..]).unwrap();
    sh(
        "openssl",
        &[
            "pkeyutl",
            "-decrypt",
            "-inkey",
            p(kek_priv),
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            "rsa_oaep_md:sha1",
            "-pkeyopt",
            "rsa_mgf1_md:sha1",
            "-in",
            p(&part1),
            "-out",
            p(&aes),
        ],
    );
    let aes_key = std::fs::read(&aes).unwrap();
    assert_eq!(aes_key.len(), 32);
    sh(
        "openssl",
        &[
            "enc",
            "-d",
            "-id-aes256-wrap-pad",
            "-iv",
            "A65959A6",
            "-K",
            &hex::encode(&aes_key),
            "-in",
            p(&part2),
            "-out",
            p(&target),
        ],
    );
    let plain = std::fs::read(&target).unwrap();
    assert_eq!(hex::encode(Sha256::digest(&plain)), plain_sha, "openssl and byok-verify see the same plaintext");
    match t {
        Target::Aes(bits) => {
            assert_eq!(plain.len() * 8, bits);
            sh("python3", &[VERIFY_BYOK, p(byok), p(kek_priv), "--expect-plaintext", p(&target)]);
        }
        _ => {
            // openssl parses the PKCS#8 and derives the same public key as the key file's.
            let o = sh("openssl", &["pkey", "-inform", "DER", "-in", p(&target), "-pubout"]);
            assert_eq!(text(&o.stdout), std::fs::read_to_string(&pub_out).unwrap(), "public keys differ");
            sh("python3", &[VERIFY_BYOK, p(byok), p(kek_priv), "--expect-plaintext", p(&target)]);
        }
    }

    // (c) the JSON schema.
    sh(
        "python3",
        &[
            "-c",
            "import json,sys,jsonschema; jsonschema.validate(json.load(open(sys.argv[1])), json.load(open(sys.argv[2])))",
            p(byok),
            BYOK_SCHEMA,
        ],
    );
    for f in [part1, part2, aes, target] {
        std::fs::remove_file(f).unwrap();
    }
}

#[test]
fn the_seed_workflow_end_to_end() {
    let env = Env::new();
    let links = env.dir.path().join("bin");
    env.ok("install-links", p(&links), &[]);
    for name in
        ["byok-toolset", "verifykeypackage", "KeyTransferRemote", "byok-verify", "byok-kek-import", "byok-test-kek"]
    {
        assert!(std::fs::symlink_metadata(links.join(name)).unwrap().file_type().is_symlink(), "{name}");
    }
    let tool = |name: &str, args: &str, pass: &[&str]| {
        let v: Vec<&str> = args.split_whitespace().collect();
        let o = env.exec(&links.join(name), &v, pass);
        assert!(o.status.success(), "{name} {args}:\n{}{}", text(&o.stdout), text(&o.stderr));
        text(&o.stdout)
    };
    // Step 3.1: the Security World.
    tool("hsm-mode", "-m 1 I", &[]);
    tool("new-world", SEED_NEW_WORLD, &ACS3);
    tool("hsm-mode", "-m 1 O", &[]);
    // Step 1.3 stand-in, then step 3.2: validate the downloaded packages.
    let ts = tool("byok-toolset", "--region EU", &[]);
    let kid = field(&ts, "kid");
    assert!(kid.starts_with("https://byok-emulated-eu.vault.azure.net/keys/KEKforBYOK/"), "{ts}");
    assert!(env.w("BYOK-KEK-pkg-EU-1").exists() && env.w("BYOK-SecurityWorld-pkg-EU-1").exists());
    let vk = tool("verifykeypackage", "-k BYOK-KEK-pkg-EU-1 -w BYOK-SecurityWorld-pkg-EU-1", &[]);
    assert!(vk.contains("Signed by: shieldhsm emulated vendor root (NOT Entrust/nCipher)"), "{vk}");
    assert!(vk.lines().any(|l| l == "Result: SUCCESS"), "{vk}");
    assert_eq!(field(&vk, "root SHA-1"), field(&ts, "root SHA-1"));
    assert_eq!(field(&vk, "root SHA-256"), field(&ts, "root SHA-256"));
    assert_ne!(field(&vk, "root SHA-1"), "59178a47de508c3f291277ee184f46c4f1d9c639");
    assert_eq!(field(&vk, "kid"), kid);
    // Step 3.3: the key.
    tool("generatekey", SEED_GENERATEKEY, &[]);
    // Step 4.1: the reduced-ACL copy, with 2 of the 3 ACS cards.
    let ma = tool("KeyTransferRemote", SEED_MODIFY_ACLS, &ACS3[..2]);
    assert!(ma.lines().any(|l| l == "Result: SUCCESS"), "{ma}");
    assert!(ma.contains("key_xferacld_contosokey"), "{ma}");
    assert!(env.local("key_xferacld_contosokey").exists() && env.local("key_simple_contosokey").exists());
    // Step 4.2: inspect it.
    let acl = tool("aclprint", "xferacld contosokey", &[]);
    assert!(acl.contains("ExportWrapped") && !acl.contains("Sign"), "{acl}");
    // Step 4.3: the transfer package.
    let pk = tool("KeyTransferRemote", SEED_PACKAGE, &[]);
    assert!(pk.lines().any(|l| l == "Result: SUCCESS"), "{pk}");
    assert!(pk.contains("KeyTransferPackage-ContosoFirstHSMkey.byok"), "{pk}");
    // The toolset's KEK is the emulated vault's: the next step is the emulated import (step 5).
    assert!(
        pk.contains(
            "Add-AzureKeyVaultKey -VaultName <your vault> -Name ContosoFirstHSMkey \
             -KeyFilePath KeyTransferPackage-ContosoFirstHSMkey.byok -Destination HSM"
        ),
        "{pk}"
    );
    assert!(!pk.contains("az keyvault key import"), "a real vault cannot import it: {pk}");
    assert!(pk.contains("6b5b3c52-1f4e-4c5d-9d7e-0123456789ab") && pk.contains("no slot"), "{pk}");
    let byok = env.w("KeyTransferPackage-ContosoFirstHSMkey.byok");
    let kek = KekPriv { pem: &env.region_kek("EU"), kid: &kid, bits: 2048 };
    check_package(&env, &byok, kek, "simple", "contosokey", Target::Rsa(2048));
    // The emulated vault's own KEK works for byok-verify too.
    let v = tool(
        "byok-verify",
        "KeyTransferPackage-ContosoFirstHSMkey.byok --region EU --expect-key key_simple_contosokey",
        &[],
    );
    assert!(v.contains("matches key_simple_contosokey") && v.contains("Result: SUCCESS"), "{v}");
    // The PowerShell-style names are case-insensitive.
    std::fs::remove_file(&byok).unwrap();
    let lower = SEED_PACKAGE.to_ascii_lowercase().replace("contosofirsthsmkey", "ContosoFirstHSMkey");
    let lower = lower
        .replace("byok-kek-pkg-eu-1", "BYOK-KEK-pkg-EU-1")
        .replace("byok-securityworld-pkg-eu-1", "BYOK-SecurityWorld-pkg-EU-1");
    tool("KeyTransferRemote", &lower, &[]);
    assert!(byok.exists());
}

#[test]
fn every_target_type_and_kek_size() {
    let env = Env::new();
    env.world("1/1", false, &["acs"]);
    // Three test KEKs, as a user without a vault would make them.
    let mut keks = BTreeMap::new();
    for bits in [2048, 3072, 4096] {
        let o = env.ok(
            "byok-test-kek",
            &format!("--size {bits} --out kek{bits}_priv.pem --pub kek{bits}.publickey.pem"),
            &[],
        );
        assert!(o.contains("for testing only, never for production"), "{o}");
        let kid = field(&o, "kid");
        assert!(kid.starts_with("https://test.vault.azure.net/keys/KEKforBYOK/"), "{o}");
        let priv_pem = std::fs::read_to_string(env.w(&format!("kek{bits}_priv.pem"))).unwrap();
        assert!(priv_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(env.w(&format!("kek{bits}_priv.pem"))).unwrap().mode() & 0o777, 0o600);
        let pub_pem = std::fs::read_to_string(env.w(&format!("kek{bits}.publickey.pem"))).unwrap();
        assert!(pub_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
        // openssl agrees on what was written.
        let o = sh(
            "openssl",
            &["pkey", "-pubin", "-in", p(&env.w(&format!("kek{bits}.publickey.pem"))), "-noout", "-text"],
        );
        assert!(text(&o.stdout).contains(&format!("({bits} bit)")), "{}", text(&o.stdout));
        // A modern Azure KEK has no attestation: verifykeypackage says so and only parses it.
        let vk = env.ok("verifykeypackage", &format!("-k kek{bits}.publickey.pem"), &[]);
        assert!(vk.contains("not vendor-attested") && vk.contains("Result: SUCCESS"), "{vk}");
        keks.insert(bits, kid);
    }
    // The 3072 KEK goes through byok-kek-import (the modern registration path).
    let imp =
        env.ok("byok-kek-import", &format!("--pem kek3072.publickey.pem --kid {} --name kek3072", keks[&3072]), &[]);
    assert!(imp.contains("RSA-3072") && imp.contains("kekpkg_kek3072"), "{imp}");
    assert!(env.local("kekpkg_kek3072").exists());

    let cases: Vec<(&str, Target, usize)> = vec![
        ("rsa2048", Target::Rsa(2048), 2048),
        ("rsa3072", Target::Rsa(3072), 2048),
        ("rsa4096", Target::Rsa(4096), 2048),
        ("ecp256", Target::Ec("P-256"), 2048),
        ("ecp384", Target::Ec("P-384"), 2048),
        ("ecp521", Target::Ec("P-521"), 2048),
        ("aes128", Target::Aes(128), 2048),
        ("aes192", Target::Aes(192), 2048),
        ("aes256", Target::Aes(256), 2048),
        ("ecp384-k3072", Target::Ec("P-384"), 3072),
        ("rsa2048-k4096", Target::Rsa(2048), 4096),
    ];
    for (ident, t, kek_bits) in cases {
        env.ok("generatekey", &format!("--generate simple {} protect=module ident={ident}", t.generatekey()), &[]);
        let kid = &keks[&kek_bits];
        let kek_arg = if kek_bits == 3072 {
            "-ExchangeKeyPackage kek3072".to_string()
        } else {
            format!("-ExchangeKeyPackage kek{kek_bits}.publickey.pem -KekId {kid}")
        };
        let ma = env.ok(
            "KeyTransferRemote",
            &format!("-ModifyAcls -KeyAppName simple -KeyIdentifier {ident} {kek_arg}"),
            &["acs"],
        );
        assert!(ma.contains("Result: SUCCESS"), "{ma}");
        let pk = env.ok(
            "KeyTransferRemote",
            &format!("-Package -KeyIdentifier {ident} {kek_arg} -KeyFriendlyName {ident}-transfer"),
            &[],
        );
        assert!(pk.contains("Result: SUCCESS"), "{pk}");
        let az_kind = match t {
            Target::Rsa(_) => "--kty RSA".to_string(),
            Target::Ec(c) => format!("--kty EC --curve {c}"),
            Target::Aes(_) => "--kty oct".to_string(),
        };
        let file = format!("KeyTransferPackage-{ident}-transfer.byok");
        let target = if matches!(t, Target::Aes(_)) { "--hsm-name test" } else { "--vault-name test" };
        assert!(
            pk.contains(&format!(
                "az keyvault key import {target} --name {ident}-transfer --byok-file {file} {az_kind}"
            )),
            "{pk}"
        );
        let priv_pem = env.w(&format!("kek{kek_bits}_priv.pem"));
        check_package(&env, &env.w(&file), KekPriv { pem: &priv_pem, kid, bits: kek_bits }, "simple", ident, t);
    }
    // The modern path registers each KEK it used.
    assert!(env.local("kekpkg_kek2048_publickey").exists() && env.local("kekpkg_kek4096_publickey").exists());
}

#[test]
fn refusals_are_one_line_and_change_nothing() {
    let env = Env::new();
    env.world("2/3", false, &ACS3);
    env.ok("byok-toolset", "--region EU", &[]);
    env.ok("generatekey", SEED_GENERATEKEY, &[]);
    env.ok("generatekey", "--generate simple type=AES size=256 protect=module ident=aeskey", &[]);
    let tk = env.ok("byok-test-kek", "--out other_priv.pem --pub other.publickey.pem", &[]);
    let other_kid = field(&tk, "kid");
    sh("openssl", &["genrsa", "-out", p(&env.w("rsa1024.pem")), "1024"]);
    sh("openssl", &["rsa", "-in", p(&env.w("rsa1024.pem")), "-pubout", "-out", p(&env.w("rsa1024.pub.pem"))]);
    std::fs::create_dir(env.dir.path().join("uk")).unwrap();
    env.ok("byok-toolset", &format!("--region UK --out {}", p(&env.dir.path().join("uk"))), &[]);

    let before = env.snapshot();
    let unchanged = |what: &str| assert_eq!(before, env.snapshot(), "{what} changed something");

    // A missing quorum: one ACS passphrase of the two needed.
    let (e, _) = env.fails_with_stdout("KeyTransferRemote", SEED_MODIFY_ACLS, &["acs-one"]);
    assert!(e.contains("no passphrase left"), "{e}");
    unchanged("ModifyAcls without quorum");
    // A wrong ACS passphrase.
    let (e, _) = env.fails_with_stdout("KeyTransferRemote", SEED_MODIFY_ACLS, &["acs-one", "wrong"]);
    assert!(e.contains("the quorum failed") && !e.contains("card 2"), "{e}");
    unchanged("ModifyAcls with a wrong passphrase");
    // -Package before -ModifyAcls: the key's ACL forbids export.
    let (e, _) = env.fails_with_stdout("KeyTransferRemote", SEED_PACKAGE, &[]);
    assert!(e.contains("-ModifyAcls"), "{e}");
    unchanged("-Package without -ModifyAcls");
    // A world package of another region, and none at all with a vendor KEK.
    let uk_world = env.dir.path().join("uk/BYOK-SecurityWorld-pkg-UK-1");
    let (e, _) = env.fails_with_stdout(
        "KeyTransferRemote",
        &format!(
            "-ModifyAcls -KeyAppName simple -KeyIdentifier contosokey -ExchangeKeyPackage BYOK-KEK-pkg-EU-1 \
             -NewSecurityWorldPackage {}",
            p(&uk_world)
        ),
        &ACS3[..2],
    );
    assert!(e.contains("region UK") && e.contains("region EU"), "{e}");
    let (e, _) = env.fails_with_stdout(
        "KeyTransferRemote",
        "-ModifyAcls -KeyAppName simple -KeyIdentifier contosokey -ExchangeKeyPackage BYOK-KEK-pkg-EU-1",
        &ACS3[..2],
    );
    assert!(e.contains("-NewSecurityWorldPackage"), "{e}");
    unchanged("world package refusals");

    // A tampered KEK package: one byte of the kid flipped.
    let pkg = env.w("BYOK-KEK-pkg-EU-1");
    let good = std::fs::read(&pkg).unwrap();
    let mut bad = good.clone();
    let at = bad.windows(12).position(|w| w == b"/KEKforBYOK/").unwrap() + 12;
    bad[at] = if bad[at] == b'0' { b'1' } else { b'0' };
    std::fs::write(&pkg, &bad).unwrap();
    let before_tamper = env.snapshot();
    let (e, out) =
        env.fails_with_stdout("verifykeypackage", "-k BYOK-KEK-pkg-EU-1 -w BYOK-SecurityWorld-pkg-EU-1", &[]);
    assert!(e.contains("altered"), "{e}");
    assert!(out.lines().any(|l| l.starts_with("Result: FAILURE: ")), "{out}");
    assert!(!out.contains("Result: SUCCESS"));
    let (e, _) = env.fails_with_stdout("KeyTransferRemote", SEED_MODIFY_ACLS, &ACS3[..2]);
    assert!(e.contains("does not verify"), "{e}");
    assert_eq!(before_tamper, env.snapshot(), "a tampered package changed something");
    // A damaged (not even JSON) package.
    std::fs::write(&pkg, &good[..good.len() / 2]).unwrap();
    let (e, out) =
        env.fails_with_stdout("verifykeypackage", "-k BYOK-KEK-pkg-EU-1 -w BYOK-SecurityWorld-pkg-EU-1", &[]);
    assert!(e.contains("not a readable KEK package") && out.contains("Result: FAILURE"), "{e}");
    let (e, _) = env.fails_with_stdout("KeyTransferRemote", SEED_MODIFY_ACLS, &ACS3[..2]);
    assert!(e.contains("not a readable KEK package"), "{e}");
    std::fs::write(&pkg, &good).unwrap();
    unchanged("damaged packages");

    // A KEK of a refused size (RSA-1024) everywhere a KEK is taken.
    let (e, out) = env.fails_with_stdout("verifykeypackage", "-k rsa1024.pub.pem", &[]);
    assert!(e.contains("RSA-1024") && out.contains("Result: FAILURE"), "{e}");
    let kid_ok = "https://contoso.vault.azure.net/keys/KEKforBYOK/0123456789abcdef0123456789abcdef";
    let (e, _) = env.fails_with_stdout("byok-kek-import", &format!("--pem rsa1024.pub.pem --kid {kid_ok}"), &[]);
    assert!(e.contains("RSA-1024"), "{e}");
    let (e, _) = env.fails_with_stdout(
        "KeyTransferRemote",
        &format!(
            "-ModifyAcls -KeyAppName simple -KeyIdentifier aeskey -ExchangeKeyPackage rsa1024.pub.pem -KekId {kid_ok}"
        ),
        &ACS3[..2],
    );
    assert!(e.contains("RSA-1024"), "{e}");
    unchanged("RSA-1024 KEK");
    // A kid without its version.
    let no_version = "https://contoso.vault.azure.net/keys/KEKforBYOK";
    let (e, _) =
        env.fails_with_stdout("byok-kek-import", &format!("--pem other.publickey.pem --kid {no_version}"), &[]);
    assert!(e.contains("no key version"), "{e}");
    let (e, _) = env.fails_with_stdout(
        "KeyTransferRemote",
        &format!("-ModifyAcls -KeyAppName simple -KeyIdentifier aeskey -ExchangeKeyPackage other.publickey.pem -KekId {no_version}"),
        &ACS3[..2],
    );
    assert!(e.contains("no key version"), "{e}");
    let (e, _) = env.fails_with_stdout("byok-test-kek", &format!("--out x.pem --pub y.pem --kid {no_version}"), &[]);
    assert!(e.contains("no key version"), "{e}");
    let (e, _) = env.fails_with_stdout("byok-test-kek", "--size 1024 --out x.pem --pub y.pem", &[]);
    assert!(e.contains("1024"), "{e}");
    let (e, _) = env.fails_with_stdout("byok-toolset", "--region MARS", &[]);
    assert!(e.contains("MARS") && e.contains("LATAM") && e.contains("SUI"), "{e}");
    let (e, _) = env.fails_with_stdout("KeyTransferRemote", "-ModifyAcls -Bogus x", &[]);
    assert!(e.contains("unknown parameter -Bogus"), "{e}");
    unchanged("bad kids and arguments");

    // The seed's -ModifyAcls, then -Package to a different KEK: the ACL refuses.
    env.ok("KeyTransferRemote", SEED_MODIFY_ACLS, &ACS3[..2]);
    let before = env.snapshot();
    let (e, _) = env.fails_with_stdout(
        "KeyTransferRemote",
        &format!(
            "-Package -KeyIdentifier contosokey -ExchangeKeyPackage other.publickey.pem -KekId {other_kid} \
             -KeyFriendlyName ContosoFirstHSMkey"
        ),
        &[],
    );
    assert!(e.contains("does not allow export"), "{e}");
    assert!(!env.w("KeyTransferPackage-ContosoFirstHSMkey.byok").exists());
    assert!(!env.local("kekpkg_other_publickey").exists(), "a refused KEK is not registered");
    assert_eq!(before, env.snapshot(), "a refused -Package changed something");
    // A second -ModifyAcls of the same key is refused (the copy exists).
    let (e, _) = env.fails_with_stdout("KeyTransferRemote", SEED_MODIFY_ACLS, &ACS3[..2]);
    assert!(e.contains("exists already"), "{e}");
    assert_eq!(before, env.snapshot());
}

#[test]
fn aes_package_and_byok_verify_refusals() {
    let env = Env::new();
    env.world("1/1", false, &["acs"]);
    env.ok("byok-toolset", "--region EU", &[]);
    env.ok("generatekey", "--generate simple type=AES size=256 protect=module ident=aeskey", &[]);
    env.ok("generatekey", "--generate simple type=AES size=256 protect=module ident=otheraes", &[]);
    env.ok(
        "KeyTransferRemote",
        "-ModifyAcls -KeyAppName simple -KeyIdentifier aeskey -ExchangeKeyPackage BYOK-KEK-pkg-EU-1 \
         -NewSecurityWorldPackage BYOK-SecurityWorld-pkg-EU-1",
        &["acs"],
    );
    let pkg_args = "-Package -KeyIdentifier aeskey -ExchangeKeyPackage BYOK-KEK-pkg-EU-1 \
                    -NewSecurityWorldPackage BYOK-SecurityWorld-pkg-EU-1 -KeyFriendlyName aes-key -OutputDirectory out";
    let before = env.snapshot();
    let (e, _) = env.fails_with_stdout("KeyTransferRemote", pkg_args, &[]);
    assert!(e.contains("-OutputDirectory") && e.contains("not a directory"), "{e}");
    assert_eq!(before, env.snapshot());
    std::fs::create_dir(env.w("out")).unwrap();
    let pk = env.ok("KeyTransferRemote", pkg_args, &[]);
    assert!(pk.contains("Result: SUCCESS") && pk.contains("oct AES-256"), "{pk}");
    assert!(pk.contains("AES (oct) keys import only into a Managed HSM"), "{pk}");
    // The emulated vault refuses it, as Key Vault does, and stores nothing.
    let before = env.snapshot();
    let e = env.fails(
        "Add-AzureKeyVaultKey",
        "-VaultName ContosoKeyVaultHSM -Name aes-key -KeyFilePath out/KeyTransferPackage-aes-key.byok -Destination HSM",
        &[],
    );
    assert!(e.contains("AES keys go to a Managed HSM"), "{e}");
    assert_eq!(before, env.snapshot());
    let byok = env.w("out/KeyTransferPackage-aes-key.byok");
    let kid: serde_json::Value = serde_json::from_slice(&std::fs::read(&byok).unwrap()).unwrap();
    let kid = kid["header"]["kid"].as_str().unwrap().to_string();
    let kek = KekPriv { pem: &env.region_kek("EU"), kid: &kid, bits: 2048 };
    check_package(&env, &byok, kek, "simple", "aeskey", Target::Aes(256));
    // The same name again is refused: nothing is overwritten.
    let before = env.snapshot();
    let (e, _) = env.fails_with_stdout("KeyTransferRemote", pkg_args, &[]);
    assert!(e.contains("exists already"), "{e}");
    assert_eq!(before, env.snapshot());

    // byok-verify says FAILURE for a wrong KEK, a wrong kid, another key, a tampered file.
    env.ok("byok-test-kek", "--out wrong_priv.pem --pub wrong.pem", &[]);
    let f = "out/KeyTransferPackage-aes-key.byok";
    let (e, out) = env.fails_with_stdout("byok-verify", &format!("{f} --kek-private wrong_priv.pem"), &[]);
    assert!(e.contains("wrong KEK") && out.contains("Result: FAILURE"), "{e}");
    let (e, _) = env.fails_with_stdout(
        "byok-verify",
        &format!("{f} --region EU --kid https://x.vault.azure.net/keys/K/0123456789abcdef0123456789abcdef"),
        &[],
    );
    assert!(e.contains("expected"), "{e}");
    let (e, out) = env.fails_with_stdout("byok-verify", &format!("{f} --region EU --expect-key simple otheraes"), &[]);
    assert!(e.contains("not key_simple_otheraes") && out.contains("Result: FAILURE"), "{e}");
    let mut doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&byok).unwrap()).unwrap();
    // Flip one bit of the last wrapped byte (a character swap could make the base64 itself
    // non-canonical, which is caught earlier and would not test the integrity check).
    let mut ct = URL_SAFE_NO_PAD.decode(doc["ciphertext"].as_str().unwrap()).unwrap();
    *ct.last_mut().unwrap() ^= 0x01;
    doc["ciphertext"] = serde_json::Value::String(URL_SAFE_NO_PAD.encode(&ct));
    std::fs::write(env.w("tampered.byok"), serde_json::to_vec(&doc).unwrap()).unwrap();
    let (e, _) = env.fails_with_stdout("byok-verify", "tampered.byok --region EU", &[]);
    assert!(e.contains("integrity"), "{e}");
    let (e, _) = env.fails_with_stdout("byok-verify", "tampered.byok", &[]);
    assert!(e.contains("--kek-private"), "{e}");
    // The Python checker agrees the tampered file is bad, and says why.
    let o = Command::new("python3")
        .args([VERIFY_BYOK, p(&env.w("tampered.byok")), p(&env.region_kek("EU"))])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("RFC 5649 integrity check failed"), "{}", text(&o.stderr));
}

/// Issue #9 case 7: a registered KEK package edited in `local/` (the attacker's KEK in place of
/// the vault's) is refused with one line and nothing written; the package as registered works;
/// the transfer copy is truthful and unmanageable through PKCS#11.
#[test]
fn a_swapped_kek_package_is_refused() {
    let env = Env::new();
    env.world("1/1", false, &["acs"]);
    env.ok("generatekey", SEED_GENERATEKEY, &[]);
    let tk = env.ok("byok-test-kek", "--out kek_priv.pem --pub kek.publickey.pem", &[]);
    let kid = field(&tk, "kid");
    env.ok("byok-kek-import", &format!("--pem kek.publickey.pem --kid {kid} --name azkek"), &[]);
    let ma = "-ModifyAcls -KeyAppName simple -KeyIdentifier contosokey -ExchangeKeyPackage azkek";
    env.ok("KeyTransferRemote", ma, &["acs"]);
    // The attacker's KEK, as the DER a registered package holds.
    env.ok("byok-test-kek", "--out evil_priv.pem --pub evil.publickey.pem", &[]);
    let pem = std::fs::read_to_string(env.w("evil.publickey.pem")).unwrap();
    let evil_b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let evil_der = base64::engine::general_purpose::STANDARD.decode(&evil_b64).unwrap();
    let pkg_path = env.local("kekpkg_azkek");
    let original = std::fs::read(&pkg_path).unwrap();
    let package = "-Package -KeyIdentifier contosokey -ExchangeKeyPackage azkek -KeyFriendlyName transfer";
    let mut pkg: serde_json::Value = serde_json::from_slice(&original).unwrap();
    pkg["spki"] = serde_json::Value::String(evil_b64.clone());
    for also_fingerprint in [false, true] {
        if also_fingerprint {
            pkg["fingerprint_sha256"] = serde_json::Value::String(hex::encode(Sha256::digest(&evil_der)));
        }
        std::fs::write(&pkg_path, serde_json::to_vec_pretty(&pkg).unwrap()).unwrap();
        let before = env.snapshot();
        let e = env.fails("KeyTransferRemote", package, &[]);
        assert!(e.contains("integrity check"), "{e}");
        assert_eq!(before, env.snapshot(), "a refused -Package wrote something");
    }
    // Positive control: the package as registered.
    std::fs::write(&pkg_path, &original).unwrap();
    let pk = env.ok("KeyTransferRemote", package, &[]);
    assert!(pk.contains("Result: SUCCESS"), "{pk}");
    let priv_pem = env.w("kek_priv.pem");
    let t = Target::Rsa(2048);
    let kek = KekPriv { pem: &priv_pem, kid: &kid, bits: 2048 };
    check_package(&env, &env.w("KeyTransferPackage-transfer.byok"), kek, "simple", "contosokey", t);

    // The transfer copy through PKCS#11: exportable (so not "never extractable"), and neither
    // modifiable nor destroyable.
    use cryptoki::object::{Attribute, AttributeType, ObjectClass};
    let so = env.dir.path().join("lib-xfer.so");
    std::fs::copy(common::built_module(), &so).unwrap();
    let p11 = common::init_at(&so, &env.kmdata());
    let s = p11.open_rw_session(common::module_slot()).unwrap();
    let copy =
        s.find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY), Attribute::Id(b"contosokey".to_vec())]).unwrap();
    let want = [
        AttributeType::Extractable,
        AttributeType::NeverExtractable,
        AttributeType::Modifiable,
        AttributeType::Destroyable,
    ];
    let exportable: Vec<_> = copy
        .into_iter()
        .filter(|h| s.get_attributes(*h, &[AttributeType::Extractable]).unwrap() == vec![Attribute::Extractable(true)])
        .collect();
    assert_eq!(exportable.len(), 1, "only the transfer copy may leave");
    let xfer = exportable[0];
    let a = s.get_attributes(xfer, &want).unwrap();
    let expect = vec![
        Attribute::Extractable(true),
        Attribute::NeverExtractable(false),
        Attribute::Modifiable(false),
        Attribute::Destroyable(false),
    ];
    assert_eq!(a, expect);
    let e = s.update_attributes(xfer, &[Attribute::Label(b"mine".to_vec())]).unwrap_err();
    assert!(matches!(e, cryptoki::error::Error::Pkcs11(cryptoki::error::RvError::AttributeReadOnly, _)), "{e:?}");
    let e = s.destroy_object(xfer).unwrap_err();
    assert!(matches!(e, cryptoki::error::Error::Pkcs11(cryptoki::error::RvError::ActionProhibited, _)), "{e:?}");
}
