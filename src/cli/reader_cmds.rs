//! Module #1's emulated card reader: `slotinfo` shows what is in it, `card-reader` (emulator
//! only: a real reader takes a real card) inserts and removes a card. Card-set tokens in
//! PKCS#11 appear and go with the card (see the README's "Card-set tokens").

use super::args::{self, valued};
use super::ui::Ui;
use super::{help_if_asked, no_extra, open_store};
use shieldhsm::module::admin::{AdminError, AdminResult, Interaction};
use shieldhsm::module::cardset::{self, CardFile};
use shieldhsm::module::store::Store;
use shieldhsm::module::world;
use shieldhsm::module::{reader, tries};
use std::path::{Path, PathBuf};

const SLOTINFO_USAGE: &str = "usage: slotinfo [-m 1]\n  Shows module 1's card reader (slot 0) and the card in it.";

const READER_USAGE: &str = "usage: card-reader insert -c CARDSET -n CARD [--card-dir DIR]\n       \
card-reader remove\n       card-reader status\n       \
card-reader unlock -c CARDSET -n CARD [--card-dir DIR] [--acs-card-dir DIR]\n  \
Inserts card CARD (its number in the set) of Operator Card Set CARDSET into module 1's emulated\n  \
reader, taking its card file from the set's card directory or DIR; `remove` takes it out;\n  \
`unlock` clears a card's count of wrong passphrases: with its passphrase (a counted try) while it\n  \
is not locked, with the Administrator Card Set quorum once it is.\n  \
(Emulator only: inserting a card is having its card file in the reader.)";

fn describe(store: &Store, card: &CardFile) -> String {
    let name = cardset::find_ocs(store, &card.cardset).map(|s| s.name).unwrap_or_else(|_| card.name.clone());
    format!("card {} of Operator Card Set \"{name}\" ({}/{}, hash {})", card.index, card.k, card.n, card.cardset)
}

/// What module 1's reader holds, in words (`slotinfo`, `nfkminfo`).
pub(super) fn contents(store: &Store) -> String {
    match reader::state(store).card {
        Some(card) => describe(store, &card),
        None => "empty".into(),
    }
}

fn show(store: &Store) {
    out!(" Slot 0  card reader   {}", contents(store));
}

pub fn slotinfo(tool: &str, a: &[String]) -> AdminResult<()> {
    let p = args::parse(a, &[valued("module", Some('m'))], tool)?;
    if help_if_asked(&p, SLOTINFO_USAGE) {
        return Ok(());
    }
    no_extra(&p, 0, tool)?;
    let module = args::module_number(p.value("module"), tool)?;
    if module != 1 {
        return Err(AdminError::new(format!("module {module} has no emulated card reader"), "use -m 1"));
    }
    let store = open_store()?;
    out!("Module #1 slots:");
    show(&store);
    Ok(())
}

/// The card file `-c CARDSET -n CARD [--card-dir DIR]` names.
fn card_path(store: &Store, p: &args::Parsed, tool: &str, action: &str) -> AdminResult<PathBuf> {
    let want = p.value("cardset").ok_or_else(|| {
        AdminError::new("no card set given", format!("add -c <name>, e.g. `{tool} {action} -c operators -n 1`"))
    })?;
    let index: u32 = p.value("card").and_then(|n| n.parse().ok()).ok_or_else(|| {
        AdminError::new("no card number given", format!("add -n <number>, e.g. `{tool} {action} -c {want} -n 1`"))
    })?;
    let set = cardset::find_ocs(store, want)?;
    let dir = p.value("card-dir").map(PathBuf::from).unwrap_or_else(|| cardset::default_card_dir(store, &set.hash));
    let path = dir.join(CardFile::file_name(index));
    if !path.exists() {
        return Err(AdminError::new(
            format!("card {index} of \"{}\" is not in {}", set.name, dir.display()),
            format!("name the directory holding its card file with --card-dir (the set has cards 1 to {})", set.n),
        ));
    }
    Ok(path)
}

pub fn card_reader(tool: &str, a: &[String]) -> AdminResult<()> {
    let p =
        args::parse(a, &[valued("cardset", Some('c')), valued("card", Some('n')), valued("acs-card-dir", None)], tool)?;
    if help_if_asked(&p, READER_USAGE) {
        return Ok(());
    }
    no_extra(&p, 1, tool)?;
    let store = open_store()?;
    match p.pos.first().map(String::as_str) {
        Some("insert") => {
            let path = card_path(&store, &p, tool, "insert")?;
            let card = reader::insert(&store, &path)?;
            out!("Inserted {}", describe(&store, &card));
        }
        Some("unlock") => {
            let path = card_path(&store, &p, tool, "unlock")?;
            let card = cardset::read_card(&path)?;
            let set = cardset::find_ocs(&store, &card.cardset)?.set_ref();
            let op = world::operational(&store, 1, "card-reader unlock")?;
            let mut ui = Ui::new(p.value("passphrase-file"))?;
            let id = card.id();
            if tries::locked(&store, &id, tries::limit()) {
                // Its own passphrase can no longer be tried: the administrators vouch for the
                // holder, as for any trump operation (the ACS cards' own tries count too).
                out!("Card {} is locked: the Administrator Card Set quorum clears it", card.index);
                world::load_acs(&store, &op.world, p.value("acs-card-dir").map(Path::new), &mut ui)?;
                tries::clear(&store, &[id])?;
            } else {
                // Counted like every other check of the card's passphrase.
                let pass = ui.passphrase(&format!("card {} of \"{}\"", card.index, card.name))?;
                cardset::open_counted(&store, &set, &[&card], &[pass], Some(&op.km))?;
            }
            out!("Unlocked {}", describe(&store, &card));
        }
        Some("remove") => match reader::remove(&store)? {
            Some(card) => out!("Removed {}", describe(&store, &card)),
            None => out!("The reader was empty"),
        },
        Some("status") | None => show(&store),
        Some(other) => {
            return Err(AdminError::new(
                format!("unknown action {other:?}"),
                format!("use insert, remove, unlock or status; see `{tool} --help`"),
            ))
        }
    }
    Ok(())
}
