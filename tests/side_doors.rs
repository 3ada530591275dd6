//! Keys leave only as policy allows, part 2 (issue #19): the side doors, through the built `.so`.
//! Each attack shows its refusal and return code beside a positive control showing the
//! legitimate use still works: the vendor interface's ACS quorum (counted, naming no card), KEK
//! names no registration may squat, `CKA_ALWAYS_AUTHENTICATE` binding derivation, the one floor
//! for keys derived from protected keys, PIN lengths outside the token's range, and softcard
//! files edited in `local/`. The CLI's side doors are in `tests/side_doors_cli.rs`.

#[macro_use]
mod common;
use common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::elliptic_curve::{EcKdf, Ecdh1DeriveParams};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use cryptoki_sys::*;
use shieldhsm::abi::vendor::SHSM_FUNCTION_LIST;
use std::ffi::{c_char, CString};
use std::ptr::{null, null_mut};

const ATTACKER_KID: &str = "https://evil.vault.azure.net/keys/evil/0123456789abcdef0123456789abcdef";

fn last_error(v: &SHSM_FUNCTION_LIST) -> String {
    let mut buf = vec![0u8; 1024];
    let mut len = buf.len() as CK_ULONG;
    assert_eq!(unsafe { v.SHSM_LastError.unwrap()(buf.as_mut_ptr(), &mut len) }, CKR_OK);
    String::from_utf8_lossy(&buf[..len as usize]).into_owned()
}

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

fn reduce(v: &SHSM_FUNCTION_LIST, kek: &str, pass: &[&str]) -> CK_RV {
    let owned: Vec<CString> = pass.iter().map(|p| c(p)).collect();
    let ptrs: Vec<*const c_char> = owned.iter().map(|p| p.as_ptr()).collect();
    let kek = c(kek);
    unsafe {
        v.SHSM_ReduceAclForTransfer.unwrap()(
            c"simple".as_ptr(),
            c"e1".as_ptr(),
            kek.as_ptr(),
            ptrs.as_ptr(),
            ptrs.len() as CK_ULONG,
        )
    }
}

fn import_kek(v: &SHSM_FUNCTION_LIST, name: &str, pem: &[u8], kid: Option<&str>) -> CK_RV {
    let (name, kid) = (c(name), kid.map(c));
    let mut bytes = pem.to_vec();
    let kid_ptr = kid.as_ref().map(|k| k.as_ptr()).unwrap_or(null());
    unsafe { v.SHSM_ImportKek.unwrap()(name.as_ptr(), bytes.as_mut_ptr(), bytes.len() as CK_ULONG, kid_ptr) }
}

fn export_byok(v: &SHSM_FUNCTION_LIST, kek: &str) -> Result<Vec<u8>, CK_RV> {
    let kek = c(kek);
    let mut len: CK_ULONG = 0;
    let rv = unsafe { v.SHSM_ExportByok.unwrap()(c"e1".as_ptr(), kek.as_ptr(), null_mut(), &mut len) };
    if rv != CKR_OK {
        return Err(rv);
    }
    let mut out = vec![0u8; len as usize];
    match unsafe { v.SHSM_ExportByok.unwrap()(c"e1".as_ptr(), kek.as_ptr(), out.as_mut_ptr(), &mut len) } {
        CKR_OK => Ok(out[..len as usize].to_vec()),
        rv => Err(rv),
    }
}

/// A fresh library with a 2/3 world (passphrases acs-1..3), module key `simple e1`, and the
/// attacker's KEK registered as `evil` through the vendor interface (no authority needed).
/// Returns the library and the attacker's KEK private key (PKCS#8).
fn world_with_attacker_kek(kmdata: &std::path::Path) -> (Raw, Vec<u8>) {
    let env = env_lock();
    let r = Raw::load_at(tempfile::tempdir().unwrap(), kmdata);
    assert_eq!(call!(r, C_Initialize, null_mut()), CKR_OK);
    drop(env);
    let v = vendor(&r);
    let acs = [c"acs-1".as_ptr(), c"acs-2".as_ptr(), c"acs-3".as_ptr()];
    assert_eq!(unsafe { v.SHSM_NewWorld.unwrap()(null(), 2, 3, acs.as_ptr()) }, CKR_OK);
    let params = c"type=RSA size=2048 protect=module ident=e1 plainname=e1";
    assert_eq!(unsafe { v.SHSM_GenerateKey.unwrap()(c"simple".as_ptr(), params.as_ptr()) }, CKR_OK);
    let (private, spki) = shieldhsm::byok::kek::generate(2048).unwrap();
    let pem = shieldhsm::mech::asn1::pem_encode("PUBLIC KEY", &spki);
    assert_eq!(import_kek(v, "evil", pem.as_bytes(), Some(ATTACKER_KID)), CKR_OK);
    (r, private.to_vec())
}

/// Case 1: ACS passphrases guessed online through the vendor interface. Before: each card was
/// guessed alone ("wrong passphrase for card 1"), ~10 guesses/s, nothing locked, then e1 left
/// wrapped to the attacker. Now every card presented counts a try, the refusal names no card
/// (the right card 1 beside a wrong card 2 reads exactly as two wrong ones), and after 10 tries
/// the cards lock: even the right quorum is refused, in this process and the next, whatever
/// SHIELDHSM_PIN_MAX_TRIES says.
#[test]
fn vendor_acs_guessing_is_counted_names_no_card_and_locks() {
    let dir = tempfile::tempdir().unwrap();
    let kmdata = dir.path().join("kmdata");
    let (r, _) = world_with_attacker_kek(&kmdata);
    let v = vendor(&r);
    let mut refusals = Vec::new();
    for i in 0..9 {
        assert_eq!(reduce(v, "evil", &[&format!("guess-{i}"), "x"]), CKR_FUNCTION_FAILED);
        refusals.push(last_error(v));
    }
    // The right passphrase of card 1 with a wrong card 2: the same answer, the tenth try.
    assert_eq!(reduce(v, "evil", &["acs-1", "x"]), CKR_FUNCTION_FAILED);
    refusals.push(last_error(v));
    for (i, e) in refusals.iter().enumerate() {
        assert!(e.contains("the quorum failed"), "{e}");
        assert!(!e.contains("card 1") && !e.contains("card 2"), "try {i} names a card: {e}");
    }
    let strip = |e: &str| e.split(" (").next().unwrap().to_string();
    assert_eq!(strip(&refusals[8]), strip(&refusals[9]), "a right card 1 is not told from a wrong one");
    // Locked now: the right quorum is refused, and no transfer copy exists to export.
    assert_eq!(reduce(v, "evil", &["acs-1", "acs-2"]), CKR_FUNCTION_FAILED);
    assert!(last_error(v).contains("is locked"), "{}", last_error(v));
    assert_eq!(export_byok(v, "evil"), Err(CKR_KEY_UNEXTRACTABLE));
    assert_eq!(call!(r, C_Finalize, null_mut()), CKR_OK);
    // Another process, asking for more tries through its environment, meets the same lock.
    let env = env_lock();
    std::env::set_var("SHIELDHSM_PIN_MAX_TRIES", "1000");
    let r2 = Raw::load_at(tempfile::tempdir().unwrap(), &kmdata);
    assert_eq!(call!(r2, C_Initialize, null_mut()), CKR_OK);
    let v2 = vendor(&r2);
    assert_eq!(reduce(v2, "evil", &["acs-1", "acs-2"]), CKR_FUNCTION_FAILED);
    std::env::remove_var("SHIELDHSM_PIN_MAX_TRIES");
    drop(env);
    assert!(last_error(v2).contains("is locked"));
    assert_eq!(call!(r2, C_Finalize, null_mut()), CKR_OK);
}

/// Positive control for case 1: the administrators' quorum, right the first time, reduces the
/// ACL to the KEK they approve, and the package opens with that KEK's private key (RSA-OAEP and
/// AES-KWP done by the independent checker in `shieldhsm::byok::transfer::verify`).
#[test]
fn vendor_quorum_with_the_right_passphrases_reduces_the_acl() {
    let dir = tempfile::tempdir().unwrap();
    let (r, kek_private) = world_with_attacker_kek(&dir.path().join("kmdata"));
    let v = vendor(&r);
    // One wrong try first: a right quorum afterwards clears the count.
    assert_eq!(reduce(v, "evil", &["acs-1", "x"]), CKR_FUNCTION_FAILED);
    assert_eq!(reduce(v, "evil", &["acs-1", "acs-2"]), CKR_OK, "{}", last_error(v));
    let doc = export_byok(v, "evil").unwrap();
    let opened = shieldhsm::byok::transfer::verify(&doc, &kek_private, Some(ATTACKER_KID)).unwrap();
    assert_eq!(opened.kind, shieldhsm::byok::transfer::TargetKind::Rsa(2048));
    assert_eq!(call!(r, C_Finalize, null_mut()), CKR_OK);
}

/// Case 2 through the vendor interface: a KEK that is not vendor-attested cannot take a vendor
/// package name (before: `SHSM_ImportKek("BYOK-KEK-pkg-EU-1", attacker_pub, …)` succeeded with
/// no login, and a later `-ModifyAcls … -ExchangeKeyPackage BYOK-KEK-pkg-EU-1` run from a
/// directory without that file wrapped the key to it). A vendor-signed package still imports,
/// under its own name, and only under it.
#[test]
fn vendor_package_names_belong_to_vendor_packages() {
    let work = tempfile::tempdir().unwrap();
    let kmdata = work.path().join("kmdata");
    let (r, _) = world_with_attacker_kek(&kmdata);
    let v = vendor(&r);
    let (_, spki) = shieldhsm::byok::kek::generate(2048).unwrap();
    let pem = shieldhsm::mech::asn1::pem_encode("PUBLIC KEY", &spki);
    for name in ["BYOK-KEK-pkg-EU-1", "byok-kek-pkg-NA-2", "BYOK-SecurityWorld-pkg-EU-1"] {
        assert_eq!(import_kek(v, name, pem.as_bytes(), Some(ATTACKER_KID)), CKR_ARGUMENTS_BAD, "{name}");
        assert!(last_error(v).contains("vendor package name"), "{}", last_error(v));
    }
    assert!(!kmdata.join("local/kekpkg_BYOK-KEK-pkg-EU-1").exists());
    // Positive control: the toolset's signed package imports as what it is.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shieldhsm"))
        .args(["byok-toolset", "--region", "EU"])
        .current_dir(work.path())
        .env("SHIELDHSM_KMDATA", &kmdata)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let signed = std::fs::read(work.path().join("BYOK-KEK-pkg-EU-1")).unwrap();
    assert_eq!(import_kek(v, "KEKforBYOK", &signed, None), CKR_ARGUMENTS_BAD, "only under its own name");
    assert_eq!(import_kek(v, "BYOK-KEK-pkg-EU-1", &signed, None), CKR_OK, "{}", last_error(v));
    let mut forged = String::from_utf8(signed).unwrap();
    forged = forged.replacen("\"EU\"", "\"NA\"", 1);
    assert_eq!(import_kek(v, "BYOK-KEK-pkg-NA-1", forged.as_bytes(), None), CKR_ARGUMENTS_BAD, "signature");
    assert_eq!(call!(r, C_Finalize, null_mut()), CKR_OK);
}

fn p256_params() -> Vec<u8> {
    vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]
}

fn x25519_params() -> Vec<u8> {
    vec![0x06, 0x03, 0x2b, 0x65, 0x6e]
}

/// A session key pair whose private half says `CKA_ALWAYS_AUTHENTICATE` (if `always`).
fn pair(s: &Session, gen: &Mechanism, params: Vec<u8>, always: bool) -> (ObjectHandle, ObjectHandle) {
    let public = [Attribute::Token(false), Attribute::EcParams(params), Attribute::Derive(true)];
    let private = [
        Attribute::Token(false),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Derive(true),
        Attribute::AlwaysAuthenticate(always),
    ];
    s.generate_key_pair(gen, &public, &private).unwrap()
}

fn readable_secret() -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::Token(false),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
    ]
}

fn point(s: &Session, h: ObjectHandle) -> Vec<u8> {
    match s.get_attributes(h, &[AttributeType::EcPoint]).unwrap().pop() {
        Some(Attribute::EcPoint(p)) => p,
        other => panic!("no CKA_EC_POINT: {other:?}"),
    }
}

/// Case 4: a key that asks for its PIN at every use asks for it at derivation. Before, an EC
/// P-256 or X25519 key with `CKA_ALWAYS_AUTHENTICATE` derived (`CKM_ECDH1_DERIVE`, `CKD_NULL`)
/// into a readable secret with no context-specific login: ECIES decryption without the PIN.
/// Now `C_DeriveKey` answers `CKR_USER_NOT_LOGGED_IN` until `C_Login(CKU_CONTEXT_SPECIFIC)`,
/// which authorizes one derivation; a key without the flag derives as before.
#[test]
fn always_authenticate_binds_derivation() {
    let (_m, s) = logged_in_session("aa");
    let pin = AuthPin::new(USER_PIN.into());
    for (gen, params) in
        [(Mechanism::EccKeyPairGen, p256_params()), (Mechanism::EccMontgomeryKeyPairGen, x25519_params())]
    {
        let (_, guarded) = pair(&s, &gen, params.clone(), true);
        let (peer_pub, plain) = pair(&s, &gen, params, false);
        let peer = point(&s, peer_pub);
        let ecdh = Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(EcKdf::null(), &peer));
        assert_eq!(rv(s.derive_key(&ecdh, guarded, &readable_secret()).unwrap_err()), RvError::UserNotLoggedIn);
        // Positive controls: after the context-specific login, once; a key without the flag.
        s.login(UserType::ContextSpecific, Some(&pin)).unwrap();
        s.derive_key(&ecdh, guarded, &readable_secret()).unwrap();
        assert_eq!(
            rv(s.derive_key(&ecdh, guarded, &readable_secret()).unwrap_err()),
            RvError::UserNotLoggedIn,
            "one login, one use"
        );
        s.derive_key(&ecdh, plain, &readable_secret()).unwrap();
        // A wrong PIN grants nothing.
        assert_eq!(
            rv(s.login(UserType::ContextSpecific, Some(&AuthPin::new("wrong-pin".into()))).unwrap_err()),
            RvError::PinIncorrect
        );
        assert_eq!(rv(s.derive_key(&ecdh, guarded, &readable_secret()).unwrap_err()), RvError::UserNotLoggedIn);
    }
}

/// "Also seen": `CKM_DES3_ECB_ENCRYPT_DATA` with 8 bytes of data made an 8-byte key from a
/// protected key (the 16-byte floor applied only to cuts), a 64-bit search from the base's
/// encryption of chosen data. Now one floor holds whatever the mechanism: no key shorter than
/// 16 bytes from a protected key (`CKR_TEMPLATE_INCONSISTENT`) unless `derive_kek` says so.
#[test]
fn keys_derived_from_protected_keys_keep_sixteen_bytes() {
    let (_m, s) = logged_in_session("floor");
    let base = s
        .generate_key(
            &Mechanism::Des3KeyGen,
            &[Attribute::Token(false), Attribute::Derive(true), Attribute::Sensitive(true)],
        )
        .unwrap();
    let des3 = |data: &[u8]| common::derive::Derivation::data(CKM_DES3_ECB_ENCRYPT_DATA, data);
    let generic = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::Token(false),
    ];
    let d = des3(&[0x11; 8]);
    assert_eq!(rv(s.derive_key(&d.mechanism(), base, &generic).unwrap_err()), RvError::TemplateInconsistent);
    let d = des3(&[0x11; 16]);
    s.derive_key(&d.mechanism(), base, &generic).unwrap();
    // With the override, the short key is made (the legacy behaviour, by choice).
    let m = Module::fresh_with_env(&[("CKNFAST_OVERRIDE_SECURITY_ASSURANCES", "derive_kek")]);
    let slot = m.init_token("floor2");
    let s2 = m.user_session(slot);
    let base = s2
        .generate_key(
            &Mechanism::Des3KeyGen,
            &[Attribute::Token(false), Attribute::Derive(true), Attribute::Sensitive(true)],
        )
        .unwrap();
    let d = des3(&[0x11; 8]);
    s2.derive_key(&d.mechanism(), base, &generic).unwrap();
}

/// "Also seen": a PIN of 3, 257 or 64 MiB bytes got `CKR_PIN_INCORRECT` and was counted. Now
/// `CKR_PIN_LEN_RANGE`, and the count does not move; a wrong PIN in range still counts.
#[test]
fn pins_outside_the_range_are_refused_uncounted() {
    let m = Module::fresh();
    let slot = m.init_token("pins");
    let s = m.p11.open_rw_session(slot).unwrap();
    let huge = "x".repeat(64 << 20);
    for pin in ["abc".to_string(), "y".repeat(257), huge] {
        let e = s.login(UserType::User, Some(&AuthPin::new(pin))).unwrap_err();
        assert_eq!(rv(e), RvError::PinLenRange);
    }
    assert!(!m.p11.get_token_info(slot).unwrap().user_pin_count_low(), "nothing was counted");
    let e = s.login(UserType::User, Some(&AuthPin::new("wrong-but-long-enough".into()))).unwrap_err();
    assert_eq!(rv(e), RvError::PinIncorrect);
    assert!(m.p11.get_token_info(slot).unwrap().user_pin_count_low(), "a wrong PIN in range counts");
    s.login(UserType::User, Some(&AuthPin::new(USER_PIN.into()))).unwrap();
}

/// The labels of the tokens a fresh load of the library on `kmdata` shows.
fn token_labels(kmdata: &std::path::Path) -> Vec<String> {
    let env = env_lock();
    let r = Raw::load_at(tempfile::tempdir().unwrap(), kmdata);
    assert_eq!(call!(r, C_Initialize, null_mut()), CKR_OK);
    drop(env);
    let labels = raw_slots(&r)
        .into_iter()
        .filter_map(|id| {
            // SAFETY: a plain C struct; the call fills it.
            let mut t: CK_TOKEN_INFO = unsafe { std::mem::zeroed() };
            (call!(r, C_GetTokenInfo, id, &mut t) == CKR_OK)
                .then(|| String::from_utf8_lossy(&t.label).trim_end().to_string())
        })
        .collect();
    assert_eq!(call!(r, C_Finalize, null_mut()), CKR_OK);
    labels
}

/// Case 5 for softcards: `local/softcard_<HASH>` carries policy (its try limit, its slot, its
/// PIN records); an edited one, or an older copy from before a PIN change, is refused (the token
/// is not served) where before it was taken as written. Positive control: the file as the
/// module wrote it serves the token.
#[test]
fn edited_or_rolled_back_softcard_files_are_refused() {
    let m = Module::fresh();
    let slot = m.init_token("guarded");
    let kmdata = m.kmdata();
    let file = local_file(&kmdata, "softcard_");
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(token_labels(&kmdata).contains(&"guarded".to_string()), "positive control");
    let raised = written.replace("\"max_tries\": 10", "\"max_tries\": 1000000");
    assert_ne!(raised, written);
    std::fs::write(&file, &raised).unwrap();
    assert!(!token_labels(&kmdata).contains(&"guarded".to_string()), "an edited softcard file is not served");
    std::fs::write(&file, &written).unwrap();
    // Change the user PIN; the older copy (whose PIN record takes the old PIN) is refused.
    let s = m.p11.open_rw_session(slot).unwrap();
    s.login(UserType::User, Some(&AuthPin::new(USER_PIN.into()))).unwrap();
    s.set_pin(&AuthPin::new(USER_PIN.into()), &AuthPin::new("9999-new".into())).unwrap();
    s.logout().unwrap();
    std::fs::write(&file, &written).unwrap();
    assert!(!token_labels(&kmdata).contains(&"guarded".to_string()), "a rolled-back softcard file is not served");
}
