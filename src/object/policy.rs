//! Declarative attribute policy: which attributes each object class and key type has, and the
//! rules the PKCS#11 spec attaches to them as footnotes of its attribute tables (v3.0 §4.2,
//! Table 10). One routine, [`apply`], interprets the tables for create, generate, unwrap, derive
//! and copy; [`check_set`] for C_SetAttributeValue; [`readable`] and [`read_default`] for
//! C_GetAttributeValue.

use super::attr::{
    kind_of, Attr, AttrMap, CKA_NFKM_APPNAME, CKA_NFKM_HASH, CKA_NFKM_ID, CKA_SHSM_ACL, CKA_SHSM_KEK,
    CKA_SHSM_PROTECTION, CKA_SHSM_VALUE_KNOWN,
};
use crate::error::{err, Result};
use cryptoki_sys::*;

/// The spec's footnotes, one bit each, numbered as in the spec.
pub type Rules = u16;
/// 1: must be specified when the object is created with C_CreateObject.
pub const F1_REQUIRED_CREATE: Rules = 1 << 1;
/// 2: must not be specified when the object is created with C_CreateObject.
pub const F2_NOT_ON_CREATE: Rules = 1 << 2;
/// 3: must be specified when the object is generated.
pub const F3_REQUIRED_GENERATE: Rules = 1 << 3;
/// 4: must not be specified when the object is generated.
pub const F4_NOT_ON_GENERATE: Rules = 1 << 4;
/// 5: must be specified when the object is unwrapped.
pub const F5_REQUIRED_UNWRAP: Rules = 1 << 5;
/// 6: must not be specified when the object is unwrapped.
pub const F6_NOT_ON_UNWRAP: Rules = 1 << 6;
/// 7: cannot be revealed if CKA_SENSITIVE is true or CKA_EXTRACTABLE is false.
pub const F7_SENSITIVE: Rules = 1 << 7;
/// 8: may be modified after creation (C_SetAttributeValue, C_CopyObject).
pub const F8_MODIFIABLE: Rules = 1 << 8;
/// 10: can only be set to true by the SO.
pub const F10_SO_ONLY_TRUE: Rules = 1 << 10;
/// 11: cannot be changed once true (may only go false → true).
pub const F11_ONLY_TO_TRUE: Rules = 1 << 11;
/// 12: cannot be changed once false (may only go true → false).
pub const F12_ONLY_TO_FALSE: Rules = 1 << 12;
/// Ours: may be changed by C_CopyObject only (CKA_TOKEN, CKA_PRIVATE, CKA_MODIFIABLE...).
pub const COPY_ONLY: Rules = 1 << 13;

/// Computed by the token, never given by a caller: footnotes 2, 4 and 6 together.
const COMPUTED: Rules = F2_NOT_ON_CREATE | F4_NOT_ON_GENERATE | F6_NOT_ON_UNWRAP;
/// Key material: footnotes 1, 4, 6, 7 (given on create; made by generate/unwrap; secret).
const MATERIAL: Rules = F1_REQUIRED_CREATE | F4_NOT_ON_GENERATE | F6_NOT_ON_UNWRAP | F7_SENSITIVE;

/// A default: a fixed value, or computed later by the caller of [`apply`].
#[derive(Clone, Copy)]
pub enum Dflt {
    None,
    Bool(bool),
    Ulong(CK_ULONG),
    Empty,
}

pub struct Spec {
    pub ty: CK_ATTRIBUTE_TYPE,
    pub rules: Rules,
    pub default: Dflt,
}

const fn s(ty: CK_ATTRIBUTE_TYPE, rules: Rules, default: Dflt) -> Spec {
    Spec { ty, rules, default }
}
use Dflt::{Bool as B, Empty as E, None as N, Ulong as U};

// ---- the tables (spec v3.0 §4.4–4.10 and the key-type sections) ----

static COMMON: &[Spec] = &[
    s(CKA_CLASS, F1_REQUIRED_CREATE, N),
    s(CKA_TOKEN, COPY_ONLY, B(false)),
    s(CKA_PRIVATE, COPY_ONLY, N), // default depends on class, see default_private
    s(CKA_MODIFIABLE, COPY_ONLY, B(true)),
    s(CKA_LABEL, F8_MODIFIABLE, E),
    s(CKA_COPYABLE, COPY_ONLY | F12_ONLY_TO_FALSE, B(true)),
    s(CKA_DESTROYABLE, F8_MODIFIABLE, B(true)),
    s(CKA_UNIQUE_ID, COMPUTED, N),
];

static DATA: &[Spec] =
    &[s(CKA_APPLICATION, F8_MODIFIABLE, E), s(CKA_OBJECT_ID, F8_MODIFIABLE, E), s(CKA_VALUE, F8_MODIFIABLE, E)];

static CERT: &[Spec] = &[
    s(CKA_CERTIFICATE_TYPE, F1_REQUIRED_CREATE, N),
    s(CKA_TRUSTED, F10_SO_ONLY_TRUE, B(false)),
    s(CKA_CERTIFICATE_CATEGORY, 0, U(0)),
    s(CKA_CHECK_VALUE, 0, N),
    s(CKA_START_DATE, F8_MODIFIABLE, E),
    s(CKA_END_DATE, F8_MODIFIABLE, E),
    s(CKA_PUBLIC_KEY_INFO, 0, E),
    // X.509 public key certificate (§4.6.3)
    s(CKA_SUBJECT, F1_REQUIRED_CREATE, N),
    s(CKA_ID, F8_MODIFIABLE, E),
    s(CKA_ISSUER, F8_MODIFIABLE, E),
    s(CKA_SERIAL_NUMBER, F8_MODIFIABLE, E),
    s(CKA_VALUE, F1_REQUIRED_CREATE, N),
    s(CKA_URL, 0, E),
    s(CKA_HASH_OF_SUBJECT_PUBLIC_KEY, 0, E),
    s(CKA_HASH_OF_ISSUER_PUBLIC_KEY, 0, E),
    s(CKA_JAVA_MIDP_SECURITY_DOMAIN, 0, U(0)),
    s(CKA_NAME_HASH_ALGORITHM, 0, U(CKM_SHA_1)),
];

static KEY: &[Spec] = &[
    s(CKA_KEY_TYPE, F1_REQUIRED_CREATE | F5_REQUIRED_UNWRAP, N),
    s(CKA_ID, F8_MODIFIABLE, E),
    s(CKA_START_DATE, F8_MODIFIABLE, E),
    s(CKA_END_DATE, F8_MODIFIABLE, E),
    s(CKA_DERIVE, F8_MODIFIABLE, B(false)),
    s(CKA_LOCAL, COMPUTED, N),
    s(CKA_KEY_GEN_MECHANISM, COMPUTED, N),
    s(CKA_ALLOWED_MECHANISMS, 0, N),
    // nShield vendor attributes, computed for token keys.
    s(CKA_NFKM_ID, COMPUTED, N),
    s(CKA_NFKM_APPNAME, COMPUTED, N),
    s(CKA_NFKM_HASH, COMPUTED, N),
    s(CKA_SHSM_ACL, COMPUTED, N),
    s(CKA_SHSM_PROTECTION, COMPUTED, N),
    s(CKA_SHSM_VALUE_KNOWN, COMPUTED, N),
    s(CKA_SHSM_KEK, COMPUTED, N),
];

static PUBLIC: &[Spec] = &[
    s(CKA_SUBJECT, F8_MODIFIABLE, E),
    s(CKA_ENCRYPT, F8_MODIFIABLE, B(true)),
    s(CKA_VERIFY, F8_MODIFIABLE, B(true)),
    s(CKA_VERIFY_RECOVER, F8_MODIFIABLE, B(true)),
    s(CKA_WRAP, F8_MODIFIABLE, B(true)),
    s(CKA_TRUSTED, F10_SO_ONLY_TRUE, B(false)),
    s(CKA_WRAP_TEMPLATE, 0, N),
    s(CKA_PUBLIC_KEY_INFO, 0, N),
];

static PRIVATE: &[Spec] = &[
    s(CKA_SUBJECT, F8_MODIFIABLE, E),
    s(CKA_SENSITIVE, F8_MODIFIABLE | F11_ONLY_TO_TRUE, B(true)),
    s(CKA_DECRYPT, F8_MODIFIABLE, B(true)),
    s(CKA_SIGN, F8_MODIFIABLE, B(true)),
    s(CKA_SIGN_RECOVER, F8_MODIFIABLE, B(true)),
    s(CKA_UNWRAP, F8_MODIFIABLE, B(true)),
    s(CKA_EXTRACTABLE, F8_MODIFIABLE | F12_ONLY_TO_FALSE, B(true)),
    s(CKA_ALWAYS_SENSITIVE, COMPUTED, N),
    s(CKA_NEVER_EXTRACTABLE, COMPUTED, N),
    s(CKA_WRAP_WITH_TRUSTED, F11_ONLY_TO_TRUE, B(false)),
    s(CKA_UNWRAP_TEMPLATE, 0, N),
    s(CKA_DERIVE_TEMPLATE, 0, N),
    s(CKA_ALWAYS_AUTHENTICATE, 0, B(false)),
    s(CKA_PUBLIC_KEY_INFO, 0, N),
];

static SECRET: &[Spec] = &[
    s(CKA_SENSITIVE, F8_MODIFIABLE | F11_ONLY_TO_TRUE, B(true)),
    s(CKA_ENCRYPT, F8_MODIFIABLE, B(true)),
    s(CKA_DECRYPT, F8_MODIFIABLE, B(true)),
    s(CKA_SIGN, F8_MODIFIABLE, B(true)),
    s(CKA_VERIFY, F8_MODIFIABLE, B(true)),
    s(CKA_WRAP, F8_MODIFIABLE, B(true)),
    s(CKA_UNWRAP, F8_MODIFIABLE, B(true)),
    s(CKA_EXTRACTABLE, F8_MODIFIABLE | F12_ONLY_TO_FALSE, B(true)),
    s(CKA_ALWAYS_SENSITIVE, COMPUTED, N),
    s(CKA_NEVER_EXTRACTABLE, COMPUTED, N),
    s(CKA_CHECK_VALUE, F2_NOT_ON_CREATE | COMPUTED, N),
    s(CKA_WRAP_WITH_TRUSTED, F11_ONLY_TO_TRUE, B(false)),
    s(CKA_TRUSTED, F10_SO_ONLY_TRUE, B(false)),
    s(CKA_WRAP_TEMPLATE, 0, N),
    s(CKA_UNWRAP_TEMPLATE, 0, N),
    s(CKA_DERIVE_TEMPLATE, 0, N),
];

static RSA_PUBLIC: &[Spec] = &[
    s(CKA_MODULUS, F1_REQUIRED_CREATE | F4_NOT_ON_GENERATE | F6_NOT_ON_UNWRAP, N),
    s(CKA_MODULUS_BITS, F2_NOT_ON_CREATE | F3_REQUIRED_GENERATE | F6_NOT_ON_UNWRAP, N),
    s(CKA_PUBLIC_EXPONENT, F1_REQUIRED_CREATE, N),
];

static RSA_PRIVATE: &[Spec] = &[
    s(CKA_MODULUS, F1_REQUIRED_CREATE | F4_NOT_ON_GENERATE | F6_NOT_ON_UNWRAP, N),
    s(CKA_PUBLIC_EXPONENT, F4_NOT_ON_GENERATE | F6_NOT_ON_UNWRAP, N),
    s(CKA_PRIVATE_EXPONENT, MATERIAL, N),
    s(CKA_PRIME_1, MATERIAL & !F1_REQUIRED_CREATE, N),
    s(CKA_PRIME_2, MATERIAL & !F1_REQUIRED_CREATE, N),
    s(CKA_EXPONENT_1, MATERIAL & !F1_REQUIRED_CREATE, N),
    s(CKA_EXPONENT_2, MATERIAL & !F1_REQUIRED_CREATE, N),
    s(CKA_COEFFICIENT, MATERIAL & !F1_REQUIRED_CREATE, N),
];

static EC_PUBLIC: &[Spec] = &[
    s(CKA_EC_PARAMS, F1_REQUIRED_CREATE | F3_REQUIRED_GENERATE, N),
    s(CKA_EC_POINT, F1_REQUIRED_CREATE | F4_NOT_ON_GENERATE | F6_NOT_ON_UNWRAP, N),
];

static EC_PRIVATE: &[Spec] = &[
    s(CKA_EC_PARAMS, F1_REQUIRED_CREATE | F4_NOT_ON_GENERATE | F6_NOT_ON_UNWRAP, N),
    s(CKA_VALUE, MATERIAL, N),
    // Not in the spec's table, but kept so signing keys can report their public half.
    s(CKA_EC_POINT, COMPUTED, N),
];

/// Domain parameters given on create, required when generated from a template (spec footnotes
/// 1, 3); made by the token otherwise (4, 6).
const GIVEN_OR_TEMPLATE: Rules = F1_REQUIRED_CREATE | F3_REQUIRED_GENERATE;
const GIVEN_OR_MADE: Rules = F1_REQUIRED_CREATE | F4_NOT_ON_GENERATE | F6_NOT_ON_UNWRAP;

/// DSA (§2.2.1-2.2.2): p, q, g and y / x.
static DSA_PUBLIC: &[Spec] = &[
    s(CKA_PRIME, GIVEN_OR_TEMPLATE, N),
    s(CKA_SUBPRIME, GIVEN_OR_TEMPLATE, N),
    s(CKA_BASE, GIVEN_OR_TEMPLATE, N),
    s(CKA_VALUE, F1_REQUIRED_CREATE | F4_NOT_ON_GENERATE, N),
];
static DSA_PRIVATE: &[Spec] = &[
    s(CKA_PRIME, GIVEN_OR_MADE, N),
    s(CKA_SUBPRIME, GIVEN_OR_MADE, N),
    s(CKA_BASE, GIVEN_OR_MADE, N),
    s(CKA_VALUE, MATERIAL, N),
];

/// Diffie-Hellman PKCS #3 (§2.5.1-2.5.2): p, g and y / x, and the private value's length. Ours:
/// an optional CKA_SUBPRIME (q, the order of g), given in the generation template or on create;
/// made for a generated private key (see `mech::dh`).
static DH_PUBLIC: &[Spec] = &[
    s(CKA_PRIME, GIVEN_OR_TEMPLATE, N),
    s(CKA_BASE, GIVEN_OR_TEMPLATE, N),
    s(CKA_SUBPRIME, 0, N),
    s(CKA_VALUE, F1_REQUIRED_CREATE | F4_NOT_ON_GENERATE, N),
];
static DH_PRIVATE: &[Spec] = &[
    s(CKA_PRIME, GIVEN_OR_MADE, N),
    s(CKA_BASE, GIVEN_OR_MADE, N),
    s(CKA_SUBPRIME, F4_NOT_ON_GENERATE | F6_NOT_ON_UNWRAP, N),
    s(CKA_VALUE, MATERIAL, N),
    s(CKA_VALUE_BITS, F2_NOT_ON_CREATE | F6_NOT_ON_UNWRAP, N),
];

/// Domain parameter objects (§4.7): their key type, and whether the token made them.
static DOMAIN: &[Spec] = &[s(CKA_KEY_TYPE, F1_REQUIRED_CREATE, N), s(CKA_LOCAL, COMPUTED, N)];

/// DSA domain parameters (§2.2.3): p, q, g given on create or made by CKM_DSA_PARAMETER_GEN from
/// CKA_PRIME_BITS (and optionally CKA_SUB_PRIME_BITS).
static DSA_DOMAIN: &[Spec] = &[
    s(CKA_PRIME, F1_REQUIRED_CREATE | F4_NOT_ON_GENERATE, N),
    s(CKA_SUBPRIME, F1_REQUIRED_CREATE | F4_NOT_ON_GENERATE, N),
    s(CKA_BASE, F1_REQUIRED_CREATE | F4_NOT_ON_GENERATE, N),
    s(CKA_PRIME_BITS, F2_NOT_ON_CREATE | F3_REQUIRED_GENERATE, N),
    s(CKA_SUB_PRIME_BITS, F2_NOT_ON_CREATE, N),
];

/// AES and generic secret / HMAC keys: a value and its (derived) length. On unwrap the length
/// may be given, as the wrapping mechanisms' own text lets a template say it (and clients such
/// as OpenSC do); `C_UnwrapKey` takes it only when it is the unwrapped value's length (a shorter
/// one would cut a possibly protected key: see `token::keys`).
static SECRET_VALUE_LEN: &[Spec] =
    &[s(CKA_VALUE, MATERIAL, N), s(CKA_VALUE_LEN, F2_NOT_ON_CREATE | F3_REQUIRED_GENERATE, N)];

/// DES, DES2, DES3: fixed length, no CKA_VALUE_LEN in the template.
static SECRET_FIXED: &[Spec] = &[s(CKA_VALUE, MATERIAL, N), s(CKA_VALUE_LEN, COMPUTED, N)];

/// Key types we can store, per class.
pub fn supported_key_type(class: CK_OBJECT_CLASS, kt: CK_KEY_TYPE) -> bool {
    match class {
        CKO_SECRET_KEY => matches!(
            kt,
            CKK_AES
                | CKK_GENERIC_SECRET
                | CKK_DES
                | CKK_DES2
                | CKK_DES3
                | CKK_SHA_1_HMAC
                | CKK_SHA224_HMAC
                | CKK_SHA256_HMAC
                | CKK_SHA384_HMAC
                | CKK_SHA512_HMAC
        ),
        CKO_PUBLIC_KEY | CKO_PRIVATE_KEY => {
            matches!(kt, CKK_RSA | CKK_EC | CKK_EC_EDWARDS | CKK_EC_MONTGOMERY | CKK_DSA | CKK_DH)
        }
        CKO_DOMAIN_PARAMETERS => kt == CKK_DSA,
        _ => false,
    }
}

/// The tables that apply to an object of `class` / `kt`, most general first.
fn tables(class: CK_OBJECT_CLASS, kt: Option<CK_KEY_TYPE>) -> Result<Vec<&'static [Spec]>> {
    let mut t: Vec<&'static [Spec]> = vec![COMMON];
    match class {
        CKO_DATA => t.push(DATA),
        CKO_CERTIFICATE => t.push(CERT),
        CKO_PUBLIC_KEY | CKO_PRIVATE_KEY | CKO_SECRET_KEY => {
            let kt = kt.ok_or(CKR_TEMPLATE_INCOMPLETE)?;
            if !supported_key_type(class, kt) {
                return err(CKR_ATTRIBUTE_VALUE_INVALID);
            }
            t.push(KEY);
            t.push(match class {
                CKO_PUBLIC_KEY => PUBLIC,
                CKO_PRIVATE_KEY => PRIVATE,
                _ => SECRET,
            });
            t.push(match (class, kt) {
                (CKO_PUBLIC_KEY, CKK_RSA) => RSA_PUBLIC,
                (CKO_PRIVATE_KEY, CKK_RSA) => RSA_PRIVATE,
                (CKO_PUBLIC_KEY, CKK_EC | CKK_EC_EDWARDS | CKK_EC_MONTGOMERY) => EC_PUBLIC,
                (CKO_PRIVATE_KEY, CKK_EC | CKK_EC_EDWARDS | CKK_EC_MONTGOMERY) => EC_PRIVATE,
                (CKO_PUBLIC_KEY, CKK_DSA) => DSA_PUBLIC,
                (CKO_PRIVATE_KEY, CKK_DSA) => DSA_PRIVATE,
                (CKO_PUBLIC_KEY, CKK_DH) => DH_PUBLIC,
                (CKO_PRIVATE_KEY, CKK_DH) => DH_PRIVATE,
                (_, CKK_DES | CKK_DES2 | CKK_DES3) => SECRET_FIXED,
                _ => SECRET_VALUE_LEN,
            });
        }
        CKO_DOMAIN_PARAMETERS => {
            let kt = kt.ok_or(CKR_TEMPLATE_INCOMPLETE)?;
            if !supported_key_type(class, kt) {
                return err(CKR_ATTRIBUTE_VALUE_INVALID);
            }
            t.push(DOMAIN);
            t.push(DSA_DOMAIN);
        }
        _ => return err(CKR_ATTRIBUTE_VALUE_INVALID),
    }
    Ok(t)
}

/// The rules of attribute `ty` for this class/key type; later (more specific) tables win.
pub fn rules_of(class: CK_OBJECT_CLASS, kt: Option<CK_KEY_TYPE>, ty: CK_ATTRIBUTE_TYPE) -> Option<Rules> {
    let tabs = tables(class, kt).ok()?;
    tabs.iter().rev().find_map(|t| t.iter().find(|s| s.ty == ty)).map(|s| s.rules)
}

fn default_private(class: CK_OBJECT_CLASS) -> bool {
    // Keys that hold secrets are private unless asked otherwise; public things are public.
    matches!(class, CKO_PRIVATE_KEY | CKO_SECRET_KEY)
}

/// How an object comes to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Create,
    Generate,
    Unwrap,
    Derive,
}

/// Validates a caller template for a new object and fills in defaults.
///
/// `implied` holds what the mechanism or the token sets (class and key type from a keygen
/// mechanism); a template value that contradicts it is `CKR_TEMPLATE_INCONSISTENT`.
/// Computed attributes (CKA_LOCAL, ...) are the caller's job after this returns.
pub fn apply(template: &AttrMap, implied: &AttrMap, origin: Origin) -> Result<AttrMap> {
    let mut out = implied.clone();
    for (t, v) in template.iter() {
        match implied.get(t) {
            Some(iv) if iv != v => return err(CKR_TEMPLATE_INCONSISTENT),
            _ => out.set(t, v.clone()),
        }
    }
    let class = out.class().ok_or(CKR_TEMPLATE_INCOMPLETE)?;
    let kt = out.key_type();
    let tabs = tables(class, kt)?;
    let find = |ty: CK_ATTRIBUTE_TYPE| tabs.iter().rev().find_map(|t| t.iter().find(|s| s.ty == ty));

    // Every template attribute must belong to this class and be allowed for this origin.
    for (t, _) in template.iter() {
        if kind_of(t).is_none() {
            return err(CKR_ATTRIBUTE_TYPE_INVALID);
        }
        let spec = find(t).ok_or(CKR_ATTRIBUTE_TYPE_INVALID)?;
        let forbidden = match origin {
            Origin::Create => F2_NOT_ON_CREATE,
            Origin::Generate | Origin::Derive => F4_NOT_ON_GENERATE,
            Origin::Unwrap => F6_NOT_ON_UNWRAP,
        };
        if spec.rules & forbidden != 0 {
            // Computed attributes are read-only; the others are inconsistent with this origin.
            return err(if spec.rules & COMPUTED == COMPUTED {
                CKR_ATTRIBUTE_READ_ONLY
            } else {
                CKR_TEMPLATE_INCONSISTENT
            });
        }
        if spec.rules & F10_SO_ONLY_TRUE != 0 && template.flag(t) {
            // Only the SO may mark things trusted; the token layer re-checks the login state.
            out.set(t, Attr::Bool(true));
        }
    }

    // Required attributes and defaults.
    for tab in &tabs {
        for spec in tab.iter() {
            let required = match origin {
                Origin::Create => F1_REQUIRED_CREATE,
                Origin::Generate => F3_REQUIRED_GENERATE,
                Origin::Unwrap => F5_REQUIRED_UNWRAP,
                Origin::Derive => 0,
            };
            if spec.rules & required != 0 && !out.contains(spec.ty) {
                // DES3 keys need no CKA_VALUE_LEN; a later, more specific table may relax it.
                if find(spec.ty).map(|s| s.rules & required != 0).unwrap_or(false) {
                    return err(CKR_TEMPLATE_INCOMPLETE);
                }
            }
            if !out.contains(spec.ty) {
                match spec.default {
                    Dflt::Bool(b) => out.set(spec.ty, Attr::Bool(b)),
                    Dflt::Ulong(u) => out.set(spec.ty, Attr::Ulong(u)),
                    // A one-byte buffer, not `Vec::new()`: an empty Vec points at address 1,
                    // and glibc's AVX-512 memset (the wipe on drop) on it costs a ~100 ns
                    // fault-suppression assist; the allocation costs ~20 ns.
                    Dflt::Empty => out.set(spec.ty, Attr::bytes(Vec::with_capacity(1))),
                    Dflt::None => {}
                }
            }
        }
    }
    if !out.contains(CKA_PRIVATE) {
        out.set(CKA_PRIVATE, Attr::Bool(default_private(class)));
    }
    Ok(out)
}

/// What an attribute of the object's class reads as when the object does not hold it: objects
/// made before a default existed, and attributes whose default is "empty" (nothing is stored
/// for them). One table for every class, answered at read time, so stored objects of any age
/// answer alike; an attribute foreign to the class has none (`CKR_ATTRIBUTE_TYPE_INVALID`).
///
/// As in SoftHSMv2, an unset `CKA_ALLOWED_MECHANISMS` reads as an empty array, and an empty
/// array means "no restriction" (the mechanism check in `token::crypto`). Every value is what
/// the token enforces for the absent attribute, never more permissive: an absent usage flag is
/// false (the spec leaves those defaults to the token, and the usage check refuses), an absent
/// `CKA_EXTRACTABLE` false, an absent `CKA_SENSITIVE` true, and the claims `CKA_LOCAL`,
/// `CKA_ALWAYS_SENSITIVE` and `CKA_NEVER_EXTRACTABLE` are false. Key material has no default.
pub fn read_default(obj: &AttrMap, ty: CK_ATTRIBUTE_TYPE) -> Option<Attr> {
    let class = obj.class()?;
    rules_of(class, obj.key_type(), ty)?;
    Some(match ty {
        CKA_LABEL
        | CKA_ID
        | CKA_SUBJECT
        | CKA_START_DATE
        | CKA_END_DATE
        | CKA_APPLICATION
        | CKA_OBJECT_ID
        | CKA_ISSUER
        | CKA_SERIAL_NUMBER
        | CKA_URL
        | CKA_HASH_OF_SUBJECT_PUBLIC_KEY
        | CKA_HASH_OF_ISSUER_PUBLIC_KEY
        | CKA_PUBLIC_KEY_INFO
        | CKA_CHECK_VALUE => Attr::bytes(Vec::new()),
        // A data object's value; a key's CKA_VALUE is material and never defaulted.
        CKA_VALUE if class == CKO_DATA => Attr::bytes(Vec::new()),
        CKA_ALLOWED_MECHANISMS => Attr::MechList(Vec::new()),
        CKA_WRAP_TEMPLATE | CKA_UNWRAP_TEMPLATE | CKA_DERIVE_TEMPLATE => Attr::Template(AttrMap::new()),
        // An nShield key changes only as its ACL allows (`set_attributes`).
        CKA_MODIFIABLE => Attr::Bool(!obj.contains(CKA_SHSM_ACL)),
        CKA_COPYABLE | CKA_DESTROYABLE | CKA_SENSITIVE => Attr::Bool(true),
        CKA_TOKEN
        | CKA_PRIVATE
        | CKA_TRUSTED
        | CKA_ENCRYPT
        | CKA_DECRYPT
        | CKA_SIGN
        | CKA_SIGN_RECOVER
        | CKA_VERIFY
        | CKA_VERIFY_RECOVER
        | CKA_WRAP
        | CKA_UNWRAP
        | CKA_DERIVE
        | CKA_EXTRACTABLE
        | CKA_LOCAL
        | CKA_ALWAYS_SENSITIVE
        | CKA_NEVER_EXTRACTABLE
        | CKA_WRAP_WITH_TRUSTED
        | CKA_ALWAYS_AUTHENTICATE => Attr::Bool(false),
        CKA_KEY_GEN_MECHANISM => Attr::Ulong(CK_UNAVAILABLE_INFORMATION),
        CKA_CERTIFICATE_CATEGORY | CKA_JAVA_MIDP_SECURITY_DOMAIN => Attr::Ulong(0),
        CKA_NAME_HASH_ALGORITHM => Attr::Ulong(CKM_SHA_1),
        _ => return None,
    })
}

/// An attribute as the object answers it: its stored value, else [`read_default`].
pub fn effective(obj: &AttrMap, ty: CK_ATTRIBUTE_TYPE) -> Option<std::borrow::Cow<'_, Attr>> {
    use std::borrow::Cow;
    obj.get(ty).map(Cow::Borrowed).or_else(|| read_default(obj, ty).map(Cow::Owned))
}

/// The C_FindObjects rule over the values the object answers with (defaults included), so a
/// search finds what C_GetAttributeValue reports. An attribute the caller may not read never
/// matches: otherwise a search would confirm a guessed value of a sensitive key.
pub fn matches(obj: &AttrMap, template: &AttrMap) -> bool {
    template.iter().all(|(t, v)| readable(obj, t) && effective(obj, t).is_some_and(|have| *have == *v))
}

/// Checks one attribute change of C_SetAttributeValue (`copy` for C_CopyObject's template).
pub fn check_set(obj: &AttrMap, ty: CK_ATTRIBUTE_TYPE, new: &Attr, copy: bool, so: bool) -> Result<()> {
    kind_of(ty).ok_or(CKR_ATTRIBUTE_TYPE_INVALID)?;
    let class = obj.class().ok_or(CKR_GENERAL_ERROR)?;
    let rules = rules_of(class, obj.key_type(), ty).ok_or(CKR_ATTRIBUTE_TYPE_INVALID)?;
    // The one-way rules (footnotes 11, 12) hold for the value the object answers with.
    let old = effective(obj, ty);
    let old = old.as_deref();
    if old == Some(new) {
        return Ok(());
    }
    let changeable = rules & F8_MODIFIABLE != 0 || (copy && rules & COPY_ONLY != 0) || rules & F10_SO_ONLY_TRUE != 0;
    if !changeable {
        return err(CKR_ATTRIBUTE_READ_ONLY);
    }
    let (oldb, newb) = (old.and_then(Attr::as_bool), new.as_bool());
    if rules & F11_ONLY_TO_TRUE != 0 && oldb == Some(true) && newb == Some(false) {
        return err(CKR_ATTRIBUTE_READ_ONLY);
    }
    if rules & F12_ONLY_TO_FALSE != 0 && oldb == Some(false) && newb == Some(true) {
        return err(CKR_ATTRIBUTE_READ_ONLY);
    }
    if rules & F10_SO_ONLY_TRUE != 0 && newb == Some(true) && !so {
        return err(CKR_ATTRIBUTE_READ_ONLY);
    }
    Ok(())
}

/// An object without its secret components (footnote 7): what may be stored where no
/// passphrase protects it.
pub fn public_view(obj: &AttrMap) -> AttrMap {
    let Some(class) = obj.class() else { return AttrMap::new() };
    obj.iter()
        .filter(|(t, _)| rules_of(class, obj.key_type(), *t).unwrap_or(0) & F7_SENSITIVE == 0)
        .map(|(t, v)| (t, v.clone()))
        .collect()
}

/// Whether an attribute's value may be revealed (footnote 7).
pub fn readable(obj: &AttrMap, ty: CK_ATTRIBUTE_TYPE) -> bool {
    let Some(class) = obj.class() else { return false };
    let secretish = matches!(class, CKO_PRIVATE_KEY | CKO_SECRET_KEY);
    if !secretish {
        return true;
    }
    // A key of a type without rules here (a foreign or damaged file) fails closed.
    let Some(rules) = rules_of(class, obj.key_type(), ty) else { return false };
    if rules & F7_SENSITIVE == 0 {
        return true;
    }
    // Absent, CKA_SENSITIVE counts as true and CKA_EXTRACTABLE as false (see `read_default`).
    !obj.bool(CKA_SENSITIVE).unwrap_or(true) && obj.bool(CKA_EXTRACTABLE).unwrap_or(false)
}

/// Whether an attribute is key material of this object's class (footnote 7).
pub fn is_material(obj: &AttrMap, ty: CK_ATTRIBUTE_TYPE) -> bool {
    let Some(class) = obj.class() else { return false };
    rules_of(class, obj.key_type(), ty).is_some_and(|r| r & F7_SENSITIVE != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(items: &[(CK_ATTRIBUTE_TYPE, Attr)]) -> AttrMap {
        items.iter().cloned().collect()
    }

    #[test]
    fn create_aes_key_needs_value_and_refuses_value_len() {
        let base = [(CKA_CLASS, Attr::Ulong(CKO_SECRET_KEY)), (CKA_KEY_TYPE, Attr::Ulong(CKK_AES))];
        let e = apply(&t(&base), &AttrMap::new(), Origin::Create).unwrap_err();
        assert_eq!(e.rv(), CKR_TEMPLATE_INCOMPLETE);
        let mut with_len = base.to_vec();
        with_len.push((CKA_VALUE, Attr::bytes(vec![0u8; 16])));
        with_len.push((CKA_VALUE_LEN, Attr::Ulong(16)));
        let e = apply(&t(&with_len), &AttrMap::new(), Origin::Create).unwrap_err();
        assert_eq!(e.rv(), CKR_TEMPLATE_INCONSISTENT);
        with_len.pop();
        let m = apply(&t(&with_len), &AttrMap::new(), Origin::Create).unwrap();
        assert_eq!(m.bool(CKA_SENSITIVE), Some(true));
        assert_eq!(m.bool(CKA_PRIVATE), Some(true));
        assert_eq!(m.bool(CKA_TOKEN), Some(false));
    }

    #[test]
    fn computed_attributes_are_read_only() {
        let tm = t(&[
            (CKA_CLASS, Attr::Ulong(CKO_SECRET_KEY)),
            (CKA_KEY_TYPE, Attr::Ulong(CKK_AES)),
            (CKA_VALUE, Attr::bytes(vec![0u8; 16])),
            (CKA_LOCAL, Attr::Bool(true)),
        ]);
        assert_eq!(apply(&tm, &AttrMap::new(), Origin::Create).unwrap_err().rv(), CKR_ATTRIBUTE_READ_ONLY);
    }

    #[test]
    fn generate_refuses_value_and_needs_len() {
        let implied = t(&[(CKA_CLASS, Attr::Ulong(CKO_SECRET_KEY)), (CKA_KEY_TYPE, Attr::Ulong(CKK_AES))]);
        assert_eq!(apply(&AttrMap::new(), &implied, Origin::Generate).unwrap_err().rv(), CKR_TEMPLATE_INCOMPLETE);
        let bad = t(&[(CKA_VALUE, Attr::bytes(vec![1u8; 16])), (CKA_VALUE_LEN, Attr::Ulong(16))]);
        assert_eq!(apply(&bad, &implied, Origin::Generate).unwrap_err().rv(), CKR_TEMPLATE_INCONSISTENT);
        let wrong_class = t(&[(CKA_CLASS, Attr::Ulong(CKO_DATA)), (CKA_VALUE_LEN, Attr::Ulong(16))]);
        assert_eq!(apply(&wrong_class, &implied, Origin::Generate).unwrap_err().rv(), CKR_TEMPLATE_INCONSISTENT);
    }

    #[test]
    fn des3_needs_no_value_len_on_generate() {
        let implied = t(&[(CKA_CLASS, Attr::Ulong(CKO_SECRET_KEY)), (CKA_KEY_TYPE, Attr::Ulong(CKK_DES3))]);
        assert!(apply(&AttrMap::new(), &implied, Origin::Generate).is_ok());
    }

    #[test]
    fn foreign_attribute_is_type_invalid() {
        let tm = t(&[(CKA_CLASS, Attr::Ulong(CKO_DATA)), (CKA_MODULUS, Attr::bytes(vec![1]))]);
        assert_eq!(apply(&tm, &AttrMap::new(), Origin::Create).unwrap_err().rv(), CKR_ATTRIBUTE_TYPE_INVALID);
    }

    /// Objects stored before a default existed hold only what they held then: every attribute
    /// common to their class still answers, with the value the token enforces.
    #[test]
    fn bare_objects_of_every_class_answer_their_common_attributes() {
        let common = [CKA_TOKEN, CKA_PRIVATE, CKA_MODIFIABLE, CKA_LABEL, CKA_COPYABLE, CKA_DESTROYABLE];
        let key = [CKA_ID, CKA_START_DATE, CKA_END_DATE, CKA_DERIVE, CKA_LOCAL, CKA_KEY_GEN_MECHANISM];
        let cases: [(CK_OBJECT_CLASS, Option<CK_KEY_TYPE>, &[CK_ATTRIBUTE_TYPE]); 5] = [
            (CKO_DATA, None, &[CKA_APPLICATION, CKA_OBJECT_ID, CKA_VALUE]),
            (
                CKO_CERTIFICATE,
                None,
                &[CKA_TRUSTED, CKA_CERTIFICATE_CATEGORY, CKA_CHECK_VALUE, CKA_PUBLIC_KEY_INFO, CKA_URL, CKA_ISSUER],
            ),
            (CKO_PUBLIC_KEY, Some(CKK_EC), &[CKA_SUBJECT, CKA_WRAP_TEMPLATE, CKA_PUBLIC_KEY_INFO, CKA_TRUSTED]),
            (
                CKO_PRIVATE_KEY,
                Some(CKK_RSA),
                &[CKA_SENSITIVE, CKA_UNWRAP_TEMPLATE, CKA_ALWAYS_AUTHENTICATE, CKA_NEVER_EXTRACTABLE],
            ),
            (CKO_SECRET_KEY, Some(CKK_AES), &[CKA_CHECK_VALUE, CKA_WRAP_TEMPLATE, CKA_EXTRACTABLE, CKA_TRUSTED]),
        ];
        for (class, kt, own) in cases {
            let mut o = t(&[(CKA_CLASS, Attr::Ulong(class))]);
            if let Some(kt) = kt {
                o.set(CKA_KEY_TYPE, Attr::Ulong(kt));
            }
            let keys: &[CK_ATTRIBUTE_TYPE] = if kt.is_some() { &key } else { &[] };
            for ty in common.iter().chain(keys).chain(own) {
                assert!(read_default(&o, *ty).is_some(), "class {class:#x}: {ty:#x}");
            }
            if kt.is_some() {
                assert_eq!(read_default(&o, CKA_ALLOWED_MECHANISMS), Some(Attr::MechList(vec![])));
            }
            // Foreign to the class, or material: no default.
            assert!(read_default(&o, CKA_MODULUS).is_none());
            assert!(read_default(&o, 0x7FFF_FF00).is_none());
        }
        let aes = t(&[(CKA_CLASS, Attr::Ulong(CKO_SECRET_KEY)), (CKA_KEY_TYPE, Attr::Ulong(CKK_AES))]);
        assert!(read_default(&aes, CKA_VALUE).is_none(), "key material has no default");
        assert!(read_default(&aes, CKA_APPLICATION).is_none());
        // Never more permissive than the enforcement: no usage, not extractable, sensitive.
        assert_eq!(read_default(&aes, CKA_ENCRYPT), Some(Attr::Bool(false)));
        assert_eq!(read_default(&aes, CKA_EXTRACTABLE), Some(Attr::Bool(false)));
        assert_eq!(read_default(&aes, CKA_SENSITIVE), Some(Attr::Bool(true)));
        assert_eq!(read_default(&aes, CKA_LOCAL), Some(Attr::Bool(false)));
        assert!(
            !readable(
                &t(&[
                    (CKA_CLASS, Attr::Ulong(CKO_SECRET_KEY)),
                    (CKA_KEY_TYPE, Attr::Ulong(CKK_AES)),
                    (CKA_EXTRACTABLE, Attr::Bool(true))
                ]),
                CKA_VALUE
            ),
            "an absent CKA_SENSITIVE counts as true"
        );
        // The one-way rules hold for the default: an absent CKA_EXTRACTABLE cannot become true,
        // an absent CKA_SENSITIVE cannot become false.
        assert!(check_set(&aes, CKA_EXTRACTABLE, &Attr::Bool(true), false, false).is_err());
        assert!(check_set(&aes, CKA_SENSITIVE, &Attr::Bool(false), false, false).is_err());
        // A search matches defaults as they read.
        let want = t(&[(CKA_ALLOWED_MECHANISMS, Attr::MechList(vec![])), (CKA_LABEL, Attr::bytes(Vec::new()))]);
        assert!(matches(&aes, &want));
        assert!(!matches(&aes, &t(&[(CKA_ALLOWED_MECHANISMS, Attr::MechList(vec![CKM_AES_GCM]))])));
    }

    #[test]
    fn sensitive_and_extractable_are_one_way() {
        let obj = t(&[
            (CKA_CLASS, Attr::Ulong(CKO_SECRET_KEY)),
            (CKA_KEY_TYPE, Attr::Ulong(CKK_AES)),
            (CKA_SENSITIVE, Attr::Bool(true)),
            (CKA_EXTRACTABLE, Attr::Bool(false)),
        ]);
        assert!(check_set(&obj, CKA_SENSITIVE, &Attr::Bool(false), false, false).is_err());
        assert!(check_set(&obj, CKA_EXTRACTABLE, &Attr::Bool(true), false, false).is_err());
        assert!(check_set(&obj, CKA_LABEL, &Attr::bytes(b"x".to_vec()), false, false).is_ok());
        assert!(check_set(&obj, CKA_TOKEN, &Attr::Bool(true), false, false).is_err());
        assert!(check_set(&obj, CKA_TOKEN, &Attr::Bool(true), true, false).is_ok());
        assert!(check_set(&obj, CKA_TRUSTED, &Attr::Bool(true), false, false).is_err());
        assert!(check_set(&obj, CKA_TRUSTED, &Attr::Bool(true), false, true).is_ok());
        assert!(!readable(&obj, CKA_VALUE));
        assert!(readable(&obj, CKA_LABEL));
    }
}
