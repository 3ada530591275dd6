//! The object model, below both the token and the module: attribute values ([`attr`]), the
//! PKCS#11 attribute policy ([`policy`]: which attributes each class has, defaults, what may be
//! read, set or matched), the encrypted object files in `local/` ([`stored`]) and the AEAD
//! envelope every sealed kmdata file uses ([`envelope`]).
//!
//! Pure data and rules: no sessions, no handles, no mechanisms, no store. It depends on
//! nothing of ours but [`crate::error`]; `mech`, `module`, `token`, `byok` and `abi` build on it.

pub mod attr;
pub mod envelope;
pub mod policy;
pub mod stored;
