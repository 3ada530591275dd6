//! PKCS#11 semantics over the module core: slots and tokens, login state, sessions, objects and
//! per-session operations. Safe Rust; the ABI layer calls these typed functions.
//!
//! Slots follow nShield's load-sharing model (DOMAIN.md §3.6): slot 0 is the module
//! ("accelerator") slot for module-protected keys; each softcard is a slot with a persisted id;
//! one more slot always holds an uninitialized token for `C_InitToken`.

pub mod attr;
pub mod config;
pub mod crypto;
pub mod keys;
pub mod lineage;
pub mod manage;
pub mod object;
pub mod policy;
pub mod session;

use crate::error::{err, Result};
use crate::module::softcard::{self, SoftcardFile, Who};
use crate::module::store::{SecretKey32, Store};
use crate::module::world::World;
use attr::AttrMap;
use cryptoki_sys::*;
use object::{Entry, Object, ObjectTable, Owner, Protection};
use parking_lot::{Mutex, RwLock};
use session::Session;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub const MODULE_SLOT: CK_SLOT_ID = 0;
pub const MANUFACTURER: &str = "shieldhsm (nShield emulator)";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlotKind {
    /// The module ("accelerator") slot: module-protected keys, no login.
    Module,
    /// A softcard token: `file` is `softcard_<hash>`.
    Card { file: String, hash: String },
    /// The free slot whose token `C_InitToken` initializes.
    Empty,
}

/// Whether a token-object write creates the file or updates one that must still exist.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Write {
    Create,
    Update,
}

#[derive(Default)]
pub struct Login {
    pub who: Option<Who>,
    /// The softcard's logical token key while a user is logged in (opens private objects).
    pub lt: Option<SecretKey32>,
}

pub struct Slot {
    pub id: CK_SLOT_ID,
    pub kind: SlotKind,
    pub login: RwLock<Login>,
    pub objects: RwLock<ObjectTable>,
}

impl Slot {
    fn new(id: CK_SLOT_ID, kind: SlotKind) -> Arc<Slot> {
        Arc::new(Slot { id, kind, login: RwLock::new(Login::default()), objects: RwLock::new(ObjectTable::default()) })
    }
    pub fn card_hash(&self) -> Option<&str> {
        match &self.kind {
            SlotKind::Card { hash, .. } => Some(hash),
            _ => None,
        }
    }
    pub fn user_logged_in(&self) -> bool {
        self.login.read().who == Some(Who::User)
    }
    pub fn logged_in(&self) -> Option<Who> {
        self.login.read().who
    }
    /// Whether a session of this application may see `e` (private objects need the user).
    pub fn visible(&self, e: &Entry, user: bool) -> bool {
        user || !e.obj.is_private()
    }
}

pub struct Library {
    pub store: Store,
    pub config: config::Config,
    world: RwLock<Option<Arc<World>>>,
    slots: RwLock<BTreeMap<CK_SLOT_ID, Arc<Slot>>>,
    slots_generation: Mutex<Option<u64>>,
    sessions: RwLock<HashMap<CK_SESSION_HANDLE, Arc<Session>>>,
    next_session: AtomicU64,
    next_object: AtomicU64,
}

impl Library {
    /// Opens the data directory named by the environment (see `store::default_dir`).
    pub fn open_default() -> Result<Library> {
        Library::open(&crate::module::store::default_dir())
    }

    pub fn open(dir: &std::path::Path) -> Result<Library> {
        let store = Store::open(dir)?;
        let world = World::load(&store)?.map(Arc::new);
        let config = config::Config::load();
        config.debug_line(&format!("C_Initialize: data directory {}", dir.display()));
        if !config.ignored.is_empty() {
            config.debug_line(&format!("accepted without emulated effect: {}", config.ignored.join(", ")));
        }
        config.describe_overrides();
        crate::assurance::install(config.overrides.clone());
        if !config.loadsharing {
            config.debug_line("CKNFAST_LOADSHARING=0: only the load-sharing slot model is emulated");
        }
        let lib = Library {
            store,
            config,
            world: RwLock::new(world),
            slots: RwLock::new(BTreeMap::new()),
            slots_generation: Mutex::new(None),
            sessions: RwLock::new(HashMap::new()),
            next_session: AtomicU64::new(1),
            next_object: AtomicU64::new(1),
        };
        lib.refresh_slots()?;
        Ok(lib)
    }

    pub fn world(&self) -> Option<Arc<World>> {
        if let Some(w) = self.world.read().clone() {
            return Some(w);
        }
        let w = World::load(&self.store).ok().flatten().map(Arc::new);
        *self.world.write() = w.clone();
        w
    }

    /// Forgets the cached world (a vendor call created one): the next use reads it again.
    pub fn reload_world(&self) {
        *self.world.write() = None;
    }

    /// A security assurance (SAM): refuses with `rv` and one log line naming the override,
    /// unless `CKNFAST_OVERRIDE_SECURITY_ASSURANCES` relaxes `a` (then logs that it did).
    pub fn assure(&self, a: crate::assurance::Assurance, what: &str, rv: CK_RV) -> Result<()> {
        if self.config.overrides.relaxes(a) {
            self.config.assurance_line(&format!("security assurance {} relaxed by override: {what}", a.token()));
            return Ok(());
        }
        self.config.assurance_line(&crate::assurance::refusal_line(a, what));
        err(rv)
    }

    pub fn new_object_handle(&self) -> CK_OBJECT_HANDLE {
        self.next_object.fetch_add(1, Ordering::Relaxed) as CK_OBJECT_HANDLE
    }

    /// Whether some token holds a `CKA_TRUSTED` public key whose public half is `spki`: what
    /// that key wrapped, its private half unwraps into a protected key (see `lineage`).
    pub fn trusted_public_twin(&self, spki: &[u8]) -> bool {
        let want: AttrMap = [
            (CKA_CLASS, attr::Attr::Ulong(CKO_PUBLIC_KEY)),
            (CKA_TRUSTED, attr::Attr::Bool(true)),
            (CKA_PUBLIC_KEY_INFO, attr::Attr::bytes(spki.to_vec())),
        ]
        .into_iter()
        .collect();
        let slots: Vec<Arc<Slot>> = self.slots.read().values().cloned().collect();
        slots.iter().any(|s| !s.objects.read().find(&want, |_| true).is_empty())
    }

    // ---- slots ----

    /// Rebuilds the slot table when the store changed (another process may have initialized a
    /// token). Slots that still exist keep their `Arc` (and so their login state and objects).
    pub fn refresh_slots(&self) -> Result<()> {
        let g = self.store.generation();
        let mut seen = self.slots_generation.lock();
        if *seen == Some(g) {
            return Ok(());
        }
        let cards = softcard::list(&self.store)?;
        let mut slots = self.slots.write();
        let mut next: BTreeMap<CK_SLOT_ID, Arc<Slot>> = BTreeMap::new();
        if !self.config.no_accelerator_slots {
            let module = slots.get(&MODULE_SLOT).cloned().unwrap_or_else(|| Slot::new(MODULE_SLOT, SlotKind::Module));
            next.insert(MODULE_SLOT, module);
        }
        for c in &cards {
            let id = c.slot as CK_SLOT_ID;
            let kind = SlotKind::Card { file: c.file_name(), hash: c.hash.clone() };
            let slot = match slots.get(&id) {
                Some(s) if s.kind == kind => s.clone(),
                _ => Slot::new(id, kind),
            };
            next.insert(id, slot);
        }
        let empty_id = next.keys().next_back().copied().unwrap_or(0) + 1;
        let empty = match slots.get(&empty_id) {
            Some(s) if s.kind == SlotKind::Empty => s.clone(),
            _ => Slot::new(empty_id, SlotKind::Empty),
        };
        next.insert(empty_id, empty);
        *slots = next;
        *seen = Some(g);
        Ok(())
    }

    pub fn slot_ids(&self) -> Result<Vec<CK_SLOT_ID>> {
        self.refresh_slots()?;
        Ok(self.slots.read().keys().copied().collect())
    }

    pub fn slot(&self, id: CK_SLOT_ID) -> Result<Arc<Slot>> {
        if let Some(s) = self.slots.read().get(&id) {
            return Ok(s.clone());
        }
        self.refresh_slots()?;
        self.slots.read().get(&id).cloned().ok_or(CKR_SLOT_ID_INVALID.into())
    }

    pub fn card(&self, slot: &Slot) -> Result<Option<SoftcardFile>> {
        match &slot.kind {
            SlotKind::Card { file, .. } => Ok(Some(SoftcardFile::load(&self.store, file)?)),
            _ => Ok(None),
        }
    }

    // ---- sessions ----

    pub fn session(&self, h: CK_SESSION_HANDLE) -> Result<Arc<Session>> {
        self.sessions.read().get(&h).cloned().ok_or(CKR_SESSION_HANDLE_INVALID.into())
    }

    pub fn sessions_all(&self) -> Vec<CK_SESSION_HANDLE> {
        self.sessions.read().keys().copied().collect()
    }

    pub fn sessions_on(&self, slot: CK_SLOT_ID) -> Vec<Arc<Session>> {
        self.sessions.read().values().filter(|s| s.slot.id == slot).cloned().collect()
    }

    pub fn open_session(&self, slot_id: CK_SLOT_ID, flags: CK_FLAGS) -> Result<CK_SESSION_HANDLE> {
        if flags & CKF_SERIAL_SESSION == 0 {
            return err(CKR_SESSION_PARALLEL_NOT_SUPPORTED);
        }
        let slot = self.slot(slot_id)?;
        if slot.kind == SlotKind::Empty {
            return err(CKR_TOKEN_NOT_RECOGNIZED);
        }
        let rw = flags & CKF_RW_SESSION != 0;
        if !rw && slot.logged_in() == Some(Who::So) {
            return err(CKR_SESSION_READ_WRITE_SO_EXISTS);
        }
        let h = self.next_session.fetch_add(1, Ordering::Relaxed) as CK_SESSION_HANDLE;
        self.sessions.write().insert(h, Arc::new(Session::new(h, slot, rw)));
        Ok(h)
    }

    pub fn close_session(&self, h: CK_SESSION_HANDLE) -> Result<()> {
        let s = self.sessions.write().remove(&h).ok_or(CKR_SESSION_HANDLE_INVALID)?;
        {
            let mut t = s.slot.objects.write();
            for oh in t.handles_owned_by(h) {
                t.remove(oh);
            }
        }
        if self.sessions_on(s.slot.id).is_empty() {
            self.logout_slot(&s.slot);
        }
        Ok(())
    }

    pub fn close_all_sessions(&self, slot_id: CK_SLOT_ID) -> Result<()> {
        self.slot(slot_id)?;
        for s in self.sessions_on(slot_id) {
            let _ = self.close_session(s.handle);
        }
        Ok(())
    }

    // ---- login ----

    pub fn login(&self, session: &Session, user: CK_USER_TYPE, pin: &[u8]) -> Result<()> {
        let slot = &session.slot;
        let who = match user {
            CKU_SO => Who::So,
            CKU_USER => Who::User,
            CKU_CONTEXT_SPECIFIC => return self.context_login(session, pin),
            _ => return err(CKR_USER_TYPE_INVALID),
        };
        match slot.logged_in() {
            Some(w) if w == who => return err(CKR_USER_ALREADY_LOGGED_IN),
            Some(_) => return err(CKR_USER_ANOTHER_ALREADY_LOGGED_IN),
            None => {}
        }
        let SlotKind::Card { file, .. } = &slot.kind else {
            // nShield: the module slot has no login, unless CKNFAST_FAKE_ACCELERATOR_LOGIN asks
            // for one that accepts any PIN (module-protected keys need no passphrase).
            if slot.kind == SlotKind::Module && self.config.fake_accelerator_login && who == Who::User {
                slot.login.write().who = Some(Who::User);
                return Ok(());
            }
            return err(CKR_USER_TYPE_INVALID);
        };
        if who == Who::So && self.sessions_on(slot.id).iter().any(|s| !s.rw) {
            return err(CKR_SESSION_READ_ONLY_EXISTS);
        }
        let (_, lt) = SoftcardFile::verify(&self.store, file, who, pin)?;
        {
            let mut l = slot.login.write();
            l.who = Some(who);
            l.lt = Some(lt);
        }
        if who == Who::User {
            self.sync_objects(slot, true)?;
        }
        Ok(())
    }

    /// `CKU_CONTEXT_SPECIFIC`: re-authenticates for the session's pending operation on a key
    /// with CKA_ALWAYS_AUTHENTICATE.
    fn context_login(&self, session: &Session, pin: &[u8]) -> Result<()> {
        let SlotKind::Card { file, .. } = &session.slot.kind else { return err(CKR_USER_TYPE_INVALID) };
        if !session.slot.user_logged_in() {
            return err(CKR_USER_NOT_LOGGED_IN);
        }
        if !session.ops.lock().needs_context_login() {
            return err(CKR_OPERATION_NOT_INITIALIZED);
        }
        SoftcardFile::verify(&self.store, file, Who::User, pin)?;
        session.ops.lock().context_authenticated();
        Ok(())
    }

    pub fn logout(&self, session: &Session) -> Result<()> {
        if session.slot.logged_in().is_none() {
            return err(CKR_USER_NOT_LOGGED_IN);
        }
        self.logout_slot(&session.slot);
        Ok(())
    }

    /// Forgets the login and every private object opened with it (zeroized with the LT).
    fn logout_slot(&self, slot: &Slot) {
        let was_user = slot.user_logged_in();
        *slot.login.write() = Login::default();
        // Private objects and keys of a softcard were opened with its LT: drop (and so wipe) them. Their
        // handles are remembered so the same objects keep their handles at the next login.
        if was_user && slot.card_hash().is_some() {
            let mut t = slot.objects.write();
            let private: Vec<_> = t
                .token_handles()
                .into_iter()
                .filter(|h| t.get(*h).map(|e| e.obj.needs_card_login()).unwrap_or(false))
                .collect();
            for h in private {
                if let Some(Entry { owner: Owner::File(name), .. }) = t.remove(h) {
                    t.dormant.insert(name, h);
                }
            }
            drop(t);
            let _ = self.sync_objects(slot, true);
        }
    }

    // ---- token objects on disk ----

    /// The key and owner string that seal a token object of `slot`. On a softcard, private
    /// objects and every secret or private key are sealed under its logical token, as nShield
    /// protects every key of a card set: `CKA_PRIVATE=FALSE` never makes key material usable
    /// without the passphrase.
    pub fn sealing_key(&self, slot: &Slot, attrs: &AttrMap) -> Result<(Protection, String, SecretKey32)> {
        let world = self.world().ok_or(CKR_TOKEN_WRITE_PROTECTED)?;
        let needs_lt = attrs.flag(CKA_PRIVATE) || matches!(attrs.class(), Some(CKO_SECRET_KEY | CKO_PRIVATE_KEY));
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
        let own_prefix = match slot.card_hash() {
            None => format!("{}ua", object::FILE_PREFIX),
            Some(h) => format!("{}us{}", object::FILE_PREFIX, h.get(..8).unwrap_or(h)),
        };
        let files: HashMap<String, _> = self
            .store
            .list(object::KEY_PREFIX)?
            .into_iter()
            .filter(|(n, _)| n.starts_with(&own_prefix) || !n.starts_with(object::FILE_PREFIX))
            .collect();
        // A destroyed object stays destroyed, even if an old copy of its file comes back.
        let destroyed: std::collections::HashSet<String> = self.store.destroyed_list().into_iter().collect();
        let files: HashMap<String, _> = files.into_iter().filter(|(n, _)| !destroyed.contains(n)).collect();
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
            let Ok((prot, owner)) = object::peek_file(&raw) else {
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
                match km.and_then(|km| object::open_view(&name, &raw, &km).ok()) {
                    Some(view) => {
                        let h = t.dormant.remove(&name).unwrap_or_else(|| self.new_object_handle());
                        t.insert(h, Owner::File(name.clone()), Object::new(view));
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
            let Ok(mut attrs) = object::open_file(&name, &raw, &key) else {
                t.foreign.insert(name, stamp);
                continue;
            };
            // A file sealed under the module key on a softcard may not carry key material (an
            // older copy made with CKA_PRIVATE=FALSE): it is not served.
            if prot == Protection::Module && slot.card_hash().is_some() && Object::new(attrs.clone()).holds_secret() {
                t.foreign.insert(name, stamp);
                continue;
            }
            lineage::apply_acl(&mut attrs);
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
        let blob = if prot == Protection::Token && !attrs.flag(CKA_PRIVATE) {
            // Visible before login (its public view under the module key), usable only after.
            let km = self.world().ok_or(CKR_TOKEN_WRITE_PROTECTED)?.km.clone();
            object::seal_file_with_view(name, &owner, &key, &km, attrs, &policy::public_view(attrs))?
        } else {
            object::seal_file(name, prot, &owner, &key, attrs)?
        };
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
        if name.starts_with(object::FILE_PREFIX) {
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

    // ---- token init ----

    /// `C_InitToken`: on the free slot, creates a softcard (and, if there is none, a default
    /// Security World); on an existing softcard, checks the SO PIN and wipes it.
    pub fn init_token(&self, slot_id: CK_SLOT_ID, so_pin: &[u8], label: &str) -> Result<()> {
        let slot = self.slot(slot_id)?;
        if !self.sessions_on(slot_id).is_empty() {
            return err(CKR_SESSION_EXISTS);
        }
        softcard::check_pin_len(so_pin)?;
        match &slot.kind {
            SlotKind::Module => err(CKR_FUNCTION_NOT_SUPPORTED),
            SlotKind::Empty => {
                let lock = self.store.lock()?;
                if self.world().is_none() {
                    let w = World::create_default(&lock)?;
                    *self.world.write() = Some(Arc::new(w));
                }
                // Another process may have taken this slot id meanwhile.
                if softcard::list(&self.store)?.iter().any(|c| c.slot as CK_SLOT_ID == slot_id) {
                    return err(CKR_SLOT_ID_INVALID);
                }
                SoftcardFile::create(&lock, label, so_pin, slot_id as u64)?;
                lock.bump();
                drop(lock);
                self.refresh_slots()
            }
            SlotKind::Card { file, hash } => {
                SoftcardFile::verify(&self.store, file, Who::So, so_pin)?;
                let lock = self.store.lock()?;
                // Wipe: every object file of this card, then the card itself, then a new card in
                // the same slot (new LT, so nothing old can be opened again).
                let prefix = format!("{}us{}", object::FILE_PREFIX, hash.get(..8).unwrap_or(hash));
                for (n, _) in self.store.list(&prefix)? {
                    lock.remove(&n)?;
                }
                SoftcardFile::create(&lock, label, so_pin, slot_id as u64)?;
                lock.remove(file)?;
                lock.bump();
                drop(lock);
                self.refresh_slots()
            }
        }
    }

    pub fn init_pin(&self, session: &Session, pin: &[u8]) -> Result<()> {
        if session.slot.logged_in() != Some(Who::So) {
            return err(CKR_USER_NOT_LOGGED_IN);
        }
        self.set_pin_of(session, Who::User, pin)
    }

    pub fn set_pin(&self, session: &Session, old: &[u8], new: &[u8]) -> Result<()> {
        if !session.rw {
            return err(CKR_SESSION_READ_ONLY);
        }
        let SlotKind::Card { file, .. } = &session.slot.kind else { return err(CKR_FUNCTION_NOT_SUPPORTED) };
        let who = session.slot.logged_in().unwrap_or(Who::User);
        softcard::check_pin_len(new)?;
        let (_, lt) = SoftcardFile::verify(&self.store, file, who, old)?;
        SoftcardFile::set_pin(&self.store, file, who, new, &lt)?;
        Ok(())
    }

    fn set_pin_of(&self, session: &Session, who: Who, pin: &[u8]) -> Result<()> {
        if !session.rw {
            return err(CKR_SESSION_READ_ONLY);
        }
        let SlotKind::Card { file, .. } = &session.slot.kind else { return err(CKR_FUNCTION_NOT_SUPPORTED) };
        let lt = session.slot.login.read().lt.clone().ok_or(CKR_USER_NOT_LOGGED_IN)?;
        SoftcardFile::set_pin(&self.store, file, who, pin, &lt)?;
        Ok(())
    }
}
