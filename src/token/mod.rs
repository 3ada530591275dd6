//! PKCS#11 semantics over the module core: slots and tokens, login state, sessions, the
//! per-slot object table ([`table`]) and per-session operations ([`crypto`], and [`ops`] for
//! what spans calls: which errors end an operation, cancelling, the dual-function updates).
//! What slots and tokens report is in [`info`], the PIN flags of a softcard in [`pin`]. Safe
//! Rust; the ABI layer marshals the caller's pointers and calls these typed functions.
//!
//! Below `abi`, above everything else it names: [`crate::module`] (store, softcards, world,
//! ACLs, lineage, new-object completion), [`crate::mech`], [`crate::object`] (attributes,
//! policy, object files), [`crate::config`] and [`crate::assurance`]. Nothing below names it.
//!
//! Slots follow nShield's load-sharing model (docs/nshield-emulation.md §2.7, §3.4): slot 0 is
//! the module ("accelerator") slot for module-protected keys; each softcard is a slot with a
//! persisted id; one more slot always holds an uninitialized token for `C_InitToken`. Slots are
//! listed login tokens first and the module slot last (see [`Library::slot_ids`]).

mod cardsets;
pub mod crypto;
pub mod derive;
mod files;
pub mod info;
pub mod keys;
pub mod manage;
pub mod message;
mod message_op;
pub mod ops;
pub mod pin;
pub mod session;
pub mod table;

use crate::config;
use crate::error::{err, Result};
use crate::module::integrity::IntegrityKey;
use crate::module::softcard::{self, SoftcardFile, Who};
use crate::module::store::Store;
use crate::module::world::World;
use crate::object::attr::AttrMap;
use crate::object::envelope::SecretKey32;
use crate::object::stored;
use cryptoki_sys::*;
use parking_lot::{Mutex, RwLock};
use session::Session;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use table::{Entry, ObjectTable, Owner};

pub const MODULE_SLOT: CK_SLOT_ID = 0;
pub const MANUFACTURER: &str = "shieldhsm (nShield emulator)";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlotKind {
    /// The module ("accelerator") slot: module-protected keys, no login.
    Module,
    /// A softcard token: `file` is `softcard_<hash>`.
    Card { file: String, hash: String },
    /// An Operator Card Set's token (`cardsets`): `hash` is the set's hash; `timeout` the
    /// seconds a login to it lasts (`createocs -T`).
    CardSet { hash: String, name: String, persistent: bool, timeout: Option<u64> },
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
    /// When the login of a card set with a timeout ends (nanoseconds since the library's
    /// epoch; 0: never). One atomic load per call checks it (see `Library::session`).
    pub login_deadline_ns: AtomicU64,
    /// For a card set: the reader's event count when the set was loaded (`cardsets`).
    pub loaded_events: AtomicU64,
}

impl Slot {
    fn new(id: CK_SLOT_ID, kind: SlotKind) -> Arc<Slot> {
        Arc::new(Slot {
            id,
            kind,
            login: RwLock::new(Login::default()),
            objects: RwLock::new(ObjectTable::default()),
            login_deadline_ns: AtomicU64::new(0),
            loaded_events: AtomicU64::new(0),
        })
    }
    /// The hash of the softcard or card set whose token this slot holds.
    pub fn card_hash(&self) -> Option<&str> {
        match &self.kind {
            SlotKind::Card { hash, .. } | SlotKind::CardSet { hash, .. } => Some(hash),
            _ => None,
        }
    }
    /// How the names of PKCS#11-made object files of this slot begin (after `key_pkcs11_`), as
    /// nShield names its idents: `ua` module, `us<hash>` softcard, `uc<hash>` card set.
    pub fn file_owner(&self) -> Option<(&'static str, &str)> {
        match &self.kind {
            SlotKind::Card { hash, .. } => Some(("us", hash)),
            SlotKind::CardSet { hash, .. } => Some(("uc", hash)),
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
    /// Module #1's usability as last read, and the store generation it was read at: `None`
    /// when operational, else why not (see [`Library::module_usable`]).
    module_state: Mutex<Option<(u64, Option<String>)>>,
    /// The hot path's view of the same (see [`Library::key_use_allowed`]): whether module #1 was
    /// operational when last read, and when that was (nanoseconds since `epoch`).
    module_ok: AtomicBool,
    module_checked_ns: AtomicU64,
    epoch: std::time::Instant,
    sessions: RwLock<HashMap<CK_SESSION_HANDLE, Arc<Session>>>,
    /// The card set `preload -c` handed this process, read at first use (see `cardsets`).
    preloaded: once_cell::sync::OnceCell<Option<(String, SecretKey32)>>,
    /// Whether a card-set session was ever opened: only then do calls look for card removal.
    cardset_sessions: AtomicBool,
    /// Card-set token presence as `C_WaitForSlotEvent` last reported it.
    /// (and the reader's event count then, so a card out and back in between two looks counts).
    reported_presence: Mutex<Option<(BTreeMap<CK_SLOT_ID, bool>, u64)>>,
    next_session: AtomicU64,
    next_object: AtomicU64,
}

/// How long an operation may rely on module #1 having been operational (see
/// [`Library::key_use_allowed`]).
pub const MODE_RECHECK: std::time::Duration = std::time::Duration::from_millis(50);
/// The same for `C_OpenSession`, which should see a mode change at once.
pub const MODE_RECHECK_OPEN: std::time::Duration = std::time::Duration::from_millis(1);

impl Library {
    /// The library over the data directory named by the environment (see `store::data_dir`),
    /// resolved now (the environment at `C_Initialize` counts) but used lazily: loading the
    /// module into a process (every p11-kit consumer does) creates no directory, derives no key
    /// and reads no token file. The store is created by the first write (`C_InitToken`, a
    /// module-slot key); until then slots read as an empty store. With no data directory at all
    /// (no variable, no home directory) the library still loads, and writes fail cleanly.
    pub fn open_default() -> Result<Library> {
        Library::open_lazy(crate::module::store::data_dir().as_deref())
    }

    pub fn open(dir: &std::path::Path) -> Result<Library> {
        Library::open_lazy(Some(dir))
    }

    fn open_lazy(dir: Option<&std::path::Path>) -> Result<Library> {
        let store = Store::open_lazy(dir);
        let config = config::Config::load();
        match dir {
            Some(d) => config.debug_line(&format!("C_Initialize: data directory {}", d.display())),
            None => config
                .debug_line("C_Initialize: no data directory (set SHIELDHSM_KMDATA or HOME); tokens cannot be created"),
        }
        if !config.ignored.is_empty() {
            config.debug_line(&format!("accepted without emulated effect: {}", config.ignored.join(", ")));
        }
        config.describe_overrides();
        crate::assurance::install(config.overrides.clone());
        if !config.loadsharing {
            config.debug_line("CKNFAST_LOADSHARING=0: only the load-sharing slot model is emulated");
        }
        // The world and the slot table are read at first use (`world()`, `refresh_slots`).
        Ok(Library {
            store,
            config,
            world: RwLock::new(None),
            slots: RwLock::new(BTreeMap::new()),
            slots_generation: Mutex::new(None),
            module_state: Mutex::new(None),
            module_ok: AtomicBool::new(false),
            module_checked_ns: AtomicU64::new(0),
            epoch: std::time::Instant::now(),
            sessions: RwLock::new(HashMap::new()),
            preloaded: once_cell::sync::OnceCell::new(),
            cardset_sessions: AtomicBool::new(false),
            reported_presence: Mutex::new(None),
            next_session: AtomicU64::new(1),
            next_object: AtomicU64::new(1),
        })
    }

    /// The key that authenticates `local/` files, from the world's module key in memory.
    fn integrity_key(&self) -> Option<IntegrityKey> {
        self.world().map(|w| IntegrityKey::from_km(&w.km))
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
            (CKA_CLASS, crate::object::attr::Attr::Ulong(CKO_PUBLIC_KEY)),
            (CKA_TRUSTED, crate::object::attr::Attr::Bool(true)),
            (CKA_PUBLIC_KEY_INFO, crate::object::attr::Attr::bytes(spki.to_vec())),
        ]
        .into_iter()
        .collect();
        let slots: Vec<Arc<Slot>> = self.slots.read().values().cloned().collect();
        slots.iter().any(|s| !s.objects.read().find(&want, |_| true).is_empty())
    }

    // ---- the module ----

    /// Whether module #1, the module this library serves, is operational: keys are used only in
    /// an operational module (its switch at O). Otherwise `CKR_DEVICE_ERROR`, as a real
    /// cknfast answers when the module is not usable, and a debug line naming cause and fix.
    /// The mode is read again only when the store generation moved (`hsm-mode` bumps it), so
    /// a call costs one `pread`. A data directory without module state has the factory module,
    /// which is operational.
    pub fn module_usable(&self) -> Result<()> {
        let r = self.read_module_usable();
        self.module_ok.store(r.is_ok(), Ordering::Release);
        self.module_checked_ns.store(self.epoch.elapsed().as_nanos().max(1) as u64, Ordering::Release);
        r
    }

    /// [`Library::module_usable`] for the hot paths (every operation init, wrap, unwrap,
    /// derive, object creation and search): a module seen operational less than
    /// [`MODE_RECHECK`] ago is taken as still operational without the `pread`, which alone
    /// halved the small-message rate. Opening a session reads it again when the last read is
    /// [`MODE_RECHECK_OPEN`] old (a read per open cost a third of the open/close rate), and
    /// initializing a token always, so a mode change is seen at once there and, by open
    /// sessions, within [`MODE_RECHECK`]. A module found not operational is re-read on every
    /// call.
    pub fn key_use_allowed(&self) -> Result<()> {
        self.module_seen_usable_within(MODE_RECHECK)
    }

    /// Module #1 seen operational less than `window` ago, or read again now.
    fn module_seen_usable_within(&self, window: std::time::Duration) -> Result<()> {
        let last = self.module_checked_ns.load(Ordering::Acquire);
        let now = self.epoch.elapsed().as_nanos() as u64;
        if self.module_ok.load(Ordering::Acquire) && last != 0 && now.saturating_sub(last) < window.as_nanos() as u64 {
            return Ok(());
        }
        self.module_usable()
    }

    fn read_module_usable(&self) -> Result<()> {
        let g = self.store.generation();
        let why = {
            let mut cached = self.module_state.lock();
            match &*cached {
                Some((seen, why)) if *seen == g => why.clone(),
                _ => {
                    let why = self.read_module_state();
                    *cached = Some((g, why.clone()));
                    why
                }
            }
        };
        match why {
            None => Ok(()),
            Some(why) => {
                self.config.debug_line(&why);
                err(CKR_DEVICE_ERROR)
            }
        }
    }

    fn read_module_state(&self) -> Option<String> {
        if !self.store.available() {
            return None;
        }
        match crate::module::hsm::get(&self.store, 1) {
            Ok(m) if m.mode() == crate::module::hsm::Mode::Operational => None,
            Ok(m) => Some(format!(
                "module #1 ({}) is in {} mode, not operational: no key can be used \
                 (CKR_DEVICE_ERROR); run `hsm-mode -m 1 O` to make it operational",
                m.esn,
                m.mode().describe()
            )),
            Err(e) => Some(format!("module #1 is not usable: {} (CKR_DEVICE_ERROR); {}", e.what, e.todo)),
        }
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
        let cards = softcard::list_keyed(&self.store, self.integrity_key().as_ref())?;
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
        // The free slot follows the module and softcard slots; card sets have ids of their own.
        let claimed = softcard::highest_claimed_slot(&self.store) as CK_SLOT_ID;
        let empty_id = next.keys().next_back().copied().unwrap_or(0).max(claimed) + 1;
        for (id, set) in cardsets::cardset_slots(self) {
            let kind = SlotKind::CardSet {
                hash: set.hash.clone(),
                name: set.name.clone(),
                persistent: set.persistent,
                timeout: set.timeout,
            };
            let slot = match slots.get(&id) {
                Some(s) if s.kind == kind => s.clone(),
                _ => Slot::new(id, kind),
            };
            next.insert(id, slot);
        }
        let empty = match slots.get(&empty_id) {
            Some(s) if s.kind == SlotKind::Empty => s.clone(),
            _ => Slot::new(empty_id, SlotKind::Empty),
        };
        next.insert(empty_id, empty);
        let current: Vec<Arc<Slot>> = next.values().cloned().collect();
        *slots = next;
        *seen = Some(g);
        drop(slots);
        drop(seen);
        self.unload_removed_sets(&current);
        Ok(())
    }

    /// `C_GetSlotList` order. Generic clients (OpenSSL's pkcs11-provider with no token in the
    /// URI, p11-kit URIs without a token) use the first listed slot that offers a mechanism, so
    /// login tokens come first: softcards by slot id, then the free slot, then the module slot,
    /// which has no login and holds no private objects. Slot ids are the same either way (slot 0
    /// is the module slot); `SHIELDHSM_MODULE_SLOT_FIRST` lists them in id order, module slot
    /// first, for configurations that choose a slot by list position.
    /// With `present_only`, card-set slots without their token are left out.
    pub fn slot_ids(&self, present_only: bool) -> Result<Vec<CK_SLOT_ID>> {
        self.refresh_slots()?;
        let slots: Vec<Arc<Slot>> = self.slots.read().values().cloned().collect();
        let slots: Vec<Arc<Slot>> = slots.into_iter().filter(|s| !present_only || self.cardset_present(s)).collect();
        if self.config.module_slot_first {
            return Ok(slots.iter().map(|s| s.id).collect());
        }
        let rank = |s: &Slot| match s.kind {
            SlotKind::Card { .. } | SlotKind::CardSet { .. } => 0,
            SlotKind::Empty => 1,
            SlotKind::Module => 2,
        };
        let mut ids: Vec<(u8, CK_SLOT_ID)> = slots.iter().map(|s| (rank(s), s.id)).collect();
        ids.sort_unstable();
        Ok(ids.into_iter().map(|(_, id)| id).collect())
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
            SlotKind::Card { file, .. } => {
                Ok(Some(SoftcardFile::load_keyed(&self.store, file, self.integrity_key().as_ref())?))
            }
            _ => Ok(None),
        }
    }

    // ---- sessions ----

    pub fn session(&self, h: CK_SESSION_HANDLE) -> Result<Arc<Session>> {
        self.check_card_removal();
        let s = self.sessions.read().get(&h).cloned().ok_or(CKR_SESSION_HANDLE_INVALID)?;
        let deadline = s.slot.login_deadline_ns.load(Ordering::Relaxed);
        if deadline != 0 && self.epoch.elapsed().as_nanos() as u64 >= deadline {
            self.login_timed_out(&s.slot);
            return err(CKR_SESSION_HANDLE_INVALID);
        }
        Ok(s)
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
        // A mode change is seen within a millisecond here (no caller can run `hsm-mode` faster),
        // without a read of the store per session a busy server opens.
        self.module_seen_usable_within(MODE_RECHECK_OPEN)?;
        if let SlotKind::CardSet { .. } = slot.kind {
            // A card taken out since the last look unloads the set first.
            self.refresh_slots()?;
            if !self.cardset_present(&slot) {
                return err(CKR_TOKEN_NOT_PRESENT);
            }
            if self.sessions_on(slot.id).is_empty() && slot.logged_in().is_none() {
                self.mark_loaded(&slot);
            }
            self.cardset_sessions.store(true, Ordering::Release);
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
        pin_in_range(slot, pin)?;
        match slot.logged_in() {
            Some(w) if w == who => return err(CKR_USER_ALREADY_LOGGED_IN),
            Some(_) => return err(CKR_USER_ANOTHER_ALREADY_LOGGED_IN),
            None => {}
        }
        if let SlotKind::CardSet { .. } = slot.kind {
            // An Operator Card Set has no security officer.
            if who == Who::So {
                return err(CKR_USER_TYPE_INVALID);
            }
            let lt = self.cardset_logical_token(slot, pin)?;
            {
                let mut l = slot.login.write();
                l.who = Some(Who::User);
                l.lt = Some(lt);
            }
            // The card may have left while the passphrase was checked, closing this session:
            // then the login does not stand.
            if !self.sessions.read().contains_key(&session.handle) {
                self.logout_slot(slot);
                return err(CKR_SESSION_CLOSED);
            }
            self.mark_loaded(slot);
            self.start_login_timeout(slot);
            return self.sync_objects(slot, true);
        }
        let SlotKind::Card { file, .. } = &session.slot.kind else {
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
        if !matches!(session.slot.kind, SlotKind::Card { .. } | SlotKind::CardSet { .. }) {
            return err(CKR_USER_TYPE_INVALID);
        }
        if !session.slot.user_logged_in() {
            return err(CKR_USER_NOT_LOGGED_IN);
        }
        pin_in_range(&session.slot, pin)?;
        match &session.slot.kind {
            SlotKind::Card { file, .. } => {
                SoftcardFile::verify(&self.store, file, Who::User, pin)?;
            }
            _ => {
                self.cardset_logical_token(&session.slot, pin)?;
            }
        }
        let mut ops = session.ops.lock();
        if ops.needs_context_login() {
            ops.context_authenticated();
        } else {
            // Before a single-call use (derivation): good for that one call.
            ops.context_credit = true;
        }
        Ok(())
    }

    pub fn logout(&self, session: &Session) -> Result<()> {
        if session.slot.logged_in().is_none() {
            return err(CKR_USER_NOT_LOGGED_IN);
        }
        self.logout_slot(&session.slot);
        // A persistent set stayed loaded for its login only: with its card out, it goes now.
        self.unload_removed_sets(std::slice::from_ref(&session.slot));
        Ok(())
    }

    /// Forgets the login and every private object opened with it (zeroized with the LT).
    fn logout_slot(&self, slot: &Slot) {
        let was_user = slot.user_logged_in();
        *slot.login.write() = Login::default();
        slot.login_deadline_ns.store(0, Ordering::Relaxed);
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

    // ---- token init ----

    /// `C_InitToken`: on the free slot, creates a softcard (and, if there is none, a default
    /// Security World); on an existing softcard, checks the SO PIN and wipes it.
    pub fn init_token(&self, slot_id: CK_SLOT_ID, so_pin: &[u8], label: &str) -> Result<()> {
        let slot = self.slot(slot_id)?;
        if !self.sessions_on(slot_id).is_empty() {
            return err(CKR_SESSION_EXISTS);
        }
        softcard::check_pin_len(so_pin)?;
        if slot.kind != SlotKind::Module {
            self.module_usable()?;
        }
        match &slot.kind {
            // Card sets are made and replaced with the card tools (createocs, rocs).
            SlotKind::Module | SlotKind::CardSet { .. } => err(CKR_FUNCTION_NOT_SUPPORTED),
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
                // Wipe, under the lock: a new card in the same slot (new LT and hash, so nothing
                // old can be opened again), then the old card, then every key file it owned --
                // its PKCS#11 objects and the keys the CLI made for it. A crash part-way leaves
                // at worst the old card's files unopenable (a re-init finishes the job), never a
                // card with half its keys. PKCS#11-made names are recorded destroyed, as for
                // C_DestroyObject; `key_<app>_<ident>` names may be made again and are not (a
                // copy put back names the old card as owner, which no slot serves).
                let keys = softcard::key_files_of(&self.store, hash)?;
                SoftcardFile::create(&lock, label, so_pin, slot_id as u64)?;
                lock.remove(file)?;
                for n in &keys {
                    if n.starts_with(stored::FILE_PREFIX) {
                        lock.record_destroyed(n)?;
                    }
                    lock.remove(n)?;
                }
                lock.bump();
                drop(lock);
                self.refresh_slots()
            }
        }
    }

    pub fn init_pin(&self, session: &Session, pin: &[u8]) -> Result<()> {
        if matches!(session.slot.kind, SlotKind::CardSet { .. }) {
            return err(CKR_FUNCTION_NOT_SUPPORTED);
        }
        if session.slot.logged_in() != Some(Who::So) {
            return err(CKR_USER_NOT_LOGGED_IN);
        }
        self.set_pin_of(session, Who::User, pin)
    }

    pub fn set_pin(&self, session: &Session, old: &[u8], new: &[u8]) -> Result<()> {
        if matches!(session.slot.kind, SlotKind::CardSet { .. }) {
            return err(CKR_FUNCTION_NOT_SUPPORTED);
        }
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
/// `CKR_PIN_LEN_RANGE` for a PIN outside the token's range, before anything is counted (the
/// range `C_GetTokenInfo` reports: a softcard's 4 to 256 bytes, a card's passphrase up to 256).
fn pin_in_range(slot: &Slot, pin: &[u8]) -> Result<()> {
    match slot.kind {
        SlotKind::Card { .. } => softcard::check_pin_len(pin),
        _ if pin.len() > softcard::MAX_PIN => err(CKR_PIN_LEN_RANGE),
        _ => Ok(()),
    }
}
