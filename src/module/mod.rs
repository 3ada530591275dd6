//! The emulated nShield module: its Security World, softcards (the PKCS#11 tokens), and the
//! kmdata store they live in. Safe Rust, no PKCS#11 session semantics here.

pub mod softcard;
pub mod store;
pub mod world;

pub use store::Store;
