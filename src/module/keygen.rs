//! `generatekey --generate`: parameters, key material, and the key files.
//!
//! A key is written as complete PKCS#11 objects in the library's object-file format
//! (`object::stored::seal_file`), so the PKCS#11 library picks it up as a token object:
//!
//! * `local/key_<app>_<ident>`: the private (RSA/EC) or secret key. Module keys are sealed under
//!   the world key KM with owner = hkm; softcard and card-set keys under that token's logical
//!   token LT with owner = the token's hash (the library opens them after login).
//! * `local/key_<app>_<ident>_pub`: for RSA/EC, the public half (`CKO_PUBLIC_KEY`, same CKA_ID
//!   and CKA_LABEL), always sealed under KM with the same owner, so it is readable without the
//!   token, as nShield keeps public keys under the well-known module key.
//!
//! Both carry `CKA_NFKM_APPNAME/ID/HASH`, `CKA_SHSM_PROTECTION` and the nCore-style ACL as JSON
//! in `CKA_SHSM_ACL`. A recoverable key also gets a recovery blob (docs/nshield-emulation.md §2.1)
//! in `emu/recovery/key_<app>_<ident>.json`: the private object encrypted under a fresh AES key
//! that is itself RSA-OAEP(SHA-256)-encrypted to the world's KRE.

use super::acl::{Acl, BlobProtector, KeyFamily};
use super::admin::{fail, AdminError, AdminResult, Interaction, Txn};
use super::cardset::{self, CardSetFile};
use super::new_object::complete_new;
use super::softcard::{self, SoftcardFile, Who};
use super::store::Store;
use super::world::{self, Operational, WorldFile};
use crate::mech::registry::{
    CKM_NC_SHA224_HMAC_KEY_GEN, CKM_NC_SHA256_HMAC_KEY_GEN, CKM_NC_SHA384_HMAC_KEY_GEN, CKM_NC_SHA512_HMAC_KEY_GEN,
    CKM_NC_SHA_1_HMAC_KEY_GEN,
};
use crate::mech::rsa as rsa_gen;
use crate::object::attr::{
    Attr, AttrMap, CKA_NFKM_APPNAME, CKA_NFKM_HASH, CKA_NFKM_ID, CKA_SHSM_ACL, CKA_SHSM_PROTECTION,
};
use crate::object::envelope::{self, seal, SecretKey32};
use crate::object::policy::{self, Origin};
use crate::object::stored::{self, Protection};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use cryptoki_sys::*;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use zeroize::Zeroizing;

pub const PUB_SUFFIX: &str = "_pub";
pub const MAX_IDENT: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    pub fn parse(s: &str) -> Option<Curve> {
        let l = s.to_ascii_lowercase().replace(['-', '_'], "");
        Some(match l.as_str() {
            "nistp256" | "p256" | "prime256v1" | "secp256r1" => Curve::P256,
            "nistp384" | "p384" | "secp384r1" => Curve::P384,
            "nistp521" | "p521" | "secp521r1" => Curve::P521,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Curve::P256 => "NISTP256",
            Curve::P384 => "NISTP384",
            Curve::P521 => "NISTP521",
        }
    }
    pub fn bits(self) -> u32 {
        match self {
            Curve::P256 => 256,
            Curve::P384 => 384,
            Curve::P521 => 521,
        }
    }
    /// DER of the namedCurve OID (CKA_EC_PARAMS).
    pub fn ec_params(self) -> &'static [u8] {
        match self {
            Curve::P256 => &[0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07],
            Curve::P384 => &[0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x22],
            Curve::P521 => &[0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x23],
        }
    }
    fn alg(self) -> &'static aws_lc_rs::signature::EcdsaSigningAlgorithm {
        use aws_lc_rs::signature::*;
        match self {
            Curve::P256 => &ECDSA_P256_SHA256_ASN1_SIGNING,
            Curve::P384 => &ECDSA_P384_SHA384_ASN1_SIGNING,
            Curve::P521 => &ECDSA_P521_SHA512_ASN1_SIGNING,
        }
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
    fn key_type(self) -> CK_KEY_TYPE {
        match self {
            HmacHash::Sha1 => CKK_SHA_1_HMAC,
            HmacHash::Sha224 => CKK_SHA224_HMAC,
            HmacHash::Sha256 => CKK_SHA256_HMAC,
            HmacHash::Sha384 => CKK_SHA384_HMAC,
            HmacHash::Sha512 => CKK_SHA512_HMAC,
        }
    }
    fn keygen(self) -> CK_MECHANISM_TYPE {
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
    fn family(self) -> KeyFamily {
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
            AdminError::new(format!("unknown curve {curve_s:?}"), "use curve=NISTP256, NISTP384 or NISTP521")
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

/// A generated key's parts, as PKCS#11 attributes.
struct Material {
    /// Class and key type and the key's components of the private/secret object.
    private: AttrMap,
    /// Same for the public object (asymmetric keys).
    public: Option<AttrMap>,
    mech: CK_MECHANISM_TYPE,
}

fn der_octet_string(v: &[u8]) -> Vec<u8> {
    let mut out = vec![0x04];
    match v.len() {
        n if n < 0x80 => out.push(n as u8),
        n if n < 0x100 => out.extend([0x81, n as u8]),
        n => out.extend([0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(v);
    out
}

fn keygen_failed() -> AdminError {
    AdminError::new("key generation failed", "retry; if it persists, report it")
}

/// An RSA key pair from the token's one generator, [`rsa_gen::generate`] (what C_GenerateKeyPair
/// and SHSM_GenerateKey use too): a modulus of exactly `bits` bits, public exponent `e`.
fn make_rsa(bits: u32, e: u64) -> AdminResult<Material> {
    let key = rsa_gen::generate(bits as usize, &e.to_be_bytes()).map_err(|_| keygen_failed())?;
    let mut private = rsa_gen::key_attrs(&key).map_err(|_| keygen_failed())?;
    let mut public = AttrMap::new();
    public.set(CKA_CLASS, Attr::Ulong(CKO_PUBLIC_KEY));
    public.set(CKA_KEY_TYPE, Attr::Ulong(CKK_RSA));
    for t in [CKA_MODULUS, CKA_PUBLIC_EXPONENT] {
        public.set(t, private.get(t).ok_or_else(keygen_failed)?.clone());
    }
    let spki = crate::mech::public_key_info(&public).ok_or_else(keygen_failed)?;
    public.remove(CKA_CLASS);
    public.remove(CKA_KEY_TYPE);
    private.set(CKA_PUBLIC_KEY_INFO, Attr::bytes(spki.clone()));
    public.set(CKA_PUBLIC_KEY_INFO, Attr::bytes(spki));
    Ok(Material { private, public: Some(public), mech: CKM_RSA_PKCS_KEY_PAIR_GEN })
}

fn make_ec(curve: Curve) -> AdminResult<Material> {
    use aws_lc_rs::encoding::{AsBigEndian, AsDer, EcPrivateKeyBin};
    use aws_lc_rs::signature::KeyPair;
    let kp = aws_lc_rs::signature::EcdsaKeyPair::generate(curve.alg()).map_err(|_| keygen_failed())?;
    let d: EcPrivateKeyBin<'_> = kp.private_key().as_be_bytes().map_err(|_| keygen_failed())?;
    let point = kp.public_key().as_ref().to_vec();
    let spki = kp.public_key().as_der().map_err(|_| keygen_failed())?.as_ref().to_vec();
    let ec_point = der_octet_string(&point);
    let mut private = AttrMap::new();
    private.set(CKA_VALUE, Attr::bytes(d.as_ref().to_vec()));
    private.set(CKA_EC_PARAMS, Attr::bytes(curve.ec_params().to_vec()));
    private.set(CKA_EC_POINT, Attr::bytes(ec_point.clone()));
    private.set(CKA_PUBLIC_KEY_INFO, Attr::bytes(spki.clone()));
    let mut public = AttrMap::new();
    public.set(CKA_EC_POINT, Attr::bytes(ec_point));
    public.set(CKA_PUBLIC_KEY_INFO, Attr::bytes(spki));
    Ok(Material { private, public: Some(public), mech: CKM_EC_KEY_PAIR_GEN })
}

fn make_secret(ktype: KeyType, bits: u32) -> AdminResult<Material> {
    let len = match ktype {
        KeyType::Des3 => 24,
        _ => (bits / 8) as usize,
    };
    let mut v = Zeroizing::new(vec![0u8; len]);
    aws_lc_rs::rand::fill(&mut v[..]).map_err(|_| keygen_failed())?;
    let mech = match ktype {
        KeyType::Aes => CKM_AES_KEY_GEN,
        KeyType::Des3 => {
            for b in v.iter_mut() {
                let ones = (*b & 0xFE).count_ones();
                *b = (*b & 0xFE) | u8::from(ones % 2 == 0);
            }
            CKM_DES3_KEY_GEN
        }
        KeyType::Hmac(h) => h.keygen(),
        _ => return Err(keygen_failed()),
    };
    let mut private = AttrMap::new();
    private.set(CKA_VALUE, Attr::Bytes(v));
    Ok(Material { private, public: None, mech })
}

/// What a generated key turned into.
#[derive(Clone, Debug)]
pub struct GeneratedKey {
    pub app: String,
    pub ident: String,
    pub plainname: String,
    pub ktype: KeyType,
    pub size: u32,
    /// `module`, `cardset:<hash>` or `softcard:<hash>`.
    pub protection: String,
    /// The token's name, for card-set and softcard keys.
    pub token_name: Option<String>,
    pub files: Vec<String>,
    pub recovery: bool,
}

/// The SubjectPublicKeyInfo DER of a key file's attributes (RSA, EC, EdDSA, X25519/X448), or
/// `None` for keys without a public half; what `byok-verify --expect-key` compares.
pub fn public_key_info(attrs: &AttrMap) -> Option<Vec<u8>> {
    crate::mech::public_key_info(attrs)
}

pub fn key_file_name(app: &str, ident: &str) -> String {
    format!("{}{app}_{ident}", stored::KEY_PREFIX)
}

/// nShield-style 20-byte key hash for CKA_NFKM_HASH (emulated: SHA-256 of the file name, cut),
/// the same rule the token layer uses for keys it makes.
fn nfkm_hash(name: &str) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, name.as_bytes()).as_ref()[..20].to_vec()
}

/// Resolved protection: owner hash, token key, how to describe it.
struct Protector {
    prot: Protection,
    owner: String,
    key: SecretKey32,
    desc: String,
    blob: BlobProtector,
    token_name: Option<String>,
    /// Prefix of a derived pkcs11 ident.
    pkcs11_prefix: String,
}

pub fn find_softcard(store: &Store, want: Option<&str>) -> AdminResult<SoftcardFile> {
    let all = softcard::list(store)?;
    let hits: Vec<&SoftcardFile> = match want {
        None => all.iter().collect(),
        Some(w) => {
            let exact: Vec<&SoftcardFile> = all.iter().filter(|c| c.name == w || c.hash == w).collect();
            if exact.is_empty() && w.len() >= 6 {
                all.iter().filter(|c| c.hash.starts_with(w)).collect()
            } else {
                exact
            }
        }
    };
    match hits.as_slice() {
        [one] => Ok((*one).clone()),
        [] => fail(
            match want {
                Some(w) => format!("there is no softcard named {w:?}"),
                None => "there is no softcard".to_string(),
            },
            "create one with `ppmk --new <name>` (see `nfkminfo -s`)",
        ),
        many => fail(
            format!(
                "{} softcards match ({})",
                many.len(),
                many.iter().map(|c| format!("{} {}", c.hash, c.name)).collect::<Vec<_>>().join(", ")
            ),
            "name the softcard with softcard=<name> or by its hash",
        ),
    }
}

fn find_cardset(store: &Store, want: Option<&str>) -> AdminResult<CardSetFile> {
    match want {
        Some(w) => cardset::find_ocs(store, w),
        None => {
            let all = cardset::list_ocs(store)?;
            match all.as_slice() {
                [one] => Ok(one.clone()),
                [] => fail("there is no Operator Card Set", "create one with `createocs -m1 -Q K/N -N <name>`"),
                _ => fail(
                    format!("{} Operator Card Sets exist", all.len()),
                    "choose one with cardset=<name> (see `nfkminfo -c`)",
                ),
            }
        }
    }
}

fn softcard_error(e: crate::error::Error, name: &str) -> AdminError {
    match e.rv() {
        CKR_PIN_INCORRECT => {
            AdminError::new(format!("wrong passphrase for softcard {name:?}"), "retry with the right passphrase")
        }
        CKR_PIN_LOCKED => AdminError::new(
            format!("softcard {name:?} is locked after too many wrong passphrases"),
            "unlock it through PKCS#11 (SO login, C_InitPIN)",
        ),
        CKR_USER_PIN_NOT_INITIALIZED => AdminError::new(
            format!("softcard {name:?} has no user passphrase yet"),
            "set one through PKCS#11 (SO login, C_InitPIN)",
        ),
        _ => AdminError::from(e),
    }
}

/// Loads the protector of a key: KM for module keys; the LT of a softcard (its passphrase) or
/// card set (K cards) otherwise.
fn load_protector(
    store: &Store,
    op: &Operational,
    protect: &Protect,
    card_dir: Option<&std::path::Path>,
    ui: &mut dyn Interaction,
) -> AdminResult<Protector> {
    match protect {
        Protect::Module => Ok(Protector {
            prot: Protection::Module,
            owner: op.world.hkm.clone(),
            key: op.km.clone(),
            desc: "module".into(),
            blob: BlobProtector::Km,
            token_name: None,
            pkcs11_prefix: "ua".into(),
        }),
        Protect::Softcard(want) => {
            let sc = find_softcard(store, want.as_deref())?;
            let pass = ui.passphrase(&format!("softcard {:?} ({})", sc.name, sc.hash))?;
            let (_, lt) = SoftcardFile::verify(store, &sc.file_name(), Who::User, pass.as_bytes())
                .map_err(|e| softcard_error(e, &sc.name))?;
            Ok(Protector {
                prot: Protection::Token,
                owner: sc.hash.clone(),
                key: lt,
                desc: format!("softcard:{}", sc.hash),
                blob: BlobProtector::Lt(sc.hash.clone()),
                token_name: Some(sc.name.clone()),
                pkcs11_prefix: format!("us{}-", sc.hash.get(..8).unwrap_or(&sc.hash)),
            })
        }
        Protect::Token(want) => {
            let cs = find_cardset(store, want.as_deref())?;
            if cs.world_hkm != op.world.hkm {
                return fail(
                    format!("card set {:?} belongs to another Security World", cs.name),
                    "use a card set of this world",
                );
            }
            let lt = cardset::load_lt(store, &cs.set_ref(), card_dir, Some(&op.km), ui)?;
            Ok(Protector {
                prot: Protection::Token,
                owner: cs.hash.clone(),
                key: lt,
                desc: format!("cardset:{}", cs.hash),
                blob: BlobProtector::Lt(cs.hash.clone()),
                token_name: Some(cs.name.clone()),
                pkcs11_prefix: format!("uc{}-", cs.hash.get(..8).unwrap_or(&cs.hash)),
            })
        }
    }
}

fn set_flags(m: &mut AttrMap, flags: &[(CK_ATTRIBUTE_TYPE, bool)]) {
    for (t, v) in flags {
        m.set(*t, Attr::Bool(*v));
    }
}

/// How a new key's objects are named and labelled.
struct Naming<'a> {
    file: &'a str,
    ident: &'a str,
    label: &'a str,
    /// CKA_PRIVATE of the private/secret object.
    private_obj: bool,
    /// CKA_SHSM_PROTECTION.
    protection: &'a str,
}

/// Builds the complete PKCS#11 objects of a key.
fn build_objects(
    p: &KeyParams,
    mat: Material,
    n: &Naming<'_>,
    acl: &Acl,
    public_acl: &Acl,
) -> AdminResult<(AttrMap, Option<AttrMap>)> {
    let Naming { file, ident, label, private_obj, protection } = *n;
    let internal = |e: crate::error::Error| {
        AdminError::new(format!("internal error building the key object ({e})"), "report this")
    };
    let (class, kt) = match p.ktype {
        KeyType::Rsa => (CKO_PRIVATE_KEY, CKK_RSA),
        KeyType::Ec => (CKO_PRIVATE_KEY, CKK_EC),
        KeyType::Aes => (CKO_SECRET_KEY, CKK_AES),
        KeyType::Des3 => (CKO_SECRET_KEY, CKK_DES3),
        KeyType::Hmac(h) => (CKO_SECRET_KEY, h.key_type()),
    };
    let mut implied = AttrMap::new();
    implied.set(CKA_CLASS, Attr::Ulong(class));
    implied.set(CKA_KEY_TYPE, Attr::Ulong(kt));
    let mut t = AttrMap::new();
    t.set(CKA_LABEL, Attr::bytes(label.as_bytes().to_vec()));
    t.set(CKA_ID, Attr::bytes(ident.as_bytes().to_vec()));
    set_flags(
        &mut t,
        &[(CKA_TOKEN, true), (CKA_PRIVATE, private_obj), (CKA_SENSITIVE, true), (CKA_EXTRACTABLE, false)],
    );
    match p.ktype {
        KeyType::Rsa => set_flags(
            &mut t,
            &[(CKA_SIGN, true), (CKA_DECRYPT, true), (CKA_UNWRAP, true), (CKA_SIGN_RECOVER, true), (CKA_DERIVE, false)],
        ),
        KeyType::Ec => set_flags(
            &mut t,
            &[
                (CKA_SIGN, true),
                (CKA_DERIVE, true),
                (CKA_DECRYPT, false),
                (CKA_UNWRAP, false),
                (CKA_SIGN_RECOVER, false),
            ],
        ),
        KeyType::Aes | KeyType::Des3 => set_flags(
            &mut t,
            &[
                (CKA_ENCRYPT, true),
                (CKA_DECRYPT, true),
                (CKA_WRAP, true),
                (CKA_UNWRAP, true),
                (CKA_SIGN, true),
                (CKA_VERIFY, true),
                (CKA_DERIVE, false),
            ],
        ),
        KeyType::Hmac(_) => set_flags(
            &mut t,
            &[
                (CKA_SIGN, true),
                (CKA_VERIFY, true),
                (CKA_ENCRYPT, false),
                (CKA_DECRYPT, false),
                (CKA_WRAP, false),
                (CKA_UNWRAP, false),
                (CKA_DERIVE, false),
            ],
        ),
    }
    if matches!(p.ktype, KeyType::Aes | KeyType::Hmac(_)) {
        t.set(CKA_VALUE_LEN, Attr::Ulong((p.size / 8) as CK_ULONG));
    }
    let mut private = policy::apply(&t, &implied, Origin::Generate).map_err(internal)?;
    for (k, v) in mat.private.iter() {
        private.set(k, v.clone());
    }
    complete_new(&mut private, Origin::Generate, Some(mat.mech)).map_err(internal)?;
    let tag = |m: &mut AttrMap, name: &str, acl: &Acl| {
        m.set(CKA_NFKM_APPNAME, Attr::bytes(p.app.as_bytes().to_vec()));
        m.set(CKA_NFKM_ID, Attr::bytes(ident.as_bytes().to_vec()));
        m.set(CKA_NFKM_HASH, Attr::bytes(nfkm_hash(name)));
        m.set(CKA_SHSM_PROTECTION, Attr::bytes(protection.as_bytes().to_vec()));
        m.set(CKA_SHSM_ACL, Attr::bytes(acl.to_json()));
    };
    tag(&mut private, file, acl);

    let public = match mat.public {
        None => None,
        Some(pm) => {
            let mut implied = AttrMap::new();
            implied.set(CKA_CLASS, Attr::Ulong(CKO_PUBLIC_KEY));
            implied.set(CKA_KEY_TYPE, Attr::Ulong(kt));
            let mut t = AttrMap::new();
            t.set(CKA_LABEL, Attr::bytes(label.as_bytes().to_vec()));
            t.set(CKA_ID, Attr::bytes(ident.as_bytes().to_vec()));
            set_flags(&mut t, &[(CKA_TOKEN, true), (CKA_PRIVATE, false)]);
            match p.ktype {
                KeyType::Rsa => {
                    t.set(CKA_MODULUS_BITS, Attr::Ulong(p.size as CK_ULONG));
                    set_flags(
                        &mut t,
                        &[(CKA_VERIFY, true), (CKA_ENCRYPT, true), (CKA_WRAP, true), (CKA_VERIFY_RECOVER, true)],
                    );
                }
                _ => {
                    t.set(CKA_EC_PARAMS, Attr::bytes(p.curve.unwrap_or(Curve::P256).ec_params().to_vec()));
                    set_flags(
                        &mut t,
                        &[
                            (CKA_VERIFY, true),
                            (CKA_ENCRYPT, false),
                            (CKA_WRAP, false),
                            (CKA_VERIFY_RECOVER, false),
                            (CKA_DERIVE, false),
                        ],
                    );
                }
            }
            let mut public = policy::apply(&t, &implied, Origin::Generate).map_err(internal)?;
            for (k, v) in pm.iter() {
                public.set(k, v.clone());
            }
            complete_new(&mut public, Origin::Generate, Some(mat.mech)).map_err(internal)?;
            tag(&mut public, &format!("{file}{PUB_SUFFIX}"), public_acl);
            Some(public)
        }
    };
    Ok((private, public))
}

/// A recovery blob: the private object under a fresh AES key, that key RSA-OAEP(SHA-256)
/// encrypted to KRE.
#[derive(Serialize, Deserialize)]
pub struct RecoveryBlob {
    pub format: String,
    pub file: String,
    pub hkre: String,
    pub wrapped_key: String,
    pub blob: String,
}

fn recovery_blob(w: &WorldFile, file: &str, obj: &AttrMap) -> AdminResult<Vec<u8>> {
    use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA256_MGF1SHA256};
    let bad = || AdminError::new("the world's recovery key KRE is damaged", "restore local/world or use recovery=no");
    let spki = B64.decode(&w.kre_pub).map_err(|_| bad())?;
    let kre =
        OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(&spki).map_err(|_| bad())?).map_err(|_| bad())?;
    let k = envelope::random_key()?;
    let mut wrapped = vec![0u8; kre.ciphertext_size()];
    let n = kre.encrypt(&OAEP_SHA256_MGF1SHA256, &k[..], &mut wrapped, None).map_err(|_| bad())?.len();
    wrapped.truncate(n);
    let aad = format!("shieldhsm/recovery-blob/1|{file}|{}", w.hkre);
    let blob = seal(&k, aad.as_bytes(), &obj.encode())?;
    let r = RecoveryBlob {
        format: "shieldhsm/recovery-blob/1".into(),
        file: file.to_string(),
        hkre: w.hkre.clone(),
        wrapped_key: B64.encode(wrapped),
        blob: B64.encode(blob),
    };
    Ok(serde_json::to_vec_pretty(&r).unwrap_or_default())
}

/// `generatekey --generate`: checks, loads the protector (asking for cards or a softcard
/// passphrase), generates, and writes the key files. Nothing is written on any failure.
pub fn generate(store: &Store, p: &KeyParams, ui: &mut dyn Interaction) -> AdminResult<GeneratedKey> {
    let op = world::operational(store, p.module, "generatekey")?;
    if let Some(id) = &p.ident {
        let name = key_file_name(&p.app, id);
        if store.exists(&name) {
            return fail(
                format!("key {} {} already exists (local/{name})", p.app, id),
                "choose another ident=, or move the old key file away first",
            );
        }
    }
    let recovery = match p.recovery {
        Some(true) if !op.world.recovery => {
            return fail(
                "recovery=yes, but this Security World has no recovery keys (made with --no-recovery)",
                "use recovery=no",
            )
        }
        Some(r) => r,
        None => op.world.recovery,
    };
    let prot = load_protector(store, &op, &p.protect, p.card_dir.as_deref(), ui)?;
    let ident = match &p.ident {
        Some(i) => i.clone(),
        None => {
            let mut r = [0u8; 8];
            aws_lc_rs::rand::fill(&mut r).map_err(crate::error::Error::from)?;
            format!("{}{}", prot.pkcs11_prefix, hex::encode(r))
        }
    };
    let file = key_file_name(&p.app, &ident);
    let pub_file = format!("{file}{PUB_SUFFIX}");
    let label = p.plainname.clone().unwrap_or_else(|| ident.clone());

    let slow = p.ktype == KeyType::Rsa && p.size >= 3072;
    if slow {
        ui.busy_start(&format!("generating an RSA-{} key", p.size));
    }
    let mat = match p.ktype {
        KeyType::Rsa => make_rsa(p.size, p.pubexp),
        KeyType::Ec => make_ec(p.curve.unwrap_or(Curve::P256)),
        _ => make_secret(p.ktype, p.size),
    };
    if slow {
        ui.busy_end();
    }
    let mat = mat?;
    let hkre = recovery.then(|| op.world.hkre.clone());
    let acl = Acl::default_private(p.ktype.family(), prot.blob.clone(), hkre.as_deref());
    let public_acl = Acl::default_public(p.ktype.family());
    // Module keys live in the module slot, which has no login: they cannot be private objects.
    let private_obj = prot.prot == Protection::Token;
    let naming = Naming { file: &file, ident: &ident, label: &label, private_obj, protection: &prot.desc };
    let (private, public) = build_objects(p, mat, &naming, &acl, &public_acl)?;
    let private_blob = stored::seal_file(&file, prot.prot, &prot.owner, &prot.key, &private)?;
    let public_blob = match &public {
        Some(pubm) => Some(stored::seal_file(&pub_file, Protection::Module, &prot.owner, &op.km, pubm)?),
        None => None,
    };
    let rec = if recovery { Some(recovery_blob(&op.world, &file, &private)?) } else { None };

    let lock = store.lock()?;
    if store.exists(&file) || store.exists(&pub_file) {
        return fail(format!("key {} {ident} already exists (local/{file})", p.app), "choose another ident=");
    }
    let mut txn = Txn::new(&lock);
    let mut files = vec![file.clone()];
    txn.write_local(&file, &private_blob)?;
    if let Some(b) = &public_blob {
        txn.write_local(&pub_file, b)?;
        files.push(pub_file.clone());
    }
    if let Some(r) = &rec {
        txn.write_emu(&format!("recovery/{file}.json"), r)?;
    }
    txn.commit();
    lock.bump();
    Ok(GeneratedKey {
        app: p.app.clone(),
        ident,
        plainname: label,
        ktype: p.ktype,
        size: p.size,
        protection: prot.desc,
        token_name: prot.token_name,
        files,
        recovery,
    })
}

/// One key file as listings show it.
#[derive(Clone, Debug)]
pub struct KeyEntry {
    pub file: String,
    pub app: String,
    pub ident: String,
    pub public_half: bool,
    pub protection: Protection,
    pub owner: String,
    /// From the object itself when the tool can open it (module keys, public halves).
    pub label: Option<String>,
    pub class: Option<CK_OBJECT_CLASS>,
    pub key_type: Option<CK_KEY_TYPE>,
}

/// Splits `key_<app>_<ident>[_pub]`.
pub fn split_key_file(name: &str) -> Option<(String, String, bool)> {
    let rest = name.strip_prefix(stored::KEY_PREFIX)?;
    let (app, ident) = rest.split_once('_')?;
    let (ident, public) = match ident.strip_suffix(PUB_SUFFIX) {
        Some(i) => (i, true),
        None => (ident, false),
    };
    (!app.is_empty() && !ident.is_empty()).then(|| (app.to_string(), ident.to_string(), public))
}

/// Every key file, with what can be read of it using the world key `km`.
pub fn list_keys(store: &Store, km: Option<&SecretKey32>) -> AdminResult<Vec<KeyEntry>> {
    let mut out = Vec::new();
    let mut names: Vec<String> = store.list(stored::KEY_PREFIX)?.into_iter().map(|(n, _)| n).collect();
    names.sort();
    for name in names {
        let Some((app, ident, public_half)) = split_key_file(&name) else { continue };
        let Ok(raw) = store.read(&name) else { continue };
        let Ok((protection, owner)) = stored::peek_file(&raw) else { continue };
        let attrs = match (protection, km) {
            (Protection::Module, Some(k)) => stored::open_file(&name, &raw, k).ok(),
            _ => None,
        };
        let label = attrs.as_ref().and_then(|a| a.bytes(CKA_LABEL)).map(|b| String::from_utf8_lossy(b).into_owned());
        out.push(KeyEntry {
            file: name,
            app,
            ident,
            public_half,
            protection,
            owner,
            label,
            class: attrs.as_ref().and_then(|a| a.class()),
            key_type: attrs.as_ref().and_then(|a| a.key_type()),
        });
    }
    // A token key's label comes from its public half when it has one.
    let labels: Vec<(String, String)> = out
        .iter()
        .filter(|e| e.public_half)
        .filter_map(|e| e.label.clone().map(|l| (format!("{}{}_{}", stored::KEY_PREFIX, e.app, e.ident), l)))
        .collect();
    for e in out.iter_mut().filter(|e| !e.public_half && e.label.is_none()) {
        if let Some((_, l)) = labels.iter().find(|(f, _)| *f == e.file) {
            e.label = Some(l.clone());
        }
    }
    Ok(out)
}

/// Opens a key's private/secret object: module keys with KM; token keys after loading their
/// softcard or card set (which asks for a passphrase or cards).
pub fn open_key(
    store: &Store,
    op: &Operational,
    app: &str,
    ident: &str,
    card_dir: Option<&std::path::Path>,
    ui: &mut dyn Interaction,
) -> AdminResult<(KeyEntry, AttrMap)> {
    let file = key_file_name(app, ident);
    if !store.exists(&file) {
        return fail(
            format!("there is no key {app} {ident} (local/{file})"),
            "see `nfkminfo -k` for the keys there are",
        );
    }
    let raw = store.read(&file)?;
    let damaged = || AdminError::new(format!("key file local/{file} is damaged"), "restore it from your backup");
    let (protection, owner) = stored::peek_file(&raw).map_err(|_| damaged())?;
    let key = match protection {
        Protection::Module => {
            if owner != op.world.hkm {
                return fail(
                    format!("key {app} {ident} belongs to another Security World"),
                    "use it with its own world",
                );
            }
            op.km.clone()
        }
        Protection::Token => {
            if let Ok(sc) = find_softcard(store, Some(&owner)) {
                load_protector(store, op, &Protect::Softcard(Some(sc.hash)), card_dir, ui)?.key
            } else if cardset::find_ocs(store, &owner).is_ok() {
                load_protector(store, op, &Protect::Token(Some(owner.clone())), card_dir, ui)?.key
            } else {
                return fail(
                    format!("the token protecting key {app} {ident} ({owner}) is not in this data directory"),
                    "restore its softcard_/card_ file",
                );
            }
        }
    };
    let attrs = stored::open_file(&file, &raw, &key).map_err(|_| damaged())?;
    let entry = KeyEntry {
        file,
        app: app.to_string(),
        ident: ident.to_string(),
        public_half: false,
        protection,
        owner,
        label: attrs.bytes(CKA_LABEL).map(|b| String::from_utf8_lossy(b).into_owned()),
        class: attrs.class(),
        key_type: attrs.key_type(),
    };
    Ok((entry, attrs))
}

#[cfg(test)]
mod tests {
    use super::super::admin::Scripted;
    use super::super::hsm::{self, Mode};
    use super::super::world::{new_world, NewWorldParams, World};
    use super::*;

    fn pairs(s: &str) -> Vec<(String, String)> {
        s.split_whitespace()
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (k.to_string(), v.to_string())
            })
            .collect()
    }

    fn world(recovery: bool) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let st = Store::open(dir.path()).unwrap();
        hsm::set_mode(&st, 1, Mode::PreInit).unwrap();
        let p = NewWorldParams { k: 1, n: 1, recovery, ..NewWorldParams::default() };
        new_world(&st, &p, &mut Scripted::new(&["acs"])).unwrap();
        hsm::set_mode(&st, 1, Mode::Operational).unwrap();
        (dir, st)
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
    fn module_rsa_key_is_a_complete_pkcs11_object() {
        let (_d, st) = world(true);
        let (p, _) = parse_params(
            "simple",
            &pairs("type=RSA size=2048 protect=module ident=contosokey plainname=contosokey nvram=no pubexp="),
        )
        .unwrap();
        let g = generate(&st, &p, &mut Scripted::new(&[])).unwrap();
        assert_eq!(g.files, vec!["key_simple_contosokey".to_string(), "key_simple_contosokey_pub".to_string()]);
        assert!(g.recovery);
        assert!(st.emu().join("recovery/key_simple_contosokey.json").exists());
        let w = World::load(&st).unwrap().unwrap();
        let raw = st.read("key_simple_contosokey").unwrap();
        let (prot, owner) = stored::peek_file(&raw).unwrap();
        assert_eq!((prot, owner.as_str()), (Protection::Module, w.file.hkm.as_str()));
        let a = stored::open_file("key_simple_contosokey", &raw, &w.km).unwrap();
        assert_eq!(a.class(), Some(CKO_PRIVATE_KEY));
        assert_eq!(a.bytes(CKA_LABEL), Some(&b"contosokey"[..]));
        assert_eq!(a.bytes(CKA_ID), Some(&b"contosokey"[..]));
        assert_eq!(a.bool(CKA_PRIVATE), Some(false));
        assert_eq!(a.bool(CKA_SENSITIVE), Some(true));
        assert_eq!(a.bool(CKA_EXTRACTABLE), Some(false));
        assert_eq!(a.bool(CKA_NEVER_EXTRACTABLE), Some(true));
        assert_eq!(a.bool(CKA_LOCAL), Some(true));
        assert_eq!(a.ulong(CKA_KEY_GEN_MECHANISM), Some(CKM_RSA_PKCS_KEY_PAIR_GEN));
        assert_eq!(a.bytes(CKA_MODULUS).unwrap().len(), 256);
        assert_eq!(a.bytes(CKA_PUBLIC_EXPONENT), Some(&[1u8, 0, 1][..]));
        for t in [CKA_PRIVATE_EXPONENT, CKA_PRIME_1, CKA_PRIME_2, CKA_EXPONENT_1, CKA_EXPONENT_2, CKA_COEFFICIENT] {
            assert!(a.bytes(t).is_some_and(|b| !b.is_empty()), "attribute {t:#x}");
        }
        assert_eq!(a.bytes(CKA_NFKM_APPNAME), Some(&b"simple"[..]));
        assert_eq!(a.bytes(CKA_SHSM_PROTECTION), Some(&b"module"[..]));
        let acl = Acl::from_json(a.bytes(CKA_SHSM_ACL).unwrap()).unwrap();
        assert!(super::super::acl::permits(&acl, &super::super::acl::Permission::Op(super::super::acl::Op::Sign)));
        // The RSA components are consistent: the key parses.
        let n = rsa::BigUint::from_bytes_be(a.bytes(CKA_MODULUS).unwrap());
        let p1 = rsa::BigUint::from_bytes_be(a.bytes(CKA_PRIME_1).unwrap());
        let p2 = rsa::BigUint::from_bytes_be(a.bytes(CKA_PRIME_2).unwrap());
        assert_eq!(n, p1 * p2);
        let pubraw = st.read("key_simple_contosokey_pub").unwrap();
        let pa = stored::open_file("key_simple_contosokey_pub", &pubraw, &w.km).unwrap();
        assert_eq!(pa.class(), Some(CKO_PUBLIC_KEY));
        assert_eq!(pa.ulong(CKA_MODULUS_BITS), Some(2048));
        assert_eq!(pa.bytes(CKA_MODULUS), a.bytes(CKA_MODULUS));
        // Again: refused, nothing changes.
        assert!(generate(&st, &p, &mut Scripted::new(&[])).unwrap_err().what.contains("already exists"));
        let keys = list_keys(&st, Some(&w.km)).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].label.as_deref(), Some("contosokey"));
    }

    #[test]
    fn ec_secret_and_pkcs11_keys() {
        let (_d, st) = world(false);
        let w = World::load(&st).unwrap().unwrap();
        let (p, _) = parse_params("simple", &pairs("type=EC curve=NISTP521 ident=e1")).unwrap();
        let g = generate(&st, &p, &mut Scripted::new(&[])).unwrap();
        assert!(!g.recovery);
        let a = stored::open_file("key_simple_e1", &st.read("key_simple_e1").unwrap(), &w.km).unwrap();
        assert_eq!(a.bytes(CKA_VALUE).unwrap().len(), 66);
        assert_eq!(a.bytes(CKA_EC_PARAMS), Some(Curve::P521.ec_params()));
        let pt = a.bytes(CKA_EC_POINT).unwrap();
        assert_eq!(&pt[..3], &[0x04, 0x81, 133]);
        assert_eq!(pt[3], 0x04);
        for (ty, len) in [("AES size=128", 16), ("DES3", 24), ("HMACSHA256", 32)] {
            let (p, _) = parse_params("pkcs11", &pairs(&format!("type={ty} plainname=lbl"))).unwrap();
            let g = generate(&st, &p, &mut Scripted::new(&[])).unwrap();
            assert!(g.ident.starts_with("ua"), "{}", g.ident);
            assert_eq!(g.files.len(), 1);
            let a = stored::open_file(&g.files[0], &st.read(&g.files[0]).unwrap(), &w.km).unwrap();
            assert_eq!(a.bytes(CKA_VALUE).unwrap().len(), len);
            assert_eq!(a.ulong(CKA_VALUE_LEN), Some(len as CK_ULONG));
            assert_eq!(a.bytes(CKA_LABEL), Some(&b"lbl"[..]));
        }
        let (p, _) = parse_params("simple", &pairs("type=AES ident=r recovery=yes")).unwrap();
        assert!(generate(&st, &p, &mut Scripted::new(&[])).unwrap_err().what.contains("no recovery keys"));
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

    #[test]
    fn der_lengths() {
        assert_eq!(der_octet_string(&[1; 65])[..2], [0x04, 65]);
        assert_eq!(der_octet_string(&[1; 200])[..3], [0x04, 0x81, 200]);
        assert_eq!(der_octet_string(&[1; 300])[..4], [0x04, 0x82, 1, 44]);
    }
}
