//! Loading the module is free: an installed module is loaded (and `C_Initialize`d) by every
//! p11-kit consumer, so until a token is written the library creates no directory, derives no
//! key and never fails to initialize, whatever the environment (no `HOME`, no kmdata variable).
//!
//! The environment is process-wide, so each case runs in a child: this test binary again, with
//! `LAZY_INIT_CHILD=<case>` selecting [`child`], under an environment the parent sets up.

mod common;

use cryptoki_sys::*;
use std::ffi::{c_void, CString};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::ptr::null_mut;

const CHILD_VAR: &str = "LAZY_INIT_CHILD";

/// The library's 2.40 function table, dlopen'ed as a C program would.
fn load(so: &Path) -> &'static CK_FUNCTION_LIST {
    let c = CString::new(so.to_str().unwrap()).unwrap();
    // SAFETY: loading our own library; the symbol is checked below.
    let handle = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    assert!(!handle.is_null(), "dlopen {}", so.display());
    let sym = unsafe { libc::dlsym(handle, c"C_GetFunctionList".as_ptr()) };
    assert!(!sym.is_null());
    let get: unsafe extern "C" fn(*mut *mut CK_FUNCTION_LIST) -> CK_RV = unsafe { std::mem::transmute(sym) };
    let mut p = null_mut();
    assert_eq!(unsafe { get(&mut p) }, CKR_OK);
    unsafe { &*p }
}

macro_rules! ck {
    ($f:expr, $name:ident $(, $a:expr)*) => { unsafe { ($f.$name.unwrap())($($a),*) } };
}

fn slots(f: &CK_FUNCTION_LIST) -> Vec<CK_SLOT_ID> {
    let mut n: CK_ULONG = 0;
    assert_eq!(ck!(f, C_GetSlotList, CK_FALSE, null_mut(), &mut n), CKR_OK, "C_GetSlotList (count)");
    let mut ids = vec![0 as CK_SLOT_ID; n as usize];
    assert_eq!(ck!(f, C_GetSlotList, CK_FALSE, ids.as_mut_ptr(), &mut n), CKR_OK, "C_GetSlotList");
    ids.truncate(n as usize);
    ids
}

fn token_info(f: &CK_FUNCTION_LIST, slot: CK_SLOT_ID) -> CK_TOKEN_INFO {
    let mut t: CK_TOKEN_INFO = unsafe { std::mem::zeroed() };
    assert_eq!(ck!(f, C_GetTokenInfo, slot, &mut t), CKR_OK, "C_GetTokenInfo({slot})");
    t
}

/// What a p11-kit consumer does when it loads a module and lists tokens, plus a read-only
/// session on the module slot (searching objects reads the store, never writes it).
fn look_around(f: &CK_FUNCTION_LIST) -> Vec<CK_SLOT_ID> {
    assert_eq!(ck!(f, C_Initialize, null_mut()), CKR_OK, "C_Initialize");
    let mut info: CK_INFO = unsafe { std::mem::zeroed() };
    assert_eq!(ck!(f, C_GetInfo, &mut info), CKR_OK);
    let ids = slots(f);
    assert!(ids.len() >= 2, "module slot and a free slot: {ids:?}");
    for &id in &ids {
        let mut si: CK_SLOT_INFO = unsafe { std::mem::zeroed() };
        assert_eq!(ck!(f, C_GetSlotInfo, id, &mut si), CKR_OK, "C_GetSlotInfo({id})");
        token_info(f, id);
        let mut n: CK_ULONG = 0;
        assert_eq!(ck!(f, C_GetMechanismList, id, null_mut(), &mut n), CKR_OK);
    }
    let mut h: CK_SESSION_HANDLE = 0;
    // The module slot, by its id (it is listed last).
    assert!(ids.contains(&common::MODULE_SLOT_ID), "the module slot is listed: {ids:?}");
    assert_eq!(ck!(f, C_OpenSession, common::MODULE_SLOT_ID, CKF_SERIAL_SESSION, null_mut(), None, &mut h), CKR_OK);
    assert_eq!(ck!(f, C_FindObjectsInit, h, null_mut(), 0), CKR_OK);
    let mut objs = [0 as CK_OBJECT_HANDLE; 8];
    let mut n: CK_ULONG = 0;
    assert_eq!(ck!(f, C_FindObjects, h, objs.as_mut_ptr(), 8, &mut n), CKR_OK);
    assert_eq!(ck!(f, C_FindObjectsFinal, h), CKR_OK);
    assert_eq!(ck!(f, C_CloseSession, h), CKR_OK);
    ids
}

/// The free slot (token not initialized).
fn free_slot(f: &CK_FUNCTION_LIST, ids: &[CK_SLOT_ID]) -> CK_SLOT_ID {
    *ids.iter().find(|&&id| token_info(f, id).flags & CKF_TOKEN_INITIALIZED == 0).expect("a free slot")
}

/// A child's work: runs only in a child process, when the parent selected a case.
#[test]
#[ignore = "run by the other tests, in a child process with a clean environment"]
fn child() {
    let Ok(case) = std::env::var(CHILD_VAR) else { return };
    let f = load(&PathBuf::from(std::env::var("LAZY_INIT_MODULE").unwrap()));
    match case.as_str() {
        // Load, list, look: must work and must write nothing.
        "look" => {
            look_around(f);
            assert_eq!(ck!(f, C_Finalize, null_mut()), CKR_OK, "C_Finalize");
            // Again, as a consumer that re-initializes.
            look_around(f);
            assert_eq!(ck!(f, C_Finalize, null_mut()), CKR_OK, "C_Finalize");
        }
        // No data directory at all: loading works, creating a token is a clean error.
        "nowhere" => {
            let ids = look_around(f);
            let free = free_slot(f, &ids);
            let so = common::SO_PIN.as_bytes();
            let mut label = [b' '; 32];
            let rv = ck!(f, C_InitToken, free, so.as_ptr() as *mut _, so.len() as CK_ULONG, label.as_mut_ptr());
            assert_eq!(rv, CKR_DEVICE_ERROR, "C_InitToken with no data directory");
            assert_eq!(ck!(f, C_Finalize, null_mut()), CKR_OK, "C_Finalize");
        }
        // Using the token: initialize it, log in, create a token object.
        "use" => {
            let ids = look_around(f);
            let free = free_slot(f, &ids);
            let (so, user) = (common::SO_PIN.as_bytes(), common::USER_PIN.as_bytes());
            let mut label = [b' '; 32];
            label[..4].copy_from_slice(b"lazy");
            let rv = ck!(f, C_InitToken, free, so.as_ptr() as *mut _, so.len() as CK_ULONG, label.as_mut_ptr());
            assert_eq!(rv, CKR_OK, "C_InitToken");
            let mut h: CK_SESSION_HANDLE = 0;
            let flags = CKF_SERIAL_SESSION | CKF_RW_SESSION;
            assert_eq!(ck!(f, C_OpenSession, free, flags, null_mut(), None, &mut h), CKR_OK);
            assert_eq!(ck!(f, C_Login, h, CKU_SO, so.as_ptr() as *mut _, so.len() as CK_ULONG), CKR_OK);
            assert_eq!(ck!(f, C_InitPIN, h, user.as_ptr() as *mut _, user.len() as CK_ULONG), CKR_OK);
            assert_eq!(ck!(f, C_Logout, h), CKR_OK);
            assert_eq!(ck!(f, C_Login, h, CKU_USER, user.as_ptr() as *mut _, user.len() as CK_ULONG), CKR_OK);
            let mut class = CKO_DATA;
            let mut yes = CK_TRUE;
            let mut value = *b"lazy";
            let mut t = [
                CK_ATTRIBUTE { type_: CKA_CLASS, pValue: &mut class as *mut _ as *mut c_void, ulValueLen: 8 },
                CK_ATTRIBUTE { type_: CKA_TOKEN, pValue: &mut yes as *mut _ as *mut c_void, ulValueLen: 1 },
                CK_ATTRIBUTE { type_: CKA_VALUE, pValue: value.as_mut_ptr() as *mut c_void, ulValueLen: 4 },
            ];
            let mut o: CK_OBJECT_HANDLE = 0;
            assert_eq!(ck!(f, C_CreateObject, h, t.as_mut_ptr(), t.len() as CK_ULONG, &mut o), CKR_OK);
            assert_eq!(ck!(f, C_Finalize, null_mut()), CKR_OK, "C_Finalize");
        }
        other => panic!("unknown case {other}"),
    }
    println!("child {case}: ok");
}

/// Runs [`child`] for `case` in a fresh process: an empty environment (no `HOME`, no
/// `XDG_*`, no kmdata variable) plus `env`, in `cwd`, as `uid` if given. Success and output.
fn spawn(case: &str, env: &[(&str, &Path)], cwd: &Path, uid: Option<u32>) -> (bool, String) {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args(["--exact", "child", "--ignored", "--nocapture", "--test-threads=1"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env(CHILD_VAR, case)
        .env("LAZY_INIT_MODULE", common::built_module())
        .current_dir(cwd);
    for (k, v) in env {
        c.env(k, v);
    }
    if let Some(uid) = uid {
        use std::os::unix::process::CommandExt;
        c.uid(uid).gid(uid);
    }
    let out = c.output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success() && text.contains(&format!("child {case}: ok")), text)
}

fn run_child(case: &str, env: &[(&str, &Path)], cwd: &Path) {
    let (ok, text) = spawn(case, env, cwd, None);
    assert!(ok, "child {case} failed:\n{text}");
}

/// Every path under `dir`, for "nothing was created here" checks.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            out.push(e.path());
            out.extend(tree(&e.path()));
        }
    }
    out.sort();
    out
}

/// The per-user default data directory the library falls back to without `HOME`.
fn passwd_default_dir() -> Option<PathBuf> {
    // SAFETY: getpwuid returns a pointer into static storage, read at once (single use here).
    let pw = unsafe { libc::getpwuid(libc::geteuid()) };
    if pw.is_null() {
        return None;
    }
    let home = unsafe { std::ffi::CStr::from_ptr((*pw).pw_dir) }.to_str().ok()?.to_string();
    Some(PathBuf::from(home).join(".local/share/shieldhsm/kmdata"))
}

#[test]
fn loads_with_no_home_and_no_kmdata_variable() {
    let cwd = tempfile::tempdir().unwrap();
    let default = passwd_default_dir();
    let existed = default.as_ref().map(|d| d.exists());
    run_child("look", &[], cwd.path());
    assert!(tree(cwd.path()).is_empty(), "wrote into the working directory: {:?}", tree(cwd.path()));
    if let (Some(d), Some(existed)) = (default, existed) {
        assert_eq!(d.exists(), existed, "{} created by merely loading the module", d.display());
    }
}

#[test]
fn loading_and_listing_create_no_data_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let kmdata = tmp.path().join("not-yet/kmdata");
    run_child("look", &[("SHIELDHSM_KMDATA", &kmdata)], tmp.path());
    assert!(!tmp.path().join("not-yet").exists(), "loading created {:?}", tree(tmp.path()));
    // The nShield variable, likewise.
    run_child("look", &[("NFAST_KMDATA", &kmdata)], tmp.path());
    assert!(!tmp.path().join("not-yet").exists(), "loading created {:?}", tree(tmp.path()));
}

#[test]
fn using_the_token_creates_the_data_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let kmdata = tmp.path().join("not-yet/kmdata");
    run_child("use", &[("SHIELDHSM_KMDATA", &kmdata)], tmp.path());
    let local = kmdata.join("local");
    assert!(local.is_dir(), "no data directory after C_InitToken: {:?}", tree(tmp.path()));
    let names: Vec<String> =
        std::fs::read_dir(&local).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert!(names.iter().any(|n| n == "world"), "no world file: {names:?}");
    assert!(names.iter().any(|n| n.starts_with("softcard_")), "no softcard file: {names:?}");
    assert!(names.iter().any(|n| n.starts_with("key_pkcs11_")), "no object file: {names:?}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&kmdata).unwrap().permissions().mode() & 0o777, 0o700);
    // And it is read back by the next load.
    run_child("look", &[("SHIELDHSM_KMDATA", &kmdata)], tmp.path());
}

/// A user with no home directory and no variables (root runs the child as an unknown uid):
/// the library loads, lists its slots, writes nothing anywhere (not into a writable working
/// directory either) and refuses `C_InitToken` cleanly.
#[test]
fn loads_with_no_data_directory_at_all() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIP: needs root to run the child as a uid without a passwd entry");
        return;
    }
    let uid = 47_811;
    // SAFETY: getpwuid with a plain uid; only the null check is used.
    assert!(unsafe { libc::getpwuid(uid) }.is_null(), "uid {uid} has a passwd entry here");
    // The child has neither our uid nor our groups: the binary and the module must be
    // readable by others, and every directory above them searchable.
    let open_to_others = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        p.ancestors().all(|a| std::fs::metadata(a).map(|m| m.permissions().mode() & 0o005 != 0).unwrap_or(false))
    };
    if !open_to_others(&std::env::current_exe().unwrap()) || !open_to_others(&common::built_module()) {
        eprintln!("SKIP: the test binary or the module is not readable by other users");
        return;
    }
    let cwd = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(cwd.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let (ok, text) = spawn("nowhere", &[], cwd.path(), Some(uid));
    assert!(ok, "child nowhere failed:\n{text}");
    assert!(tree(cwd.path()).is_empty(), "wrote into the working directory: {:?}", tree(cwd.path()));
}
