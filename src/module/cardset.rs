//! Card sets (the Administrator Card Set and Operator Card Sets): a random logical token (LT)
//! split K-of-N with Shamir, one share per virtual smart card.
//!
//! A card is a JSON file `emu/cards/<cardset-hash>/card_<i>.json` (or in a directory the user
//! names with `--card-dir`: "inserting" a card is having its file there). Its share is sealed
//! (AES-256-GCM) under a key derived from the card's passphrase with PBKDF2-HMAC-SHA256, the
//! context binding the world, the card set and the card number; an OCS card's key is also
//! mixed with the world module key KM, so an OCS card is useless outside its world
//! (docs/nshield-emulation.md §3.2). Each card file carries a check value over its fields, which
//! tells a damaged card from a wrong passphrase. OCS metadata goes to nShield's
//! `local/card_<HASH>` and `local/cards_<HASH>_<N>`; the ACS is described by the world file.

use super::admin::{fail, AdminError, AdminResult, Interaction, Txn};
use super::hash::hash_hex;
use super::integrity::{self, IntegrityKey, Tagged};
use super::shamir::{self, Share};
use super::store::{derive_key, Store, KDF_ITERATIONS};
use super::tries::{self, CardId};
use crate::object::envelope::{self, open, seal, SecretKey32};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

pub const CARD_FORMAT: &str = "shieldhsm/card/1";
pub const CARDSET_FORMAT: &str = "shieldhsm/cardset/1";
pub const CARDINFO_FORMAT: &str = "shieldhsm/cardinfo/1";
pub const CARDSET_PREFIX: &str = "card_";
pub const MAX_CARDS: u32 = 64;

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SetKind {
    Acs,
    Ocs,
}

impl SetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SetKind::Acs => "acs",
            SetKind::Ocs => "ocs",
        }
    }
    pub fn describe(self) -> &'static str {
        match self {
            SetKind::Acs => "Administrator Card Set",
            SetKind::Ocs => "Operator Card Set",
        }
    }
}

/// What names a card set and its quorum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetRef {
    pub kind: SetKind,
    pub name: String,
    pub hash: String,
    pub k: u32,
    pub n: u32,
    pub world_hkm: String,
}

impl SetRef {
    pub fn describe(&self) -> String {
        format!("{} \"{}\" ({}/{})", self.kind.describe(), self.name, self.k, self.n)
    }
}

/// `local/card_<HASH>`: an Operator Card Set.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct CardSetFile {
    pub format: String,
    pub name: String,
    pub hash: String,
    pub k: u32,
    pub n: u32,
    pub persistent: bool,
    /// Seconds a loaded token stays usable; `None` for no timeout.
    pub timeout: Option<u64>,
    pub createtime: u64,
    pub world_hkm: String,
    /// The file's integrity tag ([`super::integrity`]): its timeout and persistence are policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

impl Tagged for CardSetFile {
    fn tag_field(&mut self) -> &mut Option<String> {
        &mut self.tag
    }
}

impl CardSetFile {
    pub fn file_name(&self) -> String {
        format!("{CARDSET_PREFIX}{}", self.hash)
    }
    pub fn set_ref(&self) -> SetRef {
        SetRef {
            kind: SetKind::Ocs,
            name: self.name.clone(),
            hash: self.hash.clone(),
            k: self.k,
            n: self.n,
            world_hkm: self.world_hkm.clone(),
        }
    }
}

/// `local/cards_<HASH>_<N>`: one card of an OCS, as the host knows it.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct CardInfoFile {
    pub format: String,
    pub cardset: String,
    pub index: u32,
    pub label: String,
    pub createtime: u64,
}

/// One virtual smart card.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct CardFile {
    pub format: String,
    pub cardset: String,
    pub kind: SetKind,
    pub name: String,
    pub index: u32,
    pub k: u32,
    pub n: u32,
    pub world_hkm: String,
    pub salt: String,
    pub iterations: u32,
    /// The sealed share (base64 of nonce || ciphertext || tag).
    pub share: String,
    /// Damage detector over every field above (not a security measure: the seal is).
    pub check: String,
}

impl CardFile {
    /// This card as the module's passphrase counter names it.
    pub fn id(&self) -> CardId {
        CardId { set: self.cardset.clone(), index: self.index }
    }

    pub fn file_name(index: u32) -> String {
        format!("card_{index}.json")
    }

    fn computed_check(&self) -> String {
        let body = format!(
            "{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}",
            self.format,
            self.cardset,
            self.kind.as_str(),
            self.name,
            self.index,
            self.k,
            self.n,
            self.world_hkm,
            self.salt,
            self.iterations,
            self.share
        );
        hash_hex(&[body.as_bytes(), b"emu-card-check"])
    }

    fn aad(&self) -> Vec<u8> {
        format!("{CARD_FORMAT}|{}|{}|{}", self.cardset, self.index, self.world_hkm).into_bytes()
    }

    fn key(&self, passphrase: &[u8], km: Option<&SecretKey32>) -> Option<SecretKey32> {
        let salt = B64.decode(&self.salt).ok()?;
        let ctx = format!("{CARD_FORMAT}|{}|{}|{}|{}", self.kind.as_str(), self.world_hkm, self.cardset, self.index);
        if !crate::module::store::plausible_iterations(self.iterations) {
            return None;
        }
        let k = derive_key(passphrase, &salt, self.iterations, ctx.as_bytes());
        Some(match km {
            None => k,
            Some(km) => {
                let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &km[..]);
                let mut ctx = aws_lc_rs::hmac::Context::with_key(&key);
                ctx.update(&k[..]);
                ctx.update(b"emu-card");
                let mut out = Zeroizing::new([0u8; 32]);
                out.copy_from_slice(ctx.sign().as_ref());
                out
            }
        })
    }

    /// The share, if `passphrase` (and, for an OCS card, the world key) is right.
    pub fn open_share(&self, passphrase: &[u8], km: Option<&SecretKey32>) -> Option<Share> {
        let key = self.key(passphrase, km)?;
        let blob = B64.decode(&self.share).ok()?;
        let plain = open(&key, &self.aad(), &blob).ok()?;
        Share::from_bytes(&plain)
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }
}

/// Reads a card file; a file that does not parse or whose check fails is reported as damaged.
pub fn read_card(path: &Path) -> AdminResult<CardFile> {
    let raw = std::fs::read(path)
        .map_err(|e| AdminError::new(format!("cannot read card file {} ({e})", path.display()), "check the path"))?;
    let damaged = |why: &str| {
        AdminError::new(
            format!("card file {} is damaged ({why})", path.display()),
            "take it out of the card directory and present another card of the set (restore it from a backup)",
        )
    };
    let card: CardFile = serde_json::from_slice(&raw).map_err(|_| damaged("not a card file"))?;
    if card.format != CARD_FORMAT {
        return Err(damaged("unknown format"));
    }
    if card.check != card.computed_check() {
        return Err(damaged("check value mismatch"));
    }
    Ok(card)
}

/// A card set made in memory, to be written by [`write_cards`].
pub struct NewSet {
    pub set: SetRef,
    pub lt: SecretKey32,
    pub cards: Vec<CardFile>,
}

/// Validates a K/N quorum.
pub fn check_quorum(k: u32, n: u32, what: &str) -> AdminResult<()> {
    if n == 0 || n > MAX_CARDS {
        return fail(format!("{what} has {n} cards; it must have 1 to {MAX_CARDS}"), "give a quorum like 2/3");
    }
    if k == 0 {
        return fail(format!("{what} quorum {k}/{n} needs at least one card"), "give K of 1 or more, e.g. 1/1 or 2/3");
    }
    if k > n {
        return fail(
            format!("{what} quorum {k}/{n} needs more cards than the set has (K > N)"),
            format!("give K no larger than N, e.g. {n}/{n} or {}/{n}", n.div_ceil(2).max(1)),
        );
    }
    Ok(())
}

/// Parses `K/N`.
pub fn parse_quorum(s: &str, what: &str) -> AdminResult<(u32, u32)> {
    let bad = || {
        AdminError::new(format!("{what} quorum {s:?} is not of the form K/N"), "write it like 2/3 (any 2 of 3 cards)")
    };
    let (k, n) = s.split_once('/').ok_or_else(bad)?;
    let k: u32 = k.trim().parse().map_err(|_| bad())?;
    let n: u32 = n.trim().parse().map_err(|_| bad())?;
    check_quorum(k, n, what)?;
    Ok((k, n))
}

/// Makes a fresh logical token and its N cards. `km` binds OCS cards to the world.
pub fn make_set(
    kind: SetKind,
    name: &str,
    k: u32,
    n: u32,
    world_hkm: &str,
    km: Option<&SecretKey32>,
    passphrases: &[Zeroizing<String>],
) -> AdminResult<NewSet> {
    check_quorum(k, n, kind.describe())?;
    if passphrases.len() != n as usize {
        return fail("internal: passphrase count does not match the card count", "report this");
    }
    let lt = envelope::random_key()?;
    let tag: &[u8] = match kind {
        SetKind::Acs => b"emu-acs",
        SetKind::Ocs => b"emu-cardset",
    };
    let hash = hash_hex(&[&lt[..], tag]);
    let shares = shamir::split(&lt[..], k as u8, n as u8)
        .map_err(|_| AdminError::new("the card set could not be split", "check K/N and retry"))?;
    let mut cards = Vec::with_capacity(n as usize);
    for (share, pass) in shares.iter().zip(passphrases) {
        let mut salt = [0u8; 16];
        aws_lc_rs::rand::fill(&mut salt).map_err(crate::error::Error::from)?;
        let mut card = CardFile {
            format: CARD_FORMAT.into(),
            cardset: hash.clone(),
            kind,
            name: name.to_string(),
            index: share.x as u32,
            k,
            n,
            world_hkm: world_hkm.to_string(),
            salt: B64.encode(salt),
            iterations: KDF_ITERATIONS,
            share: String::new(),
            check: String::new(),
        };
        let key =
            card.key(pass.as_bytes(), km).ok_or_else(|| AdminError::new("card key derivation failed", "retry"))?;
        card.share = B64.encode(seal(&key, &card.aad(), &share.to_bytes())?);
        card.check = card.computed_check();
        cards.push(card);
    }
    Ok(NewSet { set: SetRef { kind, name: name.to_string(), hash, k, n, world_hkm: world_hkm.to_string() }, lt, cards })
}

/// Where a set's cards live unless the user says otherwise.
pub fn default_card_dir(store: &Store, hash: &str) -> PathBuf {
    store.emu().join("cards").join(hash)
}

/// Writes a new set's card files (to `card_dir` or the default place).
pub fn write_cards(txn: &mut Txn<'_>, store: &Store, new: &NewSet, card_dir: Option<&Path>) -> AdminResult<PathBuf> {
    let dir = card_dir.map(Path::to_path_buf).unwrap_or_else(|| default_card_dir(store, &new.set.hash));
    for c in &new.cards {
        if card_dir.is_none() {
            txn.write_emu(&format!("cards/{}/{}", new.set.hash, CardFile::file_name(c.index)), &c.to_json())?;
        } else {
            txn.write_in(&dir, &CardFile::file_name(c.index), &c.to_json())?;
        }
    }
    Ok(dir)
}

/// Checks that a card directory given for a new set will not overwrite another set's cards.
pub fn check_new_card_dir(dir: &Path, n: u32) -> AdminResult<()> {
    for i in 1..=n {
        let p = dir.join(CardFile::file_name(i));
        if p.exists() {
            return fail(
                format!("card directory {} already holds a card file {}", dir.display(), p.display()),
                "use an empty --card-dir for a new card set (each set needs its own \"blank cards\")",
            );
        }
    }
    Ok(())
}

/// "Inserts" K cards of `set` (files in `card_dir`, or the default place), asks for their
/// passphrases and rebuilds the logical token. Nothing is written.
pub fn load_lt(
    store: &Store,
    set: &SetRef,
    card_dir: Option<&Path>,
    km: Option<&SecretKey32>,
    ui: &mut dyn Interaction,
) -> AdminResult<SecretKey32> {
    let dir = card_dir.map(Path::to_path_buf).unwrap_or_else(|| default_card_dir(store, &set.hash));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .map(|n| n.starts_with("card_") && n.ends_with(".json"))
                        .unwrap_or(false)
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort_by_key(|p| {
        let n =
            p.file_stem().and_then(|s| s.to_str()).and_then(|s| s.strip_prefix("card_")).and_then(|s| s.parse().ok());
        (n.unwrap_or(u32::MAX), p.clone())
    });
    let mut cards = Vec::new();
    for p in files {
        let card = read_card(&p)?;
        if card.cardset != set.hash {
            continue; // another set's card in the same directory
        }
        if card.world_hkm != set.world_hkm {
            return fail(
                format!("card {} belongs to another Security World", p.display()),
                "present a card of this world's set",
            );
        }
        cards.push((p, card));
    }
    if cards.len() < set.k as usize {
        return fail(
            format!(
                "{} needs {} card{}, but only {} of its cards are present in {}",
                set.describe(),
                set.k,
                if set.k == 1 { "" } else { "s" },
                cards.len(),
                dir.display()
            ),
            "insert more cards of the set: put their card files in that directory or name another with --card-dir",
        );
    }
    let presented = &cards[..set.k as usize];
    let ids: Vec<CardId> = presented.iter().map(|(_, c)| c.id()).collect();
    let max = tries::limit();
    // A locked card is named before anyone types a passphrase for it.
    if let Some(c) = ids.iter().find(|c| tries::locked(store, c, max)) {
        return Err(locked_card(set, c.index));
    }
    let mut passphrases = Vec::with_capacity(presented.len());
    for (p, card) in presented {
        passphrases.push(ui.passphrase(&format!("card {} of {} ({})", card.index, set.describe(), p.display()))?);
    }
    let cards: Vec<&CardFile> = presented.iter().map(|(_, c)| c).collect();
    let shares = open_counted(store, set, &cards, &passphrases, km)?;
    for ((p, card), share) in presented.iter().zip(&shares) {
        if share.x as u32 != card.index {
            return fail(format!("card file {} is damaged (share number mismatch)", p.display()), "use another card");
        }
    }
    rebuild_lt(set, &shares)
}

/// Opens the shares of `cards` with `passphrases`, counted: one try against every card before
/// any key derivation runs, all cleared when every share opened. Every card is tried whatever
/// the others gave, and a failure names no card, so guessing one card's passphrase alone
/// learns nothing.
pub fn open_counted(
    store: &Store,
    set: &SetRef,
    cards: &[&CardFile],
    passphrases: &[Zeroizing<String>],
    km: Option<&SecretKey32>,
) -> AdminResult<Vec<Share>> {
    let ids: Vec<CardId> = cards.iter().map(|c| c.id()).collect();
    let max = tries::limit();
    if let tries::Attempt::Locked(c) = tries::count_attempt(store, &ids, max)? {
        return Err(locked_card(set, c.index));
    }
    let opened: Vec<Option<Share>> =
        cards.iter().zip(passphrases).map(|(card, pass)| card.open_share(pass.as_bytes(), km)).collect();
    let Some(shares) = opened.into_iter().collect::<Option<Vec<Share>>>() else {
        let left = ids.iter().map(|c| max.saturating_sub(tries::failures(store, c))).min().unwrap_or(0);
        let what = if cards.len() == 1 { "the card" } else { "each card" };
        return fail(
            format!("the passphrases given did not open {} (the quorum failed)", set.describe()),
            format!(
                "retry with the right passphrase of each card; {what} presented was counted a failed try \
                 ({left} left before a card locks; nothing was changed)"
            ),
        );
    };
    tries::clear(store, &ids)?;
    Ok(shares)
}

/// The refusal of a locked card (the one time a card is named).
fn locked_card(set: &SetRef, index: u32) -> AdminError {
    AdminError::new(
        format!("card {index} of {} is locked after {} wrong passphrases", set.describe(), tries::limit()),
        match set.kind {
            SetKind::Ocs => "unlock it with the Administrator Card Set quorum (`card-reader unlock`), or present other cards of the set",
            SetKind::Acs => "present other cards of the set; with K unlocked cards, `racs` replaces the set",
        },
    )
}

/// The logical token K shares of `set` rebuild, checked against the set's hash.
fn rebuild_lt(set: &SetRef, shares: &[Share]) -> AdminResult<SecretKey32> {
    let lt_bytes = shamir::combine(shares).map_err(|_| {
        AdminError::new(format!("the cards of {} do not fit together", set.describe()), "use cards of one set")
    })?;
    if lt_bytes.len() != 32 {
        return fail(format!("the cards of {} are damaged", set.describe()), "use other cards of the set");
    }
    let mut lt = Zeroizing::new([0u8; 32]);
    lt.copy_from_slice(&lt_bytes);
    let tag: &[u8] = match set.kind {
        SetKind::Acs => b"emu-acs",
        SetKind::Ocs => b"emu-cardset",
    };
    if hash_hex(&[&lt[..], tag]) != set.hash {
        return fail(
            format!("the cards presented did not rebuild the logical token of {}", set.describe()),
            "present K cards of this very set (a card may be damaged or from an older set)",
        );
    }
    Ok(lt)
}

/// The logical token of a 1/N set from its one card, as a PKCS#11 login with the inserted card's
/// passphrase rebuilds it; `None` for a wrong passphrase, a card of another set, or a set that
/// needs more than one card.
pub fn lt_from_card(set: &SetRef, card: &CardFile, passphrase: &[u8], km: &SecretKey32) -> Option<SecretKey32> {
    if set.k != 1 || card.cardset != set.hash || card.world_hkm != set.world_hkm {
        return None;
    }
    let share = card.open_share(passphrase, Some(km))?;
    rebuild_lt(set, &[share]).ok()
}

/// Whether `lt` is the logical token of the Operator Card Set with hash `hash`.
pub fn lt_matches(hash: &str, lt: &SecretKey32) -> bool {
    hash_hex(&[&lt[..], b"emu-cardset"]) == hash
}

/// Every Operator Card Set in `local/` whose file is authentic. One that fails its integrity
/// check is not served (`find_ocs` names it).
pub fn list_ocs(store: &Store) -> AdminResult<Vec<CardSetFile>> {
    Ok(read_ocs_files(store)?.into_iter().filter_map(|(f, ok)| ok.then_some(f)).collect())
}

/// Every OCS file of `local/`, each with whether its tag checks out under the world's key.
fn read_ocs_files(store: &Store) -> AdminResult<Vec<(CardSetFile, bool)>> {
    let key = IntegrityKey::of_store(store);
    let mut out = Vec::new();
    for (name, _) in store.list(CARDSET_PREFIX)? {
        let Ok(raw) = store.read(&name) else { continue };
        if let Ok(f) = serde_json::from_slice::<CardSetFile>(&raw) {
            if f.format == CARDSET_FORMAT {
                let ok = f.file_name() == name && key.as_ref().is_some_and(|k| k.check(&name, &f, b""));
                out.push((f, ok));
            }
        }
    }
    out.sort_by(|a, b| (a.0.createtime, &a.0.hash).cmp(&(b.0.createtime, &b.0.hash)));
    Ok(out)
}

/// `local/card_<HASH>` as written: tagged under the world's module key `km`.
pub fn sealed_set_file(meta: &CardSetFile, km: &SecretKey32) -> Vec<u8> {
    IntegrityKey::from_km(km).seal(&meta.file_name(), meta, b"").0
}

/// Finds an OCS by name or hash (or unique hash prefix).
pub fn find_ocs(store: &Store, want: &str) -> AdminResult<CardSetFile> {
    let files = read_ocs_files(store)?;
    let named = |c: &CardSetFile| c.name == want || c.hash == want || (want.len() >= 6 && c.hash.starts_with(want));
    if let Some((edited, _)) = files.iter().find(|(c, ok)| !ok && named(c)) {
        return fail(
            integrity::refusal(&edited.file_name()),
            "restore it from your backup of local/ (the set is not served)",
        );
    }
    let all: Vec<CardSetFile> = files.into_iter().filter_map(|(f, ok)| ok.then_some(f)).collect();
    let hits: Vec<&CardSetFile> = all.iter().filter(|c| c.name == want || c.hash == want).collect();
    let hits = if hits.is_empty() && want.len() >= 6 {
        all.iter().filter(|c| c.hash.starts_with(want)).collect()
    } else {
        hits
    };
    match hits.as_slice() {
        [one] => Ok((*one).clone()),
        [] => fail(
            format!("there is no Operator Card Set named {want:?}"),
            "create it with `createocs -m1 -Q K/N -N <name>` or see `nfkminfo -c`",
        ),
        many => fail(
            format!(
                "{} card sets are named {want:?} ({})",
                many.len(),
                many.iter().map(|c| c.hash.as_str()).collect::<Vec<_>>().join(", ")
            ),
            "name the card set by its hash instead",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::admin::Scripted;
    use super::*;

    fn pp(v: &[&str]) -> Vec<Zeroizing<String>> {
        v.iter().map(|s| Zeroizing::new(s.to_string())).collect()
    }

    fn setup(k: u32, n: u32, km: Option<&SecretKey32>) -> (tempfile::TempDir, Store, NewSet) {
        let dir = tempfile::tempdir().unwrap();
        let st = Store::open(dir.path()).unwrap();
        let pass: Vec<String> = (1..=n).map(|i| format!("pass-{i}")).collect();
        let refs: Vec<&str> = pass.iter().map(String::as_str).collect();
        let new = make_set(SetKind::Ocs, "ops", k, n, "hkm0", km, &pp(&refs)).unwrap();
        {
            let lock = st.lock().unwrap();
            let mut txn = Txn::new(&lock);
            write_cards(&mut txn, &st, &new, None).unwrap();
            txn.commit();
        }
        (dir, st, new)
    }

    #[test]
    fn k_cards_rebuild_the_token() {
        let km = envelope::random_key().unwrap();
        let (_d, st, new) = setup(2, 3, Some(&km));
        let mut ui = Scripted::new(&["pass-1", "pass-2"]);
        let lt = load_lt(&st, &new.set, None, Some(&km), &mut ui).unwrap();
        assert_eq!(&lt[..], &new.lt[..]);
        // Without the world key, right passphrases still fail.
        let other = envelope::random_key().unwrap();
        let mut ui = Scripted::new(&["pass-1", "pass-2"]);
        assert!(load_lt(&st, &new.set, None, Some(&other), &mut ui).unwrap_err().what.contains("quorum failed"));
    }

    #[test]
    fn any_k_cards_in_a_card_dir_work_and_fewer_are_refused() {
        let (_d, st, new) = setup(3, 5, None);
        let src = default_card_dir(&st, &new.set.hash);
        for pick in [[1u32, 2, 3], [1, 3, 5], [2, 4, 5], [3, 4, 5]] {
            let cd = tempfile::tempdir().unwrap();
            for i in pick {
                std::fs::copy(src.join(CardFile::file_name(i)), cd.path().join(CardFile::file_name(i))).unwrap();
            }
            let answers: Vec<String> = pick.iter().map(|i| format!("pass-{i}")).collect();
            let refs: Vec<&str> = answers.iter().map(String::as_str).collect();
            let lt = load_lt(&st, &new.set, Some(cd.path()), None, &mut Scripted::new(&refs)).unwrap();
            assert_eq!(&lt[..], &new.lt[..], "cards {pick:?}");
            std::fs::remove_file(cd.path().join(CardFile::file_name(pick[0]))).unwrap();
            let e = load_lt(&st, &new.set, Some(cd.path()), None, &mut Scripted::new(&refs)).unwrap_err();
            assert!(e.what.contains("only 2 of its cards"), "{e}");
        }
    }

    #[test]
    fn wrong_passphrase_changes_nothing_and_damage_is_reported() {
        let (_d, st, new) = setup(2, 3, None);
        let dir = default_card_dir(&st, &new.set.hash);
        let before: Vec<Vec<u8>> = (1..=3).map(|i| std::fs::read(dir.join(CardFile::file_name(i))).unwrap()).collect();
        let e = load_lt(&st, &new.set, None, None, &mut Scripted::new(&["pass-1", "nope"])).unwrap_err();
        assert!(e.what.contains("the quorum failed") && !e.what.contains("card 2"), "{e}");
        let after: Vec<Vec<u8>> = (1..=3).map(|i| std::fs::read(dir.join(CardFile::file_name(i))).unwrap()).collect();
        assert_eq!(before, after);
        // Flip one character of card 1's sealed share: reported as damaged, not as a bad passphrase.
        let p = dir.join(CardFile::file_name(1));
        let mut card: CardFile = serde_json::from_slice(&before[0]).unwrap();
        let mut s = card.share.into_bytes();
        s[10] = if s[10] == b'A' { b'B' } else { b'A' };
        card.share = String::from_utf8(s).unwrap();
        std::fs::write(&p, serde_json::to_vec(&card).unwrap()).unwrap();
        let e = load_lt(&st, &new.set, None, None, &mut Scripted::new(&["pass-1", "pass-2"])).unwrap_err();
        assert!(e.what.contains("damaged"), "{e}");
        std::fs::write(&p, b"{garbage").unwrap();
        let e = load_lt(&st, &new.set, None, None, &mut Scripted::new(&["pass-1", "pass-2"])).unwrap_err();
        assert!(e.what.contains("damaged"), "{e}");
    }

    #[test]
    fn quorum_parsing() {
        assert_eq!(parse_quorum("2/3", "ACS").unwrap(), (2, 3));
        assert!(parse_quorum("4/3", "ACS").unwrap_err().what.contains("K > N"));
        assert!(parse_quorum("0/3", "ACS").is_err());
        assert!(parse_quorum("2", "ACS").is_err());
        assert!(parse_quorum("1/65", "ACS").is_err());
    }
}
