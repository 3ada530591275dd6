//! Read-only commands: nfkminfo, kmfile-dump, aclprint. Output follows nShield's layout as a
//! guide (docs/nshield-emulation.md §2.5), from what is on disk.

use super::args::{self, alias, flag, valued};
use super::preload;
use super::ui::Ui;
use super::{help_if_asked, no_extra, open_store};
use cryptoki_sys::*;
use shieldhsm::module::acl::Acl;
use shieldhsm::module::admin::{AdminError, AdminResult};
use shieldhsm::module::cardset;
use shieldhsm::module::hsm::{self, Mode, ModuleState};
use shieldhsm::module::keygen::{self, KeyEntry};
use shieldhsm::module::kmfile::{self, Contents};
use shieldhsm::module::softcard;
use shieldhsm::module::store::Store;
use shieldhsm::module::time::format_time;
use shieldhsm::module::world::{self, WorldFile};
use shieldhsm::object::attr::{
    AttrMap, CKA_NFKM_APPNAME, CKA_NFKM_HASH, CKA_NFKM_ID, CKA_SHSM_ACL, CKA_SHSM_PROTECTION,
};
use shieldhsm::object::envelope::SecretKey32;
use shieldhsm::object::policy;
use shieldhsm::object::stored::Protection;
use std::path::{Path, PathBuf};

const NFKMINFO_USAGE: &str = "usage: nfkminfo [-w] [-k [APP [IDENT]]] [-l [APP...]] [-c] [-s] [-m N]\n  \
-w world and modules (default), -k keys, -l key names by protection, -c card sets, -s softcards";

pub fn nfkminfo(tool: &str, a: &[String]) -> AdminResult<()> {
    let opts = [
        flag("world-info", Some('w')),
        flag("key-list", Some('k')),
        flag("name-list", Some('l')),
        flag("cardset-list", Some('c')),
        flag("softcard-list", Some('s')),
        alias(valued("module", Some('m')), &["module-number"]),
    ];
    let p = args::parse(a, &opts, tool)?;
    if help_if_asked(&p, NFKMINFO_USAGE) {
        return Ok(());
    }
    let lists = ["key-list", "name-list", "cardset-list", "softcard-list"];
    let any_list = lists.iter().any(|l| p.has(l));
    if !p.has("key-list") && !p.has("name-list") {
        no_extra(&p, 0, tool)?;
    }
    let module = p.value("module").map(|m| args::module_number(Some(m), tool)).transpose()?;
    let store = open_store()?;
    if let Some(m) = module {
        hsm::get(&store, m)?;
    }
    let w = WorldFile::read(&store)?;
    let km = kmfile::world_km(&store, w.as_ref(), module.unwrap_or(1));
    if p.has("world-info") || !any_list {
        print_world(&store, w.as_ref(), module)?;
    }
    if p.has("key-list") {
        print_keys(&store, km.as_ref(), &p.pos)?;
    }
    if p.has("name-list") {
        print_names(&store, km.as_ref(), &p.pos)?;
    }
    if p.has("cardset-list") {
        print_cardsets(&store)?;
    }
    if p.has("softcard-list") {
        print_softcards(&store)?;
    }
    Ok(())
}

fn print_world(store: &Store, w: Option<&WorldFile>, only: Option<u32>) -> AdminResult<()> {
    let modules = hsm::list(store)?;
    out!("World");
    match w {
        None => {
            out!(" state       !Initialised !Usable");
            out!(" (no Security World: new-world --initialize --acs-quorum=K/N)");
        }
        Some(w) => {
            let usable = modules.iter().any(|m| m.has_world(&w.hkm) && m.mode() == Mode::Operational);
            let mut state = vec!["Initialised", if usable { "Usable" } else { "!Usable" }];
            state.push(if w.recovery { "Recovery" } else { "!Recovery" });
            state.extend(["!PINRecovery", "!ExistingClient", "!RTC", "!NVRAM", "!FTO", "!SEEDebug"]);
            if w.implicit {
                state.push("Implicit");
            }
            out!(" generation  {}", w.generation);
            out!(" state       {}", state.join(" "));
            out!(" n_modules   {}", w.modules.len());
            out!(" hknso       {}", w.hknso);
            out!(" hkm         {}", w.hkm);
            if w.recovery {
                out!(" hkre        {}", w.hkre);
                out!(" hkra        {}", w.hkra);
            }
            out!(" ex.client   none");
            out!(" k-out-of-n  {}/{}{}", w.acs_k, w.acs_n, if w.implicit { " (implicit world: no ACS)" } else { "" });
            out!(" other quora m={0} r={0} p={0} nv={0} rtc={0} dsee={0} fto={0}", w.acs_k.max(1));
            out!(" createtime  {}", format_time(w.createtime));
            out!(
                " nso timeout {}",
                match w.nso_timeout {
                    None => "none".to_string(),
                    Some(s) if s % 60 == 0 => format!("{} min", s / 60),
                    Some(s) => format!("{s} sec"),
                }
            );
            out!(" ciphersuite {}", w.ciphersuite);
            out!(" min pp      0 chars");
            out!(" mode        {}", if w.mode == "unrestricted" { "none" } else { &w.mode });
        }
    }
    for m in &modules {
        if only.is_some_and(|n| n != m.number) {
            continue;
        }
        print_module(m, w);
        if m.number == 1 {
            out!(" slot 0      card reader: {}", super::reader_cmds::contents(store));
        }
    }
    Ok(())
}

fn print_module(m: &ModuleState, w: Option<&WorldFile>) {
    let holds = w.is_some_and(|w| m.has_world(&w.hkm));
    let state = match m.mode() {
        Mode::PreInit => "PreInitMode",
        Mode::Init => "InitMode",
        Mode::Operational if holds => "Usable",
        Mode::Operational if !m.world_hkm.is_empty() => "Foreign",
        Mode::Operational => "Uninitialised",
    };
    out!();
    out!("Module #{}", m.number);
    out!(" generation  1");
    out!(" state       {state}");
    out!(" flags       none");
    out!(" esn         {}", m.esn);
    out!(" hkml        {}", m.hkml);
    out!(" mode        {}", m.mode().describe());
    out!(" firmware    {}", m.firmware);
}

fn protection_word(e: &KeyEntry, store: &Store) -> String {
    match e.protection {
        Protection::Module => "module".into(),
        Protection::Token => {
            if let Ok(sc) = keygen::find_softcard(store, Some(&e.owner)) {
                format!("softcard {} ({})", sc.name, sc.hash)
            } else if let Ok(cs) = cardset::find_ocs(store, &e.owner) {
                format!("cardset {} ({})", cs.name, cs.hash)
            } else {
                format!("token {}", e.owner)
            }
        }
    }
}

fn key_type_name(kt: Option<CK_KEY_TYPE>) -> &'static str {
    match kt {
        Some(CKK_RSA) => "RSA",
        Some(CKK_EC) => "EC",
        Some(CKK_EC_EDWARDS) => "EC Edwards",
        Some(CKK_EC_MONTGOMERY) => "EC Montgomery",
        Some(CKK_AES) => "AES",
        Some(CKK_DES) => "DES",
        Some(CKK_DES2) => "DES2",
        Some(CKK_DES3) => "DES3",
        Some(CKK_GENERIC_SECRET) => "generic secret",
        Some(CKK_SHA_1_HMAC) => "HMACSHA1",
        Some(CKK_SHA224_HMAC) => "HMACSHA224",
        Some(CKK_SHA256_HMAC) => "HMACSHA256",
        Some(CKK_SHA384_HMAC) => "HMACSHA384",
        Some(CKK_SHA512_HMAC) => "HMACSHA512",
        Some(_) => "other",
        None => "unknown (protected by a token)",
    }
}

fn print_keys(store: &Store, km: Option<&SecretKey32>, filter: &[String]) -> AdminResult<()> {
    let all = keygen::list_keys(store, km)?;
    let keys: Vec<&KeyEntry> = all
        .iter()
        .filter(|e| !e.public_half)
        .filter(|e| filter.first().is_none_or(|a| *a == e.app))
        .filter(|e| filter.get(1).is_none_or(|i| *i == e.ident))
        .collect();
    if filter.len() == 2 {
        let Some(e) = keys.first() else {
            return Err(AdminError::new(
                format!("there is no key {} {}", filter[0], filter[1]),
                "see `nfkminfo -k` for the keys there are",
            ));
        };
        let pub_half = all.iter().find(|p| p.public_half && p.app == e.app && p.ident == e.ident);
        out!("Key AppName {} Ident {}", e.app, e.ident);
        out!(" name        \"{}\"", e.label.as_deref().unwrap_or("(not readable without the token)"));
        out!(" file        {}", store.local().join(&e.file).display());
        out!(" protection  {}", protection_word(e, store));
        let kt = e.key_type.or(pub_half.and_then(|p| p.key_type));
        out!(" type        {}", key_type_name(kt));
        out!(" origin      {}", origin_word(e.local));
        let rec = store.emu().join(format!("recovery/{}.json", e.file)).exists();
        out!(" recovery    {}", if rec { "Enabled" } else { "Disabled" });
        out!(
            " public key  {}",
            pub_half.map(|p| store.local().join(&p.file).display().to_string()).unwrap_or_else(|| "none".into())
        );
        return Ok(());
    }
    out!("Key list - {} keys", keys.len());
    for e in keys {
        out!(" AppName {:<20} Ident {}", e.app, e.ident);
    }
    Ok(())
}

/// Where a key came from, by its CKA_LOCAL.
fn origin_word(local: Option<bool>) -> &'static str {
    match local {
        Some(true) => "generated in the module",
        Some(false) => "imported (CKA_LOCAL FALSE: its value has been outside the module)",
        None => "unknown (not readable without the token)",
    }
}

fn print_names(store: &Store, km: Option<&SecretKey32>, apps: &[String]) -> AdminResult<()> {
    let all = keygen::list_keys(store, km)?;
    let keys: Vec<&KeyEntry> =
        all.iter().filter(|e| !e.public_half).filter(|e| apps.is_empty() || apps.contains(&e.app)).collect();
    let show = |e: &KeyEntry| match &e.label {
        Some(l) => out!(" {} `{l}'", e.file),
        None => out!(" {} (name sealed under its token)", e.file),
    };
    out!("Keys with module protection:");
    keys.iter().filter(|e| e.protection == Protection::Module).for_each(|e| show(e));
    let sc_hashes: Vec<String> = softcard::list(store)?.into_iter().map(|s| s.hash).collect();
    out!();
    out!("Keys protected by cardsets:");
    keys.iter().filter(|e| e.protection == Protection::Token && !sc_hashes.contains(&e.owner)).for_each(|e| show(e));
    out!();
    out!("Keys protected by softcards:");
    keys.iter().filter(|e| e.protection == Protection::Token && sc_hashes.contains(&e.owner)).for_each(|e| show(e));
    Ok(())
}

fn print_cardsets(store: &Store) -> AdminResult<()> {
    let sets = cardset::list_ocs(store)?;
    out!("Cardset list - {} cardsets:  (P)ersistent/(N)ot, (R)emoteable/(L)ocal-only", sets.len());
    out!(" Operator logical token hash               k/n timeout  name");
    for s in sets {
        let timeout = s.timeout.map(|t| format!("{t}s")).unwrap_or_else(|| "none".into());
        let flags = format!("{}L", if s.persistent { "P" } else { "N" });
        out!(" {:<41} {}/{} {}-{}  {}", s.hash, s.k, s.n, timeout, flags, s.name);
    }
    Ok(())
}

fn print_softcards(store: &Store) -> AdminResult<()> {
    let cards = softcard::list(store)?;
    out!("SoftCard summary - {} softcards:", cards.len());
    out!(" Operator logical token hash               slot name");
    for c in cards {
        out!(" {:<41} {:<4} {}", c.hash, c.slot, c.name);
    }
    Ok(())
}

// ---- kmfile-dump ----

fn attr_name(t: CK_ATTRIBUTE_TYPE) -> String {
    let n = match t {
        CKA_CLASS => "CKA_CLASS",
        CKA_TOKEN => "CKA_TOKEN",
        CKA_PRIVATE => "CKA_PRIVATE",
        CKA_LABEL => "CKA_LABEL",
        CKA_VALUE => "CKA_VALUE",
        CKA_KEY_TYPE => "CKA_KEY_TYPE",
        CKA_ID => "CKA_ID",
        CKA_SENSITIVE => "CKA_SENSITIVE",
        CKA_ENCRYPT => "CKA_ENCRYPT",
        CKA_DECRYPT => "CKA_DECRYPT",
        CKA_WRAP => "CKA_WRAP",
        CKA_UNWRAP => "CKA_UNWRAP",
        CKA_SIGN => "CKA_SIGN",
        CKA_SIGN_RECOVER => "CKA_SIGN_RECOVER",
        CKA_VERIFY => "CKA_VERIFY",
        CKA_VERIFY_RECOVER => "CKA_VERIFY_RECOVER",
        CKA_DERIVE => "CKA_DERIVE",
        CKA_START_DATE => "CKA_START_DATE",
        CKA_END_DATE => "CKA_END_DATE",
        CKA_MODULUS => "CKA_MODULUS",
        CKA_MODULUS_BITS => "CKA_MODULUS_BITS",
        CKA_PUBLIC_EXPONENT => "CKA_PUBLIC_EXPONENT",
        CKA_PRIVATE_EXPONENT => "CKA_PRIVATE_EXPONENT",
        CKA_PRIME_1 => "CKA_PRIME_1",
        CKA_PRIME_2 => "CKA_PRIME_2",
        CKA_EXPONENT_1 => "CKA_EXPONENT_1",
        CKA_EXPONENT_2 => "CKA_EXPONENT_2",
        CKA_COEFFICIENT => "CKA_COEFFICIENT",
        CKA_PUBLIC_KEY_INFO => "CKA_PUBLIC_KEY_INFO",
        CKA_VALUE_LEN => "CKA_VALUE_LEN",
        CKA_EXTRACTABLE => "CKA_EXTRACTABLE",
        CKA_LOCAL => "CKA_LOCAL",
        CKA_NEVER_EXTRACTABLE => "CKA_NEVER_EXTRACTABLE",
        CKA_ALWAYS_SENSITIVE => "CKA_ALWAYS_SENSITIVE",
        CKA_KEY_GEN_MECHANISM => "CKA_KEY_GEN_MECHANISM",
        CKA_MODIFIABLE => "CKA_MODIFIABLE",
        CKA_COPYABLE => "CKA_COPYABLE",
        CKA_DESTROYABLE => "CKA_DESTROYABLE",
        CKA_EC_PARAMS => "CKA_EC_PARAMS",
        CKA_EC_POINT => "CKA_EC_POINT",
        CKA_ALWAYS_AUTHENTICATE => "CKA_ALWAYS_AUTHENTICATE",
        CKA_WRAP_WITH_TRUSTED => "CKA_WRAP_WITH_TRUSTED",
        CKA_TRUSTED => "CKA_TRUSTED",
        CKA_SUBJECT => "CKA_SUBJECT",
        CKA_UNIQUE_ID => "CKA_UNIQUE_ID",
        CKA_NFKM_APPNAME => "CKA_NFKM_APPNAME",
        CKA_NFKM_ID => "CKA_NFKM_ID",
        CKA_NFKM_HASH => "CKA_NFKM_HASH",
        CKA_SHSM_ACL => "CKA_SHSM_ACL",
        CKA_SHSM_PROTECTION => "CKA_SHSM_PROTECTION",
        _ => return format!("0x{t:08X}"),
    };
    n.to_string()
}

fn show_attrs(attrs: &AttrMap) {
    use shieldhsm::object::attr::Attr;
    for (t, v) in attrs.iter() {
        let shown = if !policy::readable(attrs, t) {
            "<sensitive: not shown>".to_string()
        } else {
            match v {
                Attr::Bool(b) => (if *b { "TRUE" } else { "FALSE" }).to_string(),
                Attr::Ulong(u) => format!("0x{u:X}"),
                Attr::Bytes(b) => {
                    let printable = !b.is_empty() && b.iter().all(|c| c.is_ascii_graphic() || *c == b' ');
                    if printable
                        && matches!(
                            t,
                            CKA_LABEL
                                | CKA_ID
                                | CKA_NFKM_APPNAME
                                | CKA_NFKM_ID
                                | CKA_SHSM_ACL
                                | CKA_SHSM_PROTECTION
                                | CKA_UNIQUE_ID
                        )
                    {
                        format!("\"{}\"", String::from_utf8_lossy(b))
                    } else if b.len() > 48 {
                        format!("{}… ({} bytes)", hex::encode(&b[..24]), b.len())
                    } else {
                        hex::encode(&b[..])
                    }
                }
                Attr::MechList(l) => format!("{l:X?}"),
                Attr::Template(m) => format!("<template, {} attributes>", m.len()),
            }
        };
        out!("  {:<24} {shown}", attr_name(t));
    }
}

pub fn kmfile_dump(tool: &str, a: &[String]) -> AdminResult<()> {
    let p = args::parse(a, &[valued("module", Some('m'))], tool)?;
    if help_if_asked(&p, "usage: kmfile-dump FILE\n  FILE: a path, or a name in the data directory's local/ (e.g. key_simple_contosokey)") {
        return Ok(());
    }
    no_extra(&p, 1, tool)?;
    let arg = p.pos.first().ok_or_else(|| AdminError::new("no file given", format!("run `{tool} <file>`")))?;
    let store = open_store()?;
    let path = kmfile::locate(&store, arg).ok_or_else(|| {
        AdminError::new(
            format!("no such file {arg:?}"),
            "give a path, or a file name in local/ (see `ls` of the data directory)",
        )
    })?;
    let raw = std::fs::read(&path)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
    out!("File {}", path.display());
    if let Some(h) = kmfile::object_header(&name, &raw) {
        out!(" format       shieldhsm object file v1 (SHSMOBJ1), AES-256-GCM sealed PKCS#11 attributes");
        if let Some((app, ident, public_half)) = &h.key {
            out!(" key          AppName {app} Ident {ident}{}", if *public_half { " (public half)" } else { "" });
        }
        out!(
            " protection   {}",
            match h.protection {
                Protection::Module => "module key (KM)",
                Protection::Token => "logical token (softcard / card set)",
            }
        );
        out!(" owner        {}", h.owner);
        out!(" sealed body  {} bytes", h.sealed_len);
        let w = WorldFile::read(&store)?;
        let km = kmfile::world_km(&store, w.as_ref(), args::module_number(p.value("module"), tool)?);
        match kmfile::object_contents(&name, &raw, h.protection, km.as_ref()) {
            Contents::Opened(attrs) => {
                out!(" attributes   ({}; secret values not shown)", attrs.len());
                show_attrs(&attrs);
                if let Some(acl) = attrs.bytes(CKA_SHSM_ACL).and_then(Acl::from_json) {
                    out!(" ACL");
                    for l in acl.describe() {
                        out!(" {l}");
                    }
                }
            }
            Contents::Foreign => out!(" attributes   (do not open with this world's module key: damaged or foreign)"),
            Contents::NoWorldKey => out!(" attributes   (no module holds this world's key)"),
            Contents::UnderToken => {
                out!(" attributes   (sealed under the token; use `aclprint` with the token's cards/passphrase)")
            }
        }
        return Ok(());
    }
    match kmfile::redacted_json(&raw) {
        Some((fmt, v)) => {
            out!(" format       {fmt} (secret fields shown as their length)");
            out!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            Ok(())
        }
        None => Err(AdminError::new(
            format!("{} is not a kmdata file this emulator knows", path.display()),
            "give a file from the data directory (world, key_*, card_*, softcard_*, module_*)",
        )),
    }
}

// ---- aclprint ----

pub fn aclprint(tool: &str, a: &[String]) -> AdminResult<()> {
    let opts = [valued("module", Some('m')), valued("app", Some('A')), valued("ident", Some('K'))];
    let p = args::parse(a, &opts, tool)?;
    if help_if_asked(
        &p,
        "usage: aclprint APP IDENT   (or -A APP -K IDENT)\n       \
         preload -m 1 -A APP -K IDENT aclprint   (the keys preload loaded, as nShield's aclprint.py)\n  \
         Token-protected keys ask for their cards or softcard passphrase.",
    ) {
        return Ok(());
    }
    let keys = match (p.value("app"), p.value("ident")) {
        (Some(a), Some(i)) => {
            no_extra(&p, 0, tool)?;
            vec![(a.to_string(), i.to_string())]
        }
        _ => {
            no_extra(&p, 2, tool)?;
            match p.pos.as_slice() {
                [a, i] => vec![(a.clone(), i.clone())],
                [] if preload::active() => preload::loaded_keys()?,
                _ => {
                    return Err(AdminError::new(
                        "give the key's application and ident",
                        format!("e.g. `{tool} simple contosokey`, or run it under `preload -A APP -K IDENT`"),
                    ))
                }
            }
        }
    };
    let module = args::module_number(p.value("module"), tool)?;
    let mut ui = Ui::new(p.value("passphrase-file"))?;
    let store = open_store()?;
    let op = world::operational(&store, module, "aclprint")?;
    let card_dir = p.value("card-dir").map(PathBuf::from);
    for (app, ident) in keys {
        print_acl(&store, &op, &app, &ident, card_dir.as_deref(), &mut ui)?;
    }
    Ok(())
}

fn print_acl(
    store: &Store,
    op: &world::Operational,
    app: &str,
    ident: &str,
    card_dir: Option<&Path>,
    ui: &mut Ui,
) -> AdminResult<()> {
    let (entry, attrs) = keygen::open_key(store, op, app, ident, card_dir, ui)?;
    let prot =
        attrs.bytes(CKA_SHSM_PROTECTION).map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_else(
            || match entry.protection {
                Protection::Module => "module".into(),
                Protection::Token => format!("token:{}", entry.owner),
            },
        );
    out!("Key {app} {ident} ({prot}), label \"{}\"", entry.label.as_deref().unwrap_or(""));
    out!(" origin: {}", origin_word(entry.local));
    match attrs.bytes(CKA_SHSM_ACL) {
        None => out!(" no ACL: made through PKCS#11, governed by its attributes"),
        Some(j) => match Acl::from_json(j) {
            Some(acl) => {
                for l in acl.describe() {
                    out!("{l}");
                }
            }
            None => {
                return Err(AdminError::new(
                    format!("the ACL of key {app} {ident} is damaged"),
                    "restore the key file from your backup",
                ))
            }
        },
    }
    Ok(())
}
