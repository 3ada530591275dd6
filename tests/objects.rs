//! Objects through the C ABI: templates and the attribute policy, search, persistence, other
//! processes, and a process killed mid-write.

mod common;
use common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};

fn data(label: &str, token: bool, private: bool) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::DATA),
        Attribute::Token(token),
        Attribute::Private(private),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Application(b"tests".to_vec()),
        Attribute::Value(label.as_bytes().to_vec()),
    ]
}

#[test]
fn create_read_update_copy_destroy() {
    let m = Module::fresh();
    let slot = m.init_token("objs");
    let s = m.user_session(slot);
    let h = s.create_object(&data("one", false, false)).unwrap();
    let attrs = s.get_attributes(h, &[AttributeType::Label, AttributeType::Value, AttributeType::Token]).unwrap();
    assert!(attrs.contains(&Attribute::Label(b"one".to_vec())));
    assert!(attrs.contains(&Attribute::Token(false)));
    s.update_attributes(h, &[Attribute::Label(b"uno".to_vec())]).unwrap();
    assert_eq!(s.find_objects(&[Attribute::Label(b"uno".to_vec())]).unwrap(), vec![h]);
    assert!(s.find_objects(&[Attribute::Label(b"one".to_vec())]).unwrap().is_empty());
    let c = s.copy_object(h, &[Attribute::Label(b"copy".to_vec())]).unwrap();
    assert_ne!(c, h);
    assert_eq!(s.find_objects(&[Attribute::Application(b"tests".to_vec())]).unwrap().len(), 2);
    s.destroy_object(h).unwrap();
    assert_eq!(rv(s.destroy_object(h).unwrap_err()), RvError::ObjectHandleInvalid);
    assert_eq!(rv(s.get_attributes(h, &[AttributeType::Label]).unwrap_err()), RvError::ObjectHandleInvalid);
}

#[test]
fn template_errors_use_the_spec_codes() {
    let m = Module::fresh();
    let slot = m.init_token("tmpl");
    let s = m.user_session(slot);
    // AES key without a value.
    let e =
        s.create_object(&[Attribute::Class(ObjectClass::SECRET_KEY), Attribute::KeyType(KeyType::AES)]).unwrap_err();
    assert_eq!(rv(e), RvError::TemplateIncomplete);
    // CKA_LOCAL is computed by the token.
    let e = s
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Value(vec![0; 16]),
            Attribute::Local(true),
        ])
        .unwrap_err();
    assert_eq!(rv(e), RvError::AttributeReadOnly);
    // A modulus on a data object.
    let mut t = data("x", false, false);
    t.push(Attribute::Modulus(vec![1, 2, 3]));
    assert_eq!(rv(s.create_object(&t).unwrap_err()), RvError::AttributeTypeInvalid);
    // AES key of a bad length.
    let e = s
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Value(vec![0; 15]),
        ])
        .unwrap_err();
    assert_eq!(rv(e), RvError::AttributeValueInvalid);
}

#[test]
fn sensitive_values_never_leave_and_flags_are_maintained() {
    let m = Module::fresh();
    let slot = m.init_token("sens");
    let s = m.user_session(slot);
    let k = s
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::ValueLen(32.into()),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Token(false),
            ],
        )
        .unwrap();
    let e = s.get_attributes(k, &[AttributeType::Value]);
    // cryptoki maps CKR_ATTRIBUTE_SENSITIVE to an absent attribute.
    assert!(e.map(|v| v.is_empty()).unwrap_or(true), "the value of a sensitive key must not be readable");
    let a = s
        .get_attributes(
            k,
            &[
                AttributeType::Local,
                AttributeType::AlwaysSensitive,
                AttributeType::NeverExtractable,
                AttributeType::KeyGenMechanism,
                AttributeType::ValueLen,
            ],
        )
        .unwrap();
    assert!(a.contains(&Attribute::Local(true)));
    assert!(a.contains(&Attribute::AlwaysSensitive(true)));
    assert!(a.contains(&Attribute::NeverExtractable(true)));
    assert!(a.contains(&Attribute::KeyGenMechanism(cryptoki::mechanism::MechanismType::AES_KEY_GEN)));
    assert!(a.contains(&Attribute::ValueLen(32.into())));
    // One-way attributes.
    assert_eq!(rv(s.update_attributes(k, &[Attribute::Sensitive(false)]).unwrap_err()), RvError::AttributeReadOnly);
    assert_eq!(rv(s.update_attributes(k, &[Attribute::Extractable(true)]).unwrap_err()), RvError::AttributeReadOnly);
    // An imported key was never "always sensitive".
    let imp = s
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Value(vec![7; 16]),
        ])
        .unwrap();
    let a = s.get_attributes(imp, &[AttributeType::AlwaysSensitive, AttributeType::Local]).unwrap();
    assert!(a.contains(&Attribute::AlwaysSensitive(false)) && a.contains(&Attribute::Local(false)));
}

#[test]
fn private_objects_need_login_and_ro_sessions_cannot_write() {
    let m = Module::fresh();
    let slot = m.init_token("priv");
    {
        let s = m.user_session(slot);
        s.create_object(&data("secret", true, true)).unwrap();
        s.create_object(&data("public", true, false)).unwrap();
    }
    let ro = m.p11.open_ro_session(slot).unwrap();
    assert!(ro.find_objects(&[Attribute::Label(b"secret".to_vec())]).unwrap().is_empty());
    assert_eq!(ro.find_objects(&[Attribute::Label(b"public".to_vec())]).unwrap().len(), 1);
    assert_eq!(rv(ro.create_object(&data("t", true, false)).unwrap_err()), RvError::SessionReadOnly);
    assert_eq!(rv(ro.create_object(&data("p", false, true)).unwrap_err()), RvError::UserNotLoggedIn);
    ro.login(cryptoki::session::UserType::User, Some(&cryptoki::types::AuthPin::new(USER_PIN.into()))).unwrap();
    assert_eq!(ro.find_objects(&[Attribute::Label(b"secret".to_vec())]).unwrap().len(), 1);
    ro.logout().unwrap();
    assert!(ro.find_objects(&[Attribute::Label(b"secret".to_vec())]).unwrap().is_empty());
}

#[test]
fn token_objects_persist_and_another_instance_sees_changes() {
    let m = Module::fresh();
    let slot = m.init_token("persist");
    let s = m.user_session(slot);
    let h = s.create_object(&data("kept", true, true)).unwrap();
    // A second, independent load of the library on the same directory: another process's view.
    let dir = tempfile::TempDir::new_in(m.dir.path()).unwrap();
    let other_so = dir.path().join("other.so");
    std::fs::copy(built_module(), &other_so).unwrap();
    let p2 = init_at(&other_so, &m.kmdata());
    let s2 = p2.open_rw_session(slot).unwrap();
    s2.login(cryptoki::session::UserType::User, Some(&cryptoki::types::AuthPin::new(USER_PIN.into()))).unwrap();
    let found = s2.find_objects(&[Attribute::Label(b"kept".to_vec())]).unwrap();
    assert_eq!(found.len(), 1);
    let v = s2.get_attributes(found[0], &[AttributeType::Value]).unwrap();
    assert_eq!(v, vec![Attribute::Value(b"kept".to_vec())]);
    // The other instance creates one; the first sees it without reopening.
    s2.create_object(&data("from-other", true, false)).unwrap();
    assert_eq!(s.find_objects(&[Attribute::Label(b"from-other".to_vec())]).unwrap().len(), 1);
    // The first destroys its object; the other stops seeing it.
    s.destroy_object(h).unwrap();
    assert!(s2.find_objects(&[Attribute::Label(b"kept".to_vec())]).unwrap().is_empty());
    // Files are owner-only.
    use std::os::unix::fs::PermissionsExt;
    for e in std::fs::read_dir(m.kmdata().join("local")).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            assert_eq!(e.metadata().unwrap().permissions().mode() & 0o077, 0, "{:?} is group/world readable", e.path());
        }
    }
}

#[test]
fn find_uses_indexes_over_many_objects() {
    let m = Module::fresh();
    let slot = m.init_token("many");
    let s = m.user_session(slot);
    for i in 0..2000 {
        s.create_object(&data(&format!("obj-{i}"), false, false)).unwrap();
    }
    for i in (0..2000).step_by(7) {
        let f = s
            .find_objects(&[Attribute::Class(ObjectClass::DATA), Attribute::Label(format!("obj-{i}").into_bytes())])
            .unwrap();
        assert_eq!(f.len(), 1);
    }
    assert_eq!(s.find_objects(&[Attribute::Class(ObjectClass::DATA)]).unwrap().len(), 2000);
}

/// The child side of `killed_mid_write_leaves_a_usable_store` and
/// `two_processes_writing_one_store_lose_nothing`: writes token objects (forever, or
/// `SHIELDHSM_CHILD_COUNT` of them).
#[test]
#[ignore = "run by the other tests, in a child process with SHIELDHSM_CHILD_KMDATA set"]
fn child_writer() {
    let Ok(dir) = std::env::var("SHIELDHSM_CHILD_KMDATA") else { return };
    let so = std::path::PathBuf::from(std::env::var("SHIELDHSM_CHILD_SO").unwrap());
    let p11 = init_at(&so, std::path::Path::new(&dir));
    // The one softcard (the module slot, id 0, is the other initialized token).
    let slot = p11.get_slots_with_initialized_token().unwrap().into_iter().find(|s| s.id() != MODULE_SLOT_ID).unwrap();
    let s = p11.open_rw_session(slot).unwrap();
    s.login(cryptoki::session::UserType::User, Some(&cryptoki::types::AuthPin::new(USER_PIN.into()))).unwrap();
    let limit: usize = std::env::var("SHIELDHSM_CHILD_COUNT").ok().and_then(|v| v.parse().ok()).unwrap_or(usize::MAX);
    let tag = std::env::var("SHIELDHSM_CHILD_TAG").unwrap_or_else(|_| "w".into());
    for i in 0..limit {
        s.create_object(&data(&format!("{tag}-{i}"), true, true)).unwrap();
    }
}

#[test]
fn two_processes_writing_one_store_lose_nothing() {
    let m = Module::fresh();
    let slot = m.init_token("shared");
    let spawn = |tag: &str| {
        std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_writer", "--ignored", "--nocapture"])
            .env("SHIELDHSM_CHILD_KMDATA", m.kmdata())
            .env("SHIELDHSM_CHILD_SO", &m.so_path)
            .env("SHIELDHSM_CHILD_COUNT", "60")
            .env("SHIELDHSM_CHILD_TAG", tag)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let (mut a, mut b) = (spawn("a"), spawn("b"));
    // Meanwhile this process writes too, from two threads with their own sessions.
    std::thread::scope(|sc| {
        for t in 0..2 {
            let m = &m;
            sc.spawn(move || {
                let s = m.user_session(slot);
                for i in 0..30 {
                    s.create_object(&data(&format!("t{t}-{i}"), true, false)).unwrap();
                }
            });
        }
    });
    assert!(a.wait().unwrap().success() && b.wait().unwrap().success());
    let s = m.user_session(slot);
    let all = s.find_objects(&[Attribute::Class(ObjectClass::DATA)]).unwrap();
    assert_eq!(all.len(), 60 + 60 + 30 + 30, "every object written by every writer is there");
    for tag in ["a-59", "b-0", "t0-29", "t1-0"] {
        assert_eq!(s.find_objects(&[Attribute::Label(tag.as_bytes().to_vec())]).unwrap().len(), 1, "{tag}");
    }
}

#[test]
fn threads_sign_concurrently_in_their_own_sessions() {
    let m = Module::fresh();
    let slot = m.init_token("threads");
    let s = m.user_session(slot);
    let k = s
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::GENERIC_SECRET),
            Attribute::Value(b"Jefe".to_vec()),
            Attribute::Token(true),
        ])
        .unwrap();
    // RFC 4231 test case 2.
    let expect = hex::decode("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843").unwrap();
    std::thread::scope(|sc| {
        for _ in 0..4 {
            let (m, expect) = (&m, &expect);
            sc.spawn(move || {
                let s = m.p11.open_ro_session(slot).unwrap();
                for _ in 0..200 {
                    assert_eq!(&s.sign(&Mechanism::Sha256Hmac, k, b"what do ya want for nothing?").unwrap(), expect);
                }
            });
        }
    });
}

#[test]
fn killed_mid_write_leaves_a_usable_store() {
    let m = Module::fresh();
    let slot = m.init_token("crash");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_writer", "--ignored", "--nocapture"])
        .env("SHIELDHSM_CHILD_KMDATA", m.kmdata())
        .env("SHIELDHSM_CHILD_SO", &m.so_path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Let it write a while, then kill it without warning.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let n = std::fs::read_dir(m.kmdata().join("local"))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("key_"))
            .count();
        if n >= 20 || std::time::Instant::now() > deadline {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // Every object file that exists opens; the store keeps working.
    let s = m.user_session(slot);
    let objs = s.find_objects(&[Attribute::Class(ObjectClass::DATA)]).unwrap();
    assert!(objs.len() >= 20, "the child wrote objects before it died ({} found)", objs.len());
    let files = std::fs::read_dir(m.kmdata().join("local"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("key_pkcs11_"))
        .count();
    assert_eq!(files, objs.len(), "every object file on disk is a readable object");
    for h in objs.iter().take(50) {
        let v = s.get_attributes(*h, &[AttributeType::Label, AttributeType::Value]).unwrap();
        assert_eq!(v.len(), 2);
    }
    s.create_object(&data("after", true, true)).unwrap();
}
