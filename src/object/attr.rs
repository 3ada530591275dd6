//! Attribute values as the core keeps them: typed, independent of the C ABI's native layout.
//!
//! The ABI layer converts between `CK_ATTRIBUTE` buffers and [`Attr`] with [`Attr::from_native`]
//! and [`Attr::native_bytes`]; the store persists them with [`AttrMap::encode`], a portable
//! little-endian format (never the host's `CK_ULONG` width).

use crate::error::{err, Result};
use cryptoki_sys::*;
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// What shape an attribute's value has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Ulong,
    Bytes,
    /// `CK_DATE`: empty or exactly 8 ASCII digits.
    Date,
    /// `CK_MECHANISM_TYPE_PTR` array (CKA_ALLOWED_MECHANISMS).
    MechList,
    /// Nested attribute array (CKA_WRAP_TEMPLATE and friends).
    Template,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attr {
    Bool(bool),
    Ulong(CK_ULONG),
    /// Byte strings are wiped when dropped: key components live here.
    Bytes(Zeroizing<Vec<u8>>),
    MechList(Vec<CK_MECHANISM_TYPE>),
    Template(AttrMap),
}

impl Attr {
    pub fn bytes(v: impl Into<Vec<u8>>) -> Attr {
        Attr::Bytes(Zeroizing::new(v.into()))
    }

    /// Parses a value given by a caller. `CKR_ATTRIBUTE_VALUE_INVALID` when it has the wrong size.
    pub fn from_native(kind: Kind, raw: &[u8]) -> Result<Attr> {
        Ok(match kind {
            Kind::Bool => match raw {
                [b] => Attr::Bool(*b != 0),
                _ => return err(CKR_ATTRIBUTE_VALUE_INVALID),
            },
            Kind::Ulong => Attr::Ulong(ulong_from(raw)?),
            Kind::Bytes => Attr::bytes(raw),
            Kind::Date => {
                if !(raw.is_empty() || (raw.len() == 8 && raw.iter().all(u8::is_ascii_digit))) {
                    return err(CKR_ATTRIBUTE_VALUE_INVALID);
                }
                Attr::bytes(raw)
            }
            Kind::MechList => {
                if raw.len() % ULONG_SIZE != 0 {
                    return err(CKR_ATTRIBUTE_VALUE_INVALID);
                }
                Attr::MechList(raw.chunks(ULONG_SIZE).map(|c| ulong_from(c).unwrap_or(0)).collect())
            }
            // Nested templates are parsed by the ABI layer, which sees the pointers.
            Kind::Template => return err(CKR_ATTRIBUTE_VALUE_INVALID),
        })
    }

    /// The value in the caller's native layout (not for templates).
    pub fn native_bytes(&self) -> std::borrow::Cow<'_, [u8]> {
        use std::borrow::Cow;
        match self {
            Attr::Bool(b) => Cow::Owned(vec![*b as u8]),
            Attr::Ulong(v) => Cow::Owned(v.to_ne_bytes().to_vec()),
            Attr::Bytes(b) => Cow::Borrowed(b.as_slice()),
            Attr::MechList(l) => Cow::Owned(l.iter().flat_map(|m| m.to_ne_bytes()).collect()),
            Attr::Template(_) => Cow::Owned(Vec::new()),
        }
    }

    /// Length of [`Attr::native_bytes`] without building it (templates: number of entries times
    /// `sizeof(CK_ATTRIBUTE)`, as the spec's array attributes report).
    pub fn native_len(&self) -> usize {
        match self {
            Attr::Bool(_) => 1,
            Attr::Ulong(_) => ULONG_SIZE,
            Attr::Bytes(b) => b.len(),
            Attr::MechList(l) => l.len() * ULONG_SIZE,
            Attr::Template(t) => t.len() * std::mem::size_of::<CK_ATTRIBUTE>(),
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Attr::Bool(b) => Some(*b),
            _ => None,
        }
    }
    pub fn as_ulong(&self) -> Option<CK_ULONG> {
        match self {
            Attr::Ulong(v) => Some(*v),
            _ => None,
        }
    }
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Attr::Bytes(b) => Some(b),
            _ => None,
        }
    }
}

pub const ULONG_SIZE: usize = std::mem::size_of::<CK_ULONG>();

fn ulong_from(raw: &[u8]) -> Result<CK_ULONG> {
    let arr: [u8; ULONG_SIZE] = raw.try_into().map_err(|_| CKR_ATTRIBUTE_VALUE_INVALID)?;
    Ok(CK_ULONG::from_ne_bytes(arr))
}

/// nShield's public vendor attributes (pkcs11extra.h): readable on our key objects.
pub const CKA_NFKM_ID: CK_ATTRIBUTE_TYPE = 0xDE43_6A74;
pub const CKA_NFKM_APPNAME: CK_ATTRIBUTE_TYPE = 0xDE43_6975;
pub const CKA_NFKM_HASH: CK_ATTRIBUTE_TYPE = 0xDE43_698A;

/// Our own vendor range (docs/nshield-emulation.md §3.4: emulator-only numbers never collide
/// with nShield's).
pub const SHSM_VENDOR: CK_ATTRIBUTE_TYPE = 0x8E4D_0000;
/// A key's nShield-style ACL, as JSON (see `module::acl`). Read-only through PKCS#11.
pub const CKA_SHSM_ACL: CK_ATTRIBUTE_TYPE = SHSM_VENDOR | 0x01;
/// What protects a key: `module`, `softcard:<hash>` or `cardset:<hash>`. Read-only.
pub const CKA_SHSM_PROTECTION: CK_ATTRIBUTE_TYPE = SHSM_VENDOR | 0x02;
/// Lineage: the caller may know this key's value (it gave it, read it, or could compute it from
/// what it gave). Computed by the token, read-only; see `module::lineage`.
pub const CKA_SHSM_VALUE_KNOWN: CK_ATTRIBUTE_TYPE = SHSM_VENDOR | 0x03;
/// Lineage: a key-encryption key born in the token (generated sensitive, wrap-only, unable to
/// decrypt): the one kind of secret key that may wrap protected keys. Computed, read-only.
pub const CKA_SHSM_KEK: CK_ATTRIBUTE_TYPE = SHSM_VENDOR | 0x04;

/// The value shape of every attribute we know; `None` means `CKR_ATTRIBUTE_TYPE_INVALID`.
pub fn kind_of(t: CK_ATTRIBUTE_TYPE) -> Option<Kind> {
    Some(match t {
        CKA_TOKEN
        | CKA_PRIVATE
        | CKA_MODIFIABLE
        | CKA_COPYABLE
        | CKA_DESTROYABLE
        | CKA_TRUSTED
        | CKA_SENSITIVE
        | CKA_ENCRYPT
        | CKA_DECRYPT
        | CKA_WRAP
        | CKA_UNWRAP
        | CKA_SIGN
        | CKA_SIGN_RECOVER
        | CKA_VERIFY
        | CKA_VERIFY_RECOVER
        | CKA_DERIVE
        | CKA_EXTRACTABLE
        | CKA_LOCAL
        | CKA_NEVER_EXTRACTABLE
        | CKA_ALWAYS_SENSITIVE
        | CKA_WRAP_WITH_TRUSTED
        | CKA_ALWAYS_AUTHENTICATE
        | CKA_SHSM_VALUE_KNOWN
        | CKA_SHSM_KEK => Kind::Bool,
        CKA_CLASS
        | CKA_KEY_TYPE
        | CKA_CERTIFICATE_TYPE
        | CKA_CERTIFICATE_CATEGORY
        | CKA_JAVA_MIDP_SECURITY_DOMAIN
        | CKA_VALUE_LEN
        | CKA_MODULUS_BITS
        | CKA_PRIME_BITS
        | CKA_SUB_PRIME_BITS
        | CKA_VALUE_BITS
        | CKA_KEY_GEN_MECHANISM
        | CKA_NAME_HASH_ALGORITHM => Kind::Ulong,
        CKA_LABEL
        | CKA_APPLICATION
        | CKA_VALUE
        | CKA_OBJECT_ID
        | CKA_ISSUER
        | CKA_SERIAL_NUMBER
        | CKA_SUBJECT
        | CKA_ID
        | CKA_URL
        | CKA_HASH_OF_SUBJECT_PUBLIC_KEY
        | CKA_HASH_OF_ISSUER_PUBLIC_KEY
        | CKA_CHECK_VALUE
        | CKA_MODULUS
        | CKA_PUBLIC_EXPONENT
        | CKA_PRIVATE_EXPONENT
        | CKA_PRIME_1
        | CKA_PRIME_2
        | CKA_EXPONENT_1
        | CKA_EXPONENT_2
        | CKA_COEFFICIENT
        | CKA_EC_PARAMS
        | CKA_EC_POINT
        | CKA_PRIME
        | CKA_SUBPRIME
        | CKA_BASE
        | CKA_PUBLIC_KEY_INFO
        | CKA_UNIQUE_ID
        | CKA_NFKM_ID
        | CKA_NFKM_APPNAME
        | CKA_NFKM_HASH
        | CKA_SHSM_ACL
        | CKA_SHSM_PROTECTION => Kind::Bytes,
        CKA_START_DATE | CKA_END_DATE => Kind::Date,
        CKA_ALLOWED_MECHANISMS => Kind::MechList,
        CKA_WRAP_TEMPLATE | CKA_UNWRAP_TEMPLATE | CKA_DERIVE_TEMPLATE => Kind::Template,
        _ => return None,
    })
}

/// An object's attributes, ordered by type so encodings are canonical.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttrMap(BTreeMap<CK_ATTRIBUTE_TYPE, Attr>);

impl AttrMap {
    pub fn new() -> Self {
        AttrMap(BTreeMap::new())
    }
    pub fn get(&self, t: CK_ATTRIBUTE_TYPE) -> Option<&Attr> {
        self.0.get(&t)
    }
    pub fn contains(&self, t: CK_ATTRIBUTE_TYPE) -> bool {
        self.0.contains_key(&t)
    }
    pub fn set(&mut self, t: CK_ATTRIBUTE_TYPE, v: Attr) {
        self.0.insert(t, v);
    }
    pub fn remove(&mut self, t: CK_ATTRIBUTE_TYPE) -> Option<Attr> {
        self.0.remove(&t)
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = (CK_ATTRIBUTE_TYPE, &Attr)> {
        self.0.iter().map(|(k, v)| (*k, v))
    }
    pub fn bool(&self, t: CK_ATTRIBUTE_TYPE) -> Option<bool> {
        self.get(t).and_then(Attr::as_bool)
    }
    /// A boolean attribute, `false` when absent.
    pub fn flag(&self, t: CK_ATTRIBUTE_TYPE) -> bool {
        self.bool(t).unwrap_or(false)
    }
    pub fn ulong(&self, t: CK_ATTRIBUTE_TYPE) -> Option<CK_ULONG> {
        self.get(t).and_then(Attr::as_ulong)
    }
    pub fn bytes(&self, t: CK_ATTRIBUTE_TYPE) -> Option<&[u8]> {
        self.get(t).and_then(Attr::as_bytes)
    }
    pub fn class(&self) -> Option<CK_OBJECT_CLASS> {
        self.ulong(CKA_CLASS)
    }
    pub fn key_type(&self) -> Option<CK_KEY_TYPE> {
        self.ulong(CKA_KEY_TYPE)
    }

    /// The attributes of `types` that are present here (e.g. a key pair's public half).
    pub fn subset(&self, types: &[CK_ATTRIBUTE_TYPE]) -> AttrMap {
        types.iter().filter_map(|t| self.get(*t).map(|v| (*t, v.clone()))).collect()
    }

    /// True when every attribute of `template` is present here with an equal value
    /// (the C_FindObjects matching rule).
    pub fn matches(&self, template: &AttrMap) -> bool {
        template.iter().all(|(t, v)| self.get(t) == Some(v))
    }

    /// Portable encoding: repeated `type u64 | tag u8 | len u32 | value`, little-endian.
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(64 * self.len()));
        self.encode_into(&mut out);
        out
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        for (t, v) in self.iter() {
            out.extend_from_slice(&(t as u64).to_le_bytes());
            let body: Zeroizing<Vec<u8>> = Zeroizing::new(match v {
                Attr::Bool(b) => vec![*b as u8],
                Attr::Ulong(u) => (*u as u64).to_le_bytes().to_vec(),
                Attr::Bytes(b) => b.to_vec(),
                Attr::MechList(l) => l.iter().flat_map(|m| (*m as u64).to_le_bytes()).collect(),
                Attr::Template(m) => {
                    let mut inner = Vec::new();
                    m.encode_into(&mut inner);
                    inner
                }
            });
            let tag = match v {
                Attr::Bool(_) => 1u8,
                Attr::Ulong(_) => 2,
                Attr::Bytes(_) => 3,
                Attr::MechList(_) => 4,
                Attr::Template(_) => 5,
            };
            out.push(tag);
            out.extend_from_slice(&(body.len() as u32).to_le_bytes());
            out.extend_from_slice(&body);
        }
    }

    /// Decodes a stored map; nested templates go one level deep, as the spec uses them (a file
    /// cannot make a reader recurse).
    pub fn decode(raw: &[u8]) -> Result<AttrMap> {
        AttrMap::decode_at(raw, true)
    }

    fn decode_at(mut raw: &[u8], top: bool) -> Result<AttrMap> {
        let bad = || crate::error::Error::new(CKR_DEVICE_ERROR);
        let mut map = AttrMap::new();
        while !raw.is_empty() {
            if raw.len() < 13 {
                return Err(bad());
            }
            let t = u64::from_le_bytes(raw[..8].try_into().unwrap()) as CK_ATTRIBUTE_TYPE;
            let tag = raw[8];
            let len = u32::from_le_bytes(raw[9..13].try_into().unwrap()) as usize;
            raw = &raw[13..];
            if raw.len() < len {
                return Err(bad());
            }
            let (body, rest) = raw.split_at(len);
            raw = rest;
            let u64s = |b: &[u8]| -> Result<Vec<CK_ULONG>> {
                if b.len() % 8 != 0 {
                    return Err(bad());
                }
                Ok(b.chunks(8).map(|c| u64::from_le_bytes(c.try_into().unwrap()) as CK_ULONG).collect())
            };
            let v = match tag {
                1 if len == 1 => Attr::Bool(body[0] != 0),
                2 if len == 8 => Attr::Ulong(u64s(body)?[0]),
                3 => Attr::bytes(body),
                4 => Attr::MechList(u64s(body)?),
                5 if top => Attr::Template(AttrMap::decode_at(body, false)?),
                _ => return Err(bad()),
            };
            map.set(t, v);
        }
        Ok(map)
    }
}

impl FromIterator<(CK_ATTRIBUTE_TYPE, Attr)> for AttrMap {
    fn from_iter<I: IntoIterator<Item = (CK_ATTRIBUTE_TYPE, Attr)>>(iter: I) -> Self {
        AttrMap(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips_every_kind() {
        let mut inner = AttrMap::new();
        inner.set(CKA_EXTRACTABLE, Attr::Bool(false));
        let m: AttrMap = [
            (CKA_TOKEN, Attr::Bool(true)),
            (CKA_CLASS, Attr::Ulong(CKO_SECRET_KEY)),
            (CKA_LABEL, Attr::bytes(b"label".to_vec())),
            (CKA_ALLOWED_MECHANISMS, Attr::MechList(vec![CKM_AES_GCM, CKM_AES_CBC])),
            (CKA_UNWRAP_TEMPLATE, Attr::Template(inner)),
        ]
        .into_iter()
        .collect();
        assert_eq!(AttrMap::decode(&m.encode()).unwrap(), m);
    }

    #[test]
    fn truncated_encoding_is_refused() {
        let m: AttrMap = [(CKA_LABEL, Attr::bytes(b"abc".to_vec()))].into_iter().collect();
        let enc = m.encode();
        assert!(AttrMap::decode(&enc[..enc.len() - 1]).is_err());
    }

    #[test]
    fn native_values_are_size_checked() {
        assert_eq!(Attr::from_native(Kind::Bool, &[1]).unwrap(), Attr::Bool(true));
        assert!(Attr::from_native(Kind::Bool, &[1, 0]).is_err());
        assert!(Attr::from_native(Kind::Ulong, &[1, 0, 0]).is_err());
        assert!(Attr::from_native(Kind::Date, b"2026011").is_err());
        assert!(Attr::from_native(Kind::Date, b"20260115").is_ok());
    }
}
