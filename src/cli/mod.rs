//! The `shieldhsm` command-line tool: nShield's administration utilities against the emulated
//! module. One binary; it runs as the tool named by its argv[0] basename (so symlinks made by
//! `shieldhsm install-links DIR` named `new-world`, `generatekey`, ... run as written in vendor
//! documentation), or as `shieldhsm <tool> ...`.
//!
//! Every failure prints one line, `<tool>: error: <what> — <what to do>`, on stderr and exits 1;
//! commands check everything (and collect every passphrase) before their first write.

/// `println!` that ignores a closed stdout (`nfkminfo | head`) instead of panicking.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

mod admin_cmds;
mod args;
mod byok_cmds;
mod ck;
mod info;
mod keygen_cmds;
mod keyvault;
mod nfast_home;
mod preload;
mod ps_args;
mod reader_cmds;
mod replace_cmds;
mod ui;

use shieldhsm::module::admin::{AdminError, AdminResult};
use shieldhsm::module::store::{default_dir, Store};

/// The tools, with a one-line description each.
pub const TOOLS: [(&str, &str); 26] = [
    ("enquiry", "list the emulated modules: ESN, mode, firmware"),
    ("hsm-mode", "set a module's mode switch: hsm-mode -m 1 I|O"),
    ("new-world", "create a Security World (--initialize) or load it onto a module (-l)"),
    ("createocs", "create an Operator Card Set: createocs -m1 -Q K/N -N <name>"),
    ("ppmk", "create a softcard: ppmk --new <name>"),
    ("rocs", "replace a lost Operator Card Set (ACS quorum): rocs -l LOST -Q K/N -N NEWNAME"),
    ("racs", "replace the Administrator Card Set (its quorum): racs -Q K/N"),
    ("generatekey", "generate a key: generatekey --generate <app> type=... ident=..."),
    ("nfkminfo", "show the world, modules, keys, card sets and softcards"),
    ("kmfile-dump", "dump a kmdata file (secrets redacted)"),
    ("aclprint", "print a key's ACL: aclprint <app> <ident>"),
    ("ckinfo", "PKCS#11 client: the library's, slots' and tokens' information (loads libshieldhsm.so)"),
    ("cklist", "PKCS#11 client: a token's objects and attributes, no key material: cklist [-p PIN]"),
    ("preload", "load a card set or key, then run a command: preload -m 1 [-c CARDSET] [-A APP -K IDENT] COMMAND..."),
    ("slotinfo", "show module 1's card reader and the card in it"),
    ("card-reader", "insert or remove an emulated card: card-reader insert -c CARDSET -n CARD | remove"),
    ("byok-toolset", "emulated BYOK toolset download: byok-toolset --region EU (emulator only)"),
    ("verifykeypackage", "check the toolset's packages: verifykeypackage -k KEKPKG -w WORLDPKG"),
    ("KeyTransferRemote", "BYOK transfer: -ModifyAcls (ACS quorum), then -Package → .byok"),
    ("byok-kek-import", "register an Azure KEK: byok-kek-import --pem KEK.pem --kid KID"),
    ("byok-test-kek", "make a local test KEK (testing only): byok-test-kek --out PRIV --pub PUB"),
    ("byok-verify", "check a .byok offline: byok-verify FILE.byok --kek-private PEM | --region R"),
    ("Add-AzureKeyVaultKey", "emulated Key Vault import: -VaultName V -Name N -KeyFilePath F.byok -Destination HSM"),
    ("add-module", "plug in another emulated module (emulator only)"),
    ("install-links", "tool-named symlinks: install-links DIR, or an NFAST_HOME: install-links --nfast-home DIR"),
    ("help", "this list"),
];

/// Names `install-links` creates (the tools above, plus names later issues will serve).
pub const LINK_NAMES: [&str; 22] = [
    "new-world",
    "generatekey",
    "nfkminfo",
    "enquiry",
    "hsm-mode",
    "createocs",
    "ppmk",
    "kmfile-dump",
    "aclprint",
    "preload",
    "slotinfo",
    "KeyTransferRemote",
    "verifykeypackage",
    "byok-kek-import",
    "byok-test-kek",
    "byok-toolset",
    "byok-verify",
    "Add-AzureKeyVaultKey",
    "ckinfo",
    "cklist",
    "rocs",
    "racs",
];

pub fn main() -> i32 {
    // The same security assurances as the library, relaxed by the same cknfastrc variable.
    shieldhsm::assurance::install(shieldhsm::config::Config::load().overrides);
    let argv: Vec<String> = std::env::args().collect();
    let prog = argv
        .first()
        .map(|a| std::path::Path::new(a).file_name().and_then(|n| n.to_str()).unwrap_or("shieldhsm").to_string())
        .unwrap_or_else(|| "shieldhsm".into());
    let prog = prog.strip_suffix(".exe").unwrap_or(&prog).to_string();
    if prog == "python" {
        return nfast_home::python(&argv[1..]);
    }
    let (tool, rest) = if TOOLS.iter().any(|(t, _)| *t == prog) || LINK_NAMES.contains(&prog.as_str()) {
        (prog, argv[1..].to_vec())
    } else {
        match argv.get(1) {
            None => {
                print_help();
                return 0;
            }
            Some(t) if t == "--help" || t == "-h" => {
                print_help();
                return 0;
            }
            Some(t) if t == "--version" || t == "-V" => {
                out!("shieldhsm {}", env!("CARGO_PKG_VERSION"));
                return 0;
            }
            Some(t) => (t.clone(), argv[2..].to_vec()),
        }
    };
    run_tool(&tool, &rest)
}

/// Runs one tool; prints its error line and returns the exit status.
pub fn run_tool(tool: &str, args: &[String]) -> i32 {
    match run(tool, args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{tool}: error: {e}");
            1
        }
    }
}

fn print_help() {
    out!("shieldhsm {} — emulated nShield HSM administration (not Entrust software)", env!("CARGO_PKG_VERSION"));
    out!("usage: shieldhsm <tool> [options]   (or run a symlink named after the tool)\n");
    for (t, d) in TOOLS {
        out!("  {t:<18} {d}");
    }
    out!("\nData directory: $SHIELDHSM_KMDATA, else $NFAST_KMDATA, else ~/.local/share/shieldhsm/kmdata.");
    out!("Passphrases: from the terminal, or one per line from $SHIELDHSM_PASSPHRASE_FILE / --passphrase-file.");
}

fn run(tool: &str, args: &[String]) -> AdminResult<()> {
    match tool {
        "enquiry" => admin_cmds::enquiry(tool, args),
        "hsm-mode" => admin_cmds::hsm_mode(tool, args),
        "new-world" => admin_cmds::new_world(tool, args),
        "createocs" => admin_cmds::createocs(tool, args),
        "ppmk" => admin_cmds::ppmk(tool, args),
        "generatekey" => keygen_cmds::generatekey(tool, args),
        "add-module" => admin_cmds::add_module(tool, args),
        "install-links" => nfast_home::install_links(tool, args),
        "preload" => preload::preload(tool, args),
        "slotinfo" => reader_cmds::slotinfo(tool, args),
        "card-reader" => reader_cmds::card_reader(tool, args),
        "rocs" => replace_cmds::rocs(tool, args),
        "racs" => replace_cmds::racs(tool, args),
        "ckinfo" => ck::ckinfo(tool, args),
        "cklist" => ck::cklist(tool, args),
        "Add-AzureKeyVaultKey" => keyvault::add_azure_key_vault_key(tool, args),
        "nfkminfo" => info::nfkminfo(tool, args),
        "kmfile-dump" => info::kmfile_dump(tool, args),
        "aclprint" => info::aclprint(tool, args),
        "byok-toolset" => byok_cmds::byok_toolset(tool, args),
        "verifykeypackage" => byok_cmds::verifykeypackage(tool, args),
        "KeyTransferRemote" => byok_cmds::key_transfer_remote(tool, args),
        "byok-kek-import" => byok_cmds::byok_kek_import(tool, args),
        "byok-test-kek" => byok_cmds::byok_test_kek(tool, args),
        "byok-verify" => byok_cmds::byok_verify(tool, args),
        "help" => {
            print_help();
            Ok(())
        }
        other => {
            Err(AdminError::new(format!("unknown command {other:?}"), "run `shieldhsm help` for the list of commands"))
        }
    }
}

/// The data directory's store.
pub fn open_store() -> AdminResult<Store> {
    let dir = default_dir();
    Store::open(&dir).map_err(|e| {
        AdminError::new(
            format!("cannot open the data directory {} ({e})", dir.display()),
            "check SHIELDHSM_KMDATA / NFAST_KMDATA and the directory's permissions",
        )
    })
}

/// Prints a command's usage when asked (`-h`/`--help`); true if it did.
pub fn help_if_asked(p: &args::Parsed, usage: &str) -> bool {
    if p.has("help") {
        out!("{usage}");
        return true;
    }
    false
}

/// Refuses positional arguments a command does not take.
pub fn no_extra(p: &args::Parsed, allowed: usize, tool: &str) -> AdminResult<()> {
    if p.pos.len() > allowed {
        return Err(AdminError::new(
            format!("unexpected argument {:?}", p.pos[allowed]),
            format!("see `{tool} --help`"),
        ));
    }
    Ok(())
}
