//! `preload`: loads keys or a card set into the module, then runs a command that uses them, as
//! nShield's `preload -m 1 [-c CARDSET] [-A APP -K IDENT] COMMAND...` does. The seed runs
//! `preload -m 1 -A xferacld -K contosokey python aclprint.py` to show the transfer copy's ACL.
//!
//! What the module holds is named in a tokens file that the command finds through
//! `NFAST_NFKM_TOKENSFILE`, nShield's own variable (`module::loaded` has its format and how a
//! card set is handed over without its secret in the environment or in a named file). `-c`
//! collects K cards of the set (their files in the set's card directory or `--card-dir`, one
//! passphrase each), and runs the command with `CKNFAST_CARDSET_HASH` and `CKNFAST_LOADSHARING=1`
//! set, so its PKCS#11 library shows the set as a loaded token. Module-protected keys load
//! without help; a key behind a card set loads with `-c`; softcard keys are refused (PKCS#11
//! logs in to a softcard with its passphrase).

use super::args;
use super::open_store;
use super::ui::Ui;
use shieldhsm::module::admin::{AdminError, AdminResult, Scripted};
use shieldhsm::module::cardset;
use shieldhsm::module::keygen;
use shieldhsm::module::loaded::{self, TokensFile, TOKENS_ENV};
use shieldhsm::module::store::read_checked;
use shieldhsm::module::world;
use shieldhsm::object::stored::{self, Protection};
use std::path::{Path, PathBuf};

const USAGE: &str = "usage: preload [-m N] [-c CARDSET [--card-dir DIR]] [-A APP -K IDENT] COMMAND [ARGS...]\n  \
Loads card set CARDSET (K of its cards, one passphrase each) and/or module-protected key APP\n  \
IDENT into module N (default 1), then runs COMMAND with NFAST_NFKM_TOKENSFILE naming what is\n  \
loaded: its PKCS#11 sessions see the card set as a loaded token (any PIN logs in), and aclprint\n  \
with no key arguments prints the loaded key's ACL.";

fn err(what: impl Into<String>, todo: impl Into<String>) -> AdminError {
    AdminError::new(what, todo)
}

#[derive(Default)]
struct Options {
    module: Option<String>,
    app: Option<String>,
    ident: Option<String>,
    cardset: Option<String>,
    card_dir: Option<String>,
    passphrase_file: Option<String>,
}

/// Options come first; the first word that is not one starts the command.
fn parse(tool: &str, a: &[String]) -> AdminResult<Option<(Options, Vec<String>)>> {
    let mut o = Options::default();
    let mut i = 0;
    while i < a.len() && a[i].starts_with('-') {
        let (name, inline) = match a[i].split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (a[i].clone(), None),
        };
        i += 1;
        if name == "--" {
            break;
        }
        if name == "-h" || name == "--help" {
            out!("{USAGE}");
            return Ok(None);
        }
        let slot = match name.as_str() {
            "-m" | "--module" => &mut o.module,
            "-A" | "--appname" => &mut o.app,
            "-K" | "--ident" => &mut o.ident,
            "-c" | "--cardset" => &mut o.cardset,
            "--card-dir" => &mut o.card_dir,
            "--passphrase-file" => &mut o.passphrase_file,
            _ => return Err(err(format!("unknown option {name}"), format!("see `{tool} --help`"))),
        };
        let value = match inline {
            Some(v) => v,
            None if i < a.len() => {
                i += 1;
                a[i - 1].clone()
            }
            None => return Err(err(format!("{name} needs a value"), format!("see `{tool} --help`"))),
        };
        *slot = Some(value);
    }
    Ok(Some((o, a[i..].to_vec())))
}

pub fn preload(tool: &str, a: &[String]) -> AdminResult<()> {
    let Some((o, command)) = parse(tool, a)? else { return Ok(()) };
    let key = match (o.app, o.ident) {
        (Some(app), Some(ident)) => Some((app, ident)),
        (None, None) if o.cardset.is_some() => None,
        _ => {
            return Err(err(
                "no key or card set given",
                format!("e.g. `{tool} -m 1 -A xferacld -K contosokey aclprint` or `{tool} -c operators <command>`"),
            ))
        }
    };
    if command.is_empty() {
        return Err(err("no command given", "add the command that uses the key, e.g. `python aclprint.py`"));
    }
    let module = args::module_number(o.module.as_deref(), tool)?;
    let store = open_store()?;
    let op = world::operational(&store, module, "preload")?;
    let mut tokens = TokensFile::new(&op.world.hkm, module);
    // The hand-over descriptor stays open (and so inherited) until the command has ended.
    let mut handover = None;
    let mut env: Vec<(&str, String)> = Vec::new();
    let mut set_lt = None;
    if let Some(want) = &o.cardset {
        let set = cardset::find_ocs(&store, want)?;
        if set.world_hkm != op.world.hkm {
            return Err(err(
                format!("card set {:?} belongs to another Security World", set.name),
                "use one of this world",
            ));
        }
        let mut ui = Ui::new(o.passphrase_file.as_deref())?;
        let card_dir = o.card_dir.as_deref().map(Path::new);
        let lt = cardset::load_lt(&store, &set.set_ref(), card_dir, Some(&op.km), &mut ui)?;
        let (fd, loaded_set) = loaded::hand_over(&set.hash, &set.name, &lt)?;
        handover = Some(fd);
        tokens.cardset = Some(loaded_set);
        env.push(("CKNFAST_CARDSET_HASH", set.hash.clone()));
        env.push(("CKNFAST_LOADSHARING", "1".into()));
        set_lt = Some((set.hash.clone(), lt));
        eprintln!("{tool}: loaded {} for the command", set.set_ref().describe());
    }
    if let Some((app, ident)) = key {
        let file = keygen::key_file_name(&app, &ident);
        let damaged = || err(format!("key file local/{file} is damaged"), "restore it from your backup");
        let raw = if store.exists(&file) { Some(store.read(&file)?) } else { None };
        let header = raw.as_deref().map(stored::peek_file).transpose().map_err(|_| damaged())?;
        // Loading is opening the blob: a key that does not load stops here.
        match (header, &set_lt, &raw) {
            (Some((Protection::Token, owner)), Some((hash, lt)), Some(raw)) if owner == *hash => {
                stored::open_file(&file, raw, lt).map_err(|_| damaged())?;
            }
            (Some((Protection::Token, _)), _, _) => {
                return Err(err(
                    format!("key {app} {ident} is protected by a card set or softcard that is not loaded"),
                    "load its card set with -c <name>; softcard keys are used through PKCS#11 with the passphrase",
                ))
            }
            _ => {
                keygen::open_key(&store, &op, &app, &ident, None, &mut Scripted::new(&[]))?;
            }
        }
        tokens.keys.push((app, ident));
    }
    let path = loaded::write_tokens_file(&tokens)?;
    let status = std::process::Command::new(&command[0]).args(&command[1..]).envs(env).env(TOKENS_ENV, &path).status();
    let _ = std::fs::remove_file(&path);
    drop(handover);
    let status = status.map_err(|e| err(format!("cannot run {} ({e})", command[0]), "check the command and PATH"))?;
    match status.code() {
        Some(0) => Ok(()),
        // The command has said what went wrong; preload passes its status on, as nShield's does.
        Some(code) => std::process::exit(code),
        None => Err(err(format!("{} was killed by a signal", command[0]), "see what it printed")),
    }
}

/// Whether this process runs under `preload`.
pub fn active() -> bool {
    std::env::var_os(TOKENS_ENV).is_some()
}

/// The keys `preload` loaded for this process, checked against this data directory's world.
pub fn loaded_keys() -> AdminResult<Vec<(String, String)>> {
    let path = std::env::var_os(TOKENS_ENV).map(PathBuf::from).unwrap_or_default();
    let bad = |why: &str| err(format!("{TOKENS_ENV}={} {why}", path.display()), "run the command under preload");
    let raw = read_checked(Path::new(&path)).map_err(|_| bad("cannot be read"))?;
    let t: TokensFile = serde_json::from_slice(&raw).map_err(|_| bad("is not a preload tokens file"))?;
    let store = open_store()?;
    let op = world::operational(&store, t.module, "aclprint")?;
    if op.world.hkm != t.hkm {
        return Err(bad("names another Security World"));
    }
    Ok(t.keys)
}
