//! `Add-AzureKeyVaultKey`, the seed's step 5, against the emulated Azure Key Vault (emulator
//! only; the import itself is `shieldhsm::byok::keyvault`): parses the PowerShell-style
//! arguments and prints what `Add-AzureKeyVaultKey` prints.

use super::open_store;
use super::ps_args;
use shieldhsm::byok::keyvault::{self, Package};
use shieldhsm::byok::sha256_hex;
use shieldhsm::module::admin::{AdminError, AdminResult};

fn err(what: impl Into<String>, todo: impl Into<String>) -> AdminError {
    AdminError::new(what, todo)
}

const USAGE: &str = "\
usage: Add-AzureKeyVaultKey -VaultName VAULT -Name NAME -KeyFilePath FILE.byok -Destination HSM
  The emulated Azure Key Vault (emulator only): opens a KeyTransferPackage-<name>.byok with the KEK
  of the toolset region it was made for, checks every layer, and keeps the key as a new version of
  NAME in VAULT, printing its kid. A package made for another KEK is refused.";

const SWITCHES: [&str; 1] = ["help"];
const VALUED: [&str; 4] = ["vaultname", "name", "keyfilepath", "destination"];

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
    keyvault::check_vault_name(vault_name)?;
    keyvault::check_key_name(name)?;
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
    let package = Package::read(file)?;
    let store = open_store()?;
    let imported = keyvault::import(&store, vault_name, name, &package)?;
    let v = &imported.verified;
    let created = shieldhsm::module::time::format_time(imported.created);
    out!("Vault/HSM Name : {vault_name}");
    out!("Name           : {name}");
    out!("Key Type       : {}", imported.kty);
    out!("Key Size       : {}", v.kind.describe());
    out!("Version        : {}", imported.version);
    out!("Id             : {}", imported.kid);
    out!("Enabled        : True");
    out!("Created        : {created} UTC");
    out!("Updated        : {created} UTC");
    out!("Recovery Level : Recoverable+Purgeable");
    out!("Tags           :");
    if let Some(spki) = &v.public_spki {
        out!("Public key SHA-256 {} (SubjectPublicKeyInfo DER)", sha256_hex(spki));
    }
    out!("Imported through the {} KEK {} (emulated Azure Key Vault; emulator only)", imported.region, imported.kek_kid);
    Ok(())
}
