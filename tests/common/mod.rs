//! Shared helpers for the integration tests: every test loads its own copy of the built
//! `libshieldhsm.so` (so its global state is its own) against its own data directory, exactly as
//! an application would load the library.
#![allow(dead_code)]

pub mod cli;
pub mod derive;
pub mod search;

use cryptoki::context::{CInitializeArgs, Pkcs11};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub const SO_PIN: &str = "5678-so";
pub const USER_PIN: &str = "1234-user";

/// Serializes the set-env-then-C_Initialize window: the data directory is read from the
/// environment at C_Initialize.
static INIT: Mutex<()> = Mutex::new(());

/// The library built by `cargo build --release` (or `$SHIELDHSM_TEST_MODULE`).
pub fn built_module() -> PathBuf {
    if let Ok(p) = std::env::var("SHIELDHSM_TEST_MODULE") {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for profile in ["release", "debug"] {
        let p = root.join("target").join(profile).join("libshieldhsm.so");
        if p.exists() {
            return p;
        }
    }
    panic!("libshieldhsm.so not built: run `cargo build --release` first");
}

/// One loaded instance of the module and its data directory.
pub struct Module {
    pub p11: Pkcs11,
    pub dir: tempfile::TempDir,
    pub so_path: PathBuf,
}

impl Module {
    /// A fresh data directory and a private copy of the library, initialized.
    pub fn fresh() -> Module {
        let dir = tempfile::tempdir().unwrap();
        Module::load_at(dir)
    }

    /// A fresh instance initialized with extra environment (cknfastrc variables), which is
    /// removed again once the library has read it.
    pub fn fresh_with_env(vars: &[(&str, &str)]) -> Module {
        let dir = tempfile::tempdir().unwrap();
        let so_path = dir.path().join(format!("lib-{}.so", uniq()));
        std::fs::copy(built_module(), &so_path).unwrap();
        let _g = env_lock();
        for (k, v) in vars {
            std::env::set_var(k, v);
        }
        std::env::set_var("SHIELDHSM_KMDATA", dir.path().join("kmdata"));
        let p11 = Pkcs11::new(&so_path).unwrap();
        p11.initialize(CInitializeArgs::OsThreads).unwrap();
        for (k, _) in vars {
            std::env::remove_var(k);
        }
        Module { p11, dir, so_path }
    }

    /// Loads another instance on an existing data directory (a second "process" view).
    pub fn load_at(dir: tempfile::TempDir) -> Module {
        let so_path = dir.path().join(format!("lib-{}.so", uniq()));
        std::fs::copy(built_module(), &so_path).unwrap();
        let p11 = init_at(&so_path, &dir.path().join("kmdata"));
        Module { p11, dir, so_path }
    }

    pub fn kmdata(&self) -> PathBuf {
        self.dir.path().join("kmdata")
    }

    /// Initializes the free token with the standard PINs and returns its slot.
    pub fn init_token(&self, label: &str) -> Slot {
        let free = free_slot(&self.p11);
        self.p11.init_token(free, &AuthPin::new(SO_PIN.into()), label).unwrap();
        let s = self.p11.open_rw_session(free).unwrap();
        s.login(UserType::So, Some(&AuthPin::new(SO_PIN.into()))).unwrap();
        s.init_pin(&AuthPin::new(USER_PIN.into())).unwrap();
        s.logout().unwrap();
        free
    }

    /// A logged-in read/write user session on `slot`.
    pub fn user_session(&self, slot: Slot) -> Session {
        let s = self.p11.open_rw_session(slot).unwrap();
        s.login(UserType::User, Some(&AuthPin::new(USER_PIN.into()))).unwrap();
        s
    }
}

/// Holds the environment steady for a test that sets the data directory and initializes itself.
pub fn env_lock() -> std::sync::MutexGuard<'static, ()> {
    INIT.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn init_at(so: &Path, kmdata: &Path) -> Pkcs11 {
    let _g = env_lock();
    std::env::set_var("SHIELDHSM_KMDATA", kmdata);
    let p11 = Pkcs11::new(so).unwrap();
    p11.initialize(CInitializeArgs::OsThreads).unwrap();
    p11
}

/// The module ("accelerator") slot, by its id: slot 0. It is listed last (login tokens come
/// first), so tests name it by id rather than by list position.
pub fn module_slot() -> Slot {
    Slot::try_from(0u64).unwrap() // MODULE_SLOT_ID
}

/// The module slot's id (`token::MODULE_SLOT`).
pub const MODULE_SLOT_ID: cryptoki_sys::CK_SLOT_ID = 0;

/// The slot whose token is not initialized yet.
pub fn free_slot(p11: &Pkcs11) -> Slot {
    p11.get_all_slots()
        .unwrap()
        .into_iter()
        .find(|s| p11.get_token_info(*s).map(|t| !t.token_initialized()).unwrap_or(false))
        .expect("a free slot")
}

fn uniq() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed) * 1000 + std::process::id() as u64 % 1000
}

/// A private copy of the library, dlopen'ed as a C program would, with its 2.40 function table.
pub struct Raw {
    pub f: &'static cryptoki_sys::CK_FUNCTION_LIST,
    pub handle: *mut std::ffi::c_void,
    pub dir: tempfile::TempDir,
}

impl Raw {
    /// Loads a copy against a fresh data directory (the caller holds `env_lock` until
    /// C_Initialize).
    pub fn load() -> Raw {
        let dir = tempfile::tempdir().unwrap();
        let kmdata = dir.path().join("kmdata");
        Raw::load_at(dir, &kmdata)
    }

    pub fn load_at(dir: tempfile::TempDir, kmdata: &Path) -> Raw {
        Raw::load_from(&built_module(), dir, kmdata)
    }

    /// A private copy of the library at `library` (another build of it).
    pub fn load_from(library: &Path, dir: tempfile::TempDir, kmdata: &Path) -> Raw {
        let so = dir.path().join(format!("raw-{}.so", uniq()));
        std::fs::copy(library, &so).unwrap();
        std::env::set_var("SHIELDHSM_KMDATA", kmdata);
        let c = std::ffi::CString::new(so.to_str().unwrap()).unwrap();
        // SAFETY: loading our own library; the symbol is checked below.
        let handle = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        assert!(!handle.is_null());
        let sym = unsafe { libc::dlsym(handle, c"C_GetFunctionList".as_ptr()) };
        assert!(!sym.is_null());
        let get: unsafe extern "C" fn(*mut *mut cryptoki_sys::CK_FUNCTION_LIST) -> cryptoki_sys::CK_RV =
            unsafe { std::mem::transmute(sym) };
        let mut p = std::ptr::null_mut();
        assert_eq!(unsafe { get(&mut p) }, cryptoki_sys::CKR_OK);
        Raw { f: unsafe { &*p }, handle, dir }
    }

    pub fn sym(&self, name: &std::ffi::CStr) -> *mut std::ffi::c_void {
        unsafe { libc::dlsym(self.handle, name.as_ptr()) }
    }
}

/// Calls a function of a `Raw` table: `call!(raw, C_Initialize, std::ptr::null_mut())`.
#[allow(unused_macros)] // used by the raw-ABI tests only
macro_rules! call {
    ($raw:expr, $f:ident $(, $a:expr)*) => { unsafe { ($raw.f.$f.unwrap())($($a),*) } };
}

/// A loaded library with a world (made by the first C_InitToken) and an R/W session on the
/// module slot, which needs no login.
pub fn module_session() -> (Raw, cryptoki_sys::CK_SESSION_HANDLE) {
    use cryptoki_sys::*;
    use std::ptr::null_mut;
    let _env = env_lock();
    let r = Raw::load();
    assert_eq!(call!(r, C_Initialize, null_mut()), CKR_OK);
    let free = raw_free_slot(&r);
    let mut label = [b' '; 32];
    let so = SO_PIN.as_bytes();
    let rv = call!(r, C_InitToken, free, so.as_ptr() as *mut _, so.len() as CK_ULONG, label.as_mut_ptr());
    assert_eq!(rv, CKR_OK);
    let mut h: CK_SESSION_HANDLE = 0;
    let flags = CKF_SERIAL_SESSION | CKF_RW_SESSION;
    assert_eq!(call!(r, C_OpenSession, MODULE_SLOT_ID, flags, null_mut(), None, &mut h), CKR_OK);
    (r, h)
}

/// `C_GetSlotList` of a `Raw` library, in the order it lists them.
pub fn raw_slots(r: &Raw) -> Vec<cryptoki_sys::CK_SLOT_ID> {
    use cryptoki_sys::*;
    let mut n: CK_ULONG = 0;
    assert_eq!(call!(r, C_GetSlotList, CK_TRUE, std::ptr::null_mut(), &mut n), CKR_OK);
    let mut ids = vec![0 as CK_SLOT_ID; n as usize];
    assert_eq!(call!(r, C_GetSlotList, CK_TRUE, ids.as_mut_ptr(), &mut n), CKR_OK);
    ids.truncate(n as usize);
    ids
}

/// The slot of a `Raw` library whose token is not initialized yet.
pub fn raw_free_slot(r: &Raw) -> cryptoki_sys::CK_SLOT_ID {
    use cryptoki_sys::*;
    raw_slots(r)
        .into_iter()
        .find(|&id| {
            // SAFETY: a plain C struct; the call fills it.
            let mut t: CK_TOKEN_INFO = unsafe { std::mem::zeroed() };
            call!(r, C_GetTokenInfo, id, &mut t) == CKR_OK && t.flags & CKF_TOKEN_INITIALIZED == 0
        })
        .expect("a free slot")
}

/// The PKCS#11 return code of a failed call.
pub fn rv(e: cryptoki::error::Error) -> cryptoki::error::RvError {
    match e {
        cryptoki::error::Error::Pkcs11(rv, _) => rv,
        other => panic!("expected a PKCS#11 error, got {other:?}"),
    }
}

/// A fresh module with one initialized token, and a user session on it.
pub fn logged_in_session(label: &str) -> (Module, Session) {
    let m = Module::fresh();
    let slot = m.init_token(label);
    let s = m.user_session(slot);
    (m, s)
}

/// The vendor interface of a `Raw` library (`C_GetInterface("ShieldHSM")`).
pub fn vendor(r: &Raw) -> &'static shieldhsm::abi::vendor::SHSM_FUNCTION_LIST {
    use cryptoki_sys::*;
    type GetInterface =
        unsafe extern "C" fn(*mut CK_UTF8CHAR, *mut CK_VERSION, *mut *mut CK_INTERFACE, CK_FLAGS) -> CK_RV;
    let sym = r.sym(c"C_GetInterface");
    assert!(!sym.is_null());
    // SAFETY: the symbol is C_GetInterface, of this type (include/shieldhsm.h).
    let get: GetInterface = unsafe { std::mem::transmute(sym) };
    let mut iface: *mut CK_INTERFACE = std::ptr::null_mut();
    let name = c"ShieldHSM".as_ptr() as *mut CK_UTF8CHAR;
    assert_eq!(unsafe { get(name, std::ptr::null_mut(), &mut iface, 0) }, CKR_OK);
    // SAFETY: the vendor interface's function list is an SHSM_FUNCTION_LIST (same crate), and
    // static in the library.
    unsafe { &*((*iface).pFunctionList as *const shieldhsm::abi::vendor::SHSM_FUNCTION_LIST) }
}

/// The first file of `local/` whose name starts with `prefix`.
pub fn local_file(kmdata: &Path, prefix: &str) -> PathBuf {
    std::fs::read_dir(kmdata.join("local"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .unwrap_or_else(|| panic!("no local/{prefix}*"))
}

/// Edits a JSON file of the data directory as an administrator with an editor would.
pub fn edit_json(path: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

/// The 3.0 function list of a `Raw` library (`C_GetInterface("PKCS 11", 3.0)`).
pub fn list_3_0(r: &Raw) -> &'static cryptoki_sys::CK_FUNCTION_LIST_3_0 {
    use cryptoki_sys::*;
    type GetInterface =
        unsafe extern "C" fn(*mut CK_UTF8CHAR, *mut CK_VERSION, *mut *mut CK_INTERFACE, CK_FLAGS) -> CK_RV;
    // SAFETY: the symbol is C_GetInterface, of this type.
    let get: GetInterface = unsafe { std::mem::transmute(r.sym(c"C_GetInterface")) };
    let mut v = CK_VERSION { major: 3, minor: 0 };
    let mut iface: *mut CK_INTERFACE = std::ptr::null_mut();
    assert_eq!(unsafe { get(c"PKCS 11".as_ptr() as *mut CK_UTF8CHAR, &mut v, &mut iface, 0) }, CKR_OK);
    // SAFETY: a 3.0 interface's list is a CK_FUNCTION_LIST_3_0, static in the library.
    unsafe { &*((*iface).pFunctionList as *const CK_FUNCTION_LIST_3_0) }
}
