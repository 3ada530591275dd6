//! Object management: create, copy, destroy, read and change attributes, search.
//! Every object-making path (create, generate, unwrap, derive, copy) ends in [`Library::add_object`].

use super::session::{FindState, Session};
use super::table::{Object, Owner};
use super::{Library, Slot, SlotKind, Write};
use crate::assurance::Assurance;
use crate::error::{err, Result};
use crate::module::hash::key_hash;
use crate::module::lineage;
use crate::module::new_object::complete_new;
use crate::module::softcard::Who;
use crate::object::attr::{kind_of, Attr, AttrMap, CKA_NFKM_APPNAME, CKA_NFKM_HASH, CKA_NFKM_ID, CKA_SHSM_ACL};
use crate::object::policy::{self, Origin};
use crate::object::stored;
use cryptoki_sys::*;
use std::sync::Arc;

/// The outcome of reading one attribute.
pub enum AttrRead<'a> {
    /// The stored value, or the class's default for an attribute the object does not hold.
    Value(std::borrow::Cow<'a, Attr>),
    /// CKR_ATTRIBUTE_SENSITIVE (footnote 7).
    Sensitive,
    /// CKR_ATTRIBUTE_TYPE_INVALID: unknown type, or not an attribute of this object's class.
    Invalid,
}

pub fn read_attr(obj: &Object, t: CK_ATTRIBUTE_TYPE) -> AttrRead<'_> {
    use std::borrow::Cow;
    let a = &obj.attrs;
    match a.get(t) {
        Some(_) if !policy::readable(a, t) => AttrRead::Sensitive,
        Some(v) => AttrRead::Value(Cow::Borrowed(v)),
        None => match policy::read_default(a, t) {
            Some(v) => AttrRead::Value(Cow::Owned(v)),
            // Material this copy does not hold (a key's public view before login) is as
            // secret as the key says, not absent.
            None if policy::is_material(a, t) && !policy::readable(a, t) => AttrRead::Sensitive,
            None => AttrRead::Invalid,
        },
    }
}

impl Library {
    /// The object `h` as this session may see it.
    pub fn object(&self, session: &Session, h: CK_OBJECT_HANDLE) -> Result<(Arc<Object>, Owner)> {
        let t = session.slot.objects.read();
        let e = t.get(h).ok_or(CKR_OBJECT_HANDLE_INVALID)?;
        if !session.slot.visible(e, session.slot.user_logged_in()) {
            return err(CKR_OBJECT_HANDLE_INVALID);
        }
        Ok((e.obj.clone(), e.owner.clone()))
    }

    /// Checks that this session may hold a new (or changed) object with these attributes.
    fn check_writable(&self, session: &Session, attrs: &AttrMap) -> Result<()> {
        let token = attrs.flag(CKA_TOKEN);
        let private = attrs.flag(CKA_PRIVATE);
        if token && !session.rw {
            return err(CKR_SESSION_READ_ONLY);
        }
        match session.slot.kind {
            // The module slot has no login, so it holds no private objects (nShield), unless
            // CKNFAST_FAKE_ACCELERATOR_LOGIN gave it one.
            SlotKind::Module if private && !session.slot.user_logged_in() => return err(CKR_USER_NOT_LOGGED_IN),
            SlotKind::Module => {}
            _ if private && session.slot.logged_in() != Some(Who::User) => return err(CKR_USER_NOT_LOGGED_IN),
            _ => {}
        }
        if attrs.flag(CKA_TRUSTED) && session.slot.logged_in() != Some(Who::So) {
            return err(CKR_ATTRIBUTE_READ_ONLY);
        }
        Ok(())
    }

    /// Adds a finished object to the session's slot; token objects are written first, so a
    /// failed write leaves nothing behind.
    pub fn add_object(&self, session: &Session, mut attrs: AttrMap) -> Result<CK_OBJECT_HANDLE> {
        self.key_use_allowed()?;
        self.check_writable(session, &attrs)?;
        let slot: &Slot = &session.slot;
        let h = self.new_object_handle();
        if attrs.flag(CKA_TOKEN) {
            let name = stored::new_file_name(slot.file_owner())?;
            let ident = name.trim_start_matches(stored::FILE_PREFIX).to_string();
            if matches!(attrs.class(), Some(CKO_PUBLIC_KEY | CKO_PRIVATE_KEY | CKO_SECRET_KEY)) {
                attrs.set(CKA_NFKM_APPNAME, Attr::bytes(b"pkcs11".to_vec()));
                attrs.set(CKA_NFKM_ID, Attr::bytes(ident.into_bytes()));
                attrs.set(CKA_NFKM_HASH, Attr::bytes(key_hash(&name)));
            }
            let mut t = slot.objects.write();
            t.insert(h, Owner::File(name.clone()), Object::new(attrs.clone()));
            t.files.insert(name.clone(), (h, crate::module::store::FileStamp { ino: 0, mtime_ns: 0, len: 0 }));
            if let Err(e) = self.persist(slot, &mut t, &name, &attrs, Write::Create) {
                t.remove(h);
                return Err(e);
            }
        } else {
            slot.objects.write().insert(h, Owner::Session(session.handle), Object::new(attrs));
        }
        Ok(h)
    }

    pub fn create_object(&self, session: &Session, template: &AttrMap) -> Result<CK_OBJECT_HANDLE> {
        let mut attrs = policy::apply(template, &AttrMap::new(), Origin::Create)?;
        self.slot_defaults(session, template, &mut attrs);
        complete_new(&mut attrs, Origin::Create, None)?;
        self.add_object(session, attrs)
    }

    /// Defaults that depend on the slot: objects of the module slot (which has no login) are
    /// public unless the template insists, which `add_object` then refuses.
    /// The session's defaults: with no `CKA_PRIVATE` in the template, an object of the module
    /// slot (which has no login) is public, and so is one made in a public session of a login
    /// token (what the session can hold; nothing but the session protects it), while a user's
    /// session makes keys private.
    pub fn slot_defaults(&self, session: &Session, template: &AttrMap, attrs: &mut AttrMap) {
        if template.contains(CKA_PRIVATE) {
            return;
        }
        if session.slot.kind == SlotKind::Module || !session.slot.user_logged_in() {
            attrs.set(CKA_PRIVATE, Attr::Bool(false));
        }
    }

    /// Protection never weakens: what comes of a private key (derived, unwrapped) is private.
    /// A template asking otherwise is inconsistent.
    pub fn inherit_private(sources: &[&AttrMap], template: &AttrMap, attrs: &mut AttrMap) -> Result<()> {
        if !sources.iter().any(|a| a.flag(CKA_PRIVATE)) {
            return Ok(());
        }
        if template.bool(CKA_PRIVATE) == Some(false) {
            return err(CKR_TEMPLATE_INCONSISTENT);
        }
        attrs.set(CKA_PRIVATE, Attr::Bool(true));
        Ok(())
    }

    pub fn copy_object(&self, session: &Session, h: CK_OBJECT_HANDLE, template: &AttrMap) -> Result<CK_OBJECT_HANDLE> {
        let (obj, _) = self.object(session, h)?;
        session.require_card_login(&obj)?;
        if !obj.attrs.bool(CKA_COPYABLE).unwrap_or(true) {
            return err(CKR_ACTION_PROHIBITED);
        }
        let so = session.slot.logged_in() == Some(Who::So);
        let mut attrs = obj.attrs.clone();
        for (t, v) in template.iter() {
            if kind_of(t).is_none() {
                return err(CKR_ATTRIBUTE_TYPE_INVALID);
            }
            // An attribute that cannot change (CKA_CLASS, CKA_KEY_TYPE, CKA_LOCAL…) is
            // CKR_ATTRIBUTE_READ_ONLY, as for C_SetAttributeValue.
            policy::check_set(&obj.attrs, t, v, true, so)?;
            self.check_lineage_change(&obj.attrs, t, v)?;
            attrs.set(t, v.clone());
        }
        for t in [CKA_NFKM_ID, CKA_NFKM_APPNAME, CKA_NFKM_HASH] {
            attrs.remove(t);
        }
        let mut id = [0u8; 16];
        aws_lc_rs::rand::fill(&mut id)?;
        attrs.set(CKA_UNIQUE_ID, Attr::bytes(hex::encode(id).into_bytes()));
        self.add_object(session, attrs)
    }

    pub fn destroy_object(&self, session: &Session, h: CK_OBJECT_HANDLE) -> Result<()> {
        let (obj, owner) = self.object(session, h)?;
        if obj.is_token() && !session.rw {
            return err(CKR_SESSION_READ_ONLY);
        }
        session.require_card_login(&obj)?;
        if !obj.attrs.bool(CKA_DESTROYABLE).unwrap_or(true) {
            return err(CKR_ACTION_PROHIBITED);
        }
        let mut t = session.slot.objects.write();
        if let Owner::File(name) = &owner {
            self.unpersist(&mut t, name)?;
        }
        t.remove(h);
        Ok(())
    }

    pub fn set_attributes(&self, session: &Session, h: CK_OBJECT_HANDLE, template: &AttrMap) -> Result<()> {
        let (obj, _) = self.object(session, h)?;
        if obj.is_token() && !session.rw {
            return err(CKR_SESSION_READ_ONLY);
        }
        session.require_card_login(&obj)?;
        if obj.attrs.contains(CKA_SHSM_ACL) && !obj.attrs.flag(CKA_MODIFIABLE) {
            // An nShield key changes only as its ACL allows (SetAppData), as through the CLI.
            return err(CKR_ATTRIBUTE_READ_ONLY);
        }
        if !obj.attrs.bool(CKA_MODIFIABLE).unwrap_or(true) {
            return err(CKR_ACTION_PROHIBITED);
        }
        let so = session.slot.logged_in() == Some(Who::So);
        // The object as it is now, under the table lock: a destroy (or another set) that won the
        // race is seen here, so a destroyed object is never written back.
        let mut tab = session.slot.objects.write();
        let (obj, owner) = match tab.get(h) {
            Some(e) => (e.obj.clone(), e.owner.clone()),
            None => return err(CKR_OBJECT_HANDLE_INVALID),
        };
        let mut attrs = obj.attrs.clone();
        for (t, v) in template.iter() {
            policy::check_set(&obj.attrs, t, v, false, so)?;
            self.check_lineage_change(&obj.attrs, t, v)?;
            attrs.set(t, v.clone());
        }
        if let Owner::File(name) = &owner {
            self.persist(&session.slot, &mut tab, name, &attrs, Write::Update)?;
        }
        tab.replace(h, Object::new(attrs));
        Ok(())
    }

    /// A KEK born here never gains `CKA_DECRYPT` (by set or by copy): its blobs would decrypt.
    fn check_lineage_change(&self, old: &AttrMap, t: CK_ATTRIBUTE_TYPE, v: &Attr) -> Result<()> {
        // Protection never weakens: a private object has no public copy (a public copy of a
        // key would be usable without the login).
        if t == CKA_PRIVATE && old.flag(CKA_PRIVATE) && *v == Attr::Bool(false) {
            return err(CKR_ATTRIBUTE_READ_ONLY);
        }
        if lineage::forbidden_change(old, t, v) {
            return self.assure(
                Assurance::WrapKek,
                "CKA_DECRYPT on a key-encryption key born in the token",
                CKR_ATTRIBUTE_READ_ONLY,
            );
        }
        Ok(())
    }

    pub fn object_size(&self, session: &Session, h: CK_OBJECT_HANDLE) -> Result<usize> {
        Ok(self.object(session, h)?.0.attrs.encode().len())
    }

    pub fn find_init(&self, session: &Session, template: &AttrMap) -> Result<()> {
        let mut ops = session.ops.lock();
        if ops.find.is_some() {
            return err(CKR_OPERATION_ACTIVE);
        }
        self.key_use_allowed()?;
        self.sync_objects(&session.slot, false)?;
        let user = session.slot.user_logged_in();
        let handles = session.slot.objects.read().find(template, |e| session.slot.visible(e, user));
        ops.find = Some(FindState { handles, pos: 0 });
        Ok(())
    }

    pub fn find_next(&self, session: &Session, max: usize) -> Result<Vec<CK_OBJECT_HANDLE>> {
        let mut ops = session.ops.lock();
        let f = ops.find.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        let end = (f.pos + max).min(f.handles.len());
        let out = f.handles[f.pos..end].to_vec();
        f.pos = end;
        Ok(out)
    }

    pub fn find_final(&self, session: &Session) -> Result<()> {
        session.ops.lock().find.take().map(|_| ()).ok_or(CKR_OPERATION_NOT_INITIALIZED.into())
    }
}
