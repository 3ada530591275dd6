//! Commands that change the emulated module: hsm-mode, new-world, createocs, ppmk, generatekey,
//! add-module; plus enquiry and install-links.

use super::args::{self, alias, flag, valued, Opt};
use super::ui::Ui;
use super::{help_if_asked, no_extra, open_store};
use shieldhsm::module::admin::{AdminError, AdminResult};

use shieldhsm::module::cardset;
use shieldhsm::module::hsm::{self, Mode};
use shieldhsm::module::tokens::{self, NewOcsParams};
use shieldhsm::module::world::{self, NewWorldParams, WorldFile, DEFAULT_CIPHERSUITE};
use std::path::PathBuf;

fn card_dir(p: &args::Parsed) -> Option<PathBuf> {
    p.value("card-dir").map(PathBuf::from)
}

const ENQUIRY_USAGE: &str = "usage: enquiry [-m N]\n  Lists the emulated modules: ESN, mode, firmware, world.";

pub fn enquiry(tool: &str, a: &[String]) -> AdminResult<()> {
    let p = args::parse(a, &[valued("module", Some('m'))], tool)?;
    if help_if_asked(&p, ENQUIRY_USAGE) {
        return Ok(());
    }
    no_extra(&p, 0, tool)?;
    let store = open_store()?;
    let want = p.value("module").map(|m| args::module_number(Some(m), tool)).transpose()?;
    if let Some(w) = want {
        hsm::get(&store, w)?;
    }
    let world = WorldFile::read(&store)?;
    out!("Server:");
    out!(" enquiry reply flags  none");
    out!(" version              shieldhsm {}", env!("CARGO_PKG_VERSION"));
    out!(" data directory       {}", store.root().display());
    for m in hsm::list(&store)? {
        if want.is_some_and(|w| w != m.number) {
            continue;
        }
        out!();
        out!("Module #{}:", m.number);
        out!(" enquiry reply flags  none");
        out!(" serial number        {}", m.esn);
        out!(" mode                 {}", m.mode().describe());
        out!(" version              {}", m.firmware);
        out!(" product name         {}", hsm::MODEL);
        let wstate = match &world {
            Some(w) if m.has_world(&w.hkm) => format!("loaded (hkm {})", w.hkm),
            _ if !m.world_hkm.is_empty() => format!("foreign (hkm {})", m.world_hkm),
            _ => "none".into(),
        };
        out!(" security world       {wstate}");
    }
    Ok(())
}

const HSM_MODE_USAGE: &str = "usage: hsm-mode -m N I|O\n       hsm-mode --module=N --mode=init|operational\n  \
Sets the emulated module's mode switch (real hardware: the front-panel switch or button).\n  \
I = pre-initialisation (what new-world needs), O = operational (what keys need).";

fn parse_mode(s: &str, tool: &str) -> AdminResult<Mode> {
    match s.to_ascii_lowercase().as_str() {
        "i" | "init" | "initialisation" | "initialization" | "pre-init" | "preinit" | "pre-initialisation"
        | "maintenance" => Ok(Mode::PreInit),
        "o" | "operational" | "op" => Ok(Mode::Operational),
        _ => Err(AdminError::new(format!("unknown mode {s:?}"), format!("use `{tool} -m 1 I` or `{tool} -m 1 O`"))),
    }
}

pub fn hsm_mode(tool: &str, a: &[String]) -> AdminResult<()> {
    let p = args::parse(a, &[valued("module", Some('m')), valued("mode", None)], tool)?;
    if help_if_asked(&p, HSM_MODE_USAGE) {
        return Ok(());
    }
    let module = args::module_number(p.value("module"), tool)?;
    let mode_s = match (p.value("mode"), p.pos.first()) {
        (Some(m), None) => m.to_string(),
        (None, Some(m)) => m.clone(),
        (Some(_), Some(_)) => {
            return Err(AdminError::new(
                "the mode is given twice",
                format!("use either `{tool} -m 1 I` or --mode=init"),
            ))
        }
        (None, None) => {
            return Err(AdminError::new(
                "no mode given",
                format!("use `{tool} -m {module} I` or `{tool} -m {module} O`"),
            ))
        }
    };
    no_extra(&p, if p.value("mode").is_some() { 0 } else { 1 }, tool)?;
    let mode = parse_mode(&mode_s, tool)?;
    let store = open_store()?;
    let m = hsm::set_mode(&store, module, mode)?;
    out!("Module #{} ({}): mode {}", m.number, m.esn, m.mode().describe());
    match mode {
        Mode::PreInit => out!("The module can now be initialised: new-world --initialize ... --module={}", m.number),
        _ => {
            if m.world_hkm.is_empty() {
                out!("The module holds no Security World yet.");
            }
        }
    }
    Ok(())
}

const NEW_WORLD_USAGE: &str = "usage: new-world --initialize [--cipher-suite=CS] [--module=N] [--acs-quorum=K/N]\n\
                 [--mode=unrestricted|fips-140-level-3|cc-cmts] [--nso-timeout=T] [--no-recovery]\n\
                 [--card-dir=DIR] [--passphrase-file=FILE]\n\
       new-world -l --module=N [--card-dir=DIR]      (load the existing world onto a module; ACS cards)\n  \
A module with no world is readied by new-world itself; one that holds a world must first be put\n  \
into initialisation mode (hsm-mode -m N I). The module is operational afterwards. Cipher suites:\n  \
DLf1024s160mDES3, DLf1024s160mRijndael, DLf3072s256mRijndael, DLf3072s256mAEScSP800131Ar1 (default), ECp521mAES.\n  \
Each of the N ACS cards asks for a passphrase (terminal, or one line each of $SHIELDHSM_PASSPHRASE_FILE).";

const NEW_WORLD_OPTS: [Opt; 8] = [
    alias(flag("initialize", Some('i')), &["initialise"]),
    alias(flag("load", Some('l')), &["program"]),
    valued("module", Some('m')),
    alias(valued("cipher-suite", Some('c')), &["ciphersuite"]),
    alias(valued("acs-quorum", Some('Q')), &["quorum"]),
    valued("mode", None),
    valued("nso-timeout", None),
    flag("no-recovery", None),
];

pub fn new_world(tool: &str, a: &[String]) -> AdminResult<()> {
    let p = args::parse(a, &NEW_WORLD_OPTS, tool)?;
    if help_if_asked(&p, NEW_WORLD_USAGE) {
        return Ok(());
    }
    no_extra(&p, 0, tool)?;
    let module = args::module_number(p.value("module"), tool)?;
    if p.has("initialize") && p.has("load") {
        return Err(AdminError::new(
            "--initialize and -l both given",
            "create a world (--initialize) or load one (-l)",
        ));
    }
    let load_only = ["cipher-suite", "acs-quorum", "mode", "nso-timeout", "no-recovery"];
    if p.has("load") {
        if let Some(o) = load_only.iter().find(|o| p.has(o)) {
            return Err(AdminError::new(
                format!("--{o} applies to --initialize, not -l"),
                "drop it: -l loads the world as it is",
            ));
        }
    }
    // Checks that need no state come first, so a bad command line touches nothing.
    let ciphersuite = world::canonical_ciphersuite(p.value("cipher-suite").unwrap_or(DEFAULT_CIPHERSUITE))?;
    let mode = world::canonical_world_mode(p.value("mode").unwrap_or("unrestricted"))?;
    let (k, n) = match p.value("acs-quorum") {
        Some(q) => cardset::parse_quorum(q, "the Administrator Card Set")?,
        None => (1, 1),
    };
    let nso_timeout = p.value("nso-timeout").map(|t| args::duration_secs(t, "--nso-timeout")).transpose()?;
    let mut ui = Ui::new(p.value("passphrase-file"))?;
    let store = open_store()?;
    let load = p.has("load") || (!p.has("initialize") && WorldFile::read(&store)?.is_some());
    if load {
        let (w, m) = world::load_world(&store, module, card_dir(&p).as_deref(), &mut ui)?;
        out!("Security World loaded onto module #{} ({}): hknso {}", m.number, m.esn, w.hknso);
        out!("Module #{} is in initialisation mode; switch it to operational: hsm-mode -m {} O", m.number, m.number);
        return Ok(());
    }
    let params = NewWorldParams {
        ciphersuite: ciphersuite.into(),
        mode: mode.into(),
        module,
        k,
        n,
        nso_timeout,
        recovery: !p.has("no-recovery"),
        card_dir: card_dir(&p),
    };
    let out = world::new_world(&store, &params, &mut ui)?;
    let w = &out.world;
    let (n, esn) = (out.module.number, &out.module.esn);
    if out.mode_changed {
        out!("Module #{n} ({esn}) holds no Security World: new-world put it into pre-initialisation mode itself.");
    }
    out!("Security World created.");
    out!(" world file   {}", store.local().join(world::WORLD_FILE).display());
    out!(" ciphersuite  {}", w.ciphersuite);
    out!(" mode         {}", w.mode);
    out!(" k-out-of-n   {}/{}", w.acs_k, w.acs_n);
    out!(" hknso        {}", w.hknso);
    out!(" hkm          {}", w.hkm);
    if w.recovery {
        out!(" hkre         {}", w.hkre);
        out!(" hkra         {}", w.hkra);
    } else {
        out!(" recovery     disabled (--no-recovery)");
    }
    out!(" ACS cards    {}", out.card_dir.display());
    out!(" module #{n}    {esn} back in operational mode, ready for keys");
    out!("Back up the world file and keep the ACS cards and passphrases apart.");
    Ok(())
}

const CREATEOCS_USAGE: &str = "usage: createocs -m N -Q K/N -N NAME [-p] [-T TIMEOUT] [--card-dir=DIR]\n  \
Creates a K-of-N Operator Card Set (-p: persistent; -T: timeout in seconds or with s/min/h/d).\n  \
Each card asks for a new passphrase.";

pub fn createocs(tool: &str, a: &[String]) -> AdminResult<()> {
    let opts = [
        valued("module", Some('m')),
        alias(valued("ocs-quorum", Some('Q')), &["quorum"]),
        alias(valued("name", Some('N')), &["cardname"]),
        alias(flag("persist", Some('p')), &["persistent"]),
        valued("timeout", Some('T')),
    ];
    let p = args::parse(a, &opts, tool)?;
    if help_if_asked(&p, CREATEOCS_USAGE) {
        return Ok(());
    }
    no_extra(&p, 0, tool)?;
    let module = args::module_number(p.value("module"), tool)?;
    let name = p
        .value("name")
        .ok_or_else(|| {
            AdminError::new("no card set name given", format!("add -N <name>, e.g. `{tool} -m1 -Q 1/1 -N operators`"))
        })?
        .to_string();
    tokens::check_token_name(&name, "card set")?;
    let (k, n) = match p.value("ocs-quorum") {
        Some(q) => cardset::parse_quorum(q, "the Operator Card Set")?,
        None => (1, 1),
    };
    let timeout = p.value("timeout").map(|t| args::duration_secs(t, "-T")).transpose()?.filter(|t| *t > 0);
    let mut ui = Ui::new(p.value("passphrase-file"))?;
    let store = open_store()?;
    let params = NewOcsParams { name, k, n, persistent: p.has("persist"), timeout, module, card_dir: card_dir(&p) };
    let (meta, dir) = tokens::create_ocs(&store, &params, &mut ui)?;
    out!(
        "Operator Card Set \"{}\" created: {}/{} cards, {}",
        meta.name,
        meta.k,
        meta.n,
        if meta.persistent { "persistent" } else { "not persistent" }
    );
    out!(" hash       {}", meta.hash);
    out!(" cards      {}", dir.display());
    out!(" metadata   {}", store.local().join(meta.file_name()).display());
    Ok(())
}

const PPMK_USAGE: &str = "usage: ppmk --new [--recoverable|--non-recoverable] [-m N] NAME\n  \
Creates a softcard (a passphrase-protected token). Its passphrase is also its PKCS#11 user PIN.";

pub fn ppmk(tool: &str, a: &[String]) -> AdminResult<()> {
    let opts = [
        flag("new", Some('n')),
        flag("recoverable", Some('r')),
        flag("non-recoverable", Some('R')),
        valued("module", Some('m')),
    ];
    let p = args::parse(a, &opts, tool)?;
    if help_if_asked(&p, PPMK_USAGE) {
        return Ok(());
    }
    if !p.has("new") {
        return Err(AdminError::new("only `ppmk --new NAME` is supported", format!("run `{tool} --new <name>`")));
    }
    if p.has("recoverable") && p.has("non-recoverable") {
        return Err(AdminError::new("--recoverable and --non-recoverable both given", "give one of them"));
    }
    no_extra(&p, 1, tool)?;
    let name = p
        .pos
        .first()
        .cloned()
        .ok_or_else(|| AdminError::new("no softcard name given", format!("run `{tool} --new <name>`")))?;
    tokens::check_token_name(&name, "softcard")?;
    let module = args::module_number(p.value("module"), tool)?;
    let mut ui = Ui::new(p.value("passphrase-file"))?;
    let store = open_store()?;
    let sc = tokens::create_softcard(&store, module, &name, p.has("recoverable"), &mut ui)?;
    out!("Softcard \"{}\" created.", sc.name);
    out!(" hash       {}", sc.hash);
    out!(" file       {}", store.local().join(sc.file_name()).display());
    out!(" PKCS#11    slot {} (load-sharing model), user PIN = the passphrase", sc.slot);
    Ok(())
}

pub fn add_module(tool: &str, a: &[String]) -> AdminResult<()> {
    let p = args::parse(a, &[], tool)?;
    if help_if_asked(
        &p,
        "usage: shieldhsm add-module\n  Plugs in one more emulated module (factory state, operational mode).",
    ) {
        return Ok(());
    }
    no_extra(&p, 0, tool)?;
    let store = open_store()?;
    let m = hsm::add(&store)?;
    out!("Module #{} added: ESN {}, mode {}", m.number, m.esn, m.mode().describe());
    out!(
        "To program the Security World into it: hsm-mode -m {0} I; new-world -l --module={0}; hsm-mode -m {0} O",
        m.number
    );
    Ok(())
}
