//! The BYOK tools: the seed's `verifykeypackage` and `KeyTransferRemote` (-ModifyAcls,
//! -Package), the emulated toolset download (`byok-toolset`), the modern Azure path
//! (`byok-kek-import`), a local test KEK (`byok-test-kek`) and the offline check of a `.byok`
//! (`byok-verify`). The work itself is in `shieldhsm::byok`; this file parses arguments, checks
//! them, and prints what a person needs next.

use super::args::{self, valued};
use super::ps_args::{self, PsArgs};
use super::ui::Ui;
use super::{help_if_asked, no_extra, open_store};
use shieldhsm::byok::kek::{self, check_kid, Kek};
use shieldhsm::byok::keyvault;
use shieldhsm::byok::package::ByokDocument;
use shieldhsm::byok::toolset::{self, KekInput, NCIPHER_ROOT_HASH};
use shieldhsm::byok::transfer::{self, KekPackage, KeyMatch, TargetKind, Verified};
use shieldhsm::byok::vendor::{PackageBody, ROOT_LABEL};
use shieldhsm::byok::{random_hex, sha256_hex};
use shieldhsm::module::admin::{AdminError, AdminResult};
use shieldhsm::module::keygen;
use shieldhsm::module::store::Store;
use std::path::{Path, PathBuf};

fn err(what: impl Into<String>, todo: impl Into<String>) -> AdminError {
    AdminError::new(what, todo)
}

// ---------------------------------------------------------------------------------------------
// byok-toolset

const TOOLSET_USAGE: &str = "usage: byok-toolset --region REGION [--out DIR]\n  \
Stands in for the Microsoft BYOK toolset download of the 2016 workflow (emulator only): writes\n  \
BYOK-KEK-pkg-<REGION>-1, BYOK-SecurityWorld-pkg-<REGION>-1 and verifykeypackage.py into DIR (default: here), signed by\n  \
this installation's emulated vendor root (NOT Entrust/nCipher). The emulated Key Vault keeps the\n  \
KEK's private half in <data dir>/emu/keyvault/<REGION>/kek_priv.pem so byok-verify can open packages.\n  \
Regions: NA EU AP LATAM JPN KOREA SA UAE AUS USGOV USDOD CANADA GERMANY INDIA FRANCE UK SUI.";

pub fn byok_toolset(tool: &str, a: &[String]) -> AdminResult<()> {
    let p = args::parse(a, &[valued("region", Some('r')), valued("out", Some('o'))], tool)?;
    if help_if_asked(&p, TOOLSET_USAGE) {
        return Ok(());
    }
    no_extra(&p, 0, tool)?;
    let region = toolset::canonical_region(
        p.value("region").ok_or_else(|| err("no region given", format!("e.g. `{tool} --region EU`")))?,
    )?;
    let out_dir = PathBuf::from(p.value("out").unwrap_or("."));
    if !out_dir.is_dir() {
        return Err(err(format!("--out {} is not a directory", out_dir.display()), "create it first"));
    }
    let store = open_store()?;
    let t = toolset::download(&store, region, &out_dir)?;
    // The download's script, as the seed runs it: `python verifykeypackage.py -k ... -w ...`.
    let exe = std::env::current_exe()
        .and_then(std::fs::canonicalize)
        .map_err(|e| err(format!("cannot find this program's path ({e})"), "run it by its full path"))?;
    let script = super::nfast_home::write_script(&exe, &out_dir, "verifykeypackage.py")?;
    let kek = t.vault.kek()?;
    let (kek_name, world_name) = (&t.kek_package, &t.world_package);
    let (s1, s256) = &t.root_fingerprints;
    out!("Emulated BYOK toolset for region {region} (stands in for the Microsoft download; emulator only)");
    out!(" KEK package             {}", out_dir.join(kek_name).display());
    out!(" Security World package  {}", out_dir.join(world_name).display());
    out!(" script                  {}", script.display());
    out!("Signed by: {ROOT_LABEL}");
    out!(" root SHA-1    {s1}");
    out!(" root SHA-256  {s256}");
    out!("Emulated Key Vault KEK for {region}:");
    out!(" kid           {}", t.vault.kid);
    out!(" key           RSA-{}, SHA-256 fingerprint {}", kek.modulus_bits, kek.fingerprint());
    out!(
        " private half  {} (kept by the emulated vault; byok-verify --region {region} uses it)",
        toolset::kek_private_path(&store, region).display()
    );
    out!("Next: verifykeypackage -k {kek_name} -w {world_name}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// verifykeypackage

const VERIFYKEYPACKAGE_USAGE: &str = "usage: verifykeypackage -k KEK-PACKAGE -w WORLD-PACKAGE\n  \
Checks BYOK-KEK-pkg-<REGION>-1 and BYOK-SecurityWorld-pkg-<REGION>-1 (from byok-toolset) against this\n  \
installation's emulated vendor root: signatures, formats, claims, matching regions.\n  \
-k KEKforBYOK.publickey.pem (a modern Azure KEK from `az keyvault key download`) is only parsed: modern\n  \
BYOK has no vendor attestation, and -w is not needed.";

pub fn verifykeypackage(tool: &str, a: &[String]) -> AdminResult<()> {
    let opts = [valued("kek-package", Some('k')), valued("world-package", Some('w'))];
    let p = args::parse(a, &opts, tool)?;
    if help_if_asked(&p, VERIFYKEYPACKAGE_USAGE) {
        return Ok(());
    }
    no_extra(&p, 0, tool)?;
    let kek_path = p
        .value("kek-package")
        .ok_or_else(|| {
            err("no KEK package given", format!("run `{tool} -k BYOK-KEK-pkg-EU-1 -w BYOK-SecurityWorld-pkg-EU-1`"))
        })?
        .to_string();
    let world_path = p.value("world-package").map(str::to_string);
    let res = verify_packages(&kek_path, world_path.as_deref());
    if let Err(e) = &res {
        out!("Result: FAILURE: {}", e.what);
    }
    res
}

fn verify_packages(kek_path: &str, world_path: Option<&str>) -> AdminResult<()> {
    let kek_pkg = match toolset::read_kek_input(kek_path)? {
        KekInput::Signed(p) => p,
        KekInput::PublicKey(raw) => {
            out!("{kek_path}: not vendor-attested: modern Azure BYOK KEKs are downloaded from your vault, see az keyvault key download");
            let kek = Kek::parse(&raw).map_err(|e| err(format!("{kek_path}: {}", e.what), kek::KEK_TODO))?;
            out!(" KEK  RSA-{}, SHA-256 fingerprint {}", kek.modulus_bits, kek.fingerprint());
            if world_path.is_some() {
                out!(" -w is not needed for a modern Azure KEK (there is no Security World package); not checked");
            }
            out!("Use it: byok-kek-import --pem {kek_path} --kid <its versioned kid>, or KeyTransferRemote ... -ExchangeKeyPackage {kek_path} -KekId <kid>");
            out!("Result: SUCCESS");
            return Ok(());
        }
    };
    let world_path = world_path.ok_or_else(|| {
        err("no Security World package given", format!("add -w BYOK-SecurityWorld-pkg-{}-1", kek_pkg.body.region))
    })?;
    let store = open_store()?;
    let v = toolset::verify_packages(&store, kek_path, &kek_pkg, world_path)?;
    out!("Signed by: {ROOT_LABEL}");
    out!(" root SHA-1    {}", v.root_sha1);
    out!(" root SHA-256  {}", v.root_sha256);
    out!(" (an emulated root: genuine 2016 packages chained to the nCipher root {NCIPHER_ROOT_HASH}; these do not)");
    out!("KEK package {kek_path}: region {}, claims {}", kek_pkg.body.region, kek_pkg.body.claims.join(", "));
    out!(" kid  {}", v.kid);
    out!(" KEK  RSA-{}, SHA-256 fingerprint {}", v.kek.modulus_bits, v.kek.fingerprint());
    out!(
        "Security World package {world_path}: region {}, hknso {}, ciphersuite {}, claims {}",
        v.world.region,
        v.world.hknso.as_deref().unwrap_or(""),
        v.world.ciphersuite.as_deref().unwrap_or(""),
        v.world.claims.join(", ")
    );
    out!("Result: SUCCESS");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// byok-kek-import

const KEK_IMPORT_USAGE: &str = "usage: byok-kek-import --pem KEKforBYOK.publickey.pem --kid KID [--name NAME]\n  \
Registers the KEK public key `az keyvault key download` wrote (RSA 2048/3072/4096) with its versioned\n  \
kid (https://<vault>.vault.azure.net/keys/<name>/<32-hex version>) as local/kekpkg_<NAME>\n  \
(NAME defaults to the KEK's name in the kid). KeyTransferRemote then takes -ExchangeKeyPackage NAME.";

pub fn byok_kek_import(tool: &str, a: &[String]) -> AdminResult<()> {
    let p = args::parse(a, &[valued("pem", None), valued("kid", None), valued("name", None)], tool)?;
    if help_if_asked(&p, KEK_IMPORT_USAGE) {
        return Ok(());
    }
    no_extra(&p, 0, tool)?;
    let pem_path = p.value("pem").ok_or_else(|| {
        err("no KEK file given", format!("run `{tool} --pem KEKforBYOK.publickey.pem --kid <versioned kid>`"))
    })?;
    let kid = p.value("kid").ok_or_else(|| {
        err("no kid given", "add --kid https://<vault>.vault.azure.net/keys/<name>/<version> (az keyvault key show)")
    })?;
    let (bytes, kek) = transfer::read_azure_kek(pem_path, kid)?;
    let name = match p.value("name") {
        Some(n) => n.to_string(),
        None => transfer::default_kek_name(kid),
    };
    let store = open_store()?;
    let (pkg, same) = transfer::register_azure_kek(&store, &name, &bytes, &kek, kid)?;
    let file = format!("{}{name}", transfer::KEKPKG_PREFIX);
    out!(
        "KEK {} as {} ({})",
        if same { "already registered" } else { "registered" },
        pkg.name,
        store.local().join(&file).display()
    );
    out!(" kid          {}", pkg.kid);
    out!(" key          RSA-{}", pkg.modulus_bits);
    out!(" SHA-256      {}", pkg.fingerprint_sha256);
    out!(" attestation  none: modern Azure BYOK KEKs are downloaded from your vault, not vendor-attested");
    out!(
        "Next: KeyTransferRemote -ModifyAcls -KeyAppName simple -KeyIdentifier <ident> -ExchangeKeyPackage {}",
        pkg.name
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// byok-test-kek

const TEST_KEK_USAGE: &str = "\
usage: byok-test-kek [--size 2048|3072|4096] --out kek_priv.pem --pub KEKforBYOK.publickey.pem [--kid KID]
  Makes a LOCAL TEST KEK, for testing only, never for production (a real KEK's private half never
  leaves Azure): the private key as PKCS#8 PEM (mode 0600) and the public key as SPKI PEM, the file
  `az keyvault key download` writes. --kid defaults to https://test.vault.azure.net/keys/KEKforBYOK/<random>.";

pub fn byok_test_kek(tool: &str, a: &[String]) -> AdminResult<()> {
    let opts = [valued("size", None), valued("out", Some('o')), valued("pub", None), valued("kid", None)];
    let p = args::parse(a, &opts, tool)?;
    if help_if_asked(&p, TEST_KEK_USAGE) {
        return Ok(());
    }
    no_extra(&p, 0, tool)?;
    let size_s = p.value("size").unwrap_or("2048");
    let bits: usize = size_s
        .parse()
        .ok()
        .filter(|b| matches!(b, 2048 | 3072 | 4096))
        .ok_or_else(|| err(format!("--size {size_s} is not a KEK size Azure issues"), "use 2048, 3072 or 4096"))?;
    let out = p.value("out").ok_or_else(|| {
        err(
            "no --out file for the private key",
            format!("run `{tool} --out kek_priv.pem --pub KEKforBYOK.publickey.pem`"),
        )
    })?;
    let pubf = p.value("pub").ok_or_else(|| {
        err(
            "no --pub file for the public key",
            format!("run `{tool} --out kek_priv.pem --pub KEKforBYOK.publickey.pem`"),
        )
    })?;
    let kid = match p.value("kid") {
        Some(k) => {
            check_kid(k).map_err(|e| e.or_todo("pass the kid exactly as `az keyvault key show` prints it"))?;
            k.to_string()
        }
        None => format!("https://test.vault.azure.net/keys/KEKforBYOK/{}", random_hex(16)?),
    };
    let kek = kek::make_test_kek(bits, out, pubf)?;
    out!("TEST KEK made: for testing only, never for production (its private key is on this disk)");
    out!(" private key  {out} (PKCS#8 PEM, mode 0600)");
    out!(" public key   {pubf} (SPKI PEM, as `az keyvault key download` writes it)");
    out!(" key          RSA-{bits}, SHA-256 fingerprint {}", kek.fingerprint());
    out!(" kid          {kid}");
    out!("Use it: KeyTransferRemote ... -ExchangeKeyPackage {pubf} -KekId {kid}");
    out!("Check a package: byok-verify KeyTransferPackage-<name>.byok --kek-private {out} --kid {kid}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// KeyTransferRemote

const KTR_USAGE: &str = "\
usage: KeyTransferRemote -ModifyAcls -KeyAppName APP -KeyIdentifier IDENT -ExchangeKeyPackage KEK
                         [-NewSecurityWorldPackage WORLDPKG] [-KekId KID]
       KeyTransferRemote -Package -KeyIdentifier IDENT -ExchangeKeyPackage KEK [-NewSecurityWorldPackage WORLDPKG]
                         [-SubscriptionId SUB] -KeyFriendlyName NAME [-KekId KID] [-OutputDirectory DIR]
  KEK: BYOK-KEK-pkg-<REGION>-1 (from byok-toolset; then -NewSecurityWorldPackage BYOK-SecurityWorld-pkg-<REGION>-1
  is required), a name registered with byok-kek-import, or the PEM from `az keyvault key download` (with -KekId).
  -ModifyAcls asks for the Administrator Card Set quorum and writes key_xferacld_IDENT, a copy whose ACL
  only allows export wrapped to that KEK. -Package wraps that copy (CKM_RSA_AES_KEY_WRAP: AES-256,
  RSA-OAEP-SHA1) into KeyTransferPackage-NAME.byok, the JSON Azure Key Vault imports.
  -KeyType RSA|EC|oct (or RSA-HSM|EC-HSM|oct-HSM), optional: checked against the key, nothing is done
  on a mismatch.
  Parameter names are case-insensitive (-Name value or -Name:value); --passphrase-file and --card-dir
  work as in new-world.";

const KTR_SWITCHES: [&str; 3] = ["modifyacls", "package", "help"];
const KTR_VALUED: [&str; 12] = [
    "keyappname",
    "keytype",
    "keyidentifier",
    "exchangekeypackage",
    "newsecurityworldpackage",
    "subscriptionid",
    "keyfriendlyname",
    "kekid",
    "kid",
    "outputdirectory",
    "passphrase-file",
    "card-dir",
];

pub fn key_transfer_remote(tool: &str, a: &[String]) -> AdminResult<()> {
    let p = ps_args::parse(tool, a, &KTR_SWITCHES, &KTR_VALUED)?;
    if p.has("help") {
        out!("{KTR_USAGE}");
        return Ok(());
    }
    match (p.has("modifyacls"), p.has("package")) {
        (true, false) => modify_acls(tool, &p),
        (false, true) => package(&p),
        (true, true) => Err(err("-ModifyAcls and -Package both given", "run -ModifyAcls first, then -Package")),
        (false, false) => Err(err("no action given", format!("add -ModifyAcls or -Package (see `{tool} -help`)"))),
    }
}

fn required<'a>(p: &'a PsArgs, name: &str, shown: &str, example: &str) -> AdminResult<&'a str> {
    p.get(name).ok_or_else(|| err(format!("{shown} is missing"), format!("add {shown} {example}")))
}

fn kid_arg(p: &PsArgs) -> AdminResult<Option<&str>> {
    match (p.get("kekid"), p.get("kid")) {
        (Some(_), Some(_)) => Err(err("-KekId and -Kid both given", "give the KEK's kid once, with -KekId")),
        (a, b) => Ok(a.or(b)),
    }
}

/// The KEK and (for emulated vendor KEKs) its checked Security World package. Writes nothing.
fn kek_and_world(store: &Store, p: &PsArgs) -> AdminResult<(KekPackage, Option<(String, PackageBody)>)> {
    let kek_arg = required(p, "exchangekeypackage", "-ExchangeKeyPackage", "BYOK-KEK-pkg-EU-1")?;
    let world_arg = p.get("newsecurityworldpackage");
    let (kek, world) = transfer::find_kek_and_world(store, kek_arg, kid_arg(p)?, world_arg)?;
    Ok((kek, world.zip(world_arg).map(|(body, path)| (path.to_string(), body))))
}

/// Checks `-KeyType` (if given) against the key `key_<app>_<ident>` before anything is asked or
/// written.
fn check_key_type(store: &Store, p: &PsArgs, app: &str, ident: &str) -> AdminResult<()> {
    let Some(want) = p.get("keytype") else { return Ok(()) };
    let kind = transfer::key_kind(store, app, ident)?;
    match kind.matches_key_type(want) {
        None => Err(err(
            format!("-KeyType {want:?} is not known"),
            "use -KeyType RSA, EC or oct (or RSA-HSM, EC-HSM, oct-HSM)",
        )),
        Some(false) => Err(err(
            format!("-KeyType {want} does not match key {app} {ident}, which is {}", kind.describe()),
            "give the key's own type, or the ident of the key you meant",
        )),
        Some(true) => Ok(()),
    }
}

fn print_kek(kek: &KekPackage, world: &Option<(String, PackageBody)>) {
    let source = match (kek.source.as_str(), &kek.region) {
        ("emulated-vendor", Some(r)) => format!("emulated vendor package, region {r}"),
        ("azure-download", _) => "Azure download, not vendor-attested".to_string(),
        (s, _) => s.to_string(),
    };
    out!(" KEK        {} ({source}), RSA-{}, SHA-256 {}", kek.name, kek.modulus_bits, kek.fingerprint_sha256);
    out!(" kid        {}", kek.kid);
    out!(" trusted    {}", kek.trust());
    if let Some((path, b)) = world {
        out!(" world pkg  {path} verified: region {}, hknso {}", b.region, b.hknso.as_deref().unwrap_or(""));
    }
}

fn modify_acls(tool: &str, p: &PsArgs) -> AdminResult<()> {
    let app = p.get("keyappname").unwrap_or("simple");
    let ident = required(p, "keyidentifier", "-KeyIdentifier", "contosokey")?;
    for unused in ["subscriptionid", "keyfriendlyname", "outputdirectory"] {
        if p.get(unused).is_some() {
            return Err(err(format!("-{unused} belongs to -Package, not -ModifyAcls"), format!("see `{tool} -help`")));
        }
    }
    let mut ui = Ui::new(p.get("passphrase-file"))?;
    let store = open_store()?;
    check_key_type(&store, p, app, ident)?;
    let (kek, world) = kek_and_world(&store, p)?;
    out!("KeyTransferRemote -ModifyAcls: key {app} {ident}");
    print_kek(&kek, &world);
    let card_dir = p.get("card-dir").map(PathBuf::from);
    let file = transfer::modify_acls(&store, app, ident, &kek, card_dir.as_deref(), &mut ui)?;
    transfer::register_kek(&store, &kek)?;
    out!("Result: SUCCESS");
    out!("New key file: {} (ACL: export wrapped to KEK {} only)", store.local().join(&file).display(), kek.name);
    out!("Inspect it: aclprint xferacld {ident}; kmfile-dump {file}");
    out!(
        "Next: KeyTransferRemote -Package -KeyIdentifier {ident} -ExchangeKeyPackage {} ... -KeyFriendlyName <name>",
        p.get("exchangekeypackage").unwrap_or(&kek.name)
    );
    Ok(())
}

/// The `az` / PowerShell import commands for a package made to `kid`.
fn import_commands(kid: &str, friendly: &str, file: &str, kind: &TargetKind) -> Vec<String> {
    let (vault, managed) = kek::kid_vault(kid);
    let name = keyvault::key_name_for(friendly);
    let mut out = Vec::new();
    let oct = matches!(kind, TargetKind::Oct(_));
    if oct && !managed {
        out.push(format!(
            "Note: AES (oct) keys import only into a Managed HSM, and the KEK must live in that same Managed HSM \
             (a kid on <hsm>.managedhsm.azure.net); this KEK is in vault {vault}."
        ));
    }
    let target = if managed || oct { format!("--hsm-name {vault}") } else { format!("--vault-name {vault}") };
    out.push("Import it (Azure CLI):".into());
    out.push(format!("  az keyvault key import {target} --name {name} --byok-file {file} {}", kind.az_args()));
    if !oct {
        let dest = if managed { format!("-HsmName {vault}") } else { format!("-VaultName {vault}") };
        let ec = match kind {
            TargetKind::Ec(c) => format!(" -KeyType EC -CurveName {c}"),
            _ => String::new(),
        };
        out.push("Or (Azure PowerShell):".into());
        out.push(format!("  Add-AzKeyVaultKey {dest} -Name {name} -KeyFilePath {file} -Destination HSM{ec}"));
    }
    out
}

fn package(p: &PsArgs) -> AdminResult<()> {
    let ident = required(p, "keyidentifier", "-KeyIdentifier", "contosokey")?;
    let friendly = required(p, "keyfriendlyname", "-KeyFriendlyName", "ContosoFirstHSMkey")?;
    if let Some(app) = p.get("keyappname") {
        if app != transfer::XFER_APP {
            return Err(err(
                format!("-Package takes no -KeyAppName (it packages key_xferacld_{ident}, not a {app} key)"),
                "drop -KeyAppName; run -ModifyAcls -KeyAppName APP first to make the transfer copy",
            ));
        }
    }
    let (out_dir, shown_dir) = match p.get("outputdirectory") {
        Some(d) => (PathBuf::from(d), true),
        None => (std::env::current_dir()?, false),
    };
    if !out_dir.is_dir() {
        return Err(err(format!("-OutputDirectory {} is not a directory", out_dir.display()), "create it first"));
    }
    let store = open_store()?;
    check_key_type(&store, p, transfer::XFER_APP, ident)?;
    let (kek, world) = kek_and_world(&store, p)?;
    let packaged = transfer::package(&store, ident, &kek, friendly, &out_dir)?;
    transfer::register_kek(&store, &kek)?;
    let file_name = packaged.file.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
    let shown = if shown_dir { packaged.file.display().to_string() } else { file_name.clone() };
    out!("KeyTransferRemote -Package: key xferacld {ident}");
    print_kek(&kek, &world);
    out!("Result: SUCCESS");
    out!("Transfer package: {shown}");
    out!(" target     {}", packaged.kind.describe());
    out!(" format     Azure Key Vault BYOK JSON (schema 1.0.0, CKM_RSA_AES_KEY_WRAP: AES-256 + RSA-OAEP-SHA1)");
    if let Some(sub) = p.get("subscriptionid") {
        out!(
            " subscription {sub}: noted only; the modern .byok format has no slot for it (the vault you import into decides)"
        );
    }
    if kek.source == "emulated-vendor" {
        // The toolset's KEK is the emulated vault's: only the emulated vault can import this file.
        let name = keyvault::key_name_for(friendly);
        if matches!(packaged.kind, TargetKind::Oct(_)) {
            out!("Note: AES (oct) keys import only into a Managed HSM (az keyvault key import --hsm-name ...); a vault refuses them.");
        }
        out!("Import it into the emulated Key Vault (the seed's step 5):");
        out!("  Add-AzureKeyVaultKey -VaultName <your vault> -Name {name} -KeyFilePath {shown} -Destination HSM");
        out!(
            "Check it offline: byok-verify {shown} --region {}. Azure itself cannot import it (the KEK is the \
             emulator's); for a real vault, download its KEK (az keyvault key download) and use \
             -ExchangeKeyPackage KEKforBYOK.publickey.pem -KekId <kid>.",
            kek.region.as_deref().unwrap_or("<REGION>")
        );
    } else {
        for l in import_commands(&kek.kid, friendly, &shown, &packaged.kind) {
            out!("{l}");
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// byok-verify

const BYOK_VERIFY_USAGE: &str = "\
usage: byok-verify FILE.byok (--kek-private KEK_PRIV.pem | --region REGION) [--kid KID]
                   [--expect-key APP IDENT] [--public-out FILE.pem]
  Opens a .byok offline with the KEK's private key and checks every layer: the JSON fields,
  RSA-OAEP-SHA1 of the AES key, the RFC 5649 integrity check, the key's structure.
  --region uses the emulated vault's KEK from byok-toolset (and its kid). --expect-key compares the
  transferred key with key_APP_IDENT (public half for RSA/EC, value for AES). --public-out writes the
  transferred key's public half (SPKI PEM) for comparison with other tools (openssl pkey -pubout).";

pub fn byok_verify(tool: &str, a: &[String]) -> AdminResult<()> {
    // `--expect-key APP IDENT` takes two values (or one: key_APP_IDENT); take it out first.
    let mut rest = Vec::new();
    let mut expect: Option<(String, String)> = None;
    let mut i = 0;
    while i < a.len() {
        let arg = &a[i];
        i += 1;
        let first = if arg == "--expect-key" {
            let v = a
                .get(i)
                .cloned()
                .ok_or_else(|| err("--expect-key needs APP IDENT", "e.g. --expect-key simple contosokey"))?;
            i += 1;
            v
        } else if let Some(v) = arg.strip_prefix("--expect-key=") {
            v.to_string()
        } else {
            rest.push(arg.clone());
            continue;
        };
        let pair = match keygen::split_key_file(&first) {
            Some((app, ident, _)) => (app, ident),
            None => {
                let ident = a
                    .get(i)
                    .filter(|s| !s.starts_with('-'))
                    .cloned()
                    .ok_or_else(|| err("--expect-key needs APP IDENT", "e.g. --expect-key simple contosokey"))?;
                i += 1;
                (first, ident)
            }
        };
        expect = Some(pair);
    }
    let opts = [valued("kek-private", None), valued("region", None), valued("kid", None), valued("public-out", None)];
    let p = args::parse(&rest, &opts, tool)?;
    if help_if_asked(&p, BYOK_VERIFY_USAGE) {
        return Ok(());
    }
    no_extra(&p, 1, tool)?;
    let file = p
        .pos
        .first()
        .ok_or_else(|| err("no .byok file given", format!("run `{tool} FILE.byok --kek-private kek_priv.pem`")))?
        .clone();
    let res = verify_byok_file(tool, &p, &file, expect.as_ref());
    match &res {
        Ok(()) => out!("Result: SUCCESS"),
        Err(e) => out!("Result: FAILURE: {}", e.what),
    }
    res
}

fn verify_byok_file(tool: &str, p: &args::Parsed, file: &str, expect: Option<&(String, String)>) -> AdminResult<()> {
    if let Some(o) = p.value("public-out") {
        if Path::new(o).exists() {
            return Err(err(format!("{o} exists already"), "move it away or choose another --public-out"));
        }
    }
    let bytes =
        std::fs::read(file).map_err(|e| err(format!("cannot read {file} ({e})"), "check the .byok file's path"))?;
    let mut store = None;
    let (kek_private, default_kid) = match (p.value("kek-private"), p.value("region")) {
        (Some(path), None) => (kek::read_private_key(path)?, None),
        (None, Some(r)) => {
            let region = toolset::canonical_region(r)?;
            let st = open_store()?;
            let vault = toolset::load_vault(&st, region)?.ok_or_else(|| {
                err(
                    format!("this data directory has no emulated Key Vault for region {region}"),
                    format!("run byok-toolset --region {region} first, or give --kek-private"),
                )
            })?;
            let key = toolset::read_kek_private(&st, region)?;
            store = Some(st);
            (key, Some(vault.kid))
        }
        (Some(_), Some(_)) => {
            return Err(err("--kek-private and --region both given", "give one: the KEK's private key or the region"))
        }
        (None, None) => {
            return Err(err(
                "no KEK private key given",
                format!(
                    "add --kek-private kek_priv.pem (byok-test-kek) or --region EU (byok-toolset); see `{tool} --help`"
                ),
            ))
        }
    };
    let kid = p.value("kid").map(str::to_string).or(default_kid);
    let v: Verified = transfer::verify(&bytes, &kek_private, kid.as_deref())
        .map_err(|e| err(format!("{file}: {e}"), "check the KEK private key and --kid, or make the package again"))?;
    let generator = ByokDocument::parse(&bytes).ok().and_then(|(d, _)| d.generator).unwrap_or_default();
    out!("File:       {file}");
    out!(" kid        {}{}", v.kid, if kid.is_some() { " (as expected)" } else { "" });
    out!(" generator  {generator}");
    out!(" AES key    {} bits, RSA-OAEP-SHA1 to the KEK; RFC 5649 integrity check passed", v.aes_bits);
    out!(" target     {} (az keyvault key import {})", v.kind.describe(), v.kind.az_args());
    out!(" plaintext  SHA-256 {}", v.plaintext_sha256);
    if let Some(spki) = &v.public_spki {
        out!(" public key SHA-256 {} (SubjectPublicKeyInfo DER)", sha256_hex(spki));
    }
    if let Some((app, ident)) = expect {
        let st = match store {
            Some(s) => s,
            None => open_store()?,
        };
        let card_dir = p.value("card-dir").map(PathBuf::from);
        let ui = || Ui::new(p.value("passphrase-file"));
        let name = keygen::key_file_name(app, ident);
        match transfer::compare_with_key(&st, &v, app, ident, card_dir.as_deref(), ui)? {
            KeyMatch::PublicKey => out!(" key file   matches {name} (same public key)"),
            KeyMatch::Value => {
                out!(" key file   matches {name} (same key value, compared inside this tool only)")
            }
        }
    }
    if let Some(o) = p.value("public-out") {
        v.write_public_pem(o)?;
        out!(" public key written to {o}");
    }
    Ok(())
}
