//! What every new object gets before it is stored, whoever makes it (`C_CreateObject`,
//! `C_GenerateKey[Pair]`, `C_UnwrapKey`, `C_DeriveKey` in the token; `generatekey` in
//! [`super::keygen`]): a unique id, `CKA_LOCAL` and the key-generation mechanism,
//! the "always sensitive"/"never extractable" history, lineage, and for asymmetric keys a
//! check that the material parses plus the public attributes derived from it.
//!
//! Object-model rules, but they need [`crate::mech`] to parse keys and derive public halves, so
//! they sit here, above `mech` and `object`, where both the token and `keygen` reach them.

use super::lineage;
use crate::error::{err, Result};
use crate::object::attr::{Attr, AttrMap, CKA_SHSM_VALUE_KNOWN};
use crate::object::policy::Origin;
use cryptoki_sys::*;

/// Fills in what the token computes for a new object, per class and origin.
pub fn complete_new(attrs: &mut AttrMap, origin: Origin, keygen_mech: Option<CK_MECHANISM_TYPE>) -> Result<()> {
    let class = attrs.class().ok_or(CKR_TEMPLATE_INCOMPLETE)?;
    let mut id = [0u8; 16];
    aws_lc_rs::rand::fill(&mut id)?;
    attrs.set(CKA_UNIQUE_ID, Attr::bytes(hex::encode(id).into_bytes()));
    if class == CKO_DOMAIN_PARAMETERS {
        return complete_domain_parameters(attrs, origin);
    }
    if !matches!(class, CKO_PUBLIC_KEY | CKO_PRIVATE_KEY | CKO_SECRET_KEY) {
        return Ok(());
    }
    let local = matches!(origin, Origin::Generate);
    attrs.set(CKA_LOCAL, Attr::Bool(local));
    attrs.set(CKA_KEY_GEN_MECHANISM, Attr::Ulong(keygen_mech.filter(|_| local).unwrap_or(CK_UNAVAILABLE_INFORMATION)));
    if matches!(class, CKO_PRIVATE_KEY | CKO_SECRET_KEY) {
        // "Always"/"never" hold only for keys born inside the token with that property.
        // Only a key generated here has provably never been outside the token, and not even
        // that if its mechanism marked it known (CKA_SHSM_VALUE_KNOWN: a DH key on a group the
        // caller chose unchecked, under `dh_group`; callers cannot set the attribute).
        let generated = origin == Origin::Generate && !attrs.flag(CKA_SHSM_VALUE_KNOWN);
        attrs.set(CKA_ALWAYS_SENSITIVE, Attr::Bool(generated && attrs.flag(CKA_SENSITIVE)));
        attrs.set(CKA_NEVER_EXTRACTABLE, Attr::Bool(generated && !attrs.flag(CKA_EXTRACTABLE)));
        lineage::at_birth(attrs, origin);
    }
    if class == CKO_SECRET_KEY {
        let kt = attrs.key_type().ok_or(CKR_TEMPLATE_INCOMPLETE)?;
        let len = attrs.bytes(CKA_VALUE).map(<[u8]>::len).ok_or(CKR_TEMPLATE_INCOMPLETE)?;
        let ok = match kt {
            CKK_AES => matches!(len, 16 | 24 | 32),
            CKK_DES | CKK_DES2 | CKK_DES3 => Some(len) == crate::mech::des::fixed_len(kt),
            _ => len >= 1,
        };
        if !ok {
            return err(if origin == Origin::Create { CKR_ATTRIBUTE_VALUE_INVALID } else { CKR_KEY_SIZE_RANGE });
        }
        if matches!(kt, CKK_DES | CKK_DES2) {
            check_weak_des(attrs, origin)?;
        }
        attrs.set(CKA_VALUE_LEN, Attr::Ulong(len as CK_ULONG));
    }
    if matches!(class, CKO_PUBLIC_KEY | CKO_PRIVATE_KEY) {
        complete_asymmetric(attrs, class)?;
    }
    Ok(())
}

/// Single-DES and two-key triple-DES keys exist only while the `weak_des` security assurance
/// is relaxed (else `CKR_ATTRIBUTE_VALUE_INVALID`, as for a key type the token does not have),
/// and with odd parity in every byte, which PKCS#11 requires of DES keys that are created or
/// unwrapped (`CKR_ATTRIBUTE_VALUE_INVALID` / `CKR_WRAPPED_KEY_INVALID`).
fn check_weak_des(attrs: &AttrMap, origin: Origin) -> Result<()> {
    if !crate::assurance::relaxed(crate::assurance::Assurance::WeakDes) {
        return err(CKR_ATTRIBUTE_VALUE_INVALID);
    }
    let value = attrs.bytes(CKA_VALUE).unwrap_or_default();
    if !crate::mech::des::has_odd_parity(value) {
        return err(if origin == Origin::Unwrap { CKR_WRAPPED_KEY_INVALID } else { CKR_ATTRIBUTE_VALUE_INVALID });
    }
    Ok(())
}

/// Public/private keys: the material must parse (a bad key is refused at import, not at first
/// use), and derived public attributes are filled in.
fn complete_asymmetric(attrs: &mut AttrMap, class: CK_OBJECT_CLASS) -> Result<()> {
    let kt = attrs.key_type().ok_or(CKR_TEMPLATE_INCOMPLETE)?;
    // Parsed (and checked) once; the public attributes below come from this key.
    let material = crate::mech::KeyMaterial::from_attrs(attrs).map_err(|e| {
        if matches!(e.rv(), CKR_CURVE_NOT_SUPPORTED | CKR_DOMAIN_PARAMS_INVALID | CKR_TEMPLATE_INCOMPLETE) {
            e
        } else {
            CKR_ATTRIBUTE_VALUE_INVALID.into()
        }
    })?;
    if class == CKO_PRIVATE_KEY {
        // Private keys also carry their public half (EC point; RSA modulus and exponent).
        for (t, v) in crate::mech::pkcs8::public_from_private_parsed(attrs, &material)?.iter() {
            if !attrs.contains(t) {
                attrs.set(t, v.clone());
            }
        }
    }
    if kt == CKK_RSA && class == CKO_PUBLIC_KEY {
        let n = attrs.bytes(CKA_MODULUS).ok_or(CKR_TEMPLATE_INCOMPLETE)?;
        let bits = bit_len(n);
        if bits == 0 {
            return err(CKR_ATTRIBUTE_VALUE_INVALID);
        }
        attrs.set(CKA_MODULUS_BITS, Attr::Ulong(bits as CK_ULONG));
    }
    // CKA_PUBLIC_KEY_INFO is computed from the key; one given by the caller must be that value
    // (a key that claims another key's public half would mislead whoever trusts it).
    let given = attrs.bytes(CKA_PUBLIC_KEY_INFO).filter(|b| !b.is_empty()).map(<[u8]>::to_vec);
    if let Some(spki) = crate::mech::pkcs8::public_key_info_parsed(attrs, &material) {
        if given.is_some_and(|g| g != spki) {
            return err(CKR_ATTRIBUTE_VALUE_INVALID);
        }
        attrs.set(CKA_PUBLIC_KEY_INFO, Attr::bytes(spki));
    }
    Ok(())
}

/// DSA domain parameters: CKA_LOCAL, and on import a bounds check of p, q and g (sizes a DSA key
/// may have, 1 < g < p) with CKA_PRIME_BITS computed. Generated ones come checked.
fn complete_domain_parameters(attrs: &mut AttrMap, origin: Origin) -> Result<()> {
    attrs.set(CKA_LOCAL, Attr::Bool(origin == Origin::Generate));
    if origin == Origin::Generate {
        return Ok(());
    }
    use crate::mech::dsa;
    let bad = || crate::error::Error::new(CKR_ATTRIBUTE_VALUE_INVALID);
    let p = dsa::bounded(attrs, CKA_PRIME, dsa::MAX_BITS)?;
    let q = dsa::bounded(attrs, CKA_SUBPRIME, 256)?;
    let g = dsa::bounded(attrs, CKA_BASE, dsa::MAX_BITS)?;
    let (pb, qb) = (bit_len(p), bit_len(q));
    let below_p = g.len() < p.len() || (g.len() == p.len() && g < p);
    if pb < dsa::MIN_BITS || !matches!(qb, 160 | 224 | 256) || g == [1] || !below_p {
        return Err(bad());
    }
    attrs.set(CKA_PRIME_BITS, Attr::Ulong(pb as CK_ULONG));
    attrs.set(CKA_SUB_PRIME_BITS, Attr::Ulong(qb as CK_ULONG));
    Ok(())
}

fn bit_len(be: &[u8]) -> usize {
    match be.iter().position(|b| *b != 0) {
        None => 0,
        Some(i) => (be.len() - i) * 8 - be[i].leading_zeros() as usize,
    }
}
