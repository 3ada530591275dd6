//! Module #1's emulated smart-card reader (slot 0): which card, if any, is inserted.
//!
//! Inserting a card copies its card file into the reader state `emu/readers/module1_slot0.json`
//! under the store lock, and bumps the store generation, so every process using the data
//! directory sees the insertion or removal at its next call. The state also counts events
//! (every insertion and removal), so a removal followed by a re-insertion between two looks is
//! still seen as an event (`C_WaitForSlotEvent`). The copy holds only what the card file holds:
//! a share sealed under the card's passphrase (and, for an OCS card, the world key).

use super::admin::{fail, AdminError, AdminResult};
use super::cardset::{self, CardFile, SetKind};
use super::store::{read_checked, Store};
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const READER_FORMAT: &str = "shieldhsm/reader/1";
const STATE_FILE: &str = "readers/module1_slot0.json";

/// What the reader holds.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct ReaderState {
    pub format: String,
    /// The inserted card, or `None` for an empty reader.
    pub card: Option<CardFile>,
    /// Insertions and removals so far.
    pub events: u64,
}

/// The reader's state. A reader never used, or whose state file is damaged, is empty (a damaged
/// state is what a reader with an unreadable card shows: no card).
pub fn state(store: &Store) -> ReaderState {
    if !store.available() {
        return ReaderState::default();
    }
    let Ok(raw) = read_checked(&store.emu().join(STATE_FILE)) else { return ReaderState::default() };
    match serde_json::from_slice::<ReaderState>(&raw) {
        Ok(s) if s.format == READER_FORMAT => s,
        _ => ReaderState::default(),
    }
}

/// Inserts the card whose file is `card_path` (replacing, and so removing, any card inside).
/// Only cards of an Operator Card Set of this store are taken.
pub fn insert(store: &Store, card_path: &Path) -> AdminResult<CardFile> {
    let card = cardset::read_card(card_path)?;
    if card.kind != SetKind::Ocs {
        return fail(
            format!("{} is an Administrator Card Set card", card_path.display()),
            "insert an Operator Card Set card; ACS cards are presented to the tools that ask for them",
        );
    }
    let set = cardset::find_ocs(store, &card.cardset).map_err(|_| {
        AdminError::new(
            format!("{} is a card of a set this Security World does not know", card_path.display()),
            "insert a card of a set listed by `nfkminfo -c`",
        )
    })?;
    if set.world_hkm != card.world_hkm {
        return fail(format!("{} belongs to another Security World", card_path.display()), "use a card of this world");
    }
    write(store, Some(card.clone()))?;
    Ok(card)
}

/// Removes the inserted card; returns it (`None`: the reader was empty, nothing changed).
pub fn remove(store: &Store) -> AdminResult<Option<CardFile>> {
    let was = state(store).card;
    if was.is_some() {
        write(store, None)?;
    }
    Ok(was)
}

fn write(store: &Store, card: Option<CardFile>) -> AdminResult<()> {
    let lock = store.lock()?;
    let events = state(store).events.saturating_add(1);
    let s = ReaderState { format: READER_FORMAT.into(), card, events };
    let json = serde_json::to_vec_pretty(&s).map_err(|e| AdminError::new(e.to_string(), "report this"))?;
    lock.write_emu(STATE_FILE, &json)?;
    lock.bump();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unused_or_damaged_reader_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let st = Store::open(dir.path()).unwrap();
        assert!(state(&st).card.is_none());
        std::fs::create_dir_all(st.emu().join("readers")).unwrap();
        std::fs::write(st.emu().join(STATE_FILE), b"{not json").unwrap();
        assert!(state(&st).card.is_none());
        assert_eq!(remove(&st).unwrap().map(|c| c.index), None);
        assert!(insert(&st, &dir.path().join("nope.json")).is_err());
    }
}
