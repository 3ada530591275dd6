//! `preload`: loads keys into the module, then runs a command that uses them, as nShield's
//! `preload -m 1 -A APP -K IDENT COMMAND...` does. The seed runs
//! `preload -m 1 -A xferacld -K contosokey python aclprint.py` to show the transfer copy's ACL.
//!
//! What the module holds is named in a tokens file that the command finds through
//! `NFAST_NFKM_TOKENSFILE`, nShield's own variable: one JSON document naming the world, the module
//! and the keys, never key material. The file is owner-only, made fresh for each run and removed
//! when the command ends. Module-protected keys load without help; keys behind card sets or
//! softcards are refused here (their preload comes with card-set support through PKCS#11).

use super::args;
use super::open_store;
use serde::{Deserialize, Serialize};
use shieldhsm::module::admin::{AdminError, AdminResult, Scripted};
use shieldhsm::module::keygen;
use shieldhsm::module::store::read_checked;
use shieldhsm::module::world;
use shieldhsm::object::stored::{self, Protection};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub const TOKENS_ENV: &str = "NFAST_NFKM_TOKENSFILE";
const FORMAT: &str = "shieldhsm/preload/1";

#[derive(Serialize, Deserialize)]
struct TokensFile {
    format: String,
    hkm: String,
    module: u32,
    keys: Vec<(String, String)>,
}

const USAGE: &str = "usage: preload [-m N] -A APP -K IDENT COMMAND [ARGS...]\n  \
Loads module-protected key APP IDENT into module N (default 1), then runs COMMAND with\n  \
NFAST_NFKM_TOKENSFILE naming what is loaded (aclprint with no key arguments prints its ACL).";

fn err(what: impl Into<String>, todo: impl Into<String>) -> AdminError {
    AdminError::new(what, todo)
}

pub fn preload(tool: &str, a: &[String]) -> AdminResult<()> {
    let (mut module, mut app, mut ident) = (None, None, None);
    let mut i = 0;
    // Options come first; the first word that is not one starts the command.
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
            return Ok(());
        }
        let slot = match name.as_str() {
            "-m" | "--module" => &mut module,
            "-A" | "--appname" => &mut app,
            "-K" | "--ident" => &mut ident,
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
    let command = &a[i..];
    let (Some(app), Some(ident)) = (app, ident) else {
        return Err(err("no key given", format!("e.g. `{tool} -m 1 -A xferacld -K contosokey aclprint`")));
    };
    if command.is_empty() {
        return Err(err("no command given", "add the command that uses the key, e.g. `python aclprint.py`"));
    }
    let module = args::module_number(module.as_deref(), tool)?;
    let store = open_store()?;
    let op = world::operational(&store, module, "preload")?;
    let file = keygen::key_file_name(&app, &ident);
    if store.exists(&file) {
        let (protection, _) = stored::peek_file(&store.read(&file)?)
            .map_err(|_| err(format!("key file local/{file} is damaged"), "restore it from your backup"))?;
        if protection == Protection::Token {
            return Err(err(
                format!("key {app} {ident} is protected by a card set or softcard"),
                "this preload loads module-protected keys; use the key's own tool with its passphrase",
            ));
        }
    }
    // Loading is opening the blob under the module's world key: a key that does not load stops here.
    keygen::open_key(&store, &op, &app, &ident, None, &mut Scripted::new(&[]))?;
    let tokens = TokensFile { format: FORMAT.into(), hkm: op.world.hkm.clone(), module, keys: vec![(app, ident)] };
    let path = write_tokens_file(&tokens)?;
    let status = std::process::Command::new(&command[0]).args(&command[1..]).env(TOKENS_ENV, &path).status();
    let _ = std::fs::remove_file(&path);
    let status = status.map_err(|e| err(format!("cannot run {} ({e})", command[0]), "check the command and PATH"))?;
    match status.code() {
        Some(0) => Ok(()),
        // The command has said what went wrong; preload passes its status on, as nShield's does.
        Some(code) => std::process::exit(code),
        None => Err(err(format!("{} was killed by a signal", command[0]), "see what it printed")),
    }
}

fn write_tokens_file(t: &TokensFile) -> AdminResult<PathBuf> {
    let json = serde_json::to_vec_pretty(t).map_err(|e| err(e.to_string(), "report this"))?;
    let mut name = [0u8; 8];
    aws_lc_rs::rand::fill(&mut name).map_err(|_| err("no randomness available", "retry"))?;
    let path = std::env::temp_dir().join(format!("shieldhsm-preload-{}.json", hex::encode(name)));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|e| err(format!("cannot create {} ({e})", path.display()), "check TMPDIR"))?;
    f.write_all(&json)?;
    Ok(path)
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
    if t.format != FORMAT {
        return Err(bad("is not a preload tokens file"));
    }
    let store = open_store()?;
    let op = world::operational(&store, t.module, "aclprint")?;
    if op.world.hkm != t.hkm {
        return Err(bad("names another Security World"));
    }
    Ok(t.keys)
}
