//! Operator Card Sets as PKCS#11 tokens, as cknfast shows them in load-sharing mode: one
//! removable token per card set of the world (label = the set's name), present while a card of
//! the set is in module #1's emulated reader (`module::reader`), while the set is loaded by
//! `preload -c` for this process (`module::loaded`), or, for a persistent set, while it stays
//! logged in after its card left.
//!
//! A 1/N set logs in with the inserted card's passphrase. A K-of-N set (K > 1) cannot be loaded
//! from one card: it is used under `preload -c NAME`, which collects K cards and hands the set
//! to the command; such a token reports `CKF_PROTECTED_AUTHENTICATION_PATH` and its `C_Login`
//! takes any PIN, as the cards were already presented.
//!
//! Removal (README, "Card-set tokens"): when the card of a non-persistent set leaves the reader,
//! the set unloads: its sessions close (their handles answer `CKR_SESSION_HANDLE_INVALID`), the
//! login and every object opened with it are dropped, and opening a session answers
//! `CKR_TOKEN_NOT_PRESENT`. A persistent set (`createocs -p`), a preloaded one, or any set under
//! `CKNFAST_NONREMOVABLE` stays loaded. A set made with a timeout (`createocs -T SECONDS`)
//! unloads that long after its login, card or no card, as if its card had been removed.

use super::{Library, Slot, SlotKind};
use crate::error::{err, Result};
use crate::module::cardset::{self, CardSetFile};
use crate::module::{loaded, reader, tries};
use crate::object::envelope::SecretKey32;
use cryptoki_sys::*;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

/// Card-set slot ids start here (softcards and the free slot take small ids), offset by the
/// set's hash so a set keeps its slot id in every process and whatever other sets exist.
const CARDSET_SLOT_BASE: CK_SLOT_ID = 0x1_0000;

/// How often a blocked `C_WaitForSlotEvent` looks at the reader.
const EVENT_POLL: std::time::Duration = std::time::Duration::from_millis(20);

/// The card-set slots of the world, by id: (id, set) in creation order, each id stable.
pub(super) fn cardset_slots(lib: &Library) -> Vec<(CK_SLOT_ID, CardSetFile)> {
    let Some(world) = lib.world() else { return Vec::new() };
    let Ok(sets) = cardset::list_ocs(&lib.store) else { return Vec::new() };
    let mut taken = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for s in sets {
        if s.world_hkm != world.file.hkm {
            continue;
        }
        // Ids are given before CKNFAST_CARDSET_HASH filters, so they are the same either way.
        let offset = s.hash.get(..4).and_then(|h| u16::from_str_radix(h, 16).ok()).unwrap_or(0) as CK_SLOT_ID;
        let mut id = CARDSET_SLOT_BASE + offset;
        while !taken.insert(id) {
            id += 1;
        }
        if lib.config.cardset_hash.as_ref().is_some_and(|h| *h != s.hash) {
            continue;
        }
        out.push((id, s));
    }
    out
}

impl Library {
    /// The set `preload -c` loaded for this process, read once: its hash and logical token,
    /// checked against the hash.
    fn preloaded(&self) -> Option<(String, SecretKey32)> {
        self.preloaded
            .get_or_init(|| {
                let (path, t) = loaded::tokens_file()?;
                let set = match t {
                    Ok(t) => t.cardset?,
                    Err(e) => {
                        self.config.debug_line(&format!("{}={}: {e}", loaded::TOKENS_ENV, path.display()));
                        return None;
                    }
                };
                let lt = loaded::take_over(&set);
                match lt {
                    Some(lt) if cardset::lt_matches(&set.hash, &lt) => Some((set.hash, lt)),
                    _ => {
                        self.config.debug_line(&format!(
                            "{}: card set {} was not handed over (descriptor {} closed or not ours)",
                            loaded::TOKENS_ENV,
                            set.name,
                            set.fd
                        ));
                        None
                    }
                }
            })
            .clone()
    }

    pub fn cardset_preloaded(&self, hash: &str) -> bool {
        self.is_preloaded(hash)
    }

    fn is_preloaded(&self, hash: &str) -> bool {
        self.preloaded().is_some_and(|(h, _)| h == hash)
    }

    /// Whether the token of card-set slot `slot` is present (see the module comment).
    pub fn cardset_present(&self, slot: &Slot) -> bool {
        let SlotKind::CardSet { hash, .. } = &slot.kind else { return true };
        if self.is_preloaded(hash) || slot.logged_in().is_some() {
            return true;
        }
        reader::state(&self.store).card.is_some_and(|c| &c.cardset == hash)
    }

    /// Starts the login timeout of a card set made with one (a set `preload` loaded lasts for
    /// the command's run instead).
    pub(super) fn start_login_timeout(&self, slot: &Slot) {
        let SlotKind::CardSet { hash, timeout: Some(secs), .. } = &slot.kind else { return };
        if self.is_preloaded(hash) {
            return;
        }
        let at = self.epoch.elapsed().saturating_add(std::time::Duration::from_secs(*secs));
        slot.login_deadline_ns.store(u64::try_from(at.as_nanos()).unwrap_or(u64::MAX).max(1), Ordering::Relaxed);
    }

    /// A card set's login timed out: it unloads as on removal (sessions closed, login dropped).
    pub(super) fn login_timed_out(&self, slot: &Slot) {
        if let SlotKind::CardSet { name, .. } = &slot.kind {
            self.config.debug_line(&format!("card set {name:?}: its timeout has passed; the token unloaded"));
        }
        for s in self.sessions_on(slot.id) {
            let _ = self.close_session(s.handle);
        }
        self.logout_slot(slot);
    }

    /// Whether a loaded set stays loaded when its card leaves the reader.
    fn stays_loaded(&self, slot: &Slot) -> bool {
        let SlotKind::CardSet { hash, persistent, .. } = &slot.kind else { return true };
        (*persistent && slot.logged_in().is_some()) || self.config.nonremovable || self.is_preloaded(hash)
    }

    /// Unloads the card sets whose card left the reader (called when the store changed). Only
    /// sets that are loaded (logged in or with sessions) have anything to unload.
    /// A card taken out and put back (or replaced by another card of the set) between two looks
    /// is a removal too: the reader's event count moved since the set was loaded.
    pub(super) fn unload_removed_sets(&self, slots: &[std::sync::Arc<Slot>]) {
        let state = reader::state(&self.store);
        let inserted = state.card.map(|c| c.cardset);
        for slot in slots {
            let SlotKind::CardSet { hash, name, .. } = &slot.kind else { continue };
            let same_card = inserted.as_deref() == Some(hash.as_str())
                && slot.loaded_events.load(Ordering::Acquire) == state.events;
            if same_card || self.stays_loaded(slot) {
                continue;
            }
            let sessions = self.sessions_on(slot.id);
            if sessions.is_empty() && slot.logged_in().is_none() {
                continue;
            }
            self.config.debug_line(&format!(
                "card set {name:?}: its card left the reader; {} session(s) closed, the token unloaded",
                sessions.len()
            ));
            for s in sessions {
                let _ = self.close_session(s.handle);
            }
            self.logout_slot(slot);
        }
    }

    /// The hot path's check for a removed card: only when a card-set session was ever opened
    /// and the store changed since the slots were last read.
    /// Notes the reader's event count when a set starts being used (first session, login), so a
    /// later removal and re-insertion is told from the same card staying in.
    pub(super) fn mark_loaded(&self, slot: &Slot) {
        if matches!(slot.kind, SlotKind::CardSet { .. }) {
            slot.loaded_events.store(reader::state(&self.store).events, Ordering::Release);
        }
    }

    pub(super) fn check_card_removal(&self) {
        if self.cardset_sessions.load(Ordering::Acquire)
            && *self.slots_generation.lock() != Some(self.store.generation())
        {
            let _ = self.refresh_slots();
        }
    }

    /// `C_Login(CKU_USER)` on a card-set token: the set `preload` loaded takes any PIN; a 1/N
    /// set takes the passphrase of its card in the reader.
    pub(super) fn cardset_logical_token(&self, slot: &Slot, pin: &[u8]) -> Result<SecretKey32> {
        let SlotKind::CardSet { hash, name, .. } = &slot.kind else { return err(CKR_USER_TYPE_INVALID) };
        if let Some((h, lt)) = self.preloaded() {
            if &h == hash {
                return Ok(lt);
            }
        }
        let set = cardset::find_ocs(&self.store, hash).map_err(|_| CKR_TOKEN_NOT_PRESENT)?;
        let card = reader::state(&self.store).card.filter(|c| &c.cardset == hash).ok_or(CKR_TOKEN_NOT_PRESENT)?;
        if set.k > 1 {
            self.config.debug_line(&format!(
                "card set {name:?} needs {} of its {} cards: load it with `preload -c {name} <command>`",
                set.k, set.n
            ));
            return err(CKR_FUNCTION_FAILED);
        }
        let world = self.world().ok_or(CKR_TOKEN_NOT_PRESENT)?;
        let max = self.config.card_max_tries();
        // Counted as a failure before the KDF runs, cleared after a right one: threads guessing
        // at once cannot get more tries than the limit between them.
        let id = card.id();
        if let tries::Attempt::Locked(_) = tries::count_attempt(&self.store, std::slice::from_ref(&id), max)? {
            self.config.debug_line(&format!(
                "card {} of {name:?} is locked after {max} wrong passphrases: `card-reader unlock -c {name} -n {}`",
                card.index, card.index
            ));
            return err(CKR_PIN_LOCKED);
        }
        match cardset::lt_from_card(&set.set_ref(), &card, pin, &world.km) {
            Some(lt) => {
                tries::clear(&self.store, &[id])?;
                Ok(lt)
            }
            None => err(if tries::locked(&self.store, &id, max) { CKR_PIN_LOCKED } else { CKR_PIN_INCORRECT }),
        }
    }

    /// The count flags of a card set's token: those of the card in the reader (none for a set
    /// `preload` loaded, whose cards were presented to it).
    pub(super) fn cardset_pin_flags(&self, hash: &str) -> CK_FLAGS {
        if self.is_preloaded(hash) {
            return 0;
        }
        match reader::state(&self.store).card.filter(|c| c.cardset == hash) {
            Some(card) => {
                super::pin::card_flags(tries::failures(&self.store, &card.id()), self.config.card_max_tries())
            }
            None => 0,
        }
    }

    /// Presence of every card-set slot now.
    fn cardset_presence(&self) -> Result<BTreeMap<CK_SLOT_ID, bool>> {
        self.refresh_slots()?;
        let slots: Vec<_> = self.slots.read().values().cloned().collect();
        Ok(slots
            .iter()
            .filter(|s| matches!(s.kind, SlotKind::CardSet { .. }))
            .map(|s| (s.id, self.cardset_present(s)))
            .collect())
    }

    /// `C_WaitForSlotEvent`: the next card-set slot whose token appeared or went since the
    /// last event reported (the first call takes the state it finds as its starting point).
    /// With `block`, waits until there is one, or until `alive` says the library was finalized
    /// (`CKR_CRYPTOKI_NOT_INITIALIZED`, as the spec asks).
    pub fn wait_for_slot_event(&self, block: bool, alive: &dyn Fn() -> bool) -> Result<CK_SLOT_ID> {
        loop {
            let now = self.cardset_presence()?;
            let reader_now = reader::state(&self.store);
            {
                let mut guard = self.reported_presence.lock();
                let (seen, seen_events) = guard.get_or_insert_with(|| (now.clone(), reader_now.events));
                let changed = now
                    .iter()
                    .find(|(id, p)| seen.get(id) != Some(p))
                    .map(|(id, p)| (*id, *p))
                    .or_else(|| seen.keys().find(|id| !now.contains_key(id)).map(|id| (*id, false)));
                if let Some((id, p)) = changed {
                    if now.contains_key(&id) {
                        seen.insert(id, p);
                    } else {
                        seen.remove(&id);
                    }
                    *seen_events = reader_now.events;
                    return Ok(id);
                }
                if *seen_events != reader_now.events {
                    // Same presence, yet the card went and came back: an event of its set.
                    *seen_events = reader_now.events;
                    let slots = self.slots.read();
                    let of_card = slots.values().find(|s| {
                        matches!(&s.kind, SlotKind::CardSet { hash, .. }
                            if reader_now.card.as_ref().is_some_and(|c| &c.cardset == hash))
                    });
                    if let Some(s) = of_card {
                        return Ok(s.id);
                    }
                }
            }
            if !block {
                return err(CKR_NO_EVENT);
            }
            std::thread::sleep(EVENT_POLL);
            if !alive() {
                return err(CKR_CRYPTOKI_NOT_INITIALIZED);
            }
        }
    }
}
