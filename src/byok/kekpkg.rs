//! KEK packages as evidence: the one check of a vendor-signed KEK package's body (every tool
//! uses it: `verifykeypackage`, `KeyTransferRemote` and the vendor interface), and the integrity
//! of KEKs registered in `local/kekpkg_<name>`.
//!
//! `local/` is like a real nShield's kmdata: administrators read, copy and edit it. A registered
//! KEK decides where a module key may be exported, so its file carries an HMAC-SHA256 under a key
//! derived from the world's module key, checked at every read; the fingerprint the ACL is matched
//! against is recomputed from the SPKI actually used, never read from the file.

use super::kek::{check_kid, Kek};
use super::vendor::PackageBody;
use crate::module::admin::{AdminError, AdminResult};
use crate::module::store::Store;
use crate::module::world::operational;
use aws_lc_rs::hmac;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

/// The format of a vendor-signed KEK package's body (`BYOK-KEK-pkg-<REGION>-1`).
pub const KEK_PKG_FORMAT: &str = "shieldhsm/byok-kek-pkg/1";
/// The format of a KEK registered in `local/kekpkg_<name>`.
pub const REGISTERED_FORMAT: &str = "shieldhsm/kekpkg/1";
pub const KEK_CLAIMS: [&str; 2] = ["generated-in-hsm", "non-exportable"];
const MAC_LABEL: &[u8] = b"shieldhsm/kekpkg-mac/1";

/// The claims of `want` that `have` lacks.
pub fn missing_claims(have: &[String], want: &[&str]) -> Vec<String> {
    want.iter().filter(|w| !have.iter().any(|h| h == *w)).map(|w| w.to_string()).collect()
}

/// A vendor-signed KEK package's body (its signature already checked): format, claims, kid and
/// KEK. Returns the KEK and its kid.
pub fn check_kek_body(b: &PackageBody, name: &str) -> AdminResult<(Kek, String)> {
    if b.format != KEK_PKG_FORMAT {
        return Err(AdminError::new(
            format!("{name} is not a KEK package (format {})", b.format),
            "pass BYOK-KEK-pkg-<REGION>-1 to -k and BYOK-SecurityWorld-pkg-<REGION>-1 to -w",
        ));
    }
    let gaps = missing_claims(&b.claims, &KEK_CLAIMS);
    if !gaps.is_empty() {
        return Err(AdminError::new(
            format!("{name} does not claim {}", gaps.join(", ")),
            "a KEK must be generated in an HSM and non-exportable; download the toolset again",
        ));
    }
    let (Some(kid), Some(spki)) = (&b.kid, &b.kek_spki) else {
        return Err(AdminError::new(format!("{name} carries no KEK"), "download the toolset again (byok-toolset)"));
    };
    check_kid(kid)
        .map_err(|e| AdminError::new(format!("{name}: {}", e.what), "download the toolset again (byok-toolset)"))?;
    let der = B64
        .decode(spki)
        .map_err(|_| AdminError::new(format!("{name}: the KEK is not base64"), "run byok-toolset again"))?;
    let kek = Kek::parse(&der).map_err(|e| AdminError::new(format!("{name}: {}", e.what), "run byok-toolset again"))?;
    Ok((kek, kid.clone()))
}

/// The MAC key of registered KEK packages, derived from the module key of the world on module 1.
pub fn mac_key(store: &Store) -> AdminResult<hmac::Key> {
    let op = operational(store, 1, "a registered KEK")?;
    let derived = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &op.km[..]), MAC_LABEL);
    Ok(hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()))
}

/// Length-prefixed fields, so no two field lists encode alike.
fn encode(fields: &[&str]) -> Vec<u8> {
    let mut input = Vec::new();
    for f in fields {
        input.extend_from_slice(&(f.len() as u64).to_be_bytes());
        input.extend_from_slice(f.as_bytes());
    }
    input
}

/// The MAC (hex) of a registered package's fields.
pub fn mac(key: &hmac::Key, fields: &[&str]) -> String {
    hex::encode(hmac::sign(key, &encode(fields)).as_ref())
}

/// Checks a MAC in constant time.
pub fn mac_ok(key: &hmac::Key, fields: &[&str], tag_hex: &str) -> bool {
    let Ok(tag) = hex::decode(tag_hex) else { return false };
    hmac::verify(key, &encode(fields), &tag).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_binds_every_field_and_its_boundaries() {
        let k = hmac::Key::new(hmac::HMAC_SHA256, &[7u8; 32]);
        let t = mac(&k, &["ab", "c"]);
        assert!(mac_ok(&k, &["ab", "c"], &t));
        assert!(!mac_ok(&k, &["a", "bc"], &t));
        assert!(!mac_ok(&k, &["ab", "d"], &t));
        assert!(!mac_ok(&k, &["ab", "c"], "zz"));
        let other = hmac::Key::new(hmac::HMAC_SHA256, &[8u8; 32]);
        assert!(!mac_ok(&other, &["ab", "c"], &t));
    }
}
