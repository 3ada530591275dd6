//! `racs` and `rocs`: replacing a lost Administrator or Operator Card Set (module layer:
//! `module::replace`). nShield's tools ask interactively; these take their answers as options,
//! with passphrases from the terminal or --passphrase-file (current ACS cards first, then the new
//! set's cards).

use super::args::{self, alias, flag, valued};
use super::ui::Ui;
use super::{help_if_asked, no_extra, open_store};
use shieldhsm::module::admin::{AdminError, AdminResult};
use shieldhsm::module::cardset;
use shieldhsm::module::replace;
use shieldhsm::module::tokens::NewOcsParams;
use std::path::PathBuf;

const RACS_USAGE: &str = "usage: racs [-m N] -Q K/N [--old-card-dir DIR] [--card-dir DIR]\n  \
Replaces the Administrator Card Set: K cards of the current ACS (from --old-card-dir, else where\n  \
new-world put them) make a new K/N set (cards into --card-dir, else the default place). The world's\n  \
secrets are sealed again under the new set: the old cards stop working.";

pub fn racs(tool: &str, a: &[String]) -> AdminResult<()> {
    let opts = [
        valued("module", Some('m')),
        alias(valued("acs-quorum", Some('Q')), &["quorum"]),
        valued("old-card-dir", None),
    ];
    let p = args::parse(a, &opts, tool)?;
    if help_if_asked(&p, RACS_USAGE) {
        return Ok(());
    }
    no_extra(&p, 0, tool)?;
    args::module_number(p.value("module"), tool)?;
    let q = p.value("acs-quorum").ok_or_else(|| {
        AdminError::new("no quorum given for the new set", format!("add -Q K/N, e.g. `{tool} -m1 -Q 2/3`"))
    })?;
    let kn = cardset::parse_quorum(q, "the new Administrator Card Set")?;
    let old = p.value("old-card-dir").map(PathBuf::from);
    let new = p.value("card-dir").map(PathBuf::from);
    let mut ui = Ui::new(p.value("passphrase-file"))?;
    let store = open_store()?;
    let (w, dir) = replace::replace_acs(&store, kn, old.as_deref(), new.as_deref(), &mut ui)?;
    out!("Administrator Card Set replaced: new set {}/{} ({})", w.acs_k, w.acs_n, w.acs_hash);
    out!(" cards      {}", dir.display());
    out!("The cards of the old set no longer open this world; erase or destroy them.");
    Ok(())
}

const ROCS_USAGE: &str =
    "usage: rocs [-m N] -l LOST -Q K/N -N NEWNAME [-p] [-T TIMEOUT] [--acs-card-dir DIR] [--card-dir DIR]\n  \
Replaces a lost Operator Card Set: with the Administrator Card Set's quorum, every recoverable key of\n  \
card set LOST (name or hash) is protected again by a new K/N set NEWNAME. Keys made with recovery=no\n  \
stay with the lost set. The lost set's cards no longer open the recovered keys.";

pub fn rocs(tool: &str, a: &[String]) -> AdminResult<()> {
    let opts = [
        valued("module", Some('m')),
        alias(valued("lost", Some('l')), &["from"]),
        alias(valued("ocs-quorum", Some('Q')), &["quorum"]),
        alias(valued("name", Some('N')), &["cardname"]),
        alias(flag("persist", Some('p')), &["persistent"]),
        valued("timeout", Some('T')),
        valued("acs-card-dir", None),
    ];
    let p = args::parse(a, &opts, tool)?;
    if help_if_asked(&p, ROCS_USAGE) {
        return Ok(());
    }
    no_extra(&p, 0, tool)?;
    let need = |k: &str, flag: &str| {
        p.value(k).ok_or_else(|| {
            AdminError::new(format!("{flag} is missing"), format!("e.g. `{tool} -m1 -l lostset -Q 1/2 -N newset`"))
        })
    };
    let lost = need("lost", "-l LOST (the lost card set)")?.to_string();
    let name = need("name", "-N NEWNAME")?.to_string();
    let (k, n) = cardset::parse_quorum(need("ocs-quorum", "-Q K/N")?, "the new Operator Card Set")?;
    let timeout = p.value("timeout").map(|t| args::duration_secs(t, "-T")).transpose()?.filter(|t| *t > 0);
    let module = args::module_number(p.value("module"), tool)?;
    let params = NewOcsParams {
        name,
        k,
        n,
        persistent: p.has("persist"),
        timeout,
        module,
        card_dir: p.value("card-dir").map(PathBuf::from),
    };
    let acs = p.value("acs-card-dir").map(PathBuf::from);
    let mut ui = Ui::new(p.value("passphrase-file"))?;
    let store = open_store()?;
    let r = replace::replace_ocs(&store, &lost, &params, acs.as_deref(), &mut ui)?;
    out!("Operator Card Set \"{}\" made to replace \"{lost}\": {}/{} cards", r.set.name, r.set.k, r.set.n);
    out!(" hash       {}", r.set.hash);
    out!(" cards      {}", r.card_dir.display());
    out!("Recovered keys ({}):", r.recovered.len());
    for f in &r.recovered {
        out!(" {f}");
    }
    if !r.left.is_empty() {
        out!("Not recoverable, still with the lost set ({}):", r.left.len());
        for f in &r.left {
            out!(" {f}");
        }
    }
    Ok(())
}
