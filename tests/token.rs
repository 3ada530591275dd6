//! Slots, tokens, PINs, sessions and login states through the C ABI.

mod common;
use common::*;
use cryptoki::error::RvError;
use cryptoki::session::{SessionState, UserType};
use cryptoki::types::AuthPin;

#[test]
fn fresh_store_has_module_slot_and_one_free_slot() {
    let m = Module::fresh();
    let slots = m.p11.get_all_slots().unwrap();
    assert_eq!(slots.len(), 2, "module slot + free slot");
    // The module slot keeps id 0 and is listed last (login tokens first).
    assert_eq!(slots[1], module_slot());
    let module = m.p11.get_token_info(module_slot()).unwrap();
    assert!(module.token_initialized());
    assert_eq!(module.label(), "loadshared accelerator");
    assert!(!module.login_required());
    assert!(!m.p11.get_token_info(slots[0]).unwrap().token_initialized());
    // Honest identity: never claims to be nCipher/Entrust.
    let info = m.p11.get_library_info().unwrap();
    assert!(!info.manufacturer_id().to_lowercase().contains("ncipher"));
    assert!(!info.manufacturer_id().to_lowercase().contains("entrust"));
}

#[test]
fn init_token_creates_world_softcard_and_a_new_free_slot() {
    let m = Module::fresh();
    let slot = m.init_token("alpha");
    let info = m.p11.get_token_info(slot).unwrap();
    assert_eq!(info.label(), "alpha");
    assert!(info.token_initialized() && info.user_pin_initialized() && info.login_required());
    assert_eq!(m.p11.get_all_slots().unwrap().len(), 3);
    assert!(m.kmdata().join("local/world").exists());
    let cards: Vec<_> = std::fs::read_dir(m.kmdata().join("local"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("softcard_"))
        .collect();
    assert_eq!(cards.len(), 1);
}

#[test]
fn session_states_follow_the_spec() {
    let m = Module::fresh();
    let slot = m.init_token("states");
    let ro = m.p11.open_ro_session(slot).unwrap();
    assert_eq!(ro.get_session_info().unwrap().session_state(), SessionState::RoPublic);
    // SO login is refused while a read-only session exists.
    let rw = m.p11.open_rw_session(slot).unwrap();
    let e = rw.login(UserType::So, Some(&AuthPin::new(SO_PIN.into()))).unwrap_err();
    assert_eq!(rv(e), RvError::SessionReadOnlyExists);
    rw.login(UserType::User, Some(&AuthPin::new(USER_PIN.into()))).unwrap();
    assert_eq!(ro.get_session_info().unwrap().session_state(), SessionState::RoUser);
    assert_eq!(rw.get_session_info().unwrap().session_state(), SessionState::RwUser);
    let e = rw.login(UserType::User, Some(&AuthPin::new(USER_PIN.into()))).unwrap_err();
    assert_eq!(rv(e), RvError::UserAlreadyLoggedIn);
    rw.logout().unwrap();
    assert_eq!(rv(rw.logout().unwrap_err()), RvError::UserNotLoggedIn);
}

#[test]
fn wrong_pin_counts_down_and_locks() {
    std::env::set_var("SHIELDHSM_PIN_MAX_TRIES", "3");
    let m = Module::fresh();
    let slot = m.init_token("locky");
    let s = m.p11.open_rw_session(slot).unwrap();
    let bad = AuthPin::new("wrong-pin".into());
    assert_eq!(rv(s.login(UserType::User, Some(&bad)).unwrap_err()), RvError::PinIncorrect);
    let t = m.p11.get_token_info(slot).unwrap();
    assert!(t.user_pin_count_low() && !t.user_pin_final_try());
    assert_eq!(rv(s.login(UserType::User, Some(&bad)).unwrap_err()), RvError::PinIncorrect);
    assert!(m.p11.get_token_info(slot).unwrap().user_pin_final_try());
    assert_eq!(rv(s.login(UserType::User, Some(&bad)).unwrap_err()), RvError::PinLocked);
    assert!(m.p11.get_token_info(slot).unwrap().user_pin_locked());
    // The right PIN no longer opens it; the SO can still log in and reset it.
    let good = AuthPin::new(USER_PIN.into());
    assert_eq!(rv(s.login(UserType::User, Some(&good)).unwrap_err()), RvError::PinLocked);
    s.login(UserType::So, Some(&AuthPin::new(SO_PIN.into()))).unwrap();
    s.init_pin(&AuthPin::new("new-user-pin".into())).unwrap();
    s.logout().unwrap();
    s.login(UserType::User, Some(&AuthPin::new("new-user-pin".into()))).unwrap();
    assert!(!m.p11.get_token_info(slot).unwrap().user_pin_locked());
}

#[test]
fn set_pin_changes_the_user_pin() {
    let m = Module::fresh();
    let slot = m.init_token("pins");
    let s = m.user_session(slot);
    s.set_pin(&AuthPin::new(USER_PIN.into()), &AuthPin::new("changed-pin".into())).unwrap();
    s.logout().unwrap();
    assert_eq!(rv(s.login(UserType::User, Some(&AuthPin::new(USER_PIN.into()))).unwrap_err()), RvError::PinIncorrect);
    s.login(UserType::User, Some(&AuthPin::new("changed-pin".into()))).unwrap();
    // Too short.
    assert_eq!(
        rv(s.set_pin(&AuthPin::new("changed-pin".into()), &AuthPin::new("12".into())).unwrap_err()),
        RvError::PinLenRange
    );
}

#[test]
fn reinit_token_wipes_objects_and_needs_so_pin() {
    use cryptoki::object::{Attribute, ObjectClass};
    let m = Module::fresh();
    let slot = m.init_token("wipe");
    {
        let s = m.user_session(slot);
        s.create_object(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Token(true),
            Attribute::Label(b"keepme".to_vec()),
            Attribute::Value(vec![1, 2, 3]),
        ])
        .unwrap();
    }
    let e = m.p11.init_token(slot, &AuthPin::new("bad-so-pin".into()), "wipe2").unwrap_err();
    assert_eq!(rv(e), RvError::PinIncorrect);
    m.p11.init_token(slot, &AuthPin::new(SO_PIN.into()), "wipe2").unwrap();
    let info = m.p11.get_token_info(slot).unwrap();
    assert_eq!(info.label(), "wipe2");
    assert!(!info.user_pin_initialized());
    let s = m.p11.open_ro_session(slot).unwrap();
    assert!(s.find_objects(&[Attribute::Label(b"keepme".to_vec())]).unwrap().is_empty());
}

#[test]
fn module_slot_refuses_login_and_private_objects() {
    use cryptoki::object::{Attribute, ObjectClass};
    let m = Module::fresh();
    m.init_token("needworld"); // creates the world, so the module slot is writable
    let module = module_slot();
    let s = m.p11.open_rw_session(module).unwrap();
    assert!(s.login(UserType::User, Some(&AuthPin::new(USER_PIN.into()))).is_err());
    let e = s
        .create_object(&[Attribute::Class(ObjectClass::DATA), Attribute::Private(true), Attribute::Value(vec![1])])
        .unwrap_err();
    assert_eq!(rv(e), RvError::UserNotLoggedIn);
    let h = s
        .create_object(&[Attribute::Class(ObjectClass::DATA), Attribute::Token(true), Attribute::Value(vec![1])])
        .unwrap();
    let name = std::fs::read_dir(m.kmdata().join("local"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("key_pkcs11_ua"));
    assert!(name.is_some(), "module-slot token objects are key_pkcs11_ua* files");
    s.destroy_object(h).unwrap();
}

#[test]
fn cknfast_fake_accelerator_login_and_no_accelerator_slots() {
    use cryptoki::object::{Attribute, ObjectClass};
    let m = Module::fresh_with_env(&[("CKNFAST_FAKE_ACCELERATOR_LOGIN", "1")]);
    m.init_token("w"); // a world, so the module slot is writable
    let module = module_slot();
    assert!(m.p11.get_token_info(module).unwrap().login_required());
    let s = m.p11.open_rw_session(module).unwrap();
    s.login(UserType::User, Some(&AuthPin::new("any-pin".into()))).unwrap();
    let h = s
        .create_object(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Value(vec![9]),
        ])
        .unwrap();
    s.logout().unwrap();
    assert!(s.find_objects(&[Attribute::Class(ObjectClass::DATA)]).unwrap().is_empty(), "private again after logout");
    s.login(UserType::User, Some(&AuthPin::new("x-pin".into()))).unwrap();
    assert_eq!(s.find_objects(&[Attribute::Class(ObjectClass::DATA)]).unwrap(), vec![h]);

    let hidden = Module::fresh_with_env(&[("CKNFAST_NO_ACCELERATOR_SLOTS", "1")]);
    let slots = hidden.p11.get_all_slots().unwrap();
    assert_eq!(slots.len(), 1, "only the free token slot");
    assert!(!hidden.p11.get_token_info(slots[0]).unwrap().token_initialized());
}

#[test]
fn the_inside_of_the_hsm_can_live_outside_the_data_directory() {
    let inside = tempfile::tempdir().unwrap();
    let emu = inside.path().join("hsm");
    let m = Module::fresh_with_env(&[("SHIELDHSM_EMU_DIR", emu.to_str().unwrap())]);
    let slot = m.init_token("elsewhere");
    let s = m.user_session(slot);
    assert!(!m.kmdata().join("emu").exists(), "nothing of the HSM's inside in the data directory");
    assert!(emu.join("modules").is_dir() && emu.join("generation").exists());
    assert!(m.kmdata().join("local").read_dir().unwrap().next().is_some(), "kmdata holds the world and card files");
    drop(s);
}
