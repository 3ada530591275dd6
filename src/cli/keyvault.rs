//! The emulated Azure side of the seed: the regional KEK that `byok-toolset` stands in for, and
//! the seed's step 5, `Add-AzureKeyVaultKey -VaultName V -Name N -KeyFilePath F.byok -Destination
//! HSM`. Like Key Vault, it opens the package with the KEK's private half (which never leaves the
//! emulated vault), checks every layer, and keeps the key as a new version of `N` in vault `V`; a
//! package made for any other KEK is refused. A vault takes the region of its first import, and
//! refuses packages made for another region's KEK, as a vault lives in one region.
//!
//! Layout, under the data directory's `emu/keyvault/`: `<REGION>/{vault.json,kek_priv.pem}` (the
//! regional KEK) and `vaults/<vault>/{vault.json,keys/<name>/<version>.json}` (what was imported:
//! the key's public half and fingerprint, as `Get-AzureKeyVaultKey` shows it).

use super::byok_cmds::{describe_kind, random_hex, read_private_key, sha256_hex, REGIONS};
use super::open_store;
use super::ps_args;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use shieldhsm::byok::package::ByokDocument;
use shieldhsm::byok::transfer::{self, TargetKind};
use shieldhsm::module::admin::{AdminError, AdminResult, Txn};
use shieldhsm::module::store::{read_checked, Store};
use shieldhsm::module::time::now;

fn err(what: impl Into<String>, todo: impl Into<String>) -> AdminError {
    AdminError::new(what, todo)
}

/// A region's emulated Key Vault KEK, as `byok-toolset` made it.
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

pub fn vault_rel(region: &str, file: &str) -> String {
    format!("keyvault/{region}/{file}")
}

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

const USAGE: &str = "\
usage: Add-AzureKeyVaultKey -VaultName VAULT -Name NAME -KeyFilePath FILE.byok -Destination HSM
  The emulated Azure Key Vault (emulator only): opens a KeyTransferPackage-<name>.byok with the KEK
  of the toolset region it was made for, checks every layer, and keeps the key as a new version of
  NAME in VAULT, printing its kid. A package made for another KEK is refused.";

const SWITCHES: [&str; 1] = ["help"];
const VALUED: [&str; 4] = ["vaultname", "name", "keyfilepath", "destination"];
/// A .byok is a few KiB; anything far larger is not one.
const MAX_PACKAGE: u64 = 64 * 1024;

pub fn add_azure_key_vault_key(tool: &str, a: &[String]) -> AdminResult<()> {
    let p = ps_args::parse(tool, a, &SWITCHES, &VALUED)?;
    if p.has("help") {
        out!("{USAGE}");
        return Ok(());
    }
    let required = |n: &str, shown: &str| {
        p.get(n).ok_or_else(|| err(format!("{shown} is missing"), format!("see `{tool} -help`")))
    };
    let vault_name = required("vaultname", "-VaultName")?;
    let name = required("name", "-Name")?;
    let file = required("keyfilepath", "-KeyFilePath")?;
    check_vault_name(vault_name)?;
    check_key_name(name)?;
    match p.get("destination").map(str::to_ascii_lowercase).as_deref() {
        Some("hsm") => {}
        Some(d) => {
            return Err(err(
                format!("-Destination {d}: a BYOK package imports only into HSM-protected keys"),
                "use -Destination HSM",
            ))
        }
        None => {
            return Err(err("-Destination is missing", "add -Destination HSM (BYOK keys live in the vault's HSMs)"))
        }
    }
    let bytes = read_package(file)?;
    let (doc, _) = ByokDocument::parse(&bytes)
        .map_err(|e| err(format!("{file}: {e}"), "give the .byok that KeyTransferRemote -Package wrote"))?;
    let store = open_store()?;
    let (region, kek) = kek_for(&store, &doc.header.kid)?;
    let kek_private = read_private_key(&store.emu().join(vault_rel(region, "kek_priv.pem")).to_string_lossy())?;
    let v = transfer::verify(&bytes, &kek_private, Some(&kek.kid)).map_err(|e| {
        err(
            format!("{file} does not open with the KEK it names: {e}"),
            "make the package again with KeyTransferRemote -Package",
        )
    })?;

    if let TargetKind::Oct(bits) = v.kind {
        return Err(err(
            format!(
                "{file} holds an AES-{bits} key: a Key Vault imports RSA and EC keys, AES keys go to a Managed HSM"
            ),
            "import it with az keyvault key import --hsm-name into a Managed HSM",
        ));
    }
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
    let (kty, size) = match v.kind {
        TargetKind::Rsa(bits) => ("RSA-HSM", bits),
        TargetKind::Ec(_) => ("EC-HSM", 0),
        TargetKind::Oct(bits) => ("oct-HSM", bits), // refused above
    };
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
    drop(lock);

    let created = shieldhsm::module::time::format_time(key.created);
    out!("Vault/HSM Name : {vault_name}");
    out!("Name           : {name}");
    out!("Key Type       : {kty}");
    out!("Key Size       : {}", describe_kind(&v.kind));
    out!("Version        : {version}");
    out!("Id             : {kid}");
    out!("Enabled        : True");
    out!("Created        : {created} UTC");
    out!("Updated        : {created} UTC");
    out!("Recovery Level : Recoverable+Purgeable");
    out!("Tags           :");
    if let Some(spki) = &v.public_spki {
        out!("Public key SHA-256 {} (SubjectPublicKeyInfo DER)", sha256_hex(spki));
    }
    out!("Imported through the {region} KEK {} (emulated Azure Key Vault; emulator only)", kek.kid);
    Ok(())
}

/// The regional KEK a package's kid names, among the toolset regions this data directory has.
fn kek_for(store: &Store, kid: &str) -> AdminResult<(&'static str, EmulatedVault)> {
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

fn read_package(file: &str) -> AdminResult<Vec<u8>> {
    let cannot =
        |e: String| err(format!("cannot read {file} ({e})"), "give the .byok that KeyTransferRemote -Package wrote");
    let md = std::fs::metadata(file).map_err(|e| cannot(e.to_string()))?;
    if !md.is_file() || md.len() > MAX_PACKAGE {
        return Err(cannot(format!("not a .byok: {} bytes", md.len())));
    }
    std::fs::read(file).map_err(|e| cannot(e.to_string()))
}

fn to_json<T: Serialize>(v: &T) -> AdminResult<Vec<u8>> {
    serde_json::to_vec_pretty(v).map_err(|e| err(e.to_string(), "report this"))
}

/// Azure's rule: 3–24 letters, digits and hyphens, starting with a letter, no `--`, not ending in `-`.
fn check_vault_name(n: &str) -> AdminResult<()> {
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

/// Azure's rule for key names: 1–127 letters, digits and hyphens.
fn check_key_name(n: &str) -> AdminResult<()> {
    if (1..=127).contains(&n.len()) && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        Ok(())
    } else {
        Err(err(format!("-Name {n:?} is not a key name"), "1-127 letters, digits and hyphens"))
    }
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
        for bad in ["", "a/b", "../x", "a.b"] {
            assert!(check_key_name(bad).is_err(), "{bad}");
        }
    }
}
