//! `ckinfo` and `cklist`, the PKCS#11 tools nShield ships with its library: `ckinfo` prints the
//! library's, slots' and tokens' information; `cklist` lists the objects of every token with
//! their attributes. Both are ordinary PKCS#11 clients of `libshieldhsm.so` ([`client`]); key
//! material of private and secret keys is never printed, whatever its attributes allow.

mod client;

use super::args::{self, flag, valued};
use super::ui::Ui;
use super::{help_if_asked, no_extra};
use client::{CallError, Library, Session};
use cryptoki_sys::*;
use shieldhsm::module::admin::{AdminError, AdminResult, Interaction as _};
use std::path::PathBuf;

/// Where an installation puts the library (packaging/install.sh), and nShield's own path.
const INSTALLED: [&str; 5] = [
    "/usr/local/lib/libshieldhsm.so",
    "/usr/lib/libshieldhsm.so",
    "/usr/local/lib/x86_64-linux-gnu/libshieldhsm.so",
    "/usr/lib/x86_64-linux-gnu/libshieldhsm.so",
    "/opt/nfast/toolkits/pkcs11/libcknfast.so",
];

/// The library to load: `--library`, else `$SHIELDHSM_MODULE`, else `libshieldhsm.so` next to
/// this program (or in `../lib`), else the installed paths.
fn library_path(given: Option<&str>) -> AdminResult<PathBuf> {
    if let Some(p) = given.map(str::to_string).or_else(|| std::env::var("SHIELDHSM_MODULE").ok()) {
        return Ok(PathBuf::from(p));
    }
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::current_exe().ok().and_then(|e| std::fs::canonicalize(e).ok()) {
        if let Some(d) = dir.parent() {
            candidates.push(d.join("libshieldhsm.so"));
            candidates.push(d.join("../lib/libshieldhsm.so"));
        }
    }
    candidates.extend(INSTALLED.iter().map(PathBuf::from));
    candidates.into_iter().find(|p| p.is_file()).ok_or_else(|| {
        AdminError::new(
            "cannot find libshieldhsm.so (next to this program, or installed)",
            "give it with --library PATH or SHIELDHSM_MODULE=PATH",
        )
    })
}

fn load(given: Option<&str>) -> AdminResult<Library> {
    let path = library_path(given)?;
    Library::load(&path).map_err(|e| {
        AdminError::new(format!("cannot load {} ({e})", path.display()), "check the path and the data directory")
    })
}

fn failed(e: CallError) -> AdminError {
    AdminError::new(format!("the PKCS#11 library failed: {e}"), "see the library's log (CKNFAST_DEBUG)")
}

/// A blank-padded PKCS#11 text field, trimmed.
fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).trim_end_matches([' ', '\0']).to_string()
}

fn version(v: CK_VERSION) -> String {
    format!("{}.{:02}", v.major, v.minor)
}

const CKINFO_USAGE: &str = "usage: ckinfo [--library PATH]\n  \
Prints the PKCS#11 library's information, then each slot's and token's, and its mechanisms.\n  \
The library: --library, $SHIELDHSM_MODULE, libshieldhsm.so next to this program, or the installed one.";

pub fn ckinfo(tool: &str, a: &[String]) -> AdminResult<()> {
    let p = args::parse(a, &[valued("library", Some('l'))], tool)?;
    if help_if_asked(&p, CKINFO_USAGE) {
        return Ok(());
    }
    no_extra(&p, 0, tool)?;
    let lib = load(p.value("library"))?;
    let i = lib.info().map_err(failed)?;
    out!("PKCS#11 library CK_INFO");
    out!("       interface version {}", version(i.cryptokiVersion));
    out!("                   flags {:#x}", i.flags);
    out!("          manufacturerID \"{}\"", text(&i.manufacturerID));
    out!("      libraryDescription \"{}\"", text(&i.libraryDescription));
    out!("  implementation version {}", version(i.libraryVersion));
    for slot in lib.slots(false).map_err(failed)? {
        let s = lib.slot_info(slot).map_err(failed)?;
        out!();
        out!("slot [{slot:#x}] CK_SLOT_INFO");
        out!("        slotDescription \"{}\"", text(&s.slotDescription));
        out!("         manufacturerID \"{}\"", text(&s.manufacturerID));
        out!("                  flags {:#x}{}", s.flags, flag_names(s.flags, &SLOT_FLAGS));
        out!("       hardware version {}", version(s.hardwareVersion));
        out!("       firmware version {}", version(s.firmwareVersion));
        if s.flags & CKF_TOKEN_PRESENT == 0 {
            continue;
        }
        let t = lib.token_info(slot).map_err(failed)?;
        out!("  CK_TOKEN_INFO");
        out!("                  label \"{}\"", text(&t.label));
        out!("         manufacturerID \"{}\"", text(&t.manufacturerID));
        out!("                  model \"{}\"", text(&t.model));
        out!("           serialNumber \"{}\"", text(&t.serialNumber));
        out!("                  flags {:#x}{}", t.flags, flag_names(t.flags, &TOKEN_FLAGS));
        out!("    sessions (max/open) {}/{}", ulong(t.ulMaxSessionCount), ulong(t.ulSessionCount));
        out!("      PIN length (min/max) {}/{}", ulong(t.ulMinPinLen), ulong(t.ulMaxPinLen));
        out!("       hardware version {}", version(t.hardwareVersion));
        out!("       firmware version {}", version(t.firmwareVersion));
        let mechs = lib.mechanisms(slot).map_err(failed)?;
        let list: Vec<String> = mechs.iter().map(|m| format!("{m:#x}")).collect();
        out!("  mechanisms ({}): {}", mechs.len(), list.join(" "));
    }
    Ok(())
}

fn ulong(v: CK_ULONG) -> String {
    match v {
        CK_UNAVAILABLE_INFORMATION => "unavailable".into(),
        CK_EFFECTIVELY_INFINITE => "unlimited".into(),
        v => v.to_string(),
    }
}

const SLOT_FLAGS: [(CK_FLAGS, &str); 3] =
    [(CKF_TOKEN_PRESENT, "TOKEN_PRESENT"), (CKF_REMOVABLE_DEVICE, "REMOVABLE_DEVICE"), (CKF_HW_SLOT, "HW_SLOT")];
const TOKEN_FLAGS: [(CK_FLAGS, &str); 7] = [
    (CKF_RNG, "RNG"),
    (CKF_WRITE_PROTECTED, "WRITE_PROTECTED"),
    (CKF_LOGIN_REQUIRED, "LOGIN_REQUIRED"),
    (CKF_USER_PIN_INITIALIZED, "USER_PIN_INITIALIZED"),
    (CKF_TOKEN_INITIALIZED, "TOKEN_INITIALIZED"),
    (CKF_USER_PIN_LOCKED, "USER_PIN_LOCKED"),
    (CKF_SO_PIN_LOCKED, "SO_PIN_LOCKED"),
];

fn flag_names(flags: CK_FLAGS, names: &[(CK_FLAGS, &str)]) -> String {
    let set: Vec<&str> = names.iter().filter(|(f, _)| flags & f != 0).map(|(_, n)| *n).collect();
    if set.is_empty() {
        String::new()
    } else {
        format!(" ({})", set.join(" | "))
    }
}

const CKLIST_USAGE: &str = "usage: cklist [--library PATH] [-s SLOT] [-p PIN | --login]\n  \
Lists the objects of every token (or of slot SLOT) with their attributes. -p PIN (or --login, which asks\n  \
for it) logs in as the user to list private objects too (with several such tokens, name one with -s). Key material of private and secret keys is\n  \
never printed.";

pub fn cklist(tool: &str, a: &[String]) -> AdminResult<()> {
    let opts = [valued("library", Some('l')), valued("slot", Some('s')), valued("pin", Some('p')), flag("login", None)];
    let p = args::parse(a, &opts, tool)?;
    if help_if_asked(&p, CKLIST_USAGE) {
        return Ok(());
    }
    no_extra(&p, 0, tool)?;
    let want = match p.value("slot") {
        None => None,
        Some(s) => Some(parse_slot(s).ok_or_else(|| {
            AdminError::new(format!("slot {s:?} is not a slot number"), "give it as ckinfo shows it, e.g. -s 0x1")
        })?),
    };
    let pin = match (p.value("pin"), p.has("login")) {
        (Some(pin), _) => Some(zeroize::Zeroizing::new(pin.as_bytes().to_vec())),
        (None, true) => {
            let mut ui = Ui::new(p.value("passphrase-file"))?;
            Some(zeroize::Zeroizing::new(ui.passphrase("the token's user PIN")?.as_bytes().to_vec()))
        }
        (None, false) => None,
    };
    let lib = load(p.value("library"))?;
    let slots = lib.slots(true).map_err(failed)?;
    if let Some(w) = want {
        if !slots.contains(&w) {
            return Err(AdminError::new(format!("slot {w:#x} has no token"), "see `ckinfo` for the slots"));
        }
    }
    if pin.is_some() && want.is_none() {
        // One PIN tried on several tokens would count against the others' tries.
        let mut login_tokens = 0;
        for s in &slots {
            let f = lib.token_info(*s).map_err(failed)?.flags;
            if f & CKF_TOKEN_INITIALIZED != 0 && f & CKF_LOGIN_REQUIRED != 0 {
                login_tokens += 1;
            }
        }
        if login_tokens > 1 {
            return Err(AdminError::new(
                format!("{login_tokens} tokens need a login: a PIN is for one of them"),
                "name the token's slot with -s (see `ckinfo`)",
            ));
        }
    }
    for slot in slots.into_iter().filter(|s| want.is_none_or(|w| w == *s)) {
        let t = lib.token_info(slot).map_err(failed)?;
        if t.flags & CKF_TOKEN_INITIALIZED == 0 {
            if want.is_some() {
                return Err(AdminError::new(
                    format!("the token in slot {slot:#x} is not initialized"),
                    "see `ckinfo` for the tokens there are",
                ));
            }
            continue;
        }
        // The PIN opens the slot asked for; without -s, each token that needs a login.
        let login = pin.as_deref().map(Vec::as_slice).filter(|_| want.is_some() || t.flags & CKF_LOGIN_REQUIRED != 0);
        let session = match lib.session(slot, login) {
            Ok(s) => s,
            Err(CallError { rv: CKR_PIN_INCORRECT, .. }) => {
                return Err(AdminError::new(
                    format!("wrong PIN for token \"{}\"", text(&t.label)),
                    "retry with the token's user PIN",
                ))
            }
            Err(e) => return Err(failed(e)),
        };
        out!("slot [{slot:#x}] token \"{}\"{}", text(&t.label), if login.is_some() { " (logged in)" } else { "" });
        let objs = session.objects().map_err(failed)?;
        out!(" {} objects", objs.len());
        for o in objs {
            print_object(&session, o).map_err(failed)?;
        }
    }
    Ok(())
}

fn parse_slot(s: &str) -> Option<CK_SLOT_ID> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => CK_SLOT_ID::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

const BOOLS: [(CK_ATTRIBUTE_TYPE, &str); 17] = [
    (CKA_TOKEN, "CKA_TOKEN"),
    (CKA_PRIVATE, "CKA_PRIVATE"),
    (CKA_MODIFIABLE, "CKA_MODIFIABLE"),
    (CKA_SENSITIVE, "CKA_SENSITIVE"),
    (CKA_EXTRACTABLE, "CKA_EXTRACTABLE"),
    (CKA_ALWAYS_SENSITIVE, "CKA_ALWAYS_SENSITIVE"),
    (CKA_NEVER_EXTRACTABLE, "CKA_NEVER_EXTRACTABLE"),
    (CKA_LOCAL, "CKA_LOCAL"),
    (CKA_ENCRYPT, "CKA_ENCRYPT"),
    (CKA_DECRYPT, "CKA_DECRYPT"),
    (CKA_SIGN, "CKA_SIGN"),
    (CKA_VERIFY, "CKA_VERIFY"),
    (CKA_WRAP, "CKA_WRAP"),
    (CKA_UNWRAP, "CKA_UNWRAP"),
    (CKA_DERIVE, "CKA_DERIVE"),
    (CKA_SIGN_RECOVER, "CKA_SIGN_RECOVER"),
    (CKA_VERIFY_RECOVER, "CKA_VERIFY_RECOVER"),
];

/// Public values shown in hex (on public keys and certificates only).
const PUBLIC_BYTES: [(CK_ATTRIBUTE_TYPE, &str); 4] = [
    (CKA_MODULUS, "CKA_MODULUS"),
    (CKA_PUBLIC_EXPONENT, "CKA_PUBLIC_EXPONENT"),
    (CKA_EC_PARAMS, "CKA_EC_PARAMS"),
    (CKA_EC_POINT, "CKA_EC_POINT"),
];

fn ulong_of(v: &[u8]) -> Option<CK_ULONG> {
    v.try_into().ok().map(CK_ULONG::from_ne_bytes)
}

fn print_object(s: &Session<'_>, o: CK_OBJECT_HANDLE) -> Result<(), CallError> {
    let class = s.attr(o, CKA_CLASS)?.as_deref().and_then(ulong_of);
    let kt = s.attr(o, CKA_KEY_TYPE)?.as_deref().and_then(ulong_of);
    let label = s.attr(o, CKA_LABEL)?.map(|l| String::from_utf8_lossy(&l).into_owned()).unwrap_or_default();
    out!();
    out!(" object {o:#x}");
    out!("  CKA_CLASS {}", class.map(class_name).unwrap_or_else(|| "?".into()));
    if let Some(k) = kt {
        out!("  CKA_KEY_TYPE {}", key_type_name(k));
    }
    out!("  CKA_LABEL \"{label}\"");
    if let Some(id) = s.attr(o, CKA_ID)? {
        out!("  CKA_ID {}", hex::encode(id));
    }
    for (t, name) in BOOLS {
        if let Some(v) = s.attr(o, t)? {
            out!("  {name} {}", if v.first().copied().unwrap_or(0) != 0 { "TRUE" } else { "FALSE" });
        }
    }
    for (t, name) in [(CKA_MODULUS_BITS, "CKA_MODULUS_BITS"), (CKA_VALUE_LEN, "CKA_VALUE_LEN")] {
        if let Some(n) = s.attr(o, t)?.as_deref().and_then(ulong_of) {
            out!("  {name} {n}");
        }
    }
    // Key material of private and secret keys is never asked for, let alone printed.
    if matches!(class, Some(CKO_PUBLIC_KEY | CKO_CERTIFICATE)) {
        for (t, name) in PUBLIC_BYTES {
            if let Some(v) = s.attr(o, t)? {
                out!("  {name} {}", hex::encode(v));
            }
        }
    }
    Ok(())
}

fn class_name(c: CK_OBJECT_CLASS) -> String {
    match c {
        CKO_DATA => "CKO_DATA".into(),
        CKO_CERTIFICATE => "CKO_CERTIFICATE".into(),
        CKO_PUBLIC_KEY => "CKO_PUBLIC_KEY".into(),
        CKO_PRIVATE_KEY => "CKO_PRIVATE_KEY".into(),
        CKO_SECRET_KEY => "CKO_SECRET_KEY".into(),
        other => format!("{other:#x}"),
    }
}

fn key_type_name(k: CK_KEY_TYPE) -> String {
    match k {
        CKK_RSA => "CKK_RSA".into(),
        CKK_EC => "CKK_EC".into(),
        CKK_AES => "CKK_AES".into(),
        CKK_DES3 => "CKK_DES3".into(),
        CKK_GENERIC_SECRET => "CKK_GENERIC_SECRET".into(),
        CKK_SHA_1_HMAC => "CKK_SHA_1_HMAC".into(),
        CKK_SHA256_HMAC => "CKK_SHA256_HMAC".into(),
        CKK_SHA384_HMAC => "CKK_SHA384_HMAC".into(),
        CKK_SHA512_HMAC => "CKK_SHA512_HMAC".into(),
        CKK_EC_EDWARDS => "CKK_EC_EDWARDS".into(),
        CKK_EC_MONTGOMERY => "CKK_EC_MONTGOMERY".into(),
        other => format!("{other:#x}"),
    }
}
