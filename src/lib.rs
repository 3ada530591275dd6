//! shieldhsm: a PKCS#11 provider backed by an emulated nShield HSM.
//!
//! Calls flow one way, down: C caller → [`abi`] → [`token`] → [`module`] → [`mech`] →
//! [`object`]. `abi` turns pointers into typed values; `token` keeps PKCS#11 state (slots,
//! sessions, login, the per-slot object table); `module` is the emulated nShield (Security
//! World, card sets, softcards, ACLs, key generation, new-object completion and key lineage) over
//! the kmdata store on disk ([`module::store`]); `mech` holds the cryptography; `object` is the
//! object model everyone shares (attributes, attribute policy, the object-file format and the
//! AEAD envelope) and depends on nothing above [`error`]. [`byok`] (Azure key transfer) sits on
//! `module` and is used by `abi`'s vendor calls and the `shieldhsm` tool (`src/cli`, which uses
//! `module`, `byok`, `object`, [`config`] and [`assurance`], never `token` or `mech`).
//! [`assurance`] and [`config`] are leaves read from every level. `tests/layers.rs` enforces
//! this table.
//!
//! `unsafe` lives in three places only, each block with a `// SAFETY:` comment: [`abi`] (raw
//! pointers from the C caller), `mech::ffi` (aws-lc's C API for what its Rust API lacks) and
//! [`module::store`] (`flock`, `geteuid`, `kill(pid, 0)`); [`fuzzing`] calls `abi` marshalling
//! the way `abi` does. Outside the library, the `shieldhsm` binary's `cli/ck/client.rs` is a
//! PKCS#11 client (`dlopen` of this library) for `ckinfo` and `cklist`.

#![deny(clippy::undocumented_unsafe_blocks)]
// CK_ULONG is 32 bits on some platforms: persisted formats convert to u64 explicitly, which is a
// no-op cast on this one.
#![allow(clippy::unnecessary_cast)]

// The layers, top to bottom: each names only those below it (tests/layers.rs).
pub mod abi;
#[doc(hidden)]
pub mod fuzzing;

pub mod token;

pub mod byok;

pub mod module;

pub mod mech;

pub mod object;

pub mod assurance;
pub mod config;
pub mod error;
