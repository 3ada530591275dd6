//! The module's state as the PKCS#11 library sees it (issue #13): keys are served only from an
//! operational module, and re-initialising a softcard removes every key it owned. The CLI runs
//! against the same data directory as the loaded library.

mod common;
use common::cli::*;
use common::rv;

use cryptoki::context::Pkcs11;
use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::Attribute;
use cryptoki::session::UserType;
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;

fn load(env: &Env) -> Pkcs11 {
    let so = env.dir.path().join("lib-state.so");
    std::fs::copy(common::built_module(), &so).unwrap();
    common::init_at(&so, &env.kmdata())
}

/// The library with its debug log (CKNFAST_DEBUG) going to `debug.log` in the test directory.
fn load_logging(env: &Env) -> Pkcs11 {
    let so = env.dir.path().join("lib-state.so");
    std::fs::copy(common::built_module(), &so).unwrap();
    let _g = common::env_lock();
    std::env::set_var("SHIELDHSM_KMDATA", env.kmdata());
    std::env::set_var("CKNFAST_DEBUG", "1");
    std::env::set_var("CKNFAST_DEBUGFILE", env.dir.path().join("debug.log"));
    let p11 = Pkcs11::new(&so).unwrap();
    p11.initialize(cryptoki::context::CInitializeArgs::OsThreads).unwrap();
    std::env::remove_var("CKNFAST_DEBUG");
    std::env::remove_var("CKNFAST_DEBUGFILE");
    p11
}

fn slot_labelled(p11: &Pkcs11, label: &str) -> Slot {
    p11.get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| p11.get_token_info(*s).map(|t| t.label() == label).unwrap_or(false))
        .unwrap_or_else(|| panic!("no token labelled {label}"))
}

fn key_files(env: &Env) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(env.kmdata().join("local"))
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(String::from))
        .filter(|n| n.starts_with("key_"))
        .collect();
    v.sort();
    v
}

#[test]
fn keys_only_from_an_operational_module() {
    let env = Env::new();
    env.world("1/1", false, &["acs"]);
    env.ok("ppmk", "--new webapp", &["soft-pass-1"]);
    let p11 = load_logging(&env);
    let card = slot_labelled(&p11, "webapp");
    let module = common::module_slot();
    // An open session with a key, made while the module is operational.
    let s = p11.open_rw_session(card).unwrap();
    s.login(UserType::User, Some(&AuthPin::new("soft-pass-1".into()))).unwrap();
    let k = s.generate_key(&Mechanism::AesKeyGen, &[Attribute::ValueLen(32.into()), Attribute::Token(false)]).unwrap();
    s.encrypt(&Mechanism::AesEcb, k, &[0u8; 16]).unwrap();

    env.ok("hsm-mode", "-m 1 I", &[]);
    for slot in [module, card] {
        assert_eq!(rv(p11.open_ro_session(slot).unwrap_err()), RvError::DeviceError, "{slot}");
        assert_eq!(rv(p11.open_rw_session(slot).unwrap_err()), RvError::DeviceError, "{slot}");
        p11.get_token_info(slot).unwrap();
    }
    assert!(p11.get_all_slots().unwrap().contains(&card));
    let log = std::fs::read_to_string(env.dir.path().join("debug.log")).unwrap();
    assert!(log.contains("initialisation mode") && log.contains("hsm-mode -m 1 O"), "{log}");
    // A session opened before cannot use keys either, nor reach objects.
    assert_eq!(rv(s.encrypt(&Mechanism::AesEcb, k, &[0u8; 16]).unwrap_err()), RvError::DeviceError);
    assert_eq!(rv(s.find_objects(&[]).unwrap_err()), RvError::DeviceError);
    assert_eq!(
        rv(s.generate_key(&Mechanism::AesKeyGen, &[Attribute::ValueLen(32.into())]).unwrap_err()),
        RvError::DeviceError
    );
    // Nor can a token be made.
    let free = common::free_slot(&p11);
    assert_eq!(
        rv(p11.init_token(free, &AuthPin::new("new-so-pin".into()), "other").unwrap_err()),
        RvError::DeviceError
    );

    env.ok("hsm-mode", "-m 1 O", &[]);
    drop(p11.open_ro_session(module).unwrap());
    drop(p11.open_ro_session(card).unwrap());
    s.encrypt(&Mechanism::AesEcb, k, &[0u8; 16]).unwrap();
    assert!(!s.find_objects(&[]).unwrap().is_empty());
}

#[test]
fn fresh_directory_serves_keys() {
    let m = common::Module::fresh();
    let slot = m.init_token("fresh");
    let s = m.user_session(slot);
    s.generate_key(&Mechanism::AesKeyGen, &[Attribute::ValueLen(32.into()), Attribute::Token(true)]).unwrap();
    drop(m.p11.open_ro_session(common::module_slot()).unwrap());
}

#[test]
fn reinit_removes_every_key_of_the_softcard() {
    let env = Env::new();
    env.world("1/1", false, &["acs"]);
    env.ok("ppmk", "--new alpha", &["alpha-pass"]);
    env.ok("ppmk", "--new beta", &["beta-pass"]);
    env.ok("generatekey", "--generate simple type=AES protect=softcard softcard=alpha ident=ak1", &["alpha-pass"]);
    env.ok("generatekey", "--generate simple type=AES protect=softcard softcard=beta ident=bk1", &["beta-pass"]);
    let p11 = load(&env);
    let alpha = slot_labelled(&p11, "alpha");
    let beta = slot_labelled(&p11, "beta");
    let before = key_files(&env);
    let mut made = Vec::new();
    for (slot, pin, label) in [(alpha, "alpha-pass", "p11a"), (beta, "beta-pass", "p11b")] {
        let s = p11.open_rw_session(slot).unwrap();
        s.login(UserType::User, Some(&AuthPin::new(pin.into()))).unwrap();
        s.generate_key(
            &Mechanism::AesKeyGen,
            &[Attribute::ValueLen(32.into()), Attribute::Token(true), Attribute::Label(label.into())],
        )
        .unwrap();
        assert_eq!(s.find_objects(&[]).unwrap().len(), 2, "{label}: the CLI key and this one");
        let now = key_files(&env);
        made.push(now.into_iter().find(|n| !before.contains(n) && !made.contains(n)).unwrap());
    }
    let (p11a, p11b) = (made[0].clone(), made[1].clone());
    for n in ["key_simple_ak1", "key_simple_bk1", &p11a, &p11b] {
        assert!(env.local(n).exists(), "{n}");
    }

    // The softcard's passphrase is its SO PIN.
    p11.init_token(alpha, &AuthPin::new("alpha-pass".into()), "alpha2").unwrap();
    assert!(!env.local("key_simple_ak1").exists(), "CLI key of the re-initialised softcard");
    assert!(!env.local(&p11a).exists(), "PKCS#11 key of the re-initialised softcard");
    assert!(env.local("key_simple_bk1").exists() && env.local(&p11b).exists(), "the other softcard's keys");
    let destroyed = std::fs::read_to_string(env.kmdata().join("emu/destroyed")).unwrap();
    assert!(destroyed.lines().any(|l| l == p11a), "{destroyed}");

    let alpha = slot_labelled(&p11, "alpha2");
    let s = p11.open_rw_session(alpha).unwrap();
    s.login(UserType::So, Some(&AuthPin::new("alpha-pass".into()))).unwrap();
    s.init_pin(&AuthPin::new("alpha-user".into())).unwrap();
    s.logout().unwrap();
    s.login(UserType::User, Some(&AuthPin::new("alpha-user".into()))).unwrap();
    assert!(s.find_objects(&[]).unwrap().is_empty(), "nothing of the old softcard is visible");
    let s = p11.open_rw_session(beta).unwrap();
    s.login(UserType::User, Some(&AuthPin::new("beta-pass".into()))).unwrap();
    assert_eq!(s.find_objects(&[]).unwrap().len(), 2, "beta keeps both keys");
    let names = env.ok("nfkminfo", "-l", &[]);
    assert!(!names.contains("key_simple_ak1") && names.contains("key_simple_bk1"), "{names}");
}

/// An open session's operations notice a mode change by themselves, with no other call in
/// between, within the library's recheck interval (50 ms), and at once once it is operational
/// again (a module found not operational is re-read on every call).
#[test]
fn open_sessions_notice_a_mode_change_within_the_recheck_interval() {
    let env = Env::new();
    env.world("1/1", false, &["acs"]);
    env.ok("ppmk", "--new webapp", &["soft-pass-1"]);
    let p11 = load(&env);
    let s = p11.open_rw_session(slot_labelled(&p11, "webapp")).unwrap();
    s.login(UserType::User, Some(&AuthPin::new("soft-pass-1".into()))).unwrap();
    let k = s.generate_key(&Mechanism::AesKeyGen, &[Attribute::ValueLen(32.into()), Attribute::Token(false)]).unwrap();
    s.encrypt(&Mechanism::AesEcb, k, &[0u8; 16]).unwrap();
    env.ok("hsm-mode", "-m 1 I", &[]);
    std::thread::sleep(std::time::Duration::from_millis(120));
    assert_eq!(rv(s.encrypt(&Mechanism::AesEcb, k, &[0u8; 16]).unwrap_err()), RvError::DeviceError);
    env.ok("hsm-mode", "-m 1 O", &[]);
    s.encrypt(&Mechanism::AesEcb, k, &[0u8; 16]).unwrap();
}
