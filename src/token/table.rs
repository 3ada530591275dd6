//! The per-slot object table: objects as the token holds them in memory (immutable, with their
//! parsed key material cached), who owns each handle, and the find indexes.
//!
//! Objects are immutable once built (`Arc<Object>`); C_SetAttributeValue swaps in a new one, so
//! operations in flight keep a consistent key and readers never wait on writers. Parsed key
//! material is cached per object and built once. The object files themselves are
//! [`crate::object::stored`].

use crate::error::Result;
use crate::mech::KeyMaterial;
use crate::module::store::FileStamp;
use crate::object::attr::AttrMap;
use crate::object::policy;
use cryptoki_sys::*;
use once_cell::sync::OnceCell;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

pub struct Object {
    pub attrs: AttrMap,
    material: OnceCell<Arc<KeyMaterial>>,
    /// Only the public view of a key whose material is sealed under the token's logical token
    /// (a file written before public keys were sealed under the module key): usable after login.
    pub view_only: bool,
}

impl Object {
    pub fn new(attrs: AttrMap) -> Arc<Object> {
        Arc::new(Object { attrs, material: OnceCell::new(), view_only: false })
    }

    /// The public view of a key whose material needs the login.
    pub fn view(attrs: AttrMap) -> Arc<Object> {
        Arc::new(Object { attrs, material: OnceCell::new(), view_only: true })
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
    /// Secret and private keys.
    pub fn holds_secret(&self) -> bool {
        matches!(self.attrs.class(), Some(CKO_SECRET_KEY | CKO_PRIVATE_KEY))
    }
    /// Whether the object was opened with the card's logical token (or may have been): private,
    /// or key material (dropped at logout; a key sealed under the module key is read again).
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
    // Keys live in a real buffer even when empty: comparing an empty Vec (address 1) makes
    // glibc's AVX-512 memcmp take a ~100 ns fault-suppression assist on every index update.
    let owned = |b: &[u8]| {
        let mut v = Vec::with_capacity(b.len().max(1));
        v.extend_from_slice(b);
        v
    };
    let bytes = |t| policy::effective(&o.attrs, t).and_then(|v| v.as_bytes().map(owned));
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
            self.entries.get(h).map(|e| visible(e) && policy::matches(&e.obj.attrs, template)).unwrap_or(false)
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
