//! The 2016 workflow's Microsoft "BYOK toolset" download, emulated (emulator only): for a region,
//! a KEK package and a Security World package signed by this installation's emulated vendor root
//! ([`super::vendor`]), and the emulated Azure Key Vault's regional KEK whose private half stays
//! under `emu/keyvault/<REGION>/` so packages made to it can be opened offline
//! (`byok-verify --region`, `Add-AzureKeyVaultKey`). Also the checks of those packages that
//! `verifykeypackage` and `KeyTransferRemote -NewSecurityWorldPackage` make.

use super::kek::{self, Kek};
use super::kekpkg;
use super::random_hex;
use super::vendor::{self, PackageBody, SignedPackage, VendorRoot};
use crate::mech::asn1;
use crate::module::admin::{AdminError, AdminResult, Txn};
use crate::module::store::{read_checked, Store};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The seed's regions (one toolset download each).
pub const REGIONS: [&str; 17] = [
    "NA", "EU", "AP", "LATAM", "JPN", "KOREA", "SA", "UAE", "AUS", "USGOV", "USDOD", "CANADA", "GERMANY", "INDIA",
    "FRANCE", "UK", "SUI",
];

pub const WORLD_PKG_FORMAT: &str = "shieldhsm/byok-world-pkg/1";
pub const WORLD_CLAIMS: [&str; 1] = ["genuine-hsm-world"];
/// The Azure world's cipher suite the emulated Security World package names.
const AZURE_WORLD_CIPHERSUITE: &str = "DLf3072s256mAEScSP800131Ar1";
/// The real nCipher/Thales root hash the 2016 script checked (docs/nshield-emulation.md §1.7):
/// printed only to say that our packages do **not** chain to it.
pub const NCIPHER_ROOT_HASH: &str = "59178a47 de508c3f 291277ee 184f46c4 f1d9c639";
const VAULT_FORMAT: &str = "shieldhsm/emulated-keyvault/1";

fn err(what: impl Into<String>, todo: impl Into<String>) -> AdminError {
    AdminError::new(what, todo)
}

/// A region as the toolset names it (`eu` → `EU`), or a refusal listing the regions.
pub fn canonical_region(r: &str) -> AdminResult<&'static str> {
    let up = r.trim().to_ascii_uppercase();
    REGIONS.iter().copied().find(|x| *x == up).ok_or_else(|| {
        err(format!("unknown region {r:?}"), format!("use one of the toolset regions: {}", REGIONS.join(", ")))
    })
}

// ---------------------------------------------------------------------------------------------
// The emulated Key Vault's regional KEKs

/// A region's emulated Key Vault KEK, as `byok-toolset` made it (`emu/keyvault/<REGION>/vault.json`).
#[derive(Serialize, Deserialize)]
pub struct EmulatedVault {
    pub format: String,
    pub region: String,
    pub kid: String,
    /// The KEK's SPKI DER, base64.
    pub kek_spki: String,
    /// The emulated Azure Security World the world package names.
    pub world_hknso: String,
    pub world_ciphersuite: String,
}

impl EmulatedVault {
    /// The KEK's public key.
    pub fn kek(&self) -> AdminResult<Kek> {
        let der = B64.decode(&self.kek_spki).map_err(|_| err("the emulated vault is damaged", "see emu/keyvault"))?;
        Kek::parse(&der).map_err(|e| e.or_todo("see emu/keyvault"))
    }
}

/// `emu/`-relative path of a file of a region's vault.
fn vault_rel(region: &str, file: &str) -> String {
    format!("keyvault/{region}/{file}")
}

/// Where a region's KEK private half lives (PKCS#8 PEM).
pub fn kek_private_path(store: &Store, region: &str) -> PathBuf {
    store.emu().join(vault_rel(region, "kek_priv.pem"))
}

/// The region's vault KEK, if `byok-toolset` made one in this data directory.
pub fn load_vault(store: &Store, region: &str) -> AdminResult<Option<EmulatedVault>> {
    let path = store.emu().join(vault_rel(region, "vault.json"));
    if std::fs::symlink_metadata(&path).is_err() {
        return Ok(None);
    }
    let damaged = || {
        err(
            format!("{} is damaged", path.display()),
            "remove emu/keyvault/<REGION> and run byok-toolset again (packages made for the old KEK stop verifying)",
        )
    };
    let raw = read_checked(&path).map_err(|_| damaged())?;
    serde_json::from_slice(&raw).map(Some).map_err(|_| damaged())
}

/// The private half of a region's vault KEK, as PKCS#8 DER.
pub fn read_kek_private(store: &Store, region: &str) -> AdminResult<Zeroizing<Vec<u8>>> {
    Ok(kek::read_private_key(&kek_private_path(store, region).to_string_lossy())?)
}

/// The regional KEK a package's kid names, among the regions this data directory has a vault
/// KEK for.
pub fn vault_for_kid(store: &Store, kid: &str) -> AdminResult<(&'static str, EmulatedVault)> {
    let mut known = Vec::new();
    for region in REGIONS {
        if let Some(v) = load_vault(store, region)? {
            if v.kid == kid {
                return Ok((region, v));
            }
            known.push(format!("{region}: {}", v.kid));
        }
    }
    Err(err(
        format!(
            "the package was made for KEK {kid}, which is not a key of the emulated Azure Key Vault ({})",
            if known.is_empty() { "which has no KEK yet".to_string() } else { format!("its KEKs: {}", known.join("; ")) }
        ),
        "make the package with the KEK of your vault's region: byok-toolset --region R, then KeyTransferRemote -ExchangeKeyPackage BYOK-KEK-pkg-R-1",
    ))
}

// ---------------------------------------------------------------------------------------------
// Signed packages

/// Reads a signed package file (`what` names it in refusals).
pub fn read_signed(path: &str, what: &str) -> AdminResult<SignedPackage> {
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

/// The emulated vendor root this data directory trusts (never created here).
pub fn trusted_root(store: &Store) -> AdminResult<VendorRoot> {
    VendorRoot::load(store)
        .map_err(|e| err(e, "restore emu/vendor-root.json or use a fresh data directory"))?
        .ok_or_else(|| {
            err(
                "this installation has no emulated vendor root to check packages against",
                "run byok-toolset --region <REGION> in this data directory first",
            )
        })
}

/// Checks a package's signature against this installation's root; returns the root's (SHA-1,
/// SHA-256).
pub fn check_signature(p: &SignedPackage, root: &VendorRoot, name: &str) -> AdminResult<(String, String)> {
    p.verify(&root.public_key()).map_err(|e| {
        err(format!("{name}: {e}"), "use the packages byok-toolset wrote for this data directory, unaltered")
    })
}

/// A signed Security World package's body (its signature already checked): format, claims, and
/// the world it names.
pub fn check_world_body(b: &PackageBody, name: &str) -> AdminResult<()> {
    if b.format != WORLD_PKG_FORMAT {
        return Err(err(
            format!("{name} is not a Security World package (format {})", b.format),
            "pass BYOK-SecurityWorld-pkg-<REGION>-1 to -w / -NewSecurityWorldPackage",
        ));
    }
    let missing = kekpkg::missing_claims(&b.claims, &WORLD_CLAIMS);
    if !missing.is_empty() {
        return Err(err(format!("{name} does not claim {}", missing.join(", ")), "download the toolset again"));
    }
    let ok_hash = b.hknso.as_deref().is_some_and(|h| h.len() == 40 && h.chars().all(|c| c.is_ascii_hexdigit()));
    if !ok_hash || b.ciphersuite.as_deref().unwrap_or("").is_empty() {
        return Err(err(format!("{name} names no Security World (hknso, ciphersuite)"), "download the toolset again"));
    }
    Ok(())
}

/// `-NewSecurityWorldPackage` for a KEK of `kek_region` (if it has one): signature, format,
/// claims and a matching region.
pub fn check_world_package(store: &Store, path: &str, kek_region: Option<&str>) -> AdminResult<PackageBody> {
    let root = trusted_root(store)?;
    let p = read_signed(path, "Security World package")?;
    check_signature(&p, &root, path)?;
    check_world_body(&p.body, path)?;
    if let Some(r) = kek_region {
        if p.body.region != r {
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

/// What `verifykeypackage -k` was given.
pub enum KekInput {
    /// A vendor-signed KEK package (from `byok-toolset`).
    Signed(Box<SignedPackage>),
    /// Anything else: a modern Azure KEK public key, which has no attestation to check.
    PublicKey(Vec<u8>),
}

/// Reads `verifykeypackage -k`: a signed package, or a KEK public key. A JSON file that is not a
/// signed package is refused (a damaged package, not a key).
pub fn read_kek_input(path: &str) -> AdminResult<KekInput> {
    let raw = std::fs::read(path)
        .map_err(|e| err(format!("cannot read the KEK package {path} ({e})"), "check the -k path"))?;
    match serde_json::from_slice::<SignedPackage>(&raw) {
        Ok(p) => Ok(KekInput::Signed(Box::new(p))),
        Err(_) if raw.trim_ascii_start().starts_with(b"{") => Err(err(
            format!("{path} is not a readable KEK package (damaged, or not from byok-toolset)"),
            "write the packages again with byok-toolset",
        )),
        Err(_) => Ok(KekInput::PublicKey(raw)),
    }
}

/// A KEK package and a Security World package that check out together.
pub struct VerifiedPackages {
    /// The vendor root's fingerprints.
    pub root_sha1: String,
    pub root_sha256: String,
    pub kek: Kek,
    pub kid: String,
    pub world: PackageBody,
}

/// `verifykeypackage -k KEK -w WORLD`: both signatures against this installation's root, both
/// bodies, and one region.
pub fn verify_packages(
    store: &Store,
    kek_path: &str,
    kek_pkg: &SignedPackage,
    world_path: &str,
) -> AdminResult<VerifiedPackages> {
    let root = trusted_root(store)?;
    let world_pkg = read_signed(world_path, "Security World package")?;
    let (root_sha1, root_sha256) = check_signature(kek_pkg, &root, kek_path)?;
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
    Ok(VerifiedPackages { root_sha1, root_sha256, kek, kid, world: world_pkg.body })
}

// ---------------------------------------------------------------------------------------------
// The download

/// What `byok-toolset` wrote.
pub struct Toolset {
    pub kek_package: String,
    pub world_package: String,
    pub vault: EmulatedVault,
    /// The vendor root's (SHA-1, SHA-256).
    pub root_fingerprints: (String, String),
}

/// The file names of a region's packages.
pub fn package_names(region: &str) -> (String, String) {
    (format!("BYOK-KEK-pkg-{region}-1"), format!("BYOK-SecurityWorld-pkg-{region}-1"))
}

/// Writes a region's KEK package and Security World package into `out_dir`, signed by this
/// installation's vendor root (made on first use), with the region's vault KEK (made on first
/// use, its private half kept under `emu/keyvault/<REGION>/`). All or nothing.
pub fn download(store: &Store, region: &'static str, out_dir: &Path) -> AdminResult<Toolset> {
    let existing = load_vault(store, region)?;
    let fresh = match &existing {
        Some(_) => None,
        None => Some(kek::generate(2048)?),
    };
    let lock = store.lock()?;
    let root = VendorRoot::load_or_create(store, &lock)
        .map_err(|e| err(e, "restore emu/vendor-root.json or use a fresh data directory"))?;
    let mut txn = Txn::new(&lock);
    let vault = match (existing, fresh) {
        (Some(v), _) => v,
        (None, None) => return Err(err("internal: no KEK", "report this")),
        (None, Some((private, spki))) => {
            let v = EmulatedVault {
                format: VAULT_FORMAT.into(),
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
            let pem = Zeroizing::new(asn1::pem_encode("PRIVATE KEY", &private));
            txn.write_emu(&vault_rel(region, "kek_priv.pem"), pem.as_bytes())?;
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
    let (kek_package, world_package) = package_names(region);
    for (name, pkg) in [(&kek_package, &kek_pkg), (&world_package, &world_pkg)] {
        let mut json = serde_json::to_vec_pretty(pkg).map_err(|e| err(e.to_string(), "report this"))?;
        json.push(b'\n');
        txn.write_in(out_dir, name, &json)?;
    }
    txn.commit();
    drop(lock);
    Ok(Toolset { kek_package, world_package, vault, root_fingerprints: vendor::fingerprints(&root.public_key()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_named_as_the_toolset_names_them() {
        assert_eq!(canonical_region(" eu ").unwrap(), "EU");
        assert!(canonical_region("MARS").unwrap_err().todo.contains("GERMANY"));
    }

    #[test]
    fn a_download_verifies_and_its_vault_opens_what_is_made_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let t = download(&store, "EU", out.path()).unwrap();
        assert_eq!(t.kek_package, "BYOK-KEK-pkg-EU-1");
        let path = |n: &str| out.path().join(n).to_string_lossy().into_owned();
        let KekInput::Signed(kek_pkg) = read_kek_input(&path(&t.kek_package)).unwrap() else {
            panic!("a signed package")
        };
        let v = verify_packages(&store, &path(&t.kek_package), &kek_pkg, &path(&t.world_package)).unwrap();
        assert_eq!(v.kid, t.vault.kid);
        assert_eq!((v.root_sha1, v.root_sha256), t.root_fingerprints);
        assert_eq!(v.world.region, "EU");
        assert_eq!(check_world_package(&store, &path(&t.world_package), Some("EU")).unwrap().region, "EU");
        assert!(check_world_package(&store, &path(&t.world_package), Some("UK")).is_err());
        // The KEK package is not a world package, and the world package is not a KEK package.
        assert!(check_world_package(&store, &path(&t.kek_package), None).unwrap_err().what.contains("format"));
        let KekInput::Signed(world_pkg) = read_kek_input(&path(&t.world_package)).unwrap() else { panic!() };
        assert!(kekpkg::check_kek_body(&world_pkg.body, "w").unwrap_err().what.contains("not a KEK package"));
        // The vault's private half matches its public KEK; a second download keeps the same KEK.
        let private = read_kek_private(&store, "EU").unwrap();
        let attrs = crate::mech::pkcs8_to_attrs(&private).unwrap();
        assert_eq!(crate::mech::public_key_info(&attrs).unwrap(), v.kek.spki_der);
        let again = tempfile::tempdir().unwrap();
        assert_eq!(download(&store, "EU", again.path()).unwrap().vault.kid, t.vault.kid);
        assert_eq!(vault_for_kid(&store, &t.vault.kid).unwrap().0, "EU");
        assert!(vault_for_kid(&store, "https://x.vault.azure.net/keys/K/00000000000000000000000000000000").is_err());
        // A KEK file that is JSON but not a package is refused, a PEM is passed on.
        std::fs::write(out.path().join("j"), b"{\"x\":1}").unwrap();
        assert!(read_kek_input(&path("j")).is_err());
        std::fs::write(out.path().join("k.pem"), v.kek.to_pem()).unwrap();
        assert!(matches!(read_kek_input(&path("k.pem")).unwrap(), KekInput::PublicKey(_)));
    }
}
