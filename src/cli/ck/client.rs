//! A PKCS#11 client of `libshieldhsm.so`, loaded with `dlopen` as any application loads it: the
//! tools `ckinfo` and `cklist` go through the C ABI, never the library's internals. This file is
//! the CLI's only `unsafe`; every call checks its return value and bounds what it reads.

use cryptoki_sys::*;
use std::ffi::{c_void, CString};
use std::path::Path;
use std::ptr;

/// At most this many slots, mechanisms or objects are listed.
const MAX_ITEMS: usize = 100_000;
/// An attribute longer than this is reported by its length only.
const MAX_ATTR_LEN: CK_ULONG = 1 << 20;

/// A failed call: the function's name and its CK_RV.
#[derive(Debug)]
pub struct CallError {
    pub call: &'static str,
    pub rv: CK_RV,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} returned {:#x}", self.call, self.rv)
    }
}

pub type CkResult<T> = Result<T, CallError>;

fn check(call: &'static str, rv: CK_RV) -> CkResult<()> {
    if rv == CKR_OK {
        Ok(())
    } else {
        Err(CallError { call, rv })
    }
}

/// A loaded, initialized library; finalized and closed when dropped.
pub struct Library {
    handle: *mut c_void,
    fl: &'static CK_FUNCTION_LIST,
}

/// Calls one entry of the function list, failing cleanly if the library left it empty.
macro_rules! call {
    ($lib:expr, $name:ident ( $($arg:expr),* )) => {{
        match $lib.fl.$name {
            // SAFETY: the function comes from the library's own function list; the arguments
            // are valid for the call as each caller states.
            Some(f) => check(stringify!($name), unsafe { f($($arg),*) }),
            None => Err(CallError { call: stringify!($name), rv: CKR_FUNCTION_NOT_SUPPORTED }),
        }
    }};
}

impl Library {
    /// Loads the library at `path`, gets its function list and calls C_Initialize.
    pub fn load(path: &Path) -> Result<Library, String> {
        let c = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| "a path with a NUL byte".to_string())?;
        // SAFETY: `c` is a NUL-terminated path; dlopen has no other preconditions.
        let handle = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if handle.is_null() {
            // SAFETY: dlerror returns a thread-local C string or null.
            let why = unsafe { libc::dlerror() };
            let why = if why.is_null() {
                "dlopen failed".to_string()
            } else {
                // SAFETY: non-null dlerror results are NUL-terminated strings.
                unsafe { std::ffi::CStr::from_ptr(why) }.to_string_lossy().into_owned()
            };
            return Err(why);
        }
        let close = |msg: String| {
            // SAFETY: `handle` came from dlopen above and is closed once, here.
            unsafe { libc::dlclose(handle) };
            Err(msg)
        };
        // SAFETY: `handle` is a live dlopen handle; the name is NUL-terminated.
        let sym = unsafe { libc::dlsym(handle, c"C_GetFunctionList".as_ptr()) };
        if sym.is_null() {
            return close("the library has no C_GetFunctionList: not a PKCS#11 module".into());
        }
        // SAFETY: PKCS#11 defines C_GetFunctionList with exactly this signature.
        let get: unsafe extern "C" fn(*mut *mut CK_FUNCTION_LIST) -> CK_RV = unsafe { std::mem::transmute(sym) };
        let mut fl: *mut CK_FUNCTION_LIST = ptr::null_mut();
        // SAFETY: `fl` is a valid out-pointer.
        let rv = unsafe { get(&mut fl) };
        if rv != CKR_OK || fl.is_null() {
            return close(format!("C_GetFunctionList returned {rv:#x}"));
        }
        // SAFETY: the list is static in the library, which stays loaded while `Library` lives
        // (the reference never leaves it).
        let fl: &'static CK_FUNCTION_LIST = unsafe { &*fl };
        let lib = Library { handle, fl };
        // Not yet initialized: Drop must not finalize a library this process did not initialize.
        if let Err(e) = call!(lib, C_Initialize(ptr::null_mut())) {
            let handle = lib.handle;
            std::mem::forget(lib);
            // SAFETY: `handle` is live and closed once.
            unsafe { libc::dlclose(handle) };
            return Err(e.to_string());
        }
        Ok(lib)
    }

    pub fn info(&self) -> CkResult<CK_INFO> {
        // SAFETY: CK_INFO is plain old data; all-zero is a valid value.
        let mut info: CK_INFO = unsafe { std::mem::zeroed() };
        call!(self, C_GetInfo(&mut info))?;
        Ok(info)
    }

    /// Slot ids (with a token only, or all).
    pub fn slots(&self, with_token: bool) -> CkResult<Vec<CK_SLOT_ID>> {
        let flag = if with_token { CK_TRUE } else { CK_FALSE };
        let mut n: CK_ULONG = 0;
        call!(self, C_GetSlotList(flag, ptr::null_mut(), &mut n))?;
        let mut v = vec![0 as CK_SLOT_ID; (n as usize).min(MAX_ITEMS)];
        let mut n = v.len() as CK_ULONG;
        call!(self, C_GetSlotList(flag, v.as_mut_ptr(), &mut n))?;
        v.truncate(n as usize);
        Ok(v)
    }

    pub fn slot_info(&self, slot: CK_SLOT_ID) -> CkResult<CK_SLOT_INFO> {
        // SAFETY: plain old data.
        let mut i: CK_SLOT_INFO = unsafe { std::mem::zeroed() };
        call!(self, C_GetSlotInfo(slot, &mut i))?;
        Ok(i)
    }

    pub fn token_info(&self, slot: CK_SLOT_ID) -> CkResult<CK_TOKEN_INFO> {
        // SAFETY: plain old data.
        let mut i: CK_TOKEN_INFO = unsafe { std::mem::zeroed() };
        call!(self, C_GetTokenInfo(slot, &mut i))?;
        Ok(i)
    }

    pub fn mechanisms(&self, slot: CK_SLOT_ID) -> CkResult<Vec<CK_MECHANISM_TYPE>> {
        let mut n: CK_ULONG = 0;
        call!(self, C_GetMechanismList(slot, ptr::null_mut(), &mut n))?;
        let mut v = vec![0 as CK_MECHANISM_TYPE; (n as usize).min(MAX_ITEMS)];
        let mut n = v.len() as CK_ULONG;
        call!(self, C_GetMechanismList(slot, v.as_mut_ptr(), &mut n))?;
        v.truncate(n as usize);
        Ok(v)
    }

    /// A read-only session, logged in as the user when `pin` is given; closed when dropped.
    pub fn session(&self, slot: CK_SLOT_ID, pin: Option<&[u8]>) -> CkResult<Session<'_>> {
        let mut h: CK_SESSION_HANDLE = 0;
        call!(self, C_OpenSession(slot, CKF_SERIAL_SESSION, ptr::null_mut(), None, &mut h))?;
        let s = Session { lib: self, h };
        if let Some(pin) = pin {
            // The library reads `pin.len()` bytes and keeps no pointer to them.
            call!(self, C_Login(h, CKU_USER, pin.as_ptr() as *mut u8, pin.len() as CK_ULONG))?;
        }
        Ok(s)
    }
}

impl Drop for Library {
    fn drop(&mut self) {
        let _ = call!(self, C_Finalize(ptr::null_mut()));
        // SAFETY: `handle` came from dlopen and nothing of the library is used after this.
        unsafe { libc::dlclose(self.handle) };
    }
}

/// One open session.
pub struct Session<'a> {
    lib: &'a Library,
    h: CK_SESSION_HANDLE,
}

impl Session<'_> {
    /// Every object the session sees.
    pub fn objects(&self) -> CkResult<Vec<CK_OBJECT_HANDLE>> {
        call!(self.lib, C_FindObjectsInit(self.h, ptr::null_mut(), 0))?;
        let mut out = Vec::new();
        let mut buf = [0 as CK_OBJECT_HANDLE; 64];
        let r = loop {
            let mut n: CK_ULONG = 0;
            if let Err(e) = call!(self.lib, C_FindObjects(self.h, buf.as_mut_ptr(), buf.len() as CK_ULONG, &mut n)) {
                break Err(e);
            }
            let n = (n as usize).min(buf.len());
            out.extend_from_slice(&buf[..n]);
            if n == 0 || out.len() >= MAX_ITEMS {
                break Ok(());
            }
        };
        let _ = call!(self.lib, C_FindObjectsFinal(self.h));
        r.map(|_| out)
    }

    /// One attribute's value: `Ok(None)` when the object has none or may not reveal it
    /// (sensitive), `Err` for any other failure. Values over [`MAX_ATTR_LEN`] are not read.
    pub fn attr(&self, obj: CK_OBJECT_HANDLE, ty: CK_ATTRIBUTE_TYPE) -> CkResult<Option<Vec<u8>>> {
        let mut a = CK_ATTRIBUTE { type_: ty, pValue: ptr::null_mut(), ulValueLen: 0 };
        match call!(self.lib, C_GetAttributeValue(self.h, obj, &mut a, 1)) {
            Err(CallError { rv: CKR_ATTRIBUTE_SENSITIVE | CKR_ATTRIBUTE_TYPE_INVALID, .. }) => return Ok(None),
            r => r?,
        }
        if a.ulValueLen == CK_UNAVAILABLE_INFORMATION || a.ulValueLen > MAX_ATTR_LEN {
            return Ok(None);
        }
        let mut v = vec![0u8; a.ulValueLen as usize];
        a.pValue = v.as_mut_ptr() as *mut c_void;
        call!(self.lib, C_GetAttributeValue(self.h, obj, &mut a, 1))?;
        v.truncate((a.ulValueLen as usize).min(v.len()));
        Ok(Some(v))
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let _ = call!(self.lib, C_CloseSession(self.h));
    }
}
