//! Azure Key Vault "bring your own key": KEK packages, the `.byok` transfer document, and the
//! checks both ends of a transfer rely on (docs/nshield-emulation.md §1, §3.5, §3.6).

pub mod kek;
pub mod kekpkg;
pub mod package;
pub mod transfer;
pub mod vendor;
