//! `generatekey`: `--generate` a key, `--import` one from a PEM file, or `--retarget` an existing
//! key to another application and ident.

use super::args::{self, flag, valued};
use super::ui::Ui;
use super::{help_if_asked, open_store};
use shieldhsm::module::admin::{AdminError, AdminResult, Interaction as _};
use shieldhsm::module::keygen::{self, Protect};
use std::path::PathBuf;

const GENERATEKEY_USAGE: &str = "usage: generatekey --generate [--batch] [-m N] APP NAME=VALUE ...\n       \
generatekey --import [--batch] APP type=RSA|EC pemreadfile=FILE NAME=VALUE ...\n       \
generatekey --retarget APP ident=ID from-application=APP from-ident=ID [plainname=LABEL]\n  \
APP: simple, pkcs11, custom, ... (pkcs11 keys get a derived ident and are PKCS#11 token objects)\n  \
type=RSA|EC|AES|DES3|HMACSHA1|HMACSHA224|HMACSHA256|HMACSHA384|HMACSHA512\n  \
size=BITS  curve=NISTP256|NISTP384|NISTP521|SECP256k1  pubexp=  (empty: 65537)\n  \
protect=module|token|softcard  cardset=NAME  softcard=NAME\n  \
ident=ID (digits, lowercase, '-')  plainname=LABEL  nvram=no  recovery=yes|no\n  \
--import reads an unencrypted PEM private key (PKCS#8, PKCS#1 or SEC 1); the key is marked imported.\n  \
--retarget makes the same key (protection, ACL) under another application and ident.\n  \
e.g. generatekey --generate simple type=RSA size=2048 protect=module ident=contosokey plainname=contosokey nvram=no pubexp=";

pub fn generatekey(tool: &str, a: &[String]) -> AdminResult<()> {
    let opts = [
        flag("generate", Some('g')),
        flag("batch", Some('b')),
        flag("import", Some('i')),
        flag("retarget", Some('r')),
        valued("module", Some('m')),
    ];
    let p = args::parse(a, &opts, tool)?;
    if help_if_asked(&p, GENERATEKEY_USAGE) {
        return Ok(());
    }
    let mut app = None;
    let mut pairs: Vec<(String, String)> = Vec::new();
    for a in &p.pos {
        match a.split_once('=') {
            Some((k, v)) => pairs.push((k.to_ascii_lowercase(), v.to_string())),
            None if app.is_none() => app = Some(a.clone()),
            None => {
                return Err(AdminError::new(
                    format!("unexpected argument {a:?}"),
                    "give the application once, then NAME=VALUE pairs",
                ))
            }
        }
    }
    let app = app.ok_or_else(|| {
        AdminError::new(
            "no application given",
            format!("e.g. `{tool} --generate simple type=RSA size=2048 ident=mykey`"),
        )
    })?;
    let action = match (p.has("generate"), p.has("import"), p.has("retarget")) {
        (true, false, false) => Action::Generate,
        (false, true, false) => Action::Import,
        (false, false, true) => return retarget(tool, &p, &app, &pairs),
        (false, false, false) => {
            return Err(AdminError::new(
                "no action given",
                format!("add --generate, --import or --retarget: `{tool} --generate {app} ...`"),
            ))
        }
        _ => return Err(AdminError::new("more than one action given", "give one of --generate, --import, --retarget")),
    };
    let pem_path = take_pair(&mut pairs, "pemreadfile");
    let pem = match (action, pem_path) {
        (Action::Import, Some(f)) => {
            for k in ["size", "curve", "pubexp"] {
                if pairs.iter().any(|(n, v)| n == k && !v.is_empty()) {
                    return Err(AdminError::new(
                        format!("{k}= is taken from the imported key"),
                        format!("drop {k}= (the key file decides it)"),
                    ));
                }
            }
            Some(read_bounded(&f)?)
        }
        (Action::Import, None) => {
            return Err(AdminError::new("--import needs pemreadfile=FILE", "add pemreadfile=<the PEM private key>"))
        }
        (Action::Generate, Some(_)) => {
            return Err(AdminError::new("pemreadfile= belongs to --import", "use --import, or drop pemreadfile="))
        }
        (Action::Generate, None) => None,
    };
    let (mut params, notes) = keygen::parse_params(&app, &pairs)?;
    if let Some(m) = p.value("module") {
        params.module = args::module_number(Some(m), tool)?;
    }
    params.card_dir = p.value("card-dir").map(PathBuf::from);
    for n in notes {
        eprintln!("{tool}: note: {n}");
    }
    let mut ui = Ui::new(p.value("passphrase-file"))?;
    let store = open_store()?;
    let g = match &pem {
        Some(pem) => keygen::import(&store, &params, pem, &mut ui)?,
        None => keygen::generate(&store, &params, &mut ui)?,
    };
    ui.busy_end();
    out!("Key successfully {}.", if g.imported { "imported" } else { "generated" });
    out!("Path to key: {}", store.local().join(&g.files[0]).display());
    if let Some(pubf) = g.files.get(1) {
        out!("Public half: {}", store.local().join(pubf).display());
    }
    let size = match g.ktype {
        keygen::KeyType::Ec => g.curve.map(|c| c.name().to_string()).unwrap_or_default(),
        _ => g.size.to_string(),
    };
    let prot = match (&params.protect, &g.token_name) {
        (Protect::Module, _) => "module".to_string(),
        (Protect::Token(_), Some(n)) => format!("card set \"{n}\" ({})", g.protection),
        (Protect::Softcard(_), Some(n)) => format!("softcard \"{n}\" ({})", g.protection),
        _ => g.protection.clone(),
    };
    out!(" app {}  ident {}  plainname \"{}\"", g.app, g.ident, g.plainname);
    out!(
        " type {} {}  protection {}  recovery {}",
        g.ktype.name(),
        size,
        prot,
        if g.recovery { "enabled" } else { "disabled" }
    );
    if g.imported {
        out!(" origin imported: not generated in the module (CKA_LOCAL, CKA_NEVER_EXTRACTABLE FALSE)");
        out!("Delete the PEM file now if this module is to hold the only copy.");
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Action {
    Generate,
    Import,
}

/// Removes `name=` from the pairs and returns its value (if given, non-empty).
fn take_pair(pairs: &mut Vec<(String, String)>, name: &str) -> Option<String> {
    let i = pairs.iter().position(|(k, _)| k == name)?;
    Some(pairs.remove(i).1).filter(|v| !v.is_empty())
}

/// A key file, refused beyond [`keygen::MAX_PEM_BYTES`] (a PEM key is a few KiB).
fn read_bounded(path: &str) -> AdminResult<Vec<u8>> {
    use std::io::Read as _;
    let cannot =
        |e: std::io::Error| AdminError::new(format!("cannot read {path} ({e})"), "check the pemreadfile= path");
    let f = std::fs::File::open(path).map_err(cannot)?;
    let mut buf = Vec::new();
    f.take(keygen::MAX_PEM_BYTES + 1).read_to_end(&mut buf).map_err(cannot)?;
    if buf.len() as u64 > keygen::MAX_PEM_BYTES {
        return Err(AdminError::new(
            format!("{path} is larger than {} bytes: not a PEM key", keygen::MAX_PEM_BYTES),
            "give the PEM private key file",
        ));
    }
    Ok(buf)
}

/// `generatekey --retarget APP ident=ID from-application=APP from-ident=ID [plainname=LABEL]`.
fn retarget(tool: &str, p: &args::Parsed, app: &str, pairs: &[(String, String)]) -> AdminResult<()> {
    const NAMES: [&str; 5] = ["ident", "from-application", "from-ident", "plainname", "module"];
    if let Some((k, _)) = pairs.iter().find(|(k, _)| !NAMES.contains(&k.as_str())) {
        return Err(AdminError::new(
            format!("{k}= does not apply to --retarget"),
            "give ident=, from-application=, from-ident= and optionally plainname= (the key keeps the rest)",
        ));
    }
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty());
    let need = |k: &str| {
        get(k).ok_or_else(|| {
            AdminError::new(
                format!("--retarget needs {k}="),
                format!("e.g. `{tool} --retarget simple ident=new from-application=pkcs11 from-ident=ua1234`"),
            )
        })
    };
    let (ident, _) = keygen::check_ident(need("ident")?)?;
    let (from_app, from_ident) = (need("from-application")?, need("from-ident")?);
    let module = args::module_number(get("module").or(p.value("module")), tool)?;
    let card_dir = p.value("card-dir").map(PathBuf::from);
    let r = keygen::Retarget {
        from_app,
        from_ident,
        app,
        ident: &ident,
        plainname: get("plainname"),
        module,
        card_dir: card_dir.as_deref(),
    };
    let mut ui = Ui::new(p.value("passphrase-file"))?;
    let store = open_store()?;
    let done = keygen::retarget(&store, &r, &mut ui)?;
    out!("Key successfully retargeted: {from_app} {from_ident} -> {app} {ident}");
    out!("Path to key: {}", store.local().join(&done.files[0]).display());
    if let Some(pubf) = done.files.get(1) {
        out!("Public half: {}", store.local().join(pubf).display());
    }
    out!(" plainname \"{}\"  protection {} (unchanged, as is the ACL)", done.label, done.protection);
    Ok(())
}
