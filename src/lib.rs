//! shieldhsm: a PKCS#11 provider backed by an emulated nShield HSM.
//!
//! Data flows one way: C caller → [`abi`] → [`token`] → [`module`] → store on disk, with
//! [`mech`] holding the cryptography. Only `abi` touches raw pointers.

// CK_ULONG is 32 bits on some platforms: persisted formats convert to u64 explicitly, which is a
// no-op cast on this one.
#![allow(clippy::unnecessary_cast)]

pub mod abi;
pub mod assurance;
pub mod byok;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod mech;
pub mod module;
pub mod token;
