//! kmdata files as they are on disk, for the tools that show or check them (`kmfile-dump`,
//! `nfkminfo`, `byok-verify`, `KeyTransferRemote`): which module key opens module-protected
//! files, where a named file is, what an object file's header says and what it holds, and the
//! JSON files with their secrets redacted.

use super::admin::{AdminError, AdminResult};
use super::hsm;
use super::keygen;
use super::store::Store;
use super::world::WorldFile;
use crate::object::attr::AttrMap;
use crate::object::envelope::SecretKey32;
use crate::object::stored::{self, Protection};
use std::path::PathBuf;

/// The world's module key, if module `number` holds the world, else any module that does (any
/// mode: reading needs no O switch).
pub fn world_km(store: &Store, w: Option<&WorldFile>, number: u32) -> Option<SecretKey32> {
    let w = w?;
    let m = hsm::get(store, number).ok()?;
    if m.has_world(&w.hkm) {
        return m.km();
    }
    hsm::list(store).ok()?.into_iter().find(|m| m.has_world(&w.hkm)).and_then(|m| m.km())
}

/// A file named on a command line: a path, else a name in `local/`.
pub fn locate(store: &Store, arg: &str) -> Option<PathBuf> {
    let direct = PathBuf::from(arg);
    if direct.exists() {
        Some(direct)
    } else if store.local().join(arg).exists() {
        Some(store.local().join(arg))
    } else {
        None
    }
}

/// What an object file's header says (no key needed).
pub struct ObjectHeader {
    pub protection: Protection,
    /// The logical token's hash (token-protected), or the world's.
    pub owner: String,
    /// Bytes after the header: the sealed attributes (and view).
    pub sealed_len: usize,
    /// (application, ident, public half) when the name is a key file's.
    pub key: Option<(String, String, bool)>,
}

/// The header of an object file named `name`; `None` when `raw` is not an object file.
pub fn object_header(name: &str, raw: &[u8]) -> Option<ObjectHeader> {
    let (protection, owner) = stored::peek_file(raw).ok()?;
    let sealed_len = raw.len().saturating_sub(10 + owner.len());
    Some(ObjectHeader { protection, owner, sealed_len, key: keygen::split_key_file(name) })
}

/// What an object file holds, as far as the module key `km` tells.
pub enum Contents {
    Opened(AttrMap),
    /// Module-protected, but it does not open with this world's key: damaged or foreign.
    Foreign,
    /// Module-protected, and no module holds the world's key.
    NoWorldKey,
    /// Sealed under a logical token (cards or softcard passphrase needed).
    UnderToken,
}

pub fn object_contents(name: &str, raw: &[u8], protection: Protection, km: Option<&SecretKey32>) -> Contents {
    match (protection, km) {
        (Protection::Module, Some(km)) => match stored::open_file(name, raw, km) {
            Ok(attrs) => Contents::Opened(attrs),
            Err(_) => Contents::Foreign,
        },
        (Protection::Module, None) => Contents::NoWorldKey,
        (Protection::Token, _) => Contents::UnderToken,
    }
}

/// Opens the module-protected `local/<name>` with the world's module key `km`.
pub fn open_module_file(store: &Store, name: &str, km: &SecretKey32) -> AdminResult<AttrMap> {
    let raw = store.read(name)?;
    stored::open_file(name, &raw, km)
        .map_err(|_| AdminError::new(format!("local/{name} does not open with this world"), "restore it from backup"))
}

/// Field names whose values are secret (sealed or key material): shown as their length only.
const SECRET_FIELDS: [&str; 12] = [
    "share",
    "km",
    "km0",
    "wrapped_lt",
    "knso_sealed",
    "km_sealed",
    "kre_sealed",
    "kra_sealed",
    "wrapped_key",
    "blob",
    "salt",
    "check",
];

/// A JSON kmdata file with every secret field replaced by `<N bytes, not shown>`: (its
/// `format`, or `unknown`; the redacted document). `None` when `raw` is not JSON.
pub fn redacted_json(raw: &[u8]) -> Option<(String, serde_json::Value)> {
    let mut v = serde_json::from_slice::<serde_json::Value>(raw).ok()?;
    let format = v.get("format").and_then(|f| f.as_str()).unwrap_or("unknown").to_string();
    redact(&mut v);
    Some((format, v))
}

fn redact(v: &mut serde_json::Value) {
    use base64::Engine;
    match v {
        serde_json::Value::Object(m) => {
            for (k, val) in m.iter_mut() {
                if SECRET_FIELDS.contains(&k.as_str()) {
                    if let serde_json::Value::String(s) = val {
                        if !s.is_empty() {
                            let n = base64::engine::general_purpose::STANDARD
                                .decode(s.as_bytes())
                                .map(|b| b.len())
                                .unwrap_or(s.len());
                            *val = serde_json::Value::String(format!("<{n} bytes, not shown>"));
                        }
                    }
                } else {
                    redact(val);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(redact),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::attr::Attr;
    use cryptoki_sys::*;

    #[test]
    fn secrets_are_shown_as_their_length_at_any_depth() {
        let raw = br#"{"format":"f/1","km":"AAECAw==","cards":[{"share":"not base64!","name":"c"}],"salt":""}"#;
        let (format, v) = redacted_json(raw).unwrap();
        assert_eq!(format, "f/1");
        assert_eq!(v["km"], "<4 bytes, not shown>");
        assert_eq!(v["cards"][0]["share"], "<11 bytes, not shown>");
        assert_eq!(v["cards"][0]["name"], "c");
        assert_eq!(v["salt"], "");
        assert_eq!(redacted_json(b"[1]").unwrap().0, "unknown");
        assert!(redacted_json(b"SHSMOBJ1").is_none());
    }

    #[test]
    fn object_files_are_read_as_far_as_the_key_allows() {
        let dir = tempfile::tempdir().unwrap();
        let st = Store::open(dir.path()).unwrap();
        let km = SecretKey32::new([7; 32]);
        let attrs: AttrMap = [(CKA_CLASS, Attr::Ulong(CKO_DATA)), (CKA_TOKEN, Attr::Bool(true))].into_iter().collect();
        let name = "key_simple_k";
        let raw = stored::seal_file(name, Protection::Module, "hkm", &km, &attrs).unwrap();
        let h = object_header(name, &raw).unwrap();
        assert_eq!((h.protection, h.owner.as_str()), (Protection::Module, "hkm"));
        assert_eq!(h.key, Some(("simple".into(), "k".into(), false)));
        assert!(matches!(object_contents(name, &raw, h.protection, Some(&km)), Contents::Opened(_)));
        assert!(matches!(object_contents(name, &raw, h.protection, None), Contents::NoWorldKey));
        let other = SecretKey32::new([8; 32]);
        assert!(matches!(object_contents(name, &raw, h.protection, Some(&other)), Contents::Foreign));
        assert!(object_header(name, b"{}").is_none());
        st.lock().unwrap().write(name, &raw).unwrap();
        assert_eq!(locate(&st, name), Some(st.local().join(name)));
        assert_eq!(locate(&st, "nothing_here"), None);
        assert!(open_module_file(&st, name, &km).is_ok());
        assert!(open_module_file(&st, name, &other).unwrap_err().what.contains("does not open"));
    }
}
