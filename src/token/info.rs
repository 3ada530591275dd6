//! What the slot and token management calls report: a slot's description, a token's label,
//! serial, flags and session counts (`C_GetTokenInfo`), and the mechanisms a slot offers. The
//! ABI layer copies these into the C structures.

use super::pin::pin_flags;
use super::{Library, SlotKind};
use crate::error::Result;
use crate::mech::registry;
use crate::module::softcard;
use cryptoki_sys::*;

/// A token as `C_GetTokenInfo` describes it (the fields that are not constants).
pub struct TokenInfo {
    pub label: String,
    pub serial: String,
    pub flags: CK_FLAGS,
    pub sessions: usize,
    pub rw_sessions: usize,
    pub min_pin: usize,
    pub max_pin: usize,
}

impl Library {
    /// `C_GetSlotInfo`'s description of slot `id`.
    pub fn slot_description(&self, id: CK_SLOT_ID) -> Result<String> {
        let slot = self.slot(id)?;
        Ok(match &slot.kind {
            SlotKind::Module => "nShield emulated module #1".to_string(),
            SlotKind::Card { .. } => format!("nShield emulated softcard slot {id}"),
            SlotKind::CardSet { name, .. } => format!("nShield emulated card set {name}"),
            SlotKind::Empty => "nShield emulated free token slot".to_string(),
        })
    }

    /// `C_GetSlotInfo`'s flags: card-set slots are removable hardware slots whose token comes
    /// and goes with the card; every other slot always holds its token.
    pub fn slot_flags(&self, id: CK_SLOT_ID) -> Result<CK_FLAGS> {
        self.refresh_slots()?;
        let slot = self.slot(id)?;
        Ok(match slot.kind {
            SlotKind::CardSet { .. } if self.cardset_present(&slot) => {
                CKF_REMOVABLE_DEVICE | CKF_HW_SLOT | CKF_TOKEN_PRESENT
            }
            SlotKind::CardSet { .. } => CKF_REMOVABLE_DEVICE | CKF_HW_SLOT,
            _ => CKF_TOKEN_PRESENT,
        })
    }

    /// `C_GetTokenInfo` of slot `id`. The module slot is always initialized (write-protected
    /// with no Security World, with a login only under `CKNFAST_FAKE_ACCELERATOR_LOGIN`); a
    /// softcard needs a login and shows its PIN counters ([`super::pin`]); the free slot's
    /// token is blank.
    pub fn token_info(&self, id: CK_SLOT_ID) -> Result<TokenInfo> {
        self.refresh_slots()?;
        let slot = self.slot(id)?;
        let sessions = self.sessions_on(id);
        let rw_sessions = sessions.iter().filter(|s| s.rw).count();
        let mut flags = CKF_RNG;
        let (label, serial) = match &slot.kind {
            SlotKind::Module => {
                flags |= CKF_TOKEN_INITIALIZED;
                if self.config.fake_accelerator_login {
                    flags |= CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED;
                }
                match self.world() {
                    Some(w) => (String::from("loadshared accelerator"), w.esn.replace('-', "")),
                    None => {
                        flags |= CKF_WRITE_PROTECTED;
                        (String::from("loadshared accelerator"), String::from("no-world"))
                    }
                }
            }
            SlotKind::Empty => (String::new(), String::new()),
            SlotKind::CardSet { hash, name, .. } => {
                if !self.cardset_present(&slot) {
                    return Err(CKR_TOKEN_NOT_PRESENT.into());
                }
                flags |= CKF_TOKEN_INITIALIZED
                    | CKF_LOGIN_REQUIRED
                    | CKF_USER_PIN_INITIALIZED
                    | self.cardset_pin_flags(hash);
                if self.cardset_preloaded(hash) {
                    flags |= CKF_PROTECTED_AUTHENTICATION_PATH;
                }
                (name.clone(), hash.get(..16).unwrap_or(hash).to_string())
            }
            SlotKind::Card { .. } => {
                let c = self.card(&slot)?.ok_or(CKR_TOKEN_NOT_PRESENT)?;
                flags |= CKF_TOKEN_INITIALIZED | CKF_LOGIN_REQUIRED | pin_flags(&c);
                (c.name.clone(), c.serial.clone())
            }
        };
        Ok(TokenInfo {
            label,
            serial,
            flags,
            sessions: sessions.len(),
            rw_sessions,
            // A card's passphrase may be as short as its set's maker chose.
            min_pin: if matches!(slot.kind, SlotKind::CardSet { .. }) { 0 } else { softcard::MIN_PIN },
            max_pin: softcard::MAX_PIN,
        })
    }

    /// `C_GetMechanismList`: every slot offers every registered mechanism, the weak ones (see
    /// [`registry::MechEntry::weak`]) only while their security assurance is relaxed.
    pub fn mechanisms(&self, id: CK_SLOT_ID) -> Result<Vec<CK_MECHANISM_TYPE>> {
        self.slot(id)?;
        Ok(registry::ALL.iter().filter(|e| self.offers(e)).map(|e| e.ty).collect())
    }

    fn offers(&self, e: &registry::MechEntry) -> bool {
        e.weak.is_none_or(|a| self.config.overrides.relaxes(a))
    }

    /// `C_GetMechanismInfo` of `ty` on slot `id`.
    pub fn mechanism_info(&self, id: CK_SLOT_ID, ty: CK_MECHANISM_TYPE) -> Result<CK_MECHANISM_INFO> {
        self.slot(id)?;
        let mut info = registry::lookup(ty).filter(|e| self.offers(e)).ok_or(CKR_MECHANISM_INVALID)?.info();
        info.flags |= super::message::message_flags(ty);
        Ok(info)
    }
}
