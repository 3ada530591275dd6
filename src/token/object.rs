//! Objects, the per-slot object table with its find indexes, and the encrypted object files.
//!
//! Objects are immutable once built (`Arc<Object>`); C_SetAttributeValue swaps in a new one, so
//! operations in flight keep a consistent key and readers never wait on writers. Parsed key
//! material is cached per object and built once.

use super::attr::AttrMap;
use crate::error::{err, Result};
use crate::mech::KeyMaterial;
use crate::module::store::{self, FileStamp};
use cryptoki_sys::*;
use once_cell::sync::OnceCell;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

pub struct Object {
    pub attrs: AttrMap,
    material: OnceCell<Arc<KeyMaterial>>,
}

impl Object {
    pub fn new(attrs: AttrMap) -> Arc<Object> {
        Arc::new(Object { attrs, material: OnceCell::new() })
    }

    /// The parsed key, built on first use and cached for the object's life.
    pub fn material(&self) -> Result<Arc<KeyMaterial>> {
        self.material.get_or_try_init(|| KeyMaterial::from_attrs(&self.attrs).map(Arc::new)).cloned()
    }

    pub fn is_token(&self) -> bool {
        self.attrs.flag(CKA_TOKEN)
    }
    pub fn is_private(&self) -> bool {
        self.attrs.flag(CKA_PRIVATE)
    }
    /// Secret and private keys: on a softcard their material is sealed under the card's logical
    /// token whatever `CKA_PRIVATE` says, and used only while the user is logged in.
    pub fn holds_secret(&self) -> bool {
        matches!(self.attrs.class(), Some(CKO_SECRET_KEY | CKO_PRIVATE_KEY))
    }
    /// Whether the object needs the card's user: private, or key material.
    pub fn needs_card_login(&self) -> bool {
        self.is_private() || self.holds_secret()
    }
}

/// Who owns an object: a session (destroyed with it) or the token (a file in `local/`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    Session(CK_SESSION_HANDLE),
    File(String),
}

pub struct Entry {
    pub owner: Owner,
    pub obj: Arc<Object>,
}

/// Every object of one slot visible to this process, with indexes on class, label and id so a
/// search among thousands of objects touches only the candidates.
#[derive(Default)]
pub struct ObjectTable {
    entries: HashMap<CK_OBJECT_HANDLE, Entry>,
    by_class: HashMap<CK_OBJECT_CLASS, BTreeSet<CK_OBJECT_HANDLE>>,
    by_label: HashMap<Vec<u8>, BTreeSet<CK_OBJECT_HANDLE>>,
    by_id: HashMap<Vec<u8>, BTreeSet<CK_OBJECT_HANDLE>>,
    /// Token files loaded into this table: name → (handle, version seen).
    pub files: HashMap<String, (CK_OBJECT_HANDLE, FileStamp)>,
    /// Private files we cannot open until the user logs in: name → version.
    pub locked: HashMap<String, FileStamp>,
    /// Handles of private files dropped at logout, reused when they are opened again.
    pub dormant: HashMap<String, CK_OBJECT_HANDLE>,
    /// Files loaded as their public view only (before login): reloaded whole at login.
    pub partial: std::collections::HashSet<String>,
    /// Key files that belong to another slot (or could not be opened): name → version.
    pub foreign: HashMap<String, FileStamp>,
    /// Store generation this table reflects.
    pub seen_generation: u64,
}

/// Indexed by the values the object answers with (an unset label or id reads as empty).
fn index_keys(o: &Object) -> (Option<CK_OBJECT_CLASS>, Option<Vec<u8>>, Option<Vec<u8>>) {
    let bytes = |t| super::policy::effective(&o.attrs, t).and_then(|v| v.as_bytes().map(<[u8]>::to_vec));
    (o.attrs.class(), bytes(CKA_LABEL), bytes(CKA_ID))
}

impl ObjectTable {
    pub fn get(&self, h: CK_OBJECT_HANDLE) -> Option<&Entry> {
        self.entries.get(&h)
    }

    pub fn insert(&mut self, h: CK_OBJECT_HANDLE, owner: Owner, obj: Arc<Object>) {
        self.index(h, &obj, true);
        if let Some(old) = self.entries.insert(h, Entry { owner, obj }) {
            self.index(h, &old.obj, false);
            self.index(h, &self.entries[&h].obj.clone(), true);
        }
    }

    /// Replaces an object's value (C_SetAttributeValue), keeping the handle.
    pub fn replace(&mut self, h: CK_OBJECT_HANDLE, obj: Arc<Object>) {
        if let Some(e) = self.entries.get_mut(&h) {
            let old = std::mem::replace(&mut e.obj, obj.clone());
            self.index(h, &old, false);
            self.index(h, &obj, true);
        }
    }

    pub fn remove(&mut self, h: CK_OBJECT_HANDLE) -> Option<Entry> {
        let e = self.entries.remove(&h)?;
        self.index(h, &e.obj, false);
        if let Owner::File(name) = &e.owner {
            self.files.remove(name);
            self.partial.remove(name);
        }
        Some(e)
    }

    fn index(&mut self, h: CK_OBJECT_HANDLE, o: &Object, add: bool) {
        let (class, label, id) = index_keys(o);
        fn upd<K: std::hash::Hash + Eq>(
            m: &mut HashMap<K, BTreeSet<CK_OBJECT_HANDLE>>,
            k: K,
            h: CK_OBJECT_HANDLE,
            add: bool,
        ) {
            if add {
                m.entry(k).or_default().insert(h);
            } else if let Some(s) = m.get_mut(&k) {
                s.remove(&h);
                if s.is_empty() {
                    m.remove(&k);
                }
            }
        }
        if let Some(c) = class {
            upd(&mut self.by_class, c, h, add);
        }
        if let Some(l) = label {
            upd(&mut self.by_label, l, h, add);
        }
        if let Some(i) = id {
            upd(&mut self.by_id, i, h, add);
        }
    }

    /// Handles whose objects match `template` and pass `visible`, in handle order. Uses the most
    /// selective index the template allows; falls back to all objects only for index-less
    /// templates.
    pub fn find(&self, template: &AttrMap, visible: impl Fn(&Entry) -> bool) -> Vec<CK_OBJECT_HANDLE> {
        let empty = BTreeSet::new();
        let indexed = [
            template.bytes(CKA_LABEL).map(|l| self.by_label.get(l).unwrap_or(&empty)),
            template.bytes(CKA_ID).map(|i| self.by_id.get(i).unwrap_or(&empty)),
            template.class().map(|c| self.by_class.get(&c).unwrap_or(&empty)),
        ];
        let cands = indexed.into_iter().flatten().min_by_key(|s| s.len());
        let check = |h: &CK_OBJECT_HANDLE| {
            self.entries.get(h).map(|e| visible(e) && super::policy::matches(&e.obj.attrs, template)).unwrap_or(false)
        };
        match cands {
            Some(set) => set.iter().copied().filter(check).collect(),
            None => {
                let mut all: Vec<_> = self.entries.keys().copied().filter(check).collect();
                all.sort_unstable();
                all
            }
        }
    }

    pub fn handles_owned_by(&self, session: CK_SESSION_HANDLE) -> Vec<CK_OBJECT_HANDLE> {
        self.entries.iter().filter(|(_, e)| e.owner == Owner::Session(session)).map(|(h, _)| *h).collect()
    }

    pub fn token_handles(&self) -> Vec<CK_OBJECT_HANDLE> {
        self.entries.iter().filter(|(_, e)| matches!(e.owner, Owner::File(_))).map(|(h, _)| *h).collect()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

// ---- object files ----

/// Every key file in `local/` (nShield's `key_<APPNAME>_<IDENT>`).
pub const KEY_PREFIX: &str = "key_";
/// Objects made through PKCS#11.
pub const FILE_PREFIX: &str = "key_pkcs11_";
const MAGIC: &[u8; 8] = b"SHSMOBJ1";
const MAGIC_VIEW: &[u8; 8] = b"SHSMOBJ2";

/// What key seals an object file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protection {
    /// The world's module key (module-slot objects, and the public objects of a softcard that
    /// hold no key material).
    Module = 0,
    /// The softcard's logical token (its private objects and all its secret and private keys):
    /// needs the user logged in.
    Token = 1,
}

/// A file name for a new object: `key_pkcs11_ua<id>` in the module slot, nShield's prefix for
/// accelerator keys; `key_pkcs11_us<card>-<id>` on a softcard.
pub fn new_file_name(card_hash: Option<&str>) -> Result<String> {
    let mut id = [0u8; 8];
    aws_lc_rs::rand::fill(&mut id)?;
    Ok(match card_hash {
        None => format!("{FILE_PREFIX}ua{}", hex::encode(id)),
        Some(h) => format!("{FILE_PREFIX}us{}-{}", h.get(..8).unwrap_or(h), hex::encode(id)),
    })
}

/// Which softcard (by hash prefix) a file belongs to; `None` for module-slot files.
pub fn file_card_prefix(name: &str) -> Option<&str> {
    let rest = name.strip_prefix(FILE_PREFIX)?;
    rest.strip_prefix("us").and_then(|r| r.split('-').next())
}

fn aad(name: &str, prot: Protection, owner: &str) -> Vec<u8> {
    format!("shieldhsm/object/1|{name}|{}|{owner}", prot as u8).into_bytes()
}

/// `MAGIC | protection u8 | owner-len u8 | owner | sealed(attrs)`; the owner (softcard hash or
/// world hkm) and the file name are bound as associated data.
pub fn seal_file(name: &str, prot: Protection, owner: &str, key: &[u8; 32], attrs: &AttrMap) -> Result<Vec<u8>> {
    let mut out = header(MAGIC, prot, owner);
    out.extend_from_slice(&store::seal(key, &aad(name, prot, owner), &attrs.encode())?);
    Ok(out)
}

/// A softcard key made with `CKA_PRIVATE=FALSE`: the key sealed under the logical token `lt`,
/// plus a *view* of its public attributes sealed under the module key `km`, so the object is
/// visible before login and usable only after.
/// `MAGIC_VIEW | 1 | owner-len u8 | owner | body-len u32 BE | sealed(attrs) | sealed(view)`.
pub fn seal_file_with_view(
    name: &str,
    owner: &str,
    lt: &[u8; 32],
    km: &[u8; 32],
    attrs: &AttrMap,
    view: &AttrMap,
) -> Result<Vec<u8>> {
    let body = store::seal(lt, &aad(name, Protection::Token, owner), &attrs.encode())?;
    let mut out = header(MAGIC_VIEW, Protection::Token, owner);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out.extend_from_slice(&store::seal(km, &view_aad(name, owner), &view.encode())?);
    Ok(out)
}

fn header(magic: &[u8; 8], prot: Protection, owner: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(magic);
    out.push(prot as u8);
    out.push(owner.len() as u8);
    out.extend_from_slice(owner.as_bytes());
    out
}

fn view_aad(name: &str, owner: &str) -> Vec<u8> {
    format!("shieldhsm/object-view/1|{name}|{owner}").into_bytes()
}

/// A file's parts: protection, owner, the sealed object and (v2 files) the sealed view.
struct Parts<'a> {
    prot: Protection,
    owner: String,
    body: &'a [u8],
    view: Option<&'a [u8]>,
}

fn split(raw: &[u8]) -> Result<Parts<'_>> {
    let with_view = match raw.get(..8) {
        Some(m) if m == MAGIC => false,
        Some(m) if m == MAGIC_VIEW => true,
        _ => return err(CKR_DEVICE_ERROR),
    };
    let prot = match raw.get(8) {
        Some(0) => Protection::Module,
        Some(1) => Protection::Token,
        _ => return err(CKR_DEVICE_ERROR),
    };
    let n = *raw.get(9).ok_or(CKR_DEVICE_ERROR)? as usize;
    let owner = raw.get(10..10 + n).ok_or(CKR_DEVICE_ERROR)?;
    let owner = String::from_utf8(owner.to_vec()).map_err(|_| CKR_DEVICE_ERROR)?;
    let rest = &raw[10 + n..];
    if !with_view {
        return Ok(Parts { prot, owner, body: rest, view: None });
    }
    let len_bytes: [u8; 4] = rest.get(..4).and_then(|b| b.try_into().ok()).ok_or(CKR_DEVICE_ERROR)?;
    let len = u32::from_be_bytes(len_bytes) as usize;
    let body = rest.get(4..4 + len).ok_or(CKR_DEVICE_ERROR)?;
    Ok(Parts { prot, owner, body, view: Some(&rest[4 + len..]) })
}

/// Reads a file's header: protection and owner.
pub fn peek_file(raw: &[u8]) -> Result<(Protection, String)> {
    let p = split(raw)?;
    Ok((p.prot, p.owner))
}

fn token_object(plain: &[u8]) -> Result<AttrMap> {
    let attrs = AttrMap::decode(plain)?;
    // The file is authoritative for its own token-ness.
    if attrs.bool(CKA_TOKEN) != Some(true) {
        return err(CKR_DEVICE_ERROR);
    }
    Ok(attrs)
}

pub fn open_file(name: &str, raw: &[u8], key: &[u8; 32]) -> Result<AttrMap> {
    let p = split(raw)?;
    token_object(&store::open(key, &aad(name, p.prot, &p.owner), p.body)?)
}

/// The public view of a v2 file (see [`seal_file_with_view`]), opened with the module key.
pub fn open_view(name: &str, raw: &[u8], km: &[u8; 32]) -> Result<AttrMap> {
    let p = split(raw)?;
    let view = p.view.ok_or(CKR_DEVICE_ERROR)?;
    token_object(&store::open(km, &view_aad(name, &p.owner), view)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::attr::Attr;

    fn key() -> AttrMap {
        [
            (CKA_CLASS, Attr::Ulong(CKO_SECRET_KEY)),
            (CKA_KEY_TYPE, Attr::Ulong(CKK_AES)),
            (CKA_TOKEN, Attr::Bool(true)),
            (CKA_LABEL, Attr::bytes(b"k".to_vec())),
            (CKA_VALUE, Attr::bytes(vec![9u8; 16])),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn a_view_opens_with_the_module_key_and_the_key_only_with_the_token_key() {
        let (lt, km) = ([1u8; 32], [2u8; 32]);
        let attrs = key();
        let view = crate::token::policy::public_view(&attrs);
        assert!(view.contains(CKA_LABEL) && !view.contains(CKA_VALUE));
        let raw = seal_file_with_view("key_pkcs11_usab-1", "abcd", &lt, &km, &attrs, &view).unwrap();
        assert_eq!(peek_file(&raw).unwrap(), (Protection::Token, "abcd".to_string()));
        assert_eq!(open_file("key_pkcs11_usab-1", &raw, &lt).unwrap(), attrs);
        assert!(open_file("key_pkcs11_usab-1", &raw, &km).is_err());
        assert_eq!(open_view("key_pkcs11_usab-1", &raw, &km).unwrap(), view);
        assert!(open_view("key_pkcs11_usab-1", &raw, &lt).is_err());
        assert!(open_view("another-name", &raw, &km).is_err(), "the name is bound");
        // A v1 file has no view; truncated files are errors, never panics.
        let v1 = seal_file("n", Protection::Token, "abcd", &lt, &attrs).unwrap();
        assert!(open_view("n", &v1, &km).is_err());
        for cut in 0..raw.len() {
            let _ = open_view("key_pkcs11_usab-1", &raw[..cut], &km);
            let _ = open_file("key_pkcs11_usab-1", &raw[..cut], &lt);
        }
    }
}
