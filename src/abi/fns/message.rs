//! The 3.0 message-based functions (message encryption, decryption, signing, verifying): not
//! supported. Each returns `CKR_FUNCTION_NOT_SUPPORTED` after checking the session, so a bad
//! handle still gets its own code.

use crate::abi::{guard, session};
use crate::error::err;
use cryptoki_sys::*;
use std::ffi::c_void;

macro_rules! not_supported {
    ($($name:ident($($arg:ident: $ty:ty),*);)*) => {$(
        #[no_mangle]
        pub extern "C" fn $name(h: CK_SESSION_HANDLE $(, $arg: $ty)*) -> CK_RV {
            $(let _ = $arg;)*
            guard(|| { session(h)?; err(CKR_FUNCTION_NOT_SUPPORTED) })
        }
    )*};
}

not_supported! {
    C_MessageEncryptInit(m: *mut CK_MECHANISM, k: CK_OBJECT_HANDLE);
    C_EncryptMessage(p: *mut c_void, pl: CK_ULONG, a: *mut CK_BYTE, al: CK_ULONG, d: *mut CK_BYTE, dl: CK_ULONG, o: *mut CK_BYTE, ol: *mut CK_ULONG);
    C_EncryptMessageBegin(p: *mut c_void, pl: CK_ULONG, a: *mut CK_BYTE, al: CK_ULONG);
    C_EncryptMessageNext(p: *mut c_void, pl: CK_ULONG, d: *mut CK_BYTE, dl: CK_ULONG, o: *mut CK_BYTE, ol: *mut CK_ULONG, f: CK_FLAGS);
    C_MessageEncryptFinal();
    C_MessageDecryptInit(m: *mut CK_MECHANISM, k: CK_OBJECT_HANDLE);
    C_DecryptMessage(p: *mut c_void, pl: CK_ULONG, a: *mut CK_BYTE, al: CK_ULONG, d: *mut CK_BYTE, dl: CK_ULONG, o: *mut CK_BYTE, ol: *mut CK_ULONG);
    C_DecryptMessageBegin(p: *mut c_void, pl: CK_ULONG, a: *mut CK_BYTE, al: CK_ULONG);
    C_DecryptMessageNext(p: *mut c_void, pl: CK_ULONG, d: *mut CK_BYTE, dl: CK_ULONG, o: *mut CK_BYTE, ol: *mut CK_ULONG, f: CK_FLAGS);
    C_MessageDecryptFinal();
    C_MessageSignInit(m: *mut CK_MECHANISM, k: CK_OBJECT_HANDLE);
    C_SignMessage(p: *mut c_void, pl: CK_ULONG, d: *mut CK_BYTE, dl: CK_ULONG, s: *mut CK_BYTE, sl: *mut CK_ULONG);
    C_SignMessageBegin(p: *mut c_void, pl: CK_ULONG);
    C_SignMessageNext(p: *mut c_void, pl: CK_ULONG, d: *mut CK_BYTE, dl: CK_ULONG, s: *mut CK_BYTE, sl: *mut CK_ULONG);
    C_MessageSignFinal();
    C_MessageVerifyInit(m: *mut CK_MECHANISM, k: CK_OBJECT_HANDLE);
    C_VerifyMessage(p: *mut c_void, pl: CK_ULONG, d: *mut CK_BYTE, dl: CK_ULONG, s: *mut CK_BYTE, sl: CK_ULONG);
    C_VerifyMessageBegin(p: *mut c_void, pl: CK_ULONG);
    C_VerifyMessageNext(p: *mut c_void, pl: CK_ULONG, d: *mut CK_BYTE, dl: CK_ULONG, s: *mut CK_BYTE, sl: CK_ULONG);
    C_MessageVerifyFinal();
}
