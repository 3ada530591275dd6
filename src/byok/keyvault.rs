//! The emulated Azure side of the seed's step 5, `Add-AzureKeyVaultKey -VaultName V -Name N
//! -KeyFilePath F.byok -Destination HSM` (emulator only). Like Key Vault, it opens the package
//! with the KEK's private half (which never leaves the emulated vault, [`super::toolset`]),
//! checks every layer, and keeps the key as a new version of `N` in vault `V`; a package made for
//! any other KEK is refused. A vault takes the region of its first import, and refuses packages
//! made for another region's KEK, as a vault lives in one region.
//!
//! Layout, under the data directory's `emu/keyvault/`: `<REGION>/{vault.json,kek_priv.pem}` (the
//! regional KEK, [`super::toolset`]) and `vaults/<vault>/{vault.json,keys/<name>/<version>.json}`
//! (what was imported: the key's public half and fingerprint, as `Get-AzureKeyVaultKey` shows it).

use super::package::ByokDocument;
use super::random_hex;
use super::toolset;
use super::transfer::{self, TargetKind, Verified};
use crate::module::admin::{AdminError, AdminResult, Txn};
use crate::module::store::{read_checked, Store};
use crate::module::time::now;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};

fn err(what: impl Into<String>, todo: impl Into<String>) -> AdminError {
    AdminError::new(what, todo)
}

/// A .byok is a few KiB; anything far larger is not one.
const MAX_PACKAGE: u64 = 64 * 1024;

/// A customer vault (`-VaultName`): the region it lives in.
#[derive(Serialize, Deserialize)]
struct CustomerVault {
    format: String,
    name: String,
    region: String,
}

/// One imported key version, as the vault keeps it.
#[derive(Serialize, Deserialize)]
struct ImportedKey {
    format: String,
    kid: String,
    kty: String,
    key_size: usize,
    /// SubjectPublicKeyInfo DER, base64 (empty for an AES key).
    public_spki: String,
    plaintext_sha256: String,
    imported_from_kek: String,
    created: u64,
}

/// Azure's rule: 3–24 letters, digits and hyphens, starting with a letter, no `--`, not ending in `-`.
pub fn check_vault_name(n: &str) -> AdminResult<()> {
    let ok = (3..=24).contains(&n.len())
        && n.starts_with(|c: char| c.is_ascii_alphabetic())
        && !n.ends_with('-')
        && !n.contains("--")
        && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(err(
            format!("-VaultName {n:?} is not a Key Vault name"),
            "3-24 letters, digits and hyphens, starting with a letter",
        ))
    }
}

/// The Key Vault key name for a `-KeyFriendlyName` (key names take letters, digits and '-').
pub fn key_name_for(friendly: &str) -> String {
    friendly.chars().map(|c| if c == '_' { '-' } else { c }).collect()
}

/// Azure's rule for key names: 1–127 letters, digits and hyphens.
pub fn check_key_name(n: &str) -> AdminResult<()> {
    if (1..=127).contains(&n.len()) && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        Ok(())
    } else {
        Err(err(format!("-Name {n:?} is not a key name"), "1-127 letters, digits and hyphens"))
    }
}

/// A `.byok` file read and parsed (not yet opened).
#[derive(Debug)]
pub struct Package {
    pub file: String,
    bytes: Vec<u8>,
    document: ByokDocument,
}

impl Package {
    /// Reads and parses `-KeyFilePath`.
    pub fn read(file: &str) -> AdminResult<Package> {
        let cannot = |e: String| {
            err(format!("cannot read {file} ({e})"), "give the .byok that KeyTransferRemote -Package wrote")
        };
        let md = std::fs::metadata(file).map_err(|e| cannot(e.to_string()))?;
        if !md.is_file() || md.len() > MAX_PACKAGE {
            return Err(cannot(format!("not a .byok: {} bytes", md.len())));
        }
        let bytes = std::fs::read(file).map_err(|e| cannot(e.to_string()))?;
        let (document, _) = ByokDocument::parse(&bytes)
            .map_err(|e| err(format!("{file}: {e}"), "give the .byok that KeyTransferRemote -Package wrote"))?;
        Ok(Package { file: file.to_string(), bytes, document })
    }
}

/// A key version the vault now holds.
#[derive(Debug)]
pub struct Imported {
    pub version: String,
    /// The new version's kid.
    pub kid: String,
    /// `RSA-HSM`, `EC-HSM`.
    pub kty: &'static str,
    pub created: u64,
    /// The toolset region whose KEK opened the package, and that KEK's kid.
    pub region: &'static str,
    pub kek_kid: String,
    pub verified: Verified,
}

/// Imports `package` as a new version of key `name` in vault `vault_name`: opens it with the
/// regional KEK its kid names, refuses AES keys (a vault imports RSA and EC keys) and a vault of
/// another region, and records the version. All or nothing.
pub fn import(store: &Store, vault_name: &str, name: &str, package: &Package) -> AdminResult<Imported> {
    check_vault_name(vault_name)?;
    check_key_name(name)?;
    let file = &package.file;
    let (region, kek) = toolset::vault_for_kid(store, &package.document.header.kid)?;
    let kek_private = toolset::read_kek_private(store, region)?;
    let v = transfer::verify(&package.bytes, &kek_private, Some(&kek.kid)).map_err(|e| {
        err(
            format!("{file} does not open with the KEK it names: {e}"),
            "make the package again with KeyTransferRemote -Package",
        )
    })?;
    let (kty, size) = match v.kind {
        TargetKind::Rsa(bits) => ("RSA-HSM", bits),
        TargetKind::Ec(_) => ("EC-HSM", 0),
        TargetKind::Oct(bits) => {
            return Err(err(
                format!(
                    "{file} holds an AES-{bits} key: a Key Vault imports RSA and EC keys, AES keys go to a Managed HSM"
                ),
                "import it with az keyvault key import --hsm-name into a Managed HSM",
            ))
        }
    };
    let lock = store.lock()?;
    let vault_rel_dir = format!("keyvault/vaults/{}", vault_name.to_ascii_lowercase());
    let vault_file = store.emu().join(&vault_rel_dir).join("vault.json");
    let mut txn = Txn::new(&lock);
    match std::fs::symlink_metadata(&vault_file) {
        Ok(_) => {
            let raw =
                read_checked(&vault_file).map_err(|e| err(format!("{} ({e})", vault_file.display()), "restore it"))?;
            let cv: CustomerVault = serde_json::from_slice(&raw)
                .map_err(|_| err(format!("{} is damaged", vault_file.display()), "remove that vault directory"))?;
            if cv.region != region {
                return Err(err(
                    format!("vault {} is in region {}; this package was made for the {region} KEK", cv.name, cv.region),
                    format!(
                        "make the package with the toolset of region {} (byok-toolset --region {})",
                        cv.region, cv.region
                    ),
                ));
            }
        }
        Err(_) => {
            let cv = CustomerVault {
                format: "shieldhsm/emulated-customer-vault/1".into(),
                name: vault_name.into(),
                region: region.into(),
            };
            txn.write_emu(&format!("{vault_rel_dir}/vault.json"), &to_json(&cv)?)?;
        }
    }
    let version = random_hex(16)?;
    let host = format!("{}.vault.azure.net", vault_name.to_ascii_lowercase());
    let kid = format!("https://{host}/keys/{name}/{version}");
    let key = ImportedKey {
        format: "shieldhsm/emulated-vault-key/1".into(),
        kid: kid.clone(),
        kty: kty.into(),
        key_size: size,
        public_spki: v.public_spki.as_deref().map(|s| B64.encode(s)).unwrap_or_default(),
        plaintext_sha256: v.plaintext_sha256.clone(),
        imported_from_kek: kek.kid.clone(),
        created: now(),
    };
    txn.write_emu(&format!("{vault_rel_dir}/keys/{name}/{version}.json"), &to_json(&key)?)?;
    txn.commit();
    Ok(Imported { version, kid, kty, created: key.created, region, kek_kid: kek.kid, verified: v })
}

fn to_json<T: Serialize>(v: &T) -> AdminResult<Vec<u8>> {
    serde_json::to_vec_pretty(v).map_err(|e| err(e.to_string(), "report this"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn azure_names() {
        assert!(check_vault_name("ContosoKeyVaultHSM").is_ok());
        for bad in ["ab", "1vault", "vault-", "va--ult", "vault_x", "a-very-long-vault-name-here"] {
            assert!(check_vault_name(bad).is_err(), "{bad}");
        }
        assert!(check_key_name("ContosoFirstHSMkey").is_ok());
        assert!(check_key_name(&key_name_for("Contoso_First_key")).is_ok());
        for bad in ["", "a/b", "../x", "a.b"] {
            assert!(check_key_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn packages_that_are_not_byok_files_are_refused_before_anything_is_opened() {
        let dir = tempfile::tempdir().unwrap();
        let path = |n: &str| dir.path().join(n).to_string_lossy().into_owned();
        assert!(Package::read(&path("missing.byok")).unwrap_err().what.starts_with("cannot read"));
        std::fs::write(path("big.byok"), vec![b' '; MAX_PACKAGE as usize + 1]).unwrap();
        assert!(Package::read(&path("big.byok")).unwrap_err().what.contains("not a .byok"));
        std::fs::write(path("x.byok"), b"{}").unwrap();
        assert!(Package::read(&path("x.byok")).unwrap_err().what.contains("not a .byok document"));
    }

    /// The whole path: a toolset KEK, a package made to it, the import, a second version, and
    /// the refusals (unknown KEK, a vault of another region).
    #[test]
    fn imports_packages_made_to_a_regional_kek_as_new_versions() {
        use crate::mech;
        use crate::object::attr::{Attr, AttrMap};
        use cryptoki_sys::*;
        let dir = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let eu = toolset::download(&store, "EU", out.path()).unwrap();
        let uk = toolset::download(&store, "UK", out.path()).unwrap();
        // An AES key and an EC key, wrapped to the EU KEK as KeyTransferRemote -Package does.
        let kat: serde_json::Value = serde_json::from_slice(
            &std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/byok/kat.json")).unwrap(),
        )
        .unwrap();
        let ec =
            mech::pkcs8_to_attrs(&hex::decode(kat["cases"][1]["plaintext_hex"].as_str().unwrap()).unwrap()).unwrap();
        let aes: AttrMap =
            [(CKA_CLASS, Attr::Ulong(CKO_SECRET_KEY)), (CKA_VALUE, Attr::bytes(vec![9; 32]))].into_iter().collect();
        let write = |name: &str, kid: &str, kek: &super::super::kek::Kek, attrs: &AttrMap| {
            let ct = transfer::wrap_for_azure(kek, attrs).unwrap();
            let p = out.path().join(name);
            std::fs::write(&p, ByokDocument::new(kid, &ct, transfer::GENERATOR).to_bytes()).unwrap();
            Package::read(&p.to_string_lossy()).unwrap()
        };
        let ec_eu = write("ec-eu.byok", &eu.vault.kid, &eu.vault.kek().unwrap(), &ec);
        let first = import(&store, "ContosoVault", "k1", &ec_eu).unwrap();
        assert_eq!((first.kty, first.region, first.verified.kind.clone()), ("EC-HSM", "EU", TargetKind::Ec("P-256")));
        assert!(first.kid.starts_with("https://contosovault.vault.azure.net/keys/k1/"));
        let second = import(&store, "ContosoVault", "k1", &ec_eu).unwrap();
        assert_ne!(first.version, second.version);
        let versions = store.emu().join("keyvault/vaults/contosovault/keys/k1");
        assert_eq!(std::fs::read_dir(versions).unwrap().count(), 2);
        // AES goes to a Managed HSM; a package for the UK KEK does not go into an EU vault.
        let aes_eu = write("aes-eu.byok", &eu.vault.kid, &eu.vault.kek().unwrap(), &aes);
        assert!(import(&store, "ContosoVault", "k2", &aes_eu).unwrap_err().what.contains("Managed HSM"));
        let ec_uk = write("ec-uk.byok", &uk.vault.kid, &uk.vault.kek().unwrap(), &ec);
        assert!(import(&store, "ContosoVault", "k3", &ec_uk).unwrap_err().what.contains("is in region EU"));
        // A package naming the EU kid but wrapped to the UK KEK does not open.
        let forged = write("forged.byok", &eu.vault.kid, &uk.vault.kek().unwrap(), &ec);
        assert!(import(&store, "OtherVault", "k", &forged).unwrap_err().what.contains("does not open"));
        let unknown = "https://x.vault.azure.net/keys/K/00000000000000000000000000000000";
        let stray = write("stray.byok", unknown, &eu.vault.kek().unwrap(), &ec);
        assert!(import(&store, "OtherVault", "k", &stray).unwrap_err().what.contains("not a key of the emulated"));
        assert!(import(&store, "bad_name", "k", &ec_eu).is_err());
    }
}
