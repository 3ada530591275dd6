//! Azure Key Vault "bring your own key": KEK packages, the `.byok` transfer document, and the
//! checks both ends of a transfer rely on (docs/nshield-emulation.md §1, §3.5, §3.6).
//!
//! Above [`crate::module`] (world, keys, ACLs, store), [`crate::mech`] and [`crate::object`];
//! used by `abi`'s vendor calls and the `shieldhsm` tool, never by `token` or `module`.

pub mod kek;
pub mod kekpkg;
pub mod package;
pub mod transfer;
pub mod vendor;
