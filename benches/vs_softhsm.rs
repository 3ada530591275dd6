//! Side by side with SoftHSMv2, through the C ABI, in one process: the mechanisms the team's
//! shared benchmark does not cover (CMAC and CBC-MAC, DSA, DH, the ENCRYPT_DATA derivations, and
//! the legacy DES, MD5 and RIPEMD-160 ones). Each case
//! runs on both modules in alternating order for `ROUNDS` rounds; the table gives the median
//! operations per second of each and their ratio. No assertions: speed is measured, not tested.
//!
//! `cargo bench --bench vs_softhsm` (SoftHSMv2 from `$SOFTHSM`, default
//! `/usr/lib/softhsm/libsofthsm2.so`; shieldhsm from `target/release/libshieldhsm.so`);
//! `cargo bench --bench vs_softhsm -- cmac dsa` runs the cases whose names contain a word.
//! A case a module does not offer is reported as such and skipped.

use cryptoki_sys::*;
use std::ffi::c_void;
use std::ptr::null_mut;
use std::time::{Duration, Instant};

const ROUNDS: usize = 3;
const RUN: Duration = Duration::from_millis(700);
const SO_PIN: &[u8] = b"87654321";
const USER_PIN: &[u8] = b"12345678";

/// A loaded module: its function list and one logged-in R/W session.
struct Module {
    name: &'static str,
    f: &'static CK_FUNCTION_LIST,
    h: CK_SESSION_HANDLE,
}

macro_rules! ck {
    ($m:expr, $f:ident $(, $a:expr)*) => {
        // SAFETY: a function of a loaded PKCS#11 module, called with buffers that live across
        // the call and lengths that match them.
        unsafe { ($m.f.$f.expect(stringify!($f)))($($a),*) }
    };
}

fn check(rv: CK_RV, what: &str) -> Result<(), String> {
    if rv == CKR_OK {
        Ok(())
    } else {
        Err(format!("{what}: CKR 0x{rv:x}"))
    }
}

fn attr<T>(ty: CK_ATTRIBUTE_TYPE, v: &T) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE { type_: ty, pValue: v as *const T as *mut c_void, ulValueLen: std::mem::size_of::<T>() as CK_ULONG }
}

fn bytes_attr(ty: CK_ATTRIBUTE_TYPE, v: &[u8]) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE { type_: ty, pValue: v.as_ptr() as *mut c_void, ulValueLen: v.len() as CK_ULONG }
}

fn mech(ty: CK_MECHANISM_TYPE) -> CK_MECHANISM {
    CK_MECHANISM { mechanism: ty, pParameter: null_mut(), ulParameterLen: 0 }
}

const TRUE: CK_BBOOL = CK_TRUE;
const FALSE: CK_BBOOL = CK_FALSE;

impl Module {
    fn load(name: &'static str, path: &str) -> Result<Module, String> {
        let c = std::ffi::CString::new(path).map_err(|e| e.to_string())?;
        // SAFETY: loading a PKCS#11 module by path; checked for null below.
        let lib = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if lib.is_null() {
            return Err(format!("cannot load {path}"));
        }
        // SAFETY: looking up the standard entry point of the module just loaded.
        let sym = unsafe { libc::dlsym(lib, c"C_GetFunctionList".as_ptr()) };
        if sym.is_null() {
            return Err(format!("{path} has no C_GetFunctionList"));
        }
        // SAFETY: C_GetFunctionList has this signature in every PKCS#11 module.
        let get: unsafe extern "C" fn(*mut *mut CK_FUNCTION_LIST) -> CK_RV = unsafe { std::mem::transmute(sym) };
        let mut list = null_mut();
        // SAFETY: `list` is a valid out-parameter.
        check(unsafe { get(&mut list) }, "C_GetFunctionList")?;
        // SAFETY: the module keeps its function list for as long as it is loaded (never unloaded here).
        let f: &'static CK_FUNCTION_LIST = unsafe { &*list };
        let mut m = Module { name, f, h: 0 };
        check(ck!(m, C_Initialize, null_mut()), "C_Initialize")?;
        m.h = m.token_session()?;
        Ok(m)
    }

    /// Initializes the module's first uninitialized token and opens a user session on it.
    fn token_session(&self) -> Result<CK_SESSION_HANDLE, String> {
        let mut n: CK_ULONG = 0;
        check(ck!(self, C_GetSlotList, CK_FALSE, null_mut(), &mut n), "C_GetSlotList")?;
        let mut slots = vec![0; n as usize];
        check(ck!(self, C_GetSlotList, CK_FALSE, slots.as_mut_ptr(), &mut n), "C_GetSlotList")?;
        let free = slots
            .into_iter()
            .find(|s| {
                // SAFETY: CK_TOKEN_INFO is plain data; zero is a valid value.
                let mut info: CK_TOKEN_INFO = unsafe { std::mem::zeroed() };
                ck!(self, C_GetTokenInfo, *s, &mut info) == CKR_OK && info.flags & CKF_TOKEN_INITIALIZED == 0
            })
            .ok_or("no uninitialized token")?;
        let mut label = [b' '; 32];
        label[..5].copy_from_slice(b"bench");
        let so = SO_PIN.as_ptr() as *mut u8;
        check(ck!(self, C_InitToken, free, so, SO_PIN.len() as CK_ULONG, label.as_mut_ptr()), "C_InitToken")?;
        let mut h = 0;
        let rw = CKF_SERIAL_SESSION | CKF_RW_SESSION;
        check(ck!(self, C_OpenSession, free, rw, null_mut(), None, &mut h), "C_OpenSession")?;
        check(ck!(self, C_Login, h, CKU_SO, so, SO_PIN.len() as CK_ULONG), "C_Login(SO)")?;
        let user = USER_PIN.as_ptr() as *mut u8;
        check(ck!(self, C_InitPIN, h, user, USER_PIN.len() as CK_ULONG), "C_InitPIN")?;
        check(ck!(self, C_Logout, h), "C_Logout")?;
        check(ck!(self, C_Login, h, CKU_USER, user, USER_PIN.len() as CK_ULONG), "C_Login(user)")?;
        Ok(h)
    }

    fn offers(&self, ty: CK_MECHANISM_TYPE) -> bool {
        let mut slot = 0;
        // SAFETY: CK_SESSION_INFO is plain data.
        let mut si: CK_SESSION_INFO = unsafe { std::mem::zeroed() };
        if ck!(self, C_GetSessionInfo, self.h, &mut si) == CKR_OK {
            slot = si.slotID;
        }
        // SAFETY: as above.
        let mut info: CK_MECHANISM_INFO = unsafe { std::mem::zeroed() };
        ck!(self, C_GetMechanismInfo, slot, ty, &mut info) == CKR_OK
    }

    fn secret_key(&self, gen: CK_MECHANISM_TYPE, len: Option<CK_ULONG>) -> Result<CK_OBJECT_HANDLE, String> {
        let mut t = vec![
            attr(CKA_TOKEN, &FALSE),
            attr(CKA_SIGN, &TRUE),
            attr(CKA_VERIFY, &TRUE),
            attr(CKA_ENCRYPT, &TRUE),
            attr(CKA_DERIVE, &TRUE),
        ];
        let len_v = len.unwrap_or(0);
        if len.is_some() {
            t.push(attr(CKA_VALUE_LEN, &len_v));
        }
        let mut m = mech(gen);
        let mut k = 0;
        check(ck!(self, C_GenerateKey, self.h, &mut m, t.as_mut_ptr(), t.len() as CK_ULONG, &mut k), "C_GenerateKey")?;
        Ok(k)
    }

    fn sign(&self, m: CK_MECHANISM_TYPE, key: CK_OBJECT_HANDLE, data: &[u8], out: &mut [u8]) -> Result<usize, String> {
        let mut mm = mech(m);
        check(ck!(self, C_SignInit, self.h, &mut mm, key), "C_SignInit")?;
        let mut n = out.len() as CK_ULONG;
        check(
            ck!(self, C_Sign, self.h, data.as_ptr() as *mut u8, data.len() as CK_ULONG, out.as_mut_ptr(), &mut n),
            "C_Sign",
        )?;
        Ok(n as usize)
    }

    fn verify(&self, m: CK_MECHANISM_TYPE, key: CK_OBJECT_HANDLE, data: &[u8], sig: &[u8]) -> Result<(), String> {
        let mut mm = mech(m);
        check(ck!(self, C_VerifyInit, self.h, &mut mm, key), "C_VerifyInit")?;
        let (d, s) = (data.as_ptr() as *mut u8, sig.as_ptr() as *mut u8);
        check(ck!(self, C_Verify, self.h, d, data.len() as CK_ULONG, s, sig.len() as CK_ULONG), "C_Verify")
    }

    fn get(&self, obj: CK_OBJECT_HANDLE, ty: CK_ATTRIBUTE_TYPE) -> Result<Vec<u8>, String> {
        let mut a = CK_ATTRIBUTE { type_: ty, pValue: null_mut(), ulValueLen: 0 };
        check(ck!(self, C_GetAttributeValue, self.h, obj, &mut a, 1), "C_GetAttributeValue")?;
        let mut v = vec![0u8; a.ulValueLen as usize];
        a.pValue = v.as_mut_ptr() as *mut c_void;
        check(ck!(self, C_GetAttributeValue, self.h, obj, &mut a, 1), "C_GetAttributeValue")?;
        Ok(v)
    }

    /// A key pair of `gen` over the domain `params` (attribute, value) given in the public template.
    fn pair(
        &self,
        gen: CK_MECHANISM_TYPE,
        params: &[(CK_ATTRIBUTE_TYPE, Vec<u8>)],
        usage: CK_ATTRIBUTE_TYPE,
    ) -> Result<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE), String> {
        let mut public: Vec<CK_ATTRIBUTE> = params.iter().map(|(t, v)| bytes_attr(*t, v)).collect();
        public.push(attr(CKA_TOKEN, &FALSE));
        public.push(attr(CKA_VERIFY, &TRUE));
        let mut private = vec![attr(CKA_TOKEN, &FALSE), attr(CKA_SENSITIVE, &TRUE), attr(usage, &TRUE)];
        let mut m = mech(gen);
        let (mut pk, mut sk) = (0, 0);
        check(
            ck!(
                self,
                C_GenerateKeyPair,
                self.h,
                &mut m,
                public.as_mut_ptr(),
                public.len() as CK_ULONG,
                private.as_mut_ptr(),
                private.len() as CK_ULONG,
                &mut pk,
                &mut sk
            ),
            "C_GenerateKeyPair",
        )?;
        Ok((pk, sk))
    }
}

/// Operations per second of `op` over `RUN`.
fn rate(mut op: impl FnMut() -> Result<(), String>) -> Result<f64, String> {
    for _ in 0..3 {
        op()?;
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < RUN {
        op()?;
        n += 1;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// What a case needs from a module before the timed loop, and the loop body.
type Case = fn(&Module, &Domain) -> Result<f64, String>;

/// DSA domain parameters made once (by the first module that can) and used by both, so both
/// sign over the same group; a DSA group also serves as the DH group.
#[derive(Default)]
struct Domain {
    dsa: Option<Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)>>,
}

fn mac(m: &Module, gen: CK_MECHANISM_TYPE, len: Option<CK_ULONG>, ty: CK_MECHANISM_TYPE) -> Result<f64, String> {
    let key = m.secret_key(gen, len)?;
    let data = [0x5au8; 64];
    let mut out = [0u8; 64];
    rate(|| m.sign(ty, key, &data, &mut out).map(|_| ()))
}

fn dsa_pair(m: &Module, d: &Domain) -> Result<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE), String> {
    let params = d.dsa.as_ref().ok_or("no DSA domain parameters")?;
    m.pair(CKM_DSA_KEY_PAIR_GEN, params, CKA_SIGN)
}

fn dsa_sign(m: &Module, d: &Domain) -> Result<f64, String> {
    let (_, sk) = dsa_pair(m, d)?;
    let mut sig = [0u8; 64];
    rate(|| m.sign(CKM_DSA_SHA256, sk, b"side-by-side message", &mut sig).map(|_| ()))
}

fn dsa_verify(m: &Module, d: &Domain) -> Result<f64, String> {
    let (pk, sk) = dsa_pair(m, d)?;
    let mut sig = [0u8; 64];
    let n = m.sign(CKM_DSA_SHA256, sk, b"side-by-side message", &mut sig)?;
    rate(|| m.verify(CKM_DSA_SHA256, pk, b"side-by-side message", &sig[..n]))
}

fn dh_derive(m: &Module, d: &Domain) -> Result<f64, String> {
    let _ = d;
    let dh = dh_group();
    let (_, sk) = m.pair(CKM_DH_PKCS_KEY_PAIR_GEN, &dh, CKA_DERIVE)?;
    let (peer, _) = m.pair(CKM_DH_PKCS_KEY_PAIR_GEN, &dh, CKA_DERIVE)?;
    let y = m.get(peer, CKA_VALUE)?;
    let (class, kt, len) = (CKO_SECRET_KEY, CKK_AES, 32 as CK_ULONG);
    rate(|| {
        let mut mm = CK_MECHANISM {
            mechanism: CKM_DH_PKCS_DERIVE,
            pParameter: y.as_ptr() as *mut c_void,
            ulParameterLen: y.len() as CK_ULONG,
        };
        let mut t =
            [attr(CKA_CLASS, &class), attr(CKA_KEY_TYPE, &kt), attr(CKA_VALUE_LEN, &len), attr(CKA_TOKEN, &FALSE)];
        let mut k = 0;
        check(ck!(m, C_DeriveKey, m.h, &mut mm, sk, t.as_mut_ptr(), t.len() as CK_ULONG, &mut k), "C_DeriveKey")?;
        check(ck!(m, C_DestroyObject, m.h, k), "C_DestroyObject")
    })
}

fn aes_ecb_encrypt_data(m: &Module, _: &Domain) -> Result<f64, String> {
    let base = m.secret_key(CKM_AES_KEY_GEN, Some(32))?;
    let data = [0x11u8; 32];
    let (class, kt, len) = (CKO_SECRET_KEY, CKK_AES, 32 as CK_ULONG);
    rate(|| {
        let p = CK_KEY_DERIVATION_STRING_DATA { pData: data.as_ptr() as *mut u8, ulLen: data.len() as CK_ULONG };
        let mut mm = CK_MECHANISM {
            mechanism: CKM_AES_ECB_ENCRYPT_DATA,
            pParameter: &p as *const _ as *mut c_void,
            ulParameterLen: std::mem::size_of_val(&p) as CK_ULONG,
        };
        let mut t =
            [attr(CKA_CLASS, &class), attr(CKA_KEY_TYPE, &kt), attr(CKA_VALUE_LEN, &len), attr(CKA_TOKEN, &FALSE)];
        let mut k = 0;
        check(ck!(m, C_DeriveKey, m.h, &mut mm, base, t.as_mut_ptr(), t.len() as CK_ULONG, &mut k), "C_DeriveKey")?;
        check(ck!(m, C_DestroyObject, m.h, k), "C_DestroyObject")
    })
}

fn digest(m: &Module, ty: CK_MECHANISM_TYPE) -> Result<f64, String> {
    let data = [0x33u8; 64];
    let mut out = [0u8; 64];
    rate(|| {
        let mut mm = mech(ty);
        check(ck!(m, C_DigestInit, m.h, &mut mm), "C_DigestInit")?;
        let mut n = out.len() as CK_ULONG;
        check(
            ck!(m, C_Digest, m.h, data.as_ptr() as *mut u8, data.len() as CK_ULONG, out.as_mut_ptr(), &mut n),
            "C_Digest",
        )
    })
}

/// 1 KiB encrypted single-part with a fresh key of `gen` under `ty` (an 8-byte IV).
fn cipher_1k(m: &Module, gen: CK_MECHANISM_TYPE, ty: CK_MECHANISM_TYPE) -> Result<f64, String> {
    let key = m.secret_key(gen, None)?;
    let data = [0x44u8; 1024];
    let mut out = [0u8; 1024 + 16];
    let iv = [7u8; 8];
    rate(|| {
        let mut mm = CK_MECHANISM { mechanism: ty, pParameter: iv.as_ptr() as *mut c_void, ulParameterLen: 8 };
        check(ck!(m, C_EncryptInit, m.h, &mut mm, key), "C_EncryptInit")?;
        let mut n = out.len() as CK_ULONG;
        let d = data.as_ptr() as *mut u8;
        check(ck!(m, C_Encrypt, m.h, d, data.len() as CK_ULONG, out.as_mut_ptr(), &mut n), "C_Encrypt")
    })
}

/// The DH group of the side-by-side runs: RFC 7919 ffdhe2048 (a safe prime, full-length x on
/// both sides; a bare DSA prime is refused by the `dh_group` assurance).
fn dh_group() -> Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)> {
    let k = shieldhsm::mech::dh_groups::all().iter().find(|k| k.name == "ffdhe2048").expect("ffdhe2048");
    vec![(CKA_PRIME, k.p.clone()), (CKA_BASE, k.g.clone())]
}

/// Key pairs of `gen` over the shared group (DSA; DH on [`dh_group`]), destroyed again.
fn pair_gen(m: &Module, d: &Domain, gen: CK_MECHANISM_TYPE) -> Result<f64, String> {
    let (params, usage): (Vec<_>, _) = if gen == CKM_DH_PKCS_KEY_PAIR_GEN {
        (dh_group(), CKA_DERIVE)
    } else {
        (d.dsa.as_ref().ok_or("no domain parameters")?.clone(), CKA_SIGN)
    };
    rate(|| {
        let (pk, sk) = m.pair(gen, &params, usage)?;
        check(ck!(m, C_DestroyObject, m.h, pk), "C_DestroyObject")?;
        check(ck!(m, C_DestroyObject, m.h, sk), "C_DestroyObject")
    })
}

/// CKM_MD5_RSA_PKCS signatures of 64 bytes with an RSA-2048 key.
fn md5_rsa_sign(m: &Module, _: &Domain) -> Result<f64, String> {
    let bits: CK_ULONG = 2048;
    let e = [1u8, 0, 1];
    let mut public = [attr(CKA_TOKEN, &FALSE), attr(CKA_MODULUS_BITS, &bits), bytes_attr(CKA_PUBLIC_EXPONENT, &e)];
    let mut private = [attr(CKA_TOKEN, &FALSE), attr(CKA_SENSITIVE, &TRUE), attr(CKA_SIGN, &TRUE)];
    let mut mm = mech(CKM_RSA_PKCS_KEY_PAIR_GEN);
    let (mut pk, mut sk) = (0, 0);
    let (pl, sl) = (public.len() as CK_ULONG, private.len() as CK_ULONG);
    check(
        ck!(m, C_GenerateKeyPair, m.h, &mut mm, public.as_mut_ptr(), pl, private.as_mut_ptr(), sl, &mut pk, &mut sk),
        "C_GenerateKeyPair",
    )?;
    let mut sig = [0u8; 256];
    rate(|| m.sign(CKM_MD5_RSA_PKCS, sk, &[0x55u8; 64], &mut sig).map(|_| ()))
}

/// DSA-2048/256 domain parameters from the first module that generates them.
fn make_domain(mods: &[Module]) -> Domain {
    for m in mods {
        if !m.offers(CKM_DSA_PARAMETER_GEN) {
            continue;
        }
        let bits: CK_ULONG = 2048;
        let sub: CK_ULONG = 256;
        let mut t = [attr(CKA_PRIME_BITS, &bits), attr(CKA_SUB_PRIME_BITS, &sub), attr(CKA_TOKEN, &FALSE)];
        let mut mm = mech(CKM_DSA_PARAMETER_GEN);
        let mut obj = 0;
        if ck!(m, C_GenerateKey, m.h, &mut mm, t.as_mut_ptr(), t.len() as CK_ULONG, &mut obj) != CKR_OK {
            continue;
        }
        let get = |ty| m.get(obj, ty).map(|v| (ty, v));
        if let (Ok(p), Ok(q), Ok(g)) = (get(CKA_PRIME), get(CKA_SUBPRIME), get(CKA_BASE)) {
            println!("(DSA/DH group: 2048/256 bits, generated by {})", m.name);
            return Domain { dsa: Some(vec![p, q, g]) };
        }
    }
    Domain::default()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let softhsm = std::env::var("SOFTHSM").unwrap_or_else(|_| "/usr/lib/softhsm/libsofthsm2.so".into());
    let ours = concat!(env!("CARGO_MANIFEST_DIR"), "/target/release/libshieldhsm.so");
    let work = tempfile::tempdir().expect("a temporary directory");
    std::fs::create_dir(work.path().join("softhsm")).expect("mkdir");
    let conf = work.path().join("softhsm2.conf");
    let body = format!(
        "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
        work.path().join("softhsm").display()
    );
    std::fs::write(&conf, body).expect("write softhsm2.conf");
    std::env::set_var("SOFTHSM2_CONF", &conf);
    std::env::set_var("SHIELDHSM_KMDATA", work.path().join("kmdata"));
    // MD5 is offered only where the weak-algorithm assurance is relaxed.
    std::env::set_var("CKNFAST_OVERRIDE_SECURITY_ASSURANCES", "weak_all");
    let mut mods = Vec::new();
    for (name, path) in [("SoftHSMv2", softhsm.as_str()), ("shieldhsm", ours)] {
        match Module::load(name, path) {
            Ok(m) => mods.push(m),
            Err(e) => {
                // Side by side or not at all (SoftHSMv2: `apt-get install softhsm2`).
                println!("{name}: {e}");
                return;
            }
        }
    }
    let cases: [(&str, CK_MECHANISM_TYPE, Case); 17] = [
        ("aes256_cmac_64B", CKM_AES_CMAC, |m, _| mac(m, CKM_AES_KEY_GEN, Some(32), CKM_AES_CMAC)),
        ("aes128_cmac_64B", CKM_AES_CMAC, |m, _| mac(m, CKM_AES_KEY_GEN, Some(16), CKM_AES_CMAC)),
        ("aes256_mac_64B", CKM_AES_MAC, |m, _| mac(m, CKM_AES_KEY_GEN, Some(32), CKM_AES_MAC)),
        ("des3_cmac_64B", CKM_DES3_CMAC, |m, _| mac(m, CKM_DES3_KEY_GEN, None, CKM_DES3_CMAC)),
        ("des3_mac_64B", CKM_DES3_MAC, |m, _| mac(m, CKM_DES3_KEY_GEN, None, CKM_DES3_MAC)),
        ("dsa2048_keygen", CKM_DSA_KEY_PAIR_GEN, |m, d| pair_gen(m, d, CKM_DSA_KEY_PAIR_GEN)),
        ("dsa2048_sha256_sign", CKM_DSA_SHA256, dsa_sign),
        ("dsa2048_sha256_verify", CKM_DSA_SHA256, dsa_verify),
        ("dh2048_keygen", CKM_DH_PKCS_KEY_PAIR_GEN, |m, d| pair_gen(m, d, CKM_DH_PKCS_KEY_PAIR_GEN)),
        ("dh2048_derive", CKM_DH_PKCS_DERIVE, dh_derive),
        ("aes_ecb_encrypt_data_derive", CKM_AES_ECB_ENCRYPT_DATA, aes_ecb_encrypt_data),
        ("des_cbc_encrypt_1KiB", CKM_DES_CBC, |m, _| cipher_1k(m, CKM_DES_KEY_GEN, CKM_DES_CBC)),
        ("md5_64B", CKM_MD5, |m, _| digest(m, CKM_MD5)),
        ("ripemd160_64B", CKM_RIPEMD160, |m, _| digest(m, CKM_RIPEMD160)),
        ("md5_hmac_64B", CKM_MD5_HMAC, |m, _| mac(m, CKM_GENERIC_SECRET_KEY_GEN, Some(32), CKM_MD5_HMAC)),
        ("md5_rsa_pkcs_sign", CKM_MD5_RSA_PKCS, md5_rsa_sign),
        ("ripemd160_hmac_64B", CKM_RIPEMD160_HMAC, |m, _| {
            mac(m, CKM_GENERIC_SECRET_KEY_GEN, Some(32), CKM_RIPEMD160_HMAC)
        }),
    ];
    let words: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let wanted = |name: &str| words.is_empty() || words.iter().any(|w| name.contains(w.as_str()));
    let needs_domain = cases.iter().any(|(n, t, _)| {
        wanted(n) && matches!(*t, CKM_DSA_SHA256 | CKM_DH_PKCS_DERIVE | CKM_DSA_KEY_PAIR_GEN | CKM_DH_PKCS_KEY_PAIR_GEN)
    });
    let domain = if needs_domain { make_domain(&mods) } else { Domain::default() };
    println!("{:<30} {:>14} {:>14} {:>8}", "case (ops/s, median of 3)", "SoftHSMv2", "shieldhsm", "ratio");
    for (name, ty, case) in cases {
        if !wanted(name) {
            continue;
        }
        let mut results: Vec<Result<Vec<f64>, String>> = mods.iter().map(|_| Ok(Vec::new())).collect();
        for round in 0..ROUNDS {
            // Alternate which module goes first, so a noisy neighbour hurts both alike.
            let order: Vec<usize> =
                if round % 2 == 0 { (0..mods.len()).collect() } else { (0..mods.len()).rev().collect() };
            for i in order {
                let m = &mods[i];
                if let Ok(v) = &mut results[i] {
                    if !m.offers(ty) {
                        results[i] = Err("not offered".into());
                        continue;
                    }
                    match case(m, &domain) {
                        Ok(r) => v.push(r),
                        Err(e) => results[i] = Err(e),
                    }
                }
            }
        }
        let cells: Vec<Result<f64, String>> = results.into_iter().map(|r| r.map(median)).collect();
        let show = |r: &Result<f64, String>| match r {
            Ok(x) => format!("{x:>14.0}"),
            // The return code says more than the function name in a narrow column.
            Err(e) => format!("{:>14}", e.rsplit(": ").next().unwrap_or(e).chars().take(14).collect::<String>()),
        };
        let ratio = match (cells.first(), cells.get(1)) {
            (Some(Ok(a)), Some(Ok(b))) if *a > 0.0 => format!("{:>7.2}x", b / a),
            _ => "-".into(),
        };
        println!(
            "{name:<30} {} {} {ratio:>8}",
            cells.first().map(show).unwrap_or_default(),
            cells.get(1).map(show).unwrap_or_default()
        );
    }
}
