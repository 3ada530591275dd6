//! The BYOK tools: the seed's `verifykeypackage` and `KeyTransferRemote` (-ModifyAcls,
//! -Package), the emulated toolset download (`byok-toolset`), the modern Azure path
//! (`byok-kek-import`), a local test KEK (`byok-test-kek`) and the offline check of a `.byok`
//! (`byok-verify`). The work itself is in `shieldhsm::byok`; this file parses arguments, checks
//! everything before the first write, and prints what a person needs next.

use super::args::{self, valued};
use super::keyvault::{load_vault, vault_rel, EmulatedVault};
use super::ps_args::{self, PsArgs};
use super::ui::Ui;
use super::{help_if_asked, no_extra, open_store};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use cryptoki_sys::*;
use shieldhsm::byok::kek::{check_kid, pkcs8_from_pkcs1, Kek};
use shieldhsm::byok::kekpkg;
use shieldhsm::byok::package::ByokDocument;
use shieldhsm::byok::transfer::{self, KekPackage, TargetKind, Verified};
use shieldhsm::byok::vendor::{self, PackageBody, SignedPackage, VendorRoot, ROOT_LABEL};
use shieldhsm::module::admin::{AdminError, AdminResult, Interaction, Txn};
use shieldhsm::module::keygen::{self, PUB_SUFFIX};
use shieldhsm::module::store::Store;
use shieldhsm::module::world;
use shieldhsm::object::stored;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The seed's regions (one toolset download each).
pub const REGIONS: [&str; 17] = [
    "NA", "EU", "AP", "LATAM", "JPN", "KOREA", "SA", "UAE", "AUS", "USGOV", "USDOD", "CANADA", "GERMANY", "INDIA",
    "FRANCE", "UK", "SUI",
];

const WORLD_PKG_FORMAT: &str = "shieldhsm/byok-world-pkg/1";
const WORLD_CLAIMS: [&str; 1] = ["genuine-hsm-world"];
/// The Azure world's cipher suite the emulated Security World package names.
const AZURE_WORLD_CIPHERSUITE: &str = "DLf3072s256mAEScSP800131Ar1";
/// The real nCipher/Thales root hash the 2016 script checked (docs/nshield-emulation.md §1.7):
/// printed only to say that our packages do **not** chain to it.
const NCIPHER_ROOT_HASH: &str = "59178a47 de508c3f 291277ee 184f46c4 f1d9c639";

fn err(what: impl Into<String>, todo: impl Into<String>) -> AdminError {
    AdminError::new(what, todo)
}

/// A kid refusal: `check_kid`'s message already says what a kid looks like.
fn kid_err(e: shieldhsm::byok::kek::KekError) -> AdminError {
    match e.0.split_once(" \u{2014} ") {
        Some((what, todo)) => err(what, todo),
        None => err(e.0, "pass the kid exactly as `az keyvault key show` prints it"),
    }
}

const KEK_TODO: &str = "give the KEK `az keyvault key download` wrote (an RSA-HSM key of 2048, 3072 or 4096 bits)";

// ---------------------------------------------------------------------------------------------
// PEM and small DER helpers

fn pem(label: &str, der: &[u8]) -> String {
    let b = B64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The first PEM block of `text`: (label, DER).
fn pem_block(text: &str) -> Option<(String, Vec<u8>)> {
    let mut label = None;
    let mut body = String::new();
    for line in text.lines() {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix("-----BEGIN ") {
            label = Some(rest.trim_end_matches('-').to_string());
        } else if l.starts_with("-----END") {
            break;
        } else if label.is_some() && !l.contains(':') {
            body.push_str(l);
        }
    }
    Some((label?, B64.decode(body.as_bytes()).ok()?))
}

/// A KEK private key file as PKCS#8 DER: `BEGIN PRIVATE KEY` (what byok-test-kek and openssl
/// write), `BEGIN RSA PRIVATE KEY`, or DER.
pub(super) fn read_private_key(path: &str) -> AdminResult<Vec<u8>> {
    let raw = std::fs::read(path)
        .map_err(|e| err(format!("cannot read the KEK private key {path} ({e})"), "check the --kek-private path"))?;
    let text = std::str::from_utf8(&raw).ok().filter(|t| t.contains("-----BEGIN"));
    let Some(text) = text else { return Ok(raw) };
    match pem_block(text) {
        Some((l, der)) if l == "PRIVATE KEY" => Ok(der),
        Some((l, der)) if l == "RSA PRIVATE KEY" => Ok(pkcs8_from_pkcs1(&der)),
        Some((l, _)) => Err(err(
            format!("{path} holds a {l}, not an unencrypted RSA private key"),
            "give the KEK's private key PEM (BEGIN PRIVATE KEY), e.g. the one byok-test-kek wrote",
        )),
        None => Err(err(format!("{path} is not a readable PEM file"), "give the KEK's private key PEM")),
    }
}

pub(super) fn sha256_hex(b: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b))
}

pub(super) fn random_hex(bytes: usize) -> AdminResult<String> {
    let mut b = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut b).map_err(|_| err("no randomness available", "retry"))?;
    Ok(hex::encode(b))
}

/// An RSA key pair for a KEK: (PKCS#8 DER, SPKI DER).
fn rsa_kek(bits: usize) -> AdminResult<(zeroize::Zeroizing<Vec<u8>>, Vec<u8>)> {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rsa::{KeySize, PrivateDecryptingKey};
    let size = match bits {
        2048 => KeySize::Rsa2048,
        3072 => KeySize::Rsa3072,
        4096 => KeySize::Rsa4096,
        _ => return Err(err(format!("KEK size {bits} is not one Azure issues"), "use --size 2048, 3072 or 4096")),
    };
    let failed = || err("RSA key generation failed", "retry");
    let key = PrivateDecryptingKey::generate(size).map_err(|_| failed())?;
    let der = key.as_der().map_err(|_| failed())?;
    let spki = key.public_key().as_der().map_err(|_| failed())?;
    Ok((zeroize::Zeroizing::new(der.as_ref().to_vec()), spki.as_ref().to_vec()))
}

pub(super) fn describe_kind(k: &TargetKind) -> String {
    match k {
        TargetKind::Rsa(bits) => format!("RSA-{bits}"),
        TargetKind::Ec(c) => format!("EC {c}"),
        TargetKind::Oct(bits) => format!("oct AES-{bits}"),
    }
}

fn canonical_region(r: &str) -> AdminResult<&'static str> {
    let up = r.trim().to_ascii_uppercase();
    REGIONS.iter().copied().find(|x| *x == up).ok_or_else(|| {
        err(format!("unknown region {r:?}"), format!("use one of the toolset regions: {}", REGIONS.join(", ")))
    })
}

// ---------------------------------------------------------------------------------------------
// Signed packages

fn read_signed(path: &str, what: &str) -> AdminResult<SignedPackage> {
    let raw = std::fs::read(path).map_err(|e| {
        err(
            format!("cannot read the {what} {path} ({e})"),
            "give the file byok-toolset wrote (BYOK-...-pkg-<REGION>-1)",
        )
    })?;
    serde_json::from_slice(&raw).map_err(|_| {
        err(format!("{path} is not a {what} (not a signed shieldhsm package)"), "give the file byok-toolset wrote")
    })
}

fn trusted_root(store: &Store) -> AdminResult<VendorRoot> {
    VendorRoot::load(store)
        .map_err(|e| err(e, "restore emu/vendor-root.json or use a fresh data directory"))?
        .ok_or_else(|| {
            err(
                "this installation has no emulated vendor root to check packages against",
                "run byok-toolset --region <REGION> in this data directory first",
            )
        })
}

/// Checks a package's signature against this installation's root; returns (SHA-1, SHA-256).
fn check_signature(p: &SignedPackage, root: &VendorRoot, name: &str) -> AdminResult<(String, String)> {
    p.verify(&root.public_key()).map_err(|e| {
        err(format!("{name}: {e}"), "use the packages byok-toolset wrote for this data directory, unaltered")
    })
}

fn missing_claims(have: &[String], want: &[&str]) -> Vec<String> {
    want.iter().filter(|w| !have.iter().any(|h| h == *w)).map(|w| w.to_string()).collect()
}

fn check_world_body(b: &PackageBody, name: &str) -> AdminResult<()> {
    if b.format != WORLD_PKG_FORMAT {
        return Err(err(
            format!("{name} is not a Security World package (format {})", b.format),
            "pass BYOK-SecurityWorld-pkg-<REGION>-1 to -w / -NewSecurityWorldPackage",
        ));
    }
    let missing = missing_claims(&b.claims, &WORLD_CLAIMS);
    if !missing.is_empty() {
        return Err(err(format!("{name} does not claim {}", missing.join(", ")), "download the toolset again"));
    }
    let ok_hash = b.hknso.as_deref().is_some_and(|h| h.len() == 40 && h.chars().all(|c| c.is_ascii_hexdigit()));
    if !ok_hash || b.ciphersuite.as_deref().unwrap_or("").is_empty() {
        return Err(err(format!("{name} names no Security World (hknso, ciphersuite)"), "download the toolset again"));
    }
    Ok(())
}

/// `-NewSecurityWorldPackage` for a KEK: signature, format, claims and the KEK's region.
fn check_world_package(store: &Store, path: &str, kek: &KekPackage) -> AdminResult<PackageBody> {
    let root = trusted_root(store)?;
    let p = read_signed(path, "Security World package")?;
    check_signature(&p, &root, path)?;
    check_world_body(&p.body, path)?;
    if let Some(r) = &kek.region {
        if &p.body.region != r {
            return Err(err(
                format!(
                    "the Security World package is for region {} but the KEK package for region {r}",
                    p.body.region
                ),
                format!("use BYOK-SecurityWorld-pkg-{r}-1 with BYOK-KEK-pkg-{r}-1"),
            ));
        }
    }
    Ok(p.body)
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
    let region = canonical_region(
        p.value("region").ok_or_else(|| err("no region given", format!("e.g. `{tool} --region EU`")))?,
    )?;
    let out_dir = PathBuf::from(p.value("out").unwrap_or("."));
    if !out_dir.is_dir() {
        return Err(err(format!("--out {} is not a directory", out_dir.display()), "create it first"));
    }
    let store = open_store()?;
    let existing = load_vault(&store, region)?;
    let fresh = match &existing {
        Some(_) => None,
        None => Some(rsa_kek(2048)?),
    };
    let lock = store.lock()?;
    let root = VendorRoot::load_or_create(&store, &lock)
        .map_err(|e| err(e, "restore emu/vendor-root.json or use a fresh data directory"))?;
    let mut txn = Txn::new(&lock);
    let vault = match existing {
        Some(v) => v,
        None => {
            let (private, spki) = fresh.ok_or_else(|| err("internal: no KEK", "report this"))?;
            let v = EmulatedVault {
                format: "shieldhsm/emulated-keyvault/1".into(),
                region: region.into(),
                kid: format!(
                    "https://byok-emulated-{}.vault.azure.net/keys/KEKforBYOK/{}",
                    region.to_ascii_lowercase(),
                    random_hex(16)?
                ),
                kek_spki: B64.encode(&spki),
                world_hknso: random_hex(20)?,
                world_ciphersuite: AZURE_WORLD_CIPHERSUITE.into(),
            };
            txn.write_emu(&vault_rel(region, "kek_priv.pem"), pem("PRIVATE KEY", &private).as_bytes())?;
            let json = serde_json::to_vec_pretty(&v).map_err(|e| err(e.to_string(), "report this"))?;
            txn.write_emu(&vault_rel(region, "vault.json"), &json)?;
            v
        }
    };
    let sign = |body: PackageBody| SignedPackage::sign(body, &root).map_err(|e| err(e, "retry"));
    let kek_pkg = sign(PackageBody {
        format: kekpkg::KEK_PKG_FORMAT.into(),
        region: region.into(),
        kid: Some(vault.kid.clone()),
        kek_spki: Some(vault.kek_spki.clone()),
        hknso: None,
        ciphersuite: None,
        claims: kekpkg::KEK_CLAIMS.iter().map(|c| c.to_string()).collect(),
    })?;
    let world_pkg = sign(PackageBody {
        format: WORLD_PKG_FORMAT.into(),
        region: region.into(),
        kid: None,
        kek_spki: None,
        hknso: Some(vault.world_hknso.clone()),
        ciphersuite: Some(vault.world_ciphersuite.clone()),
        claims: WORLD_CLAIMS.iter().map(|c| c.to_string()).collect(),
    })?;
    let kek_name = format!("BYOK-KEK-pkg-{region}-1");
    let world_name = format!("BYOK-SecurityWorld-pkg-{region}-1");
    for (name, pkg) in [(&kek_name, &kek_pkg), (&world_name, &world_pkg)] {
        let mut json = serde_json::to_vec_pretty(pkg).map_err(|e| err(e.to_string(), "report this"))?;
        json.push(b'\n');
        txn.write_in(&out_dir, name, &json)?;
    }
    txn.commit();
    drop(lock);
    // The download's script, as the seed runs it: `python verifykeypackage.py -k ... -w ...`.
    let exe = std::env::current_exe()
        .and_then(std::fs::canonicalize)
        .map_err(|e| err(format!("cannot find this program's path ({e})"), "run it by its full path"))?;
    let script = super::nfast_home::write_script(&exe, &out_dir, "verifykeypackage.py")?;
    let kek_der = B64.decode(&vault.kek_spki).map_err(|_| err("the emulated vault is damaged", "see emu/keyvault"))?;
    let kek = Kek::parse(&kek_der).map_err(|e| err(e.0, "see emu/keyvault"))?;
    let (s1, s256) = vendor::fingerprints(&root.public_key());
    out!("Emulated BYOK toolset for region {region} (stands in for the Microsoft download; emulator only)");
    out!(" KEK package             {}", out_dir.join(&kek_name).display());
    out!(" Security World package  {}", out_dir.join(&world_name).display());
    out!(" script                  {}", script.display());
    out!("Signed by: {ROOT_LABEL}");
    out!(" root SHA-1    {s1}");
    out!(" root SHA-256  {s256}");
    out!("Emulated Key Vault KEK for {region}:");
    out!(" kid           {}", vault.kid);
    out!(" key           RSA-{}, SHA-256 fingerprint {}", kek.modulus_bits, kek.fingerprint());
    out!(
        " private half  {} (kept by the emulated vault; byok-verify --region {region} uses it)",
        store.emu().join(vault_rel(region, "kek_priv.pem")).display()
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
    let raw = std::fs::read(kek_path)
        .map_err(|e| err(format!("cannot read the KEK package {kek_path} ({e})"), "check the -k path"))?;
    let signed = serde_json::from_slice::<SignedPackage>(&raw);
    if signed.is_err() && raw.trim_ascii_start().starts_with(b"{") {
        return Err(err(
            format!("{kek_path} is not a readable KEK package (damaged, or not from byok-toolset)"),
            "write the packages again with byok-toolset",
        ));
    }
    let Ok(kek_pkg) = signed else {
        // Not a signed package: a modern Azure KEK public key, which has no attestation to check.
        out!("{kek_path}: not vendor-attested: modern Azure BYOK KEKs are downloaded from your vault, see az keyvault key download");
        let kek = Kek::parse(&raw).map_err(|e| err(format!("{kek_path}: {e}"), KEK_TODO))?;
        out!(" KEK  RSA-{}, SHA-256 fingerprint {}", kek.modulus_bits, kek.fingerprint());
        if world_path.is_some() {
            out!(" -w is not needed for a modern Azure KEK (there is no Security World package); not checked");
        }
        out!("Use it: byok-kek-import --pem {kek_path} --kid <its versioned kid>, or KeyTransferRemote ... -ExchangeKeyPackage {kek_path} -KekId <kid>");
        out!("Result: SUCCESS");
        return Ok(());
    };
    let world_path = world_path.ok_or_else(|| {
        err("no Security World package given", format!("add -w BYOK-SecurityWorld-pkg-{}-1", kek_pkg.body.region))
    })?;
    let store = open_store()?;
    let root = trusted_root(&store)?;
    let world_pkg = read_signed(world_path, "Security World package")?;
    let (s1, s256) = check_signature(&kek_pkg, &root, kek_path)?;
    check_signature(&world_pkg, &root, world_path)?;
    let (kek, kid) = kekpkg::check_kek_body(&kek_pkg.body, kek_path)?;
    check_world_body(&world_pkg.body, world_path)?;
    if kek_pkg.body.region != world_pkg.body.region {
        return Err(err(
            format!(
                "the KEK package is for region {} but the Security World package for region {}",
                kek_pkg.body.region, world_pkg.body.region
            ),
            "use the two packages of one region",
        ));
    }
    out!("Signed by: {ROOT_LABEL}");
    out!(" root SHA-1    {s1}");
    out!(" root SHA-256  {s256}");
    out!(" (an emulated root: genuine 2016 packages chained to the nCipher root {NCIPHER_ROOT_HASH}; these do not)");
    out!("KEK package {kek_path}: region {}, claims {}", kek_pkg.body.region, kek_pkg.body.claims.join(", "));
    out!(" kid  {kid}");
    out!(" KEK  RSA-{}, SHA-256 fingerprint {}", kek.modulus_bits, kek.fingerprint());
    out!(
        "Security World package {world_path}: region {}, hknso {}, ciphersuite {}, claims {}",
        world_pkg.body.region,
        world_pkg.body.hknso.as_deref().unwrap_or(""),
        world_pkg.body.ciphersuite.as_deref().unwrap_or(""),
        world_pkg.body.claims.join(", ")
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
    check_kid(kid).map_err(kid_err)?;
    let bytes =
        std::fs::read(pem_path).map_err(|e| err(format!("cannot read {pem_path} ({e})"), "check the --pem path"))?;
    let kek = Kek::parse(&bytes).map_err(|e| err(e.0, KEK_TODO))?;
    let name = match p.value("name") {
        Some(n) => n.to_string(),
        None => kid.split('/').nth(4).unwrap_or("KEKforBYOK").to_string(),
    };
    let store = open_store()?;
    let file = format!("{}{name}", transfer::KEKPKG_PREFIX);
    let registered = KekPackage::load_registered(&store, &name)?;
    let same = registered.as_ref().is_some_and(|o| o.kid == kid && o.fingerprint_sha256 == kek.fingerprint());
    let pkg = match registered {
        Some(pkg) if same => pkg,
        _ => transfer::import_azure_kek(&store, &name, &bytes, kid)?,
    };
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
            check_kid(k).map_err(kid_err)?;
            k.to_string()
        }
        None => format!("https://test.vault.azure.net/keys/KEKforBYOK/{}", random_hex(16)?),
    };
    for f in [out, pubf] {
        if Path::new(f).exists() {
            return Err(err(format!("{f} exists already"), "move it away or choose another file name"));
        }
    }
    if Path::new(out) == Path::new(pubf) {
        return Err(err("--out and --pub name the same file", "give two file names"));
    }
    let (private, spki) = rsa_kek(bits)?;
    let write =
        |path: &str, mode: u32, text: &str| -> AdminResult<()> {
            let mut f =
                std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(path).map_err(|e| {
                    err(format!("cannot create {path} ({e})"), "check the directory and its permissions")
                })?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            Ok(())
        };
    write(out, 0o600, &pem("PRIVATE KEY", &private))?;
    if let Err(e) = write(pubf, 0o644, &pem("PUBLIC KEY", &spki)) {
        let _ = std::fs::remove_file(out);
        return Err(e);
    }
    let kek = Kek::parse(&spki).map_err(|e| err(e.0, "report this"))?;
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
  Parameter names are case-insensitive (-Name value or -Name:value); --passphrase-file and --card-dir
  work as in new-world.";

const KTR_SWITCHES: [&str; 3] = ["modifyacls", "package", "help"];
const KTR_VALUED: [&str; 11] = [
    "keyappname",
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
    let kid = kid_arg(p)?;
    let kek = transfer::find_kek(store, kek_arg, kid)?;
    if let Some(k) = kid {
        if k != kek.kid {
            return Err(err(
                format!("-KekId {k} is not the kid of KEK {} ({})", kek.name, kek.kid),
                "drop -KekId, or give the KEK file that belongs to it",
            ));
        }
    }
    let world = match p.get("newsecurityworldpackage") {
        Some(w) => Some((w.to_string(), check_world_package(store, w, &kek)?)),
        None if kek.source == "emulated-vendor" => {
            let r = kek.region.clone().unwrap_or_else(|| "<REGION>".into());
            return Err(err(
                format!("-NewSecurityWorldPackage is missing (KEK {} comes from a vendor package)", kek.name),
                format!("add -NewSecurityWorldPackage BYOK-SecurityWorld-pkg-{r}-1"),
            ));
        }
        None => None,
    };
    Ok((kek, world))
}

fn print_kek(kek: &KekPackage, world: &Option<(String, PackageBody)>) {
    let source = match (kek.source.as_str(), &kek.region) {
        ("emulated-vendor", Some(r)) => format!("emulated vendor package, region {r}"),
        ("azure-download", _) => "Azure download, not vendor-attested".to_string(),
        (s, _) => s.to_string(),
    };
    out!(" KEK        {} ({source}), RSA-{}, SHA-256 {}", kek.name, kek.modulus_bits, kek.fingerprint_sha256);
    out!(" kid        {}", kek.kid);
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
    let host = kid.strip_prefix("https://").and_then(|r| r.split('/').next()).unwrap_or("");
    let vault = host.split('.').next().unwrap_or("<vault>");
    let managed = host.contains(".managedhsm.");
    // Key Vault key names take letters, digits and '-'.
    let name: String = friendly.chars().map(|c| if c == '_' { '-' } else { c }).collect();
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
    let (kek, world) = kek_and_world(&store, p)?;
    let packaged = transfer::package(&store, ident, &kek, friendly, &out_dir)?;
    transfer::register_kek(&store, &kek)?;
    let file_name = packaged.file.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
    let shown = if shown_dir { packaged.file.display().to_string() } else { file_name.clone() };
    out!("KeyTransferRemote -Package: key xferacld {ident}");
    print_kek(&kek, &world);
    out!("Result: SUCCESS");
    out!("Transfer package: {shown}");
    out!(" target     {}", describe_kind(&packaged.kind));
    out!(" format     Azure Key Vault BYOK JSON (schema 1.0.0, CKM_RSA_AES_KEY_WRAP: AES-256 + RSA-OAEP-SHA1)");
    if let Some(sub) = p.get("subscriptionid") {
        out!(
            " subscription {sub}: noted only; the modern .byok format has no slot for it (the vault you import into decides)"
        );
    }
    if kek.source == "emulated-vendor" {
        // The toolset's KEK is the emulated vault's: only the emulated vault can import this file.
        let name: String = friendly.chars().map(|c| if c == '_' { '-' } else { c }).collect();
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
        (Some(path), None) => (read_private_key(path)?, None),
        (None, Some(r)) => {
            let region = canonical_region(r)?;
            let st = open_store()?;
            let vault = load_vault(&st, region)?.ok_or_else(|| {
                err(
                    format!("this data directory has no emulated Key Vault for region {region}"),
                    format!("run byok-toolset --region {region} first, or give --kek-private"),
                )
            })?;
            let path = st.emu().join(vault_rel(region, "kek_priv.pem"));
            let key = read_private_key(&path.to_string_lossy())?;
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
    out!(" target     {} (az keyvault key import {})", describe_kind(&v.kind), v.kind.az_args());
    out!(" plaintext  SHA-256 {}", v.plaintext_sha256);
    if let Some(spki) = &v.public_spki {
        out!(" public key SHA-256 {} (SubjectPublicKeyInfo DER)", sha256_hex(spki));
    }
    if let Some((app, ident)) = expect {
        let st = match store {
            Some(s) => s,
            None => open_store()?,
        };
        compare_with_key(&st, p, &v, app, ident)?;
    }
    if let Some(o) = p.value("public-out") {
        let spki = v
            .public_spki
            .as_ref()
            .ok_or_else(|| err("an AES key has no public half to write", "drop --public-out for oct packages"))?;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(o)
            .map_err(|e| err(format!("cannot create {o} ({e})"), "check the --public-out path"))?;
        f.write_all(pem("PUBLIC KEY", spki).as_bytes())?;
        out!(" public key written to {o}");
    }
    Ok(())
}

fn compare_with_key(store: &Store, p: &args::Parsed, v: &Verified, app: &str, ident: &str) -> AdminResult<()> {
    let op = world::operational(store, 1, "byok-verify --expect-key")?;
    let name = keygen::key_file_name(app, ident);
    let mismatch = |what: &str| {
        err(
            format!("the package's key is not {name} ({what} differ)"),
            "check which key was transferred, or --expect-key",
        )
    };
    match &v.public_spki {
        Some(spki) => {
            let pub_name = format!("{name}{PUB_SUFFIX}");
            let ours = if store.exists(&pub_name) {
                let raw = store.read(&pub_name)?;
                let attrs = stored::open_file(&pub_name, &raw, &op.km).map_err(|_| {
                    err(format!("local/{pub_name} does not open with this world"), "restore it from backup")
                })?;
                keygen::public_key_info(&attrs)
            } else {
                let mut ui = Ui::new(p.value("passphrase-file"))?;
                let card_dir = p.value("card-dir").map(PathBuf::from);
                let (_, attrs) = keygen::open_key(store, &op, app, ident, card_dir.as_deref(), &mut ui)?;
                ui.busy_end();
                keygen::public_key_info(&attrs)
            };
            let ours =
                ours.ok_or_else(|| err(format!("{name} has no public key to compare"), "give an RSA or EC key"))?;
            if &ours != spki {
                return Err(mismatch("public keys"));
            }
            out!(" key file   matches {name} (same public key)");
        }
        None => {
            let mut ui = Ui::new(p.value("passphrase-file"))?;
            let card_dir = p.value("card-dir").map(PathBuf::from);
            let (_, attrs) = keygen::open_key(store, &op, app, ident, card_dir.as_deref(), &mut ui)?;
            let value = attrs
                .bytes(CKA_VALUE)
                .ok_or_else(|| err(format!("{name} is not a secret key"), "give the AES key that was transferred"))?;
            if sha256_hex(value) != v.plaintext_sha256 {
                return Err(mismatch("key values"));
            }
            out!(" key file   matches {name} (same key value, compared inside this tool only)");
        }
    }
    Ok(())
}
