//! Keys leave only as policy allows, part 2 (issue #19): the side doors through the `shieldhsm`
//! tools. Each attack shows its refusal (one line, nothing changed but the module's count of
//! tries) beside a positive control: KEK names no registration may squat, the ACS quorum
//! counted everywhere and naming no card, every card passphrase check counted (`preload`,
//! `generatekey`, `card-reader unlock`), and policy files of `local/` edited or rolled back.

mod common;
use common::cli::*;
use common::{edit_json, local_file};
use std::path::PathBuf;

const EVIL_KID: &str = "https://evil.vault.azure.net/keys/evil/0123456789abcdef0123456789abcdef";
const TEST_KID: &str = "https://test.vault.azure.net/keys/KEKforBYOK/00112233445566778899aabbccddeeff";
const SEED_MODIFY_ACLS: &str = "-ModifyAcls -KeyAppName simple -KeyIdentifier contosokey \
    -ExchangeKeyPackage BYOK-KEK-pkg-EU-1 -NewSecurityWorldPackage BYOK-SecurityWorld-pkg-EU-1";

/// The attacker's KEK public key, as the PEM `az keyvault key download` would write, in `work/`.
fn attacker_pem(env: &Env) -> PathBuf {
    let (_, spki) = shieldhsm::byok::kek::generate(2048).unwrap();
    let path = env.w("evil.pem");
    std::fs::write(&path, shieldhsm::mech::asn1::pem_encode("PUBLIC KEY", &spki)).unwrap();
    path
}

/// The seed's first steps: the toolset, a 2/3 world (a1, a2, a3), the module key contosokey.
fn seed_world(env: &Env) {
    env.ok("byok-toolset", "--region EU", &[]);
    env.ok("new-world", SEED_NEW_WORLD, &["a1", "a2", "a3"]);
    env.ok("generatekey", SEED_GENERATEKEY, &[]);
}

/// Case 2: KEK name squatting. Before, a KEK registered as `BYOK-KEK-pkg-EU-1` (with no login,
/// through the vendor interface or `byok-kek-import`) was taken by the seed's `-ModifyAcls` run
/// from a directory without that file ("Azure download, not vendor-attested", SUCCESS), and
/// `-Package` wrapped the key to the attacker. Now a vendor package name is only ever a
/// vendor-attested KEK, a missing vendor file is named as missing, and a world package goes only
/// with an attested KEK. The seed itself still runs (`tests/seed.rs`), and says why it trusts
/// its KEK.
#[test]
fn vendor_package_names_cannot_be_squatted() {
    let env = Env::new();
    seed_world(&env);
    attacker_pem(&env);
    let before = env.snapshot();
    let e = env.fails("byok-kek-import", &format!("--pem evil.pem --kid {EVIL_KID} --name BYOK-KEK-pkg-EU-1"), &[]);
    assert!(e.contains("vendor package name"), "{e}");
    assert_eq!(before, env.snapshot(), "nothing registered");
    env.ok("byok-kek-import", &format!("--pem evil.pem --kid {EVIL_KID} --name evil"), &[]);

    // The administrator runs the seed's command where the toolset's files are not.
    let away = env.dir.path().join("elsewhere");
    std::fs::create_dir(&away).unwrap();
    for f in ["BYOK-KEK-pkg-EU-1", "BYOK-SecurityWorld-pkg-EU-1"] {
        std::fs::rename(env.w(f), away.join(f)).unwrap();
    }
    let before = env.snapshot();
    let e = env.fails("KeyTransferRemote", SEED_MODIFY_ACLS, &["a1", "a2"]);
    assert!(e.contains("BYOK-KEK-pkg-EU-1") && e.contains("not in this directory"), "{e}");
    assert_eq!(before, env.snapshot());
    // A world package beside a KEK that is not vendor-attested.
    for f in ["BYOK-KEK-pkg-EU-1", "BYOK-SecurityWorld-pkg-EU-1"] {
        std::fs::rename(away.join(f), env.w(f)).unwrap();
    }
    let args = "-ModifyAcls -KeyAppName simple -KeyIdentifier contosokey -ExchangeKeyPackage evil \
                -NewSecurityWorldPackage BYOK-SecurityWorld-pkg-EU-1";
    let e = env.fails("KeyTransferRemote", args, &["a1", "a2"]);
    assert!(e.contains("not vendor-attested"), "{e}");
    assert!(!env.local("key_xferacld_contosokey").exists());

    // Positive control: the seed's command where the files are, saying why it trusts the KEK.
    let out = env.ok("KeyTransferRemote", SEED_MODIFY_ACLS, &["a1", "a2"]);
    assert!(out.contains("trusted    vendor-attested package, region EU"), "{out}");
    assert!(env.local("key_xferacld_contosokey").exists());
}

fn test_kek(env: &Env) -> String {
    env.ok("byok-test-kek", &format!("--out kek_priv.pem --pub kek.pem --kid {TEST_KID}"), &[]);
    format!("-ModifyAcls -KeyAppName simple -KeyIdentifier contosokey -ExchangeKeyPackage kek.pem -KekId {TEST_KID}")
}

/// Case 1 through the CLI: ACS passphrases were checked card by card ("wrong passphrase for card
/// 2"), uncounted. Now every card presented counts a try toward its lockout before any key
/// derivation, the refusal names no card (a right card 1 reads as a wrong one), and after 10
/// tries the cards lock for every tool that needs the quorum, whatever SHIELDHSM_PIN_MAX_TRIES
/// says.
#[test]
fn acs_guessing_is_counted_names_no_card_and_locks() {
    let env = Env::new();
    env.world("2/3", false, &["a1", "a2", "a3"]);
    env.ok("generatekey", SEED_GENERATEKEY, &[]);
    let modify = test_kek(&env);
    let mut lines = Vec::new();
    for i in 0..9 {
        lines.push(env.fails("KeyTransferRemote", &modify, &[&format!("guess-{i}"), "x"]));
    }
    lines.push(env.fails("KeyTransferRemote", &modify, &["a1", "x"]));
    for l in &lines {
        assert!(l.contains("the quorum failed") && !l.contains("card 1") && !l.contains("card 2"), "{l}");
    }
    assert!(lines[9].contains("(0 left"), "{}", lines[9]);
    let e = env.fails("KeyTransferRemote", &modify, &["a1", "a2"]);
    assert!(e.contains("card 1 of Administrator Card Set") && e.contains("is locked"), "{e}");
    env.set_env("SHIELDHSM_PIN_MAX_TRIES", "1000");
    assert!(env.fails("KeyTransferRemote", &modify, &["a1", "a2"]).contains("is locked"));
    assert!(env.fails("racs", "-m1 -Q 1/1", &["a1", "a2", "n1"]).contains("is locked"), "every quorum tool");
    assert!(!env.local("key_xferacld_contosokey").exists());

    // Positive control: the right quorum, after a wrong try, in a world of its own.
    let ok = Env::new();
    ok.world("2/3", false, &["a1", "a2", "a3"]);
    ok.ok("generatekey", SEED_GENERATEKEY, &[]);
    let modify = test_kek(&ok);
    ok.fails("KeyTransferRemote", &modify, &["a1", "x"]);
    assert!(ok.ok("KeyTransferRemote", &modify, &["a1", "a2"]).contains("Result: SUCCESS"));
}

/// Case 6: passphrase checks that counted nothing. Every tool that checks an Operator Card
/// Set card's passphrase counts into the one module counter (`preload -c`, `generatekey
/// protect=token`, `card-reader unlock`), a locked card refuses even its right passphrase,
/// and `card-reader unlock` no longer unlocks a locked card for whoever guesses right: it is a
/// counted check while the card is unlocked, and needs the ACS quorum once it is locked.
#[test]
fn every_card_passphrase_check_counts() {
    let env = Env::new();
    env.world("1/1", false, &["acs"]);
    env.ok("createocs", "-m1 -Q 1/1 -N ops", &["op-pass"]);
    env.set_env("SHIELDHSM_PIN_MAX_TRIES", "4");
    let gen = "--generate simple type=RSA size=2048 protect=token cardset=ops ident=k1 plainname=k1";
    assert!(env.fails("preload", "-m 1 -c ops true", &["nope"]).contains("the quorum failed"));
    assert!(env.fails("generatekey", gen, &["nope"]).contains("the quorum failed"));
    assert!(env.fails("card-reader", "unlock -c ops -n 1", &["nope"]).contains("the quorum failed"));
    let e = env.fails("card-reader", "unlock -c ops -n 1", &["nope"]);
    assert!(e.contains("(0 left"), "the fourth try, whichever tool made the others: {e}");
    assert!(env.fails("preload", "-m 1 -c ops true", &["op-pass"]).contains("is locked"));
    assert!(env.fails("generatekey", gen, &["op-pass"]).contains("is locked"));
    // A right guess no longer unlocks: the card's passphrase is not the ACS's.
    let e = env.fails("card-reader", "unlock -c ops -n 1", &["op-pass"]);
    assert!(e.contains("the quorum failed"), "{e}");
    // Positive control: the administrators unlock it, and the card works again.
    let out = env.ok("card-reader", "unlock -c ops -n 1", &["acs"]);
    assert!(out.contains("Unlocked"), "{out}");
    env.ok("preload", "-m 1 -c ops true", &["op-pass"]);
    env.ok("generatekey", gen, &["op-pass"]);
}

/// Case 5: card-set policy in an unauthenticated file. Before, `"timeout": null` and
/// `"persistent": true` in `local/card_<HASH>` removed a `createocs -T` timeout and the unload
/// on removal, with write access to `local/` alone. Now the file carries a tag under a key
/// derived from the world's module key: edited, it is refused in one line naming it (the set is
/// not served); as the module wrote it, it works.
#[test]
fn edited_card_set_files_are_refused() {
    let env = Env::new();
    env.world("1/1", false, &["acs"]);
    env.ok("createocs", "-m1 -Q 1/1 -N timed -T 30", &["t1"]);
    let file = local_file(&env.kmdata(), "card_");
    let written = std::fs::read(&file).unwrap();
    edit_json(&file, |v| {
        v["timeout"] = serde_json::Value::Null;
        v["persistent"] = serde_json::json!(true);
    });
    let e = env.fails("card-reader", "insert -c timed -n 1", &[]);
    let name = file.file_name().unwrap().to_str().unwrap();
    assert!(e.contains(&format!("local/{name} fails its integrity check")), "{e}");
    // Positive control: the file as written.
    std::fs::write(&file, &written).unwrap();
    env.ok("card-reader", "insert -c timed -n 1", &[]);
}

/// Case 5 for the world file: its policy fields (ACS quorum, mode, timeouts, modules) are
/// authenticated, and the module keeps the current tag, so an older copy (from before `racs`
/// replaced the ACS, whose old cards it would revive) is refused as well.
#[test]
fn edited_or_rolled_back_world_files_are_refused() {
    let env = Env::new();
    env.world("1/2", false, &["p1", "p2"]);
    let world = env.local("world");
    let written = std::fs::read(&world).unwrap();
    edit_json(&world, |v| v["nso_timeout"] = serde_json::json!(1_000_000));
    let e = env.fails("nfkminfo", "", &[]);
    assert!(e.contains("local/world fails its integrity check"), "{e}");
    std::fs::write(&world, &written).unwrap();
    env.ok("nfkminfo", "", &[]);
    // racs replaces the ACS; the old world file, put back, is refused.
    let new_cards = env.dir.path().join("new-acs");
    env.ok("racs", &format!("-m1 -Q 1/1 --card-dir={}", new_cards.display()), &["p1", "n1"]);
    let current = std::fs::read(&world).unwrap();
    std::fs::write(&world, &written).unwrap();
    let e = env.fails("nfkminfo", "", &[]);
    assert!(e.contains("local/world fails its integrity check"), "{e}");
    let e = env.fails("new-world", "-l --module=1", &["p1"]);
    assert!(e.contains("integrity"), "the old cards stay retired: {e}");
    std::fs::write(&world, &current).unwrap();
    env.ok("nfkminfo", "", &[]);
}
