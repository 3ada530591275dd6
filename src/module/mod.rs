//! The emulated nShield module: its Security World, card sets and softcards (the PKCS#11
//! tokens), key generation and ACLs, and the kmdata store they live in. Safe Rust, no PKCS#11
//! session semantics here.
//!
//! `admin`, `hsm`, `world`, `cardset`, `tokens` and `keygen` are the administrative operations
//! the `shieldhsm` tool (and later the vendor C API) calls; `acl` is what the token layer asks
//! before using a key; `lineage` and `new_object` are the key-history rules and the completion of
//! every new object, shared by the token and `keygen`; `shamir` splits card-set secrets; `hash`
//! and `time` are leaf helpers; `kmfile` reads kmdata files for the tools that show or check
//! them; `store` is the kmdata directory (and this layer's only `unsafe`:
//! `flock`, `geteuid`, `kill`).
//!
//! Below `token`, `byok` and the CLI; it names only [`crate::mech`], [`crate::object`],
//! [`crate::error`] and [`crate::assurance`]. Inside, arrows point one way too: `world` uses
//! `cardset` and `hsm`, which use the `hash`/`time` leaves, never `world`.

pub mod acl;
pub mod admin;
pub mod cardset;
pub mod hash;
pub mod hsm;
pub mod integrity;
pub mod keygen;
pub mod kmfile;
pub mod lineage;
pub mod loaded;
pub mod new_object;
pub mod reader;
pub mod replace;
pub mod shamir;
pub mod softcard;
pub mod store;
pub mod time;
pub mod tokens;
pub mod tries;
pub mod world;

pub use store::Store;
