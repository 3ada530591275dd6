//! Module #1's emulated card reader: `slotinfo` shows what is in it, `card-reader` (emulator
//! only: a real reader takes a real card) inserts and removes a card. Card-set tokens in
//! PKCS#11 appear and go with the card (see the README's "Card-set tokens").

use super::args::{self, valued};
use super::ui::Ui;
use super::{help_if_asked, no_extra, open_store};
use shieldhsm::module::admin::{AdminError, AdminResult, Interaction};
use shieldhsm::module::cardset::{self, CardFile};
use shieldhsm::module::reader;
use shieldhsm::module::store::Store;
use shieldhsm::module::world;
use std::path::PathBuf;

const SLOTINFO_USAGE: &str = "usage: slotinfo [-m 1]\n  Shows module 1's card reader (slot 0) and the card in it.";

const READER_USAGE: &str = "usage: card-reader insert -c CARDSET -n CARD [--card-dir DIR]\n       \
card-reader remove\n       card-reader status\n       \
card-reader unlock -c CARDSET -n CARD [--card-dir DIR]\n  \
Inserts card CARD (its number in the set) of Operator Card Set CARDSET into module 1's emulated\n  \
reader, taking its card file from the set's card directory or DIR; `remove` takes it out;\n  \
`unlock` clears a card's count of wrong passphrases at PKCS#11 logins (asks its passphrase).\n  \
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
    let p = args::parse(a, &[valued("cardset", Some('c')), valued("card", Some('n'))], tool)?;
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
            let op = world::operational(&store, 1, "card-reader")?;
            let mut ui = Ui::new(p.value("passphrase-file"))?;
            let pass = ui.passphrase(&format!("card {} of \"{}\"", card.index, card.name))?;
            if card.open_share(pass.as_bytes(), Some(&op.km)).is_none() {
                return Err(AdminError::new(
                    format!("wrong passphrase for card {} of \"{}\"", card.index, card.name),
                    "retry with that card's passphrase (nothing was changed)",
                ));
            }
            reader::record_login(&store, &card, true)?;
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
