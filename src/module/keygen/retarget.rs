//! `generatekey --retarget`: the same key under another application and ident (nShield uses it
//! to hand e.g. a `pkcs11` key to `simple`). The new files hold the very same key material,
//! protection, ACL and history (CKA_LOCAL, CKA_NEVER_EXTRACTABLE...): only the names change.

use super::super::acl;
use super::super::admin::{fail, AdminResult, Interaction, Txn};
use super::super::hash::key_hash;
use super::super::store::Store;
use super::super::world;
use super::files::open_key_with_protector;
use super::make::recovery_blob;
use super::params::{check_app, check_ident};
use super::{key_file_name, seal_private, PUB_SUFFIX};
use crate::object::attr::{Attr, AttrMap, CKA_NFKM_APPNAME, CKA_NFKM_HASH, CKA_NFKM_ID, CKA_SHSM_ACL};
use crate::object::stored::{self, Protection};
use cryptoki_sys::*;

/// What `--retarget` asks for.
pub struct Retarget<'a> {
    pub from_app: &'a str,
    pub from_ident: &'a str,
    pub app: &'a str,
    pub ident: &'a str,
    /// A new CKA_LABEL; `None` keeps the key's.
    pub plainname: Option<&'a str>,
    pub module: u32,
    pub card_dir: Option<&'a std::path::Path>,
}

/// What a retargeted key became: its new files.
pub struct Retargeted {
    pub files: Vec<String>,
    pub label: String,
    pub protection: String,
}

/// One object of the key under its new names (a fresh CKA_UNIQUE_ID: it is another object).
fn renamed(attrs: &AttrMap, r: &Retarget<'_>, file: &str) -> AttrMap {
    let mut a = attrs.clone();
    a.set(CKA_NFKM_APPNAME, Attr::bytes(r.app.as_bytes().to_vec()));
    a.set(CKA_NFKM_ID, Attr::bytes(r.ident.as_bytes().to_vec()));
    a.set(CKA_NFKM_HASH, Attr::bytes(key_hash(file)));
    a.set(CKA_ID, Attr::bytes(r.ident.as_bytes().to_vec()));
    if let Some(l) = r.plainname {
        a.set(CKA_LABEL, Attr::bytes(l.as_bytes().to_vec()));
    }
    let mut id = [0u8; 16];
    if aws_lc_rs::rand::fill(&mut id).is_ok() {
        a.set(CKA_UNIQUE_ID, Attr::bytes(hex::encode(id).into_bytes()));
    }
    a
}

/// Writes `key_<app>_<ident>` (and its public half and recovery blob, if the source has them)
/// from `key_<from_app>_<from_ident>`. Refused if the target exists; nothing written on failure.
pub fn retarget(store: &Store, r: &Retarget<'_>, ui: &mut dyn Interaction) -> AdminResult<Retargeted> {
    check_app(r.app)?;
    check_ident(r.ident)?;
    if (r.app, r.ident) == (r.from_app, r.from_ident) {
        return fail("the source and the target are the same key", "give another application or ident=");
    }
    let op = world::operational(store, r.module, "generatekey --retarget")?;
    let (file, from_file) = (key_file_name(r.app, r.ident), key_file_name(r.from_app, r.from_ident));
    let pub_file = format!("{file}{PUB_SUFFIX}");
    let exists = || {
        fail(
            format!("key {} {} already exists (local/{file})", r.app, r.ident),
            "choose another ident=, or move the old key file away first",
        )
    };
    if store.exists(&file) || store.exists(&pub_file) {
        return exists();
    }
    let (_, private, prot) = open_key_with_protector(store, &op, r.from_app, r.from_ident, r.card_dir, ui)?;
    if !matches!(private.class(), Some(CKO_PRIVATE_KEY | CKO_SECRET_KEY)) {
        return fail("only private or secret keys can be retargeted", "give the private key's ident");
    }
    // A new blob of the key: its ACL must allow one under its protector (a BYOK transfer copy,
    // whose ACL allows only the wrapped export, may not be copied).
    if !acl::permits_json(private.bytes(CKA_SHSM_ACL), &acl::Permission::MakeBlob(prot.blob.clone())) {
        return fail(
            format!("the ACL of key {} {} does not allow a new blob of it", r.from_app, r.from_ident),
            "retarget a key whose ACL has MakeBlob (see `aclprint`)",
        );
    }
    let private = renamed(&private, r, &file);
    let private_blob = seal_private(&file, &prot, &op.km, &private)?;
    let from_pub = format!("{from_file}{PUB_SUFFIX}");
    let public_blob = if store.exists(&from_pub) {
        let raw = store.read(&from_pub)?;
        let public = stored::open_file(&from_pub, &raw, &op.km).map_err(|_| {
            super::super::admin::AdminError::new(
                format!("local/{from_pub} does not open with this world"),
                "restore it from backup",
            )
        })?;
        Some(stored::seal_file(&pub_file, Protection::Module, &prot.owner, &op.km, &renamed(&public, r, &pub_file))?)
    } else {
        None
    };
    let recoverable = store.emu().join(format!("recovery/{from_file}.json")).exists();
    let rec = if recoverable { Some(recovery_blob(&op.world, &file, &private)?) } else { None };

    let lock = store.lock()?;
    if store.exists(&file) || store.exists(&pub_file) {
        return exists();
    }
    let mut txn = Txn::new(&lock);
    let mut files = vec![file.clone()];
    txn.write_local(&file, &private_blob)?;
    if let Some(b) = &public_blob {
        txn.write_local(&pub_file, b)?;
        files.push(pub_file);
    }
    if let Some(b) = &rec {
        txn.write_emu(&format!("recovery/{file}.json"), b)?;
    }
    txn.commit();
    lock.bump();
    let label = private.bytes(CKA_LABEL).map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
    Ok(Retargeted { files, label, protection: prot.desc })
}
