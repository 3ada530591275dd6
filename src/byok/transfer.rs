//! The key transfer itself (the seed's `KeyTransferRemote`): KEK packages in the data
//! directory, the ACS-authorised reduced-ACL copy `key_xferacld_<ident>`, and the `.byok`
//! package wrapped to the KEK with CKM_RSA_AES_KEY_WRAP (AES-256, OAEP-SHA-1) — plus the offline
//! check of a package with the KEK's private key.

use super::kek::{self, check_kid, Kek};
use super::kekpkg::{self, REGISTERED_FORMAT};
use super::package::ByokDocument;
use super::sha256_hex;
use super::toolset;
use super::vendor::{PackageBody, SignedPackage};
use crate::mech::{self, KeyMaterial, Params};
use crate::module::acl::{self, Acl, Permission};
use crate::module::admin::{fail, AdminError, AdminResult, Interaction};
use crate::module::keygen::{self, key_file_name, open_key, PUB_SUFFIX};
use crate::module::kmfile;
use crate::module::store::Store;
use crate::module::world::{load_acs, operational};
use crate::object::attr::{Attr, AttrMap, CKA_NFKM_APPNAME, CKA_NFKM_HASH, CKA_NFKM_ID, CKA_SHSM_ACL};
use crate::object::stored::{self, Protection};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use cryptoki_sys::*;
use serde::{Deserialize, Serialize};
use std::path::Path;
use zeroize::Zeroizing;

pub const KEKPKG_PREFIX: &str = "kekpkg_";
pub const XFER_APP: &str = "xferacld";
pub const GENERATOR: &str = concat!(
    "shieldhsm KeyTransferRemote ",
    env!("CARGO_PKG_VERSION"),
    "; emulated nShield (not Entrust hardware) firmware emu-12.72.2"
);

/// A KEK registered in `local/kekpkg_<name>`.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct KekPackage {
    pub format: String,
    pub name: String,
    pub kid: String,
    /// SubjectPublicKeyInfo DER, base64.
    pub spki: String,
    pub modulus_bits: usize,
    pub fingerprint_sha256: String,
    /// `azure-download` (a real Key Vault KEK; no vendor attestation exists for it) or
    /// `emulated-vendor` (from `byok-toolset`, signed by the emulated vendor root).
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// HMAC-SHA256 of the fields above under the world's key (see `kekpkg`), set when registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
}

impl KekPackage {
    fn mac_fields(&self) -> [&str; 6] {
        [&self.format, &self.name, &self.kid, &self.spki, &self.source, self.region.as_deref().unwrap_or("")]
    }

    /// Reads `local/kekpkg_<name>`: `None` when there is none; refused when its MAC does not check
    /// out under this world. Fingerprint and size are recomputed from the SPKI.
    pub fn load_registered(store: &Store, name: &str) -> AdminResult<Option<KekPackage>> {
        let file = format!("{KEKPKG_PREFIX}{name}");
        if !store.exists(&file) {
            return Ok(None);
        }
        let mut pkg: KekPackage = serde_json::from_slice(&store.read(&file)?).map_err(|_| damaged_pkg(name))?;
        let key = kekpkg::mac_key(store)?;
        if !pkg.mac.as_deref().is_some_and(|t| kekpkg::mac_ok(&key, &pkg.mac_fields(), t)) {
            return fail(
                format!("local/{file} fails its integrity check (changed outside the module)"),
                "remove it and register the KEK again (byok-kek-import, or the vendor KEK package)",
            );
        }
        let kek = pkg.kek()?;
        pkg.fingerprint_sha256 = kek.fingerprint();
        pkg.modulus_bits = kek.modulus_bits;
        Ok(Some(pkg))
    }

    /// The same KEK under the same kid.
    fn same_kek(&self, other: &KekPackage) -> bool {
        self.spki == other.spki && self.kid == other.kid
    }

    pub fn kek(&self) -> AdminResult<Kek> {
        let der = B64.decode(&self.spki).map_err(|_| damaged_pkg(&self.name))?;
        Kek::parse(&der).map_err(|e| AdminError::new(format!("KEK package {}: {e}", self.name), "import the KEK again"))
    }
}

fn damaged_pkg(name: &str) -> AdminError {
    AdminError::new(format!("KEK package {name} is damaged"), "import the KEK again with byok-kek-import")
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Whether `name` is of the form the vendor's toolset gives its packages
/// (`BYOK-KEK-pkg-<REGION>-<n>`, `BYOK-SecurityWorld-pkg-…`, any case). Such a name is only ever
/// a vendor-attested KEK: a KEK registered without attestation may not take it, so an
/// administrator who names the vendor package never reaches somebody else's key.
pub fn is_vendor_package_name(name: &str) -> bool {
    let l = name.to_ascii_lowercase();
    l.starts_with("byok-kek-pkg-") || l.starts_with("byok-securityworld-pkg-")
}

impl KekPackage {
    /// Vendor-attested: registered from a package whose signature chained to the trusted
    /// (emulated) vendor root. The registered file is authenticated, so this cannot be edited in.
    pub fn attested(&self) -> bool {
        self.source == "emulated-vendor"
    }

    /// Why a command may use this KEK, in one line for the person running it.
    pub fn trust(&self) -> String {
        if self.attested() {
            format!("vendor-attested package, region {}", self.region.as_deref().unwrap_or("?"))
        } else {
            "not vendor-attested (an Azure download): trusted only as far as the ACS quorum approves a transfer \
             copy to this fingerprint; compare it with `az keyvault key show`"
                .to_string()
        }
    }
}

/// The vendor interface's `SHSM_ImportKek`: registers either a vendor-signed KEK package (its
/// signature checked against the trusted vendor root; registered as attested under the
/// package's own name, which `name` must be) or an Azure KEK download (registered as not
/// attested, under a name that is no vendor package name). Needs no authority, as nShield's
/// host-side `kmdata` files need none: what an unattested KEK may receive is decided later, by
/// the ACS quorum approving a transfer copy bound to its fingerprint.
pub fn import_kek(store: &Store, name: &str, bytes: &[u8], kid: Option<&str>) -> AdminResult<KekPackage> {
    let Ok(signed) = serde_json::from_slice::<SignedPackage>(bytes) else {
        let kid = kid.ok_or_else(|| {
            AdminError::new("a downloaded KEK needs its kid", "pass the versioned kid (az keyvault key show)")
        })?;
        return import_azure_kek(store, name, bytes, kid);
    };
    let pkg = kek_from_vendor_package(store, &signed)?;
    if pkg.name != name {
        return fail(
            format!("the vendor package is {}, not {name}", pkg.name),
            format!("register it under its own name, {}", pkg.name),
        );
    }
    if kid.is_some_and(|k| k != pkg.kid) {
        return fail(format!("the vendor package's kid is {}", pkg.kid), "pass no kid, or that one");
    }
    check_no_conflict(store, &pkg)?;
    register_kek(store, &pkg)?;
    Ok(pkg)
}

/// Registers an Azure KEK (the file `az keyvault key download` wrote) under a local name.
pub fn import_azure_kek(store: &Store, name: &str, kek_bytes: &[u8], kid: &str) -> AdminResult<KekPackage> {
    let pkg = azure_kek_package(name, kek_bytes, kid)?;
    save_kekpkg(store, &pkg)?;
    Ok(pkg)
}

fn save_kekpkg(store: &Store, pkg: &KekPackage) -> AdminResult<()> {
    let key = kekpkg::mac_key(store)?;
    let lock = store.lock()?;
    let file = format!("{KEKPKG_PREFIX}{}", pkg.name);
    if KekPackage::load_registered(store, &pkg.name)?.is_some_and(|o| !o.same_kek(pkg)) {
        return fail(
            format!("a different KEK is already registered as {}", pkg.name),
            "choose another name with --name",
        );
    }
    let mut sealed = pkg.clone();
    sealed.mac = Some(kekpkg::mac(&key, &pkg.mac_fields()));
    let json = serde_json::to_vec_pretty(&sealed).map_err(|e| AdminError::new(e.to_string(), "report this"))?;
    lock.write(&file, &json)?;
    lock.bump();
    Ok(())
}

/// Finds the KEK an `-ExchangeKeyPackage` argument names: a registered package name, a signed
/// emulated vendor package file (checked against the vendor root), or a KEK PEM/DER file (which
/// then needs `kid`). Registers a KEK met for the first time as `local/kekpkg_<name>`.
pub fn resolve_kek(store: &Store, arg: &str, kid: Option<&str>) -> AdminResult<KekPackage> {
    let pkg = find_kek(store, arg, kid)?;
    register_kek(store, &pkg)?;
    Ok(pkg)
}

/// [`resolve_kek`] without writing anything: every check (signature, KEK size, kid, a
/// different KEK already registered under the same name) but no `kekpkg_` file and no vendor
/// root created. Commands call this first and [`register_kek`] once their work has succeeded,
/// so a refused command leaves the data directory as it was.
pub fn find_kek(store: &Store, arg: &str, kid: Option<&str>) -> AdminResult<KekPackage> {
    if valid_name(arg) && !Path::new(arg).exists() {
        if let Some(pkg) = KekPackage::load_registered(store, arg)? {
            if is_vendor_package_name(arg) && !pkg.attested() {
                return fail(
                    format!("{arg} is not here, and the KEK registered under that name is not vendor-attested"),
                    "run the command where the toolset's BYOK-KEK-pkg file is (byok-toolset), or remove local/kekpkg_ of that name",
                );
            }
            return Ok(pkg);
        }
        if is_vendor_package_name(arg) {
            return fail(
                format!("the vendor KEK package {arg} is not in this directory"),
                "run the command where byok-toolset wrote it, or give its path",
            );
        }
    }
    let path = Path::new(arg);
    let bytes = std::fs::read(path).map_err(|e| {
        AdminError::new(
            format!("-ExchangeKeyPackage {arg}: {e}"),
            "give a KEK registered with byok-kek-import, a BYOK-KEK-pkg file, or the KEK .pem",
        )
    })?;
    let pkg = if let Ok(signed) = serde_json::from_slice::<SignedPackage>(&bytes) {
        kek_from_vendor_package(store, &signed)?
    } else if bytes.trim_ascii_start().starts_with(b"{") {
        return fail(
            format!("{arg} is not a readable KEK package (damaged or not from byok-toolset)"),
            "run verifykeypackage on it, or write the toolset again with byok-toolset",
        );
    } else {
        let kid = kid.ok_or_else(|| {
            AdminError::new(
                format!("{arg} is a KEK public key without its key identifier"),
                "add -KekId https://<vault>.vault.azure.net/keys/<name>/<version>",
            )
        })?;
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("kek");
        let name: String = stem.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
        azure_kek_package(&name, &bytes, kid)?
    };
    check_no_conflict(store, &pkg)?;
    Ok(pkg)
}

/// Records `pkg` as `local/kekpkg_<name>` (nothing to do when that exact KEK is there already).
pub fn register_kek(store: &Store, pkg: &KekPackage) -> AdminResult<()> {
    if KekPackage::load_registered(store, &pkg.name)?.is_some_and(|o| o.same_kek(pkg)) {
        return Ok(());
    }
    save_kekpkg(store, pkg)
}

/// `KeyTransferRemote`'s KEK (`-ExchangeKeyPackage`, `-KekId`) and, for a vendor KEK, its
/// checked Security World package (`-NewSecurityWorldPackage`, required then). Writes nothing.
pub fn find_kek_and_world(
    store: &Store,
    kek_arg: &str,
    kid: Option<&str>,
    world_arg: Option<&str>,
) -> AdminResult<(KekPackage, Option<PackageBody>)> {
    let kek = find_kek(store, kek_arg, kid)?;
    if let Some(k) = kid {
        if k != kek.kid {
            return fail(
                format!("-KekId {k} is not the kid of KEK {} ({})", kek.name, kek.kid),
                "drop -KekId, or give the KEK file that belongs to it",
            );
        }
    }
    let world = match world_arg {
        Some(_) if !kek.attested() => {
            return fail(
                format!("-NewSecurityWorldPackage is given, but KEK {} is not vendor-attested", kek.name),
                "a Security World package goes with the vendor's BYOK-KEK-pkg; drop it for a downloaded KEK",
            )
        }
        Some(w) => {
            let region = kek
                .region
                .as_deref()
                .ok_or_else(|| AdminError::new("the vendor KEK names no region", "download the toolset again"))?;
            Some(toolset::check_world_package(store, w, Some(region))?)
        }
        None if kek.source == "emulated-vendor" => {
            let r = kek.region.clone().unwrap_or_else(|| "<REGION>".into());
            return fail(
                format!("-NewSecurityWorldPackage is missing (KEK {} comes from a vendor package)", kek.name),
                format!("add -NewSecurityWorldPackage BYOK-SecurityWorld-pkg-{r}-1"),
            );
        }
        None => None,
    };
    Ok((kek, world))
}

/// `byok-kek-import`'s checks before the data directory is opened: the kid, then the KEK file
/// `az keyvault key download` wrote. Returns the file's bytes and the KEK.
pub fn read_azure_kek(path: &str, kid: &str) -> AdminResult<(Vec<u8>, Kek)> {
    check_kid(kid).map_err(|e| e.or_todo("pass the kid exactly as `az keyvault key show` prints it"))?;
    let bytes = std::fs::read(path)
        .map_err(|e| AdminError::new(format!("cannot read {path} ({e})"), "check the --pem path"))?;
    let kek = Kek::parse(&bytes)?;
    Ok((bytes, kek))
}

/// The local name of a KEK imported without one: its name in the kid.
pub fn default_kek_name(kid: &str) -> String {
    kek::kid_key_name(kid).unwrap_or("KEKforBYOK").to_string()
}

/// Registers the Azure KEK `kek` (read from `bytes`) under `name`, unless that very KEK and kid
/// are registered there already. Returns the registered package and whether it was there.
pub fn register_azure_kek(
    store: &Store,
    name: &str,
    bytes: &[u8],
    kek: &Kek,
    kid: &str,
) -> AdminResult<(KekPackage, bool)> {
    match KekPackage::load_registered(store, name)? {
        Some(pkg) if pkg.kid == kid && pkg.fingerprint_sha256 == kek.fingerprint() => Ok((pkg, true)),
        _ => Ok((import_azure_kek(store, name, bytes, kid)?, false)),
    }
}

fn check_no_conflict(store: &Store, pkg: &KekPackage) -> AdminResult<()> {
    if KekPackage::load_registered(store, &pkg.name)?.is_some_and(|o| !o.same_kek(pkg)) {
        return fail(
            format!("a different KEK is already registered as {}", pkg.name),
            "register this one under another name with byok-kek-import --name, then pass that name",
        );
    }
    Ok(())
}

fn azure_kek_package(name: &str, kek_bytes: &[u8], kid: &str) -> AdminResult<KekPackage> {
    if !valid_name(name) {
        return fail(format!("KEK name {name:?} is not valid"), "use letters, digits, '-' or '_'");
    }
    if is_vendor_package_name(name) {
        return fail(
            format!("KEK name {name} is a vendor package name, and this KEK is not vendor-attested"),
            "register a downloaded KEK under its own name (the default is its name in the kid)",
        );
    }
    check_kid(kid).map_err(|e| e.or_todo("pass the versioned kid with -KekId"))?;
    let kek = Kek::parse(kek_bytes)?;
    Ok(KekPackage {
        format: REGISTERED_FORMAT.into(),
        name: name.into(),
        kid: kid.into(),
        spki: B64.encode(&kek.spki_der),
        modulus_bits: kek.modulus_bits,
        fingerprint_sha256: kek.fingerprint(),
        source: "azure-download".into(),
        region: None,
        mac: None,
    })
}

fn kek_from_vendor_package(store: &Store, signed: &SignedPackage) -> AdminResult<KekPackage> {
    let root = toolset::trusted_root(store)?;
    signed
        .verify(&root.public_key())
        .map_err(|e| AdminError::new(format!("the KEK package does not verify: {e}"), "run verifykeypackage"))?;
    let body = &signed.body;
    let (kek, kid) = kekpkg::check_kek_body(body, "the KEK package")?;
    let spki = B64.encode(&kek.spki_der);
    Ok(KekPackage {
        format: REGISTERED_FORMAT.into(),
        name: toolset::package_names(&body.region).0,
        kid,
        spki,
        modulus_bits: kek.modulus_bits,
        fingerprint_sha256: kek.fingerprint(),
        source: "emulated-vendor".into(),
        region: Some(body.region.clone()),
        mac: None,
    })
}

/// `KeyTransferRemote -ModifyAcls`: with the ACS quorum, writes `key_xferacld_<ident>`, a copy of
/// the key whose ACL permits only wrapped export to `kek`. The original is untouched.
pub fn modify_acls(
    store: &Store,
    app: &str,
    ident: &str,
    kek: &KekPackage,
    card_dir: Option<&Path>,
    ui: &mut dyn Interaction,
) -> AdminResult<String> {
    let op = operational(store, 1, "KeyTransferRemote -ModifyAcls")?;
    let out_name = key_file_name(XFER_APP, ident);
    if store.exists(&out_name) {
        return fail(
            format!("local/{out_name} exists already"),
            "package it with -Package, or delete it first to redo -ModifyAcls",
        );
    }
    let (entry, mut attrs) = open_key(store, &op, app, ident, card_dir, ui)?;
    if entry.protection != Protection::Module {
        return fail(
            format!("key {app} {ident} is not module-protected"),
            "the transfer needs a key made with protect=module (as the seed says)",
        );
    }
    if !matches!(attrs.class(), Some(CKO_PRIVATE_KEY | CKO_SECRET_KEY)) {
        return fail("only private or secret keys can be transferred", "give the private key's ident");
    }
    // Rewriting a key's ACL is an administrator ("trump") operation: it needs the ACS quorum.
    ui.info("Loading the Administrator Card Set (quorum needed to rewrite the key's ACL)");
    load_acs(store, &op.world, card_dir, ui)?;
    // The fingerprint of the key itself, never a stored one.
    let acl = Acl::transfer_only(&kek.kek()?.fingerprint());
    attrs.set(CKA_SHSM_ACL, Attr::bytes(acl.to_json()));
    attrs.set(CKA_NFKM_APPNAME, Attr::bytes(XFER_APP.as_bytes().to_vec()));
    attrs.set(CKA_NFKM_ID, Attr::bytes(ident.as_bytes().to_vec()));
    attrs.set(CKA_NFKM_HASH, Attr::bytes(crate::module::hash::hash_hex(&[out_name.as_bytes()]).into_bytes()));
    // Extractable so standard C_WrapKey can serve the same export; the ACL still confines it
    // to this one KEK, and it stays sensitive (never in the clear).
    attrs.set(CKA_EXTRACTABLE, Attr::Bool(true));
    attrs.set(CKA_SENSITIVE, Attr::Bool(true));
    // Its ACL permits wrapped export only: the usage flags say so, and its own label keeps a
    // client that picks a key by label (`pkcs11-tool --label contosokey`) on the original.
    for usage in [CKA_SIGN, CKA_SIGN_RECOVER, CKA_DECRYPT, CKA_UNWRAP, CKA_DERIVE, CKA_ENCRYPT, CKA_WRAP] {
        if attrs.contains(usage) {
            attrs.set(usage, Attr::Bool(false));
        }
    }
    let label = attrs.bytes(CKA_LABEL).map(|l| String::from_utf8_lossy(l).into_owned()).unwrap_or_default();
    attrs.set(CKA_LABEL, Attr::bytes(format!("{label} (transfer copy)").into_bytes()));
    // Truthful attributes: the copy may be exported, so it is not "never extractable"; nobody
    // may change, destroy or copy it through PKCS#11.
    crate::module::lineage::apply_acl(&mut attrs);
    let mut uid = [0u8; 16];
    aws_lc_rs::rand::fill(&mut uid).map_err(|_| AdminError::new("no randomness", "retry"))?;
    attrs.set(CKA_UNIQUE_ID, Attr::bytes(hex::encode(uid).into_bytes()));
    let blob = stored::seal_file(&out_name, Protection::Module, &op.world.hkm, &op.km, &attrs)?;
    let lock = store.lock()?;
    if store.exists(&out_name) {
        return fail(format!("local/{out_name} appeared meanwhile"), "retry");
    }
    lock.write(&out_name, &blob)?;
    lock.bump();
    Ok(out_name)
}

/// What a `.byok` holds, for the `az keyvault key import` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetKind {
    Rsa(usize),
    Ec(&'static str),
    Oct(usize),
}

impl TargetKind {
    /// As the tools print it: `RSA-2048`, `EC P-256`, `oct AES-256`.
    pub fn describe(&self) -> String {
        match self {
            TargetKind::Rsa(bits) => format!("RSA-{bits}"),
            TargetKind::Ec(c) => format!("EC {c}"),
            TargetKind::Oct(bits) => format!("oct AES-{bits}"),
        }
    }

    pub fn az_args(&self) -> String {
        match self {
            TargetKind::Rsa(_) => "--kty RSA".into(),
            TargetKind::Ec(c) => format!("--kty EC --curve {c}"),
            TargetKind::Oct(_) => "--kty oct".into(),
        }
    }
}

/// What a module key `key_<app>_<ident>` would transfer as (reads it with KM, writes nothing):
/// what `KeyTransferRemote -KeyType` is checked against.
pub fn key_kind(store: &Store, app: &str, ident: &str) -> AdminResult<TargetKind> {
    let op = operational(store, 1, "KeyTransferRemote")?;
    let file = key_file_name(app, ident);
    if !store.exists(&file) {
        return fail(
            format!("there is no key {app} {ident} (local/{file})"),
            "see `nfkminfo -k` for the keys there are",
        );
    }
    let raw = store.read(&file)?;
    match stored::peek_file(&raw) {
        Ok((Protection::Module, _)) => target_kind(&kmfile::open_module_file(store, &file, &op.km)?),
        _ => fail(
            format!("key {app} {ident} is not module-protected"),
            "the transfer needs a key made with protect=module (as the seed says)",
        ),
    }
}

impl TargetKind {
    /// Whether Azure's `-KeyType` name (`RSA`, `EC`, `oct`, with or without `-HSM`, any case)
    /// names this kind; `None` for a name that is none of those.
    pub fn matches_key_type(&self, name: &str) -> Option<bool> {
        let l = name.to_ascii_lowercase();
        let base = l.strip_suffix("-hsm").unwrap_or(&l);
        Some(match base {
            "rsa" => matches!(self, TargetKind::Rsa(_)),
            "ec" => matches!(self, TargetKind::Ec(_)),
            "oct" => matches!(self, TargetKind::Oct(_)),
            _ => return None,
        })
    }
}

fn target_kind(attrs: &AttrMap) -> AdminResult<TargetKind> {
    let unsupported = |what: &str| {
        AdminError::new(
            format!("Azure Key Vault does not import {what}"),
            "transfer RSA 2048/3072/4096, EC P-256/P-384/P-521/P-256K or AES keys",
        )
    };
    match (attrs.class(), attrs.key_type()) {
        (Some(CKO_PRIVATE_KEY), Some(CKK_RSA)) => {
            let n = attrs.bytes(CKA_MODULUS).unwrap_or_default();
            let bits = n.iter().skip_while(|b| **b == 0).count() * 8;
            if !matches!(bits, 2048 | 3072 | 4096) {
                return Err(unsupported(&format!("RSA-{bits} keys")));
            }
            Ok(TargetKind::Rsa(bits))
        }
        (Some(CKO_PRIVATE_KEY), Some(CKK_EC)) => {
            let params = attrs.bytes(CKA_EC_PARAMS).unwrap_or_default();
            let curve = match hex::encode(params).as_str() {
                "06082a8648ce3d030107" => "P-256",
                "06052b81040022" => "P-384",
                "06052b81040023" => "P-521",
                "06052b8104000a" => "P-256K",
                _ => return Err(unsupported("keys on this curve")),
            };
            Ok(TargetKind::Ec(curve))
        }
        (Some(CKO_SECRET_KEY), Some(CKK_AES)) => {
            let len = attrs.bytes(CKA_VALUE).map(<[u8]>::len).unwrap_or(0);
            Ok(TargetKind::Oct(len * 8))
        }
        _ => Err(unsupported("this kind of key")),
    }
}

/// The wrapped ciphertext of a key's material under a KEK: `RSA-OAEP-SHA1(aes256) || KWP`.
pub fn wrap_for_azure(kek: &Kek, attrs: &AttrMap) -> crate::error::Result<Vec<u8>> {
    let plaintext: Zeroizing<Vec<u8>> = match attrs.class() {
        Some(CKO_PRIVATE_KEY) => mech::private_to_pkcs8(attrs)?,
        _ => Zeroizing::new(attrs.bytes(CKA_VALUE).ok_or(CKR_KEY_NOT_WRAPPABLE)?.to_vec()),
    };
    let kek_material = KeyMaterial::from_attrs(&mech::spki_to_attrs(&kek.spki_der)?)?;
    let params = azure_params();
    let entry = mech::lookup(CKM_RSA_AES_KEY_WRAP).ok_or(CKR_MECHANISM_INVALID)?;
    entry.imp.wrap(&params, &kek_material, &plaintext)
}

/// CKM_RSA_AES_KEY_WRAP as Azure specifies it: AES-256, OAEP with SHA-1 and MGF1-SHA-1, no label.
pub fn azure_params() -> Params {
    Params::RsaAesKeyWrap {
        aes_bits: 256,
        oaep: Box::new(Params::Oaep { hash: CKM_SHA_1, mgf: CKG_MGF1_SHA1, label: Vec::new() }),
    }
}

/// A finished transfer package.
pub struct Packaged {
    pub file: std::path::PathBuf,
    pub document: ByokDocument,
    pub kind: TargetKind,
}

/// `KeyTransferRemote -Package`: wraps `key_xferacld_<ident>` to the KEK and writes
/// `KeyTransferPackage-<friendly>.byok` into `out_dir`.
pub fn package(store: &Store, ident: &str, kek: &KekPackage, friendly: &str, out_dir: &Path) -> AdminResult<Packaged> {
    let (document, kind) = package_document(store, ident, kek)?;
    if friendly.is_empty() || !friendly.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return fail(format!("-KeyFriendlyName {friendly:?} is not a usable file name"), "use letters, digits and '-'");
    }
    let file = out_dir.join(format!("KeyTransferPackage-{friendly}.byok"));
    if file.exists() {
        return fail(format!("{} exists already", file.display()), "move it away or choose another -KeyFriendlyName");
    }
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("package.byok").to_string();
    crate::module::store::write_atomic(out_dir, &name, &document.to_bytes())?;
    Ok(Packaged { file, document, kind })
}

/// The `.byok` document for `key_xferacld_<ident>` (no file written): the vendor interface's
/// `SHSM_ExportByok` and the CLI share it.
pub fn package_document(store: &Store, ident: &str, kek: &KekPackage) -> AdminResult<(ByokDocument, TargetKind)> {
    let op = operational(store, 1, "KeyTransferRemote -Package")?;
    let file = key_file_name(XFER_APP, ident);
    if !store.exists(&file) {
        return fail(
            format!("there is no transfer copy local/{file}"),
            format!("run KeyTransferRemote -ModifyAcls -KeyAppName simple -KeyIdentifier {ident} first"),
        );
    }
    let attrs = kmfile::open_module_file(store, &file, &op.km)?;
    // The ACL is matched against the fingerprint of the very key the wrap uses.
    let wrap_to = kek.kek()?;
    let want = Permission::ExportWrapped { kek: wrap_to.fingerprint() };
    if !acl::permits_json(attrs.bytes(CKA_SHSM_ACL), &want) {
        return fail(
            format!("the ACL of {file} does not allow export to KEK {}", kek.name),
            "use the KEK given to -ModifyAcls, or redo -ModifyAcls for this KEK",
        );
    }
    let kind = target_kind(&attrs)?;
    let ct = wrap_for_azure(&wrap_to, &attrs)
        .map_err(|e| AdminError::new(format!("wrapping failed: {e}"), "report this"))?;
    Ok((ByokDocument::new(&kek.kid, &ct, GENERATOR), kind))
}

/// What `byok-verify` found.
#[derive(Debug)]
pub struct Verified {
    pub kid: String,
    pub aes_bits: usize,
    pub kind: TargetKind,
    /// The key's public half (SPKI DER) for RSA/EC; `None` for AES.
    pub public_spki: Option<Vec<u8>>,
    pub plaintext_sha256: String,
}

impl Verified {
    /// Writes the transferred key's public half (SPKI PEM) to `path`, which must not exist.
    pub fn write_public_pem(&self, path: &str) -> AdminResult<()> {
        let spki = self.public_spki.as_ref().ok_or_else(|| {
            AdminError::new("an AES key has no public half to write", "drop --public-out for oct packages")
        })?;
        let pem = crate::mech::asn1::pem_encode("PUBLIC KEY", spki);
        super::write_new_file(path, 0o644, pem.as_bytes(), "check the --public-out path")
    }
}

/// Opens a `.byok` with the KEK's private key (PKCS#8 DER) and checks every layer: JSON shape,
/// OAEP-SHA-1, RFC 5649 integrity, and the plaintext's structure.
pub fn verify(byok: &[u8], kek_private_pkcs8: &[u8], expect_kid: Option<&str>) -> Result<Verified, String> {
    let (doc, ct) = ByokDocument::parse(byok)?;
    if let Some(k) = expect_kid {
        if doc.header.kid != k {
            return Err(format!("kid is {}, expected {k}", doc.header.kid));
        }
    }
    let kek = mech::pkcs8_to_attrs(kek_private_pkcs8)
        .map_err(|_| "the KEK private key is not a PKCS#8 RSA key".to_string())?;
    let k = kek.bytes(CKA_MODULUS).map(|n| n.iter().skip_while(|b| **b == 0).count()).unwrap_or(0);
    if ct.len() <= k + 16 || (ct.len() - k) % 8 != 0 {
        return Err(format!("ciphertext length {} does not fit a {}-bit KEK", ct.len(), k * 8));
    }
    let material = KeyMaterial::from_attrs(&kek).map_err(|_| "the KEK private key does not load".to_string())?;
    let oaep = Params::Oaep { hash: CKM_SHA_1, mgf: CKG_MGF1_SHA1, label: Vec::new() };
    let aes = mech::lookup(CKM_RSA_PKCS_OAEP)
        .ok_or("no OAEP")?
        .imp
        .unwrap(&oaep, &material, &ct[..k])
        .map_err(|_| "RSA-OAEP-SHA1 decryption of the AES key failed (wrong KEK?)".to_string())?;
    if !matches!(aes.len(), 16 | 24 | 32) {
        return Err(format!("the wrapped AES key is {} bytes", aes.len()));
    }
    let pt = mech::kw::kwp_unwrap(&aes, &ct[k..]).map_err(|_| "RFC 5649 integrity check failed".to_string())?;
    let (kind, public_spki) = match mech::pkcs8_to_attrs(&pt) {
        Ok(attrs) => {
            let kind = target_kind(&attrs).map_err(|e| e.to_string())?;
            (kind, mech::public_key_info(&attrs))
        }
        Err(_) if matches!(pt.len(), 16 | 24 | 32) => (TargetKind::Oct(pt.len() * 8), None),
        Err(_) => return Err("the plaintext is neither PKCS#8 nor an AES key".into()),
    };
    let plaintext_sha256 = sha256_hex(&pt);
    Ok(Verified { kid: doc.header.kid, aes_bits: aes.len() * 8, kind, public_spki, plaintext_sha256 })
}

/// How a verified package's key matched a module key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMatch {
    /// Same public key (RSA, EC).
    PublicKey,
    /// Same key value (AES), compared inside this process only.
    Value,
}

/// `byok-verify --expect-key APP IDENT`: whether the package `v` holds the module key
/// `key_APP_IDENT`. RSA and EC keys compare by their public half (the `_pub` file when there is
/// one, else the key itself); an AES key by its value. Opening a token-protected key asks `ui`,
/// made only when needed.
pub fn compare_with_key<U: Interaction>(
    store: &Store,
    v: &Verified,
    app: &str,
    ident: &str,
    card_dir: Option<&Path>,
    ui: impl FnOnce() -> AdminResult<U>,
) -> AdminResult<KeyMatch> {
    let op = operational(store, 1, "byok-verify --expect-key")?;
    let name = key_file_name(app, ident);
    let mismatch = |what: &str| {
        AdminError::new(
            format!("the package's key is not {name} ({what} differ)"),
            "check which key was transferred, or --expect-key",
        )
    };
    match &v.public_spki {
        Some(spki) => {
            let pub_name = format!("{name}{PUB_SUFFIX}");
            let ours = if store.exists(&pub_name) {
                keygen::public_key_info(&kmfile::open_module_file(store, &pub_name, &op.km)?)
            } else {
                let mut ui = ui()?;
                let (_, attrs) = open_key(store, &op, app, ident, card_dir, &mut ui)?;
                ui.busy_end();
                keygen::public_key_info(&attrs)
            };
            let ours = ours.ok_or_else(|| {
                AdminError::new(format!("{name} has no public key to compare"), "give an RSA or EC key")
            })?;
            if &ours != spki {
                return Err(mismatch("public keys"));
            }
            Ok(KeyMatch::PublicKey)
        }
        None => {
            let mut ui = ui()?;
            let (_, attrs) = open_key(store, &op, app, ident, card_dir, &mut ui)?;
            let value = attrs.bytes(CKA_VALUE).ok_or_else(|| {
                AdminError::new(format!("{name} is not a secret key"), "give the AES key that was transferred")
            })?;
            if sha256_hex(value) != v.plaintext_sha256 {
                return Err(mismatch("key values"));
            }
            Ok(KeyMatch::Value)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/byok/");

    fn data(name: &str) -> Vec<u8> {
        std::fs::read(format!("{DATA}{name}")).unwrap_or_else(|e| panic!("tests/data/byok/{name}: {e}"))
    }

    /// tests/data/byok/kat.json: the Azure BYOK known answer.
    fn kat() -> serde_json::Value {
        serde_json::from_slice(&data("kat.json")).unwrap()
    }

    fn kek_private(k: &serde_json::Value) -> Vec<u8> {
        let pem = data(k["kek_private_pem_file"].as_str().unwrap());
        crate::mech::asn1::pem_decode(std::str::from_utf8(&pem).unwrap()).unwrap().1
    }

    fn target_hex(c: &serde_json::Value) -> String {
        c["plaintext_hex"].as_str().unwrap().to_string()
    }

    #[test]
    fn every_kat_package_verifies_to_its_target() {
        let k = kat();
        let kek_priv = kek_private(&k);
        let kid = k["kid"].as_str().unwrap();
        for c in k["cases"].as_array().unwrap() {
            let doc = data(c["byok_file"].as_str().unwrap());
            let v = verify(&doc, &kek_priv, Some(kid)).unwrap();
            let want = hex::decode(target_hex(c)).unwrap();
            assert_eq!(v.plaintext_sha256, hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &want)));
            assert_eq!(v.aes_bits, 256);
            let kind = match c["target"].as_str().unwrap() {
                "RSA-2048" => TargetKind::Rsa(2048),
                "EC-P-256" => TargetKind::Ec("P-256"),
                "AES-256" => TargetKind::Oct(256),
                "AES-128" => TargetKind::Oct(128),
                other => panic!("unexpected target {other}"),
            };
            assert_eq!(v.kind, kind);
            // The file holds exactly the known ciphertext.
            let (_, ct) = ByokDocument::parse(&doc).unwrap();
            assert_eq!(hex::encode(ct), c["ciphertext_hex"].as_str().unwrap());
        }
        for f in k["must_fail"].as_array().unwrap() {
            let ct = hex::decode(f["ciphertext_hex"].as_str().unwrap()).unwrap();
            let doc = ByokDocument::new(kid, &ct, GENERATOR).to_bytes();
            assert!(verify(&doc, &kek_priv, Some(kid)).unwrap_err().contains("integrity"), "{}", f["what"]);
        }
    }

    #[test]
    fn our_wrap_verifies_and_tampering_is_caught() {
        let k = kat();
        let kek_priv = kek_private(&k);
        let kek = Kek::parse(&data(k["kek_public_pem_file"].as_str().unwrap())).unwrap();
        let kid = k["kid"].as_str().unwrap();
        // The KAT's EC P-256 target, wrapped by us.
        let case = &k["cases"][1];
        let attrs = mech::pkcs8_to_attrs(&hex::decode(target_hex(case)).unwrap()).unwrap();
        let ct = wrap_for_azure(&kek, &attrs).unwrap();
        let doc = ByokDocument::new(kid, &ct, GENERATOR).to_bytes();
        let v = verify(&doc, &kek_priv, Some(kid)).unwrap();
        assert_eq!(v.kind, TargetKind::Ec("P-256"));
        assert!(
            verify(&doc, &kek_priv, Some("https://x.vault.azure.net/keys/K/00000000000000000000000000000000")).is_err()
        );
        let mut bad = ct.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        let doc = ByokDocument::new(kid, &bad, GENERATOR).to_bytes();
        assert!(verify(&doc, &kek_priv, None).unwrap_err().contains("integrity"));
    }
}
