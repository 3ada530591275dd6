//! Operator Card Sets as PKCS#11 tokens (issue #13): a 1/2 set logs in with the passphrase of
//! its card in module 1's emulated reader, a 2/3 set is used under `preload -c` with two cards;
//! without them their keys are unusable; card removal unloads a non-persistent set (its sessions
//! close, opening answers CKR_TOKEN_NOT_PRESENT) and leaves a persistent one loaded;
//! C_WaitForSlotEvent reports insertion and removal.

mod common;
use common::cli::*;
use common::rv;

use cryptoki::context::{CInitializeArgs, Pkcs11};
use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use std::process::Command;

const CHILD_ENV: &str = "SHIELDHSM_TEST_PRELOAD_CHILD";

fn load(env: &Env) -> Pkcs11 {
    let so = env.dir.path().join(format!("lib-{}.so", uniq()));
    std::fs::copy(common::built_module(), &so).unwrap();
    common::init_at(&so, &env.kmdata())
}

/// The library with `var=value` in its environment at C_Initialize (removed again after).
fn load_with(env: &Env, var: &str, value: &str) -> Pkcs11 {
    let so = env.dir.path().join(format!("lib-{}.so", uniq()));
    std::fs::copy(common::built_module(), &so).unwrap();
    let _g = common::env_lock();
    std::env::set_var("SHIELDHSM_KMDATA", env.kmdata());
    std::env::set_var(var, value);
    let p11 = Pkcs11::new(&so).unwrap();
    p11.initialize(CInitializeArgs::OsThreads).unwrap();
    std::env::remove_var(var);
    p11
}

/// A world with a 1/2 set `ops12` (card passphrases a1, a2) and a 2/3 set `ops23` (b1..b3), each
/// with an RSA key made by generatekey for PKCS#11, and a persistent 1/1 set `keep` (c1).
fn setup() -> Env {
    let env = Env::new();
    env.world("1/1", false, &["acs"]);
    env.ok("createocs", "-m1 -Q 1/2 -N ops12", &["a1", "a2"]);
    env.ok("createocs", "-m1 -Q 2/3 -N ops23", &["b1", "b2", "b3"]);
    env.ok("createocs", "-m1 -Q 1/1 -N keep -p", &["c1"]);
    let gen = "--generate pkcs11 type=RSA size=2048 protect=token nvram=no";
    env.ok("generatekey", &format!("{gen} cardset=ops12 plainname=k12"), &["a1"]);
    env.ok("generatekey", &format!("{gen} cardset=ops23 plainname=k23"), &["b1", "b2"]);
    env.ok("generatekey", &format!("{gen} cardset=keep plainname=kk"), &["c1"]);
    env
}

fn slot_named(p11: &Pkcs11, name: &str) -> Slot {
    p11.get_all_slots()
        .unwrap()
        .into_iter()
        .find(|s| {
            p11.get_slot_info(*s).map(|i| i.slot_description() == format!("nShield emulated card set {name}")).unwrap()
        })
        .unwrap_or_else(|| panic!("no slot for card set {name}"))
}

fn key(s: &Session, class: ObjectClass, label: &str) -> Option<ObjectHandle> {
    s.find_objects(&[Attribute::Class(class), Attribute::Label(label.as_bytes().to_vec())]).unwrap().first().copied()
}

/// Signs and verifies with the token's RSA key `label`.
fn sign_with(s: &Session, label: &str) -> Result<(), cryptoki::error::Error> {
    let private = key(s, ObjectClass::PRIVATE_KEY, label).expect("the private key is visible after login");
    let public = key(s, ObjectClass::PUBLIC_KEY, label).expect("the public key is visible");
    let sig = s.sign(&Mechanism::Sha256RsaPkcs, private, b"card-set message")?;
    s.verify(&Mechanism::Sha256RsaPkcs, public, b"card-set message", &sig)
}

fn login(s: &Session, pin: &str) -> Result<(), cryptoki::error::Error> {
    s.login(UserType::User, Some(&AuthPin::new(pin.into())))
}

#[test]
fn one_of_two_set_needs_its_card_and_passphrase_and_unloads_on_removal() {
    let env = setup();
    let p11 = load(&env);
    let slot = slot_named(&p11, "ops12");
    // No card: the slot is listed, its token is not present.
    assert!(!p11.get_slots_with_token().unwrap().contains(&slot));
    assert!(!p11.get_slot_info(slot).unwrap().token_present());
    assert!(p11.get_slot_info(slot).unwrap().removable_device());
    assert_eq!(rv(p11.open_rw_session(slot).unwrap_err()), RvError::TokenNotPresent);
    assert_eq!(rv(p11.get_token_info(slot).unwrap_err()), RvError::TokenNotPresent);
    // A card of another set does not make it present.
    env.ok("card-reader", "insert -c ops23 -n 1", &[]);
    assert_eq!(rv(p11.open_rw_session(slot).unwrap_err()), RvError::TokenNotPresent);
    env.ok("card-reader", "insert -c ops12 -n 2", &[]);
    assert!(env.ok("slotinfo", "-m 1", &[]).contains("card 2 of Operator Card Set \"ops12\""));
    let info = env.ok("nfkminfo", "", &[]);
    assert!(info.contains("card reader: card 2 of Operator Card Set \"ops12\""), "{info}");
    let info = p11.get_token_info(slot).unwrap();
    assert_eq!(info.label(), "ops12");
    assert!(info.login_required() && !info.protected_authentication_path());
    let s = p11.open_rw_session(slot).unwrap();
    // Before login the private key is not usable (not even visible).
    assert!(key(&s, ObjectClass::PRIVATE_KEY, "k12").is_none());
    assert_eq!(rv(login(&s, "a1").unwrap_err()), RvError::PinIncorrect, "card 2's passphrase is a2");
    login(&s, "a2").unwrap();
    sign_with(&s, "k12").unwrap();
    let private = key(&s, ObjectClass::PRIVATE_KEY, "k12").unwrap();
    // An object made through PKCS#11 lives on the card set, named for it.
    let made = s
        .generate_key(
            &Mechanism::AesKeyGen,
            &[Attribute::Token(true), Attribute::ValueLen(32.into()), Attribute::Label(b"made".to_vec())],
        )
        .unwrap();
    assert!(s.get_attributes(made, &[cryptoki::object::AttributeType::Sensitive]).is_ok());
    let hash = env
        .ok("nfkminfo", "-c", &[])
        .lines()
        .find(|l| l.contains("ops12"))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let local: Vec<String> = std::fs::read_dir(env.kmdata().join("local"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(local.iter().any(|n| n.starts_with(&format!("key_pkcs11_uc{}-", &hash[..8]))), "{local:?}");
    // Removal: the session closes, opening answers CKR_TOKEN_NOT_PRESENT.
    env.ok("card-reader", "remove", &[]);
    let e = s.sign(&Mechanism::Sha256RsaPkcs, private, b"x").unwrap_err();
    assert_eq!(rv(e), RvError::SessionHandleInvalid);
    assert_eq!(rv(p11.open_rw_session(slot).unwrap_err()), RvError::TokenNotPresent);
    std::mem::forget(s); // its handle is gone; closing it would only answer the same
                         // Re-inserted, the set needs the passphrase again.
    env.ok("card-reader", "insert -c ops12 -n 1", &[]);
    let s = p11.open_ro_session(slot).unwrap();
    assert!(key(&s, ObjectClass::PRIVATE_KEY, "k12").is_none());
    login(&s, "a1").unwrap();
    sign_with(&s, "k12").unwrap();
    assert!(key(&s, ObjectClass::SECRET_KEY, "made").is_some());
}

/// Logs in to set `name` with its card 1 (`pass`), removes the card, then signs with `label`.
fn used_after_removal(env: &Env, p11: &Pkcs11, name: &str, pass: &str, label: &str) -> (Slot, Session) {
    let slot = slot_named(p11, name);
    env.ok("card-reader", &format!("insert -c {name} -n 1"), &[]);
    let s = p11.open_rw_session(slot).unwrap();
    login(&s, pass).unwrap();
    env.ok("card-reader", "remove", &[]);
    sign_with(&s, label).unwrap();
    (slot, s)
}

#[test]
fn a_persistent_set_stays_loaded_after_removal() {
    let env = setup();
    let p11 = load(&env);
    let (slot, s) = used_after_removal(&env, &p11, "keep", "c1", "kk");
    assert!(p11.get_slot_info(slot).unwrap().token_present());
    // Once logged out (the last session closed), it is gone with its card.
    s.logout().unwrap();
    drop(s);
    assert_eq!(rv(p11.open_rw_session(slot).unwrap_err()), RvError::TokenNotPresent);
}

#[test]
fn nonremovable_keeps_a_set_loaded() {
    let env = setup();
    let p11 = load_with(&env, "CKNFAST_NONREMOVABLE", "1");
    used_after_removal(&env, &p11, "ops12", "a1", "k12");
}

#[test]
fn k_of_n_set_is_loaded_only_under_preload() {
    let env = setup();
    {
        let p11 = load(&env);
        let slot = slot_named(&p11, "ops23");
        env.ok("card-reader", "insert -c ops23 -n 1", &[]);
        let s = p11.open_rw_session(slot).unwrap();
        // One card of a 2/3 set cannot load it, whatever the passphrase.
        assert_eq!(rv(login(&s, "b1").unwrap_err()), RvError::FunctionFailed);
        assert!(key(&s, ObjectClass::PRIVATE_KEY, "k23").is_none());
        env.ok("card-reader", "remove", &[]);
    }
    // Under preload with two cards, a child process signs with the key.
    let exe = std::env::current_exe().unwrap();
    let run = |pass: &[&str]| {
        let pf = env.dir.path().join(format!("pp-{}", uniq()));
        std::fs::write(&pf, pass.iter().map(|p| format!("{p}\n")).collect::<String>()).unwrap();
        let so = env.dir.path().join(format!("lib-{}.so", uniq()));
        std::fs::copy(common::built_module(), &so).unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_shieldhsm"))
            .args(["preload", "-m", "1", "-c", "ops23"])
            .arg(&exe)
            .args(["--exact", "preload_child", "--nocapture", "--test-threads=1"])
            .env("SHIELDHSM_KMDATA", env.kmdata())
            .env("SHIELDHSM_PASSPHRASE_FILE", &pf)
            .env(CHILD_ENV, &so)
            .output()
            .unwrap();
        (o.status.code(), text(&o.stdout) + &text(&o.stderr))
    };
    let (code, out) = run(&["b1", "b2"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("child signed with k23"), "{out}");
    // A wrong passphrase loads nothing and runs nothing.
    let (code, out) = run(&["b1", "nope"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("the quorum failed") && !out.contains("child signed"), "{out}");
}

/// Runs only as `preload`'s command (see above): the set is loaded for this process.
#[test]
fn preload_child() {
    let Some(so) = std::env::var_os(CHILD_ENV) else { return };
    assert!(std::env::var_os("CKNFAST_CARDSET_HASH").is_some());
    let tokens = std::env::var_os("NFAST_NFKM_TOKENSFILE").expect("preload names its tokens file");
    let text = std::fs::read_to_string(&tokens).unwrap();
    // The tokens file names the hand-over descriptor, never the logical token itself, and the
    // environment holds neither.
    assert!(text.contains("\"fd\""), "{text}");
    let p11 = Pkcs11::new(so).unwrap();
    p11.initialize(CInitializeArgs::OsThreads).unwrap();
    // CKNFAST_CARDSET_HASH shows only the loaded set among card sets.
    let sets: Vec<Slot> = p11
        .get_all_slots()
        .unwrap()
        .into_iter()
        .filter(|s| p11.get_slot_info(*s).unwrap().slot_description().starts_with("nShield emulated card set"))
        .collect();
    assert_eq!(sets.len(), 1);
    let slot = slot_named(&p11, "ops23");
    let info = p11.get_token_info(slot).unwrap();
    assert!(info.protected_authentication_path());
    let s = p11.open_rw_session(slot).unwrap();
    assert!(key(&s, ObjectClass::PRIVATE_KEY, "k23").is_none());
    s.login(UserType::User, None).unwrap();
    sign_with(&s, "k23").unwrap();
    println!("child signed with k23");
}

#[test]
fn wait_for_slot_event_reports_insertion_and_removal() {
    let env = setup();
    let p11 = load(&env);
    let slot = slot_named(&p11, "ops12");
    assert_eq!(p11.get_slot_event().unwrap(), None);
    env.ok("card-reader", "insert -c ops12 -n 1", &[]);
    assert_eq!(p11.get_slot_event().unwrap(), Some(slot));
    assert_eq!(p11.get_slot_event().unwrap(), None);
    // A blocking wait returns when the card leaves.
    let kmdata = env.kmdata();
    let remover = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let o = Command::new(env!("CARGO_BIN_EXE_shieldhsm"))
            .args(["card-reader", "remove"])
            .env("SHIELDHSM_KMDATA", kmdata)
            .output()
            .unwrap();
        assert!(o.status.success());
    });
    assert_eq!(p11.wait_for_slot_event().unwrap(), slot);
    remover.join().unwrap();
    assert!(!p11.get_slot_info(slot).unwrap().token_present());
}

#[test]
fn reader_tool_errors_are_one_line_and_change_nothing() {
    let env = setup();
    let before = env.snapshot();
    for (args, want) in [
        ("insert -c nosuch -n 1", "no Operator Card Set named"),
        ("insert -c ops12 -n 7", "card 7 of \"ops12\" is not in"),
        ("insert -c ops12", "no card number given"),
        ("eject", "unknown action"),
    ] {
        let e = env.fails("card-reader", args, &[]);
        assert!(e.contains(want), "{args}: {e}");
    }
    assert_eq!(env.snapshot(), before);
}

#[test]
fn pkcs11_tool_lists_both_tokens() {
    let env = setup();
    let so = common::built_module();
    let so = so.to_str().unwrap();
    env.ok("card-reader", "insert -c ops12 -n 1", &[]);
    let listing = |o: std::process::Output| {
        assert!(o.status.success(), "{}", text(&o.stderr));
        text(&o.stdout)
    };
    // The 1/2 set with its card in the reader.
    let plain = listing(env.exec(std::path::Path::new("pkcs11-tool"), &["--module", so, "-L"], &[]));
    assert!(plain.contains("token label        : ops12"), "{plain}");
    assert!(plain.contains("nShield emulated card set ops23"), "{plain}");
    // The 2/3 set loaded by preload with two cards (its card set alone, as CKNFAST_CARDSET_HASH asks).
    let under = listing(env.exec(
        std::path::Path::new(env!("CARGO_BIN_EXE_shieldhsm")),
        &["preload", "-c", "ops23", "pkcs11-tool", "--module", so, "-L"],
        &["b1", "b2"],
    ));
    assert!(under.contains("token label        : ops23"), "{under}");
    assert!(!under.contains("ops12"), "{under}");
}

/// A world with one 1/1 set `name` (`createocs` options `opts`, card passphrase t1) holding an
/// RSA key labelled `label`, its card in the reader, and a session logged in to it.
fn logged_in_one_card_set(opts: &str, name: &str, label: &str) -> (Env, Pkcs11, Slot, Session) {
    let env = Env::new();
    env.world("1/1", false, &["acs"]);
    env.ok("createocs", &format!("-m1 -Q 1/1 -N {name} {opts}"), &["t1"]);
    let gen = "--generate pkcs11 type=RSA size=2048 protect=token nvram=no";
    env.ok("generatekey", &format!("{gen} cardset={name} plainname={label}"), &["t1"]);
    let p11 = load(&env);
    let slot = slot_named(&p11, name);
    env.ok("card-reader", &format!("insert -c {name} -n 1"), &[]);
    let s = p11.open_rw_session(slot).unwrap();
    login(&s, "t1").unwrap();
    (env, p11, slot, s)
}

#[test]
fn a_login_ends_with_the_sets_timeout() {
    let (_env, p11, slot, s) = logged_in_one_card_set("-T 1", "brief", "kb");
    sign_with(&s, "kb").unwrap();
    let private = key(&s, ObjectClass::PRIVATE_KEY, "kb").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1300));
    let e = s.sign(&Mechanism::Sha256RsaPkcs, private, b"x").unwrap_err();
    assert_eq!(rv(e), RvError::SessionHandleInvalid);
    std::mem::forget(s);
    // The card is still in the reader: a new login works (and starts a new timeout).
    let s = p11.open_rw_session(slot).unwrap();
    login(&s, "t1").unwrap();
    sign_with(&s, "kb").unwrap();
}

#[test]
fn rocs_restores_pkcs11_access_after_a_set_is_lost() {
    let env = Env::new();
    env.world("1/1", true, &["acs"]);
    env.ok("createocs", "-m1 -Q 1/1 -N lost", &["old"]);
    let gen = "--generate pkcs11 type=RSA size=2048 protect=token nvram=no recovery=yes cardset=lost plainname=rk";
    env.ok("generatekey", gen, &["old"]);
    let p11 = load(&env);
    let lost = slot_named(&p11, "lost");
    env.ok("card-reader", "insert -c lost -n 1", &[]);
    let s = p11.open_ro_session(lost).unwrap();
    login(&s, "old").unwrap();
    sign_with(&s, "rk").unwrap();
    drop(s);
    env.ok("card-reader", "remove", &[]);
    // The set is declared lost: the ACS quorum moves its recoverable keys to a new set.
    env.ok("rocs", "-m1 -l lost -Q 1/1 -N found", &["acs", "new"]);
    let found = slot_named(&p11, "found");
    env.ok("card-reader", "insert -c found -n 1", &[]);
    let s = p11.open_ro_session(found).unwrap();
    login(&s, "new").unwrap();
    sign_with(&s, "rk").unwrap();
    drop(s);
    // The lost set stays listed (keys made with recovery=no stay with it), but its card no
    // longer opens the recovered key.
    env.ok("card-reader", "insert -c lost -n 1", &[]);
    let s = p11.open_ro_session(lost).unwrap();
    login(&s, "old").unwrap();
    assert!(key(&s, ObjectClass::PRIVATE_KEY, "rk").is_none());
}

#[test]
fn wrong_card_passphrases_lock_the_card_until_unlocked() {
    let env = Env::new();
    env.world("1/1", false, &["acs"]);
    env.ok("createocs", "-m1 -Q 1/2 -N guarded", &["g1", "g2"]);
    let gen = "--generate pkcs11 type=RSA size=2048 protect=token nvram=no cardset=guarded plainname=kg";
    env.ok("generatekey", gen, &["g1"]);
    let p11 = load_with(&env, "SHIELDHSM_PIN_MAX_TRIES", "3");
    let slot = slot_named(&p11, "guarded");
    env.ok("card-reader", "insert -c guarded -n 1", &[]);
    let s = p11.open_rw_session(slot).unwrap();
    // A right passphrase clears the count; wrong ones climb to the lock, shown in the flags.
    assert_eq!(rv(login(&s, "nope").unwrap_err()), RvError::PinIncorrect);
    assert!(p11.get_token_info(slot).unwrap().user_pin_count_low());
    login(&s, "g1").unwrap();
    s.logout().unwrap();
    assert!(!p11.get_token_info(slot).unwrap().user_pin_count_low());
    assert_eq!(rv(login(&s, "nope").unwrap_err()), RvError::PinIncorrect);
    assert_eq!(rv(login(&s, "nope").unwrap_err()), RvError::PinIncorrect);
    assert!(p11.get_token_info(slot).unwrap().user_pin_final_try());
    assert_eq!(rv(login(&s, "nope").unwrap_err()), RvError::PinLocked);
    // Locked: even the right passphrase is refused, and the key stays unusable.
    assert_eq!(rv(login(&s, "g1").unwrap_err()), RvError::PinLocked);
    assert!(p11.get_token_info(slot).unwrap().user_pin_locked());
    assert!(key(&s, ObjectClass::PRIVATE_KEY, "kg").is_none());
    // The set's other card is counted on its own.
    env.ok("card-reader", "insert -c guarded -n 2", &[]);
    let s2 = p11.open_rw_session(slot).unwrap();
    login(&s2, "g2").unwrap();
    sign_with(&s2, "kg").unwrap();
    s2.logout().unwrap();
    // A locked card's own passphrase can no longer be tried, not even by `card-reader unlock`:
    // the Administrator Card Set quorum clears it. A wrong ACS passphrase changes nothing (but
    // the module's count of that ACS card's tries).
    env.set_env("SHIELDHSM_PIN_MAX_TRIES", "3");
    let before = env.snapshot();
    let e = env.fails("card-reader", "unlock -c guarded -n 1", &["g1"]);
    assert!(e.contains("the quorum failed"), "the card's own passphrase is no ACS passphrase: {e}");
    assert_eq!(before, env.snapshot());
    let out = env.ok("card-reader", "unlock -c guarded -n 1", &["acs"]);
    assert!(out.contains("is locked") && out.contains("Unlocked"), "{out}");
    env.ok("card-reader", "insert -c guarded -n 1", &[]);
    let s3 = p11.open_rw_session(slot).unwrap();
    login(&s3, "g1").unwrap();
    sign_with(&s3, "kg").unwrap();
}

// What an adversarial review found (each failed before its fix).

/// README: after removal of a logged-in non-persistent set, C_GetSlotInfo drops TOKEN_PRESENT,
/// C_GetTokenInfo and C_OpenSession answer CKR_TOKEN_NOT_PRESENT -- asked before any session call.
#[test]
fn removal_is_seen_by_slot_and_token_calls_alone() {
    let env = setup();
    let p11 = load(&env);
    let slot = slot_named(&p11, "ops12");
    env.ok("card-reader", "insert -c ops12 -n 1", &[]);
    let s = p11.open_rw_session(slot).unwrap();
    login(&s, "a1").unwrap();
    env.ok("card-reader", "remove", &[]);
    let present = p11.get_slot_info(slot).unwrap().token_present();
    let ti = p11.get_token_info(slot).map(|_| ()).map_err(rv);
    let opened = p11.open_rw_session(slot).map(|_| ()).map_err(rv);
    std::mem::forget(s);
    assert!(!present, "C_GetSlotInfo still reports TOKEN_PRESENT after removal");
    assert_eq!(ti, Err(RvError::TokenNotPresent), "C_GetTokenInfo");
    assert_eq!(opened, Err(RvError::TokenNotPresent), "C_OpenSession");
}

/// README: "re-inserted: present again; the passphrase is asked again"; reader.rs: a removal
/// and re-insertion between two looks is still an event.
#[test]
fn a_card_out_and_back_in_between_two_calls_is_a_removal() {
    let env = setup();
    let p11 = load(&env);
    let slot = slot_named(&p11, "ops12");
    assert_eq!(p11.get_slot_event().unwrap(), None);
    env.ok("card-reader", "insert -c ops12 -n 1", &[]);
    assert_eq!(p11.get_slot_event().unwrap(), Some(slot));
    let s = p11.open_rw_session(slot).unwrap();
    login(&s, "a1").unwrap();
    env.ok("card-reader", "remove", &[]);
    env.ok("card-reader", "insert -c ops12 -n 2", &[]);
    let ev = p11.get_slot_event().unwrap();
    let used = s.find_objects(&[]).map(|_| ()).map_err(rv);
    std::mem::forget(s);
    assert_eq!(ev, Some(slot), "removal+re-insertion not reported by C_WaitForSlotEvent");
    assert_eq!(used, Err(RvError::SessionHandleInvalid), "login survived removal + re-insertion");
}

/// README: persistent set stays loaded "until logout or the last session closes, then as above"
/// (sessions close, CKR_SESSION_HANDLE_INVALID).
#[test]
fn a_persistent_set_without_its_card_unloads_at_logout() {
    let env = setup();
    let p11 = load(&env);
    let (slot, s) = used_after_removal(&env, &p11, "keep", "c1", "kk");
    s.logout().unwrap();
    let present = p11.get_slot_info(slot).unwrap().token_present();
    let r = s.find_objects(&[]).map(|_| ()).map_err(rv);
    std::mem::forget(s);
    assert!(!present);
    assert_eq!(r, Err(RvError::SessionHandleInvalid), "session of an unloaded persistent set still works");
}

/// A card set's public objects and public views do not show in another set's slot or the module slot.
#[test]
fn objects_stay_with_their_set() {
    let env = setup();
    let p11 = load(&env);
    let ops = slot_named(&p11, "ops12");
    env.ok("card-reader", "insert -c ops12 -n 1", &[]);
    let s = p11.open_rw_session(ops).unwrap();
    login(&s, "a1").unwrap();
    let lab = b"xset".to_vec();
    s.generate_key(
        &Mechanism::AesKeyGen,
        &[
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::ValueLen(32.into()),
            Attribute::Label(lab.clone()),
        ],
    )
    .unwrap();
    s.create_object(&[
        Attribute::Class(ObjectClass::DATA),
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::Label(lab.clone()),
        Attribute::Value(b"v".to_vec()),
    ])
    .unwrap();
    drop(s);
    env.ok("card-reader", "insert -c keep -n 1", &[]);
    let keep = slot_named(&p11, "keep");
    let k = p11.open_rw_session(keep).unwrap();
    assert!(k.find_objects(&[Attribute::Label(lab.clone())]).unwrap().is_empty());
    login(&k, "c1").unwrap();
    assert!(k.find_objects(&[Attribute::Label(lab.clone())]).unwrap().is_empty());
    assert!(k.find_objects(&[Attribute::Label(b"k12".to_vec())]).unwrap().is_empty());
    let m = p11.open_rw_session(Slot::try_from(0u64).unwrap()).unwrap();
    assert!(m.find_objects(&[Attribute::Label(lab.clone())]).unwrap().is_empty());
    // ops12 without its card: not present, so nothing to see; with the card, not logged in: the public view only.
    env.ok("card-reader", "insert -c ops12 -n 2", &[]);
    let s = p11.open_rw_session(ops).unwrap();
    let found = s.find_objects(&[Attribute::Label(lab.clone())]).unwrap();
    assert_eq!(found.len(), 2, "public view + data object");
}

/// createocs -T 18446744074 (about 585 years): the deadline in nanoseconds saturates, no wrap.
#[test]
fn a_huge_timeout_does_not_wrap() {
    let (_env, _p11, _slot, s) = logged_in_one_card_set("-T 18446744074", "long", "kl");
    std::thread::sleep(std::time::Duration::from_millis(600));
    let r = s.find_objects(&[]).map(|_| ()).map_err(rv);
    std::mem::forget(s);
    assert_eq!(r, Ok(()), "a 585-year timeout ended the login within 0.6 s");
}

/// README: C_InitPIN and C_SetPIN on a card set return CKR_FUNCTION_NOT_SUPPORTED.
#[test]
fn init_pin_and_set_pin_are_not_supported_on_a_set() {
    let env = setup();
    let p11 = load(&env);
    let slot = slot_named(&p11, "ops12");
    env.ok("card-reader", "insert -c ops12 -n 1", &[]);
    let ro = p11.open_ro_session(slot).unwrap();
    let a = ro.set_pin(&AuthPin::new("a1".into()), &AuthPin::new("zz".into())).map_err(rv);
    let b = ro.init_pin(&AuthPin::new("zz".into())).map_err(rv);
    assert_eq!((a, b), (Err(RvError::FunctionNotSupported), Err(RvError::FunctionNotSupported)));
}
