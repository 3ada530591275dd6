//! Library configuration in nShield's terms: `cknfastrc` (`$NFAST_HOME/cknfastrc`, default
//! `/opt/nfast/cknfastrc`, lines `VAR=value`) overridden by the environment, read once at
//! `C_Initialize`. Booleans are `1/0/Y/N` (any case), as nShield documents.
//!
//! A leaf beside [`crate::assurance`] (its only dependency): the token reads all of it, the
//! `shieldhsm` tool only the assurance overrides, so neither reaches into the other.

use std::collections::HashMap;

#[derive(Clone, Debug, Default)]
pub struct Config {
    /// `CKNFAST_NO_ACCELERATOR_SLOTS`: hide the module ("accelerator") slot.
    pub no_accelerator_slots: bool,
    /// `CKNFAST_FAKE_ACCELERATOR_LOGIN`: `C_Login` on the module slot succeeds with any PIN, for
    /// applications that insist on logging in before using module-protected keys.
    pub fake_accelerator_login: bool,
    /// `CKNFAST_LOADSHARING`: only the load-sharing slot model is emulated; a value of 0 is
    /// accepted and reported in the debug log.
    pub loadsharing: bool,
    /// `CKNFAST_DEBUG` > 0: write a line per notable event to `CKNFAST_DEBUGFILE` (or stderr).
    pub debug: u32,
    pub debug_file: Option<String>,
    /// `CKNFAST_OVERRIDE_SECURITY_ASSURANCES`: the SAM classes relaxed for legacy applications.
    pub overrides: crate::assurance::Overrides,
    /// `CKNFAST_ASSURANCE_LOG`: a file that receives every assurance line (also with no debug).
    pub assurance_log: Option<String>,
    /// `SHIELDHSM_MODULE_SLOT_FIRST` (ours, not nShield's): list slots in slot-id order, the
    /// module slot first, for configurations that pick a slot by its position in
    /// `C_GetSlotList` (Java SunPKCS11's `slotListIndex`). By default login tokens come first
    /// (see `Library::slot_ids`). Slot ids never change either way.
    pub module_slot_first: bool,
    /// `CKNFAST_CARDSET_HASH`: only this card set's token is shown (`preload -c` sets it).
    pub cardset_hash: Option<String>,
    /// `CKNFAST_NONREMOVABLE`: card removal is not checked; a loaded card-set token stays
    /// loaded, as a persistent set does.
    pub nonremovable: bool,
    /// `SHIELDHSM_PIN_MAX_TRIES` (ours): wrong card passphrases at PKCS#11 logins before a card
    /// locks; it can only lower the default of 10 (see [`Config::card_max_tries`]).
    pub pin_max_tries: Option<u32>,
    /// Variables we accept and ignore (documented cknfast knobs without an emulated effect).
    pub ignored: Vec<String>,
}

/// The emulator's own settings, read from cknfastrc and the environment like the `CKNFAST_` ones.
const OWN_VARS: &[&str] = &["SHIELDHSM_MODULE_SLOT_FIRST", "SHIELDHSM_PIN_MAX_TRIES"];

const KNOWN_IGNORED: &[&str] = &[
    "CKNFAST_ASSUME_SINGLE_PROCESS",
    "CKNFAST_CONCATENATIONKDF_X963_COMPLIANCE",
    "CKNFAST_DEBUGDIR",
    "CKNFAST_DH_LSB",
    "CKNFAST_EDDSA_PUBKEY_FORMAT",
    "CKNFAST_HSM_POOL",
    "CKNFAST_JCE_COMPATIBILITY",
    "CKNFAST_LOAD_KEYS",
    "CKNFAST_NO_SYMMETRIC",
    "CKNFAST_NO_UNWRAP",
    "CKNFAST_NVRAM_KEY_STORAGE",
    "CKNFAST_RELOAD_KEYS",
    "CKNFAST_SEED_MAC_ZERO",
    "CKNFAST_SESSION_THREADSAFE",
    "CKNFAST_SHARE_SESSION_KEYS",
    "CKNFAST_TOKENS_PERSISTENT",
    "CKNFAST_USE_THREAD_UPCALLS",
    "CKNFAST_WRITE_PROTECTED",
];

/// The most wrong card passphrases a card takes at PKCS#11 logins.
pub const CARD_MAX_TRIES: u32 = 10;

pub fn parse_bool(v: &str) -> bool {
    matches!(v.trim().chars().next(), Some('1' | 'y' | 'Y' | 't' | 'T'))
}

impl Config {
    /// The file, then the environment.
    pub fn load() -> Config {
        let home = std::env::var("NFAST_HOME").unwrap_or_else(|_| "/opt/nfast".into());
        let file = std::fs::read_to_string(std::path::Path::new(&home).join("cknfastrc")).unwrap_or_default();
        let env: HashMap<String, String> =
            std::env::vars().filter(|(k, _)| k.starts_with("CKNFAST_") || OWN_VARS.contains(&k.as_str())).collect();
        Config::from_sources(&file, &env)
    }

    pub fn from_sources(file: &str, env: &HashMap<String, String>) -> Config {
        let mut vars: HashMap<String, String> = HashMap::new();
        for line in file.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some((k, v)) = line.split_once('=') {
                vars.insert(k.trim().to_string(), v.trim().to_string());
            }
        }
        for (k, v) in env {
            vars.insert(k.clone(), v.clone());
        }
        let b = |k: &str| vars.get(k).map(|v| parse_bool(v)).unwrap_or(false);
        let mut ignored: Vec<String> = vars.keys().filter(|k| KNOWN_IGNORED.contains(&k.as_str())).cloned().collect();
        ignored.sort();
        Config {
            no_accelerator_slots: b("CKNFAST_NO_ACCELERATOR_SLOTS"),
            fake_accelerator_login: b("CKNFAST_FAKE_ACCELERATOR_LOGIN"),
            loadsharing: vars.get("CKNFAST_LOADSHARING").map(|v| parse_bool(v)).unwrap_or(true),
            debug: vars.get("CKNFAST_DEBUG").and_then(|v| v.trim().parse().ok()).unwrap_or(0),
            debug_file: vars.get("CKNFAST_DEBUGFILE").cloned(),
            overrides: crate::assurance::Overrides::parse(
                vars.get("CKNFAST_OVERRIDE_SECURITY_ASSURANCES").map(String::as_str).unwrap_or(""),
            ),
            assurance_log: vars.get("CKNFAST_ASSURANCE_LOG").cloned(),
            module_slot_first: b("SHIELDHSM_MODULE_SLOT_FIRST"),
            cardset_hash: vars
                .get("CKNFAST_CARDSET_HASH")
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty()),
            nonremovable: b("CKNFAST_NONREMOVABLE"),
            pin_max_tries: vars.get("SHIELDHSM_PIN_MAX_TRIES").and_then(|v| v.trim().parse().ok()),
            ignored,
        }
    }

    /// Wrong passphrases a card takes at PKCS#11 logins before it locks: 10, or fewer if
    /// configured. The setting comes from the caller's environment, so it may not raise the
    /// limit an attacker's guessing meets.
    pub fn card_max_tries(&self) -> u32 {
        self.pin_max_tries.unwrap_or(CARD_MAX_TRIES).clamp(1, CARD_MAX_TRIES)
    }

    /// A debug line (never with secrets: callers pass only names and codes).
    pub fn debug_line(&self, msg: &str) {
        if self.debug == 0 {
            return;
        }
        let line = format!("shieldhsm[{}]: {msg}\n", std::process::id());
        match &self.debug_file {
            Some(f) => append(f, &line),
            None => eprint!("{line}"),
        }
    }

    /// A security-assurance line: to `CKNFAST_ASSURANCE_LOG` if set, and to the debug log.
    pub fn assurance_line(&self, msg: &str) {
        if self.overrides.silent {
            return;
        }
        if let Some(f) = &self.assurance_log {
            append(f, &format!("shieldhsm[{}]: {msg}\n", std::process::id()));
        }
        self.debug_line(msg);
    }

    /// The startup lines about the override list.
    pub fn describe_overrides(&self) {
        let o = &self.overrides;
        let relaxed: Vec<&str> =
            crate::assurance::Assurance::ALL.iter().filter(|a| o.relaxes(**a)).map(|a| a.token()).collect();
        if !relaxed.is_empty() {
            self.assurance_line(&format!("security assurances relaxed by override: {}", relaxed.join(", ")));
        }
        if !o.without_effect.is_empty() {
            self.debug_line(&format!("assurance overrides without emulated effect: {}", o.without_effect.join(", ")));
        }
        if !o.unknown.is_empty() {
            self.debug_line(&format!("unknown assurance overrides ignored: {}", o.unknown.join(", ")));
        }
    }
}

fn append(file: &str, line: &str) {
    use std::io::Write;
    let opened = std::fs::OpenOptions::new().create(true).append(true).open(file);
    if let Ok(mut fh) = opened {
        let _ = fh.write_all(line.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_the_file() {
        let file = "# comment\nCKNFAST_FAKE_ACCELERATOR_LOGIN=1\nCKNFAST_NO_ACCELERATOR_SLOTS=y\nCKNFAST_TOKENS_PERSISTENT=1\n";
        let mut env = HashMap::new();
        env.insert("CKNFAST_NO_ACCELERATOR_SLOTS".to_string(), "0".to_string());
        let c = Config::from_sources(file, &env);
        assert!(c.fake_accelerator_login);
        assert!(!c.no_accelerator_slots);
        assert!(c.loadsharing);
        assert_eq!(c.ignored, vec!["CKNFAST_TOKENS_PERSISTENT".to_string()]);
        assert!(parse_bool("Y") && parse_bool("1") && !parse_bool("N") && !parse_bool("0"));
        assert!(!c.module_slot_first);
    }

    #[test]
    fn module_slot_first_from_the_file_or_the_environment() {
        assert!(Config::from_sources("SHIELDHSM_MODULE_SLOT_FIRST=1\n", &HashMap::new()).module_slot_first);
        let mut env = HashMap::new();
        env.insert("SHIELDHSM_MODULE_SLOT_FIRST".to_string(), "0".to_string());
        assert!(!Config::from_sources("SHIELDHSM_MODULE_SLOT_FIRST=1\n", &env).module_slot_first);
    }
}
