//! `generatekey` parameters: key types, curves, protection, and the checked `name=value` pairs.

use super::super::acl::KeyFamily;
use super::super::admin::{fail, AdminError, AdminResult};
use crate::mech::ec;
use crate::mech::registry::{
    CKM_NC_SHA224_HMAC_KEY_GEN, CKM_NC_SHA256_HMAC_KEY_GEN, CKM_NC_SHA384_HMAC_KEY_GEN, CKM_NC_SHA512_HMAC_KEY_GEN,
    CKM_NC_SHA_1_HMAC_KEY_GEN,
};
use crate::mech::rsa as rsa_gen;
use cryptoki_sys::*;
use std::path::PathBuf;

pub const MAX_IDENT: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
    P521,
    /// SEC 2's secp256k1 (nShield's `SECP256k1`, Azure's `P-256K`).
    Secp256k1,
}

impl Curve {
    pub fn parse(s: &str) -> Option<Curve> {
        let l = s.to_ascii_lowercase().replace(['-', '_'], "");
        Some(match l.as_str() {
            "nistp256" | "p256" | "prime256v1" | "secp256r1" => Curve::P256,
            "nistp384" | "p384" | "secp384r1" => Curve::P384,
            "nistp521" | "p521" | "secp521r1" => Curve::P521,
            "secp256k1" | "p256k" => Curve::Secp256k1,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Curve::P256 => "NISTP256",
            Curve::P384 => "NISTP384",
            Curve::P521 => "NISTP521",
            Curve::Secp256k1 => "SECP256k1",
        }
    }
    /// The curve as the mechanisms know it.
    pub fn mech(self) -> &'static ec::Curve {
        match self {
            Curve::P256 => &ec::P256,
            Curve::P384 => &ec::P384,
            Curve::P521 => &ec::P521,
            Curve::Secp256k1 => &ec::SECP256K1,
        }
    }
    pub fn bits(self) -> u32 {
        self.mech().bits as u32
    }
    /// DER of the namedCurve OID (CKA_EC_PARAMS).
    pub fn ec_params(self) -> &'static [u8] {
        self.mech().params
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HmacHash {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl HmacHash {
    fn out_bits(self) -> u32 {
        match self {
            HmacHash::Sha1 => 160,
            HmacHash::Sha224 => 224,
            HmacHash::Sha256 => 256,
            HmacHash::Sha384 => 384,
            HmacHash::Sha512 => 512,
        }
    }
    pub(super) fn key_type(self) -> CK_KEY_TYPE {
        match self {
            HmacHash::Sha1 => CKK_SHA_1_HMAC,
            HmacHash::Sha224 => CKK_SHA224_HMAC,
            HmacHash::Sha256 => CKK_SHA256_HMAC,
            HmacHash::Sha384 => CKK_SHA384_HMAC,
            HmacHash::Sha512 => CKK_SHA512_HMAC,
        }
    }
    pub(super) fn keygen(self) -> CK_MECHANISM_TYPE {
        match self {
            HmacHash::Sha1 => CKM_NC_SHA_1_HMAC_KEY_GEN,
            HmacHash::Sha224 => CKM_NC_SHA224_HMAC_KEY_GEN,
            HmacHash::Sha256 => CKM_NC_SHA256_HMAC_KEY_GEN,
            HmacHash::Sha384 => CKM_NC_SHA384_HMAC_KEY_GEN,
            HmacHash::Sha512 => CKM_NC_SHA512_HMAC_KEY_GEN,
        }
    }
    fn name(self) -> &'static str {
        match self {
            HmacHash::Sha1 => "HMACSHA1",
            HmacHash::Sha224 => "HMACSHA224",
            HmacHash::Sha256 => "HMACSHA256",
            HmacHash::Sha384 => "HMACSHA384",
            HmacHash::Sha512 => "HMACSHA512",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    Rsa,
    Ec,
    Aes,
    Des3,
    Hmac(HmacHash),
}

impl KeyType {
    pub fn parse(s: &str) -> Option<KeyType> {
        let l = s.to_ascii_lowercase().replace(['-', '_'], "");
        Some(match l.as_str() {
            "rsa" => KeyType::Rsa,
            "ec" | "ecdsa" | "ecdh" => KeyType::Ec,
            "aes" | "rijndael" => KeyType::Aes,
            "des3" | "tripledes" | "3des" => KeyType::Des3,
            "hmacsha1" | "sha1hmac" => KeyType::Hmac(HmacHash::Sha1),
            "hmacsha224" | "sha224hmac" => KeyType::Hmac(HmacHash::Sha224),
            "hmacsha256" | "sha256hmac" => KeyType::Hmac(HmacHash::Sha256),
            "hmacsha384" | "sha384hmac" => KeyType::Hmac(HmacHash::Sha384),
            "hmacsha512" | "sha512hmac" => KeyType::Hmac(HmacHash::Sha512),
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Rsa => "RSA",
            KeyType::Ec => "EC",
            KeyType::Aes => "AES",
            KeyType::Des3 => "DES3",
            KeyType::Hmac(h) => h.name(),
        }
    }
    pub(super) fn family(self) -> KeyFamily {
        match self {
            KeyType::Rsa => KeyFamily::Rsa,
            KeyType::Ec => KeyFamily::Ec,
            KeyType::Aes => KeyFamily::Aes,
            KeyType::Des3 => KeyFamily::Des3,
            KeyType::Hmac(_) => KeyFamily::Hmac,
        }
    }
    pub fn asymmetric(self) -> bool {
        matches!(self, KeyType::Rsa | KeyType::Ec)
    }
}

/// What protects a new key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Protect {
    Module,
    /// An Operator Card Set, by name or hash (`None`: the only one there is).
    Token(Option<String>),
    /// A softcard, by name or hash (`None`: the only one there is).
    Softcard(Option<String>),
}

/// Checked `generatekey` parameters.
#[derive(Clone, Debug)]
pub struct KeyParams {
    pub app: String,
    /// `None` for app `pkcs11`, whose ident is made from the protection (`ua…`, `us…`, `uc…`).
    pub ident: Option<String>,
    pub plainname: Option<String>,
    pub ktype: KeyType,
    /// Bits (RSA modulus, AES/DES3/HMAC key); EC uses `curve`.
    pub size: u32,
    pub curve: Option<Curve>,
    pub pubexp: u64,
    pub protect: Protect,
    /// `None`: recoverable iff the world has recovery keys.
    pub recovery: Option<bool>,
    pub module: u32,
    pub card_dir: Option<PathBuf>,
}

pub const PARAM_NAMES: [&str; 12] = [
    "type",
    "size",
    "curve",
    "protect",
    "ident",
    "plainname",
    "nvram",
    "pubexp",
    "recovery",
    "cardset",
    "softcard",
    "module",
];

fn yes_no(name: &str, v: &str) -> AdminResult<Option<bool>> {
    match v.to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "yes" | "y" | "true" | "1" => Ok(Some(true)),
        "no" | "n" | "false" | "0" => Ok(Some(false)),
        _ => fail(format!("{name}={v} is not yes or no"), format!("write {name}=yes or {name}=no")),
    }
}

/// Checks an application name: lowercase letters and digits (it is part of a file name).
pub fn check_app(app: &str) -> AdminResult<()> {
    if app.is_empty() || app.len() > 32 || !app.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
        return fail(
            format!("application name {app:?} is not valid"),
            "use lowercase letters and digits, e.g. simple, pkcs11, custom",
        );
    }
    Ok(())
}

/// Checks an ident (digits, lowercase letters, '-'); capitals are folded to lowercase, as
/// nShield does. Returns the ident to use and whether it was folded.
pub fn check_ident(ident: &str) -> AdminResult<(String, bool)> {
    let folded = ident.to_ascii_lowercase();
    let bad = folded.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'));
    if let Some(c) = bad {
        return fail(
            format!("ident {ident:?} contains {c:?}; idents may contain only digits, lowercase letters and '-'"),
            format!("choose e.g. ident={}", suggest_ident(ident)),
        );
    }
    if folded.is_empty() || folded.len() > MAX_IDENT {
        return fail(format!("ident {ident:?} must be 1 to {MAX_IDENT} characters"), "choose a shorter ident=");
    }
    let changed = folded != ident;
    Ok((folded, changed))
}

fn suggest_ident(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let t = out.trim_end_matches('-').to_string();
    if t.is_empty() {
        "mykey".into()
    } else {
        t
    }
}

/// Parses `generatekey`'s `name=value` pairs. Returns the parameters and notes for the user
/// (e.g. an ident folded to lowercase).
pub fn parse_params(app: &str, pairs: &[(String, String)]) -> AdminResult<(KeyParams, Vec<String>)> {
    check_app(app)?;
    let mut notes = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for (k, _) in pairs {
        if !PARAM_NAMES.contains(&k.as_str()) {
            return fail(
                format!("unknown parameter {k}="),
                format!("valid parameters: {}", PARAM_NAMES.join("= ") + "="),
            );
        }
        if seen.contains(&k.as_str()) {
            return fail(format!("parameter {k}= is given twice"), "give each parameter once");
        }
        seen.push(k);
    }
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.trim());
    let tname = get("type").filter(|v| !v.is_empty()).ok_or_else(|| {
        AdminError::new("no key type given", "add type=RSA, type=EC, type=AES, type=DES3 or type=HMACSHA256")
    })?;
    let ktype = KeyType::parse(tname).ok_or_else(|| {
        AdminError::new(
            format!("unknown key type {tname:?}"),
            "use type=RSA, EC, AES, DES3, HMACSHA1, HMACSHA224, HMACSHA256, HMACSHA384 or HMACSHA512",
        )
    })?;
    let size_s = get("size").unwrap_or("");
    let size_given: Option<u32> = if size_s.is_empty() {
        None
    } else {
        Some(
            size_s
                .parse()
                .map_err(|_| AdminError::new(format!("size={size_s} is not a number"), "give bits, e.g. size=2048"))?,
        )
    };
    let mut curve = None;
    let curve_s = get("curve").unwrap_or("");
    if !curve_s.is_empty() {
        if ktype != KeyType::Ec {
            return fail(format!("curve= applies to EC keys, not {}", ktype.name()), "drop curve= or use type=EC");
        }
        curve = Some(Curve::parse(curve_s).ok_or_else(|| {
            AdminError::new(format!("unknown curve {curve_s:?}"), "use curve=NISTP256, NISTP384, NISTP521 or SECP256k1")
        })?);
    }
    let size = match ktype {
        KeyType::Rsa => {
            let s = size_given.unwrap_or(2048);
            // The token's own range (mech::rsa::generate): any size, to the bit.
            let (weak_min, min, max) = (rsa_gen::WEAK_GEN_MIN_BITS, rsa_gen::GEN_MIN_BITS, rsa_gen::GEN_MAX_BITS);
            if !(weak_min..=max).contains(&(s as usize)) {
                return fail(
                    format!("RSA size {s} is not supported"),
                    "use size=2048, 3072 or 4096 (any number of bits from 2048 to 8192)",
                );
            }
            if (s as usize) < min && !crate::assurance::relaxed(crate::assurance::Assurance::WeakRsa) {
                return fail(
                    format!("RSA-{s} is a weak key size (security assurance weak_rsa)"),
                    "use size=2048 or more, or set CKNFAST_OVERRIDE_SECURITY_ASSURANCES=weak_rsa",
                );
            }
            s
        }
        KeyType::Ec => {
            if let Some(s) = size_given {
                let c = match s {
                    256 => Curve::P256,
                    384 => Curve::P384,
                    521 => Curve::P521,
                    _ => {
                        return fail(
                            format!("EC size {s} is not a supported curve size"),
                            "use curve=NISTP256, NISTP384 or NISTP521",
                        )
                    }
                };
                if curve.is_some_and(|cv| cv != c) {
                    return fail(format!("size={s} does not match curve={curve_s}"), "give only curve=");
                }
                curve = Some(c);
            }
            let c = *curve.get_or_insert(Curve::P256);
            c.bits()
        }
        KeyType::Aes => {
            let s = size_given.unwrap_or(256);
            if !matches!(s, 128 | 192 | 256) {
                return fail(format!("AES size {s} is not supported"), "use size=128, 192 or 256");
            }
            s
        }
        KeyType::Des3 => {
            let s = size_given.unwrap_or(168);
            if !matches!(s, 168 | 192) {
                return fail(format!("DES3 size {s} is not supported"), "use size=168 (three-key triple DES)");
            }
            168
        }
        KeyType::Hmac(h) => {
            let s = size_given.unwrap_or(h.out_bits());
            if !(64..=4096).contains(&s) || s % 8 != 0 {
                return fail(format!("HMAC key size {s} is not supported"), "use a multiple of 8 bits from 64 to 4096");
            }
            s
        }
    };
    let pubexp_s = get("pubexp").unwrap_or("");
    let pubexp = if pubexp_s.is_empty() {
        65537
    } else {
        if ktype != KeyType::Rsa {
            return fail(format!("pubexp= applies to RSA keys, not {}", ktype.name()), "leave pubexp= empty");
        }
        let v = match pubexp_s.strip_prefix("0x").or_else(|| pubexp_s.strip_prefix("0X")) {
            Some(h) => u64::from_str_radix(h, 16).ok(),
            None => pubexp_s.parse().ok(),
        };
        match v {
            Some(e) if e >= 3 && e % 2 == 1 && e < (1 << 32) => e,
            _ => {
                return fail(
                    format!("pubexp={pubexp_s} is not an odd exponent from 3 to 2^32"),
                    "leave pubexp= empty for 65537",
                )
            }
        }
    };
    if yes_no("nvram", get("nvram").unwrap_or(""))? == Some(true) {
        return fail("NVRAM key storage is not emulated", "use nvram=no");
    }
    let recovery = yes_no("recovery", get("recovery").unwrap_or(""))?;
    let cardset = get("cardset").filter(|v| !v.is_empty()).map(str::to_string);
    let softcard_name = get("softcard").filter(|v| !v.is_empty()).map(str::to_string);
    let protect_s = get("protect").unwrap_or("").to_ascii_lowercase();
    let protect = match protect_s.as_str() {
        "" if softcard_name.is_some() => Protect::Softcard(softcard_name.clone()),
        "" if cardset.is_some() => Protect::Token(cardset.clone()),
        "" | "module" => Protect::Module,
        "token" | "ocs" | "cardset" => Protect::Token(cardset.clone()),
        "softcard" => Protect::Softcard(softcard_name.clone()),
        other => {
            return fail(
                format!("protect={other} is not known"),
                "use protect=module, protect=token or protect=softcard",
            )
        }
    };
    match &protect {
        Protect::Module if cardset.is_some() || softcard_name.is_some() => {
            return fail(
                "cardset= or softcard= given for a module-protected key",
                "use protect=token with cardset=, or protect=softcard with softcard=",
            )
        }
        Protect::Token(_) if softcard_name.is_some() => {
            return fail("softcard= given for a card-set-protected key", "use protect=softcard softcard=<name>")
        }
        Protect::Softcard(_) if cardset.is_some() => {
            return fail("cardset= given for a softcard-protected key", "use protect=token cardset=<name>")
        }
        _ => {}
    }
    let module = match get("module").unwrap_or("") {
        "" => 1,
        m => m.parse().map_err(|_| AdminError::new(format!("module={m} is not a number"), "use module=1"))?,
    };
    let ident_s = get("ident").unwrap_or("");
    let ident = if app == "pkcs11" {
        if !ident_s.is_empty() {
            return fail(
                "ident= cannot be chosen for application pkcs11 (the tool derives it, as nShield does)",
                "drop ident= and find the key by plainname= (its CKA_LABEL)",
            );
        }
        None
    } else {
        if ident_s.is_empty() {
            return fail("no ident given", "add ident=<name> (digits, lowercase letters, '-')");
        }
        let (id, folded) = check_ident(ident_s)?;
        if folded {
            notes.push(format!("ident {ident_s:?} folded to lowercase: {id}"));
        }
        Some(id)
    };
    let plainname = get("plainname").filter(|v| !v.is_empty()).map(str::to_string);
    Ok((
        KeyParams {
            app: app.to_string(),
            ident,
            plainname,
            ktype,
            size,
            curve,
            pubexp,
            protect,
            recovery,
            module,
            card_dir: None,
        },
        notes,
    ))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in super::super) fn pairs(s: &str) -> Vec<(String, String)> {
        s.split_whitespace()
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (k.to_string(), v.to_string())
            })
            .collect()
    }

    #[test]
    fn seed_parameters_parse() {
        let (p, notes) = parse_params(
            "simple",
            &pairs("type=RSA size=2048 protect=module ident=contosokey plainname=contosokey nvram=no pubexp="),
        )
        .unwrap();
        assert_eq!(p.ktype, KeyType::Rsa);
        assert_eq!(p.size, 2048);
        assert_eq!(p.pubexp, 65537);
        assert_eq!(p.protect, Protect::Module);
        assert_eq!(p.ident.as_deref(), Some("contosokey"));
        assert!(notes.is_empty());
        let (p, _) = parse_params("simple", &pairs("type=EC curve=SECP256k1 ident=k")).unwrap();
        assert_eq!((p.curve, p.size), (Some(Curve::Secp256k1), 256));
        let (p, notes) = parse_params("simple", &pairs("type=ec curve=P-384 ident=MyKey")).unwrap();
        assert_eq!(p.curve, Some(Curve::P384));
        assert_eq!(p.ident.as_deref(), Some("mykey"));
        assert_eq!(notes.len(), 1);
        assert!(parse_params("simple", &pairs("type=RSA ident=a_b")).is_err());
        assert!(parse_params("simple", &pairs("type=RSA ident=ok nvram=yes")).is_err());
        assert!(parse_params("simple", &pairs("type=RSA ident=ok bogus=1")).is_err());
        assert!(parse_params("simple", &pairs("type=AES size=100 ident=ok")).is_err());
        assert!(parse_params("pkcs11", &pairs("type=AES ident=ok")).is_err());
        assert!(parse_params("Simple", &pairs("type=AES ident=ok")).is_err());
        assert!(check_ident("has space").unwrap_err().todo.contains("has-space"));
    }

    #[test]
    fn rsa_sizes_are_any_number_of_bits_in_range() {
        for size in [2048u32, 2049, 3092, 4097, 8192] {
            let (p, _) = parse_params("simple", &pairs(&format!("type=RSA size={size} ident=k"))).unwrap();
            assert_eq!(p.size, size);
        }
        for size in [0u32, 1023, 8193, 16384] {
            let e = parse_params("simple", &pairs(&format!("type=RSA size={size} ident=k"))).unwrap_err();
            assert!(e.what.contains("not supported"), "{size}: {}", e.what);
        }
        if !crate::assurance::relaxed(crate::assurance::Assurance::WeakRsa) {
            let e = parse_params("simple", &pairs("type=RSA size=1500 ident=k")).unwrap_err();
            assert!(e.what.contains("weak key size"), "{}", e.what);
        }
    }
}
