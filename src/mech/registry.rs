//! The mechanism table: type → (`CK_MECHANISM_INFO`, parameter shape, implementation).
//! `C_GetMechanismList`, `C_GetMechanismInfo` and dispatch all read [`ALL`].

use super::{
    aes, cmac, derive_data as dd, des, des3, dh, digest, dsa, ec, eddsa, hmac, kbkdf, kw, montgomery, rsa, rsa_aes,
    weak_hash, Mechanism, ParamKind,
};
use crate::assurance::Assurance;
use cryptoki_sys::*;

/// What a key-generation mechanism makes.
#[derive(Clone, Copy, Debug)]
pub struct KeyGen {
    pub key_type: CK_KEY_TYPE,
    /// Fixed value length in bytes (DES3), or `None` when CKA_VALUE_LEN decides.
    pub fixed_len: Option<usize>,
}

pub struct MechEntry {
    pub ty: CK_MECHANISM_TYPE,
    pub min_key: CK_ULONG,
    pub max_key: CK_ULONG,
    pub flags: CK_FLAGS,
    pub param: ParamKind,
    pub imp: &'static dyn Mechanism,
    pub keygen: Option<KeyGen>,
    /// A weak algorithm: listed and usable only while this security assurance is relaxed
    /// (`CKNFAST_OVERRIDE_SECURITY_ASSURANCES`); the token layer enforces it.
    pub weak: Option<Assurance>,
}

impl MechEntry {
    pub fn info(&self) -> CK_MECHANISM_INFO {
        CK_MECHANISM_INFO { ulMinKeySize: self.min_key, ulMaxKeySize: self.max_key, flags: self.flags }
    }
}

/// An entry that needs assurance `a` relaxed (see [`MechEntry::weak`]).
macro_rules! weak {
    ($a:expr, $e:expr) => {
        MechEntry { weak: Some($a), ..$e }
    };
}

/// A mechanism with no operations of its own (key generation is done by the token layer).
struct NoOps;
impl Mechanism for NoOps {}
static NO_OPS: NoOps = NoOps;

const ED: CK_FLAGS = CKF_ENCRYPT | CKF_DECRYPT;
const SV: CK_FLAGS = CKF_SIGN | CKF_VERIFY;
const WU: CK_FLAGS = CKF_WRAP | CKF_UNWRAP;
/// Capability flags of the prime-field EC mechanisms: named curves, uncompressed points.
const ECF: CK_FLAGS = CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS;
/// Capability flags of the Edwards and Montgomery mechanisms: prime fields, curves named by OID
/// or (PKCS#11 3.0) by curve name; their points have one encoding.
const XF: CK_FLAGS = CKF_EC_F_P | CKF_EC_OID | CKF_EC_CURVENAME;

/// RSA modulus sizes (bits) the RSA mechanisms take; generation is narrower (see
/// [`rsa::RsaKeyPairGen`]).
const RSA_MIN: CK_ULONG = rsa::MIN_BITS as CK_ULONG;
const RSA_MAX: CK_ULONG = rsa::MAX_BITS as CK_ULONG;
/// DSA prime sizes (bits): what keys in use may have, and what generation makes (1024 only with
/// `weak_dsa`, not advertised).
const DSA_MIN: CK_ULONG = dsa::MIN_BITS as CK_ULONG;
const DSA_MAX: CK_ULONG = dsa::MAX_BITS as CK_ULONG;
const DSA_GEN_MIN: CK_ULONG = dsa::GEN_BITS[0] as CK_ULONG;
/// Diffie-Hellman prime sizes (bits), likewise (1024-bit generation only with `weak_dh`).
const DH_MIN: CK_ULONG = dh::MIN_BITS as CK_ULONG;
const DH_MAX: CK_ULONG = dh::MAX_BITS as CK_ULONG;
const DH_GEN_MIN: CK_ULONG = dh::GEN_MIN_BITS as CK_ULONG;
/// EC curve sizes (bits): P-256/secp256k1 to P-521.
const EC_MIN: CK_ULONG = 256;
const EC_MAX: CK_ULONG = 521;
/// Edwards and Montgomery curve sizes (bits): Ed25519/X25519 to Ed448/X448.
const X_MIN: CK_ULONG = 255;
const X_MAX: CK_ULONG = 448;

macro_rules! entry {
    ($ty:expr, $min:expr, $max:expr, $flags:expr, $param:expr, $imp:expr) => {
        MechEntry {
            ty: $ty,
            min_key: $min,
            max_key: $max,
            flags: $flags,
            param: $param,
            imp: &$imp,
            keygen: None,
            weak: None,
        }
    };
    (keygen $ty:expr, $min:expr, $max:expr, $kt:expr, $fixed:expr) => {
        MechEntry {
            ty: $ty,
            min_key: $min,
            max_key: $max,
            flags: CKF_GENERATE,
            param: ParamKind::None,
            imp: &NO_OPS,
            keygen: Some(KeyGen { key_type: $kt, fixed_len: $fixed }),
            weak: None,
        }
    };
}

/// nShield's vendor HMAC key generation mechanisms (pkcs11extra.h, public numbers).
pub const CKM_NC_SHA_1_HMAC_KEY_GEN: CK_MECHANISM_TYPE = 0xDE43_6975;
pub const CKM_NC_MD5_HMAC_KEY_GEN: CK_MECHANISM_TYPE = 0xDE43_6978;
pub const CKM_NC_SHA224_HMAC_KEY_GEN: CK_MECHANISM_TYPE = 0xDE43_6996;
pub const CKM_NC_SHA256_HMAC_KEY_GEN: CK_MECHANISM_TYPE = 0xDE43_6997;
pub const CKM_NC_SHA384_HMAC_KEY_GEN: CK_MECHANISM_TYPE = 0xDE43_6998;
pub const CKM_NC_SHA512_HMAC_KEY_GEN: CK_MECHANISM_TYPE = 0xDE43_6999;

/// The assurances that gate the legacy mechanisms (see [`crate::assurance`]).
const WEAK_DES: Assurance = Assurance::WeakDes;
const WEAK_ALL: Assurance = Assurance::WeakHash;

/// HMAC keys: any length from 1 byte (the spec's minimum) up to a generous bound.
const HMAC_MAX: CK_ULONG = 512;

/// Every mechanism we implement, in ascending type order (binary-searchable).
pub static ALL: &[MechEntry] = &[
    entry!(
        CKM_RSA_PKCS_KEY_PAIR_GEN,
        rsa::GEN_MIN_BITS as CK_ULONG,
        rsa::GEN_MAX_BITS as CK_ULONG,
        CKF_GENERATE_KEY_PAIR,
        ParamKind::None,
        rsa::RSA_PKCS_KEY_PAIR_GEN
    ),
    entry!(CKM_RSA_PKCS, RSA_MIN, RSA_MAX, ED | SV | WU, ParamKind::None, rsa::RSA_PKCS),
    entry!(CKM_RSA_X_509, RSA_MIN, RSA_MAX, ED | SV, ParamKind::None, rsa::RSA_X_509),
    weak!(WEAK_ALL, entry!(CKM_MD5_RSA_PKCS, RSA_MIN, RSA_MAX, SV, ParamKind::None, weak_hash::MD5_RSA_PKCS)),
    entry!(CKM_SHA1_RSA_PKCS, RSA_MIN, RSA_MAX, SV, ParamKind::None, rsa::SHA1_RSA_PKCS),
    entry!(CKM_RSA_PKCS_OAEP, RSA_MIN, RSA_MAX, ED | WU, ParamKind::Oaep, rsa::RSA_PKCS_OAEP),
    entry!(CKM_RSA_PKCS_PSS, RSA_MIN, RSA_MAX, SV, ParamKind::Pss, rsa::RSA_PKCS_PSS),
    entry!(CKM_SHA1_RSA_PKCS_PSS, RSA_MIN, RSA_MAX, SV, ParamKind::Pss, rsa::SHA1_RSA_PKCS_PSS),
    entry!(CKM_DSA_KEY_PAIR_GEN, DSA_GEN_MIN, DSA_MAX, CKF_GENERATE_KEY_PAIR, ParamKind::None, dsa::DSA_KEY_PAIR_GEN),
    entry!(CKM_DSA, DSA_MIN, DSA_MAX, SV, ParamKind::None, dsa::DSA),
    entry!(CKM_DSA_SHA1, DSA_MIN, DSA_MAX, SV, ParamKind::None, dsa::DSA_SHA1),
    entry!(CKM_DSA_SHA224, DSA_MIN, DSA_MAX, SV, ParamKind::None, dsa::DSA_SHA224),
    entry!(CKM_DSA_SHA256, DSA_MIN, DSA_MAX, SV, ParamKind::None, dsa::DSA_SHA256),
    entry!(CKM_DSA_SHA384, DSA_MIN, DSA_MAX, SV, ParamKind::None, dsa::DSA_SHA384),
    entry!(CKM_DSA_SHA512, DSA_MIN, DSA_MAX, SV, ParamKind::None, dsa::DSA_SHA512),
    entry!(
        CKM_DH_PKCS_KEY_PAIR_GEN,
        DH_GEN_MIN,
        DH_MAX,
        CKF_GENERATE_KEY_PAIR,
        ParamKind::None,
        dh::DH_PKCS_KEY_PAIR_GEN
    ),
    // The parameter is the other party's public value (raw big-endian bytes).
    entry!(CKM_DH_PKCS_DERIVE, DH_MIN, DH_MAX, CKF_DERIVE, ParamKind::Raw, dh::DH_PKCS_DERIVE),
    entry!(CKM_SHA256_RSA_PKCS, RSA_MIN, RSA_MAX, SV, ParamKind::None, rsa::SHA256_RSA_PKCS),
    entry!(CKM_SHA384_RSA_PKCS, RSA_MIN, RSA_MAX, SV, ParamKind::None, rsa::SHA384_RSA_PKCS),
    entry!(CKM_SHA512_RSA_PKCS, RSA_MIN, RSA_MAX, SV, ParamKind::None, rsa::SHA512_RSA_PKCS),
    entry!(CKM_SHA256_RSA_PKCS_PSS, RSA_MIN, RSA_MAX, SV, ParamKind::Pss, rsa::SHA256_RSA_PKCS_PSS),
    entry!(CKM_SHA384_RSA_PKCS_PSS, RSA_MIN, RSA_MAX, SV, ParamKind::Pss, rsa::SHA384_RSA_PKCS_PSS),
    entry!(CKM_SHA512_RSA_PKCS_PSS, RSA_MIN, RSA_MAX, SV, ParamKind::Pss, rsa::SHA512_RSA_PKCS_PSS),
    entry!(CKM_SHA224_RSA_PKCS, RSA_MIN, RSA_MAX, SV, ParamKind::None, rsa::SHA224_RSA_PKCS),
    entry!(CKM_SHA224_RSA_PKCS_PSS, RSA_MIN, RSA_MAX, SV, ParamKind::Pss, rsa::SHA224_RSA_PKCS_PSS),
    weak!(WEAK_DES, entry!(keygen CKM_DES_KEY_GEN, 8, 8, CKK_DES, Some(8))),
    weak!(WEAK_DES, entry!(CKM_DES_ECB, 8, 8, ED | WU, ParamKind::None, des::DES_ECB)),
    weak!(WEAK_DES, entry!(CKM_DES_CBC, 8, 8, ED | WU, ParamKind::Iv(8), des::DES_CBC)),
    weak!(WEAK_DES, entry!(CKM_DES_CBC_PAD, 8, 8, ED | WU, ParamKind::Iv(8), des::DES_CBC_PAD)),
    weak!(WEAK_DES, entry!(keygen CKM_DES2_KEY_GEN, 16, 16, CKK_DES2, Some(16))),
    entry!(keygen CKM_DES3_KEY_GEN, 24, 24, CKK_DES3, Some(24)),
    entry!(CKM_DES3_ECB, 24, 24, ED | WU, ParamKind::None, des3::DES3_ECB),
    entry!(CKM_DES3_CBC, 24, 24, ED | WU, ParamKind::Iv(8), des3::DES3_CBC),
    entry!(CKM_DES3_MAC, 24, 24, SV, ParamKind::None, cmac::DES3_MAC),
    entry!(CKM_DES3_MAC_GENERAL, 24, 24, SV, ParamKind::MacLen, cmac::DES3_MAC_GENERAL),
    entry!(CKM_DES3_CBC_PAD, 24, 24, ED | WU, ParamKind::Iv(8), des3::DES3_CBC_PAD),
    entry!(CKM_DES3_CMAC_GENERAL, 24, 24, SV, ParamKind::MacLen, cmac::DES3_CMAC_GENERAL),
    entry!(CKM_DES3_CMAC, 24, 24, SV, ParamKind::None, cmac::DES3_CMAC),
    weak!(WEAK_ALL, entry!(CKM_MD5, 0, 0, CKF_DIGEST, ParamKind::None, weak_hash::MD5)),
    weak!(WEAK_ALL, entry!(CKM_MD5_HMAC, 1, HMAC_MAX, SV, ParamKind::None, weak_hash::MD5_HMAC)),
    weak!(WEAK_ALL, entry!(CKM_MD5_HMAC_GENERAL, 1, HMAC_MAX, SV, ParamKind::MacLen, weak_hash::MD5_HMAC_GENERAL)),
    entry!(CKM_SHA_1, 0, 0, CKF_DIGEST, ParamKind::None, digest::SHA1),
    entry!(CKM_SHA_1_HMAC, 1, HMAC_MAX, SV, ParamKind::None, hmac::SHA1_HMAC),
    entry!(CKM_SHA_1_HMAC_GENERAL, 1, HMAC_MAX, SV, ParamKind::MacLen, hmac::SHA1_HMAC_GENERAL),
    weak!(WEAK_ALL, entry!(CKM_RIPEMD160, 0, 0, CKF_DIGEST, ParamKind::None, weak_hash::RIPEMD160)),
    weak!(WEAK_ALL, entry!(CKM_RIPEMD160_HMAC, 1, HMAC_MAX, SV, ParamKind::None, weak_hash::RIPEMD160_HMAC)),
    weak!(
        WEAK_ALL,
        entry!(CKM_RIPEMD160_HMAC_GENERAL, 1, HMAC_MAX, SV, ParamKind::MacLen, weak_hash::RIPEMD160_HMAC_GENERAL)
    ),
    entry!(CKM_SHA256, 0, 0, CKF_DIGEST, ParamKind::None, digest::SHA256),
    entry!(CKM_SHA256_HMAC, 1, HMAC_MAX, SV, ParamKind::None, hmac::SHA256_HMAC),
    entry!(CKM_SHA256_HMAC_GENERAL, 1, HMAC_MAX, SV, ParamKind::MacLen, hmac::SHA256_HMAC_GENERAL),
    entry!(CKM_SHA224, 0, 0, CKF_DIGEST, ParamKind::None, digest::SHA224),
    entry!(CKM_SHA224_HMAC, 1, HMAC_MAX, SV, ParamKind::None, hmac::SHA224_HMAC),
    entry!(CKM_SHA224_HMAC_GENERAL, 1, HMAC_MAX, SV, ParamKind::MacLen, hmac::SHA224_HMAC_GENERAL),
    entry!(CKM_SHA384, 0, 0, CKF_DIGEST, ParamKind::None, digest::SHA384),
    entry!(CKM_SHA384_HMAC, 1, HMAC_MAX, SV, ParamKind::None, hmac::SHA384_HMAC),
    entry!(CKM_SHA384_HMAC_GENERAL, 1, HMAC_MAX, SV, ParamKind::MacLen, hmac::SHA384_HMAC_GENERAL),
    entry!(CKM_SHA512, 0, 0, CKF_DIGEST, ParamKind::None, digest::SHA512),
    entry!(CKM_SHA512_HMAC, 1, HMAC_MAX, SV, ParamKind::None, hmac::SHA512_HMAC),
    entry!(CKM_SHA512_HMAC_GENERAL, 1, HMAC_MAX, SV, ParamKind::MacLen, hmac::SHA512_HMAC_GENERAL),
    entry!(keygen CKM_GENERIC_SECRET_KEY_GEN, 1, HMAC_MAX, CKK_GENERIC_SECRET, None),
    // Key sizes of the simple derivations: bytes of a base key of any type.
    entry!(CKM_CONCATENATE_BASE_AND_KEY, 1, HMAC_MAX, CKF_DERIVE, ParamKind::KeyHandle, dd::CONCATENATE_BASE_AND_KEY),
    entry!(
        CKM_CONCATENATE_BASE_AND_DATA,
        1,
        HMAC_MAX,
        CKF_DERIVE,
        ParamKind::DeriveData,
        dd::CONCATENATE_BASE_AND_DATA
    ),
    entry!(
        CKM_CONCATENATE_DATA_AND_BASE,
        1,
        HMAC_MAX,
        CKF_DERIVE,
        ParamKind::DeriveData,
        dd::CONCATENATE_DATA_AND_BASE
    ),
    entry!(CKM_XOR_BASE_AND_DATA, 1, HMAC_MAX, CKF_DERIVE, ParamKind::DeriveData, dd::XOR_BASE_AND_DATA),
    entry!(CKM_EXTRACT_KEY_FROM_KEY, 1, HMAC_MAX, CKF_DERIVE, ParamKind::Extract, dd::EXTRACT_KEY_FROM_KEY),
    // SP 800-108: base keys of the PRF (HMAC: 1 byte up; CMAC: AES or DES3), in bytes.
    entry!(CKM_SP800_108_COUNTER_KDF, 1, HMAC_MAX, CKF_DERIVE, ParamKind::Kbkdf, kbkdf::SP800_108_COUNTER_KDF),
    entry!(
        CKM_SP800_108_FEEDBACK_KDF,
        1,
        HMAC_MAX,
        CKF_DERIVE,
        ParamKind::KbkdfFeedback,
        kbkdf::SP800_108_FEEDBACK_KDF
    ),
    entry!(CKM_EC_KEY_PAIR_GEN, EC_MIN, EC_MAX, CKF_GENERATE_KEY_PAIR | ECF, ParamKind::None, ec::EC_KEY_PAIR_GEN),
    entry!(CKM_ECDSA, EC_MIN, EC_MAX, SV | ECF, ParamKind::None, ec::ECDSA),
    entry!(CKM_ECDSA_SHA1, EC_MIN, EC_MAX, SV | ECF, ParamKind::None, ec::ECDSA_SHA1),
    entry!(CKM_ECDSA_SHA224, EC_MIN, EC_MAX, SV | ECF, ParamKind::None, ec::ECDSA_SHA224),
    entry!(CKM_ECDSA_SHA256, EC_MIN, EC_MAX, SV | ECF, ParamKind::None, ec::ECDSA_SHA256),
    entry!(CKM_ECDSA_SHA384, EC_MIN, EC_MAX, SV | ECF, ParamKind::None, ec::ECDSA_SHA384),
    entry!(CKM_ECDSA_SHA512, EC_MIN, EC_MAX, SV | ECF, ParamKind::None, ec::ECDSA_SHA512),
    // On the prime curves and on X25519/X448 (CKK_EC_MONTGOMERY base keys).
    entry!(CKM_ECDH1_DERIVE, X_MIN, EC_MAX, CKF_DERIVE | ECF | CKF_EC_CURVENAME, ParamKind::Ecdh, ec::ECDH1_DERIVE),
    entry!(CKM_RSA_AES_KEY_WRAP, RSA_MIN, RSA_MAX, WU, ParamKind::RsaAesKeyWrap, rsa_aes::RSA_AES_KEY_WRAP),
    entry!(
        CKM_EC_EDWARDS_KEY_PAIR_GEN,
        X_MIN,
        X_MAX,
        CKF_GENERATE_KEY_PAIR | XF,
        ParamKind::None,
        eddsa::EC_EDWARDS_KEY_PAIR_GEN
    ),
    entry!(
        CKM_EC_MONTGOMERY_KEY_PAIR_GEN,
        X_MIN,
        X_MAX,
        CKF_GENERATE_KEY_PAIR | XF,
        ParamKind::None,
        montgomery::EC_MONTGOMERY_KEY_PAIR_GEN
    ),
    entry!(CKM_EDDSA, X_MIN, X_MAX, SV | XF, ParamKind::Eddsa, eddsa::EDDSA),
    entry!(keygen CKM_AES_KEY_GEN, 16, 32, CKK_AES, None),
    entry!(CKM_AES_ECB, 16, 32, ED | WU, ParamKind::None, aes::AES_ECB),
    entry!(CKM_AES_CBC, 16, 32, ED | WU, ParamKind::Iv(16), aes::AES_CBC),
    entry!(CKM_AES_MAC, 16, 32, SV, ParamKind::None, cmac::AES_MAC),
    entry!(CKM_AES_MAC_GENERAL, 16, 32, SV, ParamKind::MacLen, cmac::AES_MAC_GENERAL),
    entry!(CKM_AES_CBC_PAD, 16, 32, ED | WU, ParamKind::Iv(16), aes::AES_CBC_PAD),
    entry!(CKM_AES_CTR, 16, 32, ED, ParamKind::Ctr, aes::AES_CTR),
    entry!(CKM_AES_GCM, 16, 32, ED, ParamKind::Gcm, aes::AES_GCM),
    entry!(CKM_AES_CMAC, 16, 32, SV, ParamKind::None, cmac::AES_CMAC),
    entry!(CKM_AES_CMAC_GENERAL, 16, 32, SV, ParamKind::MacLen, cmac::AES_CMAC_GENERAL),
    entry!(CKM_DES3_ECB_ENCRYPT_DATA, 24, 24, CKF_DERIVE, ParamKind::DeriveData, dd::DES3_ECB_ENCRYPT_DATA),
    entry!(CKM_DES3_CBC_ENCRYPT_DATA, 24, 24, CKF_DERIVE, ParamKind::CbcEncryptData(8), dd::DES3_CBC_ENCRYPT_DATA),
    entry!(CKM_AES_ECB_ENCRYPT_DATA, 16, 32, CKF_DERIVE, ParamKind::DeriveData, dd::AES_ECB_ENCRYPT_DATA),
    entry!(CKM_AES_CBC_ENCRYPT_DATA, 16, 32, CKF_DERIVE, ParamKind::CbcEncryptData(16), dd::AES_CBC_ENCRYPT_DATA),
    // Makes a CKO_DOMAIN_PARAMETERS object (token::keys::generate_domain_parameters).
    MechEntry {
        ty: CKM_DSA_PARAMETER_GEN,
        min_key: DSA_GEN_MIN,
        max_key: DSA_MAX,
        flags: CKF_GENERATE,
        param: ParamKind::None,
        imp: &NO_OPS,
        keygen: None,
        weak: None,
    },
    entry!(CKM_AES_KEY_WRAP, 16, 32, WU, ParamKind::Raw, kw::AES_KEY_WRAP),
    // CKM_AES_KEY_WRAP_PAD is an alias of KWP (RFC 5649), as SoftHSMv2 and nShield treat it.
    entry!(CKM_AES_KEY_WRAP_PAD, 16, 32, WU, ParamKind::Raw, kw::AES_KEY_WRAP_KWP),
    entry!(CKM_AES_KEY_WRAP_KWP, 16, 32, WU, ParamKind::Raw, kw::AES_KEY_WRAP_KWP),
    // PKCS#11 3.0's HMAC key generation (what generic clients reach for), beside nShield's own
    // numbers for the same keys.
    entry!(keygen CKM_SHA_1_KEY_GEN, 1, HMAC_MAX, CKK_SHA_1_HMAC, None),
    entry!(keygen CKM_SHA224_KEY_GEN, 1, HMAC_MAX, CKK_SHA224_HMAC, None),
    entry!(keygen CKM_SHA256_KEY_GEN, 1, HMAC_MAX, CKK_SHA256_HMAC, None),
    entry!(keygen CKM_SHA384_KEY_GEN, 1, HMAC_MAX, CKK_SHA384_HMAC, None),
    entry!(keygen CKM_SHA512_KEY_GEN, 1, HMAC_MAX, CKK_SHA512_HMAC, None),
    entry!(keygen CKM_NC_SHA_1_HMAC_KEY_GEN, 1, HMAC_MAX, CKK_SHA_1_HMAC, None),
    entry!(keygen CKM_NC_SHA224_HMAC_KEY_GEN, 1, HMAC_MAX, CKK_SHA224_HMAC, None),
    entry!(keygen CKM_NC_SHA256_HMAC_KEY_GEN, 1, HMAC_MAX, CKK_SHA256_HMAC, None),
    entry!(keygen CKM_NC_SHA384_HMAC_KEY_GEN, 1, HMAC_MAX, CKK_SHA384_HMAC, None),
    entry!(keygen CKM_NC_SHA512_HMAC_KEY_GEN, 1, HMAC_MAX, CKK_SHA512_HMAC, None),
];

/// The entry for a mechanism type, or `None` (→ `CKR_MECHANISM_INVALID`).
pub fn lookup(ty: CK_MECHANISM_TYPE) -> Option<&'static MechEntry> {
    ALL.binary_search_by_key(&ty, |e| e.ty).ok().map(|i| &ALL[i])
}

/// The key type a key-pair generation mechanism makes (`C_GenerateKeyPair` sets CKA_KEY_TYPE
/// of both halves from it), or `None` for other mechanisms.
pub fn pair_key_type(ty: CK_MECHANISM_TYPE) -> Option<CK_KEY_TYPE> {
    match ty {
        CKM_RSA_PKCS_KEY_PAIR_GEN => Some(CKK_RSA),
        CKM_EC_KEY_PAIR_GEN => Some(CKK_EC),
        CKM_EC_EDWARDS_KEY_PAIR_GEN => Some(CKK_EC_EDWARDS),
        CKM_EC_MONTGOMERY_KEY_PAIR_GEN => Some(CKK_EC_MONTGOMERY),
        CKM_DSA_KEY_PAIR_GEN => Some(CKK_DSA),
        CKM_DH_PKCS_KEY_PAIR_GEN => Some(CKK_DH),
        _ => None,
    }
}

/// How the ABI layer reads the parameter of `ty` (`None` for unknown mechanisms).
pub fn param_kind(ty: CK_MECHANISM_TYPE) -> Option<ParamKind> {
    lookup(ty).map(|e| e.param)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        assert!(ALL.windows(2).all(|w| w[0].ty < w[1].ty), "registry must stay sorted by type");
    }

    #[test]
    fn lookup_finds_every_entry() {
        for e in ALL {
            assert_eq!(lookup(e.ty).map(|f| f.ty), Some(e.ty));
        }
        assert!(lookup(CKM_VENDOR_DEFINED + 12345).is_none());
    }

    #[test]
    fn legacy_mechanisms_are_gated() {
        let des = [CKM_DES_KEY_GEN, CKM_DES_ECB, CKM_DES_CBC, CKM_DES_CBC_PAD, CKM_DES2_KEY_GEN];
        let hashes = [
            CKM_MD5,
            CKM_MD5_HMAC,
            CKM_MD5_HMAC_GENERAL,
            CKM_MD5_RSA_PKCS,
            CKM_RIPEMD160,
            CKM_RIPEMD160_HMAC,
            CKM_RIPEMD160_HMAC_GENERAL,
        ];
        for ty in des {
            assert_eq!(lookup(ty).and_then(|e| e.weak), Some(Assurance::WeakDes), "{ty:#x}");
        }
        for ty in hashes {
            assert_eq!(lookup(ty).and_then(|e| e.weak), Some(Assurance::WeakHash), "{ty:#x}");
        }
        let weak = ALL.iter().filter(|e| e.weak.is_some()).count();
        assert_eq!(weak, des.len() + hashes.len());
    }

    #[test]
    fn key_pair_mechanisms_name_their_key_type() {
        for e in ALL {
            assert_eq!(e.flags & CKF_GENERATE_KEY_PAIR != 0, pair_key_type(e.ty).is_some(), "{:#x}", e.ty);
        }
    }

    #[test]
    fn public_key_mechanisms_and_their_parameters() {
        let expect = [
            (CKM_RSA_PKCS_KEY_PAIR_GEN, ParamKind::None, CKF_GENERATE_KEY_PAIR),
            (CKM_RSA_PKCS, ParamKind::None, ED | SV | WU),
            (CKM_RSA_X_509, ParamKind::None, ED | SV),
            (CKM_RSA_PKCS_OAEP, ParamKind::Oaep, ED | WU),
            (CKM_RSA_PKCS_PSS, ParamKind::Pss, SV),
            (CKM_SHA1_RSA_PKCS, ParamKind::None, SV),
            (CKM_SHA224_RSA_PKCS, ParamKind::None, SV),
            (CKM_SHA256_RSA_PKCS, ParamKind::None, SV),
            (CKM_SHA384_RSA_PKCS, ParamKind::None, SV),
            (CKM_SHA512_RSA_PKCS, ParamKind::None, SV),
            (CKM_SHA1_RSA_PKCS_PSS, ParamKind::Pss, SV),
            (CKM_SHA224_RSA_PKCS_PSS, ParamKind::Pss, SV),
            (CKM_SHA256_RSA_PKCS_PSS, ParamKind::Pss, SV),
            (CKM_SHA384_RSA_PKCS_PSS, ParamKind::Pss, SV),
            (CKM_SHA512_RSA_PKCS_PSS, ParamKind::Pss, SV),
            (CKM_RSA_AES_KEY_WRAP, ParamKind::RsaAesKeyWrap, WU),
            (CKM_EC_KEY_PAIR_GEN, ParamKind::None, CKF_GENERATE_KEY_PAIR | ECF),
            (CKM_ECDSA, ParamKind::None, SV | ECF),
            (CKM_ECDSA_SHA1, ParamKind::None, SV | ECF),
            (CKM_ECDSA_SHA224, ParamKind::None, SV | ECF),
            (CKM_ECDSA_SHA256, ParamKind::None, SV | ECF),
            (CKM_ECDSA_SHA384, ParamKind::None, SV | ECF),
            (CKM_ECDSA_SHA512, ParamKind::None, SV | ECF),
            (CKM_ECDH1_DERIVE, ParamKind::Ecdh, CKF_DERIVE | ECF | CKF_EC_CURVENAME),
            (CKM_EC_EDWARDS_KEY_PAIR_GEN, ParamKind::None, CKF_GENERATE_KEY_PAIR | XF),
            (CKM_EC_MONTGOMERY_KEY_PAIR_GEN, ParamKind::None, CKF_GENERATE_KEY_PAIR | XF),
            (CKM_EDDSA, ParamKind::Eddsa, SV | XF),
            (CKM_DSA_KEY_PAIR_GEN, ParamKind::None, CKF_GENERATE_KEY_PAIR),
            (CKM_DSA, ParamKind::None, SV),
            (CKM_DSA_SHA1, ParamKind::None, SV),
            (CKM_DSA_SHA224, ParamKind::None, SV),
            (CKM_DSA_SHA256, ParamKind::None, SV),
            (CKM_DSA_SHA384, ParamKind::None, SV),
            (CKM_DSA_SHA512, ParamKind::None, SV),
            (CKM_DH_PKCS_KEY_PAIR_GEN, ParamKind::None, CKF_GENERATE_KEY_PAIR),
            (CKM_DH_PKCS_DERIVE, ParamKind::Raw, CKF_DERIVE),
        ];
        for (ty, param, flags) in expect {
            let e = lookup(ty).unwrap_or_else(|| panic!("{ty:#x} missing"));
            assert_eq!(e.param, param, "{ty:#x}");
            assert_eq!(e.flags, flags, "{ty:#x}");
            assert!(e.min_key <= e.max_key && e.min_key > 0);
            assert!(e.keygen.is_none());
        }
        // Key sizes are in bits for RSA and EC (PKCS#11 §2.1, §2.3).
        assert_eq!(lookup(CKM_RSA_PKCS_KEY_PAIR_GEN).map(|e| (e.min_key, e.max_key)), Some((2048, 8192)));
        assert_eq!(lookup(CKM_RSA_PKCS).map(|e| (e.min_key, e.max_key)), Some((1024, 8192)));
        assert_eq!(lookup(CKM_ECDSA).map(|e| (e.min_key, e.max_key)), Some((256, 521)));
        // Edwards and Montgomery: Ed25519/X25519 (255) to Ed448/X448 (448); ECDH covers X25519
        // to P-521.
        for ty in [CKM_EDDSA, CKM_EC_EDWARDS_KEY_PAIR_GEN, CKM_EC_MONTGOMERY_KEY_PAIR_GEN] {
            assert_eq!(lookup(ty).map(|e| (e.min_key, e.max_key)), Some((255, 448)), "{ty:#x}");
        }
        assert_eq!(lookup(CKM_ECDH1_DERIVE).map(|e| (e.min_key, e.max_key)), Some((255, 521)));
        // DSA and DH: prime sizes in bits; generation from 2048 bits.
        assert_eq!(lookup(CKM_DSA_SHA256).map(|e| (e.min_key, e.max_key)), Some((1024, 3072)));
        assert_eq!(lookup(CKM_DSA_KEY_PAIR_GEN).map(|e| (e.min_key, e.max_key)), Some((2048, 3072)));
        assert_eq!(
            lookup(CKM_DSA_PARAMETER_GEN).map(|e| (e.min_key, e.max_key, e.flags)),
            Some((2048, 3072, CKF_GENERATE))
        );
        assert_eq!(lookup(CKM_DH_PKCS_KEY_PAIR_GEN).map(|e| (e.min_key, e.max_key)), Some((2048, 8192)));
        assert_eq!(lookup(CKM_DH_PKCS_DERIVE).map(|e| (e.min_key, e.max_key)), Some((1024, 8192)));
    }
}
