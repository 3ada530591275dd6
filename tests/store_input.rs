//! Files in the data directory as an administrator (or an attacker with write access to kmdata)
//! may leave them (issue #10): odd file types, damaged counters, edited softcards and loose
//! permissions never hang, crash or mislead the library.

mod common;
use common::*;
use cryptoki::error::RvError;
use cryptoki::object::{Attribute, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

fn another_process(m: &Module) -> cryptoki::context::Pkcs11 {
    // A fresh file each time: overwriting a library that is loaded would corrupt it.
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let so = m.dir.path().join(format!("other-{n}.so"));
    std::fs::copy(built_module(), &so).unwrap();
    init_at(&so, &m.kmdata())
}

#[test]
fn fifos_symlinks_and_a_truncated_counter_neither_hang_nor_crash() {
    let m = Module::fresh();
    let slot = m.init_token("odd files");
    let local = m.kmdata().join("local");
    let fifo = std::ffi::CString::new(local.join("key_pkcs11_uafifo").to_str().unwrap()).unwrap();
    // SAFETY: mkfifo on a path we own.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    std::os::unix::fs::symlink("/dev/zero", local.join("key_pkcs11_uazero")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", local.join("softcard_zero")).unwrap();
    // Truncate the shared change counter under a running library.
    std::fs::OpenOptions::new().write(true).open(m.kmdata().join("emu/generation")).unwrap().set_len(0).unwrap();
    let t0 = Instant::now();
    let s = m.user_session(slot);
    let found = s.find_objects(&[Attribute::Class(ObjectClass::SECRET_KEY)]).unwrap();
    assert!(found.is_empty());
    let s0 = m.p11.open_ro_session(module_slot()).unwrap();
    assert!(s0.find_objects(&[]).unwrap().is_empty());
    let p2 = another_process(&m);
    assert!(p2.get_all_slots().unwrap().len() >= 3);
    assert!(t0.elapsed() < Duration::from_secs(20), "no hang: {:?}", t0.elapsed());
    // The store still works: a token object is written and found by the other process.
    s.generate_key(
        &cryptoki::mechanism::Mechanism::AesKeyGen,
        &[Attribute::ValueLen(16.into()), Attribute::Token(true), Attribute::Label(b"after".to_vec())],
    )
    .unwrap();
    let s2 = p2.open_rw_session(slot).unwrap();
    s2.login(UserType::User, Some(&AuthPin::new(USER_PIN.into()))).unwrap();
    assert_eq!(s2.find_objects(&[Attribute::Label(b"after".to_vec())]).unwrap().len(), 1);
}

fn softcard_file(m: &Module) -> std::path::PathBuf {
    local_file(&m.kmdata(), "softcard_")
}

#[test]
fn an_edited_softcard_cannot_stall_login_or_take_the_module_slot() {
    let m = Module::fresh();
    let slot = m.init_token("edited");
    let file = softcard_file(&m);
    edit_json(&file, |v| v["user"]["iterations"] = serde_json::json!(4_000_000_000u32));
    // The file fails its integrity check, so the token is not served at all: there is no login
    // to stall, and its slot stays its own (the free slot takes the next one).
    let t0 = Instant::now();
    let p2 = another_process(&m);
    let slots = p2.get_all_slots().unwrap();
    assert!(slots.iter().all(|s| p2.get_token_info(*s).unwrap().label() != "edited"));
    assert!(t0.elapsed() < Duration::from_secs(5), "answered at once: {:?}", t0.elapsed());
    assert!(!slots.contains(&slot), "its slot is not given to another token");
    // A softcard claiming slot 0 does not displace the module slot: it is not served.
    edit_json(&file, |v| v["slot"] = serde_json::json!(0));
    let p3 = another_process(&m);
    let slots = p3.get_all_slots().unwrap();
    assert!(slots.contains(&module_slot()));
    assert_eq!(p3.get_token_info(module_slot()).unwrap().label(), "loadshared accelerator");
    assert!(slots.iter().all(|s| p3.get_token_info(*s).unwrap().label() != "edited"));
}

#[test]
fn a_world_writable_data_directory_is_refused() {
    let _g = env_lock();
    let dir = tempfile::tempdir().unwrap();
    let kmdata = dir.path().join("kmdata");
    std::fs::create_dir(&kmdata).unwrap();
    std::fs::set_permissions(&kmdata, std::fs::Permissions::from_mode(0o777)).unwrap();
    let so = dir.path().join("lib.so");
    std::fs::copy(built_module(), &so).unwrap();
    std::env::set_var("SHIELDHSM_KMDATA", &kmdata);
    let p11 = cryptoki::context::Pkcs11::new(&so).unwrap();
    // Loading never fails (every p11-kit consumer loads an installed module); the first use
    // of the directory is refused.
    p11.initialize(cryptoki::context::CInitializeArgs::OsThreads).unwrap();
    let e = p11.get_all_slots().unwrap_err();
    assert_eq!(rv(e), RvError::DeviceError);
    assert!(!kmdata.join("local").exists(), "nothing is created in it");
    // Owner-only (or group-shared) works.
    std::fs::set_permissions(&kmdata, std::fs::Permissions::from_mode(0o750)).unwrap();
    assert!(!p11.get_all_slots().unwrap().is_empty());
}

fn key_files(m: &Module) -> usize {
    std::fs::read_dir(m.kmdata().join("local"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("key_pkcs11_"))
        .count()
}

#[test]
fn a_destroyed_object_never_returns() {
    let m = Module::fresh();
    let slot = m.init_token("tombstones");
    let data = |label: &str| {
        vec![
            Attribute::Class(ObjectClass::DATA),
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Label(label.as_bytes().to_vec()),
        ]
    };
    // A set racing a destroy in one process: once the destroy returns, the file is gone for good.
    let _login = m.user_session(slot);
    let destroyer = m.p11.open_rw_session(slot).unwrap();
    for round in 0..40 {
        let h = destroyer.create_object(&data("race")).unwrap();
        std::thread::scope(|sc| {
            sc.spawn(|| {
                let setter = m.p11.open_rw_session(slot).unwrap();
                while setter.update_attributes(h, &[Attribute::Label(format!("r{round}").into_bytes())]).is_ok() {}
            });
            std::thread::sleep(Duration::from_micros(200));
            destroyer.destroy_object(h).unwrap();
        });
        assert_eq!(key_files(&m), 0, "round {round}: the destroyed object was written back");
    }
    // Across processes: a set on a handle another process destroyed is refused, not a revival.
    let h = destroyer.create_object(&data("shared")).unwrap();
    let p2 = another_process(&m);
    let s2 = p2.open_rw_session(slot).unwrap();
    let h2 = s2.find_objects(&[Attribute::Label(b"shared".to_vec())]).unwrap()[0];
    destroyer.destroy_object(h).unwrap();
    let e = s2.update_attributes(h2, &[Attribute::Label(b"back".to_vec())]).unwrap_err();
    assert_eq!(rv(e), RvError::ObjectHandleInvalid);
    assert_eq!(key_files(&m), 0);
}

#[test]
fn replaying_an_old_softcard_file_does_not_reset_its_pin_counter() {
    let m = Module::fresh();
    let slot = m.init_token("rollback");
    let file = softcard_file(&m);
    let fresh_copy = std::fs::read(&file).unwrap();
    let s = m.p11.open_rw_session(slot).unwrap();
    let wrong = AuthPin::new("0000-wrong".into());
    for _ in 0..9 {
        assert_eq!(rv(s.login(UserType::User, Some(&wrong)).unwrap_err()), RvError::PinIncorrect);
    }
    // The administrator puts back the file as it was before the guesses.
    std::fs::write(&file, &fresh_copy).unwrap();
    let p2 = another_process(&m);
    assert!(p2.get_token_info(slot).unwrap().user_pin_final_try(), "the count survived the replay");
    let s2 = p2.open_rw_session(slot).unwrap();
    assert_eq!(rv(s2.login(UserType::User, Some(&wrong)).unwrap_err()), RvError::PinLocked);
    let right = AuthPin::new(USER_PIN.into());
    assert_eq!(rv(s2.login(UserType::User, Some(&right)).unwrap_err()), RvError::PinLocked);
    // An edited limit or count fails the file's integrity check: the token is not served.
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    v["max_tries"] = serde_json::json!(1_000_000);
    v["user_failures"] = serde_json::json!(0);
    std::fs::write(&file, serde_json::to_vec(&v).unwrap()).unwrap();
    let p3 = another_process(&m);
    let served = p3.get_token_info(slot).map(|t| t.label() == "rollback").unwrap_or(false);
    assert!(!served, "an edited softcard file is not served");
}

#[test]
fn replaying_a_destroyed_objects_file_does_not_revive_it() {
    let m = Module::fresh();
    let slot = m.init_token("replay");
    let s = m.user_session(slot);
    let t = vec![
        Attribute::Class(ObjectClass::DATA),
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::Label(b"gone".to_vec()),
    ];
    let h = s.create_object(&t).unwrap();
    let files: Vec<_> = std::fs::read_dir(m.kmdata().join("local"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("key_pkcs11_"))
        .map(|e| (e.path(), std::fs::read(e.path()).unwrap()))
        .collect();
    assert_eq!(files.len(), 1);
    s.destroy_object(h).unwrap();
    std::fs::write(&files[0].0, &files[0].1).unwrap();
    let p2 = another_process(&m);
    let s2 = p2.open_ro_session(slot).unwrap();
    assert!(s2.find_objects(&[Attribute::Label(b"gone".to_vec())]).unwrap().is_empty());
    assert!(s.find_objects(&[Attribute::Label(b"gone".to_vec())]).unwrap().is_empty());
    // Positive control: objects made since are served as usual.
    let mut kept = t.clone();
    kept[3] = Attribute::Label(b"kept".to_vec());
    s.create_object(&kept).unwrap();
    assert_eq!(s2.find_objects(&[Attribute::Label(b"kept".to_vec())]).unwrap().len(), 1);
}

#[test]
fn stored_templates_nest_one_level_and_labels_are_bounded() {
    use shieldhsm::object::attr::AttrMap;
    // type u64 | tag u8 | len u32 | value: a template (tag 5) inside a template inside a map.
    let entry = |t: u64, tag: u8, v: &[u8]| [&t.to_le_bytes()[..], &[tag], &(v.len() as u32).to_le_bytes(), v].concat();
    let leaf = entry(0x162, 1, &[1]);
    let one = entry(0x4000_0212, 5, &leaf);
    assert!(AttrMap::decode(&one).is_ok(), "one level, as the spec uses it");
    let two = entry(0x4000_0211, 5, &one);
    assert!(AttrMap::decode(&two).is_err(), "a template in a template is refused");
    let mut deep = leaf.clone();
    for _ in 0..10_000 {
        deep = entry(0x4000_0212, 5, &deep);
    }
    assert!(AttrMap::decode(&deep).is_err(), "no recursion a file controls");
    // A 2 MiB label is refused before it is stored.
    let m = Module::fresh();
    let slot = m.init_token("bounds");
    let s = m.user_session(slot);
    let t = [Attribute::Class(ObjectClass::DATA), Attribute::Token(true), Attribute::Label(vec![b'x'; 2 << 20])];
    assert_eq!(rv(s.create_object(&t).unwrap_err()), RvError::AttributeValueInvalid);
}

#[test]
fn a_key_file_with_an_invalid_owner_is_one_error_line() {
    use common::cli::{Env, SEED_GENERATEKEY};
    let env = Env::new();
    env.world("1/1", false, &["acs"]);
    env.ok("generatekey", SEED_GENERATEKEY, &[]);
    let file = env.local("key_simple_contosokey");
    let mut raw = std::fs::read(&file).unwrap();
    raw[10] = 0xFF; // the owner's first byte: no longer UTF-8
    raw[11] = 0xC3;
    std::fs::write(&file, &raw).unwrap();
    let e = env.fails("kmfile-dump", file.to_str().unwrap(), &[]);
    assert!(e.contains("kmfile-dump: error:"), "{e}");
    let out = env.ok("nfkminfo", "-k", &[]);
    assert!(!out.contains("contosokey `"), "a damaged key is not listed as a key: {out}");
}
