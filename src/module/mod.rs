//! The emulated nShield module: its Security World, card sets and softcards (the PKCS#11
//! tokens), key generation and ACLs, and the kmdata store they live in. Safe Rust, no PKCS#11
//! session semantics here.
//!
//! `admin`, `hsm`, `world`, `cardset`, `tokens` and `keygen` are the administrative operations
//! the `shieldhsm` tool (and later the vendor C API) calls; `acl` is what the token layer asks
//! before using a key; `shamir` splits card-set secrets.

pub mod acl;
pub mod admin;
pub mod cardset;
pub mod hsm;
pub mod keygen;
pub mod shamir;
pub mod softcard;
pub mod store;
pub mod tokens;
pub mod world;

pub use store::Store;
