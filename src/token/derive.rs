//! `C_DeriveKey`: ECDH (X25519/X448 too) and the simple derivations of [`mech::derive_data`]
//! (encrypt-data, XOR with data, concatenation of two keys or of a key and data, extraction of
//! a key's bits).
//!
//! The simple derivations read a base key's value, so they are classic key-extraction routes
//! (Clulow 2003; Bortolozzo et al. 2010). The rules here, beyond CKA_DERIVE on every base:
//! - the derived key's CKA_SENSITIVE/CKA_EXTRACTABLE and their "always"/"never" history follow
//!   PKCS#11's rules for these mechanisms, counting both keys of a concatenation; a template
//!   asking otherwise is `CKR_TEMPLATE_INCONSISTENT`;
//! - a key derived from a protected key is protected (lineage) and never a KEK;
//! - SP 800-108 from a protected key is allowed (a PRF of the secret is no twin), with the same
//!   inheritance and lineage and the 16-byte floor;
//! - security assurances `derive_xor`, `derive_concatenate` (no protected key in either, nor in
//!   a concatenation with data), `derive_extract` (no extraction of a protected key's bits) and
//!   `derive_kek` (no key of a protected key cut below 16 bytes).

use super::crypto::Mech;
use super::session::Session;
use super::Library;
use crate::assurance::Assurance;
use crate::error::{err, Result};
use crate::mech::{self, Params};
use crate::module::lineage;
use crate::module::new_object::complete_new;
use crate::object::attr::{Attr, AttrMap, CKA_SHSM_VALUE_KNOWN};
use crate::object::policy::{self, Origin};
use cryptoki_sys::*;
use zeroize::Zeroizing;

/// The longest secret C_DeriveKey makes (bytes): longer than any key a mechanism here takes,
/// short enough that a hostile CKA_VALUE_LEN cannot make a KDF allocate without limit.
pub const MAX_DERIVED_LEN: usize = 1024;

/// The shortest key derived from a protected key, by any mechanism: 128 bits are out of brute
/// force's reach.
const MIN_CUT: usize = 16;

/// The derivations that read the base key's value (not a Diffie-Hellman).
fn reads_value(ty: CK_MECHANISM_TYPE) -> bool {
    is_encrypt_data(ty)
        || matches!(
            ty,
            CKM_XOR_BASE_AND_DATA
                | CKM_CONCATENATE_BASE_AND_KEY
                | CKM_CONCATENATE_BASE_AND_DATA
                | CKM_CONCATENATE_DATA_AND_BASE
                | CKM_EXTRACT_KEY_FROM_KEY
        )
}

/// The SP 800-108 derivations: a PRF of the base key's value (not a twin of it), at the
/// template's length.
fn is_kbkdf(ty: CK_MECHANISM_TYPE) -> bool {
    matches!(ty, CKM_SP800_108_COUNTER_KDF | CKM_SP800_108_FEEDBACK_KDF)
}

/// The derivations whose key follows the base's protection (PKCS#11's inheritance, lineage).
fn inherits(ty: CK_MECHANISM_TYPE) -> bool {
    reads_value(ty) || is_kbkdf(ty)
}

fn is_encrypt_data(ty: CK_MECHANISM_TYPE) -> bool {
    matches!(
        ty,
        CKM_AES_ECB_ENCRYPT_DATA | CKM_AES_CBC_ENCRYPT_DATA | CKM_DES3_ECB_ENCRYPT_DATA | CKM_DES3_CBC_ENCRYPT_DATA
    )
}

impl Library {
    pub fn derive_key(
        &self,
        session: &Session,
        m: &Mech,
        base: CK_OBJECT_HANDLE,
        template: &AttrMap,
    ) -> Result<CK_OBJECT_HANDLE> {
        self.weak_gate(m.ty)?;
        let entry = mech::lookup(m.ty).filter(|e| e.flags & CKF_DERIVE != 0).ok_or(CKR_MECHANISM_INVALID)?;
        let (bobj, bmat) = self.usable_key(session, base, m.ty, CKA_DERIVE, CKR_KEY_HANDLE_INVALID)?;
        // CKM_CONCATENATE_BASE_AND_KEY's second key must allow derivation as the base does.
        let other = match &m.params {
            Params::KeyHandle(h) => Some(self.usable_key(session, *h, m.ty, CKA_DERIVE, CKR_KEY_HANDLE_INVALID)?),
            _ => None,
        };
        let mut implied = AttrMap::new();
        if let Some(Attr::Template(t)) = bobj.attrs.get(CKA_DERIVE_TEMPLATE) {
            for (k, v) in t.iter() {
                implied.set(k, v.clone());
            }
        }
        if !template.contains(CKA_CLASS) && !implied.contains(CKA_CLASS) {
            implied.set(CKA_CLASS, Attr::Ulong(CKO_SECRET_KEY));
        }
        // PKCS#11: with no key type in the template, these make a generic secret.
        if inherits(m.ty) && !template.contains(CKA_KEY_TYPE) && !implied.contains(CKA_KEY_TYPE) {
            implied.set(CKA_KEY_TYPE, Attr::Ulong(CKK_GENERIC_SECRET));
        }
        let mut attrs = policy::apply(template, &implied, Origin::Derive)?;
        self.slot_defaults(session, template, &mut attrs);
        if attrs.class() != Some(CKO_SECRET_KEY) {
            return err(CKR_TEMPLATE_INCONSISTENT);
        }
        let len = attrs.ulong(CKA_VALUE_LEN).map(|l| l as usize);
        let len = match (attrs.key_type(), len) {
            (Some(kt @ (CKK_DES | CKK_DES2 | CKK_DES3)), _) => mech::des::fixed_len(kt),
            (Some(CKK_AES), None) => return err(CKR_TEMPLATE_INCOMPLETE),
            (Some(CKK_AES), Some(l)) if !matches!(l, 16 | 24 | 32) => return err(CKR_ATTRIBUTE_VALUE_INVALID),
            (_, l) => l,
        };
        // The caller's CKA_VALUE_LEN sizes the derivation's output: bound it before any KDF runs.
        if len.is_some_and(|l| l == 0 || l > MAX_DERIVED_LEN) {
            return err(CKR_ATTRIBUTE_VALUE_INVALID);
        }
        let bases: Vec<&AttrMap> = std::iter::once(&bobj.attrs).chain(other.as_ref().map(|(o, _)| &o.attrs)).collect();
        Self::inherit_private(&bases, template, &mut attrs)?;
        // A key that asks for its PIN at every use asks for it here too: ECDH is the decryption
        // step of ECIES, so a derivation is a use like a decryption.
        if bases.iter().any(|b| b.flag(CKA_ALWAYS_AUTHENTICATE)) && !session.ops.lock().take_context_credit() {
            return err(CKR_USER_NOT_LOGGED_IN);
        }
        let protected_base = bases.iter().any(|b| lineage::protected(b));
        let value = if reads_value(m.ty) {
            self.check_simple_derivation(m.ty, protected_base)?;
            // CKA_VALUE_LEN (or the key type) says how many bits an extraction takes.
            if m.ty == CKM_EXTRACT_KEY_FROM_KEY && len.is_none() {
                return err(CKR_TEMPLATE_INCOMPLETE);
            }
            inherit_protection(&bases, template, &mut attrs)?;
            let whole = match &other {
                Some((_, omat)) => entry.imp.derive_pair(&bmat, omat)?,
                None => entry.imp.derive(&m.params, &bmat, None)?,
            };
            self.cut(m.ty, whole, len, protected_base)?
        } else if is_kbkdf(m.ty) {
            // The output is a PRF of the base, as secret as it: allowed, protected, floored.
            inherit_protection(&bases, template, &mut attrs)?;
            let l = len.ok_or(CKR_TEMPLATE_INCOMPLETE)?;
            self.floor(m.ty, l, protected_base)?;
            entry.imp.derive(&m.params, &bmat, Some(l))?
        } else {
            entry.imp.derive(&m.params, &bmat, len)?
        };
        let mut value = value;
        if matches!(attrs.key_type(), Some(CKK_DES | CKK_DES2 | CKK_DES3)) {
            mech::des3::set_odd_parity(&mut value);
        }
        attrs.set(CKA_VALUE, Attr::Bytes(value));
        attrs.remove(CKA_VALUE_LEN);
        complete_new(&mut attrs, Origin::Derive, None)?;
        if inherits(m.ty) {
            record_history(&bases, &mut attrs);
            if protected_base {
                // Its value is as unknown as its base's; still never a KEK (`at_birth`), so it
                // can neither wrap protected keys nor vouch for what it unwraps.
                attrs.set(CKA_SHSM_VALUE_KNOWN, Attr::Bool(false));
            }
        }
        self.add_object(session, attrs)
    }

    /// The assurances on which keys a value-reading derivation may take.
    fn check_simple_derivation(&self, ty: CK_MECHANISM_TYPE, protected_base: bool) -> Result<()> {
        if !protected_base {
            return Ok(());
        }
        match ty {
            CKM_XOR_BASE_AND_DATA => self.assure(
                Assurance::DeriveXor,
                "C_DeriveKey CKM_XOR_BASE_AND_DATA of a protected key (XOR with known data makes a twin or a \
                 related key of it)",
                CKR_KEY_FUNCTION_NOT_PERMITTED,
            ),
            CKM_CONCATENATE_BASE_AND_KEY => self.assure(
                Assurance::DeriveConcatenate,
                "C_DeriveKey CKM_CONCATENATE_BASE_AND_KEY with a protected key (cut, it is a twin of the key; \
                 joined to a known key, only its own part is secret)",
                CKR_KEY_FUNCTION_NOT_PERMITTED,
            ),
            CKM_CONCATENATE_BASE_AND_DATA | CKM_CONCATENATE_DATA_AND_BASE => self.assure(
                Assurance::DeriveConcatenate,
                &format!(
                    "C_DeriveKey (mechanism {ty:#x}) concatenating a protected key with data (the result holds the \
                     key: cut or extracted from, it is a twin of it)"
                ),
                CKR_KEY_FUNCTION_NOT_PERMITTED,
            ),
            CKM_EXTRACT_KEY_FROM_KEY => self.assure(
                Assurance::DeriveExtract,
                "C_DeriveKey CKM_EXTRACT_KEY_FROM_KEY of a protected key (from bit 0 it is a twin of the key; \
                 short keys of chosen bits are brute-forced)",
                CKR_KEY_FUNCTION_NOT_PERMITTED,
            ),
            _ => Ok(()),
        }
    }

    /// The derived value at the template's length. A key derived from a protected key keeps at
    /// least [`MIN_CUT`] bytes whatever the mechanism (`derive_kek`): a key of a byte or two is
    /// found by brute force (then the next byte, and so on), and an encrypt-data key of 8 bytes
    /// of data is a 64-bit search away from the base's encryption of chosen data.
    fn cut(
        &self,
        ty: CK_MECHANISM_TYPE,
        mut whole: Zeroizing<Vec<u8>>,
        len: Option<usize>,
        protected_base: bool,
    ) -> Result<Zeroizing<Vec<u8>>> {
        let l = len.unwrap_or(whole.len());
        if l > whole.len() {
            return err(CKR_KEY_SIZE_RANGE);
        }
        self.floor(ty, l, protected_base)?;
        whole.truncate(l);
        Ok(whole)
    }

    /// The [`MIN_CUT`] floor of a key of `l` bytes derived from a protected key (`derive_kek`).
    fn floor(&self, ty: CK_MECHANISM_TYPE, l: usize, protected_base: bool) -> Result<()> {
        if l < MIN_CUT && protected_base {
            self.assure(
                Assurance::DeriveKek,
                &format!(
                    "C_DeriveKey (mechanism {ty:#x}) of a key of fewer than 16 bytes from a protected key (a \
                     short key is brute-forced, making the base an oracle)"
                ),
                CKR_TEMPLATE_INCONSISTENT,
            )?;
        }
        Ok(())
    }
}

/// PKCS#11's rules for these derivations: if any base is sensitive, so is the derived key; if
/// any base is not extractable, neither is the derived key. A template asking otherwise is
/// inconsistent.
fn inherit_protection(bases: &[&AttrMap], template: &AttrMap, attrs: &mut AttrMap) -> Result<()> {
    let sensitive = bases.iter().any(|b| b.bool(CKA_SENSITIVE).unwrap_or(true));
    let unextractable = bases.iter().any(|b| !b.bool(CKA_EXTRACTABLE).unwrap_or(false));
    for (t, forced, want) in [(CKA_SENSITIVE, sensitive, true), (CKA_EXTRACTABLE, unextractable, false)] {
        if !forced {
            continue;
        }
        if template.bool(t).is_some_and(|v| v != want) {
            return err(CKR_TEMPLATE_INCONSISTENT);
        }
        attrs.set(t, Attr::Bool(want));
    }
    Ok(())
}

/// CKA_ALWAYS_SENSITIVE holds when every base was always sensitive and the new key is
/// sensitive; CKA_NEVER_EXTRACTABLE likewise (PKCS#11's rules for these derivations).
fn record_history(bases: &[&AttrMap], attrs: &mut AttrMap) {
    let always = bases.iter().all(|b| b.flag(CKA_ALWAYS_SENSITIVE)) && attrs.flag(CKA_SENSITIVE);
    let never = bases.iter().all(|b| b.flag(CKA_NEVER_EXTRACTABLE)) && !attrs.flag(CKA_EXTRACTABLE);
    attrs.set(CKA_ALWAYS_SENSITIVE, Attr::Bool(always));
    attrs.set(CKA_NEVER_EXTRACTABLE, Attr::Bool(never));
}
