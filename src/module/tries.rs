//! The module's count of wrong passphrases, per card: every check of an Administrator or
//! Operator Card Set card's passphrase, wherever it happens (a PKCS#11 login, `preload`,
//! `generatekey`, `rocs`, `racs`, `new-world -l`, `KeyTransferRemote -ModifyAcls`, the vendor
//! interface, `card-reader unlock`), counts here.
//!
//! The counts live in `emu/cardfails/<set-hash>_<card>`, the inside of the emulated HSM, never in
//! `local/` (which whoever administers the host may roll back). An attempt is counted *before*
//! the key derivation runs and cleared only after the whole quorum has proved itself, so
//! concurrent guessers get no extra tries and a failed quorum tells nobody which card was wrong.
//! A card at the limit is locked: even its right passphrase is refused.

use super::store::{read_checked, Store};
use crate::error::Result;

/// The most wrong passphrases a card takes before it locks.
pub const MAX_TRIES: u32 = 10;

/// The limit in force: [`MAX_TRIES`], or fewer with `SHIELDHSM_PIN_MAX_TRIES`. The setting comes
/// from the caller's environment, so it can only lower the limit an attacker meets.
pub fn limit() -> u32 {
    if cfg!(feature = "insecure-no-passphrase-limit") {
        return u32::MAX;
    }
    limit_from(std::env::var("SHIELDHSM_PIN_MAX_TRIES").ok().as_deref())
}

fn limit_from(setting: Option<&str>) -> u32 {
    setting.and_then(|v| v.trim().parse::<u32>().ok()).unwrap_or(MAX_TRIES).clamp(1, MAX_TRIES)
}

/// A card as the counter names it: its set's hash and its number in the set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardId {
    pub set: String,
    pub index: u32,
}

impl CardId {
    fn rel(&self) -> String {
        format!("cardfails/{}_{}", self.set, self.index)
    }
}

/// Wrong passphrases counted for `card` since its last proven one. An unreadable count reads as
/// the limit, never as zero: damage to the module's counters locks rather than unlocks.
pub fn failures(store: &Store, card: &CardId) -> u32 {
    let path = store.emu().join(card.rel());
    if !path.exists() {
        return 0;
    }
    read_checked(&path)
        .ok()
        .and_then(|raw| std::str::from_utf8(&raw).ok().and_then(|s| s.trim().parse().ok()))
        .unwrap_or(MAX_TRIES)
}

/// Whether `card` is locked under `max`.
pub fn locked(store: &Store, card: &CardId, max: u32) -> bool {
    failures(store, card) >= max
}

/// What counting an attempt found.
#[derive(Debug, PartialEq, Eq)]
pub enum Attempt {
    /// Counted; the passphrases may now be checked.
    Counted,
    /// This card was at the limit before the attempt: nothing was checked.
    Locked(CardId),
}

/// Counts one attempt against every card in `cards`, under the store lock, before any
/// passphrase is checked. A card already at `max` refuses the whole attempt (and is named).
pub fn count_attempt(store: &Store, cards: &[CardId], max: u32) -> Result<Attempt> {
    let lock = store.lock()?;
    if let Some(c) = cards.iter().find(|c| locked(store, c, max)) {
        return Ok(Attempt::Locked(c.clone()));
    }
    for c in cards {
        let now = failures(store, c).saturating_add(1);
        lock.write_emu(&c.rel(), now.to_string().as_bytes())?;
    }
    Ok(Attempt::Counted)
}

/// Clears the counts of `cards` once their passphrases (the whole quorum) proved right.
pub fn clear(store: &Store, cards: &[CardId]) -> Result<()> {
    let lock = store.lock()?;
    for c in cards {
        if failures(store, c) != 0 {
            lock.write_emu(&c.rel(), b"0")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_count_lock_and_clear() {
        let dir = tempfile::tempdir().unwrap();
        let st = Store::open(dir.path()).unwrap();
        let a = CardId { set: "abcd".into(), index: 1 };
        let b = CardId { set: "abcd".into(), index: 2 };
        assert_eq!(failures(&st, &a), 0);
        for _ in 0..3 {
            assert_eq!(count_attempt(&st, &[a.clone(), b.clone()], 3).unwrap(), Attempt::Counted);
        }
        assert_eq!((failures(&st, &a), failures(&st, &b)), (3, 3));
        assert_eq!(count_attempt(&st, std::slice::from_ref(&b), 3).unwrap(), Attempt::Locked(b.clone()));
        clear(&st, std::slice::from_ref(&a)).unwrap();
        assert_eq!(failures(&st, &a), 0);
        // A damaged count locks.
        std::fs::write(st.emu().join(a.rel()), b"junk").unwrap();
        assert!(locked(&st, &a, MAX_TRIES));
    }

    #[test]
    fn the_setting_only_lowers_the_limit() {
        assert_eq!(limit_from(Some("1000")), MAX_TRIES);
        assert_eq!(limit_from(Some("3")), 3);
        assert_eq!(limit_from(Some("0")), 1);
        assert_eq!(limit_from(Some("junk")), MAX_TRIES);
        assert_eq!(limit_from(None), MAX_TRIES);
    }
}
