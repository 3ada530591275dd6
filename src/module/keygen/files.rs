//! The key files in kmdata: their names, listing them, and opening one.

use super::super::admin::{fail, AdminError, AdminResult, Interaction};
use super::super::cardset;
use super::super::store::Store;
use super::super::world::Operational;
use super::params::Protect;
use super::protector::{find_softcard, load_protector, Protector};
use crate::object::attr::AttrMap;
use crate::object::envelope::SecretKey32;
use crate::object::stored::{self, Protection};
use cryptoki_sys::*;

/// What a key's public half adds to the file name of its private half.
pub const PUB_SUFFIX: &str = "_pub";

/// The SubjectPublicKeyInfo DER of a key file's attributes (RSA, EC, EdDSA, X25519/X448), or
/// `None` for keys without a public half; what `byok-verify --expect-key` compares.
pub fn public_key_info(attrs: &AttrMap) -> Option<Vec<u8>> {
    crate::mech::public_key_info(attrs)
}

/// `key_<app>_<ident>`: the file of a key's private or secret object.
pub fn key_file_name(app: &str, ident: &str) -> String {
    format!("{}{app}_{ident}", stored::KEY_PREFIX)
}

/// One key file as listings show it.
#[derive(Clone, Debug)]
pub struct KeyEntry {
    pub file: String,
    pub app: String,
    pub ident: String,
    pub public_half: bool,
    pub protection: Protection,
    pub owner: String,
    /// From the object itself when the tool can open it (module keys, public halves).
    pub label: Option<String>,
    pub class: Option<CK_OBJECT_CLASS>,
    pub key_type: Option<CK_KEY_TYPE>,
    /// CKA_LOCAL, when readable: `Some(false)` for an imported key.
    pub local: Option<bool>,
}

/// Splits `key_<app>_<ident>[_pub]`.
pub fn split_key_file(name: &str) -> Option<(String, String, bool)> {
    let rest = name.strip_prefix(stored::KEY_PREFIX)?;
    let (app, ident) = rest.split_once('_')?;
    let (ident, public) = match ident.strip_suffix(PUB_SUFFIX) {
        Some(i) => (i, true),
        None => (ident, false),
    };
    (!app.is_empty() && !ident.is_empty()).then(|| (app.to_string(), ident.to_string(), public))
}

/// Every key file, with what can be read of it using the world key `km`.
pub fn list_keys(store: &Store, km: Option<&SecretKey32>) -> AdminResult<Vec<KeyEntry>> {
    let mut out = Vec::new();
    let mut names: Vec<String> = store.list(stored::KEY_PREFIX)?.into_iter().map(|(n, _)| n).collect();
    names.sort();
    for name in names {
        let Some((app, ident, public_half)) = split_key_file(&name) else { continue };
        let Ok(raw) = store.read(&name) else { continue };
        let Ok((protection, owner)) = stored::peek_file(&raw) else { continue };
        let attrs = match (protection, km) {
            (Protection::Module, Some(k)) => stored::open_file(&name, &raw, k).ok(),
            // A token key's public view (label, type), when its file has one.
            (Protection::Token, Some(k)) => stored::open_view(&name, &raw, k).ok(),
            _ => None,
        };
        let label = attrs.as_ref().and_then(|a| a.bytes(CKA_LABEL)).map(|b| String::from_utf8_lossy(b).into_owned());
        out.push(KeyEntry {
            file: name,
            app,
            ident,
            public_half,
            protection,
            owner,
            label,
            class: attrs.as_ref().and_then(|a| a.class()),
            key_type: attrs.as_ref().and_then(|a| a.key_type()),
            local: attrs.as_ref().and_then(|a| a.bool(CKA_LOCAL)),
        });
    }
    // A token key's label comes from its public half when it has one.
    let labels: Vec<(String, String)> = out
        .iter()
        .filter(|e| e.public_half)
        .filter_map(|e| e.label.clone().map(|l| (format!("{}{}_{}", stored::KEY_PREFIX, e.app, e.ident), l)))
        .collect();
    for e in out.iter_mut().filter(|e| !e.public_half && e.label.is_none()) {
        if let Some((_, l)) = labels.iter().find(|(f, _)| *f == e.file) {
            e.label = Some(l.clone());
        }
    }
    Ok(out)
}

/// Opens a key's private/secret object: module keys with KM; token keys after loading their
/// softcard or card set (which asks for a passphrase or cards).
pub fn open_key(
    store: &Store,
    op: &Operational,
    app: &str,
    ident: &str,
    card_dir: Option<&std::path::Path>,
    ui: &mut dyn Interaction,
) -> AdminResult<(KeyEntry, AttrMap)> {
    open_key_with_protector(store, op, app, ident, card_dir, ui).map(|(e, a, _)| (e, a))
}

/// As [`open_key`], also returning what protects the key (to seal a copy the same way).
pub(super) fn open_key_with_protector(
    store: &Store,
    op: &Operational,
    app: &str,
    ident: &str,
    card_dir: Option<&std::path::Path>,
    ui: &mut dyn Interaction,
) -> AdminResult<(KeyEntry, AttrMap, Protector)> {
    let file = key_file_name(app, ident);
    if !store.exists(&file) {
        return fail(
            format!("there is no key {app} {ident} (local/{file})"),
            "see `nfkminfo -k` for the keys there are",
        );
    }
    let raw = store.read(&file)?;
    let damaged = || AdminError::new(format!("key file local/{file} is damaged"), "restore it from your backup");
    let (protection, owner) = stored::peek_file(&raw).map_err(|_| damaged())?;
    let prot = match protection {
        Protection::Module => {
            if owner != op.world.hkm {
                return fail(
                    format!("key {app} {ident} belongs to another Security World"),
                    "use it with its own world",
                );
            }
            load_protector(store, op, &Protect::Module, card_dir, ui)?
        }
        Protection::Token => {
            if let Ok(sc) = find_softcard(store, Some(&owner)) {
                load_protector(store, op, &Protect::Softcard(Some(sc.hash)), card_dir, ui)?
            } else if cardset::find_ocs(store, &owner).is_ok() {
                load_protector(store, op, &Protect::Token(Some(owner.clone())), card_dir, ui)?
            } else {
                return fail(
                    format!("the token protecting key {app} {ident} ({owner}) is not in this data directory"),
                    "restore its softcard_/card_ file",
                );
            }
        }
    };
    let key = prot.key.clone();
    let attrs = stored::open_file(&file, &raw, &key).map_err(|_| damaged())?;
    let entry = KeyEntry {
        file,
        app: app.to_string(),
        ident: ident.to_string(),
        public_half: false,
        protection,
        owner,
        label: attrs.bytes(CKA_LABEL).map(|b| String::from_utf8_lossy(b).into_owned()),
        class: attrs.class(),
        key_type: attrs.key_type(),
        local: attrs.bool(CKA_LOCAL),
    };
    Ok((entry, attrs, prot))
}
