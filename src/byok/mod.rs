//! Azure Key Vault "bring your own key": KEK packages, the `.byok` transfer document, and the
//! checks both ends of a transfer rely on (docs/nshield-emulation.md §1, §3.5, §3.6).
//!
//! Above [`crate::module`] (world, keys, ACLs, store), [`crate::mech`] and [`crate::object`];
//! used by `abi`'s vendor calls and the `shieldhsm` tool, never by `token` or `module`.
//!
//! The files, bottom up: [`kek`] (a KEK, its kid, its private half), [`vendor`] (the emulated
//! vendor root and its signed packages), [`kekpkg`] (the one check of a KEK package, the MAC of
//! registered KEKs), [`package`] (the `.byok` document), [`toolset`] (the emulated toolset
//! download and regional Key Vault KEKs), [`transfer`] (KeyTransferRemote and the offline check)
//! and [`keyvault`] (the emulated Key Vault's import).

pub mod kek;
pub mod kekpkg;
pub mod keyvault;
pub mod package;
pub mod toolset;
pub mod transfer;
pub mod vendor;

use crate::module::admin::{AdminError, AdminResult};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;

/// SHA-256 of `b`, hex.
pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b))
}

/// `bytes` random bytes, hex (versions, kids, emulated world hashes).
pub fn random_hex(bytes: usize) -> AdminResult<String> {
    let mut b = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut b).map_err(|_| AdminError::new("no randomness available", "retry"))?;
    Ok(hex::encode(b))
}

/// Creates `path` (which must not exist) with `mode` and writes `bytes`, synced. `todo` says
/// what to check when it cannot be created.
pub fn write_new_file(path: &str, mode: u32, bytes: &[u8], todo: &str) -> AdminResult<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| AdminError::new(format!("cannot create {path} ({e})"), todo))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}
