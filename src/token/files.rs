//! Token objects on disk: which key seals an object file, loading a slot's files into its table
//! when any process changed the store, and writing and removing files under the store lock.

use super::table::{Object, ObjectTable, Owner};
use super::{Library, Slot, SlotKind, Write};
use crate::error::{err, Result};
use crate::module::lineage;
use crate::object::attr::AttrMap;
use crate::object::envelope::SecretKey32;
use crate::object::stored::{self, Protection};
use cryptoki_sys::*;
use std::collections::BTreeMap;

impl Library {
    /// The key and owner string that seal a token object of `slot`. On a login token (softcard,
    /// card set), private objects are sealed under its logical token; public ones, keys
    /// included, under the module key, as nShield module-protects a `CKA_PRIVATE=FALSE` object:
    /// public objects are public (they are born public: `CKA_PRIVATE` never goes from TRUE to
    /// FALSE, and what comes of a private key is private).
    pub fn sealing_key(&self, slot: &Slot, attrs: &AttrMap) -> Result<(Protection, String, SecretKey32)> {
        let world = self.world().ok_or(CKR_TOKEN_WRITE_PROTECTED)?;
        let needs_lt = attrs.flag(CKA_PRIVATE);
        match slot.card_hash() {
            // Module-slot objects, private or not, are module-protected: the module slot has
            // no passphrase of its own.
            None => Ok((Protection::Module, world.file.hkm.clone(), world.km.clone())),
            Some(h) if needs_lt => {
                let lt = slot.login.read().lt.clone().ok_or(CKR_USER_NOT_LOGGED_IN)?;
                Ok((Protection::Token, h.to_string(), lt))
            }
            Some(h) => Ok((Protection::Module, h.to_string(), world.km.clone())),
        }
    }

    /// Brings a slot's token objects in line with `local/` when any process changed the store
    /// (one shared-memory load when nothing changed). `force` rescans even so (after login).
    pub fn sync_objects(&self, slot: &Slot, force: bool) -> Result<()> {
        if slot.kind == SlotKind::Empty {
            return Ok(());
        }
        let g = self.store.generation();
        if !force && slot.objects.read().seen_generation == g {
            return Ok(());
        }
        let mut t = slot.objects.write();
        // Which files are this slot's: PKCS#11-made objects by name (`key_pkcs11_ua…` for the
        // module, `key_pkcs11_us<card>…` for a softcard), and keys made by the CLI
        // (`key_<app>_<ident>`) by the owner sealed into their header.
        let owner_id = match slot.card_hash() {
            None => self.world().map(|w| w.file.hkm.clone()).unwrap_or_default(),
            Some(h) => h.to_string(),
        };
        let own_prefix = match slot.file_owner() {
            None => format!("{}ua", stored::FILE_PREFIX),
            Some((tag, h)) => format!("{}{tag}{}", stored::FILE_PREFIX, h.get(..8).unwrap_or(h)),
        };
        // A token also reads PKCS#11-made files named for another token: a key `rocs` moved to a
        // new card set keeps its file name (the sealed owner decides, as for CLI keys; what is
        // not this token's is remembered as foreign, read once per version).
        let module_prefix = format!("{}ua", stored::FILE_PREFIX);
        let mine = |n: &str| match slot.file_owner() {
            None => n.starts_with(&own_prefix) || !n.starts_with(stored::FILE_PREFIX),
            Some(_) => !n.starts_with(&module_prefix),
        };
        // Name order (a BTreeMap): new objects get handles in the same order in every process.
        let files: BTreeMap<String, _> =
            self.store.list(stored::KEY_PREFIX)?.into_iter().filter(|(n, _)| mine(n)).collect();
        // A destroyed object stays destroyed, even if an old copy of its file comes back.
        let destroyed = self.store.destroyed_set();
        let files: BTreeMap<String, _> = files.into_iter().filter(|(n, _)| !destroyed.contains(n)).collect();
        // Vanished or changed files leave the table.
        let stale: Vec<String> =
            t.files.iter().filter(|(n, (_, stamp))| files.get(*n) != Some(stamp)).map(|(n, _)| n.clone()).collect();
        for n in stale {
            if let Some((h, _)) = t.files.get(&n).copied() {
                t.remove(h);
            }
        }
        t.locked.retain(|n, _| files.contains_key(n));
        t.foreign.retain(|n, stamp| files.get(n) == Some(stamp));
        let lt = slot.login.read().lt.clone();
        let user = slot.user_logged_in();
        if user {
            // Public views loaded before login give way to the full objects (same handles).
            for name in std::mem::take(&mut t.partial) {
                if let Some((h, _)) = t.files.get(&name).copied() {
                    t.remove(h);
                    t.dormant.insert(name, h);
                }
            }
        }
        for (name, stamp) in files {
            if t.files.contains_key(&name)
                || t.foreign.contains_key(&name)
                || (t.locked.get(&name) == Some(&stamp) && !user)
            {
                continue;
            }
            let raw = match self.store.read(&name) {
                Ok(r) => r,
                Err(_) => continue, // removed meanwhile
            };
            let Ok((prot, owner)) = stored::peek_file(&raw) else {
                t.foreign.insert(name, stamp);
                continue;
            };
            if owner != owner_id {
                t.foreign.insert(name, stamp);
                continue;
            }
            let key = match prot {
                Protection::Module => self.world().map(|w| w.km.clone()),
                Protection::Token if user => lt.clone(),
                Protection::Token => None,
            };
            let Some(key) = key else {
                let km = self.world().map(|w| w.km.clone());
                match km.and_then(|km| stored::open_view(&name, &raw, &km).ok()) {
                    Some(view) => {
                        let h = t.dormant.remove(&name).unwrap_or_else(|| self.new_object_handle());
                        t.insert(h, Owner::File(name.clone()), Object::view(with_unique_id(view, &name)));
                        t.files.insert(name.clone(), (h, stamp));
                        t.partial.insert(name);
                    }
                    None => {
                        t.locked.insert(name, stamp);
                    }
                }
                continue;
            };
            // A file that fails to open is damaged or foreign: skip it rather than fail the
            // whole token (nShield's hardserver logs and carries on likewise).
            let Ok(mut attrs) = stored::open_file(&name, &raw, &key) else {
                t.foreign.insert(name, stamp);
                continue;
            };
            // A file sealed under the module key on a login token holds no private object: only
            // the module makes such files, and it seals private ones under the logical token.
            if prot == Protection::Module && slot.card_hash().is_some() && attrs.flag(CKA_PRIVATE) {
                t.foreign.insert(name, stamp);
                continue;
            }
            lineage::apply_acl(&mut attrs);
            let attrs = with_unique_id(attrs, &name);
            t.locked.remove(&name);
            let h = t.dormant.remove(&name).unwrap_or_else(|| self.new_object_handle());
            t.insert(h, Owner::File(name.clone()), Object::new(attrs));
            t.files.insert(name, (h, stamp));
        }
        t.seen_generation = g;
        Ok(())
    }

    /// Writes a token object file and records it in the table (the caller holds `t`).
    pub fn persist(&self, slot: &Slot, t: &mut ObjectTable, name: &str, attrs: &AttrMap, how: Write) -> Result<()> {
        let (prot, owner, key) = self.sealing_key(slot, attrs)?;
        let blob = stored::seal_file(name, prot, &owner, &key, attrs)?;
        let lock = self.store.lock()?;
        if how == Write::Update && !self.store.exists(name) {
            // Another process destroyed it: it stays destroyed.
            drop(lock);
            if let Some((h, _)) = t.files.get(name).copied() {
                t.remove(h);
            }
            return err(CKR_OBJECT_HANDLE_INVALID);
        }
        lock.write(name, &blob)?;
        self.finish_change(&lock, t);
        drop(lock);
        let stamp = self.store.stamp(name)?;
        if let Some(h) = t.files.get(name).map(|(h, _)| *h) {
            t.files.insert(name.to_string(), (h, stamp));
        }
        Ok(())
    }

    /// Removes a token object file.
    pub fn unpersist(&self, t: &mut ObjectTable, name: &str) -> Result<()> {
        let lock = self.store.lock()?;
        // PKCS#11-made names are random and never reused, so the name alone marks the object;
        // nShield names (`key_<app>_<ident>`) may be made again and are not recorded.
        if name.starts_with(stored::FILE_PREFIX) {
            lock.record_destroyed(name)?;
        }
        lock.remove(name)?;
        self.finish_change(&lock, t);
        Ok(())
    }

    /// Bumps the store generation; if nobody else changed the store since this table last
    /// looked, the table stays current and needs no rescan.
    fn finish_change(&self, lock: &crate::module::store::StoreLock<'_>, t: &mut ObjectTable) {
        let before = self.store.generation();
        let after = lock.bump();
        if t.seen_generation == before {
            t.seen_generation = after;
        }
    }
}

/// A file written before objects carried `CKA_UNIQUE_ID` gets one derived from its name when it
/// is loaded: the same in every process and at every load (and in the view and the full object),
/// and written into the file with its next change. Objects made now carry a random one.
fn with_unique_id(mut attrs: AttrMap, name: &str) -> AttrMap {
    if !attrs.contains(CKA_UNIQUE_ID) {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, format!("shieldhsm/unique-id|{name}").as_bytes());
        attrs.set(CKA_UNIQUE_ID, crate::object::attr::Attr::bytes(hex::encode(&d.as_ref()[..16]).into_bytes()));
    }
    attrs
}
